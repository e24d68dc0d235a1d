/* The webhook sender (hl_sender_http) against a real loopback partner
 * (hl_http_server): bursts larger than its fixed minimum of kept calls
 * reuse the calls of the burst before, each an easy handle set up once,
 * and the pool falls back to that minimum, a call a request, once the load
 * has been smaller for two windows. */
#include "hl_test.h"
#include "hl_testutil.h"

#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "common/hl_common.h"
#include "handlers/hl_sender_http.h"
#include "loop/hl_curl_uv.h"
#include "loop/hl_http_server.h"
#include "model/hl_registry.h"

#define BURST 400 /* more than the 256 calls the sender keeps however few are in use */
#define KEPT_MIN 256
#define WINDOW_MS 200

static uv_loop_t loop;
static hl_http_server *srv;
static hl_http_req *held[BURST];
static int nheld, want;
static int nsigned; /* requests that came with the three Standard Webhooks headers */

typedef struct {
  hl_send_req req;
  hl_eq_item item;
  hl_send_verdict verdict;
  long code;
  bool done;
} send_slot;
static send_slot slots[BURST];
static int ndone;

/* Every request of a burst is held until the whole burst has arrived, so
 * all of its calls are in use at once. */
static void on_request(hl_http_req *r, void *data) {
  (void)data;
  if (hl_http_req_header(r, "webhook-id", NULL) && hl_http_req_header(r, "webhook-timestamp", NULL) &&
      hl_http_req_header(r, "webhook-signature", NULL))
    nsigned++;
  held[nheld++] = r;
  if (nheld < want) return;
  for (int i = 0; i < nheld; i++) hl_http_respond(held[i], 204, NULL, 0, NULL, 0);
  nheld = 0;
}

static void on_done(hl_send_req *req, const hl_send_result *res) {
  send_slot *s = hl_container_of(req, send_slot, req);
  s->verdict = res->verdict;
  s->code = res->status_code;
  s->done = true;
  ndone++;
}

/* Sends n at once and runs the loop until every answer is in. */
static void burst(hl_sender *snd, hl_sub *sub, int n) {
  want = n;
  ndone = nsigned = 0;
  for (int i = 0; i < n; i++) {
    send_slot *s = &slots[i];
    memset(s, 0, sizeof *s);
    s->item.d.event_id = (char *)"evt-pool";
    s->item.body = (char *)"{\"n\":1}";
    s->item.body_len = 7;
    s->req = (hl_send_req){.sub = sub, .item = &s->item, .done = on_done};
    snd->vt->send(snd, &s->req);
  }
  for (int i = 0; i < 2000000 && ndone < n; i++) uv_run(&loop, UV_RUN_ONCE);
  HL_ASSERT_EQ_INT(ndone, n);
  HL_ASSERT_EQ_INT(nsigned, n);
  for (int i = 0; i < n; i++) {
    HL_ASSERT_EQ_INT(slots[i].verdict, HL_SEND_OK);
    HL_ASSERT_EQ_INT(slots[i].code, 204);
  }
}

static void closed(void *d) { *(int *)d += 1; }

HL_TEST(a_burst_reuses_the_last_bursts_calls_and_the_pool_shrinks_when_the_load_falls) {
  HL_ASSERT_EQ_INT(hl_curl_global_init(), 0);
  uv_loop_init(&loop);
  hl_http_server_config cfg = {.on_request = on_request};
  HL_ASSERT_EQ_INT(hl_http_server_create(&loop, "127.0.0.1:0", &cfg, &srv), 0);
  HL_ASSERT_EQ_INT(hl_http_server_start(srv), 0);
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/hook", hl_http_server_port(srv));

  hl_registry reg;
  hl_registry_init(&reg);
  hl_sub_rec r = {.subscription_id = hl_strdup("s"), .partner_id = hl_strdup("p"), .event_type = hl_strdup("T"),
                  .url = hl_strdup(url), .secret = hl_strdup("whsec_c2VjcmV0LWZvci10aGUtcG9vbC10ZXN0"),
                  .egress_topic = hl_strdup("e"), .status = hl_strdup("ACTIVE"), .max_in_flight = BURST};
  hl_sub *sub = hl_registry_put_sub(&reg, &r, NULL, NULL, NULL);
  HL_ASSERT(sub != NULL);

  hl_curl_uv cu;
  HL_ASSERT_EQ_INT(hl_curl_uv_init(&cu, &loop, 2 * BURST), 0);
  hl_sender_http_options opt = {.allow_private_targets = true, .pool_window_ms = WINDOW_MS};
  hl_sender *snd = hl_sender_http_create(&cu, &opt);
  hl_sender_http_stats st;

  burst(snd, sub, BURST);
  hl_sender_http_get_stats(snd, &st);
  HL_ASSERT_EQ_INT(st.made, BURST);
  HL_ASSERT_EQ_INT(st.in_use, 0);
  HL_ASSERT_EQ_INT(st.idle, BURST); /* all kept: that many were in use a moment ago */

  /* Two more bursts of the same size make no call: with a fixed 256 kept,
   * each would have made 144 again. */
  burst(snd, sub, BURST);
  burst(snd, sub, BURST);
  hl_sender_http_get_stats(snd, &st);
  HL_ASSERT_EQ_INT(st.made, BURST);
  HL_ASSERT_EQ_INT(st.idle, BURST);

  /* The load falls: two windows after the last 400, with 64 in use at
   * most, each request that ends gives its call back while the pool holds
   * more than the minimum; none is made. Each of the first two bursts
   * takes 64 from the pool and frees them as they end (400 kept, then 336,
   * then 272); the third frees 16 and keeps 48: 256. */
  uv_sleep(2 * WINDOW_MS + 50);
  uv_update_time(&loop);
  burst(snd, sub, 64);
  hl_sender_http_get_stats(snd, &st);
  HL_ASSERT_EQ_INT(st.idle, BURST - 64);
  burst(snd, sub, 64);
  burst(snd, sub, 64);
  hl_sender_http_get_stats(snd, &st);
  HL_ASSERT_EQ_INT(st.made, BURST);
  HL_ASSERT_EQ_INT(st.idle, KEPT_MIN);

  snd->vt->close(snd);
  int gone = 0;
  hl_curl_uv_close(&cu, closed, &gone);
  hl_http_server_destroy(srv, closed, &gone);
  uv_run(&loop, UV_RUN_DEFAULT);
  HL_ASSERT_EQ_INT(gone, 2);
  HL_ASSERT_EQ_INT(uv_loop_close(&loop), 0);
  hl_registry_dispose(&reg);
  hl_curl_global_cleanup();
}
