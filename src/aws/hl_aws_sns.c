#include "aws/hl_aws_sns.h"

#include <stdio.h>
#include <string.h>

#include "aws/hl_aws_arn.h"
#include "aws/hl_aws_query.h"
#include "common/hl_common.h"

const hl_aws_service hl_sns_service = {"sns", HL_AWS_QUERY_CONTENT_TYPE, &hl_aws_protocol_query};

int hl_sns_publish_body(const hl_sns_publish_req *req, hl_buf *body, char *err, size_t errlen) {
  bool fifo = false;
  if (hl_sns_topic_arn_check(req->topic_arn, &fifo, err, errlen) != 0) return HL_EINVAL;
  if (hl_aws_message_check("Message", req->message, req->message_len, req->attrs, req->n_attrs, err, errlen) != 0)
    return HL_EINVAL;
  if (fifo && hl_aws_fifo_id_check("MessageGroupId (required for a FIFO topic)", req->group_id, err, errlen) != 0)
    return HL_EINVAL;
  if (fifo && req->dedup_id && hl_aws_fifo_id_check("MessageDeduplicationId", req->dedup_id, err, errlen) != 0)
    return HL_EINVAL;
  hl_buf_reserve(body, req->message_len * 3 + 256);
  hl_aws_form_add(body, "Action", "Publish", 7);
  hl_aws_form_add(body, "Version", "2010-03-31", 10);
  hl_aws_form_add(body, "TopicArn", req->topic_arn, strlen(req->topic_arn));
  hl_aws_form_add(body, "Message", req->message, req->message_len);
  for (size_t i = 0; i < req->n_attrs; i++) {
    const hl_aws_attr *a = &req->attrs[i];
    hl_aws_form_addf(body, a->name, strlen(a->name), "MessageAttributes.entry.%zu.Name", i + 1);
    hl_aws_form_addf(body, "String", 6, "MessageAttributes.entry.%zu.Value.DataType", i + 1);
    hl_aws_form_addf(body, a->value, strlen(a->value), "MessageAttributes.entry.%zu.Value.StringValue", i + 1);
  }
  if (fifo) {
    hl_aws_form_add(body, "MessageGroupId", req->group_id, strlen(req->group_id));
    if (req->dedup_id) hl_aws_form_add(body, "MessageDeduplicationId", req->dedup_id, strlen(req->dedup_id));
  }
  return 0;
}

void hl_sns_publish_parse(const char *xml, size_t len, hl_sns_publish_result *res) {
  static const char *const id_path[] = {"PublishResult", "MessageId"};
  static const char *const seq_path[] = {"PublishResult", "SequenceNumber"};
  memset(res, 0, sizeof *res);
  hl_buf t = HL_BUF_INIT;
  if (hl_aws_xml_text(xml, len, id_path, 2, &t) == 0 && t.data)
    snprintf(res->message_id, sizeof res->message_id, "%s", t.data);
  hl_buf_reset(&t);
  if (hl_aws_xml_text(xml, len, seq_path, 2, &t) == 0 && t.data)
    snprintf(res->sequence_number, sizeof res->sequence_number, "%s", t.data);
  hl_buf_dispose(&t);
}

typedef struct {
  hl_sns_publish_cb cb;
  void *data;
} publish_call;

static void on_publish(void *data, const hl_aws_status *st, const char *body, size_t len) {
  publish_call pc = *(publish_call *)data;
  hl_free(data);
  if (st->verdict != HL_AWS_VERDICT_OK) {
    pc.cb(pc.data, st, NULL);
    return;
  }
  /* An answer without a MessageId still means SNS took the message: a
   * retry would publish it twice. */
  hl_sns_publish_result res;
  hl_sns_publish_parse(body, len, &res);
  pc.cb(pc.data, st, &res);
}

int hl_sns_publish(hl_aws_client *c, const hl_sns_publish_req *req, hl_sns_publish_cb cb, void *data, char *err,
                   size_t errlen) {
  hl_buf body = HL_BUF_INIT;
  if (hl_sns_publish_body(req, &body, err, errlen) != 0) {
    hl_buf_dispose(&body);
    return HL_EINVAL;
  }
  publish_call *pc = hl_malloc(sizeof *pc);
  *pc = (publish_call){cb, data};
  hl_aws_client_call(c, NULL, &body, on_publish, pc);
  return 0;
}
