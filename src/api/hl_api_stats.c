/* hl_api_stats.c — GET /admin/stats. Everything is read from memory on the
 * loop (the metrics, the queue's backlog counter, the registry's
 * subscriptions with the dispatcher's counts): no store query, so an
 * operator's page polling it every few seconds costs the loop next to
 * nothing. Figures this process does not keep are null, never 0. */
#include "api/hl_api_stats.h"
#include "api/hl_api_int.h"
#include "common/hl_common.h"

static void counter(hl_jw *w, const char *name, uint64_t v) {
  hl_jw_key(w, name);
  hl_jw_int(w, (int64_t)v);
}

void hl_api_stats(hl_api *a, hl_http_req *req) {
  hl_buf b = HL_BUF_INIT;
  hl_jw w;
  hl_jw_open(&w, &b);
  hl_jw_key(&w, "now_ms"); hl_jw_int(&w, hl_wall_ms());
  hl_jw_key(&w, "store"); hl_jw_str(&w, a->opt.store_name ? a->opt.store_name : a->store->vt->name);
  hl_jw_key(&w, "queue"); hl_jw_str(&w, hl_api_queue_name(a));
  hl_jw_key(&w, "backlog");
  int64_t backlog = hl_api_backlog(a);
  if (backlog >= 0) hl_jw_int(&w, backlog); else hl_jw_null(&w);
  hl_jw_key(&w, "in_flight");
  if (a->dispatch) hl_jw_int(&w, a->dispatch->in_flight); else hl_jw_null(&w);
  hl_jw_key(&w, "in_memory");
  if (a->dispatch) hl_jw_int(&w, a->dispatch->in_memory); else hl_jw_null(&w);
  hl_jw_key(&w, "counters");
  const hl_metrics *m = a->opt.metrics;
  if (m) {
    hl_jw_obj_begin(&w);
    counter(&w, "events_accepted", m->events_accepted);
    counter(&w, "events_processed", m->events_processed);
    counter(&w, "deliveries_success", m->deliveries_success);
    counter(&w, "deliveries_retry", m->deliveries_retry);
    counter(&w, "deliveries_failed", m->deliveries_failed);
    counter(&w, "deliveries_duplicate", m->deliveries_duplicate);
    counter(&w, "events_to_retry", m->events_to_retry);
    counter(&w, "events_to_dlq", m->events_to_dlq);
    counter(&w, "retry_attempts", m->retry_attempts);
    hl_jw_obj_end(&w);
  } else {
    hl_jw_null(&w);
  }
  hl_jw_key_arr(&w, "subscriptions");
  size_t it = 0;
  void *v;
  while (hl_strmap_next(&a->reg->subs_by_id, &it, NULL, &v)) {
    const hl_sub *s = v;
    hl_jw_obj_begin(&w);
    hl_jw_key(&w, "subscription_id"); hl_jw_str(&w, s->rec.subscription_id);
    hl_jw_key(&w, "partner_id"); hl_jw_str(&w, s->rec.partner_id);
    hl_jw_key(&w, "event_type"); hl_jw_str(&w, s->rec.event_type);
    hl_jw_key(&w, "status"); hl_jw_str(&w, s->rec.status ? s->rec.status : "ACTIVE");
    hl_jw_key(&w, "in_flight");
    if (a->dispatch) hl_jw_int(&w, s->gate->in_flight); else hl_jw_null(&w);
    hl_jw_key(&w, "in_memory");
    if (a->dispatch) hl_jw_int(&w, hl_dispatch_sub_in_memory(s)); else hl_jw_null(&w);
    hl_jw_obj_end(&w);
  }
  hl_jw_arr_end(&w);
  hl_jw_obj_end(&w);
  hl_api_respond_buf(req, 200, &b);
}
