#include "crypto/hl_crypto.h"
#include "common/hl_common.h"

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/platform_util.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void hl_sha256(const void *data, size_t len, uint8_t out[32]) {
  mbedtls_sha256_ret(data, len, out, 0);
}

/* HMAC is built on the SHA-256 context directly rather than mbedtls_md: the
 * md layer allocates its context on the heap, which the signing hot path
 * cannot afford per message. */
#define SHA256_BLOCK 64

void hl_hmac_key_init(hl_hmac_key *k, const void *key, size_t key_len) {
  uint8_t block[SHA256_BLOCK], pad[SHA256_BLOCK];
  memset(block, 0, sizeof block);
  if (key_len > SHA256_BLOCK) hl_sha256(key, key_len, block); /* RFC 2104: long keys are hashed */
  else if (key_len) memcpy(block, key, key_len);
  mbedtls_sha256_init(&k->inner);
  mbedtls_sha256_init(&k->outer);
  for (size_t i = 0; i < SHA256_BLOCK; i++) pad[i] = block[i] ^ 0x36;
  mbedtls_sha256_starts_ret(&k->inner, 0);
  mbedtls_sha256_update_ret(&k->inner, pad, SHA256_BLOCK);
  for (size_t i = 0; i < SHA256_BLOCK; i++) pad[i] = block[i] ^ 0x5c;
  mbedtls_sha256_starts_ret(&k->outer, 0);
  mbedtls_sha256_update_ret(&k->outer, pad, SHA256_BLOCK);
  mbedtls_platform_zeroize(block, sizeof block);
  mbedtls_platform_zeroize(pad, sizeof pad);
}

void hl_hmac_key_dispose(hl_hmac_key *k) {
  mbedtls_sha256_free(&k->inner);
  mbedtls_sha256_free(&k->outer);
}

void hl_hmac_begin(hl_hmac_run *r, const hl_hmac_key *k) {
  r->key = k;
  mbedtls_sha256_init(&r->ctx);
  mbedtls_sha256_clone(&r->ctx, &k->inner);
}

void hl_hmac_update(hl_hmac_run *r, const void *data, size_t len) {
  if (len) mbedtls_sha256_update_ret(&r->ctx, data, len);
}

void hl_hmac_end(hl_hmac_run *r, uint8_t out[32]) {
  uint8_t ih[32];
  mbedtls_sha256_finish_ret(&r->ctx, ih);
  mbedtls_sha256_clone(&r->ctx, &r->key->outer);
  mbedtls_sha256_update_ret(&r->ctx, ih, sizeof ih);
  mbedtls_sha256_finish_ret(&r->ctx, out);
  mbedtls_sha256_free(&r->ctx);
  mbedtls_platform_zeroize(ih, sizeof ih);
}

void hl_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len, uint8_t out[32]) {
  hl_hmac_key k;
  hl_hmac_run r;
  hl_hmac_key_init(&k, key, key_len);
  hl_hmac_begin(&r, &k);
  hl_hmac_update(&r, data, len);
  hl_hmac_end(&r, out);
  hl_hmac_key_dispose(&k);
}

void hl_hex(const uint8_t *in, size_t len, char *out) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < len; i++) {
    out[2 * i] = digits[in[i] >> 4];
    out[2 * i + 1] = digits[in[i] & 15];
  }
  out[2 * len] = '\0';
}

static const char b64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t hl_base64_encode_to(char *out, const uint8_t *in, size_t len) {
  char *o = out;
  size_t i = 0;
  for (; i + 3 <= len; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
    *o++ = b64_alphabet[v >> 18];
    *o++ = b64_alphabet[(v >> 12) & 63];
    *o++ = b64_alphabet[(v >> 6) & 63];
    *o++ = b64_alphabet[v & 63];
  }
  if (len - i == 1) {
    uint32_t v = (uint32_t)in[i] << 16;
    *o++ = b64_alphabet[v >> 18];
    *o++ = b64_alphabet[(v >> 12) & 63];
    *o++ = '=';
    *o++ = '=';
  } else if (len - i == 2) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
    *o++ = b64_alphabet[v >> 18];
    *o++ = b64_alphabet[(v >> 12) & 63];
    *o++ = b64_alphabet[(v >> 6) & 63];
    *o++ = '=';
  }
  *o = '\0';
  return (size_t)(o - out);
}

void hl_base64_encode(hl_buf *out, const uint8_t *in, size_t len) {
  hl_buf_reserve(out, HL_BASE64_ENCODED_LEN(len) + 1);
  out->len += hl_base64_encode_to(out->data + out->len, in, len);
}

