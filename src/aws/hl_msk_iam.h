/* hl_msk_iam.h — the SASL/OAUTHBEARER token an IAM-authenticated Amazon MSK
 * cluster accepts, built as AWS's published MSK IAM SASL signers build it
 * (aws-msk-iam-sasl-signer-js / -go / -python):
 *
 *   1. a GET of https://kafka.<region>.amazonaws.com/?Action=kafka-cluster%3AConnect
 *      presigned with SigV4 in the query (service kafka-cluster, the
 *      region, X-Amz-Expires 900, only `host` signed, the empty payload's
 *      hash, the session token signed in the query);
 *   2. a User-Agent query parameter added after signing;
 *   3. the query written sorted by key (as the JS and Go signers write it),
 *      the whole URL base64url-encoded without padding.
 * The token expires at X-Amz-Date + X-Amz-Expires. tests/vectors/msk-iam
 * holds tokens the JS signer produced; this module reproduces them byte for
 * byte.
 *
 * The published signers sign kafka.<region>.amazonaws.com whatever the
 * partition; `host` may name another (a broker's host name) for clusters
 * that want it. */
#ifndef HL_MSK_IAM_H
#define HL_MSK_IAM_H

#include <stdint.h>

#include "aws/hl_aws_creds.h"
#include "common/hl_buf.h"

#define HL_MSK_IAM_EXPIRES_S 900

typedef struct {
  const char *region;     /* required */
  const char *host;       /* NULL: kafka.<region>.amazonaws.com */
  const char *user_agent; /* NULL: "hookloop/<version>" */
  int64_t expires_s;      /* 0: 900; at most 900 */
} hl_msk_iam_params;

/* Appends the token to token and sets *expiry_ms (ms since the epoch).
 * now_s is the signing time. Returns 0, or HL_EINVAL for missing
 * credentials, a missing or malformed region or host, or expires_s out of
 * 1..900. No error path reveals the secret. */
int hl_msk_iam_token(const hl_msk_iam_params *p, const hl_aws_creds *creds, int64_t now_s, hl_buf *token,
                     int64_t *expiry_ms);

/* A token from the credentials chain, for librdkafka's token refresh on the
 * loop: with credentials at hand the token is made at once (0); otherwise
 * the request waits on the provider (HL_EAGAIN) and cb runs later, on the
 * loop, with the token or a failure (status < 0, why says what, naming no
 * secret). The token's life is cut to what remains of the credentials'
 * (as AWS's .NET and JS signers do), so it never outlives them. The
 * request (r) and the params' strings must live until cb has run or
 * hl_msk_iam_cancel. */
typedef void (*hl_msk_iam_cb)(void *data, int status, const char *token, int64_t expiry_ms, const char *why);

typedef struct {
  hl_creds_waiter waiter;
  hl_aws_creds_provider *creds;
  hl_msk_iam_params params;
  hl_msk_iam_cb cb;
  void *data;
  int pending;
} hl_msk_iam_req;

int hl_msk_iam_token_from(hl_msk_iam_req *r, hl_aws_creds_provider *creds, const hl_msk_iam_params *p,
                          hl_buf *token, int64_t *expiry_ms, hl_msk_iam_cb cb, void *data);
/* Withdraws a request that waits (its callback will not run). */
void hl_msk_iam_cancel(hl_msk_iam_req *r);

/* What a token says, for logs and tests, without anything secret: appends
 * JSON members "host", "action", "credential_scope" (date/region/service/
 * aws4_request: the access key id left out), "amz_date", "expires_s",
 * "user_agent" and "session_token" (true/false: whether one is signed in;
 * never its value, nor the signature). Returns 0, or HL_EINVAL when token
 * is not an MSK IAM token (out unchanged). */
int hl_msk_iam_describe(const char *token, hl_buf *out);

#endif
