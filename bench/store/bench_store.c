/* The SQLite store's share of a delivery, alone (issue 21): the statements
 * one delivery costs on each drain path, run against a real store file in
 * turns of 256, as the dispatcher issues them, without libcurl, Kafka or
 * the partner. CPU time (this process) per delivery, and the WAL bytes
 * written per delivery, for an A/B of schema and statement changes that
 * other load on the machine moves less than a whole drain.
 *
 *   bench_store kafka|embedded [deliveries=20000] [turn=256]
 *
 * Also printed: the longest loop turn of the drain and the mean one (the
 * loop waits for a turn's COMMIT; a checkpoint on the loop made the longest
 * turns), and where the store has them, the checkpoint counters
 * (HL_BENCH_CKPT_PAGES sets the WAL pages that start a checkpoint).
 *
 * kafka: per delivery the duplicate check (delivered_get: a read of the
 * status row), the status upsert (SUCCESS, the generation delivered), the
 * attempt row, as the dispatcher does on a store with delivered_get;
 * HL_BENCH_LEDGER=1: the ledger read and write in place of the check, as
 * it does on a store without (and as the SQLite store did before). embedded: the events are
 * accepted first (not timed), then per delivery the claim (a turn's worth
 * at once), the status update, the attempt row (no ledger: the embedded
 * queue never brings a delivered row again).
 * Event ids are random (UUID-like), as partners' are. Each outcome is
 * stamped (updated_at, the attempt's time) as a drain at HL_BENCH_RATE
 * deliveries/s would stamp it (default 25000; 0: all with the drain's
 * start, as before 2026-12-01, which made every outcome share one
 * millisecond and so put the event ids, third in the key of the index by
 * subscription and update time, in random order there: a page written per
 * delivery that no drain writes). */
#include "store/hl_store.h"
#include "store/hl_store_sqlite.h"
#include "common/hl_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

static uv_loop_t loop;
static size_t answered;

static void on_done(void *data, int status, hl_store_result *res) {
  (void)data; (void)res;
  if (status != 0 && status != HL_ENOTFOUND) { fprintf(stderr, "store error %d\n", status); exit(1); }
  answered++;
}

/* The embedded path's claim: the rowid of each row claimed, by event id
 * (ids are claimed in the order they were accepted), so that the status
 * update goes by rowid as the dispatcher's does (hl_delivery_rec.row_ref). */
static char (*claim_ids)[48];
static int64_t *claim_rows;
static size_t nclaimed;

static void on_claimed(void *data, int status, hl_store_result *res) {
  for (size_t i = 0; status == 0 && res && i < res->nitems; i++, nclaimed++) {
    if (strcmp(res->items[i].d.event_id, claim_ids[nclaimed]) != 0) {
      fprintf(stderr, "claim out of order at %zu\n", nclaimed);
      exit(1);
    }
    claim_rows[nclaimed] = res->items[i].d.row_ref;
  }
  on_done(data, status, res);
}

/* The longest loop turn while the store answers (its COMMIT, and before
 * the checkpoints moved to the threadpool, the checkpoint in it). */
static uint64_t turn_max_ns, turns, turn_sum_ns;
static uint64_t turn_ns[1 << 16];
static bool timing;

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static void wait_answers(size_t n) {
  while (answered < n) {
    uint64_t t0 = uv_hrtime();
    uv_run(&loop, UV_RUN_ONCE);
    uint64_t dt = uv_hrtime() - t0;
    if (dt > turn_max_ns) turn_max_ns = dt;
    turn_sum_ns += dt;
    if (timing && turns < HL_ARRAY_SIZE(turn_ns)) turn_ns[turns++] = dt;
  }
}

/* Turns of the drain longer than ms. */
static size_t over_ms(unsigned ms) {
  size_t k = 0;
  for (size_t i = 0; i < turns; i++) k += turn_ns[i] > (uint64_t)ms * 1000000u;
  return k;
}

