/* Kafka authentication: SASL/OAUTHBEARER with MSK IAM tokens and
 * SASL/SCRAM, on real librdkafka handles (src/loop/hl_kafka,
 * src/aws/hl_msk_auth, src/app/hl_app_kafka).
 *
 * librdkafka's mock cluster cannot do SASL, so no broker checks a token
 * here. What is checked is what can fail on our side, on real handles:
 * librdkafka asks for tokens through its refresh callback (served on the
 * loop) and accepts the ones we set (rd_kafka_oauthbearer_set_token returns
 * no error before the observer hook runs); the token's URL carries the
 * right action, region and credential scope; its life ends no later than
 * the credentials'; librdkafka asks again before it ends; a failed or
 * expired credentials fetch takes the failure path with a clear reason and
 * recovers; SCRAM logins come from a Secrets Manager secret without the
 * password reaching a log line. Credentials come from the container
 * endpoint of the AWS test peer (tools/aws_peer). */
#include "hl_test.h"
#include "hl_testutil.h"
#include "aws_testutil.h"
#include "app/hl_app_kafka.h"
#include "app/hl_config.h"
#include "aws/hl_msk_auth.h"
#include "common/hl_common.h"
#include "loop/hl_kafka.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#define AKID "ASIAEXAMPLEKAFKA"
#define SECRET "s3cr3t-Kafka-Key"
#define SESSION "sess-Kafka-Token"

static uv_loop_t loop;
static hl_curl_uv curl;

/* --- what librdkafka was given -------------------------------------------------- */

typedef struct {
  char handle[16];
  int status;
  char *token;
  int64_t expiry_ms, at_ms;
  char info[1024];
} tok_event;

static tok_event ev[64];
static int nev;

static void on_token(void *data, const char *handle, int status, const char *token, int64_t expiry_ms,
                     const char *info) {
  (void)data;
  if (nev == HL_ARRAY_SIZE(ev)) return;
  tok_event *e = &ev[nev++];
  snprintf(e->handle, sizeof e->handle, "%s", handle);
  e->status = status;
  e->token = token ? strdup(token) : NULL;
  e->expiry_ms = expiry_ms;
  e->at_ms = hl_wall_ms();
  snprintf(e->info, sizeof e->info, "%s", info ? info : "");
}

/* The n-th (from 0) event of handle that succeeded (ok) or failed. */
static tok_event *nth(const char *handle, bool ok, int n) {
  for (int i = 0; i < nev; i++)
    if (strcmp(ev[i].handle, handle) == 0 && (ev[i].status == 0) == ok && n-- == 0) return &ev[i];
  return NULL;
}

static void run_until(const char *handle, bool ok, int n, int timeout_ms) {
  uint64_t end = hl_mono_ms() + (uint64_t)timeout_ms;
  while (!nth(handle, ok, n) && hl_mono_ms() < end) uv_run(&loop, UV_RUN_ONCE);
  HL_ASSERT_MSG(nth(handle, ok, n), "%s: no %s token #%d within %d ms (%d events)", handle,
                ok ? "accepted" : "failed", n + 1, timeout_ms, nev);
}

/* Query parameter name of url, copied into out. */
static const char *qparam(const char *url, const char *name, char *out, size_t len) {
  char key[64];
  snprintf(key, sizeof key, "&%s=", name);
  const char *p = strstr(url, key);
  if (!p && strncmp(strchr(url, '?') + 1, key + 1, strlen(key) - 1) == 0) p = strchr(url, '?');
  HL_ASSERT_MSG(p, "%s not in %s", name, url);
  p += strlen(key);
  size_t n = strcspn(p, "&");
  snprintf(out, len, "%.*s", (int)n, p);
  return out;
}

/* X-Amz-Date (20261129T140000Z) in ms since the epoch. */
static int64_t amz_ms(const char *d) {
  struct tm tm = {0};
  HL_ASSERT(sscanf(d, "%4d%2d%2dT%2d%2d%2dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
                   &tm.tm_sec) == 6);
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return (int64_t)timegm(&tm) * 1000;
}

/* Checks a token the way MSK reads it: the presigned Connect request for
 * the region, signed with the endpoint's credentials, expiring when the
 * token says. Returns X-Amz-Expires. */
