/* Subscriptions' credentials sealed at rest (issue 19 item 3, issue 13
 * item 7): the real binary with HOOKLOOP_SECRET_KEY_FILE, a mock partner
 * checking every signature, and the store's raw content searched for the
 * credentials: the SQLite files' bytes, DynamoDB items as dynalite returns
 * them (HL_TEST_DDB), PostgreSQL rows (HL_TEST_PG). */
#include "aws_testutil.h"
#include "e2e_util.h"
#include "hl_test.h"
#include "hl_testutil.h"
#include "common/hl_buf.h"
#include "common/hl_common.h"
#include "crypto/hl_crypto.h"
#include "crypto/hl_seal.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#if !defined(HL_TEST_DDB) && !defined(HL_TEST_PG)
#include <sqlite3.h>
#endif

static e2e_hookloop hk;
static e2e_partner partner;

#define SECRET "whsec_c2VhbGVkLWF0LXJlc3QtdGVzdC1zZWNyZXQtMDE="
#define SECRET_BODY "c2VhbGVkLWF0LXJlc3QtdGVzdC1zZWNyZXQtMDE"
#define URL_PASS "urlpass-7f3a9c"
#define HEADER_VALUE "partner-key-5d21e8"
/* Two AES-256 keys (bytes 0..31 and 32..63). */
#define KEY1 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define KEY2 "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="

/* Everything the store holds, as bytes to search. */
static void raw_store(hl_buf *out) {
  hl_buf_reset(out);
#if defined(HL_TEST_DDB)
  char url[200];
  snprintf(url, sizeof url, "%s/", e2e_ddb_endpoint());
  const char *hdr[] = {"X-Amz-Target: DynamoDB_20120810.Scan", "Content-Type: application/x-amz-json-1.0",
                       "X-Amz-Date: 20260101T000000Z",
                       "Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/dynamodb/aws4_request, "
                       "SignedHeaders=host, Signature=0",
                       NULL};
  const char *body = "{\"TableName\":\"partner_event_subscription\"}";
  char *resp = NULL;
  long code = hl_http("POST", url, body, strlen(body), hdr, &resp);
  HL_ASSERT_MSG(code == 200 && resp, "Scan answered %ld: %s", code, resp ? resp : "");
  hl_buf_puts(out, resp);
  free(resp);
#elif defined(HL_TEST_PG)
  static char rows[65536];
  HL_ASSERT(hl_pgsrv_exec(e2e_pg_server(), "SELECT string_agg(t::text, '|') FROM partner_event_subscription t", rows,
                          sizeof rows) == 0);
  hl_buf_puts(out, rows);
#else
  e2e_sqlite_bytes(hk.dir, out);
#endif
}

static bool holds(const hl_buf *b, const char *s) { return b->len && memmem(b->data, b->len, s, strlen(s)) != NULL; }

static void assert_no_credential(const hl_buf *b, const char *where) {
  const char *creds[] = {SECRET_BODY, URL_PASS, HEADER_VALUE};
  for (size_t i = 0; i < HL_ARRAY_SIZE(creds); i++)
    HL_ASSERT_MSG(!holds(b, creds[i]), "%s holds %s", where, creds[i]);
}

/* The key id of the values sealed in this format (HL_SEAL_PREFIX or
 * "hlseal:v2:"), all sealed with the same key. */
static void sealed_key_id_as(const hl_buf *b, const char *prefix, char id[9]) {
  size_t pl = strlen(prefix);
  const char *p = memmem(b->data, b->len, prefix, pl);
  HL_ASSERT_MSG(p, "nothing sealed in the store as %s", prefix);
  memcpy(id, p + pl, 8);
  id[8] = '\0';
  size_t n = 0;
  for (; p; p = memmem(p + 1, b->len - (size_t)(p + 1 - b->data), prefix, pl)) {
    HL_ASSERT_MSG(memcmp(p + pl, id, 8) == 0, "values sealed with two keys");
    n++;
  }
  HL_ASSERT_MSG(n == 3, "%zu sealed values, expected the secret, the headers and the URL", n);
}

static void sealed_key_id(const hl_buf *b, char id[9]) { sealed_key_id_as(b, "hlseal:v1:", id); }

static void write_keys(const char *path, const char *keys) {
  FILE *f = fopen(path, "w");
  HL_ASSERT(f != NULL);
  fputs(keys, f);
  fclose(f);
}

/* A fresh directory (returned, malloc'd) with a key file holding KEY1:
 * its path in keyfile[700], HOOKLOOP_SECRET_KEY_FILE=<path> in key_env[800]. */
static char *key1_file(const char *name, char keyfile[700], char key_env[800]) {
  char *keydir = hl_tmpdir(name);
  snprintf(keyfile, 700, "%s/keys", keydir);
  snprintf(key_env, 800, "HOOKLOOP_SECRET_KEY_FILE=%s", keyfile);
  write_keys(keyfile, KEY1 "\n");
  return keydir;
}

