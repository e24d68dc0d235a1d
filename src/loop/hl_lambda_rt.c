#include "loop/hl_lambda_rt.h"
#include "common/hl_common.h"
#include "common/hl_log.h"
#include "json/hl_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct {
  hl_curl_xfer xfer;
  hl_lambda_rt *rt;
  CURL *easy;
  struct curl_slist *headers;
  hl_buf resp;
  char *req_body;
  hl_lambda_invocation inv;
  hl_lambda_next_cb next_cb;
  hl_lambda_post_cb post_cb;
  void *data;
  uv_timer_t fail_timer;      /* reports a request that could not start, on the next turn */
} rt_call;

static size_t on_body(char *p, size_t s, size_t n, void *u) {
  rt_call *c = u;
  hl_buf_append(&c->resp, p, s * n);
  return s * n;
}

/* Copies the value of header `name` from a raw header line into out. */
static void header_value(const char *line, size_t len, const char *name, char *out, size_t outlen) {
  size_t nl = strlen(name);
  if (len <= nl + 1 || strncasecmp(line, name, nl) != 0 || line[nl] != ':') return;
  const char *v = line + nl + 1;
  while (v < line + len && (*v == ' ' || *v == '\t')) v++;
  size_t vl = (size_t)(line + len - v);
  while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' ')) vl--;
  if (vl >= outlen) vl = outlen - 1;
  memcpy(out, v, vl);
  out[vl] = '\0';
}

/* Lambda-Runtime-Deadline-Ms is unix milliseconds: digits only. Anything
 * else (a sign, a fraction, out of range) counts as no deadline (0), so the
 * time left, deadline - now, can never overflow. */
static int64_t deadline_of(const char *s) {
  int64_t v = 0;
  for (const char *p = s; *p; p++) {
    if (*p < '0' || *p > '9' || v > (INT64_MAX - (*p - '0')) / 10) return 0;
    v = v * 10 + (*p - '0');
  }
  return v;
}

void hl_lambda_rt_header(hl_lambda_invocation *inv, const char *line, size_t len) {
  char deadline[32] = "";
  header_value(line, len, "lambda-runtime-aws-request-id", inv->request_id, sizeof inv->request_id);
  header_value(line, len, "lambda-runtime-trace-id", inv->trace_id, sizeof inv->trace_id);
  header_value(line, len, "lambda-runtime-invoked-function-arn", inv->function_arn, sizeof inv->function_arn);
  header_value(line, len, "lambda-runtime-deadline-ms", deadline, sizeof deadline);
  if (deadline[0]) inv->deadline_ms = deadline_of(deadline);
}

static size_t on_header(char *p, size_t s, size_t n, void *u) {
  rt_call *c = u;
  hl_lambda_rt_header(&c->inv, p, s * n);
  return s * n;
}

static void call_free(rt_call *c) {
  if (c->easy) curl_easy_cleanup(c->easy);
  curl_slist_free_all(c->headers);
  hl_buf_dispose(&c->resp);
  hl_free(c->req_body);
  hl_free(c->inv.body);
  hl_free(c);
}

static void on_done(hl_curl_xfer *x, CURLcode rc) {
  rt_call *c = hl_container_of(x, rt_call, xfer);
  long code = 0;
  curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &code);
  int status = 0;
  if (rc != CURLE_OK) {
    hl_log_error("Lambda Runtime API request failed", "\"error\":\"%s\"", curl_easy_strerror(rc));
    status = HL_EIO;
  } else if (code >= 500) {
    status = HL_ECLOSED;
  } else if (code >= 300) {
    hl_log_error("Lambda Runtime API refused a request", "\"status\":%ld,\"body\":\"%s\"", code,
                 hl_log_esc(c->resp.data, c->resp.len));
    status = HL_EINVAL;
  }
  if (c->next_cb) {
    c->inv.body = hl_buf_steal(&c->resp, &c->inv.body_len);
    if (status == 0 && c->inv.request_id[0] == '\0') status = HL_EPARSE;
    c->next_cb(c->rt, status, &c->inv);
  } else if (c->post_cb) {
    c->post_cb(c->rt, status, c->data);
  }
  call_free(c);
}

