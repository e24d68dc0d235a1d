/* hl_queue.h — the delivery queue interface: where the dispatcher's
 * deliveries come from and where their outcomes go.
 *
 * Two kinds, one vtable:
 *   pull  the dispatcher claims due deliveries per subscription (claim) and
 *         gives them back unclaimed when it drops them (release): the
 *         embedded queue over the store's eq_* tables (hl_queue_embedded).
 *   push  deliveries are handed in (hl_dispatch_submit) by whoever reads
 *         them (serve's Kafka consumer, Lambda's MSK batches) and are told
 *         when each leaves memory (finished): hl_queue_kafka, where a
 *         retry goes to a retry tier topic and a failure to the
 *         dead-letter topic.
 * Either way `record` makes an attempt's outcome durable before anything
 * else happens to the delivery. A Postgres or DynamoDB queue is one more
 * implementation.
 *
 * The store keeps the records (schemas, subscriptions, delivery status,
 * the idempotency ledger); a queue may keep its items in the same store
 * (the embedded one does) or elsewhere (Kafka).
 */
#ifndef HL_QUEUE_H
#define HL_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/hl_buf.h"
#include "model/hl_registry.h"
#include "store/hl_store.h"

typedef enum { HL_QUEUE_DELIVERED, HL_QUEUE_DUPLICATE, HL_QUEUE_RETRY, HL_QUEUE_FAILED } hl_queue_outcome;

/* One attempt's outcome to make durable. Everything is borrowed until the
 * record callback runs. */
typedef struct {
  const hl_eq_item *item;     /* item->d is the row as it is now (status, attempts, error) */
  hl_queue_outcome outcome;
  uint64_t retry_in_ms;       /* RETRY: when the next attempt is due */
  bool release;               /* pull: the delivery leaves memory, back unclaimed (due at next_attempt_at) */
  /* push, RETRY of an ordered ("fifo") subscription's head: the retry stays
   * in the dispatcher's memory, its followers behind it; the queue writes
   * the status only (no retry topic) and the item is not done. */
  bool kept;
  const char *error;          /* FAILED: why (the dead-letter reason) */
} hl_queue_attempt;

/* How a re-queue ended: status 0 (re-queued), HL_ENOTFOUND (no such
 * delivery, or not where the queue looks), HL_EINVAL (not FAILED), or
 * another hl_err (the store or the queue failed). code and message name
 * the case for the answer; NULL: the caller's defaults for status. */
typedef void (*hl_queue_requeue_cb)(void *data, int status, const char *code, const char *message);

/* How a replay of one delivery ended: status 0 (queued; generation is its
 * replay generation, hl_eq_item.replay), HL_ENOTFOUND (no such delivery,
 * or its event body is gone), HL_EINVAL (still open: PENDING or
 * RETRYING), or another hl_err (the store failed). */
typedef void (*hl_queue_replay_cb)(void *data, int status, int64_t generation);

