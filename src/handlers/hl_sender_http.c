#include "handlers/hl_sender_http.h"
#include "common/hl_addr_policy.h"
#include "common/hl_buf.h"
#include "common/hl_common.h"
#include "common/hl_highwater.h"
#include "common/hl_http_time.h"
#include "crypto/hl_webhook_sig.h"
#include "loop/hl_curl_host.h"
#include "model/hl_sub_ed25519.h"
#include "model/hl_sub_secrets.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define CALL_HEADERS 8  /* content-type ... traceparent: the most a request adds */
#define POOL_MIN 256    /* calls kept for reuse, however few were in use lately */
#define POOL_WINDOW_MS 10000 /* hl_sender_http_options.pool_window_ms when 0 */
/* A partner's Retry-After is honoured up to an hour (docs/retries.md); the
 * dispatcher cuts it further to the subscription's max retry delay. */
#define RETRY_AFTER_MAX_MS (3600u * 1000u)

typedef struct http_sender http_sender;

/* One running request, pooled with its easy handle and buffers. */
typedef struct http_call {
  http_sender *hs;
  hl_send_req *req;
  CURL *easy;
  hl_curl_xfer xfer;
  /* The request's own header lines, in one buffer, linked as curl_slist
   * nodes without an allocation each; the last node links on to the
   * subscription's list (held by the caller's reference on the sub). */
  struct curl_slist hnodes[CALL_HEADERS];
  hl_buf hlines;
  hl_buf sig;
  uint64_t sent_ns;
  uint64_t retry_after_ms;     /* from the partner's Retry-After, 0 when none */
  bool refused_private;        /* the connect target was a private address */
  /* The answer kept for the attempt log, bounded (hl_send_result's sizes):
   * taken when the answer arrives and given back with the request, so the
   * requests waiting on a slow partner hold none (3 KB each: 30 MB of
   * 10,000 in flight, bench/README.md "Memory in scenario b"). Given back
   * to the sender's spares (ans_take/ans_give), not freed: a malloc of
   * 3 KB is past glibc's per-thread cache, and this was one per attempt. */
  struct call_answer {
    char headers[HL_SEND_HEADERS_SIZE];
    char body[HL_SEND_BODY_SIZE];
    struct call_answer *next_free;
  } *ans;
  size_t resp_headers_len;
  size_t resp_body_len;
  bool resp_body_more;
  bool head_done;              /* the answer's head (status line and headers) arrived whole */
  char error[CURL_ERROR_SIZE];
  /* What the handle was last given, so a pooled handle is told again only
   * what changes: the URL (copied, curl copies it again on each set), its
   * parsed form (the subscription's) and the timeout. */
  char *url;
  CURLU *url_parsed;
  long timeout_ms;
  struct http_call *next_free;
} http_call;

struct http_sender {
  hl_sender base;
  hl_curl_uv *curl;
  hl_sender_http_options opt;
  CURLSH *share;               /* TLS sessions and DNS answers, shared by every call */
  /* Idle calls, reused. A call released while the calls in use and idle
   * together are at the bound note_in_use() returns (the most in use at
   * once lately, at least POOL_MIN) is freed, so a burst the size of the last one makes no new
   * easy handle, and once the load has fallen for two windows the pool
   * shrinks by a call a request back to what the load needs. Taking never
   * frees: a burst that comes after a quiet spell finds the calls of the
   * one before. */
  http_call *pool;
  size_t npool;
  size_t live;                 /* calls taken and not yet released */
  size_t made;                 /* calls ever made (easy handles initialised) */
  hl_highwater in_use;         /* the most of `live` lately */
  struct call_answer *spare_ans; /* answer buffers given back, reused (up to the same bound) */
  size_t nspare_ans;
  hl_webhook_signer *default_signer; /* prepared from default_value */
  char *default_value;         /* the default secret the signer was made from */
};

_Static_assert(HL_SEND_ERROR_SIZE == CURL_ERROR_SIZE, "the result carries curl's error text");

