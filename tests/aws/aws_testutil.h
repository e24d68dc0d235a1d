/* Helpers of the AWS tests: the SNS/SQS/EventBridge/KMS test peer
 * (tools/aws_service_peer/peer.py) in its own process — it verifies every
 * request's SigV4 with botocore, records what it accepted, and dies with
 * the test process — and the loop teardown. */
#ifndef AWS_TESTUTIL_H
#define AWS_TESTUTIL_H

#include <sys/types.h>
#include <uv.h>

#include "aws/hl_aws_creds.h"
#include "json/hl_json.h"
#include "loop/hl_curl_uv.h"

/* Closes creds (may be NULL), then curl, runs the loop dry and closes it,
 * asserting that no handle was left open. */
void aws_loop_close(uv_loop_t *loop, hl_curl_uv *curl, hl_aws_creds_provider *creds);

typedef struct {
  pid_t pid;
  int port;
  char endpoint[64]; /* http://127.0.0.1:<port> */
} svc_peer;

/* token may be NULL. Asserts that the peer started. */
void svc_peer_start(svc_peer *p, const char *akid, const char *secret, const char *token);
void svc_peer_stop(svc_peer *p);
/* POST /_peer/fault with this JSON object. */
void svc_peer_fault(svc_peer *p, const char *json);
/* GET /_peer/requests parsed into doc; returns the "requests" array. */
const hl_json *svc_peer_requests(svc_peer *p, hl_json_doc *doc);
/* A counter of GET /_peer/stats (0 when absent). */
long svc_peer_stat(svc_peer *p, const char *name);

/* A counter of the AWS test peer's GET /stats (tools/aws_peer) on port. */
long aws_peer_stat(int port, const char *name);
/* The URL inside an MSK IAM token (base64url without padding), malloc'd. */
char *aws_token_url(const char *token);

#endif
