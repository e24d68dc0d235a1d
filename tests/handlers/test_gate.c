/* The admission gate (src/model/hl_gate.c) on a fake clock: in-flight cap,
 * token bucket, and the breaker's CLOSED -> OPEN -> HALF_OPEN -> CLOSED/OPEN. */
#include "hl_test.h"

#include "model/hl_gate.h"

HL_TEST(no_limits_admit_everything) {
  hl_gate g;
  hl_gate_init(&g, &(hl_gate_config){0});
  uint64_t wait = 0;
  for (int i = 0; i < 1000; i++) HL_ASSERT_EQ_INT(hl_gate_admit(&g, 5, &wait), HL_GATE_ADMIT);
  HL_ASSERT_EQ_INT(g.in_flight, 1000);
}

HL_TEST(the_in_flight_cap_admits_again_once_one_is_done) {
  hl_gate g;
  hl_gate_init(&g, &(hl_gate_config){.max_in_flight = 2});
  uint64_t wait = 0;
  HL_ASSERT_EQ_INT(hl_gate_admit(&g, 0, &wait), HL_GATE_ADMIT);
  HL_ASSERT_EQ_INT(hl_gate_admit(&g, 0, &wait), HL_GATE_ADMIT);
  HL_ASSERT(!hl_gate_has_room(&g));
  HL_ASSERT_EQ_INT(hl_gate_admit(&g, 0, &wait), HL_GATE_FULL);
  hl_gate_done(&g, 1, HL_GATE_OK, 0);
  HL_ASSERT_EQ_INT(hl_gate_admit(&g, 1, &wait), HL_GATE_ADMIT);
  HL_ASSERT_EQ_INT(hl_gate_admit(&g, 1, &wait), HL_GATE_FULL);
}

HL_TEST(the_token_bucket_starts_with_one_then_refills_at_the_rate_up_to_one_second) {
  hl_gate g;
  hl_gate_init(&g, &(hl_gate_config){.rate_per_s = 10});
  uint64_t wait = 0, now = 1000;
  HL_ASSERT_EQ_INT(hl_gate_admit(&g, now, &wait), HL_GATE_ADMIT);
  HL_ASSERT_EQ_INT(hl_gate_admit(&g, now, &wait), HL_GATE_WAIT);
  HL_ASSERT_EQ_INT((long)wait, 101); /* one token is 100 ms at 10/s, plus the rounding ms */
  now += 100;
  HL_ASSERT_EQ_INT(hl_gate_admit(&g, now, &wait), HL_GATE_ADMIT);
  /* A long pause refills at most one second's worth: 10, then a wait. */
  now += 60000;
  int admitted = 0;
  while (hl_gate_admit(&g, now, &wait) == HL_GATE_ADMIT) admitted++;
  HL_ASSERT_EQ_INT(admitted, 10);
}

static hl_gate breaker(void) {
  hl_gate g;
  hl_gate_init(&g, &(hl_gate_config){.breaker_failures = 3, .breaker_open_ms = 1000});
  return g;
}

/* Admitted and done at once: the probe when the breaker is half open. */
static void attempt(hl_gate *g, uint64_t now, hl_gate_outcome o) {
  uint64_t wait = 0;
  HL_ASSERT_EQ_INT(hl_gate_admit(g, now, &wait), HL_GATE_ADMIT);
  hl_gate_done(g, now, o, hl_gate_probe(g));
}

HL_TEST(the_breaker_opens_after_failures_in_a_row_only) {
  hl_gate g = breaker();
  attempt(&g, 0, HL_GATE_FAILED);
  attempt(&g, 0, HL_GATE_FAILED);
  attempt(&g, 0, HL_GATE_OK); /* the run is broken */
  attempt(&g, 0, HL_GATE_FAILED);
  attempt(&g, 0, HL_GATE_FAILED);
  attempt(&g, 0, HL_GATE_NEUTRAL); /* says nothing about the partner */
  HL_ASSERT_EQ_INT(g.state, HL_GATE_CLOSED);
  attempt(&g, 10, HL_GATE_FAILED);
  HL_ASSERT_EQ_INT(g.state, HL_GATE_OPEN);
  uint64_t wait = 0;
  HL_ASSERT_EQ_INT(hl_gate_admit(&g, 500, &wait), HL_GATE_WAIT);
  HL_ASSERT_EQ_INT((long)wait, 510);
}

