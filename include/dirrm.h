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
 *             Every size a caller passes goes through overflow-checked arithmetic, and every
 *             call whose memory the caller's sizes decide first checks that its working set
 *             can be mapped: if not, DIRRM_ERR_OUT_OF_MEMORY names the bytes it needed.
 *   Threads.  Stateless functions are reentrant. A handle is used by one thread at a time:
 *             a call on a handle that another thread's call is using returns
 *             DIRRM_ERR_MISUSE ("in use by another thread") and touches nothing. Datasets
 *             are read-only and may be used by any number of threads at once. A progress
 *             callback may call the library on the same thread, on any handle but the ones
 *             the call running it is using (those return DIRRM_ERR_MISUSE: freeing or
 *             retraining the model being trained would be lost or overwritten); a nested
 *             call's handles are free again as soon as it returns.
 *   Fork.     A child forked while other threads are inside dirrm calls (a DataLoader
 *             worker, multiprocessing) may call every function. Its handles work as they
 *             were, except one that another thread was using at the fork: its state may be
 *             half-updated, so every call on it returns DIRRM_ERR_MISUSE ("... forked ...")
 *             except _free, which releases the token (the state itself is never touched).
 *             An estimator with a fit begun in the background (dirrm_club_fit_begin) is
 *             such a handle in the child.
 *   Floats.   Every call runs in the default floating-point environment (round to nearest,
 *             no traps, no flush-to-zero or denormals-are-zero), as do dirrm's own threads,
 *             whatever the calling thread's, and gives the caller's back as it was, exception
 *             flags included, before it returns: traps a caller enabled do not fire inside
 *             dirrm, other modes do not change results, and the exception flags dirrm's work
 *             raises are dropped. A progress callback runs in a fresh default environment,
 *             not the caller's: code in it that needs traps or flush-to-zero sets them
 *             itself, and whatever it changes (flags included) is undone when it returns.
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
   {"version":"0.1.0","blas":"OpenBLAS 0.3.21 ...","blas_core":"Haswell",
    "blas_core_chosen_by":"dirrm","blas_core_replaced":"Prescott","cpu_simd":"avx2",
    "cpu_blas_core":"Haswell","simd_kernels":"avx2","pf_exp":"vector","threads":2,
    "compiler":"Swift 6.3"}.
   "blas" is OpenBLAS's build string; "blas_core" the kernels that run dirrm's products.
   "blas_core_chosen_by": "openblas" (its CPU table matched the CPU's instruction set),
   "OPENBLAS_CORETYPE" (the caller's variable, never overridden), "dirrm" (OpenBLAS had
   fallen back below the CPU's class, "blas_core_replaced"; when the library loaded, dirrm
   re-ran OpenBLAS's selection for the CPU's class: AVX-512 -> SkylakeX, AVX2 + FMA ->
   Haswell, AVX -> Sandybridge) or "fixed" (an OpenBLAS built for one CPU). "cpu_simd": "sse",
   "avx", "avx2" or "avx512", what the CPU and OS support; "cpu_blas_core" the kernels of
   that class ("" below AVX), which `OPENBLAS_CORETYPE` would name to pin them. "simd_kernels":
   the variant of dirrm's own vector kernels (the loss's softplus and sigmoid, AdamW's
   step, dirrm_pf_gap's Newton evaluation), compiled for "sse" (the x86-64 baseline), "avx2"
   and "avx512" and chosen from "cpu_simd" at first use; every variant gives the same bits.
   "pf_exp": "vector" if dirrm_pf_gap computes its exponentials with its own vector kernel,
   which it does only where that kernel gives the bits of the process's libm exp (checked on
   probe arguments at first use: glibc 2.28 or later on a CPU with FMA), else "libm" (the
   same results, from libm one value at a time). "threads" is dirrm's thread count
   at the time of the call. Never NULL; the pointer stays valid until the next
   dirrm_build_info call on the same thread. */
const char *dirrm_build_info(void);

/* Sets how many threads dirrm's calls may use, the calling thread included (process-wide;
   default: the online cores). num_threads in [1, 1024], else DIRRM_ERR_INVALID_ARGUMENT.
   dirrm's helper threads park (sleep) as soon as a call's work is done, so they do not spin
   on the cores of a host's training step between calls. OpenBLAS runs single-threaded inside
   them: dirrm sets the process's OpenBLAS thread count to 1 before its first matrix product.
   Results do not depend on the thread count: a large matrix product is cut into the same
   blocks at every thread count (at most 2, each one OpenBLAS call), so products use at most
   2 threads; the other kernels split their work into parts of fixed size. */
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
 * Outputs may overlap the inputs or each other (grad_chosen = r_chosen, say), and buffers
 * need not be float-aligned: the results are the same bits (grad_rejected is written last
 * where the gradients overlap each other). A non-finite reward is reported after any error
 * in margin, weight, center_coef or out_loss (the loss pass is what finds it).
 * Statuses: OK, NULL_POINTER, SHAPE, NONFINITE, INVALID_ARGUMENT, OUT_OF_MEMORY. */
int32_t dirrm_bt_loss(int64_t n, const float *r_chosen, const float *r_rejected,
                      const float *margin, const float *weight, float center_coef,
                      float *out_loss, float *grad_chosen, float *grad_rejected);

/* ---------------------------------------------------------------------------------------- */
/* Parameter structs and handles                                                            */
/* ---------------------------------------------------------------------------------------- */
/* A parameter struct starts with uint32_t struct_size. Fill it with its _params_init
 * function, then change the fields you need; a struct_size other than this header's sizeof
 * returns DIRRM_ERR_VERSION. Each field's comment ends with what _params_init writes:
 * "default V" (a number or a DIRRM_* constant), or "required" (0: the caller sets it); a
 * nested struct's, "default as dirrm_X_params_init" with the fields that differ listed
 * after "except". Output structs (dirrm_prioritizer_stats) have the caller set
 * struct_size = sizeof(the struct) before the call.
 *
 * Handles are opaque tokens created by _create or _load and released by _free; they are
 * not addresses and the library never dereferences them. A token is never reused, so a freed
 * handle returns DIRRM_ERR_MISUSE forever, even after new objects are created. _free(NULL)
 * is a no-op returning DIRRM_OK; a pointer that never was a handle, or a handle of another
 * type, returns DIRRM_ERR_MISUSE.
 * Serialized buffers: _save(h, NULL, 0, &size) reports the size; _save(h, buf, cap, &size)
 * writes it (DIRRM_ERR_BUFFER_TOO_SMALL when cap < size, with *out_size set). _load accepts
 * only a state the library itself could have written: a truncated, damaged or empty
 * (size 0) buffer, and also a well-framed one with a valid checksum whose content is
 * inconsistent (sizes beyond the bytes present, repeated or out-of-range indices, counters
 * beyond 2^62, settings outside their documented ranges), returns DIRRM_ERR_CORRUPT. A
 * negative size is DIRRM_ERR_SHAPE. Both return DIRRM_ERR_OUT_OF_MEMORY when the state, its
 * serialized copy and (for _load) the buffer's copy do not fit: up to three times the size. */

