/* HS256 JWS/JWT: the RFC 7515 and RFC 7520 vectors, base64url, minting and
 * the refusals a verifier owes (other algorithms, crit, tampering, times). */
#include "hl_test.h"
#include "hl_testutil.h"
#include "common/hl_common.h"
#include "crypto/hl_crypto.h"
#include "crypto/hl_jwt.h"
#include "json/hl_json.h"

#include <stdlib.h>
#include <string.h>

static const hl_json *load_vectors(hl_json_doc *doc) { return hl_vector_json("jwt/vectors.json", doc); }

static size_t key_of(const hl_json *v, uint8_t *key, size_t cap) {
  const char *k = hl_json_str(hl_json_get(v, "key_b64url"));
  int n = hl_base64url_decode(k, strlen(k), key, cap);
  HL_ASSERT(n >= 32);
  return (size_t)n;
}

/* A copy of tok with the character at i replaced by c. */
static char *with_char(const char *tok, size_t i, char c) {
  char *t = hl_strdup(tok);
  t[i] = c;
  return t;
}

/* A base64url character other than c, keeping the low bits (so a last
 * character stays canonical). */
static char other_char(char c) { return c == 'A' ? 'Q' : c == 'Q' ? 'A' : c == 'a' ? 'q' : 'a'; }

HL_TEST(jws_hs256_rfc_vectors_sign_and_verify) {
  hl_json_doc doc;
  const hl_json *vs = hl_json_get(load_vectors(&doc), "jws_hs256");
  HL_ASSERT(vs && vs->len == 2);
  for (uint32_t i = 0; i < vs->len; i++) {
    const hl_json *v = &vs->u.items[i];
    uint8_t key[128];
    size_t klen = key_of(v, key, sizeof key);
    const hl_json *h = hl_json_get(v, "header"), *p = hl_json_get(v, "payload");
    const char *jws = hl_json_str(hl_json_get(v, "jws"));
    hl_buf out = HL_BUF_INIT;
    HL_ASSERT_EQ_INT(hl_jws_hs256_sign(key, klen, h->u.str, h->len, p->u.str, p->len, &out), 0);
    HL_ASSERT_EQ_STR(out.data, jws);
    hl_buf pl = HL_BUF_INIT;
    HL_ASSERT_EQ_INT(hl_jws_hs256_verify(jws, strlen(jws), key, klen, &pl), 0);
    HL_ASSERT(pl.len == p->len && memcmp(pl.data, p->u.str, pl.len) == 0);
    /* One character changed in the payload or the signature: refused as a
     * signature mismatch; in the header: not even parsed as HS256. */
    const char *d1 = strchr(jws, '.'), *d2 = strrchr(jws, '.');
    size_t at_payload = (size_t)(d1 - jws) + 5, at_sig = (size_t)(d2 - jws) + 3;
    char *t = with_char(jws, at_payload, other_char(jws[at_payload]));
    HL_ASSERT_EQ_INT(hl_jws_hs256_verify(t, strlen(t), key, klen, NULL), HL_ECRYPTO);
    hl_free(t);
    t = with_char(jws, at_sig, other_char(jws[at_sig]));
    HL_ASSERT_EQ_INT(hl_jws_hs256_verify(t, strlen(t), key, klen, NULL), HL_ECRYPTO);
    hl_free(t);
    t = with_char(jws, 4, other_char(jws[4]));
    HL_ASSERT(hl_jws_hs256_verify(t, strlen(t), key, klen, NULL) < 0);
    hl_free(t);
    /* Another key of the same length. */
    key[0] ^= 1;
    HL_ASSERT_EQ_INT(hl_jws_hs256_verify(jws, strlen(jws), key, klen, NULL), HL_ECRYPTO);
    hl_buf_dispose(&out);
    hl_buf_dispose(&pl);
  }
  hl_json_doc_dispose(&doc);
}

