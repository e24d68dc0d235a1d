/* hl_api_partners.c — the partner resource: POST/GET/DELETE /admin/partners,
 * the partner check of a subscription being registered, and loading the
 * partners into the registry before the subscriptions that attach to them.
 *
 * A partner's max_in_flight and rate_limit_per_s form one admission gate
 * shared by all its subscriptions (model/hl_partner.h); 0 is no limit. */
#include "api/hl_api_int.h"
#include "common/hl_common.h"
#include "common/hl_log.h"
#include "model/hl_partner.h"

#include <stdio.h>
#include <string.h>

#define TEXT_MAX 256      /* name, contact */
#define METADATA_MAX 4096 /* the metadata object, encoded */

static void write_partner(hl_jw *w, const hl_partner *p) {
  const hl_partner_rec *r = &p->rec;
  hl_jw_obj_begin(w);
  hl_jw_key(w, "partner_id"); hl_jw_str(w, r->partner_id);
  hl_jw_key(w, "name"); if (r->name) hl_jw_str(w, r->name); else hl_jw_null(w);
  hl_jw_key(w, "contact"); if (r->contact) hl_jw_str(w, r->contact); else hl_jw_null(w);
  hl_jw_key(w, "metadata");
  if (r->metadata_json) hl_jw_raw(w, r->metadata_json, strlen(r->metadata_json)); else hl_jw_null(w);
  hl_jw_key(w, "max_in_flight"); hl_jw_int(w, r->max_in_flight);
  hl_jw_key(w, "rate_limit_per_s"); hl_jw_int(w, r->rate_limit_per_s);
  hl_jw_key(w, "created_at"); hl_jw_int(w, r->created_at);
  /* false: only implied by subscriptions stored before partners existed. */
  hl_jw_key(w, "registered"); hl_jw_bool(w, p->stored);
  hl_jw_key(w, "subscriptions"); hl_jw_int(w, (int64_t)p->subs.n);
  hl_jw_key(w, "in_flight"); hl_jw_int(w, p->gate.in_flight);
  hl_jw_obj_end(w);
}

static void respond_partner(hl_http_req *req, int status, const hl_partner *p) {
  hl_buf b = HL_BUF_INIT;
  hl_jw w;
  hl_jw_init(&w, &b);
  write_partner(&w, p);
  hl_api_respond_buf(req, status, &b);
}

/* --- POST /admin/partners -------------------------------------------------------------- */

typedef struct {
  hl_api *a;
  hl_http_req *req;   /* NULL: written implicitly for a subscription, nobody to answer */
  hl_partner_rec rec;
  int http_status;
} partner_put_ctx;

static void on_partner_put(void *data, int status, hl_store_result *res) {
  partner_put_ctx *c = data;
  (void)res;
  c->a->pending--;
  if (status != 0) {
    if (c->req) hl_api_respond_store_error(c->req, status);
    else
      hl_log_error("writing an implied partner failed; it stays implied by its subscriptions",
                   "\"partner_id\":\"%s\",\"error\":\"%s\"", hl_log_esc(c->rec.partner_id, (size_t)-1),
                   hl_strerror(status));
  } else {
    hl_log_info("partner registered", "\"partner_id\":\"%s\",\"implicit\":%s",
                hl_log_esc(c->rec.partner_id, (size_t)-1), c->req ? "false" : "true");
    hl_partner *p = hl_registry_put_partner(c->a->reg, &c->rec);
    if (c->req) respond_partner(c->req, c->http_status, p);
  }
  hl_partner_rec_free(&c->rec);
  hl_free(c);
}

static void put_partner(hl_api *a, partner_put_ctx *c) {
  a->pending++;
  a->store->vt->partner_put(a->store, &c->rec, on_partner_put, c);
}

