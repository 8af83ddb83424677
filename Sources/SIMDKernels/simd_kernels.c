/* The Bradley–Terry loss's per-pair passes and the stable softplus and sigmoid they rest on,
   on blocks of float32 lanes, AdamW's step, and prompt-free's Newton evaluation, once per
   instruction set (see simd_kernels.h).

   The loss's functions rest on e = exp(−|x|) ∈ [0, 1], which never overflows:
     softplus(x) = max(x, 0) + log1p(e),   σ(x) = 1/(1 + e) for x ≥ 0, e/(1 + e) for x < 0.
   The error over the whole float range is measured by SIMDKernelsTests (a few ulp of the
   double functions), for every variant the CPU runs. */
#include "simd_kernels.h"

#include <math.h>
#include <string.h>

#include "exp_table.h"

/* a·b + c must stay two roundings in every variant unless written as a fused multiply-add
   (__builtin_elementwise_fma, one rounding everywhere: libm's fma in the baseline), or AVX2's
   FMA would change the bits; and x − x must stay NaN for a non-finite x, which the finiteness
   checks rest on. */
#pragma clang fp contract(off)
#pragma clang fp reassociate(off)
#if defined(__FAST_MATH__) || (defined(__FINITE_MATH_ONLY__) && __FINITE_MATH_ONLY__)
#error "simd_kernels.c needs IEEE arithmetic: no -ffast-math or -ffinite-math-only"
#endif
/* The vector helpers are always inlined: no call passes a vector, whatever the variant. */
#pragma clang diagnostic ignored "-Wpsabi"

/* The loops work on blocks of BLOCK = 4 × 8 floats: every operation on a block is four
   independent 8-lane instructions, so four exp/divide/log chains overlap where one vector at
   a time waited on its own (docs/decisions.md has the measurement). Each float lane computes
   exactly what it did alone, and the double sum still adds the block's four 8-lane parts in
   order, so the bits are those of one vector at a time. */
#define BLOCK 32
typedef float f8 __attribute__((vector_size(32)));
typedef float fb __attribute__((vector_size(4 * BLOCK)));
typedef int32_t ib __attribute__((vector_size(4 * BLOCK)));
typedef uint32_t ub __attribute__((vector_size(4 * BLOCK)));
typedef double d8 __attribute__((vector_size(64)));
typedef int32_t i8 __attribute__((vector_size(32)));

#define INLINE static inline __attribute__((always_inline))

INLINE fb splat(float v) {
  fb r;
  for (int i = 0; i < BLOCK; i++) r[i] = v;
  return r;
}
INLINE fb blend(ib mask, fb yes, fb no) { return (fb)(((ib)yes & mask) | ((ib)no & ~mask)); }

/* `lanes` (1...BLOCK) floats from p, the rest `padding`. */
INLINE fb load(const float *p, int lanes, float padding) {
  fb v = splat(padding);
  if (lanes == BLOCK) {
    memcpy(&v, p, sizeof v);
  } else {
    for (int i = 0; i < lanes; i++) v[i] = p[i];
  }
  return v;
}

/* 1 in the first `lanes` lanes, 0 in the rest. */
INLINE fb ones(int lanes) {
  if (lanes == BLOCK) return splat(1);
  fb v = splat(0);
  for (int i = 0; i < lanes; i++) v[i] = 1;
  return v;
}

INLINE void store(fb v, float *p, int lanes) {
  if (lanes == BLOCK) {
    memcpy(p, &v, sizeof v);
  } else {
    for (int i = 0; i < lanes; i++) p[i] = v[i];
  }
}

/* e^a for a ≤ 0 (Cephes' expf): a = k·ln2 + r with |r| ≤ ln2/2, e^r by a degree-7
   polynomial, then 2^k applied in two halves so that results down to the subnormals
   (k ≥ −150) round once each instead of flushing to zero. Below −104 the result is under
   half the smallest subnormal, so the argument is clamped there. */
