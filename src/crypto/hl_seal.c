#include "crypto/hl_seal.h"
#include "common/hl_common.h"
#include "crypto/hl_crypto.h"

#include <mbedtls/gcm.h>
#include <mbedtls/platform_util.h>
#include <stdio.h>
#include <string.h>

#define NONCE_LEN 12
#define TAG_LEN 16

static void key_id(const uint8_t key[32], char out[9]) {
  uint8_t buf[17 + 32], h[32];
  memcpy(buf, "hookloop seal key", 17);
  memcpy(buf + 17, key, 32);
  hl_sha256(buf, sizeof buf, h);
  mbedtls_platform_zeroize(buf, sizeof buf);
  hl_hex(h, 4, out);
  out[8] = '\0';
}

void hl_sealer_init(hl_sealer *s, const uint8_t (*keys)[32], size_t n) {
  memset(s, 0, sizeof *s);
  for (size_t i = 0; i < n && i < HL_SEAL_MAX_KEYS; i++) {
    memcpy(s->keys[i].key, keys[i], 32);
    key_id(keys[i], s->keys[i].id);
    s->nkeys++;
  }
}

static void data_key_wipe(hl_seal_data_key *d) {
  hl_free(d->blob);
  mbedtls_platform_zeroize(d, sizeof *d);
}

static void data_key_set(hl_seal_data_key *d, const uint8_t key[32], const char *blob_b64, uint64_t expires_ms) {
  memcpy(d->key, key, 32);
  key_id(key, d->id);
  d->blob = hl_strdup(blob_b64);
  d->expires_ms = expires_ms;
}

void hl_sealer_dispose(hl_sealer *s) {
  data_key_wipe(&s->current);
  for (size_t i = 0; i < s->nopened; i++) data_key_wipe(&s->opened[i]);
  hl_free(s->opened);
  mbedtls_platform_zeroize(s, sizeof *s);
}

void hl_sealer_set_current(hl_sealer *s, const uint8_t key[32], const char *blob_b64, uint64_t expires_ms) {
  data_key_wipe(&s->current);
  data_key_set(&s->current, key, blob_b64, expires_ms);
}

static const hl_seal_data_key *find_blob(const hl_sealer *s, const char *blob, size_t len) {
  if (s->current.blob && strlen(s->current.blob) == len && memcmp(s->current.blob, blob, len) == 0) return &s->current;
  for (size_t i = 0; i < s->nopened; i++)
    if (strlen(s->opened[i].blob) == len && memcmp(s->opened[i].blob, blob, len) == 0) return &s->opened[i];
  return NULL;
}

bool hl_sealer_has_blob(const hl_sealer *s, const char *blob, size_t len) { return find_blob(s, blob, len) != NULL; }

void hl_sealer_add_opened(hl_sealer *s, const uint8_t key[32], const char *blob_b64, uint64_t expires_ms) {
  if (find_blob(s, blob_b64, strlen(blob_b64))) return;
  if (s->nopened == s->opened_cap) {
    /* Grown by hand rather than realloc'd: the old array holds keys and
     * is wiped before it goes. */
    size_t cap = s->opened_cap ? s->opened_cap * 2 : 8;
    hl_seal_data_key *n = hl_calloc(cap, sizeof *n);
    if (s->nopened) memcpy(n, s->opened, s->nopened * sizeof *n);
    if (s->opened) mbedtls_platform_zeroize(s->opened, s->opened_cap * sizeof *s->opened);
    hl_free(s->opened);
    s->opened = n;
    s->opened_cap = cap;
  }
  data_key_set(&s->opened[s->nopened++], key, blob_b64, expires_ms);
}

size_t hl_sealer_expire(hl_sealer *s, uint64_t now_ms, size_t keep) {
  size_t kept = 0, gone = 0;
  /* Expired ones first, then the oldest of the rest until keep remain. */
  size_t live = 0;
  for (size_t i = 0; i < s->nopened; i++) live += s->opened[i].expires_ms > now_ms;
  size_t excess = live > keep ? live - keep : 0;
  for (size_t i = 0; i < s->nopened; i++) {
    hl_seal_data_key *d = &s->opened[i];
    bool expired = d->expires_ms <= now_ms;
    if (expired || excess) {
      if (!expired) excess--;
      data_key_wipe(d);
      gone++;
      continue;
    }
    if (kept != i) {
      s->opened[kept] = *d;
      mbedtls_platform_zeroize(d, sizeof *d);
    }
    kept++;
  }
  s->nopened = kept;
  return gone;
}

