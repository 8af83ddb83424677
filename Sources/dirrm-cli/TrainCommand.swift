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
  @Option(
    parsing: .unconditional,
    help: "The column of a multi-column --bias that DIR reads (default: \(trainingDefaults.biasColumn)).")
  var biasColumn: Int?
  @Option(help: "Where to write the model.") var output: String
  @Option(parsing: .unconditional, help: "Hidden width of the reward model")
  var width: Int = RewardModel<Float>.Shape.defaults.width
  @Option(parsing: .unconditional, help: "Backbone layers of the reward model")
  var depth: Int = RewardModel<Float>.Shape.defaults.depth
  @Option(parsing: .unconditional, help: "Seed of the model's initialization and of the training order")
  var seed: UInt64 = Trainer.Settings.defaults().seed
  @Flag(help: "No progress line (it is drawn on stderr only when stderr is a terminal).") var quiet = false

  func validate() throws {
    let m = try parseMethod(method)
    if m == .dir || m == .dirPromptFree, data.bias == nil {
      throw ValidationError("--method \(method) needs --bias (DIR's attribute of each pair)")
    }
    if let biasColumn {
      guard biasColumn >= 0 else {
        throw ValidationError("--bias-column \(biasColumn): a column index, at least 0")
      }
      guard data.bias != nil else { throw ValidationError("--bias-column needs --bias") }
    }
  }

  func run() throws {
    let m = try parseMethod(method)
    let dataset = try data.load()
    if let biasColumn, biasColumn >= dataset.biasDim {
      throw CLIError(
        "--bias-column \(biasColumn): \(data.bias ?? "the bias file") has \(dataset.biasDim) column(s), numbered from 0"
      )
    }
    let shape = RewardModel<Float>.Shape(
      promptDim: dataset.promptDim, responseDim: dataset.responseDim, width: width, depth: depth)
    try OptionChecks.shape(shape)
    var settings = Trainer.Settings.defaults(method: m, hiddenDim: width, seed: seed)
    training.apply(&settings)
    if let biasColumn { settings.biasColumn = biasColumn }
    try OptionChecks.settings(settings, for: dataset, width: width)
    try OptionChecks.memory(settings, shape: shape)
    var trainer = Trainer(model: RewardModel(shape: shape, seed: seed), data: dataset, settings: settings)
    let bar = ProgressBar("training \(method)", jobs: 1, quiet: quiet)
    do {
      try trainer.run(progress: bar.callback(0))
    } catch {
      bar.finish()
      throw OptionChecks.described(error)
    }
    bar.set(0, 1)
    bar.finish()
    try FileIO.replace(output, with: trainer.model.serialized())
    print("wrote \(output)")
  }
}
