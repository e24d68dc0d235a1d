/* hl_schema_meta.c — registered schemas checked against their dialect's
 * meta-schema (draft 2020-12 or draft-07), compiled once from the bundled
 * documents (hl_schema_docs.h) by a "$ref" to them. */
#include "schema/hl_schema.h"
#include "common/hl_buf.h"
#include "common/hl_common.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* The two meta-schemas compiled once, for the process. */
static hl_schema *meta_2020, *meta_07;
static pthread_once_t meta_once = PTHREAD_ONCE_INIT;

static hl_schema *compile_ref(const char *uri) {
  char text[160];
  snprintf(text, sizeof text, "{\"$ref\":\"%s\"}", uri);
  hl_json_doc d;
  hl_json_doc_init(&d);
  hl_schema *s = NULL;
  if (hl_json_parse(&d, text, strlen(text), NULL) == 0) hl_schema_compile(d.root, NULL, &s, NULL);
  hl_json_doc_dispose(&d);
  return s;
}

static void compile_metas(void) {
  meta_2020 = compile_ref("https://json-schema.org/draft/2020-12/schema");
  meta_07 = compile_ref("http://json-schema.org/draft-07/schema#");
}

/* A compound document (2020-12 Core 9.3.3): a subschema whose "$schema"
 * names the other dialect read here is a resource of that dialect, read
 * so by the compiler, and is checked against that dialect's meta-schema
 * rather than the enclosing one's (which refused, e.g., a draft-07 tuple
 * "items" inside a 2020-12 schema). For the enclosing check it is written
 * as `true`; it is then checked on its own, its errors' pointers prefixed
 * with where it is. Only the keywords holding subschemas are walked, so a
 * "const" or "default" value that looks like a schema stays a value. */
typedef struct {
  const hl_json *v;
  hl_schema_draft draft;
  char *ptr;
} embedded;

typedef struct {
  embedded *items;
  size_t n;
} embedded_list;

static bool other_dialect(const hl_json *v, hl_schema_draft draft, hl_schema_draft *out) {
  const char *d = v->type == HL_JSON_OBJECT ? hl_json_str(hl_json_get(v, "$schema")) : NULL;
  return d && hl_schema_dialect(d, out) && *out != draft;
}

static void ptr_push(hl_buf *p, const char *seg, size_t n) {
  hl_buf_putc(p, '/');
  for (size_t i = 0; i < n; i++) {
    if (seg[i] == '~') hl_buf_puts(p, "~0");
    else if (seg[i] == '/') hl_buf_puts(p, "~1");
    else hl_buf_putc(p, seg[i]);
  }
}

static void write_schema(hl_jw *w, const hl_json *v, hl_schema_draft draft, hl_buf *ptr, bool root,
                         embedded_list *found);

/* Keywords whose value is an object of subschemas, a subschema (or, for
 * draft-07's "items", an array of them), or an array of subschemas. */
static int keyword_kind(const char *k) {
  static const char *const maps[] = {"$defs", "definitions", "properties", "patternProperties",
                                     "dependentSchemas", "dependencies"};
  static const char *const ones[] = {"additionalProperties", "additionalItems", "items", "not", "if", "then",
                                     "else", "contains", "propertyNames", "unevaluatedProperties",
                                     "unevaluatedItems", "contentSchema"};
  static const char *const lists[] = {"allOf", "anyOf", "oneOf", "prefixItems"};
  for (size_t i = 0; i < HL_ARRAY_SIZE(maps); i++)
    if (strcmp(k, maps[i]) == 0) return 1;
  for (size_t i = 0; i < HL_ARRAY_SIZE(ones); i++)
    if (strcmp(k, ones[i]) == 0) return 2;
  for (size_t i = 0; i < HL_ARRAY_SIZE(lists); i++)
    if (strcmp(k, lists[i]) == 0) return 3;
  return 0;
}

static void write_schemas_of(hl_jw *w, const hl_json *v, int kind, hl_schema_draft draft, hl_buf *ptr,
                             embedded_list *found) {
  size_t mark = ptr->len;
  if (v->type == HL_JSON_OBJECT && kind == 1) {
    hl_jw_obj_begin(w);
    for (uint32_t i = 0; i < v->len; i++) {
      const hl_json_member *m = &v->u.members[i];
      hl_jw_keyn(w, m->key, m->key_len);
      ptr_push(ptr, m->key, m->key_len);
      write_schema(w, &m->value, draft, ptr, false, found);
      ptr->len = mark;
    }
    hl_jw_obj_end(w);
  } else if (v->type == HL_JSON_ARRAY && kind != 1) {
    hl_jw_arr_begin(w);
    for (uint32_t i = 0; i < v->len; i++) {
      char idx[16];
      int n = snprintf(idx, sizeof idx, "%u", i);
      ptr_push(ptr, idx, (size_t)n);
      write_schema(w, &v->u.items[i], draft, ptr, false, found);
      ptr->len = mark;
    }
    hl_jw_arr_end(w);
  } else if (kind == 2) {
    write_schema(w, v, draft, ptr, false, found);
  } else {
    hl_jw_value(w, v); /* not what the keyword takes: its meta-schema says so */
  }
}

