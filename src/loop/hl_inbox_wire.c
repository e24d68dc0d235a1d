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

/* An id that can be logged, put into a URL path and keyed on: a non-empty
 * string of at most HL_INBOX_ID_MAX bytes without control characters, or an
 * integer (kept as its text). */
static const char *event_id(const hl_json *v, size_t *len, const char **why) {
  if (!v) {
    *why = "no id";
    return NULL;
  }
  if (v->type == HL_JSON_NUMBER && v->len <= 40 && strspn(v->u.str, "-0123456789") == v->len) {
    *len = v->len;
    return v->u.str; /* the number's text, NUL-terminated in the document */
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

/* True when the event's text holds no member name twice, at any depth:
 * where two readers could disagree on which one counts (a filter here, the
 * partner there), the event is left for review instead of being delivered. */
static bool names_unique(const hl_json *it, char *where, size_t wlen) {
  hl_json_doc doc;
  hl_json_doc_init(&doc);
  hl_json_error je;
  bool ok = hl_json_parse_ex(&doc, it->src, it->src_len, HL_JSON_UNIQUE_NAMES, &je) == 0;
  if (!ok) snprintf(where, wlen, "%s", je.duplicate ? je.pointer : "");
  hl_json_doc_dispose(&doc);
  return ok;
}

/* The root's member name, counted: "events" or "next" twice is an answer
 * nobody can read one way only. */
static bool root_name_once(const hl_json *root, const char *name) {
  int n = 0;
  for (uint32_t i = 0; i < root->len; i++) n += strcmp(root->u.members[i].key, name) == 0;
  return n <= 1;
}

/* Skipped events of one page logged each; the rest in one line. */
#define SKIP_LOG_MAX 10

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
  if (!root_name_once(root, "events") || !root_name_once(root, "next")) {
    snprintf(err, errlen, "/%s: the answer names it twice", root_name_once(root, "events") ? "next" : "events");
    return fail(p, rc, HL_EPARSE);
  }
  const hl_json *next = hl_json_get(root, "next");
  if (next && next->type == HL_JSON_STRING) {
    p->next = next->len ? next->u.str : NULL;
  } else if (next && next->type == HL_JSON_NUMBER) {
    p->next = next->u.str; /* the number's text */
  } else if (next && next->type != HL_JSON_NULL) {
    snprintf(err, errlen, "/next: neither a string, a number nor null");
    return fail(p, rc, HL_EPARSE);
  }
  p->events = hl_calloc(events->len ? events->len : 1, sizeof *p->events);
  for (uint32_t j = 0; j < events->len; j++) {
    const hl_json *it = &events->u.items[j];
    const hl_json *payload = NULL;
    const char *why = NULL, *id = NULL;
    char where[400] = "";
    size_t id_len = 0;
    if (it->type != HL_JSON_OBJECT) why = "the event is not an object";
    else if (!(id = event_id(hl_json_get(it, "id"), &id_len, &why))) (void)0;
    else if (!(payload = hl_json_get(it, "payload"))) why = "no payload";
    else if (!names_unique(it, where, sizeof where)) why = "a member name comes twice in the event";
    if (why) {
      /* A line for each of the first few; a page of thousands of bad
       * events would otherwise be thousands of lines for the writer. */
      if (p->skipped++ < SKIP_LOG_MAX)
        hl_log_warn("inbox event skipped, left pending",
                    "\"index\":%u,\"id\":\"%s\",\"reason\":\"%s\",\"at\":\"%s\"", j,
                    id ? hl_log_esc(id, id_len) : "", why, hl_log_esc(where, (size_t)-1));
      continue;
    }
    /* The payload's own text in the answer: the bytes as served. */
    p->events[p->n++] = (hl_inbox_event){id, id_len, payload->src, payload->src_len};
  }
  if (p->skipped > SKIP_LOG_MAX)
    hl_log_warn("inbox events skipped, left pending, beyond those logged one by one",
                "\"skipped\":%zu,\"logged\":%d", p->skipped, SKIP_LOG_MAX);
  *rc = 0;
  return p;
}

size_t hl_inbox_page_filter(hl_inbox_page *p, size_t max_keep, size_t max_look,
                            bool (*keep)(void *data, const hl_inbox_event *e), void *data) {
  size_t w = 0, i = 0;
  for (; i < p->n && w < max_keep && i < max_look; i++)
    if (keep(data, &p->events[i])) p->events[w++] = p->events[i];
  size_t unseen = p->n - i;
  p->n = w;
  return unseen;
}

void hl_inbox_page_free(hl_inbox_page *p) {
  if (!p) return;
  hl_json_doc_dispose(&p->doc);
  hl_free(p->events);
  hl_free(p->body);
  hl_free(p);
}
