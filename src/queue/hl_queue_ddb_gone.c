/* hl_queue_ddb_gone.c — the DynamoDB queue's deleted subscriptions
 * (hl_queue_ddb.h, "Deleted subscriptions"; docs/aws.md). */
#include "queue/hl_queue_ddb_int.h"

#include <stdio.h>
#include <string.h>

#include "common/hl_common.h"
#include "common/hl_log.h"

/* --- a deleted subscription's waiting deliveries (hl_queue.h, forget_sub/sweep) -------- */
/* The notes: the queue table's partition GONE_PK, one item per deleted
 * subscription (subscription_id; partner_id, event_type, deleted_at; or,
 * written by a look at the earlier versions' partitions for a subscription
 * an earlier version deleted, checked_absent instead of partner_id). A
 * note is kept at least GONE_STALE_MS: a process whose registry still has
 * the subscription (it reads them again every HOOKLOOP_CONFIG_TTL_S, 60 s
 * by default) may accept rows for it after the delete, and those are
 * closed too. A note whose subscription is still stored that long after it
 * was written is one whose delete failed or never came (the process died
 * between the two): dropped. Younger, it may be a delete still under way:
 * kept. */
#define GONE_PK HL_QDDB_GONE_PK
#define GONE_STALE_MS 600000
/* Notes one sweep reads. */
#define GONE_NOTES 16

typedef struct {
  ddbq *q;
  hl_store_cb cb;
  void *data;
} note_ctx;

static void on_noted(void *data, const hl_aws_status *st, const hl_json *resp) {
  hl_store_result res = {0};
  (void)resp;
  note_ctx *n = data;
  ddbq *q = n->q;
  /* Answered even after destroy(): the API's DELETE waits for it (and
   * the store it goes on to is closed after the queue). */
  n->cb(n->data, st->outcome == HL_AWS_OK ? 0 : HL_ESTORE, &res);
  hl_free(n);
  hl_qddb_op_done(q);
}

void hl_qddb_forget_sub(hl_queue *base, const hl_sub_rec *r, hl_store_cb cb, void *data) {
  ddbq *q = Q(base);
  hl_qddb_fresh_forget(q, r->subscription_id); /* no claim of it comes now; the sweep closes its rows */
  hl_qddb_adopt_forget(q, r->subscription_id);
  char at[24];
  hl_ddb_attr it[] = {{"event_id", hl_ddb_s(GONE_PK)},
                      {"subscription_id", hl_ddb_s(r->subscription_id)},
                      {"partner_id", hl_ddb_s(r->partner_id)},
                      {"event_type", hl_ddb_s(r->event_type)},
                      {"deleted_at", hl_ddb_n(hl_ddb_i64(at, hl_wall_ms()))}};
  hl_buf body = HL_BUF_INIT;
  hl_ddb_put_item(&body, q->table, HL_DDB_ITEM(it), NULL);
  note_ctx *n = hl_malloc(sizeof *n);
  *n = (note_ctx){q, cb, data};
  hl_qddb_call(q, HL_DDB_PUT_ITEM, &body, on_noted, n);
}

/* One sweep: the notes, then for each (in turn) whether its subscription
 * is still stored, its open rows (its own eight partitions, and the
 * earlier versions' shared ones), each closed with a conditional
 * UpdateItem, and the note dropped once nothing of it is left open and it
 * is GONE_STALE_MS old. */
typedef struct {
  char *sub_id, *partner_id, *event_type;
  int64_t deleted_at;
  /* Written by a look at the earlier versions' partitions after a
   * consistent read found no such subscription (hl_queue_ddb_legacy.c):
   * no partner id to read it by, and no need to. */
  bool checked_absent;
} gone_note;

typedef struct {
  ddbq *q;
  int64_t now;
  size_t budget;        /* rows this sweep may still close */
  hl_store_cb cb;
  void *data;
  gone_note *notes;
  size_t nnotes, at;    /* the note being swept */
  size_t pending;       /* calls out for the current step */
  bool left;            /* the current note keeps rows open: held, not read, or a call failed */
  size_t closed_now;    /* rows closed in the current round of the note */
  candidate *cand;
  size_t ncand, capcand;
  int64_t closed;
  bool failed;          /* a read failed: answered as an error after what was closed */
} sweep_ctx;

typedef struct {
  sweep_ctx *w;
  uint64_t shard;
  bool legacy;
  int pages;
} sweep_part;

static void sweep_note(sweep_ctx *w);

