/* Hostile calls: each case is an input that once killed the host process or returned a silent
 * wrong result. Every case runs in a forked child, so a trap or abort is reported as that
 * case's failure instead of ending the run. Built and run by `make test` (target hostile).
 *
 *   hostile_calls            run every case
 *   hostile_calls NAME       run one case in this process (for a debugger)
 *
 * Memory cases lower RLIMIT_AS in the child, so that "the allocation fails" happens on any
 * machine: the library must then answer DIRRM_ERR_OUT_OF_MEMORY, never trap. */
#include <fenv.h>
#include <immintrin.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dirrm.h"

#define EXPECT(cond)                                                            \
  do {                                                                          \
    if (!(cond)) {                                                              \
      fprintf(stderr, "  %s:%d: %s (last error: %s)\n", __FILE__, __LINE__,     \
              #cond, dirrm_last_error());                                       \
      return 1;                                                                 \
    }                                                                           \
  } while (0)

/* ---- serialized buffers, written here from the format's description (ByteCoding.swift):
 *      magic (8) | version u32 | payload length u64 | payload | FNV-1a-64 of all before ---- */

typedef struct {
  uint8_t bytes[1 << 16];
  size_t size;
} buffer;

static void put_u8(buffer *b, uint8_t v) { b->bytes[b->size++] = v; }
static void put_u32(buffer *b, uint32_t v) {
  for (int i = 0; i < 4; i++) put_u8(b, (uint8_t)(v >> (8 * i)));
}
static void put_u64(buffer *b, uint64_t v) {
  for (int i = 0; i < 8; i++) put_u8(b, (uint8_t)(v >> (8 * i)));
}
static void put_f32(buffer *b, float v) {
  uint32_t u;
  memcpy(&u, &v, 4);
  put_u32(b, u);
}

static uint64_t fnv1a(const uint8_t *p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

/* Frames `payload` with a valid checksum, as a crafted (or buggy) writer would. */
static void frame(const char magic[8], const buffer *payload, buffer *out) {
  out->size = 0;
  for (int i = 0; i < 8; i++) put_u8(out, (uint8_t)magic[i]);
  put_u32(out, 1);
  put_u64(out, payload->size);
  memcpy(out->bytes + out->size, payload->bytes, payload->size);
  out->size += payload->size;
  put_u64(out, fnv1a(out->bytes, out->size));
}

/* Overwrites a u64 inside a saved buffer's payload and fixes the checksum. */
static void patch_u64(buffer *b, size_t payload_offset, uint64_t v) {
  size_t at = 20 + payload_offset;
  for (int i = 0; i < 8; i++) b->bytes[at + i] = (uint8_t)(v >> (8 * i));
  uint64_t h = fnv1a(b->bytes, b->size - 8);
  for (int i = 0; i < 8; i++) b->bytes[b->size - 8 + i] = (uint8_t)(h >> (8 * i));
}

/* A prioritizer payload over n pairs: settings, threshold, RNG state, the seven counters, an
 * open flag, the pool and deferred lists, each pair's place and reinsertion count. */
typedef struct {
  uint64_t n, max_reinsertions;
  uint64_t counters[7]; /* epoch, step, proposed, accepted, rejected, reinserted, dropped */
  uint8_t open;
  const uint64_t *pool;
  uint64_t pool_count;
  const uint8_t *place; /* n entries; NULL: all 0 (pool) */
  uint64_t places_written;
} prioritizer_state;

static void prioritizer_buffer(const prioritizer_state *s, buffer *out) {
  buffer p = {.size = 0};
  put_u8(&p, 0);
  put_f32(&p, 0.9f);
  put_f32(&p, 0.0f);
  put_u8(&p, 0);
  put_u64(&p, s->max_reinsertions);
  put_u8(&p, 1);
  put_u64(&p, 7);
  put_u64(&p, s->n);
  put_f32(&p, 0.0f);
  for (int i = 0; i < 4; i++) put_u64(&p, 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1));
  for (int i = 0; i < 7; i++) put_u64(&p, s->counters[i]);
  put_u8(&p, s->open);
  put_u64(&p, s->pool_count);
  for (uint64_t i = 0; i < s->pool_count; i++) put_u64(&p, s->pool[i]);
  put_u64(&p, 0); /* deferred */
  for (uint64_t i = 0; i < s->places_written; i++) put_u8(&p, s->place ? s->place[i] : 0);
  for (uint64_t i = 0; i < s->places_written; i++) put_u32(&p, 0);
  put_u64(&p, 0); /* step values */
  frame("DIRRMPQ\0", &p, out);
}

/* ---- fixtures ---- */

static dirrm_club *small_club(int32_t kind, int32_t classes, int32_t hidden, int32_t q_hidden) {
  dirrm_club_params p;
  dirrm_club_params_init(&p);
  p.bias_kind = kind;
  p.bias_dim = classes;
  p.hidden_dim = hidden;
  p.q_hidden = q_hidden;
  dirrm_club *c = NULL;
  return dirrm_club_create(&p, &c) == DIRRM_OK ? c : NULL;
}

#define N 8
#define D 4
static float hc[N * D], hr[N * D], labels[N];
static void fill_batch(void) {
  for (int i = 0; i < N * D; i++) {
    hc[i] = (float)((i * 37) % 11) / 11.0f - 0.4f;
    hr[i] = (float)((i * 53) % 13) / 13.0f - 0.5f;
  }
  for (int i = 0; i < N; i++) labels[i] = (float)(i % 2);
}

static int same_state(dirrm_club *a, dirrm_club *b) {
  static uint8_t x[1 << 16], y[1 << 16];
  int64_t nx = 0, ny = 0;
  if (dirrm_club_save(a, x, sizeof x, &nx) != DIRRM_OK) return 0;
  if (dirrm_club_save(b, y, sizeof y, &ny) != DIRRM_OK) return 0;
  return nx == ny && memcmp(x, y, (size_t)nx) == 0;
}

/* Lowers the address-space limit to what the process maps now plus `extra` bytes. */
static void limit_memory(size_t extra) {
  FILE *f = fopen("/proc/self/statm", "r");
  unsigned long pages = 0;
  if (f) {
    if (fscanf(f, "%lu", &pages) != 1) pages = 0;
    fclose(f);
  }
  rlim_t limit = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + extra;
  struct rlimit r = {limit, limit};
  setrlimit(RLIMIT_AS, &r);
}

/* ---- 1. optional outputs: NULL must skip the output, never the work ---- */

static int null_out_nll_still_fits(void) {
  fill_batch();
  dirrm_club *a = small_club(DIRRM_BIAS_CATEGORICAL, 2, D, 8);
  dirrm_club *b = small_club(DIRRM_BIAS_CATEGORICAL, 2, D, 8);
  EXPECT(a && b && same_state(a, b));
  float nll;
  EXPECT(dirrm_club_fit(a, N, hc, hr, labels, &nll) == DIRRM_OK);
  EXPECT(dirrm_club_fit(b, N, hc, hr, labels, NULL) == DIRRM_OK);
  EXPECT(same_state(a, b));
  return 0;
}

static int null_outputs_of_dir_loss_still_fit(void) {
  fill_batch();
  dirrm_club *a = small_club(DIRRM_BIAS_CATEGORICAL, 2, D, 8);
  dirrm_club *b = small_club(DIRRM_BIAS_CATEGORICAL, 2, D, 8);
  float rc[N], rr[N], total_a, total_b, pref, mi, g[4][N * D];
  for (int i = 0; i < N; i++) rc[i] = (float)i / N, rr[i] = 0.5f;
  dirrm_dir_params policy;
  dirrm_dir_params_init(&policy);
  policy.lambda = 0.5f;
  EXPECT(dirrm_dir_loss(a, &policy, N, rc, rr, hc, hr, labels, 1, &total_a, &pref, &mi, g[0], g[1],
                        g[2], g[3]) == DIRRM_OK);
  EXPECT(dirrm_dir_loss(b, &policy, N, rc, rr, hc, hr, labels, 1, &total_b, NULL, NULL, NULL, NULL,
                        NULL, NULL) == DIRRM_OK);
  EXPECT(total_a == total_b);
  EXPECT(same_state(a, b));
  return 0;
}

static int null_threshold_still_ends_the_step(void) {
  dirrm_prioritizer_params p;
  dirrm_prioritizer_params_init(&p);
  dirrm_prioritizer *a = NULL, *b = NULL;
  EXPECT(dirrm_prioritizer_create(&p, 16, &a) == DIRRM_OK);
  EXPECT(dirrm_prioritizer_create(&p, 16, &b) == DIRRM_OK);
  dirrm_prioritizer *both[2] = {a, b};
  float t = 0;
  for (int k = 0; k < 2; k++) {
    int64_t idx[4], count = 0;
    float dr2[4] = {-1, 2, 3, -4};
    uint8_t accept[4];
    EXPECT(dirrm_prioritizer_propose(both[k], 4, idx, &count) == DIRRM_OK && count == 4);
    EXPECT(dirrm_prioritizer_decide(both[k], 4, idx, dr2, accept) == DIRRM_OK);
    EXPECT(dirrm_prioritizer_end_step(both[k], k == 0 ? &t : NULL) == DIRRM_OK);
  }
  dirrm_prioritizer_stats sa = {.struct_size = sizeof sa}, sb = {.struct_size = sizeof sb};
  EXPECT(dirrm_prioritizer_get_stats(a, &sa) == DIRRM_OK);
  EXPECT(dirrm_prioritizer_get_stats(b, &sb) == DIRRM_OK);
  EXPECT(sa.step == 1 && sb.step == 1 && sa.threshold == sb.threshold && sa.threshold == t);
  return 0;
}

static int null_optional_outputs_keep_results(void) {
  float rc[N], rr[N], loss_a, loss_b, gc[N], gr[N];
  for (int i = 0; i < N; i++) rc[i] = (float)i, rr[i] = (float)(N - i);
  EXPECT(dirrm_bt_loss(N, rc, rr, NULL, NULL, 0, &loss_a, gc, gr) == DIRRM_OK);
  EXPECT(dirrm_bt_loss(N, rc, rr, NULL, NULL, 0, &loss_b, NULL, NULL) == DIRRM_OK);
  EXPECT(loss_a == loss_b);

  dirrm_pf_params pf;
  dirrm_pf_params_init(&pf);
  float gaps[N * 3], dr2a[N], dr2b[N], dr1[N];
  int32_t iters[N];
  int64_t corr[N] = {0};
  for (int i = 0; i < N * 3; i++) gaps[i] = (float)((i * 7) % 5) - 2.0f;
  EXPECT(dirrm_pf_gap(&pf, N, 3, gaps, corr, NULL, dr2a, dr1, iters) == DIRRM_OK);
  EXPECT(dirrm_pf_gap(&pf, N, 3, gaps, corr, NULL, dr2b, NULL, NULL) == DIRRM_OK);
  EXPECT(memcmp(dr2a, dr2b, sizeof dr2a) == 0);

  dirrm_model_params mp;
  dirrm_model_params_init(&mp);
  mp.prompt_dim = 3, mp.response_dim = 2, mp.width = 8;
  dirrm_model *m = NULL;
  EXPECT(dirrm_model_create(&mp, &m) == DIRRM_OK);
  float x[N * 3], y[N * 2], ra[N], rb[N], hidden[N * 8];
  for (int i = 0; i < N * 3; i++) x[i] = (float)(i % 4) * 0.25f;
  for (int i = 0; i < N * 2; i++) y[i] = (float)(i % 3) * 0.3f;
  EXPECT(dirrm_model_score(m, N, x, y, ra, hidden) == DIRRM_OK);
  EXPECT(dirrm_model_score(m, N, x, y, rb, NULL) == DIRRM_OK);
  EXPECT(memcmp(ra, rb, sizeof ra) == 0);

  fill_batch();
  dirrm_club *c = small_club(DIRRM_BIAS_CATEGORICAL, 2, D, 8);
  float mi_a, mi_b, g1[N * D], g2[N * D];
  EXPECT(c && dirrm_club_bound(c, N, hc, hr, labels, NULL, &mi_a, g1, g2) == DIRRM_OK);
  EXPECT(dirrm_club_bound(c, N, hc, hr, labels, NULL, &mi_b, NULL, NULL) == DIRRM_OK);
  EXPECT(mi_a == mi_b);

  int64_t shape[6];
  dirrm_dataset *d = NULL;
  float features[4] = {0.1f, 0.2f, 0.3f, 0.4f}, bias[1] = {1};
  int64_t pair[3] = {0, 0, 1};
  EXPECT(dirrm_dataset_create(2, 2, features, 2, 2, features, 1, pair, 1, bias, &d) == DIRRM_OK);
  EXPECT(dirrm_dataset_shape(d, &shape[0], NULL, NULL, &shape[3], NULL, &shape[5]) == DIRRM_OK);
  EXPECT(shape[0] == 2 && shape[3] == 2 && shape[5] == 1);
  return 0;
}

/* ---- 2. checksum-valid crafted buffers ---- */

static int prioritizer_claiming_2_40_samples_is_corrupt(void) {
  prioritizer_state s = {.n = 1ull << 40, .places_written = 4};
  buffer b;
  prioritizer_buffer(&s, &b);
  dirrm_prioritizer *q = NULL;
  EXPECT(dirrm_prioritizer_load(b.bytes, (int64_t)b.size, &q) == DIRRM_ERR_CORRUPT);
  return 0;
}

/* 256 pairs, all in the pool, and the pool lists pair 0 256 times (its length is right). */
static int prioritizer_listing_an_index_256_times_is_corrupt(void) {
  static uint64_t pool[256];
  prioritizer_state s = {.n = 256, .open = 1, .pool = pool, .pool_count = 256,
                         .places_written = 256};
  buffer b;
  prioritizer_buffer(&s, &b);
  dirrm_prioritizer *q = NULL;
  EXPECT(dirrm_prioritizer_load(b.bytes, (int64_t)b.size, &q) == DIRRM_ERR_CORRUPT);
  return 0;
}

/* Counters at Int64.max load today only if they cannot overflow later: drive the loaded
 * object through a whole epoch either way. */
static int prioritizer_counters_near_int64_max(void) {
  static const uint64_t pool[2] = {1, 0};
  for (int which = 0; which < 7; which++) {
    prioritizer_state s = {.n = 2, .open = 1, .pool = pool, .pool_count = 2, .places_written = 2};
    s.counters[which] = INT64_MAX - 1;
    buffer b;
    prioritizer_buffer(&s, &b);
    dirrm_prioritizer *q = NULL;
    int32_t status = dirrm_prioritizer_load(b.bytes, (int64_t)b.size, &q);
    EXPECT(status == DIRRM_OK || status == DIRRM_ERR_CORRUPT);
    if (status != DIRRM_OK) continue;
    for (int step = 0; step < 4; step++) {
      int64_t idx[2], count = 0;
      float dr2[2] = {1, -1};
      uint8_t accept[2];
      EXPECT(dirrm_prioritizer_propose(q, 2, idx, &count) == DIRRM_OK);
      if (count > 0) EXPECT(dirrm_prioritizer_decide(q, count, idx, dr2, accept) == DIRRM_OK);
      EXPECT(dirrm_prioritizer_end_step(q, NULL) == DIRRM_OK);
    }
    dirrm_prioritizer_free(q);
  }
  /* The counters the format cannot have reached are refused outright. */
  prioritizer_state s = {.n = 2, .open = 1, .pool = pool, .pool_count = 2, .places_written = 2};
  s.counters[1] = INT64_MAX;
  buffer b;
  prioritizer_buffer(&s, &b);
  dirrm_prioritizer *q = NULL;
  EXPECT(dirrm_prioritizer_load(b.bytes, (int64_t)b.size, &q) == DIRRM_ERR_CORRUPT);
  return 0;
}

static int club_with_adamw_step_int64_max(void) {
  fill_batch();
  dirrm_club *c = small_club(DIRRM_BIAS_CATEGORICAL, 2, D, 8);
  EXPECT(c);
  static buffer b;
  int64_t size = 0;
  EXPECT(dirrm_club_save(c, b.bytes, sizeof b.bytes, &size) == DIRRM_OK);
  b.size = (size_t)size;
  /* kind u8, C u64, d u64, mode u8, q_hidden u64, fit_steps u64, lr, wd, B f32, seed u64. */
  patch_u64(&b, 1 + 8 + 8 + 1 + 8 + 8 + 4 + 4 + 4 + 8, (uint64_t)INT64_MAX);
  dirrm_club *loaded = NULL;
  int32_t status = dirrm_club_load(b.bytes, (int64_t)b.size, &loaded);
  EXPECT(status == DIRRM_ERR_CORRUPT || status == DIRRM_OK);
  float nll; /* not NULL: a NULL out_nll once skipped the fit (case null_out_nll_still_fits) */
  if (status == DIRRM_OK) EXPECT(dirrm_club_fit(loaded, N, hc, hr, labels, &nll) == DIRRM_OK);
  return 0;
}

/* A prioritizer saved before its first proposal loads (it once failed as "inconsistently
 * placed") and continues as the original. */
static int fresh_prioritizer_round_trips(void) {
  dirrm_prioritizer_params p;
  dirrm_prioritizer_params_init(&p);
  dirrm_prioritizer *a = NULL, *b = NULL;
  EXPECT(dirrm_prioritizer_create(&p, 5, &a) == DIRRM_OK);
  static uint8_t bytes[4096];
  int64_t size = 0;
  EXPECT(dirrm_prioritizer_save(a, bytes, sizeof bytes, &size) == DIRRM_OK);
  EXPECT(dirrm_prioritizer_load(bytes, size, &b) == DIRRM_OK);
  int64_t ia[5], ib[5], ca = 0, cb = 0;
  EXPECT(dirrm_prioritizer_propose(a, 5, ia, &ca) == DIRRM_OK);
  EXPECT(dirrm_prioritizer_propose(b, 5, ib, &cb) == DIRRM_OK);
  EXPECT(ca == 5 && cb == 5 && memcmp(ia, ib, sizeof ia) == 0);
  return 0;
}

static int load_of_zero_bytes_is_corrupt(void) {
  uint8_t one = 0;
  dirrm_club *c = NULL;
  dirrm_prioritizer *q = NULL;
  dirrm_model *m = NULL;
  EXPECT(dirrm_club_load(&one, 0, &c) == DIRRM_ERR_CORRUPT);
  EXPECT(dirrm_prioritizer_load(&one, 0, &q) == DIRRM_ERR_CORRUPT);
  EXPECT(dirrm_model_load(&one, 0, &m) == DIRRM_ERR_CORRUPT);
  return 0;
}

/* ---- 3. allocation failure is OUT_OF_MEMORY ---- */

static int prioritizer_of_2_40_samples(void) {
  dirrm_prioritizer_params p;
  dirrm_prioritizer_params_init(&p);
  dirrm_prioritizer *q = NULL;
  EXPECT(dirrm_prioritizer_create(&p, 1ll << 40, &q) == DIRRM_ERR_OUT_OF_MEMORY);
  return 0;
}

static int club_with_huge_q(void) {
  dirrm_club_params p;
  dirrm_club_params_init(&p);
  p.hidden_dim = 1 << 20;
  p.q_hidden = 1 << 20;
  dirrm_club *c = NULL;
  EXPECT(dirrm_club_create(&p, &c) == DIRRM_ERR_OUT_OF_MEMORY);
  return 0;
}

static int model_create_and_score_beyond_memory(void) {
  limit_memory(1ull << 30);
  dirrm_model_params p;
  dirrm_model_params_init(&p);
  p.prompt_dim = 1 << 16, p.response_dim = 1 << 16, p.width = 4096, p.depth = 16;
  dirrm_model *m = NULL;
  EXPECT(dirrm_model_create(&p, &m) == DIRRM_ERR_OUT_OF_MEMORY);
  p.prompt_dim = 1, p.response_dim = 1, p.depth = 8; /* about 0.5 GB of parameters */
  EXPECT(dirrm_model_create(&p, &m) == DIRRM_OK);
  enum { ROWS = 4096 };
  static float x[ROWS], y[ROWS], r[ROWS];
  EXPECT(dirrm_model_score(m, ROWS, x, y, r, NULL) == DIRRM_ERR_OUT_OF_MEMORY);
  return 0;
}

static int club_bound_with_2_20_classes(void) {
  limit_memory(1ull << 30);
  dirrm_club *c = small_club(DIRRM_BIAS_CATEGORICAL, 1 << 20, 1, 0);
  EXPECT(c);
  enum { ROWS = 1024 };
  static float a[ROWS], b[ROWS], bias[ROWS], mi;
  for (int i = 0; i < ROWS; i++) a[i] = (float)i / ROWS, bias[i] = (float)(i * 977);
  EXPECT(dirrm_club_bound(c, ROWS, a, b, bias, NULL, &mi, NULL, NULL) == DIRRM_ERR_OUT_OF_MEMORY);
  EXPECT(dirrm_club_fit(c, ROWS, a, b, bias, NULL) == DIRRM_ERR_OUT_OF_MEMORY);
  return 0;
}

static int sample_prompts_with_2_28_columns(void) {
  limit_memory(1ull << 30);
  int64_t own = 0, out[4];
  /* Refused before any output is written, so a small buffer is enough. */
  EXPECT(dirrm_pf_sample_prompts(1, 1ll << 28, 1ll << 28, &own, 0, out) == DIRRM_ERR_OUT_OF_MEMORY);
  return 0;
}

/* Other ranks' values observed step after step without end_step: the step's values grow
 * until memory runs out, which must be OUT_OF_MEMORY (the values kept), never a trap. */
static int observe_until_memory_runs_out(void) {
  enum { VALUES = 1 << 22 };
  static float values[VALUES]; /* zeros: finite */
  dirrm_prioritizer_params p;
  dirrm_prioritizer_params_init(&p);
  dirrm_prioritizer *q = NULL;
  EXPECT(dirrm_prioritizer_create(&p, 4, &q) == DIRRM_OK);
  limit_memory(1ull << 28);
  int32_t status = DIRRM_OK;
  for (int i = 0; i < 256 && status == DIRRM_OK; i++)
    status = dirrm_prioritizer_observe(q, VALUES, values);
  EXPECT(status == DIRRM_ERR_OUT_OF_MEMORY);
  EXPECT(dirrm_prioritizer_observe(q, 1ll << 40, values) == DIRRM_ERR_OUT_OF_MEMORY);
  EXPECT(dirrm_prioritizer_observe(q, (1ll << 40) + 1, values) == DIRRM_ERR_SHAPE);
  EXPECT(dirrm_prioritizer_observe(q, -1, values) == DIRRM_ERR_SHAPE);
  dirrm_prioritizer_free(q);
  return 0;
}

/* dirrm_pf_normalize: an all-zero batch takes the floor, a quotient past float32 is NONFINITE
 * with nothing written, and out_dr2 may alias dr2. */
static int pf_normalize_floor_overflow_and_aliasing(void) {
  float zeros[2] = {0, 0}, big[2] = {1e30f, 1}, out[2] = {7, 7};
  EXPECT(dirrm_pf_normalize(2, zeros, big, out) == DIRRM_ERR_NONFINITE);
  EXPECT(out[0] == 7 && out[1] == 7);
  float own[2] = {3, -3}, dr2[2] = {3, -6};
  EXPECT(dirrm_pf_normalize(2, own, dr2, dr2) == DIRRM_OK && dr2[0] == 1 && dr2[1] == -2);
  float tiny[1] = {1e-12f};
  EXPECT(dirrm_pf_normalize(1, zeros, tiny, out) == DIRRM_OK && out[0] > 0.99f && out[0] < 1.01f);
  EXPECT(dirrm_pf_normalize(1, NULL, tiny, out) == DIRRM_ERR_NULL_POINTER);
  EXPECT(dirrm_pf_normalize(1ll << 41, zeros, tiny, out) == DIRRM_ERR_SHAPE);
  return 0;
}

static dirrm_dataset *tiny_dataset(void) {
  float prompts[4 * 2], responses[8 * 2], bias[4];
  int64_t pairs[4 * 3];
  for (int i = 0; i < 8; i++) prompts[i] = (float)i * 0.1f;
  for (int i = 0; i < 16; i++) responses[i] = (float)((i * 3) % 7) * 0.1f;
  for (int i = 0; i < 4; i++) {
    pairs[3 * i] = i, pairs[3 * i + 1] = 2 * i, pairs[3 * i + 2] = 2 * i + 1;
    bias[i] = (float)(i % 2);
  }
  dirrm_dataset *d = NULL;
  return dirrm_dataset_create(4, 2, prompts, 8, 2, responses, 4, pairs, 1, bias, &d) == DIRRM_OK
             ? d
             : NULL;
}

/* A model of tiny_dataset()'s features with the widest hidden state. */
static dirrm_model *wide_model(void) {
  dirrm_model_params mp;
  dirrm_model_params_init(&mp);
  mp.prompt_dim = 2, mp.response_dim = 2, mp.width = 4096;
  dirrm_model *m = NULL;
  return dirrm_model_create(&mp, &m) == DIRRM_OK ? m : NULL;
}

/* A prompt-free step scores a round's batch_size x (pf_prompts + 1) pairs, and a
 * DIR_PROMPT_FREE step penalizes every candidate of its pf_max_rounds rounds: batch_size x
 * pf_max_rounds pairs, which the memory check once sized as 9 batches (the default 8 rounds
 * + 1). Either beyond memory is OUT_OF_MEMORY; the same training with the defaults fits. */
static int train_prompt_free_beyond_memory(void) {
  limit_memory(1ull << 30);
  dirrm_dataset *d = tiny_dataset();
  EXPECT(d);
  dirrm_model *m = wide_model();
  EXPECT(m);
  dirrm_train_params tp;
  dirrm_train_params_init(&tp);
  tp.method = DIRRM_METHOD_DIR_PROMPT_FREE;
  tp.batch_size = 1 << 20;
  tp.pf_prompts = 4096;
  EXPECT(dirrm_train(m, d, &tp, NULL, NULL) == DIRRM_ERR_OUT_OF_MEMORY);
  tp.batch_size = 64, tp.pf_prompts = 1, tp.pf_max_rounds = 1 << 20;
  EXPECT(dirrm_train(m, d, &tp, NULL, NULL) == DIRRM_ERR_OUT_OF_MEMORY);
  tp.pf_max_rounds = 8, tp.epochs = 1;
  EXPECT(dirrm_train(m, d, &tp, NULL, NULL) == DIRRM_OK);
  return 0;
}

/* Synthetic data larger than memory: every range is valid, the sets (1.3 GB of response
 * features here, about a terabyte at the largest settings) are not. */
static int synth_beyond_memory(void) {
  limit_memory(1ull << 30);
  dirrm_synth_params p;
  dirrm_synth_params_init(&p);
  p.num_prompts = 20000, p.responses_per_prompt = 16, p.response_dim = 1024;
  dirrm_dataset *train = NULL, *test = NULL;
  EXPECT(dirrm_synth_generate(&p, &train, &test) == DIRRM_ERR_OUT_OF_MEMORY);
  EXPECT(train == NULL && test == NULL);
  p.num_prompts = 1000000, p.responses_per_prompt = 64, p.prompt_dim = 4096, p.response_dim = 4096;
  EXPECT(dirrm_synth_generate(&p, &train, &test) == DIRRM_ERR_OUT_OF_MEMORY);
  p.num_prompts = 200, p.responses_per_prompt = 4, p.prompt_dim = 64, p.response_dim = 64;
  EXPECT(dirrm_synth_generate(&p, &train, &test) == DIRRM_OK);
  return 0;
}

/* The audit's q reads d inputs: at d = 2^20 its weights, moments and the best copy kept are
 * gigabytes from 32 MB of hidden states; past 2^20 (q's largest input anywhere) d is refused. */
static int audit_with_wide_hidden_states(void) {
  enum { PAIRS = 4, WIDTH = 1 << 20 };
  static float r[PAIRS], a[PAIRS], hidden[PAIRS * WIDTH];
  for (int i = 0; i < PAIRS; i++) r[i] = (float)i, a[i] = (float)(i % 2);
  dirrm_audit_report report;
  report.struct_size = sizeof report;
  EXPECT(dirrm_audit(NULL, PAIRS, r, a, a, r, WIDTH + 1, hidden, hidden, &report, NULL, NULL, NULL, NULL) ==
         DIRRM_ERR_SHAPE);
  limit_memory(1ull << 30);
  EXPECT(dirrm_audit(NULL, PAIRS, r, a, a, r, WIDTH, hidden, hidden, &report, NULL, NULL, NULL, NULL) ==
         DIRRM_ERR_OUT_OF_MEMORY);
  return 0;
}

/* Saving holds the state's serialized copy as it grows and once framed: for a 33 M-parameter
 * q, about a gigabyte more than the estimator itself. */
static int save_beyond_memory(void) {
  dirrm_club *c = small_club(DIRRM_BIAS_CATEGORICAL, 2, 8192, 4096);
  EXPECT(c);
  limit_memory(1ull << 29);
  int64_t size = 0;
  EXPECT(dirrm_club_save(c, NULL, 0, &size) == DIRRM_ERR_OUT_OF_MEMORY);
  return 0;
}

/* ---- 4. integer overflow in training ---- */

static int train_step_count_overflow(void) {
  /* epochs x ceil(pairs / batch_size) past 2^40: 2^31 - 1 epochs of 1,024 one-pair batches. */
  enum { PAIRS = 1024 };
  float prompts[2 * 2] = {0.1f, 0.2f, 0.3f, 0.4f}, responses[2 * 2] = {0.5f, 0.6f, 0.7f, 0.8f};
  static int64_t pairs[PAIRS * 3];
  for (int i = 0; i < PAIRS; i++) pairs[3 * i] = i % 2, pairs[3 * i + 1] = 0, pairs[3 * i + 2] = 1;
  dirrm_dataset *d = NULL;
  EXPECT(dirrm_dataset_create(2, 2, prompts, 2, 2, responses, PAIRS, pairs, 0, NULL, &d) == DIRRM_OK);
  dirrm_model_params mp;
  dirrm_model_params_init(&mp);
  mp.prompt_dim = 2, mp.response_dim = 2, mp.width = 4;
  dirrm_model *m = NULL;
  EXPECT(d && dirrm_model_create(&mp, &m) == DIRRM_OK);
  dirrm_train_params tp;
  dirrm_train_params_init(&tp);
  tp.method = DIRRM_METHOD_PROMPT_FREE;
  tp.epochs = INT32_MAX;
  tp.batch_size = 1;
  tp.prioritizer.max_reinsertions = INT32_MAX; /* reinsertions refill batches: no extra steps */
  EXPECT(dirrm_train(m, d, &tp, NULL, NULL) == DIRRM_ERR_INVALID_ARGUMENT);
  EXPECT(strstr(dirrm_last_error(), "training steps") != NULL);
  return 0;
}

/* ---- 5. freed handles never alias new objects ---- */

static int freed_handles_stay_dead(void) {
  for (int round = 0; round < 200; round++) {
    dirrm_club *a = small_club(DIRRM_BIAS_CATEGORICAL, 2, D, 8);
    EXPECT(a && dirrm_club_free(a) == DIRRM_OK);
    dirrm_club *b = small_club(DIRRM_BIAS_CATEGORICAL, 2, D, 8);
    int64_t len = 0;
    EXPECT(dirrm_club_stats_len(a, &len) == DIRRM_ERR_MISUSE);
    EXPECT(dirrm_club_free(a) == DIRRM_ERR_MISUSE);
    EXPECT(dirrm_club_stats_len(b, &len) == DIRRM_OK);
    dirrm_club_free(b);
  }
  return 0;
}

/* ---- 6. two threads on one handle: MISUSE, not a corrupted heap ---- */

static dirrm_club *shared_club;
static volatile int misuse_seen, other_status;

static void *fit_loop(void *arg) {
  (void)arg;
  for (int i = 0; i < 3000; i++) {
    int32_t s = dirrm_club_fit(shared_club, N, hc, hr, labels, NULL);
    if (s == DIRRM_ERR_MISUSE) {
      misuse_seen = 1;
      if (!strstr(dirrm_last_error(), "in use by another thread")) other_status = -1;
    } else if (s != DIRRM_OK) {
      other_status = s;
    }
  }
  return NULL;
}

static int two_threads_on_one_handle(void) {
  fill_batch();
  shared_club = small_club(DIRRM_BIAS_CATEGORICAL, 2, D, 64);
  EXPECT(shared_club);
  pthread_t t[2];
  for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, fit_loop, NULL);
  for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
  EXPECT(other_status == 0);
  EXPECT(misuse_seen);
  /* The handle is free again once both threads are done. */
  EXPECT(dirrm_club_fit(shared_club, N, hc, hr, labels, NULL) == DIRRM_OK);
  EXPECT(dirrm_club_free(shared_club) == DIRRM_OK);
  return 0;
}


