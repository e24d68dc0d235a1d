/* The Kafka processor (hl_pipeline_process) against the Kafka test broker
 * (librdkafka's mock cluster in its own process), with a real registry and
 * schema: a large record is checked off the loop, as the producer API's
 * large bodies are, so a small record behind it is not kept waiting. */
#include "hl_test.h"
#include "hl_testutil.h"
#include "common/hl_buf.h"
#include "common/hl_common.h"
#include "handlers/hl_pipeline.h"
#include "json/hl_decimal.h"
#include "model/hl_filter.h"
#include "model/hl_event.h"
#include "schema/hl_schema.h"

#include <stdio.h>
#include <string.h>

static hl_mock_kafka mk;
static uv_loop_t loop;
static hl_registry reg;

#define EGRESS "wh.egress.p.T"

/* Registers schema (JSON text) for event type T and one subscription of T
 * whose egress topic is EGRESS. */
static void setup_registry(const char *schema) {
  hl_registry_init(&reg);
  reg.free_schema = hl_schema_free;
  hl_json_doc doc;
  hl_json_doc_init(&doc);
  HL_ASSERT(hl_json_parse(&doc, schema, strlen(schema), NULL) == 0);
  hl_schema *compiled = NULL;
  hl_schema_errors errs;
  hl_schema_errors_init(&errs);
  HL_ASSERT(hl_schema_compile(doc.root, NULL, &compiled, &errs) == 0);
  hl_schema_errors_dispose(&errs);
  hl_json_doc_dispose(&doc);
  hl_schema_rec sr = {.schema_id = hl_strdup("t.T"), .version = 1, .domain = hl_strdup("t"),
                      .event_type = hl_strdup("T"), .status = hl_strdup("ACTIVE"), .schema_json = hl_strdup(schema)};
  hl_registry_put_schema(&reg, &sr, compiled);
  hl_sub_rec r = {.subscription_id = hl_strdup("sub_p"), .partner_id = hl_strdup("p"), .event_type = hl_strdup("T"),
                  .url = hl_strdup("http://127.0.0.1:1/x"), .secret = hl_strdup("whsec_AAAA"),
                  .egress_topic = hl_strdup(EGRESS), .status = hl_strdup("ACTIVE")};
  HL_ASSERT(hl_registry_put_sub(&reg, &r, NULL, NULL, NULL) != NULL);
}

/* A producer on a fresh mock cluster. */
static hl_kafka *make_kafka(void) {
  uv_loop_init(&loop);
  HL_ASSERT(hl_mock_kafka_start(&mk, 1) == 0);
  hl_kafka_config cfg = {.brokers = mk.bootstrap, .session_timeout_ms = 6000};
  hl_kafka *k = NULL;
  char err[256];
  HL_ASSERT_MSG(hl_kafka_create(&loop, &cfg, &k, err, sizeof err) == 0, "create: %s", err);
  return k;
}

static void closed(void *d) { *(int *)d = 1; }

static void teardown(hl_kafka *k) {
  int done = 0;
  hl_kafka_close(k, closed, &done);
  uv_run(&loop, UV_RUN_DEFAULT);
  HL_ASSERT(done);
  HL_ASSERT_EQ_INT(uv_loop_close(&loop), 0); /* no handle leaked */
  hl_mock_kafka_stop(&mk);
  hl_registry_dispose(&reg);
}

/* The order in which things happened: each callback takes the next number. */
static int seq;
typedef struct { int at, status; } finished;

static void on_done(void *data, int status) {
  finished *f = data;
  f->at = ++seq;
  f->status = status;
}

static void on_tick(uv_timer_t *t) { *(int *)t->data = ++seq; }

/* An ingress record as a producer writes it: no headers. */
static const void *no_header(const hl_record *r, const char *name, size_t *len) {
  (void)r;
  (void)name;
  *len = 0;
  return NULL;
}

static hl_record record_of(const char *value, size_t len, int64_t offset) {
  return (hl_record){.topic = "wh.ingress.T", .partition = 0, .offset = offset, .key = "k", .key_len = 1,
                     .value = value, .len = len, .header = no_header};
}

/* Every item must be checked against twenty constants before the integer
 * type matches: ~22 validation steps an item of 7 bytes, within the budget
 * of 4 steps a byte, so the large record is valid but costs the validator
 * tens of milliseconds. Both records go to the same one-partition egress
 * topic, whose acknowledgements come in produce order: the record produced
 * first finishes first. Checked on the loop (as before), the large record
 * was produced first; checked off the loop, the small record behind it is
 * fanned out while the large one is still being validated. */
