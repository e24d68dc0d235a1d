/* hl_http_time.h — HTTP's times: HTTP-date (RFC 9110 §5.6.7), read and
 * written, and Retry-After (§10.2.3), read. Every client of the project
 * that honours a Retry-After (the partner sender, the inbox client) reads
 * it here, and the HTTP server writes its Date here.
 *
 * A Retry-After may be a date, and RFC 9110 asks every recipient to accept
 * all three of its forms:
 *
 *   IMF-fixdate   Sun, 06 Nov 1994 08:49:37 GMT   (the one senders use)
 *   rfc850-date   Sunday, 06-Nov-94 08:49:37 GMT  (obsolete)
 *   asctime-date  Sun Nov  6 08:49:37 1994        (obsolete)
 *
 * The reader takes exactly the grammar: the day name must be one of the
 * seven (it is not checked against the date, as the RFC leaves it), every
 * field is in range (the day exists in its month, second 60 only as a
 * leap second), and nothing precedes or follows. What a partner writes is
 * arbitrary bytes, so nothing it can write makes the arithmetic overflow:
 * a year has four digits at most. Pure functions, no locale, no time zone. */
#ifndef HL_HTTP_TIME_H
#define HL_HTTP_TIME_H

#include <stddef.h>
#include <stdint.h>

/* The instant `s` (len bytes, no surrounding whitespace) names, in seconds
 * since 1970-01-01T00:00:00Z, to *unix_s (negative before 1970). now_s is
 * the present: an rfc850-date's two-digit year is the latest year with
 * those digits that is at most 50 years after now's (RFC 9110 §5.6.7).
 * The instant is within years 0–9999 (a leap second that would leave them
 * is refused). Returns 0, or HL_EPARSE and leaves *unix_s alone. */
int hl_http_date_parse(const char *s, size_t len, int64_t now_s, int64_t *unix_s);

#define HL_HTTP_DATE_LEN 29 /* "Sun, 06 Nov 1994 08:49:37 GMT" */

/* Writes `unix_s` as an IMF-fixdate and a NUL into out. Years 0–9999 only
 * (unix_s from -62167219200 to 253402300799); returns HL_EINVAL outside. */
int hl_http_date_format(int64_t unix_s, char out[HL_HTTP_DATE_LEN + 1]);

/* Reads a Retry-After field value (len bytes; whitespace around it, the
 * CRLF of a header line included, is skipped): delta-seconds, or an
 * HTTP-date taken relative to now_ms. The delay in ms goes to *delay_ms,
 * capped at max_ms (a date already past gives 0). Returns 0, or HL_EPARSE
 * for anything else (then *delay_ms is left alone). */
int hl_http_retry_after_parse(const char *value, size_t len, int64_t now_ms, uint64_t max_ms, uint64_t *delay_ms);

#endif
