#include "handlers/hl_dispatch.h"
#include "common/hl_addr_policy.h"
#include "common/hl_buf.h"
#include "common/hl_common.h"
#include "common/hl_log.h"
#include "crypto/hl_crypto.h"
#include "crypto/hl_webhook_sig.h"
#include "handlers/hl_retry.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define HL_DELIVERY_HEADERS 8 /* content-type ... traceparent: the most send_attempt adds */
#define CLAIM_RETRY_MS 1000   /* after a claim the store failed */

/* RECORD_WAIT: the outcome's write failed (the store refused it: disk full,
 * read-only, locked); it is written again after RECORD_AGAIN_MS. */
typedef enum { D_WAITING, D_LEDGER, D_SENDING, D_RECORDING, D_RETRY_WAIT, D_RECORD_WAIT, D_DONE } dstate;

static const char *state_name[] = {"WAITING", "LEDGER", "SENDING", "RECORDING", "RETRY_WAIT", "RECORD_WAIT", "DONE"};

#define RECORD_AGAIN_MS 1000

struct hl_delivery {
  dstate state;
  hl_dispatch *owner;
  hl_sub *sub;                 /* referenced */
  hl_eq_item item;             /* owned: ids, attempts, the accepted bytes */
  hl_delivery *next;           /* wait queue link */
  hl_delivery *all_prev, *all_next; /* the dispatcher's list of every delivery */
  bool holds_slot;             /* counts in the in-flight limits */
  void *token;                 /* source mode: the source's handle (a Kafka message) */
  bool recorded;               /* the outcome is durable */
  bool reported;               /* this attempt's outcome was logged and counted (once, however often it is written) */
  hl_timerq_node timer;        /* RETRY_WAIT, RECORD_WAIT */
  hl_curl_xfer xfer;           /* SENDING */
  CURL *easy;
  /* The request's own header lines, in one buffer, linked as curl_slist
   * nodes without an allocation each; the last node links on to the
   * subscription's list (held by the reference on sub). */
  struct curl_slist hnodes[HL_DELIVERY_HEADERS];
  hl_buf hlines;
  hl_buf sig;
  uint64_t sent_ns;
  uint64_t retry_after_ms;     /* from the partner's Retry-After, 0 when none */
  bool refused_private;        /* the connect target was a private address */
  /* The outcome being recorded. */
  hl_outcome outcome;
  long status_code;
  double latency_s;
  char error[CURL_ERROR_SIZE];
  uint64_t next_delay_ms;
};

static void pump_soon(hl_dispatch *d);
static void maybe_finish_close(hl_dispatch *d);
static void try_start(hl_dispatch *d, hl_sub *s);
static void send_attempt(hl_delivery *dl);

/* The one place a delivery changes state; illegal moves are bugs. */
static void transition(hl_delivery *dl, dstate to) {
  static const unsigned allowed[] = {
    [D_WAITING] = 1u << D_LEDGER | 1u << D_SENDING | 1u << D_DONE,
    [D_LEDGER] = 1u << D_SENDING | 1u << D_RECORDING | 1u << D_DONE,
    [D_SENDING] = 1u << D_RECORDING | 1u << D_DONE,
    [D_RECORDING] = 1u << D_RETRY_WAIT | 1u << D_RECORD_WAIT | 1u << D_DONE,
    [D_RETRY_WAIT] = 1u << D_WAITING | 1u << D_DONE,
    [D_RECORD_WAIT] = 1u << D_RECORDING | 1u << D_DONE,
    [D_DONE] = 0,
  };
  if (!(allowed[dl->state] & (1u << to))) {
    /* A bug, not a runtime condition: stop before state is corrupted. */
    hl_log_error("illegal delivery transition", "\"from\":\"%s\",\"to\":\"%s\"", state_name[dl->state],
                 state_name[to]);
    abort();
  }
  hl_dispatch *d = dl->owner;
  bool was_busy = dl->state == D_LEDGER || dl->state == D_SENDING || dl->state == D_RECORDING;
  bool is_busy = to == D_LEDGER || to == D_SENDING || to == D_RECORDING;
  if (was_busy && !is_busy) d->busy--;
  if (!was_busy && is_busy) d->busy++;
  hl_log_debug("delivery state", "\"event_id\":\"%s\",\"subscription_id\":\"%s\",\"from\":\"%s\",\"to\":\"%s\"",
               hl_log_esc(dl->item.d.event_id, (size_t)-1), dl->item.d.subscription_id,
               state_name[dl->state], state_name[to]);
  dl->state = to;
}

/* CURLOPT_OPENSOCKETFUNCTION: the policy is checked on the address actually
 * connected to, so a DNS answer that changes between checks cannot bypass it. */
static curl_socket_t open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *addr) {
  hl_delivery *dl = clientp;
  (void)purpose;
  if (!dl->owner->opt.allow_private_targets && hl_addr_is_private(&addr->addr)) {
    dl->refused_private = true;
    return CURL_SOCKET_BAD;
  }
  return socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
}

/* --- life cycle of one delivery -------------------------------------------- */

