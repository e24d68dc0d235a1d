/* hl_attempt_log.h — the attempt log's record of one attempt, made from
 * what the sender brought back (docs/interface.md, "Attempt log").
 *
 * What is kept is bounded and redacted here, before anything reaches the
 * store: the answer's headers as a JSON object without any header that
 * may carry a credential (hl_attempt_header_redacted), and the first
 * HL_ATTEMPT_BODY_MAX bytes of its body as UTF-8 text.
 */
#ifndef HL_ATTEMPT_LOG_H
#define HL_ATTEMPT_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/hl_buf.h"
#include "handlers/hl_sender.h"
#include "store/hl_store.h"

/* At most this many headers of an answer are kept, each value cut at
 * HL_ATTEMPT_HEADER_VALUE_MAX bytes. */
#define HL_ATTEMPT_HEADERS_MAX 32
#define HL_ATTEMPT_HEADER_VALUE_MAX 256

/* Fills out (its fields allocated; free with hl_attempt_rec_free) with
 * attempt number `attempt` of d's delivery, ended at at_ms. */
void hl_attempt_log_build(hl_attempt_rec *out, const hl_delivery_rec *d, int64_t attempt, int64_t at_ms,
                          const hl_send_result *res);

/* The buffers hl_attempt_log_fill reuses from one attempt to the next, so
 * that logging an attempt allocates nothing once they have grown. One per
 * logger (the dispatcher); zero-initialised is ready. raw: the answer
 * headers that headers holds as JSON; the same headers again (a partner
 * answering alike within the second of its Date) are not converted again. */
typedef struct {
  hl_buf headers, body, tmp, raw;
} hl_attempt_log_scratch;

/* As hl_attempt_log_build, allocating nothing: out's strings are borrowed
 * from d, res and sc, valid until sc is filled again or d or res change.
 * For a store's attempt_put, which copies what it keeps during the call.
 * out is not to be passed to hl_attempt_rec_free. */
void hl_attempt_log_fill(hl_attempt_rec *out, hl_attempt_log_scratch *sc, const hl_delivery_rec *d,
                         int64_t attempt, int64_t at_ms, const hl_send_result *res);
void hl_attempt_log_scratch_dispose(hl_attempt_log_scratch *sc);

/* true: a header that is never stored, as it may carry a credential or a
 * session (Set-Cookie, Authorization, WWW-Authenticate, anything naming a
 * token, a key, a secret, a password, a signature or a session). name is
 * not NUL-terminated; case does not matter. */
bool hl_attempt_header_redacted(const char *name, size_t len);

#endif
