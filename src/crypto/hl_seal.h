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
 * With KMS (HOOKLOOP_KMS_KEY_ID, app/hl_app_kms.h) the sealing key is a
 * KMS data key, and each value carries the data key's KMS ciphertext, so
 * whoever reads it knows which KMS Decrypt gives its key back:
 *
 *   hlseal:v2:<key id>:<base64 KMS CiphertextBlob>:<base64(nonce | ciphertext | tag)>
 *
 * The sealer keeps the current data key (which seals) and the data keys
 * opened so far (a cache its owner fills and empties); v1 values still
 * open with the keys above (a key file, or the single data key of older
 * versions), and are reported stale under a data key.
 *
 * Ownership: the sealer owns copies of its keys and wipes them in
 * hl_sealer_dispose (and data keys as they are replaced or dropped). Nothing here blocks except hl_sealer_load (a small
 * file, read once at start-up). */
#ifndef HL_SEAL_H
#define HL_SEAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/hl_buf.h"

#define HL_SEAL_PREFIX "hlseal:v1:"
#define HL_SEAL_PREFIX_V2 "hlseal:v2:"
#define HL_SEAL_MAX_KEYS 8

/* A KMS data key: the plaintext and the ciphertext KMS made of it. */
typedef struct {
  char id[9];
  char *blob;          /* base64 CiphertextBlob, owned; NULL: no key */
  uint8_t key[32];
  uint64_t expires_ms; /* loop time after which the owner drops it */
} hl_seal_data_key;

typedef struct {
  /* Where the keys came from, named in errors (static text; NULL:
   * "HOOKLOOP_SECRET_KEY_FILE"). */
  const char *source;
  size_t nkeys;
  struct {
    char id[9];
    uint8_t key[32];
  } keys[HL_SEAL_MAX_KEYS];
  hl_seal_data_key current; /* blob set: seals (v2); otherwise keys[0] seals (v1) */
  hl_seal_data_key *opened; /* data keys that open v2 values, oldest first */
  size_t nopened, opened_cap;
} hl_sealer;

/* What makes the data keys of v2 values available to a sealer (the KMS
 * data keys of app/hl_app_kms.h): open asks for the keys of blobs[0..n)
 * (base64 ciphertexts, hl_seal_blob's; borrowed for the call) and done
 * runs once (during the call when every key is in hand already) with 0 once each is in the sealer or known not to be
 * KMS's (hl_unseal then names it), or a negative hl_err and why (KMS
 * refusing or out of reach). Keys opened stay in the sealer at least until
 * release, which every open is paired with, once done ran. */
typedef struct hl_seal_opener hl_seal_opener;
struct hl_seal_opener {
  void (*open)(hl_seal_opener *o, const char *const *blobs, size_t n,
               void (*done)(void *data, int status, const char *why), void *data);
  void (*release)(hl_seal_opener *o);
};

/* Reads the key file; 0, or HL_EINVAL with the reason in err. */
int hl_sealer_load(hl_sealer *s, const char *path, hl_buf *err);
/* A sealer over the given keys (the first seals); for tests and tools. */
void hl_sealer_init(hl_sealer *s, const uint8_t (*keys)[32], size_t n);
void hl_sealer_dispose(hl_sealer *s);

/* The data key that seals from now on (v2); the previous one is wiped. */
void hl_sealer_set_current(hl_sealer *s, const uint8_t key[32], const char *blob_b64, uint64_t expires_ms);
/* Adds a data key that opens what it sealed (a no-op if it is there). */
void hl_sealer_add_opened(hl_sealer *s, const uint8_t key[32], const char *blob_b64, uint64_t expires_ms);
/* Wipes the opened data keys that expired at now_ms, then the oldest ones
 * beyond keep; returns how many went. */
size_t hl_sealer_expire(hl_sealer *s, uint64_t now_ms, size_t keep);
/* Whether the data key of this ciphertext (base64, len bytes) is in hand. */
bool hl_sealer_has_blob(const hl_sealer *s, const char *blob, size_t len);

/* Whether text is sealed (either version). */
bool hl_is_sealed(const char *text);
/* The data key ciphertext a v2 value carries (a pointer into text, len
 * bytes); false for anything else. */
bool hl_seal_blob(const char *text, const char **blob, size_t *len);
/* Whether text is sealed with the key that seals now. */
bool hl_seal_is_current(const hl_sealer *s, const char *text);
/* Appends the sealed form of plain[0..len) to out (which is reset first). */
void hl_seal(const hl_sealer *s, const char *aad, const void *plain, size_t len, hl_buf *out);
/* Opens sealed text into out (reset first; NUL-terminated). *stale is set
 * when a v1 value was sealed with a key other than the first, or while a
 * data key seals (seal it again). A v2 value under an older data key is
 * not stale: processes sharing a store each have their own data key, and
 * would otherwise reseal each other's values forever (`hookloop secrets
 * reseal` moves them deliberately).
 * Returns 0, or HL_EINVAL with the reason in err: an unknown key id (a key
 * missing from the file), or a ciphertext that does not authenticate. */
int hl_unseal(const hl_sealer *s, const char *aad, const char *text, hl_buf *out, bool *stale, hl_buf *err);

#endif