/* ---------------------------------------------------------------------------------------- */
/* 1.2 DIR: the CLUB estimator and the DIR loss                                             */
/* ---------------------------------------------------------------------------------------- */
/* For n pairs with hidden states h_chosen, h_rejected (n x d each) and a bias attribute b,
 * the pair representation is X = h_chosen - h_rejected (DIFFERENCE, dimension d) or
 * X = [h_chosen, h_rejected] (CONCAT, dimension 2d). q(b | X) is
 *   CATEGORICAL (b in {0..C-1}): Linear(dim X, q_hidden) -> ReLU -> Linear(q_hidden, C)
 *                                -> log-softmax; q_hidden = 0: one Linear(dim X, C).
 *   GAUSSIAN (b in R^m):         mean mu(X) and log-variance v(X) = B tanh(z(X) / B), each
 *                                Linear(dim X, q_hidden/2) -> ReLU -> Linear(q_hidden/2, m);
 *                                q_hidden = 0: one Linear each.
 * The CLUB upper bound of I(X; b) over the batch is
 *   I = (1/n) sum_i [ log q(b_i | X_i) - (1/N) sum_j log q(b_j | X_i) ],
 * where the inner mean over j runs over the batch the bias statistics describe (this
 * batch, or a larger one: see dirrm_club_bias_stats). It costs O(n C) or O(n m) after q.
 *
 * Bias buffers: CATEGORICAL, n class ids stored as exact integers in float; GAUSSIAN, n x m
 * floats on any scale (raw token counts are fine). A GAUSSIAN q sees z = (b - mean) / std per
 * dimension, where mean and std are the running mean and standard deviation (std 1 where it
 * is 0) of every row dirrm_club_fit has been given, merged in double; before the first fit,
 * those of the batch's statistics (the bias_stats given, else the batch's own). Data-parallel
 * workers that fit on the same gathered batch keep the same map exactly. The map is part of
 * the saved state; dirrm_club_set_weights keeps it. I is the same in b and in z; log_prob and
 * the NLL are densities of b. */

#define DIRRM_BIAS_CATEGORICAL 0
#define DIRRM_BIAS_GAUSSIAN 1
#define DIRRM_PAIR_DIFFERENCE 0
#define DIRRM_PAIR_CONCAT 1

typedef struct dirrm_club dirrm_club;

typedef struct dirrm_club_params {
  uint32_t struct_size;
  int32_t bias_kind;     /* DIRRM_BIAS_*                        default DIRRM_BIAS_CATEGORICAL */
  int32_t bias_dim;      /* classes C in [2, 2^20], or Gaussian m in [1, 2^20]   default 2 */
  int32_t hidden_dim;    /* d, size of one response's hidden state, [1, 2^20]   required */
  int32_t pair_mode;     /* DIRRM_PAIR_*                          default DIRRM_PAIR_DIFFERENCE */
  int32_t q_hidden;      /* q's hidden width in [0, 2^20]; 0 = linear; Gaussian: 0 or >= 2
                                                                         default 1024 */
  int32_t fit_steps;     /* AdamW steps per fit, >= 0                    default 5 */
  float learning_rate;   /* > 0                                          default 1e-4 */
  float weight_decay;    /* >= 0, decoupled (AdamW)                      default 0.01 */
  float logvar_bound;    /* Gaussian B in (0, 30]: v = B tanh(z/B)       default 5 */
  uint64_t seed;         /* q's initialization (torch.nn.Linear's U(+-1/sqrt(fan_in)))
                                                                         default 0 */
} dirrm_club_params;

/* Fills *p with the defaults above (hidden_dim 0: set it). NULL is ignored. */
void dirrm_club_params_init(dirrm_club_params *p);

/* Statuses: OK, NULL_POINTER, INVALID_ARGUMENT, NONFINITE (a float field that is NaN or
 * infinite), VERSION, OUT_OF_MEMORY (q, its gradient and AdamW's moments do not fit). */
int32_t dirrm_club_create(const dirrm_club_params *p, dirrm_club **out);
int32_t dirrm_club_free(dirrm_club *c);

/* The parameters the estimator was created with (e.g. after dirrm_club_load). */
int32_t dirrm_club_get_params(const dirrm_club *c, dirrm_club_params *out);

/* fit_steps AdamW steps (lr, weight_decay of the params; betas 0.9, 0.999; eps 1e-8, as
 * torch.optim.AdamW) on the mean negative log-likelihood -(1/n) sum_i log q(b_i | X_i),
 * with X fixed. n >= 1; h_chosen, h_rejected: n x d; bias as above.
 * For a GAUSSIAN bias the batch first joins the running standardization, and the steps
 * fit q to z (see above). out_nll: NULL ok (then q is not evaluated once more), the mean
 * NLL of b after the steps. A step that would make a parameter or one of its AdamW
 * moments non-finite leaves that parameter and its moments as they were; the fit stops
 * there, the standardization is restored and DIRRM_ERR_NONFINITE returned: q stays finite
 * and keeps the steps before.
 * Statuses: OK, NULL_POINTER, SHAPE, NONFINITE, INVALID_ARGUMENT (a class id that is not an
 * integer in [0, C)), MISUSE, OUT_OF_MEMORY (the n rows' working set does not fit). */
int32_t dirrm_club_fit(dirrm_club *c, int64_t n, const float *h_chosen, const float *h_rejected,
                       const float *bias, float *out_nll);

