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
#include <string.h>

int main(void) {
  hl_pgsrv srv;
  /* fsync on, as SQLite's synchronous=FULL: a commit costs a disk flush. */
  hl_pgsrv_opts o = {.durable = 1};
  if (hl_pgsrv_start(&srv, &o) != 0) return 1;
  char fsync[16] = "";
  if (hl_pgsrv_exec(&srv, "SHOW fsync", fsync, sizeof fsync) != 0 || strcmp(fsync, "on") != 0) {
    fprintf(stderr, "hl_pg_server: fsync is \"%s\", not on\n", fsync);
    hl_pgsrv_destroy(&srv);
    return 1;
  }
  printf("url %s\npid %d\n", hl_pgsrv_url(&srv, "?sslmode=disable"), (int)srv.pid);
  fflush(stdout);
  while (getchar() != EOF) {}
  hl_pgsrv_destroy(&srv);
  return 0;
}
