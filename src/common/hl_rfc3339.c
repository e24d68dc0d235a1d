#include "common/hl_rfc3339.h"
#include "common/hl_civil.h"
#include "common/hl_common.h"
#include "common/hl_cursor.h"

static bool date(hl_cursor *c, int *y, int *m, int *d) {
  return hl_cursor_digits(c, 4, y) && hl_cursor_chr(c, '-') && hl_cursor_digits(c, 2, m) && *m >= 1 && *m <= 12 &&
         hl_cursor_chr(c, '-') && hl_cursor_digits(c, 2, d) && *d >= 1 && *d <= hl_days_in_month(*y, *m);
}

/* full-time -> its UTC seconds into the day (from -86400 to 2 * 86400: the
 * offset may move it to the day before or after) and its milliseconds. */
static bool full_time(hl_cursor *c, int64_t *secs, int *ms) {
  int h, mi, s;
  if (!hl_cursor_digits(c, 2, &h) || h > 23 || !hl_cursor_chr(c, ':') || !hl_cursor_digits(c, 2, &mi) || mi > 59 ||
      !hl_cursor_chr(c, ':') || !hl_cursor_digits(c, 2, &s) || s > 60)
    return false;
  *ms = 0;
  if (hl_cursor_chr(c, '.')) {
    int scale = 100, n = 0;
    for (; c->p < c->end && *c->p >= '0' && *c->p <= '9'; c->p++, n++, scale /= 10) *ms += (*c->p - '0') * scale;
    if (n == 0) return false;
  }
  int off = 0; /* minutes east of UTC */
  if (hl_cursor_chr(c, 'Z') || hl_cursor_chr(c, 'z')) {
  } else if (c->p < c->end && (*c->p == '+' || *c->p == '-')) {
    int sign = *c->p++ == '-' ? -1 : 1, oh, om;
    if (!hl_cursor_digits(c, 2, &oh) || oh > 23 || !hl_cursor_chr(c, ':') || !hl_cursor_digits(c, 2, &om) || om > 59)
      return false;
    off = sign * (oh * 60 + om);
  } else {
    return false;
  }
  int utc_min = h * 60 + mi - off;
  /* A leap second is inserted at the end of a UTC day only. */
  if (s == 60 && ((utc_min % 1440) + 1440) % 1440 != 23 * 60 + 59) return false;
  *secs = (int64_t)utc_min * 60 + s;
  return true;
}

int hl_rfc3339_date(const char *s, size_t len, int64_t *unix_s) {
  hl_cursor c = {s, s + len};
  int y, m, d;
  if (!date(&c, &y, &m, &d) || c.p != c.end) return HL_EPARSE;
  if (unix_s) *unix_s = hl_days_from_civil(y, m, d) * 86400;
  return 0;
}

int hl_rfc3339_time(const char *s, size_t len) {
  hl_cursor c = {s, s + len};
  int64_t secs;
  int ms;
  return full_time(&c, &secs, &ms) && c.p == c.end ? 0 : HL_EPARSE;
}

int hl_rfc3339_datetime(const char *s, size_t len, unsigned flags, int64_t *unix_ms) {
  hl_cursor c = {s, s + len};
  int y, m, d, ms;
  int64_t secs;
  if (!date(&c, &y, &m, &d)) return HL_EPARSE;
  if (!hl_cursor_chr(&c, 'T') && !hl_cursor_chr(&c, 't') && !((flags & HL_RFC3339_SPACE) && hl_cursor_chr(&c, ' ')))
    return HL_EPARSE;
  if (!full_time(&c, &secs, &ms) || c.p != c.end) return HL_EPARSE;
  if (unix_ms) *unix_ms = (hl_days_from_civil(y, m, d) * 86400 + secs) * 1000 + ms;
  return 0;
}