static int check_token(const tok_event *e) {
  HL_ASSERT(e->token);
  char *url = aws_token_url(e->token);
  static const char start[] = "https://kafka.eu-west-1.amazonaws.com/?Action=kafka-cluster%3AConnect&";
  HL_ASSERT_MSG(strncmp(url, start, sizeof start - 1) == 0, "%s", url);
  char date[32], cred[256], want[256], exp[16], tok[128], buf[16];
  qparam(url, "X-Amz-Date", date, sizeof date);
  snprintf(want, sizeof want, AKID "%%2F%.8s%%2Feu-west-1%%2Fkafka-cluster%%2Faws4_request", date);
  HL_ASSERT_EQ_STR(qparam(url, "X-Amz-Credential", cred, sizeof cred), want);
  HL_ASSERT_EQ_STR(qparam(url, "X-Amz-Security-Token", tok, sizeof tok), SESSION);
  HL_ASSERT_EQ_STR(qparam(url, "X-Amz-SignedHeaders", buf, sizeof buf), "host");
  int life = atoi(qparam(url, "X-Amz-Expires", exp, sizeof exp));
  HL_ASSERT_MSG(life >= 1 && life <= 900, "X-Amz-Expires=%d", life);
  /* librdkafka was told the token's own expiry. */
  HL_ASSERT_EQ_INT(e->expiry_ms, amz_ms(date) + life * 1000LL);
  /* The log's description: what the token says, nothing secret. */
  snprintf(want, sizeof want, "\"credential_scope\":\"%.8s/eu-west-1/kafka-cluster/aws4_request\"", date);
  HL_ASSERT_MSG(strstr(e->info, want), "%s", e->info);
  HL_ASSERT_MSG(strstr(e->info, "\"action\":\"kafka-cluster:Connect\""), "%s", e->info);
  HL_ASSERT_MSG(strstr(e->info, "\"session_token\":true"), "%s", e->info);
  HL_ASSERT(!strstr(e->info, AKID) && !strstr(e->info, SECRET) && !strstr(e->info, SESSION) &&
            !strstr(e->info, "Signature"));
  free(url);
  return life;
}

/* --- a Kafka client with MSK IAM ------------------------------------------------ */

typedef struct {
  hl_msk_auth auth;
  hl_kafka *k;
  pid_t peer;
  int port;
} rig;

static void flag(void *d) { *(int *)d = 1; }

/* Handles that authenticate with MSK IAM tokens from the peer's container
 * endpoint (extra: more peer arguments). No broker listens: tokens are
 * asked for before any connection. */
static void rig_open(rig *r, const char *const *extra, bool consumer) {
  nev = 0;
  uv_loop_init(&loop);
  hl_curl_uv_init(&curl, &loop, 16);
  const char *args[24] = {"--upstream", "http://127.0.0.1:1/", "--creds-akid", AKID, "--creds-secret", SECRET,
                          "--creds-token", SESSION};
  size_t n = 8;
  for (size_t i = 0; extra && extra[i]; i++) args[n++] = extra[i];
  r->port = 0;
  r->peer = hl_aws_peer_start(&r->port, args);
  char uri[128], err[256] = "";
  snprintf(uri, sizeof uri, "http://127.0.0.1:%d/creds", r->port);
  hl_aws_creds_env env = {.container_full_uri = uri};
  HL_ASSERT_MSG(hl_msk_auth_init(&r->auth, &loop, &curl, "eu-west-1", NULL, &env, err, sizeof err) == 0, "%s", err);
  int held = 0;
  int fd = hl_hold_port(&held); /* a port nothing answers on */
  char brokers[64];
  snprintf(brokers, sizeof brokers, "127.0.0.1:%d", held);
  close(fd);
  hl_kafka_config kc = {.brokers = brokers, .group_id = consumer ? "hookloop-auth-test" : NULL,
                        .sasl = {.mech = HL_KAFKA_SASL_OAUTHBEARER, .tokens = &r->auth.base},
                        .on_token = on_token};
  HL_ASSERT_MSG(hl_kafka_create(&loop, &kc, &r->k, err, sizeof err) == 0, "%s", err);
}

