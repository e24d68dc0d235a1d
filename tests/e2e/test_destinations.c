/* test_destinations — subscriptions to SNS, SQS and EventBridge end to end:
 * the real hookloop binary (serve, embedded queue, a real SQLite file)
 * delivering to tools/aws_service_peer over loopback, which checks every
 * request's SigV4 with botocore and records what it accepted. Registration
 * checks of the destination object are here too, against the same binary. */
#include "hl_test.h"
#include "hl_testutil.h"
#include "e2e_util.h"
#include "aws_testutil.h"
#include "crypto/hl_crypto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AKID "AKIDDESTINATIONS"
#define SECRET "destinations-secret-key"
#define TOPIC "arn:aws:sns:eu-west-1:123456789012:payments"
#define QUEUE_FIFO "https://sqs.eu-west-1.amazonaws.com/123456789012/payments.fifo"

typedef struct {
  svc_peer peer;
  e2e_hookloop h;
  char env[4][128];
} fixture;

static void start(fixture *f) {
  memset(f, 0, sizeof *f);
  svc_peer_start(&f->peer, AKID, SECRET, NULL);
  /* The SDK convention: one service's variable, and the generic one for the rest. */
  snprintf(f->env[0], sizeof f->env[0], "AWS_ENDPOINT_URL_SNS=%s", f->peer.endpoint);
  snprintf(f->env[1], sizeof f->env[1], "AWS_ENDPOINT_URL_SQS=%s", f->peer.endpoint);
  snprintf(f->env[2], sizeof f->env[2], "AWS_ENDPOINT_URL=%s", f->peer.endpoint);
  const char *env[] = {"AWS_ACCESS_KEY_ID=" AKID, "AWS_SECRET_ACCESS_KEY=" SECRET, "AWS_REGION=eu-west-1",
                       f->env[0], f->env[1], f->env[2], NULL};
  e2e_start_hookloop(&f->h, env);
  char u[256];
  snprintf(u, sizeof u, "%s/admin/schemas", f->h.base);
  const char *schema =
      "{\"event_type\":\"Payment\",\"domain\":\"payments\",\"version\":1,\"status\":\"ACTIVE\","
      "\"schema\":{\"type\":\"object\",\"required\":[\"eventHeader\",\"amount\",\"currency\"]}}";
  HL_ASSERT_EQ_INT(e2e_call("POST", u, schema, NULL), 201);
}

static void stop(fixture *f) {
  HL_ASSERT_EQ_INT(e2e_stop_hookloop(&f->h, SIGTERM, 10000), 0);
  hl_rmtree(f->h.dir);
  free(f->h.dir);
  svc_peer_stop(&f->peer);
}

/* POST /admin/subscriptions for partner with these members after the
 * partner and event type; returns the status, doc gets the answer. */
static long subscribe(fixture *f, const char *partner, const char *members, hl_json_doc *doc) {
  char u[256], body[2048];
  snprintf(u, sizeof u, "%s/admin/subscriptions", f->h.base);
  snprintf(body, sizeof body, "{\"partner_id\":\"%s\",\"event_type\":\"Payment\",%s}", partner, members);
  return e2e_call("POST", u, body, doc);
}

static void subscribe_ok(fixture *f, const char *partner, const char *members) {
  hl_json_doc doc;
  long code = subscribe(f, partner, members, &doc);
  HL_ASSERT_MSG(code == 201, "registering %s answered %ld", partner, code);
  hl_json_doc_dispose(&doc);
}

/* A 400 whose first detail names this JSON pointer. */
static void subscribe_refused(fixture *f, const char *members, const char *path) {
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(subscribe(f, "bad", members, &doc), 400);
  HL_ASSERT_EQ_STR(hl_json_str(hl_json_get(doc.root, "error")), "invalid_request");
  const hl_json *d = hl_json_get(doc.root, "details");
  HL_ASSERT(d && d->type == HL_JSON_ARRAY && d->len >= 1);
  HL_ASSERT_EQ_STR(hl_json_str(hl_json_get(&d->u.items[0], "path")), path);
  hl_json_doc_dispose(&doc);
}

static long post_event(fixture *f, const char *id, char *body, size_t cap) {
  char u[256];
  snprintf(u, sizeof u, "%s/api/v1/events", f->h.base);
  e2e_event_json(body, cap, id, "100.10");
  return e2e_call("POST", u, body, NULL);
}

