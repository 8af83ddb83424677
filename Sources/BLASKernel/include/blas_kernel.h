#ifndef DIRRM_BLAS_KERNEL_H
#define DIRRM_BLAS_KERNEL_H
/* Which OpenBLAS kernels run dirrm's products, and who chose them. C because the choice
   needs cpuid/xgetbv and must run when the library loads, before any product. */

/* The widest vector instructions this CPU and its OS both support. */
typedef enum dirrm_simd_level {
  DIRRM_SIMD_SSE = 0,     /* x86-64 baseline (or not x86) */
  DIRRM_SIMD_AVX = 1,
  DIRRM_SIMD_AVX2 = 2,    /* AVX2 and FMA */
  DIRRM_SIMD_AVX512 = 3   /* AVX-512 F, CD, DQ, BW and VL */
} dirrm_simd_level;

/* Who chose the kernels in use. */
typedef enum dirrm_blas_chooser {
  DIRRM_BLAS_BY_OPENBLAS = 0,     /* OpenBLAS's own CPU table; it matched the CPU's features */
  DIRRM_BLAS_BY_ENVIRONMENT = 1,  /* the caller's OPENBLAS_CORETYPE, never overridden */
  DIRRM_BLAS_BY_DIRRM = 2,        /* OpenBLAS fell back below the CPU's features; dirrm
                                     switched it to the kernels of the CPU's class */
  DIRRM_BLAS_FIXED = 3            /* OpenBLAS was built for one CPU: nothing to choose */
} dirrm_blas_chooser;

#define DIRRM_INTERNAL __attribute__((visibility("hidden")))
DIRRM_INTERNAL dirrm_simd_level dirrm_blas_cpu_level(void);
/* The kernels in use (OpenBLAS's core name, e.g. "Haswell"). */
DIRRM_INTERNAL const char *dirrm_blas_core(void);
/* The kernels OpenBLAS had chosen before dirrm switched them; "" when it did not. */
DIRRM_INTERNAL const char *dirrm_blas_replaced_core(void);
DIRRM_INTERNAL dirrm_blas_chooser dirrm_blas_chooser_kind(void);
/* The kernels of this CPU's class (AVX-512: "SkylakeX", AVX2: "Haswell", AVX: "Sandybridge";
   "" below AVX), the ones dirrm switches a fallback to. */
DIRRM_INTERNAL const char *dirrm_blas_class_core(void);
#endif
