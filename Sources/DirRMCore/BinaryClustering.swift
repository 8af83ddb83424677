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
    var prefix = [Double](repeating: 0, count: n + 1)
    var suffix = [Double](repeating: 0, count: n + 1)
    for i in 0..<n { prefix[i + 1] = prefix[i] + x[i] }
    // A separate suffix sum keeps the right cluster's mean free of cancellation.
    for i in stride(from: n - 1, through: 0, by: -1) { suffix[i] = suffix[i + 1] + x[i] }
    var best = -1.0
    var split = 0
    // Splitting between equal values is never optimal, so only boundaries between distinct
    // values are tried; the first of equally good splits wins.
    for s in 1..<n where x[s - 1] < x[s] {
      let left = prefix[s] / Double(s)
      let right = suffix[s] / Double(n - s)
      let between = Double(s) * Double(n - s) / Double(n) * (right - left) * (right - left)
      if between > best {
        best = between
        split = s
      }
    }
    switch placement {
    case .kmeans:
      return (prefix[split] / Double(split) + suffix[split] / Double(n - split)) / 2
    case .otsu:
      return x[split - 1] + (x[split] - x[split - 1]) / 2
    }
  }
}

extension BinaryClustering {
  /// Bytes `threshold` holds for n values: the sorted copy and two prefix-sum arrays (the
  /// radix sort's two key arrays, 8n bytes, are freed before the prefix sums are made).
  public static func workBytes(count n: Int) -> Int? { Workspace.bytes([[n, 3], [3]], elementSize: 8) }
}
