#include "app/hl_lambda.h"
#include "app/hl_lambda_event.h"
#include "common/hl_buf.h"
#include "common/hl_common.h"
#include "common/hl_log.h"
#include "loop/hl_log_uv.h"
#include "api/hl_api.h"
#include "api/hl_api_respond.h"
#include "handlers/hl_dispatch.h"
#include "model/hl_event.h"
#include "obs/hl_metrics.h"
#include "handlers/hl_pipeline.h"
#include "queue/hl_queue_kafka.h"
#include "queue/hl_queue_ddb.h"
#include "model/hl_registry.h"
#include "model/hl_retry.h"
#include "model/hl_sub_order.h"
#include "loop/hl_curl_uv.h"
#include "loop/hl_kafka.h"
#include "loop/hl_lambda_rt.h"
#include "app/hl_app_inbox.h"
#include "app/hl_app_kafka.h"
#include "app/hl_app_sender.h"
#include "app/hl_app_kms.h"
#include "app/hl_app_retention.h"
#include "app/hl_app_store.h"
#include "store/hl_store_sqlite.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEADLINE_MARGIN_MS 1500
/* A retry that is not due yet waits inside the invocation when it falls due
 * at least this long before the hand-off point (the deadline less
 * DEADLINE_MARGIN_MS), leaving its attempt that much time; a later one is
 * parked in the store for the scheduled drain. */
#define WAIT_MARGIN_MS 5000
/* The back-off of a failed ask for the next invocation (lambda.next_timer). */
#define NEXT_RETRY_MIN_MS 10
#define NEXT_RETRY_MAX_MS 1000
/* How long after a released retry falls due its claim is waited for. */
#define RETRY_CLAIM_GRACE_MS 2000
/* Parked retries one drain takes at most, and how long past its hand-off
 * point it holds them (then a later drain may take what it left). */
#define DRAIN_TAKE_MAX 500
#define DRAIN_LEASE_MS 60000

typedef struct invocation invocation;
typedef struct lambda lambda;

typedef enum { REC_PENDING, REC_OK, REC_FAILED } rec_state;

typedef struct rec_wait rec_wait;

typedef struct {
  invocation *inv;
  char *topic, *partition_key; /* "<topic>-<partition>" as the event keyed it */
  int32_t partition;
  int64_t offset;
  char *key, *value;
  size_t key_len, len;
  hl_kafka_header headers[HL_MSK_MAX_HEADERS];
  size_t nheaders;
  rec_state state;
  bool in_dispatch;            /* the dispatcher holds it (token) */
  size_t outstanding;          /* produces waiting for acks */
  int produce_failed;
  int64_t due_ms;              /* a retry's due time, once known */
  rec_wait *wait;              /* waiting in the invocation until due */
  bool parked;                 /* taken from the store by a drain: forgotten there once recorded */
  bool ordered;                /* handed to the dispatcher for a fifo subscription */
  size_t group;                /* a fifo subscription's egress record: its fifo_group's index + 1; 0: none */
  int64_t restore_attempts;    /* the head of a batch handed back: its attempts so far (a fifo marker) */
} record;

/* The records of one fifo subscription on one partition of an MSK batch,
 * handed to the dispatcher in the batch's order once the subscription's
 * marker for that partition is read (see "fifo" below). */
typedef struct {
  invocation *inv;
  char *marker;                /* the ledger key: "fifo#<subscription_id>#<topic>-<partition>" */
} fifo_group;

/* An MSK batch, or a drain of the parked retries (a scheduled event). */
struct invocation {
  lambda *L;                   /* the runtime it belongs to */
  hl_lambda_invocation meta;
  bool drain;
  bool take_failed;            /* drain: the store could not be read */
  record *recs;
  size_t nrecs;
  size_t pending;              /* records not yet OK/FAILED */
  size_t unparking;            /* drain: parked retries being forgotten */
  size_t writing;              /* fifo markers being written: durable before the answer */
  size_t holds;                /* callbacks still to come that point into it */
  fifo_group *groups;          /* MSK batch: one per fifo subscription and partition */
  size_t ngroups;
  struct { const char *partition_key; hl_pipeline_lane *lane; } *lanes; /* ingress records: one per partition */
  size_t nlanes;
  bool handed_off;             /* past the hand-off point: a fifo delivery still held goes back with the batch */
  bool hold_batch;             /* a fifo head goes back with the batch: answered at the hand-off point, not before */
  bool answered;
  uv_timer_t deadline;
};

/* The runtime's state, one per process, handed to every callback. */
struct lambda {
  const hl_config *cfg;
  uv_loop_t loop;
  hl_log_uv log;
  hl_curl_uv curl;
  hl_lambda_rt rt;
  hl_store *store;
  hl_registry reg;
  hl_retry_schedule *schedule;
  hl_dispatch dispatch;
  hl_queue *queue;             /* Kafka: status rows, retry tiers, the dead-letter topic; or the DynamoDB queue */
  bool ddbq;                   /* no KAFKA_BROKERS, HOOKLOOP_STORE=dynamodb: queue is hl_queue_ddb */
  hl_api api;
  hl_metrics metrics, metrics_sent;
  hl_kafka *kafka;             /* producer only, for retry/DLQ/egress topics */
  hl_kafka_config kcfg;        /* the brokers of `kafka`, also for reading topics (replay, re-queue) */
  char *kbrokers;              /* owned: kcfg.brokers once learnt from an MSK batch */
  hl_app_kafka_auth kauth;     /* the Kafka SASL login or MSK IAM tokens (opened at init) */
  hl_pipeline_options popt;    /* topics, schedule and metrics for the shared record handling */
  bool partial_batch;
  /* Schemas and subscriptions load while the first /next is pending, so the
   * store's latency stays out of the init phase; an invocation that comes
   * first waits for them (parked). */
  enum { LOAD_PENDING, LOAD_OK, LOAD_FAILED } load;
  invocation *parked;
  int prep_pending;            /* the store load and the default secret's read */
  int prep_status;
  const char *prep_why;
  hl_secrets secrets;          /* WEBHOOK_SECRET_ARN */
  bool have_secrets;
  hl_app_kms kms;              /* HOOKLOOP_KMS_KEY_ID: the data key sealing credentials */
  bool have_kms;
  hl_app_inbox *inbox;         /* API_BASE_URL set: scheduled events run inbox passes */
  bool stop;
  int exit_code;
  /* A failed ask for the next invocation is asked again after a back-off
   * that doubles from NEXT_RETRY_MIN_MS to NEXT_RETRY_MAX_MS: asked again at
   * once, an absent Runtime API cost a core and ~50,000 log lines a second. */
  uv_timer_t next_timer;
  unsigned next_failures;
};

static void next_invocation(lambda *L);
static void route_invocation(invocation *inv);
static void on_reloaded(void *data, int status);
static void prepare(lambda *L);
static void invocation_free(invocation *inv);

/* --- answering -------------------------------------------------------------------------- */

static void emit_emf(lambda *L) {
  hl_buf b = HL_BUF_INIT;
  hl_metrics_render_emf(&L->metrics, &L->metrics_sent, "hookloop", true, hl_wall_ms(), &b);
  printf("%s\n", b.data);
  fflush(stdout);
  hl_buf_dispose(&b);
  L->metrics_sent = L->metrics;
}

static void on_posted(hl_lambda_rt *rt, int status, void *data) {
  lambda *L = hl_container_of(rt, lambda, rt);
  (void)data;
  if (status == HL_ECLOSED) {
    L->stop = true;
    return;
  }
  next_invocation(L);
}

static void invocation_free(invocation *inv) {
  for (size_t i = 0; i < inv->nrecs; i++) {
    record *r = &inv->recs[i];
    hl_free(r->topic); hl_free(r->partition_key); hl_free(r->key); hl_free(r->value);
    for (size_t h = 0; h < r->nheaders; h++) {
      hl_free((char *)r->headers[h].name);
      hl_free((void *)r->headers[h].value);
    }
  }
  hl_free(inv->recs);
  for (size_t i = 0; i < inv->ngroups; i++) hl_free(inv->groups[i].marker);
  hl_free(inv->groups);
  for (size_t i = 0; i < inv->nlanes; i++) hl_pipeline_lane_free(inv->lanes[i].lane);
  hl_free(inv->lanes);
  hl_free(inv->meta.body);
  hl_free(inv);
}

static void on_deadline_closed(uv_handle_t *h) {
  invocation *inv = h->data;
  if (inv->holds == 0) invocation_free(inv);
  else inv->deadline.data = NULL; /* freed when the last callback is in */
}

/* Something that will call back about a record of inv (a produce, a store
 * call, the dispatcher, a timer) keeps it alive until it has. */
static void inv_hold(invocation *inv) { inv->holds++; }

static void inv_release(invocation *inv) {
  if (--inv->holds == 0 && inv->answered && inv->deadline.data == NULL) invocation_free(inv);
}

/* When the point of hand-off comes (see on_deadline). */
static int64_t hand_off_at(const invocation *inv) {
  return inv->meta.deadline_ms ? inv->meta.deadline_ms - DEADLINE_MARGIN_MS : hl_wall_ms() + 600000;
}

