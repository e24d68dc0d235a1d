/* hl_aws_creds.h — where the AWS credentials come from, on the loop.
 *
 * The chain, first match wins (as the AWS SDKs do it for Lambda and ECS):
 *   1. static keys: AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN)
 *      — what Lambda hands a function;
 *   2. the container credentials endpoint — ECS task roles:
 *      AWS_CONTAINER_CREDENTIALS_RELATIVE_URI on http://169.254.170.2, or
 *      AWS_CONTAINER_CREDENTIALS_FULL_URI (https, or http to a loopback or
 *      the ECS/EKS link-local agent) with AWS_CONTAINER_AUTHORIZATION_TOKEN
 *      (or _TOKEN_FILE, re-read at each fetch) as the Authorization header.
 * Endpoint credentials are fetched through the loop's curl multi handle and
 * refreshed before they expire (15 minutes before expiry, or at half their
 * life when that is shorter), so a request rarely waits for them.
 *
 * Secrets never reach a log line or an error message: errors name the
 * source and what went wrong, never a key, token or response body.
 */
#ifndef HL_AWS_CREDS_H
#define HL_AWS_CREDS_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "common/hl_sm.h"
#include "crypto/hl_sigv4.h"
#include "loop/hl_curl_uv.h"

typedef struct {
  const char *access_key_id, *secret_access_key, *session_token;
  const char *container_relative_uri, *container_full_uri;
  const char *container_auth_token, *container_auth_token_file;
} hl_aws_creds_env;

typedef enum { HL_CREDS_NONE, HL_CREDS_STATIC, HL_CREDS_CONTAINER } hl_creds_source;

/* Someone waiting for credentials: cb runs once, on the loop, with 0 (call
 * hl_aws_creds_current) or a negative hl_err when the fetch failed. */
typedef struct hl_creds_waiter hl_creds_waiter;
struct hl_creds_waiter {
  hl_creds_waiter *next;
  void (*cb)(hl_creds_waiter *w, int status);
};

typedef struct {
  uv_loop_t *loop;
  hl_curl_uv *curl;
  hl_creds_source source;
  hl_fetch_state state;
  /* The credentials in use (owned strings, wiped when replaced). */
  char *akid, *secret, *token;
  int64_t expires_ms;   /* wall clock; 0: never (static keys) */
  bool valid;
  /* Container endpoint. */
  char *url, *auth_token, *auth_token_file;
  CURL *easy;
  hl_curl_xfer xfer;
  struct curl_slist *headers;
  char *body;
  size_t body_len;
  uv_timer_t refresh;   /* the next proactive refresh */
  hl_creds_waiter *waiters;
  void (*close_cb)(void *data);
  void *close_data;
} hl_aws_creds_provider;

/* Picks the source from env (copied). Returns 0, or HL_EINVAL with a
 * message in err when no source is configured or a URI is refused. */
int hl_aws_creds_init(hl_aws_creds_provider *p, uv_loop_t *loop, hl_curl_uv *curl,
                      const hl_aws_creds_env *env, char *err, size_t errlen);
/* The credentials when they are valid for at least another minute, else
 * NULL (then wait for them). The pointers stay valid until the next loop
 * turn that runs provider code; sign at once, do not keep them. */
const hl_aws_creds *hl_aws_creds_current(hl_aws_creds_provider *p, hl_aws_creds *out);
/* Queues w until credentials are there (starting a fetch when none runs). */
void hl_aws_creds_wait(hl_aws_creds_provider *p, hl_creds_waiter *w);
/* Removes a waiter that no longer wants its callback. */
void hl_aws_creds_unwait(hl_aws_creds_provider *p, hl_creds_waiter *w);
/* The server refused the credentials as expired: fetch anew (endpoint
 * sources; a no-op for static keys). */
void hl_aws_creds_invalidate(hl_aws_creds_provider *p);
const char *hl_creds_source_name(hl_creds_source s);
/* Stops fetching; pending waiters get HL_ECLOSED; cb runs once the handles
 * are closed, after which p may be freed. */
void hl_aws_creds_close(hl_aws_creds_provider *p, void (*cb)(void *data), void *data);

#endif