/* Waits until the peer recorded n requests; returns the array. */
static const hl_json *wait_requests(fixture *f, size_t n, hl_json_doc *doc) {
  for (int waited = 0; waited < 15000; waited += 50) {
    hl_json_doc_init(doc);
    const hl_json *r = svc_peer_requests(&f->peer, doc);
    if (r && r->len >= n) return r;
    hl_json_doc_dispose(doc);
    hl_sleep_ms(50);
  }
  HL_ASSERT_MSG(false, "the peer did not record %zu requests", n);
  return NULL;
}

static const hl_json *find_action(const hl_json *reqs, const char *action) {
  for (uint32_t i = 0; i < reqs->len; i++)
    if (strcmp(hl_json_str(hl_json_get(&reqs->u.items[i], "action")), action) == 0) return &reqs->u.items[i];
  HL_ASSERT_MSG(false, "no %s request was recorded", action);
  return NULL;
}

static const char *attr(const hl_json *req, const char *name) {
  return hl_json_str(hl_json_get(hl_json_get(req, "MessageAttributes"), name));
}

HL_TEST(each_destination_gets_the_exact_bytes_with_its_attributes) {
  fixture f;
  start(&f);
  subscribe_ok(&f, "sns", "\"destination\":{\"type\":\"sns\",\"topic_arn\":\"" TOPIC "\"}");
  subscribe_ok(&f, "sqs", "\"destination\":{\"type\":\"sqs\",\"queue_url\":\"" QUEUE_FIFO "\","
                          "\"group_id_pointer\":\"/currency\"}");
  subscribe_ok(&f, "bus", "\"destination\":{\"type\":\"eventbridge\",\"bus\":\"payments\","
                          "\"source\":\"com.example.payments\"}");
  char body[1024];
  HL_ASSERT_EQ_INT(post_event(&f, "evt-dest-1", body, sizeof body), 202);
  hl_json_doc doc;
  const hl_json *reqs = wait_requests(&f, 3, &doc);
  HL_ASSERT_EQ_INT(reqs->len, 3); /* once each */

  const hl_json *sns = find_action(reqs, "Publish");
  HL_ASSERT_EQ_STR(hl_json_str(hl_json_get(sns, "TopicArn")), TOPIC);
  HL_ASSERT_EQ_STR(hl_json_str(hl_json_get(sns, "Message")), body);
  HL_ASSERT_EQ_STR(attr(sns, "webhook-id"), "evt-dest-1");
  HL_ASSERT_EQ_STR(attr(sns, "event_type"), "Payment");
  HL_ASSERT(attr(sns, "webhook-timestamp") && atoll(attr(sns, "webhook-timestamp")) > 1700000000LL);
  HL_ASSERT(hl_json_get(sns, "MessageGroupId")->type == HL_JSON_NULL); /* a standard topic */
  HL_ASSERT_EQ_STR(hl_json_str(hl_json_get(sns, "region")), "eu-west-1");

  const hl_json *sqs = find_action(reqs, "SendMessage");
  HL_ASSERT_EQ_STR(hl_json_str(hl_json_get(sqs, "QueueUrl")), QUEUE_FIFO);
  HL_ASSERT_EQ_STR(hl_json_str(hl_json_get(sqs, "MessageBody")), body);
  HL_ASSERT_EQ_STR(attr(sqs, "webhook-id"), "evt-dest-1");
  HL_ASSERT_EQ_STR(attr(sqs, "event_type"), "Payment");
  HL_ASSERT_EQ_STR(hl_json_str(hl_json_get(sqs, "MessageGroupId")), "EUR"); /* from /currency */
  HL_ASSERT_EQ_STR(hl_json_str(hl_json_get(sqs, "MessageDeduplicationId")), "evt-dest-1");

  const hl_json *ev = find_action(reqs, "PutEvents");
  HL_ASSERT_EQ_STR(hl_json_str(hl_json_get(ev, "Detail")), body);
  HL_ASSERT_EQ_STR(hl_json_str(hl_json_get(ev, "Source")), "com.example.payments");
  HL_ASSERT_EQ_STR(hl_json_str(hl_json_get(ev, "DetailType")), "Payment"); /* the default: the event type */
  HL_ASSERT_EQ_STR(hl_json_str(hl_json_get(ev, "EventBusName")), "payments");
  hl_json_doc_dispose(&doc);
  HL_ASSERT_EQ_INT(svc_peer_stat(&f.peer, "auth_rejected"), 0); /* every signature verified */

  /* The three deliveries are recorded SUCCESS, one attempt each. */
  char u[256];
  snprintf(u, sizeof u, "%s/admin/deliveries?event_id=evt-dest-1", f.h.base);
  int success = 0;
  for (int waited = 0; waited < 10000 && success < 3; waited += 50) {
    success = 0;
    HL_ASSERT_EQ_INT(e2e_call("GET", u, NULL, &doc), 200);
    const hl_json *d = hl_json_get(doc.root, "deliveries");
    for (uint32_t i = 0; d && i < d->len; i++) {
      int64_t a = 0;
      hl_json_int64(hl_json_get(&d->u.items[i], "attempts"), &a);
      if (strcmp(hl_json_str(hl_json_get(&d->u.items[i], "status")), "SUCCESS") == 0 && a == 1) success++;
    }
    hl_json_doc_dispose(&doc);
    if (success < 3) hl_sleep_ms(50);
  }
  HL_ASSERT_EQ_INT(success, 3);
  stop(&f);
}

