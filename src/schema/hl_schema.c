#include "schema/hl_schema.h"
#include "schema/hl_schema_docs.h"
#include "schema/hl_format.h"
#include "common/hl_buf.h"
#include "common/hl_common.h"
#include "common/hl_strmap.h"
#include "json/hl_decimal.h"
#include "json/hl_json_hash.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <ctype.h>
#include <pcre2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- the compiled form ------------------------------------------------------------- */

typedef struct sch_node sch_node;
typedef struct resource resource;

/* A schema resource: a document root or a subschema with its own "$id". */
struct resource {
  char *base;              /* absolute URI, no fragment ("" for an anonymous root) */
  hl_schema_draft draft;
  resource *next;
};

typedef struct { const char *key; uint32_t len; sch_node *n; } prop_entry;
typedef struct { pcre2_code *re; const char *src; sch_node *n; } pat_entry;
typedef struct { const char *key; uint32_t len; const hl_json *names; } depreq_entry;

enum { T_NULL = 1, T_BOOL = 2, T_OBJECT = 4, T_ARRAY = 8, T_NUMBER = 16, T_STRING = 32, T_INTEGER = 64 };

struct sch_node {
  const hl_json *src;
  resource *res;
  char *loc;               /* where it is, for error messages */
  char *ptr;               /* JSON pointer of the node within its resource */
  signed char boolean;     /* -1: an object schema; 0/1: false/true */
  uint8_t types;           /* 0: no "type" */
  const hl_json *enum_v, *const_v, *minimum, *maximum, *exmin, *exmax, *multiple, *required;
  /* The numeric limits again as small decimals, when they are (fast path). */
  hl_small_decimal d_min, d_max, d_exmin, d_exmax, d_mult;
  uint8_t small_mask;          /* bit i: limit i above is small */
  uint64_t req_mask;           /* required names as bits over props[], when all are there */
  bool req_by_mask;
  int64_t min_len, max_len, min_items, max_items, min_props, max_props, min_contains, max_contains;
  pcre2_code *pattern;
  const char *format;
  bool unique;
  sch_node **all_of, **any_of, **one_of;
  uint32_t n_all, n_any, n_one;
  sch_node *not_, *if_, *then_, *else_;
  prop_entry *props;
  uint32_t n_props;
  hl_name_index props_ix;      /* over the "properties" object: lookups by name */
  /* "enum" as a set: the items' hashes sorted, with each one's index. */
  struct enum_entry { uint64_t h; uint32_t i; } *enum_set;
  uint64_t const_cost;         /* values in "const": what comparing with it may cost */
  pat_entry *pprops;
  uint32_t n_pprops;
  sch_node *addl_props, *prop_names, *uneval_props;
  depreq_entry *depreq;
  uint32_t n_depreq;
  prop_entry *depsch;
  uint32_t n_depsch;
  sch_node **prefix;
  uint32_t n_prefix;
  sch_node *items, *contains, *uneval_items;
  sch_node *ref, *dyn_ref;
  const char *dyn_ref_anchor;  /* set when dyn_ref resolves dynamically */
  const char *dyn_anchor;      /* this node's "$dynamicAnchor" */
  bool ref_only;               /* draft-07: "$ref" ignores its siblings */
  bool needs_eval;             /* has unevaluatedProperties/Items */
};

typedef struct owned_doc {
  hl_json_doc doc;
  struct owned_doc *next;
} owned_doc;

struct hl_schema {
  int refs;
  hl_schema_options opt;
  owned_doc *docs;         /* the private copy of the schema and of fetched remotes */
  resource *resources;
  hl_strmap nodes;         /* "base#pointer" and "base#anchor" -> sch_node* */
  hl_strmap dyn_anchors;   /* "base#name" -> sch_node* with that $dynamicAnchor */
  sch_node **all;          /* every node, for freeing */
  size_t n_all, cap_all;
  sch_node *root;
};

/* --- errors --------------------------------------------------------------------------- */

void hl_schema_errors_init(hl_schema_errors *e) {
  e->count = 0;
  e->total = 0;
}

void hl_schema_errors_dispose(hl_schema_errors *e) { hl_schema_errors_init(e); }

typedef struct {
  char buf[256];
  size_t len;
} path;

static size_t path_push(path *p, const char *seg, size_t n) {
  size_t old = p->len;
  if (p->len + 1 < sizeof p->buf) p->buf[p->len++] = '/';
  for (size_t i = 0; i < n && p->len + 2 < sizeof p->buf; i++) {
    if (seg[i] == '~') { p->buf[p->len++] = '~'; p->buf[p->len++] = '0'; }
    else if (seg[i] == '/') { p->buf[p->len++] = '~'; p->buf[p->len++] = '1'; }
    else p->buf[p->len++] = seg[i];
  }
  p->buf[p->len] = '\0';
  return old;
}

static size_t path_push_index(path *p, size_t i) {
  char n[24];
  int len = snprintf(n, sizeof n, "%zu", i);
  return path_push(p, n, (size_t)len);
}

static void add_error(hl_schema_errors *errs, const char *ipath, const char *loc, const char *kw,
                      const char *fmt, va_list ap) {
  errs->total++;
  if (errs->count >= HL_SCHEMA_MAX_ERRORS) return;
  hl_schema_error *e = &errs->items[errs->count++];
  snprintf(e->instance_path, sizeof e->instance_path, "%.255s", ipath);
  snprintf(e->keyword, sizeof e->keyword, "%.31s", kw);
  snprintf(e->schema_path, sizeof e->schema_path, "%.200s/%.50s", loc, kw);
  char msg[320]; /* room for the list of formats checked (hl_format_list) */
  vsnprintf(msg, sizeof msg, fmt, ap);
  snprintf(e->message, sizeof e->message, "%.100s: %.280s", ipath[0] ? ipath : "(root)", msg);
}

static const char *short_value(const hl_json *v, char *buf, size_t n) {
  switch (v->type) {
  case HL_JSON_NUMBER: snprintf(buf, n, "%.*s", (int)HL_MIN(v->len, 40u), v->u.str); break;
  case HL_JSON_STRING: snprintf(buf, n, "\"%.*s%s\"", (int)HL_MIN(v->len, 40u), v->u.str, v->len > 40 ? "..." : ""); break;
  default: snprintf(buf, n, "%s", v->type == HL_JSON_TRUE ? "true" : v->type == HL_JSON_FALSE ? "false" : hl_json_type_name(v->type));
  }
  return buf;
}

static size_t codepoints(const char *s, size_t n) {
  size_t c = 0;
  for (size_t i = 0; i < n; i++)
    if (((unsigned char)s[i] & 0xc0) != 0x80) c++;
  return c;
}

/* --- URIs ---------------------------------------------------------------------------- */

/* Removes "." and ".." segments (RFC 3986 5.2.4) in place. */
static void remove_dots(char *path) {
  char *out = path, *in = path;
  while (*in) {
    if (strncmp(in, "../", 3) == 0) in += 3;
    else if (strncmp(in, "./", 2) == 0) in += 2;
    else if (strncmp(in, "/./", 3) == 0) in += 2;
    else if (strcmp(in, "/.") == 0) in[1] = '\0';
    else if (strncmp(in, "/../", 4) == 0 || strcmp(in, "/..") == 0) {
      in += 3;
      if (*in == '\0') { in--; *in = '/'; }
      while (out > path && *--out != '/') {}
      *out = '\0';
    } else if (strcmp(in, ".") == 0 || strcmp(in, "..") == 0) {
      in += strlen(in);
    } else {
      do *out++ = *in++; while (*in && *in != '/');
    }
  }
  *out = '\0';
}

static bool has_scheme(const char *u) {
  const char *p = u;
  if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))) return false;
  while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '+' ||
         *p == '-' || *p == '.')
    p++;
  return *p == ':';
}

/* Resolves ref against base (RFC 3986 5.2, enough for schema identifiers). */
static char *resolve_uri(const char *base, const char *ref) {
  hl_buf out = HL_BUF_INIT;
  if (has_scheme(ref)) {
    hl_buf_puts(&out, ref);
  } else if (ref[0] == '#' || ref[0] == '\0') {
    const char *hash = strchr(base, '#');
    hl_buf_append(&out, base, hash ? (size_t)(hash - base) : strlen(base));
    hl_buf_puts(&out, ref);
  } else {
    const char *colon = has_scheme(base) ? strchr(base, ':') : NULL;
    const char *auth = colon && colon[1] == '/' && colon[2] == '/' ? colon + 3 : NULL;
    const char *path_start = auth ? strchr(auth, '/') : colon ? colon + 1 : base;
    if (!path_start) path_start = base + strlen(base);
    const char *hash = strchr(base, '#');
    const char *base_end = hash ? hash : base + strlen(base);
    if (ref[0] == '/' && ref[1] == '/') {
      hl_buf_append(&out, base, colon ? (size_t)(colon - base + 1) : 0);
      hl_buf_puts(&out, ref);
    } else if (ref[0] == '/') {
      hl_buf_append(&out, base, (size_t)(path_start - base));
      hl_buf_puts(&out, ref);
    } else {
      /* Merge: the base up to its last '/', then the reference. */
      const char *slash = NULL;
      for (const char *p = path_start; p < base_end; p++)
        if (*p == '/') slash = p;
      if (slash) hl_buf_append(&out, base, (size_t)(slash - base + 1));
      else {
        hl_buf_append(&out, base, (size_t)(path_start - base));
        if (auth) hl_buf_putc(&out, '/');
      }
      hl_buf_puts(&out, ref);
    }
    /* Normalise the path part. */
    char *s = out.data;
    char *c2 = has_scheme(s) ? strchr(s, ':') + 1 : s;
    if (c2[0] == '/' && c2[1] == '/') c2 = strchr(c2 + 2, '/') ? strchr(c2 + 2, '/') : c2 + strlen(c2);
    char *frag = strchr(c2, '#');
    char saved[1024] = "";
    if (frag) { snprintf(saved, sizeof saved, "%s", frag); *frag = '\0'; }
    remove_dots(c2);
    out.len = strlen(out.data);
    hl_buf_puts(&out, saved);
  }
  return hl_buf_steal(&out, NULL);
}

