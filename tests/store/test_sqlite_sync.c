/* The SQLite store's WAL fdatasync off the loop (store/hl_sqlite_sync.h),
 * against a real store file: a write's callback (an accept's 202) runs only
 * after an fdatasync of the WAL that began after its COMMIT has ended, on a
 * threadpool thread; callbacks keep their order; closing the store waits
 * for the last one. */
#include "hl_test.h"
#include "hl_testutil.h"
#include "sqlite_peek.h"
#include "common/hl_buf.h"
#include "common/hl_common.h"
#include "store/hl_store_sqlite.h"

#include <stdio.h>
#include <string.h>
#include <uv.h>

static uv_loop_t loop;
static hl_store *store;
static char *dir;

typedef struct {
  int calls, status, order;
  const char *id;
  int committed;        /* another connection saw the row when the callback ran */
  hl_sqlite_sync_stats at_call; /* the fdatasync counters then */
  bool on_loop_thread;
} seen;

static int order_seq;
static uv_thread_t loop_thread;

static int committed_events(const char *id) { return sqlite_peek_events(dir, id); }

static void on_seen(void *data, int status, hl_store_result *res) {
  seen *s = data;
  (void)res;
  s->calls++;
  s->status = status;
  s->order = ++order_seq;
  if (s->id) s->committed = committed_events(s->id);
  if (store) s->at_call = *hl_store_sqlite_sync_stats(store);
  uv_thread_t self = uv_thread_self();
  s->on_loop_thread = uv_thread_equal(&self, &loop_thread);
}

static void accept_one(seen *s, const char *id) {
  static const char *subs[] = {"sub_a"};
  s->id = id;
  hl_eq_accept ev = {.event_id = id, .event_type = "T", .body = "{}", .body_len = 2, .subscription_ids = subs,
                     .nsubs = 1};
  store->vt->eq_accept(store, &ev, on_seen, s);
}

static void run_until(seen *s) {
  for (int i = 0; i < 100000 && s->calls == 0; i++) uv_run(&loop, UV_RUN_ONCE);
  HL_ASSERT_MSG(s->calls == 1, "callback ran %d times", s->calls);
}

static void open_store(void) {
  char err[256] = "";
  HL_ASSERT_MSG(hl_store_sqlite_open(&loop, dir, NULL, &store, err, sizeof err) == 0, "%s", err);
}

static void on_closed(void *data) { *(int *)data = 1; }

static void close_store(void) {
  int closed = 0;
  store->vt->close(store, on_closed, &closed);
  uv_run(&loop, UV_RUN_DEFAULT);
  HL_ASSERT(closed);
  store = NULL;
}

static void setup(void) {
  uv_loop_init(&loop);
  loop_thread = uv_thread_self();
  dir = hl_tmpdir("sync");
  order_seq = 0;
}

static void teardown(void) {
  uv_loop_close(&loop);
  hl_rmtree(dir);
  free(dir);
}

/* The turn's COMMIT runs in the loop's check phase; the fdatasync's end
 * reaches the loop no sooner than the next turn's poll phase. So right
 * after the turn the row is committed (another connection sees it) but
 * not answered; the answer comes from a job that started after the commit
 * and ran on another thread. */
HL_TEST(an_accept_is_answered_only_after_the_wal_fdatasync_that_follows_its_commit) {
  setup();
  open_store();
  const hl_sqlite_sync_stats before = *hl_store_sqlite_sync_stats(store);
  seen a = {0};
  accept_one(&a, "sync-0");
  uv_run(&loop, UV_RUN_NOWAIT);
  HL_ASSERT_EQ_INT(committed_events("sync-0"), 1);
  HL_ASSERT_MSG(a.calls == 0, "answered in the turn of its COMMIT, before the WAL's fdatasync");
  const hl_sqlite_sync_stats *now = hl_store_sqlite_sync_stats(store);
  HL_ASSERT_EQ_INT(now->requested, before.requested + 1);
  HL_ASSERT_EQ_INT(now->started, before.started + 1);
  run_until(&a);
  HL_ASSERT_EQ_INT(a.status, 0);
  HL_ASSERT(a.on_loop_thread);
  HL_ASSERT_MSG(a.at_call.synced >= before.started + 1, "answered before the job started after its commit ended");
  HL_ASSERT_MSG(a.at_call.covered >= before.requested + 1, "answered before a successful sync covered its commit");
  HL_ASSERT_EQ_INT(a.at_call.failures, 0);
  uv_thread_t job = a.at_call.last_thread;
  HL_ASSERT_MSG(!uv_thread_equal(&job, &loop_thread), "the WAL's fdatasync ran on the loop thread");
  /* /metrics says so too. */
  hl_buf m = HL_BUF_INIT;
  store->vt->render_metrics(store, &m);
  hl_buf_putc(&m, '\0');
  HL_ASSERT(strstr(m.data, "hookloop_sqlite_wal_syncs_total ") != NULL);
  HL_ASSERT(strstr(m.data, "hookloop_sqlite_wal_syncs_total 0\n") == NULL);
  hl_buf_dispose(&m);
  close_store();
  teardown();
}

