/* hl_loop_stats: a long callback is one long turn; waiting is not busy. */
#include "hl_test.h"
#include "loop/hl_loop_stats.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define MS 1000000ull

static void spin(uint64_t ns) {
  uint64_t end = uv_hrtime() + ns;
  while (uv_hrtime() < end) {}
}

typedef struct {
  hl_loop_stats st;
  uv_timer_t busy, tick, quit;
  uint64_t spin_ns;
  bool stop_around; /* the busy callback stops the stats around its spin */
  int closed;
} fixture;

static void set_closed(void *data) { *(int *)data = 1; }

static void on_busy(uv_timer_t *t) {
  fixture *f = t->data;
  if (f->stop_around) hl_loop_stats_stop(&f->st);
  spin(f->spin_ns);
  if (f->stop_around) hl_loop_stats_start(&f->st);
}

static void on_tick(uv_timer_t *t) { (void)t; }

static void on_quit(uv_timer_t *t) {
  fixture *f = t->data;
  uv_close((uv_handle_t *)&f->busy, NULL);
  uv_close((uv_handle_t *)&f->tick, NULL);
  uv_close((uv_handle_t *)&f->quit, NULL);
  hl_loop_stats_close(&f->st, set_closed, &f->closed);
}

/* Runs a loop where, 10 ms in (after the first turn, which only sets the
 * baseline), one callback spins for spin_ns; the loop then waits idle
 * until a callback that does nothing at 250 ms, whose turn ends that wait,
 * and closes everything at 300 ms. Returns the run's wall time in ns. */
static uint64_t run(fixture *f, uint64_t spin_ns, bool stop_around) {
  uv_loop_t loop;
  HL_ASSERT_EQ_INT(uv_loop_init(&loop), 0);
  memset(f, 0, sizeof *f);
  f->spin_ns = spin_ns;
  f->stop_around = stop_around;
  HL_ASSERT_EQ_INT(hl_loop_stats_init(&f->st, &loop), 0);
  hl_loop_stats_start(&f->st);
  uv_timer_init(&loop, &f->busy);
  uv_timer_init(&loop, &f->tick);
  uv_timer_init(&loop, &f->quit);
  f->busy.data = f->tick.data = f->quit.data = f;
  uv_timer_start(&f->busy, on_busy, 10, 0);
  uv_timer_start(&f->tick, on_tick, 250, 0);
  uv_timer_start(&f->quit, on_quit, 300, 0);
  uint64_t t0 = uv_hrtime();
  uv_run(&loop, UV_RUN_DEFAULT);
  uint64_t wall = uv_hrtime() - t0;
  HL_ASSERT_EQ_INT(f->closed, 1);
  HL_ASSERT_EQ_INT(uv_loop_close(&loop), 0);
  return wall;
}

/* Turns above the bucket whose bound is `bound_s`. */
static uint64_t turns_above(const hl_loop_stats *st, double bound_s) {
  uint64_t under = 0;
  for (int i = 0; i < HL_LOOP_STATS_BUCKETS && hl_loop_stats_bound(i) <= bound_s; i++) under += st->buckets[i];
  return st->turns - under;
}

HL_TEST(a_long_callback_is_one_long_turn_and_the_wait_is_not_counted) {
  fixture f;
  uint64_t wall = run(&f, 30 * MS, false);
  const hl_loop_stats *st = &f.st;
  HL_ASSERT_MSG(st->max_ns >= 30 * MS, "longest turn %llu ns", (unsigned long long)st->max_ns);
  HL_ASSERT_MSG(turns_above(st, 0.025) >= 1, "%llu turns, none above 25 ms", (unsigned long long)st->turns);
  HL_ASSERT(st->busy_ns >= 30 * MS);
  /* The turns measured span 250 ms, ~220 of them waiting: counted as
   * busy, the wait would bring the sum to ~250 ms. */
  HL_ASSERT_MSG(st->busy_ns < 130 * MS, "busy %llu ns of a %llu ns run", (unsigned long long)st->busy_ns,
                (unsigned long long)wall);
  HL_ASSERT(st->turns >= 2);

  /* The Prometheus text: cumulative buckets up to +Inf, which is the
   * count of turns; the long turn above the 25 ms bucket. */
  hl_buf b = HL_BUF_INIT;
  hl_loop_stats_render_prometheus(st, &b);
  const char *txt = b.data;
  HL_ASSERT(strstr(txt, "# TYPE hookloop_loop_turn_seconds histogram\n") != NULL);
  unsigned long long prev = 0, at25 = 0;
  for (int i = 0; i < HL_LOOP_STATS_BUCKETS; i++) {
    char key[96];
    snprintf(key, sizeof key, "hookloop_loop_turn_seconds_bucket{le=\"%g\"} ", hl_loop_stats_bound(i));
    const char *p = strstr(txt, key);
    HL_ASSERT_MSG(p != NULL, "no %s", key);
    unsigned long long v = strtoull(p + strlen(key), NULL, 10);
    HL_ASSERT(v >= prev);
    prev = v;
    if (hl_loop_stats_bound(i) == 0.025) at25 = v;
  }
  HL_ASSERT(prev <= st->turns);
  HL_ASSERT_MSG(at25 < st->turns, "%llu of %llu turns at 25 ms or less", at25, (unsigned long long)st->turns);
  char want[128];
  snprintf(want, sizeof want, "hookloop_loop_turn_seconds_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)st->turns);
  HL_ASSERT(strstr(txt, want) != NULL);
  snprintf(want, sizeof want, "hookloop_loop_turn_seconds_count %llu\n", (unsigned long long)st->turns);
  HL_ASSERT(strstr(txt, want) != NULL);
  const char *mx = strstr(txt, "\nhookloop_loop_turn_max_seconds ");
  HL_ASSERT(mx && strtod(mx + strlen("\nhookloop_loop_turn_max_seconds "), NULL) >= 0.030);
  const char *busy = strstr(txt, "\nhookloop_loop_busy_seconds_total ");
  HL_ASSERT(busy && strtod(busy + strlen("\nhookloop_loop_busy_seconds_total "), NULL) >= 0.030);
  hl_buf_dispose(&b);
}

HL_TEST(the_time_between_a_stop_and_a_start_is_not_a_turn) {
  fixture f;
  run(&f, 200 * MS, true);
  HL_ASSERT_MSG(f.st.max_ns < 150 * MS, "longest turn %llu ns", (unsigned long long)f.st.max_ns);
  HL_ASSERT(f.st.turns >= 1);
}