HL_TEST(each_destination_is_signed_for_its_own_region) {
  fixture f;
  start(&f); /* AWS_REGION=eu-west-1 */
  subscribe_ok(&f, "sns", "\"destination\":{\"type\":\"sns\",\"topic_arn\":\"arn:aws:sns:us-east-1:123456789012:t\"}");
  subscribe_ok(&f, "sqs", "\"destination\":{\"type\":\"sqs\",\"queue_url\":"
                          "\"https://sqs.ap-southeast-2.amazonaws.com/123456789012/q\"}");
  subscribe_ok(&f, "bus", "\"destination\":{\"type\":\"eventbridge\",\"source\":\"s\",\"bus\":\"by-name\"}");
  char body[1024];
  HL_ASSERT_EQ_INT(post_event(&f, "evt-regions", body, sizeof body), 202);
  hl_json_doc doc;
  const hl_json *reqs = wait_requests(&f, 3, &doc);
  HL_ASSERT_EQ_STR(hl_json_str(hl_json_get(find_action(reqs, "Publish"), "region")), "us-east-1");
  HL_ASSERT_EQ_STR(hl_json_str(hl_json_get(find_action(reqs, "SendMessage"), "region")), "ap-southeast-2");
  HL_ASSERT_EQ_STR(hl_json_str(hl_json_get(find_action(reqs, "PutEvents"), "region")), "eu-west-1"); /* AWS_REGION */
  hl_json_doc_dispose(&doc);
  HL_ASSERT_EQ_INT(svc_peer_stat(&f.peer, "auth_rejected"), 0);
  stop(&f);
}

/* The delivery's status, attempts and last error. */
static void status_of(fixture *f, const char *id, char *st, size_t n, long *attempts, char *err, size_t errn) {
  char u[256];
  snprintf(u, sizeof u, "%s/admin/deliveries?event_id=%s", f->h.base, id);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_call("GET", u, NULL, &doc), 200);
  const hl_json *d = hl_json_get(doc.root, "deliveries");
  HL_ASSERT(d && d->len == 1);
  snprintf(st, n, "%s", hl_json_str(hl_json_get(&d->u.items[0], "status")));
  int64_t a = 0;
  hl_json_int64(hl_json_get(&d->u.items[0], "attempts"), &a);
  *attempts = (long)a;
  const char *e = hl_json_str(hl_json_get(&d->u.items[0], "last_error"));
  snprintf(err, errn, "%s", e ? e : "");
  hl_json_doc_dispose(&doc);
}

static void expect_outcome(fixture *f, const char *id, const char *want, long attempts, const char *error_part) {
  HL_ASSERT_MSG(e2e_wait_status(&f->h, id, want, 15000), "%s never became %s", id, want);
  char st[32], err[512];
  long a = 0;
  status_of(f, id, st, sizeof st, &a, err, sizeof err);
  HL_ASSERT_EQ_INT(a, attempts);
  if (error_part) HL_ASSERT_MSG(strstr(err, error_part) != NULL, "last_error '%s' lacks '%s'", err, error_part);
}