/* 0..63 for characters of the alphabet (standard, or base64url's with - and
 * _ in place of + and /), -1 otherwise. */
static int b64_value(unsigned char c, bool url) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == (url ? '-' : '+')) return 62;
  if (c == (url ? '_' : '/')) return 63;
  return -1;
}

/* Decodes len characters without padding: whole groups of four, then a tail
 * of two or three characters whose unused bits must be zero. */
static int b64_decode(const char *in, size_t len, uint8_t *out, size_t outlen, bool url) {
  size_t tail = len % 4;
  if (tail == 1) return HL_EPARSE;
  size_t need = len / 4 * 3 + (tail ? tail - 1 : 0);
  if (need > outlen) return HL_ETOOBIG;
  size_t o = 0, i = 0;
  for (; i + 4 <= len; i += 4) {
    int v[4];
    for (int k = 0; k < 4; k++)
      if ((v[k] = b64_value((unsigned char)in[i + k], url)) < 0) return HL_EPARSE;
    uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
    out[o++] = (uint8_t)(w >> 16);
    out[o++] = (uint8_t)(w >> 8);
    out[o++] = (uint8_t)w;
  }
  if (tail) {
    int v[3] = {0, 0, 0};
    for (size_t k = 0; k < tail; k++)
      if ((v[k] = b64_value((unsigned char)in[i + k], url)) < 0) return HL_EPARSE;
    uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6;
    if (w & (tail == 2 ? 0xffffu : 0xffu)) return HL_EPARSE; /* unused bits must be zero */
    out[o++] = (uint8_t)(w >> 16);
    if (tail == 3) out[o++] = (uint8_t)(w >> 8);
  }
  return (int)o;
}

int hl_base64_decode(const char *in, size_t len, uint8_t *out, size_t outlen) {
  if (len % 4) return HL_EPARSE;
  size_t pad = 0;
  if (len && in[len - 1] == '=') pad = (in[len - 2] == '=') ? 2 : 1;
  return b64_decode(in, len - pad, out, outlen, false);
}

void hl_base64url_encode(hl_buf *out, const uint8_t *in, size_t len) {
  hl_buf_reserve(out, HL_BASE64_ENCODED_LEN(len) + 1);
  char *s = out->data + out->len;
  size_t n = hl_base64_encode_to(s, in, len);
  while (n && s[n - 1] == '=') n--;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '+') s[i] = '-';
    else if (s[i] == '/') s[i] = '_';
  }
  out->len += n;
  out->data[out->len] = '\0';
}

int hl_base64url_decode(const char *in, size_t len, uint8_t *out, size_t outlen) {
  return b64_decode(in, len, out, outlen, true);
}

static pthread_mutex_t rng_lock = PTHREAD_MUTEX_INITIALIZER;
static mbedtls_ctr_drbg_context rng;
static mbedtls_entropy_context entropy;
static int rng_ready;
static pid_t rng_pid;

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
    rng_pid = getpid();
  } else if (getpid() != rng_pid) {
    /* A forked child must not replay its parent's stream (ids, secrets). */
    if (mbedtls_ctr_drbg_reseed(&rng, NULL, 0) != 0) abort();
    rng_pid = getpid();
  }
  unsigned char *p = out;
  while (len > 0) { /* the DRBG hands out at most MBEDTLS_CTR_DRBG_MAX_REQUEST bytes per call */
    size_t n = len > MBEDTLS_CTR_DRBG_MAX_REQUEST ? MBEDTLS_CTR_DRBG_MAX_REQUEST : len;
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
  uint8_t r[32];
  for (size_t i = 0; i < 22;) {
    hl_random_bytes(r, sizeof r);
    for (size_t k = 0; k < sizeof r && i < 22; k++)
      if (r[k] < 248) id[pl + i++] = alphabet[r[k] % 62]; /* 248 = 4·62: no modulo bias */
  }
  id[pl + 22] = '\0';
  return id;
}

void hl_random_uuid(char out[37]) {
  uint8_t b[16];
  char hex[33];
  hl_random_bytes(b, sizeof b);
  b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
  b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
  hl_hex(b, sizeof b, hex);
  memcpy(out, hex, 8);
  out[8] = '-';
  memcpy(out + 9, hex + 8, 4);
  out[13] = '-';
  memcpy(out + 14, hex + 12, 4);
  out[18] = '-';
  memcpy(out + 19, hex + 16, 4);
  out[23] = '-';
  memcpy(out + 24, hex + 20, 12);
  out[36] = '\0';
}
