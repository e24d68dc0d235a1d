/* hl_rfc3339.h — RFC 3339 timestamps (§5.6), read by their grammar:
 *
 *   full-date  2026-11-29               four-digit year, the day existing in its month
 *   full-time  20:31:33.25+01:00        hour 00–23, minute 00–59, second 00–60,
 *                                       any number of fraction digits, an offset
 *                                       of Z (or z) or ±hh:mm (hh 00–23, mm 00–59)
 *   date-time  2026-11-29T20:31:33Z     full-date "T" (or "t") full-time
 *
 * Second 60 is a leap second, which happens only at 23:59:60 UTC: a
 * local 23:59:60 with an offset of +01:00 is refused, 00:59:60+01:00 taken
 * (§5.7). Nothing may precede or follow, and no field takes a sign, a
 * space or a digit more or less (sscanf's %d took all three). Used for
 * the API's time parameters, the credentials' Expiration and JSON
 * Schema's date, time and date-time formats. Pure functions, no locale,
 * no time zone. */
#ifndef HL_RFC3339_H
#define HL_RFC3339_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A date-time's separator may be a space too (RFC 3339's note to §5.6
 * allows it "for readability"; the grammar, and JSON Schema, do not). */
#define HL_RFC3339_SPACE 1u

/* full-date: 0 and, when unix_s is not NULL, its midnight UTC in seconds
 * since 1970 (negative before); HL_EPARSE otherwise. */
int hl_rfc3339_date(const char *s, size_t len, int64_t *unix_s);
/* full-time: 0, or HL_EPARSE. */
int hl_rfc3339_time(const char *s, size_t len);
/* date-time: 0 and, when unix_ms is not NULL, the instant in milliseconds
 * since 1970 (fraction digits past the third dropped; a leap second reads
 * as the first second after it); HL_EPARSE otherwise. flags: 0 or
 * HL_RFC3339_SPACE. */
int hl_rfc3339_datetime(const char *s, size_t len, unsigned flags, int64_t *unix_ms);

#endif
