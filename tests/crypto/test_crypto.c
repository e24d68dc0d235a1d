#include "hl_test.h"
#include "hl_testutil.h"
#include "common/hl_common.h"
#include "crypto/hl_crypto.h"
#include "crypto/hl_webhook_sig.h"
#include "json/hl_json.h"

#include <sys/wait.h>
#include <unistd.h>

static hl_json_doc vectors;

static const hl_json *load(void) { return hl_vector_json("standard-webhooks/vectors.json", &vectors); }

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
    /* The prepared signer gives the same bytes. */
    hl_webhook_signer sg;
    HL_ASSERT_EQ_INT(hl_webhook_signer_init(&sg, hl_json_str(hl_json_get(c, "secret"))), 1);
    hl_buf_reset(&out);
    const char *id = hl_json_str(hl_json_get(c, "webhook_id"));
    HL_ASSERT_EQ_INT(hl_webhook_signer_sign(&sg, id, strlen(id), ts, body, strlen(body), &out), 0);
    HL_ASSERT_EQ_STR(out.data, hl_json_str(hl_json_get(c, "webhook_signature")));
    hl_webhook_signer_dispose(&sg);
    /* And the receiver accepts it. */
    HL_ASSERT_EQ_INT(hl_webhook_verify_ex(hl_json_str(hl_json_get(c, "secret")), id,
                                          hl_json_str(hl_json_get(c, "webhook_timestamp")), body, strlen(body),
                                          out.data, ts, HL_WEBHOOK_TOLERANCE_S), 0);
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
    /* The same with the timestamp check disabled and a far-away now. */
    int rc = hl_webhook_verify_ex(hl_json_str(hl_json_get(c0, "secret")),
                                  hl_json_str(hl_json_get(c0, "webhook_id")),
                                  hl_json_str(hl_json_get(c0, "webhook_timestamp")), body, strlen(body),
                                  hdr ? hdr : "", 0, 0);
    HL_ASSERT_EQ_INT(rc, want ? 0 : HL_ECRYPTO);
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

HL_TEST(verify_timestamp_window_and_errors) {
  const char *sec = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", *id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
  const char *body = "{\"test\": 2432232314}", *hdr = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
  size_t bl = strlen(body);
  int64_t t = 1614265330;
  HL_ASSERT_EQ_INT(hl_webhook_verify_ex(sec, id, "1614265330", body, bl, hdr, t + 300, 300), 0);
  HL_ASSERT_EQ_INT(hl_webhook_verify_ex(sec, id, "1614265330", body, bl, hdr, t - 300, 300), 0);
  HL_ASSERT_EQ_INT(hl_webhook_verify_ex(sec, id, "1614265330", body, bl, hdr, t + 301, 300), HL_ETIMEOUT);
  HL_ASSERT_EQ_INT(hl_webhook_verify_ex(sec, id, "1614265330", body, bl, hdr, t - 301, 300), HL_ETIMEOUT);
  HL_ASSERT_EQ_INT(hl_webhook_verify_ex(sec, id, "1614265330", body, bl, hdr, t + 99999, 0), 0);
  HL_ASSERT_EQ_INT(hl_webhook_verify_ex(sec, id, "16142653x0", body, bl, hdr, t, 300), HL_EPARSE);
  HL_ASSERT_EQ_INT(hl_webhook_verify_ex(sec, id, "", body, bl, hdr, t, 300), HL_EPARSE);
  HL_ASSERT_EQ_INT(hl_webhook_verify_ex(sec, id, " 1614265330", body, bl, hdr, t, 300), HL_EPARSE);
  HL_ASSERT_EQ_INT(hl_webhook_verify_ex("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", id, "1614265330", body, bl, hdr, t, 300),
                   HL_EINVAL);
  HL_ASSERT_EQ_INT(hl_webhook_verify_ex(sec, id, "1614265330", body, bl, "", t, 300), HL_ECRYPTO);
  /* A signature for another timestamp does not verify. */
  HL_ASSERT_EQ_INT(hl_webhook_verify_ex(sec, id, "1614265331", body, bl, hdr, t, 300), HL_ECRYPTO);
  /* Extra spaces between entries are tolerated. */
  HL_ASSERT_EQ_INT(hl_webhook_verify_ex(sec, id, "1614265330", body, bl,
                                        "  v1,AAAA   v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=  ", t, 300), 0);
}

