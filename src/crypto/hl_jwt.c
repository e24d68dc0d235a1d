#include "crypto/hl_jwt.h"

#include <math.h>
#include <mbedtls/platform_util.h>
#include <string.h>

#include "common/hl_common.h"
#include "crypto/hl_crypto.h"

/* A header names HS256 and nothing this module would have to understand. */
static int check_header(const char *json, size_t len) {
  hl_json_doc doc;
  hl_json_doc_init(&doc);
  int rc = HL_EPARSE;
  if (hl_json_parse(&doc, json, len, NULL) == 0 && doc.root->type == HL_JSON_OBJECT) {
    const char *alg = hl_json_str(hl_json_get(doc.root, "alg"));
    /* Exact, case included: "hs256" or "HS256 " is not the algorithm. */
    if (!alg || strcmp(alg, "HS256") != 0 || hl_json_get(doc.root, "crit")) rc = HL_EUNSUPPORTED;
    else rc = 0;
  }
  hl_json_doc_dispose(&doc);
  return rc;
}

int hl_jws_hs256_sign(const void *key, size_t key_len, const char *header, size_t header_len, const void *payload,
                      size_t payload_len, hl_buf *out) {
  if (!key || key_len < HL_JWT_KEY_MIN || !header || (!payload && payload_len)) return HL_EINVAL;
  if (check_header(header, header_len) != 0) return HL_EINVAL;
  size_t start = out->len;
  hl_base64url_encode(out, (const uint8_t *)header, header_len);
  hl_buf_putc(out, '.');
  hl_base64url_encode(out, payload, payload_len);
  uint8_t sig[32];
  hl_hmac_sha256(key, key_len, out->data + start, out->len - start, sig);
  hl_buf_putc(out, '.');
  hl_base64url_encode(out, sig, sizeof sig);
  return 0;
}

/* Decodes one base64url segment into a fresh buffer of its own. */
static int decode_segment(const char *s, size_t len, hl_buf *out) {
  hl_buf_reset(out);
  hl_buf_reserve(out, len / 4 * 3 + 3);
  int n = hl_base64url_decode(s, len, (uint8_t *)out->data, out->cap);
  if (n < 0) return HL_EPARSE;
  out->len = (size_t)n;
  out->data[n] = '\0';
  return 0;
}

int hl_jws_hs256_verify(const char *token, size_t token_len, const void *key, size_t key_len, hl_buf *payload) {
  if (!key || key_len < HL_JWT_KEY_MIN || !token) return HL_EINVAL;
  const char *d1 = memchr(token, '.', token_len);
  if (!d1) return HL_EPARSE;
  const char *end = token + token_len;
  const char *d2 = memchr(d1 + 1, '.', (size_t)(end - d1 - 1));
  if (!d2 || memchr(d2 + 1, '.', (size_t)(end - d2 - 1))) return HL_EPARSE;
  hl_buf seg = HL_BUF_INIT;
  int rc = decode_segment(token, (size_t)(d1 - token), &seg);
  if (rc == 0) rc = check_header(seg.data, seg.len);
  uint8_t want[32], got[32];
  if (rc == 0) {
    /* The signature is exactly 32 bytes: 43 characters, nothing else. */
    size_t slen = (size_t)(end - d2 - 1);
    if (slen != 43 || hl_base64url_decode(d2 + 1, slen, got, sizeof got) != 32) rc = HL_EPARSE;
  }
  if (rc == 0) {
    hl_hmac_sha256(key, key_len, token, (size_t)(d2 - token), want);
    if (!hl_ct_equal(want, sizeof want, got, sizeof got)) rc = HL_ECRYPTO;
  }
  if (rc == 0 && decode_segment(d1 + 1, (size_t)(d2 - d1 - 1), &seg) != 0) rc = HL_EPARSE;
  if (rc == 0 && payload) hl_buf_append(payload, seg.data ? seg.data : "", seg.len);
  hl_buf_dispose(&seg);
  return rc;
}

/* One JSON value and nothing else. */
static bool is_json_value(const char *s) {
  hl_json_doc doc;
  hl_json_doc_init(&doc);
  bool ok = hl_json_parse(&doc, s, strlen(s), NULL) == 0;
  hl_json_doc_dispose(&doc);
  return ok;
}

