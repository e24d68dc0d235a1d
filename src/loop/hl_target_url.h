/* hl_target_url.h — whether a URL can be a delivery target, judged before
 * anything is sent to it: wherever a target URL is taken (a subscription's
 * url, the inbox secret's webhook URL), the same rule and the same words.
 *
 * A target is an absolute http:// or https:// URL, written with exactly
 * two slashes before its authority (where its credentials are looked for),
 * with a host (an internationalized one that converts to ASCII, as the
 * sender sends it)
 * and, unless private targets are allowed (HOOKLOOP_ALLOW_PRIVATE_TARGETS),
 * neither a literal address the address policy refuses
 * (common/hl_addr_policy.h) nor a localhost name, judged in the host's
 * ASCII form, so "ｌｏｃａｌｈｏｓｔ" is localhost. A host name that only
 * resolves to such an address passes here: the HTTP sender refuses it when
 * connecting. Pure: callable from any thread. */
#ifndef HL_TARGET_URL_H
#define HL_TARGET_URL_H

#include <stdbool.h>
#include <stddef.h>

/* NULL when url can be a target; otherwise the problem, for an operator:
 * static text, or text in buf (buflen bytes) when it names the block or
 * the host. */
const char *hl_target_url_problem(const char *url, bool allow_private, char *buf, size_t buflen);

#endif
