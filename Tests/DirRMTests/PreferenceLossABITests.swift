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

  func testAgreesWithReferenceAndFiniteDifferences() {
    var random = TestRandom(state: 11)
    for n in [1, 7, 1000] {
      for options in 0..<8 {
        let rc = random.floats(n, -4, 4)
        let rr = random.floats(n, -4, 4)
        let margin = options & 1 != 0 ? random.floats(n, -1, 1) : nil
        let weight = options & 2 != 0 ? random.floats(n, 0, 2) : nil
        let center: Float = options & 4 != 0 ? 0.03 : 0
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
}
