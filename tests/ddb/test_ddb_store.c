/* The DynamoDB store beyond the shared contract, against a real dynalite
 * process: conditional-put races on the idempotency ledger, batched status
 * writes that keep their order, exact numbers, a fault-injecting proxy
 * (throttling and 5xx: every write lands exactly once), credentials from a
 * container-credentials endpoint served by the test, and an expired token. */
#include "hl_test.h"
#include "hl_testutil.h"
#include "common/hl_common.h"
#include "json/hl_json.h"
#include "loop/hl_curl_uv.h"
#include "store/hl_store_ddb.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

static uv_loop_t loop;
static hl_curl_uv curl;
static hl_dynalite dyn;

typedef struct {
  int calls, status;
  hl_store_result res;
} capture;

static void cap_cb(void *data, int status, hl_store_result *res) {
  capture *c = data;
  c->calls++;
  c->status = status;
  c->res = *res;
  *res = (hl_store_result){0};
}

static void run_until_all(capture *c, size_t n) {
  for (int i = 0; i < 400000; i++) {
    size_t done = 0;
    for (size_t k = 0; k < n; k++) done += c[k].calls > 0;
    if (done == n) return;
    uv_run(&loop, UV_RUN_ONCE);
  }
  HL_ASSERT_MSG(0, "not every callback ran");
}

typedef struct {
  int calls;
  hl_store_check part;
} check_capture;

static void on_checked(void *data, const hl_store_check *parts, size_t n) {
  check_capture *c = data;
  c->calls++;
  HL_ASSERT_EQ_INT(n, 1); /* no queue beneath these stores */
  c->part = parts[0];
}

/* Runs the store's health check; returns its status, the part in *out. */
static int store_check(hl_store *s, hl_store_check *out) {
  check_capture c = {0};
  s->vt->check(s, on_checked, &c);
  HL_ASSERT_EQ_INT(c.calls, 0); /* never from inside the call */
  while (!c.calls && uv_run(&loop, UV_RUN_ONCE)) {}
  HL_ASSERT_EQ_STR(c.part.part, "dynamodb");
  if (out) *out = c.part;
  return c.part.status;
}

static void on_tables(void *data, int status, const char *report) {
  if (status != 0) fprintf(stderr, "%s", report);
  *(int *)data = status == 0 ? 1 : -1;
}

static hl_store *open_with(const char *endpoint, const hl_aws_creds_env *creds, unsigned max_attempts) {
  hl_ddb_config cfg = {.client = {.endpoint = endpoint, .region = "us-east-1", .max_attempts = max_attempts,
                                  .base_ms = 5, .throttle_base_ms = 20, .cap_ms = 200}};
  cfg.creds = *creds;
  hl_store *s = NULL;
  char err[256] = "";
  HL_ASSERT_MSG(hl_store_ddb_open(&loop, &curl, &cfg, NULL, &s, err, sizeof err) == 0, "open: %s", err);
  return s;
}

static const hl_aws_creds_env static_creds = {.access_key_id = "AKIDEXAMPLE", .secret_access_key = "test-secret"};

/* dynalite up, tables made, one store on it. */
static hl_store *setup(void) {
  uv_loop_init(&loop);
  hl_curl_uv_init(&curl, &loop, 256);
  HL_ASSERT_MSG(hl_dynalite_start(&dyn, 0) == 0, "dynalite did not start");
  hl_store *s = open_with(dyn.endpoint, &static_creds, 0);
  int done = 0;
  hl_ddb_tables_create(s, on_tables, &done);
  while (!done && uv_run(&loop, UV_RUN_ONCE)) {}
  HL_ASSERT_EQ_INT(done, 1);
  return s;
}

static void on_flag(void *data) { *(int *)data = 1; }

static void close_one(hl_store *s) {
  int closed = 0;
  s->vt->close(s, on_flag, &closed);
  while (!closed && uv_run(&loop, UV_RUN_ONCE)) {}
  HL_ASSERT(closed);
}

