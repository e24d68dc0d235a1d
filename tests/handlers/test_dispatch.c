/* The dispatcher's state machine against a fake sender (hl_sender.h) that
 * answers when the test says: no sockets, every attempt seen and answered
 * in order. The queue is the real embedded one (a SQLite file), the
 * registry the real one. */
#include "hl_test.h"
#include "hl_testutil.h"

#include <string.h>
#include <uv.h>

#include "common/hl_common.h"
#include "handlers/hl_dispatch.h"
#include "model/hl_partner.h"
#include "model/hl_registry.h"
#include "model/hl_retry.h"
#include "model/hl_xform_reg.h"
#include "queue/hl_queue_embedded.h"
#include "store/hl_store_sqlite.h"

#define MAX_REQ 512

typedef struct {
  hl_sender base;
  hl_send_req *running[MAX_REQ];
  size_t nrunning, max_running;
  char sent[MAX_REQ][64];  /* event ids in the order they were sent */
  size_t nsent;
  int cancelled, closed;
  hl_buf last_body;         /* the bytes of the last request sent (NULL data: the accepted ones) */
  char last_xform[128];     /* and the transformations it names ("": none) */
} fake_sender;

static void fake_send(hl_sender *s, hl_send_req *req) {
  fake_sender *f = (fake_sender *)s;
  HL_ASSERT(f->nrunning < MAX_REQ && f->nsent < MAX_REQ);
  snprintf(f->sent[f->nsent++], 64, "%s", req->item->d.event_id);
  hl_buf_reset(&f->last_body);
  if (req->body) hl_buf_append(&f->last_body, req->body, req->body_len);
  snprintf(f->last_xform, sizeof f->last_xform, "%s", req->item->d.transformation ? req->item->d.transformation : "");
  f->running[f->nrunning++] = req;
  if (f->nrunning > f->max_running) f->max_running = f->nrunning;
}

static void take_out(fake_sender *f, hl_send_req *req) {
  for (size_t i = 0; i < f->nrunning; i++)
    if (f->running[i] == req) {
      memmove(&f->running[i], &f->running[i + 1], (f->nrunning - i - 1) * sizeof f->running[0]);
      f->nrunning--;
      return;
    }
  HL_ASSERT_MSG(false, "not running");
}

static void fake_cancel(hl_sender *s, hl_send_req *req) {
  fake_sender *f = (fake_sender *)s;
  take_out(f, req);
  f->cancelled++;
}

static void fake_close(hl_sender *s) { ((fake_sender *)s)->closed++; }

static const hl_sender_vt fake_vt = {fake_send, fake_cancel, fake_close, NULL};

/* Answers req, one of the running requests. */
static void answer_req(fake_sender *f, hl_send_req *req, hl_send_verdict v, long status) {
  take_out(f, req);
  hl_send_result res = {.verdict = v, .attempted = true, .status_code = status, .latency_s = 0.001};
  if (v != HL_SEND_OK) snprintf(res.error, sizeof res.error, "partner answered %ld", status);
  req->done(req, &res);
}

/* Answers the oldest running request. */
static void answer(fake_sender *f, hl_send_verdict v, long status) {
  HL_ASSERT(f->nrunning > 0);
  answer_req(f, f->running[0], v, status);
}

static uv_loop_t loop;
static hl_store *store;
static hl_registry reg;
static hl_dispatch disp;
static fake_sender fake;
static hl_retry_schedule *schedule;
static char *dir;
static uint64_t max_retry_delay_ms; /* the next setup's option (0: none) */
static hl_dispatch_options extra;   /* the next setup's breaker and AIMD options */

static const char *next_url = "http://127.0.0.1:1/x"; /* the next subscription's */

static hl_sub *add_sub_of(const char *id, const char *partner, const char *type, int64_t max_in_flight) {
  hl_sub_rec r = {.subscription_id = hl_strdup(id), .partner_id = hl_strdup(partner), .event_type = hl_strdup(type),
                  .url = hl_strdup(next_url), .secret = hl_strdup("whsec_AAAA"),
                  .egress_topic = hl_strdup("e"), .status = hl_strdup("ACTIVE"), .max_in_flight = max_in_flight};
  return hl_registry_put_sub(&reg, &r, NULL, NULL, NULL);
}

static hl_sub *add_sub(const char *id, int64_t max_in_flight) { return add_sub_of(id, id, "T", max_in_flight); }

typedef struct { int calls, status; hl_store_result res; } capture;

static void cap_cb(void *data, int status, hl_store_result *res) {
  capture *c = data;
  c->calls++;
  c->status = status;
  c->res = *res;
  *res = (hl_store_result){0}; /* taken */
}

static void run_until(const int *calls) {
  for (int i = 0; i < 100000 && *calls == 0; i++) uv_run(&loop, UV_RUN_ONCE);
}

/* Runs the loop until cond holds (bounded in turns; the harness bounds time). */
#define SPIN(cond) do { for (int i_ = 0; i_ < 100000 && !(cond); i_++) uv_run(&loop, UV_RUN_ONCE); HL_ASSERT(cond); } while (0)

static void accept_event(const char *id, const char *sub) {
  const char *subs[] = {sub};
  hl_eq_accept ev = {.event_id = id, .event_type = "T", .body = "{}", .body_len = 2, .subscription_ids = subs,
                     .nsubs = 1};
  capture c = {0};
  store->vt->eq_accept(store, &ev, cap_cb, &c);
  run_until(&c.calls);
  HL_ASSERT_EQ_INT(c.status, 0);
  uv_sleep(2); /* the queue orders by due time in ms: one event per ms */
}

/* The event's delivery row for sub, as the store has it. */
static hl_delivery_rec row(const char *event_id) {
  capture c = {0};
  store->vt->delivery_list(store, event_id, cap_cb, &c);
  run_until(&c.calls);
  HL_ASSERT_EQ_INT(c.status, 0);
  HL_ASSERT_EQ_INT((long)c.res.ndeliveries, 1);
  hl_delivery_rec r = c.res.deliveries[0];
  c.res.deliveries[0] = (hl_delivery_rec){0};
  hl_store_result_dispose(&c.res);
  return r;
}

/* The row's status and attempts are these. */
static void expect_row(const char *event_id, const char *status, long attempts) {
  hl_delivery_rec r = row(event_id);
  HL_ASSERT_EQ_STR(r.status, status);
  HL_ASSERT_EQ_INT((long)r.attempts, attempts);
  hl_delivery_rec_free(&r);
}

