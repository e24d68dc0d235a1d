#include "model/hl_registry.h"
#include "common/hl_common.h"
#include "model/hl_xform_reg.h"
#include "model/hl_partner.h"
#include "model/hl_sub_ed25519.h"

#include <stdio.h>
#include <string.h>

static const hl_sub_list empty_list;

void hl_registry_init(hl_registry *r) {
  *r = (hl_registry){0};
  hl_strmap_init(&r->schemas_by_id);
  hl_strmap_init(&r->latest_by_type);
  hl_strmap_init(&r->subs_by_id);
  hl_strmap_init(&r->subs_by_key);
  hl_strmap_init(&r->subs_by_type);
  hl_strmap_init(&r->xforms);
  hl_strmap_init(&r->partners_by_id);
}

static void free_schema_entry(hl_registry *r, hl_schema_entry *e) {
  hl_schema_rec_free(&e->rec);
  if (e->compiled && r->free_schema) r->free_schema(e->compiled);
  hl_free(e->id_pointer);
  hl_free(e->root_id);
  hl_project_free(e->proj, e->nproj);
  hl_free(e);
}

/* A subscription's gate with the count of hl_subs holding it (hl_sub.gate):
 * the object replaced in place and its replacement share one while the
 * old one's attempts run. */
typedef struct {
  int refs;
  hl_gate gate;
} shared_gate;

static hl_gate *gate_new(void) {
  shared_gate *g = hl_calloc(1, sizeof *g);
  g->refs = 1;
  hl_gate_init(&g->gate, &(hl_gate_config){0}); /* the dispatcher configures it before each start */
  return &g->gate;
}

static hl_gate *gate_share(hl_gate *gate) {
  hl_container_of(gate, shared_gate, gate)->refs++;
  return gate;
}

static void gate_unref(hl_gate *gate) {
  shared_gate *g = hl_container_of(gate, shared_gate, gate);
  if (--g->refs == 0) hl_free(g);
}

static void free_sub(hl_registry *r, hl_sub *s) {
  hl_sub_rec_free(&s->rec);
  if (s->filter && r->free_filter) r->free_filter(s->filter);
  if (s->schedule && r->free_schedule) r->free_schedule(s->schedule);
  curl_slist_free_all(s->headers);
  curl_url_cleanup(s->url_parsed);
  hl_destination_free(s->dest);
  hl_free(s->dest_error);
  if (s->dispatch_state && r->free_dispatch_state) r->free_dispatch_state(s->dispatch_state);
  if (s->partner) {
    hl_registry_partner_detach(r, s->partner, s);
    hl_partner_unref(s->partner);
  }
  if (s->signer) {
    hl_webhook_signer_dispose(s->signer); /* wipes the keys */
    hl_free(s->signer);
  }
  hl_sub_ed25519_drop(s);
  if (s->gate) gate_unref(s->gate);
  hl_free(s);
}

static void partners_dispose(hl_registry *r);

void hl_registry_dispose(hl_registry *r) {
  size_t it = 0;
  void *v;
  while (hl_strmap_next(&r->schemas_by_id, &it, NULL, &v)) free_schema_entry(r, v);
  it = 0;
  while (hl_strmap_next(&r->subs_by_id, &it, NULL, &v)) {
    hl_sub *s = v;
    s->deleted = true;
    hl_sub_unref(r, s);
  }
  it = 0;
  while (hl_strmap_next(&r->subs_by_type, &it, NULL, &v)) {
    hl_sub_list *l = v;
    hl_sub_list_dispose(l);
    hl_free(l);
  }
  hl_strmap_dispose(&r->schemas_by_id);
  hl_strmap_dispose(&r->latest_by_type);
  hl_strmap_dispose(&r->subs_by_id);
  hl_strmap_dispose(&r->subs_by_key);
  hl_strmap_dispose(&r->subs_by_type);
  hl_registry_xforms_dispose(r);
  partners_dispose(r);
}

static void api_id(char *out, size_t n, const hl_schema_rec *rec) {
  snprintf(out, n, "%s.%s.v%lld", rec->domain ? rec->domain : "", rec->event_type,
           (long long)rec->version);
}

/* The schema's "x-id-pointer" annotation, read once here rather than per
 * raw event (the admin API checked it is a JSON pointer), and its root
 * "$id", read once rather than per registration that checks it is free. */
