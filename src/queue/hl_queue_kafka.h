/* hl_queue_kafka.h — the Kafka queue (Amazon MSK in production), a push
 * queue: records are read by serve's consumer (handlers/hl_pipeline) or
 * arrive in Lambda's MSK batches and are handed to the dispatcher; an
 * outcome is a status row in the store and, for a retry, a record on its
 * retry tier topic (wh.retry.<tier>, due time in its headers) or, for a
 * failure, on the dead-letter topic (model/hl_record writes the headers).
 * An ordered ("fifo") subscription's retry is the exception: its status
 * only, the record staying with the dispatcher (hl_queue_attempt.kept).
 */
#ifndef HL_QUEUE_KAFKA_H
#define HL_QUEUE_KAFKA_H

#include <stdbool.h>

#include "loop/hl_kafka.h"
#include "loop/hl_kafka_find.h"
#include "model/hl_retry.h"
#include "queue/hl_queue.h"

typedef struct {
  hl_store *store;                    /* borrowed: status rows, the accepted-ids ledger */
  /* Re-queueing reads the dead-letter topic with a consumer of its own
   * (NULL kafka_cfg: re-queue is not supported). Borrowed. */
  uv_loop_t *loop;
  const hl_kafka_config *kafka_cfg;
  const char *retry_prefix, *dlq_topic; /* borrowed */
  const hl_retry_schedule *schedule;  /* names the retry tiers */
  /* Retries only ever go to the tiers of `schedule`: one past its end (a
   * subscription's longer schedule) takes its last tier, the due time
   * saying when. For Lambda, which consumes a fixed list of tier topics;
   * serve subscribes to every tier by pattern and keeps a tier's delays
   * alike, since it waits for a partition's head. */
  bool closed_tiers;
  /* "ordering": "fifo" is kept (hl_queue_vt.orders): serve's consumer and
   * Lambda's MSK batches, which hand records in in partition order. */
  bool orders;
  /* The subscriptions (borrowed): an accepted event with a fifo subscriber
   * is keyed on its ingress topic by its event type, so that the events of
   * that type are read back in acceptance order (NULL: by event id). */
  const hl_registry *reg;
  /* A handed-in record leaves memory (see hl_queue_vt.finished). */
  void (*finished)(void *data, void *token, hl_sub *sub, bool recorded);
  void *finished_data;
} hl_queue_kafka_options;

hl_queue *hl_queue_kafka_create(hl_kafka *kafka, const hl_queue_kafka_options *opt);
/* The producer, once there is one (Lambda makes it on its first batch);
 * until then retries and failures are not durable (HL_EUNSUPPORTED). */
void hl_queue_kafka_set_producer(hl_queue *q, hl_kafka *kafka);

/* The retry tier name of a delay ("1s", "5s", "2m", "1h", "100ms"). */
void hl_retry_tier_name(uint64_t delay_ms, char *out, size_t outlen);
/* The retry topic of a delay's tier: "<retry_prefix>.<tier>". */
void hl_retry_tier_topic(const char *retry_prefix, uint64_t delay_ms, char *out, size_t outlen);

#endif