static bool status_is(const char *event_id, const char *status) {
  hl_delivery_rec r = row(event_id);
  bool is = r.status && strcmp(r.status, status) == 0;
  hl_delivery_rec_free(&r);
  return is;
}

/* The idempotency ledger's answer for key: 0 (an entry) or HL_ENOTFOUND. */
static int ledger_status(const char *key) {
  capture c = {0};
  store->vt->ledger_get(store, key, cap_cb, &c);
  run_until(&c.calls);
  hl_store_result_dispose(&c.res);
  return c.status;
}

/* n loop turns during which the store had no fdatasync of its WAL in
 * flight (store/hl_sqlite_sync.h: a commit's callbacks wait for one on the
 * threadpool; turns spent waiting for it would let "nothing happens in n
 * turns" pass before the store even answered); at most 5 s in all. Stops
 * early once *nonzero (when given) is not 0. */
static void turns_until(int n, const size_t *nonzero) {
  uint64_t until = uv_hrtime() + 5000000000ull;
  for (int i = 0; i < n && uv_hrtime() < until && !(nonzero && *nonzero);) {
    uv_run(&loop, UV_RUN_NOWAIT);
    const hl_sqlite_sync_stats *st = hl_store_sqlite_sync_stats(store);
    if (st->synced == st->started) i++;
  }
}
static void turns(int n) { turns_until(n, NULL); }

/* The embedded queue declared a queue that may bring a delivered item
 * again (as Kafka's and DynamoDB's are), for the next setup when
 * next_redelivers: the dispatcher then checks each delivery against the
 * store before sending it, and the status rows it writes carry what that
 * check reads. The rest of the queue is the real one. */
static bool next_redelivers;
static hl_queue *redelivering;
static const hl_queue_vt *embedded_vt;
static hl_queue_vt redelivering_vt;

static void setup(unsigned max_in_flight, uint64_t release_after_ms, const char *sched) {
  char err[256] = "";
  uv_loop_init(&loop);
  dir = hl_tmpdir("dispatch");
  HL_ASSERT_MSG(hl_store_sqlite_open(&loop, dir, NULL, &store, err, sizeof err) == 0, "open: %s", err);
  hl_registry_init(&reg);
  reg.free_schedule = hl_retry_schedule_free;
  HL_ASSERT_EQ_INT(hl_retry_schedule_parse(sched, &schedule, NULL), 0);
  fake = (fake_sender){.base = {&fake_vt}};
  hl_dispatch_options o = {.max_in_flight = max_in_flight, .release_after_ms = release_after_ms,
                           .default_schedule = schedule, .sender = &fake.base,
                           .max_retry_delay_ms = max_retry_delay_ms,
                           .breaker_failures = extra.breaker_failures, .breaker_open_ms = extra.breaker_open_ms,
                           .adaptive_concurrency = extra.adaptive_concurrency};
  redelivering = NULL;
  if (next_redelivers) {
    redelivering = hl_queue_embedded_create(store);
    embedded_vt = redelivering->vt;
    redelivering_vt = *embedded_vt;
    redelivering_vt.redelivers = true;
    redelivering->vt = &redelivering_vt;
    o.queue = redelivering;
    next_redelivers = false;
  }
  hl_dispatch_init(&disp, &loop, NULL, store, &reg, &o);
}

static void setup_redelivering(unsigned max_in_flight) {
  next_redelivers = true;
  setup(max_in_flight, 60000, "1s");
}

/* The SQLite store declared one without delivered_get (as DynamoDB's is),
 * so that the dispatcher keeps delivered items in the idempotency ledger,
 * and whose next ledger_fails ledger writes fail (a loop turn later,
 * written nowhere), as a DynamoDB batch that ran out of retries does. The
 * rest of the store is the real one. */
static hl_store_vtable ledger_only_vt;
static const hl_store_vtable *sqlite_vt;
static int ledger_fails, ledger_failed;

typedef struct {
  uv_timer_t t;
  hl_store_cb cb;
  void *data;
} late_failure;

static void on_late_failure_closed(uv_handle_t *h) { free(h); }

static void on_late_failure(uv_timer_t *t) {
  late_failure *f = (late_failure *)t;
  hl_store_result none = {0};
  f->cb(f->data, HL_ESTORE, &none);
  uv_close((uv_handle_t *)t, on_late_failure_closed);
}

static void failing_ledger_put(hl_store *s, const char *key, const char *status, int64_t expires_at, bool overwrite,
                               hl_store_cb cb, void *data) {
  if (ledger_fails == 0) {
    sqlite_vt->ledger_put(s, key, status, expires_at, overwrite, cb, data);
    return;
  }
  ledger_fails--;
  ledger_failed++;
  if (!cb) return; /* nobody asked */
  late_failure *f = calloc(1, sizeof *f);
  f->cb = cb;
  f->data = data;
  uv_timer_init(&loop, &f->t);
  uv_timer_start(&f->t, on_late_failure, 0, 0);
}

static void setup_ledger_only(unsigned max_in_flight) {
  setup_redelivering(max_in_flight);
  sqlite_vt = store->vt;
  ledger_only_vt = *sqlite_vt;
  ledger_only_vt.delivered_get = NULL;
  ledger_only_vt.ledger_put = failing_ledger_put;
  store->vt = &ledger_only_vt;
  ledger_fails = ledger_failed = 0;
}

static void on_closed(void *data) { (*(int *)data)++; }

/* Closes the store and everything else once the dispatcher is closed. */
static void close_rest(void) {
  if (redelivering) redelivering->vt->destroy(redelivering); /* the dispatcher is closed */
  redelivering = NULL;
  int sclosed = 0;
  store->vt->close(store, on_closed, &sclosed);
  SPIN(sclosed == 1);
  uv_run(&loop, UV_RUN_DEFAULT);
  HL_ASSERT_EQ_INT(uv_loop_close(&loop), 0);
  hl_registry_dispose(&reg);
  hl_retry_schedule_free(schedule);
  hl_rmtree(dir);
  hl_free(dir);
}

static void teardown(void) {
  int closed = 0;
  hl_dispatch_close(&disp, on_closed, &closed);
  SPIN(closed == 1);
  HL_ASSERT_EQ_INT(fake.closed, 1);
  close_rest();
}