/* ---- issue 21 #2: claims of nested calls; a handle used by the call whose callback runs ---- */

static dirrm_club *inner_club;
static dirrm_model *trained_model;
static const dirrm_dataset *training_set;
static volatile int32_t nested_status = -1, other_thread_status = -1, free_status = -1, train_status = -1;

static void *bound_on_inner_club(void *arg) {
  (void)arg;
  float mi;
  other_thread_status = dirrm_club_bound(inner_club, N, hc, hr, labels, NULL, &mi, NULL, NULL);
  return NULL;
}

static int32_t nesting_progress(void *user, int64_t step, int64_t total, float loss, float mi,
                                float threshold) {
  (void)user, (void)total, (void)loss, (void)mi, (void)threshold;
  if (step == 0) nested_status = dirrm_club_fit(inner_club, N, hc, hr, labels, NULL);
  if (step == 1) { /* the nested call has ended: another thread may use the handle now */
    pthread_t t;
    pthread_create(&t, NULL, bound_on_inner_club, NULL);
    pthread_join(t, NULL);
  }
  if (step == 2) {
    dirrm_train_params p;
    dirrm_train_params_init(&p);
    train_status = dirrm_train(trained_model, training_set, &p, NULL, NULL);
    free_status = dirrm_model_free(trained_model);
  }
  return 0;
}

