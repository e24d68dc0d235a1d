/* bench_pg — round trips to PostgreSQL from the loop (src/loop/hl_pg.c):
 * INSERTs one at a time (each sent from the previous one's callback: one
 * round trip and one commit each) against B INSERTs per loop turn (one
 * pipeline, one Sync, one commit per batch), on a throwaway PostgreSQL 15
 * (tests/harness/hl_pgsrv.h: fsync off, 127.0.0.1).
 *
 *   build/bench/pg/bench_pg [seconds per row]     (default 3, at most 30)
 *
 * Each row runs until its time is up or 300,000 statements were sent,
 * whichever comes first; every statement is answered before the next row. */
#include "common/hl_common.h"
#include "common/hl_log.h"
#include "hl_pgsrv.h"
#include "hl_test.h"
#include "loop/hl_pg.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_STATEMENTS 300000

typedef struct group group;

typedef struct {
  hl_pg_query q;
  group *g;
  char id[24];
  const char *vals[2];
} ins;

struct group {
  ins *rows;
  int size;
  int answered;
};

static hl_pg_pool pool;
static uv_loop_t *loop;
static int stmt_insert;
static long long next_id, sent, answered, failed;
static uint64_t stop_at_ms;
static char body[201];
static bool use_prepared;
static const char *insert_sql = "INSERT INTO bench_events (id, body) VALUES ($1, $2)";

static void send_group(group *g);

static void row_done(hl_pg_query *q, hl_pg_status st, PGresult *res, const char *msg) {
  ins *r = (ins *)q;
  if (res) PQclear(res);
  answered++;
  if (st != HL_PG_OK) {
    if (failed++ < 3) fprintf(stderr, "bench_pg: %s: %s\n", hl_pg_status_name(st), msg);
  }
  group *g = r->g;
  if (++g->answered == g->size && hl_mono_ms() < stop_at_ms && sent + g->size <= MAX_STATEMENTS) send_group(g);
}

/* The group's rows as one unit: one batch (max_batch is the group's size). */
static void send_group(group *g) {
  hl_pg_query *qs[1024];
  g->answered = 0;
  for (int i = 0; i < g->size; i++) {
    ins *r = &g->rows[i];
    memset(&r->q, 0, sizeof r->q);
    r->g = g;
    snprintf(r->id, sizeof r->id, "%lld", ++next_id);
    r->vals[0] = r->id;
    r->vals[1] = body;
    r->q.sql = use_prepared ? NULL : insert_sql;
    r->q.stmt = stmt_insert;
    r->q.nparams = 2;
    r->q.values = r->vals;
    r->q.done = row_done;
    qs[i] = &r->q;
  }
  sent += g->size;
  if (hl_pg_send_n(&pool, qs, g->size) != 0) {
    fprintf(stderr, "bench_pg: send refused\n");
    exit(1);
  }
}

static void on_closed(void *data) { *(bool *)data = true; }

static void tick(uv_timer_t *t) { (void)t; }

/* One row: k groups of b statements in flight on `conns` connections. */
static void run_row(const hl_pgsrv *srv, hl_pg_conf *conf, const char *name, int b, int k, int conns,
                    bool prepared, int seconds) {
  loop = uv_default_loop();
  if (hl_pgsrv_exec(srv, "TRUNCATE bench_events", NULL, 0) != 0) exit(1);
  hl_pg_opts o = {.conf = conf, .size = conns, .max_batch = (uint32_t)b, .wait_ms = 30000};
  if (hl_pg_pool_init(&pool, loop, &o) != 0) exit(1);
  use_prepared = prepared;
  stmt_insert = hl_pg_prepare(&pool, insert_sql, 2, NULL);
  hl_pg_pool_start(&pool);
  uv_timer_t t;
  uv_timer_init(loop, &t);
  uv_timer_start(&t, tick, 10, 10);
  while (pool.st.ready < conns) uv_run(loop, UV_RUN_ONCE);
  /* Prepare on every connection before timing: one small batch each. */
  group *gs = calloc((size_t)k, sizeof *gs);
  for (int i = 0; i < k; i++) {
    gs[i].size = b;
    gs[i].rows = calloc((size_t)b, sizeof(ins));
  }
  next_id = sent = answered = failed = 0;
  hl_pg_stats st0 = pool.st;
  uint64_t t0 = hl_mono_ns();
  stop_at_ms = hl_mono_ms() + (uint64_t)seconds * 1000;
  for (int i = 0; i < k; i++) send_group(&gs[i]); /* max_batch = b: k batches, spread over the connections */
  while (answered < sent) uv_run(loop, UV_RUN_ONCE);
  double secs = (double)(hl_mono_ns() - t0) / 1e9;
  hl_pg_stats st1 = pool.st;
  char count[32];
  if (hl_pgsrv_exec(srv, "SELECT count(*) FROM bench_events", count, sizeof count) != 0) exit(1);
  unsigned long long syncs = (unsigned long long)(st1.syncs - st0.syncs);
  printf("| %-36s | %9lld | %5.2f | %9.0f | %7llu | %7.1f | %s |\n", name, sent, secs, (double)sent / secs, syncs,
         syncs ? (double)(st1.statements - st0.statements) / (double)syncs : 0.0,
         failed ? "FAILURES" : (atoll(count) == sent ? "yes" : "NO"));
  fflush(stdout);
  bool closed = false;
  hl_pg_pool_close(&pool, on_closed, &closed);
  uv_close((uv_handle_t *)&t, NULL);
  while (!closed) uv_run(loop, UV_RUN_ONCE);
  uv_run(loop, UV_RUN_DEFAULT);
  for (int i = 0; i < k; i++) free(gs[i].rows);
  free(gs);
  if (failed) exit(1);
}

