#include "store/hl_store_sqlite.h"
#include "store/hl_sqlite_ckpt.h"
#include "store/hl_sqlite_sync.h"
#include "store/hl_sqlite_walbuf.h"
#include "store/hl_store_rec.h"
#include "store/hl_sqlite_batch.h"
#include "store/hl_sqlite_schema.h"
#include "common/hl_buf.h"
#include "common/hl_common.h"
#include "common/hl_log.h"
#include "common/hl_spare.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* One prepared statement per query, prepared on first use. */
typedef enum {
  Q_SCHEMA_PUT, Q_SCHEMA_LIST, Q_SUB_PUT, Q_SUB_UPDATE, Q_SUB_LIST, Q_SUB_DELETE, Q_KAFKA_PUT,
  Q_DELIVERY_LIST, Q_LEDGER_INSERT, Q_LEDGER_READ,
  Q_EVENT_INSERT, Q_DELIVERY_INSERT, Q_DELIVERY_UNDO, Q_CLAIM_SUB, Q_CLAIM_HEAD, Q_CLAIM_MARK, Q_CLAIM_MARKS, Q_NEXT_DUE_SUB,
  Q_EQ_UPDATE, Q_EQ_UPDATE_KEY,
  Q_REQUEUE_GET, Q_REQUEUE_SET, Q_HEALTH_READ, Q_HEALTH_WRITE,
  Q_PARK_PUT, Q_PARK_TAKE, Q_PARK_LEASE, Q_PARK_DELETE, Q_XFORM_PUT, Q_XFORM_LIST,
  Q_PARTNER_PUT, Q_PARTNER_LIST, Q_PARTNER_DELETE,
  Q_ATTEMPT_LIST, Q_DELIVERY_SEARCH,
  Q_PURGE_PICK, Q_PURGE_ATTEMPTS, Q_PURGE_DELIVERY, Q_PURGE_EVENT, Q_PURGE_ORPHANS, Q_PURGE_EVENT_ROW, Q_PURGE_LEDGER, Q_OPEN_SUBS, Q_CLOSE_SUB,
  Q_PURGE_ATTEMPT_ORPHANS, Q_OPEN_OF, Q_CLOSE_ROW,
  /* Transaction control runs several times per loop turn (a savepoint per
   * accepted event): prepared once like the rest, not parsed each time. */
  Q_BEGIN, Q_COMMIT, Q_ROLLBACK, Q_SAVEPOINT, Q_RELEASE, Q_ROLLBACK_TO, Q__COUNT
} query_id;

typedef struct done_cb {
  hl_store_cb cb;
  void *data;
  int status;
  hl_store_result res;
  uint64_t ticket; /* held until the WAL's fdatasync covers it; 0: not held */
  struct done_cb *next;
} done_cb;

/* Rows of one kind of write kept for one multi-row statement
 * (hl_sqlite_batch.h), and the callback slot each row's outcome goes to. */
typedef struct {
  hl_sqlite_batch b;
  struct done_cb **done; /* one a row */
  /* A status row's: the callback slot of the attempt it carries (its la_
   * columns, carry_held), which hears the row's outcome; NULL: none. */
  struct done_cb **carried;
  size_t cap;
  /* 0: a batch of HL_SQLITE_BATCH_MAX rows is written at once. Otherwise
   * the rows wait for the store's next flush of this kind (its COMMIT, a
   * read of the table), or until this many wait, checked before a row is
   * added: the attempt rows, so that each is written after its delivery's
   * status row of the same turn (attempt_put). */
  size_t held_max;
} sq_batch;

/* Attempt rows held before they are written even without a flush: a
 * turn's worth at most (HL_CURL_UV_DRAIN_MAX answers a turn). */
#define HL_SQLITE_ATTEMPTS_HELD 4096

typedef struct {
  hl_store base;
  uv_loop_t *loop;
  sqlite3 *db;
  int lock_fd;
  hl_table_names t;
  char *sql[Q__COUNT];
  sqlite3_stmt *stmt[Q__COUNT];
  bool in_txn;
  done_cb *head, **tail;  /* callbacks waiting for this turn's COMMIT */
  uv_check_t commit;
  uv_idle_t keep_awake;
  /* Group commit (hl_store_sqlite_group_commit): the transaction stays
   * open across loop turns until it is group_ms old or holds group_max
   * operations; group_ms 0: it is committed at the end of every turn. */
  uint64_t group_ms;
  size_t group_max;
  uint64_t txn_begun;     /* loop time at BEGIN */
  size_t txn_ops;         /* operations waiting for this transaction's COMMIT */
  uv_timer_t group_timer; /* commits a transaction that is group_ms old */
  char *path;             /* <data_dir>/hookloop.db */
  dev_t db_dev;           /* the file opened: health notices it removed or replaced */
  ino_t db_ino;
  int64_t backlog;        /* committed deliveries not yet terminal */
  int64_t backlog_delta;  /* this turn's change to it, counted once COMMIT succeeds */
  /* Retention's walk over old events for those left without a delivery:
   * where the last batch stopped (accepted_at, rowid); 0,0: the start. */
  int64_t orphan_at, orphan_rowid;
  /* Its walk over subscriptions with open deliveries, for deleted ones:
   * the last one looked at ("" : the start). */
  char *open_sub_cursor;
  bool txn_wrote;         /* a write statement ran in this turn's transaction */
  bool txn_write_error;   /* ... and one failed (disk full, I/O error) */
  bool txn_doomed;        /* an operation's rows could not be taken back: the turn rolls back */
  bool write_failed;      /* the last write failed; health says so until one succeeds */
  char write_error[160];
  hl_sqlite_ckpt ckpt;     /* the WAL's checkpoints, off the loop (hl_sqlite_ckpt.h) */
  hl_sqlite_sync sync;     /* the WAL's fdatasync, off the loop (hl_sqlite_sync.h) */
  uint64_t wal_commits_seen; /* ckpt.stats.commits at the last commit_now */
  /* Callbacks of committed turns, in order, waiting for the fdatasync that
   * covers their ticket (and those behind them, to keep the order). */
  done_cb *held, **held_tail;
  /* Status rows (delivery_put) and attempt rows (attempt_put) of this
   * transaction not written yet: written by one statement per 64 rows when
   * 64 are held, before the COMMIT, and before any statement that reads or
   * writes their table (flush_deliveries, flush_attempts). An attempt row
   * that a status row of the same delivery carries (carry_held) leaves
   * pending_attempts: it is written by the status row's statement. */
  sq_batch pending_deliveries, pending_attempts;
  /* The deliveries whose status rows held carry a retry (event, subscription,
   * attempt): each row's earlier attempt is moved from its la_ columns into
   * the attempt table, by one statement per 64, just before the status
   * rows are written (flush_moves). */
  sq_batch pending_moves;
  /* The idempotency ledger's entries of this transaction (ledger_put that
   * overwrites) not written yet, and the keys ledger_get was asked for and
   * has not read yet: each kind one statement per 64 (flush_ledger). The
   * ledger's writes are flushed before its reads and before any other
   * statement on its table, so a read sees every entry asked for before
   * it. */
  sq_batch pending_ledger, pending_ledger_reads;
  /* The outcomes of claimed rows (eq_update with the claim's rowid) of
   * this transaction not written yet: one UPDATE ... FROM (VALUES ...)
   * per 64 (flush_updates). Status rows are written (pending_deliveries)
   * or updated (here) in the order asked: adding to one kind first
   * writes what the other holds. */
  sq_batch pending_updates;
  /* The duplicate checks (delivered_get) of this turn not read yet: one
   * statement per 64, after the turn's status rows are written. */
  sq_batch pending_delivered_reads;
  /* Outcome records whose callbacks have run, kept for the next ones (at
   * most DONE_SPARE_MAX): a delivery costs the store three or four of
   * them, one per operation, and a turn's all go at once after its
   * commit. */
  hl_spare spare;
  int closing;
  void (*close_cb)(void *data);
  void *close_data;
} sq_store;

#define SQ(s) hl_container_of(s, sq_store, base)

/* The group commit's default window (HOOKLOOP_SQLITE_COMMIT_MS): none, a
 * commit at the end of every turn. A window of a few ms lets one fsync
 * cover several turns but adds up to that much to every answer, which
 * caps a client that waits for each answer before the next request. */
#define HL_SQLITE_COMMIT_MS 0

static const char *STATUS_OPEN = "('PENDING','RETRYING')";

/* Rows a claim marks by one statement (Q_CLAIM_MARKS), and its parameters. */
#define CLAIM_MARKS 32
#define CLAIM_MARK_PARAMS "?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?"

static bool terminal_status(const char *st) {
  return st && (strcmp(st, "SUCCESS") == 0 || strcmp(st, "FAILED") == 0);
}

/* The same for the status a batch holds in a row's column col. */
static bool terminal_status_at(const hl_sqlite_batch *b, size_t row, int col) {
  return hl_sqlite_batch_text_is(b, row, col, "SUCCESS", 7) || hl_sqlite_batch_text_is(b, row, col, "FAILED", 6);
}

/* --- statements ---------------------------------------------------------- */


/* The SET terms of a status write for its la_ columns: each takes the new
 * value (pre and the column's name, or pre and its place from first when
 * by_name is false), unless the write carries no attempt (a NULL
 * la_attempt): a re-queue, a replay, a write without an attempt leave the
 * row's latest attempt as it is. */
static void la_set_sql(hl_buf *b, const char *pre, bool by_name, int first) {
  for (int i = 0; i < HL_SQLITE_LA_COLS; i++) {
    const char *col = HL_SQLITE_LA_COL[i];
    if (by_name)
      hl_buf_printf(b, ",%s=CASE WHEN %sla_attempt IS NULL THEN %s ELSE %s%s END", col, pre, col, pre, col);
    else
      hl_buf_printf(b, ",%s=CASE WHEN %s%d IS NULL THEN %s ELSE %s%d END", col, pre, first, col, pre, first + i);
  }
}

/* The put, list and (unless del is Q__COUNT) delete statements of a record
 * kind, derived from its descriptor (store/hl_store_rec.h). */
static void rec_sql(sq_store *s, query_id put, query_id list, query_id del, const hl_rec_desc *d,
                    const char *table) {
  hl_buf b = HL_BUF_INIT;
  hl_rec_sql_put(&b, d, table, '?');
  s->sql[put] = hl_buf_steal(&b, NULL);
  hl_rec_sql_list(&b, d, table);
  s->sql[list] = hl_buf_steal(&b, NULL);
  if (del == Q__COUNT) return;
  hl_rec_sql_delete(&b, d, table, '?');
  s->sql[del] = hl_buf_steal(&b, NULL);
}