INLINE fb exp_of_non_positive(fb a) {
  a = blend(a < -104.0f, splat(-104.0f), a);
  /* Adding 1.5·2^23 rounds to an integer (to nearest) and leaves it in the low mantissa bits. */
  const fb shifter = splat(12582912.0f);
  fb shifted = a * 1.4426950408889634f + shifter;
  fb k = shifted - shifter;
  /* ln2 in two parts; k·0.693359375 is exact for |k| < 2^15, so r has no cancellation error. */
  fb r = (a - k * 0.693359375f) + k * 2.1219444005469058e-4f;
  fb p = splat(1.9875691500e-4f);
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  fb er = p * (r * r) + r + 1.0f;
  ib ki = (ib)shifted - (ib)shifter;
  ib half = ki >> 1;
  ib rest = ki - half;
  /* Unsigned shifts: only a NaN lane has a negative exponent here, and shifting a negative
     signed value is undefined. */
  fb scale_half = (fb)((ub)(half + 127) << 23);
  fb scale_rest = (fb)((ub)(rest + 127) << 23);
  return er * scale_half * scale_rest;
}

/* log(1 + e) for e ∈ [0, 1] as 2·atanh(s), s = e/(2 + e) ∈ [0, 1/3]: an odd series in s whose
   terms fall by 1/9 at least, so eight terms reach float precision, with no cancellation at
   small e (log1p(e) → e) and no argument reduction. */
INLINE fb log1p_of_unit(fb e) {
  fb s = e / (2.0f + e);
  fb s2 = s * s;
  fb q = splat(1.0f / 15.0f);
  q = q * s2 + 1.0f / 13.0f;
  q = q * s2 + 1.0f / 11.0f;
  q = q * s2 + 1.0f / 9.0f;
  q = q * s2 + 1.0f / 7.0f;
  q = q * s2 + 1.0f / 5.0f;
  q = q * s2 + 1.0f / 3.0f;
  return (s + s) + (s + s) * (q * s2);
}

/* e^−|x|: −|x| by setting the sign bit. */
INLINE fb exp_of_negative_magnitude(fb x) { return exp_of_non_positive((fb)((ib)x | (ib)splat(-0.0f))); }

INLINE fb softplus(fb x) {
  fb e = exp_of_negative_magnitude(x);
  return blend(x < 0.0f, splat(0.0f), x) + log1p_of_unit(e);
}

INLINE fb sigmoid(fb x) {
  fb e = exp_of_negative_magnitude(x);
  fb r = 1.0f / (1.0f + e);
  return blend(x < 0.0f, e * r, r);
}

/* Both at once, sharing the exponential (the same operations as each alone). */
INLINE void softplus_and_sigmoid(fb x, fb *sp, fb *sg) {
  fb e = exp_of_negative_magnitude(x);
  fb r = 1.0f / (1.0f + e);
  ib negative = x < 0.0f;
  *sp = blend(negative, splat(0.0f), x) + log1p_of_unit(e);
  *sg = blend(negative, e * r, r);
}

INLINE d8 widen(f8 v) { return __builtin_convertvector(v, d8); }

/* total += Σ over the block's four 8-lane parts, in order, of w·s in double. */
INLINE d8 accumulate(d8 total, fb w, fb s) {
  f8 wp[BLOCK / 8], sp[BLOCK / 8];
  memcpy(wp, &w, sizeof w);
  memcpy(sp, &s, sizeof s);
  for (int j = 0; j < BLOCK / 8; j++) total += widen(wp[j]) * widen(sp[j]);
  return total;
}

INLINE double softplus_sum(const float *chosen, const float *rejected, const float *margin, const float *weight,
                           intptr_t n) {
  d8 total = {0, 0, 0, 0, 0, 0, 0, 0};
  for (intptr_t i = 0; i < n; i += BLOCK) {
    int lanes = n - i < BLOCK ? (int)(n - i) : BLOCK;
    fb c = load(chosen + i, lanes, 0), r = load(rejected + i, lanes, 0);
    fb z = r - c;
    if (margin) z = z + load(margin + i, lanes, 0);
    /* +0 where both rewards are finite, NaN where one is not: added to softplus (≥ +0), it
       leaves the bits alone or makes the sum NaN whatever the weight, so the caller need not
       read the rewards again to check them. (softplus alone would hide r_chosen = +∞: 0.) */
    fb finite = (c - c) + (r - r);
    /* Padding lanes weigh 0, so they add +0 to every lane of the total. */
    fb w = weight ? load(weight + i, lanes, 0) : ones(lanes);
    total = accumulate(total, w, softplus(z) + finite);
  }
  double sum = -0.0;
  for (int lane = 0; lane < 8; lane++) sum += total[lane];
  return sum;
}

