/* The Kafka pipeline end to end: the real hookloop binary with
 * KAFKA_BROKERS set, the Kafka test broker (librdkafka's mock cluster, real
 * protocol, own process), kcat as an outside producer/consumer, and the mock
 * partner. Topics are created up front: the mock cluster rebalances slowly
 * when a regex subscription discovers new topics. */
#include "e2e_util.h"
#include "hl_test.h"
#include "hl_testutil.h"
#include "common/hl_common.h"

#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static hl_mock_kafka mk;
static e2e_hookloop hk;
static e2e_partner partner;

static const char *kafka_env[12];
static char brokers_env[700];

static const char *const *extra_env; /* more "K=V" for hookloop (NULL-terminated), or NULL */

/* hookloop's environment: the broker, the test's tuning, then extra. */
static void set_env(const char *const *extra) {
  snprintf(brokers_env, sizeof brokers_env, "KAFKA_BROKERS=%s", mk.bootstrap);
  kafka_env[0] = brokers_env;
  kafka_env[1] = "HOOKLOOP_KAFKA_SESSION_TIMEOUT_MS=6000";
  kafka_env[2] = "HOOKLOOP_RETRY_SCHEDULE=200ms,200ms";
  kafka_env[3] = "HOOKLOOP_KAFKA_MESSAGE_TIMEOUT_MS=4000";
  size_t n = 4;
  for (size_t i = 0; extra && extra[i] && n < HL_ARRAY_SIZE(kafka_env) - 1; i++) kafka_env[n++] = extra[i];
  kafka_env[n] = NULL;
}

static void start_all(const char *const *extra_topics) {
  memset(&hk, 0, sizeof hk);
  HL_ASSERT(hl_mock_kafka_start(&mk, 3) == 0);
  /* The processor's retry tier too: made by hookloop only when a fan-out
   * first fails (a produce timing out on a loaded machine), it would be
   * found by the regex subscription mid-test, and the rebalance that
   * follows takes the mock cluster several seconds. */
  const char *topics[] = {"wh.ingress.payments.Payment.v1", "wh.egress.fast.Payment", "wh.egress.slow.Payment",
                          "wh.egress.eur.Payment", "wh.retry.200ms", "wh.retry.processor.200ms", "wh.dlq"};
  char cmd[300];
  for (size_t i = 0; i < sizeof topics / sizeof *topics; i++) {
    snprintf(cmd, sizeof cmd, "create %s 4 3", topics[i]);
    HL_ASSERT(hl_mock_kafka_cmd(&mk, cmd) == 0);
  }
  for (size_t i = 0; extra_topics && extra_topics[i]; i++) {
    snprintf(cmd, sizeof cmd, "create %s 4 3", extra_topics[i]);
    HL_ASSERT(hl_mock_kafka_cmd(&mk, cmd) == 0);
  }
  set_env(extra_env);
  e2e_start_partner(&partner, NULL);
  e2e_start_hookloop(&hk, kafka_env);
}

static void stop_all(void) {
  if (hk.pid > 0) {
    int st = e2e_stop_hookloop(&hk, SIGTERM, 30000);
    HL_ASSERT_MSG(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "hookloop exit status %d", st);
  }
  e2e_stop_partner(&partner);
  hl_mock_kafka_stop(&mk);
  hl_rmtree(hk.dir);
  free(hk.dir);
}

static void setup_subs(void) {
  char u[256], body[512];
  snprintf(u, sizeof u, "%s/admin/schemas", hk.base);
  HL_ASSERT_EQ_INT(e2e_call("POST", u, "{\"event_type\":\"Payment\",\"domain\":\"payments\",\"schema\":"
                                     "{\"type\":\"object\",\"required\":[\"eventHeader\"]}}", NULL), 201);
  snprintf(u, sizeof u, "%s/admin/subscriptions", hk.base);
  snprintf(body, sizeof body, "{\"partner_id\":\"fast\",\"event_type\":\"Payment\",\"url\":\"%s/hook/fast\"}", partner.base);
  HL_ASSERT_EQ_INT(e2e_call("POST", u, body, NULL), 201);
  snprintf(body, sizeof body, "{\"partner_id\":\"eur\",\"event_type\":\"Payment\",\"url\":\"%s/hook/eur\","
                              "\"filter\":{\"/currency\":\"EUR\"}}", partner.base);
  HL_ASSERT_EQ_INT(e2e_call("POST", u, body, NULL), 201);
}

/* The Payment event type with a schema that accepts anything. */
static void register_any_payment(void) {
  char u[256];
  snprintf(u, sizeof u, "%s/admin/schemas", hk.base);
  HL_ASSERT_EQ_INT(e2e_call("POST", u, "{\"event_type\":\"Payment\",\"domain\":\"payments\",\"schema\":true}", NULL), 201);
}

/* Subscribes partner_id to Payment at the partner's /hook/<hook>; returns
 * the status, *doc the answer when doc is not NULL. */
static long subscribe(const char *partner_id, const char *hook, hl_json_doc *doc) {
  char u[256], body[512];
  snprintf(u, sizeof u, "%s/admin/subscriptions", hk.base);
  snprintf(body, sizeof body, "{\"partner_id\":\"%s\",\"event_type\":\"Payment\",\"url\":\"%s/hook/%s\"}", partner_id,
           partner.base, hook);
  return e2e_call("POST", u, body, doc);
}

static long post(const char *id, const char *currency) {
  char u[256], body[512];
  snprintf(u, sizeof u, "%s/api/v1/events", hk.base);
  snprintf(body, sizeof body, "{\"eventHeader\":{\"uuid\":\"%s\",\"eventType\":\"Payment\"},\"currency\":\"%s\"}", id, currency);
  return e2e_call("POST", u, body, NULL);
}

/* Produces one record with kcat, as an outside producer would, with the
 * given headers ("name=value", NULL-terminated; may be NULL). */
static void kcat_produce_h(const char *topic, const char *key, const char *value, const char *const *headers) {
  char path[256];
  snprintf(path, sizeof path, "%s/hookloop-kcat-%d.txt", hl_tmp_base(), getpid());
  FILE *f = fopen(path, "w");
  fprintf(f, "%s|%s\n", key, value);
  fclose(f);
  char cmd[2000], hs[600] = "";
  for (size_t i = 0, o = 0; headers && headers[i]; i++)
    o += (size_t)snprintf(hs + o, sizeof hs - o, " -H '%s'", headers[i]);
  snprintf(cmd, sizeof cmd, "kcat -P -b %s -t %s -K '|'%s -l %s 2>/dev/null", mk.bootstrap, topic, hs, path);
  HL_ASSERT_MSG(system(cmd) == 0, "kcat produce failed");
  unlink(path);
}

static void kcat_produce(const char *topic, const char *key, const char *value) {
  kcat_produce_h(topic, key, value, NULL);
}

/* Produces n Payment records keyed prefix-0..n-1 with one kcat run. */
static void kcat_produce_many(const char *topic, const char *prefix, int n) {
  char path[256];
  snprintf(path, sizeof path, "%s/hookloop-kcat-many-%d.txt", hl_tmp_base(), getpid());
  FILE *f = fopen(path, "w");
  HL_ASSERT(f != NULL);
  for (int i = 0; i < n; i++)
    fprintf(f, "%s-%d|{\"eventHeader\":{\"uuid\":\"%s-%d\",\"eventType\":\"Payment\"},\"currency\":\"EUR\"}\n",
            prefix, i, prefix, i);
  fclose(f);
  char cmd[1200];
  snprintf(cmd, sizeof cmd, "kcat -P -b %s -t %s -K '|' -l %s 2>/dev/null", mk.bootstrap, topic, path);
  HL_ASSERT_MSG(system(cmd) == 0, "kcat produce failed");
  unlink(path);
}

/* Reads a whole topic with kcat: one line per record, "key|headers|value". */
static char *kcat_consume(const char *topic) {
  char path[256], cmd[1200];
  snprintf(path, sizeof path, "%s/hookloop-kcat-out-%d.txt", hl_tmp_base(), getpid());
  snprintf(cmd, sizeof cmd, "timeout 20 kcat -C -b %s -t %s -o beginning -e -q -f '%%k|%%h|%%s\\n' > %s 2>/dev/null",
           mk.bootstrap, topic, path);
  HL_ASSERT(system(cmd) == 0);
  char *text = hl_read_file(path, NULL);
  unlink(path);
  return text;
}

static int64_t stat_of(const char *field) { return e2e_partner_stat(&partner, field); }

HL_TEST_T(api_and_raw_ingress_reach_partners_with_fan_out_and_filters, 120) {
  start_all(NULL);
  setup_subs();
  HL_ASSERT_EQ_INT(post("k-api-1", "EUR"), 202);   /* both partners */
  HL_ASSERT_EQ_INT(post("k-api-2", "USD"), 202);   /* the filter keeps it from "eur" */
  HL_ASSERT_EQ_INT(post("k-api-1", "EUR"), 200);   /* duplicate */
  kcat_produce("wh.ingress.payments.Payment.v1", "k-raw-1",
               "{\"eventHeader\":{\"uuid\":\"k-raw-1\",\"eventType\":\"Payment\"},\"currency\":\"EUR\",\"amount\":123.4500}");
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "fast", 3, 30000, &doc), 3);
  hl_json_doc_dispose(&doc);
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "eur", 2, 30000, &doc), 2);
  bool raw_exact = false;
  for (uint32_t i = 0; i < doc.root->len; i++) {
    const char *id = hl_json_str(hl_json_get(&doc.root->u.items[i], "webhook_id"));
    HL_ASSERT(strcmp(id, "k-api-2") != 0);
    if (strcmp(id, "k-raw-1") == 0)
      raw_exact = strstr(hl_json_str(hl_json_get(&doc.root->u.items[i], "body")), "123.4500") != NULL;
  }
  HL_ASSERT(raw_exact);
  hl_json_doc_dispose(&doc);
  HL_ASSERT(e2e_wait_status(&hk, "k-raw-1", "SUCCESS", 10000));
  stop_all();
}

HL_TEST_T(retry_topic_then_delivery_and_gone_to_dlq, 120) {
  start_all(NULL);
  char u[256], body[512];
  register_any_payment();
  snprintf(u, sizeof u, "%s/admin/subscriptions", hk.base);
  snprintf(body, sizeof body, "{\"partner_id\":\"fast\",\"event_type\":\"Payment\",\"url\":\"%s/hook/flaky?codes=503,200\"}", partner.base);
  HL_ASSERT_EQ_INT(e2e_call("POST", u, body, NULL), 201);
  snprintf(body, sizeof body, "{\"partner_id\":\"slow\",\"event_type\":\"Payment\",\"url\":\"%s/hook/gone?codes=410\"}", partner.base);
  HL_ASSERT_EQ_INT(e2e_call("POST", u, body, NULL), 201);
  HL_ASSERT_EQ_INT(post("k-retry", "EUR"), 202);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "flaky", 2, 30000, &doc), 2);
  hl_json_doc_dispose(&doc);
  char *retry = kcat_consume("wh.retry.200ms");
  HL_ASSERT_MSG(retry && strstr(retry, "k-retry|") && strstr(retry, "due_ms="), "retry topic: %s", retry ? retry : "");
  free(retry);
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "gone", 1, 30000, &doc), 1);
  hl_json_doc_dispose(&doc);
  char *dlq = NULL;
  for (int i = 0; i < 50; i++) {
    free(dlq);
    dlq = kcat_consume("wh.dlq");
    if (dlq && strstr(dlq, "k-retry|")) break;
    hl_sleep_ms(200);
  }
  HL_ASSERT_MSG(dlq && strstr(dlq, "k-retry|") && strstr(dlq, "reason=partner answered 410"), "dlq: %s", dlq ? dlq : "");
  free(dlq);
  /* The status rows tell the same story. */
  snprintf(u, sizeof u, "%s/admin/deliveries?event_id=k-retry", hk.base);
  HL_ASSERT_EQ_INT(e2e_call("GET", u, NULL, &doc), 200);
  const hl_json *d = hl_json_get(doc.root, "deliveries");
  int success = 0, failed = 0;
  for (uint32_t i = 0; d && i < d->len; i++) {
    const char *st = hl_json_str(hl_json_get(&d->u.items[i], "status"));
    success += strcmp(st, "SUCCESS") == 0;
    failed += strcmp(st, "FAILED") == 0;
  }
  HL_ASSERT_EQ_INT(success, 1);
  HL_ASSERT_EQ_INT(failed, 1);
  hl_json_doc_dispose(&doc);
  stop_all();
}