HL_TEST(half_open_lets_one_probe_through_and_its_outcome_decides) {
  hl_gate g = breaker();
  for (int i = 0; i < 3; i++) attempt(&g, 0, HL_GATE_FAILED);
  HL_ASSERT_EQ_INT(g.state, HL_GATE_OPEN);
  uint64_t wait = 0;
  HL_ASSERT_EQ_INT(hl_gate_admit(&g, 1000, &wait), HL_GATE_ADMIT); /* the probe */
  HL_ASSERT_EQ_INT(g.state, HL_GATE_HALF_OPEN);
  uint32_t probe = hl_gate_probe(&g);
  HL_ASSERT(probe != 0);
  HL_ASSERT_EQ_INT(hl_gate_admit(&g, 1000, &wait), HL_GATE_WAIT); /* one at a time */
  hl_gate_done(&g, 1001, HL_GATE_FAILED, probe);
  HL_ASSERT_EQ_INT(g.state, HL_GATE_OPEN); /* open again, for another period */
  HL_ASSERT_EQ_INT(hl_gate_admit(&g, 1500, &wait), HL_GATE_WAIT);
  HL_ASSERT_EQ_INT((long)wait, 501);
  HL_ASSERT_EQ_INT(hl_gate_admit(&g, 2001, &wait), HL_GATE_ADMIT);
  hl_gate_done(&g, 2002, HL_GATE_OK, hl_gate_probe(&g));
  HL_ASSERT_EQ_INT(g.state, HL_GATE_CLOSED);
  attempt(&g, 2003, HL_GATE_OK);
}

HL_TEST(without_a_threshold_the_breaker_never_opens) {
  hl_gate g;
  hl_gate_init(&g, &(hl_gate_config){.max_in_flight = 1});
  for (int i = 0; i < 100; i++) attempt(&g, (uint64_t)i, HL_GATE_FAILED);
  HL_ASSERT_EQ_INT(g.state, HL_GATE_CLOSED);
}

/* A subscription's gate admitted, its partner's refused: what was taken
 * goes back, so the refusal costs neither a slot, nor a token, nor the probe. */
HL_TEST(unadmit_gives_back_the_slot_the_token_and_the_probe) {
  hl_gate g;
  hl_gate_init(&g, &(hl_gate_config){.max_in_flight = 1, .rate_per_s = 1});
  uint64_t wait = 0;
  HL_ASSERT_EQ_INT(hl_gate_admit(&g, 1000, &wait), HL_GATE_ADMIT);
  HL_ASSERT_EQ_INT(hl_gate_admit(&g, 1000, &wait), HL_GATE_FULL);
  hl_gate_unadmit(&g);
  HL_ASSERT_EQ_INT(g.in_flight, 0);
  /* Same instant: the token came back too, so no wait. */
  HL_ASSERT_EQ_INT(hl_gate_admit(&g, 1000, &wait), HL_GATE_ADMIT);

  hl_gate b = breaker();
  for (int i = 0; i < 3; i++) attempt(&b, 0, HL_GATE_FAILED);
  HL_ASSERT_EQ_INT(hl_gate_admit(&b, 1000, &wait), HL_GATE_ADMIT); /* the probe */
  HL_ASSERT_EQ_INT(b.state, HL_GATE_HALF_OPEN);
  HL_ASSERT_EQ_INT(hl_gate_admit(&b, 1000, &wait), HL_GATE_WAIT);
  hl_gate_unadmit(&b);
  HL_ASSERT_EQ_INT(hl_gate_admit(&b, 1000, &wait), HL_GATE_ADMIT); /* a probe may go again */
}

/* The streak counts failures in a row whatever the breaker does (a failed
 * probe too), a neutral outcome does not break it, a success does; reset
 * closes an open breaker and forgets the streak. */
