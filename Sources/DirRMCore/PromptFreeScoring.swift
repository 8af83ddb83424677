/// A reward model's prompt-free decomposition of dataset pairs: each pair scored under K
/// prompts (its own first, then K − 1 others drawn from the dataset), Δr2 from the gaps.
public struct PromptFreeScores {
  /// The gap under the pair's own prompt, Δr2 and Δr1 = own gap − Δr2, per pair.
  public var ownGap: [Float]
  public var dr2: [Float]
  public var dr1: [Float]

  /// K is capped at the dataset's prompt count. The solver's iteration budget is raised to
  /// 200, which always suffices on the float grid; gaps of a finite model are finite.
  public init(
    model: RewardModel<Float>, data: PreferenceDataset, pairs: [Int], k requested: Int, seed: UInt64,
    solver given: PromptFreeGap
  ) {
    let k = min(requested, data.promptCount)
    let n = pairs.count
    let own = pairs.map { Int64(data.pairs[$0].prompt) }
    var prompts = [Int64](repeating: 0, count: n * k)
    own.withUnsafeBufferPointer { o in
      prompts.withUnsafeMutableBufferPointer {
        PromptSampling.sample(own: o, k: k, numPrompts: data.promptCount, seed: seed, into: $0)
      }
    }
    let rows = n * k
    let promptRows = prompts.map { Int($0) }
    let chosen = (0..<rows).map { data.pairs[pairs[$0 / k]].chosen }
    let rejected = (0..<rows).map { data.pairs[pairs[$0 / k]].rejected }
    let rewards = model.forward(
      prompts: data.promptRows(promptRows + promptRows), responses: data.responseRows(chosen + rejected),
      rows: 2 * rows
    ).rewards
    let gaps = (0..<rows).map { rewards[$0] - rewards[rows + $0] }
    var dr2 = [Float](repeating: 0, count: n)
    var dr1 = dr2
    let corr = [Int64](repeating: 0, count: n)
    var solver = given
    solver.maxIterations = max(solver.maxIterations, 200)
    gaps.withUnsafeBufferPointer { g in
      corr.withUnsafeBufferPointer { c in
        dr2.withUnsafeMutableBufferPointer { d2 in
          dr1.withUnsafeMutableBufferPointer { d1 in
            try? solver.solve(
              gaps: g, k: k, corresponding: c, weights: nil, dr2: d2, dr1: d1, iterations: nil)
          }
        }
      }
    }
    ownGap = (0..<n).map { gaps[$0 * k] }
    self.dr2 = dr2
    self.dr1 = dr1
  }
}
