/* hl_registry.h — the in-memory view of the schemas, subscriptions and
 * partners.
 *
 * Loaded from the store at start and updated by the admin API after each
 * durable write, so the hot paths (producer API, dispatcher) never wait for
 * the store to learn what a schema or subscription says.
 *
 * Ownership: the registry owns its entries. A subscription is reference
 * counted because in-flight deliveries point at it: deleting or replacing
 * one marks it deleted and drops the registry's reference; the memory goes
 * when the last delivery lets go (hl_sub_unref).
 */
#ifndef HL_REGISTRY_H
#define HL_REGISTRY_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/hl_strmap.h"
#include "crypto/hl_webhook_sig.h"
#include "loop/hl_timerq.h"
#include "model/hl_destination.h"
#include "model/hl_gate.h"
#include "model/hl_project.h"
#include "model/hl_sub_list.h"
#include "store/hl_store.h"

typedef struct hl_delivery hl_delivery;
typedef struct hl_schema hl_schema;
typedef struct hl_filter hl_filter;
typedef struct hl_retry_schedule hl_retry_schedule;

typedef struct {
  hl_schema_rec rec;
  hl_schema *compiled;   /* owned; NULL if it could not be compiled */
  /* owned; the schema's "x-id-pointer" annotation: where a raw provider
   * payload posted to /api/v1/events/{event_type} keeps its id; NULL: none. */
  char *id_pointer;
  /* owned; the schema's root "$id" as written, NULL: none. A "$ref" of
   * another schema names the document by it, so one "$id" names one
   * document (the admin API refuses another one under it). */
  char *root_id;
  /* owned; the schema's "x-project" annotation (model/hl_project.h): the
   * attributes an event's stored record takes from its body. */
  hl_projection *proj;
  size_t nproj;
} hl_schema_entry;

typedef struct hl_sub hl_sub;
typedef struct hl_partner hl_partner; /* model/hl_partner.h */
typedef struct hl_sub_ed25519 hl_sub_ed25519; /* model/hl_sub_ed25519.h */
struct hl_sub {
  int refs;
  bool deleted;
  hl_sub_rec rec;
  hl_filter *filter;              /* owned; NULL matches every event */
  struct curl_slist *headers;     /* owned; the subscription's own headers, "Name: value" */
  /* owned; rec.url parsed once, on first send, and handed to each of its
   * requests (CURLOPT_CURLU), which curl then copies instead of parsing
   * the URL again. curl only reads it, while one of those requests starts,
   * and a request's subscription outlives it (handlers/hl_sender.h). */
  CURLU *url_parsed;
  bool url_unparsed;              /* curl's parser refused rec.url: requests give curl the text */
  hl_retry_schedule *schedule;    /* owned; NULL: the process default */
  hl_destination *dest;           /* owned; NULL: HTTP (rec.url), or rec.destination_json is unusable */
  char *dest_error;               /* owned; why rec.destination_json is unusable, or NULL */
  hl_partner *partner;            /* referenced; its gate is shared with the partner's other subscriptions */

  /* The dispatcher's own per-subscription state (wait queue, claims,
   * timers), opaque here; freed with the subscription through
   * hl_registry.free_dispatch_state. */
  void *dispatch_state;
  /* Admission: in-flight cap, rate_limit_per_s, breaker, the failure
   * streak. Shared, not owned: it belongs to the subscription id rather
   * than to this object. An update in place hands it to the replacement
   * (hl_registry_put_sub), so the attempts this object still has out count
   * against the replacement's max_in_flight and give their slot back to
   * the gate that counts them; the breaker and the streak carry over.
   * Freed with the last hl_sub that holds it. */
  hl_gate *gate;
  hl_webhook_signer *signer;      /* owned; rec.secret's HMAC keys, prepared on first send */
  bool signer_unusable;           /* rec.secret does not decode as a whole: sign entry by entry */
  int64_t signer_until_s;         /* a previous secret's overlap ends then: prepare the signer again */
  hl_sub_ed25519 *ed25519;        /* owned; rec.secret's Ed25519 keys, expanded on first send (model/hl_sub_ed25519.h) */
};

/* Who hears of subscriptions coming and going (the dispatcher): the
 * registry announces, nobody calls the dispatcher for it. REMOVED comes
 * while the old one is still registered (it is unlinked right after),
 * ADDED once the new one is. STATUS: its rec.status changed in place
 * (ACTIVE <-> DISABLED), nothing else. */
typedef enum { HL_REG_SUB_ADDED, HL_REG_SUB_REMOVED, HL_REG_SUB_STATUS } hl_reg_change;
typedef struct {
  void (*sub_changed)(void *data, hl_sub *s, hl_reg_change change);
  void *data;
} hl_registry_listener;

