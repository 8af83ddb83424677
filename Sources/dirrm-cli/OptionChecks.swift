import DirRMCore

/// The CLI's options go through the same rules as the C API's structs (the core's
/// validate()), so an option the library would refuse is an error message here, not a trap.
enum OptionChecks {
  static func settings(_ settings: Trainer.Settings, for data: PreferenceDataset, width: Int) throws {
    do {
      try settings.validate(for: data, width: width)
    } catch {
      throw CLIError("invalid training option: \(error.message(prefix: ""))")
    }
  }

  static func shape(_ shape: RewardModel<Float>.Shape) throws {
    do {
      try shape.validate()
    } catch {
      throw CLIError("invalid model shape: \(error.message(prefix: ""))")
    }
  }
}
