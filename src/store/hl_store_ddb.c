#include "store/hl_store_ddb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hl_common.h"
#include "common/hl_log.h"
#include "common/hl_strmap.h"
#include "store/hl_ddb_park.h"
#include "store/hl_ddb_sweep.h"
#include "store/hl_store_rec.h"
#include "json/hl_json.h"

/* A write waiting for (or riding in) a BatchWriteItem call. */
typedef struct bw_cb {
  hl_store_cb cb;
  void *data;
} bw_cb;

typedef struct bw {
  struct bw *next;
  const char *table;
  char *key;        /* table + "\x1f" + the item's key values */
  hl_buf item;      /* the item, encoded */
  bw_cb *cbs;
  size_t ncbs;
} bw;

/* The tables of hl_table_names, in its order. */
#define NAMES 11

typedef struct {
  hl_store base;
  hl_aws_creds_provider creds;
  hl_ddb_client client;
  hl_table_names t;
  char *names[NAMES];   /* owned copies behind t */
  hl_store *queue;      /* embedded queue or NULL */
  int page_limit;
  int64_t events_ttl_s; /* the events table's expires_at: accepted + this; 0: kept */
  int64_t delivered_ttl_s, failed_ttl_s; /* retention (hl_ddb_config) */
  hl_ddb_park park;     /* parked retries */
  hl_ddb_sweep sweep;   /* retention: a deleted subscription's deliveries in the queue */
  /* The write batcher. */
  bw *pending, *pending_tail;
  hl_strmap pending_by_key; /* key -> bw not yet sent */
  hl_strmap inflight;       /* key -> non-NULL while a write of it is in flight */
  /* Deliveries whose final status is in DynamoDB but not yet in the queue
   * beneath: event_id "\x1f" subscription_id -> the eq_ctx writing it. */
  hl_strmap finals;
  hl_timerq_node flush_node;
  /* The read batcher: ledger reads of a turn go out as BatchGetItem calls. */
  struct bg *gets, *gets_tail;
  hl_strmap gets_by_key;    /* key -> bg not yet sent */
  hl_timerq_node get_node;
  size_t nops;              /* calls and batches not yet answered */
  struct settle_w *settles; /* settle() callers waiting for the writes on their way */
  bool closing;
  int close_stage;
  void (*close_cb)(void *data);
  void *close_data;
} hl_store_ddb;

static hl_store_ddb *ddb(hl_store *s) { return (hl_store_ddb *)s; }

static void maybe_closed(hl_store_ddb *s);
static void flush(hl_store_ddb *s);

/* --- one store call ---------------------------------------------------------- */
typedef enum { OP_WRITE, OP_REV_PUT, OP_SUB_DELETE, OP_LEDGER_PUT, OP_SCHEMA_LIST, OP_SUB_LIST,
               OP_DELIVERY_LIST, OP_REQUEUE, OP_XFORM_LIST, OP_PARTNER_LIST, OP_PARTNER_DELETE,
               OP_ATTEMPT_LIST, OP_EVENT_PUT, OP_EVENT_CMP, OP_DELIVERY_SEARCH, OP_REPLAY,
               OP_REPLAY_OPEN, OP_REPLAY_UNDO } op_kind;

typedef struct {
  hl_store_ddb *s;
  op_kind kind;
  hl_store_cb cb;
  void *data;
  hl_store_result res;
  size_t cap;
  char *event_id;       /* OP_DELIVERY_LIST paging; OP_ATTEMPT_LIST: the delivery_id */
  /* OP_DELIVERY_SEARCH: the query (its strings owned here) and, for the
   * first page, the key to start after (parsed from the cursor). */
  hl_delivery_query q;
  hl_json_doc start;
  bool has_start;
  size_t waits;         /* OP_DELIVERY_SEARCH: own writes it waits for (search_after_writes) */
  hl_timerq_node fail_node; /* answers a request that could not be built */
  /* OP_EVENT_PUT: the record's type and body, compared with one already
   * there (OP_EVENT_CMP). */
  char *event_type;
  hl_buf event_body;
} op_ctx;

static op_ctx *op_new(hl_store_ddb *s, op_kind kind, hl_store_cb cb, void *data) {
  op_ctx *o = hl_calloc(1, sizeof *o);
  o->s = s;
  o->kind = kind;
  o->cb = cb;
  o->data = data;
  s->nops++;
  return o;
}

static void op_finish(op_ctx *o, int status) {
  hl_store_ddb *s = o->s;
  if (o->cb) o->cb(o->data, status, &o->res);
  hl_store_result_dispose(&o->res);
  hl_free(o->event_id);
  hl_free(o->event_type);
  hl_buf_dispose(&o->event_body);
  if (o->kind == OP_DELIVERY_SEARCH) {
    hl_free((char *)o->q.subscription_id);
    hl_free((char *)o->q.status);
    hl_free((char *)o->q.after_event_id);
    hl_json_doc_dispose(&o->start);
  }
  hl_free(o);
  s->nops--;
  maybe_closed(s);
}

static int status_of(const hl_aws_status *st) {
  switch (st->outcome) {
    case HL_AWS_OK: return 0;
    case HL_AWS_CONDITION_FAILED: return HL_EEXISTS;
    default: return HL_ESTORE;
  }
}

/* --- reading items ---------------------------------------------------------- */
static char *get_s(const hl_json *item, const char *name) { return hl_ddb_item_sdup(item, name); }
static int64_t get_n(const hl_json *item, const char *name) { return hl_ddb_item_i64_or0(item, name); }

static void *grow(void *arr, size_t *cap, size_t n, size_t elem) {
  if (n < *cap) return arr;
  *cap = *cap ? *cap * 2 : 16;
  arr = hl_realloc(arr, *cap * elem);
  memset((char *)arr + n * elem, 0, (*cap - n) * elem);
  return arr;
}

/* A record of kind d from an item, appended to d's list in the result:
 * each field from its attribute (absent: NULL, or 0 for a number). */
static void read_rec(op_ctx *o, const hl_rec_desc *d, const hl_json *it) {
  void *r = hl_rec_append(d, &o->res, &o->cap);
  for (size_t i = 0; i < d->n; i++) {
    const hl_rec_field *f = &d->f[i];
    if (f->type == HL_RF_TEXT) *hl_rec_text(r, f) = get_s(it, f->name);
    else *hl_rec_i64(r, f) = get_n(it, f->name);
  }
}

/* The kind of record a listing reads, for those read by descriptor. */
static const hl_rec_desc *desc_of(op_kind kind) {
  switch (kind) {
    case OP_SCHEMA_LIST: return &hl_schema_desc;
    case OP_SUB_LIST: return &hl_sub_desc;
    case OP_XFORM_LIST: return &hl_xform_desc;
    case OP_PARTNER_LIST: return &hl_partner_desc;
    default: return NULL;
  }
}

static void read_delivery(hl_delivery_rec *r, const hl_json *it) {
  *r = (hl_delivery_rec){0}; /* the fields not read too: a copy may be written back */
  r->event_id = get_s(it, "event_id");
  r->subscription_id = get_s(it, "subscription_id");
  r->status = get_s(it, "status");
  r->attempts = get_n(it, "attempts");
  r->last_status_code = get_n(it, "last_status_code");
  r->last_error = get_s(it, "last_error");
  r->last_latency_ms = get_n(it, "last_latency_ms");
  r->updated_at = get_n(it, "updated_at");
  r->next_attempt_at = get_n(it, "next_attempt_at");
  r->transformation = get_s(it, "transformation");
  r->replays = get_n(it, "replays");
}

static void read_attempt(op_ctx *o, const hl_json *it) {
  o->res.attempts = grow(o->res.attempts, &o->cap, o->res.nattempts, sizeof *o->res.attempts);
  hl_attempt_rec *r = &o->res.attempts[o->res.nattempts++];
  r->event_id = get_s(it, "event_id");
  r->subscription_id = get_s(it, "subscription_id");
  r->attempt = get_n(it, "attempt");
  r->at_ms = get_n(it, "at_ms");
  r->status_code = get_n(it, "status_code");
  r->latency_ms = get_n(it, "latency_ms");
  r->error = get_s(it, "error");
  r->headers_json = get_s(it, "headers");
  r->body = get_s(it, "body");
  hl_ddb_item_bool(it, "truncated", &r->truncated);
}

/* --- plain calls ------------------------------------------------------------ */
static void on_op(void *data, const hl_aws_status *st, const hl_json *resp);

static void on_build_failed(hl_timerq_node *n) { op_finish(hl_container_of(n, op_ctx, fail_node), HL_EINVAL); }

static void send_op(op_ctx *o, hl_ddb_op op, hl_buf *body, int build_rc) {
  if (build_rc != 0) {
    /* A builder refused its input (an invalid number, say): answer on a
     * later turn like any other call. */
    hl_buf_dispose(body);
    hl_timerq_add(&o->s->client.timers, &o->fail_node, 0, on_build_failed);
    return;
  }
  hl_ddb_call(&o->s->client, op, body, on_op, o);
}

/* One page of the delivery table's index by subscription and update time
 * (HL_DDB_DELIVERY_SUB_INDEX), newest first; the status is a filter, so a
 * page may come back with fewer rows than asked and the next is read. */
static void search_more(op_ctx *o, const hl_json *last_key) {
  hl_buf body = HL_BUF_INIT;
  char since[24], until[24];
  hl_ddb_attr v[4] = {{":s", hl_ddb_s(o->q.subscription_id)},
                      {":a", hl_ddb_n(hl_ddb_i64(since, o->q.since))},
                      {":b", hl_ddb_n(hl_ddb_i64(until, o->q.until))}};
  hl_ddb_name nm[] = {{"#st", "status"}};
  size_t nv = 3;
  if (o->q.status) v[nv++] = (hl_ddb_attr){":st", hl_ddb_s(o->q.status)};
  size_t want = o->q.limit - o->res.ndeliveries;
  hl_ddb_query_args qa = {.index = HL_DDB_DELIVERY_SUB_INDEX,
                          .key_condition = "subscription_id = :s AND updated_at BETWEEN :a AND :b",
                          .filter = o->q.status ? "#st = :st" : NULL, .names = o->q.status ? nm : NULL,
                          .n_names = o->q.status ? 1 : 0, .values = v, .n_values = nv,
                          .limit = (int)(want < (size_t)o->s->page_limit ? want : (size_t)o->s->page_limit),
                          .descending = true, .start_key = last_key};
  if (qa.limit <= 0) qa.limit = (int)want;
  int rc = hl_ddb_query(&body, o->s->t.delivery_table, &qa);
  send_op(o, HL_DDB_QUERY, &body, rc);
}

