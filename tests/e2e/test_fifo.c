/* End to end, `hookloop serve` (embedded queue: SQLite, or PostgreSQL with
 * HL_TEST_PG; the DynamoDB queue with HL_TEST_DDB) against the mock partner: "ordering": "fifo" delivers in acceptance order, one at a time;
 * a retrying head holds its followers back, "skip_after" dead-letters it,
 * and a restart in the middle keeps the order; on a shared store, two
 * processes claiming never deliver out of order. The registration's
 * answers and refusals are checked here too. */
#include "e2e_util.h"
#include "hl_test.h"
#include "hl_testutil.h"
#include "common/hl_common.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static e2e_hookloop hk;
static e2e_partner partner;

#define FIFO "\"ordering\": \"fifo\""

#if defined(HL_TEST_DDB) && !defined(HL_TEST_DDB_EMBEDDED)
/* The DynamoDB queue (its leased claims and order entries), polled often
 * so that a second process sees what the first accepted. */
static const char *const hk_env[] = {"HOOKLOOP_QUEUE=dynamodb", "HOOKLOOP_QUEUE_POLL_MS=100", NULL};
#else
static const char *const *const hk_env = NULL;
#endif

static const char *str_at(const hl_json *obj, const char *key) { return hl_json_str(hl_json_get(obj, key)); }

/* Posts evt-<tag>-0 .. evt-<tag>-(n-1), in that order. */
static void post_events(const char *tag, int n) {
  char id[64];
  for (int i = 0; i < n; i++) {
    snprintf(id, sizeof id, "evt-%s-%d", tag, i);
    HL_ASSERT_EQ_INT(e2e_post_event(&hk, id, "1"), 202);
  }
}

/* The partner's requests to hook `name` are exactly the webhook-ids in
 * want, in that order. */
static void assert_requests(const char *name, const char *const *want, size_t n) {
  hl_json_doc doc;
  int have = e2e_wait_requests(&partner, name, n, 20000, &doc);
  hl_sleep_ms(300); /* nothing more may come: a request past n is a failure too */
  hl_json_doc_dispose(&doc);
  have = e2e_wait_requests(&partner, name, n, 0, &doc);
  for (int i = 0; i < have; i++)
    fprintf(stderr, "request %d: %s\n", i, str_at(&doc.root->u.items[i], "webhook_id"));
  HL_ASSERT_EQ_INT(have, (int)n);
  for (size_t i = 0; i < n; i++) HL_ASSERT_EQ_STR(str_at(&doc.root->u.items[i], "webhook_id"), want[i]);
  hl_json_doc_dispose(&doc);
}

/* Starts hookloop and the partner and registers a fifo subscription to
 * /hook/<hook_query> with the extra members. */
static void start_fifo_env(const char *hook_query, const char *extra, const char *const *env) {
  e2e_start_both(&hk, &partner, NULL, env);
  char url[256], members[256];
  snprintf(url, sizeof url, "%s/hook/%s", partner.base, hook_query);
  snprintf(members, sizeof members, FIFO "%s%s", extra ? ", " : "", extra ? extra : "");
  free(e2e_setup(&hk, "acme", url, members, NULL, 0));
}

static void start_fifo(const char *hook_query, const char *extra) { start_fifo_env(hook_query, extra, hk_env); }

HL_TEST_T(a_retrying_head_holds_its_followers_back, 120) {
  start_fifo("fifo?codes=503,503,200&codes_for=evt-a-0", NULL);
  post_events("a", 4);
  const char *want[] = {"evt-a-0", "evt-a-0", "evt-a-0", "evt-a-1", "evt-a-2", "evt-a-3"};
  assert_requests("fifo", want, HL_ARRAY_SIZE(want));
  HL_ASSERT(e2e_wait_status(&hk, "evt-a-3", "SUCCESS", 5000));
  e2e_stop_both(&hk, &partner);
}

HL_TEST_T(skip_after_dead_letters_the_head_and_the_next_goes, 120) {
  start_fifo("skip?codes=503&codes_for=evt-s-0", "\"skip_after\": 2");
  post_events("s", 4);
  const char *want[] = {"evt-s-0", "evt-s-0", "evt-s-1", "evt-s-2", "evt-s-3"};
  assert_requests("skip", want, HL_ARRAY_SIZE(want));
  HL_ASSERT(e2e_wait_status(&hk, "evt-s-0", "FAILED", 5000));
  char err[256];
  int64_t attempts = 0;
  e2e_delivery_error(&hk, "evt-s-0", err, sizeof err, &attempts);
  HL_ASSERT_EQ_INT(attempts, 2);
  HL_ASSERT_MSG(strncmp(err, "skipped after 2 attempts", 24) == 0, "last_error: %s", err);
  HL_ASSERT(e2e_wait_status(&hk, "evt-s-3", "SUCCESS", 5000));
  e2e_stop_both(&hk, &partner);
}