static void build_sql(sq_store *s) {
  const hl_table_names *t = &s->t;
  char b[2048];
#define SET(id, ...) (snprintf(b, sizeof b, __VA_ARGS__), s->sql[id] = hl_strdup(b))
  SET(Q_KAFKA_PUT, "INSERT INTO %s(event_type,ingress_topic,egress_topics) VALUES(?1,?2,?3) "
      "ON CONFLICT(event_type) DO UPDATE SET ingress_topic=excluded.ingress_topic,"
      "egress_topics=excluded.egress_topics", t->kafka_table);
  SET(Q_DELIVERY_LIST, "SELECT event_id,subscription_id,status,attempts,last_status_code,last_error,"
      "last_latency_ms,updated_at,next_attempt_at,transformation FROM %s WHERE event_id=?1 "
      "ORDER BY subscription_id",
      t->delivery_table);
  /* The row value compare goes on after the previous page's last row; the
   * index of step "delivery_search" serves it. */
  SET(Q_DELIVERY_SEARCH, "SELECT event_id,subscription_id,status,attempts,last_status_code,last_error,"
      "last_latency_ms,updated_at,next_attempt_at,transformation FROM %s WHERE subscription_id=?1 "
      "AND (?2 IS NULL OR status=?2) AND updated_at>=?3 AND updated_at<=?4 AND (updated_at,event_id)<(?5,?6) "
      "ORDER BY updated_at DESC,event_id DESC LIMIT ?7",
      t->delivery_table);
  SET(Q_LEDGER_READ, "SELECT status,expires_at FROM %s WHERE idempotency_key=?1", t->ledger_table);
  SET(Q_LEDGER_INSERT, "INSERT INTO %s(idempotency_key,status,expires_at) VALUES(?1,?2,?3)",
      t->ledger_table);
  SET(Q_EVENT_INSERT, "INSERT INTO hookloop_event(event_id,event_type,body,trace,accepted_at) "
      "VALUES(?1,?2,?3,?4,?5)");
  SET(Q_DELIVERY_INSERT, "INSERT INTO %s(event_id,subscription_id,status,attempts,last_status_code,"
      "last_error,last_latency_ms,updated_at,next_attempt_at,claimed) "
      "VALUES(?1,?2,'PENDING',0,0,NULL,0,?3,?3,0)", t->delivery_table);
  /* An accept's own row taken back (eq_accept's undo). */
  SET(Q_DELIVERY_UNDO, "DELETE FROM %s WHERE rowid=?1", t->delivery_table);
#define CLAIM_COLS "d.rowid,d.event_id,d.subscription_id,d.status,d.attempts,d.last_status_code," \
  "d.last_error,d.last_latency_ms,d.updated_at,d.next_attempt_at,e.event_type,e.body,e.trace,e.accepted_at," \
  "d.replays"
  SET(Q_CLAIM_SUB, "SELECT " CLAIM_COLS " FROM %s d JOIN hookloop_event e ON e.event_id=d.event_id "
      "WHERE d.subscription_id=?1 AND d.claimed=0 AND d.status IN %s AND d.next_attempt_at<=?2 "
      "ORDER BY d.next_attempt_at LIMIT ?3", t->delivery_table, STATUS_OPEN);
  /* Acceptance order is the rowid's (rows are inserted as events are
   * accepted); the index "<delivery>_open_order" finds a subscription's
   * oldest open row in one probe. d.claimed last. */
  SET(Q_CLAIM_HEAD, "SELECT " CLAIM_COLS ",d.claimed FROM %s d JOIN hookloop_event e ON e.event_id=d.event_id "
      "WHERE d.subscription_id=?1 AND d.status IN %s ORDER BY d.rowid LIMIT 1", t->delivery_table, STATUS_OPEN);
  SET(Q_CLAIM_MARK, "UPDATE %s SET claimed=1 WHERE rowid=?1", t->delivery_table);
  /* A claim marks its rows CLAIM_MARKS at a time (unbound: NULL, no row). */
  SET(Q_CLAIM_MARKS, "UPDATE %s SET claimed=1 WHERE rowid IN (" CLAIM_MARK_PARAMS ")", t->delivery_table);
  /* The same conditions as the partial index "<delivery>_due": one index
   * probe, however long the queue. */
  SET(Q_NEXT_DUE_SUB, "SELECT MIN(next_attempt_at) FROM %s WHERE subscription_id=?1 AND claimed=0 AND status IN %s",
      t->delivery_table, STATUS_OPEN);
  SET(Q_EQ_UPDATE, "UPDATE %s SET status=?3,attempts=?4,last_status_code=?5,last_error=?6,"
      "last_latency_ms=?7,updated_at=?8,next_attempt_at=?9,claimed=?10,transformation=?11 "
      "WHERE event_id=?1 AND subscription_id=?2", t->delivery_table);
  /* The same by the key, for a row of pending_updates (numbered as its
   * values: ?1, the rowid, is not used), with its latest attempt. */
  hl_buf q = HL_BUF_INIT;
  hl_buf_printf(&q, "UPDATE %s SET status=?4,attempts=?5,last_status_code=?6,last_error=?7,"
                "last_latency_ms=?8,updated_at=?9,next_attempt_at=?10,claimed=?11,transformation=?12",
                t->delivery_table);
  la_set_sql(&q, "?", false, 13);
  hl_buf_puts(&q, " WHERE event_id=?2 AND subscription_id=?3");
  s->sql[Q_EQ_UPDATE_KEY] = hl_buf_steal(&q, NULL);
  SET(Q_REQUEUE_GET, "SELECT status FROM %s WHERE event_id=?1 AND subscription_id=?2", t->delivery_table);
  SET(Q_REQUEUE_SET, "UPDATE %s SET status='RETRYING',next_attempt_at=?3,updated_at=?3,claimed=0 "
      "WHERE event_id=?1 AND subscription_id=?2", t->delivery_table);
  SET(Q_HEALTH_READ, "SELECT 1 FROM %s LIMIT 1", t->delivery_table);
  SET(Q_HEALTH_WRITE, "INSERT INTO hookloop_health(id,checked_at) VALUES(1,?1) "
      "ON CONFLICT(id) DO UPDATE SET checked_at=excluded.checked_at");
  SET(Q_PARK_PUT, "INSERT INTO %s(due_ms,event_id,subscription_id,attempts,event_type,trace,accepted_at,body,replay) "
      "VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9) ON CONFLICT DO NOTHING", t->parked_table);
  SET(Q_PARK_TAKE, "SELECT rowid,due_ms,event_id,subscription_id,attempts,event_type,trace,accepted_at,body,replay "
      "FROM %s WHERE due_ms<=?1 AND lease_until<?2 ORDER BY due_ms LIMIT ?3", t->parked_table);
  SET(Q_PARK_LEASE, "UPDATE %s SET lease_until=?2 WHERE rowid=?1", t->parked_table);
  SET(Q_PARK_DELETE, "DELETE FROM %s WHERE due_ms=?1 AND event_id=?2 AND subscription_id=?3", t->parked_table);
  /* The attempt rows by the delivery's rowid (the key index), the row's
   * own key checked, and the status row's latest attempt (its la_
   * columns). Both stand for the slot (attempt - 1) % HL_ATTEMPT_LOG_MAX
   * of the attempt log: where an attempt row holds the latest attempt's
   * slot, the later attempt of the two is listed, the status row's when
   * they are the same (it was written last). */
  SET(Q_ATTEMPT_LIST, "SELECT a.event_id,a.subscription_id,a.attempt,a.at_ms,a.status_code,a.latency_ms,a.error,"
      "a.headers,a.body,a.truncated FROM %s d JOIN %s a ON a.drow=d.rowid WHERE d.event_id=?1 AND "
      "d.subscription_id=?2 AND a.event_id=?1 AND a.subscription_id=?2 AND (d.la_attempt IS NULL OR "
      "a.slot<>(d.la_attempt-1)%%%d OR a.attempt>d.la_attempt) "
      "UNION ALL SELECT event_id,subscription_id,la_attempt,la_at_ms,la_status_code,la_latency_ms,la_error,"
      "la_headers,la_body,la_truncated FROM %s d WHERE event_id=?1 AND subscription_id=?2 AND la_attempt IS NOT "
      "NULL AND NOT EXISTS (SELECT 1 FROM %s a WHERE a.drow=d.rowid AND a.slot=(d.la_attempt-1)%%%d AND "
      "a.attempt>d.la_attempt AND a.event_id=?1 AND a.subscription_id=?2) ORDER BY 3",
      t->delivery_table, t->attempt_table, HL_ATTEMPT_LOG_MAX, t->delivery_table, t->attempt_table,
      HL_ATTEMPT_LOG_MAX);
  /* Retention (docs/retention.md): both halves walk the _done index. */
  /* Last: whether the row holds its latest attempt, which goes with it. */
  SET(Q_PURGE_PICK, "SELECT * FROM (SELECT rowid,event_id,subscription_id,la_attempt IS NOT NULL FROM %s WHERE "
      "status='SUCCESS' AND updated_at<?1 LIMIT ?3) UNION ALL SELECT * FROM (SELECT rowid,event_id,subscription_id,"
      "la_attempt IS NOT NULL FROM %s WHERE status='FAILED' AND updated_at<?2 LIMIT ?3) LIMIT ?3",
      t->delivery_table, t->delivery_table);
  SET(Q_PURGE_ATTEMPTS, "DELETE FROM %s WHERE drow=?3 AND event_id=?1 AND subscription_id=?2", t->attempt_table);
  /* Attempt rows written without a delivery row (drow NULL), once old. */
  /* By the "orphan attempts" index (hl_sqlite_schema.c), named: the
   * planner takes the unique (drow, slot) for "drow IS NULL" otherwise, and
   * walks every such row, young ones too, to find the old. */
  SET(Q_PURGE_ATTEMPT_ORPHANS, "DELETE FROM %s WHERE rowid IN (SELECT rowid FROM %s INDEXED BY %s_orphan_at WHERE "
      "drow IS NULL AND at_ms<?1 LIMIT ?2)", t->attempt_table, t->attempt_table, t->attempt_table);
  SET(Q_PURGE_DELIVERY, "DELETE FROM %s WHERE rowid=?1 AND status IN ('SUCCESS','FAILED')", t->delivery_table);
  SET(Q_PURGE_EVENT, "DELETE FROM hookloop_event WHERE event_id=?1 "
      "AND NOT EXISTS (SELECT 1 FROM %s WHERE event_id=?1)", t->delivery_table);
  /* Events accepted before the cut-off that no delivery refers to (none
   * matched, or theirs went): a window of ?2 events from the cursor, so a
   * batch reads a bounded number of rows however many old events wait. */
  SET(Q_PURGE_ORPHANS, "SELECT rowid,accepted_at,NOT EXISTS (SELECT 1 FROM %s d WHERE d.event_id=e.event_id) "
      "FROM hookloop_event e WHERE accepted_at<?1 AND (accepted_at,rowid)>(?3,?4) "
      "ORDER BY accepted_at,rowid LIMIT ?2", t->delivery_table);
  SET(Q_PURGE_LEDGER, "DELETE FROM %s WHERE rowid IN (SELECT rowid FROM %s WHERE expires_at>0 AND "
      "expires_at<?1 LIMIT ?2)", t->ledger_table, t->ledger_table);
  SET(Q_PURGE_EVENT_ROW, "DELETE FROM hookloop_event WHERE rowid=?1");
  /* Up to ?2 subscriptions with open deliveries after ?1, in order, each
   * with whether it is still stored: one seek of the _open_order index a
   * subscription (not a walk of its rows), one of the subscription
   * table's unique index on subscription_id. */
  SET(Q_OPEN_SUBS, "WITH RECURSIVE w(sid,n) AS (SELECT (SELECT subscription_id FROM %1$s WHERE status IN "
      "('PENDING','RETRYING') AND subscription_id>?1 ORDER BY subscription_id LIMIT 1),1 UNION ALL SELECT "
      "(SELECT subscription_id FROM %1$s WHERE status IN ('PENDING','RETRYING') AND subscription_id>w.sid "
      "ORDER BY subscription_id LIMIT 1),n+1 FROM w WHERE w.sid IS NOT NULL AND n<?2) "
      "SELECT sid,EXISTS (SELECT 1 FROM %2$s WHERE subscription_id=w.sid) FROM w WHERE sid IS NOT NULL",
      t->delivery_table, t->subscription_table);
  SET(Q_CLOSE_SUB, "UPDATE %1$s SET status='FAILED',last_error=?2,updated_at=?3,next_attempt_at=0 WHERE rowid IN "
      "(SELECT rowid FROM %1$s WHERE status IN ('PENDING','RETRYING') AND subscription_id=?1 AND claimed=0 "
      "LIMIT ?4)", t->delivery_table);
  /* The same in steps, for a store above that keeps the subscriptions
   * (eq_open_of, eq_close_open): a deleted subscription's open, unclaimed
   * rows untouched since before_ms (its _open_order rows), and one of them
   * closed only if still as read. */
  SET(Q_OPEN_OF, "SELECT rowid,event_id,subscription_id,status,attempts,last_status_code,last_error,"
      "last_latency_ms,updated_at,next_attempt_at,transformation,replays FROM %s WHERE subscription_id=?1 "
      "AND status IN ('PENDING','RETRYING') AND claimed=0 AND updated_at<?2 LIMIT ?3", t->delivery_table);
  SET(Q_CLOSE_ROW, "UPDATE %s SET status='FAILED',last_error=?2,updated_at=?3,next_attempt_at=0 WHERE rowid=?1 "
      "AND event_id=?4 AND subscription_id=?5 AND status IN ('PENDING','RETRYING') AND claimed=0 AND updated_at=?6",
      t->delivery_table);
  SET(Q_BEGIN, "BEGIN IMMEDIATE");
  SET(Q_COMMIT, "COMMIT");
  SET(Q_ROLLBACK, "ROLLBACK");
  SET(Q_SAVEPOINT, "SAVEPOINT op");
  SET(Q_RELEASE, "RELEASE op");
  SET(Q_ROLLBACK_TO, "ROLLBACK TO op");
#undef SET
  rec_sql(s, Q_SCHEMA_PUT, Q_SCHEMA_LIST, Q__COUNT, &hl_schema_desc, t->schema_table);
  rec_sql(s, Q_SUB_PUT, Q_SUB_LIST, Q_SUB_DELETE, &hl_sub_desc, t->subscription_table);
  {
    hl_buf b = HL_BUF_INIT;
    hl_rec_sql_update(&b, &hl_sub_desc, t->subscription_table, '?');
    s->sql[Q_SUB_UPDATE] = hl_buf_steal(&b, NULL);
  }
  rec_sql(s, Q_PARTNER_PUT, Q_PARTNER_LIST, Q_PARTNER_DELETE, &hl_partner_desc, t->partner_table);
  rec_sql(s, Q_XFORM_PUT, Q_XFORM_LIST, Q__COUNT, &hl_xform_desc, t->transform_table);
  /* The batched writes (sq_batch): a status row, an attempt row. A
   * status row ends with the la_ columns of the attempt it carries
   * (carry_held; NULLs when none). */
  snprintf(b, sizeof b, "INSERT INTO %s(event_id,subscription_id,status,attempts,last_status_code,last_error,"
           "last_latency_ms,updated_at,next_attempt_at,claimed,transformation,delivered_gen,la_attempt,la_at_ms,"
           "la_status_code,la_latency_ms,la_error,la_headers,la_body,la_truncated) VALUES", t->delivery_table);
  /* delivered_gen: the highest generation recorded delivered (-1: none
   * yet; NULL: a row from before the column, whose deliveries are in the
   * ledger). A write that delivered nothing (-1) leaves it as it was. */
  hl_buf_puts(&q, " ON CONFLICT(event_id,subscription_id) DO UPDATE SET status=excluded.status,"
              "attempts=excluded.attempts,last_status_code=excluded.last_status_code,"
              "last_error=excluded.last_error,last_latency_ms=excluded.last_latency_ms,"
              "updated_at=excluded.updated_at,next_attempt_at=excluded.next_attempt_at,"
              "transformation=excluded.transformation,delivered_gen=CASE WHEN excluded.delivered_gen>=0 "
              "THEN MAX(COALESCE(delivered_gen,-1),excluded.delivered_gen) ELSE delivered_gen END");
  la_set_sql(&q, "excluded.", true, 0);
  hl_sqlite_batch_init(&s->pending_deliveries.b, b, "(?,?,?,?,?,?,?,?,?,0,?,?,?,?,?,?,?,?,?,?)", q.data);
  hl_buf_reset(&q);
  /* A claimed row's outcome by its rowid (hl_delivery_rec.row_ref): no
   * search of the primary key's index, whose keys (event ids) are
   * random. The key is compared on the row itself, so a rowid that names
   * another row changes nothing (flush_updates then goes by the key).
   * SQLite plans it as a scan of the VALUES and a rowid look-up each. */
  hl_buf_printf(&q, "UPDATE %s AS d SET status=v.column4,attempts=v.column5,last_status_code=v.column6,"
                "last_error=v.column7,last_latency_ms=v.column8,updated_at=v.column9,next_attempt_at=v.column10,"
                "claimed=v.column11,transformation=v.column12", t->delivery_table);
  la_set_sql(&q, "v.column", false, 13);
  hl_buf_puts(&q, " FROM (VALUES");
  hl_sqlite_batch_init(&s->pending_updates.b, q.data, "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                       ") AS v WHERE d.rowid=v.column1 AND d.event_id=v.column2 AND d.subscription_id=v.column3");
  hl_buf_reset(&q);
  /* A retry's earlier attempt, moved from its status row into its slot of
   * the attempt table before the row takes the retry (pending_moves): only
   * an earlier attempt (a replay of the same attempt overwrites it in
   * place, as the slot would be), and never over a later one in that slot. */
  hl_buf_printf(&q, "INSERT OR REPLACE INTO %s(event_id,subscription_id,slot,attempt,at_ms,status_code,latency_ms,"
                "error,headers,body,truncated,drow) SELECT d.event_id,d.subscription_id,(d.la_attempt-1)%%%d,"
                "d.la_attempt,d.la_at_ms,d.la_status_code,d.la_latency_ms,d.la_error,d.la_headers,d.la_body,"
                "d.la_truncated,d.rowid FROM (VALUES", t->attempt_table, HL_ATTEMPT_LOG_MAX);
  snprintf(b, sizeof b, ") AS v JOIN %s d ON d.event_id=v.column1 AND d.subscription_id=v.column2 WHERE "
           "d.la_attempt<v.column3 AND NOT EXISTS (SELECT 1 FROM %s a WHERE a.drow=d.rowid AND "
           "a.slot=(d.la_attempt-1)%%%d AND a.attempt>d.la_attempt)", t->delivery_table, t->attempt_table,
           HL_ATTEMPT_LOG_MAX);
  hl_sqlite_batch_init(&s->pending_moves.b, q.data, "(?,?,?)", b);
  hl_buf_dispose(&q);
  /* An attempt row finds its delivery's rowid when it is written, after
   * the turn's status rows (flush_attempts): the event id and subscription
   * are bound twice, for the row and for the look-up. */
  snprintf(b, sizeof b, "INSERT OR REPLACE INTO %s(event_id,subscription_id,slot,attempt,at_ms,status_code,"
           "latency_ms,error,headers,body,truncated,drow) VALUES", t->attempt_table);
  char row[256];
  snprintf(row, sizeof row, "(?,?,?,?,?,?,?,?,?,?,?,(SELECT rowid FROM %s WHERE event_id=? AND subscription_id=?))",
           t->delivery_table);
  hl_sqlite_batch_init(&s->pending_attempts.b, b, row, "");
  s->pending_attempts.held_max = HL_SQLITE_ATTEMPTS_HELD;
  /* The ledger: an entry written (a later one for the same key wins, as
   * SQLite applies a statement's rows in order), and keys read, "IN
   * (?,?,...)"; an expired entry is told apart from a live one by the
   * reader (flush_ledger_reads). */
  snprintf(b, sizeof b, "INSERT INTO %s(idempotency_key,status,expires_at) VALUES", t->ledger_table);
  hl_sqlite_batch_init(&s->pending_ledger.b, b, "(?,?,?)",
                       " ON CONFLICT(idempotency_key) DO UPDATE SET status=excluded.status,"
                       "expires_at=excluded.expires_at");
  snprintf(b, sizeof b, "SELECT idempotency_key,status,expires_at FROM %s WHERE idempotency_key IN (",
           t->ledger_table);
  hl_sqlite_batch_init(&s->pending_ledger_reads.b, b, "?", ")");
  /* The duplicate checks: each asked (its place in the batch, event,
   * subscription, generation) joined to its status row by the row's key,
   * so every check gets one result row, found by its place. (A row-value
   * "IN (VALUES ...)" would scan the table: SQLite 3.40 plans it so.) */
  snprintf(b, sizeof b, ") v LEFT JOIN %s d ON d.event_id=v.column2 AND d.subscription_id=v.column3",
           t->delivery_table);
  hl_sqlite_batch_init(&s->pending_delivered_reads.b,
                       "SELECT v.column1,v.column2,v.column3,v.column4,d.rowid IS NOT NULL,d.delivered_gen "
                       "FROM (VALUES", "(?,?,?,?)", b);
}

