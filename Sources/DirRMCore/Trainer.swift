/// Training a reward model with vanilla Bradley–Terry, DIR, prompt-free prioritization, or
/// DIR and prompt-free together (docs/mathematics.md §5).
public struct Trainer {
  public struct Progress: Sendable {
    public var step: Int
    public var totalSteps: Int
    public var lossPref: Float
    public var mi: Float
    public var threshold: Float
  }

  /// What happened, for curves and for checking which pairs were trained on.
  public struct Log: Sendable {
    public var steps: [Progress] = []
    /// How many times each pair was trained on.
    public var trainedCount: [Int] = []
    /// The prompt-free method's last scores of each pair: (Δr2, Δr1), NaN if never scored.
    public var lastDr2: [Float] = []
    public var lastDr1: [Float] = []
  }

  public var model: RewardModel<Float>
  public let data: PreferenceDataset
  public let settings: Settings
  var optimizer: AdamW
  var club: ClubEstimator?
  var random: Xoshiro256
  public private(set) var log = Log()
  /// Whether `log` is kept: the C API does not return it, and its step records grow with a
  /// training of up to 2^40 steps.
  let keepsLog: Bool
  var step = 0

  public init(model: RewardModel<Float>, data: PreferenceDataset, settings: Settings, keepsLog: Bool = true) {
    self.model = model
    self.data = data
    self.settings = settings
    self.keepsLog = keepsLog
    optimizer = AdamW(
      count: model.parameters.count, learningRate: settings.learningRate, weightDecay: settings.weightDecay)
    if settings.method.usesDIR {
      var config = settings.dir.club
      config.hiddenDim = model.shape.width
      club = ClubEstimator(config: config)
    }
    random = Xoshiro256(seed: settings.seed)
    guard keepsLog else { return }
    log.trainedCount = [Int](repeating: 0, count: data.pairs.count)
    log.lastDr2 = [Float](repeating: .nan, count: data.pairs.count)
    log.lastDr1 = [Float](repeating: .nan, count: data.pairs.count)
  }

  /// The steps `run` takes unless stopped (settings that passed validation never overflow).
  public var totalSteps: Int { settings.steps(pairs: data.pairs.count) ?? Limits.maxTrainingSteps }

  /// Runs the training, calling `stop` after each step with its record; `stop` returning
  /// true ends the training there (the sense of dirrm_progress_fn's nonzero return).
  public mutating func run(stop: (Progress) -> Bool) throws(NumericError) {
    if settings.method.usesPromptFree {
      try runPrioritized(stop: stop)
      return
    }
    for _ in 0..<settings.epochs {
      var order = Array(data.pairs.indices)
      random.shuffle(&order)
      var start = 0
      while start < order.count {
        let batch = Array(order[start..<min(start + settings.batchSize, order.count)])
        start += batch.count
        let record = try trainStep(batch, threshold: .nan)
        if stop(record) { return }
      }
    }
  }

  /// Alg. 2 under vanilla's budget: as many optimizer steps as vanilla takes
  /// (epochs × ⌈N / batch⌉), each on up to `batchSize` accepted pairs. Candidates are
  /// proposed, scored under K prompts and decided until a batch is full (at most
  /// `promptFreeRounds` rounds, so a threshold below every Δr2 cannot stall a step); the
  /// prioritizer's epochs roll over as they end. Filtering must not also shrink the batches or
  /// the step count: otherwise the comparison with vanilla measures less training, not better
  /// data. Each round is one prioritizer step: the threshold moves after every round, on the
  /// Δr2 it decided, so a threshold that rejects a round's candidates has already moved
  /// toward them by the next one (docs/decisions.md §1, "A prioritizer step is a round").
  mutating func runPrioritized(stop: (Progress) -> Bool) throws(NumericError) {
    var prioritizerSettings = settings.prioritizer
    prioritizerSettings.seed ^= settings.seed  // a new training seed draws new candidate orders
    // Settings that pass validate(for:width:) and a non-empty dataset are never refused.
    var prioritizer = try PromptFreeScores.refusalAsNumeric { () throws(ConfigError) in
      try Prioritizer(settings: prioritizerSettings, count: data.pairs.count)
    }
    let steps = totalSteps
    for _ in 0..<steps {
      var batch: [Int] = []
      var rejected: [Int] = []
      for _ in 0..<settings.promptFreeRounds where batch.count < settings.batchSize {
        var candidates = try Self.certain { () throws(MisuseError) in
          try prioritizer.propose(maxCount: settings.batchSize - batch.count)
        }
        if candidates.isEmpty {  // the epoch ended: the next call starts the next one
          candidates = try Self.certain { () throws(MisuseError) in
            try prioritizer.propose(maxCount: settings.batchSize - batch.count)
          }
        }
        guard !candidates.isEmpty else { break }
        let scores = try promptFreeScores(candidates)
        let accepted = try Self.certain { () throws(MisuseError) in try prioritizer.decide(candidates, scores)
        }
        batch += zip(candidates, accepted).filter(\.1).map(\.0)
        rejected += zip(candidates, accepted).filter { !$0.1 }.map(\.0)
        prioritizer.endStep()
      }
      var record = Progress(
        step: step, totalSteps: steps, lossPref: .nan, mi: .nan, threshold: prioritizer.threshold)
      if batch.isEmpty {
        step += 1
        if keepsLog { log.steps.append(record) }
      } else {
        record = try trainStep(batch, alsoPenalized: rejected, threshold: prioritizer.threshold)
      }
      if stop(record) { return }
    }
  }

