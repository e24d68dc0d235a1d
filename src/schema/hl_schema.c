#include "schema/hl_schema.h"
#include "common/hl_buf.h"
#include "common/hl_common.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <arpa/inet.h>
#include <pcre2.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct {
  const hl_json *node;   /* the pattern string (or patternProperties member key holder) */
  const char *text;
  pcre2_code *re;
} regex_entry;

struct hl_schema {
  hl_json_doc doc;       /* private copy of the schema document */
  hl_schema_options opt;
  hl_schema_draft draft;
  regex_entry *regexes;
  size_t nregexes, capregexes;
};

/* --- errors ------------------------------------------------------------------------ */

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

static void path_pop(path *p, size_t old) {
  p->len = old;
  p->buf[old] = '\0';
}

typedef struct {
  const hl_schema *s;
  hl_schema_errors *errs;
  int quiet;             /* > 0 while probing branches (anyOf, not, if): no errors recorded */
  int depth;
  path ipath, spath;
} vctx;

static void add_error(hl_schema_errors *errs, const char *ipath, const char *spath, const char *kw,
                      const char *fmt, va_list ap) {
  errs->total++;
  if (errs->count >= HL_SCHEMA_MAX_ERRORS) return;
  hl_schema_error *e = &errs->items[errs->count++];
  snprintf(e->instance_path, sizeof e->instance_path, "%s", ipath);
  snprintf(e->keyword, sizeof e->keyword, "%s", kw);
  int n = snprintf(e->schema_path, sizeof e->schema_path, "%s/%s", spath, kw);
  (void)n;
  char msg[200];
  vsnprintf(msg, sizeof msg, fmt, ap);
  snprintf(e->message, sizeof e->message, "%s: %s", ipath[0] ? ipath : "(root)", msg);
}

