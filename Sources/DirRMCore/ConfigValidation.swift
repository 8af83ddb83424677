/// The rules of each configuration, stated once: the C API converts its structs and calls
/// these, the loaders call them on what they read, and the CLI calls them on its options.

extension ClubEstimator.Config {
  public func validate() throws(ConfigError) {
    let dimensions = 0...Limits.maxClubDimension
    switch kind {
    case .categorical(let c): try Rule.range(c, 2...dimensions.upperBound, "bias_dim")
    case .gaussian(let m): try Rule.range(m, 1...dimensions.upperBound, "bias_dim")
    }
    try Rule.range(hiddenDim, 1...dimensions.upperBound, "hidden_dim")
    try Rule.range(qHidden, dimensions, "q_hidden")
    if case .gaussian = kind, qHidden == 1 {
      throw ConfigError("q_hidden", "= 1: Gaussian heads use q_hidden/2 units; use 0 or >= 2")
    }
    try Rule.range(fitSteps, 0...Limits.maxBudget, "fit_steps")
    try Rule.positive(learningRate, "learning_rate")
    try Rule.nonNegative(weightDecay, "weight_decay")
    try Rule.positive(logvarBound, "logvar_bound")
    guard logvarBound <= Limits.maxLogvarBound else {
      throw ConfigError("logvar_bound", "= \(logvarBound) is outside (0, \(Limits.maxLogvarBound)]")
    }
  }

  /// Bytes of the estimator itself: q's parameters, their gradient and AdamW's two moments.
  public var stateBytes: Int? {
    Workspace.bytes([[4, networks.last?.end ?? 0]])
  }

  /// Checks a call's row count: the estimator's products pass it to BLAS.
  public func checkRows(_ rows: Int) throws(ConfigError) {
    guard rows <= Limits.maxRowsPerProduct else {
      throw ConfigError("n", "= \(rows) exceeds \(Limits.maxRowsPerProduct) rows", kind: .shape)
    }
  }

  /// Bytes one call on `rows` pairs holds: X, q's activations and their gradients, and the
  /// per-class or per-dimension log-probabilities (generously: each several times).
  public func workBytes(rows: Int) -> Int? {
    Workspace.bytes([[rows, 4, inputDim], [rows, 8, qHidden], [rows, 8, biasDim]])
  }
}

extension DIRLoss.Settings {
  public func validate() throws(ConfigError) {
    try validateLoss()
    try Rule.nested("club.") { () throws(ConfigError) in try club.validate() }
  }
}

extension RewardModel.Shape {
  public func validate() throws(ConfigError) {
    try Rule.range(promptDim, 1...Limits.maxFeatureDim, "prompt_dim")
    try Rule.range(responseDim, 1...Limits.maxFeatureDim, "response_dim")
    try Rule.range(width, Limits.modelWidth, "width")
    try Rule.range(depth, Limits.modelDepth, "depth")
  }

  /// Checks that `data` has the features this model reads.
  public func check(_ data: PreferenceDataset) throws(ConfigError) {
    guard data.promptDim == promptDim, data.responseDim == responseDim else {
      throw ConfigError(
        "features",
        "= \(data.promptDim) + \(data.responseDim) in the data, \(promptDim) + \(responseDim) in the model",
        kind: .shape)
    }
  }

  /// Checks how many rows one scoring call takes: every layer's activations, rows × its
  /// width, stay within BLAS's 32-bit dimensions.
  public func checkScoringRows(_ rows: Int) throws(ConfigError) {
    guard rows <= Limits.maxRowsPerProduct / max(width, promptDim + responseDim) else {
      throw ConfigError("n", "= \(rows) rows exceed what one call scores; split the batch", kind: .shape)
    }
  }

  /// Bytes of the parameters alone.
  public var parameterBytes: Int? { Workspace.bytes([[parameterCount]]) }

  /// Bytes a forward and backward pass over `rows` rows holds: the inputs, every layer's
  /// activations and pre-activations, and their gradients.
  public func passBytes(rows: Int) -> Int? {
    Workspace.bytes([[rows, 2, inputDim], [rows, 4, depth + 2, width]])
  }
}

