#include "store/hl_sqlite_batch.h"
#include "common/hl_common.h"
#include "common/hl_log.h"

#include <string.h>

void hl_sqlite_batch_init(hl_sqlite_batch *b, const char *head, const char *row, const char *tail) {
  memset(b, 0, sizeof *b);
  b->head = hl_strdup(head);
  b->row = hl_strdup(row);
  b->tail = hl_strdup(tail);
  for (const char *p = row; *p; p++) b->ncols += *p == '?';
}

void hl_sqlite_batch_close(hl_sqlite_batch *b) {
  for (size_t i = 0; i < HL_SQLITE_BATCH_SIZES; i++) sqlite3_finalize(b->st[i]);
  hl_free(b->head);
  hl_free(b->row);
  hl_free(b->tail);
  hl_free(b->v);
  hl_buf_dispose(&b->text);
  memset(b, 0, sizeof *b);
}

static hl_sqlite_val *next_val(hl_sqlite_batch *b) {
  if (b->nv == b->cap) {
    b->cap = b->cap ? b->cap * 2 : (size_t)b->ncols * 16;
    b->v = hl_realloc(b->v, b->cap * sizeof *b->v);
  }
  return &b->v[b->nv++];
}

void hl_sqlite_batch_text(hl_sqlite_batch *b, const char *v) {
  hl_sqlite_val *x = next_val(b);
  if (!v) {
    x->type = SQLITE_NULL;
    return;
  }
  x->type = SQLITE_TEXT;
  x->off = b->text.len;
  x->len = strlen(v);
  hl_buf_append(&b->text, v, x->len);
}

void hl_sqlite_batch_int(hl_sqlite_batch *b, int64_t v) {
  hl_sqlite_val *x = next_val(b);
  x->type = SQLITE_INTEGER;
  x->i = v;
}

size_t hl_sqlite_batch_end_row(hl_sqlite_batch *b) { return ++b->nrows; }

bool hl_sqlite_batch_text_is(const hl_sqlite_batch *b, size_t row, int col, const char *s, size_t len) {
  const hl_sqlite_val *v = &b->v[row * (size_t)b->ncols + (size_t)col];
  return v->type == SQLITE_TEXT && v->len == len && (len == 0 || memcmp(b->text.data + v->off, s, len) == 0);
}

int64_t hl_sqlite_batch_int_at(const hl_sqlite_batch *b, size_t row, int col) {
  const hl_sqlite_val *v = &b->v[row * (size_t)b->ncols + (size_t)col];
  return v->type == SQLITE_INTEGER ? v->i : 0;
}

void hl_sqlite_batch_add_from(hl_sqlite_batch *b, const hl_sqlite_batch *src, size_t row, int col, int n) {
  const hl_sqlite_val *v = &src->v[row * (size_t)src->ncols + (size_t)col];
  for (int i = 0; i < n; i++, v++) {
    hl_sqlite_val *x = next_val(b);
    *x = *v;
    if (v->type != SQLITE_TEXT) continue;
    x->off = b->text.len;
    if (v->len) hl_buf_append(&b->text, src->text.data + v->off, v->len);
  }
}

/* Values are added in order, so the text of the values taken back is the
 * end of the buffer, from the first of them that has any. */
static void take_back(hl_sqlite_batch *b, size_t n) {
  for (size_t i = b->nv - n; i < b->nv; i++)
    if (b->v[i].type == SQLITE_TEXT) {
      b->text.len = b->v[i].off;
      if (b->text.data) b->text.data[b->text.len] = '\0';
      break;
    }
  b->nv -= n;
}

void hl_sqlite_batch_drop_row(hl_sqlite_batch *b) {
  take_back(b, (size_t)b->ncols);
  b->nrows--;
}

void hl_sqlite_batch_redo_tail(hl_sqlite_batch *b, int n) { take_back(b, (size_t)n); }

size_t hl_sqlite_batch_chunk(size_t n) {
  size_t k = HL_SQLITE_BATCH_MAX;
  while (k > n && k > 1) k /= 2;
  return k;
}

/* The slot of the statement for k rows: 64 -> 0, 32 -> 1, ..., 1 -> 6. */
static size_t slot_of(size_t k) {
  size_t i = 0;
  for (size_t m = HL_SQLITE_BATCH_MAX; m > k; m /= 2) i++;
  return i;
}

static sqlite3_stmt *prepared(hl_sqlite_batch *b, sqlite3 *db, size_t k) {
  size_t i = slot_of(k);
  if (b->st[i]) return b->st[i];
  hl_buf sql = HL_BUF_INIT;
  hl_buf_puts(&sql, b->head);
  for (size_t r = 0; r < k; r++) {
    if (r) hl_buf_putc(&sql, ',');
    hl_buf_puts(&sql, b->row);
  }
  hl_buf_puts(&sql, b->tail);
  if (sqlite3_prepare_v3(db, sql.data, (int)sql.len, SQLITE_PREPARE_PERSISTENT, &b->st[i], NULL) != SQLITE_OK) {
    hl_log_error("sqlite prepare failed", "\"error\":\"%s\"", hl_log_esc(sqlite3_errmsg(db), (size_t)-1));
    b->st[i] = NULL;
  }
  hl_buf_dispose(&sql);
  return b->st[i];
}

/* Binds rows first .. first + n - 1 to st's parameters 1, 2, ... */
static void bind_values(const hl_sqlite_batch *b, sqlite3_stmt *st, size_t first, size_t n) {
  const hl_sqlite_val *v = &b->v[first * (size_t)b->ncols];
  int np = (int)n * b->ncols;
  /* SQLITE_STATIC: the buffer is neither grown nor cleared until the
   * statement has run (the rows were all added before the first bind). */
  for (int p = 0; p < np; p++, v++) {
    if (v->type == SQLITE_INTEGER) sqlite3_bind_int64(st, p + 1, v->i);
    else if (v->type == SQLITE_TEXT)
      sqlite3_bind_text(st, p + 1, v->len ? b->text.data + v->off : "", (int)v->len, SQLITE_STATIC);
    else sqlite3_bind_null(st, p + 1);
  }
}

sqlite3_stmt *hl_sqlite_batch_bind(hl_sqlite_batch *b, sqlite3 *db, size_t first, size_t n) {
  sqlite3_stmt *st = prepared(b, db, n);
  if (!st) return NULL;
  sqlite3_reset(st);
  bind_values(b, st, first, n);
  return st;
}

void hl_sqlite_batch_bind_row(const hl_sqlite_batch *b, size_t row, sqlite3_stmt *st) {
  sqlite3_reset(st);
  bind_values(b, st, row, 1);
}

void hl_sqlite_batch_clear(hl_sqlite_batch *b) {
  b->nv = b->nrows = 0;
  hl_buf_reset(&b->text);
}
