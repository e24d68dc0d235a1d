/* hl_queue_ddb.c — the DynamoDB queue (layout and lease rules in hl_queue_ddb.h). */
#include "queue/hl_queue_ddb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/hl_common.h"
#include "common/hl_log.h"
#include "common/hl_strmap.h"
#include "crypto/hl_crypto.h"
#include "store/hl_store_ddb.h"

#define DEFAULT_LEASE_MS 120000
/* Rows one shard's Query reads at most per claim (before the subscription
 * filter): a claim's work stays bounded; a full page asks to come back. */
#define QUERY_PAGE 200

typedef struct {
  hl_queue base;
  hl_store *store;
  hl_ddb_client *c;
  char *table;
  const char *events_table;
  uint64_t lease_ms;
  char owner[48];       /* this process: host-independent random id + pid */
  size_t busy;
  int64_t wake_at;
  uint64_t claimed, recorded, lost;
  /* Subscriptions whose last claim left due rows behind (a full page, or
   * more candidates than it asked for): their next claim is owed, and the
   * work is not over until it runs (hl_queue_ddb_busy counts them). Values
   * unused; keys owned. */
  hl_strmap owed;
  /* DynamoDB calls not yet answered. destroy() may come first (the owner
   * closes the dispatcher, then the queue, then the store, whose client
   * still answers them): the queue then calls nobody back and frees itself
   * with the last answer. */
  size_t ops;
  bool dead;
} ddbq;

static ddbq *Q(hl_queue *q) { return (ddbq *)q; }

static void call(ddbq *q, hl_ddb_op op, hl_buf *body, hl_aws_json_cb cb, void *data) {
  q->ops++;
  hl_ddb_call(q->c, op, body, cb, data);
}

/* An answer is in: the last one after destroy() frees the queue. Called
 * last in every callback. */
static void op_done(ddbq *q) {
  if (--q->ops == 0 && q->dead) {
    hl_strmap_dispose(&q->owed);
    hl_free(q->table);
    hl_free(q);
  }
}

static unsigned shard_of(const char *event_id, const char *sub_id) {
  uint32_t h = 2166136261u; /* FNV-1a */
  for (const char *p = event_id; *p; p++) h = (h ^ (uint8_t)*p) * 16777619u;
  h = (h ^ '#') * 16777619u;
  for (const char *p = sub_id; *p; p++) h = (h ^ (uint8_t)*p) * 16777619u;
  return h % HL_QUEUE_DDB_SHARDS;
}

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

/* --- accept: one conditional PutItem per delivery ------------------------------ */
typedef struct {
  ddbq *q;
  size_t pending, ok, exists, failed;
  char **subs;
  bool *put;
  size_t nsubs;
  char *event_id;
  int64_t now;
  hl_store_cb cb;
  void *data;
} accept_ctx;

typedef struct {
  accept_ctx *a;
  size_t i;
} accept_one;

static void accept_done(accept_ctx *a) {
  ddbq *q = a->q;
  int status = a->failed ? HL_ESTORE : (a->ok == 0 && a->exists > 0) ? HL_EEXISTS : 0;
  if (status == 0 && !q->dead) {
    for (size_t i = 0; i < a->nsubs; i++) {
      if (!a->put[i]) continue;
      hl_delivery_rec r = {.event_id = a->event_id, .subscription_id = a->subs[i], .status = (char *)"PENDING",
                           .updated_at = a->now, .next_attempt_at = a->now};
      q->store->vt->delivery_put(q->store, &r, NULL, NULL); /* the status the API reads */
      ready(q, a->subs[i]);
    }
  }
  hl_store_result res = {0};
  hl_store_cb cb = a->cb;
  void *data = a->data;
  for (size_t i = 0; i < a->nsubs; i++) hl_free(a->subs[i]);
  hl_free(a->subs);
  hl_free(a->put);
  hl_free(a->event_id);
  hl_free(a);
  q->busy--;
  if (!q->dead) cb(data, status, &res);
}