  /// The loop above decides every pair it proposes before proposing more, so the
  /// prioritizer refuses a call only when the scores themselves are unusable (Δr2 past
  /// float32 once the model diverges); training stops there with the reason instead of
  /// going on with an empty batch.
  private static func certain<T>(_ body: () throws(MisuseError) -> T) throws(NumericError) -> T {
    do { return try body() } catch { throw .overflow("prompt-free prioritization failed: \(error.message)") }
  }

  /// Each candidate's Δr2 in units of the batch's RMS own-prompt gap
  /// (PromptFreeScores.normalized).
  mutating func promptFreeScores(_ candidates: [Int]) throws(NumericError) -> [Float] {
    let scores = try PromptFreeScores(
      model: model, data: data, pairs: candidates, k: settings.promptsPerPair, seed: random.next(),
      solver: settings.promptFree)
    for (i, c) in candidates.enumerated() where keepsLog {
      log.lastDr2[c] = scores.dr2[i]
      log.lastDr1[c] = scores.dr1[i]
    }
    return try PromptFreeScores.normalized(scores.dr2, ownGap: scores.ownGap)
  }

  /// One optimizer step: Bradley–Terry on `batch`; with DIR, the CLUB penalty on `batch` and
  /// `alsoPenalized` together. The penalty is about the representation, not the labels, so
  /// with prompt-free prioritization it covers every candidate the step scored: on the
  /// accepted ones alone it would see a filtered sample of the bias.
  mutating func trainStep(_ batch: [Int], alsoPenalized extra: [Int] = [], threshold: Float)
    throws(NumericError)
    -> Progress
  {
    let n = batch.count
    let all = batch + (club == nil ? [] : extra)
    let m = all.count
    let pairs = all.map { data.pairs[$0] }
    let trace = model.forward(
      prompts: data.promptRows(pairs.map(\.prompt) + pairs.map(\.prompt)),
      responses: data.responseRows(pairs.map(\.chosen) + pairs.map(\.rejected)), rows: 2 * m)
    let r = trace.rewards
    let rewards = PairBatch(chosen: Array(r[0..<n]), rejected: Array(r[m..<(m + n)]), columns: 1)
    let preference = PreferenceLoss.plain(pairs: n)
    let loss: Float
    let pairGradient: PairBatch?
    var hiddenGradient: [Float]? = nil
    var mi = Float.nan
    if var estimator = club {
      let bias = all.map { i -> Float in
        let value = data.bias[i * data.biasDim + settings.biasColumn]
        if case .categorical = estimator.config.kind { return value > 0 ? 1 : 0 }
        return value
      }
      let penalized: ClubEstimator.Batch
      do {
        penalized = try estimator.batch(
          PairBatch(stacked: trace.hidden, pairs: m, columns: model.shape.width), bias: bias)
      } catch {
        // The rows come from the model's own forward pass and the bias is 0/1 or a
        // dataset value that passed validate(for:width:); a failure here is a bug in the trainer.
        throw .internalFailure("the trainer built an invalid DIR batch: \(error.message(prefix: ""))")
      }
      let result = try DIRLoss.evaluate(
        rewards: rewards, preference: preference, club: &estimator, batch: penalized, policy: settings.dir,
        fitFirst: true, wantRewardGradient: true, wantHiddenGradient: true)
      club = estimator
      (loss, pairGradient, mi) = (result.preference, result.rewardGradient, result.bound)
      hiddenGradient = result.hiddenGradient?.stacked
    } else {
      (loss, pairGradient) = try preference.evaluate(rewards, wantGradient: true)
    }
    var rewardGradient = [Float](repeating: 0, count: 2 * m)
    if let pairGradient {
      for i in 0..<n {
        rewardGradient[i] = pairGradient.chosen[i]
        rewardGradient[m + i] = pairGradient.rejected[i]
      }
    }
    if let penalty = hiddenGradient, settings.dir.cap {
      let scale = DIRLoss.capScale(
        penaltyNorm: DIRLoss.norm(penalty),
        preferenceNorm: model.hiddenGradientNorm(rewardGradient: rewardGradient))
      if scale < 1 { hiddenGradient = penalty.map { $0 * Float(scale) } }
    }
    let gradient = model.gradient(trace, rewardGradient: rewardGradient, hiddenGradient: hiddenGradient)
    guard gradient.allSatisfy(\.isFinite) else {
      throw .overflow("the gradient at step \(step) is not finite; lower the learning rate")
    }
    guard optimizer.update(&model.parameters, gradient: gradient) else {
      throw .overflow("a parameter would not be finite after step \(step); lower the learning rate")
    }
    let record = Progress(step: step, totalSteps: totalSteps, lossPref: loss, mi: mi, threshold: threshold)
    if keepsLog {
      for i in batch { log.trainedCount[i] += 1 }
      log.steps.append(record)
    }
    step += 1
    return record
  }
}