/* CURLOPT_OPENSOCKETFUNCTION: the policy is checked on the address actually
 * connected to, so a DNS answer that changes between checks cannot bypass it. */
static curl_socket_t open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *addr) {
  http_call *c = clientp;
  (void)purpose;
  if (!c->hs->opt.allow_private_targets && hl_addr_is_private(&addr->addr)) {
    c->refused_private = true;
    return CURL_SOCKET_BAD;
  }
  return socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
}

/* Notes how many calls are in use now, and returns how many the sender
 * keeps, in use and idle together (and how many answer buffers spare). */
static size_t note_in_use(http_sender *hs) {
  size_t most = hl_highwater_note(&hs->in_use, hs->live, uv_now(hs->curl->loop));
  return most > POOL_MIN ? most : POOL_MIN;
}

/* An answer buffer for c, a spare one when there is one. */
static void ans_take(http_call *c) {
  http_sender *hs = c->hs;
  struct call_answer *a = hs->spare_ans;
  if (a) {
    hs->spare_ans = a->next_free;
    hs->nspare_ans--;
  } else {
    a = hl_malloc(sizeof *a);
  }
  c->ans = a;
}

/* c's answer buffer back to the spares (freed past cap). */
static void ans_give(http_call *c, size_t cap) {
  http_sender *hs = c->hs;
  struct call_answer *a = c->ans;
  c->ans = NULL;
  if (!a) return;
  if (hs->nspare_ans >= cap) {
    hl_free(a);
    return;
  }
  a->next_free = hs->spare_ans;
  hs->spare_ans = a;
  hs->nspare_ans++;
}

static size_t on_header(char *buf, size_t size, size_t n, void *userp) {
  http_call *c = userp;
  size_t len = size * n;
  if (!c->ans) ans_take(c);
  /* A status line starts the answer's headers again: a 1xx's lines, its
   * Retry-After too, belong to no final answer (RFC 9110 §15.2). */
  if (len >= 5 && strncmp(buf, "HTTP/", 5) == 0) c->resp_headers_len = 0, c->retry_after_ms = 0, c->head_done = false;
  else if (len <= 2 && (buf[0] == '\r' || buf[0] == '\n')) c->head_done = true; /* the blank line ending it */
  else if (len <= sizeof c->ans->headers - c->resp_headers_len) {
    memcpy(c->ans->headers + c->resp_headers_len, buf, len); /* whole lines only */
    c->resp_headers_len += len;
  }
  if (len > 12 && strncasecmp(buf, "retry-after:", 12) == 0)
    hl_http_retry_after_parse(buf + 12, len - 12, hl_wall_ms(), RETRY_AFTER_MAX_MS, &c->retry_after_ms);
  return len;
}

static size_t on_body(char *buf, size_t size, size_t n, void *userp) {
  http_call *c = userp;
  if (!c->ans) ans_take(c);
  size_t len = size * n, room = sizeof c->ans->body - c->resp_body_len, take = HL_MIN(len, room);
  /* The first bytes only, for the attempt log; the rest is not kept. */
  memcpy(c->ans->body + c->resp_body_len, buf, take);
  c->resp_body_len += take;
  if (take < len) c->resp_body_more = true;
  return len;
}

/* --- the pool ------------------------------------------------------------------ */

/* The options every request of this sender has, set once per easy handle:
 * a pooled handle keeps them (curl_easy_reset is never called), and each
 * costs a call (PROTOCOLS_STR and CAINFO a parse or a copy) per attempt
 * otherwise. What differs between requests is set by http_send on every
 * request, or when it changes (URL, timeouts), and what points into a
 * delivery is cleared by call_release. */
