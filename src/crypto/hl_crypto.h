/* hl_crypto.h — the primitives hookloop needs, on mbedTLS: SHA-256,
 * HMAC-SHA256, base64, hex, and random bytes and ids from a CTR-DRBG seeded
 * from the OS.
 *
 * Nothing here allocates except hl_random_id/hl_random_uuid (the result) and
 * hl_base64_encode (growing the caller's buffer). */
#ifndef HL_CRYPTO_H
#define HL_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include <mbedtls/sha256.h>

#include "common/hl_buf.h"

#define HL_SHA256_LEN 32

void hl_sha256(const void *data, size_t len, uint8_t out[32]);
/* HMAC-SHA256 of data under key (any length). */
void hl_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len, uint8_t out[32]);

/* A keyed HMAC-SHA256 whose pad blocks are absorbed once, so each MAC costs
 * only the message blocks plus two finalisations, with no allocation.
 * _init copies what it needs from key; _dispose wipes the key material. */
typedef struct {
  mbedtls_sha256_context inner; /* state after key ^ ipad */
  mbedtls_sha256_context outer; /* state after key ^ opad */
} hl_hmac_key;

void hl_hmac_key_init(hl_hmac_key *k, const void *key, size_t key_len);
void hl_hmac_key_dispose(hl_hmac_key *k);
/* A running MAC started from a prepared key: _begin, any number of _update,
 * then _end (which leaves the running context wiped). */
typedef struct {
  const hl_hmac_key *key;
  mbedtls_sha256_context ctx;
} hl_hmac_run;
void hl_hmac_begin(hl_hmac_run *r, const hl_hmac_key *k);
void hl_hmac_update(hl_hmac_run *r, const void *data, size_t len);
void hl_hmac_end(hl_hmac_run *r, uint8_t out[32]);

/* Lower-case hex of len bytes into out (2*len+1 bytes, NUL-terminated). */
void hl_hex(const uint8_t *in, size_t len, char *out);

/* Standard base64 (RFC 4648 §4) with padding, appended to out. */
void hl_base64_encode(hl_buf *out, const uint8_t *in, size_t len);
/* The same into out, which must hold HL_BASE64_ENCODED_LEN(len) + 1 bytes;
 * NUL-terminates and returns the length written (no allocation). */
#define HL_BASE64_ENCODED_LEN(len) (4 * (((len) + 2) / 3))
size_t hl_base64_encode_to(char *out, const uint8_t *in, size_t len);
/* Bytes hl_base64_decode needs at most for len characters of input. */
#define HL_BASE64_DECODED_MAX(len) (((len) / 4 + 1) * 3)
/* Strict standard base64: the length must be a multiple of 4, '=' only as
 * one or two final padding characters, no whitespace, no characters outside
 * the alphabet and the unused bits of the last character must be zero.
 * Returns the decoded length (>= 0) or a negative hl_err: HL_EPARSE for bad
 * input, HL_ETOOBIG when out (outlen bytes) is too small. out is left
 * unspecified on error. */
int hl_base64_decode(const char *in, size_t len, uint8_t *out, size_t outlen);
/* base64url (RFC 4648 §5) without padding, as JOSE writes it (RFC 7515 §2),
 * appended to out. */
void hl_base64url_encode(hl_buf *out, const uint8_t *in, size_t len);
/* Strict base64url without padding: only A-Z a-z 0-9 - _, no '=', no
 * whitespace, a length that is not 1 modulo 4 and zero unused bits in the
 * last character. Returns the decoded length or HL_EPARSE / HL_ETOOBIG as
 * hl_base64_decode. */
int hl_base64url_decode(const char *in, size_t len, uint8_t *out, size_t outlen);

/* Random bytes from a CTR-DRBG seeded once from the OS entropy source;
 * thread-safe (libuv's threadpool may call it). Aborts if the OS has no
 * entropy: nothing may be signed or identified with predictable bytes. */
void hl_random_bytes(void *out, size_t len);
uint32_t hl_random_u32(void);
/* prefix + 22 base62 characters (~131 bits), malloc'd (never NULL). */
char *hl_random_id(const char *prefix);
/* A random UUID version 4 in lower-case text form, into out (37 bytes). */
void hl_random_uuid(char out[37]);

#endif