static const char *env_lookup(void *data, const char *name) {
  const char **kv = data;
  for (int i = 0; kv[i]; i += 2)
    if (strcmp(kv[i], name) == 0) return kv[i + 1];
  return NULL;
}

int main(int argc, char **argv) {
  int seconds = argc > 1 ? atoi(argv[1]) : 3;
  if (seconds < 1 || seconds > 30) seconds = 3;
  memset(body, 'b', sizeof body - 1);
  hl_log_set_level(HL_LOG_WARN);
  hl_pgsrv srv;
  if (hl_pgsrv_start(&srv, NULL) != 0) return 1;
  if (hl_pgsrv_exec(&srv,
                    "CREATE TABLE bench_events (id bigint PRIMARY KEY, body text NOT NULL);"
                    "GRANT ALL ON bench_events TO " HL_PGSRV_USER,
                    NULL, 0) != 0)
    return 1;
  char version[200];
  hl_pgsrv_exec(&srv, "SELECT version()", version, sizeof version);
  char port[16];
  snprintf(port, sizeof port, "%d", srv.port);
  const char *kv[] = {"AURORA_ENDPOINT", "127.0.0.1", "DATABASE_PORT", port, "DATABASE_NAME", HL_PGSRV_DB,
                      "DATABASE_USER", HL_PGSRV_USER, "DATABASE_PASSWORD", HL_PGSRV_PASSWORD,
                      NULL};
  hl_pg_conf conf;
  hl_buf err = HL_BUF_INIT;
  if (hl_pg_conf_load(&conf, env_lookup, kv, &err) != 0) {
    fprintf(stderr, "bench_pg: %s\n", err.data);
    return 1;
  }
  hl_pg_conf_set(&conf, "sslmode", "disable");
  printf("INSERTs of a 200-byte row into a table with a bigint primary key, %d s per row, over TCP on 127.0.0.1\n"
         "to %s, fsync=off (a commit costs no disk flush).\n\n",
         seconds, version);
  printf("| %-36s | %9s | %5s | %9s | %7s | %7s | %s |\n", "mode", "INSERTs", "s", "INSERTs/s", "Syncs",
         "per Sync", "all rows there");
  printf("|%s|%s|%s|%s|%s|%s|%s|\n", "--------------------------------------", "----------:", "------:",
         "----------:", "--------:", "---------:", "---");
  run_row(&srv, &conf, "one at a time (a round trip each)", 1, 1, 1, true, seconds);
  run_row(&srv, &conf, "10 per turn, 1 batch in flight", 10, 1, 1, true, seconds);
  run_row(&srv, &conf, "100 per turn, 1 batch in flight", 100, 1, 1, true, seconds);
  run_row(&srv, &conf, "1000 per turn, 1 batch in flight", 1000, 1, 1, true, seconds);
  run_row(&srv, &conf, "100 per turn, unprepared", 100, 1, 1, false, seconds);
  run_row(&srv, &conf, "100 per batch, 4 in flight, 2 conns", 100, 4, 2, true, seconds);
  hl_pg_conf_dispose(&conf);
  hl_buf_dispose(&err);
  hl_pgsrv_destroy(&srv);
  return 0;
}