/* dirrm_club_fit on a thread of its own, so that q's fit on batch t runs while the caller
 * computes its next forward and backward (DIR off the critical path). _begin checks and copies
 * the batch (the buffers may be reused when it returns), starts the fit and returns; until
 * dirrm_club_fit_finish(c) returns, every other call on c returns DIRRM_ERR_MISUSE, and
 * dirrm_club_free(c) waits for the fit (dropping its result). _finish waits for the fit and
 * returns what dirrm_club_fit would have (its status, and out_nll: NULL ok), or MISUSE when no
 * fit was begun on c. Bit for bit the same q as dirrm_club_fit on the same batch at the same
 * thread count: the schedule "bound of batch t with q, then _begin(t) ... _finish before the
 * bound of t + 1" equals the synchronous "bound(t), fit(t)", i.e. each bound uses q fitted
 * up to the batch before it (one step stale, against DIR's fit(t), bound(t)). In a child
 * forked while a fit ran, c is as a handle another thread was using (Fork, above): free it.
 * At most 32 fits begun and not finished per process (each is a thread that may be inside
 * OpenBLAS, whose buffers run out near 300); process exit waits for running fits. _begin keeps
 * the fit's working set allocated until the fit starts. Statuses of _begin: those of
 * dirrm_club_fit's checks, MISUSE beyond 32 fits, and OUT_OF_MEMORY when no thread can be
 * started. */
int32_t dirrm_club_fit_begin(dirrm_club *c, int64_t n, const float *h_chosen,
                             const float *h_rejected, const float *bias);
int32_t dirrm_club_fit_finish(dirrm_club *c, float *out_nll);

/* out_log_prob: n values log q(b_i | X_i) (natural log, full density for Gaussian). */
int32_t dirrm_club_log_prob(dirrm_club *c, int64_t n, const float *h_chosen,
                            const float *h_rejected, const float *bias, float *out_log_prob);

/* The length of the bias statistics: CATEGORICAL 1 + C, GAUSSIAN 1 + 2m. */
int32_t dirrm_club_stats_len(const dirrm_club *c, int64_t *out_len);

/* The bias statistics of n rows: [count, count of class 0 .. C-1] or
 * [count, sum b_1 .. sum b_m, sum b_1^2 .. sum b_m^2]. They add up: for data-parallel
 * training, sum (all-reduce) the workers' statistics and pass the sum to each worker's
 * dirrm_club_bound. out_stats: dirrm_club_stats_len floats. */
int32_t dirrm_club_bias_stats(const dirrm_club *c, int64_t n, const float *bias,
                              float *out_stats);

/* The CLUB bound I of this batch and its gradient with respect to the hidden states (q
 * fixed). bias_stats: NULL for this batch's own statistics, or the statistics of a larger
 * batch containing this one (count >= 1, class counts >= 0 summing to count; Gaussian sums
 * of squares >= 0). out_mi receives this batch's mean over its n rows, and the gradients are
 * those of out_mi: weighting each of several shards by n_shard / N (what DDP's gradient
 * averaging does for equal shards) gives exactly the bound and gradient of the whole batch.
 * grad_chosen, grad_rejected: n x d, NULL ok. */
int32_t dirrm_club_bound(dirrm_club *c, int64_t n, const float *h_chosen,
                         const float *h_rejected, const float *bias, const float *bias_stats,
                         float *out_mi, float *grad_chosen, float *grad_rejected);

/* q's parameters as one flat buffer, in torch.nn.Linear order: for each Linear its weight
 * (out x in, row-major) then its bias; CATEGORICAL: layer 1, layer 2; GAUSSIAN: the mean
 * network's layers, then the log-variance network's. len must equal dirrm_club_num_weights.
 * set_weights also resets the AdamW state; its values must be finite. */
int32_t dirrm_club_num_weights(const dirrm_club *c, int64_t *out_len);
int32_t dirrm_club_get_weights(const dirrm_club *c, float *out, int64_t len);
int32_t dirrm_club_set_weights(dirrm_club *c, const float *w, int64_t len);

/* Serialization (configuration, the standardization, q's parameters, AdamW state); see the
 * handle conventions. States of format version 1 (dirrm before the standardization) load when
 * CATEGORICAL; a GAUSSIAN one returns DIRRM_ERR_VERSION, as its q was fit on the raw bias. */
int32_t dirrm_club_save(const dirrm_club *c, uint8_t *buf, int64_t cap, int64_t *out_size);
int32_t dirrm_club_load(const uint8_t *buf, int64_t size, dirrm_club **out);

/* DIR's policy: one configuration of the DIR loss, the same wherever DIR runs (dirrm_train,
 * dirrm_dir_loss, and the Python, PyTorch and TRL bindings, whose keywords left None mean
 * these defaults). dirrm_club_params_init keeps DIR's paper settings for the standalone
 * estimator; anything named "DIR loss" uses this struct. The penalty is
 *   lambda * max(I, 0)   (clip = 1)   or   lambda * I   (clip = 0, DIR as written).
 * I < 0 only when q lags the hidden states; descending it would reward anti-correlation with
 * the bias, which is how a large lambda flipped models to prefer it (docs/decisions.md §1).
 * cap = 1 scales the penalty's gradient on the hidden states down to at most the norm of the
 * preference loss's gradient there: a penalty gradient many times the preference gradient
 * swamps AdamW's scale and accuracy falls to chance. dirrm_train applies it itself; with
 * dirrm_dir_loss, which cannot see your model, apply it with dirrm_dir_cap after
 * backpropagating grad_r to the hidden states. */
typedef struct dirrm_dir_params {
  uint32_t struct_size;
  float lambda;          /* weight of the bound, finite, >= 0; chosen by the README's sweep, as
                            in DIR's published script (its code's 0.1 barely acts)   default 1 */
  int32_t clip;          /* 1: penalize max(I, 0); 0: I                  default 1 */
  int32_t cap;           /* 1: cap the penalty's gradient (see above); 0: do not   default 1 */
  dirrm_club_params club; /* the estimator: a Gaussian q of width 64 on one standardized
                            attribute (e.g. the length gap), chosen by the README's sweep:
                            default as dirrm_club_params_init except
                            bias_kind DIRRM_BIAS_GAUSSIAN, bias_dim 1, q_hidden 64 */
} dirrm_dir_params;

/* Fills *p with the defaults above (club.hidden_dim 0: set it). NULL is ignored. */
void dirrm_dir_params_init(dirrm_dir_params *p);

/* DIR's training loss (Alg. 1) in one call: if fit_first, dirrm_club_fit on this batch;
 * then L = L_pref + the penalty of p (above), with L_pref the Bradley-Terry loss of
 * dirrm_bt_loss (no margin, weights or centering) and I = dirrm_club_bound on this batch's
 * statistics. c: an estimator, e.g. created from p->club. p: the policy, NULL for
 * dirrm_dir_params_init's; the whole policy must be valid, but only lambda and clip act
 * here (q is c's; apply p->cap with dirrm_dir_cap). out_pref, out_mi (the unclipped I): NULL ok. grad_r_*: n, dL/dr (NULL ok);
 * grad_h_*: n x d, the penalty's gradient lambda * dI/dh (0 where the clip is active),
 * uncapped (NULL ok). On failure q is left as it was, fit included.
 * Statuses: OK, NULL_POINTER, SHAPE, NONFINITE, INVALID_ARGUMENT, VERSION, MISUSE,
 * OUT_OF_MEMORY. */