/* Percent-decodes a fragment into out. */
static void pct_decode(const char *in, size_t n, hl_buf *out) {
  for (size_t i = 0; i < n; i++) {
    if (in[i] == '%' && i + 2 < n + 1 && i + 2 <= n) {
      char hex[3] = {in[i + 1], in[i + 2], 0};
      hl_buf_putc(out, (char)strtol(hex, NULL, 16));
      i += 2;
    } else {
      hl_buf_putc(out, in[i]);
    }
  }
}

/* --- compiling ------------------------------------------------------------------------- */

typedef struct pending_ref {
  sch_node *node;
  char *uri;               /* absolute, with fragment */
  bool dynamic;
  struct pending_ref *next;
} pending_ref;

typedef struct {
  hl_schema *s;
  hl_schema_errors *errs;
  pending_ref *pending;
  int rc;
  int depth;
} cctx;

static void cfail(cctx *c, const char *loc, const char *kw, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void cfail(cctx *c, const char *loc, const char *kw, const char *fmt, ...) {
  c->rc = HL_EINVAL;
  if (!c->errs) return;
  char where[256];
  snprintf(where, sizeof where, "%.200s/%.50s", loc, kw); /* errors about the schema point into it */
  va_list ap;
  va_start(ap, fmt);
  add_error(c->errs, where, loc, kw, fmt, ap);
  va_end(ap);
}

bool hl_schema_dialect(const char *uri, hl_schema_draft *out) {
  /* Exact names, not a substring: "draft-07" inside some other URI names
   * no dialect. The scheme and an empty fragment vary in the wild. */
  if (strncmp(uri, "https://", 8) == 0) uri += 8;
  else if (strncmp(uri, "http://", 7) == 0) uri += 7;
  else return false;
  static const struct { const char *rest; hl_schema_draft draft; } known[] = {
    {"json-schema.org/draft/2020-12/schema", HL_DRAFT_2020_12},
    {"json-schema.org/draft-07/schema", HL_DRAFT_07},
  };
  for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
    size_t n = strlen(known[i].rest);
    if (strncmp(uri, known[i].rest, n) == 0 && (uri[n] == '\0' || (uri[n] == '#' && uri[n + 1] == '\0'))) {
      *out = known[i].draft;
      return true;
    }
  }
  return false;
}

static resource *resource_new(hl_schema *s, const char *base, hl_schema_draft draft) {
  resource *r = hl_calloc(1, sizeof *r);
  r->base = hl_strdup(base);
  r->draft = draft;
  r->next = s->resources;
  s->resources = r;
  return r;
}

static hl_json_doc *own_doc(hl_schema *s) {
  owned_doc *d = hl_calloc(1, sizeof *d);
  hl_json_doc_init(&d->doc);
  d->next = s->docs;
  s->docs = d;
  return &d->doc;
}

static void register_key(hl_schema *s, const char *base, const char *frag, sch_node *n) {
  hl_buf k = HL_BUF_INIT;
  hl_buf_printf(&k, "%s#%s", base, frag);
  if (!hl_strmap_get(&s->nodes, k.data)) hl_strmap_put(&s->nodes, k.data, n);
  hl_buf_dispose(&k);
}

static sch_node *compile_node(cctx *c, const hl_json *j, resource *res, const char *ptr, const char *loc);

static bool nonneg_int(const hl_json *v, int64_t *out) {
  return v->type == HL_JSON_NUMBER && hl_json_int64(v, out) == 0 && *out >= 0;
}

/* Compiles j[kw] (a subschema) found at ptr/kw. */
static sch_node *child(cctx *c, const hl_json *j, resource *res, const char *ptr, const char *loc,
                       const char *kw, const char *key, size_t klen, long idx) {
  path p = {.len = 0}, l = {.len = 0};
  snprintf(p.buf, sizeof p.buf, "%s", ptr);
  p.len = strlen(p.buf);
  snprintf(l.buf, sizeof l.buf, "%s", loc);
  l.len = strlen(l.buf);
  path_push(&p, kw, strlen(kw));
  path_push(&l, kw, strlen(kw));
  if (key) { path_push(&p, key, klen); path_push(&l, key, klen); }
  if (idx >= 0) { path_push_index(&p, (size_t)idx); path_push_index(&l, (size_t)idx); }
  return compile_node(c, j, res, p.buf, l.buf);
}

static sch_node **child_list(cctx *c, const hl_json *v, resource *res, const char *ptr, const char *loc,
                             const char *kw, uint32_t *n) {
  if (v->type != HL_JSON_ARRAY || v->len == 0) {
    cfail(c, loc, kw, "expected a non-empty array of schemas");
    return NULL;
  }
  sch_node **list = hl_calloc(v->len, sizeof *list);
  for (uint32_t i = 0; i < v->len; i++) list[i] = child(c, &v->u.items[i], res, ptr, loc, kw, NULL, 0, (long)i);
  *n = v->len;
  return list;
}

/* ECMA-262 spells general categories long (\p{Letter}); the PCRE2 in
 * Debian knows the short names only. The escape at src[i] (a backslash)
 * into out; returns the index of its last byte. */
static size_t escape_to_pcre(const char *src, size_t len, size_t i, hl_buf *out) {
  static const struct { const char *lng, *shrt; } names[] = {
    {"Letter", "L"}, {"Lowercase_Letter", "Ll"}, {"Uppercase_Letter", "Lu"}, {"Titlecase_Letter", "Lt"},
    {"Modifier_Letter", "Lm"}, {"Other_Letter", "Lo"}, {"Mark", "M"}, {"Number", "N"},
    {"Decimal_Number", "Nd"}, {"digit", "Nd"}, {"Letter_Number", "Nl"}, {"Other_Number", "No"},
    {"Punctuation", "P"}, {"punct", "P"}, {"Symbol", "S"}, {"Separator", "Z"}, {"Space_Separator", "Zs"},
    {"Other", "C"}, {"Control", "Cc"}, {"cntrl", "Cc"},
  };
  if (i + 2 < len && (src[i + 1] == 'p' || src[i + 1] == 'P') && src[i + 2] == '{') {
    const char *end = memchr(src + i + 3, '}', len - i - 3);
    if (end) {
      size_t nl = (size_t)(end - (src + i + 3));
      for (size_t k = 0; k < HL_ARRAY_SIZE(names); k++)
        if (strlen(names[k].lng) == nl && memcmp(names[k].lng, src + i + 3, nl) == 0) {
          hl_buf_printf(out, "\\%c{%s}", src[i + 1], names[k].shrt);
          return (size_t)(end - src);
        }
    }
  }
  hl_buf_putc(out, src[i]);
  if (i + 1 < len) hl_buf_putc(out, src[++i]);
  return i;
}

/* ECMA-262's \s, the members of a class: its WhiteSpace (tab, VT, FF,
 * U+FEFF and Unicode's Zs) and LineTerminator. PCRE2's \s is ASCII's, and
 * PCRE2_UCP, which would widen it, widens \d and \w too. */
#define ECMA_SPACE "\\x{9}-\\x{d}\\x{20}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}\\x{feff}"

/* The end of a POSIX class ("[:alpha:]") at src[i], as PCRE2 reads one in
 * a class, or 0 when there is none: its "]" must not end the class. */
static size_t posix_class_end(const char *src, size_t len, size_t i) {
  if (i + 1 >= len || (src[i + 1] != ':' && src[i + 1] != '.' && src[i + 1] != '=')) return 0;
  char term = src[i + 1];
  for (size_t j = i + 2; j + 1 < len; j++) {
    if (src[j] == '\\' && (src[j + 1] == ']' || src[j + 1] == '\\')) j++;
    else if ((src[j] == '[' && src[j + 1] == term) || src[j] == ']') return 0;
    else if (src[j] == term && src[j + 1] == ']') return j + 1;
  }
  return 0;
}

/* The class at src[i] (a "[") into out, with \s as ECMA_SPACE; returns the
 * index of its "]". A \S in a class has no list of members: the class
 * becomes "any of the others, or a non-space" (negated: "a space, none of
 * the others"). Its extent is PCRE2's, so a "]" first is a member. */
static size_t class_to_pcre(const char *src, size_t len, size_t i, hl_buf *out) {
  size_t j = i + 1;
  bool negated = j < len && src[j] == '^', non_space = false;
  if (negated) j++;
  hl_buf items = HL_BUF_INIT;
  if (j < len && src[j] == ']') hl_buf_putc(&items, src[j++]);
  for (; j < len && src[j] != ']'; j++) {
    size_t posix = src[j] == '[' ? posix_class_end(src, len, j) : 0;
    if (posix) {
      hl_buf_append(&items, src + j, posix + 1 - j);
      j = posix;
    } else if (src[j] == '\\' && j + 1 < len && src[j + 1] == 's') {
      hl_buf_puts(&items, ECMA_SPACE);
      j++;
    } else if (src[j] == '\\' && j + 1 < len && src[j + 1] == 'S') {
      non_space = true;
      j++;
    } else if (src[j] == '\\') {
      j = escape_to_pcre(src, len, j, &items);
    } else {
      hl_buf_putc(&items, src[j]);
    }
  }
  if (j >= len) { /* unterminated: PCRE2 says so */
    hl_buf_append(out, src + i, len - i);
    hl_buf_dispose(&items);
    return len - 1;
  }
  /* The others as a class of their own: a "^" first would negate it. */
  const char *others = items.len && items.data[0] == '^' ? "[\\" : "[";
  if (!non_space) hl_buf_printf(out, "[%s%.*s]", negated ? "^" : "", (int)items.len, items.data ? items.data : "");
  else if (!items.len) hl_buf_puts(out, negated ? "[" ECMA_SPACE "]" : "[^" ECMA_SPACE "]");
  else if (negated) hl_buf_printf(out, "(?:(?!%s%.*s])[" ECMA_SPACE "])", others, (int)items.len, items.data);
  else hl_buf_printf(out, "(?:%s%.*s]|[^" ECMA_SPACE "])", others, (int)items.len, items.data);
  hl_buf_dispose(&items);
  return j;
}

