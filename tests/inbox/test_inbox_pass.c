/* test_inbox_pass — the inbox source end to end (issue 18, docs/inbox.md):
 * the real hookloop binary (`hookloop inbox`, `serve` with
 * HOOKLOOP_ROLE=inbox, and the Lambda runtime under the Runtime API
 * emulator) against tools/mock_triggers (the Triggers API, Python, its own
 * JWT code), the mock partner (which checks every signature with mbedTLS)
 * and the AWS test peer answering GetSecretValue for SECRET_ARN, all over
 * loopback. Assertions are on what the mock and the partner recorded —
 * counts and order — and on the pass's report. */
#include <signal.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/hl_buf.h"
#include "common/hl_common.h"
#include "e2e_util.h"
#include "emulator.h"
#include "hl_test.h"
#include "hl_testutil.h"
#include "inbox_mock.h"
#include "json/hl_json.h"

#define API_KEY "k-inbox-Zq81"
#define WH_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define SECRET_ARN_ENV "SECRET_ARN=arn:aws:secretsmanager:eu-west-1:123456789012:secret:inbox-AbCdEf"

static inbox_mock mock;
static e2e_partner partner;
static pid_t peer;
static int peer_port; /* kept: a restarted peer takes the same port */
static char sm_env[96], base_env[96];
static char *dir;
static char log_path[700];

/* The Secrets Manager peer answering SECRET_ARN with credentials that send
 * deliveries to /hook/<hook> (on peer_port once it has one). */
static void start_secret(const char *hook) {
  char secret[512];
  snprintf(secret, sizeof secret,
           "{\"zapier_api_key\":\"" API_KEY "\",\"zapier_webhook_url\":\"%s/hook/%s\",\"webhook_secret\":\"" WH_SECRET "\"}",
           partner.base, hook);
  peer = e2e_start_secrets_peer(secret, sm_env, sizeof sm_env, &peer_port);
}

/* The mock inbox, a partner checking signatures, and a Secrets Manager
 * answering SECRET_ARN with credentials that send deliveries to
 * /hook/<hook>. */
static void setup(const char *hook) {
  const char *margs[] = {"--api-key", API_KEY, NULL};
  inbox_mock_start(&mock, margs);
  const char *pargs[] = {"--secret", WH_SECRET, NULL};
  e2e_start_partner(&partner, pargs);
  peer_port = 0;
  start_secret(hook);
  snprintf(base_env, sizeof base_env, "API_BASE_URL=%s", mock.base);
  dir = hl_tmpdir("inbox");
}

static void teardown(void) {
  kill(peer, SIGTERM);
  hl_wait(peer, 5000);
  e2e_stop_partner(&partner);
  inbox_mock_stop(&mock);
  hl_rmtree(dir);
  free(dir);
}

/* The environment every run of the binary gets, and extra. */
static size_t base_envp(char **envp, size_t cap, const char *const *extra) {
  static char data[700];
  snprintf(data, sizeof data, "HOOKLOOP_DATA_DIR=%s", dir);
  size_t n = 0;
  envp[n++] = base_env;
  envp[n++] = (char *)SECRET_ARN_ENV;
  envp[n++] = sm_env;
  envp[n++] = (char *)"AWS_ACCESS_KEY_ID=AKIDEXAMPLE";
  envp[n++] = (char *)"AWS_SECRET_ACCESS_KEY=inbox-test-secret";
  bool own_private = false; /* extra says whether private targets are allowed */
  for (size_t i = 0; extra && extra[i]; i++)
    if (strncmp(extra[i], "HOOKLOOP_ALLOW_PRIVATE_TARGETS=", 31) == 0) own_private = true;
  if (!own_private) envp[n++] = (char *)"HOOKLOOP_ALLOW_PRIVATE_TARGETS=1";
  envp[n++] = data;
  for (size_t i = 0; extra && extra[i] && n + 1 < cap; i++) envp[n++] = (char *)extra[i];
  envp[n] = NULL;
  return n;
}

/* Runs `hookloop inbox` once; returns its exit code, the report (its
 * last {"fetched"...} line) parsed into doc. */
