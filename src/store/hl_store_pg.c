#include "store/hl_store_pg.h"
#include "store/hl_pg_schema.h"
#include "common/hl_buf.h"
#include "common/hl_common.h"
#include "common/hl_log.h"
#include "common/hl_sm.h"
#include "common/hl_strmap.h"
#include "loop/hl_pg.h"
#include "store/hl_store_rec.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The server's clock in ms: leases compare against one clock, whichever
 * host the processes run on. */
#define SRV_NOW "(extract(epoch from clock_timestamp())*1000)::bigint"
#define TERMINAL "('SUCCESS','FAILED')"

typedef enum {
  Q_SCHEMA_PUT, Q_SCHEMA_LIST, Q_SUB_PUT, Q_SUB_UPDATE, Q_SUB_LIST, Q_SUB_DELETE, Q_KAFKA_PUT,
  Q_PARTNER_PUT, Q_PARTNER_LIST, Q_PARTNER_DELETE,
  Q_DELIVERY_PUT, Q_DELIVERY_LIST, Q_LEDGER_INSERT, Q_LEDGER_UPSERT, Q_LEDGER_GET, Q_DELIVERED_GET,
  Q_ACCEPT, Q_CLAIM_SUB, Q_NEXT_DUE_SUB, Q_EQ_UPDATE,
  Q_REQUEUE_GET, Q_REQUEUE_SET, Q_NOTIFY, Q_HEALTH, Q_PARK_PUT, Q_PARK_TAKE, Q_PARK_DELETE,
  Q_HEARTBEAT, Q_SWEEP, Q_RELEASE_MINE, Q_BACKLOG, Q_XFORM_PUT, Q_XFORM_LIST,
  Q_ATTEMPT_PUT, Q_ATTEMPT_LIST, Q_PURGE, Q_CLOSE_DELETED, Q_DELIVERY_SEARCH, Q_CLAIM_HEAD,
  Q_REPLAY_GET, Q_REPLAY_SET, Q_REPLAY_ROW_SET, Q_DELIVERY_PUT_N, Q_ATTEMPT_PUT_N, Q_DELIVERED_GET_N, Q_EQ_UPDATE_N, Q_REPLAY_OPEN, Q_REPLAY_UNDO, Q__COUNT
} query_id;

#define MAXQ 3
#define MAXP (HL_REC_MAX_FIELDS + 1) /* the most parameters of a statement: a record's put (one per field, and the revision expected) */

typedef struct pg_store pg_store;
typedef struct pgop pgop;

/* What a loop turn merges into one statement of each kind (merge_flush),
 * sent in this order: the writes, then the reads, which so see every
 * write of the turn. */
typedef enum { M_DELIVERY, M_ATTEMPT, M_EQ_UPDATE, M_DELIVERED, M__COUNT } merge_kind;

/* One statement of an operation. */
typedef struct {
  hl_pg_query q;
  pgop *op;
  const char *vals[MAXP];
  int lens[MAXP];
  int fmts[MAXP];
  PGresult *res;
  hl_pg_status st;
} pq;

/* An operation: its statements (one unit: the same batch, in order), the
 * copies of their parameters, and what to do with the answer. */
struct pgop {
  pg_store *s;
  pq q[MAXQ];
  int nq, nanswered;
  char *own[MAXQ * MAXP];
  int nown;
  bool retry_lost;       /* idempotent: sent again after UNAVAILABLE/LOST */
  unsigned attempts;
  uint64_t due;          /* retry: when (uv_now) */
  /* Interprets the committed results (status 0) or reports status; calls cb. */
  void (*done)(pgop *op, int status);
  hl_store_cb cb;
  void *data;
  int64_t aux;           /* per operation: rows accepted, a terminal update... */
  size_t limit;          /* eq_claim: how many were asked for */
  void (*row)(const PGresult *r, int k, hl_store_result *res); /* lists: reads one row */
  const hl_rec_desc *desc; /* rec_list: the kind of record listed */
  pgop *members;         /* a merged statement: the operations whose rows it carries (merge_flush) */
  merge_kind kind;       /* ... and their kind */
  hl_store_result *claimed; /* eq_claim's rows, while it asks when the rest falls due */
  bool lets_go;          /* eq_update: released or final, so no longer held here (s->mine) */
  char err[512];
  pgop *next;
};

typedef struct ready_waiter {
  void (*cb)(void *data, int status, const char *msg);
  void *data;
  struct ready_waiter *next;
} ready_waiter;

typedef enum { MIG_NONE, MIG_RUNNING, MIG_DONE } mig_state;

struct pg_store {
  hl_store base;
  uv_loop_t *loop;
  hl_pg_pool pool;
  hl_table_names t;
  char tnames[9][72];          /* one per name of hl_table_names */
  char channel[80];
  char owner[96];
  uint32_t lease_ms;
  int stmt[Q__COUNT];
  mig_state mig;
  int schema_version;
  int64_t orphan_at;             /* retention's walk over old events: where the last window ended, */
  char *orphan_id;               /* its last event (accepted_at, event_id; 0 and NULL: the start) */
  int64_t orphan_att_at, orphan_att_slot; /* ... and over old attempt rows: the last one examined */
  char *orphan_att_event, *orphan_att_sub; /* (at_ms, event_id, subscription_id, slot; NULL: the start) */
  char *open_sub_cursor;         /* ... and over subscriptions with open deliveries (NULL: the start) */
  pgop *wait_head, **wait_tail;  /* submitted before the migrations were done */
  pgop *retry;                   /* waiting to be sent again */
  pgop *later;                   /* answered without a round trip: called back next turn */
  pgop *merge_head[M__COUNT], **merge_tail[M__COUNT]; /* this turn's rows to merge, in order, a list a kind */
  pgop *held_head, **held_tail;  /* sent after the merged writes (op_send) */
  bool merging;                  /* this turn has statements to merge */
  uint64_t merged_stmts, merged_rows, merge_fallbacks; /* the metrics of merge_send and done_merged */
  ready_waiter *waiters;
  uv_timer_t retry_timer, later_timer, tick_timer;
  uint64_t last_heartbeat;
  /* The rows this process holds (event_id "\x1f" subscription_id): claimed,
   * and not yet released or final. The heartbeat renews these leases only:
   * a row marked ours by a claim whose answer was lost (the connection
   * dropped after the COMMIT) is held by nobody here, and renewed for ever
   * it never went back to the queue. Unrenewed, its lease ends and the
   * sweep gives it back. */
  hl_strmap mine;
  int64_t backlog_base, backlog_delta, backlog_delta_sent;
  bool counting, heartbeat_out;
  int inflight_ops;
  void (*on_work)(void *data, const char *subscription_id);
  void *work_data;
  bool closing;
  int closing_handles;
  void (*close_cb)(void *data);
  void *close_data;
};

#define PG(b) hl_container_of(b, pg_store, base)

/* --- results (binary format) -------------------------------------------------- */

static int64_t gi64(const PGresult *r, int row, int col) {
  if (row >= PQntuples(r) || PQgetisnull(r, row, col)) return 0;
  const unsigned char *p = (const unsigned char *)PQgetvalue(r, row, col);
  int n = PQgetlength(r, row, col);
  uint64_t v = 0;
  for (int i = 0; i < n && i < 8; i++) v = v << 8 | p[i];
  if (n == 4) return (int32_t)(uint32_t)v;
  return (int64_t)v;
}

static char *gstr(const PGresult *r, int row, int col) {
  if (PQgetisnull(r, row, col)) return NULL;
  return hl_strndup(PQgetvalue(r, row, col), (size_t)PQgetlength(r, row, col));
}

static bool gnull(const PGresult *r, int row, int col) { return PQgetisnull(r, row, col) != 0; }

/* --- building operations ---------------------------------------------------- */

static void on_pq_done(hl_pg_query *q, hl_pg_status st, PGresult *res, const char *msg);

static pgop *op_new(pg_store *s, void (*done)(pgop *, int), hl_store_cb cb, void *data) {
  pgop *op = hl_calloc(1, sizeof *op);
  op->s = s;
  op->done = done;
  op->cb = cb;
  op->data = data;
  return op;
}

/* Adds a statement; returns its index. */
static int op_stmt(pgop *op, query_id id) {
  int i = op->nq++;
  pq *p = &op->q[i];
  p->op = op;
  p->q.stmt = op->s->stmt[id];
  p->q.values = p->vals;
  p->q.lengths = p->lens;
  p->q.formats = p->fmts;
  p->q.result_format = 1;
  p->q.done = on_pq_done;
  return i;
}

static void op_bin(pgop *op, int i, const void *v, size_t len) {
  pq *p = &op->q[i];
  int k = p->q.nparams++;
  if (v == NULL) {
    p->vals[k] = NULL;
    return;
  }
  char *c = hl_malloc(len + 1);
  if (len) memcpy(c, v, len);
  c[len] = '\0';
  op->own[op->nown++] = c;
  p->vals[k] = c;
  p->lens[k] = (int)len;
  p->fmts[k] = 1;
}

static void op_str(pgop *op, int i, const char *v) {
  pq *p = &op->q[i];
  int k = p->q.nparams;
  op_bin(op, i, v, v ? strlen(v) : 0);
  p->fmts[k] = 0; /* text: the server parses it into the column's type */
}

static void op_i64(pgop *op, int i, int64_t v) {
  char b[24];
  snprintf(b, sizeof b, "%lld", (long long)v);
  op_str(op, i, b);
}

static void op_free(pgop *op) {
  for (int i = 0; i < op->nq; i++)
    if (op->q[i].res) PQclear(op->q[i].res);
  for (int i = 0; i < op->nown; i++) hl_free(op->own[i]);
  hl_free(op);
}

static void op_clear_results(pgop *op) {
  for (int i = 0; i < op->nq; i++) {
    if (op->q[i].res) PQclear(op->q[i].res);
    op->q[i].res = NULL;
  }
  op->nanswered = 0;
}

static void start_migrations(pg_store *s);
static void mig_transition(pg_store *s, mig_state to);
static void op_send(pgop *op);

static void on_later(uv_timer_t *t) {
  pg_store *s = t->data;
  pgop *list = s->later;
  s->later = NULL;
  /* In the order they came. */
  pgop *rev = NULL;
  while (list) { pgop *n = list->next; list->next = rev; rev = list; list = n; }
  while (rev) {
    pgop *op = rev;
    rev = rev->next;
    op->done(op, (int)op->aux);
    s->inflight_ops--;
    op_free(op);
  }
}

/* Answers op with status on the next turn (never inside the caller's call). */
static void op_finish_later(pgop *op, int status) {
  pg_store *s = op->s;
  op->aux = status;
  op->next = s->later;
  s->later = op;
  uv_timer_start(&s->later_timer, on_later, 0, 0);
}

static void on_retry_due(uv_timer_t *t);

static void arm_retry(pg_store *s) {
  uint64_t now = uv_now(s->loop), first = UINT64_MAX;
  for (pgop *op = s->retry; op; op = op->next) first = HL_MIN(first, op->due);
  if (first == UINT64_MAX) {
    uv_timer_stop(&s->retry_timer);
    return;
  }
  uv_timer_start(&s->retry_timer, on_retry_due, first > now ? first - now : 0, 0);
}

static void on_retry_due(uv_timer_t *t) {
  pg_store *s = t->data;
  uint64_t now = uv_now(s->loop);
  pgop **pp = &s->retry, *due = NULL, **dt = &due;
  while (*pp) {
    pgop *op = *pp;
    if (op->due <= now) { *pp = op->next; op->next = NULL; *dt = op; dt = &op->next; }
    else pp = &op->next;
  }
  while (due) {
    pgop *op = due;
    due = due->next;
    op->next = NULL;
    op_send(op);
  }
  arm_retry(s);
}

static void op_retry_later(pgop *op) {
  pg_store *s = op->s;
  uint32_t step = 100u << HL_MIN(op->attempts, 5u); /* 100 ms doubling to 3.2 s */
  op->attempts++;
  op->due = uv_now(s->loop) + step;
  op->next = s->retry;
  s->retry = op;
  arm_retry(s);
}

static void op_send(pgop *op) {
  pg_store *s = op->s;
  if (s->closing && op->done != NULL && op->retry_lost && op->attempts > 0) {
    op_finish_later(op, HL_ECLOSED);
    return;
  }
  if (s->merging) {
    /* After this turn's merged writes, which take the place of the first
     * of them: whatever is sent after a write sees it. */
    op->next = NULL;
    *s->held_tail = op;
    s->held_tail = &op->next;
    return;
  }
  if (s->mig != MIG_DONE) {
    op->next = NULL;
    *s->wait_tail = op;
    s->wait_tail = &op->next;
    if (s->mig == MIG_NONE) start_migrations(s);
    return;
  }
  op_clear_results(op);
  hl_pg_query *qs[MAXQ];
  for (int i = 0; i < op->nq; i++) qs[i] = &op->q[i].q;
  int rc = hl_pg_send_n(&s->pool, qs, op->nq);
  if (rc == 0) return;
  snprintf(op->err, sizeof op->err, "the PostgreSQL client refused the statement: %s", hl_strerror(rc));
  if (op->retry_lost && !s->closing) op_retry_later(op);
  else op_finish_later(op, HL_ESTORE);
}

/* Submits a new operation. */
static void op_submit(pgop *op) {
  op->s->inflight_ops++;
  op_send(op);
}

