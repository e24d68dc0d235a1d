/* test_faults.c — the fault matrix of docs/reliability.md, black-box: the
 * real hookloop binary, real partner processes on loopback, a real SQLite
 * file, the Kafka mock cluster in its own process, dynalite behind the fault
 * injecting tools/aws_peer. Each test states what is promised under its
 * fault and checks it: counts (nothing accepted lost), /healthz answering,
 * RSS and fds read from /proc. Rows already covered elsewhere are cited in
 * the table, not repeated here. Built twice: test_faults (SQLite store) and
 * test_faults_ddb (HL_TEST_DDB: the DynamoDB rows). */
#include "e2e_util.h"
#include "faults_util.h"
#include "hl_test.h"
#include "hl_testutil.h"
#include "common/hl_common.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

static e2e_hookloop hk;
static e2e_partner partner;

static void start_both(const char *const *partner_args, const char *const *env) {
  e2e_start_both(&hk, &partner, partner_args, env);
}

static void stop_both(void) { e2e_stop_both(&hk, &partner); }

#ifndef HL_TEST_DDB
/* /healthz answers 200, now. */
static void assert_healthy(const char *when) {
  double ms = 0;
  long code = faults_healthz(&hk, &ms);
  HL_ASSERT_MSG(code == 200, "/healthz answered %ld %s", code, when);
}

/* Partners that hang (no answer, the connection kept open), trickle a proper
 * answer a byte every 100 ms, send 2 MiB of headers, or a 256 MiB body.
 * Promised: each broken attempt is cut off at the subscription's timeout (1 s
 * here) or curl's header limit and retried (nothing lost: each ends SUCCESS,
 * after at least one failed attempt), every attempt counted once; the big body is a 2xx answer like any other (one
 * attempt, 60 s allowed), read and dropped, never held (RSS grows by less
 * than 64 MiB); /healthz keeps answering; every connection is closed in the end
 * (fds back to where they were). */
