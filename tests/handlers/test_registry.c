/* The registry's table of partners (src/model/hl_registry.c) and the lists
 * of subscriptions it and the partners hold (hl_sub_list): which partner a
 * subscription joins, when a partner leaves the table, and that a partner's
 * record is replaced in place. No store: the registry is memory only. */
#include "hl_test.h"

#include "common/hl_common.h"
#include "model/hl_partner.h"
#include "model/hl_registry.h"
#include "model/hl_sub_list.h"

#include <stdio.h>
#include <string.h>

static hl_sub *add_sub(hl_registry *r, const char *id, const char *partner, const char *type) {
  hl_sub_rec rec = {.subscription_id = hl_strdup(id), .partner_id = hl_strdup(partner), .event_type = hl_strdup(type),
                    .url = hl_strdup("http://127.0.0.1:1/x"), .secret = hl_strdup("whsec_AAAA"),
                    .status = hl_strdup("ACTIVE")};
  return hl_registry_put_sub(r, &rec, NULL, NULL, NULL);
}

HL_TEST(an_implied_partner_leaves_with_its_last_subscription) {
  hl_registry r;
  hl_registry_init(&r);
  hl_sub *a = add_sub(&r, "sub_a", "p", "A");
  hl_partner *p = hl_registry_partner_get(&r, "p");
  HL_ASSERT(p != NULL && a->partner == p);
  HL_ASSERT(!p->stored);
  hl_sub *b = add_sub(&r, "sub_b", "p", "B");
  HL_ASSERT(b->partner == p);
  HL_ASSERT_EQ_INT((long)p->subs.n, 2);
  HL_ASSERT(p->subs.items[0] == a && p->subs.items[1] == b);
  HL_ASSERT(!hl_registry_delete_partner(&r, "p")); /* it still has subscriptions */
  HL_ASSERT(hl_registry_delete_sub(&r, "sub_a"));
  HL_ASSERT(hl_registry_partner_get(&r, "p") == p);
  HL_ASSERT_EQ_INT((long)p->subs.n, 1);
  HL_ASSERT(p->subs.items[0] == b);
  HL_ASSERT(hl_registry_delete_sub(&r, "sub_b"));
  HL_ASSERT(hl_registry_partner_get(&r, "p") == NULL);
  HL_ASSERT(!hl_registry_delete_partner(&r, "p"));
  hl_registry_dispose(&r);
}

HL_TEST(a_stored_partner_stays_without_subscriptions_and_is_updated_in_place) {
  hl_registry r;
  hl_registry_init(&r);
  /* Implied by a subscription first, then stored: the same partner, whose
   * record and gate take the stored limits and which keeps its list. */
  hl_sub *a = add_sub(&r, "sub_a", "p", "A");
  hl_partner *p = a->partner;
  hl_partner_rec rec = {.partner_id = hl_strdup("p"), .name = hl_strdup("P"), .max_in_flight = 3};
  HL_ASSERT(hl_registry_put_partner(&r, &rec) == p);
  HL_ASSERT(rec.partner_id == NULL && rec.name == NULL); /* taken */
  HL_ASSERT(p->stored);
  HL_ASSERT_EQ_STR(p->rec.partner_id, "p");
  HL_ASSERT_EQ_STR(p->rec.name, "P");
  HL_ASSERT_EQ_INT((long)p->gate.cfg.max_in_flight, 3);
  HL_ASSERT_EQ_INT((long)p->subs.n, 1);
  rec = (hl_partner_rec){.partner_id = hl_strdup("p"), .max_in_flight = 5};
  HL_ASSERT(hl_registry_put_partner(&r, &rec) == p);
  HL_ASSERT(p->rec.name == NULL);
  HL_ASSERT_EQ_INT((long)p->gate.cfg.max_in_flight, 5);
  HL_ASSERT(hl_registry_delete_sub(&r, "sub_a"));
  HL_ASSERT(hl_registry_partner_get(&r, "p") == p); /* stored: it stays */
  HL_ASSERT(hl_registry_delete_partner(&r, "p"));
  HL_ASSERT(hl_registry_partner_get(&r, "p") == NULL);
  hl_registry_dispose(&r);
}

