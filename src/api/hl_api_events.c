/* hl_api_events.c — the producer API: one event or a bulk array, checked
 * against its schema, then accepted into the embedded queue or produced to
 * the ingress topic. An event is acknowledged only once durable; an id seen
 * before is answered as a duplicate. Routed by hl_api.c. */
#include "api/hl_api.h"
#include "api/hl_api_idem.h"
#include "api/hl_api_int.h"
#include "common/hl_common.h"
#include "common/hl_log.h"
#include "common/hl_strmap.h"
#include "model/hl_event.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
/* --- events ------------------------------------------------------------------------------ */

static void write_rejection(hl_jw *w, const hl_event_check *e) {
  hl_jw_error_members(w, e->error, e->message, e->details.data, e->details.len);
}

static const char *trace_of(hl_http_req *req, char *buf, size_t n) {
  size_t len = 0;
  const char *t = hl_http_req_header(req, "traceparent", &len);
  if (!t) t = hl_http_req_header(req, "x-amzn-trace-id", &len);
  if (!t || len == 0 || len >= n) return NULL;
  memcpy(buf, t, len);
  buf[len] = '\0';
  /* W3C traceparent and X-Ray ids are printable ASCII. Anything else is
   * left out, as a trace header that does not parse is: kept, a byte that
   * is not UTF-8 made every PostgreSQL write of the event fail (a 503 the
   * producer retried for ever). */
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)buf[i] < 0x20 || (unsigned char)buf[i] > 0x7e) return NULL;
  return buf;
}

static bool over_high_water(hl_api *a, hl_http_req *req) {
  if (a->draining) {
    hl_http_header h = {"retry-after", 11, "5", 1};
    static const char body[] = "{\"error\":\"shutting_down\",\"message\":\"this instance is draining; send the event again\",\"details\":[]}";
    hl_http_respond(req, 503, &h, 1, body, sizeof body - 1);
    return true;
  }
  if (a->opt.backlog_high_water > 0 && hl_api_backlog(a) >= a->opt.backlog_high_water) {
    hl_http_header h = {"retry-after", 11, "2", 1};
    static const char body[] = "{\"error\":\"backpressure\",\"message\":\"too many deliveries are waiting; send the event again after Retry-After seconds\",\"details\":[]}";
    hl_http_respond(req, 503, &h, 1, body, sizeof body - 1);
    return true;
  }
  return false;
}

/* One accepted event waiting for its commit. */
typedef struct bulk_ctx bulk_ctx;
typedef struct {
  hl_api *a;
  hl_http_req *req;      /* single: answer here */
  bulk_ctx *bulk;        /* bulk: report here */
  size_t index;
  hl_event_check e;
  int64_t accepted_at;   /* ms since epoch, when the events table has it (0: not yet) */
  char *trace;           /* owned while the events table is written */
  /* single: the request's Idempotency-Key (NULL: none), bound to its body
   * until the event is accepted or refused for good (for its size: then
   * the key is given back, as for a body refused at its check). */
  hl_api_idem *idem;
} accept_ctx;

struct bulk_ctx {
  hl_http_req *req;
  size_t n, outstanding;
  hl_event_check *results;     /* status 0 + error "" accepted; error "duplicate" duplicate */
  /* first[i]: the element whose id element i repeats (i: none). A repeat
   * is not written: it is the first's duplicate (see on_bulk_checked). */
  size_t *first;
};

