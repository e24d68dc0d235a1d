/* hl_curl_uv on a real loop against hl_http_server over loopback: the
 * transfers of one loop are spread over shards (multi handles) of
 * HL_CURL_UV_SHARD_CONNS connections, made as they are first needed, and
 * each shard keeps its connections alive for the next transfers. */
#include "hl_test.h"
#include "common/hl_common.h"
#include "loop/hl_curl_uv.h"
#include "loop/hl_http_server.h"

#include <stdio.h>

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
