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

  /// The world: the ground-truth weights, drawn once per seed.
  struct World {
    let settings: Settings
    let interaction: [Double]  // promptContentDim × contentDim
    var random: Xoshiro256

    init(_ s: Settings) {
      settings = s
      var random = Xoshiro256(seed: s.seed)
      // A = U Wᵀ of rank 2 (a few "topics" on which a response fits a prompt or not),
      // scaled so that true rewards have a standard deviation of about 3.
      let rank = 2
      let u = (0..<(s.promptContentDim * rank)).map { _ in random.normal() }
      let w = (0..<(s.contentDim * rank)).map { _ in random.normal() }
      let scale = 3 / Double(rank * s.promptContentDim * s.contentDim).squareRoot()
      var a = [Double](repeating: 0, count: s.promptContentDim * s.contentDim)
      for i in 0..<s.promptContentDim {
        for j in 0..<s.contentDim {
          for t in 0..<rank { a[i * s.contentDim + j] += scale * u[i * rank + t] * w[j * rank + t] }
        }
      }
      interaction = a
      self.random = random
    }

    func truth(prompt x: ArraySlice<Float>, content c: ArraySlice<Float>) -> Double {
      let s = settings
      var total = 0.0
      for j in 0..<s.contentDim {
        var fit = 0.0
        for i in 0..<s.promptContentDim {
          fit += Double(x[x.startIndex + i]) * interaction[i * s.contentDim + j]
        }
        total += fit * Double(c[c.startIndex + j])
      }
      return Double(x[x.startIndex + s.promptDim - 1]) * total
    }
  }

  /// A growing dataset under construction.
  struct Builder {
    let s: Settings
    var prompts: [Float] = []
    var responses: [Float] = []
    var lengths: [Double] = []
    var pairs: [PreferenceDataset.Pair] = []
    var bias: [Float] = []

    mutating func addPrompt(_ random: inout Xoshiro256, instruction: Float = 1) -> Int {
      for _ in 0..<s.promptContentDim { prompts.append(Float(random.normal())) }
      prompts.append(instruction)
      return prompts.count / s.promptDim - 1
    }

    mutating func addResponse(_ random: inout Xoshiro256) -> Int {
      for _ in 0..<s.contentDim { responses.append(Float(random.normal())) }
      let length = random.normal()
      lengths.append(length)
      for _ in 0..<s.surfaceDim { responses.append(Float(length)) }
      for _ in 0..<s.surfaceDim { responses.append(0) }
      return lengths.count - 1
    }

    /// A copy of response i carrying the sycophantic prefix.
    mutating func addPrefixed(_ i: Int) -> Int {
      let row = Array(responses[(i * s.responseDim)..<((i + 1) * s.responseDim)])
      responses += row.prefix(s.responseDim - s.surfaceDim) + [Float](repeating: 1, count: s.surfaceDim)
      lengths.append(lengths[i])
      return lengths.count - 1
    }

    /// The pair with the prefix on its chosen response (bias +1) or its rejected one (−1).
    mutating func prefixed(_ pair: PreferenceDataset.Pair, onChosen: Bool) -> (PreferenceDataset.Pair, Float)
    {
      var pair = pair
      if onChosen {
        pair.chosen = addPrefixed(pair.chosen)
      } else {
        pair.rejected = addPrefixed(pair.rejected)
      }
      return (pair, onChosen ? 1 : -1)
    }

    func prompt(_ p: Int) -> ArraySlice<Float> { prompts[(p * s.promptDim)..<((p + 1) * s.promptDim)] }
    func content(_ r: Int) -> ArraySlice<Float> {
      responses[(r * s.responseDim)..<(r * s.responseDim + s.contentDim)]
    }

    func dataset() -> PreferenceDataset {
      do {
        return try PreferenceDataset(
          promptDim: s.promptDim, prompts: prompts, responseDim: s.responseDim, responses: responses,
          pairs: pairs, biasDim: 1, bias: bias)
      } catch {
        // Every index and value here is the generator's own; a failure is a bug in it.
        preconditionFailure("the synthetic generator built an invalid dataset: \(error.message(prefix: ""))")
      }
    }
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

extension Xoshiro256 {
  /// A standard normal draw (Box–Muller, one of the pair).
  public mutating func normal() -> Double {
    let u = max(unit(), 0x1p-60)
    return (-2 * log(u)).squareRoot() * cos(2 * Double.pi * unit())
  }
}
