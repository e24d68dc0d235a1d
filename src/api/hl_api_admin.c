/* hl_api_admin.c — the admin API's resources: schemas (compiled and
 * checked before they are stored), subscriptions (validated, with their
 * filters, headers and retry schedules), delivery status and the re-queue
 * of a failed delivery (from the embedded queue, or in Kafka mode from the
 * dead-letter topic); and the loading of the registry from the store at
 * start and on every configuration TTL. Routed by hl_api.c. */
#include "api/hl_api.h"
#include "api/hl_api_int.h"
#include "api/hl_api_respond.h"
#include "common/hl_addr_policy.h"
#include "common/hl_common.h"
#include "common/hl_log.h"
#include "model/hl_destination.h"
#include "model/hl_sub_enrich.h"
#include "model/hl_filter.h"
#include "model/hl_retry.h"
#include "model/hl_sub_secrets.h"
#include "schema/hl_schema.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
/* --- topics ------------------------------------------------------------------------- */

/* A topic a registration needs (Kafka: created if missing). */
static void ensure_topic(hl_api *a, const char *topic) {
  if (a->queue && a->queue->vt->prepare_topic) a->queue->vt->prepare_topic(a->queue, topic);
}

/* event_subscription_kafka: event type -> its ingress topic and egress topics. */
static void refresh_kafka_map(hl_api *a, const char *event_type) {
  const hl_schema_entry *se = hl_registry_schema_for_type(a->reg, event_type);
  hl_buf eg = HL_BUF_INIT;
  hl_jw w;
  hl_jw_init(&w, &eg);
  hl_jw_arr_begin(&w);
  const hl_sub_list *l = hl_registry_subs_for_type(a->reg, event_type);
  for (size_t i = 0; i < l->n; i++) hl_jw_str(&w, l->items[i]->rec.egress_topic);
  hl_jw_arr_end(&w);
  a->store->vt->kafka_map_put(a->store, event_type, se ? se->rec.ingress_topic : NULL, eg.data, NULL, NULL);
  hl_buf_dispose(&eg);
}

/* --- schemas ---------------------------------------------------------------------- */

/* Where a schema's "$ref" to another document is looked up: the registered
 * schemas (by their "$id"), never the network. */
typedef struct {
  const hl_registry *reg;
  const hl_schema_rec *extra; /* records not yet in the registry (while loading) */
  size_t nextra;
} resolve_ctx;

static char *id_match(const hl_schema_rec *r, const char *uri) {
  hl_json_doc d;
  hl_json_doc_init(&d);
  char *found = NULL;
  if (r->schema_json && hl_json_parse(&d, r->schema_json, strlen(r->schema_json), NULL) == 0) {
    const char *id = hl_json_str(hl_json_get(d.root, "$id"));
    size_t n = strlen(uri);
    if (id && strncmp(id, uri, n) == 0 && (id[n] == '\0' || (id[n] == '#' && id[n + 1] == '\0')))
      found = hl_strdup(r->schema_json);
  }
  hl_json_doc_dispose(&d);
  return found;
}

static char *resolve_registered(void *data, const char *uri) {
  const resolve_ctx *rc = data;
  for (size_t i = 0; i < rc->nextra; i++) {
    char *t = id_match(&rc->extra[i], uri);
    if (t) return t;
  }
  size_t it = 0;
  void *v;
  while (hl_strmap_next(&rc->reg->schemas_by_id, &it, NULL, &v)) {
    char *t = id_match(&((hl_schema_entry *)v)->rec, uri);
    if (t) return t;
  }
  return NULL;
}

typedef struct {
  hl_api *a;
  hl_http_req *req;
  hl_schema_rec rec;
  hl_schema *compiled;
} schema_put_ctx;

static void write_schema(hl_jw *w, const hl_schema_rec *r, bool with_schema) {
  char id[512];
  snprintf(id, sizeof id, "%s.%s.v%lld", r->domain, r->event_type, (long long)r->version);
  hl_jw_obj_begin(w);
  hl_jw_key(w, "schema_id"); hl_jw_str(w, id);
  hl_jw_key(w, "domain"); hl_jw_str(w, r->domain);
  hl_jw_key(w, "event_type"); hl_jw_str(w, r->event_type);
  hl_jw_key(w, "version"); hl_jw_int(w, r->version);
  hl_jw_key(w, "status"); hl_jw_str(w, r->status);
  hl_jw_key(w, "ingress_topic"); hl_jw_str(w, r->ingress_topic);
  hl_jw_key(w, "created_at"); hl_jw_int(w, r->created_at);
  if (with_schema) { hl_jw_key(w, "schema"); hl_jw_raw(w, r->schema_json, strlen(r->schema_json)); }
  hl_jw_obj_end(w);
}

