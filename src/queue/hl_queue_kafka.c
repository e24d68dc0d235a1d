#include "queue/hl_queue_kafka.h"
#include "common/hl_common.h"
#include "common/hl_log.h"
#include "common/hl_strmap.h"
#include "model/hl_record.h"
#include "model/hl_sub_order.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  hl_queue base;
  hl_kafka *kafka;
  hl_queue_kafka_options opt;
  /* Replays under way, "<subscription_id>#<event_id>" -> its replay_ctx:
   * the row reads terminal until the record is on the topic, and a second
   * replay of it meanwhile (an operator's retry of a slow answer) would be
   * queued besides. */
  hl_strmap replaying;
} kqueue;

void hl_retry_tier_name(uint64_t ms, char *out, size_t n) {
  if (ms % 3600000 == 0) snprintf(out, n, "%" PRIu64 "h", ms / 3600000);
  else if (ms % 60000 == 0) snprintf(out, n, "%" PRIu64 "m", ms / 60000);
  else if (ms % 1000 == 0) snprintf(out, n, "%" PRIu64 "s", ms / 1000);
  else snprintf(out, n, "%" PRIu64 "ms", ms);
}

void hl_retry_tier_topic(const char *retry_prefix, uint64_t delay_ms, char *out, size_t n) {
  char tier[32];
  hl_retry_tier_name(delay_ms, tier, sizeof tier);
  snprintf(out, n, "%s.%s", retry_prefix, tier);
}

typedef struct {
  kqueue *q;
  hl_queue_attempt a;
  hl_store_cb cb;
  void *data;
  bool bodiless;            /* dead-lettered without the body: with it, the record was over message.max.bytes */
  hl_delivery_rec failed;   /* the row written FAILED when its retry record could not be queued (borrowed strings) */
} record_ctx;

static void record_done(record_ctx *c, int status) {
  hl_store_cb cb = c->cb;
  void *data = c->data;
  hl_free(c);
  hl_store_result none = {0};
  cb(data, status, &none);
}

static void forward(record_ctx *c);

#define RETRY_TOO_BIG "too_large: its retry record is over message.max.bytes"

static void on_failed_put(void *data, int status, hl_store_result *res) {
  (void)res;
  record_ctx *c = data;
  if (status != 0) record_done(c, status); /* not durable: the record is read again */
  else forward(c);
}

/* Kafka refused the retry record as too large, and would on every try: the
 * delivery fails for good instead of its record being read (and its
 * partner asked) again for ever. */
static void fail_too_big(record_ctx *c) {
  const hl_eq_item *it = c->a.item;
  hl_log_warn("a retry record is over message.max.bytes; the delivery is dead-lettered",
              "\"event_id\":\"%s\",\"subscription_id\":\"%s\"", hl_log_esc(it->d.event_id, (size_t)-1),
              hl_log_esc(it->d.subscription_id, (size_t)-1));
  c->a.outcome = HL_QUEUE_FAILED;
  c->a.error = RETRY_TOO_BIG;
  c->failed = it->d;
  c->failed.status = (char *)"FAILED";
  c->failed.last_error = (char *)RETRY_TOO_BIG;
  c->failed.next_attempt_at = 0;
  c->failed.updated_at = hl_wall_ms();
  c->q->opt.store->vt->delivery_put(c->q->opt.store, &c->failed, on_failed_put, c);
}

static void on_forwarded(void *data, int status) {
  record_ctx *c = data;
  if (status == HL_ETOOBIG && c->a.outcome == HL_QUEUE_RETRY) {
    fail_too_big(c);
    return;
  }
  if (status == HL_ETOOBIG && !c->bodiless && c->a.item->body_len) {
    /* Its dead-letter copy can never be taken: it goes without the body,
     * which its egress record still has (a replay finds it there). */
    c->bodiless = true;
    forward(c);
    return;
  }
  record_done(c, status);
}

/* Puts a failed delivery on its retry tier topic (due after retry_in_ms)
 * or on the dead-letter topic, with the headers the dispatcher reads back. */
