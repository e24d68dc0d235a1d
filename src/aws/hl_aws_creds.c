#include "aws/hl_aws_creds.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/hl_buf.h"
#include "common/hl_common.h"
#include "common/hl_log.h"
#include "common/hl_rfc3339.h"
#include "common/hl_sm.h"
#include "json/hl_json.h"

#define ECS_AGENT_BASE "http://169.254.170.2"
#define FETCH_TIMEOUT_MS 5000L
#define BODY_MAX (64 * 1024)
/* Credentials closer than this to expiry are not handed out. */
#define EXPIRY_MARGIN_MS (60 * 1000)
/* After a failed proactive refresh, try again this soon. */
#define REFRESH_RETRY_MS (10 * 1000)

static void wipe_free(char **p) {
  if (*p) {
    explicit_bzero(*p, strlen(*p));
    hl_free(*p);
    *p = NULL;
  }
}

static char *dup_or_null(const char *s) { return s && *s ? hl_strdup(s) : NULL; }

const char *hl_creds_source_name(hl_creds_source s) {
  switch (s) {
    case HL_CREDS_STATIC: return "environment";
    case HL_CREDS_CONTAINER: return "container endpoint";
    default: return "none";
  }
}

/* Loopback and the ECS/EKS agents may be spoken to over plain http; every
 * other host needs https, so a token never crosses a network in clear. */
static bool full_uri_allowed(const char *uri) {
  if (strncmp(uri, "https://", 8) == 0) return true;
  if (strncmp(uri, "http://", 7) != 0) return false;
  static const char *const ok[] = {"127.", "localhost:", "localhost/", "[::1]", "169.254.170.2:",
                                   "169.254.170.2/", "169.254.170.23", "[fd00:ec2::23]"};
  const char *h = uri + 7;
  for (size_t i = 0; i < HL_ARRAY_SIZE(ok); i++)
    if (strncmp(h, ok[i], strlen(ok[i])) == 0) return true;
  return strcmp(h, "localhost") == 0 || strcmp(h, "169.254.170.2") == 0;
}

