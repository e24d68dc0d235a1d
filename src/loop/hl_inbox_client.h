/* hl_inbox_client.h — an asynchronous client of the inbox protocol
 * (docs/inbox.md) on the loop's curl multi handle: authentication, pages of
 * pending events, acknowledgements.
 *
 * Authentication. INBOX_AUTH=token: POST {base}{token_path} with
 * {"api_key": ...} gives {"access_token", "expires_in"}; INBOX_AUTH=jwt: an
 * HS256 JWT (sub, iat, exp, extra claims) is minted locally with the shared
 * jwt_secret (crypto/hl_jwt). One token is shared by every request of the
 * client:
 *   - it is renewed before it expires: a request about to be sent with a
 *     token within refresh_margin_ms of its expiry (at most half its
 *     lifetime) waits for a new one; a token whose answer gave no
 *     expires_in is used until the API refuses it;
 *   - a 401 renews it once: the request that got it waits for a new token
 *     and is sent once more; a second 401 ends it (HL_EREFUSED). Requests
 *     that got their 401 with a token that has since been replaced are sent
 *     again with the new one, so many 401s at once cost one renewal;
 *   - requests needing a token while one is being fetched wait for it; one
 *     token request is in flight at a time.
 * Token requests are retried on 5xx, 408, 429 and connection errors
 * (auth_max_attempts in all); a 401 or 403 to them is final.
 *
 * Requests. hl_inbox_fetch gets one page; hl_inbox_pull pages on (same
 * query, &cursor=<next>) until it holds max_events or the inbox says next
 * is null, and hands over each page as it comes; hl_inbox_ack acknowledges
 * one event. Each request has its own bounded retry: 5xx, 408, 429 and
 * connection errors are retried (fetch_max_attempts / ack_max_attempts in
 * all) after an exponential back-off with jitter, at least the answer's
 * Retry-After (seconds or an HTTP-date, capped at backoff_cap_ms); other
 * answers are final.
 * GET and the ack are idempotent on the inbox's side, so a retry after an
 * answer that was lost cannot do harm.
 *
 * Every callback runs on the loop, once, never from inside the call that
 * started the request. One state machine per request (and one for the
 * token), each one enum, one legality table and one transition function.
 *
 * Ownership: the client copies its options. A page handed to a callback
 * belongs to the callee (hl_inbox_page_free). Tokens, the api key and the
 * jwt secret are wiped when the client closes and never logged.
 */
#ifndef HL_INBOX_CLIENT_H
#define HL_INBOX_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "crypto/hl_jwt.h"
#include "loop/hl_curl_uv.h"
#include "loop/hl_inbox_conf.h"
#include "loop/hl_inbox_wire.h"
#include "loop/hl_timerq.h"

typedef struct {
  const char *base_url;      /* API_BASE_URL */
  hl_inbox_auth auth;        /* INBOX_AUTH */
  const char *api_key;       /* token mode: zapier_api_key */
  const char *jwt_secret;    /* jwt mode: the HMAC key, its bytes as given (>= 32) */
  const char *jwt_subject;   /* jwt mode: "sub"; NULL: "hookloop" */
  int64_t jwt_lifetime_s;    /* jwt mode: exp - iat; 0: 300 */
  const hl_jwt_claim *jwt_claims; /* jwt mode: extra claims (copied) */
  size_t n_jwt_claims;
  const char *token_path;    /* NULL: "/auth/token" */
  const char *inbox_path;    /* NULL: "/inbox" */
  const char *ack_path;      /* NULL: "/inbox/{id}/ack" */
  unsigned page_limit;       /* the most events asked for per page; 0: 100 */
  uint64_t refresh_margin_ms; /* 0: 30000 */
  unsigned auth_max_attempts; /* 0: 3 */
  unsigned fetch_max_attempts; /* 0: 3 */
  unsigned ack_max_attempts; /* 0: 5 */
  uint64_t backoff_base_ms;  /* 0: 200 */
  uint64_t backoff_cap_ms;   /* 0: 10000 */
  long timeout_ms;           /* per HTTP request; 0: 30000 */
  /* The wall clock tokens are judged by (ms since the epoch); NULL:
   * hl_wall_ms. Tests move it to make a token stale. */
  int64_t (*wall_ms)(void *data);
  void *clock_data;
} hl_inbox_opts;

/* How a request ended. */
typedef struct {
  int status;          /* 0, or a negative hl_err: see below */
  int http_status;     /* of the last answer, 0 when there was none */
  unsigned attempts;   /* HTTP requests made for it (a resend after a 401 included) */
  char error[192];     /* why, for a log line; names no secret */
} hl_inbox_result;
/* status: HL_EREFUSED (401 again after a renewal, 403, or no token could be
 * had because the API refused the key), HL_ENOTFOUND (404), HL_EINVAL
 * (another 4xx), HL_EIO (still 5xx/408/429/no answer after the last
 * attempt), HL_EPARSE (a 2xx whose body is not what the protocol says),
 * HL_ETOOBIG (an answer over 16 MiB), HL_ECANCELED (cancelled or closing). */