static void forward(record_ctx *c) {
  kqueue *q = c->q;
  const hl_eq_item *it = c->a.item;
  if (!q->kafka) {
    record_done(c, HL_EUNSUPPORTED);
    return;
  }
  const hl_queue_kafka_options *opt = &q->opt;
  char topic[300];
  hl_record_headers h;
  hl_record_headers_delivery(&h, it->d.subscription_id, it->d.attempts, it->event_type, it->accepted_at, it->trace);
  /* A replay retried or dead-lettered stays that replay (its ledger key). */
  hl_record_headers_replay(&h, it->replay);
  if (c->a.outcome == HL_QUEUE_RETRY) {
    uint64_t delay_ms = c->a.retry_in_ms;
    hl_record_headers_due(&h, hl_wall_ms() + (int64_t)delay_ms);
    /* The tier is the schedule's delay for this retry; Retry-After may push
     * the due time later, which the header carries. */
    uint64_t tier_ms = delay_ms;
    size_t step = it->d.attempts >= 1 ? (size_t)it->d.attempts : 0;
    if (opt->schedule && opt->closed_tiers && step > opt->schedule->n) step = opt->schedule->n;
    if (opt->schedule && step >= 1 && step <= opt->schedule->n) tier_ms = opt->schedule->delay_ms[step - 1];
    if (opt->schedule && opt->schedule->n > 0 && delay_ms > tier_ms + tier_ms / 5) {
      /* Pushed later than its tier (Retry-After; the schedule's own jitter
       * is within 20 %): a tier's partition is
       * read in order and waits for its head, so on its own tier it held
       * every record behind it (other partners' too) until it fell due.
       * It goes to the shortest tier that covers the delay, or the
       * longest there is. */
      uint64_t best = 0, longest = 0;
      for (size_t i = 0; i < opt->schedule->n; i++) {
        uint64_t t = opt->schedule->delay_ms[i];
        if (t > longest) longest = t;
        if (t >= delay_ms && (!best || t < best)) best = t;
      }
      tier_ms = best ? best : longest;
    }
    hl_retry_tier_topic(opt->retry_prefix, tier_ms, topic, sizeof topic);
  } else {
    hl_record_headers_reason(&h, c->a.error ? c->a.error : "");
    if (c->bodiless) hl_record_headers_value_bytes(&h, it->body_len);
    snprintf(topic, sizeof topic, "%s", opt->dlq_topic);
  }
  hl_kafka_produce(q->kafka, topic, it->d.event_id, strlen(it->d.event_id), c->bodiless ? NULL : it->body,
                   c->bodiless ? 0 : it->body_len, h.h, h.n, on_forwarded, c);
}

static void on_status_put(void *data, int status, hl_store_result *res) {
  record_ctx *c = data;
  (void)res;
  /* A kept retry (an ordered head) waits in the dispatcher's memory and
   * its record stays uncommitted: the status row is all there is to write. */
  if (status == 0 && !c->a.kept && (c->a.outcome == HL_QUEUE_RETRY || c->a.outcome == HL_QUEUE_FAILED)) {
    /* Not durable until it is on the retry or dead-letter topic; at close the
     * record is handed back instead (consumed again after a restart). */
    if (c->q->base.closing) record_done(c, HL_ECANCELED);
    else forward(c);
    return;
  }
  record_done(c, status);
}

static void record(hl_queue *base, const hl_queue_attempt *a, hl_store_cb cb, void *data) {
  kqueue *q = (kqueue *)base;
  record_ctx *c = hl_malloc(sizeof *c);
  *c = (record_ctx){.q = q, .a = *a, .cb = cb, .data = data};
  q->opt.store->vt->delivery_put(q->opt.store, &a->item->d, on_status_put, c);
}

static void finished(hl_queue *base, void *token, hl_sub *sub, bool recorded) {
  kqueue *q = (kqueue *)base;
  if (q->opt.finished) q->opt.finished(q->opt.finished_data, token, sub, recorded);
}

