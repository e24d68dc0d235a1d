/* "ordering": "fifo" in Kafka mode, end to end: the real hookloop binary
 * with KAFKA_BROKERS set (processor and dispatcher in one process), the
 * Kafka test broker (librdkafka's mock cluster in its own process) and the
 * mock partner. Events are posted through the producer API one after the
 * other (each acknowledged before the next: that is the acceptance order).
 * A fifo subscription's partner sees them in that order, a retrying head
 * holding its followers back (kept in memory, not on a retry topic),
 * skip_after dead-letters it, a kill -9 while it waits loses nothing and
 * keeps the order, and a subscription without ordering on the same event
 * type keeps flowing meanwhile. Topics are created up front (the mock
 * cluster rebalances slowly when a regex subscription discovers new ones). */
#include "e2e_util.h"
#include "hl_test.h"
#include "hl_testutil.h"
#include "common/hl_common.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static hl_mock_kafka mk;
static e2e_hookloop hk;
static e2e_partner partner;
static const char *kafka_env[8];
static char brokers_env[700];

#define FIFO "\"ordering\": \"fifo\""

/* extra: one more "K=V" for hookloop, or NULL. */
static void start_all_env(const char *extra) {
  memset(&hk, 0, sizeof hk);
  HL_ASSERT(hl_mock_kafka_start(&mk, 3) == 0);
  const char *topics[] = {"wh.ingress.payments.Payment.v1", "wh.egress.ord.Payment", "wh.egress.plain.Payment",
                          "wh.retry.200ms", "wh.retry.2s", "wh.dlq"};
  char cmd[300];
  for (size_t i = 0; i < HL_ARRAY_SIZE(topics); i++) {
    snprintf(cmd, sizeof cmd, "create %s 4 3", topics[i]);
    HL_ASSERT(hl_mock_kafka_cmd(&mk, cmd) == 0);
  }
  snprintf(brokers_env, sizeof brokers_env, "KAFKA_BROKERS=%s", mk.bootstrap);
  kafka_env[0] = brokers_env;
  kafka_env[1] = "HOOKLOOP_KAFKA_SESSION_TIMEOUT_MS=6000";
  kafka_env[2] = "HOOKLOOP_RETRY_SCHEDULE=200ms,200ms";
  kafka_env[3] = "HOOKLOOP_KAFKA_MESSAGE_TIMEOUT_MS=4000";
  kafka_env[4] = extra;
  kafka_env[5] = NULL;
  e2e_start_partner(&partner, NULL);
  e2e_start_hookloop(&hk, kafka_env);
}

static void start_all(void) { start_all_env(NULL); }

static void stop_all(void) {
  e2e_stop_both(&hk, &partner);
  hl_mock_kafka_stop(&mk);
}

/* Subscribes partner_id to Payment at the partner's /hook/<hook_query>
 * with the extra members (the schema comes with the first); returns its id. */
static char *subscribe(const char *partner_id, const char *hook_query, const char *extra) {
  char url[512];
  snprintf(url, sizeof url, "%s/hook/%s", partner.base, hook_query);
  return e2e_setup(&hk, partner_id, url, extra, NULL, 0);
}

/* Posts evt-<tag>-0 .. evt-<tag>-(n-1), in that order. */
static void post_events(const char *tag, int n) {
  char id[64];
  for (int i = 0; i < n; i++) {
    snprintf(id, sizeof id, "evt-%s-%d", tag, i);
    HL_ASSERT_EQ_INT(e2e_post_event(&hk, id, "1"), 202);
  }
}

static void print_requests(const hl_json_doc *doc) {
  for (uint32_t i = 0; i < doc->root->len; i++)
    fprintf(stderr, "request %u: %s\n", i, e2e_json_str(&doc->root->u.items[i], "webhook_id"));
}

/* The partner's requests to hook `name` are exactly the webhook-ids in
 * want, in that order (waits for them, then a little for one too many). */
