import Glibc

/// How much a reward model's preferences follow one attribute of the responses (length, a
/// flag, a format score), from what any trainer has: each pair's rewards, each response's
/// attribute, and optionally the hidden states (docs/mathematics.md §6). Pairs are oriented
/// (chosen, rejected) by the labels, so "the model agrees" is r(chosen) > r(rejected); a tie
/// counts one half wherever agreement is counted.
public struct BiasAudit: Equatable, Sendable {
  public struct Settings: Equatable, Sendable {
    /// Resamples of the pairs for the Spearman interval (0: no interval).
    public var bootstrap: Int
    /// The interval's coverage, in (0, 1).
    public var level: Double
    /// Quantile buckets of the attribute gap.
    public var buckets: Int
    /// AdamW steps fitting q on the first half of the pairs (0: no information estimate).
    public var clubSteps: Int
    /// Pairs per step of that fit.
    public var clubBatch: Int
    /// q: a Gaussian of this width on the attribute gap, fitted at this rate.
    public var qHidden: Int
    public var clubLearningRate: Float
    /// Seeds the resamples, the split and q.
    public var seed: UInt64

    public init(
      bootstrap: Int, level: Double, buckets: Int, clubSteps: Int, clubBatch: Int, qHidden: Int,
      clubLearningRate: Float, seed: UInt64
    ) {
      self.bootstrap = bootstrap
      self.level = level
      self.buckets = buckets
      self.clubSteps = clubSteps
      self.clubBatch = clubBatch
      self.qHidden = qHidden
      self.clubLearningRate = clubLearningRate
      self.seed = seed
    }

    public func validate() throws(ConfigError) {
      try Rule.range(bootstrap, 0...Limits.auditResamples, "bootstrap")
      try Rule.finite(level, "level")
      guard level > 0, level < 1 else { throw ConfigError("level", "= \(level) is outside (0, 1)") }
      try Rule.range(buckets, 1...Limits.auditBuckets, "buckets")
      try Rule.range(clubSteps, 0...Limits.maxBudget, "club_steps")
      try Rule.range(clubBatch, Limits.batchSize, "club_batch")
      try Rule.range(qHidden, 2...Limits.maxClubDimension, "q_hidden")
      try Rule.positive(clubLearningRate, "club_learning_rate")
    }

    /// q's settings for hidden states of width d.
    func club(hiddenDim d: Int) -> ClubEstimator.Config {
      var config = DIRLoss.Settings.defaults.club
      config.hiddenDim = d
      config.qHidden = qHidden
      config.learningRate = clubLearningRate
      config.fitSteps = 1
      config.seed = seed
      return config
    }
  }

  /// One quantile bucket of the attribute gap.
  public struct Bucket: Equatable, Sendable {
    public var lowest: Double
    public var highest: Double
    public var pairs: Int
    public var agreement: Double
  }

  public var pairs: Int
  /// Share of pairs the model orders as the labels do.
  public var agreement: Double
  /// Spearman(reward gap, attribute gap), and its percentile bootstrap interval (NaN without
  /// resamples, or when the gap or the attribute is constant).
  public var spearman: Double
  public var spearmanLow: Double
  public var spearmanHigh: Double
  /// Agreement of the rule "the response with the larger attribute wins" (ties one half).
  public var attributeBaseline: Double
  /// Agreement where the chosen response's attribute is larger, smaller, equal (NaN if none),
  /// and the mean of the first two: what a model reading only the attribute cannot beat 0.5 on.
  public var agreementLarger: Double
  public var agreementSmaller: Double
  public var agreementEqual: Double
  public var pairsLarger: Int
  public var pairsSmaller: Int
  public var pairsEqual: Int
  public var balancedAgreement: Double
  /// The logistic regression P(agree) = σ(intercept + coefficient · gap / sd(gap)), with
  /// scikit-learn's default penalty ½·coefficient²; `controlledAgreement` = σ(intercept) is the
  /// agreement with the attribute's effect removed (AlpacaEval's length-controlled win rate).
  public var coefficient: Double
  public var intercept: Double
  public var controlledAgreement: Double
  public var buckets: [Bucket]
  /// The CLUB estimate of I(h_chosen − h_rejected; attribute gap), q fit on one half of the
  /// pairs and evaluated on the other (NaN without hidden states or fit steps).
  public var mutualInformation: Double

