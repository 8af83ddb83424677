import CDirRM
import DirRMCore

@c @implementation
public func dirrm_dir_params_init(_ p: UnsafeMutablePointer<dirrm_dir_params>?) {
  fillDefaults(p) { params(of: DIRLoss.Settings.defaults) }
}

/// The parameter struct of a DIR policy (dirrm_dir_params_init, the trainer's defaults).
func params(of settings: DIRLoss.Settings) -> dirrm_dir_params {
  dirrm_dir_params(
    struct_size: UInt32(MemoryLayout<dirrm_dir_params>.size), lambda: settings.lambda,
    clip: settings.clip ? 1 : 0, cap: settings.cap ? 1 : 0, club: params(of: settings.club))
}

/// The policy a parameter struct describes over the estimator `club`: 0/1 flags checked as
/// C values, every rule left to the core.
func dirPolicy(_ p: dirrm_dir_params, club: ClubEstimator.Config, _ name: String) throws(ABIError)
  -> DIRLoss.Settings
{
  try Check.oneOf(p.clip, 0...1, "\(name)clip", "0/1")
  try Check.oneOf(p.cap, 0...1, "\(name)cap", "0/1")
  return DIRLoss.Settings(lambda: p.lambda, clip: p.clip == 1, cap: p.cap == 1, club: club)
}

/// A whole policy, its estimator included, converted but not checked: the trainer's
/// `Trainer.Settings.validate(for:width:)` checks it with club.hidden_dim set to the model's
/// width, which it is in training whatever the struct says.
func dirSettings(_ p: dirrm_dir_params, _ name: String) throws(ABIError) -> DIRLoss.Settings {
  guard p.club.struct_size == UInt32(MemoryLayout<dirrm_club_params>.size) else {
    throw ABIError(
      DIRRM_ERR_VERSION, "\(name)club.struct_size = \(p.club.struct_size): fill it with dirrm_dir_params_init"
    )
  }
  return try dirPolicy(p, club: try clubConfig(p.club, "\(name)club."), name)
}
