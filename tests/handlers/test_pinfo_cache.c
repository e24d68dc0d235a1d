/* The Partner Info cache (src/model/hl_pinfo_cache.c) on a fake clock:
 * hits, TTL expiry, one fetch for many concurrent misses, failures kept
 * out, the bound, and Cache-Control max-age. */
#include "hl_test.h"
#include "common/hl_common.h"
#include "model/hl_pinfo_cache.h"

#include <string.h>

typedef struct {
  hl_pinfo_waiter w;
  int calls, status;
  char value[64];
  int order;
} waiter;

static int seq;

static void on_done(hl_pinfo_waiter *w, int status, const char *value, size_t len) {
  waiter *x = hl_container_of(w, waiter, w);
  x->calls++;
  x->status = status;
  x->order = ++seq;
  snprintf(x->value, sizeof x->value, "%.*s", (int)len, value ? value : "");
}

static hl_pinfo_lookup_result look(hl_pinfo_cache *c, const char *p, uint64_t now, waiter *x, const char **v) {
  size_t len = 0;
  x->w.done = on_done;
  return hl_pinfo_lookup(c, p, now, &x->w, v, &len);
}

HL_TEST(a_hundred_concurrent_misses_of_one_partner_make_one_fetch) {
  hl_pinfo_cache c;
  hl_pinfo_cache_init(&c, 16);
  static waiter ws[100];
  memset(ws, 0, sizeof ws);
  const char *v = NULL;
  seq = 0;
  HL_ASSERT_EQ_INT(look(&c, "acme", 0, &ws[0], &v), HL_PINFO_FETCH);
  for (int i = 1; i < 100; i++) HL_ASSERT_EQ_INT(look(&c, "acme", 1, &ws[i], &v), HL_PINFO_WAIT);
  HL_ASSERT_EQ_INT(c.fetches, 1);
  hl_pinfo_complete(&c, "acme", 0, "{\"tier\":\"gold\"}", 15, 1000, 2);
  for (int i = 0; i < 100; i++) {
    HL_ASSERT_EQ_INT(ws[i].calls, 1);
    HL_ASSERT_EQ_INT(ws[i].status, 0);
    HL_ASSERT_EQ_INT(ws[i].order, i + 1); /* in the order they came */
    HL_ASSERT_EQ_STR(ws[i].value, "{\"tier\":\"gold\"}");
  }
  /* Then hits until the TTL ends, and one fetch again after it. */
  waiter x = {0};
  HL_ASSERT_EQ_INT(look(&c, "acme", 1001, &x, &v), HL_PINFO_HIT);
  HL_ASSERT_EQ_STR(v, "{\"tier\":\"gold\"}");
  HL_ASSERT_EQ_INT(look(&c, "acme", 1002, &x, &v), HL_PINFO_FETCH);
  HL_ASSERT_EQ_INT(c.fetches, 2);
  HL_ASSERT_EQ_INT(c.hits, 1);
  hl_pinfo_complete(&c, "acme", 0, "{}", 2, 10, 1003);
  HL_ASSERT_EQ_INT(x.calls, 1);
  hl_pinfo_cache_dispose(&c);
}

HL_TEST(a_failed_fetch_answers_its_waiters_and_is_not_kept) {
  hl_pinfo_cache c;
  hl_pinfo_cache_init(&c, 4);
  waiter a = {0}, b = {0}, d = {0};
  const char *v = NULL;
  HL_ASSERT_EQ_INT(look(&c, "acme", 0, &a, &v), HL_PINFO_FETCH);
  HL_ASSERT_EQ_INT(look(&c, "acme", 0, &b, &v), HL_PINFO_WAIT);
  hl_pinfo_cancel(&c, "acme", &b.w);
  hl_pinfo_complete(&c, "acme", HL_ETIMEOUT, NULL, 0, 0, 5);
  HL_ASSERT_EQ_INT(a.calls, 1);
  HL_ASSERT_EQ_INT(a.status, HL_ETIMEOUT);
  HL_ASSERT_EQ_INT(b.calls, 0); /* cancelled */
  HL_ASSERT_EQ_INT(c.failures, 1);
  HL_ASSERT_EQ_INT(look(&c, "acme", 6, &d, &v), HL_PINFO_FETCH);
  hl_pinfo_complete(&c, "acme", 0, "{}", 2, 100, 7);
  hl_pinfo_cache_dispose(&c);
}

