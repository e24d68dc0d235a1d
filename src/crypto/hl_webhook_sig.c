#include "crypto/hl_webhook_sig.h"
#include "common/hl_common.h"

#include <inttypes.h>
#include <mbedtls/platform_util.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int hl_webhook_secret_decode(const char *secret, size_t len, uint8_t key[HL_WEBHOOK_KEY_MAX]) {
  if (!secret || len < 6 || memcmp(secret, "whsec_", 6) != 0) return HL_EINVAL;
  uint8_t tmp[HL_BASE64_DECODED_MAX(4 * HL_WEBHOOK_KEY_MAX / 3 + 4)];
  if (len - 6 > 4 * HL_WEBHOOK_KEY_MAX / 3 + 4) return HL_EPARSE;
  int n = hl_base64_decode(secret + 6, len - 6, tmp, sizeof tmp);
  if (n <= 0 || n > HL_WEBHOOK_KEY_MAX) {
    mbedtls_platform_zeroize(tmp, sizeof tmp);
    return HL_EPARSE;
  }
  memcpy(key, tmp, (size_t)n);
  mbedtls_platform_zeroize(tmp, sizeof tmp);
  return n;
}

const char *hl_webhook_next_entry(const char *s, size_t *len) {
  while (*s == ' ') s++;
  if (!*s) return NULL;
  const char *e = s;
  while (*e && *e != ' ') e++;
  *len = (size_t)(e - s);
  return s;
}

int hl_webhook_secret_check_list(const char *secrets) {
  hl_webhook_signer s;
  int rc = hl_webhook_signer_init(&s, secrets ? secrets : "");
  hl_webhook_signer_dispose(&s);
  return rc > 0 ? 0 : HL_EINVAL;
}

char *hl_webhook_secret_generate(void) {
  uint8_t key[32];
  hl_random_bytes(key, sizeof key);
  hl_buf b = HL_BUF_INIT;
  hl_buf_puts(&b, "whsec_");
  hl_base64_encode(&b, key, sizeof key);
  mbedtls_platform_zeroize(key, sizeof key);
  return hl_buf_steal(&b, NULL);
}

int hl_webhook_signer_init(hl_webhook_signer *s, const char *secrets) {
  s->n = 0;
  size_t len;
  uint8_t key[HL_WEBHOOK_KEY_MAX];
  int rc = 0;
  const char *list = secrets ? secrets : "";
  for (const char *t = hl_webhook_next_entry(list, &len); t; t = hl_webhook_next_entry(t + len, &len)) {
    int klen = hl_webhook_secret_decode(t, len, key);
    if (klen < 0) { rc = klen; break; }
    if (s->n == HL_WEBHOOK_SECRETS_MAX) { rc = HL_ETOOBIG; break; }
    hl_hmac_key_init(&s->keys[s->n++], key, (size_t)klen);
  }
  mbedtls_platform_zeroize(key, sizeof key);
  if (rc == 0 && s->n == 0) rc = HL_EINVAL;
  if (rc < 0) {
    hl_webhook_signer_dispose(s);
    return rc;
  }
  return s->n;
}

void hl_webhook_signer_dispose(hl_webhook_signer *s) {
  for (int i = 0; i < s->n; i++) hl_hmac_key_dispose(&s->keys[i]);
  s->n = 0;
}

static void mac_message(const hl_hmac_key *k, const char *id, size_t id_len, const char *ts, size_t ts_len,
                        const void *body, size_t body_len, uint8_t mac[32]) {
  hl_hmac_run r;
  hl_hmac_begin(&r, k);
  hl_hmac_update(&r, id, id_len);
  hl_hmac_update(&r, ".", 1);
  hl_hmac_update(&r, ts, ts_len);
  hl_hmac_update(&r, ".", 1);
  hl_hmac_update(&r, body, body_len);
  hl_hmac_end(&r, mac);
}

int hl_webhook_signer_sign(const hl_webhook_signer *s, const char *msg_id, size_t id_len, int64_t timestamp,
                           const void *body, size_t body_len, hl_buf *out) {
  if (s->n <= 0) return HL_EINVAL;
  char ts[HL_FMT_I64_MAX];
  size_t ts_len = hl_fmt_i64(ts, timestamp);
  uint8_t mac[32];
  /* "v1," + 44 base64 characters + a separating space per secret. */
  hl_buf_reserve(out, (size_t)s->n * (4 + HL_BASE64_ENCODED_LEN(32)));
  for (int i = 0; i < s->n; i++) {
    mac_message(&s->keys[i], msg_id, id_len, ts, ts_len, body, body_len, mac);
    if (i) hl_buf_putc(out, ' ');
    hl_buf_append(out, "v1,", 3);
    hl_base64_encode(out, mac, sizeof mac);
  }
  return 0;
}

