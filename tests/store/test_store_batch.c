/* The SQLite store's batched writes (store/hl_sqlite_batch.h): status rows
 * (delivery_put) and attempt rows (attempt_put) of a turn are written by
 * multi-row statements before the COMMIT. Against a real SQLite file:
 * each row's callback hears its own outcome, in the order asked, only once
 * the row is committed; a read in the same turn sees the rows asked for
 * before it; a row that fails costs only itself; a process that dies right
 * after its answers loses none of them. The idempotency ledger's entries
 * and reads are batched the same way. */
#include "hl_test.h"
#include "hl_testutil.h"
#include "common/hl_common.h"
#include "store/hl_store_sqlite.h"
#include "sqlite_peek.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

static uv_loop_t loop;
static hl_store *store;
static char *dir;

typedef struct {
  int calls;
  int status;
  int order;  /* the callback's rank among all of the test's callbacks */
  hl_store_result res;
} capture;

static int answered;

static void cap_cb(void *data, int status, hl_store_result *res) {
  capture *c = data;
  c->calls++;
  c->status = status;
  c->order = answered++;
  c->res = *res;
  *res = (hl_store_result){0};
}

static void open_store(void) {
  char err[256] = "";
  uv_loop_init(&loop);
  dir = hl_tmpdir("store-batch");
  int rc = hl_store_sqlite_open(&loop, dir, NULL, &store, err, sizeof err);
  HL_ASSERT_MSG(rc == 0, "open: %s", err);
  answered = 0;
}

static void on_closed(void *data) { *(int *)data = 1; }

static void close_store(void) {
  int closed = 0;
  store->vt->close(store, on_closed, &closed);
  while (!closed && uv_run(&loop, UV_RUN_ONCE)) {}
  uv_run(&loop, UV_RUN_DEFAULT);
  HL_ASSERT_EQ_INT(uv_loop_close(&loop), 0);
  hl_rmtree(dir);
  free(dir);
  dir = NULL;
}

static void run_until_answered(int n) {
  for (int i = 0; i < 100000 && answered < n; i++) uv_run(&loop, UV_RUN_ONCE);
  HL_ASSERT_EQ_INT(answered, n);
}

/* Rows of table whose event_id starts with prefix, counted by another
 * connection: committed rows only. */
static int committed(const char *table, const char *prefix) {
  return sqlite_peek_prefix(dir, table, "event_id", prefix);
}

static void put_delivery(const char *event_id, int64_t attempts, capture *c) {
  hl_delivery_rec r = {.event_id = (char *)event_id, .subscription_id = "sub_a", .status = "SUCCESS",
                       .attempts = attempts, .last_status_code = 200, .last_latency_ms = 4, .updated_at = 1000};
  store->vt->delivery_put(store, &r, cap_cb, c);
}

static void put_attempt(const char *event_id, int64_t attempt, const char *body, capture *c) {
  hl_attempt_rec a = {.event_id = (char *)event_id, .subscription_id = "sub_a", .attempt = attempt, .at_ms = 1000,
                      .status_code = 200, .latency_ms = 4, .headers_json = "{\"x\":\"1\"}", .body = (char *)body};
  store->vt->attempt_put(store, &a, cap_cb, c);
}

/* One turn: five status rows and five attempt rows, the third of each
 * without an event id (NOT NULL): that row alone fails, the others are
 * committed, and every callback gets its own outcome in the order asked. */
HL_TEST(a_failing_row_costs_only_itself_and_outcomes_keep_their_order) {
  open_store();
  capture d[5] = {0}, a[5] = {0};
  char id[5][32];
  for (int i = 0; i < 5; i++) {
    snprintf(id[i], sizeof id[i], "fail-%d", i);
    put_delivery(i == 2 ? NULL : id[i], i + 1, &d[i]);
    put_attempt(i == 2 ? NULL : id[i], 1, "ok", &a[i]);
  }
  HL_ASSERT_EQ_INT(answered, 0); /* never from inside the call */
  run_until_answered(10);
  for (int i = 0; i < 5; i++) {
    HL_ASSERT_EQ_INT(d[i].calls, 1);
    HL_ASSERT_EQ_INT(a[i].calls, 1);
    HL_ASSERT_EQ_INT(d[i].status, (i == 2 ? HL_EEXISTS : 0));
    HL_ASSERT_EQ_INT(a[i].status, (i == 2 ? HL_EEXISTS : 0));
    HL_ASSERT_EQ_INT(d[i].order, 2 * i);
    HL_ASSERT_EQ_INT(a[i].order, 2 * i + 1);
  }
  HL_ASSERT_EQ_INT(committed("event_delivery_status", "fail-"), 4);
  HL_ASSERT_EQ_INT(sqlite_peek_attempts(dir, "fail-"), 4);
  /* Each row holds its own values. */
  for (int i = 0; i < 5; i++) {
    if (i == 2) continue;
    capture l = {0};
    store->vt->delivery_list(store, id[i], cap_cb, &l);
    run_until_answered(answered + 1);
    HL_ASSERT_EQ_INT((int)l.res.ndeliveries, 1);
    HL_ASSERT_EQ_INT((int)l.res.deliveries[0].attempts, i + 1);
    hl_store_result_dispose(&l.res);
  }
  close_store();
}

