/* libpq on the loop (src/loop/hl_pg.c) against a real PostgreSQL 15 server
 * started for each test in a temporary directory (tests/harness/hl_pgsrv.h). */
#include "hl_pgsrv.h"
#include "hl_test.h"
#include "hl_testutil.h"
#include "pg_util.h"
#include "common/hl_common.h"

#include <arpa/inet.h>
#include <signal.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static hl_pgsrv srv;
static hl_pg_pool pool;
static hl_pg_conf conf;

static void start_server(const hl_pgsrv_opts *o) { HL_ASSERT_MSG(hl_pgsrv_start(&srv, o) == 0, "server start"); }

static void load_conf(pg_env *e) {
  hl_buf err = HL_BUF_INIT;
  int rc = hl_pg_conf_load(&conf, pg_env_lookup, e, &err);
  HL_ASSERT_MSG(rc == 0, "conf: %s", err.data ? err.data : "");
  hl_buf_dispose(&err);
}

/* Tests that are not about the wait bound get a generous one: a statement
 * sent before the first connection is up waits for it, however busy the
 * machine. */
#define TEST_WAIT_MS 30000

static void start_pool(hl_pg_opts *o) {
  o->conf = &conf;
  if (!o->wait_ms) o->wait_ms = TEST_WAIT_MS;
  HL_ASSERT_EQ_INT(hl_pg_pool_init(&pool, uv_default_loop(), o), 0);
  hl_pg_conf_dispose(&conf);
  hl_pg_pool_start(&pool);
}

/* A pool on srv set up through the Aurora variables; not started
 * (prepared statements and channels are registered first). */
static void open_pool_on_server(hl_pg_opts o) {
  pg_env e = {0};
  pg_env_aurora(&e, &srv);
  load_conf(&e);
  o.conf = &conf;
  if (!o.wait_ms) o.wait_ms = TEST_WAIT_MS;
  HL_ASSERT_EQ_INT(hl_pg_pool_init(&pool, uv_default_loop(), &o), 0);
  hl_pg_conf_dispose(&conf);
}

/* The same on a fresh server. */
static void open_pool(hl_pg_opts o) {
  start_server(NULL);
  open_pool_on_server(o);
}

static void start_on_server(hl_pg_opts o) {
  open_pool(o);
  hl_pg_pool_start(&pool);
}

static void finish(void) {
  pg_close_all(uv_default_loop(), &pool);
  hl_pgsrv_destroy(&srv);
}

static bool ready_n(void *data) { return pool.st.ready >= *(int *)data; }

static void wait_ready(int n) {
  HL_ASSERT_MSG(pg_run_until(uv_default_loop(), ready_n, &n, 20000), "%d connections up (last error: %s)", n,
                hl_pg_pool_last_error(&pool));
}

/* Sends one statement and waits for its answer. */
static void run1(pg_rec *r) {
  HL_ASSERT_EQ_INT(hl_pg_send(&pool, &r->q), 0);
  HL_ASSERT_MSG(pg_wait_all(uv_default_loop(), r, 1, 20000), "no answer to statement %d", r->i);
}

static void send_ok(pg_rec *r, const char *sql) {
  pg_rec_sql(r, sql, NULL, NULL);
  run1(r);
  HL_ASSERT_MSG(r->st == HL_PG_OK, "%s: %s %s", sql, hl_pg_status_name(r->st), r->msg);
}

/* --- connecting and the first statement ----------------------------------- */

HL_TEST(connects_with_the_aurora_variables_and_answers_a_statement) {
  start_on_server((hl_pg_opts){.size = 2});
  pg_rec r = {0};
  pg_rec_sql(&r, "SELECT $1::int + 1, current_user", "41", NULL);
  run1(&r); /* sent before any connection is up: it waits, then runs */
  HL_ASSERT_MSG(r.st == HL_PG_OK, "%s %s", hl_pg_status_name(r.st), r.msg);
  HL_ASSERT_EQ_STR(r.v0, "42");
  HL_ASSERT_EQ_STR(r.v1, HL_PGSRV_USER);
  wait_ready(2);
  hl_pg_stats st;
  hl_pg_pool_stats(&pool, &st);
  HL_ASSERT_EQ_INT(st.connects, 2);
  HL_ASSERT_EQ_INT(st.connect_failures, 0);
  HL_ASSERT_EQ_INT(hl_pg_pool_pending(&pool), 0);
  finish();
}

HL_TEST(a_database_url_with_a_host_name_is_resolved_and_connects) {
  start_server(NULL);
  pg_env e = {0};
  char url[300];
  snprintf(url, sizeof url, "postgresql://%s:%s@localhost:%d/%s?sslmode=disable&application_name=pgtest",
           HL_PGSRV_USER, HL_PGSRV_PASSWORD, srv.port, HL_PGSRV_DB);
  pg_env_set(&e, "DATABASE_URL", url);
  load_conf(&e);
  start_pool(&(hl_pg_opts){.size = 1});
  pg_rec r = {0};
  pg_rec_sql(&r, "SELECT current_setting('application_name'), inet_server_addr()::text", NULL, NULL);
  run1(&r);
  HL_ASSERT_MSG(r.st == HL_PG_OK, "%s", r.msg);
  HL_ASSERT_EQ_STR(r.v0, "pgtest");
  /* The server listens on 127.0.0.1 only: "localhost" was looked up and
   * every address tried (::1 first on most systems, refused). */
  HL_ASSERT_EQ_STR(r.v1, "127.0.0.1/32");
  finish();
}

/* libpq closes a socket and opens another inside one PQconnectPoll (next
 * host, next address); the new one usually gets the same fd number and
 * wants the same event (writable: connect in progress). The poll must be
 * registered again or epoll never reports the new socket. */
HL_TEST(a_refused_first_host_is_followed_by_the_next_one_on_a_new_socket) {
  start_server(NULL);
  int refused = 0;
  int held = hl_hold_port(&refused); /* bound, not listening: connections are refused */
  HL_ASSERT(held >= 0);
  char url[300];
  snprintf(url, sizeof url, "postgresql://%s:%s@127.0.0.1:%d,127.0.0.1:%d/%s?sslmode=disable", HL_PGSRV_USER,
           HL_PGSRV_PASSWORD, refused, srv.port, HL_PGSRV_DB);
  pg_env e = {0};
  pg_env_set(&e, "DATABASE_URL", url);
  load_conf(&e);
  start_pool(&(hl_pg_opts){.size = 1, .connect_timeout_ms = 20000});
  pg_rec r = {0};
  pg_rec_sql(&r, "SELECT inet_server_port()::text", NULL, NULL);
  run1(&r);
  HL_ASSERT_MSG(r.st == HL_PG_OK, "%s %s", hl_pg_status_name(r.st), r.msg);
  char port[16];
  snprintf(port, sizeof port, "%d", srv.port);
  HL_ASSERT_EQ_STR(r.v0, port);
  HL_ASSERT_EQ_INT(pool.st.connect_failures, 0);
  close(held);
  finish();
}

