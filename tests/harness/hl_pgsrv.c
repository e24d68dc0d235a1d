#include "hl_pgsrv.h"
#include "hl_testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <ftw.h>
#include <grp.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define TEMPLATE_NAME "pg-template-15"

static const char *pg_bin(const char *prog) {
  static char p[4][512];
  static int k;
  const char *dir = getenv("HL_PG_BIN");
  char *out = p[k++ % 4];
  snprintf(out, sizeof p[0], "%s/%s", dir && *dir ? dir : "/usr/lib/postgresql/15/bin", prog);
  return out;
}

/* The account the server runs as: `postgres` when we are root. */
static int server_account(uid_t *uid, gid_t *gid) {
  if (geteuid() != 0) {
    *uid = geteuid();
    *gid = getegid();
    return 0;
  }
  struct passwd *pw = getpwnam("postgres");
  if (!pw) {
    fprintf(stderr, "hl_pgsrv: running as root and there is no `postgres` account "
                    "(install Debian's postgresql: scripts/install-deps.sh test)\n");
    return -1;
  }
  *uid = pw->pw_uid;
  *gid = pw->pw_gid;
  return 0;
}

/* In a forked child: become the server's account and die with the parent. */
static void child_become(uid_t uid, gid_t gid, pid_t parent) {
  if (geteuid() == 0 && uid != 0) {
    if (setgroups(0, NULL) != 0 || setgid(gid) != 0 || setuid(uid) != 0) {
      fprintf(stderr, "hl_pgsrv: cannot switch to uid %d: %s\n", (int)uid, strerror(errno));
      _exit(126);
    }
  }
  /* After setuid: a change of credentials clears the parent-death signal. */
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(1);
}

/* Runs argv as the server's account, output to log; returns the exit status
 * (0 on success) or -1. */
static int run_as(uid_t uid, gid_t gid, char *const argv[], const char *log) {
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    child_become(uid, gid, parent);
    int fd = open(log ? log : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) { dup2(fd, 1); dup2(fd, 2); close(fd); }
    execv(argv[0], argv);
    fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  int st = hl_wait(pid, 120000);
  return st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static uid_t g_chown_uid;
static gid_t g_chown_gid;
static int chown_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb; (void)flag; (void)ftw;
  return lchown(p, g_chown_uid, g_chown_gid);
}

/* The copied cluster is the server account's (cp -a kept the template's
 * owner; the files written since are root's). */
static int chown_tree(const char *path, uid_t uid, gid_t gid) {
  if (geteuid() != 0) return 0;
  g_chown_uid = uid;
  g_chown_gid = gid;
  return nftw(path, chown_one, 16, FTW_PHYS);
}

static int write_file(const char *path, const char *text, uid_t uid, gid_t gid, mode_t mode) {
  FILE *f = fopen(path, "w");
  if (!f) return -1;
  fputs(text, f);
  fclose(f);
  chmod(path, mode);
  if (geteuid() == 0 && lchown(path, uid, gid) != 0) return -1;
  return 0;
}

static int copy_file(const char *from, const char *to, uid_t uid, gid_t gid, mode_t mode) {
  size_t n = 0;
  char *b = hl_read_file(from, &n);
  if (!b) return -1;
  FILE *f = fopen(to, "w");
  if (!f) { free(b); return -1; }
  fwrite(b, 1, n, f);
  fclose(f);
  free(b);
  chmod(to, mode);
  if (geteuid() == 0 && lchown(to, uid, gid) != 0) return -1;
  return 0;
}

static void print_log(const char *log) {
  char *t = hl_read_file(log, NULL);
  if (t) {
    size_t n = strlen(t);
    fprintf(stderr, "--- %s (end) ---\n%s\n---\n", log, n > 3000 ? t + n - 3000 : t);
    free(t);
  }
}

/* PQping over the socket until the server accepts connections. */
static int wait_ready(pid_t pid, const char *sock, int port, int timeout_ms) {
  char conninfo[512];
  snprintf(conninfo, sizeof conninfo, "host=%s port=%d user=postgres dbname=postgres connect_timeout=2", sock, port);
  for (int waited = 0; waited < timeout_ms; waited += 50) {
    if (PQping(conninfo) == PQPING_OK) return 0;
    int st;
    if (waitpid(pid, &st, WNOHANG) == pid) return -2; /* it exited */
    hl_sleep_ms(50);
  }
  return -1;
}

