/// Failures of the mathematics itself, for inputs that are individually valid.
public enum NumericError: Error, Equatable {
  /// A result that does not fit in float32; the string says which.
  case overflow(String)
  /// An iteration that did not reach its tolerance within its budget.
  case notConverged(String)
  /// A rule that dirrm's own code broke (a value it built itself failed a check): a bug,
  /// reported as a status rather than a trap so that the caller's process survives it.
  case internalFailure(String)
}

extension NumericError {
  /// `value` as a float32 result, or .overflow naming `what`. The estimator's outputs are the
  /// ones that grow without bound, when q diverges.
  public static func float32(_ value: Double, _ what: String) throws(NumericError) -> Float {
    guard value.fitsInFloat else {
      throw .overflow("\(what) (\(value)) does not fit in float32; q may have diverged")
    }
    return Float(value)
  }

  /// Each value as a float32 result, or .overflow naming the first that does not fit.
  public static func float32(_ values: [Double], _ what: String) throws(NumericError) -> [Float] {
    for (i, v) in values.enumerated() { _ = try float32(v, "\(what)[\(i)]") }
    return values.map { Float($0) }
  }
}

extension Double {
  /// Whether the value survives conversion to Float as a finite number.
  @inlinable
  public var fitsInFloat: Bool {
    self.isFinite && Swift.abs(self) <= Double(Float.greatestFiniteMagnitude)
  }
}