HL_TEST_T(partners_that_hang_trickle_or_flood_are_cut_off_and_retried, 180) {
  start_both(NULL, NULL);
  int raw_port = 0;
  pid_t raw = e2e_start_raw_partner(&raw_port);
  /* The timeouts: short where the attempt must be cut off, long where the
   * answer is to be read whole. */
  static const struct {
    const char *mode;
    long attempts; /* at least (the raw partner serves one connection at a
                      time: a retry waiting behind another case's answer may
                      time out too) */
    int timeout_ms;
  } cases[] = {{"hang", 2, 1000}, {"trickle", 2, 1000}, {"headers", 2, 1000}, {"body", 1, 60000}};
  enum { NCASES = sizeof cases / sizeof cases[0] };
  char *subs[NCASES];
  for (size_t i = 0; i < NCASES; i++) {
    char url[256], pid[32], extra[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/raw/%s?bad=1", raw_port, cases[i].mode);
    snprintf(pid, sizeof pid, "raw-%s", cases[i].mode);
    snprintf(extra, sizeof extra, "\"timeout_ms\":%d", cases[i].timeout_ms);
    subs[i] = e2e_setup(&hk, pid, url, extra, NULL, 0);
  }
  assert_healthy("before the faults");
  int fds_before = hl_count_fds(hk.pid);
  long rss_before = faults_rss_kb(hk.pid);
  HL_ASSERT(fds_before > 0 && rss_before > 0);
  HL_ASSERT_EQ_INT(e2e_post_event(&hk, "evt-partner-faults", "1"), 202);
  /* While the partners misbehave, the API answers. */
  for (int i = 0; i < 5; i++) {
    assert_healthy("while partners misbehave");
    hl_sleep_ms(200);
  }
  char u[256];
  snprintf(u, sizeof u, "%s/admin/deliveries?event_id=evt-partner-faults", hk.base);
  hl_json_doc doc;
  bool done = false;
  for (int waited = 0; !done && waited < 60000; waited += 200) {
    HL_ASSERT_EQ_INT(e2e_call("GET", u, NULL, &doc), 200);
    const hl_json *d = hl_json_get(doc.root, "deliveries");
    HL_ASSERT(d && d->type == HL_JSON_ARRAY && d->len == NCASES);
    done = true;
    for (size_t i = 0; i < d->len; i++) {
      const char *st = hl_json_str(hl_json_get(&d->u.items[i], "status"));
      done = done && st && (strcmp(st, "SUCCESS") == 0 || strcmp(st, "FAILED") == 0);
    }
    if (!done) {
      hl_json_doc_dispose(&doc);
      hl_sleep_ms(200);
    }
  }
  HL_ASSERT_MSG(done, "the deliveries did not finish");
  const hl_json *d = hl_json_get(doc.root, "deliveries");
  int64_t retried = 0;
  for (size_t c = 0; c < NCASES; c++) {
    const hl_json *row = NULL;
    for (size_t i = 0; i < d->len; i++)
      if (strcmp(hl_json_str(hl_json_get(&d->u.items[i], "subscription_id")), subs[c]) == 0) row = &d->u.items[i];
    HL_ASSERT(row != NULL);
    int64_t attempts = 0;
    hl_json_int64(hl_json_get(row, "attempts"), &attempts);
    const char *err = hl_json_str(hl_json_get(row, "last_error"));
    const char *st = hl_json_str(hl_json_get(row, "status"));
    printf("%-8s %s after %lld attempts, last_error: %s\n", cases[c].mode, st, (long long)attempts, err ? err : "null");
    HL_ASSERT_MSG(strcmp(st, "SUCCESS") == 0 && attempts >= cases[c].attempts, "%s: %s after %lld attempts (%s)",
                  cases[c].mode, st, (long long)attempts, err ? err : "");
    retried += attempts - 1;
  }
  hl_json_doc_dispose(&doc);
  /* Each attempt's outcome counted once. */
  HL_ASSERT_EQ_INT(e2e_metric(&hk, "hookloop_deliveries_total{outcome=\"success\"}"), NCASES);
  HL_ASSERT_EQ_INT(e2e_metric(&hk, "hookloop_deliveries_total{outcome=\"retry\"}"), retried);
  long rss_after = faults_rss_kb(hk.pid);
  printf("RSS %ld KiB before, %ld KiB after (a 256 MiB answer body read)\n", rss_before, rss_after);
  HL_ASSERT_MSG(rss_after - rss_before < 64 * 1024, "RSS grew from %ld to %ld KiB", rss_before, rss_after);
  assert_healthy("after the faults");
  /* The hung connections were given up at the timeout: hookloop holds no
   * more descriptors than before (the partner still keeps its side). */
  int fds_after = hl_wait_fds_at_most(hk.pid, fds_before, 5000);
  HL_ASSERT_MSG(fds_after <= fds_before, "%d descriptors open, %d before", fds_after, fds_before);
  for (size_t i = 0; i < NCASES; i++) free(subs[i]);
  kill(raw, SIGKILL);
  hl_wait(raw, 5000);
  stop_both();
}

/* Sets or clears the immutable flag of a file (FS_IMMUTABLE_FL, as chattr
 * +i): even root's writes to it fail, as on a read-only file system. Returns
 * 0, or an errno (EPERM without CAP_LINUX_IMMUTABLE, EOPNOTSUPP on a file
 * system without the flag). */
static int set_immutable(const char *path, bool on) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  int flags = 0, rc = 0;
  if (ioctl(fd, FS_IOC_GETFLAGS, &flags) != 0) rc = errno;
  else {
    flags = on ? flags | FS_IMMUTABLE_FL : flags & ~FS_IMMUTABLE_FL;
    if (ioctl(fd, FS_IOC_SETFLAGS, &flags) != 0) rc = errno;
  }
  close(fd);
  return rc;
}

/* Posts n events "<prefix>-<i>"; returns how many got 202 (every other
 * answer must be 503). */