/* A head dead-lettered by skip_after and then re-queued by the operator
 * is open again and goes out again (here the partner takes it). */
HL_TEST_T(a_requeued_head_is_delivered_again, 120) {
  e2e_start_both(&hk, &partner, NULL, hk_env);
  char url[256], u[512];
  snprintf(url, sizeof url, "%s/hook/again?codes=503,503,200&codes_for=evt-q-0", partner.base);
  char *sub = e2e_setup(&hk, "acme", url, FIFO ", \"skip_after\": 2", NULL, 0);
  post_events("q", 2);
  const char *first[] = {"evt-q-0", "evt-q-0", "evt-q-1"};
  assert_requests("again", first, HL_ARRAY_SIZE(first));
  HL_ASSERT(e2e_wait_status(&hk, "evt-q-0", "FAILED", 5000));
  HL_ASSERT(e2e_wait_status(&hk, "evt-q-1", "SUCCESS", 5000));
  snprintf(u, sizeof u, "%s/admin/deliveries/evt-q-0/%s/retry", hk.base, sub);
  long code = e2e_call("POST", u, NULL, NULL);
  HL_ASSERT_MSG(code == 200 || code == 202, "re-queue answered %ld", code);
  const char *then[] = {"evt-q-0", "evt-q-0", "evt-q-1", "evt-q-0"};
  assert_requests("again", then, HL_ARRAY_SIZE(then));
  HL_ASSERT(e2e_wait_status(&hk, "evt-q-0", "SUCCESS", 5000));
  free(sub);
  e2e_stop_both(&hk, &partner);
}

/* The subscription is registered again (an update in place, still fifo)
 * while its head is out at the partner: once the partner takes the head,
 * the followers go, in order, with nothing new accepted to wake them. */
HL_TEST_T(a_head_delivered_across_an_update_in_place_lets_its_followers_go, 120) {
  start_fifo("inplace?hold=1", NULL);
  post_events("u", 3);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "inplace", 1, 10000, &doc), 1);
  hl_json_doc_dispose(&doc);
  char u[256], body[512];
  snprintf(u, sizeof u, "%s/admin/subscriptions", hk.base);
  snprintf(body, sizeof body,
           "{\"partner_id\":\"acme\",\"event_type\":\"Payment\",\"url\":\"%s/hook/inplace?hold=1\"," FIFO
           ", \"timeout_ms\": 20000}",
           partner.base);
  HL_ASSERT_EQ_INT(e2e_call("POST", u, body, NULL), 200);
  /* The head is answered now; each follower is held in its turn. */
  HL_ASSERT_EQ_INT(e2e_release_until(&partner, "inplace", 3, 20000), 3);
  const char *want[] = {"evt-u-0", "evt-u-1", "evt-u-2"};
  assert_requests("inplace", want, HL_ARRAY_SIZE(want));
  HL_ASSERT(e2e_wait_status(&hk, "evt-u-2", "SUCCESS", 5000));
  e2e_stop_both(&hk, &partner);
}

/* A subscription without ordering has a backlog (one event out at the
 * partner, two queued behind it) when it is registered again with
 * "ordering": "fifo": the backlog accepted before is delivered, in
 * acceptance order, and so is what comes after. On the DynamoDB queue
 * the backlog's rows have no order entries (those are written at accept
 * for a subscription that is fifo then): the ordered claim gives them
 * theirs first. */
HL_TEST_T(a_backlog_from_before_ordering_was_turned_on_is_delivered_in_order, 120) {
  e2e_start_both(&hk, &partner, NULL, hk_env);
  char url[256], u[256], body[512];
  snprintf(url, sizeof url, "%s/hook/turned?hold=1", partner.base);
  free(e2e_setup(&hk, "acme", url, "\"max_in_flight\": 1", NULL, 0));
  post_events("o", 3);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "turned", 1, 10000, &doc), 1);
  hl_json_doc_dispose(&doc);
  snprintf(u, sizeof u, "%s/admin/subscriptions", hk.base);
  snprintf(body, sizeof body, "{\"partner_id\":\"acme\",\"event_type\":\"Payment\",\"url\":\"%s\"," FIFO "}", url);
  HL_ASSERT_EQ_INT(e2e_call("POST", u, body, NULL), 200);
  HL_ASSERT_EQ_INT(e2e_post_event(&hk, "evt-o-3", "1"), 202);
  HL_ASSERT_EQ_INT(e2e_release_until(&partner, "turned", 4, 30000), 4);
  const char *want[] = {"evt-o-0", "evt-o-1", "evt-o-2", "evt-o-3"};
  assert_requests("turned", want, HL_ARRAY_SIZE(want));
  HL_ASSERT(e2e_wait_status(&hk, "evt-o-3", "SUCCESS", 5000));
  e2e_stop_both(&hk, &partner);
}