HL_TEST(throttling_is_retried_and_access_denied_dead_letters) {
  fixture f;
  start(&f);
  subscribe_ok(&f, "sns", "\"destination\":{\"type\":\"sns\",\"topic_arn\":\"" TOPIC "\"}");
  char body[1024];
  /* Throttled twice, then taken: the dispatcher's schedule retries it. */
  svc_peer_fault(&f.peer, "{\"action\":\"Publish\",\"kind\":\"throttle\",\"count\":2}");
  HL_ASSERT_EQ_INT(post_event(&f, "evt-throttled", body, sizeof body), 202);
  expect_outcome(&f, "evt-throttled", "SUCCESS", 3, NULL);
  /* Access denied: permanent, dead-lettered after one attempt. */
  svc_peer_fault(&f.peer, "{\"action\":\"Publish\",\"kind\":\"access_denied\",\"count\":1}");
  HL_ASSERT_EQ_INT(post_event(&f, "evt-denied", body, sizeof body), 202);
  expect_outcome(&f, "evt-denied", "FAILED", 1, "AuthorizationError");
  /* A 5xx is retried too. */
  svc_peer_fault(&f.peer, "{\"action\":\"Publish\",\"kind\":\"error500\",\"count\":1}");
  HL_ASSERT_EQ_INT(post_event(&f, "evt-5xx", body, sizeof body), 202);
  expect_outcome(&f, "evt-5xx", "SUCCESS", 2, NULL);
  hl_json_doc doc;
  const hl_json *reqs = wait_requests(&f, 2, &doc);
  HL_ASSERT_EQ_INT(reqs->len, 2); /* the two taken; faulted requests are not recorded */
  hl_json_doc_dispose(&doc);
  /* The same counters as HTTP deliveries: three retries, one dead letter. */
  HL_ASSERT_EQ_INT(e2e_metric(&f.h, "hookloop_events_to_retry_total"), 3);
  HL_ASSERT_EQ_INT(e2e_metric(&f.h, "hookloop_events_to_dlq_total"), 1);
  stop(&f);
}

HL_TEST(an_eventbridge_entry_refused_in_a_200_is_judged_by_its_code) {
  fixture f;
  start(&f);
  subscribe_ok(&f, "bus", "\"destination\":{\"type\":\"eventbridge\",\"source\":\"com.example\","
                          "\"detail_type\":\"payment\"}");
  char body[1024];
  svc_peer_fault(&f.peer, "{\"action\":\"PutEvents\",\"kind\":\"partial\",\"fail\":[0],\"count\":1,"
                          "\"code\":\"ThrottlingException\"}");
  HL_ASSERT_EQ_INT(post_event(&f, "evt-partial-retry", body, sizeof body), 202);
  expect_outcome(&f, "evt-partial-retry", "SUCCESS", 2, NULL);
  svc_peer_fault(&f.peer, "{\"action\":\"PutEvents\",\"kind\":\"partial\",\"fail\":[0],\"count\":1,"
                          "\"code\":\"AccessDeniedException\"}");
  HL_ASSERT_EQ_INT(post_event(&f, "evt-partial-denied", body, sizeof body), 202);
  expect_outcome(&f, "evt-partial-denied", "FAILED", 1, "AccessDeniedException");
  hl_json_doc doc;
  const hl_json *reqs = wait_requests(&f, 1, &doc);
  HL_ASSERT_EQ_INT(reqs->len, 1);
  const hl_json *ev = &reqs->u.items[0];
  HL_ASSERT_EQ_STR(hl_json_str(hl_json_get(ev, "DetailType")), "payment");
  HL_ASSERT(hl_json_get(ev, "EventBusName")->type == HL_JSON_NULL); /* the default bus */
  hl_json_doc_dispose(&doc);
  stop(&f);
}

HL_TEST(a_fifo_group_id_the_event_lacks_fails_without_a_call) {
  fixture f;
  start(&f);
  subscribe_ok(&f, "sqs", "\"destination\":{\"type\":\"sqs\",\"queue_url\":\"" QUEUE_FIFO "\","
                          "\"group_id_pointer\":\"/account\"}");
  char body[1024];
  HL_ASSERT_EQ_INT(post_event(&f, "evt-no-group", body, sizeof body), 202);
  expect_outcome(&f, "evt-no-group", "FAILED", 0, "/account");
  HL_ASSERT_EQ_INT(svc_peer_stat(&f.peer, "accepted") + svc_peer_stat(&f.peer, "errors"), 0); /* no call */
  stop(&f);
}

/* A body SNS and SQS cannot take (over 256 KiB) is refused for its size
 * before it is read: the FIFO group id was looked up first, parsing the
 * whole event on the loop (~50 ms for 1 MB) for a message refused after. */
