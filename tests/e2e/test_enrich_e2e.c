/* End to end: Partner Info enrichment (docs/enrichment.md). The real
 * hookloop binary, the mock partner, and a loopback Partner Info service
 * (tools/pinfo_server) that counts its requests: the partner gets the
 * event with the answer merged in (exact text), signed over those bytes;
 * a second event within the TTL makes no second fetch; a transformation
 * sees the merged info; the service failing retries (the default) or
 * delivers the accepted bytes (deliver_unenriched). */
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
#include <unistd.h>

static e2e_hookloop hk;
static e2e_partner partner;
static const char *sub_extra; /* members added to the subscription start() registers */

/* 1000.50 and \u00e9 must arrive as written. */
#define ANSWER "{\"tier\":\"gold\",\"limit\":1000.50,\"name\":\"caf\\u00e9\"}"

typedef struct {
  pid_t pid;
  char base[64];
} info_server;

/* Starts tools/pinfo_server with args (NULL-terminated); reads its port. */
static void info_start(info_server *s, const char *const *args) {
  int fds[2];
  HL_ASSERT(pipe(fds) == 0);
  s->pid = fork();
  HL_ASSERT(s->pid >= 0);
  if (s->pid == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    close(fds[1]);
    const char *argv[16] = {"python3", PINFO_SERVER};
    int n = 2;
    for (; args && *args && n < 15; args++) argv[n++] = *args;
    argv[n] = NULL;
    execvp("python3", (char *const *)argv);
    _exit(127);
  }
  close(fds[1]);
  char line[32] = {0};
  size_t got = 0;
  while (got < sizeof line - 1) {
    ssize_t r = read(fds[0], line + got, 1);
    if (r <= 0 || line[got] == '\n') break;
    got++;
  }
  close(fds[0]);
  int port = atoi(line);
  HL_ASSERT_MSG(port > 0, "pinfo_server printed \"%s\"", line);
  snprintf(s->base, sizeof s->base, "http://127.0.0.1:%d", port);
}

static void info_stop(info_server *s) {
  kill(s->pid, SIGTERM);
  waitpid(s->pid, NULL, 0);
}

static int64_t info_requests(const info_server *s, const char *field) {
  char u[128];
  snprintf(u, sizeof u, "%s/_stats", s->base);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_call("GET", u, NULL, &doc), 200);
  int64_t n = -1;
  hl_json_int64(hl_json_get(doc.root, field), &n);
  hl_json_doc_dispose(&doc);
  return n;
}

static void info_mode(const info_server *s, const char *mode) {
  char u[128];
  snprintf(u, sizeof u, "%s/%s", s->base, mode);
  HL_ASSERT_EQ_INT(e2e_call("POST", u, "", NULL), 200);
}

/* hookloop (with the Partner Info settings and extra env) and the mock
 * partner, acme subscribed at /hook/<hook>; the secret into secret. */
static char *start(const info_server *s, const char *hook, const char *extra_env, char *secret, size_t len) {
  char url[160], extra[256] = "";
  snprintf(url, sizeof url, "PARTNER_INFO_URL=%s/partners/{partner_id}", s->base);
  /* extra_env: one setting, or two separated by a space. */
  const char *env[] = {url, "PARTNER_INFO_TOKEN=tok-1", NULL, NULL, NULL};
  if (extra_env) {
    snprintf(extra, sizeof extra, "%s", extra_env);
    char *sp = strchr(extra, ' ');
    env[2] = extra;
    if (sp) {
      *sp = '\0';
      env[3] = sp + 1;
    }
  }
  e2e_start_both(&hk, &partner, NULL, env);
  char target[256];
  snprintf(target, sizeof target, "%s/hook/%s", partner.base, hook);
  return e2e_setup(&hk, "acme", target, sub_extra, secret, len);
}

/* The info server with its arguments, then hookloop and the partner (start). */
static char *begin(info_server *s, const char *const *args, const char *hook, const char *extra_env, char *secret,
                   size_t len) {
  info_start(s, args);
  return start(s, hook, extra_env, secret, len);
}

static void end(info_server *s) {
  e2e_stop_both(&hk, &partner);
  info_stop(s);
}

