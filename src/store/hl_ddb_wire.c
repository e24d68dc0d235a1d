#include "store/hl_ddb_wire.h"
#include "common/hl_common.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define TARGET(name, op) [HL_DDB_##name] = "DynamoDB_20120810." #op,
static const char *const op_targets[] = {HL_DDB_OPS(TARGET)};
#undef TARGET

const char *hl_ddb_target(hl_ddb_op op) {
  return (unsigned)op < HL_ARRAY_SIZE(op_targets) ? op_targets[op] : NULL;
}

const char *hl_ddb_i64(char buf[24], int64_t v) {
  snprintf(buf, 24, "%" PRId64, v);
  return buf;
}

bool hl_ddb_number_valid(const char *s, size_t len) {
  /* Significant digits run from the first to the last non-zero digit:
   * DynamoDB keeps 38 of them, and a magnitude from 1E-130 to under
   * 1E+126 (or zero). Checked here: the server's refusal was a store
   * error, a 503 the producer retried for ever. */
  size_t i = 0, digits = 0, seen = 0, sig = 0;
  long sci = 0;        /* the first significant digit's power of ten */
  size_t int_sig = 0;  /* integer digits from the first significant one */
  bool started = false;
  if (i < len && s[i] == '-') i++;
  for (int part = 0; part < 2; part++) {
    for (size_t f = 1; i < len && s[i] >= '0' && s[i] <= '9'; i++, digits++, f++) {
      if (s[i] != '0' && !started) {
        started = true;
        if (part == 1) sci = -(long)f;
      }
      if (started) {
        seen++;
        if (part == 0) int_sig++;
        if (s[i] != '0') sig = seen;
      }
    }
    if (part == 0) {
      if (started) sci = (long)int_sig - 1;
      if (i < len && s[i] == '.') i++;
      else break;
    }
  }
  if (digits == 0) return false;
  if (i < len && (s[i] == 'e' || s[i] == 'E')) {
    i++;
    bool neg = false;
    if (i < len && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
    size_t e = 0;
    long ev = 0;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, e++)
      if (ev < 1000000) ev = ev * 10 + (s[i] - '0');
    if (!e) return false;
    sci += neg ? -ev : ev;
  }
  if (i != len || sig > 38) return false;
  return !started || (sci >= -130 && sci <= 125);
}

static int write_val(hl_jw *w, const hl_ddb_val *v, int depth);

static int write_attrs(hl_jw *w, const hl_ddb_attr *a, size_t n, int depth) {
  hl_jw_obj_begin(w);
  for (size_t i = 0; i < n; i++) {
    if (!a[i].name || !*a[i].name) return HL_EINVAL;
    hl_jw_key(w, a[i].name);
    int rc = write_val(w, &a[i].v, depth + 1);
    if (rc < 0) return rc;
  }
  hl_jw_obj_end(w);
  return 0;
}

static int write_val(hl_jw *w, const hl_ddb_val *v, int depth) {
  if (depth > 32) return HL_EINVAL; /* the writer tracks 64 levels; each value takes two */
  hl_jw_obj_begin(w);
  switch (v->type) {
  case HL_DDB_S:
    if (!v->s) return HL_EINVAL;
    hl_jw_key(w, "S");
    hl_jw_strn(w, v->s, v->len);
    break;
  case HL_DDB_N:
    if (!v->s || !hl_ddb_number_valid(v->s, v->len)) return HL_EINVAL;
    hl_jw_key(w, "N");
    hl_jw_strn(w, v->s, v->len);
    break;
  case HL_DDB_BOOL:
    hl_jw_key_bool(w, "BOOL", v->b);
    break;
  case HL_DDB_NULL:
    hl_jw_key_bool(w, "NULL", true);
    break;
  case HL_DDB_M: {
    hl_jw_key(w, "M");
    int rc = write_attrs(w, v->attrs, v->n, depth);
    if (rc < 0) return rc;
    break;
  }
  case HL_DDB_L:
    hl_jw_key_arr(w, "L");
    for (size_t i = 0; i < v->n; i++) {
      int rc = write_val(w, &v->items[i], depth + 1);
      if (rc < 0) return rc;
    }
    hl_jw_arr_end(w);
    break;
  default:
    return HL_EINVAL;
  }
  hl_jw_obj_end(w);
  return 0;
}

int hl_ddb_write_val(hl_jw *w, const hl_ddb_val *v) { return write_val(w, v, 0); }

int hl_ddb_write_item(hl_jw *w, hl_ddb_item item) { return write_attrs(w, item.attrs, item.n, 0); }

