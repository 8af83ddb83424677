/// DIR's variational network q_ψ(b | X) and the CLUB upper bound of I(X; b)
/// (docs/mathematics.md §2). The kind-specific mathematics lives in the bias heads
/// (CategoricalHead, GaussianHead); this type forms X, runs q's networks, averages over rows,
/// back-propagates, and fits q.
public struct ClubEstimator {
  public let config: Config
  public internal(set) var weights: [Float]
  public internal(set) var optimizer: AdamW
  /// The running map under which q sees a Gaussian bias; empty for a categorical one.
  public internal(set) var standardization: BiasStandardization
  let head: any BiasHead
  /// `fit`'s gradient, kept so that a step allocates nothing of q's size.
  private var gradientBuffer: [Float] = []

  public init(config: Config) {
    self.config = config
    head = config.head
    let networks = head.networks
    weights = [Float](repeating: 0, count: networks[networks.count - 1].end)
    var random = Xoshiro256(seed: config.seed)
    for net in networks { net.initialize(&weights, &random) }
    optimizer = AdamW(
      count: weights.count, learningRate: config.learningRate, weightDecay: config.weightDecay)
    if case .gaussian(let m) = config.kind {
      standardization = BiasStandardization(dimensions: m)
    } else {
      standardization = BiasStandardization(dimensions: 0)
    }
  }

  /// Replaces q's parameters and resets the optimizer; the standardization is kept.
  public mutating func setWeights(_ values: [Float]) throws(ConfigError) {
    guard values.count == weights.count else {
      throw ConfigError("w", "has \(values.count) values but q has \(weights.count) parameters")
    }
    if let i = values.firstIndex(where: { !$0.isFinite }) {
      throw ConfigError("w[\(i)]", "is \(values[i])", kind: .nonFinite)
    }
    weights = values
    optimizer.reset()
  }

  // MARK: Batches

  /// A checked batch as the estimator sees it: X (n × inputDim) and the bias values.
  public struct Batch {
    public let rows: Int
    let x: [Float]
    /// Class ids (categorical, each in 0..<C) or n × m attributes (Gaussian).
    let bias: [Float]
  }

  /// Forms X from the hidden states of n pairs (n × d each) and checks the bias: n class
  /// ids in 0..<C, or n × m attributes.
  public func batch(_ hidden: PairBatch, bias: [Float]) throws(ConfigError) -> Batch {
    let d = config.hiddenDim
    guard hidden.columns == d, hidden.pairs >= 1 else {
      throw ConfigError("h", "has \(hidden.pairs) rows of \(hidden.columns) values; q needs rows of \(d)")
    }
    let n = hidden.pairs
    guard bias.count == n * config.biasColumns else {
      throw ConfigError("bias", "has \(bias.count) values; \(n) rows need \(n * config.biasColumns)")
    }
    if case .categorical(let c) = config.kind,
      let i = bias.firstIndex(where: { $0 < 0 || $0 >= Float(c) || $0 != $0.rounded() })
    {
      throw ConfigError("bias[\(i)]", "= \(bias[i]) is not a class id in [0, \(c))")
    }
    let x: [Float]
    switch config.pairMode {
    case .difference:
      x = VectorMath.difference(hidden.chosen, hidden.rejected)
    case .concat:
      var rows = [Float]()
      rows.reserveCapacity(2 * n * d)
      for i in 0..<n {
        rows += hidden.chosen[(i * d)..<((i + 1) * d)]
        rows += hidden.rejected[(i * d)..<((i + 1) * d)]
      }
      x = rows
    }
    return Batch(rows: n, x: x, bias: bias)
  }

  /// The sufficient statistics of a batch's bias.
  public func statistics(_ batch: Batch) -> BiasStatistics {
    BiasStatistics(of: batch.bias, rows: batch.rows, kind: config.kind)
  }