static void set_fixed_options(http_call *c) {
  http_sender *hs = c->hs;
  CURL *e = c->easy;
  /* Every call of the sender shares the same cache, whichever curl multi
   * handle (shard) runs it. */
  curl_easy_setopt(e, CURLOPT_SHARE, hs->share);
  curl_easy_setopt(e, CURLOPT_POST, 1L);
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, c);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->error);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_socket);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, c);
  /* No proxy, whatever the environment says (http_proxy, HTTPS_PROXY,
   * all_proxy, which libcurl honours by default): open_socket checks the
   * address a delivery connects to, and through a proxy that is the
   * proxy's, never the partner's. The "*" also spares libcurl its look-ups
   * of those variables on every transfer. */
  curl_easy_setopt(e, CURLOPT_PROXY, "");
  curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  /* HTTP/2 when the partner offers it in the TLS handshake (ALPN), HTTP/1.1
   * otherwise and over plain http (libcurl's default since 7.62, said here
   * because multiplexing depends on it): an h2 partner's requests then
   * share a few connections, CURLMOPT_MAX_CONCURRENT_STREAMS each. */
  curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
  curl_easy_setopt(e, CURLOPT_SSLVERSION,
                   hs->opt.tls.min_version == HL_TLS_1_3 ? CURL_SSLVERSION_TLSv1_3 : CURL_SSLVERSION_TLSv1_2);
  if (hs->opt.tls.ca_file) curl_easy_setopt(e, CURLOPT_CAINFO, hs->opt.tls.ca_file);
  curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
  curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM");
  /* curl allocates this receive buffer per running transfer (16 KB by
   * default); partners' answers are small and their bodies discarded but
   * for the attempt log's first 1 KB, and
   * 10,000 transfers in flight would spend 160 MB on it. 1 KB is curl's
   * least: a longer answer takes more reads, which only a misbehaving
   * partner sends. */
  curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 1024L);
}

static http_call *call_take(http_sender *hs) {
  hs->live++;
  note_in_use(hs);
  http_call *c = hs->pool;
  if (c) {
    hs->pool = c->next_free;
    hs->npool--;
    c->next_free = NULL;
    return c;
  }
  c = hl_calloc(1, sizeof *c);
  c->hs = hs;
  hl_buf_init(&c->hlines);
  hl_buf_init(&c->sig);
  c->easy = curl_easy_init();
  if (!c->easy) {
    hl_free(c);
    hs->live--;
    return NULL;
  }
  hs->made++;
  set_fixed_options(c);
  return c;
}

static void call_free(http_call *c) {
  curl_easy_cleanup(c->easy);
  hl_free(c->url);
  hl_free(c->ans);
  hl_buf_dispose(&c->hlines);
  hl_buf_dispose(&c->sig);
  hl_free(c);
}

static void call_release(http_call *c) {
  http_sender *hs = c->hs;
  hs->live--;
  size_t cap = note_in_use(hs);
  if (c->req) c->req->impl = NULL;
  c->req = NULL;
  ans_give(c, cap);
  /* Drop the pointers into the delivery, which is about to go. */
  curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, NULL);
  curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, NULL);
  curl_easy_setopt(c->easy, CURLOPT_SSLCERT_BLOB, NULL);
  curl_easy_setopt(c->easy, CURLOPT_SSLKEY_BLOB, NULL);
  if (hs->live + hs->npool >= cap) {
    call_free(c);
    return;
  }
  hl_buf_reset(&c->sig);
  c->next_free = hs->pool;
  hs->pool = c;
  hs->npool++;
}

/* --- answers ------------------------------------------------------------------ */

static bool retryable_status(long code) { return code == 408 || code == 429 || code >= 500; }

/* last_error text, cut to fit (curl's error text inside it may be long). */
static void say(char *out, size_t outlen, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(out, outlen, fmt, ap);
  va_end(ap);
}

/* TLS faults no retry can change: the partner's certificate does not
 * verify (expired, another host's, an unknown CA), the partner offers no
 * TLS version at or above HOOKLOOP_TLS_MIN, it refuses our client
 * certificate, or it refuses the handshake as a whole (TLS 1.2). Writes last_error into out and returns true for those;
 * false leaves the fault to the connection-level rules (a handshake cut
 * off midway is retried). OpenSSL's reason text is the only place the
 * version and alert cases are told apart from a broken connection. */
