/* hl_kafka against the Kafka test broker (librdkafka's mock cluster speaking
 * the real protocol over loopback TCP, in its own process). */
#include "hl_test.h"
#include "hl_testutil.h"
#include "common/hl_common.h"
#include "loop/hl_kafka.h"

static hl_mock_kafka mk;
static uv_loop_t loop;

typedef struct {
  int acked, failed;
  int received;
  int64_t last_offset[16];
  bool in_order;
  hl_kafka_msg *held[4000];
  int nheld;
  bool hold;          /* keep messages instead of finishing them */
  char seen[4000];
  int dupes;
} state;

static state st;

static void on_ack(void *data, int status) {
  (void)data;
  if (status == 0) st.acked++;
  else st.failed++;
}

static void on_msg(void *data, hl_kafka_msg *m) {
  hl_kafka *k = data;
  st.received++;
  if (m->partition < 16) {
    if (m->offset <= st.last_offset[m->partition]) st.in_order = false;
    st.last_offset[m->partition] = m->offset;
  }
  int id = atoi(m->value ? m->value : "0");
  if (id >= 0 && id < 4000) {
    if (st.seen[id]) st.dupes++;
    st.seen[id] = 1;
  }
  size_t hl = 0;
  const char *h = hl_kafka_msg_header(m, "x-seq", &hl);
  if (!h || hl == 0) st.in_order = false;
  if (st.hold && st.nheld < 4000) st.held[st.nheld++] = m;
  else hl_kafka_done(k, m);
}

static void run_until(int *counter, int want, int timeout_ms) {
  uint64_t end = hl_mono_ms() + (uint64_t)timeout_ms;
  while (*counter < want && hl_mono_ms() < end) uv_run(&loop, UV_RUN_ONCE);
}

static void closed(void *d) { *(int *)d = 1; }

static void close_kafka(hl_kafka *k) {
  int done = 0;
  hl_kafka_close(k, closed, &done);
  uv_run(&loop, UV_RUN_DEFAULT);
  HL_ASSERT(done);
}

static hl_kafka *make(const char *group) {
  hl_kafka_config cfg = {.brokers = mk.bootstrap, .group_id = group, .session_timeout_ms = 6000};
  hl_kafka *k = NULL;
  char err[256];
  HL_ASSERT_MSG(hl_kafka_create(&loop, &cfg, &k, err, sizeof err) == 0, "create: %s", err);
  return k;
}

static void produce_n(hl_kafka *k, const char *topic, int n) {
  char v[32], seq[16];
  for (int i = 0; i < n; i++) {
    snprintf(v, sizeof v, "%d", i);
    snprintf(seq, sizeof seq, "%d", i);
    hl_kafka_header h = {"x-seq", seq, strlen(seq)};
    hl_kafka_produce(k, topic, v, strlen(v), v, strlen(v), &h, 1, on_ack, NULL);
  }
}

static void setup(void) {
  memset(&st, 0, sizeof st);
  st.in_order = true;
  for (int i = 0; i < 16; i++) st.last_offset[i] = -1;
  HL_ASSERT(hl_mock_kafka_start(&mk, 3) == 0);
  uv_loop_init(&loop);
}

static void teardown(void) {
  HL_ASSERT_EQ_INT(uv_loop_close(&loop), 0); /* no handle leaked */
  hl_mock_kafka_stop(&mk);
}

HL_TEST_T(produce_and_consume_in_order, 60) {
  setup();
  HL_ASSERT(hl_mock_kafka_cmd(&mk, "create t.order 4 3") == 0);
  hl_kafka *k = make("g-order");
  produce_n(k, "t.order", 1000);
  run_until(&st.acked, 1000, 20000);
  HL_ASSERT_EQ_INT(st.acked, 1000);
  HL_ASSERT_EQ_INT(st.failed, 0);
  const char *topics[] = {"t.order"};
  HL_ASSERT_EQ_INT(hl_kafka_subscribe(k, topics, 1, on_msg, NULL, k), 0);
  run_until(&st.received, 1000, 30000);
  HL_ASSERT_EQ_INT(st.received, 1000);
  HL_ASSERT(st.in_order);
  HL_ASSERT_EQ_INT(st.dupes, 0);
  close_kafka(k);
  teardown();
}

