/* hl_queue_ddb_lease.c — the DynamoDB queue's rows held by this process,
 * and the renewal of their leases (layout and lease rules in
 * hl_queue_ddb.h, "Leases").
 *
 * A claim leases a row for lease_ms, but the row may stay here much
 * longer: waiting for a slot or a rate limit (a claim takes up to twice
 * max_in_flight), in flight to a slow partner, or as a retry kept in
 * memory. A lease that ended there lets another process claim the row and
 * send it while this one still means to, so every held row's lease is
 * renewed before it ends, as PostgreSQL's heartbeat renews its claims: one
 * timer every lease/3, one conditional UpdateItem a row (DynamoDB has no
 * conditional batch write), at most RENEW_OUT of them at a time. A renewal
 * whose condition fails finds the row taken over: it is marked lost, and
 * hl_qddb_holds tells the dispatcher not to send it.
 */
#include <stdlib.h>
#include <string.h>

#include "common/hl_common.h"
#include "common/hl_log.h"
#include "queue/hl_queue_ddb_int.h"

/* Renewals out at once: a process holding thousands of rows renews them
 * over a few round trips, not in one burst of calls. */
#define RENEW_OUT 32

typedef struct {
  int64_t until;        /* the lease's end as last written (ms since epoch) */
  int64_t due;          /* a retry kept here: its due time (the lease is kept past it); else 0 */
  uint64_t gen;         /* which claim of the row this is (a late renewal answer of an earlier one is ignored) */
  bool lost;            /* a renewal found another process's lease */
} held_row;

typedef struct {
  ddbq *q;
  char *key;
  uint64_t gen;
  int64_t until;
} renew_ctx;

static void held_key(hl_buf *k, const char *event_id, const char *sub_id) {
  hl_buf_printf(k, "%s\x1f%s", event_id, sub_id);
}

static held_row *held_get(ddbq *q, const char *event_id, const char *sub_id) {
  hl_buf k = HL_BUF_INIT;
  held_key(&k, event_id, sub_id);
  held_row *h = hl_strmap_get(&q->held, k.data);
  hl_buf_dispose(&k);
  return h;
}

static void on_renew_tick(hl_timerq_node *n);

static void arm(ddbq *q) {
  if (!hl_timerq_pending(&q->renew_timer) && !q->dead)
    hl_timerq_add(&q->c->timers, &q->renew_timer, q->lease_ms / 3, on_renew_tick);
}

void hl_qddb_held_add(ddbq *q, const char *event_id, const char *sub_id, int64_t until) {
  hl_buf k = HL_BUF_INIT;
  held_key(&k, event_id, sub_id);
  held_row *h = hl_calloc(1, sizeof *h);
  *h = (held_row){.until = until, .gen = ++q->held_gen};
  hl_free(hl_strmap_put(&q->held, k.data, h));
  hl_buf_dispose(&k);
  arm(q);
}

void hl_qddb_held_kept(ddbq *q, const char *event_id, const char *sub_id, int64_t due) {
  held_row *h = held_get(q, event_id, sub_id);
  if (!h) return;
  h->due = due;
  if (due + (int64_t)q->lease_ms > h->until) h->until = due + (int64_t)q->lease_ms;
}

void hl_qddb_held_drop(ddbq *q, const char *event_id, const char *sub_id) {
  hl_buf k = HL_BUF_INIT;
  held_key(&k, event_id, sub_id);
  hl_free(hl_strmap_del(&q->held, k.data));
  hl_buf_dispose(&k);
}

/* Sending needs the lease to outlast the request's start by a margin: a
 * renewal that cannot get through (DynamoDB throttling) leaves the lease
 * to end, and another process to claim the row. */
bool hl_qddb_holds(hl_queue *base, const hl_delivery_rec *r) {
  ddbq *q = Q(base);
  const held_row *h = held_get(q, r->event_id, r->subscription_id);
  if (!h) return false; /* given up here: a record found its lease taken over */
  return !h->lost && h->until - hl_wall_ms() > (int64_t)q->lease_ms / 6;
}

static void renew_next(ddbq *q);

