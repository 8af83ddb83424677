import CDirRM
import Foundation
import XCTest

/// The DIR entry points through the public header.
final class ClubABITests: XCTestCase {
  func makeClub(_ configure: (inout dirrm_club_params) -> Void = { _ in }) -> OpaquePointer? {
    var p = dirrm_club_params()
    dirrm_club_params_init(&p)
    p.hidden_dim = 4
    p.q_hidden = 8
    configure(&p)
    var club: OpaquePointer? = nil
    assertStatus(dirrm_club_create(&p, &club), DIRRM_OK)
    return club
  }

  func testDefaultsFollowTheOfficialDIRCode() {
    var p = dirrm_club_params()
    dirrm_club_params_init(&p)
    XCTAssertEqual(p.struct_size, UInt32(MemoryLayout<dirrm_club_params>.size))
    XCTAssertEqual(
      [p.bias_kind, p.bias_dim, p.pair_mode, p.q_hidden, p.fit_steps],
      [DIRRM_BIAS_CATEGORICAL, 2, DIRRM_PAIR_DIFFERENCE, 1024, 5])
    XCTAssertEqual([p.learning_rate, p.weight_decay, p.logvar_bound], [1e-4, 0.01, 5])
    var club: OpaquePointer? = nil
    assertStatus(dirrm_club_create(&p, &club), DIRRM_ERR_INVALID_ARGUMENT, mentioning: "hidden_dim = 0")
  }

  func testRoundTripOfEveryEntryPoint() {
    let club = makeClub()
    defer { _ = dirrm_club_free(club) }
    var random = TestRandom(state: 5)
    let n = 16
    let hc = random.floats(n * 4, -1, 1)
    let hr = random.floats(n * 4, -1, 1)
    let bias = (0..<n).map { Float($0 % 2) }

    var params = dirrm_club_params()
    assertStatus(dirrm_club_get_params(club, &params), DIRRM_OK)
    XCTAssertEqual([params.hidden_dim, params.q_hidden], [4, 8])

    var count: Int64 = 0
    assertStatus(dirrm_club_num_weights(club, &count), DIRRM_OK)
    let expected: Int64 = 8 * 4 + 8 + 2 * 8 + 2  // Linear(4, 8), then Linear(8, 2)
    XCTAssertEqual(count, expected)
    var weights = [Float](repeating: 0, count: Int(count))
    assertStatus(dirrm_club_get_weights(club, &weights, count), DIRRM_OK)
    XCTAssertTrue(weights.allSatisfy { abs($0) <= 0.5 + 1e-6 })  // U(±1/√fan_in), fan_in ≥ 4

    var nll: Float = 0
    assertStatus(dirrm_club_fit(club, Int64(n), hc, hr, bias, &nll), DIRRM_OK)
    XCTAssertGreaterThan(nll, 0)

    var logProb = [Float](repeating: 0, count: n)
    assertStatus(dirrm_club_log_prob(club, Int64(n), hc, hr, bias, &logProb), DIRRM_OK)
    XCTAssertTrue(logProb.allSatisfy { $0 < 0 })

    var statsCount: Int64 = 0
    assertStatus(dirrm_club_stats_len(club, &statsCount), DIRRM_OK)
    XCTAssertEqual(statsCount, 3)
    var stats = [Float](repeating: 0, count: 3)
    assertStatus(dirrm_club_bias_stats(club, Int64(n), bias, &stats), DIRRM_OK)
    XCTAssertEqual(stats, [16, 8, 8])

    var mi: Float = 0
    var gc = [Float](repeating: 0, count: n * 4)
    var gr = gc
    assertStatus(dirrm_club_bound(club, Int64(n), hc, hr, bias, stats, &mi, &gc, &gr), DIRRM_OK)
    XCTAssertEqual(gc.map { -$0 }, gr)  // difference mode: X = h_c − h_r

    var total: Float = 0
    var pref: Float = 0
    var mi2: Float = 0
    var policy = dirrm_dir_params()
    dirrm_dir_params_init(&policy)
    policy.lambda = 0.5
    assertStatus(
      dirrm_dir_loss(
        club, &policy, Int64(n), hc, hr, hc, hr, bias, 0, &total, &pref, &mi2, nil, nil, nil, nil),
      DIRRM_OK)
    XCTAssertEqual(mi2, mi)
    XCTAssertEqual(total, pref + 0.5 * max(mi, 0), accuracy: 1e-6)  // the bound is clipped at zero

    var size: Int64 = 0
    assertStatus(dirrm_club_save(club, nil, 0, &size), DIRRM_OK)
    var bytes = [UInt8](repeating: 0, count: Int(size))
    assertStatus(dirrm_club_save(club, &bytes, size, &size), DIRRM_OK)
    var copy: OpaquePointer? = nil
    assertStatus(dirrm_club_load(bytes, size, &copy), DIRRM_OK)
    var copyMi: Float = 0
    assertStatus(dirrm_club_bound(copy, Int64(n), hc, hr, bias, nil, &copyMi, nil, nil), DIRRM_OK)
    XCTAssertEqual(copyMi, mi)

    weights[0] += 0.25
    assertStatus(dirrm_club_set_weights(copy, weights, count), DIRRM_OK)
    assertStatus(dirrm_club_set_weights(copy, weights, count - 1), DIRRM_ERR_SHAPE, mentioning: "len")
    assertStatus(dirrm_club_free(copy), DIRRM_OK)
    assertStatus(dirrm_club_free(copy), DIRRM_ERR_MISUSE, mentioning: "not a live")
  }

  func testBadInputsReturnStatuses() {
    let club = makeClub { $0.bias_kind = DIRRM_BIAS_GAUSSIAN }
    defer { _ = dirrm_club_free(club) }
    let h = [Float](repeating: 0, count: 8)
    var mi: Float = 0
    assertStatus(
      dirrm_club_bound(club, 2, h, h, nil, nil, &mi, nil, nil), DIRRM_ERR_NULL_POINTER, mentioning: "bias")
    assertStatus(
      dirrm_club_bound(club, 2, h, h, [0, 0, 0, .nan], nil, &mi, nil, nil), DIRRM_ERR_NONFINITE,
      mentioning: "bias[3]")
    assertStatus(
      dirrm_club_bound(club, 2, h, h, [0, 0, 0, 0], [2, 0, 0, -1, 0], &mi, nil, nil),
      DIRRM_ERR_INVALID_ARGUMENT, mentioning: "negative sum of squares")
    assertStatus(
      dirrm_club_bound(club, -1, h, h, [0, 0, 0, 0], nil, &mi, nil, nil), DIRRM_ERR_SHAPE,
      mentioning: "n = -1")
    assertStatus(dirrm_club_load([1, 2, 3], 3, nil), DIRRM_ERR_NULL_POINTER, mentioning: "out")
    var out: OpaquePointer? = nil
    assertStatus(dirrm_club_load([1, 2, 3], 3, &out), DIRRM_ERR_CORRUPT)
    assertStatus(dirrm_club_load(nil, 3, &out), DIRRM_ERR_NULL_POINTER, mentioning: "buf")
  }
}
