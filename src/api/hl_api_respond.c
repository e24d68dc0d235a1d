/* hl_api_respond.c — the API's answers and shared request helpers (see the header). */
#include "api/hl_api_respond.h"
#include "common/hl_common.h"
#include "model/hl_event.h"
#include "model/hl_topic.h"

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

/* --- answers ----------------------------------------------------------------- */

void hl_api_respond_buf(hl_http_req *req, int status, hl_buf *b) {
  hl_http_respond(req, status, NULL, 0, b->data ? b->data : "", b->len);
  hl_buf_dispose(b);
}

/* details_json: a pre-encoded JSON array, or NULL. */
void hl_api_respond_list(hl_http_req *req, const char *key, const hl_strmap *map,
                         void (*write)(hl_jw *w, void *value, void *ctx), void *ctx) {
  hl_buf b = HL_BUF_INIT;
  hl_jw w;
  hl_jw_open(&w, &b);
  hl_jw_key_arr(&w, key);
  size_t it = 0;
  void *v;
  while (hl_strmap_next(map, &it, NULL, &v)) write(&w, v, ctx);
  hl_jw_arr_end(&w);
  hl_jw_obj_end(&w);
  hl_api_respond_buf(req, 200, &b);
}

void hl_api_respond_error(hl_http_req *req, int status, const char *code, const char *message,
                          const char *details_json) {
  hl_buf b = HL_BUF_INIT;
  hl_json_error_body(&b, code, message, details_json, details_json ? strlen(details_json) : 0);
  hl_api_respond_buf(req, status, &b);
}

/* One detail {"path": pointer, "message": text} as a one-element array. */
void hl_api_error_body_at(hl_buf *out, const char *code, const char *message, const char *pointer,
                          const char *detail) {
  hl_buf d = HL_BUF_INIT;
  hl_jw w;
  hl_jw_init(&w, &d);
  hl_jw_arr_begin(&w);
  hl_jw_obj_begin(&w);
  hl_jw_key(&w, "path"); hl_jw_str(&w, pointer);
  hl_jw_key(&w, "message"); hl_jw_str(&w, detail);
  hl_jw_obj_end(&w);
  hl_jw_arr_end(&w);
  hl_json_error_body(out, code, message, d.data, d.len);
  hl_buf_dispose(&d);
}

void hl_api_respond_error_at(hl_http_req *req, int status, const char *code, const char *message,
                             const char *pointer, const char *detail) {
  hl_buf b = HL_BUF_INIT;
  hl_api_error_body_at(&b, code, message, pointer, detail);
  hl_api_respond_buf(req, status, &b);
}

void hl_api_respond_field_error(hl_http_req *req, const char *pointer, const char *message) {
  char msg[512];
  snprintf(msg, sizeof msg, "%s: %s", pointer[0] ? pointer : "(body)", message);
  hl_api_respond_error_at(req, 400, "invalid_request", msg, pointer, message);
}

void hl_api_respond_store_error(hl_http_req *req, int status) {
  char msg[256];
  if (status == HL_EUNKNOWN)
    snprintf(msg, sizeof msg,
             "the store took the change but its answer was lost (%s): it may have been made; read it back "
             "before sending it again", hl_strerror(status));
  else snprintf(msg, sizeof msg, "the store failed (%s); nothing was changed, try again", hl_strerror(status));
  hl_http_header h = {"retry-after", 11, "1", 1};
  hl_buf b = HL_BUF_INIT;
  hl_json_error_body(&b, "store_unavailable", msg, NULL, 0);
  hl_http_respond(req, 503, &h, 1, b.data, b.len);
  hl_buf_dispose(&b);
}

/* Parses the body as I-JSON (a member name given twice is refused: what
 * hookloop reads and what a partner's parser reads could differ); answers
 * 400 itself and returns false on error. */
bool hl_api_parse_body(hl_http_req *req, hl_json_doc *doc) {
  hl_json_error err;
  hl_json_doc_init(doc);
  if (req->body_len == 0) {
    hl_api_respond_error_at(req, 400, "invalid_json", "the request body is empty; send a JSON document", "",
                            "empty body");
    return false;
  }
  if (hl_json_parse_ex(doc, req->body, req->body_len, HL_JSON_UNIQUE_NAMES, &err) != 0) {
    hl_api_respond_parse_error(req, &err);
    hl_json_doc_dispose(doc);
    return false;
  }
  return true;
}

void hl_api_respond_parse_error(hl_http_req *req, const hl_json_error *err) {
  hl_event_check e = {0};
  hl_event_reject_parse(&e, err);
  hl_api_respond_error(req, e.status, e.error, e.message, e.details.len ? e.details.data : NULL);
  hl_event_check_dispose(&e);
}

/* --- small validators ----------------------------------------------------------- */

/* Names that become parts of topic names and keys: Kafka's characters. */
bool hl_api_name_ok(const char *s, size_t max) {
  size_t n = 0;
  if (!s || !*s) return false;
  for (; *s; s++, n++)
    if (!hl_topic_char(*s)) return false;
  return n <= max;
}

/* A string member read as a C string: one holding a NUL would be read cut
 * short ("acme\u0000x" as "acme"), so it reads as absent (refused). */
const char *hl_api_get_str(const hl_json *obj, const char *key) {
  const hl_json *v = hl_json_get(obj, key);
  const char *s = hl_json_str(v);
  return s && memchr(s, '\0', v->len) == NULL ? s : NULL;
}

/* Value of a query parameter (no percent-decoding needed for our ids). */
bool hl_api_query_param(const hl_http_req *req, const char *name, char *out, size_t outlen) {
  size_t nl = strlen(name);
  const char *q = req->query;
  while (q && *q) {
    const char *amp = strchr(q, '&');
    size_t len = amp ? (size_t)(amp - q) : strlen(q);
    if (len > nl && strncmp(q, name, nl) == 0 && q[nl] == '=') {
      char *dec = curl_easy_unescape(NULL, q + nl + 1, (int)(len - nl - 1), NULL);
      if (!dec) return false;
      snprintf(out, outlen, "%s", dec);
      curl_free(dec);
      return true;
    }
    q = amp ? amp + 1 : NULL;
  }
  return false;
}


/* An optional integer member in [min, max]: *out keeps its value when the
 * member is absent or null. False after answering 400 (pointer /<key>). */
bool hl_api_int_member(hl_http_req *req, const hl_json *obj, const char *key, int64_t min, int64_t max,
                       int64_t *out) {
  const hl_json *v = hl_json_get(obj, key);
  if (!v || v->type == HL_JSON_NULL) return true;
  int64_t n;
  if (hl_json_int64(v, &n) == 0 && n >= min && n <= max) {
    *out = n;
    return true;
  }
  char ptr[80], msg[128];
  snprintf(ptr, sizeof ptr, "/%s", key);
  snprintf(msg, sizeof msg, "expected an integer from %lld to %lld", (long long)min, (long long)max);
  hl_api_respond_field_error(req, ptr, msg);
  return false;
}
