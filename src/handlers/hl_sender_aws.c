#include "handlers/hl_sender_aws.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "aws/hl_aws_arn.h"
#include "aws/hl_aws_client.h"
#include "aws/hl_aws_events.h"
#include "aws/hl_aws_sns.h"
#include "aws/hl_aws_sqs.h"
#include "common/hl_buf.h"
#include "common/hl_common.h"
#include "common/hl_log.h"
#include "crypto/hl_crypto.h"
#include "json/hl_json.h"
#include "model/hl_event.h"

/* One client per destination type and region, made on first use: calls are
 * signed for (and by default sent to) the region of the topic, queue or
 * bus, which need not be AWS_REGION. */
typedef struct svc_slot svc_slot;
struct svc_slot {
  hl_dest_type type;
  char region[49];
  hl_aws_client client;
  bool ready;
  char *error; /* why it could not be made (reported by every send), or NULL */
  svc_slot *next;
};

typedef struct {
  hl_sender base;
  uv_loop_t *loop;
  hl_curl_uv *curl;
  hl_sender_aws_options opt;
  hl_aws_creds_provider creds;
  bool creds_inited;  /* its timer handle exists (even when init failed) */
  bool creds_ready;
  char *creds_error;
  svc_slot *slots;
  int closing; /* handles still closing */
  struct aws_call *reads; /* calls whose body is being read on the threadpool */
  /* Bodies read for a FIFO group id or an EventBridge detail check, on the
   * loop (up to HL_EVENT_INLINE_BYTES) and on the threadpool (larger):
   * hookloop_aws_body_reads_total{where}. */
  uint64_t reads_loop, reads_threadpool;
} aws_sender;

/* One running call. A cancelled one stays until the AWS client calls back
 * (it cannot abandon a call), then goes without telling anyone.
 *
 * Before the call, a body over HL_EVENT_INLINE_BYTES that must be read (a
 * FIFO group id at a pointer, an EventBridge detail that must be a JSON
 * object) is read on the threadpool (read_work): parsing it on the loop
 * would hold every connection and timer ~12 ms for 256 KiB, on each
 * attempt. The work reads only its own copies (body, pointer), so a
 * request cancelled meanwhile may free its bytes; a call cancelled, or
 * whose sender closed (as NULL), is dropped when the work is done. */
typedef struct aws_call aws_call;
struct aws_call {
  aws_sender *as;   /* NULL once the sender closed while the body was read */
  hl_send_req *req; /* NULL once cancelled */
  uint64_t sent_ns;
  hl_aws_client *client;
  /* The read on the threadpool: its input (copies) and what it found. */
  uv_work_t work;
  char *body;
  size_t body_len;
  char *pointer; /* the FIFO group id's pointer; NULL: the EventBridge detail check */
  char *gid;     /* the group id found, or NULL */
  bool object;   /* the detail is a JSON object */
  aws_call *read_prev, *read_next; /* in as->reads */
};

static const hl_aws_service *service_of(hl_dest_type t) {
  switch (t) {
  case HL_DEST_SNS: return &hl_sns_service;
  case HL_DEST_SQS: return &hl_sqs_service;
  default: return &hl_events_service;
  }
}

static hl_aws_service_id endpoint_id_of(hl_dest_type t) {
  return t == HL_DEST_SNS ? HL_AWS_SNS : t == HL_DEST_SQS ? HL_AWS_SQS : HL_AWS_EVENTBRIDGE;
}

/* The region a destination lives in: the topic's or bus's ARN, the queue
 * URL's host (sqs.<region>.amazonaws.com, <region>.queue.amazonaws.com);
 * "" when it names none (a bus by name, a local endpoint's URL). */
