/* hl_test.h — the test harness. Each test is a function registered with
 * HL_TEST(name); the runner forks every test into its own process with a
 * timeout, so a crash or hang fails that test alone. A test fails by a failed
 * HL_ASSERT* (which prints file:line and exits the child) and passes by
 * returning. A test that cannot run here says why with HL_SKIP("reason")
 * (it ends there); one that runs but leaves a part out says so with
 * HL_SKIP_PART("reason") and goes on. Both print "skipped: <reason>" and
 * are counted. The runner ends with the line
 * "N passed, N failed, N skipped, N with parts skipped".
 * Each test runs with a $TMPDIR of its own (hl-XXXXXX in the runner's
 * $TMPDIR or /tmp), which what it spawns inherits: removed when the test
 * passes or skips, kept and named ("<test>: its files are kept in <dir>")
 * when it fails.
 *
 *   ./test_foo            run all tests of this executable
 *   ./test_foo name...    run only the named tests (an unknown name is an
 *                         error: nothing runs, exit status 2)
 *   HL_TEST_NOFORK=1      run in-process (for gdb), in the runner's own
 *                         $TMPDIR
 *
 * Exit status: 0 when nothing failed and something passed; 77 when every
 * selected test was skipped (ctest reports it as skipped); 1 otherwise.
 */
#ifndef HL_TEST_H
#define HL_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*hl_test_fn)(void);
void hl_test_register(const char *name, hl_test_fn fn, int timeout_s);

#define HL_TEST_T(name, timeout_s)                                          \
  static void hl_test_##name(void);                                         \
  __attribute__((constructor)) static void hl_test_reg_##name(void) {       \
    hl_test_register(#name, hl_test_##name, timeout_s);                     \
  }                                                                         \
  static void hl_test_##name(void)

#define HL_TEST(name) HL_TEST_T(name, 60)

/* The exit status of a test child that skipped itself, and of a runner
 * whose every selected test was skipped. */
#define HL_TEST_SKIP_STATUS 77

void hl_test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));
void hl_test_skip(const char *file, int line, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));
void hl_test_skip_part(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define HL_SKIP(...) hl_test_skip(__FILE__, __LINE__, __VA_ARGS__)
#define HL_SKIP_PART(...) hl_test_skip_part(__FILE__, __LINE__, __VA_ARGS__)

#define HL_ASSERT(cond)                                                     \
  do { if (!(cond)) hl_test_fail(__FILE__, __LINE__, "assertion failed: %s", #cond); } while (0)
#define HL_ASSERT_MSG(cond, ...)                                            \
  do { if (!(cond)) hl_test_fail(__FILE__, __LINE__, __VA_ARGS__); } while (0)
#define HL_ASSERT_EQ_INT(a, b)                                              \
  do { long long _a = (long long)(a), _b = (long long)(b);                  \
       if (_a != _b) hl_test_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, _a, _b); } while (0)
#define HL_ASSERT_EQ_STR(a, b)                                              \
  do { const char *_a = (a), *_b = (b);                                     \
       if (_a == NULL || _b == NULL || strcmp(_a, _b) != 0)                 \
         hl_test_fail(__FILE__, __LINE__, "%s == %s: \"%s\" != \"%s\"", #a, #b, \
                      _a ? _a : "(null)", _b ? _b : "(null)"); } while (0)

#endif