static void on_schema_put(void *data, int status, hl_store_result *res) {
  schema_put_ctx *c = data;
  (void)res;
  c->a->pending--;
  if (status != 0) {
    hl_api_respond_store_error(c->req, status);
    hl_schema_rec_free(&c->rec);
    if (c->compiled) hl_schema_free(c->compiled);
  } else {
    char id[512];
    snprintf(id, sizeof id, "%s.%s.v%lld", c->rec.domain, c->rec.event_type, (long long)c->rec.version);
    hl_buf b = HL_BUF_INIT;
    hl_jw w;
    hl_jw_open(&w, &b);
    hl_jw_key(&w, "schema_id"); hl_jw_str(&w, id);
    hl_jw_key(&w, "ingress_topic"); hl_jw_str(&w, c->rec.ingress_topic);
    hl_jw_obj_end(&w);
    hl_log_info("schema registered", "\"schema_id\":\"%s\",\"status\":\"%s\"", hl_log_esc(id, (size_t)-1),
                c->rec.status);
    char *type = hl_strdup(c->rec.event_type), *topic = hl_strdup(c->rec.ingress_topic);
    hl_registry_put_schema(c->a->reg, &c->rec, c->compiled);
    ensure_topic(c->a, topic);
    refresh_kafka_map(c->a, type);
    hl_free(type);
    hl_free(topic);
    hl_api_respond_buf(c->req, 201, &b);
  }
  hl_free(c);
}

static void append_schema_errors(hl_jw *w, const hl_schema_errors *errs) {
  hl_jw_arr_begin(w);
  for (size_t i = 0; i < errs->count; i++) {
    const hl_schema_error *e = &errs->items[i];
    hl_jw_obj_begin(w);
    hl_jw_key(w, "path"); hl_jw_str(w, e->instance_path);
    hl_jw_key(w, "keyword"); hl_jw_str(w, e->keyword);
    hl_jw_key(w, "schema_path"); hl_jw_str(w, e->schema_path);
    hl_jw_key(w, "message"); hl_jw_str(w, e->message);
    hl_jw_obj_end(w);
  }
  hl_jw_arr_end(w);
}

/* invalid_schema with the errors as details (pointers into the schema). */
static void respond_schema_errors(hl_http_req *req, int status, const char *what, hl_schema_errors *errs) {
  hl_buf d = HL_BUF_INIT;
  hl_jw w;
  hl_jw_init(&w, &d);
  append_schema_errors(&w, errs);
  char msg[512];
  snprintf(msg, sizeof msg, "%s: %s", what, errs->count ? errs->items[0].message : "invalid schema document");
  hl_api_respond_error(req, status, "invalid_schema", msg, d.data);
  hl_buf_dispose(&d);
  hl_schema_errors_dispose(errs);
}

/* The "x-project" annotation (model/hl_project.h), when given, is usable.
 * False once a 400 is answered. */
static bool schema_project_ok(hl_http_req *req, const hl_json *schema) {
  hl_projection *p;
  size_t n;
  char where[256], why[512], path[300];
  if (hl_project_parse(schema, &p, &n, where, sizeof where, why, sizeof why) == 0) {
    hl_project_free(p, n);
    return true;
  }
  snprintf(path, sizeof path, "/schema/x-project%s", where);
  hl_api_respond_field_error(req, path, why);
  return false;
}

/* What raw provider payloads (POST /api/v1/events/{event_type}) need of a
 * schema: an event type that is not one of that path's fixed names, and an
 * "x-id-pointer" annotation, when given, that is a JSON pointer. False once
 * a 400 is answered. */
static bool schema_raw_intake_ok(hl_http_req *req, const char *event_type, const hl_json *schema) {
  if (strcmp(event_type, "bulk") == 0 || strcmp(event_type, "health") == 0) {
    hl_api_respond_field_error(req, "/event_type", "\"bulk\" and \"health\" are reserved (paths of /api/v1/events)");
    return false;
  }
  const hl_json *p = hl_json_get(schema, "x-id-pointer");
  if (p && (p->type != HL_JSON_STRING || !hl_json_pointer_valid(p->u.str) || !*p->u.str)) {
    hl_api_respond_field_error(req, "/schema/x-id-pointer",
                               "expected the JSON pointer of the event's id in a raw payload, e.g. /transaction_id");
    return false;
  }
  return schema_project_ok(req, schema);
}

