/* hl_ddb_sweep.h — retention's closing of a deleted subscription's waiting
 * deliveries (hl_store_purge.close_deleted, docs/retention.md) for the
 * DynamoDB store over its SQLite queue. The queue cannot tell a deleted
 * subscription (the subscriptions are in DynamoDB, not in its file), so a
 * batch asks each side in turn:
 *
 *   1. the queue: up to HL_STORE_PURGE_SUBS subscriptions with open
 *      deliveries, from the cursor (eq_open_subs);
 *   2. DynamoDB: which of them exist (store/hl_ddb_sub_ids.h: the
 *      subscription table is keyed by partner and event type, so a
 *      consistent Scan of its subscription_id, which stops as soon as
 *      every one of them was seen). t0: when it was sent;
 *   3. the queue: up to the batch's limit open, unclaimed deliveries of
 *      those DynamoDB lacks, unchanged since before t0 (eq_open_of);
 *   4. DynamoDB: each one's status FAILED, "the subscription was deleted",
 *      through the store's own final-status write (final_begin);
 *   5. the queue: those whose status landed closed the same way, each only
 *      if it is still as step 3 read it (eq_close_open).
 *
 * DynamoDB before the queue, as for every final status: a crash between
 * the two leaves the queue row open, and a later batch writes and closes it
 * again. A read that fails (steps 1 to 3) closes nothing, and a status
 * that did not land leaves its row open: the next batch tries again. A
 * subscription is never taken for deleted from anything but a complete,
 * successful Scan.
 *
 * A subscription re-created with the same id after the Scan missed it (ids
 * are random: only an update through a process whose registry still had
 * it can do that) keeps its deliveries. This process accepts one for it
 * only once its registry has read the new item, which was written after
 * the Scan read the table, so after t0: it is accepted, and its row
 * stamped, at t0 or later, and step 3 does not pick it (re-queues and
 * replays stamp their rows with their time too). A delivery that its
 * dispatcher claims or changes after step 3 is skipped at step 5, and its
 * own status, written after ours, is the one DynamoDB keeps. What is closed
 * is what waited, untouched, from before t0: the deleted subscription's
 * backlog. (The stamps are this process's wall clock: a clock set back
 * between the Scan and an acceptance would narrow this.)
 *
 * A batch that closed its limit leaves more of the same subscriptions'
 * rows, and the next batch walks them again. It reuses the Scan's verdict
 * and its t0 instead of scanning again: what was absent at t0 was absent,
 * and step 3 still takes only rows unchanged since before that t0, so the
 * argument above holds unchanged. A subscription that was not in that
 * verdict is taken to exist until the walk moves on and a new Scan looks.
 * So a deleted backlog of N rows costs one Scan, not N / limit.
 */
#ifndef HL_DDB_SWEEP_H
#define HL_DDB_SWEEP_H

#include "store/hl_ddb_client.h"
#include "store/hl_store.h"

typedef struct {
  hl_ddb_client *client; /* borrowed: the store's */
  const char *table;     /* borrowed: the subscription table's name */
  int page_limit;        /* Scan page size (0: DynamoDB's) */
  hl_store *queue;       /* borrowed: the SQLite queue beneath (eq_open_subs ...) */
  /* The store's write of a delivery's final status r: DynamoDB's item put
   * (cb once it landed, or failed), and until final_end(handle) the
   * delivery counts as one whose final status is on its way to the queue
   * (a re-queue or a replay of it waits for that). Returns the handle. */
  void *(*final_begin)(void *owner, const hl_delivery_rec *r, hl_store_cb cb, void *data);
  void (*final_end)(void *owner, void *handle);
  /* A batch holds its owner while it runs (hold on start, release once its
   * callback ran), so that the store closes only when it is done. */
  void (*hold)(void *owner);
  void (*release)(void *owner);
  void *owner;
  /* The subscription id the next batch starts after (NULL: the first).
   * A batch that closed its limit walks the same subscriptions again; a
   * walk that ran out starts over. */
  char *cursor;
  /* The last Scan's deleted subscriptions and its t0, while the batches
   * walk the same subscriptions (above); none once the walk moves on or a
   * batch fails. */
  char **gone;
  size_t ngone;
  int64_t gone_t0;
  bool busy; /* a batch is running: another one closes nothing */
} hl_ddb_sweep;

/* One batch (above) of at most p->limit deliveries, stamped p->now_ms. cb
 * gets 0 and res->purged.closed (statuses that did not land are logged,
 * their rows left open), or the status of the step that failed (nothing
 * was closed in the queue). cb runs once, on the loop, never from inside
 * this call. */
void hl_ddb_sweep_run(hl_ddb_sweep *w, const hl_store_purge *p, hl_store_cb cb, void *data);
/* Frees the cursor and the kept verdict (no batch may be running). */
void hl_ddb_sweep_dispose(hl_ddb_sweep *w);

#endif