static hl_delivery *delivery_new(hl_dispatch *d, hl_sub *s, hl_eq_item *item) {
  hl_delivery *dl = hl_calloc(1, sizeof *dl);
  dl->owner = d;
  dl->sub = s;
  hl_sub_ref(s);
  dl->item = *item;
  *item = (hl_eq_item){0};
  hl_buf_init(&dl->sig);
  hl_buf_init(&dl->hlines);
  dl->state = D_WAITING;
  dl->all_next = d->all;
  if (d->all) d->all->all_prev = dl;
  d->all = dl;
  s->in_memory++;
  d->in_memory++;
  return dl;
}

static void release_easy(hl_dispatch *d, hl_delivery *dl) {
  if (dl->easy) {
    /* Pooled handles are not reset (send_attempt sets every option each
     * time); drop the pointers into this delivery, which is about to go. */
    curl_easy_setopt(dl->easy, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(dl->easy, CURLOPT_POSTFIELDS, NULL);
    curl_easy_setopt(dl->easy, CURLOPT_ERRORBUFFER, NULL);
    curl_easy_setopt(dl->easy, CURLOPT_HEADERDATA, NULL);
    curl_easy_setopt(dl->easy, CURLOPT_OPENSOCKETDATA, NULL);
    if (d->npool < 256 && !d->stopping) {
      if (d->npool == d->cappool) {
        d->cappool = d->cappool ? d->cappool * 2 : 16;
        d->pool = hl_realloc(d->pool, d->cappool * sizeof *d->pool);
      }
      d->pool[d->npool++] = dl->easy;
    } else {
      curl_easy_cleanup(dl->easy);
    }
    dl->easy = NULL;
  }
}

static void delivery_free(hl_delivery *dl) {
  hl_dispatch *d = dl->owner;
  hl_sub *s = dl->sub;
  if (dl->state != D_DONE) transition(dl, D_DONE);
  hl_timerq_remove(&d->timers, &dl->timer);
  release_easy(d, dl);
  hl_buf_dispose(&dl->sig);
  hl_buf_dispose(&dl->hlines);
  hl_eq_item_free(&dl->item);
  if (d->opt.source && dl->token) d->opt.source->finished(d->opt.source->data, dl->token, s, dl->recorded);
  if (dl->all_prev) dl->all_prev->all_next = dl->all_next;
  else d->all = dl->all_next;
  if (dl->all_next) dl->all_next->all_prev = dl->all_prev;
  s->in_memory--;
  d->in_memory--;
  hl_free(dl);
  /* Room in memory again: this subscription (and others) may claim more. */
  if (s->need_claim && !s->deleted) hl_dispatch_notify(d, s);
  if (d->dirty) pump_soon(d);
  try_start(d, s);
  hl_sub_unref(d->reg, s);
  maybe_finish_close(d);
}

static void wake_blocked(hl_dispatch *d);

static void release_slot(hl_delivery *dl) {
  if (!dl->holds_slot) return;
  dl->holds_slot = false;
  dl->sub->in_flight--;
  dl->owner->in_flight--;
  wake_blocked(dl->owner);
}

static void enqueue(hl_sub *s, hl_delivery *dl) {
  dl->next = NULL;
  if (s->wait_tail) s->wait_tail->next = dl;
  else s->wait_head = dl;
  s->wait_tail = dl;
}

static hl_delivery *dequeue(hl_sub *s) {
  hl_delivery *dl = s->wait_head;
  if (dl) {
    s->wait_head = dl->next;
    if (!s->wait_head) s->wait_tail = NULL;
    dl->next = NULL;
  }
  return dl;
}

unsigned hl_dispatch_sub_limit(const hl_dispatch *d, const hl_sub *s) {
  return s->rec.max_in_flight > 0 ? (unsigned)s->rec.max_in_flight : d->opt.default_sub_in_flight;
}

/* In flight plus as many again, at most one claim's worth (a claim takes
 * at most 512), ready to go: the next requests are there when answers
 * come back, and memory stays near what is in flight (10,000 in flight
 * hold ~10,500 bodies, not twice that). */
unsigned hl_dispatch_sub_memory_cap(const hl_dispatch *d, const hl_sub *s) {
  unsigned limit = hl_dispatch_sub_limit(d, s);
  return limit + HL_MIN(limit, 512u);
}


static void report(hl_delivery *dl) {
  hl_dispatch *d = dl->owner;
  double since = (double)(hl_wall_ms() - dl->item.accepted_at) / 1000.0;
  hl_outcome_info info = {
    .outcome = dl->outcome, .event_id = dl->item.d.event_id,
    .subscription_id = dl->item.d.subscription_id, .attempt = (int)dl->item.d.attempts,
    .status_code = dl->status_code, .latency_s = dl->latency_s, .since_accept_s = since,
    .error = dl->error[0] ? dl->error : NULL,
  };
  static const char *names[] = {"success", "duplicate", "retry", "failed"};
  hl_log_write(dl->outcome == HL_OUTCOME_FAILED ? HL_LOG_WARN : HL_LOG_INFO, "delivery attempt",
               "\"event_id\":\"%s\",\"subscription_id\":\"%s\",\"trace\":\"%s\",\"outcome\":\"%s\","
               "\"attempt\":%d,\"status_code\":%ld,\"latency_ms\":%.1f,\"since_accept_ms\":%.1f%s%s%s",
               hl_log_esc(dl->item.d.event_id, (size_t)-1), dl->item.d.subscription_id,
               hl_log_esc(dl->item.trace, (size_t)-1), names[dl->outcome], info.attempt,
               dl->status_code, dl->latency_s * 1000.0, since * 1000.0, info.error ? ",\"error\":\"" : "",
               info.error ? hl_log_esc(info.error, (size_t)-1) : "", info.error ? "\"" : "");
  if (d->opt.on_outcome) d->opt.on_outcome(d->opt.outcome_data, &info);
}

/* RETRY_WAIT timer fired: back into the subscription's queue. */
static void on_retry_due(hl_timerq_node *n) {
  hl_delivery *dl = hl_container_of(n, hl_delivery, timer);
  transition(dl, D_WAITING);
  enqueue(dl->sub, dl);
  try_start(dl->owner, dl->sub);
}

/* A subscription's released retries fall due: it may claim them now. */
static void on_claim_due(hl_timerq_node *n) {
  hl_sub *s = hl_container_of(n, hl_sub, claim_timer);
  hl_dispatch_notify(s->dispatch, s);
}

/* Claims again for s in delay_ms, unless a claim is already due sooner. */
static void claim_later(hl_dispatch *d, hl_sub *s, uint64_t delay_ms) {
  s->dispatch = d;
  if (!hl_timerq_pending(&s->claim_timer) || s->claim_timer.due > uv_now(d->loop) + delay_ms)
    hl_timerq_add(&d->timers, &s->claim_timer, delay_ms, on_claim_due);
}

static void record(hl_delivery *dl);

/* RECORD_WAIT timer fired: the outcome is written again. */
static void on_record_again(hl_timerq_node *n) { record(hl_container_of(n, hl_delivery, timer)); }

static void recorded(hl_delivery *dl, int status) {
  hl_dispatch *d = dl->owner;
  if (status == 0 || status == HL_ENOTFOUND) dl->recorded = true;
  if (status != 0 && status != HL_ENOTFOUND) {
    /* The outcome is not durable and the row stays claimed, so no claim
     * brings the delivery back while this process runs: the outcome is kept
     * here and written again until the store takes it (the partner is not
     * asked twice). At close it is dropped: the restart's unclaiming makes
     * it deliverable again (same webhook-id). */
    hl_log_error("recording a delivery outcome failed", "\"event_id\":\"%s\",\"error\":\"%s\"",
                 hl_log_esc(dl->item.d.event_id, (size_t)-1), hl_strerror(status));
  }
  if (!dl->reported) report(dl);
  dl->reported = true;
  if (status != 0 && status != HL_ENOTFOUND && !d->closing && !d->opt.source) {
    transition(dl, D_RECORD_WAIT);
    hl_timerq_add(&d->timers, &dl->timer, RECORD_AGAIN_MS, on_record_again);
    return;
  }
  dl->reported = false; /* a retry kept in memory reports its own outcome */
  if (d->closing) {
    delivery_free(dl);
    return;
  }
  if (d->opt.source) { /* retries live on retry topics, not in memory */
    delivery_free(dl);
    return;
  }
  if (dl->outcome == HL_OUTCOME_RETRY && dl->next_delay_ms <= d->opt.release_after_ms && !d->stopping &&
      !dl->sub->deleted) {
    transition(dl, D_RETRY_WAIT);
    hl_timerq_add(&d->timers, &dl->timer, dl->next_delay_ms, on_retry_due);
    return;
  }
  if (dl->outcome == HL_OUTCOME_RETRY && !dl->sub->deleted) {
    /* Released to the store: remember to claim again when it falls due. */
    claim_later(d, dl->sub, dl->next_delay_ms);
  }
  delivery_free(dl);
}

static void on_recorded(void *data, int status, hl_store_result *res) {
  (void)res;
  recorded(data, status);
}

void hl_dispatch_forwarded(hl_delivery *dl, int status) { recorded(dl, status); }

static void on_status_put(void *data, int status, hl_store_result *res) {
  hl_delivery *dl = data;
  hl_dispatch *d = dl->owner;
  (void)res;
  if (status == 0 && (dl->outcome == HL_OUTCOME_RETRY || dl->outcome == HL_OUTCOME_FAILED)) {
    /* Not durable until it is on the retry or dead-letter topic; at close the
     * message is handed back instead (consumed again after a restart). */
    if (d->closing) recorded(dl, HL_ECANCELED);
    else d->opt.source->forward(d->opt.source->data, dl, dl->outcome, dl->next_delay_ms);
    return;
  }
  recorded(dl, status);
}

static void record(hl_delivery *dl) {
  hl_dispatch *d = dl->owner;
  transition(dl, D_RECORDING);
  hl_delivery_rec *r = &dl->item.d;
  int64_t now = hl_wall_ms();
  const char *st = dl->outcome == HL_OUTCOME_RETRY ? "RETRYING"
                   : dl->outcome == HL_OUTCOME_FAILED ? "FAILED" : "SUCCESS";
  hl_free(r->status);
  r->status = hl_strdup(st);
  if (dl->outcome != HL_OUTCOME_DUPLICATE) {
    r->last_status_code = dl->status_code;
    r->last_latency_ms = (int64_t)(dl->latency_s * 1000.0 + 0.5);
    hl_free(r->last_error);
    r->last_error = dl->error[0] ? hl_strdup(dl->error) : NULL;
  }
  r->updated_at = now;
  r->next_attempt_at = dl->outcome == HL_OUTCOME_RETRY ? now + (int64_t)dl->next_delay_ms : 0;
  bool release = dl->outcome == HL_OUTCOME_RETRY &&
                 (dl->next_delay_ms > d->opt.release_after_ms || d->stopping || dl->sub->deleted);
  if (dl->outcome == HL_OUTCOME_SUCCESS) {
    char key[256];
    snprintf(key, sizeof key, "%s#%s", r->subscription_id, r->event_id);
    d->store->vt->ledger_put(d->store, key, "DELIVERED", now / 1000 + d->opt.ledger_ttl_s, true, NULL, NULL);
  }
  if (d->opt.source) {
    d->store->vt->delivery_put(d->store, r, on_status_put, dl);
    return;
  }
  /* Both writes join this turn's transaction; the status callback runs after
   * the commit that also made the ledger entry durable. */
  d->store->vt->eq_update(d->store, r, release, on_recorded, dl);
}

/* --- sending ------------------------------------------------------------------ */

static size_t on_header(char *buf, size_t size, size_t n, void *userp) {
  hl_delivery *dl = userp;
  size_t len = size * n;
  if (len > 12 && strncasecmp(buf, "retry-after:", 12) == 0) {
    char v[128];
    size_t vl = HL_MIN(len - 12, sizeof v - 1);
    memcpy(v, buf + 12, vl);
    v[vl] = '\0';
    uint64_t ms = 0;
    if (hl_retry_after_parse(v, hl_wall_ms(), &ms) == 0) dl->retry_after_ms = ms;
  }
  return len;
}

static size_t on_body(char *buf, size_t size, size_t n, void *userp) {
  (void)buf; (void)userp;
  return size * n; /* partners' answers are not kept */
}

static bool retryable_status(long code) { return code == 408 || code == 429 || code >= 500; }

/* An attempt that got no usable HTTP status. Not reaching the partner or
 * not getting a usable answer from it is a connection-level fault, retried:
 * refused, timed out, reset, nothing back, or bytes that are not HTTP (a
 * malformed status line, a TLS record from a TLS port spoken to in plain
 * HTTP; curl calls those an unsupported protocol once the request is out).
 * What no retry can change is permanent. Writes last_error's words into
 * dl->error, keeping curl's own text after them. */
static bool transport_fault(hl_delivery *dl, CURLcode rc) {
  char detail[CURL_ERROR_SIZE];
  snprintf(detail, sizeof detail, "%s", dl->error[0] ? dl->error : curl_easy_strerror(rc));
  long os_errno = 0, sent = 0;
  curl_easy_getinfo(dl->easy, CURLINFO_OS_ERRNO, &os_errno);
  curl_easy_getinfo(dl->easy, CURLINFO_REQUEST_SIZE, &sent);
  bool retry;
  switch (rc) {
  case CURLE_OPERATION_TIMEDOUT: case CURLE_COULDNT_CONNECT: case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_SEND_ERROR: case CURLE_RECV_ERROR: case CURLE_GOT_NOTHING: case CURLE_PARTIAL_FILE:
  case CURLE_SSL_CONNECT_ERROR: case CURLE_HTTP2: case CURLE_HTTP2_STREAM:
    retry = true;
    break;
  case CURLE_WEIRD_SERVER_REPLY:
    snprintf(dl->error, sizeof dl->error, "the partner's answer is not a valid HTTP answer (%.180s)", detail);
    return true;
  case CURLE_UNSUPPORTED_PROTOCOL:
    /* The URL's scheme was checked at registration: with the request sent,
     * it is the answer that curl could not read as HTTP. */
    if (sent <= 0) return false;
    snprintf(dl->error, sizeof dl->error, "the partner's answer is not a valid HTTP answer (%.180s)", detail);
    return true;
  default:
    retry = false;
  }
  if (os_errno == ECONNRESET || os_errno == EPIPE)
    snprintf(dl->error, sizeof dl->error, "connection reset by the partner (%.180s)", detail);
  else
    snprintf(dl->error, sizeof dl->error, "%s", detail);
  return retry;
}

static void on_sent(hl_curl_xfer *x, CURLcode rc) {
  hl_delivery *dl = hl_container_of(x, hl_delivery, xfer);
  hl_dispatch *d = dl->owner;
  hl_sub *s = dl->sub;
  release_slot(dl);
  dl->latency_s = (double)(hl_mono_ns() - dl->sent_ns) / 1e9;
  dl->item.d.attempts++;
  long code = 0;
  curl_easy_getinfo(dl->easy, CURLINFO_RESPONSE_CODE, &code);
  dl->status_code = rc == CURLE_OK ? code : 0;
  bool retry = false;
  if (rc == CURLE_OK && code >= 200 && code < 300) {
    dl->outcome = HL_OUTCOME_SUCCESS;
    dl->error[0] = '\0';
  } else if (dl->refused_private) {
    snprintf(dl->error, sizeof dl->error,
             "target resolves to a private address; set HOOKLOOP_ALLOW_PRIVATE_TARGETS=1 to allow it");
    dl->outcome = HL_OUTCOME_FAILED;
  } else {
    if (rc != CURLE_OK) {
      retry = transport_fault(dl, rc);
    } else {
      snprintf(dl->error, sizeof dl->error, "partner answered %ld", code);
      retry = retryable_status(code);
    }
    const hl_retry_schedule *sch = s->schedule ? s->schedule : d->opt.default_schedule;
    uint64_t delay = 0;
    if (retry && hl_retry_next_delay(sch, (unsigned)dl->item.d.attempts, hl_random_u32(), &delay) == 0) {
      /* Retry-After is honoured up to an hour, never shortening the schedule. */
      if (dl->retry_after_ms > delay) delay = HL_MIN(dl->retry_after_ms, 3600u * 1000u);
      dl->outcome = HL_OUTCOME_RETRY;
      dl->next_delay_ms = delay;
    } else {
      if (retry) {
        size_t l = strlen(dl->error);
        snprintf(dl->error + l, sizeof dl->error - l, " (retries exhausted)");
      }
      dl->outcome = HL_OUTCOME_FAILED;
    }
  }
  release_easy(d, dl);
  hl_buf_reset(&dl->sig);
  try_start(d, s); /* a partner slot is free */
  record(dl);
}

/* A pooled handle keeps the options of its last request: send_attempt sets
 * every option it uses on every request, so none carries over. */
static CURL *take_easy(hl_dispatch *d) {
  if (d->npool > 0) return d->pool[--d->npool];
  return curl_easy_init();
}

static void fail_now(hl_delivery *dl, const char *msg) {
  release_slot(dl);
  snprintf(dl->error, sizeof dl->error, "%s", msg);
  dl->outcome = HL_OUTCOME_FAILED;
  dl->status_code = 0;
  record(dl);
}

/* Signs with the default secret (WEBHOOK_SECRET_ARN) as it is now; its keys
 * are prepared again only when it has changed (rotation). */
static int sign_with_default(hl_dispatch *d, hl_delivery *dl, int64_t ts) {
  const char *v = d->opt.default_secret ? d->opt.default_secret(d->opt.default_secret_data) : NULL;
  if (!v) return HL_EINVAL;
  if (!d->default_value || strcmp(d->default_value, v) != 0) {
    if (d->default_signer) hl_webhook_signer_dispose(d->default_signer);
    else d->default_signer = hl_malloc(sizeof *d->default_signer);
    hl_free(d->default_value);
    d->default_value = hl_strdup(v);
    if (hl_webhook_signer_init(d->default_signer, v) < 0) {
      hl_free(d->default_signer);
      d->default_signer = NULL;
    }
  }
  const char *id = dl->item.d.event_id;
  return d->default_signer
             ? hl_webhook_signer_sign(d->default_signer, id, strlen(id), ts, dl->item.body, dl->item.body_len, &dl->sig)
             : hl_webhook_sign_multi(v, id, ts, dl->item.body, dl->item.body_len, &dl->sig);
}

static int sign_with_own(hl_sub *s, hl_delivery *dl, int64_t ts) {
  if (!s->signer && !s->signer_unusable) {
    s->signer = hl_malloc(sizeof *s->signer);
    if (hl_webhook_signer_init(s->signer, s->rec.secret) < 0) {
      hl_free(s->signer);
      s->signer = NULL;
      s->signer_unusable = true;
    }
  }
  /* The prepared keys when the whole secret list decodes; otherwise the
   * one-shot form, which skips entries that do not. */
  const char *id = dl->item.d.event_id;
  return s->signer ? hl_webhook_signer_sign(s->signer, id, strlen(id), ts, dl->item.body, dl->item.body_len, &dl->sig)
                   : hl_webhook_sign_multi(s->rec.secret, id, ts, dl->item.body, dl->item.body_len, &dl->sig);
}

static void send_attempt(hl_delivery *dl) {
  hl_dispatch *d = dl->owner;
  hl_sub *s = dl->sub;
  transition(dl, D_SENDING);
  dl->error[0] = '\0';
  dl->retry_after_ms = 0;
  dl->refused_private = false;
  int64_t ts = hl_wall_ms() / 1000;
  hl_buf_reset(&dl->sig);
  if (!s->rec.secret) {
    if (sign_with_default(d, dl, ts) != 0) {
      fail_now(dl, "the subscription has no secret and no default secret (WEBHOOK_SECRET_ARN) is readable");
      return;
    }
  } else if (sign_with_own(s, dl, ts) != 0) {
    /* A secret we cannot use: no attempt can ever succeed. */
    fail_now(dl, "the subscription's secret is unusable; register it again with a whsec_ secret");
    return;
  }
  CURL *e = take_easy(d);
  if (!e) {
    fail_now(dl, "out of memory creating an HTTP request");
    return;
  }
  dl->easy = e;
  /* Header lines NUL-separated in hlines; offsets first, pointers once the
   * buffer no longer moves. */
  hl_buf *hb = &dl->hlines;
  hl_buf_reset(hb);
  size_t off[HL_DELIVERY_HEADERS];
  size_t nh = 0;
#define HL_HEADER(...) (off[nh++] = hb->len, hl_buf_printf(hb, __VA_ARGS__), hl_buf_putc(hb, '\0'))
  HL_HEADER("content-type: application/json");
  HL_HEADER("webhook-id: %s", dl->item.d.event_id);
  HL_HEADER("webhook-timestamp: %" PRId64, ts);
  HL_HEADER("webhook-signature: %s", dl->sig.data);
  HL_HEADER("user-agent: hookloop/" HOOKLOOP_VERSION);
  HL_HEADER("expect:"); /* no 100-continue round trip */
  if (dl->item.trace && dl->item.trace[0]) {
    /* W3C traceparent or an AWS X-Ray id, as the producer sent it. */
    HL_HEADER("%s: %s", strncmp(dl->item.trace, "Root=", 5) == 0 ? "x-amzn-trace-id" : "traceparent",
              dl->item.trace);
  }
#undef HL_HEADER
  for (size_t i = 0; i < nh; i++) {
    dl->hnodes[i].data = hb->data + off[i];
    dl->hnodes[i].next = i + 1 < nh ? &dl->hnodes[i + 1] : s->headers;
  }
  struct curl_slist *h = &dl->hnodes[0];
  long timeout = s->rec.timeout_ms > 0 ? (long)s->rec.timeout_ms : d->opt.default_timeout_ms;
  curl_easy_setopt(e, CURLOPT_URL, s->rec.url);
  curl_easy_setopt(e, CURLOPT_POST, 1L);
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, dl->item.body);
  curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)dl->item.body_len);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, HL_MIN(timeout, 10000L));
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, dl);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, dl->error);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_socket);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, dl);
  curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  /* curl allocates this receive buffer per running transfer (16 KB by
   * default); partners' answers are small and their bodies discarded, and
   * 10,000 transfers in flight would spend 160 MB on it. 1 KB is curl's
   * least: a longer answer takes more reads, which only a misbehaving
   * partner sends. */
  curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 1024L);
  dl->sent_ns = hl_mono_ns();
  if (hl_curl_uv_add(d->curl, &dl->xfer, e, on_sent) != 0) {
    release_slot(dl);
    release_easy(d, dl);
    snprintf(dl->error, sizeof dl->error, "could not start the HTTP request");
    dl->outcome = HL_OUTCOME_RETRY;
    dl->next_delay_ms = 1000;
    record(dl);
  }
}