static int nested_calls_release_their_claims_and_spare_the_outer_handle(void) {
  fill_batch();
  inner_club = small_club(DIRRM_BIAS_CATEGORICAL, 2, D, 8);
  dirrm_dataset *data = tiny_dataset();
  EXPECT(inner_club && data);
  training_set = data;
  dirrm_model_params mp;
  dirrm_model_params_init(&mp);
  mp.prompt_dim = 2, mp.response_dim = 2, mp.width = 8;
  EXPECT(dirrm_model_create(&mp, &trained_model) == DIRRM_OK);
  dirrm_train_params p;
  dirrm_train_params_init(&p);
  p.epochs = 4, p.batch_size = 2;
  EXPECT(dirrm_train(trained_model, data, &p, nesting_progress, NULL) == DIRRM_OK);
  EXPECT(nested_status == DIRRM_OK);
  EXPECT(other_thread_status == DIRRM_OK); /* was MISUSE: released only at depth 0 */
  EXPECT(train_status == DIRRM_ERR_MISUSE); /* retraining the model being trained */
  EXPECT(free_status == DIRRM_ERR_MISUSE);  /* freeing it: the outer call would write an orphan */
  float reward;
  float x[2] = {0.1f, 0.2f};
  EXPECT(dirrm_model_score(trained_model, 1, x, x, &reward, NULL) == DIRRM_OK);
  EXPECT(dirrm_model_free(trained_model) == DIRRM_OK);
  EXPECT(dirrm_club_free(inner_club) == DIRRM_OK);
  EXPECT(dirrm_dataset_free(data) == DIRRM_OK);
  return 0;
}

