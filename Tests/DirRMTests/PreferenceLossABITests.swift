import CDirRM
import Foundation
import XCTest

/// dirrm_bt_loss through the header, against docs/mathematics.md §1 written here in double.
final class PreferenceLossABITests: XCTestCase {
  func referenceLoss(
    _ rc: [Double], _ rr: [Double], _ margin: [Double]?, _ weight: [Double]?, _ center: Double
  ) -> Double {
    var weighted = 0.0
    var weights = 0.0
    var squares = 0.0
    for i in rc.indices {
      let z = -(rc[i] - rr[i] - (margin?[i] ?? 0))
      let softplus = max(z, 0) + log1p(exp(-abs(z)))
      let w = weight?[i] ?? 1
      weighted += w * softplus
      weights += w
      squares += (rc[i] + rr[i]) * (rc[i] + rr[i])
    }
    return weighted / weights + center * squares / Double(rc.count)
  }

  func call(
    _ rc: [Float], _ rr: [Float], _ margin: [Float]?, _ weight: [Float]?, _ center: Float
  ) -> (status: Int32, loss: Float, gc: [Float], gr: [Float]) {
    var loss: Float = 0
    var gc = [Float](repeating: 0, count: rc.count)
    var gr = gc
    let status = dirrm_bt_loss(Int64(rc.count), rc, rr, margin, weight, center, &loss, &gc, &gr)
    return (status, loss, gc, gr)
  }

  /// Rewards of n pairs in ±spread, with margins (options bit 0), weights (bit 1) and
  /// centering (bit 2).
  func randomCase(_ random: inout TestRandom, _ n: Int, options: Int, spread: Double)
    -> (rc: [Float], rr: [Float], margin: [Float]?, weight: [Float]?, center: Float)
  {
    let rc = random.floats(n, -spread, spread)
    let rr = random.floats(n, -spread, spread)
    let margin = options & 1 != 0 ? random.floats(n, -1, 1) : nil
    let weight = options & 2 != 0 ? random.floats(n, 0, 2) : nil
    return (rc, rr, margin, weight, options & 4 != 0 ? 0.03 : 0)
  }

  func testAgreesWithReferenceAndFiniteDifferences() {
    var random = TestRandom(state: 11)
    for n in [1, 7, 1000] {
      for options in 0..<8 {
        let (rc, rr, margin, weight, center) = randomCase(&random, n, options: options, spread: 4)
        let got = call(rc, rr, margin, weight, center)
        assertStatus(got.status, DIRRM_OK)
        let d = { (x: [Float]?) in x?.map(Double.init) }
        let want = referenceLoss(d(rc)!, d(rr)!, d(margin), d(weight), Double(center))
        XCTAssertEqual(Double(got.loss), want, accuracy: 1e-6 * abs(want))
        guard n <= 7 else { continue }
        let h = 1e-6
        for i in 0..<n {
          for (which, grad) in [(0, got.gc), (1, got.gr)] {
            var plus = [d(rc)!, d(rr)!]
            var minus = plus
            plus[which][i] += h
            minus[which][i] -= h
            let fd =
              (referenceLoss(plus[0], plus[1], d(margin), d(weight), Double(center))
                - referenceLoss(minus[0], minus[1], d(margin), d(weight), Double(center))) / (2 * h)
            XCTAssertEqual(Double(grad[i]), fd, accuracy: 1e-6 + 1e-5 * abs(fd))
          }
        }
      }
    }
  }

  func testHugeGaps() {
    let got = call([1e30, -1e30], [-1e30, 1e30], nil, nil, 0)
    assertStatus(got.status, DIRRM_OK)
    XCTAssertEqual(got.loss, 1e30, accuracy: 1e24)
    XCTAssertEqual(got.gc, [0, -0.5])
    XCTAssertEqual(got.gr, [0, 0.5])
  }

  func testGradientsAreOptional() {
    var loss: Float = 0
    assertStatus(dirrm_bt_loss(2, [1, 2], [0, 0], nil, nil, 0, &loss, nil, nil), DIRRM_OK)
    var gr: [Float] = [0, 0]
    assertStatus(dirrm_bt_loss(2, [1, 2], [0, 0], nil, nil, 0, &loss, nil, &gr), DIRRM_OK)
    XCTAssertTrue(gr.allSatisfy { $0 > 0 })
  }

