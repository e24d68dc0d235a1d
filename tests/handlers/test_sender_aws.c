/* The AWS sender (hl_sender_aws) on its own loop: what an attempt must read
 * from a body over HL_EVENT_INLINE_BYTES (a FIFO group id at a pointer, the
 * check that an EventBridge detail is a JSON object) is read on the
 * threadpool, with the outcome a small body gets on the loop, and a
 * request cancelled, or a sender closed, while that read is under way is
 * dropped without its bytes being touched again. No call is made: every
 * case fails before one or is cancelled (the endpoint is a closed port on
 * loopback). test_destinations has the calls themselves. */
#include "hl_test.h"
#include "hl_testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "aws/hl_aws_msg.h"
#include "common/hl_buf.h"
#include "common/hl_common.h"
#include "handlers/hl_sender_aws.h"
#include "loop/hl_curl_uv.h"
#include "model/hl_event.h"
#include "model/hl_registry.h"

static uv_loop_t loop;
static hl_curl_uv curl;
static hl_sender *sender;
static hl_destination dest;
static hl_sub sub;
static bool done;
static hl_send_result result;

static const char *env_of(void *data, const char *name) {
  (void)data;
  return strcmp(name, "AWS_ENDPOINT_URL") == 0 ? "http://127.0.0.1:9" : NULL;
}

static void open_sender(hl_dest_type type) {
  HL_ASSERT_EQ_INT(uv_loop_init(&loop), 0);
  HL_ASSERT_EQ_INT(hl_curl_uv_init(&curl, &loop, 16), 0);
  hl_sender_aws_options o = {.creds = {.access_key_id = "AKIDSENDERAWS", .secret_access_key = "sender-aws-secret"},
                             .region = "eu-west-1", .env = env_of};
  sender = hl_sender_aws_create(&loop, &curl, &o);
  memset(&dest, 0, sizeof dest);
  dest.type = type;
  if (type == HL_DEST_EVENTBRIDGE) {
    dest.source = "com.example";
  } else {
    dest.queue_url = "https://sqs.eu-west-1.amazonaws.com/123456789012/q.fifo";
    dest.fifo = true;
    dest.group_id_pointer = "/account";
  }
  memset(&sub, 0, sizeof sub);
  sub.rec.event_type = "Payment";
  sub.rec.destination_json = "{}"; /* only its presence matters here */
  sub.dest = &dest;
}

static void closed_noop(void *data) { (void)data; }

static void close_sender(void) {
  sender->vt->close(sender);
  hl_curl_uv_close(&curl, closed_noop, NULL);
  uv_run(&loop, UV_RUN_DEFAULT); /* and whatever the threadpool still holds */
  HL_ASSERT_EQ_INT(uv_loop_close(&loop), 0);
}

static void on_done(hl_send_req *req, const hl_send_result *res) {
  (void)req;
  HL_ASSERT(!done);
  done = true;
  result = *res;
}

/* An event of about len bytes: {"pad":"xxx…"} (a JSON object without an
 * account), or ["xxx…"] (not an object). Malloc'd. */
static char *event(size_t len, bool object, size_t *out_len) {
  char *b = malloc(len + 16);
  size_t n = 0;
  n += (size_t)sprintf(b, object ? "{\"pad\":\"" : "[\"");
  memset(b + n, 'x', len);
  n += len;
  n += (size_t)sprintf(b + n, object ? "\"}" : "\"]");
  *out_len = n;
  return b;
}

static long long metric(const char *where) {
  hl_buf b = HL_BUF_INIT;
  sender->vt->render_metrics(sender, &b);
  char name[96];
  snprintf(name, sizeof name, "hookloop_aws_body_reads_total{where=\"%s\"} ", where);
  const char *p = strstr(b.data, name);
  long long v = p ? atoll(p + strlen(name)) : -1;
  hl_buf_dispose(&b);
  return v;
}

