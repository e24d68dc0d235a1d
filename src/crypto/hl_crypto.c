#include "crypto/hl_crypto.h"
#include "common/hl_common.h"

#include <mbedtls/base64.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/md.h>
#include <mbedtls/sha256.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void hl_sha256(const void *data, size_t len, uint8_t out[32]) {
  mbedtls_sha256_ret(data, len, out, 0);
}

void hl_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len, uint8_t out[32]) {
  mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), key, key_len, data, len, out);
}

void hl_hex(const uint8_t *in, size_t len, char *out) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < len; i++) {
    out[2 * i] = digits[in[i] >> 4];
    out[2 * i + 1] = digits[in[i] & 15];
  }
  out[2 * len] = '\0';
}

void hl_base64_encode(hl_buf *out, const uint8_t *in, size_t len) {
  size_t need = 4 * ((len + 2) / 3) + 1, olen = 0;
  hl_buf_reserve(out, need);
  mbedtls_base64_encode((unsigned char *)out->data + out->len, need, &olen, in, len);
  out->len += olen;
  out->data[out->len] = '\0';
}

int hl_base64_decode(const char *in, size_t len, uint8_t *out, size_t outlen) {
  size_t olen = 0;
  int rc = mbedtls_base64_decode(out, outlen, &olen, (const unsigned char *)in, len);
  if (rc == MBEDTLS_ERR_BASE64_BUFFER_TOO_SMALL) return HL_ETOOBIG;
  if (rc != 0) return HL_EPARSE;
  return (int)olen;
}

static pthread_mutex_t rng_lock = PTHREAD_MUTEX_INITIALIZER;
static mbedtls_ctr_drbg_context rng;
static mbedtls_entropy_context entropy;
static int rng_ready;

void hl_random_bytes(void *out, size_t len) {
  pthread_mutex_lock(&rng_lock);
  if (!rng_ready) {
    mbedtls_entropy_init(&entropy);
    mbedtls_ctr_drbg_init(&rng);
    static const char pers[] = "hookloop";
    if (mbedtls_ctr_drbg_seed(&rng, mbedtls_entropy_func, &entropy, (const unsigned char *)pers,
                              sizeof pers - 1) != 0) {
      fprintf(stderr, "{\"level\":\"error\",\"msg\":\"no entropy for the random generator\"}\n");
      abort();
    }
    rng_ready = 1;
  }
  unsigned char *p = out;
  while (len > 0) { /* the DRBG hands out at most 1024 bytes per call */
    size_t n = len > 1024 ? 1024 : len;
    if (mbedtls_ctr_drbg_random(&rng, p, n) != 0) abort();
    p += n;
    len -= n;
  }
  pthread_mutex_unlock(&rng_lock);
}

uint32_t hl_random_u32(void) {
  uint32_t v;
  hl_random_bytes(&v, sizeof v);
  return v;
}

char *hl_random_id(const char *prefix) {
  static const char alphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  size_t pl = strlen(prefix);
  char *id = hl_malloc(pl + 23);
  memcpy(id, prefix, pl);
  uint8_t r[22];
  for (size_t i = 0; i < 22;) {
    hl_random_bytes(r, sizeof r);
    for (size_t k = 0; k < sizeof r && i < 22; k++)
      if (r[k] < 248) id[pl + i++] = alphabet[r[k] % 62]; /* 248 = 4·62: no modulo bias */
  }
  id[pl + 22] = '\0';
  return id;
}
