/* hl_partner.h — partners in the registry: who the subscriptions deliver
 * to, with one admission gate shared by all of a partner's subscriptions.
 *
 * A partner is registered (POST /admin/partners, or implicitly when a
 * subscription names one that is not: stored is then set once the row is
 * written) or only implied by a stored subscription older than the partner
 * table (stored false: no limits, and HOOKLOOP_REQUIRE_PARTNERS counts it
 * as unknown).
 *
 * The registry keeps the table of partners by id and links subscriptions
 * to them (hl_registry.h, "partners"); this file is the partner itself.
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
#include "model/hl_sub_list.h"
#include "store/hl_store.h"

typedef struct hl_partner hl_partner;

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

/* A partner known only by its id (stored false, no limits), with one
 * reference, the caller's. */
hl_partner *hl_partner_new(const char *partner_id);
/* Takes rec's fields (rec is zeroed) as p's record, keeping p's id (the
 * registry's key for it) and its gate's running count; p is stored after. */
void hl_partner_set_rec(hl_partner *p, hl_partner_rec *rec);

void hl_partner_unref(hl_partner *p);

#endif
