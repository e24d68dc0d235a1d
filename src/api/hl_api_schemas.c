/* hl_api_schemas.c — the admin API's schemas: registered (compiled, and
 * checked against the meta-schema of their dialect, before they are
 * stored), listed and read; the stored ones compiled into the registry at
 * start and on every configuration TTL (hl_api_load.c calls
 * hl_api_schemas_loaded). A "$ref" to another document resolves among the
 * registered schemas, never the network. Also the Kafka topics a
 * registration names (hl_api_topic_registered), which subscriptions share.
 * Routed by hl_api.c. */
#include "api/hl_api.h"
#include "api/hl_api_int.h"
#include "api/hl_api_respond.h"
#include "common/hl_common.h"
#include "common/hl_log.h"
#include "model/hl_event.h"
#include "model/hl_topic.h"
#include "schema/hl_schema.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

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

void hl_api_topic_registered(hl_api *a, const char *topic, const char *event_type) {
  ensure_topic(a, topic);
  refresh_kafka_map(a, event_type);
}

/* --- schemas ---------------------------------------------------------------------- */

/* Where a schema's "$ref" to another document is looked up: the registered
 * schemas (by their "$id"), never the network. */
typedef struct {
  const hl_registry *reg;     /* NULL off the loop: extra is then a copy of its schemas */
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
  if (!rc->reg) return NULL;
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
    hl_api_topic_registered(c->a, topic, type);
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

/* Whether two "$id"s name the same document: equal, but for an empty
 * fragment (the way resolve_registered matches a "$ref"). */
static bool same_doc_id(const char *a, const char *b) {
  size_t na = strlen(a), nb = strlen(b);
  if (na && a[na - 1] == '#') na--;
  if (nb && b[nb - 1] == '#') nb--;
  return na == nb && memcmp(a, b, na) == 0;
}

/* The schema's root "$id", when given, names no other registered document
 * (its other versions may carry it with the same text). A "$ref" to it
 * resolves among the registered schemas: with two documents under one
 * "$id" it found whichever the registry's order met first, and after a
 * restart the one the store listed first, so a verdict changed with a
 * restart. self is "<domain>.<event_type>.v<version>", the entry this
 * registration replaces. False once a 400 is answered. */
static bool schema_id_free(hl_api *a, hl_http_req *req, const hl_json *schema, const char *schema_json,
                           const char *self) {
  const char *id = hl_json_str(hl_json_get(schema, "$id"));
  if (!id) return true;
  size_t it = 0;
  const char *key;
  void *v;
  while (hl_strmap_next(&a->reg->schemas_by_id, &it, &key, &v)) {
    const hl_schema_entry *e = v;
    if (strcmp(key, self) == 0 || !e->root_id || !same_doc_id(e->root_id, id)) continue;
    if (e->rec.schema_json && strcmp(e->rec.schema_json, schema_json) == 0) continue;
    char msg[640];
    snprintf(msg, sizeof msg,
             "\"%.200s\" is already the $id of schema %.200s, another document: a $ref names one document, so "
             "give this one an $id of its own",
             id, key);
    hl_api_respond_field_error(req, "/schema/$id", msg);
    return false;
  }
  return true;
}

/* A registration being checked. Its schema is compiled and checked against
 * the meta-schema of its dialect before its fields are read, so that a
 * large body can have that done (with its parse) on the threadpool: PCRE2
 * compiles and JITs every "pattern" (~0.03 ms each) and the meta-schema
 * walk is linear in the schema, so a 950 KB schema of 12,000 patterns held
 * the loop 120-400 ms. The answers do not change with where it ran: the
 * fields are still judged first, on the loop, and a compile's errors only
 * answered when they pass.
 *
 * Off the loop the job touches only what it owns: the body (valid until the
 * request is answered), its document, and a copy of the registered
 * schemas' texts that a "$ref" resolves among, since the registry is the
 * loop's and may change meanwhile. The compiled schema holds no thread's
 * state (PCRE2's match data and JIT stacks belong to each validating
 * thread, hl_schema.c), so the loop takes it as it is. */
typedef struct {
  uv_work_t work;
  hl_api *a;
  hl_http_req *req;
  hl_json_doc doc;
  bool off_loop;             /* parsed and checked on the threadpool */
  int parsed;                /* off_loop: 0, or the parse failed (perr) */
  hl_json_error perr;
  resolve_ctx rctx;
  hl_schema_rec *texts;      /* off_loop: the registered schemas' texts (schema_json only) */
  size_t ntexts;
  bool checked;              /* the body had a schema to compile */
  int compiled_rc, meta_rc;  /* 0, or what hl_schema_compile / hl_schema_check_meta said */
  hl_schema *compiled;
  hl_schema_errors errs;
  char *schema_json;         /* the schema as stored, once it passed */
} schema_reg;

static void schema_reg_free(schema_reg *r) {
  if (r->compiled) hl_schema_free(r->compiled);
  hl_schema_errors_dispose(&r->errs);
  for (size_t i = 0; i < r->ntexts; i++) hl_schema_rec_free(&r->texts[i]);
  hl_free(r->texts);
  hl_free(r->schema_json);
  hl_json_doc_dispose(&r->doc);
  hl_free(r);
}

/* The schema member compiled, checked against its meta-schema and written
 * as it is stored: no loop state read or written, so either thread. */
static void schema_reg_check(schema_reg *r) {
  const hl_json *root = r->doc.root;
  const hl_json *schema = root->type == HL_JSON_OBJECT ? hl_json_get(root, "schema") : NULL;
  if (schema == NULL || (schema->type != HL_JSON_OBJECT && schema->type != HL_JSON_TRUE &&
                         schema->type != HL_JSON_FALSE))
    return; /* answered as a field error */
  r->checked = true;
  hl_schema_options sopt = {.resolve = resolve_registered, .resolve_data = &r->rctx, .known_dialects_only = true};
  r->compiled_rc = hl_schema_compile(schema, &sopt, &r->compiled, &r->errs);
  if (r->compiled_rc != 0) return;
  /* What compiles must also be a schema by the letter of its dialect
   * (e.g. "required" items unique, "$id" without fragment): checked against
   * the official meta-schema, compiled in. */
  r->meta_rc = hl_schema_check_meta(schema, &r->errs);
  if (r->meta_rc != 0) return;
  hl_buf sj = HL_BUF_INIT;
  hl_jw w;
  hl_jw_init(&w, &sj);
  hl_jw_value(&w, schema);
  r->schema_json = hl_buf_steal(&sj, NULL);
}

/* On the loop, once the schema was checked: the fields, then the schema's
 * verdict, then the write. Consumes r. */
static void schema_reg_finish(schema_reg *r) {
  hl_api *a = r->a;
  hl_http_req *req = r->req;
  const hl_json *root = r->doc.root;
  const char *event_type = hl_api_get_str(root, "event_type"), *domain = hl_api_get_str(root, "domain");
  const char *status = hl_api_get_str(root, "status");
  const hl_json *schema = hl_json_get(root, "schema");
  int64_t version = 0;
  hl_buf topic = HL_BUF_INIT;
  if (r->checked) {
    if (r->off_loop) a->schema_compiles_threadpool++;
    else a->schema_compiles_loop++;
  }
  if (root->type != HL_JSON_OBJECT) { hl_api_respond_field_error(req, "", "expected a JSON object"); goto done; }
  if (!hl_api_name_ok(event_type, 128)) { hl_api_respond_field_error(req, "/event_type", "required: letters, digits, '.', '_' or '-' (at most 128)"); goto done; }
  if (!hl_api_name_ok(domain, 128)) { hl_api_respond_field_error(req, "/domain", "required: letters, digits, '.', '_' or '-' (at most 128)"); goto done; }
  const hl_json *v = hl_json_get(root, "version");
  if (v == NULL) version = 1;
  else if (hl_json_int64(v, &version) != 0 || version < 1 || version > 1000000) {
    hl_api_respond_field_error(req, "/version", "expected an integer from 1 to 1000000"); goto done;
  }
  hl_topic_ingress(&topic, a->opt.ingress_prefix, domain, event_type, version);
  if (!hl_topic_name_ok(topic.data, topic.len)) {
    hl_buf msg = HL_BUF_INIT;
    hl_buf_printf(&msg, "the ingress topic %s.<domain>.<event_type>.v%" PRId64 " would be %zu characters; Kafka "
                  "allows %d: shorten /domain or /event_type", a->opt.ingress_prefix, version, topic.len, HL_TOPIC_MAX);
    hl_api_respond_field_error(req, "/event_type", msg.data);
    hl_buf_dispose(&msg);
    goto done;
  }
  if (status == NULL && hl_json_get(root, "status") != NULL) {
    hl_api_respond_field_error(req, "/status", "expected \"ACTIVE\" or \"INACTIVE\""); goto done;
  }
  if (status == NULL) status = "ACTIVE";
  if (strcmp(status, "ACTIVE") != 0 && strcmp(status, "INACTIVE") != 0) {
    hl_api_respond_field_error(req, "/status", "expected \"ACTIVE\" or \"INACTIVE\""); goto done;
  }
  if (!r->checked) {
    hl_api_respond_field_error(req, "/schema", "required: a JSON Schema (an object or a boolean)"); goto done;
  }
  if (!schema_raw_intake_ok(req, event_type, schema)) goto done;
  if (r->compiled_rc != 0) {
    respond_schema_errors(req, 400, "the schema is not usable", &r->errs);
    goto done;
  }
  if (r->meta_rc != 0) {
    respond_schema_errors(req, r->meta_rc == HL_EINVAL ? 400 : 500,
                          "the schema does not match the meta-schema of its dialect", &r->errs);
    goto done;
  }
  char self[512];
  snprintf(self, sizeof self, "%s.%s.v%lld", domain, event_type, (long long)version);
  if (!schema_id_free(a, req, schema, r->schema_json, self)) goto done;
  schema_put_ctx *c = hl_calloc(1, sizeof *c);
  c->a = a;
  c->req = req;
  c->compiled = r->compiled;
  r->compiled = NULL;
  char buf[512];
  snprintf(buf, sizeof buf, "%s.%s", domain, event_type);
  c->rec.schema_id = hl_strdup(buf);
  c->rec.version = version;
  c->rec.domain = hl_strdup(domain);
  c->rec.event_type = hl_strdup(event_type);
  c->rec.status = hl_strdup(status);
  c->rec.schema_json = r->schema_json;
  r->schema_json = NULL;
  c->rec.ingress_topic = hl_buf_steal(&topic, NULL);
  c->rec.created_at = hl_wall_ms();
  a->pending++;
  a->store->vt->schema_put(a->store, &c->rec, on_schema_put, c);
done:
  hl_buf_dispose(&topic);
  schema_reg_free(r);
}

static void schema_reg_work(uv_work_t *w) {
  schema_reg *r = w->data;
  r->parsed = hl_json_parse_ex(&r->doc, r->req->body, r->req->body_len, HL_JSON_UNIQUE_NAMES, &r->perr);
  if (r->parsed == 0) schema_reg_check(r);
}

static void schema_reg_worked(uv_work_t *w, int status) {
  schema_reg *r = w->data;
  hl_api *a = r->a;
  a->pending--;
  /* Closing (a drain that ran out of time): the store is going away and
   * nothing may be written to it any more; the registration was not made. */
  if (status != 0 || a->frozen) {
    hl_api_respond_store_error(r->req, HL_ECANCELED);
    schema_reg_free(r);
  } else if (r->parsed != 0) {
    hl_api_respond_parse_error(r->req, &r->perr);
    schema_reg_free(r);
  } else {
    schema_reg_finish(r);
  }
}

void hl_api_post_schema(hl_api *a, hl_http_req *req) {
  schema_reg *r = hl_calloc(1, sizeof *r);
  r->a = a;
  r->req = req;
  r->work.data = r;
  hl_schema_errors_init(&r->errs);
  hl_json_doc_init(&r->doc);
  if (a->opt.loop == NULL || req->body_len <= HL_EVENT_INLINE_BYTES) {
    if (!hl_api_parse_body(req, &r->doc)) {
      schema_reg_free(r);
      return;
    }
    r->rctx = (resolve_ctx){a->reg, NULL, 0};
    schema_reg_check(r);
    schema_reg_finish(r);
    return;
  }
  /* The texts are copied (a memcpy each), not parsed: the "$id"s are read
   * off the loop, as on it, only when a "$ref" asks. */
  r->off_loop = true;
  size_t n = hl_strmap_len(&a->reg->schemas_by_id);
  r->texts = hl_calloc(n ? n : 1, sizeof *r->texts);
  size_t it = 0;
  void *v;
  while (hl_strmap_next(&a->reg->schemas_by_id, &it, NULL, &v)) {
    const char *t = ((hl_schema_entry *)v)->rec.schema_json;
    if (t) r->texts[r->ntexts++].schema_json = hl_strdup(t);
  }
  r->rctx = (resolve_ctx){NULL, r->texts, r->ntexts};
  a->pending++; /* a drain waits for the check, as for the store */
  uv_queue_work(a->opt.loop, &r->work, schema_reg_work, schema_reg_worked); /* fails only without a work callback */
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

void hl_api_schemas_loaded(hl_api *a, hl_store_result *res, bool reload) {
  resolve_ctx rctx = {a->reg, res->schemas, res->nschemas};
  hl_schema_options sopt = {.resolve = resolve_registered, .resolve_data = &rctx};
  for (size_t i = 0; i < res->nschemas; i++) {
    hl_schema_rec *r = &res->schemas[i];
    if (reload && r->domain && r->event_type) {
      char id[512];
      snprintf(id, sizeof id, "%s.%s.v%lld", r->domain, r->event_type, (long long)r->version);
      const hl_schema_entry *e = hl_registry_schema_get(a->reg, id);
      if (e && hl_str_same(e->rec.schema_json, r->schema_json) && hl_str_same(e->rec.status, r->status)) continue;
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
}

void hl_api_schemas_render_metrics(const hl_api *a, hl_buf *out) {
  hl_buf_printf(out, "# HELP hookloop_schema_compiles_total Schemas of registrations compiled and checked against "
                     "their meta-schema, by where they ran (bodies over 64 KiB on the threadpool).\n"
                     "# TYPE hookloop_schema_compiles_total counter\n"
                     "hookloop_schema_compiles_total{where=\"loop\"} %" PRIu64 "\n"
                     "hookloop_schema_compiles_total{where=\"threadpool\"} %" PRIu64 "\n",
                a->schema_compiles_loop, a->schema_compiles_threadpool);
}
