/* hl_xform_reg.h — the registry's transformations: the latest version of
 * each, compiled, and how a delivery's bytes are made with them.
 *
 * A transformation is attached to an event type ("event_type:<type>",
 * applied for every subscription of the type) or to one subscription
 * ("subscription:<id>"). A delivery gets the event type's first, then the
 * subscription's, on the accepted bytes with the partner's info merged in
 * when enrichment is on (docs/transformations.md).
 *
 * Ownership: the registry owns its entries; a put replaces the entry of the
 * same id and drops its reference to the old program. A delivery whose
 * body is applied on the threadpool holds references to the programs it
 * uses (an hl_xform_plan), not to entries, so a put while it runs frees
 * nothing it reads.
 */
#ifndef HL_XFORM_REG_H
#define HL_XFORM_REG_H

#include "common/hl_buf.h"
#include "model/hl_registry.h"
#include "store/hl_store.h"
#include "transform/hl_transform.h"

typedef struct {
  hl_xform_rec rec;
  hl_transform *prog;   /* owned; NULL when this version removed the transformation */
} hl_xform_entry;

/* "event_type:<type>" / "subscription:<id>" into out (cap bytes). */
void hl_xform_id_for_type(char *out, size_t cap, const char *event_type);
void hl_xform_id_for_sub(char *out, size_t cap, const char *subscription_id);

/* Takes rec's fields (rec is zeroed) and prog. Keeps the higher version:
 * a put of an older one than the registry holds is dropped. */
void hl_registry_put_xform(hl_registry *r, hl_xform_rec *rec, hl_transform *prog);
/* The latest version registered under id, or NULL. */
const hl_xform_entry *hl_registry_xform_get(const hl_registry *r, const char *id);
void hl_registry_xforms_dispose(hl_registry *r);

/* Applies the transformations that concern a delivery of body to s, after
 * first (may be NULL: the Partner Info merge, handlers/hl_pinfo.h), all on
 * one parse of body with one write (hl_transform_apply_chain).
 * Returns 1 when there is nothing to apply (out and used untouched: the
 * partner gets body as it is); 0 with the result appended to out and used
 * set to the transformations' versions ("event_type:t@2,subscription:sub_x@1",
 * owned by the caller; NULL when first was all); a negative hl_err when the
 * event does not fit a program, with *in_first (may be NULL) telling
 * whether it was first's fault, and otherwise err's path prefixed by the
 * failing "<id>@<version>". */
/* The programs a delivery's bytes are made with, in order (first, the event
 * type's, the subscription's), referenced, and what names them: made on the
 * loop (it reads the registry), applied on any thread, disposed on the loop. */
typedef struct {
  hl_transform *progs[3]; /* referenced */
  size_t n;
  bool has_first;         /* progs[0] is first */
  char *names[2];         /* owned: "<id>@<version>" of the registry's programs */
  size_t nnames;
} hl_xform_plan;

/* 1 when nothing concerns the delivery (p holds nothing); 0 with p made. */
int hl_xform_plan_make(const hl_registry *r, const hl_sub *s, const hl_transform *first, hl_xform_plan *p);
/* hl_xform_for_delivery's apply, without used: reads p and body only, so
 * it may run on the threadpool while the loop changes the registry. */
int hl_xform_plan_apply(const hl_xform_plan *p, const char *body, size_t len, hl_buf *out, hl_transform_error *err,
                        bool *in_first);
/* The registry's programs p applied, as hl_xform_for_delivery's used. */
char *hl_xform_plan_used(const hl_xform_plan *p);
void hl_xform_plan_dispose(hl_xform_plan *p);

/* make, apply and dispose in one call (all on the caller's thread): */
int hl_xform_for_delivery(const hl_registry *r, const hl_sub *s, const hl_transform *first, const char *body,
                          size_t len, hl_buf *out, char **used, hl_transform_error *err, bool *in_first);

#endif