static void page_more(op_ctx *o, const hl_json *last_key) {
  hl_buf body = HL_BUF_INIT;
  int rc;
  if (o->kind == OP_DELIVERY_SEARCH) {
    search_more(o, last_key);
  } else if (o->kind == OP_DELIVERY_LIST || o->kind == OP_ATTEMPT_LIST) {
    bool att = o->kind == OP_ATTEMPT_LIST;
    hl_ddb_attr v[] = {{":e", hl_ddb_s(o->event_id)}};
    hl_ddb_query_args q = {.key_condition = att ? "delivery_id = :e" : "event_id = :e", .values = v,
                           .n_values = 1, .consistent = true, .limit = o->s->page_limit, .start_key = last_key};
    rc = hl_ddb_query(&body, att ? o->s->t.attempt_table : o->s->t.delivery_table, &q);
    send_op(o, HL_DDB_QUERY, &body, rc);
  } else {
    const char *table = o->kind == OP_SCHEMA_LIST    ? o->s->t.schema_table
                        : o->kind == OP_XFORM_LIST   ? o->s->t.transform_table
                        : o->kind == OP_PARTNER_LIST ? o->s->t.partner_table
                                                     : o->s->t.subscription_table;
    rc = hl_ddb_scan(&body, table, true, o->s->page_limit, last_key);
    send_op(o, HL_DDB_SCAN, &body, rc);
  }
}

/* A write of the batcher not yet answered (sent or waiting), for an
 * event's listing: it is newer than what DynamoDB answered, so it takes
 * the place of that subscription's row, or is added. */
static void overlay_write(op_ctx *o, const bw *w, const char *prefix, size_t plen) {
  if (strncmp(w->key, prefix, plen) != 0) return;
  hl_json_doc doc;
  hl_json_doc_init(&doc);
  if (hl_json_parse(&doc, w->item.data, w->item.len, NULL) != 0) {
    hl_json_doc_dispose(&doc);
    return;
  }
  hl_delivery_rec r;
  read_delivery(&r, doc.root);
  hl_json_doc_dispose(&doc);
  size_t i = 0;
  while (i < o->res.ndeliveries && strcmp(o->res.deliveries[i].subscription_id, r.subscription_id) < 0) i++;
  if (i < o->res.ndeliveries && strcmp(o->res.deliveries[i].subscription_id, r.subscription_id) == 0) {
    hl_delivery_rec_free(&o->res.deliveries[i]);
  } else {
    o->res.deliveries = grow(o->res.deliveries, &o->cap, o->res.ndeliveries, sizeof *o->res.deliveries);
    memmove(&o->res.deliveries[i + 1], &o->res.deliveries[i],
            (o->res.ndeliveries - i) * sizeof *o->res.deliveries);
    o->res.ndeliveries++;
  }
  o->res.deliveries[i] = r;
}

/* An event's listing reads this process's own writes. The status rows go
 * out in batches behind the queue (an accept is answered once the queue
 * beneath has the event), so DynamoDB may not have them yet: the ones in
 * flight, then the ones waiting (later still), are laid over its answer,
 * kept in the table's order (by subscription id). */
static void overlay_unsent(op_ctx *o) {
  hl_store_ddb *s = o->s;
  hl_buf prefix = HL_BUF_INIT;
  hl_buf_puts(&prefix, s->t.delivery_table);
  hl_buf_putc(&prefix, '\x1f');
  hl_buf_puts(&prefix, o->event_id);
  hl_buf_putc(&prefix, '\x1f');
  const char *key;
  void *v;
  for (size_t it = 0; hl_strmap_next(&s->inflight, &it, &key, &v);) overlay_write(o, v, prefix.data, prefix.len);
  for (const bw *w = s->pending; w; w = w->next) overlay_write(o, w, prefix.data, prefix.len);
  hl_buf_dispose(&prefix);
}

static void on_op(void *data, const hl_aws_status *st, const hl_json *resp) {
  op_ctx *o = data;
  int status = status_of(st);
  switch (o->kind) {
    case OP_SUB_DELETE:
    case OP_PARTNER_DELETE:
    case OP_REQUEUE:
      if (st->outcome == HL_AWS_CONDITION_FAILED) status = HL_ENOTFOUND;
      break;
    case OP_REV_PUT:
      /* The item is at another revision (another process wrote it). */
      if (st->outcome == HL_AWS_CONDITION_FAILED) status = HL_ECONFLICT;
      break;
    case OP_EVENT_PUT:
      if (st->outcome == HL_AWS_CONDITION_FAILED) {
        /* An event of this id was recorded before: the same one (a
         * client's retry after the queue failed: it goes on), or another
         * with the id (a duplicate, as the queue would call it; queueing
         * it would send the first one's body to any subscription added
         * since). Read consistently and compared. */
        hl_ddb_attr key[] = {{"event_id", hl_ddb_s(o->event_id)}};
        hl_buf body = HL_BUF_INIT;
        int rc = hl_ddb_get_item(&body, o->s->t.events_table, HL_DDB_ITEM(key), true);
        o->kind = OP_EVENT_CMP;
        send_op(o, HL_DDB_GET_ITEM, &body, rc);
        return;
      }
      break;
    case OP_EVENT_CMP:
      if (status == 0) {
        const hl_json *item = hl_json_get(resp, "Item");
        size_t blen = 0, tlen = 0;
        const char *b = item ? hl_ddb_item_s(item, "body", &blen) : NULL;
        const char *t = item ? hl_ddb_item_s(item, "event_type", &tlen) : NULL;
        /* Gone since (its time to live): nothing to differ from. */
        bool same = !item || (b && t && blen == o->event_body.len && memcmp(b, o->event_body.data, blen) == 0 &&
                              tlen == strlen(o->event_type) && memcmp(t, o->event_type, tlen) == 0);
        status = same ? HL_EEXISTS : HL_ECONFLICT;
      }
      break;
    case OP_REPLAY:
      /* The caller read the row before (it exists): a condition that
       * failed means it is open (PENDING or RETRYING), or another
       * replay of it is under way. */
      if (st->outcome == HL_AWS_CONDITION_FAILED) status = HL_EINVAL;
      if (status == 0) {
        char v[24];
        o->res.value = hl_strdup(hl_ddb_i64(v, hl_ddb_item_i64_or0(hl_json_get(resp, "Attributes"), "replays")));
      }
      break;
    case OP_REPLAY_OPEN:
      /* Written to since it was read (the record's outcome), or counted up
       * by another replay. */
      if (st->outcome == HL_AWS_CONDITION_FAILED) status = HL_EINVAL;
      break;
    case OP_REPLAY_UNDO:
      if (st->outcome == HL_AWS_CONDITION_FAILED) status = 0; /* not this replay's mark any more */
      break;
    case OP_SCHEMA_LIST:
    case OP_SUB_LIST:
    case OP_PARTNER_LIST:
    case OP_DELIVERY_LIST:
    case OP_DELIVERY_SEARCH:
    case OP_XFORM_LIST:
    case OP_ATTEMPT_LIST:
      if (status == 0) {
        const hl_json *items = hl_json_get(resp, "Items");
        for (uint32_t i = 0; items && items->type == HL_JSON_ARRAY && i < items->len; i++) {
          const hl_json *it = &items->u.items[i];
          if (desc_of(o->kind)) {
            read_rec(o, desc_of(o->kind), it);
          } else if (o->kind == OP_ATTEMPT_LIST) {
            read_attempt(o, it);
          } else {
            o->res.deliveries = grow(o->res.deliveries, &o->cap, o->res.ndeliveries, sizeof *o->res.deliveries);
            read_delivery(&o->res.deliveries[o->res.ndeliveries++], it);
          }
        }
        const hl_json *last = hl_json_get(resp, "LastEvaluatedKey");
        bool full = o->kind == OP_DELIVERY_SEARCH && o->res.ndeliveries >= o->q.limit;
        if (!full && last && last->type == HL_JSON_OBJECT && last->len > 0) {
          page_more(o, last);
          return;
        }
      }
      if (status == 0 && o->kind == OP_DELIVERY_LIST) overlay_unsent(o);
      break;
    default:
      break;
  }
  op_finish(o, status);
}

/* --- the write batcher ------------------------------------------------------ */
typedef struct {
  hl_store_ddb *s;
  bw *writes;
} batch_ctx;

static void bw_free(bw *w) {
  hl_free(w->key);
  hl_buf_dispose(&w->item);
  hl_free(w->cbs);
  hl_free(w);
}

/* cb is called with the write's outcome (any number of callers a write). */
static void bw_add_cb(bw *w, hl_store_cb cb, void *data) {
  w->cbs = hl_realloc(w->cbs, (w->ncbs + 1) * sizeof *w->cbs);
  w->cbs[w->ncbs++] = (bw_cb){cb, data};
}

static void on_batch(void *data, const hl_aws_status *st, const hl_json *resp) {
  batch_ctx *b = data;
  hl_store_ddb *s = b->s;
  int status = st->outcome == HL_AWS_OK ? 0 : HL_ESTORE;
  bool more = false;
  for (bw *w = b->writes, *next; w; w = next) {
    next = w->next;
    hl_strmap_del(&s->inflight, w->key);
    if (hl_strmap_get(&s->pending_by_key, w->key)) more = true;
    for (size_t i = 0; i < w->ncbs; i++) {
      hl_store_result res = {0};
      if (w->cbs[i].cb) w->cbs[i].cb(w->cbs[i].data, status, &res);
      hl_store_result_dispose(&res);
    }
    bw_free(w);
  }
  hl_free(b);
  s->nops--;
  if (more || s->pending) flush(s);
  maybe_closed(s);
}

static void send_batch(hl_store_ddb *s, bw *batch) {
  hl_buf body = HL_BUF_INIT;
  hl_jw jw;
  hl_jw_open(&jw, &body);
  hl_jw_key_obj(&jw, "RequestItems");
  /* Grouped by table; bw->table points at one of s->names. */
  for (int t = 0; t < 5; t++) {
    bool open = false;
    for (bw *x = batch; x; x = x->next) {
      if (x->table != s->names[t]) continue;
      if (!open) {
        hl_jw_key_arr(&jw, s->names[t]);
        open = true;
      }
      hl_jw_obj_begin(&jw);
      hl_jw_key_obj(&jw, "PutRequest");
      hl_jw_key(&jw, "Item");
      hl_jw_raw(&jw, x->item.data, x->item.len);
      hl_jw_obj_end(&jw);
      hl_jw_obj_end(&jw);
    }
    if (open) hl_jw_arr_end(&jw);
  }
  hl_jw_obj_end(&jw);
  hl_jw_obj_end(&jw);
  batch_ctx *b = hl_calloc(1, sizeof *b);
  b->s = s;
  b->writes = batch;
  s->nops++;
  hl_ddb_call(&s->client, HL_DDB_BATCH_WRITE_ITEM, &body, on_batch, b);
}

/* Sends every pending write whose key has nothing in flight, 25 a call;
 * the others stay pending, in order. */
