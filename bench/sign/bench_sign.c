/* Signing one delivery on one core: the Standard Webhooks HMAC ("v1", keys
 * prepared once) beside Ed25519 ("v1a") with the key expanded from its seed
 * on every send (as before the subscription kept its keys) and with the
 * subscription's kept keys (model/hl_sub_ed25519). The body is the ~1 KB
 * event of bench_event.h. Per case: the median, min and max of `runs`
 * interleaved runs of `seconds` of this thread's CPU time.
 *
 *   bench_sign [seconds per run, 0.5] [runs, 5]
 */
#include "common/hl_common.h"
#include "crypto/hl_webhook_ed25519.h"
#include "crypto/hl_webhook_sig.h"
#include "model/hl_sub_ed25519.h"
#include "../bench_event.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
  hl_webhook_signer hmac;
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
  struct {
    const char *what;
    sign_fn fn;
    double us[32];
  } c[] = {
    {"HMAC-SHA256 (v1), keys prepared", sign_hmac, {0}},
    {"Ed25519 (v1a), key expanded per send", sign_ed_expand, {0}},
    {"Ed25519 (v1a), the subscription's kept key", sign_ed_kept, {0}},
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
  hl_sub_ed25519_drop(&g.sub);
  hl_webhook_signer_dispose(&g.hmac);
  hl_free(secret);
  hl_free(sk);
  hl_free(pk);
  return 0;
}
