/* OpenBLAS's dynamic build picks its kernels from a table of CPU models, not from the CPU's
   features: a model newer than the OpenBLAS (e.g. Debian's 0.3.21 on Intel family 6 model
   207) falls back to its generic SSE3 kernels (Prescott), 6-8x slower than the AVX-512 ones
   the CPU runs. When the library loads, and only when the caller has not set
   OPENBLAS_CORETYPE, dirrm compares the chosen kernels' instruction set with the CPU's and,
   if they fall short, re-runs OpenBLAS's own selection with the variable set to the CPU's
   class for the duration of the call (see docs/decisions.md, "OpenBLAS's kernels"). */
#define _GNU_SOURCE
#include "blas_kernel.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

char *openblas_get_corename(void);

static dirrm_blas_chooser chooser = DIRRM_BLAS_BY_OPENBLAS;
static char replaced[32];

#if defined(__x86_64__)
/* XCR0: which register states the OS saves on a context switch. */
static int os_saves(unsigned mask) {
  unsigned eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (eax & mask) == mask;
}
#endif

dirrm_simd_level dirrm_blas_cpu_level(void) {
#if defined(__x86_64__)
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return DIRRM_SIMD_SSE;
  int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1;
  if (!osxsave || !avx || !os_saves(0x6)) return DIRRM_SIMD_SSE; /* XMM and YMM state */
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return DIRRM_SIMD_AVX;
  if (!((b >> 5) & 1) || !fma) return DIRRM_SIMD_AVX;
  unsigned avx512 = (1u << 16) | (1u << 17) | (1u << 28) | (1u << 30) | (1u << 31); /* F DQ CD BW VL */
  /* opmask, upper halves of ZMM0-15, ZMM16-31 */
  if ((b & avx512) == avx512 && os_saves(0xE6)) return DIRRM_SIMD_AVX512;
  return DIRRM_SIMD_AVX2;
#else
  return DIRRM_SIMD_SSE;
#endif
}

/* The instruction set of OpenBLAS's x86-64 kernel families (its corename table). */
static dirrm_simd_level core_level(const char *core) {
  static const char *const avx512[] = {"SkylakeX", "Cooperlake", "SapphireRapids"};
  static const char *const avx2[] = {"Haswell", "Zen", "Excavator"};
  static const char *const avx[] = {"Sandybridge", "Bulldozer", "Piledriver", "Steamroller"};
  for (size_t i = 0; i < sizeof avx512 / sizeof *avx512; i++)
    if (!strcasecmp(core, avx512[i])) return DIRRM_SIMD_AVX512;
  for (size_t i = 0; i < sizeof avx2 / sizeof *avx2; i++)
    if (!strcasecmp(core, avx2[i])) return DIRRM_SIMD_AVX2;
  for (size_t i = 0; i < sizeof avx / sizeof *avx; i++)
    if (!strcasecmp(core, avx[i])) return DIRRM_SIMD_AVX;
  return DIRRM_SIMD_SSE;
}

const char *dirrm_blas_core(void) {
  const char *core = openblas_get_corename();
  return core ? core : "unknown";
}

const char *dirrm_blas_replaced_core(void) { return replaced; }

/* OpenBLAS's kernels for each dirrm_simd_level, and their table in a DYNAMIC_ARCH build. */
static const char *const class_core[] = {"", "Sandybridge", "Haswell", "SkylakeX"};
static const char *const class_table[] = {NULL, "gotoblas_SANDYBRIDGE", "gotoblas_HASWELL", "gotoblas_SKYLAKEX"};

const char *dirrm_blas_class_core(void) { return class_core[dirrm_blas_cpu_level()]; }

dirrm_blas_chooser dirrm_blas_chooser_kind(void) { return chooser; }

/* Runs when libdirrm (or the CLI) loads: after OpenBLAS's own constructor, which the dynamic
   linker runs first because dirrm depends on it, and before any dirrm call. */
__attribute__((constructor)) static void choose_kernels(void) {
  if (getenv("OPENBLAS_CORETYPE")) {
    chooser = DIRRM_BLAS_BY_ENVIRONMENT;
    return;
  }
  /* The symbols below exist only in OpenBLAS's DYNAMIC_ARCH builds; look them up in the very
     library this one is linked to (it may be loaded RTLD_LOCAL, out of the global scope). */
  Dl_info info;
  void *openblas = NULL;
  if (dladdr((void *)openblas_get_corename, &info) && info.dli_fname)
    openblas = dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
  void (*quit)(void) = openblas ? (void (*)(void))dlsym(openblas, "gotoblas_dynamic_quit") : NULL;
  void (*init)(void) = openblas ? (void (*)(void))dlsym(openblas, "gotoblas_dynamic_init") : NULL;
  if (!quit || !init) {
    chooser = DIRRM_BLAS_FIXED;
    if (openblas) dlclose(openblas);
    return;
  }
  const char *current = dirrm_blas_core();
  dirrm_simd_level cpu = dirrm_blas_cpu_level();
  if (core_level(current) >= cpu || !dlsym(openblas, class_table[cpu])) {
    dlclose(openblas);
    return;
  }
  char before[sizeof replaced];
  strncpy(before, current, sizeof before - 1);
  before[sizeof before - 1] = 0;
  /* OpenBLAS reads the variable only inside gotoblas_dynamic_init; it is removed again so
     that the caller's environment (and its child processes') stays as it was. */
  if (setenv("OPENBLAS_CORETYPE", class_core[cpu], 0) == 0) {
    quit();
    init();
    unsetenv("OPENBLAS_CORETYPE");
    if (!strcasecmp(dirrm_blas_core(), class_core[cpu])) {
      memcpy(replaced, before, sizeof replaced);
      chooser = DIRRM_BLAS_BY_DIRRM;
    }
  }
  dlclose(openblas);
}