/* A place in a pattern, in the sender's text and in its PCRE2 form:
 * PCRE2's error offsets are the form's, the sender wrote the text. */
typedef struct {
  size_t src, out;
} regex_place;

/* ECMA-262's "." is any character but a LineTerminator; PCRE2's is any
 * but "\n" (its default newline), so "\r", U+2028 and U+2029 matched it. */
#define ECMA_DOT "[^\\n\\r\\x{2028}\\x{2029}]"

/* Whether a pattern sets PCRE2's dot-all option inline ("(?s)", "(?is:"):
 * PCRE2 syntax beyond ECMA-262, whose "." its writer means as PCRE2's. */
static bool sets_dotall(const char *src, size_t len) {
  for (size_t i = 0; i + 2 < len; i++) {
    if (src[i] == '\\') { i++; continue; }
    if (src[i] != '(' || src[i + 1] != '?') continue;
    for (size_t j = i + 2; j < len && src[j] != ')' && src[j] != ':' && src[j] != '-'; j++) {
      if (src[j] == 's') return true;
      if (!isalpha((unsigned char)src[j]) && src[j] != '^') break;
    }
  }
  return false;
}

/* An ECMA-262 pattern as PCRE2 syntax: long property names shortened, \s,
 * \S and "." ECMA-262's. Each piece (a character, an escape or a class)
 * that is not kept as written has its start and end noted in changed. */
static void ecma_to_pcre(const char *src, size_t len, hl_buf *out, hl_buf *changed) {
  bool ecma_dot = !sets_dotall(src, len);
  for (size_t i = 0; i < len; i++) {
    regex_place start = {i, out->len};
    if (src[i] == '[') {
      i = class_to_pcre(src, len, i, out);
    } else if (src[i] == '.' && ecma_dot) {
      hl_buf_puts(out, ECMA_DOT);
    } else if (src[i] == '\\' && i + 1 < len && src[i + 1] == 'Q') {
      /* PCRE2's quoted text, to its "\E" or the end: every byte literal. */
      const char *e = NULL;
      for (size_t k = i + 2; k + 1 < len && !e; k++)
        if (src[k] == '\\' && src[k + 1] == 'E') e = src + k;
      size_t stop = e ? (size_t)(e - src) + 2 : len;
      hl_buf_append(out, src + i, stop - i);
      i = stop - 1;
    } else if (src[i] == '\\' && i + 1 < len && (src[i + 1] == 's' || src[i + 1] == 'S')) {
      hl_buf_puts(out, src[i + 1] == 's' ? "[" ECMA_SPACE "]" : "[^" ECMA_SPACE "]");
      i++;
    } else if (src[i] == '\\') {
      i = escape_to_pcre(src, len, i, out);
    } else {
      hl_buf_putc(out, src[i]);
    }
    regex_place end = {i + 1, out->len};
    size_t n = end.src - start.src;
    if (end.out - start.out != n || memcmp(out->data + start.out, src + start.src, n) != 0) {
      hl_buf_append(changed, &start, sizeof start);
      hl_buf_append(changed, &end, sizeof end);
    }
  }
}

/* The offset in the sender's text of an offset in the PCRE2 form: exact
 * outside the pieces changed, a piece's start inside one. */
static size_t regex_source_offset(const hl_buf *changed, size_t off) {
  const regex_place *p = (const regex_place *)(const void *)changed->data;
  size_t n = changed->len / sizeof *p;
  regex_place last = {0, 0};
  for (size_t k = 0; k < n && p[k].out <= off; k += 2) {
    if (off < p[k + 1].out) return p[k].src;
    last = p[k + 1];
  }
  return last.src + (off - last.out);
}

static pcre2_code *compile_regex(cctx *c, const char *loc, const char *kw, const char *src0, size_t len0) {
  hl_buf conv = HL_BUF_INIT, changed = HL_BUF_INIT;
  ecma_to_pcre(src0, len0, &conv, &changed);
  const char *src = conv.data ? conv.data : "";
  size_t len = conv.len;
  int errcode;
  PCRE2_SIZE erroff;
  /* ECMA-262's "$" is the end of the input only; PCRE2's also matches
   * before a final newline. */
  pcre2_code *re = pcre2_compile((PCRE2_SPTR)src, len, PCRE2_UTF | PCRE2_DOLLAR_ENDONLY, &errcode, &erroff, NULL);
  if (!re) {
    PCRE2_UCHAR msg[120];
    pcre2_get_error_message(errcode, msg, sizeof msg);
    cfail(c, loc, kw, "not a valid regular expression: %s at offset %zu", (char *)msg,
          regex_source_offset(&changed, (size_t)erroff));
    hl_buf_dispose(&conv);
    hl_buf_dispose(&changed);
    return NULL;
  }
  hl_buf_dispose(&conv);
  hl_buf_dispose(&changed);
  pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* speeds up matching when JIT is there */
  return re;
}

static void queue_ref(cctx *c, sch_node *n, const char *ref, bool dynamic) {
  pending_ref *p = hl_calloc(1, sizeof *p);
  p->node = n;
  p->uri = resolve_uri(n->res->base, ref);
  p->dynamic = dynamic;
  p->next = c->pending;
  c->pending = p;
}

static const char *const type_names[] = {"null", "boolean", "object", "array", "number", "string", "integer"};

static int enum_cmp(const void *a, const void *b) {
  uint64_t x = ((const struct enum_entry *)a)->h, y = ((const struct enum_entry *)b)->h;
  return x < y ? -1 : x > y;
}

