/* hl_api_xform.c — the admin API's transformations (docs/transformations.md):
 * registered per event type or per subscription, checked (compiled) before
 * they are stored, versioned (each registration is the next version; a
 * stored version never changes), loaded into the registry at start and on
 * every configuration TTL. Routed by hl_api.c. */
#include "api/hl_api.h"
#include "api/hl_api_int.h"
#include "api/hl_api_respond.h"
#include "common/hl_common.h"
#include "common/hl_log.h"
#include "model/hl_xform_reg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XFORM_ID_MAX 320

static void write_xform(hl_jw *w, const hl_xform_rec *r, bool with_spec) {
  hl_jw_obj_begin(w);
  hl_jw_key(w, "transformation_id"); hl_jw_str(w, r->transformation_id);
  const char *colon = strchr(r->transformation_id, ':');
  if (colon) {
    bool type = strncmp(r->transformation_id, "event_type:", 11) == 0;
    hl_jw_key(w, type ? "event_type" : "subscription_id"); hl_jw_str(w, colon + 1);
  }
  hl_jw_key(w, "version"); hl_jw_int(w, r->version);
  hl_jw_key(w, "created_at"); hl_jw_int(w, r->created_at);
  hl_jw_key(w, "removed"); hl_jw_bool(w, r->spec_json == NULL);
  if (with_spec) {
    hl_jw_key(w, "spec");
    if (r->spec_json) hl_jw_raw(w, r->spec_json, strlen(r->spec_json)); else hl_jw_null(w);
  }
  hl_jw_obj_end(w);
}

typedef struct {
  hl_api *a;
  hl_http_req *req;
  hl_xform_rec rec;
  hl_transform *prog;
} xform_put_ctx;

static void on_xform_put(void *data, int status, hl_store_result *res) {
  xform_put_ctx *c = data;
  (void)res;
  c->a->pending--;
  if (status == HL_EEXISTS) {
    /* Another registration took this version first (another instance). */
    hl_api_respond_error(c->req, 409, "conflict",
                         "this transformation was registered concurrently; read it and register again", NULL);
  } else if (status != 0) {
    hl_api_respond_store_error(c->req, status);
  } else {
    hl_buf b = HL_BUF_INIT;
    hl_jw w;
    hl_jw_init(&w, &b);
    write_xform(&w, &c->rec, true);
    hl_log_info("transformation registered", "\"transformation_id\":\"%s\",\"version\":%lld",
                hl_log_esc(c->rec.transformation_id, (size_t)-1), (long long)c->rec.version);
    hl_registry_put_xform(c->a->reg, &c->rec, c->prog);
    c->prog = NULL;
    hl_api_respond_buf(c->req, 201, &b);
  }
  hl_xform_rec_free(&c->rec);
  hl_transform_free(c->prog);
  hl_free(c);
}

/* The target of a registration: exactly one of event_type and
 * subscription_id. Answers 400 itself and returns false when neither or
 * both are given, or the subscription is unknown. */
static bool target_of(hl_api *a, hl_http_req *req, const hl_json *root, char *id, size_t cap) {
  const char *type = hl_api_get_str(root, "event_type"), *sub = hl_api_get_str(root, "subscription_id");
  bool has_type = hl_json_get(root, "event_type") != NULL, has_sub = hl_json_get(root, "subscription_id") != NULL;
  if (has_type == has_sub) {
    hl_api_respond_field_error(req, "", "give exactly one of event_type (every subscription of the type) and "
                               "subscription_id (one subscription)");
    return false;
  }
  if (has_type) {
    if (!hl_api_name_ok(type, 128)) {
      hl_api_respond_field_error(req, "/event_type", "expected letters, digits, '.', '_' or '-' (at most 128)");
      return false;
    }
    hl_xform_id_for_type(id, cap, type);
    return true;
  }
  if (!sub || !hl_registry_sub_get(a->reg, sub)) {
    hl_api_respond_field_error(req, "/subscription_id",
                               "no subscription with this id; list them with GET /admin/subscriptions");
    return false;
  }
  hl_xform_id_for_sub(id, cap, sub);
  return true;
}

