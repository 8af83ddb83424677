import Glibc

/// Preference data with a known ground truth (docs/mathematics.md §5, DIRRM_SYNTH_*).
///
/// Prompt features are [x̃, ι]: content x̃ ~ N(0, I) and an instruction sign ι (+1 normally,
/// −1 for an instruction-flipped prompt). Response features are [c, length, flag]: content
/// c ~ N(0, I), a standardized length ℓ ~ N(0, 1) written into a block of coordinates, and a
/// sycophantic-prefix flag written into another. The true reward is how well the content fits
/// the prompt, in the sense the instruction sets:
///
///     r*(x, y) = ι · x̃ᵀ A c
///
/// so every true preference is prompt-related. Length and the flag are independent of it but
/// easy to read: the prompt-free shortcuts a reward model should not learn. Training labels follow
/// Bradley–Terry noise, P(y₁ ≻ y₂) = σ(r*₁ − r*₂); test labels are the ground truth.
public enum SyntheticPreferences {
  public enum Kind: Equatable, Sendable {
    case unbiased, length, sycophancy, adversarial
  }

  public struct Settings: Equatable, Sendable {
    public var kind: Kind
    public var biasRatio: Double
    public var promptCount: Int
    public var responsesPerPrompt: Int
    public var promptDim: Int
    public var responseDim: Int
    public var seed: UInt64

    public init(
      kind: Kind, biasRatio: Double, promptCount: Int, responsesPerPrompt: Int, promptDim: Int,
      responseDim: Int,
      seed: UInt64
    ) {
      self.kind = kind
      self.biasRatio = biasRatio
      self.promptCount = promptCount
      self.responsesPerPrompt = responsesPerPrompt
      self.promptDim = promptDim
      self.responseDim = responseDim
      self.seed = seed
    }

    /// Coordinates per surface attribute (length, flag).
    var surfaceDim: Int { max(1, responseDim / 8) }
    var contentDim: Int { responseDim - 2 * surfaceDim }
    var promptContentDim: Int { promptDim - 1 }
  }

  /// Bytes `generate` holds at most, or nil past an address space: both sets as they grow
  /// (twice their final size, for an array's growth and the copy into the dataset; the pairs
  /// three times, as `keep` builds the kept ones beside the candidates) and the world's
  /// matrix. The largest valid settings need about a terabyte, so a caller's numbers are
  /// checked against the memory there is before an array is asked for any of it.
  public static func workBytes(_ s: Settings) -> Int? {
    // Valid settings only (validate() first); others have no size.
    guard Limits.syntheticResponsesPerPrompt.contains(s.responsesPerPrompt), s.promptCount >= 0,
      Limits.syntheticPromptDim.contains(s.promptDim), Limits.syntheticResponseDim.contains(s.responseDim)
    else { return nil }
    let r = s.responsesPerPrompt
    let perPrompt = r * (r - 1) / 2
    let pairBytes = MemoryLayout<PreferenceDataset.Pair>.stride + MemoryLayout<Float>.size
    func set(prompts: Int, prefixedCopies: Bool, flippedPrompts: Bool) -> [[Int]] {
      [
        [2, prompts, s.promptDim, 4], [2, prompts, r, s.responseDim, 4], [2, prompts, r, 8],
        [3, prompts, perPrompt, pairBytes],  // the candidates, those kept, and their indices
        prefixedCopies ? [2, prompts, perPrompt, s.responseDim + 2, 4] : [],
        flippedPrompts ? [2, prompts, perPrompt, s.promptDim, 4] : [],
      ].filter { !$0.isEmpty }
    }
    let train = set(
      prompts: s.promptCount, prefixedCopies: s.kind == .sycophancy, flippedPrompts: s.kind == .adversarial)
    let test = set(
      prompts: max(50, s.promptCount / 4), prefixedCopies: s.kind == .sycophancy, flippedPrompts: false)
    return Workspace.bytes(
      train + test + [[max(0, s.promptContentDim), max(0, s.contentDim), 8]], elementSize: 1)
  }

  /// The train set (following the kind's bias) and the unbiased, ground-truth-labelled test
  /// set. The test set has a quarter as many prompts (at least 50).
  public static func generate(_ s: Settings) -> (train: PreferenceDataset, test: PreferenceDataset) {
    var world = World(s)
    var random = world.random
    let train = trainSet(s, world: world, random: &random)
    let test = testSet(s, world: world, random: &random)
    world.random = random
    return (train, test)
  }

