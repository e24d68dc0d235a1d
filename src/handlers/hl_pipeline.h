/* hl_pipeline.h — the seed design on Kafka (Amazon MSK in production):
 *
 *   ingress topics --processor--> egress topics (one per partner and type)
 *   egress + retry topics --dispatcher--> partners; failures to retry topics
 *   (wh.retry.<tier>, due time in headers) or the dead-letter topic.
 *
 * Processor: each ingress record is checked (envelope, schema), matched
 * against the subscriptions and produced to every matching egress topic;
 * the record is done when every produce was acknowledged. Malformed or
 * invalid records go to the dead-letter topic with the reason in headers,
 * so a partition never sticks.
 *
 * Dispatcher: each egress/retry record becomes a delivery of the same
 * state machine as the embedded queue (hl_dispatch over hl_queue_kafka). Its
 * subscription is the one its subscription_id header names or, on an
 * egress topic, the one whose topic it is; a record that names none goes
 * to the dead-letter topic (reason unknown_subscription). A retry
 * record not yet due pauses its partition until it is (head-of-line: a
 * tier's records fall due in order). A subscription with too much in memory
 * holds the partition that feeds it (hl_kafka_hold: not read, nothing
 * refetched) until it is back at its limit; one slow partner stalls only
 * its own topic. A record a subscription drops unfinished (replaced in
 * place) is handed back and consumed again.
 *
 * Ordered ("fifo") subscriptions: the processor keys their egress records
 * by the ingress record's own key, else by the subscription id (the event
 * id in an event_id header), and produces each ingress partition's
 * fan-outs in the order they were read; the dispatcher keeps the head in
 * memory while it retries (hl_dispatch.h), so its record and those behind
 * it stay unfinished and uncommitted; at a revoke they leave memory and
 * are read again, in order (docs/reliability.md).
 *
 * At-least-once: every record is marked done (hl_kafka_done) only once it
 * reached a durable state; offsets commit the finished prefix.
 */
#ifndef HL_PIPELINE_H
#define HL_PIPELINE_H

#include <stdbool.h>

#include "handlers/hl_dispatch.h"
#include "obs/hl_metrics.h"
#include "model/hl_record.h"
#include "model/hl_registry.h"
#include "model/hl_retry.h"
#include "queue/hl_queue_kafka.h"
#include "loop/hl_kafka.h"
#include "store/hl_store.h"

typedef struct hl_pipeline hl_pipeline;

typedef struct {
  bool processor, dispatcher;
  const char *ingress_prefix, *egress_prefix, *retry_prefix, *dlq_topic;
  const hl_retry_schedule *schedule;  /* names the retry tiers */
  hl_metrics *metrics;                /* NULL: not counted */
  const hl_kafka_config *kafka_cfg;   /* re-queueing reads the dead-letter topic with it (NULL: not supported) */
  /* Retries only ever go to the tiers of `schedule`: one past its end (a
   * subscription's longer schedule) takes its last tier, the due time
   * saying when. For Lambda, which consumes a fixed list of tier topics;
   * serve subscribes to every tier by pattern and keeps a tier's delays
   * alike, since it waits for a partition's head. */
  bool closed_tiers;
  /* The processor checks records as the producer API checks bodies
   * (hl_event_batch_start): one over HL_EVENT_INLINE_BYTES is parsed and
   * validated on this loop's threadpool, a smaller one on the loop within
   * HL_EVENT_INLINE_STEPS and then on the threadpool, so no record stalls
   * the loop. hl_pipeline_create sets it to its loop when NULL; NULL in a
   * call of hl_pipeline_process: everything on the caller's thread. */
  uv_loop_t *loop;
  /* The processor's idempotency ledger (hl_pipeline_create sets it to its
   * store when NULL): a record is fanned out only when no processed#<key>
   * marker is there, and the marker is written once its fan-out was
   * acknowledged, before the record is done. NULL: no markers. */
  hl_store *store;
  /* The processor retry tiers: a record whose fan-out could not be made for
   * a transient reason (a produce failed, the ledger could not be read) goes
   * to <retry_prefix>.processor.<delay> for the first
   * HL_PIPELINE_PROCESSOR_TIERS delays of `schedule` (due time in a header),
   * then to the dead-letter topic. false: it is consumed again (Lambda:
   * the batch is retried). */
  bool processor_retries;
} hl_pipeline_options;

