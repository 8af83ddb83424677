import DirRMCore

/// Whether a table's target is decided by its seeds: a statistic of the per-seed values, its
/// 95% percentile-bootstrap interval over the seeds (resampled together, since every method
/// of a seed trains on that seed's data), and the verdict: met when the whole interval is on
/// the target's side, missed when it is wholly on the other, undecided otherwise.
struct TargetCheck {
  enum Target {
    case atLeast(Double)
    case atMost(Double)
    /// Within [low, high], bounds included.
    case within(Double, Double)

    func holds(_ v: Double) -> Bool {
      switch self {
      case .atLeast(let low): v >= low
      case .atMost(let high): v <= high
      case .within(let low, let high): v >= low && v <= high
      }
    }
  }

  /// Fewer seeds than this and the interval says too little: no verdict.
  static let minimumSeeds = 5
  static let resamples = 10_000

  let estimate: Double
  let interval: (low: Double, high: Double)?
  let verdict: String
  /// The target in words, and how the quantity prints: with `digits` decimals, or as a
  /// percentage.
  let target: String
  let digits: Int
  let percent: Bool

  /// `statistic` maps the seed indices of a sample (with repetitions) to the quantity judged,
  /// or nil where it is undefined (a ratio whose denominator is 0); the estimate is its value
  /// on every seed once.
  init(
    seeds: Int, target: Target, _ description: String, digits: Int = 0, percent: Bool = false,
    _ statistic: ([Int]) -> Double?
  ) {
    (self.target, self.digits, self.percent) = (description, digits, percent)
    estimate = statistic(Array(0..<seeds)) ?? .nan
    guard seeds >= Self.minimumSeeds else {
      (interval, verdict) = (nil, "not decided by \(seeds) seed\(seeds == 1 ? "" : "s")")
      return
    }
    // A fixed generator: the same seeds give the same interval on every run.
    var random = Xoshiro256(seed: 0x5EED)
    var values: [Double] = []
    values.reserveCapacity(Self.resamples)
    var sample = [Int](repeating: 0, count: seeds)
    for _ in 0..<Self.resamples {
      for i in 0..<seeds { sample[i] = random.below(seeds) }
      // Where a resample has no value the interval has no meaning.
      guard let v = statistic(sample), v.isFinite else {
        (interval, verdict) = (nil, "undecided, the statistic is undefined on some resamples of the seeds")
        return
      }
      values.append(v)
    }
    values.sort()
    let low = values[Int(0.025 * Double(Self.resamples - 1))]
    let high = values[Int((0.975 * Double(Self.resamples - 1)).rounded(.up))]
    interval = (low, high)
    switch (target.holds(low) && target.holds(high), target.holds(low) || target.holds(high)) {
    case (true, _): verdict = "met"
    case (false, false) where !Self.straddles(target, low, high): verdict = "missed"
    default: verdict = "undecided"
    }
  }

  /// Whether [low, high] holds a point of a `within` target although neither end is in it.
  private static func straddles(_ target: Target, _ low: Double, _ high: Double) -> Bool {
    if case .within(let a, let b) = target { return low <= b && high >= a }
    return false
  }

  /// "0.52 (95% interval over the seeds [0.45, 0.59]; target …: undecided)".
  var text: String {
    func show(_ v: Double) -> String {
      guard v.isFinite else { return "n/a" }
      return percent ? fixed(100 * v, 0) + "%" : fixed(v, digits)
    }
    let range = interval.map { "95% interval over the seeds [\(show($0.low)), \(show($0.high))]; " } ?? ""
    return "\(show(estimate)) (\(range)target \(target): \(verdict))"
  }
}

/// Mean of `values` at the sample's indices.
func mean(_ values: [Double], _ sample: [Int]) -> Double {
  sample.reduce(0) { $0 + values[$1] } / Double(max(sample.count, 1))
}

/// a / b, or nil where b is 0 or so close to it (a sum of values that cancel) that the ratio
/// means nothing.
func ratio(_ a: Double, _ b: Double) -> Double? {
  abs(b) > 1e-12 ? a / b : nil
}
