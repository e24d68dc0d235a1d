#include "model/hl_filter.h"
#include "common/hl_common.h"
#include "json/hl_decimal.h"

#include <stdio.h>
#include <string.h>

typedef enum { OP_EQ, OP_NE, OP_GT, OP_GTE, OP_LT, OP_LTE, OP_IN, OP_EXISTS } op_kind;

typedef struct {
  op_kind op;
  const hl_json *value;   /* in the filter's own document */
} cond_op;

typedef struct {
  char *pointer;
  size_t pointer_len;
  cond_op *ops;
  size_t nops;
} cond;

struct hl_filter {
  hl_json_doc doc;        /* a private copy of the filter JSON */
  cond *conds;
  size_t nconds;
};

static const struct { const char *name; op_kind op; } op_names[] = {
  {"$eq", OP_EQ}, {"$ne", OP_NE}, {"$gt", OP_GT}, {"$gte", OP_GTE},
  {"$lt", OP_LT}, {"$lte", OP_LTE}, {"$in", OP_IN}, {"$exists", OP_EXISTS},
};

/* "<pointer>: <msg>"; *plen: the pointer's bytes. The operator is a
 * member name like any other, so it is escaped as one (RFC 6901). */
static int compile_error(hl_buf *err, size_t *plen, const char *key, size_t klen, const hl_json_member *op,
                         const char *msg) {
  if (err) {
    size_t start = err->len;
    hl_json_pointer_append(err, key, klen);
    if (op) hl_json_pointer_append(err, op->key, op->key_len);
    if (plen) *plen = err->len - start;
    hl_buf_printf(err, ": %s", msg);
  }
  return HL_EINVAL;
}

/* 0 when key is a pointer hl_json_pointer can follow, else the error. One
 * it cannot follow finds the member missing from every event: "$ne" and
 * {"$exists": false} would match them all, the other operators none. */
static int check_key(hl_buf *err, size_t *plen, const char *key, size_t len) {
  if (len > 0 && key[0] != '/')
    return compile_error(err, plen, key, len, NULL, "keys are JSON pointers and start with '/', e.g. \"/amount\"");
  size_t tok = 0; /* the token's bytes so far, unescaped */
  for (size_t i = 1; i < len; i++) {
    if (key[i] == '/') {
      tok = 0;
      continue;
    }
    if (key[i] == '~' && (++i == len || (key[i] != '0' && key[i] != '1')))
      return compile_error(err, plen, key, len, NULL, "not a JSON pointer: '~' must be followed by 0 or 1");
    if (++tok > HL_JSON_POINTER_TOKEN_MAX) {
      char msg[64];
      snprintf(msg, sizeof msg, "a member name of more than %d bytes", HL_JSON_POINTER_TOKEN_MAX);
      return compile_error(err, plen, key, len, NULL, msg);
    }
  }
  return 0;
}

void hl_filter_free(hl_filter *f) {
  if (!f) return;
  for (size_t i = 0; i < f->nconds; i++) {
    hl_free(f->conds[i].pointer);
    hl_free(f->conds[i].ops);
  }
  hl_free(f->conds);
  hl_json_doc_dispose(&f->doc);
  hl_free(f);
}

int hl_filter_compile(const hl_json *filter, hl_filter **out, hl_buf *err) {
  return hl_filter_compile_at(filter, out, err, NULL);
}