static void on_ledger(void *data, int status, hl_store_result *res) {
  hl_delivery *dl = data;
  if (status == 0 && res->value && strcmp(res->value, "DELIVERED") == 0) {
    release_slot(dl);
    /* Delivered before (a retried batch, a restart after the POST): do not
     * send again; record SUCCESS without touching the attempt's figures. */
    dl->outcome = HL_OUTCOME_DUPLICATE;
    dl->error[0] = '\0';
    record(dl);
    return;
  }
  if (dl->owner->stopping || dl->sub->deleted) {
    release_slot(dl);
    transition(dl, D_DONE);
    delivery_free(dl);
    return;
  }
  send_attempt(dl);
}

static void start(hl_dispatch *d, hl_delivery *dl) {
  if (!d->opt.source) {
    /* Embedded queue: a delivered row is SUCCESS in the same transaction
     * that writes its ledger entry, and SUCCESS rows are never claimed, so
     * the ledger cannot say "delivered" here: skip the read. */
    send_attempt(dl);
    return;
  }
  transition(dl, D_LEDGER);
  char key[256];
  snprintf(key, sizeof key, "%s#%s", dl->item.d.subscription_id, dl->item.d.event_id);
  d->store->vt->ledger_get(d->store, key, on_ledger, dl);
}

