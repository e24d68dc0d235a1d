/* Retention end to end (docs/retention.md): the real binary with a short
 * retention "day" (HOOKLOOP_RETENTION_UNIT_MS, the test-only knob) on
 * SQLite, and on PostgreSQL (HL_TEST_PG) through the same admin API. */
#include "e2e_util.h"
#include "hl_test.h"
#include "hl_testutil.h"
#include "common/hl_common.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if !defined(HL_TEST_PG) && !defined(HL_TEST_DDB)
#include <sqlite3.h>
#endif

static e2e_hookloop hk;
static e2e_partner partner;


/* Three subscriptions to Payment: delivered (200), failed for good (410)
 * and waiting for a retry an hour away (503). */
static void three_subscriptions(char **ok, char **gone, char **wait) {
  char url[256];
  snprintf(url, sizeof url, "%s/hook/ok", partner.base);
  *ok = e2e_setup(&hk, "p-ok", url, NULL, NULL, 0);
  snprintf(url, sizeof url, "%s/hook/gone?codes=410", partner.base);
  *gone = e2e_setup(&hk, "p-gone", url, NULL, NULL, 0);
  snprintf(url, sizeof url, "%s/hook/wait?codes=503", partner.base);
  *wait = e2e_setup(&hk, "p-wait", url, "\"retry_schedule\":\"1h\"", NULL, 0);
}

/* POSTs json with an Idempotency-Key; returns the status. */
static long post_keyed(const char *key, const char *json) {
  char u[256], h[300];
  snprintf(u, sizeof u, "%s/api/v1/events", hk.base);
  snprintf(h, sizeof h, "Idempotency-Key: %s", key);
  const char *hdrs[] = {"Content-Type: application/json", h, NULL};
  char *out = NULL;
  long code = hl_http("POST", u, json, strlen(json), hdrs, &out);
  free(out);
  return code;
}

#if !defined(HL_TEST_DDB)
/* A retention "day" of 100 ms: delivered rows go after 0.5 s, failed
 * ones after 6 s. */
static const char *const short_env[] = {"HOOKLOOP_RETENTION_UNIT_MS=100", "HOOKLOOP_RETENTION_DAYS=5",
                                        "HOOKLOOP_RETENTION_FAILED_DAYS=60", NULL};

/* The status of event id's delivery to sub ("" when there is none). */
static void delivery_status(const char *id, const char *sub, char *out, size_t cap) {
  char u[256];
  snprintf(u, sizeof u, "%s/admin/deliveries?event_id=%s", hk.base, id);
  hl_json_doc doc;
  out[0] = '\0';
  HL_ASSERT_EQ_INT(e2e_call("GET", u, NULL, &doc), 200);
  const hl_json *d = hl_json_get(doc.root, "deliveries");
  for (uint32_t i = 0; d && d->type == HL_JSON_ARRAY && i < d->len; i++) {
    const char *s = hl_json_str(hl_json_get(&d->u.items[i], "subscription_id"));
    const char *st = hl_json_str(hl_json_get(&d->u.items[i], "status"));
    if (s && st && strcmp(s, sub) == 0) snprintf(out, cap, "%s", st);
  }
  hl_json_doc_dispose(&doc);
}

/* Polls until event id's delivery to sub has status want ("": gone). */
static bool wait_delivery(const char *id, const char *sub, const char *want, int timeout_ms) {
  char st[32];
  for (int waited = 0; waited <= timeout_ms; waited += 50) {
    delivery_status(id, sub, st, sizeof st);
    if (strcmp(st, want) == 0) return true;
    hl_sleep_ms(50);
  }
  return false;
}

static long attempts_status(const char *id, const char *sub) {
  return e2e_attempts(&hk, id, sub, NULL);
}

/* One event to three subscriptions: delivered (200), failed for good
 * (410) and waiting for a retry an hour away (503). The delivered one and
 * its attempt log go after HOOKLOOP_RETENTION_DAYS while the failed one
 * stays; the failed one goes after HOOKLOOP_RETENTION_FAILED_DAYS; the
 * waiting one stays throughout. */
