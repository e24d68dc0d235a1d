/* hl_queue_ddb_legacy.c — the earlier versions' due partitions (due_shard
 * 0..7, every subscription's rows together; hl_queue_ddb.h, "Due rows"):
 * looked at now and then, and emptied.
 *
 * A claim reads one page of each of those partitions, whoever's rows they
 * hold. Rows nothing claims (a subscription deleted by an earlier version,
 * which left no note) would sit at the front of a page for good, and a
 * live subscription's rows behind them would never be read. So a look does
 * not only ask whether rows are there: it reads a page of each partition
 * and moves every row no live lease holds to its subscription's own
 * partitions, the due_shard a release would give it, with one conditional
 * UpdateItem a row (due_shard and due_key still the ones read, no live
 * lease: a row a claim took meanwhile, or an earlier version's process
 * re-queued, is left to them). The row keeps its due_key, so its place in
 * due order does not change, and its subscription is told it may have
 * work (on_ready). A look whose moves emptied a full page reads the next
 * at once, up to PASSES pages a partition; more left after that are moved
 * by the look the next claim starts.
 *
 * The look counts in the queue's busy work, so a Lambda drain waits for
 * it (bounded: PASSES rounds of eight Queries and at most MOVES_OUT
 * updates at a time) and then claims what it moved.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hl_common.h"
#include "common/hl_log.h"
#include "common/hl_strmap.h"
#include "model/hl_registry.h"
#include "store/hl_ddb_sub_ids.h"
#include "store/hl_store_ddb.h"
#include "queue/hl_queue_ddb_int.h"

/* Looked at again this often while the last look found rows (and at the
 * first claim): rows a process of an earlier version still writes during a
 * rolling deploy are claimed, and moved, within it. */
#define LOOK_MS 60000
/* Rows a page of one partition holds at most, before the lease filter. */
#define LOOK_PAGE 200
/* Rounds (a page of each partition, then its moves) one look runs back
 * to back while the last moved rows and left a full page. */
#define PASSES 4
/* Moves out at once. */
#define MOVES_OUT 32

typedef struct {
  char *event_id, *sub_id, *due_key, *event_type;
  unsigned shard;       /* the earlier versions' partition it was read in */
} move_row;

/* A subscription of rows read that this process's registry does not have
 * (hl_strmap value, as an integer): */
enum { SUB_UNCHECKED = 1, SUB_STORED, SUB_NOTED, SUB_HOLD };

typedef struct {
  ddbq *q;
  int64_t now;
  int round;
  size_t querying;      /* the round's Queries out */
  /* Rows may still be there after this round: a page held rows a live
   * lease holds, or more past it, a row was not moved (taken by a claim
   * meanwhile, or the call failed), or a Query failed. */
  bool left;
  bool full;            /* a page was full: more rows past it */
  move_row *rows;
  size_t n, cap, next, out;
  size_t moved;         /* this round */
  /* The round's subscriptions unknown here: sub_id -> SUB_*; their
   * check against the subscription table, and the notes still out. */
  hl_strmap unknown;
  hl_ddb_sub_ids check;
  size_t noting;
} look_ctx;

static void round_start(look_ctx *l);

static void rows_free(look_ctx *l) {
  for (size_t i = 0; i < l->n; i++)
    hl_free_all(l->rows[i].event_id, l->rows[i].sub_id, l->rows[i].due_key, l->rows[i].event_type);
  l->n = l->next = 0;
  hl_strmap_dispose(&l->unknown);
  hl_strmap_init(&l->unknown);
}

static int sub_state(const look_ctx *l, const char *sub_id) {
  return (int)(uintptr_t)hl_strmap_get(&l->unknown, sub_id);
}

static void set_state(look_ctx *l, const char *sub_id, int st) {
  hl_strmap_put(&l->unknown, sub_id, (void *)(uintptr_t)st);
}

static void look_end(look_ctx *l) {
  ddbq *q = l->q;
  rows_free(l);
  hl_strmap_dispose(&l->unknown);
  hl_free(l->rows);
  if (!q->dead) {
    if (q->legacy_rows && !l->left)
      hl_log_info("dynamodb queue: no rows left in the earlier versions' due partitions; claims stop reading them",
                  NULL);
    q->legacy_rows = l->left;
    /* Rows left past the last round's pages that could move: the next
     * claim looks again at once, not a minute later. */
    if (l->full && l->moved > 0) q->legacy_look_at = 0;
  }
  q->legacy_looking = false;
  q->busy--;
  hl_free(l);
}