  /// All pairs of responses to each prompt, labelled by noisy Bradley–Terry draws.
  static func candidatePairs(
    _ b: inout Builder, _ world: World, _ random: inout Xoshiro256, prompts count: Int, noisy: Bool
  ) {
    for _ in 0..<count {
      let p = b.addPrompt(&random)
      let rs = (0..<b.s.responsesPerPrompt).map { _ in b.addResponse(&random) }
      for i in 0..<rs.count {
        for j in (i + 1)..<rs.count {
          let gap =
            world.truth(prompt: b.prompt(p), content: b.content(rs[i]))
            - world.truth(prompt: b.prompt(p), content: b.content(rs[j]))
          let firstWins = noisy ? random.unit() < Stable.sigmoid(gap) : gap > 0
          let (c, r) = firstWins ? (rs[i], rs[j]) : (rs[j], rs[i])
          b.pairs.append(.init(prompt: p, chosen: c, rejected: r))
          b.bias.append(Float(b.lengths[c] - b.lengths[r]))
        }
      }
    }
  }

  static func keep(_ b: inout Builder, where predicate: (Int) -> Bool) {
    let kept = b.pairs.indices.filter(predicate)
    b.pairs = kept.map { b.pairs[$0] }
    b.bias = kept.map { b.bias[$0] }
  }

  static func trainSet(_ s: Settings, world: World, random: inout Xoshiro256) -> PreferenceDataset {
    var b = Builder(s: s)
    candidatePairs(&b, world, &random, prompts: s.promptCount, noisy: true)
    // Pairs kept from the candidates so that the biased and unbiased sets have one size:
    // the length-biased set keeps every chosen-longer pair (about half) and adds
    // chosen-shorter ones to make that half a share `biasRatio` of the whole.
    let share = min(1, 0.5 / s.biasRatio)
    switch s.kind {
    case .unbiased:
      var r = random
      keep(&b) { _ in r.unit() < share }
      random = r
    case .length:
      var r = random
      let shorterShare = (1 - s.biasRatio) / s.biasRatio
      let gaps = b.bias
      keep(&b) { gaps[$0] > 0 || r.unit() < shorterShare }
      random = r
    case .sycophancy:
      // DIR's contamination: half the pairs carry a sycophantic prefix, on the chosen response
      // with probability biasRatio. The bias column says where: +1 on the chosen response, −1
      // on the rejected one, 0 for none.
      addPrefixes(&b, &random, onChosen: s.biasRatio)
      var r = random
      keep(&b) { _ in r.unit() < share }
      random = r
    case .adversarial:
      // The prompt-free paper's §4.1.2: for a share biasRatio of the pairs, an
      // instruction-flipped duplicate of the prompt (ι = −1) with the pair's preference
      // reversed, as the ground truth has it. The bias column is 1 on duplicates.
      var r = random
      keep(&b) { _ in r.unit() < share }
      random = r
      let originals = b.pairs.count
      for k in 0..<originals { b.bias[k] = 0 }
      for k in 0..<originals where random.unit() < s.biasRatio {
        let pair = b.pairs[k]
        let flipped = b.prompts.count / s.promptDim
        b.prompts += b.prompt(pair.prompt).dropLast() + [-1]
        b.pairs.append(.init(prompt: flipped, chosen: pair.rejected, rejected: pair.chosen))
        b.bias.append(1)
      }
    }
    return b.dataset()
  }

  /// Gives half the pairs a sycophantic prefix, on the chosen response with probability
  /// `onChosen`; the bias column becomes +1, −1 or 0 accordingly.
  static func addPrefixes(_ b: inout Builder, _ random: inout Xoshiro256, onChosen: Double) {
    for k in b.pairs.indices {
      guard random.unit() < 0.5 else {
        b.bias[k] = 0
        continue
      }
      (b.pairs[k], b.bias[k]) = b.prefixed(b.pairs[k], onChosen: random.unit() < onChosen)
    }
  }

  static func testSet(_ s: Settings, world: World, random: inout Xoshiro256) -> PreferenceDataset {
    var b = Builder(s: s)
    candidatePairs(&b, world, &random, prompts: max(50, s.promptCount / 4), noisy: false)
    if s.kind == .sycophancy {
      // Every pair twice: as it is, and with the prefix on a random side. Flagged and
      // unflagged accuracy then compare the same contents, so their gap measures the prefix
      // alone rather than also the sampling noise of two disjoint halves.
      let plain = b.pairs.count
      for k in 0..<plain {
        let (pair, bias) = b.prefixed(b.pairs[k], onChosen: random.unit() < 0.5)
        b.pairs.append(pair)
        b.bias.append(bias)
        b.bias[k] = 0
      }
    } else if s.kind == .adversarial {
      for k in b.pairs.indices { b.bias[k] = 0 }
    }
    return b.dataset()
  }
}
