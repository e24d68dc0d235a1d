/* End-to-end tests of `hookloop serve` on the embedded default (issue 2's
 * list): real binary, real mock partner process, real SQLite file. */
#include "e2e_util.h"
#include "hl_test.h"
#include "hl_testsig.h"
#include "hl_testutil.h"
#include "common/hl_buf.h"
#include "common/hl_common.h"

#include <sqlite3.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>

static e2e_hookloop hk;
static e2e_partner partner;

static void start_both(const char *const *partner_args, const char *const *env) {
  e2e_start_both(&hk, &partner, partner_args, env);
}

static void stop_both(void) { e2e_stop_both(&hk, &partner); }

static const char *str_at(const hl_json *obj, const char *key) { return hl_json_str(hl_json_get(obj, key)); }

/* Standard Webhooks signature computed with mbedTLS directly
 * (hl_testsig), so the check does not depend on hookloop's own signing code. */
static void expected_signature(const char *secret, const char *id, const char *ts, const char *body,
                               size_t body_len, char *out, size_t outlen) {
  HL_ASSERT(strncmp(secret, "whsec_", 6) == 0);
  HL_ASSERT(hl_testsig_sign(secret, id, ts, body, body_len, out, outlen) == 0);
}

/* Waits for n requests at the partner's /hook/name; the one at idx must
 * carry event id's signature of its body under secret (hl_testsig). */
static void assert_signed_with(const char *name, size_t n, uint32_t idx, const char *secret, const char *id) {
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, name, n, 10000, &doc), n);
  const hl_json *r = &doc.root->u.items[idx];
  char want[128];
  const char *b = str_at(r, "body");
  expected_signature(secret, id, str_at(r, "webhook_timestamp"), b, strlen(b), want, sizeof want);
  HL_ASSERT_EQ_STR(str_at(r, "webhook_signature"), want);
  hl_json_doc_dispose(&doc);
}

HL_TEST_T(delivers_signed_exact_bytes, 120) {
  start_both(NULL, NULL);
  char url[256], secret[128];
  snprintf(url, sizeof url, "%s/hook/signed", partner.base);
  /* The subscription's own headers, an empty one among them, are sent. */
  char *sub = e2e_setup(&hk, "acme", url, "\"headers\":{\"X-Partner\":\"acme\",\"X-Empty\":\"\"}", secret,
                        sizeof secret);
  HL_ASSERT(strncmp(secret, "whsec_", 6) == 0);
  /* Numbers must reach the partner as sent: 123.4500 stays 123.4500. */
  char u[256];
  snprintf(u, sizeof u, "%s/api/v1/events", hk.base);
  const char *body =
      "{\"eventHeader\":{\"uuid\":\"evt-sig-1\",\"eventName\":\"p\",\"eventType\":\"Payment\","
      "\"createdDate\":\"x\",\"savedDate\":\"y\"},  \"amount\": 123.4500, \"currency\":\"EUR\"}";
  const char *hdrs[] = {"Content-Type: application/json",
                        "traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", NULL};
  char *resp = NULL;
  long code = hl_http("POST", u, body, strlen(body), hdrs, &resp);
  HL_ASSERT_MSG(code == 202, "POST /api/v1/events answered %ld: %s", code, resp);
  HL_ASSERT(strstr(resp, "\"accepted\"") != NULL);
  free(resp);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "signed", 1, 10000, &doc), 1);
  const hl_json *r = &doc.root->u.items[0];
  const char *got_body = str_at(r, "body");
  HL_ASSERT_EQ_STR(got_body, body);
  HL_ASSERT_EQ_STR(str_at(r, "webhook_id"), "evt-sig-1");
  HL_ASSERT_EQ_STR(str_at(r, "content_type"), "application/json");
  HL_ASSERT(strncmp(str_at(r, "user_agent"), "hookloop/", 9) == 0);
  HL_ASSERT_EQ_STR(str_at(r, "traceparent"), "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  const hl_json *xh = hl_json_get(r, "x_headers");
  HL_ASSERT(xh != NULL && xh->type == HL_JSON_OBJECT);
  HL_ASSERT_EQ_STR(str_at(xh, "x-partner"), "acme");
  HL_ASSERT_MSG(hl_json_get(xh, "x-empty") != NULL, "the empty header was not sent");
  HL_ASSERT_EQ_STR(str_at(xh, "x-empty"), "");
  char want[128];
  expected_signature(secret, "evt-sig-1", str_at(r, "webhook_timestamp"), body, strlen(body), want, sizeof want);
  HL_ASSERT_EQ_STR(str_at(r, "webhook_signature"), want);
  long ts = atol(str_at(r, "webhook_timestamp"));
  HL_ASSERT(labs(ts - (long)time(NULL)) < 60);
  hl_json_doc_dispose(&doc);
  HL_ASSERT(e2e_wait_status(&hk, "evt-sig-1", "SUCCESS", 5000));
  /* The same id again is a duplicate and is not delivered twice. */
  code = hl_http("POST", u, body, strlen(body), hdrs, &resp);
  HL_ASSERT_EQ_INT(code, 200);
  HL_ASSERT(strstr(resp, "\"duplicate\"") != NULL);
  free(resp);
  hl_sleep_ms(300);
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "signed", 2, 300, &doc), 1);
  hl_json_doc_dispose(&doc);
  free(sub);
  stop_both();
}

/* The sum of field over the log's "deliveries" summary lines. */
static long summed(const char *log, const char *field) {
  long sum = 0;
  char key[64];
  snprintf(key, sizeof key, "\"%s\":", field);
  for (const char *p = strstr(log, "\"msg\":\"deliveries\""); p; p = strstr(p + 1, "\"msg\":\"deliveries\"")) {
    const char *eol = strchr(p, '\n');
    const char *f = strstr(p, key);
    if (f && (!eol || f < eol)) sum += strtol(f + strlen(key), NULL, 10);
  }
  return sum;
}

static int count_in(const char *hay, const char *needle) {
  int n = 0;
  for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) n++;
  return n;
}

HL_TEST_T(retries_503_then_succeeds, 120) {
  start_both(NULL, NULL);
  char url[256];
  snprintf(url, sizeof url, "%s/hook/flaky?codes=503,503,200", partner.base);
  free(e2e_setup(&hk, "acme", url, NULL, NULL, 0));
  HL_ASSERT_EQ_INT(e2e_post_event(&hk, "evt-retry-1", "10"), 202);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "flaky", 3, 10000, &doc), 3);
  /* Every attempt carries the same webhook-id. */
  for (uint32_t i = 0; i < 3; i++)
    HL_ASSERT_EQ_STR(str_at(&doc.root->u.items[i], "webhook_id"), "evt-retry-1");
  hl_json_doc_dispose(&doc);
  HL_ASSERT(e2e_wait_status(&hk, "evt-retry-1", "SUCCESS", 5000));
  char st[32];
  long attempts = 0;
  e2e_status(&hk, "evt-retry-1", st, sizeof st, &attempts);
  HL_ASSERT_EQ_INT(attempts, 3);
  /* At LOG_LEVEL=info (the default) a retried attempt has its own line and
   * a successful one is only counted, in the subscription's "deliveries"
   * summary (the last window goes out at the clean shutdown). */
  int exit_st = e2e_stop_hookloop(&hk, SIGTERM, 30000);
  HL_ASSERT(exit_st >= 0 && WIFEXITED(exit_st) && WEXITSTATUS(exit_st) == 0);
  char *log = hl_read_file(hk.log, NULL);
  HL_ASSERT(log != NULL);
  HL_ASSERT_EQ_INT(count_in(log, "\"level\":\"info\",\"msg\":\"delivery attempt\",\"event_id\":\"evt-retry-1\""), 2);
  HL_ASSERT(strstr(log, "\"outcome\":\"retry\",\"attempt\":2,\"status_code\":503") != NULL);
  HL_ASSERT(strstr(log, "\"outcome\":\"success\"") == NULL);
  HL_ASSERT_EQ_INT(summed(log, "success"), 1);
  HL_ASSERT_EQ_INT(summed(log, "retry"), 2);
  HL_ASSERT_EQ_INT(summed(log, "attempts"), 3);
  free(log);
  stop_both();
}

HL_TEST_T(gone_410_fails_without_more_attempts, 120) {
  start_both(NULL, NULL);
  char url[256];
  snprintf(url, sizeof url, "%s/hook/gone?codes=410", partner.base);
  free(e2e_setup(&hk, "acme", url, NULL, NULL, 0));
  HL_ASSERT_EQ_INT(e2e_post_event(&hk, "evt-410", "1"), 202);
  HL_ASSERT(e2e_wait_status(&hk, "evt-410", "FAILED", 10000));
  hl_sleep_ms(800); /* longer than the whole retry schedule */
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "gone", 2, 200, &doc), 1);
  hl_json_doc_dispose(&doc);
  /* An operator can re-queue it; then it is attempted again. */
  char u[256];
  snprintf(u, sizeof u, "%s/admin/deliveries?event_id=evt-410", hk.base);
  HL_ASSERT(e2e_call("GET", u, NULL, &doc) == 200);
  const char *sub = str_at(&hl_json_get(doc.root, "deliveries")->u.items[0], "subscription_id");
  snprintf(u, sizeof u, "%s/admin/deliveries/evt-410/%s/retry", hk.base, sub);
  hl_json_doc_dispose(&doc);
  HL_ASSERT_EQ_INT(e2e_call("POST", u, "", NULL), 202);
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "gone", 2, 10000, &doc), 2);
  hl_json_doc_dispose(&doc);
  stop_both();
}

HL_TEST_T(retry_after_is_honoured, 120) {
  start_both(NULL, NULL);
  char url[256];
  snprintf(url, sizeof url, "%s/hook/slowdown?codes=429,200&retry_after=2", partner.base);
  free(e2e_setup(&hk, "acme", url, NULL, NULL, 0));
  HL_ASSERT_EQ_INT(e2e_post_event(&hk, "evt-ra", "1"), 202);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "slowdown", 2, 15000, &doc), 2);
  double t0 = hl_json_double(hl_json_get(&doc.root->u.items[0], "time_ms"));
  double t1 = hl_json_double(hl_json_get(&doc.root->u.items[1], "time_ms"));
  /* The schedule says 100 ms; the partner asked for 2 s. */
  HL_ASSERT_MSG(t1 - t0 >= 1900, "second attempt came after %.0f ms", t1 - t0);
  hl_json_doc_dispose(&doc);
  HL_ASSERT(e2e_wait_status(&hk, "evt-ra", "SUCCESS", 5000));
  stop_both();
}

HL_TEST_T(max_in_flight_per_subscription_is_respected, 120) {
  start_both(NULL, NULL);
  char url[256];
  snprintf(url, sizeof url, "%s/hook/limited?latency_ms=150", partner.base);
  free(e2e_setup(&hk, "acme", url, "\"max_in_flight\": 3", NULL, 0));
  char id[64];
  for (int i = 0; i < 24; i++) {
    snprintf(id, sizeof id, "evt-lim-%d", i);
    HL_ASSERT_EQ_INT(e2e_post_event(&hk, id, "1"), 202);
  }
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "limited", 24, 20000, &doc), 24);
  hl_json_doc_dispose(&doc);
  char u[256];
  snprintf(u, sizeof u, "%s/stats", partner.base);
  HL_ASSERT_EQ_INT(e2e_call("GET", u, NULL, &doc), 200);
  int64_t maxc = -1;
  hl_json_int64(hl_json_get(hl_json_get(doc.root, "max_concurrent_by_name"), "limited"), &maxc);
  HL_ASSERT_MSG(maxc >= 1 && maxc <= 3, "partner saw %lld concurrent requests", (long long)maxc);
  HL_ASSERT_MSG(maxc == 3, "the limit should be used fully: saw %lld", (long long)maxc);
  hl_json_doc_dispose(&doc);
  stop_both();
}

/* HOOKLOOP_REQUIRE_PARTNERS=1: a subscription naming an unregistered
 * partner is refused. A registered partner's max_in_flight holds across its
 * two subscriptions (each allowing 10), and the partner, its limits and its
 * subscriptions are there again after a restart. */
HL_TEST_T(partners_are_required_when_asked_share_one_limit_and_are_stored, 180) {
  static const char *const env[] = {"HOOKLOOP_REQUIRE_PARTNERS=1", NULL};
  start_both(NULL, env);
  char u[256], body[1024];
  hl_json_doc doc;
  snprintf(u, sizeof u, "%s/admin/schemas", hk.base);
  static const char *const types[] = {"Payment", "Refund"};
  for (int k = 0; k < 2; k++) {
    snprintf(body, sizeof body, "{\"event_type\":\"%s\",\"domain\":\"payments\",\"version\":1,\"schema\":{}}",
             types[k]);
    HL_ASSERT_EQ_INT(e2e_call("POST", u, body, NULL), 201);
  }
  snprintf(u, sizeof u, "%s/admin/subscriptions", hk.base);
  char subs[2][512];
  for (int k = 0; k < 2; k++)
    snprintf(subs[k], sizeof subs[k],
             "{\"partner_id\":\"acme\",\"event_type\":\"%s\",\"url\":\"%s/hook/shared?latency_ms=50\","
             "\"max_in_flight\":10}", types[k], partner.base);
  HL_ASSERT_EQ_INT(e2e_call("POST", u, subs[0], &doc), 400);
  HL_ASSERT_EQ_STR(str_at(doc.root, "error"), "unknown_partner");
  HL_ASSERT_EQ_STR(str_at(&hl_json_get(doc.root, "details")->u.items[0], "path"), "/partner_id");
  hl_json_doc_dispose(&doc);
  snprintf(u, sizeof u, "%s/admin/partners", hk.base);
  HL_ASSERT_EQ_INT(e2e_call("POST", u, "{\"partner_id\":\"acme\",\"contact\":\"ops@acme.example\",\"max_in_flight\":1}",
                            NULL), 201);
  snprintf(u, sizeof u, "%s/admin/subscriptions", hk.base);
  for (int k = 0; k < 2; k++) HL_ASSERT_EQ_INT(e2e_call("POST", u, subs[k], NULL), 201);

  snprintf(u, sizeof u, "%s/api/v1/events", hk.base);
  for (int i = 0; i < 8; i++) {
    snprintf(body, sizeof body, "{\"eventHeader\":{\"uuid\":\"evt-pt-%d\",\"eventType\":\"%s\"},\"n\":%d}", i,
             types[i % 2], i);
    HL_ASSERT_EQ_INT(e2e_call("POST", u, body, NULL), 202);
  }
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "shared", 8, 20000, &doc), 8);
  hl_json_doc_dispose(&doc);
  snprintf(u, sizeof u, "%s/stats", partner.base);
  HL_ASSERT_EQ_INT(e2e_call("GET", u, NULL, &doc), 200);
  int64_t maxc = -1;
  hl_json_int64(hl_json_get(hl_json_get(doc.root, "max_concurrent_by_name"), "shared"), &maxc);
  HL_ASSERT_MSG(maxc == 1, "the partner saw %lld requests at once across its subscriptions", (long long)maxc);
  hl_json_doc_dispose(&doc);

  HL_ASSERT_EQ_INT(e2e_stop_hookloop(&hk, SIGTERM, 30000), 0);
  e2e_start_hookloop(&hk, env);
  snprintf(u, sizeof u, "%s/admin/partners/acme", hk.base);
  HL_ASSERT_EQ_INT(e2e_call("GET", u, NULL, &doc), 200);
  int64_t n = -1;
  HL_ASSERT(hl_json_int64(hl_json_get(doc.root, "max_in_flight"), &n) == 0 && n == 1);
  HL_ASSERT(hl_json_int64(hl_json_get(doc.root, "subscriptions"), &n) == 0 && n == 2);
  HL_ASSERT_EQ_STR(str_at(doc.root, "contact"), "ops@acme.example");
  HL_ASSERT(hl_json_get(doc.root, "registered")->type == HL_JSON_TRUE);
  hl_json_doc_dispose(&doc);
  /* Still required after the restart; and a partner with subscriptions stays. */
  snprintf(u, sizeof u, "%s/admin/subscriptions", hk.base);
  HL_ASSERT_EQ_INT(e2e_call("POST", u, "{\"partner_id\":\"nobody\",\"event_type\":\"Payment\",\"url\":\"http://127.0.0.1:1/\"}",
                            NULL), 400);
  snprintf(u, sizeof u, "%s/admin/partners/acme", hk.base);
  HL_ASSERT_EQ_INT(e2e_call("DELETE", u, NULL, NULL), 409);
  stop_both();
}

/* The subscription's breaker state and consecutive failures, and its status. */
static void sub_state(const char *id, char *state, size_t n, int64_t *failures, char *status, size_t sn) {
  char u[256];
  snprintf(u, sizeof u, "%s/admin/subscriptions/%s", hk.base, id);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_call("GET", u, NULL, &doc), 200);
  const hl_json *b = hl_json_get(doc.root, "breaker");
  snprintf(state, n, "%s", str_at(b, "state"));
  HL_ASSERT(hl_json_int64(hl_json_get(b, "consecutive_failures"), failures) == 0);
  snprintf(status, sn, "%s", str_at(doc.root, "status"));
  hl_json_doc_dispose(&doc);
}

/* Polls the subscription until its breaker is in state; returns its
 * consecutive failures then. */
static int64_t wait_breaker(const char *sub, const char *want) {
  char state[32] = "", status[32];
  int64_t failures = -1;
  for (int waited = 0; waited < 20000; waited += 20) {
    sub_state(sub, state, sizeof state, &failures, status, sizeof status);
    if (strcmp(state, want) == 0) break;
    hl_sleep_ms(20);
  }
  HL_ASSERT_EQ_STR(state, want);
  return failures;
}

static long attempts_of(const char *event_id) {
  long attempts = -1;
  char st[32];
  e2e_status(&hk, event_id, st, sizeof st, &attempts);
  return attempts;
}

/* The partner answers one event 503 four times, then 200. After 2 failures
 * the breaker opens for ten minutes: the retry due in 20 ms waits instead of
 * burning attempts. Enabling closes it: two more failures open it again,
 * and enabling once more lets the fifth attempt succeed. */
HL_TEST_T(an_open_breaker_holds_retries_until_it_is_closed, 120) {
  static const char *const env[] = {"HOOKLOOP_BREAKER_FAILURES=2", "HOOKLOOP_BREAKER_OPEN_MS=600000",
                                    "HOOKLOOP_DISABLE_AFTER_FAILURES=0",
                                    "HOOKLOOP_RETRY_SCHEDULE=20ms,20ms,20ms,20ms,20ms,20ms,20ms,20ms", NULL};
  start_both(NULL, env);
  char url[256], u[256];
  snprintf(url, sizeof url, "%s/hook/down?codes=503,503,503,503,200", partner.base);
  char *sub = e2e_setup(&hk, "acme", url, "\"max_in_flight\": 1", NULL, 0);
  HL_ASSERT_EQ_INT(e2e_post_event(&hk, "evt-brk-1", "1"), 202);
  HL_ASSERT_EQ_INT(wait_breaker(sub, "open"), 2);
  HL_ASSERT_EQ_INT(e2e_metric(&hk, "hookloop_subscription_breakers{state=\"open\"}"), 1);
  HL_ASSERT(e2e_wait_status(&hk, "evt-brk-1", "RETRYING", 5000));
  /* The breaker opens when the second attempt's answer comes, before its
   * outcome is written (a DynamoDB store takes a round trip): wait for the
   * row to count it. Then ten retry periods pass and it still counts two:
   * the open breaker holds the retry. */
  for (int waited = 0; waited < 5000 && attempts_of("evt-brk-1") < 2; waited += 20) hl_sleep_ms(20);
  HL_ASSERT_EQ_INT(attempts_of("evt-brk-1"), 2);
  hl_sleep_ms(200);
  HL_ASSERT_EQ_INT(attempts_of("evt-brk-1"), 2);
  HL_ASSERT_EQ_INT(e2e_partner_stat(&partner, "requests"), 2);
  snprintf(u, sizeof u, "%s/admin/subscriptions/%s/enable", hk.base, sub);
  HL_ASSERT_EQ_INT(e2e_call("POST", u, "", NULL), 200);
  for (int waited = 0; waited < 20000 && attempts_of("evt-brk-1") < 4; waited += 20) hl_sleep_ms(20);
  HL_ASSERT_EQ_INT(wait_breaker(sub, "open"), 2);
  HL_ASSERT_EQ_INT(attempts_of("evt-brk-1"), 4);
  HL_ASSERT_EQ_INT(e2e_call("POST", u, "", NULL), 200);
  HL_ASSERT(e2e_wait_status(&hk, "evt-brk-1", "SUCCESS", 20000));
  HL_ASSERT_EQ_INT(attempts_of("evt-brk-1"), 5);
  HL_ASSERT_EQ_INT(e2e_partner_stat(&partner, "requests"), 5);
  HL_ASSERT_EQ_INT(wait_breaker(sub, "closed"), 0);
  stop_both();
  free(sub);
}

/* A partner down (503 to everything): after 3 failures in a row the
 * subscription is DISABLED, the operator's subscription to
 * subscription.disabled is told, an event accepted meanwhile waits; once
 * the partner is back, enabling it delivers both. */
HL_TEST_T(a_subscription_failing_in_a_row_is_disabled_announced_and_enable_delivers_the_backlog, 120) {
  static const char *const env[] = {"HOOKLOOP_BREAKER_FAILURES=0", "HOOKLOOP_DISABLE_AFTER_FAILURES=3",
                                    "HOOKLOOP_RETRY_SCHEDULE=20ms,20ms,20ms,20ms,20ms,20ms,20ms,20ms", NULL};
  static const char *const down[] = {"--mix", "503:1", NULL};
  start_both(down, env);
  char url[256], u[256], body[512], state[32], status[32];
  snprintf(url, sizeof url, "%s/hook/down", partner.base);
  char *sub = e2e_setup(&hk, "acme", url, "\"max_in_flight\": 1", NULL, 0);
  snprintf(u, sizeof u, "%s/admin/subscriptions", hk.base);
  snprintf(body, sizeof body, "{\"partner_id\":\"ops\",\"event_type\":\"subscription.disabled\",\"url\":\"%s/hook/ops?codes=200\"}",
           partner.base);
  HL_ASSERT_EQ_INT(e2e_call("POST", u, body, NULL), 201);
  HL_ASSERT_EQ_INT(e2e_post_event(&hk, "evt-dis-1", "1"), 202);

  int64_t failures = -1;
  for (int waited = 0; waited < 20000; waited += 20) {
    sub_state(sub, state, sizeof state, &failures, status, sizeof status);
    if (strcmp(status, "DISABLED") == 0) break;
    hl_sleep_ms(20);
  }
  HL_ASSERT_EQ_STR(status, "DISABLED");
  HL_ASSERT_EQ_INT(failures, 3);
  /* The subscription's status and the delivery's row are two writes (with
   * DynamoDB, two tables; the row's waits for the queue's commit to reach
   * the disk): the third attempt shows once its row is written. */
  for (int waited = 0; waited < 5000 && attempts_of("evt-dis-1") < 3; waited += 20) hl_sleep_ms(20);
  HL_ASSERT_EQ_INT(attempts_of("evt-dis-1"), 3);
  HL_ASSERT_EQ_INT(e2e_metric(&hk, "hookloop_subscriptions_disabled"), 1);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "ops", 1, 20000, &doc), 1);
  const char *sent = str_at(&doc.root->u.items[0], "body");
  HL_ASSERT(sent && strstr(sent, "\"eventType\":\"subscription.disabled\"") && strstr(sent, sub) &&
            strstr(sent, "\"consecutive_failures\":3"));
  hl_json_doc_dispose(&doc);
  /* Accepted while disabled: it waits, unsent. */
  HL_ASSERT_EQ_INT(e2e_post_event(&hk, "evt-dis-2", "1"), 202);
  HL_ASSERT(e2e_wait_status(&hk, "evt-dis-2", "PENDING", 5000));
  HL_ASSERT_EQ_INT(attempts_of("evt-dis-2"), 0);

  e2e_stop_partner(&partner);
  e2e_restart_partner(&partner, NULL); /* back: 200 to everything */
  snprintf(u, sizeof u, "%s/admin/subscriptions/%s/enable", hk.base, sub);
  HL_ASSERT_EQ_INT(e2e_call("POST", u, "", &doc), 200);
  HL_ASSERT_EQ_STR(str_at(doc.root, "status"), "ACTIVE");
  hl_json_doc_dispose(&doc);
  HL_ASSERT(e2e_wait_status(&hk, "evt-dis-1", "SUCCESS", 20000));
  HL_ASSERT(e2e_wait_status(&hk, "evt-dis-2", "SUCCESS", 20000));
  HL_ASSERT_EQ_INT(attempts_of("evt-dis-1"), 4);
  HL_ASSERT_EQ_INT(attempts_of("evt-dis-2"), 1);
  HL_ASSERT_EQ_INT(e2e_metric(&hk, "hookloop_subscriptions_disabled"), 0);
  stop_both();
  free(sub);
}

/* Waits until the partner holds n requests. */
static void wait_held(int64_t n) {
  for (int waited = 0; waited < 30000 && e2e_partner_stat(&partner, "held") < n; waited += 20) hl_sleep_ms(20);
  HL_ASSERT_EQ_INT(e2e_partner_stat(&partner, "held"), n);
}

/* Group commit (HOOKLOOP_SQLITE_COMMIT_MS): a 202 is answered only after
 * the commit that made the event durable, however long the group stays
 * open. With the longest window the kill comes right after each 202, well
 * inside the window: an answer given before its commit loses the event. */
HL_TEST_T(a_202_inside_a_group_commit_survives_kill_9, 120) {
  static const char *const env[] = {"HOOKLOOP_SQLITE_COMMIT_MS=1000", NULL};
  start_both(NULL, env);
  char url[256];
  snprintf(url, sizeof url, "%s/hook/group", partner.base);
  free(e2e_setup(&hk, "acme", url, NULL, NULL, 0));
  static const char *const ids[] = {"evt-group-1", "evt-group-2"};
  for (size_t i = 0; i < HL_ARRAY_SIZE(ids); i++) {
    HL_ASSERT_EQ_INT(e2e_post_event(&hk, ids[i], "1"), 202);
    kill(hk.pid, SIGKILL);
    hl_wait(hk.pid, 5000);
    hk.pid = 0;
    e2e_start_hookloop(&hk, env); /* same data dir */
  }
  for (size_t i = 0; i < HL_ARRAY_SIZE(ids); i++)
    HL_ASSERT_MSG(e2e_wait_status(&hk, ids[i], "SUCCESS", 20000), "%s was lost", ids[i]);
  stop_both();
}

