/* hl_sender.h — the destination interface: how one attempt of a delivery
 * reaches a partner, and what came of it.
 *
 * The dispatcher (hl_dispatch.c) keeps the delivery state machine, the
 * queues, the limits and the retry schedule; a sender only carries one
 * attempt and classifies its answer. hl_sender_http.c is the webhook
 * sender (signed HTTP POST over curl multi); an SNS, SQS or EventBridge
 * sender is one more implementation of this vtable. Tests drive the
 * dispatcher with a fake one (tests/handlers/test_dispatch.c).
 *
 * Ownership: the caller owns the hl_send_req (embedded in its delivery) and
 * keeps it, its subscription and its item alive until done runs or the
 * request is cancelled. done runs exactly once per send, possibly before
 * send returns (a request that cannot start); never after cancel.
 */
#ifndef HL_SENDER_H
#define HL_SENDER_H

#include <stdbool.h>
#include <stdint.h>

#include "model/hl_registry.h"
#include "store/hl_store.h"

#define HL_SEND_ERROR_SIZE 256 /* curl's CURL_ERROR_SIZE */
#define HL_SEND_HEADERS_SIZE 2048 /* the answer's header lines kept for the attempt log */
#define HL_SEND_BODY_SIZE 1024    /* the answer's first bytes kept for the attempt log */

typedef enum {
  HL_SEND_OK,     /* the partner took it (2xx) */
  HL_SEND_RETRY,  /* worth another attempt (a 408/429/5xx answer, a connection-level fault) */
  HL_SEND_FAIL    /* no attempt can succeed (a 4xx answer, a refused target, an unusable secret) */
} hl_send_verdict;

typedef struct {
  hl_send_verdict verdict;
  /* The request went out (it counts as an attempt). false: it never
   * started; RETRY then means "try again in a second", FAIL "never". */
  bool attempted;
  long status_code;          /* 0 when there was no HTTP answer */
  uint64_t retry_after_ms;   /* the partner's Retry-After, 0 when none */
  double latency_s;          /* of this attempt */
  bool timed_out;            /* the transfer outlasted the timeout (adaptive concurrency cuts on it) */
  /* Empty on OK, except when the transfer failed after a 2xx status
   * (the answer's body cut short): what failed, for the attempt log. */
  char error[HL_SEND_ERROR_SIZE];
  /* What the partner answered, for the attempt log (raw, not redacted:
   * handlers/hl_attempt_log.h redacts it): the final answer's header
   * lines ("Name: value\r\n"...) cut at whole lines, and its first bytes.
   * Empty when there was no HTTP answer or the sender has none. */
  char resp_headers[HL_SEND_HEADERS_SIZE];
  size_t resp_headers_len;
  char resp_body[HL_SEND_BODY_SIZE];
  size_t resp_body_len;
  bool resp_body_more;       /* the answer's body was longer than resp_body */
} hl_send_result;

typedef struct hl_send_req hl_send_req;
struct hl_send_req {
  hl_sub *sub;               /* the destination: url, headers, timeout, secret */
  const hl_eq_item *item;    /* event id, accepted bytes, trace context */
  /* The bytes to send and sign when they are not the accepted ones (a
   * transformation made them; the caller owns them); NULL: item->body. */
  const char *body;
  size_t body_len;
  void (*done)(hl_send_req *req, const hl_send_result *res);
  void *impl;                /* the sender's state while the request runs */
};

typedef struct hl_sender hl_sender;
typedef struct {
  /* Starts one attempt of req; req->done tells the result. */
  void (*send)(hl_sender *s, hl_send_req *req);
  /* Abandons a running request; its done is not called. */
  void (*cancel)(hl_sender *s, hl_send_req *req);
  /* Frees the sender; nothing may be running. */
  void (*close)(hl_sender *s);
  /* Appends the sender's own metrics (Prometheus text) to out; NULL: none. */
  void (*render_metrics)(const hl_sender *s, hl_buf *out);
} hl_sender_vt;

struct hl_sender {
  const hl_sender_vt *vt;
};

/* What an attempt carries: req->body when set, else the accepted bytes.
 * Every sender sends (and signs) these. */
static inline const char *hl_send_body(const hl_send_req *req, size_t *len) {
  *len = req->body ? req->body_len : req->item->body_len;
  return req->body ? req->body : req->item->body;
}

#endif
