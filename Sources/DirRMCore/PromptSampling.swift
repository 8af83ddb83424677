/// The K prompts a pair is scored under for the prompt-free decomposition: its own prompt
/// first, then K − 1 distinct others drawn uniformly.
public enum PromptSampling {
  /// Checks k against the prompts there are to draw from; `sample` runs it first, and a caller
  /// may run it before copying anything.
  public static func check(k: Int, numPrompts: Int) throws(ConfigError) {
    guard k >= 1 else { throw ConfigError("k", "= \(k) must be at least 1") }
    guard k <= numPrompts else { throw ConfigError("k", "= \(k) exceeds num_prompts = \(numPrompts)") }
  }

  /// The prompts of each pair, n × k. Each pair draws from its own stream derived from
  /// (seed, i), so a pair's prompts do not depend on the batch it arrives in.
  ///
  /// Throws, naming the argument as the C header does, unless 1 ≤ k ≤ numPrompts and each
  /// `own[i]` is in 0..<numPrompts.
  public static func sample(own: [Int], k: Int, numPrompts: Int, seed: UInt64) throws(ConfigError) -> [Int] {
    try check(k: k, numPrompts: numPrompts)
    try Rule.indexElements(own, below: numPrompts, "corr_prompt")
    var out = [Int](repeating: 0, count: own.count * k)
    var chosen = [Int](repeating: 0, count: k - 1)
    var taken = Set<Int>(minimumCapacity: k)
    for (i, mine) in own.enumerated() {
      var random = Xoshiro256(seed: seed ^ (UInt64(i) &* 0xD1B5_4A32_D192_ED03))
      // Floyd's algorithm picks k − 1 distinct values from the numPrompts − 1 others without
      // touching the rest; value v ≥ mine stands for prompt v + 1.
      let others = numPrompts - 1
      taken.removeAll(keepingCapacity: true)
      var count = 0
      for j in (others - (k - 1))..<others {
        let t = random.below(j + 1)
        chosen[count] = taken.contains(t) ? j : t
        taken.insert(chosen[count])
        count += 1
      }
      // Floyd's set is uniform but its order is not: shuffle it.
      random.shuffle(&chosen)
      out[i * k] = mine
      for j in 0..<(k - 1) {
        out[i * k + 1 + j] = chosen[j] >= mine ? chosen[j] + 1 : chosen[j]
      }
    }
    return out
  }
}

extension PromptSampling {
  /// Bytes `sample` holds for n pairs of k prompts: the drawn values and the set of taken
  /// ones, and the n × k result (with room for a caller's 64-bit copy of it).
  public static func workBytes(rows n: Int, k: Int) -> Int? {
    Workspace.bytes([[k, 64], [n, k, 16]], elementSize: 1)
  }
}
