#include "aws/hl_aws_client.h"

#include <stdio.h>
#include <string.h>

#include "common/hl_common.h"
#include "common/hl_log.h"
#include "common/hl_sm.h"
#include "crypto/hl_crypto.h"

#define RESP_MAX (16 * 1024 * 1024) /* DynamoDB's Query pages are <= 1 MB; BatchGetItem <= 16 MB */

/* --- answers ---------------------------------------------------------------- */

/* Codes are matched on their last dot-separated part, so the Query
 * spellings SQS keeps sending in x-amzn-query-error
 * ("AWS.SimpleQueueService.NonExistentQueue", "KMS.ThrottlingException")
 * classify as their JSON counterparts do. */
static const char *const throttle_codes[] = {
    "Throttling", "ThrottlingException", "Throttled", "ThrottledException", "RequestThrottled",
    "RequestThrottledException", "TooManyRequestsException", "ProvisionedThroughputExceeded",
    "ProvisionedThroughputExceededException", "KMSThrottling", "KMSThrottlingException", "KmsThrottled",
    "RequestLimitExceeded", "BandwidthLimitExceeded", "LimitExceededException", "SlowDown",
    "PriorRequestNotComplete", "EC2ThrottledException", "TransactionInProgressException",
};
static const char *const transient_codes[] = {
    "RequestTimeout", "RequestTimeoutException", "InternalServerError", "InternalError", "InternalFailure",
    "InternalServiceError", "ServiceUnavailable", "ServiceUnavailableException", "KMSInternalException",
    "DependencyTimeoutException", "KeyUnavailableException",
};
static const char *const not_found_codes[] = {
    "ResourceNotFoundException", "NotFound", "NotFoundException", "QueueDoesNotExist", "NonExistentQueue",
    "KMSNotFound", "KMSNotFoundException", "KmsNotFound",
};
static const char *const auth_codes[] = {
    "AccessDenied", "AccessDeniedException", "AuthorizationError", "UnrecognizedClientException",
    "InvalidClientTokenId", "SignatureDoesNotMatch", "InvalidSignatureException", "MissingAuthenticationToken",
    "MissingAuthenticationTokenException", "IncompleteSignature", "IncompleteSignatureException", "KMSAccessDenied",
    "KMSAccessDeniedException", "KmsAccessDenied", "InvalidSecurity", "NotAuthorizedForSourceException",
};
static const char *const validation_codes[] = {
    "ValidationException", "SerializationException", "InvalidParameter", "InvalidParameterValue",
    "InvalidParameterException", "InvalidParameterCombination", "MissingParameter", "InvalidMessageContents",
    "InvalidAttributeName", "InvalidAttributeValue", "InvalidCiphertextException", "IncorrectKeyException",
    "InvalidKeyUsageException", "InvalidArgument", "MalformedDetail", "InvalidAddress", "InvalidAction",
    "UnsupportedOperation",
};
static const char *const expired_codes[] = {"ExpiredToken", "ExpiredTokenException"};

static bool in(const char *code, const char *const *list, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(code, list[i]) == 0) return true;
  return false;
}
#define IN(code, list) in(code, list, HL_ARRAY_SIZE(list))

static const char *last_part(const char *code) {
  const char *dot = strrchr(code, '.');
  return dot && dot[1] ? dot + 1 : code;
}

bool hl_aws_code_retryable(const char *code) {
  const char *c = last_part(code);
  return IN(c, throttle_codes) || IN(c, transient_codes);
}

