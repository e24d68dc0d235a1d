/* hl_aws_sns.h — SNS Publish (Query protocol) on the shared AWS client.
 *
 * The message is sent as the exact bytes given (percent-encoded in the
 * form, decoded by SNS to the same bytes); message attributes are of type
 * String. For a FIFO topic (its name ends in ".fifo") MessageGroupId is
 * required and MessageDeduplicationId optional (omit it only when the topic
 * has content-based deduplication); for a standard topic neither is sent,
 * so a caller may pass them always. */
#ifndef HL_AWS_SNS_H
#define HL_AWS_SNS_H

#include "aws/hl_aws_client.h"
#include "aws/hl_aws_msg.h"

/* The client's service: signing name "sns", the Query protocol. */
extern const hl_aws_service hl_sns_service;

/* Builds the form body of a Publish (what hl_sns_publish sends). Returns 0,
 * or HL_EINVAL with the reason in err: a bad topic ARN, a message or
 * attribute SNS cannot carry, a FIFO topic without a valid group id.
 * Everything is checked before anything is written: on HL_EINVAL body is
 * untouched. */
int hl_sns_publish_body(const char *topic_arn, const hl_aws_message *m, hl_buf *body, char *err, size_t errlen);
/* Publishes through c (made with hl_sns_service). Returns 0 (cb runs
 * once, later, on the loop) or HL_EINVAL with the reason in err (cb never
 * runs). */
int hl_sns_publish(hl_aws_client *c, const char *topic_arn, const hl_aws_message *m, hl_aws_message_cb cb,
                   void *data, char *err, size_t errlen);

/* Reads MessageId and SequenceNumber out of a PublishResponse. */
void hl_sns_publish_parse(const char *xml, size_t len, hl_aws_message_result *res);

#endif
