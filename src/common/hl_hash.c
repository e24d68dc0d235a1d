/* A keyed hash of bytes (see hl_hash.h). */
#include "common/hl_hash.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

static unsigned char hash_key[crypto_shorthash_KEYBYTES];
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

static void make_key(void) {
  if (sodium_init() < 0) abort(); /* no randomness: nothing safe to do */
  randombytes_buf(hash_key, sizeof hash_key);
}

uint64_t hl_hash_bytes(const void *p, size_t n) {
  pthread_once(&key_once, make_key);
  unsigned char out[crypto_shorthash_BYTES];
  crypto_shorthash(out, p, n, hash_key);
  uint64_t h;
  memcpy(&h, out, sizeof h);
  return h;
}
