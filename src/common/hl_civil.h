/* hl_civil.h — the proleptic Gregorian calendar, as plain arithmetic: no
 * locale, no time zone, no libc time functions (timegm normalizes fields
 * out of range, so "31 February" would come back as a day of March).
 * Shared by the readers of HTTP dates (hl_http_time) and RFC 3339
 * timestamps (hl_rfc3339). */
#ifndef HL_CIVIL_H
#define HL_CIVIL_H

#include <stdbool.h>
#include <stdint.h>

/* Days since 1970-01-01 of the date y-m-d (m 1–12, d 1–31; negative
 * before 1970). Exact for years −10^9 to 10^9. */
int64_t hl_days_from_civil(int64_t y, int m, int d);
/* The inverse: the date of a day count. */
void hl_civil_from_days(int64_t days, int64_t *y, int *m, int *d);
bool hl_leap_year(int64_t y);
/* The days of month m (1–12) of year y: 28 to 31. */
int hl_days_in_month(int64_t y, int m);

#endif
