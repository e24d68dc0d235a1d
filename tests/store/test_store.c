/* The store contract: one suite, three backends. Built three times —
 * test_store against a real SQLite file, test_store_ddb (HL_TEST_DDB)
 * against the DynamoDB store on a real dynalite process, with the embedded
 * queue in SQLite beneath it as `serve` runs it, and test_store_pg
 * (HL_TEST_PG) against the PostgreSQL store on a throwaway PostgreSQL 15
 * (queue included), plus what only a store shared by processes needs. */
#include "hl_test.h"
#include "hl_testutil.h"
#include "sqlite_peek.h"
#include "common/hl_common.h"
#include "store/hl_store_sqlite.h"
#ifdef HL_TEST_DDB
#include "loop/hl_curl_uv.h"
#include "store/hl_store_ddb.h"
#endif
#ifdef HL_TEST_PG
#include "hl_pgsrv.h"
#include "store/hl_store_pg.h"
#include <libpq-fe.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#endif

#include <sqlite3.h>
#include <sys/stat.h>
#include <uv.h>

typedef struct {
  int calls;
  int status;
  hl_store_result res;
} capture;

static void cap_cb(void *data, int status, hl_store_result *res) {
  capture *c = data;
  c->calls++;
  c->status = status;
  c->res = *res;           /* take everything */
  *res = (hl_store_result){0};
}

static uv_loop_t loop;
static hl_store *store;
static char *dir;

static void run_until(capture *c) {
  /* DynamoDB answers over the network: allow it time, not just turns. */
  for (int i = 0; i < 200000 && c->calls == 0; i++) uv_run(&loop, UV_RUN_ONCE);
  HL_ASSERT_MSG(c->calls == 1, "callback ran %d times", c->calls);
}

#ifdef HL_TEST_DDB
static hl_curl_uv curl;
static hl_dynalite dyn;
static bool tables_made;
/* When set, the store reads its subscriptions from this table instead
 * (one that is not there: every read of it fails). */
static const char *sub_table_override;

static void on_tables(void *data, int status, const char *report) {
  if (status != 0) fprintf(stderr, "%s", report);
  *(int *)data = status == 0 ? 1 : -1;
}
#endif

#ifdef HL_TEST_PG
static hl_pgsrv srv;

static const char *url_lookup(void *data, const char *name) {
  return strcmp(name, "DATABASE_URL") == 0 ? data : NULL;
}

typedef struct {
  int done, status;
  char msg[512];
} ready_rec;

static void on_ready(void *data, int status, const char *msg) {
  ready_rec *r = data;
  r->done = 1;
  r->status = status;
  snprintf(r->msg, sizeof r->msg, "%s", msg);
}

/* open_pg's statements' answer timeout (0: the pool's 30 s). */
static uint32_t pg_query_timeout_ms;

/* A store on the test server; lease_ms 0: the default. Waits for its
 * migrations, so that it reads a backlog at once as the others do. */
static hl_store *open_pg(uint32_t lease_ms, uint32_t wait_ms) {
  char err[256] = "";
  if (!srv.pid) {
    HL_ASSERT_MSG(hl_pgsrv_start(&srv, NULL) == 0, "postgres did not start");
    /* The harness waits on the Unix socket; the store comes over TCP. */
    int i = 0;
    while (PQping(hl_pgsrv_url(&srv, "?sslmode=disable&connect_timeout=2")) != PQPING_OK && i++ < 600)
      hl_sleep_ms(50);
    uv_update_time(&loop); /* that took a while: deadlines count from now */
  }
  hl_pg_conf conf;
  hl_buf e = HL_BUF_INIT;
  HL_ASSERT(hl_pg_conf_load(&conf, url_lookup, (void *)hl_pgsrv_url(&srv, "?sslmode=disable"), &e) == 0);
  hl_buf_dispose(&e);
  hl_store_pg_config cfg = {.conf = &conf, .lease_ms = lease_ms, .wait_ms = wait_ms,
                            .query_timeout_ms = pg_query_timeout_ms};
  hl_store *st = NULL;
  int rc = hl_store_pg_open(&loop, &cfg, &st, err, sizeof err);
  hl_pg_conf_dispose(&conf);
  HL_ASSERT_MSG(rc == 0, "open: %s", err);
  ready_rec r = {0};
  hl_store_pg_ready(st, on_ready, &r);
  HL_ASSERT_EQ_INT(r.done, 0); /* never from inside the call */
  while (!r.done && uv_run(&loop, UV_RUN_ONCE)) {}
  HL_ASSERT_MSG(r.status == 0, "migrations: %s", r.msg);
  return st;
}
#endif

static void open_store(void) {
  char err[256] = "";
  uv_loop_init(&loop);
  if (!dir) dir = hl_tmpdir("store");
#ifdef HL_TEST_PG
  (void)err;
  store = open_pg(0, 0);
#elif defined(HL_TEST_DDB)
  if (!dyn.pid) HL_ASSERT_MSG(hl_dynalite_start(&dyn, 0) == 0, "dynalite did not start");
  hl_curl_uv_init(&curl, &loop, 64);
  hl_store *queue = NULL;
  int rc = hl_store_sqlite_open(&loop, dir, NULL, &queue, err, sizeof err);
  HL_ASSERT_MSG(rc == 0, "open queue: %s", err);
  hl_ddb_config cfg = {.client = {.endpoint = dyn.endpoint, .region = "us-east-1"},
                       .creds = {.access_key_id = "AKIDEXAMPLE", .secret_access_key = "test-secret"}};
  cfg.tables.subscription_table = sub_table_override;
  rc = hl_store_ddb_open(&loop, &curl, &cfg, queue, &store, err, sizeof err);
  HL_ASSERT_MSG(rc == 0, "open: %s", err);
  if (!tables_made) {
    int done = 0;
    hl_ddb_tables_create(store, on_tables, &done);
    while (!done && uv_run(&loop, UV_RUN_ONCE)) {}
    HL_ASSERT_EQ_INT(done, 1);
    tables_made = true;
  }
#else
  int rc = hl_store_sqlite_open(&loop, dir, NULL, &store, err, sizeof err);
  HL_ASSERT_MSG(rc == 0, "open: %s", err);
#endif
}

static void on_closed(void *data) { *(int *)data = 1; }

static void close_store(void) {
  int closed = 0;
  store->vt->close(store, on_closed, &closed);
  while (!closed && uv_run(&loop, UV_RUN_ONCE)) {}
  HL_ASSERT(closed);
#ifdef HL_TEST_DDB
  hl_curl_uv_close(&curl, NULL, NULL);
#endif
  uv_run(&loop, UV_RUN_DEFAULT);
  HL_ASSERT_EQ_INT(uv_loop_close(&loop), 0);
}

static void accept_event(const char *id, const char **subs, size_t n, int expect) {
  hl_eq_accept ev = {.event_id = id, .event_type = "PaymentProcessed", .body = "{\"a\": 1.50}",
                     .body_len = 11, .trace = "00-abc-def-01", .subscription_ids = subs, .nsubs = n};
  capture c = {0};
  store->vt->eq_accept(store, &ev, cap_cb, &c);
  HL_ASSERT_EQ_INT(c.calls, 0); /* never from inside the call */
  run_until(&c);
  HL_ASSERT_EQ_INT(c.status, expect);
}

HL_TEST(schema_and_subscription_round_trip) {
  open_store();
  hl_schema_rec s = {.schema_id = "payments.PaymentProcessed", .version = 2, .domain = "payments",
                     .event_type = "PaymentProcessed", .status = "ACTIVE", .schema_json = "{\"type\":\"object\"}",
                     .ingress_topic = "wh.ingress.payments.PaymentProcessed.v2", .created_at = 42};
  capture c = {0};
  store->vt->schema_put(store, &s, cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.status, 0);
  hl_sub_rec sub = {.subscription_id = "sub_1", .partner_id = "acme", .event_type = "PaymentProcessed",
                    .url = "http://127.0.0.1:1/x", .secret = "whsec_AAAA", .filter_json = "{\"/a\":1}",
                    .egress_topic = "wh.egress.acme.PaymentProcessed", .status = "ACTIVE",
                    .max_in_flight = 7, .timeout_ms = 1000, .signing = "ed25519"};
  c = (capture){0};
  store->vt->sub_put(store, &sub, cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.status, 0);
  /* A subscription that is not HTTP: no url, its destination object. */
  hl_sub_rec sns = {.subscription_id = "sub_2", .partner_id = "bus", .event_type = "PaymentProcessed",
                    .destination_json = "{\"type\":\"sns\",\"topic_arn\":\"arn:aws:sns:eu-west-1:123456789012:t\"}",
                    .egress_topic = "wh.egress.bus.PaymentProcessed", .status = "ACTIVE",
                    .enrichment_on_failure = "deliver_unenriched", .ordering = "fifo", .skip_after = 3};
  c = (capture){0};
  store->vt->sub_put(store, &sns, cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.status, 0);
  close_store();

  /* Reopen: everything survived. */
  open_store();
  c = (capture){0};
  store->vt->schema_list(store, cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.res.nschemas, 1);
  HL_ASSERT_EQ_STR(c.res.schemas[0].schema_json, "{\"type\":\"object\"}");
  HL_ASSERT_EQ_INT(c.res.schemas[0].version, 2);
  hl_store_result_dispose(&c.res);
  c = (capture){0};
  store->vt->sub_list(store, cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.res.nsubs, 2);
  /* "acme" (HTTP) and "bus", in whatever order the store lists them. */
  size_t ia = strcmp(c.res.subs[0].partner_id, "acme") == 0 ? 0 : 1;
  HL_ASSERT_EQ_STR(c.res.subs[ia].partner_id, "acme");
  HL_ASSERT_EQ_STR(c.res.subs[ia].filter_json, "{\"/a\":1}");
  HL_ASSERT_EQ_INT(c.res.subs[ia].max_in_flight, 7);
  HL_ASSERT_EQ_STR(c.res.subs[ia].url, "http://127.0.0.1:1/x");
  HL_ASSERT(c.res.subs[ia].destination_json == NULL);
  /* How it signs, and NULL (HMAC) where none was given. */
  HL_ASSERT_EQ_STR(c.res.subs[ia].signing, "ed25519");
  HL_ASSERT(c.res.subs[1 - ia].signing == NULL);
  HL_ASSERT_EQ_STR(c.res.subs[1 - ia].partner_id, "bus");
  HL_ASSERT(c.res.subs[1 - ia].url == NULL);
  HL_ASSERT_EQ_STR(c.res.subs[1 - ia].destination_json, sns.destination_json);
  /* The enrichment failure policy: kept where given, none otherwise. */
  HL_ASSERT_EQ_STR(c.res.subs[1 - ia].enrichment_on_failure, "deliver_unenriched");
  HL_ASSERT(c.res.subs[ia].enrichment_on_failure == NULL);
  /* The delivery order: kept where given; none (NULL, 0) otherwise. */
  HL_ASSERT_EQ_STR(c.res.subs[1 - ia].ordering, "fifo");
  HL_ASSERT_EQ_INT(c.res.subs[1 - ia].skip_after, 3);
  HL_ASSERT(c.res.subs[ia].ordering == NULL);
  HL_ASSERT_EQ_INT(c.res.subs[ia].skip_after, 0);
  hl_store_result_dispose(&c.res);
  c = (capture){0};
  store->vt->sub_delete(store, "bus", "PaymentProcessed", cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.status, 0);
  c = (capture){0};
  store->vt->sub_delete(store, "acme", "PaymentProcessed", cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.status, 0);
  c = (capture){0};
  store->vt->sub_delete(store, "acme", "PaymentProcessed", cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.status, HL_ENOTFOUND);
#ifdef HL_TEST_DDB
  /* It really went over the wire. */
  HL_ASSERT(hl_store_ddb_client(store)->calls >= 4);
#endif
  close_store();
  hl_rmtree(dir);
}

/* The subscription read back (acme / PaymentProcessed) into *out (owned). */
static void sub_read(hl_sub_rec *out) {
  capture c = {0};
  store->vt->sub_list(store, cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.status, 0);
  size_t i = 0;
  while (i < c.res.nsubs && !(strcmp(c.res.subs[i].partner_id, "acme") == 0 &&
                              strcmp(c.res.subs[i].event_type, "PaymentProcessed") == 0))
    i++;
  HL_ASSERT_MSG(i < c.res.nsubs, "no acme/PaymentProcessed among %zu", c.res.nsubs);
  *out = c.res.subs[i];
  c.res.subs[i] = (hl_sub_rec){0};
  hl_store_result_dispose(&c.res);
}

static int sub_put_now(const hl_sub_rec *r) {
  capture c = {0};
  store->vt->sub_put(store, r, cap_cb, &c);
  run_until(&c);
  hl_store_result_dispose(&c.res);
  return c.status;
}

/* Processes sharing a store each write a subscription from their own copy:
 * a put is conditional on the revision the copy was read at, so one based
 * on a copy another process has since changed is refused (HL_ECONFLICT)
 * and changes nothing, instead of writing back what that process changed
 * (a rotated secret). A put sent again with its own token (a retry after a
 * lost answer, whose first attempt committed) is not refused. */
HL_TEST(a_subscription_put_based_on_a_stale_revision_is_refused) {
  open_store();
  hl_sub_rec a = {.subscription_id = "sub_r", .partner_id = "acme", .event_type = "PaymentProcessed",
                  .url = "http://127.0.0.1:1/x", .secret = "whsec_AAAA", .egress_topic = "wh.egress.acme.PaymentProcessed",
                  .status = "ACTIVE", .max_in_flight = 1, .timeout_ms = 1000, .write_token = "tok-1"};
  HL_ASSERT_EQ_INT(sub_put_now(&a), 0);
  hl_sub_rec got;
  sub_read(&got);
  HL_ASSERT_EQ_INT(got.revision, 1);
  hl_sub_rec_free(&got);
  /* A second create of the pair (a copy that has no row yet) is refused. */
  hl_sub_rec twin = a;
  twin.subscription_id = "sub_twin";
  twin.write_token = "tok-twin";
  HL_ASSERT_EQ_INT(sub_put_now(&twin), HL_ECONFLICT);
  /* Process A rotates, based on revision 1. */
  hl_sub_rec rotated = a;
  rotated.revision = 1;
  rotated.secret = "whsec_BBBB whsec_AAAA";
  rotated.write_token = "tok-2";
  HL_ASSERT_EQ_INT(sub_put_now(&rotated), 0);
  /* Process B, whose copy is still at revision 1, updates in place. */
  hl_sub_rec stale = a;
  stale.revision = 1;
  stale.url = "http://127.0.0.1:1/y";
  stale.write_token = "tok-3";
  HL_ASSERT_EQ_INT(sub_put_now(&stale), HL_ECONFLICT);
  sub_read(&got);
  HL_ASSERT_EQ_INT(got.revision, 2);
  HL_ASSERT_EQ_STR(got.secret, "whsec_BBBB whsec_AAAA");
  HL_ASSERT_EQ_STR(got.url, "http://127.0.0.1:1/x");
  HL_ASSERT_EQ_STR(got.subscription_id, "sub_r");
  hl_sub_rec_free(&got);
  /* A's write sent again after its answer was lost: its own token. */
  HL_ASSERT_EQ_INT(sub_put_now(&rotated), 0);
  sub_read(&got);
  HL_ASSERT_EQ_INT(got.revision, 2);
  HL_ASSERT_EQ_STR(got.secret, "whsec_BBBB whsec_AAAA");
  hl_sub_rec_free(&got);
  /* B, its copy read again (revision 2), is let through. */
  stale.revision = 2;
  stale.secret = "whsec_BBBB whsec_AAAA";
  HL_ASSERT_EQ_INT(sub_put_now(&stale), 0);
  sub_read(&got);
  HL_ASSERT_EQ_INT(got.revision, 3);
  HL_ASSERT_EQ_STR(got.url, "http://127.0.0.1:1/y");
  HL_ASSERT_EQ_STR(got.secret, "whsec_BBBB whsec_AAAA");
  hl_sub_rec_free(&got);
  capture c = {0};
  store->vt->sub_delete(store, "acme", "PaymentProcessed", cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.status, 0);
  close_store();
  hl_rmtree(dir);
}

/* A process updates a subscription from its copy (read at revision 1)
 * after another process deleted it: the put is refused (HL_ECONFLICT, the
 * API's "read again") and the subscription stays deleted, instead of
 * being written back, with deliveries that nobody asked for any more. A
 * copy that was never stored (revision 0) still creates the pair. */
HL_TEST(a_subscription_put_from_a_copy_of_a_deleted_row_does_not_bring_it_back) {
  open_store();
  hl_sub_rec a = {.subscription_id = "sub_d", .partner_id = "acme", .event_type = "PaymentProcessed",
                  .url = "http://127.0.0.1:1/x", .secret = "whsec_AAAA", .egress_topic = "wh.egress.acme.PaymentProcessed",
                  .status = "ACTIVE", .max_in_flight = 1, .timeout_ms = 1000, .write_token = "tok-d1"};
  HL_ASSERT_EQ_INT(sub_put_now(&a), 0);
  capture c = {0};
  store->vt->sub_delete(store, "acme", "PaymentProcessed", cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.status, 0);
  hl_sub_rec stale = a;
  stale.revision = 1;
  stale.status = "DISABLED";
  stale.write_token = "tok-d2";
  HL_ASSERT_EQ_INT(sub_put_now(&stale), HL_ECONFLICT);
  c = (capture){0};
  store->vt->sub_list(store, cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.status, 0);
  for (size_t i = 0; i < c.res.nsubs; i++)
    HL_ASSERT_MSG(strcmp(c.res.subs[i].subscription_id, "sub_d") != 0, "the deleted subscription is back (%s)",
                  c.res.subs[i].status);
  hl_store_result_dispose(&c.res);
  /* Registered anew: created again. */
  a.write_token = "tok-d3";
  HL_ASSERT_EQ_INT(sub_put_now(&a), 0);
  hl_sub_rec got;
  sub_read(&got);
  HL_ASSERT_EQ_INT(got.revision, 1);
  HL_ASSERT_EQ_STR(got.status, "ACTIVE");
  hl_sub_rec_free(&got);
  c = (capture){0};
  store->vt->sub_delete(store, "acme", "PaymentProcessed", cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.status, 0);
  close_store();
  hl_rmtree(dir);
}