static int sqlstate_status(const PGresult *res) {
  const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
  if (st && strcmp(st, "23505") == 0) return HL_EEXISTS;
  return HL_ESTORE;
}

static void op_settle(pgop *op) {
  pg_store *s = op->s;
  int error = -1, aborted = 0, lost = 0, sent_lost = 0;
  for (int i = 0; i < op->nq; i++) {
    switch (op->q[i].st) {
      case HL_PG_OK: break;
      case HL_PG_ERROR: if (error < 0) error = i; break;
      case HL_PG_ABORTED: aborted++; break;
      case HL_PG_LOST: lost++; sent_lost++; break;
      default: lost++; break;
    }
  }
  int status = 0;
  if (error >= 0) {
    status = sqlstate_status(op->q[error].res);
    if (status == HL_ESTORE && !op->members) /* a merged write's rows are sent again, one by one */
      hl_log_error("postgres statement failed", "\"error\":\"%s\"", hl_log_esc(op->err, (size_t)-1));
  } else if (aborted && !lost && !s->closing) {
    /* Another operation of the batch failed: ours did not persist. */
    op_send(op);
    return;
  } else if (lost || aborted) {
    if (op->retry_lost && !s->closing) {
      op_retry_later(op);
      return;
    }
    hl_log_error("postgres unavailable", "\"error\":\"%s\"", hl_log_esc(op->err, (size_t)-1));
    /* Sent and not answered, and not to be sent again: it may have
     * committed, and whoever asked must not be told it did not. */
    status = sent_lost ? HL_EUNKNOWN : HL_ESTORE;
  }
  op->done(op, status);
  s->inflight_ops--;
  op_free(op);
}

static void on_pq_done(hl_pg_query *q, hl_pg_status st, PGresult *res, const char *msg) {
  pq *p = hl_container_of(q, pq, q);
  pgop *op = p->op;
  p->st = st;
  p->res = res;
  if (st != HL_PG_OK && st != HL_PG_ABORTED && msg && *msg) snprintf(op->err, sizeof op->err, "%s", msg);
  if (++op->nanswered == op->nq) op_settle(op);
}

/* Hands res to the caller, then frees what the caller left in it. */
static void answer(pgop *op, int status, hl_store_result *res) {
  if (op->cb) op->cb(op->data, status, res);
  hl_store_result_dispose(res);
}

/* The plain outcome, no rows. */
static void done_plain(pgop *op, int status) {
  hl_store_result res = {0};
  answer(op, status, &res);
}

/* Reads row k of r into res (row 0 allocates room for all of them). */
typedef void (*row_fn)(const PGresult *r, int k, hl_store_result *res);

/* The first statement's rows, when it committed. */
static void collect(pgop *op, int status, row_fn row, hl_store_result *res) {
  if (status != 0) return;
  for (int k = 0; k < PQntuples(op->q[0].res); k++) row(op->q[0].res, k, res);
}

/* The answer of an operation that lists rows (op->row reads each). */
static void done_rows(pgop *op, int status) {
  hl_store_result res = {0};
  collect(op, status, op->row, &res);
  answer(op, status, &res);
}

/* An operation that lists what one statement returns. */
static void list_op(pg_store *s, query_id id, row_fn row, hl_store_cb cb, void *data, const char *p1) {
  pgop *op = op_new(s, done_rows, cb, data);
  op->row = row;
  int i = op_stmt(op, id);
  if (p1) op_str(op, i, p1);
  op_submit(op);
}

#define ROOM(r, k, arr) \
  do { if ((k) == 0) (arr) = hl_calloc((size_t)PQntuples(r) + 1, sizeof *(arr)); } while (0)

/* A write that must change a row: none is HL_ENOTFOUND. */
static void done_changed(pgop *op, int status) {
  if (status == 0 && PQntuples(op->q[0].res) == 0) status = HL_ENOTFOUND;
  done_plain(op, status);
}

/* --- a turn's statements, merged ------------------------------------------ */

/* The dispatch paths check, write a delivery's status (or its queue row's
 * outcome) and its attempt once each per send, and PostgreSQL's cost is
 * mostly per statement (bind, executor start and end, the protocol's
 * messages), not per row. So each kind of one loop turn goes as one
 * statement over unnest(...), each parameter the array of that parameter
 * of the rows (merged_sql), sent from the pool's before_sync hook: in the
 * turn's batch, and so in its commit, as the single statements were. Each row keeps its operation (and
 * its callback), answered when the merged statement commits.
 *   - The merged statement takes the place of its first row: statements
 *     sent after that row in the turn are held (op_send) and follow it, so
 *     a read sees every write sent before it. Later rows move ahead of the
 *     statements sent between; those were sent in the same turn, without
 *     waiting for the write's answer, and so were never ordered after it.
 *   - ON CONFLICT DO UPDATE may not change a row twice in one statement:
 *     rows of a key already taken wait for the next statement, in order.
 *   - A merged statement that fails is sent again as its single rows, so
 *     only the row at fault gets the error; the others commit.
 *   - Aborted (another statement of the batch failed) or lost, it is sent
 *     again whole, as any idempotent write is. */
#define MERGE_MAX 512 /* rows a merged statement carries at most */

/* How a merged statement's result answers its rows' operations. */
typedef enum {
  A_NONE,    /* a write: committed is the answer */
  A_ORDINAL, /* one result row per operation, in order, its first column k + 1 (WITH ORDINALITY) */
  A_KEY,     /* a result row, its first columns the key, for each operation that changed a row */
} merge_answer;

typedef struct {
  query_id merged;
  int nkey;            /* the leading parameters that make the key: no two rows of a statement share it */
  merge_answer by;
  /* Answers m from row `row` of r, or -1: A_KEY's operation without one. */
  void (*answer_row)(pgop *m, const PGresult *r, int row);
} merge_desc;

static void answer_delivered(pgop *m, const PGresult *r, int row);
static void answer_eq_update(pgop *m, const PGresult *r, int row);

static const merge_desc merges[M__COUNT] = {
  [M_DELIVERY] = {Q_DELIVERY_PUT_N, 2, A_NONE, NULL},               /* event, subscription */
  [M_ATTEMPT] = {Q_ATTEMPT_PUT_N, 3, A_NONE, NULL},                 /* event, subscription, slot */
  [M_EQ_UPDATE] = {Q_EQ_UPDATE_N, 2, A_KEY, answer_eq_update},      /* a queue row's outcome */
  [M_DELIVERED] = {Q_DELIVERED_GET_N, 0, A_ORDINAL, answer_delivered}, /* the duplicate check */
};

/* Queues op (one statement, all its parameters text) for this turn's
 * merged statement of kind k. */
static void op_merge(pgop *op, merge_kind k) {
  pg_store *s = op->s;
  if (s->mig != MIG_DONE || s->closing) {
    op_submit(op);
    return;
  }
  s->inflight_ops++;
  op->next = NULL;
  *s->merge_tail[k] = op;
  s->merge_tail[k] = &op->next;
  if (!s->merging) hl_pg_pool_want_sync(&s->pool);
  s->merging = true;
}

static uint64_t key_hash(const char *const *vals, int nkey) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (int c = 0; c < nkey; c++) {
    const char *v = vals[c];
    for (const unsigned char *p = (const unsigned char *)(v ? v : ""); *p; p++) h = (h ^ *p) * 1099511628211ull;
    h = (h ^ 0xff) * 1099511628211ull; /* "a","bc" is not "ab","c" */
  }
  return h;
}

static bool key_eq(const char *const *a, const char *const *b, int nkey) {
  for (int c = 0; c < nkey; c++) {
    const char *x = a[c], *y = b[c];
    if ((x == NULL) != (y == NULL) || (x && strcmp(x, y) != 0)) return false;
  }
  return true;
}

/* The open-addressed tables of a statement's keys (a power of two). The
 * hash is not keyed, as hl_strmap's: event ids that collide on purpose
 * cost at most MERGE_MAX^2 comparisons a statement. */
enum { SLOTS = 2 * MERGE_MAX };

/* Where key vals is in table (a slot of the same key, or the free one it
 * would take). */
static size_t key_slot(pgop *const *table, const char *const *vals, int nkey) {
  size_t i = (size_t)key_hash(vals, nkey) & (SLOTS - 1);
  while (table[i] && !key_eq(table[i]->q[0].vals, vals, nkey)) i = (i + 1) & (SLOTS - 1);
  return i;
}

/* A_KEY: the result row of each operation (rows[k] for the k-th), or -1. */
static void rows_by_key(const merge_desc *md, pgop *m, const PGresult *r, int *rows) {
  pgop *table[SLOTS] = {0};
  int index[SLOTS];
  int k = 0;
  for (pgop *x = m; x; x = x->next, k++) {
    size_t i = key_slot(table, x->q[0].vals, md->nkey);
    table[i] = x;
    index[i] = k;
    rows[k] = -1;
  }
  for (int row = 0; row < PQntuples(r); row++) {
    const char *vals[MAXP];
    for (int c = 0; c < md->nkey; c++) vals[c] = PQgetisnull(r, row, c) ? NULL : PQgetvalue(r, row, c);
    size_t i = key_slot(table, vals, md->nkey);
    if (table[i]) rows[index[i]] = row;
  }
}

static void done_merged(pgop *carrier, int status) {
  pg_store *s = carrier->s;
  const merge_desc *md = &merges[carrier->kind];
  const PGresult *r = carrier->q[0].res;
  pgop *m = carrier->members;
  carrier->members = NULL;
  int rows[MERGE_MAX];
  if (status == 0 && md->by == A_KEY) rows_by_key(md, m, r, rows);
  if (status == 0 && md->by == A_ORDINAL) { /* every row, in order: else each is asked alone */
    int nrows = PQntuples(r), k = 0;
    for (pgop *x = m; x; x = x->next, k++)
      if (k >= nrows || gi64(r, k, 0) != k + 1) status = HL_ESTORE;
    if (k != nrows) status = HL_ESTORE;
    if (status) snprintf(carrier->err, sizeof carrier->err, "a merged read returned %d rows for %d", nrows, k);
  }
  if (status != 0) s->merge_fallbacks++;
  if (status != 0 && !s->closing)
    hl_log_warn("postgres merged statement failed, sending its rows one by one", "\"error\":\"%s\"",
                hl_log_esc(carrier->err, (size_t)-1));
  for (int k = 0; m; k++) {
    pgop *n = m->next;
    m->next = NULL;
    if (status == 0) {
      if (md->by == A_NONE) m->done(m, 0);
      else md->answer_row(m, r, md->by == A_KEY ? rows[k] : k);
      s->inflight_ops--;
      op_free(m);
    } else {
      op_send(m); /* alone: it commits, or gets its own error */
    }
    m = n;
  }
}

/* Sends one merged statement of kind k with the first rows of list (up to
 * MERGE_MAX, no key twice); returns the rows left for the next one, in
 * their order. */
static pgop *merge_send(pg_store *s, merge_kind k, pgop *list) {
  const merge_desc *md = &merges[k];
  pgop *taken[SLOTS] = {0};
  pgop *rows = NULL, **rt = &rows, *left = NULL, **lt = &left;
  int n = 0;
  while (list && n < MERGE_MAX) {
    pgop *op = list;
    list = list->next;
    op->next = NULL;
    if (md->nkey) {
      size_t i = key_slot(taken, op->q[0].vals, md->nkey);
      if (taken[i]) { /* its key is in this statement already */
        *lt = op;
        lt = &op->next;
        continue;
      }
      taken[i] = op;
    }
    *rt = op;
    rt = &op->next;
    n++;
  }
  *lt = list;
  if (n == 1) { /* nothing to merge with */
    op_send(rows);
    return left;
  }
  pgop *carrier = op_new(s, done_merged, NULL, NULL);
  carrier->members = rows;
  carrier->kind = k;
  carrier->retry_lost = true; /* only idempotent writes, and reads, are merged */
  int qi = op_stmt(carrier, md->merged);
  int ncols = rows->q[0].q.nparams;
  hl_buf b = HL_BUF_INIT;
  for (int c = 0; c < ncols; c++) {
    hl_pg_array_start(&b, 25 /* text */, n);
    for (pgop *op = rows; op; op = op->next) {
      const char *v = op->q[0].vals[c];
      hl_pg_array_add(&b, v, v ? (size_t)op->q[0].lens[c] : 0);
    }
    pq *p = &carrier->q[qi];
    int pi = p->q.nparams++;
    size_t len;
    char *arr = hl_buf_steal(&b, &len);
    carrier->own[carrier->nown++] = arr;
    p->vals[pi] = arr;
    p->lens[pi] = (int)len;
    p->fmts[pi] = 1;
  }
  s->merged_stmts++;
  s->merged_rows += (uint64_t)n;
  op_submit(carrier);
  return left;
}

/* The pool's before_sync: this turn's merged statements, one a kind, then
 * what was held behind them. */
static void merge_flush(void *data) {
  pg_store *s = data;
  if (!s->merging) return;
  s->merging = false; /* op_send sends again */
  for (int k = 0; k < M__COUNT; k++) {
    pgop *list = s->merge_head[k];
    s->merge_head[k] = NULL;
    s->merge_tail[k] = &s->merge_head[k];
    while (list) list = merge_send(s, (merge_kind)k, list);
  }
  pgop *h = s->held_head;
  s->held_head = NULL;
  s->held_tail = &s->held_head;
  while (h) {
    pgop *n = h->next;
    h->next = NULL;
    op_send(h);
    h = n;
  }
}

/* --- statements ---------------------------------------------------------- */

