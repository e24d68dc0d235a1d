/* POST /admin/subscriptions/{id}/secret/rotate (issue 19 item 4), end to
 * end: the real binary, the mock partner recording every signature header,
 * each checked here with mbedTLS directly (hl_testsig) against each secret
 * on its own. */
#include "e2e_util.h"
#include "hl_test.h"
#include "hl_testsig.h"
#include "hl_testutil.h"
#include "common/hl_common.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static e2e_hookloop hk;
static e2e_partner partner;

#define OLD_SECRET "whsec_b2xkLXNlY3JldC1iZWZvcmUtdGhlLXJvdGF0aW9u"

static const char *str_at(const hl_json *obj, const char *key) { return hl_json_str(hl_json_get(obj, key)); }

/* Delivers event id (the partner's nth request at /hook/rot) and tells
 * which of the secrets its signature header verifies with, each alone. */
static void deliver(const char *id, size_t nth, const char *const *secrets, size_t n, bool *verifies) {
  HL_ASSERT_EQ_INT(e2e_post_event(&hk, id, "3.00"), 202);
  HL_ASSERT_MSG(e2e_wait_status(&hk, id, "SUCCESS", 15000), "%s not delivered", id);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "rot", nth, 5000, &doc), nth);
  const hl_json *r = &doc.root->u.items[nth - 1];
  const char *body = str_at(r, "body"), *sig = str_at(r, "webhook_signature");
  for (size_t i = 0; i < n; i++)
    verifies[i] = hl_testsig_verify(&secrets[i], 1, str_at(r, "webhook_id"), str_at(r, "webhook_timestamp"), body,
                                    strlen(body), sig, (int64_t)time(NULL), 600);
  hl_json_doc_dispose(&doc);
}

static long rotate(const char *sub, const char *body, hl_json_doc *doc) {
  char u[300];
  snprintf(u, sizeof u, "%s/admin/subscriptions/%s/secret/rotate", hk.base, sub);
  return e2e_call("POST", u, body, doc);
}

/* The fresh secret is shown once; during the overlap each delivery carries
 * a signature under each secret; the status shows which are active and
 * until when, never their values; once the overlap is over only the fresh
 * one signs, also after a restart (the list is stored). */
HL_TEST_T(a_rotated_secret_overlaps_then_the_old_one_expires, 120) {
  e2e_start_both(&hk, &partner, NULL, NULL);
  char url[200];
  snprintf(url, sizeof url, "%s/hook/rot", partner.base);
  char *sub = e2e_setup(&hk, "rot", url, "\"secret\":\"" OLD_SECRET "\"", NULL, 0);
  bool ok[2];
  const char *only_old[] = {OLD_SECRET};
  deliver("evt-rot-1", 1, only_old, 1, ok);
  HL_ASSERT(ok[0]);

  hl_json_doc doc;
  HL_ASSERT_EQ_INT(rotate(sub, "{\"overlap_s\": 3}", &doc), 200);
  char fresh[128];
  snprintf(fresh, sizeof fresh, "%s", str_at(doc.root, "secret"));
  HL_ASSERT(strncmp(fresh, "whsec_", 6) == 0 && strcmp(fresh, OLD_SECRET) != 0);
  const hl_json *st = hl_json_get(doc.root, "secrets");
  HL_ASSERT(st && st->len == 2);
  HL_ASSERT(hl_json_get(&st->u.items[0], "expires_at")->type == HL_JSON_NULL);
  int64_t expires_at = 0;
  HL_ASSERT(hl_json_int64(hl_json_get(&st->u.items[1], "expires_at"), &expires_at) == 0);
  HL_ASSERT(expires_at > (int64_t)time(NULL) - 1);
  hl_json_doc_dispose(&doc);

  /* The status: which secrets are active, never a value. */
  char u[300];
  snprintf(u, sizeof u, "%s/admin/subscriptions/%s", hk.base, sub);
  char *body = NULL;
  HL_ASSERT_EQ_INT(hl_http("GET", u, NULL, 0, NULL, &body), 200);
  HL_ASSERT_MSG(!strstr(body, fresh + 6) && !strstr(body, OLD_SECRET + 6) && strstr(body, "\"secrets\":[{\"expires_at\":null},{\"expires_at\":"),
                "%s", body);
  free(body);

  const char *both[] = {OLD_SECRET, fresh};
  deliver("evt-rot-2", 2, both, 2, ok);
  HL_ASSERT_MSG(ok[0] && ok[1], "during the overlap: old %d, fresh %d", ok[0], ok[1]);

  /* Past the overlap (the wall clock is what expires it). */
  while ((int64_t)time(NULL) <= expires_at) hl_sleep_ms(100);
  deliver("evt-rot-3", 3, both, 2, ok);
  HL_ASSERT_MSG(!ok[0] && ok[1], "after the overlap: old %d, fresh %d", ok[0], ok[1]);
  HL_ASSERT_EQ_INT(e2e_call("GET", u, NULL, &doc), 200);
  HL_ASSERT_EQ_INT(hl_json_get(doc.root, "secrets")->len, 1);
  hl_json_doc_dispose(&doc);

  /* Stored: a restart signs with the fresh one only. */
  int code = e2e_stop_hookloop(&hk, SIGTERM, 30000);
  HL_ASSERT(code >= 0 && WIFEXITED(code) && WEXITSTATUS(code) == 0);
  e2e_start_hookloop(&hk, NULL);
  deliver("evt-rot-4", 4, both, 2, ok);
  HL_ASSERT(!ok[0] && ok[1]);

  /* overlap_s 0: the previous secret stops at once. */
  HL_ASSERT_EQ_INT(rotate(sub, "{\"overlap_s\": 0}", &doc), 200);
  char third[128];
  snprintf(third, sizeof third, "%s", str_at(doc.root, "secret"));
  HL_ASSERT_EQ_INT(hl_json_get(doc.root, "secrets")->len, 1);
  hl_json_doc_dispose(&doc);
  const char *two[] = {fresh, third};
  deliver("evt-rot-5", 5, two, 2, ok);
  HL_ASSERT(!ok[0] && ok[1]);
  free(sub);
  e2e_stop_both(&hk, &partner);
}

