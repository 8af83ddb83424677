import Glibc

/// q(c | X) = softmax(f(X))_c for a bias of C classes: one classifier network.
struct CategoricalHead: BiasHead {
  let classes: Int
  let networks: [MultilayerPerceptron]

  init(classes: Int, inputDim: Int, hidden: Int) {
    self.classes = classes
    networks = [MultilayerPerceptron(input: inputDim, hidden: hidden, output: classes, offset: 0)]
  }

  /// log q(c | X_i) for every class, n × C, by a log-sum-exp shifted by the row's largest logit.
  private func logSoftmax(_ logits: [Float], rows n: Int) -> [Double] {
    let c = classes
    var logq = [Double](repeating: 0, count: n * c)
    for i in 0..<n {
      var largest = -Double.infinity
      for j in 0..<c { largest = max(largest, Double(logits[i * c + j])) }
      var total = 0.0
      for j in 0..<c { total += exp(Double(logits[i * c + j]) - largest) }
      let lse = largest + log(total)
      for j in 0..<c { logq[i * c + j] = Double(logits[i * c + j]) - lse }
    }
    return logq
  }

  func logProbability(_ outputs: [[Float]], bias: [Float], rows n: Int) -> [Double] {
    let logq = logSoftmax(outputs[0], rows: n)
    return (0..<n).map { logq[$0 * classes + Int(bias[$0])] }
  }

  func bound(_ outputs: [[Float]], bias: [Float], stats: BiasStatistics, rows n: Int)
    -> (sum: Double, outputGradients: [[Float]])
  {
    let c = classes
    let logq = logSoftmax(outputs[0], rows: n)
    var total = 0.0
    var g = [Float](repeating: 0, count: n * c)
    for i in 0..<n {
      let b = Int(bias[i])
      var inner = 0.0
      for j in 0..<c { inner += stats.classCount(j) / stats.count * logq[i * c + j] }
      total += logq[i * c + b] - inner
      // d/dz [log q(b) − Σ π_c log q(c)] = onehot(b) − π, as Σ π = 1.
      for j in 0..<c {
        g[i * c + j] = Float(((j == b ? 1 : 0) - stats.classCount(j) / stats.count) / Double(n))
      }
    }
    return (total, [g])
  }

  func negativeLogLikelihood(_ outputs: [[Float]], bias: [Float], rows n: Int)
    -> (sum: Double, outputGradients: [[Float]])
  {
    let c = classes
    let logq = logSoftmax(outputs[0], rows: n)
    var total = 0.0
    var g = [Float](repeating: 0, count: n * c)
    for i in 0..<n {
      let b = Int(bias[i])
      total -= logq[i * c + b]
      for j in 0..<c {
        g[i * c + j] = Float((exp(logq[i * c + j]) - (j == b ? 1 : 0)) / Double(n))
      }
    }
    return (total, [g])
  }
}
