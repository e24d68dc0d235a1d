/* Applies a compiled transformation (hl_transform.h).
 *
 * The event is parsed once (hl_json, immutable, with source spans). The
 * operations edit a tree of values that are either a parsed value, untouched
 * and written back from its source text, or an edited container whose
 * children are values again. A container is materialised only on the path an
 * operation writes through, so a 10-operation spec copies a few small member
 * arrays, never the event. One write at the end produces the result.
 *
 * Sharing: copy and template put one value in several places. Parsed values
 * are immutable and shared freely; an edited container that gets a second
 * reference is marked shared, and editing a shared container first copies it
 * (one level, marking its children shared in turn). The mark is never
 * cleared, which can only cause a needless copy, never a wrong result.
 */
#include "common/hl_common.h"
#include "transform/hl_transform_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct tcont tcont;

/* A value: a parsed one (raw) or an edited container (c); both NULL: absent. */
typedef struct {
  const hl_json *raw;
  tcont *c;
} tval;

typedef struct {
  const char *key; /* decoded, for lookups */
  uint32_t key_len;
  uint32_t key_src_len;
  const char *key_src; /* as written, quotes included; NULL: escape key */
  tval v;
} tmem;

struct tcont {
  bool obj;
  bool shared;
  uint32_t n, cap;
  /* The compact parsed container this one was made from, or NULL: a run of
   * its members left as they were is written as one copy of its text. */
  const hl_json *from;
  union {
    tmem *m;  /* obj */
    tval *a;  /* array */
  } u;
};

typedef struct {
  const hl_transform *t;
  hl_arena *arena;
  tval root;
  const hl_op *op;
  uint32_t op_index;
  hl_transform_error *err;
  /* How deep any value of the event or of the programs' specs nests (their
   * documents' depth): what a value written as its source text can add. */
  int raw_depth;
} run;

static const tval ABSENT = {NULL, NULL};

/* --- failing ---------------------------------------------------------------------------- */

static int vfail(run *r, int rc, const char *where, const char *fmt, va_list ap) {
  if (r->err) {
    snprintf(r->err->path, sizeof r->err->path, "%s", where);
    vsnprintf(r->err->message, sizeof r->err->message, fmt, ap);
  }
  return rc;
}

