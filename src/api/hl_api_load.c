/* hl_api_load.c — the registry loaded from the store, at start
 * (hl_api_load) and again on every configuration TTL (hl_api_reload):
 * transformations, schemas, partners, then subscriptions, each step
 * started by the one before once it is in, so a subscription finds its
 * schema, its partner and what shapes it. A reload keeps what did not
 * change (a subscription's dispatcher state) and drops what another task
 * deleted. */
#include "api/hl_api.h"
#include "api/hl_api_int.h"
#include "common/hl_common.h"
#include "model/hl_filter.h"
#include "model/hl_retry.h"
#include "schema/hl_schema.h"

typedef struct { hl_api *a; void (*cb)(void *, int); void *data; bool reload; } load_ctx;

/* Ends the load: cb with status, the context freed. */
static void finish(load_ctx *c, int status) {
  c->cb(c->data, status);
  hl_free(c);
}

static void on_subs_loaded(void *data, int status, hl_store_result *res) {
  load_ctx *c = data;
  hl_api *a = c->a;
  if (c->reload && a->frozen) status = HL_ECANCELED;
  if (status == 0) hl_api_subs_loaded(a, res, c->reload);
  a->loaded_at_ms = hl_mono_ms();
  finish(c, status);
}

/* After the partners: the subscriptions, which attach to them. */
static void load_subs(void *data, int status) {
  load_ctx *c = data;
  if (status != 0) {
    finish(c, status);
    return;
  }
  hl_api_sub_list_open(c->a, on_subs_loaded, c);
}

static void on_schemas_loaded(void *data, int status, hl_store_result *res) {
  load_ctx *c = data;
  hl_api *a = c->a;
  if (c->reload && a->frozen) status = HL_ECANCELED; /* closing: a late answer changes nothing */
  if (status != 0) {
    finish(c, status);
    return;
  }
  hl_api_schemas_loaded(a, res, c->reload);
  hl_api_partners_load(a, c->reload, load_subs, c);
}

/* Transformations first: a delivery started once subscriptions are in
 * already finds what shapes it. */
static void load_schemas(void *data, int status) {
  load_ctx *c = data;
  if (status != 0) {
    finish(c, status);
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
