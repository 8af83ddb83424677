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