static void assert_requests(const char *name, const char *const *want, size_t n) {
  hl_json_doc doc;
  e2e_wait_requests(&partner, name, n, 30000, &doc);
  hl_json_doc_dispose(&doc);
  hl_sleep_ms(500); /* nothing more may come: a request past n is a failure too */
  int have = e2e_wait_requests(&partner, name, n, 0, &doc);
  print_requests(&doc);
  HL_ASSERT_EQ_INT(have, (int)n);
  for (size_t i = 0; i < n; i++) HL_ASSERT_EQ_STR(e2e_json_str(&doc.root->u.items[i], "webhook_id"), want[i]);
  hl_json_doc_dispose(&doc);
}

/* The attempts the attempt log has for evt to sub. */
static int attempts_logged(const char *evt, const char *sub) {
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_attempts(&hk, evt, sub, &doc), 200);
  const hl_json *items = hl_json_get(doc.root, "attempts");
  int n = items && items->type == HL_JSON_ARRAY ? (int)items->len : -1;
  hl_json_doc_dispose(&doc);
  return n;
}

HL_TEST_T(kafka_fifo_a_retrying_head_holds_its_followers_back, 120) {
  start_all();
  char *sub = subscribe("ord", "fifo?codes=503,503,200&codes_for=evt-a-0", FIFO);
  post_events("a", 4);
  const char *want[] = {"evt-a-0", "evt-a-0", "evt-a-0", "evt-a-1", "evt-a-2", "evt-a-3"};
  assert_requests("fifo", want, HL_ARRAY_SIZE(want));
  HL_ASSERT(e2e_wait_status(&hk, "evt-a-0", "SUCCESS", 10000));
  HL_ASSERT(e2e_wait_status(&hk, "evt-a-3", "SUCCESS", 10000));
  HL_ASSERT_EQ_INT(attempts_logged("evt-a-0", sub), 3);
  HL_ASSERT_EQ_INT(attempts_logged("evt-a-1", sub), 1);
  free(sub);
  stop_all();
}

HL_TEST_T(kafka_fifo_skip_after_dead_letters_the_head_and_the_rest_follow, 120) {
  start_all();
  char *sub = subscribe("ord", "skip?codes=503&codes_for=evt-s-0", FIFO ", \"skip_after\": 2");
  post_events("s", 4);
  const char *want[] = {"evt-s-0", "evt-s-0", "evt-s-1", "evt-s-2", "evt-s-3"};
  assert_requests("skip", want, HL_ARRAY_SIZE(want));
  HL_ASSERT(e2e_wait_status(&hk, "evt-s-0", "FAILED", 10000));
  char err[256];
  int64_t attempts = 0;
  e2e_delivery_error(&hk, "evt-s-0", err, sizeof err, &attempts);
  HL_ASSERT_EQ_INT(attempts, 2);
  HL_ASSERT_MSG(strncmp(err, "skipped after 2 attempts", 24) == 0, "last_error: %s", err);
  HL_ASSERT(e2e_wait_status(&hk, "evt-s-3", "SUCCESS", 10000));
  HL_ASSERT_EQ_INT(attempts_logged("evt-s-0", sub), 2);
  free(sub);
  stop_all();
}

/* evt-k-0 and -1 are delivered, evt-k-2 fails and waits 2 s for its retry;
 * hookloop is killed (SIGKILL) then and started again on the same store
 * and broker. What was read again from the committed offset is not sent
 * twice (the ledger), the head comes again before anything behind it. */
HL_TEST_T(kafka_fifo_a_kill_while_the_head_waits_loses_nothing_and_keeps_order, 180) {
  start_all();
  char *sub = subscribe("ord", "kill?codes=503,503,200&codes_for=evt-k-2", FIFO ", \"retry_schedule\": \"2s,2s,2s\"");
  post_events("k", 5);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "kill", 3, 30000, &doc), 3);
  hl_json_doc_dispose(&doc);
  HL_ASSERT(e2e_wait_status(&hk, "evt-k-1", "SUCCESS", 10000));
  kill(hk.pid, SIGKILL);
  hl_wait(hk.pid, 5000);
  hk.pid = 0;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "kill", 3, 0, &doc), 3); /* the head waited: nothing behind it went */
  hl_json_doc_dispose(&doc);
  e2e_start_hookloop(&hk, kafka_env); /* same data dir */
  const char *want[] = {"evt-k-0", "evt-k-1", "evt-k-2", "evt-k-2", "evt-k-2", "evt-k-3", "evt-k-4"};
  assert_requests("kill", want, HL_ARRAY_SIZE(want));
  HL_ASSERT(e2e_wait_status(&hk, "evt-k-4", "SUCCESS", 10000));
  free(sub);
  stop_all();
}