/* ---- issue 21 #1: fork while other threads are inside handle calls and pooled products ---- */

#define FORK_D 256
#define FORK_N 64
static float big_hc[FORK_N * FORK_D], big_hr[FORK_N * FORK_D], big_labels[FORK_N];
static dirrm_club *busy_clubs[2];

/* A batch big enough that products go to the pool's threads. */
static void fill_big_batch(void) {
  for (int i = 0; i < FORK_N * FORK_D; i++) {
    big_hc[i] = (float)((i * 7) % 13) * 0.1f;
    big_hr[i] = (float)((i * 5) % 11) * 0.1f;
  }
  for (int i = 0; i < FORK_N; i++) big_labels[i] = (float)(i % 2);
}

static volatile int stop_busy;

static void *busy_loop(void *arg) {
  dirrm_club *c = arg;
  float mi;
  while (!stop_busy) {
    dirrm_club_fit(c, FORK_N, big_hc, big_hr, big_labels, NULL);
    dirrm_club_bound(c, FORK_N, big_hc, big_hr, big_labels, NULL, &mi, NULL, NULL);
  }
  return NULL;
}

/* In the child: every idle handle works; a busy one works or is refused with the fork's
 * message, and can be freed; new handles work. */
static int forked_child_checks(dirrm_club *idle, dirrm_prioritizer *queue) {
  alarm(20); /* a lock never released would hang: SIGALRM makes that a failure */
  float mi, nll;
  EXPECT(dirrm_club_fit(idle, N, hc, hr, labels, &nll) == DIRRM_OK);
  EXPECT(dirrm_club_bound(idle, N, hc, hr, labels, NULL, &mi, NULL, NULL) == DIRRM_OK);
  int64_t idx[4], count;
  EXPECT(dirrm_prioritizer_propose(queue, 4, idx, &count) == DIRRM_OK);
  for (int i = 0; i < 2; i++) {
    int32_t status = dirrm_club_bound(busy_clubs[i], FORK_N, big_hc, big_hr, big_labels, NULL, &mi,
                                      NULL, NULL);
    EXPECT(status == DIRRM_OK ||
           (status == DIRRM_ERR_MISUSE && strstr(dirrm_last_error(), "forked") != NULL));
    EXPECT(dirrm_club_free(busy_clubs[i]) == DIRRM_OK);
  }
  dirrm_club *fresh = small_club(DIRRM_BIAS_CATEGORICAL, 2, FORK_D, 512);
  EXPECT(fresh);
  EXPECT(dirrm_club_fit(fresh, FORK_N, big_hc, big_hr, big_labels, NULL) == DIRRM_OK);
  EXPECT(dirrm_club_free(fresh) == DIRRM_OK);
  EXPECT(dirrm_club_free(idle) == DIRRM_OK);
  return 0;
}