/* --- pipelining ------------------------------------------------------------ */

#define NPIPE 200

/* All statements of one turn leave as one pipeline with one Sync, so the
 * server runs them in one implicit transaction: they all see the same
 * transaction id. It runs them only as they arrive and sends nothing back
 * before the Sync, so one transaction means one round trip. Statements sent
 * one per turn get one transaction each. */
HL_TEST(a_turns_statements_are_one_round_trip_in_order) {
  start_on_server((hl_pg_opts){.size = 2});
  wait_ready(2);
  static pg_rec rs[NPIPE];
  static char nums[NPIPE][8];
  uint64_t syncs0 = pool.st.syncs, stmts0 = pool.st.statements;
  int base = pg_answers;
  for (int i = 0; i < NPIPE; i++) { /* one turn: nothing runs the loop in between */
    snprintf(nums[i], sizeof nums[i], "%d", i);
    rs[i].i = i;
    pg_rec_sql(&rs[i], "SELECT $1::int, pg_current_xact_id()::text", nums[i], NULL);
    HL_ASSERT_EQ_INT(hl_pg_send(&pool, &rs[i].q), 0);
  }
  HL_ASSERT(pg_wait_all(uv_default_loop(), rs, NPIPE, 20000));
  for (int i = 0; i < NPIPE; i++) {
    HL_ASSERT_MSG(rs[i].st == HL_PG_OK, "%d: %s", i, rs[i].msg);
    HL_ASSERT_EQ_STR(rs[i].v0, nums[i]);
    HL_ASSERT_EQ_INT(rs[i].order, base + i + 1); /* answered in order */
    HL_ASSERT_EQ_STR(rs[i].v1, rs[0].v1);        /* one transaction */
  }
  HL_ASSERT_EQ_INT(pool.st.syncs - syncs0, 1);
  HL_ASSERT_EQ_INT(pool.st.statements - stmts0, NPIPE);
  printf("  %d statements in one turn: %llu Sync, transaction %s\n", NPIPE,
         (unsigned long long)(pool.st.syncs - syncs0), rs[0].v1);
  finish();
}

/* One statement per turn: each sent from the previous one's callback. */
#define NCHAIN 20
static pg_rec chain[NCHAIN];
static int chain_next;

static void chain_done(hl_pg_query *q, hl_pg_status st, PGresult *res, const char *msg);

static void chain_send(void) {
  pg_rec *r = &chain[chain_next];
  r->i = chain_next++;
  pg_rec_sql(r, "SELECT pg_current_xact_id()::text", NULL, NULL);
  r->q.done = chain_done;
  HL_ASSERT_EQ_INT(hl_pg_send(&pool, &r->q), 0);
}

static void chain_done(hl_pg_query *q, hl_pg_status st, PGresult *res, const char *msg) {
  pg_rec *r = (pg_rec *)q;
  r->done = true;
  r->st = st;
  snprintf(r->msg, sizeof r->msg, "%s", msg);
  if (res && PQntuples(res) > 0) snprintf(r->v0, sizeof r->v0, "%s", PQgetvalue(res, 0, 0));
  PQclear(res);
  if (chain_next < NCHAIN) chain_send();
}

HL_TEST(statements_sent_in_separate_turns_are_separate_round_trips) {
  start_on_server((hl_pg_opts){.size = 1});
  wait_ready(1);
  uint64_t syncs0 = pool.st.syncs;
  chain_send();
  HL_ASSERT(pg_wait_all(uv_default_loop(), chain, NCHAIN, 20000));
  for (int i = 0; i < NCHAIN; i++) {
    HL_ASSERT_MSG(chain[i].st == HL_PG_OK, "%s", chain[i].msg);
    for (int j = 0; j < i; j++) HL_ASSERT(strcmp(chain[i].v0, chain[j].v0) != 0);
  }
  HL_ASSERT_EQ_INT(pool.st.syncs - syncs0, NCHAIN);
  finish();
}

/* A failing statement aborts its own batch only: the batch is one implicit
 * transaction, so the statements before it are rolled back and those after
 * it are not run; the next turn's batch runs normally on the same
 * connection. */
HL_TEST(a_failing_statement_aborts_its_batch_and_nothing_else) {
  start_on_server((hl_pg_opts){.size = 1});
  HL_ASSERT_EQ_INT(hl_pgsrv_exec(&srv, "CREATE TABLE t (x int PRIMARY KEY); GRANT ALL ON t TO " HL_PGSRV_USER, NULL, 0), 0);
  pg_rec pid0 = {0};
  send_ok(&pid0, "SELECT pg_backend_pid()::text");
  pg_rec b[4] = {{.i = 0}, {.i = 1}, {.i = 2}, {.i = 3}};
  pg_rec_sql(&b[0], "INSERT INTO t VALUES (1)", NULL, NULL);
  pg_rec_sql(&b[1], "INSERT INTO t VALUES (2)", NULL, NULL);
  pg_rec_sql(&b[2], "SELECT 1/0", NULL, NULL);
  pg_rec_sql(&b[3], "INSERT INTO t VALUES (3)", NULL, NULL);
  for (int i = 0; i < 4; i++) HL_ASSERT_EQ_INT(hl_pg_send(&pool, &b[i].q), 0);
  HL_ASSERT(pg_wait_all(uv_default_loop(), b, 4, 20000));
  HL_ASSERT_EQ_INT(b[0].st, HL_PG_ABORTED);
  HL_ASSERT_MSG(strncmp(b[0].msg, "rolled back: statement 3 of its batch failed", 44) == 0, "%s", b[0].msg);
  HL_ASSERT_EQ_INT(b[1].st, HL_PG_ABORTED);
  HL_ASSERT_EQ_INT(b[2].st, HL_PG_ERROR);
  HL_ASSERT_EQ_STR(b[2].sqlstate, "22012");
  HL_ASSERT_MSG(strstr(b[2].msg, "division by zero"), "%s", b[2].msg);
  HL_ASSERT_EQ_INT(b[3].st, HL_PG_ABORTED);
  HL_ASSERT_MSG(strncmp(b[3].msg, "not run: statement 3", 20) == 0, "%s", b[3].msg);
  pg_rec after = {0}, pid1 = {0};
  send_ok(&after, "INSERT INTO t VALUES (4)");
  send_ok(&pid1, "SELECT pg_backend_pid()::text");
  HL_ASSERT_EQ_STR(pid1.v0, pid0.v0); /* the same connection carried on */
  HL_ASSERT_EQ_INT(pool.st.drops, 0);
  char rows[64];
  HL_ASSERT_EQ_INT(hl_pgsrv_exec(&srv, "SELECT string_agg(x::text, ',' ORDER BY x) FROM t", rows, sizeof rows), 0);
  HL_ASSERT_EQ_STR(rows, "4"); /* 1 and 2 rolled back, 3 never ran */
  finish();
}

