/* hl_aws_msg.h — what SNS, SQS and EventBridge accept in a message, checked
 * before a request is built, so a delivery that can never be accepted fails
 * with a clear reason instead of a round trip and a 400.
 *
 * SNS and SQS carry text only: UTF-8 made of the XML characters #x9, #xA,
 * #xD, #x20-#xD7FF, #xE000-#xFFFD and #x10000-#x10FFFF. Any JSON document
 * fits unless a string holds U+FFFE or U+FFFF raw (escaped as \uFFFE it is
 * plain ASCII and fine). A message and its attributes together are at most
 * 256 KiB. */
#ifndef HL_AWS_MSG_H
#define HL_AWS_MSG_H

#include <stdbool.h>
#include <stddef.h>

#include "aws/hl_aws_client.h"

#define HL_AWS_MESSAGE_MAX 262144 /* bytes: SNS, SQS, an EventBridge PutEvents request */
#define HL_AWS_ATTRS_MAX 10       /* message attributes per message (SNS, SQS) */
#define HL_AWS_FIFO_ID_MAX 128    /* MessageGroupId, MessageDeduplicationId */

/* A String message attribute (SNS, SQS), or an encryption-context pair (KMS). */
typedef struct {
  const char *name;
  const char *value;
} hl_aws_attr;

/* 0 when s is UTF-8 of XML characters only; else HL_EINVAL with the byte
 * offset of the first offending sequence in *bad (may be NULL). */
int hl_aws_text_check(const char *s, size_t len, size_t *bad);
/* How many characters (code points) the UTF-8 text s holds: what AWS's
 * length constraints count (EventBridge's 256 for a source, 128 for a
 * detail type), not its bytes. */
size_t hl_aws_text_chars(const char *s, size_t len);

/* A message for SNS or SQS: the exact bytes of its body, its String
 * attributes and, for a FIFO topic or queue, the group id (required) and
 * the deduplication id (optional: content-based deduplication). */
typedef struct {
  const char *body;
  size_t len;
  const hl_aws_attr *attrs;
  size_t n_attrs;
  const char *group_id;
  const char *dedup_id;
} hl_aws_message;

/* What SNS or SQS answered for a message taken. */
typedef struct {
  char message_id[128];      /* "" when the answer did not name one */
  char sequence_number[128]; /* FIFO targets */
} hl_aws_message_result;

/* res is NULL unless st->verdict is OK; it lives until the callback returns. */
typedef void (*hl_aws_message_cb)(void *data, const hl_aws_status *st, const hl_aws_message_result *res);
/* What an SNS publish or an SQS send carries to its answer: the caller's
 * callback. */
typedef struct {
  hl_aws_message_cb cb;
  void *data;
} hl_aws_message_call;
/* The first step of every SNS and SQS answer: a call that failed is
 * reported to the caller (without a result) and true returned; on false
 * the answer is there to read. */
bool hl_aws_message_failed(const hl_aws_message_call *c, const hl_aws_status *st);

/* Checks a message for a target that is FIFO or not: the text rule above
 * for the body, attribute names of 1..256 of A-Z a-z 0-9 _ - . (no
 * leading, trailing or doubled '.', no "AWS." or "Amazon." prefix, no two
 * alike), non-empty values, at most HL_AWS_ATTRS_MAX, the 256 KiB total
 * (body, names, "String" and values), and for FIFO a valid group id and a
 * valid deduplication id when given. what names the body in messages
 * ("Message", "MessageBody"). Returns 0 or HL_EINVAL with the reason in
 * err. */
int hl_aws_message_check(const char *what, const hl_aws_message *m, bool fifo, char *err, size_t errlen);

/* A MessageGroupId or MessageDeduplicationId: 1..128 characters of
 * A-Z a-z 0-9 and ASCII punctuation. */
int hl_aws_fifo_id_check(const char *what, const char *id, char *err, size_t errlen);

#endif
