/* hl_queue_ddb_adopt.c — a fifo subscription's open rows that have no
 * order entry, given one before its ordered claim looks at the entries.
 *
 * Order entries are written at accept, for a subscription that is fifo
 * then. A subscription turned fifo (an update in place) with a backlog
 * leaves that backlog without entries; so do accepts by processes that
 * still hold the subscription's copy from before the change (until their
 * next reload, HOOKLOOP_CONFIG_TTL_S). The ordered claim reads entries
 * only, so those rows were never claimed while the subscription stayed
 * fifo. Here they are found on the due index (every open row is on it,
 * leased or not) and adopted: each gets an entry that sorts before every
 * numbered one ("000000000000000#<accepted_at, 15 digits>#<event_id>":
 * they were accepted before the switch, or at the latest during the
 * reload window) and its row records that key (fifo_seq 0, fifo_key), so
 * a re-queue puts the same entry back. The entry is put before the row is
 * marked: a mark without an entry would leave the row out of every claim,
 * while an entry without a mark is only put again by the next look.
 *
 * When: before a process's first ordered claim of the subscription at a
 * revision, then again at most every ADOPT_EVERY_MS for as long as rows
 * without entries can still appear: until a look that found none comes
 * the adoption window (the reload period plus the index's lag) or more
 * after this process first saw the subscription fifo at that revision.
 * After that the subscription is settled here and its claims pay nothing
 * for this. A change of the subscription (a new revision: ordering off and
 * on again) starts over.
 */
#include "queue/hl_queue_ddb_int.h"

#include "common/hl_common.h"
#include "common/hl_log.h"
#include "model/hl_registry.h"

#include <stdlib.h>
#include <string.h>

/* How often an unsettled subscription's rows are looked at again. */
#define ADOPT_EVERY_MS 2000

typedef struct {
  int64_t revision;   /* the subscription's revision this state is for */
  int64_t first_ms;   /* when this process first looked, at that revision */
  int64_t looked_ms;  /* when the last look started */
  bool settled;       /* a look late enough found none: no more looks */
  bool looking;
} adopt_state;

typedef struct {
  char *event_id;
  int64_t accepted_at;
} orphan;

typedef struct {
  ddbq *q;
  char *sub_id;
  int64_t revision, now;
  hl_qddb_adopt_cb done;
  void *data;
  bool single;          /* one row given back (hl_qddb_adopt_row), not a look */
  size_t pending;       /* Queries, then writes, not yet answered */
  bool failed, truncated;
  orphan *found;
  size_t nfound, capfound;
  size_t next;          /* the next orphan to write */
} adopt_ctx;

typedef struct {
  adopt_ctx *a;
  uint64_t shard;
  int pages;
} adopt_shard;

typedef struct {
  adopt_ctx *a;
  char *event_id, *sk;
} adopt_one;

static adopt_state *state_of(ddbq *q, const char *sub_id, int64_t revision, int64_t now) {
  adopt_state *s = hl_strmap_get(&q->adopt, sub_id);
  if (!s) {
    s = hl_calloc(1, sizeof *s);
    hl_strmap_put(&q->adopt, sub_id, s);
  }
  if (!s->first_ms || s->revision != revision) *s = (adopt_state){.revision = revision, .first_ms = now};
  return s;
}

bool hl_qddb_adopt_due(ddbq *q, const char *sub_id, int64_t now) {
  const hl_sub *sub = q->reg ? hl_registry_sub_get(q->reg, sub_id) : NULL;
  if (!sub) return false;
  adopt_state *s = state_of(q, sub_id, sub->rec.revision, now);
  return !s->settled && !s->looking && (!s->looked_ms || now - s->looked_ms >= ADOPT_EVERY_MS);
}

static int by_acceptance(const void *x, const void *y) {
  const orphan *a = x, *b = y;
  if (a->accepted_at != b->accepted_at) return a->accepted_at < b->accepted_at ? -1 : 1;
  return strcmp(a->event_id, b->event_id);
}