HL_TEST_T(delivered_go_failed_wait_their_limit_pending_stay, 120) {
  e2e_start_both(&hk, &partner, NULL, short_env);
  char *ok, *gone, *wait;
  three_subscriptions(&ok, &gone, &wait);
  HL_ASSERT_EQ_INT(e2e_post_event(&hk, "evt-ret-1", "10"), 202);
  HL_ASSERT(wait_delivery("evt-ret-1", wait, "RETRYING", 10000));
  /* Each one went out once and was logged. */
  hl_json_doc reqs;
  HL_ASSERT(e2e_wait_requests(&partner, "wait", 1, 10000, &reqs) >= 1);
  hl_json_doc_dispose(&reqs);

  /* The delivered one goes, with its attempt log. */
  HL_ASSERT_MSG(wait_delivery("evt-ret-1", ok, "", 15000), "the delivered row was never purged");
  HL_ASSERT_EQ_INT(attempts_status("evt-ret-1", ok), 404);
  char st[32];
  delivery_status("evt-ret-1", gone, st, sizeof st);
  HL_ASSERT_EQ_STR(st, "FAILED"); /* 6 s, not 0.5 s */
  HL_ASSERT_EQ_INT(attempts_status("evt-ret-1", gone), 200);
  HL_ASSERT(e2e_metric(&hk, "hookloop_retention_purged_total{kind=\"delivery\"}") >= 1);
  HL_ASSERT(e2e_metric(&hk, "hookloop_retention_purged_total{kind=\"attempt\"}") >= 1);

  /* The failed one goes at its own limit. */
  HL_ASSERT_MSG(wait_delivery("evt-ret-1", gone, "", 30000), "the failed row was never purged");
  HL_ASSERT_EQ_INT(attempts_status("evt-ret-1", gone), 404);
  /* The one still waiting for its retry is untouched, log and all, long
   * after both limits. */
  delivery_status("evt-ret-1", wait, st, sizeof st);
  HL_ASSERT_EQ_STR(st, "RETRYING");
  HL_ASSERT_EQ_INT(attempts_status("evt-ret-1", wait), 200);
  HL_ASSERT_EQ_INT(e2e_metric(&hk, "hookloop_retention_purged_total{kind=\"delivery\"}"), 2);
  free(ok);
  free(gone);
  free(wait);
  e2e_stop_both(&hk, &partner);
}

/* An Idempotency-Key stays bound for HOOKLOOP_RETENTION_DAYS (here 0.5 s,
 * rounded up to 1 s), and the expired binding is purged: the key then
 * takes another body. */
HL_TEST_T(idempotency_keys_follow_the_retention, 120) {
  e2e_start_both(&hk, &partner, NULL, short_env);
  char url[256];
  snprintf(url, sizeof url, "%s/hook/idem", partner.base);
  free(e2e_setup(&hk, "acme", url, NULL, NULL, 0));
  char one[1024], other[1024];
  e2e_event_json(one, sizeof one, "evt-ik-1", "1");
  e2e_event_json(other, sizeof other, "evt-ik-2", "2");
  HL_ASSERT_EQ_INT(post_keyed("k-ret", one), 202);
  HL_ASSERT_EQ_INT(post_keyed("k-ret", other), 409);
  long long purged = 0;
  for (int i = 0; i < 300 && purged < 1; i++) {
    hl_sleep_ms(50);
    purged = e2e_metric(&hk, "hookloop_retention_purged_total{kind=\"ledger\"}");
  }
  HL_ASSERT_MSG(purged >= 1, "the expired binding was never purged");
  HL_ASSERT_EQ_INT(post_keyed("k-ret", other), 202);
  e2e_stop_both(&hk, &partner);
}

#endif