HL_TEST(jwt_rfc7515_a1_expiry) {
  hl_json_doc doc;
  const hl_json *v = &hl_json_get(load_vectors(&doc), "jws_hs256")->u.items[0];
  uint8_t key[128];
  size_t klen = key_of(v, key, sizeof key);
  const char *jws = hl_json_str(hl_json_get(v, "jws"));
  int64_t exp = 0;
  HL_ASSERT(hl_json_int64(hl_json_get(hl_json_get(v, "claims"), "exp"), &exp) == 0);
  hl_jwt_claims c;
  hl_jwt_claims_init(&c);
  HL_ASSERT_EQ_INT(hl_jwt_verify_hs256(jws, strlen(jws), key, klen, exp - 1, 0, true, &c), 0);
  HL_ASSERT(c.has_exp && c.exp == exp && !c.has_iat && c.sub == NULL);
  HL_ASSERT_EQ_STR(hl_json_str(hl_json_get(c.claims, "iss")), "joe");
  HL_ASSERT(hl_json_get(c.claims, "http://example.com/is_root")->type == HL_JSON_TRUE);
  hl_jwt_claims_dispose(&c);
  /* RFC 7519 §4.1.4: the current time must be before exp. */
  HL_ASSERT_EQ_INT(hl_jwt_verify_hs256(jws, strlen(jws), key, klen, exp, 0, true, NULL), HL_ETIMEOUT);
  HL_ASSERT_EQ_INT(hl_jwt_verify_hs256(jws, strlen(jws), key, klen, exp, 60, true, NULL), 0);
  HL_ASSERT_EQ_INT(hl_jwt_verify_hs256(jws, strlen(jws), key, klen, exp + 60, 60, true, NULL), HL_ETIMEOUT);
  /* The RFC 7520 payload is prose, not a claims set. */
  const hl_json *v2 = &hl_json_get(doc.root, "jws_hs256")->u.items[1];
  klen = key_of(v2, key, sizeof key);
  const char *jws2 = hl_json_str(hl_json_get(v2, "jws"));
  HL_ASSERT_EQ_INT(hl_jwt_verify_hs256(jws2, strlen(jws2), key, klen, 0, 0, false, NULL), HL_EPARSE);
  hl_json_doc_dispose(&doc);
}

