/* Recovering a time range of a subscription's failed deliveries end to end
 * (POST/GET /admin/subscriptions/{id}/recover, docs/reliability.md): the
 * real binary and the mock partner, on SQLite (embedded queue), on
 * DynamoDB with the DynamoDB queue (dynalite, HL_TEST_DDB) or with the
 * embedded queue beneath it (HL_TEST_EMBEDDED_QUEUE too), and on
 * PostgreSQL (HL_TEST_PG). */
#include "e2e_util.h"
#include "hl_test.h"
#include "hl_testutil.h"
#include "common/hl_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static e2e_hookloop hk;
static e2e_partner partner;


/* The deliveries of sub (any status, up to 500) into doc; their array. */
static const hl_json *deliveries(const char *sub, const char *status, hl_json_doc *doc) {
  char u[600];
  snprintf(u, sizeof u, "%s/admin/deliveries?subscription_id=%s&limit=500%s%s", hk.base, sub,
           status ? "&status=" : "", status ? status : "");
  HL_ASSERT_EQ_INT(e2e_call("GET", u, NULL, doc), 200);
  const hl_json *d = hl_json_get(doc->root, "deliveries");
  HL_ASSERT(d && d->type == HL_JSON_ARRAY);
  return d;
}

static uint32_t count(const char *sub, const char *status) {
  hl_json_doc doc;
  uint32_t n = deliveries(sub, status, &doc)->len;
  hl_json_doc_dispose(&doc);
  return n;
}

static void wait_count(const char *sub, const char *status, uint32_t n) {
  for (int i = 0; i < 3000 && count(sub, status) < n; i++) hl_sleep_ms(20); /* up to 60 s on a busy machine */
  HL_ASSERT_EQ_INT(count(sub, status), n);
}

/* The delivery of event id to sub: its status and attempts. */
static void delivery_of(const char *sub, const char *id, char *status, size_t cap, int64_t *attempts) {
  hl_json_doc doc;
  const hl_json *d = deliveries(sub, NULL, &doc);
  status[0] = '\0';
  *attempts = -1;
  for (uint32_t i = 0; i < d->len; i++) {
    if (strcmp(e2e_json_str(&d->u.items[i], "event_id"), id) != 0) continue;
    snprintf(status, cap, "%s", e2e_json_str(&d->u.items[i], "status"));
    *attempts = e2e_json_int(&d->u.items[i], "attempts");
  }
  hl_json_doc_dispose(&doc);
}

/* Deliveries <prefix>-0 .. -(n-1) to sub are in status with this many attempts. */
static void expect_batch(const char *sub, const char *prefix, int n, const char *status, int64_t attempts) {
  for (int i = 0; i < n; i++) {
    char id[48], st[32];
    int64_t have;
    snprintf(id, sizeof id, "%s-%d", prefix, i);
    delivery_of(sub, id, st, sizeof st, &have);
    HL_ASSERT_MSG(strcmp(st, status) == 0 && have == attempts, "%s at %s: %s after %lld attempts", id, sub, st,
                  (long long)have);
  }
}

/* updated_at of the FAILED deliveries of sub whose event id starts with
 * prefix: the smallest and the largest. */
static void failed_range(const char *sub, const char *prefix, int64_t *lo, int64_t *hi) {
  hl_json_doc doc;
  const hl_json *d = deliveries(sub, "FAILED", &doc);
  *lo = INT64_MAX, *hi = -1;
  for (uint32_t i = 0; i < d->len; i++) {
    if (strncmp(e2e_json_str(&d->u.items[i], "event_id"), prefix, strlen(prefix)) != 0) continue;
    int64_t t = e2e_json_int(&d->u.items[i], "updated_at");
    if (t < *lo) *lo = t;
    if (t > *hi) *hi = t;
  }
  hl_json_doc_dispose(&doc);
}

static long recover_post(const char *sub, const char *body, hl_json_doc *doc) {
  char u[600];
  snprintf(u, sizeof u, "%s/admin/subscriptions/%s/recover", hk.base, sub);
  return e2e_call("POST", u, body, doc);
}

