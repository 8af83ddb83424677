import XCTest

@testable import DirRMCore

/// The radix sort behind `cluster_threshold` orders floats exactly as a comparison sort of
/// their doubles does, so the optimum it finds is the same.
final class BinaryClusteringTests: XCTestCase {
  /// Random floats of every sign and scale, with ±0, repeats and extremes mixed in.
  func sample(_ n: Int, seed: UInt64) -> [Float] {
    var random = SplitMix(seed)
    let special: [Float] = [
      0, -0, 1, -1, .greatestFiniteMagnitude, -.greatestFiniteMagnitude, .leastNonzeroMagnitude,
      -.leastNonzeroMagnitude, .leastNormalMagnitude, -.leastNormalMagnitude,
    ]
    var values: [Float] = []
    for _ in 0..<n {
      switch random.next() % 4 {
      case 0: values.append(special[Int(random.next() % UInt64(special.count))])
      case 1 where !values.isEmpty: values.append(values[Int(random.next() % UInt64(values.count))])
      case 2: values.append(Float(Int(random.next() % 21)) - 10)
      default:
        let bits = UInt32(truncatingIfNeeded: random.next())
        let x = Float(bitPattern: bits)
        values.append(x.isFinite ? x : Float(bitPattern: bits & 0xbf00_0000))
      }
    }
    return values
  }

  func testRadixOrderEqualsComparisonOrder() {
    for (n, seed) in [(1, 1), (2, 2), (511, 3), (512, 4), (513, 5), (4000, 6), (100_000, 7)] {
      let values = sample(n, seed: UInt64(seed))
      let want = values.map(Double.init).sorted()
      let got = RadixSort.ascendingDoubles(values)
      XCTAssertEqual(got, want, "n = \(n)")  // == treats −0 and +0 as equal, as the sort does
      var keys = values.map(RadixSort.key)
      RadixSort.sort(&keys)
      XCTAssertEqual(keys.map(RadixSort.value), want, "radix path at n = \(n)")
      XCTAssert(zip(keys, keys.dropFirst()).allSatisfy { $0 <= $1 })
      for placement in [BinaryClustering.Placement.kmeans, .otsu] {
        XCTAssertEqual(
          BinaryClustering.threshold(unsorted: values, placement: placement),
          BinaryClustering.threshold(sorted: want, placement: placement), "n = \(n), \(placement)")
      }
    }
  }

  func testKeysOrderEveryPairOfNeighbouringFloats() {
    let xs: [Float] = [-.greatestFiniteMagnitude, -1, -.leastNormalMagnitude, -.leastNonzeroMagnitude, -0.0]
    let ladder = xs + [0] + xs.reversed().dropLast().map { -$0 }
    for (a, b) in zip(ladder, ladder.dropFirst()) {
      XCTAssertLessThanOrEqual(RadixSort.key(a), RadixSort.key(b), "\(a) < \(b)")
      XCTAssertEqual(RadixSort.value(RadixSort.key(a)).bitPattern, Double(a).bitPattern)
    }
  }

  func testSkippedDigitsLeaveTheOrder() {
    // Values of one sign and binade share their top digit, so that pass is skipped.
    let values = (0..<3000).map { Float(1) + Float(($0 * 7919) % 3000) / 4096 }
    XCTAssertEqual(RadixSort.ascendingDoubles(values), values.map(Double.init).sorted())
  }
  /// 0, 1, …, 131072: the splits at 65536 and 65537 are equally good to the bit (every sum is
  /// exact) and fall in different parts; the first wins, at one thread and two.
  func testTheFirstOfEquallyGoodSplitsWinsAcrossParts() {
    let values = (0...131_072).map(Float.init)
    XCTAssertGreaterThan(RadixSort.parts(values.count - 1), 1)
    let threads = WorkerPool.threadCount
    defer { WorkerPool.setThreadCount(threads) }
    for t in [1, 2] {
      WorkerPool.setThreadCount(t)
      XCTAssertEqual(
        BinaryClustering.threshold(unsorted: values, placement: .kmeans), 65535.75, "\(t) threads")
      XCTAssertEqual(BinaryClustering.threshold(unsorted: values, placement: .otsu), 65535.5, "\(t) threads")
    }
  }

  /// The split search in parts over the pool against one sequential loop over the splits,
  /// written here: the same sums in the same order, so the same threshold to the bit, at
  /// sizes of one and of many parts and at one thread and two.
  func testSplitInPartsEqualsOneLoop() {
    func oneLoop(_ x: [Double], _ placement: BinaryClustering.Placement) -> Double {
      let n = x.count
      var prefix = [Double](repeating: 0, count: n + 1)
      var suffix = [Double](repeating: 0, count: n + 1)
      for i in 0..<n { prefix[i + 1] = prefix[i] + x[i] }
      for i in stride(from: n - 1, through: 0, by: -1) { suffix[i] = suffix[i + 1] + x[i] }
      var (best, split) = (-1.0, 0)
      for s in 1..<n where x[s - 1] < x[s] {
        let (left, right) = (prefix[s] / Double(s), suffix[s] / Double(n - s))
        let between = Double(s) * Double(n - s) / Double(n) * (right - left) * (right - left)
        if between > best { (best, split) = (between, s) }
      }
      switch placement {
      case .kmeans: return (prefix[split] / Double(split) + suffix[split] / Double(n - split)) / 2
      case .otsu: return x[split - 1] + (x[split] - x[split - 1]) / 2
      }
    }
    let threads = WorkerPool.threadCount
    defer { WorkerPool.setThreadCount(threads) }
    for (n, seed) in [(600, 11), (70_000, 12), (300_001, 13)] {
      // Finite values of moderate size, so that the sums are not dominated by extremes.
      var random = SplitMix(UInt64(seed))
      let values = (0..<n).map { _ in Float(Int64(random.next() % 2_000_001) - 1_000_000) / 3_000 }
      let sorted = values.map(Double.init).sorted()
      for placement in [BinaryClustering.Placement.kmeans, .otsu] {
        let want = oneLoop(sorted, placement)
        for t in [1, 2] {
          WorkerPool.setThreadCount(t)
          XCTAssertEqual(
            BinaryClustering.threshold(unsorted: values, placement: placement).bitPattern, want.bitPattern,
            "n = \(n), \(placement), \(t) threads")
        }
      }
    }
  }
}

/// A small deterministic generator, so the test needs nothing from the library under test.
struct SplitMix {
  var state: UInt64
  init(_ seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

}
