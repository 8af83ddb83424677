import Glibc

/// Elementwise functions evaluated without overflow for any finite argument.
public enum Stable {
  /// log(1 + e^x): for large |x| the naive form overflows (x > 709) or loses all digits.
  @inlinable
  public static func softplus(_ x: Double) -> Double {
    x > 0 ? x + log1p(exp(-x)) : log1p(exp(x))
  }

  /// 1 / (1 + e^-x), written so that exp never sees a positive argument.
  @inlinable
  public static func sigmoid(_ x: Double) -> Double {
    if x >= 0 {
      return 1 / (1 + exp(-x))
    }
    let e = exp(x)
    return e / (1 + e)
  }
}