static void flush(hl_store_ddb *s) {
  bw **pp = &s->pending;
  bw *batch = NULL, **btail = &batch;
  size_t n = 0;
  s->pending_tail = NULL;
  while (*pp) {
    bw *w = *pp;
    if (hl_strmap_get(&s->inflight, w->key)) {
      s->pending_tail = w;
      pp = &w->next;
      continue;
    }
    *pp = w->next;
    w->next = NULL;
    hl_strmap_del(&s->pending_by_key, w->key);
    hl_strmap_put(&s->inflight, w->key, w);
    *btail = w;
    btail = &w->next;
    if (++n == HL_DDB_BATCH_MAX) {
      send_batch(s, batch);
      batch = NULL;
      btail = &batch;
      n = 0;
    }
  }
  if (batch) send_batch(s, batch);
}

static void on_flush_timer(hl_timerq_node *node) {
  flush(hl_container_of(node, hl_store_ddb, flush_node));
}

/* Queues an unconditional put of an encoded item. */
static void enqueue_put(hl_store_ddb *s, const char *table, const char *key, hl_buf *item, hl_store_cb cb,
                        void *data) {
  hl_buf k = HL_BUF_INIT;
  hl_buf_puts(&k, table);
  hl_buf_putc(&k, '\x1f');
  hl_buf_puts(&k, key);
  hl_buf_putc(&k, '\0');
  bw *w = hl_strmap_get(&s->pending_by_key, k.data);
  if (w) {
    /* A later state of the same item: it supersedes the one not yet sent. */
    hl_buf_dispose(&w->item);
    w->item = *item;
    hl_buf_dispose(&k);
  } else {
    w = hl_calloc(1, sizeof *w);
    w->table = table;
    w->key = k.data;
    w->item = *item;
    hl_strmap_put(&s->pending_by_key, w->key, w);
    if (s->pending_tail) s->pending_tail->next = w;
    else s->pending = w;
    s->pending_tail = w;
  }
  hl_buf_init(item);
  bw_add_cb(w, cb, data);
  if (!hl_timerq_pending(&s->flush_node)) hl_timerq_add(&s->client.timers, &s->flush_node, 0, on_flush_timer);
}

/* --- item encoding ---------------------------------------------------------- */
static int encode(hl_buf *out, const hl_ddb_attr *a, size_t n) {
  hl_jw w;
  hl_jw_init(&w, out);
  return hl_ddb_write_item(&w, (hl_ddb_item){a, n});
}

#define OPT_S(arr, n, name, v)                     \
  do {                                             \
    if (v) (arr)[(n)++] = (hl_ddb_attr){name, hl_ddb_s(v)}; \
  } while (0)

/* Retention by DynamoDB TTL: when a delivery in this state expires (epoch
 * s), 0 for one still open (PENDING, RETRYING: never expires). */
static int64_t delivery_expires_at(const hl_store_ddb *s, const hl_delivery_rec *r) {
  int64_t ttl = !r->status ? 0 : strcmp(r->status, "SUCCESS") == 0 ? s->delivered_ttl_s
                               : strcmp(r->status, "FAILED") == 0  ? s->failed_ttl_s : 0;
  return ttl > 0 ? r->updated_at / 1000 + ttl : 0;
}

static size_t delivery_attrs(const hl_store_ddb *s, const hl_delivery_rec *r, hl_ddb_attr *a, char nb[7][24]) {
  size_t n = 0;
  a[n++] = (hl_ddb_attr){"event_id", hl_ddb_s(r->event_id)};
  a[n++] = (hl_ddb_attr){"subscription_id", hl_ddb_s(r->subscription_id)};
  a[n++] = (hl_ddb_attr){"status", hl_ddb_s(r->status ? r->status : "PENDING")};
  a[n++] = (hl_ddb_attr){"attempts", hl_ddb_n(hl_ddb_i64(nb[0], r->attempts))};
  a[n++] = (hl_ddb_attr){"last_status_code", hl_ddb_n(hl_ddb_i64(nb[1], r->last_status_code))};
  OPT_S(a, n, "last_error", r->last_error);
  a[n++] = (hl_ddb_attr){"last_latency_ms", hl_ddb_n(hl_ddb_i64(nb[2], r->last_latency_ms))};
  a[n++] = (hl_ddb_attr){"updated_at", hl_ddb_n(hl_ddb_i64(nb[3], r->updated_at))};
  a[n++] = (hl_ddb_attr){"next_attempt_at", hl_ddb_n(hl_ddb_i64(nb[4], r->next_attempt_at))};
  OPT_S(a, n, "transformation", r->transformation);
  int64_t exp = delivery_expires_at(s, r);
  if (exp) a[n++] = (hl_ddb_attr){"expires_at", hl_ddb_n(hl_ddb_i64(nb[5], exp))};
  /* A PutItem replaces the row: the replay generation delivery_replay
   * counted up goes on with every status of that replay. */
  if (r->replays > 0) a[n++] = (hl_ddb_attr){"replays", hl_ddb_n(hl_ddb_i64(nb[6], r->replays))};
  return n;
}

static void delivery_enqueue(hl_store_ddb *s, const hl_delivery_rec *r, hl_store_cb cb, void *data) {
  hl_ddb_attr a[12];
  char nb[7][24];
  size_t n = delivery_attrs(s, r, a, nb);
  hl_buf item = HL_BUF_INIT;
  encode(&item, a, n);
  hl_buf key = HL_BUF_INIT;
  hl_buf_puts(&key, r->event_id);
  hl_buf_putc(&key, '\x1f');
  hl_buf_puts(&key, r->subscription_id);
  hl_buf_putc(&key, '\0');
  enqueue_put(s, s->t.delivery_table, key.data, &item, cb, data);
  hl_buf_dispose(&key);
}

/* --- the vtable --------------------------------------------------------------- */
/* Puts a record of kind d: the key and every number (but a "none", see
 * HL_RF_ZERO_NULL) always, other text only when set; an immutable kind only
 * when no item has its key. A kind with a revision (HL_RF_REVISION) writes
 * the record's + 1, on the condition that the item is still at the
 * record's (an item written before revisions has none: 0; a record at 0
 * may also be new) or carries this put's own token (HL_RF_TOKEN: a retry
 * of the client's that finds its first attempt committed); a condition
 * that fails is HL_ECONFLICT. */
static void rec_put(hl_store_ddb *s, const char *table, const hl_rec_desc *d, const void *r, hl_store_cb cb,
                    void *data) {
  hl_ddb_attr a[HL_REC_MAX_FIELDS];
  char nb[HL_REC_MAX_FIELDS][24];
  size_t n = 0;
  for (size_t i = 0; i < d->n; i++) {
    const hl_rec_field *f = &d->f[i];
    const char *v = f->type == HL_RF_TEXT ? *hl_rec_text((void *)r, f) : NULL;
    if (f->type == HL_RF_TEXT && (v || (f->flags & HL_RF_KEY))) a[n++] = (hl_ddb_attr){f->name, hl_ddb_s(v)};
    else if (f->type == HL_RF_I64 && !hl_rec_i64_none(r, f))
      a[n++] = (hl_ddb_attr){f->name, hl_ddb_n(hl_ddb_i64(nb[i], hl_rec_i64_put(r, f)))};
  }
  char cond[160];
  snprintf(cond, sizeof cond, "attribute_not_exists(%s)", d->f[0].name);
  hl_ddb_expr x = {.condition = cond};
  const hl_rec_field *rev = hl_rec_flagged(d, HL_RF_REVISION), *tok = hl_rec_flagged(d, HL_RF_TOKEN);
  const char *token = tok ? *hl_rec_text((void *)r, tok) : NULL;
  char expected[24];
  hl_ddb_name names[2] = {{"#rev", rev ? rev->name : ""}, {"#tok", tok ? tok->name : ""}};
  hl_ddb_attr values[2] = {{":rev", hl_ddb_n(hl_ddb_i64(expected, rev ? *hl_rec_i64((void *)r, rev) : 0))},
                           {":tok", hl_ddb_s(token ? token : "")}};
  if (rev) {
    int64_t at = *hl_rec_i64((void *)r, rev);
    snprintf(cond, sizeof cond, "%s#rev = :rev%s", at == 0 ? "attribute_not_exists(#rev) OR " : "",
             token ? " OR #tok = :tok" : "");
    x = (hl_ddb_expr){.condition = cond, .names = names, .n_names = token ? 2 : 1, .values = values,
                      .n_values = token ? 2 : 1};
  }
  hl_buf body = HL_BUF_INIT;
  int rc = hl_ddb_put_item(&body, table, (hl_ddb_item){a, n}, d->immutable || rev ? &x : NULL);
  send_op(op_new(s, rev ? OP_REV_PUT : OP_WRITE, cb, data), HL_DDB_PUT_ITEM, &body, rc);
}

/* A list of every item of a table (a Scan, paged). */
static void scan_all(hl_store *base, op_kind kind, hl_store_cb cb, void *data) {
  page_more(op_new(ddb(base), kind, cb, data), NULL);
}

static void schema_put(hl_store *base, const hl_schema_rec *r, hl_store_cb cb, void *data) {
  rec_put(ddb(base), ddb(base)->t.schema_table, &hl_schema_desc, r, cb, data);
}

static void schema_list(hl_store *base, hl_store_cb cb, void *data) { scan_all(base, OP_SCHEMA_LIST, cb, data); }

/* A version is written once: the condition makes a second put of it fail
 * (HL_EEXISTS) instead of replacing the spec a delivery may name. */
static void xform_put(hl_store *base, const hl_xform_rec *r, hl_store_cb cb, void *data) {
  rec_put(ddb(base), ddb(base)->t.transform_table, &hl_xform_desc, r, cb, data);
}

static void xform_list(hl_store *base, hl_store_cb cb, void *data) { scan_all(base, OP_XFORM_LIST, cb, data); }

static void sub_put(hl_store *base, const hl_sub_rec *r, hl_store_cb cb, void *data) {
  rec_put(ddb(base), ddb(base)->t.subscription_table, &hl_sub_desc, r, cb, data);
}

static void sub_list(hl_store *base, hl_store_cb cb, void *data) { scan_all(base, OP_SUB_LIST, cb, data); }

static void sub_delete(hl_store *base, const char *partner_id, const char *event_type, hl_store_cb cb,
                       void *data) {
  hl_store_ddb *s = ddb(base);
  hl_ddb_attr k[] = {{"partner_id", hl_ddb_s(partner_id)}, {"event_type", hl_ddb_s(event_type)}};
  hl_ddb_expr x = {.condition = "attribute_exists(partner_id)"};
  hl_buf body = HL_BUF_INIT;
  int rc = hl_ddb_delete_item(&body, s->t.subscription_table, HL_DDB_ITEM(k), &x);
  send_op(op_new(s, OP_SUB_DELETE, cb, data), HL_DDB_DELETE_ITEM, &body, rc);
}

/* Partners: one item each, keyed by partner_id (a table of its own, as the
 * other backends have). */
static void partner_put(hl_store *base, const hl_partner_rec *r, hl_store_cb cb, void *data) {
  rec_put(ddb(base), ddb(base)->t.partner_table, &hl_partner_desc, r, cb, data);
}

