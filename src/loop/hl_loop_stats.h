/* hl_loop_stats.h — how long each turn of the loop keeps it busy.
 *
 * Everything in a process runs on one loop, so a callback that runs long
 * delays every socket, timer and request behind it. This measures, for
 * each turn, the time the loop spent running callbacks (its timers, its
 * I/O, its checks and closes), not the time it waited for the kernel:
 * libuv counts the time spent waiting in the event provider
 * (UV_METRICS_IDLE_TIME), and a turn's busy time is the time between two
 * of its prepare phases (the last step before it waits) less the wait
 * between them. It is wall time: a callback the kernel preempts counts
 * the pause, as every request behind it waits through it too, while the
 * wait to be scheduled once the kernel has woken the loop counts as idle.
 *
 * The figures are a histogram of turns by busy time, their sum (whose rate
 * is the loop's utilisation, 0 to 1) and the longest turn seen: the
 * operator's check that no input stalls the loop for more than a few
 * milliseconds. Cost: a clock read per turn, and with the idle-time option
 * libuv asks the kernel once more, without waiting, on a turn where nothing
 * was ready.
 *
 * Ownership: the struct is the caller's (embedded in its owner); it holds
 * one uv_prepare_t, unreferenced, so it never keeps the loop alive.
 * _init, then _start; _close before uv_loop_close.
 */
#ifndef HL_LOOP_STATS_H
#define HL_LOOP_STATS_H

#include <stdint.h>
#include <uv.h>

#include "common/hl_buf.h"

/* Upper bounds of the histogram's buckets, in seconds; a last one, +Inf,
 * is implicit. */
#define HL_LOOP_STATS_BUCKETS 10

typedef struct {
  uv_loop_t *loop;
  uv_prepare_t prepare;
  uint64_t last_ns;      /* uv_hrtime() at the previous prepare phase; 0 before the first */
  uint64_t last_idle_ns; /* uv_metrics_idle_time() then */
  uint64_t turns;
  uint64_t buckets[HL_LOOP_STATS_BUCKETS]; /* turns by busy time, not cumulative */
  uint64_t busy_ns;      /* the sum of every turn's busy time */
  uint64_t max_ns;       /* the longest turn */
  void (*close_cb)(void *data);
  void *close_data;
} hl_loop_stats;

/* Sets up the handle and turns the loop's idle-time accounting on
 * (uv_loop_configure). Returns 0, or that call's libuv error: the handle is
 * set up either way (to be closed), but without the accounting a turn's
 * wait would count as busy, so do not start it then. */
int hl_loop_stats_init(hl_loop_stats *st, uv_loop_t *loop);
/* Counts from the next turn on. */
void hl_loop_stats_start(hl_loop_stats *st);
void hl_loop_stats_stop(hl_loop_stats *st);
/* Closes the handle; cb(data) runs once it is closed (cb may be NULL).
 * The figures stay readable until the struct goes. */
void hl_loop_stats_close(hl_loop_stats *st, void (*cb)(void *data), void *data);

/* Bucket i's upper bound in seconds (i < HL_LOOP_STATS_BUCKETS). */
double hl_loop_stats_bound(int i);
/* hookloop_loop_turn_seconds (histogram), hookloop_loop_busy_seconds_total
 * and hookloop_loop_turn_max_seconds, as Prometheus text. */
void hl_loop_stats_render_prometheus(const hl_loop_stats *st, hl_buf *out);

#endif
