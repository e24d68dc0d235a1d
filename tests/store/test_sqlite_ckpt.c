/* The SQLite store's WAL checkpoints off the loop (store/hl_sqlite_ckpt.h),
 * against a real store file: they run on a threadpool thread, the WAL
 * restarts and stays bounded under sustained writes, and what is written
 * while a checkpoint runs is all there after close and reopen. The
 * threshold is set low (hl_store_sqlite_ckpt_pages) so that a few thousand
 * deliveries make many checkpoints. */
#include "hl_test.h"
#include "hl_testutil.h"
#include "common/hl_common.h"
#include "store/hl_store_sqlite.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <uv.h>

static uv_loop_t loop;
static hl_store *store;
static char *dir;
static size_t answered, failed;

static void on_done(void *data, int status, hl_store_result *res) {
  (void)data; (void)res;
  if (status != 0) failed++;
  answered++;
}

/* Counts a ledger entry that says DELIVERED, or a single SUCCESS row. */
static void on_found(void *data, int status, hl_store_result *res) {
  if (status == 0 && ((res->value && strcmp(res->value, "DELIVERED") == 0) ||
                      (res->ndeliveries == 1 && strcmp(res->deliveries[0].status, "SUCCESS") == 0)))
    ++*(size_t *)data;
  answered++;
}

static void wait_answers(size_t n) {
  while (answered < n) uv_run(&loop, UV_RUN_ONCE);
  HL_ASSERT_MSG(failed == 0, "%zu store operations failed", failed);
}

static void open_store(int pages) {
  char err[256] = "";
  HL_ASSERT_MSG(hl_store_sqlite_open(&loop, dir, NULL, &store, err, sizeof err) == 0, "%s", err);
  hl_store_sqlite_ckpt_pages(store, pages);
}

