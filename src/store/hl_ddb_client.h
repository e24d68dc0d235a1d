/* hl_ddb_client.h — DynamoDB requests on the loop: an AWS JSON client
 * (aws/hl_aws_json.h) set up for DynamoDB (awsJson1_0, signing name
 * "dynamodb", x-amz-crc32 checked), called by operation.
 *
 * Unlike the SDKs' 3 attempts the default is 10, because a store write
 * that gives up loses a status record; the first retries come quickly
 * (25 ms base; 500 ms after throttling). BatchWriteItem's UnprocessedItems
 * are re-sent (with backoff) until none are left or the attempts run out.
 */
#ifndef HL_DDB_CLIENT_H
#define HL_DDB_CLIENT_H

#include "aws/hl_aws_json.h"
#include "store/hl_ddb_wire.h"
#include "store/hl_store.h"

/* The endpoint, region, attempts and timeouts; the service fields are set
 * by hl_ddb_client_init. */
typedef hl_aws_json_opts hl_ddb_opts;

/* The DynamoDB client is an AWS JSON client; its counters and last_error
 * are the store's health and metrics. */
typedef hl_aws_json_client hl_ddb_client;

/* creds is borrowed and must outlive the client. Returns 0 or HL_EINVAL
 * (endpoint not an http(s) URL, no region) with a message in err. */
int hl_ddb_client_init(hl_ddb_client *c, uv_loop_t *loop, hl_curl_uv *curl, hl_aws_creds_provider *creds,
                       const hl_ddb_opts *opt, char *err, size_t errlen);
/* Sends op with body (taken: body is empty afterwards). cb runs once, on the
 * loop, never from inside this call. */
void hl_ddb_call(hl_ddb_client *c, hl_ddb_op op, hl_buf *body, hl_aws_json_cb cb, void *data);
/* The same, made once with its own timeout and no retry (health checks). */
void hl_ddb_call_once(hl_ddb_client *c, hl_ddb_op op, hl_buf *body, long timeout_ms, hl_aws_json_cb cb, void *data);
/* Lets the calls in flight finish (their callbacks run), then closes; cb
 * runs once everything is closed. No new call may be made. */
void hl_ddb_client_close(hl_ddb_client *c, void (*cb)(void *data), void *data);

/* Answers cb with status and an empty result on a later turn (a store call
 * never answers from inside itself): for a request that could not be built,
 * or one with nothing to send. then(owner), when not NULL, runs after cb. */
void hl_ddb_answer_later(hl_ddb_client *c, hl_store_cb cb, void *data, int status, void (*then)(void *owner),
                         void *owner);

/* The endpoint for a region when DYNAMODB_ENDPOINT is not set. */
void hl_ddb_default_endpoint(hl_buf *out, const char *region);

/* Signs a DynamoDB request for op (see hl_aws_json_sign). */
int hl_ddb_sign(const char *host, hl_ddb_op op, const char *region, const hl_aws_creds *creds, int64_t now_s,
                const void *body, size_t body_len, hl_sigv4_key_cache *cache, hl_sigv4_out *out);

#endif
