/* SHA-256: libsodium's portable crypto_hash/sha256/cp (fetched at build time from the pynacl sdist).
 * CONFIGURED: built as a single file, not through libsodium's configure (its headers insist). */
#define CONFIGURED 1
#include "hash_sha256_cp.c"
