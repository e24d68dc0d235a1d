#include "loop/hl_inbox_client.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/hl_common.h"
#include "common/hl_http_time.h"
#include "common/hl_log.h"
#include "common/hl_strmap.h"
#include "crypto/hl_crypto.h"

#define PAGE_MAX (16u << 20)  /* bytes of a page answer */
#define TOKEN_MAX (64u << 10) /* bytes of a token answer */
#define DEFAULT_SUBJECT "hookloop"

/* --- requests: the HTTP exchanges (fetch, ack, and the token request) ------ */

typedef enum { RQ_FETCH, RQ_ACK, RQ_TOKEN } rq_kind;

/* One request's life:
 *   QUEUED      started, waiting for its first loop turn (callbacks never
 *               run inside the call that made the request)
 *   WAIT_TOKEN  in the client's waiters list until a token is in hand
 *   SENDING     a transfer is on the multi handle
 *   BACKOFF     on the timer heap before the next attempt
 *   PARSING     a fetch's 2xx answer over HL_INLINE_JSON_BYTES is parsed
 *               on the threadpool (a page of up to 16 MiB took ~0.5 s on
 *               the loop, stalling every delivery and request of the
 *               process meanwhile)
 *   DONE        its callback ran (or is running); it is freed after */
typedef enum { RQ_QUEUED, RQ_WAIT_TOKEN, RQ_SENDING, RQ_BACKOFF, RQ_PARSING, RQ_DONE } rq_state;
static const char *const rq_state_name[] = {"QUEUED", "WAIT_TOKEN", "SENDING", "BACKOFF", "PARSING", "DONE"};
static const char *const rq_kind_name[] = {"fetch", "ack", "token"};

struct hl_inbox_req {
  hl_inbox_client *c;
  rq_kind kind;
  rq_state state;
  hl_inbox_req *prev, *next;   /* the client's live list (not the token request) */
  hl_inbox_req *wnext;         /* the waiters list */
  char *url;
  char *id;                    /* ack: the event id */
  size_t id_len;
  unsigned attempts;
  bool renewed;                /* the one renewal a 401 earns is spent */
  uint64_t sent_gen;           /* the token generation the last attempt carried */
  /* The transfer. */
  CURL *easy;
  hl_curl_xfer xfer;
  struct curl_slist *headers;
  hl_buf body;                 /* token request: {"api_key": ...} */
  hl_buf resp;
  size_t resp_max;
  bool resp_too_big;
  uint64_t retry_after_ms;
  hl_timerq_node timer;
  struct page_work *parse;     /* PARSING: the threadpool's work */
  hl_inbox_page *page;         /* a fetch's page parsed off the loop (NULL: see parsed) */
  bool parsed;                 /* page (or its failure in res) came from the threadpool */
  hl_inbox_result res;
  hl_inbox_fetch_cb fetch_cb;
  hl_inbox_ack_cb ack_cb;
  void *data;
};

/* The one place a request changes state; an illegal move is a bug. */
static void rq_transition(hl_inbox_req *r, rq_state to) {
  static const unsigned allowed[] = {
      [RQ_QUEUED] = 1u << RQ_WAIT_TOKEN | 1u << RQ_SENDING | 1u << RQ_DONE,
      [RQ_WAIT_TOKEN] = 1u << RQ_SENDING | 1u << RQ_DONE,
      [RQ_SENDING] = 1u << RQ_WAIT_TOKEN | 1u << RQ_SENDING | 1u << RQ_BACKOFF | 1u << RQ_PARSING | 1u << RQ_DONE,
      [RQ_BACKOFF] = 1u << RQ_WAIT_TOKEN | 1u << RQ_SENDING | 1u << RQ_DONE,
      [RQ_PARSING] = 1u << RQ_DONE,
      [RQ_DONE] = 0,
  };
  if (!(allowed[r->state] & (1u << to))) {
    hl_log_error("illegal inbox request transition", "\"kind\":\"%s\",\"from\":\"%s\",\"to\":\"%s\"",
                 rq_kind_name[r->kind], rq_state_name[r->state], rq_state_name[to]);
    abort();
  }
  hl_log_debug("inbox request state", "\"kind\":\"%s\",\"from\":\"%s\",\"to\":\"%s\"", rq_kind_name[r->kind],
               rq_state_name[r->state], rq_state_name[to]);
  r->state = to;
}

/* --- the token --------------------------------------------------------------- */

/* The token's life:
 *   EMPTY       none in hand
 *   REQUESTING  token mode: the token request is in flight
 *   BACKOFF     token mode: waiting to ask again after a transient failure
 *   VALID       c->token may be sent (until stale or refused)
 * jwt mode goes EMPTY -> VALID at once (minting is local). */
