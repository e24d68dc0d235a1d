/* hl_sender_http.h — the webhook sender: one signed HTTP POST per attempt.
 *
 * Builds the request (Standard Webhooks headers webhook-id,
 * webhook-timestamp, webhook-signature signed with the subscription's
 * secret or the default one; traceparent or x-amzn-trace-id; the
 * subscription's own headers), refuses private targets on the address
 * actually connected to (common/hl_addr_policy) unless allowed, reuses
 * easy handles and their buffers from a pool, and classifies the answer:
 * 2xx OK; 408, 429, 5xx and connection-level faults RETRY (with the
 * partner's Retry-After); everything else FAIL. Over https the TLS policy
 * applies (a minimum version, extra CAs); a certificate the partner shows
 * that does not verify, or a partner below the minimum version, is FAIL:
 * no retry changes either. TLS sessions are shared by every request of the
 * sender, so a new connection to a partner resumes rather than repeats the
 * full handshake.
 */
#ifndef HL_SENDER_HTTP_H
#define HL_SENDER_HTTP_H

#include <stdbool.h>

#include "handlers/hl_sender.h"
#include "loop/hl_curl_uv.h"

/* HOOKLOOP_TLS_MIN: the oldest TLS version spoken to partners. */
typedef enum { HL_TLS_1_2 = 0, HL_TLS_1_3 } hl_tls_min;

/* How partners are reached over https (HOOKLOOP_TLS_MIN, HOOKLOOP_CA_FILE). */
typedef struct {
  hl_tls_min min_version;        /* HL_TLS_1_2 by default */
  const char *ca_file;           /* borrowed; PEM CAs trusted besides the system's, or NULL */
} hl_sender_tls;

typedef struct {
  bool allow_private_targets;    /* HOOKLOOP_ALLOW_PRIVATE_TARGETS */
  long default_timeout_ms;       /* when a subscription gives none */
  /* The default secret (WEBHOOK_SECRET_ARN) as it is now, or NULL. */
  const char *(*default_secret)(void *data);
  void *default_secret_data;
  hl_sender_tls tls;
  /* How long a burst's calls (an easy handle each) stay kept for the next
   * one once fewer are in use; 0: 10 s. */
  long pool_window_ms;
} hl_sender_http_options;

/* A sender over curl (borrowed; it must outlive the sender). */
hl_sender *hl_sender_http_create(hl_curl_uv *curl, const hl_sender_http_options *opt);

/* The sender's calls: made since it was created (each an easy handle
 * initialised and set up), in use, and idle in its pool. */
typedef struct {
  size_t made, in_use, idle;
} hl_sender_http_stats;
void hl_sender_http_get_stats(const hl_sender *s, hl_sender_http_stats *out);

#endif