static void bulk_finish(bulk_ctx *b) {
  /* A repeated id: a duplicate of its first occurrence once that one is
   * accepted or found accepted before; refused as it was when it failed. */
  for (size_t i = 0; i < b->n; i++) {
    if (b->first[i] == i) continue;
    hl_event_check *e = &b->results[i];
    const hl_event_check *f = &b->results[b->first[i]];
    e->status = f->status;
    snprintf(e->error, sizeof e->error, "%s", f->status == 0 ? "duplicate" : f->error);
    snprintf(e->message, sizeof e->message, "%s", f->status == 0 ? "" : f->message);
    hl_buf_reset(&e->details);
    if (f->status != 0) hl_buf_append(&e->details, f->details.data, f->details.len);
  }
  hl_buf out = HL_BUF_INIT;
  hl_jw w;
  hl_jw_open(&w, &out);
  hl_jw_key_arr(&w, "results");
  size_t accepted = 0, duplicate = 0, rejected = 0, deliveries = 0;
  for (size_t i = 0; i < b->n; i++) {
    hl_event_check *e = &b->results[i];
    hl_jw_obj_begin(&w);
    hl_jw_key(&w, "id");
    if (e->id) hl_jw_str(&w, e->id); else hl_jw_null(&w);
    hl_jw_key(&w, "status");
    if (e->status == 0 && strcmp(e->error, "duplicate") == 0) {
      hl_jw_str(&w, "duplicate");
      duplicate++;
    } else if (e->status == 0) {
      hl_jw_str(&w, "accepted");
      accepted++;
      deliveries += e->nsubs;
    } else {
      hl_jw_str(&w, "rejected");
      write_rejection(&w, e);
      rejected++;
    }
    hl_jw_obj_end(&w);
    hl_event_check_dispose(e);
  }
  hl_jw_arr_end(&w);
  hl_jw_obj_end(&w);
  hl_log_info("bulk accepted", "\"events\":%zu,\"accepted\":%zu,\"duplicate\":%zu,\"rejected\":%zu,\"deliveries\":%zu",
              b->n, accepted, duplicate, rejected, deliveries);
  hl_api_respond_buf(b->req, 200, &out);
  hl_free(b->results);
  hl_free(b->first);
  hl_free(b);
}

/* {"id", "status"}: a single event's answer, accepted (202) or a duplicate (200). */
static void respond_id_status(hl_http_req *req, int code, const char *id, const char *status) {
  hl_buf b = HL_BUF_INIT;
  hl_jw w;
  hl_jw_open(&w, &b);
  hl_jw_key(&w, "id"); hl_jw_str(&w, id);
  hl_jw_key(&w, "status"); hl_jw_str(&w, status);
  hl_jw_obj_end(&w);
  hl_api_respond_buf(req, code, &b);
}

/* The queue refused the event for good for its size: Kafka's
 * message.max.bytes (1,000,000 by default) is below the API's 1 MiB. A 503
 * had the producer send it again for ever. */
#define QUEUE_TOO_BIG                                                                                      \
  "the event is over what the queue takes (Kafka's message.max.bytes, 1000000 bytes unless the brokers' "  \
  "and hookloop's are raised, less 2048 bytes kept for the key and headers of the records made from it); " \
  "nothing was accepted"

/* The whole body is what is too large: its detail points at the root. */
static void queue_too_big_details(hl_buf *out) {
  hl_jw w;
  hl_jw_init(&w, out);
  hl_jw_arr_begin(&w);
  hl_jw_obj_begin(&w);
  hl_jw_key(&w, "path"); hl_jw_str(&w, "");
  hl_jw_key(&w, "message"); hl_jw_str(&w, QUEUE_TOO_BIG);
  hl_jw_obj_end(&w);
  hl_jw_arr_end(&w);
}

