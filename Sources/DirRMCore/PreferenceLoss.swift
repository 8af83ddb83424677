/// The Bradley–Terry preference loss with the options reward-model trainers use
/// (docs/mathematics.md §1): per-pair margins and weights, and reward centering.
public struct PreferenceLoss: Equatable {
  /// The number of pairs the options were checked for.
  public let pairs: Int
  /// m_i, added to the required gap: the loss is softplus(r_rejected − r_chosen + m_i).
  public let margin: [Float]?
  /// w_i ≥ 0 with a positive sum; the loss is the w-weighted mean.
  public let weight: [Float]?
  /// c ≥ 0: adds c · mean (r_chosen + r_rejected)², which pins the rewards' offset.
  public let centerCoef: Float

  /// Options for n ≥ 1 pairs, checked: finite margins, finite non-negative weights with a
  /// positive sum, each with one value per pair, and a finite c ≥ 0.
  public init(pairs n: Int, margin: [Float]? = nil, weight: [Float]? = nil, centerCoef: Float = 0)
    throws(ConfigError)
  {
    guard n >= 1 else { throw ConfigError("n", "= \(n) must be at least 1") }
    if let margin {
      guard margin.count == n else {
        throw ConfigError("margin", "has \(margin.count) values for \(n) pairs")
      }
      try Rule.finiteElements(margin, "margin")
    }
    if let weight {
      guard weight.count == n else {
        throw ConfigError("weight", "has \(weight.count) values for \(n) pairs")
      }
      try Rule.finiteElements(weight, "weight")
      if let i = weight.firstIndex(where: { $0 < 0 }) {
        throw ConfigError("weight[\(i)]", "= \(weight[i]) is negative")
      }
      guard weight.contains(where: { $0 > 0 }) else {
        throw ConfigError("weight", "is zero everywhere; the weights must have a positive sum")
      }
    }
    try Rule.nonNegative(centerCoef, "center_coef")
    (pairs, self.margin, self.weight, self.centerCoef) = (n, margin, weight, centerCoef)
  }

  /// The plain loss on n ≥ 1 pairs: no margins, equal weights, no centering.
  public static func plain(pairs n: Int) -> PreferenceLoss {
    PreferenceLoss(unchecked: n)
  }

  private init(unchecked n: Int) {
    (pairs, margin, weight, centerCoef) = (n, nil, nil, 0)
  }

  /// The loss on `pairs` pairs of rewards (one column) and, when asked, dL/dr_chosen and
  /// dL/dr_rejected. Throws when a result does not fit in float32.
  public func evaluate(_ rewards: PairBatch, wantGradient: Bool) throws(NumericError)
    -> (loss: Float, gradient: PairBatch?)
  {
    precondition(
      rewards.pairs == pairs && rewards.columns == 1,
      "PreferenceLoss for \(pairs) pairs evaluated on \(rewards.pairs) pairs of \(rewards.columns) columns")
    return try Self.bradleyTerry(
      chosen: rewards.chosen, rejected: rewards.rejected, margin: margin, weight: weight,
      centerCoef: centerCoef, wantGradient: wantGradient)
  }

  /// The computation, on inputs `evaluate` has checked. softplus and σ come from float32
  /// vector kernels (a few ulp each); every sum is accumulated in double.
  private static func bradleyTerry(
    chosen: [Float], rejected: [Float], margin: [Float]?, weight: [Float]?, centerCoef: Float,
    wantGradient: Bool
  ) throws(NumericError) -> (loss: Float, gradient: PairBatch?) {
    let n = chosen.count
    let weightSum = weight.map { $0.reduce(0.0) { $0 + Double($1) } } ?? Double(n)
    var squaredSum = 0.0
    var largestSum = 0.0
    if centerCoef != 0 {
      for i in 0..<n {
        let s = Double(chosen[i]) + Double(rejected[i])
        squaredSum += s * s
        largestSum = max(largestSum, Swift.abs(s))
      }
    }
    // σ(z_i) shares e^−|z_i| with softplus, so the loss pass computes it too and parks it in
    // the rejected gradient; nothing is returned unless the checks below pass.
    // Left unfilled: the loss pass writes every σ, the gradient pass every element of both.
    let m = wantGradient ? n : 0
    var gradChosen = [Float](unsafeUninitializedCapacity: m) { _, count in count = m }
    var gradRejected = [Float](unsafeUninitializedCapacity: m) { _, count in count = m }
    let weightedSoftplus = BradleyTerryKernel.with(
      chosen: chosen, rejected: rejected, margin: margin, weight: weight
    ) { kernel in
      gradRejected.withUnsafeMutableBufferPointer { sigmoid in
        kernel.softplusSum(sigmoid: wantGradient ? sigmoid : nil)
      }
    }
    let c = Double(centerCoef)
    let loss = weightedSoftplus / weightSum + c * squaredSum / Double(n)
    guard loss.fitsInFloat else {
      throw .overflow("the loss (\(loss)) does not fit in float32")
    }
    guard wantGradient else { return (Float(loss), nil) }

    // |dL/dr| ≤ w_i/W + 2c/n·|s_i| ≤ 1 + 2c/n·max|s|: check before writing anything.
    let centerScale = 2 * c / Double(n)
    guard (1 + centerScale * largestSum).fitsInFloat else {
      throw .overflow("the centering gradient (\(centerScale * largestSum)) does not fit in float32")
    }
    // d softplus(z)/dz = σ(z), and z falls with r_chosen and rises with r_rejected. The kernel
    // scales each weight by 1/W in float32; where 1/W is not a normal float32 (weights summing
    // past 2^126 or below 2^-126), each w_i/W is formed in double first instead.
    var inverse = Float(1 / weightSum)
    var pulled = weight
    if !inverse.isNormal, let weight {
      pulled = weight.map { Float(Double($0) / weightSum) }
      inverse = 1
    }
    BradleyTerryKernel.with(chosen: chosen, rejected: rejected, margin: margin, weight: pulled) { kernel in
      gradChosen.withUnsafeMutableBufferPointer { towardChosen in
        gradRejected.withUnsafeMutableBufferPointer { towardRejected in
          kernel.pull(inverseWeightSum: inverse, into: (towardChosen, towardRejected))
        }
      }
    }
    if c != 0 {
      for i in 0..<n {
        let center = centerScale * (Double(chosen[i]) + Double(rejected[i]))
        gradChosen[i] = Float(center + Double(gradChosen[i]))
        gradRejected[i] = Float(center + Double(gradRejected[i]))
      }
    }
    return (Float(loss), PairBatch(chosen: gradChosen, rejected: gradRejected, columns: 1))
  }
}
