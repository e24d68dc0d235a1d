/* hl_api_idem.c — the Idempotency-Key header of POST /api/v1/events
 * (docs/interface.md, "Idempotency-Key").
 *
 * A key is bound to the SHA-256 of the first body sent with it, in the
 * idempotency ledger ("idempotency-key#<key>" -> "sha256:<hex>"), for
 * HOOKLOOP_RETENTION_DAYS (hl_api_options.idempotency_ttl_s). The same key with the same body goes on as
 * any request (the same event id: the duplicate answer, or accepted when
 * the first request never got that far); with another body it is a 409.
 * A body the checks refuse gives its key back, so a corrected body may
 * use it; the refusal is answered only once the key is back
 * (hl_api_idem_refuse).
 */
#include "api/hl_api_idem.h"
#include "common/hl_common.h"
#include "common/hl_log.h"
#include "crypto/hl_crypto.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define KEY_PREFIX "idempotency-key#"

struct hl_api_idem {
  hl_api *a;
  hl_http_req *req;
  char ledger_key[sizeof KEY_PREFIX + HL_IDEMPOTENCY_KEY_MAX];
  char hash[7 + 64 + 1];         /* "sha256:<hex>" */
  bool rechecked;                /* the stored entry was found expired once */
  void (*next)(hl_api_idem *k, hl_api *a, hl_http_req *req, const char *arg);
  char *arg;
  int refusal_status;            /* the answer held until the key is back */
  hl_buf refusal;
};

static void on_put(void *data, int status, hl_store_result *res);

/* When a binding made now expires (epoch seconds; live while later than
 * now). The second is rounded up: rounded down, a binding made at x.999 s
 * with a TTL of 1 s was gone 1 ms later, and any binding lived up to a
 * second less than its TTL. */
static int64_t expires_at(const hl_api *a) {
  return (hl_wall_ms() + 999) / 1000 +
         (a->opt.idempotency_ttl_s > 0 ? a->opt.idempotency_ttl_s : HL_IDEMPOTENCY_KEY_TTL_S);
}

static void go_on(hl_api_idem *k) {
  k->a->pending--;
  k->next(k, k->a, k->req, k->arg);
}

static void fail(hl_api_idem *k, int status) {
  k->a->pending--;
  hl_api_respond_store_error(k->req, status);
  hl_free(k->arg);
  hl_free(k);
}

static void on_get(void *data, int status, hl_store_result *res) {
  hl_api_idem *k = data;
  if (status == HL_ENOTFOUND || (status == 0 && !res->value)) {
    if (k->rechecked) { /* gone again: nothing more to learn by asking */
      fail(k, HL_ESTORE);
      return;
    }
    /* Expired (a store that keeps expired entries until replaced): take it. */
    k->rechecked = true;
    k->a->store->vt->ledger_put(k->a->store, k->ledger_key, k->hash, expires_at(k->a), true,
                                on_put, k);
    return;
  }
  if (status != 0) {
    fail(k, status);
    return;
  }
  if (strcmp(res->value, k->hash) == 0) {
    /* Bound to this very body: refused, it gives the key back too. That
     * frees a key whose give-back failed once (answered 503, sent again).
     * A body accepted before and refused now (its schema grew stricter)
     * frees its key as well; its event id stays taken, so only another id
     * could be accepted under the key. */
    go_on(k);
    return;
  }
  k->a->pending--;
  hl_api_respond_error(k->req, 409, "idempotency_key_reused",
                       "this Idempotency-Key was sent before with another body; use a new key for another event",
                       "[{\"path\":\"Idempotency-Key\",\"message\":\"bound to another body\"}]");
  hl_free(k->arg);
  hl_free(k);
}

static void on_put(void *data, int status, hl_store_result *res) {
  hl_api_idem *k = data;
  (void)res;
  if (status == 0) {
    go_on(k);
  } else if (status == HL_EEXISTS) {
    k->a->store->vt->ledger_get(k->a->store, k->ledger_key, on_get, k);
  } else {
    fail(k, status);
  }
}

bool hl_api_idem_begin(hl_api *a, hl_http_req *req, const char *arg,
                       void (*next)(hl_api_idem *k, hl_api *a, hl_http_req *req, const char *arg)) {
  size_t len = 0;
  const char *h = hl_http_req_header(req, "idempotency-key", &len);
  if (!h) return false;
  bool ok = len > 0 && len <= HL_IDEMPOTENCY_KEY_MAX;
  for (size_t i = 0; ok && i < len; i++) ok = (unsigned char)h[i] >= 0x21 && (unsigned char)h[i] <= 0x7e;
  /* Sent twice, the key is ambiguous (a proxy may have added one): which
   * one binds the body is not for the server to guess. */
  size_t seen = 0;
  for (size_t i = 0; i < req->nheaders; i++)
    if (req->headers[i].name_len == 15 && strncasecmp(req->headers[i].name, "idempotency-key", 15) == 0) seen++;
  if (seen > 1) {
    hl_api_respond_field_error(req, "Idempotency-Key", "sent more than once; send one Idempotency-Key header");
    return true;
  }
  if (!ok) {
    hl_api_respond_field_error(req, "Idempotency-Key",
                               "an Idempotency-Key is 1 to 255 visible ASCII characters, no spaces");
    return true;
  }
  hl_api_idem *k = hl_calloc(1, sizeof *k);
  *k = (hl_api_idem){.a = a, .req = req, .next = next, .arg = arg ? hl_strdup(arg) : NULL};
  snprintf(k->ledger_key, sizeof k->ledger_key, KEY_PREFIX "%.*s", (int)len, h);
  uint8_t d[32];
  hl_sha256(req->body, req->body_len, d);
  memcpy(k->hash, "sha256:", 7);
  for (int i = 0; i < 32; i++) snprintf(k->hash + 7 + 2 * i, 3, "%02x", d[i]);
  a->pending++;
  a->store->vt->ledger_put(a->store, k->ledger_key, k->hash, expires_at(a), false, on_put, k);
  return true;
}

void hl_api_idem_end(hl_api_idem *k) {
  if (!k) return;
  hl_free(k->arg);
  hl_free(k);
}

static void on_given_back(void *data, int status, hl_store_result *res) {
  hl_api_idem *k = data;
  (void)res;
  k->a->pending--;
  if (status == 0) {
    hl_api_respond_buf(k->req, k->refusal_status, &k->refusal);
  } else {
    /* Not given back: answered with the refusal, the key would stay bound
     * to the refused body until it expired, and the corrected body would
     * be a 409. A 503 is retried with the same body, whose refusal then
     * gives the key back once the store answers. */
    hl_log_warn("idempotency key not given back", "\"error\":\"%s\"", hl_strerror(status));
    hl_buf_dispose(&k->refusal);
    hl_api_respond_store_error(k->req, status);
  }
  hl_api_idem_end(k);
}

void hl_api_idem_refuse(hl_api_idem *k, hl_http_req *req, int status, hl_buf *answer) {
  if (!k) {
    hl_api_respond_buf(req, status, answer);
    return;
  }
  /* An entry that expired already is one nobody holds. The answer waits
   * for the write: sent at once, a client correcting its body at once could
   * reach the store (another connection of a pool) before the give-back,
   * and find its own key bound to the body just refused. */
  k->refusal_status = status;
  k->refusal = *answer;
  *answer = (hl_buf)HL_BUF_INIT;
  k->a->pending++;
  k->a->store->vt->ledger_put(k->a->store, k->ledger_key, k->hash, 1, true, on_given_back, k);
}
