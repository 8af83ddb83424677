import SIMDKernels
import XCTest

/// The SIMDKernels variants this CPU runs, for tests that compare them.
enum SIMDVariants {
  /// Every variant this CPU runs, the baseline first.
  static var levels: [dirrm_simd_level] {
    [DIRRM_SIMD_SSE, DIRRM_SIMD_AVX2, DIRRM_SIMD_AVX512].filter {
      $0.rawValue <= dirrm_blas_cpu_level().rawValue
    }
  }

  /// Runs `body` with each variant in turn, then restores the one in use.
  static func forEach(_ body: (dirrm_simd_level) -> Void) {
    let inUse = dirrm_simd_kernels_level()
    defer { XCTAssertEqual(dirrm_simd_kernels_use(inUse), 0) }
    for level in levels {
      XCTAssertEqual(dirrm_simd_kernels_use(level), 0)
      XCTAssertEqual(dirrm_simd_kernels_level(), level)
      body(level)
    }
  }
}
