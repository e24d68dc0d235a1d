/* hl_queue_ddb_int.h — what the DynamoDB queue's files share: the queue
 * object and the calls every part makes through it. Not for use outside
 * src/queue/hl_queue_ddb*.c (the interface is hl_queue_ddb.h).
 *
 *   hl_queue_ddb.c       accept, claim, record and release, re-queue, replay,
 *                        ordered delivery, create and destroy;
 *   hl_queue_ddb_gone.c  a deleted subscription's waiting rows: the note a
 *                        DELETE leaves, and the sweep that closes them;
 *   hl_queue_ddb_lease.c the rows this process holds, and the renewal of
 *                        their leases;
 *   hl_queue_ddb_fresh.c the rows this process has just accepted, offered
 *                        to its next claim by their keys;
 *   hl_queue_ddb_legacy.c the earlier versions' due partitions: looked at
 *                        now and then, their rows moved to their
 *                        subscriptions' own;
 *   hl_queue_ddb_adopt.c a fifo subscription's open rows without an order
 *                        entry (a backlog from before ordering was turned
 *                        on), given one before its ordered claim;
 *   hl_queue_ddb_keys.c  where items live: due partitions, order entries'
 *                        keys, the write of an entry;
 *   hl_queue_ddb_ops.c   the calls in flight.
 */
#ifndef HL_QUEUE_DDB_INT_H
#define HL_QUEUE_DDB_INT_H

#include "common/hl_strmap.h"
#include "loop/hl_timerq.h"
#include "queue/hl_queue_ddb.h"
#include "store/hl_store_ddb.h"

/* Rows one shard's Query reads at most a page (before the lease filter). */
#define QUERY_PAGE 200
/* Pages one shard's Query may read in one claim: past the subscription's
 * own leased rows (in flight, or retries kept in memory, which keep their
 * due_key), so at most 1,600 of them a shard before a full page asks to
 * come back. */
#define QUERY_PAGES 8
/* The queue table's partition of notes of deleted subscriptions
 * (hl_queue_ddb_gone.c). */
#define HL_QDDB_GONE_PK "#deleted"

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
  uint64_t gone_closed;  /* waiting deliveries of deleted subscriptions closed (sweep) */
  char *gone_after;      /* the last note the last sweep read: the next reads on after it; NULL: from the first */
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
  const hl_registry *reg; /* borrowed; NULL: no ordered claim */
  /* Rows in the partitions of earlier versions (hl_queue_ddb.h, "Due
   * rows"; hl_queue_ddb_legacy.c): maybe (true until a look found none),
   * when the last look began (0: at the next claim), and whether one is
   * under way. */
  bool legacy_rows;
  int64_t legacy_look_at;
  bool legacy_looking;
  /* Subscriptions a look found gone and noted (hl_queue_ddb_legacy.c):
   * not checked again. Values unused; keys owned. */
  hl_strmap legacy_noted;
  /* The rows this process holds, claimed and not yet recorded final or
   * released (hl_queue_ddb_lease.c): "event_id\x1fsubscription_id" ->
   * their lease (owned). The renewal timer (on the client's timers), and
   * one tick's keys still to renew (owned; NULL: none) and its calls out. */
  hl_strmap held;
  /* The rows this process accepted and no claim has taken yet, by
   * subscription (hl_queue_ddb_fresh.c): sub_id -> its list (owned). */
  hl_strmap fresh;
  /* Fifo subscriptions' looks for rows without an order entry
   * (hl_queue_ddb_adopt.c): sub_id -> its state (owned); and how long after
   * a subscription turned fifo such rows may still appear. */
  hl_strmap adopt;
  uint64_t adopt_window_ms;
  uint64_t held_gen;
  hl_timerq_node renew_timer;
  char **renew_keys;
  size_t renew_n, renew_next, renew_out;
} ddbq;

static inline ddbq *Q(hl_queue *q) { return (ddbq *)q; }

typedef struct {
  char *event_id, *sub_id, *due_key;
  bool fresh;           /* accepted here, offered by its key (hl_queue_ddb_fresh.c), not read from the index */
} candidate;

/* A DynamoDB call on the store's client, counted in q->ops. */
void hl_qddb_call(ddbq *q, hl_ddb_op op, hl_buf *body, hl_aws_json_cb cb, void *data);
/* An answer is in: called last in every callback (the last one after
 * destroy() frees the queue). */
