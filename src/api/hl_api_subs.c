/* hl_api_subs.c — the admin API's subscriptions: registered (validated,
 * with their filters, headers, retry schedules, destinations and signing),
 * listed, read and deleted, each answer without credentials and with the
 * subscription's state; the stored ones put into the registry at start and
 * on every configuration TTL (hl_api_load.c calls hl_api_subs_loaded). The
 * parts a registration names have files of their own (hl_api_signing.c,
 * hl_api_ordering.c, hl_api_client_cert.c, hl_api_partners.c), which this
 * one calls. Routed by hl_api.c. */
#include "api/hl_api.h"
#include "api/hl_api_int.h"
#include "api/hl_api_respond.h"
#include "common/hl_redact.h"
#include "common/hl_common.h"
#include "common/hl_log.h"
#include "loop/hl_target_url.h"
#include "model/hl_destination.h"
#include "model/hl_sub_enrich.h"
#include "model/hl_filter.h"
#include "model/hl_retry.h"
#include "model/hl_sub_secrets.h"
#include "model/hl_topic.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* --- subscriptions ------------------------------------------------------------------ */

typedef struct {
  hl_api *a;
  hl_http_req *req;
  hl_sub_rec rec;
  hl_filter *filter;
  struct curl_slist *headers;
  hl_retry_schedule *schedule;
  bool secret_new;        /* the answer carries the secret (created or given now) */
  int http_status;
} sub_put_ctx;

/* Shown instead of a credential: the subscription's answers carry no secret.
 * The signing secret is shown only once, when created; URL credentials
 * (http://user:pass@host) and the values of the subscription's own headers
 * (often a partner's API key) never. */
#define REDACTED HL_REDACTED

/* The URL with its userinfo, up to the last '@' of the authority, replaced. */
static void write_url_redacted(hl_jw *w, const char *url) {
  hl_buf b = HL_BUF_INIT;
  hl_redact_url(&b, url);
  hl_jw_strn(w, b.data, b.len);
  hl_buf_dispose(&b);
}

/* The header names, each with a redacted value. */
static void write_headers_redacted(hl_jw *w, const char *headers_json) {
  hl_json_doc d;
  hl_json_doc_init(&d);
  if (!headers_json || hl_json_parse(&d, headers_json, strlen(headers_json), NULL) != 0 ||
      d.root->type != HL_JSON_OBJECT) {
    hl_jw_null(w);
  } else {
    hl_jw_obj_begin(w);
    for (uint32_t i = 0; i < d.root->len; i++) {
      hl_jw_keyn(w, d.root->u.members[i].key, d.root->u.members[i].key_len);
      hl_jw_str(w, REDACTED);
    }
    hl_jw_obj_end(w);
  }
  hl_json_doc_dispose(&d);
}

void hl_api_write_sub_state(hl_jw *w, const hl_sub *s) {
  hl_jw_key(w, "breaker");
  hl_jw_obj_begin(w);
  hl_jw_key(w, "state"); hl_jw_str(w, hl_gate_state_name(s->gate->state));
  hl_jw_key(w, "consecutive_failures"); hl_jw_int(w, s->gate->streak);
  hl_jw_obj_end(w);
  /* Its destination host's breaker and concurrency, shared with the
   * other subscriptions delivering there (null: not yet reached). */
  hl_host *host = hl_dispatch_sub_host(s);
  hl_jw_key(w, "destination_host");
  if (!host) {
    hl_jw_null(w);
    return;
  }
  hl_jw_obj_begin(w);
  hl_host_write(w, host, hl_mono_ms());
  hl_jw_obj_end(w);
}