extension PromptFreeGap {
  public func validate() throws(ConfigError) {
    if case .corresponding(let p) = weighting { try Rule.unitInterval(p, "p") }
    try Rule.positive(tolerance, "tolerance")
    try Rule.range(maxIterations, 1...Limits.maxBudget, "max_iter")
    if case .bisection(let bracket?) = solver {
      try Rule.finite(bracket.low, "r_min")
      try Rule.finite(bracket.high, "r_max")
    }
  }
}

extension Prioritizer.Settings {
  public func validate() throws(ConfigError) {
    try Rule.unitInterval(emaWeight, "ema_weight")
    try Rule.finite(initialThreshold, "initial_threshold")
    try Rule.range(maxReinsertions, 0...Limits.maxBudget, "max_reinsertions")
  }
}

extension Prioritizer {
  /// Bytes a prioritizer over `count` pairs holds: each pair's place and reinsertion count,
  /// and the pool and deferred lists.
  public static func stateBytes(count: Int) -> Int? { Workspace.bytes([[count, 24]], elementSize: 1) }

  /// Bytes one decide(_:_:) on `count` pairs holds: the set of the indices seen, the
  /// decisions, their copy as bytes and the step's values.
  public static func decideBytes(count: Int) -> Int? { Workspace.bytes([[count, 48]], elementSize: 1) }

  /// Bytes one propose(maxCount:) holds: a new epoch's pool (every pair) and the proposed
  /// indices twice (the core's and the caller's width), at most one of each pair.
  public func proposeBytes(maxCount: Int) -> Int? {
    Workspace.bytes([[count, 8], [min(maxCount, count), 16]], elementSize: 1)
  }

  /// Bytes endStep() holds beyond the step's values: the radix sort's keys and scratch, the
  /// sorted values and their running sums (generously, 32 per value).
  public var endStepBytes: Int? { Workspace.bytes([[stepValues.count, 32]], elementSize: 1) }
}

extension SyntheticPreferences.Settings {
  public func validate() throws(ConfigError) {
    try Rule.finite(biasRatio, "bias_ratio")
    let ratios = Limits.syntheticBiasRatio
    guard ratios.contains(biasRatio) else {
      throw ConfigError(
        "bias_ratio", "= \(biasRatio) is outside [\(ratios.lowerBound), \(ratios.upperBound)]")
    }
    try Rule.range(promptCount, Limits.syntheticPrompts, "num_prompts")
    try Rule.range(responsesPerPrompt, Limits.syntheticResponsesPerPrompt, "responses_per_prompt")
    try Rule.range(promptDim, Limits.syntheticPromptDim, "prompt_dim")
    try Rule.range(responseDim, Limits.syntheticResponseDim, "response_dim")
  }
}

extension PreferenceDataset {
  /// Bytes a dataset of these sizes holds: both feature tables, the pairs (three indices and
  /// their bookkeeping) and the bias columns.
  public static func bytes(
    prompts: Int, promptDim: Int, responses: Int, responseDim: Int, pairs: Int, biasDim: Int
  )
    -> Int?
  {
    Workspace.bytes([[prompts, promptDim], [responses, responseDim], [pairs, 8], [pairs, biasDim]])
  }
}

extension Evaluation {
  /// Checks an evaluation of `model` on `data` against bias column `biasColumn` (nil: none).
  public static func check(_ model: RewardModel<Float>, on data: PreferenceDataset, biasColumn: Int?)
    throws(ConfigError)
  {
    if let biasColumn, biasColumn < 0 || biasColumn >= data.biasDim {
      throw ConfigError("bias_column", "= \(biasColumn) but the data have \(data.biasDim) bias columns")
    }
    try model.shape.check(data)
  }
}