/* The round's moves are all answered: another round, or the end. */
static void round_done(look_ctx *l) {
  if (l->moved > 0)
    hl_log_info("dynamodb queue: rows moved from the earlier versions' due partitions to their subscriptions' own",
                "\"moved\":%zu", l->moved);
  if (!l->q->dead && l->full && l->moved > 0 && l->round < PASSES) {
    rows_free(l);
    round_start(l);
    return;
  }
  look_end(l);
}

static void move_next(look_ctx *l);

typedef struct {
  look_ctx *l;
  size_t i;
} move_one;

static void on_moved(void *data, const hl_aws_status *st, const hl_json *resp) {
  move_one *m = data;
  look_ctx *l = m->l;
  ddbq *q = l->q;
  (void)resp;
  l->out--;
  if (st->outcome == HL_AWS_OK) {
    l->moved++;
    if (q->base.on_ready && !q->base.closing && !q->dead) q->base.on_ready(q->base.ready_data, l->rows[m->i].sub_id);
  } else if (st->outcome == HL_AWS_CONDITION_FAILED) {
    l->left = true; /* a claim leased it meanwhile: its holder's now */
  } else {
    /* Not moved: still in the earlier versions' partition, where claims
     * read it and the next look tries again. */
    l->left = true;
    hl_log_warn("dynamodb queue: a row of the earlier versions' due partitions could not be moved; tried again later",
                "\"event_id\":\"%s\",\"error\":\"%s\"", hl_log_esc(l->rows[m->i].event_id, (size_t)-1),
                hl_aws_outcome_name(st->outcome));
  }
  hl_free(m);
  move_next(l);
  hl_qddb_op_done(q);
}

static void move_next(look_ctx *l) {
  ddbq *q = l->q;
  char now[24];
  hl_ddb_i64(now, l->now);
  while (!q->dead && l->out < MOVES_OUT && l->next < l->n) {
    size_t i = l->next++;
    move_row *r = &l->rows[i];
    if (sub_state(l, r->sub_id) == SUB_HOLD) {
      l->left = true; /* stays where the next look reads it, noted first */
      continue;
    }
    char old[8], shard[24];
    snprintf(old, sizeof old, "%u", r->shard);
    hl_queue_ddb_due_shard(shard, r->event_id, r->sub_id);
    hl_ddb_attr key[] = {{"event_id", hl_ddb_s(r->event_id)}, {"subscription_id", hl_ddb_s(r->sub_id)}};
    hl_ddb_attr v[] = {{":sh", hl_ddb_n(shard)}, {":old", hl_ddb_n(old)}, {":dk", hl_ddb_s(r->due_key)},
                       {":now", hl_ddb_n(now)}};
    hl_ddb_expr x = {.update = "SET due_shard = :sh",
                     .condition = "due_shard = :old AND due_key = :dk AND "
                                  "(attribute_not_exists(lease_until) OR lease_until < :now)",
                     .values = v, .n_values = HL_ARRAY_SIZE(v)};
    hl_buf body = HL_BUF_INIT;
    hl_ddb_update_item(&body, q->table, HL_DDB_ITEM(key), &x);
    move_one *m = hl_calloc(1, sizeof *m);
    *m = (move_one){.l = l, .i = i};
    l->out++;
    hl_qddb_call(q, HL_DDB_UPDATE_ITEM, &body, on_moved, m);
  }
  if (l->out == 0) round_done(l);
}

/* --- rows of subscriptions this process does not know ---------------------------------
 * Nothing claims a deleted subscription's rows, and a DELETE leaves a note
 * for retention's sweep, which closes them (hl_queue_ddb_gone.c). Earlier
 * versions left no note, so their deleted subscriptions' rows stayed open
 * (PENDING) for good. A row read here whose subscription the registry does
 * not have is checked against the subscription table itself (a consistent
 * Scan of its ids: the table has no index by id, and is small): not there,
 * the subscription was deleted (a row is only ever written for a
 * subscription stored first), and the look writes the note the DELETE did
 * not, marked as checked (the sweep has no partner id to look the
 * subscription up by, and closes only rows unchanged since the check: one
 * re-created under the same id keeps its new ones). Its rows move once
 * noted; a check or a note that failed and may succeed later keeps them
 * here for the next look. */

/* Scan pages read at most: a table of more subscriptions than they hold
 * is not checked through (see on_checked). */
#define SCAN_PAGES 64

static void start_moves(look_ctx *l) {
  l->moved = 0;
  move_next(l);
}

