/* RFC 3339 timestamps against glibc's own calendar: every instant glibc
 * writes (strftime, C locale) reads back to the instant timegm gives, and
 * an offset moves it by its hours and minutes. The refusals are stated by
 * hand from the grammar of §5.6 and the leap-second rule of §5.7; among
 * them what the readers this one replaced took (a sign or a space in a
 * field, 31 February, hour 24, text after the offset). */
#include "hl_test.h"
#include "common/hl_common.h"
#include "common/hl_rfc3339.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static int dt(const char *s, int64_t *ms) { return hl_rfc3339_datetime(s, strlen(s), 0, ms); }

/* Instants from 0001 to 9999 in steps that visit every month, hour and
 * leap-year rule, in each of the three forms. */
HL_TEST(every_form_agrees_with_glibcs_calendar) {
  const int64_t from = -62135596800, to = 253402300799; /* 0001-01-01 .. 9999-12-31T23:59:59 */
  int n = 0;
  for (int64_t s = from; s <= to; s += 86400LL * 97 + 3607, n++) {
    time_t tt = (time_t)s;
    struct tm tm;
    HL_ASSERT(gmtime_r(&tt, &tm) != NULL);
    char text[64];
    snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.250Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec);
    int64_t ms = 0;
    HL_ASSERT_MSG(dt(text, &ms) == 0 && ms == s * 1000 + 250, "%s: %lld", text, (long long)ms);
    int64_t day = 0;
    HL_ASSERT_EQ_INT(hl_rfc3339_date(text, 10, &day), 0);
    HL_ASSERT_EQ_INT(day, s - (tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec));
    HL_ASSERT_EQ_INT(hl_rfc3339_time(text + 11, strlen(text + 11)), 0);
  }
  HL_ASSERT(n > 10000);
}

HL_TEST(offsets_fractions_and_case) {
  const struct { const char *text; int64_t ms; } same[] = {
    {"2026-11-29T19:31:33Z", 1795980693000},
    {"2026-11-29T20:31:33+01:00", 1795980693000},
    {"2026-11-29T14:01:33-05:30", 1795980693000},
    {"2026-11-29t19:31:33z", 1795980693000},
    {"2026-11-29T19:31:33-00:00", 1795980693000}, /* "-00:00": UTC, local offset unknown (§4.3) */
    {"2026-11-29T19:31:33.1Z", 1795980693100},
    {"2026-11-29T19:31:33.123Z", 1795980693123},
    {"2026-11-29T19:31:33.123999999999999999Z", 1795980693123},
    {"1970-01-01T00:00:00Z", 0},
    {"1969-12-31T23:59:59.500Z", -500},
    /* a leap second reads as the second after it */
    {"1998-12-31T23:59:60Z", 915148800000},
    {"1998-12-31T15:59:60-08:00", 915148800000},
    {"1999-01-01T00:59:60+01:00", 915148800000},
  };
  for (size_t i = 0; i < HL_ARRAY_SIZE(same); i++) {
    int64_t ms = 0;
    HL_ASSERT_MSG(dt(same[i].text, &ms) == 0, "%s refused", same[i].text);
    HL_ASSERT_MSG(ms == same[i].ms, "%s: %lld, expected %lld", same[i].text, (long long)ms, (long long)same[i].ms);
  }
  int64_t a = 0, b = 0;
  HL_ASSERT_EQ_INT(dt("2026-11-30T00:00:33+04:29", &a), 0);
  HL_ASSERT_EQ_INT(dt("2026-11-29T19:31:33Z", &b), 0);
  HL_ASSERT_EQ_INT(a, b);
  /* The space of RFC 3339's note, only when asked for. */
  const char *spaced = "2026-11-29 19:31:33Z";
  HL_ASSERT_EQ_INT(hl_rfc3339_datetime(spaced, strlen(spaced), 0, &a), HL_EPARSE);
  HL_ASSERT_EQ_INT(hl_rfc3339_datetime(spaced, strlen(spaced), HL_RFC3339_SPACE, &a), 0);
  HL_ASSERT_EQ_INT(a, b);
  /* Years 0000 and 9999 at either end. */
  HL_ASSERT_EQ_INT(dt("0000-01-01T00:00:00Z", &a), 0);
  HL_ASSERT_EQ_INT(a, -62167219200000);
  HL_ASSERT_EQ_INT(dt("9999-12-31T23:59:59.999Z", &a), 0);
  HL_ASSERT_EQ_INT(a, 253402300799999);
}

