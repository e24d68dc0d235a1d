/* Ed25519 ("v1a") signing per subscription, end to end: the real binary,
 * the mock partner recording each delivery, and every signature checked by
 * implementations that are not ours: the Python (cryptography, OpenSSL's
 * Ed25519) and Node.js (node:crypto) functions of docs/partners.md, run as
 * written there (tests/e2e/partner_snippets.py). The secret key is sealed
 * at rest (HOOKLOOP_SECRET_KEY_FILE) and never in the SQLite files. */
#include "e2e_util.h"
#include "hl_test.h"
#include "hl_testutil.h"
#include "common/hl_buf.h"
#include "common/hl_common.h"
#include "crypto/hl_seal.h"
#include "crypto/hl_webhook_ed25519.h"

#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

static e2e_hookloop hk;
static e2e_partner partner;

#define HMAC_SECRET "whsec_ZWQyNTUxOS1lMmUtdGVzdC1obWFjLXNlY3JldC0w"
#define OTHER_SECRET "whsec_b3RoZXItc2VjcmV0LW5vdC10aGUtc3Vic2NyaXB0aW9u"
#define SEAL_KEY "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

static const char *str_at(const hl_json *obj, const char *key) { return hl_json_str(hl_json_get(obj, key)); }

static char *keyfile_env(char **dir) {
  *dir = hl_tmpdir("edkey");
  char path[700];
  snprintf(path, sizeof path, "%s/keys", *dir);
  FILE *f = fopen(path, "w");
  HL_ASSERT(f != NULL);
  fprintf(f, "%s\n", SEAL_KEY);
  fclose(f);
  hl_buf b = HL_BUF_INIT;
  hl_buf_printf(&b, "HOOKLOOP_SECRET_KEY_FILE=%s", path);
  return hl_buf_steal(&b, NULL);
}

static long call(const char *method, const char *path, const char *body, hl_json_doc *doc) {
  char u[400];
  snprintf(u, sizeof u, "%s%s", hk.base, path);
  return e2e_call(method, u, body, doc);
}

/* GET .../public-key: the newest key, and each active one. */
static void public_key_of(const char *sub, char *out, size_t cap, size_t *nkeys) {
  char p[300];
  snprintf(p, sizeof p, "/admin/subscriptions/%s/public-key", sub);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(call("GET", p, NULL, &doc), 200);
  HL_ASSERT_EQ_STR(str_at(doc.root, "signing"), "ed25519");
  const char *pk = str_at(doc.root, "public_key");
  HL_ASSERT(pk && strncmp(pk, "whpk_", 5) == 0);
  snprintf(out, cap, "%s", pk);
  const hl_json *all = hl_json_get(doc.root, "public_keys");
  HL_ASSERT(all && all->type == HL_JSON_ARRAY && all->len >= 1);
  HL_ASSERT_EQ_STR(str_at(&all->u.items[0], "public_key"), pk);
  *nkeys = all->len;
  hl_json_doc_dispose(&doc);
}

/* Runs the snippets of docs/partners.md on the partner's nth request at
 * /hook/<name>, with key ("whsec_" or "whpk_") and another key of the kind. */
static int snippets_verify(const hl_json *r, const char *key, const char *other) {
  char path[600];
  snprintf(path, sizeof path, "%s/delivery-%d.json", hk.dir, (int)getpid());
  hl_buf b = HL_BUF_INIT;
  hl_jw w;
  hl_jw_open(&w, &b);
  const char *fields[] = {"webhook_id", "webhook_timestamp", "webhook_signature", "body"};
  for (size_t i = 0; i < HL_ARRAY_SIZE(fields); i++) { hl_jw_key(&w, fields[i]); hl_jw_str(&w, str_at(r, fields[i])); }
  hl_jw_key(&w, strncmp(key, "whsec_", 6) == 0 ? "secret" : "public_key"); hl_jw_str(&w, key);
  hl_jw_key(&w, "other_key"); hl_jw_str(&w, other);
  hl_jw_obj_end(&w);
  FILE *f = fopen(path, "w");
  HL_ASSERT(f != NULL);
  fwrite(b.data, 1, b.len, f);
  fclose(f);
  hl_buf_dispose(&b);
  char cmd[2000];
  snprintf(cmd, sizeof cmd, "python3 %s/tests/e2e/partner_snippets.py %s/docs/partners.md %s", HL_SOURCE_DIR,
           HL_SOURCE_DIR, path);
  int rc = system(cmd);
  remove(path);
  return rc == -1 ? -1 : WEXITSTATUS(rc);
}

/* How many entries of each version the signature header has. */
static void count_entries(const char *sig, int *v1, int *v1a) {
  *v1 = *v1a = 0;
  for (const char *p = sig; p && *p; p = strchr(p, ' ') ? strchr(p, ' ') + 1 : NULL) {
    if (strncmp(p, "v1,", 3) == 0) (*v1)++;
    if (strncmp(p, "v1a,", 4) == 0) (*v1a)++;
  }
}