static void restart(const char *key_env) {
  int st = e2e_stop_hookloop(&hk, SIGTERM, 30000);
  HL_ASSERT(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
  const char *env[] = {key_env, NULL};
  e2e_start_hookloop(&hk, key_env ? env : NULL);
}

static void deliver(const char *id, size_t nth) {
  HL_ASSERT_EQ_INT(e2e_post_event(&hk, id, "5.00"), 202);
  if (!e2e_wait_status(&hk, id, "SUCCESS", 15000)) {
    char *log = hl_read_file(hk.log, NULL);
    HL_ASSERT_MSG(false, "%s not delivered; log:\n%s", id, log ? log : "");
  }
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "rest", nth, 5000, &doc), nth);
  hl_json_doc_dispose(&doc);
  HL_ASSERT_EQ_INT(e2e_partner_stat(&partner, "signature_failures"), 0);
}

/* A subscription whose secret, URL password and header value must be
 * sealed, registered on a started pair. */
static void start_with_credentials(const char *const *env) {
  const char *pargs[] = {"--secret", SECRET, NULL};
  e2e_start_both(&hk, &partner, pargs, env);
  char url[300];
  snprintf(url, sizeof url, "http://user:" URL_PASS "@127.0.0.1:%d/hook/rest", partner.port);
  free(e2e_setup(&hk, "rest", url, "\"secret\":\"" SECRET "\",\"headers\":{\"X-Partner-Key\":\"" HEADER_VALUE "\"}",
                 NULL, 0));
}

/* Plain rows written before sealing was on are sealed at the first start
 * with a key; then no credential is in the store or the log, deliveries
 * are still signed with the same secret, and a new first key in the file
 * seals everything again under it (the old key can then go). */
HL_TEST_T(credentials_are_sealed_at_rest_and_plain_rows_migrate, 240) {
  start_with_credentials(NULL);
  deliver("evt-rest-1", 1);
  hl_buf raw = HL_BUF_INIT;
  char keyfile[700], key_env[800];
  snprintf(keyfile, sizeof keyfile, "%s/../keys-%d", hk.dir, (int)getpid());
  snprintf(key_env, sizeof key_env, "HOOKLOOP_SECRET_KEY_FILE=%s", keyfile);
  write_keys(keyfile, KEY1 "\n");

  /* Before: in plain text, where this test can see it. */
  restart(NULL);
  raw_store(&raw);
  HL_ASSERT_MSG(holds(&raw, SECRET_BODY) && holds(&raw, URL_PASS) && holds(&raw, HEADER_VALUE),
                "the credentials were not where this test looks");

  restart(key_env);
  deliver("evt-rest-2", 2);
  restart(key_env); /* stopped cleanly: the SQLite WAL is checkpointed */
  raw_store(&raw);
  assert_no_credential(&raw, "the store");
  char id1[9], id2[9];
  sealed_key_id(&raw, id1);
  deliver("evt-rest-3", 3); /* the sealed rows open */

  /* A new key first: everything sealed again under it. */
  write_keys(keyfile, KEY2 "\n" KEY1 "\n");
  restart(key_env);
  deliver("evt-rest-4", 4);
  restart(key_env);
  raw_store(&raw);
  assert_no_credential(&raw, "the store");
  sealed_key_id(&raw, id2);
  HL_ASSERT_MSG(strcmp(id1, id2) != 0, "still sealed with key %s", id1);
  /* The old key gone: still delivered. */
  write_keys(keyfile, KEY2 "\n");
  restart(key_env);
  deliver("evt-rest-5", 5);
  /* The answers never showed a credential, and the log never had one. */
  char u[256];
  snprintf(u, sizeof u, "%s/admin/subscriptions", hk.base);
  char *list = NULL;
  HL_ASSERT_EQ_INT(hl_http("GET", u, NULL, 0, NULL, &list), 200);
  HL_ASSERT_MSG(!strstr(list, SECRET_BODY) && !strstr(list, URL_PASS) && !strstr(list, HEADER_VALUE), "%s", list);
  free(list);
  int st = e2e_stop_hookloop(&hk, SIGTERM, 30000);
  HL_ASSERT(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
  size_t loglen = 0;
  char *log = hl_read_file(hk.log, &loglen);
  HL_ASSERT(log != NULL);
  hl_buf lb = HL_BUF_INIT;
  hl_buf_append(&lb, log, loglen);
  assert_no_credential(&lb, "the log");
  HL_ASSERT_MSG(holds(&lb, "subscription credentials sealed with the current key"), "no migration was logged");
  hl_buf_dispose(&lb);
  free(log);
  hl_buf_dispose(&raw);
  unlink(keyfile);
  e2e_start_hookloop(&hk, NULL); /* for e2e_stop_both */
  e2e_stop_both(&hk, &partner);
}

/* Enabling a subscription writes it again: sealed too, as every write. */
HL_TEST_T(enabling_a_subscription_keeps_its_credentials_sealed, 120) {
  char keyfile[700], key_env[800];
  char *keydir = key1_file("enable-keys", keyfile, key_env);
  const char *env[] = {key_env, NULL};
  start_with_credentials(env);
  char u[300];
  snprintf(u, sizeof u, "%s/admin/subscriptions", hk.base);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_call("GET", u, NULL, &doc), 200);
  const char *sid = hl_json_str(hl_json_get(&hl_json_get(doc.root, "subscriptions")->u.items[0], "subscription_id"));
  HL_ASSERT(sid != NULL);
  snprintf(u, sizeof u, "%s/admin/subscriptions/%s/enable", hk.base, sid);
  hl_json_doc_dispose(&doc);
  HL_ASSERT_EQ_INT(e2e_call("POST", u, "", NULL), 200);
  int st = e2e_stop_hookloop(&hk, SIGTERM, 30000); /* cleanly: the SQLite WAL is checkpointed */
  HL_ASSERT(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
  hl_buf raw = HL_BUF_INIT;
  raw_store(&raw); /* as the enable left it, before any load could seal it again */
  assert_no_credential(&raw, "the store");
  e2e_start_hookloop(&hk, env);
  deliver("evt-enable-1", 1);
  hl_buf_dispose(&raw);
  hl_rmtree(keydir);
  free(keydir);
  e2e_stop_both(&hk, &partner);
}

/* The running hookloop loaded no subscription, and its log says a sealed
 * one could not be opened, and why. */
static void assert_not_loaded(const char *why) {
  char u[256];
  snprintf(u, sizeof u, "%s/admin/subscriptions", hk.base);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_call("GET", u, NULL, &doc), 200);
  const hl_json *subs = hl_json_get(doc.root, "subscriptions");
  HL_ASSERT_MSG(subs && subs->len == 0, "a subscription sealed with another key was loaded");
  hl_json_doc_dispose(&doc);
  char *log = hl_read_file(hk.log, NULL);
  HL_ASSERT_MSG(log && strstr(log, "credentials cannot be opened") && strstr(log, why), "no \"%s\" in %s", why,
                log ? log : "");
  free(log);
}