static char *wait_topic_for(const char *topic, const char *needle);

/* A retry pushed later than its tier by the partner's Retry-After goes to
 * the shortest tier that covers it (here 5s for a 2 s Retry-After), not to
 * the tier of its attempt (200ms), whose partition it held, other
 * partners' records behind it included, until it fell due. */
HL_TEST_T(a_retry_after_longer_than_its_tier_goes_to_a_tier_that_covers_it, 120) {
  const char *schedule[] = {"HOOKLOOP_RETRY_SCHEDULE=200ms,5s", NULL};
  const char *topics[] = {"wh.retry.5s", NULL};
  extra_env = schedule;
  start_all(topics);
  extra_env = NULL;
  register_any_payment();
  HL_ASSERT_EQ_INT(subscribe("ra", "ra?codes=503,200&retry_after=2", NULL), 201);
  HL_ASSERT_EQ_INT(post("k-ra", "USD"), 202);
  char *on5s = wait_topic_for("wh.retry.5s", "k-ra|");
  HL_ASSERT_MSG(on5s && strstr(on5s, "k-ra|"), "wh.retry.5s: %s", on5s ? on5s : "");
  free(on5s);
  HL_ASSERT(e2e_wait_status(&hk, "k-ra", "SUCCESS", 20000));
  char *on200 = kcat_consume("wh.retry.200ms");
  HL_ASSERT_MSG(!on200 || !strstr(on200, "k-ra|"), "wh.retry.200ms: %s", on200);
  free(on200);
  stop_all();
}

/* Two ingress records whose idempotency keys differ only after their
 * first 400 characters are two events: both fanned out and delivered. The
 * processed marker cut the key short, and the second was skipped as
 * already fanned out (lost without a trace but a log line). */
HL_TEST_T(long_idempotency_keys_that_differ_late_are_two_events, 120) {
  start_all(NULL);
  register_any_payment();
  HL_ASSERT_EQ_INT(subscribe("acme", "longkeys", NULL), 201);
  char key[460], header[480], v[256];
  memset(key, 'k', 400);
  for (int i = 0; i < 2; i++) {
    snprintf(key + 400, sizeof key - 400, "-%c", 'a' + i);
    snprintf(header, sizeof header, "idempotency_key=%s", key);
    const char *h[] = {header, NULL};
    snprintf(v, sizeof v, "{\"eventHeader\":{\"uuid\":\"k-long-%c\",\"eventType\":\"Payment\"},\"currency\":\"EUR\"}",
             'a' + i);
    kcat_produce_h("wh.ingress.payments.Payment.v1", i ? "k-long-b" : "k-long-a", v, h);
    /* The first is fanned out (its marker written) before the second comes. */
    hl_json_doc doc;
    HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "longkeys", (size_t)i + 1, 30000, &doc), i + 1);
    hl_json_doc_dispose(&doc);
    HL_ASSERT(e2e_wait_status(&hk, i ? "k-long-b" : "k-long-a", "SUCCESS", 10000));
  }
  stop_all();
}

/* An event within the API's 1 MiB but over Kafka's message.max.bytes
 * (1,000,000) is refused for good: 413 naming the queue's limit, alone or
 * in a bulk request, where it was a 503 to send again for ever. The next
 * event goes through. */
HL_TEST_T(an_event_over_kafkas_message_size_gets_413, 120) {
  start_all(NULL);
  register_any_payment();
  enum { BIG = 1010000 };
  char *body = malloc(BIG + 1);
  HL_ASSERT(body != NULL);
  int n = snprintf(body, BIG, "{\"eventHeader\":{\"uuid\":\"k-big\",\"eventType\":\"Payment\"},\"pad\":\"");
  memset(body + n, 'x', BIG - (size_t)n - 2);
  memcpy(body + BIG - 2, "\"}", 3);
  char u[256];
  snprintf(u, sizeof u, "%s/api/v1/events", hk.base);
  char *resp = NULL;
  HL_ASSERT_EQ_INT(hl_http("POST", u, body, BIG, NULL, &resp), 413);
  HL_ASSERT_MSG(resp && strstr(resp, "payload_too_large") && strstr(resp, "message.max.bytes"), "%s",
                resp ? resp : "");
  free(resp);
  resp = NULL;
  /* In a bulk request: that event rejected, the other accepted. */
  char *bulk = malloc(BIG + 200);
  HL_ASSERT(bulk != NULL);
  int m = snprintf(bulk, 200, "[{\"eventHeader\":{\"uuid\":\"k-small\",\"eventType\":\"Payment\"}},");
  memcpy(bulk + m, body, BIG);
  memcpy(bulk + m + BIG, "]", 2);
  snprintf(u, sizeof u, "%s/api/v1/events/bulk", hk.base);
  HL_ASSERT_EQ_INT(hl_http("POST", u, bulk, (size_t)m + BIG + 1, NULL, &resp), 200);
  HL_ASSERT_MSG(resp && strstr(resp, "\"accepted\"") && strstr(resp, "payload_too_large"), "%s", resp ? resp : "");
  free(resp);
  free(bulk);
  free(body);
  HL_ASSERT_EQ_INT(post("k-after-big", "USD"), 202);
  stop_all();
}

/* An event of size bytes with the given id, posted: the status. */
static int post_sized(const char *id, size_t size, char **resp) {
  char *body = malloc(size + 1);
  HL_ASSERT(body != NULL);
  int n = snprintf(body, size, "{\"eventHeader\":{\"uuid\":\"%s\",\"eventType\":\"Payment\"},\"pad\":\"", id);
  memset(body + n, 'x', size - (size_t)n - 2);
  memcpy(body + size - 2, "\"}", 3);
  char u[256];
  snprintf(u, sizeof u, "%s/api/v1/events", hk.base);
  int st = (int)hl_http("POST", u, body, size, NULL, resp);
  free(body);
  return st;
}

/* The egress and processor retry tier records carry more headers than the
 * ingress record: an event Kafka took just under message.max.bytes could
 * be fanned out nowhere, and was read again for ever. The API keeps room
 * for them: the largest event it accepts (found by bisection, distinct
 * ids) is delivered, and the smallest it refuses gets 413 with a pointer. */
HL_TEST_T(the_largest_event_kafka_accepts_is_delivered, 180) {
  start_all(NULL);
  register_any_payment();
  HL_ASSERT_EQ_INT(subscribe("fast", "fast", NULL), 201);
  size_t lo = 990000, hi = 1000000; /* lo taken, hi refused */
  char id[64], *resp = NULL;
  int k = 0;
  snprintf(id, sizeof id, "evt-sz-%02d", k++);
  HL_ASSERT_EQ_INT(post_sized(id, lo, &resp), 202);
  free(resp);
  char last[64], refused[4096] = "";
  snprintf(last, sizeof last, "%s", id);
  while (hi - lo > 1) {
    size_t mid = (lo + hi) / 2;
    snprintf(id, sizeof id, "evt-sz-%02d", k++);
    resp = NULL;
    int st = post_sized(id, mid, &resp);
    fprintf(stderr, "size %zu: %d\n", mid, st);
    if (st == 202) {
      lo = mid;
      snprintf(last, sizeof last, "%s", id);
    } else {
      HL_ASSERT_EQ_INT(st, 413);
      hi = mid;
      snprintf(refused, sizeof refused, "%s", resp ? resp : "");
    }
    free(resp);
  }
  fprintf(stderr, "largest accepted: %zu bytes (%s)\n", lo, last);
  bool ok = e2e_wait_status(&hk, last, "SUCCESS", 30000);
  fprintf(stderr, "handed-back warnings: %d; fan-out failures: %d\n",
          e2e_log_lines(&hk, "a record keeps being handed back; it is read again after a back-off", NULL),
          e2e_log_lines(&hk, "fan-out failed; the record goes to a processor retry tier", NULL));
  HL_ASSERT_MSG(ok, "%s, accepted with 202, was not delivered within 30 s", last);
  hl_json_doc doc;
  hl_json_doc_init(&doc);
  HL_ASSERT_MSG(hl_json_parse(&doc, refused, strlen(refused), NULL) == 0, "413 body: %s", refused);
  const hl_json *d0 = hl_json_pointer(doc.root, "/details/0", 10);
  const char *code = hl_json_str(hl_json_get(doc.root, "error"));
  const char *at = d0 ? hl_json_str(hl_json_get(d0, "path")) : NULL;
  HL_ASSERT_MSG(code && strcmp(code, "payload_too_large") == 0 && at && strcmp(at, "") == 0, "413 body: %s", refused);
  hl_json_doc_dispose(&doc);
  stop_all();
}

/* A poison record (not JSON) Kafka took on the ingress topic, but whose
 * dead-letter copy (the same bytes plus reason and source_* headers) is
 * over message.max.bytes: dead-lettered without its body, with where it
 * lies and its size, and the partition moves on. */
HL_TEST_T(a_poison_record_too_large_to_copy_is_dead_lettered_without_its_body, 120) {
  start_all(NULL);
  setup_subs();
  enum { SZ = 999800 };
  char *v = malloc(SZ + 1);
  HL_ASSERT(v != NULL);
  memset(v, 'x', SZ);
  v[SZ] = '\0';
  char path[256], cmd[1200];
  snprintf(path, sizeof path, "%s/hookloop-poison-%d.txt", hl_tmp_base(), getpid());
  FILE *f = fopen(path, "w");
  HL_ASSERT(f != NULL);
  fwrite(v, 1, SZ, f);
  fclose(f);
  free(v);
  /* the whole file is one record's value (-D never matches) */
  snprintf(cmd, sizeof cmd, "kcat -P -b %s -t wh.ingress.payments.Payment.v1 -k poison -D '\\x01' %s 2>/dev/null",
           mk.bootstrap, path);
  HL_ASSERT_MSG(system(cmd) == 0, "kcat produce failed");
  unlink(path);
  kcat_produce("wh.ingress.payments.Payment.v1", "poison", "{\"eventHeader\":{\"uuid\":\"k-after-poison\",\"eventType\":\"Payment\"}}");
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "fast", 1, 30000, &doc), 1);
  hl_json_doc_dispose(&doc);
  bool found = false;
  char *dlq = NULL;
  for (int i = 0; i < 10 && !found; i++) {
    free(dlq);
    dlq = kcat_consume("wh.dlq");
    found = dlq && strstr(dlq, "poison|") && strstr(dlq, "reason=invalid_json") &&
            strstr(dlq, "value_bytes=999800") && strstr(dlq, "source_offset=0");
    if (!found) hl_sleep_ms(1000);
  }
  fprintf(stderr, "dead-letter produce refusals: %d; handed-back warnings: %d\n",
          e2e_log_lines(&hk, "kafka produce refused", "wh.dlq"),
          e2e_log_lines(&hk, "a record keeps being handed back; it is read again after a back-off", NULL));
  HL_ASSERT_MSG(found, "the poison record never reached wh.dlq: %.300s", dlq ? dlq : "");
  free(dlq);
  /* dead-lettered once, and said so once it was */
  HL_ASSERT_EQ_INT(e2e_log_lines(&hk, "record dead-lettered", "\"offset\":0,"), 1);
  stop_all();
}

/* Writes a record of n bytes of 'x' to topic with key (kcat, one value). */
static void kcat_produce_big(const char *topic, const char *key, size_t n) {
  char path[256], cmd[1200];
  snprintf(path, sizeof path, "%s/hookloop-big-%d.txt", hl_tmp_base(), getpid());
  FILE *f = fopen(path, "w");
  HL_ASSERT(f != NULL);
  for (size_t i = 0; i < n; i++) fputc('x', f);
  fclose(f);
  /* the whole file is one record's value (-D never matches) */
  snprintf(cmd, sizeof cmd, "kcat -P -b %s -t %s -k %s -D '\\x01' %s 2>/dev/null", mk.bootstrap, topic, key, path);
  HL_ASSERT_MSG(system(cmd) == 0, "kcat produce failed");
  unlink(path);
}

