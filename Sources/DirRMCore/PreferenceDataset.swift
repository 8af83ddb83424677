/// Preference data by index (docs/mathematics.md §5): prompt features, response features, and pairs
/// (prompt, chosen response, rejected response), so any prompt can be paired with any
/// response, plus pair-level bias attributes.
public struct PreferenceDataset: Sendable {
  public struct Pair: Equatable, Sendable {
    public var prompt: Int
    public var chosen: Int
    public var rejected: Int
    public init(prompt: Int, chosen: Int, rejected: Int) {
      self.prompt = prompt
      self.chosen = chosen
      self.rejected = rejected
    }
  }

  public let promptDim: Int
  public let responseDim: Int
  public let biasDim: Int
  public let prompts: [Float]
  public let responses: [Float]
  public let pairs: [Pair]
  /// pairs.count × biasDim.
  public let bias: [Float]

  /// Checked: feature dimensions ≥ 1, feature tables of whole rows, biasDim values per pair,
  /// every index inside its table, and every value finite.
  public init(
    promptDim: Int, prompts: [Float], responseDim: Int, responses: [Float], pairs: [Pair], biasDim: Int,
    bias: [Float]
  ) throws(ConfigError) {
    guard promptDim >= 1, prompts.count % promptDim == 0 else {
      throw ConfigError(
        "prompt_features", "has \(prompts.count) values, not rows of prompt_dim = \(promptDim)")
    }
    guard responseDim >= 1, responses.count % responseDim == 0 else {
      throw ConfigError(
        "response_features", "has \(responses.count) values, not rows of response_dim = \(responseDim)")
    }
    guard biasDim >= 0, bias.count == pairs.count * biasDim else {
      throw ConfigError("bias", "has \(bias.count) values for \(pairs.count) pairs of bias_dim = \(biasDim)")
    }
    if let (i, j, value, limit, what) = Self.firstInvalidPair(
      pairs, promptCount: prompts.count / promptDim, responseCount: responses.count / responseDim)
    {
      throw ConfigError("pairs[\(i)][\(j)]", "= \(value): the \(what) index is outside [0, \(limit))")
    }
    try Rule.finiteElements(prompts, "prompt_features")
    try Rule.finiteElements(responses, "response_features")
    try Rule.finiteElements(bias, "bias")
    self.promptDim = promptDim
    self.responseDim = responseDim
    self.biasDim = biasDim
    self.prompts = prompts
    self.responses = responses
    self.pairs = pairs
    self.bias = bias
  }

  public var promptCount: Int { prompts.count / max(promptDim, 1) }
  public var responseCount: Int { responses.count / max(responseDim, 1) }

  /// Column `column` of the bias attributes, one value per pair.
  public func biasColumn(_ column: Int) -> [Float] {
    (0..<pairs.count).map { bias[$0 * biasDim + column] }
  }

  /// Rows of prompt features for the given prompt indices.
  public func promptRows(_ indices: [Int]) -> [Float] { Self.rows(prompts, promptDim, indices) }
  public func responseRows(_ indices: [Int]) -> [Float] { Self.rows(responses, responseDim, indices) }

  static func rows(_ table: [Float], _ width: Int, _ indices: [Int]) -> [Float] {
    var out = [Float](repeating: 0, count: indices.count * width)
    for (r, i) in indices.enumerated() {
      for j in 0..<width { out[r * width + j] = table[i * width + j] }
    }
    return out
  }
}

extension PreferenceDataset {
  /// The first pair whose indices point past the features: (pair, field 0–2, value, limit, what).
  static func firstInvalidPair(_ pairs: [Pair], promptCount: Int, responseCount: Int) -> (
    Int, Int, Int, Int, String
  )? {
    for (i, p) in pairs.enumerated() {
      for (j, (value, limit, what)) in [
        (p.prompt, promptCount, "prompt"), (p.chosen, responseCount, "chosen"),
        (p.rejected, responseCount, "rejected"),
      ].enumerated() where value < 0 || value >= limit {
        return (i, j, value, limit, what)
      }
    }
    return nil
  }
}