HL_TEST_T(kill_9_loses_no_accepted_event, 240) {
  start_both(NULL, NULL);
  char url[256];
  /* The partner holds every request until released: what is delivered,
   * in flight and queued at the kill is set by the test, not by timing. */
  snprintf(url, sizeof url, "%s/hook/crash?hold=1", partner.base);
  free(e2e_setup(&hk, "acme", url, "\"max_in_flight\": 4", NULL, 0));
  enum { N = 300 };
  char id[64];
  for (int i = 0; i < N; i++) {
    snprintf(id, sizeof id, "evt-crash-%d", i);
    HL_ASSERT_EQ_INT(e2e_post_event(&hk, id, "1"), 202);
  }
  /* Four delivered, the next four in flight, the rest queued: kill it hard. */
  wait_held(4);
  char rel[256];
  snprintf(rel, sizeof rel, "%s/release?name=crash", partner.base);
  HL_ASSERT_EQ_INT(e2e_call("POST", rel, "", NULL), 200);
  wait_held(4);
  HL_ASSERT_EQ_INT(e2e_partner_stat(&partner, "requests"), 8);
  kill(hk.pid, SIGKILL);
  hl_wait(hk.pid, 5000);
  hk.pid = 0;
  char u[256];
  snprintf(u, sizeof u, "%s/stats", partner.base);
  hl_json_doc doc;
  e2e_call("GET", u, NULL, &doc);
  int64_t before = 0;
  hl_json_int64(hl_json_get(doc.root, "unique_ids"), &before);
  hl_json_doc_dispose(&doc);
  HL_ASSERT_EQ_INT(before, 8);
  e2e_start_hookloop(&hk, NULL); /* same data dir */
  /* Every accepted event comes (the four in flight at the kill again). */
  for (int waited = 0; waited < 60000; waited += 100) {
    HL_ASSERT_EQ_INT(e2e_call("POST", rel, "", NULL), 200);
    if (e2e_partner_stat(&partner, "unique_ids") >= N) break;
    hl_sleep_ms(100);
  }
  e2e_release_until(&partner, "crash", N, 10000);
  e2e_call("GET", u, NULL, &doc);
  int64_t uniq = 0, total = 0;
  hl_json_int64(hl_json_get(doc.root, "unique_ids"), &uniq);
  hl_json_int64(hl_json_get(doc.root, "requests"), &total);
  hl_json_doc_dispose(&doc);
  printf("kill -9: %lld received before the kill (4 answered), %lld unique after restart, %lld requests\n",
         (long long)before, (long long)uniq, (long long)total);
  HL_ASSERT_EQ_INT(uniq, N);
  stop_both();
}

/* Open deliveries in the queue of a stopped hookloop and when each is due
 * (read from its SQLite file directly, as an operator would). */
static size_t due_times(const char *dir, int64_t *due, size_t max) {
  char path[600];
  snprintf(path, sizeof path, "%s/hookloop.db", dir);
  sqlite3 *db = NULL;
  HL_ASSERT(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
  sqlite3_stmt *st = NULL;
  HL_ASSERT(sqlite3_prepare_v2(db, "SELECT next_attempt_at FROM event_delivery_status "
                                   "WHERE status IN ('PENDING','RETRYING')", -1, &st, NULL) == SQLITE_OK);
  size_t n = 0;
  while (n < max && sqlite3_step(st) == SQLITE_ROW) due[n++] = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return n;
}


/* Posts SINGLE single events and a bulk of BULK to a partner answering
 * 503, waits until each had `attempts` attempts, kills hookloop (kill -9),
 * lets the partner answer 200 and starts hookloop again with nothing
 * posted after; returns how many open deliveries were not yet due when it
 * answered. */
static size_t kill_while_retrying(const char *sched, int single, int bulk, int attempts) {
  /* Hundreds of failures in a row are the point here: no breaker, no disable. */
  const char *env[] = {sched, "HOOKLOOP_BREAKER_FAILURES=0", "HOOKLOOP_DISABLE_AFTER_FAILURES=0", NULL};
  const char *down[] = {"--mix", "503:1", NULL};
  start_both(down, env);
  char url[256], u[256];
  snprintf(url, sizeof url, "%s/hook/stranded", partner.base);
  free(e2e_setup(&hk, "acme", url, NULL, NULL, 0));
  char id[64];
  for (int i = 0; i < single; i++) {
    snprintf(id, sizeof id, "evt-stranded-%d", i);
    HL_ASSERT_EQ_INT(e2e_post_event(&hk, id, "1"), 202);
  }
  if (bulk > 0) e2e_post_bulk(&hk, "evt-stranded-bulk-", 0, bulk);
  int n = single + bulk;
  snprintf(u, sizeof u, "%s/stats", partner.base);
  for (int waited = 0; waited < 20000; waited += 20) {
    hl_json_doc doc;
    e2e_call("GET", u, NULL, &doc);
    int64_t reqs = 0;
    hl_json_int64(hl_json_get(doc.root, "requests"), &reqs);
    hl_json_doc_dispose(&doc);
    if (reqs >= (int64_t)attempts * n) break;
    hl_sleep_ms(20);
  }
  int64_t killed = hl_wall_ms();
  kill(hk.pid, SIGKILL);
  hl_wait(hk.pid, 5000);
  hk.pid = 0;
  HL_ASSERT_MSG(e2e_partner_stat(&partner, "unique_ids") == n, "every event should have been tried (and refused) before the kill");
  /* The partner recovers; hookloop starts again on the same data. */
  e2e_stop_partner(&partner);
  e2e_restart_partner(&partner, NULL);
  int64_t *due = calloc((size_t)n, sizeof *due);
  HL_ASSERT_EQ_INT(due_times(hk.dir, due, (size_t)n), n);
  e2e_start_hookloop(&hk, env);
  int64_t ready = hl_wall_ms();
  size_t later = 0;
  for (int i = 0; i < n; i++) later += due[i] > ready;
  free(due);
  printf("restart: %zu of %d open deliveries were not yet due when hookloop answered (%lld ms after the kill)\n",
         later, n, (long long)(ready - killed));
  return later;
}

/* Waits until the partner has every one of n events (timeout_ms only
 * bounds a stuck test) and checks some statuses. */
static void all_delivered(int n, int single, int timeout_ms) {
  int64_t uniq = 0;
  for (int waited = 0; waited < timeout_ms && uniq < n; waited += 100) {
    hl_sleep_ms(100);
    uniq = e2e_partner_stat(&partner, "unique_ids");
  }
  HL_ASSERT_EQ_INT(uniq, n);
  char id[64];
  for (int i = 0; i < single; i += 7) {
    snprintf(id, sizeof id, "evt-stranded-%d", i);
    HL_ASSERT(e2e_wait_status(&hk, id, "SUCCESS", 5000));
  }
}

/* Issue 12 item 1, its scenario exactly: a partner answering 503, the
 * schedule 200ms,300ms,500ms,1s,..., 79 events (60 single, a bulk of 19),
 * kill -9 about a second in (after every event's fourth attempt, each then
 * waiting for a 1 s retry), the partner answering 200, a restart: every
 * accepted event is delivered with no new traffic. Before the fix the
 * start-up claim came back short, cleared need_claim and armed nothing, so
 * only rows already due at the start were ever delivered (25 of 79 in a
 * plain build). How many were not yet due depends on how fast the restart
 * is (printed); the next test makes that margin wide. */
HL_TEST_T(retries_not_yet_due_at_a_restart_are_delivered, 180) {
  kill_while_retrying("HOOKLOOP_RETRY_SCHEDULE=200ms,300ms,500ms,1s,1s,1s,1s,1s,1s,1s,1s,1s", 60, 19, 4);
  all_delivered(79, 60, 30000);
  stop_both();
}

/* The same with a wide margin: the retry after the first attempt is due
 * 15 s (±20 %) later, so it is not due when hookloop is back, and only the
 * claim armed for it by the start-up claim delivers it. Fails on the old
 * code: nothing not yet due arrives. Posting the 20 events takes seconds
 * on a loaded machine with the DynamoDB store, so the first attempts can
 * be that much older than the kill; at least half must still be waiting
 * (printed), and every one must arrive. */
HL_TEST_T(a_retry_due_after_the_restart_is_claimed_when_due, 120) {
  size_t later = kill_while_retrying("HOOKLOOP_RETRY_SCHEDULE=15s,15s", 20, 0, 1);
  HL_ASSERT_MSG(later >= 10, "only %zu of 20 deliveries were still waiting for their retry at the restart", later);
  all_delivered(20, 20, 45000);
  stop_both();
}

/* Issue 13 item 9: an answer that is not HTTP (a malformed status line, a
 * TLS record on a plain port) is a connection-level fault like an empty
 * reply, so it is retried; and a reset connection is reported as one. A raw
 * loopback server answers each way (tests/e2e/e2e_util.c). */
HL_TEST_T(broken_answers_are_retried_as_connection_faults, 120) {
  start_both(NULL, NULL);
  int rport = 0;
  pid_t raw = e2e_start_raw_partner(&rport);
  /* Each subscription gets its own broken answer; one event fans out to all. */
  static const struct { const char *partner, *path; const char *status; long attempts; const char *error; } cases[] = {
    {"status-once", "status?bad=1", "SUCCESS", 2, NULL},
    {"tls-once", "tls?bad=1", "SUCCESS", 2, NULL},
    {"empty-once", "empty?bad=1", "SUCCESS", 2, NULL},
    {"reset-once", "reset?bad=1", "SUCCESS", 2, NULL},
    /* The schedule here is 100ms,200ms,300ms: four attempts in all. */
    {"status-always", "status", "FAILED", 4, "not a valid HTTP answer"},
    {"reset-always", "reset", "FAILED", 4, "connection reset"},
  };
  enum { NCASES = sizeof cases / sizeof *cases };
  char *subs[NCASES];
  char url[256], u[256], body[512];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/raw/%s", rport, cases[0].path);
  subs[0] = e2e_setup(&hk, cases[0].partner, url, NULL, NULL, 0);
  snprintf(u, sizeof u, "%s/admin/subscriptions", hk.base);
  for (size_t i = 1; i < NCASES; i++) {
    snprintf(body, sizeof body, "{\"partner_id\":\"%s\",\"event_type\":\"Payment\",\"url\":\"http://127.0.0.1:%d/raw/%s\"}",
             cases[i].partner, rport, cases[i].path);
    hl_json_doc doc;
    HL_ASSERT_EQ_INT(e2e_call("POST", u, body, &doc), 201);
    subs[i] = strdup(str_at(doc.root, "subscription_id"));
    hl_json_doc_dispose(&doc);
  }
  HL_ASSERT_EQ_INT(e2e_post_event(&hk, "evt-broken", "1"), 202);
  /* Wait until every delivery is terminal, then check each. */
  snprintf(u, sizeof u, "%s/admin/deliveries?event_id=evt-broken", hk.base);
  hl_json_doc doc;
  bool done = false;
  for (int waited = 0; waited < 20000 && !done; waited += 100) {
    hl_sleep_ms(100);
    HL_ASSERT_EQ_INT(e2e_call("GET", u, NULL, &doc), 200);
    const hl_json *d = hl_json_get(doc.root, "deliveries");
    size_t terminal = 0;
    for (uint32_t i = 0; d && i < d->len; i++) {
      const char *st = str_at(&d->u.items[i], "status");
      terminal += strcmp(st, "SUCCESS") == 0 || strcmp(st, "FAILED") == 0;
    }
    done = d && d->len == NCASES && terminal == NCASES;
    if (!done) hl_json_doc_dispose(&doc);
  }
  HL_ASSERT_MSG(done, "the deliveries did not all end");
  const hl_json *d = hl_json_get(doc.root, "deliveries");
  for (size_t c = 0; c < NCASES; c++) {
    const hl_json *row = NULL;
    for (uint32_t i = 0; i < d->len; i++)
      if (strcmp(str_at(&d->u.items[i], "subscription_id"), subs[c]) == 0) row = &d->u.items[i];
    HL_ASSERT(row != NULL);
    int64_t attempts = 0;
    hl_json_int64(hl_json_get(row, "attempts"), &attempts);
    const char *err = str_at(row, "last_error");
    printf("%-14s %s after %lld attempts, last_error: %s\n", cases[c].partner, str_at(row, "status"),
           (long long)attempts, err ? err : "null");
    HL_ASSERT_MSG(strcmp(str_at(row, "status"), cases[c].status) == 0 && attempts == cases[c].attempts,
                  "%s: %s after %lld attempts (%s); want %s after %ld", cases[c].partner, str_at(row, "status"),
                  (long long)attempts, err ? err : "", cases[c].status, cases[c].attempts);
    if (cases[c].error)
      HL_ASSERT_MSG(err && strstr(err, cases[c].error), "%s: last_error \"%s\" should say \"%s\"", cases[c].partner,
                    err ? err : "", cases[c].error);
  }
  hl_json_doc_dispose(&doc);
  for (size_t i = 0; i < NCASES; i++) free(subs[i]);
  kill(raw, SIGKILL);
  hl_wait(raw, 5000);
  stop_both();
}

/* Issue 12 item 6: health checks the store it names, live. Another process
 * holding the database's write lock, and the database file moved away, each
 * turn /healthz to 503 naming sqlite (the queue, under DynamoDB too); put
 * right, it answers 200 again. */
HL_TEST_T(health_checks_the_sqlite_store_live, 120) {
  start_both(NULL, NULL);
  hl_json_doc doc;
  e2e_health_until(&hk, 200, &doc, 5000);
  e2e_health_assert_passing(doc.root, "sqlite");
#ifdef HL_TEST_DDB
  e2e_health_assert_passing(doc.root, "dynamodb");
#endif
  hl_json_doc_dispose(&doc);
  char db[600], moved[620];
  snprintf(db, sizeof db, "%s/hookloop.db", hk.dir);
  snprintf(moved, sizeof moved, "%s.moved", db);
  /* Locked by another process (here, the test). */
  sqlite3 *other = NULL;
  HL_ASSERT(sqlite3_open(db, &other) == SQLITE_OK);
  HL_ASSERT(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK);
  e2e_health_until(&hk, 503, &doc, 10000);
  e2e_health_assert_failing(doc.root, "sqlite", "write lock");
  hl_json_doc_dispose(&doc);
  HL_ASSERT(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL) == SQLITE_OK);
  sqlite3_close(other);
  e2e_health_until(&hk, 200, &doc, 10000);
  hl_json_doc_dispose(&doc);
  /* Moved away: writes would go to a file a restart never sees. */
  HL_ASSERT(rename(db, moved) == 0);
  e2e_health_until(&hk, 503, &doc, 10000);
  e2e_health_assert_failing(doc.root, "sqlite", "is not there");
  hl_json_doc_dispose(&doc);
  HL_ASSERT(rename(moved, db) == 0);
  e2e_health_until(&hk, 200, &doc, 10000);
  hl_json_doc_dispose(&doc);
  stop_both();
}

/* Issue 13 item 8: with the disk full every write fails; /healthz must say
 * so, naming the store, until a write succeeds again, and the backlog must
 * count only what was committed (it drives back-pressure).
 *
 * A full disk without root mounts (a tmpfs or loop device may be refused in
 * CI containers): the kernel refuses a write past RLIMIT_FSIZE (EFBIG) as a
 * full disk refuses one (ENOSPC), and SQLite's commit fails the same way,
 * with an I/O error. The limit is set on the running hookloop with
 * prlimit(2), once it is set up, at the size its write-ahead log has then,
 * so every new commit fails; it is lifted the same way. SIGXFSZ is ignored
 * here, and so in hookloop (an ignored signal stays ignored across exec),
 * so the write fails instead of killing the process. */
HL_TEST_T(a_full_disk_makes_health_fail_and_the_backlog_stays_honest, 120) {
  signal(SIGXFSZ, SIG_IGN);
  start_both(NULL, NULL);
  char url[256];
  /* Every delivery stays open (RETRYING, due in an hour): the backlog only
   * moves with accepts. */
  snprintf(url, sizeof url, "%s/hook/full?codes=503&retry_after=3600", partner.base);
  free(e2e_setup(&hk, "acme", url, NULL, NULL, 0));
  char id[64];
  for (int i = 0; i < 3; i++) {
    snprintf(id, sizeof id, "evt-full-%d", i);
    HL_ASSERT_EQ_INT(e2e_post_event(&hk, id, "1"), 202);
    HL_ASSERT(e2e_wait_status(&hk, id, "RETRYING", 10000));
  }
  hl_json_doc doc;
  e2e_health_until(&hk, 200, &doc, 5000);
  int64_t backlog = -1;
  hl_json_int64(hl_json_get(doc.root, "backlog"), &backlog);
  HL_ASSERT_EQ_INT(backlog, 3);
  hl_json_doc_dispose(&doc);
  /* The disk is full. */
  char wal[600];
  snprintf(wal, sizeof wal, "%s/hookloop.db-wal", hk.dir);
  struct stat st;
  HL_ASSERT(stat(wal, &st) == 0 && st.st_size > 0);
  struct rlimit full = {.rlim_cur = (rlim_t)st.st_size, .rlim_max = RLIM_INFINITY};
  HL_ASSERT(prlimit(hk.pid, RLIMIT_FSIZE, &full, NULL) == 0);
  int refused = 0;
  for (int i = 0; i < 10; i++) {
    snprintf(id, sizeof id, "evt-full-refused-%d", i);
    refused += e2e_post_event(&hk, id, "1") == 503;
  }
  HL_ASSERT_EQ_INT(refused, 10);
  e2e_health_until(&hk, 503, &doc, 10000);
  e2e_health_assert_failing(doc.root, "sqlite", "the last write failed");
  hl_json_int64(hl_json_get(doc.root, "backlog"), &backlog);
  HL_ASSERT_EQ_INT(backlog, 3); /* the ten rolled back are not counted */
  hl_json_doc_dispose(&doc);
  /* Room again: the health check's own write succeeds, and health says so
   * without waiting for traffic. */
  struct rlimit room = {.rlim_cur = RLIM_INFINITY, .rlim_max = RLIM_INFINITY};
  HL_ASSERT(prlimit(hk.pid, RLIMIT_FSIZE, &room, NULL) == 0);
  e2e_health_until(&hk, 200, &doc, 10000);
  hl_json_doc_dispose(&doc);
  HL_ASSERT_EQ_INT(e2e_post_event(&hk, "evt-full-refused-0", "1"), 202); /* refused before, so not a duplicate */
  HL_ASSERT(e2e_wait_status(&hk, "evt-full-refused-0", "RETRYING", 10000));
  e2e_health_until(&hk, 200, &doc, 5000);
  hl_json_int64(hl_json_get(doc.root, "backlog"), &backlog);
  HL_ASSERT_EQ_INT(backlog, 4);
  hl_json_doc_dispose(&doc);
  stop_both();
}

#if defined(HL_TEST_PG) || defined(HL_TEST_DDB)
/* --- processes sharing one store: a subscription's writes ---------------------- */

#define RACE_OLD_SECRET "whsec_b2xkLXNlY3JldC1iZWZvcmUtdGhlLXJhY2U="

/* POST /admin/subscriptions for partner on Payment to url (extra: more
 * members), on h; the answer's code, with its body in *doc. */
static long register_sub(const e2e_hookloop *h, const char *partner_id, const char *url, const char *extra,
                         hl_json_doc *doc) {
  char u[256], body[1024];
  snprintf(u, sizeof u, "%s/admin/subscriptions", h->base);
  snprintf(body, sizeof body, "{\"partner_id\":\"%s\",\"event_type\":\"Payment\",\"url\":\"%s\"%s%s}", partner_id,
           url, extra ? "," : "", extra ? extra : "");
  return e2e_call("POST", u, body, doc);
}

static void assert_sub_changed(hl_json_doc *doc) {
  HL_ASSERT_EQ_STR(str_at(doc->root, "error"), "subscription_changed");
  hl_json_doc_dispose(doc);
}

/* Two serve processes on one store (ECS tasks), neither reloading by
 * itself (HOOKLOOP_CONFIG_TTL_S=0): A rotates a subscription's secret, then
 * B, whose copy is from before, updates it in place. B's write carried the
 * old secret list and silently undid the rotation (the fresh secret, shown
 * once, never signed again). Now B is answered 409 subscription_changed
 * with the record read again, and its retry keeps the rotation. Two
 * creates of one pair: the second, on a process that did not know of the
 * first, is a 409 too (it replaced the first one's subscription id). An
 * update from a copy of a subscription another process deleted: a 409,
 * and it stays deleted. */
HL_TEST_T(processes_sharing_a_store_do_not_undo_each_others_subscription_changes, 180) {
  const char *env[] = {"HOOKLOOP_CONFIG_TTL_S=0", NULL};
  start_both(NULL, env);
  char url[256];
  snprintf(url, sizeof url, "%s/hook/race", partner.base);
  char *sub = e2e_setup(&hk, "racer", url, "\"secret\":\"" RACE_OLD_SECRET "\"", NULL, 0);
  e2e_hookloop other = {0};
  e2e_start_hookloop(&other, env); /* loads the subscription from the store */

  /* A rotates: the fresh secret is shown once. */
  char u[300];
  snprintf(u, sizeof u, "%s/admin/subscriptions/%s/secret/rotate", hk.base, sub);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_call("POST", u, "{\"overlap_s\": 3600}", &doc), 200);
  char fresh[128];
  snprintf(fresh, sizeof fresh, "%s", str_at(doc.root, "secret"));
  hl_json_doc_dispose(&doc);
  HL_ASSERT(strncmp(fresh, "whsec_", 6) == 0);

  /* B updates in place from its copy of before the rotation. */
  long code = register_sub(&other, "racer", url, "\"max_in_flight\": 3", &doc);
  HL_ASSERT_EQ_INT(code, 409);
  assert_sub_changed(&doc);
  /* Sent again: based on the record read again, it keeps the rotation. */
  HL_ASSERT_EQ_INT(register_sub(&other, "racer", url, "\"max_in_flight\": 3", &doc), 200);
  HL_ASSERT_EQ_STR(str_at(doc.root, "subscription_id"), sub);
  hl_json_doc_dispose(&doc);

  /* Two creates of one pair: A's is 201; B, which has not read it, 409. */
  char twin_url[256];
  snprintf(twin_url, sizeof twin_url, "%s/hook/twin", partner.base);
  HL_ASSERT_EQ_INT(register_sub(&hk, "twin", twin_url, NULL, &doc), 201);
  char twin[128];
  snprintf(twin, sizeof twin, "%s", str_at(doc.root, "subscription_id"));
  hl_json_doc_dispose(&doc);
  HL_ASSERT_EQ_INT(register_sub(&other, "twin", twin_url, NULL, &doc), 409);
  assert_sub_changed(&doc);
  HL_ASSERT_EQ_INT(register_sub(&other, "twin", twin_url, NULL, &doc), 200);
  HL_ASSERT_EQ_STR(str_at(doc.root, "subscription_id"), twin);
  hl_json_doc_dispose(&doc);

  /* A deletes the pair; B, whose copy is from before, updates it: 409,
   * and it stays deleted (B's write used to store it again, deliveries
   * and all), B's copy gone with it. */
  snprintf(u, sizeof u, "%s/admin/subscriptions/%s", hk.base, twin);
  HL_ASSERT_EQ_INT(e2e_call("DELETE", u, NULL, NULL), 204);
  HL_ASSERT_EQ_INT(register_sub(&other, "twin", twin_url, "\"max_in_flight\": 2", &doc), 409);
  assert_sub_changed(&doc);
  snprintf(u, sizeof u, "%s/admin/subscriptions/%s", other.base, twin);
  HL_ASSERT_EQ_INT(e2e_call("GET", u, NULL, NULL), 404);

  /* What is stored: A started again reads it. The update's limit, the
   * rotated list (the fresh secret and the old one overlapping), and the
   * fresh secret signs a delivery. */
  HL_ASSERT(e2e_stop_hookloop(&other, SIGTERM, 30000) >= 0);
  HL_ASSERT(e2e_stop_hookloop(&hk, SIGTERM, 30000) >= 0);
  e2e_start_hookloop(&hk, env);
  snprintf(u, sizeof u, "%s/admin/subscriptions/%s", hk.base, sub);
  HL_ASSERT_EQ_INT(e2e_call("GET", u, NULL, &doc), 200);
  HL_ASSERT_EQ_INT(e2e_json_int(doc.root, "max_in_flight"), 3);
  HL_ASSERT_EQ_INT(hl_json_get(doc.root, "secrets")->len, 2);
  hl_json_doc_dispose(&doc);
  snprintf(u, sizeof u, "%s/admin/subscriptions/%s", hk.base, twin);
  HL_ASSERT_EQ_INT(e2e_call("GET", u, NULL, NULL), 404);
  HL_ASSERT_EQ_INT(e2e_post_event(&hk, "evt-race-1", "1.00"), 202);
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "race", 1, 15000, &doc), 1);
  const hl_json *r = &doc.root->u.items[0];
  const char *body = str_at(r, "body");
  const char *fresh_only[] = {fresh};
  HL_ASSERT_MSG(hl_testsig_verify(fresh_only, 1, str_at(r, "webhook_id"), str_at(r, "webhook_timestamp"), body,
                                  strlen(body), str_at(r, "webhook_signature"), (int64_t)time(NULL), 600),
                "the rotated secret does not sign: %s", str_at(r, "webhook_signature"));
  hl_json_doc_dispose(&doc);
  hl_rmtree(other.dir);
  free(other.dir);
  free(sub);
  stop_both();
}

/* An auto-disable is a write of the whole record too: B, whose copy is from
 * before A's rotation, disables the subscription after its failures. Its
 * write used to carry the old secret list (the rotation lost for good);
 * now it meets A's change, reads the record again and disables that. */
