#include "hl_test.h"

#include <signal.h>
#include <stdarg.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct { const char *name; hl_test_fn fn; int timeout_s; } test_entry;
static test_entry *g_tests;
static int g_ntests, g_cap;

void hl_test_register(const char *name, hl_test_fn fn, int timeout_s) {
  if (g_ntests == g_cap) {
    g_cap = g_cap ? g_cap * 2 : 64;
    g_tests = realloc(g_tests, sizeof *g_tests * (size_t)g_cap);
    if (!g_tests) abort();
  }
  g_tests[g_ntests++] = (test_entry){name, fn, timeout_s};
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

static int selected(const char *name, int argc, char **argv) {
  if (argc <= 1) return 1;
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], name) == 0) return 1;
  return 0;
}

static int run_one(const test_entry *t) {
  if (getenv("HL_TEST_NOFORK")) { t->fn(); return 0; }
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) { perror("fork"); return 1; }
  if (pid == 0) {
    setpgid(0, 0); /* the test and whatever it spawns form one group */
    alarm((unsigned)t->timeout_s);
    t->fn();
    fflush(stdout);
    _exit(0);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {}
  kill(-pid, SIGKILL); /* reap stray children of a failed test */
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return 0;
  if (WIFSIGNALED(status))
    fprintf(stderr, "  %s: killed by signal %d%s\n", t->name, WTERMSIG(status),
            WTERMSIG(status) == SIGALRM ? " (timeout)" : "");
  return 1;
}

int main(int argc, char **argv) {
  int passed = 0, failed = 0;
  signal(SIGPIPE, SIG_IGN);
  for (int i = 0; i < g_ntests; i++) {
    const test_entry *t = &g_tests[i];
    if (!selected(t->name, argc, argv)) continue;
    int rc = run_one(t);
    printf("%s %s\n", rc == 0 ? "ok  " : "FAIL", t->name);
    fflush(stdout);
    rc == 0 ? passed++ : failed++;
  }
  printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 && passed > 0 ? 0 : 1;
}