void hl_api_write_sub(hl_jw *w, const hl_sub *s) {
  const hl_sub_rec *r = &s->rec;
  hl_jw_obj_begin(w);
  hl_jw_key(w, "subscription_id"); hl_jw_str(w, r->subscription_id);
  hl_jw_key(w, "partner_id"); hl_jw_str(w, r->partner_id);
  hl_jw_key(w, "event_type"); hl_jw_str(w, r->event_type);
  hl_jw_key(w, "url");
  if (r->url) write_url_redacted(w, r->url); else hl_jw_null(w);
  hl_jw_key(w, "destination");
  if (r->destination_json) hl_jw_raw(w, r->destination_json, strlen(r->destination_json)); else hl_jw_null(w);
  hl_jw_key(w, "headers"); write_headers_redacted(w, r->headers_json);
  hl_jw_key(w, "filter");
  if (r->filter_json) hl_jw_raw(w, r->filter_json, strlen(r->filter_json)); else hl_jw_null(w);
  hl_jw_key(w, "max_in_flight"); hl_jw_int(w, r->max_in_flight);
  hl_jw_key(w, "rate_limit_per_s"); hl_jw_int(w, r->rate_limit_per_s);
  hl_jw_key(w, "timeout_ms"); hl_jw_int(w, r->timeout_ms);
  hl_jw_key(w, "retry_schedule");
  if (r->retry_schedule) hl_jw_str(w, r->retry_schedule); else hl_jw_null(w);
  hl_jw_key(w, "egress_topic"); hl_jw_str(w, r->egress_topic);
  hl_jw_key(w, "status"); hl_jw_str(w, r->status);
  hl_jw_key(w, "created_at"); hl_jw_int(w, r->created_at);
  hl_jw_key(w, "enrichment"); hl_sub_enrich_write(w, r);
  if (r->secret) { hl_jw_key(w, "secrets"); hl_sub_secrets_describe(r->secret, hl_wall_ms() / 1000, w); }
  hl_api_write_signing(w, r);
  hl_api_write_client_cert(w, r);
  hl_api_write_ordering(w, r);
  hl_api_write_sub_state(w, s);
  hl_jw_obj_end(w); /* the secret is never shown after creation */
}

static void on_sub_put(void *data, int status, hl_store_result *res) {
  sub_put_ctx *c = data;
  (void)res;
  c->a->pending--;
  if (status != 0) {
    if (status == HL_ECONFLICT) hl_api_respond_sub_changed(c->req);
    else hl_api_respond_store_error(c->req, status);
    hl_sub_rec_free(&c->rec);
    if (c->filter) hl_filter_free(c->filter);
    if (c->schedule) hl_retry_schedule_free(c->schedule);
    curl_slist_free_all(c->headers);
    hl_free(c);
    return;
  }
  hl_buf b = HL_BUF_INIT;
  hl_jw w;
  hl_jw_open(&w, &b);
  hl_jw_key(&w, "subscription_id"); hl_jw_str(&w, c->rec.subscription_id);
  hl_jw_key(&w, "egress_topic"); hl_jw_str(&w, c->rec.egress_topic);
  if (c->secret_new) { hl_jw_key(&w, "secret"); hl_jw_str(&w, c->rec.secret); }
  if (!c->rec.secret) { hl_jw_key(&w, "secret_source"); hl_jw_str(&w, "WEBHOOK_SECRET_ARN"); }
  hl_api_write_signing(&w, &c->rec);
  hl_api_write_ordering(&w, &c->rec);
  hl_jw_obj_end(&w);
  hl_log_info("subscription registered", "\"subscription_id\":\"%s\",\"partner_id\":\"%s\",\"event_type\":\"%s\"",
              c->rec.subscription_id, hl_log_esc(c->rec.partner_id, (size_t)-1), c->rec.event_type);
  /* The registry tells the dispatcher: the old one's deliveries go back to
   * the queue, and a replacement with the same id claims them again with
   * the new settings. */
  hl_sub *s = hl_registry_put_sub(c->a->reg, &c->rec, c->filter, c->headers, c->schedule);
  hl_api_topic_registered(c->a, s->rec.egress_topic, s->rec.event_type);
  hl_api_respond_buf(c->req, c->http_status, &b);
  hl_free(c);
}

/* Headers a subscription may not set: ours (the trace context's too: a
 * second traceparent makes the partner's trace invalid, W3C Trace Context
 * section 3.2), and those that break HTTP framing. */
static bool header_reserved(const char *name) {
  static const char *reserved[] = {"content-type", "content-length", "host",        "transfer-encoding",
                                   "connection",   "user-agent",     "expect",      "te",
                                   "upgrade",      "traceparent",    "x-amzn-trace-id"};
  if (strncasecmp(name, "webhook-", 8) == 0) return true;
  for (size_t i = 0; i < HL_ARRAY_SIZE(reserved); i++)
    if (strcasecmp(name, reserved[i]) == 0) return true;
  return false;
}

