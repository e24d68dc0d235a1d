/* hl_pg.h — PostgreSQL (libpq) on the libuv loop: a small pool of
 * non-blocking connections in pipeline mode.
 *
 * Statements sent during one loop turn go to one connection and leave as one
 * pipeline: every PQsendQueryParams/PQsendQueryPrepared of the turn, then one
 * PQpipelineSync from a uv_check handle at the end of the turn. The turn's
 * statements are therefore one batch and one round trip, and, PostgreSQL
 * being what it is, one implicit transaction (group commit): the server
 * commits them together at the Sync, or rolls them all back when one fails.
 *   - A failing statement gets HL_PG_ERROR with its error. The batch's
 *     statements before it were rolled back and those after it were not run:
 *     both get HL_PG_ABORTED (nothing of theirs persists; they may be sent
 *     again). Statements of later turns are not affected.
 *   - Results are held until the batch's Sync result arrives, so HL_PG_OK
 *     means committed.
 *   - No transaction control (BEGIN/COMMIT), COPY or commands that refuse to
 *     run in a transaction block (VACUUM, CREATE INDEX CONCURRENTLY) may be
 *     sent: other callers' statements share the batch. A caller that needs
 *     several statements to commit together sends them with hl_pg_send_n.
 * A batch has at most opts.max_batch statements; a turn with more is cut
 * into several batches (never inside one hl_pg_send_n unit).
 *
 * The next turn's batch goes to the connection with the fewest batches in
 * flight, so batches overlap on several connections; results come back in
 * order per connection, not across connections.
 *
 * Connections: each one resolves its host on the threadpool (uv_getaddrinfo)
 * and hands libpq `hostaddr` with `host` (so sslmode=verify-full still checks
 * the name), then PQconnectStartParams/PQconnectPoll under a uv_poll_t that
 * is re-registered after every poll step, since libpq may close the socket
 * and open another (next address, SSL retry), often on the same fd number.
 * A connection that fails or drops comes back after a capped exponential
 * back-off with jitter; a connect attempt is abandoned after
 * opts.connect_timeout_ms and a batch whose answer takes longer than
 * opts.query_timeout_ms drops its connection.
 *
 * While no connection is up, statements wait (copied) up to opts.wait_ms and
 * then fail with HL_PG_UNAVAILABLE and a message that carries the last
 * connection error, which names the variable at fault (hl_pg_conf_explain).
 *
 * Prepared statements are registered once on the pool (hl_pg_prepare) and
 * prepared on each connection on first use, in the same pipeline as that use.
 *
 * LISTEN/NOTIFY: with opts.on_notify set, one more connection (outside the
 * pool) LISTENs to the channels of hl_pg_listen and reports notifications.
 * A LISTEN that fails fails that connection: it reconnects with the back-off
 * (growing while LISTEN keeps failing, e.g. on a standby) and LISTENs again.
 * After opts.listen_probe_ms of quiet it probes the server (LISTEN on its
 * first channel again, which changes nothing) and drops the connection when
 * the answer does not come within query_timeout_ms: a listener cut off
 * without a FIN or RST is found within the sum of the two.
 *
 * Callbacks (done, on_notify, before_sync) run on the loop, never from inside a call of
 * this API, except that hl_pg_pool_close answers everything still pending.
 * A callback may send more statements or close the pool. */
#ifndef HL_PG_H
#define HL_PG_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "common/hl_buf.h"
#include "loop/hl_pg_conf.h"

typedef enum {
  HL_PG_OK,          /* executed; its batch committed */
  HL_PG_ERROR,       /* this statement failed: res holds the error (PQresultErrorField) */
  HL_PG_ABORTED,     /* another statement of its batch failed: not run, or rolled back; safe to send again */
  HL_PG_UNAVAILABLE, /* never ran: no connection within wait_ms, the connection broke before
                        the batch was sent, or the pool closed */
  HL_PG_LOST,        /* sent, but the connection broke before the batch's outcome came back:
                        it may or may not have committed */
} hl_pg_status;

const char *hl_pg_status_name(hl_pg_status st);

typedef struct hl_pg_query hl_pg_query;

