#include "hl_test.h"
#include "hl_testutil.h"
#include "common/hl_common.h"
#include "crypto/hl_crypto.h"
#include "crypto/hl_webhook_sig.h"
#include "json/hl_json.h"

static hl_json_doc vectors;

static const hl_json *load(void) {
  size_t len;
  char *text = hl_read_file(hl_vector_path("standard-webhooks/vectors.json"), &len);
  HL_ASSERT_MSG(text, "cannot read %s", hl_vector_path("standard-webhooks/vectors.json"));
  hl_json_doc_init(&vectors);
  HL_ASSERT(hl_json_parse(&vectors, text, len, NULL) == 0);
  free(text);
  return vectors.root;
}

HL_TEST(standard_webhooks_signing_vectors) {
  const hl_json *cases = hl_json_get(load(), "cases");
  HL_ASSERT(cases && cases->len >= 2);
  for (uint32_t i = 0; i < cases->len; i++) {
    const hl_json *c = &cases->u.items[i];
    const char *body = hl_json_str(hl_json_get(c, "body"));
    int64_t ts = atoll(hl_json_str(hl_json_get(c, "webhook_timestamp")));
    hl_buf out = HL_BUF_INIT;
    HL_ASSERT_EQ_INT(hl_webhook_sign_multi(hl_json_str(hl_json_get(c, "secret")),
                                           hl_json_str(hl_json_get(c, "webhook_id")), ts, body,
                                           strlen(body), &out), 0);
    HL_ASSERT_EQ_STR(out.data, hl_json_str(hl_json_get(c, "webhook_signature")));
    hl_buf_dispose(&out);
  }
  hl_json_doc_dispose(&vectors);
}

HL_TEST(standard_webhooks_verify_vectors) {
  const hl_json *root = load();
  const hl_json *c0 = &hl_json_get(root, "cases")->u.items[0];
  const hl_json *vc = hl_json_get(hl_json_get(root, "verify_cases"), "cases");
  HL_ASSERT(vc && vc->len > 0);
  const char *body = hl_json_str(hl_json_get(c0, "body"));
  for (uint32_t i = 0; i < vc->len; i++) {
    const hl_json *v = &vc->u.items[i];
    const char *hdr = hl_json_str(hl_json_get(v, "webhook_signature"));
    bool want = hl_json_get(v, "valid")->type == HL_JSON_TRUE;
    bool got = hl_webhook_verify(hl_json_str(hl_json_get(c0, "secret")),
                                 hl_json_str(hl_json_get(c0, "webhook_id")),
                                 hl_json_str(hl_json_get(c0, "webhook_timestamp")), body, strlen(body),
                                 hdr ? hdr : "", 1614265330, 300);
    HL_ASSERT_MSG(got == want, "verify case %u (%s): got %d", i,
                  hl_json_str(hl_json_get(v, "why")) ? hl_json_str(hl_json_get(v, "why")) : "", got);
  }
  hl_json_doc_dispose(&vectors);
}

HL_TEST(rotation_signs_with_every_secret) {
  char *a = hl_webhook_secret_generate(), *b = hl_webhook_secret_generate();
  HL_ASSERT(strncmp(a, "whsec_", 6) == 0 && strcmp(a, b) != 0);
  char both[256];
  snprintf(both, sizeof both, "%s %s", a, b);
  HL_ASSERT_EQ_INT(hl_webhook_secret_check_list(both), 0);
  hl_buf out = HL_BUF_INIT;
  HL_ASSERT_EQ_INT(hl_webhook_sign_multi(both, "msg_1", 1700000000, "{}", 2, &out), 0);
  HL_ASSERT(strchr(out.data, ' ') != NULL);
  /* Receivers holding either secret accept the header. */
  HL_ASSERT(hl_webhook_verify(a, "msg_1", "1700000000", "{}", 2, out.data, 0, 0));
  HL_ASSERT(hl_webhook_verify(b, "msg_1", "1700000000", "{}", 2, out.data, 0, 0));
  HL_ASSERT(!hl_webhook_verify(a, "msg_2", "1700000000", "{}", 2, out.data, 0, 0));
  HL_ASSERT(!hl_webhook_verify(a, "msg_1", "1700000000", "{ }", 3, out.data, 0, 0));
  hl_buf_dispose(&out);
  HL_ASSERT(hl_webhook_secret_check_list("whsec_!!!") != 0);
  HL_ASSERT(hl_webhook_secret_check_list("secret") != 0);
  HL_ASSERT(hl_webhook_secret_check_list("") != 0);
  free(a);
  free(b);
}

HL_TEST(hmac_sha256_rfc4231_case_2) {
  uint8_t mac[32];
  char hex[65];
  hl_hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, mac);
  hl_hex(mac, 32, hex);
  HL_ASSERT_EQ_STR(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  hl_sha256("abc", 3, mac);
  hl_hex(mac, 32, hex);
  HL_ASSERT_EQ_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

HL_TEST(base64_round_trip_and_strictness) {
  uint8_t buf[64];
  hl_buf b = HL_BUF_INIT;
  hl_base64_encode(&b, (const uint8_t *)"hookloop", 8);
  HL_ASSERT_EQ_STR(b.data, "aG9va2xvb3A=");
  HL_ASSERT_EQ_INT(hl_base64_decode(b.data, b.len, buf, sizeof buf), 8);
  HL_ASSERT(memcmp(buf, "hookloop", 8) == 0);
  HL_ASSERT(hl_base64_decode("a$==", 4, buf, sizeof buf) < 0);
  hl_buf_dispose(&b);
}

HL_TEST(random_ids_are_distinct) {
  char *a = hl_random_id("sub_"), *b = hl_random_id("sub_");
  HL_ASSERT_EQ_INT(strlen(a), 26);
  HL_ASSERT(strcmp(a, b) != 0);
  free(a);
  free(b);
}
