/* hl_aws_query.h — the AWS Query protocol (awsQuery: SNS) on the shared
 * client (aws/hl_aws_client.h): the request is a form-encoded POST body
 * (Action=Publish&Version=2010-03-31&...), the answer XML:
 *
 *   <PublishResponse xmlns="..."><PublishResult><MessageId>...</MessageId>
 *   </PublishResult><ResponseMetadata>...</ResponseMetadata></PublishResponse>
 *
 *   <ErrorResponse xmlns="..."><Error><Type>Sender</Type>
 *   <Code>AuthorizationError</Code><Message>...</Message></Error>
 *   <RequestId>...</RequestId></ErrorResponse>
 *
 * XML is read with expat (entities and character references decoded, no
 * DTD or external entity is loaded). */
#ifndef HL_AWS_QUERY_H
#define HL_AWS_QUERY_H

#include <stdbool.h>
#include <stddef.h>

#include "aws/hl_aws_client.h"
#include "common/hl_buf.h"

#define HL_AWS_QUERY_CONTENT_TYPE "application/x-www-form-urlencoded; charset=utf-8"

/* Appends "key=value" (with a leading '&' unless body is empty), both
 * percent-encoded as SigV4 encodes (every byte but A-Z a-z 0-9 - _ . ~),
 * which every Query service decodes. */
void hl_aws_form_add(hl_buf *body, const char *key, const char *value, size_t value_len);
/* The same with a printf-formatted key ("MessageAttributes.entry.%zu.Name"). */
void hl_aws_form_addf(hl_buf *body, const char *value, size_t value_len, const char *key_fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The text of the first element whose path ends with the given local
 * names (namespaces ignored), e.g. {"PublishResult", "MessageId"}.
 * Appends it to out (decoded) and returns 0; HL_ENOTFOUND when there is no
 * such element, HL_EPARSE when the document is not well-formed XML. */
int hl_aws_xml_text(const char *xml, size_t len, const char *const *path, size_t depth, hl_buf *out);

#endif