/* An outside producer's egress record that Kafka took, but whose retry
 * record (due_ms and the delivery headers added) is over
 * message.max.bytes: the delivery fails for good and is dead-lettered
 * without its body, instead of its record being read and its partner asked
 * again for ever. */
HL_TEST_T(a_delivery_whose_retry_record_is_too_large_fails_for_good, 120) {
  start_all(NULL);
  register_any_payment();
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(subscribe("fast", "big?codes=503,200", &doc), 201);
  char sub[64];
  snprintf(sub, sizeof sub, "%s", hl_json_str(hl_json_get(doc.root, "subscription_id")));
  hl_json_doc_dispose(&doc);
  kcat_produce_big("wh.egress.fast.Payment", "k-big", 999880);
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "big", 1, 30000, &doc), 1);
  hl_json_doc_dispose(&doc);
  char st[32] = "";
  int64_t attempts = -1;
  for (int i = 0; i < 200 && strcmp(st, "FAILED") != 0; i++) {
    e2e_delivery_to(&hk, "k-big", sub, st, sizeof st, &attempts);
    if (strcmp(st, "FAILED") != 0) hl_sleep_ms(50);
  }
  HL_ASSERT_MSG(strcmp(st, "FAILED") == 0, "the delivery is %s, not FAILED", st);
  char *dlq = kcat_consume("wh.dlq");
  HL_ASSERT_MSG(dlq && strstr(dlq, "k-big|") && strstr(dlq, "reason=too_large") && strstr(dlq, "value_bytes=999880"),
                "dead-letter topic: %.300s", dlq ? dlq : "");
  free(dlq);
  /* not asked again */
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "big", 2, 3000, &doc), 1);
  hl_json_doc_dispose(&doc);
  stop_all();
}

HL_TEST_T(malformed_records_go_to_dlq_and_the_partition_moves_on, 120) {
  start_all(NULL);
  setup_subs();
  /* Same key, so the same partition: the bad one first, then a good one. */
  kcat_produce("wh.ingress.payments.Payment.v1", "same", "{not json");
  /* A member name twice (I-JSON): the routing and a partner could read different types. */
  kcat_produce("wh.ingress.payments.Payment.v1", "same",
               "{\"eventHeader\":{\"uuid\":\"k-dup\",\"eventType\":\"Payment\",\"eventType\":\"Other\"}}");
  kcat_produce("wh.ingress.payments.Payment.v1", "same", "{\"eventHeader\":{\"uuid\":\"k-after-bad\",\"eventType\":\"Payment\"}}");
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "fast", 1, 30000, &doc), 1);
  HL_ASSERT_EQ_STR(hl_json_str(hl_json_get(&doc.root->u.items[0], "webhook_id")), "k-after-bad");
  hl_json_doc_dispose(&doc);
  char *dlq = NULL;
  for (int i = 0; i < 50; i++) {
    free(dlq);
    dlq = kcat_consume("wh.dlq");
    if (dlq && strstr(dlq, "invalid_json") && strstr(dlq, "duplicate_member_name")) break;
    hl_sleep_ms(200);
  }
  HL_ASSERT_MSG(dlq && strstr(dlq, "same|") && strstr(dlq, "reason=invalid_json"), "dlq: %s", dlq ? dlq : "");
  HL_ASSERT_MSG(strstr(dlq, "reason=duplicate_member_name") && strstr(dlq, "/eventHeader") &&
                strstr(dlq, "eventType"), "dlq: %s", dlq);
  free(dlq);
  stop_all();
}

HL_TEST_T(kill_9_mid_run_loses_nothing, 400) {
  start_all(NULL);
  setup_subs();
  enum { N = 5000 };
  char id[64];
  int64_t before = 0;
  for (int i = 0; i < N; i++) {
    snprintf(id, sizeof id, "k-crash-%d", i);
    HL_ASSERT_EQ_INT(post(id, "USD"), 202);
    if (i == N / 2) {
      /* Let deliveries get going, then kill it hard mid-run. */
      for (int waited = 0; waited < 30000 && stat_of("unique_ids") < 200; waited += 50) hl_sleep_ms(50);
      kill(hk.pid, SIGKILL);
      hl_wait(hk.pid, 5000);
      hk.pid = 0;
      before = stat_of("unique_ids");
      e2e_start_hookloop(&hk, kafka_env);
    }
  }
  HL_ASSERT_MSG(before > 0 && before < N, "%lld delivered at the kill: the kill was not mid-run", (long long)before);
  for (int waited = 0; waited < 180000 && stat_of("unique_ids") < N; waited += 200) hl_sleep_ms(200);
  int64_t uniq = stat_of("unique_ids"), total = stat_of("requests");
  printf("kafka kill -9: %lld of %d delivered at the kill; after restart %lld unique, %lld requests "
         "(%lld duplicates, each with the same webhook-id)\n",
         (long long)before, N, (long long)uniq, (long long)total, (long long)(total - uniq));
  HL_ASSERT_EQ_INT(uniq, N);
  stop_all();
}

HL_TEST_T(broker_down_and_up_mid_run_loses_nothing, 500) {
  start_all(NULL);
  setup_subs();
  enum { N = 300 };
  char id[64];
  int refused = 0;
  pid_t upper = -1;
  for (int i = 0; i < N; i++) {
    snprintf(id, sizeof id, "k-down-%d", i);
    if (i == 100 && upper < 0) {
      HL_ASSERT(hl_mock_kafka_cmd(&mk, "down 2") == 0);
      /* Up again 3 s later, whatever the posting loop is waiting for. */
      upper = fork();
      if (upper == 0) {
        hl_sleep_ms(3000);
        static const char up[] = "up 2\n";
        ssize_t w = write(mk.in_fd, up, sizeof up - 1);
        _exit(w == (ssize_t)sizeof up - 1 ? 0 : 1);
      }
    }
    long code = post(id, "USD");
    HL_ASSERT_MSG(code == 202 || code == 503, "answered %ld", code);
    if (code == 503) { /* not acknowledged: the producer sends it again, as told */
      refused++;
      i--;
    }
  }
  int st = hl_wait(upper, 10000);
  HL_ASSERT(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
  printf("broker down/up: %d posts answered 503 and were sent again\n", refused);
  for (int waited = 0; waited < 120000 && stat_of("unique_ids") < N; waited += 200) hl_sleep_ms(200);
  HL_ASSERT_EQ_INT(stat_of("unique_ids"), N);
  stop_all();
}

/* Posts N events (ids prefix-0..N-1) and returns how long until the fast
 * partner has received all of them (printed, never asserted). */
static uint64_t fast_run(const char *prefix, int n, int already) {
  char id[64];
  uint64_t t0 = hl_mono_ms();
  for (int i = 0; i < n; i++) {
    snprintf(id, sizeof id, "%s-%d", prefix, i);
    HL_ASSERT_EQ_INT(post(id, "USD"), 202);
  }
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "fast", (size_t)(already + n), 60000, &doc), already + n);
  hl_json_doc_dispose(&doc);
  return hl_mono_ms() - t0;
}

/* A partner that answers nothing (it holds every request until the test
 * releases it) beside a fast one on the same events: the fast one gets
 * every event while the slow one has its max_in_flight waiting and has
 * answered none. Order and counts, no clock: if the fast partner's
 * deliveries waited on the slow one's in any way, they would never come. */
HL_TEST_T(a_slow_partner_does_not_slow_a_fast_one, 300) {
  start_all(NULL);
  setup_subs();
  enum { N = 200, SLOW_LIMIT = 8 };
  /* Warm up (assignment, connections). */
  fast_run("k-warm", 20, 0);
  char u[256], body[512];
  snprintf(u, sizeof u, "%s/admin/subscriptions", hk.base);
  snprintf(body, sizeof body, "{\"partner_id\":\"slow\",\"event_type\":\"Payment\",\"url\":\"%s/hook/slow?hold=1\","
                              "\"max_in_flight\":%d}", partner.base, SLOW_LIMIT);
  HL_ASSERT_EQ_INT(e2e_call("POST", u, body, NULL), 201);
  uint64_t mixed = fast_run("k-mixed", N, 20);
  /* The slow one was really running: its limit is in use, nothing answered. */
  for (int waited = 0; waited < 30000 && e2e_partner_stat(&partner, "held") < SLOW_LIMIT; waited += 50) hl_sleep_ms(50);
  hl_json_doc doc;
  int slow = e2e_wait_requests(&partner, "slow", N, 0, &doc);
  hl_json_doc_dispose(&doc);
  printf("isolation: fast partner got %d events in %llu ms while the held partner had %d requests, none answered\n",
         N, (unsigned long long)mixed, slow);
  HL_ASSERT_EQ_INT(e2e_partner_stat(&partner, "held"), SLOW_LIMIT);
  HL_ASSERT_EQ_INT(slow, SLOW_LIMIT);
  /* Released, the slow partner gets every event too, each once. */
  HL_ASSERT_EQ_INT(e2e_release_until(&partner, "slow", N, 120000), N);
  stop_all();
}

HL_TEST_T(rebalance_between_two_instances_loses_nothing, 400) {
  start_all(NULL);
  setup_subs();
  /* A second instance in the same consumer group, with its own store. */
  e2e_hookloop second;
  memset(&second, 0, sizeof second);
  enum { N = 1000 };
  char id[64];
  for (int i = 0; i < N; i++) {
    snprintf(id, sizeof id, "k-reb-%d", i);
    HL_ASSERT_EQ_INT(post(id, "USD"), 202);
    if (i == N / 4) {
      e2e_start_hookloop(&second, kafka_env); /* joins: partitions move */
      char u[256], body[512];
      /* It learns the same subscriptions (its own store). */
      snprintf(u, sizeof u, "%s/admin/schemas", second.base);
      HL_ASSERT_EQ_INT(e2e_call("POST", u, "{\"event_type\":\"Payment\",\"domain\":\"payments\",\"schema\":"
                                         "{\"type\":\"object\",\"required\":[\"eventHeader\"]}}", NULL), 201);
      snprintf(u, sizeof u, "%s/admin/subscriptions", second.base);
      snprintf(body, sizeof body, "{\"partner_id\":\"fast\",\"event_type\":\"Payment\",\"url\":\"%s/hook/fast\"}", partner.base);
      HL_ASSERT_EQ_INT(e2e_call("POST", u, body, NULL), 201);
      snprintf(body, sizeof body, "{\"partner_id\":\"eur\",\"event_type\":\"Payment\",\"url\":\"%s/hook/eur\","
                                  "\"filter\":{\"/currency\":\"EUR\"}}", partner.base);
      HL_ASSERT_EQ_INT(e2e_call("POST", u, body, NULL), 201);
    }
    if (i == 3 * N / 4) {
      /* The first leaves gracefully: its partitions move to the second. */
      int st = e2e_stop_hookloop(&hk, SIGTERM, 30000);
      HL_ASSERT(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
      hk.pid = 0;
      e2e_hookloop tmp = hk;
      hk = second;          /* post the rest through the second */
      second = tmp;
    }
  }
  for (int waited = 0; waited < 180000 && stat_of("unique_ids") < N; waited += 200) hl_sleep_ms(200);
  int64_t uniq = stat_of("unique_ids"), total = stat_of("requests");
  printf("rebalance: %lld unique of %d, %lld requests\n", (long long)uniq, N, (long long)total);
  HL_ASSERT_EQ_INT(uniq, N);
  hl_rmtree(second.dir);
  free(second.dir);
  stop_all();
}

/* Kafka mode keeps the body of a dead-lettered delivery only on the
 * dead-letter topic: re-queueing finds it there and sends it again. */
HL_TEST_T(a_dead_lettered_delivery_can_be_requeued, 180) {
  const char *extra[] = {"wh.egress.again.Payment", NULL};
  start_all(extra);
  char u[256];
  register_any_payment();
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(subscribe("again", "again?codes=410,200", &doc), 201);
  char sub[64];
  snprintf(sub, sizeof sub, "%s", hl_json_str(hl_json_get(doc.root, "subscription_id")));
  hl_json_doc_dispose(&doc);
  HL_ASSERT_EQ_INT(post("k-requeue", "EUR"), 202);
  HL_ASSERT(e2e_wait_status(&hk, "k-requeue", "FAILED", 30000));
  /* Not yet dead-lettered: asking too early may find nothing, so wait. */
  char *dlq = NULL;
  for (int i = 0; i < 50; i++) {
    free(dlq);
    dlq = kcat_consume("wh.dlq");
    if (dlq && strstr(dlq, "k-requeue|")) break;
    hl_sleep_ms(200);
  }
  HL_ASSERT_MSG(dlq && strstr(dlq, "k-requeue|"), "dlq: %s", dlq ? dlq : "");
  free(dlq);
  snprintf(u, sizeof u, "%s/admin/deliveries/k-requeue/%s/retry", hk.base, sub);
  long code = e2e_call("POST", u, "", &doc);
  HL_ASSERT_MSG(code == 202, "re-queue answered %ld: %s", code,
                doc.root ? hl_json_str(hl_json_get(doc.root, "message")) : "");
  hl_json_doc_dispose(&doc);
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "again", 2, 30000, &doc), 2);
  /* The same event, the same webhook-id, now answered 200. */
  HL_ASSERT_EQ_STR(hl_json_str(hl_json_get(&doc.root->u.items[1], "webhook_id")), "k-requeue");
  hl_json_doc_dispose(&doc);
  HL_ASSERT(e2e_wait_status(&hk, "k-requeue", "SUCCESS", 30000));
  /* Delivered now: nothing to re-queue; an unknown event: not found. */
  HL_ASSERT_EQ_INT(e2e_call("POST", u, "", NULL), 409);
  snprintf(u, sizeof u, "%s/admin/deliveries/k-nothing/%s/retry", hk.base, sub);
  HL_ASSERT_EQ_INT(e2e_call("POST", u, "", NULL), 404);
  stop_all();
}