/* A consumer joins hookloop's group (kcat, on a topic of its own) while
 * the head waits 10 s for its retry: hookloop's partitions are revoked and
 * assigned again (to it: the other member reads nothing of them). The head
 * and its followers held in memory are dropped at the revoke and read again
 * from the committed offset, in order: the head is sent again at once
 * (its attempts count from that read: twice more, unless another
 * rebalance comes, before skip_after 2 dead-letters it), then the
 * followers. Kept in memory as well, the old
 * head would be skipped after its second attempt, the followers sent, and
 * the head read again sent after them. */
HL_TEST_T(kafka_fifo_a_rebalance_while_the_head_waits_keeps_order, 180) {
  start_all();
  HL_ASSERT(hl_mock_kafka_cmd(&mk, "create other.topic 1 3") == 0);
  char *sub = subscribe("ord", "reb?codes=503&codes_for=evt-b-0",
                        FIFO ", \"skip_after\": 2, \"retry_schedule\": \"10s,10s,10s\"");
  post_events("b", 4);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "reb", 1, 30000, &doc), 1);
  hl_json_doc_dispose(&doc);
  int revoked = e2e_log_lines(&hk, "kafka partitions revoked", NULL);
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "timeout 6 kcat -b %s -G hookloop -o beginning other.topic >/dev/null 2>&1", mk.bootstrap);
  HL_ASSERT(system(cmd) != -1);
  HL_ASSERT_MSG(e2e_log_lines(&hk, "kafka partitions revoked", NULL) > revoked,
                "no rebalance while the head waited");
  HL_ASSERT(e2e_wait_status(&hk, "evt-b-3", "SUCCESS", 40000));
  hl_sleep_ms(500); /* nothing more may come */
  /* The head (tried at least twice: each rebalance, the join and kcat's
   * leaving, reads it again), then each follower once, in order. */
  int have = e2e_wait_requests(&partner, "reb", 0, 0, &doc);
  print_requests(&doc);
  int heads = 0;
  while (heads < have && strcmp(e2e_json_str(&doc.root->u.items[heads], "webhook_id"), "evt-b-0") == 0) heads++;
  HL_ASSERT_MSG(heads >= 2, "the head was tried %d times", heads);
  HL_ASSERT_EQ_INT(have - heads, 3);
  const char *followers[] = {"evt-b-1", "evt-b-2", "evt-b-3"};
  for (int i = 0; i < 3; i++) HL_ASSERT_EQ_STR(e2e_json_str(&doc.root->u.items[heads + i], "webhook_id"), followers[i]);
  hl_json_doc_dispose(&doc);
  HL_ASSERT(e2e_wait_status(&hk, "evt-b-0", "FAILED", 10000));
  free(sub);
  stop_all();
}

/* A plain (not fifo) subscription's first attempt answers 503, its retry
 * record goes to a retry tier due 15 s later: the dispatcher pauses that
 * tier partition until then. A consumer joins the group (kcat, on a topic
 * of its own) meanwhile: every partition is revoked and assigned again to
 * hookloop. librdkafka keeps a pause across that, so the partition must be
 * resumed on assignment, or the retry is never read again. */