int hl_jwt_mint_hs256(const void *key, size_t key_len, const char *sub, int64_t iat_s, int64_t exp_s,
                      const hl_jwt_claim *extra, size_t n_extra, hl_buf *out) {
  if (!key || key_len < HL_JWT_KEY_MIN || !sub || !*sub || exp_s <= iat_s || (n_extra && !extra)) return HL_EINVAL;
  for (size_t i = 0; i < n_extra; i++) {
    const char *n = extra[i].name;
    if (!n || !extra[i].json || strcmp(n, "sub") == 0 || strcmp(n, "iat") == 0 || strcmp(n, "exp") == 0 ||
        !is_json_value(extra[i].json))
      return HL_EINVAL;
    for (size_t j = 0; j < i; j++)
      if (strcmp(extra[j].name, n) == 0) return HL_EINVAL;
  }
  static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
  hl_buf claims = HL_BUF_INIT;
  hl_jw w;
  hl_jw_open(&w, &claims);
  hl_jw_key_str(&w, "sub", sub);
  hl_jw_key_int(&w, "iat", iat_s);
  hl_jw_key_int(&w, "exp", exp_s);
  for (size_t i = 0; i < n_extra; i++) {
    hl_jw_key(&w, extra[i].name);
    hl_jw_raw(&w, extra[i].json, strlen(extra[i].json));
  }
  hl_jw_obj_end(&w);
  int rc = hl_jws_hs256_sign(key, key_len, header, sizeof header - 1, claims.data, claims.len, out);
  hl_buf_dispose(&claims);
  return rc;
}

void hl_jwt_claims_init(hl_jwt_claims *c) {
  memset(c, 0, sizeof *c);
  hl_json_doc_init(&c->doc);
}

void hl_jwt_claims_dispose(hl_jwt_claims *c) {
  hl_json_doc_dispose(&c->doc);
  memset(c, 0, sizeof *c);
}

/* A NumericDate (RFC 7519 §2): a JSON number of seconds, possibly with a
 * fraction, which is dropped (rounded down). */
static int numeric_date(const hl_json *v, bool *has, int64_t *out) {
  *has = false;
  if (!v) return 0;
  if (v->type != HL_JSON_NUMBER) return HL_EPARSE;
  if (hl_json_int64(v, out) != 0) {
    double d = floor(hl_json_double(v));
    if (!(d > -9.2e18 && d < 9.2e18)) return HL_EPARSE;
    *out = (int64_t)d;
  }
  *has = true;
  return 0;
}

int hl_jwt_verify_hs256(const char *token, size_t token_len, const void *key, size_t key_len, int64_t now_s,
                        int64_t leeway_s, bool require_exp, hl_jwt_claims *out) {
  hl_buf payload = HL_BUF_INIT;
  int rc = hl_jws_hs256_verify(token, token_len, key, key_len, &payload);
  hl_jwt_claims local;
  hl_jwt_claims *c = out ? out : &local;
  if (!out) hl_jwt_claims_init(&local);
  if (rc == 0) {
    if (hl_json_parse(&c->doc, payload.data ? payload.data : "", payload.len, NULL) != 0 ||
        c->doc.root->type != HL_JSON_OBJECT)
      rc = HL_EPARSE;
  }
  if (rc == 0) {
    const hl_json *root = c->doc.root;
    const hl_json *sub = hl_json_get(root, "sub");
    if (sub && sub->type != HL_JSON_STRING) rc = HL_EPARSE;
    c->sub = hl_json_str(sub);
    if (rc == 0) rc = numeric_date(hl_json_get(root, "exp"), &c->has_exp, &c->exp);
    if (rc == 0) rc = numeric_date(hl_json_get(root, "nbf"), &c->has_nbf, &c->nbf);
    if (rc == 0) rc = numeric_date(hl_json_get(root, "iat"), &c->has_iat, &c->iat);
    if (rc == 0 && require_exp && !c->has_exp) rc = HL_EPARSE;
    /* Compared on the side of now, so a far-future exp cannot overflow. */
    int64_t lw = leeway_s < 0 ? 0 : HL_MIN(leeway_s, (int64_t)1 << 32);
    if (rc == 0 && c->has_exp && now_s - lw >= c->exp) rc = HL_ETIMEOUT;
    if (rc == 0 && c->has_nbf && now_s + lw < c->nbf) rc = HL_ETIMEOUT;
    if (rc == 0) c->claims = root;
  }
  if (payload.data) mbedtls_platform_zeroize(payload.data, payload.cap);
  hl_buf_dispose(&payload);
  if (rc != 0 && out) {
    hl_jwt_claims_dispose(out);
    hl_jwt_claims_init(out);
  }
  if (!out) hl_jwt_claims_dispose(&local);
  return rc;
}