/* One attempt of a body of about len bytes, to its end; the error. */
static void attempt(size_t len, bool object, char *err, size_t errlen) {
  hl_eq_item item = {0};
  item.d.event_id = "evt-1";
  item.body = event(len, object, &item.body_len);
  hl_send_req req = {.sub = &sub, .item = &item, .done = on_done};
  done = false;
  sender->vt->send(sender, &req);
  /* A large body is read on the threadpool: the answer comes later; one
   * refused for its size is not read at all. */
  bool later = item.body_len > HL_EVENT_INLINE_BYTES && item.body_len <= HL_AWS_MESSAGE_MAX;
  HL_ASSERT_MSG(done != later, "a %zu-byte body answered %s", item.body_len, done ? "at once" : "later");
  while (!done) uv_run(&loop, UV_RUN_ONCE);
  HL_ASSERT_EQ_INT(result.verdict, HL_SEND_FAIL);
  HL_ASSERT(!result.attempted); /* no call */
  snprintf(err, errlen, "%s", result.error);
  free(item.body);
}

HL_TEST(a_large_fifo_event_without_the_group_id_fails_as_a_small_one_does) {
  open_sender(HL_DEST_SQS);
  char small[HL_SEND_ERROR_SIZE], large[HL_SEND_ERROR_SIZE];
  attempt(1000, true, small, sizeof small);
  HL_ASSERT_EQ_STR(small, "the event has no string or number at /account for the FIFO message group id");
  HL_ASSERT_EQ_INT(metric("loop"), 1);
  HL_ASSERT_EQ_INT(metric("threadpool"), 0);
  attempt(200 * 1024, true, large, sizeof large);
  HL_ASSERT_EQ_STR(large, small);
  HL_ASSERT_EQ_INT(metric("loop"), 1);
  HL_ASSERT_EQ_INT(metric("threadpool"), 1);
  /* Over 256 KiB: refused for its size, and never read. */
  attempt(300 * 1024, true, large, sizeof large);
  HL_ASSERT_MSG(strstr(large, "262144") != NULL, "'%s' is not the size", large);
  HL_ASSERT_EQ_INT(metric("loop") + metric("threadpool"), 2);
  close_sender();
}

HL_TEST(a_large_eventbridge_detail_that_is_not_an_object_fails_as_a_small_one_does) {
  open_sender(HL_DEST_EVENTBRIDGE);
  char small[HL_SEND_ERROR_SIZE], large[HL_SEND_ERROR_SIZE];
  attempt(1000, false, small, sizeof small);
  HL_ASSERT_EQ_STR(small, "entry 0: the detail must be a JSON object");
  attempt(200 * 1024, false, large, sizeof large);
  HL_ASSERT_EQ_STR(large, small);
  HL_ASSERT_EQ_INT(metric("loop"), 1);
  HL_ASSERT_EQ_INT(metric("threadpool"), 1);
  close_sender();
}

/* The request's bytes are freed (and scribbled over first) as soon as it
 * is cancelled, as the dispatcher's close does: the read works on its own
 * copy, and its result goes nowhere. */
static void cancel_while_read(hl_dest_type type, bool then_close) {
  open_sender(type);
  hl_eq_item item = {0};
  item.d.event_id = "evt-1";
  item.body = event(200 * 1024, true, &item.body_len);
  hl_send_req req = {.sub = &sub, .item = &item, .done = on_done};
  done = false;
  sender->vt->send(sender, &req);
  HL_ASSERT(!done);
  HL_ASSERT_EQ_INT(metric("threadpool"), 1);
  sender->vt->cancel(sender, &req);
  memset(item.body, '!', item.body_len);
  free(item.body);
  if (!then_close) uv_run(&loop, UV_RUN_DEFAULT); /* the read comes back to a cancelled call */
  close_sender();
  HL_ASSERT(!done); /* never after cancel */
}

HL_TEST(a_request_cancelled_while_its_body_is_read_is_dropped) {
  cancel_while_read(HL_DEST_EVENTBRIDGE, false);
}

HL_TEST(a_sender_closed_while_a_body_is_read_drops_it) {
  cancel_while_read(HL_DEST_SQS, true);
}