HL_TEST(a_subscription_gets_its_deliveries_in_order_never_more_than_its_limit_at_once) {
  setup(100, 60000, "1s");
  hl_sub *s = add_sub("sub_a", 2);
  const char *ids[] = {"e1", "e2", "e3", "e4", "e5"};
  for (size_t i = 0; i < 5; i++) accept_event(ids[i], "sub_a");
  hl_dispatch_notify(&disp, s);
  SPIN(fake.nrunning == 2);
  turns(100); /* nothing more starts while both run */
  HL_ASSERT_EQ_INT((long)fake.nsent, 2);
  for (size_t done = 0; done < 5; done++) {
    SPIN(fake.nrunning > 0);
    answer(&fake, HL_SEND_OK, 200);
  }
  SPIN(disp.in_memory == 0 && status_is("e5", "SUCCESS"));
  HL_ASSERT_EQ_INT((long)fake.nsent, 5);
  HL_ASSERT_EQ_INT((long)fake.max_running, 2);
  for (size_t i = 0; i < 5; i++) {
    HL_ASSERT_EQ_STR(fake.sent[i], ids[i]);
    hl_delivery_rec r = row(ids[i]);
    HL_ASSERT_EQ_STR(r.status, "SUCCESS");
    HL_ASSERT_EQ_INT((long)r.attempts, 1);
    HL_ASSERT_EQ_INT((long)r.last_status_code, 200);
    hl_delivery_rec_free(&r);
  }
  /* The embedded queue never brings a SUCCESS row again, so nothing reads
   * the idempotency ledger for it, and nothing is written there either. */
  HL_ASSERT_EQ_INT(ledger_status("sub_a#e1"), HL_ENOTFOUND);
  HL_ASSERT_EQ_INT(ledger_status("sub_a#e5"), HL_ENOTFOUND);
  teardown();
}

HL_TEST(the_process_limit_holds_across_subscriptions) {
  setup(3, 60000, "1s");
  hl_sub *a = add_sub("sub_a", 10), *b = add_sub("sub_b", 10);
  char id[16];
  for (int i = 0; i < 4; i++) {
    snprintf(id, sizeof id, "a%d", i);
    accept_event(id, "sub_a");
    snprintf(id, sizeof id, "b%d", i);
    accept_event(id, "sub_b");
  }
  hl_dispatch_notify(&disp, a);
  hl_dispatch_notify(&disp, b);
  SPIN(fake.nrunning == 3);
  turns(100);
  HL_ASSERT_EQ_INT((long)fake.nrunning, 3);
  for (int n = 0; n < 8; n++) {
    SPIN(fake.nrunning > 0);
    answer(&fake, HL_SEND_OK, 204);
  }
  SPIN(fake.nsent == 8 && disp.in_memory == 0);
  HL_ASSERT_EQ_INT((long)fake.max_running, 3);
  /* Each subscription's deliveries went in its own order. */
  int next_a = 0, next_b = 0;
  for (size_t i = 0; i < fake.nsent; i++) {
    int *next = fake.sent[i][0] == 'a' ? &next_a : &next_b;
    HL_ASSERT_EQ_INT(fake.sent[i][1] - '0', *next);
    (*next)++;
  }
  HL_ASSERT_EQ_INT(next_a, 4);
  HL_ASSERT_EQ_INT(next_b, 4);
  teardown();
}

/* Two subscriptions of one partner whose max_in_flight is 2: however much
 * room each has, the partner never has more than 2 running, and a slot
 * freed goes to the other subscription in turn. */
HL_TEST(a_partner_limit_holds_across_its_subscriptions_and_is_shared_in_turn) {
  setup(100, 60000, "1s");
  hl_partner_rec pr = {.partner_id = hl_strdup("p"), .max_in_flight = 2};
  hl_registry_put_partner(&reg, &pr);
  hl_sub *sa = add_sub_of("sub_a", "p", "A", 10), *sb = add_sub_of("sub_b", "p", "B", 10);
  HL_ASSERT(sa->partner == sb->partner);
  HL_ASSERT_EQ_INT((long)sa->partner->subs.n, 2);
  char id[16];
  for (int i = 0; i < 3; i++) {
    snprintf(id, sizeof id, "a%d", i);
    accept_event(id, "sub_a");
    snprintf(id, sizeof id, "b%d", i);
    accept_event(id, "sub_b");
  }
  hl_dispatch_notify(&disp, sa);
  hl_dispatch_notify(&disp, sb);
  SPIN(fake.nrunning == 2);
  turns(100); /* nothing more starts while both run */
  HL_ASSERT_EQ_INT((long)fake.nsent, 2);
  HL_ASSERT_EQ_INT((long)sa->partner->gate.in_flight, 2);
  for (int n = 0; n < 6; n++) {
    SPIN(fake.nrunning > 0);
    answer(&fake, HL_SEND_OK, 200);
  }
  SPIN(fake.nsent == 6 && disp.in_memory == 0);
  HL_ASSERT_EQ_INT((long)fake.max_running, 2);
  HL_ASSERT_EQ_INT((long)sa->partner->gate.in_flight, 0);
  /* Each subscription's own order, and b was not left until a was done. */
  int next_a = 0, next_b = 0;
  size_t last_a = 0, first_b = MAX_REQ;
  for (size_t i = 0; i < fake.nsent; i++) {
    bool is_a = fake.sent[i][0] == 'a';
    int *next = is_a ? &next_a : &next_b;
    HL_ASSERT_EQ_INT(fake.sent[i][1] - '0', *next);
    (*next)++;
    if (is_a) last_a = i;
    else if (first_b == MAX_REQ) first_b = i;
  }
  HL_ASSERT_EQ_INT(next_a, 3);
  HL_ASSERT_EQ_INT(next_b, 3);
  HL_ASSERT_MSG(first_b < last_a, "b's first send (%zu) waited for a's last (%zu)", first_b, last_a);
  teardown();
}

/* A partner's rate_limit_per_s is shared too: with 2 a second (a burst of
 * at most 2, the first ask finding one token) and two subscriptions of ample
 * room, one starts at once and the rest follow on the partner's timer. */
HL_TEST(a_partner_rate_limit_holds_across_its_subscriptions) {
  setup(100, 60000, "1s");
  hl_partner_rec pr = {.partner_id = hl_strdup("p"), .rate_limit_per_s = 2};
  hl_registry_put_partner(&reg, &pr);
  hl_sub *subs[2] = {add_sub_of("sub_a", "p", "A", 10), add_sub_of("sub_b", "p", "B", 10)};
  accept_event("a0", "sub_a");
  accept_event("b0", "sub_b");
  accept_event("a1", "sub_a");
  hl_dispatch_notify(&disp, subs[0]);
  hl_dispatch_notify(&disp, subs[1]);
  SPIN(fake.nsent == 1);
  turns(100); /* no token yet: nothing more starts */
  HL_ASSERT_EQ_INT((long)fake.nsent, 1);
  /* Answered or not, the others start when tokens come (not on a slot). */
  SPIN(fake.nsent == 3);
  while (fake.nrunning > 0) answer(&fake, HL_SEND_OK, 200);
  SPIN(disp.in_memory == 0);
  teardown();
}

