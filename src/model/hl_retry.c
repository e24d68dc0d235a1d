#include "model/hl_retry.h"
#include "common/hl_common.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define HOUR_MS (3600ull * 1000ull)

int hl_retry_schedule_parse(const char *text, hl_retry_schedule **out, hl_buf *err) {
  hl_retry_schedule *s = hl_calloc(1, sizeof *s);
  const char *p = text ? text : "";
  size_t index = 0;
  for (;;) {
    while (isspace((unsigned char)*p)) p++;
    const char *start = p;
    uint64_t v = 0;
    int digits = 0;
    while (isdigit((unsigned char)*p) && digits < 12) v = v * 10 + (uint64_t)(*p++ - '0'), digits++;
    uint64_t mult = 0;
    if (strncmp(p, "ms", 2) == 0) { mult = 1; p += 2; }
    else if (*p == 's') { mult = 1000; p++; }
    else if (*p == 'm') { mult = 60000; p++; }
    else if (*p == 'h') { mult = HOUR_MS; p++; }
    while (isspace((unsigned char)*p)) p++;
    if (digits == 0 || mult == 0 || (*p != ',' && *p != '\0') || v * mult > 24 * HOUR_MS) {
      const char *e = start;
      while (*e && *e != ',') e++;
      if (err)
        hl_buf_printf(err, "entry %zu ('%.*s') is not a duration: use a number with ms, s, m or h "
                           "(at most 24h), e.g. \"1s,5s,30s,2m,10m,1h,4h\"",
                      index + 1, (int)(e - start), start);
      hl_free(s);
      return HL_EINVAL;
    }
    if (s->n == HL_ARRAY_SIZE(s->delay_ms)) {
      if (err) hl_buf_printf(err, "at most %zu retries can be scheduled", HL_ARRAY_SIZE(s->delay_ms));
      hl_free(s);
      return HL_EINVAL;
    }
    s->delay_ms[s->n++] = v * mult;
    index++;
    if (*p == '\0') break;
    p++; /* ',' */
  }
  *out = s;
  return 0;
}

void hl_retry_schedule_free(hl_retry_schedule *s) { hl_free(s); }

int hl_retry_next_delay(const hl_retry_schedule *s, unsigned attempts_made, uint32_t random,
                        uint64_t *delay_ms) {
  if (!s || attempts_made == 0 || attempts_made > s->n) return HL_ENOTFOUND;
  uint64_t base = s->delay_ms[attempts_made - 1];
  /* factor in [0.8, 1.2]: spreads retries of a burst so a recovering
   * partner is not hit by all of them at once. */
  double factor = 0.8 + 0.4 * ((double)random / 4294967295.0);
  *delay_ms = (uint64_t)((double)base * factor + 0.5);
  return 0;
}