static void on_row_put(void *data, const hl_aws_status *st, const hl_json *resp) {
  accept_one *o = data;
  accept_ctx *a = o->a;
  (void)resp;
  if (st->outcome == HL_AWS_OK) {
    a->ok++;
    a->put[o->i] = true;
  } else if (st->outcome == HL_AWS_CONDITION_FAILED) {
    a->exists++; /* accepted before: this row is there already */
  } else {
    a->failed++;
  }
  hl_free(o);
  ddbq *q = a->q;
  if (--a->pending == 0) accept_done(a);
  op_done(q);
}

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
                    .now = hl_wall_ms(), .cb = cb, .data = data};
  a->subs = hl_calloc(ev->nsubs, sizeof *a->subs);
  a->put = hl_calloc(ev->nsubs, sizeof *a->put);
  q->busy++;
  char now[24], acc[24], shard[8];
  for (size_t i = 0; i < ev->nsubs; i++) {
    const char *sub = ev->subscription_ids[i];
    a->subs[i] = hl_strdup(sub);
    hl_buf dk = HL_BUF_INIT;
    due_key(&dk, a->now, ev->event_id, sub);
    snprintf(shard, sizeof shard, "%u", shard_of(ev->event_id, sub));
    hl_ddb_attr it[11];
    size_t n = 0;
    it[n++] = (hl_ddb_attr){"event_id", hl_ddb_s(ev->event_id)};
    it[n++] = (hl_ddb_attr){"subscription_id", hl_ddb_s(sub)};
    it[n++] = (hl_ddb_attr){"status", hl_ddb_s("PENDING")};
    it[n++] = (hl_ddb_attr){"attempts", hl_ddb_n("0")};
    it[n++] = (hl_ddb_attr){"event_type", hl_ddb_s(ev->event_type)};
    it[n++] = (hl_ddb_attr){"accepted_at", hl_ddb_n(hl_ddb_i64(acc, ev->accepted_at ? ev->accepted_at : a->now))};
    it[n++] = (hl_ddb_attr){"updated_at", hl_ddb_n(hl_ddb_i64(now, a->now))};
    it[n++] = (hl_ddb_attr){"next_attempt_at", hl_ddb_n(now)};
    it[n++] = (hl_ddb_attr){"due_shard", hl_ddb_n(shard)};
    it[n++] = (hl_ddb_attr){"due_key", hl_ddb_s(dk.data)};
    if (ev->trace) it[n++] = (hl_ddb_attr){"trace", hl_ddb_s(ev->trace)};
    hl_ddb_expr x = {.condition = "attribute_not_exists(event_id)"};
    hl_buf body = HL_BUF_INIT;
    hl_ddb_put_item(&body, q->table, (hl_ddb_item){it, n}, &x);
    hl_buf_dispose(&dk);
    accept_one *o = hl_malloc(sizeof *o);
    *o = (accept_one){a, i};
    call(q, HL_DDB_PUT_ITEM, &body, on_row_put, o);
  }
}

/* --- claim: Query the index per shard, lease each row, read the bodies ------------ */
typedef struct {
  char *event_id, *sub_id, *due_key;
} candidate;

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
  hl_eq_item item;      /* the row as leased (moved into res when its body comes) */
} claim_one;