/* The subscription's stored row: signing, and the secret column opened
 * with the key file (it must be sealed). Returns the plain key list. */
static char *stored_keys(const char *sub, const char *keydir) {
  char path[700];
  snprintf(path, sizeof path, "%s/hookloop.db", hk.dir);
  sqlite3 *db = NULL;
  HL_ASSERT(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
  sqlite3_stmt *st = NULL;
  HL_ASSERT(sqlite3_prepare_v2(db, "SELECT signing, secret FROM partner_event_subscription WHERE subscription_id=?1",
                               -1, &st, NULL) == SQLITE_OK);
  sqlite3_bind_text(st, 1, sub, -1, SQLITE_TRANSIENT);
  HL_ASSERT(sqlite3_step(st) == SQLITE_ROW);
  HL_ASSERT_EQ_STR((const char *)sqlite3_column_text(st, 0), "ed25519");
  const char *sealed = (const char *)sqlite3_column_text(st, 1);
  HL_ASSERT_MSG(sealed && hl_is_sealed(sealed) && !strstr(sealed, "whsk_"), "the secret column is not sealed: %.12s",
                sealed ? sealed : "(null)");
  hl_sealer s;
  hl_buf err = HL_BUF_INIT, plain = HL_BUF_INIT;
  snprintf(path, sizeof path, "%s/keys", keydir);
  HL_ASSERT(hl_sealer_load(&s, path, &err) == 0);
  char aad[300];
  snprintf(aad, sizeof aad, "%s/secret", sub);
  bool stale = false;
  HL_ASSERT_MSG(hl_unseal(&s, aad, sealed, &plain, &stale, &err) == 0, "%s", err.data ? err.data : "");
  hl_sealer_dispose(&s);
  hl_buf_dispose(&err);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return hl_buf_steal(&plain, NULL);
}

/* An ed25519 subscription and an HMAC one get the same event: each
 * signature header carries only its scheme, and each verifies with the
 * docs' Python and Node.js functions (and not with another key, nor over
 * a changed body). The public key is in the answers, the secret key in
 * none; in the store it is sealed, and it is the public key's pair. */
HL_TEST_T(ed25519_and_hmac_deliveries_verify_with_the_partner_snippets, 180) {
  char *keydir = NULL, *kenv = keyfile_env(&keydir);
  const char *env[] = {kenv, NULL};
  e2e_start_both(&hk, &partner, NULL, env);
  char url[200];
  snprintf(url, sizeof url, "%s/hook/ed", partner.base);
  char secret[200];
  char *ed = e2e_setup(&hk, "edp", url, "\"signing\":\"ed25519\"", secret, sizeof secret);
  HL_ASSERT_EQ_STR(secret, ""); /* the create answer carries no secret */
  snprintf(url, sizeof url, "%s/hook/hm", partner.base);
  char *hm = e2e_setup(&hk, "hmp", url, "\"secret\":\"" HMAC_SECRET "\"", NULL, 0);

  char pk[128];
  size_t nkeys = 0;
  public_key_of(ed, pk, sizeof pk, &nkeys);
  HL_ASSERT_EQ_INT(nkeys, 1);
  /* The subscription's answer: how it signs and its public key, no key. */
  char p[300];
  snprintf(p, sizeof p, "%s/admin/subscriptions/%s", hk.base, ed);
  char *body = NULL;
  HL_ASSERT_EQ_INT(hl_http("GET", p, NULL, 0, NULL, &body), 200);
  HL_ASSERT_MSG(strstr(body, "\"signing\":\"ed25519\"") && strstr(body, pk) && !strstr(body, "whsk_"), "%s", body);
  free(body);
  /* An HMAC subscription has no public key. */
  snprintf(p, sizeof p, "/admin/subscriptions/%s/public-key", hm);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(call("GET", p, NULL, &doc), 409);
  HL_ASSERT_EQ_STR(str_at(doc.root, "error"), "hmac_signing");
  hl_json_doc_dispose(&doc);

  HL_ASSERT_EQ_INT(e2e_post_event(&hk, "evt-ed-1", "4.20"), 202);
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "ed", 1, 15000, &doc), 1);
  const hl_json *r = &doc.root->u.items[0];
  int v1, v1a;
  count_entries(str_at(r, "webhook_signature"), &v1, &v1a);
  HL_ASSERT_MSG(v1 == 0 && v1a == 1, "ed25519 header: %s", str_at(r, "webhook_signature"));
  char *other_sk = NULL, *other_pk = NULL;
  hl_webhook_ed25519_keypair(&other_sk, &other_pk);
  HL_ASSERT_EQ_INT(snippets_verify(r, pk, other_pk), 0);
  hl_json_doc_dispose(&doc);
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "hm", 1, 15000, &doc), 1);
  r = &doc.root->u.items[0];
  count_entries(str_at(r, "webhook_signature"), &v1, &v1a);
  HL_ASSERT_MSG(v1 == 1 && v1a == 0, "hmac header: %s", str_at(r, "webhook_signature"));
  HL_ASSERT_EQ_INT(snippets_verify(r, HMAC_SECRET, OTHER_SECRET), 0);
  hl_json_doc_dispose(&doc);

  /* At rest: sealed, and the key of the public key shown. */
  int code = e2e_stop_hookloop(&hk, SIGTERM, 30000);
  HL_ASSERT(code >= 0 && WIFEXITED(code) && WEXITSTATUS(code) == 0);
  char *keys = stored_keys(ed, keydir);
  HL_ASSERT(hl_webhook_ed25519_is_key(keys, strlen(keys)) && !strchr(keys, ' '));
  char *derived = hl_webhook_ed25519_public_of(keys, strlen(keys));
  HL_ASSERT_EQ_STR(derived, pk);
  hl_buf raw = HL_BUF_INIT;
  e2e_sqlite_bytes(hk.dir, &raw);
  HL_ASSERT_MSG(!memmem(raw.data, raw.len, keys + 5, strlen(keys) - 5), "the secret key is in the SQLite files");
  hl_buf_dispose(&raw);
  explicit_bzero(keys, strlen(keys));
  hl_free(keys);
  hl_free(derived);

  /* After a restart it signs with the same key; registering the same
   * partner and type again keeps the key pair (partners hold the public
   * key) and shows it. */
  e2e_start_hookloop(&hk, env);
  snprintf(url, sizeof url, "%s/hook/ed", partner.base);
  char reg[400];
  snprintf(reg, sizeof reg, "{\"partner_id\":\"edp\",\"event_type\":\"Payment\",\"url\":\"%s\",\"signing\":\"ed25519\"}", url);
  HL_ASSERT_EQ_INT(call("POST", "/admin/subscriptions", reg, &doc), 200);
  HL_ASSERT_EQ_STR(str_at(doc.root, "public_key"), pk);
  HL_ASSERT(hl_json_get(doc.root, "secret") == NULL);
  hl_json_doc_dispose(&doc);
  HL_ASSERT_EQ_INT(e2e_post_event(&hk, "evt-ed-2", "4.30"), 202);
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "ed", 2, 15000, &doc), 2);
  HL_ASSERT_EQ_INT(snippets_verify(&doc.root->u.items[1], pk, other_pk), 0);
  hl_json_doc_dispose(&doc);

  hl_free(other_sk);
  hl_free(other_pk);
  free(ed);
  free(hm);
  e2e_stop_both(&hk, &partner);
  hl_rmtree(keydir);
  free(keydir);
  hl_free(kenv);
}