static void tk_transition(hl_inbox_client *c, hl_inbox_token_state to) {
  static const char *const names[] = {"EMPTY", "REQUESTING", "BACKOFF", "VALID"};
  static const unsigned allowed[] = {
      [HL_INBOX_TK_EMPTY] = 1u << HL_INBOX_TK_REQUESTING | 1u << HL_INBOX_TK_VALID,
      [HL_INBOX_TK_REQUESTING] = 1u << HL_INBOX_TK_VALID | 1u << HL_INBOX_TK_BACKOFF | 1u << HL_INBOX_TK_EMPTY,
      [HL_INBOX_TK_BACKOFF] = 1u << HL_INBOX_TK_REQUESTING | 1u << HL_INBOX_TK_EMPTY,
      [HL_INBOX_TK_VALID] = 1u << HL_INBOX_TK_EMPTY,
  };
  if (!(allowed[c->tk] & (1u << to))) {
    hl_log_error("illegal inbox token transition", "\"from\":\"%s\",\"to\":\"%s\"", names[c->tk], names[to]);
    abort();
  }
  hl_log_debug("inbox token state", "\"from\":\"%s\",\"to\":\"%s\"", names[c->tk], names[to]);
  if (c->tk == HL_INBOX_TK_VALID) {
    explicit_bzero(c->token, strlen(c->token));
    hl_free(c->token);
    c->token = NULL;
  }
  c->tk = to;
}

static int64_t wall_ms(hl_inbox_client *c) {
  return c->opt.wall_ms ? c->opt.wall_ms(c->opt.clock_data) : hl_wall_ms();
}

/* A token within the margin of its expiry is not sent: it could expire on
 * the way. The margin is at most half the lifetime, so a short-lived token
 * is still used for its first half. */
static bool token_stale(hl_inbox_client *c) {
  if (c->token_expires_ms == 0) return false; /* no lifetime given: used until refused */
  int64_t margin = HL_MIN((int64_t)c->opt.refresh_margin_ms, c->token_lifetime_ms / 2);
  return wall_ms(c) >= c->token_expires_ms - margin;
}

static void token_set(hl_inbox_client *c, char *token, int64_t lifetime_ms) {
  tk_transition(c, HL_INBOX_TK_VALID);
  c->token = token;
  c->token_gen++;
  c->stats.tokens++;
  c->token_attempts = 0;
  c->token_lifetime_ms = lifetime_ms;
  c->token_expires_ms = lifetime_ms >= 0 ? wall_ms(c) + lifetime_ms : 0;
  hl_log_debug("inbox token obtained", "\"generation\":%llu,\"lifetime_ms\":%lld", (unsigned long long)c->token_gen,
               (long long)lifetime_ms);
}