static bool tls_permanent(const http_sender *hs, CURLcode rc, const char *detail, char *out, size_t outlen) {
  if (rc == CURLE_PEER_FAILED_VERIFICATION) {
    say(out, outlen,
             "the partner's TLS certificate is not accepted (%.150s); a retry cannot change that: fix the "
             "certificate, or add its CA with HOOKLOOP_CA_FILE",
             detail);
    return true;
  }
  if (rc == CURLE_SSL_CACERT_BADFILE) {
    say(out, outlen, "HOOKLOOP_CA_FILE could not be read as PEM certificates (%.150s)", detail);
    return true;
  }
  if (rc != CURLE_SSL_CONNECT_ERROR && rc != CURLE_RECV_ERROR && rc != CURLE_SEND_ERROR) return false;
  if (strstr(detail, "alert protocol version") || strstr(detail, "unsupported protocol")) {
    say(out, outlen, "the partner offers no TLS version at or above %s (HOOKLOOP_TLS_MIN): %.150s",
             hs->opt.tls.min_version == HL_TLS_1_3 ? "1.3" : "1.2", detail);
    return true;
  }
  static const char *const refused[] = {"alert certificate required", "alert bad certificate",
                                        "alert unknown ca", "alert certificate unknown"};
  for (size_t i = 0; i < HL_ARRAY_SIZE(refused); i++)
    if (strstr(detail, refused[i])) {
      say(out, outlen, "the partner refused our TLS client certificate (%.150s)", detail);
      return true;
    }
  /* TLS 1.2 servers (OpenSSL among them) answer a missing client
   * certificate with a generic handshake_failure alert, which is also what
   * no cipher in common gets: neither changes on a retry. */
  if (strstr(detail, "alert handshake failure")) {
    say(out, outlen,
        "the partner refused the TLS handshake (%.150s): it may require a client certificate (client_certificate) "
        "or share no cipher with us; a retry cannot change that",
        detail);
    return true;
  }
  return false;
}

/* An attempt that got no usable HTTP status. Not reaching the partner or
 * not getting a usable answer from it is a connection-level fault, retried:
 * refused, timed out, reset, nothing back, or bytes that are not HTTP (a
 * malformed status line, a TLS record from a TLS port spoken to in plain
 * HTTP; curl calls those an unsupported protocol once the request is out).
 * What no retry can change is permanent. Writes last_error's words into
 * out, keeping curl's own text after them. */
static bool transport_fault(http_call *c, CURLcode rc, char *out, size_t outlen) {
  char detail[CURL_ERROR_SIZE];
  snprintf(detail, sizeof detail, "%s", c->error[0] ? c->error : curl_easy_strerror(rc));
  if (tls_permanent(c->hs, rc, detail, out, outlen)) return false;
  long os_errno = 0, sent = 0;
  curl_easy_getinfo(c->easy, CURLINFO_OS_ERRNO, &os_errno);
  curl_easy_getinfo(c->easy, CURLINFO_REQUEST_SIZE, &sent);
  bool retry;
  switch (rc) {
  case CURLE_OPERATION_TIMEDOUT: case CURLE_COULDNT_CONNECT: case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_SEND_ERROR: case CURLE_RECV_ERROR: case CURLE_GOT_NOTHING: case CURLE_PARTIAL_FILE:
  case CURLE_SSL_CONNECT_ERROR: case CURLE_HTTP2: case CURLE_HTTP2_STREAM:
    retry = true;
    break;
  case CURLE_WEIRD_SERVER_REPLY:
    snprintf(out, outlen, "the partner's answer is not a valid HTTP answer (%.180s)", detail);
    return true;
  case CURLE_UNSUPPORTED_PROTOCOL:
    /* The URL's scheme was checked at registration: with the request sent,
     * it is the answer that curl could not read as HTTP. */
    if (sent <= 0) {
      snprintf(out, outlen, "%s", c->error);
      return false;
    }
    snprintf(out, outlen, "the partner's answer is not a valid HTTP answer (%.180s)", detail);
    return true;
  default:
    retry = false;
  }
  if (os_errno == ECONNRESET || os_errno == EPIPE)
    snprintf(out, outlen, "connection reset by the partner (%.180s)", detail);
  else
    snprintf(out, outlen, "%s", detail);
  return retry;
}