static int run_pass(const char *const *extra, hl_json_doc *doc) {
  char *envp[32];
  base_envp(envp, 32, extra);
  hl_log_path("hookloop-inbox", log_path, sizeof log_path);
  char *argv[] = {(char *)hl_bin_path("hookloop"), (char *)"inbox", NULL};
  pid_t pid = hl_spawn(argv, envp, log_path);
  int st = hl_wait(pid, 60000);
  HL_ASSERT_MSG(st >= 0 && WIFEXITED(st), "hookloop inbox did not exit; see %s", log_path);
  char *text = hl_read_file(log_path, NULL);
  HL_ASSERT(text);
  const char *last = NULL;
  for (const char *p = text; (p = strstr(p, "{\"fetched\":")) != NULL; p++) last = p;
  HL_ASSERT_MSG(last, "no report line in %s", log_path);
  const char *end = strchr(last, '\n');
  hl_json_doc_init(doc);
  HL_ASSERT(hl_json_parse(doc, last, end ? (size_t)(end - last) : strlen(last), NULL) == 0);
  free(text);
  return WEXITSTATUS(st);
}

static long rep(const hl_json *r, const char *name) {
  int64_t v = -1;
  HL_ASSERT_MSG(hl_json_int64(hl_json_get(r, name), &v) == 0, "no %s in the report", name);
  return (long)v;
}

/* Runs one pass (exit 0) and checks report members: name, value pairs
 * ending with NULL. */
static void pass_expect(const char *const *extra, ...) {
  hl_json_doc d;
  HL_ASSERT_EQ_INT(run_pass(extra, &d), 0);
  va_list ap;
  va_start(ap, extra);
  for (const char *name; (name = va_arg(ap, const char *)) != NULL;) {
    long want = va_arg(ap, long);
    HL_ASSERT_MSG(rep(d.root, name) == want, "%s: %ld, want %ld", name, rep(d.root, name), want);
  }
  va_end(ap);
  hl_json_doc_dispose(&d);
}

/* The mock's counters: name, value pairs ending with NULL. */
static void mock_expect(const char *first, ...) {
  hl_json_doc sd;
  const hl_json *st = inbox_mock_state(&mock, &sd);
  va_list ap;
  va_start(ap, first);
  for (const char *name = first; name; name = va_arg(ap, const char *)) {
    long want = va_arg(ap, long);
    HL_ASSERT_MSG(inbox_mock_count(st, name) == want, "mock %s: %ld, want %ld", name, inbox_mock_count(st, name), want);
  }
  va_end(ap);
  hl_json_doc_dispose(&sd);
}

static bool log_has(const char *needle) {
  char *text = hl_read_file(log_path, NULL);
  bool has = text && strstr(text, needle);
  free(text);
  return has;
}

/* Events evt-000001.. with the mock's default payloads. */
static void seed(int n) {
  char body[64];
  snprintf(body, sizeof body, "{\"count\":%d}", n);
  inbox_mock_post(&mock, "/_control/seed", body);
}

/* 250 pending, 100 per pass: three passes take them all, each delivered
 * and acknowledged exactly once; a fourth finds nothing. */
HL_TEST_T(three_passes_deliver_250_events_each_acked_once, 180) {
  setup("all");
  seed(250);
  const char *extra[] = {"MAX_EVENTS_PER_RUN=100", NULL};
  const long want[] = {100, 100, 50, 0};
  for (int pass = 0; pass < 4; pass++)
    pass_expect(extra, "fetched", want[pass], "delivered", want[pass], "acked", want[pass], "left", 0L, NULL);
  hl_json_doc sd;
  const hl_json *st = inbox_mock_state(&mock, &sd);
  HL_ASSERT_EQ_INT(inbox_mock_count(st, "acks"), 250);
  for (int i = 1; i <= 250; i++) {
    char id[32];
    snprintf(id, sizeof id, "evt-%06d", i);
    HL_ASSERT_MSG(inbox_mock_acks(st, id) == 1, "%s acked %ld times", id, inbox_mock_acks(st, id));
  }
  hl_json_doc_dispose(&sd);
  HL_ASSERT_EQ_INT(e2e_partner_stat(&partner, "requests"), 250);
  HL_ASSERT_EQ_INT(e2e_partner_stat(&partner, "unique_ids"), 250);
  HL_ASSERT_EQ_INT(e2e_partner_stat(&partner, "signature_failures"), 0);
  /* The exact bytes the inbox served: the default payload keeps 100.10. */
  hl_json_doc rd;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "all", 1, 0, &rd), 250);
  const char *body = hl_json_str(hl_json_get(&rd.root->u.items[0], "body"));
  HL_ASSERT_MSG(body && strstr(body, "100.10"), "body %s", body ? body : "(none)");
  hl_json_doc_dispose(&rd);
  teardown();
}

