#include "model/hl_partner.h"
#include "common/hl_common.h"

#include <string.h>

void hl_partner_gate_config(const hl_partner_rec *r, hl_gate_config *out) {
  *out = (hl_gate_config){
    .max_in_flight = r->max_in_flight > 0 ? (unsigned)r->max_in_flight : 0,
    .rate_per_s = r->rate_limit_per_s > 0 ? (double)r->rate_limit_per_s : 0,
  };
}

static hl_partner *partner_new(hl_registry *r, const char *id) {
  hl_partner *p = hl_calloc(1, sizeof *p);
  p->refs = 1;
  p->rec.partner_id = hl_strdup(id);
  hl_gate_config gc;
  hl_partner_gate_config(&p->rec, &gc);
  hl_gate_init(&p->gate, &gc);
  hl_strmap_put(&r->partners_by_id, p->rec.partner_id, p);
  return p;
}

hl_partner *hl_registry_partner_get(const hl_registry *r, const char *id) {
  return hl_strmap_get(&r->partners_by_id, id);
}

hl_partner *hl_registry_put_partner(hl_registry *r, hl_partner_rec *rec) {
  hl_partner *p = hl_registry_partner_get(r, rec->partner_id);
  if (!p) p = partner_new(r, rec->partner_id);
  /* The map's key is p->rec.partner_id: swap the record, keep the key. */
  char *key = p->rec.partner_id;
  p->rec.partner_id = NULL;
  hl_partner_rec_free(&p->rec);
  p->rec = *rec;
  *rec = (hl_partner_rec){0};
  hl_free(p->rec.partner_id);
  p->rec.partner_id = key;
  p->stored = true;
  hl_gate_config gc;
  hl_partner_gate_config(&p->rec, &gc);
  hl_gate_configure(&p->gate, &gc);
  return p;
}

hl_partner *hl_registry_partner_attach(hl_registry *r, const char *id, hl_sub *s) {
  hl_partner *p = hl_registry_partner_get(r, id);
  if (!p) p = partner_new(r, id);
  hl_sub_list_add(&p->subs, s);
  p->refs++;
  return p;
}

/* Unlinks p from the registry and drops the registry's reference. */
static void forget(hl_registry *r, hl_partner *p) {
  hl_strmap_del(&r->partners_by_id, p->rec.partner_id);
  hl_partner_unref(p);
}

void hl_registry_partner_detach(hl_registry *r, hl_partner *p, hl_sub *s) {
  if (hl_sub_list_remove(&p->subs, s) && !p->stored && p->subs.n == 0 && r &&
      hl_registry_partner_get(r, p->rec.partner_id) == p)
    forget(r, p);
}

void hl_registry_partners_dispose(hl_registry *r) {
  size_t it = 0;
  void *v;
  while (hl_strmap_next(&r->partners_by_id, &it, NULL, &v)) {
    hl_partner *p = v;
    p->subs.n = 0; /* a subscription freed later finds nothing to leave */
    hl_partner_unref(p);
  }
  hl_strmap_dispose(&r->partners_by_id);
}

bool hl_registry_delete_partner(hl_registry *r, const char *id) {
  hl_partner *p = hl_registry_partner_get(r, id);
  if (!p || p->subs.n > 0) return false;
  forget(r, p);
  return true;
}

void hl_partner_unref(hl_partner *p) {
  if (--p->refs > 0) return;
  hl_partner_rec_free(&p->rec);
  hl_free(p->subs.items);
  hl_free(p);
}