HL_TEST_T(commits_stop_at_unfinished_work, 90) {
  setup();
  HL_ASSERT(hl_mock_kafka_cmd(&mk, "create t.commit 1 3") == 0);
  hl_kafka *k = make("g-commit");
  produce_n(k, "t.commit", 100);
  run_until(&st.acked, 100, 20000);
  const char *topics[] = {"t.commit"};
  st.hold = true;
  hl_kafka_subscribe(k, topics, 1, on_msg, NULL, k);
  run_until(&st.received, 100, 30000);
  HL_ASSERT_EQ_INT(st.received, 100);
  /* Finish everything except offset 40, out of order. */
  for (int i = st.nheld - 1; i >= 0; i--)
    if (st.held[i]->offset != 40) hl_kafka_done(k, st.held[i]);
    else hl_kafka_release(k, st.held[i]);
  hl_kafka_commit(k);
  close_kafka(k); /* commits synchronously on the way out */
  /* A new consumer of the same group resumes at 40: 40..99 come again. */
  memset(st.seen, 0, sizeof st.seen);
  st.received = 0;
  st.hold = false;
  for (int i = 0; i < 16; i++) st.last_offset[i] = -1;
  k = make("g-commit");
  hl_kafka_subscribe(k, topics, 1, on_msg, NULL, k);
  run_until(&st.received, 60, 30000);
  HL_ASSERT_EQ_INT(st.received, 60);
  HL_ASSERT(st.seen[40] && !st.seen[39]);
  close_kafka(k);
  teardown();
}

HL_TEST_T(broker_down_and_up_loses_nothing, 90) {
  setup();
  HL_ASSERT(hl_mock_kafka_cmd(&mk, "create t.down 4 3") == 0);
  hl_kafka *k = make(NULL);
  produce_n(k, "t.down", 500);
  HL_ASSERT(hl_mock_kafka_cmd(&mk, "down 1") == 0);
  produce_n(k, "t.down", 500);
  uint64_t t = hl_mono_ms() + 1000;
  while (hl_mono_ms() < t) uv_run(&loop, UV_RUN_NOWAIT);
  HL_ASSERT(hl_mock_kafka_cmd(&mk, "up 1") == 0);
  run_until(&st.acked, 1000, 60000);
  HL_ASSERT_EQ_INT(st.acked + st.failed, 1000);
  HL_ASSERT_EQ_INT(st.failed, 0);
  close_kafka(k);
  teardown();
}

/* n records of ~1 KB (the id first, for st.seen), ids from first. */
static void produce_kb(hl_kafka *k, const char *topic, int first, int n) {
  char v[1024], seq[16];
  for (int i = first; i < first + n; i++) {
    int len = snprintf(v, sizeof v, "%d ", i);
    memset(v + len, 'x', sizeof v - (size_t)len);
    snprintf(seq, sizeof seq, "%d", i);
    hl_kafka_header h = {"x-seq", seq, strlen(seq)};
    hl_kafka_produce(k, topic, seq, strlen(seq), v, sizeof v, &h, 1, on_ack, NULL);
  }
}

static void run_for(int ms) {
  uint64_t end = hl_mono_ms() + (uint64_t)ms;
  while (hl_mono_ms() < end) uv_run(&loop, UV_RUN_NOWAIT);
}

/* librdkafka 2.0 stops fetching a partition whose queue holds
 * HL_KAFKA_PART_QUEUE_KB and does not notice the queue being read empty
 * (hl_kafka_wake.h). Here the partition is held while ~3 MB are produced,
 * so its queue fills to the mark with ~1 MB left on the broker; once the
 * hold ends and the queue is read down, only a wake of the partition's
 * leader fetches the rest before librdkafka's own second. The leader is not the
 * group's coordinator, whose commits and heartbeats would wake it too. */
