/// float32 softplus and sigmoid on eight lanes, stable for every float argument, to a few
/// ulp of the double functions in `Stable` (VectorMathTests measures the error over the whole
/// float range). libm's scalar double `exp` and `log1p` were nearly all of `bt_loss`'s time.
///
/// Both rest on e = exp(−|x|) ∈ [0, 1], which never overflows:
///   softplus(x) = max(x, 0) + log1p(e),   σ(x) = 1/(1 + e) for x ≥ 0, e/(1 + e) for x < 0.
public enum VectorMath {
  typealias Value = SIMD8<Float>
  typealias Bits = SIMD8<Int32>

  @inline(__always)
  static func softplus(_ x: Value) -> Value {
    let e = expOfNonPositive(negativeMagnitude(x))
    return x.replacing(with: 0, where: x .< 0) + log1pOfUnit(e)
  }

  @inline(__always)
  static func sigmoid(_ x: Value) -> Value {
    let e = expOfNonPositive(negativeMagnitude(x))
    let r = 1 / (1 + e)
    return r.replacing(with: e * r, where: x .< 0)
  }

  /// Both at once, sharing the exponential.
  @inline(__always)
  static func softplusAndSigmoid(_ x: Value) -> (softplus: Value, sigmoid: Value) {
    let e = expOfNonPositive(negativeMagnitude(x))
    let r = 1 / (1 + e)
    let negative = x .< 0
    return (x.replacing(with: 0, where: negative) + log1pOfUnit(e), r.replacing(with: e * r, where: negative))
  }

  /// −|x|, by setting the sign bit (bit casts between same-sized vectors are plain moves).
  @inline(__always)
  static func negativeMagnitude(_ x: Value) -> Value {
    unsafeBitCast(unsafeBitCast(x, to: Bits.self) | Int32.min, to: Value.self)
  }

  /// e^a for a ≤ 0 (Cephes' expf): a = k·ln2 + r with |r| ≤ ln2/2, e^r by a degree-7
  /// polynomial, then 2^k applied in two halves so that results down to the subnormals
  /// (k ≥ −150) round once each instead of flushing to zero. Below −104 the result is
  /// under half the smallest subnormal, so the argument is clamped there.
  @inline(__always)
  static func expOfNonPositive(_ a: Value) -> Value {
    let a = a.replacing(with: -104, where: a .< -104)
    // Adding 1.5·2^23 rounds to an integer (to nearest) and leaves it in the low mantissa bits.
    let shifter = Value(repeating: 12_582_912)
    let shifted = a * 1.442_695_040_888_963_4 + shifter
    let k = shifted - shifter
    // ln2 in two parts; k·0.693359375 is exact for |k| < 2^15, so r has no cancellation error.
    let r = (a - k * 0.693_359_375) + k * 2.121_944_400_546_905_8e-4
    var p = Value(repeating: 1.987_569_150_0e-4)
    p = p * r + 1.398_199_950_7e-3
    p = p * r + 8.333_451_907_3e-3
    p = p * r + 4.166_579_589_4e-2
    p = p * r + 1.666_666_545_9e-1
    p = p * r + 5.000_000_120_1e-1
    let er = p * (r * r) + r + 1
    let ki = unsafeBitCast(shifted, to: Bits.self) &- unsafeBitCast(shifter, to: Bits.self)
    let half = ki &>> 1
    let rest = ki &- half
    let scaleHalf = unsafeBitCast((half &+ 127) &<< 23, to: Value.self)
    let scaleRest = unsafeBitCast((rest &+ 127) &<< 23, to: Value.self)
    return er * scaleHalf * scaleRest
  }

  /// log(1 + e) for e ∈ [0, 1] as 2·atanh(s), s = e/(2 + e) ∈ [0, 1/3]: an odd series in s
  /// whose terms fall by 1/9 at least, so eight terms reach float precision, with no
  /// cancellation at small e (log1p(e) → e) and no argument reduction.
  @inline(__always)
  static func log1pOfUnit(_ e: Value) -> Value {
    let s = e / (2 + e)
    let s2 = s * s
    var q = Value(repeating: 1 / 15)
    q = q * s2 + 1 / 13
    q = q * s2 + 1 / 11
    q = q * s2 + 1 / 9
    q = q * s2 + 1 / 7
    q = q * s2 + 1 / 5
    q = q * s2 + 1 / 3
    return (s + s) + (s + s) * (q * s2)
  }
}

extension VectorMath {
  /// Whether every element is finite: x − x is 0 for finite x and NaN for ±inf and NaN, and
  /// NaN survives any sum, so one subtraction and one addition per lane replace a branch per
  /// element. The argument checks call it first and search for the culprit only if it fails.
  /// Unsafe only in reading full 16-float vectors that end at or before `values.count`.
  public static func allFinite(_ values: UnsafeBufferPointer<Float>) -> Bool {
    typealias Wide = SIMD16<Float>
    var sum = Wide()
    var i = 0
    if let base = UnsafeRawPointer(values.baseAddress) {
      while i + Wide.scalarCount <= values.count {
        let x = base.loadUnaligned(fromByteOffset: i * MemoryLayout<Float>.stride, as: Wide.self)
        sum += x - x
        i += Wide.scalarCount
      }
    }
    var finite = sum == Wide()
    while i < values.count {
      finite = finite && values[i].isFinite
      i += 1
    }
    return finite
  }
}
