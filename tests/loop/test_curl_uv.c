/* hl_curl_uv on a real loop against hl_http_server over loopback: the
 * transfers of one loop are spread over shards (multi handles) of
 * HL_CURL_UV_SHARD_CONNS connections, made as they are first needed, and
 * each shard keeps its connections alive for the next transfers; and
 * transfers that end before their connection is made leave no poll behind
 * on the fd curl closed. */
#include "hl_test.h"
#include "hl_testutil.h"
#include "common/hl_common.h"
#include "loop/hl_curl_uv.h"
#include "loop/hl_http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#define WANT (HL_CURL_UV_SHARD_CONNS + HL_CURL_UV_SHARD_CONNS / 2) /* more than one shard holds */

static uv_loop_t loop;
static hl_http_server *srv;
static hl_http_req *held[WANT];
static int nheld;
static uv_timer_t guard;
static bool timed_out;

typedef struct {
  hl_curl_xfer xfer;
  CURL *easy;
  CURLcode result;
  long code;
  long new_conns;
} xfer;
static xfer xf[WANT];
static int ndone;

/* Each request is held until all WANT have arrived: the answers come only
 * when every transfer is running at once. */
static void on_request(hl_http_req *r, void *data) {
  (void)data;
  held[nheld++] = r;
  if (nheld < WANT) return;
  for (int i = 0; i < WANT; i++) hl_http_respond(held[i], 200, NULL, 0, "{}", 2);
  nheld = 0;
}

static size_t discard(char *p, size_t size, size_t n, void *d) {
  (void)p;
  (void)d;
  return size * n;
}

static void on_done(hl_curl_xfer *x, CURLcode rc) {
  xfer *t = hl_container_of(x, xfer, xfer);
  t->result = rc;
  curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &t->code);
  curl_easy_getinfo(t->easy, CURLINFO_NUM_CONNECTS, &t->new_conns);
  if (++ndone == WANT) uv_stop(&loop);
}

static void on_guard(uv_timer_t *t) {
  (void)t;
  timed_out = true;
  uv_stop(&loop);
}