static void on_rate_due(hl_timerq_node *n) {
  hl_sub *s = hl_container_of(n, hl_sub, rate_timer);
  try_start(s->dispatch, s);
}

/* Token bucket: true when the subscription's rate limit allows a start now;
 * otherwise arms rate_timer for when it will. */
static bool rate_allows(hl_dispatch *d, hl_sub *s) {
  if (s->rec.rate_limit_per_s <= 0) return true;
  double rate = (double)s->rec.rate_limit_per_s;
  uint64_t now = uv_now(d->loop);
  if (s->tokens_at == 0) s->tokens = 1.0;
  else s->tokens += (double)(now - s->tokens_at) * rate / 1000.0;
  if (s->tokens > rate) s->tokens = rate;
  s->tokens_at = now;
  if (s->tokens >= 1.0) {
    s->tokens -= 1.0;
    return true;
  }
  s->dispatch = d;
  uint64_t wait = (uint64_t)((1.0 - s->tokens) * 1000.0 / rate) + 1;
  if (!hl_timerq_pending(&s->rate_timer)) hl_timerq_add(&d->timers, &s->rate_timer, wait, on_rate_due);
  return false;
}

static void try_start(hl_dispatch *d, hl_sub *s) {
  if (d->stopping) return;
  if (s->deleted) {
    hl_delivery *dl;
    while ((dl = dequeue(s)) != NULL) delivery_free(dl); /* rows stay in the store */
    return;
  }
  unsigned limit = hl_dispatch_sub_limit(d, s);
  while (s->wait_head && s->in_flight < limit) {
    if (d->in_flight >= d->opt.max_in_flight) {
      /* The process is full: queue up for the next free slot, fairly. */
      if (!s->on_blocked) {
        s->on_blocked = true;
        hl_sub_ref(s);
        s->blocked_next = NULL;
        if (d->blocked_tail) d->blocked_tail->blocked_next = s;
        else d->blocked_head = s;
        d->blocked_tail = s;
      }
      return;
    }
    if (!rate_allows(d, s)) return;
    hl_delivery *dl = dequeue(s);
    /* The slot is taken now: LEDGER is quick but counts against the limit. */
    dl->holds_slot = true;
    s->in_flight++;
    d->in_flight++;
    start(d, dl);
  }
}

