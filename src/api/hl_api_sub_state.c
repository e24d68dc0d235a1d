/* hl_api_sub_state.c — a subscription's delivery state: auto-disable
 * recorded in the store (and announced as a subscription.disabled event to
 * the operator's subscriptions), and POST /admin/subscriptions/{id}/enable
 * resuming the backlog. The breaker in a subscription's answers is
 * hl_api_subs.c's (hl_api_write_sub_state).
 *
 * The dispatcher decides when to disable (hl_dispatch_options.
 * disable_after_failures) and calls hl_api_sub_disabled; the status is set
 * in the registry once the store holds it, and the registry tells the
 * dispatcher (HL_REG_SUB_STATUS). */
#include "api/hl_api_int.h"
#include "common/hl_common.h"
#include "common/hl_log.h"
#include "crypto/hl_crypto.h"

#include <stdio.h>
#include <string.h>

/* Writes s with another status: the store copies the record during the
 * call, so the registry's own is lent, not copied (a field added to
 * subscriptions is written too), its credentials sealed as every write. */
static void put_with_status(hl_api *a, hl_sub *s, const char *status, hl_store_cb cb, void *data) {
  char *keep = s->rec.status;
  s->rec.status = (char *)status;
  a->pending++;
  hl_api_sub_store_put(a, &s->rec, cb, data);
  s->rec.status = keep;
}

/* Whether s is still the registered subscription of its id. */
static bool registered(hl_api *a, hl_sub *s) {
  return !s->deleted && hl_registry_sub_get(a->reg, s->rec.subscription_id) == s;
}

/* --- the subscription.disabled event ------------------------------------------------- */

typedef struct { hl_api *a; char *id; char *body; char **subs; size_t nsubs; } event_ctx;

static void on_event_accepted(void *data, int status, hl_store_result *res) {
  event_ctx *c = data;
  (void)res;
  c->a->pending--;
  if (status != 0 && status != HL_EEXISTS)
    hl_log_error("the subscription.disabled event could not be queued", "\"event_id\":\"%s\",\"error\":\"%s\"", c->id,
                 hl_strerror(status));
  for (size_t i = 0; i < c->nsubs; i++) hl_free(c->subs[i]);
  hl_free(c->subs);
  hl_free(c->body);
  hl_free(c->id);
  hl_free(c);
}

/* Queued like any accepted event, for every subscription to
 * HL_EVENT_SUBSCRIPTION_DISABLED. */
static void announce_disabled(hl_api *a, const hl_sub *s) {
  const hl_sub_list *l = hl_registry_subs_for_type(a->reg, HL_EVENT_SUBSCRIPTION_DISABLED);
  if (l->n == 0 || !a->queue) return;
  event_ctx *c = hl_calloc(1, sizeof *c);
  c->a = a;
  c->id = hl_random_id("evt_");
  c->subs = hl_calloc(l->n, sizeof *c->subs);
  for (size_t i = 0; i < l->n; i++) c->subs[c->nsubs++] = hl_strdup(l->items[i]->rec.subscription_id);
  hl_buf b = HL_BUF_INIT;
  hl_jw w;
  hl_jw_init(&w, &b);
  hl_jw_obj_begin(&w);
  hl_jw_key(&w, "eventHeader");
  hl_jw_obj_begin(&w);
  hl_jw_key(&w, "uuid"); hl_jw_str(&w, c->id);
  hl_jw_key(&w, "eventType"); hl_jw_str(&w, HL_EVENT_SUBSCRIPTION_DISABLED);
  hl_jw_key(&w, "createdAt"); hl_jw_int(&w, hl_wall_ms());
  hl_jw_obj_end(&w);
  hl_jw_key(&w, "subscription_id"); hl_jw_str(&w, s->rec.subscription_id);
  hl_jw_key(&w, "partner_id"); hl_jw_str(&w, s->rec.partner_id);
  hl_jw_key(&w, "event_type"); hl_jw_str(&w, s->rec.event_type);
  hl_jw_key(&w, "consecutive_failures"); hl_jw_int(&w, s->gate->streak);
  hl_jw_obj_end(&w);
  size_t len = 0;
  c->body = hl_buf_steal(&b, &len);
  char topic[256];
  snprintf(topic, sizeof topic, "%s.%s", a->opt.ingress_prefix, HL_EVENT_SUBSCRIPTION_DISABLED);
  hl_eq_accept ev = {.event_id = c->id, .event_type = HL_EVENT_SUBSCRIPTION_DISABLED, .body = c->body,
                     .body_len = len, .subscription_ids = (const char *const *)c->subs, .nsubs = c->nsubs};
  a->pending++;
  a->queue->vt->accept(a->queue, &ev, topic, on_event_accepted, c);
}