HL_TEST_T(a_large_record_is_checked_off_the_loop_and_does_not_hold_up_the_next, 120) {
  hl_buf sch = HL_BUF_INIT;
  hl_buf_puts(&sch, "{\"properties\":{\"xs\":{\"items\":{\"anyOf\":[");
  for (int i = 0; i < 20; i++) hl_buf_printf(&sch, "{\"const\":\"no-%d\"},", i);
  hl_buf_puts(&sch, "{\"type\":\"integer\"}]}}}}");
  setup_registry(sch.data);
  hl_buf_dispose(&sch);
  hl_kafka *k = make_kafka();
  HL_ASSERT(hl_mock_kafka_cmd(&mk, "create " EGRESS " 1 1") == 0);
  hl_pipeline_options opt = {.processor = true, .ingress_prefix = "wh.ingress", .egress_prefix = "wh.egress",
                             .retry_prefix = "wh.retry", .dlq_topic = "wh.dlq", .loop = &loop};

  hl_buf big = HL_BUF_INIT;
  hl_buf_puts(&big, "{\"eventHeader\":{\"uuid\":\"big\",\"eventType\":\"T\"},\"xs\":[");
  for (int i = 0; big.len < 900 * 1000; i++) hl_buf_printf(&big, "%s%d", i ? "," : "", 100000 + i % 900000);
  hl_buf_puts(&big, "]}");
  HL_ASSERT(big.len > HL_EVENT_INLINE_BYTES);
  const char *small = "{\"eventHeader\":{\"uuid\":\"small\",\"eventType\":\"T\"},\"xs\":[1,2,3]}";

  /* The large record first, then (from the loop) the small one. */
  finished fb = {0}, fs = {0};
  int ticked = 0;
  uv_timer_t tick;
  uv_timer_init(&loop, &tick);
  tick.data = &ticked;
  uv_timer_start(&tick, on_tick, 0, 0);
  hl_record rb = record_of(big.data, big.len, 1);
  hl_pipeline_process(k, &reg, &opt, &rb, on_done, &fb);
  HL_ASSERT_EQ_INT(fb.at, 0); /* answers later, on the loop */
  for (int i = 0; i < 100000 && !ticked; i++) uv_run(&loop, UV_RUN_ONCE);
  HL_ASSERT(ticked > 0);
  hl_record rs = record_of(small, strlen(small), 2);
  hl_pipeline_process(k, &reg, &opt, &rs, on_done, &fs);
  uint64_t until = hl_mono_ms() + 60000;
  while ((!fb.at || !fs.at) && hl_mono_ms() < until) uv_run(&loop, UV_RUN_ONCE);
  HL_ASSERT_MSG(fb.at && fs.at, "both records finish (large %d, small %d)", fb.at, fs.at);
  HL_ASSERT_EQ_INT(fb.status, 0);
  HL_ASSERT_EQ_INT(fs.status, 0);
  /* The loop turned before the large record's check was done, and the small
   * record was fanned out before it. */
  HL_ASSERT_MSG(ticked < fb.at, "the loop turned (%d) before the large record finished (%d)", ticked, fb.at);
  HL_ASSERT_MSG(fs.at < fb.at, "the small record (%d) finished before the large one (%d)", fs.at, fb.at);
  uv_close((uv_handle_t *)&tick, NULL);
  hl_buf_dispose(&big);
  teardown(k);
}

/* Records that are no JSON, or break the schema, still go to the
 * dead-letter topic, checked on the threadpool or on the loop alike. */
HL_TEST_T(malformed_and_invalid_records_are_dead_lettered_large_or_small, 120) {
  setup_registry("{\"properties\":{\"n\":{\"type\":\"integer\"}}}");
  hl_kafka *k = make_kafka();
  hl_metrics m;
  hl_metrics_init(&m);
  hl_pipeline_options opt = {.processor = true, .ingress_prefix = "wh.ingress", .egress_prefix = "wh.egress",
                             .retry_prefix = "wh.retry", .dlq_topic = "wh.dlq", .loop = &loop, .metrics = &m};
  hl_buf big = HL_BUF_INIT;
  hl_buf_puts(&big, "{\"eventHeader\":{\"uuid\":\"bad\",\"eventType\":\"T\"},\"pad\":\"");
  while (big.len < 100 * 1000) hl_buf_puts(&big, "xxxxxxxxxx");
  hl_buf_puts(&big, "\",\"n\":\"not a number\"}");
  const char *small_bad = "{\"eventHeader\":{\"uuid\":\"b2\",\"eventType\":\"T\"},\"n\":1,\"n\":2}";
  const char *not_json = "{\"eventHeader\":";
  const char *good = "{\"eventHeader\":{\"uuid\":\"g\",\"eventType\":\"T\"},\"n\":1}";
  hl_record recs[4] = {record_of(big.data, big.len, 1), record_of(small_bad, strlen(small_bad), 2),
                       record_of(not_json, strlen(not_json), 3), record_of(good, strlen(good), 4)};
  finished f[4] = {{0}};
  for (int i = 0; i < 4; i++) hl_pipeline_process(k, &reg, &opt, &recs[i], on_done, &f[i]);
  uint64_t until = hl_mono_ms() + 60000;
  while ((!f[0].at || !f[1].at || !f[2].at || !f[3].at) && hl_mono_ms() < until) uv_run(&loop, UV_RUN_ONCE);
  for (int i = 0; i < 4; i++) {
    HL_ASSERT_MSG(f[i].at > 0, "record %d finished", i);
    HL_ASSERT_EQ_INT(f[i].status, 0);
  }
  /* Three dead letters; four records processed, one delivery fanned out. */
  HL_ASSERT_EQ_INT((long)m.events_to_dlq, 3);
  HL_ASSERT_EQ_INT((long)m.events_processed, 4);
  hl_buf_dispose(&big);
  teardown(k);
}

