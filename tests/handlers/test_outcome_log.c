/* The attempts' log lines (handlers/hl_outcome_log.h): what goes out at each
 * level, and the per-subscription summary's counts. stderr is captured into
 * a file for each test. */
#include "common/hl_log.h"
#include "handlers/hl_outcome_log.h"
#include "hl_test.h"
#include "hl_testutil.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

static char cap_path[512];
static int saved_fd = -1;

static void capture_begin(void) {
  snprintf(cap_path, sizeof cap_path, "%s/hl-outcome-log-XXXXXX", hl_tmp_base());
  int fd = mkstemp(cap_path);
  HL_ASSERT(fd >= 0);
  saved_fd = dup(2);
  dup2(fd, 2);
  close(fd);
}

/* Everything written to stderr since capture_begin (the caller frees). */
static char *captured(void) {
  char *s = hl_read_file(cap_path, NULL);
  HL_ASSERT(s != NULL);
  return s;
}

static void capture_end(void) {
  dup2(saved_fd, 2);
  close(saved_fd);
  unlink(cap_path);
}

static int count_of(const char *hay, const char *needle) {
  int n = 0;
  for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) n++;
  return n;
}

/* The line of hay holding needle, copied into out. */
static const char *line_with(const char *hay, const char *needle, char *out, size_t cap) {
  const char *p = strstr(hay, needle);
  if (!p) return NULL;
  while (p > hay && p[-1] != '\n') p--;
  const char *e = strchr(p, '\n');
  size_t n = e ? (size_t)(e - p) : strlen(p);
  if (n >= cap) n = cap - 1;
  memcpy(out, p, n);
  out[n] = '\0';
  return out;
}

static void attempt(hl_outcome_log *l, const char *sub, hl_outcome o, long status, double latency_s, const char *error) {
  hl_outcome_info info = {.outcome = o, .event_id = "e-1", .subscription_id = sub, .attempt = 1,
                          .status_code = status, .latency_s = latency_s, .since_accept_s = 0.5, .error = error};
  hl_outcome_log_attempt(l, &info, "00-trace");
}

static uv_loop_t loop;
static hl_outcome_log olog;
static int closed;

static void on_closed(uv_handle_t *h) {
  (void)h;
  closed++;
}

static void start(hl_log_level lvl, uint64_t interval_ms) {
  hl_log_set_level(lvl);
  uv_loop_init(&loop);
  hl_outcome_log_init(&olog, &loop, interval_ms);
  capture_begin();
}

static char *finish(void) {
  hl_outcome_log_close(&olog, on_closed);
  uv_run(&loop, UV_RUN_DEFAULT);
  HL_ASSERT_EQ_INT(closed, 1);
  HL_ASSERT_EQ_INT(uv_loop_close(&loop), 0);
  char *out = captured();
  capture_end();
  return out;
}

HL_TEST(at_info_successes_are_counted_failures_logged_and_the_summary_has_the_counts) {
  start(HL_LOG_INFO, 0);
  for (int i = 0; i < 3; i++) attempt(&olog, "s1", HL_OUTCOME_SUCCESS, 200, 0.010, NULL);
  attempt(&olog, "s1", HL_OUTCOME_DUPLICATE, 0, 0, NULL);
  attempt(&olog, "s1", HL_OUTCOME_RETRY, 503, 0.030, "partner answered 503");
  attempt(&olog, "s1", HL_OUTCOME_RETRY, 0, 0.020, "connection refused");
  attempt(&olog, "s1", HL_OUTCOME_FAILED, 400, 0.020, "partner answered 400");
  attempt(&olog, "s2", HL_OUTCOME_SUCCESS, 204, 0.002, NULL);
  attempt(&olog, "s2", HL_OUTCOME_SUCCESS, 204, 0.004, NULL);
  char *before = captured();
  /* Only the three failed attempts have lines of their own, at once. */
  HL_ASSERT_EQ_INT(count_of(before, "\"msg\":\"delivery attempt\""), 3);
  HL_ASSERT_EQ_INT(count_of(before, "\"outcome\":\"success\""), 0);
  HL_ASSERT_EQ_INT(count_of(before, "\"level\":\"info\",\"msg\":\"delivery attempt\""), 2);
  HL_ASSERT_EQ_INT(count_of(before, "\"level\":\"warn\",\"msg\":\"delivery attempt\""), 1);
  HL_ASSERT(strstr(before, "\"error\":\"connection refused\"") != NULL);
  HL_ASSERT_EQ_INT(count_of(before, "\"msg\":\"deliveries\""), 0);
  free(before);
  hl_outcome_log_flush(&olog);
  char *out = finish();
  HL_ASSERT_EQ_INT(count_of(out, "\"level\":\"info\",\"msg\":\"deliveries\""), 2);
  char line[1024];
  HL_ASSERT(line_with(out, "\"subscription_id\":\"s1\",\"window_ms\"", line, sizeof line));
  HL_ASSERT_MSG(strstr(line, "\"attempts\":7,\"success\":3,\"duplicate\":1,\"retry\":2,\"failed\":1,"
                             "\"status\":{\"200\":3,\"503\":1,\"0\":1,\"400\":1}") != NULL, "%s", line);
  HL_ASSERT_MSG(strstr(line, "\"latency_ms_max\":30.0") != NULL, "%s", line);
  HL_ASSERT(line_with(out, "\"subscription_id\":\"s2\",\"window_ms\"", line, sizeof line));
  HL_ASSERT_MSG(strstr(line, "\"attempts\":2,\"success\":2,\"duplicate\":0,\"retry\":0,\"failed\":0,"
                             "\"status\":{\"204\":2},\"latency_ms_mean\":3.0,\"latency_ms_max\":4.0") != NULL,
                "%s", line);
  free(out);
}

