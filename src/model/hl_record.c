#include "model/hl_record.h"
#include "common/hl_common.h"
#include "model/hl_event_id.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define H_SUBSCRIPTION HL_RECORD_SUBSCRIPTION_HEADER
#define H_ATTEMPT "attempt"
#define H_EVENT_TYPE "event_type"
#define H_ACCEPTED "accepted_ms"
#define H_TRACE "traceparent"
#define H_DUE "due_ms"
#define H_REASON "reason"
#define H_IDEMPOTENCY "idempotency_key"
#define H_EVENT_ID HL_RECORD_EVENT_ID_HEADER
#define H_REPLAY "replay"
#define H_SCHEMA "schema_id"
#define H_VALUE_BYTES "value_bytes"

static void put(hl_record_headers *o, const char *name, const char *value) {
  if (value && o->n < HL_RECORD_MAX_HEADERS) o->h[o->n++] = (hl_kafka_header){name, value, strlen(value)};
}

static void put_int(hl_record_headers *o, const char *name, int64_t v) {
  if (o->nnum == HL_ARRAY_SIZE(o->num)) return;
  char *s = o->num[o->nnum++];
  snprintf(s, sizeof o->num[0], "%" PRId64, v);
  put(o, name, s);
}

void hl_record_headers_ingress(hl_record_headers *o, int64_t accepted_ms, const char *trace) {
  *o = (hl_record_headers){0};
  put_int(o, H_ACCEPTED, accepted_ms);
  put(o, H_TRACE, trace);
}

void hl_record_headers_delivery(hl_record_headers *o, const char *subscription_id, int64_t attempts,
                                const char *event_type, int64_t accepted_ms, const char *trace) {
  *o = (hl_record_headers){0};
  put(o, H_SUBSCRIPTION, subscription_id);
  put_int(o, H_ATTEMPT, attempts);
  put(o, H_EVENT_TYPE, event_type);
  put_int(o, H_ACCEPTED, accepted_ms);
  put(o, H_TRACE, trace);
}

void hl_record_headers_event_id(hl_record_headers *o, const char *event_id) { put(o, H_EVENT_ID, event_id); }

void hl_record_headers_replay(hl_record_headers *o, int64_t generation) {
  if (generation > 0) put_int(o, H_REPLAY, generation);
}

void hl_record_headers_due(hl_record_headers *o, int64_t due_ms) { put_int(o, H_DUE, due_ms); }

void hl_record_headers_reason(hl_record_headers *o, const char *reason) { put(o, H_REASON, reason); }

void hl_record_headers_value_bytes(hl_record_headers *o, size_t len) { put_int(o, H_VALUE_BYTES, (int64_t)len); }

bool hl_record_value_left_out(const hl_kafka_header *headers, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(headers[i].name, H_VALUE_BYTES) == 0) return true;
  return false;
}

size_t hl_record_value_max(size_t message_max) {
  return message_max > HL_RECORD_HEADROOM ? message_max - HL_RECORD_HEADROOM : 0;
}

void hl_record_headers_dead_letter(hl_record_headers *o, const hl_record *r, const char *reason) {
  *o = (hl_record_headers){0};
  put(o, H_REASON, reason);
  put(o, "source_topic", r->topic);
  put_int(o, "source_partition", r->partition);
  put_int(o, "source_offset", r->offset);
}

/* A delivery produced again from a found record of it: the headers it
 * carries on, the replay generation among them when keep_replay. */
static void reopened(hl_record_headers *o, const char *subscription_id, int64_t attempts, bool keep_replay,
                     const hl_kafka_header *found, size_t nfound) {
  *o = (hl_record_headers){0};
  put(o, H_SUBSCRIPTION, subscription_id);
  put_int(o, H_ATTEMPT, attempts);
  static const char *const keep[] = {H_ACCEPTED, H_EVENT_TYPE, H_TRACE, H_EVENT_ID, H_REPLAY};
  for (size_t k = 0; k < HL_ARRAY_SIZE(keep) - !keep_replay; k++)
    for (size_t i = 0; i < nfound && o->n < HL_RECORD_MAX_HEADERS; i++)
      if (strcmp(found[i].name, keep[k]) == 0) o->h[o->n++] = found[i];
}

void hl_record_headers_requeue(hl_record_headers *o, const char *subscription_id, int64_t attempts,
                               const hl_kafka_header *found, size_t nfound) {
  reopened(o, subscription_id, attempts, true, found, nfound);
}

void hl_record_headers_replayed(hl_record_headers *o, const char *subscription_id, int64_t attempts,
                                int64_t generation, const hl_kafka_header *found, size_t nfound) {
  reopened(o, subscription_id, attempts, false, found, nfound);
  hl_record_headers_replay(o, generation);
}