HL_TEST(a_retryable_answer_is_sent_again_and_recorded_with_both_attempts) {
  setup(100, 60000, "10ms");
  hl_sub *s = add_sub("sub_a", 1);
  accept_event("e1", "sub_a");
  hl_dispatch_notify(&disp, s);
  SPIN(fake.nrunning == 1);
  answer(&fake, HL_SEND_RETRY, 503);
  SPIN(fake.nrunning == 1); /* from the retry timer, in memory */
  HL_ASSERT_EQ_INT((long)fake.nsent, 2);
  HL_ASSERT_EQ_STR(fake.sent[1], "e1");
  answer(&fake, HL_SEND_OK, 200);
  SPIN(disp.in_memory == 0);
  expect_row("e1", "SUCCESS", 2);
  teardown();
}

/* event_id, accepted for s, is running: the sender has it. */
static void start_one(hl_sub *s, const char *event_id) {
  accept_event(event_id, s->rec.subscription_id);
  hl_dispatch_notify(&disp, s);
  SPIN(fake.nrunning == 1);
}

/* The row's last_error is want (NULL: none). */
static void expect_last_error(const char *event_id, const char *want) {
  hl_delivery_rec r = row(event_id);
  if (want) HL_ASSERT_EQ_STR(r.last_error, want);
  else HL_ASSERT_MSG(r.last_error == NULL, "last_error: %s", r.last_error);
  hl_delivery_rec_free(&r);
}

HL_TEST(a_permanent_failure_is_recorded_failed_and_not_sent_again) {
  setup(100, 60000, "10ms");
  start_one(add_sub("sub_a", 1), "e1");
  answer(&fake, HL_SEND_FAIL, 400);
  SPIN(disp.in_memory == 0);
  turns(100);
  HL_ASSERT_EQ_INT((long)fake.nsent, 1);
  expect_row("e1", "FAILED", 1);
  hl_delivery_rec r = row("e1");
  HL_ASSERT_EQ_INT((long)r.last_status_code, 400);
  hl_delivery_rec_free(&r);
  expect_last_error("e1", "partner answered 400");
  teardown();
}

/* The error kept for the status row is the last attempt's own text: a
 * retry that runs out says so after it, and a delivery that succeeds after
 * a failed attempt (or reuses a freed delivery's memory) records none. */
HL_TEST(the_last_error_is_the_last_attempts_and_says_when_the_retries_ran_out) {
  setup(100, 60000, "10ms");
  hl_sub *s = add_sub("sub_a", 1);
  /* e1: 503, then 502 with the schedule (one retry) spent; e2: 503, then 200. */
  static const struct { const char *id; hl_send_verdict second; long status; } runs[] = {
    {"e1", HL_SEND_RETRY, 502}, {"e2", HL_SEND_OK, 200}};
  for (size_t i = 0; i < HL_ARRAY_SIZE(runs); i++) {
    start_one(s, runs[i].id);
    answer(&fake, HL_SEND_RETRY, 503);
    SPIN(fake.nrunning == 1);
    answer(&fake, runs[i].second, runs[i].status);
    SPIN(disp.in_memory == 0);
  }
  expect_row("e1", "FAILED", 2);
  expect_last_error("e1", "partner answered 502 (retries exhausted)");
  expect_row("e2", "SUCCESS", 2);
  expect_last_error("e2", NULL);
  teardown();
}

/* max_retry_delay_ms (the inbox source's 60 s) cuts a partner's longer
 * Retry-After: the retry is recorded due exactly that long after the
 * attempt, not an hour later. */
HL_TEST(a_retry_after_over_the_max_retry_delay_is_cut_to_it) {
  max_retry_delay_ms = 5000;
  setup(100, 60000, "10ms");
  max_retry_delay_ms = 0;
  hl_sub *s = add_sub("sub_a", 1);
  accept_event("e1", "sub_a");
  hl_dispatch_notify(&disp, s);
  SPIN(fake.nrunning == 1);
  hl_send_req *req = fake.running[0];
  take_out(&fake, req);
  hl_send_result res = {.verdict = HL_SEND_RETRY, .attempted = true, .status_code = 503, .latency_s = 0.001,
                        .retry_after_ms = 3600u * 1000u};
  snprintf(res.error, sizeof res.error, "partner answered 503");
  req->done(req, &res);
  SPIN(status_is("e1", "RETRYING"));
  hl_delivery_rec r = row("e1");
  HL_ASSERT_EQ_INT((long)(r.next_attempt_at - r.updated_at), 5000);
  hl_delivery_rec_free(&r);
  teardown();
}

HL_TEST(a_retry_due_later_than_release_after_leaves_memory_and_is_claimed_again_when_due) {
  setup(100, 1, "50ms");
  hl_sub *s = add_sub("sub_a", 1);
  accept_event("e1", "sub_a");
  hl_dispatch_notify(&disp, s);
  SPIN(fake.nrunning == 1);
  answer(&fake, HL_SEND_RETRY, 500);
  SPIN(disp.in_memory == 0 || fake.nrunning == 1);
  if (fake.nrunning == 0) expect_row("e1", "RETRYING", 1); /* released to the store */
  SPIN(fake.nrunning == 1); /* claimed from the store when due */
  HL_ASSERT_EQ_INT((long)fake.nsent, 2);
  answer(&fake, HL_SEND_OK, 200);
  SPIN(disp.in_memory == 0);
  expect_row("e1", "SUCCESS", 2);
  teardown();
}

HL_TEST(closing_while_sending_cancels_the_request_and_leaves_the_row_open) {
  setup(100, 60000, "1s");
  hl_sub *s = add_sub("sub_a", 4);
  accept_event("e1", "sub_a");
  accept_event("e2", "sub_a");
  hl_dispatch_notify(&disp, s);
  SPIN(fake.nrunning == 2);
  int closed = 0;
  hl_dispatch_close(&disp, on_closed, &closed);
  SPIN(closed == 1);
  HL_ASSERT_EQ_INT(fake.cancelled, 2);
  HL_ASSERT_EQ_INT((long)fake.nrunning, 0);
  HL_ASSERT_EQ_INT(fake.closed, 1);
  /* Never answered: the rows are not terminal, delivered again after a restart. */
  const char *ids[] = {"e1", "e2"};
  for (size_t i = 0; i < 2; i++) {
    hl_delivery_rec r = row(ids[i]);
    HL_ASSERT(strcmp(r.status, "SUCCESS") != 0 && strcmp(r.status, "FAILED") != 0);
    HL_ASSERT_EQ_INT((long)r.attempts, 0);
    hl_delivery_rec_free(&r);
  }
  close_rest();
}