static sch_node *compile_node(cctx *c, const hl_json *j, resource *res, const char *ptr, const char *loc) {
  hl_schema *s = c->s;
  /* Already compiled at this location (a reference compiled it first). */
  hl_buf k = HL_BUF_INIT;
  hl_buf_printf(&k, "%s#%s", res->base, ptr);
  sch_node *existing = hl_strmap_get(&s->nodes, k.data);
  hl_buf_dispose(&k);
  if (existing && existing->src == j) return existing;

  sch_node *n = hl_calloc(1, sizeof *n);
  if (s->n_all == s->cap_all) {
    s->cap_all = s->cap_all ? s->cap_all * 2 : 32;
    s->all = hl_realloc(s->all, s->cap_all * sizeof *s->all);
  }
  s->all[s->n_all++] = n;
  n->src = j;
  n->res = res;
  n->loc = hl_strdup(loc);
  n->ptr = hl_strdup(ptr);
  n->min_len = n->max_len = n->min_items = n->max_items = n->min_props = n->max_props = -1;
  n->min_contains = n->max_contains = -1;
  n->boolean = -1;
  register_key(s, res->base, ptr, n);
  if (j->type == HL_JSON_TRUE || j->type == HL_JSON_FALSE) {
    n->boolean = j->type == HL_JSON_TRUE;
    return n;
  }
  if (j->type != HL_JSON_OBJECT) {
    cfail(c, loc, "type", "a schema must be an object or a boolean");
    n->boolean = 1;
    return n;
  }
  if (++c->depth > 200) {
    cfail(c, loc, "$schema", "the schema nests deeper than 200 levels");
    c->depth--;
    return n;
  }
  /* Each keyword is read once below, and the lists a keyword fills are sized
   * by its first sight: a keyword given twice would be ambiguous (which one
   * applies?) and would overrun them. Refuse it before reading anything. */
  if (j->len > 1) {
    hl_name_index ix;
    hl_name_index_build(&ix, j->u.members, j->len);
    int32_t dup = ix.dup;
    hl_name_index_dispose(&ix);
    if (dup >= 0) {
      cfail(c, loc, j->u.members[dup].key, "the keyword is given twice in this schema object");
      c->depth--;
      return n;
    }
  }
  /* Dialect and identity first: they decide how the rest is read. */
  const hl_json *dialect = hl_json_get(j, "$schema");
  hl_schema_draft draft = res->draft;
  if (dialect && dialect->type != HL_JSON_STRING)
    cfail(c, loc, "$schema", "expected the URI of a meta-schema");
  else if (dialect && !hl_schema_dialect(dialect->u.str, &draft) && c->s->opt.known_dialects_only)
    cfail(c, loc, "$schema",
          "unsupported dialect \"%.100s\": schemas are read as draft 2020-12 "
          "(https://json-schema.org/draft/2020-12/schema) or draft-07 (http://json-schema.org/draft-07/schema#)",
          dialect->u.str);
  const hl_json *id = hl_json_get(j, "$id");
  const hl_json *ref = hl_json_get(j, "$ref");
  bool d7 = draft == HL_DRAFT_07;
  if (id && id->type == HL_JSON_STRING && !(d7 && ref)) {
    if (d7 && id->u.str[0] == '#') {
      register_key(s, res->base, id->u.str + 1, n); /* draft-07 plain-name fragment */
    } else {
      char *abs = resolve_uri(res->base, id->u.str);
      char *hash = strchr(abs, '#');
      if (hash) *hash = '\0';
      res = resource_new(s, abs, draft);
      n->res = res;
      ptr = "";
      hl_free(n->ptr);
      n->ptr = hl_strdup("");
      register_key(s, abs, "", n);
      hl_free(abs);
    }
  } else if (draft != res->draft) {
    res->draft = draft;
  }
  const hl_json *v;
  if ((v = hl_json_get(j, "$anchor")) && v->type == HL_JSON_STRING) register_key(s, res->base, v->u.str, n);
  if ((v = hl_json_get(j, "$dynamicAnchor")) && v->type == HL_JSON_STRING && !d7) {
    register_key(s, res->base, v->u.str, n);
    n->dyn_anchor = v->u.str;
    hl_buf dk = HL_BUF_INIT;
    hl_buf_printf(&dk, "%s#%s", res->base, v->u.str);
    hl_strmap_put(&s->dyn_anchors, dk.data, n);
    hl_buf_dispose(&dk);
  }
  if (ref) {
    if (ref->type != HL_JSON_STRING) cfail(c, loc, "$ref", "expected a URI reference string");
    else queue_ref(c, n, ref->u.str, false);
    n->ref_only = d7;
  }
  if ((v = hl_json_get(j, "$dynamicRef")) && !d7) {
    if (v->type != HL_JSON_STRING) cfail(c, loc, "$dynamicRef", "expected a URI reference string");
    else queue_ref(c, n, v->u.str, true);
  }
  if (n->ref_only) { c->depth--; return n; }

  for (uint32_t i = 0; i < j->len; i++) {
    const hl_json_member *m = &j->u.members[i];
    const char *kw = m->key;
    v = &m->value;
    int64_t num;
#define IS(x) (strcmp(kw, x) == 0)
    if (IS("type")) {
      bool good = v->type == HL_JSON_STRING || (v->type == HL_JSON_ARRAY && v->len > 0);
      uint32_t count = v->type == HL_JSON_ARRAY ? v->len : 1;
      for (uint32_t t = 0; good && t < count; t++) {
        const hl_json *tv = v->type == HL_JSON_ARRAY ? &v->u.items[t] : v;
        size_t k2;
        for (k2 = 0; tv->type == HL_JSON_STRING && k2 < HL_ARRAY_SIZE(type_names); k2++)
          if (strcmp(tv->u.str, type_names[k2]) == 0) break;
        good = tv->type == HL_JSON_STRING && k2 < HL_ARRAY_SIZE(type_names);
        if (good) n->types |= (uint8_t)(1u << k2);
      }
      if (!good) cfail(c, loc, kw, "expected one of null, boolean, object, array, number, string, integer (or an array of them)");
    } else if (IS("enum")) {
      if (v->type != HL_JSON_ARRAY) { cfail(c, loc, kw, "expected an array of values"); continue; }
      n->enum_v = v;
      n->enum_set = hl_malloc((v->len ? v->len : 1) * sizeof *n->enum_set);
      for (uint32_t t = 0; t < v->len; t++) n->enum_set[t] = (struct enum_entry){hl_json_hash(&v->u.items[t], NULL), t};
      qsort(n->enum_set, v->len, sizeof *n->enum_set, enum_cmp);
    } else if (IS("const")) {
      n->const_v = v;
      n->const_cost = 0;
      hl_json_hash(v, &n->const_cost);
    } else if (IS("minimum") || IS("maximum") || IS("exclusiveMinimum") || IS("exclusiveMaximum") || IS("multipleOf")) {
      if (v->type != HL_JSON_NUMBER) { cfail(c, loc, kw, "expected a number"); continue; }
      if (IS("minimum")) n->minimum = v;
      else if (IS("maximum")) n->maximum = v;
      else if (IS("exclusiveMinimum")) n->exmin = v;
      else if (IS("exclusiveMaximum")) n->exmax = v;
      else if (hl_decimal_cmp(v->u.str, v->len, "0", 1) <= 0) cfail(c, loc, kw, "expected a number greater than 0");
      else n->multiple = v;
    } else if (IS("minLength") || IS("maxLength") || IS("minItems") || IS("maxItems") || IS("minProperties") ||
               IS("maxProperties") || IS("minContains") || IS("maxContains")) {
      if (!nonneg_int(v, &num)) { cfail(c, loc, kw, "expected a non-negative integer"); continue; }
      if (IS("minLength")) n->min_len = num;
      else if (IS("maxLength")) n->max_len = num;
      else if (IS("minItems")) n->min_items = num;
      else if (IS("maxItems")) n->max_items = num;
      else if (IS("minProperties")) n->min_props = num;
      else if (IS("maxProperties")) n->max_props = num;
      else if (!d7 && IS("minContains")) n->min_contains = num;
      else if (!d7 && IS("maxContains")) n->max_contains = num;
    } else if (IS("pattern")) {
      if (v->type != HL_JSON_STRING) cfail(c, loc, kw, "expected a regular expression string");
      else n->pattern = compile_regex(c, loc, kw, v->u.str, v->len);
    } else if (IS("format")) {
      if (v->type != HL_JSON_STRING) cfail(c, loc, kw, "expected a string");
      else if (c->s->opt.format_assertion && !hl_format_known(v->u.str))
        /* Asserted, a format not checked would let through what the
         * schema's author meant to stop. */
        cfail(c, loc, kw, "format \"%.40s\" cannot be asserted; the formats checked are %s", v->u.str,
              hl_format_list());
      else n->format = v->u.str;
    } else if (IS("uniqueItems")) {
      if (!hl_json_is_bool(v)) cfail(c, loc, kw, "expected true or false");
      n->unique = v->type == HL_JSON_TRUE;
    } else if (IS("required")) {
      bool good = v->type == HL_JSON_ARRAY;
      for (uint32_t t = 0; good && t < v->len; t++) good = v->u.items[t].type == HL_JSON_STRING;
      if (!good) cfail(c, loc, kw, "expected an array of property names");
      else n->required = v;
    } else if (IS("allOf")) {
      n->all_of = child_list(c, v, res, ptr, loc, kw, &n->n_all);
    } else if (IS("anyOf")) {
      n->any_of = child_list(c, v, res, ptr, loc, kw, &n->n_any);
    } else if (IS("oneOf")) {
      n->one_of = child_list(c, v, res, ptr, loc, kw, &n->n_one);
    } else if (IS("not")) {
      n->not_ = child(c, v, res, ptr, loc, kw, NULL, 0, -1);
    } else if (IS("if")) {
      n->if_ = child(c, v, res, ptr, loc, kw, NULL, 0, -1);
    } else if (IS("then")) {
      n->then_ = child(c, v, res, ptr, loc, kw, NULL, 0, -1);
    } else if (IS("else")) {
      n->else_ = child(c, v, res, ptr, loc, kw, NULL, 0, -1);
    } else if (IS("properties")) {
      if (v->type != HL_JSON_OBJECT) { cfail(c, loc, kw, "expected an object of schemas"); continue; }
      n->props = hl_calloc(v->len ? v->len : 1, sizeof *n->props);
      n->n_props = v->len;
      hl_name_index_dispose(&n->props_ix);
      hl_name_index_build(&n->props_ix, v->u.members, v->len);
      for (uint32_t t = 0; t < v->len; t++)
        n->props[t] = (prop_entry){v->u.members[t].key, v->u.members[t].key_len,
                                   child(c, &v->u.members[t].value, res, ptr, loc, kw, v->u.members[t].key,
                                         v->u.members[t].key_len, -1)};
    } else if (IS("patternProperties")) {
      if (v->type != HL_JSON_OBJECT) { cfail(c, loc, kw, "expected an object of pattern to schema"); continue; }
      n->pprops = hl_calloc(v->len ? v->len : 1, sizeof *n->pprops);
      for (uint32_t t = 0; t < v->len; t++) {
        pcre2_code *re = compile_regex(c, loc, kw, v->u.members[t].key, v->u.members[t].key_len);
        sch_node *cn = child(c, &v->u.members[t].value, res, ptr, loc, kw, v->u.members[t].key,
                             v->u.members[t].key_len, -1);
        if (re) n->pprops[n->n_pprops++] = (pat_entry){re, v->u.members[t].key, cn};
      }
    } else if (IS("additionalProperties")) {
      n->addl_props = child(c, v, res, ptr, loc, kw, NULL, 0, -1);
    } else if (IS("propertyNames")) {
      n->prop_names = child(c, v, res, ptr, loc, kw, NULL, 0, -1);
    } else if (!d7 && IS("unevaluatedProperties")) {
      n->uneval_props = child(c, v, res, ptr, loc, kw, NULL, 0, -1);
      n->needs_eval = true;
    } else if (!d7 && IS("unevaluatedItems")) {
      n->uneval_items = child(c, v, res, ptr, loc, kw, NULL, 0, -1);
      n->needs_eval = true;
    } else if (IS("contains")) {
      n->contains = child(c, v, res, ptr, loc, kw, NULL, 0, -1);
    } else if (!d7 && IS("prefixItems")) {
      n->prefix = child_list(c, v, res, ptr, loc, kw, &n->n_prefix);
    } else if (IS("items")) {
      if (d7 && v->type == HL_JSON_ARRAY) {
        n->prefix = hl_calloc(v->len ? v->len : 1, sizeof *n->prefix);
        n->n_prefix = v->len;
        for (uint32_t t = 0; t < v->len; t++) n->prefix[t] = child(c, &v->u.items[t], res, ptr, loc, kw, NULL, 0, (long)t);
      } else {
        n->items = child(c, v, res, ptr, loc, kw, NULL, 0, -1);
      }
    } else if (d7 && IS("additionalItems")) {
      /* read below, once "items" is known */
    } else if ((!d7 && IS("dependentRequired")) || (d7 && IS("dependencies")) || (!d7 && IS("dependentSchemas"))) {
      if (v->type != HL_JSON_OBJECT) { cfail(c, loc, kw, "expected an object"); continue; }
      for (uint32_t t = 0; t < v->len; t++) {
        const hl_json_member *dm = &v->u.members[t];
        bool is_list = dm->value.type == HL_JSON_ARRAY;
        if (IS("dependentRequired") || (d7 && is_list)) {
          bool good = is_list;
          for (uint32_t q = 0; good && q < dm->value.len; q++) good = dm->value.u.items[q].type == HL_JSON_STRING;
          if (!good) { cfail(c, loc, kw, "expected arrays of property names"); continue; }
          n->depreq = hl_realloc(n->depreq, (n->n_depreq + 1) * sizeof *n->depreq);
          n->depreq[n->n_depreq++] = (depreq_entry){dm->key, dm->key_len, &dm->value};
        } else {
          n->depsch = hl_realloc(n->depsch, (n->n_depsch + 1) * sizeof *n->depsch);
          n->depsch[n->n_depsch++] =
              (prop_entry){dm->key, dm->key_len, child(c, &dm->value, res, ptr, loc, kw, dm->key, dm->key_len, -1)};
        }
      }
    } else if (IS("$defs") || IS("definitions")) {
      if (v->type != HL_JSON_OBJECT) { cfail(c, loc, kw, "expected an object of schemas"); continue; }
      for (uint32_t t = 0; t < v->len; t++)
        child(c, &v->u.members[t].value, res, ptr, loc, kw, v->u.members[t].key, v->u.members[t].key_len, -1);
    }
#undef IS
  }
  if (d7 && n->n_prefix && (v = hl_json_get(j, "additionalItems")) != NULL)
    n->items = child(c, v, res, ptr, loc, "additionalItems", NULL, 0, -1);
  const hl_json *lims[5] = {n->minimum, n->maximum, n->exmin, n->exmax, n->multiple};
  hl_small_decimal *dst[5] = {&n->d_min, &n->d_max, &n->d_exmin, &n->d_exmax, &n->d_mult};
  for (int i = 0; i < 5; i++)
    if (lims[i] && hl_small_decimal_read(lims[i]->u.str, lims[i]->len, dst[i])) n->small_mask |= (uint8_t)(1u << i);
  if (n->required && n->n_props <= 64) {
    n->req_by_mask = true;
    for (uint32_t r = 0; r < n->required->len && n->req_by_mask; r++) {
      const hl_json *name = &n->required->u.items[r];
      bool found = false;
      for (uint32_t p = 0; p < n->n_props; p++)
        if (n->props[p].len == name->len && memcmp(n->props[p].key, name->u.str, name->len) == 0) {
          n->req_mask |= 1ull << p;
          found = true;
        }
      n->req_by_mask = found;
    }
  }
  c->depth--;
  return n;
}