  func testBadArguments() {
    var loss: Float = 0
    let ok: [Float] = [1, 2, 3]
    assertStatus(
      dirrm_bt_loss(3, nil, ok, nil, nil, 0, &loss, nil, nil), DIRRM_ERR_NULL_POINTER, mentioning: "r_chosen")
    assertStatus(
      dirrm_bt_loss(3, ok, nil, nil, nil, 0, &loss, nil, nil), DIRRM_ERR_NULL_POINTER,
      mentioning: "r_rejected")
    assertStatus(
      dirrm_bt_loss(3, ok, ok, nil, nil, 0, nil, nil, nil), DIRRM_ERR_NULL_POINTER, mentioning: "out_loss")
    assertStatus(dirrm_bt_loss(0, ok, ok, nil, nil, 0, &loss, nil, nil), DIRRM_ERR_SHAPE, mentioning: "n = 0")
    assertStatus(
      dirrm_bt_loss(.max, ok, ok, nil, nil, 0, &loss, nil, nil), DIRRM_ERR_SHAPE, mentioning: "n =")
    assertStatus(
      dirrm_bt_loss(3, ok, [0, .infinity, 0], nil, nil, 0, &loss, nil, nil), DIRRM_ERR_NONFINITE,
      mentioning: "r_rejected[1] is inf")
    assertStatus(
      dirrm_bt_loss(3, ok, ok, [0, 0, .nan], nil, 0, &loss, nil, nil), DIRRM_ERR_NONFINITE,
      mentioning: "margin[2] is nan")
    assertStatus(
      dirrm_bt_loss(3, ok, ok, nil, [1, 0, -1], 0, &loss, nil, nil), DIRRM_ERR_INVALID_ARGUMENT,
      mentioning: "weight[2] = -1.0 is negative")
    assertStatus(
      dirrm_bt_loss(3, ok, ok, nil, [0, 0, 0], 0, &loss, nil, nil), DIRRM_ERR_INVALID_ARGUMENT,
      mentioning: "weight is zero everywhere")
    assertStatus(
      dirrm_bt_loss(3, ok, ok, nil, nil, -0.5, &loss, nil, nil), DIRRM_ERR_INVALID_ARGUMENT,
      mentioning: "center_coef")
  }

  /// The rewards are read in place and the gradients written in place when no buffer
  /// overlaps another; otherwise the call copies. Both paths give the same bits, and an
  /// output that is an input (or the other output) still gets the results.
  func testInPlaceAndOverlappingBuffersGiveTheSameBits() {
    var random = TestRandom(state: 23)
    for n in [1, 33, 5000] {
      for options in 0..<8 {
        let (rc, rr, margin, weight, center) = randomCase(&random, n, options: options, spread: 6)
        let want = call(rc, rr, margin, weight, center)
        assertStatus(want.status, DIRRM_OK)
        // grad_chosen in r_chosen's buffer, grad_rejected in r_rejected's.
        var (c, r) = (rc, rr)
        var loss: Float = 0
        c.withUnsafeMutableBufferPointer { cb in
          r.withUnsafeMutableBufferPointer { rb in
            assertStatus(
              dirrm_bt_loss(
                Int64(n), cb.baseAddress, rb.baseAddress, margin, weight, center, &loss, cb.baseAddress,
                rb.baseAddress), DIRRM_OK)
          }
        }
        XCTAssertEqual(loss.bitPattern, want.loss.bitPattern)
        XCTAssertEqual(c.map(\.bitPattern), want.gc.map(\.bitPattern), "n \(n), options \(options)")
        XCTAssertEqual(r.map(\.bitPattern), want.gr.map(\.bitPattern), "n \(n), options \(options)")
        // Both gradients into one buffer: the rejected one is written last.
        var both = [Float](repeating: .nan, count: n)
        both.withUnsafeMutableBufferPointer { b in
          assertStatus(
            dirrm_bt_loss(Int64(n), rc, rr, margin, weight, center, &loss, b.baseAddress, b.baseAddress),
            DIRRM_OK)
        }
        XCTAssertEqual(both.map(\.bitPattern), want.gr.map(\.bitPattern))
        // Loss alone, and one gradient alone.
        var alone: Float = 0
        assertStatus(dirrm_bt_loss(Int64(n), rc, rr, margin, weight, center, &alone, nil, nil), DIRRM_OK)
        XCTAssertEqual(alone.bitPattern, want.loss.bitPattern)
        var gc = [Float](repeating: .nan, count: n)
        assertStatus(dirrm_bt_loss(Int64(n), rc, rr, margin, weight, center, &alone, &gc, nil), DIRRM_OK)
        XCTAssertEqual(gc.map(\.bitPattern), want.gc.map(\.bitPattern))
      }
    }
  }

