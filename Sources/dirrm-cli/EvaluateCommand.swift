import ArgumentParser
import DirRMCore
import Glibc

struct EvaluateCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "evaluate", abstract: "Evaluate a saved model on .npy data.")

  @OptionGroup var data: DataOptions
  @Option(help: "A model written by `train`.") var model: String
  @Option(parsing: .unconditional, help: "The bias column to correlate with the reward gap")
  var biasColumn: Int = 0
  @Flag(help: "Print the metrics as one JSON object on stdout, and nothing else there.") var json = false

  func validate() throws {
    guard biasColumn >= 0 else {
      throw ValidationError("--bias-column \(biasColumn): a column index, at least 0")
    }
  }

  func run() throws {
    let bytes = try FileIO.read(model)
    let loaded: RewardModel<Float>
    do {
      loaded = try RewardModel<Float>(serialized: bytes)
    } catch {
      switch error {
      case .corrupt(let reason): throw CLIError("\(model) is not a dirrm model file (\(reason))")
      case .version(let reason):
        throw CLIError("\(model) is a dirrm model from an incompatible version (\(reason))")
      }
    }
    let dataset = try data.load()
    guard dataset.promptDim == loaded.shape.promptDim, dataset.responseDim == loaded.shape.responseDim else {
      throw CLIError(
        "\(model): the model takes prompt_dim \(loaded.shape.promptDim) and response_dim \(loaded.shape.responseDim), the data has \(dataset.promptDim) and \(dataset.responseDim)"
      )
    }
    if data.bias != nil, biasColumn >= dataset.biasDim {
      throw CLIError("--bias-column \(biasColumn): the bias file has \(dataset.biasDim) column(s)")
    }
    let column = dataset.biasDim > biasColumn ? biasColumn : nil
    try OptionChecks.evaluation(loaded, pairs: dataset.pairs.count)
    let e = Evaluation.evaluate(loaded, on: dataset, biasColumn: column)
    if json {
      guard case .object(let fields) = e.json(biasColumn: column) else { return }
      JSONOutput.emit(.object([("command", "evaluate"), ("model", .string(model))] + fields))
      return
    }
    print("pairs \(e.pairs)")
    print("accuracy \(fixed(e.accuracy, 4))")
    print("mean gap \(fixed(e.meanGap, 4))")
    if column != nil {
      print("Pearson(gap, bias) \(fixed(e.gapBiasPearson, 4))")
      print("Spearman(gap, bias) \(fixed(e.gapBiasSpearman, 4))")
      print(
        "accuracy where bias > 0: \(fixed(e.accuracyBiasPositive, 4)); where bias <= 0: \(fixed(e.accuracyBiasNegative, 4))"
      )
    }
  }
}
