/* Replaying an event end to end (POST /admin/events/{event_id}/replay): the
 * real binary, the mock partner, on SQLite, and on DynamoDB (dynalite) with
 * the SQLite queue beneath (HL_TEST_DDB) or the DynamoDB queue
 * (HL_TEST_DDB_QUEUE), and PostgreSQL (HL_TEST_PG). */
#include "e2e_util.h"
#include "hl_test.h"
#include "hl_testutil.h"
#include "common/hl_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static e2e_hookloop hk;
static e2e_partner partner;

/* Each test subscribes partners of its own: PostgreSQL and DynamoDB keep
 * the suite's subscriptions from one test to the next. */

#ifdef HL_TEST_DDB_QUEUE
/* The DynamoDB queue reads the idempotency ledger before every send
 * (redelivers): a replay goes out only because its ledger key carries its
 * generation. */
static const char *const ENV[] = {"HOOKLOOP_QUEUE=dynamodb", "HOOKLOOP_QUEUE_POLL_MS=50", NULL};
#else
static const char *const *const ENV = NULL;
#endif

static const char *str_at(const hl_json *obj, const char *key) { return hl_json_str(hl_json_get(obj, key)); }

static int64_t int_at(const hl_json *obj, const char *key) {
  const hl_json *x = hl_json_get(obj, key);
  return x && x->type == HL_JSON_NUMBER ? atoll(x->u.str) : -1;
}

/* The attempt numbers of the attempt log of (id, sub), in order, into out; returns the count. */
static size_t attempt_numbers(const char *id, const char *sub, int64_t *out, size_t cap) {
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_attempts(&hk, id, sub, &doc), 200);
  const hl_json *a = hl_json_get(doc.root, "attempts");
  size_t n = 0;
  for (uint32_t i = 0; a && i < a->len && n < cap; i++) {
    out[n++] = int_at(&a->u.items[i], "attempt");
    HL_ASSERT_EQ_INT(int_at(&a->u.items[i], "status_code"), 200);
  }
  hl_json_doc_dispose(&doc);
  return n;
}

/* The requests the partner got at /hook/name: exactly n after waiting for
 * them (doc keeps the list). */
static const hl_json *requests(const char *name, size_t n, hl_json_doc *doc) {
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, name, n, 30000, doc), (int)n);
  return doc->root;
}

/* Delivered once, replayed to all: the partner gets it a second time with
 * the same webhook-id and the same bytes, and the log a second attempt.
 * Replayed to one chosen subscription: only that one gets it again. */
