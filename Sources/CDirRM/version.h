#ifndef DIRRM_CDIRRM_VERSION_H
#define DIRRM_CDIRRM_VERSION_H
/* Swift cannot import DIRRM_VERSION_NUMBER (a macro expression of macros); this gives the
   library the header's own formula instead of a second copy of it. */
#include "../../include/dirrm.h"
static inline int32_t dirrm_header_version_number(void) { return DIRRM_VERSION_NUMBER; }
#endif