static void rq_send(hl_inbox_req *r);
static void rq_finish(hl_inbox_req *r, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void token_request(hl_inbox_client *c);

/* Wakes every waiter: with a token they are sent, without one they end
 * with the token's failure. The list is taken first, as a waiter's
 * callback may start other requests. */
static void wake_waiters(hl_inbox_client *c, int status, const hl_inbox_result *why) {
  hl_inbox_req *w = c->waiters;
  c->waiters = c->waiters_tail = NULL;
  while (w) {
    hl_inbox_req *next = w->wnext;
    w->wnext = NULL;
    if (status == 0 && c->tk == HL_INBOX_TK_VALID) {
      rq_send(w);
    } else {
      w->res.http_status = why ? why->http_status : 0;
      rq_finish(w, status ? status : HL_EIO, "no token: %s", why && *why->error ? why->error : "none could be had");
    }
    w = next;
  }
}

static void token_mint(hl_inbox_client *c) {
  int64_t now_s = wall_ms(c) / 1000;
  int64_t life = c->opt.jwt_lifetime_s;
  hl_buf jwt = HL_BUF_INIT;
  int rc = hl_jwt_mint_hs256(c->jwt_secret, strlen(c->jwt_secret), c->jwt_subject, now_s, now_s + life, c->jwt_claims,
                             c->opt.n_jwt_claims, &jwt);
  if (rc != 0) { /* checked at init; a failure here is a bug */
    hl_log_error("inbox token could not be minted", "\"error\":\"%s\"", hl_errname(rc));
    abort();
  }
  /* Judged by its exp, as the server will: exp - now is the lifetime. */
  token_set(c, hl_buf_steal(&jwt, NULL), life * 1000);
  wake_waiters(c, 0, NULL);
}

/* Renews the token: minted at once in jwt mode, requested in token mode. */
static void token_renew(hl_inbox_client *c) {
  if (c->tk != HL_INBOX_TK_EMPTY) return; /* already on its way */
  if (c->opt.auth == HL_INBOX_AUTH_JWT) token_mint(c);
  else token_request(c);
}

/* Makes r wait for a token unless a usable one is in hand; true when r may
 * be sent now. */
static bool token_ready(hl_inbox_req *r) {
  hl_inbox_client *c = r->c;
  if (c->tk == HL_INBOX_TK_VALID && token_stale(c)) {
    c->stats.renew_expiry++;
    tk_transition(c, HL_INBOX_TK_EMPTY);
  }
  if (c->tk == HL_INBOX_TK_VALID) return true;
  rq_transition(r, RQ_WAIT_TOKEN);
  if (c->waiters_tail) c->waiters_tail->wnext = r;
  else c->waiters = r;
  c->waiters_tail = r;
  token_renew(c);
  return false;
}

static void waiters_remove(hl_inbox_client *c, hl_inbox_req *r) {
  hl_inbox_req **pp = &c->waiters, *prev = NULL;
  while (*pp && *pp != r) {
    prev = *pp;
    pp = &(*pp)->wnext;
  }
  if (!*pp) return;
  *pp = r->wnext;
  if (c->waiters_tail == r) c->waiters_tail = prev;
  r->wnext = NULL;
}

/* --- HTTP ------------------------------------------------------------------ */

static size_t on_body(char *ptr, size_t size, size_t n, void *data) {
  hl_inbox_req *r = data;
  return hl_curl_capped_append(&r->resp, r->resp_max, &r->resp_too_big, ptr, size * n);
}

static size_t on_header(char *ptr, size_t size, size_t n, void *data) {
  hl_inbox_req *r = data;
  size_t len = size * n;
  static const char name[] = "retry-after:";
  /* A status line starts an answer's headers: a 1xx's belong to no final
   * answer (RFC 9110 §15.2). */
  if (len >= 5 && strncmp(ptr, "HTTP/", 5) == 0) r->retry_after_ms = 0;
  else if (len > sizeof name - 1 && strncasecmp(ptr, name, sizeof name - 1) == 0)
    hl_http_retry_after_parse(ptr + sizeof name - 1, len - (sizeof name - 1), wall_ms(r->c), r->c->opt.backoff_cap_ms,
                              &r->retry_after_ms);
  return len;
}

static void xfer_cleanup(hl_inbox_req *r) {
  if (r->easy) curl_easy_cleanup(r->easy);
  r->easy = NULL;
  /* The Authorization line holds the token: wiped before it is freed. */
  for (struct curl_slist *h = r->headers; h; h = h->next) explicit_bzero(h->data, strlen(h->data));
  curl_slist_free_all(r->headers);
  r->headers = NULL;
}

static void on_xfer_done(hl_curl_xfer *x, CURLcode result);

/* Starts one HTTP attempt of r (bearer: the token to send, or NULL). */
static void http_start(hl_inbox_req *r, const char *bearer) {
  hl_inbox_client *c = r->c;
  r->attempts++;
  r->res.attempts = r->attempts;
  hl_buf_reset(&r->resp);
  r->resp_too_big = false;
  r->retry_after_ms = 0;
  r->headers = curl_slist_append(r->headers, "Accept: application/json");
  r->headers = curl_slist_append(r->headers, "User-Agent: hookloop/" HOOKLOOP_VERSION);
  r->headers = curl_slist_append(r->headers, "Expect:");
  if (bearer) {
    hl_buf h = HL_BUF_INIT;
    hl_buf_puts(&h, "Authorization: Bearer ");
    hl_buf_puts(&h, bearer);
    r->headers = curl_slist_append(r->headers, h.data);
    explicit_bzero(h.data, h.len);
    hl_buf_dispose(&h);
  }
  CURL *e = r->easy = hl_curl_api_easy(r->url, c->opt.timeout_ms, HL_MIN(c->opt.timeout_ms, 10000L), on_body,
                                        on_header, r);
  if (e && r->kind != RQ_FETCH) {
    if (r->body.len) r->headers = curl_slist_append(r->headers, "Content-Type: application/json");
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body.data ? r->body.data : "");
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body.len);
  }
  if (e) curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
  if (!e || hl_curl_uv_add(c->curl, &r->xfer, e, on_xfer_done) != 0) {
    /* Handled as a connection error, from a loop turn of its own. */
    xfer_cleanup(r);
    r->easy = NULL;
    hl_log_warn("inbox transfer could not start", "\"kind\":\"%s\"", rq_kind_name[r->kind]);
  }
}

/* The answer's class: 0 success (2xx), 1 retryable, -1 final. */
static int classify(long status, CURLcode result, bool too_big) {
  if (too_big) return -1;
  if (result != CURLE_OK) return 1;
  if (status >= 200 && status < 300) return 0;
  if (status == 408 || status == 429 || status >= 500) return 1;
  return -1;
}

/* Exponential back-off with jitter: half the step plus up to the other
 * half, so two clients that failed together do not retry together, and
 * never less than the server's Retry-After (capped). */
static uint64_t backoff_ms(hl_inbox_client *c, unsigned attempt, uint64_t retry_after_ms) {
  uint64_t step = c->opt.backoff_cap_ms;
  if (attempt - 1 < 32 && c->opt.backoff_base_ms <= (c->opt.backoff_cap_ms >> (attempt - 1)))
    step = c->opt.backoff_base_ms << (attempt - 1);
  uint64_t d = step / 2 + (uint64_t)(((unsigned __int128)(step - step / 2) * hl_random_u32()) >> 32);
  return HL_MAX(d, HL_MIN(retry_after_ms, c->opt.backoff_cap_ms));
}