/* Sealed rows and no key (or the wrong one): the subscription is not
 * loaded, and the log says why, rather than signing with ciphertext. */
HL_TEST_T(a_missing_key_leaves_sealed_subscriptions_unloaded, 120) {
  e2e_start_both(&hk, &partner, NULL, NULL);
  char keyfile[700], key_env[800];
  snprintf(keyfile, sizeof keyfile, "%s/../keys-%d", hk.dir, (int)getpid());
  snprintf(key_env, sizeof key_env, "HOOKLOOP_SECRET_KEY_FILE=%s", keyfile);
  write_keys(keyfile, KEY1 "\n");
  restart(key_env);
  char url[300];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/hook/rest", partner.port);
  free(e2e_setup(&hk, "rest", url, "\"secret\":\"" SECRET "\"", NULL, 0));
  write_keys(keyfile, KEY2 "\n");
  restart(key_env);
  assert_not_loaded("which HOOKLOOP_SECRET_KEY_FILE does not hold");
  unlink(keyfile);
  e2e_stop_both(&hk, &partner);
}

/* --- HOOKLOOP_KMS_KEY_ID: envelope encryption through the service peer ---- */

#define KMS_AKID "AKIDKMSENVELOPE"
#define KMS_SKEY "kms-envelope-test-secret-key"
#define KMS_CTX_VALUE "subscription-credentials"

static svc_peer kms;

/* The environment of a KMS-sealing hookloop: the peer's credentials, its
 * endpoint (or endpoint_override) and key_id. Static storage. */
static const char *const *kms_env(const char *endpoint_override, const char *key_id) {
  static char ep[200], kid[200];
  static const char *env[8];
  snprintf(ep, sizeof ep, "AWS_ENDPOINT_URL_KMS=%s", endpoint_override ? endpoint_override : kms.endpoint);
  snprintf(kid, sizeof kid, "HOOKLOOP_KMS_KEY_ID=%s", key_id);
  size_t n = 0;
  env[n++] = "AWS_ACCESS_KEY_ID=" KMS_AKID;
  env[n++] = "AWS_SECRET_ACCESS_KEY=" KMS_SKEY;
  env[n++] = "AWS_REGION=eu-west-1";
  env[n++] = ep;
  env[n++] = kid;
  env[n] = NULL;
  return env;
}

/* The KMS calls the peer accepted with this action, each checked to carry
 * hookloop's encryption context. Parsed into doc, which this initialises
 * and the caller disposes of. */
static size_t kms_calls(const char *action, hl_json_doc *doc, const hl_json **last) {
  hl_json_doc_init(doc); /* the caller disposes of it */
  const hl_json *reqs = svc_peer_requests(&kms, doc);
  HL_ASSERT(reqs != NULL);
  size_t n = 0;
  for (size_t i = 0; i < reqs->len; i++) {
    const hl_json *r = &reqs->u.items[i];
    if (strcmp(hl_json_str(hl_json_get(r, "action")), action) != 0) continue;
    const char *ctx = hl_json_str(hl_json_get(hl_json_get(r, "EncryptionContext"), "hookloop"));
    HL_ASSERT_MSG(ctx && strcmp(ctx, KMS_CTX_VALUE) == 0, "%s without the encryption context", action);
    if (last) *last = r;
    n++;
  }
  return n;
}

/* hookloop serve with KMS settings that cannot work: it stops with exit 2
 * and a message naming HOOKLOOP_KMS_KEY_ID=key_id and each of want, and
 * never listened. */
static void assert_kms_refused(const char *dir, const char *const *env, const char *key_id, const char *const *want) {
  char *log = NULL;
  int st = e2e_serve_until_exit(dir, true, env, 30000, &log);
  HL_ASSERT_MSG(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 2, "status %d; log:\n%s", st, log ? log : "");
  char var[200];
  snprintf(var, sizeof var, "HOOKLOOP_KMS_KEY_ID=%s", key_id);
  HL_ASSERT_MSG(log && strstr(log, var), "no %s in the log:\n%s", var, log ? log : "");
  for (size_t i = 0; want[i]; i++) HL_ASSERT_MSG(strstr(log, want[i]), "no %s in the log:\n%s", want[i], log);
  HL_ASSERT(!strstr(log, "listening"));
  free(log);
}