static pid_t spawn_postgres(uid_t uid, gid_t gid, const char *data, const char *sock, int port, bool tcp,
                            bool ssl, bool durable, bool replica, const char *log) {
  char portarg[32], sockarg[400], listen[64];
  snprintf(portarg, sizeof portarg, "port=%d", port);
  snprintf(sockarg, sizeof sockarg, "unix_socket_directories=%s", sock);
  snprintf(listen, sizeof listen, "listen_addresses=%s", tcp ? "127.0.0.1" : "");
  const char *argv[40];
  int k = 0;
  argv[k++] = pg_bin("postgres");
  argv[k++] = "-D";
  argv[k++] = data;
  /* Given on the command line, these win over ALTER SYSTEM: a durable
   * server must be asked for here. */
  const char *settings[] = {listen, portarg, sockarg, durable ? "fsync=on" : "fsync=off",
                            durable ? "full_page_writes=on" : "full_page_writes=off",
                            "max_connections=40", "shared_buffers=16MB", "max_wal_senders=0",
                            replica ? "wal_level=replica" : "wal_level=minimal", "log_min_messages=warning", "log_line_prefix=%m [%p] ",
                            ssl ? "ssl=on" : "ssl=off", "ssl_cert_file=server.crt", "ssl_key_file=server.key"};
  for (size_t i = 0; i < sizeof settings / sizeof *settings; i++) {
    argv[k++] = "-c";
    argv[k++] = settings[i];
  }
  argv[k] = NULL;
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    child_become(uid, gid, parent);
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) { dup2(fd, 1); dup2(fd, 2); close(fd); }
    execv(argv[0], (char *const *)argv);
    fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  return pid;
}

static int stop_pid(pid_t pid) {
  if (pid <= 0) return 0;
  kill(pid, SIGINT); /* fast shutdown */
  int st = hl_wait(pid, 60000);
  return st < 0 ? -1 : 0;
}

static int exec_sql(const char *sock, int port, const char *db, const char *sql, char *out, size_t outlen) {
  char conninfo[512];
  snprintf(conninfo, sizeof conninfo, "host=%s port=%d user=postgres dbname=%s", sock, port, db);
  PGconn *c = PQconnectdb(conninfo);
  if (PQstatus(c) != CONNECTION_OK) {
    fprintf(stderr, "hl_pgsrv: connect: %s", PQerrorMessage(c));
    PQfinish(c);
    return -1;
  }
  PGresult *r = PQexec(c, sql);
  int rc = 0;
  ExecStatusType st = PQresultStatus(r);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    fprintf(stderr, "hl_pgsrv: %s: %s", sql, PQresultErrorMessage(r));
    rc = -1;
  } else if (out && outlen) {
    snprintf(out, outlen, "%s", st == PGRES_TUPLES_OK && PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "");
  }
  PQclear(r);
  PQfinish(c);
  return rc;
}

/* The template cluster, made once per build tree: initdb, then the test
 * role and database. Made in a scratch directory and renamed into place,
 * so concurrent test programs never see half of one. */
/* PostgreSQL cannot be told to listen on port 0 and say which port it got,
 * so a free port is picked here and start_server() tries another one when
 * it was taken meanwhile. */
static int pick_port(void) {
  int port = -1;
  int fd = hl_hold_port(&port);
  if (fd >= 0) close(fd);
  return port;
}

static int ensure_template(uid_t uid, gid_t gid, char *tpl, size_t n) {
  snprintf(tpl, n, "%s/%s", HL_BINARY_DIR, TEMPLATE_NAME);
  char probe[700];
  snprintf(probe, sizeof probe, "%s/PG_VERSION", tpl);
  if (access(probe, R_OK) == 0) return 0;
  if (access(pg_bin("initdb"), X_OK) != 0) {
    fprintf(stderr, "hl_pgsrv: %s not found: install PostgreSQL 15 (scripts/install-deps.sh test)\n",
            pg_bin("initdb"));
    return -1;
  }
  char *scratch = hl_tmpdir("pgtpl");
  if (!scratch) return -1;
  int rc = -1;
  char data[400], log[400], staged[720];
  snprintf(data, sizeof data, "%s/data", scratch);
  snprintf(log, sizeof log, "%s/initdb.log", scratch);
  if (geteuid() == 0 && chown(scratch, uid, gid) != 0) goto out;
  char *initdb[] = {(char *)pg_bin("initdb"), "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8",
                    "--locale=C", "--no-sync", "--no-instructions", NULL};
  if (run_as(uid, gid, initdb, log) != 0) {
    fprintf(stderr, "hl_pgsrv: initdb failed\n");
    print_log(log);
    goto out;
  }
  int port = pick_port();
  pid_t pid = spawn_postgres(uid, gid, data, scratch, port, false, false, false, false, log);
  if (pid <= 0 || wait_ready(pid, scratch, port, 60000) != 0) {
    fprintf(stderr, "hl_pgsrv: the template server did not start\n");
    print_log(log);
    if (pid > 0) { kill(pid, SIGKILL); waitpid(pid, NULL, 0); }
    goto out;
  }
  int sql = exec_sql(scratch, port, "postgres",
                     "CREATE ROLE " HL_PGSRV_USER " LOGIN PASSWORD '" HL_PGSRV_PASSWORD "'", NULL, 0);
  if (sql == 0)
    sql = exec_sql(scratch, port, "postgres", "CREATE DATABASE " HL_PGSRV_DB " OWNER " HL_PGSRV_USER, NULL, 0);
  if (stop_pid(pid) != 0 || sql != 0) goto out;
  snprintf(staged, sizeof staged, "%s.tmp.%d", tpl, (int)getpid());
  char *cp[] = {"/bin/cp", "-a", data, staged, NULL};
  if (hl_wait(hl_spawn(cp, NULL, NULL), 60000) != 0) {
    fprintf(stderr, "hl_pgsrv: cp -a %s %s failed\n", data, staged);
    goto out;
  }
  if (rename(staged, tpl) != 0) hl_rmtree(staged); /* another program made it first */
  rc = access(probe, R_OK) == 0 ? 0 : -1;
out:
  hl_rmtree(scratch);
  free(scratch);
  return rc;
}

