/* hl_aws_client.h — calls to AWS services on the loop, whatever their wire
 * protocol: the credentials, signing, retries and backoff every protocol
 * shares. The protocols beside it:
 *   - aws/hl_aws_json.h: awsJson1_0 / 1_1 (DynamoDB, SQS, EventBridge, KMS,
 *     Secrets Manager): JSON body, the operation in X-Amz-Target;
 *   - aws/hl_aws_query.h: awsQuery (SNS): a form-encoded body naming the
 *     Action, XML answers.
 *
 * Every call is a small state machine (wait for credentials → send → back
 * off → send ... → done) driven by the loop's curl multi handle and one
 * timer heap per client. A request is `POST /` signed with SigV4 (Host,
 * Content-Type and, for JSON, X-Amz-Target are signed).
 *
 * Retries follow the AWS SDKs' standard mode in kind: throttling codes,
 * 5xx, request timeouts, connection errors and (where the service sends
 * x-amz-crc32) CRC-32 mismatches are retried with capped exponential
 * backoff and full jitter; everything else (validation, access denied,
 * not found, ConditionalCheckFailedException, which is a normal outcome)
 * ends the call at once. An ExpiredToken answer refreshes the credentials
 * and retries. A JSON caller may also ask for a successful answer to be
 * followed up (DynamoDB's UnprocessedItems) through a resend hook.
 *
 * Every call ends with one hl_aws_status: a verdict (OK, RETRY: worth
 * trying again later, FAIL: permanent), the AWS error code, the HTTP
 * status, the message, the attempts made and the latency. The table of
 * codes is in docs/aws.md.
 *
 * Ownership: a call takes the request body. The answer handed to the
 * callback lives until the callback returns; with `sensitive` set it is
 * wiped afterwards.
 */
#ifndef HL_AWS_CLIENT_H
#define HL_AWS_CLIENT_H

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
  HL_AWS_NOT_FOUND,        /* the topic, queue, bus, key, table or secret does not exist */
  HL_AWS_IN_USE,           /* ResourceInUseException (CreateTable of an existing table) */
  HL_AWS_VALIDATION,       /* the request was refused as malformed or invalid */
  HL_AWS_AUTH,             /* credentials, signature or permission refused */
  HL_AWS_EXPIRED_TOKEN,    /* refresh the credentials, then retry */
  HL_AWS_UNKNOWN_OP,       /* UnknownOperationException (e.g. a server lacking TTL) */
  HL_AWS_OTHER,
} hl_aws_outcome;

/* What the caller should do about a call that ended. */
typedef enum {
  HL_AWS_VERDICT_OK = 0,
  HL_AWS_VERDICT_RETRY, /* throttled, 5xx, no answer, timed out: try again later */
  HL_AWS_VERDICT_FAIL,  /* permanent: trying again will not help */
} hl_aws_verdict;

typedef struct {
  hl_aws_outcome outcome;
  hl_aws_verdict verdict;
  bool retryable;
  int http_status;   /* 0 when no answer came */
  char code[80];     /* the AWS error code ("" when absent), e.g. "Throttling" */
  char message[256]; /* message or Message, truncated */
  unsigned attempts; /* attempts made by the call */
  uint64_t latency_us; /* from the call to its end, backoff included */
} hl_aws_status;

/* Fills st->outcome, retryable and verdict from st->code and http_status
 * (2xx: OK; 0: no HTTP status, as for an EventBridge entry's ErrorCode).
 * The codes are matched as the JSON and Query protocols spell them. */
hl_aws_outcome hl_aws_classify_code(int http_status, hl_aws_status *st);
/* Whether an error code is retried (throttling and transient codes). */
bool hl_aws_code_retryable(const char *code);
const char *hl_aws_outcome_name(hl_aws_outcome o);
const char *hl_aws_verdict_name(hl_aws_verdict v); /* "ok", "retry", "fail" */

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

/* --- protocols and services -------------------------------------------------- */
/* A wire protocol: how an error answer names its code and message. */
typedef struct {
  const char *name; /* "json", "query" */
  /* Fills st->code and st->message from an error answer's body (which may
   * be empty or not of the protocol, e.g. a proxy's 502 page). */
  void (*parse_error)(const char *body, size_t len, hl_aws_status *st);
} hl_aws_protocol;

extern const hl_aws_protocol hl_aws_protocol_json;  /* aws/hl_aws_json.c */
extern const hl_aws_protocol hl_aws_protocol_query; /* aws/hl_aws_query.c */

/* The request a service sees: who it is for and how its body is typed. */
typedef struct {
  const char *service;           /* SigV4 signing name: "dynamodb", "sns", "events", ... */
  const char *content_type;      /* "application/x-amz-json-1.0", "application/x-www-form-urlencoded; charset=utf-8" */
  const hl_aws_protocol *proto;  /* NULL: JSON */
} hl_aws_service;

