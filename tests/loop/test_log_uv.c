/* Batched log lines (common/hl_log with loop/hl_log_uv): stderr is
 * redirected to a pipe, and what reaches it, and when, is read back. */
#include "hl_test.h"
#include "common/hl_log.h"
#include "loop/hl_log_uv.h"

#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

static int saved = -1, rd = -1;

/* stderr becomes the write end of a non-blocking pipe. */
static void capture(void) {
  int p[2];
  HL_ASSERT(pipe(p) == 0);
  fcntl(p[0], F_SETFL, O_NONBLOCK);
  fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
  saved = dup(2);
  dup2(p[1], 2);
  close(p[1]);
  rd = p[0];
}

static void restore(void) {
  dup2(saved, 2);
  close(saved);
  close(rd);
}

/* Whatever the pipe holds now; each read() is one write() of the writer's
 * as long as the reader keeps up, which the tests arrange. */
static size_t drain(char *out, size_t cap, size_t *nreads) {
  size_t n = 0;
  *nreads = 0;
  for (;;) {
    ssize_t r = read(rd, out + n, cap - 1 - n);
    if (r <= 0) break;
    n += (size_t)r;
    (*nreads)++;
  }
  out[n] = '\0';
  return n;
}

static size_t count(const char *s, const char *what) {
  size_t n = 0;
  for (const char *p = s; (p = strstr(p, what)); p++) n++;
  return n;
}

HL_TEST(lines_wait_for_the_flush_and_errors_do_not) {
  static char got[1 << 16];
  size_t reads;
  capture();
  hl_log_batch_begin();
  hl_log_info("first", "\"n\":%d", 1);
  hl_log_warn("second", "\"n\":%d", 2);
  HL_ASSERT_EQ_INT(drain(got, sizeof got, &reads), 0); /* held */
  hl_log_error("third", "\"n\":%d", 3);                 /* errors go out at once, after what was held */
  drain(got, sizeof got, &reads);
  const char *a = strstr(got, "\"first\""), *b = strstr(got, "\"second\""), *c = strstr(got, "\"third\"");
  HL_ASSERT(a && b && c && a < b && b < c);
  hl_log_info("fourth", "%s", "");
  hl_log_flush();
  drain(got, sizeof got, &reads);
  HL_ASSERT(strstr(got, "\"fourth\""));
  HL_ASSERT_EQ_INT(reads, 1);
  hl_log_batch_end();
  hl_log_info("fifth", "%s", ""); /* not batched any more */
  drain(got, sizeof got, &reads);
  HL_ASSERT(strstr(got, "\"fifth\""));
  restore();
}

/* Many lines: every write holds whole lines and at most PIPE_BUF bytes,
 * so writes to a shared pipe stay atomic; none is lost. */
HL_TEST(a_batch_is_whole_lines_of_at_most_pipe_buf) {
  static char got[1 << 20];
  capture();
  hl_log_batch_begin();
  size_t total = 0, reads_total = 0;
  for (int i = 0; i < 500; i++) {
    hl_log_info("a line of the batch", "\"i\":%d,\"pad\":\"%s\"", i, "0123456789012345678901234567890123456789");
    char chunk[PIPE_BUF + 1];
    for (;;) { /* read as we go: one read is one write */
      ssize_t r = read(rd, chunk, sizeof chunk - 1);
      if (r <= 0) break;
      HL_ASSERT((size_t)r <= PIPE_BUF);
      HL_ASSERT(chunk[r - 1] == '\n');
      memcpy(got + total, chunk, (size_t)r);
      total += (size_t)r;
      reads_total++;
    }
  }
  hl_log_batch_end();
  size_t reads;
  total += drain(got + total, sizeof got - total, &reads);
  reads_total += reads;
  got[total] = '\0';
  HL_ASSERT_EQ_INT(count(got, "a line of the batch"), 500);
  HL_ASSERT_MSG(reads_total < 100, "%zu writes for 500 lines", reads_total);
  restore();
}

static void *other_thread(void *arg) {
  (void)arg;
  hl_log_info("from another thread", "%s", "");
  return NULL;
}

HL_TEST(other_threads_write_at_once) {
  static char got[1 << 16];
  size_t reads;
  capture();
  hl_log_batch_begin();
  hl_log_info("held", "%s", "");
  pthread_t t;
  pthread_create(&t, NULL, other_thread, NULL);
  pthread_join(t, NULL);
  drain(got, sizeof got, &reads);
  HL_ASSERT(strstr(got, "from another thread"));
  HL_ASSERT(!strstr(got, "\"held\""));
  hl_log_batch_end();
  drain(got, sizeof got, &reads);
  HL_ASSERT(strstr(got, "\"held\""));
  restore();
}

static void on_timer(uv_timer_t *t) {
  hl_log_info("from the loop", "%s", "");
  uv_close((uv_handle_t *)t, NULL);
}

/* hl_log_uv flushes when the loop is about to wait, and never keeps it
 * alive: uv_run returns once the timer is closed. */
HL_TEST(the_loop_flushes_before_it_waits) {
  static char got[1 << 16];
  size_t reads;
  capture();
  uv_loop_t loop;
  uv_loop_init(&loop);
  hl_log_uv lu;
  hl_log_uv_start(&lu, &loop);
  uv_timer_t t;
  uv_timer_init(&loop, &t);
  uv_timer_start(&t, on_timer, 1, 0);
  hl_log_info("before the run", "%s", "");
  size_t held = drain(got, sizeof got, &reads);
  uv_run(&loop, UV_RUN_ONCE); /* prepare runs before the wait: the first line goes out */
  drain(got, sizeof got, &reads);
  bool first = strstr(got, "before the run") != NULL;
  bool from_loop = strstr(got, "from the loop") != NULL; /* if the timer was due already */
  uv_run(&loop, UV_RUN_DEFAULT); /* the timer fires, the loop ends */
  hl_log_uv_close(&lu);
  uv_run(&loop, UV_RUN_DEFAULT);
  int closed = uv_loop_close(&loop);
  drain(got, sizeof got, &reads);
  from_loop = from_loop || strstr(got, "from the loop");
  restore(); /* before asserting: a failure's message goes to stderr */
  HL_ASSERT_EQ_INT(held, 0);
  HL_ASSERT(first);
  HL_ASSERT_EQ_INT(closed, 0);
  HL_ASSERT(from_loop);
}
