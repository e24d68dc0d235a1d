/* Signing one delivery on one core: the Standard Webhooks HMAC ("v1", keys
 * prepared once) beside Ed25519 ("v1a") with the key expanded from its seed
 * on every send (as before the subscription kept its keys) and with the
 * subscription's kept keys (model/hl_sub_ed25519). The body is the ~1 KB
 * event of bench_event.h. Per case: the median, min and max of `runs`
 * interleaved runs of `seconds` of this thread's CPU time.
 *
 * Reference rows, the HMAC-SHA256 of the same message alone (no base64, no
 * header line) with the key prepared once, by three libraries: mbedTLS 2.28
 * (what "v1" runs), libsodium, and OpenSSL's libcrypto where its headers
 * were found at build time (it uses the CPU's SHA extensions when there are
 * any). They show how much of a signature is the SHA-256 itself.
 *
 *   bench_sign [seconds per run, 0.5] [runs, 5]
 */
#include "common/hl_common.h"
#include "crypto/hl_webhook_ed25519.h"
#include "crypto/hl_webhook_sig.h"
#include "model/hl_sub_ed25519.h"
#include "../bench_event.h"

#include <mbedtls/md.h>
#include <sodium.h>
#ifdef HL_BENCH_OPENSSL
#include <openssl/core_names.h>
#include <openssl/evp.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
  hl_webhook_signer hmac;
  uint8_t key[32];         /* the reference rows' key */
  mbedtls_md_context_t md; /* keyed once */
  crypto_auth_hmacsha256_state sodium;
#ifdef HL_BENCH_OPENSSL
  EVP_MAC_CTX *ossl;
#endif
  const char *ed_key; /* "whsk_..." */
  hl_sub sub;         /* signs with ed_key, keeping the expanded key */
} rig;

typedef void (*sign_fn)(rig *g, hl_buf *out);

static void sign_hmac(rig *g, hl_buf *out) {
  if (hl_webhook_signer_sign(&g->hmac, "msg_1", 5, 1700000000, EVENT, strlen(EVENT), out) != 0) abort();
}

static void sign_ed_expand(rig *g, hl_buf *out) {
  if (hl_webhook_ed25519_sign_list(g->ed_key, "msg_1", 1700000000, EVENT, strlen(EVENT), out) != 0) abort();
}

static void sign_ed_kept(rig *g, hl_buf *out) {
  if (hl_sub_ed25519_sign(&g->sub, "msg_1", 1700000000, EVENT, strlen(EVENT), out) != 0) abort();
}

/* The message "v1" signs: "<id>.<timestamp>.<body>". */
#define MSG_HEAD "msg_1.1700000000."

/* The MAC of the message by each library, with the key prepared once. */
static void mbedtls_mac(rig *g, uint8_t mac[32]) {
  mbedtls_md_hmac_reset(&g->md);
  mbedtls_md_hmac_update(&g->md, (const uint8_t *)MSG_HEAD, sizeof MSG_HEAD - 1);
  mbedtls_md_hmac_update(&g->md, (const uint8_t *)EVENT, strlen(EVENT));
  mbedtls_md_hmac_finish(&g->md, mac);
}

static void sodium_mac(rig *g, uint8_t mac[32]) {
  crypto_auth_hmacsha256_state st = g->sodium; /* the keyed state, copied */
  crypto_auth_hmacsha256_update(&st, (const uint8_t *)MSG_HEAD, sizeof MSG_HEAD - 1);
  crypto_auth_hmacsha256_update(&st, (const uint8_t *)EVENT, strlen(EVENT));
  crypto_auth_hmacsha256_final(&st, mac);
}

#ifdef HL_BENCH_OPENSSL
static void openssl_mac(rig *g, uint8_t mac[32]) {
  size_t n = 0;
  /* A NULL key reuses the one set at the first init. */
  if (!EVP_MAC_init(g->ossl, NULL, 0, NULL) ||
      !EVP_MAC_update(g->ossl, (const uint8_t *)MSG_HEAD, sizeof MSG_HEAD - 1) ||
      !EVP_MAC_update(g->ossl, (const uint8_t *)EVENT, strlen(EVENT)) || !EVP_MAC_final(g->ossl, mac, &n, 32))
    abort();
}
#endif

/* Timed: one byte of the MAC goes out, so that it is computed. */
#define MAC_CASE(name, fn) \
  static void name(rig *g, hl_buf *out) { \
    uint8_t mac[32]; \
    fn(g, mac); \
    hl_buf_append(out, mac, 1); \
  }
MAC_CASE(mac_mbedtls, mbedtls_mac)
MAC_CASE(mac_sodium, sodium_mac)
#ifdef HL_BENCH_OPENSSL
MAC_CASE(mac_openssl, openssl_mac)
#endif