/* 503, 503, 200: delivered on the third attempt, the waits 1 s and 2 s
 * (the schedule's ±20 % jitter; timers never fire early, the upper bound
 * leaves room for a loaded machine), acknowledged once. */
HL_TEST_T(a_503_twice_then_200_is_delivered_on_the_third_attempt_1s_2s_apart, 120) {
  setup("r?codes=503,503,200");
  seed(1);
  pass_expect(NULL, "delivered", 1L, "acked", 1L, "retries", 2L, NULL);
  hl_json_doc rd;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "r", 3, 0, &rd), 3);
  int64_t t[3];
  for (int i = 0; i < 3; i++) HL_ASSERT(hl_json_int64(hl_json_get(&rd.root->u.items[i], "time_ms"), &t[i]) == 0);
  hl_json_doc_dispose(&rd);
  int64_t gap1 = t[1] - t[0], gap2 = t[2] - t[1];
  printf("retry gaps: %lld ms, %lld ms\n", (long long)gap1, (long long)gap2);
  HL_ASSERT_MSG(gap1 >= 800 && gap1 <= 2000, "first wait %lld ms, want 1 s +-20%%", (long long)gap1);
  HL_ASSERT_MSG(gap2 >= 1600 && gap2 <= 3200, "second wait %lld ms, want 2 s +-20%%", (long long)gap2);
  hl_json_doc sd;
  const hl_json *st = inbox_mock_state(&mock, &sd);
  HL_ASSERT_EQ_INT(inbox_mock_acks(st, "evt-000001"), 1);
  hl_json_doc_dispose(&sd);
  teardown();
}

/* A 404: not retried, not acknowledged, left pending and logged with its
 * id; the next pass finds it still pending. */
HL_TEST_T(a_404_is_left_pending_unacknowledged_and_logged, 120) {
  setup("gone?codes=404");
  seed(2);
  pass_expect(NULL, "fetched", 2L, "failed_4xx", 2L, "acked", 0L, "retries", 0L, NULL);
  HL_ASSERT(log_has("\"msg\":\"inbox event left pending for review\",\"event_id\":\"evt-000001\""));
  HL_ASSERT(log_has("\"msg\":\"inbox event left pending for review\",\"event_id\":\"evt-000002\""));
  HL_ASSERT_EQ_INT(e2e_partner_stat(&partner, "requests"), 2);
  mock_expect("ack_requests", 0L, "acks", 0L, NULL);
  pass_expect(NULL, "fetched", 2L, NULL); /* still pending */
  teardown();
}

/* A partner that answers 429 to the end: retried (1 s, 2 s, 4 s) and then
 * left pending as out of retries, not as refused (4xx, for review). */
HL_TEST_T(a_429_to_the_end_counts_as_out_of_retries_not_refused, 120) {
  setup("busy?codes=429,429,429,429");
  seed(1);
  pass_expect(NULL, "fetched", 1L, "exhausted", 1L, "failed_4xx", 0L, "acked", 0L, "retries", 3L, NULL);
  teardown();
}

/* A 302 is final (redirects are not followed): one attempt, no retry,
 * left pending as a failure of its own kind, not as out of retries (it had
 * none) nor as refused (a 4xx, for review). */
HL_TEST_T(a_302_is_final_and_counted_apart_from_out_of_retries, 120) {
  setup("moved?codes=302");
  seed(1);
  pass_expect(NULL, "fetched", 1L, "exhausted", 0L, "failed_4xx", 0L, "failed_other", 1L, "acked", 0L, "retries", 0L,
              "left", 0L, NULL);
  HL_ASSERT_EQ_INT(e2e_partner_stat(&partner, "requests"), 1);
  teardown();
}

static long state_count(const char *name) {
  hl_json_doc sd;
  long v = inbox_mock_count(inbox_mock_state(&mock, &sd), name);
  hl_json_doc_dispose(&sd);
  return v;
}

