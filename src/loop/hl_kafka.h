/* hl_kafka.h — librdkafka on the libuv loop, never blocking it.
 *
 * One producer (acks=all, idempotent) and, when a group id is given, one
 * consumer (manual offset commits) per process. librdkafka's background
 * threads signal a pipe (rd_kafka_queue_io_event_enable) that a uv_poll_t
 * watches; the loop then serves delivery reports, consumed messages,
 * rebalances and admin results without blocking, at most
 * HL_KAFKA_BATCH_MAX messages per turn (a uv_idle continues a cut-off
 * batch). A 100 ms timer is the safety net for a missed wake-up.
 *
 * At-least-once: the owner calls hl_kafka_done() for every consumed message
 * once it reached a durable state; per partition only the finished prefix
 * is committed (hl_kafka_offsets), asynchronously every 500 ms and at
 * revoke/close. A message handed back with hl_kafka_release() is consumed
 * again: its partition is rewound to it, and the messages after it that
 * are still held or already done are not handed out a second time. All
 * callbacks run on the loop, never inside the call that caused them.
 *
 * Every assigned partition is read from its own queue (not forwarded to
 * the consumer queue), so the owner can hold one partition (back-pressure)
 * while the others flow: a held partition is simply not read, and
 * librdkafka stops fetching it once its queue holds
 * HL_KAFKA_PART_QUEUE_KB. Holding never pauses the partition, so nothing
 * fetched is thrown away and fetched again. librdkafka 2.0 does not notice
 * such a queue being read empty again (it decides to fetch a partition
 * only when its broker thread wakes, up to a second later): a partition
 * whose queue was at the mark has its leader woken once a quarter of it is
 * left, and one read empty with records left on the broker after
 * HL_KAFKA_WAKE_MS (hl_kafka_wake.h).
 *
 * SASL (hl_kafka_sasl): SCRAM takes a login; OAUTHBEARER takes a token
 * source, asked on the loop whenever librdkafka's refresh callback runs
 * (each handle's SASL queue is served with the other queues), whose answer
 * is set with rd_kafka_oauthbearer_set_token or _failure.
 *
 * Blocking is confined to shutdown (hl_kafka_close flushes the producer for
 * up to 5 s and leaves the consumer group) and to the commit of a revoked
 * partition inside a rebalance (one round trip).
 */
#ifndef HL_KAFKA_H
#define HL_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define HL_KAFKA_BATCH_MAX 500
/* Prefetched bytes per assigned partition (librdkafka's
 * queued.max.messages.kbytes, which applies per partition queue): about
 * a quarter second of a fast partner at 1 KB records, and the memory a
 * held partition costs (plus one fetch, max.partition.fetch.bytes). */
#define HL_KAFKA_PART_QUEUE_KB 2048

typedef struct hl_kafka hl_kafka;
typedef struct hl_kafka_msg hl_kafka_msg;

/* A produce's wait for acks when the config names none (message.timeout.ms). */
#define HL_KAFKA_MESSAGE_TIMEOUT_MS 30000

typedef struct {
  const char *name;
  const void *value;
  size_t len;
} hl_kafka_header;

/* --- SASL ------------------------------------------------------------------------------ */

typedef enum {
  HL_KAFKA_SASL_NONE,
  HL_KAFKA_SASL_SCRAM_SHA_256,
  HL_KAFKA_SASL_SCRAM_SHA_512,
  HL_KAFKA_SASL_OAUTHBEARER, /* tokens from a token source (Amazon MSK IAM: aws/hl_msk_auth.h) */
} hl_kafka_sasl_mech;

/* status 0: token (valid until expiry_ms, ms since the epoch) and info, a
 * JSON members fragment describing it without any secret (may be NULL);
 * otherwise a negative hl_err and info the reason, naming no secret. */
typedef void (*hl_kafka_token_cb)(void *data, int status, const char *token, int64_t expiry_ms, const char *info);

/* Where OAUTHBEARER tokens come from: a vtable, so that the Kafka layer
 * needs nothing of AWS. request runs on the loop whenever librdkafka wants
 * a token for one client handle (at start, at ~80 % of the last token's
 * life, 10 s after a failure). It answers through cb exactly once, on the
 * loop, without blocking: inside the call (then it returns NULL) or later
 * (then it returns a handle that cancel withdraws; cb does not run after
 * cancel). */