/* hl_pg_send_n: a unit is never cut by max_batch; statements around it are. */
HL_TEST(a_unit_of_statements_is_never_split_across_batches) {
  start_on_server((hl_pg_opts){.size = 1, .max_batch = 4});
  wait_ready(1);
  uint64_t syncs0 = pool.st.syncs;
  pg_rec r[7];
  hl_pg_query *unit[4];
  for (int i = 0; i < 7; i++) {
    r[i].i = i;
    pg_rec_sql(&r[i], "SELECT pg_current_xact_id()::text", NULL, NULL);
  }
  for (int i = 0; i < 3; i++) HL_ASSERT_EQ_INT(hl_pg_send(&pool, &r[i].q), 0);
  for (int i = 0; i < 4; i++) unit[i] = &r[3 + i].q;
  HL_ASSERT_EQ_INT(hl_pg_send_n(&pool, unit, 4), 0); /* 3 + 4 > 4: a new batch for the unit */
  HL_ASSERT(pg_wait_all(uv_default_loop(), r, 7, 20000));
  for (int i = 0; i < 7; i++) HL_ASSERT_MSG(r[i].st == HL_PG_OK, "%s", r[i].msg);
  HL_ASSERT_EQ_INT(pool.st.syncs - syncs0, 2);
  HL_ASSERT_EQ_STR(r[1].v0, r[0].v0);
  HL_ASSERT_EQ_STR(r[2].v0, r[0].v0);
  HL_ASSERT(strcmp(r[3].v0, r[0].v0) != 0);
  for (int i = 4; i < 7; i++) HL_ASSERT_EQ_STR(r[i].v0, r[3].v0);
  finish();
}

/* A turn's output larger than the socket buffers: libpq's PQflush leaves
 * some behind and the connection waits for writability (while reading, so
 * the server never stalls on its own output). The first statement keeps the
 * server from reading for a while, so the buffers do fill, whatever the
 * machine's speed. max_batch cuts the turn into batches. */
HL_TEST(a_large_turn_is_flushed_as_the_socket_drains) {
  start_on_server((hl_pg_opts){.size = 1, .max_batch = 50});
  wait_ready(1);
  enum { N = 120, SZ = 64 * 1024 };
  static pg_rec r[N];
  char *blob = malloc(SZ + 1);
  memset(blob, 'x', SZ);
  blob[SZ] = '\0';
  uint64_t syncs0 = pool.st.syncs;
  pg_rec busy = {0};
  pg_rec_sql(&busy, "SELECT pg_sleep(1)", NULL, NULL);
  HL_ASSERT_EQ_INT(hl_pg_send(&pool, &busy.q), 0);
  for (int i = 0; i < N; i++) {
    r[i].i = i;
    pg_rec_sql(&r[i], "SELECT length($1)::text", blob, NULL);
    HL_ASSERT_EQ_INT(hl_pg_send(&pool, &r[i].q), 0);
  }
  free(blob); /* values are read during hl_pg_send only */
  HL_ASSERT(pg_wait_all(uv_default_loop(), r, N, 60000));
  char want[16];
  snprintf(want, sizeof want, "%d", SZ);
  for (int i = 0; i < N; i++) {
    HL_ASSERT_MSG(r[i].st == HL_PG_OK, "%d: %s", i, r[i].msg);
    HL_ASSERT_EQ_STR(r[i].v0, want);
    if (i) HL_ASSERT(r[i].order > r[i - 1].order);
  }
  HL_ASSERT_MSG(busy.st == HL_PG_OK && busy.order < r[0].order, "%s", busy.msg);
  HL_ASSERT_EQ_INT(pool.st.syncs - syncs0, 3); /* 1 + 49 (cut before the 51st), 50, 21 */
  HL_ASSERT(pool.st.write_waits > 0);
  printf("  %d x %d KB: %llu waits for writability\n", N, SZ / 1024, (unsigned long long)pool.st.write_waits);
  finish();
}

/* --- prepared statements --------------------------------------------------- */

static bool is_done(void *data) { return ((pg_rec *)data)->done; }

HL_TEST(prepared_statements_are_prepared_on_each_connection_at_first_use) {
  open_pool((hl_pg_opts){.size = 2});
  int dbl = hl_pg_prepare(&pool, "SELECT $1::int * 2, pg_backend_pid()", 1, NULL);
  int bad = hl_pg_prepare(&pool, "SELECT x FROM no_such_table", 0, NULL);
  HL_ASSERT_EQ_INT(dbl, 0);
  HL_ASSERT_EQ_INT(bad, 1);
  hl_pg_pool_start(&pool);
  wait_ready(2);
  /* Connection A is busy with a slow batch, so the next turn goes to B. */
  pg_rec slow = {0}, a = {0}, b = {0};
  pg_rec_sql(&slow, "SELECT pg_sleep(2)", NULL, NULL);
  pg_rec_prepared(&a, dbl, "21");
  HL_ASSERT_EQ_INT(hl_pg_send(&pool, &slow.q), 0);
  HL_ASSERT_EQ_INT(hl_pg_send(&pool, &a.q), 0);
  pg_run_until(uv_default_loop(), is_done, &slow, 50); /* a turn or more: A's batch is out */
  pg_rec_prepared(&b, dbl, "5");
  run1(&b);
  HL_ASSERT(pg_wait_all(uv_default_loop(), &a, 1, 20000));
  HL_ASSERT_MSG(a.st == HL_PG_OK && b.st == HL_PG_OK, "%s / %s", a.msg, b.msg);
  HL_ASSERT_EQ_STR(a.v0, "42");
  HL_ASSERT_EQ_STR(b.v0, "10");
  HL_ASSERT(strcmp(a.v1, b.v1) != 0); /* two backends, each prepared it */
  HL_ASSERT(pg_wait_all(uv_default_loop(), &slow, 1, 20000));
  HL_ASSERT_MSG(slow.st == HL_PG_OK, "%s", slow.msg);
  /* Used again on a connection that has it: no second Prepare (which would
   * fail: the name exists). */
  pg_rec again = {0};
  pg_rec_prepared(&again, dbl, "1");
  run1(&again);
  HL_ASSERT_MSG(again.st == HL_PG_OK, "%s", again.msg);
  /* A statement that cannot be prepared reports the Prepare's error, and
   * the next statement of its batch is not run. */
  pg_rec x = {0}, y = {0};
  pg_rec_prepared(&x, bad, NULL);
  pg_rec_sql(&y, "SELECT 1", NULL, NULL);
  HL_ASSERT_EQ_INT(hl_pg_send(&pool, &x.q), 0);
  HL_ASSERT_EQ_INT(hl_pg_send(&pool, &y.q), 0);
  HL_ASSERT(pg_run_until(uv_default_loop(), is_done, &y, 20000));
  HL_ASSERT(x.done);
  HL_ASSERT_EQ_INT(x.st, HL_PG_ERROR);
  HL_ASSERT_EQ_STR(x.sqlstate, "42P01");
  HL_ASSERT_EQ_INT(y.st, HL_PG_ABORTED);
  /* Tried again on next use, and fails the same way (not "does not exist"). */
  pg_rec x2 = {0};
  pg_rec_prepared(&x2, bad, NULL);
  run1(&x2);
  HL_ASSERT_EQ_INT(x2.st, HL_PG_ERROR);
  HL_ASSERT_EQ_STR(x2.sqlstate, "42P01");
  HL_ASSERT_EQ_INT(pool.st.drops, 0);
  finish();
}

