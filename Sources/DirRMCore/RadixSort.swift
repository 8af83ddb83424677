/// Ascending order of finite floats by an LSD radix sort on their bits: three counting passes
/// of 11, 11 and 10 bits instead of a comparison sort's n log n branches, which were three
/// quarters of `cluster_threshold` at 10^6 values.
enum RadixSort {
  /// Below this many values the histograms cost more than a comparison sort saves.
  static let minimumCount = 512
  private static let digits: [(shift: UInt32, buckets: Int)] = [(0, 2048), (11, 2048), (22, 1024)]

  /// `values` (finite) ascending, widened to double. Equal to `values.map(Double.init).sorted()`
  /// element for element (−0 and +0 compare equal; here −0 comes first).
  static func ascendingDoubles(_ values: [Float]) -> [Double] {
    guard values.count >= minimumCount else { return values.map(Double.init).sorted() }
    var keys = values.map(key)
    sort(&keys)
    return keys.map(value)
  }

  /// An unsigned key whose order is the floats' order: a positive float's bits already order
  /// it among positives, so setting the sign bit lifts them above all negatives; a negative
  /// float's bits order it backwards, so all of them are flipped.
  @inline(__always)
  static func key(_ x: Float) -> UInt32 {
    let bits = x.bitPattern
    return bits & 0x8000_0000 == 0 ? bits | 0x8000_0000 : ~bits
  }

  @inline(__always)
  static func value(_ key: UInt32) -> Double {
    Double(Float(bitPattern: key & 0x8000_0000 != 0 ? key & 0x7fff_ffff : ~key))
  }

  /// The keys ascending: all three histograms in one pass, then one stable scatter per digit,
  /// skipping a digit that every key shares (common for the top bits of values of one sign
  /// and scale).
  static func sort(_ keys: inout [UInt32]) {
    let n = keys.count
    var counts = [[Int]](repeating: [], count: digits.count)
    for (d, digit) in digits.enumerated() { counts[d] = [Int](repeating: 0, count: digit.buckets) }
    for k in keys {
      for (d, digit) in digits.enumerated() {
        counts[d][Int((k >> digit.shift) & UInt32(digit.buckets - 1))] += 1
      }
    }
    // One scratch array: the passes alternate between it and `keys`.
    var target = [UInt32](repeating: 0, count: n)
    var inTarget = false
    for (d, digit) in digits.enumerated() where !counts[d].contains(n) {
      var start = 0
      for b in 0..<digit.buckets {
        (counts[d][b], start) = (start, start + counts[d][b])
      }
      let mask = UInt32(digit.buckets - 1)
      if inTarget {
        scatter(target, into: &keys, offsets: &counts[d], shift: digit.shift, mask: mask)
      } else {
        scatter(keys, into: &target, offsets: &counts[d], shift: digit.shift, mask: mask)
      }
      inTarget.toggle()
    }
    if inTarget { swap(&keys, &target) }
  }

  /// The only unsafe code here: the scatter's loads, offset updates and stores go through raw
  /// buffers, so the loop has no bounds or uniqueness checks. It is safe because the offsets
  /// are the exclusive prefix sums of this digit's counts over `source`: every store lands in
  /// 0..<n, once.
  private static func scatter(
    _ source: [UInt32], into target: inout [UInt32], offsets: inout [Int], shift: UInt32, mask: UInt32
  ) {
    source.withUnsafeBufferPointer { source in
      target.withUnsafeMutableBufferPointer { target in
        offsets.withUnsafeMutableBufferPointer { offsets in
          for k in source {
            let b = Int((k >> shift) & mask)
            target[offsets[b]] = k
            offsets[b] += 1
          }
        }
      }
    }
  }
}