static void on_sent(hl_curl_xfer *x, CURLcode rc) {
  http_call *c = hl_container_of(x, http_call, xfer);
  hl_send_req *req = c->req;
  hl_send_result res = {.attempted = true, .latency_s = (double)(hl_mono_ns() - c->sent_ns) / 1e9,
                        .retry_after_ms = c->retry_after_ms};
  long code = 0;
  curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &code);
  res.timed_out = rc == CURLE_OPERATION_TIMEDOUT;
  /* A final answer's head arrived whole, then the transfer failed: its
   * body was cut short (the connection closed before its Content-Length)
   * or came slower than the timeout, or the partner answered before
   * reading the whole request and closed (HTTP/2: reset the stream, RFC
   * 9113 section 8.1; nginx's `return` does it, and libcurl 7.88 reports
   * it as a stream error). The status is the partner's verdict: a 2xx
   * retried as a connection fault would deliver an accepted webhook twice.
   * What curl said is kept in last_error beside it. A head that never
   * ended (headers cut short, or more than curl takes) is no answer. */
  char after[CURL_ERROR_SIZE] = "";
  if (rc != CURLE_OK && code >= 200 && (c->head_done || rc == CURLE_HTTP2_STREAM)) {
    snprintf(after, sizeof after, "%s", c->error[0] ? c->error : curl_easy_strerror(rc));
    rc = CURLE_OK;
  }
  res.status_code = rc == CURLE_OK ? code : 0;
  if (code > 0 && c->ans) {
    memcpy(res.resp_headers, c->ans->headers, c->resp_headers_len);
    res.resp_headers_len = c->resp_headers_len;
    memcpy(res.resp_body, c->ans->body, c->resp_body_len);
    res.resp_body_len = c->resp_body_len;
    res.resp_body_more = c->resp_body_more;
  }
  if (rc == CURLE_OK && code >= 200 && code < 300) {
    if (after[0]) snprintf(res.error, sizeof res.error, "partner answered %ld; then %.180s", code, after);
    res.verdict = HL_SEND_OK;
  } else if (c->refused_private && code == 0 && rc == CURLE_COULDNT_CONNECT) {
    /* Only when no address was left to try: a host with a private address
     * and an allowed one is reached on the allowed one, and what that
     * partner answers (a 503, a timeout) is judged as any other answer. */
    snprintf(res.error, sizeof res.error,
             "target resolves to a private address; set HOOKLOOP_ALLOW_PRIVATE_TARGETS=1 to allow it");
    res.verdict = HL_SEND_FAIL;
  } else if (rc != CURLE_OK) {
    res.verdict = transport_fault(c, rc, res.error, sizeof res.error) ? HL_SEND_RETRY : HL_SEND_FAIL;
  } else {
    if (after[0]) snprintf(res.error, sizeof res.error, "partner answered %ld; then %.180s", code, after);
    else snprintf(res.error, sizeof res.error, "partner answered %ld", code);
    res.verdict = retryable_status(code) ? HL_SEND_RETRY : HL_SEND_FAIL;
  }
  call_release(c);
  req->done(req, &res);
}

/* --- signing -------------------------------------------------------------------- */

/* Signs with the default secret (WEBHOOK_SECRET_ARN) as it is now; its keys
 * are prepared again only when it has changed (rotation). */
static int sign_with_default(http_sender *hs, const hl_send_req *req, int64_t ts, hl_buf *sig) {
  const char *v = hs->opt.default_secret ? hs->opt.default_secret(hs->opt.default_secret_data) : NULL;
  if (!v) return HL_EINVAL;
  if (!hs->default_value || strcmp(hs->default_value, v) != 0) {
    if (hs->default_signer) hl_webhook_signer_dispose(hs->default_signer);
    else hs->default_signer = hl_malloc(sizeof *hs->default_signer);
    hl_free(hs->default_value);
    hs->default_value = hl_strdup(v);
    if (hl_webhook_signer_init(hs->default_signer, v) < 0) {
      hl_free(hs->default_signer);
      hs->default_signer = NULL;
    }
  }
  const char *id = req->item->d.event_id;
  size_t blen;
  const char *body = hl_send_body(req, &blen);
  return hs->default_signer ? hl_webhook_signer_sign(hs->default_signer, id, strlen(id), ts, body, blen, sig)
                            : hl_webhook_sign_multi(v, id, ts, body, blen, sig);
}

