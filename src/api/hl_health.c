#include "api/hl_health.h"
#include "common/hl_common.h"
#include "common/hl_log.h"

#include <stdio.h>
#include <string.h>

void hl_health_init(hl_health *h, hl_store *store, uint64_t ttl_ms) {
  *h = (hl_health){.store = store, .ttl_ms = ttl_ms ? ttl_ms : HL_HEALTH_TTL_MS};
  h->wtail = &h->waiters;
}

void hl_health_use_kafka(hl_health *h, hl_kafka *kafka) { h->kafka = kafka; }

bool hl_health_ok(const hl_health *h) {
  for (size_t i = 0; i < h->nparts; i++)
    if (h->parts[i].status != 0) return false;
  return true;
}

uint64_t hl_health_age_ms(const hl_health *h) { return h->checked_ms ? hl_mono_ms() - h->checked_ms : 0; }

/* Every part answered: the new result replaces the last one, and everyone
 * waiting for it hears it. */
static void part_answered(hl_health *h) {
  if (--h->waiting > 0) return;
  /* The store's parts first, then Kafka's, whichever answered first. */
  memcpy(h->parts, h->next, h->nnext * sizeof *h->next);
  h->nparts = h->nnext;
  if (h->with_kafka) h->parts[h->nparts++] = h->next_kafka;
  h->checked_ms = hl_mono_ms();
  h->running = false;
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

static void on_store_checked(void *data, const hl_store_check *parts, size_t n) {
  hl_health *h = data;
  for (size_t i = 0; i < n && h->nnext < HL_ARRAY_SIZE(h->next); i++) {
    hl_health_part *p = &h->next[h->nnext++];
    *p = (hl_health_part){.name = parts[i].part, .status = parts[i].status};
    snprintf(p->error, sizeof p->error, "%s", parts[i].error);
  }
  part_answered(h);
}

static void on_kafka_checked(void *data, int status, const char *why) {
  hl_health *h = data;
  h->next_kafka = (hl_health_part){.name = "kafka", .status = status};
  snprintf(h->next_kafka.error, sizeof h->next_kafka.error, "%s", why ? why : "");
  part_answered(h);
}

void hl_health_get(hl_health *h, hl_health_cb cb, void *data) {
  if (h->checked_ms && !h->running && hl_mono_ms() - h->checked_ms < h->ttl_ms) {
    cb(data, h);
    return;
  }
  hl_health_waiter *w = hl_malloc(sizeof *w);
  *w = (hl_health_waiter){cb, data, NULL};
  *h->wtail = w;
  h->wtail = &w->next;
  if (h->running) return;
  /* Both checks answer later, never inside their call. */
  h->running = true;
  h->nnext = 0;
  h->with_kafka = h->kafka != NULL;
  h->waiting = h->with_kafka ? 2 : 1;
  h->store->vt->check(h->store, on_store_checked, h);
  if (h->with_kafka) hl_kafka_check(h->kafka, HL_HEALTH_KAFKA_TIMEOUT_MS, on_kafka_checked, h);
}