/* --- the token request --------------------------------------------------------- */

static void on_token_timer(hl_timerq_node *n);

static void token_request(hl_inbox_client *c) {
  tk_transition(c, HL_INBOX_TK_REQUESTING);
  hl_inbox_req *r = c->token_x;
  if (!r) {
    r = c->token_x = hl_calloc(1, sizeof *r);
    r->c = c;
    r->kind = RQ_TOKEN;
    r->resp_max = TOKEN_MAX;
    hl_buf b = HL_BUF_INIT;
    hl_inbox_url(&b, c->base_url, c->token_path);
    r->url = hl_buf_steal(&b, NULL);
    hl_jw w;
    hl_jw_open(&w, &r->body);
    hl_jw_key(&w, "api_key");
    hl_jw_str(&w, c->api_key);
    hl_jw_obj_end(&w);
  }
  c->token_attempts++;
  c->stats.token_requests++;
  r->attempts = c->token_attempts - 1; /* http_start counts this one */
  http_start(r, NULL);
  if (!r->easy) on_xfer_done(&r->xfer, CURLE_COULDNT_CONNECT);
}

static void token_answered(hl_inbox_req *r, CURLcode result) {
  hl_inbox_client *c = r->c;
  long status = 0;
  if (result == CURLE_OK) curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
  xfer_cleanup(r);
  hl_inbox_result why = {.http_status = (int)status, .attempts = c->token_attempts};
  int cls = classify(status, result, r->resp_too_big);
  if (cls == 0) {
    char *token = NULL;
    int64_t expires_in = -1;
    int rc = hl_inbox_token_parse(r->resp.data, r->resp.len, &token, &expires_in, why.error, sizeof why.error);
    if (r->resp.data) explicit_bzero(r->resp.data, r->resp.cap); /* the token was in it */
    if (rc == 0) {
      token_set(c, token, expires_in >= 0 ? expires_in * 1000 : -1);
      wake_waiters(c, 0, NULL);
      return;
    }
    tk_transition(c, HL_INBOX_TK_EMPTY);
    hl_log_warn("inbox token answer unusable", "\"error\":\"%s\"", hl_log_esc(why.error, (size_t)-1));
    wake_waiters(c, HL_EPARSE, &why);
    return;
  }
  if (result != CURLE_OK) snprintf(why.error, sizeof why.error, "token request: %s", curl_easy_strerror(result));
  else snprintf(why.error, sizeof why.error, "token request answered %ld", status);
  if (cls > 0 && c->token_attempts < c->opt.auth_max_attempts && !c->closing) {
    tk_transition(c, HL_INBOX_TK_BACKOFF);
    hl_timerq_add(&c->timers, &r->timer, backoff_ms(c, c->token_attempts, r->retry_after_ms), on_token_timer);
    return;
  }
  tk_transition(c, HL_INBOX_TK_EMPTY);
  c->token_attempts = 0;
  int code = (status == 401 || status == 403) ? HL_EREFUSED : cls > 0 ? HL_EIO : HL_EINVAL;
  if (r->resp_too_big) code = HL_ETOOBIG;
  hl_log_warn("inbox token request failed", "\"http_status\":%ld,\"error\":\"%s\"", status,
              hl_log_esc(why.error, (size_t)-1));
  wake_waiters(c, code, &why);
}

static void on_token_timer(hl_timerq_node *n) {
  token_request(hl_container_of(n, hl_inbox_req, timer)->c);
}

/* --- fetch and ack ------------------------------------------------------------- */

static void on_rq_timer(hl_timerq_node *n) {
  hl_inbox_req *r = hl_container_of(n, hl_inbox_req, timer);
  if (token_ready(r)) rq_send(r);
}

static void rq_send(hl_inbox_req *r) {
  hl_inbox_client *c = r->c;
  rq_transition(r, RQ_SENDING);
  r->sent_gen = c->token_gen;
  xfer_cleanup(r);
  http_start(r, c->token);
  if (!r->easy) on_xfer_done(&r->xfer, CURLE_COULDNT_CONNECT);
}

static void rq_unlink(hl_inbox_req *r) {
  hl_inbox_client *c = r->c;
  if (r->prev) r->prev->next = r->next;
  else c->live = r->next;
  if (r->next) r->next->prev = r->prev;
  c->nlive--;
}

static void rq_free(hl_inbox_req *r) {
  xfer_cleanup(r);
  if (r->body.data) explicit_bzero(r->body.data, r->body.cap); /* the token request's api key */
  hl_buf_dispose(&r->resp);
  hl_buf_dispose(&r->body);
  hl_free(r->url);
  hl_free(r->id);
  hl_free(r);
}