/* r's own header name, borrowed as it is (not NUL-terminated). */
static void keep_header(hl_record_headers *o, const hl_record *r, const char *name) {
  size_t len = 0;
  const void *v = r->header(r, name, &len);
  if (v && o->n < HL_RECORD_MAX_HEADERS) o->h[o->n++] = (hl_kafka_header){name, v, len};
}

void hl_record_headers_processor_retry(hl_record_headers *o, const hl_record *r, const char *schema_id,
                                       int64_t attempts, int64_t due_ms, const char *reason) {
  *o = (hl_record_headers){0};
  keep_header(o, r, H_ACCEPTED);
  keep_header(o, r, H_TRACE);
  keep_header(o, r, H_IDEMPOTENCY);
  if (schema_id) put(o, H_SCHEMA, schema_id);
  put_int(o, H_ATTEMPT, attempts);
  put_int(o, H_DUE, due_ms);
  put(o, H_REASON, reason);
}

/* --- reading ----------------------------------------------------------------------------- */

static char *header_str(const hl_record *r, const char *name) {
  size_t len = 0;
  const void *v = r->header(r, name, &len);
  return v ? hl_strndup(v, len) : NULL;
}

/* Read for every record on the delivery path (attempt, accepted and due
 * times, replay): a number fits the stack buffer, no copy on the heap. */
static int64_t header_int(const hl_record *r, const char *name, int64_t dflt) {
  size_t len = 0;
  const void *v = r->header(r, name, &len);
  if (!v) return dflt;
  char buf[32];
  if (len < sizeof buf) {
    memcpy(buf, v, len);
    buf[len] = '\0';
    return strtoll(buf, NULL, 10);
  }
  char *big = hl_strndup(v, len);
  int64_t n = strtoll(big, NULL, 10);
  hl_free(big);
  return n;
}

char *hl_record_subscription_id(const hl_record *r) { return header_str(r, H_SUBSCRIPTION); }

const char *hl_record_subscription_id_view(const hl_record *r, size_t *len) {
  return r->header(r, H_SUBSCRIPTION, len);
}

int64_t hl_record_due_ms(const hl_record *r) { return header_int(r, H_DUE, 0); }

int64_t hl_record_accepted_ms(const hl_record *r, int64_t dflt) { return header_int(r, H_ACCEPTED, dflt); }

char *hl_record_trace(const hl_record *r) { return header_str(r, H_TRACE); }

int64_t hl_record_attempts(const hl_record *r) { return header_int(r, H_ATTEMPT, 0); }

char *hl_record_idempotency_key(const hl_record *r) { return header_str(r, H_IDEMPOTENCY); }

char *hl_record_schema_id(const hl_record *r) { return header_str(r, H_SCHEMA); }

char *hl_record_event_id(const hl_record *r) {
  char *id = header_str(r, H_EVENT_ID);
  if (id && *id) return id;
  hl_free(id);
  return r->key && r->key_len ? hl_strndup(r->key, r->key_len) : NULL;
}

bool hl_record_has_event_id(const hl_record *r) {
  size_t len = 0;
  return (r->key && r->key_len) || (r->header(r, H_EVENT_ID, &len) && len > 0);
}

bool hl_record_event_id_ok(const hl_record *r) {
  size_t len = 0;
  const char *h = r->header(r, H_EVENT_ID, &len);
  if (h && len > 0) return hl_event_id_ok(h, len);
  return r->key && hl_event_id_ok(r->key, r->key_len);
}

/* Everything of the item but its body. */
static void item_of(const hl_record *r, const char *subscription_id, hl_eq_item *it) {
  *it = (hl_eq_item){0};
  it->d.event_id = hl_record_event_id(r);
  if (!it->d.event_id) it->d.event_id = hl_strdup("");
  it->d.subscription_id = hl_strdup(subscription_id);
  it->d.attempts = header_int(r, H_ATTEMPT, 0);
  it->d.status = hl_strdup(it->d.attempts ? "RETRYING" : "PENDING");
  it->trace = header_str(r, H_TRACE);
  it->event_type = header_str(r, H_EVENT_TYPE);
  it->accepted_at = header_int(r, H_ACCEPTED, hl_wall_ms());
  it->replay = header_int(r, H_REPLAY, 0);
  if (it->replay < 0) it->replay = 0;
  it->d.replays = it->replay;
}

void hl_record_item(const hl_record *r, const char *subscription_id, hl_eq_item *it) {
  item_of(r, subscription_id, it);
  it->body = hl_malloc(r->len + 1);
  if (r->len) memcpy(it->body, r->value, r->len);
  it->body[r->len] = '\0';
  it->body_len = r->len;
}

void hl_record_item_borrowed(const hl_record *r, const char *subscription_id, hl_eq_item *it) {
  item_of(r, subscription_id, it);
  it->body = (char *)(r->value ? r->value : ""); /* never written through: see the header */
  it->body_len = r->value ? r->len : 0;
}
