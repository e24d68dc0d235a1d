/* hl_store.h — the store interface: the tables of docs/interface.md §6 behind one
 * vtable that the SQLite (embedded) and DynamoDB backends implement.
 *
 * Every operation is asynchronous: it takes a callback that runs later on
 * the loop (never from inside the call), once the write is durable or the
 * read is done. The SQLite backend runs the statements at once inside one
 * transaction per loop turn (or per group commit of a few ms of turns)
 * and calls back after COMMIT; the DynamoDB
 * backend sends HTTP requests through the loop's curl multi handle.
 *
 * Ownership: records passed in are copied (the caller keeps them). The
 * hl_store_result handed to a callback belongs to the store and is freed
 * when the callback returns; a callback keeps a pointer by setting the
 * field in the result to NULL (records are freed with their _free helper).
 */
#ifndef HL_STORE_H
#define HL_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/hl_buf.h"

/* event_schema: key (schema_id = "<domain>.<event_type>", version). */
typedef struct {
  char *schema_id;
  int64_t version;
  char *domain;
  char *event_type;
  char *status;        /* "ACTIVE" / "INACTIVE" */
  char *schema_json;   /* the schema document as registered */
  char *ingress_topic;
  int64_t created_at;  /* ms since epoch */
} hl_schema_rec;

/* partner_event_subscription: key (partner_id, event_type). */
typedef struct {
  char *subscription_id;
  char *partner_id;
  char *event_type;
  char *url;
  char *secret;        /* "whsec_..."; several space-separated during rotation */
  char *headers_json;  /* JSON object or NULL */
  char *filter_json;   /* JSON object or NULL */
  char *retry_schedule;/* NULL: the process default */
  char *egress_topic;
  char *status;        /* "ACTIVE" */
  int64_t max_in_flight, rate_limit_per_s, timeout_ms, created_at;
  /* NULL: HTTP (url). Otherwise the canonical JSON of an SNS, SQS or
   * EventBridge destination (model/hl_destination.h); url is then NULL
   * (kept as "" where the column is NOT NULL). */
  char *destination_json;
  char *signing;       /* NULL: HMAC ("v1"); "ed25519": secret holds "whsk_" keys ("v1a") */
  /* Partner Info enrichment's failure policy for this subscription
   * (model/hl_sub_enrich.h): "retry" or "deliver_unenriched"; NULL: the
   * process's PARTNER_INFO_ON_FAILURE. */
  char *enrichment_on_failure;
  /* The TLS client certificate presented to the partner (mTLS), PEM, and
   * its private key, PEM; both NULL when none. The key is a credential:
   * sealed at rest as the secret is (model/hl_sub_seal.h), never shown. */
  char *client_cert, *client_key;
  /* Ordered delivery (model/hl_sub_order.h): NULL ("none") or "fifo";
   * skip_after: a fifo head is dead-lettered after this many attempts
   * (0: never, it blocks until its schedule is exhausted). */
  char *ordering;
  int64_t skip_after;
  /* Optimistic concurrency (several processes share the store): the
   * revision of the stored row this copy was read or written as (0: a row
   * written before revisions, or none yet). sub_put writes revision + 1 on
   * the condition that the stored row is still at revision (or that there
   * is no row, for a copy at 0), else fails with HL_ECONFLICT and changes
   * nothing. write_token: the put's own random token, stored with the row;
   * a put whose stored row carries its own token is accepted again (its
   * retry after a lost answer found the first attempt committed). NULL:
   * none. */
  int64_t revision;
  char *write_token;
} hl_sub_rec;

/* partner: key partner_id. A partner's limits form one admission gate
 * shared by all its subscriptions (model/hl_partner.h). */
typedef struct {
  char *partner_id;
  char *name;           /* NULL when not given */
  char *contact;        /* NULL when not given */
  char *metadata_json;  /* JSON object or NULL */
  int64_t max_in_flight;    /* across the partner's subscriptions; 0: no cap */
  int64_t rate_limit_per_s; /* across the partner's subscriptions; 0: no limit */
  int64_t created_at;
} hl_partner_rec;

