/// The reward model (docs/mathematics.md §5): a backbone over prompt features x and response features y
/// whose first layer adds a multiplicative interaction, so it can represent how well a
/// response fits its prompt, then a linear score head on the last hidden state h:
///
///     h₁ = relu(W₁[x; y] + b₁ + (P x) ⊙ (Q y))
///     hₗ = relu(Wₗ hₗ₋₁ + bₗ)              l = 2 … depth
///     r  = vᵀ h_depth + c
///
/// Parameters live in one flat array in the order W₁, b₁, P, Q, (Wₗ, bₗ)…, v, c. Generic
/// over the scalar so the gradient can be checked against finite differences in double.
public struct RewardModel<T: BLASScalar>: Equatable {
  public struct Shape: Equatable, Sendable {
    public var promptDim: Int
    public var responseDim: Int
    public var width: Int
    public var depth: Int

    public init(promptDim: Int, responseDim: Int, width: Int, depth: Int) {
      self.promptDim = promptDim
      self.responseDim = responseDim
      self.width = width
      self.depth = depth
    }

    var inputDim: Int { promptDim + responseDim }
    var w1: Int { 0 }
    var b1: Int { w1 + width * inputDim }
    var p: Int { b1 + width }
    var q: Int { p + width * promptDim }
    /// The weight of layer l (2-based), then its bias.
    func wl(_ l: Int) -> Int { q + width * responseDim + (l - 2) * (width * width + width) }
    var head: Int { wl(depth + 1) }
    public var parameterCount: Int { head + width + 1 }
  }

  public let shape: Shape
  public var parameters: [T]

  public init(shape: Shape, parameters: [T]) {
    self.shape = shape
    self.parameters = parameters
  }

  /// torch.nn.Linear-style initialization: uniform in ±1/√fan_in.
  public init(shape: Shape, seed: UInt64) {
    var random = Xoshiro256(seed: seed)
    var values = [T](repeating: 0, count: shape.parameterCount)
    func fill(_ range: Range<Int>, fanIn: Int) {
      let bound = 1 / Double(fanIn).squareRoot()
      for i in range { values[i] = T((2 * random.unit() - 1) * bound) }
    }
    fill(shape.w1..<shape.p, fanIn: shape.inputDim)
    fill(shape.p..<shape.q, fanIn: shape.promptDim)
    fill(shape.q..<shape.wl(2), fanIn: shape.responseDim)
    for l in stride(from: 2, through: shape.depth, by: 1) {
      fill(shape.wl(l)..<shape.wl(l + 1), fanIn: shape.width)
    }
    fill(shape.head..<shape.parameterCount, fanIn: shape.width)
    self.init(shape: shape, parameters: values)
  }

  /// Everything backward needs from one forward pass.
  public struct Trace {
    public let rows: Int
    let input: [T]
    let prompts: [T]
    let responses: [T]
    let promptProjection: [T]
    let responseProjection: [T]
    /// Pre-activations and activations of each hidden layer.
    var preActivations: [[T]] = []
    var activations: [[T]] = []
    public internal(set) var rewards: [T] = []
    /// The last hidden state, rows × width.
    public var hidden: [T] { activations[activations.count - 1] }
  }

  /// Scores rows of (prompt, response) feature pairs: `prompts` rows × promptDim,
  /// `responses` rows × responseDim.
  public func forward(prompts: [T], responses: [T], rows n: Int) -> Trace {
    let s = shape
    var input = [T](repeating: 0, count: n * s.inputDim)
    for i in 0..<n {
      for j in 0..<s.promptDim { input[i * s.inputDim + j] = prompts[i * s.promptDim + j] }
      for j in 0..<s.responseDim {
        input[i * s.inputDim + s.promptDim + j] = responses[i * s.responseDim + j]
      }
    }
    var px = [T](repeating: 0, count: n * s.width)
    var qy = [T](repeating: 0, count: n * s.width)
    BLAS.gemm(
      transposeA: false, transposeB: true, m: n, n: s.width, k: s.promptDim, prompts, parameters,
      bOffset: s.p,
      beta: 0, &px)
    BLAS.gemm(
      transposeA: false, transposeB: true, m: n, n: s.width, k: s.responseDim, responses, parameters,
      bOffset: s.q, beta: 0, &qy)
    var z = [T](repeating: 0, count: n * s.width)
    for i in 0..<n {
      for j in 0..<s.width {
        z[i * s.width + j] = parameters[s.b1 + j] + px[i * s.width + j] * qy[i * s.width + j]
      }
    }
    BLAS.gemm(
      transposeA: false, transposeB: true, m: n, n: s.width, k: s.inputDim, input, parameters, bOffset: s.w1,
      beta: 1, &z)
    var trace = Trace(
      rows: n, input: input, prompts: prompts, responses: responses, promptProjection: px,
      responseProjection: qy)
    var h = z.map { max($0, 0) }
    trace.preActivations.append(z)
    trace.activations.append(h)
    for l in stride(from: 2, through: s.depth, by: 1) {
      var zl = [T](repeating: 0, count: n * s.width)
      let bias = s.wl(l) + s.width * s.width
      for i in 0..<n {
        for j in 0..<s.width { zl[i * s.width + j] = parameters[bias + j] }
      }
      BLAS.gemm(
        transposeA: false, transposeB: true, m: n, n: s.width, k: s.width, h, parameters, bOffset: s.wl(l),
        beta: 1,
        &zl)
      h = zl.map { max($0, 0) }
      trace.preActivations.append(zl)
      trace.activations.append(h)
    }
    var rewards = [T](repeating: parameters[s.head + s.width], count: n)
    for i in 0..<n {
      var sum = rewards[i]
      for j in 0..<s.width { sum += parameters[s.head + j] * h[i * s.width + j] }
      rewards[i] = sum
    }
    trace.rewards = rewards
    return trace
  }

