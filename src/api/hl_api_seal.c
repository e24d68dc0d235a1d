/* Subscriptions' credentials at rest: sealed on the way to the store,
 * opened on the way back (model/hl_sub_seal.h), whatever the backend. */
#include "api/hl_api_int.h"
#include "common/hl_common.h"
#include "common/hl_log.h"
#include "model/hl_sub_seal.h"

#include <string.h>

/* A write in flight: listed in hl_api.sub_writes until the store answers. */
struct hl_api_sub_write {
  struct hl_api_sub_write *next;
  hl_api *a;
  char *id;
  hl_store_cb cb;
  void *data;
  hl_api_sub_after_fn after; /* hl_api_sub_after_writes; NULL: none */
};

static struct hl_api_sub_write *write_of(const hl_api *a, const char *id) {
  for (struct hl_api_sub_write *w = a->sub_writes; w; w = w->next)
    if (strcmp(w->id, id) == 0) return w;
  return NULL;
}

static void on_sub_written(void *data, int status, hl_store_result *res) {
  struct hl_api_sub_write *w = data;
  hl_api *a = w->a;
  struct hl_api_sub_write **pp = &a->sub_writes;
  while (*pp != w) pp = &(*pp)->next;
  *pp = w->next;
  hl_store_cb cb = w->cb;
  void *cb_data = w->data;
  hl_api_sub_after_fn after = w->after;
  char *id = w->id;
  hl_free(w);
  cb(cb_data, status, res);
  if (after) {
    /* It waited for this write; it runs after the last one of id. */
    struct hl_api_sub_write *later = write_of(a, id);
    if (later) later->after = after;
    else after(a, id);
  }
  hl_free(id);
}

bool hl_api_sub_after_writes(hl_api *a, const char *id, hl_api_sub_after_fn fn) {
  struct hl_api_sub_write *w = write_of(a, id);
  if (w) w->after = fn;
  return w != NULL;
}

bool hl_api_sub_writing(const hl_api *a, const char *id) { return write_of(a, id) != NULL; }

void hl_api_respond_sub_busy(hl_http_req *req) {
  hl_api_respond_error(req, 409, "subscription_busy",
                       "another change to this subscription is being written; send this one again once it is answered",
                       NULL);
}

void hl_api_sub_store_put(hl_api *a, const hl_sub_rec *rec, hl_store_cb cb, void *data) {
  struct hl_api_sub_write *w = hl_malloc(sizeof *w);
  *w = (struct hl_api_sub_write){a->sub_writes, a, hl_strdup(rec->subscription_id), cb, data, NULL};
  a->sub_writes = w;
  if (!a->opt.sealer) {
    a->store->vt->sub_put(a->store, rec, on_sub_written, w);
    return;
  }
  /* A shallow copy whose sealed fields are its own; the store copies what
   * it is given, so they go once the call returns. */
  hl_sub_rec c = *rec;
  hl_sub_rec_seal(a->opt.sealer, &c);
  a->store->vt->sub_put(a->store, &c, on_sub_written, w);
  hl_sub_rec_seal_release(&c, rec);
}

static void on_resealed(void *data, int status, hl_store_result *res) {
  char *id = data;
  (void)res;
  if (status != 0)
    hl_log_warn("a subscription's credentials could not be sealed again; tried again at the next load",
                "\"subscription_id\":\"%s\",\"status\":%d", hl_log_esc(id, (size_t)-1), status);
  hl_free(id);
}

bool hl_api_sub_open(hl_api *a, hl_sub_rec *r) {
  if (!a->opt.sealer) {
    if (!hl_sub_rec_has_sealed(r)) return true;
    hl_log_error("a subscription's credentials are sealed and neither HOOKLOOP_SECRET_KEY_FILE nor HOOKLOOP_KMS_KEY_ID "
                 "is set; it is not loaded",
                 "\"subscription_id\":\"%s\"", hl_log_esc(r->subscription_id, (size_t)-1));
    return false;
  }
  bool reseal = false;
  hl_buf err = HL_BUF_INIT;
  if (hl_sub_rec_unseal(a->opt.sealer, r, &reseal, &err) != 0) {
    hl_log_error("a subscription's credentials cannot be opened; it is not loaded",
                 "\"subscription_id\":\"%s\",\"error\":\"%s\"", hl_log_esc(r->subscription_id, (size_t)-1),
                 hl_log_esc(err.data, (size_t)-1));
    hl_buf_dispose(&err);
    return false;
  }
  hl_buf_dispose(&err);
  if (reseal) {
    hl_log_info("subscription credentials sealed with the current key", "\"subscription_id\":\"%s\"",
                hl_log_esc(r->subscription_id, (size_t)-1));
    hl_api_sub_store_put(a, r, on_resealed, hl_strdup(r->subscription_id));
  }
  return true;
}

typedef struct {
  hl_api *a;
  hl_store_cb cb;
  void *data;
  hl_store_result res; /* taken from the store's callback */
} list_open_ctx;

static void on_keys_open(void *data, int status, const char *why) {
  (void)why; /* logged by the opener */
  list_open_ctx *c = data;
  c->cb(c->data, status, &c->res);
  hl_store_result_dispose(&c->res);
  c->a->opt.opener->release(c->a->opt.opener);
  hl_free(c);
}

static void on_listed(void *data, int status, hl_store_result *res) {
  list_open_ctx *c = data;
  hl_seal_opener *o = c->a->opt.opener;
  if (status != 0 || !o) {
    c->cb(c->data, status, res);
    hl_free(c);
    return;
  }
  c->res = *res; /* the store frees what is left in res once this returns */
  *res = (hl_store_result){0};
  size_t n = 0;
  char **blobs = hl_calloc(c->res.nsubs * HL_SUB_SEAL_FIELDS + 1, sizeof *blobs);
  for (size_t i = 0; i < c->res.nsubs; i++) {
    const char *b[HL_SUB_SEAL_FIELDS];
    size_t len[HL_SUB_SEAL_FIELDS], k = hl_sub_rec_blobs(&c->res.subs[i], b, len);
    for (size_t j = 0; j < k; j++) blobs[n++] = hl_strndup(b[j], len[j]);
  }
  o->open(o, (const char *const *)blobs, n, on_keys_open, c);
  for (size_t i = 0; i < n; i++) hl_free(blobs[i]);
  hl_free(blobs);
}

void hl_api_sub_list_open(hl_api *a, hl_store_cb cb, void *data) {
  list_open_ctx *c = hl_calloc(1, sizeof *c);
  *c = (list_open_ctx){.a = a, .cb = cb, .data = data};
  a->store->vt->sub_list(a->store, on_listed, c);
}
