/* hl_store_rec.h — how a record kind maps to a table row or an item: one
 * descriptor table per kind (column / attribute name, type, where the
 * field sits in the struct, and how it is stored), so that the SQLite,
 * PostgreSQL and DynamoDB backends bind and read a record in one loop each,
 * and the column lists and placeholder counts of their statements are
 * derived from the table instead of kept by hand.
 *
 * A column's name is also its DynamoDB attribute's. The order of the table
 * is the order of the columns in the statements (and of the parameters).
 * Adding a field to a record kind is one row here (plus the backends'
 * migrations for the new column).
 */
#ifndef HL_STORE_REC_H
#define HL_STORE_REC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/hl_buf.h"
#include "store/hl_store.h"

typedef enum { HL_RF_TEXT, HL_RF_I64 } hl_rf_type;

enum {
  /* Part of the primary key: listed first, always written, never updated. */
  HL_RF_KEY = 1u << 0,
  /* Written once: an update of the row keeps the stored value (created_at). */
  HL_RF_KEEP = 1u << 1,
  /* A NOT NULL text column: NULL is stored as "" and "" reads back as NULL
   * (SQL only; a DynamoDB item simply has no attribute). */
  HL_RF_EMPTY_NULL = 1u << 2,
  /* A number where 0 or less means "none": stored as NULL / no attribute. */
  HL_RF_ZERO_NULL = 1u << 3,
  /* May hold a credential sealed at rest (model/hl_sub_seal.h): its bytes
   * are wiped when the record is freed. */
  HL_RF_SEALED = 1u << 4,
  /* The record's revision (optimistic concurrency): a put writes the
   * record's value + 1 on the condition that the stored row's is still the
   * record's value (a record at 0 may also be new), else fails with
   * HL_ECONFLICT; existing rows read as 0. At most one field of a kind. */
  HL_RF_REVISION = 1u << 5,
  /* The put's own token, written with the row: the condition of
   * HL_RF_REVISION also holds when the stored token is the put's (a retry
   * of a put that was committed). Only with an HL_RF_REVISION field. */
  HL_RF_TOKEN = 1u << 6,
};

typedef struct {
  const char *name;   /* column and attribute name */
  hl_rf_type type;    /* TEXT: a char * field (owned); I64: an int64_t field */
  size_t off;         /* offsetof the field in the record */
  unsigned flags;     /* HL_RF_* */
} hl_rec_field;

typedef struct {
  const hl_rec_field *f;
  size_t n;
  /* Rows are never replaced: a put of a key that exists fails with
   * HL_EEXISTS (a plain INSERT; a conditional PutItem), and is not retried
   * after a lost connection (a retry of one that was committed would
   * answer HL_EEXISTS for the caller's own write). */
  bool immutable;
  size_t size;          /* sizeof the record */
  size_t list, count;   /* where a list of them goes: offsetof(hl_store_result, <array>), of its count */
} hl_rec_desc;

/* The most fields a record kind has (sizes the backends' arrays). */
#define HL_REC_MAX_FIELDS 24

extern const hl_rec_desc hl_schema_desc;  /* hl_schema_rec */
extern const hl_rec_desc hl_sub_desc;     /* hl_sub_rec */
extern const hl_rec_desc hl_partner_desc; /* hl_partner_rec */
extern const hl_rec_desc hl_xform_desc;   /* hl_xform_rec (immutable) */

/* The HL_RF_REVISION / HL_RF_TOKEN field of d, or NULL. */
const hl_rec_field *hl_rec_flagged(const hl_rec_desc *d, unsigned flag);
/* The number to store for f: the record's value, + 1 for HL_RF_REVISION. */
int64_t hl_rec_i64_put(const void *rec, const hl_rec_field *f);

/* Field access by descriptor row. */
static inline char **hl_rec_text(void *rec, const hl_rec_field *f) { return (char **)((char *)rec + f->off); }
static inline int64_t *hl_rec_i64(void *rec, const hl_rec_field *f) { return (int64_t *)((char *)rec + f->off); }

/* The text to store for f (HL_RF_EMPTY_NULL: "" for NULL); NULL: SQL NULL. */
const char *hl_rec_text_out(const void *rec, const hl_rec_field *f);
/* Whether the number of f is stored as "none" (HL_RF_ZERO_NULL and <= 0). */
bool hl_rec_i64_none(const void *rec, const hl_rec_field *f);
/* Sets text field f of rec to v, taken (HL_RF_EMPTY_NULL: "" becomes NULL). */
void hl_rec_text_in(void *rec, const hl_rec_field *f, char *v);
/* Appends a zeroed record to d's list in res (*cap: the room it has, 0 at
 * first) and returns it. */
void *hl_rec_append(const hl_rec_desc *d, hl_store_result *res, size_t *cap);
/* Frees the text fields of rec (not rec), wiping the sealed ones first. */
void hl_rec_free(const hl_rec_desc *d, void *rec);

/* SQL statements over table for kind d, with placeholders "<p>1".."<p>n"
 * (p: '?' for SQLite, '$' for PostgreSQL), columns quoted. Appended to out.
 *   put:    INSERT ... ON CONFLICT(key) DO UPDATE SET every column but
 *           the key and the HL_RF_KEEP ones (immutable: the INSERT alone);
 *           parameter i is field i. With an HL_RF_REVISION field, the
 *           update has a WHERE: the stored revision is parameter n + 1 (the
 *           record's own) or the stored token is the one written; a row
 *           that fails it is left as it is (no row changed: HL_ECONFLICT).
 *   update: (d with an HL_RF_REVISION field) the put of a record read
 *           from a stored row (revision > 0): UPDATE that row only, on the
 *           put's condition, with the put's parameters; a row another
 *           process deleted stays deleted (no row changed: HL_ECONFLICT),
 *           where the put's INSERT would have written it back.
 *   list:   SELECT every column ORDER BY the key.
 *   delete: DELETE ... WHERE key = parameters 1..k. */
void hl_rec_sql_put(hl_buf *out, const hl_rec_desc *d, const char *table, char p);
void hl_rec_sql_update(hl_buf *out, const hl_rec_desc *d, const char *table, char p);
void hl_rec_sql_list(hl_buf *out, const hl_rec_desc *d, const char *table);
void hl_rec_sql_delete(hl_buf *out, const hl_rec_desc *d, const char *table, char p);

#endif
