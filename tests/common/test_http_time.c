/* HTTP-date against glibc's own calendar: every instant written is what
 * gmtime_r and strftime (C locale) write, and each of the three forms of
 * RFC 9110 §5.6.7 reads back to the instant timegm gives. The refusals are
 * stated by hand from the grammar. Then Retry-After, which every client of
 * the project that honours one reads with hl_http_retry_after_parse. */
#include "hl_test.h"
#include "common/hl_common.h"
#include "common/hl_http_time.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static int parse(const char *s, int64_t now_s, int64_t *t) { return hl_http_date_parse(s, strlen(s), now_s, t); }

/* A Retry-After read as the partner sender reads it: up to an hour. */
static int ra(const char *v, int64_t now_ms, uint64_t *d) {
  return hl_http_retry_after_parse(v, strlen(v), now_ms, 3600000, d);
}

#define NOW_2026 1796083200 /* 2026-12-01T00:00:00Z */

/* The RFC's example instant in its three forms, and 30 s later. */
static const char *const example[] = {"Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT",
                                      "Sun Nov  6 08:49:37 1994"};
static const char *const example_30s[] = {"Sun, 06 Nov 1994 08:50:07 GMT", "Sunday, 06-Nov-94 08:50:07 GMT",
                                          "Sun Nov  6 08:50:07 1994"};

HL_TEST(the_rfcs_example_in_its_three_forms) {
  for (size_t i = 0; i < HL_ARRAY_SIZE(example); i++) {
    int64_t t = 0;
    HL_ASSERT_MSG(parse(example[i], NOW_2026, &t) == 0 && t == 784111777, "%s: %lld", example[i], (long long)t);
  }
  char out[HL_HTTP_DATE_LEN + 1];
  HL_ASSERT_EQ_INT(hl_http_date_format(784111777, out), 0);
  HL_ASSERT_EQ_STR(out, "Sun, 06 Nov 1994 08:49:37 GMT");
}

/* Instants from 1900 to 9999 in steps that visit every month, weekday,
 * hour and leap-year rule: written as glibc writes them, and read back in
 * each form. */
