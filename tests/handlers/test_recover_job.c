/* Recovery jobs (handlers/hl_recover.h) over the real embedded queue (a
 * SQLite file): pages of the range walked one after the other, only the
 * subscription's FAILED rows in range re-queued, one job per subscription
 * at a time, a stop mid-walk, and no call left behind. */
#include "hl_test.h"
#include "hl_testutil.h"

#include <string.h>
#include <uv.h>

#include "common/hl_common.h"
#include "handlers/hl_recover.h"
#include "model/hl_registry.h"
#include "queue/hl_queue_embedded.h"
#include "store/hl_store_sqlite.h"

#define N 250             /* rows of sub_a: three pages of a range over most of them */
#define T0 1000000        /* updated_at of row i: T0 + 10 i */

static uv_loop_t loop;
static hl_store *store;
static hl_queue *queue;
static hl_registry reg;
static char *dir;
static size_t pending;

#define SPIN(cond) do { for (int i_ = 0; i_ < 200000 && !(cond); i_++) uv_run(&loop, UV_RUN_ONCE); HL_ASSERT(cond); } while (0)

static void count_cb(void *data, int status, hl_store_result *res) {
  (void)res;
  HL_ASSERT_EQ_INT(status, 0);
  (*(int *)data)++;
}

/* Events e<i> to sub_a (and to sub_b for every tenth), each delivery then
 * recorded FAILED at T0 + 10 i; e7 to sub_a SUCCESS instead. */
static void fill(void) {
  static char ids[N][16];
  int done = 0, want = 0;
  for (int i = 0; i < N; i++) {
    snprintf(ids[i], sizeof ids[i], "e%03d", i);
    const char *both[] = {"sub_a", "sub_b"};
    hl_eq_accept ev = {.event_id = ids[i], .event_type = "T", .body = "{}", .body_len = 2,
                       .subscription_ids = both, .nsubs = i % 10 == 0 ? 2 : 1};
    store->vt->eq_accept(store, &ev, count_cb, &done);
    want++;
  }
  SPIN(done == want);
  for (int i = 0; i < N; i++) {
    for (int k = 0; k < (i % 10 == 0 ? 2 : 1); k++) {
      hl_delivery_rec r = {.event_id = ids[i], .subscription_id = k ? (char *)"sub_b" : (char *)"sub_a",
                           .status = (char *)(i == 7 && !k ? "SUCCESS" : "FAILED"), .attempts = 1,
                           .last_status_code = 410, .updated_at = T0 + 10 * i};
      store->vt->eq_update(store, &r, true, count_cb, &done);
      want++;
    }
  }
  SPIN(done == want);
}

typedef struct { int calls; hl_store_result res; } capture;

static void cap_cb(void *data, int status, hl_store_result *res) {
  capture *c = data;
  HL_ASSERT_EQ_INT(status, 0);
  c->calls++;
  c->res = *res;
  *res = (hl_store_result){0};
}

/* The status of e<i>'s delivery to sub. */
static void status_of(int i, const char *sub, char *out, size_t cap) {
  char id[16];
  snprintf(id, sizeof id, "e%03d", i);
  capture c = {0};
  store->vt->delivery_list(store, id, cap_cb, &c);
  SPIN(c.calls == 1);
  out[0] = '\0';
  for (size_t k = 0; k < c.res.ndeliveries; k++)
    if (strcmp(c.res.deliveries[k].subscription_id, sub) == 0) snprintf(out, cap, "%s", c.res.deliveries[k].status);
  hl_store_result_dispose(&c.res);
}

static void setup(void) {
  char err[256] = "";
  uv_loop_init(&loop);
  dir = hl_tmpdir("recover");
  HL_ASSERT_MSG(hl_store_sqlite_open(&loop, dir, NULL, &store, err, sizeof err) == 0, "open: %s", err);
  queue = hl_queue_embedded_create(store);
  hl_registry_init(&reg);
  /* The jobs' subscriptions, as the API starts jobs for registered ones. */
  const char *subs[] = {"sub_a", "sub_b"};
  for (size_t i = 0; i < 2; i++) {
    hl_sub_rec r = {.subscription_id = hl_strdup(subs[i]), .partner_id = hl_strdup(subs[i]),
                    .event_type = hl_strdup("T"), .url = hl_strdup("http://127.0.0.1:1/x"),
                    .secret = hl_strdup("whsec_AAAA"), .status = hl_strdup("ACTIVE")};
    HL_ASSERT(hl_registry_put_sub(&reg, &r, NULL, NULL, NULL) != NULL);
  }
  pending = 0;
  fill();
}

static void on_closed(void *data) { (*(int *)data)++; }

static void teardown(void) {
  queue->vt->destroy(queue);
  int closed = 0;
  store->vt->close(store, on_closed, &closed);
  SPIN(closed == 1);
  uv_run(&loop, UV_RUN_DEFAULT);
  HL_ASSERT_EQ_INT(uv_loop_close(&loop), 0);
  hl_registry_dispose(&reg);
  hl_rmtree(dir);
  hl_free(dir);
}

static hl_recover_progress progress(const hl_recover *r, const char *sub) {
  const hl_recover_job *j = hl_recover_find(r, sub);
  HL_ASSERT(j != NULL);
  hl_recover_progress p;
  hl_recover_progress_of(j, &p);
  return p;
}

