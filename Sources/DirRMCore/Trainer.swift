/// Training a reward model with vanilla Bradley–Terry, DIR, prompt-free prioritization, or
/// DIR and prompt-free together (docs/mathematics.md §5).
public struct Trainer {
  public enum Method: Equatable, Sendable {
    case vanilla, dir, promptFree, dirPromptFree
    var usesDIR: Bool { self == .dir || self == .dirPromptFree }
    var usesPromptFree: Bool { self == .promptFree || self == .dirPromptFree }
  }

  public struct Settings {
    public var method: Method
    public var epochs: Int
    public var batchSize: Int
    public var learningRate: Float
    public var weightDecay: Float
    public var lambda: Float
    public var biasColumn: Int
    /// The DIR estimator; its hidden dimension is set from the model.
    public var club: ClubEstimator.Config
    public var promptsPerPair: Int
    public var promptFree: PromptFreeGap
    public var prioritizer: Prioritizer.Settings
    public var seed: UInt64

    public init(
      method: Method, epochs: Int, batchSize: Int, learningRate: Float, weightDecay: Float, lambda: Float,
      biasColumn: Int, club: ClubEstimator.Config, promptsPerPair: Int, promptFree: PromptFreeGap,
      prioritizer: Prioritizer.Settings, seed: UInt64
    ) {
      self.method = method
      self.epochs = epochs
      self.batchSize = batchSize
      self.learningRate = learningRate
      self.weightDecay = weightDecay
      self.lambda = lambda
      self.biasColumn = biasColumn
      self.club = club
      self.promptsPerPair = promptsPerPair
      self.promptFree = promptFree
      self.prioritizer = prioritizer
      self.seed = seed
    }
  }

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
  var step = 0

  public init(model: RewardModel<Float>, data: PreferenceDataset, settings: Settings) {
    self.model = model
    self.data = data
    self.settings = settings
    optimizer = AdamW(
      count: model.parameters.count, learningRate: settings.learningRate, weightDecay: settings.weightDecay)
    if settings.method.usesDIR {
      var config = settings.club
      config.hiddenDim = model.shape.width
      club = ClubEstimator(config: config)
    }
    random = Xoshiro256(seed: settings.seed)
    log.trainedCount = [Int](repeating: 0, count: data.pairs.count)
    log.lastDr2 = [Float](repeating: .nan, count: data.pairs.count)
    log.lastDr1 = [Float](repeating: .nan, count: data.pairs.count)
  }

  /// An upper bound of the steps: every pair once per epoch, plus its reinsertions.
  public var totalSteps: Int {
    let perEpoch =
      settings.method.usesPromptFree
      ? data.pairs.count * (1 + settings.prioritizer.maxReinsertions) : data.pairs.count
    return settings.epochs * ((perEpoch + settings.batchSize - 1) / settings.batchSize)
  }