static void answer_batch(invocation *inv) {
  lambda *L = inv->L;
  if (inv->answered) return;
  inv->answered = true;
  uv_timer_stop(&inv->deadline);
  size_t failed = 0;
  for (size_t i = 0; i < inv->nrecs; i++) failed += inv->recs[i].state != REC_OK;
  emit_emf(L);
  if (inv->drain) {
    /* What a drain did; what it could not finish stays parked for the next. */
    if (inv->take_failed) {
      hl_lambda_rt_error(&L->rt, inv->meta.request_id, "Hookloop.StoreUnavailable",
                         "could not read the parked retries; the next drain tries again", on_posted, NULL);
    } else {
      char out[128];
      int n = snprintf(out, sizeof out, "{\"parked_taken\":%zu,\"done\":%zu,\"left\":%zu}", inv->nrecs,
                       inv->nrecs - failed, failed);
      hl_lambda_rt_respond(&L->rt, inv->meta.request_id, out, (size_t)n, on_posted, NULL);
    }
  } else if (failed == 0 || L->partial_batch) {
    hl_buf b = HL_BUF_INIT;
    hl_jw w;
    hl_jw_open(&w, &b);
    hl_jw_key_arr(&w, "batchItemFailures");
    for (size_t i = 0; i < inv->nrecs; i++) {
      if (inv->recs[i].state == REC_OK) continue;
      hl_jw_obj_begin(&w);
      hl_jw_key_obj(&w, "itemIdentifier");
      hl_jw_key(&w, "partition"); hl_jw_str(&w, inv->recs[i].partition_key);
      hl_jw_key(&w, "offset"); hl_jw_int(&w, inv->recs[i].offset);
      hl_jw_obj_end(&w);
      hl_jw_obj_end(&w);
    }
    hl_jw_arr_end(&w);
    hl_jw_obj_end(&w);
    hl_lambda_rt_respond(&L->rt, inv->meta.request_id, b.data, b.len, on_posted, NULL);
    hl_buf_dispose(&b);
  } else {
    char msg[256];
    snprintf(msg, sizeof msg, "%zu of %zu records did not reach a durable state; retry the batch", failed, inv->nrecs);
    hl_lambda_rt_error(&L->rt, inv->meta.request_id, "Hookloop.BatchIncomplete", msg, on_posted, NULL);
  }
  uv_close((uv_handle_t *)&inv->deadline, on_deadline_closed);
}

static void unpark(record *r);

/* Answered once every record settled and what must be durable first is. */
static void maybe_answer(invocation *inv) {
  if (inv->hold_batch && !inv->handed_off) return;
  if (inv->pending == 0 && inv->unparking == 0 && inv->writing == 0) answer_batch(inv);
}

static void record_settled(record *r, rec_state st) {
  if (r->state != REC_PENDING) return;
  r->state = st;
  invocation *inv = r->inv;
  if (st == REC_OK && r->parked) unpark(r);
  inv->pending--;
  maybe_answer(inv);
}

/* --- producing (processor fan-out, retry and dead-letter topics) --------------------------- */

static const void *rec_header(const hl_record *pr, const char *name, size_t *len) {
  const record *r = pr->src;
  for (size_t i = r->nheaders; i-- > 0;)
    if (strcmp(r->headers[i].name, name) == 0) {
      if (len) *len = r->headers[i].len;
      return r->headers[i].value;
    }
  return NULL;
}

static hl_record rec_of(const record *r) {
  return (hl_record){.topic = r->topic, .partition = r->partition, .offset = r->offset, .key = r->key,
                           .key_len = r->key_len, .value = r->value, .len = r->len, .header = rec_header, .src = r};
}

/* Produces the record as it is (same key, value and headers) to topic. */
static void on_record_produced(void *data, int status) {
  record *r = data;
  if (status != 0) r->produce_failed++;
  if (--r->outstanding == 0) record_settled(r, r->produce_failed ? REC_FAILED : REC_OK);
  inv_release(r->inv);
}

static void produce_record(record *r, const char *topic) {
  lambda *L = r->inv->L;
  r->outstanding = 1;
  inv_hold(r->inv);
  hl_kafka_produce(L->kafka, topic, r->key, r->key_len, r->value, r->len, r->headers, r->nheaders,
                   on_record_produced, r);
}

/* The shared processor and dead letters answer for one record. */
static void on_record_handled(void *data, int status) {
  record *r = data;
  record_settled(r, status == 0 ? REC_OK : REC_FAILED);
  inv_release(r->inv);
}

/* The lane of r's partition: a fifo subscription's fan-outs are produced
 * in the batch's order of that partition, as serve's are. */
static hl_pipeline_lane *lane_of(record *r) {
  invocation *inv = r->inv;
  for (size_t i = 0; i < inv->nlanes; i++)
    if (strcmp(inv->lanes[i].partition_key, r->partition_key) == 0) return inv->lanes[i].lane;
  if (!inv->lanes) inv->lanes = hl_calloc(inv->nrecs, sizeof *inv->lanes); /* at most one per record */
  inv->lanes[inv->nlanes].partition_key = r->partition_key;
  inv->lanes[inv->nlanes].lane = hl_pipeline_lane_new();
  return inv->lanes[inv->nlanes++].lane;
}

static void process_ingress(record *r) {
  lambda *L = r->inv->L;
  if (!L->kafka) { record_settled(r, REC_FAILED); return; }
  hl_record pr = rec_of(r);
  inv_hold(r->inv);
  hl_pipeline_process_in(L->kafka, &L->reg, &L->popt, &pr, lane_of(r), on_record_handled, r);
}

static void dead_letter_record(record *r, const char *reason) {
  lambda *L = r->inv->L;
  if (!L->kafka) { record_settled(r, REC_FAILED); return; }
  hl_record pr = rec_of(r);
  inv_hold(r->inv);
  hl_pipeline_dead_letter(L->kafka, &L->popt, &pr, reason, on_record_handled, r);
}

/* --- retries not yet due: wait here, or park them -------------------------------------------- */

static void dispatch_record(record *r);
static void submit_group(invocation *inv, size_t group);

struct rec_wait {
  uv_timer_t timer;
  record *r;
  int64_t due_ms; /* wall clock */
};

static void on_wait_closed(uv_handle_t *h) {
  rec_wait *w = h->data;
  invocation *inv = w->r->inv;
  hl_free(w);
  inv_release(inv);
}

static void wait_end(record *r) {
  rec_wait *w = r->wait;
  r->wait = NULL;
  uv_timer_stop(&w->timer);
  uv_close((uv_handle_t *)&w->timer, on_wait_closed);
}

static void on_due(uv_timer_t *t) {
  rec_wait *w = t->data;
  /* The timer counts whole ms of the loop's clock from the time its turn
   * began, so it can run a ms or two before a due time read on the wall
   * clock: wait the rest. A record alone would only be held again by its
   * classification, but a fifo head's group would send its followers. */
  int64_t left = w->due_ms - hl_wall_ms();
  if (left > 0) {
    uv_timer_start(&w->timer, on_due, (uint64_t)left, 0);
    return;
  }
  record *r = w->r;
  wait_end(r);
  if (r->group) submit_group(r->inv, r->group); /* a fifo head due now: it and its followers go */
  else dispatch_record(r); /* due now: delivered */
}

/* Waits in the invocation until due_ms (on_due). */
static void wait_in_invocation(record *r, int64_t due_ms) {
  lambda *L = r->inv->L;
  rec_wait *w = hl_calloc(1, sizeof *w);
  w->r = r;
  w->due_ms = due_ms;
  uv_timer_init(&L->loop, &w->timer);
  w->timer.data = w;
  int64_t wait = due_ms - hl_wall_ms();
  uv_timer_start(&w->timer, on_due, (uint64_t)(wait > 0 ? wait : 0), 0);
  r->wait = w;
  inv_hold(r->inv);
}

static void on_parked(void *data, int status, hl_store_result *res) {
  record *r = data;
  lambda *L = r->inv->L;
  (void)res;
  if (status == HL_EINVAL && L->kafka && r->state == REC_PENDING) {
    /* It cannot be parked (a body over the 64 parts of 300 KiB a DynamoDB
     * store keeps, ~19 MB, which no Kafka record reaches): back on its retry
     * topic as it is, the one case that still cycles. */
    hl_log_warn("retry cannot be parked; put back on its retry topic",
                "\"topic\":\"%s\",\"offset\":%" PRId64, hl_log_esc(r->topic, (size_t)-1), r->offset);
    produce_record(r, r->topic);
  } else {
    if (status != 0 && status != HL_EINVAL)
      hl_log_warn("retry could not be parked; the batch will come again", "\"error\":\"%s\"", hl_strerror(status));
    record_settled(r, status == 0 ? REC_OK : REC_FAILED);
  }
  inv_release(r->inv);
}

/* Durable without cycling: the store keeps it, indexed by due time, until a
 * scheduled drain takes it (handle_drain). */