/* The token expires in the middle of the pass (the mock's clock moves
 * while the acks wait at the mock): the acks get 401, the token is renewed
 * once, and the pass completes with every event acknowledged, none
 * delivered twice. */
HL_TEST_T(a_token_expiring_mid_pass_is_renewed_once_and_the_pass_completes, 120) {
  setup("tok");
  seed(5);
  inbox_mock_post(&mock, "/_control/config", "{\"hold\":[\"ack\"]}");
  char *envp[32];
  base_envp(envp, 32, NULL);
  hl_log_path("hookloop-inbox", log_path, sizeof log_path);
  char *argv[] = {(char *)hl_bin_path("hookloop"), (char *)"inbox", NULL};
  pid_t pid = hl_spawn(argv, envp, log_path);
  for (int waited = 0; state_count("holding") < 5 && waited < 20000; waited += 50) hl_sleep_ms(50);
  HL_ASSERT_EQ_INT(state_count("holding"), 5);
  HL_ASSERT_EQ_INT(state_count("auth_requests"), 1);
  inbox_mock_post(&mock, "/_control/config", "{\"clock_offset_s\":7200,\"hold\":[]}");
  int st = hl_wait(pid, 30000);
  HL_ASSERT(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
  hl_json_doc sd;
  const hl_json *s = inbox_mock_state(&mock, &sd);
  HL_ASSERT_EQ_INT(inbox_mock_count(s, "auth_requests"), 2);
  HL_ASSERT(inbox_mock_count(s, "unauthorized") >= 1);
  HL_ASSERT_EQ_INT(inbox_mock_count(s, "acks"), 5);
  for (int i = 1; i <= 5; i++) {
    char id[32];
    snprintf(id, sizeof id, "evt-%06d", i);
    HL_ASSERT_EQ_INT(inbox_mock_acks(s, id), 1);
  }
  hl_json_doc_dispose(&sd);
  HL_ASSERT_EQ_INT(e2e_partner_stat(&partner, "requests"), 5);
  HL_ASSERT(log_has("\"fetched\":5,\"delivered\":5,\"acked\":5,\"ack_failed\":0"));
  teardown();
}

/* The ack endpoint fails once (500): the ack is sent again and succeeds,
 * and the event is not delivered a second time. */
HL_TEST_T(an_ack_failing_once_is_retried_without_a_second_delivery, 120) {
  setup("ack");
  seed(3);
  inbox_mock_post(&mock, "/_control/config", "{\"fail_acks\":1}");
  pass_expect(NULL, "delivered", 3L, "acked", 3L, "ack_failed", 0L, NULL);
  mock_expect("ack_faults", 1L, "ack_requests", 4L, "acks", 3L, NULL);
  HL_ASSERT_EQ_INT(e2e_partner_stat(&partner, "requests"), 3);
  HL_ASSERT_EQ_INT(e2e_partner_stat(&partner, "duplicates"), 0);
  teardown();
}

/* An ack that fails every time: the event was delivered, is left pending
 * and reported; the next pass delivers it again with the same webhook-id
 * (what the partner de-duplicates by), and acknowledges it. */
HL_TEST_T(an_ack_that_keeps_failing_leaves_the_event_for_a_later_pass_with_the_same_webhook_id, 120) {
  setup("again");
  seed(1);
  inbox_mock_post(&mock, "/_control/config", "{\"fail_acks\":5}");
  pass_expect(NULL, "delivered", 1L, "ack_failed", 1L, NULL);
  HL_ASSERT_EQ_INT(e2e_partner_stat(&partner, "requests"), 1); /* once in that pass */
  pass_expect(NULL, "acked", 1L, NULL);
  HL_ASSERT_EQ_INT(e2e_partner_stat(&partner, "requests"), 2);
  HL_ASSERT_EQ_INT(e2e_partner_stat(&partner, "unique_ids"), 1);
  HL_ASSERT_EQ_INT(e2e_partner_stat(&partner, "duplicates"), 1);
  teardown();
}

/* serve with HOOKLOOP_ROLE=inbox, a pass every second, one more variable
 * (or NULL). */
static void start_serve(e2e_hookloop *h, const char *more) {
  const char *extra[] = {"HOOKLOOP_ROLE=inbox", "INBOX_POLL_INTERVAL_S=1", more, NULL};
  char *envp[32];
  base_envp(envp, 32, extra);
  e2e_start_hookloop(h, (const char *const *)envp);
}

/* serve with HOOKLOOP_ROLE=inbox polls every INBOX_POLL_INTERVAL_S: events
 * seeded while it runs are taken by a later pass; /metrics counts them. */
HL_TEST_T(serve_with_role_inbox_polls_and_counts, 120) {
  setup("serve");
  seed(4);
  e2e_hookloop h = {0};
  start_serve(&h, NULL);
  for (int waited = 0; state_count("acks") < 4 && waited < 20000; waited += 100) hl_sleep_ms(100);
  HL_ASSERT_EQ_INT(state_count("acks"), 4);
  seed(3); /* evt-000005.. after the first pass */
  for (int waited = 0; state_count("acks") < 7 && waited < 20000; waited += 100) hl_sleep_ms(100);
  HL_ASSERT_EQ_INT(state_count("acks"), 7);
  /* A pass is counted when it ends, after its acks: wait for that. */
  for (int waited = 0; e2e_metric(&h, "hookloop_inbox_passes_total") < 2 && waited < 10000; waited += 100)
    hl_sleep_ms(100);
  HL_ASSERT(e2e_metric(&h, "hookloop_inbox_passes_total") >= 2);
  HL_ASSERT_EQ_INT(e2e_metric(&h, "hookloop_inbox_successful_deliveries_total"), 7);
  HL_ASSERT_EQ_INT(e2e_metric(&h, "hookloop_inbox_events_processed_total"), 7);
  HL_ASSERT_EQ_INT(e2e_metric(&h, "hookloop_inbox_failed_deliveries_total"), 0);
  int st = e2e_stop_hookloop(&h, SIGTERM, 20000);
  HL_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  HL_ASSERT_EQ_INT(e2e_partner_stat(&partner, "requests"), 7);
  teardown();
}

/* The Lambda runtime (started as bootstrap) under the emulator on port,
 * with one more variable (or NULL). */
static pid_t start_lambda_runtime(int port, const char *more) {
  static char api[64];
  snprintf(api, sizeof api, "AWS_LAMBDA_RUNTIME_API=127.0.0.1:%d", port);
  const char *extra[] = {api, more, NULL};
  char *envp[32];
  base_envp(envp, 32, extra);
  hl_log_path("hookloop-lambda", log_path, sizeof log_path);
  char boot[700];
  snprintf(boot, sizeof boot, "%s/bootstrap", dir);
  HL_ASSERT(symlink(hl_bin_path("hookloop"), boot) == 0);
  char *argv[] = {boot, NULL};
  return hl_spawn(argv, envp, log_path);
}

static const char scheduled_event[] =
  "{\"version\":\"0\",\"id\":\"53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa\",\"detail-type\":\"Scheduled Event\","
  "\"source\":\"aws.events\",\"account\":\"123456789012\",\"time\":\"2026-11-29T12:00:00Z\","
  "\"region\":\"eu-west-1\",\"resources\":[\"arn:aws:events:eu-west-1:123456789012:rule/inbox\"],"
  "\"detail\":{}}";

/* The parsed report of a Lambda answer (a response, not an error). */
static void lambda_report(emu_result *r, hl_json_doc *d) {
  HL_ASSERT_MSG(r && strcmp(r->kind, "response") == 0, "no response; see %s", log_path);
  hl_json_doc_init(d);
  HL_ASSERT(hl_json_parse(d, r->body, strlen(r->body), NULL) == 0);
}

/* Requests the partner received at /hook/<name> so far. */
static long hook_requests(const char *name) { return e2e_requests_so_far(&partner, name); }

/* SECRET_ARN is kept and read again every INBOX_SECRET_TTL_S: after the
 * secret changes (a new webhook URL), later passes deliver to the new URL
 * with a client made from it; while it cannot be read (the peer restarting)
 * the value in hand is used. */
HL_TEST_T(a_rotated_secret_is_taken_up_after_its_ttl, 120) {
  setup("first");
  seed(2);
  e2e_hookloop h = {0};
  start_serve(&h, "INBOX_SECRET_TTL_S=1");
  for (int waited = 0; state_count("acks") < 2 && waited < 20000; waited += 100) hl_sleep_ms(100);
  HL_ASSERT_EQ_INT(state_count("acks"), 2);
  kill(peer, SIGTERM);
  hl_wait(peer, 5000);
  start_secret("second");
  /* Until a re-read takes the new secret (a read that failed while the
   * peer was down is tried again within 5 s), events still go to "first":
   * one at a time until one reaches "second". */
  long seeded = 2;
  for (int waited = 0; hook_requests("second") == 0 && waited < 30000; waited += 100) {
    if (state_count("acks") == seeded) {
      seed(1);
      seeded++;
    }
    hl_sleep_ms(100);
  }
  HL_ASSERT(hook_requests("second") >= 1);
  for (int waited = 0; state_count("acks") < seeded && waited < 20000; waited += 100) hl_sleep_ms(100);
  /* Every event seeded reached one of the two, once. (The one seeded just
   * as the first reached "second" may have gone there too: the loop reads
   * the partner and the acks one after the other.) */
  long first = hook_requests("first"), second = hook_requests("second");
  HL_ASSERT_EQ_INT(first + second, seeded);
  /* From now on, the new target only. */
  seed(3);
  for (int waited = 0; state_count("acks") < seeded + 3 && waited < 20000; waited += 100) hl_sleep_ms(100);
  HL_ASSERT_EQ_INT(state_count("acks"), seeded + 3);
  HL_ASSERT_EQ_INT(hook_requests("second"), second + 3);
  HL_ASSERT_EQ_INT(hook_requests("first"), first);
  int st = e2e_stop_hookloop(&h, SIGTERM, 20000);
  HL_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  teardown();
}

/* Lambda: unusable inbox settings are an init error the Runtime API hears. */
HL_TEST_T(lambda_bad_inbox_settings_are_an_init_error, 60) {
  setup("never");
  pid_t pid = start_lambda_runtime(emu_start(), "MAX_EVENTS_PER_RUN=0");
  emu_result *r = emu_wait("init", 20000);
  HL_ASSERT_MSG(r && strcmp(r->kind, "init_error") == 0, "no init error; see %s", log_path);
  HL_ASSERT_MSG(r->body && strstr(r->body, "MAX_EVENTS_PER_RUN"), "%s", r->body ? r->body : "");
  int st = hl_wait(pid, 10000);
  HL_ASSERT(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) != 0);
  emu_stop();
  teardown();
}

