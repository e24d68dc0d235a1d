/* hl_queue_ddb.c — the DynamoDB queue (layout and lease rules in hl_queue_ddb.h). */
#include "queue/hl_queue_ddb.h"
#include "queue/hl_queue_ddb_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/hl_common.h"
#include "common/hl_log.h"
#include "common/hl_strmap.h"
#include "crypto/hl_crypto.h"
#include "model/hl_sub_order.h"
#include "store/hl_store_ddb.h"

#define DEFAULT_LEASE_MS 120000

static void due_key(hl_buf *out, int64_t due_ms, const char *event_id, const char *sub_id) {
  hl_buf_printf(out, "%015lld#%s#%s", (long long)(due_ms > 0 ? due_ms : 0), event_id, sub_id);
}

/* Answers on a later turn (never from inside a call). */
static void answer_later(ddbq *q, hl_store_cb cb, void *data, int status) {
  hl_ddb_answer_later(q->c, cb, data, status, NULL, NULL);
}

static void ready(ddbq *q, const char *sub_id) {
  if (q->base.on_ready && !q->base.closing) q->base.on_ready(q->base.ready_data, sub_id);
}

void hl_qddb_cand_push(candidate **arr, size_t *n, size_t *cap, const hl_json *it) {
  char *e = hl_ddb_item_sdup(it, "event_id"), *s = hl_ddb_item_sdup(it, "subscription_id");
  char *d = hl_ddb_item_sdup(it, "due_key");
  if (!e || !s || !d) {
    hl_free_all(e, s, d);
    return;
  }
  if (*n == *cap) {
    *cap = *cap ? *cap * 2 : 16;
    *arr = hl_realloc(*arr, *cap * sizeof **arr);
  }
  (*arr)[(*n)++] = (candidate){e, s, d, false};
}

/* --- accept: one conditional PutItem per delivery ------------------------------ */
typedef struct {
  ddbq *q;
  size_t pending, ok, exists, failed;
  int status;           /* the answer, once the rows' puts are in */
  char **subs;
  bool *put;
  size_t nsubs;
  char *event_id, *event_type, *trace;
  int64_t now, accepted_at;
  hl_store_cb cb;
  void *data;
} accept_ctx;

typedef struct {
  accept_ctx *a;
  size_t i;
  int64_t seq;          /* a fifo subscription's: the delivery's place in its order */
} accept_one;

static bool sub_fifo(const ddbq *q, const char *sub_id);

/* The accept answered, once its status rows are written. */
static void accept_answer(accept_ctx *a) {
  ddbq *q = a->q;
  hl_store_result res = {0};
  hl_store_cb cb = a->cb;
  void *data = a->data;
  int status = a->status;
  for (size_t i = 0; i < a->nsubs; i++) hl_free(a->subs[i]);
  hl_free_all(a->subs, a->put, a->event_id, a->event_type, a->trace, a);
  q->busy--;
  if (!q->dead) cb(data, status, &res);
}

/* A status row's put answered; failed, or there already (an outcome
 * written first), the row is queued all the same, and its outcome writes
 * the status. */
static void on_status_new(void *data, int status, hl_store_result *res) {
  accept_ctx *a = data;
  ddbq *q = a->q;
  (void)status;
  (void)res;
  if (--a->pending == 0) accept_answer(a);
  hl_qddb_op_done(q);
}

static void accept_done(accept_ctx *a) {
  ddbq *q = a->q;
  a->status = a->failed ? HL_ESTORE : (a->ok == 0 && a->exists > 0) ? HL_EEXISTS : 0;
  a->pending = 1; /* the loop's own, given back below */
  if (a->status == 0 && !q->dead) {
    for (size_t i = 0; i < a->nsubs; i++) {
      if (!a->put[i]) continue;
      /* The status the API reads, unless an outcome was written first (the
       * row was claimed while the accept waited for another row's put):
       * written before the answer, so the accepted event is listed. */
      hl_delivery_rec r = {.event_id = a->event_id, .subscription_id = a->subs[i], .status = (char *)"PENDING",
                           .updated_at = a->now, .next_attempt_at = a->now};
      a->pending++;
      q->ops++; /* the store's call, counted as the queue's own (on_status_new) */
      hl_store_ddb_delivery_put_new(q->store, &r, on_status_new, a);
      if (!sub_fifo(q, a->subs[i])) { /* a fifo subscription claims its head by its order instead */
        hl_buf dk = HL_BUF_INIT;
        due_key(&dk, a->now, a->event_id, a->subs[i]);
        hl_qddb_fresh_add(q, a->event_id, a->subs[i], dk.data);
        hl_buf_dispose(&dk);
      }
      ready(q, a->subs[i]);
    }
  }
  if (--a->pending == 0) accept_answer(a);
}

/* One row's put answered, as outcome (for a failed condition, once the row
 * was read back); o freed. */
static void row_put_done(accept_one *o, hl_aws_outcome outcome) {
  accept_ctx *a = o->a;
  if (outcome == HL_AWS_OK) {
    a->ok++;
    a->put[o->i] = true;
  } else if (outcome == HL_AWS_CONDITION_FAILED) {
    a->exists++; /* accepted before: this row is there already */
  } else {
    a->failed++;
  }
  hl_free(o);
  if (--a->pending == 0) accept_done(a);
}

static void on_row_read(void *data, const hl_aws_status *st, const hl_json *resp) {
  accept_one *o = data;
  ddbq *q = o->a->q;
  const hl_json *it = st->outcome == HL_AWS_OK ? hl_json_get(resp, "Item") : NULL;
  /* This accept's row: its accepted_at (a millisecond time of this
   * accept's; an earlier accept of the event had its own). A read that
   * failed fails the accept (503: sent again, it is then a duplicate). */
  hl_aws_outcome outcome = st->outcome;
  if (outcome == HL_AWS_OK)
    outcome = it && hl_ddb_item_i64_or0(it, "accepted_at") == (o->a->accepted_at ? o->a->accepted_at : o->a->now)
                  ? HL_AWS_OK
                  : HL_AWS_CONDITION_FAILED;
  row_put_done(o, outcome);
  hl_qddb_op_done(q);
}

/* A row put whose condition failed: a row of an earlier accept of the
 * event, or this very put, applied once and its answer lost (the client
 * timed out, or DynamoDB answered 500 after writing, and it was sent
 * again). The row, read consistently, tells which: the second is this
 * accept's (202, its status written, offered to the next claim); taken for
 * the first, the event's first POST was answered 200 "duplicate". */
static void on_row_put(void *data, const hl_aws_status *st, const hl_json *resp) {
  accept_one *o = data;
  ddbq *q = o->a->q;
  (void)resp;
  if (st->outcome == HL_AWS_CONDITION_FAILED && !q->dead) {
    hl_ddb_attr key[] = {{"event_id", hl_ddb_s(o->a->event_id)}, {"subscription_id", hl_ddb_s(o->a->subs[o->i])}};
    hl_buf body = HL_BUF_INIT;
    hl_ddb_get_item(&body, q->table, HL_DDB_ITEM(key), true);
    hl_qddb_call(q, HL_DDB_GET_ITEM, &body, on_row_read, o);
  } else {
    row_put_done(o, st->outcome);
  }
  hl_qddb_op_done(q);
}

/* The delivery's row, conditional on its absence (a repeat of the event
 * finds it). seq >= 0: a fifo subscription's, whose order entry is written. */