/* A header value is a line of visible text, spaces and tabs (RFC 9110
 * section 5.5): a control character makes many partners' parsers refuse
 * the whole request (400), failing every delivery for good. */
static bool header_value_ok(const char *v, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (((unsigned char)v[i] < 0x20 && v[i] != '\t') || v[i] == 0x7f) return false;
  return true;
}

static bool token_char(char c) {
  return c != '\0' && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("!#$%&'*+-.^_`|~", c));
}

/* A subscription's own header as a line for curl. curl does not send a
 * "name:" with nothing after it (that form removes a header), so a blank
 * value is given as "name;", which curl sends as "name:". */
static struct curl_slist *header_line_append(struct curl_slist *h, const char *name, const char *value) {
  hl_buf line = HL_BUF_INIT;
  if (value[strspn(value, " \t")] == '\0') hl_buf_printf(&line, "%s;", name);
  else hl_buf_printf(&line, "%s: %s", name, value);
  h = curl_slist_append(h, line.data);
  hl_buf_dispose(&line);
  return h;
}

/* HOOKLOOP_REQUIRE_HTTPS: a URL that hl_target_url_problem passed is http:// or
 * https://; the first would carry the signed body and any credentials in
 * clear text. */
static const char *https_problem(const hl_api *a, const char *url) {
  if (!a->opt.require_https || strncasecmp(url, "http:", 5) != 0) return NULL;
  return "only https:// URLs are accepted (HOOKLOOP_REQUIRE_HTTPS=1)";
}

/* Where deliveries go: "url" (HTTP) or "destination" (SNS, SQS,
 * EventBridge; model/hl_destination.h), exactly one of them. Sets rec->url
 * or rec->destination_json; false once a 400 is answered. */
static bool sub_target_parse(hl_api *a, hl_http_req *req, const hl_json *root, hl_sub_rec *rec) {
  const hl_json *dv = hl_json_get(root, "destination");
  const char *url = hl_api_get_str(root, "url");
  if (dv && dv->type != HL_JSON_NULL) {
    if (hl_json_get(root, "url") && hl_json_get(root, "url")->type != HL_JSON_NULL) {
      hl_api_respond_field_error(req, "/url", "give either url (HTTP) or destination, not both");
      return false;
    }
    hl_destination *d = NULL;
    char rel[160], ptr[200], why[300];
    if (hl_destination_parse(dv, &d, rel, sizeof rel, why, sizeof why) != 0) {
      snprintf(ptr, sizeof ptr, "/destination%s", rel);
      hl_api_respond_field_error(req, ptr, why);
      return false;
    }
    hl_buf b = HL_BUF_INIT;
    hl_jw w;
    hl_jw_init(&w, &b);
    hl_destination_write(&w, d);
    hl_destination_free(d);
    rec->destination_json = hl_buf_steal(&b, NULL);
    return true;
  }
  if (!url) {
    hl_api_respond_field_error(req, "/url", "required: the partner's http(s) URL (or a destination object)");
    return false;
  }
  char why[256];
  const char *problem = hl_target_url_problem(url, a->opt.allow_private_targets, why, sizeof why);
  if (!problem) problem = https_problem(a, url);
  if (problem) {
    hl_api_respond_field_error(req, "/url", problem);
    return false;
  }
  rec->url = hl_strdup(url);
  return true;
}

/* prefix + name escaped as a JSON pointer token (~0, ~1), cut to fit. */
static void json_pointer_of(const char *prefix, const char *name, size_t len, char *out, size_t cap) {
  hl_buf b = HL_BUF_INIT;
  hl_buf_puts(&b, prefix);
  for (size_t i = 0; i < len; i++) {
    if (name[i] == '~') hl_buf_puts(&b, "~0");
    else if (name[i] == '/') hl_buf_puts(&b, "~1");
    else hl_buf_putc(&b, name[i]);
  }
  snprintf(out, cap, "%s", b.data);
  hl_buf_dispose(&b);
}