#if !defined(HL_TEST_PG) && !defined(HL_TEST_DDB)
/* One figure of the SQLite file (a PRAGMA or a COUNT), read beside the process. */
static long long db_figure(const char *dir, const char *sql) {
  char path[600];
  snprintf(path, sizeof path, "%s/hookloop.db", dir);
  sqlite3 *db = NULL;
  HL_ASSERT(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
  sqlite3_busy_timeout(db, 2000);
  sqlite3_stmt *st = NULL;
  HL_ASSERT_MSG(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(db));
  HL_ASSERT(sqlite3_step(st) == SQLITE_ROW);
  long long v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return v;
}

#define NBIG 300

/* A file made before retention (auto_vacuum off) is converted at start;
 * 300 delivered events of 4 KB are written with the default retention,
 * then a restart with a short one purges them all, and the file gives
 * the space back: fewer pages, and no free list left behind. */
HL_TEST_T(sqlite_file_shrinks_after_the_purge, 180) {
  e2e_start_partner(&partner, NULL);
  hk.dir = hl_tmpdir("retention");
  HL_ASSERT(hk.dir != NULL);
  {
    char path[600];
    snprintf(path, sizeof path, "%s/hookloop.db", hk.dir);
    sqlite3 *db = NULL;
    HL_ASSERT(sqlite3_open(path, &db) == SQLITE_OK);
    HL_ASSERT(sqlite3_exec(db, "PRAGMA auto_vacuum=NONE; CREATE TABLE old_file(x)", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
  }
  HL_ASSERT_EQ_INT(db_figure(hk.dir, "PRAGMA auto_vacuum"), 0);
  e2e_start_hookloop(&hk, NULL);
  HL_ASSERT_EQ_INT(db_figure(hk.dir, "PRAGMA auto_vacuum"), 2); /* INCREMENTAL */
  char url[256];
  snprintf(url, sizeof url, "%s/hook/big", partner.base);
  free(e2e_setup(&hk, "acme", url, NULL, NULL, 0));
  char pad[4200] = "1,\"pad\":\"";
  memset(pad + strlen(pad), 'x', 4000);
  strcat(pad, "\"");
  char u[256], *body = malloc(8192);
  snprintf(u, sizeof u, "%s/api/v1/events", hk.base);
  for (int i = 0; i < NBIG; i++) {
    char id[32];
    snprintf(id, sizeof id, "evt-big-%d", i);
    e2e_event_json(body, 8192, id, pad);
    const char *hdrs[] = {"Content-Type: application/json", NULL};
    HL_ASSERT_EQ_INT(hl_http("POST", u, body, strlen(body), hdrs, NULL), 202);
  }
  free(body);
  for (int i = 0; i < 600 && e2e_partner_stat(&partner, "unique_ids") < NBIG; i++) hl_sleep_ms(50);
  HL_ASSERT_EQ_INT(e2e_partner_stat(&partner, "unique_ids"), NBIG);
  for (int i = 0; i < NBIG; i += 37) {
    char id[32];
    snprintf(id, sizeof id, "evt-big-%d", i);
    HL_ASSERT(e2e_wait_status(&hk, id, "SUCCESS", 10000));
  }
  HL_ASSERT_EQ_INT(e2e_stop_hookloop(&hk, SIGTERM, 10000), 0);
  long long pages_before = db_figure(hk.dir, "PRAGMA page_count");
  HL_ASSERT_EQ_INT(db_figure(hk.dir, "SELECT COUNT(*) FROM hookloop_event"), NBIG);
  HL_ASSERT(pages_before > NBIG); /* a body is about a page */

  e2e_start_hookloop(&hk, short_env);
  long long left = -1;
  for (int i = 0; i < 400 && left != 0; i++) {
    hl_sleep_ms(50);
    left = db_figure(hk.dir, "SELECT COUNT(*) FROM hookloop_event");
  }
  HL_ASSERT_MSG(left == 0, "%lld events left", left);
  HL_ASSERT_EQ_INT(db_figure(hk.dir, "SELECT COUNT(*) FROM event_delivery_status"), 0);
  HL_ASSERT_EQ_INT(db_figure(hk.dir, "SELECT COUNT(*) FROM delivery_attempt"), 0);
  /* The vacuum runs on every batch: wait for the free list to empty. */
  long long freelist = -1;
  for (int i = 0; i < 200 && freelist != 0; i++) {
    hl_sleep_ms(50);
    freelist = db_figure(hk.dir, "PRAGMA freelist_count");
  }
  HL_ASSERT_EQ_INT(freelist, 0);
  HL_ASSERT_EQ_INT(e2e_stop_hookloop(&hk, SIGTERM, 10000), 0);
  long long pages_after = db_figure(hk.dir, "PRAGMA page_count");
  fprintf(stderr, "sqlite pages: %lld before the purge, %lld after\n", pages_before, pages_after);
  HL_ASSERT_MSG(pages_after * 4 < pages_before, "%lld pages before, %lld after", pages_before, pages_after);
  e2e_stop_both(&hk, &partner);
}
#endif



#if defined(HL_TEST_DDB)
/* Every item of table (one Scan page: the test writes a handful). */
static void scan(const char *table, hl_json_doc *doc) {
  char url[200], body[200];
  snprintf(url, sizeof url, "%s/", e2e_ddb_endpoint());
  snprintf(body, sizeof body, "{\"TableName\":\"%s\"}", table);
  const char *hdr[] = {"X-Amz-Target: DynamoDB_20120810.Scan", "Content-Type: application/x-amz-json-1.0",
                       "X-Amz-Date: 20260101T000000Z",
                       "Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/dynamodb/aws4_request, "
                       "SignedHeaders=host, Signature=0",
                       NULL};
  char *resp = NULL;
  long code = hl_http("POST", url, body, strlen(body), hdr, &resp);
  HL_ASSERT_MSG(code == 200 && resp, "Scan answered %ld: %s", code, resp ? resp : "");
  hl_json_doc_init(doc);
  HL_ASSERT(hl_json_parse(doc, resp, strlen(resp), NULL) == 0);
  free(resp);
}

/* An attribute of a Scan item: its S or N text, or NULL. */
static const char *attr(const hl_json *item, const char *name) {
  const hl_json *a = hl_json_get(item, name);
  if (!a) return NULL;
  const char *v = hl_json_str(hl_json_get(a, "S"));
  return v ? v : hl_json_str(hl_json_get(a, "N"));
}

static long long attr_n(const hl_json *item, const char *name) {
  const char *v = attr(item, name);
  return v ? atoll(v) : -1;
}

/* The items of table whose attribute key is value. */
static size_t items_where(const hl_json *items, const char *key, const char *value, const hl_json **out, size_t cap) {
  size_t n = 0;
  for (uint32_t i = 0; i < items->len && n < cap; i++)
    if (attr(&items->u.items[i], key) && strcmp(attr(&items->u.items[i], key), value) == 0) out[n++] = &items->u.items[i];
  return n;
}

/* DynamoDB expires items itself (TTL on expires_at, enabled by `hookloop
 * tables create`): a SUCCESS delivery carries its last change + 30 days
 * (HOOKLOOP_RETENTION_DAYS, default), a FAILED one + 90 days, a RETRYING
 * one none; an attempt carries its time + 90 days; an Idempotency-Key
 * binding now + 30 days. */
HL_TEST_T(ddb_items_carry_their_expiry, 120) {
  const long long day = 86400;
  e2e_start_both(&hk, &partner, NULL, NULL);
  char *ok, *gone, *wait;
  three_subscriptions(&ok, &gone, &wait);
  char one[1024];
  e2e_event_json(one, sizeof one, "evt-ttl-1", "1");
  long long t0 = hl_wall_ms() / 1000;
  HL_ASSERT_EQ_INT(post_keyed("k-ttl", one), 202);
  long long t1 = hl_wall_ms() / 1000 + 1;
  hl_json_doc reqs;
  HL_ASSERT(e2e_wait_requests(&partner, "wait", 1, 10000, &reqs) >= 1);
  hl_json_doc_dispose(&reqs);
  HL_ASSERT(e2e_wait_requests(&partner, "gone", 1, 10000, &reqs) >= 1);
  hl_json_doc_dispose(&reqs);
  HL_ASSERT(e2e_wait_requests(&partner, "ok", 1, 10000, &reqs) >= 1);
  hl_json_doc_dispose(&reqs);
  /* Statuses reach DynamoDB after the attempt: wait for all three. */
  hl_json_doc doc;
  const hl_json *d_ok[1], *d_gone[1], *d_wait[1];
  bool have = false;
  for (int i = 0; i < 200 && !have; i++) {
    scan("event_delivery_status", &doc);
    const hl_json *items = hl_json_get(doc.root, "Items");
    have = items_where(items, "subscription_id", ok, d_ok, 1) == 1 &&
           items_where(items, "subscription_id", gone, d_gone, 1) == 1 &&
           items_where(items, "subscription_id", wait, d_wait, 1) == 1 &&
           strcmp(attr(d_ok[0], "status"), "SUCCESS") == 0 && strcmp(attr(d_gone[0], "status"), "FAILED") == 0 &&
           strcmp(attr(d_wait[0], "status"), "RETRYING") == 0;
    if (!have) {
      hl_json_doc_dispose(&doc);
      hl_sleep_ms(50);
    }
  }
  HL_ASSERT_MSG(have, "the three delivery items never reached their states");
  HL_ASSERT_EQ_INT(attr_n(d_ok[0], "expires_at"), attr_n(d_ok[0], "updated_at") / 1000 + 30 * day);
  HL_ASSERT_EQ_INT(attr_n(d_gone[0], "expires_at"), attr_n(d_gone[0], "updated_at") / 1000 + 90 * day);
  HL_ASSERT(attr(d_wait[0], "expires_at") == NULL);
  hl_json_doc_dispose(&doc);

  scan("delivery_attempt", &doc);
  const hl_json *items = hl_json_get(doc.root, "Items");
  HL_ASSERT(items && items->len >= 3);
  for (uint32_t i = 0; i < items->len; i++)
    HL_ASSERT_EQ_INT(attr_n(&items->u.items[i], "expires_at"), attr_n(&items->u.items[i], "at_ms") / 1000 + 90 * day);
  hl_json_doc_dispose(&doc);

  scan("idempotency_ledger", &doc);
  const hl_json *k[1];
  HL_ASSERT_EQ_INT(items_where(hl_json_get(doc.root, "Items"), "idempotency_key", "idempotency-key#k-ttl", k, 1), 1);
  long long exp = attr_n(k[0], "expires_at");
  HL_ASSERT_MSG(exp >= t0 + 30 * day && exp <= t1 + 30 * day, "ledger expires_at %lld, posted at %lld..%lld", exp,
                t0, t1);
  hl_json_doc_dispose(&doc);
  free(ok);
  free(gone);
  free(wait);
  e2e_stop_both(&hk, &partner);
}
#endif
