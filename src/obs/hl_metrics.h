/* hl_metrics.h — the figures of docs/interface.md §7, kept on the loop (no locks)
 * and rendered as Prometheus text or CloudWatch Embedded Metric Format.
 *
 * Each figure is counted where the thing it names happens, the same way in
 * serve and Lambda: an event is processed where it is fanned out to its
 * subscriptions (the embedded queue's accept, or the Kafka processor), and
 * a dead letter is counted whoever made it (the dispatcher's permanent
 * failures, the processor's malformed or invalid records, records for no
 * known subscription). */
#ifndef HL_METRICS_H
#define HL_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "common/hl_buf.h"

#define HL_METRICS_BUCKETS 14

typedef struct {
  uint64_t events_accepted;      /* events the producer API accepted (202) */
  uint64_t events_processed;     /* events fanned out (or, on Kafka, dead-lettered by the processor) */
  uint64_t events_to_retry;      /* attempts, and processor records (Kafka), that ended in a scheduled retry */
  uint64_t events_to_dlq;        /* deliveries that failed for good, and records dead-lettered */
  uint64_t deliveries_success, deliveries_failed, deliveries_retry, deliveries_duplicate;
  uint64_t retry_attempts;       /* attempts after the first */
  uint64_t in_flight;
  uint64_t in_memory;
  uint64_t latency_buckets[HL_METRICS_BUCKETS]; /* cumulative on render */
  uint64_t latency_count;
  double latency_sum;
} hl_metrics;

void hl_metrics_init(hl_metrics *m);
void hl_metrics_dispose(hl_metrics *m);
/* outcome: "success", "failed", "retry", "duplicate"; latency_s < 0 when no
 * request was made; attempt is 1-based. */
void hl_metrics_on_delivery(hl_metrics *m, const char *outcome, double latency_s, int attempt);
/* The producer API accepted an event (durable in the embedded queue, or
 * acknowledged on its ingress topic). */
void hl_metrics_on_accepted(hl_metrics *m);
/* An event was fanned out to nsubs subscriptions, or (Kafka processor) a
 * record was dead-lettered instead (nsubs 0). */
void hl_metrics_on_processed(hl_metrics *m, uint64_t nsubs);
/* A record went to the dead-letter topic without a delivery attempt. */
void hl_metrics_on_dead_letter(hl_metrics *m);
/* The Kafka processor put an ingress record on a processor retry tier. */
void hl_metrics_on_processor_retry(hl_metrics *m);
void hl_metrics_set_in_flight(hl_metrics *m, uint64_t n);
void hl_metrics_set_in_memory(hl_metrics *m, uint64_t n);
void hl_metrics_render_prometheus(const hl_metrics *m, hl_buf *out);
/* One EMF JSON line (no newline) with the seed metric names, for the
 * figures since `since` (a previous snapshot, or NULL for all).
 * queue_counts: also events_to_retry and events_to_dlq, which a source
 * without retry topics or a dead-letter queue (the inbox) leaves out. */
void hl_metrics_render_emf(const hl_metrics *m, const hl_metrics *since, const char *ns, bool queue_counts,
                           int64_t timestamp_ms, hl_buf *out);

#endif
