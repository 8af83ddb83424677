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
    try Rule.range(fitSteps, 0...Int(Int32.max), "fit_steps")
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
    try Rule.range(maxIterations, 1...Int(Int32.max), "max_iter")
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
    try Rule.range(maxReinsertions, 0...Int(Int32.max), "max_reinsertions")
  }
}

extension Prioritizer {
  /// Bytes a prioritizer over `count` pairs holds: each pair's place and reinsertion count,
  /// and the pool and deferred lists.
  public static func stateBytes(count: Int) -> Int? { Workspace.bytes([[count, 24]], elementSize: 1) }
}

extension Trainer.Settings {
  /// Checks the settings for training on `data` with a model of hidden width `width`.
  public func validate(for data: PreferenceDataset, width: Int) throws(ConfigError) {
    try Rule.range(epochs, 0...Int(Int32.max), "epochs")
    try Rule.range(batchSize, Limits.batchSize, "batch_size")
    try Rule.positive(learningRate, "learning_rate")
    try Rule.nonNegative(weightDecay, "weight_decay")
    try Rule.range(promptsPerPair, Limits.promptsPerPair, "pf_prompts")
    try Rule.range(promptFreeRounds, 1...Int(Int32.max), "pf_max_rounds")
    var policy = dir
    policy.club.hiddenDim = width
    try Rule.nested("dir.") { () throws(ConfigError) in try policy.validate() }
    try Rule.nested("pf.") { () throws(ConfigError) in try promptFree.validate() }
    switch promptFree.weighting {
    case .uniform, .corresponding: break
    default: throw ConfigError("pf.weighting", "must be UNIFORM or CORRESPONDING for training")
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

  /// Bytes training holds beyond the data: the model, its gradient and AdamW's moments, one
  /// step's pass (with prompt-free, a batch scored under K prompts), and DIR's estimator.
  public func workBytes(shape: RewardModel<Float>.Shape) -> Int? {
    let rows = 2 * batchSize * (method.usesPromptFree ? promptsPerPair + 1 : 1)
    var estimator = dir.club
    estimator.hiddenDim = shape.width
    var terms: [Int?] = [shape.parameterBytes.map { $0 * 4 }, shape.passBytes(rows: rows)]
    if method.usesDIR { terms += [estimator.stateBytes, estimator.workBytes(rows: 2 * batchSize * 9)] }
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
