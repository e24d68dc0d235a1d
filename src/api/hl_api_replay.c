/* hl_api_replay.c — POST /admin/events/{event_id}/replay: send an event
 * again, to every subscription it has a delivery to or to chosen ones
 * ({"subscriptions": ["sub_...", ...]}).
 *
 * A replay reopens each terminal delivery (SUCCESS or FAILED) through the
 * queue (hl_queue_vt.replay): the same event id, so the same webhook-id,
 * the bytes kept with the event, a new attempt counted on from the
 * delivery's, and the next replay generation, which names the idempotency
 * ledger entry the replay checks and writes
 * ("<subscription_id>#<event_id>#replay<N>"; hl_dispatch.c). So the
 * ledger entry of the first delivery never stops a replay, and a replay
 * is itself delivered once.
 *
 * Chosen subscriptions are checked first and all together: an id that is
 * not a subscription, or one the event has no delivery to (it did not
 * match it), is a 400 with the JSON pointer of that id, and nothing is
 * replayed. Then each delivery is reopened in turn, and the 202 says per
 * subscription what was queued: a delivery still open (PENDING or
 * RETRYING) is not queued twice, and says so.
 *
 * The Kafka queue keeps the bytes on topics only: it finds the delivery's
 * record there (the egress topic; the dead-letter topic for a FAILED one)
 * and produces it again (hl_queue_kafka.c); a record gone with the topic's
 * retention is event_gone. Lambda on MSK has the queue once it knows the
 * brokers (KAFKA_BROKERS, or an MSK batch's bootstrapServers; hl_lambda.c);
 * until then there is no queue here and the answer is 501
 * replay_not_supported, saying what to set.
 */
#include "api/hl_api_int.h"
#include "common/hl_common.h"
#include "common/hl_log.h"

#include <stdio.h>
#include <string.h>

#define REPLAY_MAX_SUBS 100

typedef struct {
  char *sub_id;
  int status;          /* the queue's answer (0: queued) */
  int64_t generation;
  bool skipped;        /* the subscription was deleted: nothing asked */
} replay_target;

typedef struct {
  hl_api *a;
  hl_http_req *req;
  char *event_id;
  char **chosen;       /* NULL: every delivery of the event */
  size_t nchosen;
  replay_target *t;
  size_t n, next;
} replay_ctx;

static void ctx_free(replay_ctx *c) {
  for (size_t i = 0; i < c->nchosen; i++) hl_free(c->chosen[i]);
  for (size_t i = 0; i < c->n; i++) hl_free(c->t[i].sub_id);
  hl_free(c->chosen);
  hl_free(c->t);
  hl_free(c->event_id);
  hl_free(c);
}

static void write_result(hl_jw *w, hl_api *a, const replay_target *t) {
  hl_sub *s = hl_registry_sub_get(a->reg, t->sub_id);
  hl_jw_obj_begin(w);
  hl_jw_key_str(w, "subscription_id", t->sub_id);
  hl_jw_key(w, "partner_id");
  if (s) hl_jw_str(w, s->rec.partner_id); else hl_jw_null(w);
  hl_jw_key(w, "queued"); hl_jw_bool(w, !t->skipped && t->status == 0);
  if (!t->skipped && t->status == 0) {
    hl_jw_key_int(w, "replay", t->generation);
  } else {
    const char *reason = t->skipped ? "subscription_deleted" : t->status == HL_EINVAL ? "still_open"
                         : t->status == HL_ENOTFOUND ? "event_gone" : "store_unavailable";
    const char *msg = t->skipped ? "the subscription was deleted; nothing to deliver to"
                      : t->status == HL_EINVAL ? "the delivery is still PENDING or RETRYING, or a replay of it is "
                                                 "under way: it will be delivered; replay it once it has finished"
                      : t->status == HL_ENOTFOUND ? "the delivery or its event body is gone (retention)"
                                                  : "the store or the queue failed; try again";
    hl_jw_key_str(w, "reason", reason);
    hl_jw_key_str(w, "message", msg);
  }
  hl_jw_obj_end(w);
}