typedef struct hl_kafka_token_source hl_kafka_token_source;
struct hl_kafka_token_source {
  void *(*request)(hl_kafka_token_source *self, hl_kafka_token_cb cb, void *data);
  void (*cancel)(hl_kafka_token_source *self, void *req);
};

typedef struct {
  hl_kafka_sasl_mech mech;
  const char *username, *password;      /* SCRAM; the password is never logged */
  hl_kafka_token_source *tokens;        /* OAUTHBEARER; borrowed: outlives every handle using it */
} hl_kafka_sasl;

/* The SASL mechanism's name as librdkafka (and the brokers) spell it. */
const char *hl_kafka_sasl_mech_name(hl_kafka_sasl_mech m);

typedef struct {
  const char *brokers;
  const char *group_id;            /* NULL: produce only */
  /* Static membership (KIP-345, group.instance.id): a member restarted with
   * the same id within the session timeout gets its partitions back without
   * a rebalance. Unique per running member. NULL or "": dynamic. */
  const char *group_instance_id;
  /* NULL/"plaintext", "ssl"; with a SASL mechanism always "sasl_ssl"
   * unless this says "sasl_plaintext" (a local broker). */
  const char *security_protocol;
  hl_kafka_sasl sasl;
  /* Observes every OAUTHBEARER token handed to librdkafka (status 0) or
   * refused (the failure reason): tests and metrics. handle is "producer"
   * or "consumer". Runs on the loop. */
  void (*on_token)(void *data, const char *handle, int status, const char *token, int64_t expiry_ms,
                   const char *info);
  void *token_data;
  const char *client_id;           /* NULL: "hookloop" */
  int session_timeout_ms;          /* 0: librdkafka's default */
  int message_timeout_ms;          /* 0: HL_KAFKA_MESSAGE_TIMEOUT_MS — how long a produce may wait for acks before it fails */
  const char *debug;               /* librdkafka's debug contexts (e.g. "cgrp,topic"); NULL or "": none */
  /* The consumer hit a fatal error (e.g. fenced by another member with the
   * same group.instance.id) and consumes no more; runs on the loop, once. */
  void (*on_fatal)(void *data, const char *reason);
  void *fatal_data;
} hl_kafka_config;

/* A consumed message, owned by the receiver until hl_kafka_done/_release. */
struct hl_kafka_msg {
  rd_kafka_message_t *rkm;
  const char *topic;
  int32_t partition;
  int64_t offset;
  const char *key;
  size_t key_len;
  const char *value;
  size_t len;
  void *part;                      /* internal */
  uint64_t generation;             /* internal: assignment the message belongs to */
};

typedef void (*hl_kafka_msg_cb)(void *data, hl_kafka_msg *m);
/* A partition is being taken away: stop working on its messages. */
typedef void (*hl_kafka_revoke_cb)(void *data, const char *topic, int32_t partition);
/* status 0 or a negative hl_err. */
typedef void (*hl_kafka_done_cb)(void *data, int status);

int hl_kafka_create(uv_loop_t *loop, const hl_kafka_config *cfg, hl_kafka **out, char *err, size_t errlen);
/* Sets bootstrap.servers, security.protocol and the SASL settings of cfg on
 * c (hl_kafka_find's lookups share it). With OAUTHBEARER it enables the
 * SASL queue (rd_kafka_queue_get_sasl): the caller serves it or sets the
 * token itself. Returns 0, or HL_EINVAL with librdkafka's reason. */
int hl_kafka_conf_security(const hl_kafka_config *cfg, rd_kafka_conf_t *c, char *err, size_t errlen);
/* Subscribes the consumer to topics and "^regex" patterns. */
int hl_kafka_subscribe(hl_kafka *k, const char *const *topics, size_t n, hl_kafka_msg_cb on_msg,
                       hl_kafka_revoke_cb on_revoke, void *data);
