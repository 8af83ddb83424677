import Glibc

/// The affine map z = (b − μ) / σ, per dimension, under which DIR's Gaussian estimator sees
/// its bias (docs/decisions.md, "Gaussian bias on any scale").
///
/// The CLUB bound is invariant under an affine map of b, but fitting q is not: q's mean
/// network would have to output raw token counts and its log-variance is bounded, so raw
/// lengths silently broke training. μ and σ are the running mean and standard deviation of
/// every bias q has been fit on, merged batch by batch from the sufficient statistics: as
/// data-parallel workers fit on the same gathered batch, they keep the same map, exactly.
public struct BiasStandardization: Equatable {
  /// Rows merged so far; 0 before the first fit.
  public private(set) var count: Double
  public private(set) var mean: [Double]
  /// Σ (b − mean)², per dimension.
  public private(set) var squaredDeviations: [Double]

  /// No rows yet, for an m-dimensional bias (m = 0: a categorical bias, never standardized).
  init(dimensions m: Int) {
    count = 0
    mean = [Double](repeating: 0, count: m)
    squaredDeviations = [Double](repeating: 0, count: m)
  }

  /// The map of exactly the batch `stats` describes.
  init(_ stats: BiasStatistics, dimensions m: Int) {
    self.init(dimensions: m)
    merge(stats)
  }

  /// A saved map, checked to be one `merge` of float bias values could have produced: an
  /// integral count (0 for a categorical bias), means within float range, squared deviations
  /// that are +0 or a normal positive double no larger than float values can spread (float
  /// inputs cannot spread by a subnormal amount, nor make −0), zero spread below two rows,
  /// and zeros before any row.
  init?(count: Double, mean: [Double], squaredDeviations: [Double]) {
    let widest = 2 * Double(Float.greatestFiniteMagnitude)
    guard mean.count == squaredDeviations.count, count >= 0, count <= Double(Limits.maxCounter),
      count == count.rounded(), !mean.isEmpty || count == 0,
      mean.allSatisfy({ Swift.abs($0) <= Double(Float.greatestFiniteMagnitude) }),
      squaredDeviations.allSatisfy({
        ($0 == 0 && $0.sign == .plus) || ($0.isNormal && $0 > 0 && $0 <= count * widest * widest)
      }),
      count >= 2 || squaredDeviations.allSatisfy({ $0 == 0 }),
      count > 0 || mean.allSatisfy({ $0 == 0 && $0.sign == .plus })
    else { return nil }
    self.count = count
    self.mean = mean
    self.squaredDeviations = squaredDeviations
  }

  var dimensions: Int { mean.count }

  /// Adds a batch by Chan et al.'s pairwise update, which stays accurate when the mean is
  /// large against the spread (raw lengths), unlike accumulating Σb².
  mutating func merge(_ stats: BiasStatistics) {
    let nb = stats.count
    let n = count + nb
    for d in 0..<dimensions {
      let batchMean = stats.sum(d) / nb
      let batchDeviations = max(0, stats.sumOfSquares(d) - stats.sum(d) * batchMean)
      let delta = batchMean - mean[d]
      mean[d] += delta * nb / n
      squaredDeviations[d] += batchDeviations + delta * delta * count * nb / n
    }
    count = min(n, Double(Limits.maxCounter))  // as Limits.counted: what it saves still loads
  }

  /// σ_d; 1 for a dimension that has not varied, which then is only centred.
  func scale(_ d: Int) -> Double {
    let variance = count > 0 ? squaredDeviations[d] / count : 0
    return variance > 0 && variance.isFinite ? variance.squareRoot() : 1
  }

  /// Σ_d log σ_d: log q(b | X) = log q(z | X) − this.
  var logScale: Double { (0..<dimensions).reduce(0) { $0 + log(scale($1)) } }

  /// z for n × m bias values.
  func apply(_ bias: [Float]) -> [Float] {
    let m = dimensions
    let inverse = (0..<m).map { 1 / scale($0) }
    return bias.indices.map { Float((Double(bias[$0]) - mean[$0 % m]) * inverse[$0 % m]) }
  }

  /// The statistics of the same rows in z: Σz = (Σb − Nμ)/σ, Σz² = (Σb² − 2μΣb + Nμ²)/σ².
  func apply(_ stats: BiasStatistics) -> BiasStatistics {
    let m = dimensions
    let n = stats.count
    var values = [Double](repeating: 0, count: 1 + 2 * m)
    values[0] = n
    for d in 0..<m {
      let (mu, sigma) = (mean[d], scale(d))
      values[1 + d] = (stats.sum(d) - n * mu) / sigma
      values[1 + m + d] =
        max(0, stats.sumOfSquares(d) - 2 * mu * stats.sum(d) + n * mu * mu) / (sigma * sigma)
    }
    return BiasStatistics(values: values, dimensions: m)
  }
}
