#include "common/hl_log.h"
#include "common/hl_buf.h"
#include "common/hl_common.h"

#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static hl_log_level g_level = HL_LOG_INFO;

/* Batching (see hl_log_batch_begin): lines written on the owning thread
 * collect here and go out in one write() of whole lines. PIPE_BUF bounds a
 * batch so that each write to a pipe stays atomic, as a single line's was. */
static struct {
  bool on;
  pthread_t owner;
  size_t len;
  char buf[PIPE_BUF];
} g_batch;

static void write_all(const char *p, size_t n) {
  ssize_t w = write(2, p, n);
  (void)w; /* a log line that cannot be written has nowhere else to go */
}

void hl_log_flush(void) {
  if (!g_batch.on || !pthread_equal(pthread_self(), g_batch.owner) || g_batch.len == 0) return;
  write_all(g_batch.buf, g_batch.len);
  g_batch.len = 0;
}

static void flush_at_exit(void) { hl_log_flush(); }

void hl_log_batch_begin(void) {
  static bool registered;
  if (!registered) registered = atexit(flush_at_exit) == 0;
  g_batch.owner = pthread_self();
  g_batch.len = 0;
  g_batch.on = true;
}

void hl_log_batch_end(void) {
  hl_log_flush();
  g_batch.on = false;
}

int hl_log_parse_level(const char *s) {
  static const char *names[] = {"debug", "info", "warn", "error"};
  for (int i = 0; i < 4; i++)
    if (strcmp(s, names[i]) == 0) return i;
  return -1;
}

void hl_log_set_level(hl_log_level lvl) { g_level = lvl; }
hl_log_level hl_log_get_level(void) { return g_level; }

/* The line is built on the stack; one that outgrows it (the start-up line
 * with every setting, a long error) is built again on the heap rather than
 * cut, since a cut line is no JSON and loses what it was written for. */
void hl_log_write(hl_log_level lvl, const char *msg, const char *fields_fmt, ...) {
  static const char *names[] = {"debug", "info", "warn", "error"};
  if (lvl < g_level) return;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char stack_line[2048];
  char *line = stack_line, *heap = NULL;
  /* The head fits the stack line: hl_log_esc cuts msg at ~515 bytes. */
  int n = snprintf(line, sizeof stack_line,
                   "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"level\":\"%s\",\"msg\":\"%s\"",
                   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                   ts.tv_nsec / 1000000, names[lvl], hl_log_esc(msg, (size_t)-1));
  if (n < 0 || (size_t)n >= sizeof stack_line - 3) return;
  if (fields_fmt && fields_fmt[0]) {
    size_t head = (size_t)n + 1; /* with the comma */
    line[n] = ',';
    va_list ap, again;
    va_start(ap, fields_fmt);
    va_copy(again, ap);
    /* room left for the fields, keeping two bytes for "}\n" */
    int m = vsnprintf(line + head, sizeof stack_line - head - 2, fields_fmt, ap);
    if (m > 0 && (size_t)m >= sizeof stack_line - head - 2) {
      size_t cap = head + (size_t)m + 3;
      heap = malloc(cap);
      if (heap) {
        memcpy(heap, line, head);
        line = heap;
        m = vsnprintf(line + head, cap - head - 2, fields_fmt, again);
      } else {
        m = snprintf(line + head, sizeof stack_line - head - 2, "\"log_fields\":\"dropped: out of memory\"");
      }
    }
    va_end(again);
    va_end(ap);
    if (m > 0) n = (int)(head + (size_t)m); /* else the comma is dropped */
  }
  line[n++] = '}';
  line[n++] = '\n';
  /* Whole lines per write so lines from concurrent processes do not
   * interleave (atomic on a pipe up to PIPE_BUF bytes). Errors go out at
   * once, and so does everything written by a thread other than the
   * batch's owner (after the owner's batch, when it is the owner, to keep
   * its order), and a line longer than a batch. */
  if (g_batch.on && pthread_equal(pthread_self(), g_batch.owner)) {
    if (lvl < HL_LOG_ERROR && (size_t)n <= sizeof g_batch.buf) {
      if (g_batch.len + (size_t)n > sizeof g_batch.buf) hl_log_flush();
      memcpy(g_batch.buf + g_batch.len, line, (size_t)n);
      g_batch.len += (size_t)n;
      free(heap);
      return;
    }
    hl_log_flush();
  }
  write_all(line, (size_t)n);
  free(heap);
}

const char *hl_log_esc(const char *s, size_t n) {
  static __thread char ring[8][560];
  static __thread unsigned slot;
  char *out = ring[slot++ & 7];
  size_t o = 0;
  if (s == NULL) s = "";
  if (n == (size_t)-1) n = strlen(s);
  for (size_t i = 0; i < n; i++) {
    if (o > 512) {
      /* cut where a character starts, so the line stays UTF-8: drop a
       * sequence whose trailing bytes were not all copied */
      size_t k = o;
      while (k > 0 && o - k < 3 && ((unsigned char)out[k - 1] & 0xc0) == 0x80) k--;
      if (k > 0) {
        unsigned char lead = (unsigned char)out[k - 1];
        size_t want = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
        if (o - (k - 1) < want) o = k - 1;
      }
      memcpy(out + o, "...", 3);
      o += 3;
      break;
    }
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') { out[o++] = '\\'; out[o++] = (char)c; }
    else if (c == '\n') { out[o++] = '\\'; out[o++] = 'n'; }
    else if (c < 0x20) o += (size_t)snprintf(out + o, 8, "\\u%04x", c);
    else out[o++] = (char)c;
  }
  out[o] = '\0';
  return out;
}
