import ArgumentParser
import DirRMCore
import Glibc

struct TrainCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "train", abstract: "Train a reward model on .npy data.")

  @OptionGroup var data: DataOptions
  @OptionGroup var training: TrainingOptions
  @Option(help: "The method: \(methodOptions.map(\.0).joined(separator: ", "))")
  var method: String = optionName(trainingDefaults.method)
  @Option(help: "Where to write the model.") var output: String
  @Option(parsing: .unconditional, help: "Hidden width of the reward model")
  var width: Int = RewardModel<Float>.Shape.defaults.width
  @Option(parsing: .unconditional, help: "Backbone layers of the reward model")
  var depth: Int = RewardModel<Float>.Shape.defaults.depth
  @Option(parsing: .unconditional, help: "Seed of the model's initialization and of the training order")
  var seed: UInt64 = Trainer.Settings.defaults().seed

  func validate() throws {
    let m = try parseMethod(method)
    if m == .dir || m == .dirPromptFree, data.bias == nil {
      throw ValidationError("--method \(method) needs --bias (DIR's attribute of each pair)")
    }
  }

  func run() throws {
    let m = try parseMethod(method)
    let dataset = try data.load()
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
