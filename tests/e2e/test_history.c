/* A delivery's history end to end (docs/interface.md, "Attempt log"): the
 * real binary, the mock partner, on SQLite, and on DynamoDB (dynalite) and
 * PostgreSQL where the store code differs (HL_TEST_DDB, HL_TEST_PG). */
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
  int64_t v = -1;
  const hl_json *x = hl_json_get(obj, key);
  if (x && x->type == HL_JSON_NUMBER) v = atoll(x->u.str);
  return v;
}

/* GET .../attempts of event id to sub: the status; doc gets the answer. */
static long get_attempts(const char *id, const char *sub, hl_json_doc *doc) {
  return e2e_attempts(&hk, id, sub, doc);
}

/* Polls until the attempt log holds n attempts; returns the array. */
static const hl_json *wait_attempts(const char *id, const char *sub, size_t n, hl_json_doc *doc) {
  for (int i = 0; i < 500; i++) {
    HL_ASSERT_EQ_INT(get_attempts(id, sub, doc), 200);
    const hl_json *a = hl_json_get(doc->root, "attempts");
    HL_ASSERT(a && a->type == HL_JSON_ARRAY);
    if (a->len >= n) return a;
    hl_json_doc_dispose(doc);
    hl_sleep_ms(20);
  }
  HL_ASSERT_MSG(false, "the attempt log of %s never held %zu attempts", id, n);
  return NULL;
}

/* Every attempt is logged with what the partner answered: status, error,
 * headers without the credential-like ones, the first 1 KB of the body. */
HL_TEST_T(every_attempt_is_logged_redacted_and_cut_at_1kb, 120) {
  e2e_start_both(&hk, &partner, NULL, NULL);
  char url[256];
  snprintf(url, sizeof url, "%s/hook/log?codes=503,500,200&answer=1&body_bytes=1500", partner.base);
  char *sub = e2e_setup(&hk, "acme", url, NULL, NULL, 0);
  HL_ASSERT_EQ_INT(e2e_post_event(&hk, "evt-log-1", "10"), 202);
  HL_ASSERT(e2e_wait_status(&hk, "evt-log-1", "SUCCESS", 10000));
  hl_json_doc doc;
  const hl_json *a = wait_attempts("evt-log-1", sub, 3, &doc);
  HL_ASSERT_EQ_INT(a->len, 3);
  static const int64_t codes[] = {503, 500, 200};
  int64_t last_at = 0;
  for (uint32_t i = 0; i < 3; i++) {
    const hl_json *x = &a->u.items[i];
    HL_ASSERT_EQ_INT(int_at(x, "attempt"), i + 1);
    HL_ASSERT_EQ_INT(int_at(x, "status_code"), codes[i]);
    HL_ASSERT(int_at(x, "at_ms") >= last_at);
    last_at = int_at(x, "at_ms");
    HL_ASSERT(int_at(x, "latency_ms") >= 0);
    const hl_json *err = hl_json_get(x, "error");
    if (codes[i] == 200) HL_ASSERT(err && err->type == HL_JSON_NULL);
    else HL_ASSERT_MSG(str_at(x, "error") && strstr(str_at(x, "error"), codes[i] == 503 ? "503" : "500"),
                       "attempt %u: error %s", i + 1, str_at(x, "error") ? str_at(x, "error") : "(null)");
    const hl_json *h = hl_json_get(x, "response_headers");
    HL_ASSERT(h && h->type == HL_JSON_OBJECT);
    char rid[16];
    snprintf(rid, sizeof rid, "req-%u", i + 1);
    HL_ASSERT_EQ_STR(str_at(h, "x-request-id"), rid);
    HL_ASSERT(hl_json_get(h, "set-cookie") == NULL);
    HL_ASSERT(hl_json_get(h, "www-authenticate") == NULL);
    HL_ASSERT(hl_json_get(h, "x-api-token") == NULL);
    HL_ASSERT(str_at(h, "content-length") != NULL);
    const char *body = str_at(x, "response_body");
    HL_ASSERT(body != NULL);
    HL_ASSERT_EQ_INT(strlen(body), 1024);
    HL_ASSERT(strncmp(body, "{\"pad\":\"xxx", 11) == 0);
    const hl_json *t = hl_json_get(x, "truncated");
    HL_ASSERT(t && t->type == HL_JSON_TRUE);
  }
  hl_json_doc_dispose(&doc);
  /* Nothing credential-like reached the answer, nor the store's files. */
  char *raw = NULL;
  char u[512];
  snprintf(u, sizeof u, "%s/admin/deliveries/evt-log-1/%s/attempts", hk.base, sub);
  HL_ASSERT_EQ_INT(hl_http("GET", u, NULL, 0, NULL, &raw), 200);
  HL_ASSERT_MSG(strstr(raw, "SECRET") == NULL, "a redacted value in the answer: %s", raw);
  free(raw);
#if !defined(HL_TEST_DDB) && !defined(HL_TEST_PG)
  static const char *const files[] = {"hookloop.db", "hookloop.db-wal"};
  bool logged = false;
  for (size_t f = 0; f < HL_ARRAY_SIZE(files); f++) {
    char path[600];
    snprintf(path, sizeof path, "%s/%s", hk.dir, files[f]);
    size_t n = 0;
    char *content = hl_read_file(path, &n);
    if (!content) continue;
    HL_ASSERT_MSG(memmem(content, n, "SECRET", 6) == NULL, "%s holds a redacted value", files[f]);
    logged |= memmem(content, n, "req-3", 5) != NULL;
    free(content);
  }
  HL_ASSERT_MSG(logged, "the database files do not hold the log");
#endif
  free(sub);
  e2e_stop_both(&hk, &partner);
}

