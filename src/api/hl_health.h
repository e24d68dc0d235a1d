/* hl_health.h — what /healthz and /api/v1/events/health report: a live,
 * cheap check of every part hookloop depends on, cached for a few seconds.
 *
 * Parts: the store (SQLite; or DynamoDB and the SQLite queue beneath it;
 * see the store's check in hl_store.h) and, in Kafka mode, the brokers (a
 * metadata request on the threadpool, hl_kafka_check). Nothing blocks the
 * loop: SQLite's check is bounded local work, DynamoDB's is one request
 * with a 2 s timeout, Kafka's waits up to 2 s on the threadpool.
 *
 * A result is kept for ttl_ms, so a busy health endpoint costs one check
 * per TTL; requests that come while a check runs wait for that one. A part
 * whose check never answers cannot wedge the endpoint: every check is
 * bounded by its own timeout.
 *
 * Ownership: the store and Kafka handle are borrowed and must outlive the
 * checks started on them (both close only after answering those).
 */
#ifndef HL_HEALTH_H
#define HL_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loop/hl_kafka.h"
#include "store/hl_store.h"

#define HL_HEALTH_PARTS 3        /* store, its queue, Kafka */
#define HL_HEALTH_TTL_MS 2000    /* how long a result is used */
#define HL_HEALTH_KAFKA_TIMEOUT_MS 2000

typedef struct {
  const char *name;   /* "sqlite", "dynamodb", "kafka" */
  int status;         /* 0, or a negative hl_err */
  char error[256];    /* when status != 0 */
} hl_health_part;

typedef struct hl_health hl_health;
/* h's parts hold the result; valid while the callback runs. */
typedef void (*hl_health_cb)(void *data, const hl_health *h);

typedef struct hl_health_waiter {
  hl_health_cb cb;
  void *data;
  struct hl_health_waiter *next;
} hl_health_waiter;

struct hl_health {
  hl_store *store;
  hl_kafka *kafka;
  uint64_t ttl_ms;
  /* The last result. */
  hl_health_part parts[HL_HEALTH_PARTS];
  size_t nparts;
  uint64_t checked_ms;     /* monotonic ms of the last result; 0: none yet */
  /* The check running, if any. */
  bool running;
  int waiting;             /* checks not yet answered (store, Kafka) */
  hl_health_part next[HL_HEALTH_PARTS - 1]; /* the store's parts */
  size_t nnext;
  hl_health_part next_kafka;
  bool with_kafka;         /* this check asked Kafka too */
  hl_health_waiter *waiters, **wtail;
};

/* ttl_ms 0: HL_HEALTH_TTL_MS. */
void hl_health_init(hl_health *h, hl_store *store, uint64_t ttl_ms);
/* Kafka mode: the brokers are a part too. */
void hl_health_use_kafka(hl_health *h, hl_kafka *kafka);
/* The result: the last one while younger than the TTL (cb runs inside the
 * call), otherwise a fresh check's (cb runs on the loop once every part has
 * answered). */
void hl_health_get(hl_health *h, hl_health_cb cb, void *data);
/* True when every part of the result passed. */
bool hl_health_ok(const hl_health *h);
/* Milliseconds since the result was checked. */
uint64_t hl_health_age_ms(const hl_health *h);

#endif