/* Finds (compiling when needed) the node an absolute URI with fragment names. */
static sch_node *lookup_uri(cctx *c, const char *uri, const char *loc) {
  hl_schema *s = c->s;
  sch_node *n = hl_strmap_get(&s->nodes, uri);
  if (n) return n;
  const char *hash = strchr(uri, '#');
  size_t dl = hash ? (size_t)(hash - uri) : strlen(uri);
  char *doc_uri = hl_strndup(uri, dl);
  const char *frag = hash ? hash + 1 : "";
  /* The document itself: known, or fetched through the resolver. */
  hl_buf k = HL_BUF_INIT;
  hl_buf_printf(&k, "%s#", doc_uri);
  sch_node *root = hl_strmap_get(&s->nodes, k.data);
  hl_buf_dispose(&k);
  if (!root) {
    /* The caller's documents first, then the bundled meta-schemas. */
    char *text = s->opt.resolve ? s->opt.resolve(s->opt.resolve_data, doc_uri) : NULL;
    if (!text) text = hl_schema_docs_text(doc_uri);
    if (text) {
      hl_json_doc *d = own_doc(s);
      if (hl_json_parse_ex(d, text, strlen(text), HL_JSON_UNIQUE_NAMES, NULL) == 0) {
        resource *r = resource_new(s, doc_uri, s->opt.default_draft);
        root = compile_node(c, d->root, r, "", doc_uri);
      }
      hl_free(text);
    }
  }
  if (root && (frag[0] == '/' || frag[0] == '\0')) {
    /* A pointer into a resource. The deepest node already compiled along it
     * decides the resource (a subschema with "$id" on the way changes the
     * base against which what lies below resolves). */
    hl_buf ptr = HL_BUF_INIT;
    pct_decode(frag, strlen(frag), &ptr);
    const char *pstr = ptr.data ? ptr.data : "";
    size_t plen = ptr.len;
    sch_node *anchor = root;
    size_t cut = 0;
    for (size_t l = plen; l > 0; l--) {
      if (l < plen && pstr[l] != '/') continue;
      hl_buf key = HL_BUF_INIT;
      hl_buf_printf(&key, "%s#%.*s", doc_uri, (int)l, pstr);
      sch_node *found = hl_strmap_get(&s->nodes, key.data);
      hl_buf_dispose(&key);
      if (found) { anchor = found; cut = l; break; }
    }
    const hl_json *target = hl_json_pointer(anchor->src, pstr + cut, plen - cut);
    if (target) {
      hl_buf p2 = HL_BUF_INIT, key = HL_BUF_INIT;
      hl_buf_printf(&p2, "%s%s", anchor->ptr, pstr + cut);
      hl_buf_printf(&key, "%s#%s", anchor->res->base, p2.data);
      n = hl_strmap_get(&s->nodes, key.data);
      if (!n) n = compile_node(c, target, anchor->res, p2.data, p2.data);
      hl_buf_dispose(&p2);
      hl_buf_dispose(&key);
    }
    hl_buf_dispose(&ptr);
  }
  if (!n) {
    n = hl_strmap_get(&s->nodes, uri);
    if (!n) cfail(c, loc, "$ref", "the reference %.120s does not resolve", uri);
  }
  hl_free(doc_uri);
  return n;
}

static void resolve_pending(cctx *c) {
  while (c->pending) {
    pending_ref *p = c->pending;
    c->pending = p->next;
    sch_node *t = lookup_uri(c, p->uri, p->node->loc);
    if (p->dynamic) {
      p->node->dyn_ref = t;
      const char *hash = strchr(p->uri, '#');
      /* Dynamic only when the static target declares the same $dynamicAnchor. */
      if (t && hash && t->dyn_anchor && strcmp(t->dyn_anchor, hash + 1) == 0) p->node->dyn_ref_anchor = t->dyn_anchor;
    } else {
      p->node->ref = t;
    }
    hl_free(p->uri);
    hl_free(p);
  }
}

int hl_schema_compile(const hl_json *schema, const hl_schema_options *opt, hl_schema **out,
                      hl_schema_errors *errs) {
  hl_schema *s = hl_calloc(1, sizeof *s);
  s->refs = 1;
  if (opt) s->opt = *opt;
  if (errs) hl_schema_errors_init(errs);
  hl_strmap_init(&s->nodes);
  hl_strmap_init(&s->dyn_anchors);
  /* A private copy: the caller's document may go away. */
  hl_json_doc *d = own_doc(s);
  hl_buf copy = HL_BUF_INIT;
  hl_jw w;
  hl_jw_init(&w, &copy);
  hl_jw_value(&w, schema);
  /* A name given twice anywhere in the schema (a keyword, a property, a
   * $defs entry) is refused: which of the two would apply is not defined. */
  hl_json_error jerr;
  int rc = hl_json_parse_ex(d, copy.data, copy.len, HL_JSON_UNIQUE_NAMES, &jerr);
  hl_buf_dispose(&copy);
  cctx c = {.s = s, .errs = errs};
  if (rc != 0) {
    if (jerr.duplicate) cfail(&c, jerr.pointer, jerr.name, "the name is given twice in this object");
    hl_schema_free(s);
    *out = NULL;
    return jerr.duplicate ? HL_EINVAL : HL_EINTERNAL;
  }
  /* "x-format-assertion": true at the root asserts every format of the
   * schema, as the caller's option does. */
  const hl_json *fa = d->root->type == HL_JSON_OBJECT ? hl_json_get(d->root, "x-format-assertion") : NULL;
  if (fa && !hl_json_is_bool(fa)) cfail(&c, "", "x-format-assertion", "expected true or false");
  else if (fa && fa->type == HL_JSON_TRUE) s->opt.format_assertion = true;
  resource *root = resource_new(s, "", s->opt.default_draft);
  s->root = compile_node(&c, d->root, root, "", "");
  resolve_pending(&c);
  if (c.rc != 0) {
    hl_schema_free(s);
    *out = NULL;
    return c.rc;
  }
  *out = s;
  return 0;
}

static void node_free(sch_node *n) {
  hl_name_index_dispose(&n->props_ix);
  hl_free(n->enum_set);
  hl_free(n->loc);
  hl_free(n->ptr);
  hl_free(n->all_of); hl_free(n->any_of); hl_free(n->one_of);
  hl_free(n->props);
  for (uint32_t i = 0; i < n->n_pprops; i++) pcre2_code_free(n->pprops[i].re);
  hl_free(n->pprops);
  hl_free(n->depreq); hl_free(n->depsch); hl_free(n->prefix);
  if (n->pattern) pcre2_code_free(n->pattern);
  hl_free(n);
}

hl_schema *hl_schema_ref(hl_schema *s) {
  s->refs++;
  return s;
}

