import ArgumentParser
import DirRMCore
import Glibc

struct TrainCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "train", abstract: "Train a reward model on .npy data.")

  @OptionGroup var data: DataOptions
  @OptionGroup var training: TrainingOptions
  @Option(help: "vanilla, dir, prompt-free or dir-prompt-free")
  var method: String = optionName(trainingDefaults.method)
  @Option(help: "Where to write the model.") var output: String
  @Option var width: Int = RewardModel<Float>.Shape.defaults.width
  @Option var depth: Int = RewardModel<Float>.Shape.defaults.depth
  @Option var seed: UInt64 = Trainer.Settings.defaults().seed

  func run() throws {
    guard let m = methodOptions[method] else { throw ValidationError("unknown method \(method)") }
    let dataset = try data.load()
    if m == .dir || m == .dirPromptFree, dataset.biasDim == 0 {
      throw ValidationError("DIR needs --bias")
    }
    let shape = RewardModel<Float>.Shape(
      promptDim: dataset.promptDim, responseDim: dataset.responseDim, width: width, depth: depth)
    try OptionChecks.shape(shape)
    var settings = Trainer.Settings.defaults(method: m, hiddenDim: width, seed: seed)
    training.apply(&settings)
    try OptionChecks.settings(settings, for: dataset, width: width)
    try OptionChecks.memory(settings, shape: shape)
    var trainer = Trainer(model: RewardModel(shape: shape, seed: seed), data: dataset, settings: settings)
    let bar = ProgressBar("training \(method)", jobs: 1)
    do {
      try trainer.run(progress: bar.callback(0))
    } catch {
      throw OptionChecks.described(error)
    }
    bar.finish()
    try FileIO.replace(output, with: trainer.model.serialized())
    print("wrote \(output)")
  }
}