static void partner_list(hl_store *base, hl_store_cb cb, void *data) { scan_all(base, OP_PARTNER_LIST, cb, data); }

static void partner_delete(hl_store *base, const char *partner_id, hl_store_cb cb, void *data) {
  hl_store_ddb *s = ddb(base);
  hl_ddb_attr k[] = {{"partner_id", hl_ddb_s(partner_id)}};
  hl_ddb_expr x = {.condition = "attribute_exists(partner_id)"};
  hl_buf body = HL_BUF_INIT;
  int rc = hl_ddb_delete_item(&body, s->t.partner_table, HL_DDB_ITEM(k), &x);
  send_op(op_new(s, OP_PARTNER_DELETE, cb, data), HL_DDB_DELETE_ITEM, &body, rc);
}

static void kafka_map_put(hl_store *base, const char *event_type, const char *ingress_topic,
                          const char *egress_topics_json, hl_store_cb cb, void *data) {
  hl_store_ddb *s = ddb(base);
  /* egress_topics is a list of strings in DynamoDB (readable in the console),
   * a JSON array in the interface. */
  hl_json_doc doc;
  hl_json_doc_init(&doc);
  hl_ddb_val *topics = NULL;
  size_t nt = 0;
  if (egress_topics_json && hl_json_parse(&doc, egress_topics_json, strlen(egress_topics_json), NULL) == 0 &&
      doc.root->type == HL_JSON_ARRAY) {
    topics = hl_calloc(doc.root->len + 1, sizeof *topics);
    for (uint32_t i = 0; i < doc.root->len; i++)
      if (doc.root->u.items[i].type == HL_JSON_STRING)
        topics[nt++] = hl_ddb_sn(doc.root->u.items[i].u.str, doc.root->u.items[i].len);
  }
  hl_ddb_attr a[3];
  size_t n = 0;
  a[n++] = (hl_ddb_attr){"event_type", hl_ddb_s(event_type)};
  OPT_S(a, n, "ingress_topic", ingress_topic);
  a[n++] = (hl_ddb_attr){"egress_topics", hl_ddb_l(topics, nt)};
  hl_buf body = HL_BUF_INIT;
  int rc = hl_ddb_put_item(&body, s->t.kafka_table, (hl_ddb_item){a, n}, NULL);
  hl_free(topics);
  hl_json_doc_dispose(&doc);
  send_op(op_new(s, OP_WRITE, cb, data), HL_DDB_PUT_ITEM, &body, rc);
}

static void delivery_put(hl_store *base, const hl_delivery_rec *r, hl_store_cb cb, void *data) {
  delivery_enqueue(ddb(base), r, cb, data);
}

void hl_store_ddb_delivery_put_new(hl_store *base, const hl_delivery_rec *r, hl_store_cb cb, void *data) {
  hl_store_ddb *s = ddb(base);
  hl_ddb_attr a[12];
  char nb[7][24];
  size_t n = delivery_attrs(s, r, a, nb);
  hl_ddb_expr x = {.condition = "attribute_not_exists(event_id)"};
  hl_buf body = HL_BUF_INIT;
  int rc = hl_ddb_put_item(&body, s->t.delivery_table, (hl_ddb_item){a, n}, &x);
  send_op(op_new(s, OP_WRITE, cb, data), HL_DDB_PUT_ITEM, &body, rc);
}

static void delivery_list(hl_store *base, const char *event_id, hl_store_cb cb, void *data) {
  op_ctx *o = op_new(ddb(base), OP_DELIVERY_LIST, cb, data);
  o->event_id = hl_strdup(event_id);
  page_more(o, NULL);
}

static void search_first(op_ctx *o) { search_more(o, o->has_start ? o->start.root : NULL); }

static void on_write_seen(void *data, int status, hl_store_result *res) {
  (void)status;
  (void)res;
  op_ctx *o = data;
  if (--o->waits == 0) search_first(o);
}

/* Adds o to the callers of w when w writes a status row of o's subscription. */
static void wait_for_write(op_ctx *o, bw *w) {
  hl_store_ddb *s = o->s;
  size_t klen = strlen(w->key), slen = strlen(o->q.subscription_id);
  /* key: table "\x1f" event_id "\x1f" subscription_id */
  if (w->table != s->t.delivery_table || klen < slen + 1 || w->key[klen - slen - 1] != '\x1f' ||
      strcmp(w->key + klen - slen, o->q.subscription_id) != 0)
    return;
  bw_add_cb(w, on_write_seen, o);
  o->waits++;
}

/* Waits for this process's writes of the subscription's status rows that
 * DynamoDB has not answered yet (sent, or waiting in the batcher), then
 * reads the first page. The event's listing lays such writes over its
 * answer (overlay_unsent); a search cannot, as they would take their place
 * by update time on some page, so it reads after them instead: an event
 * accepted (or a status handed over) here is then among its
 * subscription's deliveries. Writes made after the call are not waited
 * for, so a busy subscription cannot hold a search back for long. What
 * another process wrote reaches the index in DynamoDB's own time (a
 * global secondary index is eventually consistent, docs/aws.md). */
static void search_after_writes(op_ctx *o) {
  hl_store_ddb *s = o->s;
  const char *key;
  void *v;
  o->waits = 1; /* held until every write is counted */
  for (size_t it = 0; hl_strmap_next(&s->inflight, &it, &key, &v);) wait_for_write(o, v);
  for (bw *w = s->pending; w; w = w->next) wait_for_write(o, w);
  if (--o->waits == 0) search_first(o);
}

/* The cursor's row as the index's key: the table's key and the index's. */
static void delivery_search(hl_store *base, const hl_delivery_query *q, hl_store_cb cb, void *data) {
  op_ctx *o = op_new(ddb(base), OP_DELIVERY_SEARCH, cb, data);
  o->q = *q;
  o->q.subscription_id = hl_strdup(q->subscription_id);
  o->q.status = q->status ? hl_strdup(q->status) : NULL;
  o->q.after_event_id = hl_strdup(q->after_event_id ? q->after_event_id : "");
  hl_json_doc_init(&o->start);
  if (o->q.after_event_id[0]) {
    hl_buf k = HL_BUF_INIT;
    hl_jw w;
    hl_jw_open(&w, &k);
    hl_jw_key(&w, "event_id"); hl_jw_obj_begin(&w); hl_jw_key_str(&w, "S", o->q.after_event_id); hl_jw_obj_end(&w);
    hl_jw_key(&w, "subscription_id"); hl_jw_obj_begin(&w); hl_jw_key_str(&w, "S", o->q.subscription_id);
    hl_jw_obj_end(&w);
    char n[24];
    hl_jw_key(&w, "updated_at"); hl_jw_obj_begin(&w); hl_jw_key_str(&w, "N", hl_ddb_i64(n, q->after_updated_at));
    hl_jw_obj_end(&w);
    hl_jw_obj_end(&w);
    o->has_start = hl_json_parse(&o->start, k.data, k.len, NULL) == 0;
    hl_buf_dispose(&k);
  }
  search_after_writes(o);
}

/* The attempt log: one item a slot, keyed by the delivery ("<length of the
 * event id>:<event id>/<subscription id>", unambiguous whatever the ids
 * hold) and the slot. */
static char *attempt_delivery_id(const char *event_id, const char *subscription_id) {
  hl_buf b = HL_BUF_INIT;
  hl_buf_printf(&b, "%zu:%s/%s", strlen(event_id), event_id, subscription_id);
  return b.data;
}

static void attempt_put(hl_store *base, const hl_attempt_rec *r, hl_store_cb cb, void *data) {
  hl_store_ddb *s = ddb(base);
  char nb[6][24];
  char *id = attempt_delivery_id(r->event_id, r->subscription_id);
  hl_ddb_attr a[13];
  size_t n = 0;
  a[n++] = (hl_ddb_attr){"delivery_id", hl_ddb_s(id)};
  a[n++] = (hl_ddb_attr){"slot", hl_ddb_n(hl_ddb_i64(nb[0], (r->attempt - 1) % HL_ATTEMPT_LOG_MAX))};
  a[n++] = (hl_ddb_attr){"event_id", hl_ddb_s(r->event_id)};
  a[n++] = (hl_ddb_attr){"subscription_id", hl_ddb_s(r->subscription_id)};
  a[n++] = (hl_ddb_attr){"attempt", hl_ddb_n(hl_ddb_i64(nb[1], r->attempt))};
  a[n++] = (hl_ddb_attr){"at_ms", hl_ddb_n(hl_ddb_i64(nb[2], r->at_ms))};
  a[n++] = (hl_ddb_attr){"status_code", hl_ddb_n(hl_ddb_i64(nb[3], r->status_code))};
  a[n++] = (hl_ddb_attr){"latency_ms", hl_ddb_n(hl_ddb_i64(nb[4], r->latency_ms))};
  OPT_S(a, n, "error", r->error);
  OPT_S(a, n, "headers", r->headers_json);
  /* DynamoDB refuses an empty string in some versions: no answer, no attribute. */
  if (r->body && *r->body) a[n++] = (hl_ddb_attr){"body", hl_ddb_s(r->body)};
  a[n++] = (hl_ddb_attr){"truncated", hl_ddb_bool(r->truncated)};
  if (s->failed_ttl_s > 0)
    a[n++] = (hl_ddb_attr){"expires_at", hl_ddb_n(hl_ddb_i64(nb[5], r->at_ms / 1000 + s->failed_ttl_s))};
  hl_buf body = HL_BUF_INIT;
  int rc = hl_ddb_put_item(&body, s->t.attempt_table, (hl_ddb_item){a, n}, NULL);
  hl_free(id);
  send_op(op_new(s, OP_WRITE, cb, data), HL_DDB_PUT_ITEM, &body, rc);
}

static void attempt_list(hl_store *base, const char *event_id, const char *subscription_id, hl_store_cb cb,
                         void *data) {
  op_ctx *o = op_new(ddb(base), OP_ATTEMPT_LIST, cb, data);
  o->event_id = attempt_delivery_id(event_id, subscription_id);
  page_more(o, NULL);
}

static void ledger_put(hl_store *base, const char *key, const char *status, int64_t expires_at, bool overwrite,
                       hl_store_cb cb, void *data) {
  hl_store_ddb *s = ddb(base);
  char e[24], now[24];
  hl_ddb_attr a[3];
  size_t n = 0;
  a[n++] = (hl_ddb_attr){"idempotency_key", hl_ddb_s(key)};
  a[n++] = (hl_ddb_attr){"status", hl_ddb_s(status)};
  /* 0 means "never expires": no TTL attribute at all. */
  if (expires_at) a[n++] = (hl_ddb_attr){"expires_at", hl_ddb_n(hl_ddb_i64(e, expires_at))};
  if (overwrite) {
    hl_buf item = HL_BUF_INIT;
    encode(&item, a, n);
    enqueue_put(s, s->t.ledger_table, key, &item, cb, data);
    return;
  }
  /* First writer wins; an entry past its expiry counts as absent (TTL
   * removes items lazily, up to days later). */
  hl_ddb_attr v[] = {{":now", hl_ddb_n(hl_ddb_i64(now, hl_wall_ms() / 1000))}};
  hl_ddb_expr x = {.condition = "attribute_not_exists(idempotency_key) OR "
                                "(attribute_exists(expires_at) AND expires_at <= :now)",
                   .values = v, .n_values = 1};
  hl_buf body = HL_BUF_INIT;
  int rc = hl_ddb_put_item(&body, s->t.ledger_table, (hl_ddb_item){a, n}, &x);
  send_op(op_new(s, OP_LEDGER_PUT, cb, data), HL_DDB_PUT_ITEM, &body, rc);
}

