/* cbl_crypto.h: the hashes and the signature check, from fetched sources (see crypto.py):
 * SHA-256 / SHA-512 from PyCryptodome's portable C, Ed25519 on Monocypher's curve code. */
#ifndef CBL_CRYPTO_H
#define CBL_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

int SHA256_oneshot(const uint8_t *in, size_t len, uint8_t *digest, size_t digest_size);
int SHA512_oneshot(const uint8_t *in, size_t len, uint8_t *digest, size_t digest_size);
/* 0 when sig is pk's Ed25519 signature (RFC 8032) of msg (at most 64 bytes), else -1 */
int cbl_ed25519_verify(const uint8_t sig[64], const uint8_t pk[32], const uint8_t *msg, size_t n);

#endif
