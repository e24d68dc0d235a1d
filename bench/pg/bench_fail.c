/* The tests' helpers (hl_testutil) report a failed check through the test
 * runner's hl_test_fail; the programs here have no runner: a failure ends
 * the program. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void hl_test_fail(const char *file, int line, const char *fmt, ...);

void hl_test_fail(const char *file, int line, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "%s: %s:%d: ", program_invocation_short_name, file, line);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  exit(1);
}
