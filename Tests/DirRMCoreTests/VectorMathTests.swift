import Glibc
import XCTest

@testable import DirRMCore

/// The float32 vector softplus and sigmoid against the double functions in `Stable`, in ulps
/// of the correctly rounded float result, over the whole float range: every binade of both
/// signs, the stable branches for large |x|, and the subnormal results of σ far below zero.
final class VectorMathTests: XCTestCase {
  /// Error of `got` in units of the last place of `want` rounded to float (subnormal ulps
  /// below the normal range, where every float has the same spacing).
  func ulps(_ got: Float, _ want: Double) -> Double {
    let rounded = Float(want)
    let spacing = max(rounded.magnitude.ulp, Float.leastNonzeroMagnitude)
    return Swift.abs(Double(got) - want) / Double(spacing)
  }

  /// Arguments: 64 per binade from 2^−149 to 2^127, both signs, plus a fine grid where the
  /// functions bend and near the clamps of the exponential.
  var arguments: [Float] {
    var xs: [Float] = [0, -0, .greatestFiniteMagnitude, -.greatestFiniteMagnitude]
    for exponent in -149...127 {
      for step in 0..<64 {
        let x = Float(sign: .plus, exponent: exponent, significand: 1 + Float(step) / 64)
        if x.isFinite { xs += [x, -x] }
      }
    }
    xs += stride(from: Float(-120), through: 120, by: 1 / 64)
    for edge: Float in [87.3, 88.7, 103.9, 104, 104.1, 149, 150] {
      xs += [edge, -edge, edge.nextUp, -edge.nextUp, edge.nextDown, -edge.nextDown]
    }
    return xs
  }

  func evaluate(_ xs: [Float], _ f: (VectorMath.Value) -> VectorMath.Value) -> [Float] {
    var out: [Float] = []
    for start in stride(from: 0, to: xs.count, by: 8) {
      var v = VectorMath.Value()
      for lane in 0..<min(8, xs.count - start) { v[lane] = xs[start + lane] }
      let y = f(v)
      for lane in 0..<min(8, xs.count - start) { out.append(y[lane]) }
    }
    return out
  }

  func worst(_ xs: [Float], _ got: [Float], _ reference: (Double) -> Double) -> (ulps: Double, at: Float) {
    var worst = (ulps: 0.0, at: Float.nan)
    for (x, y) in zip(xs, got) {
      XCTAssert(y.isFinite || !x.isFinite, "\(x) → \(y)")
      let e = ulps(y, reference(Double(x)))
      if e > worst.ulps { worst = (e, x) }
    }
    return worst
  }

  func testSoftplusIsWithinThreeUlps() {
    let xs = arguments
    let (e, at) = worst(xs, evaluate(xs, VectorMath.softplus), Stable.softplus)
    XCTAssertLessThanOrEqual(e, 3, "softplus(\(at))")
  }

  func testSigmoidIsWithinThreeUlps() {
    let xs = arguments
    let (e, at) = worst(xs, evaluate(xs, VectorMath.sigmoid), Stable.sigmoid)
    XCTAssertLessThanOrEqual(e, 3, "σ(\(at))")
  }

  func testTheSharedFormAgrees() {
    let xs = arguments
    XCTAssertEqual(
      evaluate(xs) { VectorMath.softplusAndSigmoid($0).softplus }, evaluate(xs, VectorMath.softplus))
    XCTAssertEqual(
      evaluate(xs) { VectorMath.softplusAndSigmoid($0).sigmoid }, evaluate(xs, VectorMath.sigmoid))
  }

  func testStableBranchesAreExact() {
    // softplus(x) = x and σ(x) = 1 once e^−x is below half an ulp; both are 0 far below zero.
    let big: [Float] = [30, 1e3, 1e30, .greatestFiniteMagnitude]
    XCTAssertEqual(evaluate(big, VectorMath.softplus), big)
    XCTAssertEqual(evaluate(big, VectorMath.sigmoid), [1, 1, 1, 1])
    let far: [Float] = [-1e3, -1e30, -.greatestFiniteMagnitude]
    XCTAssertEqual(evaluate(far, VectorMath.softplus), [0, 0, 0])
    XCTAssertEqual(evaluate(far, VectorMath.sigmoid), [0, 0, 0])
  }

  func testExponentialReachesTheSubnormals() {
    let xs: [Float] = [-87.5, -95, -100, -103]
    for (x, y) in zip(xs, evaluate(xs, VectorMath.expOfNonPositive)) {
      XCTAssertLessThanOrEqual(ulps(y, Glibc.exp(Double(x))), 2, "exp(\(x)) = \(y)")
      XCTAssertGreaterThan(y, 0)
    }
  }

  func testAllFiniteFindsEveryNonFiniteValueAnywhere() {
    for count in [0, 1, 15, 16, 17, 40] {
      let finite = (0..<count).map { Float($0) - 7.5 } + [.greatestFiniteMagnitude]
      XCTAssert(finite.withUnsafeBufferPointer(VectorMath.allFinite))
      for i in finite.indices {
        for bad: Float in [.infinity, -.infinity, .nan] {
          var values = finite
          values[i] = bad
          XCTAssertFalse(
            values.withUnsafeBufferPointer(VectorMath.allFinite), "\(bad) at \(i) of \(values.count)")
        }
      }
    }
  }
}