/* The subscription registered for this partner and event type (a new
 * registration of the pair updates it in place), or NULL. */
static const hl_sub_rec *sub_registered(const hl_api *a, const char *partner, const char *type) {
  const hl_sub_list *l = hl_registry_subs_for_type(a->reg, type);
  for (size_t i = 0; i < l->n; i++)
    if (strcmp(l->items[i]->rec.partner_id, partner) == 0) return &l->items[i]->rec;
  return NULL;
}

void hl_api_post_subscription(hl_api *a, hl_http_req *req) {
  hl_json_doc doc;
  if (!hl_api_parse_body(req, &doc)) return;
  const hl_json *root = doc.root;
  sub_put_ctx *c = NULL;
  hl_buf err = HL_BUF_INIT, topic = HL_BUF_INIT;
  if (root->type != HL_JSON_OBJECT) { hl_api_respond_field_error(req, "", "expected a JSON object"); goto done; }
  const char *partner = hl_api_get_str(root, "partner_id"), *type = hl_api_get_str(root, "event_type");
  if (!hl_api_name_ok(partner, 128)) { hl_api_respond_field_error(req, "/partner_id", "required: letters, digits, '.', '_' or '-' (at most 128)"); goto done; }
  if (!hl_api_name_ok(type, 128)) { hl_api_respond_field_error(req, "/event_type", "required: letters, digits, '.', '_' or '-' (at most 128)"); goto done; }
  bool known = false;
  {
    size_t it = 0;
    void *v;
    while (!known && hl_strmap_next(&a->reg->schemas_by_id, &it, NULL, &v))
      known = strcmp(((hl_schema_entry *)v)->rec.event_type, type) == 0;
  }
  known = known || strcmp(type, HL_EVENT_SUBSCRIPTION_DISABLED) == 0; /* built in */
  if (!known) {
    hl_api_respond_error_at(req, 400, "unknown_event_type",
                            "no schema is registered for this event_type; register one with POST /admin/schemas first",
                            "/event_type", "no schema is registered for this event type");
    goto done;
  }
  hl_topic_egress(&topic, a->opt.egress_prefix, partner, type);
  if (!hl_topic_name_ok(topic.data, topic.len)) {
    hl_buf_printf(&err, "the egress topic %s.<partner_id>.<event_type> would be %zu characters; Kafka allows %d: "
                  "shorten /partner_id", a->opt.egress_prefix, topic.len, HL_TOPIC_MAX);
    hl_api_respond_field_error(req, "/partner_id", err.data);
    goto done;
  }
  c = hl_calloc(1, sizeof *c);
  c->a = a;
  c->req = req;
  c->http_status = 201;
  if (!sub_target_parse(a, req, root, &c->rec) || !hl_api_client_cert_parse(req, root, &c->rec)) goto done;
  {
    char ptr[200], why[200];
    if (hl_sub_enrich_parse(hl_json_get(root, "enrichment"), &c->rec.enrichment_on_failure, ptr, sizeof ptr, why,
                            sizeof why) != 0) {
      hl_api_respond_field_error(req, ptr, why);
      goto done;
    }
  }
  if (!hl_api_sub_ordering_parse(a, req, root, &c->rec)) goto done;
  const hl_json *v;
  const hl_sub_rec *registered = sub_registered(a, partner, type);
  int signing = hl_api_sub_signing_parse(req, root, registered, &c->rec);
  if (signing < 0) goto done;
  if (signing > 0) {
    /* ed25519: the key list is set; it is never shown. */
  } else if ((v = hl_json_get(root, "secret")) != NULL) {
    const char *sec = hl_json_str(v);
    if (!sec || hl_webhook_secret_check_list(sec) != 0) {
      hl_api_respond_field_error(req, "/secret", "expected \"whsec_\" followed by base64 (several separated by spaces while rotating)");
      goto done;
    }
    c->rec.secret = hl_strdup(sec);
    c->secret_new = true;
  } else if (registered && registered->secret && !hl_sub_rec_signs_ed25519(registered)) {
    /* Registered again (an update in place) without a secret: the partner
     * still verifies with the HMAC secret it holds, rotations in progress
     * included. POST .../secret/rotate is the way to a new one. */
    c->rec.secret = hl_strdup(registered->secret);
  } else if (a->opt.default_secret) {
    /* Signed with the default secret (WEBHOOK_SECRET_ARN), read where it
     * is used, so its rotation needs no re-registration. */
    c->rec.secret = NULL;
  } else {
    c->rec.secret = hl_webhook_secret_generate();
    c->secret_new = true;
  }
  if ((v = hl_json_get(root, "headers")) != NULL && v->type != HL_JSON_NULL) {
    if (v->type != HL_JSON_OBJECT) { hl_api_respond_field_error(req, "/headers", "expected an object of header name to string value"); goto done; }
    for (uint32_t i = 0; i < v->len; i++) {
      const hl_json_member *m = &v->u.members[i];
      char ptr[300];
      json_pointer_of("/headers/", m->key, m->key_len, ptr, sizeof ptr);
      bool ok = m->key_len > 0 && m->key_len < 100;
      for (uint32_t k = 0; ok && k < m->key_len; k++) ok = token_char(m->key[k]);
      if (!ok) { hl_api_respond_field_error(req, ptr, "not a valid header name"); goto done; }
      if (header_reserved(m->key)) { hl_api_respond_field_error(req, ptr, "this header is set by hookloop and cannot be overridden"); goto done; }
      if (m->value.type != HL_JSON_STRING || !header_value_ok(m->value.u.str, m->value.len)) {
        hl_api_respond_field_error(req, ptr, "expected a string without line breaks or control characters");
        goto done;
      }
      c->headers = header_line_append(c->headers, m->key, m->value.u.str);
    }
    hl_buf hj = HL_BUF_INIT;
    hl_jw w;
    hl_jw_init(&w, &hj);
    hl_jw_value(&w, v);
    c->rec.headers_json = hl_buf_steal(&hj, NULL);
  }
  if ((v = hl_json_get(root, "filter")) != NULL && v->type != HL_JSON_NULL) {
    size_t plen = 0;
    if (hl_filter_compile_at(v, &c->filter, &err, &plen) != 0) {
      /* err is "<pointer into the filter>: <problem>" (plen bytes of
       * pointer): the detail names the member under /filter. */
      hl_buf at = HL_BUF_INIT;
      hl_buf_puts(&at, "/filter");
      hl_buf_append(&at, err.data, plen);
      hl_api_respond_error_at(req, 400, "invalid_filter", err.data, at.data, err.data + plen + 2);
      hl_buf_dispose(&at);
      goto done;
    }
    hl_buf fj = HL_BUF_INIT;
    hl_jw w;
    hl_jw_init(&w, &fj);
    hl_jw_value(&w, v);
    c->rec.filter_json = hl_buf_steal(&fj, NULL);
  }
  struct { const char *key; int64_t *dst; int64_t min, max, def; } nums[] = {
    {"max_in_flight", &c->rec.max_in_flight, 1, 100000, 256},
    {"rate_limit_per_s", &c->rec.rate_limit_per_s, 0, 1000000, 0},
    {"timeout_ms", &c->rec.timeout_ms, 100, 300000, 30000},
  };
  for (size_t i = 0; i < HL_ARRAY_SIZE(nums); i++) {
    *nums[i].dst = nums[i].def;
    if (!hl_api_int_member(req, root, nums[i].key, nums[i].min, nums[i].max, nums[i].dst)) goto done;
  }
  if ((v = hl_json_get(root, "retry_schedule")) != NULL && v->type != HL_JSON_NULL) {
    const char *rs = hl_json_str(v);
    if (!rs || hl_retry_schedule_parse(rs, &c->schedule, &err) != 0) {
      hl_api_respond_field_error(req, "/retry_schedule", err.data ? err.data : "expected a list like \"1s,5s,30s,2m\"");
      goto done;
    }
    c->rec.retry_schedule = hl_strdup(rs);
  }
  c->rec.egress_topic = hl_buf_steal(&topic, NULL);
  c->rec.partner_id = hl_strdup(partner);
  c->rec.event_type = hl_strdup(type);
  c->rec.status = hl_strdup("ACTIVE");
  c->rec.created_at = hl_wall_ms();
  /* Re-registering the same partner and event type updates it in place. */
  if (registered) {
    c->rec.subscription_id = hl_strdup(registered->subscription_id);
    c->rec.created_at = registered->created_at;
    /* Written on the condition that the stored record is still the one
     * this update read (another process may have changed it since). */
    c->rec.revision = registered->revision;
    c->http_status = 200;
  }
  if (!c->rec.subscription_id) c->rec.subscription_id = hl_random_id("sub_");
  if (!hl_api_partner_for_sub(a, req, partner)) goto done;
  if (registered && hl_api_sub_writing(a, c->rec.subscription_id)) {
    hl_api_respond_sub_busy(req);
    goto done;
  }
  a->pending++;
  hl_api_sub_store_put(a, &c->rec, on_sub_put, c);
  c = NULL;
done:
  if (c) {
    hl_sub_rec_free(&c->rec);
    if (c->filter) hl_filter_free(c->filter);
    if (c->schedule) hl_retry_schedule_free(c->schedule);
    curl_slist_free_all(c->headers);
    hl_free(c);
  }
  hl_buf_dispose(&err);
  hl_buf_dispose(&topic);
  hl_json_doc_dispose(&doc);
}