void hl_api_post_schema(hl_api *a, hl_http_req *req) {
  hl_json_doc doc;
  if (!hl_api_parse_body(req, &doc)) return;
  const hl_json *root = doc.root;
  const char *event_type = hl_api_get_str(root, "event_type"), *domain = hl_api_get_str(root, "domain");
  const char *status = hl_api_get_str(root, "status");
  const hl_json *schema = hl_json_get(root, "schema");
  int64_t version = 0;
  if (root->type != HL_JSON_OBJECT) { hl_api_respond_field_error(req, "", "expected a JSON object"); goto done; }
  if (!hl_api_name_ok(event_type, 128)) { hl_api_respond_field_error(req, "/event_type", "required: letters, digits, '.', '_' or '-' (at most 128)"); goto done; }
  if (!hl_api_name_ok(domain, 128)) { hl_api_respond_field_error(req, "/domain", "required: letters, digits, '.', '_' or '-' (at most 128)"); goto done; }
  const hl_json *v = hl_json_get(root, "version");
  if (v == NULL) version = 1;
  else if (hl_json_int64(v, &version) != 0 || version < 1 || version > 1000000) {
    hl_api_respond_field_error(req, "/version", "expected an integer from 1 to 1000000"); goto done;
  }
  if (status == NULL) status = "ACTIVE";
  if (strcmp(status, "ACTIVE") != 0 && strcmp(status, "INACTIVE") != 0) {
    hl_api_respond_field_error(req, "/status", "expected \"ACTIVE\" or \"INACTIVE\""); goto done;
  }
  if (schema == NULL || (schema->type != HL_JSON_OBJECT && schema->type != HL_JSON_TRUE &&
                         schema->type != HL_JSON_FALSE)) {
    hl_api_respond_field_error(req, "/schema", "required: a JSON Schema (an object or a boolean)"); goto done;
  }
  if (!schema_raw_intake_ok(req, event_type, schema)) goto done;
  hl_schema_errors errs;
  hl_schema_errors_init(&errs);
  hl_schema *compiled = NULL;
  resolve_ctx rctx = {a->reg, NULL, 0};
  hl_schema_options sopt = {.resolve = resolve_registered, .resolve_data = &rctx};
  if (hl_schema_compile(schema, &sopt, &compiled, &errs) != 0) {
    respond_schema_errors(req, 400, "the schema is not usable", &errs);
    goto done;
  }
  /* What compiles must also be a schema by the letter of its dialect
   * (e.g. "required" items unique, "$id" without fragment): checked against
   * the official meta-schema, compiled in. */
  int meta = hl_schema_check_meta(schema, &errs);
  if (meta != 0) {
    respond_schema_errors(req, meta == HL_EINVAL ? 400 : 500,
                          "the schema does not match the meta-schema of its dialect", &errs);
    hl_schema_free(compiled);
    goto done;
  }
  hl_schema_errors_dispose(&errs);
  schema_put_ctx *c = hl_calloc(1, sizeof *c);
  c->a = a;
  c->req = req;
  c->compiled = compiled;
  char buf[512];
  snprintf(buf, sizeof buf, "%s.%s", domain, event_type);
  c->rec.schema_id = hl_strdup(buf);
  c->rec.version = version;
  c->rec.domain = hl_strdup(domain);
  c->rec.event_type = hl_strdup(event_type);
  c->rec.status = hl_strdup(status);
  hl_buf sj = HL_BUF_INIT;
  hl_jw w;
  hl_jw_init(&w, &sj);
  hl_jw_value(&w, schema);
  c->rec.schema_json = hl_buf_steal(&sj, NULL);
  snprintf(buf, sizeof buf, "%s.%s.%s.v%lld", a->opt.ingress_prefix, domain, event_type, (long long)version);
  c->rec.ingress_topic = hl_strdup(buf);
  c->rec.created_at = hl_wall_ms();
  a->pending++;
  a->store->vt->schema_put(a->store, &c->rec, on_schema_put, c);
done:
  hl_json_doc_dispose(&doc);
}

static void list_schema(hl_jw *w, void *v, void *ctx) {
  (void)ctx;
  write_schema(w, &((hl_schema_entry *)v)->rec, false);
}

void hl_api_list_schemas(hl_api *a, hl_http_req *req) {
  hl_api_respond_list(req, "schemas", &a->reg->schemas_by_id, list_schema, NULL);
}