  /// Runs the training; `progress` returning false stops it early.
  public mutating func run(progress: (Progress) -> Bool) throws(NumericError) {
    if settings.method.usesPromptFree {
      try runPrioritized(progress: progress)
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
        guard progress(record) else { return }
      }
    }
  }

  /// Alg. 2 under vanilla's budget: as many optimizer steps as vanilla takes
  /// (epochs × ⌈N / batch⌉), each on up to `batchSize` accepted pairs. Candidates are
  /// proposed, scored under K prompts and decided until a batch is full (at most eight
  /// rounds, so a threshold below every Δr2 cannot stall a step); the prioritizer's epochs
  /// roll over as they end. Filtering must not also shrink the batches or the step count:
  /// otherwise the comparison with vanilla measures less training, not better data.
  mutating func runPrioritized(progress: (Progress) -> Bool) throws(NumericError) {
    var prioritizerSettings = settings.prioritizer
    prioritizerSettings.seed ^= settings.seed  // a new training seed draws new candidate orders
    // Settings that pass validate(for:width:) and a non-empty dataset cannot be refused.
    guard var prioritizer = try? Prioritizer(settings: prioritizerSettings, count: data.pairs.count) else {
      return
    }
    let steps = settings.epochs * ((data.pairs.count + settings.batchSize - 1) / settings.batchSize)
    for _ in 0..<steps {
      var batch: [Int] = []
      var rejected: [Int] = []
      for _ in 0..<8 where batch.count < settings.batchSize {
        var candidates = (try? prioritizer.propose(maxCount: settings.batchSize - batch.count)) ?? []
        if candidates.isEmpty {  // the epoch ended: the next call starts the next one
          candidates = (try? prioritizer.propose(maxCount: settings.batchSize - batch.count)) ?? []
        }
        guard !candidates.isEmpty else { break }
        let scores = promptFreeScores(candidates)
        // Every candidate was just proposed, so deciding them cannot fail.
        let accepted = (try? prioritizer.decide(candidates, scores)) ?? []
        batch += zip(candidates, accepted).filter(\.1).map(\.0)
        rejected += zip(candidates, accepted).filter { !$0.1 }.map(\.0)
        prioritizer.endStep()
      }
      var record = Progress(
        step: step, totalSteps: steps, lossPref: .nan, mi: .nan, threshold: prioritizer.threshold)
      if batch.isEmpty {
        step += 1
        log.steps.append(record)
      } else {
        record = try trainStep(batch, alsoPenalized: rejected, threshold: prioritizer.threshold)
      }
      guard progress(record) else { return }
    }
  }

  /// Each candidate's Δr2 divided by the batch's RMS own-prompt gap: the gaps all grow as the
  /// model trains, and a threshold on raw Δr2 would drift with them.
  mutating func promptFreeScores(_ candidates: [Int]) -> [Float] {
    let scores = PromptFreeScores(
      model: model, data: data, pairs: candidates, k: settings.promptsPerPair, seed: random.next(),
      solver: settings.promptFree)
    var squares = 0.0
    for g in scores.ownGap { squares += Double(g) * Double(g) }
    let scale = max((squares / Double(candidates.count)).squareRoot(), 1e-12)
    for (i, c) in candidates.enumerated() {
      log.lastDr2[c] = scores.dr2[i]
      log.lastDr1[c] = scores.dr1[i]
    }
    return scores.dr2.map { Float(Double($0) / scale) }
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
    var rewardGradient = [Float](repeating: 0, count: 2 * m)
    let loss = try trace.rewards.withUnsafeBufferPointer { r throws(NumericError) in
      try rewardGradient.withUnsafeMutableBufferPointer { g throws(NumericError) in
        try PreferenceLoss.bradleyTerry(
          chosen: UnsafeBufferPointer(rebasing: r[0..<n]),
          rejected: UnsafeBufferPointer(rebasing: r[m..<(m + n)]),
          margin: nil, weight: nil, centerCoef: 0, gradChosen: UnsafeMutableBufferPointer(rebasing: g[0..<n]),
          gradRejected: UnsafeMutableBufferPointer(rebasing: g[m..<(m + n)]))
      }
    }
    var hiddenGradient: [Float]? = nil
    var mi = Float.nan
    if var estimator = club {
      let hidden = trace.hidden
      let width = model.shape.width
      let bias = all.map { i -> Float in
        let value = data.bias[i * data.biasDim + settings.biasColumn]
        if case .categorical = estimator.config.kind { return value > 0 ? 1 : 0 }
        return value
      }
      let (value, gx) = hidden.withUnsafeBufferPointer { h in
        bias.withUnsafeBufferPointer { b in
          let x = estimator.batch(
            chosen: UnsafeBufferPointer(rebasing: h[0..<(m * width)]),
            rejected: UnsafeBufferPointer(rebasing: h[(m * width)...]), bias: b)
          estimator.fit(x)
          return estimator.bound(x, stats: nil, wantGradient: true)
        }
      }
      club = estimator
      mi = Float(value)
      if let gx {
        var gh = [Float](repeating: 0, count: 2 * m * width)
        gh.withUnsafeMutableBufferPointer { out in
          estimator.splitGradient(
            gx, rows: m, chosen: UnsafeMutableBufferPointer(rebasing: out[0..<(m * width)]),
            rejected: UnsafeMutableBufferPointer(rebasing: out[(m * width)...]), scale: settings.lambda)
        }
        hiddenGradient = gh
      }
    }
    let gradient = model.gradient(trace, rewardGradient: rewardGradient, hiddenGradient: hiddenGradient)
    guard gradient.allSatisfy(\.isFinite) else {
      throw .overflow("the gradient at step \(step) is not finite; lower the learning rate")
    }
    optimizer.update(&model.parameters, gradient: gradient)
    for i in batch { log.trainedCount[i] += 1 }
    let record = Progress(step: step, totalSteps: totalSteps, lossPref: loss, mi: mi, threshold: threshold)
    log.steps.append(record)
    step += 1
    return record
  }
}

extension Trainer.Settings {
  /// The defaults of dirrm_train_params_init (docs/mathematics.md §5, with the choices the README's sweep
  /// made where the papers give no value): three epochs of AdamW at 1e-3 on batches of 64;
  /// DIR with λ = 0.75 and a Gaussian estimator of the bias column
  /// (q_hidden 64, five AdamW steps at DIR's 1e-4 per batch); the prompt-free decomposition
  /// over K = 8 prompts with the pair's own prompt left out (p = 0), Newton; the prioritizer
  /// with k-means boundaries, α = 0.9, λ₀ = 0, and no reinsertion: a rejected pair waits for
  /// the next epoch.
  public static func defaults(method: Trainer.Method = .vanilla, hiddenDim: Int = 128, seed: UInt64 = 0)
    -> Self
  {
    .init(
      method: method, epochs: 3, batchSize: 64, learningRate: 1e-3, weightDecay: 0.01, lambda: 0.75,
      biasColumn: 0,
      club: .init(
        kind: .gaussian(dimensions: 1), hiddenDim: hiddenDim, pairMode: .difference, qHidden: 64, fitSteps: 5,
        learningRate: 1e-4, weightDecay: 0.01, logvarBound: 5, seed: 0),
      promptsPerPair: 8,
      promptFree: PromptFreeGap(
        weighting: .corresponding(p: 0), solver: .newton, tolerance: 1e-6, maxIterations: 100),
      prioritizer: .init(
        placement: .kmeans, emaWeight: 0.9, initialThreshold: 0, lazyReinsertion: false, maxReinsertions: 0,
        shuffle: true, seed: 0),
      seed: seed)
  }
}