/* The same backlog, whose first event fails for good once ordering is on
 * and is re-queued while the second is out: it is the head again as soon
 * as the second is done, before the third (accepted after it). On the
 * DynamoDB queue this is the re-queue of a row whose entry the ordered
 * claim gave it: the entry goes back at the same place. */
HL_TEST_T(a_backlog_delivery_requeued_after_ordering_was_turned_on_keeps_its_place, 120) {
  e2e_start_both(&hk, &partner, NULL, hk_env);
  char url[256], u[256], body[512];
  snprintf(url, sizeof url, "%s/hook/kept?hold=1&codes=410,200&codes_for=evt-k-0", partner.base);
  char *sub = e2e_setup(&hk, "acme", url, "\"max_in_flight\": 1", NULL, 0);
  post_events("k", 3);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "kept", 1, 10000, &doc), 1);
  hl_json_doc_dispose(&doc);
  snprintf(u, sizeof u, "%s/admin/subscriptions", hk.base);
  snprintf(body, sizeof body, "{\"partner_id\":\"acme\",\"event_type\":\"Payment\",\"url\":\"%s\"," FIFO "}", url);
  HL_ASSERT_EQ_INT(e2e_call("POST", u, body, NULL), 200);
  /* evt-k-0 answered 410: failed for good; evt-k-1 is then sent (held).
   * One release, of evt-k-0 alone: e2e_release_until waits for nothing to
   * be held, and evt-k-1, sent within its 50 ms, would be released too. */
  snprintf(u, sizeof u, "%s/release?name=kept", partner.base);
  HL_ASSERT_EQ_INT(e2e_call("POST", u, "", NULL), 200);
  HL_ASSERT(e2e_wait_status(&hk, "evt-k-0", "FAILED", 20000));
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "kept", 2, 20000, &doc), 2);
  hl_json_doc_dispose(&doc);
  snprintf(u, sizeof u, "%s/admin/deliveries/evt-k-0/%s/retry", hk.base, sub);
  HL_ASSERT_EQ_INT(e2e_call("POST", u, "", NULL), 202);
  HL_ASSERT_EQ_INT(e2e_release_until(&partner, "kept", 4, 30000), 4);
  const char *want[] = {"evt-k-0", "evt-k-1", "evt-k-0", "evt-k-2"};
  assert_requests("kept", want, HL_ARRAY_SIZE(want));
  HL_ASSERT(e2e_wait_status(&hk, "evt-k-0", "SUCCESS", 5000));
  HL_ASSERT(e2e_wait_status(&hk, "evt-k-2", "SUCCESS", 5000));
  free(sub);
  e2e_stop_both(&hk, &partner);
}

#if defined(HL_TEST_DDB) && !defined(HL_TEST_DDB_EMBEDDED)
/* The look for rows without an order entry costs a Query a due partition
 * at every ordered claim: it stops once a look finds none after the
 * window in which other processes may still accept such rows (the reload
 * period, 0 here, plus 10 s of index lag), and later claims go on without
 * it. */
HL_TEST_T(an_ordered_subscription_stops_looking_for_rows_without_entries_once_none_are_left, 120) {
  static const char *const env[] = {"HOOKLOOP_QUEUE=dynamodb", "HOOKLOOP_QUEUE_POLL_MS=100",
                                    "HOOKLOOP_CONFIG_TTL_S=0", NULL};
  start_fifo_env("settle", NULL, env);
  static const char *const settled = "fifo subscription: every open row has an order entry; its ordered claims stop looking";
  char id[64];
  int posted = 0;
  /* One event a second, each an ordered claim, until the looks stop. */
  for (; posted < 20 && e2e_log_lines(&hk, settled, NULL) == 0; posted++) {
    snprintf(id, sizeof id, "evt-s-%d", posted);
    HL_ASSERT_EQ_INT(e2e_post_event(&hk, id, "1"), 202);
    HL_ASSERT(e2e_wait_status(&hk, id, "SUCCESS", 10000));
    hl_sleep_ms(1000);
  }
  HL_ASSERT_MSG(e2e_log_lines(&hk, settled, NULL) == 1, "not settled after %d events", posted);
  HL_ASSERT_EQ_INT(e2e_log_lines(&hk, "fifo subscription: rows without an order entry given one", NULL), 0);
  for (int i = 0; i < 3; i++, posted++) {
    snprintf(id, sizeof id, "evt-s-%d", posted);
    HL_ASSERT_EQ_INT(e2e_post_event(&hk, id, "1"), 202);
  }
  HL_ASSERT(e2e_wait_status(&hk, id, "SUCCESS", 10000));
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "settle", (size_t)posted, 10000, &doc), posted);
  hl_json_doc_dispose(&doc);
  HL_ASSERT_EQ_INT(e2e_log_lines(&hk, settled, NULL), 1);
  e2e_stop_both(&hk, &partner);
}
#endif

