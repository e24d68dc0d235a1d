/* hl_queue_ddb.h — a pull queue on DynamoDB, so that Lambda (and ECS
 * services sharing the deployment) need no Kafka.
 *
 * Rows. DELIVERY_QUEUE_TABLE (default delivery_queue), key (event_id,
 * subscription_id): one row per delivery with its status (PENDING,
 * RETRYING, SUCCESS, FAILED), attempts and last error, the event's type,
 * accepted time and trace. The body is the events table's (EVENTS_TABLE,
 * written by the API before accept). Every recorded status is also written
 * to the delivery status table, which the API reads.
 *
 * Due rows. While a row is open it carries due_shard and due_key
 * ("<due ms, 15 digits>#<event_id>#<subscription_id>"); terminal rows lose
 * both, so the global secondary index "due" (due_shard, due_key) is
 * sparse: it holds the open rows only, ordered by due time. Each
 * subscription has HL_QUEUE_DDB_SHARDS partitions of its own: due_shard =
 * 8 + 8 * (a hash of its id, mod HL_QUEUE_DDB_SUB_BUCKETS) + (a hash of
 * the row's key, mod 8), so that a hot subscription spreads over eight
 * partitions. A claim is for one subscription and asks its eight with one
 * Query each (key condition due_key < now; the lease and, for two ids
 * sharing a bucket, the subscription as filters), never a Scan. A page
 * full of the subscription's own leased rows (its deliveries in flight,
 * retries kept in memory) is read past, up to 8 pages a partition.
 *
 * Earlier versions put every subscription's rows in partitions 0..7, where
 * a claim read the oldest 200 rows of each, whoever's they were: a backlog
 * of one subscription's due rows hid every later subscription's, whose
 * claims found nothing and came back at once for as long as it lasted.
 * Rows in those partitions (written before the upgrade, or by a process of
 * the earlier version during a rolling deploy) are still claimed: a claim
 * also reads one page of each while the last look at them found any. A
 * look (at the first claim and every minute after) moves every row there
 * that no live lease holds to its subscription's own partitions
 * (hl_queue_ddb_legacy.c), so a live subscription's rows never wait
 * behind a page of rows nothing claims; a subscription not stored any
 * more (an earlier version deleted it without a note) is noted first, and
 * retention's sweep closes its rows.
 *
 * Leases. The index is eventually consistent and other processes claim
 * too, so a row found is claimed with a conditional UpdateItem: it is
 * still open, due_key unchanged, and nobody holds a lease that has not
 * ended (lease_until < now). The winner sets lease_owner (this process)
 * and lease_until (now + lease_ms); everyone else's condition fails and
 * the row is skipped. Records and releases are conditional on
 * lease_owner = this process: a process whose lease ran out and was taken
 * over learns so (its record answers HL_ENOTFOUND, which the dispatcher
 * takes as "nothing more to do here"). A retry kept in memory extends the
 * lease past its due time; a released one gives the lease up and gets a
 * new due_key. A process that stops (serve's drain) releases what it holds
 * (release_at_stop): its leases would outlive it. While it runs, the
 * process renews the leases of every row it holds (waiting for a slot, in
 * flight, or a retry kept in memory) every lease/3, and sends a waiting
 * delivery only while its lease is still its own (holds): a row may wait
 * here longer than a lease (hl_queue_ddb_lease.c).
 *
 * What a lease cannot prevent: a holder that sends, then stalls past
 * lease_until (a frozen Lambda sandbox), and another process that claims
 * the row and sends again. Delivery is at least once; both attempts carry
 * the same webhook-id, and a success writes the idempotency ledger, which
 * the dispatcher reads before every send (redelivers = true).
 *
 * Ordered delivery ("ordering": "fifo", claim_head). DynamoDB has no
 * sequence and a GSI cannot be read consistently, so each fifo
 * subscription keeps its acceptance order in the queue table itself, in
 * one partition, event_id = "#fifo#<subscription_id>":
 *   - a counter item (subscription_id "~seq", attribute n), incremented
 *     with ADD at each accept: the delivery's seq;
 *   - one order entry per open delivery (subscription_id "<seq, 15
 *     digits>#<event_id>", attributes ev, at = a version, written_at),
 *     put before the delivery's row, which carries fifo_seq.
 * claim_head reads the partition's first entry (Query, consistent, Limit
 * 1: the oldest), then the row (GetItem, consistent). A row that is
 * SUCCESS or FAILED, or missing a minute after its entry was written (its
 * accept failed), loses its entry (DeleteItem conditional on at, so an
 * entry a re-queue wrote again is kept) and the next entry is looked at.
 * A row that is open is the head: held by a lease (next look when it
 * ends), not due (next look then), or leased here with the same
 * conditional UpdateItem as any claim (due_key unchanged, no live lease),
 * which only one of two claimers can win. A follower's entry is the first
 * only once every earlier row was seen terminal, so no follower is handed
 * out while the head is open. A re-queue of a fifo delivery puts its entry
 * back at its seq (after the row is open again). Open rows without an
 * entry (a backlog from before the subscription turned fifo) are given
 * one, before every numbered entry, by a look the ordered claim makes
 * first while such rows can still appear (hl_queue_ddb_adopt.c); the row
 * keeps that entry's key (fifo_key) for its re-queue.
 *
 * Deleted subscriptions (forget_sub, sweep). Nothing claims a deleted
 * subscription's rows, and the store's retention cannot see them, so the
 * API's DELETE first puts a note in the queue table (event_id "#deleted",
 * subscription_id the id; partner_id, event_type, deleted_at), then the
 * store deletes the subscription. A sweep (serve's retention tick, each
 * Lambda drain) reads the notes; for one whose subscription is no longer
 * stored under that id it reads a page of each of the subscription's
 * partitions and of the earlier versions', closes every open row no live
 * lease holds (conditional UpdateItem: FAILED, off the index, then the
 * status row), and drops the note once a round left nothing open and it
 * is GONE_STALE_MS old (rows a process whose registry still had the
 * subscription accepted after the delete are closed meanwhile). A note of
 * a subscription still stored is left while young (its delete may be
 * under way) and dropped after GONE_STALE_MS.
 *
 * All calls go through the store's DynamoDB client (on the loop).
 */