static void region_of(const hl_destination *d, char *out, size_t cap) {
  out[0] = '\0';
  const char *arn = d->type == HL_DEST_SNS ? d->topic_arn : d->type == HL_DEST_EVENTBRIDGE ? d->bus : NULL;
  hl_aws_arn a;
  char why[160];
  if (arn && strncmp(arn, "arn:", 4) == 0 && hl_aws_arn_parse(arn, &a, why, sizeof why) == 0) {
    snprintf(out, cap, "%s", a.region);
  } else if (d->type == HL_DEST_SQS) {
    const char *h = strstr(d->queue_url, "://");
    h = h ? h + 3 : d->queue_url;
    size_t hl = strcspn(h, "/:");
    const char *first_dot = memchr(h, '.', hl);
    if (hl > 4 && strncmp(h, "sqs.", 4) == 0) {
      const char *r = h + 4, *e = memchr(r, '.', hl - 4);
      if (e) snprintf(out, cap, "%.*s", (int)(e - r), r);
    } else if (first_dot && strncmp(first_dot, ".queue.", 7) == 0) {
      snprintf(out, cap, "%.*s", (int)(first_dot - h), h);
    }
  }
  if (out[0] && !hl_aws_region_valid(out)) out[0] = '\0';
}

/* The client for a destination, made now if it is not yet; NULL with the
 * reason in *why when the settings do not allow one. */
static hl_aws_client *client_for(aws_sender *as, const hl_destination *d, const char **why) {
  hl_dest_type t = d->type;
  char region[49];
  region_of(d, region, sizeof region);
  if (!region[0] && as->opt.region) snprintf(region, sizeof region, "%s", as->opt.region);
  svc_slot *sl = as->slots;
  while (sl && (sl->type != t || strcmp(sl->region, region) != 0)) sl = sl->next;
  if (!sl) {
    sl = hl_calloc(1, sizeof *sl);
    sl->type = t;
    snprintf(sl->region, sizeof sl->region, "%s", region);
    sl->next = as->slots;
    as->slots = sl;
  }
  if (sl->ready) return &sl->client;
  if (sl->error) {
    *why = sl->error;
    return NULL;
  }
  char err[300];
  if (!as->creds_inited) {
    as->creds_inited = true;
    if (hl_aws_creds_init(&as->creds, as->loop, as->curl, &as->opt.creds, err, sizeof err) == 0)
      as->creds_ready = true;
    else
      as->creds_error = hl_strdup(err);
  }
  if (as->creds_error) {
    *why = as->creds_error;
    return NULL;
  }
  hl_buf ep = HL_BUF_INIT;
  const char *src = hl_aws_endpoint_resolve(endpoint_id_of(t), region, NULL, NULL, as->opt.env,
                                            as->opt.env_data, &ep);
  int rc = HL_EINVAL;
  if (!src) {
    snprintf(err, sizeof err, "no endpoint for %s: set AWS_REGION (or AWS_ENDPOINT_URL_%s)", hl_dest_type_name(t),
             hl_aws_service_env_name(endpoint_id_of(t)));
  } else {
    /* Once: the dispatcher retries on its schedule, as for HTTP. */
    hl_aws_client_opts o = {.svc = *service_of(t), .endpoint = ep.data, .region = region,
                            .max_attempts = 1, .timeout_ms = as->opt.timeout_ms};
    rc = hl_aws_client_init(&sl->client, as->loop, as->curl, &as->creds, &o, src, err, sizeof err);
  }
  hl_buf_dispose(&ep);
  if (rc != 0) {
    sl->error = hl_strdup(err);
    *why = sl->error;
    return NULL;
  }
  sl->ready = true;
  return &sl->client;
}

static void finish(hl_send_req *req, hl_send_verdict v, bool attempted, long status, double latency,
                   const char *error) {
  hl_send_result res = {.verdict = v, .attempted = attempted, .status_code = status, .latency_s = latency};
  if (error) snprintf(res.error, sizeof res.error, "%s", error);
  req->done(req, &res);
}

