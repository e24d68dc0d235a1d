/* hl_aws_sqs.h — SQS SendMessage (JSON protocol, awsJson1_0,
 * AmazonSQS.SendMessage) on the shared AWS client.
 *
 * The body is sent as the exact bytes given (a JSON string on the wire,
 * decoded by SQS to the same bytes); message attributes are of type String.
 * For a FIFO queue (its URL ends in ".fifo") MessageGroupId is required and
 * MessageDeduplicationId optional (content-based deduplication); for a
 * standard queue neither is sent. As the AWS SDKs do, the answer's
 * MD5OfMessageBody is checked against the body sent: a mismatch (the body
 * was altered on the way) ends the call with verdict RETRY and code
 * "MD5Mismatch". */
#ifndef HL_AWS_SQS_H
#define HL_AWS_SQS_H

#include "aws/hl_aws_client.h"
#include "aws/hl_aws_msg.h"

extern const hl_aws_service hl_sqs_service; /* "sqs", application/x-amz-json-1.0 */

/* Builds the JSON body of a SendMessage. Returns 0 or HL_EINVAL with the
 * reason in err (bad queue URL, body or attributes SQS cannot carry, FIFO
 * without a valid group id). Everything is checked before anything is
 * written: on HL_EINVAL body is untouched. */
int hl_sqs_send_body(const char *queue_url, const hl_aws_message *m, hl_buf *body, char *err, size_t errlen);
/* Sends through c (made with hl_sqs_service). Returns 0 (cb runs once,
 * later) or HL_EINVAL with the reason in err (cb never runs). */
int hl_sqs_send(hl_aws_client *c, const char *queue_url, const hl_aws_message *m, hl_aws_message_cb cb, void *data,
                char *err, size_t errlen);

#endif
