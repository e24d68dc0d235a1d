/* The webhook sender (hl_sender_http) against a real loopback partner
 * (hl_http_server): bursts larger than its fixed minimum of kept calls
 * reuse the calls of the burst before, each an easy handle set up once,
 * and the pool falls back to that minimum, a call a request, once the load
 * has been smaller for two windows. A partner written by hand byte for
 * byte checks what is read from an answer with an interim 1xx before it. */
#include "hl_test.h"
#include "hl_testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
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
  uint64_t retry_after_ms;
  char headers[HL_SEND_HEADERS_SIZE + 1]; /* the answer's header lines, as the attempt log gets them */
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

static char last_err[HL_SEND_ERROR_SIZE];
static void on_done(hl_send_req *req, const hl_send_result *res) {
  send_slot *s = hl_container_of(req, send_slot, req);
  snprintf(last_err, sizeof last_err, "%s", res->error);
  s->verdict = res->verdict;
  s->code = res->status_code;
  s->retry_after_ms = res->retry_after_ms;
  memcpy(s->headers, res->resp_headers, res->resp_headers_len);
  s->headers[res->resp_headers_len] = '\0';
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

/* A partner written by hand, byte for byte: one connection, and for each
 * request read the next answer of `answers` (NULL ends the list). */
static const char *const *raw_answers;
static int raw_fd;

/* Reads one request from c (it ends with its 7-byte body {"n":1}) and
 * writes answer. */
static void raw_answer_one(int c, const char *answer) {
  char buf[4096];
  size_t n = 0;
  while (n < 7 || memcmp(buf + n - 7, "{\"n\":1}", 7) != 0) {
    ssize_t r = read(c, buf + n, sizeof buf - n);
    HL_ASSERT(r > 0);
    n += (size_t)r;
  }
  HL_ASSERT(write(c, answer, strlen(answer)) == (ssize_t)strlen(answer));
}

static void *raw_partner(void *arg) {
  (void)arg;
  int c = accept(raw_fd, NULL, NULL);
  HL_ASSERT(c >= 0);
  for (const char *const *a = raw_answers; *a; a++) raw_answer_one(c, *a);
  close(c);
  return NULL;
}

/* A sender to a hand-written partner (partner: raw_partner or
 * raw_partner_each, serving raw_answers) for one subscription whose
 * attempts time out after timeout_ms (0: the default). */
typedef struct {
  pthread_t th;
  hl_registry reg;
  hl_sub *sub;
  hl_curl_uv cu;
  hl_sender *snd;
} raw_rig;

static void raw_rig_start(raw_rig *g, const char *const *answers, void *(*partner)(void *), uint32_t timeout_ms) {
  raw_answers = answers;
  HL_ASSERT_EQ_INT(hl_curl_global_init(), 0);
  uv_loop_init(&loop);
  raw_fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t sl = sizeof sa;
  HL_ASSERT(bind(raw_fd, (struct sockaddr *)&sa, sizeof sa) == 0 && listen(raw_fd, 4) == 0);
  HL_ASSERT(getsockname(raw_fd, (struct sockaddr *)&sa, &sl) == 0);
  pthread_create(&g->th, NULL, partner, NULL);
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/hook", ntohs(sa.sin_port));
  hl_registry_init(&g->reg);
  hl_sub_rec r = {.subscription_id = hl_strdup("s"), .partner_id = hl_strdup("p"), .event_type = hl_strdup("T"),
                  .url = hl_strdup(url), .secret = hl_strdup("whsec_c2VjcmV0LWZvci10aGUtcG9vbC10ZXN0"),
                  .egress_topic = hl_strdup("e"), .status = hl_strdup("ACTIVE"), .max_in_flight = 1,
                  .timeout_ms = timeout_ms};
  g->sub = hl_registry_put_sub(&g->reg, &r, NULL, NULL, NULL);
  HL_ASSERT(g->sub != NULL);
  HL_ASSERT_EQ_INT(hl_curl_uv_init(&g->cu, &loop, 4), 0);
  hl_sender_http_options opt = {.allow_private_targets = true};
  g->snd = hl_sender_http_create(&g->cu, &opt);
}

/* One attempt of the 7-byte body {"n":1}, run to its answer. */
static send_slot *raw_rig_send(raw_rig *g) {
  send_slot *s = &slots[0];
  memset(s, 0, sizeof *s);
  s->item.d.event_id = (char *)"evt-raw";
  s->item.body = (char *)"{\"n\":1}";
  s->item.body_len = 7;
  s->req = (hl_send_req){.sub = g->sub, .item = &s->item, .done = on_done};
  ndone = 0;
  g->snd->vt->send(g->snd, &s->req);
  for (int k = 0; k < 1000000 && ndone < 1; k++) uv_run(&loop, UV_RUN_ONCE);
  HL_ASSERT_EQ_INT(ndone, 1);
  return s;
}

static void raw_rig_stop(raw_rig *g) {
  pthread_join(g->th, NULL);
  close(raw_fd);
  g->snd->vt->close(g->snd);
  int gone = 0;
  hl_curl_uv_close(&g->cu, closed, &gone);
  uv_run(&loop, UV_RUN_DEFAULT);
  HL_ASSERT_EQ_INT(gone, 1);
  HL_ASSERT_EQ_INT(uv_loop_close(&loop), 0);
  hl_registry_dispose(&g->reg);
  hl_curl_global_cleanup();
}

/* RFC 9110 §15.2: a 1xx is interim; its header lines belong to no final
 * answer. A Retry-After in an Early Hints must not postpone the retry of
 * the 503 that follows, nor show in the attempt log's headers. */
HL_TEST(only_the_final_answers_retry_after_and_headers_count) {
  static const char *const answers[] = {
    "HTTP/1.1 103 Early Hints\r\nRetry-After: 3600\r\nLink: </a.css>; rel=preload\r\n\r\n"
    "HTTP/1.1 503 Service Unavailable\r\nX-Final: yes\r\nContent-Length: 0\r\n\r\n",
    "HTTP/1.1 503 Service Unavailable\r\nRetry-After:  7 \r\nContent-Length: 0\r\n\r\n",
    "HTTP/1.1 429 Too Many Requests\r\nRetry-After: Sun, 06 Nov 1994 08:49:37 GMT\r\nContent-Length: 0\r\n\r\n",
    NULL,
  };
  raw_rig g;
  raw_rig_start(&g, answers, raw_partner, 0);
  static const struct { long code; uint64_t retry_after_ms; } want_of[] = {{503, 0}, {503, 7000}, {429, 0}};
  for (size_t i = 0; i < HL_ARRAY_SIZE(want_of); i++) {
    send_slot *s = raw_rig_send(&g);
    HL_ASSERT_EQ_INT(s->verdict, HL_SEND_RETRY);
    HL_ASSERT_EQ_INT(s->code, want_of[i].code);
    HL_ASSERT_MSG(s->retry_after_ms == want_of[i].retry_after_ms, "answer %zu: Retry-After %llu ms", i,
                  (unsigned long long)s->retry_after_ms);
    if (i == 0) {
      HL_ASSERT(strstr(s->headers, "X-Final: yes") != NULL);
      HL_ASSERT(strstr(s->headers, "Link:") == NULL && strstr(s->headers, "Retry-After") == NULL);
    }
  }
  raw_rig_stop(&g);
}

/* Each answer on a connection of its own: the partner closes it after
 * writing, or hold_ms_after[i] ms later (a body still coming at the
 * timeout). */
static int hold_ms_after[8];

static void *raw_partner_each(void *arg) {
  (void)arg;
  int i = 0;
  for (const char *const *a = raw_answers; *a; a++, i++) {
    int c = accept(raw_fd, NULL, NULL);
    HL_ASSERT(c >= 0);
    raw_answer_one(c, *a);
    if (hold_ms_after[i]) usleep((useconds_t)hold_ms_after[i] * 1000);
    close(c);
  }
  return NULL;
}

/* A final answer whose head arrived whole is the partner's verdict even
 * when the transfer fails after it (docs/retries.md): a 2xx whose body is
 * cut short or slower than the timeout is delivered, not retried as a
 * connection fault (the partner would get it twice); a 503 cut short is
 * still a 503; a head cut short is no answer (retried). */
HL_TEST(a_status_followed_by_a_failed_body_is_the_partners_verdict) {
  static const char *const answers[] = {
    "HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{\"ok\":",     /* cut short by a close */
    "HTTP/1.1 503 Busy\r\nContent-Length: 50\r\n\r\n{\"busy\":", /* cut short by a close */
    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Pad: ",          /* the head cut short: no answer */
    "HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{\"ok\":",     /* still coming at the timeout */
    NULL,
  };
  static const struct {
    const char *label;
    hl_send_verdict verdict;
    long code;
    const char *error;
  } want[] = {
    {"200, body cut short", HL_SEND_OK, 200, "partner answered 200; then transfer closed"},
    {"503, body cut short", HL_SEND_RETRY, 503, "partner answered 503; then transfer closed"},
    {"200, head cut short", HL_SEND_RETRY, 0, ""},
    {"200, body slower than the timeout", HL_SEND_OK, 200, "partner answered 200; then Operation timed out"},
  };
  memset(hold_ms_after, 0, sizeof hold_ms_after);
  hold_ms_after[3] = 1500;
  raw_rig g;
  raw_rig_start(&g, answers, raw_partner_each, 700);
  for (size_t i = 0; i < HL_ARRAY_SIZE(want); i++) {
    send_slot *s = raw_rig_send(&g);
    HL_ASSERT_MSG(s->verdict == want[i].verdict && s->code == want[i].code && strstr(last_err, want[i].error),
                  "%s: verdict %d, status %ld, error \"%s\"", want[i].label, (int)s->verdict, s->code, last_err);
  }
  raw_rig_stop(&g);
}