static sqlite3_stmt *stmt(sq_store *s, query_id q) {
  if (s->stmt[q] == NULL &&
      sqlite3_prepare_v3(s->db, s->sql[q], -1, SQLITE_PREPARE_PERSISTENT, &s->stmt[q], NULL) != SQLITE_OK) {
    hl_log_error("sqlite prepare failed", "\"error\":\"%s\"", hl_log_esc(sqlite3_errmsg(s->db), (size_t)-1));
    return NULL;
  }
  sqlite3_reset(s->stmt[q]);
  sqlite3_clear_bindings(s->stmt[q]);
  return s->stmt[q];
}

static void bind_text(sqlite3_stmt *st, int i, const char *v) {
  if (v) sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
  else sqlite3_bind_null(st, i);
}

static char *col_text(sqlite3_stmt *st, int i) {
  const unsigned char *t = sqlite3_column_text(st, i);
  return t ? hl_strndup((const char *)t, (size_t)sqlite3_column_bytes(st, i)) : NULL;
}

/* A write that failed for want of storage, not because of what it wrote:
 * the store cannot take writes now (health reports it). */
static bool storage_error(int rc) {
  rc &= 0xff;
  return rc == SQLITE_FULL || rc == SQLITE_IOERR || rc == SQLITE_READONLY || rc == SQLITE_CANTOPEN ||
         rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB;
}

static void note_write_failure(sq_store *s, const char *what) {
  s->write_failed = true;
  snprintf(s->write_error, sizeof s->write_error, "%s: %s", what, sqlite3_errmsg(s->db));
}

/* Runs a statement that returns no rows. */
static int exec_stmt(sq_store *s, sqlite3_stmt *st) {
  if (st == NULL) return HL_ESTORE;
  int rc = sqlite3_step(st);
  bool writes = !sqlite3_stmt_readonly(st);
  if (rc != SQLITE_DONE && rc != SQLITE_ROW && writes && storage_error(rc)) {
    s->txn_write_error = true;
    note_write_failure(s, "a write failed");
  }
  sqlite3_reset(st);
  if (rc == SQLITE_DONE || rc == SQLITE_ROW) {
    if (writes) s->txn_wrote = true;
    return 0;
  }
  if (rc == SQLITE_CONSTRAINT || (rc & 0xff) == SQLITE_CONSTRAINT) return HL_EEXISTS;
  hl_log_error("sqlite step failed", "\"error\":\"%s\"", hl_log_esc(sqlite3_errmsg(s->db), (size_t)-1));
  return HL_ESTORE;
}

static int exec_sql(sq_store *s, const char *sql) { return hl_sqlite_exec(s->db, sql); }

/* --- the per-turn transaction ---------------------------------------------- */

static void on_keep_awake(uv_idle_t *h) { (void)h; }
static void on_group_due(uv_timer_t *h);

/* Runs one of the transaction-control statements. */
static int exec_ctl(sq_store *s, query_id q) {
  return exec_stmt(s, stmt(s, q)) == 0 ? 0 : HL_ESTORE;
}

static int txn_begin(sq_store *s) {
  if (s->in_txn) return 0;
  if (exec_ctl(s, Q_BEGIN) != 0) return HL_ESTORE;
  s->in_txn = true;
  s->txn_begun = uv_now(s->loop);
  if (s->group_ms) uv_timer_start(&s->group_timer, on_group_due, s->group_ms, 0);
  else uv_idle_start(&s->keep_awake, on_keep_awake);
  return 0;
}

#define DONE_SPARE_MAX 1024

/* Queues an operation's outcome; it is delivered after this turn's COMMIT.
 * Returns its place in the queue (a batched write sets its status there
 * once the row is written). */
static done_cb *finish(sq_store *s, hl_store_cb cb, void *data, int status, hl_store_result *res) {
  done_cb *d = hl_spare_take(&s->spare);
  d->cb = cb;
  d->data = data;
  d->status = status;
  if (res) d->res = *res;
  *s->tail = d;
  s->tail = &d->next;
  /* Outside a transaction, or with a full group: deliver next turn. */
  if (!s->in_txn || ++s->txn_ops >= s->group_max) uv_idle_start(&s->keep_awake, on_keep_awake);
  return d;
}

static void flush_batch(sq_store *s, sq_batch *sb);
static void flush_updates(sq_store *s);
static void flush_puts(sq_store *s);
/* At most one of the two holds rows (delivery_put, eq_update). */
static void flush_deliveries(sq_store *s) {
  flush_puts(s);
  flush_updates(s);
}
/* Attempt rows look up their delivery's rowid: the status rows first. */
static void flush_attempts(sq_store *s) {
  flush_deliveries(s);
  flush_batch(s, &s->pending_attempts);
}
static void flush_ledger(sq_store *s);
static void flush_delivered_reads(sq_store *s);

/* Runs a list of callbacks (failed: the status each gets instead of its
 * own, 0: its own) and recycles its records. The store outlives its
 * callbacks: closing it from one only starts the close. */
static void run_callbacks(sq_store *s, done_cb *d, int failed) {
  while (d) {
    done_cb *next = d->next;
    int status = failed ? failed : d->status;
    if (d->cb) d->cb(d->data, status, &d->res);
    hl_store_result_dispose(&d->res);
    hl_spare_put(&s->spare, d);
    d = next;
  }
}

/* The WAL's fdatasync covering every ticket <= upto ended (err 0) or
 * failed: runs the held callbacks up to the first one it does not cover.
 * A failure fails them: nothing says their commit reached the disk. */
static void on_synced(void *data, uint64_t upto, int err, const char *error) {
  sq_store *s = data;
  if (err) {
    s->write_failed = true;
    snprintf(s->write_error, sizeof s->write_error, "%s", error ? error : "the WAL's fdatasync failed");
    hl_log_error("sqlite: the WAL's fdatasync failed; the commits it covered are reported failed",
                 "\"error\":\"%s\"", hl_log_esc(s->write_error, (size_t)-1));
  }
  done_cb *first = s->held, **cut = &s->held;
  while (*cut && (*cut)->ticket <= upto) cut = &(*cut)->next;
  if (cut == &s->held) return;
  s->held = *cut;
  *cut = NULL;
  if (!s->held) s->held_tail = &s->held;
  if (err)
    for (done_cb *d = first; d; d = d->next)
      if (d->ticket) d->status = HL_ESTORE;
  /* Callbacks may queue new operations: those join the next turn's batch. */
  run_callbacks(s, first, 0);
}

/* Commits the open transaction, if any, then runs every callback waiting
 * for it, or holds them for the WAL's fdatasync. */
static void commit_now(sq_store *s) {
  int failed = 0;
  flush_deliveries(s);
  flush_attempts(s);
  flush_ledger(s);
  flush_delivered_reads(s);
  if (s->in_txn) {
    s->in_txn = false;
    s->txn_ops = 0;
    uv_timer_stop(&s->group_timer);
    if (s->txn_doomed || exec_ctl(s, Q_COMMIT) != 0) {
      /* Nothing of this turn is durable: every callback hears so, health
       * reports the store failing until a write succeeds again, and the
       * backlog does not count the rows rolled back. */
      note_write_failure(s, s->txn_doomed ? "a failed write could not be taken back" : "a commit failed");
      hl_log_error("sqlite commit failed; this turn's writes are rolled back", "\"error\":\"%s\"",
                   hl_log_esc(s->write_error, (size_t)-1));
      if (!sqlite3_get_autocommit(s->db)) exec_ctl(s, Q_ROLLBACK);
      failed = HL_ESTORE;
    } else {
      s->backlog += s->backlog_delta;
      if (s->txn_wrote && !s->txn_write_error) s->write_failed = false;
    }
    s->backlog_delta = 0;
    s->txn_wrote = s->txn_write_error = s->txn_doomed = false;
  }
  uv_idle_stop(&s->keep_awake);
  done_cb *d = s->head, **d_tail = s->tail;
  s->head = NULL;
  s->tail = &s->head;
  /* A commit that wrote to the WAL (its hook ran; writes outside a
   * transaction count too) is durable only once the WAL's fdatasync, on
   * the threadpool, covers it (hl_sqlite_sync.h): its callbacks wait for
   * that, and any turn's behind them wait too, so that they keep their
   * order. */
  uint64_t ticket = 0;
  if (s->ckpt.stats.commits != s->wal_commits_seen) {
    s->wal_commits_seen = s->ckpt.stats.commits;
    ticket = hl_sqlite_sync_request(&s->sync);
  }
  if (ticket || s->held) {
    for (done_cb *h = d; h; h = h->next) {
      h->ticket = ticket;
      if (failed) h->status = failed;
    }
    if (d) {
      *s->held_tail = d;
      s->held_tail = d_tail;
    }
    return;
  }
  /* Callbacks may queue new operations: those join the next turn's batch. */
  run_callbacks(s, d, failed);
}

/* The end of a loop turn: a group that is not due yet stays open (its
 * timer commits it at the latest), and the loop may sleep meanwhile. */
static void on_commit(uv_check_t *h) {
  sq_store *s = hl_container_of(h, sq_store, commit);
  if (s->in_txn && s->group_ms && s->txn_ops < s->group_max && uv_now(s->loop) - s->txn_begun < s->group_ms) {
    uv_idle_stop(&s->keep_awake);
    return;
  }
  commit_now(s);
}

static void on_group_due(uv_timer_t *h) { commit_now(hl_container_of(h, sq_store, group_timer)); }

/* The purge's statements run inside a savepoint so that a purge that fails
 * does not undo the other operations of the same turn (an accept takes its
 * own rows back instead: accept_undo). */
static int op_begin(sq_store *s) {
  int rc = txn_begin(s);
  return rc ? rc : exec_ctl(s, Q_SAVEPOINT);
}

static int op_end(sq_store *s, int status) {
  if (status != 0) exec_ctl(s, Q_ROLLBACK_TO);
  exec_ctl(s, Q_RELEASE);
  return status;
}

/* --- operations ------------------------------------------------------------ */

/* --- health -------------------------------------------------------------------- */

typedef struct {
  sq_store *s;
  hl_store_check_cb cb;
  void *data;
  hl_store_check part;
} check_ctx;

static int check_fail(check_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int check_fail(check_ctx *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->part.error, sizeof c->part.error, fmt, ap);
  va_end(ap);
  return c->part.status = HL_ESTORE;
}

/* What can be known now, all bounded local work: the file is still the one
 * open (a removed one takes writes that a restart loses), the write lock
 * can be had (busy timeout 0: another process holding it answers at once),
 * a read works. A store whose last write failed also writes a row, so that
 * this turn's commit says whether writes work again. */
static int check_now(check_ctx *c) {
  sq_store *s = c->s;
  struct stat st;
  if (stat(s->path, &st) != 0)
    return check_fail(c, "%s is not there (%s): the store writes to a file that is gone; put it back or restart",
                      s->path, strerror(errno));
  if (st.st_dev != s->db_dev || st.st_ino != s->db_ino)
    return check_fail(c, "%s is not the file hookloop opened; restart hookloop", s->path);
  if (txn_begin(s) != 0)
    return check_fail(c, "cannot take the write lock (%s)%s", sqlite3_errmsg(s->db),
                      sqlite3_errcode(s->db) == SQLITE_BUSY ? ": another process holds the database" : "");
  sqlite3_stmt *q = stmt(s, Q_HEALTH_READ);
  int rc = q ? sqlite3_step(q) : SQLITE_ERROR;
  if (q) sqlite3_reset(q);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return check_fail(c, "a read failed (%s)", sqlite3_errmsg(s->db));
  if (s->write_failed) {
    sqlite3_stmt *w = stmt(s, Q_HEALTH_WRITE);
    if (w) sqlite3_bind_int64(w, 1, hl_wall_ms());
    exec_stmt(s, w);
  }
  return 0;
}

/* After this turn's commit: a failed write (that commit's, or an earlier
 * one not yet followed by a successful write) makes the store unhealthy. */
static void check_done(void *data, int status, hl_store_result *res) {
  check_ctx *c = data;
  (void)status; (void)res;
  if (c->part.status == 0 && c->s->write_failed)
    check_fail(c, "the last write failed (%s); writes fail until one succeeds (is the disk full?)",
               c->s->write_error);
  c->cb(c->data, &c->part, 1);
  hl_free(c);
}

static void check(hl_store *base, hl_store_check_cb cb, void *data) {
  sq_store *s = SQ(base);
  check_ctx *c = hl_calloc(1, sizeof *c);
  *c = (check_ctx){.s = s, .cb = cb, .data = data, .part = {.part = "sqlite"}};
  finish(s, check_done, c, check_now(c), NULL);
}

/* Runs a listing statement (its parameters bound; NULL: it could not be
 * prepared): row() reads each row into a zeroed item appended
 * to *items (*n of item_size bytes, which belong to res), then cb gets res. */
static void list_rows_bound(sq_store *s, sqlite3_stmt *st, void **items, size_t *n, size_t item_size,
                            void (*row)(sqlite3_stmt *st, void *item), hl_store_result *res, hl_store_cb cb,
                            void *data) {
  size_t cap = 0;
  int rc = st ? 0 : HL_ESTORE;
  while (st && sqlite3_step(st) == SQLITE_ROW) {
    if (*n == cap) {
      cap = cap ? cap * 2 : 16;
      *items = hl_realloc(*items, cap * item_size);
    }
    void *item = (char *)*items + (*n)++ * item_size;
    memset(item, 0, item_size);
    row(st, item);
  }
  if (st) sqlite3_reset(st);
  finish(s, cb, data, rc, res);
}

