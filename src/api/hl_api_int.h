/* hl_api_int.h — what the parts of the HTTP API share, for hl_api*.c only.
 *
 * hl_api_respond.c answers (the lowest file); hl_api_resource.c looks up
 * the subscription a path names and answers a DELETE; hl_api.c
 * authenticates and routes to one file a resource: hl_api_schemas.c,
 * hl_api_subs.c, hl_api_partners.c, hl_api_deliveries.c, ... and
 * hl_api_events.c, the producer API; hl_api_load.c loads the registry from
 * the store. Every handler answers exactly once, possibly later from a
 * store callback.
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

/* --- one resource's routes (hl_api_resource.c) ---------------------------------- */
/* The subscription with this id, or NULL with 404 answered. */
hl_sub *hl_api_sub_or_404(hl_api *a, hl_http_req *req, const char *id);
/* For a DELETE: the store callback (and its data) that, once the store has
 * deleted id, takes it out of the registry with forget and answers 204
 * (503 when the store failed). The caller starts the store call with them. */
hl_store_cb hl_api_delete_begin(hl_api *a, hl_http_req *req, const char *id,
                                bool (*forget)(hl_registry *r, const char *id), const char *noun, void **data);

/* --- schemas (hl_api_schemas.c) --------------------------------------------------- */
void hl_api_post_schema(hl_api *a, hl_http_req *req);
void hl_api_list_schemas(hl_api *a, hl_http_req *req);
void hl_api_get_schema(hl_api *a, hl_http_req *req, const char *id);
/* The stored schemas (a schema_list result) compiled into the registry;
 * on a reload, those unchanged are left as they are. */
void hl_api_schemas_loaded(hl_api *a, hl_store_result *res, bool reload);
/* A registration names topic for event_type (a schema's ingress topic, a
 * subscription's egress topic): the topic is prepared (Kafka: created if
 * missing) and the type's row of event_subscription_kafka written again. */
void hl_api_topic_registered(hl_api *a, const char *topic, const char *event_type);

/* --- subscriptions (hl_api_subs.c) ------------------------------------------------ */
void hl_api_post_subscription(hl_api *a, hl_http_req *req);
void hl_api_list_subs(hl_api *a, hl_http_req *req);
void hl_api_sub_by_id(hl_api *a, hl_http_req *req, const char *id);
/* A subscription's answer: its record without credentials, and its state. */
void hl_api_write_sub(hl_jw *w, const hl_sub *s);
/* The "breaker" and "destination_host" members of a subscription's answer. */
void hl_api_write_sub_state(hl_jw *w, const hl_sub *s);
/* The stored subscriptions (opened, hl_api_sub_list_open) put into the
 * registry; a reload keeps those unchanged (their dispatcher state) and
 * removes those no longer stored. */
void hl_api_subs_loaded(hl_api *a, hl_store_result *res, bool reload);

/* --- transformations (hl_api_xform.c) ---------------------------------------------- */
void hl_api_post_transformation(hl_api *a, hl_http_req *req);
void hl_api_list_transformations(hl_api *a, hl_http_req *req);
void hl_api_get_transformation(hl_api *a, hl_http_req *req, const char *id);
/* A delivery's "transformation" text ("<id>@<version>,...") as a JSON array
 * of {"transformation_id","version"}. */
void hl_api_write_xform_used(hl_jw *w, const char *used);
/* Loads the stored transformations into the registry, then calls then. */
void hl_api_load_xforms(hl_api *a, bool reload, void (*then)(void *data, int status), void *data);

/* --- secret rotation (hl_api_secret.c) --------------------------------------------- */
void hl_api_rotate_secret(hl_api *a, hl_http_req *req, const char *id);

/* --- a subscription's delivery order (hl_api_ordering.c) ------------------------------- */
/* "ordering" and "skip_after" of a registration into rec; false: answered 400. */
bool hl_api_sub_ordering_parse(hl_api *a, hl_http_req *req, const hl_json *root, hl_sub_rec *rec);
void hl_api_write_ordering(hl_jw *w, const hl_sub_rec *r);

/* --- how a subscription signs (hl_api_signing.c) ------------------------------------ */
/* The "signing" member of a subscription's registration, after its url or
 * destination: 0 for HMAC (nothing set), 1 for ed25519 (rec->signing set,
 * rec->secret the key list: that of registered, the subscription this
 * registration updates (NULL: none), when it already signs so, else a new
 * key pair), -1 once a 400 is answered. */
int hl_api_sub_signing_parse(hl_http_req *req, const hl_json *root, const hl_sub_rec *registered, hl_sub_rec *rec);
/* "signing", and for ed25519 the newest key's "public_key". */
void hl_api_write_signing(hl_jw *w, const hl_sub_rec *r);
/* GET /admin/subscriptions/{id}/public-key. */
void hl_api_sub_public_key(hl_api *a, hl_http_req *req, const char *id);