static void wake_blocked(hl_dispatch *d) {
  while (d->blocked_head && d->in_flight < d->opt.max_in_flight && !d->stopping) {
    hl_sub *s = d->blocked_head;
    d->blocked_head = s->blocked_next;
    if (!d->blocked_head) d->blocked_tail = NULL;
    s->on_blocked = false;
    s->blocked_next = NULL;
    try_start(d, s);
    hl_sub_unref(d->reg, s);
  }
}

/* --- intake from the embedded queue ----------------------------------------- */

typedef struct { hl_dispatch *d; hl_sub *s; size_t asked; } claim_ctx;

static void on_claimed(void *data, int status, hl_store_result *res) {
  claim_ctx *c = data;
  hl_dispatch *d = c->d;
  hl_sub *s = c->s;
  s->claiming = false;
  if (status != 0) {
    hl_log_error("claiming deliveries failed", "\"subscription_id\":\"%s\",\"error\":\"%s\"",
                 s->rec.subscription_id, hl_strerror(status));
    /* need_claim stays; a store that fails (disk full, locked) is asked
     * again in a second, not on every loop turn. */
    if (!s->deleted && !d->stopping) claim_later(d, s, CLAIM_RETRY_MS);
  } else {
    if (res->nitems < c->asked) {
      /* Everything due was taken. What is left falls due later (retries
       * released to the store, or held in memory before a restart): claim
       * again then, since nothing else would. */
      s->need_claim = false;
      if (res->next_due_at > 0 && !s->deleted && !d->stopping) {
        int64_t wait = res->next_due_at - hl_wall_ms();
        claim_later(d, s, wait > 0 ? (uint64_t)wait : 1);
      }
    }
    for (size_t i = 0; i < res->nitems; i++) {
      hl_delivery *dl = delivery_new(d, s, &res->items[i]);
      enqueue(s, dl);
    }
    try_start(d, s);
    if (s->need_claim) hl_dispatch_notify(d, s);
  }
  hl_sub_unref(d->reg, s);
  hl_free(c);
}