static void on_accepted(void *data, int status, hl_store_result *res) {
  accept_ctx *c = data;
  hl_api *a = c->a;
  (void)res;
  a->pending--;
  if (status == 0) {
    /* A bulk request's events are counted in its "bulk accepted" line at
     * info (bulk_finish): a line each was ~6 % of a bulk intake's CPU. */
    if (!c->bulk || hl_log_get_level() <= HL_LOG_DEBUG)
      hl_log_write(c->bulk ? HL_LOG_DEBUG : HL_LOG_INFO, "event accepted",
                   "\"event_id\":\"%s\",\"event_type\":\"%s\",\"deliveries\":%zu",
                   hl_log_esc(c->e.id, (size_t)-1), hl_log_esc(c->e.type, (size_t)-1), c->e.nsubs);
    if (a->opt.on_accepted) a->opt.on_accepted(a->opt.hook_data, c->e.nsubs);
  }
  if (status != HL_ETOOBIG) {
    hl_api_idem_end(c->idem); /* bound to this body: accepted, or to send again */
    c->idem = NULL;
  }
  if (c->bulk) {
    hl_event_check *r = &c->bulk->results[c->index];
    *r = c->e;
    if (status == HL_EEXISTS) snprintf(r->error, sizeof r->error, "duplicate");
    else if (status == HL_ETOOBIG) {
      hl_event_reject(r, 413, "payload_too_large", "", "%s", QUEUE_TOO_BIG);
    } else if (status != 0) {
      r->status = 503;
      snprintf(r->error, sizeof r->error, "store_unavailable");
      snprintf(r->message, sizeof r->message, "the store failed (%s); send this event again", hl_strerror(status));
    }
    if (--c->bulk->outstanding == 0) bulk_finish(c->bulk);
  } else {
    if (status == 0) {
      respond_id_status(c->req, 202, c->e.id, "accepted");
    } else if (status == HL_EEXISTS) {
      respond_id_status(c->req, 200, c->e.id, "duplicate");
    } else if (status == HL_EUNSUPPORTED) {
      hl_api_respond_error(c->req, 503, "no_queue", "this process has no queue for events: set KAFKA_BROKERS, or use "
                    "HOOKLOOP_STORE=sqlite for the embedded queue", NULL);
    } else if (status == HL_ETOOBIG) {
      hl_buf b = HL_BUF_INIT, details = HL_BUF_INIT;
      queue_too_big_details(&details);
      hl_json_error_body(&b, "payload_too_large", QUEUE_TOO_BIG, details.data, details.len);
      hl_buf_dispose(&details);
      hl_api_idem_refuse(c->idem, c->req, 413, &b);
      c->idem = NULL;
    } else if (status == HL_EBUSY) {
      hl_http_header h = {"retry-after", 11, "1", 1};
      static const char body[] = "{\"error\":\"queue_unavailable\",\"message\":\"Kafka did not acknowledge the event; send it again\",\"details\":[]}";
      hl_http_respond(c->req, 503, &h, 1, body, sizeof body - 1);
    } else if (status == HL_EUNKNOWN) {
      /* Sending an event again is always safe: no "read it back" here. */
      hl_http_header h = {"retry-after", 11, "1", 1};
      static const char body[] = "{\"error\":\"store_unavailable\",\"message\":\"the store's answer was lost: send "
                                 "the event again (if it was taken, the answer is 200 duplicate)\",\"details\":[]}";
      hl_http_respond(c->req, 503, &h, 1, body, sizeof body - 1);
    } else {
      hl_api_respond_store_error(c->req, status);
    }
    hl_event_check_dispose(&c->e);
  }
  hl_free(c);
}

static hl_eq_accept accept_of(const accept_ctx *c, const char *trace) {
  return (hl_eq_accept){
    .event_id = c->e.id, .event_type = c->e.type, .body = c->e.body, .body_len = c->e.body_len,
    .trace = trace, .subscription_ids = (const char *const *)c->e.subs, .nsubs = c->e.nsubs,
    .attrs = c->e.attrs, .nattrs = c->e.nattrs, .accepted_at = c->accepted_at,
  };
}

static void queue_event(hl_api *a, accept_ctx *c, const char *trace);

/* The event's record is in the store's events table (or was already, from
 * an earlier attempt of the same id): now the queue. */
static void on_event_recorded(void *data, int status, hl_store_result *res) {
  accept_ctx *c = data;
  if (status != 0 && status != HL_EEXISTS) {
    hl_free(c->trace);
    c->trace = NULL;
    /* Another event had this id: a duplicate, as the embedded queue
     * answers one, and nothing of it is queued. */
    on_accepted(c, status == HL_ECONFLICT ? HL_EEXISTS : status, res);
    return;
  }
  char *trace = c->trace;
  c->trace = NULL;
  c->a->pending--;
  queue_event(c->a, c, trace);
  hl_free(trace);
}

/* A store with an events table (DynamoDB) keeps the event's record first,
 * then the queue takes it: an event is never queued without its record. */
static void store_event(hl_api *a, accept_ctx *c, const char *trace) {
  hl_store *s = a->store;
  if (!s->vt->event_put) {
    queue_event(a, c, trace);
    return;
  }
  a->pending++;
  c->accepted_at = hl_wall_ms();
  hl_eq_accept ev = accept_of(c, trace);
  size_t size = s->vt->event_size ? s->vt->event_size(&ev) : 0;
  if (s->vt->event_size_max && size > s->vt->event_size_max) {
    char msg[200];
    snprintf(msg, sizeof msg,
             "an event's record in the events table (its body and projected attributes) is at most %zu bytes; "
             "this one takes %zu", s->vt->event_size_max, size);
    if (c->bulk) {
      hl_event_check *r = &c->bulk->results[c->index];
      *r = c->e;
      hl_event_reject(r, 413, "payload_too_large", "", "%s", msg);
      a->pending--;
      if (--c->bulk->outstanding == 0) bulk_finish(c->bulk);
    } else {
      hl_buf b = HL_BUF_INIT;
      hl_json_error_body(&b, "payload_too_large", msg, NULL, 0);
      hl_api_idem_refuse(c->idem, c->req, 413, &b);
      hl_event_check_dispose(&c->e);
      a->pending--;
    }
    hl_free(c);
    return;
  }
  c->trace = trace ? hl_strdup(trace) : NULL;
  ev.trace = c->trace;
  s->vt->event_put(s, &ev, on_event_recorded, c);
}