HL_TEST_T(an_auto_disable_from_a_stale_copy_keeps_another_processs_rotation, 180) {
  const char *env[] = {"HOOKLOOP_CONFIG_TTL_S=0", "HOOKLOOP_BREAKER_FAILURES=0", "HOOKLOOP_DISABLE_AFTER_FAILURES=3",
                       "HOOKLOOP_RETRY_SCHEDULE=20ms,20ms,20ms,20ms,20ms,20ms,20ms,20ms", NULL};
  static const char *const down[] = {"--mix", "503:1", NULL};
  start_both(down, env);
  char url[256];
  snprintf(url, sizeof url, "%s/hook/down", partner.base);
  char *sub = e2e_setup(&hk, "stale", url, "\"secret\":\"" RACE_OLD_SECRET "\", \"max_in_flight\": 1", NULL, 0);
  e2e_hookloop other = {0};
  e2e_start_hookloop(&other, env); /* its copy: from before the rotation */
  char u[300];
  snprintf(u, sizeof u, "%s/admin/subscriptions/%s/secret/rotate", hk.base, sub);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_call("POST", u, "{\"overlap_s\": 3600}", &doc), 200);
  hl_json_doc_dispose(&doc);
  /* Only B delivers (the queue may be shared): A stops. */
  HL_ASSERT(e2e_stop_hookloop(&hk, SIGTERM, 30000) >= 0);
  HL_ASSERT_EQ_INT(e2e_post_event(&other, "evt-stale-1", "1"), 202);
  snprintf(u, sizeof u, "%s/admin/subscriptions/%s", other.base, sub);
  char status[32] = "";
  for (int waited = 0; waited < 30000; waited += 50) {
    HL_ASSERT_EQ_INT(e2e_call("GET", u, NULL, &doc), 200);
    snprintf(status, sizeof status, "%s", str_at(doc.root, "status"));
    hl_json_doc_dispose(&doc);
    if (strcmp(status, "DISABLED") == 0) break;
    hl_sleep_ms(50);
  }
  HL_ASSERT_EQ_STR(status, "DISABLED");
  /* Stored: disabled, with the rotated list (the fresh secret and the old). */
  HL_ASSERT(e2e_stop_hookloop(&other, SIGTERM, 30000) >= 0);
  e2e_start_hookloop(&hk, env);
  snprintf(u, sizeof u, "%s/admin/subscriptions/%s", hk.base, sub);
  HL_ASSERT_EQ_INT(e2e_call("GET", u, NULL, &doc), 200);
  HL_ASSERT_EQ_STR(str_at(doc.root, "status"), "DISABLED");
  HL_ASSERT_EQ_INT(hl_json_get(doc.root, "secrets")->len, 2);
  hl_json_doc_dispose(&doc);
  /* B's first write met A's change; the second, from the record read again. */
  HL_ASSERT(e2e_log_lines(&other, "recording a subscription disabled met another process's change; tried again",
                          NULL) >= 1);
  hl_rmtree(other.dir);
  free(other.dir);
  free(sub);
  stop_both();
}
#endif

#ifdef HL_TEST_PG
/* --- PostgreSQL: several processes, one database ------------------------------ */

/* Posts ids <prefix>0..n-1 as bulks of 500 alternately to each of hs. */
static void post_bulk_spread(e2e_hookloop *const *hs, int nh, const char *prefix, int n) {
  for (int first = 0, k = 0; first < n; first += 500, k++)
    e2e_post_bulk(hs[k % nh], prefix, first, HL_MIN(500, n - first));
}

/* hookloop_deliveries_total{outcome="success"} of one process. */
static int64_t delivered_by(const e2e_hookloop *h) {
  char u[128];
  snprintf(u, sizeof u, "%s/metrics", h->base);
  char *body = NULL;
  HL_ASSERT_EQ_INT(hl_http("GET", u, NULL, 0, NULL, &body), 200);
  const char *p = body ? strstr(body, "hookloop_deliveries_total{outcome=\"success\"} ") : NULL;
  int64_t n = p ? strtoll(p + strlen("hookloop_deliveries_total{outcome=\"success\"} "), NULL, 10) : -1;
  free(body);
  return n;
}

/* Every request the partner got at /hook/name carries one of the posted
 * ids (<prefix>0..n-1) as webhook-id, the body of that very event; returns
 * how many distinct ones came. */
static int check_ids(const char *name, const char *prefix, int n, int *requests) {
  hl_json_doc doc;
  e2e_wait_requests(&partner, name, 0, 0, &doc);
  char *seen = calloc((size_t)n, 1);
  int distinct = 0;
  *requests = (int)doc.root->len;
  size_t plen = strlen(prefix);
  for (uint32_t i = 0; i < doc.root->len; i++) {
    const hl_json *r = &doc.root->u.items[i];
    const char *id = str_at(r, "webhook_id");
    HL_ASSERT(id && strncmp(id, prefix, plen) == 0);
    int k = atoi(id + plen);
    HL_ASSERT(k >= 0 && k < n);
    char want[64];
    snprintf(want, sizeof want, "\"uuid\":\"%s\"", id);
    HL_ASSERT_MSG(strstr(str_at(r, "body"), want) != NULL, "webhook-id %s on another event's body", id);
    if (!seen[k]) distinct++;
    seen[k] = 1;
  }
  free(seen);
  hl_json_doc_dispose(&doc);
  return distinct;
}

static void wait_unique(int64_t n, int timeout_ms) {
  for (int waited = 0; waited < timeout_ms && e2e_partner_stat(&partner, "unique_ids") < n; waited += 50)
    hl_sleep_ms(50);
  HL_ASSERT_EQ_INT(e2e_partner_stat(&partner, "unique_ids"), n);
}

/* Two serve processes on one database share the work: 5,000 events, each
 * delivered exactly once while both are up. Then one is killed with -9 in
 * the middle of 5,000 more: the other takes back the rows it held once
 * their lease ends, every event is delivered, and a delivery made twice
 * carries the same webhook-id. */
HL_TEST_T(two_processes_share_one_database_and_survive_a_kill_9, 600) {
  start_both(NULL, NULL);
  e2e_hookloop other = {0};
  char url[256];
  snprintf(url, sizeof url, "%s/hook/shared", partner.base);
  free(e2e_setup(&hk, "acme", url, "\"max_in_flight\": 64", NULL, 0));
  e2e_start_hookloop(&other, NULL); /* loads the subscription from the database */
  e2e_hookloop *both[] = {&hk, &other};
  enum { N = 5000 };
  post_bulk_spread(both, 2, "evt-a", N);
  wait_unique(N, 120000);
  hl_sleep_ms(500); /* a second delivery of any would arrive now */
  HL_ASSERT_EQ_INT(e2e_partner_stat(&partner, "requests"), N);
  int reqs = 0;
  HL_ASSERT_EQ_INT(check_ids("shared", "evt-a", N, &reqs), N);
  HL_ASSERT_EQ_INT(reqs, N);
  int64_t a = delivered_by(&hk), b = delivered_by(&other);
  HL_ASSERT_MSG(a > 0 && b > 0 && a + b == N, "deliveries: %lld + %lld", (long long)a, (long long)b);
  /* Now a slow partner, so that the kill finds rows claimed and in flight. */
  e2e_stop_partner(&partner);
  const char *slow[] = {"--latency-ms", "20", NULL};
  e2e_restart_partner(&partner, slow);
  post_bulk_spread(both, 2, "evt-b", N);
  for (int waited = 0; waited < 60000 && e2e_partner_stat(&partner, "unique_ids") < 500; waited += 20)
    hl_sleep_ms(20);
  HL_ASSERT(e2e_partner_stat(&partner, "unique_ids") >= 500);
  kill(other.pid, SIGKILL);
  hl_wait(other.pid, 5000);
  other.pid = 0;
  HL_ASSERT(e2e_partner_stat(&partner, "unique_ids") < N); /* mid-run */
  wait_unique(N, 300000);
  int distinct = check_ids("shared", "evt-b", N, &reqs);
  HL_ASSERT_EQ_INT(distinct, N);
  HL_ASSERT(reqs >= N);
  fprintf(stderr, "two processes: %lld + %lld deliveries of %d; after the kill -9: %d unique, %d requests\n",
          (long long)a, (long long)b, N, distinct, reqs);
  hl_rmtree(other.dir);
  free(other.dir);
  stop_both();
}

/* PostgreSQL stopped under a running service: the producer API answers 503
 * (nothing is acknowledged that is not durable), /healthz names postgres;
 * started again, hookloop reconnects by itself, and every event accepted
 * before, during or after is delivered. */
HL_TEST_T(a_postgres_restart_answers_503_and_recovers_by_itself, 300) {
  start_both(NULL, NULL);
  char url[256];
  snprintf(url, sizeof url, "%s/hook/outage", partner.base);
  free(e2e_setup(&hk, "acme", url, NULL, NULL, 0));
  char id[64];
  int accepted = 0;
  for (int i = 0; i < 50; i++) {
    snprintf(id, sizeof id, "evt-o%d", accepted);
    HL_ASSERT_EQ_INT(e2e_post_event(&hk, id, "1"), 202);
    accepted++;
  }
  hl_pgsrv *pg = e2e_pg_server();
  HL_ASSERT(hl_pgsrv_stop(pg) == 0);
  snprintf(id, sizeof id, "evt-o%d", accepted);
  long st = e2e_post_event(&hk, id, "1");
  HL_ASSERT_EQ_INT(st, 503);
  hl_json_doc doc;
  e2e_health_until(&hk, 503, &doc, 15000);
  e2e_health_assert_failing(doc.root, "postgres", "");
  hl_json_doc_dispose(&doc);
  HL_ASSERT(hl_pgsrv_resume(pg) == 0);
  /* The same event again (a client retries a 503): accepted once back. */
  for (int waited = 0; waited < 60000 && st != 202 && st != 200; waited += 200) {
    hl_sleep_ms(200);
    st = e2e_post_event(&hk, id, "1");
  }
  HL_ASSERT_MSG(st == 202 || st == 200, "not accepting after the restart: %ld", st);
  accepted++;
  for (int i = 0; i < 50; i++) {
    snprintf(id, sizeof id, "evt-o%d", accepted);
    HL_ASSERT_EQ_INT(e2e_post_event(&hk, id, "1"), 202);
    accepted++;
  }
  e2e_health_until(&hk, 200, &doc, 15000);
  hl_json_doc_dispose(&doc);
  wait_unique(accepted, 60000);
  int reqs = 0;
  HL_ASSERT_EQ_INT(check_ids("outage", "evt-o", accepted, &reqs), accepted);
  stop_both();
}

/* A failover that leaves the endpoint on a server that takes no writes
 * (here the one server turned read-only, default_transaction_read_only, as
 * a demoted Aurora writer reports): the producer API answers 503 and
 * /healthz names postgres and why, since nothing can be accepted; writable
 * again, hookloop reconnects by itself and every event accepted before and
 * after is delivered. The read-only connections were kept: every accept
 * failed while /healthz answered 200 (its query only reads). */
HL_TEST_T(a_server_that_turns_read_only_fails_the_health_check_and_is_recovered_from, 180) {
  const char *env[] = {"HOOKLOOP_PG_WAIT_MS=1500", NULL};
  start_both(NULL, env);
  char url[256];
  snprintf(url, sizeof url, "%s/hook/readonly", partner.base);
  free(e2e_setup(&hk, "acme", url, NULL, NULL, 0));
  char id[64];
  int accepted = 0;
  for (; accepted < 5; accepted++) {
    snprintf(id, sizeof id, "evt-ro%d", accepted);
    HL_ASSERT_EQ_INT(e2e_post_event(&hk, id, "1"), 202);
  }
  hl_pgsrv *pg = e2e_pg_server();
  HL_ASSERT(hl_pgsrv_exec(pg, "ALTER SYSTEM SET default_transaction_read_only = on", NULL, 0) == 0);
  HL_ASSERT(hl_pgsrv_exec(pg, "SELECT pg_reload_conf()::text", NULL, 0) == 0);
  /* The reload reaches each backend between its statements: accepted
   * until it has. */
  long st = 202;
  for (int tries = 0; tries < 100 && st == 202; tries++) {
    snprintf(id, sizeof id, "evt-ro%d", accepted);
    st = e2e_post_event(&hk, id, "1");
    if (st == 202) accepted++, hl_sleep_ms(50);
  }
  HL_ASSERT_EQ_INT(st, 503);
  hl_json_doc doc;
  e2e_health_until(&hk, 503, &doc, 15000);
  e2e_health_assert_failing(doc.root, "postgres", "read-only");
  hl_json_doc_dispose(&doc);
  HL_ASSERT(hl_pgsrv_exec(pg, "ALTER SYSTEM RESET default_transaction_read_only", NULL, 0) == 0);
  HL_ASSERT(hl_pgsrv_exec(pg, "SELECT pg_reload_conf()::text", NULL, 0) == 0);
  for (int waited = 0; waited < 60000 && st != 202 && st != 200; waited += 200) {
    hl_sleep_ms(200);
    st = e2e_post_event(&hk, id, "1");
  }
  HL_ASSERT_MSG(st == 202 || st == 200, "not accepting once writable again: %ld", st);
  accepted++;
  for (int i = 0; i < 5; i++, accepted++) {
    snprintf(id, sizeof id, "evt-ro%d", accepted);
    HL_ASSERT_EQ_INT(e2e_post_event(&hk, id, "1"), 202);
  }
  e2e_health_until(&hk, 200, &doc, 15000);
  hl_json_doc_dispose(&doc);
  wait_unique(accepted, 60000);
  int reqs = 0;
  HL_ASSERT_EQ_INT(check_ids("readonly", "evt-ro", accepted, &reqs), accepted);
  stop_both();
}

/* A PostgreSQL that hangs (stopped with SIGSTOP: connections open, nothing
 * answered): /healthz answers 503 naming postgres within its deadline
 * (3 s), not after the pool's 30 s query timeout, which held a load
 * balancer's probe past its own timeout; a check while the first is still
 * out answers at once without asking again. Resumed, 200. */
HL_TEST_T(a_hung_postgres_fails_the_health_check_within_its_deadline, 180) {
  start_both(NULL, NULL);
  hl_json_doc doc;
  e2e_health_until(&hk, 200, &doc, 10000);
  hl_json_doc_dispose(&doc);
  hl_pgsrv *pg = e2e_pg_server();
  HL_ASSERT(hl_pgsrv_signal(pg, SIGSTOP) == 0);
  hl_sleep_ms(2200); /* past the 2 s the last result is kept */
  char u[256];
  snprintf(u, sizeof u, "%s/healthz", hk.base);
  for (int round = 0; round < 2; round++) {
    uint64_t t0 = hl_mono_ms();
    long code = e2e_call("GET", u, NULL, &doc);
    uint64_t took = hl_mono_ms() - t0;
    printf("hung postgres, check %d: %ld after %llu ms\n", round + 1, code, (unsigned long long)took);
    if (code != 503) hl_pgsrv_signal(pg, SIGCONT);
    HL_ASSERT_EQ_INT(code, 503);
    e2e_health_assert_failing(doc.root, "postgres", "no answer to its check for ");
    hl_json_doc_dispose(&doc);
    if (took >= 8000) hl_pgsrv_signal(pg, SIGCONT);
    HL_ASSERT_MSG(took < 8000, "/healthz took %llu ms", (unsigned long long)took);
    hl_sleep_ms(2200);
  }
  hl_pgsrv_signal(pg, SIGCONT);
  e2e_health_until(&hk, 200, &doc, 45000);
  hl_json_doc_dispose(&doc);
  stop_both();
}

/* HOOKLOOP_PG_ANSWER_MS sets how long a sent statement waits for its
 * answer. With PostgreSQL hung, an event's write is dropped with its
 * connection after that time and the producer is told to send again (its
 * outcome is unknown, and a second send is a duplicate), instead of
 * waiting the default 30 s. HOOKLOOP_PG_LISTEN_PROBE_MS sets how long the
 * listener (the pool's third connection here) is quiet before it asks:
 * with both, it finds the hung server within their sum, not 40 s. */
HL_TEST_T(the_waits_for_a_postgres_answer_are_settings, 180) {
  const char *env[] = {"HOOKLOOP_PG_ANSWER_MS=1500", "HOOKLOOP_PG_LISTEN_PROBE_MS=300", NULL};
  start_both(NULL, env);
  char url[256], secret[128];
  snprintf(url, sizeof url, "%s/hook/answer", partner.base);
  free(e2e_setup(&hk, "acme", url, NULL, secret, sizeof secret));
  hl_json_doc doc;
  e2e_health_until(&hk, 200, &doc, 10000);
  hl_json_doc_dispose(&doc);
  hl_pgsrv *pg = e2e_pg_server();
  HL_ASSERT(hl_pgsrv_signal(pg, SIGSTOP) == 0);
  char u[256];
  snprintf(u, sizeof u, "%s/api/v1/events", hk.base);
  const char *body = "{\"eventHeader\":{\"uuid\":\"evt-hung-1\",\"eventType\":\"Payment\"},\"amount\":1,\"currency\":\"EUR\"}";
  const char *hdrs[] = {"Content-Type: application/json", NULL};
  char *resp = NULL;
  uint64_t t0 = hl_mono_ms();
  long code = hl_http("POST", u, body, strlen(body), hdrs, &resp);
  uint64_t took = hl_mono_ms() - t0;
  const char *listener_lost = "\"conn\":2,\"error\":\"connection lost: no answer from the server within 1500 ms";
  while (e2e_log_lines(&hk, "postgres connection lost", listener_lost) == 0 && hl_mono_ms() - t0 < 6000)
    hl_sleep_ms(50);
  uint64_t listener_after = hl_mono_ms() - t0;
  hl_pgsrv_signal(pg, SIGCONT);
  printf("hung postgres, listener dropped after %llu ms\n", (unsigned long long)listener_after);
  HL_ASSERT_MSG(listener_after < 6000, "the listener was not dropped within 6 s");
  printf("hung postgres, event: %ld after %llu ms: %s\n", code, (unsigned long long)took, resp ? resp : "");
  HL_ASSERT_EQ_INT(code, 503);
  HL_ASSERT_MSG(resp && strstr(resp, "send"), "%s", resp ? resp : "");
  HL_ASSERT_MSG(took >= 1400 && took < 10000, "answered after %llu ms", (unsigned long long)took);
  free(resp);
  /* Resumed: sent again, the event is taken, or found taken when the
   * server ran the first write after all (it was sent, only its answer was
   * lost); either way it is delivered once. */
  resp = NULL;
  for (int i = 0; i < 40; i++) {
    free(resp);
    resp = NULL;
    code = hl_http("POST", u, body, strlen(body), hdrs, &resp);
    if (code == 202 || code == 200) break;
    hl_sleep_ms(500);
  }
  HL_ASSERT_MSG(code == 202 || (code == 200 && strstr(resp, "\"duplicate\"")), "%ld: %s", code, resp ? resp : "");
  free(resp);
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "answer", 1, 20000, &doc), 1);
  hl_json_doc_dispose(&doc);
  stop_both();
}

/* serve with settings that cannot work: it stops, exit 1 (2 for settings
 * refused before anything is tried), with a message naming the variable. */
static void assert_refused(const char *const *env, int want_exit, const char *want) {
  char *dir = hl_tmpdir("badpg");
  const char *envp[16];
  size_t n = 0;
  envp[n++] = "HOOKLOOP_STORE=postgres";
  envp[n++] = "HOOKLOOP_PG_WAIT_MS=1500";
  for (size_t i = 0; env[i] && n < 15; i++) envp[n++] = env[i];
  envp[n] = NULL;
  char *out = NULL;
  int st = e2e_serve_until_exit(dir, false, envp, 60000, &out);
  HL_ASSERT_MSG(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == want_exit, "exit %d, want %d; log:\n%s",
                st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1, want_exit, out ? out : "");
  HL_ASSERT_MSG(out && strstr(out, want), "no \"%s\" in the log:\n%s", want, out ? out : "");
  HL_ASSERT(!strstr(out, "listening")); /* never served */
  HL_ASSERT(!strstr(out, "wrong-pw")); /* no password in the log */
  free(out);
  hl_rmtree(dir);
  free(dir);
}

HL_TEST_T(bad_postgres_settings_stop_serve_naming_the_variable, 180) {
  hl_pgsrv *pg = e2e_pg_server();
  char port[48], closed[160];
  snprintf(port, sizeof port, "DATABASE_PORT=%d", pg->port);
  int free_port = 0, held = hl_hold_port(&free_port); /* bound, not listening: refused */
  HL_ASSERT(held >= 0);
  snprintf(closed, sizeof closed, "DATABASE_URL=postgresql://hookloop:wrong-pw@127.0.0.1:%d/hookloop?sslmode=disable",
           free_port);
  const char *unreachable[] = {closed, NULL};
  assert_refused(unreachable, 1, "DATABASE_URL: ");
  close(held);
  const char *wrong_pw[] = {"AURORA_ENDPOINT=127.0.0.1", port, "DATABASE_NAME=hookloop", "DATABASE_USER=hookloop",
                            "DATABASE_PASSWORD=wrong-pw", "PGSSLMODE=disable", NULL};
  assert_refused(wrong_pw, 1, "DATABASE_PASSWORD/DATABASE_USER: ");
  const char *no_db[] = {"AURORA_ENDPOINT=127.0.0.1", port, "DATABASE_NAME=nosuchdb", "DATABASE_USER=hookloop",
                         "DATABASE_PASSWORD=" HL_PGSRV_PASSWORD, "PGSSLMODE=disable", NULL};
  assert_refused(no_db, 1, "DATABASE_NAME: ");
  const char *bad_port[] = {"AURORA_ENDPOINT=127.0.0.1", "DATABASE_PORT=54a", "DATABASE_NAME=hookloop",
                            "DATABASE_USER=hookloop", "DATABASE_PASSWORD=wrong-pw", NULL};
  assert_refused(bad_port, 1, "DATABASE_PORT: ");
  const char *nothing[] = {NULL};
  assert_refused(nothing, 2, "DATABASE_URL: HOOKLOOP_STORE=postgres needs");
}

/* DATABASE_PASSWORD_SECRET_ARN: the password is read from Secrets Manager
 * (an RDS-managed secret's JSON), through the same client as the webhook
 * secret, and serve runs on it. */
HL_TEST_T(the_database_password_comes_from_secrets_manager, 120) {
  hl_pgsrv *pg = e2e_pg_server();
  int pport = 0;
  char sm[96], port[48];
  pid_t peer = e2e_start_secrets_peer("{\"username\":\"hookloop\",\"password\":\"" HL_PGSRV_PASSWORD "\"}", sm,
                                      sizeof sm, &pport);
  snprintf(port, sizeof port, "DATABASE_PORT=%d", pg->port);
  /* Not the suite's DATABASE_URL: AURORA_ENDPOINT, and no password but the secret. */
  const char *env[] = {"DATABASE_URL=", "AURORA_ENDPOINT=127.0.0.1", port, "DATABASE_NAME=hookloop",
                       "DATABASE_USER=hookloop", "PGSSLMODE=disable",
                       "DATABASE_PASSWORD_SECRET_ARN=arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf",
                       sm, "AWS_ACCESS_KEY_ID=AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY=e2e-test-secret", NULL};
  start_both(NULL, env);
  char url[256];
  snprintf(url, sizeof url, "%s/hook/sm", partner.base);
  free(e2e_setup(&hk, "acme", url, NULL, NULL, 0));
  HL_ASSERT_EQ_INT(e2e_post_event(&hk, "evt-sm", "1"), 202);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "sm", 1, 10000, &doc), 1);
  hl_json_doc_dispose(&doc);
  char *log = hl_read_file(hk.log, NULL);
  HL_ASSERT(log && !strstr(log, HL_PGSRV_PASSWORD)); /* never logged */
  free(log);
  stop_both();
  kill(peer, SIGTERM);
  hl_wait(peer, 5000);
}
#endif

#ifdef HL_TEST_DDB
/* Issue 12 item 6 on DynamoDB: dynalite killed, /healthz answers 503 naming
 * dynamodb (a DescribeTable that gets no answer); started again with its
 * tables, 200. */
HL_TEST_T(health_names_dynamodb_when_it_is_down, 120) {
  start_both(NULL, NULL);
  hl_json_doc doc;
  e2e_health_until(&hk, 200, &doc, 5000);
  hl_json_doc_dispose(&doc);
  e2e_ddb_kill();
  e2e_health_until(&hk, 503, &doc, 15000);
  e2e_health_assert_failing(doc.root, "dynamodb", "DescribeTable event_delivery_status failed");
  hl_json_doc_dispose(&doc);
  e2e_ddb_restart();
  e2e_health_until(&hk, 200, &doc, 15000);
  hl_json_doc_dispose(&doc);
  stop_both();
}
#endif

#ifdef HL_TEST_DDB
/* DynamoDB keeps an event's record in one item of at most 400 KB, its
 * projected attributes included. A 300 KB body (under the old 380 KiB
 * body limit) projecting two 150 KB strings is a 600 KB item: refused at
 * once with 413 saying why, not sent to DynamoDB, which refused it on
 * every try (503 for ever). The same body without the projections fits. */
HL_TEST_T(an_event_whose_record_exceeds_a_dynamodb_item_gets_413, 120) {
  start_both(NULL, NULL);
  char url[256], u[256];
  snprintf(url, sizeof url, "%s/hook/big", partner.base);
  free(e2e_setup(&hk, "acme", url, NULL, NULL, 0));
  snprintf(u, sizeof u, "%s/admin/schemas", hk.base);
  HL_ASSERT_EQ_INT(e2e_call("POST", u,
                            "{\"event_type\":\"Padded\",\"domain\":\"x\",\"schema\":{\"type\":\"object\","
                            "\"x-project\":{\"/pad\":\"S\",\"/pad2\":\"S\"}}}",
                            NULL),
                   201);
  HL_ASSERT_EQ_INT(e2e_call("POST", u,
                            "{\"event_type\":\"Unprojected\",\"domain\":\"x\",\"schema\":{\"type\":\"object\"}}",
                            NULL),
                   201);
  enum { PAD = 150 * 1024 };
  char *pad = malloc(PAD + 1);
  HL_ASSERT(pad != NULL);
  memset(pad, 'p', PAD);
  pad[PAD] = '\0';
  hl_buf b = HL_BUF_INIT;
  snprintf(u, sizeof u, "%s/api/v1/events", hk.base);
  const char *types[] = {"Padded", "Unprojected"};
  for (int t = 0; t < 2; t++) {
    hl_buf_reset(&b);
    hl_buf_printf(&b, "{\"eventHeader\":{\"uuid\":\"evt-pad-%d\",\"eventType\":\"%s\"},\"pad\":\"%s\",\"pad2\":\"%s\"}", t,
                  types[t], pad, pad);
    hl_buf_putc(&b, '\0');
    hl_json_doc doc;
    long code = e2e_call("POST", u, b.data, &doc);
    if (t == 0) {
      HL_ASSERT_EQ_INT(code, 413);
      HL_ASSERT_EQ_STR(str_at(doc.root, "error"), "payload_too_large");
      const char *msg = str_at(doc.root, "message");
      HL_ASSERT_MSG(msg && strstr(msg, "projected attributes") && strstr(msg, "409600"), "%s", msg ? msg : "");
    } else {
      HL_ASSERT_EQ_INT(code, 202);
    }
    hl_json_doc_dispose(&doc);
  }
  hl_buf_dispose(&b);
  free(pad);
  stop_both();
}
#endif

/* A POST answered 400 with the given error code (NULL: any) whose first
 * detail points at path. */
