/* Ed25519 and Standard Webhooks "v1a" signatures: RFC 8032's vectors, the
 * Standard Webhooks reference library's vector and header cases, key
 * formats and the timestamp window. */
#include "hl_test.h"
#include "hl_testutil.h"
#include "common/hl_common.h"
#include "crypto/hl_crypto.h"
#include "crypto/hl_webhook_ed25519.h"
#include "crypto/hl_webhook_sig.h"
#include "json/hl_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t unhex(const char *hex, uint8_t *out, size_t cap) {
  size_t n = strlen(hex) / 2;
  HL_ASSERT(n <= cap);
  for (size_t i = 0; i < n; i++) {
    unsigned v;
    HL_ASSERT(sscanf(hex + 2 * i, "%2x", &v) == 1);
    out[i] = (uint8_t)v;
  }
  return n;
}

static const char *str(const hl_json *o, const char *k) {
  const char *s = hl_json_str(hl_json_get(o, k));
  HL_ASSERT_MSG(s, "no string member %s", k);
  return s;
}

HL_TEST(ed25519_rfc8032_vectors) {
  hl_json_doc doc;
  const hl_json *vs = hl_json_get(hl_vector_json("ed25519/vectors.json", &doc), "rfc8032_7_1");
  HL_ASSERT(vs && vs->len == 3);
  for (uint32_t i = 0; i < vs->len; i++) {
    const hl_json *v = &vs->u.items[i];
    uint8_t seed[32], pk[32], msg[16], sig[64], got[64];
    HL_ASSERT_EQ_INT(unhex(str(v, "secret_key"), seed, sizeof seed), 32);
    HL_ASSERT_EQ_INT(unhex(str(v, "public_key"), pk, sizeof pk), 32);
    size_t mlen = unhex(str(v, "message"), msg, sizeof msg);
    HL_ASSERT_EQ_INT(unhex(str(v, "signature"), sig, sizeof sig), 64);
    hl_ed25519_signer s;
    hl_ed25519_from_seed(&s, seed);
    HL_ASSERT_MSG(memcmp(s.pk, pk, 32) == 0, "%s: public key", str(v, "name"));
    hl_ed25519_sign(&s, msg, mlen, got);
    HL_ASSERT_MSG(memcmp(got, sig, 64) == 0, "%s: signature", str(v, "name"));
    HL_ASSERT(hl_ed25519_verify(pk, msg, mlen, sig));
    /* One bit off anywhere: refused. */
    got[10] ^= 0x01;
    HL_ASSERT(!hl_ed25519_verify(pk, msg, mlen, got));
    uint8_t other[17];
    memcpy(other, msg, mlen);
    other[mlen] = 0;
    HL_ASSERT(!hl_ed25519_verify(pk, other, mlen + 1, sig));
    pk[0] ^= 0x80;
    HL_ASSERT(!hl_ed25519_verify(pk, msg, mlen, sig));
    hl_webhook_ed25519_signer_dispose(&s);
  }
  hl_json_doc_dispose(&doc);
}

HL_TEST(v1a_reference_library_vector) {
  hl_json_doc doc;
  const hl_json *v = &hl_json_get(hl_vector_json("standard-webhooks-v1a/vectors.json", &doc), "sign")->u.items[0];
  const char *sk = str(v, "secret_key"), *id = str(v, "webhook_id"), *ts = str(v, "webhook_timestamp");
  const char *body = str(v, "body");
  hl_ed25519_signer s;
  HL_ASSERT_EQ_INT(hl_webhook_ed25519_signer_init(&s, sk, strlen(sk)), 0);
  char *pub = hl_webhook_ed25519_public_key(&s);
  HL_ASSERT_EQ_STR(pub, str(v, "public_key"));
  hl_buf out = HL_BUF_INIT;
  HL_ASSERT_EQ_INT(hl_webhook_ed25519_sign(&s, id, strlen(id), atoll(ts), body, strlen(body), &out), 0);
  HL_ASSERT_EQ_STR(out.data, str(v, "webhook_signature"));
  HL_ASSERT_EQ_INT(hl_webhook_ed25519_verify(pub, id, ts, body, strlen(body), out.data, atoll(ts), 300), 0);
  /* The HMAC verifier does not take a v1a entry for a v1 one. */
  HL_ASSERT_EQ_INT(hl_webhook_verify_ex("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", id, ts, body, strlen(body), out.data,
                                        atoll(ts), 300),
                   HL_ECRYPTO);
  hl_buf_dispose(&out);
  hl_free(pub);
  hl_webhook_ed25519_signer_dispose(&s);
  hl_json_doc_dispose(&doc);
}