int32_t dirrm_dir_loss(dirrm_club *c, const dirrm_dir_params *p, int64_t n, const float *r_chosen,
                       const float *r_rejected, const float *h_chosen, const float *h_rejected,
                       const float *bias, int32_t fit_first, float *out_total, float *out_pref,
                       float *out_mi, float *grad_r_chosen, float *grad_r_rejected,
                       float *grad_h_chosen, float *grad_h_rejected);

/* DIR's gradient cap (p->cap): scales the penalty's gradient on the hidden states, grad_h_*
 * (n x d each, in place, e.g. dirrm_dir_loss's), by s = min(1, |pref| / |grad_h|), where
 * |pref| is the norm of pref_grad_h_* (n x d each: the preference loss's gradient on the
 * same hidden states, what your backward pass gives from grad_r) and |grad_h| the norm of
 * grad_h_*, both over the chosen and rejected halves together, in double. out_scale: NULL
 * ok, receives s. Data-parallel callers get one process's batch; capping each shard bounds
 * the global norm too, but is not the global batch's cap. Every value must be finite; on
 * failure nothing is written.
 * Statuses: OK, NULL_POINTER, SHAPE, NONFINITE, OUT_OF_MEMORY. */
int32_t dirrm_dir_cap(int64_t n, int64_t d, const float *pref_grad_h_chosen,
                      const float *pref_grad_h_rejected, float *grad_h_chosen,
                      float *grad_h_rejected, float *out_scale);

/* ---------------------------------------------------------------------------------------- */
/* 1.3 Prompt-free reward decomposition                                                     */
/* ---------------------------------------------------------------------------------------- */
/* For a pair (y1, y2) with gaps g_j = r(x_j, y1) - r(x_j, y2) under K prompts and weights
 * w_j >= 0 summing to 1, the prompt-free gap dr2 is the unique root d of
 *     Phi(d) = sum_j w_j sigmoid(g_j - d) = 1/2,
 * which lies in [min g_j, max g_j] over w_j > 0. The prompt-related gap is
 * dr1 = g_corr - dr2, with g_corr the gap under the pair's own prompt. */

#define DIRRM_PF_UNIFORM 0       /* w_j = 1/K */
#define DIRRM_PF_CORRESPONDING 1 /* p on the pair's own prompt, (1-p)/(K-1) on each other */
#define DIRRM_PF_EXPLICIT 2      /* weights[i*k + j] >= 0, each row with a positive sum */
#define DIRRM_PF_LOG_WEIGHTS 3   /* weights[i*k + j] = log w_j up to a constant per row */

/* Newton: safeguarded Newton iteration inside the data bracket, started at the root of the
 * saturated limit, with every iterate a float32 value, until Phi(dr2) = 1/2 exactly, a
 * Newton correction rounds away (the root is within half an ulp of dr2), or the root lies
 * between two adjacent float32 values, of which dr2 is the one with the smaller |Phi - 1/2|. Phi - 1/2 is evaluated without cancellation (where Phi is flat, the sigmoids'
 * far tails decide), so dr2 is the root's own float32 whatever the gaps' scale:
 * dr2(-g) = -dr2(g) exactly, dr2(g + c) = dr2(g) + c to float precision. tolerance is not
 * used. Each evaluation of Phi counts one iteration. */
#define DIRRM_PF_NEWTON 0
/* Bisection, the prompt-free paper's Alg. 1 as written:
 *     lo = r_min - r_max, hi = r_max - r_min   (when r_min < r_max; else the data bracket)
 *     while (hi - lo > tolerance) { mid = (lo + hi) / 2; if (Phi(mid) > 1/2) lo = mid; else hi = mid; }
 *     dr2 = (lo + hi) / 2
 * in double. A root outside [lo, hi] gives the nearer end. Each loop counts one iteration. */
#define DIRRM_PF_BISECTION 1

typedef struct dirrm_pf_params {
  uint32_t struct_size;
  int32_t weighting; /* DIRRM_PF_UNIFORM .. DIRRM_PF_LOG_WEIGHTS  default DIRRM_PF_CORRESPONDING */
  float p;           /* CORRESPONDING: own prompt's weight, in [0, 1]  default 0.5 */
  int32_t solver;    /* DIRRM_PF_NEWTON or DIRRM_PF_BISECTION          default DIRRM_PF_NEWTON */
  float tolerance;   /* > 0; bisection's bracket width (Newton: unused)  default 1e-6 */
  int32_t max_iter;  /* >= 1; iterations per pair                      default 100 */
  float r_min;       /* bisection bracket, see DIRRM_PF_BISECTION      default 0 */
  float r_max;       /*                                                default 0 */
} dirrm_pf_params;

/* Fills *p with the defaults above. NULL is ignored. */
void dirrm_pf_params_init(dirrm_pf_params *p);

/* The prompt-free gap of n pairs, each under k prompts.
 *
 * p          parameters (dirrm_pf_params_init).
 * n, k       pairs and prompts per pair, both >= 1. K = 1 gives dr2 = the gap.
 * gaps       n x k, gaps[i*k + j] = r(x_j, y1_i) - r(x_j, y2_i).
 * corr_col   n column indices in [0, k) of each pair's own prompt. Required for
 *            CORRESPONDING and when out_dr1 is given; else NULL ok.
 * weights    n x k for EXPLICIT (rows need not be normalized) and LOG_WEIGHTS (finite,
 *            any magnitude); must be NULL for UNIFORM and CORRESPONDING.
 * out_dr2    n prompt-free gaps.
 * out_dr1    NULL ok: n prompt-related gaps g_corr - dr2.
 * out_iters  NULL ok: n iteration counts (0 when all weighted gaps are equal).
 *
 * Statuses: OK, NULL_POINTER, SHAPE, NONFINITE, INVALID_ARGUMENT (enum, p, tolerance,
 * max_iter, corr_col, negative or all-zero weight rows), VERSION, NOT_CONVERGED (a pair
 * needed more than max_iter iterations; the message names it), OUT_OF_MEMORY. */