/* --- intake ------------------------------------------------------------------------------- */

/* An id seen before is a duplicate; otherwise the event goes to its
 * ingress topic, and once the brokers acknowledged it (acks=all) its id is
 * remembered and the producer gets its answer. */
typedef struct {
  kqueue *q;
  hl_eq_accept ev;             /* borrowed from the caller, but trace */
  char *trace;
  const char *ingress_topic;
  hl_store_cb cb;
  void *data;
  char key[300];
} accept_ctx;

static void accept_done(accept_ctx *k, int status, hl_store_result *res) {
  hl_store_cb cb = k->cb;
  void *data = k->data;
  hl_free(k->trace);
  hl_free(k);
  cb(data, status, res);
}

static void on_accept_remembered(void *data, int status, hl_store_result *res) {
  (void)status; /* the event is on Kafka: accepted even if remembering the id failed */
  accept_done(data, 0, res);
}

static void on_ingress_acked(void *data, int status) {
  accept_ctx *k = data;
  hl_store *st = k->q->opt.store;
  if (status != 0) {
    /* Not acknowledged: send again (HL_EBUSY), unless it can never be
     * (HL_ETOOBIG: over message.max.bytes). */
    hl_store_result none = {0};
    accept_done(k, status == HL_ETOOBIG ? HL_ETOOBIG : HL_EBUSY, &none);
    return;
  }
  st->vt->ledger_put(st, k->key, "ACCEPTED", hl_wall_ms() / 1000 + 7 * 24 * 3600, true, on_accept_remembered, k);
}

/* An ingress record's key: its event id, which spreads events over the
 * topic's partitions; the event type when a subscriber wants them in order
 * ("ordering": "fifo"), so that they share a partition, are read back in
 * the order they were accepted (the order of the acknowledgements) and the
 * processor fans them out in that order (hl_pipeline.c). */
static const char *ingress_key(const kqueue *q, const hl_eq_accept *ev) {
  for (size_t i = 0; q->opt.reg && q->opt.orders && ev->event_type && i < ev->nsubs; i++) {
    const hl_sub *s = hl_registry_sub_get(q->opt.reg, ev->subscription_ids[i]);
    if (s && hl_sub_rec_fifo(&s->rec)) return ev->event_type;
  }
  return ev->event_id;
}

static void on_seen_checked(void *data, int status, hl_store_result *res) {
  accept_ctx *k = data;
  if (status == 0 && res->value) {
    accept_done(k, HL_EEXISTS, res);
    return;
  }
  /* Kafka would take it, but not the egress or retry records made from it
   * (more headers): refused for good now, not accepted and then read again
   * for ever. */
  if (k->ev.body_len > hl_record_value_max(hl_kafka_message_max(k->q->kafka))) {
    hl_store_result none = {0};
    accept_done(k, HL_ETOOBIG, &none);
    return;
  }
  hl_record_headers h;
  hl_record_headers_ingress(&h, hl_wall_ms(), k->trace);
  const char *key = ingress_key(k->q, &k->ev);
  hl_kafka_produce(k->q->kafka, k->ingress_topic, key, strlen(key), k->ev.body, k->ev.body_len, h.h, h.n,
                   on_ingress_acked, k);
}

static void queue_accept(hl_queue *base, const hl_eq_accept *ev, const char *ingress_topic, hl_store_cb cb, void *data) {
  kqueue *q = (kqueue *)base;
  if (!q->kafka) {
    hl_store_result none = {0};
    cb(data, HL_EUNSUPPORTED, &none);
    return;
  }
  accept_ctx *k = hl_calloc(1, sizeof *k);
  *k = (accept_ctx){.q = q, .ev = *ev, .trace = ev->trace ? hl_strdup(ev->trace) : NULL,
                    .ingress_topic = ingress_topic, .cb = cb, .data = data};
  snprintf(k->key, sizeof k->key, "accepted#%s", ev->event_id);
  q->opt.store->vt->ledger_get(q->opt.store, k->key, on_seen_checked, k);
}

