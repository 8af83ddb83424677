#ifndef DIRRM_COPENBLAS_SHIM_H
#define DIRRM_COPENBLAS_SHIM_H
/* Debian installs OpenBLAS's cblas.h through the alternatives system; the OpenBLAS-specific
   entry points are declared again here so the build does not depend on which cblas.h wins. */
#include <cblas.h>
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
char *openblas_get_config(void);
#endif