static long recover_get(const char *sub, hl_json_doc *doc) {
  char u[600];
  snprintf(u, sizeof u, "%s/admin/subscriptions/%s/recover", hk.base, sub);
  return e2e_call("GET", u, NULL, doc);
}

/* Polls the job until it is finished; doc gets that answer. */
static void wait_job(const char *sub, hl_json_doc *doc) {
  for (int i = 0; i < 3000; i++) {
    HL_ASSERT_EQ_INT(recover_get(sub, doc), 200);
    const hl_json *f = hl_json_get(doc->root, "finished");
    if (f && f->type == HL_JSON_TRUE) return;
    hl_json_doc_dispose(doc);
    hl_sleep_ms(20);
  }
  HL_ASSERT_MSG(false, "the recovery of %s never finished", sub);
}

static void assert_400(const char *sub, const char *body, const char *pointer) {
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(recover_post(sub, body, &doc), 400);
  HL_ASSERT_EQ_STR(e2e_json_str(doc.root, "error"), "invalid_request");
  const hl_json *det = hl_json_get(doc.root, "details");
  HL_ASSERT_MSG(det && det->len == 1, "%s: no details", body);
  HL_ASSERT_MSG(strcmp(e2e_json_str(&det->u.items[0], "path"), pointer) == 0, "%s: path %s, expected %s", body,
                e2e_json_str(&det->u.items[0], "path"), pointer);
  hl_json_doc_dispose(&doc);
}

static void post_batch(const char *prefix, int n) {
  for (int i = 0; i < n; i++) {
    char id[48];
    snprintf(id, sizeof id, "%s-%d", prefix, i);
    HL_ASSERT_EQ_INT(e2e_post_event(&hk, id, "10"), 202);
  }
}

/* Three batches fail in turn at two subscriptions (the partner answers
 * 410 to a first attempt, 200 to later ones); the middle batch's time
 * range is recovered for one subscription: exactly its deliveries are
 * delivered (a second attempt, the same webhook-id), the other batches and
 * the other subscription stay FAILED, and the job ends done with the
 * counts. Posting the range again re-queues nothing more (idempotent). */