HL_TEST_T(a_rebalance_while_a_retry_waits_on_its_tier_still_delivers_it, 180) {
  start_all();
  HL_ASSERT(hl_mock_kafka_cmd(&mk, "create other.topic 1 3") == 0);
  char *sub = subscribe("plain", "pr?codes=503,200&codes_for=evt-p-0", "\"retry_schedule\": \"15s,15s\"");
  post_events("p", 1);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "pr", 1, 30000, &doc), 1);
  hl_json_doc_dispose(&doc);
  HL_ASSERT(e2e_wait_status(&hk, "evt-p-0", "RETRYING", 10000));
  hl_sleep_ms(1500); /* the retry record read back and its partition paused */
  int revoked = e2e_log_lines(&hk, "kafka partitions revoked", NULL);
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "timeout 6 kcat -b %s -G hookloop -o beginning other.topic >/dev/null 2>&1", mk.bootstrap);
  HL_ASSERT(system(cmd) != -1);
  HL_ASSERT_MSG(e2e_log_lines(&hk, "kafka partitions revoked", NULL) > revoked, "no rebalance while the retry waited");
  /* due ~15 s after the first attempt; give it 40 s more */
  bool ok = e2e_wait_status(&hk, "evt-p-0", "SUCCESS", 40000);
  int have = e2e_wait_requests(&partner, "pr", 0, 0, &doc);
  print_requests(&doc);
  hl_json_doc_dispose(&doc);
  HL_ASSERT_MSG(ok, "the retry was never delivered after the rebalance (partner saw %d requests)", have);
  free(sub);
  stop_all();
}

/* An outside producer writes two records with one key to the ingress
 * topic: a large one (checked on the threadpool), then a small one
 * (checked on the loop at once). The small one's fan-out waits for the
 * large one's, so the fifo partner gets them in the order they were
 * written; fanned out as each was checked, the small one came first. */
HL_TEST_T(kafka_fifo_a_large_ingress_record_is_not_overtaken_by_the_next, 120) {
  start_all();
  char *sub = subscribe("ord", "lane", FIFO);
  char path[256];
  snprintf(path, sizeof path, "%s/hookloop-kfifo-%d.txt", hl_tmp_base(), getpid());
  FILE *f = fopen(path, "w");
  HL_ASSERT(f != NULL);
  fprintf(f, "cust-1|{\"eventHeader\":{\"uuid\":\"evt-l-0\",\"eventType\":\"Payment\"},\"amount\":1,"
             "\"currency\":\"EUR\",\"pad\":\"");
  for (int i = 0; i < 600 * 1000; i++) fputc('x', f);
  fprintf(f, "\"}\n");
  fprintf(f, "cust-1|{\"eventHeader\":{\"uuid\":\"evt-l-1\",\"eventType\":\"Payment\"},\"amount\":1,"
             "\"currency\":\"EUR\"}\n");
  fclose(f);
  char cmd[1200];
  snprintf(cmd, sizeof cmd, "kcat -P -b %s -t wh.ingress.payments.Payment.v1 -K '|' -l %s 2>/dev/null", mk.bootstrap,
           path);
  HL_ASSERT_MSG(system(cmd) == 0, "kcat produce failed");
  unlink(path);
  const char *want[] = {"evt-l-0", "evt-l-1"};
  assert_requests("lane", want, HL_ARRAY_SIZE(want));
  free(sub);
  stop_all();
}

/* A subscription without ordering on the same event type (its own egress
 * topic) gets every event while the fifo head waits for its retry (5 s
 * away): at that moment the fifo partner has seen the head alone. */
HL_TEST_T(kafka_fifo_other_subscriptions_keep_flowing_while_a_head_waits, 120) {
  start_all();
  char *ord = subscribe("ord", "ordw?codes=503,200&codes_for=evt-w-0", FIFO ", \"retry_schedule\": \"5s\"");
  char *plain = subscribe("plain", "plainw?codes=503,200&codes_for=evt-w-0", NULL);
  post_events("w", 4);
  hl_json_doc doc;
  /* the plain one: every event, its failed one retried from the retry topic */
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "plainw", 5, 30000, &doc), 5);
  hl_json_doc_dispose(&doc);
  int have = e2e_wait_requests(&partner, "ordw", 0, 0, &doc);
  print_requests(&doc);
  HL_ASSERT_EQ_INT(have, 1);
  HL_ASSERT_EQ_STR(e2e_json_str(&doc.root->u.items[0], "webhook_id"), "evt-w-0");
  hl_json_doc_dispose(&doc);
  const char *want[] = {"evt-w-0", "evt-w-0", "evt-w-1", "evt-w-2", "evt-w-3"};
  assert_requests("ordw", want, HL_ARRAY_SIZE(want));
  free(ord);
  free(plain);
  stop_all();
}

