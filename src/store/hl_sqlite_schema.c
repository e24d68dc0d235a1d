/* The SQLite store's tables and their migration steps (see hl_sqlite_schema.h). */
#include "store/hl_sqlite_schema.h"
#include "common/hl_buf.h"
#include "common/hl_common.h"
#include "common/hl_log.h"

#include <stdio.h>

/* What the steps read: the connection and the tables' names. */
typedef struct {
  sqlite3 *db;
  hl_table_names t;
} sq_schema;

int hl_sqlite_exec(sqlite3 *db, const char *sql) {
  char *msg = NULL;
  if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK) return 0;
  hl_log_error("sqlite exec failed", "\"sql\":\"%s\",\"error\":\"%s\"", hl_log_esc(sql, (size_t)-1),
               hl_log_esc(msg, (size_t)-1));
  sqlite3_free(msg);
  return HL_ESTORE;
}

const char *const HL_SQLITE_LA_COL[HL_SQLITE_LA_COLS] = {"la_attempt", "la_at_ms", "la_status_code", "la_latency_ms",
                                                         "la_error",   "la_headers", "la_body",      "la_truncated"};
static const char *const LA_TYPE[HL_SQLITE_LA_COLS] = {"INTEGER", "INTEGER", "INTEGER", "INTEGER",
                                                       "TEXT",    "TEXT",    "TEXT",    "INTEGER"};

/* Each la_ column declared, between before and after (create_schema,
 * migrate_latest_attempt). */
static void la_decl_sql(hl_buf *b, const char *before, const char *after) {
  for (int i = 0; i < HL_SQLITE_LA_COLS; i++)
    hl_buf_printf(b, "%s%s %s%s", before, HL_SQLITE_LA_COL[i], LA_TYPE[i], after);
}

/* 1 when table has the column col, 0 when not, HL_ESTORE if it cannot
 * tell: the migration steps' test for "made before this step". */
static int has_column(sq_schema *s, const char *table, const char *col) {
  char q[256];
  snprintf(q, sizeof q, "SELECT 1 FROM pragma_table_info('%s') WHERE name='%s'", table, col);
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(s->db, q, -1, &st, NULL) != SQLITE_OK) return HL_ESTORE;
  int have = sqlite3_step(st) == SQLITE_ROW;
  sqlite3_finalize(st);
  return have;
}

/* Adds the column `col decl` to table when it is missing, so a step is
 * idempotent on every start. */
static int add_column(sq_schema *s, const char *table, const char *col, const char *decl) {
  int have = has_column(s, table, col);
  if (have != 0) return have < 0 ? have : 0;
  char q[256];
  snprintf(q, sizeof q, "ALTER TABLE %s ADD COLUMN %s %s", table, col, decl);
  return hl_sqlite_exec(s->db, q);
}

/* Transformations (a later addition): their table, and the delivery status
 * column naming the versions that shaped the last attempt, added to a
 * database made before them. */
static int migrate_transformations(sq_schema *s) {
  hl_buf b = HL_BUF_INIT;
  hl_buf_printf(&b, "CREATE TABLE IF NOT EXISTS %s(transformation_id TEXT NOT NULL, version INTEGER NOT NULL, "
                "spec TEXT, created_at INTEGER, PRIMARY KEY(transformation_id, version));", s->t.transform_table);
  int rc = hl_sqlite_exec(s->db, b.data);
  hl_buf_dispose(&b);
  return rc ? rc : add_column(s, s->t.delivery_table, "transformation", "TEXT");
}