void hl_schema_free(hl_schema *s) {
  if (!s || --s->refs > 0) return;
  for (size_t i = 0; i < s->n_all; i++) node_free(s->all[i]);
  hl_free(s->all);
  while (s->resources) {
    resource *r = s->resources;
    s->resources = r->next;
    hl_free(r->base);
    hl_free(r);
  }
  while (s->docs) {
    owned_doc *d = s->docs;
    s->docs = d->next;
    hl_json_doc_dispose(&d->doc);
    hl_free(d);
  }
  hl_strmap_dispose(&s->nodes);
  hl_strmap_dispose(&s->dyn_anchors);
  hl_free(s);
}

/* --- validating ------------------------------------------------------------------------ */

/* Which members of an object (items of an array) some keyword evaluated:
 * the bookkeeping behind unevaluatedProperties / unevaluatedItems. */
typedef struct {
  uint64_t *bits;
  uint32_t n;
  uint64_t small[4];
} evset;

static void ev_init(evset *e, uint32_t n) {
  e->n = n;
  if (n <= 256) {
    e->bits = e->small;
    memset(e->small, 0, sizeof e->small);
  } else {
    e->bits = hl_calloc((n + 63) / 64, sizeof *e->bits);
  }
}

static void ev_free(evset *e) {
  if (e->bits != e->small) hl_free(e->bits);
}

static inline void ev_set(evset *e, uint32_t i) {
  if (e && i < e->n) e->bits[i / 64] |= 1ull << (i % 64);
}

static inline bool ev_get(const evset *e, uint32_t i) { return (e->bits[i / 64] >> (i % 64)) & 1; }

static void ev_merge(evset *dst, const evset *src) {
  for (uint32_t w = 0; w < (src->n + 63) / 64; w++) dst->bits[w] |= src->bits[w];
}

/* The instance location as a stack of segments, rendered only when an
 * error is recorded: valid events never pay for pointer strings. */
typedef struct {
  const char *key; /* NULL: an array index */
  uint32_t len;
  uint32_t index;
} seg;

typedef struct {
  const hl_schema *s;
  hl_schema_errors *errs;
  int quiet;           /* > 0 while probing (anyOf, oneOf, not, if): no errors recorded */
  int depth;
  seg segs[160];
  int nsegs;
  resource *scope[160];
  int nscope;
  hl_schema_budget *budget;
  bool exhausted;      /* the budget ran out: everything unwinds, the verdict is too_complex */
  char exhausted_at[256];
  const char *exhausted_by;
} vctx;

static void render_path(const vctx *c, path *p);

static void exhaust(vctx *c, const char *what) {
  if (c->exhausted) return;
  c->exhausted = true;
  c->exhausted_by = what;
  path ip;
  render_path(c, &ip);
  snprintf(c->exhausted_at, sizeof c->exhausted_at, "%s", ip.buf);
}

/* Spends n steps; false (and too complex) when they are not there. */
static inline bool charge(vctx *c, uint64_t n) {
  if (c->exhausted) return false;
  if (c->budget->steps < n) {
    c->budget->steps = 0;
    exhaust(c, "steps");
    return false;
  }
  c->budget->steps -= n;
  return true;
}

static inline void seg_key(vctx *c, const char *k, uint32_t len) {
  if (c->nsegs < 160) c->segs[c->nsegs] = (seg){k, len, 0};
  c->nsegs++;
}

static inline void seg_index(vctx *c, uint32_t i) {
  if (c->nsegs < 160) c->segs[c->nsegs] = (seg){NULL, 0, i};
  c->nsegs++;
}

static inline void seg_pop(vctx *c) { c->nsegs--; }

/* The instance path. A token that does not fit whole ends it there: the
 * path then names the deepest ancestor that fits, never a cut token that
 * points elsewhere or nowhere. So does a member name holding U+0000: the
 * path is a C string, and the name cut at its NUL would name another
 * member or none (fuzz/crashes/schema/nul_in_member_name.txt). */
static void render_path(const vctx *c, path *p) {
  p->len = 0;
  p->buf[0] = '\0';
  for (int i = 0; i < c->nsegs && i < 160; i++) {
    char idx[16];
    const char *k = c->segs[i].key;
    size_t n = c->segs[i].len;
    if (!k) {
      n = (size_t)snprintf(idx, sizeof idx, "%u", c->segs[i].index);
      k = idx;
    }
    size_t need = 1 + n; /* "/" and the token, "~" and "/" escaped in two */
    for (size_t j = 0; j < n; j++) need += k[j] == '~' || k[j] == '/';
    if (p->len + need + 2 > sizeof p->buf || memchr(k, '\0', n)) break;
    path_push(p, k, n);
  }
}

static bool vfail(vctx *c, const sch_node *n, const char *kw, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static bool vfail(vctx *c, const sch_node *n, const char *kw, const char *fmt, ...) {
  if (c->quiet || !c->errs) return false;
  path ip;
  render_path(c, &ip);
  va_list ap;
  va_start(ap, fmt);
  add_error(c->errs, ip.buf, n->loc, kw, fmt, ap);
  va_end(ap);
  return false;
}

static bool validate(vctx *c, const sch_node *n, const hl_json *v, evset *out);

/* Validates v against child; on success its annotations join L. */
static bool apply(vctx *c, const sch_node *child, const hl_json *v, evset *L) {
  if (!L) return validate(c, child, v, NULL);
  evset tmp;
  ev_init(&tmp, L->n);
  bool ok = validate(c, child, v, &tmp);
  if (ok) ev_merge(L, &tmp);
  ev_free(&tmp);
  return ok;
}

static bool probe(vctx *c, const sch_node *child, const hl_json *v, evset *L) {
  c->quiet++;
  bool ok = apply(c, child, v, L);
  c->quiet--;
  return ok;
}

/* Per thread, made once: match data, a match context carrying the limits,
 * and a JIT stack of up to 1 MiB (PCRE2's default of 32 KiB fails long
 * subjects of ordinary patterns). */
typedef struct {
  pcre2_match_data *md;
  pcre2_match_context *mc;
  pcre2_jit_stack *js;
} regex_thread;

static regex_thread *regex_tls(void) {
  static __thread regex_thread t;
  if (!t.md) {
    t.md = pcre2_match_data_create(16, NULL);
    t.mc = pcre2_match_context_create(NULL);
    t.js = pcre2_jit_stack_create(32 * 1024, 1024 * 1024, NULL);
    if (!t.md || !t.mc) abort();
    if (t.js) pcre2_jit_stack_assign(t.mc, NULL, t.js);
    /* Without JIT: backtracking depth and memory are bounded too. */
    pcre2_set_depth_limit(t.mc, 10000);
    pcre2_set_heap_limit(t.mc, 16 * 1024); /* KiB */
  }
  return &t;
}

/* 1 match, 0 no match, -1 too complex. The match limit starts small (most
 * patterns with JIT need a few units) and grows fourfold while PCRE2
 * stops at it, up to what is left of the budget; the limit that sufficed is
 * charged. So the units charged are at least those used, at most four times
 * as many, and the time spent is bounded by the budget whatever the
 * pattern and however many strings it is applied to. */
static int regex_search(vctx *c, const pcre2_code *re, const char *s, size_t len) {
  if (c->exhausted) return -1;
  regex_thread *t = regex_tls();
  uint64_t left = c->budget->regex;
  uint64_t limit = HL_MIN(left, 16);
  for (;;) {
    pcre2_set_match_limit(t->mc, (uint32_t)HL_MIN(limit, UINT32_MAX));
    /* The parser already checked the UTF-8. */
    int rc = pcre2_match(re, (PCRE2_SPTR)s, len, 0, PCRE2_NO_UTF_CHECK, t->md, t->mc);
    if (rc >= 0 || rc == PCRE2_ERROR_NOMATCH) {
      c->budget->regex -= limit;
      return rc >= 0;
    }
    if (rc != PCRE2_ERROR_MATCHLIMIT || limit >= left) {
      /* Out of budget, or out of depth, heap or JIT stack: too complex. */
      c->budget->regex = rc == PCRE2_ERROR_MATCHLIMIT ? 0 : left - limit;
      exhaust(c, "regex");
      return -1;
    }
    limit = HL_MIN(left, limit * 4);
  }
}

static bool type_ok(uint8_t types, const hl_json *v) {
  switch (v->type) {
  case HL_JSON_NULL: return types & T_NULL;
  case HL_JSON_TRUE: case HL_JSON_FALSE: return types & T_BOOL;
  case HL_JSON_OBJECT: return types & T_OBJECT;
  case HL_JSON_ARRAY: return types & T_ARRAY;
  case HL_JSON_STRING: return types & T_STRING;
  case HL_JSON_NUMBER:
    return (types & T_NUMBER) || ((types & T_INTEGER) && hl_decimal_is_integer(v->u.str, v->len));
  }
  return false;
}

static void types_text(uint8_t types, char *buf, size_t n) {
  size_t o = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < HL_ARRAY_SIZE(type_names); i++)
    if (types & (1u << i)) o += (size_t)snprintf(buf + o, n - o, "%s%s", o ? " or " : "", type_names[i]);
}

static const sch_node *dynamic_target(vctx *c, const char *anchor) {
  char key[512];
  for (int i = 0; i < c->nscope; i++) {
    snprintf(key, sizeof key, "%s#%s", c->scope[i]->base, anchor);
    const sch_node *t = hl_strmap_get(&c->s->dyn_anchors, key);
    if (t) return t;
  }
  return NULL;
}

