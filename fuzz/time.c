/* fuzz_time: RFC 3339 timestamps (src/common/hl_rfc3339), as the API's
 * since/until, a credentials endpoint's Expiration and JSON Schema's
 * date, time and date-time formats read them.
 *
 * Properties, beyond no crash, leak or undefined behaviour:
 * - every answer is 0 or HL_EPARSE, and a refusal leaves the output alone;
 * - the three readers agree: a date-time is taken exactly when its first
 *   ten bytes are a date, the eleventh is T or t (or a space, when asked
 *   for) and the rest a time;
 * - a date-time taken lies within years 0000-9999 (give or take the
 *   offset's day), and written again as glibc's calendar writes the
 *   instant (UTC, milliseconds) it reads back to the same instant;
 * - a date taken is a midnight, and glibc's calendar writes it as its
 *   text. */
#include "fuzz_util.h"
#include "common/hl_common.h"
#include "common/hl_rfc3339.h"

#include <time.h>

#define DAY_MS 86400000LL

static void check_date(const char *s, size_t len) {
  int64_t day = 0x5eed;
  int rc = hl_rfc3339_date(s, len, &day);
  FUZZ_CHECK(rc == 0 || rc == HL_EPARSE);
  if (rc != 0) {
    FUZZ_CHECK(day == 0x5eed);
    return;
  }
  FUZZ_CHECK(len == 10 && day % 86400 == 0);
  time_t tt = (time_t)day;
  struct tm tm;
  FUZZ_CHECK(gmtime_r(&tt, &tm) != NULL);
  char want[32];
  snprintf(want, sizeof want, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
  FUZZ_CHECK(memcmp(s, want, 10) == 0);
}

static void check_datetime(const char *s, size_t len, unsigned flags) {
  int64_t ms = 0x5eed;
  int rc = hl_rfc3339_datetime(s, len, flags, &ms);
  FUZZ_CHECK(rc == 0 || rc == HL_EPARSE);
  bool sep = len > 10 && (s[10] == 'T' || s[10] == 't' || ((flags & HL_RFC3339_SPACE) && s[10] == ' '));
  bool parts = len > 11 && sep && hl_rfc3339_date(s, 10, NULL) == 0 && hl_rfc3339_time(s + 11, len - 11) == 0;
  FUZZ_CHECK((rc == 0) == parts);
  if (rc != 0) {
    FUZZ_CHECK(ms == 0x5eed);
    return;
  }
  /* 0000-01-01 less a day to 9999-12-31 plus a day (offsets under 24 h). */
  FUZZ_CHECK(ms >= -62167219200000LL - DAY_MS && ms <= 253402300800000LL + DAY_MS);
  if (ms < -62167219200000LL || ms > 253402300799999LL) return; /* glibc writes no such year in four digits */
  int64_t secs = ms / 1000 - (ms % 1000 < 0);
  time_t tt = (time_t)secs;
  struct tm tm;
  FUZZ_CHECK(gmtime_r(&tt, &tm) != NULL);
  char back[64];
  int n = snprintf(back, sizeof back, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                   tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms - secs * 1000));
  int64_t again = 0;
  FUZZ_CHECK(hl_rfc3339_datetime(back, (size_t)n, 0, &again) == 0 && again == ms);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc; (void)argv;
  fuzz_quiet();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *s = fuzz_exact_copy(data, size);
  check_date(s, size);
  check_datetime(s, size, 0);
  check_datetime(s, size, HL_RFC3339_SPACE);
  int rc = hl_rfc3339_time(s, size);
  FUZZ_CHECK(rc == 0 || rc == HL_EPARSE);
  hl_free(s);
  return 0;
}