static void park_record(record *r, const hl_sub *s) {
  lambda *L = r->inv->L;
  if (!L->store->vt->park_put) { record_settled(r, REC_FAILED); return; }
  hl_record pr = rec_of(r);
  hl_eq_item it;
  hl_record_item(&pr, s->rec.subscription_id, &it);
  it.d.next_attempt_at = r->due_ms;
  inv_hold(r->inv);
  L->store->vt->park_put(L->store, &it, on_parked, r);
  hl_eq_item_free(&it);
}

/* A retry record not due yet: the invocation waits for it when it falls due
 * in time, else it is parked. Never produced again to its own topic. */
static void hold_until_due(record *r, const hl_sub *s, int64_t due_ms) {
  r->due_ms = due_ms;
  if (due_ms + WAIT_MARGIN_MS <= hand_off_at(r->inv)) {
    wait_in_invocation(r, due_ms);
    return;
  }
  /* Taken from the store and still not due in time: it stays parked (its
   * lease ends, a later drain takes it). */
  if (r->parked) record_settled(r, REC_FAILED);
  else park_record(r, s);
}

static void on_unparked(void *data, int status, hl_store_result *res) {
  record *r = data;
  invocation *inv = r->inv;
  (void)res;
  if (status != 0)
    hl_log_warn("a parked retry that was recorded stays in the store; a later drain takes it again and the "
                "ledger keeps it from being sent twice", "\"event_id\":\"%s\"", hl_log_esc(r->key, (size_t)-1));
  inv->unparking--;
  maybe_answer(inv);
  inv_release(inv);
}

/* A parked retry whose attempt was recorded (delivered, moved on to its next
 * tier or dead-lettered) leaves the store. */
static void unpark(record *r) {
  lambda *L = r->inv->L;
  hl_record pr = rec_of(r);
  char *sub = hl_record_subscription_id(&pr);
  hl_eq_item it = {.d = {.event_id = r->key, .subscription_id = sub ? sub : hl_strdup(""),
                         .next_attempt_at = r->due_ms}};
  r->inv->unparking++;
  inv_hold(r->inv);
  L->store->vt->park_delete(L->store, &it, on_unparked, r);
  hl_free(it.d.subscription_id);
}

/* --- the dispatcher's source ---------------------------------------------------------------- */

static void finished(void *data, void *token, hl_sub *sub, bool recorded) {
  (void)data; (void)sub;
  record *r = token;
  r->in_dispatch = false;
  record_settled(r, recorded ? REC_OK : REC_FAILED);
  inv_release(r->inv);
}

static void dispatch_record(record *r) {
  lambda *L = r->inv->L;
  hl_record pr = rec_of(r);
  hl_sub *s = NULL;
  int64_t due_ms = 0;
  const char *reason = NULL;
  switch (hl_pipeline_classify(&L->reg, &L->popt, &pr, hl_wall_ms(), &s, &due_ms, &reason)) {
  case HL_REC_DEAD_LETTER: dead_letter_record(r, reason); return;
  case HL_REC_NOT_DUE: hold_until_due(r, s, due_ms); return;
  case HL_REC_DELIVER: break;
  }
  hl_eq_item it;
  hl_record_item(&pr, s->rec.subscription_id, &it);
  if (r->restore_attempts > it.d.attempts) { /* a head handed back before: its schedule and skip_after go on */
    it.d.attempts = r->restore_attempts;
    hl_free(it.d.status);
    it.d.status = hl_strdup("RETRYING");
  }
  if (!it.trace && r->inv->meta.trace_id[0]) it.trace = hl_strdup(r->inv->meta.trace_id); /* X-Amzn-Trace-Id */
  r->in_dispatch = true;
  r->ordered = hl_sub_rec_fifo(&s->rec);
  inv_hold(r->inv);
  hl_dispatch_submit(&L->dispatch, s, &it, r);
}

/* --- fifo: a held head hands its batch back --------------------------------------------------
 *
 * A fifo subscription's egress records go to the dispatcher in the batch's
 * order; it keeps one in flight and holds a retrying head in memory, its
 * followers behind it (hl_dispatch.h), with its status written. A retry due
 * before the hand-off point less WAIT_MARGIN_MS is waited for here. One due
 * later cannot be: the head and its followers (of that partition) leave the
 * dispatcher unrecorded (hl_dispatch_drop_ordered) and, at the hand-off
 * point, the batch is answered with them failed, so the event source
 * delivers it again (the partition's offsets are not committed past them);
 * what was delivered meanwhile is stopped by the idempotency ledger when it
 * comes again. Never
 * a retry topic or the parked-retry store, where a follower could overtake
 * the head. Where the head stands (attempts, next due time, its event id
 * and offset) is kept in the ledger under
 * "fifo#<subscription_id>#<topic>-<partition>", written when its retry is
 * kept and read before the group goes to the dispatcher in the invocation
 * that gets the batch again: its schedule and skip_after go on from there,
 * and a head not yet due waits in that invocation when it falls
 * due in time, else the batch is handed back at its hand-off point again.
 * An invocation holds the batch until its hand-off point rather than
 * answering at once, so a head due in an hour costs one invocation per
 * function timeout, not a stream of redeliveries. */

#define FIFO_MARKER_TTL_S (7 * 24 * 3600)

static void fifo_marker_key(hl_buf *out, const char *sub_id, const char *partition_key) {
  hl_buf_printf(out, "fifo#%s#%s", sub_id, partition_key);
}

/* Joins r to its subscription's group for its partition when it is an
 * egress record a fifo subscription gets now; false: it goes on its own. */
static bool fifo_join(record *r) {
  lambda *L = r->inv->L;
  invocation *inv = r->inv;
  hl_record pr = rec_of(r);
  hl_sub *s = NULL;
  int64_t due_ms = 0;
  const char *reason = NULL;
  if (hl_pipeline_classify(&L->reg, &L->popt, &pr, hl_wall_ms(), &s, &due_ms, &reason) != HL_REC_DELIVER ||
      !hl_sub_rec_fifo(&s->rec) || !L->queue->vt->orders || !L->queue->vt->orders(L->queue))
    return false;
  hl_buf key = HL_BUF_INIT;
  fifo_marker_key(&key, s->rec.subscription_id, r->partition_key);
  size_t g = 0;
  while (g < inv->ngroups && strcmp(inv->groups[g].marker, key.data) != 0) g++;
  if (g == inv->ngroups) {
    if (!inv->groups) inv->groups = hl_calloc(inv->nrecs, sizeof *inv->groups); /* at most one per record */
    inv->groups[inv->ngroups++] = (fifo_group){.inv = inv, .marker = hl_buf_steal(&key, NULL)};
  }
  hl_buf_dispose(&key);
  r->group = g + 1;
  return true;
}

/* The group's records still pending go to the dispatcher, in order. */
static void submit_group(invocation *inv, size_t group) {
  if (inv->handed_off) return; /* settled failed at the hand-off */
  for (size_t i = 0; i < inv->nrecs; i++)
    if (inv->recs[i].group == group && inv->recs[i].state == REC_PENDING) dispatch_record(&inv->recs[i]);
}

static void on_marker_read(void *data, int status, hl_store_result *res) {
  fifo_group *g = data;
  invocation *inv = g->inv;
  size_t group = (size_t)(g - inv->groups) + 1;
  long long attempts = 0, due = 0, offset = -1;
  int off = 0;
  char *event_id = NULL;
  if (status == 0 && res->value && sscanf(res->value, "%lld %lld %n", &attempts, &due, &off) == 2 && off > 0) {
    /* "<attempts> <due> <event id> <offset>" (an event id holds no space).
     * A value without the offset (written before it was kept) names no
     * record: the group goes as if there were none. */
    const char *id = res->value + off, *sp = strchr(id, ' ');
    if (sp && sp > id && sscanf(sp + 1, "%lld", &offset) == 1) event_id = hl_strndup(id, (size_t)(sp - id));
  } else if (status != 0 && status != HL_ENOTFOUND) {
    hl_log_warn("could not read where a fifo head stands; its attempts count from its record",
                "\"marker\":\"%s\",\"error\":\"%s\"", hl_log_esc(g->marker, (size_t)-1), hl_strerror(status));
  }
  /* The head is the very record that was held: the same event at the same
   * offset. The entry outlives the head (it is not deleted when the head
   * is done), and the same event again on the partition (a replay, a
   * re-queue from the dead-letter topic) is a later record: taken for the
   * head, the group's records before it, new events, were settled as done
   * and never sent. */
  record *head = NULL;
  for (size_t i = 0; event_id && !head && i < inv->nrecs; i++) {
    record *r = &inv->recs[i];
    if (r->group != group || r->offset != offset) continue;
    hl_record pr = rec_of(r);
    char *id = hl_record_event_id(&pr);
    if (id && strcmp(id, event_id) == 0) head = r;
    hl_free(id);
  }
  hl_free(event_id);
  /* What went before the head reached its end (delivered, or dead-lettered
   * durably: on_kept writes the entry only then); sent again, a dead-lettered
   * one would start its attempts over and hold the batch anew. */
  for (size_t i = 0; head && &inv->recs[i] != head; i++)
    if (inv->recs[i].group == group) record_settled(&inv->recs[i], REC_OK);
  if (head) head->restore_attempts = attempts;
  if (!head || due <= hl_wall_ms() + 5 || inv->handed_off) {
    submit_group(inv, group);
  } else if (due + WAIT_MARGIN_MS <= hand_off_at(inv)) {
    wait_in_invocation(head, due); /* then on_due submits the group */
  } else {
    inv->hold_batch = true;
    hl_log_info("fifo head not due before the hand-off point; its batch is handed back then",
                "\"marker\":\"%s\",\"due_in_ms\":%lld", hl_log_esc(g->marker, (size_t)-1), due - (long long)hl_wall_ms());
  }
  inv_release(inv);
}