static void event_id(char *out, size_t cap, uint64_t *rng) {
  uint64_t a = (*rng = *rng * 6364136223846793005ULL + 1442695040888963407ULL);
  uint64_t b = (*rng = *rng * 6364136223846793005ULL + 1442695040888963407ULL);
  snprintf(out, cap, "%08x-%04x-4%03x-a%03x-%012llx", (unsigned)(a >> 32), (unsigned)(a >> 16) & 0xffff,
           (unsigned)a & 0xfff, (unsigned)(b >> 52) & 0xfff, (unsigned long long)(b & 0xffffffffffffULL));
}

static double cpu_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Bytes this process has written (write, pwrite: the WAL and the
 * checkpoints into the database file), from /proc/self/io. */
static long long written(void) {
  FILE *f = fopen("/proc/self/io", "r");
  char line[128];
  long long v = 0;
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "wchar: %lld", &v) == 1) break;
  if (f) fclose(f);
  return v;
}

/* The Kafka path's duplicate check: in the idempotency ledger (true) or
 * the status row (delivered_get). */
static bool use_ledger;

static void record(hl_store *s, const char *id, int64_t row_ref, int64_t now, bool update) {
  char key[256];
  snprintf(key, sizeof key, "sub_bench#%s", id);
  hl_delivery_rec r = {.event_id = (char *)id, .subscription_id = "sub_bench", .status = "SUCCESS",
                       .attempts = 1, .last_status_code = 200, .last_latency_ms = 3, .updated_at = now,
                       .delivered = !update && !use_ledger, .row_ref = row_ref};
  if (update) s->vt->eq_update(s, &r, false, on_done, NULL);
  else s->vt->delivery_put(s, &r, on_done, NULL);
  /* The ledger entry only where the queue may bring a delivery again
   * (hl_dispatch.c record): the Kafka path. */
  if (!update && use_ledger) s->vt->ledger_put(s, key, "DELIVERED", now / 1000 + 7 * 24 * 3600, true, on_done, NULL);
  hl_attempt_rec a = {.event_id = (char *)id, .subscription_id = "sub_bench", .attempt = 1, .at_ms = now,
                      .status_code = 200, .latency_ms = 3,
                      .headers_json = "{\"content-type\":\"application/json\",\"content-length\":\"2\","
                                      "\"date\":\"Mon, 30 Nov 2026 05:00:00 GMT\"}",
                      .body = "ok"};
  s->vt->attempt_put(s, &a, on_done, NULL);
}

