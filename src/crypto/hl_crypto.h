/* hl_crypto.h — the primitives hookloop needs, on mbedTLS: SHA-256,
 * HMAC-SHA256, base64, hex, and random bytes and ids from a CTR-DRBG seeded
 * from the OS. */
#ifndef HL_CRYPTO_H
#define HL_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "common/hl_buf.h"

void hl_sha256(const void *data, size_t len, uint8_t out[32]);
void hl_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len, uint8_t out[32]);
/* Lower-case hex of len bytes into out (2*len+1 bytes). */
void hl_hex(const uint8_t *in, size_t len, char *out);
/* Standard base64 with padding, appended to out. */
void hl_base64_encode(hl_buf *out, const uint8_t *in, size_t len);
/* Strict standard base64; returns the decoded length or a negative hl_err
 * (HL_EPARSE for bad input, HL_ETOOBIG when out is too small). */
int hl_base64_decode(const char *in, size_t len, uint8_t *out, size_t outlen);

/* Random bytes from a CTR-DRBG (thread-safe). Aborts if the OS has no entropy. */
void hl_random_bytes(void *out, size_t len);
uint32_t hl_random_u32(void);
/* prefix + 22 base62 characters (~131 bits), malloc'd. */
char *hl_random_id(const char *prefix);

#endif