/* Each group reads its marker, then goes to the dispatcher. */
static void fifo_start(invocation *inv) {
  lambda *L = inv->L;
  for (size_t g = 0; g < inv->ngroups; g++) {
    inv_hold(inv);
    L->store->vt->ledger_get(L->store, inv->groups[g].marker, on_marker_read, &inv->groups[g]);
  }
}

static void on_marker_put(void *data, int status, hl_store_result *res) {
  record *r = data;
  invocation *inv = r->inv;
  (void)res;
  if (status != 0)
    hl_log_warn("could not write where a fifo head stands; if its batch comes again its attempts count from "
                "its record", "\"partition\":\"%s\",\"error\":\"%s\"", hl_log_esc(r->partition_key, (size_t)-1), hl_strerror(status));
  inv->writing--;
  maybe_answer(inv);
  inv_release(inv);
}

typedef struct {
  const invocation *inv;
  const char *partition_key;   /* NULL: every partition */
} fifo_drop;

static bool dropped(void *data, void *token) {
  const fifo_drop *c = data;
  const record *r = token;
  return r->inv == c->inv && (!c->partition_key || strcmp(r->partition_key, c->partition_key) == 0);
}

/* The fifo deliveries of inv (of one partition) the dispatcher holds, not
 * running, leave it unrecorded: they go back with the batch. */
static void fifo_hand_back(invocation *inv, const char *partition_key) {
  inv->hold_batch = true;
  fifo_drop c = {inv, partition_key};
  hl_dispatch_drop_ordered(&inv->L->dispatch, dropped, &c);
}

/* The dispatcher keeps a fifo head's retry in memory: where it stands is
 * written (durable before the batch is answered). Due too late to be
 * attempted and recorded in this invocation, or past the hand-off point (a
 * head that was running then), it leaves with its followers. */
static void on_kept(void *data, void *token, const hl_delivery_rec *d) {
  lambda *L = data;
  record *r = token;
  invocation *inv = r->inv;
  /* The entry says everything before the head in its partition is done;
   * with one of those not durable (a dead letter not acknowledged) it is
   * not written, and the batch comes again from that one on. */
  bool before_done = true;
  for (size_t i = 0; r->group && &inv->recs[i] != r; i++)
    before_done = before_done && (inv->recs[i].group != r->group || inv->recs[i].state == REC_OK);
  if (before_done) {
    hl_buf key = HL_BUF_INIT, value = HL_BUF_INIT;
    fifo_marker_key(&key, d->subscription_id, r->partition_key);
    hl_buf_printf(&value, "%lld %lld %s %lld", (long long)d->attempts, (long long)d->next_attempt_at, d->event_id,
                  (long long)r->offset);
    inv->writing++;
    inv_hold(inv);
    L->store->vt->ledger_put(L->store, key.data, value.data, hl_wall_ms() / 1000 + FIFO_MARKER_TTL_S, true,
                             on_marker_put, r);
    hl_buf_dispose(&key);
    hl_buf_dispose(&value);
  } else {
    hl_log_warn("a record before a fifo head is not durable: where the head stands is not kept",
                "\"partition\":\"%s\"", hl_log_esc(r->partition_key, (size_t)-1));
  }
  if (inv->handed_off) fifo_hand_back(inv, NULL);
  else if (d->next_attempt_at + WAIT_MARGIN_MS > hand_off_at(inv)) fifo_hand_back(inv, r->partition_key);
}

/* Close to the deadline: what still runs goes to its retry topic (or is
 * reported failed), and the batch is answered. */
static void on_deadline(uv_timer_t *t) {
  invocation *inv = t->data;
  lambda *L = inv->L;
  hl_log_warn("invocation deadline close: handing unfinished records back", "\"request_id\":\"%s\"",
              inv->meta.request_id);
  /* fifo: a head waiting for its retry and its followers go back with the
   * batch (see "fifo" above). */
  inv->handed_off = true;
  fifo_hand_back(inv, NULL);
  for (size_t i = 0; i < inv->nrecs; i++) {
    record *r = &inv->recs[i];
    if (r->state != REC_PENDING) continue;
    if (r->wait) {
      /* Waiting past the hand-off (a clock that jumped): parked after all,
       * or, taken from the store, left there; a fifo head goes back with
       * its batch. */
      wait_end(r);
      if (r->parked || r->group) record_settled(r, REC_FAILED);
      else dispatch_record(r);
    } else if (r->in_dispatch && r->ordered) {
      record_settled(r, REC_FAILED); /* a fifo head running: never on a retry topic, its followers would overtake it */
    } else if (L->kafka && r->in_dispatch && r->outstanding == 0) {
      /* Same record, same webhook-id: if the running attempt also succeeds,
       * the ledger keeps the retry from being sent. */
      char topic[300];
      hl_retry_tier_topic(L->cfg->retry_topic_prefix, L->schedule && L->schedule->n ? L->schedule->delay_ms[0] : 1000,
                          topic, sizeof topic);
      produce_record(r, topic);
    } else {
      record_settled(r, REC_FAILED); /* what still waits for an answer is not durable yet */
    }
  }
  maybe_answer(inv); /* a batch held for a fifo head whose records all settled before */
}

/* --- events -------------------------------------------------------------------------------- */

static bool has_prefix(const char *topic, const char *prefix) {
  size_t n = strlen(prefix);
  return strncmp(topic, prefix, n) == 0 && topic[n] == '.';
}

static void arm_deadline(invocation *inv) {
  lambda *L = inv->L;
  uv_timer_init(&L->loop, &inv->deadline);
  inv->deadline.data = inv;
  int64_t left = hand_off_at(inv) - hl_wall_ms();
  uv_timer_start(&inv->deadline, on_deadline, (uint64_t)(left > 0 ? left : 0), 0);
}

/* The producer for retry and dead-letter topics: the configured brokers,
 * else (MSK batches) the cluster the batch came from. Created once per
 * sandbox. From then on the API has the queue too: replay and the
 * dead-letter re-queue read topics with a consumer of their own on the same
 * brokers (L->kcfg), and accepted events go to their ingress topics; before
 * that (no KAFKA_BROKERS, no batch seen) they answer 501 saying what to set. */
static void ensure_kafka(lambda *L, const char *bootstrap) {
  if (L->kafka || L->ddbq) return;
  const char *bs = L->cfg->kafka_brokers ? L->cfg->kafka_brokers : bootstrap;
  if (!bs || !*bs) return;
  L->kbrokers = hl_strdup(bs);
  L->kcfg = (hl_kafka_config){.brokers = L->kbrokers, .security_protocol = L->cfg->kafka_security_protocol,
                              .sasl = L->kauth.sasl, .debug = L->cfg->kafka_debug};
  char err[256];
  if (hl_kafka_create(&L->loop, &L->kcfg, &L->kafka, err, sizeof err) != 0) {
    hl_log_error("Kafka producer unavailable", "\"error\":\"%s\"", hl_log_esc(err, (size_t)-1));
    hl_free(L->kbrokers);
    L->kbrokers = NULL;
    L->kcfg = (hl_kafka_config){0};
    return;
  }
  hl_queue_kafka_set_producer(L->queue, L->kafka);
  hl_api_use_queue(&L->api, L->queue, L->kafka);
  L->api.opt.loop = &L->loop;
}

/* A parked retry as a record: the same headers a retry topic's record has. */
static void record_of_parked(record *r, invocation *inv, hl_eq_item *it) {
  r->inv = inv;
  r->parked = true;
  r->topic = hl_strdup("parked");
  r->partition_key = hl_strdup("parked");
  r->partition = -1;
  r->due_ms = it->d.next_attempt_at;
  r->key = it->d.event_id;
  r->key_len = strlen(r->key);
  it->d.event_id = NULL;
  r->value = it->body;
  r->len = it->body_len;
  it->body = NULL;
  hl_record_headers h;
  hl_record_headers_delivery(&h, it->d.subscription_id, it->d.attempts, it->event_type, it->accepted_at, it->trace);
  hl_record_headers_due(&h, r->due_ms);
  hl_record_headers_replay(&h, it->replay); /* a parked replay stays that replay (its ledger key) */
  for (size_t i = 0; i < h.n && r->nheaders < HL_ARRAY_SIZE(r->headers); i++)
    r->headers[r->nheaders++] = (hl_kafka_header){hl_strdup(h.h[i].name), hl_strndup(h.h[i].value, h.h[i].len), h.h[i].len};
}