/* Partners are kept like subscriptions: put (insert, then replace), list
 * after a reopen, delete once. */
HL_TEST(partners_round_trip) {
  open_store();
  hl_partner_rec p = {.partner_id = "acme", .name = "ACME", .contact = "ops@acme.example",
                      .metadata_json = "{\"tier\":\"gold\"}", .max_in_flight = 8, .rate_limit_per_s = 50,
                      .created_at = 42};
  capture c = {0};
  store->vt->partner_put(store, &p, cap_cb, &c);
  HL_ASSERT_EQ_INT(c.calls, 0); /* never from inside the call */
  run_until(&c);
  HL_ASSERT_EQ_INT(c.status, 0);
  p.max_in_flight = 9;
  p.name = NULL;
  c = (capture){0};
  store->vt->partner_put(store, &p, cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.status, 0);
  hl_partner_rec bare = {.partner_id = "beta", .created_at = 43};
  c = (capture){0};
  store->vt->partner_put(store, &bare, cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.status, 0);
  close_store();

  open_store();
  c = (capture){0};
  store->vt->partner_list(store, cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.status, 0);
  HL_ASSERT_EQ_INT(c.res.npartners, 2);
  hl_partner_rec *acme = strcmp(c.res.partners[0].partner_id, "acme") == 0 ? &c.res.partners[0] : &c.res.partners[1];
  hl_partner_rec *beta = acme == &c.res.partners[0] ? &c.res.partners[1] : &c.res.partners[0];
  HL_ASSERT_EQ_STR(acme->partner_id, "acme");
  HL_ASSERT(acme->name == NULL); /* replaced, not merged */
  HL_ASSERT_EQ_STR(acme->contact, "ops@acme.example");
  HL_ASSERT_EQ_STR(acme->metadata_json, "{\"tier\":\"gold\"}");
  HL_ASSERT_EQ_INT(acme->max_in_flight, 9);
  HL_ASSERT_EQ_INT(acme->rate_limit_per_s, 50);
  HL_ASSERT_EQ_INT(acme->created_at, 42);
  HL_ASSERT_EQ_STR(beta->partner_id, "beta");
  HL_ASSERT(beta->contact == NULL && beta->metadata_json == NULL);
  HL_ASSERT_EQ_INT(beta->max_in_flight, 0);
  hl_store_result_dispose(&c.res);
  c = (capture){0};
  store->vt->partner_delete(store, "acme", cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.status, 0);
  c = (capture){0};
  store->vt->partner_delete(store, "acme", cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.status, HL_ENOTFOUND);
  c = (capture){0};
  store->vt->partner_list(store, cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.res.npartners, 1);
  HL_ASSERT_EQ_STR(c.res.partners[0].partner_id, "beta");
  hl_store_result_dispose(&c.res);
  close_store();
  hl_rmtree(dir);
}

HL_TEST(delivery_status_put_and_list) {
  /* The Kafka-mode path: statuses written directly, listed per event. */
  open_store();
  capture c[4];
  memset(c, 0, sizeof c);
  hl_delivery_rec a = {.event_id = "evt-s", .subscription_id = "sub_a", .status = "RETRYING", .attempts = 1,
                       .last_status_code = 503, .last_error = "partner answered 503", .last_latency_ms = 7,
                       .updated_at = 1000, .next_attempt_at = 6000};
  hl_delivery_rec b = {.event_id = "evt-s", .subscription_id = "sub_b", .status = "SUCCESS", .attempts = 1,
                       .last_status_code = 200, .updated_at = 1001};
  hl_delivery_rec other = {.event_id = "evt-t", .subscription_id = "sub_a", .status = "FAILED", .attempts = 3};
  store->vt->delivery_put(store, &a, cap_cb, &c[0]);
  store->vt->delivery_put(store, &b, cap_cb, &c[1]);
  store->vt->delivery_put(store, &other, cap_cb, &c[2]);
  for (int i = 0; i < 3; i++) run_until(&c[i]);
  for (int i = 0; i < 3; i++) HL_ASSERT_EQ_INT(c[i].status, 0);
  /* A later state replaces the earlier one. */
  a.status = "SUCCESS";
  a.attempts = 2;
  a.last_status_code = 200;
  a.last_error = NULL;
  a.next_attempt_at = 0;
  capture u = {0};
  store->vt->delivery_put(store, &a, cap_cb, &u);
  run_until(&u);
  store->vt->delivery_list(store, "evt-s", cap_cb, &c[3]);
  run_until(&c[3]);
  HL_ASSERT_EQ_INT(c[3].res.ndeliveries, 2);
  for (size_t i = 0; i < 2; i++) {
    hl_delivery_rec *r = &c[3].res.deliveries[i];
    HL_ASSERT_EQ_STR(r->status, "SUCCESS");
    HL_ASSERT(r->last_error == NULL);
    HL_ASSERT_EQ_INT(r->attempts, strcmp(r->subscription_id, "sub_a") == 0 ? 2 : 1);
  }
  hl_store_result_dispose(&c[3].res);
  capture none = {0};
  store->vt->delivery_list(store, "evt-none", cap_cb, &none);
  run_until(&none);
  HL_ASSERT_EQ_INT(none.status, 0);
  HL_ASSERT_EQ_INT(none.res.ndeliveries, 0);
  close_store();
  hl_rmtree(dir);
}

/* One subscription's deliveries of this status (NULL: any), newest first:
 * the first page of GET /admin/deliveries?subscription_id=. */
static void search_sub(const char *sub, const char *status, capture *c) {
  hl_delivery_query q = {.subscription_id = sub, .status = status, .since = 0, .until = INT64_MAX,
                         .after_updated_at = INT64_MAX, .after_event_id = "", .limit = 50};
  store->vt->delivery_search(store, &q, cap_cb, c);
}

/* A listing reads the store's own writes: right after an accept has been
 * answered, and right after a status was handed over (not yet answered),
 * the event's deliveries are listed as they now are, and so are the
 * subscription's. The DynamoDB store answers an accept once its queue has
 * the event and writes the status rows behind it in batches; a listing
 * before those reached DynamoDB showed no delivery, and a replay of the
 * event answered 404. The search by subscription missed them too: an
 * accepted event was not among its subscription's deliveries. */
HL_TEST(a_listing_reads_the_stores_own_writes) {
  open_store();
  const char *subs[] = {"sub_b", "sub_a"};
  accept_event("evt-ryw", subs, 2, 0);
  capture c = {0};
  search_sub("sub_a", NULL, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.status, 0);
  HL_ASSERT_EQ_INT(c.res.ndeliveries, 1);
  HL_ASSERT_EQ_STR(c.res.deliveries[0].event_id, "evt-ryw");
  HL_ASSERT_EQ_STR(c.res.deliveries[0].status, "PENDING");
  hl_store_result_dispose(&c.res);
  c = (capture){0};
  store->vt->delivery_list(store, "evt-ryw", cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.status, 0);
  HL_ASSERT_EQ_INT(c.res.ndeliveries, 2);
  HL_ASSERT_EQ_STR(c.res.deliveries[0].subscription_id, "sub_a");
  HL_ASSERT_EQ_STR(c.res.deliveries[1].subscription_id, "sub_b");
  for (size_t i = 0; i < 2; i++) {
    HL_ASSERT_EQ_STR(c.res.deliveries[i].event_id, "evt-ryw");
    HL_ASSERT_EQ_STR(c.res.deliveries[i].status, "PENDING");
  }
  hl_store_result_dispose(&c.res);
  /* A final status handed over, then listed before its answer. */
  hl_delivery_rec r = {.event_id = "evt-ryw", .subscription_id = "sub_b", .status = "SUCCESS", .attempts = 1,
                       .last_status_code = 200, .updated_at = hl_wall_ms()};
  capture u = {0}, l = {0};
  store->vt->eq_update(store, &r, true, cap_cb, &u);
  store->vt->delivery_list(store, "evt-ryw", cap_cb, &l);
  run_until(&u);
  run_until(&l);
  HL_ASSERT_EQ_INT(u.status, 0);
  HL_ASSERT_EQ_INT(l.status, 0);
  HL_ASSERT_EQ_INT(l.res.ndeliveries, 2);
  HL_ASSERT_EQ_STR(l.res.deliveries[1].subscription_id, "sub_b");
  HL_ASSERT_EQ_STR(l.res.deliveries[1].status, "SUCCESS");
  HL_ASSERT_EQ_INT(l.res.deliveries[1].last_status_code, 200);
  HL_ASSERT_EQ_STR(l.res.deliveries[0].status, "PENDING");
  hl_store_result_dispose(&l.res);
  /* The same for the search, by status, before the next answer. */
  r.subscription_id = "sub_a";
  u = (capture){0};
  l = (capture){0};
  store->vt->eq_update(store, &r, true, cap_cb, &u);
  search_sub("sub_a", "SUCCESS", &l);
  run_until(&u);
  run_until(&l);
  HL_ASSERT_EQ_INT(l.status, 0);
  HL_ASSERT_EQ_INT(l.res.ndeliveries, 1);
  HL_ASSERT_EQ_STR(l.res.deliveries[0].event_id, "evt-ryw");
  HL_ASSERT_EQ_INT(l.res.deliveries[0].last_status_code, 200);
  hl_store_result_dispose(&l.res);
  close_store();
  hl_rmtree(dir);
}

/* The status row of a replay where Kafka keeps the bytes, in two writes
 * around the produce (hl_store.delivery_replay, delivery_replay_open): a
 * terminal row counted one generation up and left terminal (a replay cut
 * off before its record is on the topic leaves nothing open), then
 * reopened PENDING, attempts kept; an open one refused; a reopen after
 * the record's outcome was written, or at a generation counted past, does
 * nothing; and the generation survives the replay's own status writes, so
 * the next replay takes the one after. A counted replay marks the row:
 * a second replay (another process's, asked at the same moment) is
 * refused until the row is written again, the mark is undone (a refused
 * produce), or it lapses (a replay killed between the count and its
 * produce). */
#define REPLAY_HOLD_MS 40000

static int open_row(const char *event_id, const char *sub, int64_t gen, int64_t updated_at) {
  capture c = {0};
  store->vt->delivery_replay_open(store, event_id, sub, gen, updated_at, cap_cb, &c);
  run_until(&c);
  hl_store_result_dispose(&c.res);
  return c.status;
}

static int64_t replay_row_at(const char *event_id, const char *sub, int64_t now, int expect) {
  capture c = {0};
  store->vt->delivery_replay(store, event_id, sub, now, REPLAY_HOLD_MS, cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.status, expect);
  int64_t gen = c.res.value ? atoll(c.res.value) : 0;
  hl_store_result_dispose(&c.res);
  return gen;
}

static int64_t replay_row(const char *event_id, const char *sub, int expect) {
  return replay_row_at(event_id, sub, hl_wall_ms(), expect);
}

static void undo_row(const char *event_id, const char *sub, int64_t gen, int64_t marked_at) {
  capture c = {0};
  store->vt->delivery_replay_undo(store, event_id, sub, gen, marked_at, cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.status, 0);
  hl_store_result_dispose(&c.res);
}

static void row_is(const char *event_id, const char *status, int64_t attempts) {
  capture c = {0};
  store->vt->delivery_list(store, event_id, cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.res.ndeliveries, 1);
  HL_ASSERT_EQ_STR(c.res.deliveries[0].status, status);
  HL_ASSERT_EQ_INT(c.res.deliveries[0].attempts, attempts);
  hl_store_result_dispose(&c.res);
}

