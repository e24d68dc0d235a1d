#include "model/hl_xform_reg.h"
#include "common/hl_common.h"

#include <stdio.h>
#include <string.h>

void hl_xform_id_for_type(char *out, size_t cap, const char *event_type) {
  hl_fmt_join(out, cap, "event_type:", event_type, NULL); /* once or twice a delivery */
}

void hl_xform_id_for_sub(char *out, size_t cap, const char *subscription_id) {
  hl_fmt_join(out, cap, "subscription:", subscription_id, NULL);
}

static void entry_free(hl_xform_entry *e) {
  hl_xform_rec_free(&e->rec);
  hl_transform_free(e->prog);
  hl_free(e);
}

void hl_registry_put_xform(hl_registry *r, hl_xform_rec *rec, hl_transform *prog) {
  hl_xform_entry *old = hl_strmap_get(&r->xforms, rec->transformation_id);
  if (old && old->rec.version > rec->version) {
    hl_xform_rec_free(rec);
    *rec = (hl_xform_rec){0};
    hl_transform_free(prog);
    return;
  }
  hl_xform_entry *e = hl_calloc(1, sizeof *e);
  e->rec = *rec;
  *rec = (hl_xform_rec){0};
  e->prog = prog;
  hl_strmap_put(&r->xforms, e->rec.transformation_id, e);
  if (old) entry_free(old);
}

const hl_xform_entry *hl_registry_xform_get(const hl_registry *r, const char *id) {
  return hl_strmap_get(&r->xforms, id);
}

void hl_registry_xforms_dispose(hl_registry *r) {
  size_t it = 0;
  void *v;
  while (hl_strmap_next(&r->xforms, &it, NULL, &v)) entry_free(v);
  hl_strmap_dispose(&r->xforms);
}

int hl_xform_plan_make(const hl_registry *r, const hl_sub *s, const hl_transform *first, hl_xform_plan *p) {
  *p = (hl_xform_plan){0};
  if (!first && r->xforms.len == 0) return 1; /* none registered: no look-ups on every delivery */
  const hl_xform_entry *chain[2];
  size_t n = 0;
  char id[320];
  hl_xform_id_for_type(id, sizeof id, s->rec.event_type);
  const hl_xform_entry *e = hl_registry_xform_get(r, id);
  if (e && e->prog) chain[n++] = e;
  hl_xform_id_for_sub(id, sizeof id, s->rec.subscription_id);
  e = hl_registry_xform_get(r, id);
  if (e && e->prog) chain[n++] = e;
  if (!first && n == 0) return 1;
  if (first) {
    p->progs[p->n++] = hl_transform_ref(first);
    p->has_first = true;
  }
  for (size_t i = 0; i < n; i++) {
    p->progs[p->n++] = hl_transform_ref(chain[i]->prog);
    hl_buf name = HL_BUF_INIT;
    hl_buf_printf(&name, "%s@%lld", chain[i]->rec.transformation_id, (long long)chain[i]->rec.version);
    p->names[p->nnames++] = hl_buf_steal(&name, NULL);
  }
  return 0;
}

int hl_xform_plan_apply(const hl_xform_plan *p, const char *body, size_t len, hl_buf *out, hl_transform_error *err,
                        bool *in_first) {
  if (in_first) *in_first = false;
  size_t failed = 0;
  hl_transform_error te = {0};
  int rc = hl_transform_apply_chain((const hl_transform *const *)p->progs, p->n, body, len, out, &failed, &te);
  if (rc == 0) return 0;
  if (p->has_first && failed == 0) {
    if (in_first) *in_first = true;
    if (err) *err = te;
    return rc;
  }
  /* err's path gets the transformation's "<id>@<version>" in front, so
   * an operator knows which. */
  if (err) {
    hl_buf path = HL_BUF_INIT;
    hl_buf_printf(&path, "%s%s", p->names[failed - (p->has_first ? 1 : 0)], te.path);
    snprintf(err->path, sizeof err->path, "%.*s", (int)(sizeof err->path - 1), path.data);
    hl_buf_dispose(&path);
    snprintf(err->message, sizeof err->message, "%s", te.message);
  }
  return rc;
}

char *hl_xform_plan_used(const hl_xform_plan *p) {
  if (p->nnames == 0) return NULL;
  hl_buf names = HL_BUF_INIT;
  for (size_t i = 0; i < p->nnames; i++) hl_buf_printf(&names, "%s%s", i ? "," : "", p->names[i]);
  return hl_buf_steal(&names, NULL);
}

void hl_xform_plan_dispose(hl_xform_plan *p) {
  for (size_t i = 0; i < p->n; i++) hl_transform_free(p->progs[i]);
  for (size_t i = 0; i < p->nnames; i++) hl_free(p->names[i]);
  *p = (hl_xform_plan){0};
}

int hl_xform_for_delivery(const hl_registry *r, const hl_sub *s, const hl_transform *first, const char *body,
                          size_t len, hl_buf *out, char **used, hl_transform_error *err, bool *in_first) {
  if (in_first) *in_first = false;
  hl_xform_plan p;
  if (hl_xform_plan_make(r, s, first, &p) == 1) return 1;
  int rc = hl_xform_plan_apply(&p, body, len, out, err, in_first);
  if (rc == 0) *used = hl_xform_plan_used(&p);
  hl_xform_plan_dispose(&p);
  return rc;
}