HL_TEST_T(a_partition_left_unfetched_at_the_mark_is_woken, 90) {
  setup();
  HL_ASSERT(hl_mock_kafka_cmd(&mk, "create t.wake 1 3") == 0);
  HL_ASSERT(hl_mock_kafka_cmd(&mk, "leader t.wake 0 2") == 0);
  HL_ASSERT(hl_mock_kafka_cmd(&mk, "coordinator g-wake 1") == 0);
  hl_kafka *k = make("g-wake");
  const char *topics[] = {"t.wake"};
  HL_ASSERT_EQ_INT(hl_kafka_subscribe(k, topics, 1, on_msg, NULL, k), 0);
  produce_kb(k, "t.wake", 0, 1);
  run_until(&st.received, 1, 30000); /* assigned, and read from its own queue */
  HL_ASSERT_EQ_INT(st.received, 1);
  HL_ASSERT_EQ_INT((int)hl_kafka_fetch_wakes(k), 0); /* read up to the end: nothing left to wake for */
  hl_kafka_hold(k, "t.wake", 0);
  produce_kb(k, "t.wake", 1, 3000);
  run_until(&st.acked, 3001, 30000);
  HL_ASSERT_EQ_INT(st.acked, 3001);
  /* Wait for the prefetch to stop growing: the mark reached. */
  size_t was = 0, now = 0;
  for (int i = 0; i < 100; i++) {
    run_for(100);
    now = hl_kafka_prefetched(k, "t.wake", 0);
    if (now > 0 && now == was) break;
    was = now;
  }
  HL_ASSERT_MSG(now >= 1500 && now < 3000, "prefetched %zu of 3000", now);
  HL_ASSERT_EQ_INT(st.received, 1); /* held: not read */
  hl_kafka_unhold(k, "t.wake", 0);
  run_until(&st.received, 3001, 30000);
  HL_ASSERT_EQ_INT(st.received, 3001);
  HL_ASSERT_EQ_INT(st.dupes, 0);
  HL_ASSERT(st.in_order);
  uint64_t wakes = hl_kafka_fetch_wakes(k);
  HL_ASSERT_MSG(wakes >= 1, "the partition's leader was not woken (%llu wakes)", (unsigned long long)wakes);
  /* Everything read, the end reached: no further wakes. */
  run_for(300);
  HL_ASSERT_EQ_INT((int)hl_kafka_fetch_wakes(k), (int)wakes);
  close_kafka(k);
  teardown();
}

static int ensured, ensure_status = 99;
static void on_ensured(void *d, int status) {
  (void)d;
  ensured++;
  ensure_status = status;
}

HL_TEST_T(ensure_topic_is_idempotent, 60) {
  setup();
  hl_kafka *k = make(NULL);
  hl_kafka_ensure_topic(k, "wh.egress.acme.Payment", 4, on_ensured, NULL);
  HL_ASSERT_EQ_INT(ensured, 0); /* never inside the call */
  run_until(&ensured, 1, 20000);
  /* The mock cluster of this librdkafka does not serve CreateTopics: the
   * call reports a timeout, and the topic is created on first use. */
  HL_ASSERT(ensure_status == 0 || ensure_status == HL_ETIMEOUT);
  hl_kafka_ensure_topic(k, "wh.egress.acme.Payment", 4, on_ensured, NULL);
  run_until(&ensured, 2, 20000);
  HL_ASSERT(ensure_status == 0 || ensure_status == HL_ETIMEOUT);
  produce_n(k, "wh.egress.acme.Payment", 10);
  run_until(&st.acked, 10, 20000);
  HL_ASSERT_EQ_INT(st.acked, 10);
  close_kafka(k);
  teardown();
}