/* A read in the same turn as the writes before it sees them, though the
 * writes wait for the end of the turn. */
HL_TEST(a_read_in_the_same_turn_sees_the_rows_asked_for_before_it) {
  open_store();
  capture d = {0}, a = {0}, dl = {0}, al = {0};
  put_delivery("same-turn", 3, &d);
  put_attempt("same-turn", 3, "third", &a);
  store->vt->delivery_list(store, "same-turn", cap_cb, &dl);
  store->vt->attempt_list(store, "same-turn", "sub_a", cap_cb, &al);
  run_until_answered(4);
  HL_ASSERT_EQ_INT(dl.status, 0);
  HL_ASSERT_EQ_INT((int)dl.res.ndeliveries, 1);
  HL_ASSERT_EQ_STR(dl.res.deliveries[0].status, "SUCCESS");
  HL_ASSERT_EQ_INT((int)dl.res.deliveries[0].attempts, 3);
  HL_ASSERT_EQ_INT(al.status, 0);
  HL_ASSERT_EQ_INT((int)al.res.nattempts, 1);
  HL_ASSERT_EQ_STR(al.res.attempts[0].body, "third");
  hl_store_result_dispose(&dl.res);
  hl_store_result_dispose(&al.res);
  close_store();
}

/* More rows in one turn than a statement takes (64, 64, 16, 4, 2, 1 rows
 * for 151), the same key twice among them (the later write wins, as it
 * would written alone), and empty text kept as empty, not NULL. */
HL_TEST(a_turn_of_more_rows_than_a_statement_writes_them_all) {
  open_store();
  enum { N = 151 };
  static capture d[N], a[N];
  memset(d, 0, sizeof d);
  memset(a, 0, sizeof a);
  char id[N][32];
  for (int i = 0; i < N; i++) {
    snprintf(id[i], sizeof id[i], "many-%03d", i);
    put_delivery(i == 100 ? id[7] : id[i], i, &d[i]); /* row 100 rewrites row 7's */
    put_attempt(id[i], 1, i % 2 ? "" : "even", &a[i]);
  }
  run_until_answered(2 * N);
  for (int i = 0; i < N; i++) {
    HL_ASSERT_EQ_INT(d[i].status, 0);
    HL_ASSERT_EQ_INT(a[i].status, 0);
    HL_ASSERT_EQ_INT(d[i].order, 2 * i);
  }
  HL_ASSERT_EQ_INT(committed("event_delivery_status", "many-"), N - 1);
  HL_ASSERT_EQ_INT(sqlite_peek_attempts(dir, "many-"), N);
  capture l = {0}, al = {0};
  store->vt->delivery_list(store, id[7], cap_cb, &l);
  store->vt->attempt_list(store, id[151 - 2], "sub_a", cap_cb, &al);
  run_until_answered(2 * N + 2);
  HL_ASSERT_EQ_INT((int)l.res.ndeliveries, 1);
  HL_ASSERT_EQ_INT((int)l.res.deliveries[0].attempts, 100);
  HL_ASSERT_EQ_INT((int)al.res.nattempts, 1);
  HL_ASSERT_MSG(al.res.attempts[0].body && al.res.attempts[0].body[0] == '\0', "an empty body came back as %s",
                al.res.attempts[0].body ? al.res.attempts[0].body : "NULL");
  hl_store_result_dispose(&l.res);
  hl_store_result_dispose(&al.res);
  close_store();
}

/* Committed ledger entries whose key starts with prefix. */
static int committed_ledger(const char *prefix) {
  return sqlite_peek_prefix(dir, "idempotency_ledger", "idempotency_key", prefix);
}

/* The ledger's entries and reads of a turn are each written and read by
 * one statement per 64. In one turn: 100 entries written (the first 64
 * fill a statement on their own, the rest wait), one already expired, one
 * written twice (the later wins); then 150 reads, more than two
 * statements take: every entry written before them is seen, with its own
 * status, whether its write waited or not; an absent or expired key is
 * not found; a key read twice is answered twice; every answer comes in the
 * order asked, after the COMMIT. */