/* A ledger read waiting for (or riding in) a BatchGetItem call; readers
 * of one key in one turn share it. */
typedef struct bg {
  struct bg *next;
  char *key;
  bw_cb *cbs;
  size_t ncbs;
  unsigned rounds;  /* times answered as unprocessed */
} bg;

typedef struct {
  hl_store_ddb *s;
  bg **reads;
  size_t n;
} get_ctx;

static void bg_answer(bg *g, int status, const char *value) {
  for (size_t i = 0; i < g->ncbs; i++) {
    hl_store_result res = {0};
    if (value) res.value = hl_strdup(value);
    if (g->cbs[i].cb) g->cbs[i].cb(g->cbs[i].data, status, &res);
    hl_store_result_dispose(&res);
  }
  hl_free(g->key);
  hl_free(g->cbs);
  hl_free(g);
}

static void schedule_gets(hl_store_ddb *s, uint64_t delay_ms);

static void queue_get(hl_store_ddb *s, bg *g) {
  g->next = NULL;
  if (s->gets_tail) s->gets_tail->next = g;
  else s->gets = g;
  s->gets_tail = g;
  hl_strmap_put(&s->gets_by_key, g->key, g);
}

static void on_batch_get(void *data, const hl_aws_status *st, const hl_json *resp) {
  get_ctx *x = data;
  hl_store_ddb *s = x->s;
  const hl_json *found = st->outcome == HL_AWS_OK ? hl_json_get(hl_json_get(resp, "Responses"), s->t.ledger_table) : NULL;
  const hl_json *again = st->outcome == HL_AWS_OK
                             ? hl_json_get(hl_json_get(hl_json_get(resp, "UnprocessedKeys"), s->t.ledger_table), "Keys")
                             : NULL;
  int64_t now_s = hl_wall_ms() / 1000;
  bool requeued = false;
  for (size_t i = 0; i < x->n; i++) {
    bg *g = x->reads[i];
    if (st->outcome != HL_AWS_OK) {
      bg_answer(g, HL_ESTORE, NULL);
      continue;
    }
    bool retry = false;
    for (uint32_t k = 0; again && again->type == HL_JSON_ARRAY && k < again->len && !retry; k++) {
      size_t len = 0;
      const char *v = hl_ddb_item_s(&again->u.items[k], "idempotency_key", &len);
      retry = v && len == strlen(g->key) && memcmp(v, g->key, len) == 0;
    }
    if (retry && !hl_strmap_get(&s->gets_by_key, g->key) && ++g->rounds < 10) {
      /* DynamoDB did not get to it (throttled): ask again shortly. */
      queue_get(s, g);
      requeued = true;
      continue;
    }
    if (retry) {
      bg_answer(g, HL_ESTORE, NULL);
      continue;
    }
    const hl_json *item = NULL;
    for (uint32_t k = 0; found && found->type == HL_JSON_ARRAY && k < found->len && !item; k++) {
      size_t len = 0;
      const char *v = hl_ddb_item_s(&found->u.items[k], "idempotency_key", &len);
      if (v && len == strlen(g->key) && memcmp(v, g->key, len) == 0) item = &found->u.items[k];
    }
    int64_t exp = item ? get_n(item, "expires_at") : 0;
    char *status = item ? get_s(item, "status") : NULL;
    if (!status || (exp && exp <= now_s)) bg_answer(g, HL_ENOTFOUND, NULL);
    else bg_answer(g, 0, status);
    hl_free(status);
  }
  hl_free(x->reads);
  hl_free(x);
  s->nops--;
  if (requeued) schedule_gets(s, 50);
  else if (s->gets) schedule_gets(s, 0);
  maybe_closed(s);
}

/* Sends the pending reads, up to 100 distinct keys a call. */
static void flush_gets(hl_store_ddb *s) {
  while (s->gets) {
    get_ctx *x = hl_calloc(1, sizeof *x);
    x->s = s;
    x->reads = hl_calloc(HL_DDB_BATCH_GET_MAX, sizeof *x->reads);
    hl_ddb_item keys[HL_DDB_BATCH_GET_MAX];
    hl_ddb_attr attrs[HL_DDB_BATCH_GET_MAX];
    while (s->gets && x->n < HL_DDB_BATCH_GET_MAX) {
      bg *g = s->gets;
      s->gets = g->next;
      if (!s->gets) s->gets_tail = NULL;
      hl_strmap_del(&s->gets_by_key, g->key);
      attrs[x->n] = (hl_ddb_attr){"idempotency_key", hl_ddb_s(g->key)};
      keys[x->n] = (hl_ddb_item){&attrs[x->n], 1};
      x->reads[x->n++] = g;
    }
    hl_buf body = HL_BUF_INIT;
    hl_ddb_batch_get(&body, s->t.ledger_table, keys, x->n, true);
    s->nops++;
    hl_ddb_call(&s->client, HL_DDB_BATCH_GET_ITEM, &body, on_batch_get, x);
  }
}

static void on_get_timer(hl_timerq_node *node) { flush_gets(hl_container_of(node, hl_store_ddb, get_node)); }

static void schedule_gets(hl_store_ddb *s, uint64_t delay_ms) {
  if (!hl_timerq_pending(&s->get_node)) hl_timerq_add(&s->client.timers, &s->get_node, delay_ms, on_get_timer);
}

static void ledger_get(hl_store *base, const char *key, hl_store_cb cb, void *data) {
  hl_store_ddb *s = ddb(base);
  bg *g = hl_strmap_get(&s->gets_by_key, key);
  if (!g) {
    g = hl_calloc(1, sizeof *g);
    g->key = hl_strdup(key);
    queue_get(s, g);
  }
  g->cbs = hl_realloc(g->cbs, (g->ncbs + 1) * sizeof *g->cbs);
  g->cbs[g->ncbs++] = (bw_cb){cb, data};
  schedule_gets(s, 0);
}

/* --- health ------------------------------------------------------------------------ */
/* DescribeTable of the delivery status table (every mode writes it), made
 * once with a short timeout so the answer says how DynamoDB is now; and the
 * embedded queue's own check, when there is one. */
#define CHECK_TIMEOUT_MS 2000

typedef struct {
  hl_store_ddb *s;
  hl_store_check_cb cb;
  void *data;
  hl_store_check parts[2]; /* DynamoDB, then the queue's */
  size_t nparts;
  int waiting;
} ddb_check;

static void check_part_done(ddb_check *k) {
  if (--k->waiting > 0) return;
  hl_store_ddb *s = k->s;
  k->cb(k->data, k->parts, k->nparts);
  hl_free(k);
  s->nops--;
  maybe_closed(s);
}

static void on_described(void *data, const hl_aws_status *st, const hl_json *resp) {
  ddb_check *k = data;
  (void)resp;
  hl_store_check *p = &k->parts[0];
  if (st->outcome != HL_AWS_OK) {
    p->status = HL_ESTORE;
    snprintf(p->error, sizeof p->error, "DescribeTable %.64s failed: %.60s (%.100s)", k->s->t.delivery_table,
             st->code[0] ? st->code : hl_aws_outcome_name(st->outcome), st->message);
  }
  check_part_done(k);
}

static void on_queue_checked(void *data, const hl_store_check *parts, size_t n) {
  ddb_check *k = data;
  if (n > 0) k->parts[1] = parts[0];
  check_part_done(k);
}

static void check(hl_store *base, hl_store_check_cb cb, void *data) {
  hl_store_ddb *s = ddb(base);
  ddb_check *k = hl_calloc(1, sizeof *k);
  k->s = s;
  k->cb = cb;
  k->data = data;
  k->parts[0].part = "dynamodb";
  k->nparts = s->queue ? 2 : 1;
  k->waiting = (int)k->nparts;
  s->nops++;
  hl_buf body = HL_BUF_INIT;
  hl_ddb_describe_table(&body, s->t.delivery_table);
  hl_ddb_call_once(&s->client, HL_DDB_DESCRIBE_TABLE, &body, CHECK_TIMEOUT_MS, on_described, k);
  if (s->queue) s->queue->vt->check(s->queue, on_queue_checked, k);
}

/* --- the embedded queue, when there is one -------------------------------------- */
/* The SQLite store keeps the queue; each status it records also goes to
 * DynamoDB, which answers the status queries. */
typedef struct eq_ctx {
  hl_store_ddb *s;
  hl_store_cb cb;
  void *data;
  hl_delivery_rec rec;   /* eq_update: the record to copy over */
  char **subs;           /* eq_accept: the deliveries created */
  size_t nsubs;
  char *event_id;
  int status;
  char *replay;          /* eq_replay: the generation the queue gave */
  bool release;          /* eq_update: the queue row is released too */
  bool copy_first;       /* eq_update: DynamoDB before the queue (a final status) */
  char *final_key;       /* eq_update of a final status: its key in s->finals */
  /* A re-queue or replay waits for a final status of its delivery to reach
   * the queue: the writer keeps them (waiters) and starts each (resume). */
  struct eq_ctx *waiters, *next_waiter;
  void (*resume)(struct eq_ctx *q);
} eq_ctx;

static void on_queue_updated(void *data, int status, hl_store_result *res);

static void eq_ctx_free(eq_ctx *q) {
  hl_free(q->final_key);
  hl_delivery_rec_free(&q->rec);
  hl_free(q->replay);
  for (size_t i = 0; i < q->nsubs; i++) hl_free(q->subs[i]);
  hl_free(q->subs);
  hl_free(q->event_id);
  hl_free(q);
}

/* The key of a delivery in s->finals (NUL-terminated in out). */
static void final_key(hl_buf *out, const char *event_id, const char *subscription_id) {
  hl_buf_puts(out, event_id);
  hl_buf_putc(out, '\x1f');
  hl_buf_puts(out, subscription_id);
  hl_buf_putc(out, '\0');
}

/* A final status has reached the queue (or failed to): the re-queues and
 * replays that waited for it go on, in the order they came. */
static void final_done(eq_ctx *q) {
  if (hl_strmap_get(&q->s->finals, q->final_key) == q) hl_strmap_del(&q->s->finals, q->final_key);
  eq_ctx *w = q->waiters, *order = NULL;
  q->waiters = NULL;
  while (w) { /* they were kept newest first */
    eq_ctx *next = w->next_waiter;
    w->next_waiter = order;
    order = w;
    w = next;
  }
  for (w = order; w; w = order) {
    order = w->next_waiter;
    w->next_waiter = NULL;
    w->resume(w);
  }
}