/* event_delivery_status: key (event_id, subscription_id). */
typedef struct {
  char *event_id;
  char *subscription_id;
  char *status;        /* PENDING / RETRYING / SUCCESS / FAILED */
  int64_t attempts;
  int64_t last_status_code;  /* 0 when no HTTP answer */
  char *last_error;          /* NULL when none */
  int64_t last_latency_ms;
  int64_t updated_at;        /* ms since epoch */
  int64_t next_attempt_at;   /* ms since epoch; 0 when terminal */
  /* The transformations that produced the bytes of the last attempt,
   * "<id>@<version>" comma-separated in the order applied
   * ("event_type:order.created@2,subscription:sub_x@1"); NULL: none, the
   * partner got the accepted bytes. */
  char *transformation;
  /* The replay generation of the attempt recorded (hl_eq_item.replay), for
   * a backend that writes the whole row (DynamoDB's PutItem) and would lose
   * the one delivery_replay counted up; the SQL stores keep theirs and do
   * not read this. 0: the event's own delivery. */
  int64_t replays;
  /* The store's own handle of the row, as its claim handed the delivery
   * out (SQLite: the rowid), so that recording the outcome finds the row
   * without a search of the key's index; 0: none. Only a hint: the row is
   * still found by its key when the handle does not name it. Stores that
   * have none leave it 0 and do not read it. */
  int64_t row_ref;
  /* This write records that generation `replays` was delivered (a SUCCESS
   * that sent the request, or a copy the duplicate check found delivered):
   * a store with delivered_get keeps the highest such generation in the
   * row; others ignore it (the dispatcher writes their ledger instead). */
  bool delivered;
} hl_delivery_rec;

/* A search of one subscription's deliveries (GET /admin/deliveries), newest
 * update first: ordered by (updated_at, event_id) descending. A page goes
 * on after the row (after_updated_at, after_event_id) of the page before;
 * a first page passes INT64_MAX and "". The fields are borrowed for the
 * call only. */
typedef struct {
  const char *subscription_id;
  const char *status;        /* NULL: any */
  int64_t since, until;      /* updated_at range, ms, inclusive (0 / INT64_MAX: open) */
  int64_t after_updated_at;
  const char *after_event_id;
  size_t limit;
} hl_delivery_query;

/* transformation: key (transformation_id, version). transformation_id is
 * "event_type:<event_type>" or "subscription:<subscription_id>"; versions
 * are never overwritten (put fails with HL_EEXISTS), so a delivery's
 * recorded "<id>@<version>" names the spec that shaped it for good. */
typedef struct {
  char *transformation_id;
  int64_t version;
  char *spec_json;     /* the spec as registered; NULL: this version removes it */
  int64_t created_at;  /* ms since epoch */
} hl_xform_rec;

/* delivery_attempt: one attempt of a delivery as the partner answered it
 * (GET /admin/deliveries/{event_id}/{subscription_id}/attempts). Bounded:
 * a delivery keeps its last HL_ATTEMPT_LOG_MAX attempts, in slot
 * (attempt - 1) % HL_ATTEMPT_LOG_MAX, so a write replaces the oldest and
 * never needs a delete. Redacted before it reaches the store
 * (handlers/hl_attempt_log.h): no credential-like header, at most
 * HL_ATTEMPT_BODY_MAX bytes of the answer. */
#define HL_ATTEMPT_LOG_MAX 20
#define HL_ATTEMPT_BODY_MAX 1024
typedef struct {
  char *event_id;
  char *subscription_id;
  int64_t attempt;       /* 1 for the first; replays and re-queues count on */
  int64_t at_ms;         /* when the attempt ended, ms since epoch */
  int64_t status_code;   /* 0: no HTTP answer (null in the API) */
  int64_t latency_ms;
  char *error;           /* NULL: none */
  char *headers_json;    /* the answer's headers, redacted: a JSON object ("{}": none) */
  char *body;            /* the answer's first bytes, valid UTF-8 ("" when none) */
  bool truncated;        /* the answer was longer than body */
} hl_attempt_rec;

/* A delivery taken from the embedded queue, with the event it carries. */
typedef struct {
  hl_delivery_rec d;
  char *event_type;
  char *body;          /* the accepted bytes, exactly */
  size_t body_len;
  char *trace;         /* traceparent / X-Amzn-Trace-Id of the request, or NULL */
  int64_t accepted_at; /* ms since epoch */
  /* Replay generation: 0 for the event's own delivery, N once it was
   * replayed N times (eq_replay); part of the idempotency ledger key. */
  int64_t replay;
} hl_eq_item;

