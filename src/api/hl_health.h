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
 * whose check never answers cannot wedge the endpoint: a check has a
 * deadline of its own (HL_HEALTH_DEADLINE_MS), past which the parts that
 * have not answered fail as "no answer" (PostgreSQL's query timeout is
 * 30 s; a hung server must not hold a load balancer's probe that long).
 * While a part's late check is still out, later checks do not ask it
 * again (no pile-up on a hung dependency): they fail it at once, saying
 * how long it has not answered.
 *
 * Ownership: the store and Kafka handle are borrowed and must outlive the
 * checks started on them (both close only after answering those). A check
 * is its own object (hl_health.c), freed once both its timer is closed and
 * every part it asked has answered, so an answer that comes after the
 * deadline finds it. The hl_health itself must outlive the store's close
 * (it is part of the API, which lives as long as the process's loop).
 */
#ifndef HL_HEALTH_H
#define HL_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "loop/hl_kafka.h"
#include "store/hl_store.h"

#define HL_HEALTH_PARTS 3        /* store, its queue, Kafka */
#define HL_HEALTH_TTL_MS 2000    /* how long a result is used */
#define HL_HEALTH_KAFKA_TIMEOUT_MS 2000
/* A check's answer comes within this, whatever a part does (the ECS and
 * ALB health checks' default timeout is 5 s). */
#define HL_HEALTH_DEADLINE_MS 3000

typedef struct {
  const char *name;   /* "sqlite", "dynamodb", "kafka" */
  int status;         /* 0, or a negative hl_err */
  char error[256];    /* when status != 0 */
} hl_health_part;

typedef struct hl_health hl_health;
typedef struct hl_health_round hl_health_round; /* one check (hl_health.c) */
/* h's parts hold the result; valid while the callback runs. */
typedef void (*hl_health_cb)(void *data, const hl_health *h);

typedef struct hl_health_waiter {
  hl_health_cb cb;
  void *data;
  struct hl_health_waiter *next;
} hl_health_waiter;

struct hl_health {
  uv_loop_t *loop;         /* the deadline's timer; NULL: no deadline */
  hl_store *store;
  hl_kafka *kafka;
  uint64_t ttl_ms;
  uint64_t deadline_ms;
  /* The last result. */
  hl_health_part parts[HL_HEALTH_PARTS];
  size_t nparts;
  uint64_t checked_ms;     /* monotonic ms of the last result; 0: none yet */
  hl_health_round *round;  /* the check running (its result not yet out), or NULL */
  /* Monotonic ms at which a part still out was asked; 0: none out. */
  uint64_t store_asked_ms, kafka_asked_ms;
  hl_health_waiter *waiters, **wtail;
};

/* ttl_ms 0: HL_HEALTH_TTL_MS. loop NULL: checks wait for every part
 * however long it takes. */
void hl_health_init(hl_health *h, uv_loop_t *loop, hl_store *store, uint64_t ttl_ms);
/* Kafka mode: the brokers are a part too. */
void hl_health_use_kafka(hl_health *h, hl_kafka *kafka);
/* The result: the last one while younger than the TTL (cb runs inside the
 * call), otherwise a fresh check's (cb runs on the loop once every part has
 * answered or the deadline passed; inside the call when no part could be
 * asked). */
void hl_health_get(hl_health *h, hl_health_cb cb, void *data);
/* True when every part of the result passed. */
bool hl_health_ok(const hl_health *h);
/* Milliseconds since the result was checked. */
uint64_t hl_health_age_ms(const hl_health *h);

#endif