/* An optional string member of at most TEXT_MAX bytes into *out. */
static bool text_member(hl_http_req *req, const hl_json *root, const char *key, char **out) {
  const hl_json *v = hl_json_get(root, key);
  if (!v || v->type == HL_JSON_NULL) return true;
  const char *s = hl_api_get_str(root, key);
  if (!s || v->len > TEXT_MAX) {
    char ptr[32], msg[64];
    snprintf(ptr, sizeof ptr, "/%s", key);
    snprintf(msg, sizeof msg, "expected a string of at most %d bytes", TEXT_MAX);
    hl_api_respond_field_error(req, ptr, msg);
    return false;
  }
  *out = hl_strdup(s);
  return true;
}

void hl_api_post_partner(hl_api *a, hl_http_req *req) {
  hl_json_doc doc;
  if (!hl_api_parse_body(req, &doc)) return;
  const hl_json *root = doc.root, *v;
  partner_put_ctx *c = hl_calloc(1, sizeof *c);
  *c = (partner_put_ctx){.a = a, .req = req, .http_status = 201};
  if (root->type != HL_JSON_OBJECT) { hl_api_respond_field_error(req, "", "expected a JSON object"); goto fail; }
  const char *id = hl_api_get_str(root, "partner_id");
  if (!hl_api_name_ok(id, 128)) {
    hl_api_respond_field_error(req, "/partner_id", "required: letters, digits, '.', '_' or '-' (at most 128)");
    goto fail;
  }
  if (!text_member(req, root, "name", &c->rec.name) || !text_member(req, root, "contact", &c->rec.contact)) goto fail;
  if ((v = hl_json_get(root, "metadata")) != NULL && v->type != HL_JSON_NULL) {
    hl_buf mj = HL_BUF_INIT;
    hl_jw w;
    hl_jw_init(&w, &mj);
    hl_jw_value(&w, v);
    c->rec.metadata_json = hl_buf_steal(&mj, NULL);
    if (v->type != HL_JSON_OBJECT || strlen(c->rec.metadata_json) > METADATA_MAX) {
      hl_api_respond_field_error(req, "/metadata", "expected a JSON object of at most 4096 bytes");
      goto fail;
    }
  }
  if (!hl_api_int_member(req, root, "max_in_flight", 0, 100000, &c->rec.max_in_flight) ||
      !hl_api_int_member(req, root, "rate_limit_per_s", 0, 1000000, &c->rec.rate_limit_per_s))
    goto fail;
  c->rec.partner_id = hl_strdup(id);
  c->rec.created_at = hl_wall_ms();
  const hl_partner *old = hl_registry_partner_get(a->reg, id);
  if (old && old->stored) { /* registering again updates it in place */
    c->rec.created_at = old->rec.created_at;
    c->http_status = 200;
  }
  put_partner(a, c);
  hl_json_doc_dispose(&doc);
  return;
fail:
  hl_partner_rec_free(&c->rec);
  hl_free(c);
  hl_json_doc_dispose(&doc);
}

bool hl_api_partner_for_sub(hl_api *a, hl_http_req *req, const char *partner_id) {
  const hl_partner *p = hl_registry_partner_get(a->reg, partner_id);
  if (p && p->stored) return true;
  if (a->opt.require_partners) {
    hl_buf det = HL_BUF_INIT;
    hl_jw w;
    hl_jw_init(&w, &det);
    hl_jw_arr_begin(&w);
    hl_jw_obj_begin(&w);
    hl_jw_key(&w, "path"); hl_jw_str(&w, "/partner_id");
    hl_jw_key(&w, "message"); hl_jw_str(&w, "not a registered partner");
    hl_jw_obj_end(&w);
    hl_jw_arr_end(&w);
    hl_api_respond_error(req, 400, "unknown_partner",
                         "no partner with this id is registered, and HOOKLOOP_REQUIRE_PARTNERS=1 requires one; "
                         "register it with POST /admin/partners first", det.data);
    hl_buf_dispose(&det);
    return false;
  }
  /* Implicitly: a partner row with the id alone (no limits), written
   * alongside the subscription. */
  partner_put_ctx *c = hl_calloc(1, sizeof *c);
  *c = (partner_put_ctx){.a = a};
  c->rec.partner_id = hl_strdup(partner_id);
  c->rec.created_at = hl_wall_ms();
  put_partner(a, c);
  return true;
}

