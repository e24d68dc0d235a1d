/* hl_api_respond.h — the HTTP API's answers and the small helpers every
 * handler shares: JSON bodies, the error envelope with JSON pointers to the
 * offending field, request-body parsing, names, string members and query
 * parameters.
 *
 * The lowest file of src/api/: it knows requests and JSON, nothing of the
 * API's state, so the handlers (hl_api_subs.c, hl_api_events.c, ...)
 * depend on it and the router (hl_api.c) depends on them, without a circle.
 */
#ifndef HL_API_RESPOND_H
#define HL_API_RESPOND_H

#include <stdbool.h>
#include <stddef.h>

#include "common/hl_buf.h"
#include "common/hl_strmap.h"
#include "json/hl_json.h"
#include "loop/hl_http_server.h"

/* Sends b (JSON) with status and disposes of it. */
void hl_api_respond_buf(hl_http_req *req, int status, hl_buf *b);
/* 200 {"<key>": [...]}: write puts out each value of map (it may put out
 * nothing for one, a filter). The admin API's list routes. */
void hl_api_respond_list(hl_http_req *req, const char *key, const hl_strmap *map,
                         void (*write)(hl_jw *w, void *value, void *ctx), void *ctx);
/* {"error": code, "message": message, "details": details_json}; details_json
 * is a pre-encoded JSON array, or NULL for []. */
void hl_api_respond_error(hl_http_req *req, int status, const char *code, const char *message,
                          const char *details_json);
/* status with one detail: the JSON pointer of the offending field ("" the
 * whole body, "?name" a query parameter) and what is wrong with it. Every
 * 400 names its field this way (fuzz/api.c holds the API to it). */
void hl_api_respond_error_at(hl_http_req *req, int status, const char *code, const char *message,
                             const char *pointer, const char *detail);
/* The same answer's body, appended to out (for answers that wait, such as
 * an Idempotency-Key's refusal). */
void hl_api_error_body_at(hl_buf *out, const char *code, const char *message, const char *pointer,
                          const char *detail);
/* 400 invalid_request with the JSON pointer of the offending field. */
void hl_api_respond_field_error(hl_http_req *req, const char *pointer, const char *message);
/* 503 store_unavailable with Retry-After: nothing was changed, or (status
 * HL_EUNKNOWN) the change was sent and its outcome is unknown. */
void hl_api_respond_store_error(hl_http_req *req, int status);
/* Parses the request body, or answers 400 and returns false. */
bool hl_api_parse_body(hl_http_req *req, hl_json_doc *doc);
/* The 400 of hl_api_parse_body for a body parsed elsewhere (the threadpool). */
void hl_api_respond_parse_error(hl_http_req *req, const hl_json_error *err);
bool hl_api_name_ok(const char *s, size_t max);
const char *hl_api_get_str(const hl_json *obj, const char *key);
bool hl_api_int_member(hl_http_req *req, const hl_json *obj, const char *key, int64_t min, int64_t max,
                       int64_t *out);
/* The longest value (decoded) of any query parameter: every one a route
 * takes is an id (at most 200 bytes), a time, a number or a cursor (a time
 * and an id). The router refuses a longer one (400 at ?name), so a handler
 * that reads a value into HL_API_QUERY_VALUE_MAX + 1 bytes has all of it,
 * never a shortened one read as some other value ("1junk" as "1"). */
#define HL_API_QUERY_VALUE_MAX 255
/* Value of a query parameter, percent-decoded into out (outlen at least
 * HL_API_QUERY_VALUE_MAX + 1); false when absent. */
bool hl_api_query_param(const hl_http_req *req, const char *name, char *out, size_t outlen);

#endif