/* Signs POST / to host (e.g. "sns.eu-west-1.amazonaws.com" or
 * "127.0.0.1:8000") with body, signing Host, Content-Type and, when target
 * is not NULL, X-Amz-Target. The caller sends those headers plus out->add[]
 * (date, token when the credentials have one, Authorization). cache may be
 * NULL. Errors as hl_sigv4_sign. */
int hl_aws_sign_post(const hl_aws_service *svc, const char *host, const char *target, const char *region,
                     const hl_aws_creds *creds, int64_t now_s, const void *body, size_t body_len,
                     hl_sigv4_key_cache *cache, hl_sigv4_out *out);

/* --- the client ------------------------------------------------------------- */
typedef struct {
  hl_aws_service svc;
  const char *endpoint;      /* "https://sns.eu-west-1.amazonaws.com", "http://127.0.0.1:8000" */
  const char *region;        /* signing region */
  bool check_crc32;          /* the service sends x-amz-crc32 (DynamoDB) */
  bool sensitive;            /* answers carry secrets: wipe them after the callback */
  unsigned max_attempts;     /* first try included; 0: 10 */
  uint64_t base_ms;          /* 0: 25 */
  uint64_t throttle_base_ms; /* 0: 500 */
  uint64_t cap_ms;           /* 0: 20000 */
  long timeout_ms;           /* per attempt; 0: 10000 */
} hl_aws_client_opts;

/* The raw answer: body (NUL-terminated, may be empty) of the last attempt.
 * st->verdict says what to do; on OK the body is the service's answer. */
typedef void (*hl_aws_raw_cb)(void *data, const hl_aws_status *st, const char *body, size_t len);
/* JSON flavour: st->outcome HL_AWS_OK on success; resp is the parsed
 * answer (for HL_AWS_CONDITION_FAILED too: it may carry "Item"), or NULL. */
typedef void (*hl_aws_json_cb)(void *data, const hl_aws_status *st, const hl_json *resp);
/* After a successful answer: writes the body of a follow-up request into
 * next and returns how many items it carries (0: the call is done). */
typedef int (*hl_aws_json_resend_fn)(hl_buf *next, const hl_json *resp);

typedef struct hl_aws_req hl_aws_req;

typedef struct {
  uv_loop_t *loop;
  hl_curl_uv *curl;
  hl_aws_creds_provider *creds;
  char *url, *host, *region;
  hl_aws_client_opts opt;
  hl_sigv4_key_cache key_cache;
  hl_timerq timers;
  hl_aws_req *live;          /* calls not yet finished */
  size_t nlive;
  /* Counters (tests, metrics). */
  int64_t calls, attempts, retries, failures;
  /* 0 after a success; the last transport or auth error otherwise (health). */
  int last_error;
  bool closing;
  void (*close_cb)(void *data);
  void *close_data;
} hl_aws_client;

/* creds is borrowed and must outlive the client. Returns 0 or HL_EINVAL
 * (endpoint not an http(s) URL, no region) with a message in err naming
 * `what` (e.g. "AWS_ENDPOINT_URL_SNS"). */
int hl_aws_client_init(hl_aws_client *c, uv_loop_t *loop, hl_curl_uv *curl, hl_aws_creds_provider *creds,
                       const hl_aws_client_opts *opt, const char *what, char *err, size_t errlen);
/* Sends body (taken; empty afterwards) with target in X-Amz-Target (JSON)
 * or none (NULL: Query, the action is in the body). cb runs once, on the
 * loop, never from inside this call. */
void hl_aws_client_call(hl_aws_client *c, const char *target, hl_buf *body, hl_aws_raw_cb cb, void *data);
/* The same with the answer parsed as JSON, and an optional resend hook. */
void hl_aws_client_call_json(hl_aws_client *c, const char *target, hl_buf *body, hl_aws_json_resend_fn resend,
                             hl_aws_json_cb cb, void *data);
/* The same call made once, with its own timeout (ms; 0: the client's) and
 * no retry: for health checks, which must answer quickly and say how the
 * service is now, not after minutes of backoff. */
void hl_aws_client_call_json_once(hl_aws_client *c, const char *target, hl_buf *body, long timeout_ms,
                                  hl_aws_json_cb cb, void *data);
/* Ends every call now: each callback runs with HL_AWS_TRANSIENT, verdict
 * RETRY and code "Canceled". For owners that must not wait on the network
 * to close. */
void hl_aws_client_cancel_all(hl_aws_client *c);
/* Lets the calls in flight finish (their callbacks run), then closes; cb
 * runs once everything is closed. No new call may be made. */
void hl_aws_client_close(hl_aws_client *c, void (*cb)(void *data), void *data);

#endif