static void expect_400_at(const char *url, const char *body, const char *error, const char *path) {
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_call("POST", url, body, &doc), 400);
  if (error) HL_ASSERT_EQ_STR(str_at(doc.root, "error"), error);
  const hl_json *det = hl_json_get(doc.root, "details");
  HL_ASSERT(det && det->type == HL_JSON_ARRAY && det->len >= 1);
  HL_ASSERT_EQ_STR(str_at(&det->u.items[0], "path"), path);
  hl_json_doc_dispose(&doc);
}

HL_TEST_T(bad_input_gets_documented_answers, 120) {
  start_both(NULL, NULL);
  char url[256], u[256];
  snprintf(url, sizeof url, "%s/hook/x", partner.base);
  free(e2e_setup(&hk, "acme", url, NULL, NULL, 0));
  snprintf(u, sizeof u, "%s/api/v1/events", hk.base);
  hl_json_doc doc;
  /* Malformed JSON: nothing to point into, so the detail names the whole
   * body (""); an empty body the same. */
  expect_400_at(u, "{\"eventHeader\": ", "invalid_json", "");
  expect_400_at(u, "", "invalid_json", "");
  /* Schema violation, with the JSON pointer of the field. */
  HL_ASSERT_EQ_INT(e2e_post_event(&hk, "evt-bad", "-5"), 400);
  const char *bad =
      "{\"eventHeader\":{\"uuid\":\"evt-bad2\",\"eventType\":\"Payment\"},\"amount\":-5,\"currency\":\"EUR\"}";
  HL_ASSERT_EQ_INT(e2e_call("POST", u, bad, &doc), 400);
  HL_ASSERT_EQ_STR(str_at(doc.root, "error"), "schema_violation");
  const hl_json *det = hl_json_get(doc.root, "details");
  HL_ASSERT(det && det->type == HL_JSON_ARRAY && det->len >= 1);
  HL_ASSERT_EQ_STR(str_at(&det->u.items[0], "path"), "/amount");
  HL_ASSERT_EQ_STR(str_at(&det->u.items[0], "keyword"), "minimum");
  hl_json_doc_dispose(&doc);
  /* Unknown type. */
  const char *unk = "{\"eventHeader\":{\"uuid\":\"evt-unk\",\"eventType\":\"Nope\"}}";
  HL_ASSERT_EQ_INT(e2e_call("POST", u, unk, &doc), 404);
  HL_ASSERT_EQ_STR(str_at(doc.root, "error"), "unknown_event_type");
  hl_json_doc_dispose(&doc);
  /* Missing id: pointer to the field. */
  const char *noid = "{\"eventHeader\":{\"eventType\":\"Payment\"},\"amount\":1,\"currency\":\"EUR\"}";
  HL_ASSERT_EQ_INT(e2e_call("POST", u, noid, &doc), 400);
  HL_ASSERT_EQ_STR(str_at(&hl_json_get(doc.root, "details")->u.items[0], "path"), "/eventHeader/uuid");
  hl_json_doc_dispose(&doc);
  /* Oversize body: 413 (limit 1 MiB). */
  size_t big = (1u << 20) + 100;
  char *huge = malloc(big + 1);
  memset(huge, ' ', big);
  huge[0] = '{';
  huge[big - 1] = '}';
  huge[big] = '\0';
  char *resp = NULL;
  const char *hdrs[] = {"Content-Type: application/json", NULL};
  HL_ASSERT_EQ_INT(hl_http("POST", u, huge, big, hdrs, &resp), 413);
  /* The answer names the limit, so that a client can size its batches. */
  HL_ASSERT_MSG(resp && strstr(resp, "\"message\":\"the request body is over this endpoint's limit of 1048576 bytes (1 MiB)\""),
                "%s", resp ? resp : "(none)");
  free(resp);
  free(huge);
  /* CloudEvents are accepted too; their data is validated. */
  const char *ce = "{\"specversion\":\"1.0\",\"id\":\"ce-1\",\"source\":\"/shop\",\"type\":\"Payment\","
                   "\"data\":{\"eventHeader\":{},\"amount\":5,\"currency\":\"USD\"}}";
  HL_ASSERT_EQ_INT(e2e_call("POST", u, ce, NULL), 202);
  /* Bulk: results in input order. */
  snprintf(u, sizeof u, "%s/api/v1/events/bulk", hk.base);
  const char *bulk =
      "[{\"eventHeader\":{\"uuid\":\"b-1\",\"eventType\":\"Payment\"},\"amount\":1,\"currency\":\"EUR\"},"
      " {\"eventHeader\":{\"uuid\":\"b-2\",\"eventType\":\"Payment\"},\"amount\":-1,\"currency\":\"EUR\"},"
      " {\"eventHeader\":{\"uuid\":\"b-1\",\"eventType\":\"Payment\"},\"amount\":1,\"currency\":\"EUR\"}]";
  HL_ASSERT_EQ_INT(e2e_call("POST", u, bulk, &doc), 200);
  const hl_json *res = hl_json_get(doc.root, "results");
  HL_ASSERT(res && res->len == 3);
  HL_ASSERT_EQ_STR(str_at(&res->u.items[0], "status"), "accepted");
  HL_ASSERT_EQ_STR(str_at(&res->u.items[1], "status"), "rejected");
  HL_ASSERT_EQ_STR(str_at(&res->u.items[2], "status"), "duplicate");
  hl_json_doc_dispose(&doc);
  hl_json_doc pd;
  HL_ASSERT(e2e_wait_requests(&partner, "x", 2, 10000, &pd) >= 2);
  /* The bulk element reached the partner as its own exact bytes. */
  bool found = false;
  for (uint32_t i = 0; i < pd.root->len; i++)
    if (strcmp(str_at(&pd.root->u.items[i], "webhook_id"), "b-1") == 0) {
      HL_ASSERT_EQ_STR(str_at(&pd.root->u.items[i], "body"),
                       "{\"eventHeader\":{\"uuid\":\"b-1\",\"eventType\":\"Payment\"},\"amount\":1,\"currency\":\"EUR\"}");
      found = true;
    }
  HL_ASSERT(found);
  hl_json_doc_dispose(&pd);
  /* Unknown routes and bad admin input. */
  snprintf(u, sizeof u, "%s/nope", hk.base);
  HL_ASSERT_EQ_INT(e2e_call("GET", u, NULL, NULL), 404);
  snprintf(u, sizeof u, "%s/admin/subscriptions", hk.base);
  expect_400_at(u, "{\"partner_id\":\"z\",\"event_type\":\"Nope\",\"url\":\"http://127.0.0.1:1/\"}",
                "unknown_event_type", "/event_type");
  expect_400_at(u, "", "invalid_json", "");
  expect_400_at(u, "{\"partner_id\":\"z\",\"event_type\":\"Payment\",\"url\":\"ftp://x/\"}", NULL, "/url");
  /* A bad filter: the pointer goes into the filter, the member name
   * "/a" escaped as RFC 6901 asks ("~1"). */
  expect_400_at(u, "{\"partner_id\":\"z\",\"event_type\":\"Payment\",\"url\":\"http://127.0.0.1:1/\",\"filter\":{\"/a\":{\"$bogus\":1}}}",
                "invalid_filter", "/filter/~1a/$bogus");
  expect_400_at(u, "{\"partner_id\":\"z\",\"event_type\":\"Payment\",\"url\":\"http://127.0.0.1:1/\",\"filter\":[1]}",
                "invalid_filter", "/filter");
  /* A key that is no JSON pointer ('~' then neither 0 nor 1), at the key. */
  expect_400_at(u, "{\"partner_id\":\"z\",\"event_type\":\"Payment\",\"url\":\"http://127.0.0.1:1/\",\"filter\":{\"/a~2b\":{\"$ne\":1}}}",
                "invalid_filter", "/filter/~1a~02b");
  snprintf(u, sizeof u, "%s/admin/schemas", hk.base);
  HL_ASSERT_EQ_INT(e2e_call("POST", u, "{\"event_type\":\"T\",\"domain\":\"d\",\"schema\":{\"type\":\"nonsense\"}}", &doc), 400);
  HL_ASSERT_EQ_STR(str_at(doc.root, "error"), "invalid_schema");
  hl_json_doc_dispose(&doc);
  stop_both();
}

/* True when hookloop's environment has no such variable at all. */
static bool env_lacks(pid_t pid, const char *name) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/environ", (int)pid);
  size_t len = 0;
  char *env = hl_read_file(path, &len);
  HL_ASSERT(env != NULL);
  bool found = false;
  for (size_t i = 0; i < len; i += strlen(env + i) + 1)
    found = found || (strncmp(env + i, name, strlen(name)) == 0 && env[i + strlen(name)] == '=');
  free(env);
  return !found;
}

/* Registers the Payment type (no schema) and a subscription of partner_id
 * to http://<host>:<the partner's port>/hook/<partner_id>, posts event_id
 * and waits for its delivery: SUCCESS, and the partner's one request in
 * *doc. Private targets must be allowed: the hosts here are loopback. */
static void deliver_one_to(const char *host, const char *partner_id, const char *event_id, hl_json_doc *doc) {
  char u[256], body[512];
  snprintf(u, sizeof u, "%s/admin/schemas", hk.base);
  HL_ASSERT_EQ_INT(e2e_call("POST", u, "{\"event_type\":\"Payment\",\"domain\":\"p\",\"schema\":true}", NULL), 201);
  snprintf(u, sizeof u, "%s/admin/subscriptions", hk.base);
  snprintf(body, sizeof body, "{\"partner_id\":\"%s\",\"event_type\":\"Payment\",\"url\":\"http://%s:%d/hook/%s\"}",
           partner_id, host, partner.port, partner_id);
  HL_ASSERT_EQ_INT(e2e_call("POST", u, body, NULL), 201);
  snprintf(u, sizeof u, "%s/api/v1/events", hk.base);
  snprintf(body, sizeof body, "{\"eventHeader\":{\"uuid\":\"%s\",\"eventType\":\"Payment\"}}", event_id);
  HL_ASSERT_EQ_INT(e2e_call("POST", u, body, NULL), 202);
  HL_ASSERT_MSG(e2e_wait_status(&hk, event_id, "SUCCESS", 10000), "%s did not reach the partner", host);
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, partner_id, 1, 5000, doc), 1);
}

/* With HOOKLOOP_ALLOW_PRIVATE_TARGETS unset, special-purpose addresses are
 * refused at registration when written in the URL, and at connect time when
 * a host name resolves to one. The name here is partner.localhost, which
 * libcurl resolves to loopback itself (RFC 6761), where the partner listens:
 * the same subscription is delivered while private targets are allowed, so
 * only the guard stops it once they are not. */
HL_TEST_T(private_targets_are_refused_by_default, 120) {
  const char *allow[] = {"HOOKLOOP_ALLOW_PRIVATE_TARGETS=1", NULL};
  start_both(NULL, allow);
  char u[256], body[512];
  hl_json_doc doc;
  deliver_one_to("partner.localhost", "dns", "evt-allowed", &doc);
  hl_json_doc_dispose(&doc);
  int st = e2e_stop_hookloop(&hk, SIGTERM, 30000);
  HL_ASSERT(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);

  /* The same data, HOOKLOOP_ALLOW_PRIVATE_TARGETS unset (the default). */
  const char *unset[] = {"HOOKLOOP_ALLOW_PRIVATE_TARGETS", NULL}; /* putenv without '=' removes it */
  e2e_start_hookloop(&hk, unset);
  HL_ASSERT(env_lacks(hk.pid, "HOOKLOOP_ALLOW_PRIVATE_TARGETS"));
  snprintf(u, sizeof u, "%s/api/v1/events", hk.base);
  HL_ASSERT_EQ_INT(e2e_call("POST", u, "{\"eventHeader\":{\"uuid\":\"evt-dns\",\"eventType\":\"Payment\"}}", NULL), 202);
  HL_ASSERT(e2e_wait_status(&hk, "evt-dns", "FAILED", 10000));
  snprintf(u, sizeof u, "%s/admin/deliveries?event_id=evt-dns", hk.base);
  HL_ASSERT_EQ_INT(e2e_call("GET", u, NULL, &doc), 200);
  const hl_json *d = hl_json_get(doc.root, "deliveries");
  HL_ASSERT(d && d->type == HL_JSON_ARRAY && d->len == 1);
  const char *err = str_at(&d->u.items[0], "last_error");
  HL_ASSERT_MSG(err && strstr(err, "private address"), "last_error: %s", err ? err : "(none)");
  hl_json_doc_dispose(&doc);
  /* The outcome is recorded after the attempt: nothing more reached the partner. */
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "dns", 2, 0, &doc), 1);
  hl_json_doc_dispose(&doc);

  /* Written in the URL, they are refused at registration. */
  snprintf(u, sizeof u, "%s/admin/subscriptions", hk.base);
  const char *targets[] = {"http://127.0.0.1:9/x", "http://10.1.2.3/x", "http://[::1]:9/x",
                           "http://169.254.169.254/latest", "http://localhost:9/", "http://partner.localhost:9/",
                           "http://LOCALHOST./", "http://[::ffff:127.0.0.1]/", "http://192.168.1.1/",
                           "http://198.18.0.1/", "http://100.64.0.1/", "http://192.0.0.170/", "http://203.0.113.9/",
                           "http://240.0.0.1/", "http://[64:ff9b::a9fe:a9fe]/", "http://[2002:7f00:1::]/",
                           "http://[2001::1]/", "http://[2001:db8::1]/", "http://[fc00::1]/", "http://[fec0::1]/",
                           "http://[100::1]/", "http://127.0.0.1.:9/x", "http://10.1.2.3./x",
                           /* fullwidth letters: libcurl's IDNA processing makes them "localhost" */
                           "http://\uff4c\uff4f\uff43\uff41\uff4c\uff48\uff4f\uff53\uff54:9/"};
  for (size_t i = 0; i < sizeof targets / sizeof *targets; i++) {
    snprintf(body, sizeof body, "{\"partner_id\":\"p%zu\",\"event_type\":\"Payment\",\"url\":\"%s\"}", i, targets[i]);
    HL_ASSERT_MSG(e2e_call("POST", u, body, &doc) == 400, "%s was accepted", targets[i]);
    HL_ASSERT_MSG(strstr(str_at(doc.root, "message"), "HOOKLOOP_ALLOW_PRIVATE_TARGETS") != NULL, "%s: %s", targets[i],
                  str_at(doc.root, "message"));
    hl_json_doc_dispose(&doc);
  }
  /* Public ones are not. No event follows: nothing is sent to them. */
  HL_ASSERT_EQ_INT(e2e_call("POST", u, "{\"partner_id\":\"pub\",\"event_type\":\"Payment\",\"url\":\"http://[64:ff9b::808:808]/\"}", NULL), 201);
  /* Internationalized hosts: one libcurl converts to ASCII is taken (an
   * emoji name through transitional processing, as libcurl falls back to);
   * one it cannot convert, which would fail every delivery, is refused. */
  const char *idn_ok[] = {"http://b\u00fccher.example/x", "http://i\u2764.example/x"};
  for (size_t i = 0; i < sizeof idn_ok / sizeof *idn_ok; i++) {
    snprintf(body, sizeof body, "{\"partner_id\":\"idn%zu\",\"event_type\":\"Payment\",\"url\":\"%s\"}", i, idn_ok[i]);
    HL_ASSERT_MSG(e2e_call("POST", u, body, NULL) == 201, "%s was refused", idn_ok[i]);
  }
  HL_ASSERT_EQ_INT(e2e_call("POST", u, "{\"partner_id\":\"idnx\",\"event_type\":\"Payment\",\"url\":\"http://\u00fc-.example/x\"}",
                            &doc),
                   400);
  HL_ASSERT_MSG(strstr(str_at(doc.root, "message"), "converts to ASCII (IDNA)") != NULL, "%s", str_at(doc.root, "message"));
  hl_json_doc_dispose(&doc);
  stop_both();
}

/* A partner URL with an internationalized host is delivered to: hookloop
 * hands libcurl the host's ASCII form, which libcurl itself could not make
 * under the C locale hookloop runs in (loop/hl_curl_host.h). The host is
 * "b\u00fccher.localhost", which libcurl resolves to loopback once it is
 * xn--bcher-kva.localhost; the partner sees that form in Host. */
HL_TEST_T(an_internationalized_host_is_delivered_to_by_its_ascii_form, 120) {
  const char *allow[] = {"HOOKLOOP_ALLOW_PRIVATE_TARGETS=1", NULL};
  start_both(NULL, allow);
  hl_json_doc doc;
  deliver_one_to("B\u00fccher.localhost", "idn", "evt-idn", &doc);
  char want[64];
  snprintf(want, sizeof want, "xn--bcher-kva.localhost:%d", partner.port);
  HL_ASSERT_EQ_STR(str_at(&doc.root->u.items[0], "host"), want);
  hl_json_doc_dispose(&doc);
  stop_both();
}

/* Deliveries never go through a proxy named in the environment (http_proxy,
 * HTTPS_PROXY, all_proxy, which libcurl would otherwise honour): the
 * address policy checks the address a delivery connects to, and through a
 * proxy that is the proxy's, never the partner's. The "proxy" here is a
 * second mock partner: the delivery reaches the partner, and the proxy sees
 * no request at all. AWS calls still honour the variables: no_proxy keeps
 * the local DynamoDB (127.0.0.1) of the test's DynamoDB build direct, and
 * the partner is named partner.localhost (loopback, RFC 6761, resolved so
 * by libcurl), which no_proxy does not cover. */
HL_TEST_T(deliveries_ignore_proxies_named_in_the_environment, 60) {
  e2e_partner proxy;
  e2e_start_partner(&proxy, NULL);
  char hp[96], hsp[96], ap[96];
  snprintf(hp, sizeof hp, "http_proxy=%s", proxy.base);
  snprintf(hsp, sizeof hsp, "HTTPS_PROXY=%s", proxy.base);
  snprintf(ap, sizeof ap, "all_proxy=%s", proxy.base);
  const char *env[] = {hp, hsp, ap, "no_proxy=127.0.0.1", NULL};
  start_both(NULL, env);
  char url[256];
  snprintf(url, sizeof url, "http://partner.localhost:%d/hook/direct", partner.port);
  free(e2e_setup(&hk, "acme", url, NULL, NULL, 0));
  HL_ASSERT_EQ_INT(e2e_post_event(&hk, "evt-no-proxy", "10"), 202);
  HL_ASSERT_MSG(e2e_wait_status(&hk, "evt-no-proxy", "SUCCESS", 10000), "not delivered");
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "direct", 1, 5000, &doc), 1);
  hl_json_doc_dispose(&doc);
  HL_ASSERT_EQ_INT(e2e_partner_stat(&proxy, "requests"), 0);
  stop_both();
  e2e_stop_partner(&proxy);
}

/* A subscription's answers show no credential: the URL's user and password
 * and the values of its own headers are redacted (the names stay), as the
 * signing secret is after creation; deliveries still use them. */
HL_TEST_T(subscriptions_show_no_credentials, 60) {
  start_both(NULL, NULL);
  char url[256];
  snprintf(url, sizeof url, "http://hook-user:s3cr%%40t-pass@127.0.0.1:%d/hook/cred?x=1", partner.port);
  char *sub = e2e_setup(&hk, "cred", url, "\"headers\":{\"X-Partner-Key\":\"pk-live-0123456789\",\"X-Region\":\"eu\"}",
                        NULL, 0);
  HL_ASSERT_EQ_INT(e2e_post_event(&hk, "evt-cred", "1.00"), 202);
  HL_ASSERT(e2e_wait_status(&hk, "evt-cred", "SUCCESS", 10000));
  char want_url[256];
  snprintf(want_url, sizeof want_url, "http://REDACTED@127.0.0.1:%d/hook/cred?x=1", partner.port);
  char u[256];
  for (int round = 0; round < 2; round++) {
    if (round == 0) snprintf(u, sizeof u, "%s/admin/subscriptions", hk.base);
    else snprintf(u, sizeof u, "%s/admin/subscriptions/%s", hk.base, sub);
    char *raw = NULL;
    HL_ASSERT_EQ_INT(hl_http("GET", u, NULL, 0, NULL, &raw), 200);
    HL_ASSERT_MSG(!strstr(raw, "hook-user") && !strstr(raw, "s3cr") && !strstr(raw, "pass@") &&
                      !strstr(raw, "pk-live") && !strstr(raw, "\"eu\"") && !strstr(raw, "whsec_"),
                  "a credential in %s: %s", u, raw);
    hl_json_doc doc;
    hl_json_doc_init(&doc);
    HL_ASSERT(hl_json_parse(&doc, raw, strlen(raw), NULL) == 0);
    const hl_json *s = doc.root;
    if (round == 0) {
      const hl_json *list = hl_json_get(doc.root, "subscriptions");
      HL_ASSERT(list && list->type == HL_JSON_ARRAY && list->len == 1);
      s = &list->u.items[0];
    }
    HL_ASSERT_EQ_STR(str_at(s, "url"), want_url);
    const hl_json *h = hl_json_get(s, "headers");
    HL_ASSERT(h && h->type == HL_JSON_OBJECT && h->len == 2);
    HL_ASSERT_EQ_STR(str_at(h, "X-Partner-Key"), "REDACTED");
    HL_ASSERT_EQ_STR(str_at(h, "X-Region"), "REDACTED");
    hl_json_doc_dispose(&doc);
    free(raw);
  }
  free(sub);
  stop_both();
}

/* libcurl also reads "http:/user:pass@host" and "http:///user:pass@host"
 * as URLs with credentials, which the answers' redaction and the sealing at
 * rest, looking for the authority after "://", would not see: such a URL
 * is refused at /url, so its password is neither shown nor stored. */
HL_TEST_T(a_url_without_two_slashes_before_its_host_is_refused, 60) {
  start_both(NULL, NULL);
  char u[256], body[512];
  snprintf(u, sizeof u, "%s/hook/s", partner.base);
  free(e2e_setup(&hk, "acme", u, NULL, NULL, 0)); /* the schema */
  snprintf(u, sizeof u, "%s/admin/subscriptions", hk.base);
  const char *forms[] = {"http:/", "http:///", "https:/", "HTTP:///"};
  for (size_t i = 0; i < sizeof forms / sizeof *forms; i++) {
    snprintf(body, sizeof body,
             "{\"partner_id\":\"slash%zu\",\"event_type\":\"Payment\",\"url\":\"%shook-user:s3cr3t-pass@127.0.0.1:%d/hook/s\"}",
             i, forms[i], partner.port);
    hl_json_doc doc;
    int st = e2e_call("POST", u, body, &doc);
    HL_ASSERT_MSG(st == 400, "%s...: answered %d", forms[i], st);
    const hl_json *det = hl_json_get(doc.root, "details");
    HL_ASSERT(det && det->type == HL_JSON_ARRAY && det->len >= 1);
    HL_ASSERT_EQ_STR(str_at(&det->u.items[0], "path"), "/url");
    HL_ASSERT_MSG(!strstr(str_at(doc.root, "message"), "s3cr3t"), "%s", str_at(doc.root, "message"));
    hl_json_doc_dispose(&doc);
  }
  char *raw = NULL;
  HL_ASSERT_EQ_INT(hl_http("GET", u, NULL, 0, NULL, &raw), 200);
  HL_ASSERT_MSG(!strstr(raw, "s3cr3t"), "a credential in the list: %s", raw);
  free(raw);
  /* Two slashes, as every other URL: taken, its credentials redacted. */
  snprintf(body, sizeof body,
           "{\"partner_id\":\"slash\",\"event_type\":\"Payment\",\"url\":\"http://hook-user:s3cr3t-pass@127.0.0.1:%d/hook/s\"}",
           partner.port);
  HL_ASSERT_EQ_INT(e2e_call("POST", u, body, NULL), 201);
  stop_both();
}

HL_TEST_T(auth_tokens_guard_admin_and_api, 60) {
  const char *env[] = {"HOOKLOOP_ADMIN_TOKEN=adm-secret", "HOOKLOOP_API_TOKEN=api-secret", NULL};
  start_both(NULL, env);
  char u[256];
  snprintf(u, sizeof u, "%s/admin/schemas", hk.base);
  HL_ASSERT_EQ_INT(hl_http("GET", u, NULL, 0, NULL, NULL), 401);
  const char *wrong[] = {"Authorization: Bearer api-secret", NULL};
  HL_ASSERT_EQ_INT(hl_http("GET", u, NULL, 0, wrong, NULL), 401);
  const char *right[] = {"Authorization: Bearer adm-secret", NULL};
  HL_ASSERT_EQ_INT(hl_http("GET", u, NULL, 0, right, NULL), 200);
  snprintf(u, sizeof u, "%s/api/v1/events", hk.base);
  HL_ASSERT_EQ_INT(hl_http("POST", u, "{}", 2, NULL, NULL), 401);
  const char *api[] = {"Authorization: Bearer api-secret", NULL};
  HL_ASSERT_EQ_INT(hl_http("POST", u, "{}", 2, api, NULL), 400);
  snprintf(u, sizeof u, "%s/healthz", hk.base);
  HL_ASSERT_EQ_INT(hl_http("GET", u, NULL, 0, NULL, NULL), 200);
  /* Refused on the head, before any of the body: no 100 Continue for a
   * caller without the token, and the 10 MiB the head announces are never
   * read into memory (the answer comes with none of them sent). */
  int fd = hl_connect_loopback(hk.port);
  HL_ASSERT(fd >= 0);
  static const char head[] = "POST /api/v1/events/bulk HTTP/1.1\r\nHost: t\r\nContent-Length: 10485760\r\n"
                             "Content-Type: application/json\r\nExpect: 100-continue\r\n\r\n";
  HL_ASSERT(write(fd, head, sizeof head - 1) == (ssize_t)(sizeof head - 1));
  char ans[2048] = "";
  size_t got = 0;
  while (!strchr(ans, '}')) {
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    HL_ASSERT_MSG(poll(&pfd, 1, 5000) == 1, "no answer before the body; so far: %.80s", ans);
    ssize_t r = read(fd, ans + got, sizeof ans - 1 - got);
    if (r <= 0) break;
    got += (size_t)r;
    ans[got] = '\0';
  }
  HL_ASSERT_MSG(strncmp(ans, "HTTP/1.1 401 ", 13) == 0, "got %.80s", ans);
  HL_ASSERT(strstr(ans, "\r\nwww-authenticate: Bearer\r\n") || strstr(ans, "\r\nWWW-Authenticate: Bearer\r\n"));
  HL_ASSERT(strstr(ans, "HOOKLOOP_API_TOKEN") != NULL);
  close(fd);
  /* Lambda's path (no server in front) answers the same challenge. */
  snprintf(u, sizeof u, "%s/admin/stats", hk.base);
  HL_ASSERT_EQ_INT(hl_http("GET", u, NULL, 0, NULL, NULL), 401);
  snprintf(u, sizeof u, "%s/metrics", hk.base);
  char *m = NULL;
  HL_ASSERT_EQ_INT(hl_http("GET", u, NULL, 0, NULL, &m), 200);
  HL_ASSERT(strstr(m, "hookloop_deliveries_in_flight") != NULL);
  free(m);
  stop_both();
}