/* A statement first used after a failing one in its batch was never
 * prepared (its Prepare was skipped with the batch): its next use prepares
 * it again instead of failing with "does not exist" on that connection
 * for good. */
HL_TEST(a_prepare_skipped_with_its_batch_is_prepared_again) {
  open_pool((hl_pg_opts){.size = 1});
  int dbl = hl_pg_prepare(&pool, "SELECT $1::int * 2", 1, NULL);
  hl_pg_pool_start(&pool);
  wait_ready(1);
  pg_rec fail = {0}, first = {0};
  pg_rec_sql(&fail, "SELECT 1/0", NULL, NULL);
  pg_rec_prepared(&first, dbl, "4");
  HL_ASSERT_EQ_INT(hl_pg_send(&pool, &fail.q), 0);
  HL_ASSERT_EQ_INT(hl_pg_send(&pool, &first.q), 0);
  HL_ASSERT(pg_wait_all(uv_default_loop(), &first, 1, 20000));
  HL_ASSERT(pg_wait_all(uv_default_loop(), &fail, 1, 20000));
  HL_ASSERT_EQ_INT(fail.st, HL_PG_ERROR);
  HL_ASSERT_EQ_INT(first.st, HL_PG_ABORTED);
  pg_rec again = {0};
  pg_rec_prepared(&again, dbl, "21");
  run1(&again);
  HL_ASSERT_MSG(again.st == HL_PG_OK, "%s %s", hl_pg_status_name(again.st), again.msg);
  HL_ASSERT_EQ_STR(again.v0, "42");
  HL_ASSERT_EQ_INT(pool.st.drops, 0);
  finish();
}

/* --- failures and recovery ------------------------------------------------- */

static bool drops_and_ready(void *data) {
  int *want = data;
  return pool.st.drops >= (uint64_t)want[0] && pool.st.ready >= want[1];
}

HL_TEST(a_terminated_backend_is_replaced) {
  start_on_server((hl_pg_opts){.size = 1, .backoff_base_ms = 50});
  pg_rec p0 = {0};
  send_ok(&p0, "SELECT pg_backend_pid()::text");
  char sql[200], out[16];
  snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%s)::text", p0.v0);
  HL_ASSERT_EQ_INT(hl_pgsrv_exec(&srv, sql, out, sizeof out), 0);
  HL_ASSERT_EQ_STR(out, "true");
  int want[2] = {1, 1};
  HL_ASSERT_MSG(pg_run_until(uv_default_loop(), drops_and_ready, want, 20000), "reconnected (%s)",
                hl_pg_pool_last_error(&pool));
  HL_ASSERT_MSG(strncmp(hl_pg_pool_last_error(&pool), "connection lost: ", 17) == 0, "%s",
                hl_pg_pool_last_error(&pool));
  pg_rec p1 = {0};
  send_ok(&p1, "SELECT pg_backend_pid()::text");
  HL_ASSERT(strcmp(p0.v0, p1.v0) != 0);
  HL_ASSERT_EQ_INT(pool.st.connects, 2);
  finish();
}

HL_TEST(a_server_restart_is_recovered_from_by_itself) {
  start_on_server((hl_pg_opts){.size = 2, .backoff_base_ms = 50, .backoff_cap_ms = 500});
  wait_ready(2);
  HL_ASSERT_EQ_INT(hl_pgsrv_restart(&srv), 0); /* pg_ctl restart -m fast */
  int want[2] = {2, 2};
  HL_ASSERT_MSG(pg_run_until(uv_default_loop(), drops_and_ready, want, 30000), "both back (%s)",
                hl_pg_pool_last_error(&pool));
  pg_rec r = {0};
  send_ok(&r, "SELECT 1");
  finish();
}

static bool none_ready(void *data) { (void)data; return pool.st.ready == 0; }
static bool failed_once(void *data) { (void)data; return pool.st.connect_failures >= 1; }

/* While the server is down, statements wait wait_ms and then fail
 * UNAVAILABLE with the last connection error; sent while it comes back,
 * they run once a connection is up. */
HL_TEST(statements_in_an_outage_fail_after_the_bounded_wait_then_succeed_after_recovery) {
  const uint32_t wait = 1500;
  start_on_server((hl_pg_opts){.size = 2, .wait_ms = wait, .backoff_base_ms = 20, .backoff_cap_ms = 100});
  wait_ready(2);
  HL_ASSERT_EQ_INT(hl_pgsrv_stop(&srv), 0);
  HL_ASSERT(pg_run_until(uv_default_loop(), none_ready, NULL, 20000));
  HL_ASSERT(pg_run_until(uv_default_loop(), failed_once, NULL, 20000)); /* a refused attempt: the last error */
  pg_rec r[3];
  uv_update_time(uv_default_loop());
  uint64_t t0 = uv_now(uv_default_loop());
  for (int i = 0; i < 3; i++) {
    r[i].i = i;
    pg_rec_sql(&r[i], "SELECT 1", NULL, NULL);
    HL_ASSERT_EQ_INT(hl_pg_send(&pool, &r[i].q), 0);
  }
  HL_ASSERT_EQ_INT(hl_pg_pool_pending(&pool), 3);
  HL_ASSERT(pg_wait_all(uv_default_loop(), r, 3, 20000));
  for (int i = 0; i < 3; i++) {
    HL_ASSERT_EQ_INT(r[i].st, HL_PG_UNAVAILABLE);
    HL_ASSERT_MSG(strstr(r[i].msg, "no PostgreSQL connection within 1500 ms: AURORA_ENDPOINT/DATABASE_PORT: "),
                  "%s", r[i].msg);
    HL_ASSERT(r[i].done_at - t0 >= wait); /* it did wait */
  }
  printf("  outage answer: %s\n", r[0].msg);
  HL_ASSERT(pool.st.connect_failures >= 2);
  /* Back: sent before any connection is up again, run after. The wait
   * bound is read when a statement starts waiting; a generous one here, so
   * the reconnect's speed on a busy machine does not matter. */
  pool.opt.wait_ms = 60000;
  HL_ASSERT_EQ_INT(hl_pgsrv_resume(&srv), 0);
  pg_rec after = {0};
  pg_rec_sql(&after, "SELECT 7", NULL, NULL);
  HL_ASSERT_EQ_INT(pool.st.ready, 0);
  run1(&after);
  HL_ASSERT_MSG(after.st == HL_PG_OK, "%s %s", hl_pg_status_name(after.st), after.msg);
  HL_ASSERT_EQ_STR(after.v0, "7");
  finish();
}

