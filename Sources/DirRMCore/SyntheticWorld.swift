import Glibc

/// The synthetic generator's ground truth and the builder of its datasets.
extension SyntheticPreferences {
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
}