static void call_done(aws_call *c, const hl_aws_status *st) {
  hl_send_req *req = c->req;
  double latency = (double)(hl_mono_ns() - c->sent_ns) / 1e9;
  hl_free(c);
  if (!req) return; /* cancelled */
  req->impl = NULL;
  hl_send_verdict v = st->verdict == HL_AWS_VERDICT_OK      ? HL_SEND_OK
                      : st->verdict == HL_AWS_VERDICT_RETRY ? HL_SEND_RETRY
                                                            : HL_SEND_FAIL;
  /* An EventBridge entry refused inside a 200 is not a 2xx delivery. */
  long status = v != HL_SEND_OK && st->http_status >= 200 && st->http_status < 300 ? 0 : st->http_status;
  char err[HL_SEND_ERROR_SIZE];
  err[0] = '\0';
  if (v != HL_SEND_OK) {
    /* "Code: message", cut to fit (the message is the longer part). */
    int n = snprintf(err, sizeof err, "%s", st->code[0] ? st->code : hl_aws_outcome_name(st->outcome));
    if (st->message[0] && n > 0 && (size_t)n + 2 < sizeof err)
      snprintf(err + n, sizeof err - (size_t)n, ": %.*s", (int)(sizeof err - (size_t)n - 3), st->message);
  }
  finish(req, v, true, status, latency, v == HL_SEND_OK ? NULL : err);
}

static void on_message(void *data, const hl_aws_status *st, const hl_aws_message_result *res) {
  (void)res;
  call_done(data, st);
}

static void on_put(void *data, const hl_aws_status *st, const hl_events_entry_result *results, size_t n,
                   size_t failed) {
  (void)results, (void)n, (void)failed; /* st is already the worst entry's verdict */
  call_done(data, st);
}

/* The FIFO group id at pointer in the body: the value there (a string, or
 * a number's text), or NULL when the event has none. It parses the whole
 * body: a large one on the threadpool (read_work). */
static char *group_id_at(const char *body, size_t len, const char *pointer) {
  hl_json_doc doc;
  hl_json_doc_init(&doc);
  char *out = NULL;
  const hl_json *v = NULL;
  if (hl_json_parse(&doc, body, len, NULL) == 0) v = hl_json_pointer(doc.root, pointer, strlen(pointer));
  if (v && (v->type == HL_JSON_STRING || v->type == HL_JSON_NUMBER)) out = hl_strndup(v->u.str, v->len);
  hl_json_doc_dispose(&doc);
  return out;
}

/* A FIFO message's deduplication id: the event id, which SNS and SQS use
 * to drop a second send of the same delivery within their 5-minute window
 * (a retry after an answer that was lost). A replay is asked for on
 * purpose, so each generation gets an id of its own ("<event id>#r<n>"),
 * or the service would drop it as a copy. Event ids are up to 200
 * characters and the service takes 128: an id that does not fit is
 * replaced by the SHA-256 of the event id and generation, in hex (64
 * characters, the same for every retry of that generation). Into out. */
static void fifo_dedup_id(const hl_eq_item *it, char *out, size_t cap) {
  char gen[32] = "";
  if (it->replay > 0) snprintf(gen, sizeof gen, "#r%" PRId64, it->replay);
  size_t n = strlen(it->d.event_id) + strlen(gen);
  if (n <= HL_AWS_FIFO_ID_MAX && n < cap) {
    memcpy(out, it->d.event_id, n - strlen(gen));
    memcpy(out + n - strlen(gen), gen, strlen(gen) + 1);
    return;
  }
  hl_buf b = HL_BUF_INIT;
  hl_buf_printf(&b, "%s%s", it->d.event_id, gen);
  uint8_t sum[32];
  hl_sha256(b.data, b.len, sum);
  hl_buf_dispose(&b);
  for (size_t i = 0; i < sizeof sum && 2 * i + 2 < cap; i++) snprintf(out + 2 * i, 3, "%02x", sum[i]);
}

static const char *event_type_of(const hl_send_req *req) {
  return req->item->event_type ? req->item->event_type : req->sub->rec.event_type;
}

/* The call, once what it needs from the body is known: read says whether
 * the body was read (for a FIFO group id at a pointer, or an EventBridge
 * detail), gid (taken) and object what that found. */