/* Lambda: an EventBridge scheduled event through the Runtime API emulator
 * runs one pass and answers its report. */
HL_TEST_T(lambda_a_scheduled_event_runs_a_pass_and_answers, 120) {
  setup("lambda");
  seed(6);
  pid_t pid = start_lambda_runtime(emu_start(), NULL);
  hl_json_doc d;
  lambda_report(emu_wait(emu_push(scheduled_event, 0), 30000), &d);
  HL_ASSERT_EQ_INT(rep(d.root, "fetched"), 6);
  HL_ASSERT_EQ_INT(rep(d.root, "acked"), 6);
  hl_json_doc_dispose(&d);
  HL_ASSERT_EQ_INT(state_count("acks"), 6);
  HL_ASSERT_EQ_INT(e2e_partner_stat(&partner, "requests"), 6);
  /* The seed's five metrics as an EMF line on stdout. */
  HL_ASSERT(log_has("\"Namespace\":\"hookloop/inbox\""));
  HL_ASSERT(log_has("\"EventsProcessed\":6,\"SuccessfulDeliveries\":6,\"FailedDeliveries\":0"));
  /* Those five only: the inbox has no retry topic and no dead-letter queue. */
  HL_ASSERT_MSG(!log_has("events_to_retry") && !log_has("events_to_dlq"),
                "the inbox's EMF line names queue metrics the inbox does not have");
  kill(pid, SIGKILL);
  hl_wait(pid, 5000);
  emu_stop();
  teardown();
}



