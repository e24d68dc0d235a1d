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

void hl_sealer_dispose(hl_sealer *s) { mbedtls_platform_zeroize(s, sizeof *s); }

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

bool hl_is_sealed(const char *text) { return text && strncmp(text, HL_SEAL_PREFIX, strlen(HL_SEAL_PREFIX)) == 0; }

void hl_seal(const hl_sealer *s, const char *aad, const void *plain, size_t len, hl_buf *out) {
  size_t raw_len = NONCE_LEN + len + TAG_LEN;
  uint8_t *raw = hl_malloc(raw_len);
  hl_random_bytes(raw, NONCE_LEN); /* random 96-bit nonces: far below 2^32 records per key */
  mbedtls_gcm_context g;
  mbedtls_gcm_init(&g);
  mbedtls_gcm_setkey(&g, MBEDTLS_CIPHER_ID_AES, s->keys[0].key, 256);
  mbedtls_gcm_crypt_and_tag(&g, MBEDTLS_GCM_ENCRYPT, len, raw, NONCE_LEN, (const uint8_t *)aad, strlen(aad), plain,
                            raw + NONCE_LEN, TAG_LEN, raw + NONCE_LEN + len);
  mbedtls_gcm_free(&g);
  hl_buf_reset(out);
  hl_buf_printf(out, HL_SEAL_PREFIX "%s:", s->keys[0].id);
  hl_base64_encode(out, raw, raw_len);
  hl_free(raw);
}

int hl_unseal(const hl_sealer *s, const char *aad, const char *text, hl_buf *out, bool *stale, hl_buf *err) {
  hl_buf_reset(out);
  if (!hl_is_sealed(text)) {
    hl_buf_puts(err, "not a sealed value");
    return HL_EINVAL;
  }
  const char *id = text + strlen(HL_SEAL_PREFIX), *colon = strchr(id, ':');
  size_t k = 0;
  while (colon && colon - id == 8 && k < s->nkeys && strncmp(s->keys[k].id, id, 8) != 0) k++;
  if (!colon || colon - id != 8 || k == s->nkeys) {
    hl_buf_printf(err, "sealed with key %.8s, which %s does not hold", id,
                  s->source ? s->source : "HOOKLOOP_SECRET_KEY_FILE");
    return HL_EINVAL;
  }
  const char *b64 = colon + 1;
  size_t b64_len = strlen(b64), cap = b64_len / 4 * 3 + 3;
  uint8_t *raw = hl_malloc(cap);
  int raw_len = hl_base64_decode(b64, b64_len, raw, cap);
  int rc = HL_EINVAL;
  if (raw_len >= NONCE_LEN + TAG_LEN) {
    size_t len = (size_t)raw_len - NONCE_LEN - TAG_LEN;
    hl_buf_reserve(out, len + 1);
    mbedtls_gcm_context g;
    mbedtls_gcm_init(&g);
    mbedtls_gcm_setkey(&g, MBEDTLS_CIPHER_ID_AES, s->keys[k].key, 256);
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
  if (stale) *stale = k != 0;
  return 0;
}
