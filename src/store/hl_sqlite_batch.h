/* hl_sqlite_batch.h — the rows of a single-row write (an INSERT of one
 * VALUES row) kept and then written by one multi-row statement: one
 * statement execution for up to HL_SQLITE_BATCH_MAX rows instead of one
 * each (bench/README.md, "Issue 21, per-turn batching of the store's
 * writes"). SQLite's per-execution cost (opening a cursor on the table and
 * on each of its indexes, the VDBE's start and halt) is paid once a batch.
 *
 * The batch only holds and binds values; the store decides when to write
 * (before its COMMIT, and before any statement that reads the table) and
 * what each row's outcome is (see hl_store_sqlite.c, flush_batch). A
 * batch whose rows are single keys ("?", joined into "IN (?,?,...)") reads
 * them the same way (flush_ledger_reads).
 *
 * Ownership: text values are copied into the batch's own buffer (reused
 * from turn to turn: no allocation per row once it has grown); the
 * statements it prepares are its own and are finalized by _close. */
#ifndef HL_SQLITE_BATCH_H
#define HL_SQLITE_BATCH_H

#include "common/hl_buf.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

/* Rows a statement writes at most; 11 columns a row stay far below
 * SQLite's 32,766 parameters. Statements for 64, 32, ..., 1 rows are
 * prepared on first use, so any number of rows is written by at most
 * seven executions. */
#define HL_SQLITE_BATCH_MAX 64
#define HL_SQLITE_BATCH_SIZES 7 /* 64, 32, 16, 8, 4, 2, 1 */

typedef struct {
  unsigned char type; /* SQLITE_NULL, SQLITE_INTEGER or SQLITE_TEXT */
  int64_t i;
  size_t off, len;    /* text: its bytes in the batch's buffer */
} hl_sqlite_val;

typedef struct {
  char *head, *row, *tail; /* "INSERT ... VALUES", "(?,?,...,?)", " ON CONFLICT ..." or "" */
  int ncols;               /* the '?' in row */
  hl_sqlite_val *v;        /* nrows * ncols values, row by row */
  size_t nv, cap;
  size_t nrows;
  hl_buf text;
  sqlite3_stmt *st[HL_SQLITE_BATCH_SIZES];
} hl_sqlite_batch;

/* row: one VALUES row with a '?' for each of the ncols values a row adds
 * (literals may stand between them). The strings are copied. */
void hl_sqlite_batch_init(hl_sqlite_batch *b, const char *head, const char *row, const char *tail);
void hl_sqlite_batch_close(hl_sqlite_batch *b);

/* A row is its ncols values, added in the order of row's '?'. */
void hl_sqlite_batch_text(hl_sqlite_batch *b, const char *v); /* NULL: SQL NULL */
void hl_sqlite_batch_int(hl_sqlite_batch *b, int64_t v);
/* Ends a row (all its values added); returns how many rows are held. */
size_t hl_sqlite_batch_end_row(hl_sqlite_batch *b);

/* true when row's col-th value is the text s (len bytes). */
bool hl_sqlite_batch_text_is(const hl_sqlite_batch *b, size_t row, int col, const char *s, size_t len);
/* row's col-th value, an integer (0 when it is not one). */
int64_t hl_sqlite_batch_int_at(const hl_sqlite_batch *b, size_t row, int col);

/* Adds n values of another batch's row (from its col-th) to the row being
 * built: a row of one kind carried by a row of another. */
void hl_sqlite_batch_add_from(hl_sqlite_batch *b, const hl_sqlite_batch *src, size_t row, int col, int n);
/* Forgets the last row (ended), its text too. */
void hl_sqlite_batch_drop_row(hl_sqlite_batch *b);
/* Takes back the last n values of the last row (ended), to be added
 * again: the row stays ended once they are. */
void hl_sqlite_batch_redo_tail(hl_sqlite_batch *b, int n);

/* The largest statement size (64, 32, ..., 1) that is at most n. */
size_t hl_sqlite_batch_chunk(size_t n);
/* The statement writing n rows (n a size of hl_sqlite_batch_chunk), reset,
 * with rows first .. first + n - 1 bound; NULL if it cannot be prepared. */
sqlite3_stmt *hl_sqlite_batch_bind(hl_sqlite_batch *b, sqlite3 *db, size_t first, size_t n);
/* Binds row's values to st's parameters 1 .. ncols (st reset first): a
 * statement of the caller's own that takes one row's values by number. */
void hl_sqlite_batch_bind_row(const hl_sqlite_batch *b, size_t row, sqlite3_stmt *st);
/* Forgets the rows (after they were written or failed). */
void hl_sqlite_batch_clear(hl_sqlite_batch *b);

#endif
