#include "handlers/hl_outcome_log.h"
#include "common/hl_buf.h"
#include "common/hl_common.h"
#include "common/hl_log.h"

#include <string.h>

struct hl_outcome_counts {
  char *subscription_id;        /* owned */
  hl_outcome_counts *next;
  unsigned by_outcome[4];       /* indexed by hl_outcome */
  long status[HL_OUTCOME_LOG_STATUSES]; /* the distinct codes seen, 0 for "no HTTP answer" */
  unsigned status_n[HL_OUTCOME_LOG_STATUSES];
  unsigned nstatus;
  unsigned status_other;
  unsigned requests;            /* attempts that were sent (latency counted) */
  double latency_sum_ms, latency_max_ms;
};

static const char *const outcome_name[] = {"success", "duplicate", "retry", "failed"};

static void on_timer(uv_timer_t *t) { hl_outcome_log_flush(t->data); }

void hl_outcome_log_init(hl_outcome_log *l, uv_loop_t *loop, uint64_t interval_ms) {
  *l = (hl_outcome_log){.interval_ms = interval_ms ? interval_ms : HL_OUTCOME_LOG_INTERVAL_MS};
  l->tail = &l->list;
  hl_strmap_init(&l->by_sub);
  uv_timer_init(loop, &l->timer);
  uv_unref((uv_handle_t *)&l->timer);
  l->timer.data = l;
  l->started = true;
}

static unsigned total(const hl_outcome_counts *c) {
  return c->by_outcome[0] + c->by_outcome[1] + c->by_outcome[2] + c->by_outcome[3];
}

static hl_outcome_counts *counts_of(hl_outcome_log *l, const char *sub) {
  hl_outcome_counts *c = hl_strmap_get(&l->by_sub, sub);
  if (c) return c;
  c = hl_calloc(1, sizeof *c);
  c->subscription_id = hl_strdup(sub);
  hl_strmap_put(&l->by_sub, sub, c);
  *l->tail = c;
  l->tail = &c->next;
  return c;
}

static void count(hl_outcome_log *l, const hl_outcome_info *o) {
  hl_outcome_counts *c = counts_of(l, o->subscription_id ? o->subscription_id : "");
  if (!l->armed) {
    l->armed = true;
    l->window_start_ms = hl_wall_ms();
    uv_timer_start(&l->timer, on_timer, l->interval_ms, 0);
  }
  c->by_outcome[o->outcome]++;
  if (o->outcome == HL_OUTCOME_DUPLICATE) return; /* no request was made */
  unsigned i = 0;
  while (i < c->nstatus && c->status[i] != o->status_code) i++;
  if (i == c->nstatus && c->nstatus < HL_OUTCOME_LOG_STATUSES) c->status[c->nstatus++] = o->status_code;
  if (i < c->nstatus) c->status_n[i]++;
  else c->status_other++;
  double ms = o->latency_s * 1000.0;
  c->requests++;
  c->latency_sum_ms += ms;
  if (ms > c->latency_max_ms) c->latency_max_ms = ms;
}

void hl_outcome_log_attempt(hl_outcome_log *l, const hl_outcome_info *o, const char *trace) {
  hl_log_level lvl = o->outcome == HL_OUTCOME_FAILED ? HL_LOG_WARN
                     : o->outcome == HL_OUTCOME_RETRY ? HL_LOG_INFO : HL_LOG_DEBUG;
  if (lvl >= hl_log_get_level()) {
    hl_log_write(lvl, "delivery attempt",
                 "\"event_id\":\"%s\",\"subscription_id\":\"%s\",\"trace\":\"%s\",\"outcome\":\"%s\","
                 "\"attempt\":%d,\"status_code\":%ld,\"latency_ms\":%.1f,\"since_accept_ms\":%.1f%s%s%s",
                 hl_log_esc(o->event_id, (size_t)-1), o->subscription_id, hl_log_esc(trace, (size_t)-1),
                 outcome_name[o->outcome], o->attempt, o->status_code, o->latency_s * 1000.0,
                 o->since_accept_s * 1000.0, o->error ? ",\"error\":\"" : "",
                 o->error ? hl_log_esc(o->error, (size_t)-1) : "", o->error ? "\"" : "");
  }
  if (hl_log_get_level() <= HL_LOG_INFO) count(l, o);
}

/* One line per subscription with attempts in the window; a subscription
 * with none is forgotten, so deleted ones do not stay. */
void hl_outcome_log_flush(hl_outcome_log *l) {
  if (!l->started) return;
  int64_t now = hl_wall_ms();
  hl_buf b;
  hl_buf_init(&b);
  hl_outcome_counts **pp = &l->list;
  while (*pp) {
    hl_outcome_counts *c = *pp;
    if (total(c) == 0) {
      *pp = c->next;
      hl_strmap_del(&l->by_sub, c->subscription_id);
      hl_free(c->subscription_id);
      hl_free(c);
      continue;
    }
    hl_buf_reset(&b);
    for (unsigned i = 0; i < c->nstatus; i++) hl_buf_printf(&b, "%s\"%ld\":%u", i ? "," : "", c->status[i], c->status_n[i]);
    if (c->status_other) hl_buf_printf(&b, "%s\"other\":%u", c->nstatus ? "," : "", c->status_other);
    hl_buf_putc(&b, '\0');
    hl_log_write(HL_LOG_INFO, "deliveries",
                 "\"subscription_id\":\"%s\",\"window_ms\":%lld,\"attempts\":%u,\"success\":%u,\"duplicate\":%u,"
                 "\"retry\":%u,\"failed\":%u,\"status\":{%s},\"latency_ms_mean\":%.1f,\"latency_ms_max\":%.1f",
                 c->subscription_id, (long long)(now - l->window_start_ms), total(c),
                 c->by_outcome[HL_OUTCOME_SUCCESS], c->by_outcome[HL_OUTCOME_DUPLICATE],
                 c->by_outcome[HL_OUTCOME_RETRY], c->by_outcome[HL_OUTCOME_FAILED], b.data,
                 c->requests ? c->latency_sum_ms / c->requests : 0.0, c->latency_max_ms);
    char *keep = c->subscription_id;
    hl_outcome_counts *next = c->next;
    *c = (hl_outcome_counts){.subscription_id = keep, .next = next};
    pp = &c->next;
  }
  l->tail = pp;
  hl_buf_dispose(&b);
  l->armed = false;
  uv_timer_stop(&l->timer);
}

void hl_outcome_log_close(hl_outcome_log *l, uv_close_cb cb) {
  if (!l->started) return;
  hl_outcome_log_flush(l);
  hl_outcome_log_flush(l); /* the second pass forgets every subscription (all counts are zero now) */
  l->started = false;
  hl_strmap_dispose(&l->by_sub);
  uv_close((uv_handle_t *)&l->timer, cb);
}