/* Runs exactly once per accepted statement. res is the callee's: it may be
 * NULL (UNAVAILABLE, LOST, a send refused by libpq), and otherwise must be
 * released with PQclear, now or later. For OK and ABORTED-after-running it
 * holds the rows; for ERROR the error. msg (never NULL; "" for OK) is valid
 * during the call only. q may be freed or reused inside the callback. */
typedef void (*hl_pg_done_cb)(hl_pg_query *q, hl_pg_status st, PGresult *res, const char *msg);

/* One statement, embedded by the caller in its own struct (hl_container_of
 * in done) and owned by it; it must stay alive until done runs. Set the
 * public fields, then hl_pg_send. sql, values, lengths and formats are read
 * during hl_pg_send only (libpq copies them, or they are copied to wait). */
struct hl_pg_query {
  const char *sql;             /* SQL with $1..$n, or NULL to run prepared statement `stmt` */
  int stmt;                    /* an id from hl_pg_prepare when sql is NULL */
  int nparams;
  const char *const *values;   /* nparams values; NULL entries are SQL NULL */
  const int *lengths;          /* NULL, or the byte lengths of binary values */
  const int *formats;          /* NULL (all text), or 1 per binary value */
  int result_format;           /* 0 text, 1 binary */
  hl_pg_done_cb done;
  /* Private. */
  hl_pg_query *next;
  PGresult *res;               /* held until the batch's Sync */
  uint64_t deadline_ms;        /* waiting: when it fails */
  uint32_t unit;               /* first of a unit: its length (hl_pg_send_n) */
  char *held;                  /* waiting: one allocation with copies of sql and the values */
};

typedef void (*hl_pg_notify_cb)(void *data, const char *channel, const char *payload, int be_pid);

typedef struct {
  const hl_pg_conf *conf;      /* copied by init */
  int size;                    /* connections in the pool (default 2) */
  uint32_t wait_ms;            /* how long a statement waits for a connection (default 5000) */
  uint32_t connect_timeout_ms; /* one attempt, DNS to ready (default 10000) */
  uint32_t query_timeout_ms;   /* a batch's answer (default 30000) */
  uint32_t listen_probe_ms;    /* the listener's quiet before it probes the server (default 10000) */
  uint32_t backoff_base_ms;    /* first reconnect delay (default 100) */
  uint32_t backoff_cap_ms;     /* longest reconnect delay (default 10000) */
  uint32_t max_batch;          /* statements per Sync (default 1024) */
  size_t max_waiting;          /* statements waiting for a connection (default 100000) */
  /* Notifications from hl_pg_listen's channels. channel == NULL means "now
   * listening" (at start and after every reconnect of the listening
   * connection): notifications sent meanwhile were missed, so look again. */
  hl_pg_notify_cb on_notify;
  void *notify_data;
} hl_pg_opts;

typedef struct {
  int ready;                   /* pool connections up now */
  bool listening;              /* the LISTEN connection is up and subscribed */
  uint64_t connects;           /* connections made (all, including the listener) */
  uint64_t connect_failures;   /* attempts that failed or timed out */
  uint64_t drops;              /* connections lost after they were up */
  uint64_t statements;         /* statements sent */
  uint64_t syncs;              /* batches sent (PQpipelineSync) */
  uint64_t write_waits;        /* times libpq's output waited for the socket to be writable */
  uint64_t waiting;            /* statements waiting for a connection now */
  uint64_t in_flight;          /* statements sent and not yet answered */
} hl_pg_stats;

typedef struct hl_pg_conn hl_pg_conn;

