#include "crypto/hl_webhook_ed25519.h"

#include <inttypes.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hl_common.h"
#include "crypto/hl_crypto.h"
#include "crypto/hl_webhook_sig.h"

/* sodium_init picks its implementations once; it is safe to call from any
 * thread, but pthread_once keeps the check off every signature. */
static pthread_once_t sodium_once = PTHREAD_ONCE_INIT;
static void sodium_setup(void) {
  if (sodium_init() < 0) {
    fprintf(stderr, "{\"level\":\"error\",\"msg\":\"libsodium failed to initialise\"}\n");
    abort();
  }
}
static void need_sodium(void) { pthread_once(&sodium_once, sodium_setup); }

void hl_ed25519_from_seed(hl_ed25519_signer *s, const uint8_t seed[HL_ED25519_SEED_LEN]) {
  need_sodium();
  crypto_sign_seed_keypair(s->pk, s->sk, seed);
}

void hl_ed25519_sign(const hl_ed25519_signer *s, const void *msg, size_t len, uint8_t sig[HL_ED25519_SIG_LEN]) {
  need_sodium();
  crypto_sign_detached(sig, NULL, msg, len, s->sk);
}

bool hl_ed25519_verify(const uint8_t pk[HL_ED25519_PUBLIC_LEN], const void *msg, size_t len,
                       const uint8_t sig[HL_ED25519_SIG_LEN]) {
  need_sodium();
  return crypto_sign_verify_detached(sig, msg, len, pk) == 0;
}

static char *prefixed_base64(const char *prefix, const uint8_t *bytes, size_t len) {
  hl_buf b = HL_BUF_INIT;
  hl_buf_puts(&b, prefix);
  hl_base64_encode(&b, bytes, len);
  return hl_buf_steal(&b, NULL);
}

void hl_webhook_ed25519_keypair(char **secret_key, char **public_key) {
  uint8_t seed[HL_ED25519_SEED_LEN];
  hl_random_bytes(seed, sizeof seed);
  hl_ed25519_signer s;
  hl_ed25519_from_seed(&s, seed);
  *secret_key = prefixed_base64("whsk_", seed, sizeof seed);
  *public_key = prefixed_base64("whpk_", s.pk, sizeof s.pk);
  sodium_memzero(seed, sizeof seed);
  hl_webhook_ed25519_signer_dispose(&s);
}

int hl_webhook_ed25519_signer_init(hl_ed25519_signer *s, const char *secret_key, size_t len) {
  memset(s, 0, sizeof *s);
  if (!secret_key || len < 5 || memcmp(secret_key, "whsk_", 5) != 0) return HL_EINVAL;
  uint8_t raw[HL_BASE64_DECODED_MAX(88)];
  if (len - 5 > 88) return HL_EPARSE;
  int n = hl_base64_decode(secret_key + 5, len - 5, raw, sizeof raw);
  int rc = 0;
  if (n == HL_ED25519_SEED_LEN || n == 64) {
    hl_ed25519_from_seed(s, raw);
    /* seed || public key: the public half must be the seed's, or the key
     * is not what its holder thinks it is. */
    if (n == 64 && sodium_memcmp(raw + 32, s->pk, 32) != 0) rc = HL_EPARSE;
  } else {
    rc = HL_EPARSE;
  }
  sodium_memzero(raw, sizeof raw);
  if (rc != 0) hl_webhook_ed25519_signer_dispose(s);
  return rc;
}

void hl_webhook_ed25519_signer_dispose(hl_ed25519_signer *s) { sodium_memzero(s, sizeof *s); }

char *hl_webhook_ed25519_public_key(const hl_ed25519_signer *s) {
  return prefixed_base64("whpk_", s->pk, sizeof s->pk);
}

int hl_webhook_ed25519_public_decode(const char *public_key, size_t len, uint8_t pk[HL_ED25519_PUBLIC_LEN]) {
  if (!public_key || len < 5 || memcmp(public_key, "whpk_", 5) != 0) return HL_EINVAL;
  uint8_t raw[HL_BASE64_DECODED_MAX(44)];
  if (len - 5 != 44 || hl_base64_decode(public_key + 5, len - 5, raw, sizeof raw) != HL_ED25519_PUBLIC_LEN)
    return HL_EPARSE;
  memcpy(pk, raw, HL_ED25519_PUBLIC_LEN);
  return 0;
}

/* "<id>.<timestamp>.<body>": Ed25519 signs the whole message at once (its
 * nonce is a hash of it), so the parts are joined in one buffer. */
static void signed_content(hl_buf *m, const char *id, size_t id_len, const char *ts, size_t ts_len, const void *body,
                           size_t body_len) {
  hl_buf_reserve(m, id_len + ts_len + body_len + 2);
  hl_buf_append(m, id, id_len);
  hl_buf_putc(m, '.');
  hl_buf_append(m, ts, ts_len);
  hl_buf_putc(m, '.');
  hl_buf_append(m, body, body_len);
}

