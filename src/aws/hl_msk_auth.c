#include "aws/hl_msk_auth.h"

#include <stdio.h>
#include <string.h>

#include "aws/hl_aws_endpoint.h"
#include "aws/hl_msk_iam.h"
#include "common/hl_common.h"

/* One request: lives from request() until its answer or cancel(). */
typedef struct {
  hl_msk_iam_req req;
  hl_msk_auth *a;
  hl_kafka_token_cb cb;
  void *data;
} msk_req;

static void answer(msk_req *m, int status, const char *token, int64_t expiry_ms, const char *why) {
  hl_kafka_token_cb cb = m->cb;
  void *data = m->data;
  hl_free(m);
  if (status != 0) {
    cb(data, status, NULL, 0, why ? why : "could not sign the MSK IAM token");
    return;
  }
  hl_buf info = HL_BUF_INIT;
  hl_msk_iam_describe(token, &info);
  cb(data, 0, token, expiry_ms, info.data);
  hl_buf_dispose(&info);
}

static void on_signed(void *data, int status, const char *token, int64_t expiry_ms, const char *why) {
  msk_req *m = data;
  m->a->pending--;
  answer(m, status, token, expiry_ms, why);
}

static void *request(hl_kafka_token_source *self, hl_kafka_token_cb cb, void *data) {
  hl_msk_auth *a = (hl_msk_auth *)self;
  msk_req *m = hl_calloc(1, sizeof *m);
  m->a = a;
  m->cb = cb;
  m->data = data;
  hl_msk_iam_params p = {.region = a->region, .host = a->host};
  hl_buf tok = HL_BUF_INIT;
  int64_t exp = 0;
  int rc = hl_msk_iam_token_from(&m->req, &a->creds, &p, &tok, &exp, on_signed, m);
  if (rc == HL_EAGAIN) {
    a->pending++;
    hl_buf_dispose(&tok);
    return m;
  }
  answer(m, rc, tok.data, exp, "could not sign the MSK IAM token (region, host or credentials unusable)");
  if (tok.data) explicit_bzero(tok.data, tok.cap);
  hl_buf_dispose(&tok);
  return NULL;
}

static void cancel(hl_kafka_token_source *self, void *req) {
  hl_msk_auth *a = (hl_msk_auth *)self;
  msk_req *m = req;
  hl_msk_iam_cancel(&m->req);
  a->pending--;
  hl_free(m);
}

int hl_msk_auth_init(hl_msk_auth *a, uv_loop_t *loop, hl_curl_uv *curl, const char *region, const char *host,
                     const hl_aws_creds_env *env, char *err, size_t errlen) {
  memset(a, 0, sizeof *a);
  if (!region || !*region) {
    snprintf(err, errlen, "MSK IAM authentication needs AWS_REGION (the cluster's region signs the token)");
    return HL_EINVAL;
  }
  if (!hl_aws_region_valid(region)) {
    snprintf(err, errlen, "AWS_REGION=%s is not a region name (e.g. eu-west-1)", region);
    return HL_EINVAL;
  }
  int rc = hl_aws_creds_init(&a->creds, loop, curl, env, err, errlen);
  if (rc != 0) {
    hl_aws_creds_close(&a->creds, NULL, NULL); /* its timer is open */
    return rc;
  }
  a->base.request = request;
  a->base.cancel = cancel;
  a->region = hl_strdup(region);
  a->host = host && *host ? hl_strdup(host) : NULL;
  return 0;
}

void hl_msk_auth_close(hl_msk_auth *a, void (*cb)(void *data), void *data) {
  hl_free(a->region);
  hl_free(a->host);
  a->region = a->host = NULL;
  hl_aws_creds_close(&a->creds, cb, data);
}
