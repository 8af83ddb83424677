/// How a reward model ranks a dataset's pairs, and how its reward gap follows a bias.
public struct Evaluation: Equatable, Sendable {
  public var pairs: Int
  /// Share of pairs with r(chosen) > r(rejected).
  public var accuracy: Double
  public var meanGap: Double
  /// Correlations of the reward gap with the bias column (NaN when either is constant).
  public var gapBiasPearson: Double
  public var gapBiasSpearman: Double
  /// Accuracy over pairs whose bias value is > 0, and ≤ 0 (NaN for an empty group).
  public var accuracyBiasPositive: Double
  public var accuracyBiasNegative: Double

  /// Bytes an evaluation of `pairs` pairs holds: the indices, both rewards, the gaps, the bias
  /// in double, the filters, Spearman's ranks with their sort (generously, 96 per pair), and
  /// the model's pass over one chunk of at most 2048 pairs.
  public static func workBytes(_ model: RewardModel<Float>, pairs: Int) -> Int? {
    guard let pass = model.shape.passBytes(rows: 2 * min(max(pairs, 0), 2048)) else { return nil }
    return Workspace.bytes([[pairs, 96], [pass]], elementSize: 1)
  }

  public static func evaluate(_ model: RewardModel<Float>, on data: PreferenceDataset, biasColumn: Int?)
    -> Evaluation
  {
    let (chosen, rejected) = model.scorePairs(data, data.pairs.indices.map { $0 })
    let gaps = zip(chosen, rejected).map { Double($0) - Double($1) }
    let bias =
      biasColumn.map { data.biasColumn($0).map(Double.init) } ?? [Double](repeating: 0, count: gaps.count)
    func accuracy(_ keep: (Int) -> Bool) -> Double {
      let kept = gaps.indices.filter(keep)
      return kept.isEmpty ? .nan : Double(kept.filter { gaps[$0] > 0 }.count) / Double(kept.count)
    }
    return Evaluation(
      pairs: gaps.count, accuracy: accuracy { _ in true },
      meanGap: gaps.reduce(0, +) / Double(max(gaps.count, 1)),
      gapBiasPearson: Statistics.pearson(gaps, bias), gapBiasSpearman: Statistics.spearman(gaps, bias),
      accuracyBiasPositive: accuracy { bias[$0] > 0 }, accuracyBiasNegative: accuracy { bias[$0] <= 0 })
  }
}

public enum Statistics {
  public static func pearson(_ a: [Double], _ b: [Double]) -> Double {
    let n = Double(a.count)
    guard a.count >= 2 else { return .nan }
    let ma = a.reduce(0, +) / n
    let mb = b.reduce(0, +) / n
    var sab = 0.0
    var saa = 0.0
    var sbb = 0.0
    for i in a.indices {
      sab += (a[i] - ma) * (b[i] - mb)
      saa += (a[i] - ma) * (a[i] - ma)
      sbb += (b[i] - mb) * (b[i] - mb)
    }
    return saa > 0 && sbb > 0 ? sab / (saa * sbb).squareRoot() : .nan
  }

  /// Pearson correlation of the ranks, ties given their average rank.
  public static func spearman(_ a: [Double], _ b: [Double]) -> Double {
    pearson(ranks(a), ranks(b))
  }

  public static func ranks(_ x: [Double]) -> [Double] {
    let order = x.indices.sorted { x[$0] < x[$1] }
    var out = [Double](repeating: 0, count: x.count)
    var i = 0
    while i < order.count {
      var j = i
      while j + 1 < order.count && x[order[j + 1]] == x[order[i]] { j += 1 }
      let rank = Double(i + j) / 2 + 1
      for k in i...j { out[order[k]] = rank }
      i = j + 1
    }
    return out
  }
}

extension RewardModel where T == Float {
  /// Rewards of chosen and rejected responses of the given pairs, in chunks.
  public func scorePairs(_ data: PreferenceDataset, _ indices: [Int]) -> (chosen: [Float], rejected: [Float])
  {
    var chosen: [Float] = []
    var rejected: [Float] = []
    chosen.reserveCapacity(indices.count)
    rejected.reserveCapacity(indices.count)
    var start = 0
    while start < indices.count {
      let chunk = Array(indices[start..<min(start + 2048, indices.count)])
      let pairs = chunk.map { data.pairs[$0] }
      let prompts = data.promptRows(pairs.map(\.prompt) + pairs.map(\.prompt))
      let responses = data.responseRows(pairs.map(\.chosen) + pairs.map(\.rejected))
      let rewards = forward(prompts: prompts, responses: responses, rows: 2 * chunk.count).rewards
      chosen += rewards[0..<chunk.count]
      rejected += rewards[chunk.count...]
      start += chunk.count
    }
    return (chosen, rejected)
  }
}
