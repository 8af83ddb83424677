/// The Bradley–Terry preference loss with the options reward-model trainers use
/// (docs/mathematics.md §1): per-pair margins and weights, and reward centering.
public enum PreferenceLoss {
  /// Returns the loss and, into whichever gradient buffers are given, dL/dr_chosen and
  /// dL/dr_rejected. Nothing is written when it throws.
  ///
  /// The caller guarantees: every buffer has the same count ≥ 1, all values finite,
  /// `weight` entries ≥ 0 with a positive sum, `centerCoef` ≥ 0.
  public static func bradleyTerry(
    chosen: UnsafeBufferPointer<Float>,
    rejected: UnsafeBufferPointer<Float>,
    margin: UnsafeBufferPointer<Float>?,
    weight: UnsafeBufferPointer<Float>?,
    centerCoef: Float,
    gradChosen: UnsafeMutableBufferPointer<Float>?,
    gradRejected: UnsafeMutableBufferPointer<Float>?
  ) throws(NumericError) -> Float {
    let n = chosen.count
    func negatedGap(_ i: Int) -> Double {
      Double(rejected[i]) - Double(chosen[i]) + (margin.map { Double($0[i]) } ?? 0)
    }
    func pairWeight(_ i: Int) -> Double { weight.map { Double($0[i]) } ?? 1 }

    var weightSum = 0.0
    var weightedSoftplus = 0.0
    var squaredSum = 0.0
    var largestSum = 0.0
    for i in 0..<n {
      let w = pairWeight(i)
      weightSum += w
      weightedSoftplus += w * Stable.softplus(negatedGap(i))
      let s = Double(chosen[i]) + Double(rejected[i])
      squaredSum += s * s
      largestSum = max(largestSum, Swift.abs(s))
    }
    let c = Double(centerCoef)
    let loss = weightedSoftplus / weightSum + c * squaredSum / Double(n)
    guard loss.fitsInFloat else {
      throw .overflow("the loss (\(loss)) does not fit in float32")
    }
    guard gradChosen != nil || gradRejected != nil else { return Float(loss) }

    // |dL/dr| ≤ w_i/W + 2c/n·|s_i| ≤ 1 + 2c/n·max|s|: check before writing anything.
    let centerScale = 2 * c / Double(n)
    guard (1 + centerScale * largestSum).fitsInFloat else {
      throw .overflow("the centering gradient (\(centerScale * largestSum)) does not fit in float32")
    }
    for i in 0..<n {
      // d softplus(z)/dz = σ(z), and z falls with r_chosen and rises with r_rejected.
      let pull = pairWeight(i) * Stable.sigmoid(negatedGap(i)) / weightSum
      let center = centerScale * (Double(chosen[i]) + Double(rejected[i]))
      gradChosen?[i] = Float(center - pull)
      gradRejected?[i] = Float(center + pull)
    }
    return Float(loss)
  }
}