/* --- records by descriptor (store/hl_store_rec.h) -------------------------- */

/* Binds field i of r as parameter i + 1 (the revision written: the
 * record's + 1); then, with a revision, the record's own as parameter
 * n + 1 (the condition, hl_rec_sql_put). */
static void bind_rec(sqlite3_stmt *st, const hl_rec_desc *d, const void *r) {
  for (size_t i = 0; i < d->n; i++) {
    const hl_rec_field *f = &d->f[i];
    if (f->type == HL_RF_TEXT) bind_text(st, (int)i + 1, hl_rec_text_out(r, f));
    else if (hl_rec_i64_none(r, f)) sqlite3_bind_null(st, (int)i + 1);
    else sqlite3_bind_int64(st, (int)i + 1, hl_rec_i64_put(r, f));
  }
  const hl_rec_field *rev = hl_rec_flagged(d, HL_RF_REVISION);
  if (rev) sqlite3_bind_int64(st, (int)d->n + 1, *hl_rec_i64((void *)r, rev));
}

/* Reads column i into field i of r (NULL numbers read as 0). */
static void read_rec(sqlite3_stmt *st, const hl_rec_desc *d, void *r) {
  for (size_t i = 0; i < d->n; i++) {
    const hl_rec_field *f = &d->f[i];
    if (f->type == HL_RF_TEXT) hl_rec_text_in(r, f, col_text(st, (int)i));
    else *hl_rec_i64(r, f) = sqlite3_column_int64(st, (int)i);
  }
}

static void rec_put(hl_store *base, query_id q, const hl_rec_desc *d, const void *r, hl_store_cb cb, void *data) {
  sq_store *s = SQ(base);
  int rc = txn_begin(s);
  sqlite3_stmt *st = rc ? NULL : stmt(s, q);
  if (st) {
    bind_rec(st, d, r);
    rc = exec_stmt(s, st);
    /* A revision's condition that failed leaves the row: no change. */
    if (rc == 0 && hl_rec_flagged(d, HL_RF_REVISION) && sqlite3_changes(s->db) == 0) rc = HL_ECONFLICT;
  } else if (!rc) {
    rc = HL_ESTORE;
  }
  finish(s, cb, data, rc, NULL);
}

/* Lists every row of kind d (-> its list in the result). */
static void rec_list(hl_store *base, query_id q, const hl_rec_desc *d, hl_store_cb cb, void *data) {
  sq_store *s = SQ(base);
  hl_store_result res = {0};
  size_t cap = 0;
  sqlite3_stmt *st = stmt(s, q);
  while (st && sqlite3_step(st) == SQLITE_ROW) read_rec(st, d, hl_rec_append(d, &res, &cap));
  if (st) sqlite3_reset(st);
  finish(s, cb, data, st ? 0 : HL_ESTORE, &res);
}

/* Deletes by key (k2: the second key column, or NULL); none is HL_ENOTFOUND. */
static void rec_delete(hl_store *base, query_id q, const char *k1, const char *k2, hl_store_cb cb, void *data) {
  sq_store *s = SQ(base);
  int rc = txn_begin(s);
  sqlite3_stmt *st = rc ? NULL : stmt(s, q);
  if (st) {
    bind_text(st, 1, k1);
    if (k2) bind_text(st, 2, k2);
    rc = exec_stmt(s, st);
    if (rc == 0 && sqlite3_changes(s->db) == 0) rc = HL_ENOTFOUND;
  }
  finish(s, cb, data, rc, NULL);
}

/* The typed entries of schemas, subscriptions, partners, transformations. */
#include "store/hl_store_sql_recs.h"

static void kafka_map_put(hl_store *base, const char *event_type, const char *ingress_topic,
                          const char *egress_topics_json, hl_store_cb cb, void *data) {
  sq_store *s = SQ(base);
  int rc = txn_begin(s);
  sqlite3_stmt *st = rc ? NULL : stmt(s, Q_KAFKA_PUT);
  if (st) {
    bind_text(st, 1, event_type); bind_text(st, 2, ingress_topic); bind_text(st, 3, egress_topics_json);
    rc = exec_stmt(s, st);
  }
  finish(s, cb, data, rc, NULL);
}

static void bind_delivery(sqlite3_stmt *st, const hl_delivery_rec *r) {
  bind_text(st, 1, r->event_id); bind_text(st, 2, r->subscription_id);
  bind_text(st, 3, r->status); sqlite3_bind_int64(st, 4, r->attempts);
  sqlite3_bind_int64(st, 5, r->last_status_code); bind_text(st, 6, r->last_error);
  sqlite3_bind_int64(st, 7, r->last_latency_ms); sqlite3_bind_int64(st, 8, r->updated_at);
  sqlite3_bind_int64(st, 9, r->next_attempt_at); bind_text(st, 11, r->transformation);
}

/* --- batched writes (hl_sqlite_batch.h) ------------------------------------ */

/* Writes the rows held in sb, 64 (then 32, 16, ...) a statement. A
 * statement that fails is undone as a whole (SQLite's ABORT), and its rows
 * are then written one by one: each row's callback hears of its own
 * outcome, as if it had been written alone. */
static void flush_batch(sq_store *s, sq_batch *sb) {
  hl_sqlite_batch *b = &sb->b;
  for (size_t i = 0; i < b->nrows;) {
    size_t k = hl_sqlite_batch_chunk(b->nrows - i);
    int rc = exec_stmt(s, hl_sqlite_batch_bind(b, s->db, i, k));
    for (size_t j = i; j < i + k; j++) {
      sb->done[j]->status = rc == 0 || k == 1 ? rc : exec_stmt(s, hl_sqlite_batch_bind(b, s->db, j, 1));
      if (sb->carried[j]) sb->carried[j]->status = sb->done[j]->status;
    }
    i += k;
  }
  hl_sqlite_batch_clear(b);
}

/* Moves the earlier attempts that the held status rows' retries replace
 * (pending_moves) into the attempt table: run just before those rows are
 * written. A move that fails costs the attempt log that entry, never the
 * status rows (nor the attempts they carry). */
static void flush_moves(sq_store *s) {
  hl_sqlite_batch *b = &s->pending_moves.b;
  for (size_t i = 0; i < b->nrows;) {
    size_t k = hl_sqlite_batch_chunk(b->nrows - i);
    exec_stmt(s, hl_sqlite_batch_bind(b, s->db, i, k));
    i += k;
  }
  hl_sqlite_batch_clear(b);
}

static void flush_puts(sq_store *s) {
  flush_moves(s);
  flush_batch(s, &s->pending_deliveries);
}

/* A row's values were added to sb: its outcome (status until the row is
 * written or read) waits in the callback queue, in the order it was asked
 * for. Returns the rows sb holds. */
static size_t batch_row_add(sq_store *s, sq_batch *sb, hl_store_cb cb, void *data, int status) {
  size_t n = hl_sqlite_batch_end_row(&sb->b);
  if (n > sb->cap) {
    sb->cap = sb->cap ? sb->cap * 2 : HL_SQLITE_BATCH_MAX;
    sb->done = hl_realloc(sb->done, sb->cap * sizeof *sb->done);
    sb->carried = hl_realloc(sb->carried, sb->cap * sizeof *sb->carried);
  }
  sb->done[n - 1] = finish(s, cb, data, status, NULL);
  sb->carried[n - 1] = NULL;
  return n;
}

/* The same for a write; a full batch is written now (unless held). */
static void batch_row_end(sq_store *s, sq_batch *sb, hl_store_cb cb, void *data) {
  if (batch_row_add(s, sb, cb, data, 0) == HL_SQLITE_BATCH_MAX && !sb->held_max) flush_batch(s, sb);
}

/* --- a status row's latest attempt ----------------------------------------- */

/* A status row carries its delivery's latest attempt in its la_ columns
 * (step "latest attempt"), written by the row's own statement: an attempt
 * row of its own, found by a look-up of its delivery's rowid, cost the
 * Kafka path ~9k instructions a delivery more (bench/store, bench/
 * README.md). The attempt table keeps the earlier attempts, and those no
 * status write of their turn carried (the inbox queue keeps no status
 * row). */

/* true when row of sb is the delivery (event_id, subscription_id), its
 * key in columns key and key + 1. */
static bool same_key(const sq_batch *sb, size_t row, int key, const char *event_id, const char *subscription_id) {
  return hl_sqlite_batch_text_is(&sb->b, row, key, event_id, strlen(event_id)) &&
         hl_sqlite_batch_text_is(&sb->b, row, key + 1, subscription_id, strlen(subscription_id));
}

/* Whether a row of status batch sb may carry an attempt of the delivery:
 * not when another row held carries one of the same delivery, as the
 * earlier one would be overwritten before it is moved out (flush_moves
 * moves what the file holds). Only a retry, or a batch that carries one
 * (pending_moves holds it), can meet another attempt of its delivery in
 * one batch: the scan is theirs. An attempt not carried is written to the
 * attempt table, and listed the same. */
static bool may_carry(sq_store *s, const sq_batch *sb, int key, const char *event_id, const char *subscription_id,
                      int64_t attempt) {
  if (attempt < 2 && !s->pending_moves.b.nrows) return true;
  for (size_t j = 0; j < sb->b.nrows; j++)
    if (sb->carried[j] && same_key(sb, j, key, event_id, subscription_id)) return false;
  return true;
}

/* A retry carried: the row's earlier attempt is moved out first. */
static void note_move(sq_store *s, const char *event_id, const char *subscription_id, int64_t attempt) {
  if (attempt < 2) return;
  hl_sqlite_batch *b = &s->pending_moves.b;
  hl_sqlite_batch_text(b, event_id); hl_sqlite_batch_text(b, subscription_id); hl_sqlite_batch_int(b, attempt);
  hl_sqlite_batch_end_row(b);
}

/* The attempt a status write of the delivery carries: the last attempt
 * held, when it is that delivery's (the dispatcher logs an attempt just
 * before it records the outcome). Adds its values to the row being built,
 * after the row's own (NULLs when none), and returns its callback's slot,
 * which the row's outcome is then given to. */
static done_cb *carry_held(sq_store *s, sq_batch *sb, int key, const char *event_id, const char *subscription_id) {
  sq_batch *ab = &s->pending_attempts;
  size_t last = ab->b.nrows - 1;
  if (ab->b.nrows && event_id && subscription_id && same_key(ab, last, 0, event_id, subscription_id)) {
    int64_t attempt = hl_sqlite_batch_int_at(&ab->b, last, HL_SQLITE_LA_FROM);
    if (may_carry(s, sb, key, event_id, subscription_id, attempt)) {
      hl_sqlite_batch_add_from(&sb->b, &ab->b, last, HL_SQLITE_LA_FROM, HL_SQLITE_LA_COLS);
      done_cb *d = ab->done[last];
      hl_sqlite_batch_drop_row(&ab->b);
      note_move(s, event_id, subscription_id, attempt);
      return d;
    }
  }
  for (int i = 0; i < HL_SQLITE_LA_COLS; i++) hl_sqlite_batch_text(&sb->b, NULL);
  return NULL;
}

/* Ends r's status row in sb (key: the column of its event id), which
 * carries the attempt held for its delivery if there is one. Returns the
 * rows sb holds. */
static size_t status_row_end(sq_store *s, sq_batch *sb, int key, const hl_delivery_rec *r, hl_store_cb cb,
                             void *data) {
  done_cb *carried = carry_held(s, sb, key, r->event_id, r->subscription_id);
  size_t n = batch_row_add(s, sb, cb, data, 0);
  sb->carried[n - 1] = carried;
  return n;
}

/* An attempt's values in the order of HL_SQLITE_LA_COL. */
static void add_attempt_values(hl_sqlite_batch *b, const hl_attempt_rec *r) {
  hl_sqlite_batch_int(b, r->attempt);
  hl_sqlite_batch_int(b, r->at_ms); hl_sqlite_batch_int(b, r->status_code);
  hl_sqlite_batch_int(b, r->latency_ms); hl_sqlite_batch_text(b, r->error);
  hl_sqlite_batch_text(b, r->headers_json); hl_sqlite_batch_text(b, r->body);
  hl_sqlite_batch_int(b, r->truncated);
}

/* An attempt logged just after its delivery's status write (the last
 * status row held, carrying none yet): that row carries it, its la_
 * values added again. */
static bool carry_late(sq_store *s, const hl_attempt_rec *r, hl_store_cb cb, void *data) {
  sq_batch *sb = s->pending_deliveries.b.nrows ? &s->pending_deliveries : &s->pending_updates;
  int key = sb == &s->pending_deliveries ? 0 : 1;
  size_t last = sb->b.nrows - 1;
  if (!sb->b.nrows || sb->carried[last] || !r->event_id || !r->subscription_id ||
      !same_key(sb, last, key, r->event_id, r->subscription_id) ||
      !may_carry(s, sb, key, r->event_id, r->subscription_id, r->attempt))
    return false;
  hl_sqlite_batch_redo_tail(&sb->b, HL_SQLITE_LA_COLS);
  add_attempt_values(&sb->b, r);
  sb->carried[last] = finish(s, cb, data, 0, NULL);
  note_move(s, r->event_id, r->subscription_id, r->attempt);
  return true;
}

static void delivery_put(hl_store *base, const hl_delivery_rec *r, hl_store_cb cb, void *data) {
  sq_store *s = SQ(base);
  flush_updates(s);
  int rc = txn_begin(s);
  if (rc) {
    finish(s, cb, data, rc, NULL);
    return;
  }
  sq_batch *sb = &s->pending_deliveries;
  hl_sqlite_batch *b = &sb->b;
  hl_sqlite_batch_text(b, r->event_id); hl_sqlite_batch_text(b, r->subscription_id);
  hl_sqlite_batch_text(b, r->status); hl_sqlite_batch_int(b, r->attempts);
  hl_sqlite_batch_int(b, r->last_status_code); hl_sqlite_batch_text(b, r->last_error);
  hl_sqlite_batch_int(b, r->last_latency_ms); hl_sqlite_batch_int(b, r->updated_at);
  hl_sqlite_batch_int(b, r->next_attempt_at); hl_sqlite_batch_text(b, r->transformation);
  hl_sqlite_batch_int(b, r->delivered ? r->replays : -1);
  if (status_row_end(s, sb, 0, r, cb, data) == HL_SQLITE_BATCH_MAX) flush_puts(s);
}

static void read_delivery(sqlite3_stmt *st, int c, hl_delivery_rec *r) {
  *r = (hl_delivery_rec){0}; /* the fields not read (delivered, replays) too: a copy may be written back */
  r->event_id = col_text(st, c + 0); r->subscription_id = col_text(st, c + 1);
  r->status = col_text(st, c + 2); r->attempts = sqlite3_column_int64(st, c + 3);
  r->last_status_code = sqlite3_column_int64(st, c + 4); r->last_error = col_text(st, c + 5);
  r->last_latency_ms = sqlite3_column_int64(st, c + 6); r->updated_at = sqlite3_column_int64(st, c + 7);
  r->next_attempt_at = sqlite3_column_int64(st, c + 8);
}