  /// Each pair's gap a − b, in double: the difference of two finite floats always is.
  public static func gaps(_ a: [Float], _ b: [Float]) -> [Double] {
    zip(a, b).map { Double($0) - Double($1) }
  }

  /// Bytes an audit of `pairs` pairs with hidden states of width `width` holds: the gaps, the
  /// ranks and buckets, q's inputs, the bootstrap's resampled statistics, and with hidden
  /// states q itself twice (the estimator and the best one so far) and its activations on the
  /// largest of its batches (at most all the pairs).
  public static func workBytes(pairs: Int, width: Int, settings: Settings) -> Int? {
    guard let base = Workspace.bytes([[pairs, 6, width], [pairs, 16], [settings.bootstrap, 2]]) else {
      return nil
    }
    guard width > 0, settings.clubSteps > 0 else { return base }
    let q = settings.club(hiddenDim: width)
    guard let state = q.stateBytes, let work = q.workBytes(rows: pairs) else { return nil }
    return Workspace.bytes([[base], [2, state], [work]], elementSize: 1)
  }

  /// Checks the hidden states' width where q reads them (`clubSteps` > 0): q's input, at most
  /// `Limits.maxClubDimension`, as every estimator's.
  public static func checkWidth(_ width: Int, _ settings: Settings) throws(ConfigError) {
    guard width <= Limits.maxClubDimension || settings.clubSteps == 0 else {
      throw ConfigError("d", "= \(width) exceeds \(Limits.maxClubDimension), q's largest input", kind: .shape)
    }
  }

  /// Checks the inputs: n ≥ 2 pairs of finite rewards and attributes; hidden states, when
  /// given, for the same pairs and n ≥ 4 (two halves of at least two).
  public static func check(rewardGap: [Double], attributeGap: [Double], hidden: PairBatch?)
    throws(ConfigError)
  {
    guard rewardGap.count >= 2 else {
      throw ConfigError("n", "= \(rewardGap.count): the audit needs >= 2 pairs")
    }
    guard attributeGap.count == rewardGap.count else {
      throw ConfigError("attribute", "has \(attributeGap.count) gaps for \(rewardGap.count) pairs")
    }
    if let i = rewardGap.firstIndex(where: { !$0.isFinite }) {
      throw ConfigError("reward gap[\(i)]", "is \(rewardGap[i])", kind: .nonFinite)
    }
    if let i = attributeGap.firstIndex(where: { !$0.isFinite }) {
      throw ConfigError("attribute gap[\(i)]", "is \(attributeGap[i])", kind: .nonFinite)
    }
    if let hidden {
      guard hidden.pairs == rewardGap.count else {
        throw ConfigError("h", "has \(hidden.pairs) rows for \(rewardGap.count) pairs")
      }
      guard hidden.pairs >= 4 else {
        throw ConfigError("n", "= \(hidden.pairs): the estimate needs >= 4 pairs")
      }
    }
  }

  /// The report. Inputs as `check` requires; throws only if fitting q diverges.
  public static func run(
    rewardGap: [Double], attributeGap: [Double], hidden: PairBatch?, settings: Settings
  ) throws(NumericError) -> BiasAudit {
    let n = rewardGap.count
    let agree = rewardGap.map { $0 > 0 ? 1.0 : $0 == 0 ? 0.5 : 0 }
    func share(_ keep: (Int) -> Bool) -> (Double, Int) {
      var total = 0.0
      var count = 0
      for i in 0..<n where keep(i) {
        total += agree[i]
        count += 1
      }
      return (count == 0 ? .nan : total / Double(count), count)
    }
    let (agreement, _) = share { _ in true }
    let (larger, pairsLarger) = share { attributeGap[$0] > 0 }
    let (smaller, pairsSmaller) = share { attributeGap[$0] < 0 }
    let (equal, pairsEqual) = share { attributeGap[$0] == 0 }
    let baseline = attributeGap.reduce(0.0) { $0 + ($1 > 0 ? 1 : $1 == 0 ? 0.5 : 0) } / Double(n)
    let spearman = Statistics.spearman(rewardGap, attributeGap)
    let (low, high) = spearmanInterval(rewardGap, attributeGap, settings)
    let regression = LengthControl.fit(agree: agree, gap: attributeGap)
    var mi = Double.nan
    if let hidden, settings.clubSteps > 0 {
      mi = try heldOutBound(hidden, attributeGap, settings)
    }
    return BiasAudit(
      pairs: n, agreement: agreement, spearman: spearman, spearmanLow: low, spearmanHigh: high,
      attributeBaseline: baseline, agreementLarger: larger, agreementSmaller: smaller, agreementEqual: equal,
      pairsLarger: pairsLarger, pairsSmaller: pairsSmaller, pairsEqual: pairsEqual,
      balancedAgreement: (larger + smaller) / 2, coefficient: regression.coefficient,
      intercept: regression.intercept, controlledAgreement: regression.controlled,
      buckets: quantileBuckets(attributeGap, agree, count: settings.buckets), mutualInformation: mi)
  }