/* Request idx of n at /hook/name is want exactly, signed over it. */
static void assert_received(const char *name, size_t n, uint32_t idx, const char *id, const char *secret,
                            const char *want) {
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, name, n, 10000, &doc), n);
  const hl_json *r = &doc.root->u.items[idx];
  HL_ASSERT_EQ_STR(hl_json_str(hl_json_get(r, "body")), want);
  HL_ASSERT_EQ_STR(hl_json_str(hl_json_get(r, "webhook_id")), id);
  char sig[128];
  HL_ASSERT(hl_testsig_sign(secret, id, hl_json_str(hl_json_get(r, "webhook_timestamp")), want, strlen(want), sig,
                            sizeof sig) == 0);
  HL_ASSERT_EQ_STR(hl_json_str(hl_json_get(r, "webhook_signature")), sig);
  hl_json_doc_dispose(&doc);
}

/* The event of e2e_post_event with ,"partner_info":ANSWER before its last brace. */
static void enriched(char *out, size_t cap, const char *id, const char *amount) {
  char ev[1024];
  int n = e2e_event_json(ev, sizeof ev, id, amount);
  snprintf(out, cap, "%.*s,\"partner_info\":%s}", n - 1, ev, ANSWER);
}

HL_TEST_T(the_partner_gets_the_enriched_bytes_signed_and_the_answer_is_cached, 120) {
  info_server s;
  const char *args[] = {"--answer", ANSWER, "--max-age", "300", "--token", "tok-1", NULL};
  char secret[128];
  free(begin(&s, args, "rich", NULL, secret, sizeof secret));
  char want[2048];
  HL_ASSERT_EQ_INT(e2e_post_event(&hk, "evt-e-1", "123.4500"), 202);
  enriched(want, sizeof want, "evt-e-1", "123.4500");
  assert_received("rich", 1, 0, "evt-e-1", secret, want);
  HL_ASSERT_EQ_INT(info_requests(&s, "requests"), 1);
  HL_ASSERT_EQ_INT(info_requests(&s, "unauthorized"), 0);
  /* Within the TTL (max-age=300): no second fetch. */
  HL_ASSERT_EQ_INT(e2e_post_event(&hk, "evt-e-2", "7"), 202);
  enriched(want, sizeof want, "evt-e-2", "7");
  assert_received("rich", 2, 1, "evt-e-2", secret, want);
  HL_ASSERT_EQ_INT(info_requests(&s, "requests"), 1);
  /* The transformation runs on the enriched event: a template can use it. */
  char u[256];
  snprintf(u, sizeof u, "%s/admin/transformations", hk.base);
  HL_ASSERT_EQ_INT(e2e_call("POST", u,
                            "{\"event_type\":\"Payment\",\"spec\":{\"version\":1,\"ops\":[{\"op\":\"template\","
                            "\"template\":{\"id\":{\"$ptr\":\"/eventHeader/uuid\"},\"limit\":{\"$ptr\":"
                            "\"/partner_info/limit\"},\"name\":{\"$ptr\":\"/partner_info/name\"}}}]}}",
                            NULL),
                   201);
  HL_ASSERT_EQ_INT(e2e_post_event(&hk, "evt-e-3", "1"), 202);
  assert_received("rich", 3, 2, "evt-e-3", secret, "{\"id\":\"evt-e-3\",\"limit\":1000.50,\"name\":\"caf\\u00e9\"}");
  HL_ASSERT_EQ_INT(info_requests(&s, "requests"), 1);
  HL_ASSERT_EQ_INT(e2e_metric(&hk, "hookloop_partner_info_fetches_total"), 1);
  HL_ASSERT_EQ_INT(e2e_metric(&hk, "hookloop_partner_info_misses_total"), 1);
  HL_ASSERT_EQ_INT(e2e_metric(&hk, "hookloop_partner_info_hits_total"), 2);
  HL_ASSERT_EQ_INT(e2e_metric(&hk, "hookloop_partner_info_failures_total"), 0);
  end(&s);
}

