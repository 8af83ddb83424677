#ifndef DIRRM_SIMD_KERNELS_H
#define DIRRM_SIMD_KERNELS_H
/* dirrm's vector kernels (the Bradley–Terry passes and AdamW's step on float32 buffers;
   prompt-free's Newton evaluation in double), compiled once per instruction set (x86-64
   baseline, AVX2, AVX-512) and chosen at run time from the CPU's features, so that one binary
   (the wheel's) runs on any x86-64 and uses the CPU's vector instructions. C because Swift
   cannot compile one function for several instruction sets. Every variant performs the same
   operations in the same order (no contraction into FMA beyond the fused multiply-adds
   written out; the loss's blocks of four 8-float vectors and its double sum kept in 8 lanes,
   added in order; AdamW's float32 operations as torch runs them, its two fused
   multiply-adds computed by libm's fma in the baseline; prompt-free's exp with libm's bits,
   computed with glibc's own fused multiply-adds where the CPU has FMA, and by libm itself in
   the baseline), so all give the same bits; the tests check that for each variant the CPU
   runs. For the loss, the AVX-512 variant holds the double accumulator in one 512-bit
   register and gains masks and wider integer operations, not wider float arithmetic; so does
   AdamW's step (8 floats at a time). */
#include <stdint.h>

#include "blas_kernel.h"

/* The variant in use: the CPU's level (dirrm_blas_cpu_level), AVX counting as the baseline. */
DIRRM_INTERNAL dirrm_simd_level dirrm_simd_kernels_level(void);
/* Uses the variant of `level` (tests); returns 0, or -1 if the CPU lacks it. */
DIRRM_INTERNAL int dirrm_simd_kernels_use(dirrm_simd_level level);

/* Σ w_i·softplus(z_i) over i < n, z_i = rejected_i − chosen_i (+ margin_i), accumulated in
   double in 8 lanes (lane i mod 8) that are then added in lane order; w_i = 1 without
   `weight`. NaN if any chosen_i or rejected_i is not finite, whatever the weights. */
DIRRM_INTERNAL double dirrm_bt_softplus_sum(const float *chosen, const float *rejected, const float *margin,
                                            const float *weight, intptr_t n);
/* dL/dr: p_i = w_i·scale·σ(z_i) (w_i = 1 without `weight`), −p_i into `grad_chosen` and p_i
   into `grad_rejected` (n floats each); with center ≠ 0, each is first widened and shifted by
   center·(chosen_i + rejected_i) in double. σ shares e = exp(−|z|) with the loss pass's softplus
   and has the bits of dirrm_softplus_sigmoid's. The outputs
   must not overlap the inputs. */
DIRRM_INTERNAL void dirrm_bt_gradient(const float *chosen, const float *rejected, const float *margin,
                                      const float *weight, float scale, double center, float *grad_chosen,
                                      float *grad_rejected, intptr_t n);
/* AdamW's scalars for one step, each computed in double and rounded to float32 once (as torch
   rounds a Python scalar when it meets a float32 tensor): the weight decay factor 1 − lr·wd,
   1 − β1, β2, 1 − β2, −lr / (1 − β1^t), √(1 − β2^t) and ε. */
typedef struct dirrm_adamw_constants {
  float decay, one_minus_beta1, beta2, one_minus_beta2, negative_step_size, correction2, epsilon;
} dirrm_adamw_constants;
/* One AdamW step over n elements of the parameters p, gradient g and moments m and v, in float32
   as torch.optim.AdamW computes it on x86 (two fused multiply-adds; the same bits in every
   variant). An element
   whose new p, m or v would not be finite keeps all three. Returns 1 if every element was
   updated, else 0. */
DIRRM_INTERNAL int dirrm_adamw_step(float *p, const float *g, float *m, float *v, intptr_t n,
                                    const dirrm_adamw_constants *k);
/* For j < k, exps_j = e^−|gaps_j − d|, with the bits of libm's exp (computed by a vector
   kernel when it agrees with the process's libm, see dirrm_pf_exp_kernel), and sigmoids_j =
   σ(−|gaps_j − d|) = exps_j / (1 + exps_j), in every variant (prompt-free's Newton iteration). Returns min |gaps_j − d| over weights_j > 0 (+∞ if none). */
DIRRM_INTERNAL double dirrm_neg_distance_sigmoid(const double *gaps, const double *weights, double d, double *exps,
                                                 double *sigmoids, intptr_t k);
/* Prompt-free's Newton evaluation for four rows of k gaps, stored interleaved (gap j of row r at
   gaps[4j + r], its weight at weights[4j + r]), at the points at[0..<4]; `tails` is work
   space of 4k. out[r], out[4 + r], ... receive row r's nearest weighted |gap − d|, e^nearest,
   the sign sum (high, low), the tail sum (high, low) and the slope, with the bits of the
   scalar code (PromptFreeRoot.swift); meaningful only where nearest ≤ 600. */
DIRRM_INTERNAL void dirrm_pf_excess4(const double *gaps, const double *weights, const double *at, intptr_t k,
                                     double *tails, double *out);
/* `order` (a permutation of 0..<k) reordered by descending gaps[order[p]], stably; `keys` and
   `ranked` are work space of k elements. The same result in every variant, for finite gaps. */
DIRRM_INTERNAL void dirrm_rank_descending(const double *gaps, int64_t *order, double *keys, int64_t *ranked,
                                          intptr_t k);
/* 1 if prompt-free's kernels compute exp with the vector kernel (it gave the bits of this
   process's libm on probe arguments: glibc 2.28 or later on a CPU with FMA), 0 if they call
   libm. */
DIRRM_INTERNAL int dirrm_pf_exp_kernel(void);
/* softplus(x_i) and σ(x_i) (tests: the error over the float range). */
DIRRM_INTERNAL void dirrm_softplus_sigmoid(const float *x, float *softplus, float *sigmoid, intptr_t n);
#endif
