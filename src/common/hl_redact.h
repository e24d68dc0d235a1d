/* hl_redact.h — a URL as it may be shown (an answer, a log line): its
 * userinfo (http://user:password@host) replaced, so a credential an
 * operator or a client put in a URL is never shown back. */
#ifndef HL_REDACT_H
#define HL_REDACT_H

#include <stdbool.h>

#include "common/hl_buf.h"

/* What is shown instead of a credential. */
#define HL_REDACTED "REDACTED"

/* Appends url to out with everything between "://" and the last '@' of
 * the authority replaced by HL_REDACTED; a URL without userinfo (or a
 * value that is no URL) unchanged. Returns whether something was hidden. */
bool hl_redact_url(hl_buf *out, const char *url);

#endif