HL_TEST_T(recovers_exactly_the_failed_deliveries_of_a_time_range, 180) {
  /* No breaker: the batches fail at the partner one after the other,
   * rather than wait behind a breaker opened by the failures before. */
#if defined(HL_TEST_DDB) && !defined(HL_TEST_EMBEDDED_QUEUE)
  static const char *const env[] = {"HOOKLOOP_BREAKER_FAILURES=0", "HOOKLOOP_QUEUE=dynamodb", NULL};
#else
  static const char *const env[] = {"HOOKLOOP_BREAKER_FAILURES=0", NULL};
#endif
  e2e_start_both(&hk, &partner, NULL, env);
  char url[256];
  snprintf(url, sizeof url, "%s/hook/rx?codes=410,200", partner.base);
  char *x = e2e_setup(&hk, "rx", url, NULL, NULL, 0);
  snprintf(url, sizeof url, "%s/hook/ry?codes=410,200", partner.base);
  char *y = e2e_setup(&hk, "ry", url, NULL, NULL, 0);

  enum { NA = 3, NB = 4, NC = 2 };
  post_batch("evt-ra", NA);
  wait_count(x, "FAILED", NA);
  wait_count(y, "FAILED", NA);
  hl_sleep_ms(5); /* the batches' failure times apart (checked below, not assumed) */
  post_batch("evt-rb", NB);
  wait_count(x, "FAILED", NA + NB);
  wait_count(y, "FAILED", NA + NB);
  hl_sleep_ms(5);
  post_batch("evt-rc", NC);
  wait_count(x, "FAILED", NA + NB + NC);
  wait_count(y, "FAILED", NA + NB + NC);

  int64_t a_lo, a_hi, b_lo, b_hi, c_lo, c_hi;
  failed_range(x, "evt-ra", &a_lo, &a_hi);
  failed_range(x, "evt-rb", &b_lo, &b_hi);
  failed_range(x, "evt-rc", &c_lo, &c_hi);
  HL_ASSERT_MSG(a_hi < b_lo && b_hi < c_lo, "batches overlap in time: A %lld..%lld B %lld..%lld C %lld..%lld",
                (long long)a_lo, (long long)a_hi, (long long)b_lo, (long long)b_hi, (long long)c_lo,
                (long long)c_hi);
  HL_ASSERT_EQ_INT(e2e_partner_stat(&partner, "requests"), 2 * (NA + NB + NC));

  /* No job yet. */
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(recover_get(x, &doc), 404);
  HL_ASSERT_EQ_STR(e2e_json_str(doc.root, "error"), "no_recovery");
  hl_json_doc_dispose(&doc);

  /* B's range, in ms as the search gives them (until as digits in a string). */
  char body[256];
  snprintf(body, sizeof body, "{\"since\":%lld,\"until\":\"%lld\",\"status\":[\"FAILED\"]}", (long long)b_lo,
           (long long)b_hi);
  HL_ASSERT_EQ_INT(recover_post(x, body, &doc), 202);
  HL_ASSERT(strncmp(e2e_json_str(doc.root, "job_id"), "rcv_", 4) == 0);
  HL_ASSERT_EQ_STR(e2e_json_str(doc.root, "subscription_id"), x);
  HL_ASSERT_EQ_INT(e2e_json_int(doc.root, "since"), b_lo);
  HL_ASSERT_EQ_INT(e2e_json_int(doc.root, "until"), b_hi);
  char job_id[64];
  snprintf(job_id, sizeof job_id, "%s", e2e_json_str(doc.root, "job_id"));
  hl_json_doc_dispose(&doc);

  wait_job(x, &doc);
  HL_ASSERT_EQ_STR(e2e_json_str(doc.root, "job_id"), job_id);
  HL_ASSERT_EQ_STR(e2e_json_str(doc.root, "state"), "done");
  HL_ASSERT_EQ_INT(e2e_json_int(doc.root, "matched"), NB);
  HL_ASSERT_EQ_INT(e2e_json_int(doc.root, "requeued"), NB);
  HL_ASSERT_EQ_INT(e2e_json_int(doc.root, "skipped"), 0);
  HL_ASSERT_EQ_INT(e2e_json_int(doc.root, "errors"), 0);
  HL_ASSERT(e2e_json_int(doc.root, "finished_at") >= e2e_json_int(doc.root, "started_at"));
  hl_json_doc_dispose(&doc);

  /* B's deliveries to x are delivered at their second attempt... */
  wait_count(x, "SUCCESS", NB);
  expect_batch(x, "evt-rb", NB, "SUCCESS", 2);
  /* ...with the webhook-id of their first: each B id twice at rx, the
   * others once. */
  HL_ASSERT(e2e_wait_requests(&partner, "rx", NA + 2 * NB + NC, 30000, &doc) >= 0);
  const hl_json *reqs = doc.root->type == HL_JSON_ARRAY ? doc.root : hl_json_get(doc.root, "requests");
  HL_ASSERT(reqs && reqs->type == HL_JSON_ARRAY);
  HL_ASSERT_EQ_INT(reqs->len, NA + 2 * NB + NC);
  for (int i = 0; i < NB; i++) {
    char id[48];
    snprintf(id, sizeof id, "evt-rb-%d", i);
    int seen = 0;
    for (uint32_t k = 0; k < reqs->len; k++) seen += strcmp(e2e_json_str(&reqs->u.items[k], "webhook_id"), id) == 0;
    HL_ASSERT_MSG(seen == 2, "%s reached the partner %d times", id, seen);
  }
  hl_json_doc_dispose(&doc);
  /* The others are untouched: A and C at x, everything at y. */
  HL_ASSERT_EQ_INT(count(x, "FAILED"), NA + NC);
  HL_ASSERT_EQ_INT(count(y, "FAILED"), NA + NB + NC);
  HL_ASSERT_EQ_INT(count(y, "SUCCESS"), 0);
  expect_batch(x, "evt-ra", NA, "FAILED", 1);
  expect_batch(x, "evt-rc", NC, "FAILED", 1);

  /* The same range again: nothing FAILED is left in it. */
  HL_ASSERT_EQ_INT(recover_post(x, body, &doc), 202);
  hl_json_doc_dispose(&doc);
  wait_job(x, &doc);
  HL_ASSERT_EQ_STR(e2e_json_str(doc.root, "state"), "done");
  HL_ASSERT_EQ_INT(e2e_json_int(doc.root, "matched"), 0);
  HL_ASSERT_EQ_INT(e2e_json_int(doc.root, "requeued"), 0);
  HL_ASSERT(strcmp(e2e_json_str(doc.root, "job_id"), job_id) != 0);
  hl_json_doc_dispose(&doc);

  /* An open range in RFC 3339 takes the rest at y. */
  HL_ASSERT_EQ_INT(recover_post(y, "{\"since\":\"2000-01-01T00:00:00Z\"}", &doc), 202);
  hl_json_doc_dispose(&doc);
  wait_job(y, &doc);
  HL_ASSERT_EQ_INT(e2e_json_int(doc.root, "requeued"), NA + NB + NC);
  hl_json_doc_dispose(&doc);
  wait_count(y, "SUCCESS", NA + NB + NC);
  HL_ASSERT_EQ_INT(count(x, "FAILED"), NA + NC);
  free(x);
  free(y);
  e2e_stop_both(&hk, &partner);
}