static void respond_unsupported(hl_http_req *req) {
  hl_api_respond_error(req, 501, "replay_not_supported",
                       "this process cannot send an event again yet: in Lambda on MSK replay needs the Kafka "
                       "brokers (set KAFKA_BROKERS, or wait until this function has handled an MSK batch, "
                       "whose bootstrapServers it then uses)", NULL);
}

static void answer(replay_ctx *c) {
  hl_api *a = c->a;
  size_t queued = 0, failed = 0;
  for (size_t i = 0; i < c->n; i++) {
    if (c->t[i].skipped) continue;
    if (c->t[i].status == 0) queued++;
    else if (c->t[i].status != HL_EINVAL && c->t[i].status != HL_ENOTFOUND) failed++;
  }
  bool unsupported = false;
  for (size_t i = 0; i < c->n; i++) unsupported |= !c->t[i].skipped && c->t[i].status == HL_EUNSUPPORTED;
  if (unsupported && queued == 0) {
    respond_unsupported(c->req);
  } else if (queued == 0 && failed > 0) {
    hl_api_respond_store_error(c->req, HL_ESTORE);
  } else {
    hl_buf b = HL_BUF_INIT;
    hl_jw w;
    hl_jw_open(&w, &b);
    hl_jw_key_str(&w, "event_id", c->event_id);
    hl_jw_key_int(&w, "queued", (int64_t)queued);
    hl_jw_key_arr(&w, "subscriptions");
    for (size_t i = 0; i < c->n; i++) write_result(&w, a, &c->t[i]);
    hl_jw_arr_end(&w);
    hl_jw_obj_end(&w);
    hl_log_info("event replayed", "\"event_id\":\"%s\",\"queued\":%zu", hl_log_esc(c->event_id, (size_t)-1),
                queued);
    hl_api_respond_buf(c->req, 202, &b);
  }
  a->pending--;
  ctx_free(c);
}

static void replay_next(replay_ctx *c);

static void on_replayed(void *data, int status, int64_t generation) {
  replay_ctx *c = data;
  replay_target *t = &c->t[c->next++];
  t->status = status;
  t->generation = generation;
  replay_next(c);
}

/* One delivery at a time: a replay names few subscriptions, and the
 * answer lists them in order. */
static void replay_next(replay_ctx *c) {
  while (c->next < c->n && c->t[c->next].skipped) c->next++;
  if (c->next == c->n) {
    answer(c);
    return;
  }
  c->a->queue->vt->replay(c->a->queue, c->event_id, c->t[c->next].sub_id, on_replayed, c);
}

static const hl_delivery_rec *find_delivery(const hl_store_result *res, const char *sub_id) {
  for (size_t i = 0; i < res->ndeliveries; i++)
    if (res->deliveries[i].subscription_id && strcmp(res->deliveries[i].subscription_id, sub_id) == 0)
      return &res->deliveries[i];
  return NULL;
}

/* The chosen ids against the event's deliveries: each a subscription that
 * exists and that the event has a delivery to. Every bad id is named. */
static bool check_chosen(replay_ctx *c, const hl_store_result *res) {
  hl_buf d = HL_BUF_INIT;
  hl_jw w;
  hl_jw_init(&w, &d);
  hl_jw_arr_begin(&w);
  size_t bad = 0;
  for (size_t i = 0; i < c->nchosen; i++) {
    const char *msg = NULL;
    if (!hl_registry_sub_get(c->a->reg, c->chosen[i]))
      msg = "no subscription with this id";
    else if (!find_delivery(res, c->chosen[i]))
      msg = "the event did not match this subscription: it has no delivery to replay";
    if (!msg) continue;
    char path[48];
    snprintf(path, sizeof path, "/subscriptions/%zu", i);
    hl_jw_obj_begin(&w);
    hl_jw_key_str(&w, "path", path);
    hl_jw_key_str(&w, "message", msg);
    hl_jw_obj_end(&w);
    bad++;
  }
  hl_jw_arr_end(&w);
  if (bad) {
    hl_api_respond_error(c->req, 400, "invalid_request",
                         "some subscriptions cannot receive a replay of this event; nothing was replayed", d.data);
  }
  hl_buf_dispose(&d);
  return bad == 0;
}