static void produced(void *data, int status) { *(int *)data = status == 0 ? 1 : -1; }

/* serve destroys the pipeline when its drain's deadline passes, possibly
 * while a large record is still being checked on the threadpool or its
 * fan-out is still being produced. The pipeline must wait for that record
 * rather than be freed under it (its check's callback uses the pipeline
 * and Kafka): destroy answers only once nothing is busy. */
HL_TEST_T(destroy_waits_for_a_record_still_being_checked, 120) {
  setup_registry("{\"properties\":{\"xs\":{\"items\":{\"type\":\"integer\"}}}}");
  hl_kafka *k = make_kafka();
  HL_ASSERT(hl_mock_kafka_cmd(&mk, "create wh.ingress.T 1 1") == 0);
  HL_ASSERT(hl_mock_kafka_cmd(&mk, "create " EGRESS " 1 1") == 0);
  hl_buf big = HL_BUF_INIT;
  hl_buf_puts(&big, "{\"eventHeader\":{\"uuid\":\"late\",\"eventType\":\"T\"},\"xs\":[");
  for (int i = 0; big.len < 900 * 1000; i++) hl_buf_printf(&big, "%s%d", i ? "," : "", 100000 + i % 900000);
  hl_buf_puts(&big, "]}");
  int sent = 0;
  hl_kafka_produce(k, "wh.ingress.T", "k", 1, big.data, big.len, NULL, 0, produced, &sent);
  uint64_t until = hl_mono_ms() + 30000;
  while (!sent && hl_mono_ms() < until) uv_run(&loop, UV_RUN_ONCE);
  HL_ASSERT_EQ_INT(sent, 1);

  hl_kafka_config cc = {.brokers = mk.bootstrap, .group_id = "pipeline-destroy", .session_timeout_ms = 6000};
  hl_kafka *consumer = NULL;
  char err[256];
  HL_ASSERT_MSG(hl_kafka_create(&loop, &cc, &consumer, err, sizeof err) == 0, "create: %s", err);
  hl_pipeline_options opt = {.processor = true, .ingress_prefix = "wh.ingress", .egress_prefix = "wh.egress",
                             .retry_prefix = "wh.retry", .dlq_topic = "wh.dlq"};
  hl_pipeline *p = hl_pipeline_create(&loop, consumer, &reg, NULL, &opt);
  HL_ASSERT(p != NULL);
  HL_ASSERT(hl_pipeline_start(p) == 0);
  until = hl_mono_ms() + 60000;
  while (hl_pipeline_busy(p) == 0 && hl_mono_ms() < until) uv_run(&loop, UV_RUN_ONCE);
  HL_ASSERT_MSG(hl_pipeline_busy(p) > 0, "the record was consumed");

  int destroyed = 0;
  hl_pipeline_destroy(p, closed, &destroyed);
  HL_ASSERT_MSG(destroyed == 0, "destroy answered while a record was still busy");
  until = hl_mono_ms() + 60000;
  while (!destroyed && hl_mono_ms() < until) uv_run(&loop, UV_RUN_ONCE);
  HL_ASSERT(destroyed);
  int cdone = 0;
  hl_kafka_close(consumer, closed, &cdone);
  hl_buf_dispose(&big);
  teardown(k);
  HL_ASSERT(cdone);
}

/* The processor checks every record on the loop against the filters of
 * its type's subscriptions: what they read of the event (a number as long
 * as its producer likes) is read once for all of them (hl_filter_memo),
 * not once per subscription, which for 200 subscriptions and a number of
 * 900,001 digits was 180 MB of digits for one event. */
