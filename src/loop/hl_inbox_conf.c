#include "loop/hl_inbox_conf.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hl_common.h"
#include "crypto/hl_jwt.h"
#include "json/hl_json.h"
#include "loop/hl_inbox_wire.h"
#include "crypto/hl_webhook_sig.h"

const char *hl_inbox_lookup_env(void *data, const char *name) {
  (void)data;
  const char *v = getenv(name);
  return v && *v ? v : NULL;
}

/* A path setting: starts with '/', no whitespace or control characters,
 * no '#' (a fragment would cut off what follows: the inbox's query, the
 * rest of the ack path). */
static int path_setting(char **out, hl_inbox_lookup_fn lookup, void *data, const char *name, const char *dflt,
                        char *err, size_t errlen) {
  const char *v = lookup(data, name);
  if (!v) v = dflt;
  if (*v != '/') {
    snprintf(err, errlen, "%s: must start with '/'", name);
    return HL_EINVAL;
  }
  for (const char *p = v; *p; p++)
    if ((unsigned char)*p <= 0x20 || *p == 0x7f || *p == '#') {
      snprintf(err, errlen, "%s: must not hold spaces, control characters or '#'", name);
      return HL_EINVAL;
    }
  *out = hl_strdup(v);
  return 0;
}

/* A setting that is ASCII digits alone -> *n. strtol alone would take
 * blanks and a '+' before them, and a number past its range as LONG_MAX. */
static bool whole_number(const char *v, long *n) {
  size_t len = strspn(v, "0123456789");
  if (len == 0 || v[len] != '\0') return false;
  errno = 0;
  *n = strtol(v, NULL, 10);
  return errno != ERANGE;
}

/* A whole number of seconds 1..86400, or dflt when unset. */
static int seconds_setting(unsigned *out, hl_inbox_lookup_fn lookup, void *data, const char *name, unsigned dflt,
                           char *err, size_t errlen) {
  const char *v = lookup(data, name);
  *out = dflt;
  if (!v) return 0;
  long n;
  if (!whole_number(v, &n) || n < 1 || n > 86400) {
    snprintf(err, errlen, "%s: must be a whole number of seconds 1..86400", name);
    return HL_EINVAL;
  }
  *out = (unsigned)n;
  return 0;
}

/* API_BASE_URL: http(s)://host[:port][/prefix]. The three paths are
 * appended to it, so a query or a fragment in it would swallow them (the
 * inbox path landing in the query string, or cut off with the fragment:
 * every request then went to the base itself); blanks and control
 * characters are in no URL. */
static bool base_url_ok(const char *v) {
  if (!v || !hl_inbox_is_http_url(v)) return false;
  for (const unsigned char *p = (const unsigned char *)v; *p; p++)
    if (*p <= 0x20 || *p == 0x7f || *p == '?' || *p == '#') return false;
  return true;
}

int hl_inbox_settings_load(hl_inbox_settings *s, hl_inbox_lookup_fn lookup, void *data, char *err, size_t errlen) {
  memset(s, 0, sizeof *s);
  s->max_events = HL_INBOX_MAX_EVENTS_DEFAULT;
  const char *v = lookup(data, "API_BASE_URL");
  if (!base_url_ok(v)) {
    snprintf(err, errlen, "API_BASE_URL: must be an http:// or https:// URL, host[:port][/prefix], without a query, "
                          "fragment or blanks");
    return HL_EINVAL;
  }
  s->api_base_url = hl_strdup(v);
  v = lookup(data, "SECRET_ARN");
  if (!v) {
    snprintf(err, errlen, "SECRET_ARN: required (the secret with zapier_api_key, zapier_webhook_url, jwt_secret)");
    return HL_EINVAL;
  }
  s->secret_arn = hl_strdup(v);
  if ((v = lookup(data, "MAX_EVENTS_PER_RUN"))) {
    long n;
    if (!whole_number(v, &n) || n < 1 || n > HL_INBOX_MAX_EVENTS_LIMIT) {
      snprintf(err, errlen, "MAX_EVENTS_PER_RUN: must be an integer 1..%d", HL_INBOX_MAX_EVENTS_LIMIT);
      return HL_EINVAL;
    }
    s->max_events = (unsigned)n;
  }
  if ((v = lookup(data, "INBOX_AUTH"))) {
    if (strcmp(v, "token") == 0) s->auth = HL_INBOX_AUTH_TOKEN;
    else if (strcmp(v, "jwt") == 0) s->auth = HL_INBOX_AUTH_JWT;
    else {
      snprintf(err, errlen, "INBOX_AUTH: must be token or jwt");
      return HL_EINVAL;
    }
  }
  int rc = path_setting(&s->token_path, lookup, data, "INBOX_TOKEN_PATH", "/auth/token", err, errlen);
  if (rc == 0) rc = path_setting(&s->inbox_path, lookup, data, "INBOX_PATH", "/inbox", err, errlen);
  if (rc == 0) rc = path_setting(&s->ack_path, lookup, data, "INBOX_ACK_PATH", "/inbox/{id}/ack", err, errlen);
  if (rc == 0 && !strstr(s->ack_path, "{id}")) {
    snprintf(err, errlen, "INBOX_ACK_PATH: must hold {id}, where the event id goes");
    rc = HL_EINVAL;
  }
  if (rc == 0)
    rc = seconds_setting(&s->poll_interval_s, lookup, data, "INBOX_POLL_INTERVAL_S", HL_INBOX_POLL_DEFAULT_S, err,
                         errlen);
  if (rc == 0)
    rc = seconds_setting(&s->secret_ttl_s, lookup, data, "INBOX_SECRET_TTL_S", HL_INBOX_SECRET_TTL_DEFAULT_S, err,
                         errlen);
  /* Its grammar and the 60 s cap are checked where schedules are known
   * (handlers/hl_inbox), which names this variable too. */
  if (rc == 0) {
    const char *r = lookup(data, "INBOX_RETRY_SCHEDULE");
    s->retry_schedule = hl_strdup(r ? r : HL_INBOX_RETRY_DEFAULT);
  }
  return rc;
}