HL_TEST(every_form_agrees_with_glibcs_calendar) {
  const int64_t from = -2208988800, to = 253402300799; /* 1900-01-01 .. 9999-12-31T23:59:59 */
  int n = 0;
  for (int64_t s = from; s <= to; s += 86400LL * 97 + 3607, n++) {
    time_t tt = (time_t)s;
    struct tm tm;
    HL_ASSERT(gmtime_r(&tt, &tm) != NULL);
    char want[64], got[HL_HTTP_DATE_LEN + 1];
    strftime(want, sizeof want, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    HL_ASSERT_EQ_INT(hl_http_date_format(s, got), 0);
    HL_ASSERT_MSG(strcmp(got, want) == 0, "%lld: wrote %s, glibc %s", (long long)s, got, want);
    int64_t back = 0;
    HL_ASSERT_EQ_INT(parse(want, NOW_2026, &back), 0);
    HL_ASSERT_EQ_INT(back, s);
    char asc[64];
    strftime(asc, sizeof asc, "%a %b %e %H:%M:%S %Y", &tm); /* %e: the day, space-padded */
    back = 0;
    HL_ASSERT_MSG(parse(asc, NOW_2026, &back) == 0 && back == s, "%s", asc);
    /* rfc850's two digits, read with a present in the same year */
    char rfc850[64];
    strftime(rfc850, sizeof rfc850, "%A, %d-%b-%y %H:%M:%S GMT", &tm);
    back = 0;
    HL_ASSERT_MSG(parse(rfc850, s, &back) == 0 && back == s, "%s", rfc850);
  }
  HL_ASSERT(n > 10000);
  char out[HL_HTTP_DATE_LEN + 1];
  HL_ASSERT_EQ_INT(hl_http_date_format(-62167219200, out), 0);
  HL_ASSERT_EQ_STR(out, "Sat, 01 Jan 0000 00:00:00 GMT");
  HL_ASSERT_EQ_INT(hl_http_date_format(253402300799, out), 0);
  HL_ASSERT_EQ_STR(out, "Fri, 31 Dec 9999 23:59:59 GMT");
  HL_ASSERT_EQ_INT(hl_http_date_format(253402300800, out), HL_EINVAL);
  HL_ASSERT_EQ_INT(hl_http_date_format(-62167219201, out), HL_EINVAL);
}

/* RFC 9110: a two-digit year "more than 50 years in the future" is the
 * latest past year with those digits. */
HL_TEST(an_rfc850_year_is_read_in_the_window_around_now) {
  int64_t t = 0;
  HL_ASSERT_EQ_INT(parse("Wednesday, 01-Jan-76 00:00:00 GMT", NOW_2026, &t), 0);
  HL_ASSERT_EQ_INT(t, 3345062400); /* 2076: 50 years ahead */
  HL_ASSERT_EQ_INT(parse("Saturday, 01-Jan-77 00:00:00 GMT", NOW_2026, &t), 0);
  HL_ASSERT_EQ_INT(t, 220924800); /* 1977, not 2077 */
  HL_ASSERT_EQ_INT(parse("Wednesday, 01-Jan-70 00:00:00 GMT", NOW_2026, &t), 0);
  HL_ASSERT_EQ_INT(t, 3155760000); /* 2070 */
  HL_ASSERT_EQ_INT(parse("Thursday, 01-Jan-70 00:00:00 GMT", 0, &t), 0);
  HL_ASSERT_EQ_INT(t, 0); /* read in 1970: 1970 */
}

HL_TEST(what_the_grammar_refuses) {
  static const char *const bad[] = {
    "",
    "Sun, 06 Nov 1994 08:49:37 GMT ",      /* the caller trims */
    " Sun, 06 Nov 1994 08:49:37 GMT",
    "Sun, 06 Nov 1994 08:49:37 GMTX",
    "Sun, 06 Nov 1994 08:49:37 UTC",
    "Sun, 06 Nov 1994 08:49:37 gmt",
    "sun, 06 Nov 1994 08:49:37 GMT",      /* names are case-sensitive */
    "Sun, 06 nov 1994 08:49:37 GMT",
    "Sun, 6 Nov 1994 08:49:37 GMT",       /* 2DIGIT */
    "Sun, 06 Nov 94 08:49:37 GMT",
    "Sun, 06 Nov 21474836470 08:49:37 GMT", /* a year past four digits */
    "Sun, 06 Nov 2147483647 08:49:37 GMT",
    "Sun, 06 Nov -1994 08:49:37 GMT",
    "Sun, 31 Feb 1994 08:49:37 GMT",      /* no such day */
    "Sun, 29 Feb 2023 08:49:37 GMT",
    "Sun, 29 Feb 1900 08:49:37 GMT",
    "Sun, 00 Nov 1994 08:49:37 GMT",
    "Sun, 31 Nov 1994 08:49:37 GMT",
    "Sun, 06 Nov 1994 24:00:00 GMT",
    "Sun, 06 Nov 1994 08:60:00 GMT",
    "Sun, 06 Nov 1994 08:49:61 GMT",
    "Sun, 06 Nov 1994 8:49:37 GMT",
    "Sun, 06 Nov 1994 08:49 GMT",
    "Sun,06 Nov 1994 08:49:37 GMT",
    "Sunday, 06 Nov 1994 08:49:37 GMT",   /* a long name in IMF-fixdate */
    "Sun, 06-Nov-94 08:49:37 GMT",        /* a short name in rfc850-date */
    "Sunday, 06-Nov-1994 08:49:37 GMT",
    "Sunday, 6-Nov-94 08:49:37 GMT",
    "Sun Nov 6 08:49:37 1994",            /* asctime pads the day with a space */
    "Sun Nov   6 08:49:37 1994",
    "Sun Nov  6 08:49:37 94",
    "Sun Nov  6 08:49:37 1994 GMT",
    "Fri, 31 Dec 9999 23:59:60 GMT",     /* a leap second into year 10000 */
    "Sun Nov  6 08:49:37",
    "Sun",
    "Sun,",
  };
  for (size_t i = 0; i < HL_ARRAY_SIZE(bad); i++) {
    int64_t t = 12345;
    HL_ASSERT_MSG(parse(bad[i], NOW_2026, &t) == HL_EPARSE, "accepted \"%s\"", bad[i]);
    HL_ASSERT_EQ_INT(t, 12345); /* left alone */
  }
  int64_t t = 0;
  HL_ASSERT_EQ_INT(parse("Thu, 29 Feb 2024 00:00:00 GMT", NOW_2026, &t), 0); /* a leap year */
  HL_ASSERT_EQ_INT(parse("Tue, 29 Feb 2000 00:00:00 GMT", NOW_2026, &t), 0);
  HL_ASSERT_EQ_INT(t, 951782400);
  HL_ASSERT_EQ_INT(parse("Sat, 31 Dec 2016 23:59:60 GMT", NOW_2026, &t), 0); /* a leap second */
  HL_ASSERT_EQ_INT(t, 1483228800);
  HL_ASSERT_EQ_INT(parse("Sun Nov 06 08:49:37 1994", NOW_2026, &t), 0); /* asctime's 2DIGIT */
  HL_ASSERT_EQ_INT(t, 784111777);
  /* The day name is not checked against the date (RFC 9110 leaves it). */
  HL_ASSERT_EQ_INT(parse("Mon, 06 Nov 1994 08:49:37 GMT", NOW_2026, &t), 0);
  HL_ASSERT_EQ_INT(t, 784111777);
  /* Only `len` bytes are read: a date inside a longer buffer. */
  const char *line = "Sun, 06 Nov 1994 08:49:37 GMT\r\n";
  HL_ASSERT_EQ_INT(hl_http_date_parse(line, HL_HTTP_DATE_LEN, NOW_2026, &t), 0);
  HL_ASSERT_EQ_INT(hl_http_date_parse(line, HL_HTTP_DATE_LEN - 1, NOW_2026, &t), HL_EPARSE);
}

HL_TEST(retry_after_seconds_and_dates) {
  uint64_t d;
  HL_ASSERT_EQ_INT(ra("120", 0, &d), 0);
  HL_ASSERT_EQ_INT(d, 120000);
  HL_ASSERT_EQ_INT(ra("99999", 0, &d), 0);
  HL_ASSERT_EQ_INT(d, 3600000); /* capped at an hour */
  int64_t now = (int64_t)784111777 * 1000; /* Sun, 06 Nov 1994 08:49:37 GMT */
  HL_ASSERT_EQ_INT(ra("Sun, 06 Nov 1994 08:50:07 GMT", now, &d), 0);
  HL_ASSERT_EQ_INT(d, 30000);
  HL_ASSERT_EQ_INT(ra("Sun, 06 Nov 1994 08:00:00 GMT", now, &d), 0);
  HL_ASSERT_EQ_INT(d, 0);
  HL_ASSERT(ra("soon", now, &d) != 0);
  HL_ASSERT(ra("12abc", now, &d) != 0);
}

/* RFC 9110 asks a recipient to take all three HTTP-date forms, and a
 * partner's bytes are arbitrary: none may make the arithmetic overflow or a
 * date out of range count as another. */
HL_TEST(retry_after_takes_every_date_form_and_refuses_the_rest) {
  int64_t now = (int64_t)784111777 * 1000; /* Sun, 06 Nov 1994 08:49:37 GMT */
  uint64_t d = 1;
  for (size_t i = 0; i < HL_ARRAY_SIZE(example_30s); i++) {
    d = 1;
    HL_ASSERT_MSG(ra(example_30s[i], now, &d) == 0 && d == 30000, "%s: %llu", example_30s[i], (unsigned long long)d);
  }
  d = 1;
  HL_ASSERT_EQ_INT(ra(" \tSun, 06 Nov 1994 08:50:07 GMT\r\n", now, &d), 0);
  HL_ASSERT_EQ_INT(d, 30000);
  HL_ASSERT_EQ_INT(ra("Sun, 06 Nov 1994 08:49:37 GMT", now + 400, &d), 0);
  HL_ASSERT_EQ_INT(d, 0); /* already past by 400 ms */
  HL_ASSERT_EQ_INT(ra("Fri, 31 Dec 9999 23:59:59 GMT", now, &d), 0);
  HL_ASSERT_EQ_INT(d, 3600000); /* capped at an hour */
  HL_ASSERT_EQ_INT(ra(" 120 \r\n", now, &d), 0);
  HL_ASSERT_EQ_INT(d, 120000);
  HL_ASSERT_EQ_INT(ra("0", now, &d), 0);
  HL_ASSERT_EQ_INT(d, 0);
  HL_ASSERT_EQ_INT(ra("184467440737095516160000", now, &d), 0);
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
    HL_ASSERT_MSG(ra(bad[i], now, &d) == HL_EPARSE, "accepted \"%s\"", bad[i]);
    HL_ASSERT_EQ_INT(d, 77);
  }
}