HL_TEST(the_ledger_reads_of_a_turn_see_the_entries_written_before_them) {
  open_store();
  enum { W = 100, R = 150 };
  static capture w[W + 2], r[R];
  memset(w, 0, sizeof w);
  memset(r, 0, sizeof r);
  int64_t later = hl_wall_ms() / 1000 + 3600;
  char key[64], status[32];
  for (int i = 0; i < W; i++) {
    snprintf(key, sizeof key, "led-%03d", i);
    snprintf(status, sizeof status, "S%d", i);
    store->vt->ledger_put(store, key, status, i % 3 ? later : 0, true, cap_cb, &w[i]);
  }
  store->vt->ledger_put(store, "led-exp", "OLD", 1, true, cap_cb, &w[W]);
  store->vt->ledger_put(store, "led-007", "REWRITTEN", later, true, cap_cb, &w[W + 1]);
  HL_ASSERT_EQ_INT(committed_ledger("led-"), 0); /* nothing is committed inside the turn */
  for (int i = 0; i < R; i++) {
    if (i < W) snprintf(key, sizeof key, "led-%03d", i);
    else if (i == W) snprintf(key, sizeof key, "led-exp");
    else if (i < W + 10) snprintf(key, sizeof key, "led-%03d", i - W); /* read again */
    else snprintf(key, sizeof key, "absent-%d", i);
    store->vt->ledger_get(store, key, cap_cb, &r[i]);
  }
  HL_ASSERT_EQ_INT(answered, 0);
  run_until_answered(W + 2 + R);
  for (int i = 0; i < W + 2; i++) {
    HL_ASSERT_EQ_INT(w[i].status, 0);
    HL_ASSERT_EQ_INT(w[i].order, i);
  }
  for (int i = 0; i < R; i++) {
    HL_ASSERT_EQ_INT(r[i].calls, 1);
    HL_ASSERT_EQ_INT(r[i].order, W + 2 + i);
    int of = i < W ? i : i > W && i < W + 10 ? i - W : -1;
    if (of < 0) {
      HL_ASSERT_MSG(r[i].status == HL_ENOTFOUND && r[i].res.value == NULL, "read %d: status %d, value %s", i,
                    r[i].status, r[i].res.value ? r[i].res.value : "NULL");
      continue;
    }
    snprintf(status, sizeof status, "S%d", of);
    HL_ASSERT_EQ_INT(r[i].status, 0);
    HL_ASSERT_EQ_STR(r[i].res.value, of == 7 ? "REWRITTEN" : status);
    hl_store_result_dispose(&r[i].res);
  }
  HL_ASSERT_EQ_INT(committed_ledger("led-"), W + 1);
  close_store();
}

/* An entry that must not overwrite (ledger_put with overwrite false) meets
 * one asked for before it in the same turn, though that one waits in the
 * turn's batch: it is refused, and the first entry stays. */
HL_TEST(a_conditional_ledger_entry_meets_one_written_before_it_in_the_turn) {
  open_store();
  capture first = {0}, second = {0}, read = {0};
  store->vt->ledger_put(store, "cond-1", "FIRST", 0, true, cap_cb, &first);
  store->vt->ledger_put(store, "cond-1", "SECOND", 0, false, cap_cb, &second);
  store->vt->ledger_get(store, "cond-1", cap_cb, &read);
  run_until_answered(3);
  HL_ASSERT_EQ_INT(first.status, 0);
  HL_ASSERT_EQ_INT(second.status, HL_EEXISTS);
  HL_ASSERT_EQ_INT(read.status, 0);
  HL_ASSERT_EQ_STR(read.res.value, "FIRST");
  hl_store_result_dispose(&read.res);
  close_store();
}

/* Runs sql on the store's file through a connection of its own (the
 * store closed). */
static void raw_sql(const char *sql) {
  char path[4096];
  snprintf(path, sizeof path, "%s/hookloop.db", dir);
  sqlite3 *db = NULL;
  HL_ASSERT(sqlite3_open(path, &db) == SQLITE_OK);
  char *err = NULL;
  int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
  HL_ASSERT_MSG(rc == SQLITE_OK, "%s: %s", sql, err ? err : "?");
  sqlite3_close(db);
}

static void close_keeping_files(void) {
  int closed = 0;
  store->vt->close(store, on_closed, &closed);
  while (!closed && uv_run(&loop, UV_RUN_ONCE)) {}
  uv_run(&loop, UV_RUN_DEFAULT);
  HL_ASSERT_EQ_INT(uv_loop_close(&loop), 0);
}

static void reopen_store(void) {
  char err[256] = "";
  uv_loop_init(&loop);
  int rc = hl_store_sqlite_open(&loop, dir, NULL, &store, err, sizeof err);
  HL_ASSERT_MSG(rc == 0, "reopen: %s", err);
  answered = 0;
}

