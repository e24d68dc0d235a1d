/* hl_aws_arn.h — syntax checks of the AWS names a destination carries, for
 * the admin API to refuse a bad one at registration (400 with the reason)
 * rather than at the first delivery:
 *   - ARNs: arn:<partition>:<service>:<region>:<account>:<resource>;
 *   - SNS topic ARNs: arn:<partition>:sns:<region>:<12 digits>:<name>, the
 *     name 1..256 of A-Z a-z 0-9 _ -, FIFO topics ending in ".fifo";
 *   - SQS queue URLs: http(s)://<host>[:port]/<12 digits>/<name>, the name
 *     1..80 of A-Z a-z 0-9 _ -, FIFO queues ending in ".fifo";
 *   - EventBridge buses: a name (1..256 of A-Z a-z 0-9 . _ - /) or
 *     arn:<partition>:events:<region>:<account>:event-bus/<name>.
 * Syntax only: whether the resource exists is the service's to say. */
#ifndef HL_AWS_ARN_H
#define HL_AWS_ARN_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
  char partition[16]; /* aws, aws-cn, aws-us-gov, aws-iso, aws-iso-b, aws-iso-e, aws-iso-f, aws-eusc */
  char service[32];
  char region[49];    /* "" for global resources */
  char account[13];   /* "" or 12 digits */
  const char *resource; /* points into the parsed string */
} hl_aws_arn;

/* Returns 0, or HL_EINVAL with the reason in why. */
int hl_aws_arn_parse(const char *s, hl_aws_arn *out, char *why, size_t whylen);
/* *fifo (may be NULL) tells a FIFO topic. */
int hl_sns_topic_arn_check(const char *s, bool *fifo, char *why, size_t whylen);
/* *fifo (may be NULL) tells a FIFO queue. */
int hl_sqs_queue_url_check(const char *s, bool *fifo, char *why, size_t whylen);
int hl_events_bus_check(const char *s, char *why, size_t whylen);

#endif