static void finish(adopt_ctx *a) {
  ddbq *q = a->q;
  /* Destroyed meanwhile: the states are gone with it. */
  adopt_state *s = q->dead || a->single ? NULL : hl_strmap_get(&q->adopt, a->sub_id);
  if (s && s->revision == a->revision) {
    s->looking = false;
    if (!a->failed && !a->truncated && a->nfound == 0 && a->now - s->first_ms >= (int64_t)q->adopt_window_ms) {
      s->settled = true;
      hl_log_info("fifo subscription: every open row has an order entry; its ordered claims stop looking",
                  "\"subscription_id\":\"%s\"", hl_log_esc(a->sub_id, (size_t)-1));
    }
  }
  if (a->nfound && !a->failed)
    hl_log_info("fifo subscription: rows without an order entry given one", "\"subscription_id\":\"%s\",\"rows\":%zu",
                hl_log_esc(a->sub_id, (size_t)-1), a->nfound);
  int err = q->dead ? 0 : a->failed ? HL_ESTORE : 0;
  if (a->done) a->done(a->data, err);
  for (size_t i = 0; i < a->nfound; i++) hl_free(a->found[i].event_id);
  hl_free_all(a->found, a->sub_id, a);
}

static void on_marked(void *data, const hl_aws_status *st, const hl_json *resp) {
  adopt_one *o = data;
  adopt_ctx *a = o->a;
  ddbq *q = a->q;
  (void)resp;
  /* A failed condition: the row is gone (retention), or another look
   * marked it. */
  if (st->outcome != HL_AWS_OK && st->outcome != HL_AWS_CONDITION_FAILED) a->failed = true;
  hl_free_all(o->event_id, o->sk, o);
  if (--a->pending == 0) finish(a);
  hl_qddb_op_done(q);
}

static void on_adopted_entry(void *data, const hl_aws_status *st, const hl_json *resp) {
  adopt_one *o = data;
  adopt_ctx *a = o->a;
  ddbq *q = a->q;
  (void)resp;
  if (st->outcome != HL_AWS_OK || q->dead) {
    a->failed = a->failed || st->outcome != HL_AWS_OK;
    hl_free_all(o->event_id, o->sk, o);
    if (--a->pending == 0) finish(a);
  } else {
    /* The row records its entry's key, unless another look marked it
     * first. A row that closed since it was found is marked too: a
     * re-queue opens it again, and must put its entry back at this key. */
    hl_ddb_attr key[] = {{"event_id", hl_ddb_s(o->event_id)}, {"subscription_id", hl_ddb_s(a->sub_id)}};
    hl_ddb_attr v[] = {{":z", hl_ddb_n("0")}, {":k", hl_ddb_s(o->sk)}};
    hl_ddb_expr x = {.update = "SET fifo_seq = :z, fifo_key = :k",
                     .condition = "attribute_exists(event_id) AND attribute_not_exists(fifo_seq)", .values = v,
                     .n_values = HL_ARRAY_SIZE(v)};
    hl_buf body = HL_BUF_INIT;
    hl_ddb_update_item(&body, q->table, HL_DDB_ITEM(key), &x);
    hl_qddb_call(q, HL_DDB_UPDATE_ITEM, &body, on_marked, o);
  }
  hl_qddb_op_done(q);
}

/* Every orphan found: its entry, then its mark, all at once (the entries'
 * keys give the order, not the order of the writes). */
static void adopt_found(adopt_ctx *a) {
  if (a->nfound == 0 || a->failed || a->q->dead) {
    finish(a);
    return;
  }
  qsort(a->found, a->nfound, sizeof *a->found, by_acceptance);
  a->pending = a->nfound;
  for (size_t i = 0; i < a->nfound; i++) {
    adopt_one *o = hl_calloc(1, sizeof *o);
    o->a = a;
    o->event_id = hl_strdup(a->found[i].event_id);
    hl_buf sk = HL_BUF_INIT;
    hl_buf_printf(&sk, "%015lld#%015lld#%s", 0LL, (long long)a->found[i].accepted_at, o->event_id);
    o->sk = hl_buf_steal(&sk, NULL);
    hl_qddb_put_entry(a->q, a->sub_id, o->sk, o->event_id, on_adopted_entry, o);
  }
}

static void shard_look(adopt_shard *sh, const hl_json *start);