HL_TEST(the_streak_counts_failures_in_a_row_and_reset_closes_the_breaker) {
  hl_gate g = breaker();
  for (int i = 0; i < 3; i++) attempt(&g, 0, HL_GATE_FAILED);
  HL_ASSERT_EQ_INT(g.state, HL_GATE_OPEN);
  attempt(&g, 1000, HL_GATE_FAILED); /* the probe */
  HL_ASSERT_EQ_INT(g.streak, 4);
  attempt(&g, 2000, HL_GATE_NEUTRAL);
  HL_ASSERT_EQ_INT(g.streak, 4);
  HL_ASSERT_EQ_INT(g.state, HL_GATE_HALF_OPEN);
  uint64_t wait = 0;
  hl_gate_reset(&g, 2000);
  HL_ASSERT_EQ_INT(g.state, HL_GATE_CLOSED);
  HL_ASSERT_EQ_INT(g.streak, 0);
  HL_ASSERT_EQ_INT(hl_gate_admit(&g, 2000, &wait), HL_GATE_ADMIT);
  hl_gate_done(&g, 2000, HL_GATE_FAILED, 0);
  attempt(&g, 2000, HL_GATE_OK);
  HL_ASSERT_EQ_INT(g.streak, 0);
  /* From OPEN too. */
  for (int i = 0; i < 3; i++) attempt(&g, 3000, HL_GATE_FAILED);
  HL_ASSERT_EQ_INT(g.state, HL_GATE_OPEN);
  hl_gate_reset(&g, 3000);
  HL_ASSERT_EQ_INT(hl_gate_admit(&g, 3000, &wait), HL_GATE_ADMIT);
}

/* The rate rule: 50 % of at least 20 outcomes in 30 s. Failures that never
 * come 100 in a row (one success in every two) open it once 20 outcomes are
 * in the window; fewer outcomes, or a lower share, never do. */
static hl_gate rate_breaker(void) {
  hl_gate g;
  hl_gate_init(&g, &(hl_gate_config){.breaker_failures = 100, .breaker_open_ms = 1000, .window_ms = 30000,
                                     .window_min_attempts = 20, .window_failure_pct = 50});
  return g;
}

HL_TEST(the_rate_rule_opens_on_half_failed_of_twenty_in_the_window) {
  hl_gate g = rate_breaker();
  uint64_t now = 100000;
  for (int i = 0; i < 9; i++) {
    attempt(&g, now, HL_GATE_OK);
    attempt(&g, now, HL_GATE_FAILED);
  }
  attempt(&g, now, HL_GATE_OK);
  unsigned n = 0, f = 0;
  hl_gate_window(&g, now, &n, &f);
  HL_ASSERT_EQ_INT(n, 19);
  HL_ASSERT_EQ_INT(f, 9);
  HL_ASSERT_EQ_INT(g.state, HL_GATE_CLOSED);
  attempt(&g, now, HL_GATE_FAILED); /* 10 of 20 */
  HL_ASSERT_EQ_INT(g.state, HL_GATE_OPEN);
  hl_gate_window(&g, now, &n, &f);
  HL_ASSERT_EQ_INT(n, 0); /* it starts afresh */
  /* The probe after the cool-down closes it; the window is empty again. */
  attempt(&g, now + 1000, HL_GATE_OK);
  HL_ASSERT_EQ_INT(g.state, HL_GATE_CLOSED);
}

HL_TEST(the_rate_rule_forgets_outcomes_older_than_the_window) {
  hl_gate g = rate_breaker();
  uint64_t now = 100000;
  for (int i = 0; i < 15; i++) attempt(&g, now, HL_GATE_FAILED); /* 15 failed, under 100 in a row */
  HL_ASSERT_EQ_INT(g.state, HL_GATE_CLOSED);                   /* under 20 outcomes */
  now += 31000; /* they left the window */
  for (int i = 0; i < 12; i++) attempt(&g, now, HL_GATE_OK);
  for (int i = 0; i < 7; i++) attempt(&g, now, HL_GATE_FAILED);
  unsigned n = 0, f = 0;
  hl_gate_window(&g, now, &n, &f);
  HL_ASSERT_EQ_INT(n, 19);
  HL_ASSERT_EQ_INT(f, 7);
  attempt(&g, now, HL_GATE_FAILED); /* 8 of 20: 40 % */
  HL_ASSERT_EQ_INT(g.state, HL_GATE_CLOSED);
  /* Without the rule (pct 0) the same outcomes never open it. */
  hl_gate h;
  hl_gate_init(&h, &(hl_gate_config){.breaker_failures = 100, .breaker_open_ms = 1000, .window_ms = 30000,
                                     .window_min_attempts = 20});
  for (int i = 0; i < 60; i++) attempt(&h, now, i % 3 ? HL_GATE_FAILED : HL_GATE_OK);
  HL_ASSERT_EQ_INT(h.state, HL_GATE_CLOSED);
}