HL_TEST_T(a_failing_info_service_makes_the_delivery_wait_by_default, 120) {
  info_server s;
  const char *args[] = {"--answer", ANSWER, "--max-age", "300", "--token", "tok-1", "--fail", NULL};
  char secret[128];
  free(begin(&s, args, "waits", NULL, secret, sizeof secret));
  HL_ASSERT_EQ_INT(e2e_post_event(&hk, "evt-w-1", "5"), 202);
  /* A failure is not cached: the delivery asks again (once a second). */
  for (int i = 0; i < 200 && info_requests(&s, "requests") < 2; i++) hl_sleep_ms(50);
  HL_ASSERT(info_requests(&s, "requests") >= 2);
  HL_ASSERT(e2e_metric(&hk, "hookloop_partner_info_failures_total") >= 2);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "waits", 0, 0, &doc), 0); /* nothing unenriched went out */
  hl_json_doc_dispose(&doc);
  char st[32];
  long attempts = -1;
  e2e_status(&hk, "evt-w-1", st, sizeof st, &attempts);
  HL_ASSERT_MSG(strcmp(st, "SUCCESS") != 0 && strcmp(st, "FAILED") != 0, "status %s", st);
  /* The service is back: the event goes out enriched. */
  info_mode(&s, "_ok");
  char want[2048];
  enriched(want, sizeof want, "evt-w-1", "5");
  assert_received("waits", 1, 0, "evt-w-1", secret, want);
  HL_ASSERT(e2e_wait_status(&hk, "evt-w-1", "SUCCESS", 5000));
  end(&s);
}

/* With the service failing, event id goes out as accepted (one request asked for it). */
static void assert_unenriched(const info_server *s, const char *hook, const char *id, const char *amount,
                              const char *secret) {
  HL_ASSERT_EQ_INT(e2e_post_event(&hk, id, amount), 202);
  char want[1024];
  e2e_event_json(want, sizeof want, id, amount);
  assert_received(hook, 1, 0, id, secret, want);
  HL_ASSERT(e2e_wait_status(&hk, id, "SUCCESS", 5000));
  HL_ASSERT_EQ_INT(info_requests(s, "requests"), 1);
}

HL_TEST_T(deliver_unenriched_sends_the_accepted_bytes_when_the_service_fails, 120) {
  info_server s;
  const char *args[] = {"--answer", ANSWER, "--token", "tok-1", "--fail", NULL};
  char secret[128];
  free(begin(&s, args, "plain", "PARTNER_INFO_ON_FAILURE=deliver_unenriched", secret, sizeof secret));
  assert_unenriched(&s, "plain", "evt-p-1", "9.90", secret);
  end(&s);
}

/* An answer that gives a name twice is refused like a failing one (the
 * merge would put both into the event, and which one the partner's parser
 * takes is its own choice): here deliver_unenriched, so the accepted bytes
 * go out, and the failure names the member. */
HL_TEST_T(an_answer_with_a_name_twice_is_refused, 120) {
  info_server s;
  const char *args[] = {"--answer", "{\"tier\":\"gold\",\"tier\":\"silver\"}", "--token", "tok-1", NULL};
  char secret[128];
  free(begin(&s, args, "twice", "PARTNER_INFO_ON_FAILURE=deliver_unenriched", secret, sizeof secret));
  assert_unenriched(&s, "twice", "evt-twice-1", "3.30", secret);
  HL_ASSERT(e2e_metric(&hk, "hookloop_partner_info_failures_total") >= 1);
  char *log = hl_read_file(hk.log, NULL);
  HL_ASSERT_MSG(log && strstr(log, "the answer names \\\"tier\\\" twice in its top-level object"), "%s",
                log ? log : "");
  free(log);
  end(&s);
}

/* A hundred events of one partner while its answer is held back: one
 * request, and every one of them goes out enriched. */
HL_TEST_T(concurrent_misses_of_one_partner_make_one_fetch, 120) {
  info_server s;
  const char *args[] = {"--answer", ANSWER, "--max-age", "300", "--token", "tok-1", "--hold", NULL};
  char secret[128];
  free(begin(&s, args, "many", NULL, secret, sizeof secret));
  char id[32];
  for (int i = 0; i < 100; i++) {
    snprintf(id, sizeof id, "evt-m-%d", i);
    HL_ASSERT_EQ_INT(e2e_post_event(&hk, id, "2"), 202);
  }
  info_mode(&s, "_release");
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "many", 100, 20000, &doc), 100);
  for (uint32_t i = 0; i < 100; i++) {
    const hl_json *r = &doc.root->u.items[i];
    const char *wid = hl_json_str(hl_json_get(r, "webhook_id"));
    char want[2048];
    enriched(want, sizeof want, wid, "2");
    HL_ASSERT_EQ_STR(hl_json_str(hl_json_get(r, "body")), want);
  }
  hl_json_doc_dispose(&doc);
  HL_ASSERT_EQ_INT(info_requests(&s, "requests"), 1);
  end(&s);
}