static void put_row(accept_ctx *a, size_t i, int64_t seq) {
  ddbq *q = a->q;
  const char *sub = a->subs[i];
  char now[24], acc[24], shard[24], sq[24];
  hl_buf dk = HL_BUF_INIT;
  due_key(&dk, a->now, a->event_id, sub);
  hl_queue_ddb_due_shard(shard, a->event_id, sub);
  hl_ddb_attr it[12];
  size_t n = 0;
  it[n++] = (hl_ddb_attr){"event_id", hl_ddb_s(a->event_id)};
  it[n++] = (hl_ddb_attr){"subscription_id", hl_ddb_s(sub)};
  it[n++] = (hl_ddb_attr){"status", hl_ddb_s("PENDING")};
  it[n++] = (hl_ddb_attr){"attempts", hl_ddb_n("0")};
  it[n++] = (hl_ddb_attr){"event_type", hl_ddb_s(a->event_type)};
  it[n++] = (hl_ddb_attr){"accepted_at", hl_ddb_n(hl_ddb_i64(acc, a->accepted_at ? a->accepted_at : a->now))};
  it[n++] = (hl_ddb_attr){"updated_at", hl_ddb_n(hl_ddb_i64(now, a->now))};
  it[n++] = (hl_ddb_attr){"next_attempt_at", hl_ddb_n(now)};
  it[n++] = (hl_ddb_attr){"due_shard", hl_ddb_n(shard)};
  it[n++] = (hl_ddb_attr){"due_key", hl_ddb_s(dk.data)};
  if (a->trace) it[n++] = (hl_ddb_attr){"trace", hl_ddb_s(a->trace)};
  if (seq >= 0) it[n++] = (hl_ddb_attr){"fifo_seq", hl_ddb_n(hl_ddb_i64(sq, seq))};
  hl_ddb_expr x = {.condition = "attribute_not_exists(event_id)"};
  hl_buf body = HL_BUF_INIT;
  hl_ddb_put_item(&body, q->table, (hl_ddb_item){it, n}, &x);
  hl_buf_dispose(&dk);
  accept_one *o = hl_malloc(sizeof *o);
  *o = (accept_one){a, i, seq};
  hl_qddb_call(q, HL_DDB_PUT_ITEM, &body, on_row_put, o);
}

static void fifo_accept(accept_ctx *a, size_t i);

static void queue_accept(hl_queue *base, const hl_eq_accept *ev, const char *ingress_topic, hl_store_cb cb,
                         void *data) {
  ddbq *q = Q(base);
  (void)ingress_topic;
  if (ev->nsubs == 0) { /* nothing to deliver; the events table has the record */
    answer_later(q, cb, data, 0);
    return;
  }
  accept_ctx *a = hl_calloc(1, sizeof *a);
  *a = (accept_ctx){.q = q, .pending = ev->nsubs, .nsubs = ev->nsubs, .event_id = hl_strdup(ev->event_id),
                    .event_type = hl_strdup(ev->event_type), .trace = ev->trace ? hl_strdup(ev->trace) : NULL,
                    .now = hl_wall_ms(), .accepted_at = ev->accepted_at, .cb = cb, .data = data};
  a->subs = hl_calloc(ev->nsubs, sizeof *a->subs);
  a->put = hl_calloc(ev->nsubs, sizeof *a->put);
  q->busy++;
  for (size_t i = 0; i < ev->nsubs; i++) a->subs[i] = hl_strdup(ev->subscription_ids[i]);
  for (size_t i = 0; i < ev->nsubs; i++) {
    if (sub_fifo(q, a->subs[i])) fifo_accept(a, i); /* its place in the order first, then the row */
    else put_row(a, i, -1);
  }
}

/* --- claim: Query the index per shard, lease each row, read the bodies ------------ */
typedef struct {
  ddbq *q;
  char *sub_id;
  size_t limit;
  int64_t now;
  hl_store_cb cb;
  void *data;
  size_t pending;
  bool truncated;
  int failed;
  candidate *cand;
  size_t ncand, capcand;
  hl_store_result res;  /* items, filled as leases are won and bodies read */
  size_t capitems;
} claim_ctx;

typedef struct {
  claim_ctx *k;
  size_t ci;            /* its candidate (k->cand[ci]: the row's key) */
  hl_eq_item item;      /* the row as leased (moved into res when its body comes) */
} claim_one;

/* Due first, then accepted first: the order the index gave the rows in. */
static int item_cmp(const void *x, const void *y) {
  const hl_eq_item *a = x, *b = y;
  if (a->d.next_attempt_at != b->d.next_attempt_at) return a->d.next_attempt_at < b->d.next_attempt_at ? -1 : 1;
  if (a->accepted_at != b->accepted_at) return a->accepted_at < b->accepted_at ? -1 : 1;
  return strcmp(a->d.event_id, b->d.event_id);
}

static void claim_answer(claim_ctx *k) {
  ddbq *q = k->q;
  /* The leases and reads answered in any order; the dispatcher sends what
   * waits for a slot in the order it is given, which is the due order
   * again (what a subscription turned fifo meanwhile still sends from its
   * earlier copy goes in acceptance order too). */
  if (k->res.nitems > 1) qsort(k->res.items, k->res.nitems, sizeof *k->res.items, item_cmp);
  /* A full page of some shard: more may be due, come back at once. */
  k->res.next_due_at = k->truncated ? k->now + 1 : 0;
  if (k->truncated && !q->dead) hl_strmap_put(&q->owed, k->sub_id, q);
  for (size_t i = 0; i < k->res.nitems && !q->dead; i++)
    hl_qddb_held_add(q, k->res.items[i].d.event_id, k->res.items[i].d.subscription_id, k->now + (int64_t)q->lease_ms);
  int status = k->res.nitems == 0 && k->failed ? HL_ESTORE : 0;
  q->claimed += k->res.nitems;
  q->busy += k->res.nitems; /* held until recorded or released */
  q->busy--;
  if (!q->dead) k->cb(k->data, status, &k->res);
  hl_store_result_dispose(&k->res);
  for (size_t i = 0; i < k->ncand; i++) {
    hl_free(k->cand[i].event_id);
    hl_free(k->cand[i].sub_id);
    hl_free(k->cand[i].due_key);
  }
  hl_free(k->cand);
  hl_free(k->sub_id);
  hl_free(k);
}


static void update_row(ddbq *q, const hl_delivery_rec *d, bool terminal, bool release, bool status_fields,
                       hl_store_cb cb, void *data);

static void on_failed_without_record(void *data, int status, hl_store_result *res) {
  ddbq *q = data;
  (void)res;
  if (status == HL_ESTORE) q->busy--; /* not written: the lease ends, and the next claim finds the same */
}

/* A claimed row whose event's record is gone from the events table: it
 * expired (EVENTS_TTL_DAYS, while the delivery was still open) or was
 * deleted. Nothing can ever be sent for it, and left open it was leased,
 * found without a record and let go again every 2 minutes, for good. It
 * fails for good now, with why, under the lease this claim holds. */
static void fail_without_record(claim_one *o) {
  ddbq *q = o->k->q;
  hl_delivery_rec d = o->item.d;
  d.status = (char *)"FAILED";
  d.last_error = (char *)"the event's record is not in the events table (expired under EVENTS_TTL_DAYS, or deleted)";
  d.last_status_code = 0;
  d.updated_at = hl_wall_ms();
  hl_log_warn("a claimed delivery's event is not in the events table; it fails for good",
              "\"event_id\":\"%s\",\"subscription_id\":\"%s\"", hl_log_esc(d.event_id, (size_t)-1),
              hl_log_esc(d.subscription_id, (size_t)-1));
  q->busy++; /* as a held row, which the record lets go */
  update_row(q, &d, true, false, true, on_failed_without_record, q);
}