static void rq_finish(hl_inbox_req *r, int status, const char *fmt, ...) {
  rq_transition(r, RQ_DONE);
  r->res.status = status;
  if (fmt) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->res.error, sizeof r->res.error, fmt, ap);
    va_end(ap);
  }
  hl_inbox_page *page = NULL;
  if (status == 0 && r->kind == RQ_FETCH && r->parsed) {
    page = r->page; /* parsed on the threadpool; its failure is in res */
    r->page = NULL;
  } else if (status == 0 && r->kind == RQ_FETCH) {
    r->c->stats.pages_parsed_loop++;
    int rc = 0;
    size_t len = r->resp.len;
    char *body = hl_buf_steal(&r->resp, NULL);
    page = hl_inbox_page_parse(body, len, &rc, r->res.error, sizeof r->res.error);
    if (!page) r->res.status = rc;
  }
  if (r->res.status != 0 && r->res.status != HL_ECANCELED)
    hl_log_warn("inbox request failed", "\"kind\":\"%s\",\"id\":\"%s\",\"status\":\"%s\",\"http_status\":%d,"
                "\"attempts\":%u,\"error\":\"%s\"",
                rq_kind_name[r->kind], r->id ? hl_log_esc(r->id, r->id_len) : "", hl_errname(r->res.status),
                r->res.http_status, r->attempts, hl_log_esc(r->res.error, (size_t)-1));
  rq_unlink(r);
  if (r->kind == RQ_FETCH) r->fetch_cb(r->data, &r->res, page);
  else r->ack_cb(r->data, &r->res, r->id);
  rq_free(r);
}

/* A page parsed on the threadpool. The work owns the body and the page
 * until it is back on the loop; r is NULL when the request was cancelled
 * meanwhile (its callback has run, r and maybe the client are gone): the
 * page is then dropped. */
typedef struct page_work {
  uv_work_t work;
  hl_inbox_req *r;
  char *body;
  size_t len;
  hl_inbox_page *page;
  int rc;
  char err[sizeof ((hl_inbox_result *)0)->error];
} page_work;

static void parse_work(uv_work_t *w) {
  page_work *pw = hl_container_of(w, page_work, work);
  /* Takes the body (freed on error too); logs skipped events, which
   * hl_log allows from any thread. */
  pw->page = hl_inbox_page_parse(pw->body, pw->len, &pw->rc, pw->err, sizeof pw->err);
  pw->body = NULL;
}

static void on_parsed(uv_work_t *w, int status) {
  (void)status; /* never cancelled: uv_cancel is not used */
  page_work *pw = hl_container_of(w, page_work, work);
  hl_inbox_req *r = pw->r;
  if (!r) {
    hl_inbox_page_free(pw->page);
    hl_free(pw);
    return;
  }
  r->parse = NULL;
  r->parsed = true;
  r->page = pw->page;
  if (pw->page) rq_finish(r, 0, NULL);
  else rq_finish(r, pw->rc, "%s", pw->err); /* not the protocol's: HL_EPARSE, as on the loop */
  hl_free(pw);
}

/* A 2xx to a fetch: a large page is parsed off the loop. */
static void fetch_answered(hl_inbox_req *r) {
  if (r->resp.len <= HL_INLINE_JSON_BYTES) {
    rq_finish(r, 0, NULL);
    return;
  }
  hl_inbox_client *c = r->c;
  c->stats.pages_parsed_threadpool++;
  rq_transition(r, RQ_PARSING);
  page_work *pw = hl_calloc(1, sizeof *pw);
  pw->r = r;
  pw->len = r->resp.len;
  pw->body = hl_buf_steal(&r->resp, NULL);
  r->parse = pw;
  uv_queue_work(c->loop, &pw->work, parse_work, on_parsed); /* fails only without a work callback */
}

static void rq_answered(hl_inbox_req *r, CURLcode result) {
  hl_inbox_client *c = r->c;
  long status = 0;
  if (result == CURLE_OK) curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
  xfer_cleanup(r);
  r->res.http_status = (int)status;
  int cls = classify(status, result, r->resp_too_big);
  if (cls == 0) {
    if (r->kind == RQ_FETCH) fetch_answered(r);
    else rq_finish(r, 0, NULL);
    return;
  }
  if (status == 401) {
    c->stats.unauthorized++;
    if (r->renewed) {
      rq_finish(r, HL_EREFUSED, "401 again after the token was renewed");
      return;
    }
    r->renewed = true;
    /* Only the token this request carried is dropped: when another
     * request's 401 already replaced it, the new one is simply used. */
    if (c->tk == HL_INBOX_TK_VALID && c->token_gen == r->sent_gen) {
      c->stats.renew_401++;
      tk_transition(c, HL_INBOX_TK_EMPTY);
    }
    if (token_ready(r)) rq_send(r);
    return;
  }
  unsigned max = r->kind == RQ_FETCH ? c->opt.fetch_max_attempts : c->opt.ack_max_attempts;
  if (cls > 0 && r->attempts < max) {
    if (r->kind == RQ_FETCH) c->stats.fetch_retries++;
    else c->stats.ack_retries++;
    rq_transition(r, RQ_BACKOFF);
    hl_timerq_add(&c->timers, &r->timer, backoff_ms(c, r->attempts, r->retry_after_ms), on_rq_timer);
    return;
  }
  if (r->resp_too_big) rq_finish(r, HL_ETOOBIG, "the answer is larger than %zu bytes", r->resp_max);
  else if (result != CURLE_OK) rq_finish(r, HL_EIO, "%s", curl_easy_strerror(result));
  else if (cls > 0) rq_finish(r, HL_EIO, "answered %ld after %u attempts", status, r->attempts);
  else if (status == 401 || status == 403) rq_finish(r, HL_EREFUSED, "answered %ld", status);
  else if (status == 404) rq_finish(r, HL_ENOTFOUND, "answered 404");
  else rq_finish(r, HL_EINVAL, "answered %ld", status);
}