static void on_parked_taken(void *data, int status, hl_store_result *res) {
  invocation *inv = data;
  if (status != 0) {
    hl_log_error("could not take the parked retries", "\"error\":\"%s\"", hl_strerror(status));
    inv->take_failed = true;
  }
  inv->recs = hl_calloc(res->nitems ? res->nitems : 1, sizeof *inv->recs);
  for (size_t i = 0; status == 0 && i < res->nitems; i++) record_of_parked(&inv->recs[inv->nrecs++], inv, &res->items[i]);
  inv->pending = inv->nrecs;
  hl_log_info("draining parked retries", "\"taken\":%zu", inv->nrecs);
  if (inv->nrecs == 0) answer_batch(inv);
  for (size_t i = 0; i < inv->nrecs; i++) dispatch_record(&inv->recs[i]);
  inv_release(inv);
}

/* --- the DynamoDB queue: deliver while the invocation has time ------------------------------ */

/* After an API invocation was answered (or at a scheduled one), the
 * dispatcher claims and sends what is due; the invocation ends (the next
 * /next is asked) once this process has nothing claimed or in flight and
 * no released retry falls due before the hand-off point less the margin an
 * attempt needs, or at the hand-off point. What is left waits in the table
 * for the next invocation or the scheduled one. */
#define SETTLE_TICK_MS 20
/* How long past the hand-off point the releases of what waited for a slot
 * are waited for (the deadline is DEADLINE_MARGIN_MS after it). */
#define HANDOFF_RELEASE_MS 500

typedef struct {
  lambda *L;
  uv_timer_t timer;
  int64_t hand_off;
  bool drain;                  /* a scheduled invocation: answered with a report at the end */
  char request_id[128];
  uint64_t claimed0, recorded0, lost0, closed0;
  bool paused;                 /* past the hand-off point: the dispatcher paused */
} settle;

static void on_settle_closed(uv_handle_t *h) { hl_free(h->data); }

static void settle_end(settle *st) {
  lambda *L = st->L;
  uv_timer_stop(&st->timer);
  if (st->drain) {
    uint64_t claimed, recorded, lost;
    hl_queue_ddb_counts(L->queue, &claimed, &recorded, &lost);
    char out[256];
    int n = snprintf(out, sizeof out,
                     "{\"claimed\":%llu,\"recorded\":%llu,\"lost_to_others\":%llu,\"in_flight\":%zu,"
                     "\"closed_for_deleted_subscriptions\":%llu}",
                     (unsigned long long)(claimed - st->claimed0), (unsigned long long)(recorded - st->recorded0),
                     (unsigned long long)(lost - st->lost0), hl_queue_ddb_busy(L->queue),
                     (unsigned long long)(hl_queue_ddb_closed(L->queue) - st->closed0));
    emit_emf(L);
    hl_lambda_rt_respond(&L->rt, st->request_id, out, (size_t)n, on_posted, NULL);
  } else {
    next_invocation(L);
  }
  uv_close((uv_handle_t *)&st->timer, on_settle_closed);
}

static void on_settle_tick(uv_timer_t *t) {
  settle *st = t->data;
  int64_t now = hl_wall_ms();
  int64_t wake = hl_queue_ddb_next_wake(st->L->queue);
  /* A retry due by the hand-off point is waited for, until it is claimed
   * (which clears the wake). One due RETRY_CLAIM_GRACE_MS ago and still
   * unclaimed is claimed by nobody here (its subscription was deleted or
   * disabled since): waited for, it held every invocation to its end. */
  bool waiting_for_retry = wake > 0 && wake + WAIT_MARGIN_MS <= st->hand_off && now < wake + RETRY_CLAIM_GRACE_MS;
  if (now < st->hand_off) {
    if (hl_queue_ddb_busy(st->L->queue) == 0 && !waiting_for_retry) settle_end(st);
    return;
  }
  /* The hand-off point, with rows still held: those waiting for a slot
   * are given back, so that another process claims them now rather than
   * when their leases end (2 minutes while this sandbox is frozen), and
   * their releases are waited for (within the margin before the deadline).
   * Attempts running keep their rows. */
  if (!st->paused) {
    st->paused = true;
    hl_dispatch_pause(&st->L->dispatch);
  }
  if (hl_queue_ddb_calls(st->L->queue) == 0 || now >= st->hand_off + HANDOFF_RELEASE_MS) settle_end(st);
}

static void settle_start(lambda *L, int64_t hand_off, bool drain, const char *request_id) {
  hl_dispatch_resume(&L->dispatch); /* paused at the last hand-off point, if rows were held then */
  settle *st = hl_calloc(1, sizeof *st);
  st->L = L;
  st->hand_off = hand_off;
  st->drain = drain;
  snprintf(st->request_id, sizeof st->request_id, "%s", request_id ? request_id : "");
  hl_queue_ddb_counts(L->queue, &st->claimed0, &st->recorded0, &st->lost0);
  st->closed0 = hl_queue_ddb_closed(L->queue);
  uv_timer_init(&L->loop, &st->timer);
  st->timer.data = st;
  /* The first look comes after the dispatcher's claims have started (they
   * start on the loop's next turn). */
  uv_timer_start(&st->timer, on_settle_tick, SETTLE_TICK_MS, SETTLE_TICK_MS);
}

static void on_drain_swept(void *data, int status, hl_store_result *res) {
  (void)data;
  if (status != 0)
    hl_log_warn("dynamodb queue: closing deleted subscriptions' deliveries failed; the next drain tries again",
                "\"status\":%d", status);
  else if (res->purged.closed > 0)
    hl_log_info("open deliveries of deleted subscriptions set FAILED", "\"deliveries\":%lld",
                (long long)res->purged.closed);
}

/* A scheduled event with the DynamoDB queue: every subscription claims what
 * is due (retries, and what earlier invocations left), and retention's batch
 * of deleted subscriptions' waiting deliveries is closed (hl_queue.h, sweep);
 * the report waits for it like any claim. */
static void handle_queue_drain(invocation *inv) {
  lambda *L = inv->L;
  hl_store_purge p = {.limit = HL_RETENTION_BATCH, .now_ms = hl_wall_ms(), .close_deleted = true};
  L->queue->vt->sweep(L->queue, &p, on_drain_swept, NULL);
  hl_dispatch_notify_all(&L->dispatch);
  settle_start(L, hand_off_at(inv), true, inv->meta.request_id);
  invocation_free(inv);
}

/* A scheduled event (EventBridge): the parked retries that fall due before
 * this invocation's hand-off point (less the margin an attempt needs) are
 * taken under a lease, waited for and delivered; each leaves the store once
 * its attempt is recorded. */
static void handle_drain(invocation *inv) {
  lambda *L = inv->L;
  inv->drain = true;
  ensure_kafka(L, NULL);
  arm_deadline(inv);
  if (!L->store->vt->park_take) {
    answer_batch(inv);
    return;
  }
  int64_t now = hl_wall_ms();
  inv_hold(inv);
  L->store->vt->park_take(L->store, hand_off_at(inv) - WAIT_MARGIN_MS, now, hand_off_at(inv) + DRAIN_LEASE_MS,
                         DRAIN_TAKE_MAX, on_parked_taken, inv);
}

static void on_inbox_pass(void *data, const hl_inbox_pass_report *r) {
  invocation *inv = data;
  lambda *L = inv->L;
  if (r->status != 0 && r->fetched == 0) {
    hl_lambda_rt_error(&L->rt, inv->meta.request_id, "Hookloop.InboxUnavailable", r->error, on_posted, NULL);
  } else {
    /* What the pass did; what it left stays pending for the next one. */
    hl_buf b = HL_BUF_INIT;
    hl_app_inbox_report_json(r, &b);
    hl_lambda_rt_respond(&L->rt, inv->meta.request_id, b.data, b.len, on_posted, NULL);
    hl_buf_dispose(&b);
  }
  invocation_free(inv);
}

/* A scheduled event with an inbox configured: one pass, which stops taking
 * events WAIT_MARGIN_MS before the hand-off point so that the attempts
 * running can end before the deadline. */
static void handle_inbox(invocation *inv) {
  lambda *L = inv->L;
  hl_app_inbox_pass(L->inbox, hand_off_at(inv) - WAIT_MARGIN_MS, on_inbox_pass, inv);
}

