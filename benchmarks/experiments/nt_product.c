/* Experiment (issue 22; docs/decisions.md, "The DIR step's products stay OpenBLAS's"): the
   forward product Y = X·Wᵀ (X n × k, W m × k, both row-major) computed as dot products of rows,
   IB rows of X by JB rows of W per register tile and without packing W, against OpenBLAS's
   sgemm at the same shape; each on two threads, best of `reps` calls. Only whole tiles are
   computed (a shape whose n is not a multiple of IB leaves rows out, in this kernel's favour),
   and the two results are compared where both exist.

     clang -O2 -mavx2 -mfma -DIB=4 -DJB=3 nt_product.c -lopenblas -lpthread -lm -o nt_product
     OPENBLAS_NUM_THREADS=2 ./nt_product 64 4096 1024 20        (n, k, m, reps) */
#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#pragma clang fp contract(off)

#ifndef IB
#define IB 4
#endif
#ifndef JB
#define JB 3
#endif

typedef float f8 __attribute__((vector_size(32)));

static inline f8 load8(const float *p) {
  f8 v;
  memcpy(&v, p, sizeof v);
  return v;
}

static inline float lane_sum(f8 a) { return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7])); }

/* Y += X·Wᵀ for the rows first_w..<end_w of W (Y's columns); k a multiple of 8. The columns of X
   go in chunks of about 2^16 floats of X, so that a chunk stays in L2 while W's rows pass. */
static void product(const float *x, const float *w, float *y, long n, long m, long k, long first_w, long end_w) {
  long chunk = (65536 / n) & ~7L;
  if (chunk < 64) chunk = 64;
  if (chunk > k) chunk = k;
  for (long c0 = 0; c0 < k; c0 += chunk) {
    long c1 = c0 + chunk < k ? c0 + chunk : k;
    for (long j = first_w; j + JB <= end_w; j += JB) {
      for (long i = 0; i + IB <= n; i += IB) {
        f8 acc[IB][JB];
        for (int u = 0; u < IB; u++)
          for (int v = 0; v < JB; v++) acc[u][v] = (f8){0};
        for (long c = c0; c < c1; c += 8) {
          f8 xs[IB], ws[JB];
          for (int u = 0; u < IB; u++) xs[u] = load8(x + (i + u) * k + c);
          for (int v = 0; v < JB; v++) ws[v] = load8(w + (j + v) * k + c);
          for (int u = 0; u < IB; u++)
            for (int v = 0; v < JB; v++) acc[u][v] = __builtin_elementwise_fma(xs[u], ws[v], acc[u][v]);
        }
        for (int u = 0; u < IB; u++)
          for (int v = 0; v < JB; v++) y[(i + u) * m + j + v] += lane_sum(acc[u][v]);
      }
    }
  }
}

typedef struct {
  const float *x, *w;
  float *y;
  long n, m, k, first_w, end_w;
} part;

static void *run_part(void *argument) {
  const part *p = argument;
  product(p->x, p->w, p->y, p->n, p->m, p->k, p->first_w, p->end_w);
  return NULL;
}

static double seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: %s n k m reps\n", argv[0]);
    return 2;
  }
  long n = atol(argv[1]), k = atol(argv[2]), m = atol(argv[3]);
  int reps = atoi(argv[4]);
  if (n < 1 || k < 8 || k % 8 || m < 2 * JB || reps < 1) {
    fprintf(stderr, "need n >= 1, k a multiple of 8, m >= %d, reps >= 1\n", 2 * JB);
    return 2;
  }
  float *x = malloc(sizeof(float) * n * k), *w = malloc(sizeof(float) * m * k);
  float *y_blas = calloc(n * m, sizeof(float)), *y_rows = calloc(n * m, sizeof(float));
  if (!x || !w || !y_blas || !y_rows) return 1;
  srand(1);
  for (long i = 0; i < n * k; i++) x[i] = (float)rand() / (float)RAND_MAX - 0.5f;
  for (long i = 0; i < m * k; i++) w[i] = (float)rand() / (float)RAND_MAX - 0.5f;
  double best_blas = 1e9, best_rows = 1e9;
  for (int r = 0; r < reps; r++) {
    double t0 = seconds();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, m, k, 1.0f, x, k, w, k, 0.0f, y_blas, m);
    double t1 = seconds();
    if (t1 - t0 < best_blas) best_blas = t1 - t0;
    memset(y_rows, 0, sizeof(float) * n * m);
    long half = (m / 2 / JB) * JB;
    part parts[2] = {{x, w, y_rows, n, m, k, 0, half}, {x, w, y_rows, n, m, k, half, m}};
    pthread_t threads[2];
    t0 = seconds();
    for (int t = 0; t < 2; t++) pthread_create(&threads[t], NULL, run_part, &parts[t]);
    for (int t = 0; t < 2; t++) pthread_join(threads[t], NULL);
    t1 = seconds();
    if (t1 - t0 < best_rows) best_rows = t1 - t0;
  }
  double largest = 0;
  for (long i = 0; i < (n / IB) * IB; i++)
    for (long j = 0; j < (m / JB) * JB; j++) largest = fmax(largest, fabs(y_blas[i * m + j] - y_rows[i * m + j]));
  double flop = 2.0 * (double)n * (double)m * (double)k;
  printf("tile %d x %d: OpenBLAS %.2f ms (%.0f GFLOP/s), row dot products %.2f ms (%.0f GFLOP/s); largest difference %.2e\n",
         IB, JB, best_blas * 1e3, flop / best_blas * 1e-9, best_rows * 1e3, flop / best_rows * 1e-9, largest);
  return 0;
}