int hl_aws_creds_init(hl_aws_creds_provider *p, uv_loop_t *loop, hl_curl_uv *curl,
                      const hl_aws_creds_env *env, char *err, size_t errlen) {
  memset(p, 0, sizeof *p);
  p->loop = loop;
  p->curl = curl;
  uv_timer_init(loop, &p->refresh);
  uv_unref((uv_handle_t *)&p->refresh); /* a refresh alone keeps no loop alive */
  if (env->access_key_id && *env->access_key_id && env->secret_access_key && *env->secret_access_key) {
    p->source = HL_CREDS_STATIC;
    p->akid = hl_strdup(env->access_key_id);
    p->secret = hl_strdup(env->secret_access_key);
    p->token = dup_or_null(env->session_token);
    p->valid = true;
    return 0;
  }
  if (env->access_key_id && *env->access_key_id) {
    snprintf(err, errlen, "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not; set both");
    return HL_EINVAL;
  }
  if (env->container_relative_uri && *env->container_relative_uri) {
    if (env->container_relative_uri[0] != '/') {
      snprintf(err, errlen, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI must start with '/'");
      return HL_EINVAL;
    }
    hl_buf u = HL_BUF_INIT;
    hl_buf_puts(&u, ECS_AGENT_BASE);
    hl_buf_puts(&u, env->container_relative_uri);
    hl_buf_putc(&u, '\0');
    p->url = u.data;
  } else if (env->container_full_uri && *env->container_full_uri) {
    if (!full_uri_allowed(env->container_full_uri)) {
      snprintf(err, errlen,
               "AWS_CONTAINER_CREDENTIALS_FULL_URI must be https, or http to a loopback address or the "
               "ECS/EKS credentials agent");
      return HL_EINVAL;
    }
    p->url = hl_strdup(env->container_full_uri);
  } else {
    snprintf(err, errlen,
             "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run with an ECS task "
             "role (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI / _FULL_URI)");
    return HL_EINVAL;
  }
  p->source = HL_CREDS_CONTAINER;
  p->auth_token = dup_or_null(env->container_auth_token);
  p->auth_token_file = dup_or_null(env->container_auth_token_file);
  return 0;
}

const hl_aws_creds *hl_aws_creds_current(hl_aws_creds_provider *p, hl_aws_creds *out) {
  if (!p->valid) return NULL;
  if (p->expires_ms && hl_wall_ms() + EXPIRY_MARGIN_MS >= p->expires_ms) return NULL;
  out->access_key_id = p->akid;
  out->secret_access_key = p->secret;
  out->session_token = p->token;
  return out;
}

static void notify(hl_aws_creds_provider *p, int status) {
  hl_creds_waiter *w = p->waiters;
  p->waiters = NULL;
  while (w) {
    hl_creds_waiter *next = w->next;
    w->next = NULL;
    w->cb(w, status);
    w = next;
  }
}

static void fetch_cleanup(hl_aws_creds_provider *p) {
  if (p->easy) curl_easy_cleanup(p->easy);
  p->easy = NULL;
  curl_slist_free_all(p->headers);
  p->headers = NULL;
  if (p->body) explicit_bzero(p->body, p->body_len);
  hl_free(p->body);
  p->body = NULL;
  p->body_len = 0;
}

static size_t on_body(char *ptr, size_t size, size_t n, void *data) {
  hl_aws_creds_provider *p = data;
  size_t len = size * n;
  if (p->body_len + len > BODY_MAX) return 0; /* aborts the transfer */
  p->body = hl_realloc(p->body, p->body_len + len + 1);
  memcpy(p->body + p->body_len, ptr, len);
  p->body_len += len;
  p->body[p->body_len] = '\0';
  return len;
}

static void start_fetch(hl_aws_creds_provider *p);

/* The one place the provider changes state; illegal moves are bugs. */
static void transition(hl_aws_creds_provider *p, hl_fetch_state to) {
  hl_fetch_transition("aws credentials", &p->state, to);
}

static void on_refresh_timer(uv_timer_t *t) {
  hl_aws_creds_provider *p = hl_container_of(t, hl_aws_creds_provider, refresh);
  if (p->source == HL_CREDS_STATIC) notify(p, 0);
  else if (p->state == HL_FETCH_IDLE) start_fetch(p);
}

/* Reads the response; 0 and the new credentials installed, or an error
 * with a reason that never quotes the body. */
static int take_response(hl_aws_creds_provider *p, const char **why) {
  hl_json_doc doc;
  hl_json_doc_init(&doc);
  int rc = HL_EPARSE;
  *why = "the response is not JSON";
  if (hl_json_parse(&doc, p->body ? p->body : "", p->body_len, NULL) == 0) {
    const char *akid = hl_json_str(hl_json_get(doc.root, "AccessKeyId"));
    const char *secret = hl_json_str(hl_json_get(doc.root, "SecretAccessKey"));
    const char *token = hl_json_str(hl_json_get(doc.root, "Token"));
    const char *exp = hl_json_str(hl_json_get(doc.root, "Expiration"));
    /* An Expiration before 1970 is as unusable as a malformed one. */
    int64_t exp_ms = -1;
    if (exp && (hl_rfc3339_datetime(exp, strlen(exp), 0, &exp_ms) != 0 || exp_ms < 0)) exp_ms = -1;
    if (!akid || !*akid || !secret || !*secret) {
      *why = "the response lacks AccessKeyId or SecretAccessKey";
    } else if (exp && exp_ms < 0) {
      *why = "the response's Expiration is not an RFC 3339 time";
    } else {
      wipe_free(&p->akid);
      wipe_free(&p->secret);
      wipe_free(&p->token);
      p->akid = hl_strdup(akid);
      p->secret = hl_strdup(secret);
      p->token = dup_or_null(token);
      p->expires_ms = exp ? exp_ms : 0;
      p->valid = true;
      rc = 0;
    }
  }
  /* The document held the secret too. */
  hl_json_doc_dispose(&doc);
  return rc;
}

static void schedule_refresh(hl_aws_creds_provider *p, int64_t in_ms) {
  if (in_ms < 1000) in_ms = 1000;
  uv_timer_start(&p->refresh, on_refresh_timer, (uint64_t)in_ms, 0);
}

static void on_fetch_done(hl_curl_xfer *x, CURLcode res) {
  hl_aws_creds_provider *p = hl_container_of(x, hl_aws_creds_provider, xfer);
  long code = 0;
  curl_easy_getinfo(p->easy, CURLINFO_RESPONSE_CODE, &code);
  const char *why = NULL;
  int rc;
  if (res != CURLE_OK) {
    why = curl_easy_strerror(res);
    rc = HL_EIO;
  } else if (code != 200) {
    why = "the endpoint did not answer 200";
    rc = HL_EIO;
  } else {
    rc = take_response(p, &why);
  }
  fetch_cleanup(p);
  transition(p, HL_FETCH_IDLE);
  int64_t now = hl_wall_ms();
  if (rc == 0) {
    hl_log_info("AWS credentials fetched", "\"source\":\"%s\",\"expires_in_s\":%lld",
                hl_creds_source_name(p->source),
                (long long)(p->expires_ms ? (p->expires_ms - now) / 1000 : -1));
    if (p->expires_ms) {
      int64_t life = p->expires_ms - now;
      schedule_refresh(p, HL_MAX(life - 15 * 60 * 1000, life / 2));
    }
  } else {
    hl_log_warn("could not fetch AWS credentials", "\"source\":\"%s\",\"http_status\":%ld,\"error\":\"%s\"",
                hl_creds_source_name(p->source), code, why);
    /* Still usable ones are kept; try again soon either way. */
    schedule_refresh(p, REFRESH_RETRY_MS);
  }
  notify(p, rc == 0 || hl_aws_creds_current(p, &(hl_aws_creds){0}) ? 0 : rc);
}

static char *read_token_file(const char *path) {
  size_t len = 0;
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char buf[4096];
  len = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' ')) len--;
  buf[len] = '\0';
  char *t = hl_strdup(buf);
  explicit_bzero(buf, sizeof buf);
  return t;
}

