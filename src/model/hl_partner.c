/* A partner and its admission gate (see hl_partner.h). */
#include "model/hl_partner.h"
#include "common/hl_common.h"

void hl_partner_gate_config(const hl_partner_rec *r, hl_gate_config *out) {
  *out = (hl_gate_config){
    .max_in_flight = r->max_in_flight > 0 ? (unsigned)r->max_in_flight : 0,
    .rate_per_s = r->rate_limit_per_s > 0 ? (double)r->rate_limit_per_s : 0,
  };
}

hl_partner *hl_partner_new(const char *id) {
  hl_partner *p = hl_calloc(1, sizeof *p);
  p->refs = 1;
  p->rec.partner_id = hl_strdup(id);
  hl_gate_config gc;
  hl_partner_gate_config(&p->rec, &gc);
  hl_gate_init(&p->gate, &gc);
  return p;
}

void hl_partner_set_rec(hl_partner *p, hl_partner_rec *rec) {
  /* The registry's key is p->rec.partner_id: swap the record, keep the key. */
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
}

void hl_partner_unref(hl_partner *p) {
  if (--p->refs > 0) return;
  hl_partner_rec_free(&p->rec);
  hl_sub_list_dispose(&p->subs);
  hl_free(p);
}