/* The highest $n of a statement: what hl_pg_prepare is told. */
static int count_params(const char *sql) {
  int max = 0;
  for (const char *p = sql; *p; p++)
    if (*p == '$' && p[1] >= '1' && p[1] <= '9') {
      int n = 0;
      while (p[1] >= '0' && p[1] <= '9') n = n * 10 + (*++p - '0');
      if (n > max) max = n;
    }
  return max;
}

static int prepare(pg_store *s, const char *sql) { return hl_pg_prepare(&s->pool, sql, count_params(sql), NULL); }

/* The put, list and (unless del is Q__COUNT) delete statements of a record
 * kind, derived from its descriptor (store/hl_store_rec.h); a delete
 * returns a row for each it removed. */
static void rec_sql(pg_store *s, query_id put, query_id list, query_id del, const hl_rec_desc *d,
                    const char *table) {
  hl_buf b = HL_BUF_INIT;
  hl_rec_sql_put(&b, d, table, '$');
  /* A put with a revision condition names the row it wrote: none is a
   * condition that failed (done_rev). */
  if (hl_rec_flagged(d, HL_RF_REVISION)) hl_buf_puts(&b, " RETURNING 1");
  s->stmt[put] = prepare(s, b.data);
  hl_buf_reset(&b);
  hl_rec_sql_list(&b, d, table);
  s->stmt[list] = prepare(s, b.data);
  if (del != Q__COUNT) {
    hl_buf_reset(&b);
    hl_rec_sql_delete(&b, d, table, '$');
    hl_buf_puts(&b, " RETURNING 1");
    s->stmt[del] = prepare(s, b.data);
  }
  hl_buf_dispose(&b);
}

/* Prepares `head` SELECT <select> FROM unnest($1::text[],...) AS u(u1,...)
 * `tail`: the rows of a single-row statement, sent as one text array per
 * column (head and tail are formats with the table for each %s). types has
 * one letter per column, the type it is cast to: t text, b bigint,
 * i integer, s smallint. select NULL selects the columns so cast. */
static void merged_sql(pg_store *s, query_id id, const char *head, const char *types, const char *select,
                       const char *tail, const char *table) {
  hl_buf b = HL_BUF_INIT;
  hl_buf_printf(&b, head, table, table);
  int n = (int)strlen(types);
  hl_buf_puts(&b, "SELECT ");
  for (int k = 0; k < n && !select; k++) {
    const char *cast = types[k] == 'b' ? "::bigint" : types[k] == 'i' ? "::integer" : types[k] == 's' ? "::smallint" : "";
    hl_buf_printf(&b, "%su%d%s", k ? "," : "", k + 1, cast);
  }
  if (select) hl_buf_puts(&b, select);
  hl_buf_puts(&b, " FROM unnest(");
  for (int k = 0; k < n; k++) hl_buf_printf(&b, "%s$%d::text[]", k ? "," : "", k + 1);
  hl_buf_puts(&b, ") AS u(");
  for (int k = 0; k < n; k++) hl_buf_printf(&b, "%su%d", k ? "," : "", k + 1);
  hl_buf_puts(&b, ") ");
  hl_buf_printf(&b, tail, table, table);
  s->stmt[id] = hl_pg_prepare(&s->pool, b.data, n, NULL);
  hl_buf_dispose(&b);
}