  /// A failing call writes no output: a non-finite reward anywhere (named, even where its
  /// weight is 0 or where softplus would hide it), or a loss that overflows float32.
  func testFailuresWriteNothing() {
    let n = 70
    var random = TestRandom(state: 29)
    let rc = random.floats(n, -4, 4)
    let rr = random.floats(n, -4, 4)
    for gradients in [false, true] {
      for (which, at, bad) in [(0, 0, Float.infinity), (0, 69, -.infinity), (1, 40, .nan), (1, 3, .infinity)]
      {
        var inputs = [rc, rr]
        inputs[which][at] = bad
        var weight = [Float](repeating: 1, count: n)
        weight[at] = 0
        var loss: Float = 7
        var gc = [Float](repeating: 7, count: n)
        var gr = gc
        let status =
          gradients
          ? dirrm_bt_loss(Int64(n), inputs[0], inputs[1], nil, weight, 0, &loss, &gc, &gr)
          : dirrm_bt_loss(Int64(n), inputs[0], inputs[1], nil, weight, 0, &loss, nil, nil)
        let name = which == 0 ? "r_chosen" : "r_rejected"
        let spelled = bad.isNaN ? "nan" : "\(bad)"
        assertStatus(status, DIRRM_ERR_NONFINITE, mentioning: "\(name)[\(at)] is \(spelled)")
        XCTAssertEqual(loss, 7)
        XCTAssert(gc.allSatisfy { $0 == 7 } && gr.allSatisfy { $0 == 7 })
      }
    }
    // Finite rewards whose gap overflows float32: the loss does not fit.
    var loss: Float = 7
    var gc = [Float](repeating: 7, count: 2)
    var gr = gc
    assertStatus(
      dirrm_bt_loss(2, [0, -3e38], [0, 3e38], nil, nil, 0, &loss, &gc, &gr), DIRRM_ERR_NONFINITE,
      mentioning: "the loss")
    XCTAssertEqual(loss, 7)
    XCTAssertEqual(gc + gr, [7, 7, 7, 7])
  }

  /// Buffers at addresses that are not float-aligned (a byte offset, as a numpy view of a
  /// byte buffer can be) are read and written, with the same bits, through the copying path.
  func testUnalignedBuffersGiveTheSameBits() {
    let n = 1000
    var random = TestRandom(state: 31)
    let rc = random.floats(n, -4, 4)
    let rr = random.floats(n, -4, 4)
    let want = call(rc, rr, nil, nil, 0.01)
    let bytes = n * MemoryLayout<Float>.size
    let raw = UnsafeMutableRawPointer.allocate(byteCount: 4 * bytes + 16, alignment: 16)
    defer { raw.deallocate() }
    let (c, r, gc, gr) = (raw + 1, raw + bytes + 5, raw + 2 * bytes + 10, raw + 3 * bytes + 15)
    rc.withUnsafeBytes { c.copyMemory(from: $0.baseAddress!, byteCount: bytes) }
    rr.withUnsafeBytes { r.copyMemory(from: $0.baseAddress!, byteCount: bytes) }
    // Typed pointers to unaligned floats are what a C caller would pass; dirrm only copies
    // through them on this path.
    let floats = { (p: UnsafeMutableRawPointer) in p.assumingMemoryBound(to: Float.self) }
    var loss: Float = 0
    assertStatus(
      dirrm_bt_loss(Int64(n), floats(c), floats(r), nil, nil, 0.01, &loss, floats(gc), floats(gr)), DIRRM_OK)
    XCTAssertEqual(loss.bitPattern, want.loss.bitPattern)
    func read(_ p: UnsafeMutableRawPointer) -> [UInt32] {
      (0..<n).map { p.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self) }
    }
    XCTAssertEqual(read(gc), want.gc.map(\.bitPattern))
    XCTAssertEqual(read(gr), want.gr.map(\.bitPattern))
    assertStatus(dirrm_bt_loss(Int64(n), floats(c), floats(r), nil, nil, 0.01, &loss, nil, nil), DIRRM_OK)
    XCTAssertEqual(loss.bitPattern, want.loss.bitPattern)
  }

  /// The pool splits 10^5 pairs into parts of 2^16; a bad reward in the second part is named
  /// by its index in the whole array, and nothing is written.
  func testNonFiniteRewardInALaterPartIsNamed() {
    let n = 100_000
    var rr = [Float](repeating: 1, count: n)
    rr[70_001] = -.infinity
    var loss: Float = 7
    var gc = [Float](repeating: 7, count: n)
    var gr = gc
    assertStatus(
      dirrm_bt_loss(Int64(n), [Float](repeating: 0, count: n), rr, nil, nil, 0, &loss, &gc, &gr),
      DIRRM_ERR_NONFINITE, mentioning: "r_rejected[70001] is -inf")
    XCTAssertEqual(loss, 7)
    XCTAssert(gc.allSatisfy { $0 == 7 } && gr.allSatisfy { $0 == 7 })
  }
}