int hl_webhook_sign_multi(const char *secrets, const char *msg_id, int64_t timestamp, const char *body,
                          size_t body_len, hl_buf *out) {
  char ts[HL_FMT_I64_MAX];
  size_t ts_len = hl_fmt_i64(ts, timestamp);
  size_t len;
  int signed_n = 0;
  uint8_t key[HL_WEBHOOK_KEY_MAX], mac[32];
  const char *list = secrets ? secrets : "";
  for (const char *t = hl_webhook_next_entry(list, &len); t; t = hl_webhook_next_entry(t + len, &len)) {
    int klen = hl_webhook_secret_decode(t, len, key);
    if (klen < 0) continue; /* an unusable entry does not stop the others */
    hl_hmac_key k;
    hl_hmac_key_init(&k, key, (size_t)klen);
    mac_message(&k, msg_id, strlen(msg_id), ts, ts_len, body, body_len, mac);
    hl_hmac_key_dispose(&k);
    if (signed_n++) hl_buf_putc(out, ' ');
    hl_buf_append(out, "v1,", 3);
    hl_base64_encode(out, mac, sizeof mac);
  }
  mbedtls_platform_zeroize(key, sizeof key);
  return signed_n > 0 ? 0 : HL_EINVAL;
}

/* A decimal integer with an optional '-', no blanks, no overflow. */
static int parse_ts(const char *s, int64_t *out) {
  const char *p = s;
  bool neg = *p == '-';
  if (neg) p++;
  if (!*p || strlen(p) > 18) return HL_EPARSE;
  int64_t v = 0;
  for (; *p; p++) {
    if (*p < '0' || *p > '9') return HL_EPARSE;
    v = v * 10 + (*p - '0');
  }
  *out = neg ? -v : v;
  return 0;
}

int hl_webhook_timestamp_check(const char *timestamp, int64_t now_s, int64_t tolerance_s) {
  int64_t ts;
  if (!timestamp || parse_ts(timestamp, &ts) < 0) return HL_EPARSE;
  if (tolerance_s > 0 && (ts > now_s + tolerance_s || ts < now_s - tolerance_s)) return HL_ETIMEOUT;
  return 0;
}

int hl_webhook_verify_ex(const char *secret, const char *msg_id, const char *timestamp, const void *body,
                         size_t body_len, const char *header, int64_t now_s, int64_t tolerance_s) {
  if (!secret || !msg_id || !timestamp || !header || (!body && body_len)) return HL_EINVAL;
  uint8_t key[HL_WEBHOOK_KEY_MAX], mac[32];
  int rc = hl_webhook_timestamp_check(timestamp, now_s, tolerance_s);
  if (rc < 0) return rc;
  int klen = hl_webhook_secret_decode(secret, strlen(secret), key);
  if (klen < 0) return HL_EINVAL;
  hl_hmac_key k;
  hl_hmac_key_init(&k, key, (size_t)klen);
  mbedtls_platform_zeroize(key, sizeof key);
  mac_message(&k, msg_id, strlen(msg_id), timestamp, strlen(timestamp), body, body_len, mac);
  hl_hmac_key_dispose(&k);
  char want[HL_BASE64_ENCODED_LEN(32) + 1];
  size_t want_len = hl_base64_encode_to(want, mac, sizeof mac);
  /* Every entry is compared so the time taken does not say which matched. */
  bool ok = false;
  size_t len;
  for (const char *t = hl_webhook_next_entry(header, &len); t; t = hl_webhook_next_entry(t + len, &len)) {
    if (len < 3 || memcmp(t, "v1,", 3) != 0) continue;
    ok |= hl_ct_equal(t + 3, len - 3, want, want_len);
  }
  return ok ? 0 : HL_ECRYPTO;
}

bool hl_webhook_verify(const char *secret, const char *msg_id, const char *timestamp, const char *body,
                       size_t body_len, const char *header, int64_t now_s, int64_t tolerance_s) {
  return hl_webhook_verify_ex(secret, msg_id, timestamp, body, body_len, header, now_s, tolerance_s) == 0;
}