static int forks_while_threads_use_handles(void) {
  fill_batch();
  fill_big_batch();
  EXPECT(dirrm_set_num_threads(2) == DIRRM_OK); /* pooled products */
  dirrm_club *idle = small_club(DIRRM_BIAS_CATEGORICAL, 2, D, 8);
  dirrm_prioritizer_params pp;
  dirrm_prioritizer_params_init(&pp);
  dirrm_prioritizer *queue = NULL;
  EXPECT(idle && dirrm_prioritizer_create(&pp, 100, &queue) == DIRRM_OK);
  pthread_t t[2];
  for (int i = 0; i < 2; i++) {
    busy_clubs[i] = small_club(DIRRM_BIAS_CATEGORICAL, 2, FORK_D, 512);
    EXPECT(busy_clubs[i]);
    pthread_create(&t[i], NULL, busy_loop, busy_clubs[i]);
  }
  int failed = 0, refused_or_ok = 0;
  for (int k = 0; k < 200 && !failed; k++) {
    usleep(1000 + (k % 7) * 300);
    pid_t pid = fork();
    if (pid == 0) _exit(forked_child_checks(idle, queue));
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      fprintf(stderr, "  fork %d: child %s %d\n", k, WIFSIGNALED(status) ? "killed by signal" : "exited",
              WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
      failed = 1;
    } else {
      refused_or_ok++;
    }
  }
  stop_busy = 1;
  for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
  EXPECT(!failed && refused_or_ok == 200);
  for (int i = 0; i < 2; i++) EXPECT(dirrm_club_free(busy_clubs[i]) == DIRRM_OK);
  EXPECT(dirrm_club_free(idle) == DIRRM_OK && dirrm_prioritizer_free(queue) == DIRRM_OK);
  return 0;
}


