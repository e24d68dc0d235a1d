/* hl_testsig.h — Standard Webhooks signatures computed with mbedTLS
 * directly (HMAC-SHA256, base64), not with hookloop's signer or verifier:
 * the outside check that the tests and the mock partner hold hookloop's
 * signatures against. Scheme: key = base64-decode(secret after "whsec_"),
 * signature = base64(HMAC-SHA256(key, "<id>.<timestamp>.<body>")), header
 * value "v1,<signature>", several space-separated while a secret rotates. */
#ifndef HL_TESTSIG_H
#define HL_TESTSIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Writes "v1,<base64>" for secret into out; returns 0, or -1 when the
 * secret does not decode or out is too small. */
int hl_testsig_sign(const char *secret, const char *id, const char *ts, const char *body, size_t body_len,
                    char *out, size_t outlen);
/* True when some "v1,..." entry of header is the signature of one of the
 * n secrets and ts is within tolerance_s of now_s. */
bool hl_testsig_verify(const char *const *secrets, int n, const char *id, const char *ts, const char *body,
                       size_t body_len, const char *header, int64_t now_s, int64_t tolerance_s);

#endif
