#include "loop/hl_inbox_wire.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/hl_common.h"
#include "common/hl_log.h"
#include "crypto/hl_sigv4.h"

/* --- URLs -------------------------------------------------------------------- */

bool hl_inbox_is_http_url(const char *u) {
  const char *rest = !u                               ? NULL
                     : strncmp(u, "https://", 8) == 0 ? u + 8
                     : strncmp(u, "http://", 7) == 0  ? u + 7
                                                      : NULL;
  return rest && *rest && *rest != '/';
}

void hl_inbox_url(hl_buf *out, const char *base, const char *path) {
  size_t bl = strlen(base);
  while (bl && base[bl - 1] == '/') bl--;
  hl_buf_append(out, base, bl);
  if (*path != '/') hl_buf_putc(out, '/');
  hl_buf_puts(out, path);
}

void hl_inbox_fetch_url(hl_buf *out, const char *base, const char *inbox_path, unsigned limit, const char *cursor) {
  hl_inbox_url(out, base, inbox_path);
  hl_buf_printf(out, "%sstatus=pending&limit=%u", strchr(inbox_path, '?') ? "&" : "?", limit);
  if (cursor) {
    hl_buf_puts(out, "&cursor=");
    /* The cursor is opaque: every byte but the unreserved ones is escaped. */
    hl_sigv4_uri_encode(out, cursor, strlen(cursor), false);
  }
}

int hl_inbox_ack_url(hl_buf *out, const char *base, const char *ack_path, const char *id, size_t id_len) {
  const char *at = strstr(ack_path, "{id}");
  if (!at) return HL_EINVAL;
  hl_buf path = HL_BUF_INIT;
  hl_buf_append(&path, ack_path, (size_t)(at - ack_path));
  hl_sigv4_uri_encode(&path, id, id_len, false);
  hl_buf_puts(&path, at + 4);
  hl_inbox_url(out, base, path.data);
  hl_buf_dispose(&path);
  return 0;
}

/* --- the token answer ---------------------------------------------------------- */

int hl_inbox_token_parse(const char *body, size_t len, char **token, int64_t *expires_in_s, char *err, size_t errlen) {
  *token = NULL;
  *expires_in_s = -1;
  hl_json_doc doc;
  hl_json_doc_init(&doc);
  int rc = HL_EPARSE;
  const hl_json *t = NULL, *e = NULL;
  if (hl_json_parse(&doc, body ? body : "", len, NULL) != 0 || doc.root->type != HL_JSON_OBJECT) {
    snprintf(err, errlen, "the token answer is not a JSON object");
    goto out;
  }
  t = hl_json_get(doc.root, "access_token");
  if (!t || t->type != HL_JSON_STRING || t->len == 0 || t->len > 16384) {
    snprintf(err, errlen, "/access_token: missing, not a string, or empty");
    goto out;
  }
  /* It goes into "Authorization: Bearer <token>": visible ASCII only, so
   * no answer can add a header line or split the request. */
  for (uint32_t i = 0; i < t->len; i++) {
    unsigned char c = (unsigned char)t->u.str[i];
    if (c <= 0x20 || c >= 0x7f) {
      snprintf(err, errlen, "/access_token: holds a character that cannot go into a header");
      goto out;
    }
  }
  e = hl_json_get(doc.root, "expires_in");
  if (e && e->type == HL_JSON_NUMBER) {
    int64_t v;
    if (hl_json_int64(e, &v) != 0) {
      double d = floor(hl_json_double(e));
      v = d >= 0 && d < 1e12 ? (int64_t)d : -1;
    }
    if (v < 0) {
      snprintf(err, errlen, "/expires_in: not a non-negative number of seconds");
      goto out;
    }
    *expires_in_s = v;
  } else if (e && e->type == HL_JSON_STRING) {
    /* Some servers quote it ("3600"). */
    int64_t v = 0;
    bool ok = e->len > 0 && e->len <= 12;
    for (uint32_t i = 0; ok && i < e->len; i++) {
      if (e->u.str[i] < '0' || e->u.str[i] > '9') ok = false;
      else v = v * 10 + (e->u.str[i] - '0');
    }
    if (!ok) {
      snprintf(err, errlen, "/expires_in: not a non-negative number of seconds");
      goto out;
    }
    *expires_in_s = v;
  } else if (e && e->type != HL_JSON_NULL) {
    snprintf(err, errlen, "/expires_in: not a non-negative number of seconds");
    goto out;
  }
  *token = hl_strndup(t->u.str, t->len);
  rc = 0;
out:
  hl_json_doc_wipe(&doc); /* the token was in it */
  hl_json_doc_dispose(&doc);
  return rc;
}

/* --- pages --------------------------------------------------------------------- */

/* The walk over text that hl_json_parse has already accepted: it only has
 * to find where values begin and end, never to judge them. */
static const char *skip_ws(const char *p, const char *e) {
  while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
  return p;
}

static const char *skip_string(const char *p, const char *e) {
  for (p++; p < e; p++) {
    if (*p == '\\') p++;
    else if (*p == '"') return p + 1;
  }
  return e;
}

static const char *skip_value(const char *p, const char *e) {
  if (p >= e) return e;
  if (*p == '"') return skip_string(p, e);
  if (*p == '{' || *p == '[') {
    size_t depth = 0;
    while (p < e) {
      if (*p == '"') {
        p = skip_string(p, e);
        continue;
      }
      if (*p == '{' || *p == '[') depth++;
      else if ((*p == '}' || *p == ']') && --depth == 0) return p + 1;
      p++;
    }
    return e;
  }
  /* A number or a literal: up to the next delimiter. */
  while (p < e && !strchr(",]} \t\r\n", *p)) p++;
  return p;
}

