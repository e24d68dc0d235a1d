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

int hl_xform_for_delivery(const hl_registry *r, const hl_sub *s, const hl_transform *first, const char *body,
                          size_t len, hl_buf *out, char **used, hl_transform_error *err, bool *in_first) {
  char id[320];
  const hl_xform_entry *chain[2];
  const hl_transform *progs[3];
  size_t n = 0, np = 0;
  if (in_first) *in_first = false;
  if (first) progs[np++] = first;
  if (np == 0 && r->xforms.len == 0) return 1; /* none registered: no look-ups on every delivery */
  hl_xform_id_for_type(id, sizeof id, s->rec.event_type);
  const hl_xform_entry *e = hl_registry_xform_get(r, id);
  if (e && e->prog) chain[n++] = e;
  hl_xform_id_for_sub(id, sizeof id, s->rec.subscription_id);
  e = hl_registry_xform_get(r, id);
  if (e && e->prog) chain[n++] = e;
  if (np + n == 0) return 1;
  for (size_t i = 0; i < n; i++) progs[np + i] = chain[i]->prog;
  size_t failed = 0;
  hl_transform_error te = {0};
  int rc = hl_transform_apply_chain(progs, np + n, body, len, out, &failed, &te);
  if (rc != 0) {
    if (first && failed == 0) {
      if (in_first) *in_first = true;
      if (err) *err = te;
      return rc;
    }
    /* err's path gets the transformation's "<id>@<version>" in front, so
     * an operator knows which. */
    const hl_xform_entry *bad = chain[failed - np];
    if (err) {
      hl_buf p = HL_BUF_INIT;
      hl_buf_printf(&p, "%s@%lld%s", bad->rec.transformation_id, (long long)bad->rec.version, te.path);
      snprintf(err->path, sizeof err->path, "%.*s", (int)(sizeof err->path - 1), p.data);
      hl_buf_dispose(&p);
      snprintf(err->message, sizeof err->message, "%s", te.message);
    }
    return rc;
  }
  *used = NULL;
  if (n) {
    hl_buf names = HL_BUF_INIT;
    for (size_t i = 0; i < n; i++)
      hl_buf_printf(&names, "%s%s@%lld", i ? "," : "", chain[i]->rec.transformation_id,
                    (long long)chain[i]->rec.version);
    *used = hl_buf_steal(&names, NULL);
  }
  return 0;
}
