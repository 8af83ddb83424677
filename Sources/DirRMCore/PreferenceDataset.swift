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

  /// The caller guarantees consistent sizes and in-range indices.
  public init(
    promptDim: Int, prompts: [Float], responseDim: Int, responses: [Float], pairs: [Pair], biasDim: Int,
    bias: [Float]
  ) {
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
  /// The first pair whose indices point past the features, as (pair, field 0–2, message).
  public static func firstInvalidPair(_ pairs: [Pair], promptCount: Int, responseCount: Int) -> (
    Int, Int, String
  )? {
    for (i, p) in pairs.enumerated() {
      for (j, (value, limit, what)) in [
        (p.prompt, promptCount, "prompt"), (p.chosen, responseCount, "chosen"),
        (p.rejected, responseCount, "rejected"),
      ].enumerated() where value < 0 || value >= limit {
        return (i, j, "pairs[\(i)][\(j)] = \(value): the \(what) index is outside [0, \(limit))")
      }
    }
    return nil
  }
}
