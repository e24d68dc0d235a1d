/* Checks a transformation spec and compiles it (hl_transform.h,
 * docs/transformations.md). Every error names the spec member at fault by
 * its JSON pointer, so an API can answer 400 with details[].path. */
#include "common/hl_common.h"
#include "transform/hl_transform_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct {
  hl_transform *t;
  hl_transform_error *err;
  hl_buf where;   /* pointer of the spec member being compiled */
  hl_buf scratch;
} comp;

/* --- where in the spec ------------------------------------------------------------ */

static const char *where_str(const comp *c) { return c->where.data ? c->where.data : ""; }

static size_t where_push(comp *c, const char *tok, size_t n) {
  size_t old = c->where.len;
  hl_json_pointer_append(&c->where, tok, n);
  return old;
}

static size_t where_push_index(comp *c, uint32_t i) {
  char b[16];
  int n = snprintf(b, sizeof b, "%u", i);
  return where_push(c, b, (size_t)n);
}

static void where_pop(comp *c, size_t old) {
  c->where.len = old;
  if (c->where.data) c->where.data[old] = '\0';
}

static int cfail(comp *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int cfail(comp *c, const char *fmt, ...) {
  if (c->err) {
    snprintf(c->err->path, sizeof c->err->path, "%s", where_str(c));
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err->message, sizeof c->err->message, fmt, ap);
    va_end(ap);
  }
  return HL_EINVAL;
}

/* cfail at member `name` of the current place. */
static int cfail_at(comp *c, const char *name, const char *msg) {
  size_t old = where_push(c, name, strlen(name));
  int rc = cfail(c, "%s", msg);
  where_pop(c, old);
  return rc;
}

/* --- JSON pointers (RFC 6901) -------------------------------------------------------- */