/* ---- issue 21 #5: a state loaded at the counters' limit steps, and what it saves loads ---- */

static int reload(dirrm_prioritizer *q) {
  static buffer b;
  int64_t size = 0;
  if (dirrm_prioritizer_save(q, b.bytes, sizeof b.bytes, &size) != DIRRM_OK) return 0;
  dirrm_prioritizer *copy = NULL;
  int ok = dirrm_prioritizer_load(b.bytes, size, &copy) == DIRRM_OK;
  dirrm_prioritizer_free(copy);
  return ok;
}

static int states_at_the_counter_limit_still_save_what_loads(void) {
  static const uint64_t pool[2] = {1, 0};
  for (int which = 0; which < 7; which++) {
    prioritizer_state s = {.n = 2, .open = 1, .pool = pool, .pool_count = 2, .places_written = 2};
    s.counters[which] = (uint64_t)1 << 62;
    buffer b;
    prioritizer_buffer(&s, &b);
    dirrm_prioritizer *q = NULL;
    int32_t status = dirrm_prioritizer_load(b.bytes, (int64_t)b.size, &q);
    /* A tally at 2^62 alone contradicts the others (CORRUPT); epoch and step stand alone. */
    EXPECT(status == DIRRM_OK || (status == DIRRM_ERR_CORRUPT && which >= 2));
    if (status != DIRRM_OK) continue;
    for (int step = 0; step < 3; step++) {
      int64_t idx[2], count = 0;
      float dr2[2] = {1, -1};
      uint8_t accept[2];
      EXPECT(dirrm_prioritizer_propose(q, 2, idx, &count) == DIRRM_OK);
      if (count > 0) EXPECT(dirrm_prioritizer_decide(q, count, idx, dr2, accept) == DIRRM_OK);
      EXPECT(dirrm_prioritizer_end_step(q, NULL) == DIRRM_OK);
      EXPECT(reload(q)); /* was CORRUPT once a counter passed 2^62 */
    }
    dirrm_prioritizer_free(q);
  }
  fill_batch();
  dirrm_club *c = small_club(DIRRM_BIAS_CATEGORICAL, 2, D, 8);
  EXPECT(c);
  static buffer b;
  int64_t size = 0;
  EXPECT(dirrm_club_save(c, b.bytes, sizeof b.bytes, &size) == DIRRM_OK);
  b.size = (size_t)size;
  patch_u64(&b, 1 + 8 + 8 + 1 + 8 + 8 + 4 + 4 + 4 + 8, (uint64_t)1 << 62); /* AdamW's step */
  dirrm_club *loaded = NULL;
  EXPECT(dirrm_club_load(b.bytes, (int64_t)b.size, &loaded) == DIRRM_OK);
  float nll;
  EXPECT(dirrm_club_fit(loaded, N, hc, hr, labels, &nll) == DIRRM_OK);
  static buffer again;
  EXPECT(dirrm_club_save(loaded, again.bytes, sizeof again.bytes, &size) == DIRRM_OK);
  dirrm_club *copy = NULL;
  EXPECT(dirrm_club_load(again.bytes, size, &copy) == DIRRM_OK);
  dirrm_club_free(copy), dirrm_club_free(loaded), dirrm_club_free(c);
  return 0;
}

/* Caller statistics no rows can have: a count below the batch's, or a Gaussian sum of squares
 * below (sum)^2 / count, once gave bounds like -6.4e37 with DIRRM_OK. */
static int impossible_bias_stats_are_refused(void) {
  fill_batch();
  dirrm_club *c = small_club(DIRRM_BIAS_GAUSSIAN, 1, D, 8);
  EXPECT(c);
  float bias[N], mi = 0;
  for (int i = 0; i < N; i++) bias[i] = (float)(i * 3 % 5);
  float few[3] = {2, 10, 60};         /* count 2 < N = 8 */
  float spread[3] = {100, 1000, 100}; /* sum^2 / count = 10000 > 100 */
  EXPECT(dirrm_club_bound(c, N, hc, hr, bias, few, &mi, NULL, NULL) == DIRRM_ERR_INVALID_ARGUMENT);
  EXPECT(dirrm_club_bound(c, N, hc, hr, bias, spread, &mi, NULL, NULL) ==
         DIRRM_ERR_INVALID_ARGUMENT);
  float fine[3] = {100, 200, 1000};
  EXPECT(dirrm_club_bound(c, N, hc, hr, bias, fine, &mi, NULL, NULL) == DIRRM_OK);
  dirrm_club_free(c);
  return 0;
}

/* ---- issue 22: q's fit in the background (dirrm_club_fit_begin/_finish) ---- */

