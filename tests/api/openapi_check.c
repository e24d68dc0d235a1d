#include "openapi_check.h"
#include "hl_test.h"
#include "common/hl_buf.h"
#include "common/hl_common.h"
#include "schema/hl_schema.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* The URI the schemas see the document under: "$ref": "#/components/..."
 * inside it resolves against it. */
#define DOC_URI "urn:hookloop:openapi"

void oa_load(oa_doc *d, const char *text, size_t len) {
  d->text = hl_strndup(text, len);
  d->len = len;
  hl_json_doc_init(&d->doc);
  hl_json_error err;
  HL_ASSERT_MSG(hl_json_parse_ex(&d->doc, d->text, len, HL_JSON_UNIQUE_NAMES, &err) == 0,
                "the OpenAPI document is not I-JSON: %s at line %d (%s)", err.message, err.line, err.pointer);
  d->paths = hl_json_get(d->doc.root, "paths");
  HL_ASSERT_MSG(d->paths && d->paths->type == HL_JSON_OBJECT, "the OpenAPI document has no paths object");
}

void oa_dispose(oa_doc *d) {
  hl_json_doc_dispose(&d->doc);
  hl_free(d->text);
}

/* Whether tmpl matches path segment by segment ("{x}" matches one). */
static bool template_matches(const char *tmpl, const char *path, bool *literal) {
  *literal = true;
  while (*tmpl && *path) {
    if (*tmpl != '/' || *path != '/') return false;
    tmpl++, path++;
    size_t tl = strcspn(tmpl, "/"), pl = strcspn(path, "/");
    if (tmpl[0] == '{') {
      if (pl == 0) return false;
      *literal = false;
    } else if (tl != pl || memcmp(tmpl, path, tl) != 0) {
      return false;
    }
    tmpl += tl, path += pl;
  }
  return *tmpl == '\0' && *path == '\0';
}

const char *oa_match_path(const oa_doc *d, const char *path) {
  const char *best = NULL;
  for (uint32_t i = 0; i < d->paths->len; i++) {
    bool literal;
    const char *t = d->paths->u.members[i].key;
    if (!template_matches(t, path, &literal)) continue;
    if (literal) return t;
    if (!best) best = t;
  }
  return best;
}

const hl_json *oa_operation(const oa_doc *d, const char *tmpl, const char *method) {
  char m[16];
  size_t i = 0;
  for (; method[i] && i < sizeof m - 1; i++) m[i] = (char)tolower((unsigned char)method[i]);
  m[i] = '\0';
  return hl_json_get(hl_json_get(d->paths, tmpl), m);
}

static void ptr_token(hl_buf *b, const char *s) { hl_json_pointer_append(b, s, strlen(s)); }

bool oa_response_schema(const oa_doc *d, const char *tmpl, const char *method, int status,
                        const char *media_type, char *ptr, size_t cap) {
  const hl_json *op = oa_operation(d, tmpl, method);
  if (!op) return false;
  char code[8];
  snprintf(code, sizeof code, "%d", status);
  const hl_json *resp = hl_json_get(hl_json_get(op, "responses"), code);
  if (!resp) return false;
  hl_buf b = HL_BUF_INIT;
  const char *ref = hl_json_str(hl_json_get(resp, "$ref"));
  if (ref) {
    HL_ASSERT_MSG(ref[0] == '#', "response $ref %s is not local", ref);
    resp = hl_json_pointer(d->doc.root, ref + 1, strlen(ref + 1));
    HL_ASSERT_MSG(resp != NULL, "response $ref %s resolves to nothing", ref);
    hl_buf_puts(&b, ref + 1);
  } else {
    ptr_token(&b, "paths");
    ptr_token(&b, tmpl);
    char m[16];
    size_t i = 0;
    for (; method[i] && i < sizeof m - 1; i++) m[i] = (char)tolower((unsigned char)method[i]);
    m[i] = '\0';
    ptr_token(&b, m);
    ptr_token(&b, "responses");
    ptr_token(&b, code);
  }
  const hl_json *content = hl_json_get(resp, "content");
  bool ok = true;
  if (!content) {
    snprintf(ptr, cap, "%s", "");
  } else if (!hl_json_get(hl_json_get(content, media_type), "schema")) {
    ok = false;
  } else {
    ptr_token(&b, "content");
    ptr_token(&b, media_type);
    ptr_token(&b, "schema");
    snprintf(ptr, cap, "%s", b.data);
  }
  hl_buf_dispose(&b);
  return ok;
}

static char *resolve_doc(void *data, const char *uri) {
  const oa_doc *d = data;
  return strcmp(uri, DOC_URI) == 0 ? hl_strndup(d->text, d->len) : NULL;
}

bool oa_validate(const oa_doc *d, const char *ptr, const hl_json *value, char *why, size_t why_cap) {
  /* {"$ref": "<document>#<pointer>"}, the pointer percent-encoded as a URI
   * fragment ("{id}" in a path template). */
  hl_buf ref = HL_BUF_INIT;
  hl_buf_puts(&ref, DOC_URI "#");
  for (const char *p = ptr; *p; p++) {
    unsigned char c = (unsigned char)*p;
    if (isalnum(c) || strchr("/~-._", c)) hl_buf_putc(&ref, (char)c);
    else hl_buf_printf(&ref, "%%%02X", c);
  }
  hl_buf wrapper = HL_BUF_INIT;
  hl_jw w;
  hl_jw_init(&w, &wrapper);
  hl_jw_obj_begin(&w);
  hl_jw_key(&w, "$ref"); hl_jw_str(&w, ref.data);
  hl_jw_obj_end(&w);
  hl_json_doc sd;
  hl_json_doc_init(&sd);
  HL_ASSERT(hl_json_parse(&sd, wrapper.data, wrapper.len, NULL) == 0);
  hl_schema_options opt = {.resolve = resolve_doc, .resolve_data = (void *)d};
  hl_schema *s = NULL;
  hl_schema_errors errs;
  hl_schema_errors_init(&errs);
  int rc = hl_schema_compile(sd.root, &opt, &s, &errs);
  HL_ASSERT_MSG(rc == 0, "the schema at %s does not compile: %s at %s", ptr,
                errs.count ? errs.items[0].message : "?", errs.count ? errs.items[0].schema_path : "?");
  hl_schema_errors_dispose(&errs);
  hl_schema_errors_init(&errs);
  bool ok = hl_schema_validate(s, value, &errs);
  if (!ok && why) {
    hl_buf m = HL_BUF_INIT;
    for (size_t i = 0; i < errs.count; i++)
      hl_buf_printf(&m, "%s%s (%s at %s)", i ? "; " : "", errs.items[i].message, errs.items[i].keyword,
                    errs.items[i].schema_path);
    snprintf(why, why_cap, "%s", m.data ? m.data : "invalid");
    hl_buf_dispose(&m);
  }
  hl_schema_errors_dispose(&errs);
  hl_schema_free(s);
  hl_json_doc_dispose(&sd);
  hl_buf_dispose(&wrapper);
  hl_buf_dispose(&ref);
  return ok;
}

bool oa_validate_text(const oa_doc *d, const char *ptr, const char *json, size_t len, char *why, size_t why_cap) {
  hl_json_doc v;
  hl_json_doc_init(&v);
  if (hl_json_parse(&v, json, len, NULL) != 0) {
    snprintf(why, why_cap, "not JSON: %.*s", (int)(len > 200 ? 200 : len), json);
    hl_json_doc_dispose(&v);
    return false;
  }
  bool ok = oa_validate(d, ptr, v.root, why, why_cap);
  hl_json_doc_dispose(&v);
  return ok;
}