/* Reads the rows of a bound delivery statement into res. */
static void read_deliveries(sqlite3_stmt *st, hl_store_result *res) {
  size_t cap = 0;
  while (sqlite3_step(st) == SQLITE_ROW) {
    if (res->ndeliveries == cap) {
      cap = cap ? cap * 2 : 8;
      res->deliveries = hl_realloc(res->deliveries, cap * sizeof *res->deliveries);
    }
    read_delivery(st, 0, &res->deliveries[res->ndeliveries]);
    res->deliveries[res->ndeliveries++].transformation = col_text(st, 9);
  }
  sqlite3_reset(st);
}

static void delivery_list(hl_store *base, const char *event_id, hl_store_cb cb, void *data) {
  sq_store *s = SQ(base);
  flush_deliveries(s);
  hl_store_result res = {0};
  sqlite3_stmt *st = stmt(s, Q_DELIVERY_LIST);
  int rc = st ? 0 : HL_ESTORE;
  if (st) { bind_text(st, 1, event_id); read_deliveries(st, &res); }
  finish(s, cb, data, rc, &res);
}

static void delivery_search(hl_store *base, const hl_delivery_query *q, hl_store_cb cb, void *data) {
  sq_store *s = SQ(base);
  flush_deliveries(s);
  hl_store_result res = {0};
  sqlite3_stmt *st = stmt(s, Q_DELIVERY_SEARCH);
  int rc = st ? 0 : HL_ESTORE;
  if (st) {
    bind_text(st, 1, q->subscription_id); bind_text(st, 2, q->status);
    sqlite3_bind_int64(st, 3, q->since); sqlite3_bind_int64(st, 4, q->until);
    sqlite3_bind_int64(st, 5, q->after_updated_at); bind_text(st, 6, q->after_event_id);
    sqlite3_bind_int64(st, 7, (sqlite3_int64)q->limit);
    read_deliveries(st, &res);
  }
  finish(s, cb, data, rc, &res);
}

/* --- the attempt log ------------------------------------------------------ */

/* Joins this turn's transaction, like the outcome written with it. The
 * dispatcher logs an attempt just before it records the outcome: that
 * status write carries it (carry_held), as does one just before it
 * (carry_late). Any other waits for the turn's flush even past 64 rows
 * and is written to the attempt table: a Kafka delivery's first status row
 * (which the attempt row finds its rowid in) may come later in the turn. */
static void attempt_put(hl_store *base, const hl_attempt_rec *r, hl_store_cb cb, void *data) {
  sq_store *s = SQ(base);
  if (s->pending_attempts.b.nrows >= s->pending_attempts.held_max) flush_attempts(s);
  int rc = txn_begin(s);
  if (rc) {
    finish(s, cb, data, rc, NULL);
    return;
  }
  if (carry_late(s, r, cb, data)) return;
  hl_sqlite_batch *b = &s->pending_attempts.b;
  hl_sqlite_batch_text(b, r->event_id); hl_sqlite_batch_text(b, r->subscription_id);
  hl_sqlite_batch_int(b, (r->attempt - 1) % HL_ATTEMPT_LOG_MAX);
  add_attempt_values(b, r);
  hl_sqlite_batch_text(b, r->event_id); hl_sqlite_batch_text(b, r->subscription_id);
  batch_row_end(s, &s->pending_attempts, cb, data);
}

static void attempt_row(sqlite3_stmt *st, void *item) {
  hl_attempt_rec *r = item;
  r->event_id = col_text(st, 0); r->subscription_id = col_text(st, 1);
  r->attempt = sqlite3_column_int64(st, 2); r->at_ms = sqlite3_column_int64(st, 3);
  r->status_code = sqlite3_column_int64(st, 4); r->latency_ms = sqlite3_column_int64(st, 5);
  r->error = col_text(st, 6); r->headers_json = col_text(st, 7); r->body = col_text(st, 8);
  r->truncated = sqlite3_column_int(st, 9) != 0;
}

static void attempt_list(hl_store *base, const char *event_id, const char *subscription_id, hl_store_cb cb,
                         void *data) {
  sq_store *s = SQ(base);
  flush_attempts(s);
  hl_store_result res = {0};
  sqlite3_stmt *st = stmt(s, Q_ATTEMPT_LIST);
  if (st) { bind_text(st, 1, event_id); bind_text(st, 2, subscription_id); }
  list_rows_bound(s, st, (void **)&res.attempts, &res.nattempts, sizeof *res.attempts, attempt_row, &res, cb, data);
}

/* An entry that overwrites joins the turn's batch (flushed at the latest
 * before the COMMIT, so its callback still hears whether it was written);
 * one that must not is a conditional INSERT, run now, after the batch, so
 * that it meets every entry asked for before it. */
static void ledger_put(hl_store *base, const char *key, const char *status, int64_t expires_at,
                       bool overwrite, hl_store_cb cb, void *data) {
  sq_store *s = SQ(base);
  int rc = txn_begin(s);
  if (rc == 0 && overwrite) {
    hl_sqlite_batch *b = &s->pending_ledger.b;
    hl_sqlite_batch_text(b, key); hl_sqlite_batch_text(b, status); hl_sqlite_batch_int(b, expires_at);
    batch_row_end(s, &s->pending_ledger, cb, data);
    return;
  }
  flush_ledger(s);
  sqlite3_stmt *st = rc ? NULL : stmt(s, Q_LEDGER_INSERT);
  if (st) {
    bind_text(st, 1, key); bind_text(st, 2, status); sqlite3_bind_int64(st, 3, expires_at);
    rc = exec_stmt(s, st);
  } else if (rc == 0) {
    rc = HL_ESTORE;
  }
  finish(s, cb, data, rc, NULL);
}

/* A ledger entry read is live: no expiry (0), or one still ahead (as
 * "expires_at=0 OR expires_at>now", which a NULL fails). */
static bool entry_live(sqlite3_stmt *st, int col, int64_t now_s) {
  int64_t expires_at = sqlite3_column_int64(st, col);
  return sqlite3_column_type(st, col) != SQLITE_NULL && (expires_at == 0 || expires_at > now_s);
}

/* One result row of a batched read whose statement covers the batch's rows
 * first..first+n-1: sets the answers of the reads it concerns. */
typedef void (*read_row_fn)(sq_store *s, sq_batch *sb, sqlite3_stmt *st, size_t first, size_t n, int64_t now_s);

/* Runs a read batch, 64 (then 32, 16, ...) rows a statement, handing each
 * result row to on_row; the reads of a statement that fails answer
 * HL_ESTORE, whatever its rows said before the failure. */
static void read_batch(sq_store *s, sq_batch *sb, read_row_fn on_row, const char *what) {
  hl_sqlite_batch *b = &sb->b;
  int64_t now_s = hl_wall_ms() / 1000;
  for (size_t i = 0; i < b->nrows;) {
    size_t k = hl_sqlite_batch_chunk(b->nrows - i);
    sqlite3_stmt *st = hl_sqlite_batch_bind(b, s->db, i, k);
    int r = SQLITE_ERROR;
    while (st && (r = sqlite3_step(st)) == SQLITE_ROW) on_row(s, sb, st, i, k, now_s);
    if (st) sqlite3_reset(st);
    if (r != SQLITE_DONE) {
      hl_log_error(what, "\"error\":\"%s\"", hl_log_esc(sqlite3_errmsg(s->db), (size_t)-1));
      for (size_t j = i; j < i + k; j++) {
        hl_store_result_dispose(&sb->done[j]->res);
        sb->done[j]->res = (hl_store_result){0};
        sb->done[j]->status = HL_ESTORE;
      }
    }
    i += k;
  }
  hl_sqlite_batch_clear(b);
}

/* A ledger entry read (key, status, expires_at): the answer of every read
 * of its key in the statement, if live. A key asked for twice gets its
 * answer twice. */
static void ledger_row(sq_store *s, sq_batch *sb, sqlite3_stmt *st, size_t first, size_t n, int64_t now_s) {
  (void)s;
  if (!entry_live(st, 2, now_s)) return;
  const char *key = (const char *)sqlite3_column_text(st, 0);
  size_t klen = (size_t)sqlite3_column_bytes(st, 0);
  for (size_t j = first; j < first + n; j++) {
    done_cb *d = sb->done[j];
    if (d->status != HL_ENOTFOUND || !hl_sqlite_batch_text_is(&sb->b, j, 0, key, klen)) continue;
    d->status = 0;
    d->res.value = col_text(st, 1);
  }
}

/* Reads the keys held in the read batch, after writing the entries held:
 * each read's callback gets the live entry's status, HL_ENOTFOUND, or
 * HL_ESTORE if its statement failed. */
static void flush_ledger_reads(sq_store *s) {
  read_batch(s, &s->pending_ledger_reads, ledger_row, "sqlite ledger read failed");
}

static void flush_ledger(sq_store *s) {
  flush_batch(s, &s->pending_ledger);
  if (s->pending_ledger_reads.b.nrows) flush_ledger_reads(s);
}

static void ledger_get(hl_store *base, const char *key, hl_store_cb cb, void *data) {
  sq_store *s = SQ(base);
  /* Inside the turn's transaction: a read alone would take and drop the
   * database's locks (fcntl, the WAL index) for itself. Its answer waits
   * for the COMMIT anyway, like every callback: the keys of a turn are
   * read together then (or when 64 wait), after the entries the turn
   * wrote, so a read may also see an entry asked for after it in the same
   * turn, as if it had been asked a moment later. */
  txn_begin(s);
  hl_sqlite_batch_text(&s->pending_ledger_reads.b, key);
  if (batch_row_add(s, &s->pending_ledger_reads, cb, data, HL_ENOTFOUND) == HL_SQLITE_BATCH_MAX) flush_ledger(s);
}

/* A status row from before its delivered_gen column: its deliveries are
 * in the ledger, under the key the dispatcher wrote then. */
static bool delivered_in_ledger(sq_store *s, const char *subscription_id, const char *event_id, int64_t replay,
                                int64_t now_s) {
  char key[256]; /* as the dispatcher's (hl_dispatch.c), so a long key is cut where its was */
  hl_store_ledger_key(key, sizeof key, subscription_id, event_id, replay);
  sqlite3_stmt *st = stmt(s, Q_LEDGER_READ);
  if (!st) return false;
  bind_text(st, 1, key);
  bool live = false;
  if (sqlite3_step(st) == SQLITE_ROW) {
    const unsigned char *status = sqlite3_column_text(st, 0);
    live = entry_live(st, 1, now_s) && status && strcmp((const char *)status, "DELIVERED") == 0;
  }
  sqlite3_reset(st);
  return live;
}

/* A duplicate check's result row (its place in the batch, event,
 * subscription, generation, whether the status row exists, its
 * delivered_gen). */
static void delivered_row(sq_store *s, sq_batch *sb, sqlite3_stmt *st, size_t first, size_t n, int64_t now_s) {
  int64_t at = sqlite3_column_int64(st, 0), gen = sqlite3_column_int64(st, 3);
  if (at < (int64_t)first || at >= (int64_t)(first + n) || !sqlite3_column_int(st, 4)) return;
  bool delivered;
  if (sqlite3_column_type(st, 5) != SQLITE_NULL)
    delivered = sqlite3_column_int64(st, 5) >= gen;
  else
    delivered = delivered_in_ledger(s, (const char *)sqlite3_column_text(st, 2),
                                    (const char *)sqlite3_column_text(st, 1), gen, now_s);
  if (delivered) {
    sb->done[at]->status = 0;
    sb->done[at]->res.value = hl_strdup("DELIVERED");
  }
}

/* Answers the duplicate checks held, after the turn's status rows:
 * "DELIVERED" where the row's delivered_gen is at least the generation
 * asked about, HL_ENOTFOUND where it is lower, -1 or there is no row,
 * HL_ESTORE if the statement failed. */
static void flush_delivered_reads(sq_store *s) {
  if (!s->pending_delivered_reads.b.nrows) return;
  flush_deliveries(s);
  flush_batch(s, &s->pending_ledger);
  read_batch(s, &s->pending_delivered_reads, delivered_row, "sqlite duplicate check failed");
}

static void delivered_get(hl_store *base, const char *event_id, const char *subscription_id, int64_t replay,
                          hl_store_cb cb, void *data) {
  sq_store *s = SQ(base);
  /* Inside the turn's transaction, answered at its COMMIT, as ledger_get. */
  txn_begin(s);
  hl_sqlite_batch *b = &s->pending_delivered_reads.b;
  hl_sqlite_batch_int(b, (int64_t)b->nrows);
  hl_sqlite_batch_text(b, event_id); hl_sqlite_batch_text(b, subscription_id);
  hl_sqlite_batch_int(b, replay);
  if (batch_row_add(s, &s->pending_delivered_reads, cb, data, HL_ENOTFOUND) == HL_SQLITE_BATCH_MAX)
    flush_delivered_reads(s);
}

/* Takes back the rows an accept wrote before one of its statements failed
 * (their rowids: the event's first), so that the turn's other operations
 * commit without them. A savepoint around every accept would do the same
 * for the rare failure, but costs each accept a copy of every page it
 * touches into the statement journal: ~45k instructions, as much as the
 * accept's own inserts (bench/README.md, "an accept without a
 * savepoint"). A row that cannot be taken back dooms the turn. */
static void accept_undo(sq_store *s, const int64_t *rows, size_t n) {
  /* A storage error may have rolled the whole transaction back already. */
  if (sqlite3_get_autocommit(s->db)) s->txn_doomed = true;
  for (size_t i = 0; i < n && !s->txn_doomed; i++) {
    sqlite3_stmt *st = stmt(s, i == 0 ? Q_PURGE_EVENT_ROW : Q_DELIVERY_UNDO);
    if (st) sqlite3_bind_int64(st, 1, rows[i]);
    if (exec_stmt(s, st) != 0 || sqlite3_changes(s->db) != 1) s->txn_doomed = true;
  }
}

/* The event and a delivery row per subscription. No savepoint (see
 * accept_undo): a one-row INSERT that fails on a constraint (the event id
 * accepted before: HL_EEXISTS) has written nothing, and a later statement
 * that fails has the rows before it taken back. */