static void on_topic_ensured(void *data, int status) {
  char *topic = data;
  if (status != 0 && status != HL_EEXISTS)
    hl_log_warn("could not create a topic; relying on the brokers to create it on first use",
                "\"topic\":\"%s\",\"error\":\"%s\"", hl_log_esc(topic, (size_t)-1), hl_strerror(status));
  hl_free(topic);
}

static void prepare_topic(hl_queue *base, const char *topic) {
  kqueue *q = (kqueue *)base;
  if (q->kafka && topic) hl_kafka_ensure_topic(q->kafka, topic, 4, on_topic_ensured, hl_strdup(topic));
}

/* --- re-queue from the dead-letter topic ------------------------------------------------------
 *
 * The body of a dead-lettered delivery lives only on the dead-letter topic:
 * it is looked up there (key = event id, header subscription_id), produced
 * again to the subscription's egress topic with its attempts kept, and the
 * status goes back to PENDING. */
typedef struct {
  kqueue *q;
  const hl_registry *reg;
  hl_queue_requeue_cb cb;
  void *data;
  char *event_id, *sub_id, *egress;
  hl_delivery_rec rec;
} requeue_ctx;

static void rq_finish(requeue_ctx *c, int status, const char *code, const char *msg) {
  if (status == 0)
    hl_log_info("delivery re-queued from the dead-letter topic", "\"event_id\":\"%s\",\"subscription_id\":\"%s\"",
                hl_log_esc(c->event_id, (size_t)-1), hl_log_esc(c->sub_id, (size_t)-1));
  hl_queue_requeue_cb cb = c->cb;
  void *data = c->data;
  hl_delivery_rec_free(&c->rec);
  hl_free(c->event_id);
  hl_free(c->sub_id);
  hl_free(c->egress);
  hl_free(c);
  cb(data, status, code, msg);
}

static void rq_on_recorded(void *data, int status, hl_store_result *res) {
  (void)res;
  requeue_ctx *c = data;
  /* The record is on the egress topic either way; a status write that
   * failed is corrected by the delivery's own outcome. */
  if (status != 0)
    hl_log_warn("re-queued, but the PENDING status was not written", "\"event_id\":\"%s\"",
                hl_log_esc(c->event_id, (size_t)-1));
  rq_finish(c, 0, NULL, NULL);
}

static void rq_on_produced(void *data, int status) {
  requeue_ctx *c = data;
  if (status != 0) {
    rq_finish(c, HL_EBUSY, "unavailable", "Kafka did not acknowledge the re-queued record; try again");
    return;
  }
  int64_t now = hl_wall_ms();
  hl_free(c->rec.status);
  c->rec.status = hl_strdup("PENDING");
  c->rec.updated_at = now;
  c->rec.next_attempt_at = now;
  c->rec.delivered = false; /* re-opened: this write delivered nothing */
  c->q->opt.store->vt->delivery_put(c->q->opt.store, &c->rec, rq_on_recorded, c);
}

static void rq_on_found(void *data, int status, const char *why, const hl_kafka_found *f) {
  requeue_ctx *c = data;
  if (status != 0) {
    char msg[300];
    snprintf(msg, sizeof msg, "the delivery was not found on the dead-letter topic (%s)", why ? why : "not found");
    rq_finish(c, status == HL_ENOTFOUND ? HL_ENOTFOUND : HL_EBUSY,
              status == HL_ENOTFOUND ? "not_on_dead_letter_topic" : "unavailable", msg);
    return;
  }
  if (hl_record_value_left_out(f->headers, f->nheaders)) {
    rq_finish(c, HL_ENOTFOUND, "not_on_dead_letter_topic",
              "its dead-letter record carries no body (it was over message.max.bytes); replay the delivery "
              "(POST /admin/events/{id}/replay) while its egress record is kept");
    return;
  }
  /* The headers the dispatcher reads, carried over; attempts kept. */
  hl_record_headers h;
  hl_record_headers_requeue(&h, c->sub_id, c->rec.attempts, f->headers, f->nheaders);
  hl_kafka_produce(c->q->kafka, c->egress, c->event_id, strlen(c->event_id), f->value, f->len, h.h, h.n,
                   rq_on_produced, c);
}