HL_TEST(v1a_header_cases) {
  hl_json_doc doc;
  const hl_json *v = hl_json_get(hl_vector_json("standard-webhooks-v1a/vectors.json", &doc), "verify");
  const char *pub = str(v, "public_key"), *id = str(v, "webhook_id"), *ts = str(v, "webhook_timestamp");
  const char *body = str(v, "body");
  /* The published public key is the secret key's. */
  const char *sk = str(v, "secret_key");
  hl_ed25519_signer s;
  HL_ASSERT_EQ_INT(hl_webhook_ed25519_signer_init(&s, sk, strlen(sk)), 0);
  char *derived = hl_webhook_ed25519_public_key(&s);
  HL_ASSERT_EQ_STR(derived, pub);
  hl_free(derived);
  hl_webhook_ed25519_signer_dispose(&s);
  const hl_json *cases = hl_json_get(v, "cases");
  HL_ASSERT(cases && cases->len == 6);
  int64_t now = atoll(ts);
  for (uint32_t i = 0; i < cases->len; i++) {
    const hl_json *c = &cases->u.items[i];
    bool valid = hl_json_get(c, "valid")->type == HL_JSON_TRUE;
    int rc = hl_webhook_ed25519_verify(pub, id, ts, body, strlen(body), str(c, "webhook_signature"), now, 300);
    HL_ASSERT_MSG(rc == (valid ? 0 : HL_ECRYPTO), "%s: %d", str(c, "name"), rc);
  }
  /* The window: 300 s either way is still in, one more second is out;
   * tolerance 0 turns the check off; a timestamp must be an integer. */
  const char *good = str(&cases->u.items[0], "webhook_signature");
  HL_ASSERT_EQ_INT(hl_webhook_ed25519_verify(pub, id, ts, body, strlen(body), good, now + 300, 300), 0);
  HL_ASSERT_EQ_INT(hl_webhook_ed25519_verify(pub, id, ts, body, strlen(body), good, now - 300, 300), 0);
  HL_ASSERT_EQ_INT(hl_webhook_ed25519_verify(pub, id, ts, body, strlen(body), good, now + 301, 300), HL_ETIMEOUT);
  HL_ASSERT_EQ_INT(hl_webhook_ed25519_verify(pub, id, ts, body, strlen(body), good, now - 301, 300), HL_ETIMEOUT);
  HL_ASSERT_EQ_INT(hl_webhook_ed25519_verify(pub, id, ts, body, strlen(body), good, now + 86400, 0), 0);
  HL_ASSERT_EQ_INT(hl_webhook_ed25519_verify(pub, id, "16142653x0", body, strlen(body), good, now, 300), HL_EPARSE);
  /* The same signature under a version of the same length is not v1a. */
  char other_version[128];
  snprintf(other_version, sizeof other_version, "v1b,%s", good + 4);
  HL_ASSERT_EQ_INT(hl_webhook_ed25519_verify(pub, id, ts, body, strlen(body), other_version, now, 300), HL_ECRYPTO);
  /* Signed content is id, timestamp and body: change any one and it fails. */
  HL_ASSERT_EQ_INT(hl_webhook_ed25519_verify(pub, "msg_other", ts, body, strlen(body), good, now, 0), HL_ECRYPTO);
  HL_ASSERT_EQ_INT(hl_webhook_ed25519_verify(pub, id, "1614265331", body, strlen(body), good, now, 0), HL_ECRYPTO);
  HL_ASSERT_EQ_INT(hl_webhook_ed25519_verify(pub, id, ts, body, strlen(body) - 1, good, now, 0), HL_ECRYPTO);
  hl_json_doc_dispose(&doc);
}

