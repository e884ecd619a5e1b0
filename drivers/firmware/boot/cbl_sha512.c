/* SHA-512: PyCryptodome's src/SHA512.c (fetched at build time), one-shot use only (no allocation:
 * its _init would calloc and is never called; the linker drops it). */
#define HAVE_STDINT_H 1
#define HAVE_MEMALIGN 1
#include "SHA512.c"