HL_TEST(a_fifo_message_over_256_kib_is_refused_for_its_size_before_it_is_read) {
  fixture f;
  start(&f);
  subscribe_ok(&f, "sqs", "\"destination\":{\"type\":\"sqs\",\"queue_url\":\"" QUEUE_FIFO "\","
                          "\"group_id_pointer\":\"/account\"}");
  size_t pad = 300 * 1024;
  char *amount = malloc(pad + 64), *body = malloc(pad + 1024);
  int n = snprintf(amount, 64, "1,\"pad\":\"");
  memset(amount + n, 'x', pad);
  memcpy(amount + n + pad, "\"", 2);
  char u[256];
  snprintf(u, sizeof u, "%s/api/v1/events", f.h.base);
  e2e_event_json(body, pad + 1024, "evt-too-big", amount);
  HL_ASSERT_EQ_INT(e2e_call("POST", u, body, NULL), 202);
  expect_outcome(&f, "evt-too-big", "FAILED", 0, "262144"); /* the size, not the missing /account */
  HL_ASSERT_EQ_INT(svc_peer_stat(&f.peer, "accepted") + svc_peer_stat(&f.peer, "errors"), 0); /* no call */
  free(amount);
  free(body);
  stop(&f);
}

/* A Payment event whose amount is followed by pad bytes of padding (the
 * group id and currency come after it), posted with this id; the body in
 * *out (malloc'd). */
static void post_padded(fixture *f, const char *id, size_t pad, char **out) {
  char *amount = malloc(pad + 64), *body = malloc(pad + 1024);
  int n = snprintf(amount, 64, "1,\"pad\":\"");
  memset(amount + n, 'x', pad);
  memcpy(amount + n + pad, "\"", 2);
  char u[256];
  snprintf(u, sizeof u, "%s/api/v1/events", f->h.base);
  e2e_event_json(body, pad + 1024, id, amount);
  HL_ASSERT_EQ_INT(e2e_call("POST", u, body, NULL), 202);
  free(amount);
  *out = body;
}

/* The recorded request with this action whose member holds exactly body. */
static const hl_json *find_with(const hl_json *reqs, const char *action, const char *member, const char *body) {
  for (uint32_t i = 0; i < reqs->len; i++) {
    const hl_json *r = &reqs->u.items[i];
    const char *v = hl_json_str(hl_json_get(r, member));
    if (strcmp(hl_json_str(hl_json_get(r, "action")), action) == 0 && v && strcmp(v, body) == 0) return r;
  }
  HL_ASSERT_MSG(false, "no %s request carried the %zu-byte event as %s", action, strlen(body), member);
  return NULL;
}

#define READS_LOOP "hookloop_aws_body_reads_total{where=\"loop\"}"
#define READS_POOL "hookloop_aws_body_reads_total{where=\"threadpool\"}"

/* A FIFO group id and an EventBridge detail are read from the event on
 * every attempt: a body over 64 KiB on the threadpool, a smaller one on
 * the loop. Both parsed the whole body on the loop (~12 ms for 256 KiB,
 * each attempt). */
HL_TEST(large_bodies_are_read_for_aws_destinations_on_the_threadpool) {
  fixture f;
  start(&f);
  subscribe_ok(&f, "sqs", "\"destination\":{\"type\":\"sqs\",\"queue_url\":\"" QUEUE_FIFO "\","
                          "\"group_id_pointer\":\"/eventHeader/uuid\"}");
  subscribe_ok(&f, "bus", "\"destination\":{\"type\":\"eventbridge\",\"bus\":\"payments\","
                          "\"source\":\"com.example.payments\"}");
  char small[1024];
  HL_ASSERT_EQ_INT(post_event(&f, "evt-read-small", small, sizeof small), 202);
  char *large = NULL;
  post_padded(&f, "evt-read-large", 200 * 1024, &large);
  hl_json_doc doc;
  const hl_json *reqs = wait_requests(&f, 4, &doc);
  HL_ASSERT_EQ_INT(reqs->len, 4); /* once each */
  const hl_json *sqs = find_with(reqs, "SendMessage", "MessageBody", large);
  HL_ASSERT_EQ_STR(hl_json_str(hl_json_get(sqs, "MessageGroupId")), "evt-read-large");
  HL_ASSERT_EQ_STR(attr(sqs, "webhook-id"), "evt-read-large");
  sqs = find_with(reqs, "SendMessage", "MessageBody", small);
  HL_ASSERT_EQ_STR(hl_json_str(hl_json_get(sqs, "MessageGroupId")), "evt-read-small");
  const hl_json *ev = find_with(reqs, "PutEvents", "Detail", large);
  HL_ASSERT_EQ_STR(hl_json_str(hl_json_get(ev, "Source")), "com.example.payments");
  find_with(reqs, "PutEvents", "Detail", small);
  hl_json_doc_dispose(&doc);
  HL_ASSERT_EQ_INT(svc_peer_stat(&f.peer, "auth_rejected"), 0);
  /* Each read happens before its call: all four are counted by now. */
  HL_ASSERT_EQ_INT(e2e_metric(&f.h, READS_POOL), 2);
  HL_ASSERT_EQ_INT(e2e_metric(&f.h, READS_LOOP), 2);
  free(large);
  stop(&f);
}

