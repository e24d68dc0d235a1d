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
 */
#ifndef HL_FILTER_H
#define HL_FILTER_H

#include <stdbool.h>

#include "common/hl_buf.h"
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

#endif
