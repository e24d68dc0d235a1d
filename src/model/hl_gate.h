/* hl_gate.h — the admission gate of one destination: asked before each
 * send, told each outcome.
 *
 * Pure: no loop, no registry; the caller passes the clock (ms, monotonic),
 * so tests drive it with a fake one. Three checks, in this order:
 *   in flight   at most max_in_flight attempts running (0: no cap);
 *   breaker     CLOSED -> OPEN after breaker_failures failures in a row;
 *               or, besides, once at least window_min_attempts outcomes
 *               fell in the last window_ms and window_failure_pct % of
 *               them failed (the rate rule; 0 pct: off);
 *               OPEN -> HALF_OPEN once breaker_open_ms passed; HALF_OPEN
 *               lets one probe through: success CLOSED, failure OPEN again
 *               (only the probe's outcome: an attempt admitted before
 *               it opened only gives its slot back).
 *               breaker_failures 0 (the default) disables it, rate rule
 *               included; an
 *               operator's reset closes it from any state;
 *   rate        a token bucket of rate_per_s tokens a second, burst one
 *               second's worth (0: no limit).
 * A subscription holds one (hl_sub.gate, kept across an update in place:
 * model/hl_registry.h); a partner-level gate shared by a partner's
 * subscriptions is the same type.
 */
#ifndef HL_GATE_H
#define HL_GATE_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
  unsigned max_in_flight;     /* 0: no cap */
  double rate_per_s;          /* 0: no rate limit */
  unsigned breaker_failures;  /* failures in a row that open the breaker; 0: no breaker */
  uint64_t breaker_open_ms;   /* how long it stays open before one probe */
  /* The rate rule (with breaker_failures > 0): open on a failure rate. */
  uint64_t window_ms;          /* the window the rate is taken over; 0: no rate rule */
  unsigned window_min_attempts;/* fewer outcomes than this in the window never open it */
  unsigned window_failure_pct; /* 1..100: the failed share that opens it; 0: no rate rule */
} hl_gate_config;

/* The window is kept as this many buckets of window_ms / HL_GATE_BUCKETS:
 * bounded memory, a rate over the last window to a bucket's precision. */
#define HL_GATE_BUCKETS 10

typedef enum { HL_GATE_CLOSED, HL_GATE_OPEN, HL_GATE_HALF_OPEN } hl_gate_state;

typedef struct {
  hl_gate_config cfg;
  unsigned in_flight;
  double tokens;
  uint64_t tokens_at;
  bool primed;                /* the bucket was filled once */
  hl_gate_state state;
  unsigned failures;          /* in a row, while CLOSED */
  uint64_t opened_at;
  uint32_t probe;             /* HALF_OPEN: the number of the probe out (0: none) */
  uint32_t probes;            /* probes numbered so far */
  unsigned streak;            /* failed outcomes in a row, in any state (auto-disable counts these) */
  uint32_t win_ok[HL_GATE_BUCKETS], win_failed[HL_GATE_BUCKETS]; /* outcomes per bucket, while CLOSED */
  uint64_t win_bucket;        /* the number (now / bucket length) of the newest bucket */
} hl_gate;

typedef enum {
  HL_GATE_ADMIT,   /* go: one in-flight slot (and one token) taken */
  HL_GATE_FULL,    /* max_in_flight running: ask again when one is done */
  HL_GATE_WAIT     /* the rate or the breaker: ask again in *wait_ms */
} hl_gate_answer;

/* What became of an admitted attempt. NEUTRAL: it says nothing about the
 * destination (not sent: a duplicate, a shutdown, an unusable secret). */
typedef enum { HL_GATE_OK, HL_GATE_FAILED, HL_GATE_NEUTRAL } hl_gate_outcome;

void hl_gate_init(hl_gate *g, const hl_gate_config *cfg);
/* New limits (a subscription changed), keeping what runs and the breaker. */
void hl_gate_configure(hl_gate *g, const hl_gate_config *cfg);
/* Whether an in-flight slot is free (the cheap check before admit). */
bool hl_gate_has_room(const hl_gate *g);
hl_gate_answer hl_gate_admit(hl_gate *g, uint64_t now_ms, uint64_t *wait_ms);
/* Right after an ADMIT: the number of the probe it let through, 0 when
 * the attempt is not the breaker's probe; hl_gate_done wants it back. */
uint32_t hl_gate_probe(const hl_gate *g);
/* Gives back what the last ADMIT took (the slot, the token, the probe):
 * the attempt did not start after all, because another gate it must also
 * pass (its partner's) refused it. */
void hl_gate_unadmit(hl_gate *g);
/* The breaker closed again and the streak forgotten (an operator enabled
 * the destination again); what runs is kept. */
void hl_gate_reset(hl_gate *g, uint64_t now_ms);
/* An admitted attempt ended; probe: what hl_gate_probe said when it was
 * admitted. */
void hl_gate_done(hl_gate *g, uint64_t now_ms, hl_gate_outcome outcome, uint32_t probe);
/* The outcomes counted in the window now (the rate rule's figures; 0, 0
 * without one, and after the breaker opened: it starts afresh). */
void hl_gate_window(hl_gate *g, uint64_t now_ms, unsigned *attempts, unsigned *failed);
/* "closed", "open", "half_open". */
const char *hl_gate_state_name(hl_gate_state s);

#endif
