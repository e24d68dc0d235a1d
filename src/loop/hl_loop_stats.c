/* hl_loop_stats.c — busy time per loop turn (hl_loop_stats.h). */
#include "loop/hl_loop_stats.h"

#include <string.h>

#include "common/hl_prom.h"

/* From half a millisecond, where a turn that serves a few hundred
 * deliveries lies, to a second, which no turn should come near. */
static const double bounds[HL_LOOP_STATS_BUCKETS] = {0.0005, 0.001, 0.002, 0.005, 0.01,
                                                     0.025,  0.05,  0.1,   0.25,  1.0};

double hl_loop_stats_bound(int i) { return bounds[i]; }

static void record(hl_loop_stats *st, uint64_t busy_ns) {
  st->turns++;
  st->busy_ns += busy_ns;
  if (busy_ns > st->max_ns) st->max_ns = busy_ns;
  for (int i = 0; i < HL_LOOP_STATS_BUCKETS; i++)
    if ((double)busy_ns <= bounds[i] * 1e9) {
      st->buckets[i]++;
      return;
    }
  /* Above the last bound: in +Inf only, which is `turns`. */
}

/* The prepare phase is the last thing a turn does before it waits for I/O:
 * from one to the next is one whole turn, its wait included. */
static void on_prepare(uv_prepare_t *h) {
  hl_loop_stats *st = h->data;
  uint64_t now = uv_hrtime(), idle = uv_metrics_idle_time(st->loop);
  if (st->last_ns != 0) {
    uint64_t wall = now - st->last_ns, waited = idle - st->last_idle_ns;
    record(st, wall > waited ? wall - waited : 0);
  }
  st->last_ns = now;
  st->last_idle_ns = idle;
}

int hl_loop_stats_init(hl_loop_stats *st, uv_loop_t *loop) {
  memset(st, 0, sizeof *st);
  st->loop = loop;
  uv_prepare_init(loop, &st->prepare); /* cannot fail on Unix */
  st->prepare.data = st;
  uv_unref((uv_handle_t *)&st->prepare);
  return uv_loop_configure(loop, UV_METRICS_IDLE_TIME);
}

void hl_loop_stats_start(hl_loop_stats *st) {
  st->last_ns = 0; /* the time since a stop is not a turn */
  uv_prepare_start(&st->prepare, on_prepare);
}

void hl_loop_stats_stop(hl_loop_stats *st) { uv_prepare_stop(&st->prepare); }

static void on_closed(uv_handle_t *h) {
  hl_loop_stats *st = h->data;
  if (st->close_cb) st->close_cb(st->close_data);
}

void hl_loop_stats_close(hl_loop_stats *st, void (*cb)(void *data), void *data) {
  st->close_cb = cb;
  st->close_data = data;
  uv_close((uv_handle_t *)&st->prepare, on_closed);
}

void hl_loop_stats_render_prometheus(const hl_loop_stats *st, hl_buf *o) {
  hl_prom_histogram(o, "hookloop_loop_turn_seconds",
                    "Time each turn of the event loop spent running callbacks (its wait for I/O left out).", bounds,
                    st->buckets, HL_LOOP_STATS_BUCKETS, st->turns, (double)st->busy_ns / 1e9);
  hl_buf_printf(o,
                "# HELP hookloop_loop_busy_seconds_total Time the event loop spent running callbacks; its rate is "
                "the loop's utilisation (0 to 1).\n"
                "# TYPE hookloop_loop_busy_seconds_total counter\nhookloop_loop_busy_seconds_total %.6f\n",
                (double)st->busy_ns / 1e9);
  hl_buf_printf(o,
                "# HELP hookloop_loop_turn_max_seconds The longest turn of the event loop since the start.\n"
                "# TYPE hookloop_loop_turn_max_seconds gauge\nhookloop_loop_turn_max_seconds %.6f\n",
                (double)st->max_ns / 1e9);
}