/* KMS Decrypt calls the peer accepted for this ciphertext (base64). */
static size_t kms_decrypts_of(const char *blob_b64) {
  hl_json_doc doc;
  const hl_json *reqs = (hl_json_doc_init(&doc), svc_peer_requests(&kms, &doc));
  HL_ASSERT(reqs != NULL);
  size_t n = 0;
  for (size_t i = 0; i < reqs->len; i++) {
    const hl_json *r = &reqs->u.items[i];
    const char *blob = hl_json_str(hl_json_get(r, "CiphertextBlob"));
    n += strcmp(hl_json_str(hl_json_get(r, "action")), "Decrypt") == 0 && blob && strcmp(blob, blob_b64) == 0;
  }
  hl_json_doc_dispose(&doc);
  return n;
}

/* The n-th (from 0) GenerateDataKey answer's member (Plaintext or
 * CiphertextBlob), malloc'd. */
static char *kms_generated(size_t nth, const char *member) {
  hl_json_doc doc;
  const hl_json *reqs = (hl_json_doc_init(&doc), svc_peer_requests(&kms, &doc));
  HL_ASSERT(reqs != NULL);
  char *out = NULL;
  size_t k = 0;
  for (size_t i = 0; i < reqs->len && !out; i++) {
    const hl_json *r = &reqs->u.items[i];
    if (strcmp(hl_json_str(hl_json_get(r, "action")), "GenerateDataKey") != 0 || k++ != nth) continue;
    out = strdup(hl_json_str(hl_json_get(hl_json_get(r, "Answer"), member)));
  }
  hl_json_doc_dispose(&doc);
  HL_ASSERT_MSG(out, "no GenerateDataKey answer %zu", nth);
  return out;
}

/* No data key the peer ever handed out is in b, in base64 or as bytes. */
static void assert_no_data_key(const hl_buf *b) {
  hl_json_doc doc;
  size_t n = kms_calls("GenerateDataKey", &doc, NULL);
  hl_json_doc_dispose(&doc);
  for (size_t i = 0; i < n; i++) {
    char *plain_b64 = kms_generated(i, "Plaintext");
    uint8_t plain[64];
    HL_ASSERT_EQ_INT(hl_base64_decode(plain_b64, strlen(plain_b64), plain, sizeof plain), 32);
    HL_ASSERT_MSG(!holds(b, plain_b64), "the store holds data key %zu in base64", i);
    HL_ASSERT_MSG(!memmem(b->data, b->len, plain, 32), "the store holds data key %zu's bytes", i);
    free(plain_b64);
  }
}

/* The first start takes a data key from GenerateDataKey; each sealed value
 * carries its ciphertext (hlseal:v2:), never its plaintext. A restart
 * makes a data key of its own and gets the first one back through KMS
 * Decrypt of the ciphertext the record carries, before the subscription
 * loads; deliveries are still signed with the subscription's secret. */
HL_TEST_T(kms_envelope_values_carry_the_encrypted_data_key_and_a_restart_decrypts_it, 240) {
  svc_peer_start(&kms, KMS_AKID, KMS_SKEY, NULL);
  const char *const *env = kms_env(NULL, "alias/hookloop-test");
  start_with_credentials(env);
  deliver("evt-kms-1", 1);
  int st = e2e_stop_hookloop(&hk, SIGTERM, 30000); /* cleanly: the WAL is checkpointed */
  HL_ASSERT(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);

  hl_buf raw = HL_BUF_INIT;
  raw_store(&raw);
  assert_no_credential(&raw, "the store");
  char id[9];
  sealed_key_id_as(&raw, "hlseal:v2:", id); /* the secret, the headers and the URL, sealed */
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(kms_calls("GenerateDataKey", &doc, NULL), 1);
  hl_json_doc_dispose(&doc);
  char *blob_b64 = kms_generated(0, "CiphertextBlob");
  assert_no_data_key(&raw);
  hl_buf carried = HL_BUF_INIT;
  hl_buf_printf(&carried, "hlseal:v2:%s:%s:", id, blob_b64);
  HL_ASSERT_MSG(holds(&raw, carried.data), "the sealed values do not carry the encrypted data key");
  HL_ASSERT_MSG(!holds(&raw, "hlseal:v1:"), "a value sealed in the old format");

  e2e_start_hookloop(&hk, env);
  deliver("evt-kms-2", 2); /* opened with the key KMS decrypted; the partner checked the signature */
  HL_ASSERT_EQ_INT(kms_calls("GenerateDataKey", &doc, NULL), 2); /* this process's own */
  hl_json_doc_dispose(&doc);
  HL_ASSERT_EQ_INT(kms_calls("Decrypt", &doc, NULL), 1);
  hl_json_doc_dispose(&doc);
  HL_ASSERT_EQ_INT(kms_decrypts_of(blob_b64), 1); /* the one the records carry */
  free(blob_b64);
  hl_buf_dispose(&carried);
  hl_buf_dispose(&raw);
  e2e_stop_both(&hk, &partner);
  svc_peer_stop(&kms);
}

