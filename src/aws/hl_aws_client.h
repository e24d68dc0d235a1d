/* hl_aws_json.h — calls to AWS services that speak the JSON protocol
 * (awsJson1_0: DynamoDB; awsJson1_1: Secrets Manager) on the loop.
 *
 * Every call is a small state machine (wait for credentials → send → back
 * off → send ... → done) driven by the loop's curl multi handle and one
 * timer heap per client. A request is `POST /` with the operation in
 * X-Amz-Target, signed with SigV4.
 *
 * Retries follow the AWS SDKs' standard mode in kind: throttling codes,
 * 5xx, request timeouts, connection errors and (where the service sends
 * x-amz-crc32) CRC-32 mismatches are retried with capped exponential
 * backoff and full jitter; everything else (validation, access denied,
 * ConditionalCheckFailedException, which is a normal outcome) ends the call
 * at once. An ExpiredToken answer refreshes the credentials and retries. A
 * caller may also ask for a successful answer to be followed up (DynamoDB's
 * UnprocessedItems) through a resend hook.
 *
 * Ownership: hl_aws_json_call takes the request body. The response handed
 * to the callback (parsed JSON, or NULL when the body was not JSON) lives
 * until the callback returns; with `sensitive` set it is wiped afterwards.
 */
#ifndef HL_AWS_JSON_H
#define HL_AWS_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "aws/hl_aws_creds.h"
#include "common/hl_buf.h"
#include "crypto/hl_sigv4.h"
#include "json/hl_json.h"
#include "loop/hl_curl_uv.h"
#include "loop/hl_timerq.h"

/* --- answers ---------------------------------------------------------------- */
typedef enum {
  HL_AWS_OK = 0,
  HL_AWS_CONDITION_FAILED, /* ConditionalCheckFailedException: a normal outcome */
  HL_AWS_THROTTLED,        /* throttling codes: retry with backoff */
  HL_AWS_TRANSIENT,        /* 5xx, request timeouts, no answer: retry with backoff */
  HL_AWS_NOT_FOUND,        /* ResourceNotFoundException (a table, a secret) */
  HL_AWS_IN_USE,           /* ResourceInUseException (CreateTable of an existing table) */
  HL_AWS_VALIDATION,       /* ValidationException, SerializationException: a bug */
  HL_AWS_AUTH,             /* credentials or signature refused */
  HL_AWS_EXPIRED_TOKEN,    /* refresh the credentials, then retry */
  HL_AWS_UNKNOWN_OP,       /* UnknownOperationException (e.g. a server lacking TTL) */
  HL_AWS_OTHER,
} hl_aws_outcome;

typedef struct {
  hl_aws_outcome outcome;
  bool retryable;
  int http_status;
  char code[80];     /* the name after '#' in __type, "" when absent */
  char message[256]; /* message or Message, truncated */
} hl_aws_status;

/* Classifies a response from its HTTP status and body (the body may be
 * NULL or not JSON for a 5xx from a proxy). 2xx gives HL_AWS_OK. Returns
 * st->outcome. */
hl_aws_outcome hl_aws_classify(int http_status, const char *body, size_t len, hl_aws_status *st);
/* Whether an error code (the part after '#') is retried by the AWS SDKs'
 * standard mode. */
bool hl_aws_code_retryable(const char *code);
const char *hl_aws_outcome_name(hl_aws_outcome o);

/* Whether the x-amz-crc32 response header (unsigned decimal CRC-32 of the
 * body) matches; a missing header (NULL) counts as a match. The SDKs retry
 * a mismatch as a corrupted response. */
bool hl_aws_crc32_ok(const char *header, const void *body, size_t len);
uint32_t hl_aws_crc32(const void *data, size_t len);

/* Full-jitter exponential backoff before retry number `retry` (1-based):
 * rnd/2^32 * min(base_ms * 2^(retry-1), cap_ms). The SDK standard mode is
 * base 1000, cap 20000; rnd comes from hl_random_u32 (a parameter so tests
 * are deterministic). */
uint64_t hl_aws_backoff_ms(unsigned retry, uint64_t base_ms, uint64_t cap_ms, uint32_t rnd);

