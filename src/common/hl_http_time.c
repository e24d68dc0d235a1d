#include "common/hl_http_time.h"
#include "common/hl_civil.h"
#include "common/hl_common.h"
#include "common/hl_cursor.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>

/* Years 0–9999: 0000-01-01T00:00:00Z to 9999-12-31T23:59:59Z. */
#define MIN_S (-62167219200LL)
#define MAX_S 253402300799LL

static const char *const day_short[7] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const day_long[7] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                        "Thursday", "Friday", "Saturday"};
static const char *const month_short[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* Index of the name in `names` the text starts with, or -1. */
static int name(hl_cursor *c, const char *const *names, int count) {
  for (int i = 0; i < count; i++)
    if (hl_cursor_lit(c, names[i])) return i;
  return -1;
}

/* time-of-day = hour ":" minute ":" second, 00:00:00 to 23:59:60. */
static bool time_of_day(hl_cursor *c, int *secs) {
  int h, mi, s;
  if (!hl_cursor_digits(c, 2, &h) || !hl_cursor_lit(c, ":") || !hl_cursor_digits(c, 2, &mi) || !hl_cursor_lit(c, ":") ||
      !hl_cursor_digits(c, 2, &s) || h > 23 || mi > 59 || s > 60)
    return false;
  *secs = h * 3600 + mi * 60 + s;
  return true;
}

int hl_http_date_parse(const char *s, size_t len, int64_t now_s, int64_t *unix_s) {
  hl_cursor c = {s, s + len};
  int mday, mon, year, secs;
  if (name(&c, day_short, 7) >= 0 && hl_cursor_lit(&c, ", ")) {
    /* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
    if (!hl_cursor_digits(&c, 2, &mday) || !hl_cursor_lit(&c, " ") || (mon = name(&c, month_short, 12)) < 0 ||
        !hl_cursor_lit(&c, " ") || !hl_cursor_digits(&c, 4, &year) || !hl_cursor_lit(&c, " ") ||
        !time_of_day(&c, &secs) || !hl_cursor_lit(&c, " GMT"))
      return HL_EPARSE;
  } else if ((c.p = s, name(&c, day_short, 7) >= 0) && hl_cursor_lit(&c, " ")) {
    /* asctime-date: Sun Nov  6 08:49:37 1994 */
    if ((mon = name(&c, month_short, 12)) < 0 || !hl_cursor_lit(&c, " ")) return HL_EPARSE;
    bool one_digit = hl_cursor_lit(&c, " "); /* date3 = month SP ( 2DIGIT / ( SP DIGIT ) ) */
    if (!hl_cursor_digits(&c, one_digit ? 1 : 2, &mday)) return HL_EPARSE;
    if (!hl_cursor_lit(&c, " ") || !time_of_day(&c, &secs) || !hl_cursor_lit(&c, " ") ||
        !hl_cursor_digits(&c, 4, &year))
      return HL_EPARSE;
  } else {
    /* rfc850-date: Sunday, 06-Nov-94 08:49:37 GMT */
    c.p = s;
    int yy;
    if (name(&c, day_long, 7) < 0 || !hl_cursor_lit(&c, ", ") || !hl_cursor_digits(&c, 2, &mday) ||
        !hl_cursor_lit(&c, "-") || (mon = name(&c, month_short, 12)) < 0 || !hl_cursor_lit(&c, "-") ||
        !hl_cursor_digits(&c, 2, &yy) || !hl_cursor_lit(&c, " ") || !time_of_day(&c, &secs) ||
        !hl_cursor_lit(&c, " GMT"))
      return HL_EPARSE;
    /* The year with these two digits in the hundred years that end 50
     * years after now's: a date "more than 50 years in the future" is the
     * latest past year with the same digits (RFC 9110 §5.6.7). */
    int64_t now_y;
    int m_, d_;
    hl_civil_from_days(now_s / 86400 - (now_s % 86400 < 0), &now_y, &m_, &d_);
    int64_t y = now_y - ((now_y % 100) + 100) % 100 + yy;
    if (y > now_y + 50) y -= 100;
    else if (y <= now_y - 50) y += 100;
    if (y < 0 || y > 9999) return HL_EPARSE;
    year = (int)y;
  }
  if (c.p != c.end || mday < 1 || mday > hl_days_in_month(year, mon + 1)) return HL_EPARSE;
  int64_t t = hl_days_from_civil(year, mon + 1, mday) * 86400 + secs;
  if (t > MAX_S) return HL_EPARSE; /* a leap second past 9999's last */
  *unix_s = t;
  return 0;
}

int hl_http_date_format(int64_t unix_s, char out[HL_HTTP_DATE_LEN + 1]) {
  if (unix_s < MIN_S || unix_s > MAX_S) return HL_EINVAL;
  int64_t days = unix_s / 86400, secs = unix_s % 86400;
  if (secs < 0) days--, secs += 86400;
  int64_t y;
  int m, d;
  hl_civil_from_days(days, &y, &m, &d);
  int wday = (int)(((days % 7) + 11) % 7); /* 1970-01-01 was a Thursday */
  /* Built by hand rather than strftime: %a and %b follow the locale. */
  char *o = out;
  memcpy(o, day_short[wday], 3), o += 3;
  *o++ = ',', *o++ = ' ', *o++ = (char)('0' + d / 10), *o++ = (char)('0' + d % 10), *o++ = ' ';
  memcpy(o, month_short[m - 1], 3), o += 3;
  *o++ = ' ';
  for (int64_t div = 1000; div; div /= 10) *o++ = (char)('0' + (y / div) % 10);
  int64_t part[3] = {secs / 3600, secs / 60 % 60, secs % 60};
  for (int i = 0; i < 3; i++) {
    *o++ = i ? ':' : ' ';
    *o++ = (char)('0' + part[i] / 10), *o++ = (char)('0' + part[i] % 10);
  }
  memcpy(o, " GMT", 5);
  return 0;
}

int hl_http_retry_after_parse(const char *value, size_t len, int64_t now_ms, uint64_t max_ms, uint64_t *delay_ms) {
  const char *p = value, *end = value + len;
  while (p < end && isspace((unsigned char)*p)) p++;
  while (end > p && isspace((unsigned char)end[-1])) end--;
  if (p == end) return HL_EPARSE;
  if (isdigit((unsigned char)*p)) {
    /* delta-seconds = 1*DIGIT; counting stops once past the cap, so no
     * number of digits overflows. */
    uint64_t secs = 0;
    for (; p < end; p++) {
      if (!isdigit((unsigned char)*p)) return HL_EPARSE;
      if (secs <= max_ms / 1000) secs = secs * 10 + (uint64_t)(*p - '0');
    }
    *delay_ms = secs > max_ms / 1000 ? max_ms : secs * 1000;
    return 0;
  }
  int64_t at_s;
  int64_t now_s = now_ms / 1000 - (now_ms % 1000 < 0);
  if (hl_http_date_parse(p, (size_t)(end - p), now_s, &at_s) != 0) return HL_EPARSE;
  /* Both instants lie within years 0–9999, so the difference cannot
   * overflow. */
  int64_t d = at_s * 1000 - now_ms;
  *delay_ms = d <= 0 ? 0 : (uint64_t)d > max_ms ? max_ms : (uint64_t)d;
  return 0;
}
