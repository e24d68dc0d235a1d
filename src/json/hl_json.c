/* Exact JSON reader and writer, and the name index over members (see hl_json.h). */
#include "json/hl_json.h"
#include "common/hl_common.h"
#include "common/hl_hash.h"
#include "json/hl_decimal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- arena ------------------------------------------------------------------------ */

struct hl_arena_chunk {
  hl_arena_chunk *next;
  size_t size, used;
  max_align_t data[];
};

void hl_arena_init(hl_arena *a, size_t chunk_size) {
  a->head = NULL;
  a->chunk_size = chunk_size ? chunk_size : 4096;
}

void *hl_arena_alloc(hl_arena *a, size_t n) {
  n = (n + 7) & ~(size_t)7;
  hl_arena_chunk *c = a->head;
  if (c == NULL || c->size - c->used < n) {
    size_t size = n > a->chunk_size ? n : a->chunk_size;
    c = hl_malloc(sizeof *c + size);
    c->size = size;
    c->used = 0;
    c->next = a->head;
    a->head = c;
  }
  void *p = (char *)c->data + c->used;
  c->used += n;
  return p;
}

char *hl_arena_strndup(hl_arena *a, const char *s, size_t n) {
  char *d = hl_arena_alloc(a, n + 1);
  memcpy(d, s, n);
  d[n] = '\0';
  return d;
}

size_t hl_arena_bytes(const hl_arena *a) {
  size_t n = 0;
  for (const hl_arena_chunk *c = a->head; c; c = c->next) n += c->size;
  return n;
}

void hl_arena_reset(hl_arena *a) {
  hl_arena_chunk *c = a->head;
  if (!c) return;
  /* Keep the first-allocated (last in the list) chunk. */
  while (c->next) {
    hl_arena_chunk *n = c->next;
    hl_free(c);
    c = n;
  }
  c->used = 0;
  a->head = c;
}

void hl_arena_wipe(hl_arena *a) {
  for (hl_arena_chunk *c = a->head; c; c = c->next) explicit_bzero(c->data, c->used);
}

void hl_arena_dispose(hl_arena *a) {
  hl_arena_chunk *c = a->head;
  while (c) {
    hl_arena_chunk *n = c->next;
    hl_free(c);
    c = n;
  }
  a->head = NULL;
}

/* --- reader --------------------------------------------------------------------- */

typedef struct {
  const char *s, *end, *start;
  hl_arena *arena;
  hl_json_error *err;
  int depth;
  int max_depth; /* the deepest depth reached (hl_json_doc.depth) */
  int rc;
  size_t ws; /* whitespace bytes skipped so far: a container is compact when none inside */
  /* Children of open containers, LIFO: a container's children are the top
   * entries while it is open; they move into the arena when it closes. */
  hl_json *vals; size_t nvals, capvals;
  hl_json_member *mems; size_t nmems, capmems;
  /* HL_JSON_BORROW: strings without escapes and number texts point into
   * the input instead of being copied into the arena. */
  bool borrow;
  /* HL_JSON_UNIQUE_NAMES: where the parser is (the name or index at each
   * open container), so a duplicate can be reported by its object's pointer. */
  bool unique;
  struct pseg { const char *key; uint32_t len, index; } *segs;
} parser;


static void fail(parser *p, const char *at, const char *msg) {
  if (p->rc) return;
  p->rc = HL_EPARSE;
  if (!p->err) return;
  size_t off = (size_t)(at - p->start);
  int line = 1, col = 1;
  for (const char *c = p->start; c < at && c < p->end; c++) {
    if (*c == '\n') { line++; col = 1; }
    else col++;
  }
  p->err->offset = off;
  p->err->line = line;
  p->err->column = col;
  snprintf(p->err->message, sizeof p->err->message, "%s", msg);
}