int hl_webhook_ed25519_sign(const hl_ed25519_signer *s, const char *msg_id, size_t id_len, int64_t timestamp,
                            const void *body, size_t body_len, hl_buf *out) {
  if (!msg_id || (!body && body_len)) return HL_EINVAL;
  char ts[24];
  int ts_len = snprintf(ts, sizeof ts, "%" PRId64, timestamp);
  hl_buf m = HL_BUF_INIT;
  signed_content(&m, msg_id, id_len, ts, (size_t)ts_len, body, body_len);
  uint8_t sig[HL_ED25519_SIG_LEN];
  hl_ed25519_sign(s, m.data, m.len, sig);
  hl_buf_dispose(&m);
  hl_buf_append(out, "v1a,", 4);
  hl_base64_encode(out, sig, sizeof sig);
  return 0;
}

bool hl_webhook_ed25519_is_key(const char *entry, size_t len) {
  return entry && len > 5 && memcmp(entry, "whsk_", 5) == 0;
}

char *hl_webhook_ed25519_public_of(const char *secret_key, size_t len) {
  hl_ed25519_signer s;
  if (hl_webhook_ed25519_signer_init(&s, secret_key, len) != 0) return NULL;
  char *pk = hl_webhook_ed25519_public_key(&s);
  hl_webhook_ed25519_signer_dispose(&s);
  return pk;
}

int hl_webhook_ed25519_keyring_init(hl_webhook_ed25519_keyring *k, const char *keys) {
  k->keys = NULL;
  k->n = 0;
  if (!keys) return HL_EINVAL;
  size_t len, n = 0;
  for (const char *e = hl_webhook_next_entry(keys, &len); e; e = hl_webhook_next_entry(e + len, &len)) n++;
  if (n == 0) return HL_EINVAL;
  k->keys = hl_calloc(n, sizeof *k->keys);
  for (const char *e = hl_webhook_next_entry(keys, &len); e; e = hl_webhook_next_entry(e + len, &len)) {
    if (hl_webhook_ed25519_signer_init(&k->keys[k->n], e, len) != 0) {
      hl_webhook_ed25519_keyring_dispose(k);
      return HL_EINVAL;
    }
    k->n++;
  }
  return 0;
}

int hl_webhook_ed25519_keyring_sign(const hl_webhook_ed25519_keyring *k, const char *msg_id, int64_t timestamp,
                                    const void *body, size_t body_len, hl_buf *out) {
  if (k->n == 0 || !msg_id || (!body && body_len)) return HL_EINVAL;
  for (size_t i = 0; i < k->n; i++) {
    if (i > 0) hl_buf_putc(out, ' ');
    hl_webhook_ed25519_sign(&k->keys[i], msg_id, strlen(msg_id), timestamp, body, body_len, out);
  }
  return 0;
}

void hl_webhook_ed25519_keyring_dispose(hl_webhook_ed25519_keyring *k) {
  if (k->keys) sodium_memzero(k->keys, k->n * sizeof *k->keys);
  hl_free(k->keys);
  k->keys = NULL;
  k->n = 0;
}

int hl_webhook_ed25519_sign_list(const char *keys, const char *msg_id, int64_t timestamp, const void *body,
                                 size_t body_len, hl_buf *out) {
  if (!keys || !msg_id || (!body && body_len)) return HL_EINVAL;
  hl_webhook_ed25519_keyring k;
  int rc = hl_webhook_ed25519_keyring_init(&k, keys);
  if (rc == 0) rc = hl_webhook_ed25519_keyring_sign(&k, msg_id, timestamp, body, body_len, out);
  hl_webhook_ed25519_keyring_dispose(&k);
  return rc;
}

int hl_webhook_ed25519_verify(const char *public_key, const char *msg_id, const char *timestamp, const void *body,
                              size_t body_len, const char *header, int64_t now_s, int64_t tolerance_s) {
  if (!public_key || !msg_id || !timestamp || !header || (!body && body_len)) return HL_EINVAL;
  int rc = hl_webhook_timestamp_check(timestamp, now_s, tolerance_s);
  if (rc < 0) return rc;
  uint8_t pk[HL_ED25519_PUBLIC_LEN];
  if (hl_webhook_ed25519_public_decode(public_key, strlen(public_key), pk) != 0) return HL_EINVAL;
  hl_buf m = HL_BUF_INIT;
  signed_content(&m, msg_id, strlen(msg_id), timestamp, strlen(timestamp), body, body_len);
  /* Every v1a entry is tried, so the time taken does not say which one
   * verified (a public key and signatures are no secret, but the habit
   * costs nothing here). */
  bool ok = false;
  size_t len;
  for (const char *t = hl_webhook_next_entry(header, &len); t; t = hl_webhook_next_entry(t + len, &len)) {
    uint8_t sig[HL_BASE64_DECODED_MAX(88)];
    if (len != 4 + 88 || memcmp(t, "v1a,", 4) != 0) continue; /* 64 bytes are 88 base64 characters */
    if (hl_base64_decode(t + 4, len - 4, sig, sizeof sig) != HL_ED25519_SIG_LEN) continue;
    ok |= hl_ed25519_verify(pk, m.data, m.len, sig);
  }
  hl_buf_dispose(&m);
  return ok ? 0 : HL_ECRYPTO;
}