/* A runtime started and up (it asked for its first event) before the
 * clock starts; then one scheduled pass with its deadline 8.3 s away (the
 * stop time 1.8 s in), its report in *d. *pid: the runtime; *answered:
 * when the answer came, to compare with *deadline. */
static pid_t pass_near_the_deadline(hl_json_doc *d, int64_t *deadline, int64_t *answered) {
  emu_reset_first_next();
  pid_t pid = start_lambda_runtime(emu_start(), NULL);
  for (int waited = 0; emu_first_next_ns() == 0 && waited < 20000; waited += 10) hl_sleep_ms(10);
  HL_ASSERT(emu_first_next_ns() != 0);
  *deadline = hl_wall_ms() + 8300;
  emu_result *r = emu_wait(emu_push(scheduled_event, *deadline), 30000);
  *answered = hl_wall_ms();
  lambda_report(r, d);
  return pid;
}

/* Close to the deadline: a pass stops taking work 5 s before the hand-off
 * point (the deadline less 1.5 s). Here that is 1.8 s in: the events whose
 * second retry falls due later (1 s, then 2 s of a partner answering 503)
 * are let go, left pending and reported, and the answer comes before the
 * deadline. */
HL_TEST_T(lambda_a_pass_stops_taking_work_before_the_deadline_and_reports_what_is_left, 120) {
  setup("busy?codes=503");
  seed(3);
  hl_json_doc d;
  int64_t deadline, answered;
  pid_t pid = pass_near_the_deadline(&d, &deadline, &answered);
  HL_ASSERT_EQ_INT(rep(d.root, "fetched"), 3);
  HL_ASSERT_EQ_INT(rep(d.root, "left"), 3);
  HL_ASSERT_EQ_INT(rep(d.root, "acked"), 0);
  HL_ASSERT(hl_json_get(d.root, "stopped_early")->type == HL_JSON_TRUE);
  hl_json_doc_dispose(&d);
  HL_ASSERT_MSG(answered < deadline, "answered %lld ms after the deadline", (long long)(answered - deadline));
  /* Each was tried once or twice (at 0 and ~1 s: a slow start, under a
   * sanitizer, moves the first attempts closer to the stop), never a third
   * time (that one would fall due 2.4 s or more in). */
  int64_t sent = e2e_partner_stat(&partner, "requests");
  HL_ASSERT_MSG(sent >= 3 && sent <= 6, "%lld requests", (long long)sent);
  HL_ASSERT_EQ_INT(e2e_partner_stat(&partner, "unique_ids"), 3);
  HL_ASSERT_EQ_INT(state_count("ack_requests"), 0);
  kill(pid, SIGKILL);
  hl_wait(pid, 5000);
  emu_stop();
  teardown();
}