/* The cap is the caller's (the inbox client's back-off cap), and only
 * `len` bytes are read. */
HL_TEST(retry_after_is_capped_by_the_caller_and_read_within_its_length) {
  uint64_t d = 0;
  HL_ASSERT_EQ_INT(hl_http_retry_after_parse("9", 1, 0, 10000, &d), 0);
  HL_ASSERT_EQ_INT(d, 9000);
  HL_ASSERT_EQ_INT(hl_http_retry_after_parse("11", 2, 0, 10000, &d), 0);
  HL_ASSERT_EQ_INT(d, 10000);
  HL_ASSERT_EQ_INT(hl_http_retry_after_parse("10", 2, 0, 10500, &d), 0);
  HL_ASSERT_EQ_INT(d, 10000);
  HL_ASSERT_EQ_INT(hl_http_retry_after_parse("120xyz", 3, 0, 3600000, &d), 0);
  HL_ASSERT_EQ_INT(d, 120000); /* "xyz" lies past len */
  int64_t now = (int64_t)784111777 * 1000;
  HL_ASSERT_EQ_INT(hl_http_retry_after_parse("Sun, 06 Nov 1994 08:50:07 GMT\r\n", 31, now, 10000, &d), 0);
  HL_ASSERT_EQ_INT(d, 10000);
  HL_ASSERT_EQ_INT(hl_http_retry_after_parse("Sun, 06 Nov 1994 08:49:42 GMT", 29, now, 10000, &d), 0);
  HL_ASSERT_EQ_INT(d, 5000);
  /* digits past any cap are counted without overflow */
  HL_ASSERT_EQ_INT(hl_http_retry_after_parse("99999999999999999999999999999999", 32, 0, UINT64_MAX, &d), 0);
  HL_ASSERT(d == UINT64_MAX);
}