static void rq_on_list(void *data, int status, hl_store_result *res) {
  requeue_ctx *c = data;
  if (status != 0) {
    rq_finish(c, status, NULL, NULL);
    return;
  }
  hl_delivery_rec *r = NULL;
  for (size_t i = 0; i < res->ndeliveries; i++)
    if (strcmp(res->deliveries[i].subscription_id, c->sub_id) == 0) r = &res->deliveries[i];
  hl_sub *s = hl_registry_sub_get(c->reg, c->sub_id);
  if (!r) {
    rq_finish(c, HL_ENOTFOUND, "not_found", "no delivery of this event to this subscription");
    return;
  }
  if (!r->status || strcmp(r->status, "FAILED") != 0) {
    rq_finish(c, HL_EINVAL, "not_failed", "only FAILED deliveries can be re-queued; this one is still pending or delivered");
    return;
  }
  if (!s) {
    rq_finish(c, HL_ENOTFOUND, "not_found", "the subscription no longer exists; register it again first");
    return;
  }
  c->rec = *r;
  *r = (hl_delivery_rec){0};
  c->egress = hl_strdup(s->rec.egress_topic);
  /* It was dead-lettered when its status was last written; read from a
   * little before that. */
  hl_kafka_find_query fq = {.topic = c->q->opt.dlq_topic, .from_ms = c->rec.updated_at - 5 * 60 * 1000,
                            .key = c->event_id, .header = HL_RECORD_SUBSCRIPTION_HEADER, .header_value = c->sub_id};
  hl_kafka_find(c->q->opt.loop, c->q->opt.kafka_cfg, &fq, rq_on_found, c);
}

static void requeue(hl_queue *base, const hl_registry *reg, const char *event_id, const char *sub_id,
                    hl_queue_requeue_cb cb, void *data) {
  kqueue *q = (kqueue *)base;
  if (!q->kafka || !q->opt.kafka_cfg || !q->opt.dlq_topic || !q->opt.loop) {
    cb(data, HL_EUNSUPPORTED, NULL, NULL);
    return;
  }
  requeue_ctx *c = hl_calloc(1, sizeof *c);
  *c = (requeue_ctx){.q = q, .reg = reg, .cb = cb, .data = data, .event_id = hl_strdup(event_id),
                     .sub_id = hl_strdup(sub_id)};
  q->opt.store->vt->delivery_list(q->opt.store, event_id, rq_on_list, c);
}

/* --- replay: a terminal delivery sent again from its record on a topic ------------------------
 *
 * Kafka keeps the accepted bytes on topics only, so a replay finds a record
 * of the delivery: on the subscription's egress topic (key = event id, or
 * for a fifo subscription its event_id header; header subscription_id),
 * read from the retry schedule's length plus an hour before the delivery's
 * last status (the egress record was produced when the event was fanned
 * out, before the first attempt); for a FAILED one whose egress record is
 * gone, on the dead-letter topic, from a little before it failed. Then, in
 * this order: the replay generation counted up in the status row, which
 * stays terminal (hl_store.delivery_replay: a conditional write, so two
 * replays never share a generation) and is marked as having a replay
 * under way, so that another process asked for the same replay meanwhile
 * refuses it as this process's busy map does; the found bytes produced to the
 * egress topic with the found key (a fifo subscription's replay joins its
 * order's partition, behind what is already there), the delivery's
 * attempts and the generation in a header (hl_record.h), which the
 * dispatcher makes hl_eq_item.replay: the ledger key of the replay; and
 * once the brokers acknowledged it, the row PENDING
 * (delivery_replay_open), unless the record's outcome was written first.
 * The row says PENDING only while a record carries the replay: only a
 * record moves a delivery on in this mode (nothing claims rows), so a
 * row reopened before its produce and cut off there (a kill, a refused
 * produce whose undo failed) stayed PENDING for good, and every later
 * replay was refused as still open. Cut off now, the row is as it was
 * (a generation skipped) but for its mark: a refused produce takes it off
 * (delivery_replay_undo), so the replay can be asked for again at once;
 * after a kill it lasts replay_hold_ms (the produce's own timeout and
 * 10 s), since until then the replay may still be under way. */
