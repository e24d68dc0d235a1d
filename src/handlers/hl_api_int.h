/* hl_api_int.h — what the parts of the HTTP API share, for hl_api*.c only.
 *
 * hl_api.c answers, authenticates and routes; hl_api_admin.c holds the
 * admin resources (schemas, subscriptions, deliveries) and loads the
 * registry from the store; hl_api_events.c is the producer API. Every
 * handler answers exactly once, possibly later from a store callback.
 */
#ifndef HL_API_INT_H
#define HL_API_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "handlers/hl_api.h"
#include "json/hl_json.h"

/* --- answers (hl_api.c) ------------------------------------------------------- */
/* Sends b (JSON) with status and disposes of it. */
void hl_api_respond_buf(hl_http_req *req, int status, hl_buf *b);
/* {"error": code, "message": message, "details": details_json}; details_json
 * is a pre-encoded JSON array, or NULL for []. */
void hl_api_respond_error(hl_http_req *req, int status, const char *code, const char *message,
                          const char *details_json);
/* 400 with the JSON pointer of the offending field. */
void hl_api_respond_field_error(hl_http_req *req, const char *pointer, const char *message);
/* 503 store_unavailable with Retry-After: nothing was changed. */
void hl_api_respond_store_error(hl_http_req *req, int status);
/* Parses the request body, or answers 400 and returns false. */
bool hl_api_parse_body(hl_http_req *req, hl_json_doc *doc);
bool hl_api_name_ok(const char *s, size_t max);
const char *hl_api_get_str(const hl_json *obj, const char *key);
/* Kafka mode: creates the topic if needed / refreshes the event type's topic map. */
void hl_api_ensure_topic(hl_api *a, const char *topic);
void hl_api_refresh_kafka_map(hl_api *a, const char *event_type);

/* --- admin resources (hl_api_admin.c) ------------------------------------------- */
bool hl_api_query_param(const hl_http_req *req, const char *name, char *out, size_t outlen);
void hl_api_post_schema(hl_api *a, hl_http_req *req);
void hl_api_list_schemas(hl_api *a, hl_http_req *req);
void hl_api_get_schema(hl_api *a, hl_http_req *req, const char *id);
void hl_api_post_subscription(hl_api *a, hl_http_req *req);
void hl_api_list_subs(hl_api *a, hl_http_req *req);
void hl_api_sub_by_id(hl_api *a, hl_http_req *req, const char *id);
void hl_api_list_deliveries(hl_api *a, hl_http_req *req);
void hl_api_retry_delivery(hl_api *a, hl_http_req *req, const char *event_id, const char *sub_id);

/* --- the producer API (hl_api_events.c) -------------------------------------------- */
void hl_api_post_event(hl_api *a, hl_http_req *req);
void hl_api_post_bulk(hl_api *a, hl_http_req *req);

#endif
