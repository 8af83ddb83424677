import ArgumentParser
import DirRMCore
import Glibc

/// The method a `--method` value names, or a usage error that lists the valid spellings.
func parseMethod(_ text: String) throws -> Trainer.Method {
  guard let found = method(named: text) else {
    throw ValidationError("unknown method '\(text)'; valid: \(methodOptionList)")
  }
  return found
}

/// The library's training defaults, which the options below show in their help.
var trainingDefaults: Trainer.Settings { .defaults() }

/// The prompt-free default weight of the pair's own prompt.
private var libraryOwnWeight: Double {
  if case .corresponding(let p) = trainingDefaults.promptFree.weighting { return p }
  return .nan
}

/// Training options shared by `train` and `experiment`; unset ones keep the library defaults.
struct TrainingOptions: ParsableArguments {
  @Option(parsing: .unconditional, help: "DIR weight lambda (default: \(trainingDefaults.dir.lambda)).")
  var lambda: Float?
  @Option(
    parsing: .unconditional,
    help: "Learning rate of DIR's estimator q (default: \(trainingDefaults.dir.club.learningRate)).")
  var clubLr: Float?
  @Option(
    parsing: .unconditional,
    help: "Hidden width of q (0: linear; default: \(trainingDefaults.dir.club.qHidden)).") var qHidden: Int?
  @Option(
    parsing: .unconditional,
    help: "AdamW steps of q per training step (default: \(trainingDefaults.dir.club.fitSteps)).")
  var fitSteps: Int?
  @Option(
    parsing: .unconditional,
    help: "Prompt-free: weight p of the pair's own prompt (default: \(libraryOwnWeight)).")
  var ownWeight: Double?
  // Not --prompts: that names the prompt feature file of `train` and `evaluate`.
  @Option(
    parsing: .unconditional,
    help:
      "Prompt-free: prompts K per pair (the C API's pf_prompts; default: \(trainingDefaults.promptsPerPair))."
  )
  var pfPrompts: Int?
  @Option(
    parsing: .unconditional,
    help:
      "Prompt-free: scoring rounds per training step at most (the C API's pf_max_rounds; default: \(trainingDefaults.promptFreeRounds))."
  )
  var pfMaxRounds: Int?
  @Option(
    parsing: .unconditional,
    help: "Prioritizer: EMA weight alpha (default: \(trainingDefaults.prioritizer.emaWeight)).")
  var emaWeight: Float?
  @Option(
    parsing: .unconditional,
    help:
      "Prioritizer: reinsertions per pair and epoch (default: \(trainingDefaults.prioritizer.maxReinsertions))."
  )
  var reinsertions: Int?
  @Option(parsing: .unconditional, help: "Training epochs (default: \(trainingDefaults.epochs)).") var epochs:
    Int?
  @Option(
    parsing: .unconditional, help: "Pairs per AdamW step (default: \(trainingDefaults.batchSize)).")
  var batchSize: Int?
  @Option(
    parsing: .unconditional,
    help: "AdamW learning rate of the reward model (default: \(trainingDefaults.learningRate)).")
  var learningRate: Float?
  @Flag(help: "DIR's estimator categorical on 1[bias > 0], as in DIR's code (default: Gaussian).")
  var categorical = false

  func apply(_ s: inout Trainer.Settings) {
    if categorical { s.dir.club.kind = .categorical(classes: 2) }
    if let lambda { s.dir.lambda = lambda }
    if let clubLr { s.dir.club.learningRate = clubLr }
    if let qHidden { s.dir.club.qHidden = qHidden }
    if let fitSteps { s.dir.club.fitSteps = fitSteps }
    if let ownWeight { s.promptFree.weighting = .corresponding(p: ownWeight) }
    if let pfPrompts { s.promptsPerPair = pfPrompts }
    if let pfMaxRounds { s.promptFreeRounds = pfMaxRounds }
    if let emaWeight { s.prioritizer.emaWeight = emaWeight }
    if let reinsertions { s.prioritizer.maxReinsertions = reinsertions }
    if let epochs { s.epochs = epochs }
    if let batchSize { s.batchSize = batchSize }
    if let learningRate { s.learningRate = learningRate }
  }

