import Glibc
import SIMDKernels
import XCTest

@testable import DirRMCore

/// The float32 vector softplus and sigmoid of SIMDKernels, in every variant this CPU runs,
/// against the double functions in `Stable`, in ulps of the correctly rounded float result,
/// over the whole float range: every binade of both signs, the stable branches for large
/// |x|, and the subnormal results of σ far below zero. And the variants against each other.
final class SIMDKernelsTests: XCTestCase {
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

  var levels: [dirrm_simd_level] { SIMDVariants.levels }

  func forEachVariant(_ body: (dirrm_simd_level) -> Void) { SIMDVariants.forEach(body) }

  /// softplus and σ of each x, by the variant in use.
  func evaluate(_ xs: [Float]) -> (softplus: [Float], sigmoid: [Float]) {
    var sp = [Float](repeating: .nan, count: xs.count)
    var sg = [Float](repeating: .nan, count: xs.count)
    dirrm_softplus_sigmoid(xs, &sp, &sg, xs.count)
    return (sp, sg)
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

  func testSoftplusAndSigmoidAreWithinThreeUlpsInEveryVariant() {
    let xs = arguments
    forEachVariant { level in
      let (sp, sg) = evaluate(xs)
      let (e, at) = worst(xs, sp, Stable.softplus)
      XCTAssertLessThanOrEqual(e, 3, "softplus(\(at)), variant \(level)")
      let (f, where_) = worst(xs, sg, Stable.sigmoid)
      XCTAssertLessThanOrEqual(f, 3, "σ(\(where_)), variant \(level)")
    }
  }

  /// Every variant performs the same float operations in the same order, so all give the
  /// baseline's bits: element-wise, in the loss's double sum and in the gradient pass, at
  /// lengths with a partial last vector, with and without margins and weights.
  func testEveryVariantGivesTheBaselinesBits() {
    var random = SplitMix(5)
    func uniform() -> Float { Float(random.next() >> 40) / Float(1 << 24) }
    let xs = arguments
    for n in [1, 7, 8, 9, 31, 32, 33, 1001] {
      var chosen = (0..<n).map { _ in 40 * uniform() - 20 }
      // Gaps far below zero, where σ underflows to 0.
      for i in stride(from: 3, to: n, by: 5) { chosen[i] = 200 }
      let rejected = (0..<n).map { _ in 40 * uniform() - 20 }
      let margin = (0..<n).map { _ in uniform() }
      let weight = (0..<n).map { _ in 2 * uniform() }
      var reference: [String: [UInt64]] = [:]
      forEachVariant { level in
        var results: [String: [UInt64]] = [:]
        let (sp, sg) = evaluate(xs)
        results["softplus"] = sp.map { UInt64($0.bitPattern) }
        results["sigmoid"] = sg.map { UInt64($0.bitPattern) }
        for (m, w) in [(false, false), (true, false), (false, true), (true, true)] {
          let (mp, wp) = (m ? margin : nil, w ? weight : nil)
          let sum = dirrm_bt_softplus_sum(chosen, rejected, mp, wp, n)
          for center in [0.0, 0.375] {
            var towardChosen = [Float](repeating: .nan, count: n)
            var towardRejected = [Float](repeating: .nan, count: n)
            var sigma = [Float](repeating: .nan, count: n)
            dirrm_bt_gradient(chosen, rejected, mp, wp, 0.25, center, &towardChosen, &towardRejected, n)
            // σ itself: scale 1, no weights, no centering.
            var unused = [Float](repeating: .nan, count: n)
            dirrm_bt_gradient(chosen, rejected, mp, nil, 1, 0, &unused, &sigma, n)
            let (_, sg) = evaluate((0..<n).map { rejected[$0] - chosen[$0] + (m ? margin[$0] : 0) })
            XCTAssertEqual(sigma.map(\.bitPattern), sg.map(\.bitPattern), "σ as the element-wise kernel's")
            // p = w·scale·σ in float32, then −p and p (0 − p: +0, not −0, where σ underflowed),
            // each shifted by center·(c + r) in double when centering.
            for i in 0..<n {
              let p = (w ? weight[i] * 0.25 : 0.25) * sigma[i]
              let shift = center * (Double(chosen[i]) + Double(rejected[i]))
              let (c, r) = center == 0 ? (0 - p, p) : (Float(shift + Double(0 - p)), Float(shift + Double(p)))
              XCTAssertEqual(towardChosen[i].bitPattern, c.bitPattern, "n \(n), i \(i), center \(center)")
              XCTAssertEqual(towardRejected[i].bitPattern, r.bitPattern, "n \(n), i \(i), center \(center)")
            }
            results["bt \(m) \(w) \(center)"] =
              [sum.bitPattern] + (towardChosen + towardRejected).map { UInt64($0.bitPattern) }
          }
        }
        if level == DIRRM_SIMD_SSE {
          reference = results
        } else {
          for (name, bits) in results {
            XCTAssertEqual(bits, reference[name], "\(name), n \(n), variant \(level)")
          }
        }
      }
      // The loss pass against a sum written here: the same lanes (i mod 8) in double, added
      // in lane order, of the baseline's softplus values.
      var lanes = [Double](repeating: 0, count: 8)
      let z = (0..<n).map { rejected[$0] - chosen[$0] + margin[$0] }
      let (sp, _) = evaluate(z)
      for i in 0..<n { lanes[i % 8] += Double(weight[i]) * Double(sp[i]) }
      XCTAssertEqual(
        dirrm_bt_softplus_sum(chosen, rejected, margin, weight, n).bitPattern,
        lanes.reduce(-0.0, +).bitPattern, "n \(n)")
      // A non-finite reward anywhere makes the sum NaN, whatever its weight, in every
      // variant: the caller checks the rewards only after the loss fails. r_chosen = +∞ alone
      // would give softplus(−∞) = 0.
      for bad in [Float.infinity, -.infinity, .nan] {
        for i in Set([0, n / 2, n - 1]) {
          var (c, r) = (chosen, rejected)
          var zeroWeight = weight
          zeroWeight[i] = 0
          c[i] = bad
          forEachVariant { level in
            for w in [nil, zeroWeight] {
              XCTAssert(
                dirrm_bt_softplus_sum(c, rejected, margin, w, n).isNaN, "chosen \(bad) at \(i), \(level)")
            }
          }
          r[i] = bad
          XCTAssert(dirrm_bt_softplus_sum(chosen, r, nil, zeroWeight, n).isNaN, "rejected \(bad) at \(i)")
        }
      }
    }
  }

  /// The bits of the Swift vectors these kernels replaced (dirrm 0.1.0 at 9ef2f0c, whose
  /// `VectorMath.softplusAndSigmoid` gave these FNV-1a hashes over `arguments`), so that the
  /// tables trained with them stay reproducible.
  func testSameBitsAsTheSwiftVectorsTheyReplaced() {
    func fnv(_ values: [Float]) -> UInt64 {
      var h: UInt64 = 0xcbf2_9ce4_8422_2325
      for v in values { h = (h ^ UInt64(v.bitPattern)) &* 0x100_0000_01b3 }
      return h
    }
    let xs = arguments
    XCTAssertEqual(xs.count, 50863)
    forEachVariant { level in
      let (sp, sg) = evaluate(xs)
      XCTAssertEqual(fnv(sp), 0xdac8_98d3_fbd9_0b0b, "softplus, variant \(level)")
      XCTAssertEqual(fnv(sg), 0x53dc_ead7_93a2_d16b, "sigmoid, variant \(level)")
    }
  }

  func testStableBranchesAreExact() {
    // softplus(x) = x and σ(x) = 1 once e^−x is below half an ulp; both are 0 far below zero.
    let big: [Float] = [30, 1e3, 1e30, .greatestFiniteMagnitude]
    XCTAssertEqual(evaluate(big).softplus, big)
    XCTAssertEqual(evaluate(big).sigmoid, [1, 1, 1, 1])
    let far: [Float] = [-1e3, -1e30, -.greatestFiniteMagnitude]
    XCTAssertEqual(evaluate(far).softplus, [0, 0, 0])
    XCTAssertEqual(evaluate(far).sigmoid, [0, 0, 0])
  }

  func testSigmoidReachesTheSubnormals() {
    // σ(x) = e^x/(1 + e^x) is e^x to within its rounding here, down into the subnormals.
    let xs: [Float] = [-87.5, -95, -100, -103]
    for (x, y) in zip(xs, evaluate(xs).sigmoid) {
      XCTAssertLessThanOrEqual(ulps(y, Glibc.exp(Double(x))), 2, "σ(\(x)) = \(y)")
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
