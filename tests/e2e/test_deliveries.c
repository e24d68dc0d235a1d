/* Searching a subscription's deliveries end to end (docs/interface.md,
 * GET /admin/deliveries?subscription_id=): the real binary, the mock
 * partner, on SQLite, and on DynamoDB (dynalite) and PostgreSQL where the
 * store code differs (HL_TEST_DDB, HL_TEST_PG). */
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

static int64_t int_at(const hl_json *obj, const char *key) {
  const hl_json *x = hl_json_get(obj, key);
  return x && x->type == HL_JSON_NUMBER ? atoll(x->u.str) : -1;
}

/* GET /admin/deliveries?<query>: the status; doc gets the answer. */
static long search(const char *query, hl_json_doc *doc) {
  char u[2200];
  snprintf(u, sizeof u, "%s/admin/deliveries?%s", hk.base, query);
  return e2e_call("GET", u, NULL, doc);
}

/* How many deliveries the first page (limit 500) of query holds. */
static uint32_t count(const char *query) {
  hl_json_doc doc;
  char q[800];
  snprintf(q, sizeof q, "%s&limit=500", query);
  HL_ASSERT_EQ_INT(search(q, &doc), 200);
  const hl_json *d = hl_json_get(doc.root, "deliveries");
  HL_ASSERT(d && d->type == HL_JSON_ARRAY);
  uint32_t n = d->len;
  hl_json_doc_dispose(&doc);
  return n;
}

static void wait_count(const char *query, uint32_t n) {
  for (int i = 0; i < 3000 && count(query) < n; i++) hl_sleep_ms(20); /* up to 60 s on a busy machine */
  HL_ASSERT_EQ_INT(count(query), n);
}

static void assert_400(const char *query, const char *pointer) {
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(search(query, &doc), 400);
  e2e_assert_details(doc.root, &pointer, 1, query);
  hl_json_doc_dispose(&doc);
}

/* A subscription's deliveries by status, in pages that cover each row
 * once, newest update first, bounded by time; other subscriptions' rows
 * never show. */
