/// The settings of DIR's estimator q_ψ(b | X) (dirrm_club_params).
extension ClubEstimator {
  public struct Config: Equatable {
    public enum Kind: Equatable {
      /// b ∈ {0, …, classes − 1}.
      case categorical(classes: Int)
      /// b ∈ R^dimensions, diagonal Gaussian.
      case gaussian(dimensions: Int)

      /// count, then per-class counts or per-dimension Σb and Σb².
      var statsLength: Int {
        switch self {
        case .categorical(let c): 1 + c
        case .gaussian(let m): 1 + 2 * m
        }
      }
    }
    public enum PairMode: Equatable {
      case difference, concat
    }

    public var kind: Kind
    public var hiddenDim: Int
    public var pairMode: PairMode
    public var qHidden: Int
    public var fitSteps: Int
    public var learningRate: Float
    public var weightDecay: Float
    public var logvarBound: Float
    public var seed: UInt64

    public init(
      kind: Kind, hiddenDim: Int, pairMode: PairMode, qHidden: Int, fitSteps: Int,
      learningRate: Float, weightDecay: Float, logvarBound: Float, seed: UInt64
    ) {
      self.kind = kind
      self.hiddenDim = hiddenDim
      self.pairMode = pairMode
      self.qHidden = qHidden
      self.fitSteps = fitSteps
      self.learningRate = learningRate
      self.weightDecay = weightDecay
      self.logvarBound = logvarBound
      self.seed = seed
    }

    /// The dimension of the pair representation X.
    public var inputDim: Int { pairMode == .difference ? hiddenDim : 2 * hiddenDim }

    /// C for categorical, m for Gaussian.
    public var biasDim: Int {
      switch kind {
      case .categorical(let c): c
      case .gaussian(let m): m
      }
    }

    /// Values per row of the bias buffer: one class id, or m attributes.
    public var biasColumns: Int {
      if case .gaussian(let m) = kind { return m }
      return 1
    }

    /// The length of the bias statistics (BiasStatistics's layout).
    public var statsLength: Int { kind.statsLength }

    /// What the kind of bias makes of q's networks.
    var head: any BiasHead {
      switch kind {
      case .categorical(let c): CategoricalHead(classes: c, inputDim: inputDim, hidden: qHidden)
      case .gaussian(let m):
        GaussianHead(dimensions: m, inputDim: inputDim, hidden: qHidden, logvarBound: logvarBound)
      }
    }

    /// q's networks, in parameter order.
    var networks: [MultilayerPerceptron] { head.networks }
  }
}
