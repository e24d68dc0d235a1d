#include "common/hl_common.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *hl_strerror(int err) {
  switch (err) {
#define X(name, msg) case HL_E##name: return msg;
    HL_ERRNO_MAP(X)
#undef X
  default: return err >= 0 ? "success" : "unknown error";
  }
}

const char *hl_errname(int err) {
  switch (err) {
#define X(name, msg) case HL_E##name: return #name;
    HL_ERRNO_MAP(X)
#undef X
  default: return err >= 0 ? "OK" : "UNKNOWN";
  }
}

static void oom(size_t n) {
  fprintf(stderr, "{\"level\":\"error\",\"msg\":\"out of memory\",\"bytes\":%zu}\n", n);
  abort();
}

void *hl_malloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (p == NULL) oom(n);
  return p;
}

/* glibc's calloc (before 2.41) never takes a chunk from the per-thread
 * cache (tcache): every call goes through the arena. Small blocks, the
 * per-record structures of the delivery path, come from malloc, which
 * takes them from the cache, and are cleared here; large ones stay with
 * calloc, which gets fresh mmap pages zeroed for free. */
#define CALLOC_VIA_MALLOC_MAX 1024

void *hl_calloc(size_t nmemb, size_t size) {
  if (nmemb == 0) nmemb = 1;
  if (size == 0) size = 1;
  if (size > SIZE_MAX / nmemb) oom(SIZE_MAX);
  size_t n = nmemb * size;
  void *p = n <= CALLOC_VIA_MALLOC_MAX ? malloc(n) : calloc(nmemb, size);
  if (p == NULL) oom(n);
  if (n <= CALLOC_VIA_MALLOC_MAX) memset(p, 0, n);
  return p;
}

void *hl_realloc(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (q == NULL) oom(n);
  return q;
}

char *hl_strdup(const char *s) { return hl_strndup(s, strlen(s)); }

char *hl_strndup(const char *s, size_t n) {
  char *d = hl_malloc(n + 1);
  memcpy(d, s, n);
  d[n] = '\0';
  return d;
}

void hl_free(void *p) { free(p); }

bool hl_str_same(const char *a, const char *b) { return (!a && !b) || (a && b && strcmp(a, b) == 0); }

size_t hl_fmt_i64(char *out, int64_t v) {
  char rev[HL_FMT_I64_MAX];
  /* Digits of the magnitude as unsigned, so INT64_MIN needs no case. */
  uint64_t m = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
  size_t n = 0, k = 0;
  do {
    rev[n++] = (char)('0' + m % 10);
    m /= 10;
  } while (m);
  if (v < 0) out[k++] = '-';
  while (n) out[k++] = rev[--n];
  out[k] = '\0';
  return k;
}

size_t hl_fmt_join(char *out, size_t cap, const char *a, const char *b, const char *c) {
  const char *part[3] = {a, b, c};
  size_t total = 0;
  for (int i = 0; i < 3; i++) {
    if (!part[i]) continue;
    size_t n = strlen(part[i]);
    if (cap && total < cap - 1) memcpy(out + total, part[i], HL_MIN(n, cap - 1 - total));
    total += n;
  }
  if (cap) out[HL_MIN(total, cap - 1)] = '\0';
  return total;
}

void hl_free_n(void *const *p, size_t n) {
  for (size_t i = 0; i < n; i++) free(p[i]);
}

void hl_free_then_call(void *obj, void (*cb)(void *data), void *data) {
  free(obj);
  if (cb) cb(data);
}

int64_t hl_wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t hl_mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t hl_mono_ms(void) { return hl_mono_ns() / 1000000u; }

bool hl_ct_equal(const void *a, size_t alen, const void *b, size_t blen) {
  const unsigned char *x = a, *y = b;
  unsigned char diff = (unsigned char)(alen != blen);
  /* Walk the longer length so timing does not reveal a common prefix. */
  size_t m = alen > blen ? alen : blen;
  for (size_t i = 0; i < m; i++) {
    unsigned char cx = i < alen ? x[i] : 0, cy = i < blen ? y[i] : 0;
    diff |= (unsigned char)(cx ^ cy);
  }
  return diff == 0;
}