typedef struct {
  hl_schema_rec *schemas; size_t nschemas;
  hl_sub_rec *subs; size_t nsubs;
  hl_delivery_rec *deliveries; size_t ndeliveries;
  hl_xform_rec *xforms; size_t nxforms;
  hl_eq_item *items; size_t nitems;
  hl_partner_rec *partners; size_t npartners;
  hl_attempt_rec *attempts; size_t nattempts;
  char *value;   /* a single text result (ledger status), or NULL */
  /* eq_claim that came back short (fewer items than asked): when the
   * earliest of the open, unclaimed deliveries it did not hand out falls
   * due (ms since epoch), 0 when there are none. The claimer must come
   * back then: nothing else would wake it for a retry released earlier
   * (before a restart, say). */
  int64_t next_due_at;
  /* purge: the rows it deleted, by kind (docs/retention.md). */
  struct {
    int64_t deliveries, attempts, events, ledger;
    int64_t closed; /* open deliveries of deleted subscriptions, now FAILED */
  } purged;
} hl_store_result;

/* Retention (purge): what may go. Deliveries that are SUCCESS and last
 * changed before delivered_before_ms, or FAILED and last changed before
 * failed_before_ms, with their attempt-log rows and, once it has no
 * delivery left, their event and its body; ledger entries that expired
 * before now_s. PENDING and RETRYING rows never go. At most limit rows of
 * each kind a call. */
typedef struct {
  int64_t delivered_before_ms;
  int64_t failed_before_ms;
  int64_t now_s;
  size_t limit;
  /* Also close open deliveries whose subscription is no longer stored: up
   * to limit rows, unclaimed ones, set FAILED with HL_STORE_SUB_DELETED as
   * their error, so that a deleted subscription's backlog does not stay
   * open (and counted) for ever. A queue does it alone only where the
   * subscriptions are in its own database; the SQLite queue beneath
   * DynamoDB is asked by the DynamoDB store instead, step by step
   * (eq_open_subs, eq_open_of, eq_close_open; store/hl_ddb_sweep.h). */
  bool close_deleted;
  int64_t now_ms;
} hl_store_purge;

#define HL_STORE_SUB_DELETED "the subscription was deleted"
/* How many subscriptions with open deliveries a purge looks at. */
#define HL_STORE_PURGE_SUBS 256

/* status: 0, or a negative hl_err (HL_EEXISTS: duplicate / condition failed,
 * HL_ENOTFOUND, HL_ESTORE ...). res is never NULL. */
typedef void (*hl_store_cb)(void *data, int status, hl_store_result *res);

typedef struct hl_store hl_store;

/* One part of a store's health check (health names the part that fails). */
typedef struct {
  const char *part;   /* "sqlite", "dynamodb" (static text) */
  int status;         /* 0, or a negative hl_err */
  char error[256];    /* what failed, for an operator, when status != 0 */
} hl_store_check;

/* The parts a store checked: itself, and the SQLite queue beneath a
 * DynamoDB store. */
typedef void (*hl_store_check_cb)(void *data, const hl_store_check *parts, size_t nparts);

/* An attribute projected from an event's body (model/hl_project.h): a
 * name, 'S' or 'N', and the text (an N's exact decimal text). */
typedef struct {
  char *name;
  char type;
  char *text;
  size_t len;
} hl_event_attr;

/* An accepted event and the deliveries it fans out to (embedded queue). */
typedef struct {
  const char *event_id;
  const char *event_type;
  const char *body;
  size_t body_len;
  const char *trace;
  const char *const *subscription_ids;
  size_t nsubs;
  const hl_event_attr *attrs;  /* projected from the body (event_put) */
  size_t nattrs;
  int64_t accepted_at;         /* ms since epoch (event_put; 0: now) */
} hl_eq_accept;

