import COpenBLAS

/// A scalar type OpenBLAS multiplies: Float (training) and Double (gradient checks).
public protocol BLASScalar: BinaryFloatingPoint, Sendable {
  /// Which OpenBLAS routine multiplies this type.
  static var gemmRoutine: GemmRoutine { get }
}

/// The OpenBLAS matrix product for one scalar type, named rather than exposed as a
/// pointer-taking requirement so the core's public API carries no pointers.
public enum GemmRoutine: Sendable {
  case single, double
}

extension Float: BLASScalar {
  public static var gemmRoutine: GemmRoutine { .single }
}

extension Double: BLASScalar {
  public static var gemmRoutine: GemmRoutine { .double }
}

/// Row-major matrix products through OpenBLAS: the core's one performance kernel that
/// touches pointers (OpenBLAS's C interface takes nothing else). Callers pass arrays and
/// element offsets; every operand is checked to hold its shape before a pointer exists.
enum BLAS {
  /// C (m × n) = op(A) · op(B) + beta · C on arrays, each operand starting at its offset, with
  /// op(A) m × k and op(B) k × n. Dimensions are checked at the C boundary to fit OpenBLAS's
  /// 32-bit integers.
  static func gemm<T: BLASScalar>(
    transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
    _ a: [T], aOffset: Int = 0, _ b: [T], bOffset: Int = 0, beta: T, _ c: inout [T], cOffset: Int = 0
  ) {
    precondition(
      aOffset >= 0 && bOffset >= 0 && cOffset >= 0 && a.count - aOffset >= m * k
        && b.count - bOffset >= k * n && c.count - cOffset >= m * n,
      "BLAS.gemm: an operand is shorter than its shape")
    precondition(
      MemoryLayout<T>.size == (T.gemmRoutine == .single ? 4 : 8),
      "BLASScalar: \(T.self) names the wrong routine")
    guard m > 0, n > 0 else { return }
    guard k > 0 else {
      // BLAS leaves C alone when k = 0 only with beta = 1; make the empty sum explicit.
      for i in cOffset..<(cOffset + m * n) { c[i] *= beta }
      return
    }
    let (ta, tb) = (transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans)
    let (lda, ldb) = (blasint(transposeA ? m : k), blasint(transposeB ? k : n))
    let (rows, columns, depth) = (blasint(m), blasint(n), blasint(k))
    a.withUnsafeBufferPointer { pa in
      b.withUnsafeBufferPointer { pb in
        c.withUnsafeMutableBufferPointer { pc in
          let (a0, b0, c0) = (
            pa.baseAddress.unsafelyUnwrapped + aOffset, pb.baseAddress.unsafelyUnwrapped + bOffset,
            pc.baseAddress.unsafelyUnwrapped + cOffset
          )
          switch T.gemmRoutine {
          case .single:
            a0.withMemoryRebound(to: Float.self, capacity: m * k) { fa in
              b0.withMemoryRebound(to: Float.self, capacity: k * n) { fb in
                c0.withMemoryRebound(to: Float.self, capacity: m * n) { fc in
                  cblas_sgemm(
                    CblasRowMajor, ta, tb, rows, columns, depth, 1, fa, lda, fb, ldb, Float(beta), fc, columns
                  )
                }
              }
            }
          case .double:
            a0.withMemoryRebound(to: Double.self, capacity: m * k) { da in
              b0.withMemoryRebound(to: Double.self, capacity: k * n) { db in
                c0.withMemoryRebound(to: Double.self, capacity: m * n) { dc in
                  cblas_dgemm(
                    CblasRowMajor, ta, tb, rows, columns, depth, 1, da, lda, db, ldb, Double(beta), dc,
                    columns)
                }
              }
            }
          }
        }
      }
    }
  }
}
