/* hl_http_server on a real loop, driven by a client thread over loopback
 * sockets (raw, so malformed and slow requests can be sent too). */
#include "hl_test.h"
#include "hl_testutil.h"
#include "common/hl_common.h"
#include "common/hl_http_time.h"
#include "loop/hl_http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>

static uv_loop_t loop;
static hl_http_server *srv;
static uv_async_t done_async;
static uv_timer_t async_timer;
static hl_http_req *held;       /* a request answered later */
static hl_http_req *held_until_release; /* /hold: answered when the client sends release_async */
static uv_async_t release_async;
/* gate_async: the loop thread blocks until the client thread writes a byte
 * to gate_pipe[1], so that what the client sends meanwhile is all waiting
 * when the loop goes on (after it wrote a byte to gated_pipe[1]). */
static uv_async_t gate_async;
static int gate_pipe[2], gated_pipe[2];
static _Atomic int handled;
static int port;

static void on_release(uv_async_t *a) {
  (void)a;
  if (held_until_release) hl_http_respond(held_until_release, 200, NULL, 0, "{\"held\":true}", 13);
  held_until_release = NULL;
}

static void on_gate(uv_async_t *a) {
  (void)a;
  char b = 'g';
  HL_ASSERT(write(gated_pipe[1], &b, 1) == 1);
  HL_ASSERT(read(gate_pipe[0], &b, 1) == 1);
}

static void on_async_answer(uv_timer_t *t) {
  (void)t;
  if (held) hl_http_respond(held, 200, NULL, 0, "{\"late\":true}", 13);
  held = NULL;
}

#define HUGE_BODY ((size_t)32 << 20)
#define MID_BODY ((size_t)512 << 10)

/* For pipelined_answers_wait_while_the_queue_is_full: how many answer bytes
 * the client thread had read when the server made each /huge answer. */
static _Atomic size_t client_got;
static size_t huge_calls, got_at_call[32];

/* For pipelined_requests_answered_at_once_do_not_nest: the lowest and
 * highest stack address the handler ran at. */
static uintptr_t depth_lo, depth_hi;

/* For a_pipelining_client_does_not_hold_the_loop_from_other_connections:
 * /seq answers {"seq":n}, n counting the /seq answers across connections. */
static unsigned seq_next;

static void on_request(hl_http_req *r, void *data) {
  volatile char body_frame = 0;
  (void)data;
  (void)body_frame;
  handled++;
  if (strcmp(r->path, "/seq") == 0) {
    char body[32];
    int n = snprintf(body, sizeof body, "{\"seq\":%u}", ++seq_next);
    hl_http_respond(r, 200, NULL, 0, body, (size_t)n);
    return;
  }
  if (strcmp(r->path, "/huge") == 0) { /* more than the socket buffers hold */
    if (huge_calls < HL_ARRAY_SIZE(got_at_call)) got_at_call[huge_calls] = atomic_load(&client_got);
    huge_calls++;
    char *big = hl_malloc(HUGE_BODY);
    memset(big, 'h', HUGE_BODY);
    hl_http_respond(r, 200, NULL, 0, big, HUGE_BODY);
    hl_free(big);
    return;
  }
  if (strcmp(r->path, "/mid") == 0) { /* two of them fill the answer queue's bound */
    char *mid = hl_malloc(MID_BODY);
    memset(mid, 'm', MID_BODY);
    hl_http_respond(r, 200, NULL, 0, mid, MID_BODY);
    hl_free(mid);
    return;
  }
  if (strcmp(r->path, "/depth") == 0) { /* where on the stack the handler runs */
    uintptr_t at = (uintptr_t)&body_frame;
    if (!depth_lo || at < depth_lo) depth_lo = at;
    if (at > depth_hi) depth_hi = at;
  }
  if (strcmp(r->path, "/nocontent") == 0) {
    hl_http_respond(r, 204, NULL, 0, "ignored", 7); /* a 204 never carries one */
    return;
  }
  if (strcmp(r->path, "/drop") == 0) {
    hl_http_respond_close(r);
    return;
  }
  if (strcmp(r->path, "/hold") == 0) {
    held_until_release = r;
    return;
  }
  if (strcmp(r->path, "/late") == 0) {
    held = r;
    uv_timer_start(&async_timer, on_async_answer, 200, 0);
    return;
  }
  char body[256];
  size_t ct = 0;
  const char *h = hl_http_req_header(r, "x-tag", &ct);
  int n = snprintf(body, sizeof body, "{\"path\":\"%s\",\"query\":\"%s\",\"len\":%zu,\"tag\":\"%.*s\"}", r->path,
                   r->query, r->body_len, (int)ct, h ? h : "");
  hl_http_respond(r, 200, NULL, 0, body, (size_t)n);
}

static size_t limit(const char *m, const char *p, size_t n, void *d) {
  (void)m; (void)d;
  return n == 4 && memcmp(p, "/big", 4) == 0 ? 100000 : 1000;
}

static void on_done(uv_async_t *a) {
  (void)a;
  uv_stop(&loop);
}

static int connect_port(void) { return hl_connect_loopback(port); }

/* Reads until `want` responses (counted by "HTTP/1.1 ") arrived with their
 * bodies, or the peer closed. Returns bytes read into buf. */
static size_t read_responses(int fd, char *buf, size_t cap, int want) {
  size_t n = 0;
  for (;;) {
    int count = 0;
    for (char *p = buf; (p = strstr(p, "HTTP/1.1 ")) != NULL; p++) count++;
    if (count >= want && n > 0 && buf[n - 1] == '}') break;
    ssize_t r = read(fd, buf + n, cap - n - 1);
    if (r <= 0) break;
    n += (size_t)r;
    buf[n] = '\0';
  }
  return n;
}

static void send_all(int fd, const char *s) { HL_ASSERT(write(fd, s, strlen(s)) == (ssize_t)strlen(s)); }

typedef void (*client_fn)(void);
static client_fn g_client;

static void *client_main(void *arg) {
  (void)arg;
  g_client();
  uv_async_send(&done_async);
  return NULL;
}

static void destroyed(void *d) { *(int *)d = 1; }

/* Runs the server with cfg (on_request and body_limit filled in here) and
 * fn in a client thread until fn returns. */