/* Rotation: a new key pair; during the overlap each delivery carries a
 * v1a signature under each key and both public keys are shown; after it,
 * only the new key signs. */
HL_TEST_T(an_ed25519_rotation_overlaps_with_both_public_keys, 120) {
  e2e_start_both(&hk, &partner, NULL, NULL);
  char url[200];
  snprintf(url, sizeof url, "%s/hook/rot", partner.base);
  char *sub = e2e_setup(&hk, "edr", url, "\"signing\":\"ed25519\"", NULL, 0);
  char old_pk[128];
  size_t n;
  public_key_of(sub, old_pk, sizeof old_pk, &n);
  char p[300];
  snprintf(p, sizeof p, "/admin/subscriptions/%s/secret/rotate", sub);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(call("POST", p, "{\"overlap_s\": 3}", &doc), 200);
  HL_ASSERT(hl_json_get(doc.root, "secret") == NULL);
  char new_pk[128];
  snprintf(new_pk, sizeof new_pk, "%s", str_at(doc.root, "public_key"));
  HL_ASSERT(strncmp(new_pk, "whpk_", 5) == 0 && strcmp(new_pk, old_pk) != 0);
  const hl_json *st = hl_json_get(doc.root, "secrets");
  HL_ASSERT(st && st->len == 2);
  HL_ASSERT_EQ_STR(str_at(&st->u.items[0], "public_key"), new_pk);
  HL_ASSERT_EQ_STR(str_at(&st->u.items[1], "public_key"), old_pk);
  int64_t expires_at = 0;
  HL_ASSERT(hl_json_int64(hl_json_get(&st->u.items[1], "expires_at"), &expires_at) == 0);
  hl_json_doc_dispose(&doc);
  char shown[128];
  public_key_of(sub, shown, sizeof shown, &n);
  HL_ASSERT_EQ_STR(shown, new_pk);
  HL_ASSERT_EQ_INT(n, 2);

  /* During the overlap: a signature under each key, each verifying. */
  HL_ASSERT_EQ_INT(e2e_post_event(&hk, "evt-edr-1", "1.00"), 202);
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "rot", 1, 15000, &doc), 1);
  const hl_json *r = &doc.root->u.items[0];
  const char *sig = str_at(r, "webhook_signature"), *id = str_at(r, "webhook_id"), *ts = str_at(r, "webhook_timestamp");
  const char *b = str_at(r, "body");
  int v1, v1a;
  count_entries(sig, &v1, &v1a);
  HL_ASSERT_MSG(v1 == 0 && v1a == 2, "%s", sig);
  int64_t now = (int64_t)time(NULL);
  HL_ASSERT_EQ_INT(hl_webhook_ed25519_verify(old_pk, id, ts, b, strlen(b), sig, now, 600), 0);
  HL_ASSERT_EQ_INT(hl_webhook_ed25519_verify(new_pk, id, ts, b, strlen(b), sig, now, 600), 0);
  /* The docs' functions accept it with the old key alone (a partner that
   * has not switched yet), not with an unrelated one. */
  char *unrelated_sk = NULL, *unrelated_pk = NULL;
  hl_webhook_ed25519_keypair(&unrelated_sk, &unrelated_pk);
  HL_ASSERT_EQ_INT(snippets_verify(r, old_pk, unrelated_pk), 0);
  hl_free(unrelated_sk);
  hl_free(unrelated_pk);
  hl_json_doc_dispose(&doc);

  /* Past the overlap: the new key only. */
  while ((int64_t)time(NULL) <= expires_at) hl_sleep_ms(100);
  HL_ASSERT_EQ_INT(e2e_post_event(&hk, "evt-edr-2", "2.00"), 202);
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "rot", 2, 15000, &doc), 2);
  r = &doc.root->u.items[1];
  sig = str_at(r, "webhook_signature"); id = str_at(r, "webhook_id"); ts = str_at(r, "webhook_timestamp");
  b = str_at(r, "body");
  count_entries(sig, &v1, &v1a);
  HL_ASSERT_MSG(v1 == 0 && v1a == 1, "%s", sig);
  now = (int64_t)time(NULL);
  HL_ASSERT_EQ_INT(hl_webhook_ed25519_verify(new_pk, id, ts, b, strlen(b), sig, now, 600), 0);
  HL_ASSERT_EQ_INT(hl_webhook_ed25519_verify(old_pk, id, ts, b, strlen(b), sig, now, 600), HL_ECRYPTO);
  hl_json_doc_dispose(&doc);
  public_key_of(sub, shown, sizeof shown, &n);
  HL_ASSERT_EQ_INT(n, 1);
  free(sub);
  e2e_stop_both(&hk, &partner);
}