extension Trainer.Settings {
  /// Checks the settings for training on `data` with a model of hidden width `width`.
  public func validate(for data: PreferenceDataset, width: Int) throws(ConfigError) {
    try Rule.range(epochs, 0...Limits.maxBudget, "epochs")
    try Rule.range(batchSize, Limits.batchSize, "batch_size")
    try Rule.positive(learningRate, "learning_rate")
    try Rule.nonNegative(weightDecay, "weight_decay")
    try Rule.range(promptsPerPair, Limits.promptsPerPair, "pf_prompts")
    try Rule.range(promptFreeRounds, 1...Limits.maxBudget, "pf_max_rounds")
    var policy = dir
    policy.club.hiddenDim = width
    try Rule.nested("dir.") { () throws(ConfigError) in try policy.validate() }
    try Rule.nested("pf.") { () throws(ConfigError) in try promptFree.validate() }
    switch promptFree.weighting {
    case .uniform, .corresponding: break
    default: throw ConfigError("pf.weighting", "must be uniform or corresponding for training")
    }
    try Rule.nested("prioritizer.") { () throws(ConfigError) in try prioritizer.validate() }
    if method.usesDIR {
      guard biasColumn >= 0, biasColumn < data.biasDim else {
        throw ConfigError("bias_column", "= \(biasColumn) but the data have \(data.biasDim) bias columns")
      }
      if case .gaussian(let m) = dir.club.kind, m != 1 {
        throw ConfigError("dir.club.bias_dim", "= \(m): the trainer passes one bias column")
      }
    }
    guard let steps = steps(pairs: data.pairs.count), steps <= Limits.maxTrainingSteps else {
      throw ConfigError(
        "epochs",
        "= \(epochs) with batch_size \(batchSize) and \(data.pairs.count) pairs exceeds "
          + "\(Limits.maxTrainingSteps) training steps")
    }
  }

  /// The optimizer steps of a training on `pairs` pairs, epochs × ⌈pairs / batchSize⌉, for
  /// every method (the prompt-free ones fill each step's batch under vanilla's budget), or nil
  /// on overflow. The one home of the count: the loops, the progress callback and the limit.
  public func steps(pairs: Int) -> Int? {
    guard batchSize >= 1, pairs >= 0 else { return nil }
    let (total, overflow) = epochs.multipliedReportingOverflow(by: (pairs + batchSize - 1) / batchSize)
    return overflow ? nil : total
  }

  /// Bytes training on `pairs` pairs of `prompts` prompts holds beyond the data: the model, its
  /// gradient and AdamW's moments, one step's pass (with prompt-free, the larger of a round's
  /// candidates scored under K prompts, K capped at `prompts` as the trainer does, and the
  /// step's own pass, which with DIR covers every candidate of its
  /// `pf_max_rounds` rounds), DIR's estimator twice (a step fits a copy, kept only if the
  /// whole step succeeds) and its work on those pairs, an epoch's order or the prioritizer,
  /// and with `keepsLog` the trainer's log (per pair and per step).
  public func workBytes(shape: RewardModel<Float>.Shape, pairs: Int, prompts: Int, keepsLog: Bool) -> Int? {
    let stepPairs = method.usesPromptFree && method.usesDIR ? promptFreeRounds : 1
    let k = min(promptsPerPair, max(prompts, 1))
    guard
      let scoring = Workspace.bytes([[2, batchSize, method.usesPromptFree ? k + 1 : 1]], elementSize: 1),
      let step = Workspace.bytes([[2, batchSize, stepPairs]], elementSize: 1)
    else { return nil }
    var estimator = dir.club
    estimator.hiddenDim = shape.width
    var terms: [Int?] = [
      shape.parameterBytes.map { $0 * 4 }, shape.passBytes(rows: max(scoring, step)),
      method.usesPromptFree
        ? Prioritizer.stateBytes(count: pairs) : Workspace.bytes([[pairs, 8]], elementSize: 1),
    ]
    if method.usesDIR {
      terms += [
        estimator.stateBytes.flatMap { Workspace.bytes([[2, $0]], elementSize: 1) },
        estimator.workBytes(rows: step),
      ]
    }
    if keepsLog {
      terms += [
        Workspace.bytes([[pairs, 16]], elementSize: 1),
        self.steps(pairs: pairs).flatMap {
          Workspace.bytes([[$0, MemoryLayout<Trainer.Progress>.stride]], elementSize: 1)
        },
      ]
    }
    var total = 0
    for t in terms {
      guard let t else { return nil }
      let (s, overflow) = total.addingReportingOverflow(t)
      guard !overflow else { return nil }
      total = s
    }
    return total
  }
}
