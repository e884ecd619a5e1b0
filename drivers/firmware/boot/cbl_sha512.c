/* SHA-512: libsodium's portable crypto_hash/sha512/cp (fetched at build time from the pynacl sdist),
 * and the one libsodium utility it calls. */
#define CONFIGURED 1
#include "hash_sha512_cp.c"

void sodium_memzero(void *const pnt, const size_t len)
{
    volatile unsigned char *p = (volatile unsigned char *)pnt;
    for (size_t k = 0; k < len; k++) p[k] = 0;
}
