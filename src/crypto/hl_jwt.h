/* hl_jwt.h — HS256 JSON Web Tokens: minting and verifying.
 *
 * Two layers. The JWS layer (RFC 7515, compact serialisation) signs and
 * checks any header and payload bytes with HMAC-SHA256; the JWT layer (RFC
 * 7519) builds a claims set {"sub","iat","exp",...} on top and checks its
 * times. Segments are base64url without padding (RFC 7515 §2).
 *
 * Only HS256 exists here, and a verifier takes nothing else: a token whose
 * header names another algorithm ("none", RS256 with a public key used as an
 * HMAC key, ...) is refused before any signature is looked at, and so is a
 * header with "crit" (no extension is understood, RFC 7515 §4.1.11).
 *
 * Keys are raw bytes and must be at least 32 bytes long: RFC 7518 §3.2
 * requires an HS256 key no shorter than the hash. Key material is wiped
 * after use and never appears in an error or a log line.
 */
#ifndef HL_JWT_H
#define HL_JWT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/hl_buf.h"
#include "json/hl_json.h"

#define HL_JWT_KEY_MIN 32

/* --- JWS (RFC 7515) ---------------------------------------------------------- */

/* Appends the compact JWS BASE64URL(header).BASE64URL(payload).BASE64URL(
 * HMAC-SHA256(key, signing input)) to out. The header is used as given: it
 * must be a JSON object naming "alg":"HS256" (checked). Returns 0, or
 * HL_EINVAL for a short key or a header that is not such an object. */
int hl_jws_hs256_sign(const void *key, size_t key_len, const char *header, size_t header_len, const void *payload,
                      size_t payload_len, hl_buf *out);

/* Checks a compact JWS and appends its decoded payload to payload (may be
 * NULL). Returns 0 when the header is a JSON object with "alg":"HS256" and
 * no "crit", and the signature matches (compared in constant time); else
 * HL_EINVAL (short key), HL_EPARSE (not three base64url segments, a header
 * that is not a JSON object), HL_EUNSUPPORTED (another algorithm, or
 * "crit"), HL_ECRYPTO (the signature does not match). */
int hl_jws_hs256_verify(const char *token, size_t token_len, const void *key, size_t key_len, hl_buf *payload);

/* --- JWT (RFC 7519) ---------------------------------------------------------- */

/* An extra claim: its name and its value as JSON text ("\"eu\"", "42",
 * "{\"a\":1}"), written as given. */
typedef struct {
  const char *name;
  const char *json;
} hl_jwt_claim;

/* Appends a JWT with header {"alg":"HS256","typ":"JWT"} and claims
 * {"sub":sub,"iat":iat_s,"exp":exp_s, extra...} to out. Returns 0, or
 * HL_EINVAL for a short key, no subject, exp_s <= iat_s, an extra claim
 * named sub, iat or exp (or twice the same name), or one whose value is not
 * one JSON value. */
int hl_jwt_mint_hs256(const void *key, size_t key_len, const char *sub, int64_t iat_s, int64_t exp_s,
                      const hl_jwt_claim *extra, size_t n_extra, hl_buf *out);

/* The claims of a verified token. Zero-initialise or _init; dispose after. */
typedef struct {
  hl_json_doc doc;       /* the claims set; its strings live here */
  const hl_json *claims; /* the object (NULL until verified) */
  const char *sub;       /* NULL when absent */
  bool has_iat, has_exp, has_nbf;
  int64_t iat, exp, nbf; /* seconds, rounded down when the token gives fractions */
} hl_jwt_claims;

void hl_jwt_claims_init(hl_jwt_claims *c);
void hl_jwt_claims_dispose(hl_jwt_claims *c);

/* Verifies a JWT at time now_s: the JWS as hl_jws_hs256_verify, then the
 * payload must be a JSON object whose "exp" (required when require_exp),
 * "nbf" and "iat", when present, are numbers. Fails with HL_ETIMEOUT when
 * now_s >= exp + leeway_s (RFC 7519 §4.1.4: the time must be before exp) or
 * now_s < nbf - leeway_s; HL_EPARSE for a claims set that is not such an
 * object (or lacks exp when required). Other errors as hl_jws_hs256_verify.
 * On 0 the claims are in out (which may be NULL). */
int hl_jwt_verify_hs256(const char *token, size_t token_len, const void *key, size_t key_len, int64_t now_s,
                        int64_t leeway_s, bool require_exp, hl_jwt_claims *out);

#endif
