import Glibc
import SIMDKernels
import XCTest

@testable import DirRMCore

/// Prompt-free's kernels in SIMDKernels, in every variant this CPU runs: the exponentials
/// against libm's exp bit for bit (the roots, and the tables made before the kernels, rest on
/// those bits), the four-row evaluation against the scalar one, and the rank sort against an
/// insertion sort written here.
final class PromptFreeKernelTests: XCTestCase {
  /// Distances |g − d| across the exp kernel's path and both sides of its ends: zero, below
  /// 2^−54 (libm's 1 + x), every binade up to 2^10, around 512 (libm past it) and 708–746
  /// (subnormal and zero results).
  var distances: [Double] {
    var xs: [Double] = [0, 0x1p-1074, 0x1p-60, 0x1p-54, Double(0x1p-54).nextDown, Double(0x1p-54).nextUp]
    for exponent in -60...10 {
      for step in 0..<97 {
        xs.append(Double(sign: .plus, exponent: exponent, significand: 1 + Double(step) / 97))
      }
    }
    for edge in [1.0, 512, 708.39, 709.78, 745.13, 745.14, 746, 1000] {
      xs += [edge, edge.nextUp, edge.nextDown]
    }
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    // Fusing one multiply-add differently changes about 4 results in 10^7 (measured with a
    // mutant kernel: 41 of 2·10^8), so the random part is large.
    for _ in 0..<4_000_000 {
      state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      let u = Double(state >> 11) / 0x1p53
      let scale: Double
      switch (state >> 3) % 3 {
      case 0: scale = 40
      case 1: scale = 800
      default: scale = 2
      }
      xs.append(u * scale)
    }
    return xs
  }

  func testExponentialsEqualLibmBitForBitAndTheNearestWeightedGapInEveryVariant() {
    let xs = distances
    // The nearest gap is taken over positive weights only: one in three is zero (or −0).
    let weights = xs.indices.map { [1.0, 0, 0.5, -0.0, 2, 3][$0 % 6] }
    // Gaps on both sides of d, at every offset modulo the vector width and a short tail.
    for d in [0.0, 0.375, -2.5] {
      var gaps = xs
      for j in stride(from: 0, to: gaps.count, by: 2) { gaps[j] = d + xs[j] }
      for j in stride(from: 1, to: gaps.count, by: 2) { gaps[j] = d - xs[j] }
      // The baseline variant's loop calls libm (checked here on a prefix, in Swift); the
      // others are compared with it over every distance (Swift closures over millions of
      // elements are slow in debug builds).
      var (wantExps, wantTails) = (
        [Double](repeating: 0, count: gaps.count), [Double](repeating: 0, count: gaps.count)
      )
      let inUse = dirrm_simd_kernels_level()
      XCTAssertEqual(dirrm_simd_kernels_use(DIRRM_SIMD_SSE), 0)
      let wantNearest = dirrm_neg_distance_sigmoid(gaps, weights, d, &wantExps, &wantTails, gaps.count)
      XCTAssertEqual(dirrm_simd_kernels_use(inUse), 0)
      for j in 0..<20_000 {
        let e = exp(-Swift.abs(gaps[j] - d))
        XCTAssert(
          wantExps[j].bitPattern == e.bitPattern && wantTails[j].bitPattern == (e / (1 + e)).bitPattern)
      }
      XCTAssertEqual(wantNearest, 0, "a weighted gap at d")
      SIMDVariants.forEach { level in
        // Every distance once, then short calls for the partial vectors.
        for count in [gaps.count, 1, 2, 3, 5, 6, 7] {
          var exps = [Double](repeating: .nan, count: count)
          var tails = [Double](repeating: .nan, count: count)
          let nearest = dirrm_neg_distance_sigmoid(gaps, weights, d, &exps, &tails, count)
          let want =
            count == gaps.count
            ? wantNearest : (0..<count).filter { weights[$0] > 0 }.map { Swift.abs(gaps[$0] - d) }.min()
          XCTAssertEqual(nearest, want, "level \(level.rawValue), \(count) gaps")
          guard memcmp(exps, wantExps, 8 * count) != 0 || memcmp(tails, wantTails, 8 * count) != 0 else {
            continue
          }
          let j = (0..<count).first { exps[$0] != wantExps[$0] || tails[$0] != wantTails[$0] }!
          XCTFail(
            "level \(level.rawValue): |x| = \(Swift.abs(gaps[j] - d)) → \(exps[j]), libm \(wantExps[j])")
        }
      }
    }
  }