HL_TEST(a_range_is_walked_in_pages_and_only_its_failed_rows_are_requeued) {
  setup();
  hl_recover *r = hl_recover_create(store, queue, &reg, &pending);
  /* Rows 20..229: 210 rows, e7 (SUCCESS) outside anyway; three pages. */
  const hl_recover_job *j, *again;
  HL_ASSERT_EQ_INT(hl_recover_start(r, "sub_a", T0 + 200, T0 + 2290, &j), 0);
  HL_ASSERT(pending == 1); /* the first search */
  /* One job per subscription at a time; another subscription may run. */
  HL_ASSERT_EQ_INT(hl_recover_start(r, "sub_a", 0, INT64_MAX, &again), HL_EEXISTS);
  HL_ASSERT(again == j);
  hl_recover_progress p = progress(r, "sub_a");
  HL_ASSERT_EQ_STR(p.state_name, "searching");
  HL_ASSERT(!p.finished);
  SPIN(progress(r, "sub_a").finished);
  p = progress(r, "sub_a");
  HL_ASSERT_EQ_STR(p.state_name, "done");
  HL_ASSERT_EQ_INT((long)p.matched, 210);
  HL_ASSERT_EQ_INT((long)p.requeued, 210);
  HL_ASSERT_EQ_INT((long)p.skipped, 0);
  HL_ASSERT_EQ_INT((long)p.errors, 0);
  HL_ASSERT_EQ_INT((long)p.pages, 3); /* 100, 100, 10 */
  HL_ASSERT_EQ_INT((long)pending, 0);
  HL_ASSERT_EQ_INT((long)hl_recover_busy(r), 0);
  char st[32];
  for (int i = 0; i < N; i++) {
    status_of(i, "sub_a", st, sizeof st);
    /* re-queued: due now, as RETRYING (attempts kept) */
    const char *want = i == 7 ? "SUCCESS" : i >= 20 && i <= 229 ? "RETRYING" : "FAILED";
    HL_ASSERT_MSG(strcmp(st, want) == 0, "e%03d at sub_a: %s, expected %s", i, st, want);
    if (i % 10 == 0) {
      status_of(i, "sub_b", st, sizeof st);
      HL_ASSERT_MSG(strcmp(st, "FAILED") == 0, "e%03d at sub_b: %s", i, st);
    }
  }
  /* The same range again finds nothing FAILED: idempotent. */
  HL_ASSERT_EQ_INT(hl_recover_start(r, "sub_a", T0 + 200, T0 + 2290, &j), 0);
  SPIN(progress(r, "sub_a").finished);
  p = progress(r, "sub_a");
  HL_ASSERT_EQ_INT((long)p.matched, 0);
  HL_ASSERT_EQ_INT((long)p.pages, 1);
  hl_recover_destroy(r);
  teardown();
}

/* The subscription is deleted while its job re-queues its first page:
 * the re-queues in flight answer, nothing more is re-queued (those rows
 * would be open for a subscription nothing claims), and the job ends
 * failed, saying why. */
HL_TEST(a_job_ends_when_its_subscription_is_deleted) {
  setup();
  hl_recover *r = hl_recover_create(store, queue, &reg, &pending);
  const hl_recover_job *j;
  HL_ASSERT_EQ_INT(hl_recover_start(r, "sub_a", 0, INT64_MAX, &j), 0);
  SPIN(progress(r, "sub_a").state == HL_RECOVER_REQUEUEING);
  HL_ASSERT(hl_registry_delete_sub(&reg, "sub_a"));
  SPIN(progress(r, "sub_a").finished);
  hl_recover_progress p = progress(r, "sub_a");
  HL_ASSERT_EQ_STR(p.state_name, "failed");
  HL_ASSERT_EQ_STR(p.error, "the subscription was deleted");
  HL_ASSERT_EQ_INT((long)p.pages, 1);
  HL_ASSERT(p.requeued >= 1 && p.requeued <= HL_RECOVER_WINDOW);
  HL_ASSERT_EQ_INT((long)pending, 0);
  char st[32];
  uint64_t retrying = 0;
  for (int i = 0; i < N; i++) {
    status_of(i, "sub_a", st, sizeof st);
    retrying += strcmp(st, "RETRYING") == 0;
  }
  HL_ASSERT_EQ_INT((long)retrying, (long)p.requeued);
  hl_recover_destroy(r);
  teardown();
}

HL_TEST(a_stop_ends_running_jobs_after_their_calls_answer) {
  setup();
  hl_recover *r = hl_recover_create(store, queue, &reg, &pending);
  const hl_recover_job *j;
  HL_ASSERT_EQ_INT(hl_recover_start(r, "sub_a", 0, INT64_MAX, &j), 0);
  /* Into the first page's re-queues, then stop: the window in flight
   * answers, nothing more starts. */
  SPIN(progress(r, "sub_a").state == HL_RECOVER_REQUEUEING);
  hl_recover_stop(r);
  HL_ASSERT_EQ_INT(hl_recover_start(r, "sub_b", 0, INT64_MAX, &j), HL_ECLOSED);
  SPIN(progress(r, "sub_a").finished);
  hl_recover_progress p = progress(r, "sub_a");
  HL_ASSERT_EQ_STR(p.state_name, "stopped");
  HL_ASSERT(p.requeued >= 1 && p.requeued <= HL_RECOVER_WINDOW);
  HL_ASSERT_EQ_INT((long)pending, 0);
  hl_recover_destroy(r);

  /* Destroyed with a search in flight: freed when it answers (ASan: no leak). */
  r = hl_recover_create(store, queue, &reg, &pending);
  HL_ASSERT_EQ_INT(hl_recover_start(r, "sub_b", 0, INT64_MAX, &j), 0);
  HL_ASSERT_EQ_INT((long)pending, 1);
  hl_recover_destroy(r);
  SPIN(pending == 0);
  char st[32];
  status_of(0, "sub_b", st, sizeof st);
  HL_ASSERT_EQ_STR(st, "FAILED");
  teardown();
}