/* A trace header with bytes that are not ASCII (not UTF-8 either) is left
 * out, and the event accepted and delivered: on PostgreSQL every write of
 * the event failed on it, a 503 the producer would retry for ever. */
HL_TEST_T(a_trace_header_that_is_not_ascii_is_left_out, 60) {
  start_both(NULL, NULL);
  char url[256];
  snprintf(url, sizeof url, "%s/hook/trace8", partner.base);
  char *sub = e2e_setup(&hk, "trace8", url, NULL, NULL, 0);
  char u[256], body[1024];
  snprintf(u, sizeof u, "%s/api/v1/events", hk.base);
  e2e_event_json(body, sizeof body, "evt-trace8", "1.25");
  const char *hdrs[] = {"Content-Type: application/json", "traceparent: 00-\xff\xfe-01", NULL};
  HL_ASSERT_EQ_INT(hl_http("POST", u, body, strlen(body), hdrs, NULL), 202);
  e2e_wait_delivered(&hk, "evt-trace8", sub, 1);
  free(sub);
  stop_both();
}

#if !defined(HL_TEST_DDB) && !defined(HL_TEST_PG)
/* /metrics shows the loop's turns (hl_loop_stats): counted from the start,
 * and more after work; the histogram's +Inf is the count. */
HL_TEST_T(the_loop_reports_its_turns_on_metrics, 60) {
  start_both(NULL, NULL);
  long long before = e2e_metric(&hk, "hookloop_loop_turn_seconds_count");
  HL_ASSERT_MSG(before > 0, "turns counted before any work: %lld", before);
  char url[256];
  snprintf(url, sizeof url, "%s/hook/turns", partner.base);
  char *sub = e2e_setup(&hk, "turns", url, NULL, NULL, 0);
  HL_ASSERT_EQ_INT(e2e_post_event(&hk, "evt-turns", "1.25"), 202);
  e2e_wait_delivered(&hk, "evt-turns", sub, 1);
  free(sub);
  long long after = e2e_metric(&hk, "hookloop_loop_turn_seconds_count");
  HL_ASSERT_MSG(after > before, "turns %lld, then %lld after a delivery", before, after);
  /* One scrape: every request is more turns. */
  char mu[256], *m = NULL;
  snprintf(mu, sizeof mu, "%s/metrics", hk.base);
  HL_ASSERT_EQ_INT(hl_http("GET", mu, NULL, 0, NULL, &m), 200);
  double inf = e2e_metric_in(m, "hookloop_loop_turn_seconds_bucket{le=\"+Inf\"}");
  HL_ASSERT(inf > 0);
  HL_ASSERT_EQ_INT(inf, e2e_metric_in(m, "hookloop_loop_turn_seconds_count"));
  free(m);
  HL_ASSERT(e2e_metric_f(&hk, "hookloop_loop_busy_seconds_total") > 0);
  HL_ASSERT(e2e_metric_f(&hk, "hookloop_loop_turn_max_seconds") > 0);
  stop_both();
}
#endif

/* URL settings may carry a user and password (an endpoint behind basic
 * auth): the start's configuration line shows them REDACTED, as the
 * subscription answers show a partner URL's. It printed them as given. */
HL_TEST_T(url_settings_are_logged_without_their_credentials, 60) {
  const char *env[] = {"PARTNER_INFO_URL=http://piuser:pipass-Zq8@127.0.0.1:1/{partner_id}",
#ifndef HL_TEST_DDB
                       "DYNAMODB_ENDPOINT=http://ddbuser:ddbpass-Q7x@127.0.0.1:1",
#endif
                       NULL};
  start_both(NULL, env);
  size_t len = 0;
  char *log = hl_read_file(hk.log, &len);
  stop_both();
  HL_ASSERT(log != NULL);
  HL_ASSERT_MSG(strstr(log, "\"configuration\"") != NULL, "no configuration line");
  HL_ASSERT_MSG(strstr(log, "pipass-Zq8") == NULL && strstr(log, "piuser") == NULL, "a credential was logged");
  HL_ASSERT(strstr(log, "http://REDACTED@127.0.0.1:1/{partner_id}") != NULL);
#ifndef HL_TEST_DDB
  HL_ASSERT_MSG(strstr(log, "ddbpass-Q7x") == NULL, "a credential was logged");
  HL_ASSERT(strstr(log, "http://REDACTED@127.0.0.1:1\"") != NULL);
#endif
  free(log);
}

/* Requests a browser makes for another site's page are refused (403
 * forbidden_origin): with no token set, a page anywhere on the web could
 * otherwise change this server through the user's browser (a form POST)
 * or, by DNS rebinding, read it. Clients that are not browsers, and the
 * console's own same-origin requests, go on as before. */
HL_TEST_T(browser_requests_from_other_origins_are_refused, 60) {
  start_both(NULL, NULL);
  char u[256], origin[128], host[128], rebind_origin[128];
  snprintf(u, sizeof u, "%s/admin/schemas", hk.base);
  static const char schema[] = "{\"event_type\":\"Payment\",\"domain\":\"payments\",\"schema\":{\"type\":\"object\"}}";
  char *resp = NULL;
  const char *evil[] = {"Origin: http://evil.example", "Content-Type: text/plain", NULL};
  HL_ASSERT_EQ_INT(hl_http("POST", u, schema, strlen(schema), evil, &resp), 403);
  HL_ASSERT_MSG(resp && strstr(resp, "forbidden_origin"), "%s", resp ? resp : "");
  free(resp);
  resp = NULL;
  const char *cross[] = {"Sec-Fetch-Site: cross-site", NULL};
  HL_ASSERT_EQ_INT(hl_http("POST", u, schema, strlen(schema), cross, NULL), 403);
  /* DNS rebinding: another site's name pointed at this server, so the
   * page is same-origin with it. */
  snprintf(host, sizeof host, "Host: rebind.example:%d", hk.port);
  snprintf(rebind_origin, sizeof rebind_origin, "Origin: http://rebind.example:%d", hk.port);
  const char *rebind[] = {host, rebind_origin, NULL};
  HL_ASSERT_EQ_INT(hl_http("POST", u, schema, strlen(schema), rebind, NULL), 403);
  const char *rebind_get[] = {host, "Sec-Fetch-Site: same-origin", NULL};
  HL_ASSERT_EQ_INT(hl_http("GET", u, NULL, 0, rebind_get, NULL), 403);
  /* Nothing was registered. */
  HL_ASSERT_EQ_INT(hl_http("GET", u, NULL, 0, NULL, &resp), 200);
  HL_ASSERT_MSG(strstr(resp, "Payment") == NULL, "%s", resp);
  free(resp);
  resp = NULL;
  /* The console's own requests: same origin, at the address it was opened. */
  snprintf(origin, sizeof origin, "Origin: %s", hk.base);
  const char *same[] = {origin, "Sec-Fetch-Site: same-origin", NULL};
  HL_ASSERT_EQ_INT(hl_http("POST", u, schema, strlen(schema), same, NULL), 201);
  snprintf(host, sizeof host, "Host: localhost:%d", hk.port);
  snprintf(origin, sizeof origin, "Origin: http://localhost:%d", hk.port);
  const char *local[] = {host, origin, NULL};
  HL_ASSERT_EQ_INT(hl_http("GET", u, NULL, 0, local, NULL), 200);
  /* Open routes stay open under any name. */
  snprintf(u, sizeof u, "%s/healthz", hk.base);
  snprintf(host, sizeof host, "Host: rebind.example:%d", hk.port);
  const char *health[] = {host, rebind_origin, NULL};
  HL_ASSERT_EQ_INT(hl_http("GET", u, NULL, 0, health, NULL), 200);
  stop_both();
}

/* An id accepted before, sent again with another body after a second
 * subscription was registered: a duplicate (200), nothing queued, so the
 * new subscription gets nothing and the first partner the first body once.
 * With the DynamoDB store the events table kept the first record and the
 * DynamoDB queue took the repeat as a retry: 202, and the new subscription
 * got the first event's body. Run on each store, and on DynamoDB with
 * both queues. */
static void repeat_with_another_body(const char *const *env, const char *run) {
  start_both(NULL, env);
  char url[256], id[64], pa[32], pb[32];
  snprintf(id, sizeof id, "evt-dup-body-%s", run);
  snprintf(pa, sizeof pa, "dup-a-%s", run);
  snprintf(pb, sizeof pb, "dup-b-%s", run);
  snprintf(url, sizeof url, "%s/hook/%s", partner.base, pa);
  char *a = e2e_setup(&hk, pa, url, NULL, NULL, 0);
  HL_ASSERT_EQ_INT(e2e_post_event(&hk, id, "1.00"), 202);
  e2e_wait_delivered(&hk, id, a, 1);
  snprintf(url, sizeof url, "%s/hook/%s", partner.base, pb);
  char *b = e2e_setup(&hk, pb, url, NULL, NULL, 0);
  HL_ASSERT_EQ_INT(e2e_post_event(&hk, id, "2.00"), 200);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, pb, 1, 1500, &doc), 0);
  hl_json_doc_dispose(&doc);
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, pa, 1, 1000, &doc), 1);
  HL_ASSERT(strstr(str_at(&doc.root->u.items[0], "body"), "1.00") != NULL);
  hl_json_doc_dispose(&doc);
  free(a);
  free(b);
  stop_both();
}

#ifdef HL_TEST_DDB
/* On the DynamoDB queue a claim leases its rows for 120 s, and a process
 * holds rows past that while they wait for their turn: here a rate limit
 * of 1/s with max_in_flight 100, so one process claims 150 rows at once
 * and sends the last 30 of them more than 120 s later. The holder renews the
 * leases of what it holds, so a second serve process on the same tables
 * finds none of them free and the partner gets each event once. Unrenewed,
 * the second process claimed the rows still waiting when their leases
 * ended and sent them too (the first had checked the ledger before they
 * waited, and sent its copies as well). */
HL_TEST_T(a_row_waiting_for_a_rate_limit_past_its_lease_is_sent_once_on_the_dynamodb_queue, 420) {
  const char *env[] = {"HOOKLOOP_QUEUE=dynamodb", "HOOKLOOP_QUEUE_POLL_MS=200", NULL};
  start_both(NULL, env);
  char url[256];
  snprintf(url, sizeof url, "%s/hook/paced", partner.base);
  free(e2e_setup(&hk, "acme", url, "\"max_in_flight\": 100, \"rate_limit_per_s\": 1", NULL, 0));
  enum { N = 150 };
  e2e_post_bulk(&hk, "evt-r", 0, N);
  hl_sleep_ms(3000); /* the first process has claimed them all */
  e2e_hookloop other = {0};
  e2e_start_hookloop(&other, env);
  for (int waited = 0; waited < 360000 && e2e_partner_stat(&partner, "unique_ids") < N; waited += 500)
    hl_sleep_ms(500);
  hl_sleep_ms(5000); /* a second copy would come right after the first */
  int64_t uniq = e2e_partner_stat(&partner, "unique_ids"), reqs = e2e_partner_stat(&partner, "requests");
  printf("%lld distinct events, %lld requests at the partner\n", (long long)uniq, (long long)reqs);
  e2e_stop_hookloop(&other, SIGTERM, 30000);
  hl_rmtree(other.dir);
  free(other.dir);
  HL_ASSERT_EQ_INT(uniq, N);
  HL_ASSERT_MSG(reqs == N, "%lld requests for %d events: rows whose lease ended while they waited were sent again",
                (long long)reqs, (int)N);
  stop_both();
}

/* A holder that stalls past its leases (stopped here with SIGSTOP, as a
 * frozen sandbox or a paused task would be) cannot renew them: another
 * process claims the rows that waited and sends them. Once it runs again,
 * the first sends none of the deliveries that waited: their leases are no
 * longer its own. It sent them all (its duplicate check was made before
 * they waited), so the partner got them twice. */
HL_TEST_T(a_stalled_holder_does_not_send_deliveries_whose_leases_were_taken_over_on_the_dynamodb_queue, 420) {
  const char *env[] = {"HOOKLOOP_QUEUE=dynamodb", "HOOKLOOP_QUEUE_POLL_MS=200", NULL};
  start_both(NULL, env);
  char url[256];
  snprintf(url, sizeof url, "%s/hook/paced", partner.base);
  free(e2e_setup(&hk, "acme", url, "\"max_in_flight\": 100, \"rate_limit_per_s\": 1", NULL, 0));
  enum { N = 20 };
  e2e_post_bulk(&hk, "evt-s", 0, N);
  hl_sleep_ms(3000); /* the first process has claimed them all, and sent a few */
  HL_ASSERT(kill(hk.pid, SIGSTOP) == 0);
  e2e_hookloop other = {0};
  e2e_start_hookloop(&other, env);
  /* The leases end 120 s after the claim; the other process then claims
   * what waited and sends it. */
  for (int waited = 0; waited < 300000 && e2e_partner_stat(&partner, "unique_ids") < N; waited += 500)
    hl_sleep_ms(500);
  int64_t before = e2e_partner_stat(&partner, "requests");
  HL_ASSERT(kill(hk.pid, SIGCONT) == 0);
  hl_sleep_ms(5000); /* the first process's waiting deliveries would go out at 1/s */
  int64_t uniq = e2e_partner_stat(&partner, "unique_ids"), reqs = e2e_partner_stat(&partner, "requests");
  printf("%lld distinct events, %lld requests at the partner (%lld before the first process ran again)\n",
         (long long)uniq, (long long)reqs, (long long)before);
  e2e_stop_hookloop(&other, SIGTERM, 30000);
  hl_rmtree(other.dir);
  free(other.dir);
  HL_ASSERT_EQ_INT(uniq, N);
  HL_ASSERT_MSG(reqs == before, "%lld requests after the stalled process ran again, for events the other had sent",
                (long long)(reqs - before));
  stop_both();
}
#endif

HL_TEST_T(an_id_sent_again_with_another_body_is_a_duplicate, 120) {
  repeat_with_another_body(NULL, "1");
#ifdef HL_TEST_DDB
  const char *env[] = {"HOOKLOOP_QUEUE=dynamodb", "HOOKLOOP_QUEUE_POLL_MS=50", NULL};
  repeat_with_another_body(env, "2");
#endif
}

/* Thousands of pipelined requests in one write, each answered at once
 * (404): all are answered, in one connection, and the server stays up.
 * Each used to be handled from inside the answer of the one before, ~6.7
 * KiB of stack per request in the API, and ~1,300 of them overflowed the
 * stack (SIGSEGV). */
HL_TEST_T(thousands_of_pipelined_requests_are_all_answered, 120) {
  start_both(NULL, NULL);
  enum { N = 6000 };
  static const char one[] = "GET /no-such-path HTTP/1.1\r\nHost: t\r\n\r\n";
  size_t one_len = sizeof one - 1, total = one_len * N, sent = 0, answers = 0;
  char *stream = malloc(total);
  HL_ASSERT(stream != NULL);
  for (size_t i = 0; i < N; i++) memcpy(stream + i * one_len, one, one_len);
  int fd = hl_connect_loopback(hk.port);
  HL_ASSERT(fd >= 0);
  HL_ASSERT(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == 0);
  static char rbuf[65536 + 16];
  size_t keep = 0; /* the end of the last read, where a status line may be cut */
  while (answers < N) {
    struct pollfd pfd = {.fd = fd, .events = POLLIN | (sent < total ? POLLOUT : 0)};
    HL_ASSERT_MSG(poll(&pfd, 1, 10000) > 0, "stalled: %zu answers, %zu of %zu bytes sent", answers, sent, total);
    if (pfd.revents & POLLOUT) {
      ssize_t w = send(fd, stream + sent, total - sent, MSG_NOSIGNAL);
      if (w > 0) sent += (size_t)w;
    }
    if (!(pfd.revents & (POLLIN | POLLHUP | POLLERR))) continue;
    ssize_t r = read(fd, rbuf + keep, sizeof rbuf - 1 - keep);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) continue;
    HL_ASSERT_MSG(r > 0, "the connection ended after %zu answers", answers);
    size_t len = keep + (size_t)r;
    rbuf[len] = '\0';
    for (const char *p = rbuf; (p = memmem(p, (size_t)(rbuf + len - p), "HTTP/1.1 404 ", 13)) != NULL; p += 13)
      answers++;
    keep = len < 12 ? len : 12;
    memmove(rbuf, rbuf + len - keep, keep);
  }
  HL_ASSERT_EQ_INT(answers, N);
  close(fd);
  free(stream);
  char u[256];
  snprintf(u, sizeof u, "%s/healthz", hk.base);
  HL_ASSERT_EQ_INT(hl_http("GET", u, NULL, 0, NULL, NULL), 200);
  stop_both();
}

/* Every delivery of event id is final (SUCCESS or FAILED); counts them. */
static bool deliveries_final(const char *id, const char *token, int *success, int *failed) {
  char u[256];
  snprintf(u, sizeof u, "%s/admin/deliveries?event_id=%s", hk.base, id);
  for (int waited = 0; waited < 20000; waited += 100) {
    hl_json_doc doc;
    *success = *failed = 0;
    int open = 0;
    if (e2e_call_auth("GET", u, NULL, token, &doc) == 200) {
      const hl_json *d = hl_json_get(doc.root, "deliveries");
      for (uint32_t i = 0; d && i < d->len; i++) {
        const char *st = str_at(&d->u.items[i], "status");
        if (strcmp(st, "SUCCESS") == 0) (*success)++;
        else if (strcmp(st, "FAILED") == 0) (*failed)++;
        else open++;
      }
    }
    hl_json_doc_dispose(&doc);
    if (open == 0 && *success + *failed > 0) return true;
    hl_sleep_ms(100);
  }
  return false;
}

/* Nothing secret reaches the log, even at LOG_LEVEL=debug: subscription
 * secrets (given, and the default one from Secrets Manager), the admin and
 * API tokens (and a wrong one a client sent), AWS keys and session token
 * (used to sign the Secrets Manager reads, and DynamoDB's calls in the
 * DynamoDB variant), credentials in partner URLs (delivered to, and failing
 * to connect) and the values of a subscription's headers. */
HL_TEST_T(no_secret_is_logged_even_at_debug, 180) {
  static const char def_secret[] = "whsec_ZGVmYXVsdC1zZWNyZXQtZnJvbS1zZWNyZXRzLW1hbmFnZXI=";
  static const char sub_secret[] = "whsec_c3Vic2NyaXB0aW9uLXNlY3JldC1sb2ctY2hlY2sh";
  static const char adm[] = "adm-tok-7Q2xLm", api[] = "api-tok-9Kd3Vn";
  int pport = 0;
  char sm[96];
  pid_t proxy = e2e_start_secrets_peer(def_secret, sm, sizeof sm, &pport);
  const char *env[] = {"LOG_LEVEL=debug", "HOOKLOOP_ADMIN_TOKEN=adm-tok-7Q2xLm", "HOOKLOOP_API_TOKEN=api-tok-9Kd3Vn",
                       "WEBHOOK_SECRET_ARN=arn:aws:secretsmanager:eu-west-1:123456789012:secret:hookloop-AbCdEf", sm,
                       "AWS_ACCESS_KEY_ID=AKIALOGCHECKEXAMPLE7", "AWS_SECRET_ACCESS_KEY=aws-secret-key-L0gCh3ckWx",
                       "AWS_SESSION_TOKEN=aws-session-token-Zz81Yq", NULL};
  start_both(NULL, env);
  int refused_port;
  int refused = hl_hold_port(&refused_port); /* bound, not listening */
  HL_ASSERT(refused >= 0);
  char u[256], body[1024];
  snprintf(u, sizeof u, "%s/admin/schemas", hk.base);
  HL_ASSERT_EQ_INT(e2e_call_auth("POST", u, "{\"event_type\":\"Payment\",\"domain\":\"payments\",\"schema\":true}", adm, NULL), 201);
  snprintf(u, sizeof u, "%s/admin/subscriptions", hk.base);
  snprintf(body, sizeof body,
           "{\"partner_id\":\"sec\",\"event_type\":\"Payment\",\"url\":\"http://hookuser:url-pass-Qw3Ee@127.0.0.1:%d/hook/sec?codes=503,200\","
           "\"secret\":\"%s\",\"headers\":{\"Authorization\":\"Bearer hdr-tok-Hh4Tt\",\"X-Api-Key\":\"hdr-key-Jj5Uu\"}}",
           partner.port, sub_secret);
  HL_ASSERT_EQ_INT(e2e_call_auth("POST", u, body, adm, NULL), 201);
  snprintf(body, sizeof body, "{\"partner_id\":\"dflt\",\"event_type\":\"Payment\",\"url\":\"%s/hook/dflt\"}", partner.base);
  HL_ASSERT_EQ_INT(e2e_call_auth("POST", u, body, adm, NULL), 201);
  snprintf(body, sizeof body, "{\"partner_id\":\"down\",\"event_type\":\"Payment\","
           "\"url\":\"http://downuser:url-pass-Rr6Ii@127.0.0.1:%d/x\",\"headers\":{\"X-Down-Key\":\"hdr-key-Kk7Oo\"}}",
           refused_port);
  HL_ASSERT_EQ_INT(e2e_call_auth("POST", u, body, adm, NULL), 201);
  HL_ASSERT_EQ_INT(e2e_call_auth("GET", u, NULL, "wrong-tok-Pp7Aa", NULL), 401);
  snprintf(u, sizeof u, "%s/api/v1/events", hk.base);
  const char *ev = "{\"eventHeader\":{\"uuid\":\"evt-nolog\",\"eventType\":\"Payment\"},\"amount\":1}";
  HL_ASSERT_EQ_INT(e2e_call_auth("POST", u, ev, "wrong-tok-Pp7Aa", NULL), 401);
  HL_ASSERT_EQ_INT(e2e_call_auth("POST", u, ev, api, NULL), 202);
  int success = 0, failed = 0;
  HL_ASSERT(deliveries_final("evt-nolog", adm, &success, &failed));
  HL_ASSERT_EQ_INT(success, 2);
  HL_ASSERT_EQ_INT(failed, 1);
  /* The secrets were really in use: both signatures check out. */
  assert_signed_with("sec", 2, 1, sub_secret, "evt-nolog");
  assert_signed_with("dflt", 1, 0, def_secret, "evt-nolog");
  int st = e2e_stop_hookloop(&hk, SIGTERM, 30000); /* every line written */
  HL_ASSERT_MSG(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status %d", st);
  char *log = hl_read_file(hk.log, NULL);
  HL_ASSERT(log != NULL);
  HL_ASSERT_MSG(strstr(log, "\"level\":\"debug\""), "no debug line: the check would prove nothing");
  HL_ASSERT(strstr(log, "\"outcome\":\"failed\"")); /* the refused connection was logged */
  static const char *const secrets[] = {
    def_secret + 6, sub_secret + 6, adm, api, "wrong-tok-Pp7Aa",
    "AKIALOGCHECKEXAMPLE7", "aws-secret-key-L0gCh3ckWx", "aws-session-token-Zz81Yq",
    "url-pass-Qw3Ee", "url-pass-Rr6Ii", "aG9va3VzZXI6dXJsLXBhc3MtUXczRWU=" /* base64 of the Basic credentials */,
    "hdr-tok-Hh4Tt", "hdr-key-Jj5Uu", "hdr-key-Kk7Oo",
  };
  for (size_t i = 0; i < sizeof secrets / sizeof *secrets; i++) {
    const char *at = strstr(log, secrets[i]);
    HL_ASSERT_MSG(at == NULL, "the log holds \"%s\": %.200s", secrets[i], at ? (at > log + 100 ? at - 100 : log) : "");
  }
  /* Every line is one JSON object (but the port's announcement on stdout),
   * the start-up line with every setting too: it was once cut at 2 KB. */
  int lines = 0, settings = 0;
  for (char *p = log, *nl; *p; p = nl + 1) {
    nl = strchr(p, '\n');
    HL_ASSERT_MSG(nl != NULL, "a last line without its end: %.200s", p);
    if (strncmp(p, "listening ", 10) == 0) continue;
    hl_json_doc line;
    hl_json_doc_init(&line);
    HL_ASSERT_MSG(hl_json_parse(&line, p, (size_t)(nl - p), NULL) == 0 && line.root->type == HL_JSON_OBJECT,
                  "not a JSON object: %.*s", (int)(nl - p > 300 ? 300 : nl - p), p);
    const hl_json *msg = hl_json_get(line.root, "msg");
    const hl_json *config = hl_json_get(line.root, "config");
    if (msg && hl_json_str(msg) && strcmp(hl_json_str(msg), "configuration") == 0 && config)
      settings = config->type == HL_JSON_OBJECT ? (int)config->len : -1;
    hl_json_doc_dispose(&line);
    lines++;
  }
  HL_ASSERT_MSG(lines > 20, "%d lines", lines);
  HL_ASSERT_MSG(settings > 80, "the start-up line names %d settings", settings);
  free(log);
  close(refused);
  stop_both();
  kill(proxy, SIGTERM);
  hl_wait(proxy, 3000);
}

/* Memory follows what is in flight: a subscription holds its in-flight
 * requests plus one claim (at most 512) ready to go, however long its
 * backlog, so 10,000 in flight do not hold 20,000 bodies. The partner
 * holds every request until released, so the window is watched for as
 * long as it takes, with no clock in the assertion. */
HL_TEST_T(memory_holds_in_flight_plus_one_claim, 180) {
  start_both(NULL, NULL);
  char url[256];
  snprintf(url, sizeof url, "%s/hook/mem?hold=1", partner.base);
  enum { LIMIT = 600, BACKLOG = 2400, PER = 600 };
  /* Held requests must not time out (30 s by default) before the release:
   * a loaded machine (ASan, DynamoDB) can take that long to get there, and
   * each timeout is a retry the partner counts again. */
  free(e2e_setup(&hk, "acme", url, "\"max_in_flight\": 600, \"timeout_ms\": 300000", NULL, 0));
  for (int k = 0; k < BACKLOG / PER; k++) e2e_post_bulk(&hk, "mem-", k * PER, PER);
  /* Nothing is answered: wait until the limit is in use, at the partner too. */
  long long in_flight = 0, in_memory = 0;
  for (int waited = 0; waited < 60000 && (in_flight < LIMIT || e2e_partner_stat(&partner, "held") < LIMIT);
       waited += 50) {
    hl_sleep_ms(50);
    in_flight = e2e_metric(&hk, "hookloop_deliveries_in_flight");
  }
  HL_ASSERT_EQ_INT(in_flight, LIMIT);
  HL_ASSERT_EQ_INT(e2e_partner_stat(&partner, "held"), LIMIT);
  /* Claims go on until memory is full, then stop while nothing completes:
   * wait until the gauge holds still over several reads. */
  long long last = -1;
  int same = 0;
  for (int waited = 0; waited < 60000 && same < 5; waited += 100) {
    hl_sleep_ms(100);
    in_memory = e2e_metric(&hk, "hookloop_deliveries_in_memory");
    same = in_memory == last ? same + 1 : 0;
    last = in_memory;
  }
  HL_ASSERT_MSG(same >= 5, "the in-memory gauge never settled (last %lld)", in_memory);
  /* The next requests are ready (more than in flight), but no more than
   * one claim's worth (as many again as in flight, at most 512). */
  HL_ASSERT_MSG(in_memory > LIMIT && in_memory <= LIMIT + 512,
                "%lld deliveries in memory with %d in flight", in_memory, LIMIT);
  HL_ASSERT_EQ_INT(e2e_metric(&hk, "hookloop_deliveries_in_flight"), LIMIT); /* still nothing answered */
  /* Released, every one of the backlog arrives, each once. */
  HL_ASSERT_EQ_INT(e2e_release_until(&partner, "mem", BACKLOG, 120000), BACKLOG);
  HL_ASSERT_EQ_INT(e2e_partner_stat(&partner, "unique_ids"), BACKLOG);
  stop_both();
}

HL_TEST_T(sigterm_drains_in_flight_deliveries, 120) {
  start_both(NULL, NULL);
  char url[256];
  snprintf(url, sizeof url, "%s/hook/drain?latency_ms=1000", partner.base);
  free(e2e_setup(&hk, "acme", url, NULL, NULL, 0));
  char id[64];
  for (int i = 0; i < 5; i++) {
    snprintf(id, sizeof id, "evt-drain-%d", i);
    HL_ASSERT_EQ_INT(e2e_post_event(&hk, id, "1"), 202);
  }
  hl_sleep_ms(300); /* all five are now waiting for the slow partner */
  uint64_t t0 = (uint64_t)time(NULL);
  int st = e2e_stop_hookloop(&hk, SIGTERM, 20000);
  HL_ASSERT_MSG(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status %d", st);
  HL_ASSERT((uint64_t)time(NULL) - t0 < 10);
  /* The partner answered all five, and hookloop recorded them before exit. */
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "drain", 5, 1000, &doc), 5);
  hl_json_doc_dispose(&doc);
  e2e_start_hookloop(&hk, NULL);
  for (int i = 0; i < 5; i++) {
    snprintf(id, sizeof id, "evt-drain-%d", i);
    char s[32];
    e2e_status(&hk, id, s, sizeof s, NULL);
    HL_ASSERT_EQ_STR(s, "SUCCESS");
  }
  hl_sleep_ms(300);
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "drain", 6, 200, &doc), 5); /* nothing sent twice */
  hl_json_doc_dispose(&doc);
  stop_both();
}

