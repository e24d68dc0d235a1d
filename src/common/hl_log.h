/* hl_log.h — JSON lines on stderr, one object per line:
 *   {"ts":"2026-11-24T06:30:00.123Z","level":"info","msg":"...", <fields>}
 * Fields are given as a printf-style fragment of JSON members so call sites
 * stay short:  hl_log_info("delivered", "\"event_id\":\"%s\",\"status\":%d", id, st);
 * String values put into fields must be escaped with hl_log_esc (or be known
 * safe, like generated ids). Secrets never go into a log line. A line is
 * never cut: one longer than the stack buffer is built on the heap. */
#ifndef HL_LOG_H
#define HL_LOG_H

#include <stddef.h>

typedef enum { HL_LOG_DEBUG = 0, HL_LOG_INFO, HL_LOG_WARN, HL_LOG_ERROR } hl_log_level;

/* Parses "debug", "info", "warn", "error"; returns -1 for anything else. */
int hl_log_parse_level(const char *s);
void hl_log_set_level(hl_log_level lvl);
hl_log_level hl_log_get_level(void);

void hl_log_write(hl_log_level lvl, const char *msg, const char *fields_fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define hl_log_debug(msg, ...) \
  do { if (hl_log_get_level() <= HL_LOG_DEBUG) hl_log_write(HL_LOG_DEBUG, msg, __VA_ARGS__); } while (0)
#define hl_log_info(msg, ...) hl_log_write(HL_LOG_INFO, msg, __VA_ARGS__)
#define hl_log_warn(msg, ...) hl_log_write(HL_LOG_WARN, msg, __VA_ARGS__)
#define hl_log_error(msg, ...) hl_log_write(HL_LOG_ERROR, msg, __VA_ARGS__)

/* Batching. A line costs a write() system call, which on the delivery path
 * (a line per attempt at info) is a measurable share of a delivery's CPU.
 * Between hl_log_batch_begin and hl_log_batch_end, lines below error level
 * written by the calling thread (the loop's) are collected and written
 * together by hl_log_flush, which loop/hl_log_uv calls each time the loop is
 * about to wait for I/O, and which also runs at exit(). A line therefore
 * reaches stderr within the loop turn that wrote it; what a crash (a signal,
 * not exit) can lose is the current turn's lines below error level. Lines
 * from other threads are written at once. */
void hl_log_batch_begin(void);
void hl_log_flush(void);
void hl_log_batch_end(void);

/* Escapes s (up to n bytes, or strlen when n == (size_t)-1) as the inside of
 * a JSON string into a thread-local ring of buffers; valid until 8 more calls.
 * Long values are cut after ~512 bytes, before a UTF-8 character rather
 * than inside one, with "...". */
const char *hl_log_esc(const char *s, size_t n);

#endif
