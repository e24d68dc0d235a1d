/* hl_common.h — the few things every hookloop module shares: the error table,
 * the out-of-memory policy, container_of and clocks.
 *
 * Errors: functions return 0 (or a non-negative count) on success and a
 * negative HL_E* code on failure. Library error codes (CURLcode, SQLite,
 * rd_kafka_resp_err_t, mbedTLS) are converted at the module edge. */
#ifndef HL_COMMON_H
#define HL_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifndef HOOKLOOP_VERSION
#define HOOKLOOP_VERSION "0.0.0"
#endif

#define HL_ERRNO_MAP(X)                                                   \
  X(NOMEM,     "out of memory")                                           \
  X(INVAL,     "invalid argument")                                        \
  X(AGAIN,     "incomplete input, call again with more")                  \
  X(PARSE,     "malformed input")                                         \
  X(NOTFOUND,  "not found")                                               \
  X(EXISTS,    "already exists")                                          \
  X(TOOBIG,    "too large")                                               \
  X(IO,        "I/O error")                                               \
  X(STORE,     "store error")                                             \
  X(TIMEOUT,   "timed out")                                               \
  X(BUSY,      "over capacity, try again later")                          \
  X(CANCELED,  "canceled")                                                \
  X(CLOSED,    "closed")                                                  \
  X(REFUSED,   "refused by policy")                                       \
  X(CRYPTO,    "cryptographic failure")                                   \
  X(UNSUPPORTED, "not supported")                                         \
  X(CONFLICT,  "differs from what is there")                              \
  X(UNKNOWN,   "sent, but its outcome is unknown")                        \
  X(INTERNAL,  "internal error")

typedef enum {
  HL_OK = 0,
#define X(name, msg) HL_E##name,
  HL__ERR_FIRST = -1000,
  HL_ERRNO_MAP(X)
#undef X
} hl_err;

/* Human text of an hl_err (or "success" for >= 0). Never NULL. */
const char *hl_strerror(int err);
/* The name without prefix, e.g. "NOTFOUND". */
const char *hl_errname(int err);

/* Out of memory aborts: a webhook engine that loses track of half its
 * in-flight work is worse than one that restarts. These never return NULL. */
void *hl_malloc(size_t n);
void *hl_calloc(size_t nmemb, size_t size);
void *hl_realloc(void *p, size_t n);
char *hl_strdup(const char *s);
char *hl_strndup(const char *s, size_t n);
void hl_free(void *p);
/* Two optional strings alike: both NULL, or both set and equal. */
bool hl_str_same(const char *a, const char *b);
/* Text built on a delivery's path without printf, whose parse of the
 * format costs ~700 instructions a call (bench/README.md, "instructions
 * per delivery"). hl_fmt_i64: v in decimal into out (room for
 * HL_FMT_I64_MAX bytes, NUL included); returns its length. hl_fmt_join:
 * a, then b, then c (any may be NULL: nothing) into out of cap bytes, cut
 * to fit and NUL-terminated as snprintf would; returns the length the
 * whole would have had. */
#define HL_FMT_I64_MAX 21
size_t hl_fmt_i64(char *out, int64_t v);
size_t hl_fmt_join(char *out, size_t cap, const char *a, const char *b, const char *c);
/* Frees each of n owned pointers (any may be NULL). hl_free_all(a, b, ...)
 * is a record's list of owned strings freed in one statement, so a
 * teardown names its fields once. */
void hl_free_n(void *const *p, size_t n);
#define hl_free_all(...) \
  hl_free_n((void *const[]){__VA_ARGS__}, sizeof((void *const[]){__VA_ARGS__}) / sizeof(void *))
/* The last step of an asynchronous close or destroy: frees obj, then tells
 * the owner (cb may be NULL). cb and data are read before the free, as
 * obj is where they were kept. */
void hl_free_then_call(void *obj, void (*cb)(void *data), void *data);

#define hl_container_of(ptr, type, member) \
  ((type *)((char *)(ptr) - offsetof(type, member)))

#define HL_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
/* JSON of more bytes than this is parsed (or read through) on the libuv
 * threadpool rather than on the loop: ~1 ms a 64 KiB on the loop. */
#define HL_INLINE_JSON_BYTES (64u * 1024)
#define HL_MIN(a, b) ((a) < (b) ? (a) : (b))
#define HL_MAX(a, b) ((a) > (b) ? (a) : (b))

/* Wall clock in milliseconds since the epoch (for stored timestamps). */
int64_t hl_wall_ms(void);
/* Monotonic clock in milliseconds (for deadlines and latencies). */
uint64_t hl_mono_ms(void);
/* Monotonic clock in nanoseconds. */
uint64_t hl_mono_ns(void);

/* Constant-time comparison of two byte strings; the running time depends
 * only on the lengths. Returns true when equal. */
bool hl_ct_equal(const void *a, size_t alen, const void *b, size_t blen);

#endif