/* Settings that cannot work stop `hookloop inbox` and `serve` with
 * HOOKLOOP_ROLE=inbox at start, exit code 2, naming the variable. */
HL_TEST_T(bad_inbox_settings_stop_the_process_naming_the_variable, 120) {
  setup("never");
  static const struct {
    const char *env, *name;
  } bad[] = {{"INBOX_RETRY_SCHEDULE=1s,2m", "INBOX_RETRY_SCHEDULE"},
             {"INBOX_RETRY_SCHEDULE=soon", "INBOX_RETRY_SCHEDULE"},
             {"MAX_EVENTS_PER_RUN=0", "MAX_EVENTS_PER_RUN"},
             {"INBOX_POLL_INTERVAL_S=0", "INBOX_POLL_INTERVAL_S"},
             {"API_BASE_URL=ftp://x", "API_BASE_URL"}};
  for (size_t i = 0; i < HL_ARRAY_SIZE(bad); i++) {
    for (int serve = 0; serve < 2; serve++) {
      const char *extra[] = {bad[i].env, "HOOKLOOP_ROLE=inbox", "HOOKLOOP_LISTEN=127.0.0.1:0", NULL};
      char *envp[32];
      base_envp(envp, 32, extra);
      hl_log_path("hookloop-inbox", log_path, sizeof log_path);
      char *argv[] = {(char *)hl_bin_path("hookloop"), (char *)(serve ? "serve" : "inbox"), NULL};
      pid_t pid = hl_spawn(argv, envp, log_path);
      int st = hl_wait(pid, 20000);
      HL_ASSERT_MSG(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 2, "%s %s: status %d; see %s", argv[1],
                    bad[i].env, st, log_path);
      HL_ASSERT_MSG(log_has(bad[i].name), "%s %s: the variable is not named; see %s", argv[1], bad[i].env, log_path);
    }
  }
  HL_ASSERT_EQ_INT(state_count("auth_requests"), 0);
  teardown();
}