static int create_schema(sq_schema *s) {
  hl_buf b = HL_BUF_INIT, la = HL_BUF_INIT;
  const hl_table_names *t = &s->t;
  /* The status row's latest attempt (step "latest attempt") and the mark
   * of a replay under way (step "replay mark"), made with the table rather
   * than altered in after it (each ALTER reads the schema again). */
  la_decl_sql(&la, ", ", "");
  hl_buf_puts(&la, ", replay_at INTEGER NOT NULL DEFAULT 0");
  hl_buf_printf(&b,
    "CREATE TABLE IF NOT EXISTS %s(schema_id TEXT NOT NULL, version INTEGER NOT NULL, domain TEXT, "
    "event_type TEXT NOT NULL, status TEXT NOT NULL, schema TEXT NOT NULL, ingress_topic TEXT, "
    "created_at INTEGER, PRIMARY KEY(schema_id, version));"
    "CREATE TABLE IF NOT EXISTS %s(partner_id TEXT NOT NULL, event_type TEXT NOT NULL, "
    "subscription_id TEXT NOT NULL UNIQUE, url TEXT NOT NULL, secret TEXT NOT NULL, headers TEXT, "
    "filter TEXT, max_in_flight INTEGER, rate_limit_per_s INTEGER, timeout_ms INTEGER, "
    "retry_schedule TEXT, egress_topic TEXT, status TEXT, created_at INTEGER, "
    "PRIMARY KEY(partner_id, event_type));"
    "CREATE TABLE IF NOT EXISTS %s(event_type TEXT PRIMARY KEY, ingress_topic TEXT, egress_topics TEXT);"
    "CREATE TABLE IF NOT EXISTS %s(event_id TEXT NOT NULL, subscription_id TEXT NOT NULL, "
    "status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, last_status_code INTEGER, "
    "last_error TEXT, last_latency_ms INTEGER, updated_at INTEGER, next_attempt_at INTEGER, "
    "claimed INTEGER NOT NULL DEFAULT 0%s, PRIMARY KEY(event_id, subscription_id));"
    "CREATE INDEX IF NOT EXISTS %s_due ON %s(subscription_id, next_attempt_at) "
    "WHERE claimed=0 AND status IN ('PENDING','RETRYING');"
    "CREATE TABLE IF NOT EXISTS %s(idempotency_key TEXT PRIMARY KEY, status TEXT, expires_at INTEGER);"
    "CREATE TABLE IF NOT EXISTS hookloop_event(event_id TEXT PRIMARY KEY, event_type TEXT NOT NULL, "
    "body BLOB NOT NULL, trace TEXT, accepted_at INTEGER NOT NULL);"
    /* One row the health check writes to find out whether writes work again. */
    "CREATE TABLE IF NOT EXISTS hookloop_health(id INTEGER PRIMARY KEY, checked_at INTEGER);"
    "CREATE TABLE IF NOT EXISTS %s(due_ms INTEGER NOT NULL, event_id TEXT NOT NULL, "
    "subscription_id TEXT NOT NULL, attempts INTEGER NOT NULL, event_type TEXT, trace TEXT, "
    "accepted_at INTEGER, body BLOB NOT NULL, lease_until INTEGER NOT NULL DEFAULT 0, "
    "PRIMARY KEY(due_ms, event_id, subscription_id));",
    t->schema_table, t->subscription_table, t->kafka_table, t->delivery_table, la.data,
    t->delivery_table, t->delivery_table, t->ledger_table,
    t->parked_table);
  int rc = hl_sqlite_exec(s->db, b.data);
  hl_buf_dispose(&b);
  hl_buf_dispose(&la);
  return rc ? rc : migrate_transformations(s);
}

/* Adds column `name` (TEXT) to the subscription table when it is missing,
 * so a step is idempotent on every start. */
static int add_sub_column(sq_schema *s, const char *name) {
  return add_column(s, s->t.subscription_table, name, "TEXT");
}

/* Migration step "destination": subscriptions that are not HTTP keep their
 * destination object (model/hl_destination.h) as JSON text. */
static int migrate_destination(sq_schema *s) { return add_sub_column(s, "destination"); }

/* Step "signing": how each subscription signs (hl_sub_rec.signing); NULL,
 * as every row written before, is HMAC. The keys themselves stay in the
 * secret column, sealed like an HMAC secret. */
static int migrate_signing(sq_schema *s) { return add_sub_column(s, "signing"); }

/* Migration step "enrichment": a subscription's Partner Info failure
 * policy (NULL: the process's PARTNER_INFO_ON_FAILURE). */
static int migrate_enrichment(sq_schema *s) { return add_sub_column(s, "enrichment_on_failure"); }

/* Migration step "client_cert": a subscription's TLS client certificate
 * (PEM) and its private key (PEM, sealed like the secret). */
static int migrate_client_cert(sq_schema *s) {
  int rc = add_sub_column(s, "client_cert");
  return rc ? rc : add_sub_column(s, "client_key");
}

/* Step "ordering": a subscription's delivery order (hl_sub_rec.ordering,
 * NULL: none) and skip_after (NULL: never), and the partial index that
 * finds a subscription's oldest open delivery (eq_claim_head). */
