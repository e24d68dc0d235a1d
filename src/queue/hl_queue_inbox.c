#include "queue/hl_queue_inbox.h"
#include "common/hl_common.h"
#include "common/hl_log.h"

#include <string.h>

/* A record callback to run on a later loop turn. */
typedef struct later later;
struct later {
  later *next;
  hl_store_cb cb;
  void *data;
  int status;
};

typedef struct {
  hl_queue base;
  hl_queue_inbox_options opt;
  uv_idle_t idle;             /* runs the deferred callbacks */
  later *head, *tail;
  size_t acks;                /* acks in flight */
  size_t deferred;
} inbox_q;

static void run_later(uv_idle_t *h) {
  inbox_q *q = h->data;
  uv_idle_stop(h);
  later *l = q->head;
  q->head = q->tail = NULL;
  while (l) {
    later *next = l->next;
    q->deferred--;
    hl_store_result none = {0};
    l->cb(l->data, l->status, &none);
    hl_free(l);
    l = next;
  }
}

static void defer(inbox_q *q, hl_store_cb cb, void *data, int status) {
  later *l = hl_malloc(sizeof *l);
  *l = (later){NULL, cb, data, status};
  if (q->tail) q->tail->next = l;
  else q->head = l;
  q->tail = l;
  q->deferred++;
  uv_idle_start(&q->idle, run_later);
}

typedef struct {
  inbox_q *q;
  hl_store_cb cb;
  void *data;
} ack_ctx;

static void on_acked(void *data, const hl_inbox_result *r, const char *id) {
  ack_ctx *c = data;
  inbox_q *q = c->q;
  q->acks--;
  if (r->status != 0)
    hl_log_warn("inbox ack failed; the event stays pending and a later pass may deliver it again (same webhook-id)",
                "\"event_id\":\"%s\",\"http_status\":%d,\"attempts\":%u,\"error\":\"%s\"",
                hl_log_esc(id, (size_t)-1), r->http_status, r->attempts, hl_log_esc(r->error, (size_t)-1));
  if (q->opt.on_ack) q->opt.on_ack(q->opt.data, id, r);
  hl_store_result none = {0};
  hl_store_cb cb = c->cb;
  void *cb_data = c->data;
  hl_free(c);
  /* The client calls back on a later turn already. */
  cb(cb_data, r->status == 0 ? 0 : r->status, &none);
}

static void record(hl_queue *base, const hl_queue_attempt *a, hl_store_cb cb, void *data) {
  inbox_q *q = (inbox_q *)base;
  const hl_delivery_rec *d = &a->item->d;
  switch (a->outcome) {
  case HL_QUEUE_DELIVERED:
  case HL_QUEUE_DUPLICATE: {
    ack_ctx *c = hl_malloc(sizeof *c);
    *c = (ack_ctx){q, cb, data};
    q->acks++;
    hl_inbox_ack(q->opt.client, d->event_id, strlen(d->event_id), on_acked, c);
    return;
  }
  case HL_QUEUE_FAILED:
    hl_log_warn("inbox event left pending for review",
                "\"event_id\":\"%s\",\"status_code\":%lld,\"attempts\":%lld,\"error\":\"%s\"",
                hl_log_esc(d->event_id, (size_t)-1), (long long)d->last_status_code, (long long)d->attempts,
                hl_log_esc(a->error ? a->error : "", (size_t)-1));
    break;
  case HL_QUEUE_RETRY:
    break;
  }
  defer(q, cb, data, 0);
}

static void finished(hl_queue *base, void *token, hl_sub *sub, bool recorded) {
  inbox_q *q = (inbox_q *)base;
  if (q->opt.finished) q->opt.finished(q->opt.data, token, sub, recorded);
}

static void on_idle_closed(uv_handle_t *h) { hl_free(h->data); }

/* The dispatcher is closed: its record callbacks have all run (it waits for
 * RECORDING deliveries), so nothing is deferred any more. */
static void destroy(hl_queue *base) {
  inbox_q *q = (inbox_q *)base;
  run_later(&q->idle);
  uv_close((uv_handle_t *)&q->idle, on_idle_closed);
}

static const hl_queue_vt inbox_vt = {
  .name = "inbox", .redelivers = false, .owns_retries = false,
  .claim = NULL, .record = record, .release = NULL, .finished = finished,
  .accept = NULL, .requeue = NULL, .backlog = NULL, .destroy = destroy,
};

hl_queue *hl_queue_inbox_create(const hl_queue_inbox_options *opt) {
  inbox_q *q = hl_calloc(1, sizeof *q);
  q->base.vt = &inbox_vt;
  q->opt = *opt;
  uv_idle_init(opt->loop, &q->idle);
  q->idle.data = q;
  return &q->base;
}

void hl_queue_inbox_set_client(hl_queue *base, hl_inbox_client *client) { ((inbox_q *)base)->opt.client = client; }

size_t hl_queue_inbox_pending(const hl_queue *base) {
  const inbox_q *q = (const inbox_q *)base;
  return q->acks + q->deferred;
}