HL_TEST(the_cache_is_bounded_and_drops_the_least_recently_used) {
  hl_pinfo_cache c;
  hl_pinfo_cache_init(&c, 3);
  const char *names[] = {"p1", "p2", "p3"};
  waiter w = {0};
  const char *v = NULL;
  for (int i = 0; i < 3; i++) {
    HL_ASSERT_EQ_INT(look(&c, names[i], 0, &w, &v), HL_PINFO_FETCH);
    hl_pinfo_complete(&c, names[i], 0, "{}", 2, 1000, 0);
  }
  HL_ASSERT_EQ_INT(look(&c, "p1", 1, &w, &v), HL_PINFO_HIT); /* p2 is now the least recent */
  HL_ASSERT_EQ_INT(look(&c, "p4", 1, &w, &v), HL_PINFO_FETCH);
  hl_pinfo_complete(&c, "p4", 0, "{}", 2, 1000, 1);
  HL_ASSERT_EQ_INT(c.n, 3);
  HL_ASSERT_EQ_INT(look(&c, "p1", 2, &w, &v), HL_PINFO_HIT);
  HL_ASSERT_EQ_INT(look(&c, "p3", 2, &w, &v), HL_PINFO_HIT);
  HL_ASSERT_EQ_INT(look(&c, "p2", 2, &w, &v), HL_PINFO_FETCH); /* dropped */
  hl_pinfo_complete(&c, "p2", 0, "{}", 2, 1000, 2);
  HL_ASSERT_EQ_INT(c.n, 3);
  hl_pinfo_cache_dispose(&c);
}

/* What the owner derives from an answer (hl_pinfo: its compiled merge)
 * lives exactly as long as the answer: given out for that answer only, and
 * freed once when it is replaced, refused, evicted or disposed. */
static int freed[8];
static void free_tag(void *d) { freed[*(int *)d]++; }