static void sweep_answer(sweep_ctx *w) {
  ddbq *q = w->q;
  hl_store_result res = {0};
  res.purged.closed = w->closed;
  q->gone_closed += (uint64_t)w->closed;
  q->busy--;
  /* Answered even after destroy(): retention's close waits for it. */
  w->cb(w->data, w->failed && w->closed == 0 ? HL_ESTORE : 0, &res);
  for (size_t i = 0; i < w->nnotes; i++)
    hl_free_all(w->notes[i].sub_id, w->notes[i].partner_id, w->notes[i].event_type);
  hl_free(w->notes);
  hl_free(w->cand);
  hl_free(w);
}

static void sweep_next_note(sweep_ctx *w) {
  w->at++;
  sweep_note(w);
}

static void drop_cands(sweep_ctx *w) {
  for (size_t i = 0; i < w->ncand; i++) hl_free_all(w->cand[i].event_id, w->cand[i].sub_id, w->cand[i].due_key);
  w->ncand = 0;
}

static void on_note_dropped(void *data, const hl_aws_status *st, const hl_json *resp) {
  sweep_ctx *w = data;
  ddbq *q = w->q;
  (void)resp;
  if (st->outcome != HL_AWS_OK) w->failed = true;
  sweep_next_note(w);
  hl_qddb_op_done(q);
}

static void drop_note(sweep_ctx *w) {
  hl_ddb_attr key[] = {{"event_id", hl_ddb_s(GONE_PK)}, {"subscription_id", hl_ddb_s(w->notes[w->at].sub_id)}};
  hl_buf body = HL_BUF_INIT;
  hl_ddb_delete_item(&body, w->q->table, HL_DDB_ITEM(key), NULL);
  hl_qddb_call(w->q, HL_DDB_DELETE_ITEM, &body, on_note_dropped, w);
}

/* A fifo subscription's order (its partition "#fifo#<id>": the counter
 * and an entry per delivery once open) is read by nobody once it is
 * deleted: a page of it is deleted before the note goes, and the note
 * stays while more is left. */
#define ORDER_PAGE 25

static void on_order_entry_deleted(void *data, const hl_aws_status *st, const hl_json *resp) {
  sweep_ctx *w = data;
  ddbq *q = w->q;
  (void)resp;
  if (st->outcome != HL_AWS_OK) w->left = true;
  if (--w->pending == 0) {
    if (w->left || q->dead) sweep_next_note(w);
    else drop_note(w);
  }
  hl_qddb_op_done(q);
}

static void on_order_read(void *data, const hl_aws_status *st, const hl_json *resp) {
  sweep_ctx *w = data;
  ddbq *q = w->q;
  const hl_json *items = hl_json_get(resp, "Items");
  size_t n = st->outcome == HL_AWS_OK && items && items->type == HL_JSON_ARRAY ? items->len : 0;
  const hl_json *last = hl_json_get(resp, "LastEvaluatedKey");
  w->left = st->outcome != HL_AWS_OK || (last && last->type == HL_JSON_OBJECT && last->len > 0);
  if (n == 0 || q->dead) {
    if (w->left || q->dead) sweep_next_note(w);
    else drop_note(w);
  } else {
    w->pending = n;
    for (size_t i = 0; i < n; i++) {
      const hl_json *it = &items->u.items[i];
      char *pk = hl_ddb_item_sdup(it, "event_id"), *sk = hl_ddb_item_sdup(it, "subscription_id");
      hl_ddb_attr key[] = {{"event_id", hl_ddb_s(pk ? pk : "")}, {"subscription_id", hl_ddb_s(sk ? sk : "")}};
      hl_buf body = HL_BUF_INIT;
      hl_ddb_delete_item(&body, q->table, HL_DDB_ITEM(key), NULL);
      hl_free_all(pk, sk);
      hl_qddb_call(q, HL_DDB_DELETE_ITEM, &body, on_order_entry_deleted, w);
    }
  }
  hl_qddb_op_done(q);
}

static void drop_order_then_note(sweep_ctx *w) {
  hl_buf pk = HL_BUF_INIT;
  hl_qddb_order_pk(&pk, w->notes[w->at].sub_id);
  hl_ddb_attr v[] = {{":p", hl_ddb_s(pk.data)}};
  hl_ddb_query_args qa = {.key_condition = "event_id = :p", .values = v, .n_values = 1, .limit = ORDER_PAGE,
                          .consistent = true};
  hl_buf body = HL_BUF_INIT;
  hl_ddb_query(&body, w->q->table, &qa);
  hl_buf_dispose(&pk);
  hl_qddb_call(w->q, HL_DDB_QUERY, &body, on_order_read, w);
}

static void sweep_read(sweep_ctx *w);