static void teardown(void) {
  hl_curl_uv_close(&curl, NULL, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  HL_ASSERT_EQ_INT(uv_loop_close(&loop), 0);
  hl_dynalite_stop(&dyn);
}

/* A test peer: the fault-injecting proxy in front of dynalite. */
typedef struct {
  pid_t pid;
  int port;
  char endpoint[64];
} proxy;

static void proxy_start(proxy *p, const char *const *extra) {
  char upstream[96];
  snprintf(upstream, sizeof upstream, "%s/", dyn.endpoint);
  const char *args[32];
  int n = 0;
  args[n++] = "--upstream";
  args[n++] = upstream;
  for (int i = 0; extra && extra[i] && n < 31; i++) args[n++] = extra[i];
  args[n] = NULL;
  p->port = 0;
  p->pid = hl_aws_peer_start(&p->port, args);
  snprintf(p->endpoint, sizeof p->endpoint, "http://127.0.0.1:%d", p->port);
}

static long proxy_stat(proxy *p, const char *name) {
  char url[96], *body = NULL;
  snprintf(url, sizeof url, "%s/stats", p->endpoint);
  HL_ASSERT_EQ_INT(hl_http("GET", url, NULL, 0, NULL, &body), 200);
  hl_json_doc doc;
  hl_json_doc_init(&doc);
  HL_ASSERT(hl_json_parse(&doc, body, strlen(body), NULL) == 0);
  int64_t v = -1;
  hl_json_int64(hl_json_get(doc.root, name), &v);
  hl_json_doc_dispose(&doc);
  free(body);
  return (long)v;
}

static void proxy_stop(proxy *p) {
  kill(p->pid, SIGTERM);
  hl_wait(p->pid, 3000);
}

HL_TEST(ledger_conditional_put_has_one_winner_per_key) {
  hl_store *a = setup();
  hl_store *b = open_with(dyn.endpoint, &static_creds, 0);
  /* Two stores (two processes, in effect) race for 30 keys, 3 tries each. */
  enum { KEYS = 30, TRIES = 3 };
  static capture c[KEYS * TRIES * 2];
  char key[64];
  size_t n = 0;
  for (int t = 0; t < TRIES; t++)
    for (int k = 0; k < KEYS; k++) {
      snprintf(key, sizeof key, "sub_race#evt-%d", k);
      a->vt->ledger_put(a, key, "DELIVERED", hl_wall_ms() / 1000 + 3600, false, cap_cb, &c[n++]);
      b->vt->ledger_put(b, key, "DELIVERED", hl_wall_ms() / 1000 + 3600, false, cap_cb, &c[n++]);
    }
  run_until_all(c, n);
  int wins = 0, lost = 0;
  for (size_t i = 0; i < n; i++) {
    if (c[i].status == 0) wins++;
    else if (c[i].status == HL_EEXISTS) lost++;
  }
  HL_ASSERT_EQ_INT(wins, KEYS);
  HL_ASSERT_EQ_INT(lost, KEYS * TRIES * 2 - KEYS);
  /* An entry past its expiry is free to take again. */
  capture e[3] = {{0}};
  a->vt->ledger_put(a, "sub_race#old", "ACCEPTED", hl_wall_ms() / 1000 - 10, true, cap_cb, &e[0]);
  run_until_all(e, 1);
  b->vt->ledger_put(b, "sub_race#old", "DELIVERED", 0, false, cap_cb, &e[1]);
  run_until_all(e + 1, 1);
  HL_ASSERT_EQ_INT(e[1].status, 0);
  a->vt->ledger_get(a, "sub_race#old", cap_cb, &e[2]);
  run_until_all(e + 2, 1);
  HL_ASSERT_EQ_STR(e[2].res.value, "DELIVERED");
  hl_store_result_dispose(&e[2].res);
  close_one(a);
  close_one(b);
  teardown();
}

HL_TEST(status_writes_are_batched_and_keep_their_order) {
  hl_store *s = setup();
  hl_ddb_client *cl = hl_store_ddb_client(s);
  int64_t calls0 = cl->calls;
  enum { N = 60 };
  static capture c[N + 8];
  char ev[32];
  /* 60 deliveries of 60 events and five states of one more, in one turn. */
  for (int i = 0; i < N; i++) {
    snprintf(ev, sizeof ev, "evt-b%d", i);
    hl_delivery_rec r = {.event_id = ev, .subscription_id = "sub_b", .status = "SUCCESS", .attempts = 1,
                         .last_status_code = 200, .updated_at = hl_wall_ms()};
    s->vt->delivery_put(s, &r, cap_cb, &c[i]);
  }
  static const char *states[] = {"PENDING", "RETRYING", "RETRYING", "RETRYING", "FAILED"};
  for (int k = 0; k < 5; k++) {
    hl_delivery_rec r = {.event_id = "evt-order", .subscription_id = "sub_b", .status = (char *)states[k],
                         .attempts = k + 1, .last_status_code = k == 4 ? 410 : 503};
    s->vt->delivery_put(s, &r, cap_cb, &c[N + k]);
  }
  run_until_all(c, N + 5);
  for (int i = 0; i < N + 5; i++) HL_ASSERT_EQ_INT(c[i].status, 0);
  /* 61 distinct items: three BatchWriteItem calls of at most 25, not 65 puts. */
  HL_ASSERT_EQ_INT(cl->calls - calls0, 3);
  /* Across turns: a write issued while the previous one of the same key is
   * in flight waits for it, so the last state wins. */
  capture d[3] = {{0}};
  hl_delivery_rec r1 = {.event_id = "evt-order", .subscription_id = "sub_b", .status = "RETRYING", .attempts = 6};
  s->vt->delivery_put(s, &r1, cap_cb, &d[0]);
  uv_run(&loop, UV_RUN_NOWAIT); /* r1 leaves */
  hl_delivery_rec r2 = {.event_id = "evt-order", .subscription_id = "sub_b", .status = "SUCCESS", .attempts = 7,
                        .last_status_code = 200};
  s->vt->delivery_put(s, &r2, cap_cb, &d[1]);
  run_until_all(d, 2);
  s->vt->delivery_list(s, "evt-order", cap_cb, &d[2]);
  run_until_all(d + 2, 1);
  HL_ASSERT_EQ_INT(d[2].res.ndeliveries, 1);
  HL_ASSERT_EQ_STR(d[2].res.deliveries[0].status, "SUCCESS");
  HL_ASSERT_EQ_INT(d[2].res.deliveries[0].attempts, 7);
  hl_store_result_dispose(&d[2].res);
  close_one(s);
  teardown();
}

HL_TEST(ledger_reads_are_batched) {
  hl_store *s = setup();
  enum { KEYS = 120 };
  static capture w[KEYS];
  char key[48];
  for (int i = 0; i < KEYS; i += 2) { /* every other key exists */
    snprintf(key, sizeof key, "sub_g#evt-%d", i);
    s->vt->ledger_put(s, key, "DELIVERED", 0, true, cap_cb, &w[i]);
  }
  for (int i = 0; i < KEYS; i += 2) run_until_all(&w[i], 1);
  hl_ddb_client *cl = hl_store_ddb_client(s);
  int64_t calls0 = cl->calls;
  /* 120 distinct keys and 30 repeated reads in one turn. */
  static capture r[KEYS + 30];
  for (int i = 0; i < KEYS + 30; i++) {
    snprintf(key, sizeof key, "sub_g#evt-%d", i % KEYS);
    s->vt->ledger_get(s, key, cap_cb, &r[i]);
  }
  run_until_all(r, KEYS + 30);
  for (int i = 0; i < KEYS + 30; i++) {
    if ((i % KEYS) % 2 == 0) {
      HL_ASSERT_EQ_INT(r[i].status, 0);
      HL_ASSERT_EQ_STR(r[i].res.value, "DELIVERED");
    } else {
      HL_ASSERT_EQ_INT(r[i].status, HL_ENOTFOUND);
    }
    hl_store_result_dispose(&r[i].res);
  }
  HL_ASSERT_EQ_INT(cl->calls - calls0, 2); /* BatchGetItem: 100 keys, then 20 */
  close_one(s);
  teardown();
}

HL_TEST(lists_follow_every_page) {
  hl_store *w = setup();
  /* A reader that asks for pages of 2 items must still see all 7. */
  hl_ddb_config cfg = {.client = {.endpoint = dyn.endpoint, .region = "us-east-1"}, .creds = static_creds,
                       .page_limit = 2};
  hl_store *r = NULL;
  char err[256];
  HL_ASSERT(hl_store_ddb_open(&loop, &curl, &cfg, NULL, &r, err, sizeof err) == 0);
  static capture c[16];
  char partner[16], ev[16];
  for (int i = 0; i < 7; i++) {
    snprintf(partner, sizeof partner, "p%d", i);
    hl_sub_rec sub = {.subscription_id = partner, .partner_id = partner, .event_type = "T", .url = "http://x/",
                      .status = "ACTIVE"};
    w->vt->sub_put(w, &sub, cap_cb, &c[i]);
    snprintf(ev, sizeof ev, "sub_%d", i);
    hl_delivery_rec d = {.event_id = "evt-pages", .subscription_id = ev, .status = "SUCCESS"};
    w->vt->delivery_put(w, &d, cap_cb, &c[7 + i]);
  }
  run_until_all(c, 14);
  int64_t calls0 = hl_store_ddb_client(r)->calls;
  r->vt->sub_list(r, cap_cb, &c[14]);
  r->vt->delivery_list(r, "evt-pages", cap_cb, &c[15]);
  run_until_all(c + 14, 2);
  HL_ASSERT_EQ_INT(c[14].res.nsubs, 7);
  HL_ASSERT_EQ_INT(c[15].res.ndeliveries, 7);
  HL_ASSERT(hl_store_ddb_client(r)->calls - calls0 >= 8); /* four pages each */
  hl_store_result_dispose(&c[14].res);
  hl_store_result_dispose(&c[15].res);
  close_one(r);
  close_one(w);
  teardown();
}

HL_TEST(numbers_are_exact) {
  hl_store *s = setup();
  /* 2^53 + 1: a double would turn it into 2^53. */
  hl_delivery_rec r = {.event_id = "evt-n", .subscription_id = "sub_n", .status = "SUCCESS",
                       .attempts = 9007199254740993LL, .updated_at = INT64_MAX};
  capture c[2] = {{0}};
  s->vt->delivery_put(s, &r, cap_cb, &c[0]);
  run_until_all(c, 1);
  s->vt->delivery_list(s, "evt-n", cap_cb, &c[1]);
  run_until_all(c + 1, 1);
  HL_ASSERT_EQ_INT(c[1].res.ndeliveries, 1);
  HL_ASSERT(c[1].res.deliveries[0].attempts == 9007199254740993LL);
  HL_ASSERT(c[1].res.deliveries[0].updated_at == INT64_MAX);
  hl_store_result_dispose(&c[1].res);
  close_one(s);
  teardown();
}

HL_TEST(throttling_and_5xx_every_write_lands_once) {
  hl_store *direct = setup();
  proxy p;
  const char *faults[] = {"--throttle-pct", "25", "--error-pct", "15", "--unprocessed-pct", "50",
                          "--unprocessed-first", "2", NULL};
  proxy_start(&p, faults);
  /* 40 % of requests fail before reaching the server; 25 attempts make a
   * write that never lands a one-in-10^10 event, not a flaky test. */
  hl_store *s = open_with(p.endpoint, &static_creds, 25);
  enum { D = 150, L = 60 };
  static capture c[D + L];
  char ev[32], key[48];
  for (int i = 0; i < D; i++) {
    snprintf(ev, sizeof ev, "evt-f%d", i);
    hl_delivery_rec r = {.event_id = ev, .subscription_id = "sub_f", .status = "SUCCESS", .attempts = i + 1,
                         .last_status_code = 200};
    s->vt->delivery_put(s, &r, cap_cb, &c[i]);
  }
  for (int i = 0; i < L; i++) {
    snprintf(key, sizeof key, "sub_f#evt-f%d", i);
    s->vt->ledger_put(s, key, "DELIVERED", 0, false, cap_cb, &c[D + i]);
  }
  run_until_all(c, D + L);
  for (int i = 0; i < D + L; i++) HL_ASSERT_MSG(c[i].status == 0, "write %d: %s", i, hl_strerror(c[i].status));
  HL_ASSERT(proxy_stat(&p, "throttled") > 0);
  HL_ASSERT(proxy_stat(&p, "errored") > 0);
  HL_ASSERT(proxy_stat(&p, "unprocessed_items") > 0); /* and they were re-sent */
  /* Read back without the proxy: each write is there once, as written. */
  for (int i = 0; i < D; i += 7) {
    snprintf(ev, sizeof ev, "evt-f%d", i);
    capture g = {0};
    direct->vt->delivery_list(direct, ev, cap_cb, &g);
    run_until_all(&g, 1);
    HL_ASSERT_EQ_INT(g.res.ndeliveries, 1);
    HL_ASSERT_EQ_INT(g.res.deliveries[0].attempts, i + 1);
    hl_store_result_dispose(&g.res);
  }
  /* Every ledger key was won by its only writer: a second try loses. */
  capture again = {0};
  direct->vt->ledger_put(direct, "sub_f#evt-f0", "DELIVERED", 0, false, cap_cb, &again);
  run_until_all(&again, 1);
  HL_ASSERT_EQ_INT(again.status, HL_EEXISTS);
  close_one(s);
  close_one(direct);
  proxy_stop(&p);
  teardown();
}

HL_TEST(container_credentials_sign_and_refresh) {
  hl_store *direct = setup();
  proxy p;
  const char *creds[] = {"--creds-akid", "ASIATESTCONTAINER", "--creds-secret", "container-secret-value",
                         "--creds-token", "container-session-token", "--creds-auth", "auth-token-123",
                         "--expire-first", "1", NULL};
  proxy_start(&p, creds);
  char uri[96];
  snprintf(uri, sizeof uri, "%s/creds", p.endpoint);
  hl_aws_creds_env env = {.container_full_uri = uri, .container_auth_token = "auth-token-123"};
  hl_store *s = open_with(p.endpoint, &env, 0);
  capture c[3] = {{0}};
  hl_schema_rec sr = {.schema_id = "payments.PaymentProcessed", .version = 1, .status = "ACTIVE",
                      .schema_json = "{}", .created_at = 1};
  s->vt->schema_put(s, &sr, cap_cb, &c[0]);
  run_until_all(c, 1);
  HL_ASSERT_EQ_INT(c[0].status, 0);
  /* The first answer said the token expired: fetched again, then it worked. */
  HL_ASSERT_EQ_INT(proxy_stat(&p, "expired"), 1);
  HL_ASSERT_EQ_INT(proxy_stat(&p, "creds_fetches"), 2);
  s->vt->schema_list(s, cap_cb, &c[1]);
  run_until_all(c + 1, 1);
  HL_ASSERT_EQ_INT(c[1].res.nschemas, 1);
  hl_store_result_dispose(&c[1].res);
  long req = proxy_stat(&p, "requests");
  HL_ASSERT(req >= 3);
  HL_ASSERT_EQ_INT(proxy_stat(&p, "signed_with_creds"), req);
  HL_ASSERT_EQ_INT(proxy_stat(&p, "token_matched"), req);
  HL_ASSERT_EQ_INT(proxy_stat(&p, "creds_fetches"), 2); /* kept, not fetched per request */
  close_one(s);

  /* A wrong authorization token: refused, a clear store error, and no
   * secret in the log. */
  char logpath[256];
  snprintf(logpath, sizeof logpath, "%s/ddb-log.txt", hl_tmpdir("ddblog"));
  int saved = dup(2);
  int fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  dup2(fd, 2);
  hl_aws_creds_env bad = {.container_full_uri = uri, .container_auth_token = "wrong-token"};
  s = open_with(p.endpoint, &bad, 3);
  s->vt->schema_put(s, &sr, cap_cb, &c[2]);
  run_until_all(c + 2, 1);
  close_one(s);
  fflush(stderr);
  dup2(saved, 2);
  close(fd);
  HL_ASSERT_EQ_INT(c[2].status, HL_ESTORE);
  HL_ASSERT(proxy_stat(&p, "creds_refused") >= 1);
  size_t len = 0;
  char *log = hl_read_file(logpath, &len);
  HL_ASSERT(log && strstr(log, "could not fetch AWS credentials"));
  HL_ASSERT(!strstr(log, "wrong-token") && !strstr(log, "container-secret-value") &&
            !strstr(log, "container-session-token") && !strstr(log, "test-secret"));
  free(log);
  close_one(direct);
  proxy_stop(&p);
  teardown();
}

/* A client of one attempt (its callers retry on their own schedule) told
 * the token expired: its call fails, and the next one is signed with
 * credentials fetched again. Before, only a client with attempts left
 * dropped them, and this one signed with the expired token for ever. */
HL_TEST(an_expired_token_is_fetched_again_by_a_client_of_one_attempt) {
  hl_store *direct = setup();
  proxy p;
  const char *creds[] = {"--creds-akid", "ASIATESTCONTAINER", "--creds-secret", "container-secret-value",
                         "--creds-token", "container-session-token", "--expire-first", "1", NULL};
  proxy_start(&p, creds);
  char uri[96];
  snprintf(uri, sizeof uri, "%s/creds", p.endpoint);
  hl_aws_creds_env env = {.container_full_uri = uri};
  hl_store *s = open_with(p.endpoint, &env, 1);
  capture c[2] = {{0}};
  s->vt->ledger_put(s, "sub_x#e1", "DELIVERED", 0, false, cap_cb, &c[0]);
  run_until_all(c, 1);
  HL_ASSERT_EQ_INT(c[0].status, HL_ESTORE);
  HL_ASSERT_EQ_INT(proxy_stat(&p, "expired"), 1);
  HL_ASSERT_EQ_INT(proxy_stat(&p, "creds_fetches"), 1);
  s->vt->ledger_put(s, "sub_x#e2", "DELIVERED", 0, false, cap_cb, &c[1]);
  run_until_all(c + 1, 1);
  HL_ASSERT_EQ_INT(c[1].status, 0);
  HL_ASSERT_EQ_INT(proxy_stat(&p, "creds_fetches"), 2);
  close_one(s);
  close_one(direct);
  proxy_stop(&p);
  teardown();
}

HL_TEST(credentials_are_fetched_again_before_they_expire) {
  hl_store *direct = setup();
  proxy p;
  /* Credentials for 62 s: with a minute's margin they are usable for 2 s. */
  const char *creds[] = {"--creds-akid", "ASIASHORTLIVED", "--creds-secret", "short-secret", "--creds-token",
                         "short-token", "--creds-ttl-s", "62", NULL};
  proxy_start(&p, creds);
  char uri[96];
  snprintf(uri, sizeof uri, "%s/creds", p.endpoint);
  hl_aws_creds_env env = {.container_full_uri = uri};
  hl_store *s = open_with(p.endpoint, &env, 0);
  capture c[2] = {{0}};
  s->vt->ledger_put(s, "sub_c#e1", "DELIVERED", 0, false, cap_cb, &c[0]);
  run_until_all(c, 1);
  HL_ASSERT_EQ_INT(c[0].status, 0);
  HL_ASSERT_EQ_INT(proxy_stat(&p, "creds_fetches"), 1);
  hl_sleep_ms(2300);
  s->vt->ledger_put(s, "sub_c#e2", "DELIVERED", 0, false, cap_cb, &c[1]);
  run_until_all(c + 1, 1);
  HL_ASSERT_EQ_INT(c[1].status, 0);
  HL_ASSERT_EQ_INT(proxy_stat(&p, "creds_fetches"), 2);
  HL_ASSERT_EQ_INT(proxy_stat(&p, "expired"), 0); /* never sent with stale ones */
  close_one(s);
  close_one(direct);
  proxy_stop(&p);
  teardown();
}

typedef struct {
  int calls;
  hl_aws_status st;
} raw_capture;

static void raw_cb(void *data, const hl_aws_status *st, const hl_json *resp) {
  (void)resp;
  raw_capture *c = data;
  c->calls++;
  c->st = *st;
}

HL_TEST(non_retryable_answers_end_at_once) {
  hl_store *s = setup();
  hl_ddb_client *cl = hl_store_ddb_client(s);
  /* A malformed request: ValidationException, one attempt, no retry. */
  int64_t a0 = cl->attempts;
  raw_capture c = {0};
  hl_buf body = HL_BUF_INIT;
  hl_buf_puts(&body, "{\"TableName\":\"idempotency_ledger\",\"Item\":{}}");
  hl_ddb_call(cl, HL_DDB_PUT_ITEM, &body, raw_cb, &c);
  HL_ASSERT_EQ_INT(c.calls, 0); /* never from inside the call */
  while (!c.calls && uv_run(&loop, UV_RUN_ONCE)) {}
  HL_ASSERT_EQ_INT(c.st.outcome, HL_AWS_VALIDATION);
  HL_ASSERT_EQ_STR(c.st.code, "ValidationException");
  HL_ASSERT_EQ_INT(cl->attempts - a0, 1);
  /* A failed condition is an answer, not an error: one attempt too. */
  hl_ddb_attr item[] = {{"idempotency_key", hl_ddb_s("k-once")}, {"status", hl_ddb_s("DELIVERED")}};
  hl_ddb_expr x = {.condition = "attribute_not_exists(idempotency_key)"};
  for (int i = 0; i < 2; i++) {
    c = (raw_capture){0};
    hl_ddb_put_item(&body, "idempotency_ledger", HL_DDB_ITEM(item), &x);
    a0 = cl->attempts;
    hl_ddb_call(cl, HL_DDB_PUT_ITEM, &body, raw_cb, &c);
    while (!c.calls && uv_run(&loop, UV_RUN_ONCE)) {}
    HL_ASSERT_EQ_INT(c.st.outcome, i == 0 ? HL_AWS_OK : HL_AWS_CONDITION_FAILED);
    HL_ASSERT_EQ_INT(cl->attempts - a0, 1);
  }
  HL_ASSERT_EQ_INT(store_check(s, NULL), 0); /* neither makes the store unhealthy */
  close_one(s);
  teardown();
}

HL_TEST(unreachable_endpoint_is_a_clear_store_error) {
  uv_loop_init(&loop);
  hl_curl_uv_init(&curl, &loop, 16);
  char ep[64];
  int port;
  int held = hl_hold_port(&port); /* bound, not listening: refused, and nobody else gets it */
  HL_ASSERT(held >= 0);
  snprintf(ep, sizeof ep, "http://127.0.0.1:%d", port);
  hl_store *s = open_with(ep, &static_creds, 3);
  capture c = {0};
  s->vt->ledger_get(s, "k", cap_cb, &c);
  run_until_all(&c, 1);
  HL_ASSERT_EQ_INT(c.status, HL_ESTORE);
  HL_ASSERT_EQ_INT(hl_store_ddb_client(s)->attempts, 3);
  /* The health check asks DynamoDB itself (DescribeTable), once: /healthz
   * names DynamoDB and says why. */
  hl_store_check part;
  HL_ASSERT(store_check(s, &part) != 0);
  HL_ASSERT_EQ_INT(hl_store_ddb_client(s)->attempts, 4);
  HL_ASSERT_MSG(strstr(part.error, "DescribeTable event_delivery_status failed: ConnectionError"), "%s", part.error);
  close(held);
  close_one(s);
  hl_curl_uv_close(&curl, NULL, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  HL_ASSERT_EQ_INT(uv_loop_close(&loop), 0);
}

HL_TEST(configuration_errors_are_clear) {
  uv_loop_init(&loop);
  hl_curl_uv_init(&curl, &loop, 16);
  hl_store *s = NULL;
  char err[256] = "";
  hl_ddb_config cfg = {.client = {.endpoint = "dynamodb.local", .region = "us-east-1"}, .creds = static_creds};
  HL_ASSERT(hl_store_ddb_open(&loop, &curl, &cfg, NULL, &s, err, sizeof err) == HL_EINVAL);
  HL_ASSERT(strstr(err, "DYNAMODB_ENDPOINT"));
  hl_ddb_config nocreds = {.client = {.endpoint = "http://127.0.0.1:1", .region = "us-east-1"}};
  HL_ASSERT(hl_store_ddb_open(&loop, &curl, &nocreds, NULL, &s, err, sizeof err) == HL_EINVAL);
  HL_ASSERT(strstr(err, "AWS_ACCESS_KEY_ID"));
  hl_ddb_config plain = {.client = {.endpoint = "http://127.0.0.1:1", .region = "us-east-1"},
                         .creds = {.container_full_uri = "http://203.0.113.5/creds"}};
  HL_ASSERT(hl_store_ddb_open(&loop, &curl, &plain, NULL, &s, err, sizeof err) == HL_EINVAL);
  HL_ASSERT(strstr(err, "https"));
  hl_curl_uv_close(&curl, NULL, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  HL_ASSERT_EQ_INT(uv_loop_close(&loop), 0);
}

typedef struct {
  int calls;
  hl_aws_status st;
  char *item; /* the "Item" member as it came over the wire */
} item_capture;

static void item_cb(void *data, const hl_aws_status *st, const hl_json *resp) {
  item_capture *c = data;
  c->calls++;
  c->st = *st;
  const hl_json *it = hl_json_get(resp, "Item");
  if (it && it->src) c->item = hl_strndup(it->src, it->src_len);
}

/* The raw item of the events table for id (GetItem, strongly consistent). */
static char *event_item(hl_store *s, const char *id, hl_json_doc *doc) {
  hl_ddb_attr key[] = {{"event_id", hl_ddb_s(id)}};
  hl_buf body = HL_BUF_INIT;
  HL_ASSERT_EQ_INT(hl_ddb_get_item(&body, "webhook_events", HL_DDB_ITEM(key), true), 0);
  item_capture c = {0};
  hl_ddb_call(hl_store_ddb_client(s), HL_DDB_GET_ITEM, &body, item_cb, &c);
  while (!c.calls && uv_run(&loop, UV_RUN_ONCE)) {}
  HL_ASSERT_EQ_INT(c.st.outcome, HL_AWS_OK);
  HL_ASSERT_MSG(c.item, "no item for %s", id);
  hl_json_doc_init(doc);
  HL_ASSERT(hl_json_parse(doc, c.item, strlen(c.item), NULL) == 0);
  return c.item;
}

static const char *get_str_attr(const hl_json *item, const char *name) {
  static char buf[256];
  size_t n = 0;
  const char *v = hl_ddb_item_s(item, name, &n);
  if (!v || n >= sizeof buf) return "";
  memcpy(buf, v, n);
  buf[n] = '\0';
  return buf;
}

static void on_tables_report(void *data, int status, const char *report) {
  char **out = data;
  HL_ASSERT_EQ_INT(status, 0);
  *out = hl_strdup(report);
}

/* The events table: made by `tables create` (encrypted, PITR asked for),
 * the first record of an id kept, the body exact; an S projection of an
 * amount keeps its text (100.10), an N one its exact value (DynamoDB's
 * canonical form trims the trailing zero, as AWS documents; no double). */
HL_TEST(events_table_keeps_the_first_record_and_exact_decimal_text) {
  uv_loop_init(&loop);
  hl_curl_uv_init(&curl, &loop, 256);
  HL_ASSERT_MSG(hl_dynalite_start(&dyn, 0) == 0, "dynalite did not start");
  hl_store *s = open_with(dyn.endpoint, &static_creds, 0);
  char *report = NULL;
  hl_ddb_tables_create(s, on_tables_report, &report);
  while (!report && uv_run(&loop, UV_RUN_ONCE)) {}
  printf("%s", report);
  HL_ASSERT(strstr(report, "webhook_events: created (on-demand billing, encrypted with the AWS managed KMS key)"));
  HL_ASSERT(strstr(report, "webhook_events: TTL enabled on expires_at") ||
            strstr(report, "warning: webhook_events: this endpoint does not support UpdateTimeToLive"));
  HL_ASSERT(strstr(report, "webhook_events: point-in-time recovery enabled") ||
            strstr(report, "warning: webhook_events: this endpoint does not support UpdateContinuousBackups"));
  free(report);
  HL_ASSERT(s->vt->event_put && s->vt->event_size && s->vt->event_size_max == HL_DDB_ITEM_MAX);

  static const char body[] = "{\"transaction_id\":\"tx-1\",\"amount\":100.10,\"currency\":\"EUR\"}";
  hl_event_attr attrs[] = {{(char *)"amount", 'S', (char *)"100.10", 6},
                           {(char *)"amount_n", 'N', (char *)"12345678901234567890123456789012.10", 35},
                           {(char *)"currency", 'S', (char *)"EUR", 3}};
  hl_eq_accept ev = {.event_id = "tx-1", .event_type = "payment.received", .body = body, .body_len = sizeof body - 1,
                     .attrs = attrs, .nattrs = 3, .accepted_at = 1700000000123};
  capture c[2] = {{0}};
  s->vt->event_put(s, &ev, cap_cb, &c[0]);
  run_until_all(c, 1);
  HL_ASSERT_EQ_INT(c[0].status, 0);
  /* The same id again with other bytes: another event, a conflict (the
   * API answers it as a duplicate, nothing queued); the first stays. */
  hl_eq_accept again = ev;
  again.body = "{}";
  again.body_len = 2;
  again.nattrs = 0;
  s->vt->event_put(s, &again, cap_cb, &c[1]);
  run_until_all(c + 1, 1);
  HL_ASSERT_EQ_INT(c[1].status, HL_ECONFLICT);
  /* The same bytes again (a client's retry after a queue failure): it
   * exists, and the caller goes on. */
  c[1] = (capture){0};
  s->vt->event_put(s, &ev, cap_cb, &c[1]);
  run_until_all(c + 1, 1);
  HL_ASSERT_EQ_INT(c[1].status, HL_EEXISTS);

  hl_json_doc d;
  char *raw = event_item(s, "tx-1", &d);
  printf("item: %s\n", raw);
  HL_ASSERT(strstr(raw, "\"amount\":{\"S\":\"100.10\"}") != NULL);
  /* 34 significant digits: a double would keep 17. */
  HL_ASSERT(strstr(raw, "\"amount_n\":{\"N\":\"12345678901234567890123456789012.1\"}") != NULL);
  size_t n = 0;
  const char *v = hl_ddb_item_s(d.root, "body", &n);
  HL_ASSERT(v && n == sizeof body - 1 && memcmp(v, body, n) == 0);
  HL_ASSERT_EQ_STR(get_str_attr(d.root, "currency"), "EUR");
  HL_ASSERT_EQ_STR(get_str_attr(d.root, "event_type"), "payment.received");
  int64_t at = 0;
  HL_ASSERT(hl_ddb_item_i64(d.root, "accepted_at", &at) == 0 && at == 1700000000123);
  HL_ASSERT(hl_json_get(d.root, "expires_at") == NULL); /* EVENTS_TTL_DAYS unset: kept */
  hl_json_doc_dispose(&d);
  free(raw);

  /* event_size bounds the item DynamoDB measures from above: a record it
   * puts at exactly the limit is taken; one over the limit (a body that
   * fits, projecting a large string) DynamoDB would refuse, which is why
   * the API refuses it first. */
  enum { PAD = 300 * 1024 };
  char *big = malloc(PAD + 1);
  HL_ASSERT(big != NULL);
  memset(big, 'b', PAD);
  big[PAD] = '\0';
  hl_event_attr pad_attr = {(char *)"pad", 'S', big, 0};
  hl_eq_accept edge = {.event_id = "tx-edge", .event_type = "payment.received", .body = big, .body_len = 0,
                       .attrs = &pad_attr, .nattrs = 1, .accepted_at = 1700000000123};
  pad_attr.len = 100 * 1024;
  edge.body_len = 1;
  edge.body_len = s->vt->event_size_max - (s->vt->event_size(&edge) - 1);
  HL_ASSERT(edge.body_len < PAD);
  HL_ASSERT_EQ_INT((long long)s->vt->event_size(&edge), (long long)s->vt->event_size_max);
  capture e[2] = {{0}};
  s->vt->event_put(s, &edge, cap_cb, &e[0]);
  run_until_all(e, 1);
  HL_ASSERT_EQ_INT(e[0].status, 0);
  hl_eq_accept over = edge;
  over.event_id = "tx-over";
  pad_attr.len = 150 * 1024; /* the body alone fits; with the attribute, no */
  over.body_len = 280 * 1024;
  HL_ASSERT(s->vt->event_size(&over) > s->vt->event_size_max);
  s->vt->event_put(s, &over, cap_cb, &e[1]);
  run_until_all(e + 1, 1);
  HL_ASSERT_MSG(e[1].status != 0, "DynamoDB took a %zu-byte item", s->vt->event_size(&over));
  free(big);
  close_one(s);
  teardown();
}