/* Recovering a time range in Kafka mode (docs/reliability.md): each
 * FAILED delivery of the range is found on the dead-letter topic and
 * produced again, as the single re-queue above does, by one job. */
HL_TEST_T(a_time_range_of_dead_lettered_deliveries_is_recovered, 180) {
  const char *extra[] = {"wh.egress.rk.Payment", NULL};
  start_all(extra);
  register_any_payment();
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(subscribe("rk", "rk?codes=410,200", &doc), 201);
  char sub[64], u[256];
  snprintf(sub, sizeof sub, "%s", hl_json_str(hl_json_get(doc.root, "subscription_id")));
  hl_json_doc_dispose(&doc);
  static const char *const ids[] = {"k-recover-1", "k-recover-2"};
  /* 60 s: under ASan on two busy cores one of these once took over 30. */
  for (size_t i = 0; i < HL_ARRAY_SIZE(ids); i++) {
    HL_ASSERT_EQ_INT(post(ids[i], "EUR"), 202);
    HL_ASSERT(e2e_wait_status(&hk, ids[i], "FAILED", 60000));
  }
  /* Both on the dead-letter topic before the job looks for them. */
  char *dlq = NULL;
  for (int i = 0; i < 50; i++) {
    free(dlq);
    dlq = kcat_consume("wh.dlq");
    if (dlq && strstr(dlq, "k-recover-1|") && strstr(dlq, "k-recover-2|")) break;
    hl_sleep_ms(200);
  }
  HL_ASSERT_MSG(dlq && strstr(dlq, "k-recover-1|") && strstr(dlq, "k-recover-2|"), "dlq: %s", dlq ? dlq : "");
  free(dlq);
  snprintf(u, sizeof u, "%s/admin/subscriptions/%s/recover", hk.base, sub);
  HL_ASSERT_EQ_INT(e2e_call("POST", u, "{\"since\":0,\"status\":[\"FAILED\"]}", NULL), 202);
  bool finished = false;
  for (int i = 0; i < 600 && !finished; i++) {
    HL_ASSERT_EQ_INT(e2e_call("GET", u, NULL, &doc), 200);
    finished = hl_json_get(doc.root, "finished")->type == HL_JSON_TRUE;
    if (!finished) {
      hl_json_doc_dispose(&doc);
      hl_sleep_ms(100);
    }
  }
  HL_ASSERT(finished);
  HL_ASSERT_EQ_STR(e2e_json_str(doc.root, "state"), "done");
  HL_ASSERT_EQ_INT(e2e_json_int(doc.root, "matched"), 2);
  HL_ASSERT_EQ_INT(e2e_json_int(doc.root, "requeued"), 2);
  HL_ASSERT_EQ_INT(e2e_json_int(doc.root, "errors"), 0);
  hl_json_doc_dispose(&doc);
  /* Each event again, with its webhook-id, now answered 200. */
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "rk", 4, 30000, &doc), 4);
  for (size_t i = 0; i < HL_ARRAY_SIZE(ids); i++) {
    int seen = 0;
    for (uint32_t k = 0; k < doc.root->len; k++)
      seen += strcmp(e2e_json_str(&doc.root->u.items[k], "webhook_id"), ids[i]) == 0;
    HL_ASSERT_MSG(seen == 2, "%s reached the partner %d times", ids[i], seen);
  }
  hl_json_doc_dispose(&doc);
  for (size_t i = 0; i < HL_ARRAY_SIZE(ids); i++) HL_ASSERT(e2e_wait_status(&hk, ids[i], "SUCCESS", 30000));
  stop_all();
}

static int64_t metric_of(const char *line_prefix) {
  char u[256], *body = NULL;
  snprintf(u, sizeof u, "%s/metrics", hk.base);
  HL_ASSERT_EQ_INT(hl_http("GET", u, NULL, 0, NULL, &body), 200);
  /* The sample's line, not the "# HELP name ..." one. */
  char want[256];
  snprintf(want, sizeof want, "\n%s", line_prefix);
  const char *at = body ? strstr(body, want) : NULL;
  int64_t v = at ? strtoll(at + strlen(want), NULL, 10) : -1;
  free(body);
  return v;
}

#define DUPLICATES "hookloop_deliveries_total{outcome=\"duplicate\"} "

/* Entries of the SQLite store's idempotency ledger whose key starts with
 * prefix, and the delivered_gen of a status row (-2: no row, -3: NULL),
 * read on a read-only connection of the test's own. */
static int64_t sqlite_scalar(const char *sql, const char *a, const char *b) {
  char path[4096];
  snprintf(path, sizeof path, "%s/hookloop.db", hk.dir);
  sqlite3 *db = NULL;
  sqlite3_stmt *st = NULL;
  int64_t v = -2;
  HL_ASSERT(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
  HL_ASSERT_MSG(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK, "%s", sqlite3_errmsg(db));
  sqlite3_bind_text(st, 1, a, -1, SQLITE_TRANSIENT);
  if (b) sqlite3_bind_text(st, 2, b, -1, SQLITE_TRANSIENT);
  if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_type(st, 0) == SQLITE_NULL ? -3 : sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return v;
}

/* The idempotency ledger is what keeps a record delivered once: an egress
 * record already delivered, produced again (a producer's retry, a replay
 * by an operator), is consumed and answered "duplicate" without a second
 * POST. Replayed twice: the record as hookloop wrote it (its headers), and
 * as an outside producer writes it (key and value; the subscription comes
 * from the topic name). */
HL_TEST_T(a_replayed_egress_record_is_not_sent_twice, 180) {
  start_all(NULL);
  setup_subs();
  HL_ASSERT_EQ_INT(post("k-replay", "USD"), 202); /* to "fast" only: the filter keeps it from "eur" */
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "fast", 1, 30000, &doc), 1);
  const char *body = hl_json_str(hl_json_get(&doc.root->u.items[0], "body"));
  char value[512];
  snprintf(value, sizeof value, "%s", body);
  hl_json_doc_dispose(&doc);
  HL_ASSERT(e2e_wait_status(&hk, "k-replay", "SUCCESS", 10000));
  HL_ASSERT_EQ_INT(metric_of(DUPLICATES), 0);
  /* The record on the egress topic, with the headers hookloop gave it. */
  char *egress = kcat_consume("wh.egress.fast.Payment");
  HL_ASSERT_MSG(egress && strstr(egress, "k-replay|") && strstr(egress, "subscription_id="), "egress: %s",
                egress ? egress : "");
  const char *sid = strstr(egress, "subscription_id=") + strlen("subscription_id=");
  char sub_header[128];
  snprintf(sub_header, sizeof sub_header, "subscription_id=%.*s", (int)strcspn(sid, ",|\n"), sid);
  free(egress);
  const char *headers[] = {sub_header, "attempt=0", "event_type=Payment", NULL};
  kcat_produce_h("wh.egress.fast.Payment", "k-replay", value, headers);
  kcat_produce("wh.egress.fast.Payment", "k-replay", value);
  /* Both consumed, both stopped by the ledger. */
  int64_t dups = 0;
  for (int waited = 0; waited < 60000 && (dups = metric_of(DUPLICATES)) < 2; waited += 100) hl_sleep_ms(100);
  HL_ASSERT_EQ_INT(dups, 2);
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "fast", 2, 500, &doc), 1); /* no second POST */
  hl_json_doc_dispose(&doc);
  HL_ASSERT_EQ_INT(stat_of("requests"), 1);
  char st[32];
  e2e_status(&hk, "k-replay", st, sizeof st, NULL);
  HL_ASSERT_EQ_STR(st, "SUCCESS");
  /* On SQLite what stopped them is the status row's delivered generation,
   * not a ledger entry: a delivery costs no write to the ledger. */
  const char *sub = sub_header + strlen("subscription_id=");
  HL_ASSERT_EQ_INT(sqlite_scalar("SELECT delivered_gen FROM event_delivery_status WHERE event_id=?1 AND "
                                 "subscription_id=?2", "k-replay", sub), 0);
  HL_ASSERT_EQ_INT(sqlite_scalar("SELECT COUNT(*) FROM idempotency_ledger WHERE idempotency_key LIKE ?1 || '%'",
                                 sub, NULL), 0);
  stop_all();
}

/* Back-pressure with a backlog many times the subscription's memory share:
 * the partitions feeding it are held while it is throttled, what it held
 * is handed back when it is replaced in place (the limit lifted), and
 * every record then reaches the partner exactly once and is committed. */
HL_TEST_T(a_held_backlog_is_delivered_once_when_the_limit_lifts, 300) {
  enum { N = 400, LIMIT = 4, CHUNK = 64 };
  const char *extra[] = {"wh.egress.held.Payment", NULL};
  const char *debug[] = {"LOG_LEVEL=debug", NULL}; /* the "partition held" lines */
  extra_env = debug;
  start_all(extra);
  extra_env = NULL;
  char u[256], body[512];
  register_any_payment();
  snprintf(u, sizeof u, "%s/admin/subscriptions", hk.base);
  snprintf(body, sizeof body, "{\"partner_id\":\"held\",\"event_type\":\"Payment\",\"url\":\"%s/hook/held\","
                              "\"max_in_flight\":%d,\"rate_limit_per_s\":1}", partner.base, LIMIT);
  HL_ASSERT_EQ_INT(e2e_call("POST", u, body, NULL), 201);
  /* One record first: once it arrives, the partitions are assigned and
   * the backlog below is consumed while the subscription is throttled. */
  kcat_produce_many("wh.egress.held.Payment", "h-first", 1);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "held", 1, 60000, &doc), 1);
  hl_json_doc_dispose(&doc);
  kcat_produce_many("wh.egress.held.Payment", "h", N);
  /* Each partition is held once the subscription has its memory cap in
   * memory (twice its limit, for a limit this small); a partition read in
   * the same turn adds at most one chunk. */
  int held = 0;
  for (int waited = 0; waited < 60000; waited += 100) {
    char *log = hl_read_file(hk.log, NULL);
    held = 0;
    for (const char *at = log; at && (at = strstr(at, "\"msg\":\"partition held\"")) != NULL; at++) {
      const char *im = strstr(at, "\"in_memory\":");
      HL_ASSERT(im != NULL);
      long n = strtol(im + strlen("\"in_memory\":"), NULL, 10);
      HL_ASSERT_MSG(n >= 2 * LIMIT && n <= 2 * LIMIT + 4 * CHUNK, "held with %ld in memory", n);
      held++;
    }
    free(log);
    if (held > 0 && stat_of("requests") >= 3) break; /* throttled for a while, backlog waiting */
    hl_sleep_ms(100);
  }
  HL_ASSERT_MSG(held > 0, "the subscription's feed was never held");
  HL_ASSERT_MSG(stat_of("requests") < 1 + N / 2, "not throttled: %lld requests", (long long)stat_of("requests"));
  /* Lift the limit: the same subscription, replaced in place. */
  snprintf(body, sizeof body, "{\"partner_id\":\"held\",\"event_type\":\"Payment\",\"url\":\"%s/hook/held\","
                              "\"max_in_flight\":%d}", partner.base, LIMIT);
  HL_ASSERT_EQ_INT(e2e_call("POST", u, body, NULL), 200); /* updated */
  for (int waited = 0; waited < 120000 && stat_of("unique_ids") < 1 + N; waited += 100) hl_sleep_ms(100);
  HL_ASSERT_EQ_INT(stat_of("unique_ids"), 1 + N);
  HL_ASSERT_EQ_INT(stat_of("requests"), 1 + N); /* each once */
  /* Every record is done: after a restart nothing comes again, not even
   * as a duplicate the ledger would stop. A new record shows the restarted
   * instance is consuming. (A SIGTERM commits what is done before exiting.) */
  int st = e2e_stop_hookloop(&hk, SIGTERM, 30000);
  HL_ASSERT_MSG(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "hookloop exit status %d", st);
  e2e_start_hookloop(&hk, kafka_env);
  kcat_produce_many("wh.egress.held.Payment", "h-last", 1);
  for (int waited = 0; waited < 60000 && stat_of("unique_ids") < 2 + N; waited += 100) hl_sleep_ms(100);
  HL_ASSERT_EQ_INT(stat_of("unique_ids"), 2 + N);
  HL_ASSERT_EQ_INT(stat_of("requests"), 2 + N);
  HL_ASSERT_EQ_INT(metric_of(DUPLICATES), 0);
  stop_all();
}

