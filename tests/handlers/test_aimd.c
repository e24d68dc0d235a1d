/* Adaptive concurrency (src/model/hl_aimd.c) on a fake clock: slow start,
 * one cut per round on 429/503 and timeouts, additive increase after,
 * rising latency, Retry-After, the ceiling. */
#include "hl_test.h"

#include "model/hl_aimd.h"

/* A round: every attempt the limit allows starts, then all answer sig. */
static void round_of(hl_aimd *a, uint64_t now, hl_aimd_signal sig, double latency_ms) {
  unsigned n = hl_aimd_limit(a);
  uint64_t seq[1024];
  for (unsigned i = 0; i < n; i++) seq[i] = hl_aimd_start(a);
  for (unsigned i = 0; i < n; i++) hl_aimd_done(a, now, seq[i], sig, latency_ms, 0);
}

HL_TEST(slow_start_doubles_per_round_up_to_the_ceiling) {
  hl_aimd a;
  hl_aimd_init(&a, 50, 2.0);
  HL_ASSERT_EQ_INT(hl_aimd_limit(&a), 4);
  round_of(&a, 0, HL_AIMD_OK, 5);
  HL_ASSERT_EQ_INT(hl_aimd_limit(&a), 8);
  round_of(&a, 0, HL_AIMD_OK, 5);
  HL_ASSERT_EQ_INT(hl_aimd_limit(&a), 16);
  round_of(&a, 0, HL_AIMD_OK, 5);
  round_of(&a, 0, HL_AIMD_OK, 5);
  HL_ASSERT_EQ_INT(hl_aimd_limit(&a), 50);
  HL_ASSERT_EQ_INT((long)a.cuts, 0);
}

HL_TEST(overload_cuts_once_per_round_then_increase_is_additive) {
  hl_aimd a;
  hl_aimd_init(&a, 64, 2.0);
  for (int i = 0; i < 5; i++) round_of(&a, 0, HL_AIMD_OK, 5);
  HL_ASSERT_EQ_INT(hl_aimd_limit(&a), 64);
  /* 64 out, all answer 429: one cut, not 64. */
  round_of(&a, 10, HL_AIMD_OVERLOAD, 5);
  HL_ASSERT_EQ_INT(hl_aimd_limit(&a), 32);
  HL_ASSERT_EQ_INT((long)a.cuts, 1);
  /* The next round (started after the cut) cuts again. */
  round_of(&a, 20, HL_AIMD_TIMEOUT, 5);
  HL_ASSERT_EQ_INT(hl_aimd_limit(&a), 16);
  /* After a cut: about one more per round of successes (1/limit per
   * answer), not double: three rounds make 16 -> 18.9. */
  for (int i = 0; i < 3; i++) round_of(&a, 30, HL_AIMD_OK, 5);
  HL_ASSERT_EQ_INT(hl_aimd_limit(&a), 18);
  /* Other failures (a 500, a 404) say nothing about load. */
  round_of(&a, 50, HL_AIMD_OTHER, 5);
  HL_ASSERT_EQ_INT(hl_aimd_limit(&a), 18);
  /* Never under one. */
  for (int i = 0; i < 20; i++) round_of(&a, 60, HL_AIMD_OVERLOAD, 5);
  HL_ASSERT_EQ_INT(hl_aimd_limit(&a), 1);
}

HL_TEST(rising_latency_cuts_and_stable_latency_does_not) {
  hl_aimd a;
  hl_aimd_init(&a, 100, 2.0);
  for (int i = 0; i < 6; i++) round_of(&a, 0, HL_AIMD_OK, 20);
  unsigned before = hl_aimd_limit(&a);
  HL_ASSERT_EQ_INT((long)a.cuts, 0);
  /* 2xx, but at four times the usual latency: the partner queues. */
  round_of(&a, 10, HL_AIMD_OK, 80);
  HL_ASSERT_EQ_INT((long)a.cuts, 1);
  HL_ASSERT(hl_aimd_limit(&a) <= before / 2);
  /* Jitter of a few ms over a 1 ms baseline is not a rise. */
  hl_aimd b;
  hl_aimd_init(&b, 100, 2.0);
  for (int i = 0; i < 10; i++) round_of(&b, 0, HL_AIMD_OK, i % 2 ? 1 : 6);
  HL_ASSERT_EQ_INT((long)b.cuts, 0);
}

HL_TEST(retry_after_pauses_starts_until_then_and_the_ceiling_holds) {
  hl_aimd a;
  hl_aimd_init(&a, 10, 2.0);
  uint64_t wait = 0;
  HL_ASSERT(!hl_aimd_paused(&a, 1000, &wait));
  uint64_t s = hl_aimd_start(&a);
  hl_aimd_done(&a, 1000, s, HL_AIMD_OVERLOAD, 5, 2000);
  HL_ASSERT(hl_aimd_paused(&a, 1500, &wait));
  HL_ASSERT_EQ_INT((long)wait, 1500);
  HL_ASSERT(!hl_aimd_paused(&a, 3000, &wait));
  for (int i = 0; i < 50; i++) round_of(&a, 4000, HL_AIMD_OK, 5);
  HL_ASSERT_EQ_INT(hl_aimd_limit(&a), 10);
  hl_aimd_set_ceiling(&a, 3);
  HL_ASSERT_EQ_INT(hl_aimd_limit(&a), 3);
}
