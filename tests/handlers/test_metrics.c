#include "hl_test.h"
#include "common/hl_common.h"
#include "obs/hl_metrics.h"
#include "json/hl_json.h"

static long long value_of(const char *text, const char *series) {
  const char *p = text;
  size_t n = strlen(series);
  while ((p = strstr(p, series)) != NULL) {
    if ((p == text || p[-1] == '\n') && p[n] == ' ') return atoll(p + n + 1);
    p += n;
  }
  return -1;
}

HL_TEST(prometheus_text_has_every_contract_series) {
  hl_metrics m;
  hl_metrics_init(&m);
  hl_metrics_on_accepted(&m);
  hl_metrics_on_processed(&m, 2);
  hl_metrics_on_dead_letter(&m);
  hl_metrics_on_delivery(&m, "retry", 0.003, 1);
  hl_metrics_on_delivery(&m, "success", 0.2, 2);
  hl_metrics_on_delivery(&m, "failed", 7.0, 1);
  hl_metrics_on_delivery(&m, "duplicate", -1, 1);
  hl_metrics_set_in_flight(&m, 9);
  hl_buf b = HL_BUF_INIT;
  hl_metrics_render_prometheus(&m, &b);
  HL_ASSERT_EQ_INT(value_of(b.data, "hookloop_events_processed_total"), 1);
  HL_ASSERT_EQ_INT(value_of(b.data, "hookloop_events_to_retry_total"), 1);
  HL_ASSERT_EQ_INT(value_of(b.data, "hookloop_events_accepted_total"), 1);
  HL_ASSERT_EQ_INT(value_of(b.data, "hookloop_events_to_dlq_total"), 2); /* a failed delivery, a dead letter */
  HL_ASSERT_EQ_INT(value_of(b.data, "hookloop_deliveries_total{outcome=\"success\"}"), 1);
  HL_ASSERT_EQ_INT(value_of(b.data, "hookloop_deliveries_total{outcome=\"duplicate\"}"), 1);
  HL_ASSERT_EQ_INT(value_of(b.data, "hookloop_delivery_latency_seconds_bucket{le=\"0.005\"}"), 1);
  HL_ASSERT_EQ_INT(value_of(b.data, "hookloop_delivery_latency_seconds_bucket{le=\"0.25\"}"), 2);
  HL_ASSERT_EQ_INT(value_of(b.data, "hookloop_delivery_latency_seconds_bucket{le=\"+Inf\"}"), 3);
  HL_ASSERT_EQ_INT(value_of(b.data, "hookloop_delivery_latency_seconds_count"), 3);
  HL_ASSERT_EQ_INT(value_of(b.data, "hookloop_deliveries_in_flight"), 9);
  HL_ASSERT_EQ_INT(value_of(b.data, "hookloop_retry_attempts_total"), 1);
  HL_ASSERT(strstr(b.data, "# TYPE hookloop_delivery_latency_seconds histogram") != NULL);
  hl_buf_dispose(&b);
}

HL_TEST(emf_line_is_json_with_seed_names) {
  hl_metrics m, before;
  hl_metrics_init(&m);
  hl_metrics_on_delivery(&m, "success", 0.1, 1);
  before = m;
  hl_metrics_on_processed(&m, 1);
  hl_metrics_on_delivery(&m, "success", 0.3, 1);
  hl_buf b = HL_BUF_INIT;
  hl_metrics_render_emf(&m, &before, "hookloop", true, 1700000000000, &b);
  hl_json_doc d;
  hl_json_doc_init(&d);
  HL_ASSERT_MSG(hl_json_parse(&d, b.data, b.len, NULL) == 0, "not JSON: %s", b.data);
  int64_t v;
  HL_ASSERT(hl_json_int64(hl_json_get(d.root, "SuccessfulDeliveries"), &v) == 0 && v == 1);
  HL_ASSERT(hl_json_int64(hl_json_get(d.root, "EventsProcessed"), &v) == 0 && v == 1);
  HL_ASSERT(hl_json_double(hl_json_get(d.root, "DeliveryLatency")) > 299.0);
  const hl_json *metrics = hl_json_pointer(d.root, "/_aws/CloudWatchMetrics/0/Metrics", 33);
  HL_ASSERT(metrics && metrics->len == 7);
  hl_json_doc_dispose(&d);
  /* Without the queue's counts (the inbox): the seed's five names alone. */
  hl_buf_reset(&b);
  hl_metrics_render_emf(&m, &before, "hookloop/inbox", false, 1700000000000, &b);
  hl_json_doc_init(&d);
  HL_ASSERT_MSG(hl_json_parse(&d, b.data, b.len, NULL) == 0, "not JSON: %s", b.data);
  metrics = hl_json_pointer(d.root, "/_aws/CloudWatchMetrics/0/Metrics", 33);
  HL_ASSERT(metrics && metrics->len == 5);
  HL_ASSERT(hl_json_get(d.root, "events_to_dlq") == NULL && hl_json_get(d.root, "events_to_retry") == NULL);
  HL_ASSERT(hl_json_int64(hl_json_get(d.root, "SuccessfulDeliveries"), &v) == 0 && v == 1);
  hl_json_doc_dispose(&d);
  hl_buf_dispose(&b);
}