int32_t dirrm_pf_gap(const dirrm_pf_params *p, int64_t n, int64_t k, const float *gaps,
                     const int64_t *corr_col, const float *weights, float *out_dr2,
                     float *out_dr1, int32_t *out_iters);

/* Delta r2 in units of the batch's reward scale, as dirrm_train scores its candidates:
 *     out_dr2[i] = (float)(dr2[i] / s),   s = max(sqrt(sum_j own_gap[j]^2 / n), 1e-12)
 * in double; own_gap[i] is pair i's gap under its own prompt. Rewards all grow as a model
 * trains, and a threshold on raw dr2 would drift with them; the floor keeps a batch whose
 * own-prompt gaps are all 0 finite. n >= 1; out_dr2 may be dr2.
 * Statuses: OK, NULL_POINTER, SHAPE, NONFINITE (an input, or a quotient past float32),
 * OUT_OF_MEMORY. */
int32_t dirrm_pf_normalize(int64_t n, const float *own_gap, const float *dr2, float *out_dr2);

/* The k prompts each of n pairs is scored under: out_prompts[i*k] = corr_prompt[i], and
 * out_prompts[i*k + 1 .. i*k + k-1] are k-1 distinct other prompts drawn uniformly from
 * [0, num_prompts), in random order. Pair i's draw depends only on (seed, i).
 * Needs 1 <= k <= num_prompts and every corr_prompt[i] in [0, num_prompts).
 * Statuses: OK, NULL_POINTER, SHAPE, INVALID_ARGUMENT, OUT_OF_MEMORY. */
int32_t dirrm_pf_sample_prompts(int64_t n, int64_t k, int64_t num_prompts,
                                const int64_t *corr_prompt, uint64_t seed,
                                int64_t *out_prompts);

/* ---------------------------------------------------------------------------------------- */
/* 1.4 Two-cluster threshold and the prioritizer                                            */
/* ---------------------------------------------------------------------------------------- */

/* The exact split of n values into two clusters on the line that minimizes the
 * within-cluster sum of squares (equivalently, Otsu's maximal between-class variance),
 * found by sorting and prefix sums in O(n log n). Of equally good splits the lowest wins.
 * KMEANS places the threshold at the midpoint of the two cluster means; OTSU at the midpoint
 * of the largest value below and the smallest value above the split. n = 1 or all-equal
 * values give that value. */
#define DIRRM_CLUSTER_KMEANS 0
#define DIRRM_CLUSTER_OTSU 1

/* n >= 1 finite values. Statuses: OK, NULL_POINTER, SHAPE, NONFINITE, INVALID_ARGUMENT,
 * OUT_OF_MEMORY. */
int32_t dirrm_cluster_threshold(int64_t n, const float *values, int32_t method,
                                float *out_threshold);

/* The prompt-free paper's Alg. 2 as a sampler over num_samples pairs (indices 0..n-1).
 *
 * Each epoch starts with every pair in a pool (shuffled if params.shuffle). A step is one
 * round of proposals:
 *   1. dirrm_prioritizer_propose: take candidates from the pool;
 *   2. compute their dr2, then dirrm_prioritizer_decide: accept iff dr2 < threshold;
 *   3. dirrm_prioritizer_end_step: split every dr2 decided (or observed, below) since the
 *      last end_step into two clusters (dirrm_cluster_threshold) with boundary b, and set
 *      threshold = (float)(alpha * threshold + (1 - alpha) * (float)b), computed in double. A
 *      step with no decided values leaves the threshold as it was.
 * A training step (one optimizer update) takes such steps until its batch is full
 * (dirrm_train: at most pf_max_rounds of them, default 8), so a threshold that rejects a
 * round's candidates has moved toward their values by the next round.
 * Data parallel: each rank runs its own prioritizer on its shard and, before end_step, passes
 * the dr2 the other ranks decided in this round to dirrm_prioritizer_observe; every rank then
 * clusters the same values (in any order) and holds the same threshold.
 * A rejected pair with reinsertions left (max_reinsertions per pair per epoch) returns:
 * IMMEDIATE puts it back in the pool at a uniformly random position; LAZY defers it, and
 * the deferred pairs are shuffled back into the pool when it runs dry. A pair rejected with
 * no reinsertions left is dropped until the next epoch. The epoch ends when the pool, the
 * deferred list and the pending proposals are all empty. Same seed, same sequence. */
#define DIRRM_REINSERT_IMMEDIATE 0
#define DIRRM_REINSERT_LAZY 1

typedef struct dirrm_prioritizer dirrm_prioritizer;

typedef struct dirrm_prioritizer_params {
  uint32_t struct_size;
  int32_t cluster_method;  /* DIRRM_CLUSTER_*                default DIRRM_CLUSTER_KMEANS */
  float ema_weight;        /* alpha in [0, 1]                            default 0.9 */
  float initial_threshold; /* lambda_0, finite                           default 0 */
  int32_t reinsertion;     /* DIRRM_REINSERT_*          default DIRRM_REINSERT_IMMEDIATE */
  int32_t max_reinsertions; /* >= 0, per pair per epoch                  default 1 */
  int32_t shuffle;         /* 1: a new random order each epoch, 0: index order   default 1 */
  uint64_t seed;           /*                                            default 0 */
} dirrm_prioritizer_params;

/* Counts cover the current epoch (or the one just ended, until the next propose starts a
 * new one); epoch counts the epochs started, step the end_step calls since creation;
 * pool_remaining the pairs not yet proposed in this epoch (pool and deferred). */
typedef struct dirrm_prioritizer_stats {
  uint32_t struct_size;
  int64_t epoch, step, proposed, accepted, rejected, reinserted, dropped, pool_remaining;
  float threshold;
} dirrm_prioritizer_stats;

/* Fills *p with the defaults above. NULL is ignored. */
void dirrm_prioritizer_params_init(dirrm_prioritizer_params *p);

/* num_samples >= 1. Statuses: OK, NULL_POINTER, SHAPE, INVALID_ARGUMENT, VERSION,
 * OUT_OF_MEMORY. */
int32_t dirrm_prioritizer_create(const dirrm_prioritizer_params *p, int64_t num_samples,
                                 dirrm_prioritizer **out);
int32_t dirrm_prioritizer_free(dirrm_prioritizer *q);

/* Writes up to max_count (>= 1) candidate indices of the current epoch to out_indices and
 * their number to *out_count. *out_count == 0 means the epoch is over; the next call starts
 * the next one. With the pool empty but proposals still undecided it returns
 * DIRRM_ERR_MISUSE. OUT_OF_MEMORY when a new epoch's pool or the proposals do not fit. */