typedef struct hl_pg_pool {
  uv_loop_t *loop;
  hl_pg_opts opt;
  hl_pg_conf conf;             /* owned copy */
  hl_pg_conn *conns;           /* opt.size pool connections, then the listener if any */
  int nconns;
  hl_pg_conn *cur;             /* takes this turn's statements */
  uv_check_t turn_end;         /* syncs the turn's batches */
  uv_idle_t keep_turning;      /* keeps the poll phase from blocking while a batch is open */
  uv_timer_t wait_timer;       /* the first waiting statement's deadline */
  hl_pg_query *wait_head, *wait_tail;
  struct hl_pg_prep *preps;    /* registered prepared statements */
  int npreps;
  char **channels;             /* LISTEN channels */
  int nchannels;
  hl_pg_stats st;
  hl_buf last_error;           /* the last connection failure, explained */
  int depth;                   /* inside a handler of ours: close waits for the outermost */
  bool started, close_requested, closing;
  int outstanding;             /* uv handles being closed and lookups running: freed when 0 */
  void (*before_sync)(void *data); /* hl_pg_pool_before_sync */
  void *before_sync_data;
  void (*close_cb)(void *data);
  void *close_data;
} hl_pg_pool;

/* Copies opts (and the conf); connects nothing yet. Returns 0 or HL_EINVAL. */
int hl_pg_pool_init(hl_pg_pool *p, uv_loop_t *loop, const hl_pg_opts *opts);
/* Starts connecting every connection. */
void hl_pg_pool_start(hl_pg_pool *p);
/* Registers a statement to prepare on each connection on first use; returns
 * its id (>= 0) for hl_pg_query.stmt. types may be NULL (the server infers). */
int hl_pg_prepare(hl_pg_pool *p, const char *sql, int nparams, const Oid *types);
/* Adds a LISTEN channel (the name as is, quoted when sent). Needs on_notify. */
int hl_pg_listen(hl_pg_pool *p, const char *channel);

/* Accepts q: 0, and done runs exactly once later. Or refuses it: HL_EINVAL
 * (no sql nor a known stmt, no done), HL_ECLOSED (closing), HL_EBUSY
 * (max_waiting statements wait already); done never runs then. */
int hl_pg_send(hl_pg_pool *p, hl_pg_query *q);
/* n statements that commit together: the same batch, in this order. All are
 * accepted or none. */
int hl_pg_send_n(hl_pg_pool *p, hl_pg_query *const *qs, int n);

/* cb runs at the end of every loop turn in which statements were sent or
 * hl_pg_pool_want_sync was called, before the turn's batches are synced:
 * what it sends joins them. A caller that gathers a turn's rows into one
 * statement sends it from there. One cb per pool; NULL removes it. */
void hl_pg_pool_before_sync(hl_pg_pool *p, void (*cb)(void *data), void *data);
/* Makes sure the end of this turn comes (and before_sync runs) even if no
 * statement is sent in it. */
void hl_pg_pool_want_sync(hl_pg_pool *p);

void hl_pg_pool_stats(const hl_pg_pool *p, hl_pg_stats *out);
/* The last connection failure ("DATABASE_PASSWORD: ..."), or "" if none. */
const char *hl_pg_pool_last_error(const hl_pg_pool *p);
/* Statements accepted and not yet answered. */
size_t hl_pg_pool_pending(const hl_pg_pool *p);

/* Closes every connection; statements not answered yet are answered now
 * (UNAVAILABLE if never sent, LOST if sent). cb runs once every handle is
 * closed; then p may be freed. Called from a callback of this pool, the
 * close happens when that callback returns. */
void hl_pg_pool_close(hl_pg_pool *p, void (*cb)(void *data), void *data);

/* A parameter of array type in PostgreSQL's binary form (send it with
 * format 1): hl_pg_array_start writes the header of a one-dimensional
 * array of n elements of type elem (an OID: 25 is text) into the empty b,
 * then hl_pg_array_add appends each element's bytes in that type's binary
 * form (text: the bytes themselves); v NULL is SQL NULL. One array per b. */
void hl_pg_array_start(hl_buf *b, Oid elem, int n);
void hl_pg_array_add(hl_buf *b, const void *v, size_t len);

/* The reconnect delay before attempt n (0-based) after failures: the
 * exponential step min(cap, base * 2^n), less up to half of it at random
 * (r: a random 32-bit number). Never under half the step, unlike the AWS
 * client's full jitter (hl_aws_backoff_ms, which may be 0): N connections to
 * a server that refuses them must not come back at once in a tight loop. */
uint32_t hl_pg_backoff_ms(uint32_t base, uint32_t cap, unsigned attempt, uint32_t r);

#endif
