import Glibc

/// DIR's variational network q_ψ(b | X) and the CLUB upper bound of I(X; b) (docs/mathematics.md §2).
public struct ClubEstimator {
  public struct Config: Equatable {
    public enum Kind: Equatable {
      /// b ∈ {0, …, classes − 1}.
      case categorical(classes: Int)
      /// b ∈ R^dimensions, diagonal Gaussian.
      case gaussian(dimensions: Int)
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

    /// count, then per-class counts or per-dimension Σb and Σb².
    public var statsLength: Int {
      switch kind {
      case .categorical(let c): 1 + c
      case .gaussian(let m): 1 + 2 * m
      }
    }

    /// The networks: categorical, one classifier; Gaussian, the mean then the log-variance
    /// network, each with half the hidden width (as in the CLUB paper).
    var networks: [MultilayerPerceptron] {
      switch kind {
      case .categorical(let c):
        return [MultilayerPerceptron(input: inputDim, hidden: qHidden, output: c, offset: 0)]
      case .gaussian(let m):
        let mean = MultilayerPerceptron(input: inputDim, hidden: qHidden / 2, output: m, offset: 0)
        return [
          mean, MultilayerPerceptron(input: inputDim, hidden: qHidden / 2, output: m, offset: mean.end),
        ]
      }
    }
  }

  public let config: Config
  public internal(set) var weights: [Float]
  public internal(set) var optimizer: AdamW
  let networks: [MultilayerPerceptron]

  public init(config: Config) {
    self.config = config
    networks = config.networks
    weights = [Float](repeating: 0, count: networks[networks.count - 1].end)
    var random = Xoshiro256(seed: config.seed)
    for net in networks { net.initialize(&weights, &random) }
    optimizer = AdamW(
      count: weights.count, learningRate: config.learningRate, weightDecay: config.weightDecay)
  }

  /// Replaces q's parameters and resets the optimizer. The caller guarantees the count.
  public mutating func setWeights(_ values: UnsafeBufferPointer<Float>) {
    weights = Array(values)
    optimizer.reset()
  }

  // MARK: Batches

  /// A batch as the estimator sees it: X and the bias values, in double where it matters.
  public struct Batch {
    public let rows: Int
    let x: [Float]
    /// Class ids (categorical) or n × m attributes (Gaussian).
    let bias: UnsafeBufferPointer<Float>
  }

  /// Forms X from the two hidden-state buffers (n × d each).
  public func batch(
    chosen: UnsafeBufferPointer<Float>, rejected: UnsafeBufferPointer<Float>, bias: UnsafeBufferPointer<Float>
  ) -> Batch {
    let d = config.hiddenDim
    let n = chosen.count / d
    let x = [Float](unsafeUninitializedCapacity: n * config.inputDim) { out, count in
      let c = chosen.baseAddress.unsafelyUnwrapped
      let r = rejected.baseAddress.unsafelyUnwrapped
      let x = out.baseAddress.unsafelyUnwrapped
      switch config.pairMode {
      case .difference:
        for i in 0..<(n * d) { x[i] = c[i] - r[i] }
      case .concat:
        for i in 0..<n {
          (x + i * 2 * d).initialize(from: c + i * d, count: d)
          (x + i * 2 * d + d).initialize(from: r + i * d, count: d)
        }
      }
      count = n * config.inputDim
    }
    return Batch(rows: n, x: x, bias: bias)
  }

  /// The batch-level sufficient statistics of the bias (docs/mathematics.md §2), in double.
  public func statistics(_ bias: UnsafeBufferPointer<Float>, rows n: Int) -> [Double] {
    var stats = [Double](repeating: 0, count: config.statsLength)
    stats[0] = Double(n)
    switch config.kind {
    case .categorical:
      for i in 0..<n { stats[1 + Int(bias[i])] += 1 }
    case .gaussian(let m):
      for i in 0..<n {
        for d in 0..<m {
          let b = Double(bias[i * m + d])
          stats[1 + d] += b
          stats[1 + m + d] += b * b
        }
      }
    }
    return stats
  }

  // MARK: The outputs of q

