#include "store/hl_ddb_wire.h"
#include "common/hl_common.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static const char *const op_targets[] = {
    [HL_DDB_GET_ITEM] = "DynamoDB_20120810.GetItem",
    [HL_DDB_PUT_ITEM] = "DynamoDB_20120810.PutItem",
    [HL_DDB_UPDATE_ITEM] = "DynamoDB_20120810.UpdateItem",
    [HL_DDB_DELETE_ITEM] = "DynamoDB_20120810.DeleteItem",
    [HL_DDB_QUERY] = "DynamoDB_20120810.Query",
    [HL_DDB_BATCH_WRITE_ITEM] = "DynamoDB_20120810.BatchWriteItem",
    [HL_DDB_CREATE_TABLE] = "DynamoDB_20120810.CreateTable",
    [HL_DDB_UPDATE_TIME_TO_LIVE] = "DynamoDB_20120810.UpdateTimeToLive",
    [HL_DDB_DESCRIBE_TABLE] = "DynamoDB_20120810.DescribeTable",
    [HL_DDB_SCAN] = "DynamoDB_20120810.Scan",
    [HL_DDB_BATCH_GET_ITEM] = "DynamoDB_20120810.BatchGetItem",
};

const char *hl_ddb_target(hl_ddb_op op) {
  return (unsigned)op < HL_ARRAY_SIZE(op_targets) ? op_targets[op] : NULL;
}

const char *hl_ddb_i64(char buf[24], int64_t v) {
  snprintf(buf, 24, "%" PRId64, v);
  return buf;
}

bool hl_ddb_number_valid(const char *s, size_t len) {
  /* Significant digits run from the first to the last non-zero digit:
   * DynamoDB keeps 38 of them (magnitude limits are left to the server). */
  size_t i = 0, digits = 0, seen = 0, sig = 0;
  bool started = false;
  if (i < len && s[i] == '-') i++;
  for (int part = 0; part < 2; part++) {
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, digits++) {
      if (s[i] != '0') started = true;
      if (started) {
        seen++;
        if (s[i] != '0') sig = seen;
      }
    }
    if (part == 0) {
      if (i < len && s[i] == '.') i++;
      else break;
    }
  }
  if (digits == 0) return false;
  if (i < len && (s[i] == 'e' || s[i] == 'E')) {
    i++;
    if (i < len && (s[i] == '+' || s[i] == '-')) i++;
    size_t e = 0;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) e++;
    if (!e) return false;
  }
  return i == len && sig <= 38;
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
    hl_jw_key(w, "BOOL");
    hl_jw_bool(w, v->b);
    break;
  case HL_DDB_NULL:
    hl_jw_key(w, "NULL");
    hl_jw_bool(w, true);
    break;
  case HL_DDB_M: {
    hl_jw_key(w, "M");
    int rc = write_attrs(w, v->attrs, v->n, depth);
    if (rc < 0) return rc;
    break;
  }
  case HL_DDB_L:
    hl_jw_key(w, "L");
    hl_jw_arr_begin(w);
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
    hl_jw_key(w, "ExpressionAttributeNames");
    hl_jw_obj_begin(w);
    for (size_t i = 0; i < n_names; i++) {
      if (!names[i].placeholder || names[i].placeholder[0] != '#' || !names[i].name) return HL_EINVAL;
      hl_jw_key(w, names[i].placeholder);
      hl_jw_str(w, names[i].name);
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
    hl_jw_key(w, "UpdateExpression");
    hl_jw_str(w, x->update);
  }
  if (x->condition) {
    hl_jw_key(w, "ConditionExpression");
    hl_jw_str(w, x->condition);
  }
  int rc = write_names_values(w, x->names, x->n_names, x->values, x->n_values);
  if (rc < 0) return rc;
  if (x->return_values) {
    hl_jw_key(w, "ReturnValues");
    hl_jw_str(w, x->return_values);
  }
  if (x->return_old_on_condition_fail) {
    hl_jw_key(w, "ReturnValuesOnConditionCheckFailure");
    hl_jw_str(w, "ALL_OLD");
  }
  return 0;
}