static void on_body(void *data, const hl_aws_status *st, const hl_json *resp) {
  claim_one *o = data;
  claim_ctx *k = o->k;
  const hl_json *it = hl_json_get(resp, "Item");
  size_t n = 0;
  const char *b = it ? hl_ddb_item_s(it, "body", &n) : NULL;
  if (st->outcome == HL_AWS_OK && !it && !k->q->dead) {
    fail_without_record(o);
    hl_eq_item_free(&o->item);
  } else if (st->outcome == HL_AWS_OK && b) {
    o->item.body = hl_strndup(b, n);
    o->item.body_len = n;
    if (k->res.nitems == k->capitems) {
      k->capitems = k->capitems ? k->capitems * 2 : 8;
      k->res.items = hl_realloc(k->res.items, k->capitems * sizeof *k->res.items);
    }
    k->res.items[k->res.nitems++] = o->item;
  } else {
    /* No record to send (the store failed, or the record has no body):
     * the lease runs out and the row is claimed again later. */
    hl_log_warn("a claimed delivery's event could not be read; it is claimed again when its lease ends",
                "\"event_id\":\"%s\",\"error\":\"%s\"", hl_log_esc(o->item.d.event_id, (size_t)-1),
                st->outcome == HL_AWS_OK ? "the record has no body" : hl_aws_outcome_name(st->outcome));
    hl_eq_item_free(&o->item);
    k->failed++;
  }
  hl_free(o);
  ddbq *q = k->q;
  if (--k->pending == 0) claim_answer(k);
  hl_qddb_op_done(q);
}

/* The row as this claim leased it (a: its attributes): the delivery is
 * read from them, then its body. false: not a usable row. */
static bool lease_won(claim_one *o, const hl_json *a) {
  claim_ctx *k = o->k;
  ddbq *q = k->q;
  hl_eq_item *it = &o->item;
  it->d.event_id = hl_ddb_item_sdup(a, "event_id");
  it->d.subscription_id = hl_ddb_item_sdup(a, "subscription_id");
  it->d.status = hl_ddb_item_sdup(a, "status");
  it->d.attempts = hl_ddb_item_i64_or0(a, "attempts");
  it->d.last_status_code = hl_ddb_item_i64_or0(a, "last_status_code");
  it->d.last_error = hl_ddb_item_sdup(a, "last_error");
  it->d.last_latency_ms = hl_ddb_item_i64_or0(a, "last_latency_ms");
  it->d.updated_at = hl_ddb_item_i64_or0(a, "updated_at");
  it->d.next_attempt_at = hl_ddb_item_i64_or0(a, "next_attempt_at");
  it->d.transformation = hl_ddb_item_sdup(a, "transformation");
  it->event_type = hl_ddb_item_sdup(a, "event_type");
  it->trace = hl_ddb_item_sdup(a, "trace");
  it->accepted_at = hl_ddb_item_i64_or0(a, "accepted_at");
  it->replay = hl_ddb_item_i64_or0(a, "replay");
  if (it->d.event_id && it->d.subscription_id && it->event_type) {
    hl_ddb_attr key[] = {{"event_id", hl_ddb_s(it->d.event_id)}};
    hl_buf body = HL_BUF_INIT;
    hl_ddb_get_item(&body, k->q->events_table, HL_DDB_ITEM(key), true);
    hl_qddb_call(q, HL_DDB_GET_ITEM, &body, on_body, o);
    return true;
  }
  hl_eq_item_free(it);
  return false;
}

/* One candidate's lease is settled without a delivery. */
static void lease_lost(claim_one *o) {
  claim_ctx *k = o->k;
  hl_free(o);
  if (--k->pending == 0) claim_answer(k);
}

static void on_lease_read(void *data, const hl_aws_status *st, const hl_json *resp) {
  claim_one *o = data;
  claim_ctx *k = o->k;
  ddbq *q = k->q;
  const hl_json *it = st->outcome == HL_AWS_OK && !q->dead ? hl_json_get(resp, "Item") : NULL;
  size_t n = 0;
  const char *owner = it ? hl_ddb_item_s(it, "lease_owner", &n) : NULL;
  /* Ours: this claim's own lease (its owner and end), written by the
   * attempt whose answer was lost. */
  bool ours = owner && n == strlen(q->owner) && memcmp(owner, q->owner, n) == 0 &&
              hl_ddb_item_i64_or0(it, "lease_until") == k->now + (int64_t)q->lease_ms;
  if (ours) {
    hl_log_info("a claim's lease was written but its answer was lost; the row was read back and is claimed",
                "\"event_id\":\"%s\"", hl_log_esc(k->cand[o->ci].event_id, (size_t)-1));
    if (!lease_won(o, it)) lease_lost(o);
  } else {
    if (st->outcome != HL_AWS_OK) k->failed++;
    else k->q->lost++;
    lease_lost(o);
  }
  hl_qddb_op_done(q);
}

static void on_leased(void *data, const hl_aws_status *st, const hl_json *resp) {
  claim_one *o = data;
  claim_ctx *k = o->k;
  ddbq *q = k->q;
  const hl_json *a = hl_json_get(resp, "Attributes");
  if (st->outcome == HL_AWS_OK && a && !q->dead) {
    if (!lease_won(o, a)) lease_lost(o);
  } else if (!q->dead && (st->attempts > 1 || st->outcome != HL_AWS_CONDITION_FAILED)) {
    /* Sent more than once, or no answer: an attempt may have been applied
     * and its answer lost (a timeout, a 500 after the write), when the
     * retry's condition fails on this very lease, or the call gives up.
     * Taken for lost, the row stayed leased to this process, which did not
     * know it held it, and nobody sent it until the lease ended (2 min).
     * The row read back consistently tells. */
    hl_ddb_attr key[] = {{"event_id", hl_ddb_s(k->cand[o->ci].event_id)},
                         {"subscription_id", hl_ddb_s(k->cand[o->ci].sub_id)}};
    hl_buf body = HL_BUF_INIT;
    hl_ddb_get_item(&body, q->table, HL_DDB_ITEM(key), true);
    hl_qddb_call(q, HL_DDB_GET_ITEM, &body, on_lease_read, o);
  } else {
    if (st->outcome != HL_AWS_CONDITION_FAILED) k->failed++; /* taken by nobody: claimed again later */
    else k->q->lost++; /* another process holds it, or it changed since the index saw it */
    lease_lost(o);
  }
  hl_qddb_op_done(q);
}

static int cand_cmp(const void *a, const void *b) {
  return strcmp(((const candidate *)a)->due_key, ((const candidate *)b)->due_key);
}

static void lease_candidates(claim_ctx *k) {
  ddbq *q = k->q;
  if (k->ncand == 0 || q->dead) {
    claim_answer(k);
    return;
  }
  qsort(k->cand, k->ncand, sizeof *k->cand, cand_cmp); /* oldest due first, across shards */
  /* A row accepted here that the index has seen as well comes twice, side
   * by side (its due_key names it): leased once. */
  size_t m = 0;
  for (size_t i = 0; i < k->ncand; i++) {
    if (m > 0 && strcmp(k->cand[m - 1].due_key, k->cand[i].due_key) == 0) {
      k->cand[m - 1].fresh = k->cand[m - 1].fresh && k->cand[i].fresh;
      hl_free_all(k->cand[i].event_id, k->cand[i].sub_id, k->cand[i].due_key);
      continue;
    }
    k->cand[m++] = k->cand[i];
  }
  k->ncand = m;
  size_t n = k->ncand < k->limit ? k->ncand : k->limit;
  if (k->ncand > k->limit) k->truncated = true;
  /* Those accepted here and not asked for this time wait for the next
   * claim (owed at once: truncated), which the index may still not show
   * them to. */
  for (size_t i = n; i < k->ncand; i++)
    if (k->cand[i].fresh) hl_qddb_fresh_return(q, &k->cand[i]);
  k->pending = n;
  char now[24], until[24];
  hl_ddb_i64(now, k->now);
  hl_ddb_i64(until, k->now + (int64_t)q->lease_ms);
  for (size_t i = 0; i < n; i++) {
    hl_ddb_attr key[] = {{"event_id", hl_ddb_s(k->cand[i].event_id)},
                         {"subscription_id", hl_ddb_s(k->cand[i].sub_id)}};
    hl_ddb_attr v[] = {{":o", hl_ddb_s(q->owner)}, {":u", hl_ddb_n(until)}, {":now", hl_ddb_n(now)},
                       {":dk", hl_ddb_s(k->cand[i].due_key)}};
    hl_ddb_expr x = {.update = "SET lease_owner = :o, lease_until = :u",
                     .condition = "due_key = :dk AND (attribute_not_exists(lease_until) OR lease_until < :now)",
                     .values = v, .n_values = HL_ARRAY_SIZE(v), .return_values = "ALL_NEW"};
    hl_buf body = HL_BUF_INIT;
    hl_ddb_update_item(&body, q->table, HL_DDB_ITEM(key), &x);
    claim_one *o = hl_calloc(1, sizeof *o);
    o->k = k;
    o->ci = i;
    hl_qddb_call(q, HL_DDB_UPDATE_ITEM, &body, on_leased, o);
  }
}