HL_TEST(v1a_keypair_round_trip) {
  char *sk1, *pk1, *sk2, *pk2;
  hl_webhook_ed25519_keypair(&sk1, &pk1);
  hl_webhook_ed25519_keypair(&sk2, &pk2);
  HL_ASSERT(strncmp(sk1, "whsk_", 5) == 0 && strlen(sk1) == 5 + 44);
  HL_ASSERT(strncmp(pk1, "whpk_", 5) == 0 && strlen(pk1) == 5 + 44);
  HL_ASSERT(strcmp(sk1, sk2) != 0 && strcmp(pk1, pk2) != 0);
  hl_ed25519_signer s;
  HL_ASSERT_EQ_INT(hl_webhook_ed25519_signer_init(&s, sk1, strlen(sk1)), 0);
  char *again = hl_webhook_ed25519_public_key(&s);
  HL_ASSERT_EQ_STR(again, pk1);
  hl_free(again);
  const char body[] = "{\"amount\":100.10,\"name\":\"caf\\u00e9\"}";
  hl_buf h = HL_BUF_INIT;
  /* A header carrying both schemes, as a rotation to v1a would send. */
  HL_ASSERT_EQ_INT(hl_webhook_sign_multi("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "evt_1", 1700000000, body,
                                         strlen(body), &h),
                   0);
  hl_buf_putc(&h, ' ');
  HL_ASSERT_EQ_INT(hl_webhook_ed25519_sign(&s, "evt_1", 5, 1700000000, body, strlen(body), &h), 0);
  HL_ASSERT_EQ_INT(hl_webhook_ed25519_verify(pk1, "evt_1", "1700000000", body, strlen(body), h.data, 0, 0), 0);
  HL_ASSERT_EQ_INT(hl_webhook_verify_ex("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "evt_1", "1700000000", body,
                                        strlen(body), h.data, 0, 0),
                   0);
  /* The other pair's public key does not verify it. */
  HL_ASSERT_EQ_INT(hl_webhook_ed25519_verify(pk2, "evt_1", "1700000000", body, strlen(body), h.data, 0, 0),
                   HL_ECRYPTO);
  hl_buf_dispose(&h);
  hl_webhook_ed25519_signer_dispose(&s);
  hl_free(sk1); hl_free(pk1); hl_free(sk2); hl_free(pk2);
}