static void claim_answer(claim_ctx *k) {
  ddbq *q = k->q;
  /* A full page of some shard: more may be due, come back at once. */
  k->res.next_due_at = k->truncated ? k->now + 1 : 0;
  if (k->truncated && !q->dead) hl_strmap_put(&q->owed, k->sub_id, q);
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


static void on_body(void *data, const hl_aws_status *st, const hl_json *resp) {
  claim_one *o = data;
  claim_ctx *k = o->k;
  const hl_json *it = hl_json_get(resp, "Item");
  size_t n = 0;
  const char *b = it ? hl_ddb_item_s(it, "body", &n) : NULL;
  if (st->outcome == HL_AWS_OK && b) {
    o->item.body = hl_strndup(b, n);
    o->item.body_len = n;
    if (k->res.nitems == k->capitems) {
      k->capitems = k->capitems ? k->capitems * 2 : 8;
      k->res.items = hl_realloc(k->res.items, k->capitems * sizeof *k->res.items);
    }
    k->res.items[k->res.nitems++] = o->item;
  } else {
    /* No record to send (the store failed, or the events table lacks it):
     * the lease runs out and the row is claimed again later. */
    hl_log_warn("a claimed delivery's event could not be read; it is claimed again when its lease ends",
                "\"event_id\":\"%s\",\"error\":\"%s\"", hl_log_esc(o->item.d.event_id, (size_t)-1),
                st->outcome == HL_AWS_OK ? "not in the events table" : hl_aws_outcome_name(st->outcome));
    hl_eq_item_free(&o->item);
    k->failed++;
  }
  hl_free(o);
  ddbq *q = k->q;
  if (--k->pending == 0) claim_answer(k);
  op_done(q);
}

static void on_leased(void *data, const hl_aws_status *st, const hl_json *resp) {
  claim_one *o = data;
  claim_ctx *k = o->k;
  ddbq *q = k->q;
  const hl_json *a = hl_json_get(resp, "Attributes");
  if (st->outcome == HL_AWS_OK && a && !q->dead) {
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
    if (it->d.event_id && it->d.subscription_id && it->event_type) {
      hl_ddb_attr key[] = {{"event_id", hl_ddb_s(it->d.event_id)}};
      hl_buf body = HL_BUF_INIT;
      hl_ddb_get_item(&body, k->q->events_table, HL_DDB_ITEM(key), true);
      call(q, HL_DDB_GET_ITEM, &body, on_body, o);
      op_done(q);
      return;
    }
    hl_eq_item_free(it);
  } else if (st->outcome != HL_AWS_CONDITION_FAILED) {
    k->failed++; /* taken by nobody: claimed again later */
  } else {
    k->q->lost++; /* another process holds it, or it changed since the index saw it */
  }
  hl_free(o);
  if (--k->pending == 0) claim_answer(k);
  op_done(q);
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
  size_t n = k->ncand < k->limit ? k->ncand : k->limit;
  if (k->ncand > k->limit) k->truncated = true;
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
    call(q, HL_DDB_UPDATE_ITEM, &body, on_leased, o);
  }
}

static void on_shard(void *data, const hl_aws_status *st, const hl_json *resp) {
  claim_ctx *k = data;
  if (st->outcome != HL_AWS_OK) {
    k->failed++;
  } else {
    const hl_json *items = hl_json_get(resp, "Items");
    for (uint32_t i = 0; items && items->type == HL_JSON_ARRAY && i < items->len; i++) {
      const hl_json *it = &items->u.items[i];
      char *e = hl_ddb_item_sdup(it, "event_id"), *s = hl_ddb_item_sdup(it, "subscription_id"), *d = hl_ddb_item_sdup(it, "due_key");
      if (!e || !s || !d) {
        hl_free(e); hl_free(s); hl_free(d);
        continue;
      }
      if (k->ncand == k->capcand) {
        k->capcand = k->capcand ? k->capcand * 2 : 16;
        k->cand = hl_realloc(k->cand, k->capcand * sizeof *k->cand);
      }
      k->cand[k->ncand++] = (candidate){e, s, d};
    }
    const hl_json *last = hl_json_get(resp, "LastEvaluatedKey");
    if (last && last->type == HL_JSON_OBJECT && last->len > 0) k->truncated = true;
  }
  ddbq *q = k->q;
  if (--k->pending == 0) lease_candidates(k);
  op_done(q);
}

static void claim(hl_queue *base, const char *sub_id, size_t limit, int64_t now_ms, hl_store_cb cb, void *data) {
  ddbq *q = Q(base);
  if (q->wake_at && q->wake_at <= now_ms) q->wake_at = 0;
  hl_strmap_del(&q->owed, sub_id); /* the owed claim: this one */
  claim_ctx *k = hl_calloc(1, sizeof *k);
  *k = (claim_ctx){.q = q, .sub_id = hl_strdup(sub_id), .limit = limit ? limit : 1, .now = now_ms, .cb = cb,
                   .data = data, .pending = HL_QUEUE_DDB_SHARDS};
  q->busy++;
  hl_buf upto = HL_BUF_INIT;
  /* '$' sorts after '#': every key due at or before now_ms. */
  hl_buf_printf(&upto, "%015lld$", (long long)now_ms);
  for (unsigned s = 0; s < HL_QUEUE_DDB_SHARDS; s++) {
    char shard[8], now[24];
    snprintf(shard, sizeof shard, "%u", s);
    hl_ddb_attr v[] = {{":s", hl_ddb_n(shard)}, {":k", hl_ddb_s(upto.data)}, {":sub", hl_ddb_s(sub_id)},
                       {":now", hl_ddb_n(hl_ddb_i64(now, now_ms))}};
    hl_ddb_query_args qa = {.index = HL_QUEUE_DDB_INDEX, .key_condition = "due_shard = :s AND due_key < :k",
                            .filter = "subscription_id = :sub AND (attribute_not_exists(lease_until) OR "
                                      "lease_until < :now)",
                            .values = v, .n_values = HL_ARRAY_SIZE(v), .limit = QUERY_PAGE};
    hl_buf body = HL_BUF_INIT;
    hl_ddb_query(&body, q->table, &qa);
    call(q, HL_DDB_QUERY, &body, on_shard, k);
  }
  hl_buf_dispose(&upto);
}