hl_aws_outcome hl_aws_classify_code(int http_status, hl_aws_status *st) {
  st->http_status = http_status;
  if (http_status >= 200 && http_status < 300) {
    st->retryable = false;
    st->verdict = HL_AWS_VERDICT_OK;
    return st->outcome = HL_AWS_OK;
  }
  const char *c = last_part(st->code);
  if (strcmp(c, "ConditionalCheckFailedException") == 0) st->outcome = HL_AWS_CONDITION_FAILED;
  else if (IN(c, throttle_codes)) st->outcome = HL_AWS_THROTTLED;
  else if (http_status >= 500 || IN(c, transient_codes)) st->outcome = HL_AWS_TRANSIENT;
  else if (IN(c, not_found_codes)) st->outcome = HL_AWS_NOT_FOUND;
  else if (strcmp(c, "ResourceInUseException") == 0) st->outcome = HL_AWS_IN_USE;
  else if (IN(c, validation_codes)) st->outcome = HL_AWS_VALIDATION;
  else if (IN(c, expired_codes)) st->outcome = HL_AWS_EXPIRED_TOKEN;
  else if (IN(c, auth_codes)) st->outcome = HL_AWS_AUTH;
  else if (strcmp(c, "UnknownOperationException") == 0) st->outcome = HL_AWS_UNKNOWN_OP;
  else st->outcome = HL_AWS_OTHER;
  st->retryable = http_status >= 500 || st->outcome == HL_AWS_THROTTLED || st->outcome == HL_AWS_TRANSIENT;
  st->verdict = st->retryable || st->outcome == HL_AWS_EXPIRED_TOKEN ? HL_AWS_VERDICT_RETRY : HL_AWS_VERDICT_FAIL;
  return st->outcome;
}

const char *hl_aws_outcome_name(hl_aws_outcome o) {
  static const char *const names[] = {"ok", "condition_failed", "throttled", "transient", "not_found", "in_use",
                                      "validation", "auth", "expired_token", "unknown_operation", "other"};
  return (unsigned)o < HL_ARRAY_SIZE(names) ? names[o] : "other";
}

const char *hl_aws_verdict_name(hl_aws_verdict v) {
  static const char *const names[] = {"ok", "retry", "fail"};
  return (unsigned)v < HL_ARRAY_SIZE(names) ? names[v] : "fail";
}

int hl_aws_sign_post(const hl_aws_service *svc, const char *host, const char *target, const char *region,
                     const hl_aws_creds *creds, int64_t now_s, const void *body, size_t body_len,
                     hl_sigv4_key_cache *cache, hl_sigv4_out *out) {
  if (!host || !*host) return HL_EINVAL;
  hl_sigv4_header h[] = {
      {"Host", 4, host, strlen(host)},
      {"Content-Type", 12, svc->content_type, strlen(svc->content_type)},
      {"X-Amz-Target", 12, target, target ? strlen(target) : 0},
  };
  hl_sigv4_request req = {"POST", "/", 1, NULL, 0, h, target ? 3 : 2, body, body_len, NULL};
  hl_sigv4_params p = {.region = region, .service = svc->service, .time_s = now_s, .normalize_path = true};
  return hl_sigv4_sign(&p, creds, &req, cache, out);
}

uint32_t hl_aws_crc32(const void *data, size_t len) {
  /* The IEEE 802.3 polynomial, reflected; the table is built once (a race
   * between two first callers writes the same values). */
  static uint32_t table[256];
  static bool ready;
  if (!ready) {
    for (uint32_t i = 0; i < 256; i++) {
      uint32_t c = i;
      for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      table[i] = c;
    }
    ready = true;
  }
  const uint8_t *p = data;
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < len; i++) c = table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

bool hl_aws_crc32_ok(const char *header, const void *body, size_t len) {
  if (!header) return true;
  uint64_t v = 0;
  const char *p = header;
  while (*p == ' ') p++;
  if (!*p) return false;
  for (; *p >= '0' && *p <= '9'; p++) {
    v = v * 10 + (uint64_t)(*p - '0');
    if (v > 0xFFFFFFFFu) return false;
  }
  while (*p == ' ') p++;
  return *p == '\0' && v == hl_aws_crc32(body, len);
}

uint64_t hl_aws_backoff_ms(unsigned retry, uint64_t base_ms, uint64_t cap_ms, uint32_t rnd) {
  if (retry == 0) retry = 1;
  uint64_t ceiling = cap_ms;
  if (retry - 1 < 40 && base_ms <= (cap_ms >> (retry - 1))) ceiling = base_ms << (retry - 1);
  return (uint64_t)(((unsigned __int128)ceiling * rnd) >> 32);
}