/* A service that never answers costs PARTNER_INFO_TIMEOUT_MS per try: the
 * delivery waits (RETRYING, "timed out"), the process stops cleanly while
 * it waits, and after a restart the event goes out enriched. */
HL_TEST_T(a_silent_service_times_out_and_the_event_survives_a_restart, 120) {
  info_server s;
  const char *args[] = {"--answer", ANSWER, "--max-age", "300", "--token", "tok-1", "--hold", NULL};
  char secret[128];
  free(begin(&s, args, "slow", "PARTNER_INFO_TIMEOUT_MS=300", secret, sizeof secret));
  HL_ASSERT_EQ_INT(e2e_post_event(&hk, "evt-t-1", "3"), 202);
  /* The held answer would take 60 s; a second request means the first was cut off. */
  for (int i = 0; i < 200 && info_requests(&s, "requests") < 2; i++) hl_sleep_ms(50);
  HL_ASSERT(info_requests(&s, "requests") >= 2);
  char err[512], status[32];
  int64_t attempts = -1;
  long n = -1;
  e2e_delivery_error(&hk, "evt-t-1", err, sizeof err, &attempts);
  HL_ASSERT_MSG(strstr(err, "partner info: timed out"), "last_error %s", err);
  e2e_status(&hk, "evt-t-1", status, sizeof status, &n);
  HL_ASSERT_EQ_STR(status, "RETRYING");
  HL_ASSERT_EQ_INT(attempts, 0);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "slow", 0, 0, &doc), 0);
  hl_json_doc_dispose(&doc);
  int st = e2e_stop_hookloop(&hk, SIGTERM, 20000);
  HL_ASSERT_MSG(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "hookloop did not exit cleanly (%d)", st);
  info_mode(&s, "_release");
  char url[160];
  snprintf(url, sizeof url, "PARTNER_INFO_URL=%s/partners/{partner_id}", s.base);
  const char *env[] = {url, "PARTNER_INFO_TOKEN=tok-1", NULL};
  e2e_start_hookloop(&hk, env);
  char want[2048];
  enriched(want, sizeof want, "evt-t-1", "3");
  assert_received("slow", 1, 0, "evt-t-1", secret, want);
  end(&s);
}

/* docs/enrichment.md: no-store keeps the answer for no later event, also
 * when it comes after a max-age, far into a long Cache-Control line. */
HL_TEST_T(an_answer_marked_no_store_after_a_long_header_is_not_kept, 120) {
  info_server s;
  char cc[400];
  snprintf(cc, sizeof cc, "max-age=300, x-pad=\"%0200d\", no-store", 0);
  const char *args[] = {"--answer", ANSWER, "--cache-control", cc, "--token", "tok-1", NULL};
  char secret[128];
  free(begin(&s, args, "nostore", NULL, secret, sizeof secret));
  char want[2048];
  HL_ASSERT_EQ_INT(e2e_post_event(&hk, "evt-n-1", "1"), 202);
  enriched(want, sizeof want, "evt-n-1", "1");
  assert_received("nostore", 1, 0, "evt-n-1", secret, want);
  HL_ASSERT_EQ_INT(e2e_post_event(&hk, "evt-n-2", "2"), 202);
  enriched(want, sizeof want, "evt-n-2", "2");
  assert_received("nostore", 2, 1, "evt-n-2", secret, want);
  HL_ASSERT_EQ_INT(info_requests(&s, "requests"), 2); /* fetched again */
  end(&s);
}

/* A failing service trips its breaker: after PARTNER_INFO_BREAKER_FAILURES
 * failed requests the waiting delivery's retries are refused at once,
 * without asking the service again, until the breaker lets a probe through. */