/* Builders write into a scratch buffer and append it only on success, so a
 * failed call leaves out as it was. */
static int finish(hl_buf *out, hl_buf *tmp, int rc) {
  if (rc == 0) hl_buf_append(out, tmp->data, tmp->len);
  hl_buf_dispose(tmp);
  return rc;
}

static int write_names_values(hl_jw *w, const hl_ddb_name *names, size_t n_names, const hl_ddb_attr *values,
                              size_t n_values) {
  if (n_names) {
    hl_jw_key_obj(w, "ExpressionAttributeNames");
    for (size_t i = 0; i < n_names; i++) {
      if (!names[i].placeholder || names[i].placeholder[0] != '#' || !names[i].name) return HL_EINVAL;
      hl_jw_key_str(w, names[i].placeholder, names[i].name);
    }
    hl_jw_obj_end(w);
  }
  if (n_values) {
    for (size_t i = 0; i < n_values; i++)
      if (!values[i].name || values[i].name[0] != ':') return HL_EINVAL;
    hl_jw_key(w, "ExpressionAttributeValues");
    int rc = write_attrs(w, values, n_values, 0);
    if (rc < 0) return rc;
  }
  return 0;
}

static int write_expr(hl_jw *w, const hl_ddb_expr *x) {
  if (!x) return 0;
  if (x->update) {
    hl_jw_key_str(w, "UpdateExpression", x->update);
  }
  if (x->condition) {
    hl_jw_key_str(w, "ConditionExpression", x->condition);
  }
  int rc = write_names_values(w, x->names, x->n_names, x->values, x->n_values);
  if (rc < 0) return rc;
  if (x->return_values) {
    hl_jw_key_str(w, "ReturnValues", x->return_values);
  }
  if (x->return_old_on_condition_fail) {
    hl_jw_key_str(w, "ReturnValuesOnConditionCheckFailure", "ALL_OLD");
  }
  return 0;
}

static bool table_ok(const char *t) { return t && *t; }

static int item_op(hl_buf *out, const char *table, const char *member, hl_ddb_item item, const hl_ddb_expr *x,
                   int consistent) {
  if (!table_ok(table) || item.n == 0) return HL_EINVAL;
  hl_buf tmp = HL_BUF_INIT;
  hl_jw w;
  hl_jw_open(&w, &tmp);
  hl_jw_key_str(&w, "TableName", table);
  hl_jw_key(&w, member);
  int rc = hl_ddb_write_item(&w, item);
  if (rc == 0) rc = write_expr(&w, x);
  if (consistent > 0) {
    hl_jw_key_bool(&w, "ConsistentRead", true);
  }
  hl_jw_obj_end(&w);
  return finish(out, &tmp, rc);
}

int hl_ddb_get_item(hl_buf *out, const char *table, hl_ddb_item key, bool consistent) {
  return item_op(out, table, "Key", key, NULL, consistent);
}

int hl_ddb_put_item(hl_buf *out, const char *table, hl_ddb_item item, const hl_ddb_expr *x) {
  if (x && x->update) return HL_EINVAL;
  return item_op(out, table, "Item", item, x, 0);
}

int hl_ddb_update_item(hl_buf *out, const char *table, hl_ddb_item key, const hl_ddb_expr *x) {
  if (!x || !x->update || !*x->update) return HL_EINVAL;
  return item_op(out, table, "Key", key, x, 0);
}

int hl_ddb_delete_item(hl_buf *out, const char *table, hl_ddb_item key, const hl_ddb_expr *x) {
  if (x && x->update) return HL_EINVAL;
  return item_op(out, table, "Key", key, x, 0);
}

int hl_ddb_query(hl_buf *out, const char *table, const hl_ddb_query_args *q) {
  if (!table_ok(table) || !q || !q->key_condition || !*q->key_condition) return HL_EINVAL;
  if (q->start_key && q->start_key->type != HL_JSON_OBJECT) return HL_EINVAL;
  hl_buf tmp = HL_BUF_INIT;
  hl_jw w;
  hl_jw_open(&w, &tmp);
  hl_jw_key_str(&w, "TableName", table);
  if (q->index) {
    hl_jw_key_str(&w, "IndexName", q->index);
  }
  hl_jw_key_str(&w, "KeyConditionExpression", q->key_condition);
  if (q->filter) {
    hl_jw_key_str(&w, "FilterExpression", q->filter);
  }
  int rc = write_names_values(&w, q->names, q->n_names, q->values, q->n_values);
  if (q->limit > 0) {
    hl_jw_key_int(&w, "Limit", q->limit);
  }
  if (q->consistent) {
    hl_jw_key_bool(&w, "ConsistentRead", true);
  }
  if (q->descending) {
    hl_jw_key_bool(&w, "ScanIndexForward", false);
  }
  if (q->start_key) {
    hl_jw_key(&w, "ExclusiveStartKey");
    hl_jw_value(&w, q->start_key);
  }
  hl_jw_obj_end(&w);
  return finish(out, &tmp, rc);
}