static hl_store_result list_attempts(const char *event_id) {
  capture l = {0};
  int before = answered;
  store->vt->attempt_list(store, event_id, "sub_a", cap_cb, &l);
  run_until_answered(before + 1);
  HL_ASSERT_EQ_INT(l.status, 0);
  return l.res;
}

/* The Kafka path's order: a new delivery's attempt is logged before its
 * first status row is asked for, in the same turn, here for 100
 * deliveries (more than a statement writes). Each attempt row finds its
 * delivery (it is keyed by the delivery's rowid): each is listed. */
HL_TEST(attempts_logged_before_their_deliverys_first_status_row_are_kept) {
  open_store();
  enum { N = 100 };
  static capture a[N], d[N];
  memset(a, 0, sizeof a);
  memset(d, 0, sizeof d);
  char id[N][32];
  for (int i = 0; i < N; i++) snprintf(id[i], sizeof id[i], "first-%03d", i);
  for (int i = 0; i < N; i++) put_attempt(id[i], 1, i == 42 ? "forty-two" : "ok", &a[i]);
  for (int i = 0; i < N; i++) put_delivery(id[i], 1, &d[i]);
  run_until_answered(2 * N);
  for (int i = 0; i < N; i++) HL_ASSERT_EQ_INT(a[i].status, 0);
  for (int i = 0; i < N; i += 7) {
    hl_store_result r = list_attempts(id[i]);
    HL_ASSERT_EQ_INT((int)r.nattempts, 1);
    HL_ASSERT_EQ_STR(r.attempts[0].event_id, id[i]);
    HL_ASSERT_EQ_STR(r.attempts[0].body, i == 42 ? "forty-two" : "ok");
    hl_store_result_dispose(&r);
  }
  close_store();
}

/* The attempt log keeps the last HL_ATTEMPT_LOG_MAX attempts of a
 * delivery, oldest first; another delivery's stay apart. */
HL_TEST(the_attempt_log_keeps_a_deliverys_last_attempts_in_its_slots) {
  open_store();
  capture c[HL_ATTEMPT_LOG_MAX + 6];
  memset(c, 0, sizeof c);
  int n = 0;
  put_delivery("ring-a", 1, &c[n++]);
  put_delivery("ring-b", 1, &c[n++]);
  put_attempt("ring-b", 1, "b1", &c[n++]);
  run_until_answered(n);
  for (int k = 1; k <= HL_ATTEMPT_LOG_MAX + 3; k++) {
    capture x = {0};
    char body[16];
    snprintf(body, sizeof body, "a%d", k);
    int before = answered;
    put_attempt("ring-a", k, body, &x);
    run_until_answered(before + 1);
    HL_ASSERT_EQ_INT(x.status, 0);
  }
  hl_store_result r = list_attempts("ring-a");
  HL_ASSERT_EQ_INT((int)r.nattempts, HL_ATTEMPT_LOG_MAX);
  HL_ASSERT_EQ_INT((int)r.attempts[0].attempt, 4);
  HL_ASSERT_EQ_STR(r.attempts[HL_ATTEMPT_LOG_MAX - 1].body, "a23");
  hl_store_result_dispose(&r);
  r = list_attempts("ring-b");
  HL_ASSERT_EQ_INT((int)r.nattempts, 1);
  HL_ASSERT_EQ_STR(r.attempts[0].body, "b1");
  hl_store_result_dispose(&r);
  close_store();
}

/* A status row carries its delivery's attempt logged just before it in
 * the turn (or just after it): the attempt's callback hears the row's
 * outcome, a failed one too, and an attempt carried by nothing is written
 * to the attempt table. */
HL_TEST(an_attempt_carried_by_a_status_row_shares_its_outcome) {
  open_store();
  capture a[3] = {0}, d[3] = {0};
  put_attempt("carry-0", 1, "zero", &a[0]);
  put_delivery("carry-0", 1, &d[0]);
  put_attempt("carry-1", 1, "one", &a[1]);
  hl_delivery_rec bad = {.event_id = "carry-1", .subscription_id = "sub_a", .status = NULL}; /* NOT NULL */
  store->vt->delivery_put(store, &bad, cap_cb, &d[1]);
  put_delivery("carry-2", 1, &d[2]);
  put_attempt("carry-2", 1, "two", &a[2]);
  run_until_answered(6);
  HL_ASSERT_EQ_INT(d[0].status, 0);
  HL_ASSERT_EQ_INT(a[0].status, 0);
  HL_ASSERT_EQ_INT(d[1].status, HL_EEXISTS);
  HL_ASSERT_EQ_INT(a[1].status, HL_EEXISTS);
  HL_ASSERT_EQ_INT(d[2].status, 0);
  HL_ASSERT_EQ_INT(a[2].status, 0);
  HL_ASSERT_EQ_INT(a[0].order, 0); /* in the order asked */
  HL_ASSERT_EQ_INT(d[0].order, 1);
  HL_ASSERT_EQ_INT(a[2].order, 5);
  HL_ASSERT_EQ_INT(sqlite_peek_attempts(dir, "carry-"), 2);
  HL_ASSERT_EQ_INT(committed("delivery_attempt", "carry-"), 0);
  hl_store_result r = list_attempts("carry-2");
  HL_ASSERT_EQ_INT((int)r.nattempts, 1);
  HL_ASSERT_EQ_STR(r.attempts[0].body, "two");
  hl_store_result_dispose(&r);
  close_store();
}

