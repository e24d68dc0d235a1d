#include "model/hl_aimd.h"

#define START_LIMIT 4.0
#define CUT 0.5
#define BASELINE_ALPHA 0.05 /* slow: the partner's usual latency */
#define RECENT_ALPHA 0.3    /* fast: its latency now */
/* Latency must also rise by this much to count: on a fast link (a few ms)
 * jitter alone would pass the factor. */
#define LATENCY_SLACK_MS 10.0

void hl_aimd_init(hl_aimd *a, unsigned ceiling, double latency_factor) {
  *a = (hl_aimd){.ceiling = ceiling ? ceiling : 1, .latency_factor = latency_factor > 1.0 ? latency_factor : 2.0,
                 .slow_start = true};
  a->limit = START_LIMIT < a->ceiling ? START_LIMIT : a->ceiling;
}

void hl_aimd_set_ceiling(hl_aimd *a, unsigned ceiling) {
  a->ceiling = ceiling ? ceiling : 1;
  if (a->limit > a->ceiling) a->limit = a->ceiling;
}

unsigned hl_aimd_limit(const hl_aimd *a) { return a->limit < 1.0 ? 1u : (unsigned)a->limit; }

bool hl_aimd_paused(const hl_aimd *a, uint64_t now, uint64_t *wait_ms) {
  if (now >= a->paused_until) return false;
  *wait_ms = a->paused_until - now;
  return true;
}

uint64_t hl_aimd_start(hl_aimd *a) { return ++a->started; }

static void cut(hl_aimd *a, uint64_t seq) {
  if (seq <= a->cut_seq) return; /* started before the last cut: that round was answered already */
  a->limit *= CUT;
  if (a->limit < 1.0) a->limit = 1.0;
  a->cut_seq = a->started;
  a->slow_start = false;
  a->cuts++;
}

static void raise_limit(hl_aimd *a) {
  unsigned before = hl_aimd_limit(a);
  a->limit += a->slow_start ? 1.0 : 1.0 / a->limit;
  if (a->limit > a->ceiling) a->limit = a->ceiling;
  if (hl_aimd_limit(a) > before) a->raises++;
}

void hl_aimd_done(hl_aimd *a, uint64_t now, uint64_t seq, hl_aimd_signal sig, double latency_ms,
                  uint64_t retry_after_ms) {
  switch (sig) {
  case HL_AIMD_OVERLOAD:
    if (retry_after_ms && now + retry_after_ms > a->paused_until) a->paused_until = now + retry_after_ms;
    cut(a, seq);
    break;
  case HL_AIMD_TIMEOUT:
    cut(a, seq);
    break;
  case HL_AIMD_OK:
    if (a->baseline_ms <= 0) {
      a->baseline_ms = a->recent_ms = latency_ms > 0 ? latency_ms : 0.001;
      raise_limit(a);
      break;
    }
    a->recent_ms += RECENT_ALPHA * (latency_ms - a->recent_ms);
    if (a->recent_ms > a->latency_factor * a->baseline_ms && a->recent_ms > a->baseline_ms + LATENCY_SLACK_MS) {
      /* Queueing at the partner: back off, and let the baseline stay what
       * the partner does when it is not loaded. */
      cut(a, seq);
      break;
    }
    a->baseline_ms += BASELINE_ALPHA * (latency_ms - a->baseline_ms);
    raise_limit(a);
    break;
  case HL_AIMD_OTHER:
    break;
  }
}
