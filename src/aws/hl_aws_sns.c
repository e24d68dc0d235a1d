#include "aws/hl_aws_sns.h"

#include <stdio.h>
#include <string.h>

#include "aws/hl_aws_arn.h"
#include "aws/hl_aws_query.h"
#include "common/hl_common.h"

const hl_aws_service hl_sns_service = {"sns", HL_AWS_QUERY_CONTENT_TYPE, &hl_aws_protocol_query};

int hl_sns_publish_body(const char *topic_arn, const hl_aws_message *m, hl_buf *body, char *err, size_t errlen) {
  bool fifo = false;
  if (hl_sns_topic_arn_check(topic_arn, &fifo, err, errlen) != 0 ||
      hl_aws_message_check("Message", m, fifo, err, errlen) != 0)
    return HL_EINVAL;
  hl_buf_reserve(body, m->len * 3 + 256);
  hl_aws_form_add(body, "Action", "Publish", 7);
  hl_aws_form_add(body, "Version", "2010-03-31", 10);
  hl_aws_form_add(body, "TopicArn", topic_arn, strlen(topic_arn));
  hl_aws_form_add(body, "Message", m->body, m->len);
  for (size_t i = 0; i < m->n_attrs; i++) {
    const hl_aws_attr *a = &m->attrs[i];
    hl_aws_form_addf(body, a->name, strlen(a->name), "MessageAttributes.entry.%zu.Name", i + 1);
    hl_aws_form_addf(body, "String", 6, "MessageAttributes.entry.%zu.Value.DataType", i + 1);
    hl_aws_form_addf(body, a->value, strlen(a->value), "MessageAttributes.entry.%zu.Value.StringValue", i + 1);
  }
  if (fifo) {
    hl_aws_form_add(body, "MessageGroupId", m->group_id, strlen(m->group_id));
    if (m->dedup_id) hl_aws_form_add(body, "MessageDeduplicationId", m->dedup_id, strlen(m->dedup_id));
  }
  return 0;
}

void hl_sns_publish_parse(const char *xml, size_t len, hl_aws_message_result *res) {
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

static void on_publish(void *data, const hl_aws_status *st, const char *body, size_t len) {
  hl_aws_message_call pc = *(hl_aws_message_call *)data;
  hl_free(data);
  if (hl_aws_message_failed(&pc, st)) return;
  /* An answer without a MessageId still means SNS took the message: a
   * retry would publish it twice. */
  hl_aws_message_result res;
  hl_sns_publish_parse(body, len, &res);
  pc.cb(pc.data, st, &res);
}

int hl_sns_publish(hl_aws_client *c, const char *topic_arn, const hl_aws_message *m, hl_aws_message_cb cb,
                   void *data, char *err, size_t errlen) {
  hl_buf body = HL_BUF_INIT;
  if (hl_sns_publish_body(topic_arn, m, &body, err, errlen) != 0) return HL_EINVAL; /* body still empty */
  hl_aws_message_call *pc = hl_malloc(sizeof *pc);
  *pc = (hl_aws_message_call){cb, data};
  hl_aws_client_call(c, NULL, &body, on_publish, pc);
  return 0;
}