static void make_call(aws_call *call, bool read, char *gid, bool object) {
  hl_send_req *req = call->req;
  const hl_sub *s = req->sub;
  const hl_destination *d = s->dest;
  const hl_eq_item *it = req->item;
  hl_aws_client *c = call->client;
  char why[HL_SEND_ERROR_SIZE];
  const char *type = event_type_of(req);
  /* The bytes sent are the transformation's output when there is one. */
  size_t blen;
  const char *body = hl_send_body(req, &blen);
  call->sent_ns = hl_mono_ns();
  int rc;
  if (d->type == HL_DEST_EVENTBRIDGE) {
    hl_events_entry e = {.bus = d->bus, .source = d->source, .detail_type = d->detail_type ? d->detail_type : type,
                         .detail = body, .detail_len = blen, .detail_object = !read ? 0 : object ? 1 : -1};
    rc = hl_events_put(c, &e, 1, on_put, call, why, sizeof why);
  } else {
    char ts[24];
    snprintf(ts, sizeof ts, "%" PRId64, hl_wall_ms() / 1000);
    hl_aws_attr attrs[] = {{"webhook-id", it->d.event_id}, {"event_type", type}, {"webhook-timestamp", ts}};
    /* A body the service cannot take is refused for its size below
     * (hl_aws_message_check) without being read: finding the group id
     * parses it, ~50 ms for an event of 1 MB. Without a pointer the
     * group id is the event type. */
    bool fits = blen <= HL_AWS_MESSAGE_MAX;
    if (d->fifo && fits && !d->group_id_pointer) gid = hl_strdup(type);
    if (d->fifo && fits && !gid) {
      snprintf(why, sizeof why, "the event has no string or number at %s for the FIFO message group id",
               d->group_id_pointer);
      rc = HL_EINVAL;
    } else {
      char dedup[HL_AWS_FIFO_ID_MAX + 1];
      if (d->fifo) fifo_dedup_id(it, dedup, sizeof dedup);
      hl_aws_message m = {.body = body, .len = blen, .attrs = attrs, .n_attrs = HL_ARRAY_SIZE(attrs),
                          .group_id = gid, .dedup_id = d->fifo ? dedup : NULL};
      rc = d->type == HL_DEST_SNS ? hl_sns_publish(c, d->topic_arn, &m, on_message, call, why, sizeof why)
                                  : hl_sqs_send(c, d->queue_url, &m, on_message, call, why, sizeof why);
    }
  }
  hl_free(gid);
  if (rc != 0) {
    /* The service could never take this message: no call was made. */
    req->impl = NULL;
    hl_free(call);
    finish(req, HL_SEND_FAIL, false, 0, 0, why);
  }
}

static void read_work(uv_work_t *w) {
  aws_call *call = w->data;
  if (call->pointer) call->gid = group_id_at(call->body, call->body_len, call->pointer);
  else call->object = hl_events_detail_is_object(call->body, call->body_len);
}

static void on_read(uv_work_t *w, int status) {
  (void)status; /* never cancelled: nothing calls uv_cancel on it */
  aws_call *call = w->data;
  aws_sender *as = call->as;
  hl_free(call->body);
  hl_free(call->pointer);
  call->body = call->pointer = NULL;
  char *gid = call->gid;
  call->gid = NULL;
  if (as) {
    if (call->read_prev) call->read_prev->read_next = call->read_next;
    else as->reads = call->read_next;
    if (call->read_next) call->read_next->read_prev = call->read_prev;
    call->read_prev = call->read_next = NULL;
  }
  if (!as || !call->req) { /* cancelled, or the sender closed, meanwhile */
    hl_free(gid);
    hl_free(call);
    return;
  }
  make_call(call, true, gid, call->object);
}