/* The gradient pass: σ(z_i) (from the same e = exp(−|z|) as the loss pass's softplus), p_i = w_i·scale·σ_i,
   −p_i into `grad_chosen` and p_i into `grad_rejected`; with centering (center ≠ 0), each
   plus center·(chosen_i + rejected_i) in double. Element i's inputs are read before its
   outputs are written, block by block. */
INLINE void gradient(const float *chosen, const float *rejected, const float *margin, const float *weight,
                     float scale, double center, float *grad_chosen, float *grad_rejected, intptr_t n) {
  for (intptr_t i = 0; i < n; i += BLOCK) {
    int lanes = n - i < BLOCK ? (int)(n - i) : BLOCK;
    fb c = load(chosen + i, lanes, 0), r = load(rejected + i, lanes, 0);
    fb z = r - c;
    if (margin) z = z + load(margin + i, lanes, 0);
    fb sigma = sigmoid(z);
    fb w = weight ? load(weight + i, lanes, 0) * scale : splat(scale);
    fb p = w * sigma;
    /* 0 − p, not −p: +0 where σ underflowed, as the loss always gave. */
    fb toward_chosen = 0.0f - p, toward_rejected = p;
    if (center != 0) {
      f8 cp[BLOCK / 8], rp[BLOCK / 8], gc[BLOCK / 8], gr[BLOCK / 8];
      memcpy(cp, &c, sizeof c);
      memcpy(rp, &r, sizeof r);
      memcpy(gc, &toward_chosen, sizeof gc);
      memcpy(gr, &toward_rejected, sizeof gr);
      for (int j = 0; j < BLOCK / 8; j++) {
        d8 shift = center * (widen(cp[j]) + widen(rp[j]));
        gc[j] = __builtin_convertvector(shift + widen(gc[j]), f8);
        gr[j] = __builtin_convertvector(shift + widen(gr[j]), f8);
      }
      memcpy(&toward_chosen, gc, sizeof gc);
      memcpy(&toward_rejected, gr, sizeof gr);
    }
    store(toward_chosen, grad_chosen + i, lanes);
    store(toward_rejected, grad_rejected + i, lanes);
  }
}

INLINE void softplus_sigmoid(const float *x, float *sp, float *sg, intptr_t n) {
  for (intptr_t i = 0; i < n; i += BLOCK) {
    int lanes = n - i < BLOCK ? (int)(n - i) : BLOCK;
    fb a, b;
    softplus_and_sigmoid(load(x + i, lanes, 0), &a, &b);
    store(a, sp + i, lanes);
    store(b, sg + i, lanes);
  }
}

/* AdamW's step over p, g, m and v in one pass, eight elements at a time, in float32 with the
   arithmetic of torch.optim.AdamW's single-tensor path as torch 2.13's x86 CPU build runs it:
     p·decay (mul_),  m₁ = fma(1 − β1, g − m, m) (lerp_: its vector code's explicit fmadd for a
     weight below ½),  v₁ = fma((1 − β2)·g, g, v·β2) (mul_, then addcmul_'s self + value·t1·t2,
     whose multiply-add torch's compiler fuses),  d = √v₁ / c₂ + ε (sqrt, div, add_),
     p₁ = p·decay + ((−step_size)·m₁) / d (addcdiv_'s self + value·t1 / t2).
   Every other operation is rounded on its own (the pragma above), in every variant: the
   baseline's fma is libm's, correctly rounded, so every variant gives the same bits.
   benchmarks/adamw_vs_torch.py measures the agreement with torch (m and v bit for bit) and
   writes the torch case AdamWTests checks. The pass is bound by memory traffic (28 bytes per
   element); the double evaluation it replaced waited on the double divider and square root.
   An element whose new p, m or v is not finite keeps all three: a diverged step leaves q as
   it was, and what the state holds can always be saved and loaded again. */
INLINE f8 load8(const float *p, int lanes) {
  f8 v = {0, 0, 0, 0, 0, 0, 0, 0};
  if (lanes == 8) {
    memcpy(&v, p, sizeof v);
  } else {
    for (int i = 0; i < lanes; i++) v[i] = p[i];
  }
  return v;
}

INLINE void store8(f8 v, float *p, int lanes) {
  if (lanes == 8) {
    memcpy(p, &v, sizeof v);
  } else {
    for (int i = 0; i < lanes; i++) p[i] = v[i];
  }
}

INLINE f8 splat8(float v) { return (f8){v, v, v, v, v, v, v, v}; }
INLINE f8 blend8(i8 mask, f8 yes, f8 no) { return (f8)(((i8)yes & mask) | ((i8)no & ~mask)); }