typedef struct {
  kqueue *q;
  hl_queue_replay_cb cb;
  void *data;
  char *event_id, *sub_id, *egress;
  char *busy_key;           /* its entry in kqueue.replaying; NULL: none taken */
  hl_delivery_rec rec;
  bool on_dlq;              /* the lookup under way is on the dead-letter topic (after the egress topic) */
  int64_t generation;
  int64_t marked_at;        /* the wall time of the count: its mark in the row */
  /* The found record, copied (the lookup's copy ends with its callback). */
  char *key;
  size_t key_len;
  char *value;
  size_t len;
  hl_kafka_header *headers;
  size_t nheaders;
} replay_ctx;

static void rp_finish(replay_ctx *c, int status) {
  if (status == 0)
    hl_log_info("delivery replayed from its record on Kafka",
                "\"event_id\":\"%s\",\"subscription_id\":\"%s\",\"replay\":%lld", hl_log_esc(c->event_id, (size_t)-1),
                hl_log_esc(c->sub_id, (size_t)-1), (long long)c->generation);
  hl_queue_replay_cb cb = c->cb;
  void *data = c->data;
  int64_t gen = c->generation;
  if (c->busy_key) hl_strmap_del(&c->q->replaying, c->busy_key);
  for (size_t i = 0; i < c->nheaders; i++) hl_free_all((char *)c->headers[i].name, (void *)c->headers[i].value);
  hl_delivery_rec_free(&c->rec);
  hl_free_all(c->event_id, c->sub_id, c->egress, c->busy_key, c->key, c->value, c->headers, c);
  cb(data, status, status == 0 ? gen : 0);
}

static void rp_on_opened(void *data, int status, hl_store_result *res) {
  (void)res;
  replay_ctx *c = data;
  /* The record is on the topic either way: it is sent, and its outcome
   * written, whatever the row says now. HL_EINVAL: that outcome came first
   * (or another process's replay counted on since). */
  if (status != 0 && status != HL_EINVAL)
    hl_log_warn("a replay's row was not reopened; its record is queued and its outcome will be written",
                "\"event_id\":\"%s\",\"subscription_id\":\"%s\"", hl_log_esc(c->event_id, (size_t)-1),
                hl_log_esc(c->sub_id, (size_t)-1));
  rp_finish(c, 0);
}

static void rp_on_undone(void *data, int status, hl_store_result *res) {
  (void)res;
  replay_ctx *c = data;
  if (status != 0)
    hl_log_warn("a refused replay's mark was not taken off; the delivery can be replayed again once it lapses",
                "\"event_id\":\"%s\",\"subscription_id\":\"%s\"", hl_log_esc(c->event_id, (size_t)-1),
                hl_log_esc(c->sub_id, (size_t)-1));
  rp_finish(c, HL_EBUSY);
}

/* How long a replay's mark refuses another replay when nothing takes it
 * off: the produce's own timeout (librdkafka's message.timeout.ms) and
 * 10 s for the store writes around it. */
static int64_t replay_hold_ms(const kqueue *q) {
  int64_t t = q->opt.kafka_cfg && q->opt.kafka_cfg->message_timeout_ms > 0 ? q->opt.kafka_cfg->message_timeout_ms
                                                                           : HL_KAFKA_MESSAGE_TIMEOUT_MS;
  return t + 10000;
}