HL_TEST(a_partner_outlives_its_place_in_the_table_while_a_subscription_holds_it) {
  hl_registry r;
  hl_registry_init(&r);
  hl_sub *a = add_sub(&r, "sub_a", "p", "A");
  hl_sub_ref(a); /* a delivery in flight */
  hl_partner *p = a->partner;
  HL_ASSERT(hl_registry_delete_sub(&r, "sub_a"));
  /* Implied and left without subscriptions: out of the table, but the
   * subscription's reference keeps it (and its gate) alive. */
  HL_ASSERT(hl_registry_partner_get(&r, "p") == NULL);
  HL_ASSERT_EQ_STR(p->rec.partner_id, "p");
  HL_ASSERT_EQ_INT((long)p->subs.n, 0);
  hl_sub_unref(&r, a); /* the last reference: the subscription, then its partner */
  hl_registry_dispose(&r);
}

/* What the listener and the dispatcher's state of the replaced one saw,
 * in order: "added" (the listener heard ADDED), "freed" (its state went). */
static char seen[64];

static void note(const char *what) {
  size_t n = strlen(seen);
  snprintf(seen + n, sizeof seen - n, "%s ", what);
}

static void note_change(void *data, hl_sub *s, hl_reg_change change) {
  (void)data;
  (void)s;
  if (change == HL_REG_SUB_ADDED) note("added");
}

static void note_freed(void *state) {
  (void)state;
  note("freed");
}

HL_TEST(an_update_in_place_hands_the_gate_to_the_replacement) {
  hl_registry r;
  hl_registry_init(&r);
  hl_sub *a = add_sub(&r, "sub_a", "p", "A");
  hl_gate *gate = a->gate;
  /* Two attempts out, the breaker open, three failures in a row. */
  gate->in_flight = 2;
  gate->state = HL_GATE_OPEN;
  gate->streak = 3;
  seen[0] = '\0';
  static int state; /* the dispatcher's state of a (opaque here) */
  a->dispatch_state = &state;
  r.free_dispatch_state = note_freed;
  r.listener = (hl_registry_listener){note_change, NULL};
  hl_sub *b = add_sub(&r, "sub_a", "p", "A"); /* the same id: an update in place */
  HL_ASSERT(b != a && b->gate == gate);
  HL_ASSERT_EQ_INT((long)b->gate->in_flight, 2);
  HL_ASSERT_EQ_INT(b->gate->state, HL_GATE_OPEN);
  HL_ASSERT_EQ_INT((long)b->gate->streak, 3);
  /* The replaced one went after the replacement was announced: the
   * dispatcher attached b to their host while a still held it. */
  HL_ASSERT_EQ_STR(seen, "added freed ");
  /* Another id for the pair: another subscription, with a gate of its own. */
  hl_sub *c = add_sub(&r, "sub_c", "p", "A");
  HL_ASSERT(c->gate != gate);
  HL_ASSERT_EQ_INT((long)c->gate->in_flight, 0);
  HL_ASSERT_EQ_INT(c->gate->state, HL_GATE_CLOSED);
  HL_ASSERT_EQ_INT((long)c->gate->streak, 0);
  hl_registry_dispose(&r);
}

HL_TEST(a_subscription_list_keeps_the_order_of_addition) {
  hl_sub *s[3] = {(hl_sub *)&s[0], (hl_sub *)&s[1], (hl_sub *)&s[2]}; /* never dereferenced */
  hl_sub_list l = {0};
  for (int i = 0; i < 3; i++) hl_sub_list_add(&l, s[i]);
  HL_ASSERT(hl_sub_list_remove(&l, s[0])); /* the first: the others keep their order */
  HL_ASSERT_EQ_INT((long)l.n, 2);
  HL_ASSERT(l.items[0] == s[1] && l.items[1] == s[2]);
  HL_ASSERT(!hl_sub_list_remove(&l, s[0]));
  hl_sub_list_add(&l, s[0]);
  HL_ASSERT(l.items[2] == s[0]);
  hl_sub_list_dispose(&l);
  HL_ASSERT(l.items == NULL && l.n == 0 && l.cap == 0);
}