  /// The sufficient statistics of n rows of bias values, checked as `batch` checks them.
  public func statistics(bias: [Float], rows n: Int) throws(ConfigError) -> BiasStatistics {
    guard bias.count == n * config.biasColumns else {
      throw ConfigError("bias", "has \(bias.count) values; \(n) rows need \(n * config.biasColumns)")
    }
    if case .categorical(let c) = config.kind,
      let i = bias.firstIndex(where: { $0 < 0 || $0 >= Float(c) || $0 != $0.rounded() })
    {
      throw ConfigError("bias[\(i)]", "= \(bias[i]) is not a class id in [0, \(c))")
    }
    return BiasStatistics(of: bias, rows: n, kind: config.kind)
  }

  // MARK: q's outputs

  private func forward(_ batch: Batch) -> [MultilayerPerceptron.Trace] {
    head.networks.map { $0.forward(weights, batch.x, rows: batch.rows) }
  }

  /// The map under which q sees a batch of these statistics: the running one once q has been
  /// fit, else that of the statistics themselves (the only one all workers share then); nil
  /// for a categorical bias.
  private func map(for stats: BiasStatistics) -> BiasStandardization? {
    guard standardization.dimensions > 0 else { return nil }
    return standardization.count > 0
      ? standardization : BiasStandardization(stats, dimensions: standardization.dimensions)
  }

  /// The batch with its bias as q sees it.
  private func inQSpace(_ batch: Batch, _ z: BiasStandardization?) -> Batch {
    guard let z else { return batch }
    return Batch(rows: batch.rows, x: batch.x, bias: z.apply(batch.bias))
  }

  /// log q(b_i | X_i) for each row: the density of b itself, the map's Jacobian included.
  public func logProbability(_ batch: Batch) -> [Double] {
    let z = map(for: statistics(batch))
    let logq = head.logProbability(
      forward(batch).map(\.output), bias: inQSpace(batch, z).bias, rows: batch.rows)
    guard let shift = z?.logScale else { return logq }
    return logq.map { $0 - shift }
  }

  // MARK: The CLUB bound

  /// Î = (1/n) Σ_i [log q(b_i | X_i) − E_j log q(b_j | X_i)], the inner mean taken over the
  /// batch described by `stats` (this batch's when nil), and dÎ/dX when asked. The bound is
  /// the same in b and in z, as the map's Jacobian cancels in the difference.
  public func bound(_ batch: Batch, stats given: BiasStatistics?, wantGradient: Bool) -> (Double, [Float]?) {
    let n = batch.rows
    let stats = given ?? statistics(batch)
    let z = map(for: stats)
    let traces = forward(batch)
    let (total, outputGradients) = head.bound(
      traces.map(\.output), bias: inQSpace(batch, z).bias, stats: z?.apply(stats) ?? stats, rows: n)
    let value = total / Double(n)
    guard wantGradient else { return (value, nil) }
    var gx = [Float](repeating: 0, count: n * config.inputDim)
    var noParameters: [Float]? = nil
    for (net, (trace, g)) in zip(head.networks, zip(traces, outputGradients)) {
      if let part = net.backward(
        weights, trace, rows: n, outputGradient: g, parameterGradient: &noParameters, wantInputGradient: true)
      {
        VectorMath.add(part, into: &gx)
      }
    }
    return (value, gx)
  }

  /// dÎ/dX times `scale`, as the gradients with respect to h_chosen and h_rejected.
  public func splitGradient(_ gx: [Float], rows n: Int, scale: Float = 1) -> PairBatch {
    let d = config.hiddenDim
    let (width, rejectedOffset, rejectedSign): (Int, Int, Float) =
      config.pairMode == .difference ? (d, 0, -1) : (2 * d, d, 1)
    precondition(gx.count == n * width)
    // Row i of each side is d values of gx's row i, from column 0 (chosen) or rejectedOffset.
    // Through pointers: index arithmetic is overflow-checked, which keeps the loop scalar.
    func side(_ offset: Int, _ factor: Float) -> [Float] {
      [Float](unsafeUninitializedCapacity: n * d) { out, count in
        gx.withUnsafeBufferPointer { gx in
          guard let source = gx.baseAddress, let target = out.baseAddress else { return }
          for i in 0..<n {
            let (from, to) = (source + (i * width + offset), target + i * d)
            for j in 0..<d { to[j] = factor * from[j] }
          }
        }
        count = n * d
      }
    }
    return PairBatch(chosen: side(0, scale), rejected: side(rejectedOffset, rejectedSign * scale), columns: d)
  }