HL_TEST_T(search_pages_through_one_subscription_by_status_and_time, 120) {
  e2e_start_both(&hk, &partner, NULL, NULL);
  char url[256];
  snprintf(url, sizeof url, "%s/hook/ok", partner.base);
  char *ok = e2e_setup(&hk, "acme", url, NULL, NULL, 0);
  snprintf(url, sizeof url, "%s/hook/gone?codes=410", partner.base);
  char *gone = e2e_setup(&hk, "gone", url, NULL, NULL, 0);
  enum { N = 5 };
  for (int i = 0; i < N; i++) {
    char id[32];
    snprintf(id, sizeof id, "evt-search-%d", i);
    HL_ASSERT_EQ_INT(e2e_post_event(&hk, id, "10"), 202);
  }
  char q[512];
  snprintf(q, sizeof q, "subscription_id=%s&status=FAILED", gone);
  wait_count(q, N);
  snprintf(q, sizeof q, "subscription_id=%s&status=SUCCESS", ok);
  wait_count(q, N);
  snprintf(q, sizeof q, "subscription_id=%s&status=FAILED", ok);
  HL_ASSERT_EQ_INT(count(q), 0);
  snprintf(q, sizeof q, "subscription_id=%s", gone);
  HL_ASSERT_EQ_INT(count(q), N);

  /* Pages of 2: 2, 2, 1, each row once, updated_at never rising. */
  bool seen[N] = {false};
  uint32_t pages = 0, rows = 0;
  int64_t last = INT64_MAX;
  char cursor[512] = "";
  do {
    hl_json_doc doc;
    char page[1024];
    snprintf(page, sizeof page, "subscription_id=%s&status=FAILED&limit=2%s%s", gone,
             cursor[0] ? "&cursor=" : "", cursor);
    HL_ASSERT_EQ_INT(search(page, &doc), 200);
    HL_ASSERT_EQ_STR(str_at(doc.root, "subscription_id"), gone);
    const hl_json *d = hl_json_get(doc.root, "deliveries");
    HL_ASSERT(d->len <= 2);
    for (uint32_t i = 0; i < d->len; i++) {
      const hl_json *x = &d->u.items[i];
      HL_ASSERT_EQ_STR(str_at(x, "subscription_id"), gone);
      HL_ASSERT_EQ_STR(str_at(x, "status"), "FAILED");
      HL_ASSERT_EQ_INT(int_at(x, "last_status_code"), 410);
      const char *id = str_at(x, "event_id");
      HL_ASSERT(id && strncmp(id, "evt-search-", 11) == 0);
      int k = atoi(id + 11);
      HL_ASSERT_MSG(k >= 0 && k < N && !seen[k], "%s twice", id);
      seen[k] = true;
      HL_ASSERT(int_at(x, "updated_at") <= last);
      last = int_at(x, "updated_at");
      rows++;
    }
    const hl_json *next = hl_json_get(doc.root, "next_cursor");
    HL_ASSERT(next != NULL);
    cursor[0] = '\0';
    /* The cursor has a ':' (percent-encoded here) and an event id. */
    if (next->type == HL_JSON_STRING) {
      const char *c = hl_json_str(next);
      size_t j = 0;
      for (; *c && j + 4 < sizeof cursor; c++)
        j += (size_t)(*c == ':' ? snprintf(cursor + j, 4, "%%3A") : snprintf(cursor + j, 2, "%c", *c));
    } else {
      HL_ASSERT(next->type == HL_JSON_NULL);
    }
    pages++;
    hl_json_doc_dispose(&doc);
  } while (cursor[0] && pages < 10);
  HL_ASSERT_EQ_INT(pages, 3);
  HL_ASSERT_EQ_INT(rows, N);

  /* Time bounds, in ms and RFC 3339. */
  snprintf(q, sizeof q, "subscription_id=%s&since=%lld", gone, (long long)(last + 3600000));
  HL_ASSERT_EQ_INT(count(q), 0);
  snprintf(q, sizeof q, "subscription_id=%s&since=%lld&until=%lld", gone, (long long)last,
           (long long)(last + 3600000));
  HL_ASSERT(count(q) >= 1);
  snprintf(q, sizeof q, "subscription_id=%s&until=2000-01-01T00:00:00Z", gone);
  HL_ASSERT_EQ_INT(count(q), 0);
  snprintf(q, sizeof q, "subscription_id=%s&since=2000-01-01T00:00:00.5%%2B02:00", gone);
  HL_ASSERT_EQ_INT(count(q), N);
  HL_ASSERT_EQ_INT(count("subscription_id=sub_nobody"), 0);

  /* Bad parameters: 400 naming the parameter. */
  static const struct { const char *query, *pointer; } bad[] = {
    {"status=LOST", "?status"}, {"limit=0", "?limit"}, {"limit=501", "?limit"},
    {"since=yesterday", "?since"}, {"until=2026-13-01T00:00:00Z", "?until"},
    {"since=2000&until=1000", "?until"}, {"cursor=nope", "?cursor"},
    /* RFC 3339's fields are exact digits, and the day exists */
    {"since=2026-02-29T00:00:00Z", "?since"}, {"since=2026-11-29T-1:00:00Z", "?since"},
    {"since=2026-11-29T%201:00:00Z", "?since"}, {"until=2026-11-29T01:00:00%2B1:00", "?until"},
    {"until=2026-11-29T01:00:00Z%20", "?until"},
    /* a parameter the search does not take, or one given twice */
    {"limt=5", "?limt"}, {"status=FAILED&status=SUCCESS", "?status"},
  };
  for (size_t i = 0; i < HL_ARRAY_SIZE(bad); i++) {
    snprintf(q, sizeof q, "subscription_id=%s&%s", gone, bad[i].query);
    assert_400(q, bad[i].pointer);
  }
  assert_400("status=FAILED", "?event_id");
  /* Beside event_id, whose deliveries are listed whole, a search
   * parameter is refused where it is, not ignored (a bad one was 200). */
  static const struct { const char *query, *pointer; } with_event[] = {
    {"subscription_id=x", "?subscription_id"}, {"status=LOST", "?status"}, {"limit=0", "?limit"},
    {"since=yesterday", "?since"}, {"until=1000", "?until"}, {"cursor=nope", "?cursor"},
  };
  for (size_t i = 0; i < HL_ARRAY_SIZE(with_event); i++) {
    snprintf(q, sizeof q, "event_id=evt-search-0&%s", with_event[i].query);
    assert_400(q, with_event[i].pointer);
  }
  /* event_id still lists one event's deliveries. */
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(search("event_id=evt-search-0", &doc), 200);
  HL_ASSERT_EQ_INT(hl_json_get(doc.root, "deliveries")->len, 2);
  hl_json_doc_dispose(&doc);
  free(ok);
  free(gone);
  e2e_stop_both(&hk, &partner);
}