static int migrate_ordering(sq_schema *s) {
  int rc = add_sub_column(s, "ordering");
  if (rc == 0) rc = add_sub_column(s, "skip_after");
  if (rc == 0) {
    hl_buf b = HL_BUF_INIT;
    hl_buf_printf(&b, "CREATE INDEX IF NOT EXISTS %s_open_order ON %s(subscription_id) "
                      "WHERE status IN ('PENDING','RETRYING')", s->t.delivery_table, s->t.delivery_table);
    rc = hl_sqlite_exec(s->db, b.data);
    hl_buf_dispose(&b);
  }
  return rc;
}

/* Step "revision": a subscription's revision and the token of the write
 * that made it (hl_sub_rec.revision, write_token): a put is conditional on
 * the revision it was based on, so that processes sharing the store do not
 * undo each other's changes. Rows written before read as revision 0. */
static int migrate_revision(sq_schema *s) {
  int rc = add_column(s, s->t.subscription_table, "revision", "INTEGER NOT NULL DEFAULT 0");
  return rc ? rc : add_sub_column(s, "write_token");
}

/* Step 2: the partner table. Idempotent, as every step: a database made
 * before partners existed gains it at the next start. */
static int migrate_2_partners(sq_schema *s) {
  char sql[512];
  snprintf(sql, sizeof sql,
           "CREATE TABLE IF NOT EXISTS %s(partner_id TEXT PRIMARY KEY, name TEXT, contact TEXT, metadata TEXT, "
           "max_in_flight INTEGER NOT NULL DEFAULT 0, rate_limit_per_s INTEGER NOT NULL DEFAULT 0, "
           "created_at INTEGER)", s->t.partner_table);
  return hl_sqlite_exec(s->db, sql);
}

/* Step "delivery_search": one subscription's deliveries by update time
 * (delivery_search), without a scan of the whole table. */
static int migrate_delivery_search(sq_schema *s) {
  char sql[256];
  snprintf(sql, sizeof sql, "CREATE INDEX IF NOT EXISTS %s_by_sub ON %s(subscription_id, updated_at, event_id)",
           s->t.delivery_table, s->t.delivery_table);
  return hl_sqlite_exec(s->db, sql);
}

/* The attempt log's table (HL_ATTEMPT_LOG_MAX slots a delivery; the
 * latest attempt is in the status row, step "latest attempt"), keyed by
 * its delivery's rowid (drow) and the slot. Delivery rows get their rowids
 * in the order they are made, and attempts come mostly for recent ones,
 * so a turn's attempt rows go to the same few pages at the end of the key
 * index, where a key of the event id (random) put each on a page of its
 * own: a 4 KB page written to the WAL and copied back per attempt (bench/
 * README.md, "the attempt log keyed by its delivery's rowid"). The event
 * id and subscription stay in the row: a reader checks them, so a rowid
 * that came to name another delivery (a VACUUM run by hand renumbers
 * rowids) never shows that delivery another's attempts. NULL drow: no
 * delivery row when the attempt was written (the inbox queue keeps none);
 * such a row is never listed, and retention purges it. */
static void attempt_table_sql(hl_buf *b, const char *name) {
  hl_buf_printf(b, "CREATE TABLE IF NOT EXISTS %s(event_id TEXT NOT NULL, subscription_id TEXT NOT NULL, "
                "slot INTEGER NOT NULL, attempt INTEGER NOT NULL, at_ms INTEGER NOT NULL, status_code INTEGER, "
                "latency_ms INTEGER, error TEXT, headers TEXT, body TEXT, truncated INTEGER NOT NULL DEFAULT 0, "
                "drow INTEGER, UNIQUE(drow, slot))", name);
}

/* Step "attempts": the attempt log. */
static int migrate_attempts(sq_schema *s) {
  hl_buf b = HL_BUF_INIT;
  attempt_table_sql(&b, s->t.attempt_table);
  int rc = hl_sqlite_exec(s->db, b.data);
  hl_buf_dispose(&b);
  return rc;
}

/* The index of step "orphan attempts" (below), which the rebuild of step
 * "attempt rows" makes as well. */
static void orphan_index_sql(hl_buf *b, const char *table) {
  hl_buf_printf(b, "CREATE INDEX IF NOT EXISTS %s_orphan_at ON %s(at_ms) WHERE drow IS NULL;", table, table);
}

/* Step "attempt rows": a table made before with the key (event_id,
 * subscription_id, slot) is rebuilt once with drow, each row finding its
 * delivery's rowid, in one transaction, at start. Last of the steps: the
 * VACUUM of step "retention" (migrate_vacuum) may renumber rowids, so it
 * runs before. */