/* A large event without the group id fails as a small one does, once it
 * has been read on the threadpool: without a call, naming the pointer. */
HL_TEST(a_large_event_without_the_fifo_group_id_fails_without_a_call) {
  fixture f;
  start(&f);
  subscribe_ok(&f, "sqs", "\"destination\":{\"type\":\"sqs\",\"queue_url\":\"" QUEUE_FIFO "\","
                          "\"group_id_pointer\":\"/account\"}");
  char *large = NULL;
  post_padded(&f, "evt-large-no-group", 200 * 1024, &large);
  expect_outcome(&f, "evt-large-no-group", "FAILED", 0,
                 "the event has no string or number at /account for the FIFO message group id");
  HL_ASSERT_EQ_INT(svc_peer_stat(&f.peer, "accepted") + svc_peer_stat(&f.peer, "errors"), 0); /* no call */
  HL_ASSERT_EQ_INT(e2e_metric(&f.h, READS_POOL), 1);
  HL_ASSERT_EQ_INT(e2e_metric(&f.h, READS_LOOP), 0);
  free(large);
  stop(&f);
}

/* Requests recorded with this action and webhook-id, in order: their
 * MessageDeduplicationId values into ids (up to max); how many. */
static size_t dedup_ids(const hl_json *reqs, const char *action, const char *event_id, char ids[][160], size_t max) {
  size_t n = 0;
  for (uint32_t i = 0; i < reqs->len && n < max; i++) {
    const hl_json *r = &reqs->u.items[i];
    if (strcmp(hl_json_str(hl_json_get(r, "action")), action) != 0 || strcmp(attr(r, "webhook-id"), event_id) != 0)
      continue;
    const char *d = hl_json_str(hl_json_get(r, "MessageDeduplicationId"));
    snprintf(ids[n++], 160, "%s", d ? d : "(none)");
  }
  return n;
}

/* FIFO topics and queues drop a message whose deduplication id they saw
 * in the last 5 minutes. A replay is asked for on purpose: each generation
 * has an id of its own ("#r<n>" after the event id), where it reused the
 * event id and was dropped. An event id longer than the 128 characters the
 * services take (ids go to 200) is sent as its SHA-256 in hex, where it
 * failed every time. */
HL_TEST(fifo_deduplication_ids_fit_and_are_new_for_each_replay) {
  fixture f;
  start(&f);
  subscribe_ok(&f, "sns", "\"destination\":{\"type\":\"sns\",\"topic_arn\":\"" TOPIC ".fifo\"}");
  subscribe_ok(&f, "sqs", "\"destination\":{\"type\":\"sqs\",\"queue_url\":\"" QUEUE_FIFO "\","
                          "\"group_id_pointer\":\"/currency\"}");
  char body[1024], ids[4][160];
  HL_ASSERT_EQ_INT(post_event(&f, "evt-fifo-1", body, sizeof body), 202);
  hl_json_doc doc;
  wait_requests(&f, 2, &doc);
  hl_json_doc_dispose(&doc);
  HL_ASSERT(e2e_wait_status(&f.h, "evt-fifo-1", "SUCCESS", 15000));
  HL_ASSERT_EQ_INT(e2e_replay(&f.h, "evt-fifo-1", NULL, NULL), 202);
  const hl_json *reqs = wait_requests(&f, 4, &doc);
  const char *actions[] = {"Publish", "SendMessage"};
  for (size_t a = 0; a < 2; a++) {
    HL_ASSERT_EQ_INT(dedup_ids(reqs, actions[a], "evt-fifo-1", ids, 4), 2);
    HL_ASSERT_EQ_STR(ids[0], "evt-fifo-1");
    HL_ASSERT_EQ_STR(ids[1], "evt-fifo-1#r1");
  }
  hl_json_doc_dispose(&doc);

  char long_id[160];
  memset(long_id, 'x', 150);
  memcpy(long_id, "evt-long-", 9);
  long_id[150] = '\0';
  HL_ASSERT_EQ_INT(post_event(&f, long_id, body, sizeof body), 202);
  reqs = wait_requests(&f, 6, &doc);
  uint8_t sum[32];
  hl_sha256(long_id, strlen(long_id), sum);
  char hex[65];
  for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", sum[i]);
  for (size_t a = 0; a < 2; a++) {
    HL_ASSERT_EQ_INT(dedup_ids(reqs, actions[a], long_id, ids, 4), 1);
    HL_ASSERT_EQ_STR(ids[0], hex);
  }
  hl_json_doc_dispose(&doc);
  /* Both delivered, at the first attempt. */
  char u[512];
  snprintf(u, sizeof u, "%s/admin/deliveries?event_id=%s", f.h.base, long_id);
  int ok = 0;
  for (int waited = 0; waited < 10000 && ok < 2; waited += 50) {
    ok = 0;
    HL_ASSERT_EQ_INT(e2e_call("GET", u, NULL, &doc), 200);
    const hl_json *d = hl_json_get(doc.root, "deliveries");
    for (uint32_t i = 0; d && i < d->len; i++) {
      int64_t a = 0;
      hl_json_int64(hl_json_get(&d->u.items[i], "attempts"), &a);
      if (strcmp(hl_json_str(hl_json_get(&d->u.items[i], "status")), "SUCCESS") == 0 && a == 1) ok++;
    }
    hl_json_doc_dispose(&doc);
    if (ok < 2) hl_sleep_ms(50);
  }
  HL_ASSERT_EQ_INT(ok, 2);
  stop(&f);
}