HL_TEST(delivery_replay_counts_a_generation_up_and_reopens_once_its_record_is_out) {
  open_store();
  hl_delivery_rec r = {.event_id = "evt-krp", .subscription_id = "sub_a", .status = "SUCCESS", .attempts = 1,
                       .last_status_code = 200, .updated_at = 1000};
  capture c = {0};
  store->vt->delivery_put(store, &r, cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.status, 0);
  int64_t t0 = hl_wall_ms() - 1000; /* marks in the past: the reopen below stamps the wall clock */
  HL_ASSERT_EQ_INT(replay_row_at("evt-krp", "sub_a", t0, 0), 1);
  row_is("evt-krp", "SUCCESS", 1);
  /* Under way (or cut off): another process's replay is refused. */
  replay_row_at("evt-krp", "sub_a", t0 + 1, HL_EINVAL);
  undo_row("evt-krp", "sub_a", 2, t0); /* not its generation: the mark stays */
  replay_row_at("evt-krp", "sub_a", t0 + 2, HL_EINVAL);
  undo_row("evt-krp", "sub_a", 1, t0); /* its produce refused: replayable at once */
  HL_ASSERT_EQ_INT(replay_row_at("evt-krp", "sub_a", t0 + 3, 0), 2);
  HL_ASSERT_EQ_INT(open_row("evt-krp", "sub_a", 1, 1000), HL_EINVAL); /* counted past */
  HL_ASSERT_EQ_INT(open_row("evt-krp", "sub_a", 2, 999), HL_EINVAL);  /* written since */
  HL_ASSERT_EQ_INT(open_row("evt-krp", "sub_a", 2, 1000), 0);
  row_is("evt-krp", "PENDING", 1);
  replay_row("evt-krp", "sub_a", HL_EINVAL); /* still open: not reopened twice */
  /* The replay delivered, as the dispatcher records it (generation 2). */
  r.status = "SUCCESS";
  r.attempts = 2;
  r.replays = 2;
  r.updated_at = hl_wall_ms();
  c = (capture){0};
  store->vt->delivery_put(store, &r, cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.status, 0);
  int64_t read = r.updated_at;
  HL_ASSERT_EQ_INT(replay_row("evt-krp", "sub_a", 0), 3);
  /* Its record delivered before the brokers' acknowledgement came back:
   * its outcome stands, nothing is left open, and the mark is void. */
  r.attempts = 3;
  r.replays = 3;
  r.updated_at = hl_wall_ms() > read ? hl_wall_ms() : read + 1; /* a write after the one read */
  c = (capture){0};
  store->vt->delivery_put(store, &r, cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(open_row("evt-krp", "sub_a", 3, read), HL_EINVAL);
  row_is("evt-krp", "SUCCESS", 3);
  int64_t t1 = r.updated_at + 1; /* after the row's last write, as a count's clock is */
  HL_ASSERT_EQ_INT(replay_row_at("evt-krp", "sub_a", t1, 0), 4);
  /* Killed after its count: the mark lapses after the hold. */
  replay_row_at("evt-krp", "sub_a", t1 + REPLAY_HOLD_MS - 1, HL_EINVAL);
  HL_ASSERT_EQ_INT(replay_row_at("evt-krp", "sub_a", t1 + REPLAY_HOLD_MS + 1, 0), 5);
#ifndef HL_TEST_DDB
  /* DynamoDB cannot tell a missing row from an open one (a condition that
   * failed): its callers read the row first. */
  replay_row("evt-krp-none", "sub_a", HL_ENOTFOUND);
#endif
  close_store();
  hl_rmtree(dir);
}

/* Claims sub's due deliveries and expects exactly one, of event id. */
static void claim_one(const char *sub, const char *id) {
  capture c = {0};
  store->vt->eq_claim(store, sub, 10, hl_wall_ms(), cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.status, 0);
  HL_ASSERT_EQ_INT(c.res.nitems, 1);
  HL_ASSERT_EQ_STR(c.res.items[0].d.event_id, id);
  HL_ASSERT_EQ_STR(c.res.items[0].d.subscription_id, sub);
  hl_store_result_dispose(&c.res);
}

/* Claims sub's due deliveries (up to 10) and expects n of them. */
static void claim_n(const char *sub, size_t n) {
  capture c = {0};
  store->vt->eq_claim(store, sub, 10, hl_wall_ms(), cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.status, 0);
  HL_ASSERT_EQ_INT(c.res.nitems, n);
  hl_store_result_dispose(&c.res);
}

HL_TEST(accept_is_idempotent_and_claims_once) {
  open_store();
  const char *subs[] = {"sub_a", "sub_b"};
  accept_event("evt-1", subs, 2, 0);
  accept_event("evt-1", subs, 2, HL_EEXISTS);
  HL_ASSERT_EQ_INT(store->vt->eq_backlog(store), 2);
  capture c = {0};
  store->vt->eq_claim(store, "sub_a", 10, hl_wall_ms(), cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.status, 0);
  HL_ASSERT_EQ_INT(c.res.nitems, 1);
  HL_ASSERT_EQ_STR(c.res.items[0].d.event_id, "evt-1");
  HL_ASSERT_EQ_INT(c.res.items[0].body_len, 11);
  HL_ASSERT(memcmp(c.res.items[0].body, "{\"a\": 1.50}", 11) == 0); /* exact bytes */
  HL_ASSERT_EQ_STR(c.res.items[0].trace, "00-abc-def-01");
  hl_store_result_dispose(&c.res);
  /* Claimed: not handed out twice. */
  c = (capture){0};
  store->vt->eq_claim(store, "sub_a", 10, hl_wall_ms(), cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.res.nitems, 0);
  close_store();
  /* A restart forgets the claims: the delivery is handed out again, and
   * sub_b's, never claimed, is there too. */
  open_store();
  HL_ASSERT_EQ_INT(store->vt->eq_backlog(store), 2);
  claim_one("sub_a", "evt-1");
  claim_one("sub_b", "evt-1");
  close_store();
  hl_rmtree(dir);
}

/* An accept that fails part way (here its third delivery row, a repeat of
 * its first subscription) leaves none of its rows, and the accepts before
 * and after it in the same turn keep theirs. */
HL_TEST(an_accept_that_fails_part_way_leaves_nothing_and_spares_its_turn) {
  open_store();
  const char *ok1[] = {"sub_a"}, *bad[] = {"sub_a", "sub_b", "sub_a"}, *ok2[] = {"sub_b"};
  const char *ids[] = {"turn-ok-1", "turn-bad", "turn-ok-2"};
  const char **subs[] = {ok1, bad, ok2};
  size_t nsubs[] = {1, 3, 1};
  capture c[3];
  memset(c, 0, sizeof c);
  for (int i = 0; i < 3; i++) {
    hl_eq_accept ev = {.event_id = ids[i], .event_type = "PaymentProcessed", .body = "{\"a\": 1.50}",
                       .body_len = 11, .subscription_ids = subs[i], .nsubs = nsubs[i]};
    store->vt->eq_accept(store, &ev, cap_cb, &c[i]);
  }
  for (int i = 0; i < 3; i++) run_until(&c[i]);
  HL_ASSERT_EQ_INT(c[0].status, 0);
  HL_ASSERT(c[1].status != 0);
  HL_ASSERT_EQ_INT(c[2].status, 0);
  HL_ASSERT_EQ_INT(store->vt->eq_backlog(store), 2);
#if !defined(HL_TEST_PG) && !defined(HL_TEST_DDB)
  HL_ASSERT_EQ_INT(sqlite_peek_events(dir, "turn-ok-1"), 1);
  HL_ASSERT_EQ_INT(sqlite_peek_events(dir, "turn-bad"), 0);
  HL_ASSERT_EQ_INT(sqlite_peek_events(dir, "turn-ok-2"), 1);
#endif
  /* Each subscription holds only its good one: sub_b's row of the failed
   * accept was taken back. */
  claim_one("sub_a", "turn-ok-1");
  claim_one("sub_b", "turn-ok-2");
  /* Nothing of it is left to make its id a duplicate. */
  accept_event("turn-bad", ok1, 1, 0);
  close_store();
  hl_rmtree(dir);
}

HL_TEST(update_release_and_requeue) {
  open_store();
  const char *subs[] = {"sub_a"};
  accept_event("evt-2", subs, 1, 0);
  claim_n("sub_a", 1);
  capture c = {0};
  /* A retry released to the store, due in the future: not claimable now. */
  int64_t now = hl_wall_ms();
  hl_delivery_rec r = {.event_id = "evt-2", .subscription_id = "sub_a", .status = "RETRYING",
                       .attempts = 1, .last_status_code = 503, .last_error = "partner answered 503",
                       .last_latency_ms = 12, .updated_at = now, .next_attempt_at = now + 60000};
  c = (capture){0};
  store->vt->eq_update(store, &r, true, cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.status, 0);
  c = (capture){0};
  store->vt->eq_claim(store, "sub_a", 10, now, cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.res.nitems, 0);
  c = (capture){0};
  store->vt->eq_claim(store, "sub_a", 10, now + 61000, cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.res.nitems, 1);
  HL_ASSERT_EQ_INT(c.res.items[0].d.attempts, 1);
  hl_store_result_dispose(&c.res);
  /* Requeue refuses deliveries that are not FAILED. */
  c = (capture){0};
  store->vt->eq_requeue(store, "evt-2", "sub_a", cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.status, HL_EINVAL);
  r.status = "FAILED";
  r.next_attempt_at = 0;
  c = (capture){0};
  store->vt->eq_update(store, &r, false, cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(store->vt->eq_backlog(store), 0);
  c = (capture){0};
  store->vt->delivery_list(store, "evt-2", cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.res.ndeliveries, 1);
  HL_ASSERT_EQ_STR(c.res.deliveries[0].status, "FAILED");
  HL_ASSERT_EQ_INT(c.res.deliveries[0].last_status_code, 503);
  hl_store_result_dispose(&c.res);
  c = (capture){0};
  store->vt->eq_requeue(store, "evt-2", "sub_a", cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.status, 0);
  HL_ASSERT_EQ_INT(store->vt->eq_backlog(store), 1);
  c = (capture){0};
  store->vt->eq_requeue(store, "evt-404", "sub_a", cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.status, HL_ENOTFOUND);
  close_store();
  hl_rmtree(dir);
}

/* A replay or a re-queue asked for while a final status is being written
 * (handed over, not yet answered) acts on the delivery as that status
 * leaves it. The DynamoDB store writes a final status to DynamoDB before
 * its queue, and the console and the API read DynamoDB: a replay asked in
 * between, of a delivery shown SUCCESS, found the queue row still open and
 * answered still_open. */
HL_TEST(a_replay_or_requeue_during_a_final_status_waits_for_it) {
  open_store();
  const char *subs[] = {"sub_f"};
  accept_event("evt-fin", subs, 1, 0);
  accept_event("evt-fin2", subs, 1, 0);
  claim_n("sub_f", 2);
  capture c = {0};
  int64_t now = hl_wall_ms();
  hl_delivery_rec ok = {.event_id = "evt-fin", .subscription_id = "sub_f", .status = "SUCCESS", .attempts = 1,
                        .last_status_code = 200, .updated_at = now};
  hl_delivery_rec failed = {.event_id = "evt-fin2", .subscription_id = "sub_f", .status = "FAILED",
                            .attempts = 1, .last_status_code = 410, .updated_at = now};
  capture u[2] = {{0}}, r[2] = {{0}};
  store->vt->eq_update(store, &ok, true, cap_cb, &u[0]);
  store->vt->eq_update(store, &failed, true, cap_cb, &u[1]);
  if (store->vt->eq_replay) store->vt->eq_replay(store, "evt-fin", "sub_f", cap_cb, &r[0]);
  store->vt->eq_requeue(store, "evt-fin2", "sub_f", cap_cb, &r[1]);
  for (int i = 0; i < 2; i++) {
    run_until(&u[i]);
    HL_ASSERT_EQ_INT(u[i].status, 0);
  }
  if (store->vt->eq_replay) {
    run_until(&r[0]);
    HL_ASSERT_EQ_INT(r[0].status, 0);
    HL_ASSERT_EQ_STR(r[0].res.value, "1");
    hl_store_result_dispose(&r[0].res);
  }
  run_until(&r[1]);
  HL_ASSERT_EQ_INT(r[1].status, 0);
  /* Both open again, due now, and listed so: the replay PENDING, the
   * re-queued one RETRYING (its attempts go on), on every store. */
  HL_ASSERT_EQ_INT(store->vt->eq_backlog(store), store->vt->eq_replay ? 2 : 1);
  const char *ids[] = {"evt-fin", "evt-fin2"}, *want[] = {"PENDING", "RETRYING"};
  for (int i = store->vt->eq_replay ? 0 : 1; i < 2; i++) {
    c = (capture){0};
    store->vt->delivery_list(store, ids[i], cap_cb, &c);
    run_until(&c);
    HL_ASSERT_EQ_INT(c.res.ndeliveries, 1);
    HL_ASSERT_EQ_STR(c.res.deliveries[0].status, want[i]);
    HL_ASSERT_EQ_INT(c.res.deliveries[0].attempts, 1);
    hl_store_result_dispose(&c.res);
  }
  close_store();
  hl_rmtree(dir);
}

/* --- the attempt log -------------------------------------------------------- */

/* Attempt n of a delivery as the dispatcher logs it (hl_attempt_log.h):
 * fields of its own, so that a listing shows which attempt it read. */
static hl_attempt_rec attempt_n(const char *event_id, const char *sub, int64_t n, char *headers, char *body) {
  snprintf(headers, 32, "{\"x-try\":\"%lld\"}", (long long)n);
  snprintf(body, 32, "answer %lld", (long long)n);
  return (hl_attempt_rec){.event_id = (char *)event_id, .subscription_id = (char *)sub, .attempt = n,
                          .at_ms = 1000 * n, .status_code = n % 3 ? 503 : 200, .latency_ms = 10 + n,
                          .error = n % 3 ? "partner answered 503" : NULL, .headers_json = headers,
                          .body = body, .truncated = n % 2 == 0};
}

static void attempt_is(const hl_attempt_rec *a, const char *event_id, const char *sub, int64_t n) {
  char headers[32], body[32];
  hl_attempt_rec want = attempt_n(event_id, sub, n, headers, body);
  HL_ASSERT_EQ_STR(a->event_id, event_id);
  HL_ASSERT_EQ_STR(a->subscription_id, sub);
  HL_ASSERT_EQ_INT(a->attempt, n);
  HL_ASSERT_EQ_INT(a->at_ms, want.at_ms);
  HL_ASSERT_EQ_INT(a->status_code, want.status_code);
  HL_ASSERT_EQ_INT(a->latency_ms, want.latency_ms);
  if (want.error) HL_ASSERT_EQ_STR(a->error, want.error);
  else HL_ASSERT_MSG(a->error == NULL, "attempt %lld: error %s", (long long)n, a->error);
  HL_ASSERT_EQ_STR(a->headers_json, headers);
  HL_ASSERT_EQ_STR(a->body, body);
  HL_ASSERT_EQ_INT(a->truncated, want.truncated);
}

#ifdef HL_TEST_DDB
static int by_attempt(const void *a, const void *b) {
  int64_t x = ((const hl_attempt_rec *)a)->attempt, y = ((const hl_attempt_rec *)b)->attempt;
  return (x > y) - (x < y);
}
#endif

/* The attempts listed for a delivery are attempts first .. last, in order,
 * each with its own fields. (DynamoDB lists them by slot, its sort key:
 * in attempt order until the slots wrap.) */
static void attempts_are(const char *event_id, const char *sub, int64_t first, int64_t last) {
  capture c = {0};
  store->vt->attempt_list(store, event_id, sub, cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.status, 0);
  HL_ASSERT_EQ_INT((int64_t)c.res.nattempts, last - first + 1);
#ifdef HL_TEST_DDB
  qsort(c.res.attempts, c.res.nattempts, sizeof *c.res.attempts, by_attempt);
#endif
  for (int64_t n = first; n <= last; n++) attempt_is(&c.res.attempts[n - first], event_id, sub, n);
  hl_store_result_dispose(&c.res);
}

/* Attempt n and the outcome recorded after it, in one turn, as the
 * dispatcher does (log_attempt, then the queue's record): by the status
 * row's upsert (the Kafka path) or, for a claimed item, by the queue's
 * update (embedded). The last attempt succeeds; the others retry. */
static void attempt_and_outcome(hl_eq_item *claimed, const char *event_id, int64_t n, int64_t last) {
  char headers[32], body[32];
  hl_attempt_rec a = attempt_n(event_id, "sub_at", n, headers, body);
  hl_delivery_rec r = {.event_id = (char *)event_id, .subscription_id = "sub_at",
                       .status = n == last ? "SUCCESS" : "RETRYING", .attempts = n,
                       .last_status_code = a.status_code, .last_error = a.error, .last_latency_ms = a.latency_ms,
                       .updated_at = hl_wall_ms(), .next_attempt_at = 0};
  capture ca = {0}, cr = {0};
  store->vt->attempt_put(store, &a, cap_cb, &ca);
  if (claimed) {
    r.row_ref = claimed->d.row_ref;
    store->vt->eq_update(store, &r, true, cap_cb, &cr);
  } else {
    store->vt->delivery_put(store, &r, cap_cb, &cr);
  }
  HL_ASSERT_EQ_INT(ca.calls + cr.calls, 0); /* never from inside the call */
  run_until(&cr);
  run_until(&ca);
  HL_ASSERT_EQ_INT(cr.status, 0);
  HL_ASSERT_EQ_INT(ca.status, 0);
}

/* Attempt n logged alone: no status write of its delivery in its turn
 * (as the inbox queue logs them). */
static void attempt_alone(const char *event_id, int64_t n) {
  char headers[32], body[32];
  hl_attempt_rec a = attempt_n(event_id, "sub_at", n, headers, body);
  capture c = {0};
  store->vt->attempt_put(store, &a, cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.status, 0);
}

/* Attempts 1 .. last of one delivery, a turn each; embedded: through the
 * queue, the delivery claimed before each attempt. */
static void deliver_attempts(const char *event_id, int64_t last, bool embedded) {
  if (embedded) {
    const char *subs[] = {"sub_at"};
    accept_event(event_id, subs, 1, 0);
  }
  for (int64_t n = 1; n <= last; n++) {
    capture c = {0};
    if (embedded) {
      store->vt->eq_claim(store, "sub_at", 1, hl_wall_ms() + 1000, cap_cb, &c);
      run_until(&c);
      HL_ASSERT_EQ_INT(c.res.nitems, 1);
      HL_ASSERT_EQ_STR(c.res.items[0].d.event_id, event_id);
    }
    attempt_and_outcome(embedded ? &c.res.items[0] : NULL, event_id, n, last);
    hl_store_result_dispose(&c.res);
  }
}

/* Rows of the attempt table (SQLite) of the deliveries of event ids
 * starting with prefix: those the status rows do not hold. */
#if !defined(HL_TEST_PG) && !defined(HL_TEST_DDB)
static int attempt_rows(const char *prefix) {
  return sqlite_peek_prefix(dir, "delivery_attempt", "event_id", prefix);
}
#endif

/* Three attempts of one delivery, each logged and recorded in its own
 * turn, on either path: listed in order, each with its exact fields. On
 * SQLite the status row holds the latest attempt: a first attempt that
 * succeeded wrote no attempt row at all, and a retry moves the attempt
 * before it into the attempt table. */
HL_TEST(a_deliverys_attempts_are_listed_in_order_with_their_fields) {
  open_store();
  for (int embedded = 0; embedded < 2; embedded++) {
    const char *once = embedded ? "at-q-once" : "at-k-once", *thrice = embedded ? "at-q-3" : "at-k-3";
    deliver_attempts(once, 1, embedded);
    attempts_are(once, "sub_at", 1, 1);
#if !defined(HL_TEST_PG) && !defined(HL_TEST_DDB)
    HL_ASSERT_EQ_INT(attempt_rows(once), 0);
#endif
    deliver_attempts(thrice, 3, embedded);
    attempts_are(thrice, "sub_at", 1, 3);
#if !defined(HL_TEST_PG) && !defined(HL_TEST_DDB)
    HL_ASSERT_EQ_INT(attempt_rows(thrice), 2);
#endif
  }
  close_store();
  hl_rmtree(dir);
}

/* More attempts than the log keeps: the last HL_ATTEMPT_LOG_MAX are
 * listed, on either path. */
HL_TEST(a_delivery_keeps_its_last_attempts) {
  open_store();
  deliver_attempts("at-k-many", HL_ATTEMPT_LOG_MAX + 5, false);
  attempts_are("at-k-many", "sub_at", 6, HL_ATTEMPT_LOG_MAX + 5);
  deliver_attempts("at-q-many", HL_ATTEMPT_LOG_MAX + 3, true);
  attempts_are("at-q-many", "sub_at", 4, HL_ATTEMPT_LOG_MAX + 3);
  close_store();
  hl_rmtree(dir);
}

/* An attempt logged in a turn without a status write of its delivery is
 * kept and listed beside the others; writes that carry no attempt (a
 * status put, an update, a re-queue, a replay) change none of them. */
HL_TEST(writes_without_an_attempt_leave_the_attempt_log_as_it_is) {
  open_store();
  deliver_attempts("at-k-alone", 2, false);
  attempt_alone("at-k-alone", 3);
  attempts_are("at-k-alone", "sub_at", 1, 3);
  hl_delivery_rec r = {.event_id = "at-k-alone", .subscription_id = "sub_at", .status = "FAILED", .attempts = 3,
                       .last_status_code = 500, .last_error = "given up", .updated_at = hl_wall_ms()};
  capture c = {0};
  store->vt->delivery_put(store, &r, cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.status, 0);
  attempts_are("at-k-alone", "sub_at", 1, 3);
  /* Embedded: a claimed delivery released without an attempt (one that
   * never went out); a failed one re-queued and replayed. */
  const char *subs[] = {"sub_at"};
  accept_event("at-q-release", subs, 1, 0);
  for (int k = 0; k < 2; k++) {
    capture cl = {0};
    store->vt->eq_claim(store, "sub_at", 1, hl_wall_ms() + 1000, cap_cb, &cl);
    run_until(&cl);
    HL_ASSERT_EQ_INT(cl.res.nitems, 1);
    if (k == 0) {
      attempt_and_outcome(&cl.res.items[0], "at-q-release", 1, 2);
    } else {
      r = (hl_delivery_rec){.event_id = "at-q-release", .subscription_id = "sub_at", .status = "RETRYING",
                            .attempts = 1, .updated_at = hl_wall_ms(), .row_ref = cl.res.items[0].d.row_ref};
      c = (capture){0};
      store->vt->eq_update(store, &r, true, cap_cb, &c);
      run_until(&c);
      HL_ASSERT_EQ_INT(c.status, 0);
    }
    hl_store_result_dispose(&cl.res);
  }
  attempts_are("at-q-release", "sub_at", 1, 1);
  r.status = "FAILED"; /* out of the way of the claims below */
  r.row_ref = 0;
  c = (capture){0};
  store->vt->eq_update(store, &r, false, cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.status, 0);
  attempts_are("at-q-release", "sub_at", 1, 1);
  deliver_attempts("at-q-alone", 2, true);
  capture cl = {0};
  store->vt->eq_claim(store, "sub_at", 1, hl_wall_ms() + 1000, cap_cb, &cl);
  run_until(&cl);
  HL_ASSERT_EQ_INT(cl.res.nitems, 0); /* delivered: nothing left to claim */
  hl_store_result_dispose(&cl.res);
  r = (hl_delivery_rec){.event_id = "at-q-alone", .subscription_id = "sub_at", .status = "FAILED", .attempts = 2,
                        .updated_at = hl_wall_ms()};
  c = (capture){0};
  store->vt->eq_update(store, &r, true, cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.status, 0);
  attempts_are("at-q-alone", "sub_at", 1, 2);
  c = (capture){0};
  store->vt->eq_requeue(store, "at-q-alone", "sub_at", cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.status, 0);
  attempts_are("at-q-alone", "sub_at", 1, 2);
  if (store->vt->eq_replay) {
    r.status = "FAILED";
    c = (capture){0};
    store->vt->eq_update(store, &r, true, cap_cb, &c);
    run_until(&c);
    c = (capture){0};
    store->vt->eq_replay(store, "at-q-alone", "sub_at", cap_cb, &c);
    run_until(&c);
    HL_ASSERT_EQ_INT(c.status, 0);
    hl_store_result_dispose(&c.res);
    attempts_are("at-q-alone", "sub_at", 1, 2);
  }
  close_store();
  hl_rmtree(dir);
}

/* A claim that comes back short says when the rest falls due, so the
 * dispatcher can come back then (issue 12 item 1); a full claim need not. */
HL_TEST(a_short_claim_reports_when_the_rest_falls_due) {
  open_store();
  const char *subs[] = {"sub_a", "sub_b"};
  accept_event("evt-n1", subs, 2, 0);
  accept_event("evt-n2", subs, 2, 0);
  capture c = {0};
  store->vt->eq_claim(store, "sub_a", 10, hl_wall_ms(), cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.res.nitems, 2);
  HL_ASSERT_EQ_INT(c.res.next_due_at, 0); /* nothing left */
  hl_store_result_dispose(&c.res);
  /* Both go back to the queue, due at different times in the future. */
  int64_t now = hl_wall_ms();
  hl_delivery_rec r = {.event_id = "evt-n1", .subscription_id = "sub_a", .status = "RETRYING", .attempts = 1,
                       .updated_at = now, .next_attempt_at = now + 90000};
  c = (capture){0};
  store->vt->eq_update(store, &r, true, cap_cb, &c);
  run_until(&c);
  r.event_id = "evt-n2";
  r.next_attempt_at = now + 30000;
  c = (capture){0};
  store->vt->eq_update(store, &r, true, cap_cb, &c);
  run_until(&c);
  c = (capture){0};
  store->vt->eq_claim(store, "sub_a", 10, now, cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.res.nitems, 0);
  HL_ASSERT_EQ_INT(c.res.next_due_at, now + 30000); /* the earliest, of this subscription only */
  hl_store_result_dispose(&c.res);
  /* sub_b's two are due now: a claim of one is not short. */
  c = (capture){0};
  store->vt->eq_claim(store, "sub_b", 1, now, cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.res.nitems, 1);
  HL_ASSERT_EQ_INT(c.res.next_due_at, 0);
  hl_store_result_dispose(&c.res);
  /* sub_b's other one, then nothing of sub_b is left, whatever sub_a holds. */
  c = (capture){0};
  store->vt->eq_claim(store, "sub_b", 10, now, cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.res.nitems, 1);
  HL_ASSERT_EQ_INT(c.res.next_due_at, 0);
  hl_store_result_dispose(&c.res);
  /* A claim names its subscription: none is refused, and claims nothing. */
  c = (capture){0};
  store->vt->eq_claim(store, NULL, 10, now + 100000, cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.status, HL_EINVAL);
  HL_ASSERT_EQ_INT(c.res.nitems, 0);
  /* Claimed ones do not count: once sub_a's are taken nothing is left. */
  c = (capture){0};
  store->vt->eq_claim(store, "sub_a", 10, now + 100000, cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.res.nitems, 2);
  HL_ASSERT_EQ_INT(c.res.next_due_at, 0);
  hl_store_result_dispose(&c.res);
  close_store();
  hl_rmtree(dir);
}

HL_TEST(ledger_put_is_conditional) {
  open_store();
  capture c = {0};
  store->vt->ledger_put(store, "sub_a#e1", "DELIVERED", 0, false, cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.status, 0);
  c = (capture){0};
  store->vt->ledger_put(store, "sub_a#e1", "DELIVERED", 0, false, cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.status, HL_EEXISTS);
  c = (capture){0};
  store->vt->ledger_get(store, "sub_a#e1", cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.status, 0);
  HL_ASSERT_EQ_STR(c.res.value, "DELIVERED");
  hl_store_result_dispose(&c.res);
  /* Expired entries do not count. */
  c = (capture){0};
  store->vt->ledger_put(store, "sub_a#e2", "DELIVERED", 1, true, cap_cb, &c);
  run_until(&c);
  c = (capture){0};
  store->vt->ledger_get(store, "sub_a#e2", cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.status, HL_ENOTFOUND);
  close_store();
  hl_rmtree(dir);
}

#ifndef HL_TEST_DDB
/* The duplicate check of the Kafka path (hl_store.delivered_get) on the
 * SQLite and PostgreSQL stores: the status row keeps the highest
 * generation recorded delivered, in place of an idempotency ledger entry
 * per delivery. (DynamoDB keeps the ledger: its status writes go in
 * BatchWriteItem, which cannot keep the highest of two values.) */
static int delivered(const char *event_id, const char *sub, int64_t gen) {
  capture c = {0};
  store->vt->delivered_get(store, event_id, sub, gen, cap_cb, &c);
  run_until(&c);
  if (c.status == 0) HL_ASSERT_EQ_STR(c.res.value, "DELIVERED");
  else HL_ASSERT(c.res.value == NULL);
  hl_store_result_dispose(&c.res);
  return c.status;
}

static void put_row(const char *event_id, const char *sub, const char *status, bool was_delivered, int64_t gen) {
  hl_delivery_rec r = {.event_id = (char *)event_id, .subscription_id = (char *)sub, .status = (char *)status,
                       .attempts = 1, .updated_at = 1000, .replays = gen, .delivered = was_delivered};
  capture c = {0};
  store->vt->delivery_put(store, &r, cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.status, 0);
}

HL_TEST(the_duplicate_check_reads_the_generation_delivered_from_the_status_row) {
  open_store();
  HL_ASSERT(store->vt->delivered_get != NULL);
  HL_ASSERT_EQ_INT(delivered("dg-e1", "sub_a", 0), HL_ENOTFOUND); /* no row yet */
  put_row("dg-e1", "sub_a", "RETRYING", false, 0);
  HL_ASSERT_EQ_INT(delivered("dg-e1", "sub_a", 0), HL_ENOTFOUND);
  put_row("dg-e1", "sub_a", "SUCCESS", true, 0);
  HL_ASSERT_EQ_INT(delivered("dg-e1", "sub_a", 0), 0);
  HL_ASSERT_EQ_INT(delivered("dg-e1", "sub_a", 1), HL_ENOTFOUND); /* a replay is deliberate */
  HL_ASSERT_EQ_INT(delivered("dg-e1", "sub_b", 0), HL_ENOTFOUND); /* another subscription's */
  /* The replay delivered: its copies and the older generation's stop. */
  put_row("dg-e1", "sub_a", "SUCCESS", true, 2);
  HL_ASSERT_EQ_INT(delivered("dg-e1", "sub_a", 2), 0);
  HL_ASSERT_EQ_INT(delivered("dg-e1", "sub_a", 0), 0);
  HL_ASSERT_EQ_INT(delivered("dg-e1", "sub_a", 3), HL_ENOTFOUND);
  /* A copy of an older generation recorded again, and a write that
   * delivered nothing, keep the highest. */
  put_row("dg-e1", "sub_a", "SUCCESS", true, 0);
  put_row("dg-e1", "sub_a", "RETRYING", false, 3);
  HL_ASSERT_EQ_INT(delivered("dg-e1", "sub_a", 2), 0);
  HL_ASSERT_EQ_INT(delivered("dg-e1", "sub_a", 3), HL_ENOTFOUND);

  /* One turn: a check sees the status row written before it in the same
   * turn, and 100 checks (past a statement's 64) each get their own
   * answer, a key asked twice included. */
  hl_delivery_rec r = {.event_id = "dg-e2", .subscription_id = "sub_a", .status = "SUCCESS", .attempts = 1,
                       .delivered = true};
  capture w = {0}, same = {0}, many[100];
  memset(many, 0, sizeof many);
  store->vt->delivery_put(store, &r, cap_cb, &w);
  store->vt->delivered_get(store, "dg-e2", "sub_a", 0, cap_cb, &same);
  char ids[100][16];
  for (int i = 0; i < 100; i++) {
    /* Even: w0..w49, of which w0..w24 delivered; odd: never written;
     * the last asks w0 again. */
    if (i == 99) snprintf(ids[i], sizeof ids[i], "dg-w0");
    else snprintf(ids[i], sizeof ids[i], "dg-%c%d", i % 2 ? 'n' : 'w', i % 2 ? i : i / 2);
    if (i % 2 == 0 && i < 50) put_row(ids[i], "sub_a", "SUCCESS", true, 0);
  }
  for (int i = 0; i < 100; i++) store->vt->delivered_get(store, ids[i], "sub_a", 0, cap_cb, &many[i]);
  for (int i = 0; i < 100; i++) run_until(&many[i]);
  run_until(&same);
  HL_ASSERT_EQ_INT(w.status, 0);
  HL_ASSERT_EQ_INT(same.status, 0);
  hl_store_result_dispose(&same.res);
  for (int i = 0; i < 100; i++) {
    int want = (i % 2 == 0 && i < 50) || i == 99 ? 0 : HL_ENOTFOUND;
    HL_ASSERT_MSG(many[i].status == want, "check %d (%s): %d, want %d", i, ids[i], many[i].status, want);
    hl_store_result_dispose(&many[i].res);
  }
  close_store();
  hl_rmtree(dir);
}

/* Rows made before the delivered_gen column (NULL there) had their
 * deliveries written to the idempotency ledger: the check reads the entry
 * of the generation asked about, live ones only, until the row records a
 * delivery of its own. */
HL_TEST(rows_from_before_the_delivered_column_are_checked_in_the_ledger) {
  open_store();
  put_row("dg-old1", "sub_a", "SUCCESS", false, 0);
  put_row("dg-old2", "sub_a", "SUCCESS", false, 0);
  put_row("dg-old3", "sub_a", "PENDING", false, 1);
  capture c[3];
  memset(c, 0, sizeof c);
  store->vt->ledger_put(store, "sub_a#dg-old1", "DELIVERED", 0, true, cap_cb, &c[0]);
  store->vt->ledger_put(store, "sub_a#dg-old2", "DELIVERED", 1, true, cap_cb, &c[1]); /* expired */
  store->vt->ledger_put(store, "sub_a#dg-old3#replay1", "DELIVERED", 0, true, cap_cb, &c[2]);
  for (int i = 0; i < 3; i++) run_until(&c[i]);
  close_store();
  /* As the column reads in a database made before it. */
#ifdef HL_TEST_PG
  char out[64] = "";
  HL_ASSERT(hl_pgsrv_exec(&srv, "WITH u AS (UPDATE event_delivery_status SET delivered_gen=NULL "
                          "WHERE event_id LIKE 'dg-old%' RETURNING 1) SELECT count(*)::text FROM u", out, sizeof out) == 0);
  HL_ASSERT_EQ_STR(out, "3");
#else
  char path[4096];
  snprintf(path, sizeof path, "%s/hookloop.db", dir);
  sqlite3 *db = NULL;
  HL_ASSERT_EQ_INT(sqlite3_open(path, &db), SQLITE_OK);
  HL_ASSERT_EQ_INT(sqlite3_exec(db, "UPDATE event_delivery_status SET delivered_gen=NULL", NULL, NULL, NULL),
                   SQLITE_OK);
  HL_ASSERT_EQ_INT(sqlite3_changes(db), 3);
  sqlite3_close(db);
#endif
  open_store();
  HL_ASSERT_EQ_INT(delivered("dg-old1", "sub_a", 0), 0);
  HL_ASSERT_EQ_INT(delivered("dg-old1", "sub_a", 1), HL_ENOTFOUND);
  HL_ASSERT_EQ_INT(delivered("dg-old2", "sub_a", 0), HL_ENOTFOUND);
  HL_ASSERT_EQ_INT(delivered("dg-old3", "sub_a", 1), 0);
  HL_ASSERT_EQ_INT(delivered("dg-old3", "sub_a", 0), HL_ENOTFOUND); /* generation 0 was never in the ledger */
  /* A delivery recorded now is the row's own from then on. */
  put_row("dg-old2", "sub_a", "SUCCESS", true, 0);
  HL_ASSERT_EQ_INT(delivered("dg-old2", "sub_a", 0), 0);
#ifdef HL_TEST_PG
  /* Shared by several processes, PostgreSQL may have a version that
   * writes the ledger beside this one while a deployment rolls: its entry
   * counts even when the row records an earlier generation. */
  capture l = {0};
  store->vt->ledger_put(store, "sub_a#dg-old2#replay1", "DELIVERED", 0, true, cap_cb, &l);
  run_until(&l);
  HL_ASSERT_EQ_INT(delivered("dg-old2", "sub_a", 1), 0);
  HL_ASSERT_EQ_INT(delivered("dg-old2", "sub_a", 2), HL_ENOTFOUND);
#endif
  close_store();
  hl_rmtree(dir);
}
#endif

HL_TEST(one_turn_is_one_transaction) {
  /* Many accepts issued in one turn commit together: all callbacks run in
   * the same later turn. */
  open_store();
  capture caps[50];
  memset(caps, 0, sizeof caps);
  const char *subs[] = {"sub_a"};
  char id[32];
  for (int i = 0; i < 50; i++) {
    snprintf(id, sizeof id, "bulk-%d", i);
    hl_eq_accept ev = {.event_id = id, .event_type = "T", .body = "{}", .body_len = 2,
                       .subscription_ids = subs, .nsubs = 1};
    store->vt->eq_accept(store, &ev, cap_cb, &caps[i]);
  }
  for (int i = 0; i < 50; i++) HL_ASSERT_EQ_INT(caps[i].calls, 0);
  /* SQLite commits at the end of this turn; a server answers later. */
  for (int i = 0; i < 200000 && caps[0].calls == 0; i++) uv_run(&loop, UV_RUN_ONCE);
  for (int i = 0; i < 50; i++) HL_ASSERT_EQ_INT(caps[i].calls, 1);
  for (int i = 0; i < 50; i++) HL_ASSERT_EQ_INT(caps[i].status, 0);
  HL_ASSERT_EQ_INT(store->vt->eq_backlog(store), 50);
  close_store();
  hl_rmtree(dir);
}

/* Retention's batch with close_deleted; -> how many it closed. */
static int64_t purge_closing(void) {
  hl_store_purge p = {.delivered_before_ms = 1, .failed_before_ms = 1, .now_s = 1, .limit = 100,
                      .close_deleted = true, .now_ms = hl_wall_ms()};
  capture c = {0};
  store->vt->purge(store, &p, cap_cb, &c);
  HL_ASSERT_EQ_INT(c.calls, 0); /* never from inside the call */
  run_until(&c);
  HL_ASSERT_EQ_INT(c.status, 0);
  return c.res.purged.closed;
}

static void put_sub(const char *id, const char *partner) {
  hl_sub_rec r = {.subscription_id = (char *)id, .partner_id = (char *)partner, .event_type = "PaymentProcessed",
                  .url = "http://127.0.0.1:1/x", .secret = "whsec_AAAA", .status = "ACTIVE"};
  capture c = {0};
  store->vt->sub_put(store, &r, cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.status, 0);
}

/* event_id's delivery to sub, as the store lists it, has this status (and,
 * when err is not NULL, this last_error). */
static void delivery_is(const char *event_id, const char *sub, const char *status, const char *err) {
  capture c = {0};
  store->vt->delivery_list(store, event_id, cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.status, 0);
  const hl_delivery_rec *d = NULL;
  for (size_t i = 0; i < c.res.ndeliveries; i++)
    if (strcmp(c.res.deliveries[i].subscription_id, sub) == 0) d = &c.res.deliveries[i];
  HL_ASSERT_MSG(d != NULL, "%s has no delivery to %s", event_id, sub);
  HL_ASSERT_EQ_STR(d->status, status);
  if (err) HL_ASSERT_EQ_STR(d->last_error, err);
  hl_store_result_dispose(&c.res);
}

#ifndef HL_TEST_DDB
/* An event that matched no subscription goes once older than the delivered
 * limit (docs/retention.md), also when it was accepted in the same
 * millisecond as the last event of a full window of old events, as the
 * events of one bulk request are. The window here is 2 events (limit 2):
 * two old events that keep an open delivery, so every walk ends its first
 * window on them, then an orphan accepted in the same millisecond. */
HL_TEST(an_orphan_tied_with_the_end_of_a_window_is_purged) {
  open_store();
  const char *keep[] = {"sub_keep"};
  const char *ids[] = {"tie-keep-1", "tie-keep-2", "tie-orphan"};
  size_t nsubs[] = {1, 1, 0};
  capture c[3];
  memset(c, 0, sizeof c);
  /* At the start of a millisecond: the three accepts read the same one. */
  for (int64_t t = hl_wall_ms(); hl_wall_ms() == t;) {}
  for (int i = 0; i < 3; i++) {
    hl_eq_accept ev = {.event_id = ids[i], .event_type = "PaymentProcessed", .body = "{}", .body_len = 2,
                       .subscription_ids = keep, .nsubs = nsubs[i]};
    store->vt->eq_accept(store, &ev, cap_cb, &c[i]);
  }
  for (int i = 0; i < 3; i++) {
    run_until(&c[i]);
    HL_ASSERT_EQ_INT(c[i].status, 0);
  }
  int64_t events = 0;
  for (int b = 0; b < 4; b++) { /* a walk is two windows here */
    hl_store_purge p = {.delivered_before_ms = hl_wall_ms() + 1000, .failed_before_ms = 1, .now_s = 1, .limit = 2};
    capture pc = {0};
    store->vt->purge(store, &p, cap_cb, &pc);
    run_until(&pc);
    HL_ASSERT_EQ_INT(pc.status, 0);
    events += pc.res.purged.events;
  }
  HL_ASSERT_EQ_INT((int)events, 1); /* the orphan */
  close_store();
  hl_rmtree(dir);
}
#endif

/* Retention closes a deleted subscription's waiting deliveries (FAILED,
 * "the subscription was deleted", out of the backlog, listed so), not
 * another's, and not one a dispatcher holds until it is given back. On
 * DynamoDB the queue beneath cannot tell a deleted subscription: the store
 * asks DynamoDB (store/hl_ddb_sweep.h), and a read of it that fails closes
 * nothing. There they stayed PENDING for good. */
HL_TEST(retention_closes_a_deleted_subscriptions_waiting_deliveries) {
  open_store();
  put_sub("sub_cd_live", "cd-live");
  put_sub("sub_cd_gone", "cd-gone");
  const char *subs[] = {"sub_cd_live", "sub_cd_gone"};
  accept_event("cd-1", subs, 2, 0);
  accept_event("cd-2", subs, 2, 0);
  accept_event("cd-3", subs, 2, 0);
  /* One in a dispatcher's hands. */
  capture c = {0};
  store->vt->eq_claim(store, "sub_cd_gone", 1, hl_wall_ms(), cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.status, 0);
  HL_ASSERT_EQ_INT(c.res.nitems, 1);
  hl_eq_item held = c.res.items[0];
  c.res.items[0] = (hl_eq_item){0};
  hl_store_result_dispose(&c.res);
  c = (capture){0};
  store->vt->sub_delete(store, "cd-gone", "PaymentProcessed", cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.status, 0);
  HL_ASSERT_EQ_INT(store->vt->eq_backlog(store), 6);
  /* DynamoDB's sweep takes only rows last changed before its check. */
  hl_sleep_ms(3);
  HL_ASSERT_EQ_INT(purge_closing(), 2);
  const char *ids[] = {"cd-1", "cd-2", "cd-3"};
  for (int i = 0; i < 3; i++) {
    bool is_held = strcmp(ids[i], held.d.event_id) == 0;
    delivery_is(ids[i], "sub_cd_gone", is_held ? "PENDING" : "FAILED", is_held ? NULL : HL_STORE_SUB_DELETED);
    delivery_is(ids[i], "sub_cd_live", "PENDING", NULL);
  }
  HL_ASSERT_EQ_INT(store->vt->eq_backlog(store), 4);
  HL_ASSERT_EQ_INT(purge_closing(), 0); /* nothing more: the held one is held */
  /* Given back (its attempt failed), the next batch closes it. */
  hl_delivery_rec r = held.d;
  r.status = "RETRYING";
  r.attempts = 1;
  r.last_status_code = 503;
  r.updated_at = r.next_attempt_at = hl_wall_ms();
  c = (capture){0};
  store->vt->eq_update(store, &r, true, cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.status, 0);
  hl_sleep_ms(3);
  HL_ASSERT_EQ_INT(purge_closing(), 1);
  delivery_is(held.d.event_id, "sub_cd_gone", "FAILED", HL_STORE_SUB_DELETED);
  HL_ASSERT_EQ_INT(store->vt->eq_backlog(store), 3);
  hl_eq_item_free(&held);
#ifdef HL_TEST_DDB
  /* DynamoDB cannot be read (here: the store's subscription table is not
   * there): no subscription is taken for deleted, nothing is closed, and
   * the purge itself still succeeds. */
  accept_event("cd-4", subs, 2, 0);
  close_store();
  sub_table_override = "cd_no_such_table";
  open_store();
  hl_sleep_ms(3);
  HL_ASSERT_EQ_INT(purge_closing(), 0);
  delivery_is("cd-4", "sub_cd_gone", "PENDING", NULL);
  delivery_is("cd-4", "sub_cd_live", "PENDING", NULL);
  HL_ASSERT_EQ_INT(store->vt->eq_backlog(store), 5);
  close_store();
  sub_table_override = NULL;
  open_store();
  HL_ASSERT_EQ_INT(purge_closing(), 1);
  delivery_is("cd-4", "sub_cd_gone", "FAILED", HL_STORE_SUB_DELETED);
  delivery_is("cd-4", "sub_cd_live", "PENDING", NULL);
  HL_ASSERT_EQ_INT(store->vt->eq_backlog(store), 4);
#endif
  c = (capture){0};
  store->vt->sub_delete(store, "cd-live", "PaymentProcessed", cap_cb, &c);
  run_until(&c);
  close_store();
  hl_rmtree(dir);
}

#ifdef HL_TEST_DDB
/* One batch of at most limit: what it closed, and how many DynamoDB calls
 * it made (*calls). */
static int64_t purge_closing_n(size_t limit, int64_t *calls) {
  int64_t before = hl_store_ddb_client(store)->calls;
  hl_store_purge p = {.delivered_before_ms = 1, .failed_before_ms = 1, .now_s = 1, .limit = limit,
                      .close_deleted = true, .now_ms = hl_wall_ms()};
  capture c = {0};
  store->vt->purge(store, &p, cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.status, 0);
  *calls = hl_store_ddb_client(store)->calls - before;
  return c.res.purged.closed;
}

/* A deleted subscription's backlog larger than a batch is caught up with
 * one Scan of the subscription table: the batches that walk the same
 * subscriptions again reuse its verdict (store/hl_ddb_sweep.h), each
 * making only its status writes. A walk that moves on scans again. Each
 * batch scanned the table before. */
HL_TEST(a_deleted_backlog_is_caught_up_with_one_scan) {
  open_store();
  put_sub("sub_cu_live", "cu-live");
  put_sub("sub_cu_gone", "cu-gone");
  const char *subs[] = {"sub_cu_live", "sub_cu_gone"};
  char id[32];
  for (int i = 0; i < 7; i++) {
    snprintf(id, sizeof id, "cu-%d", i);
    accept_event(id, subs, 2, 0);
  }
  capture c = {0};
  store->vt->sub_delete(store, "cu-gone", "PaymentProcessed", cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.status, 0);
  hl_sleep_ms(3);
  /* The first batch scans (one page: a small table) and writes its two
   * statuses (one BatchWriteItem); the next ones only write theirs. */
  int64_t calls[5];
  int64_t closed[5];
  for (int i = 0; i < 5; i++) closed[i] = purge_closing_n(2, &calls[i]);
  printf("closed %lld %lld %lld %lld %lld, calls %lld %lld %lld %lld %lld\n", (long long)closed[0],
         (long long)closed[1], (long long)closed[2], (long long)closed[3], (long long)closed[4], (long long)calls[0],
         (long long)calls[1], (long long)calls[2], (long long)calls[3], (long long)calls[4]);
  HL_ASSERT(closed[0] == 2 && closed[1] == 2 && closed[2] == 2 && closed[3] == 1 && closed[4] == 0);
  HL_ASSERT_EQ_INT(calls[0], 1 + 1);
  HL_ASSERT_EQ_INT(calls[1], 1);
  HL_ASSERT_EQ_INT(calls[2], 1);
  HL_ASSERT_EQ_INT(calls[3], 1);
  HL_ASSERT_EQ_INT(calls[4], 1); /* the walk moved on: a new Scan, nothing deleted is left */
  for (int i = 0; i < 7; i++) {
    snprintf(id, sizeof id, "cu-%d", i);
    delivery_is(id, "sub_cu_gone", "FAILED", HL_STORE_SUB_DELETED);
    delivery_is(id, "sub_cu_live", "PENDING", NULL);
  }
  HL_ASSERT_EQ_INT(store->vt->eq_backlog(store), 7);
  c = (capture){0};
  store->vt->sub_delete(store, "cu-live", "PaymentProcessed", cap_cb, &c);
  run_until(&c);
  close_store();
  hl_rmtree(dir);
}
#endif

#if !defined(HL_TEST_PG) && !defined(HL_TEST_DDB)
/* Whether another connection sees the event: only committed rows. */
static int committed_events(const char *id) { return sqlite_peek_events(dir, id); }

typedef struct {
  capture c;
  const char *id;
  int seen;            /* committed_events(id) when the callback ran */
} durable_capture;

static void durable_cb(void *data, int status, hl_store_result *res) {
  durable_capture *d = data;
  d->seen = committed_events(d->id);
  cap_cb(&d->c, status, res);
}

static void accept_durable(durable_capture *d, const char *id) {
  static const char *subs[] = {"sub_a"};
  d->id = id;
  hl_eq_accept ev = {.event_id = id, .event_type = "T", .body = "{}", .body_len = 2, .subscription_ids = subs,
                     .nsubs = 1};
  store->vt->eq_accept(store, &ev, durable_cb, d);
}

/* Group commit: one transaction spans loop turns until it is full or old
 * enough, and no accept is answered before the COMMIT that made it durable
 * (another connection already sees the row when the callback runs). */
HL_TEST(a_group_commit_spans_turns_and_answers_only_once_durable) {
  open_store();
  hl_store_sqlite_group_commit(store, 600000, 3); /* ten minutes: only the count bound commits */
  durable_capture d[4];
  memset(d, 0, sizeof d);
  accept_durable(&d[0], "group-0");
  uv_run(&loop, UV_RUN_NOWAIT);
  accept_durable(&d[1], "group-1");
  uv_run(&loop, UV_RUN_NOWAIT);
  /* Two turns went by: neither is committed, so neither is answered. */
  HL_ASSERT_EQ_INT(d[0].c.calls, 0);
  HL_ASSERT_EQ_INT(d[1].c.calls, 0);
  HL_ASSERT_EQ_INT(committed_events("group-0"), 0);
  HL_ASSERT_EQ_INT(store->vt->eq_backlog(store), 0); /* committed rows only */
  accept_durable(&d[2], "group-2"); /* the third fills the group: committed at the end of this turn */
  uv_run(&loop, UV_RUN_NOWAIT);
  HL_ASSERT_EQ_INT(committed_events("group-2"), 1);
  /* ... and answered once the WAL's fdatasync (threadpool) covers it. */
  run_until(&d[2].c);
  for (int i = 0; i < 3; i++) {
    HL_ASSERT_EQ_INT(d[i].c.calls, 1);
    HL_ASSERT_EQ_INT(d[i].c.status, 0);
    HL_ASSERT_MSG(d[i].seen == 1, "accept %d answered before its row was committed", i);
  }
  HL_ASSERT_EQ_INT(store->vt->eq_backlog(store), 3);
  /* The time bound: a lone accept is committed once its group is old enough. */
  hl_store_sqlite_group_commit(store, 20, 1024);
  accept_durable(&d[3], "group-3");
  run_until(&d[3].c);
  HL_ASSERT_EQ_INT(d[3].c.status, 0);
  HL_ASSERT_EQ_INT(d[3].seen, 1);
  close_store();
  hl_rmtree(dir);
}

static long long wal_bytes(void) {
  char path[4096];
  snprintf(path, sizeof path, "%s/hookloop.db-wal", dir);
  struct stat st;
  return stat(path, &st) == 0 ? (long long)st.st_size : 0;
}

/* Transactions committed in the store's WAL since it was last reset: its
 * commit frames (a frame header's second word, the database's size in
 * pages after the commit, is 0 on every other frame) of the WAL's current
 * generation (the frame's salts are the header's). */
static int wal_commits(void) {
  char path[4096];
  snprintf(path, sizeof path, "%s/hookloop.db-wal", dir);
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  unsigned char h[32], fh[24];
  int commits = 0;
  if (fread(h, 1, sizeof h, f) == sizeof h) {
    uint32_t page = (uint32_t)h[8] << 24 | (uint32_t)h[9] << 16 | (uint32_t)h[10] << 8 | h[11];
    while (fread(fh, 1, sizeof fh, f) == sizeof fh && memcmp(fh + 8, h + 16, 8) == 0) {
      if (fh[4] | fh[5] | fh[6] | fh[7]) commits++;
      if (fseek(f, (long)page, SEEK_CUR) != 0) break;
    }
  }
  fclose(f);
  return commits;
}

/* An attempt whose delivery has no status row (the inbox queue keeps
 * none) is written to the attempt table as ever: never listed, purged by
 * retention once older than the delivered limit. A status row purged takes
 * its latest attempt with it, counted with the attempt rows. */
HL_TEST(attempts_without_a_status_row_are_kept_and_purged_as_before) {
  open_store();
  attempt_alone("at-inbox-1", 1);
  HL_ASSERT_EQ_INT(attempt_rows("at-inbox-"), 1);
  attempts_are("at-inbox-1", "sub_at", 1, 0);
  deliver_attempts("at-purged", 2, false);
  HL_ASSERT_EQ_INT(attempt_rows("at-purged"), 1);
  hl_store_purge p = {.delivered_before_ms = hl_wall_ms() + 1000, .failed_before_ms = 1, .now_s = 1, .limit = 100};
  capture c = {0};
  store->vt->purge(store, &p, cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.status, 0);
  HL_ASSERT_EQ_INT((int)c.res.purged.deliveries, 1);
  HL_ASSERT_EQ_INT((int)c.res.purged.attempts, 3); /* the orphan, attempt 1's row, attempt 2 in the status row */
  HL_ASSERT_EQ_INT(attempt_rows("at-"), 0);
  attempts_are("at-purged", "sub_at", 1, 0);
  close_store();
  hl_rmtree(dir);
}

/* The steps a store above the queue closes in (hl_store.h, eq_open_subs):
 * the rows read are those open, unclaimed and unchanged since the time
 * given, and one claimed or changed after it was read is not closed (a
 * subscription re-created with the same id meanwhile keeps it). */
HL_TEST(a_queue_row_claimed_or_changed_after_it_was_read_is_not_closed) {
  open_store();
  const char *one[] = {"sub_st"}, *other[] = {"sub_su"};
  accept_event("st-1", one, 1, 0);
  accept_event("st-2", one, 1, 0);
  accept_event("st-3", one, 1, 0);
  accept_event("st-4", one, 1, 0);
  accept_event("su-1", other, 1, 0);
  hl_sleep_ms(3);
  int64_t t0 = hl_wall_ms();
  hl_sleep_ms(3);
  accept_event("st-5", one, 1, 0); /* after t0 */
  capture c = {0};
  store->vt->eq_open_subs(store, "", 10, cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.status, 0);
  HL_ASSERT_EQ_INT(c.res.nsubs, 2);
  HL_ASSERT_EQ_STR(c.res.subs[0].subscription_id, "sub_st");
  HL_ASSERT_EQ_STR(c.res.subs[1].subscription_id, "sub_su");
  hl_store_result_dispose(&c.res);
  c = (capture){0};
  store->vt->eq_open_subs(store, "sub_st", 10, cap_cb, &c); /* after a cursor */
  run_until(&c);
  HL_ASSERT_EQ_INT(c.res.nsubs, 1);
  HL_ASSERT_EQ_STR(c.res.subs[0].subscription_id, "sub_su");
  hl_store_result_dispose(&c.res);
  capture rows = {0};
  store->vt->eq_open_of(store, one, 1, t0, 10, cap_cb, &rows);
  run_until(&rows);
  HL_ASSERT_EQ_INT(rows.status, 0);
  HL_ASSERT_EQ_INT(rows.res.ndeliveries, 4); /* not st-5 */
  for (size_t i = 0; i < 4; i++) {
    HL_ASSERT_EQ_STR(rows.res.deliveries[i].status, "PENDING");
    HL_ASSERT(rows.res.deliveries[i].row_ref > 0);
  }
  /* Meanwhile two are claimed; one of them is given back, changed. */
  c = (capture){0};
  store->vt->eq_claim(store, "sub_st", 2, hl_wall_ms(), cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.res.nitems, 2);
  hl_delivery_rec r = c.res.items[1].d;
  r.status = "RETRYING";
  r.attempts = 1;
  r.updated_at = r.next_attempt_at = hl_wall_ms();
  capture u = {0};
  store->vt->eq_update(store, &r, true, cap_cb, &u);
  run_until(&u);
  HL_ASSERT_EQ_INT(u.status, 0);
  hl_store_result_dispose(&c.res);
  c = (capture){0};
  store->vt->eq_close_open(store, rows.res.deliveries, rows.res.ndeliveries, HL_STORE_SUB_DELETED, hl_wall_ms(),
                           cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.status, 0);
  HL_ASSERT_EQ_INT(c.res.purged.closed, 2);
  HL_ASSERT_EQ_INT(store->vt->eq_backlog(store), 4);
  int failed = 0;
  for (size_t i = 0; i < rows.res.ndeliveries; i++) {
    capture l = {0};
    store->vt->delivery_list(store, rows.res.deliveries[i].event_id, cap_cb, &l);
    run_until(&l);
    HL_ASSERT_EQ_INT(l.res.ndeliveries, 1);
    if (strcmp(l.res.deliveries[0].status, "FAILED") == 0) {
      failed++;
      HL_ASSERT_EQ_STR(l.res.deliveries[0].last_error, HL_STORE_SUB_DELETED);
    }
    hl_store_result_dispose(&l.res);
  }
  HL_ASSERT_EQ_INT(failed, 2);
  /* Closed once: the same rows again close nothing. */
  c = (capture){0};
  store->vt->eq_close_open(store, rows.res.deliveries, rows.res.ndeliveries, HL_STORE_SUB_DELETED, hl_wall_ms(),
                           cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.res.purged.closed, 0);
  hl_store_result_dispose(&rows.res);
  close_store();
  hl_rmtree(dir);
}

/* A file made before status rows held their latest attempt (every attempt
 * in the attempt table): it opens, gains the columns, lists the same
 * attempts, and its next attempt joins them. */
HL_TEST(a_file_from_before_the_latest_attempt_columns_lists_the_same_attempts) {
  open_store();
  hl_delivery_rec r = {.event_id = "at-old", .subscription_id = "sub_at", .status = "RETRYING", .attempts = 2,
                       .updated_at = 1000};
  capture c = {0};
  store->vt->delivery_put(store, &r, cap_cb, &c);
  run_until(&c);
  close_store();
  char sql[2048];
  size_t n = 0;
  static const char *const cols[] = {"la_attempt", "la_at_ms", "la_status_code", "la_latency_ms",
                                     "la_error", "la_headers", "la_body", "la_truncated"};
  for (size_t i = 0; i < HL_ARRAY_SIZE(cols); i++)
    n += (size_t)snprintf(sql + n, sizeof sql - n, "ALTER TABLE event_delivery_status DROP COLUMN %s;", cols[i]);
  snprintf(sql + n, sizeof sql - n,
           "INSERT INTO delivery_attempt(event_id,subscription_id,slot,attempt,at_ms,status_code,latency_ms,error,"
           "headers,body,truncated,drow) SELECT 'at-old','sub_at',0,1,1000,503,11,'partner answered 503',"
           "'{\"x-try\":\"1\"}','answer 1',0,rowid FROM event_delivery_status WHERE event_id='at-old';"
           "INSERT INTO delivery_attempt(event_id,subscription_id,slot,attempt,at_ms,status_code,latency_ms,error,"
           "headers,body,truncated,drow) SELECT 'at-old','sub_at',1,2,2000,503,12,'partner answered 503',"
           "'{\"x-try\":\"2\"}','answer 2',1,rowid FROM event_delivery_status WHERE event_id='at-old';");
  sqlite_poke(dir, sql);
  open_store();
  attempts_are("at-old", "sub_at", 1, 2);
  attempt_and_outcome(NULL, "at-old", 3, 3);
  attempts_are("at-old", "sub_at", 1, 3);
  HL_ASSERT_EQ_INT(attempt_rows("at-old"), 2);
  close_store();
  open_store(); /* the step again: nothing to add */
  attempts_are("at-old", "sub_at", 1, 3);
  close_store();
  hl_rmtree(dir);
}

/* A new file's schema and migration steps are one transaction, so one
 * commit and one fdatasync, where ~30 statements each committed alone
 * cost a Lambda's init ~5 ms (bench/README.md, Lambda). */
/* A file made before claims were only a subscription's has the index of
 * every subscription's due rows; a start drops it (written at every accept
 * and claim, read by nothing), and the queue works on as before. */
HL_TEST(a_start_drops_the_index_no_claim_reads) {
  open_store();
  const char *subs[] = {"sub_a"};
  accept_event("due-all-1", subs, 1, 0);
  close_store();
  sqlite_poke(dir, "CREATE INDEX event_delivery_status_due_all ON event_delivery_status(next_attempt_at) "
                   "WHERE claimed=0 AND status IN ('PENDING','RETRYING')");
  HL_ASSERT_EQ_INT(sqlite_peek_schema(dir, "event_delivery_status_due_all"), 1);
  open_store();
  HL_ASSERT_EQ_INT(sqlite_peek_schema(dir, "event_delivery_status_due_all"), 0);
  HL_ASSERT_EQ_INT(sqlite_peek_schema(dir, "event_delivery_status_due"), 1);
  claim_one("sub_a", "due-all-1");
  close_store();
  hl_rmtree(dir);
}

HL_TEST(a_new_files_schema_is_set_up_in_one_transaction) {
  if (dir) hl_rmtree(dir);
  open_store();
  int first = wal_commits();
  HL_ASSERT_MSG(first == 1, "%d transactions committed setting up a new file", first);
  /* Set up means set up: the queue works on it, and again after a start on
   * the file as it was left. */
  const char *subs[] = {"sub_a"};
  accept_event("setup-1", subs, 1, 0);
  close_store();
  open_store();
  accept_event("setup-2", subs, 1, 0);
  HL_ASSERT_EQ_INT(committed_events("setup-1"), 1);
  HL_ASSERT_EQ_INT(committed_events("setup-2"), 1);
  close_store();
  hl_rmtree(dir);
}

/* The WAL is copied back into the database from 4,000 pages on, not at
 * SQLite's default 1,000 (fewer bytes written per delivery, bench/README.md),
 * and by a checkpoint on the threadpool (store/hl_sqlite_ckpt.h; how the
 * WAL stays bounded: tests/store/test_sqlite_ckpt.c). */
HL_TEST(the_wal_is_copied_back_from_4000_pages_on_the_threadpool) {
  open_store();
  static char body[3500];
  memset(body, 'b', sizeof body - 1);
  long long most = 0;
  const long long page = 4096 + 24; /* a WAL frame: the page and its header */
  for (int turn = 0; turn < 160; turn++) {
    capture c[40];
    memset(c, 0, sizeof c);
    for (int i = 0; i < 40; i++) {
      char id[32];
      snprintf(id, sizeof id, "wal-%d-%d", (turn * 7919 + i * 104729) % 100003, turn * 40 + i);
      hl_attempt_rec a = {.event_id = id, .subscription_id = "sub_w", .attempt = 1, .at_ms = 1, .status_code = 200,
                          .headers_json = "{}", .body = body};
      store->vt->attempt_put(store, &a, cap_cb, &c[i]);
    }
    run_until(&c[39]);
    for (int i = 0; i < 40; i++) HL_ASSERT_EQ_INT(c[i].status, 0);
    if (wal_bytes() > most) most = wal_bytes();
  }
  /* 6,400 rows of a page or so: well past 4,000 pages in all. */
  HL_ASSERT_MSG(most > 2000 * page, "WAL high mark %lld bytes: copied back before 2,000 pages", most);
  const hl_sqlite_ckpt_stats *st = hl_store_sqlite_ckpt_stats(store);
  HL_ASSERT_MSG(st->started >= 1, "no checkpoint started after a WAL of %lld bytes", most);
  uv_thread_t self = uv_thread_self();
  for (int i = 0; i < 100000 && st->checkpoints < 1; i++) uv_run(&loop, UV_RUN_ONCE);
  HL_ASSERT(st->checkpoints >= 1 && !uv_thread_equal(&st->last_thread, &self));
  close_store();
  hl_rmtree(dir);
}
#endif

static void park(const char *event_id, const char *sub, int64_t due, int expect) {
  hl_eq_item it = {.d = {.event_id = (char *)event_id, .subscription_id = (char *)sub, .attempts = 2,
                         .next_attempt_at = due},
                   .event_type = "PaymentProcessed", .body = "{\"a\": 1.50}", .body_len = 11,
                   .trace = "00-abc-def-01", .accepted_at = 1700000000123, .replay = 3};
  capture c = {0};
  store->vt->park_put(store, &it, cap_cb, &c);
  HL_ASSERT_EQ_INT(c.calls, 0); /* never from inside the call */
  run_until(&c);
  HL_ASSERT_EQ_INT(c.status, expect);
}

static capture take(int64_t due_by, int64_t now, int64_t lease_until) {
  capture c = {0};
  store->vt->park_take(store, due_by, now, lease_until, 100, cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.status, 0);
  return c;
}

/* Parked retries: what is due is taken once while its lease lasts, taken
 * again once it ran out, and gone once deleted; parking twice is once. A
 * parked replay keeps its generation. */
HL_TEST(parked_retries_are_taken_by_due_time_under_a_lease) {
  open_store();
  int64_t t = 1800000000000;
  park("evt-p1", "sub_a", t + 1000, 0);
  park("evt-p2", "sub_b", t + 2000, 0);
  park("evt-p3", "sub_a", t + 60000, 0);
  park("evt-p1", "sub_a", t + 1000, 0); /* again: the same one */
  capture c = take(t + 2000, t, t + 30000);
  HL_ASSERT_EQ_INT(c.res.nitems, 2);
  bool p1 = false, p2 = false;
  for (size_t i = 0; i < c.res.nitems; i++) {
    const hl_eq_item *it = &c.res.items[i];
    if (strcmp(it->d.event_id, "evt-p1") == 0) {
      p1 = true;
      HL_ASSERT_EQ_STR(it->d.subscription_id, "sub_a");
      HL_ASSERT_EQ_INT(it->d.next_attempt_at, t + 1000);
      HL_ASSERT_EQ_INT(it->d.attempts, 2);
      HL_ASSERT_EQ_INT(it->body_len, 11);
      HL_ASSERT(memcmp(it->body, "{\"a\": 1.50}", 11) == 0); /* exact bytes */
      HL_ASSERT_EQ_STR(it->trace, "00-abc-def-01");
      HL_ASSERT_EQ_STR(it->event_type, "PaymentProcessed");
      HL_ASSERT_EQ_INT(it->accepted_at, 1700000000123);
      HL_ASSERT_EQ_INT(it->replay, 3); /* a parked replay stays that replay (its ledger key) */
    }
    p2 |= strcmp(it->d.event_id, "evt-p2") == 0;
  }
  HL_ASSERT(p1 && p2);
  hl_eq_item first = c.res.items[0];
  c.res.items[0] = (hl_eq_item){0};
  hl_store_result_dispose(&c.res);
  /* Held: a second drain gets nothing, not even later. */
  c = take(t + 2000, t + 1000, t + 30000);
  HL_ASSERT_EQ_INT(c.res.nitems, 0);
  /* The first drain recorded one; the other's lease runs out. */
  capture d = {0};
  store->vt->park_delete(store, &first, cap_cb, &d);
  run_until(&d);
  HL_ASSERT_EQ_INT(d.status, 0);
  c = take(t + 60000, t + 30001, t + 90000);
  HL_ASSERT_EQ_INT(c.res.nitems, 2); /* the unfinished one, and evt-p3 now due */
  for (size_t i = 0; i < c.res.nitems; i++) HL_ASSERT(strcmp(c.res.items[i].d.event_id, first.d.event_id) != 0);
  hl_store_result_dispose(&c.res);
  hl_eq_item_free(&first);
  close_store();
  hl_rmtree(dir);
}

#if !defined(HL_TEST_PG) && !defined(HL_TEST_DDB)
/* Retention's purge of attempt rows without a delivery row (the inbox
 * queue's) reads them by time through an index of their own: the plan of
 * its query searches, where without the index each batch walked every
 * such row on the loop. */
HL_TEST(the_purge_of_attempts_without_a_delivery_reads_by_an_index) {
  open_store();
  close_store();
  char path[4096];
  snprintf(path, sizeof path, "%s/hookloop.db", dir);
  sqlite3 *db = NULL;
  sqlite3_stmt *st = NULL;
  HL_ASSERT(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
  /* The store's Q_PURGE_ATTEMPT_ORPHANS selects these rows so. */
  HL_ASSERT_MSG(sqlite3_prepare_v2(db, "EXPLAIN QUERY PLAN SELECT rowid FROM delivery_attempt INDEXED BY "
                                   "delivery_attempt_orphan_at WHERE drow IS NULL AND at_ms<?1 LIMIT ?2",
                                   -1, &st, NULL) == SQLITE_OK, "%s", sqlite3_errmsg(db));
  hl_buf plan = HL_BUF_INIT;
  while (sqlite3_step(st) == SQLITE_ROW) hl_buf_printf(&plan, "%s; ", (const char *)sqlite3_column_text(st, 3));
  sqlite3_finalize(st);
  sqlite3_close(db);
  HL_ASSERT_MSG(plan.data && strstr(plan.data, "SEARCH delivery_attempt USING INDEX delivery_attempt_orphan_at (at_ms<?)"),
                "plan: %s", plan.data ? plan.data : "");
  hl_buf_dispose(&plan);
  hl_rmtree(dir);
}
#endif

/* A parked retry keeps a body larger than a DynamoDB item (400 KB) exactly:
 * a 1 MiB event of 4-byte characters, cut into parts (on DynamoDB) where a
 * cut falls inside a character unless it backs off. Deleted, it is gone
 * whole: the same retry parks again and comes back the same. */
HL_TEST(a_parked_retry_keeps_a_body_larger_than_an_item) {
  open_store();
  hl_buf b = HL_BUF_INIT;
  hl_buf_puts(&b, "{\"s\":\"");
  while (b.len < 1024 * 1024) hl_buf_puts(&b, "\xF0\x9D\x84\x9E"); /* U+1D11E, 4 bytes in UTF-8 */
  hl_buf_puts(&b, "\",\"amount\":12.30}");
  int64_t t = 1800000000000;
  for (int round = 0; round < 2; round++) {
    hl_eq_item it = {.d = {.event_id = "evt-big", .subscription_id = "sub_big", .attempts = 3,
                           .next_attempt_at = t + 1000},
                     .event_type = "PaymentProcessed", .body = b.data, .body_len = b.len, .accepted_at = t};
    capture c = {0};
    store->vt->park_put(store, &it, cap_cb, &c);
    run_until(&c);
    HL_ASSERT_MSG(c.status == 0, "round %d: %s", round, hl_strerror(c.status));
    c = take(t + 1000, t + round * 100000, t + round * 100000 + 30000);
    HL_ASSERT_EQ_INT(c.res.nitems, 1);
    hl_eq_item *got = &c.res.items[0];
    HL_ASSERT_EQ_STR(got->d.event_id, "evt-big");
    HL_ASSERT_EQ_INT(got->d.attempts, 3);
    HL_ASSERT_EQ_INT(got->body_len, b.len);
    HL_ASSERT(memcmp(got->body, b.data, b.len) == 0); /* exact bytes */
    capture d = {0};
    store->vt->park_delete(store, got, cap_cb, &d);
    run_until(&d);
    HL_ASSERT_EQ_INT(d.status, 0);
    hl_store_result_dispose(&c.res);
    c = take(t + 1000, t + round * 100000 + 60000, t + round * 100000 + 90000);
    HL_ASSERT_EQ_INT(c.res.nitems, 0); /* gone, lease or not */
    hl_store_result_dispose(&c.res);
  }
  hl_buf_dispose(&b);
  close_store();
  hl_rmtree(dir);
}

HL_TEST(data_dir_is_exclusive) {
#ifdef HL_TEST_PG
  HL_SKIP("a data directory is SQLite's; PostgreSQL is shared by design (see the tests below)");
#endif
  open_store();
  hl_store *second = NULL;
  char err[256] = "";
  HL_ASSERT(hl_store_sqlite_open(&loop, dir, NULL, &second, err, sizeof err) != 0);
  HL_ASSERT(strstr(err, "in use") != NULL);
  close_store();
  hl_rmtree(dir);
}

#ifdef HL_TEST_PG
/* An attempt whose delivery has no status row (the inbox queue keeps
 * none) goes once older than the delivered limit, as on SQLite: nothing
 * else ever deletes it, and the attempt table would grow for good. */
HL_TEST(an_attempt_without_a_delivery_is_purged_once_old) {
  open_store();
  attempt_alone("pg-alone-1", 1); /* at 1 s after the epoch */
  attempts_are("pg-alone-1", "sub_at", 1, 1);
  hl_store_purge p = {.delivered_before_ms = 500, .failed_before_ms = 1, .now_s = 1, .limit = 100};
  capture c = {0};
  store->vt->purge(store, &p, cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.status, 0);
  attempts_are("pg-alone-1", "sub_at", 1, 1); /* not yet past the limit */
  p.delivered_before_ms = hl_wall_ms() + 1000;
  c = (capture){0};
  store->vt->purge(store, &p, cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.status, 0);
  HL_ASSERT_EQ_INT((int)c.res.purged.attempts, 1);
  hl_store_result_dispose(&c.res);
  attempts_are("pg-alone-1", "sub_at", 1, 0);
  /* A window of one row: the walk goes on from the row it ended on, past
   * an open delivery's attempt of the same millisecond, to the next. */
  const char *subs[] = {"sub_at"};
  accept_event("pg-a-keep", subs, 1, 0);
  attempt_alone("pg-a-keep", 1);
  attempt_alone("pg-b-alone", 1);
  int64_t purged = 0;
  for (int b = 0; b < 3; b++) {
    p.limit = 1;
    c = (capture){0};
    store->vt->purge(store, &p, cap_cb, &c);
    run_until(&c);
    HL_ASSERT_EQ_INT(c.status, 0);
    purged += c.res.purged.attempts;
    hl_store_result_dispose(&c.res);
  }
  HL_ASSERT_EQ_INT((int)purged, 1);
  attempts_are("pg-b-alone", "sub_at", 1, 0);
  attempts_are("pg-a-keep", "sub_at", 1, 1); /* its delivery is open */
  close_store();
}
#endif

#ifdef HL_TEST_PG
/* --- a store shared by processes ----------------------------------------------- */

static capture claim(hl_store *st, const char *sub, size_t limit) {
  capture c = {0};
  st->vt->eq_claim(st, sub, limit, hl_wall_ms(), cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.status, 0);
  return c;
}

static void close_other(hl_store *st) {
  int closed = 0;
  st->vt->close(st, on_closed, &closed);
  while (!closed && uv_run(&loop, UV_RUN_ONCE)) {}
  HL_ASSERT(closed);
}

/* A write that is not sent again when its answer is lost (an immutable
 * record: a second INSERT could not tell "mine" from "there before"),
 * sent to a server that then hangs: its outcome is unknown, and it says so
 * (HL_EUNKNOWN: the API answers "it may have been made; read it back"),
 * where it said "the store failed" and the API "nothing was changed". */
HL_TEST(a_write_sent_and_never_answered_is_reported_unknown_not_failed) {
  uv_loop_init(&loop);
  if (!dir) dir = hl_tmpdir("store");
  pg_query_timeout_ms = 700;
  store = open_pg(0, 0);
  pg_query_timeout_ms = 0;
  HL_ASSERT(hl_pgsrv_signal(&srv, SIGSTOP) == 0);
  hl_xform_rec x = {.transformation_id = (char *)"event_type:Unknown", .version = 1, .spec_json = (char *)"{}",
                    .created_at = 1};
  capture c = {0};
  store->vt->xform_put(store, &x, cap_cb, &c);
  run_until(&c);
  hl_pgsrv_signal(&srv, SIGCONT);
  HL_ASSERT_MSG(c.status == HL_EUNKNOWN, "status %d (%s)", c.status, hl_strerror(c.status));
  close_store();
}

/* Accepts <prefix>0..n-1 for sub, through the stores of sts in turn; all
 * in this turn, and every one must commit. */
static void accept_n(hl_store *const *sts, int nst, const char *prefix, int n, const char *sub) {
  const char *subs[] = {sub};
  capture *acc = hl_calloc((size_t)n, sizeof *acc);
  char id[48];
  for (int i = 0; i < n; i++) {
    snprintf(id, sizeof id, "%s%03d", prefix, i);
    hl_eq_accept ev = {.event_id = id, .event_type = "T", .body = "{}", .body_len = 2, .subscription_ids = subs,
                       .nsubs = 1};
    sts[i % nst]->vt->eq_accept(sts[i % nst], &ev, cap_cb, &acc[i]);
  }
  for (int i = 0; i < n; i++) run_until(&acc[i]);
  for (int i = 0; i < n; i++) HL_ASSERT_EQ_INT(acc[i].status, 0);
  hl_free(acc);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Two stores (two pools, as two processes have) claim in the same turns,
 * so their claims run concurrently on the server: SKIP LOCKED and the
 * owner column hand every row to exactly one of them. */
HL_TEST(two_stores_claim_concurrently_and_never_take_a_row_twice) {
  open_store();
  hl_store *other = open_pg(0, 0);
  enum { N = 300 };
  hl_store *both[] = {store, other};
  accept_n(both, 2, "evt-c", N, "sub_a");
  char *seen[N + 64];
  size_t nseen = 0, from_a = 0, from_b = 0;
  for (int round = 0; round < 100; round++) {
    capture a = {0}, b = {0};
    store->vt->eq_claim(store, "sub_a", 7, hl_wall_ms(), cap_cb, &a);
    other->vt->eq_claim(other, "sub_a", 7, hl_wall_ms(), cap_cb, &b);
    run_until(&a);
    run_until(&b);
    HL_ASSERT_EQ_INT(a.status, 0);
    HL_ASSERT_EQ_INT(b.status, 0);
    capture *both[] = {&a, &b};
    for (int k = 0; k < 2; k++) {
      for (size_t j = 0; j < both[k]->res.nitems; j++) {
        HL_ASSERT(nseen < N + 64);
        seen[nseen++] = hl_strdup(both[k]->res.items[j].d.event_id);
      }
      *(k ? &from_b : &from_a) += both[k]->res.nitems;
      hl_store_result_dispose(&both[k]->res);
    }
    if (a.res.nitems == 0 && b.res.nitems == 0 && nseen >= N) break;
  }
  HL_ASSERT_EQ_INT(nseen, N);
  qsort(seen, nseen, sizeof *seen, cmp_str);
  for (size_t i = 1; i < nseen; i++) HL_ASSERT_MSG(strcmp(seen[i - 1], seen[i]) != 0, "%s taken twice", seen[i]);
  for (size_t i = 0; i < nseen; i++) hl_free(seen[i]);
  HL_ASSERT(from_a > 0 && from_b > 0); /* both took their share */
  close_other(other);
  close_store();
  hl_rmtree(dir);
}

typedef struct {
  int calls;
  char last[64];
} work_rec;

static void on_work(void *data, const char *sub) {
  work_rec *w = data;
  w->calls++;
  snprintf(w->last, sizeof w->last, "%s", sub ? sub : "(all)");
}

static void tick_noop(uv_timer_t *t) { (void)t; }
static void tick_stop(uv_timer_t *t) { uv_timer_stop(t); }

static void on_tick_closed(uv_handle_t *h) { *(int *)h->data = 1; }

static bool run_until_work(work_rec *w, const char *sub, int ms) {
  uint64_t end = uv_now(&loop) + (uint64_t)ms;
  uv_timer_t tick;
  int closed = 0;
  uv_timer_init(&loop, &tick);
  tick.data = &closed;
  uv_timer_start(&tick, tick_noop, 20, 20); /* never sleeps long */
  while (strcmp(w->last, sub) != 0 && uv_now(&loop) < end) uv_run(&loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&tick, on_tick_closed);
  while (!closed) uv_run(&loop, UV_RUN_ONCE);
  return strcmp(w->last, sub) == 0;
}

/* An idle instance hears of work another accepted (LISTEN/NOTIFY), and of
 * a delivery re-queued. */
HL_TEST(an_accept_wakes_the_other_instance) {
  open_store();
  hl_store *other = open_pg(0, 0);
  work_rec w = {0};
  hl_store_pg_on_work(store, on_work, &w);
  const char *subs[] = {"sub_wake"};
  capture c = {0};
  hl_eq_accept ev = {.event_id = "evt-w1", .event_type = "T", .body = "{}", .body_len = 2, .subscription_ids = subs,
                     .nsubs = 1};
  other->vt->eq_accept(other, &ev, cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.status, 0);
  HL_ASSERT_MSG(run_until_work(&w, "sub_wake", 10000), "no notification; last: %s", w.last);
  capture got = claim(store, "sub_wake", 10);
  HL_ASSERT_EQ_INT(got.res.nitems, 1);
  hl_store_result_dispose(&got.res);
  close_other(other);
  close_store();
  hl_rmtree(dir);
}

/* A process killed while it holds claims: its rows are not handed out while
 * its lease lasts, then a live instance sweeps them back, is woken and
 * takes them, with the same event ids (the same webhook-id). */
HL_TEST_T(a_killed_processes_claims_come_back_after_its_lease, 120) {
  if (!srv.pid) HL_ASSERT_MSG(hl_pgsrv_start(&srv, NULL) == 0, "postgres did not start");
  int fds[2];
  HL_ASSERT(pipe(fds) == 0);
  pid_t child = fork();
  HL_ASSERT(child >= 0);
  if (child == 0) {
    close(fds[0]);
    uv_loop_init(&loop);
    hl_store *st = open_pg(1500, 0);
    accept_n(&st, 1, "evt-k", 10, "sub_k");
    capture c = claim(st, "sub_k", 100);
    char n = (char)c.res.nitems;
    if (write(fds[1], &n, 1) != 1) _exit(3);
    for (;;) pause(); /* holds them until killed */
  }
  close(fds[1]);
  char n = 0;
  HL_ASSERT(read(fds[0], &n, 1) == 1);
  HL_ASSERT_EQ_INT(n, 10);
  kill(child, SIGKILL);
  waitpid(child, NULL, 0);
  open_store();
  work_rec w = {0};
  hl_store_pg_on_work(store, on_work, &w);
  capture c = claim(store, "sub_k", 100);
  HL_ASSERT_EQ_INT(c.res.nitems, 0); /* the lease still runs */
  HL_ASSERT_EQ_INT(c.res.next_due_at, 0); /* and held rows are not "left" */
  HL_ASSERT_MSG(run_until_work(&w, "sub_k", 15000), "the sweep did not wake us; last: %s", w.last);
  c = claim(store, "sub_k", 100);
  HL_ASSERT_EQ_INT(c.res.nitems, 10);
  for (size_t i = 0; i < c.res.nitems; i++) HL_ASSERT(strncmp(c.res.items[i].d.event_id, "evt-k", 5) == 0);
  hl_store_result_dispose(&c.res);
  close_store();
  hl_rmtree(dir);
}

/* One value of a query on the test server, as text ("" for none). */
static void pg_text(const char *sql, const char *const *params, int n, char *out, size_t cap) {
  PGconn *pc = PQconnectdb(hl_pgsrv_url(&srv, "?sslmode=disable"));
  HL_ASSERT_MSG(PQstatus(pc) == CONNECTION_OK, "%s", PQerrorMessage(pc));
  PGresult *r = PQexecParams(pc, sql, n, NULL, params, NULL, NULL, 0);
  HL_ASSERT_MSG(PQresultStatus(r) == PGRES_TUPLES_OK || PQresultStatus(r) == PGRES_COMMAND_OK, "%s",
                PQresultErrorMessage(r));
  snprintf(out, cap, "%s", PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "");
  PQclear(r);
  PQfinish(pc);
}

/* A row marked ours by a claim this process never heard back from (the
 * connection dropped after its COMMIT, so the claim failed here): the
 * heartbeat renews only the rows held here, so its lease runs out, the
 * sweep gives it back and it is claimed again. The heartbeat renewed
 * every row of the owner, and such a row stayed taken as long as the
 * process lived. The row held here keeps its lease all along. */
HL_TEST_T(a_row_marked_ours_but_not_held_goes_back_after_its_lease, 120) {
  uv_loop_init(&loop);
  if (!dir) dir = hl_tmpdir("store");
  store = open_pg(1500, 0);
  accept_n(&store, 1, "evt-o", 2, "sub_o");
  capture c = claim(store, "sub_o", 1);
  HL_ASSERT_EQ_INT(c.res.nitems, 1);
  char held[32], lost[32];
  snprintf(held, sizeof held, "%s", c.res.items[0].d.event_id);
  snprintf(lost, sizeof lost, "%s", strcmp(held, "evt-o000") == 0 ? "evt-o001" : "evt-o000");
  hl_store_result_dispose(&c.res);
  /* What a claim whose answer was lost leaves: the row ours, leased. */
  char out[128];
  const char *p[] = {held, lost};
  pg_text("UPDATE event_delivery_status SET owner=(SELECT owner FROM event_delivery_status WHERE event_id=$1 AND "
          "subscription_id='sub_o'),lease_until=(extract(epoch from clock_timestamp())*1000)::bigint+1500 "
          "WHERE event_id=$2 AND subscription_id='sub_o' RETURNING owner",
          p, 2, out, sizeof out);
  HL_ASSERT(out[0] != '\0');
  work_rec w = {0};
  hl_store_pg_on_work(store, on_work, &w);
  HL_ASSERT_MSG(run_until_work(&w, "sub_o", 15000), "the row was not given back; last: %s", w.last);
  c = claim(store, "sub_o", 10);
  HL_ASSERT_EQ_INT(c.res.nitems, 1);
  HL_ASSERT_EQ_STR(c.res.items[0].d.event_id, lost);
  hl_store_result_dispose(&c.res);
  /* Its lease ran out meanwhile; the held row is still ours (renewed). */
  pg_text("SELECT owner IS NOT NULL AND lease_until>(extract(epoch from clock_timestamp())*1000)::bigint "
          "FROM event_delivery_status WHERE event_id=$1 AND subscription_id='sub_o'", p, 1, out, sizeof out);
  HL_ASSERT_EQ_STR(out, "t");
  close_store();
  hl_rmtree(dir);
}

/* A row whose lease ran out, swept back while this process hears no
 * notification (its listener's backend hangs): the sweep wakes the
 * subscription here too, so the row is claimed without waiting for the
 * listener to come back. The sweep only announced it through NOTIFY, and
 * the row waited for some other wake of its subscription. */
HL_TEST_T(a_swept_row_wakes_this_process_also_when_it_hears_no_notification, 120) {
  uv_loop_init(&loop);
  if (!dir) dir = hl_tmpdir("store");
  store = open_pg(1500, 0);
  work_rec w = {0};
  hl_store_pg_on_work(store, on_work, &w);
  /* The listener connects on its own, maybe after the store opened: the
   * accept comes once its LISTEN has run, or its NOTIFY is never sent to
   * it (and only the listener's "look at everything" would come). */
  char pid[16] = "";
  for (int waited = 0; atoi(pid) <= 0 && waited < 10000; waited += 20) {
    pg_text("SELECT pid::text FROM pg_stat_activity WHERE usename='" HL_PGSRV_USER "' AND query LIKE 'LISTEN%' "
            "AND state='idle'", NULL, 0, pid, sizeof pid);
    if (atoi(pid) <= 0) run_until_work(&w, "(never)", 20);
  }
  HL_ASSERT_MSG(atoi(pid) > 0, "no listener backend found");
  accept_n(&store, 1, "evt-s", 1, "sub_s");
  /* The accept's own NOTIFY is heard first, so none is left on the way. */
  HL_ASSERT_MSG(run_until_work(&w, "sub_s", 10000), "the accept was not heard; last: %s", w.last);
  HL_ASSERT_EQ_INT(kill((pid_t)atoi(pid), SIGSTOP), 0);
  memset(&w, 0, sizeof w);
  /* What a process that died holding the row leaves: another owner, a
   * lease about to end. */
  char out[64];
  pg_text("UPDATE event_delivery_status SET owner='gone/1/0',"
          "lease_until=(extract(epoch from clock_timestamp())*1000)::bigint+1000 "
          "WHERE event_id='evt-s000' AND subscription_id='sub_s' RETURNING owner",
          NULL, 0, out, sizeof out);
  HL_ASSERT_EQ_STR(out, "gone/1/0");
  bool woken = run_until_work(&w, "sub_s", 15000);
  kill((pid_t)atoi(pid), SIGCONT);
  HL_ASSERT_MSG(woken, "the sweep did not wake this process; last: %s", w.last);
  capture c = claim(store, "sub_s", 10);
  HL_ASSERT_EQ_INT(c.res.nitems, 1);
  HL_ASSERT_EQ_STR(c.res.items[0].d.event_id, "evt-s000");
  hl_store_result_dispose(&c.res);
  close_store();
  hl_rmtree(dir);
}

/* Bodies are the accepted bytes: bytea keeps what JSON re-encoding would
 * not (a NUL, bytes that are not UTF-8, a decimal's trailing zeros). */
HL_TEST(bodies_come_back_byte_for_byte) {
  open_store();
  static const char body[] = "{\"amount\": 123.4500, \"x\": \"\xff\xfe\", \"z\": \"a\0b\"}";
  const char *subs[] = {"sub_b"};
  hl_eq_accept ev = {.event_id = "evt-bytes", .event_type = "T", .body = body, .body_len = sizeof body - 1,
                     .subscription_ids = subs, .nsubs = 1};
  capture a = {0};
  store->vt->eq_accept(store, &ev, cap_cb, &a);
  run_until(&a);
  HL_ASSERT_EQ_INT(a.status, 0);
  capture c = claim(store, "sub_b", 1);
  HL_ASSERT_EQ_INT(c.res.nitems, 1);
  HL_ASSERT_EQ_INT(c.res.items[0].body_len, sizeof body - 1);
  HL_ASSERT(memcmp(c.res.items[0].body, body, sizeof body - 1) == 0);
  hl_store_result_dispose(&c.res);
  close_store();
  hl_rmtree(dir);
}

/* A lookup by a delivery's key (the duplicate check here; the outcome's
 * update is the same shape) reads the primary key even when its statement
 * was planned on an empty table that has no statistics yet, as on a new
 * database: the plan is kept while the table grows, until an ANALYZE that
 * autovacuum makes only later. Before migration 16 that plan used the
 * search index, whose probe walks every entry of the subscription (its
 * third column is the event id): ~1,000 a check here, up to 40,000 in the
 * 40,000-record drain of bench/peers/kafka_drain.sh on a new database. The
 * statistics are read after the store's backends end, which flushes them. */
HL_TEST(lookups_by_key_read_the_primary_key_when_planned_on_an_empty_table) {
  if (srv.pid) hl_pgsrv_destroy(&srv); /* a new cluster: no statistics from the tests before */
  memset(&srv, 0, sizeof srv);
  open_store();
  HL_ASSERT(hl_pgsrv_exec(&srv, "ALTER TABLE event_delivery_status SET (autovacuum_enabled = false)", NULL, 0) == 0);
  enum { ROWS = 2000, CHECKS = 200, EARLY = 24 };
  static capture c[CHECKS], w[ROWS];
  char id[32];
  /* Planned on the empty table, on each pooled connection, past the five
   * runs after which PostgreSQL keeps a generic plan. */
  memset(c, 0, sizeof c);
  for (int i = 0; i < EARLY; i += 2) { /* one check alone, then two in a turn (one merged statement) */
    snprintf(id, sizeof id, "pk-none-%d", i);
    store->vt->delivered_get(store, id, "sub_pk", 0, cap_cb, &c[i]);
    run_until(&c[i]);
    HL_ASSERT_EQ_INT(c[i].status, HL_ENOTFOUND);
    c[i] = (capture){0};
    store->vt->delivered_get(store, id, "sub_pk", 0, cap_cb, &c[i + 1]);
    store->vt->delivered_get(store, "pk-none", "sub_pk", 0, cap_cb, &c[i]);
    run_until(&c[i]);
    run_until(&c[i + 1]);
    HL_ASSERT_EQ_INT(c[i].status, HL_ENOTFOUND);
    HL_ASSERT_EQ_INT(c[i + 1].status, HL_ENOTFOUND);
  }
  memset(w, 0, sizeof w);
  for (int i = 0; i < ROWS; i++) {
    snprintf(id, sizeof id, "pk-%d", i);
    hl_delivery_rec r = {.event_id = id, .subscription_id = "sub_pk", .status = "SUCCESS", .attempts = 1,
                         .updated_at = 1000 + i, .delivered = true};
    store->vt->delivery_put(store, &r, cap_cb, &w[i]);
  }
  for (int i = 0; i < ROWS; i++) {
    run_until(&w[i]);
    HL_ASSERT_EQ_INT(w[i].status, 0);
  }
  memset(c, 0, sizeof c);
  for (int i = 0; i < CHECKS; i++) {
    snprintf(id, sizeof id, "pk-%d", i * (ROWS / CHECKS));
    store->vt->delivered_get(store, id, "sub_pk", 0, cap_cb, &c[i]);
  }
  for (int i = 0; i < CHECKS; i++) {
    run_until(&c[i]);
    HL_ASSERT_EQ_INT(c[i].status, 0);
    hl_store_result_dispose(&c[i].res);
  }
  close_store();
  char out[64] = "";
  for (int i = 0; i < 100 && strcmp(out, "0") != 0; i++) { /* the store's backends gone */
    if (i) hl_sleep_ms(50);
    HL_ASSERT(hl_pgsrv_exec(&srv, "SELECT count(*)::text FROM pg_stat_activity WHERE usename = 'hookloop'", out,
                            sizeof out) == 0);
  }
  HL_ASSERT_EQ_STR(out, "0");
  long pk_scans = 0, search_scans = -1;
  for (int i = 0; i < 40 && pk_scans < CHECKS; i++) {
    if (i) hl_sleep_ms(50);
    HL_ASSERT(hl_pgsrv_exec(&srv, "SELECT coalesce(sum(idx_scan) FILTER (WHERE indexrelname = "
                            "'event_delivery_status_pkey'), 0)::text || ' ' || coalesce(sum(idx_scan) "
                            "FILTER (WHERE indexrelname IN ('event_delivery_status_by_sub', "
                            "'event_delivery_status_search')), 0)::text "
                            "FROM pg_stat_user_indexes WHERE relname = 'event_delivery_status'",
                            out, sizeof out) == 0);
    HL_ASSERT(sscanf(out, "%ld %ld", &pk_scans, &search_scans) == 2);
  }
  HL_ASSERT_MSG(pk_scans >= CHECKS, "the statistics show %ld scans of the primary key", pk_scans); /* flushed */
  HL_ASSERT_MSG(search_scans == 0, "%ld lookups went through the search index", search_scans);
  hl_rmtree(dir);
}

/* A counter or gauge of the store's /metrics text. */
static unsigned long long pg_metric(const char *name) {
  hl_buf b = HL_BUF_INIT;
  store->vt->render_metrics(store, &b);
  char pat[128];
  snprintf(pat, sizeof pat, "\n%s ", name);
  const char *p = strstr(b.data, pat);
  HL_ASSERT_MSG(p != NULL, "no %s in the metrics", name);
  unsigned long long v = strtoull(p + strlen(pat), NULL, 10);
  hl_buf_dispose(&b);
  return v;
}

/* A turn's status writes, attempt writes and duplicate checks go as one
 * statement of each kind; two writes of one key in a turn stay in order;
 * a check sent after a write in the same turn sees it. */
HL_TEST(a_turns_writes_and_checks_are_one_statement_each) {
  open_store();
  enum { N = 100 };
  static capture w[N], a[N], c[N];
  char ids[N][24];
  memset(w, 0, sizeof w);
  memset(a, 0, sizeof a);
  unsigned long long st0 = pg_metric("hookloop_postgres_statements_total");
  unsigned long long rows0 = pg_metric("hookloop_postgres_merged_rows_total");
  for (int i = 0; i < N; i++) {
    snprintf(ids[i], sizeof ids[i], "mg-%d", i);
    hl_delivery_rec r = {.event_id = ids[i], .subscription_id = "sub_m", .status = "SUCCESS", .attempts = 1,
                         .last_status_code = 200, .updated_at = 5000 + i, .delivered = true};
    store->vt->delivery_put(store, &r, cap_cb, &w[i]);
    hl_attempt_rec at = {.event_id = ids[i], .subscription_id = "sub_m", .attempt = 1, .at_ms = 5000 + i,
                         .status_code = 200, .latency_ms = i, .headers_json = "{}", .body = "ok"};
    store->vt->attempt_put(store, &at, cap_cb, &a[i]);
  }
  for (int i = 0; i < N; i++) {
    run_until(&w[i]);
    run_until(&a[i]);
    HL_ASSERT_EQ_INT(w[i].status, 0);
    HL_ASSERT_EQ_INT(a[i].status, 0);
  }
  unsigned long long st1 = pg_metric("hookloop_postgres_statements_total");
  HL_ASSERT_MSG(st1 - st0 <= 4, "%llu statements for %d status and %d attempt writes", st1 - st0, N, N);
  HL_ASSERT_EQ_INT((int)(pg_metric("hookloop_postgres_merged_rows_total") - rows0), 2 * N);

  /* Checks: every other one of a row never written; each gets its own answer. */
  memset(c, 0, sizeof c);
  for (int i = 0; i < N; i++)
    store->vt->delivered_get(store, i % 2 ? "mg-none" : ids[i], "sub_m", 0, cap_cb, &c[i]);
  for (int i = 0; i < N; i++) {
    run_until(&c[i]);
    HL_ASSERT_MSG(c[i].status == (i % 2 ? HL_ENOTFOUND : 0), "check %d: %d", i, c[i].status);
    hl_store_result_dispose(&c[i].res);
  }
  unsigned long long st2 = pg_metric("hookloop_postgres_statements_total");
  HL_ASSERT_MSG(st2 - st1 <= 2, "%llu statements for %d checks", st2 - st1, N);

  /* What was merged reads back whole. */
  capture l = {0};
  store->vt->attempt_list(store, "mg-42", "sub_m", cap_cb, &l);
  run_until(&l);
  HL_ASSERT_EQ_INT(l.status, 0);
  HL_ASSERT_EQ_INT((int)l.res.nattempts, 1);
  HL_ASSERT_EQ_INT((int)l.res.attempts[0].latency_ms, 42);
  HL_ASSERT_EQ_STR(l.res.attempts[0].body, "ok");
  hl_store_result_dispose(&l.res);
  memset(&l, 0, sizeof l);
  store->vt->delivery_list(store, "mg-7", cap_cb, &l);
  run_until(&l);
  HL_ASSERT_EQ_INT((int)l.res.ndeliveries, 1);
  HL_ASSERT_EQ_INT((int)l.res.deliveries[0].updated_at, 5007);
  hl_store_result_dispose(&l.res);

  /* One key written twice in a turn, then checked in it: the later write
   * stands, the check sees it, and nothing failed on the way. */
  unsigned long long fb0 = pg_metric("hookloop_postgres_merge_fallbacks_total");
  capture x = {0}, y = {0}, z = {0}, q = {0};
  hl_delivery_rec r1 = {.event_id = "mg-twice", .subscription_id = "sub_m", .status = "RETRYING", .attempts = 1,
                        .updated_at = 1};
  hl_delivery_rec r2 = {.event_id = "mg-twice", .subscription_id = "sub_m", .status = "SUCCESS", .attempts = 2,
                        .updated_at = 2, .delivered = true};
  hl_delivery_rec r3 = {.event_id = "mg-once", .subscription_id = "sub_m", .status = "SUCCESS", .attempts = 1};
  store->vt->delivery_put(store, &r1, cap_cb, &x);
  store->vt->delivery_put(store, &r3, cap_cb, &z);
  store->vt->delivery_put(store, &r2, cap_cb, &y);
  store->vt->delivered_get(store, "mg-twice", "sub_m", 0, cap_cb, &q);
  run_until(&x);
  run_until(&y);
  run_until(&z);
  run_until(&q);
  HL_ASSERT_EQ_INT(x.status, 0);
  HL_ASSERT_EQ_INT(y.status, 0);
  HL_ASSERT_EQ_INT(z.status, 0);
  HL_ASSERT_EQ_INT(q.status, 0);
  hl_store_result_dispose(&q.res);
  HL_ASSERT_EQ_INT((int)(pg_metric("hookloop_postgres_merge_fallbacks_total") - fb0), 0);
  memset(&l, 0, sizeof l);
  store->vt->delivery_list(store, "mg-twice", cap_cb, &l);
  run_until(&l);
  HL_ASSERT_EQ_INT((int)l.res.ndeliveries, 1);
  HL_ASSERT_EQ_STR(l.res.deliveries[0].status, "SUCCESS");
  HL_ASSERT_EQ_INT((int)l.res.deliveries[0].attempts, 2);
  hl_store_result_dispose(&l.res);
  close_store();
}

/* The embedded queue's outcomes of a turn go as one statement: each row
 * is answered for itself (one that does not exist is HL_ENOTFOUND and is
 * not created), and terminal rows give up their lease. */
HL_TEST(a_turns_queue_outcomes_are_one_statement) {
  open_store();
  enum { N = 20 };
  const char *subs[] = {"sub_q"};
  char ids[N][24];
  for (int i = 0; i < N; i++) {
    snprintf(ids[i], sizeof ids[i], "mq-%d", i);
    accept_event(ids[i], subs, 1, 0);
  }
  capture c = {0};
  store->vt->eq_claim(store, "sub_q", N, hl_wall_ms(), cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT((int)c.res.nitems, N);
  hl_store_result_dispose(&c.res);
  int64_t backlog0 = store->vt->eq_backlog(store);
  unsigned long long st0 = pg_metric("hookloop_postgres_statements_total");
  capture u[N + 1];
  memset(u, 0, sizeof u);
  int64_t now = hl_wall_ms();
  for (int i = 0; i <= N; i++) {
    /* The last of the claimed ones stays open (a retry this process keeps);
     * one more was never accepted. */
    hl_delivery_rec r = {.event_id = i < N ? ids[i] : "mq-404", .subscription_id = "sub_q",
                         .status = i == N - 1 ? "RETRYING" : "SUCCESS", .attempts = 1, .last_status_code = 200,
                         .last_latency_ms = i, .updated_at = now, .next_attempt_at = now + 60000};
    store->vt->eq_update(store, &r, false, cap_cb, &u[i]);
  }
  for (int i = 0; i <= N; i++) {
    run_until(&u[i]);
    HL_ASSERT_MSG(u[i].status == (i < N ? 0 : HL_ENOTFOUND), "update %d: %d", i, u[i].status);
  }
  unsigned long long st1 = pg_metric("hookloop_postgres_statements_total");
  HL_ASSERT_MSG(st1 - st0 <= 2, "%llu statements for %d outcomes", st1 - st0, N + 1);
  HL_ASSERT_EQ_INT((int)(backlog0 - store->vt->eq_backlog(store)), N - 1);
  char out[64];
  HL_ASSERT(hl_pgsrv_exec(&srv, "SELECT count(*) FILTER (WHERE status='SUCCESS' AND owner IS NULL AND lease_until=0)"
                          "::text || ' ' || count(*) FILTER (WHERE status='RETRYING' AND owner IS NOT NULL AND "
                          "lease_until>0)::text || ' ' || count(*) FILTER (WHERE event_id='mq-404')::text "
                          "FROM event_delivery_status WHERE event_id LIKE 'mq-%'", out, sizeof out) == 0);
  char want[32];
  snprintf(want, sizeof want, "%d 1 0", N - 1);
  HL_ASSERT_EQ_STR(out, want);
  capture l = {0};
  store->vt->delivery_list(store, "mq-7", cap_cb, &l);
  run_until(&l);
  HL_ASSERT_EQ_INT((int)l.res.ndeliveries, 1);
  HL_ASSERT_EQ_INT((int)l.res.deliveries[0].last_latency_ms, 7);
  HL_ASSERT_EQ_INT((int)l.res.deliveries[0].last_status_code, 200);
  hl_store_result_dispose(&l.res);
  close_store();
}

/* Claims up to limit of sub's deliveries: n come back, and nothing is left
 * to fall due later. */
static void claim_expect(const char *sub, size_t limit, int n) {
  capture c = {0};
  store->vt->eq_claim(store, sub, limit, hl_wall_ms(), cap_cb, &c);
  run_until(&c);
  HL_ASSERT_EQ_INT(c.status, 0);
  HL_ASSERT_EQ_INT((int)c.res.nitems, n);
  HL_ASSERT_EQ_INT((int)c.res.next_due_at, 0);
  hl_store_result_dispose(&c.res);
}

/* A full claim is one statement; only a short one then asks when the rest
 * falls due (a probe that walks the index past every row claimed since the
 * last vacuum), and still answers with it. */
HL_TEST(only_a_short_claim_asks_when_the_rest_falls_due) {
  open_store();
  const char *subs[] = {"sub_nd"};
  char id[24];
  for (int i = 0; i < 5; i++) {
    snprintf(id, sizeof id, "nd-%d", i);
    accept_event(id, subs, 1, 0);
  }
  unsigned long long st0 = pg_metric("hookloop_postgres_statements_total");
  claim_expect("sub_nd", 3, 3);
  unsigned long long st1 = pg_metric("hookloop_postgres_statements_total");
  HL_ASSERT_EQ_INT((int)(st1 - st0), 1);
  claim_expect("sub_nd", 4, 2); /* short: 2 of the 4 asked for, and nothing else open */
  HL_ASSERT_EQ_INT((int)(pg_metric("hookloop_postgres_statements_total") - st1), 2);
  close_store();
}

/* A merged write that fails is sent again row by row: the row at fault
 * gets the error, the others of its turn commit. */
HL_TEST(a_failing_row_of_a_merged_write_fails_alone) {
  open_store();
  enum { N = 10, BAD = 6 };
  capture w[N];
  memset(w, 0, sizeof w);
  char ids[N][24];
  unsigned long long fb0 = pg_metric("hookloop_postgres_merge_fallbacks_total");
  for (int i = 0; i < N; i++) {
    snprintf(ids[i], sizeof ids[i], "mf-%d", i);
    /* The status is NOT NULL in the table. */
    hl_delivery_rec r = {.event_id = ids[i], .subscription_id = "sub_f", .status = i == BAD ? NULL : "SUCCESS",
                         .attempts = 1};
    store->vt->delivery_put(store, &r, cap_cb, &w[i]);
  }
  for (int i = 0; i < N; i++) {
    run_until(&w[i]);
    HL_ASSERT_MSG(w[i].status == (i == BAD ? HL_ESTORE : 0), "write %d: %d", i, w[i].status);
  }
  HL_ASSERT_EQ_INT((int)(pg_metric("hookloop_postgres_merge_fallbacks_total") - fb0), 1);
  for (int i = 0; i < N; i++) {
    capture l = {0};
    store->vt->delivery_list(store, ids[i], cap_cb, &l);
    run_until(&l);
    HL_ASSERT_EQ_INT((int)l.res.ndeliveries, i == BAD ? 0 : 1);
    hl_store_result_dispose(&l.res);
  }
  close_store();
}

/* The schema version is recorded once, and opening again (another process
 * starting) applies nothing twice. */
HL_TEST(migrations_are_versioned_and_idempotent) {
  open_store();
  hl_store *other = open_pg(0, 0);
  close_other(other);
  close_store();
  open_store();
  char out[64] = "";
  /* Each version recorded once however often the store opened; numbers
   * may leave gaps (reserved for other changes). */
  HL_ASSERT(hl_pgsrv_exec(&srv, "SELECT (count(*) - count(DISTINCT version))::text || ':' || max(version)::text "
                          "FROM hookloop_schema_version", out, sizeof out) == 0);
  char want[32];
  snprintf(want, sizeof want, "0:%d", HL_STORE_PG_SCHEMA_VERSION);
  HL_ASSERT_EQ_STR(out, want);
  /* The due-retry index is there and is what a claim uses. */
  HL_ASSERT(hl_pgsrv_exec(&srv, "SELECT count(*)::text FROM pg_indexes WHERE indexname='event_delivery_status_due'",
                          out, sizeof out) == 0);
  HL_ASSERT_EQ_STR(out, "1");
  close_store();
  hl_rmtree(dir);
}

/* A database of version 16, whose retention window had an index of
 * accepted_at alone, is upgraded at open: the window's index of
 * (accepted_at, event_id) takes its place, and the window is one range of
 * it. */
HL_TEST(an_existing_database_gets_the_event_window_index) {
  open_store();
  close_store();
  HL_ASSERT(hl_pgsrv_exec(&srv, "DROP INDEX hookloop_event_accepted_id; "
                          "CREATE INDEX hookloop_event_accepted ON hookloop_event(accepted_at); "
                          "DELETE FROM hookloop_schema_version WHERE version>16", NULL, 0) == 0);
  open_store();
  char out[256] = "", want[32];
  HL_ASSERT(hl_pgsrv_exec(&srv, "SELECT max(version)::text FROM hookloop_schema_version", out, sizeof out) == 0);
  snprintf(want, sizeof want, "%d", HL_STORE_PG_SCHEMA_VERSION);
  HL_ASSERT_EQ_STR(out, want);
  HL_ASSERT(hl_pgsrv_exec(&srv, "SELECT string_agg(indexname, ',' ORDER BY indexname) FROM pg_indexes "
                          "WHERE tablename='hookloop_event'", out, sizeof out) == 0);
  HL_ASSERT_EQ_STR(out, "hookloop_event_accepted_id,hookloop_event_pkey");
  /* The window's shape, planned as on a large table: both of its bounds
   * are the index scan's, none a filter of the rows it reads. */
  char plan[4096] = "";
  HL_ASSERT(hl_pgsrv_exec(&srv, "SET enable_seqscan=off; SET enable_bitmapscan=off; EXPLAIN (FORMAT JSON) "
                          "SELECT event_id,accepted_at FROM hookloop_event WHERE accepted_at<2000 "
                          "AND (accepted_at,event_id)>(1000,'x'::text) ORDER BY accepted_at,event_id LIMIT 500",
                          plan, sizeof plan) == 0);
  HL_ASSERT_MSG(strstr(plan, "\"Index Name\": \"hookloop_event_accepted_id\"") &&
                strstr(plan, "\"Index Cond\": \"((accepted_at < 2000) AND (ROW(accepted_at, event_id) > ") &&
                !strstr(plan, "\"Filter\""), "%s", plan);
  close_store();
  hl_rmtree(dir);
}

/* PostgreSQL goes away while outcomes are being recorded: they wait, are
 * sent again once it is back, and every one lands. */
HL_TEST_T(recorded_outcomes_survive_a_server_restart, 120) {
  uv_loop_init(&loop);
  dir = hl_tmpdir("store");
  store = open_pg(0, 1000);
  enum { N = 20 };
  accept_n(&store, 1, "evt-r", N, "sub_r");
  capture c = claim(store, "sub_r", N);
  HL_ASSERT_EQ_INT(c.res.nitems, N);
  capture up[N];
  memset(up, 0, sizeof up);
  for (int i = 0; i < N; i++) {
    hl_delivery_rec r = c.res.items[i].d;
    r.status = "SUCCESS";
    r.attempts = 1;
    r.last_status_code = 200;
    store->vt->eq_update(store, &r, false, cap_cb, &up[i]);
  }
  HL_ASSERT(hl_pgsrv_stop(&srv) == 0);
  /* Longer than wait_ms: the statements fail UNAVAILABLE and are sent again. */
  uv_timer_t t;
  uv_timer_init(&loop, &t);
  uv_timer_start(&t, tick_stop, 2500, 0);
  while (uv_is_active((uv_handle_t *)&t)) uv_run(&loop, UV_RUN_ONCE);
  for (int i = 0; i < N; i++) HL_ASSERT_EQ_INT(up[i].calls, 0);
  HL_ASSERT(hl_pgsrv_resume(&srv) == 0);
  for (int i = 0; i < N; i++) run_until(&up[i]);
  for (int i = 0; i < N; i++) HL_ASSERT_EQ_INT(up[i].status, 0);
  int tclosed = 0;
  t.data = &tclosed;
  uv_close((uv_handle_t *)&t, on_tick_closed);
  while (!tclosed) uv_run(&loop, UV_RUN_ONCE);
  hl_store_result_dispose(&c.res);
  HL_ASSERT_EQ_INT(store->vt->eq_backlog(store), 0);
  char out[32] = "";
  HL_ASSERT(hl_pgsrv_exec(&srv, "SELECT count(*)::text FROM event_delivery_status WHERE status='SUCCESS'", out,
                          sizeof out) == 0);
  HL_ASSERT_EQ_STR(out, "20");
  close_store();
  hl_rmtree(dir);
}
#endif
