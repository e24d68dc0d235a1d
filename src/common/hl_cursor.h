/* hl_cursor.h — a cursor over bounded text, for readers that follow a
 * grammar byte by byte (HTTP dates, RFC 3339 timestamps). The text need
 * not be NUL-terminated: nothing at or past `end` is read. Every reader
 * advances the cursor only when it succeeds. */
#ifndef HL_CURSOR_H
#define HL_CURSOR_H

#include <stdbool.h>
#include <string.h>

typedef struct {
  const char *p, *end;
} hl_cursor;

/* Exactly n ASCII digits (isdigit would follow the locale); n ≤ 9. */
static inline bool hl_cursor_digits(hl_cursor *c, int n, int *out) {
  if (c->end - c->p < n) return false;
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (c->p[i] < '0' || c->p[i] > '9') return false;
    v = v * 10 + (c->p[i] - '0');
  }
  c->p += n;
  *out = v;
  return true;
}

/* The literal s. */
static inline bool hl_cursor_lit(hl_cursor *c, const char *s) {
  size_t n = strlen(s);
  if ((size_t)(c->end - c->p) < n || memcmp(c->p, s, n) != 0) return false;
  c->p += n;
  return true;
}

/* The one character ch. */
static inline bool hl_cursor_chr(hl_cursor *c, char ch) {
  if (c->p == c->end || *c->p != ch) return false;
  c->p++;
  return true;
}

#endif