/* Several attempts of one delivery before their rows are written (one
 * turn here; a group commit's turns alike): each is kept, the status row
 * holding the last. */
HL_TEST(several_attempts_of_a_delivery_in_one_transaction_are_all_kept) {
  open_store();
  capture a[5] = {0}, d[5] = {0};
  char body[5][8];
  for (int k = 0; k < 5; k++) {
    snprintf(body[k], sizeof body[k], "a%d", k + 1);
    put_attempt("group-1", k + 1, body[k], &a[k]);
    put_delivery("group-1", k + 1, &d[k]);
  }
  run_until_answered(10);
  for (int k = 0; k < 5; k++) {
    HL_ASSERT_EQ_INT(a[k].status, 0);
    HL_ASSERT_EQ_INT(d[k].status, 0);
  }
  hl_store_result r = list_attempts("group-1");
  HL_ASSERT_EQ_INT((int)r.nattempts, 5);
  for (int k = 0; k < 5; k++) {
    HL_ASSERT_EQ_INT((int)r.attempts[k].attempt, k + 1);
    HL_ASSERT_EQ_STR(r.attempts[k].body, body[k]);
  }
  hl_store_result_dispose(&r);
  close_store();
}

/* A file whose attempt log is keyed by (event_id, subscription_id, slot),
 * as before: opened, its rows are keyed by their delivery's rowid, every
 * one listed as before and new attempts joining them; a row whose delivery
 * is gone is kept aside (never listed) until retention purges it. */
HL_TEST(an_attempt_log_keyed_by_event_id_is_rekeyed_when_the_file_opens) {
  open_store();
  capture d1 = {0}, d2 = {0};
  put_delivery("old-1", 2, &d1);
  put_delivery("old-2", 1, &d2);
  run_until_answered(2);
  close_keeping_files();
  raw_sql("DROP TABLE delivery_attempt;"
          "CREATE TABLE delivery_attempt(event_id TEXT NOT NULL, subscription_id TEXT NOT NULL, "
          "slot INTEGER NOT NULL, attempt INTEGER NOT NULL, at_ms INTEGER NOT NULL, status_code INTEGER, "
          "latency_ms INTEGER, error TEXT, headers TEXT, body TEXT, truncated INTEGER NOT NULL DEFAULT 0, "
          "PRIMARY KEY(event_id, subscription_id, slot));"
          "INSERT INTO delivery_attempt VALUES('old-1','sub_a',0,1,1000,503,5,'busy','{}','no',0);"
          "INSERT INTO delivery_attempt VALUES('old-1','sub_a',1,2,2000,200,4,NULL,'{}','yes',0);"
          "INSERT INTO delivery_attempt VALUES('old-2','sub_a',0,1,1500,200,3,NULL,'{}','two',0);"
          "INSERT INTO delivery_attempt VALUES('gone','sub_a',0,1,500,200,3,NULL,'{}','orphan',0);");
  reopen_store();
  hl_store_result r = list_attempts("old-1");
  HL_ASSERT_EQ_INT((int)r.nattempts, 2);
  HL_ASSERT_EQ_STR(r.attempts[0].body, "no");
  HL_ASSERT_EQ_STR(r.attempts[0].error, "busy");
  HL_ASSERT_EQ_STR(r.attempts[1].body, "yes");
  hl_store_result_dispose(&r);
  capture a3 = {0};
  put_attempt("old-1", 3, "third", &a3);
  run_until_answered(answered + 1);
  r = list_attempts("old-1");
  HL_ASSERT_EQ_INT((int)r.nattempts, 3);
  HL_ASSERT_EQ_STR(r.attempts[2].body, "third");
  hl_store_result_dispose(&r);
  r = list_attempts("old-2");
  HL_ASSERT_EQ_INT((int)r.nattempts, 1);
  HL_ASSERT_EQ_STR(r.attempts[0].body, "two");
  hl_store_result_dispose(&r);
  HL_ASSERT_EQ_INT(committed("delivery_attempt", "gone"), 1);
  /* Retention: the deliveries are newer than the limit and stay with
   * their attempts; the orphan, older, goes. */
  capture p = {0};
  hl_store_purge pr = {.delivered_before_ms = 900, .failed_before_ms = 900, .now_s = 1, .limit = 100};
  store->vt->purge(store, &pr, cap_cb, &p);
  run_until_answered(answered + 1);
  HL_ASSERT_EQ_INT(p.status, 0);
  HL_ASSERT_EQ_INT((int)p.res.purged.attempts, 1);
  HL_ASSERT_EQ_INT((int)p.res.purged.deliveries, 0);
  HL_ASSERT_EQ_INT(committed("delivery_attempt", "gone"), 0);
  HL_ASSERT_EQ_INT(committed("delivery_attempt", "old-"), 4);
  /* Past the deliveries' limit: they go with their attempt logs. */
  hl_store_purge all = {.delivered_before_ms = 5000, .failed_before_ms = 5000, .now_s = 1, .limit = 100};
  capture q = {0};
  store->vt->purge(store, &all, cap_cb, &q);
  run_until_answered(answered + 1);
  HL_ASSERT_EQ_INT(q.status, 0);
  HL_ASSERT_EQ_INT((int)q.res.purged.deliveries, 2);
  HL_ASSERT_EQ_INT((int)q.res.purged.attempts, 4);
  HL_ASSERT_EQ_INT(committed("delivery_attempt", "old-"), 0);
  close_store();
}