static void on_xfer_done(hl_curl_xfer *x, CURLcode result) {
  hl_inbox_req *r = hl_container_of(x, hl_inbox_req, xfer);
  if (r->kind == RQ_TOKEN) token_answered(r, result);
  else rq_answered(r, result);
}

static void on_queued(hl_timerq_node *n) {
  hl_inbox_req *r = hl_container_of(n, hl_inbox_req, timer);
  if (token_ready(r)) rq_send(r);
}

static hl_inbox_req *rq_new(hl_inbox_client *c, rq_kind kind, void *data) {
  hl_inbox_req *r = hl_calloc(1, sizeof *r);
  r->c = c;
  r->kind = kind;
  r->data = data;
  r->state = RQ_QUEUED;
  r->resp_max = PAGE_MAX;
  r->next = c->live;
  if (c->live) c->live->prev = r;
  c->live = r;
  c->nlive++;
  return r;
}

/* Starts on the timer heap so the callback can never run inside the call. */
static void rq_start(hl_inbox_req *r) { hl_timerq_add(&r->c->timers, &r->timer, 0, on_queued); }

void hl_inbox_fetch(hl_inbox_client *c, unsigned limit, const char *cursor, hl_inbox_fetch_cb cb, void *data) {
  hl_inbox_req *r = rq_new(c, RQ_FETCH, data);
  r->fetch_cb = cb;
  hl_buf u = HL_BUF_INIT;
  hl_inbox_fetch_url(&u, c->base_url, c->inbox_path, limit ? limit : 1, cursor);
  r->url = hl_buf_steal(&u, NULL);
  c->stats.fetches++;
  rq_start(r);
}

void hl_inbox_ack(hl_inbox_client *c, const char *id, size_t id_len, hl_inbox_ack_cb cb, void *data) {
  hl_inbox_req *r = rq_new(c, RQ_ACK, data);
  r->ack_cb = cb;
  r->id = hl_strndup(id, id_len);
  r->id_len = id_len;
  hl_buf u = HL_BUF_INIT;
  hl_inbox_ack_url(&u, c->base_url, c->ack_path, id, id_len); /* the path was checked at init */
  r->url = hl_buf_steal(&u, NULL);
  c->stats.acks++;
  rq_start(r);
}

/* --- pull ------------------------------------------------------------------------ */

typedef struct {
  hl_inbox_client *c;
  unsigned max;
  char *cursor;
  unsigned empty_run;
  hl_strmap seen;
  hl_inbox_pull_stats st;
  hl_inbox_page_cb on_page;
  hl_inbox_pull_cb done;
  void *data;
} pull;

static void pull_end(pull *p, const hl_inbox_result *r) {
  p->done(p->data, r, &p->st);
  hl_strmap_dispose(&p->seen);
  hl_free(p->cursor);
  hl_free(p);
}

static void pull_fail(pull *p, int status, const char *why) {
  hl_inbox_result r = {.status = status};
  snprintf(r.error, sizeof r.error, "%s", why);
  hl_log_warn("inbox pull stopped", "\"error\":\"%s\",\"events\":%zu", why, p->st.events);
  pull_end(p, &r);
}

static bool pull_keep(void *data, const hl_inbox_event *e) {
  pull *p = data;
  p->st.examined++;
  if (hl_strmap_get(&p->seen, e->id)) {
    p->st.duplicates++;
    hl_log_warn("inbox event served twice in one pull, dropped", "\"id\":\"%s\"", hl_log_esc(e->id, e->id_len));
    return false;
  }
  hl_strmap_put(&p->seen, e->id, (void *)1);
  return true;
}

static void pull_next(pull *p);

