#include "crypto/hl_webhook_sig.h"
#include "common/hl_common.h"
#include "crypto/hl_crypto.h"

#include <inttypes.h>
#include <mbedtls/md.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int hl_webhook_secret_decode(const char *secret, size_t len, uint8_t key[HL_WEBHOOK_KEY_MAX]) {
  if (len < 6 || memcmp(secret, "whsec_", 6) != 0) return HL_EINVAL;
  uint8_t tmp[3 * 128];
  if (len - 6 > 4 * HL_WEBHOOK_KEY_MAX / 3 + 4) return HL_EPARSE;
  int n = hl_base64_decode(secret + 6, len - 6, tmp, sizeof tmp);
  if (n <= 0 || n > HL_WEBHOOK_KEY_MAX) return HL_EPARSE;
  memcpy(key, tmp, (size_t)n);
  return n;
}

/* Iterates space-separated tokens. */
static const char *next_token(const char *s, size_t *len) {
  while (*s == ' ') s++;
  if (!*s) return NULL;
  const char *e = s;
  while (*e && *e != ' ') e++;
  *len = (size_t)(e - s);
  return s;
}

int hl_webhook_secret_check_list(const char *secrets) {
  size_t len;
  int count = 0;
  uint8_t key[HL_WEBHOOK_KEY_MAX];
  for (const char *t = next_token(secrets, &len); t; t = next_token(t + len, &len)) {
    if (hl_webhook_secret_decode(t, len, key) < 0) return HL_EINVAL;
    count++;
  }
  return count > 0 ? 0 : HL_EINVAL;
}

char *hl_webhook_secret_generate(void) {
  uint8_t key[32];
  hl_random_bytes(key, sizeof key);
  hl_buf b = HL_BUF_INIT;
  hl_buf_puts(&b, "whsec_");
  hl_base64_encode(&b, key, sizeof key);
  return hl_buf_steal(&b, NULL);
}

static void sign_one(const uint8_t *key, size_t klen, const char *id, const char *ts, size_t tslen,
                     const char *body, size_t body_len, uint8_t mac[32]) {
  mbedtls_md_context_t ctx;
  mbedtls_md_init(&ctx);
  mbedtls_md_setup(&ctx, mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), 1);
  mbedtls_md_hmac_starts(&ctx, key, klen);
  mbedtls_md_hmac_update(&ctx, (const unsigned char *)id, strlen(id));
  mbedtls_md_hmac_update(&ctx, (const unsigned char *)".", 1);
  mbedtls_md_hmac_update(&ctx, (const unsigned char *)ts, tslen);
  mbedtls_md_hmac_update(&ctx, (const unsigned char *)".", 1);
  mbedtls_md_hmac_update(&ctx, (const unsigned char *)body, body_len);
  mbedtls_md_hmac_finish(&ctx, mac);
  mbedtls_md_free(&ctx);
}

int hl_webhook_sign_multi(const char *secrets, const char *msg_id, int64_t timestamp, const char *body,
                          size_t body_len, hl_buf *out) {
  char ts[24];
  int tslen = snprintf(ts, sizeof ts, "%" PRId64, timestamp);
  size_t len;
  int signed_n = 0;
  uint8_t key[HL_WEBHOOK_KEY_MAX], mac[32];
  for (const char *t = next_token(secrets ? secrets : "", &len); t; t = next_token(t + len, &len)) {
    int klen = hl_webhook_secret_decode(t, len, key);
    if (klen < 0) continue; /* an unusable entry does not stop the others */
    sign_one(key, (size_t)klen, msg_id, ts, (size_t)tslen, body, body_len, mac);
    if (signed_n++) hl_buf_putc(out, ' ');
    hl_buf_puts(out, "v1,");
    hl_base64_encode(out, mac, sizeof mac);
  }
  return signed_n > 0 ? 0 : HL_EINVAL;
}

bool hl_webhook_verify(const char *secret, const char *msg_id, const char *timestamp, const char *body,
                       size_t body_len, const char *header, int64_t now_s, int64_t tolerance_s) {
  uint8_t key[HL_WEBHOOK_KEY_MAX], mac[32];
  int klen = hl_webhook_secret_decode(secret, strlen(secret), key);
  if (klen < 0 || !timestamp || !header || !msg_id) return false;
  char *end = NULL;
  long long ts = strtoll(timestamp, &end, 10);
  if (end == timestamp || *end) return false;
  if (tolerance_s > 0 && (ts > now_s + tolerance_s || ts < now_s - tolerance_s)) return false;
  sign_one(key, (size_t)klen, msg_id, timestamp, strlen(timestamp), body, body_len, mac);
  hl_buf want = HL_BUF_INIT;
  hl_base64_encode(&want, mac, sizeof mac);
  bool ok = false;
  size_t len;
  for (const char *t = next_token(header, &len); t; t = next_token(t + len, &len)) {
    if (len < 3 || memcmp(t, "v1,", 3) != 0) continue;
    if (hl_ct_equal(t + 3, len - 3, want.data, want.len)) ok = true;
  }
  hl_buf_dispose(&want);
  return ok;
}