int hl_sealer_load(hl_sealer *s, const char *path, hl_buf *err) {
  memset(s, 0, sizeof *s);
  FILE *f = fopen(path, "r");
  if (!f) {
    hl_buf_printf(err, "HOOKLOOP_SECRET_KEY_FILE=%s: cannot be read", path);
    return HL_EINVAL;
  }
  char line[256];
  int rc = 0, lineno = 0;
  while (rc == 0 && fgets(line, sizeof line, f)) {
    lineno++;
    size_t n = strcspn(line, "\r\n");
    line[n] = '\0';
    if (n == 0 || line[0] == '#') continue;
    uint8_t key[33];
    if (s->nkeys == HL_SEAL_MAX_KEYS) {
      hl_buf_printf(err, "HOOKLOOP_SECRET_KEY_FILE=%s: more than %d keys", path, HL_SEAL_MAX_KEYS);
      rc = HL_EINVAL;
    } else if (hl_base64_decode(line, n, key, sizeof key) != 32) {
      hl_buf_printf(err, "HOOKLOOP_SECRET_KEY_FILE=%s: line %d is not 32 bytes in base64 (make one with "
                         "`openssl rand -base64 32`)", path, lineno);
      rc = HL_EINVAL;
    } else {
      memcpy(s->keys[s->nkeys].key, key, 32);
      key_id(key, s->keys[s->nkeys].id);
      s->nkeys++;
    }
    mbedtls_platform_zeroize(key, sizeof key);
  }
  mbedtls_platform_zeroize(line, sizeof line);
  fclose(f);
  if (rc == 0 && s->nkeys == 0) {
    hl_buf_printf(err, "HOOKLOOP_SECRET_KEY_FILE=%s: holds no key", path);
    rc = HL_EINVAL;
  }
  if (rc != 0) hl_sealer_dispose(s);
  return rc;
}

static bool has_prefix(const char *text, const char *p) { return text && strncmp(text, p, strlen(p)) == 0; }

bool hl_is_sealed(const char *text) { return has_prefix(text, HL_SEAL_PREFIX) || has_prefix(text, HL_SEAL_PREFIX_V2); }

/* v2: "<id>:<blob>:<payload>" after the prefix. */
bool hl_seal_blob(const char *text, const char **blob, size_t *len) {
  if (!has_prefix(text, HL_SEAL_PREFIX_V2)) return false;
  const char *id = text + strlen(HL_SEAL_PREFIX_V2), *c1 = strchr(id, ':');
  const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
  if (!c1 || c1 - id != 8 || !c2 || c2 == c1 + 1) return false;
  *blob = c1 + 1;
  *len = (size_t)(c2 - c1 - 1);
  return true;
}

bool hl_seal_is_current(const hl_sealer *s, const char *text) {
  const char *blob;
  size_t len;
  if (s->current.blob)
    return hl_seal_blob(text, &blob, &len) && strlen(s->current.blob) == len && memcmp(s->current.blob, blob, len) == 0;
  return has_prefix(text, HL_SEAL_PREFIX) && s->nkeys && strncmp(text + strlen(HL_SEAL_PREFIX), s->keys[0].id, 8) == 0 &&
         text[strlen(HL_SEAL_PREFIX) + 8] == ':';
}

void hl_seal(const hl_sealer *s, const char *aad, const void *plain, size_t len, hl_buf *out) {
  const uint8_t *key = s->current.blob ? s->current.key : s->keys[0].key;
  size_t raw_len = NONCE_LEN + len + TAG_LEN;
  uint8_t *raw = hl_malloc(raw_len);
  hl_random_bytes(raw, NONCE_LEN); /* random 96-bit nonces: far below 2^32 records per key */
  mbedtls_gcm_context g;
  mbedtls_gcm_init(&g);
  mbedtls_gcm_setkey(&g, MBEDTLS_CIPHER_ID_AES, key, 256);
  mbedtls_gcm_crypt_and_tag(&g, MBEDTLS_GCM_ENCRYPT, len, raw, NONCE_LEN, (const uint8_t *)aad, strlen(aad), plain,
                            raw + NONCE_LEN, TAG_LEN, raw + NONCE_LEN + len);
  mbedtls_gcm_free(&g);
  hl_buf_reset(out);
  if (s->current.blob) hl_buf_printf(out, HL_SEAL_PREFIX_V2 "%s:%s:", s->current.id, s->current.blob);
  else hl_buf_printf(out, HL_SEAL_PREFIX "%s:", s->keys[0].id);
  hl_base64_encode(out, raw, raw_len);
  hl_free(raw);
}

