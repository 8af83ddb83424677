import DirRMCore

/// One method trained on one dataset, and what came of it.
struct MethodResult {
  var evaluation: Evaluation
  /// Share of the pairs trained on (counted with repetition) whose bias value is > 0.
  var trainedBiasShare: Double
  var club: Double
  var log: Trainer.Log
  var model: RewardModel<Float>
}

enum Experiment {
  static func run(
    _ method: Trainer.Method, train: PreferenceDataset, test: PreferenceDataset, seed: UInt64,
    configure: (inout Trainer.Settings) -> Void = { _ in },
    progress: (Trainer.Progress) -> Bool = { _ in false }
  ) throws -> MethodResult {
    var shape = RewardModel<Float>.Shape.defaults
    (shape.promptDim, shape.responseDim) = (train.promptDim, train.responseDim)
    var settings = Trainer.Settings.defaults(method: method, hiddenDim: shape.width, seed: seed)
    configure(&settings)
    try OptionChecks.settings(settings, for: train, width: shape.width)
    try OptionChecks.memory(settings, shape: shape, data: train)
    var trainer = Trainer(model: RewardModel(shape: shape, seed: seed), data: train, settings: settings)
    do {
      try trainer.run(stop: progress)
    } catch {
      throw OptionChecks.described(error)
    }
    let bias = train.biasColumn(0)
    var trained = 0
    var biased = 0
    for (i, count) in trainer.log.trainedCount.enumerated() {
      trained += count
      if bias[i] > 0 { biased += count }
    }
    return MethodResult(
      evaluation: Evaluation.evaluate(trainer.model, on: test, biasColumn: 0),
      trainedBiasShare: Double(biased) / Double(max(trained, 1)), club: clubEstimate(trainer.model, test),
      log: trainer.log, model: trainer.model)
  }

  /// The CLUB estimate of I(h_c − h_r; 1[bias > 0]) on a dataset, with a fresh estimator fitted
  /// to convergence on one half and evaluated on the other.
  static func clubEstimate(_ model: RewardModel<Float>, _ data: PreferenceDataset) -> Double {
    let n = data.pairs.count
    let pairs = data.pairs
    let trace = model.forward(
      prompts: data.promptRows(pairs.map(\.prompt) + pairs.map(\.prompt)),
      responses: data.responseRows(pairs.map(\.chosen) + pairs.map(\.rejected)), rows: 2 * n)
    let w = model.shape.width
    let hidden = trace.hidden
    let labels = data.biasColumn(0).map { Float($0 > 0 ? 1 : 0) }
    var estimator = ClubEstimator(
      config: .init(
        kind: .categorical(classes: 2), hiddenDim: w, pairMode: .difference, qHidden: 64, fitSteps: 300,
        learningRate: 3e-3, weightDecay: 0, logvarBound: 5, seed: 1))
    let half = n / 2
    let states = PairBatch(stacked: hidden, pairs: n, columns: w)
    func rows(_ range: Range<Int>) -> PairBatch {
      let cells = (range.lowerBound * w)..<(range.upperBound * w)
      return PairBatch(
        chosen: Array(states.chosen[cells]), rejected: Array(states.rejected[cells]), columns: w)
    }
    do {
      let fitBatch = try estimator.batch(rows(0..<half), bias: Array(labels[0..<half]))
      try estimator.fit(fitBatch)
      let heldOut = try estimator.batch(rows(half..<n), bias: Array(labels[half...]))
      return estimator.bound(heldOut, stats: nil, wantGradient: false).0
    } catch {
      // A diverged fit (or, impossibly, a malformed batch) leaves no estimate: the table
      // shows nan rather than a number from a broken q.
      return .nan
    }
  }
}

extension Experiment {
  /// Each pair's prompt-free and prompt-related gaps under a model: K prompts per pair (its
  /// own first, then K − 1 drawn from the dataset), Δr2 by Newton with uniform weights.
  static func decompose(_ model: RewardModel<Float>, _ data: PreferenceDataset, k: Int = 8, seed: UInt64 = 1)
    throws(NumericError) -> (dr2: [Float], dr1: [Float])
  {
    let scores = try PromptFreeScores(
      model: model, data: data, pairs: Array(data.pairs.indices), k: k, seed: seed,
      solver: PromptFreeGap(weighting: .uniform, solver: .newton, tolerance: 1e-6, maxIterations: 200))
    return (scores.dr2, scores.dr1)
  }

  /// The library's default synthetic data of a kind and seed; `promptCount` (the training
  /// prompts; the test set has a quarter as many, at least 50) scales it.
  static func synthetic(
    _ kind: SyntheticPreferences.Kind, seed: UInt64,
    promptCount: Int = SyntheticPreferences.Settings.defaults.promptCount
  ) -> (PreferenceDataset, PreferenceDataset) {
    var settings = SyntheticPreferences.Settings.defaults
    (settings.kind, settings.seed, settings.promptCount) = (kind, seed, promptCount)
    return SyntheticPreferences.generate(settings)
  }
}

/// A quantity's values over seeds: mean ± standard deviation (their spread) or ± standard
/// error (the mean's uncertainty).
struct Summary {
  var values: [Double] = []
  mutating func add(_ v: Double) { values.append(v) }
  var mean: Double { values.reduce(0, +) / Double(max(values.count, 1)) }
  var std: Double {
    guard values.count > 1 else { return 0 }
    let m = mean
    return (values.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(values.count - 1)).squareRoot()
  }
  var standardError: Double { std / Double(max(values.count, 1)).squareRoot() }
  func text(_ digits: Int = 3) -> String { "\(fixed(mean, digits)) ± \(fixed(std, digits))" }
  func errorText(_ digits: Int = 3) -> String { "\(fixed(mean, digits)) ± \(fixed(standardError, digits))" }
}

func fixed(_ v: Double, _ digits: Int) -> String {
  guard v.isFinite else { return "n/a" }
  // Past 10^15 the digits below are noise, and the integer conversion below would trap.
  guard abs(v) < 1e15 else { return "\(v)" }
  var scale = 1.0
  for _ in 0..<digits { scale *= 10 }
  let r = (abs(v) * scale).rounded()
  let whole = Int(r / scale)
  var fraction = String(Int(r.truncatingRemainder(dividingBy: scale)))
  while fraction.count < digits { fraction = "0" + fraction }
  return (v < 0 && r > 0 ? "-" : "") + "\(whole)" + (digits > 0 ? ".\(fraction)" : "")
}