HL_TEST(base64url_rfc4648_and_strictness) {
  /* RFC 4648 §10, in the URL alphabet without padding. */
  static const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
  static const char *enc[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
  uint8_t buf[64];
  for (size_t i = 0; i < HL_ARRAY_SIZE(plain); i++) {
    hl_buf b = HL_BUF_INIT;
    hl_base64url_encode(&b, (const uint8_t *)plain[i], strlen(plain[i]));
    HL_ASSERT_EQ_STR(b.data ? b.data : "", enc[i]);
    HL_ASSERT_EQ_INT(hl_base64url_decode(enc[i], strlen(enc[i]), buf, sizeof buf), (int)strlen(plain[i]));
    HL_ASSERT(memcmp(buf, plain[i], strlen(plain[i])) == 0);
    hl_buf_dispose(&b);
  }
  /* The two characters that differ from standard base64. */
  static const uint8_t hi[] = {0xfb, 0xff, 0xbf};
  hl_buf b = HL_BUF_INIT;
  hl_base64url_encode(&b, hi, sizeof hi);
  HL_ASSERT_EQ_STR(b.data, "-_-_");
  hl_buf_dispose(&b);
  HL_ASSERT_EQ_INT(hl_base64url_decode("-_-_", 4, buf, sizeof buf), 3);
  HL_ASSERT(memcmp(buf, hi, 3) == 0);
  /* Padding, the standard alphabet's + and /, a length of 1 mod 4, and
   * non-zero unused bits ("Zh" and "Zm9" would be "f" and "fo" with a stray bit). */
  static const char *bad[] = {"Zg==", "Zg=", "+/+/", "Z", "Zm9vY", "Zh", "Zm9", "Zm9 "};
  for (size_t i = 0; i < HL_ARRAY_SIZE(bad); i++)
    HL_ASSERT_MSG(hl_base64url_decode(bad[i], strlen(bad[i]), buf, sizeof buf) == HL_EPARSE, "accepted %s", bad[i]);
  HL_ASSERT_EQ_INT(hl_base64url_decode("Zm8", 3, buf, sizeof buf), 2);
  HL_ASSERT_EQ_INT(hl_base64url_decode("Zm9vYmFy", 8, buf, 5), HL_ETOOBIG);
}

static const char key32[] = "0123456789abcdef0123456789abcdef";

HL_TEST(jwt_mint_round_trip) {
  hl_jwt_claim extra[] = {{"scope", "\"inbox:read inbox:ack\""}, {"amount", "100.10"}, {"nested", "{\"a\":[1,2]}"}};
  hl_buf tok = HL_BUF_INIT;
  HL_ASSERT_EQ_INT(hl_jwt_mint_hs256(key32, 32, "hookloop", 1700000000, 1700000300, extra, 3, &tok), 0);
  /* The header is the fixed one. */
  const char *d1 = strchr(tok.data, '.');
  uint8_t hdr[64];
  int n = hl_base64url_decode(tok.data, (size_t)(d1 - tok.data), hdr, sizeof hdr);
  HL_ASSERT(n > 0);
  HL_ASSERT(n == 27 && memcmp(hdr, "{\"alg\":\"HS256\",\"typ\":\"JWT\"}", 27) == 0);
  hl_jwt_claims c;
  hl_jwt_claims_init(&c);
  HL_ASSERT_EQ_INT(hl_jwt_verify_hs256(tok.data, tok.len, key32, 32, 1700000100, 0, true, &c), 0);
  HL_ASSERT_EQ_STR(c.sub, "hookloop");
  HL_ASSERT(c.has_iat && c.iat == 1700000000 && c.has_exp && c.exp == 1700000300);
  HL_ASSERT_EQ_STR(hl_json_str(hl_json_get(c.claims, "scope")), "inbox:read inbox:ack");
  const hl_json *amount = hl_json_get(c.claims, "amount");
  HL_ASSERT(amount && amount->type == HL_JSON_NUMBER && amount->len == 6 && memcmp(amount->u.str, "100.10", 6) == 0);
  HL_ASSERT(hl_json_pointer(c.claims, "/nested/a/1", 11) != NULL);
  hl_jwt_claims_dispose(&c);
  HL_ASSERT_EQ_INT(hl_jwt_verify_hs256(tok.data, tok.len, key32, 32, 1700000300, 0, true, NULL), HL_ETIMEOUT);
  /* Two mints with the same inputs are the same token (nothing random). */
  hl_buf again = HL_BUF_INIT;
  HL_ASSERT_EQ_INT(hl_jwt_mint_hs256(key32, 32, "hookloop", 1700000000, 1700000300, extra, 3, &again), 0);
  HL_ASSERT_EQ_STR(again.data, tok.data);
  hl_buf_dispose(&again);
  hl_buf_dispose(&tok);
}

/* header.payload.HMAC: a token whose signature is right, so only the header
 * can be the reason for a refusal. */
static char *signed_with_header(const char *header, const char *payload) {
  hl_buf t = HL_BUF_INIT;
  hl_base64url_encode(&t, (const uint8_t *)header, strlen(header));
  hl_buf_putc(&t, '.');
  hl_base64url_encode(&t, (const uint8_t *)payload, strlen(payload));
  uint8_t mac[32];
  hl_hmac_sha256(key32, 32, t.data, t.len, mac);
  hl_buf_putc(&t, '.');
  hl_base64url_encode(&t, mac, 32);
  return hl_buf_steal(&t, NULL);
}

HL_TEST(jwt_refusals) {
  const char *claims = "{\"sub\":\"x\",\"exp\":4000000000}";
  static const char *headers[] = {"{\"alg\":\"none\"}", "{\"alg\":\"HS512\"}", "{\"alg\":\"hs256\"}",
                                  "{\"typ\":\"JWT\"}", "{\"alg\":\"HS256\",\"crit\":[\"exp\"]}"};
  for (size_t i = 0; i < HL_ARRAY_SIZE(headers); i++) {
    char *t = signed_with_header(headers[i], claims);
    HL_ASSERT_MSG(hl_jwt_verify_hs256(t, strlen(t), key32, 32, 0, 0, true, NULL) == HL_EUNSUPPORTED, "%s",
                  headers[i]);
    hl_free(t);
  }
  /* The same claims under a plain HS256 header pass: the header was the reason. */
  char *ok = signed_with_header("{\"alg\":\"HS256\"}", claims);
  HL_ASSERT_EQ_INT(hl_jwt_verify_hs256(ok, strlen(ok), key32, 32, 0, 0, true, NULL), 0);
  /* Short keys, either way. */
  HL_ASSERT_EQ_INT(hl_jwt_verify_hs256(ok, strlen(ok), key32, 31, 0, 0, true, NULL), HL_EINVAL);
  hl_buf out = HL_BUF_INIT;
  HL_ASSERT_EQ_INT(hl_jwt_mint_hs256(key32, 31, "s", 1, 2, NULL, 0, &out), HL_EINVAL);
  /* Structure: segments, padding, trailing bytes. */
  hl_buf b = HL_BUF_INIT;
  hl_buf_puts(&b, ok);
  hl_buf_puts(&b, ".x");
  HL_ASSERT_EQ_INT(hl_jws_hs256_verify(b.data, b.len, key32, 32, NULL), HL_EPARSE);
  hl_buf_reset(&b);
  hl_buf_puts(&b, ok);
  hl_buf_puts(&b, "=");
  HL_ASSERT_EQ_INT(hl_jws_hs256_verify(b.data, b.len, key32, 32, NULL), HL_EPARSE);
  HL_ASSERT_EQ_INT(hl_jws_hs256_verify(ok, (size_t)(strrchr(ok, '.') - ok), key32, 32, NULL), HL_EPARSE);
  hl_buf_dispose(&b);
  hl_free(ok);
  /* Claims that are not a claims set, or lack what was required. */
  char *t = signed_with_header("{\"alg\":\"HS256\"}", "[1]");
  HL_ASSERT_EQ_INT(hl_jwt_verify_hs256(t, strlen(t), key32, 32, 0, 0, false, NULL), HL_EPARSE);
  hl_free(t);
  t = signed_with_header("{\"alg\":\"HS256\"}", "{\"sub\":\"x\"}");
  HL_ASSERT_EQ_INT(hl_jwt_verify_hs256(t, strlen(t), key32, 32, 0, 0, true, NULL), HL_EPARSE);
  HL_ASSERT_EQ_INT(hl_jwt_verify_hs256(t, strlen(t), key32, 32, 0, 0, false, NULL), 0);
  hl_free(t);
  t = signed_with_header("{\"alg\":\"HS256\"}", "{\"exp\":\"soon\"}");
  HL_ASSERT_EQ_INT(hl_jwt_verify_hs256(t, strlen(t), key32, 32, 0, 0, false, NULL), HL_EPARSE);
  hl_free(t);
  /* Not before: refused until nbf (less the leeway). */
  t = signed_with_header("{\"alg\":\"HS256\"}", "{\"nbf\":1000,\"exp\":2000.5}");
  HL_ASSERT_EQ_INT(hl_jwt_verify_hs256(t, strlen(t), key32, 32, 999, 0, true, NULL), HL_ETIMEOUT);
  HL_ASSERT_EQ_INT(hl_jwt_verify_hs256(t, strlen(t), key32, 32, 990, 10, true, NULL), 0);
  HL_ASSERT_EQ_INT(hl_jwt_verify_hs256(t, strlen(t), key32, 32, 1999, 0, true, NULL), 0);
  HL_ASSERT_EQ_INT(hl_jwt_verify_hs256(t, strlen(t), key32, 32, 2000, 0, true, NULL), HL_ETIMEOUT);
  hl_free(t);
  /* Minting: times, reserved or repeated names, values that are not JSON. */
  HL_ASSERT_EQ_INT(hl_jwt_mint_hs256(key32, 32, "s", 10, 10, NULL, 0, &out), HL_EINVAL);
  HL_ASSERT_EQ_INT(hl_jwt_mint_hs256(key32, 32, "", 10, 20, NULL, 0, &out), HL_EINVAL);
  hl_jwt_claim reserved[] = {{"exp", "1"}};
  HL_ASSERT_EQ_INT(hl_jwt_mint_hs256(key32, 32, "s", 10, 20, reserved, 1, &out), HL_EINVAL);
  hl_jwt_claim twice[] = {{"a", "1"}, {"a", "2"}};
  HL_ASSERT_EQ_INT(hl_jwt_mint_hs256(key32, 32, "s", 10, 20, twice, 2, &out), HL_EINVAL);
  hl_jwt_claim notjson[] = {{"a", "1,2"}};
  HL_ASSERT_EQ_INT(hl_jwt_mint_hs256(key32, 32, "s", 10, 20, notjson, 1, &out), HL_EINVAL);
  HL_ASSERT(out.len == 0);
  hl_buf_dispose(&out);
}