typedef struct {
  look_ctx *l;          /* the look does not end while its notes are out */
  char *sub_id;
} note_one;

static void on_noted(void *data, const hl_aws_status *st, const hl_json *resp) {
  note_one *o = data;
  look_ctx *l = o->l;
  ddbq *q = l->q;
  (void)resp;
  if (st->outcome == HL_AWS_OK || st->outcome == HL_AWS_CONDITION_FAILED) { /* a note there already serves */
    set_state(l, o->sub_id, SUB_NOTED);
    if (!q->dead) hl_strmap_put(&q->legacy_noted, o->sub_id, q);
    hl_log_warn("dynamodb queue: rows of a subscription no longer stored (deleted by an earlier version, which "
                "left no note) are noted for the retention sweep, which closes them",
                "\"subscription_id\":\"%s\"", hl_log_esc(o->sub_id, (size_t)-1));
  } else {
    set_state(l, o->sub_id, SUB_HOLD);
  }
  hl_free_all(o->sub_id, o);
  if (--l->noting == 0) start_moves(l);
  hl_qddb_op_done(q);
}

static void write_notes(look_ctx *l) {
  ddbq *q = l->q;
  const char *id;
  void *v;
  l->noting = 1; /* the loop's own, given back below */
  for (size_t it = 0; hl_strmap_next(&l->unknown, &it, &id, &v);) {
    if ((int)(uintptr_t)v != SUB_UNCHECKED) continue;
    if (q->dead) {
      set_state(l, id, SUB_HOLD);
      continue;
    }
    const char *type = NULL;
    for (size_t i = 0; i < l->n && !type; i++)
      if (strcmp(l->rows[i].sub_id, id) == 0) type = l->rows[i].event_type;
    char at[24];
    hl_ddb_attr item[5] = {{"event_id", hl_ddb_s(HL_QDDB_GONE_PK)},
                           {"subscription_id", hl_ddb_s(id)},
                           {"deleted_at", hl_ddb_n(hl_ddb_i64(at, l->now))},
                           {"checked_absent", hl_ddb_n(at)}};
    size_t ni = 4;
    if (type) item[ni++] = (hl_ddb_attr){"event_type", hl_ddb_s(type)};
    /* A note there already (a DELETE's, or another process's look) is
     * kept as it is. */
    hl_ddb_expr x = {.condition = "attribute_not_exists(event_id)"};
    hl_buf body = HL_BUF_INIT;
    hl_ddb_put_item(&body, q->table, (hl_ddb_item){item, ni}, &x);
    note_one *o = hl_malloc(sizeof *o);
    *o = (note_one){l, hl_strdup(id)};
    l->noting++;
    hl_qddb_call(q, HL_DDB_PUT_ITEM, &body, on_noted, o);
  }
  if (--l->noting == 0) start_moves(l);
}

/* The check answered (hl_ddb_sub_ids.h): the ids the table holds are
 * SUB_STORED now; read through, those still unchecked are gone. */
static void on_checked(void *data, const hl_aws_status *st, bool complete) {
  look_ctx *l = data;
  ddbq *q = l->q;
  if (!complete || q->dead) {
    /* Not read through: none of those still unchecked is known to be
     * gone. A failure that may pass keeps their rows here for the next
     * look's check; one that will not (the Scan refused), or a table
     * past SCAN_PAGES, moves them unnoted, as the rows of a stored
     * subscription: rows behind them must not wait on the check. */
    bool retry = st->outcome != HL_AWS_OK && st->verdict != HL_AWS_VERDICT_FAIL;
    if (!retry && !q->dead)
      hl_log_warn("dynamodb queue: the subscription table could not be read through; rows of subscriptions not "
                  "loaded here are moved to their own partitions without a check, and are not closed if gone",
                  "\"error\":\"%s\"", st->outcome != HL_AWS_OK ? hl_aws_outcome_name(st->outcome) : "too many pages");
    const char *id;
    void *v;
    for (size_t it = 0; hl_strmap_next(&l->unknown, &it, &id, &v);)
      if ((int)(uintptr_t)v == SUB_UNCHECKED) set_state(l, id, retry ? SUB_HOLD : SUB_STORED);
  }
  write_notes(l);
  hl_qddb_op_done(q); /* the check's, counted as one call */
}

/* The round's pages are in: rows of subscriptions this process does not
 * know (and has not noted) are checked before any moves. */
