import CDirRM
import DirRMCore

@c @implementation
public func dirrm_club_params_init(_ p: UnsafeMutablePointer<dirrm_club_params>?) {
  fillDefaults(p) { params(of: ClubEstimator.Config.defaults) }
}

/// The configuration a parameter struct describes: enum fields checked as C values, every
/// rule left to the core's validate().
func clubConfig(_ p: dirrm_club_params, _ name: String = "p->") throws(ABIError) -> ClubEstimator.Config {
  try Check.oneOf(
    p.bias_kind, DIRRM_BIAS_CATEGORICAL...DIRRM_BIAS_GAUSSIAN, "\(name)bias_kind", "DIRRM_BIAS_*")
  try Check.oneOf(
    p.pair_mode, DIRRM_PAIR_DIFFERENCE...DIRRM_PAIR_CONCAT, "\(name)pair_mode", "DIRRM_PAIR_*")
  let biasDim = Int(p.bias_dim)
  return ClubEstimator.Config(
    kind: p.bias_kind == DIRRM_BIAS_GAUSSIAN
      ? .gaussian(dimensions: biasDim) : .categorical(classes: biasDim),
    hiddenDim: Int(p.hidden_dim), pairMode: p.pair_mode == DIRRM_PAIR_DIFFERENCE ? .difference : .concat,
    qHidden: Int(p.q_hidden), fitSteps: Int(p.fit_steps), learningRate: p.learning_rate,
    weightDecay: p.weight_decay, logvarBound: p.logvar_bound, seed: p.seed)
}

/// The parameter struct a configuration came from (dirrm_club_params_init from the core's
/// defaults, dirrm_club_get_params, the trainer's defaults).
func params(of config: ClubEstimator.Config) -> dirrm_club_params {
  let (kind, dim): (Int32, Int) =
    switch config.kind {
    case .categorical(let c): (DIRRM_BIAS_CATEGORICAL, c)
    case .gaussian(let m): (DIRRM_BIAS_GAUSSIAN, m)
    }
  return dirrm_club_params(
    struct_size: UInt32(MemoryLayout<dirrm_club_params>.size), bias_kind: kind,
    bias_dim: Int32(clamping: dim),
    hidden_dim: Int32(clamping: config.hiddenDim),
    pair_mode: config.pairMode == .difference ? DIRRM_PAIR_DIFFERENCE : DIRRM_PAIR_CONCAT,
    q_hidden: Int32(clamping: config.qHidden), fit_steps: Int32(clamping: config.fitSteps),
    learning_rate: config.learningRate, weight_decay: config.weightDecay, logvar_bound: config.logvarBound,
    seed: config.seed)
}