/* Is pid a postgres process of this cluster? (The pid file may be stale and
 * its number reused: only our own server is ever signalled.) */
static int is_our_postmaster(pid_t pid, const char *data) {
  char path[64], cmd[1024];
  snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
  int fd = open(path, O_RDONLY);
  if (fd < 0) return 0;
  ssize_t n = read(fd, cmd, sizeof cmd - 1);
  close(fd);
  if (n <= 0) return 0;
  for (ssize_t i = 0; i < n; i++)
    if (cmd[i] == '\0') cmd[i] = ' ';
  cmd[n] = '\0';
  return strstr(cmd, "postgres") && strstr(cmd, data);
}

/* The watchdog: in its own session (out of the test's process group), it
 * waits for the write end of the pipe to close, i.e. for the test process to
 * end, then stops our postmaster if one still runs and removes the tree. */
static void watchdog_main(int rfd, const char *root, const char *data) {
  setsid();
  close_range(3, (unsigned)rfd - 1, 0);
  close_range((unsigned)rfd + 1, ~0U, 0);
  char b;
  while (read(rfd, &b, 1) != 0) {
    if (errno != EINTR) break;
  }
  char pidfile[400];
  snprintf(pidfile, sizeof pidfile, "%s/postmaster.pid", data);
  FILE *f = fopen(pidfile, "r");
  long pid = 0;
  if (f) {
    if (fscanf(f, "%ld", &pid) != 1) pid = 0;
    fclose(f);
  }
  if (pid > 0 && is_our_postmaster((pid_t)pid, data)) {
    kill((pid_t)pid, SIGQUIT); /* immediate shutdown */
    for (int i = 0; i < 100 && kill((pid_t)pid, 0) == 0; i++) hl_sleep_ms(50);
    if (kill((pid_t)pid, 0) == 0 && is_our_postmaster((pid_t)pid, data)) kill((pid_t)pid, SIGKILL);
    hl_sleep_ms(100);
  }
  hl_rmtree(root);
  _exit(0);
}

static int start_server(hl_pgsrv *s) {
  for (int tries = 0; tries < 3; tries++) {
    if (tries) s->port = pick_port(); /* the port was taken meanwhile */
    s->pid = spawn_postgres(s->uid, s->gid, s->data, s->sock, s->port, true, s->ssl, s->durable, s->replica, s->log);
    if (s->pid <= 0) return -1;
    int r = wait_ready(s->pid, s->sock, s->port, 60000);
    if (r == 0) return 0;
    if (r == -1) {
      kill(s->pid, SIGKILL);
      waitpid(s->pid, NULL, 0);
    }
    s->pid = 0;
    char *t = hl_read_file(s->log, NULL);
    int bind_failed = t && strstr(t, "could not bind");
    free(t);
    if (!bind_failed) break;
  }
  fprintf(stderr, "hl_pgsrv: postgres did not start\n");
  print_log(s->log);
  return -1;
}

