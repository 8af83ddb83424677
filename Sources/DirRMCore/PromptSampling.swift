/// The K prompts a pair is scored under for the prompt-free decomposition: its own prompt
/// first, then K − 1 distinct others drawn uniformly.
public enum PromptSampling {
  /// Fills `out` (n × k). Each pair draws from its own stream derived from (seed, i), so a
  /// pair's prompts do not depend on the batch it arrives in.
  ///
  /// The caller guarantees: 1 ≤ k ≤ numPrompts, each `own[i]` in 0..<numPrompts.
  public static func sample(
    own: UnsafeBufferPointer<Int64>, k: Int, numPrompts: Int, seed: UInt64,
    into out: UnsafeMutableBufferPointer<Int64>
  ) {
    var chosen = [Int](repeating: 0, count: k - 1)
    var taken = Set<Int>(minimumCapacity: k)
    for i in 0..<own.count {
      var random = Xoshiro256(seed: seed ^ (UInt64(i) &* 0xD1B5_4A32_D192_ED03))
      let mine = Int(own[i])
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
      out[i * k] = Int64(mine)
      for j in 0..<(k - 1) {
        out[i * k + 1 + j] = Int64(chosen[j] >= mine ? chosen[j] + 1 : chosen[j])
      }
    }
  }
}

extension PromptSampling {
  /// Bytes `sample` holds for k prompts per pair: the drawn values and the set of taken ones.
  public static func workBytes(k: Int) -> Int? { Workspace.bytes([[k, 64]], elementSize: 1) }
}