static void rp_on_produced(void *data, int status) {
  replay_ctx *c = data;
  hl_store *st = c->q->opt.store;
  if (status != 0) {
    /* Nothing was queued, and the row is still as it was (only its
     * generation counted, which no record carries) but for the mark. */
    st->vt->delivery_replay_undo(st, c->event_id, c->sub_id, c->generation, c->marked_at, rp_on_undone, c);
    return;
  }
  st->vt->delivery_replay_open(st, c->event_id, c->sub_id, c->generation, c->rec.updated_at, rp_on_opened, c);
}

static void rp_on_counted(void *data, int status, hl_store_result *res) {
  replay_ctx *c = data;
  if (status != 0 || !res->value) {
    rp_finish(c, status ? status : HL_ESTORE);
    return;
  }
  c->generation = strtoll(res->value, NULL, 10);
  hl_record_headers h;
  hl_record_headers_replayed(&h, c->sub_id, c->rec.attempts, c->generation, c->headers, c->nheaders);
  hl_kafka_produce(c->q->kafka, c->egress, c->key, c->key_len, c->value, c->len, h.h, h.n, rp_on_produced, c);
}

static void rp_find(replay_ctx *c);

static void rp_on_found(void *data, int status, const char *why, const hl_kafka_found *f) {
  replay_ctx *c = data;
  if (status != 0) {
    hl_log_info("replay: no record of the delivery on a topic", "\"event_id\":\"%s\",\"topic\":\"%s\",\"why\":\"%s\"",
                hl_log_esc(c->event_id, (size_t)-1), hl_log_esc(c->on_dlq ? c->q->opt.dlq_topic : c->egress, (size_t)-1),
                hl_log_esc(why ? why : "", (size_t)-1));
    if (status == HL_ENOTFOUND && !c->on_dlq && strcmp(c->rec.status, "FAILED") == 0) {
      c->on_dlq = true; /* a FAILED one was dead-lettered with its bytes */
      rp_find(c);
      return;
    }
    rp_finish(c, status == HL_ENOTFOUND ? HL_ENOTFOUND : HL_EBUSY);
    return;
  }
  if (c->on_dlq && hl_record_value_left_out(f->headers, f->nheaders)) {
    rp_finish(c, HL_ENOTFOUND); /* dead-lettered without its bytes (over message.max.bytes): nothing to send */
    return;
  }
  c->key_len = f->key_len;
  c->key = f->key_len ? hl_strndup(f->key, f->key_len) : hl_strdup(c->event_id);
  if (!f->key_len) c->key_len = strlen(c->event_id);
  c->len = f->len;
  c->value = hl_malloc(f->len + 1);
  if (f->len) memcpy(c->value, f->value, f->len);
  c->headers = hl_calloc(f->nheaders + 1, sizeof *c->headers);
  for (size_t i = 0; i < f->nheaders; i++)
    c->headers[c->nheaders++] = (hl_kafka_header){hl_strdup(f->headers[i].name),
                                                  hl_strndup(f->headers[i].value, f->headers[i].len), f->headers[i].len};
  hl_store *st = c->q->opt.store;
  c->marked_at = hl_wall_ms();
  st->vt->delivery_replay(st, c->event_id, c->sub_id, c->marked_at, replay_hold_ms(c->q), rp_on_counted, c);
}

/* How far back the egress record may be: the delivery was open at most
 * the retry schedule's delays, plus an hour for Retry-After, waits behind
 * an open breaker or a gate, and clocks. */
static int64_t open_span_ms(const kqueue *q) {
  int64_t span = 3600 * 1000;
  for (size_t i = 0; q->opt.schedule && i < q->opt.schedule->n; i++) span += (int64_t)q->opt.schedule->delay_ms[i];
  return span;
}