static void prepare_all(pg_store *s) {
  const hl_table_names *t = &s->t;
  char b[4096];
#define SET(id, ...) \
  (snprintf(b, sizeof b, __VA_ARGS__), s->stmt[id] = hl_pg_prepare(&s->pool, b, count_params(b), NULL))
  SET(Q_KAFKA_PUT, "INSERT INTO %s(event_type,ingress_topic,egress_topics) VALUES($1,$2,$3) "
      "ON CONFLICT(event_type) DO UPDATE SET ingress_topic=excluded.ingress_topic,"
      "egress_topics=excluded.egress_topics", t->kafka_table);
#define DCOLS "event_id,subscription_id,status,attempts,last_status_code,last_error,last_latency_ms,updated_at," \
  "next_attempt_at"
  /* delivered_gen: the highest generation recorded delivered, NULL while
   * none is (GREATEST skips NULLs: a write that delivered nothing, $11
   * NULL, leaves it as it was). */
#define DELIVERY_UPSERT \
  "ON CONFLICT(event_id,subscription_id) DO UPDATE SET status=excluded.status," \
  "attempts=excluded.attempts,last_status_code=excluded.last_status_code," \
  "last_error=excluded.last_error,last_latency_ms=excluded.last_latency_ms," \
  "updated_at=excluded.updated_at,next_attempt_at=excluded.next_attempt_at," \
  "transformation=excluded.transformation,delivered_gen=GREATEST(d.delivered_gen,excluded.delivered_gen)"
  SET(Q_DELIVERY_PUT, "INSERT INTO %s AS d(" DCOLS ",transformation,delivered_gen) "
      "VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11) " DELIVERY_UPSERT, t->delivery_table);
  /* A turn's puts as one statement (merge_flush): parameter n is the array
   * of parameter n of Q_DELIVERY_PUT's rows. */
  merged_sql(s, Q_DELIVERY_PUT_N, "INSERT INTO %s AS d(" DCOLS ",transformation,delivered_gen) ", "tttbbtbbbtb",
             NULL, DELIVERY_UPSERT, t->delivery_table);
  SET(Q_DELIVERY_LIST, "SELECT " DCOLS ",transformation FROM %s WHERE event_id=$1 ORDER BY subscription_id",
      t->delivery_table);
  /* Served by the index of migration 16 (updated_at>=$3 implies its
   * predicate). */
  SET(Q_DELIVERY_SEARCH, "SELECT " DCOLS ",transformation FROM %s WHERE subscription_id=$1 "
      "AND ($2::text IS NULL OR status=$2::text) AND updated_at>=$3 AND updated_at<=$4 "
      "AND (updated_at,event_id)<($5,$6::text) ORDER BY updated_at DESC,event_id DESC LIMIT $7",
      t->delivery_table);
#define ATTEMPT_UPSERT \
  "ON CONFLICT(event_id,subscription_id,slot) DO UPDATE SET attempt=excluded.attempt,at_ms=excluded.at_ms," \
  "status_code=excluded.status_code,latency_ms=excluded.latency_ms,error=excluded.error," \
  "headers=excluded.headers,body=excluded.body,truncated=excluded.truncated"
#define ACOLS "event_id,subscription_id,slot,attempt,at_ms,status_code,latency_ms,error,headers,body,truncated"
  SET(Q_ATTEMPT_PUT, "INSERT INTO %s(" ACOLS ") VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11) " ATTEMPT_UPSERT,
      t->attempt_table);
  merged_sql(s, Q_ATTEMPT_PUT_N, "INSERT INTO %s(" ACOLS ") ", "ttibbbbttts", NULL, ATTEMPT_UPSERT,
             t->attempt_table);
  SET(Q_ATTEMPT_LIST, "SELECT event_id,subscription_id,attempt,at_ms,status_code,latency_ms,error,headers,body,"
      "truncated FROM %s WHERE event_id=$1 AND subscription_id=$2 ORDER BY attempt", t->attempt_table);
  /* Retention (docs/retention.md), one statement a batch: $1 delivered and
   * $2 failed cut-offs (ms), $3 the batch, $4 now (s), $5 and $6 the
   * orphan cursor (accepted_at, event_id). Every part walks an index of
   * migration 11, the window w that of migration 17. The deleting parts
   * share one snapshot, so "no delivery left" discounts the rows d
   * deletes. The cursor is a strict order: a window that ends inside a
   * millisecond (the events of a bulk request share one) goes on from its
   * last event, not past the whole millisecond, whose other events a walk
   * that ends each first window there would never reach. $7..$10: the
   * cursor of the walk over old attempt rows (at_ms, event_id,
   * subscription_id, slot), a window aw of migration 19's index: those
   * whose delivery has no status row (the inbox queue keeps none) go, as
   * nothing else deletes them. A delivery deleted by d is still seen by
   * the snapshot, so its rows are a's, not these. */
  SET(Q_PURGE,
      "WITH picked AS ((SELECT event_id,subscription_id FROM %1$s WHERE status='SUCCESS' AND updated_at<$1 "
      "LIMIT $3) UNION ALL (SELECT event_id,subscription_id FROM %1$s WHERE status='FAILED' AND updated_at<$2 "
      "LIMIT $3)), "
      "d AS (DELETE FROM %1$s x USING picked p WHERE x.event_id=p.event_id AND x.subscription_id=p.subscription_id "
      "AND x.status IN ('SUCCESS','FAILED') RETURNING x.event_id,x.subscription_id), "
      "a AS (DELETE FROM %2$s y USING d WHERE y.event_id=d.event_id AND y.subscription_id=d.subscription_id "
      "RETURNING 1), "
      "e AS (DELETE FROM hookloop_event ev WHERE ev.event_id IN (SELECT event_id FROM d) AND NOT EXISTS "
      "(SELECT 1 FROM %1$s z WHERE z.event_id=ev.event_id AND NOT EXISTS (SELECT 1 FROM d WHERE "
      "d.event_id=z.event_id AND d.subscription_id=z.subscription_id)) RETURNING 1), "
      "w AS (SELECT event_id,accepted_at FROM hookloop_event WHERE accepted_at<$1 "
      "AND (accepted_at,event_id)>($5,$6::text) ORDER BY accepted_at,event_id LIMIT $3), "
      "c AS (SELECT accepted_at,event_id FROM w ORDER BY accepted_at DESC,event_id DESC LIMIT 1), "
      "o AS (DELETE FROM hookloop_event ev USING w WHERE ev.event_id=w.event_id AND NOT EXISTS "
      "(SELECT 1 FROM %1$s z WHERE z.event_id=w.event_id) AND w.event_id NOT IN (SELECT event_id FROM d) "
      "RETURNING 1), "
      "l AS (DELETE FROM %3$s WHERE idempotency_key IN (SELECT idempotency_key FROM %3$s WHERE expires_at>0 "
      "AND expires_at<$4 LIMIT $3) RETURNING 1), "
      "aw AS (SELECT at_ms,event_id,subscription_id,slot FROM %2$s WHERE at_ms<$1 AND "
      "(at_ms,event_id,subscription_id,slot)>($7,$8::text,$9::text,$10) "
      "ORDER BY at_ms,event_id,subscription_id,slot LIMIT $3), "
      "ac AS (SELECT * FROM aw ORDER BY at_ms DESC,event_id DESC,subscription_id DESC,slot DESC LIMIT 1), "
      "ao AS (DELETE FROM %2$s y USING aw WHERE y.event_id=aw.event_id AND y.subscription_id=aw.subscription_id "
      "AND y.slot=aw.slot AND y.at_ms<$1 AND NOT EXISTS (SELECT 1 FROM %1$s z WHERE z.event_id=aw.event_id AND "
      "z.subscription_id=aw.subscription_id) RETURNING 1) "
      "SELECT (SELECT count(*) FROM d),(SELECT count(*) FROM a)+(SELECT count(*) FROM ao),"
      "(SELECT count(*) FROM e)+(SELECT count(*) FROM o),"
      "(SELECT count(*) FROM l),(SELECT count(*) FROM w),(SELECT accepted_at FROM c),(SELECT event_id FROM c),"
      "(SELECT count(*) FROM aw),(SELECT at_ms FROM ac),(SELECT event_id FROM ac),(SELECT subscription_id FROM ac),"
      "(SELECT slot FROM ac)",
      t->delivery_table, t->attempt_table, t->ledger_table);
  /* Retention's other half: open deliveries of subscriptions no longer
   * stored. $1 the cursor (the last subscription looked at), $2 how many
   * subscriptions with open deliveries to look at (one index seek each,
   * not a walk of their rows), $3 the error, $4 now (ms), $5 the batch:
   * up to $5 rows no process holds are set FAILED. Answers how many, how
   * many subscriptions it looked at and the last of them. */
  SET(Q_CLOSE_DELETED,
      "WITH RECURSIVE w(sid,n) AS (SELECT (SELECT subscription_id FROM %1$s WHERE status IN " HL_PG_OPEN
      " AND subscription_id>$1 ORDER BY subscription_id LIMIT 1),1 UNION ALL SELECT (SELECT subscription_id "
      "FROM %1$s WHERE status IN " HL_PG_OPEN " AND subscription_id>w.sid ORDER BY subscription_id LIMIT 1),"
      "n+1 FROM w WHERE w.sid IS NOT NULL AND n<$2), "
      "g AS (SELECT sid FROM w WHERE sid IS NOT NULL AND NOT EXISTS (SELECT 1 FROM %2$s WHERE "
      "subscription_id=w.sid)), "
      "p AS (SELECT event_id,subscription_id FROM %1$s WHERE subscription_id IN (SELECT sid FROM g) AND status "
      "IN " HL_PG_OPEN " AND (owner IS NULL OR lease_until<$4) LIMIT $5 FOR UPDATE SKIP LOCKED), "
      "c AS (UPDATE %1$s x SET status='FAILED',last_error=$3,updated_at=$4,next_attempt_at=0,owner=NULL,"
      "lease_until=0 FROM p WHERE x.event_id=p.event_id AND x.subscription_id=p.subscription_id RETURNING 1) "
      "SELECT (SELECT count(*) FROM c),(SELECT count(*) FROM w WHERE sid IS NOT NULL),"
      "(SELECT max(sid) FROM w)", t->delivery_table, t->subscription_table);
  /* An entry that expired counts as absent: it is replaced. */
  SET(Q_LEDGER_INSERT, "INSERT INTO %s AS l(idempotency_key,status,expires_at) VALUES($1,$2,$3) "
      "ON CONFLICT(idempotency_key) DO UPDATE SET status=excluded.status,expires_at=excluded.expires_at "
      "WHERE l.expires_at<>0 AND l.expires_at<=$4 RETURNING 1", t->ledger_table);
  SET(Q_LEDGER_UPSERT, "INSERT INTO %s(idempotency_key,status,expires_at) VALUES($1,$2,$3) "
      "ON CONFLICT(idempotency_key) DO UPDATE SET status=excluded.status,expires_at=excluded.expires_at",
      t->ledger_table);
  /* The duplicate check: one row when the delivery has one, true when it
   * recorded generation $3 or a later one delivered, or when the ledger
   * has generation $3's entry ($4): written by a version that kept
   * deliveries there, which may still run beside this one while a
   * deployment rolls (its status writes leave delivered_gen alone). */
  SET(Q_DELIVERED_GET, "SELECT COALESCE(d.delivered_gen>=$3,false) OR EXISTS (SELECT 1 FROM %s l WHERE "
      "l.idempotency_key=$4 AND l.status='DELIVERED' AND (l.expires_at=0 OR l.expires_at>$5)) "
      "FROM %s d WHERE d.event_id=$1 AND d.subscription_id=$2", t->ledger_table, t->delivery_table);
  /* The same for a turn's checks: one row each, in order, with its
   * ordinal. Each is a subquery by the primary key, never a join, so no
   * plan made while the table was small can turn into a scan of it. */
  SET(Q_DELIVERED_GET_N, "SELECT u.o,(SELECT COALESCE(d.delivered_gen>=u.g::bigint,false) OR EXISTS (SELECT 1 "
      "FROM %s l WHERE l.idempotency_key=u.k AND l.status='DELIVERED' AND (l.expires_at=0 OR "
      "l.expires_at>u.n::bigint)) FROM %s d WHERE d.event_id=u.e AND d.subscription_id=u.s) "
      "FROM unnest($1::text[],$2::text[],$3::text[],$4::text[],$5::text[]) WITH ORDINALITY AS u(e,s,g,k,n,o) "
      "ORDER BY u.o", t->ledger_table, t->delivery_table);
  SET(Q_LEDGER_GET, "SELECT status FROM %s WHERE idempotency_key=$1 AND (expires_at=0 OR expires_at>$2)",
      t->ledger_table);
  /* The event and its deliveries in one statement: a duplicate id inserts
   * nothing (no error, so the other operations of the batch stand), and
   * each delivery wakes the instances listening. */
  SET(Q_ACCEPT,
      "WITH e AS (INSERT INTO hookloop_event(event_id,event_type,body,trace,accepted_at) "
      "VALUES($1,$2,$3,$4,$5) ON CONFLICT DO NOTHING RETURNING event_id), "
      "dd AS (INSERT INTO %s(" DCOLS ") SELECT e.event_id,x,'PENDING',0,0,NULL,0,$5,$5 "
      "FROM e CROSS JOIN unnest($6::text[]) x RETURNING subscription_id) "
      "SELECT (SELECT count(*) FROM e), (SELECT count(*) FROM (SELECT pg_notify($7, subscription_id) FROM dd) n)",
      t->delivery_table);
#define CLAIM_RET "u.event_id,u.subscription_id,u.status,u.attempts,u.last_status_code,u.last_error," \
  "u.last_latency_ms,u.updated_at,u.next_attempt_at,e.event_type,e.body,e.trace,e.accepted_at,u.replays"
  SET(Q_CLAIM_SUB,
      "WITH c AS (SELECT event_id,subscription_id FROM %s WHERE subscription_id=$1 AND owner IS NULL AND "
      "status IN " HL_PG_OPEN " AND next_attempt_at<=$2 ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED), "
      "u AS (UPDATE %s d SET owner=$4,lease_until=" SRV_NOW "+$5 FROM c "
      "WHERE d.event_id=c.event_id AND d.subscription_id=c.subscription_id RETURNING d.*) "
      "SELECT " CLAIM_RET " FROM u JOIN hookloop_event e ON e.event_id=u.event_id ORDER BY u.next_attempt_at",
      t->delivery_table, t->delivery_table);
  /* Ordered delivery (eq_claim_head): h is the subscription's oldest open
   * row in acceptance order (seq; the index "<delivery>_fifo"), whatever
   * its state; c locks that row alone, and only when it is unheld and due
   * (SKIP LOCKED: another process busy with it means nothing for us, and
   * never its follower); u holds it. The last two columns say whether the
   * head was unheld and when it falls due, for next_due_at. */
  SET(Q_CLAIM_HEAD,
      "WITH h AS (SELECT event_id,subscription_id,owner,next_attempt_at FROM %s WHERE subscription_id=$1 AND "
      "status IN " HL_PG_OPEN " ORDER BY seq LIMIT 1), "
      "c AS (SELECT d.event_id,d.subscription_id FROM %s d JOIN h ON d.event_id=h.event_id AND "
      "d.subscription_id=h.subscription_id WHERE d.owner IS NULL AND d.status IN " HL_PG_OPEN " AND "
      "d.next_attempt_at<=$2 FOR UPDATE OF d SKIP LOCKED), "
      "u AS (UPDATE %s d SET owner=$3,lease_until=" SRV_NOW "+$4 FROM c "
      "WHERE d.event_id=c.event_id AND d.subscription_id=c.subscription_id RETURNING d.*) "
      "SELECT " CLAIM_RET ",h.owner IS NULL,h.next_attempt_at FROM h LEFT JOIN u ON true "
      "LEFT JOIN hookloop_event e ON e.event_id=u.event_id",
      t->delivery_table, t->delivery_table, t->delivery_table);
  /* The conditions of the partial indexes: one probe. */
  SET(Q_NEXT_DUE_SUB, "SELECT min(next_attempt_at) FROM %s WHERE subscription_id=$1 AND owner IS NULL AND "
      "status IN " HL_PG_OPEN, t->delivery_table);
  /* Released or final: no longer held. Otherwise held by us again (a lease
   * that ran out while PostgreSQL was away is taken back). */
  SET(Q_EQ_UPDATE,
      "UPDATE %s SET status=$3,attempts=$4,last_status_code=$5,last_error=$6,last_latency_ms=$7,updated_at=$8,"
      "next_attempt_at=$9,transformation=$13,"
      "owner=CASE WHEN $10::boolean OR $3 IN " TERMINAL " THEN NULL ELSE $11 END,"
      "lease_until=CASE WHEN $10::boolean OR $3 IN " TERMINAL " THEN 0 ELSE " SRV_NOW "+$12 END "
      "WHERE event_id=$1 AND subscription_id=$2 RETURNING 1", t->delivery_table);
  /* The same for a turn's outcomes. An UPDATE joined to the arrays could be
   * planned, while the table is small, as a scan of the table, and kept: so
   * an upsert, which finds each row by the primary key whatever the plan,
   * of the rows that exist (a subquery by the key, not a join), RETURNING
   * the keys it changed. The columns it sets are Q_EQ_UPDATE's. */
  merged_sql(s, Q_EQ_UPDATE_N, "INSERT INTO %s AS d(" DCOLS ",transformation,owner,lease_until) ", "ttttttttttttt",
             "u1,u2,u3,u4::bigint,u5::bigint,u6,u7::bigint,u8::bigint,u9::bigint,u13,"
             "CASE WHEN u10::boolean OR u3 IN " TERMINAL " THEN NULL ELSE u11 END,"
             "CASE WHEN u10::boolean OR u3 IN " TERMINAL " THEN 0 ELSE " SRV_NOW "+u12::bigint END",
             "WHERE (SELECT true FROM %s x WHERE x.event_id=u.u1 AND x.subscription_id=u.u2) "
             "ON CONFLICT(event_id,subscription_id) DO UPDATE SET status=excluded.status,attempts=excluded.attempts,"
             "last_status_code=excluded.last_status_code,last_error=excluded.last_error,"
             "last_latency_ms=excluded.last_latency_ms,updated_at=excluded.updated_at,"
             "next_attempt_at=excluded.next_attempt_at,transformation=excluded.transformation,"
             "owner=excluded.owner,lease_until=excluded.lease_until RETURNING d.event_id,d.subscription_id",
             t->delivery_table);
  SET(Q_REQUEUE_GET, "SELECT status FROM %s WHERE event_id=$1 AND subscription_id=$2 FOR UPDATE",
      t->delivery_table);
  SET(Q_REQUEUE_SET, "UPDATE %s SET status='RETRYING',next_attempt_at=$3,updated_at=$3,owner=NULL,lease_until=0 "
      "WHERE event_id=$1 AND subscription_id=$2 AND status='FAILED' RETURNING 1", t->delivery_table);
  /* Replay: the row (locked) when its event's body is still there, then
   * reopened when terminal, one generation up. */
  SET(Q_REPLAY_GET, "SELECT d.status FROM %s d JOIN hookloop_event e ON e.event_id=d.event_id "
      "WHERE d.event_id=$1 AND d.subscription_id=$2 FOR UPDATE OF d", t->delivery_table);
  SET(Q_REPLAY_SET, "UPDATE %s SET status='PENDING',next_attempt_at=$3,updated_at=$3,owner=NULL,lease_until=0,"
      "replays=replays+1 WHERE event_id=$1 AND subscription_id=$2 AND status IN " TERMINAL " AND "
      "EXISTS (SELECT 1 FROM hookloop_event e WHERE e.event_id=$1) RETURNING replays", t->delivery_table);
  /* Replay where the bytes are the queue's (Kafka): the row alone, read
   * locked by Q_REQUEUE_GET, one generation up when terminal and otherwise
   * left as it is; Q_REPLAY_OPEN reopens it once the record is on the
   * topic, if nothing was written to it since ($5: updated_at as read). */
  /* $3: now, the mark of the replay under way; $4: now less the mark's
   * hold (hl_store.delivery_replay). */
  SET(Q_REPLAY_ROW_SET, "UPDATE %s SET replays=replays+1,replay_at=$3 WHERE event_id=$1 AND subscription_id=$2 "
      "AND status IN " TERMINAL " AND NOT (replay_at>$4 AND COALESCE(updated_at,0)<replay_at) RETURNING replays",
      t->delivery_table);
  SET(Q_REPLAY_UNDO, "UPDATE %s SET replay_at=0 WHERE event_id=$1 AND subscription_id=$2 AND replays=$3 "
      "AND replay_at=$4", t->delivery_table);
  SET(Q_REPLAY_OPEN, "UPDATE %s SET status='PENDING',next_attempt_at=$3,updated_at=$3,owner=NULL,lease_until=0 "
      "WHERE event_id=$1 AND subscription_id=$2 AND status IN " TERMINAL " AND replays=$4 AND updated_at=$5 "
      "RETURNING 1", t->delivery_table);
  SET(Q_NOTIFY, "SELECT pg_notify($1,$2)");
  SET(Q_HEALTH, "SELECT max(version) FROM hookloop_schema_version");
  SET(Q_PARK_PUT, "INSERT INTO %s(due_ms,event_id,subscription_id,attempts,event_type,trace,accepted_at,body,replay) "
      "VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9) ON CONFLICT DO NOTHING", t->parked_table);
  SET(Q_PARK_TAKE,
      "WITH c AS (SELECT due_ms,event_id,subscription_id FROM %s WHERE due_ms<=$1 AND lease_until<$2 "
      "ORDER BY due_ms LIMIT $3 FOR UPDATE SKIP LOCKED) "
      "UPDATE %s p SET lease_until=$4 FROM c WHERE p.due_ms=c.due_ms AND p.event_id=c.event_id AND "
      "p.subscription_id=c.subscription_id "
      "RETURNING p.due_ms,p.event_id,p.subscription_id,p.attempts,p.event_type,p.trace,p.accepted_at,p.body,p.replay",
      t->parked_table, t->parked_table);
  SET(Q_PARK_DELETE, "DELETE FROM %s WHERE due_ms=$1 AND event_id=$2 AND subscription_id=$3", t->parked_table);
  /* The rows held here (s->mine), found through the owner's index. */
  SET(Q_HEARTBEAT, "UPDATE %s SET lease_until=" SRV_NOW "+$2 WHERE owner=$1 AND "
      "event_id||chr(31)||subscription_id=ANY($3::text[])", t->delivery_table);
  /* Leases that ended: their process is gone (or cut off for longer than
   * a lease). The rows go back to the queue and every instance hears; the
   * subscriptions come back too, so that this process wakes itself even
   * when it does not hear its own NOTIFY (its listener down or reconnecting). */
  SET(Q_SWEEP,
      "WITH r AS (UPDATE %s SET owner=NULL,lease_until=0 WHERE owner IS NOT NULL AND lease_until<" SRV_NOW " "
      "RETURNING subscription_id) SELECT x,pg_notify($1,x) FROM (SELECT DISTINCT subscription_id AS x FROM r) y",
      t->delivery_table);
  SET(Q_RELEASE_MINE,
      "WITH r AS (UPDATE %s SET owner=NULL,lease_until=0 WHERE owner=$1 RETURNING subscription_id) "
      "SELECT pg_notify($2,x) FROM (SELECT DISTINCT subscription_id AS x FROM r) y", t->delivery_table);
  SET(Q_BACKLOG, "SELECT count(*) FROM %s WHERE status IN " HL_PG_OPEN, t->delivery_table);
#undef SET
  rec_sql(s, Q_SCHEMA_PUT, Q_SCHEMA_LIST, Q__COUNT, &hl_schema_desc, t->schema_table);
  rec_sql(s, Q_SUB_PUT, Q_SUB_LIST, Q_SUB_DELETE, &hl_sub_desc, t->subscription_table);
  {
    hl_buf b = HL_BUF_INIT;
    hl_rec_sql_update(&b, &hl_sub_desc, t->subscription_table, '$');
    hl_buf_puts(&b, " RETURNING 1"); /* none: the condition failed, or the row is gone (done_rev) */
    s->stmt[Q_SUB_UPDATE] = prepare(s, b.data);
    hl_buf_dispose(&b);
  }
  rec_sql(s, Q_PARTNER_PUT, Q_PARTNER_LIST, Q_PARTNER_DELETE, &hl_partner_desc, t->partner_table);
  rec_sql(s, Q_XFORM_PUT, Q_XFORM_LIST, Q__COUNT, &hl_xform_desc, t->transform_table);
}