/* Bad input: 400 with the JSON pointer of the member; an unknown
 * subscription 404. */
HL_TEST_T(bad_recover_requests_name_the_member, 120) {
  e2e_start_both(&hk, &partner, NULL, NULL);
  char url[256];
  snprintf(url, sizeof url, "%s/hook/ok", partner.base);
  char *sub = e2e_setup(&hk, "bad", url, NULL, NULL, 0);
  static const struct { const char *body, *pointer; } bad[] = {
    {"[]", ""},
    {"{}", "/since"},
    {"{\"since\":\"yesterday\"}", "/since"},
    {"{\"since\":-5}", "/since"},
    {"{\"since\":1.5}", "/since"},
    {"{\"since\":0,\"until\":\"2026-13-01T00:00:00Z\"}", "/until"},
    {"{\"since\":2000,\"until\":1000}", "/until"},
    {"{\"since\":\"2026-11-29T10:00:00Z\",\"until\":\"2026-11-29T09:00:00Z\"}", "/until"},
    {"{\"since\":0,\"status\":[]}", "/status"},
    {"{\"since\":0,\"status\":\"FAILED\"}", "/status"},
    {"{\"since\":0,\"status\":[\"SUCCESS\"]}", "/status/0"},
    {"{\"since\":0,\"status\":[\"FAILED\",\"LOST\"]}", "/status/1"},
    {"{\"since\":0,\"status\":[\"FAILED\",7]}", "/status/1"},
    {"{\"since\":0,\"limit\":5}", "/limit"},
    {"{\"since\":0,\"a/b~c\":5}", "/a~1b~0c"},
  };
  for (size_t i = 0; i < HL_ARRAY_SIZE(bad); i++) assert_400(sub, bad[i].body, bad[i].pointer);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(recover_post(sub, "{\"since\":", &doc), 400);
  hl_json_doc_dispose(&doc);
  HL_ASSERT_EQ_INT(recover_post("sub_nobody", "{\"since\":0}", &doc), 404);
  HL_ASSERT_EQ_STR(e2e_json_str(doc.root, "error"), "not_found");
  hl_json_doc_dispose(&doc);
  HL_ASSERT_EQ_INT(recover_get("sub_nobody", &doc), 404);
  HL_ASSERT_EQ_STR(e2e_json_str(doc.root, "error"), "not_found");
  hl_json_doc_dispose(&doc);
  /* Nothing was started by any of them. */
  HL_ASSERT_EQ_INT(recover_get(sub, &doc), 404);
  HL_ASSERT_EQ_STR(e2e_json_str(doc.root, "error"), "no_recovery");
  hl_json_doc_dispose(&doc);
  free(sub);
  e2e_stop_both(&hk, &partner);
}
