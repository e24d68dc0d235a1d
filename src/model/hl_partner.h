/* hl_partner.h — partners in the registry: who the subscriptions deliver
 * to, with one admission gate shared by all of a partner's subscriptions.
 *
 * A partner is registered (POST /admin/partners, or implicitly when a
 * subscription names one that is not: stored is then set once the row is
 * written) or only implied by a stored subscription older than the partner
 * table (stored false: no limits, and HOOKLOOP_REQUIRE_PARTNERS counts it
 * as unknown).
 *
 * Ownership: the registry owns its partners; a subscription holds a
 * reference to its partner (hl_sub.partner) so that deliveries still in
 * flight after a delete find the gate they took a slot from. The partner's
 * list of subscriptions holds no references: a subscription leaves it when
 * it is unlinked or freed.
 */
#ifndef HL_PARTNER_H
#define HL_PARTNER_H

#include <stdbool.h>

#include "model/hl_gate.h"
#include "model/hl_registry.h"
#include "store/hl_store.h"

struct hl_partner {
  int refs;
  bool stored;        /* a row in the store */
  hl_partner_rec rec; /* owned */
  hl_gate gate;       /* shared by the partner's subscriptions: rec.max_in_flight, rec.rate_limit_per_s */
  hl_sub_list subs;   /* the partner's registered subscriptions (not referenced) */
  size_t wake_from;   /* where the next wake-up starts in subs, so none is always last */
};

/* The gate's settings from the partner's limits. */
void hl_partner_gate_config(const hl_partner_rec *r, hl_gate_config *out);

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

/* At registry dispose: drops the registry's partners. */
void hl_registry_partners_dispose(hl_registry *r);

void hl_partner_unref(hl_partner *p);

#endif