/* --- migrations ------------------------------------------------------------------ */

/* The steps' text is hl_pg_schema's; here they are sent, with the lock
 * they take turns under and the two reads that follow. */
typedef struct mig_op mig_op;
typedef struct {
  hl_pg_query q;
  mig_op *m;
} mig_q;

/* The lock, the version table, each migration, then two reads. */
#define NMIG HL_STORE_PG_SCHEMA_VERSION
#define MIGQ (NMIG + 4)
#define MIGQ_VERSION (MIGQ - 2)
#define MIGQ_BACKLOG (MIGQ - 1)
struct mig_op {
  mig_q q[MIGQ];
  char *sql[MIGQ];
  pg_store *s;
  int answered;
  hl_pg_status st[MIGQ];
  PGresult *res[MIGQ];
  char err[512];
};

static void ready_all(pg_store *s, int status, const char *msg) {
  ready_waiter *w = s->waiters;
  s->waiters = NULL;
  while (w) {
    ready_waiter *n = w->next;
    w->cb(w->data, status, msg);
    hl_free(w);
    w = n;
  }
}

static void on_tick(uv_timer_t *t);
static char *text_array(const char *const *v, size_t n);

static void on_mig_done(hl_pg_query *q, hl_pg_status st, PGresult *res, const char *msg) {
  mig_q *mq = hl_container_of(q, mig_q, q);
  mig_op *mo = mq->m;
  int i = (int)(mq - mo->q);
  mo->st[i] = st;
  mo->res[i] = res;
  if (st != HL_PG_OK && msg && *msg && !mo->err[0]) snprintf(mo->err, sizeof mo->err, "%s", msg);
  if (++mo->answered < MIGQ) return;
  pg_store *s = mo->s;
  bool ok = true;
  for (int k = 0; k < MIGQ; k++) ok &= mo->st[k] == HL_PG_OK;
  if (ok) {
    s->schema_version = (int)gi64(mo->res[MIGQ_VERSION], 0, 0);
    s->backlog_base = gi64(mo->res[MIGQ_BACKLOG], 0, 0);
  }
  for (int k = 0; k < MIGQ; k++) {
    if (mo->res[k]) PQclear(mo->res[k]);
    hl_free(mo->sql[k]);
  }
  char err[512];
  snprintf(err, sizeof err, "%s", mo->err);
  hl_free(mo);
  pgop *list = s->wait_head;
  s->wait_head = NULL;
  s->wait_tail = &s->wait_head;
  if (!ok) {
    mig_transition(s, MIG_NONE);
    hl_log_error("postgres: the schema could not be created or migrated", "\"error\":\"%s\"",
                 hl_log_esc(err, (size_t)-1));
    while (list) {
      pgop *op = list;
      list = list->next;
      snprintf(op->err, sizeof op->err, "%s", err);
      op_finish_later(op, HL_ESTORE);
    }
    ready_all(s, HL_ESTORE, err);
    return;
  }
  mig_transition(s, MIG_DONE);
  hl_log_info("postgres schema ready", "\"version\":%d", s->schema_version);
  while (list) {
    pgop *op = list;
    list = list->next;
    op_send(op);
  }
  if (!s->closing) {
    uint64_t every = HL_MIN(1000u, s->lease_ms / 3);
    uv_timer_start(&s->tick_timer, on_tick, every, every);
  }
  char v[16];
  snprintf(v, sizeof v, "%d", s->schema_version);
  ready_all(s, 0, v);
}

/* The one place the schema set-up changes state; illegal moves are bugs. */
static void mig_transition(pg_store *s, mig_state to) {
  static const char *const names[] = {"NONE", "RUNNING", "DONE"};
  static const unsigned allowed[] = {
    [MIG_NONE] = HL_SM_TO(MIG_RUNNING),
    [MIG_RUNNING] = HL_SM_TO(MIG_NONE) | HL_SM_TO(MIG_DONE), /* failed (tried again by the next operation), or ready */
    [MIG_DONE] = 0,
  };
  hl_sm_check("postgres schema set-up", allowed, names, s->mig, to);
  s->mig = to;
}

static void start_migrations(pg_store *s) {
  if (s->closing) {
    pgop *list = s->wait_head;
    s->wait_head = NULL;
    s->wait_tail = &s->wait_head;
    for (; list; list = list->next) op_finish_later(list, HL_ECLOSED);
    return;
  }
  mig_transition(s, MIG_RUNNING);
  mig_op *m = hl_calloc(1, sizeof *m);
  m->s = s;
  hl_buf b = HL_BUF_INIT;
  /* One transaction: concurrent starts of several processes take turns. */
  m->sql[0] = hl_strdup("SELECT pg_advisory_xact_lock(72420015)");
  m->sql[1] = hl_strdup("CREATE TABLE IF NOT EXISTS hookloop_schema_version(version integer PRIMARY KEY, "
                        "applied_at timestamptz NOT NULL)");
  for (int i = 0; i < NMIG; i++) {
    hl_pg_schema_step(&s->t, i + 1, &b);
    m->sql[2 + i] = hl_buf_steal(&b, NULL);
  }
  m->sql[MIGQ_VERSION] = hl_strdup("SELECT max(version) FROM hookloop_schema_version");
  hl_buf_printf(&b, "SELECT count(*) FROM %s WHERE status IN " HL_PG_OPEN, s->t.delivery_table);
  m->sql[MIGQ_BACKLOG] = hl_buf_steal(&b, NULL);
  hl_pg_query *qs[MIGQ];
  for (int i = 0; i < MIGQ; i++) {
    m->q[i].m = m;
    m->q[i].q.sql = m->sql[i];
    m->q[i].q.result_format = 1;
    m->q[i].q.done = on_mig_done;
    qs[i] = &m->q[i].q;
  }
  hl_buf_dispose(&b);
  if (hl_pg_send_n(&s->pool, qs, MIGQ) != 0) {
    for (int i = 0; i < MIGQ; i++) hl_free(m->sql[i]);
    hl_free(m);
    mig_transition(s, MIG_NONE);
  }
}

/* --- background: heartbeat, sweep, backlog ------------------------------------ */

/* The sweep (statement op->aux) gave rows back: wake their subscriptions
 * here as well as through the NOTIFY, which only a listening process hears
 * (a duplicate wake when it does is harmless). */
static void done_heartbeat(pgop *op, int status) {
  pg_store *s = op->s;
  s->heartbeat_out = false;
  if (status != 0 || s->closing || !s->on_work) return;
  const PGresult *r = op->q[op->aux].res;
  for (int k = 0; k < PQntuples(r); k++) {
    char *sub = gstr(r, k, 0);
    if (!sub) continue;
    s->on_work(s->work_data, sub);
    hl_free(sub);
    if (s->closing) return; /* on_work may close the store */
  }
}

static void done_backlog(pgop *op, int status) {
  pg_store *s = op->s;
  s->counting = false;
  if (status != 0) return;
  s->backlog_base = gi64(op->q[0].res, 0, 0);
  s->backlog_delta -= s->backlog_delta_sent; /* those changes are in the count now */
}

static void on_tick(uv_timer_t *t) {
  pg_store *s = t->data;
  if (s->closing || s->mig != MIG_DONE) return;
  uint64_t now = uv_now(s->loop);
  if (!s->counting) {
    s->counting = true;
    s->backlog_delta_sent = s->backlog_delta;
    pgop *op = op_new(s, done_backlog, NULL, NULL);
    op_stmt(op, Q_BACKLOG);
    op_submit(op);
  }
  if (!s->heartbeat_out && now - s->last_heartbeat >= s->lease_ms / 3) {
    s->last_heartbeat = now;
    s->heartbeat_out = true;
    pgop *op = op_new(s, done_heartbeat, NULL, NULL);
    int i;
    size_t n = hl_strmap_len(&s->mine);
    if (n > 0) {
      const char **keys = hl_malloc(n * sizeof *keys);
      size_t k = 0;
      const char *key;
      void *v;
      for (size_t it = 0; k < n && hl_strmap_next(&s->mine, &it, &key, &v);) keys[k++] = key;
      char *arr = text_array(keys, k);
      hl_free(keys);
      i = op_stmt(op, Q_HEARTBEAT);
      op_str(op, i, s->owner);
      op_i64(op, i, s->lease_ms);
      op_str(op, i, arr);
      hl_free(arr);
    }
    i = op_stmt(op, Q_SWEEP);
    op_str(op, i, s->channel);
    op->aux = i;
    op_submit(op);
  }
}

static void on_notify(void *data, const char *channel, const char *payload, int be_pid) {
  pg_store *s = data;
  (void)channel; (void)be_pid;
  if (s->closing || !s->on_work) return;
  s->on_work(s->work_data, channel ? payload : NULL);
}

/* --- operations ------------------------------------------------------------ */

typedef struct {
  pg_store *s;
  hl_store_check_cb cb;
  void *data;
} check_ctx;

static void done_check(pgop *op, int status) {
  hl_store_check part = {.part = "postgres", .status = status};
  if (status != 0) {
    const char *last = hl_pg_pool_last_error(&op->s->pool);
    snprintf(part.error, sizeof part.error, "%.255s", op->err[0] ? op->err : last && *last ? last : "a query failed");
  }
  ((hl_store_check_cb)(void (*)(void))op->cb)(op->data, &part, 1);
}

/* Live: a query on a pooled connection. With no connection up it fails at
 * once, naming what the last attempt to connect said. */
static void check(hl_store *base, hl_store_check_cb cb, void *data) {
  pg_store *s = PG(base);
  pgop *op = op_new(s, done_check, (hl_store_cb)(void (*)(void))cb, data);
  op_stmt(op, Q_HEALTH);
  hl_pg_stats st;
  hl_pg_pool_stats(&s->pool, &st);
  s->inflight_ops++;
  if (st.ready == 0) {
    const char *last = hl_pg_pool_last_error(&s->pool);
    snprintf(op->err, sizeof op->err, "no connection to PostgreSQL%s%s", last && *last ? ": " : "",
             last ? last : "");
    op_finish_later(op, HL_ESTORE);
    return;
  }
  op_send(op);
}

/* --- records by descriptor (store/hl_store_rec.h) -------------------------- */

/* Field i of r as parameter i + 1 of statement i of op (the revision
 * written: the record's + 1); then, with a revision, the record's own as
 * parameter n + 1 (the condition, hl_rec_sql_put). */
static void op_rec(pgop *op, int i, const hl_rec_desc *d, const void *r) {
  for (size_t k = 0; k < d->n; k++) {
    const hl_rec_field *f = &d->f[k];
    if (f->type == HL_RF_TEXT) op_str(op, i, hl_rec_text_out(r, f));
    else if (hl_rec_i64_none(r, f)) op_str(op, i, NULL);
    else op_i64(op, i, hl_rec_i64_put(r, f));
  }
  const hl_rec_field *rev = hl_rec_flagged(d, HL_RF_REVISION);
  if (rev) op_i64(op, i, *hl_rec_i64((void *)r, rev));
}

/* A put with a revision condition: no row returned is a stored row at
 * another revision (written by another process), left as it was. */
static void done_rev(pgop *op, int status) {
  if (status == 0 && PQntuples(op->q[0].res) == 0) status = HL_ECONFLICT;
  done_plain(op, status);
}

/* Row k of r into x, column i into field i (NULL numbers read as 0). */
static void read_rec(const PGresult *r, int k, const hl_rec_desc *d, void *x) {
  for (size_t i = 0; i < d->n; i++) {
    const hl_rec_field *f = &d->f[i];
    if (f->type == HL_RF_TEXT) hl_rec_text_in(x, f, gstr(r, k, (int)i));
    else *hl_rec_i64(x, f) = gi64(r, k, (int)i);
  }
}

static void rec_put(hl_store *base, query_id id, const hl_rec_desc *d, const void *r, hl_store_cb cb, void *data) {
  pgop *op = op_new(PG(base), hl_rec_flagged(d, HL_RF_REVISION) ? done_rev : done_plain, cb, data);
  op_rec(op, op_stmt(op, id), d, r);
  /* Sent again after a lost connection: a record with a revision carries
   * its put's token, so a retry that finds its first attempt committed is
   * not taken for another process's write. */
  op->retry_lost = !d->immutable;
  op_submit(op);
}

