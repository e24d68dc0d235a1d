#include "api/hl_health.h"
#include "common/hl_common.h"
#include "common/hl_log.h"

#include <stdio.h>
#include <string.h>

/* One check: the parts it asked, their answers, and its deadline. */
struct hl_health_round {
  hl_health *h;
  uv_timer_t timer;
  bool timer_open;         /* closed once the result is out */
  bool published;          /* the result is out (all answered, or the deadline) */
  bool ask_store, ask_kafka;   /* the parts this check asked */
  bool store_done, kafka_done; /* ... and which of them answered */
  uint64_t started_ms;
  hl_health_part next[HL_HEALTH_PARTS - 1]; /* the store's parts */
  size_t nnext;
  hl_health_part next_kafka;
};

void hl_health_init(hl_health *h, uv_loop_t *loop, hl_store *store, uint64_t ttl_ms) {
  *h = (hl_health){.loop = loop, .store = store, .ttl_ms = ttl_ms ? ttl_ms : HL_HEALTH_TTL_MS,
                   .deadline_ms = HL_HEALTH_DEADLINE_MS};
  h->wtail = &h->waiters;
}

void hl_health_use_kafka(hl_health *h, hl_kafka *kafka) { h->kafka = kafka; }

bool hl_health_ok(const hl_health *h) {
  for (size_t i = 0; i < h->nparts; i++)
    if (h->parts[i].status != 0) return false;
  return true;
}

uint64_t hl_health_age_ms(const hl_health *h) { return h->checked_ms ? hl_mono_ms() - h->checked_ms : 0; }

static void round_maybe_free(hl_health_round *r) {
  if (!r->published || r->timer_open) return;
  if ((r->ask_store && !r->store_done) || (r->ask_kafka && !r->kafka_done)) return;
  hl_free(r);
}

static void on_timer_closed(uv_handle_t *t) {
  hl_health_round *r = t->data;
  r->timer_open = false;
  round_maybe_free(r);
}

/* A part that has not answered: failed, saying for how long. */
static void no_answer(hl_health_part *p, const char *name, uint64_t asked_ms) {
  *p = (hl_health_part){.name = name, .status = HL_ETIMEOUT};
  snprintf(p->error, sizeof p->error, "no answer to its check for %llu ms",
           (unsigned long long)(hl_mono_ms() - asked_ms));
}

/* The result is out: it replaces the last one, and everyone waiting hears
 * it. Parts that have not answered fail (the deadline passed, or a check
 * before this one has still not been answered). */
static void publish(hl_health_round *r) {
  hl_health *h = r->h;
  r->published = true;
  h->round = NULL;
  if (r->timer_open) {
    uv_timer_stop(&r->timer);
    uv_close((uv_handle_t *)&r->timer, on_timer_closed);
  }
  /* The store's parts first, then Kafka's, whichever answered first. */
  if (r->store_done) {
    memcpy(h->parts, r->next, r->nnext * sizeof *r->next);
    h->nparts = r->nnext;
  } else {
    no_answer(&h->parts[0], h->store->vt->name, h->store_asked_ms);
    h->nparts = 1;
  }
  if (h->kafka) {
    if (r->kafka_done) h->parts[h->nparts++] = r->next_kafka;
    else no_answer(&h->parts[h->nparts++], "kafka", h->kafka_asked_ms);
  }
  h->checked_ms = hl_mono_ms();
  for (size_t i = 0; i < h->nparts; i++)
    if (h->parts[i].status != 0)
      hl_log_warn("health check failed", "\"part\":\"%s\",\"error\":\"%s\"", h->parts[i].name,
                  hl_log_esc(h->parts[i].error, (size_t)-1));
  hl_health_waiter *w = h->waiters;
  h->waiters = NULL;
  h->wtail = &h->waiters;
  while (w) {
    hl_health_waiter *next = w->next;
    w->cb(w->data, h);
    hl_free(w);
    w = next;
  }
}

static void answered(hl_health_round *r) {
  if (!r->published && (!r->ask_store || r->store_done) && (!r->ask_kafka || r->kafka_done)) publish(r);
  round_maybe_free(r);
}

static void on_store_checked(void *data, const hl_store_check *parts, size_t n) {
  hl_health_round *r = data;
  r->store_done = true;
  r->h->store_asked_ms = 0; /* the next check may ask again */
  for (size_t i = 0; i < n && r->nnext < HL_ARRAY_SIZE(r->next); i++) {
    hl_health_part *p = &r->next[r->nnext++];
    *p = (hl_health_part){.name = parts[i].part, .status = parts[i].status};
    snprintf(p->error, sizeof p->error, "%s", parts[i].error);
  }
  answered(r);
}

static void on_kafka_checked(void *data, int status, const char *why) {
  hl_health_round *r = data;
  r->kafka_done = true;
  r->h->kafka_asked_ms = 0;
  r->next_kafka = (hl_health_part){.name = "kafka", .status = status};
  snprintf(r->next_kafka.error, sizeof r->next_kafka.error, "%s", why ? why : "");
  answered(r);
}

static void on_deadline(uv_timer_t *t) {
  hl_health_round *r = t->data;
  if (!r->published) publish(r);
}

void hl_health_get(hl_health *h, hl_health_cb cb, void *data) {
  if (h->checked_ms && !h->round && hl_mono_ms() - h->checked_ms < h->ttl_ms) {
    cb(data, h);
    return;
  }
  hl_health_waiter *w = hl_malloc(sizeof *w);
  *w = (hl_health_waiter){cb, data, NULL};
  *h->wtail = w;
  h->wtail = &w->next;
  if (h->round) return;
  hl_health_round *r = hl_calloc(1, sizeof *r);
  r->h = h;
  r->started_ms = hl_mono_ms();
  h->round = r;
  /* A part whose last check is still out is not asked again: it fails now. */
  r->ask_store = h->store_asked_ms == 0;
  r->ask_kafka = h->kafka && h->kafka_asked_ms == 0;
  if (!r->ask_store && !r->ask_kafka) {
    publish(r);
    round_maybe_free(r);
    return;
  }
  if (h->loop) {
    uv_timer_init(h->loop, &r->timer);
    r->timer.data = r;
    r->timer_open = true;
    uv_timer_start(&r->timer, on_deadline, h->deadline_ms, 0);
  }
  /* Both checks answer later, never inside their call. */
  if (r->ask_store) {
    h->store_asked_ms = r->started_ms;
    h->store->vt->check(h->store, on_store_checked, r);
  }
  if (r->ask_kafka) {
    h->kafka_asked_ms = r->started_ms;
    hl_kafka_check(h->kafka, HL_HEALTH_KAFKA_TIMEOUT_MS, on_kafka_checked, r);
  }
}
