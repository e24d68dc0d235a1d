#include "aws/hl_secrets.h"

#include <stdio.h>
#include <string.h>

#include "aws/hl_aws_endpoint.h"
#include "common/hl_buf.h"
#include "common/hl_common.h"
#include "common/hl_log.h"
#include "common/hl_sm.h"
#include "crypto/hl_webhook_sig.h"
#include "json/hl_json.h"

#define TARGET "secretsmanager.GetSecretValue"
#define RETRY_MS 5000 /* after a read that failed every attempt */
#define ATTEMPTS 3    /* per read: a start that cannot read its secret should say so soon */

static const hl_aws_json_service SECRETS_MANAGER = {"secretsmanager", "application/x-amz-json-1.1", &hl_aws_protocol_json};

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
  char *region = cfg->region && *cfg->region ? hl_strdup(cfg->region) : region_of_arn(cfg->secret_id);
  const char *var = cfg->var ? cfg->var : "WEBHOOK_SECRET_ARN";
  if (!region) {
    snprintf(err, errlen, "%s is not an ARN with a region and AWS_REGION is not set", var);
    return HL_EINVAL;
  }
  hl_buf u = HL_BUF_INIT;
  if (cfg->endpoint && *cfg->endpoint) {
    hl_buf_puts(&u, cfg->endpoint);
  } else if (hl_aws_endpoint_default(HL_AWS_SECRETS_MANAGER, region, &u) != 0) {
    snprintf(err, errlen, "the region '%s' of %s or AWS_REGION is not a region name", region, var);
    hl_free(region);
    return HL_EINVAL;
  }
  hl_buf_putc(&u, '\0');
  int rc = hl_aws_creds_init(&s->creds, loop, curl, &cfg->creds, err, errlen);
  if (rc == 0) {
    hl_aws_json_opts o = {.svc = SECRETS_MANAGER, .endpoint = u.data, .region = region, .sensitive = true,
                          .max_attempts = ATTEMPTS};
    rc = hl_aws_json_init(&s->client, loop, curl, &s->creds, &o, "the Secrets Manager endpoint", err, errlen);
  }
  hl_buf_dispose(&u);
  hl_free(region);
  if (rc != 0) {
    /* The provider's timer is open; closing it is enough. */
    hl_aws_creds_close(&s->creds, NULL, NULL);
    return rc;
  }
  s->secret_id = hl_strdup(cfg->secret_id);
  s->refresh_ms = cfg->refresh_ms;
  s->raw = cfg->raw;
  s->what = cfg->what ? cfg->what : "the default webhook secret";
  s->json_member = cfg->json_member ? hl_strdup(cfg->json_member) : NULL;
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

/* The one place the reader changes state; illegal moves are bugs. */
static void transition(hl_secrets *s, hl_fetch_state to) {
  hl_fetch_transition("secrets reader", &s->state, to);
}

/* Ends a read: schedules the next one and reports the first. */
static void read_done(hl_secrets *s, int status, const char *why) {
  if (s->state == HL_FETCH_CLOSED) return; /* a read canceled by the close */
  transition(s, HL_FETCH_IDLE);
  if (status == 0) {
    if (s->refresh_ms) uv_timer_start(&s->timer, on_timer, s->refresh_ms, 0);
  } else {
    hl_log_warn("could not read a secret", "\"secret\":\"%s\",\"error\":\"%s\"", s->what, why);
    uv_timer_start(&s->timer, on_timer, RETRY_MS, 0);
  }
  first_done(s, status, why);
}

/* The secret out of a GetSecretValue answer, or NULL with why. */
static char *secret_of(const hl_json *root, bool raw, const char *member, const char **why) {
  if (raw) {
    const char *v = root ? hl_json_str(hl_json_get(root, "SecretString")) : NULL;
    *why = v ? NULL : "the secret has no SecretString (binary secrets are not supported)";
    return v ? hl_strdup(v) : NULL;
  }
  hl_json_doc inner;
  hl_json_doc_init(&inner);
  char *out = NULL;
  *why = "the answer is not JSON";
  if (root) {
    const hl_json *ss = hl_json_get(root, "SecretString");
    const char *v = hl_json_str(ss);
    *why = "the secret has no SecretString (binary secrets are not supported)";
    if (v && v[0] == '{' && member) {
      *why = "the SecretString is a JSON object without the string member the setting names";
      if (hl_json_parse(&inner, v, ss->len, NULL) == 0) v = hl_json_str(hl_json_get(inner.root, member));
      else v = NULL;
    } else if (v && v[0] == '{') {
      *why = "the SecretString is a JSON object without a \"webhook_secret\" or \"secret\" string";
      if (hl_json_parse(&inner, v, ss->len, NULL) == 0) {
        const char *w = hl_json_str(hl_json_get(inner.root, "webhook_secret"));
        v = w ? w : hl_json_str(hl_json_get(inner.root, "secret"));
      } else {
        v = NULL;
      }
    }
    if (v && !member && hl_webhook_secret_check_list(v) != 0) {
      *why = "the secret is not \"whsec_\" followed by base64";
    } else if (v) {
      out = hl_strdup(v);
      *why = NULL;
    }
  }
  hl_json_doc_wipe(&inner);
  hl_json_doc_dispose(&inner);
  return out;
}

static void on_answer(void *data, const hl_aws_status *st, const hl_json *resp) {
  hl_secrets *s = data;
  const char *why = NULL;
  char buf[400];
  char *v = NULL;
  if (st->outcome == HL_AWS_OK) {
    v = secret_of(resp, s->raw, s->json_member, &why);
  } else if (st->http_status) {
    snprintf(buf, sizeof buf,
             "Secrets Manager answered HTTP %d %s (check the ARN and secretsmanager:GetSecretValue)",
             st->http_status, st->code);
    why = buf;
  } else {
    snprintf(buf, sizeof buf, "%s", st->message);
    why = buf;
  }
  if (v) {
    wipe_str(&s->value);
    s->value = v;
  }
  read_done(s, v ? 0 : HL_EIO, why);
}

static void fetch(hl_secrets *s) {
  if (s->state != HL_FETCH_IDLE) return;
  transition(s, HL_FETCH_FETCHING);
  hl_buf body = HL_BUF_INIT;
  hl_jw w;
  hl_jw_open(&w, &body);
  hl_jw_key(&w, "SecretId");
  hl_jw_str(&w, s->secret_id);
  hl_jw_obj_end(&w);
  hl_aws_json_call(&s->client, TARGET, &body, NULL, on_answer, s);
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
  hl_free(s->json_member);
  if (s->close_cb) s->close_cb(s->close_data);
}

static void on_timer_closed(uv_handle_t *h) { closed_one(hl_container_of((uv_timer_t *)h, hl_secrets, timer)); }

/* The credentials go last: nothing may wait on them once they close. */
static void on_client_closed(void *data) {
  hl_secrets *s = data;
  hl_aws_creds_close(&s->creds, closed_one, s);
}

void hl_secrets_close(hl_secrets *s, void (*cb)(void *data), void *data) {
  transition(s, HL_FETCH_CLOSED);
  s->first_cb = NULL;
  s->close_cb = cb;
  s->close_data = data;
  s->closing_handles = 2;
  /* A read in flight is not waited for: shutting down must not hang on
   * the network. Its callback sees the closed state and does nothing. */
  hl_aws_json_cancel_all(&s->client);
  uv_close((uv_handle_t *)&s->timer, on_timer_closed);
  hl_aws_json_close(&s->client, on_client_closed, s);
}
