/* hl_pgsrv.h — a throwaway PostgreSQL 15 server for tests and benchmarks.
 *
 * Each server is a fresh cluster in its own temporary directory, listening
 * on 127.0.0.1 at a free port and on a Unix socket in that directory, with
 * fsync off. The cluster is a copy of a template made once per build tree
 * by initdb (<build>/pg-template-15, with the role and database below), so
 * a test pays a directory copy, not an initdb.
 *
 * initdb and postgres refuse to run as root: as root, they run as the
 * `postgres` account that Debian's package creates (the directory is handed
 * to it); otherwise as the current user.
 *
 * The postmaster is a child of the calling process and in its process
 * group, so the test runner's kill of a failed test's group takes it too,
 * and it gets SIGKILL if its parent dies (PR_SET_PDEATHSIG). A watchdog
 * process in a session of its own waits on a pipe and, when the test process
 * ends however it ends, stops a postmaster still running in the directory
 * and removes the directory.
 *
 * The binaries are taken from /usr/lib/postgresql/15/bin (HL_PG_BIN
 * overrides). */
#ifndef HL_PGSRV_H
#define HL_PGSRV_H

#include <stddef.h>
#include <sys/types.h>

#define HL_PGSRV_USER "hookloop"
#define HL_PGSRV_PASSWORD "hookloop-test-pw"
#define HL_PGSRV_DB "hookloop"

typedef struct {
  const char *ssl_cert_file; /* PEM server certificate: ssl=on when set (copied into the cluster) */
  const char *ssl_key_file;  /* its key */
  int durable;               /* fsync and full_page_writes on (benchmarks); off by default */
  int replica;               /* wal_level=replica (minimal by default): hl_pgsrv_restart_standby needs it */
} hl_pgsrv_opts;

typedef struct {
  char root[256];  /* the temporary directory */
  char data[300];  /* the cluster */
  char sock[300];  /* the Unix socket directory */
  char log[300];   /* the server's stderr */
  int port;        /* on 127.0.0.1 */
  pid_t pid;       /* the postmaster; 0 while stopped */
  pid_t watchdog;
  int watchdog_fd; /* closing it tells the watchdog the test is over */
  uid_t uid;       /* the account the server runs as */
  gid_t gid;
  int ssl;
  int durable;
  int replica;
} hl_pgsrv;

/* Makes the cluster and starts it; 0, or -1 with the reason on stderr. */
int hl_pgsrv_start(hl_pgsrv *s, const hl_pgsrv_opts *o);
/* Fast shutdown (what `pg_ctl stop -m fast` does); the data stays. */
int hl_pgsrv_stop(hl_pgsrv *s);
/* Starts a stopped server again on the same port. */
int hl_pgsrv_resume(hl_pgsrv *s);
/* Stops (fast) and starts again, like `pg_ctl restart -m fast`. */
int hl_pgsrv_restart(hl_pgsrv *s);
/* Stops (fast) and starts again as a hot standby with nothing to follow: it
 * takes read-only connections and stays in recovery (LISTEN, for one, fails
 * there) until promoted (SELECT pg_promote() through hl_pgsrv_exec). */
int hl_pgsrv_restart_standby(hl_pgsrv *s);
/* Sends sig to the postmaster and to each of its children (the backends,
 * the background processes): SIGSTOP makes a server that keeps its
 * connections open and answers nothing, SIGCONT ends that. 0, or -1. */
int hl_pgsrv_signal(const hl_pgsrv *s, int sig);
/* Stops it and removes the directory. */
void hl_pgsrv_destroy(hl_pgsrv *s);

/* Runs SQL as the superuser over the Unix socket, in the test database (a
 * blocking libpq call: test code only). The first value of the first row
 * goes to out (when out != NULL). 0, or -1 with the error on stderr. */
int hl_pgsrv_exec(const hl_pgsrv *s, const char *sql, char *out, size_t outlen);

/* "postgresql://hookloop:<password>@127.0.0.1:<port>/hookloop" plus extra
 * ("?sslmode=disable"), into a static buffer. */
const char *hl_pgsrv_url(const hl_pgsrv *s, const char *extra);

#endif
