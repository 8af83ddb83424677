import COpenBLAS

/// A scalar type OpenBLAS multiplies: Float (training) and Double (gradient checks).
public protocol BLASScalar: BinaryFloatingPoint, Sendable {
  static func gemmKernel(
    _ transA: CBLAS_TRANSPOSE, _ transB: CBLAS_TRANSPOSE, _ m: blasint, _ n: blasint, _ k: blasint,
    _ a: UnsafePointer<Self>, _ lda: blasint, _ b: UnsafePointer<Self>, _ ldb: blasint, _ beta: Self,
    _ c: UnsafeMutablePointer<Self>, _ ldc: blasint)
}

extension Float: BLASScalar {
  public static func gemmKernel(
    _ transA: CBLAS_TRANSPOSE, _ transB: CBLAS_TRANSPOSE, _ m: blasint, _ n: blasint, _ k: blasint,
    _ a: UnsafePointer<Float>, _ lda: blasint, _ b: UnsafePointer<Float>, _ ldb: blasint, _ beta: Float,
    _ c: UnsafeMutablePointer<Float>, _ ldc: blasint
  ) {
    cblas_sgemm(CblasRowMajor, transA, transB, m, n, k, 1, a, lda, b, ldb, beta, c, ldc)
  }
}

extension Double: BLASScalar {
  public static func gemmKernel(
    _ transA: CBLAS_TRANSPOSE, _ transB: CBLAS_TRANSPOSE, _ m: blasint, _ n: blasint, _ k: blasint,
    _ a: UnsafePointer<Double>, _ lda: blasint, _ b: UnsafePointer<Double>, _ ldb: blasint, _ beta: Double,
    _ c: UnsafeMutablePointer<Double>, _ ldc: blasint
  ) {
    cblas_dgemm(CblasRowMajor, transA, transB, m, n, k, 1, a, lda, b, ldb, beta, c, ldc)
  }
}

/// Row-major matrix products through OpenBLAS: the core's one performance kernel that
/// touches pointers (OpenBLAS's C interface takes nothing else). Callers pass arrays and
/// element offsets; the array form checks that every operand fits before handing out pointers.
enum BLAS {
  /// C (m × n) = op(A) · op(B) + beta · C, with op(A) m × k and op(B) k × n. Dimensions are
  /// checked at the C boundary to fit OpenBLAS's 32-bit integers.
  private static func gemm<T: BLASScalar>(
    transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
    a: UnsafePointer<T>, b: UnsafePointer<T>, beta: T, c: UnsafeMutablePointer<T>
  ) {
    guard m > 0, n > 0 else { return }
    guard k > 0 else {
      // BLAS leaves C alone when k = 0 only with beta = 1; make the empty sum explicit.
      for i in 0..<(m * n) { c[i] *= beta }
      return
    }
    T.gemmKernel(
      transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
      blasint(m), blasint(n), blasint(k), a, blasint(transposeA ? m : k), b,
      blasint(transposeB ? k : n), beta, c, blasint(n))
  }

  /// C = op(A) · op(B) + beta · C on arrays, each operand starting at its offset.
  static func gemm<T: BLASScalar>(
    transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
    _ a: [T], aOffset: Int = 0, _ b: [T], bOffset: Int = 0, beta: T, _ c: inout [T], cOffset: Int = 0
  ) {
    precondition(
      aOffset >= 0 && bOffset >= 0 && cOffset >= 0 && a.count - aOffset >= m * k
        && b.count - bOffset >= k * n && c.count - cOffset >= m * n,
      "BLAS.gemm: an operand is shorter than its shape")
    a.withUnsafeBufferPointer { pa in
      b.withUnsafeBufferPointer { pb in
        c.withUnsafeMutableBufferPointer { pc in
          gemm(
            transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
            a: pa.baseAddress.unsafelyUnwrapped + aOffset, b: pb.baseAddress.unsafelyUnwrapped + bOffset, beta: beta,
            c: pc.baseAddress.unsafelyUnwrapped + cOffset)
        }
      }
    }
  }
}