HL_TEST(v1a_key_formats) {
  hl_ed25519_signer s;
  const char *seed_key = "whsk_VEVTVFNJR05JTkdLRVlET05PVFVTRVRISVNGT1JBTlk=";
  HL_ASSERT_EQ_INT(hl_webhook_ed25519_signer_init(&s, seed_key + 5, strlen(seed_key) - 5), HL_EINVAL);
  HL_ASSERT_EQ_INT(hl_webhook_ed25519_signer_init(&s, "whsec_VEVTVFNJR05JTkdLRVlET05PVFVTRVRISVNGT1JBTlk=", 50),
                   HL_EINVAL);
  HL_ASSERT_EQ_INT(hl_webhook_ed25519_signer_init(&s, "whsk_not*base64", 15), HL_EPARSE);
  /* 31 bytes: not a seed. */
  HL_ASSERT_EQ_INT(hl_webhook_ed25519_signer_init(&s, "whsk_VEVTVFNJR05JTkdLRVlET05PVFVTRVRISVNGT1JBTg==", 49),
                   HL_EPARSE);
  /* seed || public key, as some libraries write a secret key: accepted
   * when the halves belong together, refused when they do not. */
  HL_ASSERT_EQ_INT(hl_webhook_ed25519_signer_init(&s, seed_key, strlen(seed_key)), 0);
  uint8_t both[64];
  HL_ASSERT_EQ_INT(hl_base64_decode(seed_key + 5, 44, both, 32), 32);
  memcpy(both + 32, s.pk, 32);
  hl_buf k = HL_BUF_INIT;
  hl_buf_puts(&k, "whsk_");
  hl_base64_encode(&k, both, 64);
  hl_ed25519_signer s64;
  HL_ASSERT_EQ_INT(hl_webhook_ed25519_signer_init(&s64, k.data, k.len), 0);
  HL_ASSERT(memcmp(s64.pk, s.pk, 32) == 0 && memcmp(s64.sk, s.sk, 64) == 0);
  both[40] ^= 1;
  hl_buf_reset(&k);
  hl_buf_puts(&k, "whsk_");
  hl_base64_encode(&k, both, 64);
  HL_ASSERT_EQ_INT(hl_webhook_ed25519_signer_init(&s64, k.data, k.len), HL_EPARSE);
  hl_buf_dispose(&k);
  /* Public keys: the prefix, then exactly 32 bytes. */
  uint8_t pk[32];
  char *pub = hl_webhook_ed25519_public_key(&s);
  HL_ASSERT_EQ_INT(hl_webhook_ed25519_public_decode(pub, strlen(pub), pk), 0);
  HL_ASSERT(memcmp(pk, s.pk, 32) == 0);
  HL_ASSERT_EQ_INT(hl_webhook_ed25519_public_decode(pub + 5, strlen(pub) - 5, pk), HL_EINVAL);
  HL_ASSERT_EQ_INT(hl_webhook_ed25519_public_decode(seed_key, strlen(seed_key), pk), HL_EINVAL);
  HL_ASSERT_EQ_INT(hl_webhook_ed25519_public_decode("whpk_AAAA", 9, pk), HL_EPARSE);
  /* A secret key handed to the verifier as the public key is unusable. */
  HL_ASSERT_EQ_INT(hl_webhook_ed25519_verify(seed_key, "a", "1", "", 0, "v1a,x", 0, 0), HL_EINVAL);
  hl_free(pub);
  hl_webhook_ed25519_signer_dispose(&s);
}

/* The v1a vectors' signing case (v, with its id, timestamp and body) and
 * verifying case (other), and list = both their secret keys, the signing
 * one first (a rotation's overlap). */
typedef struct {
  hl_json_doc doc;
  const hl_json *v, *other;
  const char *id, *ts, *body;
  char list[256];
} overlap;

static void overlap_case(overlap *o) {
  const hl_json *root = hl_vector_json("standard-webhooks-v1a/vectors.json", &o->doc);
  o->v = &hl_json_get(root, "sign")->u.items[0];
  o->other = hl_json_get(root, "verify");
  o->id = str(o->v, "webhook_id");
  o->ts = str(o->v, "webhook_timestamp");
  o->body = str(o->v, "body");
  snprintf(o->list, sizeof o->list, "%s %s", str(o->v, "secret_key"), str(o->other, "secret_key"));
}

/* A rotation's overlap: one "v1a," entry per key of the list, in its
 * order; the published vector's signature comes out byte for byte for its
 * key, and each entry verifies under its own public key only. */
