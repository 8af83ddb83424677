import CDirRM
import Foundation
import XCTest

/// The prompt-free entry points through the public header.
final class PromptFreeABITests: XCTestCase {
  func defaults() -> dirrm_pf_params {
    var p = dirrm_pf_params()
    dirrm_pf_params_init(&p)
    return p
  }

  func phi(_ g: [Float], _ w: [Double], _ d: Float) -> Double {
    zip(g, w).reduce(0) { $0 + $1.1 / (1 + exp(-(Double($1.0) - Double(d)))) }
  }

  func testDefaultsMatchTheHeader() {
    let p = defaults()
    XCTAssertEqual(p.struct_size, UInt32(MemoryLayout<dirrm_pf_params>.size))
    XCTAssertEqual(p.weighting, DIRRM_PF_CORRESPONDING)
    XCTAssertEqual(p.p, 0.5)
    XCTAssertEqual(p.solver, DIRRM_PF_NEWTON)
    XCTAssertEqual(p.tolerance, 1e-6)
    XCTAssertEqual(p.max_iter, 100)
  }

  func testGapSolvesTheDefiningEquation() {
    var random = TestRandom(state: 3)
    let n = 200
    let k = 6
    let gaps = random.floats(n * k, -5, 5)
    let corr = (0..<n).map { _ in Int64(random.next() % UInt64(k)) }
    for solver in [DIRRM_PF_NEWTON, DIRRM_PF_BISECTION] {
      var p = defaults()
      p.solver = solver
      var dr2 = [Float](repeating: 0, count: n)
      var dr1 = dr2
      var iters = [Int32](repeating: 0, count: n)
      assertStatus(dirrm_pf_gap(&p, Int64(n), Int64(k), gaps, corr, nil, &dr2, &dr1, &iters), DIRRM_OK)
      for i in 0..<n {
        var w = [Double](repeating: (1 - 0.5) / Double(k - 1), count: k)
        w[Int(corr[i])] = 0.5
        let row = Array(gaps[(i * k)..<((i + 1) * k)])
        XCTAssertEqual(phi(row, w, dr2[i]), 0.5, accuracy: 2e-6)
        XCTAssertEqual(dr1[i], row[Int(corr[i])] - dr2[i], accuracy: 1e-5)
        XCTAssertGreaterThan(iters[i], 0)
      }
    }
  }

  func testGapArgumentChecks() {
    var p = defaults()
    var out: Float = 0
    let g: [Float] = [1, 2]
    assertStatus(
      dirrm_pf_gap(nil, 1, 2, g, [0], nil, &out, nil, nil), DIRRM_ERR_NULL_POINTER, mentioning: "p is NULL")
    assertStatus(
      dirrm_pf_gap(&p, 1, 2, g, nil, nil, &out, nil, nil), DIRRM_ERR_NULL_POINTER, mentioning: "corr_col")
    assertStatus(dirrm_pf_gap(&p, 1, 0, g, [0], nil, &out, nil, nil), DIRRM_ERR_SHAPE, mentioning: "k = 0")
    assertStatus(
      dirrm_pf_gap(&p, 1, 2, g, [5], nil, &out, nil, nil), DIRRM_ERR_INVALID_ARGUMENT,
      mentioning: "corr_col[0] = 5")
    p.struct_size = 3
    assertStatus(
      dirrm_pf_gap(&p, 1, 2, g, [0], nil, &out, nil, nil), DIRRM_ERR_VERSION, mentioning: "struct_size = 3")
    p = defaults()
    p.solver = 2
    assertStatus(
      dirrm_pf_gap(&p, 1, 2, g, [0], nil, &out, nil, nil), DIRRM_ERR_INVALID_ARGUMENT,
      mentioning: "p->solver = 2")
  }

  func testSamplePromptsAndClusterThreshold() {
    var out = [Int64](repeating: -1, count: 3 * 4)
    assertStatus(dirrm_pf_sample_prompts(3, 4, 9, [8, 0, 4], 7, &out), DIRRM_OK)
    for i in 0..<3 {
      let row = Array(out[(i * 4)..<((i + 1) * 4)])
      XCTAssertEqual(row[0], [8, 0, 4][i])
      XCTAssertEqual(Set(row).count, 4)
      XCTAssertTrue(row.allSatisfy { (0..<9).contains($0) })
    }
    assertStatus(
      dirrm_pf_sample_prompts(1, 4, 3, [0], 7, &out), DIRRM_ERR_INVALID_ARGUMENT, mentioning: "num_prompts")
    var threshold: Float = 0
    assertStatus(dirrm_cluster_threshold(4, [0, 1, 10, 11], DIRRM_CLUSTER_OTSU, &threshold), DIRRM_OK)
    XCTAssertEqual(threshold, 5.5)
    assertStatus(
      dirrm_cluster_threshold(4, [0, 1, 10, 11], 7, &threshold), DIRRM_ERR_INVALID_ARGUMENT,
      mentioning: "method = 7")
    assertStatus(
      dirrm_cluster_threshold(2, [0, .nan], DIRRM_CLUSTER_KMEANS, &threshold), DIRRM_ERR_NONFINITE,
      mentioning: "values[1]")
  }