  struct Forward {
    var traces: [MultilayerPerceptron.Trace]
    /// Categorical: log q(c | X_i), n × C. Gaussian: μ, n × m.
    var primary: [Double]
    /// Gaussian: v = B tanh(z / B), n × m.
    var logVariance: [Double]
  }

  func forward(_ batch: Batch) -> Forward {
    let traces = networks.map { $0.forward(weights, batch.x, rows: batch.rows) }
    switch config.kind {
    case .categorical(let c):
      var logq = [Double](repeating: 0, count: batch.rows * c)
      for i in 0..<batch.rows {
        var largest = -Double.infinity
        for j in 0..<c { largest = max(largest, Double(traces[0].output[i * c + j])) }
        var total = 0.0
        for j in 0..<c { total += exp(Double(traces[0].output[i * c + j]) - largest) }
        let lse = largest + log(total)
        for j in 0..<c { logq[i * c + j] = Double(traces[0].output[i * c + j]) - lse }
      }
      return Forward(traces: traces, primary: logq, logVariance: [])
    case .gaussian:
      let bound = Double(config.logvarBound)
      return Forward(
        traces: traces, primary: traces[0].output.map(Double.init),
        logVariance: traces[1].output.map { bound * tanh(Double($0) / bound) })
    }
  }

  static let halfLogTwoPi = 0.5 * log(2 * Double.pi)

  /// log q(b_i | X_i) for each row.
  public func logProbability(_ batch: Batch) -> [Double] {
    let f = forward(batch)
    switch config.kind {
    case .categorical(let c):
      return (0..<batch.rows).map { f.primary[$0 * c + Int(batch.bias[$0])] }
    case .gaussian(let m):
      return (0..<batch.rows).map { i in
        var sum = 0.0
        for d in 0..<m {
          let k = i * m + d
          let r = Double(batch.bias[k]) - f.primary[k]
          sum -= r * r / (2 * exp(f.logVariance[k])) + f.logVariance[k] / 2 + Self.halfLogTwoPi
        }
        return sum
      }
    }
  }

  // MARK: The CLUB bound

  /// Î = (1/n) Σ_i [log q(b_i | X_i) − E_j log q(b_j | X_i)], the inner mean taken over the
  /// batch described by `stats` (this batch's when nil), and dÎ/dX when asked.
  public func bound(_ batch: Batch, stats given: [Double]?, wantGradient: Bool) -> (Double, [Float]?) {
    let n = batch.rows
    let stats = given ?? statistics(batch.bias, rows: n)
    let count = stats[0]
    let f = forward(batch)
    var total = 0.0
    var gradients: [[Float]] = []
    switch config.kind {
    case .categorical(let c):
      var g = [Float](repeating: 0, count: n * c)
      for i in 0..<n {
        let b = Int(batch.bias[i])
        var inner = 0.0
        for j in 0..<c { inner += stats[1 + j] / count * f.primary[i * c + j] }
        total += f.primary[i * c + b] - inner
        // d/dz [log q(b) − Σ π_c log q(c)] = onehot(b) − π, as Σ π = 1.
        for j in 0..<c {
          g[i * c + j] = Float(((j == b ? 1 : 0) - stats[1 + j] / count) / Double(n))
        }
      }
      gradients = [g]
    case .gaussian(let m):
      var gMean = [Float](repeating: 0, count: n * m)
      var gLogvar = [Float](repeating: 0, count: n * m)
      let bound = Double(config.logvarBound)
      for i in 0..<n {
        for d in 0..<m {
          let k = i * m + d
          let mu = f.primary[k]
          let v = f.logVariance[k]
          let precision = exp(-v)
          let mean1 = stats[1 + d] / count
          let mean2 = stats[1 + m + d] / count
          let r = Double(batch.bias[k]) - mu
          // E_j (b_j − μ)² from the batch's first and second moments.
          let spread = mean2 - 2 * mu * mean1 + mu * mu
          total -= (r * r - spread) * precision / 2
          gMean[k] = Float((Double(batch.bias[k]) - mean1) * precision / Double(n))
          let t = v / bound
          gLogvar[k] = Float((r * r - spread) * precision / 2 * (1 - t * t) / Double(n))
        }
      }
      gradients = [gMean, gLogvar]
    }
    let value = total / Double(n)
    guard wantGradient else { return (value, nil) }
    var gx = [Float](repeating: 0, count: n * config.inputDim)
    for (net, (trace, g)) in zip(networks, zip(f.traces, gradients)) {
      if let part = net.backward(
        weights, trace, rows: n, outputGradient: g, parameterGradient: nil, wantInputGradient: true)
      {
        gx.withUnsafeMutableBufferPointer { total in
          part.withUnsafeBufferPointer { p in
            for i in 0..<total.count { total[i] += p[i] }
          }
        }
      }
    }
    return (value, gx)
  }