/* Elements i..<i + lanes; returns the lanes that diverged. */
INLINE i8 adamw_block(float *p, const float *g, float *m, float *v, intptr_t i, int lanes,
                      const dirrm_adamw_constants *k) {
  f8 g0 = load8(g + i, lanes), m0 = load8(m + i, lanes), v0 = load8(v + i, lanes), p0 = load8(p + i, lanes);
  f8 decayed = p0 * k->decay;
  f8 m1 = __builtin_elementwise_fma(splat8(k->one_minus_beta1), g0 - m0, m0);
  f8 v1 = __builtin_elementwise_fma(k->one_minus_beta2 * g0, g0, v0 * k->beta2);
  f8 denominator = __builtin_elementwise_sqrt(v1) / k->correction2 + k->epsilon;
  f8 p1 = decayed + (k->negative_step_size * m1) / denominator;
  /* x − x is 0 for finite x and NaN otherwise; padding lanes (all zero) stay finite. */
  i8 diverged = ((p1 - p1) + (m1 - m1) + (v1 - v1)) != 0.0f;
  store8(blend8(diverged, m0, m1), m + i, lanes);
  store8(blend8(diverged, v0, v1), v + i, lanes);
  store8(blend8(diverged, p0, p1), p + i, lanes);
  return diverged;
}

INLINE int adamw_step(float *p, const float *g, float *m, float *v, intptr_t n, const dirrm_adamw_constants *k) {
  /* The constants in locals: through k, each would be loaded again after every store. */
  const dirrm_adamw_constants c = *k;
  i8 diverged = {0, 0, 0, 0, 0, 0, 0, 0};
  intptr_t i = 0;
  for (; i + 8 <= n; i += 8) diverged |= adamw_block(p, g, m, v, i, 8, &c);
  if (i < n) diverged |= adamw_block(p, g, m, v, i, (int)(n - i), &c);
  for (int lane = 0; lane < 8; lane++)
    if (diverged[lane]) return 0;
  return 1;
}

/* Prompt-free's exponentials e^−|g_j − d|, with the bits of glibc's exp (2.28 and later) as it
   runs on a CPU with FMA: Newton's path and the float32 root it returns (PromptFreeRoot.swift)
   rest on them, and the tables made before this kernel existed stay as they were. glibc's
   method, vectorized: x = (k + i/128)·ln2 + r with k, i integers and |r| ≤ ln2/256, the scale
   2^(k + i/128) from exp_table (scripts/exp_table.py), e^r − 1 by a degree-5 polynomial, every
   multiply-add fused as glibc's FMA build fuses it (read off its machine code). The constants
   are glibc's. Its main path covers 2^−54 ≤ |x| < 512; other lanes (x = 0 where d is a gap,
   rows hundreds of units wide) call libm. The baseline variant calls libm for every lane: on a
   CPU with FMA glibc then runs this same computation, and without FMA no variant but the
   baseline runs. PromptFreeKernelTests checks every variant against libm, bit for bit, and
   the kernel is used only if the libm in the process gives its bits (exp_kernel_agrees). */

typedef double d4 __attribute__((vector_size(32)));
typedef uint64_t u4 __attribute__((vector_size(32)));
typedef int64_t l4 __attribute__((vector_size(32)));

#define EXP_INV_LN2_N 0x1.71547652b82fep7 /* 128 / ln 2 */
#define EXP_NEG_LN2_HI_N -0x1.62e42fefa0000p-8
#define EXP_NEG_LN2_LO_N -0x1.cf79abc9e3b3ap-47
#define EXP_SHIFT 0x1.8p52 /* adding it rounds to an integer, left in the low mantissa bits */
#define EXP_C2 0x1.ffffffffffdbdp-2
#define EXP_C3 0x1.555555555543cp-3
#define EXP_C4 0x1.55555cf172b91p-5
#define EXP_C5 0x1.1111167a4d017p-7

INLINE d4 splat4(double v) { return (d4){v, v, v, v}; }
INLINE d4 fma4(d4 a, d4 b, d4 c) { return __builtin_elementwise_fma(a, b, c); }