int hl_ddb_batch_get(hl_buf *out, const char *table, const hl_ddb_item *keys, size_t n, bool consistent) {
  if (!table_ok(table) || n == 0 || n > HL_DDB_BATCH_GET_MAX) return HL_EINVAL;
  hl_buf tmp = HL_BUF_INIT;
  hl_jw w;
  hl_jw_open(&w, &tmp);
  hl_jw_key_obj(&w, "RequestItems");
  hl_jw_key_obj(&w, table);
  hl_jw_key_arr(&w, "Keys");
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < n; i++) rc = hl_ddb_write_item(&w, keys[i]);
  hl_jw_arr_end(&w);
  if (consistent) {
    hl_jw_key_bool(&w, "ConsistentRead", true);
  }
  hl_jw_obj_end(&w);
  hl_jw_obj_end(&w);
  hl_jw_obj_end(&w);
  return finish(out, &tmp, rc);
}

int hl_ddb_scan(hl_buf *out, const char *table, bool consistent, int limit, const hl_json *start_key) {
  return hl_ddb_scan_projected(out, table, consistent, limit, start_key, NULL);
}

int hl_ddb_scan_projected(hl_buf *out, const char *table, bool consistent, int limit, const hl_json *start_key,
                          const char *projection) {
  if (!table_ok(table) || (start_key && start_key->type != HL_JSON_OBJECT)) return HL_EINVAL;
  hl_buf tmp = HL_BUF_INIT;
  hl_jw w;
  hl_jw_open(&w, &tmp);
  hl_jw_key_str(&w, "TableName", table);
  if (consistent) {
    hl_jw_key_bool(&w, "ConsistentRead", true);
  }
  if (projection) {
    hl_jw_key_str(&w, "ProjectionExpression", projection);
  }
  if (limit > 0) {
    hl_jw_key_int(&w, "Limit", limit);
  }
  if (start_key) {
    hl_jw_key(&w, "ExclusiveStartKey");
    hl_jw_value(&w, start_key);
  }
  hl_jw_obj_end(&w);
  return finish(out, &tmp, 0);
}

int hl_ddb_batch_write(hl_buf *out, const char *table, const hl_ddb_write_req *reqs, size_t n) {
  if (!table_ok(table) || n == 0 || n > HL_DDB_BATCH_MAX) return HL_EINVAL;
  hl_buf tmp = HL_BUF_INIT;
  hl_jw w;
  hl_jw_open(&w, &tmp);
  hl_jw_key_obj(&w, "RequestItems");
  hl_jw_key_arr(&w, table);
  int rc = 0;
  for (size_t i = 0; i < n && rc == 0; i++) {
    if (reqs[i].item.n == 0) {
      rc = HL_EINVAL;
      break;
    }
    hl_jw_obj_begin(&w);
    hl_jw_key_obj(&w, reqs[i].del ? "DeleteRequest" : "PutRequest");
    hl_jw_key(&w, reqs[i].del ? "Key" : "Item");
    rc = hl_ddb_write_item(&w, reqs[i].item);
    hl_jw_obj_end(&w);
    hl_jw_obj_end(&w);
  }
  hl_jw_arr_end(&w);
  hl_jw_obj_end(&w);
  hl_jw_obj_end(&w);
  return finish(out, &tmp, rc);
}

int hl_ddb_batch_write_resend(hl_buf *out, const hl_json *response) {
  const hl_json *u = response ? hl_json_get(response, "UnprocessedItems") : NULL;
  if (!u) return 0;
  if (u->type != HL_JSON_OBJECT) return HL_EPARSE;
  int count = 0;
  for (uint32_t i = 0; i < u->len; i++) {
    const hl_json *reqs = &u->u.members[i].value;
    if (reqs->type != HL_JSON_ARRAY) return HL_EPARSE;
    for (uint32_t k = 0; k < reqs->len; k++) {
      const hl_json *r = &reqs->u.items[k];
      if (r->type != HL_JSON_OBJECT || (!hl_json_get(r, "PutRequest") && !hl_json_get(r, "DeleteRequest")))
        return HL_EPARSE;
      count++;
    }
  }
  if (count == 0) return 0;
  hl_jw w;
  hl_jw_open(&w, out);
  hl_jw_key(&w, "RequestItems");
  hl_jw_value(&w, u);
  hl_jw_obj_end(&w);
  return count;
}