/* Every row of the round answered: the note goes when nothing of it is
 * left open and it is old enough; a round that closed rows and left more
 * (a full page) is followed by another while the budget lasts. */
static void sweep_round_done(sweep_ctx *w) {
  drop_cands(w);
  if (w->q->dead) { /* destroyed meanwhile: what was not closed stays noted */
    sweep_answer(w);
  } else if (w->left && w->closed_now > 0 && w->budget > 0) {
    sweep_read(w);
  } else if (!w->left && w->now - w->notes[w->at].deleted_at >= GONE_STALE_MS) {
    drop_order_then_note(w);
  } else {
    sweep_next_note(w);
  }
}

static void on_row_closed(void *data, const hl_aws_status *st, const hl_json *resp) {
  sweep_ctx *w = data;
  ddbq *q = w->q;
  const hl_json *a = hl_json_get(resp, "Attributes");
  if (st->outcome == HL_AWS_OK && a) {
    w->closed++;
    w->closed_now++;
    if (!q->dead) {
      /* The status the API reads, as the record of any final outcome. */
      char *e = hl_ddb_item_sdup(a, "event_id"), *sid = hl_ddb_item_sdup(a, "subscription_id");
      char *tr = hl_ddb_item_sdup(a, "transformation");
      hl_delivery_rec r = {.event_id = e, .subscription_id = sid, .status = (char *)"FAILED",
                           .attempts = hl_ddb_item_i64_or0(a, "attempts"),
                           .last_status_code = hl_ddb_item_i64_or0(a, "last_status_code"),
                           .last_error = (char *)HL_STORE_SUB_DELETED,
                           .last_latency_ms = hl_ddb_item_i64_or0(a, "last_latency_ms"), .updated_at = w->now,
                           .transformation = tr};
      if (e && sid) q->store->vt->delivery_put(q->store, &r, NULL, NULL);
      hl_free_all(e, sid, tr);
    }
  } else {
    /* Claimed since it was read (a process whose registry still has the
     * subscription), or the call failed: the next sweep looks again. */
    w->left = true;
  }
  if (--w->pending == 0) sweep_round_done(w);
  hl_qddb_op_done(q);
}

static void close_rows(sweep_ctx *w) {
  ddbq *q = w->q;
  size_t n = w->ncand < w->budget ? w->ncand : w->budget;
  if (n < w->ncand) w->left = true;
  if (n == 0 || q->dead) {
    sweep_round_done(w);
    return;
  }
  w->budget -= n;
  w->pending = n;
  char now[24], before[24];
  hl_ddb_i64(now, w->now);
  const gone_note *note = &w->notes[w->at];
  hl_ddb_i64(before, note->deleted_at);
  /* A checked note: the row also unchanged since before the check (see
   * on_sweep_part). */
  const char *cond = note->checked_absent
                         ? "due_key = :dk AND (attribute_not_exists(lease_until) OR lease_until < :now) "
                           "AND (attribute_not_exists(updated_at) OR updated_at < :before)"
                         : "due_key = :dk AND (attribute_not_exists(lease_until) OR lease_until < :now)";
  for (size_t i = 0; i < n; i++) {
    hl_ddb_attr key[] = {{"event_id", hl_ddb_s(w->cand[i].event_id)},
                         {"subscription_id", hl_ddb_s(w->cand[i].sub_id)}};
    hl_ddb_attr v[] = {{":f", hl_ddb_s("FAILED")}, {":e", hl_ddb_s(HL_STORE_SUB_DELETED)},
                       {":now", hl_ddb_n(now)}, {":dk", hl_ddb_s(w->cand[i].due_key)},
                       {":before", hl_ddb_n(before)}};
    size_t nv = note->checked_absent ? HL_ARRAY_SIZE(v) : HL_ARRAY_SIZE(v) - 1;
    hl_ddb_name nm[] = {{"#st", "status"}};
    /* Off the index; a row a live lease holds is left to its holder. */
    hl_ddb_expr x = {.update = "SET #st = :f, last_error = :e, updated_at = :now "
                               "REMOVE due_shard, due_key, lease_owner, lease_until",
                     .condition = cond, .names = nm, .n_names = 1, .values = v, .n_values = nv,
                     .return_values = "ALL_NEW"};
    hl_buf body = HL_BUF_INIT;
    hl_ddb_update_item(&body, q->table, HL_DDB_ITEM(key), &x);
    hl_qddb_call(q, HL_DDB_UPDATE_ITEM, &body, on_row_closed, w);
  }
}

static void sweep_part_query(sweep_part *sp, const hl_json *start);