int32_t dirrm_prioritizer_propose(dirrm_prioritizer *q, int64_t max_count, int64_t *out_indices,
                                  int64_t *out_count);

/* Decides count (>= 1) pending candidates: out_accept[i] = 1 iff dr2[i] < threshold, else 0.
 * An index that is out of range, not pending, or repeated in the call returns
 * DIRRM_ERR_MISUSE (INVALID_ARGUMENT when out of range); non-finite dr2 returns
 * DIRRM_ERR_NONFINITE; in both cases nothing is decided. */
int32_t dirrm_prioritizer_decide(dirrm_prioritizer *q, int64_t count, const int64_t *indices,
                                 const float *dr2, uint8_t *out_accept);

/* Adds count (>= 1) dr2 values decided elsewhere (another rank's prioritizer) to this step's
 * clustering, deciding nothing: end_step then treats them as if decided here. Non-finite
 * dr2 returns DIRRM_ERR_NONFINITE and adds nothing. Statuses: OK, NULL_POINTER, SHAPE,
 * NONFINITE, MISUSE, OUT_OF_MEMORY. */
int32_t dirrm_prioritizer_observe(dirrm_prioritizer *q, int64_t count, const float *dr2);

/* Ends a step: updates the threshold as described above. out_threshold: NULL ok.
 * OUT_OF_MEMORY (nothing changed) when the clustering of the step's values does not fit. */
int32_t dirrm_prioritizer_end_step(dirrm_prioritizer *q, float *out_threshold);

/* The num_samples the prioritizer was created with. */
int32_t dirrm_prioritizer_num_samples(const dirrm_prioritizer *q, int64_t *out_num_samples);

/* out->struct_size must be sizeof(dirrm_prioritizer_stats). */
int32_t dirrm_prioritizer_get_stats(const dirrm_prioritizer *q, dirrm_prioritizer_stats *out);

/* The whole state, mid-epoch included: a loaded copy continues exactly as the original. */
int32_t dirrm_prioritizer_save(const dirrm_prioritizer *q, uint8_t *buf, int64_t cap,
                               int64_t *out_size);
int32_t dirrm_prioritizer_load(const uint8_t *buf, int64_t size, dirrm_prioritizer **out);

/* ---------------------------------------------------------------------------------------- */
/* 2.3 The reward model: datasets, synthetic data, training, evaluation                     */
/* ---------------------------------------------------------------------------------------- */

/* A dataset holds prompt features, response features and pairs by index, so that any
 * prompt can be scored with any response (the prompt-free decomposition needs that). */
typedef struct dirrm_dataset dirrm_dataset;

/* Copies everything. num_prompts, num_responses, num_pairs >= 1; prompt_dim, response_dim
 * >= 1; pairs: num_pairs x 3 (prompt index, chosen response index, rejected response
 * index), each in range (else DIRRM_ERR_INVALID_ARGUMENT naming the first bad entry);
 * bias: num_pairs x bias_dim pair-level attributes, or NULL with bias_dim 0. */
int32_t dirrm_dataset_create(int64_t num_prompts, int64_t prompt_dim, const float *prompt_features,
                             int64_t num_responses, int64_t response_dim,
                             const float *response_features, int64_t num_pairs,
                             const int64_t *pairs, int64_t bias_dim, const float *bias,
                             dirrm_dataset **out);
int32_t dirrm_dataset_free(dirrm_dataset *d);
/* Any out may be NULL. */
int32_t dirrm_dataset_shape(const dirrm_dataset *d, int64_t *num_prompts, int64_t *prompt_dim,
                            int64_t *num_responses, int64_t *response_dim, int64_t *num_pairs,
                            int64_t *bias_dim);
/* Copies the dataset's arrays out, in the layouts dirrm_dataset_create takes: prompt_features
 * num_prompts x prompt_dim, response_features num_responses x response_dim, pairs num_pairs x
 * 3, bias num_pairs x bias_dim (see dirrm_dataset_shape). Any may be NULL; bias must be NULL
 * when bias_dim is 0. Each non-NULL buffer must hold its whole array. */
int32_t dirrm_dataset_copy(const dirrm_dataset *d, float *prompt_features, float *response_features,
                           int64_t *pairs, float *bias);

/* Synthetic data with a known ground truth. Prompt features are [content, instruction sign
 * (+1, or -1 for an instruction-flipped prompt)]; response features are [content, a block
 * holding the standardized length, a block holding the sycophantic-prefix flag]. The true
 * reward is sign * (how well the response's content fits the prompt's content, a bilinear
 * form): every true preference is prompt-related; length and the flag never matter, but
 * are easy to read. Training labels carry
 * Bradley-Terry noise; test sets are unbiased and labelled by the ground truth, with a
 * quarter as many prompts (at least 50). Every kind has one bias column.
 *   UNBIASED     all pairs, subsampled to the size of a LENGTH set; bias: length difference.
 *   LENGTH       every chosen-longer pair plus chosen-shorter ones making them a share
 *                bias_ratio (0.8: a quarter as many shorter); bias: length difference
 *                (chosen - rejected). The test set has all pairs.
 *   SYCOPHANCY   half the pairs carry a sycophantic prefix, on the chosen response with
 *                probability bias_ratio; bias: +1 if the chosen response carries it, -1 if
 *                the rejected one does, 0 for none. The test set holds every pair twice:
 *                plain, and with the prefix on a random side, so that flagged and unflagged
 *                accuracy compare the same contents.
 *   ADVERSARIAL  the UNBIASED set plus, for a share bias_ratio of its pairs, a duplicate
 *                under the instruction-flipped prompt with the preference reversed (the
 *                prompt-free paper's section 4.1.2); bias: 1 on duplicates. */
#define DIRRM_SYNTH_UNBIASED 0
#define DIRRM_SYNTH_LENGTH 1
#define DIRRM_SYNTH_SYCOPHANCY 2
#define DIRRM_SYNTH_ADVERSARIAL 3

typedef struct dirrm_synth_params {
  uint32_t struct_size;
  int32_t kind;                 /* DIRRM_SYNTH_*               default DIRRM_SYNTH_LENGTH */
  float bias_ratio;             /* in [0.5, 1]                             default 0.8 */
  int64_t num_prompts;          /* training prompts in [2, 10^6]           default 2000 */
  int32_t responses_per_prompt; /* in [2, 64]                              default 4 */
  int64_t prompt_dim;           /* in [2, 4096]                            default 64 */
  int64_t response_dim;         /* in [4, 4096]                            default 64 */
  uint64_t seed;                /*                                         default 0 */
} dirrm_synth_params;