/* A batch in flight when the connection dies is LOST (it may have
 * committed); the connection comes back. */
HL_TEST(a_batch_in_flight_when_the_backend_dies_is_lost) {
  start_on_server((hl_pg_opts){.size = 1, .backoff_base_ms = 50});
  pg_rec p0 = {0};
  send_ok(&p0, "SELECT pg_backend_pid()::text");
  pg_rec slow = {0};
  pg_rec_sql(&slow, "SELECT pg_sleep(30)", NULL, NULL);
  HL_ASSERT_EQ_INT(hl_pg_send(&pool, &slow.q), 0);
  pg_run_for(uv_default_loop(), 100); /* sent and running */
  HL_ASSERT(!slow.done);
  char sql[200];
  snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%s)", p0.v0);
  HL_ASSERT_EQ_INT(hl_pgsrv_exec(&srv, sql, NULL, 0), 0);
  HL_ASSERT(pg_wait_all(uv_default_loop(), &slow, 1, 20000));
  HL_ASSERT_EQ_INT(slow.st, HL_PG_LOST);
  HL_ASSERT_MSG(strstr(slow.msg, "may have committed"), "%s", slow.msg);
  pg_rec r = {0};
  send_ok(&r, "SELECT 1");
  finish();
}

/* --- LISTEN/NOTIFY --------------------------------------------------------- */

static int listening_reports;
static char payloads[8][64];
static int npayloads;

static void on_notify(void *data, const char *channel, const char *payload, int be_pid) {
  (void)data;
  (void)be_pid;
  if (!channel) {
    listening_reports++;
    return;
  }
  HL_ASSERT_EQ_STR(channel, "hl_wake");
  HL_ASSERT(npayloads < 8);
  snprintf(payloads[npayloads++], sizeof payloads[0], "%s", payload);
}

static bool reports_at_least(void *data) { return listening_reports >= *(int *)data; }
static bool payloads_at_least(void *data) { return npayloads >= *(int *)data; }

HL_TEST(notifications_wake_the_listener_also_after_it_reconnects) {
  open_pool((hl_pg_opts){.size = 1, .backoff_base_ms = 50, .on_notify = on_notify});
  HL_ASSERT_EQ_INT(hl_pg_listen(&pool, "hl_wake"), 0);
  hl_pg_pool_start(&pool);
  int one = 1, two = 2;
  HL_ASSERT(pg_run_until(uv_default_loop(), reports_at_least, &one, 20000));
  HL_ASSERT(pool.st.listening);
  pg_rec n1 = {0};
  send_ok(&n1, "SELECT pg_notify('hl_wake', 'first')");
  HL_ASSERT(pg_run_until(uv_default_loop(), payloads_at_least, &one, 20000));
  HL_ASSERT_EQ_STR(payloads[0], "first");
  /* Kill the listening backend: it comes back, says so, and hears again. */
  HL_ASSERT_EQ_INT(hl_pgsrv_exec(&srv,
                                 "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                 "WHERE usename = '" HL_PGSRV_USER "' AND query LIKE 'LISTEN%'",
                                 NULL, 0),
                   0);
  HL_ASSERT(pg_run_until(uv_default_loop(), reports_at_least, &two, 20000));
  pg_rec n2 = {0};
  send_ok(&n2, "SELECT pg_notify('hl_wake', 'second')");
  HL_ASSERT(pg_run_until(uv_default_loop(), payloads_at_least, &two, 20000));
  HL_ASSERT_EQ_STR(payloads[1], "second");
  pg_run_for(uv_default_loop(), 100);
  HL_ASSERT_EQ_INT(npayloads, 2); /* each once */
  HL_ASSERT_EQ_INT(pool.st.drops, 1);
  finish();
}

static bool drops_at_least(void *data) { return pool.st.drops >= (uint64_t)*(int *)data; }

/* A listener on a server where LISTEN fails (a standby, as a failover may
 * leave behind): the failure drops the connection, which comes back after a
 * back-off that grows while LISTEN keeps failing, and LISTENs again; once
 * the server is promoted the listener listens, says so and hears. A failed
 * LISTEN was logged and left alone: no notification ever came again. */