/* The reference MACs agree (a wrong setup would time something else). */
static void check_macs(rig *g) {
  uint8_t want[32], got[32];
  mbedtls_mac(g, want);
  sodium_mac(g, got);
  if (memcmp(want, got, 32) != 0) abort();
#ifdef HL_BENCH_OPENSSL
  openssl_mac(g, got);
  if (memcmp(want, got, 32) != 0) abort();
#endif
}

static void refs_init(rig *g) {
  randombytes_buf(g->key, sizeof g->key);
  mbedtls_md_init(&g->md);
  if (mbedtls_md_setup(&g->md, mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), 1) != 0 ||
      mbedtls_md_hmac_starts(&g->md, g->key, sizeof g->key) != 0)
    abort();
  crypto_auth_hmacsha256_init(&g->sodium, g->key, sizeof g->key);
#ifdef HL_BENCH_OPENSSL
  EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
  g->ossl = mac ? EVP_MAC_CTX_new(mac) : NULL;
  OSSL_PARAM p[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0), OSSL_PARAM_construct_end()};
  if (!g->ossl || !EVP_MAC_init(g->ossl, g->key, sizeof g->key, p)) abort();
  EVP_MAC_free(mac); /* the context keeps its own reference */
#endif
  check_macs(g);
}

static void refs_dispose(rig *g) {
  mbedtls_md_free(&g->md);
#ifdef HL_BENCH_OPENSSL
  EVP_MAC_CTX_free(g->ossl);
#endif
}

/* µs per signature over one run of `seconds` of this thread's CPU time. */
static double run_us(sign_fn fn, rig *g, double seconds) {
  hl_buf out = HL_BUF_INIT;
  struct timespec a, b;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
  double el = 0;
  uint64_t n = 0;
  while (el < seconds) {
    for (int i = 0; i < 100; i++, n++) {
      hl_buf_reset(&out);
      fn(g, &out);
    }
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
    el = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
  }
  hl_buf_dispose(&out);
  return el * 1e6 / (double)n;
}

static int by_value(const void *x, const void *y) {
  double a = *(const double *)x, b = *(const double *)y;
  return (a > b) - (a < b);
}

int main(int argc, char **argv) {
  double seconds = argc > 1 ? atof(argv[1]) : 0.5;
  int runs = argc > 2 ? atoi(argv[2]) : 5;
  if (seconds <= 0 || runs < 1 || runs > 32) {
    fprintf(stderr, "usage: bench_sign [seconds per run] [runs, 1..32]\n");
    return 2;
  }
  rig g;
  memset(&g, 0, sizeof g);
  char *secret = hl_webhook_secret_generate(), *sk, *pk;
  if (hl_webhook_signer_init(&g.hmac, secret) < 1) return 1;
  hl_webhook_ed25519_keypair(&sk, &pk);
  g.ed_key = sk;
  g.sub.rec.secret = sk;
  if (sodium_init() < 0) return 1;
  refs_init(&g);
  struct {
    const char *what;
    sign_fn fn;
    double us[32];
  } c[] = {
    {"HMAC-SHA256 (v1), keys prepared", sign_hmac, {0}},
    {"Ed25519 (v1a), key expanded per send", sign_ed_expand, {0}},
    {"Ed25519 (v1a), the subscription's kept key", sign_ed_kept, {0}},
    {"reference: HMAC-SHA256 alone, mbedTLS", mac_mbedtls, {0}},
    {"reference: HMAC-SHA256 alone, libsodium", mac_sodium, {0}},
#ifdef HL_BENCH_OPENSSL
    {"reference: HMAC-SHA256 alone, OpenSSL", mac_openssl, {0}},
#endif
  };
  printf("one signature of a %zu-byte body; median of %d interleaved runs of %.1f s of CPU each, one thread\n",
         strlen(EVENT), runs, seconds);
  for (int r = 0; r < runs; r++)
    for (size_t i = 0; i < HL_ARRAY_SIZE(c); i++) c[i].us[r] = run_us(c[i].fn, &g, seconds);
  for (size_t i = 0; i < HL_ARRAY_SIZE(c); i++) {
    qsort(c[i].us, (size_t)runs, sizeof c[i].us[0], by_value);
    double m = runs % 2 ? c[i].us[runs / 2] : (c[i].us[runs / 2 - 1] + c[i].us[runs / 2]) / 2;
    printf("%-44s %8.2f us/signature (runs %.2f-%.2f)\n", c[i].what, m, c[i].us[0], c[i].us[runs - 1]);
  }
  refs_dispose(&g);
  hl_sub_ed25519_drop(&g.sub);
  hl_webhook_signer_dispose(&g.hmac);
  hl_free(secret);
  hl_free(sk);
  hl_free(pk);
  return 0;
}
