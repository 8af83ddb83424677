/// A reward model's prompt-free decomposition of dataset pairs: each pair scored under K
/// prompts (its own first, then K − 1 others drawn from the dataset), Δr2 from the gaps.
public struct PromptFreeScores {
  /// The gap under the pair's own prompt, Δr2 and Δr1 = own gap − Δr2, per pair.
  public var ownGap: [Float]
  public var dr2: [Float]
  public var dr1: [Float]

  /// K is capped at the dataset's prompt count. Throws when the scores cannot be computed:
  /// the model's gaps are not finite (it diverged), the solver did not converge, or the
  /// arguments break a rule (K < 1, a pair index outside the data, a weighting that needs
  /// explicit weights), which the trainer's validated settings rule out.
  public init(
    model: RewardModel<Float>, data: PreferenceDataset, pairs: [Int], k requested: Int, seed: UInt64,
    solver given: PromptFreeGap
  ) throws(NumericError) {
    let k = min(requested, data.promptCount)
    let n = pairs.count
    ownGap = [Float](repeating: 0, count: n)
    dr2 = ownGap
    dr1 = ownGap
    let own = pairs.map { data.pairs[$0].prompt }
    let promptRows = try Self.refusalAsNumeric { () throws(ConfigError) in
      try PromptSampling.sample(own: own, k: k, numPrompts: data.promptCount, seed: seed)
    }
    let rows = n * k
    let chosen = (0..<rows).map { data.pairs[pairs[$0 / k]].chosen }
    let rejected = (0..<rows).map { data.pairs[pairs[$0 / k]].rejected }
    let rewards = model.forward(
      prompts: data.promptRows(promptRows + promptRows), responses: data.responseRows(chosen + rejected),
      rows: 2 * rows
    ).rewards
    let gaps = (0..<rows).map { rewards[$0] - rewards[rows + $0] }
    ownGap = (0..<n).map { gaps[$0 * k] }
    let solver = given
    let corr = [Int](repeating: 0, count: n)
    let problem = try Self.refusalAsNumeric { () throws(ConfigError) in
      try solver.problem(gaps: gaps, k: k, corresponding: corr, weights: nil)
    }
    let solution = try problem.solve(dr1: true)
    dr2 = solution.dr2
    dr1 = solution.dr1 ?? dr1
  }

  /// A rule the arguments break, reported as the numeric failure that is its only reachable
  /// cause here: gaps that are not finite because the model diverged.
  static func refusalAsNumeric<T>(_ body: () throws(ConfigError) -> T) throws(NumericError) -> T {
    do { return try body() } catch { throw .overflow("prompt-free scoring: \(error.message(prefix: ""))") }
  }
}

extension PromptFreeScores {
  /// The smallest scale a batch is divided by: a batch whose own-prompt gaps are all zero (an
  /// untrained model) is divided by this rather than by zero, so its Δr2 stay finite and ordered.
  public static let minimumScale = 1e-12

  /// Each Δr2 divided by the batch's RMS own-prompt gap, max(√(mean g²), minimumScale), in
  /// double and rounded once: the gaps all grow as the model trains, and a threshold on raw
  /// Δr2 would drift with them. The trainer's and dirrm_pf_normalize's rule. `ownGap` is the
  /// batch (empty: scale minimumScale); throws when a quotient does not fit in float32.
  public static func normalized(_ dr2: [Float], ownGap: [Float]) throws(NumericError) -> [Float] {
    var squares = 0.0
    for g in ownGap { squares += Double(g) * Double(g) }
    let meanSquare = ownGap.isEmpty ? 0 : squares / Double(ownGap.count)
    let scale = max(meanSquare.squareRoot(), minimumScale)
    var out = [Float](repeating: 0, count: dr2.count)
    for (i, d) in dr2.enumerated() {
      out[i] = Float(Double(d) / scale)
      guard out[i].isFinite else {
        throw .overflow("dr2[\(i)] / \(scale) (the RMS own-prompt gap) does not fit in float32")
      }
    }
    return out
  }
}
