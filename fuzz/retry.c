/* fuzz_retry: a partner's Retry-After (hl_http_retry_after_parse and the
 * HTTP-date reader, src/common/hl_http_time) and a subscription's retry
 * schedule (src/model/hl_retry), both read from the same input.
 *
 * Properties, beyond no crash, leak or undefined behaviour (a partner's
 * bytes reach hl_http_retry_after_parse as they come):
 * - Retry-After: an answer is 0 or HL_EPARSE, and a refusal leaves the
 *   delay alone; a delay is at most an hour; a value of digits only is
 *   always taken, as min(value, 3600) seconds; any other value is taken
 *   exactly when it is an HTTP-date, and then the delay is the date less
 *   now, between 0 and an hour;
 * - an HTTP-date taken is written back the way its form writes it: its
 *   text after the day name is what glibc's calendar writes for the
 *   instant read (the day name is not checked against the date, and a
 *   leap second is left out of the comparison);
 * - a schedule taken has 1 to 64 delays of at most 24 h, and written again
 *   as milliseconds reads back to the same delays; each retry's delay is
 *   within ±20 % of its entry; a refusal is HL_EINVAL with a message. */
#include "fuzz_util.h"
#include "common/hl_common.h"
#include "common/hl_http_time.h"
#include "model/hl_retry.h"

#include <ctype.h>
#include <time.h>

#define HOUR_MS 3600000ull

/* The form's text after the day name, for the date glibc's calendar gives
 * the instant (printed here with four-digit years: strftime's %Y leaves
 * years before 1000 unpadded). */
