#include "aws/hl_aws_sqs.h"

#include <mbedtls/md5.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "aws/hl_aws_arn.h"
#include "common/hl_common.h"
#include "crypto/hl_crypto.h"
#include "json/hl_json.h"

#define TARGET "AmazonSQS.SendMessage"

const hl_aws_service hl_sqs_service = {"sqs", "application/x-amz-json-1.0", &hl_aws_protocol_json};

int hl_sqs_send_body(const char *queue_url, const hl_aws_message *m, hl_buf *body, char *err, size_t errlen) {
  bool fifo = false;
  if (hl_sqs_queue_url_check(queue_url, &fifo, err, errlen) != 0 ||
      hl_aws_message_check("MessageBody", m, fifo, err, errlen) != 0)
    return HL_EINVAL;
  hl_buf_reserve(body, m->len + m->len / 8 + 256);
  hl_jw w;
  hl_jw_open(&w, body);
  hl_jw_key(&w, "QueueUrl");
  hl_jw_str(&w, queue_url);
  hl_jw_key(&w, "MessageBody");
  hl_jw_strn(&w, m->body, m->len);
  if (m->n_attrs) {
    hl_jw_key_obj(&w, "MessageAttributes");
    for (size_t i = 0; i < m->n_attrs; i++) {
      hl_jw_key_obj(&w, m->attrs[i].name);
      hl_jw_key(&w, "DataType");
      hl_jw_str(&w, "String");
      hl_jw_key(&w, "StringValue");
      hl_jw_str(&w, m->attrs[i].value);
      hl_jw_obj_end(&w);
    }
    hl_jw_obj_end(&w);
  }
  if (fifo) {
    hl_jw_key(&w, "MessageGroupId");
    hl_jw_str(&w, m->group_id);
    if (m->dedup_id) {
      hl_jw_key(&w, "MessageDeduplicationId");
      hl_jw_str(&w, m->dedup_id);
    }
  }
  hl_jw_obj_end(&w);
  return 0;
}

typedef struct {
  hl_aws_message_call call;
  char md5[33]; /* hex MD5 of the body sent */
} send_call;

static void on_send(void *data, const hl_aws_status *st, const hl_json *resp) {
  send_call sc = *(send_call *)data;
  hl_free(data);
  if (hl_aws_message_failed(&sc.call, st)) return;
  const char *md5 = hl_json_str(hl_json_get(resp, "MD5OfMessageBody"));
  if (md5 && strcasecmp(md5, sc.md5) != 0) {
    hl_aws_status bad = *st;
    bad.outcome = HL_AWS_TRANSIENT;
    bad.verdict = HL_AWS_VERDICT_RETRY;
    bad.retryable = true;
    snprintf(bad.code, sizeof bad.code, "MD5Mismatch");
    snprintf(bad.message, sizeof bad.message, "MD5OfMessageBody %.40s is not the MD5 of the body sent (%s)", md5,
             sc.md5);
    sc.call.cb(sc.call.data, &bad, NULL);
    return;
  }
  hl_aws_message_result res;
  memset(&res, 0, sizeof res);
  const char *id = hl_json_str(hl_json_get(resp, "MessageId"));
  const char *seq = hl_json_str(hl_json_get(resp, "SequenceNumber"));
  if (id) snprintf(res.message_id, sizeof res.message_id, "%s", id);
  if (seq) snprintf(res.sequence_number, sizeof res.sequence_number, "%s", seq);
  sc.call.cb(sc.call.data, st, &res);
}

int hl_sqs_send(hl_aws_client *c, const char *queue_url, const hl_aws_message *m, hl_aws_message_cb cb, void *data,
                char *err, size_t errlen) {
  hl_buf body = HL_BUF_INIT;
  if (hl_sqs_send_body(queue_url, m, &body, err, errlen) != 0) return HL_EINVAL; /* body still empty */
  send_call *sc = hl_malloc(sizeof *sc);
  sc->call = (hl_aws_message_call){cb, data};
  uint8_t d[16];
  mbedtls_md5_ret((const unsigned char *)m->body, m->len, d);
  hl_hex(d, sizeof d, sc->md5);
  hl_aws_client_call_json(c, TARGET, &body, NULL, on_send, sc);
  return 0;
}