/* The answer of rec_list: each row read by the descriptor. */
static void done_recs(pgop *op, int status) {
  hl_store_result res = {0};
  size_t cap = 0;
  const PGresult *r = op->q[0].res;
  for (int k = 0; status == 0 && k < PQntuples(r); k++)
    read_rec(r, k, op->desc, hl_rec_append(op->desc, &res, &cap));
  answer(op, status, &res);
}

/* Lists every row of kind d (-> its list in the result). */
static void rec_list(hl_store *base, query_id id, const hl_rec_desc *d, hl_store_cb cb, void *data) {
  pgop *op = op_new(PG(base), done_recs, cb, data);
  op->desc = d;
  op_stmt(op, id);
  op_submit(op);
}

/* Deletes by key (k2: the second key column, or NULL); none is HL_ENOTFOUND. */
static void rec_delete(hl_store *base, query_id id, const char *k1, const char *k2, hl_store_cb cb, void *data) {
  pgop *op = op_new(PG(base), done_changed, cb, data);
  int i = op_stmt(op, id);
  op_str(op, i, k1);
  if (k2) op_str(op, i, k2);
  op_submit(op);
}

/* The typed entries of schemas, subscriptions, partners, transformations. */
#include "store/hl_store_sql_recs.h"

static void kafka_map_put(hl_store *base, const char *event_type, const char *ingress_topic,
                          const char *egress_topics_json, hl_store_cb cb, void *data) {
  pgop *op = op_new(PG(base), done_plain, cb, data);
  int i = op_stmt(op, Q_KAFKA_PUT);
  op_str(op, i, event_type); op_str(op, i, ingress_topic); op_str(op, i, egress_topics_json);
  op->retry_lost = true;
  op_submit(op);
}

static void add_delivery(pgop *op, int i, const hl_delivery_rec *r) {
  op_str(op, i, r->event_id); op_str(op, i, r->subscription_id); op_str(op, i, r->status);
  op_i64(op, i, r->attempts); op_i64(op, i, r->last_status_code); op_str(op, i, r->last_error);
  op_i64(op, i, r->last_latency_ms); op_i64(op, i, r->updated_at); op_i64(op, i, r->next_attempt_at);
}

static void read_delivery(const PGresult *r, int k, int c, hl_delivery_rec *x) {
  *x = (hl_delivery_rec){0}; /* the fields not read too: a copy may be written back */
  x->event_id = gstr(r, k, c); x->subscription_id = gstr(r, k, c + 1); x->status = gstr(r, k, c + 2);
  x->attempts = gi64(r, k, c + 3); x->last_status_code = gi64(r, k, c + 4); x->last_error = gstr(r, k, c + 5);
  x->last_latency_ms = gi64(r, k, c + 6); x->updated_at = gi64(r, k, c + 7); x->next_attempt_at = gi64(r, k, c + 8);
}

static void delivery_put(hl_store *base, const hl_delivery_rec *r, hl_store_cb cb, void *data) {
  pgop *op = op_new(PG(base), done_plain, cb, data);
  int i = op_stmt(op, Q_DELIVERY_PUT);
  add_delivery(op, i, r);
  op_str(op, i, r->transformation);
  if (r->delivered) op_i64(op, i, r->replays);
  else op_str(op, i, NULL);
  op->retry_lost = true;
  op_merge(op, M_DELIVERY);
}

static void row_delivery(const PGresult *r, int k, hl_store_result *res) {
  ROOM(r, k, res->deliveries);
  read_delivery(r, k, 0, &res->deliveries[res->ndeliveries]);
  res->deliveries[res->ndeliveries++].transformation = gstr(r, k, 9);
}

static void delivery_list(hl_store *base, const char *event_id, hl_store_cb cb, void *data) {
  list_op(PG(base), Q_DELIVERY_LIST, row_delivery, cb, data, event_id);
}

/* --- retention ------------------------------------------------------------ */

static void done_purge(pgop *op, int status) {
  hl_store_result res = {0};
  if (status == 0) {
    const PGresult *r = op->q[0].res;
    res.purged.deliveries = gi64(r, 0, 0); res.purged.attempts = gi64(r, 0, 1);
    res.purged.events = gi64(r, 0, 2); res.purged.ledger = gi64(r, 0, 3);
    /* The window of old events ran out: start from the oldest again. */
    bool full = (size_t)gi64(r, 0, 4) >= op->limit;
    op->s->orphan_at = full ? gi64(r, 0, 5) : 0;
    hl_free(op->s->orphan_id);
    op->s->orphan_id = full ? gstr(r, 0, 6) : NULL;
    /* The same for the window of old attempt rows. */
    full = (size_t)gi64(r, 0, 7) >= op->limit;
    op->s->orphan_att_at = full ? gi64(r, 0, 8) : 0;
    op->s->orphan_att_slot = full ? gi64(r, 0, 11) : 0;
    hl_free(op->s->orphan_att_event);
    hl_free(op->s->orphan_att_sub);
    op->s->orphan_att_event = full ? gstr(r, 0, 9) : NULL;
    op->s->orphan_att_sub = full ? gstr(r, 0, 10) : NULL;
    if (op->nq > 1) {
      /* A full batch looks at the same subscriptions again; a walk that
       * ran out starts over. */
      const PGresult *c = op->q[1].res;
      res.purged.closed = gi64(c, 0, 0);
      op->s->backlog_delta -= res.purged.closed;
      if ((size_t)res.purged.closed < op->limit) {
        hl_free(op->s->open_sub_cursor);
        op->s->open_sub_cursor = gi64(c, 0, 1) == HL_STORE_PURGE_SUBS ? gstr(c, 0, 2) : NULL;
      }
    }
  }
  answer(op, status, &res);
}

static void purge(hl_store *base, const hl_store_purge *p, hl_store_cb cb, void *data) {
  pg_store *s = PG(base);
  pgop *op = op_new(s, done_purge, cb, data);
  op->limit = p->limit;
  int i = op_stmt(op, Q_PURGE);
  op_i64(op, i, p->delivered_before_ms); op_i64(op, i, p->failed_before_ms); op_i64(op, i, (int64_t)p->limit);
  op_i64(op, i, p->now_s); op_i64(op, i, s->orphan_at); op_str(op, i, s->orphan_id ? s->orphan_id : "");
  /* The start of the attempt walk is before any row: a slot is never negative. */
  op_i64(op, i, s->orphan_att_event ? s->orphan_att_at : -1);
  op_str(op, i, s->orphan_att_event ? s->orphan_att_event : "");
  op_str(op, i, s->orphan_att_sub ? s->orphan_att_sub : "");
  op_i64(op, i, s->orphan_att_event ? s->orphan_att_slot : -1);
  if (p->close_deleted) {
    i = op_stmt(op, Q_CLOSE_DELETED);
    op_str(op, i, s->open_sub_cursor ? s->open_sub_cursor : "");
    op_i64(op, i, HL_STORE_PURGE_SUBS);
    op_str(op, i, HL_STORE_SUB_DELETED);
    op_i64(op, i, p->now_ms);
    op_i64(op, i, (int64_t)p->limit);
  }
  op->retry_lost = true; /* deleting what is old again is harmless */
  op_submit(op);
}

static void delivery_search(hl_store *base, const hl_delivery_query *q, hl_store_cb cb, void *data) {
  pgop *op = op_new(PG(base), done_rows, cb, data);
  op->row = row_delivery;
  int i = op_stmt(op, Q_DELIVERY_SEARCH);
  op_str(op, i, q->subscription_id); op_str(op, i, q->status); op_i64(op, i, q->since);
  op_i64(op, i, q->until); op_i64(op, i, q->after_updated_at); op_str(op, i, q->after_event_id);
  op_i64(op, i, (int64_t)q->limit);
  op_submit(op);
}

/* --- the attempt log ------------------------------------------------------ */

static void attempt_put(hl_store *base, const hl_attempt_rec *r, hl_store_cb cb, void *data) {
  pgop *op = op_new(PG(base), done_plain, cb, data);
  int i = op_stmt(op, Q_ATTEMPT_PUT);
  op_str(op, i, r->event_id); op_str(op, i, r->subscription_id);
  op_i64(op, i, (r->attempt - 1) % HL_ATTEMPT_LOG_MAX); op_i64(op, i, r->attempt); op_i64(op, i, r->at_ms);
  op_i64(op, i, r->status_code); op_i64(op, i, r->latency_ms); op_str(op, i, r->error);
  op_str(op, i, r->headers_json); op_str(op, i, r->body); op_i64(op, i, r->truncated);
  op->retry_lost = true; /* the same row again */
  op_merge(op, M_ATTEMPT);
}

static void row_attempt(const PGresult *r, int k, hl_store_result *res) {
  ROOM(r, k, res->attempts);
  hl_attempt_rec *x = &res->attempts[res->nattempts++];
  x->event_id = gstr(r, k, 0); x->subscription_id = gstr(r, k, 1); x->attempt = gi64(r, k, 2);
  x->at_ms = gi64(r, k, 3); x->status_code = gi64(r, k, 4); x->latency_ms = gi64(r, k, 5);
  x->error = gstr(r, k, 6); x->headers_json = gstr(r, k, 7); x->body = gstr(r, k, 8);
  x->truncated = gi64(r, k, 9) != 0;
}

static void attempt_list(hl_store *base, const char *event_id, const char *subscription_id, hl_store_cb cb,
                         void *data) {
  pgop *op = op_new(PG(base), done_rows, cb, data);
  op->row = row_attempt;
  int i = op_stmt(op, Q_ATTEMPT_LIST);
  op_str(op, i, event_id); op_str(op, i, subscription_id);
  op_submit(op);
}

static void done_ledger_insert(pgop *op, int status) {
  if (status == 0 && PQntuples(op->q[0].res) == 0) status = HL_EEXISTS;
  done_plain(op, status);
}

static void ledger_put(hl_store *base, const char *key, const char *status, int64_t expires_at, bool overwrite,
                       hl_store_cb cb, void *data) {
  pgop *op = op_new(PG(base), overwrite ? done_plain : done_ledger_insert, cb, data);
  int i = op_stmt(op, overwrite ? Q_LEDGER_UPSERT : Q_LEDGER_INSERT);
  op_str(op, i, key); op_str(op, i, status); op_i64(op, i, expires_at);
  if (!overwrite) op_i64(op, i, hl_wall_ms() / 1000);
  /* An insert that may have committed cannot tell "mine" from "already
   * there" when sent again: only the overwrite is repeated. */
  op->retry_lost = overwrite;
  op_submit(op);
}

static void done_ledger_get(pgop *op, int status) {
  hl_store_result res = {0};
  if (status == 0) {
    if (PQntuples(op->q[0].res) == 0) status = HL_ENOTFOUND;
    else res.value = gstr(op->q[0].res, 0, 0);
  }
  answer(op, status, &res);
}

static void ledger_get(hl_store *base, const char *key, hl_store_cb cb, void *data) {
  pgop *op = op_new(PG(base), done_ledger_get, cb, data);
  int i = op_stmt(op, Q_LEDGER_GET);
  op_str(op, i, key); op_i64(op, i, hl_wall_ms() / 1000);
  op_submit(op);
}

static void done_delivered_get(pgop *op, int status) {
  hl_store_result res = {0};
  if (status == 0) {
    const PGresult *r = op->q[0].res;
    if (PQntuples(r) == 1 && gi64(r, 0, 0) != 0) res.value = hl_strdup("DELIVERED"); /* a binary bool */
    else status = HL_ENOTFOUND;
  }
  answer(op, status, &res);
}

/* Row `row` of Q_DELIVERED_GET_N: its ordinal, then true when delivered
 * (NULL when the delivery has no row). */
static void answer_delivered(pgop *m, const PGresult *r, int row) {
  hl_store_result res = {0};
  int status = HL_ENOTFOUND;
  if (!gnull(r, row, 1) && gi64(r, row, 1) != 0) {
    res.value = hl_strdup("DELIVERED");
    status = 0;
  }
  answer(m, status, &res);
}

static void delivered_get(hl_store *base, const char *event_id, const char *subscription_id, int64_t replay,
                          hl_store_cb cb, void *data) {
  pgop *op = op_new(PG(base), done_delivered_get, cb, data);
  int i = op_stmt(op, Q_DELIVERED_GET);
  char key[256]; /* as the dispatcher's (hl_dispatch.c), so a long key is cut where its was */
  hl_store_ledger_key(key, sizeof key, subscription_id, event_id, replay);
  op_str(op, i, event_id); op_str(op, i, subscription_id); op_i64(op, i, replay);
  op_str(op, i, key); op_i64(op, i, hl_wall_ms() / 1000);
  op_merge(op, M_DELIVERED);
}

static void done_accept(pgop *op, int status) {
  if (status == 0) {
    if (gi64(op->q[0].res, 0, 0) == 0) status = HL_EEXISTS;
    else op->s->backlog_delta += gi64(op->q[0].res, 0, 1);
  }
  done_plain(op, status);
}

/* A text[] literal: {"a","b"} with " and \ escaped. */
static char *text_array(const char *const *v, size_t n) {
  hl_buf b = HL_BUF_INIT;
  hl_buf_putc(&b, '{');
  for (size_t i = 0; i < n; i++) {
    if (i) hl_buf_putc(&b, ',');
    hl_buf_putc(&b, '"');
    for (const char *p = v[i]; *p; p++) {
      if (*p == '"' || *p == '\\') hl_buf_putc(&b, '\\');
      hl_buf_putc(&b, *p);
    }
    hl_buf_putc(&b, '"');
  }
  hl_buf_putc(&b, '}');
  return hl_buf_steal(&b, NULL);
}