/* While a drain waits for a slow partner the process still answers: a
 * health probe on a new connection (as ECS and ALB probes are) gets 503
 * "draining", and an event 503 with Retry-After, each answer ending its
 * connection. Before, the drain closed the listener: the probe's
 * connection was refused, which reads as a crash. */
HL_TEST_T(a_health_check_during_a_drain_answers_draining, 60) {
  start_both(NULL, NULL);
  char url[256];
  snprintf(url, sizeof url, "%s/hook/drainhealth?hold=1", partner.base);
  free(e2e_setup(&hk, "acme", url, NULL, NULL, 0));
  HL_ASSERT_EQ_INT(e2e_post_event(&hk, "evt-drain-health", "1"), 202);
  hl_sleep_ms(300); /* the delivery is held by the partner: the drain will wait */
  HL_ASSERT_EQ_INT(kill(hk.pid, SIGTERM), 0);
  char hurl[128];
  snprintf(hurl, sizeof hurl, "%s/healthz", hk.base);
  /* Until the process has taken the signal it answers 200 ok; the drain
   * waits for the held delivery, so once it has, "draining" holds. */
  long st = 0;
  bool draining = false;
  for (int waited = 0; waited < 10000 && !draining; waited += 100) {
    hl_json_doc doc;
    st = e2e_call("GET", hurl, NULL, &doc);
    const char *status = st > 0 ? e2e_json_str(doc.root, "status") : NULL;
    draining = st == 503 && status && strcmp(status, "draining") == 0;
    bool ok = st == 200 && status && strcmp(status, "ok") == 0;
    if (st > 0) hl_json_doc_dispose(&doc);
    if (!draining && !ok) break; /* neither answer: refused, or another */
    if (!draining) hl_sleep_ms(100);
  }
  fprintf(stderr, "GET /healthz during the drain: %ld\n", st);
  long ev = e2e_post_event(&hk, "evt-drain-health-2", "2");
  e2e_release_until(&partner, "drainhealth", 1, 5000);
  /* The drain ends by itself once the delivery is recorded. A second
   * SIGTERM would end it at once (as documented), so none is sent: on a
   * loaded machine it came before the record, and the exit was the
   * signal's. */
  int ws = hl_wait(hk.pid, 20000);
  hk.pid = 0;
  HL_ASSERT_MSG(ws >= 0 && WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "exit status %d", ws);
  HL_ASSERT_MSG(draining, "health during the drain answered %ld, not 503 draining", st);
  HL_ASSERT_MSG(ev == 503, "an event posted during the drain got %ld, not 503", ev);
  stop_both();
}

HL_TEST_T(rate_limit_per_subscription_spaces_requests, 60) {
  start_both(NULL, NULL);
  char url[256];
  snprintf(url, sizeof url, "%s/hook/rated", partner.base);
  free(e2e_setup(&hk, "acme", url, "\"rate_limit_per_s\": 5", NULL, 0));
  char id[64];
  for (int i = 0; i < 8; i++) {
    snprintf(id, sizeof id, "evt-rate-%d", i);
    HL_ASSERT_EQ_INT(e2e_post_event(&hk, id, "1"), 202);
  }
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "rated", 8, 10000, &doc), 8);
  double first = hl_json_double(hl_json_get(&doc.root->u.items[0], "time_ms"));
  double last = hl_json_double(hl_json_get(&doc.root->u.items[7], "time_ms"));
  /* One token to start, then 5 per second: 7 more take at least 1.4 s. */
  HL_ASSERT_MSG(last - first >= 1300, "8 requests within %.0f ms at 5/s", last - first);
  hl_json_doc_dispose(&doc);
  stop_both();
}

HL_TEST_T(process_limit_is_shared_fairly, 90) {
  const char *env[] = {"HOOKLOOP_MAX_IN_FLIGHT=2", NULL};
  start_both(NULL, env);
  char url[256];
  snprintf(url, sizeof url, "%s/hook/one?latency_ms=100", partner.base);
  free(e2e_setup(&hk, "one", url, NULL, NULL, 0));
  snprintf(url, sizeof url, "%s/hook/two?latency_ms=100", partner.base);
  free(e2e_setup(&hk, "two", url, NULL, NULL, 0));
  char id[64];
  for (int i = 0; i < 10; i++) {
    snprintf(id, sizeof id, "evt-fair-%d", i);
    HL_ASSERT_EQ_INT(e2e_post_event(&hk, id, "1"), 202);
  }
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "one", 10, 20000, &doc), 10);
  hl_json_doc_dispose(&doc);
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "two", 10, 20000, &doc), 10);
  hl_json_doc_dispose(&doc);
  char u[256];
  snprintf(u, sizeof u, "%s/stats", partner.base);
  HL_ASSERT_EQ_INT(e2e_call("GET", u, NULL, &doc), 200);
  int64_t maxc = -1;
  hl_json_int64(hl_json_get(doc.root, "max_concurrent"), &maxc);
  HL_ASSERT_MSG(maxc == 2, "the process limit is 2, the partner saw %lld at once", (long long)maxc);
  hl_json_doc_dispose(&doc);
  stop_both();
}

HL_TEST_T(backpressure_answers_503_with_retry_after, 60) {
  const char *env[] = {"HOOKLOOP_QUEUE_HIGH_WATER=3", NULL};
  start_both(NULL, env);
  char url[256];
  snprintf(url, sizeof url, "%s/hook/slow?latency_ms=3000", partner.base);
  free(e2e_setup(&hk, "acme", url, NULL, NULL, 0));
  char u[256], body[512], ra[32] = "";
  snprintf(u, sizeof u, "%s/api/v1/events", hk.base);
  int accepted = 0, refused = 0;
  for (int i = 0; i < 6; i++) {
    snprintf(body, sizeof body, "{\"eventHeader\":{\"uuid\":\"bp-%d\",\"eventType\":\"Payment\"},\"amount\":1,\"currency\":\"EUR\"}", i);
    const char *hdrs[] = {"Content-Type: application/json", NULL};
    long code = hl_http_hdr("POST", u, body, strlen(body), hdrs, NULL, "retry-after", ra, sizeof ra);
    if (code == 202) accepted++;
    else if (code == 503) refused++;
  }
  HL_ASSERT_EQ_INT(accepted, 3);
  HL_ASSERT_EQ_INT(refused, 3);
  HL_ASSERT(atoi(ra) >= 1);
  stop_both();
}

HL_TEST_T(schemas_reference_registered_schemas, 60) {
  start_both(NULL, NULL);
  char u[256];
  snprintf(u, sizeof u, "%s/admin/schemas", hk.base);
  /* A shared definition, registered as its own schema with an $id. */
  HL_ASSERT_EQ_INT(e2e_call("POST", u,
      "{\"event_type\":\"Money\",\"domain\":\"common\",\"schema\":{\"$id\":\"urn:example:money\","
      "\"type\":\"object\",\"required\":[\"value\",\"currency\"],\"properties\":{\"value\":{\"type\":\"number\","
      "\"multipleOf\":0.01},\"currency\":{\"enum\":[\"EUR\",\"USD\"]}}}}", NULL), 201);
  HL_ASSERT_EQ_INT(e2e_call("POST", u,
      "{\"event_type\":\"Refund\",\"domain\":\"payments\",\"schema\":{\"type\":\"object\","
      "\"properties\":{\"total\":{\"$ref\":\"urn:example:money\"}}}}", NULL), 201);
  /* Unknown remote documents are refused (never fetched). */
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_call("POST", u,
      "{\"event_type\":\"X\",\"domain\":\"d\",\"schema\":{\"$ref\":\"https://schemas.example/x.json\"}}", &doc), 400);
  HL_ASSERT_EQ_STR(str_at(&hl_json_get(doc.root, "details")->u.items[0], "keyword"), "$ref");
  hl_json_doc_dispose(&doc);
  snprintf(u, sizeof u, "%s/api/v1/events", hk.base);
  HL_ASSERT_EQ_INT(e2e_call("POST", u, "{\"eventHeader\":{\"uuid\":\"r-1\",\"eventType\":\"Refund\"},"
                                     "\"total\":{\"value\":10.50,\"currency\":\"EUR\"}}", NULL), 202);
  HL_ASSERT_EQ_INT(e2e_call("POST", u, "{\"eventHeader\":{\"uuid\":\"r-2\",\"eventType\":\"Refund\"},"
                                     "\"total\":{\"value\":10.505,\"currency\":\"EUR\"}}", &doc), 400);
  HL_ASSERT_EQ_STR(str_at(&hl_json_get(doc.root, "details")->u.items[0], "path"), "/total/value");
  hl_json_doc_dispose(&doc);
  /* After a restart the reference still resolves (schemas reload from the store). */
  e2e_stop_hookloop(&hk, SIGTERM, 10000);
  e2e_start_hookloop(&hk, NULL);
  snprintf(u, sizeof u, "%s/api/v1/events", hk.base);
  HL_ASSERT_EQ_INT(e2e_call("POST", u, "{\"eventHeader\":{\"uuid\":\"r-3\",\"eventType\":\"Refund\"},"
                                     "\"total\":{\"value\":1,\"currency\":\"GBP\"}}", NULL), 400);
  stop_both();
}

/* An "$id" names one document: a second registration giving it to another
 * document is refused at /schema/$id. Accepted, a "$ref" to it resolved to
 * whichever of the two the registry's hash order met first, and after a
 * restart to the one the store listed first, so an event's verdict could
 * change with a restart. The same document again (another version of it)
 * is fine. */
HL_TEST_T(an_id_already_naming_another_registered_document_is_refused, 60) {
  start_both(NULL, NULL);
  char u[256];
  snprintf(u, sizeof u, "%s/admin/schemas", hk.base);
  const char *cents = "{\"event_type\":\"Cash\",\"domain\":\"common\",\"version\":%d,\"schema\":{\"$id\":"
                      "\"urn:example:cash\",\"type\":\"number\",\"multipleOf\":%s}}";
  char body[512];
  snprintf(body, sizeof body, cents, 1, "0.01");
  HL_ASSERT_EQ_INT(e2e_call("POST", u, body, NULL), 201);
  hl_json_doc doc;
  snprintf(body, sizeof body, cents, 2, "1");
  HL_ASSERT_EQ_INT(e2e_call("POST", u, body, &doc), 400);
  HL_ASSERT_EQ_STR(str_at(doc.root, "error"), "invalid_request");
  HL_ASSERT_EQ_STR(str_at(&hl_json_get(doc.root, "details")->u.items[0], "path"), "/schema/$id");
  hl_json_doc_dispose(&doc);
  snprintf(body, sizeof body, cents, 3, "0.01");
  HL_ASSERT_EQ_INT(e2e_call("POST", u, body, NULL), 201);
  /* Version 1 registered again with another document: the $id is still
   * version 3's. */
  snprintf(body, sizeof body, cents, 1, "1");
  HL_ASSERT_EQ_INT(e2e_call("POST", u, body, NULL), 400);
  HL_ASSERT_EQ_INT(e2e_call("POST", u,
      "{\"event_type\":\"Tip\",\"domain\":\"shop\",\"schema\":{\"type\":\"object\","
      "\"properties\":{\"amount\":{\"$ref\":\"urn:example:cash\"}}}}", NULL), 201);
  snprintf(u, sizeof u, "%s/api/v1/events", hk.base);
  HL_ASSERT_EQ_INT(e2e_call("POST", u, "{\"eventHeader\":{\"uuid\":\"t-1\",\"eventType\":\"Tip\"},\"amount\":1.5}", NULL),
                   202);
  e2e_stop_hookloop(&hk, SIGTERM, 10000);
  e2e_start_hookloop(&hk, NULL);
  snprintf(u, sizeof u, "%s/api/v1/events", hk.base);
  HL_ASSERT_EQ_INT(e2e_call("POST", u, "{\"eventHeader\":{\"uuid\":\"t-2\",\"eventType\":\"Tip\"},\"amount\":1.5}", NULL),
                   202);
  stop_both();
}

/* A registration body for domain "d" and event_type type whose schema has
 * n string properties with a pattern each (a large one for n in the
 * thousands), then the members of tail (which may be empty). */
static void schema_body(hl_buf *out, const char *type, int n, const char *tail) {
  hl_buf_printf(out, "{\"event_type\":\"%s\",\"domain\":\"d\",\"schema\":{\"type\":\"object\",\"properties\":{", type);
  for (int i = 0; i < n; i++) hl_buf_printf(out, "\"f%d\":{\"type\":\"string\",\"pattern\":\"^a%d[0-9]+$\"},", i, i);
  hl_buf_printf(out, "\"total\":{\"$ref\":\"urn:example:money\"}}%s}}", tail);
}

/* The first error of a 400 invalid_schema answer, as one line. */
static void first_error(const hl_json *root, char *out, size_t cap) {
  const hl_json *e = &hl_json_get(root, "details")->u.items[0];
  snprintf(out, cap, "%s | %s | %s | %s | %s", str_at(root, "error"), str_at(root, "message"), str_at(e, "path"),
           str_at(e, "keyword"), str_at(e, "schema_path"));
}

/* The same registration answered for a small body (checked on the loop) and
 * a large one (over 64 KiB: parsed, compiled and checked against the
 * meta-schema on the threadpool, so that thousands of patterns compiled do
 * not hold the loop): 201, or 400 invalid_schema with the same pointers.
 * hookloop_schema_compiles_total{where} says where each ran. */
HL_TEST_T(a_large_schema_is_compiled_on_the_threadpool_with_the_same_answers, 90) {
  start_both(NULL, NULL);
  const char *loop_n = "hookloop_schema_compiles_total{where=\"loop\"}";
  const char *pool_n = "hookloop_schema_compiles_total{where=\"threadpool\"}";
  char u[256];
  snprintf(u, sizeof u, "%s/admin/schemas", hk.base);
  HL_ASSERT_EQ_INT(e2e_call("POST", u,
      "{\"event_type\":\"Money\",\"domain\":\"common\",\"schema\":{\"$id\":\"urn:example:money\","
      "\"type\":\"object\",\"required\":[\"value\"],\"properties\":{\"value\":{\"type\":\"number\"}}}}", NULL), 201);
  long long loop0 = e2e_metric(&hk, loop_n);
  HL_ASSERT_MSG(loop0 >= 1, "%s is %lld", loop_n, loop0);
  HL_ASSERT_EQ_INT(e2e_metric(&hk, pool_n), 0);

  /* Valid: 201 with its id and topic; the $ref to a registered schema resolves. */
  hl_buf big = HL_BUF_INIT;
  schema_body(&big, "Big", 4000, "");
  HL_ASSERT_MSG(big.len > 64 * 1024, "%zu bytes", big.len);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_call("POST", u, big.data, &doc), 201);
  HL_ASSERT_EQ_STR(str_at(doc.root, "schema_id"), "d.Big.v1");
  HL_ASSERT_EQ_STR(str_at(doc.root, "ingress_topic"), "wh.ingress.d.Big.v1");
  hl_json_doc_dispose(&doc);
  HL_ASSERT_EQ_INT(e2e_metric(&hk, pool_n), 1);
  HL_ASSERT_EQ_INT(e2e_metric(&hk, loop_n), loop0);
  char ev[256];
  snprintf(ev, sizeof ev, "%s/api/v1/events", hk.base);
  HL_ASSERT_EQ_INT(e2e_call("POST", ev, "{\"eventHeader\":{\"uuid\":\"big-1\",\"eventType\":\"Big\"},"
                                      "\"f7\":\"a71\",\"total\":{\"value\":1}}", NULL), 202);
  HL_ASSERT_EQ_INT(e2e_call("POST", ev, "{\"eventHeader\":{\"uuid\":\"big-2\",\"eventType\":\"Big\"},"
                                      "\"f3999\":\"b\"}", &doc), 400);
  HL_ASSERT_EQ_STR(str_at(&hl_json_get(doc.root, "details")->u.items[0], "path"), "/f3999");
  hl_json_doc_dispose(&doc);

  /* Not usable (a pattern that is no regex), then not a schema by its
   * meta-schema ("required" items twice): the answers of a small body. */
  for (int t = 0; t < 2; t++) {
    hl_buf one = HL_BUF_INIT, many = HL_BUF_INIT;
    if (t == 0) {
      hl_buf_puts(&one, "{\"event_type\":\"Bad\",\"domain\":\"d\",\"schema\":{\"properties\":{\"bad\":{\"pattern\":\"(\"}}}}");
      hl_buf_puts(&many, "{\"event_type\":\"Bad\",\"domain\":\"d\",\"schema\":{\"properties\":{");
      for (int i = 0; i < 4000; i++) hl_buf_printf(&many, "\"f%d\":{\"pattern\":\"^a%d$\"},", i, i);
      hl_buf_puts(&many, "\"bad\":{\"pattern\":\"(\"}}}}");
    } else {
      schema_body(&one, "Bad", 2, ",\"required\":[\"f1\",\"f1\"]");
      schema_body(&many, "Bad", 4000, ",\"required\":[\"f1\",\"f1\"]");
    }
    HL_ASSERT_MSG(one.len < 64 * 1024 && many.len > 64 * 1024, "%zu / %zu bytes", one.len, many.len);
    char small_err[1200], big_err[1200];
    HL_ASSERT_EQ_INT(e2e_call("POST", u, one.data, &doc), 400);
    first_error(doc.root, small_err, sizeof small_err);
    hl_json_doc_dispose(&doc);
    HL_ASSERT_EQ_INT(e2e_call("POST", u, many.data, &doc), 400);
    first_error(doc.root, big_err, sizeof big_err);
    hl_json_doc_dispose(&doc);
    HL_ASSERT_EQ_STR(big_err, small_err);
    HL_ASSERT_MSG(strstr(big_err, t == 0 ? "/properties/bad/pattern" : "/required"), "%s", big_err);
    hl_buf_dispose(&one);
    hl_buf_dispose(&many);
  }
  HL_ASSERT_EQ_INT(e2e_metric(&hk, pool_n), 3);
  HL_ASSERT_EQ_INT(e2e_metric(&hk, loop_n), loop0 + 2);
  hl_buf_dispose(&big);
  stop_both();
}

HL_TEST_T(updating_a_subscription_keeps_its_backlog, 90) {
  start_both(NULL, NULL);
  char url[256];
  snprintf(url, sizeof url, "%s/hook/upd", partner.base);
  char *sub = e2e_setup(&hk, "acme", url, "\"rate_limit_per_s\": 1", NULL, 0);
  char id[64];
  for (int i = 0; i < 20; i++) {
    snprintf(id, sizeof id, "evt-upd-%d", i);
    HL_ASSERT_EQ_INT(e2e_post_event(&hk, id, "1"), 202);
  }
  hl_sleep_ms(300); /* one or two delivered, the rest claimed and waiting */
  /* The same partner and type again, without the rate limit: updated in place. */
  char *again = e2e_setup(&hk, "acme", url, NULL, NULL, 0);
  HL_ASSERT_EQ_STR(again, sub);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "upd", 20, 5000, &doc), 20);
  hl_json_doc_dispose(&doc);
  free(sub);
  free(again);
  stop_both();
}

/* How many of sub's deliveries have this status (and, when err is not
 * NULL, this last_error), from GET /admin/deliveries?subscription_id=. */
static int deliveries_with(const char *sub, const char *status, const char *err) {
  char u[512];
  snprintf(u, sizeof u, "%s/admin/deliveries?subscription_id=%s&limit=500", hk.base, sub);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_call("GET", u, NULL, &doc), 200);
  const hl_json *list = hl_json_get(doc.root, "deliveries");
  HL_ASSERT(list != NULL && list->type == HL_JSON_ARRAY);
  int n = 0;
  for (uint32_t i = 0; i < list->len; i++) {
    const hl_json *d = &list->u.items[i];
    const char *e = str_at(d, "last_error");
    if (strcmp(str_at(d, "status"), status) == 0 && (!err || (e && strcmp(e, err) == 0))) n++;
  }
  hl_json_doc_dispose(&doc);
  return n;
}

/* Two subscriptions of one partner each, "gone" and "live", both held by
 * the partner (max_in_flight 1), and six events to both: one delivery of
 * each in flight, the rest waiting; every one of gone's PENDING (in
 * flight: PENDING until answered). */
static void gone_and_live(const char *const *env, char **gone, char **live) {
  start_both(NULL, env);
  char gone_url[256], live_url[256];
  snprintf(gone_url, sizeof gone_url, "%s/hook/gone?hold=1", partner.base);
  snprintf(live_url, sizeof live_url, "%s/hook/live?hold=1", partner.base);
  *gone = e2e_setup(&hk, "gone", gone_url, "\"max_in_flight\": 1", NULL, 0);
  *live = e2e_setup(&hk, "live", live_url, "\"max_in_flight\": 1", NULL, 0);
  char id[64];
  for (int i = 0; i < 6; i++) {
    snprintf(id, sizeof id, "evt-gone-%d", i);
    HL_ASSERT_EQ_INT(e2e_post_event(&hk, id, "1"), 202);
  }
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "gone", 1, 10000, &doc), 1);
  hl_json_doc_dispose(&doc);
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "live", 1, 10000, &doc), 1);
  hl_json_doc_dispose(&doc);
  HL_ASSERT_EQ_INT(deliveries_with(*gone, "PENDING", NULL), 6);
}

/* A deleted subscription's deliveries still waiting are closed (FAILED,
 * "the subscription was deleted") by retention's sweep (SQLite, PostgreSQL, and DynamoDB
 * over its SQLite queue, which asks DynamoDB which subscriptions exist), so the backlog
 * does not keep them open and counted for ever; the one in flight ends as
 * it ends, and another subscription's waiting deliveries are not touched.
 * Before, they stayed PENDING: never sent, never purged, in the backlog. */
HL_TEST_T(a_deleted_subscriptions_waiting_deliveries_are_closed, 90) {
  /* Retention's tick every 300 ms; nothing here is old enough to purge. */
  const char *env[] = {"HOOKLOOP_RETENTION_UNIT_MS=300", "HOOKLOOP_RETENTION_DAYS=36500",
                       "HOOKLOOP_RETENTION_FAILED_DAYS=36500", NULL};
  char *gone, *live;
  gone_and_live(env, &gone, &live);
  hl_json_doc doc;
  char id[64];
  HL_ASSERT_EQ_INT(e2e_metric(&hk, "hookloop_queue_backlog"), 12);
  char u[512];
  snprintf(u, sizeof u, "%s/admin/subscriptions/%s", hk.base, gone);
  HL_ASSERT_EQ_INT(e2e_call("DELETE", u, NULL, NULL), 204);
  snprintf(u, sizeof u, "%s/release?name=gone", partner.base);
  HL_ASSERT_EQ_INT(e2e_call("POST", u, NULL, NULL), 200);
  int closed = 0;
  for (int t = 0; t < 100 && (closed = deliveries_with(gone, "FAILED", "the subscription was deleted")) < 5; t++)
    hl_sleep_ms(100);
  HL_ASSERT_EQ_INT(closed, 5);
  HL_ASSERT_EQ_INT(deliveries_with(gone, "PENDING", NULL) + deliveries_with(gone, "RETRYING", NULL), 0);
  HL_ASSERT_EQ_INT(deliveries_with(gone, "SUCCESS", NULL), 1); /* the one in flight was answered */
  HL_ASSERT_EQ_INT(e2e_requests_so_far(&partner, "gone"), 1);
  HL_ASSERT_EQ_INT(e2e_metric(&hk, "hookloop_deleted_subscription_deliveries_closed_total"), 5);
  /* Re-queued, one would wait for nothing again: refused. */
  snprintf(u, sizeof u, "%s/admin/deliveries/evt-gone-5/%s/retry", hk.base, gone);
  HL_ASSERT_EQ_INT(e2e_call("POST", u, NULL, &doc), 404);
  HL_ASSERT_EQ_STR(str_at(doc.root, "error"), "unknown_subscription");
  hl_json_doc_dispose(&doc);
  /* The live subscription's waiting deliveries are untouched, and go. */
  HL_ASSERT_EQ_INT(deliveries_with(live, "FAILED", NULL), 0);
  HL_ASSERT_EQ_INT(e2e_release_until(&partner, "live", 6, 20000), 6);
  for (int i = 0; i < 6; i++) {
    snprintf(id, sizeof id, "evt-gone-%d", i);
    e2e_wait_delivered(&hk, id, live, 1);
  }
  snprintf(u, sizeof u, "%s/admin/stats", hk.base);
  HL_ASSERT_EQ_INT(e2e_call("GET", u, NULL, &doc), 200);
  HL_ASSERT_EQ_INT(e2e_json_int(doc.root, "backlog"), 0);
  hl_json_doc_dispose(&doc);
  HL_ASSERT_EQ_INT(e2e_metric(&hk, "hookloop_queue_backlog"), 0);
  free(gone);
  free(live);
  stop_both();
}

