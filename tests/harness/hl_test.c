#include "hl_test.h"
#include "hl_testutil.h"

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct { const char *name; hl_test_fn fn; int timeout_s; } test_entry;
static test_entry *g_tests;
static int g_ntests, g_cap;

/* Parts skipped by the running test: shared with the runner, which reads it
 * after the child exits (a test that goes on after HL_SKIP_PART may still
 * pass or fail). */
static volatile int *g_parts_skipped;
static int g_parts_local; /* when the shared page cannot be had */
static jmp_buf g_nofork_skip; /* HL_SKIP in-process (HL_TEST_NOFORK) */
static int g_nofork;

void hl_test_register(const char *name, hl_test_fn fn, int timeout_s) {
  if (g_ntests == g_cap) {
    g_cap = g_cap ? g_cap * 2 : 64;
    g_tests = realloc(g_tests, sizeof *g_tests * (size_t)g_cap);
    if (!g_tests) abort();
  }
  g_tests[g_ntests++] = (test_entry){name, fn, timeout_s};
}

static void vreport(FILE *f, const char *prefix, const char *file, int line, const char *fmt, va_list ap) {
  fflush(stdout);
  fprintf(f, "  %s", prefix);
  vfprintf(f, fmt, ap);
  fprintf(f, " (%s:%d)\n", file, line);
  fflush(f);
}

void hl_test_fail(const char *file, int line, const char *fmt, ...) {
  va_list ap;
  fflush(stdout);
  fprintf(stderr, "  FAIL %s:%d: ", file, line);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  fflush(stderr);
  _exit(1);
}

void hl_test_skip(const char *file, int line, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vreport(stdout, "skipped: ", file, line, fmt, ap);
  va_end(ap);
  if (g_nofork) longjmp(g_nofork_skip, 1);
  _exit(HL_TEST_SKIP_STATUS);
}

void hl_test_skip_part(const char *file, int line, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vreport(stdout, "skipped: ", file, line, fmt, ap);
  va_end(ap);
  if (g_parts_skipped) (*g_parts_skipped)++;
  else g_parts_local++;
}

static int parts_skipped(void) { return g_parts_skipped ? *g_parts_skipped : g_parts_local; }
static void parts_reset(void) {
  if (g_parts_skipped) *g_parts_skipped = 0;
  g_parts_local = 0;
}

static const test_entry *find(const char *name) {
  for (int i = 0; i < g_ntests; i++)
    if (strcmp(g_tests[i].name, name) == 0) return &g_tests[i];
  return NULL;
}

static int selected(const char *name, int argc, char **argv) {
  if (argc <= 1) return 1;
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], name) == 0) return 1;
  return 0;
}

enum { R_PASS, R_FAIL, R_SKIP };

/* Each forked test gets a $TMPDIR of its own, so that what it and the
 * processes it spawns leave there (logs, data directories, sockets) goes
 * with it when it passes and stays to be read when it fails. The path is
 * kept short: Unix socket paths are made under it and must fit in 108
 * bytes. Returns 0, or -1 when none could be made: the test then runs
 * with the runner's own $TMPDIR. */
static int scratch_make(char *dir, size_t n) {
  snprintf(dir, n, "%s/hl-XXXXXX", hl_tmp_base());
  if (!mkdtemp(dir)) {
    fprintf(stderr, "  cannot make a TMPDIR for the test under %s: %s\n", hl_tmp_base(), strerror(errno));
    dir[0] = '\0';
    return -1;
  }
  /* Run as root, the PostgreSQL server is another account and must reach
   * its directory in here. */
  chmod(dir, 0755);
  return 0;
}

/* Best effort, bounded: a process the test spawned out of its group (the
 * PostgreSQL watchdog, in its own session) or one still dying of the
 * group's SIGKILL may write there for a moment after the test ended. */
static void scratch_remove(const char *dir) {
  for (int tries = 0; tries < 10; tries++) {
    if (tries) hl_sleep_ms(50);
    hl_rmtree(dir);
    if (access(dir, F_OK) != 0 && errno == ENOENT) return;
  }
  fprintf(stderr, "  could not remove %s\n", dir);
}

static int run_one(const test_entry *t) {
  if (g_nofork) {
    if (setjmp(g_nofork_skip)) return R_SKIP;
    t->fn();
    return R_PASS;
  }
  char dir[600];
  int scratch = scratch_make(dir, sizeof dir) == 0;
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) {
    perror("fork");
    if (scratch) scratch_remove(dir);
    return R_FAIL;
  }
  if (pid == 0) {
    setpgid(0, 0); /* the test and whatever it spawns form one group */
    if (scratch) setenv("TMPDIR", dir, 1);
    alarm((unsigned)t->timeout_s);
    t->fn();
    fflush(stdout);
    _exit(0);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {}
  kill(-pid, SIGKILL); /* reap stray children of a failed test */
  int rc = R_FAIL;
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) rc = R_PASS;
  else if (WIFEXITED(status) && WEXITSTATUS(status) == HL_TEST_SKIP_STATUS) rc = R_SKIP;
  else if (WIFSIGNALED(status))
    fprintf(stderr, "  %s: killed by signal %d%s\n", t->name, WTERMSIG(status),
            WTERMSIG(status) == SIGALRM ? " (timeout)" : "");
  if (scratch && rc == R_FAIL) fprintf(stderr, "  %s: its files are kept in %s\n", t->name, dir);
  else if (scratch) scratch_remove(dir);
  return rc;
}

int main(int argc, char **argv) {
  int passed = 0, failed = 0, skipped = 0, partly = 0;
  signal(SIGPIPE, SIG_IGN);
  g_nofork = getenv("HL_TEST_NOFORK") != NULL;
  /* A name that matches nothing would otherwise be a test silently not run. */
  int unknown = 0;
  for (int i = 1; i < argc; i++)
    if (!find(argv[i])) {
      fprintf(stderr, "no test named \"%s\" in %s\n", argv[i], argv[0]);
      unknown++;
    }
  if (unknown) {
    fprintf(stderr, "its tests:");
    for (int i = 0; i < g_ntests; i++) fprintf(stderr, " %s", g_tests[i].name);
    fputc('\n', stderr);
    return 2;
  }
  void *page = mmap(NULL, sizeof(int), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (page != MAP_FAILED) g_parts_skipped = page;
  for (int i = 0; i < g_ntests; i++) {
    const test_entry *t = &g_tests[i];
    if (!selected(t->name, argc, argv)) continue;
    parts_reset();
    int rc = run_one(t);
    int parts = parts_skipped();
    printf("%s %s%s\n", rc == R_PASS ? "ok  " : rc == R_SKIP ? "skip" : "FAIL", t->name,
           rc == R_PASS && parts ? " (parts skipped)" : "");
    fflush(stdout);
    if (rc == R_PASS) passed++;
    else if (rc == R_SKIP) skipped++;
    else failed++;
    if (rc != R_SKIP && parts) partly++;
  }
  printf("%d passed, %d failed, %d skipped, %d with parts skipped\n", passed, failed, skipped, partly);
  if (failed) return 1;
  if (passed == 0 && skipped > 0) return HL_TEST_SKIP_STATUS;
  return passed > 0 ? 0 : 1;
}