static inline void skip_ws(parser *p) {
  const char *s = p->s;
  while (s < p->end && (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t')) s++;
  p->ws += (size_t)(s - p->s);
  p->s = s;
}

size_t hl_utf8_decode(const char *str, size_t len, uint32_t *out) {
  const unsigned char *s = (const unsigned char *)str;
  unsigned c = s[0];
  if (c < 0x80) {
    if (out) *out = c;
    return 1;
  }
  size_t n;
  uint32_t cp;
  if (c >= 0xc2 && c <= 0xdf) { n = 2; cp = c & 0x1f; }
  else if (c >= 0xe0 && c <= 0xef) { n = 3; cp = c & 0x0f; }
  else if (c >= 0xf0 && c <= 0xf4) { n = 4; cp = c & 0x07; }
  else return 0;
  if (len < n) return 0;
  for (size_t i = 1; i < n; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (s[i] & 0x3f);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
      (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  if (out) *out = cp;
  return n;
}

/* The length of the UTF-8 sequence at s, 0 when invalid (the parser's and
 * the writer's check, without the code point). */
static inline size_t utf8_len(const unsigned char *s, const unsigned char *end) {
  return hl_utf8_decode((const char *)s, (size_t)(end - s), NULL);
}

void hl_utf8_sanitize(hl_buf *out, const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s, *end = p + n;
  while (p < end) {
    size_t k = *p ? utf8_len(p, end) : 0;
    if (k == 0) {
      hl_buf_append(out, "\xef\xbf\xbd", 3);
      p++;
    } else {
      hl_buf_append(out, (const char *)p, k);
      p += k;
    }
  }
}

static int hex4(const char *s, unsigned *out) {
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    char c = s[i];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
    else return -1;
  }
  *out = v;
  return 0;
}

static size_t put_utf8(char *o, unsigned cp) {
  if (cp < 0x80) { o[0] = (char)cp; return 1; }
  if (cp < 0x800) { o[0] = (char)(0xc0 | cp >> 6); o[1] = (char)(0x80 | (cp & 0x3f)); return 2; }
  if (cp < 0x10000) {
    o[0] = (char)(0xe0 | cp >> 12); o[1] = (char)(0x80 | ((cp >> 6) & 0x3f)); o[2] = (char)(0x80 | (cp & 0x3f));
    return 3;
  }
  o[0] = (char)(0xf0 | cp >> 18); o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
  o[2] = (char)(0x80 | ((cp >> 6) & 0x3f)); o[3] = (char)(0x80 | (cp & 0x3f));
  return 4;
}

/* Parses a string starting after the opening quote. */
static int parse_string(parser *p, const char **out, uint32_t *out_len) {
  const char *s = p->s;
  /* Fast path: plain ASCII without escapes. */
  const char *q = s;
  while (q < p->end) {
    unsigned char c = (unsigned char)*q;
    if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80) break;
    q++;
  }
  if (q < p->end && *q == '"') {
    *out = p->borrow ? s : hl_arena_strndup(p->arena, s, (size_t)(q - s));
    *out_len = (uint32_t)(q - s);
    p->s = q + 1;
    return 0;
  }
  /* Slow path: decode into a buffer as long as the string as written, up to
   * its closing quote (decoding never grows: an escape is at least as long as
   * what it stands for). Sized to the rest of the input instead, a body of
   * many short escaped strings would cost the square of its length. A
   * backslash hides the byte after it, so the first quote not hidden is the
   * one the decoder below stops at; without one, the decoder fails before
   * the end of the input. */
  const char *endq = q;
  while (endq < p->end && *endq != '"') endq += *endq == '\\' ? 2 : 1;
  if (endq > p->end) endq = p->end;
  char *buf = hl_arena_alloc(p->arena, (size_t)(endq - s) + 1);
  size_t o = (size_t)(q - s);
  memcpy(buf, s, o);
  while (q < p->end) {
    unsigned char c = (unsigned char)*q;
    if (c == '"') {
      buf[o] = '\0';
      *out = buf;
      *out_len = (uint32_t)o;
      p->s = q + 1;
      return 0;
    }
    if (c < 0x20) { fail(p, q, "control character in string (escape it)"); return -1; }
    if (c == '\\') {
      if (q + 1 >= p->end) break;
      char e = q[1];
      q += 2;
      switch (e) {
      case '"': buf[o++] = '"'; break;
      case '\\': buf[o++] = '\\'; break;
      case '/': buf[o++] = '/'; break;
      case 'b': buf[o++] = '\b'; break;
      case 'f': buf[o++] = '\f'; break;
      case 'n': buf[o++] = '\n'; break;
      case 'r': buf[o++] = '\r'; break;
      case 't': buf[o++] = '\t'; break;
      case 'u': {
        unsigned cp;
        if (p->end - q < 4 || hex4(q, &cp) != 0) { fail(p, q, "invalid \\u escape"); return -1; }
        q += 4;
        if (cp >= 0xd800 && cp <= 0xdbff) {
          unsigned lo;
          if (p->end - q < 6 || q[0] != '\\' || q[1] != 'u' || hex4(q + 2, &lo) != 0 || lo < 0xdc00 ||
              lo > 0xdfff) {
            fail(p, q, "lone surrogate in \\u escape");
            return -1;
          }
          q += 6;
          cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        } else if (cp >= 0xdc00 && cp <= 0xdfff) {
          fail(p, q, "lone surrogate in \\u escape");
          return -1;
        }
        o += put_utf8(buf + o, cp);
        break;
      }
      default: fail(p, q - 1, "invalid escape in string"); return -1;
      }
      continue;
    }
    if (c >= 0x80) {
      size_t n = utf8_len((const unsigned char *)q, (const unsigned char *)p->end);
      if (n == 0) { fail(p, q, "invalid UTF-8 in string"); return -1; }
      memcpy(buf + o, q, n);
      o += n;
      q += n;
      continue;
    }
    buf[o++] = (char)c;
    q++;
  }
  fail(p, p->end, "unterminated string");
  return -1;
}

static int parse_number(parser *p, hl_json *v) {
  const char *s = p->s, *q = s;
  if (q < p->end && *q == '-') q++;
  if (q >= p->end) { fail(p, q, "invalid number"); return -1; }
  if (*q == '0') {
    q++;
  } else if (*q >= '1' && *q <= '9') {
    while (q < p->end && *q >= '0' && *q <= '9') q++;
  } else {
    fail(p, q, "invalid number");
    return -1;
  }
  if (q < p->end && *q == '.') {
    q++;
    if (q >= p->end || *q < '0' || *q > '9') { fail(p, q, "expected a digit after '.'"); return -1; }
    while (q < p->end && *q >= '0' && *q <= '9') q++;
  }
  if (q < p->end && (*q == 'e' || *q == 'E')) {
    q++;
    if (q < p->end && (*q == '+' || *q == '-')) q++;
    if (q >= p->end || *q < '0' || *q > '9') { fail(p, q, "expected a digit in the exponent"); return -1; }
    while (q < p->end && *q >= '0' && *q <= '9') q++;
  }
  if (q < p->end && *q >= '0' && *q <= '9') { fail(p, s, "leading zeros are not allowed"); return -1; }
  v->type = HL_JSON_NUMBER;
  v->len = (uint32_t)(q - s);
  v->u.str = p->borrow ? s : hl_arena_strndup(p->arena, s, (size_t)(q - s));
  p->s = q;
  return 0;
}

/* The stacks start in hl_json_parse_ex's frame (PARSE_STACK entries each:
 * a small document needs no allocation for them) and move to the heap
 * when they outgrow it. */
#define PARSE_STACK 48
static void *grow_stack(void *stack, bool on_heap, size_t n, size_t *cap, size_t size) {
  size_t ncap = *cap * 2;
  void *p;
  if (on_heap) {
    p = hl_realloc(stack, ncap * size);
  } else {
    p = hl_malloc(ncap * size);
    memcpy(p, stack, n * size);
  }
  *cap = ncap;
  return p;
}

static void push_val(parser *p, const hl_json *v) {
  if (p->nvals == p->capvals) p->vals = grow_stack(p->vals, p->capvals > PARSE_STACK, p->nvals, &p->capvals, sizeof *v);
  p->vals[p->nvals++] = *v;
}

static void push_mem(parser *p, const hl_json_member *m) {
  if (p->nmems == p->capmems) p->mems = grow_stack(p->mems, p->capmems > PARSE_STACK, p->nmems, &p->capmems, sizeof *m);
  p->mems[p->nmems++] = *m;
}

static int parse_value(parser *p, hl_json *v);

/* Copies at most cap-1 bytes of s, cut at a UTF-8 character boundary. */
static void copy_utf8(char *out, size_t cap, const char *s, size_t n) {
  if (n >= cap) {
    n = cap - 1;
    while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80) n--;
  }
  memcpy(out, s, n);
  out[n] = '\0';
}

/* The RFC 6901 pointer of the container open at the current depth. */
static void render_pointer(const parser *p, hl_buf *out) {
  for (int d = 1; d < p->depth; d++) {
    const struct pseg *g = &p->segs[d];
    hl_buf_putc(out, '/');
    if (!g->key) { hl_buf_printf(out, "%u", g->index); continue; }
    for (uint32_t i = 0; i < g->len; i++) {
      if (g->key[i] == '~') hl_buf_puts(out, "~0");
      else if (g->key[i] == '/') hl_buf_puts(out, "~1");
      else hl_buf_putc(out, g->key[i]);
    }
  }
}

/* The members of the object closing now: fails on a name given twice. */
static int duplicate_name(parser *p, const hl_json_member *m, uint32_t n) {
  hl_name_index ix;
  hl_name_index_build(&ix, m, n);
  int32_t dup = ix.dup;
  hl_name_index_dispose(&ix);
  if (dup < 0) return 0;
  fail(p, p->s - 1, "duplicate member name");
  if (p->err) {
    hl_buf ptr = HL_BUF_INIT;
    render_pointer(p, &ptr);
    p->err->duplicate = true;
    copy_utf8(p->err->pointer, sizeof p->err->pointer, ptr.data ? ptr.data : "", ptr.len);
    copy_utf8(p->err->name, sizeof p->err->name, m[dup].key, m[dup].key_len);
    hl_buf_dispose(&ptr);
    snprintf(p->err->message, sizeof p->err->message, "duplicate member name \"%.90s\"", p->err->name);
  }
  return -1;
}

/* Steps over the opening bracket; true when the container is empty (the
 * closing bracket consumed too). */
static bool open_container(parser *p, char close) {
  p->s++;
  skip_ws(p);
  if (p->s < p->end && *p->s == close) {
    p->s++;
    return true;
  }
  return false;
}

/* After an element or member: ',' means another follows (1), the closing
 * bracket ends the container (0), anything else fails with what (-1). */
static int next_or_close(parser *p, char close, const char *what) {
  skip_ws(p);
  if (p->s < p->end && *p->s == ',') { p->s++; return 1; }
  if (p->s < p->end && *p->s == close) { p->s++; return 0; }
  fail(p, p->s, what);
  return -1;
}

/* The container's elements, collected on the parser's stack, move into the
 * arena (NULL for none), so nested containers reuse the stack. */
static void *arena_copy(parser *p, const void *from, size_t bytes) {
  if (!bytes) return NULL;
  void *to = hl_arena_alloc(p->arena, bytes);
  memcpy(to, from, bytes);
  return to;
}

static int parse_array(parser *p, hl_json *v) {
  size_t base = p->nvals;
  int more = 0;
  if (!open_container(p, ']')) {
    do {
      hl_json item;
      if (p->segs) p->segs[p->depth] = (struct pseg){NULL, 0, (uint32_t)(p->nvals - base)};
      if (parse_value(p, &item) != 0) return -1;
      push_val(p, &item);
    } while ((more = next_or_close(p, ']', "expected ',' or ']' in array")) > 0);
  }
  if (more < 0) return -1;
  size_t n = p->nvals - base;
  v->type = HL_JSON_ARRAY;
  v->len = (uint32_t)n;
  v->u.items = arena_copy(p, p->vals + base, n * sizeof(hl_json));
  p->nvals = base;
  return 0;
}

static int parse_object(parser *p, hl_json *v) {
  size_t base = p->nmems;
  int more = 0;
  if (!open_container(p, '}')) {
    do {
      skip_ws(p);
      if (p->s >= p->end || *p->s != '"') { fail(p, p->s, "expected a string as object key"); return -1; }
      p->s++;
      hl_json_member m;
      m.key_src = p->s - 1;
      if (parse_string(p, &m.key, &m.key_len) != 0) return -1;
      m.key_src_len = (uint32_t)(p->s - m.key_src);
      skip_ws(p);
      if (p->s >= p->end || *p->s != ':') { fail(p, p->s, "expected ':' after object key"); return -1; }
      p->s++;
      if (p->segs) p->segs[p->depth] = (struct pseg){m.key, m.key_len, 0};
      if (parse_value(p, &m.value) != 0) return -1;
      push_mem(p, &m);
    } while ((more = next_or_close(p, '}', "expected ',' or '}' after object member")) > 0);
  }
  if (more < 0) return -1;
  size_t n = p->nmems - base;
  if (p->unique && n > 1 && duplicate_name(p, p->mems + base, (uint32_t)n) != 0) return -1;
  v->type = HL_JSON_OBJECT;
  v->len = (uint32_t)n;
  v->u.members = arena_copy(p, p->mems + base, n * sizeof(hl_json_member));
  p->nmems = base;
  return 0;
}

static int literal(parser *p, const char *word, size_t n, hl_json *v, hl_json_type t) {
  if ((size_t)(p->end - p->s) < n || memcmp(p->s, word, n) != 0) {
    fail(p, p->s, "invalid literal (expected true, false or null)");
    return -1;
  }
  p->s += n;
  v->type = t;
  v->len = 0;
  v->u.str = NULL;
  return 0;
}

static int parse_value_at(parser *p, hl_json *v);

/* A value and its source span (see hl_json.h). */
static int parse_value(parser *p, hl_json *v) {
  skip_ws(p);
  const char *start = p->s;
  size_t ws = p->ws;
  int rc = parse_value_at(p, v);
  v->src = start;
  v->src_len = (uint32_t)(p->s - start);
  v->src_compact = p->ws == ws;
  return rc;
}

static int parse_value_at(parser *p, hl_json *v) {
  if (p->s >= p->end) { fail(p, p->s, "unexpected end of input"); return -1; }
  switch (*p->s) {
  case '{':
  case '[': {
    if (++p->depth > HL_JSON_MAX_DEPTH) {
      fail(p, p->s, "nesting deeper than 512 levels");
      p->rc = HL_ETOOBIG;
      return -1;
    }
    if (p->depth > p->max_depth) p->max_depth = p->depth;
    int rc = *p->s == '{' ? parse_object(p, v) : parse_array(p, v);
    p->depth--;
    return rc;
  }
  case '"':
    p->s++;
    v->type = HL_JSON_STRING;
    return parse_string(p, &v->u.str, &v->len);
  case 't': return literal(p, "true", 4, v, HL_JSON_TRUE);
  case 'f': return literal(p, "false", 5, v, HL_JSON_FALSE);
  case 'n': return literal(p, "null", 4, v, HL_JSON_NULL);
  default:
    if (*p->s == '-' || (*p->s >= '0' && *p->s <= '9')) return parse_number(p, v);
    fail(p, p->s, "unexpected character");
    return -1;
  }
}

void hl_json_doc_init(hl_json_doc *doc) {
  hl_arena_init(&doc->arena, 4096);
  doc->root = NULL;
  doc->depth = 0;
}

int hl_json_parse(hl_json_doc *doc, const char *text, size_t len, hl_json_error *err) {
  return hl_json_parse_ex(doc, text, len, 0, err);
}

int hl_json_parse_ex(hl_json_doc *doc, const char *text, size_t len, unsigned flags, hl_json_error *err) {
  hl_json vals[PARSE_STACK];
  hl_json_member mems[PARSE_STACK];
  parser p = {.s = text, .end = text + len, .start = text, .arena = &doc->arena, .err = err,
              .vals = vals, .capvals = PARSE_STACK, .mems = mems, .capmems = PARSE_STACK};
  if (err) memset(err, 0, sizeof *err);
  p.unique = flags & HL_JSON_UNIQUE_NAMES;
  p.borrow = flags & HL_JSON_BORROW;
  if (p.unique && err) p.segs = hl_malloc((HL_JSON_MAX_DEPTH + 2) * sizeof *p.segs);
  hl_json *root = hl_arena_alloc(&doc->arena, sizeof *root);
  if (parse_value(&p, root) == 0) {
    skip_ws(&p);
    if (p.s != p.end) fail(&p, p.s, "unexpected data after the JSON value");
  }
  if (p.vals != vals) hl_free(p.vals);
  if (p.mems != mems) hl_free(p.mems);
  hl_free(p.segs);
  if (p.rc) return p.rc;
  doc->root = root;
  doc->depth = p.max_depth;
  return 0;
}

void hl_json_doc_reset(hl_json_doc *doc) {
  hl_arena_reset(&doc->arena);
  doc->root = NULL;
}

void hl_json_doc_wipe(hl_json_doc *doc) {
  hl_arena_wipe(&doc->arena);
  doc->root = NULL;
}

void hl_json_doc_dispose(hl_json_doc *doc) {
  hl_arena_dispose(&doc->arena);
  doc->root = NULL;
}

/* --- access ------------------------------------------------------------------------ */

const hl_json *hl_json_getn(const hl_json *v, const char *key, size_t key_len) {
  if (!v || v->type != HL_JSON_OBJECT) return NULL;
  for (uint32_t i = v->len; i-- > 0;) { /* last one wins */
    const hl_json_member *m = &v->u.members[i];
    if (m->key_len == key_len && memcmp(m->key, key, key_len) == 0) return &m->value;
  }
  return NULL;
}

const hl_json *hl_json_get(const hl_json *v, const char *key) { return hl_json_getn(v, key, strlen(key)); }

bool hl_json_pointer_valid(const char *p) {
  if (*p && *p != '/') return false;
  for (; *p; p++)
    if (*p == '~' && p[1] != '0' && p[1] != '1') return false;
  return true;
}

const hl_json *hl_json_pointer(const hl_json *v, const char *ptr, size_t len) {
  size_t i = 0;
  if (len == 0) return v;
  if (ptr[0] != '/') return NULL;
  char tok[HL_JSON_POINTER_TOKEN_MAX + 1];
  while (v && i < len) {
    i++; /* '/' */
    size_t t = 0;
    while (i < len && ptr[i] != '/') {
      char c = ptr[i++];
      if (c == '~') {
        if (i >= len || (ptr[i] != '0' && ptr[i] != '1')) return NULL;
        c = ptr[i++] == '0' ? '~' : '/';
      }
      if (t >= sizeof tok - 1) return NULL;
      tok[t++] = c;
    }
    tok[t] = '\0';
    if (v->type == HL_JSON_OBJECT) {
      v = hl_json_getn(v, tok, t);
    } else if (v->type == HL_JSON_ARRAY) {
      if (t == 0 || (t > 1 && tok[0] == '0') || t > 9) return NULL;
      uint32_t idx = 0;
      for (size_t k = 0; k < t; k++) {
        if (tok[k] < '0' || tok[k] > '9') return NULL;
        idx = idx * 10 + (uint32_t)(tok[k] - '0');
      }
      v = idx < v->len ? &v->u.items[idx] : NULL;
    } else {
      return NULL;
    }
  }
  return v;
}

const char *hl_json_str(const hl_json *v) { return v && v->type == HL_JSON_STRING ? v->u.str : NULL; }

bool hl_json_is_bool(const hl_json *v) { return v && (v->type == HL_JSON_TRUE || v->type == HL_JSON_FALSE); }

double hl_json_double(const hl_json *v) {
  if (!v || v->type != HL_JSON_NUMBER) return 0.0;
  return strtod(v->u.str, NULL);
}

const char *hl_json_type_name(hl_json_type t) {
  switch (t) {
  case HL_JSON_NULL: return "null";
  case HL_JSON_FALSE: case HL_JSON_TRUE: return "boolean";
  case HL_JSON_NUMBER: return "number";
  case HL_JSON_STRING: return "string";
  case HL_JSON_ARRAY: return "array";
  case HL_JSON_OBJECT: return "object";
  }
  return "unknown";
}

int hl_json_int64(const hl_json *v, int64_t *out) {
  if (!v || v->type != HL_JSON_NUMBER) return HL_EINVAL;
  return hl_decimal_int64(v->u.str, v->len, out);
}

/* The same names, and for each the same (last) value. */
static bool members_equal(const hl_json *a, const hl_json *b) {
  hl_name_index ia, ib;
  hl_name_index_build(&ia, a->u.members, a->len);
  hl_name_index_build(&ib, b->u.members, b->len);
  bool eq = ia.distinct == ib.distinct;
  for (uint32_t i = 0; eq && i < a->len; i++) {
    const hl_json_member *m = &a->u.members[i];
    if (ia.dup >= 0 && hl_name_index_find(&ia, m->key, m->key_len) != (int32_t)i) continue; /* shadowed */
    int32_t j = hl_name_index_find(&ib, m->key, m->key_len);
    eq = j >= 0 && hl_json_equal(&m->value, &b->u.members[j].value);
  }
  hl_name_index_dispose(&ia);
  hl_name_index_dispose(&ib);
  return eq;
}

bool hl_json_equal(const hl_json *a, const hl_json *b) {
  if (a->type != b->type) return false;
  switch (a->type) {
  case HL_JSON_NULL: case HL_JSON_TRUE: case HL_JSON_FALSE: return true;
  case HL_JSON_NUMBER: return hl_decimal_cmp(a->u.str, a->len, b->u.str, b->len) == 0;
  case HL_JSON_STRING: return a->len == b->len && memcmp(a->u.str, b->u.str, a->len) == 0;
  case HL_JSON_ARRAY:
    if (a->len != b->len) return false;
    for (uint32_t i = 0; i < a->len; i++)
      if (!hl_json_equal(&a->u.items[i], &b->u.items[i])) return false;
    return true;
  case HL_JSON_OBJECT: return members_equal(a, b);
  }
  return false;
}

/* --- name index ------------------------------------------------------------------- */

static bool same_name(const hl_json_member *a, const char *key, size_t len) {
  return a->key_len == len && memcmp(a->key, key, len) == 0;
}

void hl_name_index_build(hl_name_index *ix, const hl_json_member *m, uint32_t n) {
  *ix = (hl_name_index){.m = m, .n = n, .dup = -1};
  if (n <= HL_NAME_INDEX_SMALL) {
    for (uint32_t i = 0; i < n; i++) {
      uint32_t j = 0;
      while (j < i && !same_name(&m[j], m[i].key, m[i].key_len)) j++;
      if (j == i) ix->distinct++;
      else if (ix->dup < 0) ix->dup = (int32_t)i;
    }
    return;
  }
  uint32_t cap = 16;
  while (cap < 2 * n) cap *= 2;
  ix->slots = hl_calloc(cap, sizeof *ix->slots);
  ix->mask = cap - 1;
  for (uint32_t i = 0; i < n; i++) {
    for (uint32_t s = (uint32_t)hl_hash_bytes(m[i].key, m[i].key_len) & ix->mask;; s = (s + 1) & ix->mask) {
      if (ix->slots[s] == 0) {
        ix->slots[s] = i + 1;
        ix->distinct++;
        break;
      }
      if (same_name(&m[ix->slots[s] - 1], m[i].key, m[i].key_len)) {
        ix->slots[s] = i + 1; /* the later one shadows */
        if (ix->dup < 0) ix->dup = (int32_t)i;
        break;
      }
    }
  }
}

int32_t hl_name_index_find(const hl_name_index *ix, const char *key, size_t len) {
  if (!ix->slots) {
    for (uint32_t i = ix->n; i-- > 0;)
      if (same_name(&ix->m[i], key, len)) return (int32_t)i;
    return -1;
  }
  for (uint32_t s = (uint32_t)hl_hash_bytes(key, len) & ix->mask;; s = (s + 1) & ix->mask) {
    if (ix->slots[s] == 0) return -1;
    if (same_name(&ix->m[ix->slots[s] - 1], key, len)) return (int32_t)ix->slots[s] - 1;
  }
}

void hl_name_index_dispose(hl_name_index *ix) {
  hl_free(ix->slots);
  ix->slots = NULL;
}

/* --- writer ---------------------------------------------------------------------------- */

void hl_json_escape(hl_buf *out, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  size_t run = 0;
  hl_buf_reserve(out, n + 2);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') continue;
    if (c >= 0x80) {
      /* UTF-8 is copied through; a byte that starts no valid sequence
       * (a path, a header, a partner's bytes) becomes U+FFFD, so what is
       * written is always JSON text (RFC 8259 §8.1). */
      size_t k = utf8_len((const unsigned char *)s + i, (const unsigned char *)s + n);
      if (k > 0) {
        i += k - 1;
        continue;
      }
      hl_buf_append(out, s + run, i - run);
      hl_buf_append(out, "\xef\xbf\xbd", 3);
      run = i + 1;
      continue;
    }
    hl_buf_append(out, s + run, i - run);
    run = i + 1;
    char e[7] = {'\\', 0};
    switch (c) {
    case '"': e[1] = '"'; hl_buf_append(out, e, 2); break;
    case '\\': e[1] = '\\'; hl_buf_append(out, e, 2); break;
    case '\n': e[1] = 'n'; hl_buf_append(out, e, 2); break;
    case '\r': e[1] = 'r'; hl_buf_append(out, e, 2); break;
    case '\t': e[1] = 't'; hl_buf_append(out, e, 2); break;
    case '\b': e[1] = 'b'; hl_buf_append(out, e, 2); break;
    case '\f': e[1] = 'f'; hl_buf_append(out, e, 2); break;
    default:
      e[1] = 'u'; e[2] = '0'; e[3] = '0'; e[4] = hex[c >> 4]; e[5] = hex[c & 15];
      hl_buf_append(out, e, 6);
    }
  }
  hl_buf_append(out, s + run, n - run);
}

