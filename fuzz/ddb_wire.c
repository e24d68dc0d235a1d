/* fuzz_ddb_wire: reading DynamoDB answers (src/store/hl_ddb_wire).
 *
 * Input: a DynamoDB JSON answer (GetItem's Item, Query/Scan's Items,
 * UpdateItem's Attributes, BatchGetItem's Responses, BatchWriteItem's
 * UnprocessedItems). Properties, for every item and attribute:
 *   - the typed readers never crash; an N read is a number DynamoDB accepts,
 *     and read as an int64 it has exactly the text's value;
 *   - a typed value of the kinds hookloop writes (S N BOOL NULL M L), taken
 *     apart and written again with hl_ddb_write_val, gives an equal value —
 *     or HL_EINVAL exactly when it holds a bad number, an empty name or
 *     nests deeper than the writer allows;
 *   - UnprocessedItems is re-sent as exactly its requests, or refused as
 *     HL_EPARSE. */
#include "fuzz_util.h"
#include "common/hl_common.h"
#include "json/hl_decimal.h"
#include "store/hl_ddb_wire.h"

/* A typed value taken apart into an hl_ddb_val (arena-allocated). */
typedef struct {
  hl_arena arena;
  bool invalid;     /* hl_ddb_write_val must refuse it */
  bool unsupported; /* a kind or shape the writer has no value for (B, SS, NUL in a name) */
} conv;

static bool to_val(conv *c, const hl_json *j, hl_ddb_val *out, int depth) {
  if (depth > 32) c->invalid = true;
  if (!j || j->type != HL_JSON_OBJECT || j->len != 1) { c->unsupported = true; return false; }
  const char *t = j->u.members[0].key;
  const hl_json *v = &j->u.members[0].value;
  if (strcmp(t, "S") == 0 && v->type == HL_JSON_STRING) {
    *out = hl_ddb_sn(v->u.str, v->len);
  } else if (strcmp(t, "N") == 0 && v->type == HL_JSON_STRING) {
    *out = (hl_ddb_val){.type = HL_DDB_N, .s = v->u.str, .len = v->len};
    if (!hl_ddb_number_valid(v->u.str, v->len)) c->invalid = true;
  } else if (strcmp(t, "BOOL") == 0 && hl_json_is_bool(v)) {
    *out = hl_ddb_bool(v->type == HL_JSON_TRUE);
  } else if (strcmp(t, "NULL") == 0 && v->type == HL_JSON_TRUE) {
    *out = hl_ddb_null();
  } else if (strcmp(t, "M") == 0 && v->type == HL_JSON_OBJECT) {
    hl_ddb_attr *a = hl_arena_alloc(&c->arena, (v->len ? v->len : 1) * sizeof *a);
    for (uint32_t i = 0; i < v->len; i++) {
      const hl_json_member *m = &v->u.members[i];
      if (m->key_len == 0) c->invalid = true;
      if (strlen(m->key) != m->key_len) c->unsupported = true;
      a[i].name = m->key;
      if (!to_val(c, &m->value, &a[i].v, depth + 1)) return false;
    }
    *out = hl_ddb_m(a, v->len);
  } else if (strcmp(t, "L") == 0 && v->type == HL_JSON_ARRAY) {
    hl_ddb_val *items = hl_arena_alloc(&c->arena, (v->len ? v->len : 1) * sizeof *items);
    for (uint32_t i = 0; i < v->len; i++)
      if (!to_val(c, &v->u.items[i], &items[i], depth + 1)) return false;
    *out = hl_ddb_l(items, v->len);
  } else {
    c->unsupported = true;
    return false;
  }
  return true;
}

static void check_attr(const hl_json *item, const hl_json_member *m) {
  const char *name = m->key;
  size_t len = 0;
  bool b;
  int64_t i64;
  hl_ddb_item_s(item, name, &len);
  hl_ddb_item_bool(item, name, &b);
  hl_ddb_item_m(item, name);
  hl_ddb_item_l(item, name);
  const char *n = hl_ddb_item_n(item, name, &len);
  if (n) FUZZ_CHECK(hl_ddb_number_valid(n, len));
  if (hl_ddb_item_i64(item, name, &i64) == 0) {
    char buf[24];
    const char *t = hl_ddb_i64(buf, i64);
    FUZZ_CHECK(n != NULL && hl_decimal_cmp(n, len, t, strlen(t)) == 0);
  }
  /* Round trip of the typed value through the writer. */
  if (strlen(name) != m->key_len || fuzz_has_duplicate_names(&m->value)) return;
  conv c = {.invalid = false};
  hl_arena_init(&c.arena, 1024);
  hl_ddb_val v;
  if (to_val(&c, &m->value, &v, 0) && !c.unsupported) {
    hl_buf out = HL_BUF_INIT;
    hl_jw w;
    hl_jw_init(&w, &out);
    int rc = hl_ddb_write_val(&w, &v);
    FUZZ_CHECK((rc == 0) == !c.invalid);
    if (rc == 0) {
      hl_json_doc d;
      hl_json_doc_init(&d);
      FUZZ_CHECK(hl_json_parse(&d, out.data, out.len, NULL) == 0);
      FUZZ_CHECK(hl_json_equal(d.root, &m->value));
      hl_json_doc_dispose(&d);
    }
    hl_buf_dispose(&out);
  }
  hl_arena_dispose(&c.arena);
}

static void check_item(const hl_json *item) {
  if (!item || item->type != HL_JSON_OBJECT) return;
  for (uint32_t i = 0; i < item->len; i++) check_attr(item, &item->u.members[i]);
}

static void check_items(const hl_json *arr) {
  for (uint32_t i = 0; arr && arr->type == HL_JSON_ARRAY && i < arr->len; i++) check_item(&arr->u.items[i]);
}

static void check_resend(const hl_json *resp) {
  hl_buf out = HL_BUF_INIT;
  int n = hl_ddb_batch_write_resend(&out, resp);
  const hl_json *u = resp->type == HL_JSON_OBJECT ? hl_json_get(resp, "UnprocessedItems") : NULL;
  if (n > 0) {
    hl_json_doc d;
    hl_json_doc_init(&d);
    FUZZ_CHECK(hl_json_parse(&d, out.data, out.len, NULL) == 0);
    const hl_json *ri = hl_json_get(d.root, "RequestItems");
    FUZZ_CHECK(ri && u);
    if (!fuzz_has_duplicate_names(u)) FUZZ_CHECK(hl_json_equal(ri, u));
    int count = 0;
    for (uint32_t t = 0; t < ri->len; t++) count += (int)ri->u.members[t].value.len;
    FUZZ_CHECK(count == n);
    hl_json_doc_dispose(&d);
  } else {
    FUZZ_CHECK(out.len == 0 && (n == 0 || n == HL_EPARSE));
  }
  hl_buf_dispose(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  hl_json_doc d;
  hl_json_doc_init(&d);
  if (hl_json_parse(&d, (const char *)data, size, NULL) == 0) {
    const hl_json *r = d.root;
    check_item(hl_json_get(r, "Item"));
    check_item(hl_json_get(r, "Attributes"));
    check_items(hl_json_get(r, "Items"));
    const hl_json *resp = hl_json_get(r, "Responses");
    for (uint32_t t = 0; resp && resp->type == HL_JSON_OBJECT && t < resp->len; t++)
      check_items(&resp->u.members[t].value);
    check_item(hl_json_get(r, "LastEvaluatedKey"));
    check_resend(r);
  }
  hl_json_doc_dispose(&d);
  return 0;
}