static int migrate_attempt_rows(sq_schema *s) {
  int have = has_column(s, s->t.attempt_table, "drow");
  if (have != 0) return have < 0 ? have : 0;
  hl_buf b = HL_BUF_INIT, tmp = HL_BUF_INIT;
  hl_buf_printf(&tmp, "%s_rekeyed", s->t.attempt_table);
  hl_buf_puts(&b, "BEGIN IMMEDIATE;");
  hl_buf_printf(&b, "DROP TABLE IF EXISTS %s;", tmp.data);
  attempt_table_sql(&b, tmp.data);
  hl_buf_printf(&b, ";INSERT INTO %s SELECT a.event_id,a.subscription_id,a.slot,a.attempt,a.at_ms,a.status_code,"
                "a.latency_ms,a.error,a.headers,a.body,a.truncated,d.rowid FROM %s a LEFT JOIN %s d "
                "ON d.event_id=a.event_id AND d.subscription_id=a.subscription_id;"
                "DROP TABLE %s;ALTER TABLE %s RENAME TO %s;",
                tmp.data, s->t.attempt_table, s->t.delivery_table, s->t.attempt_table, tmp.data, s->t.attempt_table);
  orphan_index_sql(&b, s->t.attempt_table);
  hl_buf_puts(&b, "COMMIT;");
  int rc = hl_sqlite_exec(s->db, b.data);
  if (rc != 0 && !sqlite3_get_autocommit(s->db)) hl_sqlite_exec(s->db, "ROLLBACK");
  hl_buf_dispose(&b);
  hl_buf_dispose(&tmp);
  return rc;
}

/* Step "retention": an index for the purge's walk over terminal rows,
 * one for old events, one for expired ledger entries, and a file that
 * gives freed pages back (auto_vacuum=INCREMENTAL, migrate_vacuum). */
static int migrate_retention(sq_schema *s) {
  hl_buf b = HL_BUF_INIT;
  hl_buf_printf(&b,
                "CREATE INDEX IF NOT EXISTS %s_done ON %s(status, updated_at) WHERE status IN ('SUCCESS','FAILED');"
                "CREATE INDEX IF NOT EXISTS hookloop_event_accepted ON hookloop_event(accepted_at);"
                "CREATE INDEX IF NOT EXISTS %s_expires ON %s(expires_at) WHERE expires_at>0;",
                s->t.delivery_table, s->t.delivery_table, s->t.ledger_table, s->t.ledger_table);
  int rc = hl_sqlite_exec(s->db, b.data);
  hl_buf_dispose(&b);
  return rc;
}

/* Step "retention", its file: a database made before it is rebuilt once by
 * VACUUM, at start, before the loop runs: the only way to change
 * auto_vacuum on a file that has tables. VACUUM cannot run inside a
 * transaction, so this runs after hl_sqlite_schema_set_up's. */
static int migrate_vacuum(sq_schema *s) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(s->db, "PRAGMA auto_vacuum", -1, &st, NULL) != SQLITE_OK) return HL_ESTORE;
  int mode = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
  sqlite3_finalize(st);
  if (mode == 2) return 0;
  hl_log_info("sqlite: rebuilding the database once for incremental vacuum", "\"auto_vacuum\":%d", mode);
  return hl_sqlite_exec(s->db, "PRAGMA auto_vacuum=INCREMENTAL; VACUUM;");
}

/* Adds the integer column `col` (0 for the rows already there) to table
 * when it is missing, so a step is idempotent on every start. */
static int add_int_column(sq_schema *s, const char *table, const char *col) {
  return add_column(s, table, col, "INTEGER NOT NULL DEFAULT 0");
}

/* Step "replay": a delivery's replay generation (hl_eq_item.replay; 0 for
 * every row written before). */
static int migrate_replay(sq_schema *s) { return add_int_column(s, s->t.delivery_table, "replays"); }

/* Step "replay mark": when a replay where Kafka keeps the bytes was
 * counted and not yet reopened or undone (hl_store.delivery_replay; 0:
 * none), so that a second replay from another process is refused while
 * the first is under way. */
static int migrate_replay_mark(sq_schema *s) { return add_int_column(s, s->t.delivery_table, "replay_at"); }

/* Step "park replay": a parked retry keeps its replay generation
 * (hl_eq_item.replay), so a parked replay is still that replay when a drain
 * takes it (0 for every row parked before). */
static int migrate_park_replay(sq_schema *s) { return add_int_column(s, s->t.parked_table, "replay"); }

