/* A runner for test_runner to run, not a test of its own: one test that
 * passes, one that skips and one that fails. Each checks that its $TMPDIR
 * is an empty directory, says which it is ("tmpdir <test> <path>"), and
 * leaves a file there, and a child process another. */
#include "hl_test.h"
#include "hl_testutil.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

static void leave_files(const char *name) {
  const char *dir = getenv("TMPDIR");
  HL_ASSERT(dir != NULL);
  DIR *d = opendir(dir);
  HL_ASSERT_MSG(d != NULL, "TMPDIR %s is not a directory", dir);
  int n = 0;
  for (struct dirent *e; (e = readdir(d)) != NULL;)
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) n++;
  closedir(d);
  HL_ASSERT_MSG(n == 0, "TMPDIR %s holds %d entries at the start", dir, n);
  printf("tmpdir %s %s\n", name, dir);
  fflush(stdout);
  char path[600];
  snprintf(path, sizeof path, "%s/left.txt", dir);
  FILE *f = fopen(path, "w");
  HL_ASSERT(f != NULL);
  fprintf(f, "%s\n", name);
  fclose(f);
  char *argv[] = {"/bin/sh", "-c", "echo child > \"$TMPDIR/child.txt\"", NULL};
  int st = hl_wait(hl_spawn(argv, NULL, NULL), 10000);
  HL_ASSERT(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

HL_TEST(passes) { leave_files("passes"); }

HL_TEST(skips) {
  leave_files("skips");
  HL_SKIP("as test_runner wants");
}

HL_TEST(fails) {
  leave_files("fails");
  HL_ASSERT_MSG(0, "as test_runner wants");
}