static bool key_def_ok(hl_ddb_key_def k) {
  return k.name && *k.name && (k.type == 'S' || k.type == 'N' || k.type == 'B');
}

static void write_key_schema(hl_jw *w, hl_ddb_key_def hash, hl_ddb_key_def range) {
  hl_jw_key_arr(w, "KeySchema");
  hl_jw_obj_begin(w);
  hl_jw_key_str(w, "AttributeName", hash.name);
  hl_jw_key_str(w, "KeyType", "HASH");
  hl_jw_obj_end(w);
  if (range.name) {
    hl_jw_obj_begin(w);
    hl_jw_key_str(w, "AttributeName", range.name);
    hl_jw_key_str(w, "KeyType", "RANGE");
    hl_jw_obj_end(w);
  }
  hl_jw_arr_end(w);
}

/* Adds d to the attribute definitions unless a key of that name is there. */
static int add_def(hl_ddb_key_def *defs, size_t *n, hl_ddb_key_def d) {
  for (size_t i = 0; i < *n; i++)
    if (strcmp(defs[i].name, d.name) == 0) return defs[i].type == d.type ? 0 : HL_EINVAL;
  defs[(*n)++] = d;
  return 0;
}

int hl_ddb_create_table(hl_buf *out, const char *table, hl_ddb_key_def hash, hl_ddb_key_def range,
                        const hl_ddb_gsi *gsis, size_t n_gsis) {
  return hl_ddb_create_table_sse(out, table, hash, range, gsis, n_gsis, false);
}

int hl_ddb_create_table_sse(hl_buf *out, const char *table, hl_ddb_key_def hash, hl_ddb_key_def range,
                            const hl_ddb_gsi *gsis, size_t n_gsis, bool kms) {
  if (!table_ok(table) || !key_def_ok(hash) || (range.name && !key_def_ok(range)) || n_gsis > 20)
    return HL_EINVAL;
  hl_ddb_key_def defs[2 + 2 * 20];
  size_t nd = 0;
  int rc = add_def(defs, &nd, hash);
  if (rc == 0 && range.name) rc = add_def(defs, &nd, range);
  for (size_t i = 0; i < n_gsis && rc == 0; i++) {
    if (!gsis[i].name || !key_def_ok(gsis[i].hash) || (gsis[i].range.name && !key_def_ok(gsis[i].range)))
      return HL_EINVAL;
    rc = add_def(defs, &nd, gsis[i].hash);
    if (rc == 0 && gsis[i].range.name) rc = add_def(defs, &nd, gsis[i].range);
  }
  if (rc < 0) return rc;
  hl_buf tmp = HL_BUF_INIT;
  hl_jw w;
  hl_jw_open(&w, &tmp);
  hl_jw_key_str(&w, "TableName", table);
  hl_jw_key_arr(&w, "AttributeDefinitions");
  for (size_t i = 0; i < nd; i++) {
    char t[2] = {defs[i].type, '\0'};
    hl_jw_obj_begin(&w);
    hl_jw_key_str(&w, "AttributeName", defs[i].name);
    hl_jw_key_str(&w, "AttributeType", t);
    hl_jw_obj_end(&w);
  }
  hl_jw_arr_end(&w);
  write_key_schema(&w, hash, range);
  hl_jw_key_str(&w, "BillingMode", "PAY_PER_REQUEST");
  if (n_gsis) {
    hl_jw_key_arr(&w, "GlobalSecondaryIndexes");
    for (size_t i = 0; i < n_gsis; i++) {
      hl_jw_obj_begin(&w);
      hl_jw_key_str(&w, "IndexName", gsis[i].name);
      write_key_schema(&w, gsis[i].hash, gsis[i].range);
      hl_jw_key_obj(&w, "Projection");
      hl_jw_key_str(&w, "ProjectionType", "ALL");
      hl_jw_obj_end(&w);
      hl_jw_obj_end(&w);
    }
    hl_jw_arr_end(&w);
  }
  if (kms) {
    hl_jw_key_obj(&w, "SSESpecification");
    hl_jw_key_bool(&w, "Enabled", true);
    hl_jw_key_str(&w, "SSEType", "KMS");
    hl_jw_obj_end(&w);
  }
  hl_jw_obj_end(&w);
  return finish(out, &tmp, 0);
}