static bool v_number(vctx *c, const sch_node *n, const hl_json *v) {
  bool ok = true;
  char a[64], b[64];
  hl_small_decimal x;
  if (n->small_mask && hl_small_decimal_read(v->u.str, v->len, &x)) {
    /* Every limit that is small is checked here; the others below. */
    bool fails[5] = {false};
    if ((n->small_mask & 1) && hl_small_decimal_cmp(&x, &n->d_min) < 0) fails[0] = true;
    if ((n->small_mask & 2) && hl_small_decimal_cmp(&x, &n->d_max) > 0) fails[1] = true;
    if ((n->small_mask & 4) && hl_small_decimal_cmp(&x, &n->d_exmin) <= 0) fails[2] = true;
    if ((n->small_mask & 8) && hl_small_decimal_cmp(&x, &n->d_exmax) >= 0) fails[3] = true;
    if ((n->small_mask & 16) && !hl_small_decimal_is_multiple(&x, &n->d_mult)) fails[4] = true;
    if (!fails[0] && !fails[1] && !fails[2] && !fails[3] && !fails[4] &&
        (n->small_mask | (n->minimum ? 0 : 1) | (n->maximum ? 0 : 2) | (n->exmin ? 0 : 4) | (n->exmax ? 0 : 8) |
         (n->multiple ? 0 : 16)) == 31)
      return true;
  }
  /* Exact comparisons read every digit: a long number costs its length. */
  if (!charge(c, 1 + v->len / 64)) return false;
#define CMP(x) hl_decimal_cmp(v->u.str, v->len, (x)->u.str, (x)->len)
  if (n->minimum && CMP(n->minimum) < 0)
    ok = vfail(c, n, "minimum", "%s is less than minimum %s", short_value(v, a, 64), short_value(n->minimum, b, 64));
  if (n->maximum && CMP(n->maximum) > 0)
    ok = vfail(c, n, "maximum", "%s is greater than maximum %s", short_value(v, a, 64), short_value(n->maximum, b, 64));
  if (n->exmin && CMP(n->exmin) <= 0)
    ok = vfail(c, n, "exclusiveMinimum", "%s is not greater than %s", short_value(v, a, 64), short_value(n->exmin, b, 64));
  if (n->exmax && CMP(n->exmax) >= 0)
    ok = vfail(c, n, "exclusiveMaximum", "%s is not less than %s", short_value(v, a, 64), short_value(n->exmax, b, 64));
#undef CMP
  if (n->multiple) {
    uint64_t work = 0;
    int m = hl_decimal_is_multiple_bounded(v->u.str, v->len, n->multiple->u.str, n->multiple->len,
                                           c->budget->steps, &work);
    if (m < 0 || !charge(c, work)) {
      exhaust(c, "steps"); /* undecided within the budget: never a guessed "no" */
      return false;
    }
    if (m == 0)
      ok = vfail(c, n, "multipleOf", "%s is not a multiple of %s", short_value(v, a, 64), short_value(n->multiple, b, 64));
  }
  return ok;
}

static bool v_string(vctx *c, const sch_node *n, const hl_json *v) {
  bool ok = true;
  /* Bytes bound code points (1 to 4 bytes each): count only when that does not decide. */
  bool need_count = (n->max_len >= 0 && (int64_t)v->len > n->max_len) ||
                    (n->min_len >= 0 && (int64_t)v->len / 4 < n->min_len);
  if (need_count) {
    if (!charge(c, v->len / 256)) return false;
    int64_t len = (int64_t)codepoints(v->u.str, v->len);
    if (n->min_len >= 0 && len < n->min_len)
      ok = vfail(c, n, "minLength", "is shorter than %lld characters", (long long)n->min_len);
    if (n->max_len >= 0 && len > n->max_len)
      ok = vfail(c, n, "maxLength", "is longer than %lld characters", (long long)n->max_len);
  }
  if (n->pattern) {
    int m = regex_search(c, n->pattern, v->u.str, v->len);
    if (m < 0) return false;
    if (m == 0) ok = vfail(c, n, "pattern", "does not match the pattern %.80s", hl_json_str(hl_json_get(n->src, "pattern")));
  }
  if (n->format && c->s->opt.format_assertion && !hl_format_valid(n->format, v->u.str, v->len))
    ok = vfail(c, n, "format", "is not a valid %s", n->format);
  return ok;
}

/* 1 when no two items are equal; 0 with the first pair found; -1 too
 * complex. Each item is hashed once (hl_json_hash: equal values hash alike,
 * numbers by exact value) into a table; only items whose hashes meet are
 * compared. The hash is keyed, so expected time is linear in the array. */
static int unique_items(vctx *c, const hl_json *v, uint32_t *first, uint32_t *second) {
  uint32_t n = v->len;
  if (n < 2) return 1;
  uint64_t *h = hl_malloc(n * sizeof *h);
  uint32_t cap = 16;
  while (cap < 2 * n) cap *= 2;
  uint32_t *slots = hl_calloc(cap, sizeof *slots); /* item index + 1 */
  int result = 1;
  for (uint32_t i = 0; i < n && result == 1; i++) {
    uint64_t nodes = 0;
    h[i] = hl_json_hash(&v->u.items[i], &nodes);
    if (!charge(c, nodes)) { result = -1; break; }
    for (uint32_t s = (uint32_t)h[i] & (cap - 1);; s = (s + 1) & (cap - 1)) {
      if (slots[s] == 0) { slots[s] = i + 1; break; }
      uint32_t j = slots[s] - 1;
      if (h[j] == h[i] && hl_json_equal(&v->u.items[j], &v->u.items[i])) {
        *first = j;
        *second = i;
        result = 0;
        break;
      }
    }
  }
  hl_free(slots);
  hl_free(h);
  return result;
}

static bool v_array(vctx *c, const sch_node *n, const hl_json *v, evset *L) {
  bool ok = true;
  if (n->min_items >= 0 && (int64_t)v->len < n->min_items)
    ok = vfail(c, n, "minItems", "has %u items, fewer than %lld", v->len, (long long)n->min_items);
  if (n->max_items >= 0 && (int64_t)v->len > n->max_items)
    ok = vfail(c, n, "maxItems", "has %u items, more than %lld", v->len, (long long)n->max_items);
  if (n->unique) {
    uint32_t first, second;
    int u = unique_items(c, v, &first, &second);
    if (u < 0) return false;
    if (u == 0) ok = vfail(c, n, "uniqueItems", "items %u and %u are equal", first, second);
  }
  for (uint32_t i = 0; i < v->len; i++) {
    const sch_node *ss = i < n->n_prefix ? n->prefix[i] : n->items;
    if (!ss) continue;
    seg_index(c, i);
    if (!validate(c, ss, &v->u.items[i], NULL)) ok = false;
    seg_pop(c);
    ev_set(L, i);
  }
  if (n->contains) {
    int64_t found = 0;
    for (uint32_t i = 0; i < v->len; i++)
      if (probe(c, n->contains, &v->u.items[i], NULL)) {
        found++;
        if (c->scope[c->nscope - 1]->draft != HL_DRAFT_07) ev_set(L, i);
      }
    int64_t minc = n->min_contains >= 0 ? n->min_contains : 1;
    if (found < minc)
      ok = vfail(c, n, "contains", "has %lld matching items, fewer than %lld", (long long)found, (long long)minc);
    if (n->max_contains >= 0 && found > n->max_contains)
      ok = vfail(c, n, "maxContains", "has %lld matching items, more than %lld", (long long)found,
                 (long long)n->max_contains);
  }
  return ok;
}

static bool v_object(vctx *c, const sch_node *n, const hl_json *v, evset *L) {
  bool ok = true;
  if (n->min_props >= 0 && (int64_t)v->len < n->min_props)
    ok = vfail(c, n, "minProperties", "has fewer than %lld properties", (long long)n->min_props);
  if (n->max_props >= 0 && (int64_t)v->len > n->max_props)
    ok = vfail(c, n, "maxProperties", "has more than %lld properties", (long long)n->max_props);
  uint64_t seen = 0;
  /* Names looked up in the instance go through an index of its members. */
  hl_name_index ix = {0};
  bool lookups = (n->required && !n->req_by_mask) || n->n_depreq;
  if (lookups) {
    if (!charge(c, v->len)) return false;
    hl_name_index_build(&ix, v->u.members, v->len);
  }
  if (n->required && !n->req_by_mask && charge(c, n->required->len))
    for (uint32_t i = 0; i < n->required->len; i++) {
      const hl_json *r = &n->required->u.items[i];
      if (hl_name_index_find(&ix, r->u.str, r->len) < 0)
        ok = vfail(c, n, "required", "the property \"%.60s\" is required", r->u.str);
    }
  for (uint32_t i = 0; i < n->n_depreq && charge(c, 1 + n->depreq[i].names->len); i++) {
    const depreq_entry *d = &n->depreq[i];
    if (hl_name_index_find(&ix, d->key, d->len) < 0) continue;
    for (uint32_t q = 0; q < d->names->len; q++) {
      const hl_json *r = &d->names->u.items[q];
      if (hl_name_index_find(&ix, r->u.str, r->len) < 0)
        ok = vfail(c, n, "dependentRequired", "\"%.40s\" requires \"%.40s\"", d->key, r->u.str);
    }
  }
  hl_name_index_dispose(&ix);
  for (uint32_t i = 0; i < v->len && !c->exhausted; i++) {
    const hl_json_member *m = &v->u.members[i];
    bool matched = false;
    seg_key(c, m->key, m->key_len);
    int32_t p = n->n_props ? hl_name_index_find(&n->props_ix, m->key, m->key_len) : -1;
    if (p >= 0) {
      matched = true;
      if (p < 64) seen |= 1ull << p;
      if (!validate(c, n->props[p].n, &m->value, NULL)) ok = false;
    }
    for (uint32_t q = 0; q < n->n_pprops; q++)
      if (regex_search(c, n->pprops[q].re, m->key, m->key_len) == 1) {
        matched = true;
        if (!validate(c, n->pprops[q].n, &m->value, NULL)) ok = false;
      }
    if (!matched && n->addl_props) {
      matched = true;
      if (n->addl_props->boolean == 0) {
        seg_pop(c);
        ok = vfail(c, n, "additionalProperties", "the property \"%.60s\" is not allowed", m->key);
        seg_key(c, m->key, m->key_len);
      } else if (!validate(c, n->addl_props, &m->value, NULL)) {
        ok = false;
      }
    }
    seg_pop(c);
    if (matched) ev_set(L, i);
    if (n->prop_names) {
      hl_json name = {.type = HL_JSON_STRING, .len = m->key_len, .u.str = m->key};
      if (!probe(c, n->prop_names, &name, NULL))
        ok = vfail(c, n, "propertyNames", "the property name \"%.60s\" is not allowed", m->key);
    }
  }
  if (n->req_by_mask && (seen & n->req_mask) != n->req_mask)
    for (uint32_t i = 0; i < n->required->len; i++) {
      const hl_json *r = &n->required->u.items[i];
      if (!(seen & (1ull << hl_name_index_find(&n->props_ix, r->u.str, r->len))))
        ok = vfail(c, n, "required", "the property \"%.60s\" is required", r->u.str);
    }
  return ok;
}