/* Not on the DynamoDB queue, where a stop leaves the rows a process holds
 * leased until their lease ends (2 min), as for every subscription: the
 * head is still first after a restart, but only then. */
#if !defined(HL_TEST_DDB) || defined(HL_TEST_DDB_EMBEDDED)
HL_TEST_T(a_restart_in_the_middle_keeps_the_order, 120) {
  /* The head's retries wait 2 s: the restart comes while it waits. */
  start_fifo("restart?codes=503,503,200&codes_for=evt-r-0", "\"retry_schedule\": \"2s,2s,2s\"");
  post_events("r", 4);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "restart", 1, 10000, &doc), 1);
  hl_json_doc_dispose(&doc);
  HL_ASSERT(e2e_stop_hookloop(&hk, SIGTERM, 10000) == 0);
  e2e_start_hookloop(&hk, hk_env); /* same data dir */
  const char *want[] = {"evt-r-0", "evt-r-0", "evt-r-0", "evt-r-1", "evt-r-2", "evt-r-3"};
  assert_requests("restart", want, HL_ARRAY_SIZE(want));
  e2e_stop_both(&hk, &partner);
}
#endif

/* A partner that fails every event twice before it takes it: each event's
 * three requests come before the next event's first. */
HL_TEST_T(a_failing_then_healthy_partner_keeps_acceptance_order, 120) {
  start_fifo("flaky?codes=503,503,200", NULL);
  post_events("f", 4);
  const char *want[] = {"evt-f-0", "evt-f-0", "evt-f-0", "evt-f-1", "evt-f-1", "evt-f-1",
                        "evt-f-2", "evt-f-2", "evt-f-2", "evt-f-3", "evt-f-3", "evt-f-3"};
  assert_requests("flaky", want, HL_ARRAY_SIZE(want));
  HL_ASSERT(e2e_wait_status(&hk, "evt-f-3", "SUCCESS", 5000));
  e2e_stop_both(&hk, &partner);
}

#if defined(HL_TEST_PG) || (defined(HL_TEST_DDB) && !defined(HL_TEST_DDB_EMBEDDED))
/* Two processes claim from one shared queue. Events are posted to both in
 * turn (each acknowledged before the next is sent: that is the acceptance
 * order), and the partner fails every event once: the partner sees the
 * events in acceptance order, each one's requests before the next one's,
 * whichever process sends them. Half the attempts fail, so the breakers'
 * rate rule (50 % of 20 attempts) would open one for 30 s in the middle:
 * it is off here, the order is what is tested. */
HL_TEST_T(two_claimers_never_deliver_out_of_order, 300) {
  static const char *const env[] = {
#ifdef HL_TEST_DDB
      "HOOKLOOP_QUEUE=dynamodb", "HOOKLOOP_QUEUE_POLL_MS=100",
#endif
      "HOOKLOOP_BREAKER_FAILURE_RATE=0", NULL};
  start_fifo_env("two?codes=503,200", NULL, env);
  e2e_hookloop other = {0};
  e2e_start_hookloop(&other, env); /* loads the subscription from the shared store */
  enum { N = 24 };
  char id[64];
  for (int i = 0; i < N; i++) {
    snprintf(id, sizeof id, "evt-t-%d", i);
    HL_ASSERT_EQ_INT(e2e_post_event(i % 2 ? &other : &hk, id, "1"), 202);
  }
  hl_json_doc doc;
  HL_ASSERT(e2e_wait_requests(&partner, "two", 2 * N, 60000, &doc) >= 2 * N);
  hl_json_doc_dispose(&doc);
  HL_ASSERT(e2e_wait_status(&hk, "evt-t-23", "SUCCESS", 10000));
  e2e_wait_requests(&partner, "two", 0, 0, &doc);
  int last = 0, seen = 0;
  for (uint32_t i = 0; i < doc.root->len; i++) {
    const char *w = str_at(&doc.root->u.items[i], "webhook_id");
    HL_ASSERT(w && strncmp(w, "evt-t-", 6) == 0);
    int k = atoi(w + 6);
    HL_ASSERT_MSG(k >= last, "request %u is evt-t-%d after evt-t-%d", i, k, last);
    if (k > last || i == 0) seen++;
    last = k;
  }
  HL_ASSERT_EQ_INT(seen, N);
  hl_json_doc_dispose(&doc);
  HL_ASSERT(e2e_stop_hookloop(&other, SIGTERM, 30000) == 0);
  hl_rmtree(other.dir);
  free(other.dir);
  e2e_stop_both(&hk, &partner);
}
#endif