  /// The four-row kernel's e^nearest (positive arguments), over the distances up to 600
  /// (beyond, a row is the scalar code's), in every variant against the baseline's libm.
  func testScaleEqualsLibmForPositiveArgumentsInEveryVariant() {
    let xs = distances.filter { $0 <= 600 }
    let count = xs.count / 4 * 4
    func scales() -> [Double] {
      var scales = [Double](repeating: .nan, count: count)
      var tails = [Double](repeating: 0, count: 4)
      var out = [Double](repeating: 0, count: 28)
      let weights = [Double](repeating: 1, count: 4)
      let points = [Double](repeating: 0, count: 4)
      for i in stride(from: 0, to: count, by: 4) {
        // k = 1: row r's only gap at xs[i + r], d = 0, so nearest = xs[i + r].
        xs.withUnsafeBufferPointer { dirrm_pf_excess4($0.baseAddress! + i, weights, points, 1, &tails, &out) }
        for r in 0..<4 { scales[i + r] = out[4 + r] }
      }
      return scales
    }
    let inUse = dirrm_simd_kernels_level()
    XCTAssertEqual(dirrm_simd_kernels_use(DIRRM_SIMD_SSE), 0)
    let want = scales()
    XCTAssertEqual(dirrm_simd_kernels_use(inUse), 0)
    for i in 0..<20_000 { XCTAssertEqual(want[i].bitPattern, exp(xs[i]).bitPattern) }
    SIMDVariants.forEach { level in
      let got = scales()
      guard memcmp(got, want, 8 * count) != 0 else { return }
      let i = (0..<count).first { got[$0] != want[$0] }!
      XCTFail("level \(level.rawValue): e^\(xs[i]) → \(got[i]), libm \(want[i])")
    }
  }

  /// This process's libm is glibc's FMA build wherever the AVX2 variant runs (CI's machines),
  /// so the vector exp is in use there; the other case is test_prompt_free.py's, which masks
  /// FMA from glibc in a child process.
  func testTheVectorExpIsInUseWhereItAgreesWithLibm() {
    XCTAssertEqual(
      dirrm_pf_exp_kernel(), dirrm_simd_kernels_level().rawValue >= DIRRM_SIMD_AVX2.rawValue ? 1 : 0)
  }

  func testTheNearestGapSkipsUnweightedOnes() {
    // At every position of a 9-gap row, the closest gap unweighted: the next closest counts.
    SIMDVariants.forEach { level in
      for position in 0..<9 {
        var gaps = (0..<9).map { 10 + Double($0) }
        gaps[position] = 0.25
        var weights = [Double](repeating: 1, count: 9)
        weights[position] = position % 2 == 0 ? 0 : -0.0
        var exps = [Double](repeating: 0, count: 9)
        var tails = exps
        let nearest = dirrm_neg_distance_sigmoid(gaps, weights, 0, &exps, &tails, 9)
        XCTAssertEqual(nearest, position == 0 ? 11 : 10, "level \(level.rawValue), position \(position)")
        weights = [Double](repeating: 0, count: 9)
        XCTAssertEqual(dirrm_neg_distance_sigmoid(gaps, weights, 0, &exps, &tails, 9), .infinity)
      }
    }
  }