  /// The percentile interval of Spearman over `bootstrap` resamples of the pairs drawn with
  /// replacement (resamples whose gap or attribute is constant are left out), each endpoint
  /// interpolated between order statistics as numpy's percentile does.
  static func spearmanInterval(_ gap: [Double], _ attribute: [Double], _ settings: Settings) -> (
    Double, Double
  ) {
    let n = gap.count
    var random = Xoshiro256(seed: settings.seed)
    var values: [Double] = []
    values.reserveCapacity(settings.bootstrap)
    var a = [Double](repeating: 0, count: n)
    var b = [Double](repeating: 0, count: n)
    for _ in 0..<settings.bootstrap {
      for i in 0..<n {
        let j = random.below(n)
        a[i] = gap[j]
        b[i] = attribute[j]
      }
      let rho = Statistics.spearman(a, b)
      if !rho.isNaN { values.append(rho) }
    }
    guard !values.isEmpty else { return (.nan, .nan) }
    values.sort()
    let tail = (1 - settings.level) / 2
    return (percentile(values, tail), percentile(values, 1 - tail))
  }

  static func percentile(_ sorted: [Double], _ q: Double) -> Double {
    let position = q * Double(sorted.count - 1)
    let below = Int(position.rounded(.down))
    let above = min(below + 1, sorted.count - 1)
    return sorted[below] + (position - Double(below)) * (sorted[above] - sorted[below])
  }

  /// Buckets split at the gaps of ranks ⌊k·n/B⌋ (k = 1…B−1) of the sorted gaps, a gap equal to
  /// an edge going to the upper bucket; equal edges leave empty buckets out.
  static func quantileBuckets(_ gap: [Double], _ agree: [Double], count: Int) -> [Bucket] {
    let n = gap.count
    let sorted = gap.sorted()
    let edges = (1..<count).map { sorted[$0 * n / count] }
    var buckets = [Bucket](
      repeating: Bucket(lowest: .infinity, highest: -.infinity, pairs: 0, agreement: 0), count: count)
    for i in 0..<n {
      var k = 0
      while k < edges.count && gap[i] >= edges[k] { k += 1 }
      buckets[k].lowest = min(buckets[k].lowest, gap[i])
      buckets[k].highest = max(buckets[k].highest, gap[i])
      buckets[k].pairs += 1
      buckets[k].agreement += agree[i]
    }
    return buckets.filter { $0.pairs > 0 }.map {
      var bucket = $0
      bucket.agreement /= Double(bucket.pairs)
      return bucket
    }
  }