static void on_sweep_part(void *data, const hl_aws_status *st, const hl_json *resp) {
  sweep_part *sp = data;
  sweep_ctx *w = sp->w;
  ddbq *q = w->q;
  sp->pages++;
  if (st->outcome != HL_AWS_OK) {
    w->failed = true;
    w->left = true;
  } else {
    const hl_json *items = hl_json_get(resp, "Items");
    for (uint32_t i = 0; items && items->type == HL_JSON_ARRAY && i < items->len; i++) {
      const hl_json *it = &items->u.items[i];
      if (hl_ddb_item_i64_or0(it, "lease_until") >= w->now) {
        w->left = true; /* in flight somewhere: its holder records it */
        continue;
      }
      /* A checked note covers the rows that waited from before its check:
       * one written since is a re-created subscription's (an update in
       * place through a process whose registry still had it), not this
       * note's. */
      if (w->notes[w->at].checked_absent && hl_ddb_item_i64_or0(it, "updated_at") >= w->notes[w->at].deleted_at)
        continue;
      hl_qddb_cand_push(&w->cand, &w->ncand, &w->capcand, it);
    }
    const hl_json *last = hl_json_get(resp, "LastEvaluatedKey");
    if (last && last->type == HL_JSON_OBJECT && last->len > 0) {
      /* An earlier version's partition holds every subscription's rows:
       * read on past the others' (bounded); the note's own partitions are
       * read a page a round. */
      if (sp->legacy && sp->pages < QUERY_PAGES && w->ncand < w->budget && !q->dead) {
        sweep_part_query(sp, last);
        hl_qddb_op_done(q);
        return;
      }
      w->left = true;
    }
  }
  hl_free(sp);
  if (--w->pending == 0) close_rows(w);
  hl_qddb_op_done(q);
}

static void sweep_part_query(sweep_part *sp, const hl_json *start) {
  sweep_ctx *w = sp->w;
  char shard[24];
  snprintf(shard, sizeof shard, "%llu", (unsigned long long)sp->shard);
  hl_ddb_attr v[] = {{":s", hl_ddb_n(shard)}, {":sub", hl_ddb_s(w->notes[w->at].sub_id)}};
  hl_ddb_query_args qa = {.index = HL_QUEUE_DDB_INDEX, .key_condition = "due_shard = :s",
                          .filter = "subscription_id = :sub", .values = v, .n_values = HL_ARRAY_SIZE(v),
                          .limit = QUERY_PAGE, .start_key = start};
  hl_buf body = HL_BUF_INIT;
  hl_ddb_query(&body, w->q->table, &qa);
  hl_qddb_call(w->q, HL_DDB_QUERY, &body, on_sweep_part, sp);
}

/* A round: one page of each of the subscription's partitions (due or not),
 * and of the earlier versions' partitions, always: a note is rare, and a
 * row a process of the earlier version wrote for it there would otherwise
 * wait for good once the note is gone. */
static void sweep_read(sweep_ctx *w) {
  w->left = false;
  w->closed_now = 0;
  w->pending = HL_QUEUE_DDB_SHARDS * 2;
  uint64_t first = hl_qddb_sub_partitions(w->notes[w->at].sub_id);
  for (unsigned i = 0; i < HL_QUEUE_DDB_SHARDS * 2u; i++) {
    sweep_part *sp = hl_calloc(1, sizeof *sp);
    *sp = (sweep_part){.w = w, .shard = i < HL_QUEUE_DDB_SHARDS ? first + i : i - HL_QUEUE_DDB_SHARDS,
                       .legacy = i >= HL_QUEUE_DDB_SHARDS};
    sweep_part_query(sp, NULL);
  }
}

static void on_sub_read(void *data, const hl_aws_status *st, const hl_json *resp) {
  sweep_ctx *w = data;
  ddbq *q = w->q;
  const gone_note *n = &w->notes[w->at];
  if (q->dead) {
    sweep_answer(w);
  } else if (st->outcome != HL_AWS_OK) {
    w->failed = true;
    sweep_next_note(w);
  } else {
    const hl_json *items = hl_json_get(resp, "Items");
    const hl_json *it = items && items->type == HL_JSON_ARRAY && items->len > 0 ? &items->u.items[0] : NULL;
    size_t len = 0;
    const char *id = it ? hl_ddb_item_s(it, "subscription_id", &len) : NULL;
    bool stored = id && len == strlen(n->sub_id) && memcmp(id, n->sub_id, len) == 0;
    if (!stored) sweep_read(w);
    else if (w->now - n->deleted_at > GONE_STALE_MS) drop_note(w);
    else sweep_next_note(w);
  }
  hl_qddb_op_done(q);
}

