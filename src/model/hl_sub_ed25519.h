/* hl_sub_ed25519.h — a subscription's Ed25519 signing keys, expanded once.
 *
 * Expanding a "whsk_" key from its seed costs about what a signature does,
 * so the keys active now (model/hl_sub_secrets.h) are expanded at the
 * first send and kept with the subscription (hl_sub.ed25519) until:
 *   - a previous key's overlap ends (the list of active keys changes then):
 *     prepared again at the next send;
 *   - the secret is rotated, or the subscription freed: hl_sub_ed25519_drop,
 *     which wipes the expanded keys.
 * A list that does not decode as a whole is remembered as unusable until
 * the same events, so it is not decoded on every send either.
 *
 * Ownership: the subscription owns it; loop thread only, like the rest of
 * hl_sub.
 */
#ifndef HL_SUB_ED25519_H
#define HL_SUB_ED25519_H

#include <stdint.h>

#include "common/hl_buf.h"
#include "model/hl_registry.h"

/* Appends "v1a,<sig>" for each of s's keys active at now_s (space-separated)
 * to out. Returns 0, or HL_EINVAL when the active keys are unusable (none,
 * or one that does not decode): nothing is appended then. */
int hl_sub_ed25519_sign(hl_sub *s, const char *msg_id, int64_t now_s, const void *body, size_t body_len, hl_buf *out);
/* Wipes and frees s's expanded keys (none: nothing). */
void hl_sub_ed25519_drop(hl_sub *s);

#endif
