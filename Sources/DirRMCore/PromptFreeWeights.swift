import Glibc

/// The weights of one row's prompts: normalized for Φ, and exactly proportional for the
/// tie-break on a flat step of Φ.
extension PromptFreeGap.Problem {
  /// Row i's weights up to a common factor, exact where the weighting allows it: whether the
  /// weights above and below the root balance decides where it lies on a flat step of Φ, and
  /// normalizing would round (1 − p)/(K − 1) = 0.1 and make five of them outweigh p = 0.5.
  func proportionalWeights(of i: Int, into w: inout [Double]) {
    switch rowWeights {
    case .uniform:
      for j in 0..<k { w[j] = 1 }
    case .corresponding(let p, let columns):
      guard k > 1 else {
        w[0] = 1
        return
      }
      // p (K − 1) : (1 − p), both exact in double for a float32 p.
      for j in 0..<k { w[j] = 1 - p }
      w[columns[i]] = p * Double(k - 1)
    case .explicit(let weights):
      for j in 0..<k { w[j] = Double(weights[i * k + j]) }
    case .logWeights(let weights):
      var largest = -Double.infinity
      for j in 0..<k { largest = max(largest, Double(weights[i * k + j])) }
      for j in 0..<k { w[j] = exp(Double(weights[i * k + j]) - largest) }
    }
  }

  /// Row i's normalized weights.
  func weights(of i: Int, into w: inout [Double]) {
    switch rowWeights {
    case .uniform:
      for j in 0..<k { w[j] = 1 / Double(k) }
    case .corresponding(let p, let columns):
      guard k > 1 else {
        w[0] = 1
        return
      }
      for j in 0..<k { w[j] = (1 - p) / Double(k - 1) }
      w[columns[i]] = p
    case .explicit(let weights):
      var total = 0.0
      for j in 0..<k { total += Double(weights[i * k + j]) }
      for j in 0..<k { w[j] = Double(weights[i * k + j]) / total }
    case .logWeights(let weights):
      var largest = -Double.infinity
      for j in 0..<k { largest = max(largest, Double(weights[i * k + j])) }
      var total = 0.0
      for j in 0..<k {
        w[j] = exp(Double(weights[i * k + j]) - largest)
        total += w[j]
      }
      for j in 0..<k { w[j] /= total }
    }
  }
}
