/*
 * dirrm.h — information-theoretic debiasing for reward models.
 *
 * libdirrm gives a reward-model trainer written in any language two debiasing methods that
 * run on buffers the trainer owns:
 *   - DIR: Bradley-Terry loss + lambda * a CLUB upper bound of the mutual information between
 *     the model's hidden states and a bias attribute;
 *   - prompt-free reward decomposition with prioritized training toward pairs whose
 *     prompt-free reward gap is small.
 *
 * This header is the manual. Conventions that hold for every function below:
 *
 *   Status.   Every fallible function returns an int32_t status: DIRRM_OK (0) on success,
 *             else one of the DIRRM_ERR_* codes. Results come back through out pointers. On
 *             failure nothing is written to any output.
 *   Errors.   dirrm_last_error() returns the message of the last failing call on the calling
 *             thread: it names the argument and, for a bad value, the first offending index.
 *             A successful call leaves the message as it was.
 *   Buffers.  float32 (int64_t for indices), row-major, contiguous, owned by the caller and
 *             only read or written during the call. Sizes are int64_t. An output documented
 *             as "NULL ok" is skipped when NULL; every other pointer must be non-NULL.
 *   Numerics. Sums accumulate in double. Every float input must be finite: NaN or +-inf
 *             returns DIRRM_ERR_NONFINITE naming the argument and index. A result that does
 *             not fit in float32 also returns DIRRM_ERR_NONFINITE.
 *   Safety.   No input makes the library abort, trap or print: bad input returns a status.
 *   Threads.  Stateless functions are reentrant. A handle is used by one thread at a time.
 */
#ifndef DIRRM_H
#define DIRRM_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------- */
/* Version                                                                                  */
/* ---------------------------------------------------------------------------------------- */

#define DIRRM_VERSION_MAJOR 0
#define DIRRM_VERSION_MINOR 1
#define DIRRM_VERSION_PATCH 0
#define DIRRM_VERSION_NUMBER \
  (DIRRM_VERSION_MAJOR * 10000 + DIRRM_VERSION_MINOR * 100 + DIRRM_VERSION_PATCH)

/* The library's version as MAJOR*10000 + MINOR*100 + PATCH. Compare it with
   DIRRM_VERSION_NUMBER to detect a header/library mismatch. */
int32_t dirrm_version_number(void);

/* The library's version as "MAJOR.MINOR.PATCH". Static storage; never NULL. */
const char *dirrm_version_string(void);

/* One line of JSON describing the build, e.g.
   {"version":"0.1.0","blas":"OpenBLAS 0.3.21 ...","threads":2,"compiler":"Swift 6.3"}.
   "threads" is the BLAS thread count at the time of the call. Never NULL; the pointer stays
   valid until the next dirrm_build_info call on the same thread. */
const char *dirrm_build_info(void);

/* Sets the number of threads the BLAS uses for matrix products (process-wide).
   num_threads >= 1, else DIRRM_ERR_INVALID_ARGUMENT. */
int32_t dirrm_set_num_threads(int32_t num_threads);

/* ---------------------------------------------------------------------------------------- */
/* Status codes and errors                                                                  */
/* ---------------------------------------------------------------------------------------- */

#define DIRRM_OK 0
#define DIRRM_ERR_NULL_POINTER 1     /* a required pointer is NULL */
#define DIRRM_ERR_INVALID_ARGUMENT 2 /* a value outside its documented domain */
#define DIRRM_ERR_SHAPE 3            /* sizes are inconsistent or out of range */
#define DIRRM_ERR_NONFINITE 4        /* NaN or infinity in an input, or an overflowing result */
#define DIRRM_ERR_OUT_OF_MEMORY 5
#define DIRRM_ERR_MISUSE 6           /* a freed or foreign handle, or a call out of order */
#define DIRRM_ERR_NOT_CONVERGED 7
#define DIRRM_ERR_CORRUPT 8          /* a serialized buffer is truncated or damaged */
#define DIRRM_ERR_VERSION 9          /* a serialized buffer from an incompatible version */
#define DIRRM_ERR_BUFFER_TOO_SMALL 10
#define DIRRM_ERR_IO 11
#define DIRRM_ERR_INTERNAL 99

/* The message of the last failing call on the calling thread, or "" if none has failed.
   Thread-local storage; valid until the next failing call on the same thread. Never NULL. */
const char *dirrm_last_error(void);

/* A short fixed description of a status code ("ok", "null pointer", ...); unknown codes give
   "unknown status". Static storage; never NULL. */
const char *dirrm_status_string(int32_t status);

/* ---------------------------------------------------------------------------------------- */
/* 1.1 Bradley-Terry preference loss                                                        */
/* ---------------------------------------------------------------------------------------- */

/* L = sum_i w_i softplus(-(r_chosen_i - r_rejected_i - m_i)) / sum_i w_i
 *     + center_coef * (1/n) sum_i (r_chosen_i + r_rejected_i)^2
 *
 * n              number of pairs, n >= 1 (else DIRRM_ERR_SHAPE).
 * r_chosen       n rewards of the chosen responses.
 * r_rejected     n rewards of the rejected responses.
 * margin         n margins m_i, or NULL for 0 (TRL and OpenRLHF's default).
 * weight         n per-pair weights w_i >= 0 with a positive sum, or NULL for 1. A negative
 *                weight or an all-zero vector is DIRRM_ERR_INVALID_ARGUMENT.
 * center_coef    reward-centering coefficient c >= 0 (TRL's center_rewards_coefficient);
 *                negative is DIRRM_ERR_INVALID_ARGUMENT.
 * out_loss       receives L.
 * grad_chosen    NULL ok: receives dL/dr_chosen (n floats).
 * grad_rejected  NULL ok: receives dL/dr_rejected (n floats).
 *
 * softplus is evaluated stably: gaps up to +-1e30 give finite, correctly rounded losses.
 * Statuses: OK, NULL_POINTER, SHAPE, NONFINITE, INVALID_ARGUMENT. */
int32_t dirrm_bt_loss(int64_t n, const float *r_chosen, const float *r_rejected,
                      const float *margin, const float *weight, float center_coef,
                      float *out_loss, float *grad_chosen, float *grad_rejected);

#ifdef __cplusplus
}
#endif

#endif /* DIRRM_H */