static void rp_find(replay_ctx *c) {
  hl_kafka_find_query fq = {.key = c->event_id, .key_header = HL_RECORD_EVENT_ID_HEADER,
                            .header = HL_RECORD_SUBSCRIPTION_HEADER, .header_value = c->sub_id};
  if (c->on_dlq) {
    fq.topic = c->q->opt.dlq_topic;
    fq.from_ms = c->rec.updated_at - 5 * 60 * 1000;
  } else {
    fq.topic = c->egress;
    fq.from_ms = c->rec.updated_at - open_span_ms(c->q);
  }
  hl_kafka_find(c->q->opt.loop, c->q->opt.kafka_cfg, &fq, rp_on_found, c);
}

static void rp_on_list(void *data, int status, hl_store_result *res) {
  replay_ctx *c = data;
  if (status != 0) {
    rp_finish(c, status);
    return;
  }
  hl_delivery_rec *r = NULL;
  for (size_t i = 0; i < res->ndeliveries; i++)
    if (strcmp(res->deliveries[i].subscription_id, c->sub_id) == 0) r = &res->deliveries[i];
  const hl_sub *s = hl_registry_sub_get(c->q->opt.reg, c->sub_id);
  if (!r || !s) {
    rp_finish(c, HL_ENOTFOUND);
    return;
  }
  if (!r->status || (strcmp(r->status, "SUCCESS") != 0 && strcmp(r->status, "FAILED") != 0)) {
    rp_finish(c, HL_EINVAL);
    return;
  }
  c->rec = *r;
  *r = (hl_delivery_rec){0};
  c->egress = hl_strdup(s->rec.egress_topic);
  rp_find(c);
}

static void replay(hl_queue *base, const char *event_id, const char *sub_id, hl_queue_replay_cb cb, void *data) {
  kqueue *q = (kqueue *)base;
  hl_store *st = q->opt.store;
  if (!q->kafka || !q->opt.kafka_cfg || !q->opt.dlq_topic || !q->opt.loop || !q->opt.reg || !st->vt->delivery_replay ||
      !st->vt->delivery_replay_open || !st->vt->delivery_replay_undo) {
    cb(data, HL_EUNSUPPORTED, 0);
    return;
  }
  replay_ctx *c = hl_calloc(1, sizeof *c);
  *c = (replay_ctx){.q = q, .cb = cb, .data = data, .event_id = hl_strdup(event_id), .sub_id = hl_strdup(sub_id)};
  char key[600];
  snprintf(key, sizeof key, "%s#%s", sub_id, event_id);
  if (hl_strmap_get(&q->replaying, key)) {
    rp_finish(c, HL_EINVAL); /* still open, as the row will say */
    return;
  }
  c->busy_key = hl_strdup(key);
  hl_strmap_put(&q->replaying, key, c);
  st->vt->delivery_list(st, event_id, rp_on_list, c);
}

static int64_t backlog(hl_queue *q) { (void)q; return -1; }

/* serve's consumer hands each partition's records in in offset order and
 * keys a fifo subscription's egress records by its order (hl_pipeline.c);
 * Lambda's batches end with the invocation, so a head cannot wait there. */
static bool orders(const hl_queue *base) { return ((const kqueue *)base)->opt.orders; }

static void destroy(hl_queue *base) {
  kqueue *q = (kqueue *)base;
  hl_strmap_dispose(&q->replaying);
  hl_free(q);
}

static const hl_queue_vt kafka_vt = {
  .name = "kafka", .redelivers = true, .owns_retries = true,
  .claim = NULL, .orders = orders, .record = record, .release = NULL, .finished = finished, .accept = queue_accept, .requeue = requeue,
  .prepare_topic = prepare_topic, .backlog = backlog, .destroy = destroy, .replay = replay,
};

hl_queue *hl_queue_kafka_create(hl_kafka *kafka, const hl_queue_kafka_options *opt) {
  kqueue *q = hl_calloc(1, sizeof *q);
  q->base.vt = &kafka_vt;
  q->kafka = kafka;
  q->opt = *opt;
  hl_strmap_init(&q->replaying);
  return &q->base;
}

void hl_queue_kafka_set_producer(hl_queue *base, hl_kafka *kafka) { ((kqueue *)base)->kafka = kafka; }
