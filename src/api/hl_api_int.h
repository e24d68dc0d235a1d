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

/* --- admin resources (hl_api_admin.c) ------------------------------------------- */
void hl_api_post_schema(hl_api *a, hl_http_req *req);
void hl_api_list_schemas(hl_api *a, hl_http_req *req);
void hl_api_get_schema(hl_api *a, hl_http_req *req, const char *id);
void hl_api_post_subscription(hl_api *a, hl_http_req *req);
void hl_api_list_subs(hl_api *a, hl_http_req *req);
void hl_api_sub_by_id(hl_api *a, hl_http_req *req, const char *id);
void hl_api_list_deliveries(hl_api *a, hl_http_req *req);
void hl_api_retry_delivery(hl_api *a, hl_http_req *req, const char *event_id, const char *sub_id);

/* --- partners (hl_api_partners.c) ------------------------------------------------ */
void hl_api_post_partner(hl_api *a, hl_http_req *req);
void hl_api_list_partners(hl_api *a, hl_http_req *req);
void hl_api_partner_by_id(hl_api *a, hl_http_req *req, const char *id);
/* Before a subscription naming partner_id is written: false after answering
 * 400 when HOOKLOOP_REQUIRE_PARTNERS is set and the partner is not
 * registered; otherwise true, having written an unknown partner implicitly. */
bool hl_api_partner_for_sub(hl_api *a, hl_http_req *req, const char *partner_id);
/* Loads (reload: reads again) the partners into the registry, then next(data, status). */
void hl_api_partners_load(hl_api *a, bool reload, void (*next)(void *data, int status), void *data);

/* --- a subscription's delivery state (hl_api_sub_state.c) --------------------------- */
/* The built-in event type announcing an auto-disable; subscribing to it
 * needs no schema. */
#define HL_EVENT_SUBSCRIPTION_DISABLED "subscription.disabled"
void hl_api_enable_sub(hl_api *a, hl_http_req *req, const char *id);
/* The "breaker" member of a subscription's answer. */
void hl_api_write_sub_state(hl_jw *w, const hl_sub *s);
/* The registered subscription of this id, or NULL after answering 404 (hl_api_admin.c). */
hl_sub *hl_api_sub_found(hl_api *a, hl_http_req *req, const char *id);
/* A subscription's answer (hl_api_admin.c): its record without credentials, and its state. */
void hl_api_write_sub(hl_jw *w, const hl_sub *s);

/* --- the producer API (hl_api_events.c) -------------------------------------------- */
void hl_api_post_event(hl_api *a, hl_http_req *req);
void hl_api_post_bulk(hl_api *a, hl_http_req *req);

#endif
