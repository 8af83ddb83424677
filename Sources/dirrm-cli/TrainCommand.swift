import ArgumentParser
import DirRMCore
import Glibc

struct TrainCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "train", abstract: "Train a reward model on .npy data.")

  @OptionGroup var data: DataOptions
  @OptionGroup var training: TrainingOptions
  @Option(help: "The method: \(methodOptionList)")
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
  @Flag(help: "Print the training's metrics as one JSON object on stdout, and nothing else there.")
  var json = false
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
    try OptionChecks.memory(settings, shape: shape, data: dataset)
    var trainer = Trainer(model: RewardModel(shape: shape, seed: seed), data: dataset, settings: settings)
    let bar = ProgressBar("training \(method)", jobs: 1, quiet: quiet)
    let start = ProgressBar.now()
    do {
      try trainer.run(stop: bar.callback(0))
    } catch {
      bar.finish()
      throw OptionChecks.described(error)
    }
    bar.set(0, 1)
    bar.finish()
    let seconds = ProgressBar.now() - start
    try FileIO.replace(output, with: trainer.model.serialized())
    guard json else {
      print("wrote \(output)")
      return
    }
    let column = dataset.biasDim > 0 ? settings.biasColumn : nil
    try OptionChecks.evaluation(trainer.model, pairs: dataset.pairs.count)
    let e = Evaluation.evaluate(trainer.model, on: dataset, biasColumn: column)
    let steps = trainer.log.steps
    // The last epoch's steps (all of them when there are fewer).
    let perEpoch = max(steps.count / max(settings.epochs, 1), 1)
    let last = steps.suffix(perEpoch)
    func mean(_ values: [Float]) -> JSONValue {
      let finite = values.filter(\.isFinite)
      return finite.isEmpty ? .null : .number(finite.map(Double.init).reduce(0, +) / Double(finite.count))
    }
    JSONOutput.emit([
      "command": "train",
      "output": .string(output),
      "method": .string(method),
      "pairs": .integer(dataset.pairs.count),
      "steps": .integer(steps.count),
      "seconds": .number(seconds),
      "settings": [
        "epochs": .integer(settings.epochs), "batch_size": .integer(settings.batchSize),
        "learning_rate": .float(settings.learningRate), "lambda": .float(settings.dir.lambda),
        "bias_column": .optional(column.map { .integer($0) }), "width": .integer(width),
        "depth": .integer(depth), "seed": .unsigned(seed),
      ],
      "last_epoch": ["loss_pref": mean(last.map(\.lossPref)), "mi": mean(last.map(\.mi))],
      "train_evaluation": e.json(biasColumn: column),
    ])
  }
}

extension Evaluation {
  /// The report's fields, named as in dirrm_eval_report; the bias statistics are null
  /// without a bias column.
  func json(biasColumn: Int?) -> JSONValue {
    let biased = biasColumn != nil
    return [
      "pairs": .integer(pairs), "accuracy": .number(accuracy), "mean_gap": .number(meanGap),
      "bias_column": .optional(biasColumn.map { .integer($0) }),
      "gap_bias_pearson": biased ? .number(gapBiasPearson) : .null,
      "gap_bias_spearman": biased ? .number(gapBiasSpearman) : .null,
      "accuracy_bias_positive": biased ? .number(accuracyBiasPositive) : .null,
      "accuracy_bias_negative": biased ? .number(accuracyBiasNegative) : .null,
    ]
  }
}
