/// The part of q_ψ(b | X) that depends on the kind of bias (docs/mathematics.md §2): which
/// networks q has, and how their outputs become log q, the CLUB bound's terms and the fitting
/// loss. Every sum is over rows and returned undivided; every output gradient is already
/// divided by the row count n, as the estimator averages.
protocol BiasHead {
  /// q's networks, in the order their parameters are laid out.
  var networks: [MultilayerPerceptron] { get }

  /// log q(b_i | X_i) for each row.
  func logProbability(_ outputs: [[Float]], bias: [Float], rows n: Int) -> [Double]

  /// Σ_i [log q(b_i | X_i) − E_j log q(b_j | X_i)], the expectation over the batch `stats`
  /// describes, and its gradient on each network's outputs.
  func bound(_ outputs: [[Float]], bias: [Float], stats: BiasStatistics, rows n: Int)
    -> (sum: Double, outputGradients: [[Float]])

  /// −Σ_i log q(b_i | X_i) and its gradient on each network's outputs.
  func negativeLogLikelihood(_ outputs: [[Float]], bias: [Float], rows n: Int)
    -> (sum: Double, outputGradients: [[Float]])
}