HL_TEST_T(a_failing_service_trips_its_breaker_instead_of_piling_up_requests, 120) {
  info_server s;
  const char *args[] = {"--answer", ANSWER, "--token", "tok-1", "--fail", NULL};
  char secret[128];
  free(begin(&s, args, "tripped", "PARTNER_INFO_BREAKER_FAILURES=2 PARTNER_INFO_BREAKER_OPEN_MS=600000",
             secret, sizeof secret));
  HL_ASSERT_EQ_INT(e2e_post_event(&hk, "evt-b-1", "4"), 202);
  /* Three retries refused by the open breaker (one a second)... */
  for (int i = 0; i < 400 && e2e_metric(&hk, "hookloop_partner_info_refused_total") < 3; i++) hl_sleep_ms(50);
  HL_ASSERT(e2e_metric(&hk, "hookloop_partner_info_refused_total") >= 3);
  /* ...and the service was asked only the two times that opened it. */
  HL_ASSERT_EQ_INT(info_requests(&s, "requests"), 2);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "tripped", 0, 0, &doc), 0);
  hl_json_doc_dispose(&doc);
  end(&s);
}

/* An event the answer cannot be put into (the key goes through a string)
 * fails at once, without an attempt: no retry can make it fit. */
HL_TEST_T(an_event_the_answer_cannot_be_put_into_fails_without_an_attempt, 60) {
  info_server s;
  const char *args[] = {"--answer", ANSWER, "--max-age", "300", "--token", "tok-1", NULL};
  char secret[128];
  free(begin(&s, args, "unfit", "PARTNER_INFO_KEY=/currency/info", secret, sizeof secret));
  HL_ASSERT_EQ_INT(e2e_post_event(&hk, "evt-u-1", "1"), 202);
  HL_ASSERT(e2e_wait_status(&hk, "evt-u-1", "FAILED", 10000));
  char err[512];
  int64_t attempts = -1;
  e2e_delivery_error(&hk, "evt-u-1", err, sizeof err, &attempts);
  HL_ASSERT_MSG(strstr(err, "partner info merge:"), "last_error %s", err);
  HL_ASSERT_EQ_INT(attempts, 0);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "unfit", 0, 0, &doc), 0);
  hl_json_doc_dispose(&doc);
  end(&s);
}

/* --- SigV4 (PARTNER_INFO_AUTH=sigv4, an API Gateway IAM endpoint) ----------------------- */

/* The paths the info server saw, as one JSON array text. */
static void info_paths(const info_server *s, char *out, size_t cap) {
  char u[128];
  snprintf(u, sizeof u, "%s/_stats", s->base);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_call("GET", u, NULL, &doc), 200);
  const hl_json *p = hl_json_get(doc.root, "paths");
  HL_ASSERT(p && p->type == HL_JSON_ARRAY);
  snprintf(out, cap, "%s", p->len > 0 ? hl_json_str(&p->u.items[0]) : "");
  hl_json_doc_dispose(&doc);
}

/* hookloop signing with the static keys AKID-P and secret_key (and a
 * session token), the info server checking with AKID-P:s3cret:sess-1; the
 * URL template has a query, with an escape in it, to be signed as sent. */
static void start_signed(info_server *s, const char *hook, const char *partner_id, const char *secret_key,
                         char *secret, size_t len) {
  const char *args[] = {"--answer", ANSWER, "--max-age", "300", "--sigv4", "AKID-P:s3cret:sess-1", "--region",
                        "eu-west-1", NULL};
  info_start(s, args);
  char url[200], sk[128];
  snprintf(url, sizeof url, "PARTNER_INFO_URL=%s/partners/{partner_id}?view=full&a=b%%20c", s->base);
  snprintf(sk, sizeof sk, "AWS_SECRET_ACCESS_KEY=%s", secret_key);
  const char *env[] = {url, "PARTNER_INFO_AUTH=sigv4", "PARTNER_INFO_REGION=eu-west-1", "AWS_ACCESS_KEY_ID=AKID-P",
                       sk, "AWS_SESSION_TOKEN=sess-1", NULL};
  e2e_start_both(&hk, &partner, NULL, env);
  char target[256];
  snprintf(target, sizeof target, "%s/hook/%s", partner.base, hook);
  free(e2e_setup(&hk, partner_id, target, NULL, secret, len));
}

/* The service checks each request's signature with botocore: hookloop's
 * is accepted, the answer merged in, and the query is signed as sent. */
