#include "model/hl_project.h"

#include <stdio.h>
#include <string.h>

#include "common/hl_common.h"
#include "store/hl_ddb_wire.h"

/* The record's own attributes: a projection may not take their names. */
static const char *const reserved[] = {"event_id", "event_type", "accepted_at", "body", "trace", "expires_at"};

#define ATTR_MAX 64

/* "/a/b~1c" -> "a_b/c"; NULL when the name would not be a plain attribute
 * name (letters, digits, '_', '-', '.'), so expressions never need escaping. */
static char *attr_name(const char *ptr) {
  char out[ATTR_MAX + 1];
  size_t n = 0;
  for (const char *p = ptr + 1; *p; p++) {
    char c = *p;
    if (c == '/') c = '_';
    else if (c == '~') {
      c = p[1] == '1' ? '/' : '~';
      p++;
    }
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
              c == '.';
    if (!ok || n == ATTR_MAX) return NULL;
    out[n++] = c;
  }
  if (n == 0) return NULL;
  out[n] = '\0';
  for (size_t i = 0; i < HL_ARRAY_SIZE(reserved); i++)
    if (strcmp(out, reserved[i]) == 0) return NULL;
  return hl_strdup(out);
}

void hl_project_free(hl_projection *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    hl_free(p[i].pointer);
    hl_free(p[i].attr);
  }
  hl_free(p);
}

int hl_project_parse(const hl_json *schema, hl_projection **out, size_t *n, char *where, size_t wherelen,
                     char *why, size_t whylen) {
  *out = NULL;
  *n = 0;
  const hl_json *x = hl_json_get(schema, "x-project");
  if (!x) return 0;
  if (x->type != HL_JSON_OBJECT) {
    snprintf(where, wherelen, "%s", "");
    snprintf(why, whylen, "expected an object of JSON pointer -> \"S\" or \"N\", e.g. {\"/amount\": \"N\"}");
    return HL_EINVAL;
  }
  hl_projection *p = hl_calloc(x->len ? x->len : 1, sizeof *p);
  size_t k = 0;
  for (uint32_t i = 0; i < x->len; i++) {
    const hl_json_member *m = &x->u.members[i];
    const hl_json *t = &m->value;
    hl_buf w = HL_BUF_INIT;
    hl_json_pointer_append(&w, m->key, m->key_len);
    snprintf(where, wherelen, "%s", w.data ? w.data : "");
    hl_buf_dispose(&w);
    char *attr = NULL;
    const char *msg = NULL;
    if (strlen(m->key) != m->key_len || !hl_json_pointer_valid(m->key) || !*m->key)
      msg = "the name is not a JSON pointer into the payload, e.g. /amount";
    else if (!(attr = attr_name(m->key)))
      msg = "the attribute name (the pointer's tokens joined by '_') must be 1 to 64 letters, digits, '_', '-' "
            "or '.', and not one of the record's own (event_id, event_type, accepted_at, body, trace, expires_at)";
    else if (t->type != HL_JSON_STRING || t->len != 1 || (t->u.str[0] != 'S' && t->u.str[0] != 'N'))
      msg = "the type is \"S\" (text) or \"N\" (a number, kept with its exact decimal text)";
    for (size_t j = 0; !msg && j < k; j++)
      if (strcmp(p[j].attr, attr) == 0) msg = "two pointers give the same attribute name";
    if (msg) {
      snprintf(why, whylen, "%s", msg);
      hl_free(attr);
      hl_project_free(p, k);
      return HL_EINVAL;
    }
    p[k++] = (hl_projection){hl_strdup(m->key), attr, t->u.str[0]};
  }
  *out = p;
  *n = k;
  return 0;
}

void hl_event_attrs_free(hl_event_attr *a, size_t n) {
  for (size_t i = 0; i < n; i++) {
    hl_free(a[i].name);
    hl_free(a[i].text);
  }
  hl_free(a);
}

int hl_project_apply(const hl_projection *p, size_t n, const hl_json *payload, hl_event_attr **out, size_t *nout,
                     const char **pointer, char *why, size_t whylen) {
  *out = NULL;
  *nout = 0;
  if (n == 0) return 0;
  hl_event_attr *a = hl_calloc(n, sizeof *a);
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    const hl_json *v = hl_json_pointer(payload, p[i].pointer, strlen(p[i].pointer));
    if (!v) continue; /* not in this body: left out */
    bool ok;
    if (p[i].type == 'S') ok = v->type == HL_JSON_STRING || v->type == HL_JSON_NUMBER;
    else ok = (v->type == HL_JSON_NUMBER || v->type == HL_JSON_STRING) && hl_ddb_number_valid(v->u.str, v->len);
    if (!ok) {
      *pointer = p[i].pointer;
      snprintf(why, whylen, p[i].type == 'S' ? "the schema's x-project stores this as text (S): expected a string or a number"
                                             : "the schema's x-project stores this as a number (N): expected a "
                                               "number of at most 38 significant digits from 1E-130 to under 1E+126 (or 0), or a string "
                                               "holding one");
      hl_event_attrs_free(a, k);
      return HL_EINVAL;
    }
    a[k++] = (hl_event_attr){hl_strdup(p[i].attr), p[i].type, hl_strndup(v->u.str, v->len), v->len};
  }
  *out = a;
  *nout = k;
  return 0;
}
