#include "hl_test.h"
#include "common/hl_common.h"
#include "crypto/hl_crypto.h"
#include "model/hl_retry.h"

HL_TEST(parses_the_default_schedule) {
  hl_retry_schedule *s = NULL;
  hl_buf err = HL_BUF_INIT;
  HL_ASSERT_EQ_INT(hl_retry_schedule_parse("1s,5s,30s,2m,10m,1h,4h", &s, &err), 0);
  HL_ASSERT_EQ_INT(s->n, 7);
  HL_ASSERT_EQ_INT(s->delay_ms[0], 1000);
  HL_ASSERT_EQ_INT(s->delay_ms[3], 120000);
  HL_ASSERT_EQ_INT(s->delay_ms[6], 4 * 3600 * 1000);
  hl_retry_schedule_free(s);
  HL_ASSERT_EQ_INT(hl_retry_schedule_parse(" 100ms , 2s ", &s, &err), 0);
  HL_ASSERT_EQ_INT(s->delay_ms[0], 100);
  HL_ASSERT_EQ_INT(s->delay_ms[1], 2000);
  hl_retry_schedule_free(s);
}

HL_TEST(bad_entries_are_named) {
  const char *bad[] = {"", "5", "1s,,2s", "1d", "1s,abc", "25h", "-1s"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    hl_retry_schedule *s = NULL;
    hl_buf err = HL_BUF_INIT;
    HL_ASSERT_MSG(hl_retry_schedule_parse(bad[i], &s, &err) == HL_EINVAL, "accepted '%s'", bad[i]);
    HL_ASSERT(err.data && strstr(err.data, "entry") != NULL);
    hl_buf_dispose(&err);
  }
}

HL_TEST(jitter_stays_within_twenty_percent) {
  hl_retry_schedule *s = NULL;
  HL_ASSERT_EQ_INT(hl_retry_schedule_parse("10s,1m", &s, NULL), 0);
  uint64_t lo = UINT64_MAX, hi = 0, d;
  for (int i = 0; i < 100000; i++) {
    HL_ASSERT_EQ_INT(hl_retry_next_delay(s, 1, hl_random_u32(), &d), 0);
    lo = d < lo ? d : lo;
    hi = d > hi ? d : hi;
  }
  HL_ASSERT(lo >= 8000 && hi <= 12000);
  HL_ASSERT(lo < 8100 && hi > 11900); /* the whole band is used */
  HL_ASSERT_EQ_INT(hl_retry_next_delay(s, 0, 0, &d), HL_ENOTFOUND);
  HL_ASSERT_EQ_INT(hl_retry_next_delay(s, 2, 0, &d), 0);
  HL_ASSERT_EQ_INT(d, 48000);
  HL_ASSERT_EQ_INT(hl_retry_next_delay(s, 3, 0, &d), HL_ENOTFOUND); /* exhausted */
  hl_retry_schedule_free(s);
}