/* --- the client ------------------------------------------------------------- */

/* One call's life: what happens is decided in req_step, and the state
 * changes only in transition(). */
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

struct hl_aws_req {
  hl_aws_client *c;
  hl_aws_req *prev, *next;
  req_state state;
  const char *target;     /* X-Amz-Target, or NULL (Query protocol) */
  hl_aws_json_resend_fn resend;
  hl_buf body;
  unsigned attempt;       /* attempts made so far */
  unsigned max_attempts;  /* the client's, or 1 for a call made once */
  long timeout_ms;        /* per attempt */
  uint64_t start_ns;      /* when the call was made (latency) */
  int creds_status;
  CURL *easy;
  hl_curl_xfer xfer;
  struct curl_slist *headers;
  hl_buf resp;
  char crc[16];
  bool have_crc;
  char query_error[80];   /* the code in x-amzn-query-error, "" when absent */
  hl_timerq_node timer;
  hl_creds_waiter waiter;
  hl_aws_status st;
  hl_json_doc doc;
  hl_aws_json_cb json_cb; /* one of the two callbacks is set */
  hl_aws_raw_cb raw_cb;
  void *data;
};

static void req_step(hl_aws_req *r, req_event ev);

/* The one place a call changes state; illegal moves are bugs. */
static void transition(hl_aws_req *r, req_state to) {
  static const char *const names[] = {"WAIT_CREDS", "SENDING", "BACKOFF", "DONE"};
  static const unsigned allowed[] = {
    /* still no credentials; an attempt (or its signing failure) starts; the
     * provider failed: back off, or give up */
    [REQ_WAIT_CREDS] = HL_SM_TO(REQ_WAIT_CREDS) | HL_SM_TO(REQ_SENDING) | HL_SM_TO(REQ_BACKOFF) | HL_SM_TO(REQ_DONE),
    [REQ_SENDING] = HL_SM_TO(REQ_BACKOFF) | HL_SM_TO(REQ_DONE),
    /* the timer fired: wait for credentials or send; or cancelled */
    [REQ_BACKOFF] = HL_SM_TO(REQ_WAIT_CREDS) | HL_SM_TO(REQ_SENDING) | HL_SM_TO(REQ_DONE),
    [REQ_DONE] = 0,
  };
  hl_sm_check("aws call", allowed, names, r->state, to);
  r->state = to;
}

