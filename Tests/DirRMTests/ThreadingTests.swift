import CDirRM
import Foundation
import XCTest

/// The header's threading promise: stateless functions are reentrant and distinct handles
/// are independent. 8 threads each own a handle (clubs, prioritizers, models) while 16
/// threads call the stateless functions; every result must equal, bit for bit, the same
/// work done on one thread.
///
/// OpenBLAS is set to one thread for the test: with several, a GEMM's partition (and so
/// the last bits of its sums) may depend on how many BLAS threads are free at the moment,
/// which would make the comparison test OpenBLAS's scheduling instead of the library.
final class ThreadingTests: XCTestCase {
  static let handleTasks = 8
  static let statelessTasks = 16

  private var savedThreads: Int32 = 1

  override func setUp() {
    savedThreads = Self.blasThreads()
    assertStatus(dirrm_set_num_threads(1), DIRRM_OK)
  }

  override func tearDown() {
    _ = dirrm_set_num_threads(max(savedThreads, 1))
  }

  /// The BLAS thread count from dirrm_build_info's JSON.
  static func blasThreads() -> Int32 {
    let info = String(cString: dirrm_build_info())
    guard let range = info.range(of: "\"threads\":") else { return 1 }
    return Int32(info[range.upperBound...].prefix(while: \.isNumber)) ?? 1
  }

  func testConcurrentCallsMatchTheSequentialResults() {
    let tasks: [@Sendable () -> [UInt64]] =
      (0..<Self.handleTasks).map { i in { @Sendable in Workloads.handle(i) } }
      + (0..<Self.statelessTasks).map { j in { @Sendable in Workloads.stateless(j) } }
    let reference = tasks.map { $0() }
    for (i, result) in reference.enumerated() {
      XCTAssertFalse(result.isEmpty, "task \(i) produced nothing")
    }

    // Several rounds, so that the threads interleave differently each time.
    for round in 0..<3 {
      let results = ResultSlots(count: tasks.count)
      let start = DispatchSemaphore(value: 0)
      let done = DispatchGroup()
      for (i, task) in tasks.enumerated() {
        done.enter()
        let thread = Thread {
          start.wait()
          results.store(i, task())
          done.leave()
        }
        thread.stackSize = 8 << 20
        thread.start()
      }
      for _ in tasks { start.signal() }
      XCTAssertEqual(done.wait(timeout: .now() + 600), .success, "round \(round) did not finish")
      for i in tasks.indices {
        XCTAssertEqual(
          results.value(i), reference[i],
          "round \(round), task \(i) (\(i < Self.handleTasks ? "handle" : "stateless")) differs from its sequential result")
      }
    }
  }
}

/// One result per thread, each written by its thread only, read after all have finished.
private final class ResultSlots: @unchecked Sendable {
  private var slots: [[UInt64]]
  private let lock = NSLock()
  init(count: Int) { slots = Array(repeating: [], count: count) }
  func store(_ i: Int, _ value: [UInt64]) { lock.withLock { slots[i] = value } }
  func value(_ i: Int) -> [UInt64] { lock.withLock { slots[i] } }
}

/// The work each thread repeats, reduced to bit patterns so that equality is bitwise
/// (NaN == NaN, -0 != +0). Every status is recorded too.
private enum Workloads {
  static func bits(_ values: [Float]) -> [UInt64] { values.map { UInt64($0.bitPattern) } }
  static func status(_ s: Int32) -> UInt64 { 0xDEAD_0000_0000 | UInt64(UInt32(bitPattern: s)) }

  static func handle(_ i: Int) -> [UInt64] {
    switch i % 3 {
    case 0: club(i)
    case 1: prioritizer(i)
    default: model(i)
    }
  }