/* Step "delivered": the highest generation of a delivery recorded
 * delivered, which the duplicate check reads (delivered_get) instead of
 * an idempotency ledger entry per delivery. Rows made before keep NULL:
 * their deliveries are in the ledger, which the check reads for them. */
static int migrate_delivered(sq_schema *s) {
  return add_column(s, s->t.delivery_table, "delivered_gen", "INTEGER");
}

/* Step "due_all": files made before it have "<delivery>_due_all", an index
 * of every subscription's due rows for claims of all subscriptions at once.
 * Claims are a subscription's ("<delivery>_due"), and the index cost an
 * entry written at every accept and removed at every claim (bench/README.md,
 * "the index no claim read"). */
static int migrate_drop_due_all(sq_schema *s) {
  char sql[160];
  snprintf(sql, sizeof sql, "DROP INDEX IF EXISTS %s_due_all", s->t.delivery_table);
  return hl_sqlite_exec(s->db, sql);
}

/* Step "latest attempt": a status row's columns for its delivery's latest
 * attempt (LA_COL; NULL la_attempt: none there), which the row's own write
 * carries. Rows made before have none: their attempts are in the attempt
 * table, listed as before. A new file has them from its CREATE TABLE
 * (create_schema): eight ALTER TABLEs, each reading the schema again, cost
 * a first start ~8M instructions. They are added in the schema's one
 * transaction, so one of them tells whether all are there. */
static int migrate_latest_attempt(sq_schema *s) {
  int have = has_column(s, s->t.delivery_table, HL_SQLITE_LA_COL[0]);
  if (have != 0) return have < 0 ? have : 0;
  hl_buf b = HL_BUF_INIT, alter = HL_BUF_INIT;
  hl_buf_printf(&alter, "ALTER TABLE %s ADD COLUMN ", s->t.delivery_table);
  la_decl_sql(&b, alter.data, ";");
  int rc = hl_sqlite_exec(s->db, b.data);
  hl_buf_dispose(&b);
  hl_buf_dispose(&alter);
  return rc;
}

/* Step "orphan attempts": retention's purge of attempt rows that have no
 * delivery row (the inbox queue keeps none) reads them by time through
 * this index; without it each batch walked every such row, old or young,
 * on the loop, more of them the busier the inbox. */
static int migrate_orphan_attempts(sq_schema *s) {
  int have = has_column(s, s->t.attempt_table, "drow");
  if (have <= 0) return have; /* a table of the earlier layout: its rebuild makes the index */
  hl_buf b = HL_BUF_INIT;
  orphan_index_sql(&b, s->t.attempt_table);
  int rc = hl_sqlite_exec(s->db, b.data);
  hl_buf_dispose(&b);
  return rc;
}

/* The schema and its migration steps, in one transaction. Each statement
 * committed alone costs a commit with its fdatasync (synchronous=FULL
 * here): ~30 of them on a new file, ~5 ms of a Lambda's 22 ms init
 * (bench/README.md, Lambda). Every step is idempotent, so a start cut
 * short by a crash leaves either none of them or all of them, and the next
 * start does the rest. The two steps that cannot run inside it (VACUUM;
 * the attempt table's rebuild, a transaction of its own) come after, in
 * their order: the VACUUM may renumber rowids, which the rebuild reads. */
int hl_sqlite_schema_set_up(sqlite3 *db, const hl_table_names *t) {
  sq_schema schema = {.db = db, .t = *t}, *s = &schema;
  static int (*const steps[])(sq_schema *) = {
      create_schema,    migrate_destination, migrate_2_partners, migrate_attempts,
      migrate_signing,  migrate_enrichment,  migrate_client_cert, migrate_ordering,
      migrate_retention, migrate_delivery_search, migrate_replay, migrate_park_replay,
      migrate_delivered, migrate_drop_due_all, migrate_latest_attempt, migrate_revision,
      migrate_orphan_attempts, migrate_replay_mark};
  if (hl_sqlite_exec(s->db, "BEGIN IMMEDIATE") != 0) return HL_ESTORE;
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < HL_ARRAY_SIZE(steps); i++) rc = steps[i](s);
  if (rc == 0) rc = hl_sqlite_exec(s->db, "COMMIT");
  if (rc != 0) {
    if (!sqlite3_get_autocommit(s->db)) hl_sqlite_exec(s->db, "ROLLBACK");
    return rc;
  }
  rc = migrate_vacuum(s);
  return rc ? rc : migrate_attempt_rows(s);
}