/* A transformation's output is what a destination gets, as for HTTP: the
 * message body, and the FIFO group id read from it. */
HL_TEST(a_destination_gets_the_transformed_bytes) {
  fixture f;
  start(&f);
  subscribe_ok(&f, "sqs", "\"destination\":{\"type\":\"sqs\",\"queue_url\":\"" QUEUE_FIFO "\","
                          "\"group_id_pointer\":\"/kind\"}");
  char u[256];
  snprintf(u, sizeof u, "%s/admin/transformations", f.h.base);
  HL_ASSERT_EQ_INT(e2e_call("POST", u,
                            "{\"event_type\":\"Payment\",\"spec\":{\"version\":1,\"ops\":["
                            "{\"op\":\"set\",\"path\":\"/kind\",\"value\":\"card\"}]}}",
                            NULL),
                   201);
  char body[1024];
  HL_ASSERT_EQ_INT(post_event(&f, "evt-dest-x", body, sizeof body), 202);
  hl_json_doc doc;
  const hl_json *reqs = wait_requests(&f, 1, &doc);
  const hl_json *sqs = find_action(reqs, "SendMessage");
  const char *sent = hl_json_str(hl_json_get(sqs, "MessageBody"));
  HL_ASSERT(sent && strcmp(sent, body) != 0);
  HL_ASSERT(strstr(sent, "\"kind\":\"card\"") != NULL);
  HL_ASSERT(strstr(sent, "100.10") != NULL); /* the amount keeps its text */
  HL_ASSERT_EQ_STR(hl_json_str(hl_json_get(sqs, "MessageGroupId")), "card"); /* only the output has /kind */
  hl_json_doc_dispose(&doc);
  expect_outcome(&f, "evt-dest-x", "SUCCESS", 1, NULL);
  stop(&f);
}