static void check_unknown(look_ctx *l) {
  ddbq *q = l->q;
  for (size_t i = 0; q->reg && !q->dead && i < l->n; i++) {
    const char *id = l->rows[i].sub_id;
    if (!sub_state(l, id) && !hl_registry_sub_get(q->reg, id) && !hl_strmap_get(&q->legacy_noted, id))
      set_state(l, id, SUB_UNCHECKED);
  }
  if (hl_strmap_len(&l->unknown) == 0) {
    start_moves(l);
    return;
  }
  q->ops++; /* the check's pages go on the client directly: one call of the queue's (on_checked) */
  l->check = (hl_ddb_sub_ids){.client = q->c, .table = hl_store_ddb_tables(q->store)->subscription_table,
                              .max_pages = SCAN_PAGES, .ids = &l->unknown, .seen = (void *)(uintptr_t)SUB_STORED,
                              .cb = on_checked, .data = l};
  hl_ddb_sub_ids_start(&l->check);
}

typedef struct {
  look_ctx *l;
  unsigned shard;
} page_q;

static void on_page(void *data, const hl_aws_status *st, const hl_json *resp) {
  page_q *p = data;
  look_ctx *l = p->l;
  ddbq *q = l->q;
  if (st->outcome != HL_AWS_OK) {
    l->left = true; /* not known to be empty: claims keep reading it */
  } else {
    const hl_json *items = hl_json_get(resp, "Items");
    const hl_json *last = hl_json_get(resp, "LastEvaluatedKey");
    int64_t scanned = 0;
    hl_json_int64(hl_json_get(resp, "ScannedCount"), &scanned);
    bool more = last && last->type == HL_JSON_OBJECT && last->len > 0;
    /* Rows held by a live lease are filtered out of Items but are there
     * all the same: ScannedCount counts them. */
    uint32_t got = items && items->type == HL_JSON_ARRAY ? items->len : 0;
    if (more || scanned > (int64_t)got) l->left = true;
    if (more) l->full = true;
    for (uint32_t i = 0; items && items->type == HL_JSON_ARRAY && i < items->len; i++) {
      const hl_json *it = &items->u.items[i];
      char *e = hl_ddb_item_sdup(it, "event_id"), *s = hl_ddb_item_sdup(it, "subscription_id");
      char *d = hl_ddb_item_sdup(it, "due_key"), *t = hl_ddb_item_sdup(it, "event_type");
      if (!e || !s || !d) {
        hl_free_all(e, s, d, t);
        continue;
      }
      if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->rows = hl_realloc(l->rows, l->cap * sizeof *l->rows);
      }
      l->rows[l->n++] = (move_row){e, s, d, t, p->shard};
    }
  }
  hl_free(p);
  if (--l->querying == 0) check_unknown(l);
  hl_qddb_op_done(q);
}

/* A page of each earlier versions' partition, due or not, the rows a live
 * lease holds filtered out (they are their holder's to record). */
static void round_start(look_ctx *l) {
  ddbq *q = l->q;
  l->round++;
  l->full = l->left = false;
  l->querying = HL_QUEUE_DDB_SHARDS;
  char now[24];
  hl_ddb_i64(now, l->now);
  for (unsigned s = 0; s < HL_QUEUE_DDB_SHARDS; s++) {
    char shard[8];
    snprintf(shard, sizeof shard, "%u", s);
    hl_ddb_attr v[] = {{":s", hl_ddb_n(shard)}, {":now", hl_ddb_n(now)}};
    hl_ddb_query_args qa = {.index = HL_QUEUE_DDB_INDEX, .key_condition = "due_shard = :s",
                            .filter = "attribute_not_exists(lease_until) OR lease_until < :now", .values = v,
                            .n_values = HL_ARRAY_SIZE(v), .limit = LOOK_PAGE};
    hl_buf body = HL_BUF_INIT;
    hl_ddb_query(&body, q->table, &qa);
    page_q *p = hl_calloc(1, sizeof *p);
    *p = (page_q){.l = l, .shard = s};
    hl_qddb_call(q, HL_DDB_QUERY, &body, on_page, p);
  }
}

void hl_qddb_legacy_look(ddbq *q, int64_t now_ms) {
  if (q->dead || q->legacy_looking || (q->legacy_look_at && now_ms - q->legacy_look_at < LOOK_MS)) return;
  q->legacy_look_at = now_ms;
  q->legacy_looking = true;
  q->busy++;
  look_ctx *l = hl_calloc(1, sizeof *l);
  *l = (look_ctx){.q = q, .now = now_ms};
  hl_strmap_init(&l->unknown);
  round_start(l);
}