/* Signs with every secret of the subscription active now: during a
 * rotation's overlap the fresh one and the previous ones
 * (model/hl_sub_secrets.h), so the header carries a "v1," signature for
 * each. The keys are prepared once, and again when an overlap ends. */
static int sign_with_own(hl_sub *s, const hl_send_req *req, int64_t ts, hl_buf *sig) {
  if ((s->signer || s->signer_unusable) && ts >= s->signer_until_s) {
    if (s->signer) hl_webhook_signer_dispose(s->signer); /* wipes the keys */
    hl_free(s->signer);
    s->signer = NULL;
    s->signer_unusable = false;
  }
  char *active = NULL; /* only while the keys are (re)prepared, or cannot be */
  if (!s->signer) active = hl_sub_secrets_active(s->rec.secret, ts, &s->signer_until_s);
  if (!s->signer && !s->signer_unusable) {
    s->signer = hl_malloc(sizeof *s->signer);
    if (hl_webhook_signer_init(s->signer, active) < 0) {
      hl_free(s->signer);
      s->signer = NULL;
      s->signer_unusable = true;
    }
  }
  /* The prepared keys when the whole secret list decodes; otherwise the
   * one-shot form, which skips entries that do not. */
  const char *id = req->item->d.event_id;
  size_t blen;
  const char *body = hl_send_body(req, &blen);
  int rc = s->signer ? hl_webhook_signer_sign(s->signer, id, strlen(id), ts, body, blen, sig)
                     : hl_webhook_sign_multi(active, id, ts, body, blen, sig);
  if (active) explicit_bzero(active, strlen(active));
  hl_free(active);
  return rc;
}

/* Ed25519 ("v1a"): a signature under each key active now, as for HMAC
 * secrets; the keys are expanded once and kept with the subscription
 * (model/hl_sub_ed25519.h). */
static int sign_ed25519(hl_sub *s, const hl_send_req *req, int64_t ts, hl_buf *sig) {
  size_t blen;
  const char *body = hl_send_body(req, &blen);
  return hl_sub_ed25519_sign(s, req->item->d.event_id, ts, body, blen, sig);
}

/* --- TLS client certificates ------------------------------------------------------ */

/* The subscription's client certificate and key (PEM), or none: set on
 * every request that has one; call_release takes them off the handle. Not copied
 * (CURL_BLOB_NOCOPY): the subscription, held by the request, outlives the
 * transfer, and the key then exists only where the subscription keeps it
 * (and OpenSSL, while connecting). curl keys connections and TLS sessions
 * by the client certificate, so a request with one never reuses a
 * connection made without it or with another, and the reverse. */
static void set_client_cert(CURL *e, const hl_sub *s) {
  if (!s->rec.client_cert || !s->rec.client_key) return; /* call_release left none set */
  struct curl_blob cert = {s->rec.client_cert, strlen(s->rec.client_cert), CURL_BLOB_NOCOPY};
  struct curl_blob key = {s->rec.client_key, strlen(s->rec.client_key), CURL_BLOB_NOCOPY};
  curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &cert);
  curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &key);
}

/* rec.url as curl parses it for a request (the same flags), kept on the
 * subscription, with an internationalized host in its ASCII form
 * (loop/hl_curl_host.h says why curl cannot be left to convert it); NULL
 * where curl's parser refuses it or the host does not convert, so that
 * each request gives curl the text and fails with curl's own error. */
