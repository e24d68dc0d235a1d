/* End to end, `hookloop serve` against mock partner processes: the
 * breaker shared by the subscriptions to one destination host, and
 * adaptive concurrency (AIMD) against a partner of limited capacity. */
#include "e2e_util.h"
#include "hl_test.h"
#include "hl_testutil.h"
#include "common/hl_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static e2e_hookloop hk;
static e2e_partner partner;

static const char *str_at(const hl_json *obj, const char *key) { return hl_json_str(hl_json_get(obj, key)); }

/* A second subscription to url, for another partner; returns its id. */
static char *add_sub(const char *partner_id, const char *url, const char *extra) {
  char u[256], body[1024];
  snprintf(u, sizeof u, "%s/admin/subscriptions", hk.base);
  snprintf(body, sizeof body, "{\"partner_id\":\"%s\",\"event_type\":\"Payment\",\"url\":\"%s\",%s}", partner_id, url,
           extra);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_call("POST", u, body, &doc), 201);
  char *id = strdup(str_at(doc.root, "subscription_id"));
  hl_json_doc_dispose(&doc);
  return id;
}

/* The subscription's own breaker state and its destination host's. */
static void breakers_of(const char *sub, char *own, char *host, size_t n) {
  char u[256];
  snprintf(u, sizeof u, "%s/admin/subscriptions/%s", hk.base, sub);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_call("GET", u, NULL, &doc), 200);
  const char *o = str_at(hl_json_get(doc.root, "breaker"), "state");
  const hl_json *dh = hl_json_get(doc.root, "destination_host");
  const char *h = dh ? str_at(hl_json_get(dh, "breaker"), "state") : NULL;
  snprintf(own, n, "%s", o ? o : "");
  snprintf(host, n, "%s", h ? h : "");
  hl_json_doc_dispose(&doc);
}

/* Two partners' subscriptions to one host answering 503 to everything;
 * breakers open after 3 failures in a row, each subscription has one
 * attempt out at a time. Their failures interleave, so neither has 3 in a
 * row of its own when the host has: the host's breaker opens, both wait,
 * and the partner sees no more than the attempts made before it opened
 * (3, and one already out). Without the host's breaker each would go on
 * to 3 failures of its own (6 requests, then every retry: 20 ms apart). */
HL_TEST_T(subscriptions_to_one_failing_host_share_its_breaker, 120) {
  static const char *const env[] = {"HOOKLOOP_BREAKER_FAILURES=3", "HOOKLOOP_BREAKER_OPEN_MS=600000",
                                    "HOOKLOOP_DISABLE_AFTER_FAILURES=0",
                                    "HOOKLOOP_RETRY_SCHEDULE=20ms,20ms,20ms,20ms,20ms,20ms,20ms,20ms", NULL};
  static const char *const down[] = {"--mix", "503:1", NULL};
  e2e_start_both(&hk, &partner, down, env);
  char url_a[256], url_b[256];
  snprintf(url_a, sizeof url_a, "%s/hook/a", partner.base);
  snprintf(url_b, sizeof url_b, "%s/hook/b", partner.base);
  char *a = e2e_setup(&hk, "acme", url_a, "\"max_in_flight\": 1", NULL, 0);
  char *b = add_sub("beta", url_b, "\"max_in_flight\": 1");
  HL_ASSERT_EQ_INT(e2e_post_event(&hk, "evt-host-1", "1"), 202);
  HL_ASSERT_EQ_INT(e2e_post_event(&hk, "evt-host-2", "2"), 202);
  char own_a[32], host_a[32], own_b[32], host_b[32];
  for (int waited = 0; waited < 20000; waited += 20) {
    breakers_of(a, own_a, host_a, sizeof own_a);
    if (strcmp(host_a, "open") == 0) break;
    hl_sleep_ms(20);
  }
  HL_ASSERT_EQ_STR(host_a, "open");
  /* Long enough for many 20 ms retries, were any made. */
  hl_sleep_ms(500);
  int64_t reqs = e2e_partner_stat(&partner, "requests");
  HL_ASSERT_MSG(reqs >= 3 && reqs <= 4, "%lld requests reached the host after its breaker opened at 3", (long long)reqs);
  breakers_of(a, own_a, host_a, sizeof own_a);
  breakers_of(b, own_b, host_b, sizeof own_b);
  HL_ASSERT_EQ_STR(host_b, "open");
  HL_ASSERT_MSG(strcmp(own_a, "open") != 0 || strcmp(own_b, "open") != 0,
                "one subscription's own breaker stays closed (fewer than 3 of its own in a row)");
  HL_ASSERT_EQ_INT(e2e_metric(&hk, "hookloop_host_breakers{state=\"open\"}"), 1);
  /* The hosts view lists the host with both subscriptions. */
  char u[256];
  snprintf(u, sizeof u, "%s/admin/hosts", hk.base);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_call("GET", u, NULL, &doc), 200);
  const hl_json *hosts = hl_json_get(doc.root, "hosts");
  HL_ASSERT(hosts && hosts->len == 1);
  HL_ASSERT_EQ_INT(hl_json_get(&hosts->u.items[0], "subscription_ids")->len, 2);
  HL_ASSERT_EQ_STR(str_at(hl_json_get(&hosts->u.items[0], "breaker"), "state"), "open");
  hl_json_doc_dispose(&doc);
  e2e_stop_both(&hk, &partner);
  free(a);
  free(b);
}

