/* hl_json_hash.h — keyed hashing of JSON member names and values.
 *
 * Why keyed: the inputs are chosen by whoever sends an event. With a public
 * hash function an attacker can pick names or array items that all collide
 * and turn every hash table built over them quadratic. The hash here is
 * SipHash-2-4 (libsodium's crypto_shorthash) under a random key drawn once
 * per process, so collisions cannot be planned and every table built over
 * input stays linear in expected time.
 *
 * Thread-safety: all functions may run on any thread (the key is made once,
 * under pthread_once). Nothing here allocates except hl_name_index over more
 * than HL_NAME_INDEX_SMALL members (freed by hl_name_index_dispose).
 */
#ifndef HL_JSON_HASH_H
#define HL_JSON_HASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json/hl_json.h"

/* The keyed hash of n bytes. */
uint64_t hl_hash_bytes(const void *p, size_t n);

/* A hash of v consistent with hl_json_equal: equal values hash equally
 * (numbers by exact decimal value, so 1, 1.0 and 10e-1 hash alike; objects
 * regardless of member order, by the last member of each name). *nodes (may
 * be NULL) is increased by the number of values visited, the work done. */
uint64_t hl_json_hash(const hl_json *v, uint64_t *nodes);

/* An index over the names of n members (an object's, or members still being
 * parsed): finds a name's member in expected constant time. A later member of
 * a name shadows an earlier one, as hl_json_get does. */
#define HL_NAME_INDEX_SMALL 8
typedef struct {
  const hl_json_member *m;
  uint32_t n;
  uint32_t *slots;   /* member index + 1, 0 empty; NULL: n is small, scan */
  uint32_t mask;
  uint32_t distinct; /* number of distinct names */
  int32_t dup;       /* index of the first member whose name came before, or -1 */
} hl_name_index;

void hl_name_index_build(hl_name_index *ix, const hl_json_member *m, uint32_t n);
/* Index of the last member named key, or -1. */
int32_t hl_name_index_find(const hl_name_index *ix, const char *key, size_t len);
void hl_name_index_dispose(hl_name_index *ix);

#endif