static CURLU *parsed_url(hl_sub *s) {
  if (s->url_parsed || s->url_unparsed) return s->url_parsed;
  CURLU *u = curl_url();
  const char *why;
  if (u && curl_url_set(u, CURLUPART_URL, s->rec.url, CURLU_GUESS_SCHEME | CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK &&
      hl_curl_url_host_ascii(u, &why) == 0) {
    s->url_parsed = u;
  } else {
    curl_url_cleanup(u);
    s->url_unparsed = true;
  }
  return s->url_parsed;
}

/* --- the vtable ------------------------------------------------------------------ */

static void not_started(hl_send_req *req, hl_send_verdict v, const char *msg) {
  hl_send_result res = {.verdict = v};
  snprintf(res.error, sizeof res.error, "%s", msg);
  req->done(req, &res);
}

static void http_send(hl_sender *base, hl_send_req *req) {
  http_sender *hs = (http_sender *)base;
  hl_sub *s = req->sub;
  const hl_eq_item *it = req->item;
  http_call *c = call_take(hs);
  if (!c) {
    not_started(req, HL_SEND_FAIL, "out of memory creating an HTTP request");
    return;
  }
  c->req = req;
  req->impl = c;
  c->error[0] = '\0';
  c->retry_after_ms = 0;
  c->refused_private = false;
  c->resp_headers_len = c->resp_body_len = 0;
  c->resp_body_more = false;
  c->head_done = false;
  int64_t ts = hl_wall_ms() / 1000;
  hl_buf_reset(&c->sig);
  const char *unusable = NULL;
  if (!s->rec.secret) {
    if (sign_with_default(hs, req, ts, &c->sig) != 0)
      unusable = "the subscription has no secret and no default secret (WEBHOOK_SECRET_ARN) is readable";
  } else if (hl_sub_rec_signs_ed25519(&s->rec) ? sign_ed25519(s, req, ts, &c->sig) != 0
                                               : sign_with_own(s, req, ts, &c->sig) != 0) {
    /* A secret we cannot use: no attempt can ever succeed. */
    unusable = hl_sub_rec_signs_ed25519(&s->rec)
                   ? "the subscription's ed25519 key is unusable; rotate it (POST .../secret/rotate)"
                   : "the subscription's secret is unusable; register it again with a whsec_ secret";
  }
  if (unusable) {
    call_release(c);
    not_started(req, HL_SEND_FAIL, unusable);
    return;
  }
  CURL *e = c->easy;
  /* Header lines: the fixed ones as they are, the request's own
   * NUL-separated in hlines (offsets first, pointers once the buffer no
   * longer moves). */
  static const char *const fixed[] = {"content-type: application/json", ("user-agent: hookloop/" HOOKLOOP_VERSION),
                                      "expect:" /* no 100-continue round trip */};
  hl_buf *hb = &c->hlines;
  hl_buf_reset(hb);
  const char *line[CALL_HEADERS];
  size_t off[CALL_HEADERS];
  size_t nh = 0;
  for (size_t i = 0; i < HL_ARRAY_SIZE(fixed); i++) line[nh++] = fixed[i];
  size_t first_own = nh;
#define HL_HEADER(name, value) \
  (off[nh++] = hb->len, hl_buf_puts(hb, name), hl_buf_puts(hb, value), hl_buf_putc(hb, '\0'))
  char tsv[HL_FMT_I64_MAX];
  hl_fmt_i64(tsv, ts);
  HL_HEADER("webhook-id: ", it->d.event_id);
  HL_HEADER("webhook-timestamp: ", tsv);
  HL_HEADER("webhook-signature: ", c->sig.data);
  if (it->trace && it->trace[0]) {
    /* W3C traceparent or an AWS X-Ray id, as the producer sent it. */
    HL_HEADER(strncmp(it->trace, "Root=", 5) == 0 ? "x-amzn-trace-id: " : "traceparent: ", it->trace);
  }
#undef HL_HEADER
  for (size_t i = first_own; i < nh; i++) line[i] = hb->data + off[i];
  for (size_t i = 0; i < nh; i++) {
    c->hnodes[i].data = (char *)line[i]; /* curl only reads them */
    c->hnodes[i].next = i + 1 < nh ? &c->hnodes[i + 1] : s->headers;
  }
  long timeout = s->rec.timeout_ms > 0 ? (long)s->rec.timeout_ms : hs->opt.default_timeout_ms;
  if (!c->url || strcmp(c->url, s->rec.url) != 0) {
    curl_easy_setopt(e, CURLOPT_URL, s->rec.url);
    /* Over TLS a request waits for a connection being opened to the same
     * partner until its handshake says whether it multiplexes (h2), rather
     * than opening one of its own: 256 requests to an h2 partner started
     * in one turn then share a few connections instead of opening 256. An
     * HTTP/1.1 partner costs the first burst one handshake's wait. Not over
     * plain http, where curl would learn it only from the first answer. */
    curl_easy_setopt(e, CURLOPT_PIPEWAIT, strncasecmp(s->rec.url, "https:", 6) == 0 ? 1L : 0L);
    hl_free(c->url);
    c->url = hl_strdup(s->rec.url);
  }
  CURLU *parsed = parsed_url(s);
  if (parsed != c->url_parsed) {
    /* Set beside the text, which stays the effective URL: curl copies the
     * parsed form for each request instead of parsing and printing the
     * URL again (~12k instructions a request, bench/README.md). */
    curl_easy_setopt(e, CURLOPT_CURLU, parsed);
    c->url_parsed = parsed;
  }
  size_t blen;
  const char *body = hl_send_body(req, &blen);
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, &c->hnodes[0]);
  if (timeout != c->timeout_ms) {
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, HL_MIN(timeout, 10000L));
    c->timeout_ms = timeout;
  }
  set_client_cert(e, s);
  c->sent_ns = hl_mono_ns();
  if (hl_curl_uv_add(hs->curl, &c->xfer, e, on_sent) != 0) {
    call_release(c);
    not_started(req, HL_SEND_RETRY, "could not start the HTTP request");
  }
}