void hl_api_post_transformation(hl_api *a, hl_http_req *req) {
  hl_json_doc doc;
  if (!hl_api_parse_body(req, &doc)) return;
  const hl_json *root = doc.root;
  char id[XFORM_ID_MAX];
  if (root->type != HL_JSON_OBJECT) {
    hl_api_respond_field_error(req, "", "expected a JSON object");
    goto done;
  }
  /* A misspelt member (subscriptionid) would otherwise register the
   * transformation for every subscription of the type. */
  for (uint32_t i = 0; i < root->len; i++) {
    const hl_json_member *m = &root->u.members[i];
    if (strcmp(m->key, "event_type") == 0 || strcmp(m->key, "subscription_id") == 0 || strcmp(m->key, "spec") == 0)
      continue;
    hl_buf ptr = HL_BUF_INIT;
    hl_json_pointer_append(&ptr, m->key, m->key_len);
    hl_api_respond_field_error(req, ptr.data, "unknown member (event_type, subscription_id and spec are)");
    hl_buf_dispose(&ptr);
    goto done;
  }
  if (!target_of(a, req, root, id, sizeof id)) goto done;
  const hl_json *spec = hl_json_get(root, "spec");
  if (!spec) {
    hl_api_respond_field_error(req, "/spec", "required: a transformation spec, or null to remove the transformation");
    goto done;
  }
  const hl_xform_entry *cur = hl_registry_xform_get(a->reg, id);
  hl_transform *prog = NULL;
  if (spec->type == HL_JSON_NULL) {
    if (!cur || !cur->prog) {
      hl_api_respond_error(req, 404, "not_found", "no transformation is registered for this target", NULL);
      goto done;
    }
  } else {
    hl_transform_error err = {0};
    if (hl_transform_compile_json(spec, &prog, &err) != 0) {
      /* The pointer of the offending operation, from the request's root. */
      char path[300];
      snprintf(path, sizeof path, "/spec%.250s", err.path);
      hl_api_respond_field_error(req, path, err.message);
      goto done;
    }
  }
  xform_put_ctx *c = hl_calloc(1, sizeof *c);
  c->a = a;
  c->req = req;
  c->prog = prog;
  c->rec.transformation_id = hl_strdup(id);
  c->rec.version = cur ? cur->rec.version + 1 : 1;
  if (prog) {
    hl_buf sj = HL_BUF_INIT;
    hl_json_write_src(&sj, spec); /* constants keep their source text (123.4500) */
    c->rec.spec_json = hl_buf_steal(&sj, NULL);
  }
  c->rec.created_at = hl_wall_ms();
  a->pending++;
  a->store->vt->xform_put(a->store, &c->rec, on_xform_put, c);
done:
  hl_json_doc_dispose(&doc);
}

static void list_xform(hl_jw *w, void *v, void *ctx) {
  (void)ctx;
  write_xform(w, &((hl_xform_entry *)v)->rec, false);
}

void hl_api_list_transformations(hl_api *a, hl_http_req *req) {
  hl_api_respond_list(req, "transformations", &a->reg->xforms, list_xform, NULL);
}

void hl_api_get_transformation(hl_api *a, hl_http_req *req, const char *id) {
  const hl_xform_entry *e = hl_registry_xform_get(a->reg, id);
  if (!e) {
    hl_api_respond_error(req, 404, "not_found",
                         "no transformation with this id; list them with GET /admin/transformations", NULL);
    return;
  }
  hl_buf b = HL_BUF_INIT;
  hl_jw w;
  hl_jw_init(&w, &b);
  write_xform(&w, &e->rec, true);
  hl_api_respond_buf(req, 200, &b);
}

void hl_api_write_xform_used(hl_jw *w, const char *used) {
  hl_jw_arr_begin(w);
  for (const char *p = used; p && *p;) {
    const char *end = strchr(p, ',');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    const char *at = NULL;
    for (size_t k = 0; k < n; k++)
      if (p[k] == '@') at = p + k;
    hl_jw_obj_begin(w);
    hl_jw_key(w, "transformation_id"); hl_jw_strn(w, p, at ? (size_t)(at - p) : n);
    hl_jw_key(w, "version"); hl_jw_int(w, at ? strtoll(at + 1, NULL, 10) : 0);
    hl_jw_obj_end(w);
    p = end ? end + 1 : p + n;
  }
  hl_jw_arr_end(w);
}

/* --- loading -------------------------------------------------------------------- */

typedef struct {
  hl_api *a;
  bool reload;
  void (*then)(void *data, int status);
  void *data;
} xload_ctx;

static void on_xforms_listed(void *data, int status, hl_store_result *res) {
  xload_ctx *c = data;
  hl_api *a = c->a;
  for (size_t i = 0; status == 0 && !(c->reload && a->frozen) && i < res->nxforms; i++) {
    hl_xform_rec *r = &res->xforms[i];
    if (!r->transformation_id) continue;
    const hl_xform_entry *cur = hl_registry_xform_get(a->reg, r->transformation_id);
    if (cur && cur->rec.version >= r->version) continue; /* listed in version order: the last one stays */
    hl_transform *prog = NULL;
    hl_transform_error err = {0};
    if (r->spec_json && hl_transform_compile(r->spec_json, strlen(r->spec_json), &prog, &err) != 0) {
      /* It compiled when registered; only a store edited by hand gets here.
       * The version is kept without a program, so deliveries go out as
       * accepted rather than shaped by an older version. */
      hl_log_error("a stored transformation does not compile", "\"transformation_id\":\"%s\",\"version\":%lld,"
                   "\"path\":\"%s\",\"error\":\"%s\"", hl_log_esc(r->transformation_id, (size_t)-1),
                   (long long)r->version, hl_log_esc(err.path, (size_t)-1), hl_log_esc(err.message, (size_t)-1));
    }
    hl_registry_put_xform(a->reg, r, prog);
  }
  c->then(c->data, status);
  hl_free(c);
}

void hl_api_load_xforms(hl_api *a, bool reload, void (*then)(void *data, int status), void *data) {
  if (!a->store->vt->xform_list) {
    then(data, 0);
    return;
  }
  xload_ctx *c = hl_malloc(sizeof *c);
  *c = (xload_ctx){a, reload, then, data};
  a->store->vt->xform_list(a->store, on_xforms_listed, c);
}