/* One due partition's Query, page after page. */
typedef struct {
  claim_ctx *k;
  uint64_t shard;
  bool legacy;          /* a partition of the earlier versions (one page: other subscriptions' rows) */
  int pages;
} shard_q;

static void on_shard(void *data, const hl_aws_status *st, const hl_json *resp);

static void shard_query(shard_q *sq, const hl_json *start) {
  claim_ctx *k = sq->k;
  char shard[24], now[24];
  snprintf(shard, sizeof shard, "%llu", (unsigned long long)sq->shard);
  hl_buf upto = HL_BUF_INIT;
  /* '$' sorts after '#': every key due at or before now. */
  hl_buf_printf(&upto, "%015lld$", (long long)k->now);
  hl_ddb_attr v[] = {{":s", hl_ddb_n(shard)}, {":k", hl_ddb_s(upto.data)}, {":sub", hl_ddb_s(k->sub_id)},
                     {":now", hl_ddb_n(hl_ddb_i64(now, k->now))}};
  /* The subscription filter matters in the earlier versions' partitions,
   * and in a subscription's own when two ids share a bucket. */
  hl_ddb_query_args qa = {.index = HL_QUEUE_DDB_INDEX, .key_condition = "due_shard = :s AND due_key < :k",
                          .filter = "subscription_id = :sub AND (attribute_not_exists(lease_until) OR "
                                    "lease_until < :now)",
                          .values = v, .n_values = HL_ARRAY_SIZE(v), .limit = QUERY_PAGE, .start_key = start};
  hl_buf body = HL_BUF_INIT;
  hl_ddb_query(&body, k->q->table, &qa);
  hl_buf_dispose(&upto);
  hl_qddb_call(k->q, HL_DDB_QUERY, &body, on_shard, sq);
}

static void on_shard(void *data, const hl_aws_status *st, const hl_json *resp) {
  shard_q *sq = data;
  claim_ctx *k = sq->k;
  ddbq *q = k->q;
  sq->pages++;
  if (st->outcome != HL_AWS_OK) {
    k->failed++;
  } else {
    size_t had = k->ncand;
    const hl_json *items = hl_json_get(resp, "Items");
    for (uint32_t i = 0; items && items->type == HL_JSON_ARRAY && i < items->len; i++) {
      hl_qddb_cand_push(&k->cand, &k->ncand, &k->capcand, &items->u.items[i]);
    }
    const hl_json *last = hl_json_get(resp, "LastEvaluatedKey");
    if (last && last->type == HL_JSON_OBJECT && last->len > 0) {
      /* More rows lie past this page: read on while the claim has fewer
       * candidates than it asks for (its own leased rows filled the page),
       * within the bound; otherwise come back for them. */
      if (!sq->legacy && !q->dead && k->ncand < k->limit && sq->pages < QUERY_PAGES) {
        shard_query(sq, last);
        hl_qddb_op_done(q);
        return;
      }
      /* A full page of an earlier version's partition that held none of
       * this subscription's rows is other subscriptions' (a deleted one's,
       * maybe, for good): coming back at once would read it again, and
       * again. */
      if (!sq->legacy || k->ncand > had) k->truncated = true;
    }
  }
  hl_free(sq);
  if (--k->pending == 0) lease_candidates(k);
  hl_qddb_op_done(q);
}

static void claim(hl_queue *base, const char *sub_id, size_t limit, int64_t now_ms, hl_store_cb cb, void *data) {
  ddbq *q = Q(base);
  if (q->wake_at && q->wake_at <= now_ms) q->wake_at = 0;
  hl_strmap_del(&q->owed, sub_id); /* the owed claim: this one */
  claim_ctx *k = hl_calloc(1, sizeof *k);
  bool legacy = q->legacy_rows;
  *k = (claim_ctx){.q = q, .sub_id = hl_strdup(sub_id), .limit = limit ? limit : 1, .now = now_ms, .cb = cb,
                   .data = data, .pending = HL_QUEUE_DDB_SHARDS * (legacy ? 2 : 1)};
  q->busy++;
  hl_qddb_fresh_take(q, sub_id, &k->cand, &k->ncand, &k->capcand);
  uint64_t first = hl_qddb_sub_partitions(sub_id);
  for (unsigned s = 0; s < HL_QUEUE_DDB_SHARDS; s++) {
    shard_q *sq = hl_calloc(1, sizeof *sq);
    *sq = (shard_q){.k = k, .shard = first + s};
    shard_query(sq, NULL);
  }
  for (unsigned s = 0; legacy && s < HL_QUEUE_DDB_SHARDS; s++) {
    shard_q *sq = hl_calloc(1, sizeof *sq);
    *sq = (shard_q){.k = k, .shard = s, .legacy = true};
    shard_query(sq, NULL);
  }
  hl_qddb_legacy_look(q, now_ms); /* and moved to their subscriptions' own (hl_queue_ddb_legacy.c) */
}

/* --- record and release: conditional on holding the lease -------------------------- */
typedef struct {
  ddbq *q;
  hl_store_cb cb;
  void *data;
  hl_delivery_rec rec;  /* copied for the status table */
  bool leaves;          /* the delivery leaves this process once recorded */
  bool adopt;           /* a release of a fifo subscription's row: give it an order entry if it has none */
  int64_t wake;         /* a released retry's due time */
} record_ctx;

/* The record's answer, as outcome (for a failed condition, once the row was
 * read back): the status written, the row held or let go, r freed. */
static void record_finish(record_ctx *r, hl_aws_outcome outcome) {
  ddbq *q = r->q;
  int status = 0;
  if (outcome == HL_AWS_OK) {
    q->recorded++;
    if (r->rec.status && !q->dead) q->store->vt->delivery_put(q->store, &r->rec, NULL, NULL);
    if (r->wake && (!q->wake_at || r->wake < q->wake_at)) q->wake_at = r->wake;
    /* A retry kept here: its lease now runs past its due time. */
    if (!r->leaves && !q->dead) hl_qddb_held_kept(q, r->rec.event_id, r->rec.subscription_id, r->rec.next_attempt_at);
  } else if (outcome == HL_AWS_CONDITION_FAILED) {
    /* The lease ended and another process holds the row now: its outcome is
     * the one that counts. A release of a row whose lease was found taken
     * over (hl_qddb_holds) ends here too; that was logged then. */
    if (r->rec.status)
      hl_log_warn("a delivery's lease was taken over before its outcome was recorded",
                  "\"event_id\":\"%s\",\"subscription_id\":\"%s\"", hl_log_esc(r->rec.event_id, (size_t)-1),
                  hl_log_esc(r->rec.subscription_id, (size_t)-1));
    status = HL_ENOTFOUND;
  } else {
    status = HL_ESTORE;
  }
  /* Recorded final, released, or not ours: no longer held, nor renewed. A
   * record that failed leaves the row held (it is written again). */
  if (status != HL_ESTORE && (r->leaves || status == HL_ENOTFOUND) && !q->dead)
    hl_qddb_held_drop(q, r->rec.event_id, r->rec.subscription_id);
  if (status != HL_ESTORE && r->leaves) q->busy--;
  q->busy--;
  if (r->cb && !q->dead) {
    hl_store_result res = {0};
    r->cb(r->data, status, &res);
  }
  hl_delivery_rec_free(&r->rec);
  hl_free(r);
}

