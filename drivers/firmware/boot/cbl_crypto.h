/* cbl_crypto.h: the hashes and the signature check, from fetched sources (see crypto.py):
 * SHA-256 / SHA-512 from libsodium's portable C, Ed25519 on Monocypher's curve code. */
#ifndef CBL_CRYPTO_H
#define CBL_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

int crypto_hash_sha256(unsigned char *out, const unsigned char *in, unsigned long long inlen);
int crypto_hash_sha512(unsigned char *out, const unsigned char *in, unsigned long long inlen);
/* 0 when sig is pk's Ed25519 signature (RFC 8032) of msg (at most 64 bytes), else -1 */
int cbl_ed25519_verify(const uint8_t sig[64], const uint8_t pk[32], const uint8_t *msg, size_t n);

#endif