/* e^x on glibc's main path; lanes off it are recomputed by the caller. */
INLINE d4 exp_main_path(d4 x) {
  d4 kd = fma4(x, splat4(EXP_INV_LN2_N), splat4(EXP_SHIFT));
  u4 ki = (u4)kd;
  kd = kd - EXP_SHIFT;
  d4 r = fma4(kd, splat4(EXP_NEG_LN2_HI_N), x);
  r = fma4(kd, splat4(EXP_NEG_LN2_LO_N), r);
  u4 index = (ki & 127) * 2;
  u4 tail_bits, scale_bits;
  for (int i = 0; i < 4; i++) {
    tail_bits[i] = exp_table[index[i]];
    scale_bits[i] = exp_table[index[i] + 1];
  }
  d4 tail = (d4)tail_bits;
  d4 scale = (d4)(scale_bits + (ki << 45));
  d4 r2 = r * r;
  d4 low = fma4(r, splat4(EXP_C3), splat4(EXP_C2));
  d4 high = fma4(r, splat4(EXP_C5), splat4(EXP_C4));
  d4 sum = fma4(low, r2, r + tail);
  d4 tmp = fma4(r2 * r2, high, sum);
  return fma4(scale, tmp, scale);
}

/* e^x with libm's bits: its main path here and libm for the other lanes, or (`fused` 0, the
   baseline variant) libm for every lane. */
INLINE d4 exp4(d4 x, int fused) {
  if (!fused) {
    for (int i = 0; i < 4; i++) x[i] = exp(x[i]);
    return x;
  }
  /* The exponent field of |x| within [2^−54, 2^9). */
  l4 on_path = ((((u4)x >> 52) & 0x7ff) - 0x3c9) < 0x3f;
  d4 y = exp_main_path(x);
  if (!(on_path[0] & on_path[1] & on_path[2] & on_path[3])) {
    for (int i = 0; i < 4; i++) y[i] = on_path[i] ? y[i] : exp(x[i]);
  }
  return y;
}

INLINE d4 load4(const double *p) {
  d4 v;
  memcpy(&v, p, sizeof v);
  return v;
}
INLINE d4 blend4(l4 mask, d4 yes, d4 no) { return (d4)(((l4)yes & mask) | ((l4)no & ~mask)); }

/* For x = gap − d, lane by lane: e^−|x| (returned) and σ(−|x|) = e/(1 + e), and the nearest
   |x| with a positive weight so far. Both prompt-free kernels rest on it. */
INLINE d4 exp_neg_distance(d4 x, d4 weight, d4 *nearest, d4 *tail, int fused) {
  d4 distance = (d4)((u4)x & ~(u4)splat4(-0.0));
  *nearest = blend4((weight > 0) & (distance < *nearest), distance, *nearest);
  d4 e = exp4(-distance, fused);
  *tail = e / (1 + e);
  return e;
}

INLINE double neg_distance_sigmoid(const double *g, const double *w, double d, double *e, double *s, intptr_t k,
                                   int fused) {
  d4 nearest4 = splat4(INFINITY);
  for (intptr_t j = 0; j < k; j += 4) {
    int lanes = k - j < 4 ? (int)(k - j) : 4;
    d4 gap = splat4(d - 1), weight = splat4(0), sigmoid;
    if (lanes == 4) {
      memcpy(&gap, g + j, sizeof gap);
      memcpy(&weight, w + j, sizeof weight);
    } else {
      for (int i = 0; i < lanes; i++) gap[i] = g[j + i], weight[i] = w[j + i];
    }
    d4 y = exp_neg_distance(gap - d, weight, &nearest4, &sigmoid, fused);
    if (lanes == 4) {
      memcpy(e + j, &y, sizeof y);
      memcpy(s + j, &sigmoid, sizeof sigmoid);
    } else {
      for (int i = 0; i < lanes; i++) e[j + i] = y[i], s[j + i] = sigmoid[i];
    }
  }
  double nearest = INFINITY;
  for (int i = 0; i < 4; i++)
    if (nearest4[i] < nearest) nearest = nearest4[i];
  return nearest;
}

/* Newton's evaluation (PromptFreeRoot.swift's `excess`) for four rows at once, one per lane:
   the sums are chains of dependent additions, which one row keeps waiting on each other, and
   four rows' chains run side by side at the cost of one. Each lane performs exactly the scalar
   code's operations in its order, so each row gets the scalar bits. Rows are stored
   interleaved (element j of lane r at [4j + r]). */

/* The double-double sum (high, low) plus v where `mask` is set (Knuth's TwoSum, as
   CompensatedSum in Swift). */