static void handle_kafka_batch(invocation *inv, const hl_json *ev) {
  lambda *L = inv->L;
  if (L->ddbq) { /* its records have no rows there: nothing could record their outcomes */
    hl_lambda_rt_error(&L->rt, inv->meta.request_id, "Hookloop.UnsupportedEvent",
                       "an MSK batch reached a function on the DynamoDB queue (HOOKLOOP_QUEUE=dynamodb); "
                       "MSK-triggered functions run on the Kafka queue",
                       on_posted, NULL);
    invocation_free(inv);
    return;
  }
  size_t total = hl_msk_batch_count(ev);
  ensure_kafka(L, hl_json_str(hl_json_get(ev, "bootstrapServers")));
  inv->recs = hl_calloc(total ? total : 1, sizeof *inv->recs);
  hl_msk_record *dec = hl_calloc(total ? total : 1, sizeof *dec);
  size_t n = hl_msk_batch_decode(ev, dec);
  for (size_t i = 0; i < n; i++) { /* the decoded strings move into the record */
    const hl_msk_record *d = &dec[i];
    record *r = &inv->recs[inv->nrecs++];
    *r = (record){.inv = inv, .topic = d->topic, .partition_key = d->partition_key, .partition = d->partition,
                  .offset = d->offset, .key = d->key, .key_len = d->key_len, .value = d->value, .len = d->len,
                  .nheaders = d->nheaders};
    memcpy(r->headers, d->headers, d->nheaders * sizeof *d->headers);
  }
  hl_free(dec);
  inv->pending = inv->nrecs;
  arm_deadline(inv);
  if (inv->nrecs == 0) {
    answer_batch(inv);
    return;
  }
  for (size_t i = 0; i < inv->nrecs; i++) {
    record *r = &inv->recs[i];
    if (!r->value) { record_settled(r, REC_OK); continue; } /* tombstones carry nothing to deliver */
    if (has_prefix(r->topic, L->cfg->ingress_topic_prefix)) process_ingress(r);
    else if (has_prefix(r->topic, L->cfg->egress_topic_prefix) || has_prefix(r->topic, L->cfg->retry_topic_prefix)) {
      if (!fifo_join(r)) dispatch_record(r);
    } else record_settled(r, REC_OK);
  }
  fifo_start(inv);
}

typedef struct {
  lambda *L;
  char request_id[128];
  int64_t hand_off;            /* the invocation's hand-off point (the DynamoDB queue delivers until then) */
} apigw_ctx;

/* The answer is posted: with the DynamoDB queue, deliver before the next. */
static void on_api_posted(hl_lambda_rt *rt, int status, void *data) {
  lambda *L = hl_container_of(rt, lambda, rt);
  int64_t *hand_off = data;
  int64_t h = *hand_off;
  hl_free(hand_off);
  if (status == HL_ECLOSED) {
    L->stop = true;
    return;
  }
  settle_start(L, h, false, NULL);
}

static void on_api_answer(void *data, int status, const hl_http_header *headers, size_t nheaders,
                          const char *body, size_t body_len) {
  apigw_ctx *c = data;
  lambda *L = c->L;
  hl_buf b = HL_BUF_INIT;
  hl_jw w;
  hl_jw_open(&w, &b);
  hl_jw_key(&w, "statusCode"); hl_jw_int(&w, status);
  hl_jw_key_obj(&w, "headers");
  bool ct = false;
  for (size_t i = 0; i < nheaders; i++) {
    hl_jw_keyn(&w, headers[i].name, headers[i].name_len);
    hl_jw_strn(&w, headers[i].value, headers[i].value_len);
    ct = ct || (headers[i].name_len == 12 && strncasecmp(headers[i].name, "content-type", 12) == 0);
  }
  if (!ct) { hl_jw_key(&w, "content-type"); hl_jw_str(&w, "application/json"); }
  hl_jw_obj_end(&w);
  hl_jw_key(&w, "body"); hl_jw_strn(&w, body ? body : "", body_len);
  hl_jw_key(&w, "isBase64Encoded"); hl_jw_bool(&w, false);
  hl_jw_obj_end(&w);
  emit_emf(L);
  if (L->ddbq) {
    int64_t *h = hl_malloc(sizeof *h);
    *h = c->hand_off;
    hl_lambda_rt_respond(&L->rt, c->request_id, b.data, b.len, on_api_posted, h);
  } else {
    hl_lambda_rt_respond(&L->rt, c->request_id, b.data, b.len, on_posted, NULL);
  }
  hl_buf_dispose(&b);
  hl_free(c);
}

/* What on_api_answer needs to post the answer of an API request made
 * from the invocation (API Gateway or direct). */
static apigw_ctx *answer_ctx(invocation *inv) {
  apigw_ctx *c = hl_malloc(sizeof *c);
  c->L = inv->L;
  c->hand_off = hand_off_at(inv);
  snprintf(c->request_id, sizeof c->request_id, "%s", inv->meta.request_id);
  return c;
}

static void handle_apigw(invocation *inv, const hl_json *ev) {
  lambda *L = inv->L;
  bool bad_body = false;
  hl_http_req *req = hl_apigw_request(ev, on_api_answer, answer_ctx(inv), &bad_body);
  size_t limit = hl_api_body_limit(req->method, req->path, req->path_len, &L->api);
  if (bad_body) {
    /* Not handed on as an empty body: the API would call it empty. */
    hl_api_respond_error_at(req, 400, "invalid_body", "the event says isBase64Encoded but its body is not base64",
                            "/body", "not valid base64 (RFC 4648)");
  } else if (req->body_len > limit) {
    char msg[128];
    hl_http_too_large_message(limit, msg, sizeof msg);
    hl_http_respond_error(req, 413, "payload_too_large", msg);
  } else {
    hl_api_handle(req, &L->api);
  }
}

/* An event invoked directly: POST /api/v1/events with the payload as it came. */
static void handle_direct(invocation *inv, const hl_json *ev) {
  lambda *L = inv->L;
  bool ce = hl_json_str(hl_json_get(ev, "specversion")) != NULL;
  /* The invocation's trace is the event's (the README: Lambda-Runtime-Trace-Id
   * reaches partners when the record has none of its own); without it the
   * event was stored with no trace and its deliveries carried none. */
  hl_http_req *req = hl_direct_request(inv->meta.body, inv->meta.body_len, ce, inv->meta.trace_id, on_api_answer,
                                       answer_ctx(inv));
  if (req->body_len > L->api.opt.max_body) {
    char msg[128];
    hl_http_too_large_message(L->api.opt.max_body, msg, sizeof msg);
    hl_http_respond_error(req, 413, "payload_too_large", msg);
  } else {
    hl_api_handle(req, &L->api);
  }
}

static void on_next_due(uv_timer_t *t) { next_invocation(hl_container_of(t, lambda, next_timer)); }

static void on_next(hl_lambda_rt *rt, int status, hl_lambda_invocation *meta) {
  lambda *L = hl_container_of(rt, lambda, rt);
  if (status == HL_ECLOSED || L->stop) {
    L->stop = true;
    return;
  }
  if (status != 0) { /* transient: ask again shortly */
    unsigned n = L->next_failures < 16 ? L->next_failures : 16;
    uint64_t wait = (uint64_t)NEXT_RETRY_MIN_MS << n;
    if (wait > NEXT_RETRY_MAX_MS) wait = NEXT_RETRY_MAX_MS;
    L->next_failures++;
    hl_log_warn("next invocation failed; asking again", "\"error\":\"%s\",\"in_ms\":%llu,\"failures\":%u",
                hl_strerror(status), (unsigned long long)wait, L->next_failures);
    uv_timer_start(&L->next_timer, on_next_due, wait, 0);
    return;
  }
  L->next_failures = 0;
  invocation *inv = hl_calloc(1, sizeof *inv);
  inv->L = L;
  inv->meta = *meta;
  meta->body = NULL;
  if (inv->meta.trace_id[0]) setenv("_X_AMZN_TRACE_ID", inv->meta.trace_id, 1);
  if (L->load != LOAD_OK) {
    L->parked = inv;
    if (L->load == LOAD_FAILED) prepare(L); /* the store or the secret was unreachable: try again */
    return;
  }
  /* Warm reuse: compiled schemas and subscriptions stay between
   * invocations, but no older than HOOKLOOP_CONFIG_TTL_S when other
   * functions can change them (a shared store). */
  int64_t ttl = L->cfg->config_ttl_s;
  if (ttl > 0 && L->cfg->store != HL_STORE_SQLITE && hl_mono_ms() - L->api.loaded_at_ms >= (uint64_t)ttl * 1000) {
    hl_api_reload(&L->api, on_reloaded, inv);
    return;
  }
  route_invocation(inv);
}

static void on_reloaded(void *data, int status) {
  if (status != 0)
    hl_log_warn("could not reload schemas and subscriptions; going on with the ones loaded before",
                "\"error\":\"%s\"", hl_strerror(status));
  route_invocation(data);
}

