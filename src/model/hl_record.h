/* hl_record.h — hookloop's Kafka record format, in one place.
 *
 * The only module that spells the record headers: what the producer API
 * puts on an ingress record (accepted_ms, traceparent), what the processor
 * fans out to egress topics and the dispatcher forwards to retry tiers and
 * the dead-letter topic (subscription_id, attempt, event_type, accepted_ms,
 * traceparent, due_ms, reason; event_id when the key is not the event id;
 * replay, the replay generation of a delivery sent again),
 * what a dead-lettered ingress record carries (reason, source_topic,
 * source_partition, source_offset); and how a record
 * read back becomes a delivery (hl_eq_item).
 *
 * A record is seen through hl_record, a borrowed view of one consumed
 * record wherever it came from (serve's consumer, an MSK batch in Lambda,
 * a parked retry): everything stays valid until the record is finished.
 */
#ifndef HL_RECORD_H
#define HL_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loop/hl_kafka.h"
#include "store/hl_store.h"

/* What the pipeline may add to an ingress record's value on its way: the
 * largest key and header set of the records made from it (egress, retry
 * tiers, dead letter) and the batch framing Kafka counts against
 * message.max.bytes. The producer API keeps this room (hl_record_value_max):
 * an event Kafka took but whose egress record it refused could be fanned
 * out nowhere. */
#define HL_RECORD_HEADROOM 2048

/* The largest value an ingress record may carry under a message.max.bytes
 * of message_max so that every record made from it fits. */
size_t hl_record_value_max(size_t message_max);

/* The header a dead-letter lookup matches a delivery's subscription by. */
#define HL_RECORD_SUBSCRIPTION_HEADER "subscription_id"
/* The header that names a delivery record's event when its key does not
 * (a fifo subscription's egress records); a lookup by event id matches it
 * or the key. */
#define HL_RECORD_EVENT_ID_HEADER "event_id"

typedef struct hl_record hl_record;
struct hl_record {
  const char *topic;
  int32_t partition;
  int64_t offset;
  const char *key;
  size_t key_len;
  const char *value;               /* NULL: no value (a tombstone) */
  size_t len;
  /* The last header called name (its length in *len), or NULL. */
  const void *(*header)(const hl_record *r, const char *name, size_t *len);
  const void *src;                 /* what header() reads */
};

/* Headers being written: the values are borrowed from the caller except the
 * numbers, which live in the struct (keep it alive until the produce call
 * returned; hl_kafka_produce copies). */
#define HL_RECORD_MAX_HEADERS 8
typedef struct {
  hl_kafka_header h[HL_RECORD_MAX_HEADERS];
  size_t n;
  char num[4][24];
  size_t nnum;
} hl_record_headers;

/* An ingress record: when it was accepted and its trace context (NULL: none). */
void hl_record_headers_ingress(hl_record_headers *o, int64_t accepted_ms, const char *trace);
/* A delivery on an egress or retry topic, or the dead-letter topic: its
 * subscription, the attempts made, its event type and trace (NULL: none)
 * and when the event was accepted. */
void hl_record_headers_delivery(hl_record_headers *o, const char *subscription_id, int64_t attempts,
                                const char *event_type, int64_t accepted_ms, const char *trace);
/* Adds the event id, on an egress record keyed by something else (a fifo
 * subscription's records are keyed by their order: hl_pipeline.c). */
void hl_record_headers_event_id(hl_record_headers *o, const char *event_id);
/* Adds the replay generation of a delivery sent again (hl_eq_item.replay;
 * nothing when 0, the event's own delivery). */
void hl_record_headers_replay(hl_record_headers *o, int64_t generation);
/* Adds when a retry falls due (wall-clock ms). */
void hl_record_headers_due(hl_record_headers *o, int64_t due_ms);
/* Adds why a delivery failed for good. */
void hl_record_headers_reason(hl_record_headers *o, const char *reason);
/* A record that cannot be handled, on the dead-letter topic: why, and
 * where it was read (topic, partition, offset of r). */