INLINE void two_sum4(d4 *high, d4 *low, d4 v, l4 mask) {
  d4 s = *high + v;
  d4 bv = s - *high;
  d4 l = *low + ((*high - (s - bv)) + (v - bv));
  *high = blend4(mask, s, *high);
  *low = blend4(mask, l, *low);
}

INLINE void pf_excess4(const double *g, const double *w, const double *at, intptr_t k, double *tails,
                       double *out, int fused) {
  d4 d = load4(at), nearest = splat4(INFINITY);
  for (intptr_t j = 0; j < k; j++) {
    d4 tail;
    exp_neg_distance(load4(g + 4 * j) - d, load4(w + 4 * j), &nearest, &tail, fused);
    memcpy(tails + 4 * j, &tail, sizeof tail);
  }
  /* Rows more than 600 from every gap are the caller's (their scale is not e^nearest). */
  d4 scale = exp4(blend4(nearest <= 600, nearest, splat4(0)), fused);
  d4 signs_high = splat4(0), signs_low = splat4(0), tails_high = splat4(0), tails_low = splat4(0);
  d4 slope = splat4(0);
  for (intptr_t j = 0; j < k; j++) {
    d4 x = load4(g + 4 * j) - d, weight = load4(w + 4 * j), tail = load4(tails + 4 * j);
    l4 active = weight > 0, at_gap = x == 0;
    l4 counted = active & ~at_gap;
    d4 sign_weight = blend4(x > 0, weight, -weight);
    two_sum4(&signs_high, &signs_low, sign_weight, counted);
    d4 scaled = tail * scale;
    two_sum4(&tails_high, &tails_low, sign_weight * scaled, counted);
    /* At a gap, x = 0 makes m = 0 and scale = 1: σ'(0) = 1/4. */
    d4 term = blend4(at_gap, weight * scale / 4, weight * scaled * (1 - tail));
    slope = blend4(active, slope - term, slope);
  }
  d4 results[7] = {nearest, scale, signs_high, signs_low, tails_high, tails_low, slope};
  memcpy(out, results, sizeof results);
}

/* y_i = e^x_i as the kernels compute it, for whole vectors of x (the libm check below). */
INLINE void exp_array(const double *x, double *y, intptr_t n, int fused) {
  for (intptr_t i = 0; i + 4 <= n; i += 4) {
    d4 v = exp4(load4(x + i), fused);
    memcpy(y + i, &v, sizeof v);
  }
}

/* Prompt-free's stable sort of a row by descending gap, for its Newton start: the element at
   position p of `order` goes to the count of larger gaps plus equal ones before p, which is
   the stable order, with no branch on the data (an insertion sort's moves mispredict on
   random rows). Four positions at a time against every key: a key q before the four counts
   if it is ≥ theirs, one after if it is >, one among them by the rule itself. k²
   comparisons: for short rows. */
INLINE void rank_descending(const double *g, int64_t *order, double *keys, int64_t *ranked, intptr_t k) {
  for (intptr_t p = 0; p < k; p++) keys[p] = g[order[p]];
  for (intptr_t p0 = 0; p0 < k; p0 += 4) {
    int lanes = k - p0 < 4 ? (int)(k - p0) : 4;
    d4 mine = splat4(0);
    for (int i = 0; i < lanes; i++) mine[i] = keys[p0 + i];
    l4 rank = {0, 0, 0, 0};
    intptr_t q = 0;
    for (; q < p0; q++) rank -= splat4(keys[q]) >= mine;
    for (; q < p0 + lanes; q++) {
      d4 key = splat4(keys[q]);
      l4 before = (l4){p0, p0 + 1, p0 + 2, p0 + 3} > q;
      rank -= (key > mine) | ((key == mine) & before);
    }
    for (; q < k; q++) rank -= splat4(keys[q]) > mine;
    /* Each rank is at most k − 1 (a position never counts itself). */
    for (int i = 0; i < lanes; i++) ranked[rank[i]] = order[p0 + i];
  }
  memcpy(order, ranked, (size_t)k * sizeof *order);
}

/* One table entry per variant: the same bodies compiled for its instruction set. */
typedef struct kernels {
  double (*softplus_sum)(const float *, const float *, const float *, const float *, intptr_t);
  void (*gradient)(const float *, const float *, const float *, const float *, float, double, float *, float *,
                   intptr_t);
  void (*softplus_sigmoid)(const float *, float *, float *, intptr_t);
  int (*adamw_step)(float *, const float *, float *, float *, intptr_t, const dirrm_adamw_constants *);
  double (*neg_distance_sigmoid)(const double *, const double *, double, double *, double *, intptr_t);
  void (*rank_descending)(const double *, int64_t *, double *, int64_t *, intptr_t);
  void (*pf_excess4)(const double *, const double *, const double *, intptr_t, double *, double *);
  void (*exp_array)(const double *, double *, intptr_t);
} kernels;