/* A rotation with no body keeps the previous secret for 24 h; the answers
 * to what cannot be done. */
HL_TEST_T(rotation_defaults_and_refusals, 60) {
  e2e_start_both(&hk, &partner, NULL, NULL);
  char url[200];
  snprintf(url, sizeof url, "%s/hook/rot", partner.base);
  char *sub = e2e_setup(&hk, "rot", url, "\"secret\":\"" OLD_SECRET "\"", NULL, 0);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(rotate(sub, NULL, &doc), 200);
  int64_t exp = 0, now = (int64_t)time(NULL);
  HL_ASSERT(hl_json_int64(hl_json_get(&hl_json_get(doc.root, "secrets")->u.items[1], "expires_at"), &exp) == 0);
  HL_ASSERT_MSG(exp >= now + 86400 - 5 && exp <= now + 86400, "expires_at %lld, now %lld", (long long)exp, (long long)now);
  hl_json_doc_dispose(&doc);
  const char *bad[] = {"{\"overlap_s\": -1}", "{\"overlap_s\": 2592001}", "{\"overlap_s\": \"1h\"}"};
  for (size_t i = 0; i < HL_ARRAY_SIZE(bad); i++) {
    HL_ASSERT_EQ_INT(rotate(sub, bad[i], &doc), 400);
    HL_ASSERT_EQ_STR(str_at(&hl_json_get(doc.root, "details")->u.items[0], "path"), "/overlap_s");
    hl_json_doc_dispose(&doc);
  }
  HL_ASSERT_EQ_INT(rotate(sub, "[1]", &doc), 400);
  hl_json_doc_dispose(&doc);
  HL_ASSERT_EQ_INT(rotate("sub_nope", "{}", &doc), 404);
  hl_json_doc_dispose(&doc);
  free(sub);
  e2e_stop_both(&hk, &partner);
}

/* With credentials sealed at rest (HOOKLOOP_SECRET_KEY_FILE) the rotated
 * list, expiries included, is sealed too and opens after a restart. */
HL_TEST_T(a_rotation_is_sealed_at_rest_and_survives_a_restart, 120) {
  char *dir = hl_tmpdir("rotkey");
  char keyfile[700], key_env[800];
  snprintf(keyfile, sizeof keyfile, "%s/keys", dir);
  FILE *f = fopen(keyfile, "w");
  HL_ASSERT(f != NULL);
  fputs("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n", f);
  fclose(f);
  snprintf(key_env, sizeof key_env, "HOOKLOOP_SECRET_KEY_FILE=%s", keyfile);
  const char *env[] = {key_env, NULL};
  e2e_start_both(&hk, &partner, NULL, env);
  char url[200];
  snprintf(url, sizeof url, "%s/hook/rot", partner.base);
  char *sub = e2e_setup(&hk, "rot", url, "\"secret\":\"" OLD_SECRET "\"", NULL, 0);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(rotate(sub, "{\"overlap_s\": 3600}", &doc), 200);
  char fresh[128];
  snprintf(fresh, sizeof fresh, "%s", str_at(doc.root, "secret"));
  hl_json_doc_dispose(&doc);
  int code = e2e_stop_hookloop(&hk, SIGTERM, 30000);
  HL_ASSERT(code >= 0 && WIFEXITED(code) && WEXITSTATUS(code) == 0);
  char db[700];
  snprintf(db, sizeof db, "%s/hookloop.db", hk.dir);
  size_t len = 0;
  char *raw = hl_read_file(db, &len);
  HL_ASSERT(raw != NULL);
  HL_ASSERT_MSG(!memmem(raw, len, fresh + 6, strlen(fresh + 6)) && !memmem(raw, len, OLD_SECRET + 6, strlen(OLD_SECRET + 6)),
                "a secret is in the database in plain text");
  free(raw);
  e2e_start_hookloop(&hk, env);
  bool ok[2];
  const char *both[] = {OLD_SECRET, fresh};
  deliver("evt-sealed-rot", 1, both, 2, ok);
  HL_ASSERT_MSG(ok[0] && ok[1], "after the restart: old %d, fresh %d", ok[0], ok[1]);
  free(sub);
  e2e_stop_both(&hk, &partner);
  hl_rmtree(dir);
  free(dir);
}

