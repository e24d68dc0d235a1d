/* hl_kafka_wake.h — wakes librdkafka's fetcher for a partition it stopped
 * fetching and forgot.
 *
 * librdkafka 2.0 stops fetching a partition once its prefetch queue holds
 * queued.max.messages.kbytes (hl_kafka: HL_KAFKA_PART_QUEUE_KB), and decides
 * again only when the leader's broker thread wakes up: on its socket, an op
 * for it, or after its longest block, a second. Reading the queue empty
 * wakes nothing. So when a fetch crossed the mark with records still on the
 * broker, those records wait up to a second after everything fetched was
 * read: a drain of a backlog stalls once per refill of each partition.
 * (Later librdkafka names that wait fetch.queue.backoff.ms, by default the
 * same second.)
 *
 * A wake is one ListOffsets request to the partition's leader
 * (rd_kafka_query_watermark_offsets): the broker thread wakes to send it and
 * decides again which of its partitions to fetch. Nothing prefetched is
 * thrown away, which a seek or a resume would do (both start a new version
 * of the partition). The call blocks for the round trip, so it runs on the
 * threadpool, one wake at a time; the callback runs on the loop.
 *
 * hl_kafka decides when to wake (a partition whose queue was at the mark,
 * once a quarter of it is left, or one read empty for HL_KAFKA_WAKE_MS;
 * either with records left on the broker, once per position); this pair
 * only sends it.
 */
#ifndef HL_KAFKA_WAKE_H
#define HL_KAFKA_WAKE_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

/* How long a partition's queue stays empty, with records left on the
 * broker, before its leader is woken (when the wake at a quarter of the
 * mark did not come or did not bring them): longer than a fetch of records
 * that are there takes, far shorter than librdkafka's second. A wake while
 * a fetch is on its way costs one small request and nothing else. */
#define HL_KAFKA_WAKE_MS 10
/* How long one wake waits for the leader's answer. */
#define HL_KAFKA_WAKE_TIMEOUT_MS 2000

typedef void (*hl_kafka_wake_cb)(void *data);

typedef struct {
  uv_work_t work;
  rd_kafka_t *rk;            /* borrowed: the consumer, which outlives every wake */
  char *topic;               /* owned while busy */
  int32_t partition;
  bool busy;
  uint64_t sent;             /* wakes sent since init */
  hl_kafka_wake_cb cb;
  void *data;
} hl_kafka_wake;

void hl_kafka_wake_init(hl_kafka_wake *w, rd_kafka_t *rk);

/* Wakes topic/partition's leader; false (and nothing done) while a wake is
 * running. cb runs on the loop once the answer came or the wait ended;
 * the handle may not be destroyed before it has. */
bool hl_kafka_wake_start(hl_kafka_wake *w, uv_loop_t *loop, const char *topic, int32_t partition,
                         hl_kafka_wake_cb cb, void *data);

#endif