/* kms_env with HOOKLOOP_KMS_DATA_KEY_TTL_S=ttl; static storage. */
static const char *const *kms_env_ttl(const char *ttl) {
  static char var[64];
  static const char *env[10];
  const char *const *k = kms_env(NULL, "alias/hookloop-test");
  size_t n = 0;
  for (; k[n]; n++) env[n] = k[n];
  snprintf(var, sizeof var, "HOOKLOOP_KMS_DATA_KEY_TTL_S=%s", ttl);
  env[n++] = var;
  env[n] = NULL;
  return env;
}

/* POST /admin/secrets/reseal?batch=batch: 200, its counts in out. */
typedef struct { int64_t examined, resealed, current, failed, remaining; } reseal_counts;

static reseal_counts reseal(const char *batch) {
  char u[300];
  snprintf(u, sizeof u, "%s/admin/secrets/reseal%s%s", hk.base, batch ? "?batch=" : "", batch ? batch : "");
  hl_json_doc doc;
  long code = e2e_call("POST", u, "", &doc);
  HL_ASSERT_MSG(code == 200, "reseal answered %ld", code);
  reseal_counts c = {
    (int64_t)hl_json_double(hl_json_get(doc.root, "examined")), (int64_t)hl_json_double(hl_json_get(doc.root, "resealed")),
    (int64_t)hl_json_double(hl_json_get(doc.root, "already_current")), (int64_t)hl_json_double(hl_json_get(doc.root, "failed")),
    (int64_t)hl_json_double(hl_json_get(doc.root, "remaining"))};
  hl_json_doc_dispose(&doc);
  HL_ASSERT_EQ_INT(c.failed, 0);
  HL_ASSERT_EQ_INT(c.examined, c.resealed + c.current + c.remaining);
  return c;
}

/* Waits (bounded) until the peer handed out at least n data keys. */
static size_t wait_generated(size_t n) {
  size_t got = 0;
  for (int i = 0; i < 300 && got < n; i++) {
    hl_json_doc doc;
    got = kms_calls("GenerateDataKey", &doc, NULL);
    hl_json_doc_dispose(&doc);
    if (got < n) hl_sleep_ms(100);
  }
  HL_ASSERT_MSG(got >= n, "%zu data keys made, expected %zu", got, n);
  return got;
}

/* Data keys are replaced every HOOKLOOP_KMS_DATA_KEY_TTL_S: a value sealed
 * under data key A still opens after A was replaced and wiped (KMS Decrypt
 * of the ciphertext it carries, at start-up and again at run time once the
 * opened copy expired); a new write carries a newer key; POST
 * /admin/secrets/reseal moves every value to the current key in bounded
 * batches (503 kms_unavailable while KMS refuses Decrypt), and a second
 * call has nothing to do. No credential and no data
 * key is ever in the store's raw bytes. */