HL_TEST(a_listen_that_fails_is_tried_again_until_it_holds) {
  start_server(&(hl_pgsrv_opts){.replica = 1});
  HL_ASSERT_EQ_INT(hl_pgsrv_restart_standby(&srv), 0);
  char out[16];
  HL_ASSERT_EQ_INT(hl_pgsrv_exec(&srv, "SELECT pg_is_in_recovery()::text", out, sizeof out), 0);
  HL_ASSERT_EQ_STR(out, "true");
  /* By default libpq passes over a read-only server altogether
   * (target_session_attrs=read-write); settings that take any server, as
   * here, connect to the standby, where LISTEN fails. */
  setenv("PGTARGETSESSIONATTRS", "any", 1);
  open_pool_on_server((hl_pg_opts){.size = 1, .backoff_base_ms = 50, .backoff_cap_ms = 1000, .on_notify = on_notify});
  HL_ASSERT_EQ_INT(hl_pg_listen(&pool, "hl_wake"), 0);
  hl_pg_pool_start(&pool);
  int three = 3, one = 1;
  HL_ASSERT_MSG(pg_run_until(uv_default_loop(), drops_at_least, &three, 20000),
                "LISTEN was not tried again: %d drops, last error: %s", (int)pool.st.drops,
                hl_pg_pool_last_error(&pool));
  HL_ASSERT_MSG(strstr(hl_pg_pool_last_error(&pool), "cannot execute LISTEN during recovery"), "%s",
                hl_pg_pool_last_error(&pool));
  HL_ASSERT(!pool.st.listening);
  HL_ASSERT_EQ_INT(listening_reports, 0);
  /* The back-off grew (to its 1 s cap): a few tries in 3 s, not one every
   * 50 ms. */
  uint64_t before = pool.st.drops;
  pg_run_for(uv_default_loop(), 3000);
  HL_ASSERT_MSG(pool.st.drops - before <= 15, "%d tries in 3 s", (int)(pool.st.drops - before));
  HL_ASSERT_EQ_INT(hl_pgsrv_exec(&srv, "SELECT pg_promote()::text", out, sizeof out), 0);
  HL_ASSERT_EQ_STR(out, "true");
  HL_ASSERT_MSG(pg_run_until(uv_default_loop(), reports_at_least, &one, 20000), "not listening after the promotion: %s",
                hl_pg_pool_last_error(&pool));
  HL_ASSERT(pool.st.listening);
  HL_ASSERT_EQ_INT(hl_pgsrv_exec(&srv, "NOTIFY hl_wake, 'promoted'", NULL, 0), 0);
  HL_ASSERT(pg_run_until(uv_default_loop(), payloads_at_least, &one, 20000));
  HL_ASSERT_EQ_STR(payloads[0], "promoted");
  unsetenv("PGTARGETSESSIONATTRS");
  finish();
}

/* An Aurora failover demotes the writer: the instance the connections were
 * on goes on taking them, and refuses every write (25006,
 * read_only_sql_transaction). Here the first host of the list turns
 * read-only (default_transaction_read_only, as a demoted instance reports)
 * while the second takes writes: a write refused for that reason drops its
 * connection, and the reconnect passes over the read-only host
 * (target_session_attrs=read-write) to the writable one. The connection was
 * kept: every write failed for as long as it lived, and a reconnect would
 * have gone back to the first host all the same. */
HL_TEST(a_connection_to_a_server_that_turns_read_only_moves_to_a_writable_host) {
  start_server(NULL);
  hl_pgsrv other;
  HL_ASSERT_MSG(hl_pgsrv_start(&other, NULL) == 0, "second server start");
  HL_ASSERT_EQ_INT(hl_pgsrv_exec(&srv, "CREATE TABLE ro (x int)", NULL, 0), 0);
  HL_ASSERT_EQ_INT(hl_pgsrv_exec(&other, "CREATE TABLE ro (x int)", NULL, 0), 0);
  HL_ASSERT_EQ_INT(hl_pgsrv_exec(&other, "GRANT ALL ON ro TO " HL_PGSRV_USER, NULL, 0), 0);
  HL_ASSERT_EQ_INT(hl_pgsrv_exec(&srv, "GRANT ALL ON ro TO " HL_PGSRV_USER, NULL, 0), 0);
  char url[300];
  snprintf(url, sizeof url, "postgresql://%s:%s@127.0.0.1:%d,127.0.0.1:%d/%s?sslmode=disable", HL_PGSRV_USER,
           HL_PGSRV_PASSWORD, srv.port, other.port, HL_PGSRV_DB);
  pg_env e = {0};
  pg_env_set(&e, "DATABASE_URL", url);
  load_conf(&e);
  start_pool(&(hl_pg_opts){.size = 1, .backoff_base_ms = 50, .backoff_cap_ms = 200});
  char first[16], second[16];
  snprintf(first, sizeof first, "%d", srv.port);
  snprintf(second, sizeof second, "%d", other.port);
  pg_rec w0 = {0};
  send_ok(&w0, "INSERT INTO ro VALUES (1) RETURNING inet_server_port()::text");
  HL_ASSERT_EQ_STR(w0.v0, first);
  HL_ASSERT_EQ_INT(hl_pgsrv_exec(&srv, "ALTER SYSTEM SET default_transaction_read_only = on", NULL, 0), 0);
  HL_ASSERT_EQ_INT(hl_pgsrv_exec(&srv, "SELECT pg_reload_conf()::text", NULL, 0), 0);
  /* Writes until one is taken: the first ones may still find the old
   * setting (the reload reaches the backend between statements). */
  pg_rec w[40];
  int k = 0, refused = 0;
  for (; k < 40; k++) {
    memset(&w[k], 0, sizeof w[k]);
    w[k].i = k;
    pg_rec_sql(&w[k], "INSERT INTO ro VALUES (2) RETURNING inet_server_port()::text", NULL, NULL);
    run1(&w[k]);
    if (w[k].st == HL_PG_OK && strcmp(w[k].v0, second) == 0) break;
    if (w[k].st == HL_PG_ERROR && strcmp(w[k].sqlstate, "25006") == 0) refused++;
    pg_run_for(uv_default_loop(), 50);
  }
  HL_ASSERT_MSG(k < 40, "no write taken in 40 tries (%d refused as read-only); the last: %s %s (port %s)", refused,
                hl_pg_status_name(w[39].st), w[39].msg, w[39].v0);
  printf("  read-only host: %d writes refused, then taken by port %s\n", refused, w[k].v0);
  HL_ASSERT(pool.st.drops >= 1);
  finish();
  hl_pgsrv_destroy(&other);
}

/* A listener whose backend hangs (SIGSTOP: the socket stays open and the
 * kernel still acknowledges, as a black-holed path or a stuck server would
 * look) is found by its probe: no answer within query_timeout_ms drops it,
 * it reconnects, LISTENs again, wakes the owner and hears. It was never
 * checked: it waited for ever and this process heard nothing again. */