HL_TEST(secret_parsing_errors) {
  uint8_t key[HL_WEBHOOK_KEY_MAX];
  HL_ASSERT_EQ_INT(hl_webhook_secret_decode("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 38, key), 24);
  HL_ASSERT_EQ_INT(hl_webhook_secret_decode("sk_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 35, key), HL_EINVAL);
  HL_ASSERT_EQ_INT(hl_webhook_secret_decode("whsec_", 6, key), HL_EPARSE);
  HL_ASSERT_EQ_INT(hl_webhook_secret_decode("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS", 37, key), HL_EPARSE);
  HL_ASSERT_EQ_INT(hl_webhook_secret_decode("whsec_MfKQ9r8GKYqr TwjUPD8ILPZIo2LaLaSw", 39, key), HL_EPARSE);
  char big[200] = "whsec_";
  memset(big + 6, 'A', 96); /* 72 bytes: over the key limit */
  HL_ASSERT_EQ_INT(hl_webhook_secret_decode(big, 102, key), HL_EPARSE);
  hl_webhook_signer sg;
  HL_ASSERT_EQ_INT(hl_webhook_signer_init(&sg, ""), HL_EINVAL);
  HL_ASSERT_EQ_INT(hl_webhook_signer_init(&sg, "whsec_AAAA nope"), HL_EINVAL);
  hl_webhook_signer_dispose(&sg);
  char many[1024] = "";
  for (int i = 0; i <= HL_WEBHOOK_SECRETS_MAX; i++) strcat(many, "whsec_AAAA ");
  HL_ASSERT_EQ_INT(hl_webhook_signer_init(&sg, many), HL_ETOOBIG);
  HL_ASSERT(hl_webhook_secret_check_list(many) != 0);
  /* sign_multi skips an unusable entry and signs with the rest. */
  hl_buf out = HL_BUF_INIT;
  HL_ASSERT_EQ_INT(hl_webhook_sign_multi("bogus whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek",
                                         1614265330, "{\"test\": 2432232314}", 20, &out), 0);
  HL_ASSERT_EQ_STR(out.data, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
  hl_buf_dispose(&out);
  HL_ASSERT_EQ_INT(hl_webhook_sign_multi("bogus", "m", 1, "", 0, &out), HL_EINVAL);
  char *g = hl_webhook_secret_generate();
  HL_ASSERT_EQ_INT(strlen(g), 6 + 44);
  HL_ASSERT_EQ_INT(hl_webhook_secret_decode(g, strlen(g), key), 32);
  free(g);
}

static void check_hmac(const char *key_hex, const char *data_hex, const char *want) {
  uint8_t key[256], data[256], mac[32];
  size_t kl = strlen(key_hex) / 2, dl = strlen(data_hex) / 2;
  for (size_t i = 0; i < kl; i++) sscanf(key_hex + 2 * i, "%2hhx", &key[i]);
  for (size_t i = 0; i < dl; i++) sscanf(data_hex + 2 * i, "%2hhx", &data[i]);
  char hex[65];
  hl_hmac_sha256(key, kl, data, dl, mac);
  hl_hex(mac, 32, hex);
  HL_ASSERT_EQ_STR(hex, want);
  /* Split updates on a prepared key give the same MAC. */
  hl_hmac_key k;
  hl_hmac_run r;
  hl_hmac_key_init(&k, key, kl);
  for (int round = 0; round < 2; round++) { /* the key is reusable */
    hl_hmac_begin(&r, &k);
    for (size_t i = 0; i < dl; i += 7) hl_hmac_update(&r, data + i, HL_MIN((size_t)7, dl - i));
    hl_hmac_end(&r, mac);
    hl_hex(mac, 32, hex);
    HL_ASSERT_EQ_STR(hex, want);
  }
  hl_hmac_key_dispose(&k);
}

static char *rep(const char *hexbyte, int n) {
  static char buf[2][600];
  static int w;
  char *b = buf[w++ & 1];
  for (int i = 0; i < n; i++) memcpy(b + 2 * i, hexbyte, 2);
  b[2 * n] = '\0';
  return b;
}

HL_TEST(hmac_sha256_rfc4231) {
  check_hmac(rep("0b", 20), "4869205468657265", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  check_hmac("4a656665", "7768617420646f2079612077616e7420666f72206e6f7468696e673f",
             "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  check_hmac(rep("aa", 20), rep("dd", 50), "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
  check_hmac("0102030405060708090a0b0c0d0e0f10111213141516171819", rep("cd", 50),
             "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
  /* Case 5 checks a truncated output, which hookloop never uses. */
  check_hmac(rep("aa", 131),
             "54657374205573696e67204c6172676572205468616e20426c6f636b2d53697a65204b6579202d2048617368204b6579204669727374",
             "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  check_hmac(rep("aa", 131),
             "5468697320697320612074657374207573696e672061206c6172676572207468616e20626c6f636b2d73697a65206b657920616e642061"
             "206c6172676572207468616e20626c6f636b2d73697a6520646174612e20546865206b6579206e6565647320746f20626520686173686564"
             "206265666f7265206265696e6720757365642062792074686520484d414320616c676f726974686d2e",
             "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

HL_TEST(sha256_known_answers) {
  uint8_t d[32];
  char hex[65];
  hl_sha256("", 0, d);
  hl_hex(d, 32, hex);
  HL_ASSERT_EQ_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  hl_sha256(m, strlen(m), d);
  hl_hex(d, 32, hex);
  HL_ASSERT_EQ_STR(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

HL_TEST(base64_rfc4648_and_strictness) {
  static const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
  static const char *enc[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
  uint8_t buf[64];
  for (size_t i = 0; i < HL_ARRAY_SIZE(plain); i++) {
    hl_buf b = HL_BUF_INIT;
    hl_base64_encode(&b, (const uint8_t *)plain[i], strlen(plain[i]));
    HL_ASSERT_EQ_STR(b.data ? b.data : "", enc[i]);
    HL_ASSERT_EQ_INT(hl_base64_decode(enc[i], strlen(enc[i]), buf, sizeof buf), (int)strlen(plain[i]));
    HL_ASSERT(memcmp(buf, plain[i], strlen(plain[i])) == 0);
    hl_buf_dispose(&b);
  }
  /* Every byte value through both alphabets' ends ('+' and '/'). */
  uint8_t all[256];
  for (int i = 0; i < 256; i++) all[i] = (uint8_t)i;
  hl_buf b = HL_BUF_INIT;
  hl_base64_encode(&b, all, sizeof all);
  HL_ASSERT(strchr(b.data, '+') && strchr(b.data, '/'));
  uint8_t back[HL_BASE64_DECODED_MAX(344)];
  HL_ASSERT_EQ_INT(hl_base64_decode(b.data, b.len, back, sizeof back), 256);
  HL_ASSERT(memcmp(back, all, 256) == 0);
  HL_ASSERT_EQ_INT(hl_base64_decode(b.data, b.len, back, 255), HL_ETOOBIG);
  hl_buf_dispose(&b);
  static const char *bad[] = {
      "Zg",       /* missing padding */
      "Zg=",      /* short padding */
      "Zg===",    /* too much padding */
      "Z===",     /* three padding characters */
      "====",     /* only padding */
      "Zh==",     /* non-zero unused bits */
      "Zm9=",     /* non-zero unused bits */
      "Zm9v\n",   /* whitespace */
      "Zm 9v",    /* whitespace */
      "Zm9v\r\nYmFy", /* line break */
      "Zm=v",     /* padding in the middle */
      "Zg==Zm9v", /* data after padding */
      "Zm9-",     /* URL-safe alphabet */
      "Zm9_",
      "a$==",
  };
  for (size_t i = 0; i < HL_ARRAY_SIZE(bad); i++)
    HL_ASSERT_MSG(hl_base64_decode(bad[i], strlen(bad[i]), buf, sizeof buf) == HL_EPARSE, "accepted %s", bad[i]);
  /* An embedded NUL is not base64. */
  HL_ASSERT_EQ_INT(hl_base64_decode("Zm\0v", 4, buf, sizeof buf), HL_EPARSE);
}

HL_TEST(random_uuid_v4_and_ids) {
  char a[37], b[37];
  hl_random_uuid(a);
  hl_random_uuid(b);
  HL_ASSERT_EQ_INT(strlen(a), 36);
  HL_ASSERT(strcmp(a, b) != 0);
  for (int i = 0; i < 36; i++) {
    if (i == 8 || i == 13 || i == 18 || i == 23) HL_ASSERT(a[i] == '-');
    else HL_ASSERT(strchr("0123456789abcdef", a[i]) != NULL);
  }
  HL_ASSERT(a[14] == '4');
  HL_ASSERT(strchr("89ab", a[19]) != NULL);
  char *id = hl_random_id("evt_");
  HL_ASSERT(strncmp(id, "evt_", 4) == 0 && strlen(id) == 26);
  for (int i = 4; i < 26; i++)
    HL_ASSERT((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'z') || (id[i] >= 'A' && id[i] <= 'Z'));
  free(id);
  /* Large requests cross the generator's per-call limit. */
  static uint8_t big[5000];
  hl_random_bytes(big, sizeof big);
  int zeros = 0;
  for (size_t i = 0; i < sizeof big; i++) zeros += big[i] == 0;
  HL_ASSERT(zeros < 100);
}

HL_TEST(signing_throughput) {
  hl_webhook_signer sg;
  HL_ASSERT_EQ_INT(hl_webhook_signer_init(&sg, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), 1);
  char body[1024];
  memset(body, 'x', sizeof body);
  hl_buf out = HL_BUF_INIT;
  uint64_t t0 = hl_mono_ns();
  int n = 20000;
  for (int i = 0; i < n; i++) {
    hl_buf_reset(&out);
    hl_webhook_signer_sign(&sg, "msg_1", 5, 1700000000 + i, body, sizeof body, &out);
  }
  double s = (double)(hl_mono_ns() - t0) / 1e9;
  fprintf(stderr, "signing 1 KiB bodies: %.0f signatures/s\n", n / s);
  HL_ASSERT(n / s > 2000); /* even under sanitizers */
  hl_buf_dispose(&out);
  hl_webhook_signer_dispose(&sg);
}

HL_TEST(random_streams_differ_after_fork) {
  uint8_t before[16], parent[16], child[16];
  hl_random_bytes(before, sizeof before); /* seeded in this process */
  int fds[2];
  HL_ASSERT(pipe(fds) == 0);
  pid_t pid = fork();
  HL_ASSERT(pid >= 0);
  if (pid == 0) {
    hl_random_bytes(child, sizeof child);
    ssize_t w = write(fds[1], child, sizeof child);
    _exit(w == (ssize_t)sizeof child ? 0 : 1);
  }
  hl_random_bytes(parent, sizeof parent);
  HL_ASSERT(read(fds[0], child, sizeof child) == (ssize_t)sizeof child);
  int st;
  waitpid(pid, &st, 0);
  HL_ASSERT(memcmp(parent, child, sizeof child) != 0);
  close(fds[0]);
  close(fds[1]);
}