void hl_inbox_settings_dispose(hl_inbox_settings *s) {
  hl_free_all(s->api_base_url, s->secret_arn, s->token_path, s->inbox_path, s->ack_path, s->retry_schedule);
  memset(s, 0, sizeof *s);
}

/* A member that is absent or a non-empty string; *out gets a copy. */
static int string_member(const hl_json *root, const char *name, char **out, char *err, size_t errlen) {
  const hl_json *v = hl_json_get(root, name);
  if (!v || v->type == HL_JSON_NULL) return 0;
  if (v->type != HL_JSON_STRING || v->len == 0 || memchr(v->u.str, '\0', v->len)) {
    snprintf(err, errlen, "/%s: must be a non-empty string", name);
    return HL_EPARSE;
  }
  *out = hl_strndup(v->u.str, v->len);
  return 0;
}

int hl_inbox_secret_parse(hl_inbox_secret *s, const char *text, size_t len, hl_inbox_auth auth, char *err,
                          size_t errlen) {
  memset(s, 0, sizeof *s);
  hl_json_doc doc;
  hl_json_doc_init(&doc);
  int rc = 0;
  if (hl_json_parse(&doc, text ? text : "", len, NULL) != 0 || doc.root->type != HL_JSON_OBJECT) {
    snprintf(err, errlen, "the secret is not a JSON object");
    rc = HL_EPARSE;
  }
  if (rc == 0) rc = string_member(doc.root, "zapier_api_key", &s->api_key, err, errlen);
  if (rc == 0) rc = string_member(doc.root, "zapier_webhook_url", &s->webhook_url, err, errlen);
  if (rc == 0) rc = string_member(doc.root, "jwt_secret", &s->jwt_secret, err, errlen);
  if (rc == 0) rc = string_member(doc.root, "webhook_secret", &s->webhook_secret, err, errlen);
  if (rc == 0 && s->webhook_secret && hl_webhook_secret_check_list(s->webhook_secret) != 0) {
    snprintf(err, errlen, "/webhook_secret: must be \"whsec_\" followed by base64");
    rc = HL_EINVAL;
  }
  if (rc == 0 && (!s->webhook_url || !hl_inbox_is_http_url(s->webhook_url))) {
    snprintf(err, errlen, "/zapier_webhook_url: required, an http:// or https:// URL");
    rc = HL_EINVAL;
  }
  if (rc == 0 && auth == HL_INBOX_AUTH_TOKEN && !s->api_key) {
    snprintf(err, errlen, "/zapier_api_key: required with INBOX_AUTH=token");
    rc = HL_EINVAL;
  }
  if (rc == 0 && auth == HL_INBOX_AUTH_JWT && (!s->jwt_secret || strlen(s->jwt_secret) < HL_JWT_KEY_MIN)) {
    snprintf(err, errlen, "/jwt_secret: required with INBOX_AUTH=jwt, at least %d bytes (RFC 7518 3.2)",
             HL_JWT_KEY_MIN);
    rc = HL_EINVAL;
  }
  hl_json_doc_wipe(&doc);
  hl_json_doc_dispose(&doc);
  return rc;
}

static void wipe_free(char **p) {
  if (*p) explicit_bzero(*p, strlen(*p));
  hl_free(*p);
  *p = NULL;
}

void hl_inbox_secret_dispose(hl_inbox_secret *s) {
  wipe_free(&s->api_key);
  wipe_free(&s->webhook_url);
  wipe_free(&s->jwt_secret);
  wipe_free(&s->webhook_secret);
}
