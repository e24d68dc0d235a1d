/* hl_pg_server — a throwaway PostgreSQL 15 for bench/run.sh pg (the tests'
 * server, tests/harness/hl_pgsrv.h), with fsync turned back on so that a
 * commit costs a disk flush as SQLite's (synchronous=FULL) does.
 *
 *   build/bench/pg/hl_pg_server       prints "url <DATABASE_URL>" and
 *                                     "pid <postmaster pid>", then serves
 *                                     until its stdin closes, and removes
 *                                     the cluster. */
#include "hl_pgsrv.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

int main(void) {
  hl_pgsrv srv;
  if (hl_pgsrv_start(&srv, NULL) != 0) return 1;
  /* fsync is a reload setting: on for the comparison with SQLite. */
  if (hl_pgsrv_exec(&srv, "ALTER SYSTEM SET fsync = on", NULL, 0) != 0 ||
      hl_pgsrv_exec(&srv, "SELECT pg_reload_conf()", NULL, 0) != 0) {
    hl_pgsrv_destroy(&srv);
    return 1;
  }
  printf("url %s\npid %d\n", hl_pgsrv_url(&srv, "?sslmode=disable"), (int)srv.pid);
  fflush(stdout);
  while (getchar() != EOF) {}
  hl_pgsrv_destroy(&srv);
  return 0;
}
