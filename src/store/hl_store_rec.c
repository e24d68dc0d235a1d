#include "store/hl_store_rec.h"
#include "common/hl_common.h"

#include <string.h>

/* Rows by field: T text, N number; TN names a column unlike its field. A
 * table's rows are grouped by what they are about. */
#define TN(field, name, flags) {name, HL_RF_TEXT, offsetof(REC, field), flags}
#define T(field, flags) TN(field, #field, flags)
#define N(field, flags) {#field, HL_RF_I64, offsetof(REC, field), flags}
#define KEY HL_RF_KEY
#define KEEP HL_RF_KEEP

/* event_schema: key (schema_id, version). */
#define REC hl_schema_rec
static const hl_rec_field schema_fields[] = {
  T(schema_id, KEY), N(version, KEY),
  T(domain, 0), T(event_type, 0), T(status, 0), TN(schema_json, "schema", 0), T(ingress_topic, 0),
  N(created_at, KEEP),
};
#undef REC

/* partner_event_subscription: key (partner_id, event_type). url and secret
 * are NOT NULL columns: a subscription that is not HTTP has no url, one
 * with the default secret none. */
#define REC hl_sub_rec
static const hl_rec_field sub_fields[] = {
  T(partner_id, KEY), T(event_type, KEY), T(subscription_id, 0),
  T(url, HL_RF_EMPTY_NULL | HL_RF_SEALED), T(secret, HL_RF_EMPTY_NULL | HL_RF_SEALED),
  TN(headers_json, "headers", HL_RF_SEALED), TN(filter_json, "filter", 0),
  N(max_in_flight, 0), N(rate_limit_per_s, 0), N(timeout_ms, 0), T(retry_schedule, 0), T(egress_topic, 0),
  T(status, 0), N(created_at, KEEP),
  /* Added later, in the order of their migrations. */
  TN(destination_json, "destination", 0), T(signing, 0), T(enrichment_on_failure, 0),
  T(client_cert, 0), T(client_key, HL_RF_SEALED), T(ordering, 0), N(skip_after, HL_RF_ZERO_NULL),
  N(revision, HL_RF_REVISION), T(write_token, HL_RF_TOKEN),
};
#undef REC

/* partner: key partner_id. */
#define REC hl_partner_rec
static const hl_rec_field partner_fields[] = {
  T(partner_id, KEY), T(name, 0), T(contact, 0), TN(metadata_json, "metadata", 0),
  N(max_in_flight, 0), N(rate_limit_per_s, 0), N(created_at, KEEP),
};
#undef REC

/* transformation: key (transformation_id, version); a version is written
 * once, so a delivery's "<id>@<version>" names the spec that shaped it. */
#define REC hl_xform_rec
static const hl_rec_field xform_fields[] = {
  T(transformation_id, KEY), N(version, KEY), TN(spec_json, "spec", 0), N(created_at, KEEP),
};
#undef REC

#undef TN
#undef T
#undef N
#undef KEY
#undef KEEP

/* A put binds one parameter a field: the backends size their arrays by this. */
_Static_assert(HL_ARRAY_SIZE(sub_fields) <= HL_REC_MAX_FIELDS && HL_ARRAY_SIZE(schema_fields) <= HL_REC_MAX_FIELDS &&
                   HL_ARRAY_SIZE(partner_fields) <= HL_REC_MAX_FIELDS && HL_ARRAY_SIZE(xform_fields) <= HL_REC_MAX_FIELDS,
               "HL_REC_MAX_FIELDS is too small");