HL_TEST_T(sigv4_requests_are_accepted_by_an_independent_verifier, 120) {
  info_server s;
  char secret[128];
  start_signed(&s, "signed", "acme.eu_1", "s3cret", secret, sizeof secret);
  HL_ASSERT_EQ_INT(e2e_post_event(&hk, "evt-s-1", "10"), 202);
  char want[2048];
  enriched(want, sizeof want, "evt-s-1", "10");
  assert_received("signed", 1, 0, "evt-s-1", secret, want);
  HL_ASSERT_EQ_INT(info_requests(&s, "requests"), 1);
  HL_ASSERT_EQ_INT(info_requests(&s, "unauthorized"), 0);
  char path[256];
  info_paths(&s, path, sizeof path);
  HL_ASSERT_EQ_STR(path, "/partners/acme.eu_1?view=full&a=b%20c");
  end(&s);
}

/* A signature the verifier does not accept (the wrong secret key) is
 * refused: nothing goes out, the delivery waits (retry). */
HL_TEST_T(a_bad_sigv4_signature_is_refused_and_the_delivery_waits, 120) {
  info_server s;
  char secret[128];
  start_signed(&s, "refused", "acme", "not-the-secret", secret, sizeof secret);
  HL_ASSERT_EQ_INT(e2e_post_event(&hk, "evt-s-2", "10"), 202);
  for (int i = 0; i < 200 && info_requests(&s, "unauthorized") < 1; i++) hl_sleep_ms(50);
  HL_ASSERT(info_requests(&s, "unauthorized") >= 1);
  HL_ASSERT_EQ_INT(info_requests(&s, "unauthorized"), info_requests(&s, "requests"));
  char err[512];
  int64_t attempts = -1;
  e2e_delivery_error(&hk, "evt-s-2", err, sizeof err, &attempts);
  HL_ASSERT_EQ_INT(attempts, 0);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "refused", 0, 0, &doc), 0);
  hl_json_doc_dispose(&doc);
  end(&s);
}

/* --- the failure policy per subscription (enrichment.on_failure) ------------------------ */

/* The subscription's "enrichment" as GET /admin/subscriptions/{id} shows it. */
static void assert_sub_enrichment(const char *sub_id, const char *want) {
  char u[256];
  snprintf(u, sizeof u, "%s/admin/subscriptions/%s", hk.base, sub_id);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_call("GET", u, NULL, &doc), 200);
  const hl_json *e = hl_json_get(doc.root, "enrichment");
  HL_ASSERT(e != NULL);
  char got[128];
  snprintf(got, sizeof got, "%.*s", (int)e->src_len, e->src);
  HL_ASSERT_EQ_STR(got, want);
  hl_json_doc_dispose(&doc);
}

/* A bad policy is refused with the pointer of the bad value. */
static void assert_refused(const char *enrichment, const char *path) {
  char u[256], body[512];
  snprintf(u, sizeof u, "%s/admin/subscriptions", hk.base);
  snprintf(body, sizeof body,
           "{\"partner_id\":\"acme\",\"event_type\":\"Payment\",\"url\":\"%s/hook/x\",\"enrichment\":%s}",
           partner.base, enrichment);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_call("POST", u, body, &doc), 400);
  const hl_json *d = hl_json_get(doc.root, "details");
  HL_ASSERT(d && d->type == HL_JSON_ARRAY && d->len == 1);
  HL_ASSERT_EQ_STR(hl_json_str(hl_json_get(&d->u.items[0], "path")), path);
  hl_json_doc_dispose(&doc);
}

/* PARTNER_INFO_ON_FAILURE is retry; this subscription says
 * deliver_unenriched: with the service down it gets the accepted bytes. */
HL_TEST_T(a_subscription_that_says_deliver_unenriched_gets_the_accepted_bytes, 120) {
  info_server s;
  const char *args[] = {"--answer", ANSWER, "--token", "tok-1", "--fail", NULL};
  char secret[128];
  sub_extra = "\"enrichment\":{\"on_failure\":\"deliver_unenriched\"}";
  char *id = begin(&s, args, "own", NULL, secret, sizeof secret);
  sub_extra = NULL;
  assert_sub_enrichment(id, "{\"on_failure\":\"deliver_unenriched\"}");
  assert_unenriched(&s, "own", "evt-o-1", "6", secret);
  assert_refused("{\"on_failure\":\"drop\"}", "/enrichment/on_failure");
  assert_refused("{\"on_failur\":\"retry\"}", "/enrichment/on_failur");
  assert_refused("\"retry\"", "/enrichment");
  assert_sub_enrichment(id, "{\"on_failure\":\"deliver_unenriched\"}"); /* unchanged by the refusals */
  free(id);
  end(&s);
}