void hl_api_get_schema(hl_api *a, hl_http_req *req, const char *id) {
  const hl_schema_entry *e = hl_registry_schema_get(a->reg, id);
  if (e == NULL) {
    /* "<domain>.<event_type>" names the latest version. */
    size_t it = 0;
    void *v;
    while (hl_strmap_next(&a->reg->schemas_by_id, &it, NULL, &v)) {
      const hl_schema_entry *c = v;
      if (strcmp(c->rec.schema_id, id) == 0 && (!e || c->rec.version > e->rec.version)) e = c;
    }
  }
  if (e == NULL) {
    hl_api_respond_error(req, 404, "not_found", "no schema with this id; list them with GET /admin/schemas", NULL);
    return;
  }
  hl_buf b = HL_BUF_INIT;
  hl_jw w;
  hl_jw_init(&w, &b);
  write_schema(&w, &e->rec, true);
  hl_api_respond_buf(req, 200, &b);
}

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
#define REDACTED "REDACTED"

/* The URL with its userinfo, up to the last '@' of the authority, replaced. */
static void write_url_redacted(hl_jw *w, const char *url) {
  const char *auth = strstr(url, "://");
  const char *at = auth ? memrchr(auth + 3, '@', strcspn(auth + 3, "/?#")) : NULL;
  if (!at) {
    hl_jw_str(w, url);
    return;
  }
  hl_buf b = HL_BUF_INIT;
  hl_buf_append(&b, url, (size_t)(auth + 3 - url));
  hl_buf_puts(&b, REDACTED);
  hl_buf_puts(&b, at);
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
    hl_api_respond_store_error(c->req, status);
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
  ensure_topic(c->a, s->rec.egress_topic);
  refresh_kafka_map(c->a, s->rec.event_type);
  hl_api_respond_buf(c->req, c->http_status, &b);
  hl_free(c);
}

/* Headers a subscription may not set: ours, and those that break HTTP framing. */
static bool header_reserved(const char *name) {
  static const char *reserved[] = {"content-type", "content-length", "host", "transfer-encoding",
                                   "connection", "user-agent", "expect", "te", "upgrade"};
  if (strncasecmp(name, "webhook-", 8) == 0) return true;
  for (size_t i = 0; i < HL_ARRAY_SIZE(reserved); i++)
    if (strcasecmp(name, reserved[i]) == 0) return true;
  return false;
}

static bool token_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("!#$%&'*+-.^_`|~", c);
}

/* RFC 6761 6.3: names under "localhost." are loopback (libcurl resolves
 * them so itself, without asking DNS). */
static bool localhost_name(const char *h) {
  size_t n = strlen(h);
  if (n > 0 && h[n - 1] == '.') n--;
  return (n == 9 && strncasecmp(h, "localhost", 9) == 0) ||
         (n > 10 && strncasecmp(h + n - 10, ".localhost", 10) == 0);
}

/* Checks the URL: http(s), a host, and (unless allowed) no literal address
 * the address policy refuses and no localhost name. A host name resolving to
 * such an address passes here: the dispatcher refuses it when connecting.
 * Returns NULL, or the problem (in buf when it names the block). */
static const char *url_problem(const char *url, bool allow_private, char *buf, size_t buflen) {
  CURLU *u = curl_url();
  char *scheme = NULL, *host = NULL;
  const char *problem = NULL;
  if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) problem = "not a valid absolute URL";
  else if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
           (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0))
    problem = "only http:// and https:// URLs can receive webhooks";
  else if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !host || !*host)
    problem = "the URL has no host";
  else if (!allow_private) {
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6};
    struct sockaddr_in a4 = {.sin_family = AF_INET};
    char h[256];
    snprintf(h, sizeof h, "%s", host);
    size_t hl = strlen(h);
    if (hl > 2 && h[0] == '[' && h[hl - 1] == ']') { memmove(h, h + 1, hl - 2); h[hl - 2] = '\0'; }
    const char *block = NULL;
    if (inet_pton(AF_INET, h, &a4.sin_addr) == 1) block = hl_addr_refused_block((struct sockaddr *)&a4);
    else if (inet_pton(AF_INET6, h, &a6.sin6_addr) == 1) block = hl_addr_refused_block((struct sockaddr *)&a6);
    else if (localhost_name(h)) block = "localhost (RFC 6761)";
    if (block) {
      snprintf(buf, buflen,
               "the URL points at a private or special-purpose address: %s; set HOOKLOOP_ALLOW_PRIVATE_TARGETS=1 to allow it",
               block);
      problem = buf;
    }
  }
  curl_free(scheme);
  curl_free(host);
  curl_url_cleanup(u);
  return problem;
}