HL_TEST(the_grammar_refuses_the_rest) {
  const char *bad_dt[] = {
    "", "2026-11-29", "2026-11-29T19:31:33", "2026-11-29T19:31Z", "2026-11-29T19:31:33.Z",
    "2026-02-29T00:00:00Z", "2100-02-29T00:00:00Z", "2026-02-31T00:00:00Z", "2026-04-31T00:00:00Z",
    "2026-00-10T00:00:00Z", "2026-13-10T00:00:00Z", "2026-11-00T00:00:00Z", "2026-11-29T24:00:00Z",
    "2026-11-29T23:60:00Z", "2026-11-29T23:59:61Z", "2026-11-29T23:58:60Z", "2026-11-29T22:59:60Z",
    "1998-12-31T23:59:60+01:00", "2026-11-29T19:31:33+24:00", "2026-11-29T19:31:33+01:60",
    "2026-11-29T19:31:33+01", "2026-11-29T19:31:33+0100", "2026-11-29T19:31:33+1:00", "2026-11-29T19:31:33Z ",
    " 2026-11-29T19:31:33Z", "2026-11-29T19:31:33Zjunk", "2026-11-29T19:31:33+01:00Z", "2026-11-29T19:31:33UTC",
    "+2026-11-29T19:31:33Z", "-2026-11-29T19:31:33Z", "12026-11-29T19:31:33Z", "226-11-29T19:31:33Z",
    "2026-1-29T19:31:33Z", "2026-11-9T19:31:33Z", "2026-11-29T9:31:33Z", "2026-11-29T19:+1:33Z",
    "2026-11-29T19:31: 3Z", "2026-11-29T19:31:33,5Z", "2026-11-29X19:31:33Z", "2026-11-29_19:31:33Z",
    "2026-333T19:31:33Z", "2026-W48-7T19:31:33Z", "20261129T193133Z", "2026-11-29T19:31:33Z\n",
  };
  for (size_t i = 0; i < HL_ARRAY_SIZE(bad_dt); i++) {
    int64_t ms = 42;
    HL_ASSERT_MSG(hl_rfc3339_datetime(bad_dt[i], strlen(bad_dt[i]), HL_RFC3339_SPACE, &ms) == HL_EPARSE,
                  "date-time accepted \"%s\"", bad_dt[i]);
    HL_ASSERT_EQ_INT(ms, 42);
  }
  /* Bytes after the length given are not read; a NUL inside is refused. */
  HL_ASSERT_EQ_INT(hl_rfc3339_datetime("2026-11-29T19:31:33Zjunk", 20, 0, NULL), 0);
  HL_ASSERT_EQ_INT(hl_rfc3339_datetime("2026-11-29T19:31:33Z\0", 21, 0, NULL), HL_EPARSE);
  const char *bad_date[] = {"", "2026-11-29T00:00:00Z", "2026-11-29 ", "2026-02-29", "1900-02-29",
                            "2026-11-31", "2026-11", "2026/11/29", "+026-11-29", " 026-11-29"};
  for (size_t i = 0; i < HL_ARRAY_SIZE(bad_date); i++)
    HL_ASSERT_MSG(hl_rfc3339_date(bad_date[i], strlen(bad_date[i]), NULL) == HL_EPARSE, "date accepted \"%s\"",
                  bad_date[i]);
  HL_ASSERT_EQ_INT(hl_rfc3339_date("2000-02-29", 10, NULL), 0);
  HL_ASSERT_EQ_INT(hl_rfc3339_date("2024-02-29", 10, NULL), 0);
  const char *bad_time[] = {"12:00:00", "12:00:00.5", "24:00:00Z", "12:60:00Z", "12:00:61Z", "23:59:60+01:00",
                            "22:59:60Z", "12:00:00+24:00", "1:00:00Z", "12:00:00Zjunk", "ab:cd:efZ"};
  for (size_t i = 0; i < HL_ARRAY_SIZE(bad_time); i++)
    HL_ASSERT_MSG(hl_rfc3339_time(bad_time[i], strlen(bad_time[i])) == HL_EPARSE, "time accepted \"%s\"",
                  bad_time[i]);
  const char *good_time[] = {"23:59:60Z", "00:59:60+01:00", "15:59:60-08:00", "23:29:60+23:30", "00:00:00z"};
  for (size_t i = 0; i < HL_ARRAY_SIZE(good_time); i++)
    HL_ASSERT_MSG(hl_rfc3339_time(good_time[i], strlen(good_time[i])) == 0, "time refused \"%s\"", good_time[i]);
}

