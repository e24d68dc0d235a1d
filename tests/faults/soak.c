/* soak.c — `make soak`: hookloop serve under mixed traffic with partner
 * faults for SOAK_SECONDS (default 3600), not part of `make test`.
 *
 * Traffic, each second until the time is up: 8 single events, one bulk of 32
 * (30 new, one already accepted: "duplicate", one invalid: "rejected"), a
 * /healthz probe; every 10 s one round of closing requests (Connection:
 * close, HTTP/1.0, garbage 400, 413, 431). Three subscriptions to three
 * mock partner processes: "fast" (1-10 ms), "flaky" (15 % 503, 5 % 429, 3 %
 * resets, 1-50 ms) and "slow" (log-normal latency, median 100 ms, past the
 * subscription's 1.5 s timeout about once in a hundred).
 *
 * Every 10 s a row goes to SOAK_CSV (default soak.csv in the working
 * directory): elapsed seconds, hookloop's RSS (KiB) and open fds from /proc,
 * the slowest and the median /healthz answer of the last 10 s (ms: the loop
 * lag as a client sees it), events accepted so far, deliveries succeeded,
 * backlog, deliveries in memory, the database's size, and the loop's own
 * figures from /metrics (hl_loop_stats): its busy share of the 10 s (%),
 * its turns over 10 ms in them, and its longest turn since the start (ms).
 *
 * It fails when
 *  - an accepted event is lost: after the traffic stops and the backlog
 *    drains, every partner must have answered 2xx for every accepted event
 *    (the partner's ok_ids), hookloop's events_accepted must equal the
 *    accepts counted here, deliveries_failed must be 0 and the successes
 *    counted (with ledger duplicates) must be accepted x 3;
 *  - /healthz ever answers anything but 200;
 *  - the figures do not stay flat. The samples after a warm-up (the first
 *    60 s or 10 % of the run, the longer) are split into halves:
 *      fds:  max(second half) <= max(first half) + 16
 *      lag:  median of the per-window medians, second half <=
 *            3 * that of the first half + 20 ms
 *    and RSS, from the first sample after the warm-up at which SQLite's page
 *    cache can be full (the database file past the cache's 8 MiB: before,
 *    RSS rises with the database by design), the same way:
 *      RSS:  max(second half) <= 1.10 * max(first half) + 4 MiB
 *    A run too short for the cache to fill says so and leaves RSS out.
 */
#include "e2e_util.h"
#include "faults_util.h"
#include "hl_test.h"
#include "hl_testutil.h"
#include "common/hl_buf.h"
#include "store/hl_store_sqlite.h"

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

enum { NSUBS = 3, PER_S_SINGLE = 8, BULK_NEW = 30, SAMPLE_S = 10 };

typedef struct {
  double t;
  long rss_kb;
  int fds;
  double lag_max_ms, lag_med_ms;
  long accepted, delivered, backlog, in_memory;
  long db_kb; /* the database file */
  double loop_busy_pct, loop_turn_max_ms;
  long loop_slow_turns; /* turns over 10 ms in the window */
} sample;

/* The loop's figures on /metrics at one moment (one scrape). */
typedef struct {
  double busy_s, max_s;
  double turns, turns_to_10ms;
  bool ok;
} loop_fig;

static loop_fig read_loop_fig(const e2e_hookloop *h) {
  loop_fig f = {0};
  char u[256], *m = NULL;
  snprintf(u, sizeof u, "%s/metrics", h->base);
  if (hl_http("GET", u, NULL, 0, NULL, &m) == 200 && m) {
    f.busy_s = e2e_metric_in(m, "hookloop_loop_busy_seconds_total");
    f.max_s = e2e_metric_in(m, "hookloop_loop_turn_max_seconds");
    f.turns = e2e_metric_in(m, "hookloop_loop_turn_seconds_count");
    f.turns_to_10ms = e2e_metric_in(m, "hookloop_loop_turn_seconds_bucket{le=\"0.01\"}");
    f.ok = f.busy_s >= 0 && f.max_s >= 0 && f.turns >= 0 && f.turns_to_10ms >= 0;
  }
  free(m);
  return f;
}