  /// A club fitting q and computing bounds, gradients and log-probabilities.
  static func club(_ i: Int) -> [UInt64] {
    var p = dirrm_club_params()
    dirrm_club_params_init(&p)
    p.hidden_dim = Int32(4 + i % 3)
    p.q_hidden = 8
    p.seed = UInt64(i)
    let gaussian = i % 2 == 1
    if gaussian {
      p.bias_kind = DIRRM_BIAS_GAUSSIAN
      p.bias_dim = 2
    }
    var out: [UInt64] = []
    var club: OpaquePointer? = nil
    out.append(status(dirrm_club_create(&p, &club)))
    defer { _ = dirrm_club_free(club) }
    var random = TestRandom(state: UInt64(100 + i))
    let n = 24
    let d = Int(p.hidden_dim)
    for _ in 0..<15 {
      let hc = random.floats(n * d, -1, 1)
      let hr = random.floats(n * d, -1, 1)
      let bias = gaussian ? random.floats(n * 2, -1, 1) : (0..<n).map { _ in Float(random.next() % 2) }
      var nll: Float = 0
      out.append(status(dirrm_club_fit(club, Int64(n), hc, hr, bias, &nll)))
      var mi: Float = 0
      var gc = [Float](repeating: 0, count: n * d)
      var gr = gc
      out.append(status(dirrm_club_bound(club, Int64(n), hc, hr, bias, nil, &mi, &gc, &gr)))
      var logProb = [Float](repeating: 0, count: n)
      out.append(status(dirrm_club_log_prob(club, Int64(n), hc, hr, bias, &logProb)))
      out += bits([nll, mi] + gc + gr + logProb)
    }
    return out + saved { dirrm_club_save(club, $0, $1, $2) }
  }

  /// A prioritizer proposing, deciding and ending steps over two epochs.
  static func prioritizer(_ i: Int) -> [UInt64] {
    var p = dirrm_prioritizer_params()
    dirrm_prioritizer_params_init(&p)
    p.seed = UInt64(i)
    p.reinsertion = i % 2 == 0 ? DIRRM_REINSERT_IMMEDIATE : DIRRM_REINSERT_LAZY
    var out: [UInt64] = []
    var queue: OpaquePointer? = nil
    out.append(status(dirrm_prioritizer_create(&p, Int64(40 + i), &queue)))
    defer { _ = dirrm_prioritizer_free(queue) }
    var indices = [Int64](repeating: 0, count: 7)
    var accept = [UInt8](repeating: 0, count: 7)
    for step in 0..<30 {
      var count: Int64 = 0
      out.append(status(dirrm_prioritizer_propose(queue, 7, &indices, &count)))
      let taken = Array(indices.prefix(Int(count)))
      if count > 0 {
        let dr2 = taken.map { Float(($0 * 7 + Int64(step)) % 11) / 5 - 1 }
        out.append(status(dirrm_prioritizer_decide(queue, count, taken, dr2, &accept)))
        out += taken.map { UInt64(bitPattern: $0) } + accept.prefix(Int(count)).map { UInt64($0) }
      }
      var threshold: Float = 0
      out.append(status(dirrm_prioritizer_end_step(queue, &threshold)))
      out += bits([threshold])
    }
    return out + saved { dirrm_prioritizer_save(queue, $0, $1, $2) }
  }