/* The request a service sees: who it is for and how its body is typed. */
typedef struct {
  const char *service;      /* SigV4 signing name: "dynamodb", "secretsmanager" */
  const char *content_type; /* "application/x-amz-json-1.0" or "-1.1" */
} hl_aws_json_service;

/* Signs POST / to host (e.g. "dynamodb.eu-west-1.amazonaws.com" or
 * "127.0.0.1:8000") for target with body, signing Host, Content-Type and
 * X-Amz-Target. The caller sends those three headers plus out->add[] (date,
 * token when the credentials have one, Authorization). cache may be NULL.
 * Errors as hl_sigv4_sign. */
int hl_aws_json_sign(const hl_aws_json_service *svc, const char *host, const char *target, const char *region,
                     const hl_aws_creds *creds, int64_t now_s, const void *body, size_t body_len,
                     hl_sigv4_key_cache *cache, hl_sigv4_out *out);

/* --- the client ------------------------------------------------------------- */
typedef struct {
  hl_aws_json_service svc;
  const char *endpoint;      /* "https://dynamodb.eu-west-1.amazonaws.com", "http://127.0.0.1:8000" */
  const char *region;        /* signing region */
  bool check_crc32;          /* the service sends x-amz-crc32 (DynamoDB) */
  bool sensitive;            /* answers carry secrets: wipe them after the callback */
  unsigned max_attempts;     /* first try included; 0: 10 */
  uint64_t base_ms;          /* 0: 25 */
  uint64_t throttle_base_ms; /* 0: 500 */
  uint64_t cap_ms;           /* 0: 20000 */
  long timeout_ms;           /* per attempt; 0: 10000 */
} hl_aws_json_opts;

/* st->outcome HL_AWS_OK on success; resp is the parsed response body (for
 * HL_AWS_CONDITION_FAILED too: it may carry "Item"), or NULL. */
typedef void (*hl_aws_json_cb)(void *data, const hl_aws_status *st, const hl_json *resp);
/* After a successful answer: writes the body of a follow-up request into
 * next and returns how many items it carries (0: the call is done). */
typedef int (*hl_aws_json_resend_fn)(hl_buf *next, const hl_json *resp);

typedef struct hl_aws_json_req hl_aws_json_req;

typedef struct {
  uv_loop_t *loop;
  hl_curl_uv *curl;
  hl_aws_creds_provider *creds;
  char *url, *host, *region;
  hl_aws_json_opts opt;
  hl_sigv4_key_cache key_cache;
  hl_timerq timers;
  hl_aws_json_req *live;     /* calls not yet finished */
  size_t nlive;
  /* Counters (tests, metrics). */
  int64_t calls, attempts, retries, failures;
  /* 0 after a success; the last transport or auth error otherwise (health). */
  int last_error;
  bool closing;
  void (*close_cb)(void *data);
  void *close_data;
} hl_aws_json_client;

/* creds is borrowed and must outlive the client. Returns 0 or HL_EINVAL
 * (endpoint not an http(s) URL, no region) with a message in err naming
 * `what` (e.g. "DYNAMODB_ENDPOINT"). */
int hl_aws_json_init(hl_aws_json_client *c, uv_loop_t *loop, hl_curl_uv *curl, hl_aws_creds_provider *creds,
                     const hl_aws_json_opts *opt, const char *what, char *err, size_t errlen);
/* Sends body to target ("DynamoDB_20120810.PutItem", static) and takes the
 * body (empty afterwards). resend may be NULL. cb runs once, on the loop,
 * never from inside this call. */
void hl_aws_json_call(hl_aws_json_client *c, const char *target, hl_buf *body, hl_aws_json_resend_fn resend,
                      hl_aws_json_cb cb, void *data);
/* Ends every call now: each callback runs with HL_AWS_TRANSIENT and code
 * "Canceled". For owners that must not wait on the network to close. */
void hl_aws_json_cancel_all(hl_aws_json_client *c);
/* Lets the calls in flight finish (their callbacks run), then closes; cb
 * runs once everything is closed. No new call may be made. */
void hl_aws_json_close(hl_aws_json_client *c, void (*cb)(void *data), void *data);

#endif
