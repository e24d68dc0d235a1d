#include "common/hl_buf.h"
#include "common/hl_common.h"

#include <stdio.h>
#include <string.h>

void hl_buf_init(hl_buf *b) { b->data = NULL; b->len = b->cap = 0; }

void hl_buf_dispose(hl_buf *b) {
  hl_free(b->data);
  hl_buf_init(b);
}

void hl_buf_reset(hl_buf *b) {
  b->len = 0;
  if (b->data) b->data[0] = '\0';
}

void hl_buf_reserve(hl_buf *b, size_t extra) {
  size_t need = b->len + extra + 1;
  if (need <= b->cap) return;
  size_t cap = b->cap ? b->cap : 64;
  while (cap < need) cap *= 2;
  b->data = hl_realloc(b->data, cap);
  b->cap = cap;
}

void hl_buf_append(hl_buf *b, const void *p, size_t n) {
  hl_buf_reserve(b, n);
  if (n) memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = '\0';
}

void hl_buf_puts(hl_buf *b, const char *s) { hl_buf_append(b, s, strlen(s)); }

void hl_buf_putc(hl_buf *b, char c) {
  if (b->len + 2 > b->cap) hl_buf_reserve(b, 1); /* the byte and the NUL after it */
  b->data[b->len++] = c;
  b->data[b->len] = '\0';
}

void hl_buf_vprintf(hl_buf *b, const char *fmt, va_list ap) {
  va_list ap2;
  va_copy(ap2, ap);
  hl_buf_reserve(b, 64);
  int n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
  if (n >= 0 && (size_t)n >= b->cap - b->len) {
    hl_buf_reserve(b, (size_t)n);
    vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap2);
  }
  va_end(ap2);
  if (n > 0) b->len += (size_t)n;
}

void hl_buf_printf(hl_buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  hl_buf_vprintf(b, fmt, ap);
  va_end(ap);
}

char *hl_buf_steal(hl_buf *b, size_t *len) {
  if (b->data == NULL) hl_buf_reserve(b, 0), b->data[0] = '\0';
  char *p = b->data;
  if (len) *len = b->len;
  hl_buf_init(b);
  return p;
}

void hl_buf_consume(hl_buf *b, size_t n) {
  if (n >= b->len) { hl_buf_reset(b); return; }
  memmove(b->data, b->data + n, b->len - n);
  b->len -= n;
  b->data[b->len] = '\0';
}
