/* hl_filter.h — subscription filters: a JSON object of JSON pointer →
 * value or operator object, all of which must match:
 *
 *   {"/currency": "USD", "/amount": {"$gte": 100}, "/country": {"$in": ["DE","FR"]},
 *    "/coupon": {"$exists": false}}
 *
 * Operators: $eq $ne $gt $gte $lt $lte $in $exists. A plain value means $eq
 * (JSON equality; numbers by exact decimal value). Ordering operators
 * compare numbers exactly (hl_decimal_view_cmp, never double) and strings
 * bytewise; other type pairs do not match. A missing target fails every
 * operator except {"$exists": false} and $ne.
 *
 * Cost: matching runs on the loop and an event's numbers are as long as
 * its producer likes, so a match reads the event's number once per
 * condition and compares it with each operator's value in place, digits
 * read only while the two agree; $in is one hash of the target
 * (hl_json_hash) and a lookup among its values' hashes, made at compile.
 * The filters of one event's subscriptions share one hl_filter_memo, so
 * that the event is read once for all of them.
 */
#ifndef HL_FILTER_H
#define HL_FILTER_H

#include <stdbool.h>

#include "common/hl_buf.h"
#include "common/hl_strmap.h"
#include "json/hl_json.h"

typedef struct hl_filter hl_filter;

/* Compiles a filter; the result owns copies of everything it needs. A NULL
 * or empty filter compiles to one that matches every event. On error
 * returns HL_EINVAL and writes "<pointer into the filter>: <problem>" to err. */
int hl_filter_compile(const hl_json *filter, hl_filter **out, hl_buf *err);
/* The same; on error *pointer_len is how many bytes of what this call
 * appended to err are the pointer (0: the filter itself), so a caller can
 * name the member at fault. */
int hl_filter_compile_at(const hl_json *filter, hl_filter **out, hl_buf *err, size_t *pointer_len);
bool hl_filter_match(const hl_filter *f, const hl_json *event);
void hl_filter_free(hl_filter *f);

/* What one event's matches against many subscriptions' filters share: the
 * work that depends on the event alone. Each pointer's target is found
 * once, a number target read once, and hashed once for $in, whatever the
 * number of filters that name it. Without it an event met by N filters
 * cost N walks of its widest object and N reads of its longest number, on
 * the loop (a number of 900,001 digits: ~60 µs a read, so a minute of
 * loop per thousand events at 1,000 subscriptions). The event must
 * outlive the memo; the counts are for tests and benches. */
typedef struct {
  const hl_json *event;
  hl_strmap targets;   /* pointer text -> its target (hl_filter.c) */
  size_t found;        /* pointers followed into the event */
  size_t numbers_read; /* number targets read (hl_decimal_view_read) */
  size_t hashed;       /* targets hashed for $in */
} hl_filter_memo;
void hl_filter_memo_init(hl_filter_memo *m, const hl_json *event);
void hl_filter_memo_dispose(hl_filter_memo *m);
/* hl_filter_match of m's event, sharing m's work. */
bool hl_filter_match_memo(const hl_filter *f, hl_filter_memo *m);

#endif