/* A delivery keeps its last HL_ATTEMPT_LOG_MAX (20) attempts: the oldest
 * go first. An attempt without an HTTP answer has a null status code. */
HL_TEST_T(the_log_keeps_the_last_20_attempts, 120) {
  static const char *const env[] = {"HOOKLOOP_BREAKER_FAILURES=0", NULL};
  e2e_start_both(&hk, &partner, NULL, env);
  char url[256];
  /* 25 attempts, all answered 500 (no breaker: every one is sent). */
  snprintf(url, sizeof url, "%s/hook/many?codes=500", partner.base);
  hl_buf sched = HL_BUF_INIT;
  hl_buf_puts(&sched, "\"retry_schedule\":\"");
  for (int i = 0; i < 24; i++) hl_buf_printf(&sched, "%s5ms", i ? "," : "");
  hl_buf_puts(&sched, "\"");
  char *sub = e2e_setup(&hk, "acme", url, sched.data, NULL, 0);
  hl_buf_dispose(&sched);
  HL_ASSERT_EQ_INT(e2e_post_event(&hk, "evt-many", "1"), 202);
  if (!e2e_wait_status(&hk, "evt-many", "FAILED", 20000)) {
    char st[32], err[256];
    int64_t n = 0;
    e2e_status(&hk, "evt-many", st, sizeof st, NULL);
    e2e_delivery_error(&hk, "evt-many", err, sizeof err, &n);
    HL_ASSERT_MSG(false, "evt-many: %s after %lld attempts (%s)", st, (long long)n, err);
  }
  hl_json_doc doc;
  const hl_json *a = wait_attempts("evt-many", sub, 20, &doc);
  HL_ASSERT_EQ_INT(a->len, 20);
  for (uint32_t i = 0; i < 20; i++) {
    HL_ASSERT_EQ_INT(int_at(&a->u.items[i], "attempt"), i + 6);
    HL_ASSERT_EQ_INT(int_at(&a->u.items[i], "status_code"), 500);
  }
  hl_json_doc_dispose(&doc);
  free(sub);
  e2e_stop_both(&hk, &partner);
}

/* No answer: a null status code and the connection's error. An unknown
 * delivery is a 404 with a JSON error. */
HL_TEST_T(no_answer_and_unknown_delivery, 120) {
  e2e_start_both(&hk, &partner, NULL, NULL);
  char url[256];
  snprintf(url, sizeof url, "%s/hook/reset?reset=1", partner.base);
  char *sub = e2e_setup(&hk, "acme", url, "\"retry_schedule\":\"5ms\"", NULL, 0);
  HL_ASSERT_EQ_INT(e2e_post_event(&hk, "evt-reset", "1"), 202);
  HL_ASSERT(e2e_wait_status(&hk, "evt-reset", "FAILED", 20000));
  hl_json_doc doc;
  const hl_json *a = wait_attempts("evt-reset", sub, 2, &doc);
  HL_ASSERT_EQ_INT(a->len, 2);
  for (uint32_t i = 0; i < 2; i++) {
    const hl_json *x = &a->u.items[i];
    const hl_json *sc = hl_json_get(x, "status_code");
    HL_ASSERT(sc && sc->type == HL_JSON_NULL);
    HL_ASSERT(str_at(x, "error") && *str_at(x, "error"));
    HL_ASSERT_EQ_STR(str_at(x, "response_body"), "");
    HL_ASSERT_EQ_INT(hl_json_get(x, "response_headers")->len, 0);
  }
  hl_json_doc_dispose(&doc);
  HL_ASSERT_EQ_INT(get_attempts("evt-none", sub, &doc), 404);
  HL_ASSERT_EQ_STR(str_at(doc.root, "error"), "not_found");
  hl_json_doc_dispose(&doc);
  HL_ASSERT_EQ_INT(get_attempts("evt-reset", "sub_none", &doc), 404);
  hl_json_doc_dispose(&doc);
  free(sub);
  e2e_stop_both(&hk, &partner);
}