HL_TEST(destinations_are_checked_at_registration_and_shown_as_stored) {
  fixture f;
  start(&f);
  subscribe_refused(&f, "\"destination\":{\"type\":\"sns\",\"topic_arn\":\"arn:aws:sqs:eu-west-1:1:x\"}",
                    "/destination/topic_arn");
  subscribe_refused(&f, "\"destination\":{\"type\":\"sns\"}", "/destination/topic_arn");
  subscribe_refused(&f, "\"destination\":{\"type\":\"kafka\"}", "/destination/type");
  subscribe_refused(&f, "\"destination\":\"sns\"", "/destination");
  subscribe_refused(&f, "\"destination\":{\"type\":\"sqs\",\"queue_url\":\"ftp://x/123456789012/q\"}",
                    "/destination/queue_url");
  subscribe_refused(&f, "\"destination\":{\"type\":\"sqs\",\"queue_url\":\"https://sqs.eu-west-1.amazonaws.com/"
                        "123456789012/q\",\"group_id_pointer\":\"/a\"}",
                    "/destination/group_id_pointer"); /* a standard queue takes no group id */
  subscribe_refused(&f, "\"destination\":{\"type\":\"sqs\",\"queue_url\":\"" QUEUE_FIFO "\","
                        "\"group_id_pointer\":\"account\"}",
                    "/destination/group_id_pointer");
  subscribe_refused(&f, "\"destination\":{\"type\":\"eventbridge\",\"bus\":\"payments\"}", "/destination/source");
  subscribe_refused(&f, "\"destination\":{\"type\":\"eventbridge\",\"source\":\"s\",\"bus\":\"bad bus!\"}",
                    "/destination/bus");
  subscribe_refused(&f, "\"destination\":{\"type\":\"sns\",\"topic_arn\":\"" TOPIC "\",\"queue_url\":\"x\"}",
                    "/destination/queue_url");
  subscribe_refused(&f, "\"url\":\"http://127.0.0.1:1/x\",\"destination\":{\"type\":\"sns\",\"topic_arn\":\"" TOPIC
                        "\"}",
                    "/url");
  subscribe_refused(&f, "\"secret\":null", "/url");

  hl_json_doc doc;
  HL_ASSERT_EQ_INT(subscribe(&f, "sqs", "\"destination\":{\"queue_url\":\"" QUEUE_FIFO "\",\"type\":\"sqs\"}", &doc),
                   201);
  char id[128];
  snprintf(id, sizeof id, "%s", hl_json_str(hl_json_get(doc.root, "subscription_id")));
  hl_json_doc_dispose(&doc);
  char u[256];
  snprintf(u, sizeof u, "%s/admin/subscriptions/%s", f.h.base, id);
  HL_ASSERT_EQ_INT(e2e_call("GET", u, NULL, &doc), 200);
  HL_ASSERT(hl_json_get(doc.root, "url")->type == HL_JSON_NULL);
  const hl_json *d = hl_json_get(doc.root, "destination");
  HL_ASSERT_EQ_STR(hl_json_str(hl_json_get(d, "type")), "sqs");
  HL_ASSERT_EQ_STR(hl_json_str(hl_json_get(d, "queue_url")), QUEUE_FIFO);
  HL_ASSERT(hl_json_get(d, "group_id_pointer") == NULL);
  hl_json_doc_dispose(&doc);

  /* Stored: a restart loads the same destination and delivers to it. */
  HL_ASSERT_EQ_INT(e2e_stop_hookloop(&f.h, SIGTERM, 10000), 0);
  const char *env[] = {"AWS_ACCESS_KEY_ID=" AKID, "AWS_SECRET_ACCESS_KEY=" SECRET, "AWS_REGION=eu-west-1",
                       f.env[0], f.env[1], f.env[2], NULL};
  e2e_start_hookloop(&f.h, env);
  snprintf(u, sizeof u, "%s/admin/subscriptions/%s", f.h.base, id);
  HL_ASSERT_EQ_INT(e2e_call("GET", u, NULL, &doc), 200);
  HL_ASSERT_EQ_STR(hl_json_str(hl_json_get(hl_json_get(doc.root, "destination"), "queue_url")), QUEUE_FIFO);
  hl_json_doc_dispose(&doc);
  char body[1024];
  HL_ASSERT_EQ_INT(post_event(&f, "evt-after-restart", body, sizeof body), 202);
  const hl_json *reqs = wait_requests(&f, 1, &doc);
  HL_ASSERT_EQ_STR(hl_json_str(hl_json_get(&reqs->u.items[0], "MessageGroupId")), "Payment"); /* the default */
  HL_ASSERT_EQ_STR(hl_json_str(hl_json_get(&reqs->u.items[0], "MessageDeduplicationId")), "evt-after-restart");
  hl_json_doc_dispose(&doc);
  stop(&f);
}

HL_TEST(without_aws_settings_a_destination_fails_naming_what_is_missing) {
  svc_peer peer;
  svc_peer_start(&peer, AKID, SECRET, NULL);
  e2e_hookloop h = {0};
  const char *env[] = {"AWS_REGION=eu-west-1", NULL}; /* no credentials */
  e2e_start_hookloop(&h, env);
  fixture f = {.h = h, .peer = peer};
  char u[256];
  snprintf(u, sizeof u, "%s/admin/schemas", f.h.base);
  HL_ASSERT_EQ_INT(e2e_call("POST", u,
                            "{\"event_type\":\"Payment\",\"domain\":\"payments\",\"version\":1,\"status\":\"ACTIVE\","
                            "\"schema\":{\"type\":\"object\"}}",
                            NULL),
                   201);
  subscribe_ok(&f, "sns", "\"destination\":{\"type\":\"sns\",\"topic_arn\":\"" TOPIC "\"}");
  char body[1024];
  HL_ASSERT_EQ_INT(post_event(&f, "evt-no-creds", body, sizeof body), 202);
  expect_outcome(&f, "evt-no-creds", "FAILED", 0, "AWS_ACCESS_KEY_ID");
  stop(&f);
}