static int post_some(const char *prefix, int n, char accepted[][64]) {
  int ok = 0;
  for (int i = 0; i < n; i++) {
    char id[64];
    snprintf(id, sizeof id, "%s-%d", prefix, i);
    long code = e2e_post_event(&hk, id, "1");
    HL_ASSERT_MSG(code == 202 || code == 503, "%s answered %ld", id, code);
    if (code == 202) snprintf(accepted[ok++], 64, "%s", id);
  }
  return ok;
}

/* Counts the lines of hookloop's log that contain what. */
static int log_count(const char *what) {
  char *log = hl_read_file(hk.log, NULL);
  int n = 0;
  for (const char *p = log; p && (p = strstr(p, what)) != NULL; p++) n++;
  free(log);
  return n;
}

/* The store failing under the API: the database locked by another process,
 * then its files read-only (immutable) while deliveries are out at the
 * partner. Promised: an event is acknowledged (202) only once committed, the
 * others get 503; /healthz answers (503 naming sqlite while writes fail) and
 * recovers; an outcome the store refused is written again once it takes
 * writes (it once stayed PENDING and claimed until a restart); every
 * acknowledged event is delivered once, and the refused ones can be sent
 * again. */
HL_TEST_T(a_locked_or_read_only_store_refuses_and_loses_nothing, 120) {
  start_both(NULL, NULL);
  char url[256];
  /* The partner holds every request until released: deliveries are out
   * exactly while the store fails. */
  snprintf(url, sizeof url, "%s/hook/store?hold=1", partner.base);
  free(e2e_setup(&hk, "store", url, NULL, NULL, 0));
  static char accepted[64][64];
  int n_ok = 0;
  char db[600], wal[620];
  snprintf(db, sizeof db, "%s/hookloop.db", hk.dir);
  snprintf(wal, sizeof wal, "%s-wal", db);
  /* Locked: another process holds the write lock. */
  sqlite3 *other = NULL;
  HL_ASSERT(sqlite3_open(db, &other) == SQLITE_OK);
  sqlite3_busy_timeout(other, 5000); /* hookloop holds the lock for a moment at times */
  HL_ASSERT(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK);
  int got = post_some("evt-locked", 5, accepted + n_ok);
  printf("locked: %d of 5 accepted\n", got);
  HL_ASSERT_EQ_INT(got, 0);
  /* (/healthz naming the lock: health_checks_the_sqlite_store_live.) */
  HL_ASSERT(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL) == SQLITE_OK);
  sqlite3_close(other);
  hl_json_doc doc;
  e2e_health_until(&hk, 200, &doc, 10000);
  hl_json_doc_dispose(&doc);
  n_ok += post_some("evt-locked", 5, accepted + n_ok); /* the refused ones again */
  HL_ASSERT_EQ_INT(n_ok, 5);
  for (int waited = 0; e2e_partner_stat(&partner, "held") < 5 && waited < 10000; waited += 50) hl_sleep_ms(50);
  HL_ASSERT_EQ_INT(e2e_partner_stat(&partner, "held"), 5);
  /* Read-only: the database and its write-ahead log immutable. */
  int e = set_immutable(wal, true);
  if (e == 0) e = set_immutable(db, true);
  if (e != 0) {
    set_immutable(wal, false);
    HL_SKIP_PART("read-only store: cannot make the database immutable here (%s)", strerror(e));
  } else {
    got = post_some("evt-readonly", 5, accepted + n_ok);
    printf("read-only: %d of 5 accepted\n", got);
    HL_ASSERT_EQ_INT(got, 0);
    /* The partner answers the five held deliveries: their outcomes cannot
     * be written. */
    int failed_before = log_count("recording a delivery outcome failed");
    char rel[256];
    snprintf(rel, sizeof rel, "%s/release?name=store", partner.base);
    HL_ASSERT_EQ_INT(e2e_call("POST", rel, "", NULL), 200);
    for (int waited = 0; log_count("recording a delivery outcome failed") < failed_before + 5 && waited < 10000;
         waited += 50)
      hl_sleep_ms(50);
    int failed = log_count("recording a delivery outcome failed") - failed_before;
    set_immutable(db, false);
    set_immutable(wal, false);
    HL_ASSERT_MSG(failed >= 5, "%d outcomes refused by the read-only store, not 5", failed);
    e2e_health_until(&hk, 200, &doc, 10000); /* the health check's own write succeeds again */
    hl_json_doc_dispose(&doc);
    n_ok += post_some("evt-readonly", 5, accepted + n_ok);
    HL_ASSERT_EQ_INT(n_ok, 10);
  }
  e2e_release_until(&partner, "store", (size_t)n_ok, 20000);
  for (int i = 0; i < n_ok; i++) {
    if (e2e_wait_status(&hk, accepted[i], "SUCCESS", 20000)) continue;
    char st[32];
    long attempts = 0;
    e2e_status(&hk, accepted[i], st, sizeof st, &attempts);
    hl_test_fail(__FILE__, __LINE__, "%s was not delivered: %s after %ld attempts", accepted[i], st, attempts);
  }
  HL_ASSERT_EQ_INT(e2e_partner_stat(&partner, "ok_ids"), n_ok);
  HL_ASSERT_EQ_INT(e2e_partner_stat(&partner, "duplicates"), 0); /* written again, not sent again */
  stop_both();
}