static void check_written_back(const char *s, size_t len, int64_t t) {
  static const char *const mon[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  time_t tt = (time_t)t;
  struct tm tm;
  FUZZ_CHECK(gmtime_r(&tt, &tm) != NULL);
  int y = tm.tm_year + 1900;
  char want[64];
  const char *after;
  if (len == HL_HTTP_DATE_LEN && s[3] == ',') { /* IMF-fixdate */
    if (memcmp(s + 23, "60", 2) == 0) return;
    snprintf(want, sizeof want, ", %02d %s %04d %02d:%02d:%02d GMT", tm.tm_mday, mon[tm.tm_mon], y, tm.tm_hour,
             tm.tm_min, tm.tm_sec);
    after = s + 3;
  } else if (s[3] == ' ') { /* asctime-date: "Nov  6" or "Nov 06" */
    FUZZ_CHECK(len == 24);
    if (memcmp(s + 17, "60", 2) == 0) return;
    snprintf(want, sizeof want, " %s %02d %02d:%02d:%02d %04d", mon[tm.tm_mon], tm.tm_mday, tm.tm_hour, tm.tm_min,
             tm.tm_sec, y);
    if (s[8] == ' ') want[5] = want[5] == '0' ? ' ' : want[5];
    after = s + 3;
  } else { /* rfc850-date */
    after = memchr(s, ',', len);
    FUZZ_CHECK(after != NULL);
    if (memcmp(s + len - 6, "60", 2) == 0) return;
    snprintf(want, sizeof want, ", %02d-%s-%02d %02d:%02d:%02d GMT", tm.tm_mday, mon[tm.tm_mon], y % 100,
             tm.tm_hour, tm.tm_min, tm.tm_sec);
  }
  FUZZ_CHECK((size_t)(s + len - after) == strlen(want) && memcmp(after, want, strlen(want)) == 0);
}

static void check_retry_after(const char *value, size_t len, int64_t now_ms) {
  uint64_t delay = 0xfeedu;
  int rc = hl_http_retry_after_parse(value, len, now_ms, HOUR_MS, &delay);
  FUZZ_CHECK(rc == 0 || rc == HL_EPARSE);
  if (rc != 0) FUZZ_CHECK(delay == 0xfeedu);
  else FUZZ_CHECK(delay <= HOUR_MS);

  const char *p = value, *end = value + len;
  while (p < end && isspace((unsigned char)*p)) p++;
  while (end > p && isspace((unsigned char)end[-1])) end--;
  bool all_digits = p < end;
  uint64_t secs = 0;
  for (const char *q = p; q < end; q++) {
    if (!isdigit((unsigned char)*q)) all_digits = false;
    else if (secs <= 3600) secs = secs * 10 + (uint64_t)(*q - '0');
  }
  if (all_digits) {
    FUZZ_CHECK(rc == 0 && delay == (secs > 3600 ? 3600 : secs) * 1000);
    return;
  }
  int64_t t = 0x5eed;
  int64_t now_s = now_ms / 1000 - (now_ms % 1000 < 0);
  int drc = hl_http_date_parse(p, (size_t)(end - p), now_s, &t);
  FUZZ_CHECK(drc == 0 || drc == HL_EPARSE);
  FUZZ_CHECK((drc == 0) == (rc == 0));
  if (drc != 0) {
    FUZZ_CHECK(t == 0x5eed);
    return;
  }
  FUZZ_CHECK(t >= -62167219200 && t <= 253402300799); /* years 0–9999 */
  int64_t d = t * 1000 - now_ms;
  FUZZ_CHECK(delay == (d <= 0 ? 0 : (uint64_t)d > HOUR_MS ? HOUR_MS : (uint64_t)d));
  char back[HL_HTTP_DATE_LEN + 1];
  FUZZ_CHECK(hl_http_date_format(t, back) == 0);
  int64_t again = 0;
  FUZZ_CHECK(hl_http_date_parse(back, HL_HTTP_DATE_LEN, now_s, &again) == 0 && again == t);
  check_written_back(p, (size_t)(end - p), t);
}

static void check_schedule(const char *text) {
  hl_retry_schedule *s = NULL;
  hl_buf err = HL_BUF_INIT;
  int rc = hl_retry_schedule_parse(text, &s, &err);
  if (rc != 0) {
    FUZZ_CHECK(rc == HL_EINVAL && s == NULL && err.len > 0);
    hl_buf_dispose(&err);
    return;
  }
  FUZZ_CHECK(s && s->n >= 1 && s->n <= HL_ARRAY_SIZE(s->delay_ms) && err.len == 0);
  hl_buf again = HL_BUF_INIT;
  for (size_t i = 0; i < s->n; i++) {
    FUZZ_CHECK(s->delay_ms[i] <= 24 * HOUR_MS);
    hl_buf_printf(&again, "%s%llums", i ? "," : "", (unsigned long long)s->delay_ms[i]);
    uint64_t lo = 0, hi = 0;
    FUZZ_CHECK(hl_retry_next_delay(s, (unsigned)i + 1, 0, &lo) == 0);
    FUZZ_CHECK(hl_retry_next_delay(s, (unsigned)i + 1, UINT32_MAX, &hi) == 0);
    FUZZ_CHECK(lo * 10 + 10 >= s->delay_ms[i] * 8 && lo * 10 <= s->delay_ms[i] * 8 + 10);
    FUZZ_CHECK(hi * 10 + 10 >= s->delay_ms[i] * 12 && hi * 10 <= s->delay_ms[i] * 12 + 10);
  }
  uint64_t none;
  FUZZ_CHECK(hl_retry_next_delay(s, (unsigned)s->n + 1, 0, &none) == HL_ENOTFOUND);
  hl_retry_schedule *t = NULL;
  FUZZ_CHECK(hl_retry_schedule_parse(again.data, &t, NULL) == 0);
  FUZZ_CHECK(t->n == s->n && memcmp(t->delay_ms, s->delay_ms, s->n * sizeof s->delay_ms[0]) == 0);
  hl_retry_schedule_free(t);
  hl_retry_schedule_free(s);
  hl_buf_dispose(&again);
  hl_buf_dispose(&err);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc; (void)argv;
  fuzz_quiet();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = hl_malloc(size + 1);
  memcpy(text, data, size);
  text[size] = '\0'; /* a schedule is text: it ends at a NUL */
  check_retry_after(text, size, 1796083200123); /* 2026-12-01T00:00:00.123Z */
  check_retry_after(text, size, 784111777000);  /* the RFC's example instant, 1994 */
  check_schedule(text);
  hl_free(text);
  return 0;
}
