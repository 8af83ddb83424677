/// What dirrm_train_params describes: the method and its hyperparameters. Checked by
/// `validate(for:width:)` (ConfigValidation.swift) against the data and the model.
extension Trainer {
  public enum Method: Equatable, Sendable {
    case vanilla, dir, promptFree, dirPromptFree
    var usesDIR: Bool { self == .dir || self == .dirPromptFree }
    var usesPromptFree: Bool { self == .promptFree || self == .dirPromptFree }
  }

  public struct Settings {
    public var method: Method
    public var epochs: Int
    public var batchSize: Int
    public var learningRate: Float
    public var weightDecay: Float
    /// DIR's policy; its estimator's hidden dimension is set from the model.
    public var dir: DIRLoss.Settings
    public var biasColumn: Int
    public var promptsPerPair: Int
    public var promptFree: PromptFreeGap
    /// Rounds of proposals a prompt-free step makes at most to fill its batch.
    public var promptFreeRounds: Int
    public var prioritizer: Prioritizer.Settings
    public var seed: UInt64

    public init(
      method: Method, epochs: Int, batchSize: Int, learningRate: Float, weightDecay: Float,
      dir: DIRLoss.Settings,
      biasColumn: Int, promptsPerPair: Int, promptFree: PromptFreeGap, promptFreeRounds: Int,
      prioritizer: Prioritizer.Settings, seed: UInt64
    ) {
      self.method = method
      self.epochs = epochs
      self.batchSize = batchSize
      self.learningRate = learningRate
      self.weightDecay = weightDecay
      self.dir = dir
      self.biasColumn = biasColumn
      self.promptsPerPair = promptsPerPair
      self.promptFree = promptFree
      self.promptFreeRounds = promptFreeRounds
      self.prioritizer = prioritizer
      self.seed = seed
    }
  }
}