typedef struct hl_queue hl_queue;
typedef struct {
  const char *name;           /* "embedded", "kafka" (health, logs) */
  /* Items may arrive again after they were delivered (a re-read batch):
   * the dispatcher checks the idempotency ledger before sending. */
  bool redelivers;
  /* Retries are the queue's: a delivery that will be retried leaves memory
   * once recorded, and the queue brings it again when due. false: short
   * retries wait in the dispatcher's memory. */
  bool owns_retries;
  /* pull: up to limit due deliveries of a subscription, claimed (-> items,
   * next_due_at); NULL for push queues. */
  void (*claim)(hl_queue *q, const char *subscription_id, size_t limit, int64_t now_ms, hl_store_cb cb,
                void *data);
  /* pull, ordered subscriptions: the oldest open delivery if due
   * (hl_store.eq_claim_head); NULL when the queue cannot keep order. */
  void (*claim_head)(hl_queue *q, const char *subscription_id, int64_t now_ms, hl_store_cb cb, void *data);
  /* Whether "ordering": "fifo" holds here: pull queues with claim_head (the
   * store has it); a push queue (Kafka) that hands records in in partition
   * order and records kept retries (hl_queue_attempt.kept). */
  bool (*orders)(const hl_queue *q);
  /* Records an attempt's outcome; cb's status 0 once durable. */
  void (*record)(hl_queue *q, const hl_queue_attempt *a, hl_store_cb cb, void *data);
  /* pull: gives a held delivery back unclaimed, due at r->next_attempt_at. */
  void (*release)(hl_queue *q, const hl_delivery_rec *r);
  /* pull: what the dispatcher holds in memory (waiting for a slot or for
   * its retry) is released when it stops (hl_dispatch_stop): nothing else
   * would give it back before its lease ends (the DynamoDB queue, shared
   * with other processes, keeps leases past the process). false: the
   * store gives it back itself, a release of each would only add writes
   * to the drain (SQLite: a start resets every claim; PostgreSQL: the
   * close releases the rows this process still owns, where a release
   * written from memory would not check that it still does). */
  bool release_at_stop;
  /* push: a handed-in delivery leaves memory; recorded: its outcome is
   * durable (the item is done), false: dropped (consume it again). */
  void (*finished)(hl_queue *q, void *token, hl_sub *sub, bool recorded);
  /* --- intake (the API) --- */
  /* Takes an accepted event and its fan-out (ev->subscription_ids)
   * durably; cb: 0, HL_EEXISTS (this id was accepted before), or an error
   * (HL_EUNSUPPORTED: nowhere durable to put it). ingress_topic: where a
   * Kafka queue puts the event (its processor fans it out). */
  void (*accept)(hl_queue *q, const hl_eq_accept *ev, const char *ingress_topic, hl_store_cb cb, void *data);
  /* Re-queues a FAILED delivery, attempts kept; NULL: not supported. */
  void (*requeue)(hl_queue *q, const hl_registry *reg, const char *event_id, const char *subscription_id,
                  hl_queue_requeue_cb cb, void *data);
  /* A topic a registration needs exists (Kafka: created when missing); NULL: none needed. */
  void (*prepare_topic)(hl_queue *q, const char *topic);
  /* Deliveries not yet terminal, or -1 when the queue cannot tell. */
  int64_t (*backlog)(hl_queue *q);
  void (*destroy)(hl_queue *q);
  /* Sends an event again to one subscription (POST
   * /admin/events/{id}/replay): the terminal delivery is reopened with the
   * next replay generation, the same event id and the bytes kept with it.
   * NULL: the queue keeps no event bodies to send again (Kafka). */
  void (*replay)(hl_queue *q, const char *event_id, const char *subscription_id, hl_queue_replay_cb cb,
                 void *data);
  /* --- a deleted subscription's waiting deliveries --- */
  /* Before the store deletes subscription r: notes durably that it is
   * going, so that sweep closes what it leaves waiting (a crash after the
   * note and before the delete leaves a note of a live subscription, which
   * sweep drops). cb's status 0 once noted; anything else: the delete does
   * not go ahead. NULL: the queue needs no note (the embedded queue's rows
   * are the store's, whose purge asks the store which subscriptions exist). */
  void (*forget_sub)(hl_queue *q, const hl_sub_rec *r, hl_store_cb cb, void *data);
  /* Retention for a queue whose rows the store's purge cannot see: closes
   * up to p->limit waiting deliveries of subscriptions forget_sub noted,
   * FAILED with HL_STORE_SUB_DELETED -> purged.closed. NULL: none. */
  void (*sweep)(hl_queue *q, const hl_store_purge *p, hl_store_cb cb, void *data);
  /* pull, a queue shared with other processes whose leases can end while a
   * delivery waits here (DynamoDB): whether the lease of held delivery r
   * is still this process's, with time to run, as it is about to start.
   * false: it is not sent from here (another process holds the row, or
   * may before the attempt starts); the dispatcher releases it (a
   * release conditional on the lease). NULL: always. */
  bool (*holds)(hl_queue *q, const hl_delivery_rec *r);
} hl_queue_vt;

struct hl_queue {
  const hl_queue_vt *vt;
  bool closing;               /* set by the dispatcher at close: forward nothing more */
  /* Set by the dispatcher: a pull queue has new due items for a
   * subscription (after an accept or a re-queue), so whoever accepts never
   * calls the dispatcher. */
  void (*on_ready)(void *data, const char *subscription_id);
  void *ready_data;
  /* Set by a pull queue: the items it hands out are this process's alone
   * (the embedded queue over a store no other process uses), so holding
   * more of them in memory keeps no other process from work
   * (hl_dispatch_sub_memory_cap). A push queue's are always. */
  bool alone;
};

/* The queue's open deliveries, or -1 where there is no queue or it cannot
 * tell (Kafka): what /healthz, /admin/stats, /metrics and the high water read. */
static inline int64_t hl_queue_backlog(hl_queue *q) { return q && q->vt->backlog ? q->vt->backlog(q) : -1; }

#endif