static void route_invocation(invocation *inv) {
  lambda *L = inv->L;
  hl_json_doc doc;
  hl_json_doc_init(&doc);
  if (hl_json_parse(&doc, inv->meta.body ? inv->meta.body : "", inv->meta.body_len, NULL) != 0) {
    hl_lambda_rt_error(&L->rt, inv->meta.request_id, "Hookloop.InvalidEvent", "the event is not JSON", on_posted, NULL);
    hl_json_doc_dispose(&doc);
    invocation_free(inv);
    return;
  }
  hl_lambda_event_kind kind = hl_lambda_event_kind_of(doc.root);
  if (kind == HL_LAMBDA_EVENT_KAFKA) {
    handle_kafka_batch(inv, doc.root);
  } else if (kind == HL_LAMBDA_EVENT_SCHEDULE && L->inbox) {
    handle_inbox(inv);
  } else if (kind == HL_LAMBDA_EVENT_SCHEDULE && L->ddbq) {
    handle_queue_drain(inv);
  } else if (kind == HL_LAMBDA_EVENT_SCHEDULE) {
    handle_drain(inv);
  } else if (kind == HL_LAMBDA_EVENT_APIGW) {
    handle_apigw(inv, doc.root);
    invocation_free(inv);
  } else if (kind == HL_LAMBDA_EVENT_DIRECT) {
    handle_direct(inv, doc.root);
    invocation_free(inv);
  } else {
    hl_lambda_rt_error(&L->rt, inv->meta.request_id, "Hookloop.UnsupportedEvent",
                       "expected an MSK/Kafka batch, an API Gateway HTTP API (v2) or REST API (v1) event, an event (direct "
                       "invocation) or an EventBridge "
                       "scheduled event", on_posted, NULL);
    invocation_free(inv);
  }
  hl_json_doc_dispose(&doc);
}

/* Lambda freezes the sandbox once /next is asked, and may end it frozen:
 * the store's writes still on their way (an outcome's status row, an
 * attempt, a batch waiting out a throttle) would go out only when thawed,
 * or never, leaving GET /admin/deliveries and recover reading PENDING for a
 * delivery that ended. So they are waited for first, at most
 * STORE_SETTLE_MS (the store's calls end within it by their own retry
 * budget). */
#define STORE_SETTLE_MS 10000

static void on_store_settled(void *data, int status, hl_store_result *res) {
  lambda *L = data;
  (void)res;
  if (status == HL_ETIMEOUT)
    hl_log_warn("the store's writes were not all answered before asking for the next invocation", "\"waited_ms\":%d",
                STORE_SETTLE_MS);
  if (!L->stop) hl_lambda_rt_next(&L->rt, on_next);
}

static void next_invocation(lambda *L) {
  if (L->stop) return;
  if (L->store && L->store->vt->settle) L->store->vt->settle(L->store, STORE_SETTLE_MS, on_store_settled, L);
  else hl_lambda_rt_next(&L->rt, on_next);
}

static void on_outcome(void *data, const hl_outcome_info *o) {
  lambda *L = data;
  hl_metrics_on_delivery(&L->metrics, o->outcome == HL_OUTCOME_SUCCESS ? "success"
                                     : o->outcome == HL_OUTCOME_DUPLICATE ? "duplicate"
                                     : o->outcome == HL_OUTCOME_RETRY ? "retry" : "failed",
                         o->outcome == HL_OUTCOME_DUPLICATE ? -1.0 : o->latency_s, o->attempt);
}

static void on_accepted(void *data, size_t nsubs) {
  lambda *L = data;
  (void)nsubs; /* the processor fans it out, and counts it there */
  hl_metrics_on_accepted(&L->metrics);
}

static void on_init_error_posted(hl_lambda_rt *rt, int status, void *data) {
  lambda *L = hl_container_of(rt, lambda, rt);
  (void)status; (void)data;
  L->stop = true;
}

static void init_failed(lambda *L, const char *type, const char *msg) {
  hl_log_error("initialisation failed", "\"error\":\"%s\"", hl_log_esc(msg, (size_t)-1));
  hl_lambda_rt_error(&L->rt, NULL, type, msg, on_init_error_posted, NULL);
  L->exit_code = 1;
}

/* Every invocation needs the schemas and subscriptions and, with
 * WEBHOOK_SECRET_ARN, the default secret: both are read while /next is
 * pending; prepared() runs when both are done. */
static void prepared(lambda *L) {
  invocation *inv = L->parked;
  L->parked = NULL;
  if (L->prep_status != 0) {
    /* Not an init error: /next is already asked, and what is down now may
     * be up at the next invocation, which prepares again. */
    L->load = LOAD_FAILED;
    hl_log_error("could not prepare the function", "\"error\":\"%s\"", L->prep_why);
    if (inv) {
      hl_lambda_rt_error(&L->rt, inv->meta.request_id, "Hookloop.StoreUnavailable", L->prep_why, on_posted, NULL);
      invocation_free(inv);
    }
    return;
  }
  L->load = LOAD_OK;
  if (inv) route_invocation(inv);
}

static void prep_done(lambda *L, int status, const char *why) {
  if (status != 0 && L->prep_status == 0) {
    L->prep_status = status;
    L->prep_why = why;
  }
  if (--L->prep_pending == 0) prepared(L);
}

static void on_loaded(void *data, int status) {
  lambda *L = data;
  const char *kms_why = status != 0 && L->have_kms ? hl_app_kms_open_failure(&L->kms) : NULL;
  prep_done(data, status, kms_why ? kms_why : "could not load schemas and subscriptions from the store; retry later");
}

static void on_secret_read(void *data, int status, const char *why) {
  (void)why; /* logged by the reader; names no secret */
  prep_done(data, status, "could not read the default webhook secret (WEBHOOK_SECRET_ARN); retry later");
}

/* The subscriptions open with the KMS data key: it comes first. A failure
 * fails the invocations (as a store down does) and is tried again at the
 * next one. */
static void on_kms_ready(void *data, int status, const char *why) {
  lambda *L = data;
  if (status != 0) {
    hl_log_error("could not obtain the KMS data key sealing subscription credentials", "\"error\":\"%s\"",
                 hl_log_esc(why, (size_t)-1));
    prep_done(L, status, why);
    return;
  }
  hl_api_load(&L->api, on_loaded, L);
}

static void prepare(lambda *L) {
  L->load = LOAD_PENDING;
  L->prep_status = 0;
  L->prep_why = NULL;
  bool secret = L->have_secrets && !hl_secrets_value(&L->secrets);
  L->prep_pending = 1 + secret;
  if (secret) hl_secrets_start(&L->secrets, on_secret_read, L);
  if (L->have_kms && !hl_app_kms_ready(&L->kms)) hl_app_kms_start(&L->kms, on_kms_ready, L);
  else hl_api_load(&L->api, on_loaded, L);
}

static const char *default_secret(void *data) { return hl_secrets_value(data); }

static void set_flag(void *data) { *(int *)data = 1; }

static void closed_noop(void *d) { (void)d; }