HL_TEST(a_listener_whose_server_stops_answering_is_replaced) {
  open_pool((hl_pg_opts){.size = 1, .backoff_base_ms = 50, .query_timeout_ms = 1000, .listen_probe_ms = 200,
                         .on_notify = on_notify});
  HL_ASSERT_EQ_INT(hl_pg_listen(&pool, "hl_wake"), 0);
  hl_pg_pool_start(&pool);
  int one = 1, two = 2;
  HL_ASSERT(pg_run_until(uv_default_loop(), reports_at_least, &one, 20000));
  /* Healthy: the probes are answered and change nothing. */
  pg_run_for(uv_default_loop(), 1000);
  HL_ASSERT_EQ_INT(pool.st.drops, 0);
  HL_ASSERT_EQ_INT(listening_reports, 1);
  HL_ASSERT(pool.st.listening);
  char pid[16] = "";
  HL_ASSERT_EQ_INT(hl_pgsrv_exec(&srv,
                                 "SELECT pid::text FROM pg_stat_activity WHERE usename = '" HL_PGSRV_USER "' "
                                 "AND query LIKE 'LISTEN%'",
                                 pid, sizeof pid),
                   0);
  HL_ASSERT_MSG(atoi(pid) > 0, "no listener backend found");
  HL_ASSERT_EQ_INT(kill((pid_t)atoi(pid), SIGSTOP), 0);
  uv_update_time(uv_default_loop());
  uint64_t t0 = uv_now(uv_default_loop());
  bool back = pg_run_until(uv_default_loop(), reports_at_least, &two, 20000);
  uint64_t took = uv_now(uv_default_loop()) - t0;
  kill((pid_t)atoi(pid), SIGCONT);
  HL_ASSERT_MSG(back, "the hung listener was not replaced (drops %d, last error: %s)", (int)pool.st.drops,
                hl_pg_pool_last_error(&pool));
  printf("  listener replaced after %llu ms\n", (unsigned long long)took);
  HL_ASSERT_EQ_INT(pool.st.drops, 1);
  HL_ASSERT_MSG(strstr(hl_pg_pool_last_error(&pool), "no answer from the server within 1000 ms"), "%s",
                hl_pg_pool_last_error(&pool));
  HL_ASSERT(pool.st.listening);
  HL_ASSERT_EQ_INT(hl_pgsrv_exec(&srv, "NOTIFY hl_wake, 'heard'", NULL, 0), 0);
  HL_ASSERT(pg_run_until(uv_default_loop(), payloads_at_least, &one, 20000));
  HL_ASSERT_EQ_STR(payloads[0], "heard");
  finish();
}

/* --- bad configuration ----------------------------------------------------- */

/* Starts a pool on e, waits for the first failed attempt, and checks that
 * the error starts with the variable's name (and that a statement gets it). */
static void expect_blame(pg_env *e, const char *prefix, const char *detail) {
  load_conf(e);
  start_pool(&(hl_pg_opts){.size = 1, .wait_ms = 300, .backoff_base_ms = 50});
  HL_ASSERT(pg_run_until(uv_default_loop(), failed_once, NULL, 20000));
  const char *err = hl_pg_pool_last_error(&pool);
  printf("  %s\n", err);
  HL_ASSERT_MSG(strncmp(err, prefix, strlen(prefix)) == 0, "want \"%s...\", got \"%s\"", prefix, err);
  HL_ASSERT_MSG(strstr(err, detail), "want \"%s\" in \"%s\"", detail, err);
  HL_ASSERT(!strstr(err, HL_PGSRV_PASSWORD) && !strstr(err, "wrong-pw"));
  /* A statement sent now waits, and fails with that error. */
  pg_rec r = {0};
  pg_rec_sql(&r, "SELECT 1", NULL, NULL);
  HL_ASSERT_EQ_INT(hl_pg_send(&pool, &r.q), 0);
  HL_ASSERT(pg_wait_all(uv_default_loop(), &r, 1, 20000));
  HL_ASSERT_EQ_INT(r.st, HL_PG_UNAVAILABLE);
  HL_ASSERT_MSG(strstr(r.msg, prefix), "%s", r.msg);
  HL_ASSERT_EQ_INT(pool.st.ready, 0);
  pg_close_all(uv_default_loop(), &pool);
}

HL_TEST(bad_configuration_names_the_variable) {
  start_server(NULL);
  pg_env e = {0};
  pg_env_aurora(&e, &srv);
  pg_env_set(&e, "DATABASE_PASSWORD", "wrong-pw");
  expect_blame(&e, "DATABASE_PASSWORD/DATABASE_USER: ", "password authentication failed");

  pg_env_aurora(&e, &srv);
  pg_env_set(&e, "DATABASE_NAME", "no_such_db");
  expect_blame(&e, "DATABASE_NAME: ", "\"no_such_db\" does not exist");

  pg_env_aurora(&e, &srv);
  pg_env_set(&e, "DATABASE_USER", "no_such_role");
  /* The server answers an unknown role like a wrong password (28P01), on
   * purpose: both are named. */
  expect_blame(&e, "DATABASE_PASSWORD/DATABASE_USER: ", "\"no_such_role\"");

  pg_env_aurora(&e, &srv);
  char port[16];
  int refused = 0;
  int held = hl_hold_port(&refused); /* bound, not listening: connections are refused */
  HL_ASSERT(held >= 0);
  snprintf(port, sizeof port, "%d", refused);
  pg_env_set(&e, "DATABASE_PORT", port);
  expect_blame(&e, "AURORA_ENDPOINT/DATABASE_PORT: ", "Connection refused");

  pg_env u = {0};
  char url[300];
  snprintf(url, sizeof url, "postgresql://%s:wrong-pw@127.0.0.1:%d/%s", HL_PGSRV_USER, srv.port, HL_PGSRV_DB);
  pg_env_set(&u, "DATABASE_URL", url);
  expect_blame(&u, "DATABASE_URL: ", "password authentication failed");
  close(held);
  hl_pgsrv_destroy(&srv);
}

/* --- TLS ------------------------------------------------------------------- */

static void sh(const char *cmd) {
  char *argv[] = {"/bin/sh", "-c", (char *)cmd, NULL};
  int st = hl_wait(hl_spawn(argv, NULL, NULL), 60000);
  HL_ASSERT_MSG(st == 0, "failed: %s", cmd);
}

/* A test CA and a server certificate for localhost and 127.0.0.1, made by
 * the openssl command; a second CA that signed nothing of ours. */
static void make_certs(const char *dir) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd,
           "cd %s && exec >openssl.log 2>&1 && "
           "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=hookloop-test-ca && "
           "openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other-ca.pem -days 2 -subj /CN=other-ca && "
           "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost && "
           "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > san.ext && "
           "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.crt -days 2 "
           "-extfile san.ext",
           dir);
  sh(cmd);
}

static void expect_tls_ok(const char *url) {
  pg_env e = {0};
  pg_env_set(&e, "DATABASE_URL", url);
  load_conf(&e);
  start_pool(&(hl_pg_opts){.size = 1});
  pg_rec r = {0};
  send_ok(&r, "SELECT ssl::text, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()");
  HL_ASSERT_EQ_STR(r.v0, "true");
  printf("  %s: %s\n", strstr(url, "@") + 1, r.v1);
  pg_close_all(uv_default_loop(), &pool);
}