typedef struct {
  const char *name;
  void (*close)(hl_store *s, void (*cb)(void *data), void *data);
  /* Health: a live, cheap check that the store works now, never blocking
   * the loop. SQLite: the database file is still the one open, the write
   * lock can be had, a read works, and the last write did not fail (a
   * failed commit counts until a write succeeds again; while it does, the
   * check itself writes a row to find out). DynamoDB: DescribeTable of the
   * delivery status table, made once with a 2 s timeout, plus its queue's
   * check. cb runs once, on the loop, never inside the call. */
  void (*check)(hl_store *s, hl_store_check_cb cb, void *data);
  /* Answers once no write the store took is still on its way: every
   * batched or retried write sent and answered (0), or within_ms later
   * with HL_ETIMEOUT, or HL_ECLOSED at close. For a process about to be
   * frozen between calls (Lambda, before /next): a write left in a buffer
   * or waiting out a throttle would go out only when thawed, or never.
   * NULL: every write is answered before its callback (nothing held). cb
   * may run inside the call. */
  void (*settle)(hl_store *s, int64_t within_ms, hl_store_cb cb, void *data);

  void (*schema_put)(hl_store *s, const hl_schema_rec *r, hl_store_cb cb, void *data);
  void (*schema_list)(hl_store *s, hl_store_cb cb, void *data);          /* -> schemas */
  /* Conditional on r->revision (hl_sub_rec): HL_ECONFLICT when the stored
   * row is at another one (another process wrote it), nothing changed. */
  void (*sub_put)(hl_store *s, const hl_sub_rec *r, hl_store_cb cb, void *data);
  void (*sub_list)(hl_store *s, hl_store_cb cb, void *data);             /* -> subs */
  void (*sub_delete)(hl_store *s, const char *partner_id, const char *event_type,
                     hl_store_cb cb, void *data);                          /* HL_ENOTFOUND */
  /* Partners: put inserts or replaces; delete fails with HL_ENOTFOUND. */
  void (*partner_put)(hl_store *s, const hl_partner_rec *r, hl_store_cb cb, void *data);
  void (*partner_list)(hl_store *s, hl_store_cb cb, void *data);         /* -> partners */
  void (*partner_delete)(hl_store *s, const char *partner_id, hl_store_cb cb, void *data);
  void (*kafka_map_put)(hl_store *s, const char *event_type, const char *ingress_topic,
                        const char *egress_topics_json, hl_store_cb cb, void *data);
  /* Transformations: put adds a version (HL_EEXISTS when it exists);
   * list gives every version, ordered by id and version. */
  void (*xform_put)(hl_store *s, const hl_xform_rec *r, hl_store_cb cb, void *data);
  void (*xform_list)(hl_store *s, hl_store_cb cb, void *data);            /* -> xforms */
  void (*delivery_put)(hl_store *s, const hl_delivery_rec *r, hl_store_cb cb, void *data);
  void (*delivery_list)(hl_store *s, const char *event_id, hl_store_cb cb, void *data); /* -> deliveries */
  /* -> deliveries, at most q->limit of them (see hl_delivery_query). */
  void (*delivery_search)(hl_store *s, const hl_delivery_query *q, hl_store_cb cb, void *data);
  /* Attempt log: put writes r into its slot (replacing the attempt
   * HL_ATTEMPT_LOG_MAX before it); list gives a delivery's attempts,
   * oldest first (-> attempts; none is not an error). */
  void (*attempt_put)(hl_store *s, const hl_attempt_rec *r, hl_store_cb cb, void *data);
  void (*attempt_list)(hl_store *s, const char *event_id, const char *subscription_id, hl_store_cb cb,
                       void *data);
  /* Idempotency ledger: put fails with HL_EEXISTS when the key exists. */
  void (*ledger_put)(hl_store *s, const char *key, const char *status, int64_t expires_at,
                     bool overwrite, hl_store_cb cb, void *data);
  void (*ledger_get)(hl_store *s, const char *key, hl_store_cb cb, void *data); /* -> value */
  /* The duplicate check of a delivery that a queue may bring again (Kafka):
   * -> value "DELIVERED" when its generation `replay` or a later one was
   * recorded delivered (hl_delivery_rec.delivered), else HL_ENOTFOUND.
   * The store keeps this in the status row, so a delivery costs no ledger
   * entry (one randomly keyed index write fewer: bench/README.md). NULL:
   * the store has no such column, and the dispatcher reads and writes the
   * idempotency ledger instead (docs/interface.md). */
  void (*delivered_get)(hl_store *s, const char *event_id, const char *subscription_id, int64_t replay,
                        hl_store_cb cb, void *data);
  /* Retention: one bounded batch (hl_store_purge) -> purged. SQLite also
   * gives back up to limit free pages of the file (incremental vacuum).
   * NULL: the backend expires rows by itself (DynamoDB TTL). */
  void (*purge)(hl_store *s, const hl_store_purge *p, hl_store_cb cb, void *data);

  /* Embedded queue (NULL in backends that have none; Kafka is the queue then). */
  void (*eq_accept)(hl_store *s, const hl_eq_accept *ev, hl_store_cb cb, void *data); /* HL_EEXISTS: duplicate */
  /* Takes up to limit due, unclaimed deliveries of one subscription,
   * oldest due first, and marks them claimed so they are not taken twice.
   * -> items; when fewer than limit were due, also next_due_at (see
   * hl_store_result). HL_EINVAL without a subscription: the dispatcher
   * claims per subscription (hl_queue.h), and an index of every
   * subscription's due rows would be written at every accept and claim
   * for a claim nothing makes. */
  void (*eq_claim)(hl_store *s, const char *subscription_id, size_t limit, int64_t now_ms,
                   hl_store_cb cb, void *data);
  /* Ordered delivery ("ordering": "fifo"): the subscription's oldest open
   * delivery in acceptance order, claimed, if it is due and not claimed
   * already; else no item, and next_due_at is when that head falls due (0:
   * it is claimed, or nothing is open). Its followers are never handed out
   * while it is open. NULL: the store cannot keep order (fifo refused). */
  void (*eq_claim_head)(hl_store *s, const char *subscription_id, int64_t now_ms, hl_store_cb cb, void *data);
  /* Records an attempt's outcome. release: put the delivery back unclaimed
   * (it is due again at r->next_attempt_at). */
  void (*eq_update)(hl_store *s, const hl_delivery_rec *r, bool release, hl_store_cb cb, void *data);
  /* Re-queues a FAILED delivery (attempts kept, due now); HL_ENOTFOUND / HL_EINVAL (not FAILED). */
  void (*eq_requeue)(hl_store *s, const char *event_id, const char *subscription_id,
                     hl_store_cb cb, void *data);
  /* Deliveries not yet terminal (for back-pressure), read synchronously:
   * committed rows only (a write that is rolled back does not count). */
  int64_t (*eq_backlog)(hl_store *s);

  /* Parked retries (the Lambda runtime, where no process stays up to wait
   * for a retry that falls due later than an invocation lasts): a delivery
   * kept with its event until then, taken by a scheduled drain. The due
   * time is it->d.next_attempt_at; (due time, event id, subscription id) is
   * the key, so parking the same one again changes nothing.
   * HL_EINVAL: this delivery cannot be parked (too large, not text). */
  void (*park_put)(hl_store *s, const hl_eq_item *it, hl_store_cb cb, void *data);
  /* Takes up to limit parked deliveries due at or before due_by that nobody
   * holds (no lease, or one that ended before now_ms), and holds them until
   * lease_until: a drain that dies lets them go again. -> items */
  void (*park_take)(hl_store *s, int64_t due_by, int64_t now_ms, int64_t lease_until, size_t limit,
                    hl_store_cb cb, void *data);
  /* Forgets a parked delivery (its attempt was recorded); by its key. */
  void (*park_delete)(hl_store *s, const hl_eq_item *it, hl_store_cb cb, void *data);

  /* The events table (DynamoDB): the accepted event's record (id, type,
   * accepted time, exact body, projected attributes), written before the
   * event is queued. A record already there is kept: HL_EEXISTS when it
   * is this event (type and body byte for byte: the caller goes on, and the
   * queue decides what a duplicate is), HL_ECONFLICT when another event
   * had the id (a duplicate: nothing is queued). NULL: the backend keeps no
   * event records of its own. */
  void (*event_put)(hl_store *s, const hl_eq_accept *ev, hl_store_cb cb, void *data);
  /* What event_put's record of ev takes in the backend's own measure
   * (DynamoDB: the item's size, body, names and projected attributes
   * included), and the most it may take: a larger record is refused up
   * front (413), not sent to fail in the backend on every try. NULL / 0:
   * no limit beyond the API's. */
  size_t (*event_size)(const hl_eq_accept *ev);
  size_t event_size_max;

  /* Appends the backend's own Prometheus metrics to out (NULL: it has
   * none), so no caller needs to know which backend it is. */
  void (*render_metrics)(hl_store *s, hl_buf *out);

  /* The embedded queue's rows are this process's alone (SQLite: one
   * process per data directory), so rows it claims and holds in memory
   * keep no other process from work. false: processes share them
   * (PostgreSQL). */
  bool eq_alone;

  /* Work arriving from elsewhere (another process sharing the store)
   * calls cb with its subscription id (NULL: any); NULL: the backend
   * cannot tell (only one process uses it, or others are not announced). */
  void (*on_work)(hl_store *s, void (*cb)(void *data, const char *subscription_id), void *data);

  /* Replay (POST /admin/events/{event_id}/replay): reopens a terminal
   * delivery (SUCCESS or FAILED) whose event body the queue still keeps:
   * PENDING, due now, unclaimed, attempts kept (the next one counts on),
   * its replay generation one up; -> value: the new generation (decimal).
   * HL_ENOTFOUND: no such delivery, or its body is gone; HL_EINVAL: the
   * delivery is still open (PENDING or RETRYING). NULL: the backend keeps
   * no event bodies of its own. */
  void (*eq_replay)(hl_store *s, const char *event_id, const char *subscription_id, hl_store_cb cb, void *data);
  /* Replay where the queue keeps the bytes elsewhere (Kafka: on topics),
   * in two conditional writes around the produce, so that a replay cut off
   * between them (a kill, a produce Kafka refused) leaves the delivery as
   * it was, terminal and replayable, and a row says PENDING only while a
   * record carries the replay. delivery_replay, before the produce: the
   * replay generation of a terminal delivery (SUCCESS or FAILED) one up,
   * the rest of the row (status, updated_at) as it is, so two replays never
   * get the same generation, and the row marked as having a replay under
   * way since now_ms (replay_at). The mark refuses a second replay from
   * any process while it lasts: until the row is written again (reopened
   * by delivery_replay_open, or the record's outcome: updated_at no longer
   * before the mark), delivery_replay_undo, or hold_ms after now_ms (a
   * replay cut off between the count and its produce, by a kill). Without
   * it, two processes asked at once each counted a generation and each
   * produced a record, and the partner got the event twice. -> value: the
   * new generation (decimal). HL_ENOTFOUND: no such delivery; HL_EINVAL:
   * still open (PENDING or RETRYING) or a replay under way, and in
   * DynamoDB also a row that does not exist (a condition that failed
   * either way: read the row first). */
  void (*delivery_replay)(hl_store *s, const char *event_id, const char *subscription_id, int64_t now_ms,
                          int64_t hold_ms, hl_store_cb cb, void *data);
  /* A replay whose produce failed: its mark (generation gen, made at
   * marked_at: delivery_replay's now_ms) taken off, so the replay can be
   * asked for again at once. Does nothing when the row was counted or
   * written since (another replay's mark stays). */
  void (*delivery_replay_undo)(hl_store *s, const char *event_id, const char *subscription_id, int64_t gen,
                               int64_t marked_at, hl_store_cb cb, void *data);
  /* Once the brokers acknowledged the record of generation gen: the row
   * PENDING, due now, attempts kept, if it is still terminal, at
   * generation gen, and unchanged since updated_at (as the caller read it
   * before delivery_replay). HL_EINVAL otherwise: the record's outcome was
   * written already (a row reopened now would wait for a record that
   * came), or another replay took a generation since; either way nothing
   * is left open that no record closes. */
  void (*delivery_replay_open)(hl_store *s, const char *event_id, const char *subscription_id, int64_t gen,
                               int64_t updated_at, hl_store_cb cb, void *data);

  /* Closing a deleted subscription's open deliveries (close_deleted) for a
   * queue that cannot tell one, its subscriptions being kept elsewhere
   * (the SQLite queue beneath DynamoDB): the store that keeps them asks in
   * three steps and does its own check and writes between them
   * (store/hl_ddb_sweep.h). NULL: the queue has none of them.
   * eq_open_subs: up to limit subscriptions with open deliveries, in id
   * order, after `after` ("": from the first) -> subs, subscription_id
   * alone set. */
  void (*eq_open_subs)(hl_store *s, const char *after, size_t limit, hl_store_cb cb, void *data);
  /* Up to limit open, unclaimed deliveries of these subscriptions that last
   * changed before before_ms -> deliveries, as their rows are (row_ref set,
   * replays the row's generation). */
  void (*eq_open_of)(hl_store *s, const char *const *subscription_ids, size_t n, int64_t before_ms, size_t limit,
                     hl_store_cb cb, void *data);
  /* Sets FAILED (last_error error, updated_at now_ms, next_attempt_at 0)
   * each of rows, as eq_open_of read them, that is still open, unclaimed
   * and unchanged since (its updated_at the one read); a row claimed or
   * changed in between is left as it is -> purged.closed, how many. */
  void (*eq_close_open)(hl_store *s, const hl_delivery_rec *rows, size_t n, const char *error, int64_t now_ms,
                        hl_store_cb cb, void *data);
} hl_store_vtable;