/* "down" or "up" to each of the three mock brokers. */
static void every_broker(const char *what) {
  for (int b = 1; b <= 3; b++) {
    char cmd[32];
    snprintf(cmd, sizeof cmd, "%s %d", what, b);
    HL_ASSERT(hl_mock_kafka_cmd(&mk, cmd) == 0);
  }
}

/* Issue 12 item 6 in Kafka mode: the brokers are a part of health (a
 * metadata request on the threadpool). Every broker down: 503 naming kafka;
 * up again: 200. The broker process killed: 503 naming kafka. */
HL_TEST_T(health_names_kafka_when_the_brokers_are_down, 240) {
  start_all(NULL);
  hl_json_doc doc;
  e2e_health_until(&hk, 200, &doc, 10000);
  e2e_health_assert_passing(doc.root, "kafka");
  e2e_health_assert_passing(doc.root, "sqlite");
  hl_json_doc_dispose(&doc);
  every_broker("down");
  e2e_health_until(&hk, 503, &doc, 30000);
  e2e_health_assert_failing(doc.root, "kafka", "no broker answered");
  hl_json_doc_dispose(&doc);
  every_broker("up");
  e2e_health_until(&hk, 200, &doc, 60000);
  hl_json_doc_dispose(&doc);
  kill(mk.pid, SIGKILL);
  hl_wait(mk.pid, 5000);
  e2e_health_until(&hk, 503, &doc, 30000);
  e2e_health_assert_failing(doc.root, "kafka", "no broker answered");
  hl_json_doc_dispose(&doc);
  stop_all();
}

/* Reads topic until it holds needle (up to 10 s); returns its text (free it). */
static char *wait_topic_for(const char *topic, const char *needle) {
  char *text = NULL;
  for (int i = 0; i < 50; i++) {
    free(text);
    text = kcat_consume(topic);
    if (text && strstr(text, needle)) break;
    hl_sleep_ms(200);
  }
  return text;
}

/* The line of a kcat dump whose key is key ("key|headers|value"), copied into out. */
static bool line_of(const char *dump, const char *key, char *out, size_t outlen) {
  char want[128];
  snprintf(want, sizeof want, "%s|", key);
  for (const char *at = dump; at && *at;) {
    const char *end = strchr(at, '\n');
    size_t n = end ? (size_t)(end - at) : strlen(at);
    if (strncmp(at, want, strlen(want)) == 0) {
      snprintf(out, outlen, "%.*s", (int)n, at);
      return true;
    }
    at = end ? end + 1 : NULL;
  }
  return false;
}

/* Any producer may write to wh.egress.<partner_id>.<event_type>: a record
 * without a subscription_id header belongs to the subscription registered
 * with that topic, also when the partner id has a dot in it. A record that
 * names no known subscription goes to the dead-letter topic, never
 * acknowledged and lost. */
HL_TEST_T(egress_records_without_a_subscription_header_are_resolved_by_topic_or_dead_lettered, 180) {
  const char *extra[] = {"wh.egress.acme.eu.Payment", "wh.egress.nobody.Payment", NULL};
  start_all(extra);
  register_any_payment();
  HL_ASSERT_EQ_INT(subscribe("acme.eu", "dotted", NULL), 201);
  static const char ev[] = "{\"eventHeader\":{\"uuid\":\"%s\",\"eventType\":\"Payment\"},\"amount\":2.50}";
  static const struct {
    const char *topic, *key, *header;
  } recs[] = {
      {"wh.egress.nobody.Payment", "k-nobody", NULL},
      /* A retry record for a subscription that is gone. */
      {"wh.retry.200ms", "k-gone", "subscription_id=sub_gone"},
      /* Ids that are no event id (hl_event_id.h): an event_id header with
       * CR LF in it, which became the webhook-id header and so a header of
       * the writer's choosing at the partner, and a key with a space: both
       * dead-lettered, never sent. */
      {"wh.egress.acme.eu.Payment", "k-inj", "event_id=k-inj\r\nX-Injected: yes"},
      {"wh.egress.acme.eu.Payment", "k sp", NULL},
      /* Due in the year 3000: waited for, it held its partition for good. */
      {"wh.egress.acme.eu.Payment", "k-far", "due_ms=32503680000000"},
      {"wh.egress.acme.eu.Payment", "k-by-topic", NULL},
  };
  for (size_t i = 0; i < HL_ARRAY_SIZE(recs); i++) {
    char v[256];
    snprintf(v, sizeof v, ev, strcmp(recs[i].key, "k sp") == 0 ? "k-sp" : recs[i].key);
    const char *h[] = {recs[i].header, NULL};
    kcat_produce_h(recs[i].topic, recs[i].key, v, recs[i].header ? h : NULL);
  }
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "dotted", 1, 30000, &doc), 1);
  HL_ASSERT(hl_json_get(hl_json_get(&doc.root->u.items[0], "x_headers"), "x-injected") == NULL);
  HL_ASSERT_EQ_STR(hl_json_str(hl_json_get(&doc.root->u.items[0], "webhook_id")), "k-by-topic");
  hl_json_doc_dispose(&doc);
  HL_ASSERT(e2e_wait_status(&hk, "k-by-topic", "SUCCESS", 10000));
  char *dlq = wait_topic_for("wh.dlq", "k-gone|");
  if (dlq && !strstr(dlq, "k-nobody|")) {
    free(dlq);
    dlq = wait_topic_for("wh.dlq", "k-nobody|");
  }
  char line[1024];
  HL_ASSERT_MSG(dlq && line_of(dlq, "k-nobody", line, sizeof line), "dlq: %s", dlq ? dlq : "");
  HL_ASSERT_MSG(strstr(line, "reason=unknown_subscription") && strstr(line, "source_topic=wh.egress.nobody.Payment") &&
                strstr(line, "\"k-nobody\""), "%s", line);
  HL_ASSERT_MSG(line_of(dlq, "k-gone", line, sizeof line), "dlq: %s", dlq);
  HL_ASSERT_MSG(strstr(line, "reason=unknown_subscription") && strstr(line, "source_topic=wh.retry.200ms"), "%s", line);
  HL_ASSERT_MSG(!strstr(dlq, "k-by-topic|"), "dlq: %s", dlq);
  /* Each on its own partition: waited for one by one. */
  const char *invalid_keys[] = {"k sp|", "k-inj|"};
  for (size_t i = 0; i < 2; i++)
    if (dlq && !strstr(dlq, invalid_keys[i])) {
      free(dlq);
      dlq = wait_topic_for("wh.dlq", invalid_keys[i]);
    }
  HL_ASSERT_MSG(dlq && strstr(dlq, "k-inj|") && strstr(dlq, "k sp|"), "dlq: %s", dlq ? dlq : "");
  int invalid = 0;
  for (const char *p = dlq; (p = strstr(p, "reason=invalid_event_id")) != NULL; p++) invalid++;
  HL_ASSERT_MSG(invalid == 2, "%d invalid_event_id dead letters: %s", invalid, dlq);
  if (!strstr(dlq, "k-far|")) {
    free(dlq);
    dlq = wait_topic_for("wh.dlq", "k-far|");
  }
  HL_ASSERT_MSG(dlq && line_of(dlq, "k-far", line, sizeof line), "dlq: %s", dlq ? dlq : "");
  HL_ASSERT_MSG(strstr(line, "reason=invalid_due"), "%s", line);
  free(dlq);
  /* Only k-by-topic reached the partner. */
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "dotted", 1, 1000, &doc), 1);
  hl_json_doc_dispose(&doc);
  stop_all();
}

/* A copy of an egress record that arrives while the original's attempt is
 * still at the partner waits for it, then is stopped by the duplicate
 * check: the partner gets the event once. Both read "not delivered" at
 * once before (the first had not been recorded yet), and both were sent. */
HL_TEST_T(a_copy_arriving_during_the_attempt_is_not_sent_twice, 180) {
  const char *extra[] = {"wh.egress.copies.Payment", NULL};
  start_all(extra);
  register_any_payment();
  HL_ASSERT_EQ_INT(subscribe("copies", "copies?hold=1", NULL), 201);
  HL_ASSERT_EQ_INT(post("k-copy", "USD"), 202);
  for (int waited = 0; waited < 30000 && stat_of("held") < 1; waited += 50) hl_sleep_ms(50);
  HL_ASSERT_EQ_INT(stat_of("held"), 1);
  /* The record as hookloop wrote it, written again while it is held. */
  char *egress = wait_topic_for("wh.egress.copies.Payment", "k-copy|");
  char line[1024];
  HL_ASSERT_MSG(egress && line_of(egress, "k-copy", line, sizeof line), "egress: %s", egress ? egress : "");
  free(egress);
  const char *sid = strstr(line, "subscription_id=");
  HL_ASSERT(sid != NULL);
  sid += strlen("subscription_id=");
  char sub_header[128];
  snprintf(sub_header, sizeof sub_header, "subscription_id=%.*s", (int)strcspn(sid, ",|\n"), sid);
  const char *value = strchr(strchr(line, '|') + 1, '|') + 1;
  const char *headers[] = {sub_header, "attempt=0", "event_type=Payment", NULL};
  kcat_produce_h("wh.egress.copies.Payment", "k-copy", value, headers);
  /* Long enough for the copy to be read and, before, sent. */
  hl_sleep_ms(2500);
  HL_ASSERT_EQ_INT(stat_of("held"), 1);
  HL_ASSERT_EQ_INT(e2e_release_until(&partner, "copies", 1, 30000), 1);
  int64_t dups = 0;
  for (int waited = 0; waited < 60000 && (dups = metric_of(DUPLICATES)) < 1; waited += 100) hl_sleep_ms(100);
  HL_ASSERT_EQ_INT(dups, 1);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "copies", 2, 500, &doc), 1);
  hl_json_doc_dispose(&doc);
  HL_ASSERT(e2e_wait_status(&hk, "k-copy", "SUCCESS", 10000));
  stop_all();
}

static int64_t metric_reaching(const char *line_prefix, int64_t want) {
  int64_t v = -1;
  for (int waited = 0; waited < 10000 && (v = metric_of(line_prefix)) < want; waited += 100) hl_sleep_ms(100);
  return v;
}

/* /metrics in Kafka mode counts what each stage did: the API's accepts,
 * the processor's records (from the API or any producer, dead-lettered
 * ones included) and every dead letter. */
