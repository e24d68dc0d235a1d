#include "hl_testsig.h"

#include <mbedtls/base64.h>
#include <mbedtls/md.h>
#include <stdlib.h>
#include <string.h>

int hl_testsig_sign(const char *secret, const char *id, const char *ts, const char *body, size_t body_len,
                    char *out, size_t outlen) {
  unsigned char key[256], mac[32];
  size_t klen = 0, olen = 0;
  if (strncmp(secret, "whsec_", 6) == 0) secret += 6;
  if (mbedtls_base64_decode(key, sizeof key, &klen, (const unsigned char *)secret, strlen(secret)) != 0 ||
      klen == 0 || outlen < 4)
    return -1;
  const mbedtls_md_info_t *sha = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
  mbedtls_md_context_t ctx;
  mbedtls_md_init(&ctx);
  int rc = mbedtls_md_setup(&ctx, sha, 1);
  if (rc == 0) rc = mbedtls_md_hmac_starts(&ctx, key, klen);
  if (rc == 0) rc = mbedtls_md_hmac_update(&ctx, (const unsigned char *)id, strlen(id));
  if (rc == 0) rc = mbedtls_md_hmac_update(&ctx, (const unsigned char *)".", 1);
  if (rc == 0) rc = mbedtls_md_hmac_update(&ctx, (const unsigned char *)ts, strlen(ts));
  if (rc == 0) rc = mbedtls_md_hmac_update(&ctx, (const unsigned char *)".", 1);
  if (rc == 0) rc = mbedtls_md_hmac_update(&ctx, (const unsigned char *)body, body_len);
  if (rc == 0) rc = mbedtls_md_hmac_finish(&ctx, mac);
  mbedtls_md_free(&ctx);
  if (rc != 0) return -1;
  memcpy(out, "v1,", 3);
  if (mbedtls_base64_encode((unsigned char *)out + 3, outlen - 3, &olen, mac, sizeof mac) != 0) return -1;
  return 0;
}

bool hl_testsig_verify(const char *const *secrets, int n, const char *id, const char *ts, const char *body,
                       size_t body_len, const char *header, int64_t now_s, int64_t tolerance_s) {
  char *end = NULL;
  long long t = strtoll(ts, &end, 10);
  if (!*ts || *end || llabs(t - (long long)now_s) > tolerance_s) return false;
  for (int i = 0; i < n; i++) {
    char want[64];
    if (hl_testsig_sign(secrets[i], id, ts, body, body_len, want, sizeof want) != 0) continue;
    size_t wl = strlen(want);
    for (const char *p = header; *p;) {
      while (*p == ' ') p++;
      size_t len = strcspn(p, " ");
      if (len == wl && memcmp(p, want, wl) == 0) return true;
      p += len;
    }
  }
  return false;
}
