/* hl_destination.h — where a subscription's deliveries go when it is not an
 * HTTP endpoint: an SNS topic, an SQS queue or an EventBridge bus.
 *
 * A subscription names either `url` (HTTP, hl_sender_http) or a
 * `destination` object; the object is checked here once, at registration
 * (the admin API answers 400 with the JSON pointer of the bad member), and
 * stored as its canonical JSON text (hl_sub_rec.destination_json), which
 * every store keeps as it is and the registry parses back on load:
 *
 *   {"type":"sns","topic_arn":"arn:aws:sns:eu-west-1:123456789012:payments"}
 *   {"type":"sqs","queue_url":"https://sqs.eu-west-1.amazonaws.com/123456789012/payments"}
 *   {"type":"eventbridge","bus":"payments","source":"com.example.payments",
 *    "detail_type":"payment.captured"}
 *
 * SNS and SQS also take "group_id_pointer": the JSON pointer, into the
 * event as accepted, of the FIFO MessageGroupId (default: the event type);
 * it is refused for a standard topic or queue, where SNS and SQS refuse a
 * group id. EventBridge's "bus" (name or ARN) defaults to the default bus
 * and "detail_type" to the event type; "source" is required.
 *
 * Ownership: a parsed destination owns its strings (hl_destination_free).
 */
#ifndef HL_DESTINATION_H
#define HL_DESTINATION_H

#include <stdbool.h>
#include <stddef.h>

#include "json/hl_json.h"

typedef enum { HL_DEST_HTTP = 0, HL_DEST_SNS, HL_DEST_SQS, HL_DEST_EVENTBRIDGE, HL_DEST__N } hl_dest_type;

typedef struct {
  hl_dest_type type;
  char *topic_arn;         /* SNS */
  char *queue_url;         /* SQS */
  char *bus;               /* EventBridge; NULL: the default bus */
  char *source;            /* EventBridge */
  char *detail_type;       /* EventBridge; NULL: the event type */
  char *group_id_pointer;  /* SNS/SQS FIFO; NULL: the event type */
  bool fifo;               /* a .fifo topic or queue */
} hl_destination;

/* "http", "sns", "sqs", "eventbridge". */
const char *hl_dest_type_name(hl_dest_type t);

/* Checks v (the value of "destination") and builds a destination. Returns 0,
 * or HL_EINVAL with the pointer of the bad member relative to v ("",
 * "/type", "/topic_arn", ...) in ptr and the reason in why. */
int hl_destination_parse(const hl_json *v, hl_destination **out, char *ptr, size_t ptrlen, char *why,
                         size_t whylen);
/* The same from stored text; NULL when it does not parse (a store edited by
 * hand): the subscription then fails its deliveries with the reason. */
hl_destination *hl_destination_from_text(const char *text, char *why, size_t whylen);
/* The canonical JSON object (what is stored and what the admin API shows). */
void hl_destination_write(hl_jw *w, const hl_destination *d);
void hl_destination_free(hl_destination *d);

#endif
