/// A value that breaks a documented rule (an option outside its range, an array of the wrong
/// length, an index outside its table): the C API's INVALID_ARGUMENT (or NONFINITE for a NaN
/// or infinity). `field` is the header's name for it ("q_hidden", "club.fit_steps",
/// "bias[3]"), so each front end adds its own path ("p->", "--") and every front end states
/// the same rule.
public struct ConfigError: Error, Equatable {
  public var field: String
  public var reason: String
  public var isNonFinite: Bool

  public init(_ field: String, _ reason: String, nonFinite: Bool = false) {
    self.field = field
    self.reason = reason
    self.isNonFinite = nonFinite
  }

  /// The message with the caller's spelling of the field: "p->" + "q_hidden = -2 is ...".
  public func message(prefix: String) -> String { "\(prefix)\(field) \(reason)" }

  /// The same error for a field nested in a larger configuration ("club." + field).
  func nested(in parent: String) -> ConfigError {
    ConfigError(parent + field, reason, nonFinite: isNonFinite)
  }
}

/// The checks every configuration's `validate()` is written with.
enum Rule {
  static func range(_ value: Int, _ allowed: ClosedRange<Int>, _ field: String) throws(ConfigError) {
    guard allowed.contains(value) else {
      throw ConfigError(field, "= \(value) is outside [\(allowed.lowerBound), \(allowed.upperBound)]")
    }
  }

  static func finite<F: BinaryFloatingPoint>(_ value: F, _ field: String) throws(ConfigError) {
    guard value.isFinite else {
      throw ConfigError(field, "is \(value.isNaN ? "nan" : "\(value)")", nonFinite: true)
    }
  }

  static func positive<F: BinaryFloatingPoint>(_ value: F, _ field: String) throws(ConfigError) {
    try finite(value, field)
    guard value > 0 else { throw ConfigError(field, "= \(value) must be > 0") }
  }

  static func nonNegative<F: BinaryFloatingPoint>(_ value: F, _ field: String) throws(ConfigError) {
    try finite(value, field)
    guard value >= 0 else { throw ConfigError(field, "= \(value) must be >= 0") }
  }

  static func unitInterval<F: BinaryFloatingPoint>(_ value: F, _ field: String) throws(ConfigError) {
    try finite(value, field)
    guard value >= 0, value <= 1 else { throw ConfigError(field, "= \(value) is outside [0, 1]") }
  }

  /// Runs a nested configuration's checks, naming its fields under `parent`.
  static func nested(_ parent: String, _ body: () throws(ConfigError) -> Void) throws(ConfigError) {
    do { try body() } catch { throw error.nested(in: parent) }
  }
}