static void eq_accept(hl_store *base, const hl_eq_accept *ev, hl_store_cb cb, void *data) {
  sq_store *s = SQ(base);
  flush_deliveries(s);
  int64_t now = hl_wall_ms();
  int rc = txn_begin(s);
  if (rc == 0) {
    sqlite3_stmt *st = stmt(s, Q_EVENT_INSERT);
    if (st) {
      bind_text(st, 1, ev->event_id); bind_text(st, 2, ev->event_type);
      sqlite3_bind_blob(st, 3, ev->body, (int)ev->body_len, SQLITE_STATIC);
      bind_text(st, 4, ev->trace); sqlite3_bind_int64(st, 5, now);
    }
    rc = exec_stmt(s, st); /* HL_EEXISTS: the id was accepted before */
    int64_t one[4], *rows = ev->nsubs < HL_ARRAY_SIZE(one) ? one : hl_malloc((ev->nsubs + 1) * sizeof *rows);
    size_t n = 0;
    if (rc == 0) rows[n++] = sqlite3_last_insert_rowid(s->db);
    for (size_t i = 0; rc == 0 && i < ev->nsubs; i++) {
      st = stmt(s, Q_DELIVERY_INSERT);
      if (st) {
        bind_text(st, 1, ev->event_id); bind_text(st, 2, ev->subscription_ids[i]);
        sqlite3_bind_int64(st, 3, now);
      }
      rc = exec_stmt(s, st);
      if (rc == 0) rows[n++] = sqlite3_last_insert_rowid(s->db);
    }
    if (rc != 0 && n > 0) accept_undo(s, rows, n);
    if (rows != one) hl_free(rows);
    if (rc == 0) s->backlog_delta += (int64_t)ev->nsubs;
  }
  finish(s, cb, data, rc, NULL);
}

/* When the subscription's earliest open, unclaimed delivery falls due; 0
 * when there is none. */
static int64_t next_due(sq_store *s, const char *subscription_id) {
  sqlite3_stmt *st = stmt(s, Q_NEXT_DUE_SUB);
  if (!st) return 0;
  bind_text(st, 1, subscription_id);
  int64_t at = 0;
  if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) at = sqlite3_column_int64(st, 0);
  sqlite3_reset(st);
  return at;
}

/* A row of CLAIM_COLS (after the rowid) as a queue item. */
static void read_claim_row(sqlite3_stmt *st, hl_eq_item *it) {
  read_delivery(st, 1, &it->d);
  it->d.row_ref = sqlite3_column_int64(st, 0);
  it->event_type = col_text(st, 10);
  it->body_len = (size_t)sqlite3_column_bytes(st, 11);
  it->body = hl_malloc(it->body_len + 1);
  if (it->body_len) memcpy(it->body, sqlite3_column_blob(st, 11), it->body_len);
  it->body[it->body_len] = '\0';
  it->trace = col_text(st, 12);
  it->accepted_at = sqlite3_column_int64(st, 13);
  it->replay = sqlite3_column_int64(st, 14);
}

static void eq_claim(hl_store *base, const char *subscription_id, size_t limit, int64_t now_ms,
                     hl_store_cb cb, void *data) {
  sq_store *s = SQ(base);
  hl_store_result res = {0};
  if (!subscription_id) { /* claims are a subscription's (hl_store.h) */
    finish(s, cb, data, HL_EINVAL, &res);
    return;
  }
  flush_deliveries(s);
  int rc = txn_begin(s);
  sqlite3_stmt *st = rc ? NULL : stmt(s, Q_CLAIM_SUB);
  if (st) {
    bind_text(st, 1, subscription_id);
    sqlite3_bind_int64(st, 2, now_ms);
    sqlite3_bind_int64(st, 3, (int64_t)limit);
    int64_t *rowids = hl_malloc((limit ? limit : 1) * sizeof *rowids);
    res.items = hl_calloc(limit ? limit : 1, sizeof *res.items);
    while (res.nitems < limit && sqlite3_step(st) == SQLITE_ROW) {
      rowids[res.nitems] = sqlite3_column_int64(st, 0);
      read_claim_row(st, &res.items[res.nitems++]);
    }
    sqlite3_reset(st);
    for (size_t i = 0; i < res.nitems; i += CLAIM_MARKS) {
      sqlite3_stmt *m = stmt(s, Q_CLAIM_MARKS);
      for (size_t j = i; m && j < res.nitems && j < i + CLAIM_MARKS; j++)
        sqlite3_bind_int64(m, (int)(j - i) + 1, rowids[j]);
      if (exec_stmt(s, m) != 0) rc = HL_ESTORE;
    }
    hl_free(rowids);
    if (rc == 0 && res.nitems < limit) res.next_due_at = next_due(s, subscription_id);
  } else if (rc == 0) {
    rc = HL_ESTORE;
  }
  finish(s, cb, data, rc, &res);
}

/* Ordered delivery: only the oldest open row is ever handed out, so a
 * head waiting for its retry (claimed in memory, or released with a later
 * next_attempt_at) holds its followers back, across restarts too. */
static void eq_claim_head(hl_store *base, const char *subscription_id, int64_t now_ms, hl_store_cb cb,
                          void *data) {
  sq_store *s = SQ(base);
  flush_deliveries(s);
  hl_store_result res = {0};
  int rc = txn_begin(s);
  sqlite3_stmt *st = rc ? NULL : stmt(s, Q_CLAIM_HEAD);
  if (st) {
    bind_text(st, 1, subscription_id);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW && sqlite3_column_int(st, 15) == 0) {
      int64_t rowid = sqlite3_column_int64(st, 0), due = sqlite3_column_int64(st, 9);
      if (due <= now_ms) {
        res.items = hl_calloc(1, sizeof *res.items);
        read_claim_row(st, &res.items[0]);
        res.nitems = 1;
        sqlite3_reset(st);
        sqlite3_stmt *m = stmt(s, Q_CLAIM_MARK);
        if (m) sqlite3_bind_int64(m, 1, rowid);
        if (exec_stmt(s, m) != 0) rc = HL_ESTORE;
      } else {
        res.next_due_at = due;
      }
    } else if (r != SQLITE_ROW && r != SQLITE_DONE) {
      rc = HL_ESTORE;
    }
    sqlite3_reset(st);
  } else if (rc == 0) {
    rc = HL_ESTORE;
  }
  finish(s, cb, data, rc, &res);
}

/* The outcome of a row in pending_updates written alone, by its rowid and
 * then, when that names no such row, by its key. */
static int update_row(sq_store *s, size_t row) {
  hl_sqlite_batch *b = &s->pending_updates.b;
  int rc = exec_stmt(s, hl_sqlite_batch_bind(b, s->db, row, 1));
  if (rc == 0 && sqlite3_changes(s->db) == 0) {
    sqlite3_stmt *st = stmt(s, Q_EQ_UPDATE_KEY);
    if (st) hl_sqlite_batch_bind_row(b, row, st);
    rc = exec_stmt(s, st);
    if (rc == 0 && sqlite3_changes(s->db) == 0) rc = HL_ENOTFOUND;
  }
  return rc;
}

/* Writes the outcomes held in pending_updates, 64 (then 32, ...) a
 * statement. A statement that changed fewer rows than it holds (a rowid
 * that names another row, a row updated twice: SQLite applies one of
 * them, not the last) or failed has its rows written again one by one,
 * in order: each row's callback hears of its own outcome, and the last
 * update of a row is the one that stays. Rewriting a row already written
 * with the same values changes nothing. */
static void flush_updates(sq_store *s) {
  sq_batch *sb = &s->pending_updates;
  hl_sqlite_batch *b = &sb->b;
  if (b->nrows) flush_moves(s);
  for (size_t i = 0; i < b->nrows;) {
    size_t k = hl_sqlite_batch_chunk(b->nrows - i);
    int rc = exec_stmt(s, hl_sqlite_batch_bind(b, s->db, i, k));
    bool all = rc == 0 && (size_t)sqlite3_changes(s->db) == k;
    for (size_t j = i; j < i + k; j++) {
      int st = all ? 0 : update_row(s, j);
      sb->done[j]->status = st;
      if (sb->carried[j]) sb->carried[j]->status = st;
      if (st == 0 && terminal_status_at(b, j, 3)) s->backlog_delta--;
    }
    i += k;
  }
  hl_sqlite_batch_clear(b);
}

static void eq_update(hl_store *base, const hl_delivery_rec *r, bool release, hl_store_cb cb,
                      void *data) {
  sq_store *s = SQ(base);
  flush_puts(s);
  int rc = txn_begin(s);
  if (rc == 0 && r->row_ref > 0) { /* a claimed row: written with the turn's others */
    sq_batch *sb = &s->pending_updates;
    hl_sqlite_batch *b = &sb->b;
    hl_sqlite_batch_int(b, r->row_ref);
    hl_sqlite_batch_text(b, r->event_id); hl_sqlite_batch_text(b, r->subscription_id);
    hl_sqlite_batch_text(b, r->status); hl_sqlite_batch_int(b, r->attempts);
    hl_sqlite_batch_int(b, r->last_status_code); hl_sqlite_batch_text(b, r->last_error);
    hl_sqlite_batch_int(b, r->last_latency_ms); hl_sqlite_batch_int(b, r->updated_at);
    hl_sqlite_batch_int(b, r->next_attempt_at); hl_sqlite_batch_int(b, release ? 0 : 1);
    hl_sqlite_batch_text(b, r->transformation);
    if (status_row_end(s, sb, 1, r, cb, data) == HL_SQLITE_BATCH_MAX) flush_updates(s);
    return;
  }
  flush_updates(s);
  sqlite3_stmt *st = rc ? NULL : stmt(s, Q_EQ_UPDATE);
  if (st) {
    bind_delivery(st, r);
    sqlite3_bind_int(st, 10, release ? 0 : 1);
    rc = exec_stmt(s, st);
    if (rc == 0 && sqlite3_changes(s->db) == 0) rc = HL_ENOTFOUND;
  } else if (rc == 0) {
    rc = HL_ESTORE;
  }
  if (rc == 0 && terminal_status(r->status)) s->backlog_delta--;
  finish(s, cb, data, rc, NULL);
}

static void eq_requeue(hl_store *base, const char *event_id, const char *subscription_id,
                       hl_store_cb cb, void *data) {
  sq_store *s = SQ(base);
  flush_deliveries(s);
  int rc = txn_begin(s);
  sqlite3_stmt *st = rc ? NULL : stmt(s, Q_REQUEUE_GET);
  if (st) {
    bind_text(st, 1, event_id); bind_text(st, 2, subscription_id);
    int r = sqlite3_step(st);
    if (r == SQLITE_DONE) rc = HL_ENOTFOUND;
    else if (r != SQLITE_ROW) rc = HL_ESTORE;
    else if (strcmp((const char *)sqlite3_column_text(st, 0), "FAILED") != 0) rc = HL_EINVAL;
    sqlite3_reset(st);
    if (rc == 0) {
      st = stmt(s, Q_REQUEUE_SET);
      if (st) { bind_text(st, 1, event_id); bind_text(st, 2, subscription_id);
                sqlite3_bind_int64(st, 3, hl_wall_ms()); }
      rc = exec_stmt(s, st);
      if (rc == 0) s->backlog_delta++;
    }
  }
  finish(s, cb, data, rc, NULL);
}

static int64_t eq_backlog(hl_store *base) { return SQ(base)->backlog; }

/* --- parked retries ---------------------------------------------------------- */

static void park_put(hl_store *base, const hl_eq_item *it, hl_store_cb cb, void *data) {
  sq_store *s = SQ(base);
  int rc = txn_begin(s);
  sqlite3_stmt *st = rc ? NULL : stmt(s, Q_PARK_PUT);
  if (st) {
    sqlite3_bind_int64(st, 1, it->d.next_attempt_at);
    bind_text(st, 2, it->d.event_id); bind_text(st, 3, it->d.subscription_id);
    sqlite3_bind_int64(st, 4, it->d.attempts); bind_text(st, 5, it->event_type); bind_text(st, 6, it->trace);
    sqlite3_bind_int64(st, 7, it->accepted_at);
    sqlite3_bind_blob(st, 8, it->body ? it->body : "", (int)it->body_len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 9, it->replay);
    rc = exec_stmt(s, st);
  } else if (rc == 0) {
    rc = HL_ESTORE;
  }
  finish(s, cb, data, rc, NULL);
}

static void park_take(hl_store *base, int64_t due_by, int64_t now_ms, int64_t lease_until, size_t limit,
                      hl_store_cb cb, void *data) {
  sq_store *s = SQ(base);
  hl_store_result res = {0};
  int rc = txn_begin(s);
  sqlite3_stmt *st = rc ? NULL : stmt(s, Q_PARK_TAKE);
  if (st) {
    sqlite3_bind_int64(st, 1, due_by);
    sqlite3_bind_int64(st, 2, now_ms);
    sqlite3_bind_int64(st, 3, (int64_t)limit);
    int64_t *rowids = hl_malloc((limit ? limit : 1) * sizeof *rowids);
    res.items = hl_calloc(limit ? limit : 1, sizeof *res.items);
    while (res.nitems < limit && sqlite3_step(st) == SQLITE_ROW) {
      hl_eq_item *it = &res.items[res.nitems];
      rowids[res.nitems++] = sqlite3_column_int64(st, 0);
      it->d.next_attempt_at = sqlite3_column_int64(st, 1);
      it->d.event_id = col_text(st, 2);
      it->d.subscription_id = col_text(st, 3);
      it->d.attempts = sqlite3_column_int64(st, 4);
      it->d.status = hl_strdup("RETRYING");
      it->event_type = col_text(st, 5);
      it->trace = col_text(st, 6);
      it->accepted_at = sqlite3_column_int64(st, 7);
      it->body_len = (size_t)sqlite3_column_bytes(st, 8);
      it->body = hl_malloc(it->body_len + 1);
      if (it->body_len) memcpy(it->body, sqlite3_column_blob(st, 8), it->body_len);
      it->body[it->body_len] = '\0';
      it->replay = sqlite3_column_int64(st, 9);
      it->d.replays = it->replay;
    }
    sqlite3_reset(st);
    for (size_t i = 0; i < res.nitems; i++) {
      sqlite3_stmt *m = stmt(s, Q_PARK_LEASE);
      if (m) { sqlite3_bind_int64(m, 1, rowids[i]); sqlite3_bind_int64(m, 2, lease_until); }
      if (exec_stmt(s, m) != 0) rc = HL_ESTORE;
    }
    hl_free(rowids);
  } else if (rc == 0) {
    rc = HL_ESTORE;
  }
  finish(s, cb, data, rc, &res);
}

static void park_delete(hl_store *base, const hl_eq_item *it, hl_store_cb cb, void *data) {
  sq_store *s = SQ(base);
  int rc = txn_begin(s);
  sqlite3_stmt *st = rc ? NULL : stmt(s, Q_PARK_DELETE);
  if (st) {
    sqlite3_bind_int64(st, 1, it->d.next_attempt_at);
    bind_text(st, 2, it->d.event_id); bind_text(st, 3, it->d.subscription_id);
    rc = exec_stmt(s, st);
  } else if (rc == 0) {
    rc = HL_ESTORE;
  }
  finish(s, cb, data, rc, NULL);
}

/* --- retention ------------------------------------------------------------ */

typedef struct {
  int64_t rowid;
  char *event_id, *subscription_id;
  bool latest_attempt; /* the row holds its latest attempt */
} purge_row;

/* Picks up to p->limit terminal deliveries past their limit (PENDING and
 * RETRYING are never picked) into rows; returns how many, or -1. */