/* Fails at member `field` of the current operation. */
static int afail(run *r, int rc, const char *field, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int afail(run *r, int rc, const char *field, const char *fmt, ...) {
  char where[64];
  snprintf(where, sizeof where, "/ops/%u/%s", r->op_index, field);
  va_list ap;
  va_start(ap, fmt);
  vfail(r, rc, where, fmt, ap);
  va_end(ap);
  return rc;
}

static int afail_where(run *r, int rc, const char *where, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int afail_where(run *r, int rc, const char *where, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfail(r, rc, where, fmt, ap);
  va_end(ap);
  return rc;
}

/* A pointer that found nothing: fine under "skip", else an error. */
static int missing(run *r, const char *field, const hl_ptr *p) {
  if (!r->op->missing_error) return 0;
  return afail(r, HL_EINVAL, field, "no value at \"%.*s\" in the event", (int)p->text_len, p->text);
}

/* --- reading values -------------------------------------------------------------------- */

static inline bool present(tval v) { return v.raw || v.c; }

static hl_json_type val_type(tval v) {
  if (v.c) return v.c->obj ? HL_JSON_OBJECT : HL_JSON_ARRAY;
  return v.raw->type;
}

static uint32_t val_len(tval v) {
  if (v.c) return v.c->n;
  return v.raw->type == HL_JSON_OBJECT || v.raw->type == HL_JSON_ARRAY ? v.raw->len : 0;
}

static tmem member_at(tval v, uint32_t i) {
  if (v.c) return v.c->u.m[i];
  const hl_json_member *m = &v.raw->u.members[i];
  return (tmem){m->key, m->key_len, m->key_src_len, m->key_src, {&m->value, NULL}};
}

static tval item_at(tval v, uint32_t i) { return v.c ? v.c->u.a[i] : (tval){&v.raw->u.items[i], NULL}; }

static inline bool key_eq(const char *a, uint32_t alen, const char *b, uint32_t blen) {
  return alen == blen && (alen == 0 || (a[0] == b[0] && memcmp(a, b, alen) == 0));
}

/* Index of the last member named key (the one that counts, as in
 * hl_json_get), or -1. */
static int64_t find_key(tval v, const char *key, uint32_t len) {
  if (v.c) {
    for (uint32_t i = v.c->n; i-- > 0;)
      if (key_eq(v.c->u.m[i].key, v.c->u.m[i].key_len, key, len)) return i;
    return -1;
  }
  for (uint32_t i = v.raw->len; i-- > 0;)
    if (key_eq(v.raw->u.members[i].key, v.raw->u.members[i].key_len, key, len)) return i;
  return -1;
}

/* Where token k leads from v: a member index, an array index, or -1. */
static int64_t child_index(tval v, const hl_tok *k) {
  hl_json_type ty = val_type(v);
  if (ty == HL_JSON_OBJECT) return find_key(v, k->s, k->len);
  if (ty == HL_JSON_ARRAY) return k->index >= 0 && (uint32_t)k->index < val_len(v) ? k->index : -1;
  return -1;
}

static tval child_at(tval v, uint32_t i) {
  if (v.c) return v.c->obj ? v.c->u.m[i].v : v.c->u.a[i];
  return (tval){v.raw->type == HL_JSON_OBJECT ? &v.raw->u.members[i].value : &v.raw->u.items[i], NULL};
}

static tval get(tval v, const hl_ptr *p) {
  for (uint32_t i = 0; i < p->n; i++) {
    int64_t j = child_index(v, &p->t[i]);
    if (j < 0) return ABSENT;
    v = child_at(v, (uint32_t)j);
  }
  return v;
}

static void share(tval v) {
  if (v.c) v.c->shared = true;
}

/* --- editing --------------------------------------------------------------------------- */

static tcont *cont_new(run *r, bool obj, uint32_t cap) {
  tcont *c = hl_arena_alloc(r->arena, sizeof *c);
  c->obj = obj;
  c->shared = false;
  c->from = NULL;
  c->n = 0;
  c->cap = cap;
  if (obj) c->u.m = cap ? hl_arena_alloc(r->arena, cap * sizeof(tmem)) : NULL;
  else c->u.a = cap ? hl_arena_alloc(r->arena, cap * sizeof(tval)) : NULL;
  return c;
}

static void cont_reserve(run *r, tcont *c, uint32_t need) {
  if (need <= c->cap) return;
  uint32_t cap = c->cap * 2 > need ? c->cap * 2 : need + 4;
  size_t size = c->obj ? sizeof(tmem) : sizeof(tval);
  void *p = hl_arena_alloc(r->arena, cap * size);
  if (c->n) memcpy(p, c->obj ? (void *)c->u.m : (void *)c->u.a, c->n * size);
  if (c->obj) c->u.m = p;
  else c->u.a = p;
  c->cap = cap;
}

static void obj_append(run *r, tcont *c, tmem m) {
  cont_reserve(r, c, c->n + 1);
  c->u.m[c->n++] = m;
}

static void arr_append(run *r, tcont *c, tval v) {
  cont_reserve(r, c, c->n + 1);
  c->u.a[c->n++] = v;
}

static void remove_at(tcont *c, uint32_t i) {
  if (c->obj) memmove(&c->u.m[i], &c->u.m[i + 1], (c->n - i - 1) * sizeof(tmem));
  else memmove(&c->u.a[i], &c->u.a[i + 1], (c->n - i - 1) * sizeof(tval));
  c->n--;
}

static tmem key_from_tok(const hl_tok *k, tval v) { return (tmem){k->s, k->len, k->json_len, k->json, v}; }

/* What a container made from v may copy its untouched runs from. */
static const hl_json *from_of(tval v) {
  if (v.c) return v.c->from;
  return v.raw->src && v.raw->src_compact ? v.raw : NULL;
}

/* Makes the container held in *slot editable by this path alone and
 * returns it; NULL when *slot is not a container. */
static tcont *editable(run *r, tval *slot) {
  tval v = *slot;
  hl_json_type ty = val_type(v);
  if (ty != HL_JSON_OBJECT && ty != HL_JSON_ARRAY) return NULL;
  if (v.c && !v.c->shared) return v.c;
  uint32_t n = val_len(v);
  tcont *c = cont_new(r, ty == HL_JSON_OBJECT, n + 2);
  c->from = from_of(v);
  for (uint32_t i = 0; i < n; i++) {
    if (c->obj) c->u.m[i] = member_at(v, i);
    else c->u.a[i] = item_at(v, i);
    share(child_at(v, i)); /* now held by v and by the copy */
  }
  c->n = n;
  slot->raw = NULL;
  slot->c = c;
  return c;
}

static const char *type_article(hl_json_type t) {
  switch (t) {
  case HL_JSON_STRING: return "a string";
  case HL_JSON_NUMBER: return "a number";
  case HL_JSON_NULL: return "null";
  case HL_JSON_TRUE: case HL_JSON_FALSE: return "a boolean";
  case HL_JSON_ARRAY: return "an array";
  case HL_JSON_OBJECT: return "an object";
  }
  return "?";
}

/* Names p's first `at` bytes for a message: "/a/b" in quotes, or the event. */
static const char *prefix_name(char *buf, size_t size, const hl_ptr *p, uint32_t at) {
  if (at == 0) return "the event";
  snprintf(buf, size, "\"%.*s\"", (int)at, p->text);
  return buf;
}

/* The editable container that is to hold p's last token (p->n >= 1),
 * creating missing objects on the way, or NULL after failing r. */
static tcont *parent_for_write(run *r, const hl_ptr *p, const char *field) {
  tval *slot = &r->root;
  for (uint32_t i = 0;; i++) {
    tcont *c = editable(r, slot);
    char name[160];
    uint32_t at = i ? p->t[i - 1].end : 0; /* p's text up to this container */
    if (!c) {
      afail(r, HL_EINVAL, field, "cannot write \"%.*s\": %s is %s", (int)p->text_len, p->text,
            prefix_name(name, sizeof name, p, at), type_article(val_type(*slot)));
      return NULL;
    }
    if (i + 1 == p->n) return c;
    const hl_tok *k = &p->t[i];
    if (c->obj) {
      int64_t j = find_key((tval){NULL, c}, k->s, k->len);
      if (j < 0) {
        obj_append(r, c, key_from_tok(k, (tval){NULL, cont_new(r, true, 2)}));
        j = c->n - 1;
      }
      slot = &c->u.m[j].v;
    } else {
      if (k->index < 0 || (uint32_t)k->index >= c->n) {
        afail(r, HL_EINVAL, field, "cannot write \"%.*s\": %s is an array of %u items", (int)p->text_len, p->text,
              prefix_name(name, sizeof name, p, at), c->n);
        return NULL;
      }
      slot = &c->u.a[k->index];
    }
  }
}

/* Puts v at p: an object member is replaced in place or appended; an array
 * item is replaced, or appended for "-" or the index one past the end. */
static int set_at(run *r, const hl_ptr *p, tval v, const char *field) {
  if (p->n == 0) {
    r->root = v;
    return 0;
  }
  tcont *c = parent_for_write(r, p, field);
  if (!c) return HL_EINVAL;
  const hl_tok *k = &p->t[p->n - 1];
  if (c->obj) {
    int64_t j = find_key((tval){NULL, c}, k->s, k->len);
    if (j >= 0) c->u.m[j].v = v;
    else obj_append(r, c, key_from_tok(k, v));
    return 0;
  }
  if (k->index == HL_TOK_END || (k->index >= 0 && (uint32_t)k->index == c->n)) {
    arr_append(r, c, v);
  } else if (k->index >= 0 && (uint32_t)k->index < c->n) {
    c->u.a[k->index] = v;
  } else {
    char name[160];
    uint32_t at = p->n > 1 ? p->t[p->n - 2].end : 0;
    return afail(r, HL_EINVAL, field, "cannot write \"%.*s\": %s is an array of %u items", (int)p->text_len, p->text,
                 prefix_name(name, sizeof name, p, at), c->n);
  }
  return 0;
}

/* Removes the value at p, which exists; for an object, every member with
 * the key goes, so the key is gone even from an event that repeats it. */
static int remove_existing(run *r, const hl_ptr *p, const char *field) {
  tcont *c = parent_for_write(r, p, field);
  if (!c) return HL_EINVAL;
  const hl_tok *k = &p->t[p->n - 1];
  if (!c->obj) {
    remove_at(c, (uint32_t)k->index);
    return 0;
  }
  for (uint32_t i = c->n; i-- > 0;)
    if (key_eq(c->u.m[i].key, c->u.m[i].key_len, k->s, k->len)) remove_at(c, i);
  return 0;
}

/* --- operations ------------------------------------------------------------------------ */

static int op_rename(run *r, const hl_op *op) {
  if (!present(get(r->root, &op->path))) return missing(r, "path", &op->path);
  tcont *c = parent_for_write(r, &op->path, "path");
  if (!c) return HL_EINVAL;
  if (!c->obj)
    return afail(r, HL_EINVAL, "path", "cannot rename \"%.*s\": it is an array item, not an object member",
                 (int)op->path.text_len, op->path.text);
  const hl_tok *k = &op->path.t[op->path.n - 1];
  const hl_json *to = op->value;
  uint32_t j = (uint32_t)find_key((tval){NULL, c}, k->s, k->len);
  /* The member keeps its place; no other one keeps either key. */
  for (uint32_t i = c->n; i-- > 0;) {
    const tmem *m = &c->u.m[i];
    if (i != j && (key_eq(m->key, m->key_len, k->s, k->len) || key_eq(m->key, m->key_len, to->u.str, to->len))) {
      remove_at(c, i);
      if (i < j) j--;
    }
  }
  tmem *m = &c->u.m[j];
  m->key = to->u.str;
  m->key_len = to->len;
  m->key_src = to->src;
  m->key_src_len = to->src_len;
  return 0;
}

static int pick_missing(run *r, const hl_pick_node *n) {
  if (!r->op->missing_error) return 0;
  const hl_ptr *p = &r->op->paths[n->first];
  char field[32];
  snprintf(field, sizeof field, "paths/%u", n->first);
  return afail(r, HL_EINVAL, field, "no value at \"%.*s\" in the event", (int)p->text_len, p->text);
}

typedef struct {
  uint32_t at;
  tval v;
} picked;

/* *out becomes v with only the listed parts, in v's order; absent when none
 * of them exists. */
static int pick(run *r, tval v, const hl_pick_node *n, tval *out) {
  *out = ABSENT;
  if (n->keep) {
    *out = v;
    return 0;
  }
  hl_json_type ty = val_type(v);
  bool obj = ty == HL_JSON_OBJECT;
  picked *got = n->n ? hl_arena_alloc(r->arena, n->n * sizeof *got) : NULL;
  uint32_t ngot = 0;
  for (uint32_t i = 0; i < n->n; i++) {
    const hl_pick_node *kid = &n->kids[i];
    int64_t j = child_index(v, &kid->k);
    int rc;
    if (j < 0) {
      if ((rc = pick_missing(r, kid)) != 0) return rc;
      continue;
    }
    tval sub;
    if ((rc = pick(r, child_at(v, (uint32_t)j), kid, &sub)) != 0) return rc;
    if (!present(sub)) continue;
    uint32_t k = ngot++; /* keep them in the event's order */
    while (k > 0 && got[k - 1].at > (uint32_t)j) {
      got[k] = got[k - 1];
      k--;
    }
    got[k] = (picked){(uint32_t)j, sub};
  }
  if (ngot == 0) return 0;
  tcont *c = cont_new(r, obj, ngot);
  c->from = from_of(v);
  for (uint32_t i = 0; i < ngot; i++) {
    if (obj) {
      tmem m = member_at(v, got[i].at);
      m.v = got[i].v;
      c->u.m[i] = m;
    } else {
      c->u.a[i] = got[i].v;
    }
  }
  c->n = ngot;
  *out = (tval){NULL, c};
  return 0;
}

static int op_pick(run *r, const hl_op *op) {
  tval v;
  int rc = pick(r, r->root, op->pick, &v);
  if (rc) return rc;
  if (!present(v)) v = (tval){NULL, cont_new(r, val_type(r->root) != HL_JSON_ARRAY, 0)};
  r->root = v;
  return 0;
}

static int op_wrap(run *r, const hl_op *op) {
  tval v = r->root;
  for (uint32_t i = op->path.n; i-- > 0;) {
    tcont *c = cont_new(r, true, 1);
    obj_append(r, c, key_from_tok(&op->path.t[i], v));
    v = (tval){NULL, c};
  }
  r->root = v;
  return 0;
}

/* Builds template t against the document src into *out (absent when a
 * pointer finds nothing under "skip"). */
static int build(run *r, const hl_tpl *t, tval src, tval *out) {
  *out = ABSENT;
  switch (t->kind) {
  case TPL_LIT:
    *out = (tval){t->lit, NULL};
    return 0;
  case TPL_PTR: {
    tval v = get(src, &t->p);
    if (present(v)) {
      share(v);
      *out = v;
    } else if (t->lit) {
      *out = (tval){t->lit, NULL};
    } else if (r->op->missing_error) {
      return afail_where(r, HL_EINVAL, t->where, "no value at \"%.*s\" in the event", (int)t->p.text_len, t->p.text);
    }
    return 0;
  }
  case TPL_OBJ:
  case TPL_ARR: {
    bool obj = t->kind == TPL_OBJ;
    tcont *c = cont_new(r, obj, t->n);
    for (uint32_t i = 0; i < t->n; i++) {
      tval v;
      int rc = build(r, &t->kids[i], src, &v);
      if (rc) return rc;
      if (!present(v)) continue; /* the member or item is left out */
      if (obj) {
        const hl_json_member *k = &t->keys[i];
        c->u.m[c->n++] = (tmem){k->key, k->key_len, k->key_src_len, k->key_src, v};
      } else {
        c->u.a[c->n++] = v;
      }
    }
    *out = (tval){NULL, c};
    return 0;
  }
  }
  return 0;
}

static int apply_op(run *r, const hl_op *op) {
  tval v;
  int rc;
  switch (op->kind) {
  case OP_SET:
    return set_at(r, &op->path, (tval){op->value, NULL}, "path");
  case OP_COPY:
    v = get(r->root, &op->from);
    if (!present(v)) return missing(r, "from", &op->from);
    share(v);
    return set_at(r, &op->path, v, "path");
  case OP_MOVE:
    v = get(r->root, &op->from);
    if (!present(v)) return missing(r, "from", &op->from);
    if ((rc = remove_existing(r, &op->from, "from")) != 0) return rc;
    return set_at(r, &op->path, v, "path");
  case OP_RENAME:
    return op_rename(r, op);
  case OP_REMOVE:
    if (!present(get(r->root, &op->path))) return missing(r, "path", &op->path);
    return remove_existing(r, &op->path, "path");
  case OP_PICK:
    return op_pick(r, op);
  case OP_WRAP:
    return op_wrap(r, op);
  case OP_TEMPLATE:
    if ((rc = build(r, op->tpl, r->root, &v)) != 0) return rc;
    if (!present(v)) return 0; /* the template is one pointer that found nothing */
    return set_at(r, &op->path, v, "path");
  }
  return 0;
}

/* --- writing ------------------------------------------------------------------------------ */

typedef struct {
  hl_buf *out;
  size_t limit; /* out->len may not pass it */
  int raw_depth; /* run.raw_depth */
} writer;

/* True when v nests at most room levels deep (a scalar: 0). */
static bool depth_within(const hl_json *v, int room) {
  if (v->type != HL_JSON_OBJECT && v->type != HL_JSON_ARRAY) return true;
  if (room <= 0) return false;
  for (uint32_t i = 0; i < v->len; i++)
    if (!depth_within(v->type == HL_JSON_OBJECT ? &v->u.members[i].value : &v->u.items[i], room - 1)) return false;
  return true;
}

/* Whether a value written as its source text into a container at depth
 * `depth` keeps the result within HL_TRANSFORM_MAX_DEPTH levels. The levels
 * of edited structure alone did not bound it: a value copied or moved deep
 * keeps its own nesting, and a result deeper than any reader takes (this
 * one's HL_JSON_MAX_DEPTH among them) came out; a chain, which sees such a
 * value as edited structure, refused what the same programs one after the
 * other gave. The documents' depth answers at once; a value is walked only
 * where a deep document's part goes deep. */
static bool raw_fits(const writer *w, const hl_json *v, int depth) {
  int room = HL_TRANSFORM_MAX_DEPTH - 1 - depth;
  return w->raw_depth <= room || depth_within(v, room);
}

/* How deep v nests (a scalar: 0). */
static int json_depth(const hl_json *v) {
  if (v->type != HL_JSON_OBJECT && v->type != HL_JSON_ARRAY) return 0;
  int d = 0;
  for (uint32_t i = 0; i < v->len; i++) {
    int k = json_depth(v->type == HL_JSON_OBJECT ? &v->u.members[i].value : &v->u.items[i]);
    if (k > d) d = k;
  }
  return d + 1;
}

/* Appends without the NUL hl_buf_append keeps (run_ops adds it once). */
static inline void put(hl_buf *b, const void *p, size_t n) {
  if (b->cap - b->len <= n) hl_buf_reserve(b, n);
  memcpy(b->data + b->len, p, n);
  b->len += n;
}

static inline void put1(hl_buf *b, char c) {
  if (b->cap - b->len <= 1) hl_buf_reserve(b, 1);
  b->data[b->len++] = c;
}

static void put_val(hl_buf *b, const hl_json *v) {
  if (v->src && v->src_compact) put(b, v->src, v->src_len);
  else hl_json_write_src(b, v);
}

/* How many children of c from i on are children k, k+1, ... of c->from,
 * untouched (same value, same key); *k is set. 0 when child i is not one. */
static uint32_t untouched_run(const tcont *c, uint32_t i, uint32_t *k) {
  const hl_json *f = c->from;
  /* An empty source has no children to keep, and its child array may be
   * NULL, which the range checks below must not offset. */
  if (!f || !f->len) return 0;
  uint32_t n = 0;
  if (c->obj) {
    const hl_json_member *fm = f->u.members;
    const tmem *m = &c->u.m[i];
    if (!m->v.raw) return 0;
    const hl_json_member *at = hl_container_of(m->v.raw, hl_json_member, value);
    if ((uintptr_t)at < (uintptr_t)fm || (uintptr_t)at >= (uintptr_t)(fm + f->len)) return 0;
    *k = (uint32_t)(at - fm);
    while (i + n < c->n && *k + n < f->len && m[n].v.raw == &fm[*k + n].value && m[n].key_src == fm[*k + n].key_src) n++;
  } else {
    const hl_json *fi = f->u.items, *v = c->u.a[i].raw;
    if (!v || (uintptr_t)v < (uintptr_t)fi || (uintptr_t)v >= (uintptr_t)(fi + f->len)) return 0;
    *k = (uint32_t)(v - fi);
    while (i + n < c->n && *k + n < f->len && c->u.a[i + n].raw == &fi[*k + n]) n++;
  }
  return n;
}

static int write_val(writer *w, tval v, int depth) {
  hl_buf *b = w->out;
  if (b->len > w->limit) return HL_ETOOBIG;
  if (!v.c) {
    put_val(b, v.raw);
    return 0;
  }
  if (depth >= HL_TRANSFORM_MAX_DEPTH) return HL_ETOOBIG;
  const tcont *c = v.c;
  put1(b, c->obj ? '{' : '[');
  for (uint32_t i = 0; i < c->n; i++) {
    if (i) put1(b, ',');
    uint32_t k, n = untouched_run(c, i, &k);
    if (n) {
      /* The source has exactly these bytes from the first key (or item) to
       * the last value: one copy. */
      const hl_json *f = c->from;
      const char *start = c->obj ? f->u.members[k].key_src : f->u.items[k].src;
      const hl_json *last = c->obj ? &f->u.members[k + n - 1].value : &f->u.items[k + n - 1];
      if (b->len > w->limit) return HL_ETOOBIG;
      for (uint32_t j = k; j < k + n; j++)
        if (!raw_fits(w, c->obj ? &f->u.members[j].value : &f->u.items[j], depth)) return HL_ETOOBIG;
      put(b, start, (size_t)(last->src + last->src_len - start));
      i += n - 1;
      continue;
    }
    tval kid;
    if (c->obj) {
      const tmem *m = &c->u.m[i];
      hl_json_write_key(b, m->key_src, m->key_src_len, m->key, m->key_len);
      put1(b, ':');
      kid = m->v;
    } else {
      kid = c->u.a[i];
    }
    int rc;
    if (!kid.c) {
      if (b->len > w->limit || !raw_fits(w, kid.raw, depth)) return HL_ETOOBIG;
      put_val(b, kid.raw);
    } else if ((rc = write_val(w, kid, depth + 1)) != 0) {
      return rc;
    }
  }
  put1(b, c->obj ? '}' : ']');
  return 0;
}

/* Runs t's operations on r's tree (after those of the programs before it). */
static int run_ops(run *r, const hl_transform *t) {
  r->t = t;
  for (uint32_t i = 0; i < t->nops; i++) {
    r->op = &t->ops[i];
    r->op_index = i;
    int rc = apply_op(r, r->op);
    if (rc) return rc;
  }
  return 0;
}

/* Writes r's tree to out, once; expect: the size to reserve (the event's,
 * and what the programs may add), so the buffer grows at most rarely. */
static int write_result(run *r, hl_buf *out, size_t expect) {
  size_t start = out->len;
  writer w = {out, start + HL_TRANSFORM_MAX_OUTPUT, r->raw_depth};
  hl_buf_reserve(out, expect + 64);
  int rc = write_val(&w, r->root, 0);
  if (rc == 0 && out->len > w.limit) rc = HL_ETOOBIG;
  if (out->data) out->data[out->len] = '\0';
  if (rc) {
    out->len = start;
    if (out->data) out->data[start] = '\0';
    return afail_where(r, rc, "", "the result would be larger than %zu MiB or nest deeper than %d levels",
                       HL_TRANSFORM_MAX_OUTPUT >> 20, HL_TRANSFORM_MAX_DEPTH);
  }
  return 0;
}

int hl_transform_apply_json(const hl_transform *t, const hl_json *event, hl_buf *out, hl_transform_error *err) {
  if (err) memset(err, 0, sizeof *err);
  hl_arena a;
  hl_arena_init(&a, 4096);
  run r = {.arena = &a, .root = {event, NULL}, .err = err, .raw_depth = HL_MAX(json_depth(event), t->doc.depth)};
  int rc = run_ops(&r, t);
  if (rc == 0) rc = write_result(&r, out, event->src ? event->src_len : 0);
  hl_arena_dispose(&a);
  return rc;
}

int hl_transform_apply(const hl_transform *t, const char *event, size_t len, hl_buf *out, hl_transform_error *err) {
  return hl_transform_apply_chain(&t, 1, event, len, out, NULL, err);
}

int hl_transform_apply_chain(const hl_transform *const *t, size_t n, const char *event, size_t len, hl_buf *out,
                             size_t *failed, hl_transform_error *err) {
  if (err) memset(err, 0, sizeof *err);
  if (failed) *failed = 0;
  hl_json_doc d;
  hl_json_error jerr;
  hl_json_doc_init(&d);
  /* The document and the edit tree share one arena: sized so that an event
   * of a few KB takes one allocation. Strings and numbers are not copied
   * (HL_JSON_BORROW): every lookup here goes by length, and every value is
   * written from its source text, which is the caller's event. */
  hl_arena_init(&d.arena, HL_MAX((size_t)4096, HL_MIN(len * 8, (size_t)64 << 10)));
  int rc = hl_json_parse_ex(&d, event, len, HL_JSON_BORROW, &jerr);
  if (rc != 0) {
    if (err)
      snprintf(err->message, sizeof err->message, "the event is not valid JSON: %s at line %d, column %d", jerr.message,
               jerr.line, jerr.column);
    hl_json_doc_dispose(&d);
    return HL_EPARSE;
  }
  run r = {.arena = &d.arena, .root = {d.root, NULL}, .err = err, .raw_depth = d.depth};
  size_t expect = len;
  for (size_t i = 0; i < n; i++) r.raw_depth = HL_MAX(r.raw_depth, t[i]->doc.depth);
  for (size_t i = 0; i < n && rc == 0; i++) {
    if (failed) *failed = i;
    rc = run_ops(&r, t[i]);
    expect += t[i]->text_len;
  }
  if (rc == 0) rc = write_result(&r, out, expect);
  hl_json_doc_dispose(&d);
  return rc;
}