static int background_fit_misuse_fork_and_free(void) {
  fill_batch();
  fill_big_batch();
  float nll;
  EXPECT(dirrm_club_fit_begin(NULL, N, hc, hr, labels) == DIRRM_ERR_NULL_POINTER);
  EXPECT(dirrm_club_fit_finish(NULL, &nll) == DIRRM_ERR_NULL_POINTER);
  /* q small enough for same_state's buffer; the handle stays the job's until _finish, so the
   * child sees it mid-fit whether or not the fit is done by the fork. */
  dirrm_club *c = small_club(DIRRM_BIAS_CATEGORICAL, 2, FORK_D, 8);
  dirrm_club *reference = small_club(DIRRM_BIAS_CATEGORICAL, 2, FORK_D, 8);
  EXPECT(c && reference);
  EXPECT(dirrm_club_fit_finish(c, &nll) == DIRRM_ERR_MISUSE);
  EXPECT(dirrm_club_fit_begin(c, 0, big_hc, big_hr, big_labels) != DIRRM_OK);
  EXPECT(dirrm_club_fit_begin(c, -1, big_hc, big_hr, big_labels) != DIRRM_OK);
  EXPECT(dirrm_club_fit_begin(c, FORK_N, NULL, big_hr, big_labels) == DIRRM_ERR_NULL_POINTER);
  EXPECT(dirrm_club_fit_finish(c, &nll) == DIRRM_ERR_MISUSE); /* a refused begin starts nothing */
  float bad[FORK_N];
  for (int i = 0; i < FORK_N; i++) bad[i] = 7; /* a class id out of range */
  EXPECT(dirrm_club_fit_begin(c, FORK_N, big_hc, big_hr, bad) == DIRRM_ERR_INVALID_ARGUMENT);
  /* Begin, fork: the child refuses the handle with the fork's message and frees it; the parent
   * finishes with the same q as a direct fit. */
  EXPECT(dirrm_club_fit_begin(c, FORK_N, big_hc, big_hr, big_labels) == DIRRM_OK);
  float mi;
  EXPECT(dirrm_club_bound(c, FORK_N, big_hc, big_hr, big_labels, NULL, &mi, NULL, NULL) == DIRRM_ERR_MISUSE);
  EXPECT(dirrm_club_fit_begin(c, FORK_N, big_hc, big_hr, big_labels) == DIRRM_ERR_MISUSE);
  pid_t pid = fork();
  if (pid == 0) {
    alarm(20);
    int32_t status = dirrm_club_fit_finish(c, &nll);
    int ok = status == DIRRM_ERR_MISUSE && strstr(dirrm_last_error(), "forked") != NULL;
    ok = ok && dirrm_club_free(c) == DIRRM_OK && dirrm_club_free(reference) == DIRRM_OK;
    _exit(ok ? 0 : 1);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  float want;
  EXPECT(dirrm_club_fit_finish(c, &nll) == DIRRM_OK);
  EXPECT(dirrm_club_fit(reference, FORK_N, big_hc, big_hr, big_labels, &want) == DIRRM_OK);
  EXPECT(nll == want && same_state(c, reference));
  EXPECT(dirrm_club_fit_finish(c, &nll) == DIRRM_ERR_MISUSE);
  /* Free while a fit runs waits for it. */
  EXPECT(dirrm_club_fit_begin(c, FORK_N, big_hc, big_hr, big_labels) == DIRRM_OK);
  EXPECT(dirrm_club_free(c) == DIRRM_OK);
  EXPECT(dirrm_club_fit_finish(c, &nll) == DIRRM_ERR_MISUSE); /* freed: no longer a handle */
  EXPECT(dirrm_club_free(reference) == DIRRM_OK);
  return 0;
}

/* A finish racing a begin on another thread: it returns OK only for a fit that ran, with its
 * NLL, and hands over a handle no fit is still changing (a finish once won the handle before
 * the begin's thread existed, returned OK at once and left two fits running). */
static dirrm_club *raced;
static atomic_int race_turn, race_stop, race_bad;
static uint8_t race_a[1 << 16], race_b[1 << 16];

static void *race_finisher(void *arg) {
  (void)arg;
  while (!atomic_load(&race_stop)) {
    float nll = -12345;
    if (dirrm_club_fit_finish(raced, &nll) != DIRRM_OK) continue;
    int64_t n1 = 0, n2 = 0;
    int a = dirrm_club_save(raced, race_a, sizeof race_a, &n1);
    usleep(500);
    int z = dirrm_club_save(raced, race_b, sizeof race_b, &n2);
    if (nll == -12345 || a || z || n1 != n2 || memcmp(race_a, race_b, (size_t)n1)) atomic_fetch_add(&race_bad, 1);
    atomic_store(&race_turn, 0);
  }
  return NULL;
}

static int background_finish_racing_begin(void) {
  fill_batch();
  raced = small_club(DIRRM_BIAS_CATEGORICAL, 2, D, 16);
  EXPECT(raced);
  pthread_t t;
  pthread_create(&t, NULL, race_finisher, NULL);
  for (int i = 0; i < 300; i++) {
    while (atomic_load(&race_turn) != 0) usleep(10);
    atomic_store(&race_turn, 1);
    while (dirrm_club_fit_begin(raced, N, hc, hr, labels) != DIRRM_OK) {
    } /* MISUSE while the finisher holds it */
  }
  while (atomic_load(&race_turn) != 0) usleep(10);
  atomic_store(&race_stop, 1);
  pthread_join(t, NULL);
  EXPECT(atomic_load(&race_bad) == 0);
  EXPECT(dirrm_club_free(raced) == DIRRM_OK);
  return 0;
}

/* ---- the runner ---- */

/* ---- the caller's floating-point environment: traps it enabled must not fire on dirrm's own
 *      NaN checks (x - x of an infinite reward), and must still be enabled afterwards ---- */
static int traps_enabled_by_the_caller_stay_the_callers(void) {
  const int traps = FE_INVALID | FE_DIVBYZERO | FE_OVERFLOW;
  float inf_chosen[2] = {INFINITY, 1.0f}, rejected[2] = {0.0f, 0.5f}, loss = 0, g[2], h[2];
  fill_batch();
  dirrm_club *c = small_club(DIRRM_BIAS_CATEGORICAL, 2, D, 8);
  EXPECT(c != NULL);
  float nll = 0;
  EXPECT(feenableexcept(traps) != -1);
  feclearexcept(FE_ALL_EXCEPT);
  EXPECT(dirrm_bt_loss(2, inf_chosen, rejected, NULL, NULL, 0, &loss, g, h) == DIRRM_ERR_NONFINITE);
  EXPECT(dirrm_club_fit(c, N, hc, hr, labels, &nll) == DIRRM_OK);
  int flags = fetestexcept(FE_ALL_EXCEPT);
  dirrm_club_free(c);
  EXPECT(fegetexcept() == traps);
  EXPECT(flags == 0);
  return 0;
}

/* A progress callback that enables traps and another rounding mode each time it runs: each
 * run sees the default environment again, and the model is the one trained without it. */
static volatile int callbacks_seen_other_environment, callback_runs;
static int32_t environment_changing_progress(void *user, int64_t step, int64_t total, float loss,
                                             float mi, float threshold) {
  (void)user, (void)step, (void)total, (void)loss, (void)mi, (void)threshold;
  if (fegetexcept() != 0 || fegetround() != FE_TONEAREST) callbacks_seen_other_environment = 1;
  callback_runs++;
  feenableexcept(FE_INVALID | FE_DIVBYZERO | FE_OVERFLOW);
  fesetround(FE_UPWARD);
  return 0;
}

static int callbacks_changing_the_environment_change_nothing(void) {
  dirrm_dataset *data = tiny_dataset();
  EXPECT(data);
  dirrm_model_params mp;
  dirrm_model_params_init(&mp);
  mp.prompt_dim = 2, mp.response_dim = 2, mp.width = 8;
  dirrm_model *quiet = NULL, *noisy = NULL;
  EXPECT(dirrm_model_create(&mp, &quiet) == DIRRM_OK && dirrm_model_create(&mp, &noisy) == DIRRM_OK);
  dirrm_train_params p;
  dirrm_train_params_init(&p);
  p.epochs = 4, p.batch_size = 2;
  EXPECT(dirrm_train(quiet, data, &p, NULL, NULL) == DIRRM_OK);
  EXPECT(dirrm_train(noisy, data, &p, environment_changing_progress, NULL) == DIRRM_OK);
  EXPECT(callback_runs > 1 && !callbacks_seen_other_environment);
  EXPECT(fegetexcept() == 0 && fegetround() == FE_TONEAREST); /* the caller's, as it was */
  float x[4] = {0.1f, 0.2f, -0.3f, 0.7f}, a[2], b[2];
  EXPECT(dirrm_model_score(quiet, 2, x, x, a, NULL) == DIRRM_OK);
  EXPECT(dirrm_model_score(noisy, 2, x, x, b, NULL) == DIRRM_OK);
  EXPECT(memcmp(a, b, sizeof a) == 0);
  return 0;
}

/* Every part of the caller's environment comes back as it was (rounding mode, flush-to-zero,
 * denormals-are-zero, traps down to FE_INEXACT), none of it changes results, also on two
 * threads, and the first dirrm_build_info (which probes the exp kernel) traps nothing. */
static int caller_environment_comes_back_whole(void) {
  EXPECT(dirrm_set_num_threads(2) == DIRRM_OK);
  fill_batch();
  float chosen[3] = {100.0f, 0.0f, 2.0f}, rejected[3] = {0.0f, 0.5f, -1.0f}; /* subnormal grads */
  float want_loss = 0, want[6], loss = 0, got[6];
  EXPECT(dirrm_bt_loss(3, chosen, rejected, NULL, NULL, 0, &want_loss, want, want + 3) == DIRRM_OK);
  dirrm_club *a = small_club(DIRRM_BIAS_CATEGORICAL, 2, D, 8);
  dirrm_club *b = small_club(DIRRM_BIAS_CATEGORICAL, 2, D, 8);
  EXPECT(a && b && dirrm_club_fit(a, N, hc, hr, labels, NULL) == DIRRM_OK);

  fesetround(FE_UPWARD);
  _mm_setcsr(_mm_getcsr() | 0x8040); /* flush-to-zero and denormals-are-zero */
  feenableexcept(FE_ALL_EXCEPT);
  fenv_t before, after;
  fegetenv(&before);
  int32_t info = dirrm_build_info() != NULL;
  int32_t bt = dirrm_bt_loss(3, chosen, rejected, NULL, NULL, 0, &loss, got, got + 3);
  int32_t fit = dirrm_club_fit(b, N, hc, hr, labels, NULL);
  fegetenv(&after);
  fesetenv(FE_DFL_ENV);

  EXPECT(info && bt == DIRRM_OK && fit == DIRRM_OK);
  EXPECT(memcmp(&before, &after, sizeof before) == 0);
  EXPECT(memcmp(&want_loss, &loss, sizeof loss) == 0 && memcmp(want, got, sizeof want) == 0);
  EXPECT(same_state(a, b));
  return 0;
}

/* The _params_init functions convert their double defaults to float: under the caller's
 * FE_INEXACT trap that conversion killed the process, and another rounding mode would change
 * the defaults. Each must give the default environment's bytes. */
#define SAME_DEFAULTS(type, init)                                      \
  do {                                                                 \
    type quiet, trapped;                                               \
    memset(&quiet, 0, sizeof quiet), memset(&trapped, 0, sizeof trapped); \
    init(&quiet);                                                      \
    fesetround(FE_UPWARD);                                             \
    feenableexcept(FE_ALL_EXCEPT);                                     \
    init(&trapped);                                                    \
    fesetenv(FE_DFL_ENV);                                              \
    EXPECT(memcmp(&quiet, &trapped, sizeof quiet) == 0);               \
  } while (0)

static int params_init_under_traps_and_rounding(void) {
  SAME_DEFAULTS(dirrm_club_params, dirrm_club_params_init);
  SAME_DEFAULTS(dirrm_dir_params, dirrm_dir_params_init);
  SAME_DEFAULTS(dirrm_pf_params, dirrm_pf_params_init);
  SAME_DEFAULTS(dirrm_prioritizer_params, dirrm_prioritizer_params_init);
  SAME_DEFAULTS(dirrm_model_params, dirrm_model_params_init);
  SAME_DEFAULTS(dirrm_train_params, dirrm_train_params_init);
  SAME_DEFAULTS(dirrm_synth_params, dirrm_synth_params_init);
  SAME_DEFAULTS(dirrm_audit_params, dirrm_audit_params_init);
  return 0;
}

typedef struct {
  const char *name;
  int (*run)(void);
} test_case;

static const test_case cases[] = {
    {"null_out_nll_still_fits", null_out_nll_still_fits},
    {"null_outputs_of_dir_loss_still_fit", null_outputs_of_dir_loss_still_fit},
    {"null_threshold_still_ends_the_step", null_threshold_still_ends_the_step},
    {"null_optional_outputs_keep_results", null_optional_outputs_keep_results},
    {"prioritizer_claiming_2_40_samples_is_corrupt", prioritizer_claiming_2_40_samples_is_corrupt},
    {"prioritizer_listing_an_index_256_times_is_corrupt",
     prioritizer_listing_an_index_256_times_is_corrupt},
    {"prioritizer_counters_near_int64_max", prioritizer_counters_near_int64_max},
    {"club_with_adamw_step_int64_max", club_with_adamw_step_int64_max},
    {"fresh_prioritizer_round_trips", fresh_prioritizer_round_trips},
    {"load_of_zero_bytes_is_corrupt", load_of_zero_bytes_is_corrupt},
    {"prioritizer_of_2_40_samples", prioritizer_of_2_40_samples},
    {"club_with_huge_q", club_with_huge_q},
    {"model_create_and_score_beyond_memory", model_create_and_score_beyond_memory},
    {"club_bound_with_2_20_classes", club_bound_with_2_20_classes},
    {"sample_prompts_with_2_28_columns", sample_prompts_with_2_28_columns},
    {"observe_until_memory_runs_out", observe_until_memory_runs_out},
    {"pf_normalize_floor_overflow_and_aliasing", pf_normalize_floor_overflow_and_aliasing},
    {"train_prompt_free_beyond_memory", train_prompt_free_beyond_memory},
    {"synth_beyond_memory", synth_beyond_memory},
    {"audit_with_wide_hidden_states", audit_with_wide_hidden_states},
    {"save_beyond_memory", save_beyond_memory},
    {"train_step_count_overflow", train_step_count_overflow},
    {"freed_handles_stay_dead", freed_handles_stay_dead},
    {"two_threads_on_one_handle", two_threads_on_one_handle},
    {"nested_calls_release_their_claims_and_spare_the_outer_handle",
     nested_calls_release_their_claims_and_spare_the_outer_handle},
    {"forks_while_threads_use_handles", forks_while_threads_use_handles},
    {"states_at_the_counter_limit_still_save_what_loads",
     states_at_the_counter_limit_still_save_what_loads},
    {"impossible_bias_stats_are_refused", impossible_bias_stats_are_refused},
    {"background_fit_misuse_fork_and_free", background_fit_misuse_fork_and_free},
    {"background_finish_racing_begin", background_finish_racing_begin},
    {"traps_enabled_by_the_caller_stay_the_callers", traps_enabled_by_the_caller_stay_the_callers},
    {"callbacks_changing_the_environment_change_nothing",
     callbacks_changing_the_environment_change_nothing},
    {"caller_environment_comes_back_whole", caller_environment_comes_back_whole},
    {"params_init_under_traps_and_rounding", params_init_under_traps_and_rounding},
};

int main(int argc, char **argv) {
  size_t count = sizeof cases / sizeof cases[0];
  if (argc == 2) {
    for (size_t i = 0; i < count; i++)
      if (strcmp(cases[i].name, argv[1]) == 0) return cases[i].run();
    fprintf(stderr, "no case %s\n", argv[1]);
    return 2;
  }
  /* One BLAS thread: a forked child inherits no BLAS worker threads. */
  dirrm_set_num_threads(1);
  int failures = 0;
  for (size_t i = 0; i < count; i++) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) _exit(cases[i].run());
    int status = 0;
    waitpid(pid, &status, 0);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
      printf("ok      %s\n", cases[i].name);
    } else if (WIFSIGNALED(status)) {
      printf("CRASHED %s (signal %d: %s)\n", cases[i].name, WTERMSIG(status),
             strsignal(WTERMSIG(status)));
      failures++;
    } else {
      printf("FAILED  %s\n", cases[i].name);
      failures++;
    }
  }
  printf("%d of %zu hostile cases failed\n", failures, count);
  return failures == 0 ? 0 : 1;
}