static void on_pump(uv_idle_t *h) {
  hl_dispatch *d = hl_container_of(h, hl_dispatch, pump);
  uv_idle_stop(&d->pump);
  if (d->stopping) return;
  unsigned global_cap = d->opt.max_in_flight + 2048;
  hl_sub *list = d->dirty, *keep = NULL;
  d->dirty = NULL;
  while (list) {
    hl_sub *s = list;
    list = s->dirty_next;
    s->dirty_next = NULL;
    s->on_dirty = false;
    if (s->deleted || !s->need_claim) { hl_sub_unref(d->reg, s); continue; }
    unsigned cap = hl_dispatch_sub_memory_cap(d, s);
    if (s->claiming || s->in_memory >= cap || d->in_memory >= global_cap) {
      s->dirty_next = keep; /* no room now: a finishing delivery notifies again */
      keep = s;
      s->on_dirty = true;
      continue;
    }
    size_t room = HL_MIN(cap - s->in_memory, global_cap - d->in_memory);
    room = HL_MIN(room, 512u); /* bound one claim's work */
    claim_ctx *c = hl_malloc(sizeof *c);
    *c = (claim_ctx){d, s, room};
    s->claiming = true;
    hl_sub_ref(s);
    d->store->vt->eq_claim(d->store, s->rec.subscription_id, room, hl_wall_ms(), on_claimed, c);
    hl_sub_unref(d->reg, s);
  }
  /* Subscriptions without room stay listed, holding their reference. */
  while (keep) {
    hl_sub *s = keep;
    keep = s->dirty_next;
    s->dirty_next = d->dirty;
    d->dirty = s;
  }
}