HL_TEST(at_debug_every_attempt_has_its_line_and_the_summary_still_goes_out) {
  start(HL_LOG_DEBUG, 0);
  for (int i = 0; i < 4; i++) attempt(&olog, "s1", HL_OUTCOME_SUCCESS, 200, 0.001, NULL);
  char *out = finish(); /* close writes the window's summary */
  HL_ASSERT_EQ_INT(count_of(out, "\"level\":\"debug\",\"msg\":\"delivery attempt\""), 4);
  HL_ASSERT_EQ_INT(count_of(out, "\"outcome\":\"success\",\"attempt\":1,\"status_code\":200"), 4);
  HL_ASSERT_EQ_INT(count_of(out, "\"msg\":\"deliveries\",\"subscription_id\":\"s1\""), 1);
  HL_ASSERT(strstr(out, "\"attempts\":4,\"success\":4") != NULL);
  free(out);
}

HL_TEST(at_warn_nothing_is_counted_and_a_failure_is_still_logged) {
  start(HL_LOG_WARN, 0);
  attempt(&olog, "s1", HL_OUTCOME_SUCCESS, 200, 0.001, NULL);
  attempt(&olog, "s1", HL_OUTCOME_RETRY, 503, 0.001, "partner answered 503");
  attempt(&olog, "s1", HL_OUTCOME_FAILED, 410, 0.001, "partner answered 410");
  char *out = finish();
  HL_ASSERT_EQ_INT(count_of(out, "\"msg\":\"deliveries\""), 0);
  HL_ASSERT_EQ_INT(count_of(out, "\"msg\":\"delivery attempt\""), 1);
  HL_ASSERT(strstr(out, "\"level\":\"warn\",\"msg\":\"delivery attempt\"") != NULL);
  HL_ASSERT(strstr(out, "\"status_code\":410") != NULL);
  free(out);
}

HL_TEST(statuses_past_the_distinct_ones_kept_are_counted_as_other) {
  start(HL_LOG_INFO, 0);
  static const long codes[] = {500, 501, 502, 503, 504, 505, 506, 507, 500};
  for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
    attempt(&olog, "s1", HL_OUTCOME_RETRY, codes[i], 0.001, "partner answered 5xx");
  char *out = finish();
  HL_ASSERT(strstr(out, "\"status\":{\"500\":2,\"501\":1,\"502\":1,\"503\":1,\"504\":1,\"505\":1,\"other\":2}") != NULL);
  free(out);
}

static void on_poll(uv_timer_t *t) {
  char *out = captured();
  bool seen = strstr(out, "\"msg\":\"deliveries\"") != NULL;
  free(out);
  if (seen) uv_timer_stop(t);
}

static void on_giveup(uv_timer_t *t) { uv_stop(t->loop); }

/* The window's timer writes the summary without a flush, and a subscription
 * with no attempts in a window is forgotten. The timer keeps no loop alive:
 * a poll timer does, until the line is there (at most 10 s). */
HL_TEST(the_timer_writes_the_summary_and_a_quiet_subscription_is_forgotten) {
  start(HL_LOG_INFO, 20);
  attempt(&olog, "s1", HL_OUTCOME_SUCCESS, 200, 0.001, NULL);
  attempt(&olog, "s2", HL_OUTCOME_SUCCESS, 200, 0.001, NULL);
  HL_ASSERT_EQ_INT(hl_strmap_len(&olog.by_sub), 2);
  uv_timer_t poll, giveup;
  uv_timer_init(&loop, &poll);
  uv_timer_init(&loop, &giveup);
  uv_timer_start(&poll, on_poll, 5, 5);
  uv_timer_start(&giveup, on_giveup, 10000, 0);
  uv_unref((uv_handle_t *)&giveup);
  uv_run(&loop, UV_RUN_DEFAULT);
  char *out = captured();
  HL_ASSERT_EQ_INT(count_of(out, "\"msg\":\"deliveries\""), 2);
  free(out);
  /* A window of s1 alone: s2 is forgotten when it ends. */
  attempt(&olog, "s1", HL_OUTCOME_SUCCESS, 200, 0.001, NULL);
  hl_outcome_log_flush(&olog);
  HL_ASSERT_EQ_INT(hl_strmap_len(&olog.by_sub), 1);
  uv_close((uv_handle_t *)&poll, NULL);
  uv_close((uv_handle_t *)&giveup, NULL);
  out = finish();
  HL_ASSERT_EQ_INT(count_of(out, "\"msg\":\"deliveries\",\"subscription_id\":\"s1\""), 2);
  HL_ASSERT_EQ_INT(count_of(out, "\"msg\":\"deliveries\",\"subscription_id\":\"s2\""), 1);
  free(out);
}