/* Finds the key of sealed text: its id (for messages), where the payload
 * starts and whether another key should seal it now; NULL with the reason
 * in err. */
static const uint8_t *key_of(const hl_sealer *s, const char *text, const char **id, const char **payload, bool *stale,
                             hl_buf *err) {
  const char *blob;
  size_t blob_len;
  if (hl_seal_blob(text, &blob, &blob_len)) {
    *id = text + strlen(HL_SEAL_PREFIX_V2);
    *payload = blob + blob_len + 1;
    const hl_seal_data_key *d = find_blob(s, blob, blob_len);
    if (!d) {
      hl_buf_printf(err, "sealed with KMS data key %.8s, whose ciphertext has not been decrypted (%s)", *id,
                    s->current.blob ? "KMS Decrypt did not give it back" : "HOOKLOOP_KMS_KEY_ID is not set");
      return NULL;
    }
    *stale = false; /* see hl_unseal in the header */
    return d->key;
  }
  if (!has_prefix(text, HL_SEAL_PREFIX)) {
    hl_buf_puts(err, has_prefix(text, "hlseal:") ? "sealed in a format this version does not read" : "not a sealed value");
    return NULL;
  }
  *id = text + strlen(HL_SEAL_PREFIX);
  const char *colon = strchr(*id, ':');
  size_t k = 0;
  while (colon && colon - *id == 8 && k < s->nkeys && strncmp(s->keys[k].id, *id, 8) != 0) k++;
  if (!colon || colon - *id != 8 || k == s->nkeys) {
    hl_buf_printf(err, "sealed with key %.8s, which %s does not hold", *id,
                  s->source ? s->source : "HOOKLOOP_SECRET_KEY_FILE");
    return NULL;
  }
  *payload = colon + 1;
  *stale = k != 0 || s->current.blob != NULL;
  return s->keys[k].key;
}

int hl_unseal(const hl_sealer *s, const char *aad, const char *text, hl_buf *out, bool *stale, hl_buf *err) {
  hl_buf_reset(out);
  const char *id = NULL, *b64 = NULL;
  bool old = false;
  const uint8_t *key = key_of(s, text, &id, &b64, &old, err);
  if (!key) return HL_EINVAL;
  size_t b64_len = strlen(b64), cap = b64_len / 4 * 3 + 3;
  uint8_t *raw = hl_malloc(cap);
  int raw_len = hl_base64_decode(b64, b64_len, raw, cap);
  int rc = HL_EINVAL;
  if (raw_len >= NONCE_LEN + TAG_LEN) {
    size_t len = (size_t)raw_len - NONCE_LEN - TAG_LEN;
    hl_buf_reserve(out, len + 1);
    mbedtls_gcm_context g;
    mbedtls_gcm_init(&g);
    mbedtls_gcm_setkey(&g, MBEDTLS_CIPHER_ID_AES, key, 256);
    if (mbedtls_gcm_auth_decrypt(&g, len, raw, NONCE_LEN, (const uint8_t *)aad, strlen(aad), raw + NONCE_LEN + len,
                                 TAG_LEN, raw + NONCE_LEN, (uint8_t *)out->data) == 0) {
      out->len = len;
      out->data[len] = '\0';
      rc = 0;
    }
    mbedtls_gcm_free(&g);
  }
  hl_free(raw);
  if (rc != 0) {
    hl_buf_reset(out);
    hl_buf_printf(err, "a sealed value (key %.8s) does not authenticate: altered, or moved from another record", id);
    return rc;
  }
  if (stale) *stale = old;
  return 0;
}
