/* hl_ddb_client.h — DynamoDB requests on the loop: each call is a small
 * state machine (wait for credentials → send → back off → send ... → done)
 * driven by the loop's curl multi handle and one timer heap.
 *
 * Retries follow the AWS SDKs' standard mode in kind: throttling codes,
 * 5xx, request timeouts, connection errors and CRC-32 mismatches are
 * retried with capped exponential backoff and full jitter; everything else
 * (validation, access denied, ConditionalCheckFailedException, which is a
 * normal outcome) ends the call at once. Unlike the SDKs' 3 attempts the
 * default is 10, because a store write that gives up loses a status record;
 * the first retries come quickly (25 ms base; 500 ms after throttling).
 * BatchWriteItem's UnprocessedItems are re-sent (with backoff) until none
 * are left or the attempts run out. An ExpiredToken answer refreshes the
 * credentials and retries.
 *
 * Ownership: hl_ddb_call takes the request body. The response handed to the
 * callback (parsed JSON, or NULL when the body was not JSON) lives until
 * the callback returns.
 */
#ifndef HL_DDB_CLIENT_H
#define HL_DDB_CLIENT_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "aws/hl_aws_creds.h"
#include "common/hl_buf.h"
#include "loop/hl_curl_uv.h"
#include "loop/hl_timerq.h"
#include "store/hl_ddb_wire.h"

typedef struct {
  const char *endpoint;      /* "https://dynamodb.eu-west-1.amazonaws.com", "http://127.0.0.1:8000" */
  const char *region;        /* signing region */
  unsigned max_attempts;     /* first try included; 0: 10 */
  uint64_t base_ms;          /* 0: 25 */
  uint64_t throttle_base_ms; /* 0: 500 */
  uint64_t cap_ms;           /* 0: 20000 */
  long timeout_ms;           /* per attempt; 0: 10000 */
} hl_ddb_opts;

/* st->outcome HL_DDB_OK on success; resp is the parsed response body (for
 * HL_DDB_CONDITION_FAILED too: it may carry "Item"), or NULL. */
typedef void (*hl_ddb_cb)(void *data, const hl_ddb_status *st, const hl_json *resp);

typedef struct hl_ddb_req hl_ddb_req;

typedef struct {
  uv_loop_t *loop;
  hl_curl_uv *curl;
  hl_aws_creds_provider *creds;
  char *url, *host, *region;
  hl_ddb_opts opt;
  hl_sigv4_key_cache key_cache;
  hl_timerq timers;
  hl_ddb_req *live;          /* calls not yet finished */
  size_t nlive;
  /* Counters (tests, metrics). */
  int64_t calls, attempts, retries, failures;
  /* 0 after a success; the last transport or auth error otherwise (health). */
  int last_error;
  bool closing;
  void (*close_cb)(void *data);
  void *close_data;
} hl_ddb_client;

/* creds is borrowed and must outlive the client. Returns 0 or HL_EINVAL
 * (endpoint not an http(s) URL, no region) with a message in err. */
int hl_ddb_client_init(hl_ddb_client *c, uv_loop_t *loop, hl_curl_uv *curl, hl_aws_creds_provider *creds,
                       const hl_ddb_opts *opt, char *err, size_t errlen);
/* Sends op with body (taken: body is empty afterwards). cb runs once, on the
 * loop, never from inside this call. */
void hl_ddb_call(hl_ddb_client *c, hl_ddb_op op, hl_buf *body, hl_ddb_cb cb, void *data);
/* Lets the calls in flight finish (their callbacks run), then closes; cb
 * runs once everything is closed. No new call may be made. */
void hl_ddb_client_close(hl_ddb_client *c, void (*cb)(void *data), void *data);

/* The endpoint for a region when DYNAMODB_ENDPOINT is not set. */
void hl_ddb_default_endpoint(hl_buf *out, const char *region);

#endif