int hl_pgsrv_start(hl_pgsrv *s, const hl_pgsrv_opts *o) {
  memset(s, 0, sizeof *s);
  s->watchdog_fd = -1;
  if (server_account(&s->uid, &s->gid) != 0) return -1;
  char tpl[600];
  if (ensure_template(s->uid, s->gid, tpl, sizeof tpl) != 0) return -1;
  char *root = hl_tmpdir("pg");
  if (!root) return -1;
  snprintf(s->root, sizeof s->root, "%s", root);
  free(root);
  snprintf(s->data, sizeof s->data, "%s/data", s->root);
  snprintf(s->sock, sizeof s->sock, "%s", s->root);
  snprintf(s->log, sizeof s->log, "%s/postgres.log", s->root);

  int pfd[2];
  if (pipe2(pfd, O_CLOEXEC) != 0) return -1;
  s->watchdog = fork();
  if (s->watchdog == 0) watchdog_main(pfd[0], s->root, s->data);
  close(pfd[0]);
  s->watchdog_fd = pfd[1];

  if (geteuid() == 0 && chown(s->root, s->uid, s->gid) != 0) goto fail;
  char *cp[] = {"/bin/cp", "-a", tpl, s->data, NULL};
  if (hl_wait(hl_spawn(cp, NULL, NULL), 60000) != 0) goto fail;
  char path[400];
  snprintf(path, sizeof path, "%s/pg_hba.conf", s->data);
  if (write_file(path,
                 "local all all trust\n"
                 "host all all 127.0.0.1/32 scram-sha-256\n"
                 "host all all ::1/128 scram-sha-256\n",
                 s->uid, s->gid, 0600) != 0)
    goto fail;
  s->durable = o && o->durable;
  s->replica = o && o->replica;
  if (o && o->ssl_cert_file) {
    s->ssl = 1;
    snprintf(path, sizeof path, "%s/server.crt", s->data);
    if (copy_file(o->ssl_cert_file, path, s->uid, s->gid, 0644) != 0) goto fail;
    snprintf(path, sizeof path, "%s/server.key", s->data);
    if (copy_file(o->ssl_key_file, path, s->uid, s->gid, 0600) != 0) goto fail;
  }
  if (chown_tree(s->data, s->uid, s->gid) != 0) goto fail;
  s->port = pick_port();
  if (start_server(s) != 0) goto fail;
  return 0;
fail:
  fprintf(stderr, "hl_pgsrv: could not set up a server in %s\n", s->root);
  hl_pgsrv_destroy(s);
  return -1;
}

int hl_pgsrv_stop(hl_pgsrv *s) {
  int rc = stop_pid(s->pid);
  s->pid = 0;
  return rc;
}

int hl_pgsrv_resume(hl_pgsrv *s) {
  if (s->pid) return 0;
  int port = s->port;
  int rc = start_server(s);
  if (rc == 0 && s->port != port) {
    fprintf(stderr, "hl_pgsrv: port %d was taken while stopped; now on %d\n", port, s->port);
    return -1;
  }
  return rc;
}

int hl_pgsrv_restart(hl_pgsrv *s) {
  if (hl_pgsrv_stop(s) != 0) return -1;
  return hl_pgsrv_resume(s);
}

int hl_pgsrv_restart_standby(hl_pgsrv *s) {
  if (!s->replica) {
    fprintf(stderr, "hl_pgsrv: a standby needs a server started with .replica\n");
    return -1;
  }
  if (hl_pgsrv_stop(s) != 0) return -1;
  char path[400];
  snprintf(path, sizeof path, "%s/standby.signal", s->data);
  if (write_file(path, "", s->uid, s->gid, 0600) != 0) return -1;
  return hl_pgsrv_resume(s);
}

void hl_pgsrv_destroy(hl_pgsrv *s) {
  if (s->pid) hl_pgsrv_stop(s);
  if (s->root[0]) hl_rmtree(s->root);
  if (s->watchdog_fd >= 0) {
    close(s->watchdog_fd);
    s->watchdog_fd = -1;
  }
  if (s->watchdog > 0) {
    hl_wait(s->watchdog, 10000);
    s->watchdog = 0;
  }
  s->root[0] = '\0';
}

int hl_pgsrv_exec(const hl_pgsrv *s, const char *sql, char *out, size_t outlen) {
  return exec_sql(s->sock, s->port, HL_PGSRV_DB, sql, out, outlen);
}

const char *hl_pgsrv_url(const hl_pgsrv *s, const char *extra) {
  static char url[512];
  snprintf(url, sizeof url, "postgresql://%s:%s@127.0.0.1:%d/%s%s", HL_PGSRV_USER, HL_PGSRV_PASSWORD, s->port,
           HL_PGSRV_DB, extra ? extra : "");
  return url;
}

int hl_pgsrv_signal(const hl_pgsrv *s, int sig) {
  if (s->pid <= 0 || kill(s->pid, sig) != 0) return -1;
  DIR *d = opendir("/proc");
  if (!d) return -1;
  struct dirent *e;
  while ((e = readdir(d))) {
    char path[300], buf[512];
    snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
    FILE *f = fopen(path, "r");
    if (!f) continue;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* "pid (command) state ppid ...": the command may hold spaces and
     * parentheses, so from the last ')'. */
    const char *rp = strrchr(buf, ')');
    int ppid = 0;
    if (rp && sscanf(rp + 1, " %*c %d", &ppid) == 1 && ppid == s->pid) kill((pid_t)atoi(e->d_name), sig);
  }
  closedir(d);
  return 0;
}