static void rig_close(rig *r) {
  int done = 0;
  hl_kafka_close(r->k, flag, &done);
  while (!done && uv_run(&loop, UV_RUN_ONCE)) {}
  done = 0;
  hl_msk_auth_close(&r->auth, flag, &done);
  while (!done && uv_run(&loop, UV_RUN_ONCE)) {}
  aws_loop_close(&loop, &curl, NULL);
  kill(r->peer, SIGTERM);
  hl_wait(r->peer, 3000);
  for (int i = 0; i < nev; i++) free(ev[i].token);
}

HL_TEST_T(producer_and_consumer_get_msk_iam_tokens_from_one_credentials_fetch, 90) {
  rig r;
  rig_open(&r, NULL, true);
  run_until("producer", true, 0, 30000);
  run_until("consumer", true, 0, 30000);
  /* Credentials valid for hours: the token lives its full 900 s. */
  HL_ASSERT_EQ_INT(check_token(nth("producer", true, 0)), 900);
  HL_ASSERT_EQ_INT(check_token(nth("consumer", true, 0)), 900);
  HL_ASSERT(!nth("producer", false, 0) && !nth("consumer", false, 0));
  /* Both handles signed with the one provider's credentials. */
  HL_ASSERT_EQ_INT(aws_peer_stat(r.port, "creds_fetches"), 1);
  rig_close(&r);
}

/* Credentials that live 70 s: each token lives no longer than the
 * credentials it was signed with, and librdkafka asks for the next one
 * before the last expires; the provider has fetched new credentials by
 * then. */
HL_TEST_T(short_lived_credentials_mean_short_tokens_refreshed_before_expiry, 240) {
  rig r;
  const char *extra[] = {"--creds-ttl-s", "70", NULL};
  rig_open(&r, extra, false);
  run_until("producer", true, 0, 30000);
  tok_event *a = nth("producer", true, 0);
  int life = check_token(a);
  HL_ASSERT_MSG(life <= 70, "X-Amz-Expires=%d outlives the 70 s credentials", life);
  HL_ASSERT_MSG(a->expiry_ms <= a->at_ms + 70000, "the token expires %lld ms after it was set",
                (long long)(a->expiry_ms - a->at_ms));
  run_until("producer", true, 1, 150000);
  tok_event *b = nth("producer", true, 1);
  HL_ASSERT_MSG(b->at_ms < a->expiry_ms, "the second token came %lld ms after the first expired",
                (long long)(b->at_ms - a->expiry_ms));
  HL_ASSERT(check_token(b) <= 70);
  HL_ASSERT(b->expiry_ms <= b->at_ms + 70000);
  HL_ASSERT(b->expiry_ms > a->expiry_ms);
  HL_ASSERT(strcmp(a->token, b->token) != 0);
  HL_ASSERT(aws_peer_stat(r.port, "creds_fetches") >= 2);
  HL_ASSERT(!nth("producer", false, 0));
  rig_close(&r);
}

/* The first credentials fetch fails (500): librdkafka is told why, then the
 * next refresh (10 s later) gets a token. */
HL_TEST_T(a_failed_credentials_fetch_fails_the_token_then_recovers, 90) {
  rig r;
  const char *extra[] = {"--creds-fail-first", "1", NULL};
  rig_open(&r, extra, false);
  run_until("producer", false, 0, 30000);
  tok_event *f = nth("producer", false, 0);
  HL_ASSERT_MSG(strstr(f->info, "could be fetched") || strstr(f->info, "could not be fetched"), "%s", f->info);
  HL_ASSERT_MSG(strstr(f->info, "container endpoint"), "%s", f->info);
  HL_ASSERT(!f->token && !strstr(f->info, SECRET) && !strstr(f->info, SESSION));
  run_until("producer", true, 0, 40000);
  tok_event *ok = nth("producer", true, 0);
  HL_ASSERT(ok > f); /* in that order */
  HL_ASSERT_EQ_INT(check_token(ok), 900);
  rig_close(&r);
}

/* The endpoint hands out credentials that already expired: no token is
 * signed with them; the failure says so; the refetched ones sign the next. */