/* Starts q (a re-queue or a replay) now, or after the final status of its
 * delivery being written reaches the queue beneath: the queue is what the
 * call acts on, and DynamoDB, which the caller read, has that status
 * first. */
static void after_final(eq_ctx *q, void (*resume)(eq_ctx *q)) {
  hl_buf k = HL_BUF_INIT;
  final_key(&k, q->rec.event_id, q->rec.subscription_id);
  eq_ctx *writer = hl_strmap_get(&q->s->finals, k.data);
  hl_buf_dispose(&k);
  q->resume = resume;
  if (!writer) {
    resume(q);
    return;
  }
  q->next_waiter = writer->waiters;
  writer->waiters = q;
}

/* Answers an embedded-queue call and forgets it. */
static void eq_finish(eq_ctx *q, int status, hl_store_result *res) {
  hl_store_ddb *s = q->s;
  if (q->final_key) final_done(q);
  if (q->cb) q->cb(q->data, status, res);
  s->nops--;
  eq_ctx_free(q);
  maybe_closed(s);
}

static void on_accepted(void *data, int status, hl_store_result *res) {
  eq_ctx *q = data;
  hl_store_ddb *s = q->s;
  if (status == 0) {
    /* The event is durable in the queue; the PENDING rows follow on their
     * own (the batcher keeps them ahead of any later status of the same
     * delivery). */
    int64_t now = hl_wall_ms();
    for (size_t i = 0; i < q->nsubs; i++) {
      hl_delivery_rec r = {.event_id = q->event_id, .subscription_id = q->subs[i], .status = "PENDING",
                           .updated_at = now, .next_attempt_at = now};
      delivery_enqueue(s, &r, NULL, NULL);
    }
  }
  eq_finish(q, status, res);
}

static void eq_accept(hl_store *base, const hl_eq_accept *ev, hl_store_cb cb, void *data) {
  hl_store_ddb *s = ddb(base);
  eq_ctx *q = hl_calloc(1, sizeof *q);
  q->s = s;
  q->cb = cb;
  q->data = data;
  q->event_id = hl_strdup(ev->event_id);
  q->subs = hl_calloc(ev->nsubs + 1, sizeof *q->subs);
  for (size_t i = 0; i < ev->nsubs; i++) q->subs[q->nsubs++] = hl_strdup(ev->subscription_ids[i]);
  s->nops++;
  s->queue->vt->eq_accept(s->queue, ev, on_accepted, q);
}

/* The queue answers claims (next_due_at included): its rows are the queue. */
static void eq_claim(hl_store *base, const char *subscription_id, size_t limit, int64_t now_ms, hl_store_cb cb,
                     void *data) {
  hl_store_ddb *s = ddb(base);
  s->queue->vt->eq_claim(s->queue, subscription_id, limit, now_ms, cb, data);
}

static void on_status_copied(void *data, int status, hl_store_result *res) {
  eq_ctx *q = data;
  /* The queue row is what dispatching relies on; a status that could not
   * be copied after every retry is logged, not turned into a failed
   * delivery. */
  if (status != 0)
    hl_log_warn("delivery status not written to DynamoDB", "\"event_id\":\"%s\",\"subscription_id\":\"%s\"",
                q->rec.event_id, q->rec.subscription_id);
  if (q->copy_first) q->s->queue->vt->eq_update(q->s->queue, &q->rec, q->release, on_queue_updated, q);
  else eq_finish(q, q->status, res);
}

static void on_queue_updated(void *data, int status, hl_store_result *res) {
  eq_ctx *q = data;
  if (status != 0 || q->copy_first) {
    eq_finish(q, status, res);
    return;
  }
  q->status = status;
  delivery_enqueue(q->s, &q->rec, on_status_copied, q);
}

/* A final status (SUCCESS, FAILED) goes to DynamoDB first, then to the
 * queue row: a crash between the two leaves the queue row open, so the
 * delivery is claimed again after the restart and its status written
 * again. The other order left a delivery the queue had closed PENDING in
 * DynamoDB for good (a delivered event shown as never delivered,
 * a_202_inside_a_group_commit_survives_kill_9 under load). Any other
 * update goes to the queue first: it may release claims that a claim
 * right after it must see, and a status left behind by a crash is
 * written again by the delivery's next attempt. */
static void eq_update(hl_store *base, const hl_delivery_rec *r, bool release, hl_store_cb cb, void *data) {
  hl_store_ddb *s = ddb(base);
  eq_ctx *q = hl_calloc(1, sizeof *q);
  q->s = s;
  q->cb = cb;
  q->data = data;
  q->release = release;
  q->copy_first = r->status && (strcmp(r->status, "SUCCESS") == 0 || strcmp(r->status, "FAILED") == 0);
  hl_delivery_rec_copy(&q->rec, r);
  s->nops++;
  if (q->copy_first) {
    hl_buf k = HL_BUF_INIT;
    final_key(&k, r->event_id, r->subscription_id);
    q->final_key = k.data;
    /* One claim holds a delivery, so one final status is written at a
     * time; a later one would take the place (its waiters go on too). */
    hl_strmap_put(&s->finals, q->final_key, q);
  }
  if (q->copy_first) delivery_enqueue(s, &q->rec, on_status_copied, q);
  else s->queue->vt->eq_update(s->queue, r, release, on_queue_updated, q);
}

/* The status row of q->rec's delivery open again (PENDING, due now), after
 * the queue beneath reopened it (a re-queue or a replay); cb hears of it. */
static void status_reopen(eq_ctx *q, const char *status, hl_store_cb cb, void *data) {
  hl_store_ddb *s = q->s;
  /* Due now, attempts kept: only these attributes change. */
  char now[24];
  hl_ddb_attr k[] = {{"event_id", hl_ddb_s(q->rec.event_id)}, {"subscription_id", hl_ddb_s(q->rec.subscription_id)}};
  hl_ddb_attr v[] = {{":p", hl_ddb_s(status)}, {":now", hl_ddb_n(hl_ddb_i64(now, hl_wall_ms()))}};
  hl_ddb_name nm[] = {{"#st", "status"}};
  /* Open again: it no longer expires (retention). */
  hl_ddb_expr x = {.update = "SET #st = :p, updated_at = :now, next_attempt_at = :now REMOVE expires_at", .names = nm, .n_names = 1,
                   .values = v, .n_values = 2};
  hl_buf body = HL_BUF_INIT;
  int rc = hl_ddb_update_item(&body, s->t.delivery_table, HL_DDB_ITEM(k), &x);
  op_ctx *o = op_new(s, OP_REQUEUE, cb, data);
  send_op(o, HL_DDB_UPDATE_ITEM, &body, rc);
}

static void on_requeued(void *data, int status, hl_store_result *res) {
  eq_ctx *q = data;
  if (status != 0) {
    eq_finish(q, status, res);
    return;
  }
  /* RETRYING, as the queue beneath has it: its attempts go on. */
  status_reopen(q, "RETRYING", q->cb, q->data);
  q->s->nops--;
  eq_ctx_free(q);
}

/* The context of a call on one delivery of the queue beneath (a re-queue,
 * a replay), counted as an operation until eq_finish. */
static eq_ctx *delivery_ctx(hl_store_ddb *s, const char *event_id, const char *subscription_id, hl_store_cb cb,
                            void *data) {
  eq_ctx *q = hl_calloc(1, sizeof *q);
  q->s = s;
  q->cb = cb;
  q->data = data;
  q->rec.event_id = hl_strdup(event_id);
  q->rec.subscription_id = hl_strdup(subscription_id);
  s->nops++;
  return q;
}

static void requeue_start(eq_ctx *q) {
  q->s->queue->vt->eq_requeue(q->s->queue, q->rec.event_id, q->rec.subscription_id, on_requeued, q);
}

static void eq_requeue(hl_store *base, const char *event_id, const char *subscription_id, hl_store_cb cb,
                       void *data) {
  hl_store_ddb *s = ddb(base);
  after_final(delivery_ctx(s, event_id, subscription_id, cb, data), requeue_start);
}

static int64_t eq_backlog(hl_store *base) {
  hl_store_ddb *s = ddb(base);
  return s->queue->vt->eq_backlog(s->queue);
}

/* --- the events table ----------------------------------------------------------- */
/* The event's record: a PutItem that keeps a record already there (the
 * first acceptance of an id is the transaction record; a client's retry
 * after a queue failure finds it and goes on). A record there with another
 * type or body is HL_ECONFLICT. */
static void event_put(hl_store *base, const hl_eq_accept *ev, hl_store_cb cb, void *data) {
  hl_store_ddb *s = ddb(base);
  char at[24], exp[24];
  int64_t accepted = ev->accepted_at ? ev->accepted_at : hl_wall_ms();
  size_t cap = 6 + ev->nattrs, n = 0;
  hl_ddb_attr *a = hl_calloc(cap, sizeof *a);
  a[n++] = (hl_ddb_attr){"event_id", hl_ddb_s(ev->event_id)};
  a[n++] = (hl_ddb_attr){"event_type", hl_ddb_s(ev->event_type)};
  a[n++] = (hl_ddb_attr){"accepted_at", hl_ddb_n(hl_ddb_i64(at, accepted))};
  a[n++] = (hl_ddb_attr){"body", hl_ddb_sn(ev->body, ev->body_len)};
  if (ev->trace) a[n++] = (hl_ddb_attr){"trace", hl_ddb_s(ev->trace)};
  if (s->events_ttl_s > 0) a[n++] = (hl_ddb_attr){"expires_at", hl_ddb_n(hl_ddb_i64(exp, accepted / 1000 + s->events_ttl_s))};
  for (size_t i = 0; i < ev->nattrs; i++) {
    const hl_event_attr *x = &ev->attrs[i];
    a[n++] = (hl_ddb_attr){x->name, x->type == 'N' ? (hl_ddb_val){.type = HL_DDB_N, .s = x->text, .len = x->len}
                                                   : hl_ddb_sn(x->text, x->len)};
  }
  hl_ddb_expr x = {.condition = "attribute_not_exists(event_id)"};
  hl_buf body = HL_BUF_INIT;
  int rc = hl_ddb_put_item(&body, s->t.events_table, (hl_ddb_item){a, n}, &x);
  hl_free(a);
  op_ctx *o = op_new(s, OP_EVENT_PUT, cb, data);
  o->event_id = hl_strdup(ev->event_id);
  o->event_type = hl_strdup(ev->event_type);
  hl_buf_append(&o->event_body, ev->body, ev->body_len);
  send_op(o, HL_DDB_PUT_ITEM, &body, rc);
}