/* --- GET /admin/partners, GET and DELETE /admin/partners/{id} ----------------------------- */

static void list_partner(hl_jw *w, void *v, void *ctx) {
  (void)ctx;
  write_partner(w, v);
}

void hl_api_list_partners(hl_api *a, hl_http_req *req) {
  hl_api_respond_list(req, "partners", &a->reg->partners_by_id, list_partner, NULL);
}

void hl_api_partner_by_id(hl_api *a, hl_http_req *req, const char *id) {
  const hl_partner *p = hl_registry_partner_get(a->reg, id);
  if (!p) {
    hl_api_respond_error(req, 404, "not_found", "no partner with this id; list them with GET /admin/partners", NULL);
    return;
  }
  if (strcmp(req->method, "DELETE") != 0) {
    respond_partner(req, 200, p);
    return;
  }
  if (p->subs.n > 0) {
    /* Its subscriptions would be left naming nobody: they go first. */
    hl_api_respond_error(req, 409, "partner_in_use",
                         "the partner still has subscriptions; delete them first (GET /admin/subscriptions?partner_id=...)",
                         NULL);
    return;
  }
  void *c;
  hl_store_cb cb = hl_api_delete_begin(a, req, id, hl_registry_delete_partner, "partner", &c);
  a->store->vt->partner_delete(a->store, id, cb, c);
}

/* --- loading ----------------------------------------------------------------------------- */

typedef struct {
  hl_api *a;
  bool reload;
  void (*next)(void *data, int status);
  void *data;
} load_ctx;

/* A partner stored no more (deleted by another process): one without
 * subscriptions goes; one with some stays, implied by them, without limits. */
static void forget_unlisted(hl_api *a, const hl_strmap *seen) {
  size_t it = 0, n = 0;
  const char *id;
  void *v;
  char **gone = hl_calloc(hl_strmap_len(&a->reg->partners_by_id) + 1, sizeof *gone);
  while (hl_strmap_next(&a->reg->partners_by_id, &it, &id, &v)) {
    hl_partner *p = v;
    if (!p->stored || hl_strmap_get(seen, id)) continue;
    if (p->subs.n == 0) {
      gone[n++] = hl_strdup(id);
      continue;
    }
    p->stored = false;
    p->rec.max_in_flight = p->rec.rate_limit_per_s = 0;
    hl_gate_config gc;
    hl_partner_gate_config(&p->rec, &gc);
    hl_gate_configure(&p->gate, &gc);
  }
  for (size_t k = 0; k < n; k++) {
    hl_registry_delete_partner(a->reg, gone[k]);
    hl_free(gone[k]);
  }
  hl_free(gone);
}

static void on_partners_loaded(void *data, int status, hl_store_result *res) {
  load_ctx *c = data;
  hl_api *a = c->a;
  if (c->reload && a->frozen) status = HL_ECANCELED;
  hl_strmap seen;
  hl_strmap_init(&seen);
  for (size_t i = 0; status == 0 && i < res->npartners; i++) {
    hl_partner_rec *r = &res->partners[i];
    if (!r->partner_id) continue;
    hl_partner *p = hl_registry_put_partner(a->reg, r);
    hl_strmap_put(&seen, p->rec.partner_id, p);
  }
  if (status == 0 && c->reload) forget_unlisted(a, &seen);
  hl_strmap_dispose(&seen);
  c->next(c->data, status);
  hl_free(c);
}

void hl_api_partners_load(hl_api *a, bool reload, void (*next)(void *data, int status), void *data) {
  load_ctx *c = hl_malloc(sizeof *c);
  *c = (load_ctx){a, reload, next, data};
  a->store->vt->partner_list(a->store, on_partners_loaded, c);
}