/* The row as a record that lets it go (terminal, or released) left it:
 * this outcome's status, attempts and updated_at (a millisecond time of
 * this process's), and no lease. Another process's outcome has its own
 * attempt and time. */
static bool holds_own_outcome(const record_ctx *r, const hl_json *it) {
  size_t n = 0;
  const char *st = hl_ddb_item_s(it, "status", &n);
  return st && n == strlen(r->rec.status) && memcmp(st, r->rec.status, n) == 0 &&
         hl_ddb_item_i64_or0(it, "attempts") == r->rec.attempts &&
         hl_ddb_item_i64_or0(it, "updated_at") == r->rec.updated_at && !hl_ddb_item_s(it, "lease_owner", NULL);
}

static void on_record_read(void *data, const hl_aws_status *st, const hl_json *resp) {
  record_ctx *r = data;
  ddbq *q = r->q;
  const hl_json *it = st->outcome == HL_AWS_OK ? hl_json_get(resp, "Item") : NULL;
  /* A read that failed leaves the outcome to be written again (whose
   * condition fails again, and the row is read again). */
  hl_aws_outcome outcome = st->outcome;
  if (outcome == HL_AWS_OK) outcome = it && holds_own_outcome(r, it) ? HL_AWS_OK : HL_AWS_CONDITION_FAILED;
  record_finish(r, outcome);
  hl_qddb_op_done(q);
}

/* A record that lets the row go (terminal, or released) whose condition
 * failed: another process took the row over, or this very write was
 * applied once and its answer lost (the client timed out, or DynamoDB
 * answered 500 after writing, and it was sent again), its first copy
 * having given the lease up. The row, read consistently, tells which:
 * the second is this process's outcome, recorded (its status written);
 * taken for the first, the delivery's status was never written and read
 * PENDING for good while its row was SUCCESS. */
static void on_recorded(void *data, const hl_aws_status *st, const hl_json *resp) {
  record_ctx *r = data;
  ddbq *q = r->q;
  /* A row given back after its subscription turned fifo, claimed before
   * (by the copy without ordering): it joins the order now, so that the
   * ordered claim does not hand out a later row first while the next look
   * for such rows (hl_queue_ddb_adopt.c) is still to come. */
  const hl_json *a = r->adopt && st->outcome == HL_AWS_OK && !q->dead && sub_fifo(q, r->rec.subscription_id)
                         ? hl_json_get(resp, "Attributes") : NULL;
  if (a && !hl_ddb_item_n(a, "fifo_seq", NULL))
    hl_qddb_adopt_row(q, r->rec.subscription_id, r->rec.event_id, hl_ddb_item_i64_or0(a, "accepted_at"));
  if (st->outcome == HL_AWS_CONDITION_FAILED && r->rec.status && r->leaves && !q->dead) {
    hl_ddb_attr key[] = {{"event_id", hl_ddb_s(r->rec.event_id)},
                         {"subscription_id", hl_ddb_s(r->rec.subscription_id)}};
    hl_buf body = HL_BUF_INIT;
    hl_ddb_get_item(&body, q->table, HL_DDB_ITEM(key), true);
    hl_qddb_call(q, HL_DDB_GET_ITEM, &body, on_record_read, r);
  } else {
    record_finish(r, st->outcome);
  }
  hl_qddb_op_done(q);
}

static bool sub_fifo(const ddbq *q, const char *sub_id);

/* One UpdateItem for the row's new state. terminal: off the index and the
 * lease; release: back on the index, due at next_attempt_at, lease given
 * up; otherwise (a retry kept in memory): the lease extended past its due
 * time. */
static void update_row(ddbq *q, const hl_delivery_rec *d, bool terminal, bool release, bool status_fields,
                       hl_store_cb cb, void *data) {
  char att[24], code[24], lat[24], upd[24], next[24], until[24], shard[24];
  hl_buf dk = HL_BUF_INIT, set = HL_BUF_INIT, ex = HL_BUF_INIT;
  hl_ddb_attr v[12];
  size_t n = 0;
  v[n++] = (hl_ddb_attr){":o", hl_ddb_s(q->owner)};
  hl_buf_puts(&set, "SET next_attempt_at = :next");
  v[n++] = (hl_ddb_attr){":next", hl_ddb_n(hl_ddb_i64(next, d->next_attempt_at))};
  if (status_fields) {
    hl_buf_puts(&set, ", #st = :st, attempts = :att, last_status_code = :code, last_latency_ms = :lat, "
                      "updated_at = :upd");
    v[n++] = (hl_ddb_attr){":st", hl_ddb_s(d->status ? d->status : "PENDING")};
    v[n++] = (hl_ddb_attr){":att", hl_ddb_n(hl_ddb_i64(att, d->attempts))};
    v[n++] = (hl_ddb_attr){":code", hl_ddb_n(hl_ddb_i64(code, d->last_status_code))};
    v[n++] = (hl_ddb_attr){":lat", hl_ddb_n(hl_ddb_i64(lat, d->last_latency_ms))};
    v[n++] = (hl_ddb_attr){":upd", hl_ddb_n(hl_ddb_i64(upd, d->updated_at))};
    if (d->last_error) {
      hl_buf_puts(&set, ", last_error = :err");
      v[n++] = (hl_ddb_attr){":err", hl_ddb_s(d->last_error)};
    }
    if (d->transformation) {
      hl_buf_puts(&set, ", transformation = :tr");
      v[n++] = (hl_ddb_attr){":tr", hl_ddb_s(d->transformation)};
    }
  }
  if (terminal) {
    hl_buf_puts(&ex, " REMOVE due_shard, due_key, lease_owner, lease_until");
  } else if (release) {
    due_key(&dk, d->next_attempt_at, d->event_id, d->subscription_id);
    hl_queue_ddb_due_shard(shard, d->event_id, d->subscription_id);
    hl_buf_puts(&set, ", due_shard = :sh, due_key = :dk");
    v[n++] = (hl_ddb_attr){":sh", hl_ddb_n(shard)};
    v[n++] = (hl_ddb_attr){":dk", hl_ddb_s(dk.data)};
    hl_buf_puts(&ex, " REMOVE lease_owner, lease_until");
  } else {
    hl_buf_puts(&set, ", lease_until = :lu");
    v[n++] = (hl_ddb_attr){":lu", hl_ddb_n(hl_ddb_i64(until, d->next_attempt_at + (int64_t)q->lease_ms))};
  }
  if (status_fields && !d->last_error) hl_buf_puts(&ex, ex.len ? ", last_error" : " REMOVE last_error");
  hl_buf_append(&set, ex.data ? ex.data : "", ex.len);
  hl_buf_putc(&set, '\0');
  hl_ddb_name names[] = {{"#st", "status"}};
  hl_ddb_attr key[] = {{"event_id", hl_ddb_s(d->event_id)}, {"subscription_id", hl_ddb_s(d->subscription_id)}};
  /* A release's answer carries the row: one of a subscription that is
   * fifo by then may need its order entry (on_recorded). The registry may
   * not hold the new copy yet when an update in place gives the old copy's
   * rows back, so that is asked at the answer. */
  bool adopt = release && q->reg;
  hl_ddb_expr x = {.update = set.data, .condition = "lease_owner = :o", .names = names,
                   .n_names = status_fields ? 1 : 0, .values = v, .n_values = n,
                   .return_values = adopt ? "ALL_NEW" : NULL};
  hl_buf body = HL_BUF_INIT;
  hl_ddb_update_item(&body, q->table, HL_DDB_ITEM(key), &x);
  record_ctx *r = hl_calloc(1, sizeof *r);
  *r = (record_ctx){.q = q, .leaves = terminal || release, .adopt = adopt, .wake = release ? d->next_attempt_at : 0,
                    .cb = cb, .data = data};
  if (status_fields) hl_delivery_rec_copy(&r->rec, d);
  else r->rec = (hl_delivery_rec){.event_id = hl_strdup(d->event_id), .subscription_id = hl_strdup(d->subscription_id)};
  q->busy++;
  hl_qddb_call(q, HL_DDB_UPDATE_ITEM, &body, on_recorded, r);
  hl_buf_dispose(&dk);
  hl_buf_dispose(&set);
  hl_buf_dispose(&ex);
}