void dirrm_synth_params_init(dirrm_synth_params *p);
/* Statuses: OK, NULL_POINTER, INVALID_ARGUMENT (a field outside its range), NONFINITE
 * (bias_ratio NaN), VERSION, OUT_OF_MEMORY (the two sets do not fit: 10^6 prompts of 64 responses of 4096 floats
 * would be about a terabyte). On failure nothing is written. */
int32_t dirrm_synth_generate(const dirrm_synth_params *p, dirrm_dataset **train,
                             dirrm_dataset **test);

/* The reward model: h1 = relu(W1 [x; y] + b1 + (P x) * (Q y)) (an MLP layer plus a
 * multiplicative prompt-response interaction), h_l = relu(W_l h_{l-1} + b_l) for l = 2 ..
 * depth, reward r = v . h_depth + c. The hidden state h_depth (width floats) is what DIR's
 * estimator reads. */
typedef struct dirrm_model dirrm_model;

typedef struct dirrm_model_params {
  uint32_t struct_size;
  int64_t prompt_dim, response_dim; /* in [1, 2^16], required */
  int32_t width;                    /* hidden state size d in [1, 4096]   default 128 */
  int32_t depth;                    /* backbone layers in [1, 16]         default 2 */
  uint64_t seed;                    /*                                    default 0 */
} dirrm_model_params;

void dirrm_model_params_init(dirrm_model_params *p);
int32_t dirrm_model_create(const dirrm_model_params *p, dirrm_model **out);
int32_t dirrm_model_free(dirrm_model *m);
/* The model's dimensions; any out may be NULL. */
int32_t dirrm_model_shape(const dirrm_model *m, int64_t *prompt_dim, int64_t *response_dim,
                          int32_t *width, int32_t *depth);
/* Rewards of n (prompt, response) feature rows: prompt_features n x prompt_dim,
 * response_features n x response_dim. out_reward: n; out_hidden: n x width, NULL ok. */
int32_t dirrm_model_score(dirrm_model *m, int64_t n, const float *prompt_features,
                          const float *response_features, float *out_reward, float *out_hidden);
/* Serialization (shape and parameters); see the handle conventions. */
int32_t dirrm_model_save(const dirrm_model *m, uint8_t *buf, int64_t cap, int64_t *out_size);
int32_t dirrm_model_load(const uint8_t *buf, int64_t size, dirrm_model **out);

#define DIRRM_METHOD_VANILLA 0         /* Bradley-Terry */
#define DIRRM_METHOD_DIR 1             /* BT + lambda * CLUB, q fitted on each batch (Alg. 1) */
#define DIRRM_METHOD_PROMPT_FREE 2     /* BT on the pairs the prioritizer accepts (Alg. 2) */
#define DIRRM_METHOD_DIR_PROMPT_FREE 3 /* both */

typedef struct dirrm_train_params {
  uint32_t struct_size;
  int32_t method;        /* DIRRM_METHOD_*                   default DIRRM_METHOD_VANILLA */
  int32_t epochs;        /* >= 0                                    default 3 */
  int32_t batch_size;    /* in [1, 2^20]                            default 64 */
  float learning_rate;   /* AdamW, > 0                              default 1e-3 */
  float weight_decay;    /* >= 0                                    default 0.01 */
  dirrm_dir_params dir;  /* DIR's policy; club.hidden_dim is ignored (the model's width is
                            used): default as dirrm_dir_params_init */
  int32_t bias_column;   /* the dataset bias column DIR reads; a CATEGORICAL estimator sees
                            1[value > 0], a GAUSSIAN one (bias_dim 1) the value   default 0 */
  int32_t pf_prompts;    /* K prompts per pair (own + K-1 sampled), in [1, 4096]; capped at
                            the dataset's prompt count                    default 8 */
  int32_t pf_max_rounds; /* proposal rounds a prompt-free step makes at most to fill its
                            batch, >= 1 (dirrm.torch's sampler reads it too)   default 8 */
  dirrm_pf_params pf;    /* the Delta r2 solver; corr_col is column 0. p = 0 leaves the own
                            prompt out, so Delta r2 measures the other prompts only. The
                            weighting is UNIFORM or CORRESPONDING (INVALID_ARGUMENT
                            otherwise); Newton's 200 iterations always reach the float grid:
                            default as dirrm_pf_params_init except p 0, max_iter 200 */
  dirrm_prioritizer_params prioritizer; /* a rejected pair waits for the next epoch:
                            default as dirrm_prioritizer_params_init except max_reinsertions 0 */
  uint64_t seed;         /* shuffling, prompt sampling, the prioritizer   default 0 */
} dirrm_train_params;

void dirrm_train_params_init(dirrm_train_params *p);

/* Called after every step; return non-zero to stop training early (dirrm_train then
 * returns DIRRM_OK having done fewer steps). loss_pref and mi are NaN where a step did not
 * compute them (a prompt-free step that accepted nothing trains nothing); threshold is NaN
 * without prompt-free prioritization. */
typedef int32_t (*dirrm_progress_fn)(void *user, int64_t step, int64_t total_steps,
                                     float loss_pref, float mi, float threshold);

/* Trains m on train: epochs x ceil(num_pairs / batch_size) AdamW steps for every method.
 * The prompt-free methods fill each step's batch with accepted candidates: they propose,
 * score each candidate under pf_prompts prompts of the dataset, compute Delta r2, divide it
 * by the batch's RMS own-prompt reward gap (dirrm_pf_normalize, so that the threshold does
 * not drift as rewards grow), and decide, until the batch is full or pf_max_rounds rounds
 * were made, ending the prioritizer's step after every round (dirrm_prioritizer_end_step:
 * one threshold update per round, on the Delta r2 it decided). The
 * prioritizer's epochs roll over as they end. DIR_PROMPT_FREE applies the CLUB penalty to
 * every candidate the step scored, and Bradley-Terry to the accepted ones. On an error the
 * model is left as it was. The total_steps passed to progress, the same on every call, is
 * the steps taken, epochs x ceil(num_pairs / batch_size) for every method (reinsertions
 * refill batches within that budget), and must be at most 2^40 (INVALID_ARGUMENT naming
 * epochs otherwise).
 * Statuses: OK, NULL_POINTER, INVALID_ARGUMENT, SHAPE (feature dimensions differ from the
 * model's), VERSION, NONFINITE (training diverged), NOT_CONVERGED (Delta r2 did not converge
 * within pf.max_iter), MISUSE, OUT_OF_MEMORY (the model, its optimizer and one step's pass do
 * not fit: with prompt-free a round's batch_size x (pf_prompts + 1) pairs scored, and with
 * DIR_PROMPT_FREE a step's up to batch_size x pf_max_rounds candidates penalized). */