HL_TEST(the_filters_of_200_subscriptions_read_an_events_long_number_once) {
  setup_registry("{\"type\": \"object\"}"); /* and sub_p, without a filter */
  reg.free_filter = hl_filter_free;
  hl_json_doc doc;
  hl_json_doc_init(&doc);
  for (int i = 0; i < 200; i++) {
    /* Half ranges, half $in: both read the number (the $in to hash it). */
    const char *ft = i % 2 ? "{\"/amount\": {\"$in\": [1, 2, 3]}}" : "{\"/amount\": {\"$gte\": 100, \"$lt\": 100000}}";
    HL_ASSERT(hl_json_parse(&doc, ft, strlen(ft), NULL) == 0);
    hl_filter *f = NULL;
    HL_ASSERT(hl_filter_compile(doc.root, &f, NULL) == 0);
    hl_json_doc_dispose(&doc);
    char id[16], partner[16];
    snprintf(id, sizeof id, "sub_%03d", i);
    snprintf(partner, sizeof partner, "p%03d", i);
    hl_sub_rec rec = {.subscription_id = hl_strdup(id), .partner_id = hl_strdup(partner), .event_type = hl_strdup("T"),
                      .url = hl_strdup("http://127.0.0.1:1/x"), .secret = hl_strdup("whsec_AAAA"),
                      .status = hl_strdup("ACTIVE")};
    HL_ASSERT(hl_registry_put_sub(&reg, &rec, f, NULL, NULL) != NULL);
  }
  const size_t zeros = 900000;
  hl_buf ev = HL_BUF_INIT;
  hl_buf_puts(&ev, "{\"specversion\": \"1.0\", \"source\": \"s\", \"id\": \"e1\", \"type\": \"T\", "
                   "\"data\": {\"amount\": 1");
  for (size_t i = 0; i < zeros; i++) hl_buf_putc(&ev, '0');
  hl_buf_puts(&ev, "}}");
  HL_ASSERT(hl_json_parse(&doc, ev.data, ev.len, NULL) == 0);
  hl_event_check e = {0};
  uint64_t before = hl_decimal_bytes_read();
  hl_event_check_run(&reg, doc.root, ev.data, ev.len, false, &e);
  uint64_t read = hl_decimal_bytes_read() - before;
  HL_ASSERT_MSG(e.status == 0, "%s", e.message);
  HL_ASSERT_EQ_INT(e.nsubs, 1); /* sub_p: 10^900000 is in no range and no list */
  HL_ASSERT_EQ_STR(e.subs[0], "sub_p");
  HL_ASSERT_MSG(read <= 3 * (zeros + 1), "200 filters read %llu bytes of number text for a %zu-digit number",
                (unsigned long long)read, zeros + 1);
  hl_event_check_dispose(&e);
  hl_json_doc_dispose(&doc);
  hl_buf_dispose(&ev);
  hl_registry_dispose(&reg);
}

/* A retry record as the dispatcher reads it from a retry topic: its
 * subscription and its due time (ms) in headers. */
static char due_text[32];
static const void *retry_header(const hl_record *r, const char *name, size_t *len) {
  (void)r;
  if (strcmp(name, HL_RECORD_SUBSCRIPTION_HEADER) == 0) {
    *len = strlen("sub_p");
    return "sub_p";
  }
  if (strcmp(name, "due_ms") == 0) {
    *len = strlen(due_text);
    return due_text;
  }
  *len = 0;
  return NULL;
}

/* A retry is not delivered before its due time, by as little as a ms
 * (hookloop delivered one up to 5 ms early). */
HL_TEST(a_retry_is_not_delivered_a_millisecond_before_it_is_due) {
  setup_registry("{\"type\": \"object\"}");
  hl_pipeline_options opt = {.egress_prefix = "wh.egress", .retry_prefix = "wh.retry"};
  const int64_t due = 1796620910108;
  snprintf(due_text, sizeof due_text, "%lld", (long long)due);
  hl_record r = {.topic = "wh.retry.1s", .partition = 0, .offset = 1, .key = "evt-1", .key_len = 5,
                 .value = "{}", .len = 2, .header = retry_header};
  int64_t at = 0;
  hl_sub *s = NULL;
  const char *why = NULL;
  for (int64_t early = 5; early >= 1; early--) {
    HL_ASSERT_MSG(hl_pipeline_classify(&reg, &opt, &r, due - early, &s, &at, &why) == HL_REC_NOT_DUE,
                  "delivered %lld ms before it was due", (long long)early);
    HL_ASSERT_EQ_INT(at, due);
  }
  HL_ASSERT_EQ_INT(hl_pipeline_classify(&reg, &opt, &r, due, &s, &at, &why), HL_REC_DELIVER);
  HL_ASSERT(s != NULL && strcmp(s->rec.subscription_id, "sub_p") == 0);
  HL_ASSERT_EQ_INT(hl_pipeline_classify(&reg, &opt, &r, due + 1, &s, &at, &why), HL_REC_DELIVER);
  hl_registry_dispose(&reg);
}
