import CDirRM
import DirRMCore

@c @implementation
public func dirrm_dir_params_init(_ p: UnsafeMutablePointer<dirrm_dir_params>?) {
  p?.pointee = params(of: DIRLoss.Settings.defaults)
}

/// The parameter struct of a DIR policy (dirrm_dir_params_init, the trainer's defaults).
func params(of settings: DIRLoss.Settings) -> dirrm_dir_params {
  dirrm_dir_params(
    struct_size: UInt32(MemoryLayout<dirrm_dir_params>.size), lambda: settings.lambda,
    clip: settings.clip ? 1 : 0, cap: settings.cap ? 1 : 0, club: params(of: settings.club))
}

/// The loss-level fields of a policy (lambda, clip, cap) over the estimator `club`, checked.
func dirPolicy(_ p: dirrm_dir_params, club: ClubEstimator.Config, _ name: String) throws(ABIError)
  -> DIRLoss.Settings
{
  try Check.oneOf(p.clip, 0...1, "\(name)clip", "0/1")
  try Check.oneOf(p.cap, 0...1, "\(name)cap", "0/1")
  let settings = DIRLoss.Settings(lambda: p.lambda, clip: p.clip == 1, cap: p.cap == 1, club: club)
  try validated(name) { () throws(ConfigError) in try settings.validateLoss() }
  return settings
}

/// A whole policy, its estimator included. `hiddenDim` stands in for club.hidden_dim where
/// the caller decides it (the trainer: the model's width), so that the other fields are checked.
func dirSettings(_ p: dirrm_dir_params, _ name: String, hiddenDim: Int32? = nil) throws(ABIError)
  -> DIRLoss.Settings
{
  guard p.club.struct_size == UInt32(MemoryLayout<dirrm_club_params>.size) else {
    throw ABIError(
      DIRRM_ERR_VERSION, "\(name)club.struct_size = \(p.club.struct_size): fill it with dirrm_dir_params_init"
    )
  }
  var club = p.club
  if let hiddenDim { club.hidden_dim = hiddenDim }
  return try dirPolicy(p, club: try clubConfig(club, "\(name)club."), name)
}