static int64_t purge_pick(sq_store *s, const hl_store_purge *p, purge_row *rows) {
  sqlite3_stmt *st = stmt(s, Q_PURGE_PICK);
  if (!st) return -1;
  sqlite3_bind_int64(st, 1, p->delivered_before_ms);
  sqlite3_bind_int64(st, 2, p->failed_before_ms);
  sqlite3_bind_int64(st, 3, (sqlite3_int64)p->limit);
  int64_t n = 0;
  int rc;
  while ((size_t)n < p->limit && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    rows[n].rowid = sqlite3_column_int64(st, 0);
    rows[n].event_id = hl_strdup((const char *)sqlite3_column_text(st, 1));
    rows[n].subscription_id = hl_strdup((const char *)sqlite3_column_text(st, 2));
    rows[n].latest_attempt = sqlite3_column_int(st, 3) != 0;
    n++;
  }
  sqlite3_reset(st);
  return n;
}

/* Deletes one picked delivery, its attempt log and, when it was the last
 * delivery of its event, the event. */
static int purge_one(sq_store *s, const purge_row *r, hl_store_result *res) {
  sqlite3_stmt *st = stmt(s, Q_PURGE_ATTEMPTS);
  if (!st) return HL_ESTORE;
  bind_text(st, 1, r->event_id); bind_text(st, 2, r->subscription_id); sqlite3_bind_int64(st, 3, r->rowid);
  int rc = exec_stmt(s, st);
  if (rc) return rc;
  res->purged.attempts += sqlite3_changes(s->db);
  if (!(st = stmt(s, Q_PURGE_DELIVERY))) return HL_ESTORE;
  sqlite3_bind_int64(st, 1, r->rowid);
  if ((rc = exec_stmt(s, st)) != 0) return rc;
  int gone = sqlite3_changes(s->db);
  res->purged.deliveries += gone;
  if (gone && r->latest_attempt) res->purged.attempts++;
  if (!(st = stmt(s, Q_PURGE_EVENT))) return HL_ESTORE;
  bind_text(st, 1, r->event_id);
  if ((rc = exec_stmt(s, st)) != 0) return rc;
  res->purged.events += sqlite3_changes(s->db);
  return 0;
}

/* Events older than the delivered limit that no delivery refers to: one
 * window of p->limit events from the cursor; at the end it starts over. */
static int purge_orphans(sq_store *s, const hl_store_purge *p, hl_store_result *res) {
  sqlite3_stmt *st = stmt(s, Q_PURGE_ORPHANS);
  if (!st) return HL_ESTORE;
  sqlite3_bind_int64(st, 1, p->delivered_before_ms);
  sqlite3_bind_int64(st, 2, (sqlite3_int64)p->limit);
  sqlite3_bind_int64(st, 3, s->orphan_at);
  sqlite3_bind_int64(st, 4, s->orphan_rowid);
  int64_t *gone = hl_calloc(p->limit ? p->limit : 1, sizeof *gone);
  size_t seen = 0, ngone = 0;
  while (sqlite3_step(st) == SQLITE_ROW) {
    s->orphan_rowid = sqlite3_column_int64(st, 0);
    s->orphan_at = sqlite3_column_int64(st, 1);
    if (sqlite3_column_int(st, 2) && ngone < p->limit) gone[ngone++] = s->orphan_rowid;
    seen++;
  }
  sqlite3_reset(st);
  if (seen < p->limit) s->orphan_at = s->orphan_rowid = 0;
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < ngone; i++) {
    if (!(st = stmt(s, Q_PURGE_EVENT_ROW))) rc = HL_ESTORE;
    else sqlite3_bind_int64(st, 1, gone[i]);
    if (rc == 0 && (rc = exec_stmt(s, st)) == 0) res->purged.events += sqlite3_changes(s->db);
  }
  hl_free(gone);
  return rc;
}

/* Open deliveries of subscriptions no longer stored: HL_STORE_PURGE_SUBS
 * subscriptions with open deliveries from the cursor, and up to p->limit
 * of the deleted ones' unclaimed rows set FAILED (claimed rows are in a
 * dispatcher's hands; they come back unclaimed, or end by themselves).
 * *closed: how many. */
static int purge_closed_subs(sq_store *s, const hl_store_purge *p, int64_t *closed) {
  sqlite3_stmt *st = stmt(s, Q_OPEN_SUBS);
  if (!st) return HL_ESTORE;
  bind_text(st, 1, s->open_sub_cursor ? s->open_sub_cursor : "");
  sqlite3_bind_int(st, 2, HL_STORE_PURGE_SUBS);
  char **gone = NULL;
  size_t ngone = 0, seen = 0;
  char *last = NULL;
  int r;
  while ((r = sqlite3_step(st)) == SQLITE_ROW) {
    const char *sid = (const char *)sqlite3_column_text(st, 0);
    seen++;
    hl_free(last);
    last = hl_strdup(sid);
    if (sqlite3_column_int(st, 1)) continue;
    gone = hl_realloc(gone, (ngone + 1) * sizeof *gone);
    gone[ngone++] = hl_strdup(sid);
  }
  sqlite3_reset(st);
  int rc = r == SQLITE_DONE ? 0 : HL_ESTORE;
  for (size_t i = 0; rc == 0 && i < ngone && (size_t)*closed < p->limit; i++) {
    if (!(st = stmt(s, Q_CLOSE_SUB))) { rc = HL_ESTORE; break; }
    bind_text(st, 1, gone[i]); bind_text(st, 2, HL_STORE_SUB_DELETED);
    sqlite3_bind_int64(st, 3, p->now_ms); sqlite3_bind_int64(st, 4, (sqlite3_int64)(p->limit - (size_t)*closed));
    if ((rc = exec_stmt(s, st)) == 0) *closed += sqlite3_changes(s->db);
  }
  /* A full batch walks the same subscriptions again; a walk that ran out
   * starts over. */
  if (rc == 0 && (size_t)*closed < p->limit) {
    hl_free(s->open_sub_cursor);
    s->open_sub_cursor = seen == HL_STORE_PURGE_SUBS ? last : NULL;
    if (s->open_sub_cursor == last) last = NULL;
  }
  for (size_t i = 0; i < ngone; i++) hl_free(gone[i]);
  hl_free(gone);
  hl_free(last);
  return rc;
}

static void purge(hl_store *base, const hl_store_purge *p, hl_store_cb cb, void *data) {
  sq_store *s = SQ(base);
  /* The rows held are written first, outside the purge's savepoint: a
   * purge that fails and is undone must not undo them (their callbacks
   * hear they were written). */
  flush_attempts(s);
  flush_ledger(s);
  hl_store_result res = {0};
  int rc = op_begin(s);
  if (rc == 0) {
    purge_row *rows = hl_calloc(p->limit ? p->limit : 1, sizeof *rows);
    int64_t n = purge_pick(s, p, rows);
    if (n < 0) rc = HL_ESTORE;
    for (int64_t i = 0; i < n; i++) {
      if (rc == 0) rc = purge_one(s, &rows[i], &res);
      hl_free(rows[i].event_id);
      hl_free(rows[i].subscription_id);
    }
    hl_free(rows);
    if (rc == 0) rc = purge_orphans(s, p, &res);
    if (rc == 0 && p->close_deleted) rc = purge_closed_subs(s, p, &res.purged.closed);
    sqlite3_stmt *st = rc ? NULL : stmt(s, Q_PURGE_ATTEMPT_ORPHANS);
    if (st) {
      sqlite3_bind_int64(st, 1, p->delivered_before_ms);
      sqlite3_bind_int64(st, 2, (sqlite3_int64)p->limit);
      if ((rc = exec_stmt(s, st)) == 0) res.purged.attempts += sqlite3_changes(s->db);
    } else if (rc == 0) {
      rc = HL_ESTORE;
    }
    st = rc ? NULL : stmt(s, Q_PURGE_LEDGER);
    if (st) {
      sqlite3_bind_int64(st, 1, p->now_s);
      sqlite3_bind_int64(st, 2, (sqlite3_int64)p->limit);
      if ((rc = exec_stmt(s, st)) == 0) res.purged.ledger = sqlite3_changes(s->db);
    } else if (rc == 0) {
      rc = HL_ESTORE;
    }
    /* The pages freed go back to the file system, a bounded number a
     * batch (auto_vacuum=INCREMENTAL, hl_sqlite_schema.c, migrate_retention). */
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA incremental_vacuum(%zu)", p->limit);
    if (rc == 0) rc = exec_sql(s, sql);
    rc = op_end(s, rc);
  }
  if (rc) res.purged.deliveries = res.purged.attempts = res.purged.events = res.purged.ledger = res.purged.closed = 0;
  s->backlog_delta -= res.purged.closed; /* counted at COMMIT, as every change */
  finish(s, cb, data, rc, &res);
}

/* --- closing in steps (hl_store.h, eq_open_subs) ---------------------------- */
/* The subscriptions' rows are read and closed in the turn's transaction
 * like any other; what the store above checks between the steps (DynamoDB
 * has the subscription or not) takes a round trip, so the close is
 * conditional on the row being as it was read. */

static void eq_open_subs(hl_store *base, const char *after, size_t limit, hl_store_cb cb, void *data) {
  sq_store *s = SQ(base);
  hl_store_result res = {0};
  flush_deliveries(s);
  int rc = txn_begin(s);
  /* Its second column, whether this file keeps the subscription, is not
   * read: the store above keeps them. */
  sqlite3_stmt *st = rc ? NULL : stmt(s, Q_OPEN_SUBS);
  if (st) {
    bind_text(st, 1, after ? after : "");
    sqlite3_bind_int64(st, 2, (sqlite3_int64)limit);
    res.subs = hl_calloc(limit ? limit : 1, sizeof *res.subs);
    int r = SQLITE_DONE;
    while (res.nsubs < limit && (r = sqlite3_step(st)) == SQLITE_ROW)
      res.subs[res.nsubs++].subscription_id = col_text(st, 0);
    if (r != SQLITE_ROW && r != SQLITE_DONE) rc = HL_ESTORE;
    sqlite3_reset(st);
  } else if (rc == 0) {
    rc = HL_ESTORE;
  }
  finish(s, cb, data, rc, &res);
}

static void eq_open_of(hl_store *base, const char *const *subscription_ids, size_t n, int64_t before_ms,
                       size_t limit, hl_store_cb cb, void *data) {
  sq_store *s = SQ(base);
  hl_store_result res = {0};
  flush_deliveries(s);
  int rc = txn_begin(s);
  if (rc == 0) res.deliveries = hl_calloc(limit ? limit : 1, sizeof *res.deliveries);
  for (size_t i = 0; rc == 0 && i < n && res.ndeliveries < limit; i++) {
    sqlite3_stmt *st = stmt(s, Q_OPEN_OF);
    if (!st) {
      rc = HL_ESTORE;
      break;
    }
    bind_text(st, 1, subscription_ids[i]);
    sqlite3_bind_int64(st, 2, before_ms);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)(limit - res.ndeliveries));
    int r = SQLITE_DONE;
    while (res.ndeliveries < limit && (r = sqlite3_step(st)) == SQLITE_ROW) {
      hl_delivery_rec *d = &res.deliveries[res.ndeliveries++];
      read_delivery(st, 1, d);
      d->row_ref = sqlite3_column_int64(st, 0);
      d->transformation = col_text(st, 10);
      d->replays = sqlite3_column_int64(st, 11);
    }
    if (res.ndeliveries < limit && r != SQLITE_DONE) rc = HL_ESTORE;
    sqlite3_reset(st);
  }
  finish(s, cb, data, rc, &res);
}

static void eq_close_open(hl_store *base, const hl_delivery_rec *rows, size_t n, const char *error, int64_t now_ms,
                          hl_store_cb cb, void *data) {
  sq_store *s = SQ(base);
  hl_store_result res = {0};
  flush_deliveries(s);
  int rc = op_begin(s);
  if (rc == 0) {
    for (size_t i = 0; rc == 0 && i < n; i++) {
      sqlite3_stmt *st = stmt(s, Q_CLOSE_ROW);
      if (!st) {
        rc = HL_ESTORE;
        break;
      }
      sqlite3_bind_int64(st, 1, rows[i].row_ref);
      bind_text(st, 2, error);
      sqlite3_bind_int64(st, 3, now_ms);
      bind_text(st, 4, rows[i].event_id);
      bind_text(st, 5, rows[i].subscription_id);
      sqlite3_bind_int64(st, 6, rows[i].updated_at);
      if ((rc = exec_stmt(s, st)) == 0) res.purged.closed += sqlite3_changes(s->db);
    }
    rc = op_end(s, rc);
  }
  if (rc) res.purged.closed = 0;
  s->backlog_delta -= res.purged.closed; /* counted at COMMIT, as every change */
  finish(s, cb, data, rc, &res);
}

/* --- life cycle ------------------------------------------------------------ */

static void on_closed(uv_handle_t *h) {
  sq_store *s = h->data;
  if (--s->closing > 0) return;
  hl_spare_dispose(&s->spare);
  hl_free(s->open_sub_cursor);
  hl_free(s->path);
  hl_free_then_call(s, s->close_cb, s->close_data);
}

/* No checkpoint is in flight any more: the final one, then the handles. */
static void on_ckpt_stopped(void *data) {
  sq_store *s = data;
  hl_sqlite_ckpt_close(&s->ckpt);
  if (s->db) {
    exec_sql(s, "PRAGMA wal_checkpoint(TRUNCATE)");
    sqlite3_close(s->db);
  }
  if (s->lock_fd >= 0) close(s->lock_fd);
  s->closing = 3;
  uv_close((uv_handle_t *)&s->commit, on_closed);
  uv_close((uv_handle_t *)&s->keep_awake, on_closed);
  uv_close((uv_handle_t *)&s->group_timer, on_closed);
}

static void on_sync_stopped(void *data);

static void sq_close(hl_store *base, void (*cb)(void *data), void *data) {
  sq_store *s = SQ(base);
  s->close_cb = cb;
  s->close_data = data;
  /* Deliver what is pending (commits the open transaction) before closing:
   * the last commits' callbacks run once their fdatasync has ended. */
  commit_now(s);
  hl_sqlite_sync_stop(&s->sync, on_sync_stopped, s);
}

/* Every commit is on the disk and its callbacks have run. Those may have
 * queued operations of their own: commit them and wait again. */
static void on_sync_stopped(void *data) {
  sq_store *s = data;
  if (s->in_txn || s->head) {
    commit_now(s);
    hl_sqlite_sync_stop(&s->sync, on_sync_stopped, s);
    return;
  }
  hl_sqlite_sync_close(&s->sync);
  for (int i = 0; i < Q__COUNT; i++) {
    if (s->stmt[i]) sqlite3_finalize(s->stmt[i]);
    hl_free(s->sql[i]);
  }
  /* The batches' statements go with the others; the connection itself is
   * closed once the checkpointer has stopped (on_ckpt_stopped). */
  sq_batch *all[] = {&s->pending_deliveries, &s->pending_updates, &s->pending_attempts, &s->pending_ledger,
                     &s->pending_ledger_reads, &s->pending_delivered_reads};
  for (size_t i = 0; i < HL_ARRAY_SIZE(all); i++) {
    hl_sqlite_batch_close(&all[i]->b);
    hl_free(all[i]->done);
    hl_free(all[i]->carried);
  }
  hl_sqlite_batch_close(&s->pending_moves.b); /* rows only: no callbacks */
  hl_sqlite_ckpt_stop(&s->ckpt, on_ckpt_stopped, s);
}

