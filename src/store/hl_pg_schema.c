/* The PostgreSQL store's schema, version by version (see hl_pg_schema.h). */
#include "store/hl_pg_schema.h"
#include "common/hl_common.h"
#include "store/hl_store_pg.h"

#include <stddef.h>

/* Migration n is a DO block that runs its statements only when version n is
 * not recorded yet, then records it: applying them again changes nothing,
 * and a later version adds a step (never edits one). */
typedef struct {
  const char *sql;      /* the statements, each ending in "; "; each %s is the next table */
  size_t tables[12];    /* offsetof(hl_table_names, ...) of the tables, in order */
} mig_step;

#define TB(name) offsetof(hl_table_names, name)
/* Version n is steps[n - 1]. */
static const mig_step steps[] = {
  /* The tables of the first version. */
  {"CREATE TABLE IF NOT EXISTS %s(schema_id text NOT NULL, version bigint NOT NULL, domain text, "
    "event_type text NOT NULL, status text NOT NULL, \"schema\" text NOT NULL, ingress_topic text, "
    "created_at bigint, PRIMARY KEY(schema_id, version)); "
    "CREATE TABLE IF NOT EXISTS %s(partner_id text NOT NULL, event_type text NOT NULL, "
    "subscription_id text NOT NULL UNIQUE, url text NOT NULL, secret text NOT NULL, headers text, "
    "\"filter\" text, max_in_flight bigint, rate_limit_per_s bigint, timeout_ms bigint, retry_schedule text, "
    "egress_topic text, status text, created_at bigint, PRIMARY KEY(partner_id, event_type)); "
    "CREATE TABLE IF NOT EXISTS %s(event_type text PRIMARY KEY, ingress_topic text, egress_topics text); "
    "CREATE TABLE IF NOT EXISTS %s(event_id text NOT NULL, subscription_id text NOT NULL, status text NOT NULL, "
    "attempts bigint NOT NULL DEFAULT 0, last_status_code bigint, last_error text, last_latency_ms bigint, "
    "updated_at bigint, next_attempt_at bigint, owner text, lease_until bigint NOT NULL DEFAULT 0, "
    "PRIMARY KEY(event_id, subscription_id)) WITH (fillfactor=80); "
    /* Due rows of one subscription, oldest first, unheld: claims and next-due. */
    "CREATE INDEX IF NOT EXISTS %s_due ON %s(subscription_id, next_attempt_at) "
    "WHERE owner IS NULL AND status IN " HL_PG_OPEN "; "
    /* Open rows of all subscriptions: the backlog count. */
    "CREATE INDEX IF NOT EXISTS %s_open ON %s(next_attempt_at) WHERE status IN " HL_PG_OPEN "; "
    /* Held rows: the heartbeat renews ours, the sweep finds those whose lease ended. */
    "CREATE INDEX IF NOT EXISTS %s_held ON %s(owner) WHERE owner IS NOT NULL; "
    "CREATE TABLE IF NOT EXISTS %s(idempotency_key text PRIMARY KEY, status text, expires_at bigint); "
    "CREATE TABLE IF NOT EXISTS hookloop_event(event_id text PRIMARY KEY, event_type text NOT NULL, "
    "body bytea NOT NULL, trace text, accepted_at bigint NOT NULL); "
    "CREATE TABLE IF NOT EXISTS %s(due_ms bigint NOT NULL, event_id text NOT NULL, subscription_id text NOT NULL, "
    "attempts bigint NOT NULL, event_type text, trace text, accepted_at bigint, body bytea NOT NULL, "
    "lease_until bigint NOT NULL DEFAULT 0, PRIMARY KEY(due_ms, event_id, subscription_id)); ",
   {TB(schema_table), TB(subscription_table), TB(kafka_table), TB(delivery_table), TB(delivery_table),
    TB(delivery_table), TB(delivery_table), TB(delivery_table), TB(delivery_table), TB(delivery_table),
    TB(ledger_table), TB(parked_table)}},
  /* Subscriptions that are not HTTP keep their destination object
   * (model/hl_destination.h) as JSON text. */
  {"ALTER TABLE %s ADD COLUMN IF NOT EXISTS destination text; ", {TB(subscription_table)}},
  /* Transformations: their table, and the delivery status column naming the
   * versions that shaped the last attempt. */
  {"CREATE TABLE IF NOT EXISTS %s(transformation_id text NOT NULL, version bigint NOT NULL, spec text, "
    "created_at bigint, PRIMARY KEY(transformation_id, version)); "
    "ALTER TABLE %s ADD COLUMN IF NOT EXISTS transformation text; ", {TB(transform_table), TB(delivery_table)}},
  /* The partner table. */
  {"CREATE TABLE IF NOT EXISTS %s(partner_id text PRIMARY KEY, name text, contact text, metadata text, "
    "max_in_flight bigint NOT NULL DEFAULT 0, rate_limit_per_s bigint NOT NULL DEFAULT 0, created_at bigint); ",
   {TB(partner_table)}},
  /* A subscription's Partner Info failure policy (NULL: PARTNER_INFO_ON_FAILURE). */
  {"ALTER TABLE %s ADD COLUMN IF NOT EXISTS enrichment_on_failure text; ", {TB(subscription_table)}},
  /* A subscription's TLS client certificate (PEM) and its private key (PEM,
   * sealed like the secret). */
  {"ALTER TABLE %s ADD COLUMN IF NOT EXISTS client_cert text, ADD COLUMN IF NOT EXISTS client_key text; ",
   {TB(subscription_table)}},
  /* A subscription's delivery order (hl_sub_rec.ordering, NULL: none) and
   * skip_after (NULL: never). */
  {"ALTER TABLE %s ADD COLUMN IF NOT EXISTS ordering text; "
    "ALTER TABLE %s ADD COLUMN IF NOT EXISTS skip_after bigint; ", {TB(subscription_table), TB(subscription_table)}},
  /* The attempt log: HL_ATTEMPT_LOG_MAX slots a delivery, overwritten in
   * turn. */
  {"CREATE TABLE IF NOT EXISTS %s(event_id text NOT NULL, subscription_id text NOT NULL, slot integer NOT NULL, "
    "attempt bigint NOT NULL, at_ms bigint NOT NULL, status_code bigint, latency_ms bigint, error text, "
    "headers text, body text, truncated smallint NOT NULL DEFAULT 0, "
    "PRIMARY KEY(event_id, subscription_id, slot)); ", {TB(attempt_table)}},
  /* How each subscription signs (hl_sub_rec.signing); NULL is HMAC. The
   * keys stay in the secret column, sealed like an HMAC secret. */
  {"ALTER TABLE %s ADD COLUMN IF NOT EXISTS signing text; ", {TB(subscription_table)}},
  /* One subscription's deliveries by update time (delivery_search). */
  {"CREATE INDEX IF NOT EXISTS %s_by_sub ON %s(subscription_id, updated_at, event_id); ",
   {TB(delivery_table), TB(delivery_table)}},
  /* Retention's indexes: terminal deliveries by age, events by acceptance,
   * ledger entries by expiry. */
  {"CREATE INDEX IF NOT EXISTS %s_done ON %s(status, updated_at) WHERE status IN ('SUCCESS','FAILED'); "
    "CREATE INDEX IF NOT EXISTS hookloop_event_accepted ON hookloop_event(accepted_at); "
    "CREATE INDEX IF NOT EXISTS %s_expires ON %s(expires_at) WHERE expires_at>0; ",
   {TB(delivery_table), TB(delivery_table), TB(ledger_table), TB(ledger_table)}},
  /* Ordered delivery on the shared queue: seq is the acceptance order (an
   * identity, so rows inserted later get larger numbers; the rows already
   * there are numbered when the column is added), and the partial index
   * finds a subscription's oldest open row in one probe (eq_claim_head). */
  {"ALTER TABLE %s ADD COLUMN IF NOT EXISTS seq bigint GENERATED BY DEFAULT AS IDENTITY; "
    "CREATE INDEX IF NOT EXISTS %s_fifo ON %s(subscription_id, seq) WHERE status IN " HL_PG_OPEN "; ",
   {TB(delivery_table), TB(delivery_table), TB(delivery_table)}},
  /* Replay: a delivery's replay generation (hl_eq_item.replay). */
  {"ALTER TABLE %s ADD COLUMN IF NOT EXISTS replays bigint NOT NULL DEFAULT 0; ", {TB(delivery_table)}},
  /* A parked retry keeps its replay generation (a parked replay stays that
   * replay: its ledger key). */
  {"ALTER TABLE %s ADD COLUMN IF NOT EXISTS replay bigint NOT NULL DEFAULT 0; ", {TB(parked_table)}},
  /* The highest generation of a delivery recorded delivered (the
   * duplicate check, delivered_get), NULL while none is. */
  {"ALTER TABLE %s ADD COLUMN IF NOT EXISTS delivered_gen bigint; ", {TB(delivery_table)}},
  /* The delivery search's index again, partial: a lookup by a delivery's
   * key (event_id = $1 AND subscription_id = $2: the duplicate check, the
   * outcome's update) names no updated_at, so it can no longer pick this
   * index over the primary key. It could before, its columns holding both
   * key columns: planned while the table was empty (a new database, a
   * process started on one), the statement costed the two alike and took
   * this one, whose probe walks every entry of the subscription (event_id
   * is its third column), and a prepared statement keeps its plan until an
   * ANALYZE (autovacuum's first on a new table: a minute or so), while the
   * table grows. The search always bounds updated_at, which implies IS NOT
   * NULL. CREATE first (IF NOT EXISTS: an index of this name built
   * beforehand with CONCURRENTLY is kept, docs/postgres.md), then DROP. */
  {"CREATE INDEX IF NOT EXISTS %s_search ON %s(subscription_id, updated_at, event_id) "
    "WHERE updated_at IS NOT NULL; "
    "DROP INDEX IF EXISTS %s_by_sub; ", {TB(delivery_table), TB(delivery_table), TB(delivery_table)}},
  /* Retention's walk over old events, by (accepted_at, event_id): its
   * cursor must name one event, since many share a millisecond, and its
   * window stays one range of this index. It takes the place of migration
   * 11's index of accepted_at alone, whose statement (an older version's,
   * during a rolling upgrade) this index's first column serves as well.
   * CREATE first, then DROP, as in 16 (docs/postgres.md). */
  {"CREATE INDEX IF NOT EXISTS hookloop_event_accepted_id ON hookloop_event(accepted_at, event_id); "
    "DROP INDEX IF EXISTS hookloop_event_accepted; ", {0}},
  /* A subscription's revision and the token of the write that made it
   * (hl_sub_rec.revision, write_token): a put is conditional on the
   * revision it was based on, so that processes sharing the database do
   * not undo each other's changes. Rows written before read as 0. */
  {"ALTER TABLE %s ADD COLUMN IF NOT EXISTS revision bigint NOT NULL DEFAULT 0, "
    "ADD COLUMN IF NOT EXISTS write_token text; ", {TB(subscription_table)}},
  /* Retention's walk over old attempt rows, by (at_ms, key): an attempt
   * whose delivery has no status row (the inbox queue keeps none) is
   * deleted by nothing else. The key after at_ms makes the walk's cursor
   * one row, as in 17 (the attempts of one pass share milliseconds). */
  {"CREATE INDEX IF NOT EXISTS %s_at ON %s(at_ms, event_id, subscription_id, slot); ",
   {TB(attempt_table), TB(attempt_table)}},
  /* When a replay where Kafka keeps the bytes was counted and not yet
   * reopened or undone (hl_store.delivery_replay; 0: none): a second
   * replay from another process is refused while the first is under way. */
  {"ALTER TABLE %s ADD COLUMN IF NOT EXISTS replay_at bigint NOT NULL DEFAULT 0; ", {TB(delivery_table)}},
};
#undef TB

_Static_assert(sizeof steps / sizeof *steps == HL_STORE_PG_SCHEMA_VERSION,
               "a new version needs its step here and HL_STORE_PG_SCHEMA_VERSION");

void hl_pg_schema_step(const hl_table_names *t, int n, hl_buf *b) {
  const mig_step *m = &steps[n - 1];
  hl_buf_printf(b, "DO $m$ BEGIN IF NOT EXISTS (SELECT 1 FROM hookloop_schema_version WHERE version=%d) THEN ", n);
  size_t k = 0;
  for (const char *p = m->sql; *p; p++) {
    if (p[0] == '%' && p[1] == 's' && k < HL_ARRAY_SIZE(m->tables)) {
      hl_buf_puts(b, *(const char *const *)((const char *)t + m->tables[k++]));
      p++;
    } else {
      hl_buf_putc(b, *p);
    }
  }
  hl_buf_printf(b, "INSERT INTO hookloop_schema_version(version, applied_at) VALUES (%d, now()); END IF; END $m$", n);
}
