/* hl_outcome_log.h — the log lines of delivery attempts.
 *
 * At `info` a line per attempt was a measurable share of a delivery's CPU
 * (formatting, escaping, the write), and at thousands of deliveries a
 * second it is more than an operator reads. So:
 *   - an attempt that failed (retry or failed for good) still gets its own
 *     line, "delivery attempt", at info (retry) or warn (failed), as before;
 *   - a successful (or duplicate) attempt gets its own line at debug only;
 *   - at info, each subscription with attempts gets one "deliveries" line per
 *     interval (1 s in service) with its counts: by outcome, by HTTP status,
 *     and the requests' mean and longest latency.
 * At warn and above nothing is counted. Loop thread only. */
#ifndef HL_OUTCOME_LOG_H
#define HL_OUTCOME_LOG_H

#include "common/hl_strmap.h"
#include "handlers/hl_dispatch.h"

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#define HL_OUTCOME_LOG_INTERVAL_MS 1000
#define HL_OUTCOME_LOG_STATUSES 6 /* distinct status codes counted apart per line; the rest in "other" */

typedef struct hl_outcome_counts hl_outcome_counts;

typedef struct hl_outcome_log {
  uv_timer_t timer;           /* unreferenced: a pending summary keeps no loop alive */
  uint64_t interval_ms;
  hl_strmap by_sub;           /* subscription id -> hl_outcome_counts (owned) */
  hl_outcome_counts *list;    /* the same entries, in first-seen order */
  hl_outcome_counts **tail;
  int64_t window_start_ms;    /* wall clock, when the first attempt of the window was counted */
  bool armed;
  bool started;
  void *data;                 /* the caller's (hl_outcome_log_close's cb finds it here) */
} hl_outcome_log;

/* interval_ms: 0 means HL_OUTCOME_LOG_INTERVAL_MS. */
void hl_outcome_log_init(hl_outcome_log *l, uv_loop_t *loop, uint64_t interval_ms);
/* One attempt's outcome (info as the dispatcher reports it; trace may be
 * NULL): logged by the rules above. */
void hl_outcome_log_attempt(hl_outcome_log *l, const hl_outcome_info *info, const char *trace);
/* Writes the summary lines of the window so far, and starts a new one. */
void hl_outcome_log_flush(hl_outcome_log *l);
/* Flushes, frees the counts and closes the timer; cb(handle) runs once it
 * is closed: the log is hl_container_of(handle, hl_outcome_log, timer). */
void hl_outcome_log_close(hl_outcome_log *l, uv_close_cb cb);

#endif