#ifdef HL_TEST_DDB
/* The same on the DynamoDB queue, whose rows the store's retention cannot
 * see: a DELETE first leaves a note in the queue table, and retention's
 * sweep closes the subscription's waiting rows (FAILED, "the subscription
 * was deleted", off the due index) and drops the note. The note outlives
 * the process: one killed (-9) before its sweep ran leaves the closing to
 * the next. Before, they stayed PENDING for good. */
HL_TEST_T(a_deleted_subscriptions_waiting_deliveries_are_closed_on_the_dynamodb_queue, 120) {
  /* No sweep before the kill (a tick a minute), then one every 300 ms. */
  const char *slow[] = {"HOOKLOOP_QUEUE=dynamodb", "HOOKLOOP_QUEUE_POLL_MS=50", NULL};
  const char *env[] = {"HOOKLOOP_QUEUE=dynamodb", "HOOKLOOP_QUEUE_POLL_MS=50", "HOOKLOOP_RETENTION_UNIT_MS=300",
                       "HOOKLOOP_RETENTION_DAYS=36500", "HOOKLOOP_RETENTION_FAILED_DAYS=36500", NULL};
  char *gone, *live;
  gone_and_live(slow, &gone, &live);
  hl_json_doc doc;
  char u[512];
  snprintf(u, sizeof u, "%s/admin/subscriptions/%s", hk.base, gone);
  HL_ASSERT_EQ_INT(e2e_call("DELETE", u, NULL, NULL), 204);
  /* Killed before any sweep: the one in flight stays leased, the rest wait. */
  kill(hk.pid, SIGKILL);
  hl_wait(hk.pid, 5000);
  hk.pid = 0;
  snprintf(u, sizeof u, "%s/release?name=gone", partner.base);
  HL_ASSERT_EQ_INT(e2e_call("POST", u, NULL, NULL), 200);
  e2e_start_hookloop(&hk, env); /* same tables */
  /* What the killed process held (the one in flight, and any claimed
   * beside it) keeps its lease (120 s) and is left to it; the rest, at
   * least four, are closed by the first sweep. */
  int closed = 0;
  for (int t = 0; t < 100 && (closed = deliveries_with(gone, "FAILED", "the subscription was deleted")) < 4; t++)
    hl_sleep_ms(100);
  hl_sleep_ms(300);
  closed = deliveries_with(gone, "FAILED", "the subscription was deleted");
  HL_ASSERT(closed >= 4 && closed <= 5);
  HL_ASSERT_EQ_INT(deliveries_with(gone, "PENDING", NULL), 6 - closed);
  HL_ASSERT_EQ_INT(e2e_metric(&hk, "hookloop_deleted_subscription_deliveries_closed_total"), closed);
  /* Nothing is purged here (DynamoDB expires rows by TTL): no such figure. */
  HL_ASSERT_EQ_INT(e2e_metric(&hk, "hookloop_retention_purged_total{kind=\"delivery\"}"), -1);
  char n[32];
  snprintf(n, sizeof n, "\"deliveries\":%d", closed);
  HL_ASSERT_EQ_INT(e2e_log_lines(&hk, "open deliveries of deleted subscriptions set FAILED", n), 1);
  HL_ASSERT_EQ_INT(e2e_requests_so_far(&partner, "gone"), 1);
  /* Re-queued, one would wait for nothing again: refused. */
  snprintf(u, sizeof u, "%s/admin/deliveries/evt-gone-5/%s/retry", hk.base, gone);
  HL_ASSERT_EQ_INT(e2e_call("POST", u, NULL, &doc), 404);
  HL_ASSERT_EQ_STR(str_at(doc.root, "error"), "unknown_subscription");
  hl_json_doc_dispose(&doc);
  /* The live subscription's are untouched, and go: all but what the
   * killed process held, which waits for its lease to end. */
  HL_ASSERT_EQ_INT(deliveries_with(live, "FAILED", NULL), 0);
  int sent = 0, waiting = 0;
  snprintf(u, sizeof u, "%s/release?name=live", partner.base);
  for (int t = 0; t < 100; t++) {
    e2e_call("POST", u, NULL, NULL);
    sent = deliveries_with(live, "SUCCESS", NULL);
    waiting = deliveries_with(live, "PENDING", NULL);
    /* Settled: every request after the kill answered and recorded. */
    if (sent >= 4 && sent + waiting == 6 && sent == e2e_requests_so_far(&partner, "live") - 1) break;
    hl_sleep_ms(100);
  }
  HL_ASSERT(sent >= 4);
  HL_ASSERT_EQ_INT(sent + waiting, 6);
  /* The note stays while a row is open (the leased one), and sweeps go on
   * closing nothing more. */
  hl_sleep_ms(700);
  HL_ASSERT_EQ_INT(e2e_metric(&hk, "hookloop_deleted_subscription_deliveries_closed_total"), closed);
  free(gone);
  free(live);
  stop_both();
}

/* A DELETE whose note cannot be written (here: the queue table is not
 * there) deletes nothing: 503, and the subscription is still served, so
 * no deletion ever leaves rows that nothing would close. */
HL_TEST_T(a_delete_whose_note_fails_deletes_nothing, 60) {
  const char *env[] = {"HOOKLOOP_QUEUE=dynamodb", "DELIVERY_QUEUE_TABLE=no_such_queue", NULL};
  start_both(NULL, env);
  char url[256], u[512];
  snprintf(url, sizeof url, "%s/hook/kept", partner.base);
  char *sub = e2e_setup(&hk, "kept", url, NULL, NULL, 0);
  snprintf(u, sizeof u, "%s/admin/subscriptions/%s", hk.base, sub);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_call("DELETE", u, NULL, &doc), 503);
  HL_ASSERT_EQ_STR(str_at(doc.root, "error"), "store_unavailable");
  hl_json_doc_dispose(&doc);
  HL_ASSERT_EQ_INT(e2e_call("GET", u, NULL, NULL), 200);
  /* The store still has it: a restart loads it. */
  HL_ASSERT_EQ_INT(e2e_stop_hookloop(&hk, SIGTERM, 10000), 0);
  e2e_start_hookloop(&hk, env); /* a new port */
  snprintf(u, sizeof u, "%s/admin/subscriptions/%s", hk.base, sub);
  HL_ASSERT_EQ_INT(e2e_call("GET", u, NULL, NULL), 200);
  free(sub);
  stop_both();
}

/* The webhook-timestamp (s) of a request of the partner's list. */
static long sent_at(const hl_json *list, uint32_t i) { return atol(str_at(&list->u.items[i], "webhook_timestamp")); }

/* A task's drain gives back on the DynamoDB queue what it holds in memory:
 * a retry kept there (its lease extended past its due time) goes back on
 * the index due as it was, and deliveries claimed and waiting for their
 * turn (a rate limit here) go back due now, so the next task sends them
 * then. They were freed with their leases held, and went out only once the
 * leases ended, up to 120 s late. */
HL_TEST_T(a_drain_gives_back_held_retries_and_waiting_deliveries_on_the_dynamodb_queue, 120) {
  const char *env[] = {"HOOKLOOP_QUEUE=dynamodb", "HOOKLOOP_QUEUE_POLL_MS=50", "HOOKLOOP_RETRY_SCHEDULE=5s", NULL};
  start_both(NULL, env);
  char url[256];
  snprintf(url, sizeof url, "%s/hook/retried?codes=503,200", partner.base);
  char *retried = e2e_setup(&hk, "retried", url, NULL, NULL, 0);
  snprintf(url, sizeof url, "%s/hook/paced", partner.base);
  char *paced = e2e_setup(&hk, "paced", url, "\"rate_limit_per_s\": 1", NULL, 0);
  e2e_post_bulk(&hk, "evt-held-", 0, 5);
  hl_json_doc doc;
  /* Every first attempt refused and recorded (the retries wait in memory,
   * due in 5 s ±20 %); one paced delivery sent, the rest claimed with it
   * and waiting for the rate. */
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "retried", 5, 10000, &doc), 5);
  hl_json_doc_dispose(&doc);
  char id[32];
  for (int i = 0; i < 5; i++) {
    snprintf(id, sizeof id, "evt-held-%d", i);
    char status[32] = "";
    int64_t n = -1;
    for (int t = 0; t < 200 && strcmp(status, "RETRYING") != 0; t++, hl_sleep_ms(20))
      e2e_delivery_to(&hk, id, retried, status, sizeof status, &n);
    HL_ASSERT_EQ_STR(status, "RETRYING");
  }
  HL_ASSERT(e2e_wait_requests(&partner, "paced", 1, 10000, &doc) >= 1);
  hl_json_doc_dispose(&doc);
  int paced_before = e2e_requests_so_far(&partner, "paced");
  int st = e2e_stop_hookloop(&hk, SIGTERM, 30000);
  HL_ASSERT_MSG(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "the drain did not end cleanly (%d)", st);
  printf("paced deliveries sent before the drain: %d of 5\n", paced_before);
  HL_ASSERT(paced_before < 5);
  e2e_start_hookloop(&hk, env); /* the same tables */
  uint64_t t0 = hl_mono_ms();
  int got = e2e_wait_requests(&partner, "retried", 10, 20000, &doc);
  printf("retries sent by the next task: %d of 5 after %llu ms\n", got - 5, (unsigned long long)(hl_mono_ms() - t0));
  HL_ASSERT_EQ_INT(got, 10);
  /* Not sooner than they were due. */
  for (uint32_t i = 5; i < 10; i++) {
    const char *id = str_at(&doc.root->u.items[i], "webhook_id");
    for (uint32_t k = 0; k < 5; k++)
      if (strcmp(str_at(&doc.root->u.items[k], "webhook_id"), id) == 0)
        HL_ASSERT_MSG(sent_at(doc.root, i) - sent_at(doc.root, k) >= 4, "%s was sent again %ld s after its first try",
                      id, sent_at(doc.root, i) - sent_at(doc.root, k));
  }
  hl_json_doc_dispose(&doc);
  got = e2e_wait_requests(&partner, "paced", 5, 20000, &doc);
  hl_json_doc_dispose(&doc);
  printf("paced deliveries sent by the next task: %d of %d after %llu ms\n", got - paced_before, 5 - paced_before,
         (unsigned long long)(hl_mono_ms() - t0));
  HL_ASSERT_EQ_INT(got, 5);
  for (int i = 0; i < 5; i++) {
    snprintf(id, sizeof id, "evt-held-%d", i);
    e2e_wait_delivered(&hk, id, retried, 2);
    e2e_wait_delivered(&hk, id, paced, 1);
  }
  free(retried);
  free(paced);
  stop_both();
}

/* The same for a retry whose record (the lease extended, to wait here) is
 * still on its way when the drain begins: once it lands, the retry goes
 * back on the index due as it was. It was freed with its lease held.
 * DynamoDB is paused while the record is out. */
HL_TEST_T(a_retry_recorded_as_the_drain_begins_goes_back_on_the_dynamodb_queue, 90) {
  const char *env[] = {"HOOKLOOP_QUEUE=dynamodb", "HOOKLOOP_QUEUE_POLL_MS=50", "HOOKLOOP_RETRY_SCHEDULE=5s",
                       "LOG_LEVEL=debug", NULL};
  start_both(NULL, env);
  char url[256], u[256];
  snprintf(url, sizeof url, "%s/hook/late?codes=503,200&hold=1", partner.base);
  char *sub = e2e_setup(&hk, "late", url, NULL, NULL, 0);
  HL_ASSERT_EQ_INT(e2e_post_event(&hk, "evt-late-1", "1.00"), 202);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "late", 1, 10000, &doc), 1);
  hl_json_doc_dispose(&doc);
  /* The partner answers 503 with DynamoDB paused: the record waits for it.
   * Nothing is asserted before it answers again (the suite's next tests). */
  e2e_ddb_pause();
  snprintf(u, sizeof u, "%s/release?name=late", partner.base);
  long released = e2e_call("POST", u, "", NULL);
  int recording = 0;
  for (int t = 0; t < 500 && recording < 1; t++, hl_sleep_ms(20))
    recording = e2e_log_lines(&hk, "delivery state", "\"to\":\"RECORDING\"");
  kill(hk.pid, SIGTERM); /* once: a second signal ends the drain */
  hl_sleep_ms(300);
  e2e_ddb_resume();
  HL_ASSERT_EQ_INT(released, 200);
  HL_ASSERT_EQ_INT(recording, 1);
  int st = hl_wait(hk.pid, 30000);
  hk.pid = 0;
  HL_ASSERT_MSG(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "the drain did not end cleanly (%d)", st);
  HL_ASSERT_EQ_INT(e2e_log_lines(&hk, "delivery attempt", "\"outcome\":\"retry\""), 1);
  e2e_start_hookloop(&hk, env); /* the same tables */
  uint64_t t0 = hl_mono_ms();
  int got = e2e_release_until(&partner, "late", 2, 20000);
  printf("the retry sent by the next task: %s after %llu ms\n", got == 2 ? "yes" : "no",
         (unsigned long long)(hl_mono_ms() - t0));
  HL_ASSERT_EQ_INT(got, 2);
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "late", 2, 0, &doc), 2);
  HL_ASSERT_MSG(sent_at(doc.root, 1) - sent_at(doc.root, 0) >= 4, "sent again %ld s after the first try",
                sent_at(doc.root, 1) - sent_at(doc.root, 0));
  hl_json_doc_dispose(&doc);
  e2e_wait_delivered(&hk, "evt-late-1", sub, 2);
  free(sub);
  stop_both();
}

/* hookloop on the DynamoDB queue, its DynamoDB calls through the AWS peer,
 * which holds the first request whose body holds match for hold_ms: sent
 * on late, or, with lost_answer, applied at once and its answer held (an
 * answer lost: the client times out after 10 s and sends it again); and
 * the partner. Returns the peer's pid. */
static pid_t start_behind_peer(const char *match, const char *hold_ms, bool lost_answer) {
  int port = 0;
  char upstream[96], via[64];
  snprintf(upstream, sizeof upstream, "%s/", e2e_ddb_endpoint());
  const char *args[] = {"--upstream", upstream, "--hold-match", match, "--hold-ms", hold_ms, "--hold-first", "1",
                        lost_answer ? "--hold-answer" : NULL, NULL};
  pid_t peer = hl_aws_peer_start(&port, args);
  snprintf(via, sizeof via, "http://127.0.0.1:%d", port);
  e2e_ddb_route_through(via);
  static const char *const env[] = {"HOOKLOOP_QUEUE=dynamodb", "HOOKLOOP_QUEUE_POLL_MS=50", NULL};
  start_both(NULL, env);
  return peer;
}

/* A delivery's outcome whose answer is lost: DynamoDB applies the write
 * but the answer does not come within the client's timeout (10 s; here
 * the AWS peer relays the first record's answer 12 s late), so the client sends it
 * again, and the copy finds the lease given up by its own first write.
 * That outcome is this process's, recorded: the status reads SUCCESS. It
 * was taken for another process's take-over ("a delivery's lease was
 * taken over ..."), the status was not written, and the delivery read
 * PENDING for good while its row was SUCCESS. */
HL_TEST_T(an_outcome_applied_before_its_answer_was_lost_is_recorded_on_the_dynamodb_queue, 120) {
  /* The record of an outcome (the only UpdateItem that sets the status). */
  pid_t peer = start_behind_peer("next_attempt_at = :next, #st = :st", "12000", true);
  char url[256];
  snprintf(url, sizeof url, "%s/hook/lost", partner.base);
  char *sub = e2e_setup(&hk, "lost", url, NULL, NULL, 0);
  HL_ASSERT_EQ_INT(e2e_post_event(&hk, "evt-lost-answer", "1.00"), 202);
  bool ok = e2e_wait_status(&hk, "evt-lost-answer", "SUCCESS", 40000);
  int taken = e2e_log_lines(&hk, "a delivery's lease was taken over before its outcome was recorded", NULL);
  kill(peer, SIGTERM);
  hl_wait(peer, 5000);
  HL_ASSERT_MSG(ok, "the delivery does not read SUCCESS (its outcome taken for another process's: %d)", taken);
  HL_ASSERT_EQ_INT(taken, 0);
  HL_ASSERT_EQ_INT(e2e_requests_so_far(&partner, "lost"), 1);
  free(sub);
  stop_both();
}

/* A claim's lease whose answer is lost: DynamoDB applies the lease but the
 * answer does not come within the client's timeout (10 s; the AWS peer
 * relays it 12 s late), so the client sends it again, and that copy's
 * condition fails on the lease the first one wrote. The row, read back,
 * is this claim's: it is sent now. It was taken for a row another process
 * had claimed, and stayed leased to this one, unsent, until the lease
 * ended 2 minutes later. */
HL_TEST_T(a_lease_applied_before_its_answer_was_lost_is_sent_without_waiting_for_it_to_end_on_the_dynamodb_queue, 120) {
  /* The first lease (the only UpdateItem that sets lease_owner and lease_until). */
  pid_t peer = start_behind_peer("SET lease_owner = :o, lease_until = :u", "12000", true);
  char url[256];
  snprintf(url, sizeof url, "%s/hook/leaselost", partner.base);
  char *sub = e2e_setup(&hk, "leaselost", url, NULL, NULL, 0);
  uint64_t t0 = hl_mono_ms();
  HL_ASSERT_EQ_INT(e2e_post_event(&hk, "evt-lease-lost", "1.00"), 202);
  bool ok = e2e_wait_status(&hk, "evt-lease-lost", "SUCCESS", 40000);
  uint64_t took = hl_mono_ms() - t0;
  int read_back = e2e_log_lines(&hk, "a claim's lease was written but its answer was lost; the row was read back and is claimed",
                                NULL);
  kill(peer, SIGTERM);
  hl_wait(peer, 5000);
  printf("a lease whose answer was lost: delivered after %llu ms\n", (unsigned long long)took);
  HL_ASSERT_MSG(ok, "not delivered within 40 s (the lease runs 120 s)");
  HL_ASSERT_EQ_INT(read_back, 1);
  HL_ASSERT_EQ_INT(e2e_requests_so_far(&partner, "leaselost"), 1);
  free(sub);
  stop_both();
}

/* An event for two subscriptions whose second row's put is slow (here the
 * AWS peer forwards the accept's first row put 3 s late, as a throttled
 * write retried would be): the other row is claimed, delivered and its
 * outcome written meanwhile. The accept's "PENDING" for it comes after
 * and must not undo that: both deliveries read SUCCESS. It overwrote the
 * outcome, and the delivery read PENDING for good while its row was
 * SUCCESS. */
HL_TEST_T(a_slow_accept_does_not_undo_an_outcome_written_meanwhile_on_the_dynamodb_queue, 120) {
  pid_t peer = start_behind_peer("\"due_key\":{\"S\":", "3000", false);
  char url[256];
  snprintf(url, sizeof url, "%s/hook/first", partner.base);
  char *first = e2e_setup(&hk, "first", url, NULL, NULL, 0);
  snprintf(url, sizeof url, "%s/hook/second", partner.base);
  char *second = e2e_setup(&hk, "second", url, NULL, NULL, 0);
  long code = e2e_post_event(&hk, "evt-slow-accept", "1.00");
  /* One was delivered while the accept waited for the other's row. */
  int before = e2e_requests_so_far(&partner, "first") + e2e_requests_so_far(&partner, "second");
  HL_ASSERT_EQ_INT(code, 202);
  HL_ASSERT_EQ_INT(before, 1);
  e2e_wait_delivered(&hk, "evt-slow-accept", first, 1);
  e2e_wait_delivered(&hk, "evt-slow-accept", second, 1);
  kill(peer, SIGTERM);
  hl_wait(peer, 5000);
  free(first);
  free(second);
  stop_both();
}

/* The same for an accept: the delivery's row is put (conditional on its
 * absence), the answer lost past the client's timeout, and the copy sent
 * again finds the row its own first write made. That row is this accept's:
 * 202, delivered once. It was taken for a row of an earlier accept of the
 * event: the first POST of the event was answered 200 "duplicate" (and
 * its status was not written, nor was the row offered to the next claim). */
HL_TEST_T(a_row_put_whose_answer_was_lost_is_accepted_not_a_duplicate_on_the_dynamodb_queue, 120) {
  /* A delivery's row as an accept puts it (no other request names due_key so). */
  pid_t peer = start_behind_peer("\"due_key\":{\"S\":", "12000", true);
  char url[256];
  snprintf(url, sizeof url, "%s/hook/put", partner.base);
  char *sub = e2e_setup(&hk, "put", url, NULL, NULL, 0);
  long code = e2e_post_event(&hk, "evt-put-answer", "1.00");
  bool ok = e2e_wait_status(&hk, "evt-put-answer", "SUCCESS", 20000);
  kill(peer, SIGTERM);
  hl_wait(peer, 5000);
  HL_ASSERT_MSG(code == 202, "the event's first POST was answered %ld", code);
  HL_ASSERT(ok);
  HL_ASSERT_EQ_INT(e2e_requests_so_far(&partner, "put"), 1);
  free(sub);
  stop_both();
}
#endif

/* Registered again without a secret (an update in place): the secret the
 * partner holds still signs, and is not shown again; a secret given with
 * the update replaces it. Each update once made up a new secret, and the
 * partner's checks failed from the next delivery on. */
HL_TEST_T(an_update_in_place_keeps_the_secret_unless_one_is_given, 90) {
  static const char given[] = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  start_both(NULL, NULL);
  char url[256], secret[128], shown[128];
  snprintf(url, sizeof url, "%s/hook/keep", partner.base);
  char *sub = e2e_setup(&hk, "keep", url, NULL, secret, sizeof secret);
  HL_ASSERT(strncmp(secret, "whsec_", 6) == 0);
  char *again = e2e_setup(&hk, "keep", url, "\"headers\":{\"X-Changed\":\"1\"}", shown, sizeof shown);
  HL_ASSERT_EQ_STR(again, sub);
  HL_ASSERT_EQ_STR(shown, "");
  HL_ASSERT_EQ_INT(e2e_post_event(&hk, "evt-keep-1", "1.00"), 202);
  assert_signed_with("keep", 1, 0, secret, "evt-keep-1");
  char *third = e2e_setup(&hk, "keep", url, "\"secret\":\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"", shown,
                          sizeof shown);
  HL_ASSERT_EQ_STR(third, sub);
  HL_ASSERT_EQ_STR(shown, given);
  HL_ASSERT_EQ_INT(e2e_post_event(&hk, "evt-keep-2", "1.00"), 202);
  assert_signed_with("keep", 2, 1, given, "evt-keep-2");
  free(sub);
  free(again);
  free(third);
  stop_both();
}

/* The sender's pooled requests move between subscriptions, and each
 * subscription hands curl its URL parsed once: every request still goes to
 * its own subscription's URL, and to the new one after an update. */
HL_TEST_T(each_request_goes_to_its_subscriptions_url_and_to_the_new_one_after_an_update, 90) {
  start_both(NULL, NULL);
  char ua[256], ub[256], ua2[256];
  snprintf(ua, sizeof ua, "%s/hook/ua", partner.base);
  snprintf(ub, sizeof ub, "%s/hook/ub", partner.base);
  snprintf(ua2, sizeof ua2, "%s/hook/ua2", partner.base);
  char *a = e2e_setup(&hk, "acme", ua, NULL, NULL, 0);
  char *b = e2e_setup(&hk, "bcme", ub, NULL, NULL, 0);
  e2e_post_bulk(&hk, "evt-url-", 0, 10);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "ua", 10, 10000, &doc), 10);
  for (size_t i = 0; i < doc.root->len; i++) HL_ASSERT_EQ_STR(str_at(&doc.root->u.items[i], "path"), "/hook/ua");
  hl_json_doc_dispose(&doc);
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "ub", 10, 10000, &doc), 10);
  for (size_t i = 0; i < doc.root->len; i++) HL_ASSERT_EQ_STR(str_at(&doc.root->u.items[i], "path"), "/hook/ub");
  hl_json_doc_dispose(&doc);
  char *a2 = e2e_setup(&hk, "acme", ua2, NULL, NULL, 0);
  HL_ASSERT_EQ_STR(a2, a); /* updated in place: the same subscription, a new URL */
  e2e_post_bulk(&hk, "evt-url-", 10, 10);
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "ua2", 10, 10000, &doc), 10);
  hl_json_doc_dispose(&doc);
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "ub", 20, 10000, &doc), 20);
  hl_json_doc_dispose(&doc);
  HL_ASSERT_EQ_INT(e2e_requests_so_far(&partner, "ua"), 10);
  free(a);
  free(a2);
  free(b);
  stop_both();
}

/* WEBHOOK_SECRET_ARN: subscriptions registered without a secret are signed
 * with the default secret read from Secrets Manager (here the test proxy
 * answering GetSecretValue on loopback); a secret that cannot be read stops
 * the start with a clear message. */
