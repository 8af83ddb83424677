/// DIR's objective on one batch (docs/mathematics.md §2): L = L_pref + λ·max(Î, 0), the
/// Bradley–Terry loss on the rewards plus λ times the CLUB bound on the hidden states, with q
/// fitted first when asked (DIR eq. 13). Î's gradient flows into the hidden states only; q's
/// parameters are held fixed for it. dirrm_dir_loss and the trainer both compute their loss
/// here, under one policy (`Settings`, DIRSettings.swift).
///
/// The bound is clipped at zero by default, beyond the paper (docs/decisions.md): mutual
/// information is never negative, so Î < 0 means q lags the representation, and descending it
/// would reward the representation for anti-correlating with the bias; that is how a large λ
/// flipped the model to preferring the bias it was meant to ignore.
public enum DIRLoss {
  public struct Result {
    public var total: Float
    public var preference: Float
    /// Î itself, before the clip.
    public var bound: Float
    /// dL/dr_chosen and dL/dr_rejected, when asked.
    public var rewardGradient: PairBatch?
    /// λ·dÎ/dh_chosen and λ·dÎ/dh_rejected (zero where the clip is active), when asked;
    /// not capped: the cap needs the preference loss's gradient on the hidden states, which
    /// only the caller's model can give (`capScale`).
    public var hiddenGradient: PairBatch?
  }

  /// The rewards and the penalized batch may cover different pairs: the trainer prefers only
  /// the pairs a step accepted but penalizes every pair it scored. Everything that can fail
  /// runs on a copy of q, which replaces `club` only when the whole call succeeds: a failing
  /// call leaves the estimator as it was.
  public static func evaluate(
    rewards: PairBatch, preference: PreferenceLoss, club: inout ClubEstimator, batch: ClubEstimator.Batch,
    policy: Settings, fitFirst: Bool, wantRewardGradient: Bool, wantHiddenGradient: Bool
  ) throws(NumericError) -> Result {
    let lambda = policy.lambda
    var q = club
    if fitFirst { try q.fit(batch, measure: false) }
    let (boundValue, gx) = q.bound(batch, stats: nil, wantGradient: wantHiddenGradient)
    let bound = try NumericError.float32(boundValue, "the bound")
    if let gx, let i = gx.firstIndex(where: { !($0 * lambda).isFinite }) {
      throw .overflow("lambda times the bound's gradient overflows float32 at X element \(i)")
    }
    let (pref, rewardGradient) = try preference.evaluate(rewards, wantGradient: wantRewardGradient)
    let active = bound > 0 || !policy.clip
    let total = Double(pref) + Double(lambda) * Double(active ? bound : 0)
    let result = Result(
      total: try NumericError.float32(total, "the total loss"), preference: pref, bound: bound,
      rewardGradient: rewardGradient,
      hiddenGradient: gx.map { q.splitGradient($0, rows: batch.rows, scale: active ? lambda : 0) })
    club = q
    return result
  }
}