struct hl_store {
  const hl_store_vtable *vt;
};

/* The vtable entries every backend fills, for a backend whose functions
 * carry the entries' names (check, schema_put, ...): listed once here, not
 * copied into each backend's vtable. */
#define HL_STORE_VT_RECORDS                                                                                  \
  .check = check, .schema_put = schema_put, .schema_list = schema_list, .sub_put = sub_put,                \
  .sub_list = sub_list, .sub_delete = sub_delete, .partner_put = partner_put, .partner_list = partner_list, \
  .partner_delete = partner_delete, .kafka_map_put = kafka_map_put, .delivery_put = delivery_put,           \
  .delivery_list = delivery_list, .delivery_search = delivery_search, .ledger_put = ledger_put,             \
  .ledger_get = ledger_get, .attempt_put = attempt_put, .attempt_list = attempt_list, .xform_put = xform_put, \
  .xform_list = xform_list, .park_put = park_put, .park_take = park_take, .park_delete = park_delete
/* The same for the embedded queue's entries (eq_claim_head aside: not every queue keeps order). */
#define HL_STORE_VT_QUEUE                                                                                    \
  .eq_accept = eq_accept, .eq_claim = eq_claim, .eq_update = eq_update, .eq_requeue = eq_requeue,           \
  .eq_backlog = eq_backlog