HL_TEST_T(replay_sends_the_same_bytes_and_id_again_to_all_or_chosen, 120) {
  e2e_start_both(&hk, &partner, NULL, ENV);
  char url[256];
  snprintf(url, sizeof url, "%s/hook/ra", partner.base);
  char *a = e2e_setup(&hk, "acme-r1", url, NULL, NULL, 0);
  snprintf(url, sizeof url, "%s/hook/rb", partner.base);
  char *b = e2e_setup(&hk, "beta-r1", url, NULL, NULL, 0);
  HL_ASSERT_EQ_INT(e2e_post_event(&hk, "evt-replay-1", "12.50"), 202);
  e2e_wait_delivered(&hk, "evt-replay-1", a, 1);
  e2e_wait_delivered(&hk, "evt-replay-1", b, 1);
  hl_json_doc ra, rb, doc;
  requests("ra", 1, &ra);
  hl_json_doc_dispose(&ra);

  HL_ASSERT_EQ_INT(e2e_replay(&hk, "evt-replay-1", NULL, &doc), 202);
  HL_ASSERT_EQ_STR(str_at(doc.root, "event_id"), "evt-replay-1");
  HL_ASSERT_EQ_INT(int_at(doc.root, "queued"), 2);
  for (int k = 0; k < 2; k++) {
    const hl_json *r = e2e_replay_result(doc.root, k ? b : a);
    HL_ASSERT(hl_json_get(r, "queued")->type == HL_JSON_TRUE);
    HL_ASSERT_EQ_INT(int_at(r, "replay"), 1);
    HL_ASSERT_EQ_STR(str_at(r, "partner_id"), k ? "beta-r1" : "acme-r1");
  }
  hl_json_doc_dispose(&doc);
  e2e_wait_delivered(&hk, "evt-replay-1", a, 2);
  e2e_wait_delivered(&hk, "evt-replay-1", b, 2);
  const hl_json *reqs = requests("ra", 2, &ra);
  const hl_json *first = &reqs->u.items[0], *again = &reqs->u.items[1];
  HL_ASSERT_EQ_STR(str_at(first, "webhook_id"), "evt-replay-1");
  HL_ASSERT_EQ_STR(str_at(again, "webhook_id"), "evt-replay-1");
  HL_ASSERT_EQ_STR(str_at(again, "body"), str_at(first, "body"));
  HL_ASSERT(strstr(str_at(again, "body"), "12.50") != NULL); /* the accepted bytes, not a re-encoding */
  hl_json_doc_dispose(&ra);
  int64_t nums[8];
  HL_ASSERT_EQ_INT(attempt_numbers("evt-replay-1", a, nums, 8), 2);
  HL_ASSERT_EQ_INT(nums[0], 1);
  HL_ASSERT_EQ_INT(nums[1], 2);

  /* Only the chosen one. */
  char body[256];
  snprintf(body, sizeof body, "{\"subscriptions\":[\"%s\"]}", b);
  HL_ASSERT_EQ_INT(e2e_replay(&hk, "evt-replay-1", body, &doc), 202);
  HL_ASSERT_EQ_INT(int_at(doc.root, "queued"), 1);
  HL_ASSERT_EQ_INT(hl_json_get(doc.root, "subscriptions")->len, 1);
  HL_ASSERT_EQ_INT(int_at(e2e_replay_result(doc.root, b), "replay"), 2);
  hl_json_doc_dispose(&doc);
  e2e_wait_delivered(&hk, "evt-replay-1", b, 3);
  reqs = requests("rb", 3, &rb);
  HL_ASSERT_EQ_STR(str_at(&reqs->u.items[2], "webhook_id"), "evt-replay-1");
  HL_ASSERT_EQ_STR(str_at(&reqs->u.items[2], "body"), str_at(&reqs->u.items[0], "body"));
  hl_json_doc_dispose(&rb);
  HL_ASSERT_EQ_INT(attempt_numbers("evt-replay-1", b, nums, 8), 3);
  HL_ASSERT_EQ_INT(nums[2], 3);
  /* The other subscription was not sent it again. */
  char st[32];
  int64_t n = 0;
  e2e_delivery_to(&hk, "evt-replay-1", a, st, sizeof st, &n);
  HL_ASSERT_EQ_INT(n, 2);
  HL_ASSERT_EQ_INT(attempt_numbers("evt-replay-1", a, nums, 8), 2);
  requests("ra", 2, &ra);
  hl_json_doc_dispose(&ra);
  free(a);
  free(b);
  e2e_stop_both(&hk, &partner);
}

/* A delivery still open is not queued a second time: the answer says so,
 * and the partner gets the event once. */