/* HOOKLOOP_REQUIRE_HTTPS: a URL that url_problem passed is http:// or
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
  const char *problem = url_problem(url, a->opt.allow_private_targets, why, sizeof why);
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

void hl_api_post_subscription(hl_api *a, hl_http_req *req) {
  hl_json_doc doc;
  if (!hl_api_parse_body(req, &doc)) return;
  const hl_json *root = doc.root;
  sub_put_ctx *c = NULL;
  hl_buf err = HL_BUF_INIT;
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
    hl_api_respond_error(req, 400, "unknown_event_type",
                  "no schema is registered for this event_type; register one with POST /admin/schemas first", NULL);
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
  int signing = hl_api_sub_signing_parse(a, req, root, &c->rec);
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
      if (m->value.type != HL_JSON_STRING || memchr(m->value.u.str, '\r', m->value.len) ||
          memchr(m->value.u.str, '\n', m->value.len) || memchr(m->value.u.str, '\0', m->value.len)) {
        hl_api_respond_field_error(req, ptr, "expected a string without line breaks"); goto done;
      }
      hl_buf line = HL_BUF_INIT;
      hl_buf_printf(&line, "%s: %s", m->key, m->value.u.str);
      c->headers = curl_slist_append(c->headers, line.data);
      hl_buf_dispose(&line);
    }
    hl_buf hj = HL_BUF_INIT;
    hl_jw w;
    hl_jw_init(&w, &hj);
    hl_jw_value(&w, v);
    c->rec.headers_json = hl_buf_steal(&hj, NULL);
  }
  if ((v = hl_json_get(root, "filter")) != NULL && v->type != HL_JSON_NULL) {
    if (hl_filter_compile(v, &c->filter, &err) != 0) {
      hl_api_respond_error(req, 400, "invalid_filter", err.data ? err.data : "the filter is not usable", NULL);
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
  char buf[512];
  snprintf(buf, sizeof buf, "%s.%s.%s", a->opt.egress_prefix, partner, type);
  c->rec.egress_topic = hl_strdup(buf);
  c->rec.partner_id = hl_strdup(partner);
  c->rec.event_type = hl_strdup(type);
  c->rec.status = hl_strdup("ACTIVE");
  c->rec.created_at = hl_wall_ms();
  /* Re-registering the same partner and event type updates it in place. */
  const hl_sub_list *l = hl_registry_subs_for_type(a->reg, type);
  for (size_t i = 0; i < l->n; i++)
    if (strcmp(l->items[i]->rec.partner_id, partner) == 0) {
      c->rec.subscription_id = hl_strdup(l->items[i]->rec.subscription_id);
      c->rec.created_at = l->items[i]->rec.created_at;
      c->http_status = 200;
    }
  if (!c->rec.subscription_id) c->rec.subscription_id = hl_random_id("sub_");
  if (!hl_api_partner_for_sub(a, req, partner)) goto done;
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
  hl_json_doc_dispose(&doc);
}

/* ctx: the partner_id asked for, or NULL for all. */
static void list_sub(hl_jw *w, void *v, void *ctx) {
  const hl_sub *s = v;
  if (!ctx || strcmp(s->rec.partner_id, ctx) == 0) hl_api_write_sub(w, s);
}

void hl_api_list_subs(hl_api *a, hl_http_req *req) {
  char partner[256];
  bool filter = hl_api_query_param(req, "partner_id", partner, sizeof partner);
  hl_api_respond_list(req, "subscriptions", &a->reg->subs_by_id, list_sub, filter ? partner : NULL);
}

/* A DELETE in the store, then out of the registry; 204. Not found in the
 * store counts as deleted (a partner only implied was never stored). */
typedef struct {
  hl_api *a;
  hl_http_req *req;
  char *id;
  bool (*forget)(hl_registry *r, const char *id);
  const char *noun; /* "subscription", "partner": the log line and its id member */
} delete_ctx;

static void on_deleted(void *data, int status, hl_store_result *res) {
  delete_ctx *c = data;
  (void)res;
  c->a->pending--;
  if (status == 0 || status == HL_ENOTFOUND) {
    c->forget(c->a->reg, c->id);
    char msg[64];
    snprintf(msg, sizeof msg, "%s deleted", c->noun);
    hl_log_info(msg, "\"%s_id\":\"%s\"", c->noun, hl_log_esc(c->id, (size_t)-1));
    hl_http_respond(c->req, 204, NULL, 0, NULL, 0);
  } else {
    hl_api_respond_store_error(c->req, status);
  }
  hl_free(c->id);
  hl_free(c);
}