/* SQLite's page cache in hookloop (PRAGMA cache_size): RSS rises while it
 * fills, up to the database's size or this, whichever is less. */
#define PAGE_CACHE_KB ((long)HL_SQLITE_PAGE_CACHE_KB)

static int soak_seconds(void) {
  const char *s = getenv("SOAK_SECONDS");
  int v = s ? atoi(s) : 3600;
  return v > 0 ? v : 3600;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, size_t n) {
  if (n == 0) return 0;
  qsort(v, n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Posts a bulk of BULK_NEW new events plus one duplicate (dup_id, already
 * accepted, or none yet) and one invalid event; returns how many were
 * accepted and checks the other two answers. */
static long post_bulk(const e2e_hookloop *h, long *next_id, const char *dup_id) {
  hl_buf b = HL_BUF_INIT;
  char ev[1024], id[64];
  hl_buf_puts(&b, "[");
  for (int i = 0; i < BULK_NEW; i++) {
    snprintf(id, sizeof id, "soak-%09ld", (*next_id)++);
    e2e_event_json(ev, sizeof ev, id, i % 2 ? "12.5" : "7");
    hl_buf_printf(&b, "%s%s", i ? "," : "", ev);
  }
  if (dup_id) {
    e2e_event_json(ev, sizeof ev, dup_id, "7");
    hl_buf_printf(&b, ",%s", ev);
  }
  e2e_event_json(ev, sizeof ev, "soak-invalid", "-1"); /* minimum 0 */
  hl_buf_printf(&b, ",%s]", ev);
  char u[128];
  snprintf(u, sizeof u, "%s/api/v1/events/bulk", h->base);
  hl_json_doc doc;
  long code = e2e_call("POST", u, b.data, &doc);
  hl_buf_dispose(&b);
  long accepted = 0;
  if (code == 200) {
    const hl_json *res = hl_json_get(doc.root, "results");
    HL_ASSERT(res && res->type == HL_JSON_ARRAY && res->len == (size_t)BULK_NEW + (dup_id ? 2 : 1));
    for (size_t i = 0; i < res->len; i++) {
      const char *st = hl_json_str(hl_json_get(&res->u.items[i], "status"));
      HL_ASSERT(st != NULL);
      if (i < BULK_NEW) {
        HL_ASSERT_MSG(strcmp(st, "accepted") == 0 || strcmp(st, "rejected") == 0, "bulk item %zu: %s", i, st);
        accepted += strcmp(st, "accepted") == 0;
      } else if (dup_id && i == BULK_NEW) {
        HL_ASSERT_EQ_STR(st, "duplicate");
      } else {
        HL_ASSERT_EQ_STR(st, "rejected");
      }
    }
  } else {
    HL_ASSERT_MSG(code == 503, "bulk answered %ld", code);
  }
  hl_json_doc_dispose(&doc);
  return accepted;
}

static void soak(void) {
  const int seconds = soak_seconds();
  const char *csv_path = getenv("SOAK_CSV") ? getenv("SOAK_CSV") : "soak.csv";
  FILE *csv = fopen(csv_path, "w");
  HL_ASSERT_MSG(csv != NULL, "cannot write %s", csv_path);
  fprintf(csv, "elapsed_s,rss_kb,fds,healthz_max_ms,healthz_median_ms,accepted,delivered,backlog,in_memory,db_kb,"
               "loop_busy_pct,loop_slow_turns,loop_turn_max_ms\n");

  static const char *names[NSUBS] = {"fast", "flaky", "slow"};
  const char *args[NSUBS][12] = {
      {"--no-record", "--latency", "uniform:1:10", NULL},
      {"--no-record", "--mix", "200:80,503:15,429:5", "--reset-pct", "3", "--latency", "uniform:1:50", NULL},
      {"--no-record", "--latency", "lognormal:100:1.2", NULL},
  };
  e2e_partner partners[NSUBS];
  memset(partners, 0, sizeof partners);
  for (int i = 0; i < NSUBS; i++) e2e_start_partner(&partners[i], args[i]);
  e2e_hookloop hk;
  memset(&hk, 0, sizeof hk);
  const char *env[] = {"LOG_LEVEL=warn", NULL};
  e2e_start_hookloop(&hk, env);
  /* Twelve retries within about two minutes: a delivery that fails for good
   * would be a lost event here (p = 0.23^13 for the flaky partner). */
  const char *schedule = "\"retry_schedule\":\"200ms,500ms,1s,2s,3s,5s,5s,10s,10s,10s,30s,30s\"";
  for (int i = 0; i < NSUBS; i++) {
    char url[128], partner_id[32], extra[256];
    snprintf(url, sizeof url, "%s/hook/%s", partners[i].base, names[i]);
    snprintf(partner_id, sizeof partner_id, "soak-%s", names[i]);
    snprintf(extra, sizeof extra, "%s,\"max_in_flight\":64%s", schedule, i == 2 ? ",\"timeout_ms\":1500" : "");
    free(e2e_setup(&hk, partner_id, url, extra, NULL, 0));
  }
  printf("soak: %d s, hookloop pid %d on %s, samples to %s\n", seconds, (int)hk.pid, hk.base, csv_path);
  char db_path[600];
  snprintf(db_path, sizeof db_path, "%s/hookloop.db", hk.dir);
  fflush(stdout);

  size_t cap = (size_t)seconds / SAMPLE_S + 8, n = 0;
  sample *s = calloc(cap, sizeof *s);
  double lags[SAMPLE_S + 4];
  size_t nlags = 0;
  long accepted = 0, next_id = 0, single_503 = 0, health_bad = 0;
  char first_id[64] = "";
  const double t0 = now_s();
  double next_sample = t0 + SAMPLE_S;
  loop_fig lf0 = read_loop_fig(&hk);
  double lf0_at = t0;
  HL_ASSERT_MSG(lf0.ok, "no loop figures on /metrics");
  for (long sec = 0;; sec++) {
    double tick = t0 + (double)sec;
    double now = now_s();
    if (now - t0 >= seconds) break;
    if (tick > now) hl_sleep_ms((int)((tick - now) * 1000));
    for (int i = 0; i < PER_S_SINGLE; i++) {
      char id[64];
      snprintf(id, sizeof id, "soak-%09ld", next_id++);
      long code = e2e_post_event(&hk, id, i % 3 ? "10" : "0.01");
      HL_ASSERT_MSG(code == 202 || code == 503, "event answered %ld", code);
      if (code == 202) {
        accepted++;
        if (!first_id[0]) snprintf(first_id, sizeof first_id, "%s", id);
      } else {
        single_503++;
      }
    }
    accepted += post_bulk(&hk, &next_id, first_id[0] ? first_id : NULL);
    double ms = 0;
    long hz = faults_healthz(&hk, &ms);
    if (hz != 200) {
      health_bad++;
      fprintf(stderr, "soak: /healthz answered %ld at %ld s\n", hz, sec);
    }
    if (nlags < sizeof lags / sizeof lags[0]) lags[nlags++] = ms;
    if (now_s() >= next_sample && n < cap) {
      hl_closing_requests(hk.port, 1, "/healthz", "/api/v1/events", 2u << 20);
      double lmax = 0;
      for (size_t i = 0; i < nlags; i++) lmax = lags[i] > lmax ? lags[i] : lmax;
      sample *x = &s[n++];
      *x = (sample){.t = now_s() - t0, .rss_kb = faults_rss_kb(hk.pid), .fds = hl_count_fds(hk.pid),
                    .lag_max_ms = lmax, .lag_med_ms = median(lags, nlags), .accepted = accepted,
                    .delivered = (long)faults_stat(&hk, "deliveries_success", 1),
                    .backlog = (long)faults_stat(&hk, "backlog", 0),
                    .in_memory = (long)faults_stat(&hk, "in_memory", 0)};
      struct stat st;
      x->db_kb = stat(db_path, &st) == 0 ? (long)(st.st_size / 1024) : -1;
      loop_fig lf = read_loop_fig(&hk);
      double lf_at = now_s();
      HL_ASSERT_MSG(lf.ok, "no loop figures on /metrics at %ld s", sec);
      x->loop_busy_pct = 100.0 * (lf.busy_s - lf0.busy_s) / (lf_at - lf0_at);
      x->loop_slow_turns = (long)((lf.turns - lf.turns_to_10ms) - (lf0.turns - lf0.turns_to_10ms));
      x->loop_turn_max_ms = lf.max_s * 1000;
      lf0 = lf;
      lf0_at = lf_at;
      fprintf(csv, "%.0f,%ld,%d,%.1f,%.1f,%ld,%ld,%ld,%ld,%ld,%.2f,%ld,%.1f\n", x->t, x->rss_kb, x->fds, x->lag_max_ms,
              x->lag_med_ms, x->accepted, x->delivered, x->backlog, x->in_memory, x->db_kb, x->loop_busy_pct,
              x->loop_slow_turns, x->loop_turn_max_ms);
      fflush(csv);
      nlags = 0;
      next_sample += SAMPLE_S;
    }
  }
  fclose(csv);

  /* No loss: the backlog drains and every partner took every accepted event. */
  int64_t left = faults_wait_drained(&hk, 600000);
  int64_t hk_accepted = faults_stat(&hk, "events_accepted", 1);
  int64_t hk_success = faults_stat(&hk, "deliveries_success", 1);
  int64_t hk_failed = faults_stat(&hk, "deliveries_failed", 1);
  int64_t hk_dup = faults_stat(&hk, "deliveries_duplicate", 1);
  int64_t ok[NSUBS];
  for (int i = 0; i < NSUBS; i++) ok[i] = e2e_partner_stat(&partners[i], "ok_ids");
  printf("soak: accepted %ld (503: %ld), hookloop events_accepted %lld, deliveries_success %lld, "
         "deliveries_duplicate %lld, deliveries_failed %lld, backlog after drain %lld; partners ok_ids fast %lld, flaky %lld, slow %lld; "
         "partner requests flaky %lld; /healthz not 200: %ld\n",
         accepted, single_503, (long long)hk_accepted, (long long)hk_success, (long long)hk_dup, (long long)hk_failed, (long long)left,
         (long long)ok[0], (long long)ok[1], (long long)ok[2], (long long)e2e_partner_stat(&partners[1], "requests"),
         health_bad);

  /* Flat: the halves after the warm-up. */
  double warm = seconds / 10.0 > 60 ? seconds / 10.0 : 60;
  size_t w = 0;
  while (w < n && s[w].t < warm) w++;
  size_t half = w + (n - w) / 2;
  int fd1 = 0, fd2 = 0;
  double *m1 = calloc(n + 1, sizeof *m1), *m2 = calloc(n + 1, sizeof *m2);
  size_t n1 = 0, n2 = 0;
  long rss_max = 0, slow_turns = 0;
  int fd_max = 0;
  double lag_max = 0, busy_max = 0;
  for (size_t i = 0; i < n; i++) {
    slow_turns += s[i].loop_slow_turns;
    busy_max = s[i].loop_busy_pct > busy_max ? s[i].loop_busy_pct : busy_max;
    rss_max = s[i].rss_kb > rss_max ? s[i].rss_kb : rss_max;
    fd_max = s[i].fds > fd_max ? s[i].fds : fd_max;
    lag_max = s[i].lag_max_ms > lag_max ? s[i].lag_max_ms : lag_max;
    if (i < w) continue;
    if (i < half) {
      fd1 = s[i].fds > fd1 ? s[i].fds : fd1;
      m1[n1++] = s[i].lag_med_ms;
    } else {
      fd2 = s[i].fds > fd2 ? s[i].fds : fd2;
      m2[n2++] = s[i].lag_med_ms;
    }
  }
  double lag1 = median(m1, n1), lag2 = median(m2, n2);
  /* RSS is compared once the page cache is full as well (the database past
   * its size): before, RSS rises with the database by design. */
  size_t r0 = w;
  while (r0 < n && s[r0].db_kb < PAGE_CACHE_KB) r0++;
  size_t rhalf = r0 + (n - r0) / 2;
  long rssc1 = 0, rssc2 = 0;
  for (size_t i = r0; i < n; i++) {
    long *m = i < rhalf ? &rssc1 : &rssc2;
    *m = s[i].rss_kb > *m ? s[i].rss_kb : *m;
  }
  if (n > 0)
    printf("soak: %zu samples; RSS first %ld KiB, last %ld, max %ld; fds first %d, last %d, max %d; /healthz max %.1f ms, "
           "median first %.1f ms, last %.1f ms; after warm-up: fds max %d -> %d, lag median %.1f -> %.1f ms; "
           "page cache full from %.0f s: RSS max %ld -> %ld KiB\n",
           n, s[0].rss_kb, s[n - 1].rss_kb, rss_max, s[0].fds, s[n - 1].fds, fd_max, lag_max, s[0].lag_med_ms,
           s[n - 1].lag_med_ms, fd1, fd2, lag1, lag2, r0 < n ? s[r0].t : -1.0, rssc1, rssc2);
  if (n > 0)
    printf("soak: the loop: busy %.2f %% of the first 10 s, %.2f %% of the last, %.2f %% at most; %ld turns over 10 ms; "
           "longest turn %.1f ms\n",
           s[0].loop_busy_pct, s[n - 1].loop_busy_pct, busy_max, slow_turns, s[n - 1].loop_turn_max_ms);
  fflush(stdout);

  HL_ASSERT_EQ_INT(left, 0);
  HL_ASSERT_EQ_INT(hk_accepted, accepted);
  HL_ASSERT_EQ_INT(hk_failed, 0);
  /* Each delivery's success counted exactly once (duplicates: stopped by the
   * idempotency ledger, as after a restart; none expected here). */
  HL_ASSERT_EQ_INT(hk_success + hk_dup, (int64_t)accepted * NSUBS);
  for (int i = 0; i < NSUBS; i++) HL_ASSERT_MSG(ok[i] == accepted, "partner %s took %lld of %ld", names[i], (long long)ok[i], accepted);
  HL_ASSERT_EQ_INT(health_bad, 0);
  HL_ASSERT_MSG(n2 > 0 && n1 > 0, "too short a run for the flatness check (%zu samples after the warm-up)", n - w);
  if (rhalf > r0 && n > rhalf)
    HL_ASSERT_MSG(rssc2 <= rssc1 * 1.10 + 4096, "RSS grew: max %ld KiB, then %ld KiB", rssc1, rssc2);
  else
    HL_SKIP_PART("RSS not compared: SQLite's page cache (%ld KiB) was still filling (the database %ld KiB at the end)",
                 PAGE_CACHE_KB, n ? s[n - 1].db_kb : -1L);
  HL_ASSERT_MSG(fd2 <= fd1 + 16, "fds grew: max %d, then %d", fd1, fd2);
  HL_ASSERT_MSG(lag2 <= 3 * lag1 + 20, "/healthz got slower: median %.1f ms, then %.1f ms", lag1, lag2);

  int st = e2e_stop_hookloop(&hk, SIGTERM, 60000);
  HL_ASSERT_MSG(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "hookloop did not exit cleanly (%d)", st);
  for (int i = 0; i < NSUBS; i++) e2e_stop_partner(&partners[i]);
  hl_rmtree(hk.dir);
  free(hk.dir);
  free(s);
  free(m1);
  free(m2);
}

/* Registered by hand: the runner's timeout follows SOAK_SECONDS (plus the
 * drain and the start). */
__attribute__((constructor)) static void register_soak(void) { hl_test_register("soak", soak, soak_seconds() + 1200); }
