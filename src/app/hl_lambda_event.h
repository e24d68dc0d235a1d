/* hl_lambda_event.h — the invocation events of the Lambda runtime read
 * into hookloop's terms, without I/O (hl_lambda does the rest):
 *
 *   - which kind an invocation event is (hl_lambda_event_kind);
 *   - MSK and self-managed Kafka batches: "records" is an object of
 *     "<topic>-<partition>" to arrays of records whose key and value are
 *     base64 and whose headers are [{"<name>": [<Java signed bytes>]}];
 *   - API Gateway HTTP API (v2) requests: method, rawPath, rawQueryString,
 *     headers and a body that may be base64;
 *   - API Gateway REST API (v1) proxy requests: httpMethod, path, the query
 *     parameters (multi-valued ones in full), headers and body likewise.
 *     Both are answered in the same proxy shape: statusCode, headers, body,
 *     isBase64Encoded;
 *   - direct invocations whose payload is an event (the producer envelope
 *     or a CloudEvent): posted to /api/v1/events as they are, answered in
 *     the same proxy shape.
 *
 * Everything decoded is copied: the event's document may go afterwards. */
#ifndef HL_LAMBDA_EVENT_H
#define HL_LAMBDA_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json/hl_json.h"
#include "loop/hl_http_server.h"
#include "loop/hl_kafka.h"

typedef enum {
  HL_LAMBDA_EVENT_KAFKA,     /* eventSource aws:kafka or SelfManagedKafka */
  HL_LAMBDA_EVENT_SCHEDULE,  /* EventBridge "Scheduled Event" (source aws.events) */
  HL_LAMBDA_EVENT_APIGW,     /* has requestContext.http (v2), or httpMethod and requestContext (REST, v1) */
  HL_LAMBDA_EVENT_DIRECT,    /* an event itself (eventHeader or specversion): a direct invocation */
  HL_LAMBDA_EVENT_OTHER
} hl_lambda_event_kind;

hl_lambda_event_kind hl_lambda_event_kind_of(const hl_json *ev);

/* Headers beyond this many on one record are dropped. */
#define HL_MSK_MAX_HEADERS 16

/* One Kafka record of a batch; every pointer is owned (hl_msk_record_dispose). */
typedef struct {
  char *partition_key;   /* "<topic>-<partition>": how the batch keyed it, and how failures are reported */
  char *topic;           /* "" when absent */
  int32_t partition;
  int64_t offset;
  char *key;             /* decoded, NUL-terminated; NULL when absent or not base64 */
  size_t key_len;
  char *value;           /* likewise; NULL is a tombstone */
  size_t len;
  hl_kafka_header headers[HL_MSK_MAX_HEADERS]; /* name and value (NUL-terminated) owned */
  size_t nheaders;
} hl_msk_record;

/* Records in the batch (the arrays' elements). */
size_t hl_msk_batch_count(const hl_json *ev);
/* Decodes the batch's records, in order, into out (room for
 * hl_msk_batch_count); returns how many. */
size_t hl_msk_batch_decode(const hl_json *ev, hl_msk_record *out);
void hl_msk_record_dispose(hl_msk_record *r);

/* The request of an API Gateway HTTP API (v2) or REST API (v1) event, detached
 * (hl_http_req_detached: answered through cb). A missing method is GET, a
 * missing path "/". A body that is not valid base64 while isBase64Encoded
 * says it is sets *bad_body (the request's body is then empty: the caller
 * answers 400 at /body, never hands it on). */
hl_http_req *hl_apigw_request(const hl_json *ev, hl_http_detached_cb cb, void *data, bool *bad_body);

/* A direct invocation (`aws lambda invoke` with an event as the payload):
 * POST /api/v1/events with body (the payload's exact bytes) as the
 * request, typed application/cloudevents+json when cloudevents, detached
 * like hl_apigw_request. trace (the invocation's Lambda-Runtime-Trace-Id;
 * NULL or "": none) is its X-Amzn-Trace-Id: a direct invocation has no
 * request headers of its own, and the event keeps this trace for its
 * deliveries. */
hl_http_req *hl_direct_request(const char *body, size_t len, bool cloudevents, const char *trace,
                               hl_http_detached_cb cb, void *data);

#endif