/* Two subscriptions (two partners) to one host and a third elsewhere; a
 * breaker of 3 failures in a row. Failures alternate between the first
 * two, so neither's own breaker opens, but the host's does after 3: both
 * stop starting, while the other host's subscription goes on. */
HL_TEST(subscriptions_to_one_failing_host_share_its_breaker) {
  extra = (hl_dispatch_options){.breaker_failures = 3, .breaker_open_ms = 600000};
  setup(100, 60000, "10ms");
  next_url = "http://Down.example:8080/a";
  hl_sub *a = add_sub_of("sub_a", "pa", "T", 1);
  next_url = "http://down.example:8080/b"; /* same host, another path */
  hl_sub *b = add_sub_of("sub_b", "pb", "T", 1);
  next_url = "http://up.example/c";
  hl_sub *c = add_sub_of("sub_c", "pc", "T", 1);
  next_url = "http://127.0.0.1:1/x";
  char id[16];
  for (int i = 0; i < 3; i++) {
    snprintf(id, sizeof id, "a%d", i);
    accept_event(id, "sub_a");
    snprintf(id, sizeof id, "b%d", i);
    accept_event(id, "sub_b");
    snprintf(id, sizeof id, "c%d", i);
    accept_event(id, "sub_c");
  }
  hl_dispatch_notify(&disp, a);
  hl_dispatch_notify(&disp, b);
  hl_dispatch_notify(&disp, c);
  HL_ASSERT(hl_dispatch_sub_host(a) == hl_dispatch_sub_host(b));
  HL_ASSERT(hl_dispatch_sub_host(a) != hl_dispatch_sub_host(c));
  HL_ASSERT_EQ_STR(hl_dispatch_sub_host(a)->key, "http://down.example:8080");
  /* Answer the down host's attempts 503 until three failed. */
  int failed = 0;
  while (failed < 3) {
    SPIN(fake.nrunning > 0);
    hl_send_req *req = fake.running[0];
    bool down = req->sub != c;
    answer(&fake, down ? HL_SEND_RETRY : HL_SEND_OK, down ? 503 : 200);
    failed += down;
  }
  hl_host *h = hl_dispatch_sub_host(a);
  HL_ASSERT_EQ_INT(h->gate.state, HL_GATE_OPEN);
  HL_ASSERT(a->gate->state == HL_GATE_CLOSED && b->gate->state == HL_GATE_CLOSED);
  /* Those admitted before it opened may still answer; after them, sub_c's
   * deliveries all go and nothing more goes to the down host. */
  size_t sent_at_open = fake.nsent;
  for (int i = 0; i < 2000 && !status_is("c2", "SUCCESS"); i++) {
    uv_run(&loop, UV_RUN_NOWAIT);
    if (fake.nrunning > 0) {
      bool down = fake.running[0]->sub != c;
      answer(&fake, down ? HL_SEND_RETRY : HL_SEND_OK, down ? 503 : 200);
    }
  }
  HL_ASSERT(status_is("c2", "SUCCESS"));
  for (size_t i = sent_at_open; i < fake.nsent; i++)
    HL_ASSERT_MSG(fake.sent[i][0] == 'c', "%s went to the host whose breaker is open", fake.sent[i]);
  hl_buf m = HL_BUF_INIT;
  hl_dispatch_render_metrics(&disp, &m);
  hl_buf_putc(&m, '\0');
  HL_ASSERT(strstr(m.data, "hookloop_host_breakers{state=\"open\"} 1"));
  hl_buf_dispose(&m);
  extra = (hl_dispatch_options){0};
  teardown();
}

/* A breaker of 3 failures in a row, open 100 ms. An attempt sent before it
 * opened (a slow one) fails while the probe is out, then the probe
 * succeeds: the probe decides, so the subscription's breaker and its
 * host's close, and the deliveries behind them go. */
HL_TEST(a_probe_that_succeeds_closes_the_breaker_though_an_older_attempt_failed_meanwhile) {
  extra = (hl_dispatch_options){.breaker_failures = 3, .breaker_open_ms = 100};
  setup(100, 60000, "10ms");
  hl_sub *s = add_sub("sub_p", 2);
  char id[16];
  for (int i = 0; i < 5; i++) {
    snprintf(id, sizeof id, "p%d", i);
    accept_event(id, "sub_p");
  }
  hl_dispatch_notify(&disp, s);
  SPIN(fake.nrunning == 2);
  hl_send_req *slow = fake.running[0];
  for (int failed = 0; failed < 3; failed++) {
    SPIN(fake.nrunning == 2);
    answer_req(&fake, fake.running[1], HL_SEND_RETRY, 503);
  }
  hl_host *h = hl_dispatch_sub_host(s);
  HL_ASSERT_EQ_INT(s->gate->state, HL_GATE_OPEN);
  HL_ASSERT_EQ_INT(h->gate.state, HL_GATE_OPEN);
  SPIN(fake.nrunning == 2); /* the probe, once the breaker was open 100 ms */
  HL_ASSERT(fake.running[0] == slow);
  hl_send_req *probe = fake.running[1];
  HL_ASSERT_EQ_INT(s->gate->state, HL_GATE_HALF_OPEN);
  answer_req(&fake, slow, HL_SEND_RETRY, 503);
  answer_req(&fake, probe, HL_SEND_OK, 200);
  HL_ASSERT_EQ_INT(s->gate->state, HL_GATE_CLOSED);
  HL_ASSERT_EQ_INT(h->gate.state, HL_GATE_CLOSED);
  SPIN(fake.nrunning > 0); /* and the next one starts at once */
  extra = (hl_dispatch_options){0};
  teardown();
}

/* Adaptive concurrency against a fake partner that takes 4 at once and
 * answers 429 to the rest: with max_in_flight 32, after the first cuts the
 * attempts running stay near 4, and far fewer are refused than sent. */
