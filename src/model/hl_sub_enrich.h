/* hl_sub_enrich.h — a subscription's Partner Info enrichment settings
 * (docs/enrichment.md): the member
 *
 *   "enrichment": {"on_failure": "retry" | "deliver_unenriched"}
 *
 * of a subscription, which overrides PARTNER_INFO_ON_FAILURE for it. Kept
 * in hl_sub_rec.enrichment_on_failure (NULL: the process's setting).
 * No I/O; strings returned are the caller's. */
#ifndef HL_SUB_ENRICH_H
#define HL_SUB_ENRICH_H

#include <stdbool.h>
#include <stddef.h>

#include "json/hl_json.h"
#include "store/hl_store.h"

/* Reads the "enrichment" member v (an object, or null for none) into
 * *on_failure (a new string, or NULL). 0, or HL_EINVAL with the JSON
 * pointer of the offending value (from the subscription's root) in ptr and
 * the reason in why. */
int hl_sub_enrich_parse(const hl_json *v, char **on_failure, char *ptr, size_t ptr_len, char *why, size_t why_len);
/* The member's value as GET shows it: {"on_failure":...}, or null. */
void hl_sub_enrich_write(hl_jw *w, const hl_sub_rec *r);
/* Whether a delivery of r goes out unenriched when the service fails:
 * its own policy, or process_default (PARTNER_INFO_ON_FAILURE). */
bool hl_sub_enrich_deliver_unenriched(const hl_sub_rec *r, bool process_default);

#endif
