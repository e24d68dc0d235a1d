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

HL_TEST(retry_after_seconds_and_dates) {
  uint64_t d;
  HL_ASSERT_EQ_INT(hl_retry_after_parse("120", 0, &d), 0);
  HL_ASSERT_EQ_INT(d, 120000);
  HL_ASSERT_EQ_INT(hl_retry_after_parse("99999", 0, &d), 0);
  HL_ASSERT_EQ_INT(d, 3600000); /* capped at an hour */
  int64_t now = (int64_t)784111777 * 1000; /* Sun, 06 Nov 1994 08:49:37 GMT */
  HL_ASSERT_EQ_INT(hl_retry_after_parse("Sun, 06 Nov 1994 08:50:07 GMT", now, &d), 0);
  HL_ASSERT_EQ_INT(d, 30000);
  HL_ASSERT_EQ_INT(hl_retry_after_parse("Sun, 06 Nov 1994 08:00:00 GMT", now, &d), 0);
  HL_ASSERT_EQ_INT(d, 0);
  HL_ASSERT(hl_retry_after_parse("soon", now, &d) != 0);
  HL_ASSERT(hl_retry_after_parse("12abc", now, &d) != 0);
}

/* RFC 9110 asks a recipient to take all three HTTP-date forms, and a
 * partner's bytes are arbitrary: none may make the arithmetic overflow or a
 * date out of range count as another. */
HL_TEST(retry_after_takes_every_date_form_and_refuses_the_rest) {
  int64_t now = (int64_t)784111777 * 1000; /* Sun, 06 Nov 1994 08:49:37 GMT */
  uint64_t d = 1;
  HL_ASSERT_EQ_INT(hl_retry_after_parse("Sunday, 06-Nov-94 08:50:07 GMT", now, &d), 0);
  HL_ASSERT_EQ_INT(d, 30000);
  d = 1;
  HL_ASSERT_EQ_INT(hl_retry_after_parse("Sun Nov  6 08:50:07 1994", now, &d), 0);
  HL_ASSERT_EQ_INT(d, 30000);
  d = 1;
  HL_ASSERT_EQ_INT(hl_retry_after_parse(" \tSun, 06 Nov 1994 08:50:07 GMT\r\n", now, &d), 0);
  HL_ASSERT_EQ_INT(d, 30000);
  HL_ASSERT_EQ_INT(hl_retry_after_parse("Sun, 06 Nov 1994 08:49:37 GMT", now + 400, &d), 0);
  HL_ASSERT_EQ_INT(d, 0); /* already past by 400 ms */
  HL_ASSERT_EQ_INT(hl_retry_after_parse("Fri, 31 Dec 9999 23:59:59 GMT", now, &d), 0);
  HL_ASSERT_EQ_INT(d, 3600000); /* capped at an hour */
  HL_ASSERT_EQ_INT(hl_retry_after_parse(" 120 \r\n", now, &d), 0);
  HL_ASSERT_EQ_INT(d, 120000);
  HL_ASSERT_EQ_INT(hl_retry_after_parse("0", now, &d), 0);
  HL_ASSERT_EQ_INT(d, 0);
  HL_ASSERT_EQ_INT(hl_retry_after_parse("184467440737095516160000", now, &d), 0);
  HL_ASSERT_EQ_INT(d, 3600000);
  static const char *const bad[] = {
    "", " \r\n", "-5", "+5", "1.5", "120 s", "120,5", "0x10",
    "Sun, 06 Nov 2147483647 08:49:37 GMT", "Sun, 06 Nov -2147483648 08:49:37 GMT",
    "Sun, 31 Feb 1994 08:49:37 GMT", "Sun, 06 Nov 1994 25:00:00 GMT",
    "Sun, 06 Nov 1994 08:49:37 GMTX", "Sun, 06 Nov 1994 08:49:37 GMT, 12",
    "Sun, 6 Nov 1994 08:49:37 GMT",
  };
  for (size_t i = 0; i < HL_ARRAY_SIZE(bad); i++) {
    d = 77;
    HL_ASSERT_MSG(hl_retry_after_parse(bad[i], now, &d) == HL_EPARSE, "accepted \"%s\"", bad[i]);
    HL_ASSERT_EQ_INT(d, 77);
  }
}