/* A claim of more rows than one marking statement takes (32): each is
 * handed out once. */
HL_TEST(a_large_claim_marks_every_row_it_hands_out) {
  open_store();
  static const char *subs[] = {"sub_a"};
  enum { N = 70 };
  static capture acc[N];
  memset(acc, 0, sizeof acc);
  char id[32];
  for (int i = 0; i < N; i++) {
    snprintf(id, sizeof id, "claim-%02d", i);
    hl_eq_accept ev = {.event_id = id, .event_type = "T", .body = "{}", .body_len = 2, .subscription_ids = subs,
                       .nsubs = 1};
    store->vt->eq_accept(store, &ev, cap_cb, &acc[i]);
  }
  run_until_answered(N);
  capture c1 = {0}, c2 = {0};
  store->vt->eq_claim(store, "sub_a", N, hl_wall_ms(), cap_cb, &c1);
  run_until_answered(N + 1);
  HL_ASSERT_EQ_INT(c1.status, 0);
  HL_ASSERT_EQ_INT((int)c1.res.nitems, N);
  store->vt->eq_claim(store, "sub_a", N, hl_wall_ms(), cap_cb, &c2);
  run_until_answered(N + 2);
  HL_ASSERT_EQ_INT(c2.status, 0);
  HL_ASSERT_EQ_INT((int)c2.res.nitems, 0);
  hl_store_result_dispose(&c1.res);
  hl_store_result_dispose(&c2.res);
  close_store();
}

/* A process that dies (no close, no checkpoint) right after its status and
 * attempt rows were answered loses none of them. */
HL_TEST(rows_answered_survive_the_process_dying_at_once) {
  dir = hl_tmpdir("store-batch");
  enum { N = 40 };
  pid_t pid = fork();
  HL_ASSERT(pid >= 0);
  if (pid == 0) {
    char err[256] = "";
    uv_loop_init(&loop);
    if (hl_store_sqlite_open(&loop, dir, NULL, &store, err, sizeof err) != 0) _exit(2);
    static capture d[N], a[N];
    char id[N][32];
    for (int i = 0; i < N; i++) {
      snprintf(id[i], sizeof id[i], "crash-%02d", i);
      put_delivery(id[i], 1, &d[i]);
      put_attempt(id[i], 1, "ok", &a[i]);
    }
    for (int i = 0; i < 100000 && answered < 2 * N; i++) uv_run(&loop, UV_RUN_ONCE);
    for (int i = 0; i < N; i++)
      if (d[i].status != 0 || a[i].status != 0) _exit(3);
    _exit(answered == 2 * N ? 0 : 4); /* no close: as if killed */
  }
  int st = 0;
  HL_ASSERT(waitpid(pid, &st, 0) == pid);
  HL_ASSERT_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the writer exited %d", WEXITSTATUS(st));
  HL_ASSERT_EQ_INT(committed("event_delivery_status", "crash-"), N);
  HL_ASSERT_EQ_INT(sqlite_peek_attempts(dir, "crash-"), N);
  hl_rmtree(dir);
  free(dir);
  dir = NULL;
}

static const char *status_of(const char *event_id) {
  static char st[16];
  capture l = {0};
  store->vt->delivery_list(store, event_id, cap_cb, &l);
  run_until_answered(answered + 1);
  HL_ASSERT_EQ_INT((int)l.res.ndeliveries, 1);
  snprintf(st, sizeof st, "%s", l.res.deliveries[0].status);
  hl_store_result_dispose(&l.res);
  return st;
}

