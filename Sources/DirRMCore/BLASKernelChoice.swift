import BLASKernel
import SIMDKernels

/// Which OpenBLAS kernels multiply dirrm's matrices, as chosen when the library loaded
/// (Sources/BLASKernel: OpenBLAS's choice, the caller's `OPENBLAS_CORETYPE`, or dirrm's
/// correction of a fallback below the CPU's instruction set).
public enum BLASKernelChoice {
  /// OpenBLAS's name of the kernels in use, e.g. "Haswell".
  public static var core: String { String(cString: dirrm_blas_core()) }

  /// Who chose them: "openblas", "OPENBLAS_CORETYPE", "dirrm" or "fixed" (a build for one CPU).
  public static var chooser: String {
    switch dirrm_blas_chooser_kind() {
    case DIRRM_BLAS_BY_ENVIRONMENT: "OPENBLAS_CORETYPE"
    case DIRRM_BLAS_BY_DIRRM: "dirrm"
    case DIRRM_BLAS_FIXED: "fixed"
    default: "openblas"
    }
  }

  /// The kernels OpenBLAS had picked before dirrm replaced them; empty when it did not.
  public static var replaced: String { String(cString: dirrm_blas_replaced_core()) }

  /// The kernels of this CPU's class ("SkylakeX", "Haswell", "Sandybridge"; empty below AVX).
  public static var classCore: String { String(cString: dirrm_blas_class_core()) }

  /// The widest vector instruction set this CPU and OS support: "sse", "avx", "avx2", "avx512".
  public static var cpuLevel: String { name(dirrm_blas_cpu_level()) }

  /// The variant of dirrm's own vector kernels in use (SIMDKernels): "sse" (the x86-64
  /// baseline), "avx2" or "avx512".
  public static var kernelLevel: String { name(dirrm_simd_kernels_level()) }
  /// How prompt-free's kernels compute exp: "vector" (their own kernel, which gave this
  /// process's libm's bits on probe arguments) or "libm".
  public static var pfExp: String { dirrm_pf_exp_kernel() != 0 ? "vector" : "libm" }

  static func name(_ level: dirrm_simd_level) -> String {
    switch level {
    case DIRRM_SIMD_AVX512: "avx512"
    case DIRRM_SIMD_AVX2: "avx2"
    case DIRRM_SIMD_AVX: "avx"
    default: "sse"
    }
  }
}
