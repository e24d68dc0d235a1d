/* hl_api_int.h — what the parts of the HTTP API share, for hl_api*.c only.
 *
 * hl_api_respond.c answers (the lowest file); hl_api.c authenticates and
 * routes; hl_api_admin.c holds the admin resources (schemas, subscriptions, deliveries) and loads the
 * registry from the store; hl_api_events.c is the producer API. Every
 * handler answers exactly once, possibly later from a store callback.
 */
#ifndef HL_API_INT_H
#define HL_API_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "api/hl_api.h"
#include "api/hl_api_respond.h"
#include "json/hl_json.h"

/* The queue's open deliveries (queue->vt->backlog), or -1 where there is no
 * queue or it cannot tell (Kafka): /healthz, /admin/stats and the
 * high-water check ask the queue, never the store (hl_api.c). */
int64_t hl_api_backlog(const hl_api *a);
/* The queue's name for /healthz and /admin/stats: the option when set, else
 * the queue's own (hl_api.c). */
const char *hl_api_queue_name(const hl_api *a);

/* --- admin resources (hl_api_admin.c) ------------------------------------------- */
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