/* Records r's outcome as status (r itself is left as it is). */
static int update(const hl_delivery_rec *r, const char *status) {
  capture c = {0};
  hl_delivery_rec x = *r;
  x.status = (char *)status;
  x.attempts = 1;
  x.updated_at = hl_wall_ms();
  store->vt->eq_update(store, &x, false, cap_cb, &c);
  run_until_answered(answered + 1);
  return c.status;
}

/* An outcome is recorded by the rowid the claim handed out
 * (hl_delivery_rec.row_ref), and by the key when that rowid names another
 * row or none: the delivery's own row changes, and no other. */
HL_TEST(an_outcome_finds_its_row_by_the_claims_rowid_or_else_by_its_key) {
  open_store();
  static const char *subs[] = {"sub_a"};
  capture acc[3];
  memset(acc, 0, sizeof acc);
  for (int i = 0; i < 3; i++) {
    char id[16];
    snprintf(id, sizeof id, "ref-%d", i);
    hl_eq_accept ev = {.event_id = id, .event_type = "T", .body = "{}", .body_len = 2, .subscription_ids = subs,
                       .nsubs = 1};
    store->vt->eq_accept(store, &ev, cap_cb, &acc[i]);
  }
  run_until_answered(3);
  capture c = {0};
  store->vt->eq_claim(store, "sub_a", 3, hl_wall_ms(), cap_cb, &c);
  run_until_answered(4);
  HL_ASSERT_EQ_INT((int)c.res.nitems, 3);
  hl_delivery_rec *d0 = &c.res.items[0].d, *d1 = &c.res.items[1].d, *d2 = &c.res.items[2].d;
  HL_ASSERT(d0->row_ref > 0 && d1->row_ref > 0 && d2->row_ref > 0);
  HL_ASSERT(d0->row_ref != d1->row_ref && d1->row_ref != d2->row_ref && d0->row_ref != d2->row_ref);
  HL_ASSERT_EQ_INT(store->vt->eq_backlog(store), 3);
  /* Its own rowid. */
  HL_ASSERT_EQ_INT(update(d0, "SUCCESS"), 0);
  HL_ASSERT_EQ_STR(status_of(d0->event_id), "SUCCESS");
  /* Another row's rowid: that row is left alone. */
  int64_t own1 = d1->row_ref;
  d1->row_ref = d2->row_ref;
  HL_ASSERT_EQ_INT(update(d1, "FAILED"), 0);
  HL_ASSERT_EQ_STR(status_of(d1->event_id), "FAILED");
  HL_ASSERT_EQ_STR(status_of(d2->event_id), "PENDING");
  /* A rowid of no row. */
  d2->row_ref = own1 + 1000000;
  HL_ASSERT_EQ_INT(update(d2, "SUCCESS"), 0);
  HL_ASSERT_EQ_STR(status_of(d2->event_id), "SUCCESS");
  HL_ASSERT_EQ_INT(store->vt->eq_backlog(store), 0);
  /* A key that is not there, with a rowid that is: not found, nothing changed. */
  hl_delivery_rec ghost = {.event_id = "ref-none", .subscription_id = "sub_a", .row_ref = own1};
  HL_ASSERT_EQ_INT(update(&ghost, "RETRYING"), HL_ENOTFOUND);
  HL_ASSERT_EQ_STR(status_of(d1->event_id), "FAILED");
  HL_ASSERT_EQ_INT(store->vt->eq_backlog(store), 0);
  hl_store_result_dispose(&c.res);
  close_store();
}

/* The outcomes of a turn's claimed rows are written by multi-row UPDATEs
 * (64 rows a statement). In one turn, 70 outcomes, among them a rowid that
 * names another row, a rowid of no row, a key that is not there, a row
 * updated twice in one statement (the later update stays, though SQLite
 * applies only one source row per target row in an UPDATE ... FROM) and
 * one in two, and a status row put after them: each callback hears its
 * own outcome, in the order asked; a read in the same turn sees them; the
 * backlog counts what ended. */
