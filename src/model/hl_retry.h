/* hl_retry.h — retry schedules ("1s,5s,30s,2m,10m,1h,4h"). A partner's
 * Retry-After is read by common/hl_http_time.h. */
#ifndef HL_RETRY_H
#define HL_RETRY_H

#include <stddef.h>
#include <stdint.h>

#include "common/hl_buf.h"

typedef struct hl_retry_schedule {
  size_t n;
  uint64_t delay_ms[64];  /* delay before retry i+1 */
} hl_retry_schedule;

/* Parses a comma-separated list of durations with units ms, s, m, h
 * (whitespace allowed, 1 to 64 entries, each at most 24 h). On error returns
 * HL_EINVAL and writes a message naming the bad entry to err. */
int hl_retry_schedule_parse(const char *text, hl_retry_schedule **out, hl_buf *err);
void hl_retry_schedule_free(hl_retry_schedule *s);

/* The delay before the next attempt after `attempts_made` attempts (1-based:
 * after the first attempt failed, retry 1 is due). Jitter: uniform ±20 %
 * from `random`. Returns 0, or HL_ENOTFOUND when the schedule is exhausted. */
int hl_retry_next_delay(const hl_retry_schedule *s, unsigned attempts_made, uint32_t random,
                        uint64_t *delay_ms);

#endif