static void schema_ids_load(hl_schema_entry *e) {
  if (!e->rec.schema_json) return;
  hl_json_doc d;
  hl_json_doc_init(&d);
  if (hl_json_parse(&d, e->rec.schema_json, strlen(e->rec.schema_json), NULL) == 0) {
    const char *p = hl_json_str(hl_json_get(d.root, "x-id-pointer"));
    if (p) e->id_pointer = hl_strdup(p);
    const char *id = hl_json_str(hl_json_get(d.root, "$id"));
    if (id) e->root_id = hl_strdup(id);
  }
  hl_json_doc_dispose(&d);
}

/* The schema's "x-project" annotation, read once (the admin API checked it). */
static void schema_project_load(hl_schema_entry *e) {
  if (!e->rec.schema_json) return;
  hl_json_doc d;
  hl_json_doc_init(&d);
  char where[128], why[256];
  if (hl_json_parse(&d, e->rec.schema_json, strlen(e->rec.schema_json), NULL) == 0 &&
      hl_project_parse(d.root, &e->proj, &e->nproj, where, sizeof where, why, sizeof why) != 0)
    e->nproj = 0;
  hl_json_doc_dispose(&d);
}

hl_schema_entry *hl_registry_put_schema(hl_registry *r, hl_schema_rec *rec, hl_schema *compiled) {
  hl_schema_entry *e = hl_calloc(1, sizeof *e);
  e->rec = *rec;
  e->compiled = compiled;
  *rec = (hl_schema_rec){0};
  schema_ids_load(e);
  schema_project_load(e);
  char id[512];
  api_id(id, sizeof id, &e->rec);
  hl_schema_entry *old = hl_strmap_put(&r->schemas_by_id, id, e);
  /* Recompute the latest ACTIVE version of this type (few versions per type). */
  hl_schema_entry *latest = NULL;
  size_t it = 0;
  void *v;
  while (hl_strmap_next(&r->schemas_by_id, &it, NULL, &v)) {
    hl_schema_entry *c = v;
    if (strcmp(c->rec.event_type, e->rec.event_type) != 0 || strcmp(c->rec.status, "ACTIVE") != 0)
      continue;
    if (!latest || c->rec.version > latest->rec.version) latest = c;
  }
  if (latest) hl_strmap_put(&r->latest_by_type, e->rec.event_type, latest);
  else hl_strmap_del(&r->latest_by_type, e->rec.event_type);
  if (old) free_schema_entry(r, old);
  return e;
}

const hl_schema_entry *hl_registry_schema_for_type(const hl_registry *r, const char *event_type) {
  return hl_strmap_get(&r->latest_by_type, event_type);
}

const hl_schema_entry *hl_registry_schema_get(const hl_registry *r, const char *id) {
  return hl_strmap_get(&r->schemas_by_id, id);
}

static void sub_key(char *out, size_t n, const char *partner, const char *type) {
  hl_fmt_join(out, n, partner, "\x1f", type); /* once a delivery */
}

static void unlink_sub(hl_registry *r, hl_sub *s) {
  char key[512];
  sub_key(key, sizeof key, s->rec.partner_id, s->rec.event_type);
  hl_strmap_del(&r->subs_by_key, key);
  hl_strmap_del(&r->subs_by_id, s->rec.subscription_id);
  hl_sub_list *l = hl_strmap_get(&r->subs_by_type, s->rec.event_type);
  if (l) hl_sub_list_remove(l, s);
  if (s->partner) hl_registry_partner_detach(r, s->partner, s);
  s->deleted = true;
  hl_sub_unref(r, s);
}

/* A non-HTTP destination is parsed once here, not per delivery; one that
 * does not parse (a store edited by hand) keeps its reason, which the
 * sender reports on every delivery instead of sending anywhere. */
static void sub_destination_load(hl_sub *s) {
  if (!s->rec.destination_json) return;
  char why[300];
  s->dest = hl_destination_from_text(s->rec.destination_json, why, sizeof why);
  if (!s->dest) s->dest_error = hl_strdup(why);
}

