#ifndef DIRRM_SIMD_KERNELS_H
#define DIRRM_SIMD_KERNELS_H
/* dirrm's element-wise float32 kernels, compiled once per instruction set (x86-64 baseline,
   AVX2, AVX-512) and chosen at run time from the CPU's features, so that one binary (the
   wheel's) runs on any x86-64 and uses the CPU's vector instructions. C because Swift cannot
   compile one function for several instruction sets. Every variant performs the same float
   operations in the same order (no contraction into FMA, eight float lanes, the double sum's
   lanes added in order), so all give the same bits; the tests check that. Eight lanes is one
   AVX2 register; the AVX-512 variant holds the double accumulator in one 512-bit register
   and gains its masks and wider integer operations, not wider float arithmetic. */
#include <stdint.h>

#include "blas_kernel.h"

/* The variant in use: the CPU's level (dirrm_blas_cpu_level), AVX counting as the baseline. */
DIRRM_INTERNAL dirrm_simd_level dirrm_simd_kernels_level(void);
/* Uses the variant of `level` (tests); returns 0, or -1 if the CPU lacks it. */
DIRRM_INTERNAL int dirrm_simd_kernels_use(dirrm_simd_level level);

/* Σ w_i·softplus(z_i) over i < n, z_i = rejected_i − chosen_i (+ margin_i), accumulated in
   double in 8 lanes (lane i mod 8) that are then added in lane order; w_i = 1 without
   `weight`. σ(z_i) into `sigmoid` (n floats) unless it is NULL. */
DIRRM_INTERNAL double dirrm_bt_softplus_sum(const float *chosen, const float *rejected, const float *margin,
                                            const float *weight, float *sigmoid, intptr_t n);
/* p_i = w_i·scale·σ_i (w_i = 1 without `weight`), σ_i read from `rejected`: −p_i into
   `chosen`, p_i into `rejected` (n floats each). */
DIRRM_INTERNAL void dirrm_bt_pull(const float *weight, float scale, float *chosen, float *rejected, intptr_t n);
/* softplus(x_i) and σ(x_i) (tests: the error over the float range). */
DIRRM_INTERNAL void dirrm_softplus_sigmoid(const float *x, float *softplus, float *sigmoid, intptr_t n);
#endif
