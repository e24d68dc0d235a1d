/* hl_lambda_rt.h — a client of the AWS Lambda Runtime API (2018-06-01) on
 * the loop's curl multi handle.
 *
 * The long poll for the next invocation is a request like any other: it has
 * no timeout (the sandbox may be frozen between invocations) and the loop
 * keeps serving timers and sockets meanwhile. Every call answers through a
 * callback on the loop, never from inside the call.
 */
#ifndef HL_LAMBDA_RT_H
#define HL_LAMBDA_RT_H

#include <stdint.h>

#include "common/hl_buf.h"
#include "loop/hl_curl_uv.h"

typedef struct {
  char request_id[128];
  int64_t deadline_ms;        /* Lambda-Runtime-Deadline-Ms, unix ms */
  char trace_id[256];         /* Lambda-Runtime-Trace-Id, "" when absent */
  char function_arn[256];
  char *body;                 /* the event (owned by the invocation) */
  size_t body_len;
} hl_lambda_invocation;

typedef struct hl_lambda_rt hl_lambda_rt;
/* status: 0 or a negative hl_err (HL_EIO: transport failure, HL_ECLOSED: the
 * Runtime API answered 500 — the container must exit). inv is valid during
 * the callback only; take inv->body by setting it to NULL. */
typedef void (*hl_lambda_next_cb)(hl_lambda_rt *rt, int status, hl_lambda_invocation *inv);
typedef void (*hl_lambda_post_cb)(hl_lambda_rt *rt, int status, void *data);

struct hl_lambda_rt {
  hl_curl_uv *curl;
  char base[256];             /* http://$AWS_LAMBDA_RUNTIME_API/2018-06-01 */
  void *data;                 /* the owner's */
};

/* Reads one header line of a /next answer ("Name: value\r\n", as curl
 * hands them over, status line and blank line included) into inv: the
 * request id, trace id, function ARN and deadline. Other lines leave inv
 * as it was; values too long for their field are cut. */
void hl_lambda_rt_header(hl_lambda_invocation *inv, const char *line, size_t len);

/* api: "host:port" (AWS_LAMBDA_RUNTIME_API). */
int hl_lambda_rt_init(hl_lambda_rt *rt, hl_curl_uv *curl, const char *api);
/* GET /runtime/invocation/next. */
void hl_lambda_rt_next(hl_lambda_rt *rt, hl_lambda_next_cb cb);
/* POST /runtime/invocation/{id}/response with body (copied). */
void hl_lambda_rt_respond(hl_lambda_rt *rt, const char *request_id, const char *body, size_t len,
                          hl_lambda_post_cb cb, void *data);
/* POST /runtime/invocation/{id}/error, or /runtime/init/error when
 * request_id is NULL; body {"errorMessage","errorType","stackTrace":[]}. */
void hl_lambda_rt_error(hl_lambda_rt *rt, const char *request_id, const char *error_type,
                        const char *message, hl_lambda_post_cb cb, void *data);

#endif
