/* hl_aimd.h — adaptive concurrency for one destination host: AIMD on how
 * many attempts may run at once.
 *
 * Pure: no loop, no registry; the caller passes the clock (ms, monotonic)
 * and says how each attempt went, so tests drive it with a fake clock.
 *
 *   start       the limit starts at min(4, ceiling) and grows by one for
 *               every 2xx (doubling per round trip: slow start) until the
 *               first cut; after it, by 1/limit per 2xx (one per round trip);
 *   increase    only on a 2xx whose smoothed latency is within
 *               latency_factor x the baseline (a slow average of 2xx
 *               latencies);
 *   cut         limit x 0.5 (at least 1) on a 429 or 503, a timeout, or a
 *               2xx whose smoothed latency went over latency_factor x the
 *               baseline and 10 ms over it (the partner is queueing). Once per round: an
 *               answer to an attempt that started before the last cut does
 *               not cut again (the requests already out all answer alike);
 *   Retry-After on a 429/503 pauses every start until then;
 *   ceiling     the limit never goes over it (the largest max_in_flight of
 *               the host's subscriptions).
 */
#ifndef HL_AIMD_H
#define HL_AIMD_H

#include <stdbool.h>
#include <stdint.h>

typedef enum {
  HL_AIMD_OK,        /* 2xx */
  HL_AIMD_OVERLOAD,  /* 429 or 503: the partner says it has too much */
  HL_AIMD_TIMEOUT,   /* no answer within the timeout */
  HL_AIMD_OTHER      /* any other outcome: says nothing about load */
} hl_aimd_signal;

typedef struct {
  double limit;          /* in [1, ceiling]; hl_aimd_limit rounds it down */
  unsigned ceiling;
  double latency_factor; /* smoothed latency over this x baseline is a cut */
  double baseline_ms;    /* slow average of 2xx latencies; 0: none yet */
  double recent_ms;      /* fast average of 2xx latencies */
  bool slow_start;       /* no cut yet */
  uint64_t started;      /* attempts started (their sequence numbers) */
  uint64_t cut_seq;      /* the last attempt started when the last cut was made */
  uint64_t paused_until; /* Retry-After: no start before then */
  uint64_t cuts, raises; /* how often the limit went down, and up by a whole one */
} hl_aimd;

void hl_aimd_init(hl_aimd *a, unsigned ceiling, double latency_factor);
/* A new ceiling (the host's subscriptions changed); the limit is held under it. */
void hl_aimd_set_ceiling(hl_aimd *a, unsigned ceiling);
/* How many attempts may run now (>= 1). */
unsigned hl_aimd_limit(const hl_aimd *a);
/* Whether starts are paused (a Retry-After): true with the wait in *wait_ms. */
bool hl_aimd_paused(const hl_aimd *a, uint64_t now_ms, uint64_t *wait_ms);
/* An attempt starts: its sequence number, to give back to hl_aimd_done. */
uint64_t hl_aimd_start(hl_aimd *a);
/* The attempt numbered seq ended with sig after latency_ms; retry_after_ms
 * is the partner's Retry-After (0: none). */
void hl_aimd_done(hl_aimd *a, uint64_t now_ms, uint64_t seq, hl_aimd_signal sig, double latency_ms,
                  uint64_t retry_after_ms);

#endif
