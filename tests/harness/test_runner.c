/* The runner's $TMPDIR per test (hl_test.h): each test, and what it spawns,
 * gets a fresh empty directory of its own, removed when the test passes or
 * skips and kept, its path printed, when it fails. */
#include "hl_test.h"
#include "hl_testutil.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Entries of dir other than . and ..; -1 when it cannot be read. */
static int entries(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return -1;
  int n = 0;
  for (struct dirent *e; (e = readdir(d)) != NULL;)
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) n++;
  closedir(d);
  return n;
}

static int exists(const char *path) {
  struct stat st;
  return lstat(path, &st) == 0 || errno != ENOENT;
}

HL_TEST(each_test_runs_in_a_fresh_empty_tmpdir_that_its_children_inherit) {
  if (getenv("HL_TEST_NOFORK")) HL_SKIP("HL_TEST_NOFORK: tests run in the runner's own TMPDIR");
  const char *dir = getenv("TMPDIR");
  HL_ASSERT(dir != NULL);
  const char *slash = strrchr(dir, '/');
  HL_ASSERT_MSG(slash && strncmp(slash + 1, "hl-", 3) == 0 && strlen(slash + 1) == 9,
                "TMPDIR %s is not <base>/hl-XXXXXX", dir);
  HL_ASSERT_EQ_INT(entries(dir), 0);
  char out[600];
  snprintf(out, sizeof out, "%s/child.txt", dir);
  char *argv[] = {"/bin/sh", "-c", "printf %s \"$TMPDIR\" > \"$TMPDIR/child.txt\"", NULL};
  int st = hl_wait(hl_spawn(argv, NULL, NULL), 10000);
  HL_ASSERT(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
  char *got = hl_read_file(out, NULL);
  HL_ASSERT_EQ_STR(got, dir);
  free(got);
}

/* The path the demo's test printed as its TMPDIR ("tmpdir <test> <path>")
 * into out; 0, or -1 when it printed none. */
static int demo_tmpdir(const char *log, const char *test, char *out, size_t n) {
  char key[64];
  snprintf(key, sizeof key, "tmpdir %s ", test);
  size_t kl = strlen(key);
  for (const char *p = log; p && *p;) {
    const char *nl = strchr(p, '\n');
    size_t len = nl ? (size_t)(nl - p) : strlen(p);
    if (len > kl && strncmp(p, key, kl) == 0) {
      snprintf(out, n, "%.*s", (int)(len - kl), p + kl);
      return 0;
    }
    p = nl ? nl + 1 : NULL;
  }
  return -1;
}

HL_TEST(a_passing_tests_tmpdir_is_removed_a_failing_ones_kept_and_named) {
  char *base = hl_tmpdir("runner");
  HL_ASSERT(base != NULL);
  char env[600], logbuf[600];
  snprintf(env, sizeof env, "TMPDIR=%s", base);
  const char *log = hl_log_path("runner-demo", logbuf, sizeof logbuf);
  char *argv[] = {HL_RUNNER_DEMO, NULL};
  char *envp[] = {env, NULL};
  unsetenv("HL_TEST_NOFORK"); /* the demo forks its tests, whatever this runner does */
  int st = hl_wait(hl_spawn(argv, envp, log), 30000);
  char *text = hl_read_file(log, NULL);
  HL_ASSERT(text != NULL);
  HL_ASSERT_MSG(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 1, "the demo runner ended with %d:\n%s", st, text);
  HL_ASSERT_MSG(strstr(text, "ok   passes\n") && strstr(text, "skip skips\n") && strstr(text, "FAIL fails\n"),
                "the demo's tests did not end as meant:\n%s", text);

  const char *names[] = {"passes", "skips", "fails"};
  char dirs[3][600];
  for (int i = 0; i < 3; i++) {
    HL_ASSERT_MSG(demo_tmpdir(text, names[i], dirs[i], sizeof dirs[i]) == 0, "%s printed no TMPDIR:\n%s",
                  names[i], text);
    /* <base>/hl-XXXXXX: in the runner's TMPDIR, and short. */
    HL_ASSERT_MSG(strncmp(dirs[i], base, strlen(base)) == 0 && strncmp(dirs[i] + strlen(base), "/hl-", 4) == 0 &&
                      strlen(dirs[i]) == strlen(base) + 10,
                  "%s's TMPDIR %s is not %s/hl-XXXXXX", names[i], dirs[i], base);
    for (int j = 0; j < i; j++) HL_ASSERT_MSG(strcmp(dirs[i], dirs[j]) != 0, "%s shared a TMPDIR", names[i]);
  }

  /* Passed or skipped: gone, and not named. */
  HL_ASSERT_MSG(!exists(dirs[0]), "the passing test's %s is still there", dirs[0]);
  HL_ASSERT_MSG(!exists(dirs[1]), "the skipped test's %s is still there", dirs[1]);
  HL_ASSERT(strstr(text, "passes: its files are kept") == NULL);
  HL_ASSERT(strstr(text, "skips: its files are kept") == NULL);

  /* Failed: kept with what the test and its child left, and named. */
  char want[700], path[700];
  snprintf(want, sizeof want, "  fails: its files are kept in %s\n", dirs[2]);
  HL_ASSERT_MSG(strstr(text, want) != NULL, "no line \"%.*s\" in:\n%s", (int)strlen(want) - 1, want, text);
  snprintf(path, sizeof path, "%s/left.txt", dirs[2]);
  char *left = hl_read_file(path, NULL);
  HL_ASSERT_EQ_STR(left, "fails\n");
  free(left);
  snprintf(path, sizeof path, "%s/child.txt", dirs[2]);
  char *child = hl_read_file(path, NULL);
  HL_ASSERT_EQ_STR(child, "child\n");
  free(child);

  /* Nothing else was left in the runner's TMPDIR. */
  HL_ASSERT_EQ_INT(entries(base), 1);
  free(text);
  unlink(log);
  hl_rmtree(base);
  free(base);
}