HL_TEST(a_turns_outcomes_are_written_together_each_as_if_alone) {
  open_store();
  enum { N = 70 };
  static const char *subs[] = {"sub_a"};
  char id[N][16];
  capture acc = {0};
  for (int i = 0; i < N; i++) {
    snprintf(id[i], sizeof id[i], "upd-%02d", i);
    hl_eq_accept ev = {.event_id = id[i], .event_type = "T", .body = "{}", .body_len = 2, .subscription_ids = subs,
                       .nsubs = 1};
    store->vt->eq_accept(store, &ev, cap_cb, &acc);
  }
  run_until_answered(N);
  capture c = {0};
  store->vt->eq_claim(store, "sub_a", N, hl_wall_ms(), cap_cb, &c);
  run_until_answered(N + 1);
  HL_ASSERT_EQ_INT((int)c.res.nitems, N);
  HL_ASSERT_EQ_INT(store->vt->eq_backlog(store), N);
  hl_eq_item *it = c.res.items;
  for (int i = 0; i < N; i++) HL_ASSERT_EQ_STR(it[i].d.event_id, id[i]);
  int base = answered;
  /* The turn: one outcome a row, with the oddities below; seq holds the
   * captures in the order asked. */
  static capture u[N + 4];
  capture *seq[N + 4];
  int nseq = 0;
  memset(u, 0, sizeof u);
  int64_t own5 = it[5].d.row_ref;
  it[5].d.row_ref = it[6].d.row_ref;         /* names row 6: row 5 by its key */
  it[7].d.row_ref = own5 + 1000000;          /* names no row */
  for (int i = 0; i < N; i++) {
    hl_delivery_rec x = it[i].d;
    x.status = (char *)(i % 3 == 0 ? "RETRYING" : i % 3 == 1 ? "SUCCESS" : "FAILED");
    x.attempts = 1;
    x.next_attempt_at = hl_wall_ms() + 60000;
    x.updated_at = hl_wall_ms();
    store->vt->eq_update(store, &x, i % 3 == 0, cap_cb, seq[nseq++] = &u[i]);
    if (i == 3) { /* row 3 again in the same statement: it succeeded on its retry */
      x.status = "SUCCESS";
      x.attempts = 2;
      store->vt->eq_update(store, &x, false, cap_cb, seq[nseq++] = &u[N]);
    }
  }
  /* Row 9 (RETRYING above) again, in the next statement. */
  hl_delivery_rec again = it[9].d;
  again.status = "SUCCESS";
  again.attempts = 2;
  store->vt->eq_update(store, &again, false, cap_cb, seq[nseq++] = &u[N + 1]);
  /* A key that is not there, with a rowid that is. */
  hl_delivery_rec ghost = {.event_id = "upd-none", .subscription_id = "sub_a", .status = "SUCCESS",
                           .row_ref = it[0].d.row_ref};
  store->vt->eq_update(store, &ghost, false, cap_cb, seq[nseq++] = &u[N + 2]);
  /* A status row put after them (the Kafka path's write) and a read. */
  hl_delivery_rec put = {.event_id = "upd-put", .subscription_id = "sub_a", .status = "SUCCESS", .attempts = 1,
                         .updated_at = hl_wall_ms()};
  store->vt->delivery_put(store, &put, cap_cb, seq[nseq++] = &u[N + 3]);
  capture l = {0};
  store->vt->delivery_list(store, id[9], cap_cb, &l);
  HL_ASSERT_EQ_INT(answered, base); /* never from inside the call */
  run_until_answered(base + nseq + 1);
  for (int k = 0; k < nseq; k++) {
    HL_ASSERT_EQ_INT(seq[k]->calls, 1);
    HL_ASSERT_EQ_INT(seq[k]->order, base + k);
    HL_ASSERT_EQ_INT(seq[k]->status, seq[k] == &u[N + 2] ? HL_ENOTFOUND : 0);
  }
  HL_ASSERT_EQ_INT((int)l.res.ndeliveries, 1);
  HL_ASSERT_EQ_STR(l.res.deliveries[0].status, "SUCCESS");
  HL_ASSERT_EQ_INT((int)l.res.deliveries[0].attempts, 2);
  hl_store_result_dispose(&l.res);
  for (int i = 0; i < N; i++) {
    const char *want = i == 3 || i == 9 ? "SUCCESS" : i % 3 == 0 ? "RETRYING" : i % 3 == 1 ? "SUCCESS" : "FAILED";
    HL_ASSERT_MSG(strcmp(status_of(id[i]), want) == 0, "row %d: %s, not %s", i, status_of(id[i]), want);
  }
  HL_ASSERT_EQ_STR(status_of("upd-put"), "SUCCESS");
  /* Ended: the SUCCESS and FAILED rows, and rows 3 and 9; the RETRYING
   * rows were released (claimed=0) and are claimed again once due. */
  int open = 0;
  for (int i = 0; i < N; i++) open += i % 3 == 0 && i != 3 && i != 9;
  HL_ASSERT_EQ_INT(store->vt->eq_backlog(store), open);
  capture again_c = {0};
  store->vt->eq_claim(store, "sub_a", N, hl_wall_ms() + 120000, cap_cb, &again_c);
  run_until_answered(answered + 1);
  HL_ASSERT_EQ_INT((int)again_c.res.nitems, open);
  hl_store_result_dispose(&again_c.res);
  hl_store_result_dispose(&c.res);
  close_store();
}
