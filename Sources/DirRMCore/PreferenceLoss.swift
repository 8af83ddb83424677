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
    let (chosen, rejected) = (rewards.chosen.span, rewards.rejected.span)
    guard wantGradient else { return (try loss(chosen: chosen, rejected: rejected), nil) }
    // Left unfilled: the gradient pass writes every element of both, and nothing reads them
    // if a check throws first.
    var gradChosen = [Float](unsafeUninitializedCapacity: pairs) { _, count in count = pairs }
    var gradRejected = [Float](unsafeUninitializedCapacity: pairs) { _, count in count = pairs }
    var towardChosen = gradChosen.mutableSpan
    var towardRejected = gradRejected.mutableSpan
    let loss = try evaluate(
      chosen: chosen, rejected: rejected, gradientChosen: &towardChosen, gradientRejected: &towardRejected)
    return (loss, PairBatch(chosen: gradChosen, rejected: gradRejected, columns: 1))
  }

  /// The loss on `pairs` pairs read in place. Throws when it does not fit in float32, which
  /// includes every call with a non-finite reward (the loss pass makes the sum NaN then), so
  /// a caller may check its rewards only after a throw, to name the bad one.
  public func loss(chosen: Span<Float>, rejected: Span<Float>) throws(NumericError) -> Float {
    try prepare(chosen: chosen, rejected: rejected).loss
  }

  /// The loss on `pairs` pairs read in place, and dL/dr_chosen and dL/dr_rejected written into
  /// the two gradient spans (`pairs` elements each), which are written only once every check
  /// has passed: a throw leaves them as they were. Throws as `loss(chosen:rejected:)` does,
  /// and when the centering gradient does not fit in float32.
  public func evaluate(
    chosen: Span<Float>, rejected: Span<Float>, gradientChosen: inout MutableSpan<Float>,
    gradientRejected: inout MutableSpan<Float>
  ) throws(NumericError) -> Float {
    precondition(gradientChosen.count == pairs && gradientRejected.count == pairs)
    let prepared = try prepare(chosen: chosen, rejected: rejected)
    // |dL/dr| ≤ w_i/W + 2c/n·|s_i| ≤ 1 + 2c/n·max|s|: checked before writing anything.
    let centerScale = 2 * Double(centerCoef) / Double(pairs)
    guard (1 + centerScale * prepared.largestSum).fitsInFloat else {
      throw .overflow("the centering gradient (\(centerScale * prepared.largestSum)) does not fit in float32")
    }
    // d softplus(z)/dz = σ(z), and z falls with r_chosen and rises with r_rejected. The kernel
    // scales each weight by 1/W in float32; where 1/W is not a normal float32 (weights summing
    // past 2^126 or below 2^-126), each w_i/W is formed in double first instead.
    var inverse = Float(1 / prepared.weightSum)
    var pulled = weight
    if !inverse.isNormal, let weight {
      pulled = weight.map { Float(Double($0) / prepared.weightSum) }
      inverse = 1
    }
    BradleyTerryKernel.with(chosen: chosen, rejected: rejected, margin: margin, weight: pulled) { kernel in
      gradientChosen.withUnsafeMutableBufferPointer { towardChosen in
        gradientRejected.withUnsafeMutableBufferPointer { towardRejected in
          kernel.gradient(scale: inverse, center: centerScale, into: (towardChosen, towardRejected))
        }
      }
    }
    return prepared.loss
  }

  /// The loss and what the gradient needs of the forward pass, on inputs whose counts are
  /// checked here. softplus comes from float32 vector kernels (a few ulp each); every sum is
  /// accumulated in double.
  private func prepare(chosen: Span<Float>, rejected: Span<Float>) throws(NumericError)
    -> (loss: Float, weightSum: Double, largestSum: Double)
  {
    precondition(
      chosen.count == pairs && rejected.count == pairs,
      "PreferenceLoss for \(pairs) pairs evaluated on \(chosen.count) and \(rejected.count) rewards")
    let n = pairs
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
    let weightedSoftplus = BradleyTerryKernel.with(
      chosen: chosen, rejected: rejected, margin: margin, weight: weight
    ) { kernel in kernel.softplusSum() }
    let loss = weightedSoftplus / weightSum + Double(centerCoef) * squaredSum / Double(n)
    guard loss.fitsInFloat else {
      throw .overflow("the loss (\(loss)) does not fit in float32")
    }
    return (Float(loss), weightSum, largestSum)
  }
}