typedef struct {
  const char *schema_table;       /* event_schema */
  const char *subscription_table; /* partner_event_subscription */
  const char *kafka_table;        /* event_subscription_kafka */
  const char *delivery_table;     /* event_delivery_status */
  const char *ledger_table;       /* idempotency_ledger */
  const char *parked_table;       /* parked_retry */
  const char *transform_table;    /* transformation */
  const char *partner_table;      /* partner */
  const char *attempt_table;      /* delivery_attempt */
  const char *events_table;       /* webhook_events (DynamoDB only) */
  const char *queue_table;        /* delivery_queue (DynamoDB queue only) */
} hl_table_names;

/* Fills names with the defaults of docs/configuration.md. */
void hl_table_names_default(hl_table_names *names);
/* Whether s can name a table unquoted in SQL: 1 to max characters of
 * [a-z0-9_], and [A-Z] too when upper is true. */
bool hl_table_name_ok(const char *s, size_t max, bool upper);

void hl_schema_rec_free(hl_schema_rec *r);   /* frees the fields, not r */
void hl_sub_rec_free(hl_sub_rec *r);
void hl_partner_rec_free(hl_partner_rec *r);
void hl_delivery_rec_free(hl_delivery_rec *r);
/* dst becomes a deep copy of r (dst's fields are not freed first). */
void hl_delivery_rec_copy(hl_delivery_rec *dst, const hl_delivery_rec *r);
void hl_xform_rec_free(hl_xform_rec *r);
void hl_attempt_rec_free(hl_attempt_rec *r);
void hl_eq_item_free(hl_eq_item *r);
void hl_store_result_dispose(hl_store_result *res);
/* A delivery's idempotency ledger key: "<subscription_id>#<event_id>", and
 * for its Nth replay "<subscription_id>#<event_id>#replay<N>" (written by
 * the dispatcher where the store has no delivered_get, and read by the
 * SQLite store for rows from before its delivered_gen column). */
void hl_store_ledger_key(char *key, size_t cap, const char *subscription_id, const char *event_id, int64_t replay);

#endif