static void pull_page(void *data, const hl_inbox_result *r, hl_inbox_page *page) {
  pull *p = data;
  if (r->status != 0) {
    pull_end(p, r);
    return;
  }
  p->st.pages++;
  p->st.skipped += page->skipped;
  /* The page was parsed off the loop, but looking for repeats is the
   * loop's: it keeps no more than it still wants and looks at no more than
   * the pull's bound leaves (or, past it, than it wants: a page asked for
   * is taken), however many events the inbox sent. Those it does not look
   * at stay pending for the next pass. */
  size_t want = p->max - p->st.events;
  size_t bound = (size_t)p->max * HL_INBOX_PULL_LOOK_FACTOR;
  size_t looked = p->st.events + p->st.skipped + p->st.duplicates + p->st.over_limit;
  size_t look = looked < bound ? bound - looked : 0;
  size_t got = page->n;
  size_t unseen = hl_inbox_page_filter(page, want, look > want ? look : want, pull_keep, p);
  if (unseen) {
    p->st.over_limit += unseen;
    hl_log_warn("inbox page held more events than asked for", "\"asked\":%zu,\"got\":%zu,\"left_pending\":%zu",
                want, got, unseen);
  }
  p->st.events += page->n;
  char *next = page->next ? hl_strdup(page->next) : NULL;
  bool same = next && p->cursor && strcmp(next, p->cursor) == 0;
  /* Skipped events moved the cursor over something (the events are
   * malformed, and stay pending): progress, unlike a page of repeats. */
  p->empty_run = page->n || page->skipped ? 0 : p->empty_run + 1;
  looked = p->st.events + p->st.skipped + p->st.duplicates + p->st.over_limit;
  if (page->n) p->on_page(p->data, page);
  else hl_inbox_page_free(page);
  hl_free(p->cursor);
  p->cursor = next;
  hl_inbox_result ok = {0};
  if (!next) {
    p->st.exhausted = true;
    pull_end(p, &ok);
  } else if (p->st.events >= p->max) {
    pull_end(p, &ok);
  } else if (looked >= bound) {
    p->st.look_limit = true;
    hl_log_warn("inbox pull looked at its limit of events; the rest waits for the next pass",
                "\"events\":%zu,\"skipped\":%zu,\"duplicates\":%zu", p->st.events, p->st.skipped,
                p->st.duplicates);
    pull_end(p, &ok);
  } else if (same) {
    pull_fail(p, HL_EPARSE, "the inbox answered with the same cursor again");
  } else if (p->empty_run >= 3) {
    pull_fail(p, HL_EPARSE, "three pages in a row with nothing new and a cursor");
  } else {
    pull_next(p);
  }
}

static void pull_next(pull *p) {
  unsigned want = p->max - (unsigned)p->st.events;
  hl_inbox_fetch(p->c, HL_MIN(want, p->c->opt.page_limit), p->cursor, pull_page, p);
}

void hl_inbox_pull(hl_inbox_client *c, unsigned max_events, hl_inbox_page_cb on_page, hl_inbox_pull_cb done,
                   void *data) {
  pull *p = hl_calloc(1, sizeof *p);
  p->c = c;
  p->max = max_events ? max_events : 1;
  p->on_page = on_page;
  p->done = done;
  p->data = data;
  hl_strmap_init(&p->seen);
  pull_next(p);
}

/* --- life cycle ------------------------------------------------------------------ */

static char *dup_or(const char *s, const char *dflt) { return hl_strdup(s ? s : dflt); }