/* README: after the open period one probe goes out, "success closes it,
 * failure opens it again". An attempt admitted before the breaker opened
 * (slower than the open period, or another subscription's at a shared
 * host) may end while the probe is out: it only gives its slot back. */
HL_TEST(a_probe_that_succeeds_closes_the_breaker_whatever_older_attempts_said) {
  hl_gate g = breaker();
  uint64_t wait = 0;
  HL_ASSERT_EQ_INT(hl_gate_admit(&g, 0, &wait), HL_GATE_ADMIT); /* a slow one, admitted while CLOSED */
  uint32_t slow = hl_gate_probe(&g);
  HL_ASSERT_EQ_INT(slow, 0);
  for (int i = 0; i < 3; i++) attempt(&g, 0, HL_GATE_FAILED);
  HL_ASSERT_EQ_INT(g.state, HL_GATE_OPEN);
  HL_ASSERT_EQ_INT(hl_gate_admit(&g, 1000, &wait), HL_GATE_ADMIT); /* the probe */
  uint32_t probe = hl_gate_probe(&g);
  hl_gate_done(&g, 1100, HL_GATE_FAILED, slow); /* the slow one times out */
  HL_ASSERT_EQ_INT(g.state, HL_GATE_HALF_OPEN);
  HL_ASSERT_EQ_INT(g.in_flight, 1);
  hl_gate_done(&g, 1200, HL_GATE_OK, probe);
  HL_ASSERT_EQ_INT(g.state, HL_GATE_CLOSED);
  HL_ASSERT_EQ_INT(hl_gate_admit(&g, 1300, &wait), HL_GATE_ADMIT);
}

/* The other way round: an older attempt's success does not close it (the
 * probe's failure opens it again), nor does its neutral outcome let a
 * second probe out beside the first. */
HL_TEST(only_the_probe_decides_a_half_open_breaker) {
  hl_gate g = breaker();
  uint64_t wait = 0;
  HL_ASSERT_EQ_INT(hl_gate_admit(&g, 0, &wait), HL_GATE_ADMIT);
  HL_ASSERT_EQ_INT(hl_gate_admit(&g, 0, &wait), HL_GATE_ADMIT);
  for (int i = 0; i < 3; i++) attempt(&g, 0, HL_GATE_FAILED);
  HL_ASSERT_EQ_INT(hl_gate_admit(&g, 1000, &wait), HL_GATE_ADMIT); /* the probe */
  uint32_t probe = hl_gate_probe(&g);
  hl_gate_done(&g, 1100, HL_GATE_OK, 0);
  HL_ASSERT_EQ_INT(g.state, HL_GATE_HALF_OPEN);
  hl_gate_done(&g, 1100, HL_GATE_NEUTRAL, 0);
  HL_ASSERT_EQ_INT(hl_gate_admit(&g, 1100, &wait), HL_GATE_WAIT); /* still one at a time */
  hl_gate_done(&g, 1200, HL_GATE_FAILED, probe);
  HL_ASSERT_EQ_INT(g.state, HL_GATE_OPEN);
  HL_ASSERT_EQ_INT(g.in_flight, 0);
}

/* A probe that was out when an operator's reset closed the breaker, ending
 * once the breaker opened again and sent its next probe, is not that one. */
HL_TEST(a_probe_from_before_a_reset_does_not_decide_for_the_next_one) {
  hl_gate g = breaker();
  uint64_t wait = 0;
  for (int i = 0; i < 3; i++) attempt(&g, 0, HL_GATE_FAILED);
  HL_ASSERT_EQ_INT(hl_gate_admit(&g, 1000, &wait), HL_GATE_ADMIT);
  uint32_t old = hl_gate_probe(&g);
  hl_gate_reset(&g, 1000);
  for (int i = 0; i < 3; i++) attempt(&g, 1000, HL_GATE_FAILED);
  HL_ASSERT_EQ_INT(hl_gate_admit(&g, 2000, &wait), HL_GATE_ADMIT);
  uint32_t probe = hl_gate_probe(&g);
  HL_ASSERT(probe != old);
  hl_gate_done(&g, 2100, HL_GATE_OK, old);
  HL_ASSERT_EQ_INT(g.state, HL_GATE_HALF_OPEN);
  hl_gate_done(&g, 2200, HL_GATE_OK, probe);
  HL_ASSERT_EQ_INT(g.state, HL_GATE_CLOSED);
}