#define HL_PIPELINE_PROCESSOR_TIERS 3

/* Creates the pipeline; the dispatcher (may be NULL without the dispatcher
 * role) must be created with hl_pipeline_queue() as its queue. */
hl_pipeline *hl_pipeline_create(uv_loop_t *loop, hl_kafka *kafka, hl_registry *reg, hl_store *store,
                                const hl_pipeline_options *opt);
/* The Kafka queue (hl_queue_kafka) whose records this pipeline reads;
 * destroyed with the pipeline, after the dispatcher closed. */
hl_queue *hl_pipeline_queue(hl_pipeline *p);
void hl_pipeline_set_dispatch(hl_pipeline *p, hl_dispatch *d);
/* Subscribes to the topics of the configured roles. */
int hl_pipeline_start(hl_pipeline *p);
/* Stops taking new records (shutdown): those that arrive, and those handed
 * back from now on, are left to the next run (not committed). */
void hl_pipeline_stop(hl_pipeline *p);
/* Records being processed (fan-out produces outstanding). */
size_t hl_pipeline_busy(const hl_pipeline *p);
/* Frees the pipeline, then calls cb. Records still busy (a check on the
 * threadpool, fan-out produces) are waited for, so Kafka must stay open
 * until cb. */
void hl_pipeline_destroy(hl_pipeline *p, void (*cb)(void *data), void *data);

/* status 0: the record reached a durable state (it may be acknowledged);
 * otherwise it did not and must be consumed again. */
typedef void (*hl_pipeline_done_cb)(void *data, int status);

/* The processor for one ingress record: checks it, produces it to every
 * matching subscription's egress topic or, when it is malformed or
 * invalid, to the dead-letter topic. Counts events_processed (and
 * events_to_dlq) once that is acknowledged. With opt->store, a record
 * whose processed# marker is present is done without a fan-out; with
 * opt->processor_retries a transient failure puts it on a processor retry
 * tier (events_to_retry) or, after the last, the dead-letter topic. A
 * record read from a processor retry tier is processed the same way. The check may run on the
 * threadpool (opt->loop): cb always runs later, on the loop; r's fields
 * (not r itself), reg and opt must stay valid until it does. */
void hl_pipeline_process(hl_kafka *k, hl_registry *reg, const hl_pipeline_options *opt, const hl_record *r,
                         hl_pipeline_done_cb cb, void *data);

/* The ingress records of one partition a caller processes, in the order it
 * read them (Lambda: one per partition of an MSK batch): the fan-out of a
 * record a fifo subscription gets is produced only after those of the
 * records before it in the lane finished (serve keeps one per partition
 * read). Free it once every record handed in with it has called back. */
typedef struct hl_pipeline_lane hl_pipeline_lane;
hl_pipeline_lane *hl_pipeline_lane_new(void);
void hl_pipeline_lane_free(hl_pipeline_lane *l);
/* hl_pipeline_process, keeping lane's order. */
void hl_pipeline_process_in(hl_kafka *k, hl_registry *reg, const hl_pipeline_options *opt, const hl_record *r,
                            hl_pipeline_lane *lane, hl_pipeline_done_cb cb, void *data);

/* Puts a record that cannot be handled on the dead-letter topic: headers
 * reason, source_topic, source_partition, source_offset. Counts
 * events_to_dlq once acknowledged. */
void hl_pipeline_dead_letter(hl_kafka *k, const hl_pipeline_options *opt, const hl_record *r,
                             const char *reason, hl_pipeline_done_cb cb, void *data);

/* What the dispatcher does with an egress or retry record. */
typedef enum {
  HL_REC_DELIVER,      /* *sub is its subscription */
  HL_REC_NOT_DUE,      /* a retry due at *due_ms, later than now */
  HL_REC_DEAD_LETTER   /* *reason says why: no subscription, no key */
} hl_rec_action;

hl_rec_action hl_pipeline_classify(const hl_registry *reg, const hl_pipeline_options *opt, const hl_record *r,
                                   int64_t now_ms, hl_sub **sub, int64_t *due_ms, const char **reason);

#endif
