import COpenBLAS

/// Row-major single-precision matrix products through OpenBLAS.
enum BLAS {
  /// C (m × n) = op(A) · op(B) + beta · C, with op(A) m × k and op(B) k × n. Dimensions are
  /// checked at the C boundary to fit OpenBLAS's 32-bit integers.
  static func gemm(
    transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
    a: UnsafePointer<Float>, b: UnsafePointer<Float>, beta: Float, c: UnsafeMutablePointer<Float>
  ) {
    guard m > 0, n > 0 else { return }
    guard k > 0 else {
      // BLAS leaves C alone when k = 0 only with beta = 1; make the empty sum explicit.
      for i in 0..<(m * n) { c[i] *= beta }
      return
    }
    cblas_sgemm(
      CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
      blasint(m), blasint(n), blasint(k), 1, a, blasint(transposeA ? m : k), b,
      blasint(transposeB ? k : n), beta, c, blasint(n))
  }
}