HL_TEST_T(metrics_count_the_processor_and_its_dead_letters, 180) {
  start_all(NULL);
  setup_subs();
  HL_ASSERT_EQ_INT(post("k-m-1", "EUR"), 202); /* fast and eur */
  HL_ASSERT_EQ_INT(post("k-m-2", "USD"), 202); /* fast */
  kcat_produce("wh.ingress.payments.Payment.v1", "k-m-3",
               "{\"eventHeader\":{\"uuid\":\"k-m-3\",\"eventType\":\"Payment\"},\"currency\":\"EUR\"}");
  kcat_produce("wh.ingress.payments.Payment.v1", "k-m-bad", "{not json");
  kcat_produce("wh.ingress.payments.Payment.v1", "k-m-invalid", "{\"eventHeader\":{\"eventType\":\"Payment\"}}");
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "fast", 3, 30000, &doc), 3);
  hl_json_doc_dispose(&doc);
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "eur", 2, 30000, &doc), 2);
  hl_json_doc_dispose(&doc);
  char *dlq = wait_topic_for("wh.dlq", "k-m-invalid|");
  HL_ASSERT_MSG(dlq && strstr(dlq, "k-m-bad|") && strstr(dlq, "k-m-invalid|"), "dlq: %s", dlq ? dlq : "");
  free(dlq);
  HL_ASSERT_EQ_INT(metric_reaching("hookloop_deliveries_total{outcome=\"success\"} ", 5), 5);
  HL_ASSERT_EQ_INT(metric_reaching("hookloop_events_to_dlq_total ", 2), 2);
  HL_ASSERT_EQ_INT(metric_reaching("hookloop_events_processed_total ", 5), 5); /* 3 fanned out, 2 dead-lettered */
  HL_ASSERT_EQ_INT(metric_of("hookloop_events_accepted_total "), 2);
  stop_all();
}

/* How many times librdkafka's cgrp debug lines in hookloop's log say the
 * member left its group (a LeaveGroup). */
static int leaves_in_log(void) {
  char *log = hl_read_file(hk.log, NULL);
  int n = 0;
  for (const char *at = log; at && (at = strstr(at, "\": leave (in state")) != NULL; at++) n++;
  free(log);
  return n;
}

/* Static membership (KAFKA_GROUP_INSTANCE_ID, the group.instance.id of
 * KIP-345). librdkafka's mock cluster — the broker of these tests, from
 * librdkafka 2.0.2 — reads a JoinGroup's GroupInstanceId and ignores it: a
 * restarted member joins as a new member, and the killed one keeps its
 * partitions until the session timeout, just as without static membership.
 * What a real broker (Kafka >= 2.3, MSK) does with it, handing the
 * partitions back to the restarted member at once, cannot be shown here.
 * What is tested: the setting reaches librdkafka (a static member does not
 * send LeaveGroup when it stops, and a dynamic one does: counted in
 * librdkafka's cgrp debug lines), and a static member killed with -9 and
 * restarted with the same id delivers everything, unfenced. The time to the
 * first delivery after the restart is printed: on the mock it is bounded
 * by the (lowered, 6 s) session timeout. */
HL_TEST_T(static_membership_a_killed_member_restarts_with_its_id, 300) {
  const char *static_env[] = {"KAFKA_GROUP_INSTANCE_ID=hookloop-task-1", "HOOKLOOP_KAFKA_DEBUG=cgrp", NULL};
  extra_env = static_env;
  start_all(NULL);
  extra_env = NULL;
  setup_subs();
  enum { N = 40 };
  char id[64];
  for (int i = 0; i < N / 2; i++) {
    snprintf(id, sizeof id, "k-static-%d", i);
    HL_ASSERT_EQ_INT(post(id, "USD"), 202);
  }
  for (int waited = 0; waited < 60000 && stat_of("unique_ids") < N / 2; waited += 100) hl_sleep_ms(100);
  HL_ASSERT_EQ_INT(stat_of("unique_ids"), N / 2);
  char *log = hl_read_file(hk.log, NULL);
  HL_ASSERT_MSG(log && strstr(log, "|JOIN|") != NULL, "no librdkafka cgrp debug lines in the log");
  free(log);
  kill(hk.pid, SIGKILL);
  hl_wait(hk.pid, 5000);
  hk.pid = 0;
  e2e_start_hookloop(&hk, kafka_env); /* the same KAFKA_GROUP_INSTANCE_ID */
  uint64_t t0 = hl_mono_ms();
  for (int i = N / 2; i < N; i++) {
    snprintf(id, sizeof id, "k-static-%d", i);
    HL_ASSERT_EQ_INT(post(id, "USD"), 202);
  }
  uint64_t first = 0;
  for (int waited = 0; waited < 90000; waited += 50) {
    int64_t u = stat_of("unique_ids");
    if (!first && u > N / 2) first = hl_mono_ms() - t0;
    if (u >= N) break;
    hl_sleep_ms(50);
  }
  HL_ASSERT_EQ_INT(stat_of("unique_ids"), N);
  printf("static membership: first delivery %llu ms after the restart, all %d after %llu ms "
         "(the mock broker ignores group.instance.id: bounded by the 6 s session timeout here)\n",
         (unsigned long long)first, N, (unsigned long long)(hl_mono_ms() - t0));
  /* A static member stops without leaving the group. */
  int st = e2e_stop_hookloop(&hk, SIGTERM, 30000);
  HL_ASSERT_MSG(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "hookloop exit status %d", st);
  hk.pid = 0;
  HL_ASSERT_EQ_INT(leaves_in_log(), 0);
  /* The control: the same without an instance id leaves it. */
  const char *dynamic_env[] = {"HOOKLOOP_KAFKA_DEBUG=cgrp", NULL};
  set_env(dynamic_env);
  e2e_start_hookloop(&hk, kafka_env);
  HL_ASSERT_EQ_INT(post("k-static-dynamic", "USD"), 202);
  for (int waited = 0; waited < 90000 && stat_of("unique_ids") < N + 1; waited += 100) hl_sleep_ms(100);
  HL_ASSERT_EQ_INT(stat_of("unique_ids"), N + 1); /* in the group, consuming */
  st = e2e_stop_hookloop(&hk, SIGTERM, 30000);
  HL_ASSERT_MSG(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "hookloop exit status %d", st);
  hk.pid = 0;
  HL_ASSERT(leaves_in_log() >= 1);
  stop_all();
}

/* Kafka mode: the egress consumer's deliveries are transformed too, and a
 * retry from the retry tier (which carries the accepted bytes) is
 * transformed again; the status names the version. */
HL_TEST_T(transformed_bytes_go_out_from_egress_and_the_retry_tier, 120) {
  start_all(NULL);
  register_any_payment();
  char u[256], body[512];
  snprintf(u, sizeof u, "%s/admin/subscriptions", hk.base);
  snprintf(body, sizeof body, "{\"partner_id\":\"fast\",\"event_type\":\"Payment\",\"url\":\"%s/hook/flaky?codes=503,200\"}",
           partner.base);
  HL_ASSERT_EQ_INT(e2e_call("POST", u, body, NULL), 201);
  snprintf(u, sizeof u, "%s/admin/transformations", hk.base);
  HL_ASSERT_EQ_INT(e2e_call("POST", u, "{\"event_type\":\"Payment\",\"spec\":{\"version\":1,\"ops\":["
                                     "{\"op\":\"pick\",\"paths\":[\"/eventHeader/uuid\",\"/amount\"]}]}}", NULL), 201);
  kcat_produce("wh.ingress.payments.Payment.v1", "k-xf-1",
               "{\"eventHeader\":{\"uuid\":\"k-xf-1\",\"eventType\":\"Payment\"},\"currency\":\"EUR\",\"amount\":123.4500}");
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "flaky", 2, 30000, &doc), 2);
  for (uint32_t i = 0; i < 2; i++)
    HL_ASSERT_EQ_STR(hl_json_str(hl_json_get(&doc.root->u.items[i], "body")),
                     "{\"eventHeader\":{\"uuid\":\"k-xf-1\"},\"amount\":123.4500}");
  hl_json_doc_dispose(&doc);
  HL_ASSERT(e2e_wait_status(&hk, "k-xf-1", "SUCCESS", 10000));
  snprintf(u, sizeof u, "%s/admin/deliveries?event_id=k-xf-1", hk.base);
  HL_ASSERT_EQ_INT(e2e_call("GET", u, NULL, &doc), 200);
  const hl_json *t = hl_json_get(&hl_json_get(doc.root, "deliveries")->u.items[0], "transformations");
  HL_ASSERT(t && t->len == 1);
  HL_ASSERT_EQ_STR(hl_json_str(hl_json_get(&t->u.items[0], "transformation_id")), "event_type:Payment");
  hl_json_doc_dispose(&doc);
  stop_all();
}

/* Produces one record with kcat to one partition of topic. */
static void kcat_produce_to(const char *topic, int partition, const char *key, const char *value) {
  char path[256], cmd[1200];
  snprintf(path, sizeof path, "%s/hookloop-kcat-p-%d.txt", hl_tmp_base(), getpid());
  FILE *f = fopen(path, "w");
  HL_ASSERT(f != NULL);
  fprintf(f, "%s|%s\n", key, value);
  fclose(f);
  snprintf(cmd, sizeof cmd, "kcat -P -b %s -t %s -p %d -K '|' -l %s 2>/dev/null", mk.bootstrap, topic, partition, path);
  HL_ASSERT_MSG(system(cmd) == 0, "kcat produce failed");
  unlink(path);
}

/* How many records of topic dump (kcat_consume) have key. */
static int records_keyed(const char *dump, const char *key) {
  int n = 0;
  size_t kl = strlen(key);
  for (const char *line = dump; line && *line;) {
    if (strncmp(line, key, kl) == 0 && line[kl] == '|') n++;
    const char *nl = strchr(line, '\n');
    line = nl ? nl + 1 : NULL;
  }
  return n;
}

#define PROC_TIER "wh.retry.processor.200ms"

/* Processor retries and the processed# marker: fan-out produces that fail
 * (the brokers refuse them) put their ingress records on the processor
 * retry tier, from which they are fanned out 200 ms later. Once every
 * record is fanned out the processor is killed with SIGKILL, before all of
 * its offsets are committed, and restarted: the ingress and tier records
 * consumed again find their markers, and each event is on the egress topic
 * exactly once. */
HL_TEST_T(a_processor_retry_then_kill_9_fans_each_event_out_once, 240) {
  start_all(NULL); /* PROC_TIER among the topics made up front */
  register_any_payment();
  HL_ASSERT_EQ_INT(subscribe("fast", "fast", NULL), 201);
  /* Stopped while the records go in, so that the refused produces are the
   * processor's fan-out, not kcat's. */
  int st = e2e_stop_hookloop(&hk, SIGTERM, 30000);
  HL_ASSERT_MSG(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "hookloop exit status %d", st);
  enum { N = 200 };
  kcat_produce_many("wh.ingress.payments.Payment.v1", "k-pk", N);
  /* The next Produce request fails (INVALID_RECORD: not retried by
   * librdkafka; not MSG_SIZE_TOO_LARGE, which hookloop takes as permanent
   * and dead-letters): the first fan-out's. */
  HL_ASSERT(hl_mock_kafka_cmd(&mk, "error 0 1 87") == 0);
  e2e_start_hookloop(&hk, kafka_env);
  int64_t processed = 0, retried = 0;
  for (int waited = 0; waited < 60000 && (processed = metric_of("hookloop_events_processed_total ")) < N; waited += 20)
    hl_sleep_ms(20);
  int64_t to_retry = metric_of("hookloop_events_to_retry_total ");
  kill(hk.pid, SIGKILL);
  hl_wait(hk.pid, 5000);
  hk.pid = 0;
  HL_ASSERT_EQ_INT(processed, N);
  /* The log says how many were sent to the tier. */
  char *log = hl_read_file(hk.log, NULL);
  for (const char *at = log; at && (at = strstr(at, "the record goes to a processor retry tier")); at++) retried++;
  free(log);
  HL_ASSERT_MSG(retried > 0, "no fan-out was refused: the test did not make a processor retry");
  HL_ASSERT_EQ_INT(to_retry, retried); /* each acknowledged on the tier, counted once */
  e2e_start_hookloop(&hk, kafka_env);
  /* A last record on every partition of the ingress topic and the tier:
   * once they are fanned out, everything before them was consumed again. */
  char key[64], value[256];
  for (int t = 0; t < 2; t++)
    for (int part = 0; part < 4; part++) {
      snprintf(key, sizeof key, "k-pk-last-%d-%d", t, part);
      snprintf(value, sizeof value, "{\"eventHeader\":{\"uuid\":\"%s\",\"eventType\":\"Payment\"},\"currency\":\"EUR\"}", key);
      kcat_produce_to(t == 0 ? "wh.ingress.payments.Payment.v1" : PROC_TIER, part, key, value);
    }
  char *egress = NULL;
  for (int waited = 0; waited < 60000; waited += 200) {
    free(egress);
    egress = kcat_consume("wh.egress.fast.Payment");
    int last = 0;
    for (int t = 0; t < 2; t++)
      for (int part = 0; part < 4; part++) {
        snprintf(key, sizeof key, "k-pk-last-%d-%d", t, part);
        last += records_keyed(egress, key) > 0;
      }
    if (last == 8) break;
    hl_sleep_ms(200);
  }
  int once = 0, twice = 0;
  for (int i = 0; i < N; i++) {
    snprintf(key, sizeof key, "k-pk-%d", i);
    int n = records_keyed(egress, key);
    once += n == 1;
    twice += n > 1;
  }
  free(egress);
  printf("processor retry + kill -9: %lld records via the retry tier; %d of %d fanned out once, %d more than once\n",
         (long long)retried, once, N, twice);
  HL_ASSERT_EQ_INT(twice, 0);
  HL_ASSERT_EQ_INT(once, N);
  stop_all();
}