static void on_deliveries(void *data, int status, hl_store_result *res) {
  replay_ctx *c = data;
  if (status != 0) {
    hl_api_respond_store_error(c->req, status);
  } else if (res->ndeliveries == 0) {
    hl_api_respond_error(c->req, 404, "not_found",
                         "no event with this id has deliveries (unknown, matched no subscription, or purged)", NULL);
  } else if (!c->chosen || check_chosen(c, res)) {
    c->n = c->chosen ? c->nchosen : res->ndeliveries;
    c->t = hl_calloc(c->n, sizeof *c->t);
    for (size_t i = 0; i < c->n; i++) {
      c->t[i].sub_id = hl_strdup(c->chosen ? c->chosen[i] : res->deliveries[i].subscription_id);
      c->t[i].skipped = !hl_registry_sub_get(c->a->reg, c->t[i].sub_id);
    }
    replay_next(c);
    return;
  }
  c->a->pending--;
  ctx_free(c);
}

/* The optional body: {} or {"subscriptions": [<id>, ...]} (1 to 100
 * distinct ids). False once a 400 is answered. */
static bool parse_chosen(replay_ctx *c) {
  if (c->req->body_len == 0) return true;
  hl_json_doc doc;
  if (!hl_api_parse_body(c->req, &doc)) return false;
  const char *ptr = NULL, *msg = NULL;
  char at[48];
  hl_buf unknown = HL_BUF_INIT; /* an unknown member's pointer: escaped, whole */
  const hl_json *root = doc.root, *subs = NULL;
  if (root->type != HL_JSON_OBJECT) {
    ptr = "", msg = "an object: {} or {\"subscriptions\": [...]}";
  } else {
    for (uint32_t i = 0; i < root->len && !msg; i++)
      if (strcmp(root->u.members[i].key, "subscriptions") != 0) {
        hl_json_pointer_append(&unknown, root->u.members[i].key, root->u.members[i].key_len);
        ptr = unknown.data, msg = "unknown member; the only one is \"subscriptions\"";
      }
    subs = hl_json_get(root, "subscriptions");
  }
  if (!msg && subs) {
    if (subs->type != HL_JSON_ARRAY || subs->len == 0 || subs->len > REPLAY_MAX_SUBS) {
      ptr = "/subscriptions", msg = "an array of 1 to 100 subscription ids";
    } else {
      c->chosen = hl_calloc(subs->len, sizeof *c->chosen);
      for (uint32_t i = 0; i < subs->len && !msg; i++) {
        const hl_json *v = &subs->u.items[i];
        snprintf(at, sizeof at, "/subscriptions/%u", i);
        const char *id = hl_json_str(v);
        if (!id || !*id || memchr(id, '\0', v->len)) {
          ptr = at, msg = "a subscription id (a non-empty string)";
          break;
        }
        for (size_t k = 0; k < c->nchosen && !msg; k++)
          if (strcmp(c->chosen[k], id) == 0) ptr = at, msg = "named twice";
        if (!msg) c->chosen[c->nchosen++] = hl_strdup(id);
      }
    }
  }
  if (msg) hl_api_respond_field_error(c->req, ptr, msg);
  hl_json_doc_dispose(&doc);
  hl_buf_dispose(&unknown);
  return msg == NULL;
}

void hl_api_replay_event(hl_api *a, hl_http_req *req, const char *event_id) {
  if (!a->queue || !a->queue->vt->replay) {
    respond_unsupported(req);
    return;
  }
  replay_ctx *c = hl_calloc(1, sizeof *c);
  c->a = a;
  c->req = req;
  c->event_id = hl_strdup(event_id);
  if (!parse_chosen(c)) {
    ctx_free(c);
    return;
  }
  a->pending++;
  a->store->vt->delivery_list(a->store, event_id, on_deliveries, c);
}