/* A read issued while a write waits for its fdatasync is answered after the
 * write: callbacks keep the order of their turns. A read alone, with nothing
 * held, is answered in its own turn (it waits for no disk). */
HL_TEST(callbacks_keep_their_order_behind_a_pending_fdatasync) {
  setup();
  open_store();
  seen w = {0}, r = {0}, lone = {0};
  accept_one(&w, "sync-order");
  uv_run(&loop, UV_RUN_NOWAIT); /* committed, its fdatasync in flight */
  HL_ASSERT_EQ_INT(w.calls, 0);
  store->vt->ledger_get(store, "no-such-key", on_seen, &r);
  for (int i = 0; i < 100000 && (w.calls == 0 || r.calls == 0); i++) uv_run(&loop, UV_RUN_ONCE);
  HL_ASSERT_EQ_INT(w.calls, 1);
  HL_ASSERT_EQ_INT(r.calls, 1);
  HL_ASSERT_MSG(w.order < r.order, "the read behind a held write was answered first");
  /* Nothing held now. */
  uint64_t requested = hl_store_sqlite_sync_stats(store)->requested;
  store->vt->ledger_get(store, "no-such-key", on_seen, &lone);
  uv_run(&loop, UV_RUN_NOWAIT);
  HL_ASSERT_MSG(lone.calls == 1, "a read with nothing held waited for a turn more");
  HL_ASSERT_EQ_INT(hl_store_sqlite_sync_stats(store)->requested, requested);
  close_store();
  teardown();
}

/* Closing right after a write: the close waits for the fdatasync, the
 * callback runs (with success) before the store is gone, and the row is
 * there after reopening. */
HL_TEST(closing_waits_for_the_last_fdatasync) {
  setup();
  open_store();
  seen a = {0};
  accept_one(&a, "sync-close");
  close_store();
  HL_ASSERT_EQ_INT(a.calls, 1);
  HL_ASSERT_EQ_INT(a.status, 0);
  HL_ASSERT_EQ_INT(committed_events("sync-close"), 1);
  open_store();
  HL_ASSERT_EQ_INT(store->vt->eq_backlog(store), 1);
  close_store();
  teardown();
}

/* Writes made while an fdatasync runs are covered by the next one: the
 * jobs never outnumber the commits, every commit is covered, and each
 * answer comes after its own commit's coverage. */
HL_TEST(every_commit_is_covered_and_answered_in_order) {
  setup();
  open_store();
  enum { N = 64 };
  static seen s[N];
  static char ids[N][32];
  memset(s, 0, sizeof s);
  for (int i = 0; i < N; i++) {
    snprintf(ids[i], sizeof ids[i], "sync-many-%d", i);
    accept_one(&s[i], ids[i]);
    uv_run(&loop, UV_RUN_NOWAIT); /* one commit per turn */
  }
  run_until(&s[N - 1]);
  const hl_sqlite_sync_stats *st = hl_store_sqlite_sync_stats(store);
  HL_ASSERT(st->requested >= N);
  HL_ASSERT(st->synced <= st->requested);
  HL_ASSERT_EQ_INT(st->covered, st->requested);
  for (int i = 0; i < N; i++) {
    HL_ASSERT_EQ_INT(s[i].calls, 1);
    HL_ASSERT_EQ_INT(s[i].status, 0);
    HL_ASSERT_EQ_INT(s[i].committed, 1);
    HL_ASSERT_EQ_INT(s[i].order, i + 1);
  }
  close_store();
  teardown();
}