static void start_fetch(hl_aws_creds_provider *p) {
  transition(p, HL_FETCH_FETCHING);
  p->easy = curl_easy_init();
  curl_easy_setopt(p->easy, CURLOPT_URL, p->url);
  curl_easy_setopt(p->easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(p->easy, CURLOPT_TIMEOUT_MS, FETCH_TIMEOUT_MS);
  curl_easy_setopt(p->easy, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(p->easy, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(p->easy, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(p->easy, CURLOPT_WRITEDATA, p);
  /* The token file is re-read every time: EKS rotates it. */
  char *token = p->auth_token_file ? read_token_file(p->auth_token_file) : NULL;
  const char *t = token ? token : p->auth_token;
  if (t && *t) {
    hl_buf h = HL_BUF_INIT;
    hl_buf_puts(&h, "Authorization: ");
    hl_buf_puts(&h, t);
    hl_buf_putc(&h, '\0');
    p->headers = curl_slist_append(p->headers, h.data);
    explicit_bzero(h.data, h.len);
    hl_buf_dispose(&h);
  }
  wipe_free(&token);
  p->headers = curl_slist_append(p->headers, "Accept: application/json");
  curl_easy_setopt(p->easy, CURLOPT_HTTPHEADER, p->headers);
  if (hl_curl_uv_add(p->curl, &p->xfer, p->easy, on_fetch_done) != 0) {
    fetch_cleanup(p);
    transition(p, HL_FETCH_IDLE);
    schedule_refresh(p, REFRESH_RETRY_MS);
    notify(p, HL_EIO);
  }
}

void hl_aws_creds_wait(hl_aws_creds_provider *p, hl_creds_waiter *w) {
  w->next = p->waiters;
  p->waiters = w;
  if (p->state == HL_FETCH_IDLE && p->source == HL_CREDS_CONTAINER) {
    start_fetch(p);
  } else if (p->state == HL_FETCH_IDLE) {
    /* Static keys are always there (or never): answer on the next turn. */
    uv_timer_start(&p->refresh, on_refresh_timer, 0, 0);
  }
}

void hl_aws_creds_unwait(hl_aws_creds_provider *p, hl_creds_waiter *w) {
  for (hl_creds_waiter **pp = &p->waiters; *pp; pp = &(*pp)->next)
    if (*pp == w) {
      *pp = w->next;
      w->next = NULL;
      return;
    }
}

void hl_aws_creds_invalidate(hl_aws_creds_provider *p) {
  if (p->source != HL_CREDS_CONTAINER) return;
  p->valid = false;
}

static void on_closed(uv_handle_t *h) {
  hl_aws_creds_provider *p = hl_container_of((uv_timer_t *)h, hl_aws_creds_provider, refresh);
  wipe_free(&p->akid);
  wipe_free(&p->secret);
  wipe_free(&p->token);
  wipe_free(&p->auth_token);
  hl_free(p->auth_token_file);
  hl_free(p->url);
  if (p->close_cb) p->close_cb(p->close_data);
}

void hl_aws_creds_close(hl_aws_creds_provider *p, void (*cb)(void *data), void *data) {
  if (p->state == HL_FETCH_FETCHING) {
    hl_curl_uv_cancel(p->curl, &p->xfer);
    fetch_cleanup(p);
  }
  transition(p, HL_FETCH_CLOSED);
  notify(p, HL_ECLOSED);
  p->close_cb = cb;
  p->close_data = data;
  uv_close((uv_handle_t *)&p->refresh, on_closed);
}
