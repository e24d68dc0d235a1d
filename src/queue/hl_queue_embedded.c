#include "queue/hl_queue_embedded.h"
#include "common/hl_common.h"

#include <stdlib.h>

typedef struct {
  hl_queue base;
  hl_store *store;
} embedded;

static void claim(hl_queue *q, const char *sub_id, size_t limit, int64_t now_ms, hl_store_cb cb, void *data) {
  hl_store *s = ((embedded *)q)->store;
  s->vt->eq_claim(s, sub_id, limit, now_ms, cb, data);
}

static void claim_head(hl_queue *q, const char *sub_id, int64_t now_ms, hl_store_cb cb, void *data) {
  hl_store *s = ((embedded *)q)->store;
  if (!s->vt->eq_claim_head) {
    cb(data, HL_EUNSUPPORTED, &(hl_store_result){0});
    return;
  }
  s->vt->eq_claim_head(s, sub_id, now_ms, cb, data);
}

static bool orders(const hl_queue *q) { return ((const embedded *)q)->store->vt->eq_claim_head != NULL; }

/* The status row and the queue row are one: eq_update writes both, in the
 * same transaction as a success's ledger entry written this turn. */
static void record(hl_queue *q, const hl_queue_attempt *a, hl_store_cb cb, void *data) {
  hl_store *s = ((embedded *)q)->store;
  s->vt->eq_update(s, &a->item->d, a->release, cb, data);
}

static void release(hl_queue *q, const hl_delivery_rec *r) {
  hl_store *s = ((embedded *)q)->store;
  s->vt->eq_update(s, r, true, NULL, NULL);
}

static void ready(hl_queue *q, const char *subscription_id) {
  if (q->on_ready) q->on_ready(q->ready_data, subscription_id);
}

typedef struct {
  hl_queue *q;
  hl_eq_accept ev;             /* a copy; its arrays are the caller's, alive until cb */
  hl_store_cb cb;
  void *data;
} accept_ctx;

static void on_accepted(void *data, int status, hl_store_result *res) {
  accept_ctx *c = data;
  if (status == 0)
    for (size_t i = 0; i < c->ev.nsubs; i++) ready(c->q, c->ev.subscription_ids[i]);
  hl_store_cb cb = c->cb;
  void *cb_data = c->data;
  hl_free(c);
  cb(cb_data, status, res);
}

static void queue_accept(hl_queue *q, const hl_eq_accept *ev, const char *ingress_topic, hl_store_cb cb, void *data) {
  hl_store *s = ((embedded *)q)->store;
  (void)ingress_topic;
  if (!s->vt->eq_accept) { /* DynamoDB without Kafka: nowhere durable to put the event */
    hl_store_result none = {0};
    cb(data, HL_EUNSUPPORTED, &none);
    return;
  }
  accept_ctx *c = hl_malloc(sizeof *c);
  *c = (accept_ctx){q, *ev, cb, data};
  s->vt->eq_accept(s, ev, on_accepted, c);
}

typedef struct {
  hl_queue *q;
  char *sub_id;
  hl_queue_requeue_cb cb;
  void *data;
} requeue_ctx;

static void on_requeued(void *data, int status, hl_store_result *res) {
  requeue_ctx *c = data;
  (void)res;
  if (status == 0) ready(c->q, c->sub_id);
  hl_queue_requeue_cb cb = c->cb;
  void *cb_data = c->data;
  hl_free(c->sub_id);
  hl_free(c);
  cb(cb_data, status, NULL, NULL);
}

static void requeue(hl_queue *q, const hl_registry *reg, const char *event_id, const char *sub_id,
                    hl_queue_requeue_cb cb, void *data) {
  hl_store *s = ((embedded *)q)->store;
  (void)reg;
  if (!s->vt->eq_requeue) {
    cb(data, HL_EUNSUPPORTED, NULL, NULL);
    return;
  }
  requeue_ctx *c = hl_malloc(sizeof *c);
  *c = (requeue_ctx){q, hl_strdup(sub_id), cb, data};
  s->vt->eq_requeue(s, event_id, sub_id, on_requeued, c);
}

static int64_t backlog(hl_queue *q) {
  hl_store *s = ((embedded *)q)->store;
  return s->vt->eq_backlog ? s->vt->eq_backlog(s) : -1;
}

static void destroy(hl_queue *q) { hl_free(q); }

typedef struct {
  hl_queue *q;
  char *sub_id;
  hl_queue_replay_cb cb;
  void *data;
} replay_ctx;

static void on_replayed(void *data, int status, hl_store_result *res) {
  replay_ctx *c = data;
  int64_t gen = status == 0 && res->value ? strtoll(res->value, NULL, 10) : 0;
  if (status == 0) ready(c->q, c->sub_id);
  hl_queue_replay_cb cb = c->cb;
  void *cb_data = c->data;
  hl_free(c->sub_id);
  hl_free(c);
  cb(cb_data, status, gen);
}

/* The store reopens the row (hl_store.eq_replay); the dispatcher hears of
 * it as of a re-queue. */
static void replay(hl_queue *q, const char *event_id, const char *sub_id, hl_queue_replay_cb cb, void *data) {
  hl_store *s = ((embedded *)q)->store;
  if (!s->vt->eq_replay) {
    cb(data, HL_EUNSUPPORTED, 0);
    return;
  }
  replay_ctx *c = hl_malloc(sizeof *c);
  *c = (replay_ctx){q, hl_strdup(sub_id), cb, data};
  s->vt->eq_replay(s, event_id, sub_id, on_replayed, c);
}

static const hl_queue_vt embedded_vt = {
  .name = "embedded", .redelivers = false, .owns_retries = false,
  .claim = claim, .claim_head = claim_head, .orders = orders, .record = record, .release = release, .accept = queue_accept, .requeue = requeue,
  .backlog = backlog, .destroy = destroy, .replay = replay,
};

hl_queue *hl_queue_embedded_create(hl_store *store) {
  embedded *e = hl_calloc(1, sizeof *e);
  e->base.vt = &embedded_vt;
  e->base.alone = store->vt->eq_alone;
  e->store = store;
  return &e->base;
}