HL_TEST(aimd_keeps_the_attempts_running_near_what_the_partner_takes) {
  extra = (hl_dispatch_options){.adaptive_concurrency = true};
  setup(100, 60000, "1ms,1ms,1ms,1ms,1ms,1ms,1ms,1ms,1ms,1ms,1ms,1ms,1ms,1ms,1ms,1ms,1ms,1ms,1ms,1ms");
  hl_sub *s = add_sub("sub_a", 32);
  char id[16];
  for (int i = 0; i < 60; i++) {
    snprintf(id, sizeof id, "e%d", i);
    accept_event(id, "sub_a");
  }
  hl_dispatch_notify(&disp, s);
  enum { CAPACITY = 4 };
  size_t refused = 0, ok = 0, late_max = 0, rounds = 0;
  while (ok < 60 && rounds < 5000) {
    rounds++;
    for (int i = 0; i < 20; i++) uv_run(&loop, UV_RUN_NOWAIT);
    if (fake.nrunning == 0) { uv_run(&loop, UV_RUN_ONCE); continue; }
    if (ok >= 20 && fake.nrunning > late_max) late_max = fake.nrunning;
    /* A round: the first CAPACITY running are taken, the rest refused. */
    size_t n = fake.nrunning;
    for (size_t k = 0; k < n; k++) {
      bool take = k < CAPACITY;
      answer(&fake, take ? HL_SEND_OK : HL_SEND_RETRY, take ? 200 : 429);
      if (take) ok++;
      else refused++;
    }
  }
  HL_ASSERT_EQ_INT((long)ok, 60);
  printf("aimd: %zu taken, %zu refused, at most %zu running after the first 20\n", ok, refused, late_max);
  HL_ASSERT_MSG(late_max <= 2 * CAPACITY, "%zu running at once after the first 20", late_max);
  HL_ASSERT_MSG(refused < ok, "%zu refused for %zu taken", refused, ok);
  HL_ASSERT(hl_dispatch_sub_host(s)->aimd.cuts >= 1);
  extra = (hl_dispatch_options){0};
  teardown();
}

/* The lost wake-up: a notice that arrives while a claim runs (on
 * PostgreSQL, an accept committed after the claim's snapshot, announced by
 * NOTIFY) must survive that claim's short answer. Here the SQLite store runs
 * the claim on the loop and answers after its COMMIT, so an idle callback that
 * runs after the dispatcher's pump (started later, it runs first: libuv
 * runs the last started idle handle first) accepts an event the claim did
 * not see, and notifies, before the claim answers with nothing. */
static hl_sub *race_sub;
static void accept_during_claim(uv_idle_t *h) {
  uv_idle_stop(h);
  const char *subs[] = {"sub_race"};
  hl_eq_accept ev = {.event_id = "late", .event_type = "T", .body = "{}", .body_len = 2,
                     .subscription_ids = subs, .nsubs = 1};
  static capture c;
  store->vt->eq_accept(store, &ev, cap_cb, &c);
  hl_dispatch_notify(&disp, race_sub);
}

HL_TEST(a_notice_during_a_claim_survives_its_short_answer) {
  setup(100, 60000, "1s");
  race_sub = add_sub("sub_race", 4);
  /* Adding it notified: let that claim (of nothing) run and answer first. */
  turns(10);
  uv_idle_t late;
  uv_idle_init(&loop, &late);
  uv_idle_start(&late, accept_during_claim);
  hl_dispatch_notify(&disp, race_sub); /* the claim: the pump, started after `late`, runs before it */
  /* Bounded in turns, not time: with the notice dropped nothing else wakes
   * the subscription, and the loop has nothing left to wait for. */
  turns_until(2000, &fake.nsent);
  HL_ASSERT_EQ_INT((long)fake.nsent, 1);
  HL_ASSERT_EQ_STR(fake.sent[0], "late");
  answer(&fake, HL_SEND_OK, 200);
  SPIN(status_is("late", "SUCCESS"));
  uv_close((uv_handle_t *)&late, NULL);
  teardown();
}

/* A subscription replaced (the same id: an update) while its claim runs:
 * the claim answers to the old one, already gone. Its rows are given back
 * and the new one delivers them; they used to stay held by this process,
 * its heartbeat renewing their lease, for as long as it ran. As above, an
 * idle callback runs after the pump's claim and before the store answers. */
static void replace_during_claim(uv_idle_t *h) {
  uv_idle_stop(h);
  HL_ASSERT_EQ_INT((long)disp.claims, 1); /* the pump's claim runs: not answered yet */
  add_sub("sub_repl", 4);
}

HL_TEST(a_subscription_replaced_while_its_claim_runs_delivers_what_it_claimed) {
  setup(100, 60000, "1s");
  hl_sub *s = add_sub("sub_repl", 4);
  turns(10); /* adding it notified: that claim (of nothing) first */
  accept_event("r1", "sub_repl");
  accept_event("r2", "sub_repl");
  accept_event("r3", "sub_repl");
  uv_idle_t replacer;
  uv_idle_init(&loop, &replacer);
  uv_idle_start(&replacer, replace_during_claim);
  hl_dispatch_notify(&disp, s); /* the pump, started after `replacer`, claims r1..r3 before it runs */
  for (int i = 0; i < 50 && fake.nsent < 3; i++) turns(20);
  HL_ASSERT_EQ_INT((long)fake.nsent, 3);
  for (int i = 0; i < 3; i++) answer(&fake, HL_SEND_OK, 200);
  SPIN(status_is("r1", "SUCCESS") && status_is("r2", "SUCCESS") && status_is("r3", "SUCCESS"));
  uv_close((uv_handle_t *)&replacer, NULL);
  teardown();
}

/* Closing while a claim is in flight (a SIGTERM just after an enable, on
 * PostgreSQL): the dispatcher waits for the claim's answer before it frees
 * its queue, which that answer goes through. As above, an idle callback
 * that runs after the pump's claim and before the store answers it
 * notifies (as the enable did) and closes the dispatcher. */
static int closed_during_claim;
static hl_sub *closing_sub;
static void close_during_claim(uv_idle_t *h) {
  uv_idle_stop(h);
  HL_ASSERT_EQ_INT((long)disp.claims, 1); /* the pump's claim runs: not answered yet */
  hl_dispatch_notify(&disp, closing_sub); /* as an enable does: the answer would claim again */
  hl_dispatch_close(&disp, on_closed, &closed_during_claim);
}

HL_TEST(closing_while_a_claim_runs_waits_for_its_answer) {
  setup(100, 60000, "1s");
  hl_sub *s = closing_sub = add_sub("sub_closing", 4);
  accept_event("c1", "sub_closing");
  turns(10); /* adding it notified: that claim first */
  for (int i = 0; i < 10 && fake.nrunning > 0; i++) answer(&fake, HL_SEND_OK, 200);
  SPIN(status_is("c1", "SUCCESS"));
  accept_event("c2", "sub_closing");
  uv_idle_t closer;
  uv_idle_init(&loop, &closer);
  uv_idle_start(&closer, close_during_claim);
  closed_during_claim = 0;
  hl_dispatch_notify(&disp, s); /* the pump, started after `closer`, claims c2 before it runs */
  SPIN(closed_during_claim == 1);
  HL_ASSERT_EQ_INT((long)fake.nsent, 1); /* c2 was claimed, not sent: closing */
  HL_ASSERT_EQ_INT(fake.closed, 1);
  uv_close((uv_handle_t *)&closer, NULL);
  close_rest();
}

