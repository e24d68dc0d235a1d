#include "obs/hl_metrics.h"
#include "common/hl_common.h"
#include "common/hl_prom.h"

#include <string.h>

static const double bounds[HL_METRICS_BUCKETS] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                                  1, 2.5, 5, 10, 30, 60, 120};

void hl_metrics_init(hl_metrics *m) { memset(m, 0, sizeof *m); }

void hl_metrics_dispose(hl_metrics *m) { (void)m; }

void hl_metrics_on_delivery(hl_metrics *m, const char *outcome, double latency_s, int attempt) {
  if (strcmp(outcome, "success") == 0) m->deliveries_success++;
  else if (strcmp(outcome, "failed") == 0) { m->deliveries_failed++; m->events_to_dlq++; }
  else if (strcmp(outcome, "retry") == 0) { m->deliveries_retry++; m->events_to_retry++; }
  else if (strcmp(outcome, "duplicate") == 0) m->deliveries_duplicate++;
  if (attempt > 1 && latency_s >= 0) m->retry_attempts++;
  if (latency_s >= 0) {
    m->latency_count++;
    m->latency_sum += latency_s;
    for (int i = 0; i < HL_METRICS_BUCKETS; i++)
      if (latency_s <= bounds[i]) { m->latency_buckets[i]++; break; }
  }
}

void hl_metrics_on_accepted(hl_metrics *m) { m->events_accepted++; }

void hl_metrics_on_processed(hl_metrics *m, uint64_t nsubs) {
  (void)nsubs;
  m->events_processed++;
}

void hl_metrics_on_dead_letter(hl_metrics *m) { m->events_to_dlq++; }

void hl_metrics_on_processor_retry(hl_metrics *m) { m->events_to_retry++; }

void hl_metrics_set_in_flight(hl_metrics *m, uint64_t n) { m->in_flight = n; }
void hl_metrics_set_in_memory(hl_metrics *m, uint64_t n) { m->in_memory = n; }

static void counter(hl_buf *o, const char *name, const char *help, uint64_t v) {
  hl_buf_printf(o, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name,
                (unsigned long long)v);
}

void hl_metrics_render_prometheus(const hl_metrics *m, hl_buf *o) {
  counter(o, "hookloop_events_accepted_total", "Events the producer API accepted.", m->events_accepted);
  counter(o, "hookloop_events_processed_total",
          "Events fanned out to their subscriptions (embedded queue: at accept; Kafka: by the processor, "
          "which also counts the records it dead-letters).",
          m->events_processed);
  counter(o, "hookloop_events_to_retry_total", "Delivery attempts, and Kafka processor records, that ended in a scheduled retry.",
          m->events_to_retry);
  counter(o, "hookloop_events_to_dlq_total",
          "Deliveries that failed permanently, and records dead-lettered (malformed, invalid, no subscription).",
          m->events_to_dlq);
  hl_buf_puts(o, "# HELP hookloop_deliveries_total Delivery attempt outcomes.\n"
                 "# TYPE hookloop_deliveries_total counter\n");
  hl_buf_printf(o, "hookloop_deliveries_total{outcome=\"success\"} %llu\n", (unsigned long long)m->deliveries_success);
  hl_buf_printf(o, "hookloop_deliveries_total{outcome=\"retry\"} %llu\n", (unsigned long long)m->deliveries_retry);
  hl_buf_printf(o, "hookloop_deliveries_total{outcome=\"failed\"} %llu\n", (unsigned long long)m->deliveries_failed);
  hl_buf_printf(o, "hookloop_deliveries_total{outcome=\"duplicate\"} %llu\n", (unsigned long long)m->deliveries_duplicate);
  hl_prom_histogram(o, "hookloop_delivery_latency_seconds", "Partner request latency per attempt.", bounds,
                    m->latency_buckets, HL_METRICS_BUCKETS, m->latency_count, m->latency_sum);
  hl_buf_printf(o, "# HELP hookloop_deliveries_in_flight Partner requests running now.\n"
                   "# TYPE hookloop_deliveries_in_flight gauge\nhookloop_deliveries_in_flight %llu\n",
                (unsigned long long)m->in_flight);
  hl_buf_printf(o, "# HELP hookloop_deliveries_in_memory Deliveries held in memory: in flight, and claimed from the queue ready to go.\n"
                   "# TYPE hookloop_deliveries_in_memory gauge\nhookloop_deliveries_in_memory %llu\n",
                (unsigned long long)m->in_memory);
  counter(o, "hookloop_retry_attempts_total", "Delivery attempts after the first.", m->retry_attempts);
}

void hl_metrics_render_emf(const hl_metrics *m, const hl_metrics *since, const char *ns, bool queue_counts,
                           int64_t timestamp_ms, hl_buf *o) {
  hl_metrics zero;
  if (!since) { memset(&zero, 0, sizeof zero); since = &zero; }
  uint64_t n = m->latency_count - since->latency_count;
  double avg_ms = n ? (m->latency_sum - since->latency_sum) * 1000.0 / (double)n : 0.0;
  hl_buf_printf(o,
                "{\"_aws\":{\"Timestamp\":%lld,\"CloudWatchMetrics\":[{\"Namespace\":\"%s\",\"Dimensions\":[[]],"
                "\"Metrics\":[{\"Name\":\"EventsProcessed\",\"Unit\":\"Count\"},"
                "{\"Name\":\"SuccessfulDeliveries\",\"Unit\":\"Count\"},"
                "{\"Name\":\"FailedDeliveries\",\"Unit\":\"Count\"},"
                "{\"Name\":\"DeliveryLatency\",\"Unit\":\"Milliseconds\"},"
                "{\"Name\":\"RetryAttempts\",\"Unit\":\"Count\"}%s]}]},"
                "\"EventsProcessed\":%llu,\"SuccessfulDeliveries\":%llu,\"FailedDeliveries\":%llu,"
                "\"DeliveryLatency\":%.3f,\"RetryAttempts\":%llu",
                (long long)timestamp_ms, ns,
                queue_counts ? ",{\"Name\":\"events_to_retry\",\"Unit\":\"Count\"},"
                               "{\"Name\":\"events_to_dlq\",\"Unit\":\"Count\"}" : "",
                (unsigned long long)(m->events_processed - since->events_processed),
                (unsigned long long)(m->deliveries_success - since->deliveries_success),
                (unsigned long long)(m->deliveries_failed - since->deliveries_failed), avg_ms,
                (unsigned long long)(m->retry_attempts - since->retry_attempts));
  if (queue_counts)
    hl_buf_printf(o, ",\"events_to_retry\":%llu,\"events_to_dlq\":%llu",
                  (unsigned long long)(m->events_to_retry - since->events_to_retry),
                  (unsigned long long)(m->events_to_dlq - since->events_to_dlq));
  hl_buf_putc(o, '}');
}
