#include "store/hl_store.h"
#include "store/hl_store_rec.h"
#include "common/hl_common.h"

#include <stdio.h>
#include <string.h>

void hl_schema_rec_free(hl_schema_rec *r) { hl_rec_free(&hl_schema_desc, r); }

void hl_sub_rec_free(hl_sub_rec *r) { hl_rec_free(&hl_sub_desc, r); }

void hl_partner_rec_free(hl_partner_rec *r) { hl_rec_free(&hl_partner_desc, r); }

void hl_delivery_rec_free(hl_delivery_rec *r) {
  hl_free(r->event_id); hl_free(r->subscription_id); hl_free(r->status); hl_free(r->last_error);
  hl_free(r->transformation);
}

void hl_delivery_rec_copy(hl_delivery_rec *dst, const hl_delivery_rec *r) {
  *dst = *r;
  dst->event_id = hl_strdup(r->event_id);
  dst->subscription_id = hl_strdup(r->subscription_id);
  dst->status = r->status ? hl_strdup(r->status) : NULL;
  dst->last_error = r->last_error ? hl_strdup(r->last_error) : NULL;
  dst->transformation = r->transformation ? hl_strdup(r->transformation) : NULL;
}

void hl_xform_rec_free(hl_xform_rec *r) { hl_rec_free(&hl_xform_desc, r); }

void hl_attempt_rec_free(hl_attempt_rec *r) {
  hl_free(r->event_id); hl_free(r->subscription_id); hl_free(r->error); hl_free(r->headers_json);
  hl_free(r->body);
}

void hl_eq_item_free(hl_eq_item *r) {
  hl_delivery_rec_free(&r->d);
  hl_free(r->event_type); hl_free(r->body); hl_free(r->trace);
}

void hl_store_result_dispose(hl_store_result *res) {
  if (res->schemas) for (size_t i = 0; i < res->nschemas; i++) hl_schema_rec_free(&res->schemas[i]);
  if (res->subs) for (size_t i = 0; i < res->nsubs; i++) hl_sub_rec_free(&res->subs[i]);
  if (res->deliveries)
    for (size_t i = 0; i < res->ndeliveries; i++) hl_delivery_rec_free(&res->deliveries[i]);
  if (res->xforms) for (size_t i = 0; i < res->nxforms; i++) hl_xform_rec_free(&res->xforms[i]);
  hl_free(res->xforms);
  if (res->partners) for (size_t i = 0; i < res->npartners; i++) hl_partner_rec_free(&res->partners[i]);
  if (res->attempts) for (size_t i = 0; i < res->nattempts; i++) hl_attempt_rec_free(&res->attempts[i]);
  hl_free(res->attempts);
  if (res->items) for (size_t i = 0; i < res->nitems; i++) hl_eq_item_free(&res->items[i]);
  hl_free(res->schemas); hl_free(res->subs); hl_free(res->deliveries); hl_free(res->items);
  hl_free(res->partners); hl_free(res->value);
  *res = (hl_store_result){0};
}

void hl_store_ledger_key(char *key, size_t cap, const char *subscription_id, const char *event_id, int64_t replay) {
  if (replay > 0)
    snprintf(key, cap, "%s#%s#replay%lld", subscription_id, event_id, (long long)replay);
  else
    snprintf(key, cap, "%s#%s", subscription_id, event_id);
}

void hl_table_names_default(hl_table_names *n) {
  n->schema_table = "event_schema";
  n->subscription_table = "partner_event_subscription";
  n->kafka_table = "event_subscription_kafka";
  n->delivery_table = "event_delivery_status";
  n->ledger_table = "idempotency_ledger";
  n->parked_table = "parked_retry";
  n->transform_table = "transformation";
  n->partner_table = "partner";
  n->attempt_table = "delivery_attempt";
  n->events_table = "webhook_events";
  n->queue_table = "delivery_queue";
}

bool hl_table_name_ok(const char *s, size_t max, bool upper) {
  if (!s || !*s || strlen(s) > max) return false;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (upper && *s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_'))
      return false;
  return true;
}