static void eq_accept(hl_store *base, const hl_eq_accept *ev, hl_store_cb cb, void *data) {
  pg_store *s = PG(base);
  pgop *op = op_new(s, done_accept, cb, data);
  int i = op_stmt(op, Q_ACCEPT);
  int64_t now = hl_wall_ms();
  op_str(op, i, ev->event_id); op_str(op, i, ev->event_type);
  op_bin(op, i, ev->body ? ev->body : "", ev->body_len); /* bytea, as received */
  op_str(op, i, ev->trace); op_i64(op, i, now);
  char *subs = text_array(ev->subscription_ids, ev->nsubs);
  op_str(op, i, subs);
  hl_free(subs);
  op_str(op, i, s->channel);
  op_submit(op);
}

/* The body column: the bytes as stored, NUL-terminated for convenience. */
static void read_body(const PGresult *r, int k, int c, hl_eq_item *it) {
  it->body_len = (size_t)PQgetlength(r, k, c);
  it->body = hl_malloc(it->body_len + 1);
  memcpy(it->body, PQgetvalue(r, k, c), it->body_len);
  it->body[it->body_len] = '\0';
}

static void row_claimed(const PGresult *r, int k, hl_store_result *res) {
  ROOM(r, k, res->items);
  hl_eq_item *it = &res->items[res->nitems++];
  read_delivery(r, k, 0, &it->d);
  it->event_type = gstr(r, k, 9);
  read_body(r, k, 10, it);
  it->trace = gstr(r, k, 11);
  it->accepted_at = gi64(r, k, 12);
  it->replay = gi64(r, k, 13);
}

static void done_next_due(pgop *op, int status) {
  hl_store_result *res = op->claimed;
  op->claimed = NULL;
  /* The claim committed: its rows are the caller's whatever this says. */
  if (status == 0 && !gnull(op->q[0].res, 0, 0)) res->next_due_at = gi64(op->q[0].res, 0, 0);
  answer(op, 0, res);
  hl_free(res);
}

/* s->mine's key of a delivery. */
static void mine_key(hl_buf *k, const char *event_id, const char *subscription_id) {
  hl_buf_puts(k, event_id);
  hl_buf_putc(k, '\x1f');
  hl_buf_puts(k, subscription_id);
  hl_buf_putc(k, '\0');
}

static void mine_set(pg_store *s, const char *event_id, const char *subscription_id, bool held) {
  if (!event_id || !subscription_id) return;
  hl_buf k = HL_BUF_INIT;
  mine_key(&k, event_id, subscription_id);
  if (held) hl_strmap_put(&s->mine, k.data, (void *)1);
  else hl_strmap_del(&s->mine, k.data);
  hl_buf_dispose(&k);
}

static void mine_claimed(pg_store *s, const hl_store_result *res) {
  for (size_t i = 0; i < res->nitems; i++) mine_set(s, res->items[i].d.event_id, res->items[i].d.subscription_id, true);
}

/* An outcome written (or its row gone): held still, or let go. Not on a
 * failed write: the row is ours until it is written. */
static void mine_updated(pgop *op, int status) {
  if (status == 0 || status == HL_ENOTFOUND)
    mine_set(op->s, op->q[0].vals[0], op->q[0].vals[1], !op->lets_go && status == 0);
}

/* A claim that came back short asks, once it committed, when the rest
 * falls due. Not in the claim's own batch: a full claim, the drain's
 * usual one, needs no answer, and the probe walks the index past every
 * row claimed since the last vacuum (~2 ms a claim at 40,000 rows). */
static void done_claim(pgop *op, int status) {
  hl_store_result res = {0};
  collect(op, status, row_claimed, &res);
  if (status == 0) mine_claimed(op->s, &res);
  if (status != 0 || res.nitems >= op->limit) {
    answer(op, status, &res);
    return;
  }
  pgop *nd = op_new(op->s, done_next_due, op->cb, op->data);
  nd->claimed = hl_malloc(sizeof res);
  *nd->claimed = res;
  int i = op_stmt(nd, Q_NEXT_DUE_SUB);
  op_str(nd, i, op->q[0].vals[0]); /* the claim's first parameter: the subscription */
  nd->retry_lost = true; /* a read */
  op_submit(nd);
}

static void eq_claim(hl_store *base, const char *subscription_id, size_t limit, int64_t now_ms, hl_store_cb cb,
                     void *data) {
  pg_store *s = PG(base);
  pgop *op = op_new(s, done_claim, cb, data);
  op->limit = limit;
  if (!subscription_id) { /* claims are a subscription's (hl_store.h) */
    s->inflight_ops++;
    op_finish_later(op, HL_EINVAL);
    return;
  }
  int i = op_stmt(op, Q_CLAIM_SUB);
  op_str(op, i, subscription_id);
  op_i64(op, i, now_ms); op_i64(op, i, (int64_t)limit); op_str(op, i, s->owner); op_i64(op, i, s->lease_ms);
  op_submit(op);
}

static void done_eq_update(pgop *op, int status) {
  if (status == 0 && PQntuples(op->q[0].res) == 0) status = HL_ENOTFOUND;
  if (status == 0 && op->aux) op->s->backlog_delta--;
  mine_updated(op, status);
  done_plain(op, status);
}

/* Q_EQ_UPDATE_N's row for m, or -1: no such row (as done_eq_update). */
static void answer_eq_update(pgop *m, const PGresult *r, int row) {
  (void)r;
  int status = row >= 0 ? 0 : HL_ENOTFOUND;
  if (status == 0 && m->aux) m->s->backlog_delta--;
  mine_updated(m, status);
  done_plain(m, status);
}

static bool terminal(const char *st) { return st && (strcmp(st, "SUCCESS") == 0 || strcmp(st, "FAILED") == 0); }

static void eq_update(hl_store *base, const hl_delivery_rec *r, bool release, hl_store_cb cb, void *data) {
  pg_store *s = PG(base);
  pgop *op = op_new(s, done_eq_update, cb, data);
  int i = op_stmt(op, Q_EQ_UPDATE);
  add_delivery(op, i, r);
  op_str(op, i, release ? "t" : "f");
  op_str(op, i, s->owner);
  op_i64(op, i, s->lease_ms);
  op_str(op, i, r->transformation);
  op->aux = terminal(r->status);
  op->lets_go = release || op->aux;
  op->retry_lost = true;
  if (!release) {
    op_merge(op, M_EQ_UPDATE);
    return;
  }
  /* Back in the queue: whoever is idle may take it when it falls due. */
  i = op_stmt(op, Q_NOTIFY);
  op_str(op, i, s->channel); op_str(op, i, r->subscription_id);
  op_submit(op);
}

static void done_requeue(pgop *op, int status) {
  if (status == 0) {
    const PGresult *g = op->q[0].res;
    if (PQntuples(g) == 0) status = HL_ENOTFOUND;
    else if (PQntuples(op->q[1].res) == 0) status = HL_EINVAL;
    else op->s->backlog_delta++;
  }
  done_plain(op, status);
}

/* A delivery reopened in one unit (a re-queue, a replay): the row read
 * (get), reopened when it may be (set, due now), and the instances
 * listening told that the subscription has work. */
static void reopen_op(pg_store *s, void (*done)(pgop *, int), query_id get, query_id set, const char *event_id,
                      const char *subscription_id, hl_store_cb cb, void *data) {
  pgop *op = op_new(s, done, cb, data);
  int i = op_stmt(op, get);
  op_str(op, i, event_id); op_str(op, i, subscription_id);
  i = op_stmt(op, set);
  op_str(op, i, event_id); op_str(op, i, subscription_id); op_i64(op, i, hl_wall_ms());
  i = op_stmt(op, Q_NOTIFY);
  op_str(op, i, s->channel); op_str(op, i, subscription_id);
  op_submit(op);
}

static void eq_requeue(hl_store *base, const char *event_id, const char *subscription_id, hl_store_cb cb,
                       void *data) {
  reopen_op(PG(base), done_requeue, Q_REQUEUE_GET, Q_REQUEUE_SET, event_id, subscription_id, cb, data);
}

static int64_t eq_backlog(hl_store *base) {
  pg_store *s = PG(base);
  int64_t n = s->backlog_base + s->backlog_delta;
  return n > 0 ? n : 0;
}

/* --- parked retries ---------------------------------------------------------- */

static void park_put(hl_store *base, const hl_eq_item *it, hl_store_cb cb, void *data) {
  pgop *op = op_new(PG(base), done_plain, cb, data);
  int i = op_stmt(op, Q_PARK_PUT);
  op_i64(op, i, it->d.next_attempt_at); op_str(op, i, it->d.event_id); op_str(op, i, it->d.subscription_id);
  op_i64(op, i, it->d.attempts); op_str(op, i, it->event_type); op_str(op, i, it->trace);
  op_i64(op, i, it->accepted_at); op_bin(op, i, it->body ? it->body : "", it->body_len);
  op_i64(op, i, it->replay);
  op->retry_lost = true;
  op_submit(op);
}

static void row_parked(const PGresult *r, int k, hl_store_result *res) {
  ROOM(r, k, res->items);
  hl_eq_item *it = &res->items[res->nitems++];
  it->d.next_attempt_at = gi64(r, k, 0);
  it->d.event_id = gstr(r, k, 1);
  it->d.subscription_id = gstr(r, k, 2);
  it->d.attempts = gi64(r, k, 3);
  it->d.status = hl_strdup("RETRYING");
  it->event_type = gstr(r, k, 4);
  it->trace = gstr(r, k, 5);
  it->accepted_at = gi64(r, k, 6);
  read_body(r, k, 7, it);
  it->replay = gi64(r, k, 8);
  it->d.replays = it->replay;
}


static void park_take(hl_store *base, int64_t due_by, int64_t now_ms, int64_t lease_until, size_t limit,
                      hl_store_cb cb, void *data) {
  pgop *op = op_new(PG(base), done_rows, cb, data);
  op->row = row_parked;
  int i = op_stmt(op, Q_PARK_TAKE);
  op_i64(op, i, due_by); op_i64(op, i, now_ms); op_i64(op, i, (int64_t)limit); op_i64(op, i, lease_until);
  op_submit(op);
}

static void park_delete(hl_store *base, const hl_eq_item *it, hl_store_cb cb, void *data) {
  pgop *op = op_new(PG(base), done_plain, cb, data);
  int i = op_stmt(op, Q_PARK_DELETE);
  op_i64(op, i, it->d.next_attempt_at); op_str(op, i, it->d.event_id); op_str(op, i, it->d.subscription_id);
  op->retry_lost = true;
  op_submit(op);
}

/* --- life cycle ------------------------------------------------------------ */

static void on_handle_closed(uv_handle_t *h) {
  pg_store *s = h->data;
  if (--s->closing_handles > 0) return;
  hl_free(s->open_sub_cursor);
  hl_free(s->orphan_id);
  hl_free(s->orphan_att_event);
  hl_free(s->orphan_att_sub);
  hl_strmap_dispose(&s->mine);
  hl_free_then_call(s, s->close_cb, s->close_data);
}

static void on_pool_closed(void *data) {
  pg_store *s = data;
  /* Everything the pool held is answered; answer what waits here too. */
  on_later(&s->later_timer);
  s->closing_handles = 3;
  uv_close((uv_handle_t *)&s->retry_timer, on_handle_closed);
  uv_close((uv_handle_t *)&s->later_timer, on_handle_closed);
  uv_close((uv_handle_t *)&s->tick_timer, on_handle_closed);
}

static void fail_retries(pg_store *s) {
  pgop *list = s->retry;
  s->retry = NULL;
  uv_timer_stop(&s->retry_timer);
  while (list) {
    pgop *op = list;
    list = list->next;
    op_finish_later(op, HL_ECLOSED);
  }
}

static void done_release(pgop *op, int status) {
  pg_store *s = op->s;
  (void)status;
  fail_retries(s);
  ready_all(s, HL_ECLOSED, "closed");
  hl_pg_pool_close(&s->pool, on_pool_closed, s);
}

static void pg_close(hl_store *base, void (*cb)(void *data), void *data) {
  pg_store *s = PG(base);
  s->closing = true;
  s->close_cb = cb;
  s->close_data = data;
  uv_timer_stop(&s->tick_timer);
  fail_retries(s);
  merge_flush(s); /* before the release, whose answer closes the pool */
  /* Give back the rows still held here, so others take them now rather
   * than when the lease ends. */
  pgop *op = op_new(s, done_release, NULL, NULL);
  int i = op_stmt(op, Q_RELEASE_MINE);
  op_str(op, i, s->owner); op_str(op, i, s->channel);
  if (s->mig == MIG_DONE) {
    op_submit(op);
  } else {
    s->inflight_ops++;
    op_finish_later(op, 0);
  }
}

void hl_store_pg_on_work(hl_store *base, void (*cb)(void *data, const char *subscription_id), void *data) {
  pg_store *s = PG(base);
  s->on_work = cb;
  s->work_data = data;
}

static void done_ready_probe(pgop *op, int status) {
  pg_store *s = op->s;
  char v[16];
  snprintf(v, sizeof v, "%d", s->schema_version);
  ready_all(s, status, status == 0 ? v : "closed");
}