/* The size DynamoDB gives the item event_put writes for ev: each
 * attribute's name plus its value, a string's UTF-8 bytes, a number's
 * (1 byte per two significant digits, plus 1: its text's length bounds
 * that from above). accepted_at and expires_at are taken at their widest. */
static size_t event_item_size(const hl_eq_accept *ev) {
  size_t n = strlen("event_id") + strlen(ev->event_id) + strlen("event_type") + strlen(ev->event_type) +
             strlen("accepted_at") + 21 + strlen("body") + ev->body_len + strlen("expires_at") + 21;
  if (ev->trace) n += strlen("trace") + strlen(ev->trace);
  for (size_t i = 0; i < ev->nattrs; i++) {
    const hl_event_attr *x = &ev->attrs[i];
    n += strlen(x->name) + (x->type == 'N' ? x->len / 2 + 2 : x->len);
  }
  return n;
}

/* --- parked retries (hl_ddb_park) ------------------------------------------------ */
/* The park and the sweep hold the store while a call of theirs runs. */
static void store_hold(void *owner) { ddb(owner)->nops++; }

static void store_release(void *owner) {
  hl_store_ddb *s = ddb(owner);
  s->nops--;
  maybe_closed(s);
}

static void park_put(hl_store *base, const hl_eq_item *it, hl_store_cb cb, void *data) {
  hl_ddb_park_put(&ddb(base)->park, it, cb, data);
}

static void park_delete(hl_store *base, const hl_eq_item *it, hl_store_cb cb, void *data) {
  hl_ddb_park_delete(&ddb(base)->park, it, cb, data);
}

static void park_take(hl_store *base, int64_t due_by, int64_t now_ms, int64_t lease_until, size_t limit,
                      hl_store_cb cb, void *data) {
  hl_ddb_park_take(&ddb(base)->park, due_by, now_ms, lease_until, limit, cb, data);
}

/* --- close ----------------------------------------------------------------------- */
/* Stages: pending writes and calls drain → the queue store closes → the
 * client closes → the credentials provider closes → freed. */
static void close_step(void *data) {
  hl_store_ddb *s = data;
  switch (s->close_stage++) {
    case 0:
      if (s->queue) {
        s->queue->vt->close(s->queue, close_step, s);
        return;
      }
      /* fall through */
    case 1:
      s->close_stage = 2;
      hl_ddb_client_close(&s->client, close_step, s);
      return;
    case 2:
      hl_aws_creds_close(&s->creds, close_step, s);
      return;
    default: {
      void (*cb)(void *) = s->close_cb;
      void *cd = s->close_data;
      hl_strmap_dispose(&s->pending_by_key);
      hl_strmap_dispose(&s->inflight);
      hl_strmap_dispose(&s->finals);
      hl_strmap_dispose(&s->gets_by_key);
      hl_ddb_sweep_dispose(&s->sweep);
      for (int i = 0; i < NAMES; i++) hl_free(s->names[i]);
      hl_free(s);
      if (cb) cb(cd);
    }
  }
}

/* --- settle: nothing left on its way (hl_store.h) --------------------------- */
typedef struct settle_w {
  hl_store_ddb *s;
  hl_timerq_node node;  /* within_ms */
  hl_store_cb cb;
  void *data;
  struct settle_w *next;
} settle_w;

/* A write batched and not sent, a call or batch not answered (a throttled
 * one waiting out its back-off included), or a read batched. */
static bool on_its_way(const hl_store_ddb *s) { return s->nops || s->pending || s->gets; }

static void settle_answer(settle_w *w, int status) {
  hl_store_ddb *s = w->s;
  for (settle_w **pp = &s->settles; *pp; pp = &(*pp)->next)
    if (*pp == w) {
      *pp = w->next;
      break;
    }
  if (hl_timerq_pending(&w->node)) hl_timerq_remove(&s->client.timers, &w->node);
  hl_store_result res = {0};
  w->cb(w->data, status, &res);
  hl_free(w);
}

static void on_settle_late(hl_timerq_node *n) { settle_answer(hl_container_of(n, settle_w, node), HL_ETIMEOUT); }

static void store_settle(hl_store *base, int64_t within_ms, hl_store_cb cb, void *data) {
  hl_store_ddb *s = ddb(base);
  if (!on_its_way(s) || s->closing) {
    hl_store_result res = {0};
    cb(data, on_its_way(s) ? HL_ECLOSED : 0, &res);
    return;
  }
  settle_w *w = hl_calloc(1, sizeof *w);
  *w = (settle_w){.s = s, .cb = cb, .data = data, .next = s->settles};
  s->settles = w;
  hl_timerq_add(&s->client.timers, &w->node, within_ms > 0 ? (uint64_t)within_ms : 0, on_settle_late);
  /* Sent now rather than at the batch's timer. */
  if (s->pending) flush(s);
  if (s->gets) flush_gets(s);
}

/* Runs wherever a call or batch is answered: the settle() callers, then
 * the close. */
static void maybe_closed(hl_store_ddb *s) {
  while (s->settles && !on_its_way(s)) settle_answer(s->settles, 0);
  if (!s->closing || s->nops || s->pending || s->gets || s->close_stage) return;
  if (hl_timerq_pending(&s->flush_node)) hl_timerq_remove(&s->client.timers, &s->flush_node);
  if (hl_timerq_pending(&s->get_node)) hl_timerq_remove(&s->client.timers, &s->get_node);
  close_step(s);
}

static void store_close(hl_store *base, void (*cb)(void *data), void *data) {
  hl_store_ddb *s = ddb(base);
  s->closing = true;
  s->close_cb = cb;
  s->close_data = data;
  while (s->settles) settle_answer(s->settles, HL_ECLOSED);
  if (s->pending) flush(s);
  if (s->gets) flush_gets(s);
  maybe_closed(s);
}

/* How the store's requests fare: retries climb before failures do. */
static void render_metrics(hl_store *s, hl_buf *out) {
  const hl_ddb_client *c = &ddb(s)->client;
  hl_buf_printf(out,
                "# HELP hookloop_dynamodb_calls_total DynamoDB calls made by the store.\n"
                "# TYPE hookloop_dynamodb_calls_total counter\n"
                "hookloop_dynamodb_calls_total %lld\n"
                "# HELP hookloop_dynamodb_retries_total DynamoDB attempts retried (throttling, 5xx, connection errors).\n"
                "# TYPE hookloop_dynamodb_retries_total counter\n"
                "hookloop_dynamodb_retries_total %lld\n"
                "# HELP hookloop_dynamodb_failures_total DynamoDB calls that ended in an error.\n"
                "# TYPE hookloop_dynamodb_failures_total counter\n"
                "hookloop_dynamodb_failures_total %lld\n",
                (long long)c->calls, (long long)c->retries, (long long)c->failures);
  /* The embedded queue's own (the SQLite store's checkpoints). */
  hl_store *q = ddb(s)->queue;
  if (q && q->vt->render_metrics) q->vt->render_metrics(q, out);
}

/* --- retention of the embedded queue beneath ---------------------------------------- */
/* Its deliveries and event bodies go by its own purge (DynamoDB's items
 * expire by TTL). Its subscriptions table is not the one the API writes
 * (they are in DynamoDB: to the queue every subscription would look
 * deleted), so a deleted subscription's waiting deliveries are closed by
 * the sweep (hl_ddb_sweep.h), which asks DynamoDB, after the purge. */
typedef struct {
  hl_store_ddb *s;
  hl_store_cb cb;
  void *data;
  hl_store_purge p;
  hl_store_result res; /* the purge's counts, then the sweep's */
} purge_ctx;

static void purge_finish(purge_ctx *c, int status) {
  hl_store_ddb *s = c->s;
  if (c->cb) c->cb(c->data, status, &c->res);
  hl_store_result_dispose(&c->res);
  hl_free(c);
  s->nops--;
  maybe_closed(s);
}

/* A sweep that failed (it says why in the log) is not the purge's
 * failure: what the purge deleted was deleted, and is counted; the next
 * batch sweeps again. */
static void on_swept(void *data, int status, hl_store_result *res) {
  purge_ctx *c = data;
  if (status == 0) c->res.purged.closed = res->purged.closed;
  purge_finish(c, 0);
}

static void on_queue_purged(void *data, int status, hl_store_result *res) {
  purge_ctx *c = data;
  c->res.purged = res->purged;
  c->res.purged.closed = 0;
  if (status != 0 || !c->p.close_deleted || !c->s->queue->vt->eq_open_subs) {
    purge_finish(c, status);
    return;
  }
  hl_ddb_sweep_run(&c->s->sweep, &c->p, on_swept, c);
}

static void queue_purge(hl_store *base, const hl_store_purge *p, hl_store_cb cb, void *data) {
  hl_store_ddb *s = ddb(base);
  purge_ctx *c = hl_calloc(1, sizeof *c);
  *c = (purge_ctx){.s = s, .cb = cb, .data = data, .p = *p};
  s->nops++;
  hl_store_purge q = *p;
  q.close_deleted = false;
  s->queue->vt->purge(s->queue, &q, on_queue_purged, c);
}

/* A status the sweep closes a delivery with goes the way of a dispatcher's
 * final status (eq_update): DynamoDB first, and meanwhile in s->finals, so
 * that a re-queue or replay of the delivery waits until the queue has it
 * too (sweep_final_end, after the sweep's close). */
static void *sweep_final_begin(void *owner, const hl_delivery_rec *r, hl_store_cb cb, void *data) {
  hl_store_ddb *s = ddb(owner);
  eq_ctx *q = hl_calloc(1, sizeof *q);
  q->s = s;
  hl_delivery_rec_copy(&q->rec, r);
  hl_buf k = HL_BUF_INIT;
  final_key(&k, r->event_id, r->subscription_id);
  q->final_key = k.data;
  hl_strmap_put(&s->finals, q->final_key, q);
  delivery_enqueue(s, &q->rec, cb, data);
  return q;
}

static void sweep_final_end(void *owner, void *handle) {
  (void)owner;
  eq_ctx *q = handle;
  final_done(q);
  eq_ctx_free(q);
}

static void eq_claim_head(hl_store *base, const char *subscription_id, int64_t now_ms, hl_store_cb cb,
                          void *data);
static void eq_replay(hl_store *base, const char *event_id, const char *subscription_id, hl_store_cb cb,
                      void *data);
static void delivery_replay(hl_store *base, const char *event_id, const char *subscription_id, int64_t now_ms,
                            int64_t hold_ms, hl_store_cb cb, void *data);
static void delivery_replay_undo(hl_store *base, const char *event_id, const char *subscription_id, int64_t gen,
                                 int64_t marked_at, hl_store_cb cb, void *data);
static void delivery_replay_open(hl_store *base, const char *event_id, const char *subscription_id, int64_t gen,
                                 int64_t updated_at, hl_store_cb cb, void *data);