HL_TEST_T(expired_credentials_fail_the_token_then_recover, 90) {
  rig r;
  const char *extra[] = {"--creds-expired-first", "1", NULL};
  rig_open(&r, extra, false);
  run_until("producer", false, 0, 30000);
  tok_event *f = nth("producer", false, 0);
  HL_ASSERT_MSG(strstr(f->info, "expired"), "%s", f->info);
  HL_ASSERT(!f->token);
  run_until("producer", true, 0, 40000);
  HL_ASSERT(nth("producer", true, 0) > f);
  HL_ASSERT_EQ_INT(check_token(nth("producer", true, 0)), 900);
  HL_ASSERT(aws_peer_stat(r.port, "creds_fetches") >= 2);
  rig_close(&r);
}

/* --- SCRAM ---------------------------------------------------------------------------- */

#define SCRAM_PASSWORD "pw-9f2c-SCRAM-only-here"

/* hl_app_kafka_auth_open with the configuration of the environment and a
 * Secrets Manager stand-in answering secret_value; its log goes to a file
 * whose text *log gets. */
static int open_scram(const char *secret_value, const char *fail_first, hl_app_kafka_auth *a, char *err,
                      size_t errlen, char **log, long *reads) {
  int p = 0, *port = &p;
  uv_loop_init(&loop);
  hl_curl_uv_init(&curl, &loop, 16);
  const char *args[] = {"--upstream", "http://127.0.0.1:1/", "--secret-value", secret_value,
                        "--secret-fail-first", fail_first, NULL};
  pid_t peer = hl_aws_peer_start(port, args);
  char ep[64];
  snprintf(ep, sizeof ep, "http://127.0.0.1:%d", *port);
  setenv("HOOKLOOP_SECRETSMANAGER_ENDPOINT", ep, 1);
  setenv("KAFKA_BROKERS", "127.0.0.1:9", 1);
  setenv("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512", 1);
  setenv("KAFKA_SASL_SECRET_ARN", "arn:aws:secretsmanager:eu-west-1:123456789012:secret:AmazonMSK_hookloop-Ab12", 1);
  setenv("AWS_ACCESS_KEY_ID", "AKIDSCRAMTEST", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "scram-test-aws-secret", 1);
  hl_config cfg;
  hl_buf cerr = HL_BUF_INIT;
  HL_ASSERT_MSG(hl_config_load(&cfg, NULL, &cerr) == 0, "%s", cerr.data);
  hl_buf_dispose(&cerr);
  /* The log lines of this call, in a file. */
  char path[256];
  hl_log_path("kafka_auth", path, sizeof path);
  fflush(stderr);
  int saved = dup(2), fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
  dup2(fd, 2);
  close(fd);
  int rc = hl_app_kafka_auth_open(a, &loop, &curl, &cfg, err, errlen);
  if (rc == 0) {
    /* librdkafka takes the login (a SCRAM mechanism it knows, both fields). */
    hl_kafka *k = NULL;
    char kerr[256] = "";
    hl_kafka_config kc = {.brokers = cfg.kafka_brokers, .sasl = a->sasl};
    HL_ASSERT_MSG(hl_kafka_create(&loop, &kc, &k, kerr, sizeof kerr) == 0, "%s", kerr);
    int done = 0;
    hl_kafka_close(k, flag, &done);
    while (!done && uv_run(&loop, UV_RUN_ONCE)) {}
  }
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  size_t len;
  *log = hl_read_file(path, &len);
  HL_ASSERT(*log);
  hl_config_dispose(&cfg);
  *reads = aws_peer_stat(*port, "secret_reads");
  kill(peer, SIGTERM);
  hl_wait(peer, 3000);
  return rc;
}

static void close_scram(hl_app_kafka_auth *a) {
  int done = 0;
  hl_app_kafka_auth_close(a, flag, &done);
  while (!done && uv_run(&loop, UV_RUN_ONCE)) {}
  HL_ASSERT(done);
  aws_loop_close(&loop, &curl, NULL);
}

