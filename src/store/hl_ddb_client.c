#include "store/hl_ddb_client.h"

#include <stdio.h>
#include <string.h>

#include "common/hl_common.h"
#include "common/hl_log.h"
#include "crypto/hl_crypto.h"
#include "json/hl_json.h"

#define RESP_MAX (16 * 1024 * 1024) /* BatchWriteItem answers are small; Query pages ≤ 1 MB */

/* One call's life. Transitions happen only in req_step. */
typedef enum {
  REQ_WAIT_CREDS, /* queued on the credentials provider */
  REQ_SENDING,    /* a transfer is on the multi handle */
  REQ_BACKOFF,    /* waiting on the timer heap before the next attempt */
  REQ_DONE,
} req_state;

typedef enum {
  EV_START,       /* first attempt, or the backoff timer fired */
  EV_CREDS,       /* the provider answered (status in req->creds_status) */
  EV_RESPONSE,    /* the transfer ended (req->st filled) */
} req_event;

struct hl_ddb_req {
  hl_ddb_client *c;
  hl_ddb_req *prev, *next;
  req_state state;
  hl_ddb_op op;
  hl_buf body;
  unsigned attempt;       /* attempts made so far */
  int creds_status;
  CURL *easy;
  hl_curl_xfer xfer;
  struct curl_slist *headers;
  hl_buf resp;
  char crc[16];
  bool have_crc;
  hl_timerq_node timer;
  hl_creds_waiter waiter;
  hl_ddb_status st;
  hl_json_doc doc;
  hl_ddb_cb cb;
  void *data;
};

static void req_step(hl_ddb_req *r, req_event ev);

void hl_ddb_default_endpoint(hl_buf *out, const char *region) {
  hl_buf_puts(out, "https://dynamodb.");
  hl_buf_puts(out, region ? region : "");
  hl_buf_puts(out, ".amazonaws.com");
}

int hl_ddb_client_init(hl_ddb_client *c, uv_loop_t *loop, hl_curl_uv *curl, hl_aws_creds_provider *creds,
                       const hl_ddb_opts *opt, char *err, size_t errlen) {
  memset(c, 0, sizeof *c);
  const char *ep = opt->endpoint;
  const char *rest = NULL;
  if (ep && strncmp(ep, "https://", 8) == 0) rest = ep + 8;
  else if (ep && strncmp(ep, "http://", 7) == 0) rest = ep + 7;
  if (!rest || !*rest || *rest == '/') {
    snprintf(err, errlen, "DYNAMODB_ENDPOINT must be an http:// or https:// URL (got '%s')", ep ? ep : "");
    return HL_EINVAL;
  }
  if (!opt->region || !*opt->region) {
    snprintf(err, errlen, "the DynamoDB store needs AWS_REGION (the signing region)");
    return HL_EINVAL;
  }
  /* The Host header is signed, so it is sent exactly as signed: the
   * authority of the endpoint, port included when one is given. */
  size_t hlen = strcspn(rest, "/?#");
  c->host = hl_strndup(rest, hlen);
  c->url = hl_malloc((size_t)(rest - ep) + hlen + 2);
  memcpy(c->url, ep, (size_t)(rest - ep) + hlen);
  strcpy(c->url + (rest - ep) + hlen, "/");
  c->region = hl_strdup(opt->region);
  c->loop = loop;
  c->curl = curl;
  c->creds = creds;
  c->opt = *opt;
  c->opt.endpoint = NULL;
  c->opt.region = NULL;
  if (!c->opt.max_attempts) c->opt.max_attempts = 10;
  if (!c->opt.base_ms) c->opt.base_ms = 25;
  if (!c->opt.throttle_base_ms) c->opt.throttle_base_ms = 500;
  if (!c->opt.cap_ms) c->opt.cap_ms = 20000;
  if (!c->opt.timeout_ms) c->opt.timeout_ms = 10000;
  hl_sigv4_key_cache_init(&c->key_cache);
  hl_timerq_init(&c->timers, loop);
  return 0;
}

/* --- transfer -------------------------------------------------------------- */
static size_t on_body(char *ptr, size_t size, size_t n, void *data) {
  hl_ddb_req *r = data;
  size_t len = size * n;
  if (r->resp.len + len > RESP_MAX) return 0;
  hl_buf_append(&r->resp, ptr, len);
  return len;
}

