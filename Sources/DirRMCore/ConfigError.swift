/// A value that breaks a documented rule (an option outside its range, an array of the wrong
/// length, an index outside its table). `field` is the field's name ("q_hidden",
/// "club.fit_steps", "bias[3]"), the same in Swift and in the header, so each front end adds
/// its own path ("p->", "--") and every front end states the same rule. `kind` says what sort
/// of mistake it is; each front end decides what that means to its caller (the C API, a
/// status).
public struct ConfigError: Error, Equatable {
  public enum Kind: Equatable, Sendable {
    /// A value outside what its rule allows.
    case invalid
    /// NaN or an infinity where a number is needed.
    case nonFinite
    /// Sizes that disagree with each other or exceed what one call can take.
    case shape
  }

  public var field: String
  public var reason: String
  public var kind: Kind

  public init(_ field: String, _ reason: String, kind: Kind = .invalid) {
    self.field = field
    self.reason = reason
    self.kind = kind
  }

  /// The message with the caller's spelling of the field: "p->" + "q_hidden = -2 is ...".
  public func message(prefix: String) -> String { "\(prefix)\(field) \(reason)" }

  /// The same error for a field nested in a larger configuration ("club." + field).
  func nested(in parent: String) -> ConfigError {
    ConfigError(parent + field, reason, kind: kind)
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
      throw ConfigError(field, "is \(value.isNaN ? "nan" : "\(value)")", kind: .nonFinite)
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