HL_TEST_T(an_open_delivery_is_not_replayed_twice, 120) {
  e2e_start_both(&hk, &partner, NULL, ENV);
  char url[256];
  snprintf(url, sizeof url, "%s/hook/held?hold=1", partner.base);
  char *a = e2e_setup(&hk, "acme-r2", url, NULL, NULL, 0);
  HL_ASSERT_EQ_INT(e2e_post_event(&hk, "evt-open", "1"), 202);
  for (int i = 0; i < 3000 && e2e_partner_stat(&partner, "held") < 1; i++) hl_sleep_ms(20);
  HL_ASSERT_EQ_INT(e2e_partner_stat(&partner, "held"), 1);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_replay(&hk, "evt-open", "{}", &doc), 202);
  HL_ASSERT_EQ_INT(int_at(doc.root, "queued"), 0);
  const hl_json *r = e2e_replay_result(doc.root, a);
  HL_ASSERT(hl_json_get(r, "queued")->type == HL_JSON_FALSE);
  HL_ASSERT_EQ_STR(str_at(r, "reason"), "still_open");
  hl_json_doc_dispose(&doc);
  HL_ASSERT_EQ_INT(e2e_release_until(&partner, "held", 1, 30000), 1);
  e2e_wait_delivered(&hk, "evt-open", a, 1);
  hl_json_doc reqs;
  requests("held", 1, &reqs);
  hl_json_doc_dispose(&reqs);
  free(a);
  e2e_stop_both(&hk, &partner);
}

static void assert_400(const char *event_id, const char *body, const char *const *pointers, size_t n) {
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_replay(&hk, event_id, body, &doc), 400);
  e2e_assert_details(doc.root, pointers, n, body);
  hl_json_doc_dispose(&doc);
}

/* 404 for an unknown event; 400 with the pointer of each id that is not a
 * subscription or that the event has no delivery to (nothing replayed
 * then), and of a body of the wrong shape. */
HL_TEST_T(bad_replays_get_404_and_400_with_pointers, 120) {
  e2e_start_both(&hk, &partner, NULL, ENV);
  char url[256];
  snprintf(url, sizeof url, "%s/hook/ok", partner.base);
  char *a = e2e_setup(&hk, "acme-r3", url, NULL, NULL, 0);
  snprintf(url, sizeof url, "%s/hook/usd", partner.base);
  char *usd = e2e_setup(&hk, "usd-r3", url, "\"filter\":{\"/currency\":\"USD\"}", NULL, 0);
  HL_ASSERT_EQ_INT(e2e_post_event(&hk, "evt-bad", "1"), 202);
  e2e_wait_delivered(&hk, "evt-bad", a, 1);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_replay(&hk, "evt-unknown", NULL, &doc), 404);
  HL_ASSERT_EQ_STR(str_at(doc.root, "error"), "not_found");
  hl_json_doc_dispose(&doc);

  char body[512];
  snprintf(body, sizeof body, "{\"subscriptions\":[\"%s\",\"sub_nope\",\"%s\"]}", a, usd);
  static const char *const p12[] = {"/subscriptions/1", "/subscriptions/2"};
  assert_400("evt-bad", body, p12, 2);
  static const char *const p0[] = {"/subscriptions/0"}, *const ps[] = {"/subscriptions"}, *const pr[] = {""},
                           *const px[] = {"/extra"}, *const p1[] = {"/subscriptions/1"};
  assert_400("evt-bad", "{\"subscriptions\":[1]}", p0, 1);
  assert_400("evt-bad", "{\"subscriptions\":\"x\"}", ps, 1);
  assert_400("evt-bad", "{\"subscriptions\":[]}", ps, 1);
  assert_400("evt-bad", "[]", pr, 1);
  assert_400("evt-bad", "{\"extra\":1}", px, 1);
  snprintf(body, sizeof body, "{\"subscriptions\":[\"%s\",\"%s\"]}", a, a);
  assert_400("evt-bad", body, p1, 1);
  /* Nothing was replayed by any of them. */
  char st[32];
  int64_t n = 0;
  e2e_delivery_to(&hk, "evt-bad", a, st, sizeof st, &n);
  HL_ASSERT_EQ_STR(st, "SUCCESS");
  HL_ASSERT_EQ_INT(n, 1);
  hl_json_doc reqs;
  requests("ok", 1, &reqs);
  hl_json_doc_dispose(&reqs);
  free(a);
  free(usd);
  e2e_stop_both(&hk, &partner);
}