static bool table_ok(const char *t) { return t && *t; }

static int item_op(hl_buf *out, const char *table, const char *member, hl_ddb_item item, const hl_ddb_expr *x,
                   int consistent) {
  if (!table_ok(table) || item.n == 0) return HL_EINVAL;
  hl_buf tmp = HL_BUF_INIT;
  hl_jw w;
  hl_jw_init(&w, &tmp);
  hl_jw_obj_begin(&w);
  hl_jw_key(&w, "TableName");
  hl_jw_str(&w, table);
  hl_jw_key(&w, member);
  int rc = hl_ddb_write_item(&w, item);
  if (rc == 0) rc = write_expr(&w, x);
  if (consistent > 0) {
    hl_jw_key(&w, "ConsistentRead");
    hl_jw_bool(&w, true);
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
  hl_jw_init(&w, &tmp);
  hl_jw_obj_begin(&w);
  hl_jw_key(&w, "TableName");
  hl_jw_str(&w, table);
  if (q->index) {
    hl_jw_key(&w, "IndexName");
    hl_jw_str(&w, q->index);
  }
  hl_jw_key(&w, "KeyConditionExpression");
  hl_jw_str(&w, q->key_condition);
  if (q->filter) {
    hl_jw_key(&w, "FilterExpression");
    hl_jw_str(&w, q->filter);
  }
  int rc = write_names_values(&w, q->names, q->n_names, q->values, q->n_values);
  if (q->limit > 0) {
    hl_jw_key(&w, "Limit");
    hl_jw_int(&w, q->limit);
  }
  if (q->consistent) {
    hl_jw_key(&w, "ConsistentRead");
    hl_jw_bool(&w, true);
  }
  if (q->descending) {
    hl_jw_key(&w, "ScanIndexForward");
    hl_jw_bool(&w, false);
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
  hl_jw_init(&w, &tmp);
  hl_jw_obj_begin(&w);
  hl_jw_key(&w, "RequestItems");
  hl_jw_obj_begin(&w);
  hl_jw_key(&w, table);
  hl_jw_obj_begin(&w);
  hl_jw_key(&w, "Keys");
  hl_jw_arr_begin(&w);
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < n; i++) rc = hl_ddb_write_item(&w, keys[i]);
  hl_jw_arr_end(&w);
  if (consistent) {
    hl_jw_key(&w, "ConsistentRead");
    hl_jw_bool(&w, true);
  }
  hl_jw_obj_end(&w);
  hl_jw_obj_end(&w);
  hl_jw_obj_end(&w);
  return finish(out, &tmp, rc);
}

int hl_ddb_scan(hl_buf *out, const char *table, bool consistent, int limit, const hl_json *start_key) {
  if (!table_ok(table) || (start_key && start_key->type != HL_JSON_OBJECT)) return HL_EINVAL;
  hl_buf tmp = HL_BUF_INIT;
  hl_jw w;
  hl_jw_init(&w, &tmp);
  hl_jw_obj_begin(&w);
  hl_jw_key(&w, "TableName");
  hl_jw_str(&w, table);
  if (consistent) {
    hl_jw_key(&w, "ConsistentRead");
    hl_jw_bool(&w, true);
  }
  if (limit > 0) {
    hl_jw_key(&w, "Limit");
    hl_jw_int(&w, limit);
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
  hl_jw_init(&w, &tmp);
  hl_jw_obj_begin(&w);
  hl_jw_key(&w, "RequestItems");
  hl_jw_obj_begin(&w);
  hl_jw_key(&w, table);
  hl_jw_arr_begin(&w);
  int rc = 0;
  for (size_t i = 0; i < n && rc == 0; i++) {
    if (reqs[i].item.n == 0) {
      rc = HL_EINVAL;
      break;
    }
    hl_jw_obj_begin(&w);
    hl_jw_key(&w, reqs[i].del ? "DeleteRequest" : "PutRequest");
    hl_jw_obj_begin(&w);
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
  hl_jw_init(&w, out);
  hl_jw_obj_begin(&w);
  hl_jw_key(&w, "RequestItems");
  hl_jw_value(&w, u);
  hl_jw_obj_end(&w);
  return count;
}

static bool key_def_ok(hl_ddb_key_def k) {
  return k.name && *k.name && (k.type == 'S' || k.type == 'N' || k.type == 'B');
}

static void write_key_schema(hl_jw *w, hl_ddb_key_def hash, hl_ddb_key_def range) {
  hl_jw_key(w, "KeySchema");
  hl_jw_arr_begin(w);
  hl_jw_obj_begin(w);
  hl_jw_key(w, "AttributeName");
  hl_jw_str(w, hash.name);
  hl_jw_key(w, "KeyType");
  hl_jw_str(w, "HASH");
  hl_jw_obj_end(w);
  if (range.name) {
    hl_jw_obj_begin(w);
    hl_jw_key(w, "AttributeName");
    hl_jw_str(w, range.name);
    hl_jw_key(w, "KeyType");
    hl_jw_str(w, "RANGE");
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
  hl_jw_init(&w, &tmp);
  hl_jw_obj_begin(&w);
  hl_jw_key(&w, "TableName");
  hl_jw_str(&w, table);
  hl_jw_key(&w, "AttributeDefinitions");
  hl_jw_arr_begin(&w);
  for (size_t i = 0; i < nd; i++) {
    char t[2] = {defs[i].type, '\0'};
    hl_jw_obj_begin(&w);
    hl_jw_key(&w, "AttributeName");
    hl_jw_str(&w, defs[i].name);
    hl_jw_key(&w, "AttributeType");
    hl_jw_str(&w, t);
    hl_jw_obj_end(&w);
  }
  hl_jw_arr_end(&w);
  write_key_schema(&w, hash, range);
  hl_jw_key(&w, "BillingMode");
  hl_jw_str(&w, "PAY_PER_REQUEST");
  if (n_gsis) {
    hl_jw_key(&w, "GlobalSecondaryIndexes");
    hl_jw_arr_begin(&w);
    for (size_t i = 0; i < n_gsis; i++) {
      hl_jw_obj_begin(&w);
      hl_jw_key(&w, "IndexName");
      hl_jw_str(&w, gsis[i].name);
      write_key_schema(&w, gsis[i].hash, gsis[i].range);
      hl_jw_key(&w, "Projection");
      hl_jw_obj_begin(&w);
      hl_jw_key(&w, "ProjectionType");
      hl_jw_str(&w, "ALL");
      hl_jw_obj_end(&w);
      hl_jw_obj_end(&w);
    }
    hl_jw_arr_end(&w);
  }
  hl_jw_obj_end(&w);
  return finish(out, &tmp, 0);
}

int hl_ddb_update_ttl(hl_buf *out, const char *table, const char *attribute, bool enabled) {
  if (!table_ok(table) || !attribute || !*attribute) return HL_EINVAL;
  hl_jw w;
  hl_jw_init(&w, out);
  hl_jw_obj_begin(&w);
  hl_jw_key(&w, "TableName");
  hl_jw_str(&w, table);
  hl_jw_key(&w, "TimeToLiveSpecification");
  hl_jw_obj_begin(&w);
  hl_jw_key(&w, "Enabled");
  hl_jw_bool(&w, enabled);
  hl_jw_key(&w, "AttributeName");
  hl_jw_str(&w, attribute);
  hl_jw_obj_end(&w);
  hl_jw_obj_end(&w);
  return 0;
}

int hl_ddb_describe_table(hl_buf *out, const char *table) {
  if (!table_ok(table)) return HL_EINVAL;
  hl_jw w;
  hl_jw_init(&w, out);
  hl_jw_obj_begin(&w);
  hl_jw_key(&w, "TableName");
  hl_jw_str(&w, table);
  hl_jw_obj_end(&w);
  return 0;
}

/* The AWS SDKs' standard retry mode: throttling and transient codes. */
static const char *const retryable_codes[] = {
    "ProvisionedThroughputExceededException", "ThrottlingException", "Throttling", "ThrottledException",
    "RequestThrottledException", "TooManyRequestsException", "TransactionInProgressException",
    "RequestLimitExceeded", "BandwidthLimitExceeded", "LimitExceededException", "RequestThrottled",
    "SlowDown", "PriorRequestNotComplete", "EC2ThrottledException", "RequestTimeout",
    "RequestTimeoutException", "InternalServerError", "ServiceUnavailable", "ServiceUnavailableException",
};

bool hl_ddb_code_retryable(const char *code) {
  for (size_t i = 0; i < HL_ARRAY_SIZE(retryable_codes); i++)
    if (strcmp(code, retryable_codes[i]) == 0) return true;
  return false;
}

static bool is_throttle(const char *c) {
  return strstr(c, "Throttl") || strcmp(c, "ProvisionedThroughputExceededException") == 0 ||
         strcmp(c, "RequestLimitExceeded") == 0 || strcmp(c, "LimitExceededException") == 0 ||
         strcmp(c, "TooManyRequestsException") == 0 || strcmp(c, "TransactionInProgressException") == 0 ||
         strcmp(c, "BandwidthLimitExceeded") == 0 || strcmp(c, "SlowDown") == 0 ||
         strcmp(c, "PriorRequestNotComplete") == 0;
}

hl_ddb_outcome hl_ddb_classify(int http_status, const char *body, size_t len, hl_ddb_status *st) {
  memset(st, 0, sizeof *st);
  st->http_status = http_status;
  if (http_status >= 200 && http_status < 300) return st->outcome = HL_DDB_OK;
  if (body && len) {
    hl_json_doc doc;
    hl_json_doc_init(&doc);
    if (hl_json_parse(&doc, body, len, NULL) == 0 && doc.root->type == HL_JSON_OBJECT) {
      const char *type = hl_json_str(hl_json_get(doc.root, "__type"));
      if (type) {
        const char *hash = strrchr(type, '#');
        snprintf(st->code, sizeof st->code, "%s", hash ? hash + 1 : type);
      }
      const char *msg = hl_json_str(hl_json_get(doc.root, "message"));
      if (!msg) msg = hl_json_str(hl_json_get(doc.root, "Message"));
      if (msg) snprintf(st->message, sizeof st->message, "%s", msg);
    }
    hl_json_doc_dispose(&doc);
  }
  const char *c = st->code;
  if (strcmp(c, "ConditionalCheckFailedException") == 0) st->outcome = HL_DDB_CONDITION_FAILED;
  else if (*c && is_throttle(c)) st->outcome = HL_DDB_THROTTLED;
  else if (http_status >= 500 || strcmp(c, "InternalServerError") == 0 || strncmp(c, "RequestTimeout", 14) == 0 ||
           strncmp(c, "ServiceUnavailable", 18) == 0)
    st->outcome = HL_DDB_TRANSIENT;
  else if (strcmp(c, "ResourceNotFoundException") == 0) st->outcome = HL_DDB_NOT_FOUND;
  else if (strcmp(c, "ResourceInUseException") == 0) st->outcome = HL_DDB_IN_USE;
  else if (strcmp(c, "ValidationException") == 0 || strcmp(c, "SerializationException") == 0)
    st->outcome = HL_DDB_VALIDATION;
  else if (strcmp(c, "ExpiredTokenException") == 0) st->outcome = HL_DDB_EXPIRED_TOKEN;
  else if (strcmp(c, "UnrecognizedClientException") == 0 || strcmp(c, "InvalidSignatureException") == 0 ||
           strcmp(c, "MissingAuthenticationTokenException") == 0 || strcmp(c, "AccessDeniedException") == 0 ||
           strcmp(c, "IncompleteSignatureException") == 0)
    st->outcome = HL_DDB_AUTH;
  else if (strcmp(c, "UnknownOperationException") == 0) st->outcome = HL_DDB_UNKNOWN_OP;
  else st->outcome = HL_DDB_OTHER;
  st->retryable = http_status >= 500 || (*c && hl_ddb_code_retryable(c));
  return st->outcome;
}

const char *hl_ddb_outcome_name(hl_ddb_outcome o) {
  static const char *const names[] = {"ok", "condition_failed", "throttled", "transient", "not_found", "in_use",
                                      "validation", "auth", "expired_token", "unknown_operation", "other"};
  return (unsigned)o < HL_ARRAY_SIZE(names) ? names[o] : "other";
}

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

const hl_json *hl_ddb_item_m(const hl_json *item, const char *name) {
  const hl_json *v = typed(item, name, "M");
  return v && v->type == HL_JSON_OBJECT ? v : NULL;
}

const hl_json *hl_ddb_item_l(const hl_json *item, const char *name) {
  const hl_json *v = typed(item, name, "L");
  return v && v->type == HL_JSON_ARRAY ? v : NULL;
}

int hl_ddb_sign(const char *host, hl_ddb_op op, const char *region, const hl_aws_creds *creds, int64_t now_s,
                const void *body, size_t body_len, hl_sigv4_key_cache *cache, hl_sigv4_out *out) {
  const char *target = hl_ddb_target(op);
  if (!host || !*host || !target) return HL_EINVAL;
  hl_sigv4_header h[] = {
      {"Host", 4, host, strlen(host)},
      {"Content-Type", 12, HL_DDB_CONTENT_TYPE, sizeof HL_DDB_CONTENT_TYPE - 1},
      {"X-Amz-Target", 12, target, strlen(target)},
  };
  hl_sigv4_request req = {"POST", "/", 1, NULL, 0, h, HL_ARRAY_SIZE(h), body, body_len, NULL};
  hl_sigv4_params p = {.region = region, .service = "dynamodb", .time_s = now_s, .normalize_path = true};
  return hl_sigv4_sign(&p, creds, &req, cache, out);
}

uint32_t hl_ddb_crc32(const void *data, size_t len) {
  /* The IEEE 802.3 polynomial, reflected; the table is built once (a race
   * between two first callers writes the same values). */
  static uint32_t table[256];
  static bool ready;
  if (!ready) {
    for (uint32_t i = 0; i < 256; i++) {
      uint32_t c = i;
      for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      table[i] = c;
    }
    ready = true;
  }
  const uint8_t *p = data;
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < len; i++) c = table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

bool hl_ddb_crc32_ok(const char *header, const void *body, size_t len) {
  if (!header) return true;
  uint64_t v = 0;
  const char *p = header;
  while (*p == ' ') p++;
  if (!*p) return false;
  for (; *p >= '0' && *p <= '9'; p++) {
    v = v * 10 + (uint64_t)(*p - '0');
    if (v > 0xFFFFFFFFu) return false;
  }
  while (*p == ' ') p++;
  return *p == '\0' && v == hl_ddb_crc32(body, len);
}

uint64_t hl_ddb_backoff_ms(unsigned retry, uint64_t base_ms, uint64_t cap_ms, uint32_t rnd) {
  if (retry == 0) retry = 1;
  uint64_t ceiling = cap_ms;
  if (retry - 1 < 40 && base_ms <= (cap_ms >> (retry - 1))) ceiling = base_ms << (retry - 1);
  return (uint64_t)(((unsigned __int128)ceiling * rnd) >> 32);
}