  /// Four rows' evaluation in one call against the scalar `excess`, lane by lane, bit for bit:
  /// rows with ties, zero weights, points on a gap, wide and tiny gaps; rows more than 600
  /// from every gap are flagged (nearest > 600) for the caller.
  func testFourRowEvaluationEqualsTheScalarOneInEveryVariant() {
    var state: UInt64 = 5
    func uniform() -> Double {
      state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      return Double(state >> 11) / 0x1p53
    }
    SIMDVariants.forEach { level in
      for k in [1, 2, 3, 5, 16, 17] {
        var work = ExcessWork(k: k)
        var tails = [Double](repeating: 0, count: 4 * k)
        var out = [Double](repeating: 0, count: 28)
        for trial in 0..<400 {
          let spread = [1e-6, 1, 3, 300, 2000][trial % 5]
          let rows = (0..<4).map { _ in
            (0..<k).map { _ in (uniform() * 8).rounded() / 8 * spread - spread / 2 }
          }
          let weights = (0..<4).map { _ in
            (0..<k).map { j in j == 0 || uniform() < 0.8 ? 0.25 + uniform() : 0 }
          }
          // A point on a gap, between gaps, and beyond them.
          let points = rows.map { r in [r[0], r[0] + 0.3 * spread, 1.7 * spread, -0.01][trial % 4] }
          var gaps = [Double](repeating: 0, count: 4 * k)
          var interleavedWeights = gaps
          for r in 0..<4 {
            for j in 0..<k { (gaps[4 * j + r], interleavedWeights[4 * j + r]) = (rows[r][j], weights[r][j]) }
          }
          dirrm_pf_excess4(gaps, interleavedWeights, points, k, &tails, &out)
          for r in 0..<4 {
            let want = PromptFreeGap.excess(rows[r], weights[r], at: points[r], work: &work)
            let nearest = zip(rows[r], weights[r]).filter { $0.1 > 0 }.map { Swift.abs($0.0 - points[r]) }
              .min()!
            XCTAssertEqual(out[r], nearest)
            guard nearest <= 600 else { continue }
            let got = PromptFreeGap.combined(
              CompensatedSum(high: out[8 + r], low: out[12 + r]),
              CompensatedSum(high: out[16 + r], low: out[20 + r]),
              out[24 + r], scale: out[4 + r], m: out[r])
            XCTAssert(
              got.f.bitPattern == want.f.bitPattern && got.slope.bitPattern == want.slope.bitPattern
                && got.logScale.bitPattern == want.logScale.bitPattern,
              "level \(level.rawValue), k \(k), trial \(trial), row \(r): \(got) vs \(want)")
          }
        }
      }
    }
  }

  /// The sort the kernel replaced: insertion, stable, descending.
  func insertionSorted(_ order: [Int64], by gaps: [Double]) -> [Int64] {
    var order = order
    for i in order.indices.dropFirst() {
      let item = order[i]
      var j = i
      while j > 0 && gaps[Int(item)] > gaps[Int(order[j - 1])] {
        order[j] = order[j - 1]
        j -= 1
      }
      order[j] = item
    }
    return order
  }

  func testRankSortIsTheStableDescendingOrderInEveryVariant() {
    var state: UInt64 = 1
    func next(_ bound: Int) -> Int {
      state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      return Int(state >> 33) % bound
    }
    SIMDVariants.forEach { level in
      for k in 1...33 {
        // Each row starts from the previous row's order, as in PromptFreeRoot.
        var order = (0..<Int64(k)).map { $0 }
        for row in 0..<300 {
          // Many ties (few distinct values), signed zeros among them, and distinct values.
          let distinct = row % 3 == 0 ? 1_000_000 : 1 + next(4)
          let gaps = (0..<k).map { _ -> Double in
            let v = Double(next(distinct)) - Double(distinct / 2)
            return v == 0 && next(2) == 0 ? -0.0 : v
          }
          let want = insertionSorted(order, by: gaps)
          var keys = [Double](repeating: .nan, count: k)
          var ranked = [Int64](repeating: -1, count: k)
          dirrm_rank_descending(gaps, &order, &keys, &ranked, k)
          XCTAssertEqual(order, want, "level \(level.rawValue), k \(k), row \(row): \(gaps)")
          order = want
        }
      }
    }
  }
}