void hl_json_pointer_append(hl_buf *out, const char *key, size_t n) {
  hl_buf_reserve(out, n + 1);
  hl_buf_putc(out, '/');
  size_t run = 0;
  for (size_t i = 0; i < n; i++) {
    if (key[i] != '~' && key[i] != '/') continue;
    hl_buf_append(out, key + run, i - run);
    hl_buf_append(out, key[i] == '~' ? "~0" : "~1", 2);
    run = i + 1;
  }
  hl_buf_append(out, key + run, n - run);
}

void hl_jw_init(hl_jw *w, hl_buf *out) {
  memset(w, 0, sizeof *w);
  w->out = out;
}

/* Before any value: a comma when it follows a sibling (not after a key). */
static void pre_value(hl_jw *w) {
  if (w->after_key) { w->after_key = false; return; }
  uint64_t bit = (uint64_t)1 << (w->depth % 64);
  if (w->depth > 0 && (w->need_comma[w->depth / 64] & bit)) hl_buf_putc(w->out, ',');
  if (w->depth > 0) w->need_comma[w->depth / 64] |= bit;
}

static void open_c(hl_jw *w, char c) {
  pre_value(w);
  hl_buf_putc(w->out, c);
  if (w->depth < HL_JSON_MAX_DEPTH) w->depth++;
  w->need_comma[w->depth / 64] &= ~((uint64_t)1 << (w->depth % 64));
}