/* POSTs event json with an Idempotency-Key header; returns the status, *out the answer. */
static long post_keyed(const char *key, const char *json, char **out) {
  char u[256], h[400];
  snprintf(u, sizeof u, "%s/api/v1/events", hk.base);
  snprintf(h, sizeof h, "Idempotency-Key: %s", key);
  const char *hdrs[] = {"Content-Type: application/json", h, NULL};
  return hl_http("POST", u, json, strlen(json), hdrs, out);
}

/* Idempotency-Key on create: the same key and body is the duplicate
 * answer, another body a 409; a body refused gives its key back. */
HL_TEST_T(idempotency_key_binds_a_key_to_one_body, 120) {
  e2e_start_both(&hk, &partner, NULL, NULL);
  char url[256];
  snprintf(url, sizeof url, "%s/hook/idem", partner.base);
  free(e2e_setup(&hk, "acme", url, NULL, NULL, 0));
  char one[1024], other[1024], bad[1024], *resp = NULL;
  e2e_event_json(one, sizeof one, "evt-idem-1", "10");
  e2e_event_json(other, sizeof other, "evt-idem-2", "11");
  HL_ASSERT_EQ_INT(post_keyed("k-1", one, &resp), 202);
  free(resp);
  HL_ASSERT_EQ_INT(post_keyed("k-1", one, &resp), 200);
  HL_ASSERT_MSG(strstr(resp, "\"duplicate\"") && strstr(resp, "evt-idem-1"), "%s", resp);
  free(resp);
  HL_ASSERT_EQ_INT(post_keyed("k-1", other, &resp), 409);
  hl_json_doc doc;
  hl_json_doc_init(&doc);
  HL_ASSERT(hl_json_parse(&doc, resp, strlen(resp), NULL) == 0);
  HL_ASSERT_EQ_STR(str_at(doc.root, "error"), "idempotency_key_reused");
  HL_ASSERT_EQ_STR(str_at(&hl_json_get(doc.root, "details")->u.items[0], "path"), "Idempotency-Key");
  hl_json_doc_dispose(&doc);
  free(resp);
  /* A body the schema refuses does not keep the key. */
  e2e_event_json(bad, sizeof bad, "evt-idem-3", "\"ten\"");
  HL_ASSERT_EQ_INT(post_keyed("k-3", bad, &resp), 400);
  free(resp);
  HL_ASSERT_EQ_INT(post_keyed("k-3", other, &resp), 202);
  free(resp);
  HL_ASSERT_EQ_INT(post_keyed("k-3", one, &resp), 409);
  free(resp);
  HL_ASSERT_EQ_INT(post_keyed("has space", one, &resp), 400);
  free(resp);
  /* Two keys in one request: which one binds is not guessed. */
  char u[256];
  snprintf(u, sizeof u, "%s/api/v1/events", hk.base);
  const char *twice[] = {"Content-Type: application/json", "Idempotency-Key: k-a", "Idempotency-Key: k-b", NULL};
  HL_ASSERT_EQ_INT(hl_http("POST", u, one, strlen(one), twice, &resp), 400);
  HL_ASSERT_MSG(strstr(resp, "\"Idempotency-Key\"") && strstr(resp, "more than once"), "%s", resp);
  free(resp);
#ifdef HL_TEST_DDB
  /* A body the events table cannot keep (over a 400 KB item) is refused for good
   * (413) and gives its key back too: the key then takes a body that fits.
   * The key stayed bound to the body it could never send (409). */
  enum { BIG = 400 * 1024 };
  char *big = malloc(BIG + 1);
  HL_ASSERT(big != NULL);
  int n = e2e_event_json(big, BIG, "evt-idem-big", "12");
  snprintf(big + n - 1, (size_t)(BIG - n + 1), ",\"pad\":\"");
  size_t at = strlen(big);
  memset(big + at, 'p', BIG - at - 2);
  memcpy(big + BIG - 2, "\"}", 3);
  HL_ASSERT_EQ_INT(post_keyed("k-big", big, &resp), 413);
  free(resp);
  free(big);
  e2e_event_json(bad, sizeof bad, "evt-idem-big", "12");
  HL_ASSERT_EQ_INT(post_keyed("k-big", bad, &resp), 202);
  free(resp);
  enum { BIG_FIXED = 1 };
#else
  enum { BIG_FIXED = 0 };
#endif
  /* The key is back before the refusal is answered, so the corrected body
   * sent at once takes it. The give-back once went out beside the answer,
   * and the next request, on another connection of the PostgreSQL pool,
   * could reach the store first and find a 409. On PostgreSQL a trigger
   * holds every give-back (the entry written expired: expires_at 1) for
   * 300 ms before its row is touched, so that order is certain here. */
#ifdef HL_TEST_PG
  HL_ASSERT(hl_pgsrv_exec(e2e_pg_server(),
                          "CREATE FUNCTION hl_test_slow_give_back() RETURNS trigger LANGUAGE plpgsql AS $$ "
                          "BEGIN IF NEW.expires_at = 1 THEN PERFORM pg_sleep(0.3); END IF; RETURN NEW; END $$; "
                          "CREATE TRIGGER hl_test_slow_give_back BEFORE INSERT ON idempotency_ledger "
                          "FOR EACH ROW EXECUTE FUNCTION hl_test_slow_give_back()",
                          NULL, 0) == 0);
  enum { CORRECTED = 4 };
#else
  enum { CORRECTED = 20 };
#endif
  for (int i = 0; i < CORRECTED; i++) {
    char key[32], id[32];
    snprintf(key, sizeof key, "k-fix-%d", i);
    snprintf(id, sizeof id, "evt-idem-fix-%d", i);
    e2e_event_json(bad, sizeof bad, id, "\"ten\"");
    HL_ASSERT_EQ_INT(post_keyed(key, bad, &resp), 400);
    free(resp);
    e2e_event_json(bad, sizeof bad, id, "10");
    HL_ASSERT_EQ_INT(post_keyed(key, bad, &resp), 202);
    free(resp);
  }
#ifdef HL_TEST_PG
  /* A give-back the store fails is a 503, not the refusal: the key is
   * still bound, and sending the same body again gives it back. */
  HL_ASSERT(hl_pgsrv_exec(e2e_pg_server(),
                          "CREATE OR REPLACE FUNCTION hl_test_slow_give_back() RETURNS trigger LANGUAGE plpgsql AS $$ "
                          "BEGIN IF NEW.expires_at = 1 THEN RAISE EXCEPTION 'give-back refused'; END IF; "
                          "RETURN NEW; END $$",
                          NULL, 0) == 0);
  e2e_event_json(bad, sizeof bad, "evt-idem-held", "\"ten\"");
  HL_ASSERT_EQ_INT(post_keyed("k-held", bad, &resp), 503);
  HL_ASSERT_MSG(strstr(resp, "store_unavailable"), "%s", resp);
  free(resp);
  HL_ASSERT(hl_pgsrv_exec(e2e_pg_server(),
                          "DROP TRIGGER hl_test_slow_give_back ON idempotency_ledger; "
                          "DROP FUNCTION hl_test_slow_give_back()",
                          NULL, 0) == 0);
  HL_ASSERT_EQ_INT(post_keyed("k-held", bad, &resp), 400);
  free(resp);
  e2e_event_json(bad, sizeof bad, "evt-idem-held", "10");
  HL_ASSERT_EQ_INT(post_keyed("k-held", bad, &resp), 202);
  free(resp);
  enum { HELD = 1 };
#else
  enum { HELD = 0 };
#endif
  HL_ASSERT(e2e_wait_status(&hk, "evt-idem-1", "SUCCESS", 10000));
  HL_ASSERT(e2e_wait_status(&hk, "evt-idem-2", "SUCCESS", 10000));
  hl_json_doc reqs;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "idem", 2 + CORRECTED + HELD + BIG_FIXED + 1, 500, &reqs),
                   2 + CORRECTED + HELD + BIG_FIXED);
  hl_json_doc_dispose(&reqs);
  e2e_stop_both(&hk, &partner);
}
