#include "model/hl_gate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The one place the breaker changes state; illegal moves are bugs. */
static void transition(hl_gate *g, hl_gate_state to, uint64_t now) {
  static const unsigned allowed[] = {
    [HL_GATE_CLOSED] = 1u << HL_GATE_OPEN,
    [HL_GATE_OPEN] = 1u << HL_GATE_HALF_OPEN | 1u << HL_GATE_CLOSED, /* CLOSED: hl_gate_reset */
    [HL_GATE_HALF_OPEN] = 1u << HL_GATE_CLOSED | 1u << HL_GATE_OPEN,
  };
  if (!(allowed[g->state] & (1u << to))) {
    fprintf(stderr, "hl_gate: illegal breaker transition %d -> %d\n", (int)g->state, (int)to);
    abort();
  }
  g->state = to;
  g->probe = 0;
  g->failures = 0;
  /* Every state starts with an empty window: what opened it is not held
   * against the next closing. */
  memset(g->win_ok, 0, sizeof g->win_ok);
  memset(g->win_failed, 0, sizeof g->win_failed);
  if (to == HL_GATE_OPEN) g->opened_at = now;
}

void hl_gate_init(hl_gate *g, const hl_gate_config *cfg) {
  *g = (hl_gate){.cfg = *cfg, .state = HL_GATE_CLOSED};
}

void hl_gate_configure(hl_gate *g, const hl_gate_config *cfg) { g->cfg = *cfg; }

bool hl_gate_has_room(const hl_gate *g) { return g->cfg.max_in_flight == 0 || g->in_flight < g->cfg.max_in_flight; }

/* Token bucket: burst one second's worth; the first ask finds one token. */
static bool take_token(hl_gate *g, uint64_t now, uint64_t *wait_ms) {
  double rate = g->cfg.rate_per_s;
  if (rate <= 0) return true;
  if (!g->primed) g->tokens = 1.0;
  else g->tokens += (double)(now - g->tokens_at) * rate / 1000.0;
  g->primed = true;
  if (g->tokens > rate) g->tokens = rate;
  g->tokens_at = now;
  if (g->tokens >= 1.0) {
    g->tokens -= 1.0;
    return true;
  }
  *wait_ms = (uint64_t)((1.0 - g->tokens) * 1000.0 / rate) + 1;
  return false;
}

hl_gate_answer hl_gate_admit(hl_gate *g, uint64_t now, uint64_t *wait_ms) {
  if (!hl_gate_has_room(g)) return HL_GATE_FULL;
  if (g->state == HL_GATE_OPEN) {
    uint64_t until = g->opened_at + g->cfg.breaker_open_ms;
    if (now < until) {
      *wait_ms = until - now;
      return HL_GATE_WAIT;
    }
    transition(g, HL_GATE_HALF_OPEN, now);
  }
  if (g->state == HL_GATE_HALF_OPEN && g->probe) {
    *wait_ms = g->cfg.breaker_open_ms ? g->cfg.breaker_open_ms : 1;
    return HL_GATE_WAIT; /* one probe at a time; its outcome decides */
  }
  if (!take_token(g, now, wait_ms)) return HL_GATE_WAIT;
  if (g->state == HL_GATE_HALF_OPEN) {
    /* Numbered, so that a probe of an earlier half-open spell (one the
     * operator's reset overtook) is not taken for this one. */
    if (++g->probes == 0) g->probes = 1;
    g->probe = g->probes;
  }
  g->in_flight++;
  return HL_GATE_ADMIT;
}

uint32_t hl_gate_probe(const hl_gate *g) { return g->state == HL_GATE_HALF_OPEN ? g->probe : 0; }

void hl_gate_unadmit(hl_gate *g) {
  if (g->in_flight > 0) g->in_flight--;
  if (g->cfg.rate_per_s > 0) g->tokens += 1.0;
  if (g->state == HL_GATE_HALF_OPEN) g->probe = 0;
}