static void close_store(void) {
  store->vt->close(store, NULL, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  store = NULL;
}

static void setup(void) {
  uv_loop_init(&loop);
  dir = hl_tmpdir("ckpt");
  answered = failed = 0;
}

static void teardown(void) {
  uv_loop_close(&loop);
  hl_rmtree(dir);
  free(dir);
}

/* One delivery as the Kafka path records it: the status row, the ledger
 * entry and the attempt row, all keyed by a random-looking event id (the
 * pages they dirty are spread over the key indexes, as in production). */
static void event_id(char *out, size_t cap, size_t i) {
  uint64_t h = (uint64_t)(i + 1) * 0x9E3779B97F4A7C15ULL;
  snprintf(out, cap, "%016llx-%zu", (unsigned long long)h, i);
}

static void record(size_t i) {
  char id[64], key[128];
  event_id(id, sizeof id, i);
  snprintf(key, sizeof key, "sub_ckpt#%s", id);
  int64_t now = hl_wall_ms();
  hl_delivery_rec r = {.event_id = id, .subscription_id = "sub_ckpt", .status = "SUCCESS", .attempts = 1,
                       .last_status_code = 200, .last_latency_ms = 3, .updated_at = now};
  store->vt->delivery_put(store, &r, on_done, NULL);
  store->vt->ledger_put(store, key, "DELIVERED", now / 1000 + 3600, true, on_done, NULL);
  hl_attempt_rec a = {.event_id = id, .subscription_id = "sub_ckpt", .attempt = 1, .at_ms = now,
                      .status_code = 200, .latency_ms = 3, .headers_json = "{}", .body = "ok"};
  store->vt->attempt_put(store, &a, on_done, NULL);
}

/* Records deliveries [first, first + n) in turns of `turn` (one COMMIT each). */
static void drain(size_t first, size_t n, size_t turn) {
  for (size_t i = 0; i < n; i += turn) {
    size_t m = n - i < turn ? n - i : turn;
    for (size_t j = 0; j < m; j++) record(first + i + j);
    wait_answers(answered + 3 * m);
  }
}

static long long wal_bytes(void) {
  char p[600];
  snprintf(p, sizeof p, "%s/hookloop.db-wal", dir);
  struct stat st;
  return stat(p, &st) == 0 ? (long long)st.st_size : 0;
}

/* Runs the loop until no checkpoint is in flight (each job's end comes
 * back to the loop). */
static void settle(void) {
  const hl_sqlite_ckpt_stats *st = hl_store_sqlite_ckpt_stats(store);
  for (int i = 0; i < 100000 && st->started > st->checkpoints; i++) uv_run(&loop, UV_RUN_ONCE);
  HL_ASSERT_EQ_INT((long long)st->started, (long long)st->checkpoints);
}

HL_TEST(checkpoints_run_on_a_threadpool_thread) {
  setup();
  open_store(64);
  drain(0, 2000, 64);
  settle();
  const hl_sqlite_ckpt_stats *st = hl_store_sqlite_ckpt_stats(store);
  uv_thread_t self = uv_thread_self();
  printf("checkpoints %llu, catch-ups on the loop %llu, pages copied %llu, WAL restarts %llu, largest WAL %lld\n",
         (unsigned long long)st->checkpoints, (unsigned long long)st->catchups,
         (unsigned long long)st->pages_copied, (unsigned long long)st->restarts, (long long)st->wal_max_pages);
  HL_ASSERT_MSG(st->checkpoints >= 2, "%llu checkpoints on the threadpool", (unsigned long long)st->checkpoints);
  HL_ASSERT(st->pages_copied > 0);
  HL_ASSERT_EQ_INT((long long)st->failures, 0);
  HL_ASSERT_MSG(!uv_thread_equal(&st->last_thread, &self), "the checkpoint ran on the loop's thread");
  close_store();
  teardown();
}

/* Sustained writes (a COMMIT during every checkpoint): the WAL still
 * starts again from its beginning, again and again, and never holds more
 * than a few times the bound, where without the catch-up it would hold
 * every page written (tens of thousands of frames here). */
HL_TEST_T(the_wal_restarts_and_stays_bounded_under_sustained_writes, 240) {
  setup();
  enum { PAGES = 256, N = 20000, TURN = 32 };
  open_store(PAGES);
  drain(0, N, TURN);
  const hl_sqlite_ckpt_stats *st = hl_store_sqlite_ckpt_stats(store);
  long long bound = (long long)PAGES * HL_SQLITE_CKPT_BOUND_FACTOR;
  printf("%d deliveries: checkpoints %llu (threadpool) + %llu (loop, longest %.2f ms), pages copied %llu, "
         "WAL restarts %llu, largest WAL %lld pages (bound %lld), WAL file %lld bytes\n",
         N, (unsigned long long)st->checkpoints, (unsigned long long)st->catchups,
         (double)st->catchup_max_us / 1e3, (unsigned long long)st->pages_copied,
         (unsigned long long)st->restarts, (long long)st->wal_max_pages, bound, wal_bytes());
  HL_ASSERT_MSG(st->restarts >= 10, "the WAL restarted %llu times", (unsigned long long)st->restarts);
  /* Past twice the bound the catch-up runs at the first COMMIT with no job
   * in flight: a job's worth of turns (~150 pages each) past it at most;
   * 8 × is a wide margin, where without the catch-up the WAL would hold
   * every page written (~60,000). */
  HL_ASSERT_MSG(st->wal_max_pages <= 8 * bound, "the WAL grew to %lld pages (bound %lld)",
                (long long)st->wal_max_pages, bound);
  /* The file too: SQLite writes a restarted WAL over the old frames. */
  HL_ASSERT_MSG(wal_bytes() <= 8 * bound * (4096 + 24) + 32, "WAL file of %lld bytes", wal_bytes());
  HL_ASSERT_EQ_INT((long long)st->failures, 0);
  settle();
  close_store();
  teardown();
}

/* Deliveries recorded while checkpoints run, the store closed with one
 * still in flight: all there after reopening, and the WAL truncated. */
HL_TEST_T(writes_during_a_checkpoint_are_all_there_after_reopen, 240) {
  setup();
  enum { N = 6000, TURN = 32 };
  open_store(32);
  const hl_sqlite_ckpt_stats *st = hl_store_sqlite_ckpt_stats(store);
  size_t done = 0, during = 0;
  while (done < N) {
    bool in_flight = st->started > st->checkpoints;
    drain(done, TURN, TURN);
    done += TURN;
    if (in_flight) during += TURN;
  }
  /* Close right after a COMMIT that started a job, if the last did not. */
  for (size_t i = 0; st->started == st->checkpoints && i < 2000; i += TURN, done += TURN) drain(done, TURN, TURN);
  bool closing_in_flight = st->started > st->checkpoints;
  uint64_t started = st->started;
  printf("%zu deliveries, %zu recorded while a checkpoint was in flight; %llu checkpoints started, closed with "
         "one in flight: %s\n", done, during, (unsigned long long)started, closing_in_flight ? "yes" : "no");
  HL_ASSERT(during > 0);
  HL_ASSERT(closing_in_flight);
  close_store();
  HL_ASSERT_EQ_INT(wal_bytes(), 0); /* the final checkpoint (TRUNCATE) ran */
  open_store(0);
  size_t found = 0;
  for (size_t i = 0; i < done; i++) {
    char id[64], key[128];
    event_id(id, sizeof id, i);
    snprintf(key, sizeof key, "sub_ckpt#%s", id);
    size_t before = answered;
    store->vt->ledger_get(store, key, on_found, &found);
    store->vt->delivery_list(store, id, on_found, &found);
    wait_answers(before + 2);
  }
  found /= 2;
  HL_ASSERT_EQ_INT((long long)found, (long long)done);
  close_store();
  teardown();
}