  /// A model trained on a small synthetic set (all four methods across the tasks), then
  /// scoring and evaluating.
  static func model(_ i: Int) -> [UInt64] {
    var out: [UInt64] = []
    var sp = dirrm_synth_params()
    dirrm_synth_params_init(&sp)
    sp.num_prompts = 12
    sp.prompt_dim = 4
    sp.response_dim = 6
    sp.seed = UInt64(i)
    var train: OpaquePointer? = nil
    var test: OpaquePointer? = nil
    out.append(status(dirrm_synth_generate(&sp, &train, &test)))
    defer {
      _ = dirrm_dataset_free(train)
      _ = dirrm_dataset_free(test)
    }
    var mp = dirrm_model_params()
    dirrm_model_params_init(&mp)
    (mp.prompt_dim, mp.response_dim, mp.width, mp.seed) = (4, 6, 8, UInt64(i))
    var model: OpaquePointer? = nil
    out.append(status(dirrm_model_create(&mp, &model)))
    defer { _ = dirrm_model_free(model) }
    var tp = dirrm_train_params()
    dirrm_train_params_init(&tp)
    tp.method = Int32(i / 3 % 4)
    tp.epochs = 1
    tp.batch_size = 16
    tp.pf_prompts = 3
    out.append(status(dirrm_train(model, train, &tp, nil, nil)))
    var random = TestRandom(state: UInt64(200 + i))
    let n = 10
    let prompts = random.floats(n * 4, -1, 1)
    let responses = random.floats(n * 6, -1, 1)
    var rewards = [Float](repeating: 0, count: n)
    var hidden = [Float](repeating: 0, count: n * 8)
    out.append(status(dirrm_model_score(model, Int64(n), prompts, responses, &rewards, &hidden)))
    var report = dirrm_eval_report()
    report.struct_size = UInt32(MemoryLayout<dirrm_eval_report>.size)
    out.append(status(dirrm_evaluate(model, test, 0, &report)))
    out += bits(rewards + hidden + [report.accuracy, report.mean_gap, report.gap_bias_pearson])
    return out + saved { dirrm_model_save(model, $0, $1, $2) }
  }

  /// The stateless functions on task-specific data, plus a failing call whose message must
  /// be this thread's own (the last error is thread-local).
  static func stateless(_ j: Int) -> [UInt64] {
    var out: [UInt64] = []
    var random = TestRandom(state: UInt64(300 + j))
    for _ in 0..<40 {
      let n = 32
      let chosen = random.floats(n, -3, 3)
      let rejected = random.floats(n, -3, 3)
      let weight = random.floats(n, 0.1, 2)
      var loss: Float = 0
      var g1 = [Float](repeating: 0, count: n)
      var g2 = g1
      out.append(status(dirrm_bt_loss(Int64(n), chosen, rejected, nil, weight, 0.01, &loss, &g1, &g2)))
      out += bits([loss] + g1 + g2)

      var pf = dirrm_pf_params()
      dirrm_pf_params_init(&pf)
      pf.solver = j % 2 == 0 ? DIRRM_PF_NEWTON : DIRRM_PF_BISECTION
      let k = 5
      let gaps = random.floats(n * k, -4, 4)
      let corr = (0..<n).map { Int64($0 % k) }
      var dr2 = [Float](repeating: 0, count: n)
      var dr1 = dr2
      var iterations = [Int32](repeating: 0, count: n)
      out.append(status(dirrm_pf_gap(&pf, Int64(n), Int64(k), gaps, corr, nil, &dr2, &dr1, &iterations)))
      out += bits(dr2 + dr1) + iterations.map { UInt64(UInt32(bitPattern: $0)) }

      var threshold: Float = 0
      out.append(status(dirrm_cluster_threshold(Int64(n), gaps, Int32(j % 2), &threshold)))
      out += bits([threshold])

      var prompts = [Int64](repeating: 0, count: n * 4)
      out.append(status(dirrm_pf_sample_prompts(Int64(n), 4, 50, corr, UInt64(j), &prompts)))
      out += prompts.map { UInt64(bitPattern: $0) }

      let bad = -Int64(j + 1)
      out.append(status(dirrm_bt_loss(bad, chosen, rejected, nil, nil, 0, &loss, nil, nil)))
      let message = String(cString: dirrm_last_error())
      out.append(message.contains("n = \(bad) ") ? 1 : 0)
    }
    return out
  }

  /// A handle's saved state, so that a corrupted internal state shows up too.
  static func saved(_ save: (UnsafeMutablePointer<UInt8>?, Int64, UnsafeMutablePointer<Int64>?) -> Int32)
    -> [UInt64]
  {
    var size: Int64 = 0
    guard save(nil, 0, &size) == DIRRM_OK else { return [status(-1)] }
    var bytes = [UInt8](repeating: 0, count: Int(size))
    guard save(&bytes, size, &size) == DIRRM_OK else { return [status(-2)] }
    return bytes.map { UInt64($0) }
  }
}