hl_sub *hl_registry_put_sub(hl_registry *r, hl_sub_rec *rec, hl_filter *filter,
                            struct curl_slist *headers, hl_retry_schedule *schedule) {
  hl_sub *s = hl_calloc(1, sizeof *s);
  s->refs = 1;
  s->rec = *rec;
  *rec = (hl_sub_rec){0};
  s->filter = filter;
  s->headers = headers;
  s->schedule = schedule;
  sub_destination_load(s);
  s->partner = hl_registry_partner_attach(r, s->rec.partner_id, s);
  char key[512];
  sub_key(key, sizeof key, s->rec.partner_id, s->rec.event_type);
  hl_sub *old = hl_strmap_get(&r->subs_by_key, key);
  /* The same subscription changed (not one deleted and another made for
   * the pair): it keeps its gate, whose count includes what old has out. */
  bool same = old && strcmp(old->rec.subscription_id, s->rec.subscription_id) == 0;
  s->gate = same ? gate_share(old->gate) : gate_new();
  if (old && r->listener.sub_changed) r->listener.sub_changed(r->listener.data, old, HL_REG_SUB_REMOVED);
  /* Held across the swap: freed now, old would take its host's state (its
   * breaker, its AIMD limit) with it when it was the host's only
   * subscription, before s attaches to the same host at ADDED. */
  if (old) hl_sub_ref(old);
  if (old) unlink_sub(r, old);
  hl_strmap_put(&r->subs_by_key, key, s);
  hl_strmap_put(&r->subs_by_id, s->rec.subscription_id, s);
  hl_sub_list *l = hl_strmap_get(&r->subs_by_type, s->rec.event_type);
  if (!l) {
    l = hl_calloc(1, sizeof *l);
    hl_strmap_put(&r->subs_by_type, s->rec.event_type, l);
  }
  hl_sub_list_add(l, s);
  if (r->listener.sub_changed) r->listener.sub_changed(r->listener.data, s, HL_REG_SUB_ADDED);
  if (old) hl_sub_unref(r, old);
  return s;
}

hl_sub *hl_registry_sub_get(const hl_registry *r, const char *id) {
  return hl_strmap_get(&r->subs_by_id, id);
}

hl_sub *hl_registry_sub_find(const hl_registry *r, const char *partner_id, const char *event_type) {
  char key[512];
  sub_key(key, sizeof key, partner_id, event_type);
  return hl_strmap_get(&r->subs_by_key, key);
}

const hl_sub_list *hl_registry_subs_for_type(const hl_registry *r, const char *event_type) {
  const hl_sub_list *l = hl_strmap_get(&r->subs_by_type, event_type);
  return l ? l : &empty_list;
}

bool hl_registry_delete_sub(hl_registry *r, const char *id) {
  hl_sub *s = hl_strmap_get(&r->subs_by_id, id);
  if (!s) return false;
  if (r->listener.sub_changed) r->listener.sub_changed(r->listener.data, s, HL_REG_SUB_REMOVED);
  unlink_sub(r, s);
  return true;
}

void hl_registry_sub_status(hl_registry *r, hl_sub *s, const char *status) {
  hl_free(s->rec.status);
  s->rec.status = hl_strdup(status);
  if (r->listener.sub_changed) r->listener.sub_changed(r->listener.data, s, HL_REG_SUB_STATUS);
}

bool hl_sub_disabled(const hl_sub *s) { return s->rec.status && strcmp(s->rec.status, "DISABLED") == 0; }

void hl_sub_ref(hl_sub *s) { s->refs++; }

void hl_sub_unref(hl_registry *r, hl_sub *s) {
  if (--s->refs == 0) free_sub(r, s);
}

/* --- partners ------------------------------------------------------------- */

static hl_partner *partner_add(hl_registry *r, const char *id) {
  hl_partner *p = hl_partner_new(id);
  hl_strmap_put(&r->partners_by_id, p->rec.partner_id, p);
  return p;
}

hl_partner *hl_registry_partner_get(const hl_registry *r, const char *id) {
  return hl_strmap_get(&r->partners_by_id, id);
}

hl_partner *hl_registry_put_partner(hl_registry *r, hl_partner_rec *rec) {
  hl_partner *p = hl_registry_partner_get(r, rec->partner_id);
  if (!p) p = partner_add(r, rec->partner_id);
  hl_partner_set_rec(p, rec);
  return p;
}

hl_partner *hl_registry_partner_attach(hl_registry *r, const char *id, hl_sub *s) {
  hl_partner *p = hl_registry_partner_get(r, id);
  if (!p) p = partner_add(r, id);
  hl_sub_list_add(&p->subs, s);
  p->refs++;
  return p;
}

/* Unlinks p from the registry and drops the registry's reference. */
static void partner_forget(hl_registry *r, hl_partner *p) {
  hl_strmap_del(&r->partners_by_id, p->rec.partner_id);
  hl_partner_unref(p);
}

void hl_registry_partner_detach(hl_registry *r, hl_partner *p, hl_sub *s) {
  if (hl_sub_list_remove(&p->subs, s) && !p->stored && p->subs.n == 0 && r &&
      hl_registry_partner_get(r, p->rec.partner_id) == p)
    partner_forget(r, p);
}

/* At dispose: drops the registry's partners. */
static void partners_dispose(hl_registry *r) {
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
  partner_forget(r, p);
  return true;
}
