import XCTest

@testable import DirRMCore

/// The reward model's backward pass against central finite differences, in double.
final class RewardModelGradientTests: XCTestCase {
  /// L = Σ_i a_i r_i + Σ_ij B_ij h_ij: exercises both the reward and the hidden-state path.
  func loss(
    _ model: RewardModel<Double>, _ x: [Double], _ y: [Double], _ n: Int, _ a: [Double], _ b: [Double]
  ) -> Double {
    let trace = model.forward(prompts: x, responses: y, rows: n)
    var total = 0.0
    for i in 0..<n { total += a[i] * trace.rewards[i] }
    for (k, h) in trace.hidden.enumerated() { total += b[k] * h }
    return total
  }

  func testGradientMatchesCentralDifferences() {
    for depth in [1, 2, 3] {
      let shape = RewardModel<Double>.Shape(promptDim: 3, responseDim: 4, width: 5, depth: depth)
      let model = RewardModel<Double>(shape: shape, seed: UInt64(depth))
      var random = Xoshiro256(seed: 9)
      let n = 6
      let x = (0..<(n * 3)).map { _ in random.normal() }
      let y = (0..<(n * 4)).map { _ in random.normal() }
      let a = (0..<n).map { _ in random.normal() }
      let b = (0..<(n * 5)).map { _ in random.normal() }
      let trace = model.forward(prompts: x, responses: y, rows: n)
      let gradient = model.gradient(trace, rewardGradient: a, hiddenGradient: b)
      let h = 1e-6
      for k in 0..<shape.parameterCount {
        var plus = model
        var minus = model
        plus.parameters[k] += h
        minus.parameters[k] -= h
        let fd = (loss(plus, x, y, n, a, b) - loss(minus, x, y, n, a, b)) / (2 * h)
        XCTAssertEqual(gradient[k], fd, accuracy: 1e-6 * max(1, abs(fd)), "depth \(depth), parameter \(k)")
      }
    }
  }
}
