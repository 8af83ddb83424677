import Glibc

/// q(b | X) = N(μ(X), diag exp v(X)) for an m-dimensional bias: a mean network and a
/// log-variance network, each with half the hidden width (as in the CLUB paper). The raw
/// log-variance output z is bounded as v = B tanh(z / B), so q can neither collapse onto a
/// point nor flatten out.
struct GaussianHead: BiasHead {
  let dimensions: Int
  let logvarBound: Double
  let networks: [MultilayerPerceptron]

  static let halfLogTwoPi = 0.5 * log(2 * Double.pi)

  init(dimensions: Int, inputDim: Int, hidden: Int, logvarBound: Float) {
    self.dimensions = dimensions
    self.logvarBound = Double(logvarBound)
    let mean = MultilayerPerceptron(input: inputDim, hidden: hidden / 2, output: dimensions, offset: 0)
    networks = [
      mean,
      MultilayerPerceptron(input: inputDim, hidden: hidden / 2, output: dimensions, offset: mean.end),
    ]
  }

  /// μ and v, n × m each.
  private func moments(_ outputs: [[Float]]) -> (mean: [Double], logVariance: [Double]) {
    let bound = logvarBound
    return (outputs[0].map(Double.init), outputs[1].map { bound * tanh(Double($0) / bound) })
  }

  func logProbability(_ outputs: [[Float]], bias: [Float], rows n: Int) -> [Double] {
    let m = dimensions
    let (mean, logVariance) = moments(outputs)
    return (0..<n).map { i in
      var sum = 0.0
      for d in 0..<m {
        let k = i * m + d
        let r = Double(bias[k]) - mean[k]
        sum -= r * r / (2 * exp(logVariance[k])) + logVariance[k] / 2 + Self.halfLogTwoPi
      }
      return sum
    }
  }

  func bound(_ outputs: [[Float]], bias: [Float], stats: BiasStatistics, rows n: Int)
    -> (sum: Double, outputGradients: [[Float]])
  {
    let m = dimensions
    let (mean, logVariance) = moments(outputs)
    var total = 0.0
    var gMean = [Float](repeating: 0, count: n * m)
    var gLogvar = [Float](repeating: 0, count: n * m)
    for i in 0..<n {
      for d in 0..<m {
        let k = i * m + d
        let mu = mean[k]
        let v = logVariance[k]
        let precision = exp(-v)
        let mean1 = stats.sum(d) / stats.count
        let mean2 = stats.sumOfSquares(d) / stats.count
        let r = Double(bias[k]) - mu
        // E_j (b_j − μ)² from the batch's first and second moments.
        let spread = mean2 - 2 * mu * mean1 + mu * mu
        total -= (r * r - spread) * precision / 2
        gMean[k] = Float((Double(bias[k]) - mean1) * precision / Double(n))
        let t = v / logvarBound
        gLogvar[k] = Float((r * r - spread) * precision / 2 * (1 - t * t) / Double(n))
      }
    }
    return (total, [gMean, gLogvar])
  }

  func negativeLogLikelihood(_ outputs: [[Float]], bias: [Float], rows n: Int)
    -> (sum: Double, outputGradients: [[Float]])
  {
    let (mean, logVariance) = moments(outputs)
    var total = 0.0
    var gMean = [Float](repeating: 0, count: n * dimensions)
    var gLogvar = [Float](repeating: 0, count: n * dimensions)
    for k in 0..<(n * dimensions) {
      let v = logVariance[k]
      let precision = exp(-v)
      let r = Double(bias[k]) - mean[k]
      total += r * r * precision / 2 + v / 2 + Self.halfLogTwoPi
      gMean[k] = Float(-r * precision / Double(n))
      let t = v / logvarBound
      gLogvar[k] = Float((0.5 - r * r * precision / 2) * (1 - t * t) / Double(n))
    }
    return (total, [gMean, gLogvar])
  }
}