/* Whether v is one of the enum's values: its hash looked up among theirs. */
static int in_enum(vctx *c, const sch_node *n, const hl_json *v) {
  uint64_t nodes = 0, h = hl_json_hash(v, &nodes);
  if (!charge(c, nodes)) return -1;
  const struct enum_entry *e = n->enum_set;
  size_t lo = 0, hi = n->enum_v->len;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (e[mid].h < h) lo = mid + 1;
    else hi = mid;
  }
  for (; lo < n->enum_v->len && e[lo].h == h; lo++)
    if (hl_json_equal(v, &n->enum_v->u.items[e[lo].i])) return 1;
  return 0;
}

static bool validate(vctx *c, const sch_node *n, const hl_json *v, evset *out) {
  if (!charge(c, 1)) return false;
  if (n->boolean == 1) return true;
  if (n->boolean == 0) return vfail(c, n, "false", "no value is allowed here");
  /* The nesting is bounded (a thread's stack holds it), but reaching the
   * bound decides nothing about the event: a failure here would be
   * inverted by an enclosing "not", or refuse a valid deep tree. So it is
   * too complex, as when the budget runs out. */
  if (c->depth > HL_SCHEMA_MAX_NESTING || c->nscope >= (int)HL_ARRAY_SIZE(c->scope) - 1) {
    exhaust(c, "nesting");
    return false;
  }
  c->depth++;
  bool pushed = false;
  if (c->nscope == 0 || c->scope[c->nscope - 1] != n->res) {
    c->scope[c->nscope++] = n->res;
    pushed = true;
  }
  bool container = v->type == HL_JSON_OBJECT || v->type == HL_JSON_ARRAY;
  evset local;
  evset *L = NULL;
  if (container && (out || n->needs_eval)) {
    if (!charge(c, v->len / 64)) return false;
    ev_init(&local, v->len);
    L = &local;
  }
  bool ok = true;
  char tb[96];
  if (n->ref && !apply(c, n->ref, v, L)) ok = false;
  if (n->ref_only) goto done;
  if (n->dyn_ref) {
    const sch_node *t = n->dyn_ref_anchor ? dynamic_target(c, n->dyn_ref_anchor) : NULL;
    if (!apply(c, t ? t : n->dyn_ref, v, L)) ok = false;
  }
  if (n->types && !type_ok(n->types, v)) {
    types_text(n->types, tb, sizeof tb);
    ok = vfail(c, n, "type", "expected %s, got %s", tb,
               v->type == HL_JSON_NUMBER && hl_decimal_is_integer(v->u.str, v->len) ? "integer" : hl_json_type_name(v->type));
    goto done; /* the other keywords would only repeat the mismatch */
  }
  if (n->enum_v) {
    int found = in_enum(c, n, v);
    if (found == 0) ok = vfail(c, n, "enum", "%s is not one of the allowed values", short_value(v, tb, 64));
  }
  if (n->const_v && charge(c, n->const_cost) && !hl_json_equal(v, n->const_v))
    ok = vfail(c, n, "const", "%s is not the required value", short_value(v, tb, 64));
  switch (v->type) {
  case HL_JSON_NUMBER: if (!v_number(c, n, v)) ok = false; break;
  case HL_JSON_STRING: if (!v_string(c, n, v)) ok = false; break;
  case HL_JSON_ARRAY: if (!v_array(c, n, v, L)) ok = false; break;
  case HL_JSON_OBJECT: if (!v_object(c, n, v, L)) ok = false; break;
  default: break;
  }
  for (uint32_t i = 0; i < n->n_all; i++)
    if (!apply(c, n->all_of[i], v, L)) ok = false;
  if (n->n_any) {
    bool any = false;
    /* With annotations wanted every branch runs: each valid one contributes. */
    for (uint32_t i = 0; i < n->n_any && (!any || L); i++)
      if (probe(c, n->any_of[i], v, L)) any = true;
    if (!any) ok = vfail(c, n, "anyOf", "does not match any of the alternatives");
  }
  if (n->n_one) {
    unsigned matches = 0;
    evset tmp;
    if (L) ev_init(&tmp, L->n);
    for (uint32_t i = 0; i < n->n_one; i++)
      if (probe(c, n->one_of[i], v, L ? &tmp : NULL)) matches++;
    if (matches != 1) ok = vfail(c, n, "oneOf", "matches %u of the alternatives, not exactly one", matches);
    else if (L) ev_merge(L, &tmp);
    if (L) ev_free(&tmp);
  }
  if (n->not_ && probe(c, n->not_, v, NULL)) ok = vfail(c, n, "not", "matches a schema it must not match");
  if (n->if_) {
    if (probe(c, n->if_, v, L)) {
      if (n->then_ && !apply(c, n->then_, v, L)) ok = false;
    } else if (n->else_ && !apply(c, n->else_, v, L)) {
      ok = false;
    }
  }
  if (v->type == HL_JSON_OBJECT)
    for (uint32_t i = 0; i < n->n_depsch && charge(c, 1 + v->len / 16); i++)
      if (hl_json_getn(v, n->depsch[i].key, n->depsch[i].len) && !apply(c, n->depsch[i].n, v, L)) ok = false;
  /* Last: what no other keyword evaluated. */
  if (n->uneval_props && v->type == HL_JSON_OBJECT)
    for (uint32_t i = 0; i < v->len; i++) {
      if (ev_get(L, i)) continue;
      const hl_json_member *m = &v->u.members[i];
      seg_key(c, m->key, m->key_len);
      bool good = validate(c, n->uneval_props, &m->value, NULL);
      seg_pop(c);
      if (!good) {
        if (n->uneval_props->boolean == 0)
          vfail(c, n, "unevaluatedProperties", "the property \"%.60s\" is not allowed", m->key);
        ok = false;
      }
      ev_set(L, i);
    }
  if (n->uneval_items && v->type == HL_JSON_ARRAY)
    for (uint32_t i = 0; i < v->len; i++) {
      if (ev_get(L, i)) continue;
      seg_index(c, i);
      bool good = validate(c, n->uneval_items, &v->u.items[i], NULL);
      seg_pop(c);
      if (!good) {
        if (n->uneval_items->boolean == 0) vfail(c, n, "unevaluatedItems", "item %u is not allowed", i);
        ok = false;
      }
      ev_set(L, i);
    }
done:
  if (L) {
    if (ok && out) ev_merge(out, L);
    ev_free(L);
  }
  if (pushed) c->nscope--;
  c->depth--;
  return ok;
}

hl_schema_verdict hl_schema_check(const hl_schema *s, const hl_json *instance, hl_schema_budget *budget,
                                  hl_schema_errors *errs) {
  vctx c;
  c.s = s;
  c.errs = errs;
  c.quiet = 0;
  c.depth = 0;
  c.nscope = 0;
  c.nsegs = 0;
  c.budget = budget;
  c.exhausted = false;
  if (errs) hl_schema_errors_init(errs);
  bool ok = validate(&c, s->root, instance, NULL);
  if (!c.exhausted) return ok ? HL_SCHEMA_VALID : HL_SCHEMA_INVALID;
  if (errs) {
    /* What was found before the budget ran out is incomplete: report only
     * that the event is beyond what one validation may spend. */
    hl_schema_errors_init(errs);
    errs->total = errs->count = 1;
    hl_schema_error *e = &errs->items[0];
    snprintf(e->instance_path, sizeof e->instance_path, "%s", c.exhausted_at);
    snprintf(e->keyword, sizeof e->keyword, "too_complex");
    snprintf(e->schema_path, sizeof e->schema_path, "%s", "");
    const char *where = c.exhausted_at[0] ? c.exhausted_at : "(root)";
    if (strcmp(c.exhausted_by, "nesting") == 0)
      snprintf(e->message, sizeof e->message,
               "%.100s: validating this event nests subschemas deeper than %d levels", where, HL_SCHEMA_MAX_NESTING);
    else
      snprintf(e->message, sizeof e->message, "%.100s: validating this event takes more than the %s budget allows",
               where, strcmp(c.exhausted_by, "regex") == 0 ? "pattern-matching" : "validation-step");
  }
  return HL_SCHEMA_TOO_COMPLEX;
}

hl_schema_budget hl_schema_budget_for(size_t bytes) {
  uint64_t n = HL_MAX((uint64_t)HL_SCHEMA_MIN_BUDGET, (uint64_t)bytes * HL_SCHEMA_STEPS_PER_BYTE);
  return (hl_schema_budget){n, n};
}

bool hl_schema_validate(const hl_schema *s, const hl_json *instance, hl_schema_errors *errs) {
  hl_schema_budget b = hl_schema_budget_for((size_t)16 << 20);
  return hl_schema_check(s, instance, &b, errs) == HL_SCHEMA_VALID;
}