  /// q fitted on a seeded half of the pairs (minibatches drawn in shuffled epochs from four
  /// fifths of it, the q with the best likelihood on the last fifth kept: an overfitted q's
  /// bound on new pairs is noise amplified by its small variance, not information), then the
  /// bound evaluated on the other half with that half's statistics.
  static func heldOutBound(_ hidden: PairBatch, _ attribute: [Double], _ settings: Settings)
    throws(NumericError)
    -> Double
  {
    let n = hidden.pairs
    let d = hidden.columns
    var random = Xoshiro256(seed: settings.seed ^ 0x9E37_79B9_7F4A_7C15)
    var order = Array(0..<n)
    random.shuffle(&order)
    let half = n / 2
    let validation = max(1, half / 5)
    func batch(_ q: ClubEstimator, _ index: ArraySlice<Int>) throws(NumericError) -> ClubEstimator.Batch {
      var chosen = [Float]()
      var rejected = [Float]()
      chosen.reserveCapacity(index.count * d)
      rejected.reserveCapacity(index.count * d)
      for i in index {
        chosen += hidden.chosen[(i * d)..<((i + 1) * d)]
        rejected += hidden.rejected[(i * d)..<((i + 1) * d)]
      }
      let pairs = PairBatch(chosen: chosen, rejected: rejected, columns: d)
      guard let made = try? q.batch(pairs, bias: index.map { Float(attribute[$0]) }) else {
        throw .internalFailure("the audit built a batch q refused")
      }
      return made
    }
    var q = ClubEstimator(config: settings.club(hiddenDim: d))
    let check = try batch(q, order[(half - validation)..<half])
    func validationNLL(_ q: ClubEstimator) -> Double {
      -q.logProbability(check).reduce(0, +) / Double(validation)
    }
    var epoch = Array(order[0..<(half - validation)])
    let size = min(settings.clubBatch, epoch.count)
    var next = epoch.count
    var best = (q: q, nll: Double.infinity)
    let every = max(1, settings.clubSteps / 50)
    for step in 1...settings.clubSteps {
      if next + size > epoch.count {
        random.shuffle(&epoch)
        next = 0
      }
      try q.fit(batch(q, epoch[next..<(next + size)]), measure: false)
      next += size
      if step % every == 0 || step == settings.clubSteps {
        let nll = validationNLL(q)
        if nll < best.nll { best = (q, nll) }
      }
    }
    return best.q.bound(try batch(best.q, order[half...]), stats: nil, wantGradient: false).0
  }
}

/// The logistic regression behind the length-controlled agreement.
enum LengthControl {
  /// Minimizes ½β₁² + Σᵢ [aᵢ·softplus(−ηᵢ) + (1 − aᵢ)·softplus(ηᵢ)], ηᵢ = β₀ + β₁·zᵢ, zᵢ the gap
  /// over its standard deviation, by Newton's method with step halving (the objective is
  /// strictly convex once both outcomes occur). A constant gap leaves β₁ = 0; a model that
  /// always or never agrees has β₀ = ±∞ and controlled agreement equal to its agreement.
  static func fit(agree: [Double], gap: [Double]) -> (
    coefficient: Double, intercept: Double, controlled: Double
  ) {
    let n = Double(agree.count)
    let mean = gap.reduce(0, +) / n
    let sd = (gap.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / n).squareRoot()
    let z = gap.map { sd > 0 ? $0 / sd : 0 }
    let rate = agree.reduce(0, +) / n
    guard rate > 0, rate < 1 else { return (0, rate > 0 ? .infinity : -.infinity, rate) }
    func objective(_ b0: Double, _ b1: Double) -> Double {
      var total = 0.5 * b1 * b1
      for i in agree.indices {
        let eta = b0 + b1 * z[i]
        total += agree[i] * Stable.softplus(-eta) + (1 - agree[i]) * Stable.softplus(eta)
      }
      return total
    }
    var b0 = log(rate / (1 - rate))
    var b1 = 0.0
    var value = objective(b0, b1)
    for _ in 0..<100 {
      var g0 = 0.0
      var g1 = b1
      var h00 = 0.0
      var h01 = 0.0
      var h11 = 1.0
      for i in agree.indices {
        let p = Stable.sigmoid(b0 + b1 * z[i])
        let r = p - agree[i]
        let w = p * (1 - p)
        g0 += r
        g1 += r * z[i]
        h00 += w
        h01 += w * z[i]
        h11 += w * z[i] * z[i]
      }
      let det = h00 * h11 - h01 * h01
      guard det > 0 else { break }
      let step0 = (h11 * g0 - h01 * g1) / det
      let step1 = (h00 * g1 - h01 * g0) / det
      var t = 1.0
      var improved = false
      while t > 1e-10 {
        let candidate = objective(b0 - t * step0, b1 - t * step1)
        if candidate <= value {
          b0 -= t * step0
          b1 -= t * step1
          improved = value - candidate > 1e-12 * max(1, value)
          value = candidate
          break
        }
        t /= 2
      }
      if !improved { break }
    }
    return (b1, b0, Stable.sigmoid(b0))
  }
}