  /// The norm of dLoss/dh, the gradient a loss on the rewards sends into the last hidden
  /// state: each row's dLoss/dr times the head's weights v, so ‖·‖ = ‖dLoss/dr‖ · ‖v‖.
  public func hiddenGradientNorm(rewardGradient: [T]) -> Double {
    let s = shape
    var head = 0.0
    for j in 0..<s.width { head += Double(parameters[s.head + j]) * Double(parameters[s.head + j]) }
    var rows = 0.0
    for g in rewardGradient { rows += Double(g) * Double(g) }
    return (rows * head).squareRoot()
  }

  /// The gradient of a loss with respect to the parameters, given dLoss/dr per row and,
  /// optionally, dLoss/dh on the last hidden state (rows × width).
  public func gradient(_ trace: Trace, rewardGradient: [T], hiddenGradient: [T]?) -> [T] {
    let s = shape
    let n = trace.rows
    var grad = [T](repeating: 0, count: s.parameterCount)
    let last = trace.hidden
    // Head: dv = Σ gr_i h_i, dc = Σ gr_i.
    for i in 0..<n {
      let g = rewardGradient[i]
      grad[s.head + s.width] += g
      for j in 0..<s.width { grad[s.head + j] += g * last[i * s.width + j] }
    }
    var gh = hiddenGradient ?? [T](repeating: 0, count: n * s.width)
    for i in 0..<n {
      for j in 0..<s.width { gh[i * s.width + j] += rewardGradient[i] * parameters[s.head + j] }
    }
    for l in stride(from: s.depth, through: 1, by: -1) {
      let pre = trace.preActivations[l - 1]
      var gz = gh
      for k in gz.indices where pre[k] <= 0 { gz[k] = 0 }
      let below: [T]
      let weight: Int
      let bias: Int
      if l == 1 {
        (below, weight, bias) = (trace.input, s.w1, s.b1)
      } else {
        (below, weight, bias) = (trace.activations[l - 2], s.wl(l), s.wl(l) + s.width * s.width)
      }
      let fanIn = l == 1 ? s.inputDim : s.width
      BLAS.gemm(
        transposeA: true, transposeB: false, m: s.width, n: fanIn, k: n, gz, below, beta: 0, &grad,
        cOffset: weight)
      for i in 0..<n {
        for j in 0..<s.width { grad[bias + j] += gz[i * s.width + j] }
      }
      if l == 1 {
        // d/dP = (gz ⊙ Qy)ᵀ x and d/dQ = (gz ⊙ Px)ᵀ y.
        var gp = gz
        var gq = gz
        for k in gz.indices {
          gp[k] *= trace.responseProjection[k]
          gq[k] *= trace.promptProjection[k]
        }
        BLAS.gemm(
          transposeA: true, transposeB: false, m: s.width, n: s.promptDim, k: n, gp, trace.prompts, beta: 0,
          &grad,
          cOffset: s.p)
        BLAS.gemm(
          transposeA: true, transposeB: false, m: s.width, n: s.responseDim, k: n, gq, trace.responses,
          beta: 0,
          &grad, cOffset: s.q)
      } else {
        var next = [T](repeating: 0, count: n * s.width)
        BLAS.gemm(
          transposeA: false, transposeB: false, m: n, n: s.width, k: s.width, gz, parameters, bOffset: weight,
          beta: 0,
          &next)
        gh = next
      }
    }
    return grad
  }
}

extension RewardModel where T == Float {
  /// `forward`, refusing a reward that overflowed (dirrm_model_score).
  public func score(prompts: [T], responses: [T], rows n: Int) throws(NumericError) -> Trace {
    let trace = forward(prompts: prompts, responses: responses, rows: n)
    if let i = trace.rewards.firstIndex(where: { !$0.isFinite }) {
      throw .overflow("reward \(i) overflows float32")
    }
    return trace
  }
}
