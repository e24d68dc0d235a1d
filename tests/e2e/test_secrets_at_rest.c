/* Subscriptions' credentials sealed at rest (issue 19 item 3, issue 13
 * item 7): the real binary with HOOKLOOP_SECRET_KEY_FILE, a mock partner
 * checking every signature, and the store's raw content searched for the
 * credentials: the SQLite files' bytes, DynamoDB items as dynalite returns
 * them (HL_TEST_DDB), PostgreSQL rows (HL_TEST_PG). */
#include "e2e_util.h"
#include "hl_test.h"
#include "hl_testutil.h"
#include "common/hl_buf.h"
#include "common/hl_common.h"

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

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
  DIR *d = opendir(hk.dir);
  HL_ASSERT(d != NULL);
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strncmp(e->d_name, "hookloop.db", 11) != 0) continue; /* the database, its -wal and -shm */
    char path[700];
    snprintf(path, sizeof path, "%s/%s", hk.dir, e->d_name);
    size_t len = 0;
    char *bytes = hl_read_file(path, &len);
    if (bytes) hl_buf_append(out, bytes, len);
    free(bytes);
  }
  closedir(d);
#endif
}

static bool holds(const hl_buf *b, const char *s) { return b->len && memmem(b->data, b->len, s, strlen(s)) != NULL; }

static void assert_no_credential(const hl_buf *b, const char *where) {
  const char *creds[] = {SECRET_BODY, URL_PASS, HEADER_VALUE};
  for (size_t i = 0; i < HL_ARRAY_SIZE(creds); i++)
    HL_ASSERT_MSG(!holds(b, creds[i]), "%s holds %s", where, creds[i]);
}

/* The key id of the sealed values, all sealed with the same key. */
static void sealed_key_id(const hl_buf *b, char id[9]) {
  const char *p = memmem(b->data, b->len, "hlseal:v1:", 10);
  HL_ASSERT_MSG(p, "nothing sealed in the store");
  memcpy(id, p + 10, 8);
  id[8] = '\0';
  size_t n = 0;
  for (; p; p = memmem(p + 1, b->len - (size_t)(p + 1 - b->data), "hlseal:v1:", 10)) {
    HL_ASSERT_MSG(memcmp(p + 10, id, 8) == 0, "values sealed with two keys");
    n++;
  }
  HL_ASSERT_MSG(n == 3, "%zu sealed values, expected the secret, the headers and the URL", n);
}

static void write_keys(const char *path, const char *keys) {
  FILE *f = fopen(path, "w");
  HL_ASSERT(f != NULL);
  fputs(keys, f);
  fclose(f);
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

/* Plain rows written before sealing was on are sealed at the first start
 * with a key; then no credential is in the store or the log, deliveries
 * are still signed with the same secret, and a new first key in the file
 * seals everything again under it (the old key can then go). */
HL_TEST_T(credentials_are_sealed_at_rest_and_plain_rows_migrate, 240) {
  const char *pargs[] = {"--secret", SECRET, NULL};
  e2e_start_both(&hk, &partner, pargs, NULL);
  char url[300];
  snprintf(url, sizeof url, "http://user:" URL_PASS "@127.0.0.1:%d/hook/rest", partner.port);
  free(e2e_setup(&hk, "rest", url, "\"secret\":\"" SECRET "\",\"headers\":{\"X-Partner-Key\":\"" HEADER_VALUE "\"}",
                 NULL, 0));
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
  char u[256];
  snprintf(u, sizeof u, "%s/admin/subscriptions", hk.base);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_call("GET", u, NULL, &doc), 200);
  const hl_json *subs = hl_json_get(doc.root, "subscriptions");
  HL_ASSERT_MSG(subs && subs->len == 0, "a subscription sealed with another key was loaded");
  hl_json_doc_dispose(&doc);
  char *log = hl_read_file(hk.log, NULL);
  HL_ASSERT_MSG(log && strstr(log, "credentials cannot be opened") && strstr(log, "HOOKLOOP_SECRET_KEY_FILE does not hold"),
                "%s", log ? log : "");
  free(log);
  unlink(keyfile);
  e2e_stop_both(&hk, &partner);
}