/* On a queue that may bring a delivered item again, each delivery's
 * duplicate check (a store read that waits for the turn's commit) runs
 * before the delivery takes a slot: a partner taking one request at a
 * time gets the next the moment it answers, not a store round later.
 * Checked under the slot, every request waited for the store first. */
HL_TEST(a_duplicate_check_runs_before_the_delivery_takes_a_slot) {
  setup_redelivering(100);
  hl_sub *s = add_sub("sub_a", 1);
  const char *ids[] = {"e1", "e2", "e3"};
  for (size_t i = 0; i < 3; i++) accept_event(ids[i], "sub_a");
  hl_dispatch_notify(&disp, s);
  SPIN(fake.nrunning == 1);
  for (size_t k = 2; k <= 3; k++) {
    turns(20); /* the next is claimed and its check answered meanwhile */
    HL_ASSERT_EQ_INT((long)fake.nsent, (long)k - 1);
    answer(&fake, HL_SEND_OK, 200);
    /* No loop turn in between: the next was checked and goes at once. */
    HL_ASSERT_EQ_INT((long)fake.nrunning, 1);
    HL_ASSERT_EQ_INT((long)fake.nsent, (long)k);
  }
  answer(&fake, HL_SEND_OK, 200);
  SPIN(disp.in_memory == 0 && status_is("e3", "SUCCESS"));
  for (size_t i = 0; i < 3; i++) {
    HL_ASSERT_EQ_STR(fake.sent[i], ids[i]);
    expect_row(ids[i], "SUCCESS", 1);
  }
  teardown();
}

/* The check still stops a second send, and a copy found delivered takes
 * no slot: it is recorded while the partner holds another request of the
 * same subscription (one at a time). */
HL_TEST(a_copy_found_delivered_is_not_sent_and_does_not_wait_for_a_slot) {
  setup_redelivering(100);
  hl_sub *s = add_sub("sub_a", 1);
  accept_event("e1", "sub_a");
  hl_dispatch_notify(&disp, s);
  SPIN(fake.nrunning == 1); /* e1 at the partner, held there */
  /* k1 delivered before, as a queue that redelivers records it. */
  hl_delivery_rec done = {.event_id = "k1", .subscription_id = "sub_a", .status = "SUCCESS", .attempts = 1,
                          .last_status_code = 200, .updated_at = hl_wall_ms(), .delivered = true};
  capture c = {0};
  store->vt->delivery_put(store, &done, cap_cb, &c);
  run_until(&c.calls);
  HL_ASSERT_EQ_INT(c.status, 0);
  /* k1 handed in again, as a re-read batch would. */
  hl_eq_item again = {.d = {.event_id = hl_strdup("k1"), .subscription_id = hl_strdup("sub_a"),
                            .status = hl_strdup("PENDING")},
                      .event_type = hl_strdup("T"), .body = hl_strdup("{}"), .body_len = 2};
  hl_dispatch_submit(&disp, s, &again, NULL);
  SPIN(disp.in_memory == 1); /* recorded and gone while e1 still runs */
  HL_ASSERT_EQ_INT((long)fake.nrunning, 1);
  HL_ASSERT_EQ_INT((long)fake.nsent, 1);
  HL_ASSERT(status_is("k1", "SUCCESS"));
  answer(&fake, HL_SEND_OK, 200);
  SPIN(disp.in_memory == 0 && status_is("e1", "SUCCESS"));
  HL_ASSERT_EQ_INT((long)fake.nsent, 1);
  HL_ASSERT_EQ_STR(fake.sent[0], "e1");
  teardown();
}

/* On a store that keeps delivered items in the ledger, a success is done
 * (a push queue commits past it) only once its ledger entry is written as
 * well as its status row: an entry that failed is written again, alone,
 * and the copy that comes afterwards is stopped by it. */
HL_TEST(a_success_is_done_only_once_its_ledger_entry_lands) {
  setup_ledger_only(100);
  hl_sub *s = add_sub("sub_a", 1);
  ledger_fails = 2;
  accept_event("e1", "sub_a");
  hl_dispatch_notify(&disp, s);
  SPIN(fake.nrunning == 1);
  answer(&fake, HL_SEND_OK, 200);
  SPIN(ledger_failed == 1 && status_is("e1", "SUCCESS"));
  turns(20);
  /* The status row is durable, the entry is not: the delivery waits. */
  HL_ASSERT_EQ_INT((long)disp.in_memory, 1);
  HL_ASSERT_EQ_INT(ledger_status("sub_a#e1"), HL_ENOTFOUND);
  SPIN(disp.in_memory == 0);
  HL_ASSERT_EQ_INT(ledger_failed, 2);
  HL_ASSERT_EQ_INT(ledger_status("sub_a#e1"), 0);
  expect_row("e1", "SUCCESS", 1);
  /* e1 handed in again, as a record consumed again would be: stopped. */
  hl_eq_item again = {.d = {.event_id = hl_strdup("e1"), .subscription_id = hl_strdup("sub_a"),
                            .status = hl_strdup("PENDING")},
                      .event_type = hl_strdup("T"), .body = hl_strdup("{}"), .body_len = 2};
  hl_dispatch_submit(&disp, s, &again, NULL);
  SPIN(disp.in_memory == 0);
  turns(20);
  HL_ASSERT_EQ_INT((long)fake.nsent, 1);
  HL_ASSERT_EQ_INT((long)fake.nrunning, 0);
  teardown();
}

/* How much a subscription may hold in memory: in flight plus as many again
 * (twice as many on the embedded queue, whose claims wait for their
 * commit's fdatasync; at most 512 more), and at least HL_DISPATCH_AHEAD_MIN
 * more where no other process could take them (a push queue's records,
 * the embedded queue over SQLite), so that a small limit is not paced by
 * the store's waits. A queue whose rows processes share keeps claiming no
 * more than before. */