static int32_t token_index(const char *s, uint32_t n) {
  if (n == 1 && s[0] == '-') return HL_TOK_END;
  if (n == 0 || n > 9 || (n > 1 && s[0] == '0')) return HL_TOK_KEY;
  int32_t v = 0;
  for (uint32_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return HL_TOK_KEY;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

/* Compiles the pointer string v (the spec member at c->where). */
static int compile_ptr(comp *c, const hl_json *v, hl_ptr *out) {
  if (v->type != HL_JSON_STRING) return cfail(c, "must be a JSON pointer (a string), not %s", hl_json_type_name(v->type));
  const char *s = v->u.str;
  uint32_t len = v->len;
  if (len > 0 && s[0] != '/') return cfail(c, "a JSON pointer is \"\" or starts with '/' (RFC 6901)");
  uint32_t n = 0;
  for (uint32_t i = 0; i < len; i++) n += s[i] == '/';
  if (n > HL_TRANSFORM_MAX_DEPTH) return cfail(c, "a pointer of more than %d tokens", HL_TRANSFORM_MAX_DEPTH);
  out->text = s;
  out->text_len = len;
  out->n = n;
  out->t = n ? hl_arena_alloc(&c->t->arena, n * sizeof *out->t) : NULL;
  /* Decoding never grows a token; one buffer holds them all. */
  char *buf = hl_arena_alloc(&c->t->arena, len + 1);
  uint32_t i = 0, o = 0;
  for (uint32_t k = 0; k < n; k++) {
    i++; /* '/' */
    hl_tok *t = &out->t[k];
    t->s = buf + o;
    while (i < len && s[i] != '/') {
      char ch = s[i++];
      if (ch == '~') {
        if (i >= len || (s[i] != '0' && s[i] != '1'))
          return cfail(c, "'~' in a JSON pointer must be followed by 0 or 1 (RFC 6901)");
        ch = s[i++] == '0' ? '~' : '/';
      }
      buf[o++] = ch;
    }
    t->len = (uint32_t)(buf + o - t->s);
    t->end = i;
    t->index = token_index(t->s, t->len);
  }
  for (uint32_t k = 0; k < n; k++) {
    hl_tok *t = &out->t[k];
    c->scratch.len = 0;
    hl_buf_putc(&c->scratch, '"');
    hl_json_escape(&c->scratch, t->s, t->len);
    hl_buf_putc(&c->scratch, '"');
    t->json = hl_arena_strndup(&c->t->arena, c->scratch.data, c->scratch.len);
    t->json_len = (uint32_t)c->scratch.len;
  }
  return 0;
}

static bool tok_eq(const hl_tok *a, const hl_tok *b) { return a->len == b->len && memcmp(a->s, b->s, a->len) == 0; }

/* --- operations -------------------------------------------------------------------- */

typedef struct {
  const char *name;
  hl_op_kind kind;
  const char *members;  /* allowed, space-separated, "op" implied */
  const char *required; /* likewise */
  bool missing_error;   /* the default of "missing" */
} op_def;

static const op_def OPS[] = {
    {"set", OP_SET, "path value", "path value", false},
    {"copy", OP_COPY, "from path missing", "from path", true},
    {"move", OP_MOVE, "from path missing", "from path", true},
    {"rename", OP_RENAME, "path to missing", "path to", true},
    {"remove", OP_REMOVE, "path missing", "path", false},
    {"pick", OP_PICK, "paths missing", "paths", false},
    {"wrap", OP_WRAP, "path", "path", false},
    {"template", OP_TEMPLATE, "template path missing", "template", true},
};

/* Whether word is in the space-separated list. */
static bool in_list(const char *list, const char *word, size_t n) {
  for (const char *p = list; *p;) {
    const char *e = strchr(p, ' ');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    if (len == n && memcmp(p, word, n) == 0) return true;
    if (!e) break;
    p = e + 1;
  }
  return false;
}

/* Members must be known and unique, so a typo or an ambiguity is a 400
 * rather than an operation that silently does something else. */
static int check_members(comp *c, const hl_json *obj, const char *allowed, const char *what) {
  for (uint32_t i = 0; i < obj->len; i++) {
    const hl_json_member *m = &obj->u.members[i];
    size_t old = where_push(c, m->key, m->key_len);
    int rc = 0;
    if (!in_list(allowed, m->key, m->key_len))
      rc = cfail(c, "unknown member for %s (allowed: %s)", what, allowed);
    for (uint32_t j = 0; j < i && rc == 0; j++)
      if (obj->u.members[j].key_len == m->key_len && memcmp(obj->u.members[j].key, m->key, m->key_len) == 0)
        rc = cfail(c, "duplicate member");
    where_pop(c, old);
    if (rc) return rc;
  }
  return 0;
}

/* Compiles member `name` of obj as a pointer into *out. */
static int member_ptr(comp *c, const hl_json *obj, const char *name, hl_ptr *out) {
  const hl_json *v = hl_json_get(obj, name);
  size_t old = where_push(c, name, strlen(name));
  int rc = compile_ptr(c, v, out);
  where_pop(c, old);
  return rc;
}

/* True when a's tokens are a proper prefix of b's. */
static bool ptr_inside(const hl_ptr *a, const hl_ptr *b) {
  if (a->n >= b->n) return false;
  for (uint32_t i = 0; i < a->n; i++)
    if (!tok_eq(&a->t[i], &b->t[i])) return false;
  return true;
}

static int compile_pick(comp *c, const hl_json *paths, hl_op *op) {
  if (paths->type != HL_JSON_ARRAY) return cfail(c, "must be an array of JSON pointers");
  hl_arena *a = &c->t->arena;
  op->paths = paths->len ? hl_arena_alloc(a, paths->len * sizeof *op->paths) : NULL;
  hl_pick_node *root = hl_arena_alloc(a, sizeof *root);
  memset(root, 0, sizeof *root);
  for (uint32_t i = 0; i < paths->len; i++) {
    size_t old = where_push_index(c, i);
    int rc = compile_ptr(c, &paths->u.items[i], &op->paths[i]);
    where_pop(c, old);
    if (rc) return rc;
    hl_pick_node *n = root;
    for (uint32_t k = 0; k < op->paths[i].n && !n->keep; k++) {
      const hl_tok *t = &op->paths[i].t[k];
      hl_pick_node *kid = NULL;
      for (uint32_t j = 0; j < n->n && !kid; j++)
        if (tok_eq(&n->kids[j].k, t)) kid = &n->kids[j];
      if (!kid) {
        if (n->n == n->cap) {
          uint32_t cap = n->cap ? n->cap * 2 : 4;
          hl_pick_node *kids = hl_arena_alloc(a, cap * sizeof *kids);
          if (n->n) memcpy(kids, n->kids, n->n * sizeof *kids);
          n->kids = kids;
          n->cap = cap;
        }
        kid = &n->kids[n->n++];
        memset(kid, 0, sizeof *kid);
        kid->k = *t;
        kid->first = i;
      }
      n = kid;
    }
    n->keep = true; /* a longer pointer under a kept value adds nothing */
  }
  op->pick = root;
  return 0;
}

/* --- templates ------------------------------------------------------------------------ */

static bool is_key(const hl_json_member *m, const char *k) {
  return m->key_len == strlen(k) && memcmp(m->key, k, m->key_len) == 0;
}

/* A key starting with one '$' is an operator's; "$$" starts a literal key
 * that starts with '$' ("$$type" is written "$type"). */
static bool is_operator_key(const hl_json_member *m) {
  return m->key_len > 0 && m->key[0] == '$' && !(m->key_len > 1 && m->key[1] == '$');
}

/* An object with an operator key is an operator: {"$ptr": P},
 * {"$ptr": P, "$default": V} or {"$const": V}. Everything else is literal
 * (and everything inside "$const"). Reserving every such key, not only the
 * three in use, keeps a misspelt operator from passing as a literal. */
static int compile_operator(comp *c, const hl_json *v, hl_tpl *out) {
  const hl_json *p = NULL, *d = NULL, *k = NULL;
  for (uint32_t i = 0; i < v->len; i++) {
    const hl_json_member *m = &v->u.members[i];
    const hl_json **slot = is_key(m, "$ptr") ? &p : is_key(m, "$default") ? &d : is_key(m, "$const") ? &k : NULL;
    size_t old = where_push(c, m->key, m->key_len);
    int rc = 0;
    if (!slot && is_operator_key(m))
      rc = cfail(c, "unknown template operator (the operators are $ptr, $default and $const; a literal key "
                    "starting with '$' is written with two, as \"$$type\" for \"$type\")");
    else if (!slot)
      rc = cfail(c, "a template operator object holds only \"$ptr\" (with an optional \"$default\") or "
                    "\"$const\"; put literal members beside it in an enclosing object");
    else if (*slot)
      rc = cfail(c, "duplicate member");
    where_pop(c, old);
    if (rc) return rc;
    *slot = &m->value;
  }
  if (k) {
    if (p || d) return cfail_at(c, p ? "$ptr" : "$default", "\"$const\" stands alone");
    out->kind = TPL_LIT;
    out->lit = k;
    return 0;
  }
  if (!p) return cfail_at(c, "$default", "\"$default\" needs \"$ptr\"");
  size_t old = where_push(c, "$ptr", 4);
  int rc = compile_ptr(c, p, &out->p);
  out->where = hl_arena_strndup(&c->t->arena, where_str(c), c->where.len);
  where_pop(c, old);
  if (rc) return rc;
  out->kind = TPL_PTR;
  out->lit = d;
  return 0;
}

/* The object's members with "$$" keys written "$": a copy, when there are any. */
static const hl_json_member *unescape_keys(comp *c, const hl_json *v) {
  hl_json_member *m = NULL;
  for (uint32_t i = 0; i < v->len; i++) {
    const hl_json_member *k = &v->u.members[i];
    if (k->key_len < 2 || k->key[0] != '$') continue;
    if (!m) {
      m = hl_arena_alloc(&c->t->arena, v->len * sizeof *m);
      memcpy(m, v->u.members, v->len * sizeof *m);
    }
    m[i].key = k->key + 1;
    m[i].key_len = k->key_len - 1;
    m[i].key_src = NULL; /* escaped afresh when written */
    m[i].key_src_len = 0;
  }
  return m ? m : v->u.members;
}

static int compile_tpl(comp *c, const hl_json *v, hl_tpl *out) {
  memset(out, 0, sizeof *out);
  out->kind = TPL_LIT;
  out->lit = v;
  if (v->type != HL_JSON_OBJECT && v->type != HL_JSON_ARRAY) return 0;
  bool obj = v->type == HL_JSON_OBJECT, literal = true;
  for (uint32_t i = 0; obj && i < v->len; i++) {
    const hl_json_member *m = &v->u.members[i];
    if (is_operator_key(m)) return compile_operator(c, v, out);
    if (m->key_len > 0 && m->key[0] == '$') literal = false; /* "$$": the key is rewritten */
  }
  hl_tpl *kids = v->len ? hl_arena_alloc(&c->t->arena, v->len * sizeof *kids) : NULL;
  for (uint32_t i = 0; i < v->len; i++) {
    const hl_json_member *m = obj ? &v->u.members[i] : NULL;
    size_t old = obj ? where_push(c, m->key, m->key_len) : where_push_index(c, i);
    int rc = compile_tpl(c, obj ? &m->value : &v->u.items[i], &kids[i]);
    where_pop(c, old);
    if (rc) return rc;
    literal = literal && kids[i].kind == TPL_LIT && kids[i].lit == (obj ? &m->value : &v->u.items[i]);
  }
  if (literal) return 0; /* no pointer below: write the spec's value as is */
  out->kind = obj ? TPL_OBJ : TPL_ARR;
  out->lit = NULL;
  out->keys = obj ? unescape_keys(c, v) : NULL;
  out->kids = kids;
  out->n = v->len;
  return 0;
}

/* --- the spec ---------------------------------------------------------------------------- */

static int compile_op(comp *c, const hl_json *o, hl_op *op) {
  if (o->type != HL_JSON_OBJECT) return cfail(c, "an operation is an object such as {\"op\":\"set\",...}");
  const hl_json *name = hl_json_get(o, "op");
  if (!name) return cfail(c, "missing member \"op\"");
  const op_def *def = NULL;
  for (size_t i = 0; i < HL_ARRAY_SIZE(OPS) && name->type == HL_JSON_STRING; i++)
    if (strlen(OPS[i].name) == name->len && memcmp(OPS[i].name, name->u.str, name->len) == 0) def = &OPS[i];
  if (!def)
    return cfail_at(c, "op", "unknown operation (one of set, copy, move, rename, remove, pick, wrap, template)");
  char allowed[64], what[32];
  snprintf(allowed, sizeof allowed, "op %s", def->members);
  snprintf(what, sizeof what, "\"%s\"", def->name);
  int rc = check_members(c, o, allowed, what);
  if (rc) return rc;
  for (const char *p = def->required; *p;) {
    const char *e = strchr(p, ' ');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    if (!hl_json_getn(o, p, n)) return cfail(c, "missing member \"%.*s\" (%s needs %s)", (int)n, p, what, def->required);
    p = e ? e + 1 : p + n;
  }
  memset(op, 0, sizeof *op);
  op->kind = def->kind;
  op->missing_error = def->missing_error;
  const hl_json *missing = hl_json_get(o, "missing");
  if (missing) {
    const char *m = hl_json_str(missing);
    if (m && strcmp(m, "error") == 0 && missing->len == 5) op->missing_error = true;
    else if (m && strcmp(m, "skip") == 0 && missing->len == 4) op->missing_error = false;
    else return cfail_at(c, "missing", "must be \"skip\" or \"error\"");
  }
  if (hl_json_get(o, "from") && (rc = member_ptr(c, o, "from", &op->from)) != 0) return rc;
  if (hl_json_get(o, "path") && (rc = member_ptr(c, o, "path", &op->path)) != 0) return rc;
  switch (op->kind) {
  case OP_SET:
    op->value = hl_json_get(o, "value");
    break;
  case OP_COPY:
    break;
  case OP_MOVE:
    if (op->from.n == 0) return cfail_at(c, "from", "cannot move the whole event (wrap or template place it)");
    if (ptr_inside(&op->from, &op->path)) return cfail_at(c, "path", "cannot move a value into itself");
    break;
  case OP_RENAME:
    if (op->path.n == 0) return cfail_at(c, "path", "the whole event has no name to change");
    op->value = hl_json_get(o, "to");
    if (op->value->type != HL_JSON_STRING) return cfail_at(c, "to", "must be the new key (a string)");
    break;
  case OP_REMOVE:
    if (op->path.n == 0) return cfail_at(c, "path", "cannot remove the whole event (pick with no paths empties it)");
    break;
  case OP_PICK: {
    size_t old = where_push(c, "paths", 5);
    rc = compile_pick(c, hl_json_get(o, "paths"), op);
    where_pop(c, old);
    return rc;
  }
  case OP_WRAP:
    if (op->path.n == 0) return cfail_at(c, "path", "must name the key to put the event under, such as \"/data\"");
    break;
  case OP_TEMPLATE: {
    op->tpl = hl_arena_alloc(&c->t->arena, sizeof *op->tpl);
    size_t old = where_push(c, "template", 8);
    rc = compile_tpl(c, hl_json_get(o, "template"), op->tpl);
    where_pop(c, old);
    return rc;
  }
  }
  return 0;
}

static int compile_spec(comp *c, const hl_json *root) {
  if (root->type != HL_JSON_OBJECT)
    return cfail(c, "a transformation is an object {\"version\":1,\"ops\":[...]}, not %s", hl_json_type_name(root->type));
  int rc = check_members(c, root, "version ops description", "a transformation");
  if (rc) return rc;
  const hl_json *version = hl_json_get(root, "version"), *ops = hl_json_get(root, "ops"),
                *desc = hl_json_get(root, "description");
  int64_t ver;
  if (!version) return cfail(c, "missing member \"version\" (1)");
  if (hl_json_int64(version, &ver) != 0 || ver != 1)
    return cfail_at(c, "version", "unsupported version (this hookloop reads version 1)");
  if (desc && desc->type != HL_JSON_STRING) return cfail_at(c, "description", "must be a string");
  if (!ops) return cfail(c, "missing member \"ops\" (an array of operations)");
  if (ops->type != HL_JSON_ARRAY) return cfail_at(c, "ops", "must be an array of operations");
  if (ops->len > HL_TRANSFORM_MAX_OPS) return cfail_at(c, "ops", "more than 256 operations");
  c->t->nops = ops->len;
  c->t->ops = ops->len ? hl_arena_alloc(&c->t->arena, ops->len * sizeof *c->t->ops) : NULL;
  size_t old = where_push(c, "ops", 3);
  for (uint32_t i = 0; i < ops->len && rc == 0; i++) {
    size_t o = where_push_index(c, i);
    rc = compile_op(c, &ops->u.items[i], &c->t->ops[i]);
    where_pop(c, o);
  }
  where_pop(c, old);
  return rc;
}

int hl_transform_compile(const char *spec, size_t len, hl_transform **out, hl_transform_error *err) {
  *out = NULL;
  if (err) memset(err, 0, sizeof *err);
  hl_transform *t = hl_calloc(1, sizeof *t);
  t->refs = 1;
  t->text = hl_malloc(len + 1);
  if (len) memcpy(t->text, spec, len);
  t->text[len] = '\0';
  t->text_len = len;
  hl_json_doc_init(&t->doc);
  hl_arena_init(&t->arena, 4096);
  hl_json_error jerr;
  int rc = hl_json_parse(&t->doc, t->text, len, &jerr);
  if (rc != 0) {
    if (err)
      snprintf(err->message, sizeof err->message, "not valid JSON: %s at line %d, column %d", jerr.message, jerr.line,
               jerr.column);
    hl_transform_free(t);
    return HL_EPARSE;
  }
  comp c = {.t = t, .err = err, .where = HL_BUF_INIT, .scratch = HL_BUF_INIT};
  rc = compile_spec(&c, t->doc.root);
  hl_buf_dispose(&c.where);
  hl_buf_dispose(&c.scratch);
  if (rc != 0) {
    hl_transform_free(t);
    return rc;
  }
  *out = t;
  return 0;
}

int hl_transform_compile_json(const hl_json *spec, hl_transform **out, hl_transform_error *err) {
  hl_buf b = HL_BUF_INIT;
  hl_json_write_src(&b, spec);
  int rc = hl_transform_compile(b.data ? b.data : "", b.len, out, err);
  hl_buf_dispose(&b);
  return rc;
}

hl_transform *hl_transform_ref(const hl_transform *t) {
  /* The program stays immutable for its readers: only the count moves,
   * and only on the thread that owns the references. */
  hl_transform *m = (hl_transform *)t;
  m->refs++;
  return m;
}

void hl_transform_free(hl_transform *t) {
  if (!t || --t->refs > 0) return;
  hl_arena_dispose(&t->arena);
  hl_json_doc_dispose(&t->doc);
  hl_free(t->text);
  hl_free(t);
}

size_t hl_transform_op_count(const hl_transform *t) { return t->nops; }
