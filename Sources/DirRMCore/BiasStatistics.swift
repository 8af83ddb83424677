/// The batch-level sufficient statistics of the bias that the CLUB bound's inner expectation
/// needs (docs/mathematics.md §2), in double, in the one flat layout dirrm_club_bias_stats
/// writes: the count; then the per-class counts (categorical), or the per-dimension Σb
/// followed by the per-dimension Σb² (Gaussian). Summing these element-wise across
/// data-parallel workers gives the global batch's statistics.
public struct BiasStatistics: Equatable {
  public let values: [Double]
  /// m for a Gaussian bias (where Σb² starts), 0 for a categorical one.
  private let dimensions: Int

  /// The statistics of n rows of bias values (class ids, or n × m attributes).
  init(of bias: [Float], rows n: Int, kind: ClubEstimator.Config.Kind) {
    var stats = [Double](repeating: 0, count: kind.statsLength)
    stats[0] = Double(n)
    switch kind {
    case .categorical:
      for i in 0..<n { stats[1 + Int(bias[i])] += 1 }
      dimensions = 0
    case .gaussian(let m):
      for i in 0..<n {
        for d in 0..<m {
          let b = Double(bias[i * m + d])
          stats[1 + d] += b
          stats[1 + m + d] += b * b
        }
      }
      dimensions = m
    }
    values = stats
  }

  /// Statistics a caller supplies (summed over workers), checked: the length the kind needs,
  /// a count ≥ 1, no negative class count or sum of squares, and class counts that add up
  /// to the count.
  public init(checking given: [Double], kind: ClubEstimator.Config.Kind) throws(ConfigError) {
    guard given.count == kind.statsLength else {
      throw ConfigError(
        "bias_stats", "has \(given.count) values but this estimator's have \(kind.statsLength)")
    }
    guard given.allSatisfy(\.isFinite) else {
      throw ConfigError("bias_stats", "contains a non-finite value", kind: .nonFinite)
    }
    guard given[0] >= 1 else { throw ConfigError("bias_stats[0]", "(the count) = \(given[0]) must be >= 1") }
    switch kind {
    case .categorical(let c):
      if let j = (1...c).first(where: { given[$0] < 0 }) {
        throw ConfigError("bias_stats[\(j)]", "= \(given[j]) is a negative class count")
      }
      let total = given[1...c].reduce(0, +)
      guard Swift.abs(total - given[0]) <= 1e-6 * given[0] else {
        throw ConfigError("bias_stats:", "class counts sum to \(total), not the count \(given[0])")
      }
      dimensions = 0
    case .gaussian(let m):
      if let j = (1 + m...2 * m).first(where: { given[$0] < 0 }) {
        throw ConfigError("bias_stats[\(j)]", "= \(given[j]) is a negative sum of squares")
      }
      // Σb² ≥ (Σb)²/N for any real values (Cauchy–Schwarz), up to the float32 rounding of
      // the sums: below it no rows have these statistics, and the map built from them would
      // make the bound meaningless.
      if let d = (0..<m).first(where: {
        given[1 + m + $0] * given[0] < given[1 + $0] * given[1 + $0] * (1 - 1e-5)
      }) {
        throw ConfigError(
          "bias_stats[\(1 + m + d)]",
          "(the sum of squares) is below (sum)^2 / count: no rows have these statistics")
      }
      dimensions = m
    }
    values = given
  }

  /// Checks that these statistics can describe a batch containing the rows `batch`
  /// describes: at least as many rows and, for a categorical bias, at least as many of each
  /// class.
  public func validate(containing batch: BiasStatistics) throws(ConfigError) {
    guard count >= batch.count else {
      throw ConfigError("bias_stats[0]", "(the count) = \(count) is below this batch's \(batch.count) rows")
    }
    if dimensions == 0, let j = (1..<values.count).first(where: { values[$0] < batch.values[$0] }) {
      throw ConfigError(
        "bias_stats[\(j)]", "= \(values[j]) is below this batch's \(batch.values[j]) rows of class \(j - 1)")
    }
  }

  /// Statistics dirrm derived itself (BiasStandardization's z-space sums).
  init(values: [Double], dimensions: Int) {
    self.values = values
    self.dimensions = dimensions
  }

  var count: Double { values[0] }
  /// Categorical: the number of rows of class j.
  func classCount(_ j: Int) -> Double { values[1 + j] }
  /// Gaussian: Σ_i b_id.
  func sum(_ d: Int) -> Double { values[1 + d] }
  /// Gaussian: Σ_i b_id².
  func sumOfSquares(_ d: Int) -> Double { values[1 + dimensions + d] }
}