/* The text of the index-th member value of the object starting at p.
 * False when the text does not have the shape the parse saw (a bug). */
static bool member_span(const char *p, const char *e, uint32_t index, const char **vs, const char **ve) {
  if (p >= e || *p != '{') return false;
  for (uint32_t i = 0;; i++) {
    p = skip_ws(p + 1, e); /* past '{' or ',' */
    if (p >= e || *p != '"') return false;
    p = skip_ws(skip_string(p, e), e);
    if (p >= e || *p != ':') return false;
    p = skip_ws(p + 1, e);
    const char *end = skip_value(p, e);
    if (i == index) {
      *vs = p;
      *ve = end;
      return true;
    }
    p = skip_ws(end, e);
    if (p >= e || *p != ',') return false;
  }
}

static uint32_t member_index(const hl_json *obj, const hl_json *value) {
  return (uint32_t)(hl_container_of(value, hl_json_member, value) - obj->u.members);
}

/* An id that can be logged, put into a URL path and keyed on: a non-empty
 * string of at most HL_INBOX_ID_MAX bytes without control characters, or an
 * integer (kept as its text). */
static const char *event_id(hl_json_doc *doc, const hl_json *v, size_t *len, const char **why) {
  if (!v) {
    *why = "no id";
    return NULL;
  }
  if (v->type == HL_JSON_NUMBER && v->len <= 40 && strspn(v->u.str, "-0123456789") == v->len) {
    *len = v->len;
    return hl_arena_strndup(&doc->arena, v->u.str, v->len);
  }
  if (v->type != HL_JSON_STRING || v->len == 0 || v->len > HL_INBOX_ID_MAX) {
    *why = "the id is not a non-empty string of at most 512 bytes, nor an integer";
    return NULL;
  }
  for (uint32_t i = 0; i < v->len; i++) {
    unsigned char c = (unsigned char)v->u.str[i];
    if (c < 0x20 || c == 0x7f) {
      *why = "the id holds a control character";
      return NULL;
    }
  }
  *len = v->len;
  return v->u.str;
}

static hl_inbox_page *fail(hl_inbox_page *p, int *rc, int code) {
  *rc = code;
  hl_inbox_page_free(p);
  return NULL;
}

hl_inbox_page *hl_inbox_page_parse(char *body, size_t len, int *rc, char *err, size_t errlen) {
  hl_inbox_page *p = hl_calloc(1, sizeof *p);
  p->body = body;
  p->body_len = len;
  hl_json_doc_init(&p->doc);
  hl_json_error je;
  if (hl_json_parse(&p->doc, body ? body : "", len, &je) != 0) {
    snprintf(err, errlen, "the answer is not JSON: %s at byte %zu", je.message, je.offset);
    return fail(p, rc, HL_EPARSE);
  }
  const hl_json *root = p->doc.root;
  const hl_json *events = hl_json_get(root, "events");
  if (!events || events->type != HL_JSON_ARRAY) {
    snprintf(err, errlen, "/events: the answer has no events array");
    return fail(p, rc, HL_EPARSE);
  }
  const hl_json *next = hl_json_get(root, "next");
  if (next && next->type == HL_JSON_STRING) {
    p->next = next->len ? next->u.str : NULL;
  } else if (next && next->type == HL_JSON_NUMBER) {
    p->next = hl_arena_strndup(&p->doc.arena, next->u.str, next->len);
  } else if (next && next->type != HL_JSON_NULL) {
    snprintf(err, errlen, "/next: neither a string, a number nor null");
    return fail(p, rc, HL_EPARSE);
  }
  const char *end = body + len, *as, *ae;
  if (!member_span(skip_ws(body, end), end, member_index(root, events), &as, &ae) || *as != '[') {
    snprintf(err, errlen, "/events: not found in the answer's text");
    return fail(p, rc, HL_EINTERNAL);
  }
  p->events = hl_calloc(events->len ? events->len : 1, sizeof *p->events);
  const char *at = as; /* '[' first, then each ',' */
  for (uint32_t j = 0; j < events->len; j++) {
    const char *item = skip_ws(at + 1, end);
    const char *item_end = skip_value(item, end);
    at = skip_ws(item_end, end);
    const hl_json *it = &events->u.items[j];
    const char *why = NULL, *id = NULL, *ps, *pe;
    size_t id_len = 0;
    if (it->type != HL_JSON_OBJECT) {
      why = "the event is not an object";
    } else if ((id = event_id(&p->doc, hl_json_get(it, "id"), &id_len, &why)) != NULL) {
      const hl_json *payload = hl_json_get(it, "payload");
      if (!payload) {
        why = "no payload";
      } else if (!member_span(item, item_end, member_index(it, payload), &ps, &pe)) {
        snprintf(err, errlen, "/events/%u/payload: not found in the answer's text", j);
        return fail(p, rc, HL_EINTERNAL);
      }
    }
    if (why) {
      p->skipped++;
      hl_log_warn("inbox event skipped, left pending", "\"index\":%u,\"id\":\"%s\",\"reason\":\"%s\"", j,
                  id ? hl_log_esc(id, id_len) : "", why);
      continue;
    }
    p->events[p->n++] = (hl_inbox_event){id, id_len, ps, (size_t)(pe - ps)};
  }
  *rc = 0;
  return p;
}

void hl_inbox_page_filter(hl_inbox_page *p, bool (*keep)(void *data, const hl_inbox_event *e), void *data) {
  size_t w = 0;
  for (size_t i = 0; i < p->n; i++)
    if (keep(data, &p->events[i])) p->events[w++] = p->events[i];
  p->n = w;
}

void hl_inbox_page_free(hl_inbox_page *p) {
  if (!p) return;
  hl_json_doc_dispose(&p->doc);
  hl_free(p->events);
  hl_free(p->body);
  hl_free(p);
}