static void on_renewed(void *data, const hl_aws_status *st, const hl_json *resp) {
  renew_ctx *c = data;
  ddbq *q = c->q;
  (void)resp;
  q->renew_out--;
  held_row *h = q->dead ? NULL : hl_strmap_get(&q->held, c->key);
  if (h && h->gen == c->gen) {
    if (st->outcome == HL_AWS_OK) {
      if (c->until > h->until) h->until = c->until;
    } else if (st->outcome == HL_AWS_CONDITION_FAILED) {
      /* Our lease ended (the process stalled, or renewals failed for that
       * long) and another process claimed the row: it sends it now. */
      h->lost = true;
      const char *sep = strchr(c->key, '\x1f');
      hl_log_warn("a held delivery's lease was taken over by another process; it is not sent from here",
                  "\"event_id\":\"%s\",\"subscription_id\":\"%s\"",
                  hl_log_esc(c->key, sep ? (size_t)(sep - c->key) : (size_t)-1), hl_log_esc(sep ? sep + 1 : "", (size_t)-1));
    }
    /* Any other failure: the next tick tries again while the lease lasts. */
  }
  hl_free(c->key);
  hl_free(c);
  if (!q->dead) renew_next(q);
  hl_qddb_op_done(q);
}

static void renew_one(ddbq *q, const char *key, held_row *h, int64_t now) {
  const char *sep = strchr(key, '\x1f');
  if (!sep) return;
  char *event_id = hl_strndup(key, (size_t)(sep - key));
  renew_ctx *c = hl_malloc(sizeof *c);
  /* A retry kept here keeps its lease past its due time, as its record set it. */
  *c = (renew_ctx){.q = q, .key = hl_strdup(key), .gen = h->gen,
                   .until = (h->due > now ? h->due : now) + (int64_t)q->lease_ms};
  char until[24];
  hl_ddb_attr key_attrs[] = {{"event_id", hl_ddb_s(event_id)}, {"subscription_id", hl_ddb_s(sep + 1)}};
  hl_ddb_attr v[] = {{":o", hl_ddb_s(q->owner)}, {":u", hl_ddb_n(hl_ddb_i64(until, c->until))}};
  /* Only while it is ours: a row recorded or released meanwhile has no
   * lease_owner, one taken over has another's. */
  hl_ddb_expr x = {.update = "SET lease_until = :u", .condition = "lease_owner = :o", .values = v,
                   .n_values = HL_ARRAY_SIZE(v)};
  hl_buf body = HL_BUF_INIT;
  hl_ddb_update_item(&body, q->table, HL_DDB_ITEM(key_attrs), &x);
  hl_free(event_id);
  q->renew_out++;
  hl_qddb_call(q, HL_DDB_UPDATE_ITEM, &body, on_renewed, c);
}

/* Sends the tick's renewals still to go, up to RENEW_OUT out. A row that
 * left meanwhile is skipped. */
static void renew_next(ddbq *q) {
  int64_t now = hl_wall_ms();
  while (q->renew_out < RENEW_OUT && q->renew_next < q->renew_n) {
    char *key = q->renew_keys[q->renew_next];
    q->renew_keys[q->renew_next++] = NULL;
    held_row *h = hl_strmap_get(&q->held, key);
    if (h && !h->lost) renew_one(q, key, h, now);
    hl_free(key);
  }
  if (q->renew_next == q->renew_n) {
    hl_free(q->renew_keys);
    q->renew_keys = NULL;
    q->renew_n = q->renew_next = 0;
  }
}

/* Every lease/3: the rows whose lease has run for a sixth or more. One
 * claimed (or a retry's lease extended) just before the tick is left to
 * the next, which still finds two thirds of it to run. */
static void on_renew_tick(hl_timerq_node *node) {
  ddbq *q = hl_container_of(node, ddbq, renew_timer);
  if (q->dead || hl_strmap_len(&q->held) == 0) return; /* the next claim arms it again */
  arm(q);
  if (q->renew_keys) return; /* the last tick's renewals are still going out */
  int64_t now = hl_wall_ms(), fresh = (int64_t)q->lease_ms - (int64_t)q->lease_ms / 6;
  size_t n = hl_strmap_len(&q->held), k = 0;
  q->renew_keys = hl_malloc(n * sizeof *q->renew_keys);
  const char *key;
  void *v;
  for (size_t it = 0; k < n && hl_strmap_next(&q->held, &it, &key, &v);) {
    const held_row *h = v;
    if (!h->lost && h->until - now < fresh) q->renew_keys[k++] = hl_strdup(key);
  }
  q->renew_n = k;
  q->renew_next = 0;
  renew_next(q);
}

void hl_qddb_held_dispose(ddbq *q) {
  hl_timerq_remove(&q->c->timers, &q->renew_timer);
  const char *key;
  void *v;
  for (size_t it = 0; hl_strmap_next(&q->held, &it, &key, &v);) hl_free(v);
  hl_strmap_dispose(&q->held);
  for (size_t i = q->renew_next; i < q->renew_n; i++) hl_free(q->renew_keys[i]);
  hl_free(q->renew_keys);
  q->renew_keys = NULL;
  q->renew_n = q->renew_next = 0;
}
