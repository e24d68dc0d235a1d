/* hl_http_server on a real loop, driven by a client thread over loopback
 * sockets (raw, so malformed and slow requests can be sent too). */
#include "hl_test.h"
#include "hl_testutil.h"
#include "common/hl_common.h"
#include "loop/hl_http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

static uv_loop_t loop;
static hl_http_server *srv;
static uv_async_t done_async;
static uv_timer_t async_timer;
static hl_http_req *held;       /* a request answered later */
static int handled;
static int port;

static void on_async_answer(uv_timer_t *t) {
  (void)t;
  if (held) hl_http_respond(held, 200, NULL, 0, "{\"late\":true}", 13);
  held = NULL;
}

static void on_request(hl_http_req *r, void *data) {
  (void)data;
  handled++;
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

static int connect_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) return -1;
  struct timeval tv = {5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

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

static void run_with_client(client_fn fn, unsigned header_timeout_ms) {
  uv_loop_init(&loop);
  hl_http_server_config cfg = {.on_request = on_request, .body_limit = limit,
                               .header_timeout_ms = header_timeout_ms};
  HL_ASSERT_EQ_INT(hl_http_server_create(&loop, "127.0.0.1:0", &cfg, &srv), 0);
  HL_ASSERT_EQ_INT(hl_http_server_start(srv), 0);
  port = hl_http_server_port(srv);
  HL_ASSERT(port > 0);
  uv_async_init(&loop, &done_async, on_done);
  uv_timer_init(&loop, &async_timer);
  g_client = fn;
  pthread_t th;
  pthread_create(&th, NULL, client_main, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  pthread_join(th, NULL);
  int gone = 0;
  hl_http_server_destroy(srv, destroyed, &gone);
  uv_close((uv_handle_t *)&done_async, NULL);
  uv_close((uv_handle_t *)&async_timer, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  HL_ASSERT(gone);
  HL_ASSERT_EQ_INT(uv_loop_close(&loop), 0); /* no handle leaked */
}

static void client_keepalive_and_pipelining(void) {
  int fd = connect_port();
  HL_ASSERT(fd >= 0);
  char buf[8192];
  send_all(fd, "GET /one?x=1 HTTP/1.1\r\nHost: t\r\nX-Tag: A\r\n\r\n");
  read_responses(fd, buf, sizeof buf, 1);
  HL_ASSERT(strstr(buf, "HTTP/1.1 200 OK") && strstr(buf, "\"path\":\"/one\"") && strstr(buf, "\"query\":\"x=1\""));
  HL_ASSERT(strstr(buf, "Connection: keep-alive"));
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
  HL_ASSERT(strstr(buf, "HTTP/1.1 431"));
  close(fd);
  /* Garbage: 400 with a JSON body. */
  fd = connect_port();
  send_all(fd, "THIS IS NOT HTTP\r\n\r\n");
  memset(buf, 0, sizeof buf);
  read_responses(fd, buf, sizeof buf, 1);
  HL_ASSERT(strstr(buf, "HTTP/1.1 400") && strstr(buf, "\"error\":\"bad_request\""));
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