/* PARTNER_INFO_ON_FAILURE is deliver_unenriched; this subscription says
 * retry: with the service down its delivery waits, and goes out enriched
 * once the service is back. One without a policy shows null. */
HL_TEST_T(a_subscription_that_says_retry_waits_for_the_service, 120) {
  info_server s;
  const char *args[] = {"--answer", ANSWER, "--max-age", "300", "--token", "tok-1", "--fail", NULL};
  char secret[128];
  sub_extra = "\"enrichment\":{\"on_failure\":\"retry\"}";
  char *id = begin(&s, args, "own-retry", "PARTNER_INFO_ON_FAILURE=deliver_unenriched", secret, sizeof secret);
  sub_extra = NULL;
  assert_sub_enrichment(id, "{\"on_failure\":\"retry\"}");
  HL_ASSERT_EQ_INT(e2e_post_event(&hk, "evt-r-1", "8"), 202);
  for (int i = 0; i < 200 && info_requests(&s, "requests") < 2; i++) hl_sleep_ms(50);
  HL_ASSERT(info_requests(&s, "requests") >= 2);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "own-retry", 0, 0, &doc), 0);
  hl_json_doc_dispose(&doc);
  info_mode(&s, "_ok");
  char want[2048];
  enriched(want, sizeof want, "evt-r-1", "8");
  assert_received("own-retry", 1, 0, "evt-r-1", secret, want);
  /* Re-registered without the member: back to the process's policy. */
  char target[256];
  snprintf(target, sizeof target, "%s/hook/own-retry", partner.base);
  char *again = e2e_setup(&hk, "acme", target, NULL, NULL, 0);
  HL_ASSERT_EQ_STR(again, id);
  assert_sub_enrichment(id, "null");
  free(again);
  free(id);
  end(&s);
}

/* A Payment event of about bytes bytes ("items" make it large) into out. */
static void large_event(hl_buf *out, const char *id, size_t bytes) {
  hl_buf_printf(out, "{\"eventHeader\":{\"uuid\":\"%s\",\"eventType\":\"Payment\"},\"amount\":1.50,\"currency\":\"EUR\","
                     "\"items\":[", id);
  for (int i = 0; out->len < bytes; i++) hl_buf_printf(out, "%s{\"a\":%d,\"b\":[1,2,3],\"c\":\"x\"}", i ? "," : "", i);
  hl_buf_puts(out, "]}");
}

/* A large event is merged on the threadpool, into the same bytes as on the
 * loop: the answer's exact text before the event's last brace. */
HL_TEST_T(a_large_event_is_enriched_on_the_threadpool_with_the_same_bytes, 120) {
  info_server s;
  const char *args[] = {"--answer", ANSWER, "--max-age", "300", "--token", "tok-1", NULL};
  char secret[128];
  free(begin(&s, args, "large", NULL, secret, sizeof secret));
  hl_buf big = HL_BUF_INIT, want = HL_BUF_INIT;
  large_event(&big, "evt-l-1", 700000);
  char u[256];
  snprintf(u, sizeof u, "%s/api/v1/events", hk.base);
  HL_ASSERT_EQ_INT(e2e_call("POST", u, big.data, NULL), 202);
  hl_buf_append(&want, big.data, big.len - 1);
  hl_buf_printf(&want, ",\"partner_info\":%s}", ANSWER);
  assert_received("large", 1, 0, "evt-l-1", secret, want.data);
  HL_ASSERT(e2e_wait_status(&hk, "evt-l-1", "SUCCESS", 5000));
  HL_ASSERT_EQ_INT(e2e_metric(&hk, "hookloop_delivery_shapings_total{where=\"threadpool\"}"), 1);
  HL_ASSERT_EQ_INT(e2e_metric(&hk, "hookloop_delivery_shapings_total{where=\"loop\"}"), 0);
  hl_buf_dispose(&want);
  hl_buf_dispose(&big);
  end(&s);
}