int hl_filter_compile_at(const hl_json *filter, hl_filter **out, hl_buf *err, size_t *pointer_len) {
  if (pointer_len) *pointer_len = 0;
  hl_filter *f = hl_calloc(1, sizeof *f);
  hl_json_doc_init(&f->doc);
  *out = NULL;
  if (filter == NULL || filter->type == HL_JSON_NULL) {
    *out = f;
    return 0;
  }
  if (filter->type != HL_JSON_OBJECT) {
    if (err) hl_buf_puts(err, ": a filter is an object of JSON pointer to value or operators");
    hl_filter_free(f);
    return HL_EINVAL;
  }
  /* Keep a private copy so the compiled filter outlives the caller's document. */
  hl_buf copy = HL_BUF_INIT;
  hl_jw w;
  hl_jw_init(&w, &copy);
  hl_jw_value(&w, filter);
  int rc = hl_json_parse(&f->doc, copy.data, copy.len, NULL);
  hl_buf_dispose(&copy);
  if (rc != 0) { hl_filter_free(f); return HL_EINTERNAL; }
  const hl_json *root = f->doc.root;
  f->conds = hl_calloc(root->len ? root->len : 1, sizeof *f->conds);
  for (uint32_t i = 0; i < root->len; i++) {
    const hl_json_member *m = &root->u.members[i];
    cond *c = &f->conds[f->nconds++];
    c->pointer = hl_strndup(m->key, m->key_len);
    c->pointer_len = m->key_len;
    if ((rc = check_key(err, pointer_len, m->key, m->key_len)) != 0) goto fail;
    const hl_json *v = &m->value;
    bool is_ops = v->type == HL_JSON_OBJECT && v->len > 0 && v->u.members[0].key[0] == '$';
    if (!is_ops) {
      c->ops = hl_malloc(sizeof *c->ops);
      c->ops[0] = (cond_op){OP_EQ, v};
      c->nops = 1;
      continue;
    }
    c->ops = hl_calloc(v->len, sizeof *c->ops);
    for (uint32_t k = 0; k < v->len; k++) {
      const hl_json_member *om = &v->u.members[k];
      size_t j;
      for (j = 0; j < HL_ARRAY_SIZE(op_names); j++)
        if (strcmp(om->key, op_names[j].name) == 0) break;
      if (j == HL_ARRAY_SIZE(op_names)) {
        rc = compile_error(err, pointer_len, m->key, m->key_len, om,
                           "unknown operator; use $eq $ne $gt $gte $lt $lte $in $exists");
        goto fail;
      }
      op_kind op = op_names[j].op;
      const hl_json *ov = &om->value;
      if (op == OP_IN && ov->type != HL_JSON_ARRAY) {
        rc = compile_error(err, pointer_len, m->key, m->key_len, om, "expected an array of values");
        goto fail;
      }
      if (op == OP_EXISTS && !hl_json_is_bool(ov)) {
        rc = compile_error(err, pointer_len, m->key, m->key_len, om, "expected true or false");
        goto fail;
      }
      if ((op == OP_GT || op == OP_GTE || op == OP_LT || op == OP_LTE) &&
          ov->type != HL_JSON_NUMBER && ov->type != HL_JSON_STRING) {
        rc = compile_error(err, pointer_len, m->key, m->key_len, om, "expected a number or a string");
        goto fail;
      }
      c->ops[c->nops++] = (cond_op){op, ov};
    }
  }
  *out = f;
  return 0;
fail:
  hl_filter_free(f);
  return rc;
}

/* <0, 0, >0, or 2 when the two cannot be ordered. */
static int order(const hl_json *a, const hl_json *b) {
  if (a->type == HL_JSON_NUMBER && b->type == HL_JSON_NUMBER)
    return hl_decimal_cmp(a->u.str, a->len, b->u.str, b->len);
  if (a->type == HL_JSON_STRING && b->type == HL_JSON_STRING) {
    size_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->u.str, b->u.str, n);
    if (c) return c < 0 ? -1 : 1;
    return a->len == b->len ? 0 : a->len < b->len ? -1 : 1;
  }
  return 2;
}

static bool op_match(const cond_op *o, const hl_json *target) {
  if (o->op == OP_EXISTS) return (target != NULL) == (o->value->type == HL_JSON_TRUE);
  if (target == NULL) return o->op == OP_NE;
  int c;
  switch (o->op) {
  case OP_EQ: return hl_json_equal(target, o->value);
  case OP_NE: return !hl_json_equal(target, o->value);
  case OP_GT: c = order(target, o->value); return c != 2 && c > 0;
  case OP_GTE: c = order(target, o->value); return c != 2 && c >= 0;
  case OP_LT: c = order(target, o->value); return c != 2 && c < 0;
  case OP_LTE: c = order(target, o->value); return c != 2 && c <= 0;
  case OP_IN:
    for (uint32_t i = 0; i < o->value->len; i++)
      if (hl_json_equal(target, &o->value->u.items[i])) return true;
    return false;
  case OP_EXISTS: break;
  }
  return false;
}

bool hl_filter_match(const hl_filter *f, const hl_json *event) {
  if (!f) return true;
  for (size_t i = 0; i < f->nconds; i++) {
    const cond *c = &f->conds[i];
    const hl_json *target = hl_json_pointer(event, c->pointer, c->pointer_len);
    for (size_t k = 0; k < c->nops; k++)
      if (!op_match(&c->ops[k], target)) return false;
  }
  return true;
}