/* One change of the subscription made in a child, its answer written to fd
 * as "<status> <secret or ->": a rotation, or an update in place without
 * "secret" (the secret kept). */
static void change_in_child(const char *sub, const char *url, bool rotation, int fd) {
  hl_json_doc doc;
  long code;
  const char *s = NULL;
  if (rotation) {
    code = rotate(sub, "{\"overlap_s\": 3600}", &doc);
    s = code == 200 ? str_at(doc.root, "secret") : NULL;
  } else {
    char u[300], body[600];
    snprintf(u, sizeof u, "%s/admin/subscriptions", hk.base);
    snprintf(body, sizeof body, "{\"partner_id\":\"rot\",\"event_type\":\"Payment\",\"url\":\"%s\",\"timeout_ms\":5000}",
             url);
    code = e2e_call("POST", u, body, &doc);
  }
  char line[200];
  int n = snprintf(line, sizeof line, "%ld %s\n", code, s ? s : "-");
  if (write(fd, line, (size_t)n) != n) _exit(2);
  _exit(0);
}

/* Changes of one subscription at the same moment (two operators, a client
 * retrying after a timeout, a deploy script registering it again): each
 * rotation answered 200 shows a secret that then signs, the other change
 * being refused 409 subscription_busy while the first is written. Before,
 * both rotations answered 200 and the first one's secret never signed
 * (the second was built from the list before the first), and an update in
 * place wrote back the list it had copied before a rotation. */
HL_TEST_T(changes_of_a_subscription_at_once_never_lose_a_rotated_secret, 180) {
  e2e_start_both(&hk, &partner, NULL, NULL);
  char url[200];
  snprintf(url, sizeof url, "%s/hook/rot", partner.base);
  char *sub = e2e_setup(&hk, "rot", url, "\"secret\":\"" OLD_SECRET "\"", NULL, 0);
  size_t nth = 0;
  int busy = 0;
  for (int round = 0; round < 6; round++) {
    bool second_rotates = round % 2 == 0;
    int p[2];
    HL_ASSERT(pipe(p) == 0);
    pid_t a = fork();
    if (a == 0) change_in_child(sub, url, true, p[1]);
    pid_t b = fork();
    if (b == 0) change_in_child(sub, url, second_rotates, p[1]);
    close(p[1]);
    waitpid(a, NULL, 0);
    waitpid(b, NULL, 0);
    char buf[512] = "";
    ssize_t got = read(p[0], buf, sizeof buf - 1);
    close(p[0]);
    HL_ASSERT(got > 0);
    buf[got] = '\0';
    char s[2][128] = {"", ""};
    long c[2] = {0, 0};
    HL_ASSERT(sscanf(buf, "%ld %127s %ld %127s", &c[0], s[0], &c[1], s[1]) == 4);
    const char *shown[2];
    size_t n = 0;
    for (int i = 0; i < 2; i++) {
      HL_ASSERT_MSG(c[i] == 200 || c[i] == 409, "round %d: a change answered %ld", round, c[i]);
      busy += c[i] == 409;
      if (c[i] == 200 && strcmp(s[i], "-") != 0) shown[n++] = s[i];
    }
    HL_ASSERT_MSG(c[0] == 200 || c[1] == 200, "round %d: both changes refused", round);
    char id[64];
    snprintf(id, sizeof id, "evt-race-%d", round);
    bool ok[2] = {true, true};
    deliver(id, ++nth, shown, n, ok);
    for (size_t i = 0; i < n; i++)
      HL_ASSERT_MSG(ok[i], "round %d (%s): a secret a rotation answered 200 with does not sign", round,
                    second_rotates ? "two rotations" : "a rotation and an update");
  }
  fprintf(stderr, "changes refused as busy: %d of 12\n", busy);
  free(sub);
  e2e_stop_both(&hk, &partner);
}
