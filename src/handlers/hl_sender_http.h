/* hl_sender_http.h — the webhook sender: one signed HTTP POST per attempt.
 *
 * Builds the request (Standard Webhooks headers webhook-id,
 * webhook-timestamp, webhook-signature signed with the subscription's
 * secret or the default one; traceparent or x-amzn-trace-id; the
 * subscription's own headers), refuses private targets on the address
 * actually connected to (common/hl_addr_policy) unless allowed, reuses
 * easy handles and their buffers from a pool, and classifies the answer:
 * 2xx OK; 408, 429, 5xx and connection-level faults RETRY (with the
 * partner's Retry-After); everything else FAIL.
 */
#ifndef HL_SENDER_HTTP_H
#define HL_SENDER_HTTP_H

#include <stdbool.h>

#include "handlers/hl_sender.h"
#include "loop/hl_curl_uv.h"

typedef struct {
  bool allow_private_targets;    /* HOOKLOOP_ALLOW_PRIVATE_TARGETS */
  long default_timeout_ms;       /* when a subscription gives none */
  /* The default secret (WEBHOOK_SECRET_ARN) as it is now, or NULL. */
  const char *(*default_secret)(void *data);
  void *default_secret_data;
} hl_sender_http_options;

/* A sender over curl (borrowed; it must outlive the sender). */
hl_sender *hl_sender_http_create(hl_curl_uv *curl, const hl_sender_http_options *opt);

#endif