/* Starts WANT transfers and runs the loop until all are done. */
static void wave(hl_curl_uv *cu) {
  ndone = 0;
  for (int i = 0; i < WANT; i++) {
    xf[i].result = CURLE_OK;
    xf[i].code = xf[i].new_conns = -1;
    HL_ASSERT_EQ_INT(hl_curl_uv_add(cu, &xf[i].xfer, xf[i].easy, on_done), 0);
  }
  uv_timer_start(&guard, on_guard, 20000, 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_timer_stop(&guard);
  HL_ASSERT(!timed_out); /* all WANT ran at once: the server answers only then */
  HL_ASSERT_EQ_INT(ndone, WANT);
  for (int i = 0; i < WANT; i++) {
    HL_ASSERT_EQ_INT(xf[i].result, CURLE_OK);
    HL_ASSERT_EQ_INT(xf[i].code, 200);
  }
}

static void closed(void *d) { *(int *)d += 1; }

HL_TEST(transfers_spread_over_shards_made_on_first_use_and_keep_their_connections) {
  HL_ASSERT_EQ_INT(hl_curl_global_init(), 0);
  uv_loop_init(&loop);
  hl_http_server_config cfg = {.on_request = on_request};
  HL_ASSERT_EQ_INT(hl_http_server_create(&loop, "127.0.0.1:0", &cfg, &srv), 0);
  HL_ASSERT_EQ_INT(hl_http_server_start(srv), 0);
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/x", hl_http_server_port(srv));
  uv_timer_init(&loop, &guard);

  hl_curl_uv cu;
  /* Room for 2 * HL_CURL_UV_SHARD_CONNS connections: two shards. */
  HL_ASSERT_EQ_INT(hl_curl_uv_init(&cu, &loop, 2 * HL_CURL_UV_SHARD_CONNS), 0);
  HL_ASSERT_EQ_INT(cu.nshards, 2);
  HL_ASSERT(cu.shards[0].multi != NULL);
  HL_ASSERT(cu.shards[1].multi == NULL); /* not needed yet */
  for (int i = 0; i < WANT; i++) {
    xf[i].easy = hl_curl_api_easy(url, 10000, 5000, discard, discard, NULL);
    HL_ASSERT(xf[i].easy != NULL);
  }

  wave(&cu);
  HL_ASSERT(cu.shards[1].multi != NULL); /* the transfers past shard 0's room */
  long opened = 0;
  for (int i = 0; i < WANT; i++) opened += xf[i].new_conns;
  HL_ASSERT_EQ_INT(opened, WANT);

  /* Again: every transfer finds a kept-alive connection in the shard it
   * goes to (shard 0's first, then shard 1's), none is opened. */
  wave(&cu);
  opened = 0;
  for (int i = 0; i < WANT; i++) opened += xf[i].new_conns;
  HL_ASSERT_EQ_INT(opened, 0);
  HL_ASSERT_EQ_INT(hl_curl_uv_running(&cu), 0);

  int gone = 0;
  hl_curl_uv_close(&cu, closed, &gone);
  for (int i = 0; i < WANT; i++) curl_easy_cleanup(xf[i].easy);
  hl_http_server_destroy(srv, closed, &gone);
  uv_close((uv_handle_t *)&guard, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  HL_ASSERT_EQ_INT(gone, 2);
  HL_ASSERT_EQ_INT(uv_loop_close(&loop), 0);
  hl_curl_global_cleanup();
}

/* --- transfers that end while their connection is still being made ------------------- */

/* libcurl 7.88 closes the socket of a connection that was never made (a
 * connect timeout, a transfer removed while connecting) itself, without
 * CURLOPT_CLOSESOCKETFUNCTION, and only then tells the socket callback
 * (CURL_POLL_REMOVE). The poll of that fd must then be stopped, never
 * started again: libuv registers a started poll with epoll on its next turn
 * and aborts when the fd is closed (EBADF). A listener whose accept queue is
 * full drops the SYNs, so connections to it stay in connect. */

enum { STUCK = 24 };
static xfer stuck[STUCK];
static int nstuck_done;

static void on_stuck_done(hl_curl_xfer *x, CURLcode rc) {
  xfer *t = hl_container_of(x, xfer, xfer);
  t->result = rc;
  if (++nstuck_done == STUCK) uv_stop(&loop);
}

/* Every poll handle still started watches an open fd. */
static void check_poll(uv_handle_t *h, void *arg) {
  int *bad = arg;
  if (h->type != UV_POLL || !uv_is_active(h)) return;
  uv_os_fd_t fd = -1;
  uv_fileno(h, &fd);
  if (fcntl(fd, F_GETFD) == -1) ++*bad;
}

/* The other way in: half of the transfers are removed (hl_curl_uv_cancel)
 * while connecting. */
static uv_timer_t cancel_timer;
static hl_curl_uv *cancel_cu;
static void on_cancel(uv_timer_t *t) {
  (void)t;
  for (int i = 0; i < STUCK; i += 2) {
    if (stuck[i].xfer.easy == NULL) continue;
    hl_curl_uv_cancel(cancel_cu, &stuck[i].xfer);
    stuck[i].result = CURLE_ABORTED_BY_CALLBACK;
    if (++nstuck_done == STUCK) uv_stop(&loop);
  }
}

static void answer_200(hl_http_req *r, void *data) {
  (void)data;
  hl_http_respond(r, 200, NULL, 0, "{}", 2);
}

HL_TEST(transfers_ended_while_connecting_leave_no_poll_on_a_closed_fd) {
  HL_ASSERT_EQ_INT(hl_curl_global_init(), 0);
  uv_loop_init(&loop);
  timed_out = false;
  uv_timer_init(&loop, &guard);
  uv_timer_init(&loop, &cancel_timer);

  /* A listener that never accepts, its queue filled by two connections. */
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  HL_ASSERT(lfd >= 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  HL_ASSERT_EQ_INT(bind(lfd, (struct sockaddr *)&a, sizeof a), 0);
  socklen_t al = sizeof a;
  HL_ASSERT_EQ_INT(getsockname(lfd, (struct sockaddr *)&a, &al), 0);
  HL_ASSERT_EQ_INT(listen(lfd, 0), 0);
  int fill[2];
  for (int i = 0; i < 2; i++) {
    fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    HL_ASSERT(fill[i] >= 0);
    connect(fill[i], (struct sockaddr *)&a, sizeof a);
  }
  hl_sleep_ms(50); /* the two handshakes are done: the queue is full */
  char stuck_url[64];
  snprintf(stuck_url, sizeof stuck_url, "http://127.0.0.1:%d/x", ntohs(a.sin_port));

  /* And a server that answers, for the transfers that come after. */
  hl_http_server_config cfg = {.on_request = answer_200};
  HL_ASSERT_EQ_INT(hl_http_server_create(&loop, "127.0.0.1:0", &cfg, &srv), 0);
  HL_ASSERT_EQ_INT(hl_http_server_start(srv), 0);
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/x", hl_http_server_port(srv));

  hl_curl_uv cu;
  HL_ASSERT_EQ_INT(hl_curl_uv_init(&cu, &loop, 2 * HL_CURL_UV_SHARD_CONNS), 0);
  cancel_cu = &cu;
  for (int round = 0; round < 3; round++) {
    /* Connect timeouts (the odd ones) and removals while connecting (the
     * even ones, after 50 ms), all together. */
    nstuck_done = 0;
    for (int i = 0; i < STUCK; i++) {
      stuck[i].easy = hl_curl_api_easy(stuck_url, 5000, i % 2 ? 100 : 5000, discard, discard, NULL);
      HL_ASSERT(stuck[i].easy != NULL);
      stuck[i].result = CURLE_OK;
      HL_ASSERT_EQ_INT(hl_curl_uv_add(&cu, &stuck[i].xfer, stuck[i].easy, on_stuck_done), 0);
    }
    uv_timer_start(&cancel_timer, on_cancel, 50, 0);
    uv_timer_start(&guard, on_guard, 20000, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_timer_stop(&guard);
    HL_ASSERT(!timed_out);
    HL_ASSERT_EQ_INT(nstuck_done, STUCK);
    for (int i = 0; i < STUCK; i++) {
      HL_ASSERT_EQ_INT(stuck[i].result, i % 2 ? CURLE_OPERATION_TIMEDOUT : CURLE_ABORTED_BY_CALLBACK);
      curl_easy_cleanup(stuck[i].easy);
    }
    int bad = 0;
    uv_walk(&loop, check_poll, &bad);
    HL_ASSERT_MSG(bad == 0, "%d poll handles started on closed fds", bad);

    /* The fds are taken again by new connections: those transfers run. */
    ndone = 0;
    enum { AFTER = 16 };
    for (int i = 0; i < AFTER; i++) {
      xf[i].easy = hl_curl_api_easy(url, 5000, 5000, discard, discard, NULL);
      xf[i].result = CURLE_OK;
      xf[i].code = -1;
      HL_ASSERT_EQ_INT(hl_curl_uv_add(&cu, &xf[i].xfer, xf[i].easy, on_done), 0);
    }
    uv_timer_start(&guard, on_guard, 20000, 0);
    while (ndone < AFTER && !timed_out) uv_run(&loop, UV_RUN_ONCE);
    uv_timer_stop(&guard);
    HL_ASSERT(!timed_out);
    for (int i = 0; i < AFTER; i++) {
      HL_ASSERT_EQ_INT(xf[i].result, CURLE_OK);
      HL_ASSERT_EQ_INT(xf[i].code, 200);
      curl_easy_cleanup(xf[i].easy);
    }
    uv_walk(&loop, check_poll, &bad);
    HL_ASSERT_MSG(bad == 0, "%d poll handles started on closed fds", bad);
  }

  int gone = 0;
  hl_curl_uv_close(&cu, closed, &gone);
  hl_http_server_destroy(srv, closed, &gone);
  uv_close((uv_handle_t *)&guard, NULL);
  uv_close((uv_handle_t *)&cancel_timer, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  HL_ASSERT_EQ_INT(gone, 2);
  HL_ASSERT_EQ_INT(uv_loop_close(&loop), 0);
  for (int i = 0; i < 2; i++) close(fill[i]);
  close(lfd);
  hl_curl_global_cleanup();
}