static void run_with_config(client_fn fn, hl_http_server_config cfg) {
  uv_loop_init(&loop);
  cfg.on_request = on_request;
  cfg.body_limit = limit;
  HL_ASSERT_EQ_INT(hl_http_server_create(&loop, "127.0.0.1:0", &cfg, &srv), 0);
  HL_ASSERT_EQ_INT(hl_http_server_start(srv), 0);
  port = hl_http_server_port(srv);
  HL_ASSERT(port > 0);
  uv_async_init(&loop, &done_async, on_done);
  uv_async_init(&loop, &release_async, on_release);
  uv_async_init(&loop, &gate_async, on_gate);
  HL_ASSERT(pipe(gate_pipe) == 0 && pipe(gated_pipe) == 0);
  uv_timer_init(&loop, &async_timer);
  g_client = fn;
  pthread_t th;
  pthread_create(&th, NULL, client_main, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  pthread_join(th, NULL);
  int gone = 0;
  hl_http_server_destroy(srv, destroyed, &gone);
  uv_close((uv_handle_t *)&done_async, NULL);
  uv_close((uv_handle_t *)&release_async, NULL);
  uv_close((uv_handle_t *)&gate_async, NULL);
  uv_close((uv_handle_t *)&async_timer, NULL);
  for (int i = 0; i < 2; i++) {
    close(gate_pipe[i]);
    close(gated_pipe[i]);
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  HL_ASSERT(gone);
  HL_ASSERT_EQ_INT(uv_loop_close(&loop), 0); /* no handle leaked */
}

static void run_with_client(client_fn fn, unsigned header_timeout_ms) {
  run_with_config(fn, (hl_http_server_config){.header_timeout_ms = header_timeout_ms});
}

static void client_keepalive_and_pipelining(void) {
  int fd = connect_port();
  HL_ASSERT(fd >= 0);
  char buf[8192];
  send_all(fd, "GET /one?x=1 HTTP/1.1\r\nHost: t\r\nX-Tag: A\r\n\r\n");
  read_responses(fd, buf, sizeof buf, 1);
  HL_ASSERT(strstr(buf, "HTTP/1.1 200 OK") && strstr(buf, "\"path\":\"/one\"") && strstr(buf, "\"query\":\"x=1\""));
  HL_ASSERT(strstr(buf, "Connection: keep-alive"));
  /* Date (RFC 9110 §6.6.1): an IMF-fixdate of the present. */
  const char *date = strstr(buf, "\r\nDate: ");
  HL_ASSERT(date);
  int64_t when = 0, now = (int64_t)time(NULL);
  HL_ASSERT_EQ_INT(hl_http_date_parse(date + 8, HL_HTTP_DATE_LEN, now, &when), 0);
  HL_ASSERT(strncmp(date + 8 + HL_HTTP_DATE_LEN, "\r\n", 2) == 0);
  HL_ASSERT_MSG(when <= now && when >= now - 5, "Date %lld, now %lld", (long long)when, (long long)now);
  /* Same connection, three pipelined requests: answered in order. */
  send_all(fd, "POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"
               "GET /b HTTP/1.1\r\nHost: t\r\n\r\n"
               "POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n");
  memset(buf, 0, sizeof buf);
  read_responses(fd, buf, sizeof buf, 3);
  char *a = strstr(buf, "\"path\":\"/a\""), *b = strstr(buf, "\"path\":\"/b\""), *c = strstr(buf, "\"path\":\"/c\"");
  HL_ASSERT(a && b && c && a < b && b < c);
  HL_ASSERT(strstr(buf, "\"len\":3") && strstr(buf, "\"len\":2"));
  close(fd);
}

HL_TEST(keepalive_and_pipelining) { run_with_client(client_keepalive_and_pipelining, 0); }

/* A chunked body's trailer fields are not headers (RFC 9110 section
 * 6.5.1): the handler reads the head's X-Tag, or none, never the
 * trailer's. */
static void client_trailers(void) {
  int fd = connect_port();
  HL_ASSERT(fd >= 0);
  char buf[8192];
  send_all(fd, "POST /t1 HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
               "2\r\nhi\r\n0\r\nX-Tag: trailer\r\n\r\n"
               "POST /t2 HTTP/1.1\r\nHost: t\r\nX-Tag: head\r\nTransfer-Encoding: chunked\r\n\r\n"
               "3\r\nabc\r\n0\r\nX-Tag: trailer\r\nX-Other: x\r\n\r\n");
  memset(buf, 0, sizeof buf);
  read_responses(fd, buf, sizeof buf, 2);
  char *a = strstr(buf, "\"path\":\"/t1\""), *b = strstr(buf, "\"path\":\"/t2\"");
  HL_ASSERT_MSG(a && b && a < b, "%s", buf);
  HL_ASSERT_MSG(strstr(a, "\"len\":2,\"tag\":\"\"") && strstr(b, "\"len\":3,\"tag\":\"head\""), "%s", buf);
  HL_ASSERT(!strstr(buf, "trailer"));
  close(fd);
}

HL_TEST(trailers_are_not_read_as_headers) { run_with_client(client_trailers, 0); }

/* RFC 9110: the answer to a HEAD has the GET's Content-Length and no body;
 * a 204 has neither. Pipelined behind them, the next answer starts right
 * after their heads (a body there, or a client waiting for one, would
 * break the connection's framing). */
static void client_head_and_204(void) {
  int fd = connect_port();
  HL_ASSERT(fd >= 0);
  send_all(fd, "HEAD /h HTTP/1.1\r\nHost: t\r\n\r\nGET /nocontent HTTP/1.1\r\nHost: t\r\n\r\n"
               "GET /after HTTP/1.1\r\nHost: t\r\n\r\n");
  char buf[8192];
  memset(buf, 0, sizeof buf);
  read_responses(fd, buf, sizeof buf, 3);
  char *head_end = strstr(buf, "\r\n\r\n");
  HL_ASSERT_MSG(head_end && strncmp(buf, "HTTP/1.1 200 ", 13) == 0, "got: %s", buf);
  const char *cl = strstr(buf, "Content-Length: ");
  HL_ASSERT(cl && cl < head_end && atoi(cl + 16) > 0); /* the GET's length */
  char *second = head_end + 4;
  HL_ASSERT_MSG(strncmp(second, "HTTP/1.1 204 ", 13) == 0, "after the HEAD's head: %.60s", second);
  char *second_end = strstr(second, "\r\n\r\n");
  HL_ASSERT(second_end);
  *second_end = '\0';
  HL_ASSERT_MSG(strstr(second, "Content-Length") == NULL && strstr(second, "Content-Type") == NULL, "%s", second);
  HL_ASSERT_MSG(strncmp(second_end + 4, "HTTP/1.1 200 ", 13) == 0, "after the 204: %.60s", second_end + 4);
  HL_ASSERT(strstr(second_end + 4, "\"path\":\"/after\"") != NULL);
  close(fd);
}

HL_TEST(head_answers_have_no_body_nor_204s_a_length) { run_with_client(client_head_and_204, 0); }

static void client_limits(void) {
  char buf[8192];
  int fd = connect_port();
  send_all(fd, "POST /small HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n");
  read_responses(fd, buf, sizeof buf, 1);
  HL_ASSERT(strstr(buf, "HTTP/1.1 413") && strstr(buf, "\"error\":\"payload_too_large\""));
  close(fd);
  /* The same size is fine where the limit is larger. */
  fd = connect_port();
  char *big = malloc(5100);
  snprintf(big, 5100, "POST /big HTTP/1.1\r\nHost: t\r\nContent-Length: 4000\r\n\r\n");
  size_t hl = strlen(big);
  memset(big + hl, 'x', 4000);
  big[hl + 4000] = '\0';
  send_all(fd, big);
  free(big);
  memset(buf, 0, sizeof buf);
  read_responses(fd, buf, sizeof buf, 1);
  HL_ASSERT(strstr(buf, "HTTP/1.1 200") && strstr(buf, "\"len\":4000"));
  close(fd);
  /* Chunked bodies are cut at the limit. */
  fd = connect_port();
  send_all(fd, "POST /small HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
  char chunk[700];
  memset(chunk, 'y', sizeof chunk);
  for (int i = 0; i < 3; i++) {
    char head[16];
    snprintf(head, sizeof head, "%zx\r\n", sizeof chunk);
    send_all(fd, head);
    HL_ASSERT(write(fd, chunk, sizeof chunk) == (ssize_t)sizeof chunk);
    send_all(fd, "\r\n");
  }
  memset(buf, 0, sizeof buf);
  read_responses(fd, buf, sizeof buf, 1);
  HL_ASSERT(strstr(buf, "HTTP/1.1 413"));
  close(fd);
  /* Huge headers: 431. */
  fd = connect_port();
  send_all(fd, "GET / HTTP/1.1\r\nHost: t\r\nX-Pad: ");
  char pad[4096];
  memset(pad, 'p', sizeof pad - 1);
  pad[sizeof pad - 1] = '\0';
  for (int i = 0; i < 5; i++) send_all(fd, pad);
  send_all(fd, "\r\n\r\n");
  memset(buf, 0, sizeof buf);
  read_responses(fd, buf, sizeof buf, 1);
  HL_ASSERT(strstr(buf, "HTTP/1.1 431") && strstr(buf, "over 16 KiB"));
  close(fd);
  /* More than 100 header fields, few bytes: 431 saying so, not the bytes. */
  fd = connect_port();
  send_all(fd, "GET / HTTP/1.1\r\nHost: t\r\n");
  for (int i = 0; i < 110; i++) send_all(fd, "X-A: 1\r\n");
  send_all(fd, "\r\n");
  memset(buf, 0, sizeof buf);
  read_responses(fd, buf, sizeof buf, 1);
  HL_ASSERT_MSG(strstr(buf, "HTTP/1.1 431") && strstr(buf, "more than 100 header fields"), "%.300s", buf);
  close(fd);
  /* A HEAD, then bytes that begin no request: the HEAD's answer has no
   * body, the 400 that follows has its own (it was sent without it). */
  fd = connect_port();
  send_all(fd, "HEAD /a HTTP/1.1\r\nHost: t\r\n\r\nhello\r\n\r\n");
  memset(buf, 0, sizeof buf);
  read_responses(fd, buf, sizeof buf, 2);
  HL_ASSERT_MSG(strstr(buf, "HTTP/1.1 400") && strstr(buf, "\"error\":\"bad_request\""), "%.600s", buf);
  close(fd);
  /* Garbage: 400 with a JSON body. */
  fd = connect_port();
  send_all(fd, "THIS IS NOT HTTP\r\n\r\n");
  memset(buf, 0, sizeof buf);
  read_responses(fd, buf, sizeof buf, 1);
  HL_ASSERT(strstr(buf, "HTTP/1.1 400") && strstr(buf, "\"error\":\"bad_request\""));
  close(fd);
  /* Another protocol version: 505, naming what is served (it was answered
   * as if it were HTTP/1.1). HTTP/1.0 is served. */
  const char *versions[] = {"HTTP/2.0", "HTTP/3.0", "HTTP/0.9", "HTTP/9.9"};
  for (size_t i = 0; i < sizeof versions / sizeof *versions; i++) {
    fd = connect_port();
    char req[128];
    snprintf(req, sizeof req, "GET / %s\r\nHost: t\r\n\r\n", versions[i]);
    send_all(fd, req);
    memset(buf, 0, sizeof buf);
    read_responses(fd, buf, sizeof buf, 1);
    HL_ASSERT_MSG(strstr(buf, "HTTP/1.1 505 HTTP Version Not Supported") &&
                      strstr(buf, "\"error\":\"http_version_not_supported\""),
                  "%s: %s", versions[i], buf);
    close(fd);
  }
  fd = connect_port();
  send_all(fd, "GET / HTTP/1.0\r\nHost: t\r\n\r\n");
  memset(buf, 0, sizeof buf);
  read_responses(fd, buf, sizeof buf, 1);
  HL_ASSERT_MSG(strstr(buf, " 200 "), "%s", buf);
  close(fd);
}

HL_TEST(limits_and_malformed_requests) { run_with_client(client_limits, 0); }

static void client_slow(void) {
  int fd = connect_port();
  send_all(fd, "GET / HTTP/1.1\r\nHo");
  uint64_t t0 = hl_mono_ms();
  char buf[256];
  ssize_t r = read(fd, buf, sizeof buf); /* the server closes at the header timeout */
  HL_ASSERT(r == 0);
  uint64_t waited = hl_mono_ms() - t0;
  HL_ASSERT_MSG(waited >= 250 && waited < 3000, "closed after %llu ms", (unsigned long long)waited);
  close(fd);
}

HL_TEST(slow_clients_time_out) { run_with_client(client_slow, 300); }

static void client_async(void) {
  char buf[4096];
  int fd = connect_port();
  send_all(fd, "GET /late HTTP/1.1\r\nHost: t\r\n\r\n");
  read_responses(fd, buf, sizeof buf, 1);
  HL_ASSERT(strstr(buf, "{\"late\":true}"));
  close(fd);
  /* A client that leaves before its asynchronous answer: no crash, no leak. */
  fd = connect_port();
  send_all(fd, "GET /late HTTP/1.1\r\nHost: t\r\n\r\n");
  close(fd);
  hl_sleep_ms(400);
  fd = connect_port();
  send_all(fd, "GET /after HTTP/1.1\r\nHost: t\r\n\r\n");
  memset(buf, 0, sizeof buf);
  read_responses(fd, buf, sizeof buf, 1);
  HL_ASSERT(strstr(buf, "\"path\":\"/after\""));
  close(fd);
}

HL_TEST(asynchronous_answers_and_early_disconnects) { run_with_client(client_async, 0); }

/* Every answer that says "Connection: close" ends the connection — asked by
 * the client (the header, or HTTP/1.0 without keep-alive) or the server's own
 * 400, 413 and 431: the client reads the answer and then EOF, and once it has
 * closed too, no descriptor is left behind. (Connections kept open after such
 * an answer once filled the connection limit after ~10,000 requests.) */
#define CLOSE_ROUNDS 2000

static void client_closing_answers(void) {
  int base = hl_count_fds(0);
  HL_ASSERT(base > 0);
  hl_closing_requests(port, CLOSE_ROUNDS, "/c", "/small", 5000);
  int n = hl_wait_fds_at_most(0, base, 5000);
  HL_ASSERT_MSG(n == base, "%d descriptors open after %d closing answers, %d before", n, 5 * CLOSE_ROUNDS, base);
  /* HTTP/1.0 with keep-alive asked for stays open. */
  int fd = connect_port();
  char buf[4096];
  send_all(fd, "GET /k1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  read_responses(fd, buf, sizeof buf, 1);
  HL_ASSERT(strstr(buf, "HTTP/1.1 200") && strstr(buf, "Connection: keep-alive"));
  memset(buf, 0, sizeof buf);
  send_all(fd, "GET /k2 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  read_responses(fd, buf, sizeof buf, 1);
  HL_ASSERT(strstr(buf, "\"path\":\"/k2\""));
  close(fd);
}

HL_TEST_T(closing_answers_close_the_connection, 300) { run_with_client(client_closing_answers, 0); }

/* A client still sending a body the server refused with 413 gets the answer
 * and then EOF, whether it reads while sending or only after (the server
 * reads and discards what arrives after the answer, up to the lingering
 * bounds, instead of leaving the client blocked in its write). */
static void client_keeps_sending_after_413(void) {
  int base = hl_count_fds(0);
  char buf[4096];
  size_t sent = 0;
  long n = hl_send_body_until_eof(port, "POST /small HTTP/1.1\r\nHost: t\r\nContent-Length: 67108864\r\n\r\n",
                                  (size_t)64 << 20, buf, sizeof buf, &sent);
  HL_ASSERT_MSG(n > 0, "no EOF after the 413 (%zu body bytes sent)", sent);
  HL_ASSERT_MSG(strncmp(buf, "HTTP/1.1 413 ", 13) == 0, "got %.40s", buf);
  /* Sends all of an 8 MiB body (more than the socket buffers hold), then reads. */
  int fd = connect_port();
  HL_ASSERT(fd >= 0);
  send_all(fd, "POST /small HTTP/1.1\r\nHost: t\r\nContent-Length: 8388608\r\n\r\n");
  static char chunk[65536];
  memset(chunk, 'z', sizeof chunk);
  for (size_t total = 0; total < ((size_t)8 << 20); total += sizeof chunk)
    HL_ASSERT_MSG(send(fd, chunk, sizeof chunk, MSG_NOSIGNAL) == (ssize_t)sizeof chunk,
                  "the body blocked after %zu bytes", total);
  memset(buf, 0, sizeof buf);
  size_t got = 0;
  ssize_t r;
  while ((r = read(fd, buf + got, sizeof buf - 1 - got)) > 0) got += (size_t)r;
  HL_ASSERT_MSG(r == 0, "no EOF after the 413");
  HL_ASSERT_MSG(strncmp(buf, "HTTP/1.1 413 ", 13) == 0, "got %.40s", buf);
  close(fd);
  int now = hl_wait_fds_at_most(0, base, 5000);
  HL_ASSERT_MSG(now == base, "%d descriptors open, %d before", now, base);
}

HL_TEST_T(a_client_still_sending_after_413_gets_the_answer_and_eof, 120) {
  run_with_client(client_keeps_sending_after_413, 0);
}

/* A client that sends its request and shuts its sending side at once (a
 * half close) still reads the whole answer: the server saw that EOF while
 * most of a closing answer was still queued and closed, cutting it off
 * (fuzz/crashes/http/half_close_while_answers_queued.txt). */
static void client_half_close(void) {
  const char *reqs[] = {"GET /huge HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                        "GET /a HTTP/1.1\r\nHost: t\r\n\r\nGET /huge HTTP/1.1\r\nHost: t\r\n\r\n"};
  for (size_t i = 0; i < sizeof reqs / sizeof *reqs; i++) {
    int fd = connect_port();
    HL_ASSERT(fd >= 0);
    send_all(fd, reqs[i]);
    HL_ASSERT(shutdown(fd, SHUT_WR) == 0);
    static char buf[1 << 16];
    size_t got = 0;
    ssize_t r;
    while ((r = read(fd, buf, sizeof buf)) > 0) got += (size_t)r;
    HL_ASSERT_MSG(r == 0, "read failed: %s", strerror(errno));
    HL_ASSERT_MSG(got > HUGE_BODY, "request %zu: %zu bytes of an answer with a %zu-byte body", i, got, HUGE_BODY);
    close(fd);
  }
}

HL_TEST_T(a_half_closed_client_gets_every_answer, 120) { run_with_client(client_half_close, 0); }

/* A half-closed client that pipelined more requests than a connection
 * handles in one loop turn gets an answer to each: its EOF waits behind
 * the requests buffered for the next turns. */
static void client_half_close_pipelined(void) {
  hl_buf reqs = HL_BUF_INIT;
  for (int i = 0; i < 111; i++) hl_buf_puts(&reqs, "GET /a HTTP/1.1\r\nHost: t\r\n\r\n");
  int fd = connect_port();
  HL_ASSERT(fd >= 0);
  send_all(fd, reqs.data);
  HL_ASSERT(shutdown(fd, SHUT_WR) == 0);
  hl_buf got = HL_BUF_INIT;
  char buf[65536];
  ssize_t r;
  while ((r = read(fd, buf, sizeof buf)) > 0) hl_buf_append(&got, buf, (size_t)r);
  HL_ASSERT_MSG(r == 0, "read failed: %s", strerror(errno));
  hl_buf_putc(&got, '\0');
  int answers = 0;
  for (const char *p = got.data; (p = strstr(p, "HTTP/1.1 200")) != NULL; p++) answers++;
  HL_ASSERT_MSG(answers == 111, "%d answers to 111 pipelined requests before the half close", answers);
  close(fd);
  hl_buf_dispose(&got);
  hl_buf_dispose(&reqs);
}

HL_TEST_T(a_half_closed_client_gets_every_answer_past_one_turns_share, 120) {
  run_with_client(client_half_close_pipelined, 0);
}

/* A request its handler drops without an answer (hl_http_respond_close)
 * behind pipelined ones whose answers are still queued: those answers go
 * out whole, then the client reads EOF. Closing at once cancelled them
 * (fuzz/crashes/http/drop_while_answers_queued_*). The answers are 512 KiB
 * each, more than the socket buffers hold before the client reads, so
 * some are still queued when the server reaches /drop. */
enum { MID_REQS = 8 };

static void client_drop_behind_pipelined(void) {
  int fd = connect_port();
  HL_ASSERT(fd >= 0);
  for (int i = 0; i < MID_REQS; i++) send_all(fd, "GET /mid HTTP/1.1\r\nHost: t\r\n\r\n");
  send_all(fd, "GET /drop HTTP/1.1\r\nHost: t\r\n\r\n");
  usleep(100 * 1000); /* the server answers what fits and queues the rest */
  static char buf[1 << 16];
  size_t got = 0;
  ssize_t r;
  while ((r = read(fd, buf, sizeof buf)) > 0) got += (size_t)r;
  HL_ASSERT_MSG(r == 0, "read failed after %zu bytes: %s", got, strerror(errno));
  HL_ASSERT_MSG(got > MID_REQS * MID_BODY, "%zu bytes of %d answers with %zu-byte bodies", got, MID_REQS, MID_BODY);
  close(fd);
}

HL_TEST_T(a_dropped_request_leaves_the_queued_answers_before_it_whole, 120) {
  run_with_client(client_drop_behind_pipelined, 0);
}

/* The lingering close is bounded: in bytes discarded, in silence awaited and
 * in time overall (each set low here); past a bound the server closes, so a
 * client that keeps sending is reset and one that keeps the connection open
 * loses the server's side of it. */
static int errno_after_sending(int fd, size_t max, size_t chunk_len, int pause_ms) {
  static char chunk[65536];
  memset(chunk, 'w', sizeof chunk);
  for (size_t total = 0; total < max; total += chunk_len) {
    if (send(fd, chunk, chunk_len, MSG_NOSIGNAL) < 0) return errno;
    if (pause_ms) hl_sleep_ms(pause_ms);
  }
  return 0;
}

static void client_linger_bytes(void) {
  int fd = connect_port();
  send_all(fd, "POST /small HTTP/1.1\r\nHost: t\r\nContent-Length: 67108864\r\n\r\n");
  int e = errno_after_sending(fd, (size_t)64 << 20, 65536, 0);
  HL_ASSERT_MSG(e == EPIPE || e == ECONNRESET, "sending went on (errno %d): the discarding was not cut off", e);
  close(fd);
}

static void client_linger_silence(void) {
  int base = hl_count_fds(0);
  int fd = connect_port();
  send_all(fd, "GET /s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  char buf[4096];
  size_t got = 0;
  ssize_t r;
  while ((r = read(fd, buf + got, sizeof buf - 1 - got)) > 0) got += (size_t)r;
  HL_ASSERT(r == 0);
  /* The client keeps its socket and says nothing: the server's goes. */
  int n = hl_wait_fds_at_most(0, base + 1, 5000);
  HL_ASSERT_MSG(n == base + 1, "%d descriptors open, %d before plus the client's", n, base);
  close(fd);
}

static void client_linger_time(void) {
  int fd = connect_port();
  send_all(fd, "GET /t HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  /* One byte every 50 ms never leaves the server waiting long: only the
   * overall time ends it (200 bytes would take 10 s). */
  int e = errno_after_sending(fd, 200, 1, 50);
  HL_ASSERT_MSG(e == EPIPE || e == ECONNRESET, "a trickle kept the connection open (errno %d)", e);
  close(fd);
}

HL_TEST_T(lingering_is_bounded_in_bytes_silence_and_time, 120) {
  run_with_config(client_linger_bytes, (hl_http_server_config){.linger_max_bytes = 256 * 1024});
  run_with_config(client_linger_silence, (hl_http_server_config){.linger_timeout_ms = 300});
  run_with_config(client_linger_time, (hl_http_server_config){.linger_time_ms = 500});
}

/* Back-pressure on a pipelining client. While a request is with its handler,
 * what the client sends next is read only up to a bound: the client's writes
 * block once the socket buffers are full, instead of the server buffering
 * everything (it once read 96 MB of pipelined requests into memory while one
 * request waited). Once the answer goes out, every pipelined request is
 * answered, in order. */
enum { PIPE_REQS = 960, PIPE_BODY = 100000 };

/* Counts the answers ("HTTP/1.1 200 ") in a stream read in pieces. */
typedef struct {
  char tail[16];
  size_t ntail;
  size_t answers;
} answer_counter;

static void count_answers(answer_counter *a, const char *data, size_t n) {
  static char buf[65536 + 32];
  size_t len = 0;
  memcpy(buf, a->tail, a->ntail);
  len = a->ntail;
  memcpy(buf + len, data, n);
  len += n;
  buf[len] = '\0';
  for (const char *p = buf; (p = memmem(p, (size_t)(buf + len - p), "HTTP/1.1 200 ", 13)) != NULL; p += 13)
    a->answers++;
  a->ntail = len < 12 ? len : 12; /* a marker cut at the end is counted with the next piece */
  memcpy(a->tail, buf + len - a->ntail, a->ntail);
}

/* Sends what is left of stream (from *sent) while reading answers, until
 * want of them came (each read counted into ac); the first read must hold
 * first when it is not NULL. */
static void exchange(int fd, const char *stream, size_t total, size_t *sent, size_t want, const char *first,
                     answer_counter *ac) {
  static char rbuf[65536];
  bool first_seen = first == NULL;
  while (ac->answers < want) {
    struct pollfd pfd = {.fd = fd, .events = POLLIN | (*sent < total ? POLLOUT : 0)};
    HL_ASSERT_MSG(poll(&pfd, 1, 10000) > 0, "stalled: %zu answers, %zu of %zu bytes sent", ac->answers, *sent, total);
    if (pfd.revents & POLLOUT) {
      ssize_t w = send(fd, stream + *sent, total - *sent, MSG_NOSIGNAL);
      if (w > 0) *sent += (size_t)w;
    }
    if (!(pfd.revents & (POLLIN | POLLHUP | POLLERR))) continue;
    ssize_t r = read(fd, rbuf, sizeof rbuf);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) continue;
    HL_ASSERT_MSG(r > 0, "the connection ended after %zu answers", ac->answers);
    if (!first_seen) {
      HL_ASSERT_MSG(memmem(rbuf, (size_t)r, first, strlen(first)) != NULL, "the answer %s did not come first", first);
      first_seen = true;
    }
    count_answers(ac, rbuf, (size_t)r);
  }
}

static void client_pipelines_past_a_held_request(void) {
  size_t one_len = 0;
  char head[128];
  int hl = snprintf(head, sizeof head, "POST /big HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n", PIPE_BODY);
  one_len = (size_t)hl + PIPE_BODY;
  const char *first = "GET /hold HTTP/1.1\r\nHost: t\r\n\r\n";
  size_t total = strlen(first) + one_len * PIPE_REQS;
  char *stream = malloc(total);
  HL_ASSERT(stream != NULL);
  memcpy(stream, first, strlen(first));
  for (size_t i = 0; i < PIPE_REQS; i++) {
    char *at = stream + strlen(first) + i * one_len;
    memcpy(at, head, (size_t)hl);
    memset(at + hl, 'p', PIPE_BODY);
  }
  int fd = connect_port();
  HL_ASSERT(fd >= 0);
  HL_ASSERT(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == 0);
  /* While /hold waits: send until nothing more goes for a second. */
  size_t sent = 0;
  while (sent < total) {
    ssize_t w = send(fd, stream + sent, total - sent, MSG_NOSIGNAL);
    if (w > 0) { sent += (size_t)w; continue; }
    HL_ASSERT_MSG(w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK), "send failed: %s", strerror(errno));
    struct pollfd pfd = {.fd = fd, .events = POLLOUT};
    if (poll(&pfd, 1, 1000) == 0) break;
  }
  HL_ASSERT_MSG(sent < total / 2, "the server took %zu of %zu pipelined bytes while a request was with its handler",
                sent, total);
  /* The answer goes out; then every pipelined request is answered in order. */
  uv_async_send(&release_async);
  answer_counter ac = {0};
  exchange(fd, stream, total, &sent, PIPE_REQS + 1, "{\"held\":true}", &ac);
  HL_ASSERT_EQ_INT(sent, total);
  HL_ASSERT_EQ_INT(ac.answers, PIPE_REQS + 1);
  close(fd);
  free(stream);
}

HL_TEST_T(a_pipelining_client_is_held_while_a_request_is_with_its_handler, 120) {
  run_with_client(client_pipelines_past_a_held_request, 0);
}

/* The peak resident memory of this process (VmHWM), in KiB, or -1. */
static long peak_rss_kb(void) {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  long kb = -1;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, "VmHWM:", 6) == 0) kb = atol(line + 6);
  fclose(f);
  return kb;
}

/* The owner refuses a request on its head: /big without "X-Key: k". */
static void admit(const hl_http_req *head, void *data, hl_http_refusal *r) {
  (void)data;
  size_t n = 0;
  const char *k = hl_http_req_header(head, "x-key", &n);
  HL_ASSERT_EQ_INT(head->body_len, 0);
  if (strcmp(head->path, "/big") == 0 && !(k && n == 1 && *k == 'k'))
    *r = (hl_http_refusal){401, "unauthorized", "send X-Key", {"www-authenticate", 16, "Key", 3}};
}

/* A head refused by the owner is answered before any of its body is read:
 * no 100 Continue, the refusal with its header and "Connection: close",
 * then EOF, and the handler never runs. The client sends a body far over
 * what the server buffers only after the answer, and the server discards
 * it. An admitted head with the key goes on as before (100, then 200). */
static void client_refused_on_its_head(void) {
  int before = handled;
  char buf[4096];
  int fd = connect_port();
  HL_ASSERT(fd >= 0);
  send_all(fd, "POST /big?q=1 HTTP/1.1\r\nHost: t\r\nContent-Length: 90000\r\nExpect: 100-continue\r\n\r\n");
  size_t got = 0;
  ssize_t r;
  while ((r = read(fd, buf + got, sizeof buf - 1 - got)) > 0) {
    got += (size_t)r;
    buf[got] = '\0';
    if (strstr(buf, "}")) break;
  }
  HL_ASSERT_MSG(strncmp(buf, "HTTP/1.1 401 ", 13) == 0, "got %.60s", buf);
  HL_ASSERT(strstr(buf, "\r\nWWW-Authenticate: Key\r\n") || strstr(buf, "\r\nwww-authenticate: Key\r\n"));
  HL_ASSERT(strstr(buf, "Connection: close"));
  HL_ASSERT(strstr(buf, "\"unauthorized\"") && strstr(buf, "send X-Key"));
  HL_ASSERT(strstr(buf, "100 Continue") == NULL);
  static char body[90000];
  memset(body, 'b', sizeof body);
  (void)!send(fd, body, sizeof body, MSG_NOSIGNAL);
  while ((r = read(fd, buf, sizeof buf)) > 0) {}
  HL_ASSERT_MSG(r == 0, "no EOF after the refusal");
  close(fd);
  HL_ASSERT_EQ_INT(handled, before);
  fd = connect_port();
  HL_ASSERT(fd >= 0);
  send_all(fd, "POST /big HTTP/1.1\r\nHost: t\r\nX-Key: k\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n");
  memset(buf, 0, sizeof buf);
  got = 0;
  while (!strstr(buf, "\r\n\r\n") && (r = read(fd, buf + got, sizeof buf - 1 - got)) > 0) got += (size_t)r;
  HL_ASSERT_MSG(strncmp(buf, "HTTP/1.1 100 Continue\r\n", 23) == 0, "got %.60s", buf);
  send_all(fd, "abc");
  memset(buf, 0, sizeof buf);
  read_responses(fd, buf, sizeof buf, 1);
  HL_ASSERT(strstr(buf, "HTTP/1.1 200 OK") && strstr(buf, "\"len\":3"));
  close(fd);
  HL_ASSERT_EQ_INT(handled, before + 1);
}

HL_TEST_T(a_head_refused_by_the_owner_is_answered_before_its_body, 120) {
  run_with_config(client_refused_on_its_head, (hl_http_server_config){.admit = admit});
}

/* Pipelined requests whose handler answers at once are handled one after
 * the other, not each from inside the answer of the one before: that
 * nested a request's whole handling per pipelined request, and a client
 * that sent ~1,300 small requests in one write overflowed the stack of the
 * API server. The handler runs at the same stack depth for all of them. */
enum { DEPTH_REQS = 6000 };

static void client_pipelines_quick_requests(void) {
  static const char one[] = "GET /depth HTTP/1.1\r\nHost: t\r\n\r\n";
  size_t one_len = sizeof one - 1, total = one_len * DEPTH_REQS;
  char *stream = malloc(total);
  HL_ASSERT(stream != NULL);
  for (size_t i = 0; i < DEPTH_REQS; i++) memcpy(stream + i * one_len, one, one_len);
  int fd = connect_port();
  HL_ASSERT(fd >= 0);
  HL_ASSERT(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == 0);
  answer_counter ac = {0};
  size_t sent = 0;
  exchange(fd, stream, total, &sent, DEPTH_REQS, NULL, &ac);
  HL_ASSERT_EQ_INT(ac.answers, DEPTH_REQS);
  close(fd);
  free(stream);
}

HL_TEST_T(pipelined_requests_answered_at_once_do_not_nest, 120) {
  depth_lo = depth_hi = 0;
  run_with_client(client_pipelines_quick_requests, 0);
  HL_ASSERT(depth_lo > 0);
  /* A few frames of slack (the loop may call in from different depths);
   * nesting moved the handler down by hundreds of bytes per request. */
  HL_ASSERT_MSG(depth_hi - depth_lo < 16384, "the handler ran at stack depths %zu bytes apart",
                (size_t)(depth_hi - depth_lo));
}

/* A client that pipelines requests with big answers: the server makes the
 * next answer only once the queued ones went out, so at most one big answer
 * (32 MiB) is in memory, where it once made all 16 (512 MiB) at once. What
 * is checked is the order, not the process's memory (the allocator keeps
 * freed blocks, so that figure is only printed): the server makes answer k
 * only after the client has read about k answers, less what the queue (1 MiB)
 * and the socket buffers hold — half an answer is far more than those. */
enum { HUGE_REQS = 16 };

static void client_pipelines_big_answers(void) {
  int fd = connect_port();
  HL_ASSERT(fd >= 0);
  long before = peak_rss_kb();
  atomic_store(&client_got, 0);
  huge_calls = 0;
  for (int i = 0; i < HUGE_REQS; i++) send_all(fd, "GET /huge HTTP/1.1\r\nHost: t\r\n\r\n");
  static char rbuf[1 << 16];
  size_t got = 0, want = (size_t)HUGE_REQS * HUGE_BODY;
  ssize_t r;
  while (got < want && (r = read(fd, rbuf, sizeof rbuf)) > 0) {
    got += (size_t)r;
    atomic_store(&client_got, got);
  }
  HL_ASSERT_MSG(got >= want, "%zu of at least %zu bytes of answers", got, want);
  long after = peak_rss_kb();
  close(fd);
  HL_ASSERT_EQ_INT(huge_calls, HUGE_REQS);
  for (size_t k = 1; k < HUGE_REQS; k++)
    HL_ASSERT_MSG(got_at_call[k] + HUGE_BODY / 2 >= k * HUGE_BODY,
                  "answer %zu was made when the client had read %zu bytes (%zu answers' worth)", k, got_at_call[k],
                  got_at_call[k] / HUGE_BODY);
  printf("peak resident memory grew by %ld KiB for %d pipelined 32 MiB answers\n", after - before, HUGE_REQS);
}

HL_TEST_T(pipelined_answers_wait_while_the_queue_is_full, 120) {
  /* The peak is measured from here (clear_refs 5 resets VmHWM). */
  FILE *f = fopen("/proc/self/clear_refs", "w");
  if (f) { fputs("5", f); fclose(f); }
  run_with_client(client_pipelines_big_answers, 0);
}

/* A client that pipelines requests answered at once does not hold the loop:
 * the server handles a bounded number of them per loop turn, and answers
 * other connections in between. All of them were handled in one go (one
 * read of 64 KiB is ~2,000 small requests, and libuv reads up to 32 times
 * per wake-up), so a pipelining client held every other client, and every
 * timer, for up to seconds.
 * While the loop is held at a gate, client A's ~1,000 pipelined requests
 * reach the server's socket in one segment and client B connects and sends
 * one request; then the loop goes on. Handled all at once, A's requests are
 * all answered before B's connection is even accepted; bounded per turn, B
 * is answered while most of A's are still waiting. What is checked is the
 * order of the answers (a counter across connections), not a time. */
enum { TURN_PIPELINE_REQS = 1000 };

/* Reads until want answers came whole (each ends with its body {"seq":n});
 * returns the last n. */
static unsigned read_last_seq(int fd, size_t want) {
  static char buf[1 << 20];
  size_t n = 0, seen = 0;
  const char *last = NULL;
  while (seen < want || buf[n - 1] != '}') {
    ssize_t r = read(fd, buf + n, sizeof buf - 1 - n);
    HL_ASSERT_MSG(r > 0, "the connection ended after %zu of %zu answers", seen, want);
    n += (size_t)r;
    buf[n] = '\0';
    seen = 0;
    for (const char *p = buf; (p = strstr(p, "{\"seq\":")) != NULL; p++, seen++) last = p;
  }
  return (unsigned)atoi(last + 7);
}

static void client_pipelines_beside_another(void) {
  static const char one[] = "GET /seq HTTP/1.1\r\nHost: t\r\n\r\n";
  size_t one_len = sizeof one - 1, total = one_len * TURN_PIPELINE_REQS;
  char *stream = malloc(total);
  HL_ASSERT(stream != NULL);
  for (size_t i = 0; i < TURN_PIPELINE_REQS; i++) memcpy(stream + i * one_len, one, one_len);
  int a = connect_port();
  HL_ASSERT(a >= 0);
  int on = 1;
  HL_ASSERT(setsockopt(a, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) == 0);
  send_all(a, one); /* A is accepted and read before the gate */
  HL_ASSERT_EQ_INT(read_last_seq(a, 1), 1);
  uv_async_send(&gate_async);
  char g;
  HL_ASSERT(read(gated_pipe[0], &g, 1) == 1);
  HL_ASSERT_EQ_INT(send(a, stream, total, MSG_NOSIGNAL), (ssize_t)total);
  int b = connect_port();
  HL_ASSERT(b >= 0);
  send_all(b, one);
  HL_ASSERT(write(gate_pipe[1], &g, 1) == 1);
  unsigned b_seq = read_last_seq(b, 1);
  unsigned a_last = read_last_seq(a, TURN_PIPELINE_REQS);
  printf("B's request was answered after %u of A's %d pipelined ones\n", b_seq - 2, TURN_PIPELINE_REQS);
  HL_ASSERT(a_last >= TURN_PIPELINE_REQS + 1 && b_seq >= 2);
  HL_ASSERT_MSG(b_seq < a_last, "the other connection's request was answered only after all %d pipelined ones",
                TURN_PIPELINE_REQS);
  close(a);
  close(b);
  free(stream);
}

HL_TEST_T(a_pipelining_client_does_not_hold_the_loop_from_other_connections, 120) {
  seq_next = 0;
  run_with_client(client_pipelines_beside_another, 0);
}

/* Request bodies held in memory are bounded across connections: each
 * connection could hold a body up to its limit (10 MiB for bulk) for the
 * 30 s body timeout, and nothing bounded their sum, so slow uploaders on
 * many connections grew the process until the OOM killer ended it. With a
 * bound of 4,000 bytes: a body of 3,000 declared on one connection and
 * still arriving is held; another connection's head declaring 2,000 more
 * is answered 503 with Retry-After, a JSON error and Connection: close,
 * before its body is read; 3 bytes more still fit, and a request without a
 * body is served. A chunked body counts as its limit (it may grow to it):
 * one on /a (1,000) fits, one on /big (100,000) does not. Once the first
 * request is answered, 2,000 fit again. */
enum { BODY_CAP = 4000 };

/* Sends req on a new connection and reads its whole answer (to EOF or the
 * end of its JSON body) into buf. */
static void one_request(const char *req, char *buf, size_t cap) {
  int fd = connect_port();
  HL_ASSERT(fd >= 0);
  send_all(fd, req);
  memset(buf, 0, cap);
  read_responses(fd, buf, cap, 1);
  close(fd);
}

static void client_bodies_over_the_bound(void) {
  char buf[4096];
  static char body[2001];
  memset(body, 'b', 2000);
  char big[2200];
  snprintf(big, sizeof big, "POST /big HTTP/1.1\r\nHost: t\r\nContent-Length: 2000\r\n\r\n%s", body);
  int slow = connect_port();
  HL_ASSERT(slow >= 0);
  send_all(slow, "POST /big HTTP/1.1\r\nHost: t\r\nContent-Length: 3000\r\n\r\n0123456789");
  /* A round trip on another connection, accepted after this one: the loop
   * reads the slow head no later than this request (both are ready when
   * the later one is), so it is counted before the next requests come. */
  one_request("GET /x HTTP/1.1\r\nHost: t\r\n\r\n", buf, sizeof buf);
  HL_ASSERT(strstr(buf, "HTTP/1.1 200 OK"));
  one_request(big, buf, sizeof buf);
  HL_ASSERT_MSG(strncmp(buf, "HTTP/1.1 503 ", 13) == 0, "a body past the bound got %.40s", buf);
  HL_ASSERT(strstr(buf, "\r\nretry-after: 1\r\n") || strstr(buf, "\r\nRetry-After: 1\r\n"));
  HL_ASSERT(strstr(buf, "Connection: close") && strstr(buf, "\"error\":\"busy\""));
  one_request("POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc", buf, sizeof buf);
  HL_ASSERT_MSG(strstr(buf, "HTTP/1.1 200 OK") && strstr(buf, "\"len\":3"), "got %.40s", buf);
  one_request("GET /y HTTP/1.1\r\nHost: t\r\n\r\n", buf, sizeof buf);
  HL_ASSERT(strstr(buf, "HTTP/1.1 200 OK"));
  one_request("POST /a HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n", buf,
              sizeof buf);
  HL_ASSERT_MSG(strstr(buf, "HTTP/1.1 200 OK") && strstr(buf, "\"len\":2"), "got %.40s", buf);
  one_request("POST /big HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n", buf,
              sizeof buf);
  HL_ASSERT_MSG(strncmp(buf, "HTTP/1.1 503 ", 13) == 0, "a chunked body past the bound got %.40s", buf);
  /* The slow body completes; once answered, its bytes are no longer held. */
  static char rest[2991];
  memset(rest, 's', sizeof rest - 1);
  send_all(slow, rest);
  memset(buf, 0, sizeof buf);
  read_responses(slow, buf, sizeof buf, 1);
  HL_ASSERT_MSG(strstr(buf, "HTTP/1.1 200 OK") && strstr(buf, "\"len\":3000"), "got %.40s", buf);
  one_request(big, buf, sizeof buf);
  HL_ASSERT_MSG(strstr(buf, "HTTP/1.1 200 OK") && strstr(buf, "\"len\":2000"), "got %.40s", buf);
  close(slow);
}

HL_TEST_T(request_bodies_past_the_servers_bound_are_answered_503, 120) {
  run_with_config(client_bodies_over_the_bound, (hl_http_server_config){.max_buffered_body_bytes = BODY_CAP});
}