static void record(hl_queue *base, const hl_queue_attempt *a, hl_store_cb cb, void *data) {
  bool terminal = a->outcome != HL_QUEUE_RETRY;
  update_row(Q(base), &a->item->d, terminal, !terminal && a->release, true, cb, data);
}

static void release(hl_queue *base, const hl_delivery_rec *r) { update_row(Q(base), r, false, true, false, NULL, NULL); }

/* --- requeue: a FAILED row back on the index, due now ----------------------------- */
static void claim_head(hl_queue *base, const char *sub_id, int64_t now_ms, hl_store_cb cb, void *data);
static bool orders(const hl_queue *base);
/* A re-queue and a replay reopen a row the same way (reopen_row), and a
 * fifo subscription's order entry goes back in both; they differ in the
 * condition, the replay generation and the callback (replay_cb set). */
typedef struct {
  ddbq *q;
  char *event_id, *sub_id;
  int64_t now;
  int64_t gen; /* replay: the row's replay generation after the update */
  hl_queue_requeue_cb cb;
  hl_queue_replay_cb replay_cb;
  void *data;
} requeue_ctx;

static void requeue_done(requeue_ctx *c, int status, const char *code, const char *message) {
  ddbq *q = c->q;
  if (!q->dead) {
    if (c->replay_cb)
      c->replay_cb(c->data, status, c->gen);
    else
      c->cb(c->data, status, code, message);
  }
  hl_free(c->event_id);
  hl_free(c->sub_id);
  hl_free(c);
  q->busy--;
}

static bool requeue_fifo(requeue_ctx *c, const hl_json *a);

static void on_requeued(void *data, const hl_aws_status *st, const hl_json *resp) {
  requeue_ctx *c = data;
  ddbq *q = c->q;
  const hl_json *a = hl_json_get(resp, "Attributes");
  if (st->outcome == HL_AWS_OK && !q->dead) {
    if (c->replay_cb) c->gen = a ? hl_ddb_item_i64_or0(a, "replay") : 0;
    /* The status the API reads, then the dispatchers: due now. */
    hl_delivery_rec r = {.event_id = c->event_id, .subscription_id = c->sub_id, .status = (char *)"PENDING",
                         .attempts = a ? hl_ddb_item_i64_or0(a, "attempts") : 0, .updated_at = c->now,
                         .next_attempt_at = c->now};
    q->store->vt->delivery_put(q->store, &r, NULL, NULL);
    if (!requeue_fifo(c, a)) {
      ready(q, c->sub_id);
      requeue_done(c, 0, NULL, NULL);
    }
  } else if (st->outcome == HL_AWS_CONDITION_FAILED) {
    /* Missing, or not FAILED (still open, or delivered): the row says which
     * only to a second read; the answer names both. */
    requeue_done(c, HL_EINVAL, "not_failed",
                 "only a FAILED delivery in the DynamoDB queue can be re-queued; this one is not FAILED (pending, "
                 "delivered, or not in the queue)");
  } else {
    requeue_done(c, HL_ESTORE, NULL, NULL);
  }
  hl_qddb_op_done(q);
}

/* One conditional UpdateItem: a FAILED row (replay: SUCCESS or FAILED) ->
 * PENDING, attempts kept, back on the due index at now with no lease; a
 * replay also counts the row's replay generation up. The answer (ALL_NEW)
 * goes to cb with c. DynamoDB refuses names and values an expression does
 * not use, so the replay's come last and are left out otherwise. */
static void reopen_row(ddbq *q, const char *event_id, const char *sub_id, int64_t at, bool replay, hl_aws_json_cb cb,
                       void *c) {
  char now[24], shard[24];
  hl_buf dk = HL_BUF_INIT;
  due_key(&dk, at, event_id, sub_id);
  hl_queue_ddb_due_shard(shard, event_id, sub_id);
  hl_ddb_attr v[] = {{":failed", hl_ddb_s("FAILED")}, {":pending", hl_ddb_s("PENDING")},
                     {":now", hl_ddb_n(hl_ddb_i64(now, at))}, {":sh", hl_ddb_n(shard)},
                     {":dk", hl_ddb_s(dk.data)}, {":ok", hl_ddb_s("SUCCESS")}, {":zero", hl_ddb_n("0")},
                     {":one", hl_ddb_n("1")}};
  hl_ddb_name names[] = {{"#st", "status"}, {"#rp", "replay"}};
  hl_ddb_attr key[] = {{"event_id", hl_ddb_s(event_id)}, {"subscription_id", hl_ddb_s(sub_id)}};
  hl_ddb_expr x = {.update = replay ? "SET #st = :pending, next_attempt_at = :now, updated_at = :now, due_shard = :sh, "
                                      "due_key = :dk, #rp = if_not_exists(#rp, :zero) + :one "
                                      "REMOVE lease_owner, lease_until"
                                    : "SET #st = :pending, next_attempt_at = :now, updated_at = :now, due_shard = :sh, "
                                      "due_key = :dk REMOVE lease_owner, lease_until",
                   .condition = replay ? "#st IN (:ok, :failed)" : "#st = :failed", .names = names,
                   .n_names = replay ? 2 : 1, .values = v, .n_values = replay ? HL_ARRAY_SIZE(v) : 5,
                   .return_values = "ALL_NEW"};
  hl_buf body = HL_BUF_INIT;
  hl_ddb_update_item(&body, q->table, HL_DDB_ITEM(key), &x);
  hl_buf_dispose(&dk);
  hl_qddb_call(q, HL_DDB_UPDATE_ITEM, &body, cb, c);
}

static void requeue(hl_queue *base, const hl_registry *reg, const char *event_id, const char *sub_id,
                    hl_queue_requeue_cb cb, void *data) {
  ddbq *q = Q(base);
  (void)reg;
  requeue_ctx *c = hl_calloc(1, sizeof *c);
  *c = (requeue_ctx){.q = q, .event_id = hl_strdup(event_id), .sub_id = hl_strdup(sub_id), .now = hl_wall_ms(),
                     .cb = cb, .data = data};
  q->busy++;
  reopen_row(q, event_id, sub_id, c->now, false, on_requeued, c);
}

/* --- replay: a terminal row back on the index, due now, one generation up --------- */
/* reopen_row with the replay's condition and generation: the dispatcher
 * puts the generation in the ledger key, so the ledger entry of the
 * delivery before does not stop this one, and a claim of this replay that
 * comes again (a lease lost) is stopped by its own. */
static void replay(hl_queue *base, const char *event_id, const char *sub_id, hl_queue_replay_cb cb, void *data) {
  ddbq *q = Q(base);
  requeue_ctx *c = hl_calloc(1, sizeof *c);
  *c = (requeue_ctx){.q = q, .event_id = hl_strdup(event_id), .sub_id = hl_strdup(sub_id), .now = hl_wall_ms(),
                     .replay_cb = cb, .data = data};
  q->busy++;
  reopen_row(q, event_id, sub_id, c->now, true, on_requeued, c);
}

static int64_t backlog(hl_queue *q) {
  (void)q;
  return -1; /* counting open rows would take a scan */
}

static void destroy(hl_queue *base) {
  ddbq *q = Q(base);
  hl_qddb_held_dispose(q); /* before the store closes the client its timer is on */
  hl_qddb_fresh_dispose(q);
  hl_qddb_adopt_dispose(q);
  q->dead = true;
  q->ops++;
  hl_qddb_op_done(q); /* frees it now when nothing is in flight */
}

