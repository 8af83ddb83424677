import CDirRM
import DirRMCore

@c @implementation
public func dirrm_club_params_init(_ p: UnsafeMutablePointer<dirrm_club_params>?) {
  p?.pointee = dirrm_club_params(
    struct_size: UInt32(MemoryLayout<dirrm_club_params>.size), bias_kind: DIRRM_BIAS_CATEGORICAL,
    bias_dim: 2, hidden_dim: 0, pair_mode: DIRRM_PAIR_DIFFERENCE, q_hidden: 1024, fit_steps: 5,
    learning_rate: 1e-4, weight_decay: 0.01, logvar_bound: 5, seed: 0)
}

/// The configuration a parameter struct describes, or the first problem with it.
func clubConfig(_ p: dirrm_club_params, _ name: String = "p->") throws(ABIError) -> ClubEstimator.Config {
  try Check.oneOf(
    p.bias_kind, DIRRM_BIAS_CATEGORICAL...DIRRM_BIAS_GAUSSIAN, "\(name)bias_kind", "DIRRM_BIAS_*")
  try Check.oneOf(
    p.pair_mode, DIRRM_PAIR_DIFFERENCE...DIRRM_PAIR_CONCAT, "\(name)pair_mode", "DIRRM_PAIR_*")
  let biasDim = Int(p.bias_dim)
  let config = ClubEstimator.Config(
    kind: p.bias_kind == DIRRM_BIAS_GAUSSIAN
      ? .gaussian(dimensions: biasDim) : .categorical(classes: biasDim),
    hiddenDim: Int(p.hidden_dim), pairMode: p.pair_mode == DIRRM_PAIR_DIFFERENCE ? .difference : .concat,
    qHidden: Int(p.q_hidden), fitSteps: Int(p.fit_steps), learningRate: p.learning_rate,
    weightDecay: p.weight_decay, logvarBound: p.logvar_bound, seed: p.seed)
  try validated(name) { () throws(ConfigError) in try config.validate() }
  return config
}

/// The parameter struct a configuration came from (dirrm_club_get_params, the trainer's
/// defaults).
func params(of config: ClubEstimator.Config) -> dirrm_club_params {
  var p = dirrm_club_params()
  dirrm_club_params_init(&p)
  switch config.kind {
  case .categorical(let c): (p.bias_kind, p.bias_dim) = (DIRRM_BIAS_CATEGORICAL, Int32(clamping: c))
  case .gaussian(let m): (p.bias_kind, p.bias_dim) = (DIRRM_BIAS_GAUSSIAN, Int32(clamping: m))
  }
  p.hidden_dim = Int32(clamping: config.hiddenDim)
  p.pair_mode = config.pairMode == .difference ? DIRRM_PAIR_DIFFERENCE : DIRRM_PAIR_CONCAT
  p.q_hidden = Int32(clamping: config.qHidden)
  p.fit_steps = Int32(clamping: config.fitSteps)
  (p.learning_rate, p.weight_decay, p.logvar_bound, p.seed) =
    (config.learningRate, config.weightDecay, config.logvarBound, config.seed)
  return p
}