  /// The bound and, when asked, its gradient on h_chosen and h_rejected, as float32
  /// results (dirrm_club_bound).
  public func boundResult(_ batch: Batch, stats: BiasStatistics?, wantGradient: Bool)
    throws(NumericError) -> (bound: Float, gradient: PairBatch?)
  {
    let (value, gx) = bound(batch, stats: stats, wantGradient: wantGradient)
    let result = try NumericError.float32(value, "the bound")
    if let gx, !gx.withUnsafeBufferPointer(VectorMath.allFinite),
      let i = gx.firstIndex(where: { !$0.isFinite })
    {
      throw .overflow("the bound's gradient overflows float32 at X element \(i)")
    }
    return (result, gx.map { splitGradient($0, rows: batch.rows) })
  }

  // MARK: Fitting q

  /// The mean negative log-likelihood −(1/n) Σ log q(b_i | X_i) of a batch already in q's
  /// space.
  private func negativeLogLikelihood(_ batch: Batch) -> Double {
    let outputs = forward(batch).map(\.output)
    return head.negativeLogLikelihood(outputs, bias: batch.bias, rows: batch.rows).sum / Double(batch.rows)
  }

  /// The NLL's gradient with respect to q's parameters, written over `gradient` (every
  /// element: each layer's weight block and bias), which must hold weights.count values.
  private func negativeLogLikelihoodGradient(_ batch: Batch, into gradient: inout [Float]?) {
    let traces = forward(batch)
    let (_, outputGradients) = head.negativeLogLikelihood(
      traces.map(\.output), bias: batch.bias, rows: batch.rows)
    for (net, (trace, g)) in zip(head.networks, zip(traces, outputGradients)) {
      _ = net.backward(
        weights, trace, rows: batch.rows, outputGradient: g, parameterGradient: &gradient,
        wantInputGradient: false)
    }
  }

  /// Merges the batch into the standardization, then `config.fitSteps` AdamW steps on the NLL
  /// in q's space with X held fixed (DIR eq. 13); returns the NLL of b after them when
  /// `measure` (one more forward of q), else nil.
  ///
  /// A step that would make a parameter or its moments non-finite leaves that parameter and
  /// its moments as they were (AdamW checks inside its pass; no copy of q is taken); the fit
  /// then stops, the standardization is restored and the call throws, so q stays finite and
  /// usable after one bad batch, keeping the steps before. The gradient's buffer is kept between calls.
  @discardableResult
  public mutating func fit(_ batch: Batch, measure: Bool = true) throws(NumericError) -> Float? {
    let previous = standardization
    let stats = statistics(batch)
    if standardization.dimensions > 0 { standardization.merge(stats) }
    let z = map(for: stats)
    let seen = inQSpace(batch, z)
    var gradient: [Float]? =
      gradientBuffer.count == weights.count ? gradientBuffer : [Float](repeating: 0, count: weights.count)
    gradientBuffer = []  // so that `gradient` is the buffer's only owner and is written in place
    defer { gradientBuffer = gradient ?? [] }
    for step in 0..<config.fitSteps {
      negativeLogLikelihoodGradient(seen, into: &gradient)
      guard let g = gradient, optimizer.update(&weights, gradient: g) else {
        standardization = previous
        throw .overflow(
          "fitting q diverged at step \(step + 1) of \(config.fitSteps); q kept its finite values")
      }
    }
    guard measure else { return nil }
    let nll = negativeLogLikelihood(seen) + (z?.logScale ?? 0)
    guard nll.fitsInFloat else {
      standardization = previous
      throw .overflow("q's NLL after fitting (\(nll)) does not fit in float32")
    }
    return Float(nll)
  }
}