  func testPrioritizerLifecycleAndSaveLoad() throws {
    var p = dirrm_prioritizer_params()
    dirrm_prioritizer_params_init(&p)
    XCTAssertEqual(p.ema_weight, 0.9)
    XCTAssertEqual(p.max_reinsertions, 1)
    p.seed = 42
    var q: OpaquePointer? = nil
    assertStatus(dirrm_prioritizer_create(&p, 50, &q), DIRRM_OK)
    var count: Int64 = 0
    assertStatus(dirrm_prioritizer_num_samples(q, &count), DIRRM_OK)
    XCTAssertEqual(count, 50)
    var indices = [Int64](repeating: 0, count: 8)
    assertStatus(dirrm_prioritizer_propose(q, 8, &indices, &count), DIRRM_OK)
    XCTAssertEqual(count, 8)
    let dr2 = indices.map { Float($0) - 25 }
    var accept = [UInt8](repeating: 9, count: 8)
    assertStatus(dirrm_prioritizer_decide(q, 8, indices, dr2, &accept), DIRRM_OK)
    XCTAssertEqual(accept, dr2.map { $0 < 0 ? 1 : 0 })
    assertStatus(
      dirrm_prioritizer_decide(q, 1, indices, dr2, &accept), DIRRM_ERR_MISUSE, mentioning: "not a pending")
    var threshold: Float = 0
    assertStatus(dirrm_prioritizer_end_step(q, &threshold), DIRRM_OK)

    var size: Int64 = 0
    assertStatus(dirrm_prioritizer_save(q, nil, 0, &size), DIRRM_OK)
    var bytes = [UInt8](repeating: 0, count: Int(size))
    assertStatus(dirrm_prioritizer_save(q, &bytes, size, &size), DIRRM_OK)
    var copy: OpaquePointer? = nil
    assertStatus(dirrm_prioritizer_load(bytes, size, &copy), DIRRM_OK)
    var a = dirrm_prioritizer_stats()
    var b = dirrm_prioritizer_stats()
    a.struct_size = UInt32(MemoryLayout<dirrm_prioritizer_stats>.size)
    b.struct_size = a.struct_size
    assertStatus(dirrm_prioritizer_get_stats(q, &a), DIRRM_OK)
    assertStatus(dirrm_prioritizer_get_stats(copy, &b), DIRRM_OK)
    XCTAssertEqual(a.threshold, threshold)
    XCTAssertEqual(
      [a.epoch, a.step, a.proposed, a.accepted, a.pool_remaining], [1, 1, 8, 8 - a.rejected, 42 + a.rejected])
    XCTAssertEqual(
      [a.epoch, a.step, a.proposed, a.accepted, a.rejected],
      [b.epoch, b.step, b.proposed, b.accepted, b.rejected])
    var next1 = [Int64](repeating: 0, count: 5)
    var next2 = next1
    assertStatus(dirrm_prioritizer_propose(q, 5, &next1, &count), DIRRM_OK)
    assertStatus(dirrm_prioritizer_propose(copy, 5, &next2, &count), DIRRM_OK)
    XCTAssertEqual(next1, next2)

    bytes[bytes.count / 2] ^= 0x10
    var broken: OpaquePointer? = nil
    assertStatus(dirrm_prioritizer_load(bytes, size, &broken), DIRRM_ERR_CORRUPT, mentioning: "checksum")
    assertStatus(dirrm_prioritizer_load(bytes, 5, &broken), DIRRM_ERR_CORRUPT, mentioning: "too short")
    a.struct_size = 8
    assertStatus(dirrm_prioritizer_get_stats(q, &a), DIRRM_ERR_VERSION, mentioning: "out->struct_size")

    assertStatus(dirrm_prioritizer_free(q), DIRRM_OK)
    assertStatus(dirrm_prioritizer_free(q), DIRRM_ERR_MISUSE, mentioning: "not a live prioritizer")
    assertStatus(dirrm_prioritizer_propose(q, 5, &next1, &count), DIRRM_ERR_MISUSE)
    assertStatus(dirrm_prioritizer_free(copy), DIRRM_OK)
    assertStatus(dirrm_prioritizer_free(nil), DIRRM_OK)
  }
}