/* The Kafka brokers slow (500 ms added to every answer, tools/mock_kafka's
 * rtt). Promised: each event is acknowledged (202) once the broker acked it,
 * within the produce timeout; all are delivered; /healthz answers 200 (the
 * metadata request takes less than its 2 s). */
HL_TEST_T(slow_kafka_brokers_slow_the_answers_but_lose_nothing, 180) {
  hl_mock_kafka mk;
  HL_ASSERT(hl_mock_kafka_start(&mk, 3) == 0);
  const char *topics[] = {"wh.ingress.payments.Payment.v1", "wh.egress.slowkafka.Payment", "wh.retry.200ms", "wh.dlq"};
  char cmd[300];
  for (size_t i = 0; i < HL_ARRAY_SIZE(topics); i++) {
    snprintf(cmd, sizeof cmd, "create %s 2 3", topics[i]);
    HL_ASSERT(hl_mock_kafka_cmd(&mk, cmd) == 0);
  }
  char brokers[700];
  snprintf(brokers, sizeof brokers, "KAFKA_BROKERS=%s", mk.bootstrap);
  const char *env[] = {brokers, "HOOKLOOP_RETRY_SCHEDULE=200ms", "HOOKLOOP_KAFKA_MESSAGE_TIMEOUT_MS=10000", NULL};
  start_both(NULL, env);
  char url[256];
  snprintf(url, sizeof url, "%s/hook/slowkafka", partner.base);
  free(e2e_setup(&hk, "slowkafka", url, NULL, NULL, 0));
  /* Flowing first, then slow. */
  HL_ASSERT_EQ_INT(e2e_post_event(&hk, "evt-kafka-warm", "1"), 202);
  HL_ASSERT(e2e_wait_status(&hk, "evt-kafka-warm", "SUCCESS", 30000));
  for (int b = 1; b <= 3; b++) {
    snprintf(cmd, sizeof cmd, "rtt %d 500", b);
    HL_ASSERT(hl_mock_kafka_cmd(&mk, cmd) == 0);
  }
  enum { N = 10 };
  for (int i = 0; i < N; i++) {
    char id[64];
    snprintf(id, sizeof id, "evt-kafka-slow-%d", i);
    HL_ASSERT_EQ_INT(e2e_post_event(&hk, id, "1"), 202);
  }
  assert_healthy("with slow brokers");
  for (int i = 0; i < N; i++) {
    char id[64];
    snprintf(id, sizeof id, "evt-kafka-slow-%d", i);
    HL_ASSERT_MSG(e2e_wait_status(&hk, id, "SUCCESS", 60000), "%s was not delivered", id);
  }
  HL_ASSERT_EQ_INT(e2e_partner_stat(&partner, "ok_ids"), N + 1);
  for (int b = 1; b <= 3; b++) {
    snprintf(cmd, sizeof cmd, "rtt %d 0", b);
    HL_ASSERT(hl_mock_kafka_cmd(&mk, cmd) == 0);
  }
  stop_both();
  hl_mock_kafka_stop(&mk);
}
#endif