/* --- record and release: conditional on holding the lease -------------------------- */
typedef struct {
  ddbq *q;
  hl_store_cb cb;
  void *data;
  hl_delivery_rec rec;  /* copied for the status table */
  bool leaves;          /* the delivery leaves this process once recorded */
  int64_t wake;         /* a released retry's due time */
} record_ctx;

static void on_recorded(void *data, const hl_aws_status *st, const hl_json *resp) {
  record_ctx *r = data;
  ddbq *q = r->q;
  (void)resp;
  int status = 0;
  if (st->outcome == HL_AWS_OK) {
    q->recorded++;
    if (r->rec.status && !q->dead) q->store->vt->delivery_put(q->store, &r->rec, NULL, NULL);
    if (r->wake && (!q->wake_at || r->wake < q->wake_at)) q->wake_at = r->wake;
  } else if (st->outcome == HL_AWS_CONDITION_FAILED) {
    /* The lease ended and another process holds the row now: its outcome is
     * the one that counts. */
    hl_log_warn("a delivery's lease was taken over before its outcome was recorded",
                "\"event_id\":\"%s\",\"subscription_id\":\"%s\"", hl_log_esc(r->rec.event_id, (size_t)-1),
                hl_log_esc(r->rec.subscription_id, (size_t)-1));
    status = HL_ENOTFOUND;
  } else {
    status = HL_ESTORE;
  }
  if (status != HL_ESTORE && r->leaves) q->busy--;
  q->busy--;
  if (r->cb && !q->dead) {
    hl_store_result res = {0};
    r->cb(r->data, status, &res);
  }
  hl_delivery_rec_free(&r->rec);
  hl_free(r);
  op_done(q);
}

/* One UpdateItem for the row's new state. terminal: off the index and the
 * lease; release: back on the index, due at next_attempt_at, lease given
 * up; otherwise (a retry kept in memory): the lease extended past its due
 * time. */