static rt_call *call_new(hl_lambda_rt *rt, const char *path) {
  rt_call *c = hl_calloc(1, sizeof *c);
  c->rt = rt;
  c->easy = curl_easy_init();
  char url[512];
  snprintf(url, sizeof url, "%s%s", rt->base, path);
  curl_easy_setopt(c->easy, CURLOPT_URL, url);
  curl_easy_setopt(c->easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, c);
  curl_easy_setopt(c->easy, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c->easy, CURLOPT_HEADERDATA, c);
  return c;
}

static void on_fail_closed(uv_handle_t *h) {
  rt_call *c = h->data;
  if (c->next_cb) c->next_cb(c->rt, HL_EINTERNAL, &c->inv);
  else if (c->post_cb) c->post_cb(c->rt, HL_EINTERNAL, c->data);
  call_free(c);
}

static void on_fail(uv_timer_t *t) { uv_close((uv_handle_t *)t, on_fail_closed); }

static void start(rt_call *c) {
  if (hl_curl_uv_add(c->rt->curl, &c->xfer, c->easy, on_done) != 0) {
    /* Callbacks never run inside the call that asked: report next turn. */
    hl_log_error("could not start a Lambda Runtime API request", "%s", "\"retry\":false");
    uv_timer_init(c->rt->curl->loop, &c->fail_timer);
    c->fail_timer.data = c;
    uv_timer_start(&c->fail_timer, on_fail, 0, 0);
  }
}

int hl_lambda_rt_init(hl_lambda_rt *rt, hl_curl_uv *curl, const char *api) {
  if (!api || !*api || strlen(api) > 200) return HL_EINVAL;
  rt->curl = curl;
  snprintf(rt->base, sizeof rt->base, "http://%s/2018-06-01", api);
  return 0;
}

void hl_lambda_rt_next(hl_lambda_rt *rt, hl_lambda_next_cb cb) {
  rt_call *c = call_new(rt, "/runtime/invocation/next");
  c->next_cb = cb;
  /* No timeout: the long poll may last as long as the sandbox is frozen. */
  curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, 0L);
  start(c);
}

static void post(hl_lambda_rt *rt, const char *path, const char *body, size_t len, const char *err_type,
                 hl_lambda_post_cb cb, void *data) {
  rt_call *c = call_new(rt, path);
  c->post_cb = cb;
  c->data = data;
  c->req_body = hl_malloc(len + 1);
  memcpy(c->req_body, body, len);
  c->headers = curl_slist_append(c->headers, "content-type: application/json");
  c->headers = curl_slist_append(c->headers, "expect:");
  if (err_type) {
    char h[256];
    snprintf(h, sizeof h, "lambda-runtime-function-error-type: %s", err_type);
    c->headers = curl_slist_append(c->headers, h);
  }
  curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->headers);
  curl_easy_setopt(c->easy, CURLOPT_POST, 1L);
  curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, c->req_body);
  curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
  curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, 30000L);
  start(c);
}

void hl_lambda_rt_respond(hl_lambda_rt *rt, const char *request_id, const char *body, size_t len,
                          hl_lambda_post_cb cb, void *data) {
  char path[256];
  snprintf(path, sizeof path, "/runtime/invocation/%s/response", request_id);
  post(rt, path, body, len, NULL, cb, data);
}

void hl_lambda_rt_error(hl_lambda_rt *rt, const char *request_id, const char *error_type,
                        const char *message, hl_lambda_post_cb cb, void *data) {
  char path[256];
  if (request_id) snprintf(path, sizeof path, "/runtime/invocation/%s/error", request_id);
  else snprintf(path, sizeof path, "/runtime/init/error");
  hl_buf b = HL_BUF_INIT;
  hl_buf_puts(&b, "{\"errorMessage\":\"");
  hl_json_escape(&b, message, strlen(message));
  hl_buf_puts(&b, "\",\"errorType\":\"");
  hl_json_escape(&b, error_type, strlen(error_type));
  hl_buf_puts(&b, "\",\"stackTrace\":[]}");
  post(rt, path, b.data, b.len, error_type, cb, data);
  hl_buf_dispose(&b);
}
