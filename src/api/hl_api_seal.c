/* Subscriptions' credentials at rest: sealed on the way to the store,
 * opened on the way back (model/hl_sub_seal.h), whatever the backend. */
#include "api/hl_api_int.h"
#include "common/hl_common.h"
#include "common/hl_log.h"
#include "crypto/hl_crypto.h"
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
  char *partner_id, *event_type; /* the record's key: read again after a conflict */
  int64_t revision;              /* the revision the record was based on */
};

static struct hl_api_sub_write *write_of(const hl_api *a, const char *id) {
  for (struct hl_api_sub_write *w = a->sub_writes; w; w = w->next)
    if (strcmp(w->id, id) == 0) return w;
  return NULL;
}

/* Answers the write: off the list, its callback, then what waited for it. */
static void write_done(struct hl_api_sub_write *w, int status, hl_store_result *res) {
  hl_api *a = w->a;
  struct hl_api_sub_write **pp = &a->sub_writes;
  while (*pp != w) pp = &(*pp)->next;
  *pp = w->next;
  hl_store_cb cb = w->cb;
  void *cb_data = w->data;
  hl_api_sub_after_fn after = w->after;
  char *id = w->id;
  int64_t revision = w->revision;
  hl_free_all(w->partner_id, w->event_type, w);
  cb(cb_data, status, res);
  if (status == 0) {
    /* The copy registered now carries the revision it was written as (the
     * callback put a replacement in, or changed it in place). One already
     * read past it (a reload meanwhile) is left as it is. */
    hl_sub *s = hl_registry_sub_get(a->reg, id);
    if (s && s->rec.revision == revision) s->rec.revision = revision + 1;
  }
  if (after) {
    /* It waited for this write; it runs after the last one of id. */
    struct hl_api_sub_write *later = write_of(a, id);
    if (later) later->after = after;
    else after(a, id);
  }
  hl_free(id);
}

/* The subscription of (partner_id, event_type) as stored now, put in the
 * registry in place of this process's copy (gone when the store has none):
 * after another process's change met a write of this one. Its credentials
 * are not written again here (a write of the record would be one more
 * change racing the caller's own try again). */
static void on_refreshed(void *data, int status, hl_store_result *res) {
  struct hl_api_sub_write *w = data;
  hl_api *a = w->a;
  if (status == 0 && !a->frozen) {
    size_t i = 0;
    while (i < res->nsubs && !(hl_str_same(res->subs[i].partner_id, w->partner_id) &&
                               hl_str_same(res->subs[i].event_type, w->event_type)))
      i++;
    if (i < res->nsubs) {
      hl_store_result one = {.subs = &res->subs[i], .nsubs = 1};
      a->sub_open_no_reseal = true;
      a->subs_loaded(a, &one, false); /* takes the record it keeps */
      a->sub_open_no_reseal = false;
    } else {
      const hl_sub_list *l = hl_registry_subs_for_type(a->reg, w->event_type);
      for (size_t k = 0; k < l->n; k++)
        if (strcmp(l->items[k]->rec.partner_id, w->partner_id) == 0) {
          char *gone = hl_strdup(l->items[k]->rec.subscription_id);
          hl_registry_delete_sub(a->reg, gone);
          hl_log_info("subscription removed: deleted by another process", "\"subscription_id\":\"%s\"",
                      hl_log_esc(gone, (size_t)-1));
          hl_free(gone);
          break;
        }
    }
  } else if (status != 0) {
    hl_log_warn("a subscription changed by another process could not be read again; read at the next reload",
                "\"subscription_id\":\"%s\",\"error\":\"%s\"", hl_log_esc(w->id, (size_t)-1), hl_strerror(status));
  }
  hl_store_result empty = {0};
  write_done(w, HL_ECONFLICT, &empty);
}

static void on_sub_written(void *data, int status, hl_store_result *res) {
  struct hl_api_sub_write *w = data;
  if (status == HL_ECONFLICT && !w->a->frozen) {
    /* Another process changed the stored record since this copy was read
     * (or made the pair first): read it now, so that the caller's next try
     * starts from it; answered once it is in. */
    hl_log_info("a subscription write met another process's change; read again",
                "\"subscription_id\":\"%s\"", hl_log_esc(w->id, (size_t)-1));
    hl_api_sub_list_open(w->a, on_refreshed, w);
    return;
  }
  write_done(w, status, res);
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

void hl_api_respond_sub_changed(hl_http_req *req) {
  hl_api_respond_error(req, 409, "subscription_changed",
                       "another process changed this subscription since this one read it; nothing was changed: it "
                       "has been read again, send the request again",
                       NULL);
}

void hl_api_sub_store_put(hl_api *a, const hl_sub_rec *rec, hl_store_cb cb, void *data) {
  struct hl_api_sub_write *w = hl_malloc(sizeof *w);
  *w = (struct hl_api_sub_write){a->sub_writes, a, hl_strdup(rec->subscription_id), cb, data, NULL,
                                 hl_strdup(rec->partner_id), hl_strdup(rec->event_type), rec->revision};
  a->sub_writes = w;
  /* A shallow copy with this write's own token (a retry of it that finds
   * it committed is not taken for another process's change) and, with a
   * sealer, sealed fields of its own; the store copies what it is given,
   * so they go once the call returns. */
  hl_sub_rec c = *rec;
  c.write_token = hl_random_id("wt_");
  if (a->opt.sealer) hl_sub_rec_seal(a->opt.sealer, &c);
  a->store->vt->sub_put(a->store, &c, on_sub_written, w);
  hl_free(c.write_token);
  c.write_token = rec->write_token;
  if (a->opt.sealer) hl_sub_rec_seal_release(&c, rec);
}

static void on_resealed(void *data, int status, hl_store_result *res) {
  char *id = data;
  (void)res;
  if (status == HL_ECONFLICT)
    hl_log_info("a subscription's credentials were not sealed again: another process changed it; tried again at "
                "the next load", "\"subscription_id\":\"%s\"", hl_log_esc(id, (size_t)-1));
  else if (status != 0)
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
  if (reseal && !a->sub_open_no_reseal) {
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