hl_store_cb hl_api_delete_begin(hl_api *a, hl_http_req *req, const char *id,
                                bool (*forget)(hl_registry *r, const char *id), const char *noun, void **data) {
  delete_ctx *c = hl_malloc(sizeof *c);
  *c = (delete_ctx){a, req, hl_strdup(id), forget, noun};
  a->pending++;
  *data = c;
  return on_deleted;
}

hl_sub *hl_api_sub_or_404(hl_api *a, hl_http_req *req, const char *id) {
  hl_sub *s = hl_registry_sub_get(a->reg, id);
  if (!s)
    hl_api_respond_error(req, 404, "not_found", "no subscription with this id; list them with GET /admin/subscriptions", NULL);
  return s;
}

void hl_api_sub_by_id(hl_api *a, hl_http_req *req, const char *id) {
  hl_sub *s = hl_api_sub_or_404(a, req, id);
  if (!s) return;
  if (strcmp(req->method, "DELETE") == 0) {
    void *c;
    hl_store_cb cb = hl_api_delete_begin(a, req, id, hl_registry_delete_sub, "subscription", &c);
    a->store->vt->sub_delete(a->store, s->rec.partner_id, s->rec.event_type, cb, c);
    return;
  }
  hl_buf b = HL_BUF_INIT;
  hl_jw w;
  hl_jw_init(&w, &b);
  hl_api_write_sub(&w, s);
  hl_api_respond_buf(req, 200, &b);
}

/* --- deliveries ------------------------------------------------------------------------ */

typedef struct { hl_api *a; hl_http_req *req; char *event_id; char *sub_id; } del_ctx;

void hl_api_write_delivery(hl_jw *w, hl_api *a, const hl_delivery_rec *r, bool with_event_id) {
  hl_sub *s = hl_registry_sub_get(a->reg, r->subscription_id);
  hl_jw_obj_begin(w);
  if (with_event_id) hl_jw_key_str(w, "event_id", r->event_id);
  hl_jw_key(w, "subscription_id"); hl_jw_str(w, r->subscription_id);
  hl_jw_key(w, "partner_id");
  if (s) hl_jw_str(w, s->rec.partner_id); else hl_jw_null(w);
  hl_jw_key(w, "status"); hl_jw_str(w, r->status);
  hl_jw_key(w, "attempts"); hl_jw_int(w, r->attempts);
  hl_jw_key(w, "last_status_code");
  if (r->last_status_code) hl_jw_int(w, r->last_status_code); else hl_jw_null(w);
  hl_jw_key(w, "last_error");
  if (r->last_error) hl_jw_str(w, r->last_error); else hl_jw_null(w);
  hl_jw_key(w, "last_latency_ms"); hl_jw_int(w, r->last_latency_ms);
  hl_jw_key(w, "updated_at"); hl_jw_int(w, r->updated_at);
  hl_jw_key(w, "next_attempt_at");
  if (r->next_attempt_at) hl_jw_int(w, r->next_attempt_at); else hl_jw_null(w);
  if (r->transformation) { hl_jw_key(w, "transformations"); hl_api_write_xform_used(w, r->transformation); }
  hl_jw_obj_end(w);
}

static void on_delivery_list(void *data, int status, hl_store_result *res) {
  del_ctx *c = data;
  c->a->pending--;
  if (status != 0) {
    hl_api_respond_store_error(c->req, status);
  } else {
    hl_buf b = HL_BUF_INIT;
    hl_jw w;
    hl_jw_open(&w, &b);
    hl_jw_key(&w, "event_id"); hl_jw_str(&w, c->event_id);
    hl_jw_key_arr(&w, "deliveries");
    for (size_t i = 0; i < res->ndeliveries; i++) hl_api_write_delivery(&w, c->a, &res->deliveries[i], false);
    hl_jw_arr_end(&w);
    hl_jw_obj_end(&w);
    hl_api_respond_buf(c->req, 200, &b);
  }
  hl_free(c->event_id);
  hl_free(c->sub_id);
  hl_free(c);
}