static void eq_replay(hl_store *base, const char *event_id, const char *subscription_id, hl_store_cb cb,
                      void *data);
static void delivery_replay(hl_store *base, const char *event_id, const char *subscription_id, int64_t now_ms,
                            int64_t hold_ms, hl_store_cb cb, void *data);
static void delivery_replay_undo(hl_store *base, const char *event_id, const char *subscription_id, int64_t gen,
                                 int64_t marked_at, hl_store_cb cb, void *data);
static void delivery_replay_open(hl_store *base, const char *event_id, const char *subscription_id, int64_t gen,
                                 int64_t updated_at, hl_store_cb cb, void *data);

static void sq_render_metrics(hl_store *base, hl_buf *out);

static const hl_store_vtable sq_vtable = {.name = "sqlite", .close = sq_close, HL_STORE_VT_RECORDS, HL_STORE_VT_QUEUE,
                                          .eq_claim_head = eq_claim_head, .eq_replay = eq_replay, .purge = purge,
                                          .delivery_replay = delivery_replay, .delivery_replay_undo = delivery_replay_undo,
                                          .delivery_replay_open = delivery_replay_open, .render_metrics = sq_render_metrics,
                                          .delivered_get = delivered_get, .eq_alone = true,
                                          .eq_open_subs = eq_open_subs, .eq_open_of = eq_open_of,
                                          .eq_close_open = eq_close_open};


int hl_store_sqlite_open(uv_loop_t *loop, const char *data_dir, const hl_table_names *names,
                         hl_store **out, char *err, size_t errlen) {
  sq_store *s = hl_calloc(1, sizeof *s);
  char path[4096];
  int rc = HL_ESTORE;
  s->base.vt = &sq_vtable;
  s->loop = loop;
  s->lock_fd = -1;
  s->tail = &s->head;
  hl_spare_init(&s->spare, sizeof(done_cb), DONE_SPARE_MAX);
  if (names) s->t = *names; else hl_table_names_default(&s->t);
  if (!s->t.parked_table) s->t.parked_table = "parked_retry";
  if (!s->t.transform_table) s->t.transform_table = "transformation";
  if (!s->t.partner_table) s->t.partner_table = "partner";
  if (!s->t.attempt_table) s->t.attempt_table = "delivery_attempt";
  const char *tn[] = {s->t.schema_table, s->t.subscription_table, s->t.kafka_table,
                      s->t.delivery_table, s->t.ledger_table, s->t.parked_table, s->t.transform_table,
                      s->t.partner_table, s->t.attempt_table};
  for (size_t i = 0; i < HL_ARRAY_SIZE(tn); i++)
    if (!hl_table_name_ok(tn[i], 64, true)) {
      snprintf(err, errlen, "table name '%s' is not usable: use letters, digits and '_' only", tn[i]);
      rc = HL_EINVAL;
      goto fail;
    }
  if (mkdir(data_dir, 0700) != 0 && errno != EEXIST) {
    snprintf(err, errlen, "cannot create data directory %s: %s; set HOOKLOOP_DATA_DIR to a writable directory",
             data_dir, strerror(errno));
    goto fail;
  }
  snprintf(path, sizeof path, "%s/hookloop.lock", data_dir);
  s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (s->lock_fd < 0 || flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
    snprintf(err, errlen, "data directory %s is in use by another hookloop process (or not writable); "
             "stop it or choose another HOOKLOOP_DATA_DIR", data_dir);
    goto fail;
  }
  snprintf(path, sizeof path, "%s/hookloop.db", data_dir);
  s->path = hl_strdup(path);
  /* hl_sqlite_walbuf.h: a COMMIT's WAL frames gathered, 30 to a write. */
  if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      hl_sqlite_walbuf_vfs()) != SQLITE_OK) {
    snprintf(err, errlen, "cannot open %s: %s", path, s->db ? sqlite3_errmsg(s->db) : "out of memory");
    goto fail;
  }
  /* secure_delete: a row replaced or deleted is overwritten with zeros, so
   * a credential sealed in place (a plain row from before
   * HOOKLOOP_SECRET_KEY_FILE) leaves no copy in the file's free space.
   * Debian's SQLite is built with it on; this keeps it on for any build. */
  /* auto_vacuum first: a new file takes it only before its first table. */
  char pragmas[256];
  snprintf(pragmas, sizeof pragmas,
           "PRAGMA auto_vacuum=INCREMENTAL; PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA temp_store=MEMORY;"
           "PRAGMA cache_size=-%d; PRAGMA secure_delete=ON;", HL_SQLITE_PAGE_CACHE_KB);
  if (exec_sql(s, pragmas) != 0 || hl_sqlite_schema_set_up(s->db, &s->t) != 0) {
    snprintf(err, errlen, "cannot initialise %s: %s", path, sqlite3_errmsg(s->db));
    goto fail;
  }
  struct stat dbst;
  if (stat(path, &dbst) != 0) {
    snprintf(err, errlen, "cannot stat %s: %s", path, strerror(errno));
    goto fail;
  }
  s->db_dev = dbst.st_dev;
  s->db_ino = dbst.st_ino;
  /* Nothing is in memory at start: every open delivery may be claimed again. */
  char sql[512];
  snprintf(sql, sizeof sql, "UPDATE %s SET claimed=0 WHERE claimed=1", s->t.delivery_table);
  if (exec_sql(s, sql) != 0) goto fail;
  snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM %s WHERE status IN %s", s->t.delivery_table, STATUS_OPEN);
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
    s->backlog = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  /* The schema's set-up above ran with FULL; from the end of this function
   * on, the WAL's fdatasync runs on the threadpool instead (see below). */
  if (exec_sql(s, "PRAGMA synchronous=NORMAL") != 0) {
    snprintf(err, errlen, "cannot initialise %s: %s", path, sqlite3_errmsg(s->db));
    goto fail;
  }
  build_sql(s);
  uv_check_init(loop, &s->commit);
  uv_idle_init(loop, &s->keep_awake);
  uv_timer_init(loop, &s->group_timer);
  s->commit.data = s->keep_awake.data = s->group_timer.data = s;
  hl_store_sqlite_group_commit(&s->base, HL_SQLITE_COMMIT_MS, HL_SQLITE_GROUP_MAX);
  uv_check_start(&s->commit, on_commit);
  /* The commit handle must not keep the loop alive by itself. */
  uv_unref((uv_handle_t *)&s->commit);
  /* From here on no COMMIT checkpoints on the loop (hl_sqlite_ckpt.h). */
  hl_sqlite_ckpt_init(&s->ckpt, loop, path, 0);
  hl_sqlite_ckpt_start(&s->ckpt, s->db);
  /* From here on no COMMIT waits for the disk on the loop either: the WAL's
   * fdatasync runs on the threadpool, and callbacks wait for it
   * (hl_sqlite_sync.h). */
  s->held_tail = &s->held;
  hl_sqlite_sync_init(&s->sync, loop, path, on_synced, s);
  *out = &s->base;
  return 0;
fail:
  if (s->db) sqlite3_close(s->db);
  if (s->lock_fd >= 0) close(s->lock_fd);
  hl_free(s->path);
  hl_free(s);
  return rc;
}

void hl_store_sqlite_group_commit(hl_store *base, uint64_t commit_ms, size_t max_ops) {
  sq_store *s = SQ(base);
  s->group_ms = commit_ms;
  s->group_max = max_ops ? max_ops : 1;
}

/* --- replay ---------------------------------------------------------------- */

/* One row read and one written in this turn's transaction; prepared on
 * each use (a replay is an operator's request, not a hot path), so the
 * shared statement table stays as it is. with_body: only when the event's
 * body is kept here (the embedded queue), which reopens the row; else the
 * bytes are the queue's (Kafka), and the row only counts the generation
 * up: it is reopened once the record is on the topic
 * (delivery_replay_open). */
static void replay_row(hl_store *base, const char *event_id, const char *subscription_id, bool with_body,
                       int64_t now_ms, int64_t hold_ms, hl_store_cb cb, void *data) {
  sq_store *s = SQ(base);
  hl_store_result res = {0};
  int rc = txn_begin(s);
  hl_buf q = HL_BUF_INIT;
  flush_deliveries(s);
  sqlite3_stmt *st = NULL;
  int64_t gen = 0;
  hl_buf_printf(&q, "SELECT d.status,d.replays,d.replay_at>?3 AND d.updated_at<d.replay_at FROM %s d %s "
                "WHERE d.event_id=?1 AND d.subscription_id=?2",
                s->t.delivery_table, with_body ? "JOIN hookloop_event e ON e.event_id=d.event_id" : "");
  if (rc == 0 && sqlite3_prepare_v2(s->db, q.data, -1, &st, NULL) != SQLITE_OK) rc = HL_ESTORE;
  if (rc == 0) {
    bind_text(st, 1, event_id); bind_text(st, 2, subscription_id);
    sqlite3_bind_int64(st, 3, now_ms - hold_ms);
    int r = sqlite3_step(st);
    if (r == SQLITE_DONE) rc = HL_ENOTFOUND;
    else if (r != SQLITE_ROW) rc = HL_ESTORE;
    else if (strcmp((const char *)sqlite3_column_text(st, 0), "SUCCESS") != 0 &&
             strcmp((const char *)sqlite3_column_text(st, 0), "FAILED") != 0) rc = HL_EINVAL;
    else if (!with_body && sqlite3_column_int(st, 2)) rc = HL_EINVAL; /* another replay under way */
    else gen = sqlite3_column_int64(st, 1) + 1;
  }
  sqlite3_finalize(st);
  st = NULL;
  hl_buf_reset(&q);
  if (with_body)
    hl_buf_printf(&q, "UPDATE %s SET status='PENDING',next_attempt_at=?3,updated_at=?3,claimed=0,replays=?4 "
                      "WHERE event_id=?1 AND subscription_id=?2", s->t.delivery_table);
  else
    hl_buf_printf(&q, "UPDATE %s SET replays=?4,replay_at=?5 WHERE event_id=?1 AND subscription_id=?2",
                  s->t.delivery_table);
  if (rc == 0 && sqlite3_prepare_v2(s->db, q.data, -1, &st, NULL) != SQLITE_OK) rc = HL_ESTORE;
  if (rc == 0) {
    bind_text(st, 1, event_id); bind_text(st, 2, subscription_id);
    sqlite3_bind_int64(st, 3, hl_wall_ms());
    sqlite3_bind_int64(st, 4, gen);
    if (!with_body) sqlite3_bind_int64(st, 5, now_ms);
    rc = exec_stmt(s, st);
  }
  sqlite3_finalize(st);
  hl_buf_dispose(&q);
  if (rc == 0) {
    if (with_body) s->backlog_delta++;
    char v[24];
    snprintf(v, sizeof v, "%lld", (long long)gen);
    res.value = hl_strdup(v);
  }
  finish(s, cb, data, rc, &res);
}

static void eq_replay(hl_store *base, const char *event_id, const char *subscription_id, hl_store_cb cb,
                      void *data) {
  replay_row(base, event_id, subscription_id, true, 0, 0, cb, data);
}

static void delivery_replay(hl_store *base, const char *event_id, const char *subscription_id, int64_t now_ms,
                            int64_t hold_ms, hl_store_cb cb, void *data) {
  replay_row(base, event_id, subscription_id, false, now_ms, hold_ms, cb, data);
}

static void delivery_replay_undo(hl_store *base, const char *event_id, const char *subscription_id, int64_t gen,
                                 int64_t marked_at, hl_store_cb cb, void *data) {
  sq_store *s = SQ(base);
  hl_store_result res = {0};
  int rc = txn_begin(s);
  hl_buf q = HL_BUF_INIT;
  sqlite3_stmt *st = NULL;
  hl_buf_printf(&q, "UPDATE %s SET replay_at=0 WHERE event_id=?1 AND subscription_id=?2 AND replays=?3 "
                    "AND replay_at=?4", s->t.delivery_table);
  if (rc == 0 && sqlite3_prepare_v2(s->db, q.data, -1, &st, NULL) != SQLITE_OK) rc = HL_ESTORE;
  if (rc == 0) {
    bind_text(st, 1, event_id); bind_text(st, 2, subscription_id);
    sqlite3_bind_int64(st, 3, gen);
    sqlite3_bind_int64(st, 4, marked_at);
    rc = exec_stmt(s, st);
  }
  sqlite3_finalize(st);
  hl_buf_dispose(&q);
  finish(s, cb, data, rc, &res);
}

static void delivery_replay_open(hl_store *base, const char *event_id, const char *subscription_id, int64_t gen,
                                 int64_t updated_at, hl_store_cb cb, void *data) {
  sq_store *s = SQ(base);
  hl_store_result res = {0};
  int rc = txn_begin(s);
  /* The turn's batched outcomes first: one of this very record may be
   * among them, and the condition must see it. */
  flush_deliveries(s);
  hl_buf q = HL_BUF_INIT;
  sqlite3_stmt *st = NULL;
  hl_buf_printf(&q, "UPDATE %s SET status='PENDING',next_attempt_at=?3,updated_at=?3,claimed=0 "
                    "WHERE event_id=?1 AND subscription_id=?2 AND status IN ('SUCCESS','FAILED') AND replays=?4 "
                    "AND updated_at=?5", s->t.delivery_table);
  if (rc == 0 && sqlite3_prepare_v2(s->db, q.data, -1, &st, NULL) != SQLITE_OK) rc = HL_ESTORE;
  if (rc == 0) {
    bind_text(st, 1, event_id); bind_text(st, 2, subscription_id);
    sqlite3_bind_int64(st, 3, hl_wall_ms());
    sqlite3_bind_int64(st, 4, gen);
    sqlite3_bind_int64(st, 5, updated_at);
    rc = exec_stmt(s, st);
    if (rc == 0 && sqlite3_changes(s->db) == 0) rc = HL_EINVAL;
  }
  sqlite3_finalize(st);
  hl_buf_dispose(&q);
  if (rc == 0) s->backlog_delta++;
  finish(s, cb, data, rc, &res);
}

/* --- WAL checkpoints (hl_sqlite_ckpt.h) -------------------------------------- */

static void sq_render_metrics(hl_store *base, hl_buf *out) {
  hl_sqlite_ckpt_render_metrics(&SQ(base)->ckpt, out);
  hl_sqlite_sync_render_metrics(&SQ(base)->sync, out);
  hl_sqlite_walbuf_render_metrics(out);
}

const hl_sqlite_sync_stats *hl_store_sqlite_sync_stats(hl_store *base) { return &SQ(base)->sync.stats; }

const hl_sqlite_ckpt_stats *hl_store_sqlite_ckpt_stats(hl_store *base) { return &SQ(base)->ckpt.stats; }

void hl_store_sqlite_ckpt_pages(hl_store *base, int pages) { hl_sqlite_ckpt_set_pages(&SQ(base)->ckpt, pages); }