static size_t on_header(char *ptr, size_t size, size_t n, void *data) {
  hl_ddb_req *r = data;
  size_t len = size * n;
  static const char name[] = "x-amz-crc32:";
  if (len > sizeof name - 1 && strncasecmp(ptr, name, sizeof name - 1) == 0) {
    size_t i = sizeof name - 1, j = 0;
    while (i < len && ptr[i] == ' ') i++;
    while (i < len && ptr[i] >= '0' && ptr[i] <= '9' && j < sizeof r->crc - 1) r->crc[j++] = ptr[i++];
    r->crc[j] = '\0';
    r->have_crc = j > 0;
  }
  return len;
}

static void xfer_cleanup(hl_ddb_req *r) {
  if (r->easy) curl_easy_cleanup(r->easy);
  r->easy = NULL;
  curl_slist_free_all(r->headers);
  r->headers = NULL;
}

static void on_xfer_done(hl_curl_xfer *x, CURLcode res) {
  hl_ddb_req *r = hl_container_of(x, hl_ddb_req, xfer);
  memset(&r->st, 0, sizeof r->st);
  if (res != CURLE_OK) {
    /* No answer: the SDKs retry connection errors and timeouts. */
    r->st.outcome = HL_DDB_TRANSIENT;
    r->st.retryable = true;
    snprintf(r->st.code, sizeof r->st.code, "%s", res == CURLE_OPERATION_TIMEDOUT ? "RequestTimeout" : "ConnectionError");
    snprintf(r->st.message, sizeof r->st.message, "%s", curl_easy_strerror(res));
  } else {
    long code = 0;
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
    hl_ddb_classify((int)code, r->resp.data, r->resp.len, &r->st);
    if (r->st.outcome == HL_DDB_OK && !hl_ddb_crc32_ok(r->have_crc ? r->crc : NULL, r->resp.data, r->resp.len)) {
      r->st.outcome = HL_DDB_TRANSIENT;
      r->st.retryable = true;
      snprintf(r->st.code, sizeof r->st.code, "CRC32Mismatch");
      snprintf(r->st.message, sizeof r->st.message, "the response body does not match its x-amz-crc32");
    }
  }
  xfer_cleanup(r);
  req_step(r, EV_RESPONSE);
}

static void send_attempt(hl_ddb_req *r, const hl_aws_creds *creds) {
  hl_ddb_client *c = r->c;
  r->attempt++;
  c->attempts++;
  hl_buf_reset(&r->resp);
  r->have_crc = false;
  hl_sigv4_out sig;
  hl_sigv4_out_init(&sig);
  int rc = hl_ddb_sign(c->host, r->op, c->region, creds, hl_wall_ms() / 1000, r->body.data, r->body.len,
                       &c->key_cache, &sig);
  if (rc != 0) {
    hl_sigv4_out_dispose(&sig);
    memset(&r->st, 0, sizeof r->st);
    r->st.outcome = HL_DDB_AUTH;
    snprintf(r->st.message, sizeof r->st.message, "could not sign the request: %s", hl_strerror(rc));
    r->state = REQ_SENDING;
    req_step(r, EV_RESPONSE);
    return;
  }
  hl_buf h = HL_BUF_INIT;
#define ADD_HEADER(...)                               \
  do {                                                \
    char tmp_[512];                                   \
    snprintf(tmp_, sizeof tmp_, __VA_ARGS__);         \
    r->headers = curl_slist_append(r->headers, tmp_); \
  } while (0)
  ADD_HEADER("Host: %s", c->host);
  ADD_HEADER("Content-Type: %s", HL_DDB_CONTENT_TYPE);
  ADD_HEADER("X-Amz-Target: %s", hl_ddb_target(r->op));
  for (int i = 0; i < sig.n_add; i++) {
    /* A session token can be long: build these without a fixed buffer. */
    hl_buf_reset(&h);
    hl_buf_append(&h, sig.add[i].name, sig.add[i].name_len);
    hl_buf_puts(&h, ": ");
    hl_buf_append(&h, sig.add[i].value, sig.add[i].value_len);
    hl_buf_putc(&h, '\0');
    r->headers = curl_slist_append(r->headers, h.data);
  }
  ADD_HEADER("Accept-Encoding: identity");
  ADD_HEADER("Expect:");
#undef ADD_HEADER
  if (h.data) explicit_bzero(h.data, h.cap);
  hl_buf_dispose(&h);
  hl_sigv4_out_dispose(&sig);

  CURL *e = r->easy = curl_easy_init();
  curl_easy_setopt(e, CURLOPT_URL, c->url);
  curl_easy_setopt(e, CURLOPT_POST, 1L);
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body.data ? r->body.data : "");
  curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body.len);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, c->opt.timeout_ms);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, HL_MIN(c->opt.timeout_ms, 5000L));
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
  r->state = REQ_SENDING;
  if (hl_curl_uv_add(c->curl, &r->xfer, e, on_xfer_done) != 0) {
    xfer_cleanup(r);
    memset(&r->st, 0, sizeof r->st);
    r->st.outcome = HL_DDB_TRANSIENT;
    r->st.retryable = true;
    snprintf(r->st.message, sizeof r->st.message, "could not start the transfer");
    req_step(r, EV_RESPONSE);
  }
}

