import Glibc
import XCTest

@testable import DirRMCore

final class WorkerPoolTests: XCTestCase {
  override func tearDown() { WorkerPool.setThreadCount(2) }

  /// Every part runs exactly once, for any thread count and part count, nested jobs included.
  func testEveryPartRunsOnce() {
    for threads in [1, 2, 3, 8] {
      WorkerPool.setThreadCount(threads)
      for parts in [0, 1, 2, 5, 64] {
        let counts = UnsafeMutableBufferPointer<Int>.allocate(capacity: max(parts * 4, 1))
        defer { counts.deallocate() }
        counts.initialize(repeating: 0)
        WorkerPool.run(parts: parts) { i in
          // A nested job finds the pool busy and runs inline on this thread.
          WorkerPool.run(parts: 4) { j in counts[i * 4 + j] += 1 }
        }
        XCTAssertEqual(Array(counts.prefix(parts * 4)), Array(repeating: 1, count: parts * 4))
      }
    }
  }

  /// Jobs from many threads at once: whoever finds the pool busy runs inline; all finish.
  func testConcurrentCallers() {
    WorkerPool.setThreadCount(2)
    let total = UnsafeMutableBufferPointer<Int>.allocate(capacity: 8 * 16)
    defer { total.deallocate() }
    total.initialize(repeating: 0)
    DispatchlessThreads.run(8) { caller in
      for round in 0..<200 {
        WorkerPool.run(parts: 16) { part in total[caller * 16 + part] += round }
      }
    }
    XCTAssertEqual(Array(total), Array(repeating: (0..<200).reduce(0, +), count: 8 * 16))
  }

  /// Products split over the pool equal the one-thread product bit for bit, at shapes split
  /// along rows and along columns, with every transpose.
  func testSplitProductsMatchOneThread() {
    var random = Xoshiro256(seed: 3)
    for (m, n, k) in [(64, 1024, 512), (2048, 64, 96), (300, 301, 37), (17, 4099, 64)] {
      for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
        let a = (0..<(m * k)).map { _ in Float(random.unit() - 0.5) }
        let b = (0..<(k * n)).map { _ in Float(random.unit() - 0.5) }
        let start = (0..<(m * n)).map { _ in Float(random.unit()) }
        var results: [[Float]] = []
        for threads in [1, 2, 3] {
          WorkerPool.setThreadCount(threads)
          var c = start
          BLAS.gemm(transposeA: ta, transposeB: tb, m: m, n: n, k: k, a, b, beta: 0.5, &c)
          results.append(c)
        }
        XCTAssertEqual(results[0], results[1], "\(m)x\(n)x\(k) \(ta) \(tb)")
        XCTAssertEqual(results[0], results[2], "\(m)x\(n)x\(k) \(ta) \(tb)")
        // Against a double reference on every seventh row, so that a misplaced block fails.
        var worst = 0.0
        for i in stride(from: 0, to: m, by: 7) {
          for j in 0..<n {
            var sum = 0.0
            for l in 0..<k {
              sum += Double(ta ? a[l * m + i] : a[i * k + l]) * Double(tb ? b[j * k + l] : b[l * n + j])
            }
            worst = max(worst, abs(sum + 0.5 * Double(start[i * n + j]) - Double(results[0][i * n + j])))
          }
        }
        XCTAssertLessThan(worst, 1e-4, "\(m)x\(n)x\(k) \(ta) \(tb)")
      }
    }
  }

  /// Products at the shapes of q's layers are bit for bit the same at every thread count.
  /// OpenBLAS 0.3.21's Haswell and Zen sgemm kernel sums an element of C in one FMA chain or
  /// in two (even and odd k), depending on where the element falls in the call's C; blocks
  /// sized by the thread count therefore changed the last bits of some elements at 2 and 3
  /// threads on an AMD EPYC (bindings/python/tests/test_threads.py).
  func testProductsDoNotDependOnTheThreadCount() {
    var random = Xoshiro256(seed: 5)
    // q's forward X·W1ᵀ (beta 1: the bias), input gradient dZ·W1 and weight gradient dZᵀ·X at
    // n 96, d 1024, q_hidden 512 (test_threads.py) and the forward at DIR's n 64, d 4096,
    // q_hidden 1024; then a product split along C's rows.
    let shapes: [(Int, Int, Int, Bool, Bool, Float)] = [
      (96, 512, 1024, false, true, 1), (96, 1024, 512, false, false, 0), (512, 1024, 96, true, false, 0),
      (64, 1024, 4096, false, true, 1), (3000, 128, 128, false, true, 0),
    ]
    for (m, n, k, ta, tb, beta) in shapes {
      let a = (0..<(m * k)).map { _ in Float(random.unit() - 0.5) }
      let b = (0..<(k * n)).map { _ in Float(random.unit() - 0.5) }
      let start = (0..<(m * n)).map { _ in Float(random.unit()) }
      var want: [Float] = []
      for threads in [1, 2, 3, 4, 5, 8] {
        WorkerPool.setThreadCount(threads)
        var c = start
        BLAS.gemm(transposeA: ta, transposeB: tb, m: m, n: n, k: k, a, b, beta: beta, &c)
        if threads == 1 {
          want = c
          continue
        }
        let differing = zip(c, want).reduce(0) { $0 + ($1.0.bitPattern == $1.1.bitPattern ? 0 : 1) }
        XCTAssertEqual(
          differing, 0,
          "\(m)x\(n)x\(k) ta \(ta) tb \(tb): \(differing) of \(m * n) elements differ at \(threads) threads")
      }
    }
  }
}

/// Plain pthreads for the test (no Foundation, no Dispatch in this package).
enum DispatchlessThreads {
  final class Box {
    let body: (Int) -> Void
    let index: Int
    init(_ body: @escaping (Int) -> Void, _ index: Int) { (self.body, self.index) = (body, index) }
  }

  static func run(_ count: Int, _ body: @escaping (Int) -> Void) {
    var threads: [pthread_t] = []
    for i in 0..<count {
      var thread = pthread_t()
      let box = Unmanaged.passRetained(Box(body, i)).toOpaque()
      let status = pthread_create(
        &thread, nil,
        { context in
          let box = Unmanaged<Box>.fromOpaque(context!).takeRetainedValue()
          box.body(box.index)
          return nil
        }, box)
      precondition(status == 0)
      threads.append(thread)
    }
    for thread in threads { pthread_join(thread, nil) }
  }
}
