#include "store/hl_ddb_client.h"

#include <stdio.h>
#include <string.h>

#include "common/hl_common.h"

static const hl_aws_json_service DYNAMODB = {"dynamodb", "application/x-amz-json-1.0", &hl_aws_protocol_json};

void hl_ddb_default_endpoint(hl_buf *out, const char *region) {
  hl_buf_puts(out, "https://dynamodb.");
  hl_buf_puts(out, region ? region : "");
  hl_buf_puts(out, ".amazonaws.com");
}

int hl_ddb_client_init(hl_ddb_client *c, uv_loop_t *loop, hl_curl_uv *curl, hl_aws_creds_provider *creds,
                       const hl_ddb_opts *opt, char *err, size_t errlen) {
  if (!opt->region || !*opt->region) {
    memset(c, 0, sizeof *c);
    snprintf(err, errlen, "the DynamoDB store needs AWS_REGION (the signing region)");
    return HL_EINVAL;
  }
  hl_aws_json_opts o = *opt;
  o.svc = DYNAMODB;
  o.check_crc32 = true;
  o.sensitive = false;
  return hl_aws_json_init(c, loop, curl, creds, &o, "DYNAMODB_ENDPOINT", err, errlen);
}

void hl_ddb_call(hl_ddb_client *c, hl_ddb_op op, hl_buf *body, hl_aws_json_cb cb, void *data) {
  hl_aws_json_call(c, hl_ddb_target(op), body, op == HL_DDB_BATCH_WRITE_ITEM ? hl_ddb_batch_write_resend : NULL, cb,
                   data);
}

void hl_ddb_call_once(hl_ddb_client *c, hl_ddb_op op, hl_buf *body, long timeout_ms, hl_aws_json_cb cb, void *data) {
  hl_aws_json_call_once(c, hl_ddb_target(op), body, timeout_ms, cb, data);
}

typedef struct {
  hl_timerq_node node;
  hl_store_cb cb;
  void *data;
  int status;
  void (*then)(void *owner);
  void *owner;
} later;

static void on_later(hl_timerq_node *n) {
  later *l = hl_container_of(n, later, node);
  hl_store_result res = {0};
  if (l->cb) l->cb(l->data, l->status, &res);
  if (l->then) l->then(l->owner);
  hl_free(l);
}

void hl_ddb_answer_later(hl_ddb_client *c, hl_store_cb cb, void *data, int status, void (*then)(void *owner),
                         void *owner) {
  later *l = hl_calloc(1, sizeof *l);
  *l = (later){.cb = cb, .data = data, .status = status, .then = then, .owner = owner};
  hl_timerq_add(&c->timers, &l->node, 0, on_later);
}

void hl_ddb_client_close(hl_ddb_client *c, void (*cb)(void *data), void *data) { hl_aws_json_close(c, cb, data); }

int hl_ddb_sign(const char *host, hl_ddb_op op, const char *region, const hl_aws_creds *creds, int64_t now_s,
                const void *body, size_t body_len, hl_sigv4_key_cache *cache, hl_sigv4_out *out) {
  return hl_aws_json_sign(&DYNAMODB, host, hl_ddb_target(op), region, creds, now_s, body, body_len, cache, out);
}