static void aws_send(hl_sender *base, hl_send_req *req) {
  aws_sender *as = (aws_sender *)base;
  const hl_sub *s = req->sub;
  const hl_destination *d = s->dest;
  if (!d) {
    finish(req, HL_SEND_FAIL, false, 0, 0, s->dest_error ? s->dest_error : "the subscription has no destination");
    return;
  }
  const char *cerr = NULL;
  hl_aws_client *c = client_for(as, d, &cerr);
  if (!c) {
    finish(req, HL_SEND_FAIL, false, 0, 0, cerr);
    return;
  }
  aws_call *call = hl_calloc(1, sizeof *call);
  call->as = as;
  call->req = req;
  call->client = c;
  req->impl = call;
  size_t blen;
  const char *body = hl_send_body(req, &blen);
  /* What must be read from the body: an EventBridge detail (a JSON
   * object?), a FIFO group id at a pointer; never for a body refused for
   * its size (EventBridge counts the source and detail type with it). */
  bool read;
  size_t counted = blen;
  if (d->type == HL_DEST_EVENTBRIDGE) {
    read = true;
    counted += (d->source ? strlen(d->source) : 0) + strlen(d->detail_type ? d->detail_type : event_type_of(req));
  } else {
    read = d->fifo && d->group_id_pointer;
  }
  read = read && counted <= HL_AWS_MESSAGE_MAX;
  if (read && blen > HL_EVENT_INLINE_BYTES) {
    call->body = hl_malloc(blen);
    memcpy(call->body, body, blen);
    call->body_len = blen;
    call->pointer = d->type == HL_DEST_EVENTBRIDGE ? NULL : hl_strdup(d->group_id_pointer);
    call->read_next = as->reads;
    if (as->reads) as->reads->read_prev = call;
    as->reads = call;
    as->reads_threadpool++;
    call->work.data = call;
    uv_queue_work(as->loop, &call->work, read_work, on_read); /* fails only without a work callback */
    return;
  }
  char *gid = NULL;
  bool object = false;
  if (read) {
    as->reads_loop++;
    if (d->type == HL_DEST_EVENTBRIDGE) object = hl_events_detail_is_object(body, blen);
    else gid = group_id_at(body, blen, d->group_id_pointer);
  }
  make_call(call, read, gid, object);
}

static void aws_cancel(hl_sender *base, hl_send_req *req) {
  (void)base;
  aws_call *c = req->impl;
  if (c) c->req = NULL;
  req->impl = NULL;
}

static void closed_one(void *data) {
  aws_sender *as = data;
  if (--as->closing > 0) return;
  if (as->creds_inited) {
    /* The clients are closed: nothing uses the credentials any more. */
    as->creds_inited = as->creds_ready = false;
    as->closing = 1;
    hl_aws_creds_close(&as->creds, closed_one, as);
    return;
  }
  while (as->slots) {
    svc_slot *sl = as->slots;
    as->slots = sl->next;
    hl_free(sl->error);
    hl_free(sl);
  }
  hl_free(as->creds_error);
  hl_free(as);
}

static void aws_close(hl_sender *base) {
  aws_sender *as = (aws_sender *)base;
  /* Reads still on the threadpool (their requests cancelled) are dropped
   * when they are done, without the sender. */
  while (as->reads) {
    aws_call *call = as->reads;
    as->reads = call->read_next;
    call->as = NULL;
    call->read_prev = call->read_next = NULL;
  }
  /* A guard count of one, so no client finishing at once frees as. */
  as->closing = 1;
  for (svc_slot *sl = as->slots; sl; sl = sl->next) {
    if (!sl->ready) continue;
    hl_aws_client_cancel_all(&sl->client); /* cancelled calls free themselves */
    as->closing++;
    hl_aws_client_close(&sl->client, closed_one, as);
  }
  closed_one(as);
}

static void aws_render_metrics(const hl_sender *base, hl_buf *out) {
  const aws_sender *as = (const aws_sender *)base;
  hl_buf_printf(out, "# HELP hookloop_aws_body_reads_total Bodies read for a FIFO message group id or an "
                     "EventBridge detail check, by where they ran (bodies over 64 KiB on the threadpool).\n"
                     "# TYPE hookloop_aws_body_reads_total counter\n"
                     "hookloop_aws_body_reads_total{where=\"loop\"} %" PRIu64 "\n"
                     "hookloop_aws_body_reads_total{where=\"threadpool\"} %" PRIu64 "\n",
                as->reads_loop, as->reads_threadpool);
}

static const hl_sender_vt aws_vt = {aws_send, aws_cancel, aws_close, aws_render_metrics};

hl_sender *hl_sender_aws_create(uv_loop_t *loop, hl_curl_uv *curl, const hl_sender_aws_options *opt) {
  aws_sender *as = hl_calloc(1, sizeof *as);
  as->base.vt = &aws_vt;
  as->loop = loop;
  as->curl = curl;
  as->opt = *opt;
  if (as->opt.timeout_ms <= 0) as->opt.timeout_ms = 10000;
  return &as->base;
}
