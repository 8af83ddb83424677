/// The exact two-cluster split of values on a line (docs/mathematics.md §4).
///
/// In one dimension the optimal 2-means partition is a split of the sorted values, so
/// trying every split with prefix sums finds the global optimum that Lloyd's iterations
/// only approach. Minimizing the within-cluster sum of squares equals maximizing the
/// between-class variance s(n − s)/n · (mean_left − mean_right)², which is computed here
/// because it avoids the cancellation of Σx² − (Σx)²/n.
public enum BinaryClustering {
  public enum Placement {
    /// The midpoint of the two cluster means.
    case kmeans
    /// The midpoint of the two values on either side of the split (Otsu's method).
    case otsu
  }

  /// The threshold between the two clusters; the value itself when there are fewer than two
  /// distinct values. Throws unless `values` is non-empty and finite.
  public static func threshold(_ values: [Float], placement: Placement) throws(ConfigError) -> Double {
    guard !values.isEmpty else { throw ConfigError("values", "is empty") }
    try Rule.finiteElements(values, "values")
    return threshold(unsorted: values, placement: placement)
  }

  /// The same on finite, non-empty values in any order (the prioritizer's step values are).
  static func threshold(unsorted values: [Float], placement: Placement) -> Double {
    threshold(sorted: RadixSort.ascendingDoubles(values), placement: placement)
  }

  /// The same on values already in ascending order, non-empty and finite.
  static func threshold(sorted x: [Double], placement: Placement) -> Double {
    let n = x.count
    guard n >= 2, x[0] < x[n - 1] else { return x[0] }
    // The splits s ∈ 1..<n (left cluster x[0..<s]) in parts over the pool. Each part needs
    // the running sums at its ends, which one sequential pass of the same additions in the
    // same order gives, so every sum, and the split, is the one a single loop computes, at
    // any thread count. A separate suffix sum, from the right, keeps the right cluster's mean
    // free of cancellation.
    let parts = RadixSort.parts(n - 1)
    var prefixes = [Double](repeating: 0, count: parts)
    var suffixes = [Double](repeating: 0, count: parts)
    var sum = 0.0
    for part in 0..<parts {
      prefixes[part] = sum
      for s in RadixSort.range(part, of: parts, n - 1) { sum += x[s] }
    }
    sum = 0
    for part in (0..<parts).reversed() {
      suffixes[part] = sum
      for s in RadixSort.range(part, of: parts, n - 1).reversed() { sum += x[s + 1] }
    }
    let bests = x.withUnsafeBufferPointer { x in
      WorkerPool.map(parts: parts) { part in
        Self.bestSplit(x, from: RadixSort.range(part, of: parts, n - 1), prefixes[part], suffixes[part])
      }
    }
    // The first of equally good splits wins, across parts as within one.
    var best = bests[0]
    for candidate in bests.dropFirst() where candidate.between > best.between { best = candidate }
    let split = best.split
    switch placement {
    case .kmeans:
      return (best.left / Double(split) + best.right / Double(n - split)) / 2
    case .otsu:
      return x[split - 1] + (x[split] - x[split - 1]) / 2
    }
  }

  /// The best split s = j + 1 for j in `range`: its between-class variance s(n − s)/n ·
  /// (mean_right − mean_left)² and its clusters' sums, from the sum of x[0..<range.lowerBound]
  /// and the sum of x[(range.upperBound + 1)...]. Splitting between equal values is never
  /// optimal, so only boundaries between distinct values are tried; the first of equally good
  /// splits wins. Through a raw buffer: j + 1 < n, so every read is in bounds.
  private static func bestSplit(
    _ x: UnsafeBufferPointer<Double>, from range: Range<Int>, _ prefix: Double, _ suffix: Double
  ) -> (between: Double, split: Int, left: Double, right: Double) {
    let n = x.count
    // The right sums of this part's splits, accumulated from its right end.
    var right = [Double](repeating: 0, count: range.count)
    var sum = suffix
    for j in range.reversed() {
      sum += x[j + 1]
      right[j - range.lowerBound] = sum
    }
    var best = (between: -1.0, split: 0, left: 0.0, right: 0.0)
    var left = prefix
    for j in range {
      left += x[j]
      guard x[j] < x[j + 1] else { continue }
      let s = j + 1
      let meanLeft = left / Double(s)
      let meanRight = right[j - range.lowerBound] / Double(n - s)
      let between = Double(s) * Double(n - s) / Double(n) * (meanRight - meanLeft) * (meanRight - meanLeft)
      if between > best.between { best = (between, s, left, right[j - range.lowerBound]) }
    }
    return best
  }
}

extension BinaryClustering {
  /// Bytes `threshold` holds for n values: the sorted copy and the suffix sums (the radix
  /// sort's two key arrays, 8n bytes, are freed before the suffix sums are made; its part
  /// histograms are at most 32 × 2048 counts).
  public static func workBytes(count n: Int) -> Int? { Workspace.bytes([[n, 2], [2]], elementSize: 8) }
}