static void pump_soon(hl_dispatch *d) {
  if (!d->stopping && !uv_is_active((uv_handle_t *)&d->pump)) uv_idle_start(&d->pump, on_pump);
}

void hl_dispatch_notify(hl_dispatch *d, hl_sub *s) {
  /* With a source (Kafka, Lambda) deliveries are handed in; there is no
   * embedded queue to claim from. */
  if (d->opt.source) return;
  s->need_claim = true;
  if (d->stopping || s->deleted) return;
  if (!s->on_dirty) {
    s->on_dirty = true;
    hl_sub_ref(s);
    s->dirty_next = d->dirty;
    d->dirty = s;
  }
  pump_soon(d);
}

void hl_dispatch_notify_all(hl_dispatch *d) {
  size_t it = 0;
  void *v;
  while (hl_strmap_next(&d->reg->subs_by_id, &it, NULL, &v)) hl_dispatch_notify(d, v);
}

void hl_dispatch_init(hl_dispatch *d, uv_loop_t *loop, hl_curl_uv *curl, hl_store *store,
                      hl_registry *reg, const hl_dispatch_options *opt) {
  *d = (hl_dispatch){.loop = loop, .curl = curl, .store = store, .reg = reg, .opt = *opt};
  if (d->opt.max_in_flight == 0) d->opt.max_in_flight = 10000;
  if (d->opt.default_sub_in_flight == 0) d->opt.default_sub_in_flight = 256;
  if (d->opt.default_timeout_ms <= 0) d->opt.default_timeout_ms = 30000;
  if (d->opt.release_after_ms == 0) d->opt.release_after_ms = 60000;
  if (d->opt.ledger_ttl_s <= 0) d->opt.ledger_ttl_s = 7 * 24 * 3600;
  hl_timerq_init(&d->timers, loop);
  uv_idle_init(loop, &d->pump);
  d->pump.data = d;
}

