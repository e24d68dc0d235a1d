/* hl_app_retention.c — see hl_app_retention.h. */
#include "app/hl_app_retention.h"
#include "common/hl_common.h"
#include "common/hl_log.h"

struct hl_app_retention {
  uv_timer_t timer;
  hl_store *store;
  hl_queue *queue;                 /* swept instead when the store has no purge (hl_queue.h, sweep) */
  int64_t delivered_ms, failed_ms; /* how long each kind is kept */
  uint64_t tick_ms;
  bool busy;                       /* a batch is in flight */
  bool closing, timer_closed;
  void (*close_cb)(void *data);
  void *close_data;
  uint64_t purged_deliveries, purged_attempts, purged_events, purged_ledger, closed;
};

static void on_tick(uv_timer_t *t);

static void maybe_closed(hl_app_retention *r) {
  if (!r->closing || !r->timer_closed || r->busy) return;
  hl_free_then_call(r, r->close_cb, r->close_data);
}

static void on_purged(void *data, int status, hl_store_result *res) {
  hl_app_retention *r = data;
  r->busy = false;
  uint64_t delay = r->tick_ms;
  if (status == 0) {
    r->purged_deliveries += (uint64_t)res->purged.deliveries;
    r->purged_attempts += (uint64_t)res->purged.attempts;
    r->purged_events += (uint64_t)res->purged.events;
    r->purged_ledger += (uint64_t)res->purged.ledger;
    r->closed += (uint64_t)res->purged.closed;
    if (res->purged.deliveries + res->purged.events + res->purged.ledger > 0)
      hl_log_info("retention purged", "\"deliveries\":%lld,\"attempts\":%lld,\"events\":%lld,\"ledger\":%lld",
                  (long long)res->purged.deliveries, (long long)res->purged.attempts,
                  (long long)res->purged.events, (long long)res->purged.ledger);
    if (res->purged.closed > 0)
      hl_log_info("open deliveries of deleted subscriptions set FAILED", "\"deliveries\":%lld",
                  (long long)res->purged.closed);
    /* A full batch: more is waiting, come back soon (still one at a time).
     * Attempt rows count too: those without a delivery row (the inbox's)
     * go a batch at a time of their own, and an inbox that logs more than
     * a batch a minute would otherwise outgrow the purge. */
    if (res->purged.deliveries >= HL_RETENTION_BATCH || res->purged.events >= HL_RETENTION_BATCH ||
        res->purged.ledger >= HL_RETENTION_BATCH || res->purged.closed >= HL_RETENTION_BATCH ||
        res->purged.attempts >= HL_RETENTION_BATCH)
      delay = HL_RETENTION_CATCH_UP_MS < delay ? HL_RETENTION_CATCH_UP_MS : delay;
  } else {
    hl_log_warn("retention: a purge batch failed; the next tick tries again", "\"status\":%d", status);
  }
  if (r->closing) maybe_closed(r);
  else uv_timer_start(&r->timer, on_tick, delay, 0);
}

static void on_tick(uv_timer_t *t) {
  hl_app_retention *r = t->data;
  if (r->busy || r->closing) return;
  int64_t now = (int64_t)hl_wall_ms();
  hl_store_purge p = {.delivered_before_ms = now - r->delivered_ms, .failed_before_ms = now - r->failed_ms,
                      .now_s = now / 1000, .limit = HL_RETENTION_BATCH, .close_deleted = true, .now_ms = now};
  r->busy = true;
  if (r->store->vt->purge) r->store->vt->purge(r->store, &p, on_purged, r);
  else r->queue->vt->sweep(r->queue, &p, on_purged, r);
}

int64_t hl_app_retention_idempotency_ttl_s(const hl_config *cfg) {
  int64_t s = cfg->retention_days * cfg->retention_unit_ms / 1000;
  return s > 0 ? s : 1;
}

hl_app_retention *hl_app_retention_start(uv_loop_t *loop, hl_store *store, hl_queue *queue, const hl_config *cfg) {
  if (!store->vt->purge && !(queue && queue->vt->sweep)) return NULL;
  hl_app_retention *r = hl_calloc(1, sizeof *r);
  r->store = store;
  r->queue = queue;
  r->delivered_ms = cfg->retention_days * cfg->retention_unit_ms;
  r->failed_ms = cfg->retention_failed_days * cfg->retention_unit_ms;
  r->tick_ms = (uint64_t)cfg->retention_unit_ms < HL_RETENTION_TICK_MS ? (uint64_t)cfg->retention_unit_ms
                                                                          : HL_RETENTION_TICK_MS;
  uv_timer_init(loop, &r->timer);
  r->timer.data = r;
  /* Nothing else waits on it: the timer alone does not keep the loop up. */
  uv_unref((uv_handle_t *)&r->timer);
  uv_timer_start(&r->timer, on_tick, r->tick_ms, 0);
  return r;
}

static void render_purged(const hl_app_retention *r, hl_buf *out) {
  hl_buf_puts(out, "# HELP hookloop_retention_purged_total Rows deleted by retention, by kind.\n"
                   "# TYPE hookloop_retention_purged_total counter\n");
  hl_buf_printf(out, "hookloop_retention_purged_total{kind=\"delivery\"} %llu\n",
                (unsigned long long)r->purged_deliveries);
  hl_buf_printf(out, "hookloop_retention_purged_total{kind=\"attempt\"} %llu\n",
                (unsigned long long)r->purged_attempts);
  hl_buf_printf(out, "hookloop_retention_purged_total{kind=\"event\"} %llu\n", (unsigned long long)r->purged_events);
  hl_buf_printf(out, "hookloop_retention_purged_total{kind=\"ledger\"} %llu\n", (unsigned long long)r->purged_ledger);
}

void hl_app_retention_render_metrics(const hl_app_retention *r, hl_buf *out) {
  if (!r) return;
  if (r->store->vt->purge) render_purged(r, out); /* a queue's sweep purges nothing */
  hl_buf_puts(out, "# HELP hookloop_deleted_subscription_deliveries_closed_total Open deliveries of deleted "
                   "subscriptions set FAILED by retention.\n"
                   "# TYPE hookloop_deleted_subscription_deliveries_closed_total counter\n");
  hl_buf_printf(out, "hookloop_deleted_subscription_deliveries_closed_total %llu\n", (unsigned long long)r->closed);
}

static void on_timer_closed(uv_handle_t *h) {
  hl_app_retention *r = h->data;
  r->timer_closed = true;
  maybe_closed(r);
}

void hl_app_retention_close(hl_app_retention *r, void (*cb)(void *data), void *data) {
  if (!r) {
    if (cb) cb(data);
    return;
  }
  r->closing = true;
  r->close_cb = cb;
  r->close_data = data;
  uv_timer_stop(&r->timer);
  uv_close((uv_handle_t *)&r->timer, on_timer_closed);
}