void hl_api_list_deliveries(hl_api *a, hl_http_req *req) {
  char id[256];
  if ((!hl_api_query_param(req, "event_id", id, sizeof id) || !id[0]) &&
      hl_api_query_param(req, "subscription_id", id, sizeof id) && id[0]) {
    hl_api_search_deliveries(a, req, id);
    return;
  }
  if (!hl_api_query_param(req, "event_id", id, sizeof id) || !id[0]) {
    hl_api_respond_field_error(req, "?event_id", "required: event_id, or subscription_id to search a subscription's deliveries");
    return;
  }
  del_ctx *c = hl_calloc(1, sizeof *c);
  *c = (del_ctx){a, req, hl_strdup(id), NULL};
  a->pending++;
  a->store->vt->delivery_list(a->store, id, on_delivery_list, c);
}

static void on_requeued(void *data, int status, const char *code, const char *message) {
  del_ctx *c = data;
  c->a->pending--;
  if (status == 0) {
    hl_log_info("delivery re-queued", "\"event_id\":\"%s\",\"subscription_id\":\"%s\"",
                hl_log_esc(c->event_id, (size_t)-1), hl_log_esc(c->sub_id, (size_t)-1));
    static const char body[] = "{\"status\":\"requeued\"}";
    hl_http_respond(c->req, 202, NULL, 0, body, sizeof body - 1);
  } else if (status == HL_EUNSUPPORTED) {
    hl_api_respond_error(c->req, 501, "not_supported", "re-queueing needs the embedded queue, the DynamoDB queue or a Kafka dead-letter topic; in Lambda on MSK, the brokers: set KAFKA_BROKERS, or wait until this function has handled an MSK batch", NULL);
  } else if (status == HL_ENOTFOUND) {
    hl_api_respond_error(c->req, 404, code ? code : "not_found",
                         message ? message : "no delivery of this event to this subscription", NULL);
  } else if (status == HL_EINVAL) {
    hl_api_respond_error(c->req, 409, code ? code : "not_failed",
                         message ? message : "only FAILED deliveries can be re-queued; this one is still pending or delivered", NULL);
  } else if (code) {
    hl_api_respond_error(c->req, 503, code, message ? message : "try again", NULL);
  } else {
    hl_api_respond_store_error(c->req, status);
  }
  hl_free(c->event_id);
  hl_free(c->sub_id);
  hl_free(c);
}

/* From the queue: the embedded one flips the row back to due; Kafka reads
 * the body back from the dead-letter topic (hl_queue_kafka). */
void hl_api_retry_delivery(hl_api *a, hl_http_req *req, const char *event_id, const char *sub_id) {
  del_ctx *c = hl_calloc(1, sizeof *c);
  *c = (del_ctx){a, req, hl_strdup(event_id), hl_strdup(sub_id)};
  a->pending++;
  if (!a->queue || !a->queue->vt->requeue) {
    on_requeued(c, HL_EUNSUPPORTED, NULL, NULL);
    return;
  }
  a->queue->vt->requeue(a->queue, a->reg, event_id, sub_id, on_requeued, c);
}

/* --- loading the registry ------------------------------------------------------------------ */

typedef struct { hl_api *a; void (*cb)(void *, int); void *data; bool reload; } load_ctx;

static bool str_same(const char *a, const char *b) { return (!a && !b) || (a && b && strcmp(a, b) == 0); }

/* Whether a stored subscription is the one already in the registry. */
static bool sub_unchanged(const hl_sub *s, const hl_sub_rec *r) {
  const hl_sub_rec *o = &s->rec;
  return str_same(o->subscription_id, r->subscription_id) && str_same(o->partner_id, r->partner_id) &&
         str_same(o->event_type, r->event_type) && str_same(o->url, r->url) && str_same(o->secret, r->secret) &&
         str_same(o->headers_json, r->headers_json) && str_same(o->filter_json, r->filter_json) &&
         str_same(o->retry_schedule, r->retry_schedule) && str_same(o->destination_json, r->destination_json) && str_same(o->egress_topic, r->egress_topic) &&
         str_same(o->signing, r->signing) &&
         str_same(o->enrichment_on_failure, r->enrichment_on_failure) &&
         str_same(o->ordering, r->ordering) && o->skip_after == r->skip_after &&
         str_same(o->status, r->status) && o->max_in_flight == r->max_in_flight &&
         str_same(o->client_cert, r->client_cert) && str_same(o->client_key, r->client_key) &&
         o->rate_limit_per_s == r->rate_limit_per_s && o->timeout_ms == r->timeout_ms;
}