/* --- replay (POST /admin/events/{id}/replay) on the Kafka queue -------------------------------- */

/* The attempt numbers of the attempt log of (id, sub), oldest first; returns the count. */
static size_t attempt_log(const char *id, const char *sub, int64_t *out, size_t cap) {
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_attempts(&hk, id, sub, &doc), 200);
  const hl_json *a = hl_json_get(doc.root, "attempts");
  size_t n = 0;
  for (uint32_t i = 0; a && a->type == HL_JSON_ARRAY && i < a->len && n < cap; i++)
    out[n++] = e2e_json_int(&a->u.items[i], "attempt");
  hl_json_doc_dispose(&doc);
  return n;
}

/* Subscribes partner_id at /hook/<hook>; returns its subscription id (caller frees). */
static char *subscribed(const char *partner_id, const char *hook) {
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(subscribe(partner_id, hook, &doc), 201);
  char *id = hl_strdup(e2e_json_str(doc.root, "subscription_id"));
  hl_json_doc_dispose(&doc);
  return id;
}

/* The partner's requests at /hook/name are exactly n, all with webhook-id
 * id and the bytes of the first. */
static void same_bytes_and_id(const char *name, size_t n, const char *id) {
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, name, n, 30000, &doc), (int)n);
  const hl_json *first = hl_json_get(&doc.root->u.items[0], "body");
  for (uint32_t i = 0; i < doc.root->len; i++) {
    const hl_json *r = &doc.root->u.items[i];
    HL_ASSERT_EQ_STR(e2e_json_str(r, "webhook_id"), id);
    const hl_json *b = hl_json_get(r, "body");
    HL_ASSERT(b->len == first->len && memcmp(hl_json_str(b), hl_json_str(first), b->len) == 0);
  }
  hl_json_doc_dispose(&doc);
}

/* A delivered event replayed: its record found on the egress topic and
 * produced again, so the partner gets the same webhook-id and the same
 * bytes, as a new attempt (2), replay generation 1. Replayed once more:
 * generation 2, delivered once although the first replay's ledger entry
 * exists (attempt 3, three requests in all). */
HL_TEST_T(a_delivered_event_is_replayed_from_its_egress_record_twice, 180) {
  const char *extra[] = {"wh.egress.rp.Payment", NULL};
  start_all(extra);
  register_any_payment();
  char *sub = subscribed("rp", "rp");
  HL_ASSERT_EQ_INT(post("k-rp-1", "EUR"), 202);
  e2e_wait_delivered(&hk, "k-rp-1", sub, 1);
  hl_json_doc doc;
  for (int gen = 1; gen <= 2; gen++) {
    HL_ASSERT_EQ_INT(e2e_replay(&hk, "k-rp-1", "{}", &doc), 202);
    HL_ASSERT_EQ_INT(e2e_json_int(doc.root, "queued"), 1);
    const hl_json *r = e2e_replay_result(doc.root, sub);
    HL_ASSERT(hl_json_get(r, "queued")->type == HL_JSON_TRUE);
    HL_ASSERT_EQ_INT(e2e_json_int(r, "replay"), gen);
    hl_json_doc_dispose(&doc);
    e2e_wait_delivered(&hk, "k-rp-1", sub, 1 + gen);
    same_bytes_and_id("rp", (size_t)(1 + gen), "k-rp-1");
  }
  int64_t nums[8];
  HL_ASSERT_EQ_INT(attempt_log("k-rp-1", sub, nums, 8), 3);
  HL_ASSERT(nums[0] == 1 && nums[1] == 2 && nums[2] == 3);
  /* An unknown event: nothing to replay. */
  HL_ASSERT_EQ_INT(e2e_replay(&hk, "k-rp-none", NULL, NULL), 404);
  HL_ASSERT_EQ_INT(stat_of("requests"), 3);
  free(sub);
  stop_all();
}

/* A FAILED delivery (410 on its only attempt, dead-lettered) replayed:
 * attempt 2, same webhook-id and bytes, now delivered. */
HL_TEST_T(a_dead_lettered_delivery_is_replayed, 180) {
  const char *extra[] = {"wh.egress.rpf.Payment", NULL};
  start_all(extra);
  register_any_payment();
  char *sub = subscribed("rpf", "rpf?codes=410,200");
  HL_ASSERT_EQ_INT(post("k-rpf-1", "EUR"), 202);
  char st[32];
  int64_t n = 0;
  for (int i = 0; i < 1500; i++) {
    e2e_delivery_to(&hk, "k-rpf-1", sub, st, sizeof st, &n);
    if (strcmp(st, "FAILED") == 0) break;
    hl_sleep_ms(20);
  }
  HL_ASSERT_EQ_STR(st, "FAILED");
  HL_ASSERT_EQ_INT(n, 1);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_replay(&hk, "k-rpf-1", NULL, &doc), 202);
  HL_ASSERT_EQ_INT(e2e_json_int(e2e_replay_result(doc.root, sub), "replay"), 1);
  hl_json_doc_dispose(&doc);
  e2e_wait_delivered(&hk, "k-rpf-1", sub, 2);
  same_bytes_and_id("rpf", 2, "k-rpf-1");
  free(sub);
  stop_all();
}

/* A replay whose produce is still out when the process is killed (-9):
 * the brokers refuse Produce with a retriable error (NOT_ENOUGH_REPLICAS),
 * so the record is not on the topic at the kill. After the restart the
 * delivery is as it was (not PENDING with no record to close it), and a
 * new replay is queued and reaches the partner: at once, or once the
 * killed replay's mark has lapsed (the produce's 4 s timeout and 10 s),
 * the new process having no way to tell a killed replay from another
 * process's replay under way; refused until then as under way. */
HL_TEST_T(a_replay_killed_before_kafka_took_it_can_be_replayed_after_the_restart, 180) {
  const char *extra[] = {"wh.egress.rpk.Payment", NULL};
  start_all(extra);
  register_any_payment();
  char *sub = subscribed("rpk", "rpk");
  HL_ASSERT_EQ_INT(post("k-rpk-1", "EUR"), 202);
  e2e_wait_delivered(&hk, "k-rpk-1", sub, 1);
  hl_sleep_ms(3000); /* its offset committed (every 500 ms): the replay of an old event */
  HL_ASSERT(hl_mock_kafka_cmd(&mk, "error 0 40 19") == 0);
  pid_t child = fork();
  if (child == 0) {
    e2e_replay(&hk, "k-rpk-1", "{}", NULL);
    _exit(0);
  }
  /* Killed while the produce is refused (for up to the message timeout,
   * 4 s): once the row reads PENDING on the code that reopened it first,
   * else after the lookup's time (the row stays SUCCESS). */
  char st[32] = "";
  int64_t n = 0;
  for (int i = 0; i < 300 && strcmp(st, "PENDING") != 0; i++) {
    e2e_delivery_to(&hk, "k-rpk-1", sub, st, sizeof st, &n);
    if (strcmp(st, "PENDING") != 0) hl_sleep_ms(5);
  }
  kill(hk.pid, SIGKILL);
  hl_wait(hk.pid, 5000);
  hk.pid = 0;
  hl_wait(child, 5000);
  kcat_produce("rpk.drain", "x", "x"); /* uses up the refusals left */
  e2e_start_hookloop(&hk, kafka_env);
  e2e_delivery_to(&hk, "k-rpk-1", sub, st, sizeof st, &n);
  HL_ASSERT_EQ_STR(st, "SUCCESS");
  hl_json_doc doc;
  bool queued = false;
  int refused = 0;
  for (int i = 0; i < 40 && !queued; i++) { /* 20 s: the mark lasts 14 s at most */
    HL_ASSERT_EQ_INT(e2e_replay(&hk, "k-rpk-1", "{}", &doc), 202);
    const hl_json *r = e2e_replay_result(doc.root, sub);
    queued = hl_json_get(r, "queued")->type == HL_JSON_TRUE;
    if (!queued) HL_ASSERT_EQ_STR(e2e_json_str(r, "reason"), "still_open");
    hl_json_doc_dispose(&doc);
    if (!queued) {
      refused++;
      hl_sleep_ms(500);
    }
  }
  HL_ASSERT_MSG(queued, "no replay queued 20 s after the restart");
  fprintf(stderr, "  replays refused as under way after the restart: %d\n", refused);
  e2e_wait_delivered(&hk, "k-rpk-1", sub, 2);
  HL_ASSERT_EQ_INT(stat_of("requests"), 2);
  free(sub);
  stop_all();
}

/* A replay whose produce the brokers refuse until its timeout (4 s) is a
 * 503, and the delivery can be replayed again at once: the mark that
 * refuses a second replay while one is under way is taken off, rather than
 * left to lapse (14 s), which would answer still_open meanwhile. */
HL_TEST_T(a_replay_whose_produce_was_refused_can_be_asked_for_again_at_once, 180) {
  const char *extra[] = {"wh.egress.rpu.Payment", NULL};
  start_all(extra);
  register_any_payment();
  char *sub = subscribed("rpu", "rpu");
  HL_ASSERT_EQ_INT(post("k-rpu-1", "EUR"), 202);
  e2e_wait_delivered(&hk, "k-rpu-1", sub, 1);
  HL_ASSERT(hl_mock_kafka_cmd(&mk, "error 0 64 19") == 0);
  HL_ASSERT_EQ_INT(e2e_replay(&hk, "k-rpu-1", "{}", NULL), 503);
  kcat_produce("rpu.drain", "x", "x"); /* uses up the refusals left */
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_replay(&hk, "k-rpu-1", "{}", &doc), 202);
  const hl_json *r = e2e_replay_result(doc.root, sub);
  HL_ASSERT_MSG(hl_json_get(r, "queued")->type == HL_JSON_TRUE, "the replay after the refused one: reason %s",
                e2e_json_str(r, "reason"));
  HL_ASSERT_EQ_INT(e2e_json_int(r, "replay"), 2); /* generation 1 was counted, and never sent */
  hl_json_doc_dispose(&doc);
  e2e_wait_delivered(&hk, "k-rpu-1", sub, 2);
  same_bytes_and_id("rpu", 2, "k-rpu-1");
  free(sub);
  stop_all();
}

/* Two subscriptions, one of them waiting for its retry (503 with
 * Retry-After: 8 s): replaying to all queues the delivered one and says
 * still_open for the other (not queued twice); replaying to a chosen one
 * sends it to that one only. */