/* --- the state machine ----------------------------------------------------- */
static void on_timer(hl_timerq_node *n) { req_step(hl_container_of(n, hl_ddb_req, timer), EV_START); }

static void on_creds(hl_creds_waiter *w, int status) {
  hl_ddb_req *r = hl_container_of(w, hl_ddb_req, waiter);
  r->creds_status = status;
  req_step(r, EV_CREDS);
}

static void backoff(hl_ddb_req *r, bool throttled) {
  hl_ddb_client *c = r->c;
  c->retries++;
  uint64_t base = throttled ? c->opt.throttle_base_ms : c->opt.base_ms;
  uint64_t ms = hl_ddb_backoff_ms(r->attempt, base, c->opt.cap_ms, hl_random_u32());
  r->state = REQ_BACKOFF;
  hl_timerq_add(&c->timers, &r->timer, ms, on_timer);
}

static void on_timers_closed(void *data) {
  hl_ddb_client *c = data;
  hl_sigv4_key_cache_dispose(&c->key_cache);
  hl_free(c->url);
  hl_free(c->host);
  hl_free(c->region);
  c->url = c->host = c->region = NULL;
  if (c->close_cb) c->close_cb(c->close_data);
}

static void finish(hl_ddb_req *r) {
  hl_ddb_client *c = r->c;
  r->state = REQ_DONE;
  if (r->st.outcome != HL_DDB_OK && r->st.outcome != HL_DDB_CONDITION_FAILED) {
    c->failures++;
    /* Unreachable, refused credentials, or still failing after every
     * retry: that is the store being unhealthy. Other answers (a table that
     * exists, a validation error) are the caller's to judge and report. */
    bool unhealthy = r->st.retryable || r->st.outcome == HL_DDB_AUTH || r->st.outcome == HL_DDB_EXPIRED_TOKEN;
    if (unhealthy) c->last_error = HL_ESTORE;
    hl_log_write(unhealthy ? HL_LOG_WARN : HL_LOG_DEBUG, "DynamoDB request failed", "\"operation\":\"%s\",\"outcome\":\"%s\",\"code\":\"%s\","
                "\"http_status\":%d,\"attempts\":%u",
                hl_ddb_target(r->op) + sizeof "DynamoDB_20120810." - 1, hl_ddb_outcome_name(r->st.outcome),
                r->st.code, r->st.http_status, r->attempt);
  } else {
    c->last_error = 0;
  }
  const hl_json *resp = NULL;
  if (r->resp.len && hl_json_parse(&r->doc, r->resp.data, r->resp.len, NULL) == 0) resp = r->doc.root;
  r->cb(r->data, &r->st, resp);
  /* Unlink and free. */
  if (r->prev) r->prev->next = r->next;
  else c->live = r->next;
  if (r->next) r->next->prev = r->prev;
  c->nlive--;
  hl_json_doc_dispose(&r->doc);
  hl_buf_dispose(&r->resp);
  hl_buf_dispose(&r->body);
  hl_free(r);
  if (c->closing && c->nlive == 0) hl_timerq_close(&c->timers, on_timers_closed, c);
}