typedef struct {
  hl_registry_listener listener;  /* none when sub_changed is NULL */
  hl_strmap schemas_by_id;    /* "<domain>.<event_type>.v<version>" -> hl_schema_entry* */
  hl_strmap latest_by_type;   /* event_type -> hl_schema_entry* (highest ACTIVE version) */
  hl_strmap subs_by_id;       /* subscription_id -> hl_sub* */
  hl_strmap subs_by_key;      /* "<partner_id>\x1f<event_type>" -> hl_sub* */
  hl_strmap subs_by_type;     /* event_type -> hl_sub_list* */
  hl_strmap xforms;           /* transformation_id -> hl_xform_entry* (hl_xform_reg.h) */
  hl_strmap partners_by_id;   /* partner_id -> hl_partner* (model/hl_partner.h) */
  void (*free_schema)(hl_schema *);   /* how to free compiled schemas */
  void (*free_filter)(hl_filter *);
  void (*free_schedule)(hl_retry_schedule *);
  void (*free_dispatch_state)(void *);  /* set by the dispatcher */
} hl_registry;

void hl_registry_init(hl_registry *r);
void hl_registry_dispose(hl_registry *r);

/* Takes ownership of rec's fields (rec is zeroed) and of compiled. */
hl_schema_entry *hl_registry_put_schema(hl_registry *r, hl_schema_rec *rec, hl_schema *compiled);
/* The latest ACTIVE schema of an event type, or NULL. */
const hl_schema_entry *hl_registry_schema_for_type(const hl_registry *r, const char *event_type);
/* By API id "<domain>.<event_type>.v<version>", or NULL. */
const hl_schema_entry *hl_registry_schema_get(const hl_registry *r, const char *api_id);

/* Takes ownership of rec's fields (rec is zeroed), filter, headers and
 * schedule; parses rec.destination_json (see sub_destination_load). Replaces a subscription with the same (partner_id, event_type).
 * Tells the listener: REMOVED for the one replaced, ADDED for the new one.
 * One replaced with the same subscription_id (an update in place, a
 * reload of a changed row) hands its gate over, and stays allocated until
 * the listener heard ADDED: what the dispatcher keeps for it (its host's
 * state) outlives the swap when the new one shares it. */
hl_sub *hl_registry_put_sub(hl_registry *r, hl_sub_rec *rec, hl_filter *filter,
                            struct curl_slist *headers, hl_retry_schedule *schedule);
hl_sub *hl_registry_sub_get(const hl_registry *r, const char *subscription_id);
/* The subscription of a partner to an event type, or NULL. */
hl_sub *hl_registry_sub_find(const hl_registry *r, const char *partner_id, const char *event_type);
/* Subscriptions of an event type (never NULL; may be empty). */
const hl_sub_list *hl_registry_subs_for_type(const hl_registry *r, const char *event_type);
/* Removes a subscription (the listener hears REMOVED); false when unknown. */
bool hl_registry_delete_sub(hl_registry *r, const char *subscription_id);

/* --- partners (model/hl_partner.h) ---------------------------------------- */

hl_partner *hl_registry_partner_get(const hl_registry *r, const char *partner_id);
/* Registers a stored partner: takes ownership of rec's fields (rec is
 * zeroed). An existing one is updated in place, keeping its gate's running
 * count and its subscriptions. */
hl_partner *hl_registry_put_partner(hl_registry *r, hl_partner_rec *rec);
/* The partner of a new subscription s, which joins its list: the registered
 * one, or a new one implied by it (stored false). Returns a reference. */
hl_partner *hl_registry_partner_attach(hl_registry *r, const char *partner_id, hl_sub *s);
/* A subscription leaves its partner's list (idempotent). An implied partner
 * left without subscriptions leaves the registry. */
void hl_registry_partner_detach(hl_registry *r, hl_partner *p, hl_sub *s);
/* Removes a partner without subscriptions; false when unknown or when it
 * still has some. */
bool hl_registry_delete_partner(hl_registry *r, const char *partner_id);

/* Sets a registered subscription's status ("ACTIVE", "DISABLED") in place,
 * after the store took it; the listener hears STATUS. */
void hl_registry_sub_status(hl_registry *r, hl_sub *s, const char *status);
/* Whether deliveries are held back for it (status DISABLED). */
bool hl_sub_disabled(const hl_sub *s);

void hl_sub_ref(hl_sub *s);
void hl_sub_unref(hl_registry *r, hl_sub *s);

#endif