static void on_shard_look(void *data, const hl_aws_status *st, const hl_json *resp) {
  adopt_shard *sh = data;
  adopt_ctx *a = sh->a;
  ddbq *q = a->q;
  sh->pages++;
  if (st->outcome != HL_AWS_OK) {
    a->failed = true;
  } else {
    const hl_json *items = hl_json_get(resp, "Items");
    for (uint32_t i = 0; items && items->type == HL_JSON_ARRAY && i < items->len; i++) {
      char *ev = hl_ddb_item_sdup(&items->u.items[i], "event_id");
      if (!ev) continue;
      if (a->nfound == a->capfound) {
        a->capfound = a->capfound ? a->capfound * 2 : 16;
        a->found = hl_realloc(a->found, a->capfound * sizeof *a->found);
      }
      a->found[a->nfound++] = (orphan){ev, hl_ddb_item_i64_or0(&items->u.items[i], "accepted_at")};
    }
    const hl_json *last = hl_json_get(resp, "LastEvaluatedKey");
    if (last && last->type == HL_JSON_OBJECT && last->len > 0) {
      if (!q->dead && sh->pages < QUERY_PAGES) {
        shard_look(sh, last);
        hl_qddb_op_done(q);
        return;
      }
      a->truncated = true; /* the rest at the next look */
    }
  }
  hl_free(sh);
  if (--a->pending == 0) adopt_found(a);
  hl_qddb_op_done(q);
}

/* One due partition's open rows of the subscription without a fifo_seq,
 * due or not, leased or not. */
static void shard_look(adopt_shard *sh, const hl_json *start) {
  adopt_ctx *a = sh->a;
  char shard[24];
  snprintf(shard, sizeof shard, "%llu", (unsigned long long)sh->shard);
  hl_ddb_attr v[] = {{":s", hl_ddb_n(shard)}, {":sub", hl_ddb_s(a->sub_id)}};
  hl_ddb_query_args qa = {.index = HL_QUEUE_DDB_INDEX, .key_condition = "due_shard = :s",
                          .filter = "subscription_id = :sub AND attribute_not_exists(fifo_seq)", .values = v,
                          .n_values = HL_ARRAY_SIZE(v), .limit = QUERY_PAGE, .start_key = start};
  hl_buf body = HL_BUF_INIT;
  hl_ddb_query(&body, a->q->table, &qa);
  hl_qddb_call(a->q, HL_DDB_QUERY, &body, on_shard_look, sh);
}

void hl_qddb_adopt(ddbq *q, const char *sub_id, int64_t now, hl_qddb_adopt_cb done, void *data) {
  const hl_sub *sub = q->reg ? hl_registry_sub_get(q->reg, sub_id) : NULL;
  adopt_state *s = state_of(q, sub_id, sub ? sub->rec.revision : 0, now);
  s->looking = true;
  s->looked_ms = now;
  adopt_ctx *a = hl_calloc(1, sizeof *a);
  *a = (adopt_ctx){.q = q, .sub_id = hl_strdup(sub_id), .revision = s->revision, .now = now, .done = done,
                   .data = data};
  /* The subscription's own partitions, and the earlier versions' while
   * any rows are left there. */
  uint64_t first = hl_qddb_sub_partitions(sub_id);
  bool legacy = q->legacy_rows;
  a->pending = HL_QUEUE_DDB_SHARDS * (legacy ? 2 : 1);
  for (unsigned i = 0; i < HL_QUEUE_DDB_SHARDS; i++) {
    adopt_shard *sh = hl_calloc(1, sizeof *sh);
    *sh = (adopt_shard){.a = a, .shard = first + i};
    shard_look(sh, NULL);
  }
  for (unsigned i = 0; legacy && i < HL_QUEUE_DDB_SHARDS; i++) {
    adopt_shard *sh = hl_calloc(1, sizeof *sh);
    *sh = (adopt_shard){.a = a, .shard = i};
    shard_look(sh, NULL);
  }
}

void hl_qddb_adopt_row(ddbq *q, const char *sub_id, const char *event_id, int64_t accepted_at) {
  adopt_ctx *a = hl_calloc(1, sizeof *a);
  *a = (adopt_ctx){.q = q, .sub_id = hl_strdup(sub_id), .now = hl_wall_ms(), .single = true};
  a->found = hl_malloc(sizeof *a->found);
  a->found[0] = (orphan){hl_strdup(event_id), accepted_at};
  a->nfound = a->capfound = 1;
  adopt_found(a);
}

void hl_qddb_adopt_forget(ddbq *q, const char *sub_id) { hl_free(hl_strmap_del(&q->adopt, sub_id)); }

void hl_qddb_adopt_dispose(ddbq *q) {
  const char *k;
  void *v;
  for (size_t i = 0; hl_strmap_next(&q->adopt, &i, &k, &v);) hl_free(v);
  hl_strmap_dispose(&q->adopt);
}