int main(int argc, char **argv) {
  bool kafka = argc > 1 && strcmp(argv[1], "kafka") == 0;
  size_t n = argc > 2 ? (size_t)atol(argv[2]) : 20000, turn = argc > 3 ? (size_t)atol(argv[3]) : 256;
  if (argc < 2 || (!kafka && strcmp(argv[1], "embedded") != 0) || n == 0 || turn == 0) {
    fprintf(stderr, "usage: bench_store kafka|embedded [deliveries] [turn]\n");
    return 2;
  }
  char dir[] = "/tmp/hookloop-bench-store-XXXXXX", err[256] = "";
  if (!mkdtemp(dir)) return 1;
  uv_loop_init(&loop);
  hl_store *s = NULL;
  if (hl_store_sqlite_open(&loop, dir, NULL, &s, err, sizeof err) != 0) { fprintf(stderr, "%s\n", err); return 1; }
  use_ledger = getenv("HL_BENCH_LEDGER") != NULL || !s->vt->delivered_get;
#ifdef HL_SQLITE_CKPT_PAGES
  if (getenv("HL_BENCH_CKPT_PAGES")) hl_store_sqlite_ckpt_pages(s, atoi(getenv("HL_BENCH_CKPT_PAGES")));
#endif
  char (*ids)[48] = calloc(n, sizeof *ids);
  claim_ids = ids;
  claim_rows = calloc(n, sizeof *claim_rows);
  uint64_t rng = 42;
  for (size_t i = 0; i < n; i++) event_id(ids[i], sizeof ids[i], &rng);
  static const char *subs[] = {"sub_bench"};
  size_t want = 0;
  if (!kafka) { /* the backlog, accepted before the drain */
    static char body[1024];
    memset(body, 'x', sizeof body - 1);
    for (size_t i = 0; i < n; i++) {
      hl_eq_accept ev = {.event_id = ids[i], .event_type = "Payment", .body = body, .body_len = sizeof body - 1,
                         .subscription_ids = subs, .nsubs = 1};
      s->vt->eq_accept(s, &ev, on_done, NULL);
      if (++want % turn == 0) wait_answers(want);
    }
    wait_answers(want);
  }
  long long w0 = written();
  turn_max_ns = turns = turn_sum_ns = 0;
  timing = true;
  double c0 = cpu_s();
  int64_t now = hl_wall_ms();
  double rate = getenv("HL_BENCH_RATE") ? atof(getenv("HL_BENCH_RATE")) : 25000.0;
  for (size_t i = 0; i < n; i += turn) {
    size_t m = n - i < turn ? n - i : turn;
    if (kafka) {
      for (size_t j = 0; j < m; j++) {
        char key[256];
        snprintf(key, sizeof key, "sub_bench#%s", ids[i + j]);
        if (use_ledger) s->vt->ledger_get(s, key, on_done, NULL);
        else s->vt->delivered_get(s, ids[i + j], "sub_bench", 0, on_done, NULL);
      }
    } else {
      s->vt->eq_claim(s, "sub_bench", m, now + 1000, on_claimed, NULL);
    }
    want += kafka ? m : 1;
    wait_answers(want);
    for (size_t j = 0; j < m; j++)
      record(s, ids[i + j], kafka ? 0 : claim_rows[i + j], now + (rate > 0 ? (int64_t)((double)(i + j) * 1000.0 / rate) : 0), !kafka);
    want += (kafka && use_ledger ? 3 : 2) * m;
    wait_answers(want);
  }
  double c1 = cpu_s();
  timing = false;
  qsort(turn_ns, turns, sizeof *turn_ns, cmp_u64);
  long long w1 = written();
  printf("{\"path\":\"%s\",\"deliveries\":%zu,\"turn\":%zu,\"cpu_us_per_delivery\":%.2f,"
         "\"bytes_written_per_delivery\":%.0f,\"turn_max_ms\":%.2f,\"turn_p99_ms\":%.2f,\"turn_p50_ms\":%.2f,"
         "\"turns_over_20ms\":%zu,\"turn_mean_ms\":%.3f",
         kafka ? "kafka" : "embedded", n, turn, (c1 - c0) * 1e6 / (double)n, (double)(w1 - w0) / (double)n,
         (double)turn_max_ns / 1e6, turns ? (double)turn_ns[turns * 99 / 100] / 1e6 : 0.0,
         turns ? (double)turn_ns[turns / 2] / 1e6 : 0.0, over_ms(20), turns ? (double)turn_sum_ns / (double)turns / 1e6 : 0.0);
#ifdef HL_SQLITE_CKPT_PAGES
  const hl_sqlite_ckpt_stats *st = hl_store_sqlite_ckpt_stats(s);
  printf(",\"checkpoints\":%llu,\"catchups\":%llu,\"catchup_max_ms\":%.2f,\"catchup_max_pages\":%lld,\"wal_restarts\":%llu,"
         "\"wal_max_pages\":%lld", (unsigned long long)st->checkpoints, (unsigned long long)st->catchups,
         (double)st->catchup_max_us / 1e3, (long long)st->catchup_max_pages, (unsigned long long)st->restarts, (long long)st->wal_max_pages);
#endif
  printf("}\n");
  s->vt->close(s, NULL, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  free(ids);
  free(claim_rows);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  return system(cmd) == 0 ? 0 : 1;
}
