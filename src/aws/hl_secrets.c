#include "aws/hl_secrets.h"

#include <stdio.h>
#include <string.h>

#include "common/hl_buf.h"
#include "common/hl_common.h"
#include "common/hl_log.h"
#include "crypto/hl_sigv4.h"
#include "crypto/hl_webhook_sig.h"
#include "json/hl_json.h"

#define CONTENT_TYPE "application/x-amz-json-1.1"
#define TARGET "secretsmanager.GetSecretValue"
#define RETRY_MS 5000
#define RESP_MAX (256 * 1024)

static void wipe_buf(hl_buf *b) {
  if (b->data) explicit_bzero(b->data, b->cap);
  hl_buf_dispose(b);
}

static void wipe_str(char **p) {
  if (*p) explicit_bzero(*p, strlen(*p));
  hl_free(*p);
  *p = NULL;
}

/* arn:aws:secretsmanager:<region>:<account>:secret:<name> */
static char *region_of_arn(const char *arn) {
  if (strncmp(arn, "arn:", 4) != 0) return NULL;
  const char *p = arn;
  for (int i = 0; i < 3; i++) {
    p = strchr(p, ':');
    if (!p) return NULL;
    p++;
  }
  const char *e = strchr(p, ':');
  return e && e > p ? hl_strndup(p, (size_t)(e - p)) : NULL;
}

int hl_secrets_init(hl_secrets *s, uv_loop_t *loop, hl_curl_uv *curl, const hl_secrets_config *cfg, char *err,
                    size_t errlen) {
  memset(s, 0, sizeof *s);
  s->loop = loop;
  s->curl = curl;
  s->region = cfg->region && *cfg->region ? hl_strdup(cfg->region) : region_of_arn(cfg->secret_id);
  if (!s->region) {
    snprintf(err, errlen, "WEBHOOK_SECRET_ARN is not an ARN with a region and AWS_REGION is not set");
    return HL_EINVAL;
  }
  hl_buf u = HL_BUF_INIT;
  if (cfg->endpoint && *cfg->endpoint) {
    hl_buf_puts(&u, cfg->endpoint);
  } else {
    hl_buf_puts(&u, "https://secretsmanager.");
    hl_buf_puts(&u, s->region);
    hl_buf_puts(&u, ".amazonaws.com");
  }
  hl_buf_putc(&u, '\0');
  const char *rest = strncmp(u.data, "https://", 8) == 0 ? u.data + 8
                     : strncmp(u.data, "http://", 7) == 0 ? u.data + 7 : NULL;
  if (!rest || !*rest) {
    snprintf(err, errlen, "the Secrets Manager endpoint must be an http:// or https:// URL");
    hl_buf_dispose(&u);
    hl_free(s->region);
    return HL_EINVAL;
  }
  s->host = hl_strndup(rest, strcspn(rest, "/?#"));
  s->url = u.data;
  int rc = hl_aws_creds_init(&s->creds, loop, curl, &cfg->creds, err, errlen);
  if (rc != 0) {
    /* The provider's timer is open; closing it is enough. */
    hl_aws_creds_close(&s->creds, NULL, NULL);
    hl_free(s->url);
    hl_free(s->host);
    hl_free(s->region);
    return rc;
  }
  s->secret_id = hl_strdup(cfg->secret_id);
  s->refresh_ms = cfg->refresh_ms;
  hl_sigv4_key_cache_init(&s->key_cache);
  uv_timer_init(loop, &s->timer);
  uv_unref((uv_handle_t *)&s->timer);
  return 0;
}

const char *hl_secrets_value(const hl_secrets *s) { return s->value; }

static void fetch(hl_secrets *s);

static void on_timer(uv_timer_t *t) { fetch(hl_container_of(t, hl_secrets, timer)); }

static void first_done(hl_secrets *s, int status, const char *why) {
  if (!s->first_cb) return;
  void (*cb)(void *, int, const char *) = s->first_cb;
  s->first_cb = NULL;
  cb(s->first_data, status, why);
}