int hl_aws_client_init(hl_aws_client *c, uv_loop_t *loop, hl_curl_uv *curl, hl_aws_creds_provider *creds,
                       const hl_aws_client_opts *opt, const char *what, char *err, size_t errlen) {
  memset(c, 0, sizeof *c);
  const char *ep = opt->endpoint;
  const char *rest = NULL;
  if (ep && strncmp(ep, "https://", 8) == 0) rest = ep + 8;
  else if (ep && strncmp(ep, "http://", 7) == 0) rest = ep + 7;
  if (!rest || !*rest || *rest == '/') {
    snprintf(err, errlen, "%s must be an http:// or https:// URL (got '%s')", what, ep ? ep : "");
    return HL_EINVAL;
  }
  if (!opt->region || !*opt->region) {
    snprintf(err, errlen, "%s needs a region (AWS_REGION, the signing region)", what);
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
  hl_aws_req *r = data;
  size_t len = size * n;
  if (r->resp.len + len > RESP_MAX) return 0;
  hl_buf_append(&r->resp, ptr, len);
  return len;
}

/* Copies the value of header `name:` (lower-case, with the colon) from a
 * raw header line into out, up to the first byte in `stop`; false when the
 * line is another header. */
static bool header_value(const char *line, size_t len, const char *name, const char *stop, char *out,
                         size_t cap) {
  size_t nl = strlen(name);
  if (len <= nl || strncasecmp(line, name, nl) != 0) return false;
  size_t i = nl, j = 0;
  while (i < len && line[i] == ' ') i++;
  while (i < len && !strchr(stop, line[i]) && j < cap - 1) out[j++] = line[i++];
  out[j] = '\0';
  return true;
}

static size_t on_header(char *ptr, size_t size, size_t n, void *data) {
  hl_aws_req *r = data;
  size_t len = size * n;
  if (header_value(ptr, len, "x-amz-crc32:", " \r\n", r->crc, sizeof r->crc)) {
    r->have_crc = strspn(r->crc, "0123456789") == strlen(r->crc) && r->crc[0];
  } else {
    /* "AWS.SimpleQueueService.NonExistentQueue;Sender": the code a
     * Query-compatible JSON service (SQS) names, before the fault side. */
    header_value(ptr, len, "x-amzn-query-error:", ";\r\n", r->query_error, sizeof r->query_error);
  }
  return len;
}

static void xfer_cleanup(hl_aws_req *r) {
  if (r->easy) curl_easy_cleanup(r->easy);
  r->easy = NULL;
  curl_slist_free_all(r->headers);
  r->headers = NULL;
}

/* Responses of a sensitive client are zeroed before their memory goes. */
static void resp_clear(hl_aws_req *r, bool dispose) {
  if (r->c->opt.sensitive && r->resp.data) explicit_bzero(r->resp.data, r->resp.cap);
  if (dispose) hl_buf_dispose(&r->resp);
  else hl_buf_reset(&r->resp);
}

static void on_xfer_done(hl_curl_xfer *x, CURLcode res) {
  hl_aws_req *r = hl_container_of(x, hl_aws_req, xfer);
  memset(&r->st, 0, sizeof r->st);
  if (res != CURLE_OK) {
    /* No answer: the SDKs retry connection errors and timeouts. */
    snprintf(r->st.code, sizeof r->st.code, "%s", res == CURLE_OPERATION_TIMEDOUT ? "RequestTimeout" : "ConnectionError");
    hl_aws_classify_code(0, &r->st);
    r->st.outcome = HL_AWS_TRANSIENT;
    r->st.retryable = true;
    r->st.verdict = HL_AWS_VERDICT_RETRY;
    snprintf(r->st.message, sizeof r->st.message, "%s", curl_easy_strerror(res));
  } else {
    long code = 0;
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
    if (code < 200 || code >= 300) {
      const hl_aws_protocol *proto = r->c->opt.svc.proto ? r->c->opt.svc.proto : &hl_aws_protocol_json;
      proto->parse_error(r->resp.data, r->resp.len, &r->st);
      if (r->query_error[0]) snprintf(r->st.code, sizeof r->st.code, "%s", r->query_error);
    }
    hl_aws_classify_code((int)code, &r->st);
    if (r->st.outcome == HL_AWS_OK && r->c->opt.check_crc32 &&
        !hl_aws_crc32_ok(r->have_crc ? r->crc : NULL, r->resp.data, r->resp.len)) {
      r->st.outcome = HL_AWS_TRANSIENT;
      r->st.retryable = true;
      r->st.verdict = HL_AWS_VERDICT_RETRY;
      snprintf(r->st.code, sizeof r->st.code, "CRC32Mismatch");
      snprintf(r->st.message, sizeof r->st.message, "the response body does not match its x-amz-crc32");
    }
  }
  xfer_cleanup(r);
  req_step(r, EV_RESPONSE);
}

static void send_attempt(hl_aws_req *r, const hl_aws_creds *creds) {
  hl_aws_client *c = r->c;
  r->attempt++;
  c->attempts++;
  resp_clear(r, false);
  r->have_crc = false;
  r->query_error[0] = '\0';
  hl_sigv4_out sig;
  hl_sigv4_out_init(&sig);
  int rc = hl_aws_sign_post(&c->opt.svc, c->host, r->target, c->region, creds, hl_wall_ms() / 1000, r->body.data,
                            r->body.len, &c->key_cache, &sig);
  if (rc != 0) {
    hl_sigv4_out_dispose(&sig);
    memset(&r->st, 0, sizeof r->st);
    r->st.outcome = HL_AWS_AUTH;
    r->st.verdict = HL_AWS_VERDICT_FAIL;
    snprintf(r->st.message, sizeof r->st.message, "could not sign the request: %s", hl_strerror(rc));
    transition(r, REQ_SENDING);
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
  ADD_HEADER("Content-Type: %s", c->opt.svc.content_type);
  if (r->target) ADD_HEADER("X-Amz-Target: %s", r->target);
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

  CURL *e = r->easy = hl_curl_api_easy(c->url, r->timeout_ms, HL_MIN(r->timeout_ms, 5000L), on_body, on_header, r);
  if (e) {
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body.data ? r->body.data : "");
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body.len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
  }
  transition(r, REQ_SENDING);
  if (!e || hl_curl_uv_add(c->curl, &r->xfer, e, on_xfer_done) != 0) {
    xfer_cleanup(r);
    memset(&r->st, 0, sizeof r->st);
    r->st.outcome = HL_AWS_TRANSIENT;
    r->st.retryable = true;
    r->st.verdict = HL_AWS_VERDICT_RETRY;
    snprintf(r->st.message, sizeof r->st.message, "could not start the transfer");
    req_step(r, EV_RESPONSE);
  }
}

/* --- the state machine ----------------------------------------------------- */
static void on_timer(hl_timerq_node *n) { req_step(hl_container_of(n, hl_aws_req, timer), EV_START); }

static void on_creds(hl_creds_waiter *w, int status) {
  hl_aws_req *r = hl_container_of(w, hl_aws_req, waiter);
  r->creds_status = status;
  req_step(r, EV_CREDS);
}

static void backoff(hl_aws_req *r, bool throttled) {
  hl_aws_client *c = r->c;
  c->retries++;
  uint64_t base = throttled ? c->opt.throttle_base_ms : c->opt.base_ms;
  uint64_t ms = hl_aws_backoff_ms(r->attempt, base, c->opt.cap_ms, hl_random_u32());
  transition(r, REQ_BACKOFF);
  hl_timerq_add(&c->timers, &r->timer, ms, on_timer);
}

static void on_timers_closed(void *data) {
  hl_aws_client *c = data;
  hl_sigv4_key_cache_dispose(&c->key_cache);
  hl_free(c->url);
  hl_free(c->host);
  hl_free(c->region);
  c->url = c->host = c->region = NULL;
  if (c->close_cb) c->close_cb(c->close_data);
}

/* The operation's name, for the log: what follows the service prefix in
 * the target, or the Query body's leading Action. */
static void op_name(const hl_aws_req *r, char *out, size_t cap) {
  const char *name = "";
  size_t n = 0;
  if (r->target) {
    const char *dot = strrchr(r->target, '.');
    name = dot ? dot + 1 : r->target;
    n = strlen(name);
  } else if (r->body.len > 7 && strncmp(r->body.data, "Action=", 7) == 0) {
    name = r->body.data + 7;
    n = strcspn(name, "&");
  }
  snprintf(out, cap, "%.*s", (int)HL_MIN(n, cap - 1), name);
}

static void finish(hl_aws_req *r) {
  hl_aws_client *c = r->c;
  transition(r, REQ_DONE);
  r->st.attempts = r->attempt;
  r->st.latency_us = (hl_mono_ns() - r->start_ns) / 1000;
  if (r->st.outcome != HL_AWS_OK && r->st.outcome != HL_AWS_CONDITION_FAILED) {
    c->failures++;
    /* Unreachable, refused credentials, or still failing after every
     * retry: that is the service being unhealthy. Other answers (a table
     * that exists, a validation error) are the caller's to judge and report. */
    bool unhealthy = r->st.retryable || r->st.outcome == HL_AWS_AUTH || r->st.outcome == HL_AWS_EXPIRED_TOKEN;
    if (unhealthy) c->last_error = HL_ESTORE;
    char op[64];
    op_name(r, op, sizeof op);
    hl_log_write(unhealthy ? HL_LOG_WARN : HL_LOG_DEBUG, "AWS request failed",
                 "\"service\":\"%s\",\"operation\":\"%s\",\"outcome\":\"%s\",\"verdict\":\"%s\",\"code\":\"%s\","
                 "\"http_status\":%d,\"attempts\":%u",
                 c->opt.svc.service, op, hl_aws_outcome_name(r->st.outcome), hl_aws_verdict_name(r->st.verdict),
                 r->st.code, r->st.http_status, r->attempt);
  } else {
    c->last_error = 0;
  }
  if (r->json_cb) {
    const hl_json *resp = NULL;
    if (r->resp.len && hl_json_parse(&r->doc, r->resp.data, r->resp.len, NULL) == 0) resp = r->doc.root;
    r->json_cb(r->data, &r->st, resp);
  } else {
    r->raw_cb(r->data, &r->st, r->resp.data ? r->resp.data : "", r->resp.len);
  }
  /* Unlink and free. */
  if (r->prev) r->prev->next = r->next;
  else c->live = r->next;
  if (r->next) r->next->prev = r->prev;
  c->nlive--;
  if (c->opt.sensitive) hl_json_doc_wipe(&r->doc);
  hl_json_doc_dispose(&r->doc);
  resp_clear(r, true);
  if (c->opt.sensitive && r->body.data) explicit_bzero(r->body.data, r->body.cap);
  hl_buf_dispose(&r->body);
  hl_free(r);
  if (c->closing && c->nlive == 0) hl_timerq_close(&c->timers, on_timers_closed, c);
}

/* A successful answer may still ask for a follow-up (DynamoDB's
 * UnprocessedItems): returns true when one was prepared in r->body. */
static bool resend_needed(hl_aws_req *r) {
  if (!r->resend || r->resp.len == 0) return false;
  hl_json_doc doc;
  hl_json_doc_init(&doc);
  bool again = false;
  if (hl_json_parse(&doc, r->resp.data, r->resp.len, NULL) == 0) {
    hl_buf next = HL_BUF_INIT;
    if (r->resend(&next, doc.root) > 0) {
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

static void req_step(hl_aws_req *r, req_event ev) {
  hl_aws_client *c = r->c;
  hl_aws_creds tmp;
  switch (r->state) {
    case REQ_WAIT_CREDS:
    case REQ_BACKOFF:
      if (ev == EV_CREDS && r->creds_status != 0) {
        /* No credentials could be had: that is a transient failure of this
         * attempt, retried like a connection error. */
        r->attempt++;
        memset(&r->st, 0, sizeof r->st);
        r->st.outcome = HL_AWS_AUTH;
        r->st.retryable = true;
        r->st.verdict = HL_AWS_VERDICT_RETRY;
        snprintf(r->st.message, sizeof r->st.message, "no AWS credentials available (%s)",
                 hl_strerror(r->creds_status));
        if (r->attempt < r->max_attempts && r->creds_status != HL_ECLOSED) backoff(r, false);
        else finish(r);
        return;
      }
      {
        const hl_aws_creds *cr = hl_aws_creds_current(c->creds, &tmp);
        if (!cr) {
          transition(r, REQ_WAIT_CREDS);
          r->waiter.cb = on_creds;
          hl_aws_creds_wait(c->creds, &r->waiter);
          return;
        }
        send_attempt(r, cr);
      }
      return;
    case REQ_SENDING: {
      if (ev != EV_RESPONSE) return;
      hl_aws_outcome o = r->st.outcome;
      if (o == HL_AWS_OK && resend_needed(r)) {
        if (r->attempt < r->max_attempts) {
          backoff(r, true);
          return;
        }
        /* Out of attempts with items still unprocessed: that is a failure. */
        r->st.outcome = HL_AWS_THROTTLED;
        r->st.retryable = true;
        r->st.verdict = HL_AWS_VERDICT_RETRY;
        snprintf(r->st.code, sizeof r->st.code, "UnprocessedItems");
        snprintf(r->st.message, sizeof r->st.message, "items were still unprocessed after %u attempts", r->attempt);
        finish(r);
        return;
      }
      if (o == HL_AWS_EXPIRED_TOKEN) {
        /* Whether or not this call tries again, the credentials are
         * stale: the next signature waits for new ones (a client made
         * with one attempt, whose callers retry on their own schedule,
         * would otherwise sign with the expired token for ever). */
        hl_aws_creds_invalidate(c->creds);
        if (r->attempt < r->max_attempts) {
          backoff(r, false);
          return;
        }
      }
      if (r->st.retryable && r->attempt < r->max_attempts) {
        backoff(r, o == HL_AWS_THROTTLED);
        return;
      }
      finish(r);
      return;
    }
    case REQ_DONE:
      return;
  }
}

static void call_start(hl_aws_client *c, const char *target, hl_buf *body, hl_aws_json_resend_fn resend,
                       unsigned max_attempts, long timeout_ms, hl_aws_json_cb json_cb, hl_aws_raw_cb raw_cb,
                       void *data) {
  hl_aws_req *r = hl_malloc(sizeof *r);
  *r = (hl_aws_req){.c = c, .target = target, .max_attempts = max_attempts, .timeout_ms = timeout_ms,
                    .resend = resend, .body = *body, .json_cb = json_cb, .raw_cb = raw_cb, .data = data,
                    .start_ns = hl_mono_ns(), .state = REQ_BACKOFF};
  hl_buf_init(body);
  hl_json_doc_init(&r->doc);
  r->next = c->live;
  if (c->live) c->live->prev = r;
  c->live = r;
  c->nlive++;
  c->calls++;
  /* Start on the timer heap (BACKOFF, due now) so the callback can never
   * run inside this call. */
  hl_timerq_add(&c->timers, &r->timer, 0, on_timer);
}

void hl_aws_client_call(hl_aws_client *c, const char *target, hl_buf *body, hl_aws_raw_cb cb, void *data) {
  call_start(c, target, body, NULL, c->opt.max_attempts, c->opt.timeout_ms, NULL, cb, data);
}

void hl_aws_client_call_json(hl_aws_client *c, const char *target, hl_buf *body, hl_aws_json_resend_fn resend,
                             hl_aws_json_cb cb, void *data) {
  call_start(c, target, body, resend, c->opt.max_attempts, c->opt.timeout_ms, cb, NULL, data);
}

void hl_aws_client_call_json_once(hl_aws_client *c, const char *target, hl_buf *body, long timeout_ms,
                                  hl_aws_json_cb cb, void *data) {
  call_start(c, target, body, NULL, 1, timeout_ms > 0 ? timeout_ms : c->opt.timeout_ms, cb, NULL, data);
}

void hl_aws_client_cancel_all(hl_aws_client *c) {
  while (c->live) {
    hl_aws_req *r = c->live;
    if (r->state == REQ_SENDING && r->easy) {
      hl_curl_uv_cancel(c->curl, &r->xfer);
      xfer_cleanup(r);
    } else if (r->state == REQ_BACKOFF) {
      hl_timerq_remove(&c->timers, &r->timer);
    } else if (r->state == REQ_WAIT_CREDS) {
      hl_aws_creds_unwait(c->creds, &r->waiter);
    }
    memset(&r->st, 0, sizeof r->st);
    r->st.outcome = HL_AWS_TRANSIENT;
    r->st.verdict = HL_AWS_VERDICT_RETRY;
    snprintf(r->st.code, sizeof r->st.code, "Canceled");
    snprintf(r->st.message, sizeof r->st.message, "the client is closing");
    resp_clear(r, false);
    finish(r); /* unlinks r */
  }
}

void hl_aws_client_close(hl_aws_client *c, void (*cb)(void *data), void *data) {
  c->closing = true;
  c->close_cb = cb;
  c->close_data = data;
  if (c->nlive == 0) hl_timerq_close(&c->timers, on_timers_closed, c);
}