#define VARIANT(name, target, fused)                                                                    \
  target static double name##_softplus_sum(const float *c, const float *r, const float *m, const float *w,\
                                           intptr_t n) {                                                \
    return softplus_sum(c, r, m, w, n);                                                                 \
  }                                                                                                     \
  target static void name##_gradient(const float *c, const float *r, const float *m, const float *w,    \
                                     float scale, double center, float *gc, float *gr, intptr_t n) {    \
    gradient(c, r, m, w, scale, center, gc, gr, n);                                                     \
  }                                                                                                     \
  target static void name##_softplus_sigmoid(const float *x, float *a, float *b, intptr_t n) {          \
    softplus_sigmoid(x, a, b, n);                                                                       \
  }                                                                                                     \
  target static int name##_adamw_step(float *p, const float *g, float *m, float *v, intptr_t n,         \
                                      const dirrm_adamw_constants *k) {                                 \
    return adamw_step(p, g, m, v, n, k);                                                                \
  }                                                                                                     \
  target static double name##_neg_distance_sigmoid(const double *g, const double *w, double d, double *e, \
                                                   double *s, intptr_t k) {                             \
    return neg_distance_sigmoid(g, w, d, e, s, k, fused);                                               \
  }                                                                                                     \
  target static void name##_rank_descending(const double *g, int64_t *o, double *keys, int64_t *r,      \
                                            intptr_t k) {                                               \
    rank_descending(g, o, keys, r, k);                                                                  \
  }                                                                                                     \
  target static void name##_pf_excess4(const double *g, const double *w, const double *at, intptr_t k,  \
                                       double *tails, double *out) {                                    \
    pf_excess4(g, w, at, k, tails, out, fused);                                                         \
  }                                                                                                     \
  target static void name##_exp_array(const double *x, double *y, intptr_t n) {                        \
    exp_array(x, y, n, fused);                                                                          \
  }                                                                                                     \
  static const kernels name = {name##_softplus_sum, name##_gradient, name##_softplus_sigmoid,           \
                               name##_adamw_step, name##_neg_distance_sigmoid, name##_rank_descending, \
                               name##_pf_excess4, name##_exp_array};

VARIANT(baseline, , 0)
#if defined(__x86_64__)
VARIANT(avx2, __attribute__((target("avx2,fma"))), 1)
VARIANT(avx512, __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl"))), 1)
#endif

/* The table in use: chosen on first use (a race only stores the same answer twice). */
static const kernels *_Atomic chosen_kernels;

static const kernels *variant(dirrm_simd_level level) {
#if defined(__x86_64__)
  if (level >= DIRRM_SIMD_AVX512) return &avx512;
  if (level >= DIRRM_SIMD_AVX2) return &avx2;
#endif
  return &baseline;
}

static const kernels *in_use(void) {
  const kernels *k = chosen_kernels;
  if (!k) {
    k = variant(dirrm_blas_cpu_level());
    chosen_kernels = k;
  }
  return k;
}

dirrm_simd_level dirrm_simd_kernels_level(void) {
  const kernels *k = in_use();
#if defined(__x86_64__)
  if (k == &avx512) return DIRRM_SIMD_AVX512;
  if (k == &avx2) return DIRRM_SIMD_AVX2;
#endif
  return DIRRM_SIMD_SSE;
}

int dirrm_simd_kernels_use(dirrm_simd_level level) {
  if (level > dirrm_blas_cpu_level()) return -1;
  chosen_kernels = variant(level);
  return 0;
}

double dirrm_bt_softplus_sum(const float *chosen, const float *rejected, const float *margin, const float *weight,
                             intptr_t n) {
  return in_use()->softplus_sum(chosen, rejected, margin, weight, n);
}

void dirrm_bt_gradient(const float *chosen, const float *rejected, const float *margin, const float *weight,
                       float scale, double center, float *grad_chosen, float *grad_rejected, intptr_t n) {
  in_use()->gradient(chosen, rejected, margin, weight, scale, center, grad_chosen, grad_rejected, n);
}

void dirrm_softplus_sigmoid(const float *x, float *softplus, float *sigmoid, intptr_t n) {
  in_use()->softplus_sigmoid(x, softplus, sigmoid, n);
}

int dirrm_adamw_step(float *p, const float *g, float *m, float *v, intptr_t n, const dirrm_adamw_constants *k) {
  return in_use()->adamw_step(p, g, m, v, n, k);
}

/* Arguments in (−512, 512) where glibc's exp differs between its FMA build, which exp4
   reproduces, and its unfused build (found with an emulation of the unfused build that gave
   glibc's own bits, GLIBC_TUNABLES masking FMA, on 2·10^7 arguments), and a grid. */
static const double exp_probes[] = {
    -0x1.f05d4fbdc5fbfp+8, -0x1.ad1a840bd6981p+8, -0x1.4c63534df9deap+8, -0x1.282eaa41f85c2p+8,
    -0x1.5b8db7bbe1e8p+7,  -0x1.99881446f192cp+6, -0x1.855b63ed2ebc5p+5, -0x1.28fb42d914f5dp+5,
    -0x1.0ddc8b533c18ep+5, -0x1.a7cb3df88f2dp+4,  -0x1.5bac3d8ef5ffep+4, -0x1.0f39cd9a3c057p+4,
    -0x1.a8f6fddb9131p+3,  -0x1.8af7d0e89f1c6p+2, -0x1.2567be0ec6b4ap+2, 0x1.f42b12c22be3cp+0,
    0x1.7ee5667bc92fdp+2,  0x1.c355c343b0a73p+3,  0x1.334bcee731463p+4,  0x1.5e231168fc146p+4,
    0x1.d644ba0f3ab9ap+4,  0x1.150657ff20fa9p+5,  0x1.19c06ef5070c2p+5,  0x1.978b1086ecbe5p+4,
    0x1.43ed5822d6c4ep+6,  0x1.755757ab0b09ep+7,  0x1.d3dae04b20038p+7,  0x1.47b03cc881b65p+8,
    0x1.a9deef0538ff9p+8,  0x1.fa9698af80d26p+8,  0x1p-60,               -0x1p-60};
#define EXP_GRID 256

/* Whether the vector exp of `k` gives the bits of the libm this process runs (glibc 2.28 or
   later with FMA does; an older glibc, another libc, or glibc told not to use FMA may not).
   If not, prompt-free's kernels use the baseline variant, which calls libm: the roots then
   have libm's bits in every variant, as before the kernel existed. Decided once (a race only
   decides the same twice). */
static _Atomic int exp_kernel_state; /* 0 undecided, 1 agrees, -1 differs */

static int exp_kernel_agrees(const kernels *k) {
  int state = exp_kernel_state;
  if (state == 0) {
    enum { PROBES = sizeof exp_probes / sizeof *exp_probes, N = (PROBES + EXP_GRID + 3) / 4 * 4 };
    double x[N], y[N];
    for (int i = 0; i < N; i++) x[i] = i < PROBES ? exp_probes[i] : -600 + 1200.0 * (i - PROBES) / EXP_GRID;
    k->exp_array(x, y, N);
    state = 1;
    for (int i = 0; i < N; i++) {
      double want = exp(x[i]);
      if (memcmp(&want, &y[i], sizeof want) != 0) state = -1;
    }
    exp_kernel_state = state;
  }
  return state > 0;
}

/* The variant prompt-free's kernels use: the one in use if its exp has libm's bits. */
static const kernels *pf_kernels(void) {
  const kernels *k = in_use();
  return k == &baseline || exp_kernel_agrees(k) ? k : &baseline;
}

int dirrm_pf_exp_kernel(void) { return pf_kernels() != &baseline; }

double dirrm_neg_distance_sigmoid(const double *gaps, const double *weights, double d, double *exps,
                                  double *sigmoids, intptr_t k) {
  return pf_kernels()->neg_distance_sigmoid(gaps, weights, d, exps, sigmoids, k);
}

void dirrm_rank_descending(const double *gaps, int64_t *order, double *keys, int64_t *ranked, intptr_t k) {
  in_use()->rank_descending(gaps, order, keys, ranked, k);
}

void dirrm_pf_excess4(const double *gaps, const double *weights, const double *at, intptr_t k, double *tails,
                      double *out) {
  pf_kernels()->pf_excess4(gaps, weights, at, k, tails, out);
}