static void write_schema(hl_jw *w, const hl_json *v, hl_schema_draft draft, hl_buf *ptr, bool root,
                         embedded_list *found) {
  hl_schema_draft other;
  if (!root && other_dialect(v, draft, &other)) {
    found->items = hl_realloc(found->items, (found->n + 1) * sizeof *found->items);
    found->items[found->n++] = (embedded){v, other, hl_strndup(ptr->data ? ptr->data : "", ptr->len)};
    hl_jw_bool(w, true);
    return;
  }
  if (v->type != HL_JSON_OBJECT) {
    hl_jw_value(w, v);
    return;
  }
  size_t mark = ptr->len;
  hl_jw_obj_begin(w);
  for (uint32_t i = 0; i < v->len; i++) {
    const hl_json_member *m = &v->u.members[i];
    hl_jw_keyn(w, m->key, m->key_len);
    int kind = strlen(m->key) == m->key_len ? keyword_kind(m->key) : 0;
    if (!kind) {
      hl_jw_value(w, &m->value);
      continue;
    }
    ptr_push(ptr, m->key, m->key_len);
    write_schemas_of(w, &m->value, kind, draft, ptr, found);
    ptr->len = mark;
  }
  hl_jw_obj_end(w);
}

/* The errors of a resource at base, their pointers made the document's. */
static void add_errors(hl_schema_errors *errs, const hl_schema_errors *got, const char *base) {
  errs->total += got->total;
  for (size_t i = 0; i < got->count && errs->count < HL_SCHEMA_MAX_ERRORS; i++) {
    hl_schema_error *e = &errs->items[errs->count++];
    const hl_schema_error *g = &got->items[i];
    *e = *g;
    /* Built apart, then copied: e's fields as source and destination of
     * one snprintf would be one object to the compiler's restrict check. */
    char path[sizeof e->instance_path];
    snprintf(path, sizeof path, "%.120s%.135s", base, g->instance_path);
    memcpy(e->instance_path, path, sizeof path);
    /* The message starts with its pointer ("(root)" for ""). */
    const char *rest = strstr(g->message, ": ");
    snprintf(e->message, sizeof e->message, "%.100s%.280s", path[0] ? path : "(root)", rest ? rest : "");
  }
}

static int check_resource(const hl_json *v, hl_schema_draft draft, const char *base, hl_schema_errors *errs) {
  hl_schema *meta = draft == HL_DRAFT_07 ? meta_07 : meta_2020;
  if (!meta) return HL_EINTERNAL; /* the bundled documents did not compile: a build defect */
  embedded_list found = {NULL, 0};
  hl_buf text = HL_BUF_INIT, ptr = HL_BUF_INIT;
  hl_jw w;
  hl_jw_init(&w, &text);
  write_schema(&w, v, draft, &ptr, true, &found);
  hl_buf_dispose(&ptr);
  hl_json_doc d;
  hl_json_doc_init(&d);
  int rc = hl_json_parse(&d, text.data, text.len, NULL) == 0 ? 0 : HL_EINTERNAL;
  if (rc == 0) {
    hl_schema_errors got;
    hl_schema_errors_init(&got);
    if (!hl_schema_validate(meta, d.root, &got)) {
      rc = HL_EINVAL;
      if (errs) add_errors(errs, &got, base);
    }
  }
  hl_json_doc_dispose(&d);
  hl_buf_dispose(&text);
  for (size_t i = 0; i < found.n; i++) {
    if (rc != HL_EINTERNAL) {
      char *sub = hl_strdup(base);
      size_t bl = strlen(sub);
      sub = hl_realloc(sub, bl + strlen(found.items[i].ptr) + 1);
      strcpy(sub + bl, found.items[i].ptr);
      int r = check_resource(found.items[i].v, found.items[i].draft, sub, errs);
      if (r != 0 && rc == 0) rc = r;
      else if (r == HL_EINTERNAL) rc = r;
      hl_free(sub);
    }
    hl_free(found.items[i].ptr);
  }
  hl_free(found.items);
  return rc;
}

int hl_schema_check_meta(const hl_json *schema, hl_schema_errors *errs) {
  pthread_once(&meta_once, compile_metas);
  const char *dialect = schema->type == HL_JSON_OBJECT ? hl_json_str(hl_json_get(schema, "$schema")) : NULL;
  hl_schema_draft draft = HL_DRAFT_2020_12;
  if (dialect) hl_schema_dialect(dialect, &draft);
  if (errs) hl_schema_errors_init(errs);
  return check_resource(schema, draft, "", errs);
}
