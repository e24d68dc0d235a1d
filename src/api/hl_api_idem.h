/* hl_api_idem.h — the Idempotency-Key header of POST /api/v1/events
 * (hl_api_idem.c). */
#ifndef HL_API_IDEM_H
#define HL_API_IDEM_H

#include <stdbool.h>

#include "api/hl_api_int.h"
#include "common/hl_buf.h"

#define HL_IDEMPOTENCY_KEY_MAX 255
/* How long a key stays bound to its body when hl_api_options.idempotency_ttl_s
 * is 0 (serve sets it from HOOKLOOP_RETENTION_DAYS, default 30 days). */
#define HL_IDEMPOTENCY_KEY_TTL_S (30 * 24 * 3600)

typedef struct hl_api_idem hl_api_idem;

/* false: the request has no Idempotency-Key (go on without one). true:
 * the request is taken care of: answered (400 for a key that is not 1-255
 * visible ASCII characters, 409 for a key bound to another body, 503 when
 * the store failed), or next(k, a, req, arg) runs (arg: a copy of the
 * caller's, e.g. the path's event type; may be NULL) once the key is bound to this
 * body; the caller then ends k with hl_api_idem_end, or hl_api_idem_refuse. */
bool hl_api_idem_begin(hl_api *a, hl_http_req *req, const char *arg,
                       void (*next)(hl_api_idem *k, hl_api *a, hl_http_req *req, const char *arg));
/* Frees k (NULL: nothing); the key stays bound to the body. */
void hl_api_idem_end(hl_api_idem *k);
/* The body was refused before it was accepted: gives the key back, then
 * answers req with status and *answer (taken; a JSON body), and frees k;
 * 503 instead when the store could not take the key back. k NULL (no
 * key): answers at once. */
void hl_api_idem_refuse(hl_api_idem *k, hl_http_req *req, int status, hl_buf *answer);

#endif