static void update_row(ddbq *q, const hl_delivery_rec *d, bool terminal, bool release, bool status_fields,
                       hl_store_cb cb, void *data) {
  char att[24], code[24], lat[24], upd[24], next[24], until[24], shard[8];
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
    snprintf(shard, sizeof shard, "%u", shard_of(d->event_id, d->subscription_id));
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
  hl_ddb_expr x = {.update = set.data, .condition = "lease_owner = :o", .names = names,
                   .n_names = status_fields ? 1 : 0, .values = v, .n_values = n};
  hl_buf body = HL_BUF_INIT;
  hl_ddb_update_item(&body, q->table, HL_DDB_ITEM(key), &x);
  record_ctx *r = hl_calloc(1, sizeof *r);
  *r = (record_ctx){.q = q, .leaves = terminal || release, .wake = release ? d->next_attempt_at : 0, .cb = cb,
                    .data = data};
  if (status_fields) hl_delivery_rec_copy(&r->rec, d);
  else r->rec = (hl_delivery_rec){.event_id = hl_strdup(d->event_id), .subscription_id = hl_strdup(d->subscription_id)};
  q->busy++;
  call(q, HL_DDB_UPDATE_ITEM, &body, on_recorded, r);
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
typedef struct {
  ddbq *q;
  char *event_id, *sub_id;
  int64_t now;
  hl_queue_requeue_cb cb;
  void *data;
} requeue_ctx;

static void requeue_done(requeue_ctx *c, int status, const char *code, const char *message) {
  ddbq *q = c->q;
  if (!q->dead) c->cb(c->data, status, code, message);
  hl_free(c->event_id);
  hl_free(c->sub_id);
  hl_free(c);
  q->busy--;
}

static void on_requeued(void *data, const hl_aws_status *st, const hl_json *resp) {
  requeue_ctx *c = data;
  ddbq *q = c->q;
  const hl_json *a = hl_json_get(resp, "Attributes");
  if (st->outcome == HL_AWS_OK && !q->dead) {
    /* The status the API reads, then the dispatchers: due now. */
    hl_delivery_rec r = {.event_id = c->event_id, .subscription_id = c->sub_id, .status = (char *)"PENDING",
                         .attempts = a ? hl_ddb_item_i64_or0(a, "attempts") : 0, .updated_at = c->now,
                         .next_attempt_at = c->now};
    q->store->vt->delivery_put(q->store, &r, NULL, NULL);
    ready(q, c->sub_id);
    requeue_done(c, 0, NULL, NULL);
  } else if (st->outcome == HL_AWS_CONDITION_FAILED) {
    /* Missing, or not FAILED (still open, or delivered): the row says which
     * only to a second read; the answer names both. */
    requeue_done(c, HL_EINVAL, "not_failed",
                 "only a FAILED delivery in the DynamoDB queue can be re-queued; this one is not FAILED (pending, "
                 "delivered, or not in the queue)");
  } else {
    requeue_done(c, HL_ESTORE, NULL, NULL);
  }
  op_done(q);
}

/* One conditional UpdateItem: status FAILED -> PENDING, attempts kept, back
 * on the due index at now with no lease. */
static void requeue(hl_queue *base, const hl_registry *reg, const char *event_id, const char *sub_id,
                    hl_queue_requeue_cb cb, void *data) {
  ddbq *q = Q(base);
  (void)reg;
  requeue_ctx *c = hl_calloc(1, sizeof *c);
  *c = (requeue_ctx){.q = q, .event_id = hl_strdup(event_id), .sub_id = hl_strdup(sub_id), .now = hl_wall_ms(),
                     .cb = cb, .data = data};
  q->busy++;
  char now[24], shard[8];
  hl_buf dk = HL_BUF_INIT;
  due_key(&dk, c->now, event_id, sub_id);
  snprintf(shard, sizeof shard, "%u", shard_of(event_id, sub_id));
  hl_ddb_attr v[] = {{":failed", hl_ddb_s("FAILED")}, {":pending", hl_ddb_s("PENDING")},
                     {":now", hl_ddb_n(hl_ddb_i64(now, c->now))}, {":sh", hl_ddb_n(shard)},
                     {":dk", hl_ddb_s(dk.data)}};
  hl_ddb_name names[] = {{"#st", "status"}};
  hl_ddb_attr key[] = {{"event_id", hl_ddb_s(event_id)}, {"subscription_id", hl_ddb_s(sub_id)}};
  hl_ddb_expr x = {.update = "SET #st = :pending, next_attempt_at = :now, updated_at = :now, due_shard = :sh, "
                             "due_key = :dk REMOVE lease_owner, lease_until",
                   .condition = "#st = :failed", .names = names, .n_names = 1, .values = v,
                   .n_values = HL_ARRAY_SIZE(v), .return_values = "ALL_NEW"};
  hl_buf body = HL_BUF_INIT;
  hl_ddb_update_item(&body, q->table, HL_DDB_ITEM(key), &x);
  hl_buf_dispose(&dk);
  call(q, HL_DDB_UPDATE_ITEM, &body, on_requeued, c);
}

static int64_t backlog(hl_queue *q) {
  (void)q;
  return -1; /* counting open rows would take a scan */
}

static void destroy(hl_queue *base) {
  ddbq *q = Q(base);
  q->dead = true;
  q->ops++;
  op_done(q); /* frees it now when nothing is in flight */
}

static const hl_queue_vt ddb_vt = {
    .name = "dynamodb", .redelivers = true, .owns_retries = false,
    .claim = claim, .record = record, .release = release, .accept = queue_accept, .requeue = requeue,
    .backlog = backlog,
    .destroy = destroy,
};

hl_queue *hl_queue_ddb_create(const hl_queue_ddb_options *o) {
  ddbq *q = hl_calloc(1, sizeof *q);
  q->base.vt = &ddb_vt;
  q->store = o->store;
  q->c = hl_store_ddb_client(o->store);
  q->table = hl_strdup(o->table ? o->table : "delivery_queue");
  q->events_table = hl_store_ddb_tables(o->store)->events_table;
  q->lease_ms = o->lease_ms ? o->lease_ms : DEFAULT_LEASE_MS;
  hl_strmap_init(&q->owed);
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
