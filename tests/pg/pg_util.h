/* pg_util.h — what the PostgreSQL tests share: a settings table for
 * hl_pg_conf_load, a recorded statement, and running the loop until
 * something happened. */
#ifndef HL_TEST_PG_UTIL_H
#define HL_TEST_PG_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "hl_pgsrv.h"
#include "loop/hl_pg.h"

/* A stand-in environment: name/value pairs. */
typedef struct {
  const char *names[16];
  const char *values[16];
  int n;
} pg_env;

void pg_env_set(pg_env *e, const char *name, const char *value);
const char *pg_env_lookup(void *data, const char *name);
/* AURORA_ENDPOINT=127.0.0.1, DATABASE_PORT, _NAME, _USER, _PASSWORD of srv. */
void pg_env_aurora(pg_env *e, const hl_pgsrv *srv);

/* One statement and what came back. */
typedef struct {
  hl_pg_query q;
  const char *params[4];
  int i;                /* the caller's number */
  bool done;
  int order;            /* the how-many-th answer */
  hl_pg_status st;
  char v0[128], v1[128];/* the first row's first two values */
  int ntuples;
  char sqlstate[6];
  char msg[1024];
  uint64_t done_at;     /* uv_now when answered */
} pg_rec;

extern int pg_answers; /* answers so far (pg_rec.order counts from 1) */

/* Sets up r for sql with up to 4 text parameters (NULL-terminated list). */
void pg_rec_sql(pg_rec *r, const char *sql, const char *p0, const char *p1);
void pg_rec_prepared(pg_rec *r, int stmt, const char *p0);

/* Runs the loop (one turn at a time, with a 5 ms tick so it never sleeps
 * long) until cond(data) or timeout_ms; returns cond's last value. */
bool pg_run_until(uv_loop_t *loop, bool (*cond)(void *data), void *data, int timeout_ms);
/* Runs the loop for ms. */
void pg_run_for(uv_loop_t *loop, int ms);
/* Runs until every record of rs[0..n) is answered. */
bool pg_wait_all(uv_loop_t *loop, pg_rec *rs, int n, int timeout_ms);

/* Closes the pool and runs the loop until it is closed; then closes the
 * loop (every handle must be gone: a leak fails). */
void pg_close_all(uv_loop_t *loop, hl_pg_pool *p);

#endif