static void http_cancel(hl_sender *base, hl_send_req *req) {
  http_sender *hs = (http_sender *)base;
  http_call *c = req->impl;
  if (!c) return;
  hl_curl_uv_cancel(hs->curl, &c->xfer);
  call_release(c);
}

static void http_close(hl_sender *base) {
  http_sender *hs = (http_sender *)base;
  while (hs->pool) {
    http_call *c = hs->pool;
    hs->pool = c->next_free;
    call_free(c);
  }
  while (hs->spare_ans) {
    struct call_answer *a = hs->spare_ans;
    hs->spare_ans = a->next_free;
    hl_free(a);
  }
  curl_share_cleanup(hs->share); /* after the last easy handle using it */
  if (hs->default_signer) hl_webhook_signer_dispose(hs->default_signer); /* wipes the keys */
  hl_free(hs->default_signer);
  if (hs->default_value) explicit_bzero(hs->default_value, strlen(hs->default_value));
  hl_free(hs->default_value);
  hl_free(hs);
}

static const hl_sender_vt http_vt = {http_send, http_cancel, http_close, NULL};

void hl_sender_http_get_stats(const hl_sender *base, hl_sender_http_stats *out) {
  const http_sender *hs = (const http_sender *)base;
  *out = (hl_sender_http_stats){.made = hs->made, .in_use = hs->live, .idle = hs->npool};
}

hl_sender *hl_sender_http_create(hl_curl_uv *curl, const hl_sender_http_options *opt) {
  http_sender *hs = hl_calloc(1, sizeof *hs);
  hs->base.vt = &http_vt;
  hs->curl = curl;
  hs->opt = *opt;
  if (hs->opt.default_timeout_ms <= 0) hs->opt.default_timeout_ms = 30000;
  hl_highwater_init(&hs->in_use, opt->pool_window_ms > 0 ? (uint64_t)opt->pool_window_ms : POOL_WINDOW_MS);
  /* One loop thread uses the share: no lock callbacks are needed. */
  hs->share = curl_share_init();
  curl_share_setopt(hs->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  curl_share_setopt(hs->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  return &hs->base;
}