static const hl_queue_vt ddb_vt = {
    .name = "dynamodb", .redelivers = true, .owns_retries = false, .release_at_stop = true,
    .claim = claim, .claim_head = claim_head, .orders = orders, .record = record, .release = release, .accept = queue_accept, .requeue = requeue,
    .backlog = backlog,
    .destroy = destroy, .replay = replay, .forget_sub = hl_qddb_forget_sub, .sweep = hl_qddb_sweep,
    .holds = hl_qddb_holds,
};

hl_queue *hl_queue_ddb_create(const hl_queue_ddb_options *o) {
  ddbq *q = hl_calloc(1, sizeof *q);
  q->base.vt = &ddb_vt;
  q->store = o->store;
  q->c = hl_store_ddb_client(o->store);
  q->table = hl_strdup(o->table ? o->table : "delivery_queue");
  q->events_table = hl_store_ddb_tables(o->store)->events_table;
  q->lease_ms = o->lease_ms ? o->lease_ms : DEFAULT_LEASE_MS;
  q->reg = o->reg;
  q->legacy_rows = true; /* until the first look finds none */
  hl_strmap_init(&q->owed);
  hl_strmap_init(&q->legacy_noted);
  hl_strmap_init(&q->held);
  hl_strmap_init(&q->fresh);
  hl_strmap_init(&q->adopt);
  q->adopt_window_ms = o->adopt_window_ms ? o->adopt_window_ms : 70000;
  char *id = hl_random_id("q_");
  snprintf(q->owner, sizeof q->owner, "%.32s.%ld", id, (long)getpid());
  hl_free(id);
  return &q->base;
}

size_t hl_queue_ddb_busy(hl_queue *q) { return Q(q)->busy + hl_strmap_len(&Q(q)->owed); }
int64_t hl_queue_ddb_next_wake(hl_queue *q) { return Q(q)->wake_at; }
size_t hl_queue_ddb_calls(hl_queue *q) { return Q(q)->ops; }
void hl_queue_ddb_counts(hl_queue *q, uint64_t *claimed, uint64_t *recorded, uint64_t *lost) {
  *claimed = Q(q)->claimed;
  *recorded = Q(q)->recorded;
  *lost = Q(q)->lost;
}
uint64_t hl_queue_ddb_closed(hl_queue *q) { return Q(q)->gone_closed; }

/* --- ordered delivery: order entries and the head claim (layout in hl_queue_ddb.h) --- */

/* How long an order entry without its row is taken for an accept still
 * under way (the row is put right after the entry) before it is dropped
 * as one whose accept failed. */
#define ENTRY_GRACE_MS 60000
/* A head found and then lost to a concurrent change, or entries dropped
 * one after another: how soon to look again, and how many entries one
 * claim drops at most before it answers. */
#define HEAD_AGAIN_MS 200
#define HEAD_MAX_HOPS 8

static bool sub_fifo(const ddbq *q, const char *sub_id) {
  const hl_sub *s = q->reg ? hl_registry_sub_get(q->reg, sub_id) : NULL;
  return s && hl_sub_rec_fifo(&s->rec);
}

static bool orders(const hl_queue *base) { return ((const ddbq *)base)->reg != NULL; }

/* The entry of the delivery accepted as the subscription's seq-th. */
static void put_entry(ddbq *q, const char *sub_id, int64_t seq, const char *event_id, hl_aws_json_cb cb,
                      void *data) {
  hl_buf sk = HL_BUF_INIT;
  hl_qddb_order_sk(&sk, seq, event_id);
  hl_qddb_put_entry(q, sub_id, sk.data, event_id, cb, data);
  hl_buf_dispose(&sk);
}

/* One fifo delivery of an accept given up (its row is not put). */
static void fifo_accept_failed(accept_one *o) {
  accept_ctx *a = o->a;
  ddbq *q = a->q;
  a->failed++;
  hl_free(o);
  if (--a->pending == 0) accept_done(a);
  hl_qddb_op_done(q);
}

static void on_entry_put(void *data, const hl_aws_status *st, const hl_json *resp) {
  accept_one *o = data;
  (void)resp;
  if (st->outcome != HL_AWS_OK) {
    fifo_accept_failed(o);
    return;
  }
  ddbq *q = o->a->q;
  put_row(o->a, o->i, o->seq);
  hl_free(o);
  hl_qddb_op_done(q);
}

static void on_seq(void *data, const hl_aws_status *st, const hl_json *resp) {
  accept_one *o = data;
  const hl_json *at = hl_json_get(resp, "Attributes");
  if (st->outcome != HL_AWS_OK || !at || !hl_ddb_item_n(at, "n", NULL)) {
    fifo_accept_failed(o);
    return;
  }
  o->seq = hl_ddb_item_i64_or0(at, "n");
  ddbq *q = o->a->q;
  put_entry(q, o->a->subs[o->i], o->seq, o->a->event_id, on_entry_put, o);
  hl_qddb_op_done(q);
}

/* A fifo subscription's delivery: the next seq of the subscription (ADD on
 * its counter), its order entry, then its row. Two accepts at once get two
 * numbers; an accept answered before another was sent has the smaller. */
static void fifo_accept(accept_ctx *a, size_t i) {
  ddbq *q = a->q;
  hl_buf pk = HL_BUF_INIT;
  hl_qddb_order_pk(&pk, a->subs[i]);
  hl_ddb_attr key[] = {{"event_id", hl_ddb_s(pk.data)}, {"subscription_id", hl_ddb_s("~seq")}};
  hl_ddb_attr v[] = {{":one", hl_ddb_n("1")}};
  hl_ddb_expr x = {.update = "ADD n :one", .values = v, .n_values = 1, .return_values = "UPDATED_NEW"};
  hl_buf body = HL_BUF_INIT;
  hl_ddb_update_item(&body, q->table, HL_DDB_ITEM(key), &x);
  hl_buf_dispose(&pk);
  accept_one *o = hl_malloc(sizeof *o);
  *o = (accept_one){a, i, -1};
  hl_qddb_call(q, HL_DDB_UPDATE_ITEM, &body, on_seq, o);
}

typedef struct {
  ddbq *q;
  char *sub_id;
  int64_t now;
  hl_store_cb cb;
  void *data;
  unsigned hops;
  char *sk, *ev, *at;   /* the first entry: its sort key, event id and version */
  int64_t written_at;
} head_ctx;

static void head_answer(head_ctx *h, int status, int64_t next_due_at) {
  ddbq *q = h->q;
  hl_store_result res = {.next_due_at = next_due_at};
  if (!q->dead && h->cb) h->cb(h->data, status, &res);
  q->busy--;
  hl_free_all(h->sub_id, h->sk, h->ev, h->at, h);
}

static void head_query(head_ctx *h);

/* A call that failed, or a queue destroyed meanwhile: answered here. */
static bool head_gone(head_ctx *h, const hl_aws_status *st) {
  if (st->outcome == HL_AWS_OK && !h->q->dead) return false;
  head_answer(h, h->q->dead ? 0 : HL_ESTORE, 0);
  return true;
}

static void on_entry_deleted(void *data, const hl_aws_status *st, const hl_json *resp) {
  head_ctx *h = data;
  ddbq *q = h->q;
  (void)resp;
  /* Deleted, or written again meanwhile (a re-queue): look at the first
   * entry again either way. */
  if (st->outcome != HL_AWS_OK && st->outcome != HL_AWS_CONDITION_FAILED) head_answer(h, HL_ESTORE, 0);
  else if (++h->hops >= HEAD_MAX_HOPS || q->dead) head_answer(h, 0, h->now + 1);
  else head_query(h);
  hl_qddb_op_done(q);
}

/* The first entry's delivery is over (or was never queued): its entry goes,
 * unless it was written again since it was read. */