HL_TEST_T(replay_skips_open_deliveries_and_goes_to_chosen_subscriptions, 180) {
  const char *extra[] = {"wh.egress.rpa.Payment", "wh.egress.rph.Payment", NULL};
  start_all(extra);
  register_any_payment();
  char *a = subscribed("rpa", "rpa");
  char *h = subscribed("rph", "rph?codes=503,200&retry_after=8");
  HL_ASSERT_EQ_INT(post("k-rpo-1", "EUR"), 202);
  e2e_wait_delivered(&hk, "k-rpo-1", a, 1);
  char st[32] = "";
  int64_t n = 0;
  for (int i = 0; i < 1500 && strcmp(st, "RETRYING") != 0; i++) {
    e2e_delivery_to(&hk, "k-rpo-1", h, st, sizeof st, &n);
    if (strcmp(st, "RETRYING") != 0) hl_sleep_ms(20);
  }
  HL_ASSERT_EQ_STR(st, "RETRYING");
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_replay(&hk, "k-rpo-1", NULL, &doc), 202);
  HL_ASSERT_EQ_INT(e2e_json_int(doc.root, "queued"), 1);
  HL_ASSERT_EQ_INT(e2e_json_int(e2e_replay_result(doc.root, a), "replay"), 1);
  HL_ASSERT_EQ_STR(e2e_json_str(e2e_replay_result(doc.root, h), "reason"), "still_open");
  hl_json_doc_dispose(&doc);
  e2e_wait_delivered(&hk, "k-rpo-1", a, 2);
  e2e_wait_delivered(&hk, "k-rpo-1", h, 2); /* its own retry, once */
  /* Chosen: only the second, now delivered, goes again. */
  char body[200];
  snprintf(body, sizeof body, "{\"subscriptions\":[\"%s\"]}", h);
  HL_ASSERT_EQ_INT(e2e_replay(&hk, "k-rpo-1", body, &doc), 202);
  HL_ASSERT_EQ_INT(e2e_json_int(doc.root, "queued"), 1);
  HL_ASSERT_EQ_INT(hl_json_get(doc.root, "subscriptions")->len, 1);
  HL_ASSERT_EQ_INT(e2e_json_int(e2e_replay_result(doc.root, h), "replay"), 1);
  hl_json_doc_dispose(&doc);
  e2e_wait_delivered(&hk, "k-rpo-1", h, 3);
  same_bytes_and_id("rph", 3, "k-rpo-1");
  same_bytes_and_id("rpa", 2, "k-rpo-1");
  free(a);
  free(h);
  stop_all();
}

/* A delivery whose retry record the brokers refuse for good (here
 * TOPIC_AUTHORIZATION_FAILED, as an ACL missing on the retry topic would)
 * is not committed: its record is handed back and read again, never lost.
 * Each time it comes back later (0.5 s, 1 s, 2 s ... up to 30 s), so the
 * partner is not asked twice a second for as long as the refusal lasts;
 * once the brokers take the retry again, it goes its way (here to the
 * dead-letter topic once its retries are spent). */
HL_TEST_T(a_record_whose_retry_the_brokers_refuse_is_read_again_with_back_off, 180) {
  start_all(NULL);
  register_any_payment();
  HL_ASSERT_EQ_INT(subscribe("down", "down?codes=500", NULL), 201);
  /* Stopped while the egress record goes in, so that the refused
   * produces are the dispatcher's retries, not kcat's. */
  int st = e2e_stop_hookloop(&hk, SIGTERM, 30000);
  HL_ASSERT_MSG(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "hookloop exit status %d", st);
  kcat_produce("wh.egress.down.Payment", "k-refused",
               "{\"eventHeader\":{\"uuid\":\"k-refused\",\"eventType\":\"Payment\"},\"currency\":\"EUR\"}");
  /* The next 5 Produce requests fail, not retried by librdkafka. */
  HL_ASSERT(hl_mock_kafka_cmd(&mk, "error 0 5 29") == 0);
  e2e_start_hookloop(&hk, kafka_env);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "down", 1, 20000, &doc), 1);
  hl_json_doc_dispose(&doc);
  hl_sleep_ms(6000);
  int in_6s = e2e_requests_so_far(&partner, "down");
  printf("partner asked %d times in the first 6 s of refusals\n", in_6s);
  /* Twice a second would be 12 or 13; with the back-off 4 or 5. */
  HL_ASSERT_MSG(in_6s >= 3 && in_6s <= 6, "asked %d times", in_6s);
  char *log = hl_read_file(hk.log, NULL);
  HL_ASSERT(log && strstr(log, "a record keeps being handed back; it is read again after a back-off"));
  free(log);
  /* The refusals run out: the retry tier, then the dead-letter topic. */
  HL_ASSERT(e2e_wait_status(&hk, "k-refused", "FAILED", 60000));
  stop_all();
}

/* A record its schema refuses is dead-lettered with the pointer of the
 * offending field in its reason ("schema_violation at /amount: ..."), as
 * the producer API answers it; the reason named no field before. */
HL_TEST_T(a_schema_violation_is_dead_lettered_with_its_pointer, 120) {
  start_all(NULL);
  char u[256];
  snprintf(u, sizeof u, "%s/admin/schemas", hk.base);
  HL_ASSERT_EQ_INT(e2e_call("POST", u, "{\"event_type\":\"Payment\",\"domain\":\"payments\",\"schema\":{\"type\":\"object\","
                                     "\"properties\":{\"amount\":{\"type\":\"number\"}}}}", NULL), 201);
  HL_ASSERT_EQ_INT(subscribe("fast", "fast", NULL), 201);
  kcat_produce("wh.ingress.payments.Payment.v1", "k-viol",
               "{\"eventHeader\":{\"uuid\":\"k-viol\",\"eventType\":\"Payment\"},\"amount\":\"ten\"}");
  char *dlq = NULL;
  for (int i = 0; i < 100; i++) {
    free(dlq);
    dlq = kcat_consume("wh.dlq");
    if (dlq && strstr(dlq, "k-viol|")) break;
    hl_sleep_ms(200);
  }
  HL_ASSERT_MSG(dlq && strstr(dlq, "reason=schema_violation at /amount: "), "dlq: %s", dlq ? dlq : "");
  free(dlq);
  stop_all();
}

/* The fan-out keeps the event's acceptance time (the ingress record's
 * accepted_ms, set when the producer API answered): the egress record's
 * accepted_ms was the fan-out's own time, so a delivery's accepted_at and
 * accept-to-partner latency left out the time on the ingress topic. */
HL_TEST_T(the_fan_out_keeps_the_events_acceptance_time, 120) {
  start_all(NULL);
  setup_subs();
  const char *hdrs[] = {"accepted_ms=1700000000123", NULL};
  kcat_produce_h("wh.ingress.payments.Payment.v1", "k-acc",
                 "{\"eventHeader\":{\"uuid\":\"k-acc\",\"eventType\":\"Payment\"},\"currency\":\"USD\"}", hdrs);
  char *out = NULL;
  for (int i = 0; i < 100; i++) {
    free(out);
    out = kcat_consume("wh.egress.fast.Payment");
    if (out && strstr(out, "k-acc|")) break;
    hl_sleep_ms(200);
  }
  HL_ASSERT_MSG(out && strstr(out, "k-acc|") && strstr(out, "accepted_ms=1700000000123"), "egress: %s",
                out ? out : "");
  free(out);
  stop_all();
}

/* A record on a version's ingress topic is checked against that version,
 * the one it was accepted under, not the latest: with Payment v2 requiring
 * a string amount, a v1 record with a number is delivered, and the same
 * record on the v2 topic is dead-lettered. Every v1 record still waiting
 * was dead-lettered as soon as v2 was registered. */
HL_TEST_T(an_ingress_record_is_checked_against_its_topics_schema_version, 120) {
  const char *topics[] = {"wh.ingress.payments.Payment.v2", NULL};
  start_all(topics);
  char u[256];
  snprintf(u, sizeof u, "%s/admin/schemas", hk.base);
  HL_ASSERT_EQ_INT(e2e_call("POST", u, "{\"event_type\":\"Payment\",\"domain\":\"payments\",\"version\":1,\"schema\":"
                                     "{\"type\":\"object\",\"properties\":{\"amount\":{\"type\":\"number\"}}}}", NULL), 201);
  HL_ASSERT_EQ_INT(e2e_call("POST", u, "{\"event_type\":\"Payment\",\"domain\":\"payments\",\"version\":2,\"schema\":"
                                     "{\"type\":\"object\",\"properties\":{\"amount\":{\"type\":\"string\"}}}}", NULL), 201);
  HL_ASSERT_EQ_INT(subscribe("fast", "fast", NULL), 201);
  kcat_produce("wh.ingress.payments.Payment.v1", "k-v1",
               "{\"eventHeader\":{\"uuid\":\"k-v1\",\"eventType\":\"Payment\"},\"amount\":10}");
  kcat_produce("wh.ingress.payments.Payment.v2", "k-v2",
               "{\"eventHeader\":{\"uuid\":\"k-v2\",\"eventType\":\"Payment\"},\"amount\":10}");
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "fast", 1, 30000, &doc), 1);
  HL_ASSERT_EQ_STR(hl_json_str(hl_json_get(&doc.root->u.items[0], "webhook_id")), "k-v1");
  hl_json_doc_dispose(&doc);
  char *dlq = NULL;
  for (int i = 0; i < 100; i++) {
    free(dlq);
    dlq = kcat_consume("wh.dlq");
    if (dlq && strstr(dlq, "k-v2|")) break;
    hl_sleep_ms(200);
  }
  HL_ASSERT_MSG(dlq && strstr(dlq, "k-v2|") && strstr(dlq, "schema_violation at /amount") && !strstr(dlq, "k-v1|"),
                "dlq: %s", dlq ? dlq : "");
  free(dlq);
  stop_all();
}

/* A record the processor puts on a retry tier (its fan-out's produce
 * failed) keeps the schema version of its ingress topic: checked there
 * against the latest version instead (v2, which it does not fit), an
 * accepted event was dead-lettered and never delivered. */
HL_TEST_T(a_processor_retry_keeps_the_schema_version_it_was_accepted_under, 240) {
  const char *topics[] = {"wh.ingress.payments.Payment.v2", NULL};
  start_all(topics);
  register_any_payment();
  HL_ASSERT_EQ_INT(subscribe("fast", "fast", NULL), 201);
  char u[256];
  snprintf(u, sizeof u, "%s/admin/schemas", hk.base);
  HL_ASSERT_EQ_INT(e2e_call("POST", u, "{\"event_type\":\"Payment\",\"domain\":\"payments\",\"version\":2,"
                                     "\"status\":\"ACTIVE\",\"schema\":{\"type\":\"object\",\"required\":[\"amount\"]}}",
                            NULL), 201);
  /* On the v1 topic, without "amount": delivered (v1 takes any object). */
  kcat_produce("wh.ingress.payments.Payment.v1", "k-pin-ok",
               "{\"eventHeader\":{\"uuid\":\"k-pin-ok\",\"eventType\":\"Payment\"},\"currency\":\"EUR\"}");
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "fast", 1, 30000, &doc), 1);
  hl_json_doc_dispose(&doc);
  int st = e2e_stop_hookloop(&hk, SIGTERM, 30000);
  HL_ASSERT_MSG(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "hookloop exit status %d", st);
  kcat_produce("wh.ingress.payments.Payment.v1", "k-pin-retry",
               "{\"eventHeader\":{\"uuid\":\"k-pin-retry\",\"eventType\":\"Payment\"},\"currency\":\"EUR\"}");
  HL_ASSERT(hl_mock_kafka_cmd(&mk, "error 0 1 87") == 0); /* the fan-out's produce fails once (INVALID_RECORD) */
  e2e_start_hookloop(&hk, kafka_env);
  int got = e2e_wait_requests(&partner, "fast", 2, 20000, &doc);
  if (got >= 0) hl_json_doc_dispose(&doc);
  char *dlq = kcat_consume("wh.dlq");
  char *log = hl_read_file(hk.log, NULL);
  bool tier = log && strstr(log, "the record goes to a processor retry tier");
  free(log);
  HL_ASSERT_MSG(!dlq || !strstr(dlq, "k-pin-retry|"), "dead-lettered: %s", dlq);
  free(dlq);
  HL_ASSERT_MSG(tier, "the fan-out did not fail: the record never reached the tier");
  HL_ASSERT_EQ_INT(got, 2);
  stop_all();
}