static void close_c(hl_jw *w, char c) {
  hl_buf_putc(w->out, c);
  if (w->depth > 0) w->depth--;
}

void hl_jw_obj_begin(hl_jw *w) { open_c(w, '{'); }
void hl_jw_obj_end(hl_jw *w) { close_c(w, '}'); }
void hl_jw_arr_begin(hl_jw *w) { open_c(w, '['); }
void hl_jw_arr_end(hl_jw *w) { close_c(w, ']'); }

void hl_jw_keyn(hl_jw *w, const char *key, size_t n) {
  pre_value(w);
  hl_buf_putc(w->out, '"');
  hl_json_escape(w->out, key, n);
  hl_buf_append(w->out, "\":", 2);
  w->after_key = true;
}

void hl_jw_key(hl_jw *w, const char *key) { hl_jw_keyn(w, key, strlen(key)); }

void hl_jw_open(hl_jw *w, hl_buf *out) {
  hl_jw_init(w, out);
  hl_jw_obj_begin(w);
}

void hl_jw_key_obj(hl_jw *w, const char *key) {
  hl_jw_key(w, key);
  hl_jw_obj_begin(w);
}

void hl_jw_key_arr(hl_jw *w, const char *key) {
  hl_jw_key(w, key);
  hl_jw_arr_begin(w);
}