#define DESC(fields, rec, arr, imm)                                                                       \
  {.f = fields, .n = HL_ARRAY_SIZE(fields), .immutable = imm, .size = sizeof(rec),                          \
   .list = offsetof(hl_store_result, arr), .count = offsetof(hl_store_result, n##arr)}
const hl_rec_desc hl_schema_desc = DESC(schema_fields, hl_schema_rec, schemas, false);
const hl_rec_desc hl_sub_desc = DESC(sub_fields, hl_sub_rec, subs, false);
const hl_rec_desc hl_partner_desc = DESC(partner_fields, hl_partner_rec, partners, false);
const hl_rec_desc hl_xform_desc = DESC(xform_fields, hl_xform_rec, xforms, true);

#undef DESC

void *hl_rec_append(const hl_rec_desc *d, hl_store_result *res, size_t *cap) {
  void **arr = (void **)((char *)res + d->list);
  size_t *n = (size_t *)((char *)res + d->count);
  if (*n == *cap) {
    *cap = *cap ? *cap * 2 : 16;
    *arr = hl_realloc(*arr, *cap * d->size);
  }
  void *r = (char *)*arr + (*n)++ * d->size;
  memset(r, 0, d->size);
  return r;
}

const char *hl_rec_text_out(const void *rec, const hl_rec_field *f) {
  const char *v = *hl_rec_text((void *)rec, f);
  return !v && (f->flags & HL_RF_EMPTY_NULL) ? "" : v;
}

bool hl_rec_i64_none(const void *rec, const hl_rec_field *f) {
  return (f->flags & HL_RF_ZERO_NULL) && *hl_rec_i64((void *)rec, f) <= 0;
}

const hl_rec_field *hl_rec_flagged(const hl_rec_desc *d, unsigned flag) {
  for (size_t i = 0; i < d->n; i++)
    if (d->f[i].flags & flag) return &d->f[i];
  return NULL;
}

int64_t hl_rec_i64_put(const void *rec, const hl_rec_field *f) {
  return *hl_rec_i64((void *)rec, f) + ((f->flags & HL_RF_REVISION) ? 1 : 0);
}

void hl_rec_text_in(void *rec, const hl_rec_field *f, char *v) {
  if (v && !*v && (f->flags & HL_RF_EMPTY_NULL)) {
    hl_free(v);
    v = NULL;
  }
  *hl_rec_text(rec, f) = v;
}

void hl_rec_free(const hl_rec_desc *d, void *rec) {
  for (size_t i = 0; i < d->n; i++) {
    if (d->f[i].type != HL_RF_TEXT) continue;
    char **v = hl_rec_text(rec, &d->f[i]);
    if (*v && (d->f[i].flags & HL_RF_SEALED)) explicit_bzero(*v, strlen(*v));
    hl_free(*v);
    *v = NULL;
  }
}

/* The columns, comma-separated; only those with all of the flags in want
 * and none of those in skip. */
static void columns(hl_buf *out, const hl_rec_desc *d, unsigned want, unsigned skip, const char *fmt) {
  bool first = true;
  for (size_t i = 0; i < d->n; i++) {
    if ((d->f[i].flags & want) != want || (d->f[i].flags & skip)) continue;
    if (!first) hl_buf_putc(out, ',');
    hl_buf_printf(out, fmt, d->f[i].name, d->f[i].name);
    first = false;
  }
}

void hl_rec_sql_put(hl_buf *out, const hl_rec_desc *d, const char *table, char p) {
  hl_buf_printf(out, "INSERT INTO %s(", table);
  columns(out, d, 0, 0, "\"%s\"");
  hl_buf_puts(out, ") VALUES(");
  for (size_t i = 0; i < d->n; i++) hl_buf_printf(out, "%s%c%zu", i ? "," : "", p, i + 1);
  hl_buf_putc(out, ')');
  if (d->immutable) return;
  hl_buf_puts(out, " ON CONFLICT(");
  columns(out, d, HL_RF_KEY, 0, "\"%s\"");
  hl_buf_puts(out, ") DO UPDATE SET ");
  columns(out, d, 0, HL_RF_KEY | HL_RF_KEEP, "\"%s\"=excluded.\"%s\"");
  const hl_rec_field *rev = hl_rec_flagged(d, HL_RF_REVISION), *tok = hl_rec_flagged(d, HL_RF_TOKEN);
  if (!rev) return;
  /* The stored row, named by the table (the alias-free form both SQLite
   * and PostgreSQL take in an upsert's WHERE). */
  hl_buf_printf(out, " WHERE %s.\"%s\"=%c%zu", table, rev->name, p, d->n + 1);
  if (tok) hl_buf_printf(out, " OR %s.\"%s\"=excluded.\"%s\"", table, tok->name, tok->name);
}

void hl_rec_sql_update(hl_buf *out, const hl_rec_desc *d, const char *table, char p) {
  const hl_rec_field *rev = hl_rec_flagged(d, HL_RF_REVISION), *tok = hl_rec_flagged(d, HL_RF_TOKEN);
  hl_buf_printf(out, "UPDATE %s SET ", table);
  bool first = true;
  for (size_t i = 0; i < d->n; i++) {
    const hl_rec_field *f = &d->f[i];
    if (f->flags & HL_RF_KEY) continue;
    /* A kept column keeps its value; its parameter is still named, so
     * that every parameter has a type (PostgreSQL prepares them all). */
    if (f->flags & HL_RF_KEEP) hl_buf_printf(out, "%s\"%s\"=COALESCE(\"%s\",%c%zu)", first ? "" : ",", f->name, f->name, p, i + 1);
    else hl_buf_printf(out, "%s\"%s\"=%c%zu", first ? "" : ",", f->name, p, i + 1);
    first = false;
  }
  hl_buf_puts(out, " WHERE ");
  first = true;
  for (size_t i = 0; i < d->n; i++) {
    if (!(d->f[i].flags & HL_RF_KEY)) continue;
    hl_buf_printf(out, "%s\"%s\"=%c%zu", first ? "" : " AND ", d->f[i].name, p, i + 1);
    first = false;
  }
  if (!rev) return;
  hl_buf_printf(out, " AND (\"%s\"=%c%zu", rev->name, p, d->n + 1);
  if (tok) hl_buf_printf(out, " OR \"%s\"=%c%zu", tok->name, p, (size_t)(tok - d->f) + 1);
  hl_buf_putc(out, ')');
}

void hl_rec_sql_list(hl_buf *out, const hl_rec_desc *d, const char *table) {
  hl_buf_puts(out, "SELECT ");
  columns(out, d, 0, 0, "\"%s\"");
  hl_buf_printf(out, " FROM %s ORDER BY ", table);
  columns(out, d, HL_RF_KEY, 0, "\"%s\"");
}

void hl_rec_sql_delete(hl_buf *out, const hl_rec_desc *d, const char *table, char p) {
  hl_buf_printf(out, "DELETE FROM %s WHERE ", table);
  size_t k = 0;
  for (size_t i = 0; i < d->n; i++) {
    if (!(d->f[i].flags & HL_RF_KEY)) continue;
    k++;
    hl_buf_printf(out, "%s\"%s\"=%c%zu", k > 1 ? " AND " : "", d->f[i].name, p, k);
  }
}
