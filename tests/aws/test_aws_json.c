/* The AWS JSON-protocol client (src/aws/hl_aws_json) through the default
 * secret's reader (src/aws/hl_secrets): retries of a failing
 * GetSecretValue stop after the reader's attempts, a call that gets no
 * answer is canceled at once, and closing mid-read does not wait on the
 * network. Real processes and sockets on 127.0.0.1. */
#include "hl_test.h"
#include "hl_testutil.h"
#include "aws_testutil.h"
#include "aws/hl_aws_json.h"
#include "aws/hl_secrets.h"
#include "common/hl_common.h"
#include "json/hl_json.h"
#include "loop/hl_curl_uv.h"

#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#define SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

static uv_loop_t loop;
static hl_curl_uv curl;
static const hl_aws_creds_env creds_env = {.access_key_id = "AKIDEXAMPLE", .secret_access_key = "test-secret"};

static void loop_up(void) {
  uv_loop_init(&loop);
  hl_curl_uv_init(&curl, &loop, 16);
}

static void on_flag(void *data) { *(int *)data = 1; }

static void loop_down(void) {
  int closed = 0;
  hl_curl_uv_close(&curl, on_flag, &closed);
  while (!closed && uv_run(&loop, UV_RUN_ONCE)) {}
  uv_run(&loop, UV_RUN_DEFAULT);
  HL_ASSERT_EQ_INT(uv_loop_close(&loop), 0);
}

/* The test peer answering GetSecretValue, the first fail_first reads 500. */
static pid_t peer_start(int fail_first, char *endpoint, size_t len, int *port) {
  char ff[16];
  snprintf(ff, sizeof ff, "%d", fail_first);
  const char *args[] = {"--upstream", "http://127.0.0.1:1/", "--secret-value", SECRET, "--secret-fail-first", ff, NULL};
  *port = 0;
  pid_t pid = hl_aws_peer_start(port, args);
  snprintf(endpoint, len, "http://127.0.0.1:%d", *port);
  return pid;
}

/* A listening socket nobody reads: connections are made, requests are
 * never answered. Its URL goes to ep. */
static int silent_listener(char *ep, size_t len) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  HL_ASSERT(bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && listen(fd, 16) == 0);
  socklen_t al = sizeof a;
  getsockname(fd, (struct sockaddr *)&a, &al);
  snprintf(ep, len, "http://127.0.0.1:%d", ntohs(a.sin_port));
  return fd;
}

typedef struct {
  int calls, status;
  char why[400];
} first_read;

static void on_first(void *data, int status, const char *why) {
  first_read *f = data;
  f->calls++;
  f->status = status;
  snprintf(f->why, sizeof f->why, "%s", why ? why : "");
}

static void secrets_up(hl_secrets *s, const char *endpoint) {
  hl_secrets_config cfg = {.secret_id = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:hookloop-AbCdEf",
                           .endpoint = endpoint, .creds = creds_env};
  char err[256] = "";
  HL_ASSERT_MSG(hl_secrets_init(s, &loop, &curl, &cfg, err, sizeof err) == 0, "init: %s", err);
}

static void secrets_down(hl_secrets *s) {
  int closed = 0;
  hl_secrets_close(s, on_flag, &closed);
  while (!closed && uv_run(&loop, UV_RUN_ONCE)) {}
  HL_ASSERT(closed);
}

/* One first read against a peer failing its first fail_first reads. */
static void first_read_against(int fail_first, void (*check)(hl_secrets *s, const first_read *f, int port)) {
  loop_up();
  char ep[64];
  int port;
  pid_t peer = peer_start(fail_first, ep, sizeof ep, &port);
  hl_secrets s;
  secrets_up(&s, ep);
  first_read f = {0};
  hl_secrets_start(&s, on_first, &f);
  while (!f.calls && uv_run(&loop, UV_RUN_ONCE)) {}
  check(&s, &f, port);
  secrets_down(&s);
  loop_down();
  kill(peer, SIGTERM);
  hl_wait(peer, 3000);
}

static void read_after_two_failures(hl_secrets *s, const first_read *f, int port) {
  HL_ASSERT_MSG(f->status == 0, "first read failed: %s", f->why);
  HL_ASSERT_EQ_STR(hl_secrets_value(s), SECRET);
  HL_ASSERT_EQ_INT(s->client.attempts, 3);
  HL_ASSERT_EQ_INT(aws_peer_stat(port, "secret_failed"), 2);
  HL_ASSERT_EQ_INT(aws_peer_stat(port, "secret_reads"), 1);
}