/* Into the queue: the embedded one answers once the store committed the
 * event and its fan-out, Kafka once the brokers acknowledged it. */
static void queue_event(hl_api *a, accept_ctx *c, const char *trace) {
  hl_eq_accept ev = accept_of(c, trace);
  a->pending++;
  if (!a->queue) {
    /* Lambda without Kafka (its /tmp dies with the sandbox and nothing
     * would drain it): nowhere durable to put the event. */
    hl_store_result none = {0};
    on_accepted(c, HL_EUNSUPPORTED, &none);
    return;
  }
  a->queue->vt->accept(a->queue, &ev, c->e.ingress_topic, on_accepted, c);
}

/* The media type application/cloudevents+json, with or without parameters
 * (RFC 9110 section 8.3.1: "; charset=utf-8"); not a longer or shorter
 * type that begins alike. */
static bool is_cloudevents_ct(hl_http_req *req) {
  static const char type[] = "application/cloudevents+json";
  size_t len = 0, n = sizeof type - 1;
  const char *ct = hl_http_req_header(req, "content-type", &len);
  if (!ct || len < n || strncasecmp(ct, type, n) != 0) return false;
  return len == n || ct[n] == ';' || ct[n] == ' ' || ct[n] == '\t';
}

/* A request refused (not JSON, a name twice, a bulk that is no array, an
 * event its schema refuses), answered once its Idempotency-Key (idem; may
 * be NULL) is given back. */
static void respond_rejection(hl_http_req *req, const hl_event_check *e, hl_api_idem *idem) {
  hl_buf b = HL_BUF_INIT;
  hl_jw w;
  hl_jw_open(&w, &b);
  write_rejection(&w, e);
  hl_jw_obj_end(&w);
  hl_api_idem_refuse(idem, req, e->status, &b);
}

/* Checking a body may take the threadpool: the request waits in here. */
typedef struct {
  hl_api *a;
  hl_http_req *req;
  char trace[256];
  bool has_trace;
  hl_api_idem *idem;     /* the request's Idempotency-Key, bound to its body; NULL: none */
} intake;

static void on_event_checked(hl_event_batch *batch, void *data) {
  intake *in = data;
  hl_api *a = in->a;
  hl_http_req *req = in->req;
  a->pending--;
  /* A refused body gives its Idempotency-Key back; an accepted one keeps it. */
  if (batch->req.status != 0) {
    respond_rejection(req, &batch->req, in->idem);
  } else if (batch->events[0].status != 0) {
    const hl_event_check *e = &batch->events[0];
    hl_log_info("event rejected", "\"event_id\":\"%s\",\"error\":\"%s\",\"message\":\"%s\"",
                hl_log_esc(e->id, (size_t)-1), e->error, hl_log_esc(e->message, (size_t)-1));
    respond_rejection(req, e, in->idem);
  } else {
    accept_ctx *c = hl_calloc(1, sizeof *c);
    c->a = a;
    c->req = req;
    c->idem = in->idem;
    c->e = batch->events[0];
    batch->events[0] = (hl_event_check){0};
    store_event(a, c, in->has_trace ? in->trace : NULL);
  }
  hl_event_batch_free(batch);
  hl_free(in);
}

/* NULL: the request was answered (an empty body), after idem (may be
 * NULL) was given back. */
static intake *intake_new(hl_api *a, hl_http_req *req, hl_api_idem *idem) {
  if (req->body_len == 0) {
    hl_buf b = HL_BUF_INIT;
    hl_api_error_body_at(&b, "invalid_json", "the request body is empty; send a JSON document", "", "empty body");
    hl_api_idem_refuse(idem, req, 400, &b);
    return NULL;
  }
  intake *in = hl_calloc(1, sizeof *in);
  in->a = a;
  in->req = req;
  in->has_trace = trace_of(req, in->trace, sizeof in->trace) != NULL;
  in->idem = idem;
  a->pending++; /* a drain waits for the check, as for the store */
  return in;
}