/* ctx: the partner_id asked for, or NULL for all. */
static void list_sub(hl_jw *w, void *v, void *ctx) {
  const hl_sub *s = v;
  if (!ctx || strcmp(s->rec.partner_id, ctx) == 0) hl_api_write_sub(w, s);
}

void hl_api_list_subs(hl_api *a, hl_http_req *req) {
  char partner[HL_API_QUERY_VALUE_MAX + 1];
  bool filter = hl_api_query_param(req, "partner_id", partner, sizeof partner);
  hl_api_respond_list(req, "subscriptions", &a->reg->subs_by_id, list_sub, filter ? partner : NULL);
}

/* A DELETE on a queue that keeps its rows apart from the store (the
 * DynamoDB queue): the queue notes the subscription first, so that its
 * waiting deliveries are closed even if this process stops right after
 * the delete (hl_queue.h, forget_sub). */
typedef struct {
  hl_store *store;
  char *partner_id, *event_type;
  hl_store_cb cb; /* the delete's (hl_api_delete_begin) */
  void *c;
} forget_ctx;

static void on_sub_noted(void *data, int status, hl_store_result *res) {
  forget_ctx *f = data;
  if (status == 0) f->store->vt->sub_delete(f->store, f->partner_id, f->event_type, f->cb, f->c);
  else f->cb(f->c, status, res); /* answered as the store's error; nothing deleted */
  hl_free_all(f->partner_id, f->event_type, f);
}