int hl_ddb_update_pitr(hl_buf *out, const char *table, bool enabled) {
  if (!table_ok(table)) return HL_EINVAL;
  hl_jw w;
  hl_jw_open(&w, out);
  hl_jw_key_str(&w, "TableName", table);
  hl_jw_key_obj(&w, "PointInTimeRecoverySpecification");
  hl_jw_key_bool(&w, "PointInTimeRecoveryEnabled", enabled);
  hl_jw_obj_end(&w);
  hl_jw_obj_end(&w);
  return 0;
}

int hl_ddb_update_ttl(hl_buf *out, const char *table, const char *attribute, bool enabled) {
  if (!table_ok(table) || !attribute || !*attribute) return HL_EINVAL;
  hl_jw w;
  hl_jw_open(&w, out);
  hl_jw_key_str(&w, "TableName", table);
  hl_jw_key_obj(&w, "TimeToLiveSpecification");
  hl_jw_key_bool(&w, "Enabled", enabled);
  hl_jw_key_str(&w, "AttributeName", attribute);
  hl_jw_obj_end(&w);
  hl_jw_obj_end(&w);
  return 0;
}

int hl_ddb_describe_table(hl_buf *out, const char *table) {
  if (!table_ok(table)) return HL_EINVAL;
  hl_jw w;
  hl_jw_open(&w, out);
  hl_jw_key_str(&w, "TableName", table);
  hl_jw_obj_end(&w);
  return 0;
}

/* The AWS SDKs' standard retry mode: throttling and transient codes. */
static const hl_json *typed(const hl_json *item, const char *name, const char *type) {
  if (!item || item->type != HL_JSON_OBJECT) return NULL;
  const hl_json *a = hl_json_get(item, name);
  return a && a->type == HL_JSON_OBJECT ? hl_json_get(a, type) : NULL;
}

const char *hl_ddb_item_s(const hl_json *item, const char *name, size_t *len) {
  const hl_json *v = typed(item, name, "S");
  if (!v || v->type != HL_JSON_STRING) return NULL;
  if (len) *len = v->len;
  return v->u.str;
}

const char *hl_ddb_item_n(const hl_json *item, const char *name, size_t *len) {
  const hl_json *v = typed(item, name, "N");
  if (!v || v->type != HL_JSON_STRING || !hl_ddb_number_valid(v->u.str, v->len)) return NULL;
  if (len) *len = v->len;
  return v->u.str;
}

int hl_ddb_item_i64(const hl_json *item, const char *name, int64_t *out) {
  size_t len;
  const char *s = hl_ddb_item_n(item, name, &len);
  if (!s) return HL_ENOTFOUND;
  size_t i = 0;
  bool neg = s[0] == '-';
  if (neg) i++;
  if (i == len) return HL_EINVAL;
  uint64_t v = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
  for (; i < len; i++) {
    if (s[i] < '0' || s[i] > '9') return HL_EINVAL; /* a fraction or exponent */
    unsigned d = (unsigned)(s[i] - '0');
    if (v > (lim - d) / 10) return HL_EINVAL;
    v = v * 10 + d;
  }
  *out = neg ? (int64_t)(0 - v) : (int64_t)v;
  return 0;
}

bool hl_ddb_item_bool(const hl_json *item, const char *name, bool *out) {
  const hl_json *v = typed(item, name, "BOOL");
  if (!v || (v->type != HL_JSON_TRUE && v->type != HL_JSON_FALSE)) return false;
  *out = v->type == HL_JSON_TRUE;
  return true;
}

char *hl_ddb_item_sdup(const hl_json *item, const char *name) {
  size_t n = 0;
  const char *v = hl_ddb_item_s(item, name, &n);
  return v ? hl_strndup(v, n) : NULL;
}

int64_t hl_ddb_item_i64_or0(const hl_json *item, const char *name) {
  int64_t v = 0;
  hl_ddb_item_i64(item, name, &v);
  return v;
}

const hl_json *hl_ddb_item_m(const hl_json *item, const char *name) {
  const hl_json *v = typed(item, name, "M");
  return v && v->type == HL_JSON_OBJECT ? v : NULL;
}

const hl_json *hl_ddb_item_l(const hl_json *item, const char *name) {
  const hl_json *v = typed(item, name, "L");
  return v && v->type == HL_JSON_ARRAY ? v : NULL;
}
