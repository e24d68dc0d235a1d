/* hl_hash.h — a keyed hash of bytes, for tables built over input.
 *
 * Why keyed: the inputs are chosen by whoever sends an event. With a public
 * hash function an attacker can pick names or array items that all collide
 * and turn every hash table built over them quadratic. The hash here is
 * SipHash-2-4 (libsodium's crypto_shorthash) under a random key drawn once
 * per process, so collisions cannot be planned and every table built over
 * input stays linear in expected time. Hashes differ between processes:
 * never store one.
 *
 * Thread-safety: may run on any thread (the key is made once, under
 * pthread_once). Allocates nothing.
 */
#ifndef HL_HASH_H
#define HL_HASH_H

#include <stddef.h>
#include <stdint.h>

/* The keyed hash of n bytes. */
uint64_t hl_hash_bytes(const void *p, size_t n);

/* FNV-1a (32 bits) of the string s, continuing from h (HL_FNV1A_INIT to
 * start). Not keyed, and the same in every process and version: for keys
 * that are stored (DynamoDB partition numbers), never for tables built
 * over input. */
#define HL_FNV1A_INIT 2166136261u
static inline uint32_t hl_fnv1a(uint32_t h, const char *s) {
  for (; *s; s++) h = (h ^ (uint8_t)*s) * 16777619u;
  return h;
}

#endif