void hl_api_sub_by_id(hl_api *a, hl_http_req *req, const char *id) {
  hl_sub *s = hl_api_sub_or_404(a, req, id);
  if (!s) return;
  if (strcmp(req->method, "DELETE") == 0) {
    void *c;
    hl_store_cb cb = hl_api_delete_begin(a, req, id, hl_registry_delete_sub, "subscription", &c);
    if (a->queue && a->queue->vt->forget_sub) {
      forget_ctx *f = hl_malloc(sizeof *f);
      *f = (forget_ctx){a->store, hl_strdup(s->rec.partner_id), hl_strdup(s->rec.event_type), cb, c};
      a->queue->vt->forget_sub(a->queue, &s->rec, on_sub_noted, f);
      return;
    }
    a->store->vt->sub_delete(a->store, s->rec.partner_id, s->rec.event_type, cb, c);
    return;
  }
  hl_buf b = HL_BUF_INIT;
  hl_jw w;
  hl_jw_init(&w, &b);
  hl_api_write_sub(&w, s);
  hl_api_respond_buf(req, 200, &b);
}

/* --- loading ------------------------------------------------------------------------------- */

/* Whether a stored subscription is the one already in the registry. */
static bool sub_unchanged(const hl_sub *s, const hl_sub_rec *r) {
  const hl_sub_rec *o = &s->rec;
  return hl_str_same(o->subscription_id, r->subscription_id) && hl_str_same(o->partner_id, r->partner_id) &&
         hl_str_same(o->event_type, r->event_type) && hl_str_same(o->url, r->url) && hl_str_same(o->secret, r->secret) &&
         hl_str_same(o->headers_json, r->headers_json) && hl_str_same(o->filter_json, r->filter_json) &&
         hl_str_same(o->retry_schedule, r->retry_schedule) && hl_str_same(o->destination_json, r->destination_json) && hl_str_same(o->egress_topic, r->egress_topic) &&
         hl_str_same(o->signing, r->signing) &&
         hl_str_same(o->enrichment_on_failure, r->enrichment_on_failure) &&
         hl_str_same(o->ordering, r->ordering) && o->skip_after == r->skip_after &&
         hl_str_same(o->status, r->status) && o->max_in_flight == r->max_in_flight &&
         hl_str_same(o->client_cert, r->client_cert) && hl_str_same(o->client_key, r->client_key) &&
         o->rate_limit_per_s == r->rate_limit_per_s && o->timeout_ms == r->timeout_ms;
}