HL_TEST(scram_login_from_a_secrets_manager_secret_never_logs_the_password) {
  hl_app_kafka_auth a;
  char err[512] = "", *log = NULL;
  long reads = 0;
  int rc = open_scram("{\"username\":\"alice\",\"password\":\"" SCRAM_PASSWORD "\"}", "0", &a, err, sizeof err,
                      &log, &reads);
  HL_ASSERT_MSG(rc == 0, "%s", err);
  HL_ASSERT_EQ_INT(reads, 1);
  HL_ASSERT_EQ_INT(a.sasl.mech, HL_KAFKA_SASL_SCRAM_SHA_512);
  HL_ASSERT_EQ_STR(a.sasl.username, "alice");
  HL_ASSERT_EQ_STR(a.sasl.password, SCRAM_PASSWORD);
  HL_ASSERT_MSG(strstr(log, "\"mechanism\":\"SCRAM-SHA-512\"") && strstr(log, "\"username\":\"alice\""), "%s", log);
  HL_ASSERT_MSG(!strstr(log, SCRAM_PASSWORD), "the password reached the log:\n%s", log);
  close_scram(&a);
  HL_ASSERT(a.sasl.password == NULL);
  free(log);
}

HL_TEST(scram_secrets_that_cannot_be_used_are_named) {
  hl_app_kafka_auth a;
  char err[512] = "", *log = NULL;
  long reads = 0;
  /* A webhook secret, not a login. */
  HL_ASSERT(open_scram("whsec_" SCRAM_PASSWORD, "0", &a, err, sizeof err, &log, &reads) != 0);
  HL_ASSERT_MSG(strstr(err, "KAFKA_SASL_SECRET_ARN") && strstr(err, "\"username\""), "%s", err);
  HL_ASSERT(!strstr(err, SCRAM_PASSWORD) && !strstr(log, SCRAM_PASSWORD));
  close_scram(&a);
  free(log);
  /* Secrets Manager keeps failing: the start-up error says so. */
  err[0] = '\0';
  HL_ASSERT(open_scram("{\"username\":\"alice\",\"password\":\"x\"}", "100", &a, err, sizeof err, &log, &reads) != 0);
  HL_ASSERT_EQ_INT(reads, 0);
  HL_ASSERT_MSG(strstr(err, "KAFKA_SASL_SECRET_ARN: could not read the secret"), "%s", err);
  close_scram(&a);
  free(log);
}

/* --- the real binary: serve and lambda ------------------------------------------- */

#include "../lambda/emulator.h"

#include <sys/stat.h>
#include <sys/wait.h>

#define BIN_SECRET "bin-Secret-Access-Key"
#define BIN_SESSION "bin-Session-Token"

/* Waits until the log file holds every needle; returns its text. */
static char *wait_log(const char *path, const char *const *needles, int timeout_ms) {
  uint64_t end = hl_mono_ms() + (uint64_t)timeout_ms;
  for (;;) {
    char *text = hl_read_file(path, NULL);
    bool all = text != NULL;
    for (size_t i = 0; all && needles[i]; i++) all = strstr(text, needles[i]) != NULL;
    if (all) return text;
    HL_ASSERT_MSG(hl_mono_ms() < end, "the log %s lacks what was waited for:\n%s", path, text ? text : "");
    free(text);
    hl_sleep_ms(100);
  }
}

/* The MSK IAM environment of a Lambda function (or an ECS task given
 * keys): region, the execution role's keys and session token. */
static size_t iam_env(char **envp, char *brokers, size_t len) {
  int held = 0;
  int fd = hl_hold_port(&held);
  close(fd);
  snprintf(brokers, len, "KAFKA_BROKERS=127.0.0.1:%d", held);
  const char *e[] = {brokers, "KAFKA_SASL_MECHANISM=AWS_MSK_IAM", "AWS_REGION=eu-west-1",
                     "AWS_ACCESS_KEY_ID=" AKID, "AWS_SECRET_ACCESS_KEY=" BIN_SECRET,
                     "AWS_SESSION_TOKEN=" BIN_SESSION, "LOG_LEVEL=debug"};
  for (size_t i = 0; i < HL_ARRAY_SIZE(e); i++) envp[i] = (char *)e[i];
  return HL_ARRAY_SIZE(e);
}