HL_TEST_T(ordering_is_validated_shown_and_stored, 120) {
  e2e_start_both(&hk, &partner, NULL, hk_env);
  char url[256];
  snprintf(url, sizeof url, "%s/hook/show", partner.base);
  char *sub = e2e_setup(&hk, "acme", url, FIFO ", \"skip_after\": 3", NULL, 0);
  char u[256], body[1024];
  hl_json_doc doc;
  snprintf(u, sizeof u, "%s/admin/subscriptions/%s", hk.base, sub);
  HL_ASSERT_EQ_INT(e2e_call("GET", u, NULL, &doc), 200);
  HL_ASSERT_EQ_STR(str_at(doc.root, "ordering"), "fifo");
  int64_t n = 0;
  HL_ASSERT(hl_json_int64(hl_json_get(doc.root, "skip_after"), &n) == 0 && n == 3);
  hl_json_doc_dispose(&doc);
  /* Stored: the same after a restart. */
  HL_ASSERT(e2e_stop_hookloop(&hk, SIGTERM, 10000) == 0);
  e2e_start_hookloop(&hk, hk_env);
  snprintf(u, sizeof u, "%s/admin/subscriptions/%s", hk.base, sub);
  HL_ASSERT_EQ_INT(e2e_call("GET", u, NULL, &doc), 200);
  HL_ASSERT_EQ_STR(str_at(doc.root, "ordering"), "fifo");
  HL_ASSERT(hl_json_int64(hl_json_get(doc.root, "skip_after"), &n) == 0 && n == 3);
  hl_json_doc_dispose(&doc);
  /* Refusals, each naming its member. */
  struct { const char *extra, *ptr; } bad[] = {
    {"\"ordering\": \"lifo\"", "/ordering"},
    {"\"ordering\": 1", "/ordering"},
    {FIFO ", \"skip_after\": 0", "/skip_after"},
    {FIFO ", \"skip_after\": \"2\"", "/skip_after"},
    {"\"skip_after\": 2", "/skip_after"},
  };
  snprintf(u, sizeof u, "%s/admin/subscriptions", hk.base);
  for (size_t i = 0; i < HL_ARRAY_SIZE(bad); i++) {
    snprintf(body, sizeof body, "{\"partner_id\":\"other\",\"event_type\":\"Payment\",\"url\":\"%s\",%s}", url,
             bad[i].extra);
    HL_ASSERT_EQ_INT(e2e_call("POST", u, body, &doc), 400);
    const hl_json *det = hl_json_get(doc.root, "details");
    HL_ASSERT(det && det->type == HL_JSON_ARRAY && det->len >= 1);
    HL_ASSERT_EQ_STR(str_at(&det->u.items[0], "path"), bad[i].ptr);
    hl_json_doc_dispose(&doc);
  }
  /* The default: none, no skip_after. */
  snprintf(body, sizeof body, "{\"partner_id\":\"plain\",\"event_type\":\"Payment\",\"url\":\"%s\"}", url);
  HL_ASSERT_EQ_INT(e2e_call("POST", u, body, &doc), 201);
  char id[128];
  snprintf(id, sizeof id, "%s", str_at(doc.root, "subscription_id"));
  hl_json_doc_dispose(&doc);
  snprintf(u, sizeof u, "%s/admin/subscriptions/%s", hk.base, id);
  HL_ASSERT_EQ_INT(e2e_call("GET", u, NULL, &doc), 200);
  HL_ASSERT_EQ_STR(str_at(doc.root, "ordering"), "none");
  HL_ASSERT(hl_json_get(doc.root, "skip_after")->type == HL_JSON_NULL);
  hl_json_doc_dispose(&doc);
  free(sub);
  e2e_stop_both(&hk, &partner);
}