/* --- subscriptions' credentials at rest (hl_api_seal.c) -------------------------- */
/* Writes rec to the store, its credentials sealed when a sealer is set
 * (HOOKLOOP_SECRET_KEY_FILE); rec itself stays plain. The write is
 * conditional on rec->revision (hl_sub_rec): once it is answered, the
 * registered copy of the subscription carries the revision written. When
 * another process changed the stored record since (HL_ECONFLICT), the
 * record is read again and put in the registry (or the subscription
 * dropped, deleted there) before cb hears of it: a change tried again then
 * starts from the stored record. */
void hl_api_sub_store_put(hl_api *a, const hl_sub_rec *rec, hl_store_cb cb, void *data);
/* Whether a write of subscription id's record is on its way to the store.
 * Each write carries the whole record as it was when it was made: a second
 * change made meanwhile (a rotation, an update in place, an enable) would
 * start from the record the first is replacing, and one of the two would
 * be lost. Those changes are refused (409 subscription_busy) instead. */
bool hl_api_sub_writing(const hl_api *a, const char *id);
/* A change that cannot be refused (an auto-disable) met a write of the
 * same subscription on its way (an update in place, a rotation): made now,
 * it would carry the record from before that write, and one would undo
 * the other. True: fn runs once the writes of id are answered (one fn per
 * id: the last asked). */
typedef void (*hl_api_sub_after_fn)(hl_api *a, const char *id);
bool hl_api_sub_after_writes(hl_api *a, const char *id, hl_api_sub_after_fn fn);
/* The 409 answer of a change refused while hl_api_sub_writing. */
void hl_api_respond_sub_busy(hl_http_req *req);
/* The 409 answer of a change whose write met another process's
 * (HL_ECONFLICT from hl_api_sub_store_put): nothing was changed. */
void hl_api_respond_sub_changed(hl_http_req *req);
/* Opens a record read from the store in place. A record stored plain (from
 * before sealing was on) or sealed with an older key is written again,
 * sealed with the current key: the migration. Returns false, with an error
 * logged, for a record that cannot be opened (skip it). */
bool hl_api_sub_open(hl_api *a, hl_sub_rec *r);
/* sub_list, and with KMS (opt.opener) the data keys the records' sealed
 * values carry opened before cb sees them: KMS refusing or out of reach
 * fails the listing (HL_EREFUSED), so nothing is dropped for it. */
void hl_api_sub_list_open(hl_api *a, hl_store_cb cb, void *data);
/* POST /admin/secrets/reseal (hl_api_reseal.c). */
void hl_api_reseal(hl_api *a, hl_http_req *req);

/* --- TLS client certificates (hl_api_client_cert.c) ------------------------------ */
/* Reads "client_certificate" ({"certificate","private_key"}, PEM) into
 * rec->client_cert and rec->client_key once checked; rec->url must be set
 * first (https:// only). False once a 400 is answered. */
bool hl_api_client_cert_parse(hl_http_req *req, const hl_json *root, hl_sub_rec *rec);
/* "client_certificate": {"subject","not_after"} when one is set; nothing otherwise. */
void hl_api_write_client_cert(hl_jw *w, const hl_sub_rec *r);

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
/* GET /admin/hosts (hl_api_hosts.c). */
void hl_api_hosts(hl_api *a, hl_http_req *req);

/* --- delivery status (hl_api_deliveries.c) ------------------------------------------ */
void hl_api_list_deliveries(hl_api *a, hl_http_req *req);
void hl_api_retry_delivery(hl_api *a, hl_http_req *req, const char *event_id, const char *sub_id);
/* One delivery as the delivery routes show it; with_event_id adds its
 * event's id (search answers span events). */
void hl_api_write_delivery(hl_jw *w, hl_api *a, const hl_delivery_rec *r, bool with_event_id);
/* GET /admin/deliveries?subscription_id=... (sub_id is that parameter). */
void hl_api_search_deliveries(hl_api *a, hl_http_req *req, const char *sub_id);
/* An RFC 3339 time or digits (ms since the epoch) as ms; false when neither. */
bool hl_api_time_parse(const char *s, int64_t *ms);

/* --- recovering a subscription's failed deliveries (hl_api_recover.c) ---------------- */
void hl_api_post_recover(hl_api *a, hl_http_req *req, const char *id);
void hl_api_get_recover(hl_api *a, hl_http_req *req, const char *id);

/* --- a delivery's history (hl_api_history.c) ------------------------------------------- */
void hl_api_list_attempts(hl_api *a, hl_http_req *req, const char *event_id, const char *sub_id);

/* --- replaying an event (hl_api_replay.c) ------------------------------------------- */
void hl_api_replay_event(hl_api *a, hl_http_req *req, const char *event_id);

/* --- the producer API (hl_api_events.c) -------------------------------------------- */
void hl_api_post_event(hl_api *a, hl_http_req *req);
void hl_api_post_bulk(hl_api *a, hl_http_req *req);
void hl_api_post_raw_event(hl_api *a, hl_http_req *req, const char *event_type);

#endif