/* A BatchWriteItem that succeeded may still have left items unprocessed:
 * re-send those. Returns true when a re-send was scheduled. */
static bool resend_unprocessed(hl_ddb_req *r) {
  if (r->op != HL_DDB_BATCH_WRITE_ITEM || r->resp.len == 0) return false;
  hl_json_doc doc;
  hl_json_doc_init(&doc);
  bool again = false;
  if (hl_json_parse(&doc, r->resp.data, r->resp.len, NULL) == 0) {
    hl_buf next = HL_BUF_INIT;
    int n = hl_ddb_batch_write_resend(&next, doc.root);
    if (n > 0) {
      hl_buf_dispose(&r->body);
      r->body = next;
      again = true;
    } else {
      hl_buf_dispose(&next);
    }
  }
  hl_json_doc_dispose(&doc);
  return again;
}

static void req_step(hl_ddb_req *r, req_event ev) {
  hl_ddb_client *c = r->c;
  hl_aws_creds tmp;
  switch (r->state) {
    case REQ_WAIT_CREDS:
    case REQ_BACKOFF:
      if (ev == EV_CREDS && r->creds_status != 0) {
        /* No credentials could be had: that is a transient failure of this
         * attempt, retried like a connection error. */
        r->attempt++;
        memset(&r->st, 0, sizeof r->st);
        r->st.outcome = HL_DDB_AUTH;
        r->st.retryable = true;
        snprintf(r->st.message, sizeof r->st.message, "no AWS credentials available (%s)",
                 hl_strerror(r->creds_status));
        if (r->attempt < c->opt.max_attempts && r->creds_status != HL_ECLOSED) backoff(r, false);
        else finish(r);
        return;
      }
      {
        const hl_aws_creds *cr = hl_aws_creds_current(c->creds, &tmp);
        if (!cr) {
          r->state = REQ_WAIT_CREDS;
          r->waiter.cb = on_creds;
          hl_aws_creds_wait(c->creds, &r->waiter);
          return;
        }
        send_attempt(r, cr);
      }
      return;
    case REQ_SENDING: {
      if (ev != EV_RESPONSE) return;
      hl_ddb_outcome o = r->st.outcome;
      if (o == HL_DDB_OK && resend_unprocessed(r)) {
        if (r->attempt < c->opt.max_attempts) {
          backoff(r, true);
          return;
        }
        /* Out of attempts with items still unprocessed: that is a failure. */
        r->st.outcome = HL_DDB_THROTTLED;
        snprintf(r->st.code, sizeof r->st.code, "UnprocessedItems");
        snprintf(r->st.message, sizeof r->st.message, "items were still unprocessed after %u attempts", r->attempt);
        finish(r);
        return;
      }
      if (o == HL_DDB_EXPIRED_TOKEN && r->attempt < c->opt.max_attempts) {
        hl_aws_creds_invalidate(c->creds);
        backoff(r, false);
        return;
      }
      if (r->st.retryable && r->attempt < c->opt.max_attempts) {
        backoff(r, o == HL_DDB_THROTTLED);
        return;
      }
      finish(r);
      return;
    }
    case REQ_DONE:
      return;
  }
}

void hl_ddb_call(hl_ddb_client *c, hl_ddb_op op, hl_buf *body, hl_ddb_cb cb, void *data) {
  hl_ddb_req *r = hl_calloc(1, sizeof *r);
  r->c = c;
  r->op = op;
  r->body = *body;
  hl_buf_init(body);
  r->cb = cb;
  r->data = data;
  hl_json_doc_init(&r->doc);
  r->next = c->live;
  if (c->live) c->live->prev = r;
  c->live = r;
  c->nlive++;
  c->calls++;
  /* Start on the timer heap so the callback can never run inside this call. */
  r->state = REQ_BACKOFF;
  hl_timerq_add(&c->timers, &r->timer, 0, on_timer);
}

void hl_ddb_client_close(hl_ddb_client *c, void (*cb)(void *data), void *data) {
  c->closing = true;
  c->close_cb = cb;
  c->close_data = data;
  if (c->nlive == 0) hl_timerq_close(&c->timers, on_timers_closed, c);
}