typedef struct {
  uint64_t token_requests;  /* POSTs to the token path */
  uint64_t tokens;          /* tokens obtained (answered or minted) */
  uint64_t renew_expiry;    /* renewals because a token was about to expire */
  uint64_t renew_401;       /* renewals because of a 401 */
  uint64_t unauthorized;    /* 401 answers to fetches and acks */
  uint64_t fetches, fetch_retries;
  uint64_t acks, ack_retries;
  /* Where page answers were parsed: on the loop (up to
   * HL_INLINE_JSON_BYTES) or on the threadpool (larger ones). */
  uint64_t pages_parsed_loop, pages_parsed_threadpool;
} hl_inbox_stats;

typedef struct hl_inbox_req hl_inbox_req;
typedef struct hl_inbox_client hl_inbox_client;

/* The token's life (see hl_inbox_client.c). */
typedef enum { HL_INBOX_TK_EMPTY, HL_INBOX_TK_REQUESTING, HL_INBOX_TK_BACKOFF, HL_INBOX_TK_VALID } hl_inbox_token_state;

struct hl_inbox_client {
  uv_loop_t *loop;
  hl_curl_uv *curl;
  hl_inbox_opts opt;         /* strings below are the client's copies */
  char *base_url, *api_key, *jwt_secret, *jwt_subject, *token_path, *inbox_path, *ack_path;
  hl_jwt_claim *jwt_claims;
  hl_timerq timers;
  hl_inbox_stats stats;
  /* The token. */
  hl_inbox_token_state tk;
  char *token;               /* the bearer while TK_VALID */
  uint64_t token_gen;        /* bumped by every new token */
  int64_t token_expires_ms;  /* wall clock; 0 when the answer gave no lifetime */
  int64_t token_lifetime_ms;
  unsigned token_attempts;
  hl_inbox_req *token_x;     /* the token request's transfer */
  hl_inbox_req *waiters;     /* requests waiting for a token, in order */
  hl_inbox_req *waiters_tail;
  /* Requests not finished. */
  hl_inbox_req *live;
  size_t nlive;
  bool closing;
  void (*close_cb)(void *data);
  void *close_data;
};

/* Returns 0, or HL_EINVAL with why in err: no http(s) base URL, token mode
 * without an api key, jwt mode without a secret of at least 32 bytes, an
 * ack path without "{id}", a bad extra claim. */
int hl_inbox_init(hl_inbox_client *c, uv_loop_t *loop, hl_curl_uv *curl, const hl_inbox_opts *opt, char *err,
                  size_t errlen);

/* One page: GET {inbox}?status=pending&limit=N[&cursor=C] (cursor may be
 * NULL). page (NULL unless r->status == 0) belongs to the callee. */
typedef void (*hl_inbox_fetch_cb)(void *data, const hl_inbox_result *r, hl_inbox_page *page);
void hl_inbox_fetch(hl_inbox_client *c, unsigned limit, const char *cursor, hl_inbox_fetch_cb cb, void *data);

/* POST {ack path with the id}. id is copied. */
typedef void (*hl_inbox_ack_cb)(void *data, const hl_inbox_result *r, const char *id);
void hl_inbox_ack(hl_inbox_client *c, const char *id, size_t id_len, hl_inbox_ack_cb cb, void *data);

/* Pages until max_events events were handed over or next is null, asking
 * for min(page_limit, what is still wanted) each time. Every event id is
 * handed over at most once per pull (a repeat is dropped and counted), a
 * page holding more than was asked for is cut to the limit, and the pull
 * stops with HL_EPARSE when the cursor does not move or three pages in a
 * row bring nothing new while saying there is more. A page of events that
 * are skipped (no usable id or payload: left pending, so every pass meets
 * them again) is not "nothing new": a run of them, however long, is paged
 * through to the good events behind it. What one pull looks at (events
 * handed over, skipped, dropped as repeats) is bounded by
 * HL_INBOX_PULL_LOOK_FACTOR times max_events: past that it ends, without
 * error, leaving the rest for the next pass. on_page gets each page that
 * holds events (it belongs to the callee); done runs once at the end. */
#define HL_INBOX_PULL_LOOK_FACTOR 10
typedef struct {
  size_t pages;       /* answers received */
  size_t events;      /* events handed over */
  size_t duplicates;  /* events dropped as already handed over */
  size_t skipped;     /* events without a usable id or payload (left pending) */
  size_t over_limit;  /* events of a page not looked at (more than asked for, or past the bound), left pending */
  size_t examined;    /* events looked at for repeats on the loop: at most the bound, whatever a page held */
  bool exhausted;     /* the inbox said next is null */
  bool look_limit;    /* ended at the bound on what one pull looks at */
} hl_inbox_pull_stats;
typedef void (*hl_inbox_page_cb)(void *data, hl_inbox_page *page);
typedef void (*hl_inbox_pull_cb)(void *data, const hl_inbox_result *r, const hl_inbox_pull_stats *st);
void hl_inbox_pull(hl_inbox_client *c, unsigned max_events, hl_inbox_page_cb on_page, hl_inbox_pull_cb done,
                   void *data);

/* Ends every request now: each callback runs with HL_ECANCELED (a pull's
 * done too); a token request in flight is dropped. */
void hl_inbox_cancel_all(hl_inbox_client *c);
/* Cancels everything, wipes the credentials and closes; cb runs once
 * everything is closed. No request may be made after this. */
void hl_inbox_close(hl_inbox_client *c, void (*cb)(void *data), void *data);

#endif