static void start_intake(hl_api *a, hl_http_req *req, unsigned flags, hl_event_batch_cb cb, hl_api_idem *idem) {
  intake *in = intake_new(a, req, idem);
  if (!in) return;
  if (is_cloudevents_ct(req)) flags |= HL_EVENT_CLOUDEVENTS;
  hl_event_batch_start(a->opt.loop, a->reg, req->body, req->body_len, flags, cb, in);
}

/* A provider's own payload, no envelope: the event type is the path's, the
 * id the schema's x-id-pointer's or the Idempotency-Key / webhook-id
 * header's (hl_event_batch_start_raw). Answered as POST /api/v1/events. */
static void raw_event(hl_api_idem *k, hl_api *a, hl_http_req *req, const char *event_type) {
  size_t len = 0;
  const char *name = "Idempotency-Key";
  const char *h = hl_http_req_header(req, "idempotency-key", &len);
  if (!h) {
    name = "webhook-id";
    h = hl_http_req_header(req, "webhook-id", &len);
  }
  /* Whatever its length: one too long is refused as such, not as absent. */
  char *hid = h ? hl_strndup(h, len) : NULL;
  intake *in = intake_new(a, req, k);
  if (in)
    hl_event_batch_start_raw(a->opt.loop, a->reg, req->body, req->body_len, event_type, h ? name : NULL, hid,
                             on_event_checked, in);
  hl_free(hid);
}

/* The Idempotency-Key is bound to the body first (hl_api_idem.h), for raw
 * payloads too, whose id it also is when the schema names none. */
void hl_api_post_raw_event(hl_api *a, hl_http_req *req, const char *event_type) {
  if (over_high_water(a, req)) return;
  if (hl_api_idem_begin(a, req, event_type, raw_event)) return;
  raw_event(NULL, a, req, event_type);
}

static void post_event_keyed(hl_api_idem *k, hl_api *a, hl_http_req *req, const char *arg) {
  (void)arg;
  start_intake(a, req, 0, on_event_checked, k);
}

void hl_api_post_event(hl_api *a, hl_http_req *req) {
  if (over_high_water(a, req)) return;
  if (hl_api_idem_begin(a, req, NULL, post_event_keyed)) return;
  start_intake(a, req, 0, on_event_checked, NULL);
}

static void on_bulk_checked(hl_event_batch *batch, void *data) {
  intake *in = data;
  hl_api *a = in->a;
  a->pending--;
  if (batch->req.status != 0) {
    respond_rejection(in->req, &batch->req, NULL);
    hl_event_batch_free(batch);
    hl_free(in);
    return;
  }
  bulk_ctx *b = hl_calloc(1, sizeof *b);
  b->req = in->req;
  b->n = batch->n;
  b->results = hl_calloc(b->n, sizeof *b->results);
  b->first = hl_malloc((b->n ? b->n : 1) * sizeof *b->first);
  b->outstanding = 1; /* held until every element is handed out */
  /* An id that comes again in the same bulk is the earlier one's
   * duplicate, decided here: written concurrently, which of the two writes
   * the store took first is a race (DynamoDB's conditional puts may end in
   * either order), and "accepted" would go to the later one at times. */
  hl_strmap seen;
  hl_strmap_init(&seen);
  for (size_t i = 0; i < b->n; i++) {
    hl_event_check e = batch->events[i];
    batch->events[i] = (hl_event_check){0};
    b->first[i] = i;
    if (e.status != 0) {
      b->results[i] = e;
      continue;
    }
    void *at = e.id ? hl_strmap_get(&seen, e.id) : NULL;
    if (at) {
      b->first[i] = (size_t)((uintptr_t)at - 1);
      b->results[i] = e;
      continue;
    }
    if (e.id) hl_strmap_put(&seen, e.id, (void *)(uintptr_t)(i + 1));
    accept_ctx *c = hl_malloc(sizeof *c);
    *c = (accept_ctx){.a = a, .bulk = b, .index = i, .e = e};
    b->outstanding++;
    store_event(a, c, in->has_trace ? in->trace : NULL);
  }
  hl_strmap_dispose(&seen);
  hl_event_batch_free(batch);
  hl_free(in);
  if (--b->outstanding == 0) bulk_finish(b);
}

void hl_api_post_bulk(hl_api *a, hl_http_req *req) {
  if (over_high_water(a, req)) return;
  start_intake(a, req, HL_EVENT_BULK, on_bulk_checked, NULL);
}
