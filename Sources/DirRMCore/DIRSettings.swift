/// DIR's policy (dirrm_dir_params): how hard the penalty pulls, the two protections beyond
/// the paper, and the estimator. One configuration for every place DIR runs: the trainer,
/// dirrm_dir_loss, and the Python, torch and TRL bindings all start from
/// `DIRLoss.Settings.defaults` (Defaults.swift), so a user gets the same DIR wherever they
/// call it (docs/decisions.md §1).
extension DIRLoss {
  public struct Settings: Equatable {
    /// The weight of the bound in L_pref + λ·Î.
    public var lambda: Float
    /// Penalize max(Î, 0) instead of Î: a negative bound means q lags the representation.
    public var clip: Bool
    /// Scale the penalty's gradient on the hidden states to at most the norm of the
    /// preference loss's gradient there (`DIRLoss.capScale`).
    public var cap: Bool
    /// The estimator q; its hidden dimension is the caller's (the trainer sets the model's).
    public var club: ClubEstimator.Config

    public init(lambda: Float, clip: Bool, cap: Bool, club: ClubEstimator.Config) {
      self.lambda = lambda
      self.clip = clip
      self.cap = cap
      self.club = club
    }

    /// The rules of the loss-level fields; the estimator's are its own validate().
    public func validateLoss() throws(ConfigError) {
      try Rule.nonNegative(lambda, "lambda")
    }
  }

  /// The factor in (0, 1] that brings a penalty gradient of norm `penaltyNorm` down to at
  /// most `preferenceNorm`, beyond the paper (docs/decisions.md §1). AdamW divides each
  /// parameter's step by its running gradient scale: a penalty many times larger than the
  /// preference gradient (a large λ, or a confident q) inflates that scale, the preference
  /// loss stops moving the model, and accuracy falls to chance. Capped, λ still sets how hard
  /// the penalty pulls within that budget, and the preference loss always keeps half of it.
  public static func capScale(penaltyNorm: Double, preferenceNorm: Double) -> Double {
    guard penaltyNorm > preferenceNorm, penaltyNorm > 0 else { return 1 }
    return preferenceNorm / penaltyNorm
  }

  /// The penalty gradient on the hidden states capped to the norm of the preference loss's
  /// gradient there (`capScale`), and the factor applied; nil when the factor is 1 and the
  /// penalty stays as it is (dirrm_dir_cap).
  public static func cap(_ penalty: PairBatch, under preference: PairBatch)
    throws(NumericError) -> (scale: Float, capped: PairBatch?)
  {
    let scale = capScale(
      penaltyNorm: norm(penalty.chosen, penalty.rejected),
      preferenceNorm: norm(preference.chosen, preference.rejected))
    guard scale.isFinite else { throw .overflow("the gradients' norms overflow double") }
    guard scale < 1 else { return (Float(scale), nil) }
    let s = Float(scale)
    return (
      s,
      PairBatch(
        chosen: penalty.chosen.map { $0 * s }, rejected: penalty.rejected.map { $0 * s },
        columns: penalty.columns)
    )
  }

  /// The Euclidean norm of the values, accumulated in double.
  public static func norm(_ parts: [Float]...) -> Double {
    var squares = 0.0
    for part in parts { for g in part { squares += Double(g) * Double(g) } }
    return squares.squareRoot()
  }
}