int hl_inbox_init(hl_inbox_client *c, uv_loop_t *loop, hl_curl_uv *curl, const hl_inbox_opts *opt, char *err,
                  size_t errlen) {
  memset(c, 0, sizeof *c);
  const char *b = opt->base_url;
  if (!hl_inbox_is_http_url(b)) {
    snprintf(err, errlen, "API_BASE_URL: must be an http:// or https:// URL");
    return HL_EINVAL;
  }
  if (opt->auth == HL_INBOX_AUTH_TOKEN && (!opt->api_key || !*opt->api_key)) {
    snprintf(err, errlen, "INBOX_AUTH=token needs the api key (zapier_api_key)");
    return HL_EINVAL;
  }
  if (opt->auth == HL_INBOX_AUTH_JWT && (!opt->jwt_secret || strlen(opt->jwt_secret) < HL_JWT_KEY_MIN)) {
    snprintf(err, errlen, "INBOX_AUTH=jwt needs a jwt_secret of at least %d bytes", HL_JWT_KEY_MIN);
    return HL_EINVAL;
  }
  if (opt->ack_path && !strstr(opt->ack_path, "{id}")) {
    snprintf(err, errlen, "the ack path must hold {id}");
    return HL_EINVAL;
  }
  c->opt = *opt;
  if (!c->opt.jwt_lifetime_s) c->opt.jwt_lifetime_s = 300;
  if (!c->opt.page_limit) c->opt.page_limit = 100;
  if (!c->opt.refresh_margin_ms) c->opt.refresh_margin_ms = 30000;
  if (!c->opt.auth_max_attempts) c->opt.auth_max_attempts = 3;
  if (!c->opt.fetch_max_attempts) c->opt.fetch_max_attempts = 3;
  if (!c->opt.ack_max_attempts) c->opt.ack_max_attempts = 5;
  if (!c->opt.backoff_base_ms) c->opt.backoff_base_ms = 200;
  if (!c->opt.backoff_cap_ms) c->opt.backoff_cap_ms = 10000;
  if (!c->opt.timeout_ms) c->opt.timeout_ms = 30000;
  if (c->opt.jwt_lifetime_s < 1) {
    snprintf(err, errlen, "the JWT lifetime must be at least 1 s");
    return HL_EINVAL;
  }
  if (opt->auth == HL_INBOX_AUTH_JWT) {
    /* Minting once now checks the extra claims, so a bad one is a start-up
     * error rather than a failure on the first request. */
    hl_buf probe = HL_BUF_INIT;
    int rc = hl_jwt_mint_hs256(opt->jwt_secret, strlen(opt->jwt_secret), opt->jwt_subject ? opt->jwt_subject : "x",
                               1, 2, opt->jwt_claims, opt->n_jwt_claims, &probe);
    hl_buf_dispose(&probe);
    if (rc != 0) {
      snprintf(err, errlen, "the JWT claims are unusable (a reserved or repeated name, or a value that is not JSON)");
      return HL_EINVAL;
    }
  }
  c->loop = loop;
  c->curl = curl;
  c->base_url = hl_strdup(b);
  c->api_key = opt->api_key ? hl_strdup(opt->api_key) : NULL;
  c->jwt_secret = opt->jwt_secret ? hl_strdup(opt->jwt_secret) : NULL;
  c->jwt_subject = dup_or(opt->jwt_subject, DEFAULT_SUBJECT);
  c->token_path = dup_or(opt->token_path, "/auth/token");
  c->inbox_path = dup_or(opt->inbox_path, "/inbox");
  c->ack_path = dup_or(opt->ack_path, "/inbox/{id}/ack");
  if (opt->n_jwt_claims) {
    c->jwt_claims = hl_calloc(opt->n_jwt_claims, sizeof *c->jwt_claims);
    for (size_t i = 0; i < opt->n_jwt_claims; i++)
      c->jwt_claims[i] = (hl_jwt_claim){hl_strdup(opt->jwt_claims[i].name), hl_strdup(opt->jwt_claims[i].json)};
  }
  c->opt.base_url = c->opt.api_key = c->opt.jwt_secret = c->opt.jwt_subject = NULL;
  c->opt.token_path = c->opt.inbox_path = c->opt.ack_path = NULL;
  c->opt.jwt_claims = NULL;
  hl_timerq_init(&c->timers, loop);
  return 0;
}

void hl_inbox_cancel_all(hl_inbox_client *c) {
  /* The token request first, so no waiter is woken by it meanwhile. */
  hl_inbox_req *t = c->token_x;
  if (t && c->tk == HL_INBOX_TK_REQUESTING && t->easy) {
    hl_curl_uv_cancel(c->curl, &t->xfer);
    xfer_cleanup(t);
    tk_transition(c, HL_INBOX_TK_EMPTY);
  } else if (t && c->tk == HL_INBOX_TK_BACKOFF) {
    hl_timerq_remove(&c->timers, &t->timer);
    tk_transition(c, HL_INBOX_TK_EMPTY);
  }
  c->token_attempts = 0;
  while (c->live) {
    hl_inbox_req *r = c->live;
    if (r->state == RQ_SENDING && r->easy) hl_curl_uv_cancel(c->curl, &r->xfer);
    else if (r->state == RQ_BACKOFF || r->state == RQ_QUEUED) hl_timerq_remove(&c->timers, &r->timer);
    else if (r->state == RQ_WAIT_TOKEN) waiters_remove(c, r);
    else if (r->state == RQ_PARSING) r->parse->r = NULL; /* the work drops its page when it is back */
    rq_finish(r, HL_ECANCELED, "cancelled"); /* unlinks r */
  }
}

static void wipe_free(char *s) {
  if (s) explicit_bzero(s, strlen(s));
  hl_free(s);
}

static void on_timers_closed(void *data) {
  hl_inbox_client *c = data;
  if (c->token_x) rq_free(c->token_x);
  c->token_x = NULL;
  if (c->close_cb) c->close_cb(c->close_data);
}

void hl_inbox_close(hl_inbox_client *c, void (*cb)(void *data), void *data) {
  c->closing = true;
  hl_inbox_cancel_all(c);
  if (c->tk == HL_INBOX_TK_VALID) tk_transition(c, HL_INBOX_TK_EMPTY); /* wipes the token */
  wipe_free(c->api_key);
  wipe_free(c->jwt_secret);
  for (size_t i = 0; i < c->opt.n_jwt_claims; i++) {
    hl_free((char *)c->jwt_claims[i].name);
    hl_free((char *)c->jwt_claims[i].json);
  }
  hl_free_all(c->jwt_claims, c->base_url, c->jwt_subject, c->token_path, c->inbox_path, c->ack_path);
  c->api_key = c->jwt_secret = c->base_url = c->jwt_subject = c->token_path = c->inbox_path = c->ack_path = NULL;
  c->jwt_claims = NULL;
  c->close_cb = cb;
  c->close_data = data;
  hl_timerq_close(&c->timers, on_timers_closed, c);
}