HL_TEST_T(tls_verify_full_checks_the_ca_and_the_name, 120) {
  char *dir = hl_tmpdir("pgtls");
  make_certs(dir);
  char crt[400], key[400], ca[400], other[400];
  snprintf(crt, sizeof crt, "%s/server.crt", dir);
  snprintf(key, sizeof key, "%s/server.key", dir);
  start_server(&(hl_pgsrv_opts){.ssl_cert_file = crt, .ssl_key_file = key});
  /* The CAs move into the server's directory, which goes whatever happens. */
  snprintf(ca, sizeof ca, "%s/ca.pem", srv.root);
  snprintf(other, sizeof other, "%s/other-ca.pem", srv.root);
  char mv[1200];
  snprintf(mv, sizeof mv, "cp %s/ca.pem %s/other-ca.pem %s/", dir, dir, srv.root);
  sh(mv);
  hl_rmtree(dir);
  free(dir);
  char url[700];
  /* By name: looked up here, handed to libpq as hostaddr, verified as host. */
  snprintf(url, sizeof url, "postgresql://%s:%s@localhost:%d/%s?sslmode=verify-full&sslrootcert=%s", HL_PGSRV_USER,
           HL_PGSRV_PASSWORD, srv.port, HL_PGSRV_DB, ca);
  expect_tls_ok(url);
  /* By address: the certificate's IP SAN. */
  snprintf(url, sizeof url, "postgresql://%s:%s@127.0.0.1:%d/%s?sslmode=verify-full&sslrootcert=%s", HL_PGSRV_USER,
           HL_PGSRV_PASSWORD, srv.port, HL_PGSRV_DB, ca);
  expect_tls_ok(url);
  /* The Aurora variables, with libpq's own PGSSLMODE/PGSSLROOTCERT. */
  pg_env e = {0};
  pg_env_aurora(&e, &srv);
  pg_env_set(&e, "AURORA_ENDPOINT", "localhost");
  setenv("PGSSLMODE", "verify-full", 1);
  setenv("PGSSLROOTCERT", ca, 1);
  load_conf(&e);
  start_pool(&(hl_pg_opts){.size = 1});
  pg_rec r = {0};
  send_ok(&r, "SELECT ssl::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()");
  HL_ASSERT_EQ_STR(r.v0, "true");
  pg_close_all(uv_default_loop(), &pool);
  /* A CA that did not sign the server's certificate. */
  setenv("PGSSLROOTCERT", other, 1);
  expect_blame(&e, "PGSSLROOTCERT: ", "certificate verify failed");
  unsetenv("PGSSLMODE");
  unsetenv("PGSSLROOTCERT");
  /* The right CA, the wrong name: the address is given, the name checked. */
  pg_env u = {0};
  snprintf(url, sizeof url,
           "postgresql://%s:%s@db.example.invalid:%d/%s?hostaddr=127.0.0.1&sslmode=verify-full&sslrootcert=%s",
           HL_PGSRV_USER, HL_PGSRV_PASSWORD, srv.port, HL_PGSRV_DB, ca);
  pg_env_set(&u, "DATABASE_URL", url);
  expect_blame(&u, "DATABASE_URL: ", "does not match host name \"db.example.invalid\"");
  hl_pgsrv_destroy(&srv);
}

/* --- the loop never waits on libpq ----------------------------------------- */

static uint64_t last_tick, max_gap;
static int ticks;

static void on_tick(uv_timer_t *t) {
  uint64_t now = hl_mono_ms();
  if (last_tick && now - last_tick > max_gap) max_gap = now - last_tick;
  last_tick = now;
  ticks++;
  (void)t;
}

/* A server that takes the TCP connection (the kernel's backlog) and never
 * answers, by name (so the lookup runs too), with a connect timeout: a
 * blocking connect would stop the 5 ms timer for the whole timeout. */
HL_TEST(the_loop_keeps_turning_while_connections_hang_and_time_out) {
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t alen = sizeof a;
  HL_ASSERT(bind(lfd, (struct sockaddr *)&a, sizeof a) == 0 && listen(lfd, 1) == 0);
  HL_ASSERT(getsockname(lfd, (struct sockaddr *)&a, &alen) == 0);
  pg_env e = {0};
  char url[300];
  snprintf(url, sizeof url, "postgresql://u:p@localhost:%d/db?sslmode=prefer", ntohs(a.sin_port));
  pg_env_set(&e, "DATABASE_URL", url);
  load_conf(&e);
  uv_timer_t t;
  uv_timer_init(uv_default_loop(), &t);
  uv_timer_start(&t, on_tick, 5, 5);
  const uint32_t timeout = 1500;
  start_pool(&(hl_pg_opts){.size = 2, .connect_timeout_ms = timeout, .backoff_base_ms = 50, .wait_ms = 2500});
  pg_rec r = {0};
  pg_rec_sql(&r, "SELECT 1", NULL, NULL);
  HL_ASSERT_EQ_INT(hl_pg_send(&pool, &r.q), 0);
  HL_ASSERT(pg_wait_all(uv_default_loop(), &r, 1, 20000));
  printf("  %d ticks, longest gap between 5 ms ticks: %llu ms (connect timeout %u ms)\n", ticks,
         (unsigned long long)max_gap, timeout);
  HL_ASSERT_EQ_INT(r.st, HL_PG_UNAVAILABLE);
  HL_ASSERT(pool.st.connect_failures >= 2);
  HL_ASSERT_MSG(strstr(hl_pg_pool_last_error(&pool), "timeout expired after 1500 ms"), "%s",
                hl_pg_pool_last_error(&pool));
  HL_ASSERT(max_gap < timeout / 2); /* generous: a blocked loop would show the whole timeout */
  uv_close((uv_handle_t *)&t, NULL);
  pg_close_all(uv_default_loop(), &pool);
  close(lfd);
}

/* --- closing --------------------------------------------------------------- */

HL_TEST(closing_answers_every_statement_once) {
  start_on_server((hl_pg_opts){.size = 1});
  wait_ready(1);
  pg_rec slow = {0}, queued = {0};
  pg_rec_sql(&slow, "SELECT pg_sleep(30)", NULL, NULL);
  HL_ASSERT_EQ_INT(hl_pg_send(&pool, &slow.q), 0);
  pg_run_for(uv_default_loop(), 50);
  pg_rec_sql(&queued, "SELECT 1", NULL, NULL); /* the same turn as the close: never synced */
  HL_ASSERT_EQ_INT(hl_pg_send(&pool, &queued.q), 0);
  pg_close_all(uv_default_loop(), &pool);
  HL_ASSERT(slow.done && queued.done);
  HL_ASSERT_EQ_INT(slow.st, HL_PG_LOST);
  HL_ASSERT_EQ_INT(queued.st, HL_PG_UNAVAILABLE);
  pg_rec late = {0};
  pg_rec_sql(&late, "SELECT 1", NULL, NULL);
  HL_ASSERT_EQ_INT(hl_pg_send(&pool, &late.q), HL_ECLOSED); /* refused: done never runs */
  HL_ASSERT(!late.done);
  hl_pgsrv_destroy(&srv);
}