static void on_subs_loaded(void *data, int status, hl_store_result *res) {
  load_ctx *c = data;
  hl_api *a = c->a;
  hl_strmap seen;
  hl_strmap_init(&seen);
  if (c->reload && a->frozen) status = HL_ECANCELED;
  for (size_t i = 0; status == 0 && i < res->nsubs; i++) {
    hl_sub_rec *r = &res->subs[i];
    if (!r->subscription_id || !r->partner_id || !r->event_type || !hl_api_sub_open(a, r)) continue;
    hl_strmap_put(&seen, r->subscription_id, r);
    hl_sub *old = NULL;
    const hl_sub_list *l = hl_registry_subs_for_type(a->reg, r->event_type);
    for (size_t k = 0; k < l->n; k++)
      if (strcmp(l->items[k]->rec.partner_id, r->partner_id) == 0) old = l->items[k];
    if (old && sub_unchanged(old, r)) continue; /* keeps its dispatcher state */
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
          hl_buf line = HL_BUF_INIT;
          hl_buf_printf(&line, "%s: %s", m->key, m->value.u.str);
          h = curl_slist_append(h, line.data);
          hl_buf_dispose(&line);
        }
      hl_json_doc_dispose(&d);
    }
    if (r->retry_schedule) hl_retry_schedule_parse(r->retry_schedule, &sch, &err);
    hl_buf_dispose(&err);
    hl_sub *s = hl_registry_put_sub(a->reg, r, f, h, sch);
    if (c->reload) hl_log_info("subscription reloaded", "\"subscription_id\":\"%s\"", s->rec.subscription_id);
  }
  if (status == 0 && c->reload) {
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
  a->loaded_at_ms = hl_mono_ms();
  c->cb(c->data, status);
  hl_free(c);
}

/* After the partners: the subscriptions, which attach to them. */
static void load_subs(void *data, int status) {
  load_ctx *c = data;
  if (status != 0) {
    c->cb(c->data, status);
    hl_free(c);
    return;
  }
  hl_api_sub_list_open(c->a, on_subs_loaded, c);
}

static void on_schemas_loaded(void *data, int status, hl_store_result *res) {
  load_ctx *c = data;
  hl_api *a = c->a;
  if (status != 0 || (c->reload && a->frozen)) {
    c->cb(c->data, status);
    hl_free(c);
    return;
  }
  resolve_ctx rctx = {a->reg, res->schemas, res->nschemas};
  hl_schema_options sopt = {.resolve = resolve_registered, .resolve_data = &rctx};
  for (size_t i = 0; i < res->nschemas; i++) {
    hl_schema_rec *r = &res->schemas[i];
    if (c->reload && r->domain && r->event_type) {
      char id[512];
      snprintf(id, sizeof id, "%s.%s.v%lld", r->domain, r->event_type, (long long)r->version);
      const hl_schema_entry *e = hl_registry_schema_get(a->reg, id);
      if (e && str_same(e->rec.schema_json, r->schema_json) && str_same(e->rec.status, r->status)) continue;
    }
    hl_schema *compiled = NULL;
    hl_json_doc d;
    hl_json_doc_init(&d);
    if (hl_json_parse(&d, r->schema_json, strlen(r->schema_json), NULL) == 0) {
      hl_schema_errors errs;
      hl_schema_errors_init(&errs);
      if (hl_schema_compile(d.root, &sopt, &compiled, &errs) != 0)
        hl_log_error("a stored schema does not compile; events of its type are refused until it is registered again",
                     "\"schema_id\":\"%s\"", hl_log_esc(r->schema_id, (size_t)-1));
      hl_schema_errors_dispose(&errs);
    }
    hl_json_doc_dispose(&d);
    hl_registry_put_schema(a->reg, r, compiled);
  }
  hl_api_partners_load(a, c->reload, load_subs, c);
}

/* Transformations first: a delivery started once subscriptions are in
 * already finds what shapes it. */
static void load_schemas(void *data, int status) {
  load_ctx *c = data;
  if (status != 0) {
    c->cb(c->data, status);
    hl_free(c);
    return;
  }
  c->a->store->vt->schema_list(c->a->store, on_schemas_loaded, c);
}

void hl_api_reload(hl_api *a, void (*cb)(void *data, int status), void *data) {
  load_ctx *c = hl_malloc(sizeof *c);
  *c = (load_ctx){a, cb, data, true};
  hl_api_load_xforms(a, true, load_schemas, c);
}

void hl_api_load(hl_api *a, void (*cb)(void *data, int status), void *data) {
  load_ctx *c = hl_malloc(sizeof *c);
  *c = (load_ctx){a, cb, data, false};
  a->reg->free_schema = hl_schema_free;
  a->reg->free_filter = hl_filter_free;
  a->reg->free_schedule = hl_retry_schedule_free;
  hl_api_load_xforms(a, false, load_schemas, c);
}