int32_t dirrm_train(dirrm_model *m, const dirrm_dataset *train, const dirrm_train_params *p,
                    dirrm_progress_fn progress, void *user);

typedef struct dirrm_eval_report {
  uint32_t struct_size;           /* set to sizeof(dirrm_eval_report) before the call */
  int64_t pairs;
  float accuracy;                 /* share of pairs with r(chosen) > r(rejected) */
  float mean_gap;
  float gap_bias_pearson;         /* between the reward gap and the bias column */
  float gap_bias_spearman;        /* (NaN when either is constant or there is no bias) */
  float accuracy_bias_positive;   /* accuracy over pairs whose bias value > 0 (NaN if none) */
  float accuracy_bias_negative;   /* accuracy over pairs whose bias value <= 0 (NaN if none) */
} dirrm_eval_report;

/* bias_column: a column of d, or -1 for none.
 * Statuses: OK, NULL_POINTER, INVALID_ARGUMENT (bias_column), SHAPE (feature dimensions
 * differ from the model's), VERSION, OUT_OF_MEMORY. */
int32_t dirrm_evaluate(dirrm_model *m, const dirrm_dataset *d, int32_t bias_column,
                       dirrm_eval_report *out);

/* ---------------------------------------------------------------------------------------- */
/* 2.4 Auditing any reward model: how much its preferences follow an attribute              */
/* ---------------------------------------------------------------------------------------- */

/* dirrm_audit reports how much a reward model's preferences follow one attribute of the
 * responses (length, a flag, a format score), from any trainer's outputs: each pair's
 * rewards (chosen, rejected: the labels' order), each response's attribute value, and
 * optionally the hidden states (docs/mathematics.md §6). Agreement is r(chosen) >
 * r(rejected), a tie counting one half. A categorical attribute is audited one category at a
 * time, as the indicator 1[category = k] (dirrm.audit does this). */
typedef struct dirrm_audit_params {
  uint32_t struct_size;
  int32_t bootstrap;        /* resamples of the pairs for Spearman's percentile interval,
                               0 (no interval) .. 2^20                        default 1000 */
  double level;             /* the interval's coverage, in (0, 1)             default 0.95 */
  int32_t buckets;          /* quantile buckets of the attribute gap, 1 .. 1024  default 5 */
  int32_t club_steps;       /* AdamW steps fitting q on half the pairs; 0: no estimate
                                                                                default 500 */
  int32_t club_batch;       /* pairs per step, 1 .. 2^20                      default 256 */
  int32_t q_hidden;         /* q: DIR's Gaussian on the attribute gap, this wide, >= 2
                                                                                 default 64 */
  float club_learning_rate; /* finite, > 0                                    default 1e-3 */
  uint64_t seed;            /* the resamples, the split and q's initialization   default 0 */
} dirrm_audit_params;

/* Fills *p with the defaults above. NULL is ignored. */
void dirrm_audit_params_init(dirrm_audit_params *p);

typedef struct dirrm_audit_report {
  uint32_t struct_size;       /* set to sizeof(dirrm_audit_report) before the call */
  int64_t pairs;
  double agreement;           /* share of pairs the model orders as the labels do */
  double spearman;            /* Spearman(reward gap, attribute gap), gaps chosen - rejected,
                                 ties given average ranks; NaN if either is constant */
  double spearman_low;        /* its percentile bootstrap interval at p->level (NaN when */
  double spearman_high;       /*   bootstrap is 0 or every resample is constant) */
  double attribute_baseline;  /* agreement of "the larger attribute wins" (ties one half) */
  double agreement_larger;    /* agreement where the chosen attribute is larger (NaN if none), */
  double agreement_smaller;   /*   smaller, */
  double agreement_equal;     /*   equal */
  int64_t pairs_larger, pairs_smaller, pairs_equal;
  double balanced_agreement;  /* (agreement_larger + agreement_smaller) / 2 */
  double coefficient;         /* the logistic regression P(agree) = sigmoid(intercept +
                                 coefficient * gap / sd(gap)), sd the population standard
                                 deviation, with scikit-learn's default penalty coefficient^2/2;
                                 coefficient 0 when the gap is constant */
  double intercept;           /* +-inf when the model always / never agrees */
  double controlled_agreement; /* sigmoid(intercept): agreement with the attribute's effect
                                 removed, as AlpacaEval's length-controlled win rate */
  double mutual_information;  /* the CLUB estimate of I(h_chosen - h_rejected; attribute gap):
                                 q fitted on a seeded half of the pairs, evaluated on the other
                                 half; NaN without hidden states or with club_steps 0 */
  int64_t num_buckets;        /* buckets written below (empty quantile buckets are left out) */
} dirrm_audit_report;

/* The audit of n >= 2 pairs (n >= 4 with hidden states). p: NULL for the defaults.
 * r_chosen, r_rejected, attr_chosen, attr_rejected: n values each, finite. h_chosen,
 * h_rejected: n x d hidden states (d <= 2^20, q's input), or both NULL with d = 0. The bucket arrays (p->buckets
 * entries each, NULL ok) receive, per quantile bucket of the attribute gap in increasing
 * order, its smallest and largest gap, its pair count and its agreement; the buckets split
 * the sorted gaps at ranks floor(k n / buckets), a gap equal to an edge going to the upper
 * bucket. Deterministic for a given seed and thread count. On failure nothing is written.
 * Statuses: OK, NULL_POINTER, SHAPE, NONFINITE, INVALID_ARGUMENT, VERSION, OUT_OF_MEMORY,
 * NONFINITE also when fitting q diverges, INTERNAL. */
int32_t dirrm_audit(const dirrm_audit_params *p, int64_t n, const float *r_chosen,
                    const float *r_rejected, const float *attr_chosen, const float *attr_rejected,
                    int64_t d, const float *h_chosen, const float *h_rejected,
                    dirrm_audit_report *out, double *bucket_lowest, double *bucket_highest,
                    int64_t *bucket_pairs, double *bucket_agreement);

#ifdef __cplusplus
}
#endif

#endif /* DIRRM_H */