HL_TEST_T(kms_data_keys_rotate_older_values_open_by_decrypt_and_reseal_moves_them, 240) {
  svc_peer_start(&kms, KMS_AKID, KMS_SKEY, NULL);
  start_with_credentials(kms_env_ttl("3600")); /* sealed under A */
  int st = e2e_stop_hookloop(&hk, SIGTERM, 30000);
  HL_ASSERT(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
  char *a = kms_generated(0, "CiphertextBlob");

  /* A second life with a 1 s lifetime: A opened through KMS before the
   * subscription loads, then new data keys every second. */
  e2e_start_hookloop(&hk, kms_env_ttl("1"));
  deliver("evt-rot-1", 1);
  HL_ASSERT_EQ_INT(kms_decrypts_of(a), 1);
  size_t made = wait_generated(5); /* A, this start's own, then three replacements: A's opened copy is past its time at the last */
  char url[300], body[1024];
  snprintf(url, sizeof url, "%s/admin/subscriptions", hk.base);
  snprintf(body, sizeof body, "{\"partner_id\":\"rest2\",\"event_type\":\"Payment\",\"url\":\"http://127.0.0.1:%d/hook/rest2\","
           "\"secret\":\"" SECRET "\",\"headers\":{\"X-Partner-Key\":\"" HEADER_VALUE "\"}}", partner.port);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_call("POST", url, body, &doc), 201);
  char *sid2 = strdup(hl_json_str(hl_json_get(doc.root, "subscription_id")));
  hl_json_doc_dispose(&doc);
  /* KMS refusing at run time: the route says so and changes nothing. */
  svc_peer_fault(&kms, "{\"action\":\"Decrypt\",\"kind\":\"access_denied\",\"count\":1}");
  snprintf(url, sizeof url, "%s/admin/secrets/reseal", hk.base);
  HL_ASSERT_EQ_INT(e2e_call("POST", url, "", &doc), 503);
  HL_ASSERT_EQ_STR(hl_json_str(hl_json_get(doc.root, "error")), "kms_unavailable");
  hl_json_doc_dispose(&doc);
  /* The run-time path: the listing opens A again, its copy gone. */
  reseal_counts c = reseal("1");
  HL_ASSERT_EQ_INT(c.resealed, 1);
  HL_ASSERT_MSG(kms_decrypts_of(a) == 2, "A was not decrypted again at run time (%zu)", kms_decrypts_of(a));
  st = e2e_stop_hookloop(&hk, SIGTERM, 30000);
  HL_ASSERT(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
  char *log = hl_read_file(hk.log, NULL);
  HL_ASSERT_MSG(log && strstr(log, "KMS data key replaced"), "no replacement logged");
  free(log);

  hl_buf raw = HL_BUF_INIT;
  raw_store(&raw);
  assert_no_credential(&raw, "the store");
  assert_no_data_key(&raw);
  /* rest2 was sealed after A's time, under a key of the second life. */
  char *b = NULL;
  for (size_t i = 2; i < made + 8 && !b; i++) {
    char *blob = kms_generated(i, "CiphertextBlob");
    if (holds(&raw, blob)) b = blob;
    else free(blob);
  }
  HL_ASSERT_MSG(b != NULL, "no value carries a data key made after A's time");

  /* A third life: reseal everything under its own key C, in batches. */
  e2e_start_hookloop(&hk, kms_env_ttl("3600"));
  size_t gen_c = wait_generated(made + 1);
  char *cblob = kms_generated(gen_c - 1, "CiphertextBlob");
  c = reseal("1");
  HL_ASSERT_EQ_INT(c.resealed, 1);
  HL_ASSERT(c.remaining >= 1); /* rest and rest2 were under keys of the second life */
  c = reseal(NULL);
  HL_ASSERT_EQ_INT(c.remaining, 0);
  c = reseal(NULL); /* idempotent: nothing left to move */
  HL_ASSERT_EQ_INT(c.resealed, 0);
  HL_ASSERT_EQ_INT(c.remaining, 0);
  HL_ASSERT(c.current >= 2 && c.current == c.examined);
  st = e2e_stop_hookloop(&hk, SIGTERM, 30000);
  HL_ASSERT(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
  raw_store(&raw);
  assert_no_credential(&raw, "the store");
  assert_no_data_key(&raw);
  size_t v2 = 0, under_c = 0;
  for (const char *p = raw.data; (p = memmem(p, raw.len - (size_t)(p - raw.data), "hlseal:v2:", 10)); p++) {
    v2++;
    under_c += strncmp(p + 19, cblob, strlen(cblob)) == 0;
  }
  /* rest: secret, headers, URL; rest2: secret, headers */
  HL_ASSERT_MSG(v2 >= 5 && v2 == under_c, "%zu of %zu sealed values under the current key", under_c, v2);

  /* A fourth life opens them all (C through Decrypt) and delivers. */
  e2e_start_hookloop(&hk, kms_env_ttl("3600"));
  deliver("evt-rot-2", 2);
  HL_ASSERT(kms_decrypts_of(cblob) >= 1);
  snprintf(url, sizeof url, "%s/admin/subscriptions/%s", hk.base, sid2);
  HL_ASSERT_EQ_INT(e2e_call("DELETE", url, NULL, NULL), 204); /* the stores the builds share keep nothing of it */
  free(sid2);
  free(a);
  free(b);
  free(cblob);
  hl_buf_dispose(&raw);
  e2e_stop_both(&hk, &partner);
  svc_peer_stop(&kms);
}

#if !defined(HL_TEST_DDB) && !defined(HL_TEST_PG)
/* Runs one statement with text parameters on the stopped hookloop's
 * SQLite file. */
static void sql_exec(const char *sql, const char *const *params, size_t n) {
  char path[700];
  snprintf(path, sizeof path, "%s/hookloop.db", hk.dir);
  sqlite3 *db = NULL;
  sqlite3_stmt *st = NULL;
  HL_ASSERT(sqlite3_open(path, &db) == SQLITE_OK);
  HL_ASSERT_MSG(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK, "%s", sqlite3_errmsg(db));
  for (size_t i = 0; i < n; i++) sqlite3_bind_text(st, (int)i + 1, params[i], -1, SQLITE_TRANSIENT);
  HL_ASSERT_MSG(sqlite3_step(st) == SQLITE_DONE, "%s", sqlite3_errmsg(db));
  HL_ASSERT_EQ_INT(sqlite3_changes(db), 1);
  sqlite3_finalize(st);
  sqlite3_close(db);
}

/* A store as earlier versions left it: the single data key's ciphertext in
 * the ledger row hookloop#kms-data-key and a value sealed with it as
 * hlseal:v1:. The row is decrypted at start-up, the value opens (the
 * partner checks the signature) and is sealed again as v2 at that load. */
HL_TEST_T(values_sealed_under_the_ledger_data_key_of_older_versions_open_and_move_to_v2, 120) {
  svc_peer_start(&kms, KMS_AKID, KMS_SKEY, NULL);
  const char *const *env = kms_env(NULL, "alias/hookloop-test");
  start_with_credentials(env);
  int st = e2e_stop_hookloop(&hk, SIGTERM, 30000);
  HL_ASSERT(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
  /* The data key the first start made, as the old ledger row and key. */
  char *plain_b64 = kms_generated(0, "Plaintext"), *blob = kms_generated(0, "CiphertextBlob");
  uint8_t key[1][32];
  HL_ASSERT_EQ_INT(hl_base64_decode(plain_b64, strlen(plain_b64), key[0], sizeof key[0]), 32);
  hl_sealer old;
  hl_sealer_init(&old, (const uint8_t(*)[32])key, 1);
  hl_buf v1 = HL_BUF_INIT, aad = HL_BUF_INIT;
  {
    /* The subscription id, from the row itself. */
    char path[700];
    snprintf(path, sizeof path, "%s/hookloop.db", hk.dir);
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    HL_ASSERT(sqlite3_open(path, &db) == SQLITE_OK);
    HL_ASSERT(sqlite3_prepare_v2(db, "SELECT subscription_id FROM partner_event_subscription WHERE partner_id='rest'",
                                 -1, &q, NULL) == SQLITE_OK);
    HL_ASSERT(sqlite3_step(q) == SQLITE_ROW);
    hl_buf_printf(&aad, "%s/secret", (const char *)sqlite3_column_text(q, 0));
    sqlite3_finalize(q);
    sqlite3_close(db);
  }
  hl_seal(&old, aad.data, SECRET, strlen(SECRET), &v1);
  HL_ASSERT(strncmp(v1.data, "hlseal:v1:", 10) == 0);
  const char *p1[] = {v1.data};
  sql_exec("UPDATE partner_event_subscription SET secret=?1 WHERE partner_id='rest'", p1, 1);
  const char *p2[] = {"hookloop#kms-data-key", blob};
  sql_exec("INSERT INTO idempotency_ledger(idempotency_key,status,expires_at) VALUES(?1,?2,253402300799)", p2, 2);

  e2e_start_hookloop(&hk, env);
  deliver("evt-legacy-1", 1); /* opened with the old key: the partner checked the signature */
  /* Twice: the ledger row at start-up, then the v2 values (their headers
   * and URL) carrying the same ciphertext, as the load found them. */
  HL_ASSERT_EQ_INT(kms_decrypts_of(blob), 2);
  st = e2e_stop_hookloop(&hk, SIGTERM, 30000);
  HL_ASSERT(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
  hl_buf raw = HL_BUF_INIT;
  raw_store(&raw);
  HL_ASSERT_MSG(!holds(&raw, "hlseal:v1:"), "a value is still sealed with the old key");
  assert_no_credential(&raw, "the store");
  char id[9];
  sealed_key_id_as(&raw, "hlseal:v2:", id);
  char *log = hl_read_file(hk.log, NULL);
  HL_ASSERT_MSG(log && strstr(log, "subscription credentials sealed with the current key"), "no reseal logged");
  free(log);
  hl_sealer_dispose(&old);
  explicit_bzero(key, sizeof key);
  free(plain_b64);
  free(blob);
  hl_buf_dispose(&v1);
  hl_buf_dispose(&aad);
  hl_buf_dispose(&raw);
  e2e_start_hookloop(&hk, env); /* for e2e_stop_both */
  e2e_stop_both(&hk, &partner);
  svc_peer_stop(&kms);
}
#endif

/* KMS refusing (AccessDenied on Decrypt, an unknown key on
 * GenerateDataKey) or out of reach: serve stops with exit 2 and a message
 * naming HOOKLOOP_KMS_KEY_ID, and never serves without its key. */
HL_TEST_T(kms_refusing_or_unreachable_stops_serve_naming_the_variable, 240) {
  svc_peer_start(&kms, KMS_AKID, KMS_SKEY, NULL);
  start_with_credentials(kms_env(NULL, "alias/hookloop-test")); /* sealed: the next start must decrypt */
  int st = e2e_stop_hookloop(&hk, SIGTERM, 30000);
  HL_ASSERT(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);

  svc_peer_fault(&kms, "{\"action\":\"Decrypt\",\"kind\":\"access_denied\",\"count\":1}");
  const char *denied[] = {"AccessDeniedException", "Decrypt", NULL};
  assert_kms_refused(hk.dir, kms_env(NULL, "alias/hookloop-test"), "alias/hookloop-test", denied);

  char *fresh = hl_tmpdir("kms-missing");
  /* Every start makes a data key first: KMS does not know the key. */
  const char *missing[] = {"NotFoundException", NULL};
  assert_kms_refused(fresh, kms_env(NULL, "alias/missing-key"), "alias/missing-key", missing);

  svc_peer_stop(&kms); /* nothing listens there any more */
  const char *unreachable[] = {"KMS ", "failed", NULL};
  assert_kms_refused(fresh, kms_env(kms.endpoint, "alias/hookloop-test"), "alias/hookloop-test", unreachable);
  hl_rmtree(fresh);
  free(fresh);
  e2e_start_hookloop(&hk, NULL); /* for e2e_stop_both, with no subscription to open */
  e2e_stop_both(&hk, &partner);
}

/* Records sealed with a key file's key do not open under KMS (another
 * key): the subscription is not loaded, and the log says which key is
 * missing and where it was looked for. */
HL_TEST_T(records_sealed_with_a_key_file_do_not_open_under_kms, 120) {
  svc_peer_start(&kms, KMS_AKID, KMS_SKEY, NULL);
  char keyfile[700], key_env[800];
  char *keydir = key1_file("kms-keys", keyfile, key_env);
  const char *env[] = {key_env, NULL};
  start_with_credentials(env);
  int st = e2e_stop_hookloop(&hk, SIGTERM, 30000);
  HL_ASSERT(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
  e2e_start_hookloop(&hk, kms_env(NULL, "alias/hookloop-test"));
  assert_not_loaded("which the KMS data key of HOOKLOOP_KMS_KEY_ID does not hold");
  hl_rmtree(keydir);
  free(keydir);
  e2e_stop_both(&hk, &partner);
  svc_peer_stop(&kms);
}

/* The migration from a key file to KMS: records sealed with the file's key
 * open when HOOKLOOP_KMS_KEY_ID is set beside HOOKLOOP_SECRET_KEY_FILE, and
 * are sealed again under the KMS data key at that start; after it, KMS
 * alone opens them and deliveries are still signed with the same secret. */
HL_TEST_T(key_file_records_migrate_to_kms_when_both_are_set, 240) {
  svc_peer_start(&kms, KMS_AKID, KMS_SKEY, NULL);
  char keyfile[700], key_env[800];
  char *keydir = key1_file("kms-migrate", keyfile, key_env);
  const char *file_env[] = {key_env, NULL};
  start_with_credentials(file_env);
  deliver("evt-mig-1", 1);
  int st = e2e_stop_hookloop(&hk, SIGTERM, 30000);
  HL_ASSERT(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
  hl_buf raw = HL_BUF_INIT;
  char file_id[9], kms_id[9];
  raw_store(&raw);
  sealed_key_id(&raw, file_id);

  /* Both: opened with the file's key, sealed again under the data key. */
  const char *const *kenv = kms_env(NULL, "alias/hookloop-test");
  const char *both[10];
  size_t n = 0;
  for (; kenv[n]; n++) both[n] = kenv[n];
  both[n++] = key_env;
  both[n] = NULL;
  e2e_start_hookloop(&hk, both);
  deliver("evt-mig-2", 2);
  st = e2e_stop_hookloop(&hk, SIGTERM, 30000);
  HL_ASSERT(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
  raw_store(&raw);
  assert_no_credential(&raw, "the store");
  sealed_key_id_as(&raw, "hlseal:v2:", kms_id); /* all three under one data key */
  HL_ASSERT_MSG(strcmp(file_id, kms_id) != 0, "still sealed with the key file's key %s", file_id);

  /* KMS alone: the key file is no longer needed. */
  unlink(keyfile);
  e2e_start_hookloop(&hk, kms_env(NULL, "alias/hookloop-test"));
  deliver("evt-mig-3", 3);
  char *log = hl_read_file(hk.log, NULL);
  HL_ASSERT_MSG(log && !strstr(log, "credentials cannot be opened"), "%s", log ? log : "");
  free(log);
  hl_buf_dispose(&raw);
  hl_rmtree(keydir);
  free(keydir);
  e2e_stop_both(&hk, &partner);
  svc_peer_stop(&kms);
}

/* The second line of a PEM file (a line of its base64 body); malloc'd. */
static char *pem_line(const char *dir, const char *file) {
  char path[700];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  char *text = hl_read_file(path, NULL);
  HL_ASSERT(text && strchr(text, '\n'));
  char *line = strdup(strchr(text, '\n') + 1);
  free(text);
  HL_ASSERT(strchr(line, '\n'));
  *strchr(line, '\n') = '\0';
  HL_ASSERT(strlen(line) > 40);
  return line;
}

/* A TLS client certificate's private key is sealed like the secret: in
 * plain text in the store before a key file is set (so this search can
 * find it), sealed at the next start with one, the certificate itself
 * left readable; the subscription still opens with it. */
HL_TEST_T(a_client_certificate_key_is_sealed_at_rest, 120) {
  char *certs = e2e_make_tls_certs();
  char keyfile[700], key_env[800];
  snprintf(keyfile, sizeof keyfile, "%s/keys", certs);
  snprintf(key_env, sizeof key_env, "HOOKLOOP_SECRET_KEY_FILE=%s", keyfile);
  write_keys(keyfile, KEY1 "\n");
  e2e_start_both(&hk, &partner, NULL, NULL);
  char *member = e2e_client_cert_member(certs, "client", "client");
  char *sid = e2e_setup(&hk, "mtls-rest", "https://partner.example/hook", member, NULL, 0);
  free(member);
  char *key_line = pem_line(certs, "client.key"), *cert_line = pem_line(certs, "client.pem");
  restart(NULL);
  hl_buf raw = HL_BUF_INIT;
  raw_store(&raw);
  HL_ASSERT_MSG(holds(&raw, key_line) && holds(&raw, cert_line), "the key was not where this test looks");

  restart(key_env);
  restart(key_env); /* the first start sealed it; stopped cleanly, the SQLite WAL is checkpointed */
  raw_store(&raw);
  HL_ASSERT_MSG(!holds(&raw, key_line), "the store holds the client certificate's key");
  HL_ASSERT_MSG(!holds(&raw, "PRIVATE KEY"), "the store holds a PEM private key");
  HL_ASSERT_MSG(holds(&raw, cert_line), "the certificate is not stored");
  char u[300];
  snprintf(u, sizeof u, "%s/admin/subscriptions/%s", hk.base, sid);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_call("GET", u, NULL, &doc), 200); /* opened with the key */
  HL_ASSERT_EQ_STR(hl_json_str(hl_json_get(hl_json_get(doc.root, "client_certificate"), "subject")), "CN=client");
  hl_json_doc_dispose(&doc);
  /* The stores the builds share (DynamoDB, PostgreSQL) hold nothing of it after. */
  HL_ASSERT_EQ_INT(e2e_call("DELETE", u, NULL, NULL), 204);
  hl_buf_dispose(&raw);
  free(key_line);
  free(cert_line);
  free(sid);
  e2e_stop_both(&hk, &partner);
  hl_rmtree(certs);
  free(certs);
}
