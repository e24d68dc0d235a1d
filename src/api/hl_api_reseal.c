/* hl_api_reseal.c — POST /admin/secrets/reseal?batch=N: every stored
 * subscription's credentials sealed again under the key that seals now
 * (the first line of HOOKLOOP_SECRET_KEY_FILE, or this process's current
 * KMS data key), after a key file was rotated or KMS was turned on.
 *
 * One call reads every subscription from the store (opening the data keys
 * their values carry, as a load does), counts those already sealed with
 * the current key, and writes at most `batch` of the others, a few at a
 * time, answering with the counts once they are written. Calling it again
 * continues with what remains ("remaining"); once it is 0 another call
 * writes nothing until the sealing key changes again. The record written
 * is the one just read, opened and sealed again, on the condition that the
 * stored one is still at its revision: when another process changed it
 * between that read and the write, the record is read again and written
 * again from there (a few times at most; then counted failed). */
#include "api/hl_api_int.h"
#include "api/hl_api_respond.h"
#include "common/hl_common.h"
#include "common/hl_log.h"
#include "model/hl_sub_seal.h"

#include <stdlib.h>
#include <string.h>

#define BATCH_DEFAULT 100
#define BATCH_MAX 1000
#define PUTS_IN_FLIGHT 8 /* writes at once: the store's other users keep their turn */
#define PUT_TRIES 5      /* writes of one record that met another process's change */

typedef struct {
  hl_api *a;
  hl_http_req *req;
  size_t batch;
  hl_store_result res; /* the records read (taken from the store's callback) */
  size_t next, in_flight, started;
  size_t examined, resealed, current, failed, remaining;
} reseal_ctx;

static void respond(reseal_ctx *c) {
  const hl_sealer *s = c->a->opt.sealer;
  hl_buf b = HL_BUF_INIT;
  hl_jw w;
  hl_jw_open(&w, &b);
  hl_jw_key(&w, "examined"); hl_jw_int(&w, (int64_t)c->examined);
  hl_jw_key(&w, "resealed"); hl_jw_int(&w, (int64_t)c->resealed);
  hl_jw_key(&w, "already_current"); hl_jw_int(&w, (int64_t)c->current);
  hl_jw_key(&w, "failed"); hl_jw_int(&w, (int64_t)c->failed);
  hl_jw_key(&w, "remaining"); hl_jw_int(&w, (int64_t)c->remaining);
  hl_jw_key(&w, "sealing_key"); hl_jw_str(&w, s->current.blob ? s->current.id : s->keys[0].id);
  hl_jw_obj_end(&w);
  hl_log_info("subscription credentials resealed", "\"examined\":%zu,\"resealed\":%zu,\"failed\":%zu,\"remaining\":%zu",
              c->examined, c->resealed, c->failed, c->remaining);
  hl_api_respond_buf(c->req, 200, &b);
  c->a->pending--;
  hl_store_result_dispose(&c->res);
  hl_free(c);
}

static void pump(reseal_ctx *c);

/* One record's write. */
typedef struct {
  reseal_ctx *c;
  char *id;
  int tries;
} put_ctx;

static void on_put(void *data, int status, hl_store_result *res) {
  (void)res;
  put_ctx *p = data;
  reseal_ctx *c = p->c;
  if (status == HL_ECONFLICT && p->tries < PUT_TRIES) {
    /* Read again by now (hl_api_sub_store_put): the registered record is
     * the stored one, opened; written again, it is sealed with the current
     * key. Gone (deleted meanwhile): nothing left to seal. A write of it
     * on its way (an admin change: it seals it too) is not raced: counted
     * failed, and the next call finds it sealed or seals it. */
    hl_sub *s = hl_registry_sub_get(c->a->reg, p->id);
    if (s && !hl_api_sub_writing(c->a, p->id)) {
      p->tries++;
      hl_api_sub_store_put(c->a, &s->rec, on_put, p);
      return;
    }
    if (s) c->failed++;
  } else if (status == 0) {
    c->resealed++;
  } else {
    c->failed++;
    hl_log_error("a subscription's credentials could not be sealed again", "\"subscription_id\":\"%s\",\"error\":\"%s\"",
                 hl_log_esc(p->id, (size_t)-1), hl_strerror(status));
  }
  c->in_flight--;
  hl_free(p->id);
  hl_free(p);
  pump(c);
}

static void pump(reseal_ctx *c) {
  const hl_sealer *s = c->a->opt.sealer;
  while (c->next < c->res.nsubs && c->in_flight < PUTS_IN_FLIGHT) {
    hl_sub_rec *r = &c->res.subs[c->next++];
    if (!r->subscription_id) continue;
    c->examined++;
    if (hl_sub_rec_sealed_current(s, r)) {
      c->current++;
      continue;
    }
    if (c->started == c->batch) {
      c->remaining++;
      continue;
    }
    bool stale = false;
    hl_buf err = HL_BUF_INIT;
    if (hl_sub_rec_unseal(s, r, &stale, &err) != 0) {
      hl_log_error("a subscription's credentials cannot be opened; not resealed",
                   "\"subscription_id\":\"%s\",\"error\":\"%s\"", hl_log_esc(r->subscription_id, (size_t)-1),
                   hl_log_esc(err.data, (size_t)-1));
      hl_buf_dispose(&err);
      c->failed++;
      continue;
    }
    hl_buf_dispose(&err);
    c->started++;
    c->in_flight++;
    put_ctx *p = hl_malloc(sizeof *p);
    *p = (put_ctx){c, hl_strdup(r->subscription_id), 1};
    hl_api_sub_store_put(c->a, r, on_put, p);
  }
  if (c->next == c->res.nsubs && c->in_flight == 0) respond(c);
}

static void on_listed(void *data, int status, hl_store_result *res) {
  reseal_ctx *c = data;
  if (status != 0) {
    if (status == HL_EREFUSED)
      hl_api_respond_error(c->req, 503, "kms_unavailable",
                           "KMS did not decrypt the data keys the stored credentials carry (the log names its error); "
                           "nothing was changed", NULL);
    else
      hl_api_respond_store_error(c->req, status);
    c->a->pending--;
    hl_free(c);
    return;
  }
  c->res = *res; /* the store frees what is left in res once this returns */
  *res = (hl_store_result){0};
  pump(c);
}

void hl_api_reseal(hl_api *a, hl_http_req *req) {
  /* The request is judged before the state: a bad ?batch is a 400 with
   * its pointer whatever the server's keys. */
  char v[HL_API_QUERY_VALUE_MAX + 1];
  int64_t batch = BATCH_DEFAULT;
  if (hl_api_query_param(req, "batch", v, sizeof v)) {
    char *end = NULL;
    batch = strtoll(v, &end, 10);
    if (!v[0] || *end || batch < 1 || batch > BATCH_MAX) {
      hl_api_respond_field_error(req, "?batch", "an integer from 1 to 1000");
      return;
    }
  }
  if (!a->opt.sealer) {
    hl_api_respond_error(req, 409, "no_sealing_key",
                         "neither HOOKLOOP_SECRET_KEY_FILE nor HOOKLOOP_KMS_KEY_ID is set: nothing seals", NULL);
    return;
  }
  reseal_ctx *c = hl_calloc(1, sizeof *c);
  *c = (reseal_ctx){.a = a, .req = req, .batch = (size_t)batch};
  a->pending++;
  hl_api_sub_list_open(a, on_listed, c);
}