/* --- disabling --------------------------------------------------------------------------- */

typedef struct { hl_api *a; hl_sub *s; hl_http_req *req; int tries; } state_ctx;

/* Tries of an auto-disable whose write met another process's change (each
 * after the record was read again). */
#define DISABLE_TRIES 5

static void disable_try(hl_api *a, hl_sub *s, int tries);
static void disable_after_writes(hl_api *a, const char *id);

static void on_disabled_stored(void *data, int status, hl_store_result *res) {
  state_ctx *c = data;
  (void)res;
  c->a->pending--;
  if (status == HL_ECONFLICT && c->tries < DISABLE_TRIES) {
    /* Another process changed the subscription: read again by now
     * (hl_api_sub_store_put), the disable goes to the record registered
     * now, unless that one is disabled already or gone. */
    hl_sub *now = hl_registry_sub_get(c->a->reg, c->s->rec.subscription_id);
    if (now && !c->a->frozen && !now->deleted && !hl_sub_disabled(now)) {
      hl_log_info("recording a subscription disabled met another process's change; tried again",
                  "\"subscription_id\":\"%s\",\"try\":%d", now->rec.subscription_id, c->tries + 1);
      if (!hl_api_sub_after_writes(c->a, now->rec.subscription_id, disable_after_writes))
        disable_try(c->a, now, c->tries + 1);
    }
  } else if (status != 0) {
    /* The dispatcher keeps holding its deliveries back (the streak is
     * counted); enabling it clears that. */
    hl_log_error("recording a subscription disabled failed", "\"subscription_id\":\"%s\",\"error\":\"%s\"",
                 c->s->rec.subscription_id, hl_strerror(status));
  } else if (registered(c->a, c->s) && !hl_sub_disabled(c->s)) {
    hl_registry_sub_status(c->a->reg, c->s, "DISABLED");
    announce_disabled(c->a, c->s);
  }
  hl_sub_unref(c->a->reg, c->s);
  hl_free(c);
}

/* A disable that waited for a write of its subscription: it goes to the
 * subscription registered now (the write may have replaced it). */
static void disable_after_writes(hl_api *a, const char *id) {
  hl_sub *s = hl_registry_sub_get(a->reg, id);
  if (s && !a->frozen && !s->deleted && !hl_sub_disabled(s)) hl_api_sub_disabled(a, s);
}

static void disable_try(hl_api *a, hl_sub *s, int tries) {
  state_ctx *c = hl_malloc(sizeof *c);
  *c = (state_ctx){a, s, NULL, tries};
  hl_sub_ref(s);
  put_with_status(a, s, "DISABLED", on_disabled_stored, c);
}

void hl_api_sub_disabled(hl_api *a, hl_sub *s) {
  if (hl_api_sub_after_writes(a, s->rec.subscription_id, disable_after_writes)) return;
  disable_try(a, s, 1);
}

/* --- POST /admin/subscriptions/{id}/enable --------------------------------------------------- */

static void on_enabled_stored(void *data, int status, hl_store_result *res) {
  state_ctx *c = data;
  (void)res;
  c->a->pending--;
  if (status == HL_ECONFLICT) {
    hl_api_respond_sub_changed(c->req);
  } else if (status != 0) {
    hl_api_respond_store_error(c->req, status);
  } else if (!registered(c->a, c->s)) {
    hl_api_respond_error(c->req, 404, "not_found", "the subscription was deleted meanwhile", NULL);
  } else {
    /* ACTIVE again (also when it was only held back): the registry tells
     * the dispatcher, which closes the breaker and claims the backlog. */
    hl_registry_sub_status(c->a->reg, c->s, "ACTIVE");
    hl_log_info("subscription enabled", "\"subscription_id\":\"%s\"", c->s->rec.subscription_id);
    hl_buf b = HL_BUF_INIT;
    hl_jw w;
    hl_jw_init(&w, &b);
    hl_api_write_sub(&w, c->s);
    hl_api_respond_buf(c->req, 200, &b);
  }
  hl_sub_unref(c->a->reg, c->s);
  hl_free(c);
}

void hl_api_enable_sub(hl_api *a, hl_http_req *req, const char *id) {
  hl_sub *s = hl_api_sub_or_404(a, req, id);
  if (!s) return;
  if (hl_api_sub_writing(a, id)) {
    hl_api_respond_sub_busy(req);
    return;
  }
  state_ctx *c = hl_malloc(sizeof *c);
  *c = (state_ctx){a, s, req, 1};
  hl_sub_ref(s);
  put_with_status(a, s, "ACTIVE", on_enabled_stored, c);
}