/* Posts n Payment events <prefix>0.. one by one. */
static void post_n(const char *prefix, int n) {
  char id[64];
  for (int i = 0; i < n; i++) {
    snprintf(id, sizeof id, "%s%d", prefix, i);
    HL_ASSERT_EQ_INT(e2e_post_event(&hk, id, "1"), 202);
  }
}

/* A partner that works on 4 requests at once (100 ms each, slower than the events come) and answers 429
 * to any more; the subscription allows 32. With AIMD every event is
 * delivered, the requests at the partner at once stay near 4 (under 12;
 * 32 without it) and fewer are refused than taken. */
HL_TEST_T(aimd_keeps_the_requests_at_a_partner_near_its_capacity, 120) {
  /* Refused ones are retried soon and often: none may run out of attempts. */
  char retries[512] = "HOOKLOOP_RETRY_SCHEDULE=50ms";
  for (int i = 0; i < 40; i++) strcat(retries, ",50ms");
  const char *const env[] = {"HOOKLOOP_ADAPTIVE_CONCURRENCY=1", "HOOKLOOP_DISABLE_AFTER_FAILURES=0",
                                    "HOOKLOOP_BREAKER_FAILURES=0",
                                    retries, NULL};
  static const char *const cap[] = {"--capacity", "4", "--latency-ms", "100", NULL};
  e2e_start_both(&hk, &partner, cap, env);
  char url[256];
  snprintf(url, sizeof url, "%s/hook/cap", partner.base);
  char *sub = e2e_setup(&hk, "acme", url, "\"max_in_flight\": 32", NULL, 0);
  enum { N = 150 };
  post_n("evt-aimd-", N);
  for (int waited = 0; waited < 60000 && e2e_partner_stat(&partner, "ok_ids") < N; waited += 50) hl_sleep_ms(50);
  HL_ASSERT_EQ_INT(e2e_partner_stat(&partner, "ok_ids"), N);
  int64_t most = e2e_partner_stat(&partner, "max_concurrent");
  int64_t refused = e2e_partner_stat(&partner, "over_capacity");
  printf("aimd e2e: %d delivered, %lld refused 429, at most %lld at the partner at once\n", N, (long long)refused,
         (long long)most);
  HL_ASSERT_MSG(most < 12, "%lld requests at the partner at once", (long long)most);
  HL_ASSERT_MSG(refused < N, "%lld refused for %d delivered", (long long)refused, N);
  char u[256];
  snprintf(u, sizeof u, "%s/admin/hosts", hk.base);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_call("GET", u, NULL, &doc), 200);
  const hl_json *hl = hl_json_get(doc.root, "hosts");
  HL_ASSERT_MSG(hl && hl->len == 1, "hosts: %u", hl ? hl->len : 0);
  const hl_json *c = hl_json_get(&hl->u.items[0], "concurrency");
  HL_ASSERT_MSG(c && c->type == HL_JSON_OBJECT, "no concurrency in the hosts view");
  int64_t limit = 0, ceiling = 0, cuts = 0;
  hl_json_int64(hl_json_get(c, "limit"), &limit);
  hl_json_int64(hl_json_get(c, "ceiling"), &ceiling);
  hl_json_int64(hl_json_get(c, "cuts"), &cuts);
  HL_ASSERT_EQ_INT(ceiling, 32);
  HL_ASSERT(cuts >= 1);
  HL_ASSERT(limit >= 1 && limit <= 32);
  hl_json_doc_dispose(&doc);
  e2e_stop_both(&hk, &partner);
  free(sub);
}