HL_TEST(a_derived_object_lives_as_long_as_its_answer) {
  static int tags[8] = {0, 1, 2, 3, 4, 5, 6, 7};
  memset(freed, 0, sizeof freed);
  hl_pinfo_cache c;
  hl_pinfo_cache_init(&c, 2);
  c.free_derived = free_tag;
  waiter w = {0};
  const char *v = NULL;
  HL_ASSERT_EQ_INT(look(&c, "p1", 0, &w, &v), HL_PINFO_FETCH);
  hl_pinfo_complete_derived(&c, "p1", 0, "{\"a\":1}", 7, &tags[1], 10, 0);
  HL_ASSERT_EQ_INT(look(&c, "p1", 1, &w, &v), HL_PINFO_HIT);
  HL_ASSERT(hl_pinfo_derived(&c, "p1", v, 7) == &tags[1]);          /* the hit's own pointer */
  HL_ASSERT(hl_pinfo_derived(&c, "p1", "{\"a\":1}", 7) == &tags[1]); /* a copy of its bytes */
  HL_ASSERT(hl_pinfo_derived(&c, "p1", "{\"a\":2}", 7) == NULL);      /* another answer */
  HL_ASSERT(hl_pinfo_derived(&c, "p2", "{\"a\":1}", 7) == NULL);      /* another partner */
  HL_ASSERT_EQ_INT(freed[1], 0);
  /* Expired and fetched again: the new answer replaces it. */
  HL_ASSERT_EQ_INT(look(&c, "p1", 20, &w, &v), HL_PINFO_FETCH);
  hl_pinfo_complete_derived(&c, "p1", 0, "{\"a\":2}", 7, &tags[2], 10, 20);
  HL_ASSERT_EQ_INT(freed[1], 1);
  HL_ASSERT(hl_pinfo_derived(&c, "p1", "{\"a\":1}", 7) == NULL);
  HL_ASSERT(hl_pinfo_derived(&c, "p1", "{\"a\":2}", 7) == &tags[2]);
  /* A failed refetch drops the answer and what came with it. */
  HL_ASSERT_EQ_INT(look(&c, "p1", 40, &w, &v), HL_PINFO_FETCH);
  hl_pinfo_complete_derived(&c, "p1", HL_EIO, NULL, 0, &tags[3], 0, 40);
  HL_ASSERT_EQ_INT(freed[2], 1);
  HL_ASSERT_EQ_INT(freed[3], 1);
  HL_ASSERT(hl_pinfo_derived(&c, "p1", "{\"a\":2}", 7) == NULL);
  /* A partner no longer cached: freed at once. */
  hl_pinfo_complete_derived(&c, "nobody", 0, "{}", 2, &tags[4], 10, 40);
  HL_ASSERT_EQ_INT(freed[4], 1);
  /* Evicted by the bound, and disposed. */
  HL_ASSERT_EQ_INT(look(&c, "p2", 50, &w, &v), HL_PINFO_FETCH);
  hl_pinfo_complete_derived(&c, "p2", 0, "{}", 2, &tags[5], 1000, 50);
  HL_ASSERT_EQ_INT(look(&c, "p3", 51, &w, &v), HL_PINFO_FETCH); /* p1 (no answer) goes first */
  hl_pinfo_complete_derived(&c, "p3", 0, "{}", 2, &tags[6], 1000, 51);
  HL_ASSERT_EQ_INT(look(&c, "p4", 52, &w, &v), HL_PINFO_FETCH); /* then p2 */
  HL_ASSERT_EQ_INT(freed[5], 1);
  hl_pinfo_complete_derived(&c, "p4", 0, "{}", 2, &tags[7], 1000, 52);
  hl_pinfo_cache_dispose(&c);
  for (int i = 1; i < 8; i++) HL_ASSERT_EQ_INT(freed[i], 1);
}

HL_TEST(cache_control_max_age) {
  uint64_t ms = 7;
  HL_ASSERT(hl_pinfo_max_age("max-age=60", &ms) && ms == 60000);
  HL_ASSERT(hl_pinfo_max_age("public, Max-Age=5 ", &ms) && ms == 5000);
  HL_ASSERT(hl_pinfo_max_age("no-store", &ms) && ms == 0);
  HL_ASSERT(hl_pinfo_max_age("private, no-cache", &ms) && ms == 0);
  HL_ASSERT(!hl_pinfo_max_age("max-age=", &ms));
  HL_ASSERT(!hl_pinfo_max_age("max-age=1x", &ms));
  HL_ASSERT(!hl_pinfo_max_age("s-maxage=9", &ms));
  HL_ASSERT(!hl_pinfo_max_age("public", &ms));
  HL_ASSERT(!hl_pinfo_max_age(NULL, &ms));
}

/* docs/enrichment.md: no-store / no-cache keep the answer for no later
 * event, wherever they stand among the directives. */
HL_TEST(no_store_wins_over_a_max_age_before_it) {
  uint64_t ms = 7;
  HL_ASSERT(hl_pinfo_max_age("max-age=300, no-store", &ms) && ms == 0);
  ms = 7;
  HL_ASSERT(hl_pinfo_max_age("max-age=300,private,no-cache", &ms) && ms == 0);
  HL_ASSERT(hl_pinfo_max_age("max-age=300, max-age=5", &ms) && ms == 300000); /* the first counts */
}
