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
    var keys = inParts(values, key)
    sort(&keys)
    return inParts(keys, value)
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

  /// The pool's parts of n elements: a sorted order is unique, so the split (at most
  /// `maximumParts`, to bound the per-part histograms) changes no result, only who works.
  static func parts(_ n: Int) -> Int { min((n + (1 << 16) - 1) >> 16, maximumParts) }
  static let maximumParts = 32

  /// Part p's elements of n.
  static func range(_ part: Int, of parts: Int, _ n: Int) -> Range<Int> {
    (n * part / parts)..<(n * (part + 1) / parts)
  }

  /// `transform` of each element, computed in parts over the pool straight into the result
  /// (each part initializes its own range; every index in 0..<n is in one part).
  static func inParts<T, R>(_ source: [T], _ transform: (T) -> R) -> [R] {
    let n = source.count
    let parts = parts(n)
    return [R](unsafeUninitializedCapacity: n) { result, count in
      source.withUnsafeBufferPointer { source in
        WorkerPool.run(parts: parts) { part in
          for i in range(part, of: parts, n) {
            (result.baseAddress.unsafelyUnwrapped + i).initialize(to: transform(source[i]))
          }
        }
      }
      count = n
    }
  }

  /// The keys ascending: one stable scatter per digit, lowest first, skipping a digit that
  /// every key shares (common for the top bits of values of one sign and scale).
  static func sort(_ keys: inout [UInt32]) {
    let n = keys.count
    // One scratch array: the passes alternate between it and `keys`.
    var target = [UInt32](unsafeUninitializedCapacity: n) { _, count in count = n }
    var inTarget = false
    for digit in digits {
      let moved =
        inTarget
        ? scatter(target, into: &keys, shift: digit.shift, buckets: digit.buckets)
        : scatter(keys, into: &target, shift: digit.shift, buckets: digit.buckets)
      if moved { inTarget.toggle() }
    }
    if inTarget { swap(&keys, &target) }
  }

  /// One digit's stable scatter of `source` into `target` over the pool: each part counts its
  /// keys per bucket, the offsets are the exclusive prefix sums in (bucket, part) order, and
  /// each part then scatters its keys from its own offsets. False, with nothing written, when
  /// every key has the same digit.
  ///
  /// The only unsafe code here: the counts, loads and stores go through raw buffers, so the
  /// loops have no bounds or uniqueness checks. It is safe because the digit is below
  /// `buckets`, a part's table has `buckets` entries, and the offsets partition 0..<n: every
  /// store lands in 0..<n, once. (The scratch array starts uninitialized; the first scatter
  /// writes all of it.)
  private static func scatter(_ source: [UInt32], into target: inout [UInt32], shift: UInt32, buckets: Int)
    -> Bool
  {
    let n = source.count
    let parts = parts(n)
    let mask = UInt32(buckets - 1)
    var offsets = [Int](repeating: 0, count: parts * buckets)
    return source.withUnsafeBufferPointer { source in
      offsets.withUnsafeMutableBufferPointer { offsets in
        WorkerPool.run(parts: parts) { part in
          let table = UnsafeMutableBufferPointer(rebasing: offsets[(part * buckets)..<((part + 1) * buckets)])
          for k in source[range(part, of: parts, n)] { table[Int((k &>> shift) & mask)] &+= 1 }
        }
        var start = 0
        for b in 0..<buckets {
          var total = 0
          for part in 0..<parts { total += offsets[part * buckets + b] }
          if total == n { return false }
          for part in 0..<parts {
            (offsets[part * buckets + b], start) = (start, start + offsets[part * buckets + b])
          }
        }
        target.withUnsafeMutableBufferPointer { target in
          WorkerPool.run(parts: parts) { part in
            let table = UnsafeMutableBufferPointer(
              rebasing: offsets[(part * buckets)..<((part + 1) * buckets)])
            for k in source[range(part, of: parts, n)] {
              let b = Int((k &>> shift) & mask)
              target[table[b]] = k
              table[b] &+= 1
            }
          }
        }
        return true
      }
    }
  }
}
