#include "model/hl_filter.h"
#include "common/hl_common.h"
#include "json/hl_decimal.h"
#include "json/hl_json_hash.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { OP_EQ, OP_NE, OP_GT, OP_GTE, OP_LT, OP_LTE, OP_IN, OP_EXISTS } op_kind;

/* One of $in's values: its hl_json_hash and its index in the array. */
typedef struct {
  uint64_t h;
  uint32_t i;
} in_entry;

typedef struct {
  op_kind op;
  const hl_json *value;   /* in the filter's own document */
  /* A number value read once here, so that a match reads only the event's
   * number (hl_decimal_view_cmp). */
  hl_decimal_view num;
  /* $in: the values sorted by hash, so that a target costs one hash and a
   * lookup rather than a comparison with each value (a list may hold
   * thousands and runs on the loop for every event); types, the bit of
   * each value's type, spares hashing a target no value can equal. */
  in_entry *in;
  unsigned in_types;
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
    for (size_t k = 0; k < f->conds[i].nops; k++) hl_free(f->conds[i].ops[k].in);
    hl_free(f->conds[i].pointer);
    hl_free(f->conds[i].ops);
  }
  hl_free(f->conds);
  hl_json_doc_dispose(&f->doc);
  hl_free(f);
}

static int in_entry_cmp(const void *a, const void *b) {
  uint64_t x = ((const in_entry *)a)->h, y = ((const in_entry *)b)->h;
  return x < y ? -1 : x > y;
}

/* What matching needs ready: a number value's view, $in's hash table. */
static void op_prepare(cond_op *o) {
  if (o->value->type == HL_JSON_NUMBER) hl_decimal_view_read(&o->num, o->value->u.str, o->value->len);
  if (o->op != OP_IN) return;
  const hl_json *v = o->value;
  o->in = hl_malloc((v->len ? v->len : 1) * sizeof *o->in);
  for (uint32_t i = 0; i < v->len; i++) {
    o->in[i] = (in_entry){hl_json_hash(&v->u.items[i], NULL), i};
    o->in_types |= 1u << v->u.items[i].type;
  }
  qsort(o->in, v->len, sizeof *o->in, in_entry_cmp);
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
      c->ops[0] = (cond_op){.op = OP_EQ, .value = v};
      c->nops = 1;
      op_prepare(&c->ops[0]);
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
      c->ops[c->nops] = (cond_op){.op = op, .value = ov};
      op_prepare(&c->ops[c->nops++]);
    }
  }
  *out = f;
  return 0;
fail:
  hl_filter_free(f);
  return rc;
}

/* The event's value a condition looks at: a number is read once for all
 * of the condition's operators (num, when num_read), and hashed once for
 * $in (h, when hashed); with a memo, once for every filter of the event. */
typedef struct {
  const hl_json *v;
  hl_decimal_view num;
  bool num_read, hashed;
  uint64_t h;
  hl_filter_memo *memo; /* counts what it does; NULL: none */
} target;

static const hl_decimal_view *target_num(target *t) {
  if (!t->num_read) {
    hl_decimal_view_read(&t->num, t->v->u.str, t->v->len);
    if (t->memo) t->memo->numbers_read++;
  }
  t->num_read = true;
  return &t->num;
}

static uint64_t target_hash(target *t) {
  if (!t->hashed) {
    t->h = hl_json_hash(t->v, NULL);
    if (t->memo) t->memo->hashed++;
  }
  t->hashed = true;
  return t->h;
}

/* <0, 0, >0, or 2 when the two cannot be ordered. */
static int order(target *t, const cond_op *o) {
  const hl_json *a = t->v, *b = o->value;
  if (a->type == HL_JSON_NUMBER && b->type == HL_JSON_NUMBER) return hl_decimal_view_cmp(target_num(t), &o->num);
  if (a->type == HL_JSON_STRING && b->type == HL_JSON_STRING) {
    size_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->u.str, b->u.str, n);
    if (c) return c < 0 ? -1 : 1;
    return a->len == b->len ? 0 : a->len < b->len ? -1 : 1;
  }
  return 2;
}

static bool equal(target *t, const cond_op *o) {
  if (t->v->type == HL_JSON_NUMBER && o->value->type == HL_JSON_NUMBER)
    return hl_decimal_view_cmp(target_num(t), &o->num) == 0;
  return hl_json_equal(t->v, o->value);
}

/* Whether t equals one of $in's values: its hash looked up among theirs,
 * and only values of that hash compared. */
static bool in_list(target *t, const cond_op *o) {
  if (!(o->in_types & (1u << t->v->type))) return false;
  uint64_t h = target_hash(t);
  size_t lo = 0, hi = o->value->len;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (o->in[mid].h < h) lo = mid + 1;
    else hi = mid;
  }
  for (; lo < o->value->len && o->in[lo].h == h; lo++)
    if (hl_json_equal(t->v, &o->value->u.items[o->in[lo].i])) return true;
  return false;
}

static bool op_match(const cond_op *o, target *t) {
  if (o->op == OP_EXISTS) return (t->v != NULL) == (o->value->type == HL_JSON_TRUE);
  if (t->v == NULL) return o->op == OP_NE;
  int c;
  switch (o->op) {
  case OP_EQ: return equal(t, o);
  case OP_NE: return !equal(t, o);
  case OP_GT: c = order(t, o); return c != 2 && c > 0;
  case OP_GTE: c = order(t, o); return c != 2 && c >= 0;
  case OP_LT: c = order(t, o); return c != 2 && c < 0;
  case OP_LTE: c = order(t, o); return c != 2 && c <= 0;
  case OP_IN: return in_list(t, o);
  case OP_EXISTS: break;
  }
  return false;
}

static bool cond_match(const cond *c, target *t) {
  for (size_t k = 0; k < c->nops; k++)
    if (!op_match(&c->ops[k], t)) return false;
  return true;
}

bool hl_filter_match(const hl_filter *f, const hl_json *event) {
  if (!f) return true;
  for (size_t i = 0; i < f->nconds; i++) {
    const cond *c = &f->conds[i];
    target t = {.v = hl_json_pointer(event, c->pointer, c->pointer_len)};
    if (!cond_match(c, &t)) return false;
  }
  return true;
}

void hl_filter_memo_init(hl_filter_memo *m, const hl_json *event) {
  *m = (hl_filter_memo){.event = event};
  hl_strmap_init(&m->targets);
}

void hl_filter_memo_dispose(hl_filter_memo *m) {
  const char *k;
  void *v;
  for (size_t i = 0; hl_strmap_next(&m->targets, &i, &k, &v);) hl_free(v);
  hl_strmap_dispose(&m->targets);
}

bool hl_filter_match_memo(const hl_filter *f, hl_filter_memo *m) {
  if (!f) return true;
  for (size_t i = 0; i < f->nconds; i++) {
    const cond *c = &f->conds[i];
    if (memchr(c->pointer, '\0', c->pointer_len)) { /* not a map key: followed each time */
      target t = {.v = hl_json_pointer(m->event, c->pointer, c->pointer_len)};
      if (!cond_match(c, &t)) return false;
      continue;
    }
    target *t = hl_strmap_get(&m->targets, c->pointer);
    if (!t) {
      t = hl_calloc(1, sizeof *t);
      t->v = hl_json_pointer(m->event, c->pointer, c->pointer_len);
      t->memo = m;
      m->found++;
      hl_strmap_put(&m->targets, c->pointer, t);
    }
    if (!cond_match(c, t)) return false;
  }
  return true;
}
