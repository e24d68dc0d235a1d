/* hl_buf.h — a growable byte buffer (always NUL-terminated for convenience).
 * The buffer owns its memory; hl_buf_init allocates nothing. */
#ifndef HL_BUF_H
#define HL_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct {
  char *data;   /* NULL until the first append; data[len] == '\0' after one */
  size_t len;
  size_t cap;
} hl_buf;

#define HL_BUF_INIT {NULL, 0, 0}

void hl_buf_init(hl_buf *b);
void hl_buf_dispose(hl_buf *b);           /* frees; the buffer is empty again */
void hl_buf_reset(hl_buf *b);             /* len = 0, keeps capacity */
void hl_buf_reserve(hl_buf *b, size_t extra);
void hl_buf_append(hl_buf *b, const void *p, size_t n);
void hl_buf_puts(hl_buf *b, const char *s);
void hl_buf_putc(hl_buf *b, char c);
void hl_buf_printf(hl_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void hl_buf_vprintf(hl_buf *b, const char *fmt, va_list ap);
/* Hands the bytes to the caller (who frees them with hl_free); b is empty. */
char *hl_buf_steal(hl_buf *b, size_t *len);
/* Removes the first n bytes. */
void hl_buf_consume(hl_buf *b, size_t n);

#endif