  /// The options set away from the library's defaults, in words ("lambda 0.5, epochs 1").
  var changed: [String] {
    [
      lambda.map { "lambda \($0)" }, clubLr.map { "q lr \($0)" },
      qHidden.map { "q_hidden \($0)" }, fitSteps.map { "q steps \($0)" },
      ownWeight.map { "p \($0)" }, pfPrompts.map { "K \($0)" },
      pfMaxRounds.map { "rounds \($0)" },
      emaWeight.map { "alpha \($0)" },
      reinsertions.map { "reinsertions \($0)" }, epochs.map { "epochs \($0)" },
      batchSize.map { "batch size \($0)" }, learningRate.map { "learning rate \($0)" },
      categorical ? "categorical q" : nil,
    ].compactMap { $0 }
  }

  /// Each option by the field name its check reports (the header's, as ConfigValidation
  /// spells it), so that an error names what the user typed.
  static let optionOfField: [(field: String, option: String)] = [
    ("dir.lambda", "--lambda"), ("dir.club.learning_rate", "--club-lr"), ("dir.club.q_hidden", "--q-hidden"),
    ("dir.club.fit_steps", "--fit-steps"), ("pf.p", "--own-weight"), ("pf_prompts", "--pf-prompts"),
    ("pf_max_rounds", "--pf-max-rounds"),
    ("prioritizer.ema_weight", "--ema-weight"), ("prioritizer.max_reinsertions", "--reinsertions"),
    ("epochs", "--epochs"), ("batch_size", "--batch-size"), ("learning_rate", "--learning-rate"),
    ("bias_column", "--bias-column"), ("width", "--width"), ("depth", "--depth"),
  ]
}

/// The size of the synthetic data `demo` and `experiment` generate.
struct SyntheticDataOptions: ParsableArguments {
  @Option(
    parsing: .unconditional,
    help: "Prompts in each seed's training data (the test set has a quarter as many, at least 50)")
  var promptCount: Int = SyntheticPreferences.Settings.defaults.promptCount

  func validate() throws {
    let allowed = Limits.syntheticPrompts
    guard allowed.contains(promptCount) else {
      throw ValidationError(
        "--prompt-count \(promptCount): must be in \(allowed.lowerBound)...\(allowed.upperBound)")
    }
  }

  /// Checks that `sets` synthetic train and test sets of this size, all held at once, fit in
  /// memory (a command generates every seed's data before it trains).
  func checkMemory(sets: Int) throws {
    var settings = SyntheticPreferences.Settings.defaults
    settings.promptCount = promptCount
    let bytes = SyntheticPreferences.workBytes(settings).flatMap {
      Workspace.bytes([[sets, $0]], elementSize: 1)
    }
    try OptionChecks.reserve(
      bytes, "--prompt-count \(promptCount): not enough memory for the data of \(sets) sets")
  }

  /// The option in words when it differs from the default ("2000 prompts" is not said).
  var changed: [String] {
    promptCount == SyntheticPreferences.Settings.defaults.promptCount ? [] : ["\(promptCount) prompts"]
  }
}

/// .npy inputs of a dataset.
struct DataOptions: ParsableArguments {
  @Option(help: "Prompt features, float (num_prompts, prompt_dim).") var prompts: String
  @Option(help: "Response features, float (num_responses, response_dim).") var responses: String
  @Option(help: "Pairs, integer (num_pairs, 3): prompt, chosen, rejected.") var pairs: String
  @Option(help: "Pair bias attributes, (num_pairs,) or (num_pairs, b).") var bias: String?

  func load() throws -> PreferenceDataset {
    let files = try NumpyFile.dataset(prompts: prompts, responses: responses, pairs: pairs, bias: bias)
    let parsed = (0..<files.pairs.rows).map {
      PreferenceDataset.Pair(
        prompt: Int(files.pairs.integers[$0 * 3]), chosen: Int(files.pairs.integers[$0 * 3 + 1]),
        rejected: Int(files.pairs.integers[$0 * 3 + 2]))
    }
    let biasValues = files.bias.map { $0.isInteger ? $0.integers.map { Float($0) } : $0.floats } ?? []
    do {
      return try PreferenceDataset(
        promptDim: files.prompts.columns, prompts: files.prompts.floats, responseDim: files.responses.columns,
        responses: files.responses.floats, pairs: parsed, biasDim: files.bias?.columns ?? 0, bias: biasValues)
    } catch {
      let message = error.message(prefix: "")
      throw CLIError(error.field.hasPrefix("pairs") ? "\(files.pairsPath): \(message)" : message)
    }
  }
}
