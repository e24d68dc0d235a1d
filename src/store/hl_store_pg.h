/* hl_store_pg.h — the PostgreSQL store: the tables of docs/interface.md §6
 * and the embedded queue in one PostgreSQL database (Aurora), shared by any
 * number of hookloop processes, spoken to through hl_pg (libpq pipelined on
 * the loop).
 *
 * Batching: every operation's statements go out as one hl_pg_send_n unit,
 * so one loop turn's operations are one round trip and one transaction (a
 * group commit); a callback runs once its batch committed. An operation
 * whose batch was aborted by another's failure is sent again; idempotent
 * writes (eq_update, delivery_put, ledger, park_*) are also sent again,
 * with a back-off, when the connection was lost or none came up in time,
 * until they commit or the store closes: an outcome recorded is never
 * dropped because PostgreSQL restarted. eq_accept is not (the client is
 * answered 503 and sends the event again; a repeat is a duplicate).
 *
 * The queue (see docs/postgres.md):
 *   - eq_claim takes rows with FOR UPDATE SKIP LOCKED and marks them held
 *     by this process (owner) until a lease ends (server clock); a
 *     heartbeat renews this process's leases every lease_ms/3, so a slow
 *     partner never loses its rows to another process.
 *   - Every instance sweeps leases that ended (a process killed, a host
 *     lost): the rows are unclaimed and the instances are woken.
 *   - Due rows are found through a partial index on (subscription_id,
 *     next_attempt_at) over open, unheld rows.
 *   - eq_claim_head (ordered delivery) takes a subscription's oldest open
 *     row by seq (the acceptance order), found through a partial index on
 *     (subscription_id, seq) over open rows, in one statement: that row is
 *     locked alone (SKIP LOCKED) and held only if it is unheld and due.
 *   - Bodies are bytea: the accepted bytes, never re-encoded.
 *   - eq_accept, eq_requeue and releases NOTIFY <delivery_table>_work with the
 *     subscription id; every instance LISTENs and calls on_work, so idle
 *     instances claim at once. A listener that reconnects calls on_work with
 *     NULL (look at everything: notifications may have been missed).
 *   - eq_backlog is the count of open rows of the whole database, read
 *     every second, plus this process's changes since.
 *   - close releases the rows this process still holds.
 *
 * Schema: versioned migrations (HL_STORE_PG_SCHEMA_VERSION), each applied
 * once under an advisory lock and recorded in hookloop_schema_version; the
 * store runs them when it opens, `hookloop tables create` too. Operations
 * submitted before they finished wait for them. */
#ifndef HL_STORE_PG_H
#define HL_STORE_PG_H

#include <stdint.h>
#include <uv.h>

#include "loop/hl_pg_conf.h"
#include "store/hl_store.h"

/* 2: destinations, 3: transformations, 4: the partner table, 5: a
 * subscription's enrichment failure policy, 6: TLS client certificates,
 * 7: ordered delivery, 8: the attempt log, 9: subscriptions' signing,
 * 10: the delivery search index, 11: retention's indexes, 12: ordered delivery's
 * acceptance order (seq) and its index, 13: a delivery's replay generation,
 * 14: a parked retry's generation, 15: the delivered generation, 16: the
 * search index partial (lookups by key keep to the primary key), 17: events
 * by (accepted_at, event_id), retention's window, 18: a subscription's
 * revision and write token, 19: attempt rows by at_ms, retention's walk
 * of those whose delivery has no status row */
#define HL_STORE_PG_SCHEMA_VERSION 20

typedef struct {
  const hl_pg_conf *conf;   /* copied */
  hl_table_names tables;    /* NULL members: the defaults */
  int pool_size;            /* 0: 2 */
  uint32_t wait_ms;         /* how long a statement waits for a connection; 0: 5000 */
  uint32_t lease_ms;        /* how long a claim outlives its process; 0: 30000 */
  uint32_t query_timeout_ms; /* how long a sent statement waits for its answer; 0: the pool's (30 s) */
  uint32_t listen_probe_ms;  /* the listener's quiet before it probes the server; 0: the pool's (10 s) */
} hl_store_pg_config;

/* Opens the store and starts connecting (the migrations are sent at once).
 * Returns 0, or HL_EINVAL with a message in err (a table name unusable). */
int hl_store_pg_open(uv_loop_t *loop, const hl_store_pg_config *cfg, hl_store **out, char *err, size_t errlen);

/* Work arrived for subscription_id (NULL: for any), from this or another
 * process. cb runs on the loop. */
void hl_store_pg_on_work(hl_store *s, void (*cb)(void *data, const char *subscription_id), void *data);

/* cb runs once the migrations are done (status 0, msg the schema version as
 * text) or failed (a negative hl_err, msg names the variable at fault). */
void hl_store_pg_ready(hl_store *s, void (*cb)(void *data, int status, const char *msg), void *data);

#endif