HL_TEST(v1a_sign_list_signs_with_each_key) {
  overlap o;
  overlap_case(&o);
  const hl_json *v = o.v, *other = o.other;
  const char *id = o.id, *ts = o.ts, *body = o.body;
  char *list = o.list;
  hl_buf h = HL_BUF_INIT;
  HL_ASSERT_EQ_INT(hl_webhook_ed25519_sign_list(list, id, atoll(ts), body, strlen(body), &h), 0);
  const char *space = strchr(h.data, ' ');
  HL_ASSERT(space != NULL && strchr(space + 1, ' ') == NULL);
  const char *want = str(v, "webhook_signature");
  HL_ASSERT((size_t)(space - h.data) == strlen(want) && strncmp(h.data, want, strlen(want)) == 0);
  HL_ASSERT_EQ_INT(hl_webhook_ed25519_verify(str(v, "public_key"), id, ts, body, strlen(body), h.data, 0, 0), 0);
  HL_ASSERT_EQ_INT(hl_webhook_ed25519_verify(str(other, "public_key"), id, ts, body, strlen(body), space + 1, 0, 0), 0);
  HL_ASSERT_EQ_INT(hl_webhook_ed25519_verify(str(other, "public_key"), id, ts, body, strlen(body), want, 0, 0),
                   HL_ECRYPTO);
  /* Public keys from list entries, as the admin API shows them. */
  char *pk = hl_webhook_ed25519_public_of(list, strlen(str(v, "secret_key")));
  HL_ASSERT_EQ_STR(pk, str(v, "public_key"));
  hl_free(pk);
  HL_ASSERT(hl_webhook_ed25519_public_of("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 38) == NULL);
  HL_ASSERT(hl_webhook_ed25519_is_key(list, 10) && !hl_webhook_ed25519_is_key("whsec_MfKQ", 10));
  /* A list with an unusable entry, or none: refused, nothing appended. */
  hl_buf_reset(&h);
  hl_buf_puts(&h, "v1,x");
  snprintf(list, sizeof o.list, "%s whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", str(v, "secret_key"));
  HL_ASSERT_EQ_INT(hl_webhook_ed25519_sign_list(list, id, atoll(ts), body, strlen(body), &h), HL_EINVAL);
  HL_ASSERT_EQ_INT(hl_webhook_ed25519_sign_list("  ", id, atoll(ts), body, strlen(body), &h), HL_EINVAL);
  HL_ASSERT_EQ_STR(h.data, "v1,x");
  hl_buf_dispose(&h);
  hl_json_doc_dispose(&o.doc);
}

/* A keyring expanded once signs exactly as the one-shot list does, send
 * after send, and its dispose wipes the expanded keys. */
HL_TEST(v1a_keyring_signs_as_the_list_does) {
  overlap o;
  overlap_case(&o);
  const hl_json *v = o.v;
  const char *id = o.id, *ts = o.ts, *body = o.body;
  char *list = o.list;
  hl_webhook_ed25519_keyring k;
  HL_ASSERT_EQ_INT(hl_webhook_ed25519_keyring_init(&k, list), 0);
  HL_ASSERT_EQ_INT(k.n, 2);
  hl_buf once = HL_BUF_INIT, ring = HL_BUF_INIT;
  HL_ASSERT_EQ_INT(hl_webhook_ed25519_sign_list(list, id, atoll(ts), body, strlen(body), &once), 0);
  for (int i = 0; i < 3; i++) {
    hl_buf_reset(&ring);
    HL_ASSERT_EQ_INT(hl_webhook_ed25519_keyring_sign(&k, id, atoll(ts), body, strlen(body), &ring), 0);
    HL_ASSERT_EQ_STR(ring.data, once.data);
  }
  /* The published vector's signature comes first, byte for byte. */
  HL_ASSERT(strncmp(ring.data, str(v, "webhook_signature"), strlen(str(v, "webhook_signature"))) == 0);
  hl_ed25519_signer *keys = k.keys;
  uint8_t zero[sizeof *keys];
  memset(zero, 0, sizeof zero);
  HL_ASSERT(memcmp(&keys[0], zero, sizeof zero) != 0);
  hl_webhook_ed25519_keyring_dispose(&k);
  HL_ASSERT(k.keys == NULL && k.n == 0);
  /* Unusable entries, or none: no keyring. */
  snprintf(list, sizeof o.list, "%s whsk_AAAA", str(v, "secret_key"));
  HL_ASSERT_EQ_INT(hl_webhook_ed25519_keyring_init(&k, list), HL_EINVAL);
  HL_ASSERT(k.keys == NULL && k.n == 0);
  HL_ASSERT_EQ_INT(hl_webhook_ed25519_keyring_init(&k, " "), HL_EINVAL);
  hl_buf_reset(&ring);
  HL_ASSERT_EQ_INT(hl_webhook_ed25519_keyring_sign(&k, id, 1, body, strlen(body), &ring), HL_EINVAL);
  HL_ASSERT(ring.len == 0);
  hl_buf_dispose(&once);
  hl_buf_dispose(&ring);
  hl_json_doc_dispose(&o.doc);
}