/* Ends a read: schedules the next one and reports the first. */
static void read_done(hl_secrets *s, int status, const char *why) {
  if (s->state == HL_SECRETS_CLOSED) return; /* a waiter told of the close */
  s->state = HL_SECRETS_IDLE;
  if (status == 0) {
    if (s->refresh_ms) uv_timer_start(&s->timer, on_timer, s->refresh_ms, 0);
  } else {
    hl_log_warn("could not read the default webhook secret", "\"error\":\"%s\"", why);
    uv_timer_start(&s->timer, on_timer, RETRY_MS, 0);
  }
  first_done(s, status, why);
}

static size_t on_body(char *ptr, size_t size, size_t n, void *data) {
  hl_secrets *s = data;
  if (s->resp.len + size * n > RESP_MAX) return 0;
  hl_buf_append(&s->resp, ptr, size * n);
  return size * n;
}

/* The secret out of a GetSecretValue answer, or NULL with why. */
static char *secret_of(const hl_buf *resp, const char **why) {
  hl_json_doc doc, inner;
  hl_json_doc_init(&doc);
  hl_json_doc_init(&inner);
  char *out = NULL;
  *why = "the answer is not JSON";
  if (hl_json_parse(&doc, resp->data ? resp->data : "", resp->len, NULL) == 0) {
    const hl_json *ss = hl_json_get(doc.root, "SecretString");
    const char *v = hl_json_str(ss);
    *why = "the secret has no SecretString (binary secrets are not supported)";
    if (v && v[0] == '{') {
      *why = "the SecretString is a JSON object without a \"webhook_secret\" or \"secret\" string";
      if (hl_json_parse(&inner, v, ss->len, NULL) == 0) {
        const char *w = hl_json_str(hl_json_get(inner.root, "webhook_secret"));
        v = w ? w : hl_json_str(hl_json_get(inner.root, "secret"));
      } else {
        v = NULL;
      }
    }
    if (v && hl_webhook_secret_check_list(v) != 0) {
      *why = "the secret is not \"whsec_\" followed by base64";
    } else if (v) {
      out = hl_strdup(v);
      *why = NULL;
    }
  }
  hl_json_doc_dispose(&inner);
  hl_json_doc_dispose(&doc);
  return out;
}

static void xfer_cleanup(hl_secrets *s) {
  if (s->easy) curl_easy_cleanup(s->easy);
  s->easy = NULL;
  curl_slist_free_all(s->headers);
  s->headers = NULL;
  wipe_buf(&s->resp);
  hl_buf_dispose(&s->req);
}

static void on_done(hl_curl_xfer *x, CURLcode res) {
  hl_secrets *s = hl_container_of(x, hl_secrets, xfer);
  long code = 0;
  curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &code);
  const char *why = NULL;
  char *v = NULL;
  char buf[160];
  if (res != CURLE_OK) {
    why = curl_easy_strerror(res);
  } else if (code != 200) {
    snprintf(buf, sizeof buf, "Secrets Manager answered HTTP %ld (check the ARN and secretsmanager:GetSecretValue)",
             code);
    why = buf;
    if (code == 400 && s->resp.data && memmem(s->resp.data, s->resp.len, "ExpiredToken", 12))
      hl_aws_creds_invalidate(&s->creds);
  } else {
    v = secret_of(&s->resp, &why);
  }
  xfer_cleanup(s);
  if (v) {
    wipe_str(&s->value);
    s->value = v;
  }
  read_done(s, v ? 0 : HL_EIO, why);
}