static void assert_token_lines(const char *log, const char *handle) {
  char want[128];
  snprintf(want, sizeof want, "\"msg\":\"kafka SASL token\",\"handle\":\"%s\"", handle);
  const char *line = strstr(log, want);
  HL_ASSERT_MSG(line, "no token line for %s", handle);
  const char *eol = strchr(line, '\n');
  char *l = strndup(line, eol ? (size_t)(eol - line) : strlen(line));
  HL_ASSERT_MSG(strstr(l, "\"host\":\"kafka.eu-west-1.amazonaws.com\"") &&
                    strstr(l, "\"action\":\"kafka-cluster:Connect\"") && strstr(l, "/eu-west-1/kafka-cluster/aws4_request\"") &&
                    strstr(l, "\"expires_s\":\"900\""),
                "%s", l);
  free(l);
  /* Nothing secret anywhere in the log. */
  HL_ASSERT(!strstr(log, BIN_SECRET) && !strstr(log, BIN_SESSION) && !strstr(log, AKID) && !strstr(log, "Signature="));
}

HL_TEST_T(serve_authenticates_producer_and_consumer_with_msk_iam, 120) {
  char *dir = hl_tmpdir("kafka-iam-serve");
  char data[600], log[700], brokers[64];
  snprintf(data, sizeof data, "HOOKLOOP_DATA_DIR=%s", dir);
  snprintf(log, sizeof log, "%s/hookloop.log", dir);
  char *envp[16];
  size_t n = iam_env(envp, brokers, sizeof brokers);
  envp[n++] = data;
  envp[n++] = "HOOKLOOP_LISTEN=127.0.0.1:0";
  envp[n] = NULL;
  char *argv[] = {(char *)hl_bin_path("hookloop"), "serve", NULL};
  pid_t pid;
  HL_ASSERT_MSG(hl_spawn_listening(argv, envp, log, &pid, 30000) > 0, "hookloop did not start; see %s", log);
  /* librdkafka's own line about the (refused) connection names the
   * protocol: SASL over TLS. */
  char proto[80];
  snprintf(proto, sizeof proto, "sasl_ssl://%s/bootstrap", brokers + strlen("KAFKA_BROKERS="));
  const char *needles[] = {"\"kafka SASL token set\",\"handle\":\"producer\"",
                           "\"kafka SASL token set\",\"handle\":\"consumer\"", proto, NULL};
  char *text = wait_log(log, needles, 30000);
  assert_token_lines(text, "producer");
  assert_token_lines(text, "consumer");
  HL_ASSERT(strstr(text, "\"mechanism\":\"AWS_MSK_IAM\""));
  free(text);
  /* The token source closes after the handles, before curl: a clean stop. */
  kill(pid, SIGTERM);
  int st = hl_wait(pid, 60000);
  HL_ASSERT_MSG(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status %d; see %s", st, log);
  text = hl_read_file(log, NULL);
  HL_ASSERT_MSG(!strstr(text, "open handles"), "%s", text);
  free(text);
  hl_rmtree(dir);
  free(dir);
}

HL_TEST_T(serve_logs_in_with_scram_over_sasl_ssl_without_logging_the_password, 120) {
  char *dir = hl_tmpdir("kafka-scram-serve");
  char data[600], log[700], brokers[64];
  snprintf(data, sizeof data, "HOOKLOOP_DATA_DIR=%s", dir);
  snprintf(log, sizeof log, "%s/hookloop.log", dir);
  int held = 0;
  close(hl_hold_port(&held));
  snprintf(brokers, sizeof brokers, "KAFKA_BROKERS=127.0.0.1:%d", held);
  char *envp[] = {data, brokers, "HOOKLOOP_LISTEN=127.0.0.1:0", "KAFKA_SASL_MECHANISM=SCRAM-SHA-512",
                  "KAFKA_SASL_USERNAME=alice", "KAFKA_SASL_PASSWORD=" SCRAM_PASSWORD, "LOG_LEVEL=debug", NULL};
  char *argv[] = {(char *)hl_bin_path("hookloop"), "serve", NULL};
  pid_t pid;
  HL_ASSERT_MSG(hl_spawn_listening(argv, envp, log, &pid, 30000) > 0, "hookloop did not start; see %s", log);
  char proto[80];
  snprintf(proto, sizeof proto, "sasl_ssl://127.0.0.1:%d/bootstrap", held);
  const char *needles[] = {"\"mechanism\":\"SCRAM-SHA-512\",\"username\":\"alice\",\"password\":\"set\"", proto, NULL};
  char *text = wait_log(log, needles, 30000);
  HL_ASSERT(!strstr(text, SCRAM_PASSWORD));
  free(text);
  kill(pid, SIGTERM);
  int st = hl_wait(pid, 60000);
  HL_ASSERT_MSG(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status %d; see %s", st, log);
  text = hl_read_file(log, NULL);
  HL_ASSERT(!strstr(text, SCRAM_PASSWORD));
  free(text);
  hl_rmtree(dir);
  free(dir);
}

HL_TEST_T(lambda_authenticates_its_producer_with_msk_iam, 120) {
  int port = emu_start();
  char *dir = hl_tmpdir("kafka-iam-lambda");
  char data[600], log[700], api[64], boot[700], brokers[64];
  snprintf(data, sizeof data, "HOOKLOOP_DATA_DIR=%s", dir);
  snprintf(log, sizeof log, "%s/lambda.log", dir);
  snprintf(api, sizeof api, "AWS_LAMBDA_RUNTIME_API=127.0.0.1:%d", port);
  char *envp[16];
  size_t n = iam_env(envp, brokers, sizeof brokers);
  envp[n++] = data;
  envp[n++] = api;
  envp[n] = NULL;
  /* Started under the name Lambda uses: bootstrap. */
  snprintf(boot, sizeof boot, "%s/bootstrap", dir);
  HL_ASSERT(symlink(hl_bin_path("hookloop"), boot) == 0);
  char *argv[] = {boot, NULL};
  pid_t pid = hl_spawn(argv, envp, log);
  const char *needles[] = {"\"kafka SASL token set\",\"handle\":\"producer\"", NULL};
  char *text = wait_log(log, needles, 30000);
  assert_token_lines(text, "producer");
  free(text);
  kill(pid, SIGKILL);
  hl_wait(pid, 5000);
  emu_stop();
  hl_rmtree(dir);
  free(dir);
}

/* A configuration that cannot work stops the binary at start-up, naming
 * the variable. */
HL_TEST(serve_refuses_kafka_auth_it_cannot_do) {
  char *dir = hl_tmpdir("kafka-auth-bad");
  char data[600], log[700];
  snprintf(data, sizeof data, "HOOKLOOP_DATA_DIR=%s", dir);
  snprintf(log, sizeof log, "%s/hookloop.log", dir);
  const struct { const char *env[3]; const char *expect; } bad[] = {
    {{"KAFKA_SASL_MECHANISM=GSSAPI"}, "KAFKA_SASL_MECHANISM=GSSAPI: expected AWS_MSK_IAM"},
    {{"KAFKA_SASL_MECHANISM=SCRAM-SHA-512", "KAFKA_SASL_USERNAME=alice"}, "needs KAFKA_SASL_PASSWORD"},
    {{"KAFKA_AUTH=iam"}, "needs AWS_REGION"},
  };
  for (size_t i = 0; i < HL_ARRAY_SIZE(bad); i++) {
    char *envp[8] = {data, "HOOKLOOP_LISTEN=127.0.0.1:0", "KAFKA_BROKERS=127.0.0.1:9"};
    size_t n = 3;
    for (size_t j = 0; j < 3 && bad[i].env[j]; j++) envp[n++] = (char *)bad[i].env[j];
    envp[n] = NULL;
    unlink(log);
    char *argv[] = {(char *)hl_bin_path("hookloop"), "serve", NULL};
    int st = hl_wait(hl_spawn(argv, envp, log), 20000);
    HL_ASSERT_MSG(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 2, "case %zu: exit status %d", i, st);
    char *text = hl_read_file(log, NULL);
    HL_ASSERT_MSG(text && strstr(text, bad[i].expect), "case %zu: %s", i, text ? text : "");
    free(text);
  }
  hl_rmtree(dir);
  free(dir);
}

/* --- least privilege --------------------------------------------------------------- */

static void kafka_actions(const hl_json *v, char names[][64], int *n) {
  if (v->type == HL_JSON_STRING && strncmp(v->u.str, "kafka-cluster:", 14) == 0 && *n < 32) {
    for (int i = 0; i < *n; i++)
      if (strcmp(names[i], v->u.str + 14) == 0) return;
    snprintf(names[(*n)++], 64, "%s", v->u.str + 14);
  } else if (v->type == HL_JSON_ARRAY) {
    for (uint32_t i = 0; i < v->len; i++) kafka_actions(&v->u.items[i], names, n);
  } else if (v->type == HL_JSON_OBJECT) {
    for (uint32_t i = 0; i < v->len; i++) kafka_actions(&v->u.members[i].value, names, n);
  }
}

static void assert_grants_exactly(const char *file, const char *pointer, const char *const *used, size_t nused) {
  char path[600];
  snprintf(path, sizeof path, "%s/%s", HL_SOURCE_DIR, file);
  size_t len;
  char *text = hl_read_file(path, &len);
  HL_ASSERT_MSG(text, "cannot read %s", path);
  hl_json_doc d;
  hl_json_doc_init(&d);
  HL_ASSERT_MSG(hl_json_parse(&d, text, len, NULL) == 0, "%s is not JSON", file);
  const hl_json *policy = hl_json_pointer(d.root, pointer, strlen(pointer));
  HL_ASSERT_MSG(policy, "%s has no %s", file, pointer);
  static char granted[32][64];
  int ng = 0;
  kafka_actions(policy, granted, &ng);
  for (size_t i = 0; i < nused; i++) {
    bool ok = false;
    for (int k = 0; k < ng; k++) ok |= strcmp(used[i], granted[k]) == 0;
    HL_ASSERT_MSG(ok, "%s: kafka-cluster:%s is needed but not granted", file, used[i]);
  }
  for (int k = 0; k < ng; k++) {
    bool ok = false;
    for (size_t i = 0; i < nused; i++) ok |= strcmp(used[i], granted[k]) == 0;
    HL_ASSERT_MSG(ok, "%s grants kafka-cluster:%s, which nothing uses", file, granted[k]);
  }
  hl_json_doc_dispose(&d);
  free(text);
}

/* The MSK IAM actions follow from what the Kafka layer does: connecting and
 * reading metadata (Connect, DescribeTopic) always; producing (WriteData),
 * idempotently (WriteDataIdempotently: InitProducerId); creating topics at
 * registration (CreateTopic); consuming (ReadData) in a group whose offsets
 * it reads and commits (DescribeGroup, AlterGroup). Lambda's MSK event
 * source mappings consume with the functions' role, and also read the
 * cluster's dynamic configuration. The policies grant exactly those. */
HL_TEST(the_iam_policies_grant_exactly_the_kafka_cluster_actions_used) {
  char path[600];
  snprintf(path, sizeof path, "%s/src/loop/hl_kafka.c", HL_SOURCE_DIR);
  char *code = hl_read_file(path, NULL);
  HL_ASSERT(code);
  const struct { const char *marker, *action; } uses[] = {
    {"rd_kafka_new(", "Connect"},
    {"rd_kafka_new(", "DescribeTopic"},
    {"rd_kafka_producev(", "WriteData"},
    {"\"enable.idempotence\", \"true\"", "WriteDataIdempotently"},
    {"rd_kafka_CreateTopics(", "CreateTopic"},
    {"rd_kafka_consume_batch_queue(", "ReadData"},
    {"rd_kafka_subscribe(", "DescribeGroup"},
    {"rd_kafka_commit(", "AlterGroup"},
  };
  const char *used[16];
  size_t n = 0;
  for (size_t i = 0; i < HL_ARRAY_SIZE(uses); i++)
    if (strstr(code, uses[i].marker)) used[n++] = uses[i].action;
  free(code);
  HL_ASSERT_EQ_INT((int)n, (int)HL_ARRAY_SIZE(uses));
  assert_grants_exactly("deploy/ecs/task-role-policy.json", "", used, n);
  used[n++] = "DescribeClusterDynamicConfiguration"; /* the MSK event source mappings */
  assert_grants_exactly("deploy/lambda/template.json", "/Resources/HookloopPolicy", used, n);
}
