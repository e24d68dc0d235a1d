/* hl_json_hash.h — a keyed hash of JSON values, for the sets JSON Schema's
 * enum, const and uniqueItems are checked against.
 *
 * Keyed (common/hl_hash.h) because the values are the sender's choice: they
 * cannot be picked to collide. Thread-safety: may run on any thread.
 * Allocates only for a number whose canonical form is longer than 128
 * bytes or an object of more than HL_NAME_INDEX_SMALL members (freed before
 * it returns).
 */
#ifndef HL_JSON_HASH_H
#define HL_JSON_HASH_H

#include <stdint.h>

#include "json/hl_json.h"

/* A hash of v consistent with hl_json_equal: equal values hash equally
 * (numbers by exact decimal value, so 1, 1.0 and 10e-1 hash alike; objects
 * regardless of member order, by the last member of each name). *nodes (may
 * be NULL) is increased by the number of values visited, the work done. */
uint64_t hl_json_hash(const hl_json *v, uint64_t *nodes);

#endif