/* What cannot be registered, each a 400 naming the member. */
HL_TEST_T(ed25519_registration_refusals, 60) {
  e2e_start_both(&hk, &partner, NULL, NULL);
  char url[200];
  snprintf(url, sizeof url, "%s/hook/x", partner.base);
  free(e2e_setup(&hk, "base", url, NULL, NULL, 0)); /* registers the schema */
  struct { const char *extra, *path; } bad[] = {
    {"\"signing\":\"rsa\"", "/signing"},
    {"\"signing\":7", "/signing"},
    {"\"signing\":\"ed25519\",\"secret\":\"" HMAC_SECRET "\"", "/secret"},
  };
  for (size_t i = 0; i < HL_ARRAY_SIZE(bad); i++) {
    char reg[600];
    snprintf(reg, sizeof reg, "{\"partner_id\":\"refused\",\"event_type\":\"Payment\",\"url\":\"%s\",%s}", url,
             bad[i].extra);
    hl_json_doc doc;
    HL_ASSERT_EQ_INT(call("POST", "/admin/subscriptions", reg, &doc), 400);
    HL_ASSERT_EQ_STR(str_at(&hl_json_get(doc.root, "details")->u.items[0], "path"), bad[i].path);
    hl_json_doc_dispose(&doc);
  }
  /* "hmac" is the default, said aloud. */
  char reg[600];
  snprintf(reg, sizeof reg, "{\"partner_id\":\"said\",\"event_type\":\"Payment\",\"url\":\"%s\",\"signing\":\"hmac\"}", url);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(call("POST", "/admin/subscriptions", reg, &doc), 201);
  HL_ASSERT_EQ_STR(str_at(doc.root, "signing"), "hmac");
  HL_ASSERT(strncmp(str_at(doc.root, "secret"), "whsec_", 6) == 0 && hl_json_get(doc.root, "public_key") == NULL);
  hl_json_doc_dispose(&doc);
  e2e_stop_both(&hk, &partner);
}