static void drop_entry(head_ctx *h) {
  ddbq *q = h->q;
  hl_buf pk = HL_BUF_INIT;
  hl_qddb_order_pk(&pk, h->sub_id);
  hl_ddb_attr key[] = {{"event_id", hl_ddb_s(pk.data)}, {"subscription_id", hl_ddb_s(h->sk)}};
  hl_ddb_attr v[] = {{":at", hl_ddb_s(h->at)}};
  hl_ddb_expr x = {.condition = "#at = :at", .names = (hl_ddb_name[]){{"#at", "at"}}, .n_names = 1, .values = v,
                   .n_values = 1};
  hl_buf body = HL_BUF_INIT;
  hl_ddb_delete_item(&body, q->table, HL_DDB_ITEM(key), &x);
  hl_buf_dispose(&pk);
  hl_qddb_call(q, HL_DDB_DELETE_ITEM, &body, on_entry_deleted, h);
}

static void on_head_row(void *data, const hl_aws_status *st, const hl_json *resp) {
  head_ctx *h = data;
  ddbq *q = h->q;
  const hl_json *it = hl_json_get(resp, "Item");
  if (head_gone(h, st)) {
    /* answered */
  } else if (!it || !hl_ddb_item_s(it, "event_id", NULL)) {
    /* Its accept is still under way, or failed a while ago. */
    if (h->now - h->written_at > ENTRY_GRACE_MS) drop_entry(h);
    else head_answer(h, 0, h->now + HEAD_AGAIN_MS);
  } else {
    char *status = hl_ddb_item_sdup(it, "status"), *dk = hl_ddb_item_sdup(it, "due_key");
    bool open = status && (strcmp(status, "PENDING") == 0 || strcmp(status, "RETRYING") == 0) && dk;
    int64_t lease = hl_ddb_item_i64_or0(it, "lease_until"), due = hl_ddb_item_i64_or0(it, "next_attempt_at");
    if (!open) {
      drop_entry(h);
    } else if (hl_ddb_item_n(it, "lease_until", NULL) && lease >= h->now) {
      /* Held (here or elsewhere): its holder claims the next when it is
       * done; if it died, the lease ends and the head is taken then. */
      head_answer(h, 0, lease + 1);
    } else if (due > h->now) {
      head_answer(h, 0, due);
    } else {
      /* Due and free: leased as any claim leases a row (one of two
       * claimers wins), its body read, and answered. */
      claim_ctx *k = hl_calloc(1, sizeof *k);
      *k = (claim_ctx){.q = q, .sub_id = hl_strdup(h->sub_id), .limit = 1, .now = h->now, .cb = h->cb,
                       .data = h->data};
      k->cand = hl_malloc(sizeof *k->cand);
      k->cand[0] = (candidate){hl_strdup(h->ev), hl_strdup(h->sub_id), dk, false};
      k->ncand = k->capcand = 1;
      dk = NULL;
      q->busy++; /* the claim's own count, given back by claim_answer */
      h->cb = NULL;
      head_answer(h, 0, 0); /* frees h only: the claim answers */
      lease_candidates(k);
    }
    hl_free(status);
    hl_free(dk);
  }
  hl_qddb_op_done(q);
}

static void on_head_entry(void *data, const hl_aws_status *st, const hl_json *resp) {
  head_ctx *h = data;
  ddbq *q = h->q;
  const hl_json *items = hl_json_get(resp, "Items");
  if (head_gone(h, st)) {
    /* answered */
  } else if (!items || items->type != HL_JSON_ARRAY || items->len == 0) {
    head_answer(h, 0, 0); /* nothing open */
  } else {
    const hl_json *e = &items->u.items[0];
    hl_free(h->sk); hl_free(h->ev); hl_free(h->at);
    h->sk = hl_ddb_item_sdup(e, "subscription_id");
    h->ev = hl_ddb_item_sdup(e, "ev");
    h->at = hl_ddb_item_sdup(e, "at");
    h->written_at = hl_ddb_item_i64_or0(e, "written_at");
    if (!h->sk || !h->ev || !h->at) {
      head_answer(h, HL_ESTORE, 0);
    } else {
      hl_ddb_attr key[] = {{"event_id", hl_ddb_s(h->ev)}, {"subscription_id", hl_ddb_s(h->sub_id)}};
      hl_buf body = HL_BUF_INIT;
      hl_ddb_get_item(&body, q->table, HL_DDB_ITEM(key), true);
      hl_qddb_call(q, HL_DDB_GET_ITEM, &body, on_head_row, h);
    }
  }
  hl_qddb_op_done(q);
}

/* The first order entry of the subscription: consistent, so an entry
 * dropped or written a moment ago is seen as it is now. "~seq" (the
 * counter) sorts after every entry and is left out. */
static void head_query(head_ctx *h) {
  ddbq *q = h->q;
  hl_buf pk = HL_BUF_INIT;
  hl_qddb_order_pk(&pk, h->sub_id);
  hl_ddb_attr v[] = {{":p", hl_ddb_s(pk.data)}, {":c", hl_ddb_s("~")}};
  hl_ddb_query_args qa = {.key_condition = "event_id = :p AND subscription_id < :c", .values = v,
                          .n_values = HL_ARRAY_SIZE(v), .limit = 1, .consistent = true};
  hl_buf body = HL_BUF_INIT;
  hl_ddb_query(&body, q->table, &qa);
  hl_buf_dispose(&pk);
  hl_qddb_call(q, HL_DDB_QUERY, &body, on_head_entry, h);
}

/* Ordered delivery: the subscription's oldest open delivery, leased, if
 * it is due and free; never one of its followers while it is open. */
static void on_adopted(void *data, int err) {
  head_ctx *h = data;
  if (err || h->q->dead) head_answer(h, h->q->dead ? 0 : err, 0);
  else head_query(h);
}

static void claim_head(hl_queue *base, const char *sub_id, int64_t now_ms, hl_store_cb cb, void *data) {
  ddbq *q = Q(base);
  head_ctx *h = hl_calloc(1, sizeof *h);
  *h = (head_ctx){.q = q, .sub_id = hl_strdup(sub_id), .now = now_ms, .cb = cb, .data = data};
  q->busy++;
  /* Rows without an entry (a backlog from before ordering was turned on)
   * get one first, so the first entry is the oldest open delivery. */
  if (hl_qddb_adopt_due(q, sub_id, now_ms)) hl_qddb_adopt(q, sub_id, now_ms, on_adopted, h);
  else head_query(h);
}

static void on_requeue_entry(void *data, const hl_aws_status *st, const hl_json *resp) {
  requeue_ctx *c = data;
  ddbq *q = c->q;
  (void)resp;
  if (st->outcome == HL_AWS_OK) {
    ready(q, c->sub_id);
    requeue_done(c, 0, NULL, NULL);
  } else {
    hl_log_error("a re-queued fifo delivery could not rejoin its subscription's order",
                 "\"event_id\":\"%s\",\"subscription_id\":\"%s\"", hl_log_esc(c->event_id, (size_t)-1),
                 hl_log_esc(c->sub_id, (size_t)-1));
    requeue_done(c, HL_ESTORE, NULL, NULL);
  }
  hl_qddb_op_done(q);
}

/* A re-queued delivery of a fifo subscription (row open again; a =
 * its new attributes): its order entry goes back at its seq. false: not
 * fifo, nothing to do. */
static bool requeue_fifo(requeue_ctx *c, const hl_json *a) {
  if (!a || !hl_ddb_item_n(a, "fifo_seq", NULL)) return false;
  char *key = hl_ddb_item_sdup(a, "fifo_key"); /* an adopted row's (hl_queue_ddb_adopt.c) */
  if (key) hl_qddb_put_entry(c->q, c->sub_id, key, c->event_id, on_requeue_entry, c);
  else put_entry(c->q, c->sub_id, hl_ddb_item_i64_or0(a, "fifo_seq"), c->event_id, on_requeue_entry, c);
  hl_free(key);
  return true;
}