int hl_lambda_run(const hl_config *cfg) {
  lambda *L = hl_calloc(1, sizeof *L);
  L->cfg = cfg;
  const char *api = getenv("AWS_LAMBDA_RUNTIME_API");
  if (!api || !*api) {
    fprintf(stderr, "hookloop lambda: AWS_LAMBDA_RUNTIME_API is not set; this command runs inside AWS Lambda "
                    "(or a Runtime API emulator)\n");
    hl_free(L);
    return 2;
  }
  L->partial_batch = cfg->lambda_partial_batch;
  signal(SIGPIPE, SIG_IGN);
  hl_curl_global_init();
  uv_loop_init(&L->loop);
  uv_timer_init(&L->loop, &L->next_timer);
  hl_curl_uv_init(&L->curl, &L->loop, 1024);
  hl_lambda_rt_init(&L->rt, &L->curl, api);
  hl_registry_init(&L->reg);
  hl_metrics_init(&L->metrics);
  hl_metrics_init(&L->metrics_sent);
  char err[512] = "";
  hl_buf perr = HL_BUF_INIT;
  /* The package is read-only in Lambda: the embedded store lives in /tmp. */
  const char *dir = strcmp(cfg->data_dir, "./hookloop-data") == 0 ? "/tmp/hookloop-data" : cfg->data_dir;
  if (hl_retry_schedule_parse(cfg->retry_schedule, &L->schedule, &perr) != 0) {
    init_failed(L, "Hookloop.InitError", perr.data ? perr.data : "HOOKLOOP_RETRY_SCHEDULE is not usable");
  } else if (hl_app_store_open(&L->loop, &L->curl, cfg, dir, false, &L->store, err, sizeof err) != 0) {
    init_failed(L, "Hookloop.InitError", err);
  } else if (cfg->webhook_secret_arn && *cfg->webhook_secret_arn &&
             hl_app_secrets_init(&L->secrets, &L->loop, &L->curl, cfg, err, sizeof err) != 0) {
    init_failed(L, "Hookloop.InitError", err);
    L->store->vt->close(L->store, closed_noop, NULL);
    L->store = NULL;
  } else if (hl_app_kafka_auth_open(&L->kauth, &L->loop, &L->curl, cfg, err, sizeof err) != 0) {
    init_failed(L, "Hookloop.InitError", err);
    L->store->vt->close(L->store, closed_noop, NULL);
    L->store = NULL;
  } else if (cfg->kms_key_id && *cfg->kms_key_id &&
             hl_app_kms_init(&L->kms, &L->loop, &L->curl, L->store, cfg, err, sizeof err) != 0) {
    init_failed(L, "Hookloop.InitError", err);
    L->store->vt->close(L->store, closed_noop, NULL);
    L->store = NULL;
  } else {
    L->have_kms = cfg->kms_key_id && *cfg->kms_key_id;
    L->have_secrets = cfg->webhook_secret_arn && *cfg->webhook_secret_arn;
    /* The DynamoDB queue is chosen, never implied: a function that MSK
     * triggers runs on the Kafka queue even without KAFKA_BROKERS (its
     * producer comes from the batch's bootstrapServers), so the template
     * sets HOOKLOOP_QUEUE=dynamodb only where there is no MSK. */
    L->ddbq = cfg->queue == HL_QUEUE_DYNAMODB;
    if (L->ddbq) {
      hl_queue_ddb_options qd = {.store = L->store, .table = cfg->delivery_queue_table, .reg = &L->reg,
                                 .adopt_window_ms = (uint64_t)cfg->config_ttl_s * 1000 + 10000};
      L->queue = hl_queue_ddb_create(&qd);
    } else {
      hl_queue_kafka_options qo = {.store = L->store, .loop = &L->loop, .kafka_cfg = &L->kcfg, .retry_prefix = cfg->retry_topic_prefix, .dlq_topic = cfg->dlq_topic,
                                   .schedule = L->schedule, .closed_tiers = true, .finished = finished, .finished_data = L,
                                   /* fifo: held per partition across invocations (see "fifo" above) */
                                   .orders = true, .reg = &L->reg};
      L->queue = hl_queue_kafka_create(NULL, &qo);
    }
    L->popt = (hl_pipeline_options){.processor = true, .dispatcher = true,
                                   .ingress_prefix = cfg->ingress_topic_prefix, .egress_prefix = cfg->egress_topic_prefix,
                                   .retry_prefix = cfg->retry_topic_prefix, .dlq_topic = cfg->dlq_topic,
                                   .schedule = L->schedule, .metrics = &L->metrics, .closed_tiers = true,
                                   .loop = &L->loop};
    hl_dispatch_options dopt = {.max_in_flight = (unsigned)cfg->max_in_flight,
                                .allow_private_targets = cfg->allow_private_targets,
                                .tls = hl_config_tls(cfg),
                                .default_schedule = L->schedule, .on_outcome = on_outcome, .outcome_data = L,
                                .queue = L->queue,
                                .default_secret = L->have_secrets ? default_secret : NULL,
                                .default_secret_data = &L->secrets,
                                /* DynamoDB queue: every retry goes back to the table (a sandbox may
                                 * freeze between invocations; nothing waits in its memory). */
                                .release_after_ms = L->ddbq ? 1 : 0,
                                .on_kept = on_kept, .kept_data = L};
    dopt.sender = hl_app_sender_create(&L->loop, &L->curl, cfg, &dopt);
    hl_dispatch_init(&L->dispatch, &L->loop, &L->curl, L->store, &L->reg, &dopt);
    hl_api_options aopt = {.admin_token = cfg->admin_token, .api_token = cfg->api_token,
                           .ingress_prefix = cfg->ingress_topic_prefix, .egress_prefix = cfg->egress_topic_prefix,
                           .store_name = L->store->vt->name, .queue_name = L->ddbq ? "dynamodb" : "kafka",
                           .allow_private_targets = cfg->allow_private_targets,
                           .require_https = cfg->require_https,
                           /* borrowed before the key is there: loaded after on_kms_ready */
                           .sealer = L->have_kms ? &L->kms.sealer : cfg->sealer,
                           .opener = L->have_kms ? &L->kms.opener : NULL,
                           .require_partners = cfg->require_partners,
                           .default_secret = L->have_secrets,
                           .backlog_high_water = cfg->queue_high_water, .default_schedule = L->schedule,
                           .on_accepted = on_accepted, .hook_data = L,
                           .console = hl_config_console(cfg)};
    hl_api_init(&L->api, L->store, &L->reg, &L->dispatch, &aopt);
    /* The health check's deadline runs on the loop, whichever queue there is. */
    L->api.health.loop = &L->loop;
    if (L->ddbq) {
      hl_api_use_queue(&L->api, L->queue, NULL);
      L->api.opt.loop = &L->loop;
    } else if (cfg->kafka_brokers && *cfg->kafka_brokers) {
      /* The API function produces accepted events to their ingress topics
       * (and re-queues from the dead-letter topic); the MSK functions use
       * the same producer for retry and dead-letter topics. */
      L->kcfg = (hl_kafka_config){.brokers = cfg->kafka_brokers, .security_protocol = cfg->kafka_security_protocol,
                                  .sasl = L->kauth.sasl, .debug = cfg->kafka_debug};
      if (hl_kafka_create(&L->loop, &L->kcfg, &L->kafka, err, sizeof err) != 0) {
        hl_log_error("Kafka producer unavailable", "\"error\":\"%s\"", hl_log_esc(err, (size_t)-1));
      } else {
        hl_queue_kafka_set_producer(L->queue, L->kafka);
        hl_api_use_queue(&L->api, L->queue, L->kafka);
        L->api.opt.loop = &L->loop;
      }
    }
    if (hl_app_inbox_configured() &&
        hl_app_inbox_open(&L->inbox, &L->loop, &L->curl, L->store, cfg, L->have_secrets ? default_secret : NULL,
                          &L->secrets, err, sizeof err) != 0) {
      init_failed(L, "Hookloop.InitError", err);
    } else {
      prepare(L);
      next_invocation(L);
    }
  }
  hl_buf_dispose(&perr);
  hl_log_uv_start(&L->log, &L->loop); /* flushed before each wait, so before Lambda freezes us */
  while (!L->stop && uv_run(&L->loop, UV_RUN_ONCE)) {}
  if (L->parked) {
    invocation_free(L->parked);
    L->parked = NULL;
  }
  /* The Runtime API said stop (or init failed): close what is open. */
  if (L->inbox) {
    int inbox_closed = 0;
    hl_app_inbox_close(L->inbox, set_flag, &inbox_closed);
    while (!inbox_closed && uv_run(&L->loop, UV_RUN_ONCE)) {}
    L->inbox = NULL;
  }
  hl_api_close_jobs(&L->api); /* recovery jobs: freed once their calls in flight answer */
  if (L->store) {
    hl_dispatch_close(&L->dispatch, closed_noop, NULL);
    uv_run(&L->loop, UV_RUN_NOWAIT);
  }
  if (L->queue) L->queue->vt->destroy(L->queue);
  if (L->kafka) {
    /* Before its token source, which goes before curl. */
    int kafka_closed = 0;
    hl_kafka_close(L->kafka, set_flag, &kafka_closed);
    while (!kafka_closed && uv_run(&L->loop, UV_RUN_ONCE)) {}
    L->kafka = NULL;
  }
  hl_free(L->kbrokers);
  {
    int auth_closed = 0;
    hl_app_kafka_auth_close(&L->kauth, set_flag, &auth_closed);
    while (!auth_closed && uv_run(&L->loop, UV_RUN_ONCE)) {}
  }
  if (L->have_kms) { /* before the store, which its start may be writing to */
    int kms_closed = 0;
    hl_aws_client_cancel_all(&L->kms.client);
    hl_app_kms_close(&L->kms, set_flag, &kms_closed);
    while (!kms_closed && uv_run(&L->loop, UV_RUN_ONCE)) {}
  }
  /* The store first: the DynamoDB store finishes its writes through curl. */
  int store_closed = L->store == NULL;
  if (L->store) L->store->vt->close(L->store, set_flag, &store_closed);
  while (!store_closed && uv_run(&L->loop, UV_RUN_ONCE)) {}
  if (L->have_secrets) {
    int secrets_closed = 0;
    hl_secrets_close(&L->secrets, set_flag, &secrets_closed);
    while (!secrets_closed && uv_run(&L->loop, UV_RUN_ONCE)) {}
  }
  uv_close((uv_handle_t *)&L->next_timer, NULL);
  hl_log_uv_close(&L->log);
  hl_curl_uv_close(&L->curl, closed_noop, NULL);
  uv_run(&L->loop, UV_RUN_DEFAULT);
  hl_registry_dispose(&L->reg);
  hl_retry_schedule_free(L->schedule);
  uv_loop_close(&L->loop);
  hl_curl_global_cleanup();
  int code = L->exit_code;
  hl_free(L);
  return code;
}

int hl_lambda_report_init_error(const char *message) {
  const char *api = getenv("AWS_LAMBDA_RUNTIME_API");
  if (!api || !*api) return 2;
  lambda *L = hl_calloc(1, sizeof *L);
  hl_curl_global_init();
  uv_loop_init(&L->loop);
  hl_curl_uv_init(&L->curl, &L->loop, 4);
  hl_lambda_rt_init(&L->rt, &L->curl, api);
  hl_lambda_rt_error(&L->rt, NULL, "Hookloop.ConfigError", message, on_init_error_posted, NULL);
  while (!L->stop && uv_run(&L->loop, UV_RUN_ONCE)) {}
  if (L->parked) {
    invocation_free(L->parked);
    L->parked = NULL;
  }
  hl_curl_uv_end_run(&L->curl, &L->loop);
  hl_free(L);
  return 2;
}
