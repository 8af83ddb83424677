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

extension Double {
  /// Whether the value survives conversion to Float as a finite number.
  @inlinable
  public var fitsInFloat: Bool {
    self.isFinite && Swift.abs(self) <= Double(Float.greatestFiniteMagnitude)
  }
}