HL_TEST(a_small_limit_holds_at_least_ahead_min_more_where_no_other_process_waits) {
  setup_redelivering(100);
  hl_sub *one = add_sub("sub_one", 1), *mid = add_sub("sub_mid", 256), *many = add_sub("sub_many", 600);
  HL_ASSERT(redelivering->alone); /* the embedded queue on SQLite: one process per data directory */
  HL_ASSERT_EQ_INT((long)hl_dispatch_sub_memory_cap(&disp, one), 1 + HL_DISPATCH_AHEAD_MIN);
  HL_ASSERT_EQ_INT((long)hl_dispatch_sub_memory_cap(&disp, mid), 256 + 512);
  HL_ASSERT_EQ_INT((long)hl_dispatch_sub_memory_cap(&disp, many), 1112);
  redelivering->alone = false; /* as over a store whose rows processes share */
  HL_ASSERT_EQ_INT((long)hl_dispatch_sub_memory_cap(&disp, one), 2);
  HL_ASSERT_EQ_INT((long)hl_dispatch_sub_memory_cap(&disp, mid), 512);
  HL_ASSERT_EQ_INT((long)hl_dispatch_sub_memory_cap(&disp, many), 1112);
  redelivering_vt.claim = NULL; /* the same queue, as a push queue */
  redelivering_vt.claim_head = NULL;
  HL_ASSERT_EQ_INT((long)hl_dispatch_sub_memory_cap(&disp, one), 1 + HL_DISPATCH_AHEAD_MIN);
  HL_ASSERT_EQ_INT((long)hl_dispatch_sub_memory_cap(&disp, mid), 512);
  HL_ASSERT_EQ_INT((long)hl_dispatch_sub_memory_cap(&disp, many), 1112);
  redelivering_vt = *embedded_vt; /* a pull queue again for the close */
  teardown();
}

/* An event of type T of about bytes bytes, accepted for sub, into body. */
static void accept_large(const char *id, const char *sub, size_t bytes, hl_buf *body) {
  hl_buf_printf(body, "{\"id\":\"%s\",\"items\":[", id);
  for (int i = 0; body->len < bytes; i++) hl_buf_printf(body, "%s{\"a\":%d,\"b\":[1,2,3]}", i ? "," : "", i);
  hl_buf_puts(body, "]}");
  const char *subs[] = {sub};
  hl_eq_accept ev = {.event_id = id, .event_type = "T", .body = body->data, .body_len = body->len,
                     .subscription_ids = subs, .nsubs = 1};
  capture c = {0};
  store->vt->eq_accept(store, &ev, cap_cb, &c);
  run_until(&c.calls);
  HL_ASSERT_EQ_INT(c.status, 0);
}

/* Registers version of event type T's transformation: set /x to value. */
static void put_type_xform(int64_t version, const char *value) {
  char spec[128];
  snprintf(spec, sizeof spec, "{\"version\":1,\"ops\":[{\"op\":\"set\",\"path\":\"/x\",\"value\":%s}]}", value);
  hl_transform *t = NULL;
  HL_ASSERT_EQ_INT(hl_transform_compile(spec, strlen(spec), &t, NULL), 0);
  hl_xform_rec r = {.transformation_id = hl_strdup("event_type:T"), .version = version, .spec_json = hl_strdup(spec)};
  hl_registry_put_xform(&reg, &r, t);
}

/* A body over 64 KiB is shaped on the threadpool: when the delivery is
 * SENDING nothing has been sent yet, and what is sent is what the programs
 * it started with make, though a new version came meanwhile (the registry
 * dropped the old program; the shaping held it). */
HL_TEST(a_large_body_is_shaped_on_the_threadpool_with_the_programs_it_started_with) {
  setup(100, 60000, "1s");
  hl_sub *s = add_sub("sub_a", 4);
  put_type_xform(1, "1");
  hl_buf body = HL_BUF_INIT;
  accept_large("big-1", "sub_a", 300000, &body);
  hl_dispatch_notify(&disp, s);
  SPIN(disp.busy == 1);
  HL_ASSERT_EQ_INT((long)fake.nsent, 0);
  put_type_xform(2, "2");
  SPIN(fake.nrunning == 1);
  hl_buf want = HL_BUF_INIT;
  hl_buf_append(&want, body.data, body.len - 1);
  hl_buf_puts(&want, ",\"x\":1}");
  HL_ASSERT_EQ_INT((long)fake.last_body.len, (long)want.len);
  HL_ASSERT(memcmp(fake.last_body.data, want.data, want.len) == 0);
  HL_ASSERT_EQ_STR(fake.last_xform, "event_type:T@1");
  HL_ASSERT_EQ_INT((long)disp.shaped_threadpool, 1);
  HL_ASSERT_EQ_INT((long)disp.shaped_loop, 0);
  answer(&fake, HL_SEND_OK, 200);
  SPIN(status_is("big-1", "SUCCESS"));
  /* A small one stays on the loop, with the version registered now. */
  accept_event("small-1", "sub_a");
  hl_dispatch_notify(&disp, s);
  SPIN(fake.nrunning == 1);
  HL_ASSERT_EQ_STR(fake.last_body.data, "{\"x\":2}");
  HL_ASSERT_EQ_INT((long)disp.shaped_loop, 1);
  answer(&fake, HL_SEND_OK, 200);
  SPIN(status_is("small-1", "SUCCESS"));
  hl_buf_dispose(&want);
  hl_buf_dispose(&body);
  hl_buf_dispose(&fake.last_body);
  teardown();
}

/* A close while a large body is shaped waits for the shaping (the work
 * reads the delivery's bytes), then abandons the delivery unsent, its row
 * left open as a running request's is. */
HL_TEST(closing_while_a_large_body_is_shaped_waits_for_it_and_sends_nothing) {
  setup(100, 60000, "1s");
  hl_sub *s = add_sub("sub_a", 4);
  put_type_xform(1, "1");
  hl_buf body = HL_BUF_INIT;
  accept_large("big-1", "sub_a", 300000, &body);
  hl_dispatch_notify(&disp, s);
  SPIN(disp.busy == 1);
  int closed = 0;
  hl_dispatch_close(&disp, on_closed, &closed);
  SPIN(closed == 1);
  HL_ASSERT_EQ_INT((long)fake.nsent, 0);
  HL_ASSERT_EQ_INT(fake.cancelled, 0);
  HL_ASSERT_EQ_INT(fake.closed, 1);
  HL_ASSERT_EQ_INT((long)disp.shaped_threadpool, 1);
  hl_delivery_rec r = row("big-1");
  HL_ASSERT(strcmp(r.status, "SUCCESS") != 0 && strcmp(r.status, "FAILED") != 0);
  HL_ASSERT_EQ_INT((long)r.attempts, 0);
  hl_delivery_rec_free(&r);
  hl_buf_dispose(&body);
  close_rest();
}