  /// Splits dÎ/dX into the gradients with respect to h_chosen and h_rejected.
  public func splitGradient(
    _ gx: [Float], rows n: Int, chosen: UnsafeMutableBufferPointer<Float>?,
    rejected: UnsafeMutableBufferPointer<Float>?, scale: Float = 1
  ) {
    let d = config.hiddenDim
    let (width, rejectedOffset, rejectedSign): (Int, Int, Float) =
      config.pairMode == .difference ? (d, 0, -1) : (2 * d, d, 1)
    gx.withUnsafeBufferPointer { g in
      for i in 0..<n {
        if let chosen {
          for j in 0..<d { chosen[i * d + j] = scale * g[i * width + j] }
        }
        if let rejected {
          for j in 0..<d { rejected[i * d + j] = rejectedSign * scale * g[i * width + rejectedOffset + j] }
        }
      }
    }
  }

  // MARK: Fitting q

  /// The mean negative log-likelihood −(1/n) Σ log q(b_i | X_i), and its gradient with
  /// respect to q's parameters when asked.
  func negativeLogLikelihood(_ batch: Batch, wantGradient: Bool) -> (Double, [Float]?) {
    let n = batch.rows
    let f = forward(batch)
    var total = 0.0
    var outputGradients: [[Float]] = []
    switch config.kind {
    case .categorical(let c):
      var g = [Float](repeating: 0, count: n * c)
      for i in 0..<n {
        let b = Int(batch.bias[i])
        total -= f.primary[i * c + b]
        for j in 0..<c {
          g[i * c + j] = Float((exp(f.primary[i * c + j]) - (j == b ? 1 : 0)) / Double(n))
        }
      }
      outputGradients = [g]
    case .gaussian(let m):
      var gMean = [Float](repeating: 0, count: n * m)
      var gLogvar = [Float](repeating: 0, count: n * m)
      let bound = Double(config.logvarBound)
      for k in 0..<(n * m) {
        let v = f.logVariance[k]
        let precision = exp(-v)
        let r = Double(batch.bias[k]) - f.primary[k]
        total += r * r * precision / 2 + v / 2 + Self.halfLogTwoPi
        gMean[k] = Float(-r * precision / Double(n))
        let t = v / bound
        gLogvar[k] = Float((0.5 - r * r * precision / 2) * (1 - t * t) / Double(n))
      }
      outputGradients = [gMean, gLogvar]
    }
    let value = total / Double(n)
    guard wantGradient else { return (value, nil) }
    var gradient = [Float](repeating: 0, count: weights.count)
    gradient.withUnsafeMutableBufferPointer { buffer in
      for (net, (trace, g)) in zip(networks, zip(f.traces, outputGradients)) {
        _ = net.backward(
          weights, trace, rows: n, outputGradient: g, parameterGradient: buffer, wantInputGradient: false)
      }
    }
    return (value, gradient)
  }

  /// `config.fitSteps` AdamW steps on the NLL with X held fixed (DIR eq. 13); returns the
  /// NLL after them.
  @discardableResult
  public mutating func fit(_ batch: Batch) -> Double {
    for _ in 0..<config.fitSteps {
      guard let gradient = negativeLogLikelihood(batch, wantGradient: true).1 else { break }
      optimizer.update(&weights, gradient: gradient)
    }
    return negativeLogLikelihood(batch, wantGradient: false).0
  }
}