void hl_api_subs_loaded(hl_api *a, hl_store_result *res, bool reload) {
  hl_strmap seen;
  hl_strmap_init(&seen);
  for (size_t i = 0; i < res->nsubs; i++) {
    hl_sub_rec *r = &res->subs[i];
    if (!r->subscription_id || !r->partner_id || !r->event_type || !hl_api_sub_open(a, r)) continue;
    hl_strmap_put(&seen, r->subscription_id, r);
    hl_sub *old = NULL;
    const hl_sub_list *l = hl_registry_subs_for_type(a->reg, r->event_type);
    for (size_t k = 0; k < l->n; k++)
      if (strcmp(l->items[k]->rec.partner_id, r->partner_id) == 0) old = l->items[k];
    if (old && sub_unchanged(old, r)) {
      /* Keeps its dispatcher state; the copy is now that of the revision
       * read (a write of it is conditional on that one). */
      old->rec.revision = r->revision;
      continue;
    }
    hl_filter *f = NULL;
    hl_retry_schedule *sch = NULL;
    struct curl_slist *h = NULL;
    hl_buf err = HL_BUF_INIT;
    if (r->filter_json) {
      hl_json_doc d;
      hl_json_doc_init(&d);
      if (hl_json_parse(&d, r->filter_json, strlen(r->filter_json), NULL) == 0)
        hl_filter_compile(d.root, &f, &err);
      hl_json_doc_dispose(&d);
    }
    if (r->headers_json) {
      hl_json_doc d;
      hl_json_doc_init(&d);
      if (hl_json_parse(&d, r->headers_json, strlen(r->headers_json), NULL) == 0 && d.root->type == HL_JSON_OBJECT)
        for (uint32_t k = 0; k < d.root->len; k++) {
          const hl_json_member *m = &d.root->u.members[k];
          if (m->value.type != HL_JSON_STRING) continue;
          h = header_line_append(h, m->key, m->value.u.str);
        }
      hl_json_doc_dispose(&d);
    }
    if (r->retry_schedule) hl_retry_schedule_parse(r->retry_schedule, &sch, &err);
    hl_buf_dispose(&err);
    hl_sub *s = hl_registry_put_sub(a->reg, r, f, h, sch);
    if (reload) hl_log_info("subscription reloaded", "\"subscription_id\":\"%s\"", s->rec.subscription_id);
  }
  if (reload) {
    /* Deleted elsewhere (another task, another function): gone here too. */
    size_t it = 0, n = 0;
    const char *id;
    void *v;
    char **gone = hl_calloc(hl_strmap_len(&a->reg->subs_by_id) + 1, sizeof *gone);
    while (hl_strmap_next(&a->reg->subs_by_id, &it, &id, &v))
      if (!hl_strmap_get(&seen, id)) gone[n++] = hl_strdup(id);
    for (size_t k = 0; k < n; k++) {
      hl_registry_delete_sub(a->reg, gone[k]);
      hl_log_info("subscription removed on reload", "\"subscription_id\":\"%s\"", hl_log_esc(gone[k], (size_t)-1));
      hl_free(gone[k]);
    }
    hl_free(gone);
  }
  hl_strmap_dispose(&seen);
}
