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
} aws_sender;

/* One running call. A cancelled one stays until the AWS client calls back
 * (it cannot abandon a call), then goes without telling anyone. */
typedef struct {
  aws_sender *as;
  hl_send_req *req; /* NULL once cancelled */
  uint64_t sent_ns;
} aws_call;

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

/* The FIFO group id: the value at the pointer (a string, or a number's
 * text), else the event type. NULL with the reason when the event has none. */
static char *group_id(const hl_destination *d, const hl_send_req *req, char *why, size_t whylen) {
  const char *type = req->item->event_type ? req->item->event_type : req->sub->rec.event_type;
  if (!d->group_id_pointer) return hl_strdup(type);
  hl_json_doc doc;
  hl_json_doc_init(&doc);
  char *out = NULL;
  const hl_json *v = NULL;
  size_t blen;
  const char *body = hl_send_body(req, &blen);
  if (hl_json_parse(&doc, body, blen, NULL) == 0)
    v = hl_json_pointer(doc.root, d->group_id_pointer, strlen(d->group_id_pointer));
  if (v && (v->type == HL_JSON_STRING || v->type == HL_JSON_NUMBER)) out = hl_strndup(v->u.str, v->len);
  else
    snprintf(why, whylen, "the event has no string or number at %s for the FIFO message group id",
             d->group_id_pointer);
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

static void aws_send(hl_sender *base, hl_send_req *req) {
  aws_sender *as = (aws_sender *)base;
  const hl_sub *s = req->sub;
  const hl_destination *d = s->dest;
  const hl_eq_item *it = req->item;
  char why[HL_SEND_ERROR_SIZE];
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
  *call = (aws_call){.as = as, .req = req, .sent_ns = hl_mono_ns()};
  req->impl = call;
  const char *type = it->event_type ? it->event_type : s->rec.event_type;
  /* The bytes sent are the transformation's output when there is one. */
  size_t blen;
  const char *body = hl_send_body(req, &blen);
  int rc;
  if (d->type == HL_DEST_EVENTBRIDGE) {
    hl_events_entry e = {.bus = d->bus, .source = d->source, .detail_type = d->detail_type ? d->detail_type : type,
                         .detail = body, .detail_len = blen};
    rc = hl_events_put(c, &e, 1, on_put, call, why, sizeof why);
  } else {
    char ts[24];
    snprintf(ts, sizeof ts, "%" PRId64, hl_wall_ms() / 1000);
    hl_aws_attr attrs[] = {{"webhook-id", it->d.event_id}, {"event_type", type}, {"webhook-timestamp", ts}};
    char *gid = NULL;
    /* A body the service cannot take is refused for its size below
     * (hl_aws_message_check) without being read: finding the group id
     * parses it, on the loop, ~50 ms for an event of 1 MB. */
    bool fits = blen <= HL_AWS_MESSAGE_MAX;
    if (d->fifo && fits && !(gid = group_id(d, req, why, sizeof why))) {
      rc = HL_EINVAL;
    } else {
      char dedup[HL_AWS_FIFO_ID_MAX + 1];
      if (d->fifo) fifo_dedup_id(it, dedup, sizeof dedup);
      hl_aws_message m = {.body = body, .len = blen, .attrs = attrs, .n_attrs = HL_ARRAY_SIZE(attrs),
                          .group_id = gid, .dedup_id = d->fifo ? dedup : NULL};
      rc = d->type == HL_DEST_SNS ? hl_sns_publish(c, d->topic_arn, &m, on_message, call, why, sizeof why)
                                  : hl_sqs_send(c, d->queue_url, &m, on_message, call, why, sizeof why);
    }
    hl_free(gid);
  }
  if (rc != 0) {
    /* The service could never take this message: no call was made. */
    req->impl = NULL;
    hl_free(call);
    finish(req, HL_SEND_FAIL, false, 0, 0, why);
  }
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

static const hl_sender_vt aws_vt = {aws_send, aws_cancel, aws_close, NULL};

hl_sender *hl_sender_aws_create(uv_loop_t *loop, hl_curl_uv *curl, const hl_sender_aws_options *opt) {
  aws_sender *as = hl_calloc(1, sizeof *as);
  as->base.vt = &aws_vt;
  as->loop = loop;
  as->curl = curl;
  as->opt = *opt;
  if (as->opt.timeout_ms <= 0) as->opt.timeout_ms = 10000;
  return &as->base;
}