void hl_qddb_op_done(ddbq *q);
/* The first of a subscription's HL_QUEUE_DDB_SHARDS due partitions. */
uint64_t hl_qddb_sub_partitions(const char *sub_id);
/* The partition key of a fifo subscription's order ("#fifo#<id>"), and
 * the sort key of the entry of the delivery accepted as its seq-th
 * ("<seq, 15 digits>#<event_id>"). */
void hl_qddb_order_pk(hl_buf *out, const char *sub_id);
void hl_qddb_order_sk(hl_buf *out, int64_t seq, const char *event_id);
/* Puts (event_id, sub_id)'s order entry at sort key sk, with a new
 * version. */
void hl_qddb_put_entry(ddbq *q, const char *sub_id, const char *sk, const char *event_id, hl_aws_json_cb cb,
                       void *data);
/* Appends an index item's row as a candidate (one missing a key is skipped). */
void hl_qddb_cand_push(candidate **arr, size_t *n, size_t *cap, const hl_json *it);

/* A look at the earlier versions' partitions, which moves the rows found
 * (hl_queue_ddb_legacy.c): at a claim, at most every minute. */
void hl_qddb_legacy_look(ddbq *q, int64_t now_ms);

/* hl_queue_vt.forget_sub and .sweep (hl_queue_ddb_gone.c). */
void hl_qddb_forget_sub(hl_queue *base, const hl_sub_rec *r, hl_store_cb cb, void *data);
void hl_qddb_sweep(hl_queue *base, const hl_store_purge *p, hl_store_cb cb, void *data);

/* The rows held here (hl_queue_ddb_lease.c): a claim won (lease until
 * until); a retry kept in memory whose record extended its lease past
 * due; a row recorded final, released, or taken over, which leaves. */
void hl_qddb_held_add(ddbq *q, const char *event_id, const char *sub_id, int64_t until);
void hl_qddb_held_kept(ddbq *q, const char *event_id, const char *sub_id, int64_t due);
void hl_qddb_held_drop(ddbq *q, const char *event_id, const char *sub_id);
/* hl_queue_vt.holds: the row's lease is still ours, with time to run. */
bool hl_qddb_holds(hl_queue *base, const hl_delivery_rec *r);
/* At destroy: stops the renewals and frees what is held. */
void hl_qddb_held_dispose(ddbq *q);
/* The rows just accepted (hl_queue_ddb_fresh.c): one added at its accept
 * (a subscription's first FRESH_MAX kept); a claim of the subscription
 * takes them all into its candidates (fresh set); one a claim did not ask
 * for goes back (its strings moved, *c cleared); a subscription deleted
 * forgets its own; all freed at destroy. */
void hl_qddb_fresh_add(ddbq *q, const char *event_id, const char *sub_id, const char *due_key);
void hl_qddb_fresh_take(ddbq *q, const char *sub_id, candidate **arr, size_t *n, size_t *cap);
void hl_qddb_fresh_return(ddbq *q, candidate *c);
void hl_qddb_fresh_forget(ddbq *q, const char *sub_id);
void hl_qddb_fresh_dispose(ddbq *q);
/* Rows without an order entry (hl_queue_ddb_adopt.c): whether the
 * subscription's ordered claim should look for them first; the look, which
 * gives each found an entry before the first numbered one and then calls
 * done (err HL_ESTORE: a call failed, the claim should not go on); a
 * subscription deleted forgets its state; all freed at destroy. */
typedef void (*hl_qddb_adopt_cb)(void *data, int err);
bool hl_qddb_adopt_due(ddbq *q, const char *sub_id, int64_t now);
void hl_qddb_adopt(ddbq *q, const char *sub_id, int64_t now, hl_qddb_adopt_cb done, void *data);
/* One row known to have no entry (given back by this process after its
 * subscription turned fifo): its entry and mark, answered to nobody. */
void hl_qddb_adopt_row(ddbq *q, const char *sub_id, const char *event_id, int64_t accepted_at);
void hl_qddb_adopt_forget(ddbq *q, const char *sub_id);
void hl_qddb_adopt_dispose(ddbq *q);

#endif
