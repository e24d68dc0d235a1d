/* hl_aws_json.h — the AWS JSON protocol (awsJson1_0: DynamoDB, SQS;
 * awsJson1_1: Secrets Manager, EventBridge, KMS) on the shared client
 * (aws/hl_aws_client.h): a JSON body, the operation in X-Amz-Target, and
 * errors named by "__type" (the part after '#'), or by the
 * x-amzn-query-error header where a service that moved from the Query
 * protocol sends it (SQS: "AWS.SimpleQueueService.NonExistentQueue;Sender").
 *
 * The hl_aws_json_* names are the client's, kept for the DynamoDB store
 * and the Secrets Manager reader, which speak only JSON. */
#ifndef HL_AWS_JSON_H
#define HL_AWS_JSON_H

#include "aws/hl_aws_client.h"

typedef hl_aws_service hl_aws_json_service;
typedef hl_aws_client_opts hl_aws_json_opts;
typedef hl_aws_client hl_aws_json_client;

/* Classifies a JSON-protocol answer from its HTTP status and body (the
 * body may be NULL or not JSON for a 5xx from a proxy). 2xx gives
 * HL_AWS_OK. Returns st->outcome. */
hl_aws_outcome hl_aws_classify(int http_status, const char *body, size_t len, hl_aws_status *st);

/* Signs POST / for target (required) as hl_aws_sign_post does. */
int hl_aws_json_sign(const hl_aws_json_service *svc, const char *host, const char *target, const char *region,
                     const hl_aws_creds *creds, int64_t now_s, const void *body, size_t body_len,
                     hl_sigv4_key_cache *cache, hl_sigv4_out *out);

static inline int hl_aws_json_init(hl_aws_json_client *c, uv_loop_t *loop, hl_curl_uv *curl,
                                   hl_aws_creds_provider *creds, const hl_aws_json_opts *opt, const char *what,
                                   char *err, size_t errlen) {
  return hl_aws_client_init(c, loop, curl, creds, opt, what, err, errlen);
}
static inline void hl_aws_json_call(hl_aws_json_client *c, const char *target, hl_buf *body,
                                    hl_aws_json_resend_fn resend, hl_aws_json_cb cb, void *data) {
  hl_aws_client_call_json(c, target, body, resend, cb, data);
}
static inline void hl_aws_json_call_once(hl_aws_json_client *c, const char *target, hl_buf *body, long timeout_ms,
                                         hl_aws_json_cb cb, void *data) {
  hl_aws_client_call_json_once(c, target, body, timeout_ms, cb, data);
}
static inline void hl_aws_json_cancel_all(hl_aws_json_client *c) { hl_aws_client_cancel_all(c); }
static inline void hl_aws_json_close(hl_aws_json_client *c, void (*cb)(void *data), void *data) {
  hl_aws_client_close(c, cb, data);
}


#endif