#ifdef HL_TEST_DDB
/* DynamoDB throttling (400 ProvisionedThroughputExceededException) and 5xx
 * on a fifth and a tenth of the calls, injected by tools/aws_peer in front of
 * dynalite, under the whole service (registration, accepts, deliveries'
 * status rows, health). Promised: every answer is 202 or 503 (nothing else,
 * no crash); every accepted event is delivered and recorded SUCCESS;
 * /healthz answers (200, or 503 naming dynamodb when its own DescribeTable is
 * refused). */
HL_TEST_T(dynamodb_throttling_and_5xx_lose_nothing, 180) {
  int port = 0;
  char upstream[96];
  snprintf(upstream, sizeof upstream, "%s/", e2e_ddb_endpoint());
  const char *args[] = {"--upstream", upstream, "--throttle-pct", "20", "--error-pct", "10", NULL};
  /* (A fifth of the calls throttled, a tenth answered 500.) */
  pid_t peer = hl_aws_peer_start(&port, args);
  char via[64];
  snprintf(via, sizeof via, "http://127.0.0.1:%d", port);
  e2e_ddb_route_through(via);
  start_both(NULL, NULL);
  char url[256];
  snprintf(url, sizeof url, "%s/hook/ddb", partner.base);
  free(e2e_setup(&hk, "ddb", url, NULL, NULL, 0));
  enum { N = 40 };
  static char accepted[N][64];
  int n_ok = 0, refused = 0, health_ok = 0, health_503 = 0;
  for (int i = 0; i < N; i++) {
    char id[64];
    snprintf(id, sizeof id, "evt-ddb-fault-%d", i);
    long code = e2e_post_event(&hk, id, "1");
    HL_ASSERT_MSG(code == 202 || code == 503, "%s answered %ld", id, code);
    if (code == 202) snprintf(accepted[n_ok++], 64, "%s", id);
    else refused++;
    /* One at a time: each status goes out in DynamoDB calls of its own. */
    if (code == 202) HL_ASSERT_MSG(e2e_wait_status(&hk, id, "SUCCESS", 30000), "%s was not delivered", id);
    double ms;
    long h = faults_healthz(&hk, &ms);
    HL_ASSERT_MSG(h == 200 || h == 503, "/healthz answered %ld", h);
    health_ok += h == 200;
    health_503 += h == 503;
  }
  printf("%d accepted, %d refused (503); /healthz 200 %d times, 503 %d times\n", n_ok, refused, health_ok, health_503);
  HL_ASSERT(n_ok > 0);
  for (int i = 0; i < n_ok; i++)
    HL_ASSERT_MSG(e2e_wait_status(&hk, accepted[i], "SUCCESS", 30000), "%s was not delivered", accepted[i]);
  HL_ASSERT_EQ_INT(e2e_partner_stat(&partner, "ok_ids"), n_ok);
  /* The faults were met: the store's client retried. */
  long long calls = e2e_metric(&hk, "hookloop_dynamodb_calls_total");
  long long retries = e2e_metric(&hk, "hookloop_dynamodb_retries_total");
  printf("DynamoDB calls %lld, retried %lld\n", calls, retries);
  HL_ASSERT_MSG(retries > 0, "no DynamoDB call was retried: the faults were not injected");
  stop_both();
  kill(peer, SIGTERM);
  hl_wait(peer, 5000);
}
#endif