HL_TEST(a_failing_read_is_retried_by_the_shared_client) { first_read_against(2, read_after_two_failures); }

static void read_given_up(hl_secrets *s, const first_read *f, int port) {
  HL_ASSERT(f->status != 0);
  HL_ASSERT_MSG(strstr(f->why, "HTTP 500") && strstr(f->why, "InternalServiceError"), "why: %s", f->why);
  HL_ASSERT(hl_secrets_value(s) == NULL);
  HL_ASSERT_EQ_INT(aws_peer_stat(port, "secret_failed"), 3);
}

HL_TEST(a_read_gives_up_after_its_attempts_with_the_answer_in_why) { first_read_against(100, read_given_up); }

typedef struct {
  int calls;
  hl_aws_status st;
} answer;

static void on_answer(void *data, const hl_aws_status *st, const hl_json *resp) {
  (void)resp;
  answer *a = data;
  a->calls++;
  a->st = *st;
}

static void on_tick(uv_timer_t *t) { *(int *)t->data = 1; }

static void run_for(int ms) {
  uv_timer_t t;
  int fired = 0;
  uv_timer_init(&loop, &t);
  t.data = &fired;
  uv_timer_start(&t, on_tick, (uint64_t)ms, 0);
  while (!fired) uv_run(&loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(&loop, UV_RUN_NOWAIT);
}

HL_TEST(cancel_all_ends_a_call_that_gets_no_answer) {
  loop_up();
  char ep[64];
  int fd = silent_listener(ep, sizeof ep);
  hl_aws_creds_provider cp;
  char err[256] = "";
  HL_ASSERT(hl_aws_creds_init(&cp, &loop, &curl, &creds_env, err, sizeof err) == 0);
  hl_aws_json_client c;
  hl_aws_json_opts o = {.svc = {"dynamodb", "application/x-amz-json-1.0"}, .endpoint = ep, .region = "eu-west-1",
                        .timeout_ms = 30000};
  HL_ASSERT_MSG(hl_aws_json_init(&c, &loop, &curl, &cp, &o, "the endpoint", err, sizeof err) == 0, "%s", err);
  answer a = {0};
  hl_buf body = HL_BUF_INIT;
  hl_buf_puts(&body, "{}");
  hl_aws_json_call(&c, "DynamoDB_20120810.ListTables", &body, NULL, on_answer, &a);
  run_for(300);
  HL_ASSERT_EQ_INT(a.calls, 0); /* sent, and waiting on the silent peer */
  HL_ASSERT_EQ_INT((int)c.nlive, 1);
  hl_aws_json_cancel_all(&c);
  HL_ASSERT_EQ_INT(a.calls, 1);
  HL_ASSERT_EQ_STR(a.st.code, "Canceled");
  HL_ASSERT(a.st.outcome != HL_AWS_OK);
  HL_ASSERT_EQ_INT((int)c.nlive, 0);
  int closed = 0, creds_closed = 0;
  hl_aws_json_close(&c, on_flag, &closed);
  while (!closed && uv_run(&loop, UV_RUN_ONCE)) {}
  hl_aws_creds_close(&cp, on_flag, &creds_closed);
  while (!creds_closed && uv_run(&loop, UV_RUN_ONCE)) {}
  loop_down();
  close(fd);
}

static void on_watchdog(uv_timer_t *t) { *(int *)t->data = 1; }

HL_TEST(closing_mid_read_does_not_wait_on_the_network) {
  loop_up();
  char ep[64];
  int fd = silent_listener(ep, sizeof ep);
  hl_secrets s;
  secrets_up(&s, ep);
  first_read f = {0};
  hl_secrets_start(&s, on_first, &f);
  run_for(200);
  HL_ASSERT_EQ_INT(f.calls, 0);
  /* The read would time out after 10 s per attempt; the close must not. */
  uv_timer_t dog;
  int late = 0;
  uv_timer_init(&loop, &dog);
  dog.data = &late;
  uv_timer_start(&dog, on_watchdog, 3000, 0);
  int closed = 0;
  hl_secrets_close(&s, on_flag, &closed);
  while (!closed && !late) uv_run(&loop, UV_RUN_ONCE);
  HL_ASSERT_MSG(closed && !late, "the close waited on the unanswered read");
  HL_ASSERT_EQ_INT(f.calls, 0); /* nobody is told of a read the close ended */
  uv_close((uv_handle_t *)&dog, NULL);
  loop_down();
  close(fd);
}