/* Both vtables: the records in DynamoDB; the second with an embedded queue. */
#define DDB_VT                                                                                              \
  .name = "dynamodb", .close = store_close, .settle = store_settle, HL_STORE_VT_RECORDS, .event_put = event_put,                    \
  .event_size = event_item_size, .event_size_max = HL_DDB_ITEM_MAX, .render_metrics = render_metrics, .delivery_replay = delivery_replay,    \
  .delivery_replay_open = delivery_replay_open, .delivery_replay_undo = delivery_replay_undo

static const hl_store_vtable ddb_vt = {DDB_VT};
static const hl_store_vtable ddb_queue_vt = {DDB_VT, HL_STORE_VT_QUEUE, .eq_claim_head = eq_claim_head,
                                             .eq_replay = eq_replay, .purge = queue_purge};
#undef DDB_VT

static void on_queue_closed(void *data) { (void)data; }
static void on_failed_open_closed(void *data) { hl_free(data); }

int hl_store_ddb_open(uv_loop_t *loop, hl_curl_uv *curl, const hl_ddb_config *cfg, hl_store *queue,
                      hl_store **out, char *err, size_t errlen) {
  *out = NULL;
  hl_store_ddb *s = hl_calloc(1, sizeof *s);
  int rc = hl_aws_creds_init(&s->creds, loop, curl, &cfg->creds, err, errlen);
  if (rc == 0) rc = hl_ddb_client_init(&s->client, loop, curl, &s->creds, &cfg->client, err, errlen);
  if (rc != 0) {
    /* The provider's timer is open either way; s goes once it is closed. */
    hl_aws_creds_close(&s->creds, on_failed_open_closed, s);
    if (queue) queue->vt->close(queue, on_queue_closed, NULL);
    return rc;
  }
  hl_table_names def;
  hl_table_names_default(&def);
  const char *src[NAMES] = {cfg->tables.schema_table ? cfg->tables.schema_table : def.schema_table,
                        cfg->tables.subscription_table ? cfg->tables.subscription_table : def.subscription_table,
                        cfg->tables.kafka_table ? cfg->tables.kafka_table : def.kafka_table,
                        cfg->tables.delivery_table ? cfg->tables.delivery_table : def.delivery_table,
                        cfg->tables.ledger_table ? cfg->tables.ledger_table : def.ledger_table,
                        cfg->tables.parked_table ? cfg->tables.parked_table : def.parked_table,
                        cfg->tables.transform_table ? cfg->tables.transform_table : def.transform_table,
                        cfg->tables.partner_table ? cfg->tables.partner_table : def.partner_table,
                        cfg->tables.attempt_table ? cfg->tables.attempt_table : def.attempt_table,
                        cfg->tables.events_table ? cfg->tables.events_table : def.events_table,
                        cfg->tables.queue_table ? cfg->tables.queue_table : def.queue_table};

  for (int i = 0; i < NAMES; i++) s->names[i] = hl_strdup(src[i]);
  s->t = (hl_table_names){s->names[0], s->names[1], s->names[2], s->names[3], s->names[4], s->names[5],
                          s->names[6], s->names[7], s->names[8], s->names[9], s->names[10]};
  hl_strmap_init(&s->pending_by_key);
  hl_strmap_init(&s->inflight);
  hl_strmap_init(&s->finals);
  hl_strmap_init(&s->gets_by_key);
  s->queue = queue;
  s->page_limit = cfg->page_limit;
  s->events_ttl_s = cfg->events_ttl_s;
  s->delivered_ttl_s = cfg->delivered_ttl_s;
  s->failed_ttl_s = cfg->failed_ttl_s;
  s->park = (hl_ddb_park){.client = &s->client, .table = s->t.parked_table, .page_limit = s->page_limit,
                          .hold = store_hold, .release = store_release, .owner = s};
  s->sweep = (hl_ddb_sweep){.client = &s->client, .table = s->t.subscription_table, .page_limit = s->page_limit,
                            .queue = queue, .final_begin = sweep_final_begin, .final_end = sweep_final_end,
                            .hold = store_hold, .release = store_release, .owner = s};
  s->base.vt = queue ? &ddb_queue_vt : &ddb_vt;
  *out = &s->base;
  return 0;
}

hl_ddb_client *hl_store_ddb_client(hl_store *s) { return &ddb(s)->client; }
const hl_table_names *hl_store_ddb_tables(hl_store *s) { return &ddb(s)->t; }

/* Ordered delivery on the embedded queue beneath (SQLite): its rows are the
 * queue, so its head claim is the one (HL_EUNSUPPORTED if it has none). */
static void eq_claim_head(hl_store *base, const char *subscription_id, int64_t now_ms, hl_store_cb cb,
                          void *data) {
  hl_store_ddb *s = ddb(base);
  if (!s->queue->vt->eq_claim_head) {
    cb(data, HL_EUNSUPPORTED, &(hl_store_result){0});
    return;
  }
  s->queue->vt->eq_claim_head(s->queue, subscription_id, now_ms, cb, data);
}

/* --- replay (the embedded queue beneath) ------------------------------------------ */
/* The queue reopens the delivery (its body is there); then the status row
 * here says PENDING again, as for a re-queue, and the answer carries the
 * queue's replay generation. */
static void on_replay_status(void *data, int status, hl_store_result *res) {
  eq_ctx *q = data;
  if (status == 0) {
    hl_free(res->value);
    res->value = q->replay;
    q->replay = NULL;
  }
  eq_finish(q, status, res);
}

static void on_replayed(void *data, int status, hl_store_result *res) {
  eq_ctx *q = data;
  if (status != 0) {
    eq_finish(q, status, res);
    return;
  }
  q->replay = res->value;
  res->value = NULL;
  status_reopen(q, "PENDING", on_replay_status, q);
}

static void replay_start(eq_ctx *q) {
  q->s->queue->vt->eq_replay(q->s->queue, q->rec.event_id, q->rec.subscription_id, on_replayed, q);
}

static void eq_replay(hl_store *base, const char *event_id, const char *subscription_id, hl_store_cb cb,
                      void *data) {
  after_final(delivery_ctx(ddb(base), event_id, subscription_id, cb, data), replay_start);
}

/* --- replay where the bytes are the queue's (Kafka) -------------------------------- */
/* One conditional UpdateItem of the status row: terminal -> one
 * generation up (ALL_NEW gives it back), the rest as it is; it stays
 * terminal (and expiring) until its record is on the topic. */
static void delivery_replay(hl_store *base, const char *event_id, const char *subscription_id, int64_t now_ms,
                            int64_t hold_ms, hl_store_cb cb, void *data) {
  hl_store_ddb *s = ddb(base);
  char now[24], since[24];
  hl_ddb_attr k[] = {{"event_id", hl_ddb_s(event_id)}, {"subscription_id", hl_ddb_s(subscription_id)}};
  hl_ddb_attr v[] = {{":ok", hl_ddb_s("SUCCESS")}, {":failed", hl_ddb_s("FAILED")}, {":zero", hl_ddb_n("0")},
                     {":one", hl_ddb_n("1")}, {":now", hl_ddb_n(hl_ddb_i64(now, now_ms))},
                     {":since", hl_ddb_n(hl_ddb_i64(since, now_ms - hold_ms))}};
  hl_ddb_name nm[] = {{"#st", "status"}};
  /* The mark (replay_at) counts while it is younger than the hold and
   * nothing was written to the row after it; an outcome's PutItem drops
   * it with the rest of the row. */
  hl_ddb_expr x = {.update = "SET replays = if_not_exists(replays, :zero) + :one, replay_at = :now",
                   .condition = "#st IN (:ok, :failed) AND (attribute_not_exists(replay_at) OR replay_at <= :since "
                                "OR updated_at >= replay_at)",
                   .names = nm, .n_names = 1, .values = v, .n_values = HL_ARRAY_SIZE(v), .return_values = "ALL_NEW"};
  hl_buf body = HL_BUF_INIT;
  int rc = hl_ddb_update_item(&body, s->t.delivery_table, HL_DDB_ITEM(k), &x);
  op_ctx *o = op_new(s, OP_REPLAY, cb, data);
  send_op(o, HL_DDB_UPDATE_ITEM, &body, rc);
}

/* The mark of a replay whose produce failed, taken off if it is still
 * this replay's (no condition failure is an error: another replay's mark,
 * or the row written since, is left as it is). */
static void delivery_replay_undo(hl_store *base, const char *event_id, const char *subscription_id, int64_t gen,
                                 int64_t marked_at, hl_store_cb cb, void *data) {
  hl_store_ddb *s = ddb(base);
  char g[24], t[24];
  hl_ddb_attr k[] = {{"event_id", hl_ddb_s(event_id)}, {"subscription_id", hl_ddb_s(subscription_id)}};
  hl_ddb_attr v[] = {{":gen", hl_ddb_n(hl_ddb_i64(g, gen))}, {":at", hl_ddb_n(hl_ddb_i64(t, marked_at))}};
  hl_ddb_expr x = {.update = "REMOVE replay_at", .condition = "replays = :gen AND replay_at = :at", .values = v,
                   .n_values = HL_ARRAY_SIZE(v)};
  hl_buf body = HL_BUF_INIT;
  int rc = hl_ddb_update_item(&body, s->t.delivery_table, HL_DDB_ITEM(k), &x);
  op_ctx *o = op_new(s, OP_REPLAY_UNDO, cb, data);
  send_op(o, HL_DDB_UPDATE_ITEM, &body, rc);
}

/* Reopened: PENDING, due now, open again, so it no longer expires. */
static void delivery_replay_open(hl_store *base, const char *event_id, const char *subscription_id, int64_t gen,
                                 int64_t updated_at, hl_store_cb cb, void *data) {
  hl_store_ddb *s = ddb(base);
  char now[24], g[24], t[24];
  hl_ddb_attr k[] = {{"event_id", hl_ddb_s(event_id)}, {"subscription_id", hl_ddb_s(subscription_id)}};
  hl_ddb_attr v[] = {{":p", hl_ddb_s("PENDING")}, {":now", hl_ddb_n(hl_ddb_i64(now, hl_wall_ms()))},
                     {":ok", hl_ddb_s("SUCCESS")}, {":failed", hl_ddb_s("FAILED")},
                     {":gen", hl_ddb_n(hl_ddb_i64(g, gen))}, {":read", hl_ddb_n(hl_ddb_i64(t, updated_at))}};
  hl_ddb_name nm[] = {{"#st", "status"}};
  hl_ddb_expr x = {.update = "SET #st = :p, updated_at = :now, next_attempt_at = :now REMOVE expires_at",
                   .condition = "#st IN (:ok, :failed) AND replays = :gen AND updated_at = :read", .names = nm,
                   .n_names = 1, .values = v, .n_values = HL_ARRAY_SIZE(v)};
  hl_buf body = HL_BUF_INIT;
  int rc = hl_ddb_update_item(&body, s->t.delivery_table, HL_DDB_ITEM(k), &x);
  op_ctx *o = op_new(s, OP_REPLAY_OPEN, cb, data);
  send_op(o, HL_DDB_UPDATE_ITEM, &body, rc);
}