void hl_store_pg_ready(hl_store *base, void (*cb)(void *data, int status, const char *msg), void *data) {
  pg_store *s = PG(base);
  ready_waiter *w = hl_calloc(1, sizeof *w);
  *w = (ready_waiter){cb, data, s->waiters};
  s->waiters = w;
  if (s->mig == MIG_DONE || s->closing) {
    /* Answered on the loop, never inside the call. */
    pgop *op = op_new(s, done_ready_probe, NULL, NULL);
    s->inflight_ops++;
    op_finish_later(op, s->closing ? HL_ECLOSED : 0);
  } else if (s->mig == MIG_NONE) {
    start_migrations(s);
  }
}

static void eq_claim_head(hl_store *base, const char *subscription_id, int64_t now_ms, hl_store_cb cb,
                          void *data);
static void eq_replay(hl_store *base, const char *event_id, const char *subscription_id, hl_store_cb cb,
                      void *data);
static void delivery_replay(hl_store *base, const char *event_id, const char *subscription_id, int64_t now_ms,
                            int64_t hold_ms, hl_store_cb cb, void *data);
static void delivery_replay_undo(hl_store *base, const char *event_id, const char *subscription_id, int64_t gen,
                                 int64_t marked_at, hl_store_cb cb, void *data);
static void delivery_replay_open(hl_store *base, const char *event_id, const char *subscription_id, int64_t gen,
                                 int64_t updated_at, hl_store_cb cb, void *data);

static void pg_render_metrics(hl_store *base, hl_buf *out) {
  pg_store *s = PG(base);
  hl_pg_stats st;
  hl_pg_pool_stats(&s->pool, &st);
  hl_buf_printf(out,
                "# HELP hookloop_postgres_connections_ready Pooled PostgreSQL connections up now.\n"
                "# TYPE hookloop_postgres_connections_ready gauge\n"
                "hookloop_postgres_connections_ready %d\n"
                "# HELP hookloop_postgres_connect_failures_total Attempts to connect to PostgreSQL that failed.\n"
                "# TYPE hookloop_postgres_connect_failures_total counter\n"
                "hookloop_postgres_connect_failures_total %llu\n"
                "# HELP hookloop_postgres_connection_drops_total PostgreSQL connections lost after they were up.\n"
                "# TYPE hookloop_postgres_connection_drops_total counter\n"
                "hookloop_postgres_connection_drops_total %llu\n"
                "# HELP hookloop_postgres_statements_total Statements sent to PostgreSQL.\n"
                "# TYPE hookloop_postgres_statements_total counter\n"
                "hookloop_postgres_statements_total %llu\n"
                "# HELP hookloop_postgres_batches_total Batches sent to PostgreSQL (a pipeline Sync: one transaction).\n"
                "# TYPE hookloop_postgres_batches_total counter\n"
                "hookloop_postgres_batches_total %llu\n"
                "# HELP hookloop_postgres_merged_statements_total Statements that carried several rows of a loop turn.\n"
                "# TYPE hookloop_postgres_merged_statements_total counter\n"
                "hookloop_postgres_merged_statements_total %llu\n"
                "# HELP hookloop_postgres_merged_rows_total Rows those statements carried.\n"
                "# TYPE hookloop_postgres_merged_rows_total counter\n"
                "hookloop_postgres_merged_rows_total %llu\n"
                "# HELP hookloop_postgres_merge_fallbacks_total Merged statements that failed and were sent again row by row.\n"
                "# TYPE hookloop_postgres_merge_fallbacks_total counter\n"
                "hookloop_postgres_merge_fallbacks_total %llu\n"
                "# HELP hookloop_postgres_statements_waiting Statements waiting for a PostgreSQL connection.\n"
                "# TYPE hookloop_postgres_statements_waiting gauge\n"
                "hookloop_postgres_statements_waiting %llu\n"
                "# HELP hookloop_postgres_statements_in_flight Statements sent to PostgreSQL and not answered yet.\n"
                "# TYPE hookloop_postgres_statements_in_flight gauge\n"
                "hookloop_postgres_statements_in_flight %llu\n",
                st.ready, (unsigned long long)st.connect_failures, (unsigned long long)st.drops,
                (unsigned long long)st.statements, (unsigned long long)st.syncs, (unsigned long long)s->merged_stmts,
                (unsigned long long)s->merged_rows, (unsigned long long)s->merge_fallbacks,
                (unsigned long long)st.waiting, (unsigned long long)st.in_flight);
}

static const hl_store_vtable pg_vtable = {.name = "postgres", .close = pg_close, HL_STORE_VT_RECORDS, HL_STORE_VT_QUEUE,
                                          .eq_claim_head = eq_claim_head, .eq_replay = eq_replay, .purge = purge,
                                          .delivery_replay = delivery_replay, .delivery_replay_open = delivery_replay_open,
                                          .delivery_replay_undo = delivery_replay_undo,
                                          .delivered_get = delivered_get,
                                          .on_work = hl_store_pg_on_work, .render_metrics = pg_render_metrics};


int hl_store_pg_open(uv_loop_t *loop, const hl_store_pg_config *cfg, hl_store **out, char *err, size_t errlen) {
  pg_store *s = hl_calloc(1, sizeof *s);
  s->base.vt = &pg_vtable;
  s->loop = loop;
  s->wait_tail = &s->wait_head;
  for (int k = 0; k < M__COUNT; k++) s->merge_tail[k] = &s->merge_head[k];
  s->held_tail = &s->held_head;
  s->lease_ms = cfg->lease_ms ? cfg->lease_ms : 30000;
  hl_table_names_default(&s->t);
  const char **dst[] = {&s->t.schema_table, &s->t.subscription_table, &s->t.kafka_table,
                        &s->t.delivery_table, &s->t.ledger_table, &s->t.parked_table, &s->t.transform_table,
                        &s->t.partner_table, &s->t.attempt_table};
  const char *src[] = {cfg->tables.schema_table, cfg->tables.subscription_table, cfg->tables.kafka_table,
                       cfg->tables.delivery_table, cfg->tables.ledger_table, cfg->tables.parked_table,
                       cfg->tables.transform_table, cfg->tables.partner_table, cfg->tables.attempt_table};
  for (size_t i = 0; i < HL_ARRAY_SIZE(dst); i++) {
    const char *n = src[i] ? src[i] : *dst[i];
    /* Unquoted in SQL, so PostgreSQL's folding must not change it. */
    if (!hl_table_name_ok(n, 50, false)) {
      snprintf(err, errlen, "table name '%s' is not usable with PostgreSQL: use lower-case letters, digits "
               "and '_' only (at most 50)", n);
      hl_free(s);
      return HL_EINVAL;
    }
    snprintf(s->tnames[i], sizeof s->tnames[i], "%s", n);
    *dst[i] = s->tnames[i];
  }
  snprintf(s->channel, sizeof s->channel, "%s_work", s->t.delivery_table);
  char host[64] = "";
  gethostname(host, sizeof host - 1);
  snprintf(s->owner, sizeof s->owner, "%.60s/%d/%llx", host, (int)getpid(),
           (unsigned long long)(uv_hrtime() ^ (uint64_t)hl_wall_ms() << 20));
  hl_pg_opts po = {.conf = cfg->conf, .size = cfg->pool_size, .wait_ms = cfg->wait_ms,
                   .query_timeout_ms = cfg->query_timeout_ms, .listen_probe_ms = cfg->listen_probe_ms, .on_notify = on_notify, .notify_data = s};
  if (hl_pg_pool_init(&s->pool, loop, &po) != 0) {
    snprintf(err, errlen, "the PostgreSQL settings are not usable");
    hl_free(s);
    return HL_EINVAL;
  }
  hl_pg_listen(&s->pool, s->channel);
  hl_pg_pool_before_sync(&s->pool, merge_flush, s);
  prepare_all(s);
  uv_timer_init(loop, &s->retry_timer);
  uv_timer_init(loop, &s->later_timer);
  uv_timer_init(loop, &s->tick_timer);
  s->retry_timer.data = s->later_timer.data = s->tick_timer.data = s;
  /* The background tick must not keep the loop alive by itself. */
  uv_unref((uv_handle_t *)&s->tick_timer);
  hl_pg_pool_start(&s->pool);
  start_migrations(s);
  *out = &s->base;
  return 0;
}

/* --- ordered delivery ------------------------------------------------------- */

/* How soon to look again at a head that was due and unheld but locked by
 * another process (its claim, a release or a requeue in a transaction not
 * yet committed): it is held or back in the queue within that time. */
#define HEAD_BUSY_RETRY_MS 200

static void done_claim_head(pgop *op, int status) {
  hl_store_result res = {0};
  const PGresult *r = op->q[0].res;
  if (status == 0 && PQntuples(r) == 1) {
    if (!gnull(r, 0, 0)) {
      row_claimed(r, 0, &res);
      mine_claimed(op->s, &res);
    } else if (gi64(r, 0, 14)) { /* unheld: not due yet, or locked by another process */
      int64_t due = gi64(r, 0, 15);
      res.next_due_at = due > op->aux ? due : op->aux + HEAD_BUSY_RETRY_MS;
    }
    /* Held (in flight or waiting for its retry here or in another process):
     * next_due_at 0. Its holder claims the next once it is done; a lease
     * that ends is swept and announced. */
  }
  answer(op, status, &res);
}

/* --- replay ---------------------------------------------------------------- */

/* A reopen's answer: no row (not found), a row that was not terminal
 * (EINVAL), or its new generation; reopened counts an open row more. */
static void answer_replay(pgop *op, int status, bool reopened) {
  hl_store_result res = {0};
  if (status == 0) {
    if (PQntuples(op->q[0].res) == 0) {
      status = HL_ENOTFOUND;
    } else if (PQntuples(op->q[1].res) == 0) {
      status = HL_EINVAL;
    } else {
      char v[24];
      snprintf(v, sizeof v, "%lld", (long long)gi64(op->q[1].res, 0, 0));
      res.value = hl_strdup(v);
      if (reopened) op->s->backlog_delta++;
    }
  }
  answer(op, status, &res);
}

static void done_replay(pgop *op, int status) { answer_replay(op, status, true); }

/* Ordered delivery ("ordering": "fifo"): the subscription's oldest open
 * delivery in acceptance order, held, if it is unheld and due; never one
 * of its followers while it is open. One statement (Q_CLAIM_HEAD); safe
 * with any number of processes on the database: the head is locked with
 * SKIP LOCKED and checked again under the lock (unheld, open, due), so two
 * claimers never both hold it, and a row is the head only once every row
 * accepted before it is SUCCESS or FAILED. */
static void eq_claim_head(hl_store *base, const char *subscription_id, int64_t now_ms, hl_store_cb cb,
                          void *data) {
  pg_store *s = PG(base);
  pgop *op = op_new(s, done_claim_head, cb, data);
  op->aux = now_ms;
  int i = op_stmt(op, Q_CLAIM_HEAD);
  op_str(op, i, subscription_id); op_i64(op, i, now_ms); op_str(op, i, s->owner); op_i64(op, i, s->lease_ms);
  op_submit(op);
}

/* One unit: the row locked, reopened when terminal, and the instances
 * listening told that the subscription has work. */
static void eq_replay(hl_store *base, const char *event_id, const char *subscription_id, hl_store_cb cb,
                      void *data) {
  reopen_op(PG(base), done_replay, Q_REPLAY_GET, Q_REPLAY_SET, event_id, subscription_id, cb, data);
}

/* Without the event's body (Kafka keeps it on topics): the generation
 * alone, in one unit (the row locked, counted up when terminal); nothing
 * is open yet, so no instance is told of work. */
static void done_replay_row(pgop *op, int status) { answer_replay(op, status, false); }

static void delivery_replay(hl_store *base, const char *event_id, const char *subscription_id, int64_t now_ms,
                            int64_t hold_ms, hl_store_cb cb, void *data) {
  pgop *op = op_new(PG(base), done_replay_row, cb, data);
  int i = op_stmt(op, Q_REQUEUE_GET);
  op_str(op, i, event_id); op_str(op, i, subscription_id);
  i = op_stmt(op, Q_REPLAY_ROW_SET);
  op_str(op, i, event_id); op_str(op, i, subscription_id);
  op_i64(op, i, now_ms); op_i64(op, i, now_ms - hold_ms);
  op_submit(op);
}

static void delivery_replay_undo(hl_store *base, const char *event_id, const char *subscription_id, int64_t gen,
                                 int64_t marked_at, hl_store_cb cb, void *data) {
  pgop *op = op_new(PG(base), done_plain, cb, data);
  int i = op_stmt(op, Q_REPLAY_UNDO);
  op_str(op, i, event_id); op_str(op, i, subscription_id);
  op_i64(op, i, gen); op_i64(op, i, marked_at);
  op_submit(op);
}

static void done_replay_open(pgop *op, int status) {
  if (status == 0) {
    if (PQntuples(op->q[0].res) == 0) status = HL_EINVAL;
    else op->s->backlog_delta++;
  }
  done_plain(op, status);
}

static void delivery_replay_open(hl_store *base, const char *event_id, const char *subscription_id, int64_t gen,
                                 int64_t updated_at, hl_store_cb cb, void *data) {
  pgop *op = op_new(PG(base), done_replay_open, cb, data);
  int i = op_stmt(op, Q_REPLAY_OPEN);
  op_str(op, i, event_id); op_str(op, i, subscription_id); op_i64(op, i, hl_wall_ms());
  op_i64(op, i, gen); op_i64(op, i, updated_at);
  op_submit(op);
}