/* 300 events behind a head that waits 10 s: more than the 256 followers
 * held in memory (HL_DISPATCH_FIFO_HELD), so the partition is held (its
 * debug line) and the rest wait on Kafka until the followers drained.
 * Every event arrives once, in order. */
HL_TEST_T(kafka_fifo_followers_past_the_memory_cap_keep_order, 180) {
  start_all_env("LOG_LEVEL=debug"); /* the hold is logged at debug level */
  char *sub = subscribe("ord", "cap?codes=503,200&codes_for=evt-c-0", FIFO ", \"retry_schedule\": \"10s\"");
  enum { N = 300 };
  uint64_t t0 = hl_mono_ms();
  post_events("c", N);
  fprintf(stderr, "posted %d events in %llu ms (the head waits 10 s)\n", N, (unsigned long long)(hl_mono_ms() - t0));
  hl_json_doc doc;
  HL_ASSERT(e2e_wait_status(&hk, "evt-c-299", "SUCCESS", 60000));
  hl_sleep_ms(500);
  int have = e2e_wait_requests(&partner, "cap", 0, 0, &doc);
  HL_ASSERT_EQ_INT(have, N + 1);
  HL_ASSERT_EQ_STR(e2e_json_str(&doc.root->u.items[0], "webhook_id"), "evt-c-0");
  char id[64];
  for (int i = 0; i < N; i++) {
    snprintf(id, sizeof id, "evt-c-%d", i);
    HL_ASSERT_EQ_STR(e2e_json_str(&doc.root->u.items[i + 1], "webhook_id"), id);
  }
  hl_json_doc_dispose(&doc);
  HL_ASSERT_MSG(e2e_log_lines(&hk, "partition held", NULL) >= 1, "the followers never filled the memory cap");
  free(sub);
  stop_all();
}

/* Lambda's MSK batches cannot hold a head back: fifo stays refused there
 * (hl_lambda's queue does not order); serve's Kafka mode takes it and
 * shows it. */
HL_TEST_T(kafka_fifo_registration_is_taken_and_shown, 60) {
  start_all();
  char *sub = subscribe("ord", "show", FIFO ", \"skip_after\": 3");
  char u[256];
  hl_json_doc doc;
  snprintf(u, sizeof u, "%s/admin/subscriptions/%s", hk.base, sub);
  HL_ASSERT_EQ_INT(e2e_call("GET", u, NULL, &doc), 200);
  HL_ASSERT_EQ_STR(e2e_json_str(doc.root, "ordering"), "fifo");
  HL_ASSERT_EQ_INT(e2e_json_int(doc.root, "skip_after"), 3);
  hl_json_doc_dispose(&doc);
  free(sub);
  stop_all();
}

/* A replay to a fifo subscription (README, "Replay and re-queue on Kafka"):
 * its egress record is keyed by the order, the event id in a header, and is
 * found by that header; the replay is produced with the order's key, so it
 * joins the tail of the order: after what was there, before what is
 * accepted after it. */
HL_TEST_T(kafka_fifo_a_replay_joins_the_tail_of_its_order, 120) {
  start_all();
  char *sub = subscribe("ord", "fifo", FIFO);
  post_events("r", 2);
  const char *first[] = {"evt-r-0", "evt-r-1"};
  assert_requests("fifo", first, 2);
  HL_ASSERT(e2e_wait_status(&hk, "evt-r-0", "SUCCESS", 30000));
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_replay(&hk, "evt-r-0", NULL, &doc), 202);
  HL_ASSERT_EQ_INT(e2e_json_int(e2e_replay_result(doc.root, sub), "replay"), 1);
  hl_json_doc_dispose(&doc);
  HL_ASSERT_EQ_INT(e2e_post_event(&hk, "evt-r-2", "1"), 202);
  const char *want[] = {"evt-r-0", "evt-r-1", "evt-r-0", "evt-r-2"};
  assert_requests("fifo", want, 4);
  e2e_wait_delivered(&hk, "evt-r-0", sub, 2);
  free(sub);
  stop_all();
}
