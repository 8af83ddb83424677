import _Builtin_intrinsics.intel

/// Vector operations that Swift's SIMD types do not compile to vector instructions on their
/// own: SIMD's `squareRoot()` goes lane by lane through libm's `sqrtf`, which is most of the
/// cost of an AdamW step. SSE's sqrtps is part of the x86-64 baseline and correctly rounded.
enum Vector16 {
  typealias Value = SIMD16<Float>

  @inline(__always)
  static func squareRoot(_ x: Value) -> Value {
    Value(
      lowHalf: SIMD8(lowHalf: _mm_sqrt_ps(x.lowHalf.lowHalf), highHalf: _mm_sqrt_ps(x.lowHalf.highHalf)),
      highHalf: SIMD8(lowHalf: _mm_sqrt_ps(x.highHalf.lowHalf), highHalf: _mm_sqrt_ps(x.highHalf.highHalf)))
  }
}