void hl_jw_key_str(hl_jw *w, const char *key, const char *s) {
  hl_jw_key(w, key);
  hl_jw_str(w, s);
}

void hl_jw_key_int(hl_jw *w, const char *key, int64_t v) {
  hl_jw_key(w, key);
  hl_jw_int(w, v);
}

void hl_jw_key_bool(hl_jw *w, const char *key, bool v) {
  hl_jw_key(w, key);
  hl_jw_bool(w, v);
}

void hl_jw_strn(hl_jw *w, const char *s, size_t n) {
  pre_value(w);
  hl_buf_putc(w->out, '"');
  hl_json_escape(w->out, s, n);
  hl_buf_putc(w->out, '"');
}

void hl_jw_str(hl_jw *w, const char *s) {
  if (!s) { hl_jw_null(w); return; }
  hl_jw_strn(w, s, strlen(s));
}

void hl_jw_int(hl_jw *w, int64_t v) {
  pre_value(w);
  char d[HL_FMT_I64_MAX];
  hl_buf_append(w->out, d, hl_fmt_i64(d, v));
}

void hl_jw_double(hl_jw *w, double v) {
  pre_value(w);
  if (!isfinite(v)) { hl_buf_puts(w->out, "null"); return; }
  char b[32];
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(b, sizeof b, "%.*g", prec, v);
    if (strtod(b, NULL) == v) break;
  }
  hl_buf_puts(w->out, b);
}