void hl_gate_reset(hl_gate *g, uint64_t now) {
  if (g->state != HL_GATE_CLOSED) transition(g, HL_GATE_CLOSED, now);
  g->failures = 0;
  g->streak = 0;
}

static bool rate_rule(const hl_gate *g) { return g->cfg.window_ms > 0 && g->cfg.window_failure_pct > 0; }

/* Moves the window to now: buckets older than the window are emptied. */
static void window_roll(hl_gate *g, uint64_t now) {
  uint64_t len = g->cfg.window_ms / HL_GATE_BUCKETS;
  if (len == 0) len = 1;
  uint64_t b = now / len;
  if (b <= g->win_bucket) return;
  uint64_t gone = b - g->win_bucket;
  if (gone > HL_GATE_BUCKETS) gone = HL_GATE_BUCKETS;
  for (uint64_t i = 1; i <= gone; i++) {
    size_t k = (size_t)((g->win_bucket + i) % HL_GATE_BUCKETS);
    g->win_ok[k] = g->win_failed[k] = 0;
  }
  g->win_bucket = b;
}

void hl_gate_window(hl_gate *g, uint64_t now, unsigned *attempts, unsigned *failed) {
  *attempts = *failed = 0;
  if (!rate_rule(g)) return;
  window_roll(g, now);
  for (size_t k = 0; k < HL_GATE_BUCKETS; k++) {
    *attempts += g->win_ok[k] + g->win_failed[k];
    *failed += g->win_failed[k];
  }
}

/* Counts a CLOSED outcome; true when the failed share now opens it. */
static bool window_trips(hl_gate *g, uint64_t now, bool failed) {
  if (!rate_rule(g)) return false;
  window_roll(g, now);
  size_t k = (size_t)(g->win_bucket % HL_GATE_BUCKETS);
  if (failed) g->win_failed[k]++;
  else g->win_ok[k]++;
  unsigned n = 0, f = 0;
  hl_gate_window(g, now, &n, &f);
  unsigned min = g->cfg.window_min_attempts ? g->cfg.window_min_attempts : 1;
  return failed && n >= min && (uint64_t)f * 100 >= (uint64_t)g->cfg.window_failure_pct * n;
}

const char *hl_gate_state_name(hl_gate_state s) {
  static const char *const names[] = {
    [HL_GATE_CLOSED] = "closed", [HL_GATE_OPEN] = "open", [HL_GATE_HALF_OPEN] = "half_open",
  };
  return names[s];
}

void hl_gate_done(hl_gate *g, uint64_t now, hl_gate_outcome outcome, uint32_t probe) {
  if (g->in_flight > 0) g->in_flight--;
  if (outcome == HL_GATE_OK) g->streak = 0;
  else if (outcome == HL_GATE_FAILED) g->streak++;
  /* HALF_OPEN hears the probe only: an attempt admitted before the breaker
   * opened (a slow one, or another subscription's at a shared host) says
   * nothing of how the destination is now, and must not decide for it. */
  bool the_probe = g->state == HL_GATE_HALF_OPEN && probe != 0 && probe == g->probe;
  if (g->cfg.breaker_failures == 0 || outcome == HL_GATE_NEUTRAL) {
    if (the_probe) g->probe = 0; /* the probe said nothing: another may go */
    return;
  }
  switch (g->state) {
  case HL_GATE_CLOSED: {
    bool failed = outcome == HL_GATE_FAILED;
    bool trips = window_trips(g, now, failed);
    if (!failed) g->failures = 0;
    else if (++g->failures >= g->cfg.breaker_failures || trips) transition(g, HL_GATE_OPEN, now);
    break;
  }
  case HL_GATE_HALF_OPEN:
    if (the_probe) transition(g, outcome == HL_GATE_OK ? HL_GATE_CLOSED : HL_GATE_OPEN, now);
    break;
  case HL_GATE_OPEN:
    break; /* admitted before it opened: the breaker already decided */
  }
}