static void send_request(hl_secrets *s, const hl_aws_creds *cr) {
  hl_jw w;
  hl_jw_init(&w, &s->req);
  hl_jw_obj_begin(&w);
  hl_jw_key(&w, "SecretId");
  hl_jw_str(&w, s->secret_id);
  hl_jw_obj_end(&w);
  hl_sigv4_header h[] = {
      {"Host", 4, s->host, strlen(s->host)},
      {"Content-Type", 12, CONTENT_TYPE, sizeof CONTENT_TYPE - 1},
      {"X-Amz-Target", 12, TARGET, sizeof TARGET - 1},
  };
  hl_sigv4_request rq = {"POST", "/", 1, NULL, 0, h, HL_ARRAY_SIZE(h), s->req.data, s->req.len, NULL};
  hl_sigv4_params p = {.region = s->region, .service = "secretsmanager", .time_s = hl_wall_ms() / 1000,
                       .normalize_path = true};
  hl_sigv4_out sig;
  hl_sigv4_out_init(&sig);
  if (hl_sigv4_sign(&p, cr, &rq, &s->key_cache, &sig) != 0) {
    hl_sigv4_out_dispose(&sig);
    hl_buf_dispose(&s->req);
    read_done(s, HL_EINVAL, "could not sign the request");
    return;
  }
  hl_buf line = HL_BUF_INIT;
  const hl_sigv4_header all[] = {h[0], h[1], h[2]};
  for (size_t i = 0; i < HL_ARRAY_SIZE(all) + (size_t)sig.n_add; i++) {
    const hl_sigv4_header *x = i < HL_ARRAY_SIZE(all) ? &all[i] : &sig.add[i - HL_ARRAY_SIZE(all)];
    hl_buf_reset(&line);
    hl_buf_append(&line, x->name, x->name_len);
    hl_buf_puts(&line, ": ");
    hl_buf_append(&line, x->value, x->value_len);
    hl_buf_putc(&line, '\0');
    s->headers = curl_slist_append(s->headers, line.data);
  }
  wipe_buf(&line);
  hl_sigv4_out_dispose(&sig);
  s->headers = curl_slist_append(s->headers, "Expect:");
  CURL *e = s->easy = curl_easy_init();
  curl_easy_setopt(e, CURLOPT_URL, s->url);
  curl_easy_setopt(e, CURLOPT_POST, 1L);
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, s->req.data);
  curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)s->req.len);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, s->headers);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 10000L);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, s);
  if (hl_curl_uv_add(s->curl, &s->xfer, e, on_done) != 0) {
    xfer_cleanup(s);
    read_done(s, HL_EIO, "could not start the request");
  }
}

static void on_creds(hl_creds_waiter *w, int status) {
  hl_secrets *s = hl_container_of(w, hl_secrets, waiter);
  hl_aws_creds tmp;
  const hl_aws_creds *cr = status == 0 ? hl_aws_creds_current(&s->creds, &tmp) : NULL;
  if (!cr) {
    read_done(s, status ? status : HL_EIO, "no AWS credentials available");
    return;
  }
  send_request(s, cr);
}

static void fetch(hl_secrets *s) {
  if (s->state != HL_SECRETS_IDLE) return;
  s->state = HL_SECRETS_FETCHING;
  hl_aws_creds tmp;
  const hl_aws_creds *cr = hl_aws_creds_current(&s->creds, &tmp);
  if (cr) {
    send_request(s, cr);
  } else {
    s->waiter.cb = on_creds;
    hl_aws_creds_wait(&s->creds, &s->waiter);
  }
}

void hl_secrets_start(hl_secrets *s, void (*first)(void *data, int status, const char *why), void *data) {
  s->first_cb = first;
  s->first_data = data;
  fetch(s);
}

static void closed_one(void *data) {
  hl_secrets *s = data;
  if (--s->closing_handles > 0) return;
  wipe_str(&s->value);
  hl_free(s->secret_id);
  hl_free(s->region);
  hl_free(s->url);
  hl_free(s->host);
  hl_sigv4_key_cache_dispose(&s->key_cache);
  if (s->close_cb) s->close_cb(s->close_data);
}

static void on_timer_closed(uv_handle_t *h) { closed_one(hl_container_of((uv_timer_t *)h, hl_secrets, timer)); }

void hl_secrets_close(hl_secrets *s, void (*cb)(void *data), void *data) {
  if (s->state == HL_SECRETS_FETCHING && s->easy) {
    hl_curl_uv_cancel(s->curl, &s->xfer);
    xfer_cleanup(s);
  }
  s->state = HL_SECRETS_CLOSED;
  s->first_cb = NULL;
  s->close_cb = cb;
  s->close_data = data;
  s->closing_handles = 2;
  uv_close((uv_handle_t *)&s->timer, on_timer_closed);
  hl_aws_creds_close(&s->creds, closed_one, s);
}