void hl_jw_bool(hl_jw *w, bool v) {
  pre_value(w);
  hl_buf_puts(w->out, v ? "true" : "false");
}

void hl_jw_null(hl_jw *w) {
  pre_value(w);
  hl_buf_puts(w->out, "null");
}

void hl_jw_raw(hl_jw *w, const char *json, size_t n) {
  pre_value(w);
  hl_buf_append(w->out, json, n);
}

void hl_json_write_key(hl_buf *out, const char *key_src, size_t key_src_len, const char *key, size_t key_len) {
  if (key_src) {
    hl_buf_append(out, key_src, key_src_len);
    return;
  }
  hl_buf_putc(out, '"');
  hl_json_escape(out, key, key_len);
  hl_buf_putc(out, '"');
}

void hl_json_write_src(hl_buf *out, const hl_json *v) {
  if (v->src && v->src_compact) {
    hl_buf_append(out, v->src, v->src_len);
    return;
  }
  switch (v->type) {
  case HL_JSON_NULL: hl_buf_append(out, "null", 4); break;
  case HL_JSON_TRUE: hl_buf_append(out, "true", 4); break;
  case HL_JSON_FALSE: hl_buf_append(out, "false", 5); break;
  case HL_JSON_NUMBER: hl_buf_append(out, v->u.str, v->len); break;
  case HL_JSON_STRING:
    hl_buf_putc(out, '"');
    hl_json_escape(out, v->u.str, v->len);
    hl_buf_putc(out, '"');
    break;
  case HL_JSON_ARRAY:
    hl_buf_putc(out, '[');
    for (uint32_t i = 0; i < v->len; i++) {
      if (i) hl_buf_putc(out, ',');
      hl_json_write_src(out, &v->u.items[i]);
    }
    hl_buf_putc(out, ']');
    break;
  case HL_JSON_OBJECT:
    hl_buf_putc(out, '{');
    for (uint32_t i = 0; i < v->len; i++) {
      const hl_json_member *m = &v->u.members[i];
      if (i) hl_buf_putc(out, ',');
      hl_json_write_key(out, m->key_src, m->key_src_len, m->key, m->key_len);
      hl_buf_putc(out, ':');
      hl_json_write_src(out, &m->value);
    }
    hl_buf_putc(out, '}');
    break;
  }
}

