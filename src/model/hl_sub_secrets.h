/* hl_sub_secrets.h — a subscription's signing secrets over time: the
 * rotation's overlap window (POST /admin/subscriptions/{id}/secret/rotate).
 *
 * The stored secret (hl_sub_rec.secret) is a space-separated list. An entry
 * is "whsec_..." (active until replaced) or "whsec_...~<unix seconds>"
 * (active until then: a previous secret during its overlap). Registration
 * accepts only the first form (hl_webhook_secret_check_list), so the expiry
 * is only ever written here. The newest secret comes first. A subscription
 * signing with Ed25519 (hl_sub_rec.signing) keeps its "whsk_..." secret
 * keys in the same list, with the same expiries. */
#ifndef HL_SUB_SECRETS_H
#define HL_SUB_SECRETS_H

#include <stdbool.h>
#include <stdint.h>

#include "json/hl_json.h"
#include "store/hl_store.h"

/* Whether the subscription signs with Ed25519 ("v1a"; rec.secret then
 * holds "whsk_" keys), rather than HMAC ("v1"). */
bool hl_sub_rec_signs_ed25519(const hl_sub_rec *r);

/* The entries of stored still active at now_s, without their expiry, as a
 * malloc'd space-separated list for the signer; *until_s gets the earliest
 * expiry still ahead (INT64_MAX when none): the list changes then. */
char *hl_sub_secrets_active(const char *stored, int64_t now_s, int64_t *until_s);
/* The stored list after a rotation at now_s: fresh first, then every entry
 * still active, each expiring at now_s + overlap_s at the latest (an entry
 * already expiring sooner keeps its time); entries expired, and those past
 * the signer's limit of secrets, are dropped. overlap_s 0 drops them all.
 * Malloc'd. */
char *hl_sub_secrets_rotate(const char *stored, const char *fresh, int64_t now_s, int64_t overlap_s);
/* The status of each active entry, never a secret value: [{"expires_at":
 * unix seconds or null}], newest first; an Ed25519 key ("whsk_...") adds
 * its "public_key" ("whpk_..."). */
void hl_sub_secrets_describe(const char *stored, int64_t now_s, hl_jw *w);

#endif