/* The message reached a durable state: its offset may be committed. Frees m. */
void hl_kafka_done(hl_kafka *k, hl_kafka_msg *m);
/* Frees m without marking it done: while its partition stays assigned and
 * consuming was not stopped, the partition is rewound (on a later turn) so
 * that m comes again; otherwise the next owner or run consumes it. */
void hl_kafka_release(hl_kafka *k, hl_kafka_msg *m);
/* Stops handing out messages (shutdown): messages released from now on are
 * left for the next owner or run instead of being consumed again. */
void hl_kafka_consume_stop(hl_kafka *k);
/* A header's value, or NULL. */
const void *hl_kafka_msg_header(const hl_kafka_msg *m, const char *name, size_t *len);
/* Every header of m in one pass, in order: the first cap go to out (names
 * and values borrowed from m, valid while m is held); returns how many m
 * has (more than cap: the rest were not copied). */
size_t hl_kafka_msg_headers(const hl_kafka_msg *m, hl_kafka_header *out, size_t cap);

/* Produces a message; cb(data, status) runs on the loop once the brokers
 * acknowledged it (acks=all) or it failed for good. Key and value are copied. */
void hl_kafka_produce(hl_kafka *k, const char *topic, const void *key, size_t key_len, const void *value,
                      size_t len, const hl_kafka_header *headers, size_t nheaders, hl_kafka_done_cb cb,
                      void *data);
/* Pauses/resumes fetching of one partition (retry due times). A pause
 * drops what librdkafka prefetched for it, and a resume fetches it again:
 * meant for long waits, not for back-pressure. */
void hl_kafka_pause(hl_kafka *k, const char *topic, int32_t partition);
void hl_kafka_resume(hl_kafka *k, const char *topic, int32_t partition);
/* Back-pressure: a held partition is not read (its prefetched messages stay
 * queued; librdkafka stops fetching at HL_KAFKA_PART_QUEUE_KB). Holds
 * count: the partition is read again when every hold was undone. Holds end
 * with the assignment (a revoked partition comes back unheld). unhold
 * continues reading on a later turn, never inside the call. */
void hl_kafka_hold(hl_kafka *k, const char *topic, int32_t partition);
void hl_kafka_unhold(hl_kafka *k, const char *topic, int32_t partition);
/* Creates a topic unless it exists (TOPIC_ALREADY_EXISTS is success). A
 * broker that does not answer CreateTopics within 5 s gives HL_ETIMEOUT:
 * callers go on and rely on the broker creating topics on first use. */
void hl_kafka_ensure_topic(hl_kafka *k, const char *topic, int partitions, hl_kafka_done_cb cb, void *data);
/* Health: asks a broker for metadata (the locally known topics) with
 * rd_kafka_metadata, which blocks up to timeout_ms, so it runs on the libuv
 * threadpool; a broker that answers is a cluster this process can reach
 * now. cb runs on the loop with 0, or a negative hl_err and why (valid
 * while cb runs). A close waits for a check still running. */
typedef void (*hl_kafka_check_cb)(void *data, int status, const char *why);
void hl_kafka_check(hl_kafka *k, int timeout_ms, hl_kafka_check_cb cb, void *data);
/* Messages produced and not yet acknowledged. */
size_t hl_kafka_outstanding(const hl_kafka *k);
/* The producer's message.max.bytes: the largest record (value, key,
 * headers and framing) it hands to the brokers. */
size_t hl_kafka_message_max(const hl_kafka *k);
/* Records librdkafka has fetched for an assigned partition and not yet
 * handed out (its prefetch queue); 0 for a partition not read on its own. */
size_t hl_kafka_prefetched(hl_kafka *k, const char *topic, int32_t partition);
/* Wakes sent for partitions whose fetching librdkafka had stopped and not
 * resumed once their queue was read (hl_kafka_wake.h). */
uint64_t hl_kafka_fetch_wakes(const hl_kafka *k);
/* Commits what is committable now (asynchronously). */
void hl_kafka_commit(hl_kafka *k);
/* Stops consuming, commits, flushes the producer (up to 5 s), leaves the
 * group and closes every handle; cb runs when done. */
void hl_kafka_close(hl_kafka *k, void (*cb)(void *data), void *data);

#endif