void hl_jw_value(hl_jw *w, const hl_json *v) {
  switch (v->type) {
  case HL_JSON_NULL: hl_jw_null(w); break;
  case HL_JSON_TRUE: hl_jw_bool(w, true); break;
  case HL_JSON_FALSE: hl_jw_bool(w, false); break;
  case HL_JSON_NUMBER: hl_jw_raw(w, v->u.str, v->len); break;
  case HL_JSON_STRING: hl_jw_strn(w, v->u.str, v->len); break;
  case HL_JSON_ARRAY:
    hl_jw_arr_begin(w);
    for (uint32_t i = 0; i < v->len; i++) hl_jw_value(w, &v->u.items[i]);
    hl_jw_arr_end(w);
    break;
  case HL_JSON_OBJECT:
    hl_jw_obj_begin(w);
    for (uint32_t i = 0; i < v->len; i++) {
      hl_jw_keyn(w, v->u.members[i].key, v->u.members[i].key_len);
      hl_jw_value(w, &v->u.members[i].value);
    }
    hl_jw_obj_end(w);
    break;
  }
}

void hl_jw_error_members(hl_jw *w, const char *code, const char *message, const char *details,
                         size_t details_len) {
  hl_jw_key(w, "error"); hl_jw_str(w, code);
  hl_jw_key(w, "message"); hl_jw_str(w, message);
  hl_jw_key(w, "details");
  if (details && details_len) hl_jw_raw(w, details, details_len);
  else { hl_jw_arr_begin(w); hl_jw_arr_end(w); }
}

void hl_json_error_body(hl_buf *out, const char *code, const char *message, const char *details,
                        size_t details_len) {
  hl_jw w;
  hl_jw_init(&w, out);
  hl_jw_obj_begin(&w);
  hl_jw_error_members(&w, code, message, details, details_len);
  hl_jw_obj_end(&w);
}