/* The secret's webhook URL is judged as a subscription's url is: one on a
 * private address (the partner here, on loopback) is refused unless
 * HOOKLOOP_ALLOW_PRIVATE_TARGETS=1, naming the member, and nothing is
 * fetched or sent. Before, the pass fetched the events and each delivery
 * failed on its connection, retried 1 s, 2 s, 4 s, left pending. */
HL_TEST_T(a_webhook_url_on_a_private_address_is_refused_naming_the_member, 120) {
  setup("private");
  seed(3);
  const char *extra[] = {"HOOKLOOP_ALLOW_PRIVATE_TARGETS=0", NULL};
  hl_json_doc d;
  int code = run_pass(extra, &d);
  hl_json_doc_dispose(&d);
  HL_ASSERT_MSG(code != 0, "the pass succeeded; see %s", log_path);
  HL_ASSERT_MSG(log_has("/zapier_webhook_url: the URL points at a private or special-purpose address"),
                "the member is not named; see %s", log_path);
  HL_ASSERT_EQ_INT(e2e_requests_so_far(&partner, "private"), 0);
  mock_expect("inbox_requests", 0L, "acks", 0L, NULL);
  /* Allowed, the same secret delivers all three. */
  pass_expect(NULL, "fetched", 3L, "delivered", 3L, NULL);
  teardown();
}

/* 350 events the pass cannot take (an id with a control character: skipped,
 * left pending, so every pass meets them first) ahead of 3 good ones: three
 * full pages (100 a page) and a half. The pages of skipped events are paged through, not taken for an inbox that
 * says "more" and serves nothing: the 3 are delivered. Before, the third
 * such page ended every pass with "three pages in a row with nothing new",
 * and the inbox was stuck behind them for good. */
HL_TEST_T(pages_of_skipped_events_do_not_hide_the_good_ones_behind_them, 120) {
  setup("behind");
  hl_buf b = HL_BUF_INIT;
  hl_buf_puts(&b, "{\"events\":[");
  for (int i = 0; i < 350; i++)
    hl_buf_printf(&b, "%s{\"id\":\"bad\\tid-%03d\",\"payload\":\"{\\\"n\\\":%d}\"}", i ? "," : "", i, i);
  hl_buf_puts(&b, "]}");
  hl_buf_putc(&b, '\0');
  inbox_mock_post(&mock, "/_control/seed", b.data);
  hl_buf_dispose(&b);
  seed(3);
  pass_expect(NULL, "fetched", 3L, "delivered", 3L, "acked", 3L, "skipped", 350L, NULL);
  HL_ASSERT_EQ_INT(e2e_requests_so_far(&partner, "behind"), 3);
  teardown();
}

/* Lambda: an attempt still running at the stop time that then fails is not
 * retried in this pass (its retry would fall after the stop): the event is
 * left pending and the answer comes at once. Before, the retry waited and
 * was made, a second 3 s attempt, and the answer came after the deadline. */
HL_TEST_T(lambda_an_attempt_failing_after_the_stop_time_is_not_retried, 120) {
  setup("slow?codes=503&latency_ms=3000");
  seed(1);
  hl_json_doc d;
  int64_t deadline, answered; /* the stop falls 1.8 s in, during the first attempt */
  pid_t pid = pass_near_the_deadline(&d, &deadline, &answered);
  HL_ASSERT_EQ_INT(rep(d.root, "fetched"), 1);
  HL_ASSERT_EQ_INT(rep(d.root, "acked"), 0);
  HL_ASSERT_EQ_INT(rep(d.root, "left"), 1);
  HL_ASSERT(hl_json_get(d.root, "stopped_early")->type == HL_JSON_TRUE);
  hl_json_doc_dispose(&d);
  HL_ASSERT_MSG(answered < deadline, "answered %lld ms after the deadline", (long long)(answered - deadline));
  HL_ASSERT_EQ_INT(e2e_partner_stat(&partner, "requests"), 1);
  kill(pid, SIGKILL);
  hl_wait(pid, 5000);
  emu_stop();
  teardown();
}