#ifndef HL_QUEUE_DDB_H
#define HL_QUEUE_DDB_H

#include "queue/hl_queue.h"

typedef struct {
  hl_store *store;      /* borrowed: a DynamoDB store (hl_store_ddb) */
  const char *table;    /* DELIVERY_QUEUE_TABLE (copied) */
  uint64_t lease_ms;    /* 0: 120000 */
  /* borrowed: which subscriptions are "ordering": "fifo" (accept writes
   * their order entries); NULL: no ordered claim (fifo refused). */
  const hl_registry *reg;
  /* How long after a subscription turned fifo rows without an order entry
   * may still be accepted: processes with the copy from before reload it
   * (HOOKLOOP_CONFIG_TTL_S), and the index shows rows late. 0: 70 s. */
  uint64_t adopt_window_ms;
} hl_queue_ddb_options;

#define HL_QUEUE_DDB_SHARDS 8
#define HL_QUEUE_DDB_SUB_BUCKETS (1u << 24)
#define HL_QUEUE_DDB_INDEX "due"

hl_queue *hl_queue_ddb_create(const hl_queue_ddb_options *o);
/* An open row's due_shard (above, "Due rows"), as decimal text in out. */
const char *hl_queue_ddb_due_shard(char out[24], const char *event_id, const char *sub_id);
/* Work this process started and has not finished: claims, records and
 * accepts in flight, claimed deliveries not yet recorded or released, and
 * subscriptions whose last claim left due rows it did not ask for (a claim
 * that lost rows to another process comes back for the next ones; the
 * dispatcher claims again at once, or when it has room). */
size_t hl_queue_ddb_busy(hl_queue *q);
/* DynamoDB calls not yet answered. A claim's answer goes to its caller only
 * while the queue lives: whoever destroys it waits for 0 first (no claim can
 * start after the dispatcher stopped), or the claimer's context is lost. */
size_t hl_queue_ddb_calls(hl_queue *q);
/* The earliest due time (ms since epoch) of a retry this process released
 * and has not claimed since, or 0. */
int64_t hl_queue_ddb_next_wake(hl_queue *q);
/* Since creation: deliveries claimed, outcomes recorded, and rows found due
 * whose claim another process won (reports). */
void hl_queue_ddb_counts(hl_queue *q, uint64_t *claimed, uint64_t *recorded, uint64_t *lost);
/* Since creation: waiting deliveries of deleted subscriptions closed by sweep. */
uint64_t hl_queue_ddb_closed(hl_queue *q);

#endif
