/* hl_seal.h — secrets sealed at rest: AES-256-GCM (mbedTLS) under a local
 * key (HOOKLOOP_SECRET_KEY_FILE), as text a store keeps in a text column.
 *
 *   hlseal:v1:<key id>:<base64(nonce 12 | ciphertext | tag 16)>
 *
 * The key id is the first 8 hex digits of SHA-256("hookloop seal key" | key),
 * so a record names the key that sealed it without revealing it. The
 * additional data binds a ciphertext to what it protects (a subscription id
 * and field name): a sealed value copied to another row or field does not
 * open there.
 *
 * The key file holds one or more keys, one per line, each 32 bytes in
 * base64 (openssl rand -base64 32); the first seals, all open. Rotating the
 * key is putting a new first line and keeping the old ones until every
 * record has been sealed again (hl_unseal reports those that need it).
 *
 * Ownership: the sealer owns copies of its keys and wipes them in
 * hl_sealer_dispose. Nothing here blocks except hl_sealer_load (a small
 * file, read once at start-up). */
#ifndef HL_SEAL_H
#define HL_SEAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/hl_buf.h"

#define HL_SEAL_PREFIX "hlseal:v1:"
#define HL_SEAL_MAX_KEYS 8

typedef struct {
  /* Where the keys came from, named in errors (static text; NULL:
   * "HOOKLOOP_SECRET_KEY_FILE"). */
  const char *source;
  size_t nkeys;
  struct {
    char id[9];
    uint8_t key[32];
  } keys[HL_SEAL_MAX_KEYS];
} hl_sealer;

/* Reads the key file; 0, or HL_EINVAL with the reason in err. */
int hl_sealer_load(hl_sealer *s, const char *path, hl_buf *err);
/* A sealer over the given keys (the first seals); for tests and tools. */
void hl_sealer_init(hl_sealer *s, const uint8_t (*keys)[32], size_t n);
void hl_sealer_dispose(hl_sealer *s);

/* Whether text is sealed (starts with HL_SEAL_PREFIX). */
bool hl_is_sealed(const char *text);
/* Appends the sealed form of plain[0..len) to out (which is reset first). */
void hl_seal(const hl_sealer *s, const char *aad, const void *plain, size_t len, hl_buf *out);
/* Opens sealed text into out (reset first; NUL-terminated). *stale is set
 * when it was sealed with a key other than the first (seal it again).
 * Returns 0, or HL_EINVAL with the reason in err: an unknown key id (a key
 * missing from the file), or a ciphertext that does not authenticate. */
int hl_unseal(const hl_sealer *s, const char *aad, const char *text, hl_buf *out, bool *stale, hl_buf *err);

#endif