static bool fail_kw(vctx *c, const char *kw, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static bool fail_kw(vctx *c, const char *kw, const char *fmt, ...) {
  if (c->quiet || !c->errs) return false;
  va_list ap;
  va_start(ap, fmt);
  add_error(c->errs, c->ipath.buf, c->spath.buf, kw, fmt, ap);
  va_end(ap);
  return false;
}

/* --- helpers ------------------------------------------------------------------------ */

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

static bool type_matches(const hl_json *v, const char *t, size_t tl) {
#define IS(x) (tl == sizeof(x) - 1 && memcmp(t, x, tl) == 0)
  if (IS("null")) return v->type == HL_JSON_NULL;
  if (IS("boolean")) return v->type == HL_JSON_TRUE || v->type == HL_JSON_FALSE;
  if (IS("object")) return v->type == HL_JSON_OBJECT;
  if (IS("array")) return v->type == HL_JSON_ARRAY;
  if (IS("string")) return v->type == HL_JSON_STRING;
  if (IS("number")) return v->type == HL_JSON_NUMBER;
  if (IS("integer")) return v->type == HL_JSON_NUMBER && hl_decimal_is_integer(v->u.str, v->len);
#undef IS
  return false;
}

static const pcre2_code *regex_for(const hl_schema *s, const char *text) {
  for (size_t i = 0; i < s->nregexes; i++)
    if (s->regexes[i].text == text) return s->regexes[i].re;
  return NULL;
}

static bool regex_match(const hl_schema *s, const char *pattern, const char *str, size_t len) {
  const pcre2_code *re = regex_for(s, pattern);
  if (!re) return true; /* compile checked every pattern; not reached */
  pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
  int rc = pcre2_match(re, (PCRE2_SPTR)str, len, 0, 0, md, NULL);
  pcre2_match_data_free(md);
  return rc >= 0;
}

static bool format_ok(const char *fmt, const char *s, size_t n) {
  char buf[300];
  if (n >= sizeof buf) return strcmp(fmt, "email") != 0 || memchr(s, '@', n) != NULL;
  memcpy(buf, s, n);
  buf[n] = '\0';
  int y, mo, d, h, mi, sec, used = 0;
  if (strcmp(fmt, "date") == 0)
    return sscanf(buf, "%4d-%2d-%2d%n", &y, &mo, &d, &used) == 3 && used == 10 && (size_t)used == n &&
           mo >= 1 && mo <= 12 && d >= 1 && d <= 31;
  if (strcmp(fmt, "date-time") == 0) {
    if (sscanf(buf, "%4d-%2d-%2d%*[Tt]%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &used) != 6 || used != 19)
      return false;
    const char *r = buf + used;
    if (*r == '.') { r++; if (*r < '0' || *r > '9') return false; while (*r >= '0' && *r <= '9') r++; }
    if (*r == 'Z' || *r == 'z') r++;
    else if ((*r == '+' || *r == '-') && strlen(r) == 6 && r[3] == ':') r += 6;
    else return false;
    return *r == '\0' && mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h <= 23 && mi <= 59 && sec <= 60;
  }
  if (strcmp(fmt, "email") == 0) {
    const char *at = strchr(buf, '@');
    return at && at != buf && at[1] && !strchr(at + 1, '@');
  }
  if (strcmp(fmt, "ipv4") == 0) {
    struct in_addr a;
    return inet_pton(AF_INET, buf, &a) == 1;
  }
  if (strcmp(fmt, "ipv6") == 0) {
    struct in6_addr a;
    return inet_pton(AF_INET6, buf, &a) == 1;
  }
  if (strcmp(fmt, "uuid") == 0) {
    if (n != 36) return false;
    for (size_t i = 0; i < 36; i++) {
      bool dash = i == 8 || i == 13 || i == 18 || i == 23;
      char ch = buf[i];
      if (dash ? ch != '-' : !((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F')))
        return false;
    }
    return true;
  }
  if (strcmp(fmt, "hostname") == 0) {
    if (n == 0 || n > 253) return false;
    size_t label = 0;
    for (size_t i = 0; i < n; i++) {
      char ch = buf[i];
      if (ch == '.') { if (label == 0) return false; label = 0; continue; }
      if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-')) return false;
      if (++label > 63) return false;
    }
    return label > 0;
  }
  if (strcmp(fmt, "uri") == 0) {
    const char *colon = strchr(buf, ':');
    if (!colon || colon == buf) return false;
    for (const char *p = buf; p < colon; p++)
      if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (p > buf && ((*p >= '0' && *p <= '9') || *p == '+' || *p == '-' || *p == '.'))))
        return false;
    return strchr(buf, ' ') == NULL;
  }
  return true; /* unknown formats are annotations */
}

/* Resolves a local "$ref" ("#", "#/json/pointer" with %-escapes). */
static const hl_json *resolve_ref(const hl_schema *s, const char *ref, size_t len) {
  if (len == 0 || ref[0] != '#') return NULL;
  char ptr[512];
  size_t o = 0;
  for (size_t i = 1; i < len && o + 1 < sizeof ptr; i++) {
    if (ref[i] == '%' && i + 2 < len) {
      char hex[3] = {ref[i + 1], ref[i + 2], 0};
      ptr[o++] = (char)strtol(hex, NULL, 16);
      i += 2;
    } else {
      ptr[o++] = ref[i];
    }
  }
  ptr[o] = '\0';
  return hl_json_pointer(s->doc.root, ptr, o);
}

/* --- validation -------------------------------------------------------------------- */

static bool validate(vctx *c, const hl_json *sch, const hl_json *v);

/* Validates v against a subschema reached through keyword kw (and index/key). */
static bool sub(vctx *c, const hl_json *sch, const hl_json *v, const char *kw, const char *key, size_t klen,
                long idx) {
  size_t old = path_push(&c->spath, kw, strlen(kw));
  if (key) path_push(&c->spath, key, klen);
  if (idx >= 0) path_push_index(&c->spath, (size_t)idx);
  bool ok = validate(c, sch, v);
  path_pop(&c->spath, old);
  return ok;
}

static bool probe(vctx *c, const hl_json *sch, const hl_json *v) {
  c->quiet++;
  bool ok = validate(c, sch, v);
  c->quiet--;
  return ok;
}

static bool v_number(vctx *c, const hl_json *sch, const hl_json *v) {
  bool ok = true;
  char a[64], b[64];
  const hl_json *k;
#define NUMCMP(x) hl_decimal_cmp(v->u.str, v->len, (x)->u.str, (x)->len)
  if ((k = hl_json_get(sch, "minimum")) && k->type == HL_JSON_NUMBER && NUMCMP(k) < 0)
    ok = fail_kw(c, "minimum", "%s is less than minimum %s", short_value(v, a, 64), short_value(k, b, 64));
  if ((k = hl_json_get(sch, "maximum")) && k->type == HL_JSON_NUMBER && NUMCMP(k) > 0)
    ok = fail_kw(c, "maximum", "%s is greater than maximum %s", short_value(v, a, 64), short_value(k, b, 64));
  if ((k = hl_json_get(sch, "exclusiveMinimum")) && k->type == HL_JSON_NUMBER && NUMCMP(k) <= 0)
    ok = fail_kw(c, "exclusiveMinimum", "%s is not greater than %s", short_value(v, a, 64), short_value(k, b, 64));
  if ((k = hl_json_get(sch, "exclusiveMaximum")) && k->type == HL_JSON_NUMBER && NUMCMP(k) >= 0)
    ok = fail_kw(c, "exclusiveMaximum", "%s is not less than %s", short_value(v, a, 64), short_value(k, b, 64));
  if ((k = hl_json_get(sch, "multipleOf")) && k->type == HL_JSON_NUMBER &&
      !hl_decimal_is_multiple(v->u.str, v->len, k->u.str, k->len))
    ok = fail_kw(c, "multipleOf", "%s is not a multiple of %s", short_value(v, a, 64), short_value(k, b, 64));
#undef NUMCMP
  return ok;
}

static bool v_string(vctx *c, const hl_json *sch, const hl_json *v) {
  bool ok = true;
  const hl_json *k;
  int64_t n;
  size_t len = 0;
  bool counted = false;
  if ((k = hl_json_get(sch, "minLength")) && hl_json_int64(k, &n) == 0) {
    len = codepoints(v->u.str, v->len);
    counted = true;
    if ((int64_t)len < n) ok = fail_kw(c, "minLength", "is shorter than %lld characters", (long long)n);
  }
  if ((k = hl_json_get(sch, "maxLength")) && hl_json_int64(k, &n) == 0) {
    if (!counted) len = codepoints(v->u.str, v->len);
    if ((int64_t)len > n) ok = fail_kw(c, "maxLength", "is longer than %lld characters", (long long)n);
  }
  if ((k = hl_json_get(sch, "pattern")) && k->type == HL_JSON_STRING &&
      !regex_match(c->s, k->u.str, v->u.str, v->len))
    ok = fail_kw(c, "pattern", "does not match the pattern %.80s", k->u.str);
  if ((k = hl_json_get(sch, "format")) && k->type == HL_JSON_STRING && c->s->opt.format_assertion &&
      !format_ok(k->u.str, v->u.str, v->len))
    ok = fail_kw(c, "format", "is not a valid %s", k->u.str);
  return ok;
}

static bool v_array(vctx *c, const hl_json *sch, const hl_json *v) {
  bool ok = true;
  const hl_json *k;
  int64_t n;
  if ((k = hl_json_get(sch, "minItems")) && hl_json_int64(k, &n) == 0 && (int64_t)v->len < n)
    ok = fail_kw(c, "minItems", "has %u items, fewer than %lld", v->len, (long long)n);
  if ((k = hl_json_get(sch, "maxItems")) && hl_json_int64(k, &n) == 0 && (int64_t)v->len > n)
    ok = fail_kw(c, "maxItems", "has %u items, more than %lld", v->len, (long long)n);
  if ((k = hl_json_get(sch, "uniqueItems")) && k->type == HL_JSON_TRUE) {
    for (uint32_t i = 0; i < v->len && ok; i++)
      for (uint32_t j = i + 1; j < v->len; j++)
        if (hl_json_equal(&v->u.items[i], &v->u.items[j])) {
          ok = fail_kw(c, "uniqueItems", "items %u and %u are equal", i, j);
          break;
        }
  }
  /* Positional items: prefixItems (2020-12) or an items array (draft-07). */
  const hl_json *prefix = c->s->draft == HL_DRAFT_2020_12 ? hl_json_get(sch, "prefixItems") : NULL;
  const hl_json *items = hl_json_get(sch, "items");
  const char *prefix_kw = "prefixItems", *rest_kw = "items";
  if (c->s->draft == HL_DRAFT_07 && items && items->type == HL_JSON_ARRAY) {
    prefix = items;
    prefix_kw = "items";
    items = hl_json_get(sch, "additionalItems");
    rest_kw = "additionalItems";
  } else if (c->s->draft == HL_DRAFT_07) {
    prefix = NULL;
  }
  uint32_t np = prefix && prefix->type == HL_JSON_ARRAY ? prefix->len : 0;
  for (uint32_t i = 0; i < v->len; i++) {
    const hl_json *ss = i < np ? &prefix->u.items[i] : items;
    if (!ss || ss->type == HL_JSON_ARRAY) continue;
    size_t old = path_push_index(&c->ipath, i);
    if (!sub(c, ss, &v->u.items[i], i < np ? prefix_kw : rest_kw, NULL, 0, i < np ? (long)i : -1)) ok = false;
    path_pop(&c->ipath, old);
  }
  if ((k = hl_json_get(sch, "contains")) != NULL) {
    int64_t minc = 1, maxc = -1;
    const hl_json *t;
    if ((t = hl_json_get(sch, "minContains")) && c->s->draft == HL_DRAFT_2020_12) hl_json_int64(t, &minc);
    if ((t = hl_json_get(sch, "maxContains")) && c->s->draft == HL_DRAFT_2020_12) hl_json_int64(t, &maxc);
    int64_t found = 0;
    for (uint32_t i = 0; i < v->len; i++) found += probe(c, k, &v->u.items[i]);
    if (found < minc) ok = fail_kw(c, "contains", "has %lld matching items, fewer than %lld", (long long)found, (long long)minc);
    if (maxc >= 0 && found > maxc) ok = fail_kw(c, "maxContains", "has %lld matching items, more than %lld", (long long)found, (long long)maxc);
  }
  return ok;
}

static bool v_object(vctx *c, const hl_json *sch, const hl_json *v) {
  bool ok = true;
  const hl_json *k;
  int64_t n;
  if ((k = hl_json_get(sch, "minProperties")) && hl_json_int64(k, &n) == 0 && (int64_t)v->len < n)
    ok = fail_kw(c, "minProperties", "has fewer than %lld properties", (long long)n);
  if ((k = hl_json_get(sch, "maxProperties")) && hl_json_int64(k, &n) == 0 && (int64_t)v->len > n)
    ok = fail_kw(c, "maxProperties", "has more than %lld properties", (long long)n);
  if ((k = hl_json_get(sch, "required")) && k->type == HL_JSON_ARRAY)
    for (uint32_t i = 0; i < k->len; i++) {
      const hl_json *r = &k->u.items[i];
      if (r->type == HL_JSON_STRING && !hl_json_getn(v, r->u.str, r->len))
        ok = fail_kw(c, "required", "the property \"%.60s\" is required", r->u.str);
    }
  const hl_json *dr = hl_json_get(sch, c->s->draft == HL_DRAFT_07 ? "dependencies" : "dependentRequired");
  if (dr && dr->type == HL_JSON_OBJECT)
    for (uint32_t i = 0; i < dr->len; i++) {
      const hl_json_member *m = &dr->u.members[i];
      if (m->value.type != HL_JSON_ARRAY || !hl_json_getn(v, m->key, m->key_len)) continue;
      for (uint32_t j = 0; j < m->value.len; j++) {
        const hl_json *r = &m->value.u.items[j];
        if (r->type == HL_JSON_STRING && !hl_json_getn(v, r->u.str, r->len))
          ok = fail_kw(c, c->s->draft == HL_DRAFT_07 ? "dependencies" : "dependentRequired",
                       "\"%.40s\" requires \"%.40s\"", m->key, r->u.str);
      }
    }
  const hl_json *ds = hl_json_get(sch, c->s->draft == HL_DRAFT_07 ? "dependencies" : "dependentSchemas");
  if (ds && ds->type == HL_JSON_OBJECT)
    for (uint32_t i = 0; i < ds->len; i++) {
      const hl_json_member *m = &ds->u.members[i];
      if (m->value.type == HL_JSON_ARRAY || !hl_json_getn(v, m->key, m->key_len)) continue;
      if (!sub(c, &m->value, v, c->s->draft == HL_DRAFT_07 ? "dependencies" : "dependentSchemas", m->key, m->key_len, -1))
        ok = false;
    }
  const hl_json *props = hl_json_get(sch, "properties"), *pprops = hl_json_get(sch, "patternProperties");
  const hl_json *addl = hl_json_get(sch, "additionalProperties"), *pnames = hl_json_get(sch, "propertyNames");
  for (uint32_t i = 0; i < v->len; i++) {
    const hl_json_member *m = &v->u.members[i];
    bool matched = false;
    size_t old = path_push(&c->ipath, m->key, m->key_len);
    const hl_json *ps = props ? hl_json_getn(props, m->key, m->key_len) : NULL;
    if (ps) {
      matched = true;
      if (!sub(c, ps, &m->value, "properties", m->key, m->key_len, -1)) ok = false;
    }
    if (pprops && pprops->type == HL_JSON_OBJECT)
      for (uint32_t j = 0; j < pprops->len; j++) {
        const hl_json_member *pm = &pprops->u.members[j];
        if (!regex_match(c->s, pm->key, m->key, m->key_len)) continue;
        matched = true;
        if (!sub(c, &pm->value, &m->value, "patternProperties", pm->key, pm->key_len, -1)) ok = false;
      }
    if (!matched && addl && !sub(c, addl, &m->value, "additionalProperties", NULL, 0, -1)) {
      if (addl->type == HL_JSON_FALSE) {
        path_pop(&c->ipath, old);
        ok = fail_kw(c, "additionalProperties", "the property \"%.60s\" is not allowed", m->key);
        old = path_push(&c->ipath, m->key, m->key_len);
      }
      ok = false;
    }
    path_pop(&c->ipath, old);
    if (pnames) {
      hl_json name = {.type = HL_JSON_STRING, .len = m->key_len, .u.str = m->key};
      if (!probe(c, pnames, &name))
        ok = fail_kw(c, "propertyNames", "the property name \"%.60s\" is not allowed", m->key);
    }
  }
  return ok;
}

static bool validate(vctx *c, const hl_json *sch, const hl_json *v) {
  if (sch->type == HL_JSON_TRUE) return true;
  if (sch->type == HL_JSON_FALSE) return fail_kw(c, "false", "no value is allowed here");
  if (sch->type != HL_JSON_OBJECT) return true;
  if (++c->depth > 128) {
    c->depth--;
    return fail_kw(c, "$ref", "schema references nest deeper than 128 levels");
  }
  bool ok = true;
  const hl_json *k;
  char a[64];
  if ((k = hl_json_get(sch, "$ref")) && k->type == HL_JSON_STRING) {
    const hl_json *target = resolve_ref(c->s, k->u.str, k->len);
    if (target) {
      /* Errors under a $ref point into the schema at the referenced place. */
      path saved = c->spath;
      snprintf(c->spath.buf, sizeof c->spath.buf, "%.*s", (int)HL_MIN(k->len - 1, 250u), k->u.str + 1);
      c->spath.len = strlen(c->spath.buf);
      if (!validate(c, target, v)) ok = false;
      c->spath = saved;
    }
    if (c->s->draft == HL_DRAFT_07) { c->depth--; return ok; } /* draft-07: $ref overrides siblings */
  }
  if ((k = hl_json_get(sch, "type")) != NULL) {
    bool tm = false;
    if (k->type == HL_JSON_STRING) tm = type_matches(v, k->u.str, k->len);
    else if (k->type == HL_JSON_ARRAY)
      for (uint32_t i = 0; i < k->len && !tm; i++)
        tm = k->u.items[i].type == HL_JSON_STRING && type_matches(v, k->u.items[i].u.str, k->u.items[i].len);
    if (!tm) {
      ok = fail_kw(c, "type", "expected %s%.40s%s, got %s", k->type == HL_JSON_STRING ? "" : "one of ",
                   k->type == HL_JSON_STRING ? k->u.str : "the listed types", "",
                   v->type == HL_JSON_NUMBER && hl_decimal_is_integer(v->u.str, v->len) ? "integer"
                                                                                        : hl_json_type_name(v->type));
      c->depth--;
      return ok; /* the other keywords would only repeat the mismatch */
    }
  }
  if ((k = hl_json_get(sch, "enum")) && k->type == HL_JSON_ARRAY) {
    bool found = false;
    for (uint32_t i = 0; i < k->len && !found; i++) found = hl_json_equal(v, &k->u.items[i]);
    if (!found) ok = fail_kw(c, "enum", "%s is not one of the allowed values", short_value(v, a, 64));
  }
  if ((k = hl_json_get(sch, "const")) && !hl_json_equal(v, k))
    ok = fail_kw(c, "const", "%s is not the required value", short_value(v, a, 64));
  switch (v->type) {
  case HL_JSON_NUMBER: if (!v_number(c, sch, v)) ok = false; break;
  case HL_JSON_STRING: if (!v_string(c, sch, v)) ok = false; break;
  case HL_JSON_ARRAY: if (!v_array(c, sch, v)) ok = false; break;
  case HL_JSON_OBJECT: if (!v_object(c, sch, v)) ok = false; break;
  default: break;
  }
  if ((k = hl_json_get(sch, "allOf")) && k->type == HL_JSON_ARRAY)
    for (uint32_t i = 0; i < k->len; i++)
      if (!sub(c, &k->u.items[i], v, "allOf", NULL, 0, (long)i)) ok = false;
  if ((k = hl_json_get(sch, "anyOf")) && k->type == HL_JSON_ARRAY) {
    bool any = false;
    for (uint32_t i = 0; i < k->len && !any; i++) any = probe(c, &k->u.items[i], v);
    if (!any) ok = fail_kw(c, "anyOf", "does not match any of the alternatives");
  }
  if ((k = hl_json_get(sch, "oneOf")) && k->type == HL_JSON_ARRAY) {
    unsigned matches = 0;
    for (uint32_t i = 0; i < k->len; i++) matches += probe(c, &k->u.items[i], v);
    if (matches != 1) ok = fail_kw(c, "oneOf", "matches %u of the alternatives, not exactly one", matches);
  }
  if ((k = hl_json_get(sch, "not")) && probe(c, k, v)) ok = fail_kw(c, "not", "matches a schema it must not match");
  if ((k = hl_json_get(sch, "if")) != NULL) {
    const hl_json *branch = probe(c, k, v) ? hl_json_get(sch, "then") : hl_json_get(sch, "else");
    if (branch && !sub(c, branch, v, branch == hl_json_get(sch, "then") ? "then" : "else", NULL, 0, -1)) ok = false;
  }
  c->depth--;
  return ok;
}

bool hl_schema_validate(const hl_schema *s, const hl_json *instance, hl_schema_errors *errs) {
  vctx c = {.s = s, .errs = errs};
  if (errs) hl_schema_errors_init(errs);
  return validate(&c, s->doc.root, instance);
}

/* --- compiling: check the schema document -------------------------------------------- */

typedef struct {
  hl_schema *s;
  hl_schema_errors *errs;
  path spath;
  int rc;
} cctx;

static void cfail(cctx *c, const char *kw, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void cfail(cctx *c, const char *kw, const char *fmt, ...) {
  c->rc = HL_EINVAL;
  if (!c->errs) return;
  va_list ap;
  va_start(ap, fmt);
  /* Errors about the schema carry the schema pointer in both paths. */
  add_error(c->errs, c->spath.buf, c->spath.buf, kw, fmt, ap);
  va_end(ap);
}

static void add_regex(cctx *c, const char *text, size_t len, const char *kw) {
  int errcode;
  PCRE2_SIZE erroff;
  pcre2_code *re = pcre2_compile((PCRE2_SPTR)text, len, PCRE2_UTF | PCRE2_NO_UTF_CHECK, &errcode, &erroff, NULL);
  if (!re) {
    PCRE2_UCHAR msg[120];
    pcre2_get_error_message(errcode, msg, sizeof msg);
    cfail(c, kw, "the pattern is not a valid regular expression (%s at offset %zu)", (char *)msg, (size_t)erroff);
    return;
  }
  hl_schema *s = c->s;
  if (s->nregexes == s->capregexes) {
    s->capregexes = s->capregexes ? s->capregexes * 2 : 8;
    s->regexes = hl_realloc(s->regexes, s->capregexes * sizeof *s->regexes);
  }
  s->regexes[s->nregexes++] = (regex_entry){NULL, text, re};
}

static void check_schema(cctx *c, const hl_json *sch, int depth);

static void check_sub(cctx *c, const hl_json *sch, const char *kw, const char *key, size_t klen, long idx, int depth) {
  size_t old = path_push(&c->spath, kw, strlen(kw));
  if (key) path_push(&c->spath, key, klen);
  if (idx >= 0) path_push_index(&c->spath, (size_t)idx);
  check_schema(c, sch, depth + 1);
  path_pop(&c->spath, old);
}

static bool nonneg_int(const hl_json *v) {
  int64_t n;
  return v->type == HL_JSON_NUMBER && hl_json_int64(v, &n) == 0 && n >= 0;
}

static void check_schema(cctx *c, const hl_json *sch, int depth) {
  if (depth > 200) { cfail(c, "$schema", "the schema nests too deeply"); return; }
  if (sch->type == HL_JSON_TRUE || sch->type == HL_JSON_FALSE) return;
  if (sch->type != HL_JSON_OBJECT) { cfail(c, "type", "a schema must be an object or a boolean"); return; }
  static const char *single[] = {"additionalProperties", "additionalItems", "not", "if", "then", "else",
                                 "contains", "propertyNames", "unevaluatedProperties", "unevaluatedItems"};
  static const char *lists[] = {"allOf", "anyOf", "oneOf", "prefixItems"};
  static const char *maps[] = {"properties", "$defs", "definitions", "dependentSchemas"};
  static const char *counts[] = {"minLength", "maxLength", "minItems", "maxItems", "minProperties",
                                 "maxProperties", "minContains", "maxContains"};
  static const char *nums[] = {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"};
  static const char *types[] = {"null", "boolean", "object", "array", "number", "string", "integer"};
  for (uint32_t i = 0; i < sch->len; i++) {
    const hl_json_member *m = &sch->u.members[i];
    const char *kw = m->key;
    const hl_json *v = &m->value;
    size_t old = c->spath.len;
    bool handled = false;
    for (size_t k = 0; k < HL_ARRAY_SIZE(single); k++)
      if (strcmp(kw, single[k]) == 0) { check_sub(c, v, kw, NULL, 0, -1, depth); handled = true; }
    for (size_t k = 0; !handled && k < HL_ARRAY_SIZE(lists); k++)
      if (strcmp(kw, lists[k]) == 0) {
        handled = true;
        if (v->type != HL_JSON_ARRAY || v->len == 0) cfail(c, kw, "expected a non-empty array of schemas");
        else for (uint32_t j = 0; j < v->len; j++) check_sub(c, &v->u.items[j], kw, NULL, 0, (long)j, depth);
      }
    for (size_t k = 0; !handled && k < HL_ARRAY_SIZE(maps); k++)
      if (strcmp(kw, maps[k]) == 0) {
        handled = true;
        if (v->type != HL_JSON_OBJECT) cfail(c, kw, "expected an object of schemas");
        else for (uint32_t j = 0; j < v->len; j++)
          check_sub(c, &v->u.members[j].value, kw, v->u.members[j].key, v->u.members[j].key_len, -1, depth);
      }
    for (size_t k = 0; !handled && k < HL_ARRAY_SIZE(counts); k++)
      if (strcmp(kw, counts[k]) == 0) {
        handled = true;
        if (!nonneg_int(v)) cfail(c, kw, "expected a non-negative integer");
      }
    for (size_t k = 0; !handled && k < HL_ARRAY_SIZE(nums); k++)
      if (strcmp(kw, nums[k]) == 0) {
        handled = true;
        if (v->type != HL_JSON_NUMBER) cfail(c, kw, "expected a number");
        else if (strcmp(kw, "multipleOf") == 0 && hl_decimal_cmp(v->u.str, v->len, "0", 1) <= 0)
          cfail(c, kw, "expected a number greater than 0");
      }
    if (handled) { path_pop(&c->spath, old); continue; }
    if (strcmp(kw, "type") == 0) {
      bool good = v->type == HL_JSON_STRING || (v->type == HL_JSON_ARRAY && v->len > 0);
      for (uint32_t j = 0; good && j < (v->type == HL_JSON_ARRAY ? v->len : 1); j++) {
        const hl_json *t = v->type == HL_JSON_ARRAY ? &v->u.items[j] : v;
        bool known = false;
        for (size_t k = 0; t->type == HL_JSON_STRING && k < HL_ARRAY_SIZE(types); k++)
          known = known || strcmp(t->u.str, types[k]) == 0;
        good = known;
      }
      if (!good) cfail(c, "type", "expected one of null, boolean, object, array, number, string, integer (or an array of them)");
    } else if (strcmp(kw, "items") == 0) {
      if (v->type == HL_JSON_ARRAY && c->s->draft == HL_DRAFT_07)
        for (uint32_t j = 0; j < v->len; j++) check_sub(c, &v->u.items[j], kw, NULL, 0, (long)j, depth);
      else check_sub(c, v, kw, NULL, 0, -1, depth);
    } else if (strcmp(kw, "enum") == 0) {
      if (v->type != HL_JSON_ARRAY) cfail(c, kw, "expected an array of values");
    } else if (strcmp(kw, "required") == 0) {
      bool good = v->type == HL_JSON_ARRAY;
      for (uint32_t j = 0; good && j < v->len; j++) good = v->u.items[j].type == HL_JSON_STRING;
      if (!good) cfail(c, kw, "expected an array of property names");
    } else if (strcmp(kw, "uniqueItems") == 0) {
      if (!hl_json_is_bool(v)) cfail(c, kw, "expected true or false");
    } else if (strcmp(kw, "pattern") == 0) {
      if (v->type != HL_JSON_STRING) cfail(c, kw, "expected a regular expression string");
      else add_regex(c, v->u.str, v->len, kw);
    } else if (strcmp(kw, "patternProperties") == 0) {
      if (v->type != HL_JSON_OBJECT) cfail(c, kw, "expected an object of pattern to schema");
      else for (uint32_t j = 0; j < v->len; j++) {
        size_t o2 = path_push(&c->spath, kw, strlen(kw));
        add_regex(c, v->u.members[j].key, v->u.members[j].key_len, kw);
        path_pop(&c->spath, o2);
        check_sub(c, &v->u.members[j].value, kw, v->u.members[j].key, v->u.members[j].key_len, -1, depth);
      }
    } else if (strcmp(kw, "dependentRequired") == 0 || strcmp(kw, "dependencies") == 0) {
      if (v->type != HL_JSON_OBJECT) cfail(c, kw, "expected an object");
      else for (uint32_t j = 0; j < v->len; j++)
        if (v->u.members[j].value.type != HL_JSON_ARRAY)
          check_sub(c, &v->u.members[j].value, kw, v->u.members[j].key, v->u.members[j].key_len, -1, depth);
    } else if (strcmp(kw, "$ref") == 0) {
      if (v->type != HL_JSON_STRING) cfail(c, kw, "expected a URI reference string");
      else if (v->len > 0 && v->u.str[0] == '#' && !resolve_ref(c->s, v->u.str, v->len))
        cfail(c, kw, "the reference %.80s does not resolve within this schema", v->u.str);
      else if (v->len == 0 || v->u.str[0] != '#')
        cfail(c, kw, "only references within the schema (\"#/...\") are supported; inline %.80s", v->u.str);
    } else if (strcmp(kw, "format") == 0) {
      if (v->type != HL_JSON_STRING) cfail(c, kw, "expected a string");
    }
    path_pop(&c->spath, old);
  }
}

int hl_schema_compile(const hl_json *schema, const hl_schema_options *opt, hl_schema **out,
                      hl_schema_errors *errs) {
  hl_schema *s = hl_calloc(1, sizeof *s);
  if (opt) s->opt = *opt;
  if (errs) hl_schema_errors_init(errs);
  hl_json_doc_init(&s->doc);
  hl_buf copy = HL_BUF_INIT;
  hl_jw w;
  hl_jw_init(&w, &copy);
  hl_jw_value(&w, schema);
  int rc = hl_json_parse(&s->doc, copy.data, copy.len, NULL);
  hl_buf_dispose(&copy);
  if (rc != 0) { hl_schema_free(s); return HL_EINTERNAL; }
  s->draft = s->opt.default_draft;
  const char *dialect = hl_json_str(hl_json_get(s->doc.root, "$schema"));
  if (dialect && strstr(dialect, "draft-07")) s->draft = HL_DRAFT_07;
  else if (dialect && strstr(dialect, "2020-12")) s->draft = HL_DRAFT_2020_12;
  cctx c = {.s = s, .errs = errs};
  check_schema(&c, s->doc.root, 0);
  if (c.rc != 0) {
    hl_schema_free(s);
    *out = NULL;
    return c.rc;
  }
  *out = s;
  return 0;
}

void hl_schema_free(hl_schema *s) {
  if (!s) return;
  for (size_t i = 0; i < s->nregexes; i++) pcre2_code_free(s->regexes[i].re);
  hl_free(s->regexes);
  hl_json_doc_dispose(&s->doc);
  hl_free(s);
}