void hl_dispatch_submit(hl_dispatch *d, hl_sub *s, hl_eq_item *item, void *token) {
  hl_delivery *dl = delivery_new(d, s, item);
  dl->token = token;
  enqueue(s, dl);
  try_start(d, s);
}

const hl_eq_item *hl_delivery_item(const hl_delivery *dl) { return &dl->item; }
const char *hl_delivery_error(const hl_delivery *dl) { return dl->error; }
hl_sub *hl_delivery_sub(const hl_delivery *dl) { return dl->sub; }

/* Gives a delivery held in memory back to the embedded queue: its row is
 * unclaimed, due when it was due, so whoever claims next takes it. */
static void unclaim(hl_dispatch *d, hl_delivery *dl) {
  if (d->opt.source) return; /* the source hands its record back in finished() */
  hl_delivery_rec *r = &dl->item.d;
  if (dl->state == D_WAITING) r->next_attempt_at = hl_wall_ms();
  d->store->vt->eq_update(d->store, r, true, NULL, NULL);
}

void hl_dispatch_sub_removed(hl_dispatch *d, hl_sub *s) {
  s->need_claim = false;
  /* Detach the wait queue first: freeing a delivery tries to start the
   * subscription's next one, which must find nothing (and arm no timer). */
  hl_delivery *list = s->wait_head;
  s->wait_head = s->wait_tail = NULL;
  /* Waiting deliveries and those waiting for a retry timer go back to the
   * queue: a subscription updated in place (same id) claims them again. */
  while (list) {
    hl_delivery *dl = list;
    list = dl->next;
    unclaim(d, dl);
    delivery_free(dl);
  }
  for (hl_delivery *dl = d->all; dl;) {
    hl_delivery *next = dl->all_next;
    if (dl->sub == s && dl->state == D_RETRY_WAIT) {
      unclaim(d, dl);
      delivery_free(dl);
    }
    dl = next;
  }
  /* Last, so nothing above re-arms them: the subscription may be freed soon. */
  hl_timerq_remove(&d->timers, &s->claim_timer);
  hl_timerq_remove(&d->timers, &s->rate_timer);
}

void hl_dispatch_stop(hl_dispatch *d) {
  d->stopping = true;
  uv_idle_stop(&d->pump);
}

bool hl_dispatch_quiet(const hl_dispatch *d) { return d->busy == 0; }

static void closed_one(hl_dispatch *d) {
  if (--d->closing_handles == 0 && d->close_cb) d->close_cb(d->close_data);
}

static void on_handle_closed(uv_handle_t *h) { closed_one(h->data); }

static void on_timerq_closed(void *data) { closed_one(data); }

static void maybe_finish_close(hl_dispatch *d) {
  if (!d->closing || d->busy > 0 || d->closing_handles > 0) return;
  d->closing_handles = 2; /* also keeps the frees below from coming back here */
  /* Nothing waits for a callback any more: free what is left. */
  while (d->all) delivery_free(d->all);
  while (d->dirty) {
    hl_sub *s = d->dirty;
    d->dirty = s->dirty_next;
    s->on_dirty = false;
    hl_sub_unref(d->reg, s);
  }
  while (d->blocked_head) {
    hl_sub *s = d->blocked_head;
    d->blocked_head = s->blocked_next;
    s->on_blocked = false;
    hl_sub_unref(d->reg, s);
  }
  d->blocked_tail = NULL;
  for (size_t i = 0; i < d->npool; i++) curl_easy_cleanup(d->pool[i]);
  if (d->default_signer) hl_webhook_signer_dispose(d->default_signer); /* wipes the keys */
  hl_free(d->default_signer);
  d->default_signer = NULL;
  if (d->default_value) explicit_bzero(d->default_value, strlen(d->default_value));
  hl_free(d->default_value);
  d->default_value = NULL;
  hl_free(d->pool);
  d->pool = NULL;
  d->npool = 0;
  hl_timerq_close(&d->timers, on_timerq_closed, d);
  uv_close((uv_handle_t *)&d->pump, on_handle_closed);
}

void hl_dispatch_close(hl_dispatch *d, void (*cb)(void *data), void *data) {
  d->stopping = true;
  d->closing = true;
  d->close_cb = cb;
  d->close_data = data;
  uv_idle_stop(&d->pump);
  /* Abandon running requests: their rows stay claimed in the store, which a
   * restart resets, so they are delivered again with the same webhook-id. */
  for (hl_delivery *dl = d->all; dl;) {
    hl_delivery *next = dl->all_next;
    if (dl->state == D_SENDING) {
      hl_curl_uv_cancel(d->curl, &dl->xfer);
      release_slot(dl);
      transition(dl, D_DONE);
    }
    dl = next;
  }
  /* Deliveries in LEDGER or RECORDING wait for their store callback (one
   * loop turn); maybe_finish_close runs again from there. */
  maybe_finish_close(d);
}
