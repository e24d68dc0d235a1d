#include "pg_util.h"
#include "hl_pgsrv.h"
#include "hl_test.h"

#include <stdio.h>
#include <string.h>

int pg_answers;

void pg_env_set(pg_env *e, const char *name, const char *value) {
  for (int i = 0; i < e->n; i++) {
    if (strcmp(e->names[i], name) == 0) {
      e->values[i] = value;
      return;
    }
  }
  HL_ASSERT(e->n < 16);
  e->names[e->n] = name;
  e->values[e->n++] = value;
}

const char *pg_env_lookup(void *data, const char *name) {
  pg_env *e = data;
  for (int i = 0; i < e->n; i++)
    if (strcmp(e->names[i], name) == 0) return e->values[i];
  return NULL;
}

void pg_env_aurora(pg_env *e, const hl_pgsrv *srv) {
  static char port[16];
  snprintf(port, sizeof port, "%d", srv->port);
  pg_env_set(e, "AURORA_ENDPOINT", "127.0.0.1");
  pg_env_set(e, "DATABASE_PORT", port);
  pg_env_set(e, "DATABASE_NAME", HL_PGSRV_DB);
  pg_env_set(e, "DATABASE_USER", HL_PGSRV_USER);
  pg_env_set(e, "DATABASE_PASSWORD", HL_PGSRV_PASSWORD);
}

static void rec_done(hl_pg_query *q, hl_pg_status st, PGresult *res, const char *msg) {
  pg_rec *r = (pg_rec *)q; /* q is the first member */
  HL_ASSERT_MSG(!r->done, "statement %d answered twice", r->i);
  r->done = true;
  r->order = ++pg_answers;
  r->st = st;
  snprintf(r->msg, sizeof r->msg, "%s", msg);
  if (res) {
    if (PQresultStatus(res) == PGRES_TUPLES_OK) {
      r->ntuples = PQntuples(res);
      if (r->ntuples > 0 && PQnfields(res) > 0) snprintf(r->v0, sizeof r->v0, "%s", PQgetvalue(res, 0, 0));
      if (r->ntuples > 0 && PQnfields(res) > 1) snprintf(r->v1, sizeof r->v1, "%s", PQgetvalue(res, 0, 1));
    }
    const char *ss = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    if (ss) snprintf(r->sqlstate, sizeof r->sqlstate, "%s", ss);
    PQclear(res); /* the callee's */
  }
  r->done_at = uv_now(uv_default_loop());
}

static void rec_init(pg_rec *r, const char *p0, const char *p1) {
  int i = r->i;
  memset(r, 0, sizeof *r);
  r->i = i;
  r->params[0] = p0;
  r->params[1] = p1;
  r->q.nparams = p0 ? (p1 ? 2 : 1) : 0;
  r->q.values = r->params;
  r->q.done = rec_done;
}

void pg_rec_sql(pg_rec *r, const char *sql, const char *p0, const char *p1) {
  rec_init(r, p0, p1);
  r->q.sql = sql;
}

void pg_rec_prepared(pg_rec *r, int stmt, const char *p0) {
  rec_init(r, p0, NULL);
  r->q.stmt = stmt;
}

static void tick(uv_timer_t *t) { (void)t; }

bool pg_run_until(uv_loop_t *loop, bool (*cond)(void *data), void *data, int timeout_ms) {
  uv_timer_t t;
  uv_timer_init(loop, &t);
  uv_timer_start(&t, tick, 5, 5);
  uv_update_time(loop);
  uint64_t end = uv_now(loop) + (uint64_t)timeout_ms;
  bool ok;
  while (!(ok = cond(data)) && uv_now(loop) < end) uv_run(loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(loop, UV_RUN_NOWAIT);
  return ok;
}

static bool never(void *data) { (void)data; return false; }

void pg_run_for(uv_loop_t *loop, int ms) { pg_run_until(loop, never, NULL, ms); }

typedef struct { pg_rec *rs; int n; } all_arg;

static bool all_done(void *data) {
  all_arg *a = data;
  for (int i = 0; i < a->n; i++)
    if (!a->rs[i].done) return false;
  return true;
}

bool pg_wait_all(uv_loop_t *loop, pg_rec *rs, int n, int timeout_ms) {
  all_arg a = {rs, n};
  return pg_run_until(loop, all_done, &a, timeout_ms);
}

static bool closed_flag;
static void on_closed(void *data) { *(bool *)data = true; }
static bool is_closed(void *data) { return *(bool *)data; }

void pg_close_all(uv_loop_t *loop, hl_pg_pool *p) {
  closed_flag = false;
  hl_pg_pool_close(p, on_closed, &closed_flag);
  HL_ASSERT(pg_run_until(loop, is_closed, &closed_flag, 10000));
  /* Lookups on the threadpool finish by themselves; nothing else may be left. */
  for (int i = 0; i < 200 && uv_loop_alive(loop); i++) uv_run(loop, UV_RUN_NOWAIT), uv_sleep(5);
  HL_ASSERT_EQ_INT(uv_loop_close(loop), 0);
}