/* The note's subscription as stored now (a consistent read of its key,
 * as a Query: the store's grants have no GetItem on that table): the same
 * id means it was not deleted (yet). */
static void sweep_note(sweep_ctx *w) {
  ddbq *q = w->q;
  if (w->at >= w->nnotes || w->budget == 0 || q->dead) {
    sweep_answer(w);
    return;
  }
  const gone_note *n = &w->notes[w->at];
  if (n->checked_absent) {
    sweep_read(w);
    return;
  }
  hl_ddb_attr v[] = {{":p", hl_ddb_s(n->partner_id)}, {":t", hl_ddb_s(n->event_type)}};
  hl_ddb_query_args qa = {.key_condition = "partner_id = :p AND event_type = :t", .values = v,
                          .n_values = HL_ARRAY_SIZE(v), .consistent = true};
  hl_buf body = HL_BUF_INIT;
  hl_ddb_query(&body, hl_store_ddb_tables(q->store)->subscription_table, &qa);
  hl_qddb_call(q, HL_DDB_QUERY, &body, on_sub_read, w);
}

static void on_notes(void *data, const hl_aws_status *st, const hl_json *resp) {
  sweep_ctx *w = data;
  ddbq *q = w->q;
  if (st->outcome != HL_AWS_OK) {
    w->failed = true;
  } else {
    const hl_json *items = hl_json_get(resp, "Items");
    size_t n = items && items->type == HL_JSON_ARRAY ? items->len : 0;
    w->notes = hl_calloc(n + 1, sizeof *w->notes);
    for (size_t i = 0; i < n; i++) {
      const hl_json *it = &items->u.items[i];
      gone_note g = {hl_ddb_item_sdup(it, "subscription_id"), hl_ddb_item_sdup(it, "partner_id"),
                     hl_ddb_item_sdup(it, "event_type"), hl_ddb_item_i64_or0(it, "deleted_at"),
                     hl_ddb_item_i64_or0(it, "checked_absent") > 0};
      if (g.sub_id && ((g.partner_id && g.event_type) || g.checked_absent)) w->notes[w->nnotes++] = g;
      else hl_free_all(g.sub_id, g.partner_id, g.event_type);
    }
    /* More notes than a sweep reads: the next goes on after these, so notes
     * that stay (a row held, a delete under way) never hide the others. */
    const hl_json *last = hl_json_get(resp, "LastEvaluatedKey");
    hl_free(q->gone_after);
    q->gone_after = last && last->type == HL_JSON_OBJECT && last->len > 0 && w->nnotes > 0
                        ? hl_strdup(w->notes[w->nnotes - 1].sub_id)
                        : NULL;
  }
  sweep_note(w);
  hl_qddb_op_done(q);
}

void hl_qddb_sweep(hl_queue *base, const hl_store_purge *p, hl_store_cb cb, void *data) {
  ddbq *q = Q(base);
  sweep_ctx *w = hl_calloc(1, sizeof *w);
  *w = (sweep_ctx){.q = q, .now = p->now_ms ? p->now_ms : hl_wall_ms(), .budget = p->limit ? p->limit : 500,
                   .cb = cb, .data = data};
  q->busy++;
  hl_json_doc start;
  hl_json_doc_init(&start);
  bool from = false;
  if (q->gone_after) {
    hl_buf k = HL_BUF_INIT;
    hl_jw jw;
    hl_jw_open(&jw, &k);
    hl_jw_key(&jw, "event_id"); hl_jw_obj_begin(&jw); hl_jw_key_str(&jw, "S", GONE_PK); hl_jw_obj_end(&jw);
    hl_jw_key(&jw, "subscription_id"); hl_jw_obj_begin(&jw); hl_jw_key_str(&jw, "S", q->gone_after);
    hl_jw_obj_end(&jw);
    hl_jw_obj_end(&jw);
    from = hl_json_parse(&start, k.data, k.len, NULL) == 0;
    hl_buf_dispose(&k);
  }
  hl_ddb_attr v[] = {{":p", hl_ddb_s(GONE_PK)}};
  hl_ddb_query_args qa = {.key_condition = "event_id = :p", .values = v, .n_values = 1, .limit = GONE_NOTES,
                          .consistent = true, .start_key = from ? start.root : NULL};
  hl_buf body = HL_BUF_INIT;
  hl_ddb_query(&body, q->table, &qa);
  hl_json_doc_dispose(&start);
  hl_qddb_call(q, HL_DDB_QUERY, &body, on_notes, w);
}

