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

#endif
