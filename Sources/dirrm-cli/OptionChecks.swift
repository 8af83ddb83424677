import DirRMCore

/// The CLI's options go through the same rules as the C API's structs (the core's
/// validate()), so an option the library would refuse is an error message here, not a trap.
enum OptionChecks {
  static func settings(_ settings: Trainer.Settings, for data: PreferenceDataset, width: Int) throws {
    do {
      try settings.validate(for: data, width: width)
    } catch {
      throw CLIError(described(error))
    }
  }

  /// The library's working-set probe (Workspace.reserve), its refusal in the user's words.
  static func reserve(_ bytes: Int?, _ refusal: @autoclosure () -> String) throws {
    guard (try? Workspace.reserve(bytes, for: "")) != nil else { throw CLIError(refusal()) }
  }

  /// The C API's working-set check (dirrm_train's): the model, its optimizer, one step's
  /// pass and DIR's estimator must fit before any of them is built.
  static func memory(_ settings: Trainer.Settings, shape: RewardModel<Float>.Shape, data: PreferenceDataset)
    throws
  {
    let bytes = settings.workBytes(
      shape: shape, pairs: data.pairs.count, prompts: data.promptCount, keepsLog: true)
    try reserve(
      bytes,
      "not enough memory to train this model: \(bytes.map { "\($0) bytes" } ?? "more than an address space") "
        + "for the model (width \(shape.width), depth \(shape.depth)), its optimizer, one step, DIR's estimator and the log"
    )
  }

  /// The evaluation's working set (dirrm_evaluate's check).
  static func evaluation(_ model: RewardModel<Float>, pairs: Int) throws {
    try reserve(Evaluation.workBytes(model, pairs: pairs), "not enough memory to evaluate \(pairs) pairs")
  }

  /// A training failure in the user's words (the core's enum spelled out).
  static func described(_ error: NumericError) -> CLIError {
    switch error {
    case .overflow(let text): CLIError("training diverged: \(text)")
    case .notConverged(let text): CLIError("did not converge: \(text)")
    case .internalFailure(let text): CLIError("internal error (please report it): \(text)")
    }
  }

  static func shape(_ shape: RewardModel<Float>.Shape) throws {
    do {
      try shape.validate()
    } catch {
      throw CLIError(described(error, otherwise: "model shape"))
    }
  }

  /// A rule the value of an option breaks, naming the option the user typed and, for the C
  /// API's readers, the header's field: "invalid --lambda: dir.lambda = -1.0 must be >= 0".
  static func described(_ error: ConfigError, otherwise: String = "training option") -> String {
    let option = TrainingOptions.optionOfField.first { $0.field == error.field }?.option
    return "invalid \(option ?? otherwise): \(error.message(prefix: ""))"
  }
}
