/* cbl_ed25519.c: Ed25519 verification (RFC 8032) on Monocypher's curve arithmetic.
 *
 * Monocypher's EdDSA hashes with BLAKE2b; Ed25519 is the same equation with SHA-512:
 * h = SHA-512(R || A || M) mod L, then [S]B = R + [h]A (crypto_eddsa_check_equation, which also
 * rejects S >= L and a non-canonical A). This is how Monocypher's optional crypto_ed25519_check
 * is written; messages here are 32-byte image digests (imgtool signs the SHA-256 of the image).
 */
#include <string.h>
#include "cbl_crypto.h"
#include "monocypher.h"

int cbl_ed25519_verify(const uint8_t sig[64], const uint8_t pk[32], const uint8_t *msg, size_t n)
{
    uint8_t buf[128], h[64], r[32];
    if (n > 64u) return -1;
    memcpy(buf, sig, 32);
    memcpy(buf + 32, pk, 32);
    memcpy(buf + 64, msg, n);
    if (crypto_hash_sha512(h, buf, 64u + n) != 0) return -1;
    crypto_eddsa_reduce(r, h);
    return crypto_eddsa_check_equation(sig, pk, r) == 0 ? 0 : -1;
}