void hl_record_headers_dead_letter(hl_record_headers *o, const hl_record *r, const char *reason);
/* Adds the size of a value left out (value_bytes): a dead-letter record
 * whose copy of the value would be over message.max.bytes carries none,
 * and names where the bytes are instead (source_*, or the delivery's
 * egress record). */
void hl_record_headers_value_bytes(hl_record_headers *o, size_t len);
/* Whether a found record's headers say its value was left out (it has
 * none of the delivery's bytes to send again). */
bool hl_record_value_left_out(const hl_kafka_header *headers, size_t n);
/* A delivery re-queued from the dead-letter topic: its subscription and
 * attempts, and of the found record's headers those a delivery carries on
 * (event type, accepted time, trace, event id, replay generation: a failed
 * replay re-queued is still that replay). */
void hl_record_headers_requeue(hl_record_headers *o, const char *subscription_id, int64_t attempts,
                               const hl_kafka_header *found, size_t nfound);
/* A delivery sent again (POST /admin/events/{id}/replay) from a record of
 * it found on a topic: as a re-queue, but with the replay generation given
 * instead of the found record's. */
void hl_record_headers_replayed(hl_record_headers *o, const char *subscription_id, int64_t attempts,
                                int64_t generation, const hl_kafka_header *found, size_t nfound);

/* An ingress record put on a processor retry tier: r's accepted time,
 * trace and idempotency key carried over (borrowed from r), the schema
 * version it was accepted under (schema_id, "<domain>.<type>.v<n>", or
 * NULL: none named), the processor attempts made so far, when it falls due
 * and why it failed. */
void hl_record_headers_processor_retry(hl_record_headers *o, const hl_record *r, const char *schema_id,
                                       int64_t attempts, int64_t due_ms, const char *reason);

/* --- reading ----------------------------------------------------------------------------- */

/* The subscription a delivery record names (caller frees), or NULL. */
char *hl_record_subscription_id(const hl_record *r);
/* The same without a copy: borrowed from the record, not NUL-terminated
 * (its length in *len), or NULL. */
const char *hl_record_subscription_id_view(const hl_record *r, size_t *len);
/* When a retry record falls due, 0 when it carries no due time. */
int64_t hl_record_due_ms(const hl_record *r);
/* accepted_ms: when the event was accepted (the producer API's answer), or
 * dflt when the record has none (written by another producer). */
int64_t hl_record_accepted_ms(const hl_record *r, int64_t dflt);
/* An ingress record's trace context (caller frees), or NULL. */
char *hl_record_trace(const hl_record *r);
/* The attempts a record carries (its "attempt" header), 0 when none. */
int64_t hl_record_attempts(const hl_record *r);
/* The idempotency key an outside producer put on an ingress record (its
 * "idempotency_key" header; caller frees), or NULL. */
char *hl_record_idempotency_key(const hl_record *r);
/* The schema version a processor retry record was accepted under (its
 * "schema_id" header; caller frees), or NULL. */
char *hl_record_schema_id(const hl_record *r);
/* The event a delivery record carries (caller frees): its event_id header,
 * else its key (egress records are keyed by event id unless ordered), or
 * NULL when it has neither. */
char *hl_record_event_id(const hl_record *r);
/* Whether it carries one (no copy: the key is looked at first). */
bool hl_record_has_event_id(const hl_record *r);
/* Whether that id (the event_id header when it has one, else the key) is
 * one an event may have (hl_event_id.h): it becomes the webhook-id header. */
bool hl_record_event_id_ok(const hl_record *r);
/* The delivery a record of subscription_id carries (the caller owns it; see
 * hl_dispatch_submit). */
void hl_record_item(const hl_record *r, const char *subscription_id, hl_eq_item *it);
/* The same, but it->body is BORROWED from the record's value (not copied,
 * not NUL-terminated, never written through): valid only as long as the
 * record, and it must not be freed with the item. Only for an item handed
 * to hl_dispatch_submit_borrowed with the record as its token, whose
 * delivery lets go of the body before the record is finished. */
void hl_record_item_borrowed(const hl_record *r, const char *subscription_id, hl_eq_item *it);

#endif