HL_TEST_T(the_default_secret_comes_from_secrets_manager, 90) {
  static const char secret[] = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  int pport = 0;
  char sm[96];
  pid_t proxy = e2e_start_secrets_peer(secret, sm, sizeof sm, &pport);
  const char *env[] = {"WEBHOOK_SECRET_ARN=arn:aws:secretsmanager:eu-west-1:123456789012:secret:hookloop-AbCdEf", sm,
                       "AWS_ACCESS_KEY_ID=AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY=e2e-test-secret", NULL};
  const char *pargs[] = {"--secret", secret, NULL};
  start_both(pargs, env);
  char url[256], u[256], body[512];
  snprintf(url, sizeof url, "%s/hook/default", partner.base);
  /* e2e_setup registers without a secret: none is made up or returned. */
  snprintf(u, sizeof u, "%s/admin/schemas", hk.base);
  char *sub = e2e_setup(&hk, "acme", url, NULL, NULL, 0);
  snprintf(u, sizeof u, "%s/admin/subscriptions", hk.base);
  snprintf(body, sizeof body, "{\"partner_id\":\"acme\",\"event_type\":\"Payment\",\"url\":\"%s\"}", url);
  hl_json_doc doc;
  HL_ASSERT(e2e_call("POST", u, body, &doc) / 100 == 2);
  HL_ASSERT(hl_json_get(doc.root, "secret") == NULL);
  HL_ASSERT_EQ_STR(str_at(doc.root, "secret_source"), "WEBHOOK_SECRET_ARN");
  hl_json_doc_dispose(&doc);
  HL_ASSERT_EQ_INT(e2e_post_event(&hk, "evt-default-secret", "7.00"), 202);
  assert_signed_with("default", 1, 0, secret, "evt-default-secret");
  /* The partner checked it too, and the secret was read signed for Secrets Manager. */
  snprintf(u, sizeof u, "%s/stats", partner.base);
  HL_ASSERT(e2e_call("GET", u, NULL, &doc) == 200);
  int64_t fails = -1;
  hl_json_int64(hl_json_get(doc.root, "signature_failures"), &fails);
  HL_ASSERT_EQ_INT(fails, 0);
  hl_json_doc_dispose(&doc);
  snprintf(u, sizeof u, "http://127.0.0.1:%d/stats", pport);
  HL_ASSERT(e2e_call("GET", u, NULL, &doc) == 200);
  int64_t reads = 0;
  hl_json_int64(hl_json_get(doc.root, "secret_reads"), &reads);
  HL_ASSERT(reads >= 1);
  hl_json_doc_dispose(&doc);
  char *log = hl_read_file(hk.log, NULL);
  HL_ASSERT(log && !strstr(log, secret + 6)); /* never logged */
  free(log);
  free(sub);
  stop_both();

  /* A secret that cannot be read: hookloop does not start. */
  const char *bad[] = {"WEBHOOK_SECRET_ARN=arn:aws:secretsmanager:eu-west-1:123456789012:secret:missing", sm,
                       "AWS_ACCESS_KEY_ID=AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY=e2e-test-secret", NULL};
  kill(proxy, SIGTERM);
  hl_wait(proxy, 3000);
  proxy = e2e_start_secrets_peer(NULL, sm, sizeof sm, &pport); /* same port: sm stays right */
  char *dir = hl_tmpdir("badsecret");
  char data[600], lg[700];
  snprintf(data, sizeof data, "HOOKLOOP_DATA_DIR=%s", dir);
  snprintf(lg, sizeof lg, "%s/hookloop.log", dir);
  char *envp[] = {data, (char *)bad[0], (char *)bad[1], (char *)bad[2], (char *)bad[3],
                  "HOOKLOOP_LISTEN=127.0.0.1:0", NULL};
  char *argv[] = {(char *)hl_bin_path("hookloop"), "serve", NULL};
  int st = hl_wait(hl_spawn(argv, envp, lg), 20000);
  HL_ASSERT_MSG(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 1, "exit status %d", st);
  log = hl_read_file(lg, NULL);
  HL_ASSERT(log && strstr(log, "could not read the default webhook secret") && strstr(log, "WEBHOOK_SECRET_ARN"));
  free(log);
  hl_rmtree(dir);
  free(dir);
  kill(proxy, SIGTERM);
  hl_wait(proxy, 3000);
}

#ifndef HL_TEST_DDB
/* Posts body to the partner's /hook/sig with the given Standard Webhooks
 * headers (sig may be NULL: no signature header). */
static void post_signed(const char *id, const char *ts, const char *sig, const char *body) {
  char u[256], hid[128], hts[64], hsig[512];
  snprintf(u, sizeof u, "%s/hook/sig", partner.base);
  snprintf(hid, sizeof hid, "webhook-id: %s", id);
  snprintf(hts, sizeof hts, "webhook-timestamp: %s", ts);
  snprintf(hsig, sizeof hsig, "webhook-signature: %s", sig ? sig : "");
  const char *hdrs[] = {"Content-Type: application/json", hid, hts, sig ? hsig : NULL, NULL};
  HL_ASSERT_EQ_INT(hl_http("POST", u, body, strlen(body), hdrs, NULL), 200);
}

/* The mock partner's signature check, which the Lambda and serve tests
 * rely on, is its own (mbedTLS), and it can say no: a changed body, another
 * secret, an old timestamp, a bad or missing signature fail; a rotation
 * list with one good entry passes. */
HL_TEST_T(the_mock_partner_checks_signatures_on_its_own, 60) {
  static const char secret[] = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  static const char other[] = "whsec_dGhlIG90aGVyIHNlY3JldCBvZiB0aGUgdGVzdA==";
  const char *pargs[] = {"--secret", secret, NULL};
  e2e_start_partner(&partner, pargs);
  const char *body = "{\"amount\":123.4500}";
  char now[32], old[32], good[128], bad[128], oldsig[128], both[300];
  snprintf(now, sizeof now, "%ld", (long)time(NULL));
  snprintf(old, sizeof old, "%ld", (long)time(NULL) - 600);
  HL_ASSERT(hl_testsig_sign(secret, "m-1", now, body, strlen(body), good, sizeof good) == 0);
  HL_ASSERT(hl_testsig_sign(other, "m-1", now, body, strlen(body), bad, sizeof bad) == 0);
  HL_ASSERT(hl_testsig_sign(secret, "m-1", old, body, strlen(body), oldsig, sizeof oldsig) == 0);
  snprintf(both, sizeof both, "%s %s", bad, good);
  post_signed("m-1", now, good, body);                   /* right */
  post_signed("m-1", now, good, "{\"amount\":123.45}");   /* the body changed */
  post_signed("m-1", now, bad, body);                    /* another secret */
  post_signed("m-1", old, oldsig, body);                 /* 10 minutes old */
  post_signed("m-1", now, both, body);                   /* rotating: one entry is right */
  post_signed("m-1", now, "v1,AAAA", body);              /* garbage */
  post_signed("m-1", now, NULL, body);                   /* none */
  static const bool want[] = {true, false, false, false, true, false, false};
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "sig", 7, 5000, &doc), 7);
  for (uint32_t i = 0; i < 7; i++) {
    const hl_json *ok = hl_json_get(&doc.root->u.items[i], "signature_ok");
    HL_ASSERT_MSG(ok && (ok->type == HL_JSON_TRUE) == want[i], "request %u: signature_ok should be %d", i, want[i]);
  }
  hl_json_doc_dispose(&doc);
  HL_ASSERT_EQ_INT(e2e_partner_stat(&partner, "signature_failures"), 5);
  e2e_stop_partner(&partner);
}
#endif

#ifdef HL_TEST_DDB
/* Two services on one DynamoDB: what one registers, the other learns
 * within HOOKLOOP_CONFIG_TTL_S; what one deletes, the other forgets. */
HL_TEST_T(a_shared_store_is_reloaded_within_the_ttl, 120) {
  const char *ttl[] = {"HOOKLOOP_CONFIG_TTL_S=1", NULL};
  start_both(NULL, ttl);
  e2e_hookloop other = {0};
  e2e_start_hookloop(&other, ttl);
  char url[256];
  snprintf(url, sizeof url, "%s/hook/shared", partner.base);
  char *sub = e2e_setup(&hk, "acme", url, NULL, NULL, 0);
  /* A reload reads schemas, then subscriptions: wait for the subscription
   * (the schema is known by then), or an event accepted in between goes to
   * no one, which is right for a type without subscriptions. */
  char su[256];
  snprintf(su, sizeof su, "%s/admin/subscriptions/%s", other.base, sub);
  bool learned = false;
  for (int i = 0; i < 60 && !learned; i++) {
    hl_sleep_ms(100);
    learned = e2e_call("GET", su, NULL, NULL) == 200;
  }
  HL_ASSERT_MSG(learned, "the other service never learned the subscription");
  HL_ASSERT_EQ_INT(e2e_post_event(&other, "evt-shared-1", "1.00"), 202);
  /* The store's own figures are on /metrics. */
  char mu[256], *metrics = NULL;
  snprintf(mu, sizeof mu, "%s/metrics", other.base);
  HL_ASSERT_EQ_INT(hl_http("GET", mu, NULL, 0, NULL, &metrics), 200);
  HL_ASSERT(metrics && strstr(metrics, "hookloop_dynamodb_calls_total ") && strstr(metrics, "hookloop_dynamodb_retries_total 0"));
  free(metrics);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "shared", 1, 10000, &doc), 1);
  hl_json_doc_dispose(&doc);
  HL_ASSERT(e2e_wait_status(&other, "evt-shared-1", "SUCCESS", 5000));
  /* Deleted on the first; after a TTL the second delivers no more. */
  char u[256];
  snprintf(u, sizeof u, "%s/admin/subscriptions/%s", hk.base, sub);
  HL_ASSERT_EQ_INT(e2e_call("DELETE", u, NULL, NULL), 204);
  snprintf(u, sizeof u, "%s/admin/subscriptions/%s", other.base, sub);
  bool gone = false;
  for (int i = 0; i < 60 && !gone; i++) {
    hl_sleep_ms(100);
    gone = e2e_call("GET", u, NULL, NULL) == 404;
  }
  HL_ASSERT_MSG(gone, "the other service kept a deleted subscription");
  HL_ASSERT_EQ_INT(e2e_post_event(&other, "evt-shared-2", "1.00"), 202);
  hl_sleep_ms(500);
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "shared", 2, 200, &doc), 1); /* still only one */
  hl_json_doc_dispose(&doc);
  int st = e2e_stop_hookloop(&other, SIGTERM, 30000);
  HL_ASSERT(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
  hl_rmtree(other.dir);
  free(other.dir);
  free(sub);
  stop_both();
}
#endif

#ifdef HL_TEST_DDB
/* The DynamoDB queue: one subscription's backlog does not hide another's
 * deliveries. Here "hog" holds 2,400 due deliveries (its partner holds its
 * one request in flight unanswered), queued before "fair" existed, so
 * fair's delivery is due after all of them. A claim read the due index
 * from its head, a page of 200 rows a shard, and kept only its own
 * subscription's rows: fair's claims read hog's rows, found nothing, and
 * came back at once, for as long as hog's backlog lasted. */
HL_TEST_T(one_subscriptions_backlog_does_not_hide_anothers_on_the_dynamodb_queue, 300) {
  const char *env[] = {"HOOKLOOP_QUEUE=dynamodb", "HOOKLOOP_QUEUE_POLL_MS=50", NULL};
  start_both(NULL, env);
  char url[256];
  snprintf(url, sizeof url, "%s/hook/hog?hold=1", partner.base);
  char *hog = e2e_setup(&hk, "hog", url, "\"max_in_flight\": 1", NULL, 0);
  for (int i = 0; i < 3; i++) e2e_post_bulk(&hk, "evt-hog-", i * 800, 800);
  snprintf(url, sizeof url, "%s/hook/fair", partner.base);
  char *fair = e2e_setup(&hk, "fair", url, NULL, NULL, 0);
  HL_ASSERT_EQ_INT(e2e_post_event(&hk, "evt-fair-1", "3.00"), 202);
  uint64_t t0 = hl_mono_ms();
  hl_json_doc doc;
  int got = e2e_wait_requests(&partner, "fair", 1, 20000, &doc);
  printf("fair's delivery behind hog's 2,400: %s after %llu ms\n", got == 1 ? "sent" : "not sent",
         (unsigned long long)(hl_mono_ms() - t0));
  HL_ASSERT_EQ_INT(got, 1);
  HL_ASSERT(strstr(str_at(&doc.root->u.items[0], "body"), "3.00") != NULL);
  hl_json_doc_dispose(&doc);
  /* A new table: the partitions earlier versions wrote are seen empty at
   * the first claim, and claims stop reading them. */
  HL_ASSERT_EQ_INT(e2e_log_lines(&hk, "dynamodb queue: no rows left in the earlier versions' due partitions; claims "
                                      "stop reading them", NULL), 1);
  /* hog's first request is held, and no second one was sent beside it. */
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "hog", 1, 100, &doc), 1);
  hl_json_doc_dispose(&doc);
  char u[256];
  snprintf(u, sizeof u, "%s/release?name=hog", partner.base);
  hl_http("POST", u, "", 0, NULL, NULL);
  free(hog);
  free(fair);
  stop_both();
}

/* The max_in_flight of a partner registered on another service, or -1 when
 * it is not known there (404). */
static int64_t partner_limit_at(const e2e_hookloop *h, const char *id) {
  char u[256];
  snprintf(u, sizeof u, "%s/admin/partners/%s", h->base, id);
  hl_json_doc doc;
  int64_t n = -1;
  if (e2e_call("GET", u, NULL, &doc) == 200) hl_json_int64(hl_json_get(doc.root, "max_in_flight"), &n);
  hl_json_doc_dispose(&doc);
  return n;
}

/* Partners on a shared store: what one service registers, changes and
 * deletes, the other learns within HOOKLOOP_CONFIG_TTL_S. */
HL_TEST_T(partners_on_a_shared_store_are_reloaded_within_the_ttl, 120) {
  const char *ttl[] = {"HOOKLOOP_CONFIG_TTL_S=1", NULL};
  start_both(NULL, ttl);
  e2e_hookloop other = {0};
  e2e_start_hookloop(&other, ttl);
  char u[256];
  snprintf(u, sizeof u, "%s/admin/partners", hk.base);
  HL_ASSERT_EQ_INT(e2e_call("POST", u, "{\"partner_id\":\"acme\",\"max_in_flight\":3}", NULL), 201);
  int64_t seen = -1;
  for (int i = 0; i < 60 && seen != 3; i++, hl_sleep_ms(100)) seen = partner_limit_at(&other, "acme");
  HL_ASSERT_EQ_INT(seen, 3);
  HL_ASSERT_EQ_INT(e2e_call("POST", u, "{\"partner_id\":\"acme\",\"max_in_flight\":7}", NULL), 200);
  for (int i = 0; i < 60 && seen != 7; i++, hl_sleep_ms(100)) seen = partner_limit_at(&other, "acme");
  HL_ASSERT_EQ_INT(seen, 7);
  snprintf(u, sizeof u, "%s/admin/partners/acme", hk.base);
  HL_ASSERT_EQ_INT(e2e_call("DELETE", u, NULL, NULL), 204);
  for (int i = 0; i < 60 && seen != -1; i++, hl_sleep_ms(100)) seen = partner_limit_at(&other, "acme");
  HL_ASSERT_EQ_INT(seen, -1);
  int st = e2e_stop_hookloop(&other, SIGTERM, 30000);
  HL_ASSERT(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
  hl_rmtree(other.dir);
  free(other.dir);
  stop_both();
}
#endif

#ifndef HL_TEST_DDB /* the HTTP server is the same on either store */
/* Every answer that says "Connection: close" (asked for, HTTP/1.0, or the
 * server's own 400/413/431) ends its connection: after 10,000 of them the
 * process holds no more descriptors than before and /healthz still answers.
 * A client still sending a refused body gets the 413 and EOF. */
HL_TEST_T(closing_answers_leave_no_connection_behind, 300) {
  start_both(NULL, NULL);
  int base = hl_count_fds(hk.pid);
  HL_ASSERT(base > 0);
  hl_closing_requests(hk.port, 2000, "/healthz", "/api/v1/events", (size_t)2 << 20);
  int n = hl_wait_fds_at_most(hk.pid, base, 10000);
  HL_ASSERT_MSG(n <= base, "hookloop holds %d descriptors after 10,000 closing answers, %d before", n, base);
  char u[256], buf[4096];
  snprintf(u, sizeof u, "%s/healthz", hk.base);
  HL_ASSERT_EQ_INT(hl_http("GET", u, NULL, 0, NULL, NULL), 200);
  size_t sent = 0;
  long got = hl_send_body_until_eof(hk.port, "POST /api/v1/events HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                                             "Content-Length: 67108864\r\n\r\n",
                                    (size_t)64 << 20, buf, sizeof buf, &sent);
  HL_ASSERT_MSG(got > 0, "no EOF after the 413 (%zu body bytes sent)", sent);
  HL_ASSERT_MSG(strncmp(buf, "HTTP/1.1 413 ", 13) == 0 && strstr(buf, "\"payload_too_large\""), "got %s", buf);
  stop_both();
}
#endif

/* Posts a bulk of the given ids (repeats allowed) and expects 200. */
static void post_ids(const char *const *ids, size_t n) {
  char u[256], one[512];
  snprintf(u, sizeof u, "%s/api/v1/events/bulk", hk.base);
  hl_buf b = HL_BUF_INIT;
  hl_buf_putc(&b, '[');
  for (size_t i = 0; i < n; i++) {
    e2e_event_json(one, sizeof one, ids[i], "1.00");
    if (i) hl_buf_putc(&b, ',');
    hl_buf_puts(&b, one);
  }
  hl_buf_putc(&b, ']');
  HL_ASSERT_EQ_INT(e2e_call("POST", u, b.data, NULL), 200);
  hl_buf_dispose(&b);
}

/* At info a bulk request's accepted events are one "bulk accepted" line
 * with its counts (a line each was ~6 % of the intake's CPU); a single
 * event keeps its "event accepted" line; at debug every event has its own. */
HL_TEST_T(a_bulk_request_is_one_line_at_info_and_a_line_an_event_at_debug, 120) {
  const char *const levels[] = {"LOG_LEVEL=info", "LOG_LEVEL=debug"};
  for (int k = 0; k < 2; k++) {
    const char *env[] = {levels[k], NULL};
    start_both(NULL, env);
    char url[256];
    snprintf(url, sizeof url, "%s/hook/logs", partner.base);
    free(e2e_setup(&hk, "acme", url, NULL, NULL, 0));
    HL_ASSERT_EQ_INT(e2e_post_event(&hk, "log-single", "1.00"), 202);
    /* Two new, one accepted before, one repeated in the request. */
    const char *ids[] = {"log-bulk-0", "log-bulk-1", "log-single", "log-bulk-0"};
    post_ids(ids, HL_ARRAY_SIZE(ids));
    int st = e2e_stop_hookloop(&hk, SIGTERM, 30000);
    HL_ASSERT_MSG(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "hookloop did not exit cleanly (%d)", st);
    hk.pid = 0;
    HL_ASSERT_EQ_INT(e2e_log_lines(&hk, "event accepted", "\"event_id\":\"log-single\""), 1);
    HL_ASSERT_EQ_INT(e2e_log_lines(&hk, "event accepted", "\"event_id\":\"log-bulk-"), (k == 0 ? 0 : 2));
    HL_ASSERT_EQ_INT(e2e_log_lines(&hk, "bulk accepted",
                               "\"events\":4,\"accepted\":2,\"duplicate\":2,\"rejected\":0,\"deliveries\":2"),
                     1);
    stop_both();
  }
}

/* A delivery whose attempt is at the partner while its subscription is
 * updated in place (registered again) fails with 503: its retry goes out
 * when due, with no new traffic (docs/retries.md). The update's own claim
 * ran while the row was still claimed, so only the released retry's own
 * wake-up can bring it back. */
HL_TEST_T(a_retry_of_an_attempt_running_during_an_update_goes_out, 60) {
  start_both(NULL, NULL);
  char url[256];
  snprintf(url, sizeof url, "%s/hook/inflight?codes=503,200&latency_ms=1500", partner.base);
  char *sub = e2e_setup(&hk, "acme", url, NULL, NULL, 0);
  HL_ASSERT_EQ_INT(e2e_post_event(&hk, "evt-inflight", "1"), 202);
  hl_sleep_ms(400); /* the first attempt is at the partner */
  char *again = e2e_setup(&hk, "acme", url, NULL, NULL, 0); /* updated in place */
  HL_ASSERT_EQ_STR(again, sub);
  bool ok = e2e_wait_status(&hk, "evt-inflight", "SUCCESS", 10000);
  char st[32];
  long attempts = 0;
  e2e_status(&hk, "evt-inflight", st, sizeof st, &attempts);
  int requests = e2e_requests_so_far(&partner, "inflight");
  free(sub);
  free(again);
  stop_both();
  HL_ASSERT_MSG(ok && attempts == 2 && requests == 2, "10 s after the update: %s, %ld attempts, %d requests", st,
                attempts, requests);
}

/* An update in place (the same partner and event type POSTed again) keeps
 * the subscription's gate: the attempts of the object it replaced, still
 * at the partner, count against max_in_flight, and the replacement starts
 * more only as they give their slots back. */
HL_TEST_T(an_update_in_place_does_not_exceed_max_in_flight, 60) {
  start_both(NULL, NULL);
  char url[256], u[256];
  snprintf(url, sizeof url, "%s/hook/capped?latency_ms=2000", partner.base);
  char *sub = e2e_setup(&hk, "acme", url, "\"max_in_flight\": 2", NULL, 0);
  char id[64];
  for (int i = 0; i < 8; i++) {
    snprintf(id, sizeof id, "evt-cap-%d", i);
    HL_ASSERT_EQ_INT(e2e_post_event(&hk, id, "1"), 202);
  }
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "capped", 2, 10000, &doc), 2); /* two at the partner */
  hl_json_doc_dispose(&doc);
  char *again = e2e_setup(&hk, "acme", url, "\"max_in_flight\": 2", NULL, 0); /* the same settings again */
  HL_ASSERT_EQ_STR(again, sub);
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "capped", 8, 30000, &doc), 8);
  hl_json_doc_dispose(&doc);
  snprintf(u, sizeof u, "%s/stats", partner.base);
  HL_ASSERT_EQ_INT(e2e_call("GET", u, NULL, &doc), 200);
  int64_t maxc = -1;
  hl_json_int64(hl_json_get(hl_json_get(doc.root, "max_concurrent_by_name"), "capped"), &maxc);
  hl_json_doc_dispose(&doc);
  free(sub);
  free(again);
  stop_both();
  HL_ASSERT_MSG(maxc == 2, "max_in_flight 2, but the partner saw %lld at once after an update", (long long)maxc);
}

/* An update in place with the same settings keeps an open breaker open
 * (README "Circuit breaker and auto-disable": only enable, or a probe after
 * HOOKLOOP_BREAKER_OPEN_MS, closes it), the subscription's and its host's:
 * the retry it holds does not go out. */
HL_TEST_T(an_update_in_place_does_not_close_an_open_breaker, 60) {
  static const char *const env[] = {"HOOKLOOP_BREAKER_FAILURES=2", "HOOKLOOP_BREAKER_OPEN_MS=600000",
                                    "HOOKLOOP_DISABLE_AFTER_FAILURES=0",
                                    "HOOKLOOP_RETRY_SCHEDULE=20ms,20ms,20ms,20ms,20ms,20ms,20ms,20ms", NULL};
  start_both(NULL, env);
  char url[256];
  snprintf(url, sizeof url, "%s/hook/down?codes=503,503,503,503,503,503,200", partner.base);
  char *sub = e2e_setup(&hk, "acme", url, "\"max_in_flight\": 1", NULL, 0);
  HL_ASSERT_EQ_INT(e2e_post_event(&hk, "evt-brk-u", "1"), 202);
  HL_ASSERT_EQ_INT(wait_breaker(sub, "open"), 2);
  for (int waited = 0; waited < 5000 && attempts_of("evt-brk-u") < 2; waited += 20) hl_sleep_ms(20);
  char *again = e2e_setup(&hk, "acme", url, "\"max_in_flight\": 1", NULL, 0);
  HL_ASSERT_EQ_STR(again, sub);
  /* The retry is due every 20 ms: a closed breaker lets it out at once. */
  hl_sleep_ms(1000);
  long n = attempts_of("evt-brk-u");
  int64_t reqs = e2e_partner_stat(&partner, "requests");
  char state[32], status[32], u[300];
  int64_t failures = -1;
  sub_state(sub, state, sizeof state, &failures, status, sizeof status);
  /* Its host's breaker opened with it, and stays open too. */
  hl_json_doc doc;
  snprintf(u, sizeof u, "%s/admin/subscriptions/%s", hk.base, sub);
  HL_ASSERT_EQ_INT(e2e_call("GET", u, NULL, &doc), 200);
  const char *hs = str_at(hl_json_get(hl_json_get(doc.root, "destination_host"), "breaker"), "state");
  char host_state[32];
  snprintf(host_state, sizeof host_state, "%s", hs ? hs : "none");
  hl_json_doc_dispose(&doc);
  free(sub);
  free(again);
  stop_both();
  HL_ASSERT_MSG(n == 2 && reqs == 2 && strcmp(state, "open") == 0 && failures == 2 &&
                    strcmp(host_state, "open") == 0,
                "1 s after the update: %ld attempts, %lld requests, breaker %s (%lld failures), host breaker %s", n,
                (long long)reqs, state, (long long)failures, host_state);
}

/* The failures in a row that disable a subscription are counted across an
 * update in place: the third failure disables it although the second and
 * third attempts ran on the object the update replaced (each is at the
 * partner for 1.5 s, the update lands meanwhile). */
HL_TEST_T(an_update_in_place_keeps_the_failures_counted_toward_disabling, 60) {
  static const char *const env[] = {"HOOKLOOP_BREAKER_FAILURES=0", "HOOKLOOP_DISABLE_AFTER_FAILURES=3",
                                    "HOOKLOOP_RETRY_SCHEDULE=20ms,20ms,20ms,20ms,20ms,20ms,20ms,20ms", NULL};
  start_both(NULL, env);
  char url[256], state[32], status[32];
  snprintf(url, sizeof url, "%s/hook/slowdown?codes=503&latency_ms=1500", partner.base);
  char *sub = e2e_setup(&hk, "acme", url, "\"max_in_flight\": 1", NULL, 0);
  HL_ASSERT_EQ_INT(e2e_post_event(&hk, "evt-streak-u", "1"), 202);
  for (int waited = 0; waited < 10000 && attempts_of("evt-streak-u") < 2; waited += 20) hl_sleep_ms(20);
  HL_ASSERT_EQ_INT(attempts_of("evt-streak-u"), 2);
  char *again = e2e_setup(&hk, "acme", url, "\"max_in_flight\": 1", NULL, 0);
  HL_ASSERT_EQ_STR(again, sub);
  int64_t failures = -1;
  for (int waited = 0; waited < 20000; waited += 20) {
    sub_state(sub, state, sizeof state, &failures, status, sizeof status);
    if (strcmp(status, "DISABLED") == 0) break;
    hl_sleep_ms(20);
  }
  for (int waited = 0; waited < 5000 && attempts_of("evt-streak-u") < 3; waited += 20) hl_sleep_ms(20);
  long n = attempts_of("evt-streak-u");
  free(sub);
  free(again);
  stop_both();
  HL_ASSERT_MSG(strcmp(status, "DISABLED") == 0 && failures == 3 && n == 3,
                "after the update: status %s, %lld failures in a row, %ld attempts", status, (long long)failures, n);
}
