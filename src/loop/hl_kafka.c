#include "loop/hl_kafka.h"
#include "common/hl_common.h"
#include "common/hl_log.h"
#include "common/hl_strmap.h"
#include "loop/hl_kafka_offsets.h"
#include "loop/hl_kafka_wake.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

typedef struct {
  char *topic;
  int32_t partition;
  hl_kafka_offsets off;
  uint64_t generation;       /* bumped at every (re)assignment */
  bool assigned, paused;
  int64_t last_commit;
  rd_kafka_queue_t *q;       /* the partition's own queue while assigned, NULL when not split off */
  unsigned holds;            /* back-pressure: not read while > 0 */
  int64_t rewind;            /* lowest released offset to consume again, -1 none */
  /* A record handed back again and again (its handling keeps failing: a
   * retry or dead-letter produce the brokers refuse, a store that does not
   * answer): the offset rewound to last, how many times in a row, and when
   * the commit timer may rewind to it again (loop ms). Each time waits
   * twice as long, up to REWIND_BACKOFF_MAX_MS, so such a record is not
   * taken (and its partner asked) twice a second for ever. */
  int64_t stuck_at;
  unsigned stuck_streak;
  uint64_t stuck_until;
  int64_t dry_since;         /* loop ms its queue was last read empty, 0: not since data came */
  int64_t woken_at;          /* the position its leader was last woken at (hl_kafka_wake.h), -1 none */
  bool full;                 /* its queue was seen at librdkafka's mark since the last wake */
  double avg_len;            /* a running mean of its records' value bytes (what the mark counts) */
} part_state;

/* Messages read from one partition queue at a time: a partition held in
 * the middle of a chunk still gets the rest of it, so this bounds the
 * overshoot of a full subscription. */
#define PART_CHUNK 64

/* The back-off of a record handed back again (stuck_at): the commit
 * timer's own period, then doubling, up to this. */
#define REWIND_BACKOFF_BASE_MS 500
#define REWIND_BACKOFF_MAX_MS 30000

/* One client handle's OAUTHBEARER tokens: librdkafka asks on the handle's
 * SASL queue, which the loop serves; the token source answers on the loop,
 * at once or after fetching credentials. */
typedef struct {
  struct hl_kafka *k;
  rd_kafka_t *rk;
  rd_kafka_queue_t *q;       /* the SASL queue, NULL without OAUTHBEARER */
  const char *name;          /* "producer", "consumer" */
  void *req;                 /* the source's pending request */
  bool pending;
} token_slot;

typedef struct pending_cb {
  hl_kafka_done_cb cb;
  void *data;
  int status;
  struct pending_cb *next;
} pending_cb;

struct hl_kafka {
  uv_loop_t *loop;
  rd_kafka_t *producer, *consumer;
  rd_kafka_queue_t *consumer_q, *producer_q, *admin_q;
  int pipefd[2];
  uv_poll_t poll;
  uv_timer_t tick, commit_timer;
  uv_timer_t wake_timer;     /* checks partitions read empty (hl_kafka_wake.h) */
  hl_kafka_wake wake;
  uv_idle_t more;            /* continues a batch cut at HL_KAFKA_BATCH_MAX, delivers deferred callbacks */
  hl_strmap parts;           /* "topic\x1fpartition" -> part_state* */
  part_state **live;         /* assigned partitions with a queue of their own, read in turn */
  size_t nlive, caplive, turn;
  bool rewinds;              /* some partition has a rewind to apply */
  bool consume_stopped;
  hl_kafka_msg_cb on_msg;
  hl_kafka_revoke_cb on_revoke;
  void *data;
  void (*on_fatal)(void *data, const char *reason);
  void *fatal_data;
  bool fatal;
  uint64_t generation;
  size_t outstanding;
  size_t message_max;        /* the producer's message.max.bytes */
  pending_cb *deferred, **deferred_tail;
  struct dr_ctx *admin_pending;
  unsigned checks;           /* health checks on the threadpool (they use the producer) */
  hl_kafka_sasl sasl;
  token_slot ptok, ctok;     /* OAUTHBEARER tokens of the producer and the consumer */
  void (*on_token)(void *data, const char *handle, int status, const char *token, int64_t expiry_ms,
                   const char *info);
  void *token_data;
  bool closing;
  int closing_handles;
  void (*close_cb)(void *);
  void *close_data;
};

static int map_err(rd_kafka_resp_err_t e) {
  switch (e) {
  case RD_KAFKA_RESP_ERR_NO_ERROR: return 0;
  case RD_KAFKA_RESP_ERR__TIMED_OUT: case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT: return HL_ETIMEOUT;
  case RD_KAFKA_RESP_ERR__QUEUE_FULL: return HL_EBUSY;
  /* Over message.max.bytes (refused here, or by the broker): never takes. */
  case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE: return HL_ETOOBIG;
  case RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS: return HL_EEXISTS;
  case RD_KAFKA_RESP_ERR__DESTROY: return HL_ECANCELED;
  default: return HL_EIO;
  }
}

static part_state *part_get(hl_kafka *k, const char *topic, int32_t partition, bool create) {
  char key[512];
  snprintf(key, sizeof key, "%s\x1f%d", topic, partition);
  part_state *p = hl_strmap_get(&k->parts, key);
  if (!p && create) {
    p = hl_calloc(1, sizeof *p);
    p->topic = hl_strdup(topic);
    p->partition = partition;
    p->last_commit = -1;
    p->rewind = -1;
    p->stuck_at = -1;
    p->woken_at = -1;
    hl_kafka_offsets_init(&p->off);
    hl_strmap_put(&k->parts, key, p);
  }
  return p;
}

static void wake_on(hl_kafka *k, rd_kafka_queue_t *q);
static void on_more_deferred(hl_kafka *k);

/* Callbacks are never run inside the call that caused them: queue them. */
static void defer(hl_kafka *k, hl_kafka_done_cb cb, void *data, int status) {
  pending_cb *p = hl_malloc(sizeof *p);
  *p = (pending_cb){cb, data, status, NULL};
  *k->deferred_tail = p;
  k->deferred_tail = &p->next;
}

/* --- delivery reports and admin results ------------------------------------------------ */

typedef struct dr_ctx {
  hl_kafka_done_cb cb;
  void *data;
  struct dr_ctx *prev, *next; /* admin requests only: outstanding list, answered at close */
} dr_ctx;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  hl_kafka *k = opaque;
  dr_ctx *c = m->_private;
  (void)rk;
  k->outstanding--;
  if (m->err) hl_log_warn("kafka produce failed", "\"topic\":\"%s\",\"error\":\"%s\"",
                          rd_kafka_topic_name(m->rkt), rd_kafka_err2str(m->err));
  if (c) {
    if (c->cb) c->cb(c->data, map_err(m->err));
    hl_free(c);
  }
}

static void serve_admin(hl_kafka *k) {
  rd_kafka_event_t *ev;
  while (k->admin_q && (ev = rd_kafka_queue_poll(k->admin_q, 0)) != NULL) {
    dr_ctx *c = rd_kafka_event_opaque(ev);
    if (c) { /* unlink from the outstanding list */
      if (c->prev) c->prev->next = c->next;
      else k->admin_pending = c->next;
      if (c->next) c->next->prev = c->prev;
    }
    int status = map_err(rd_kafka_event_error(ev));
    const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
    if (res && status == 0) {
      size_t n = 0;
      const rd_kafka_topic_result_t **tr = rd_kafka_CreateTopics_result_topics(res, &n);
      for (size_t i = 0; i < n; i++) {
        rd_kafka_resp_err_t e = rd_kafka_topic_result_error(tr[i]);
        if (e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS || e == RD_KAFKA_RESP_ERR_NO_ERROR) continue;
        /* Brokers that refuse CreateTopics may still auto-create on use. */
        hl_log_warn("kafka topic not created", "\"topic\":\"%s\",\"error\":\"%s\"", rd_kafka_topic_result_name(tr[i]),
                    rd_kafka_err2str(e));
        status = map_err(e);
      }
    }
    if (c) {
      if (c->cb) c->cb(c->data, status);
      hl_free(c);
    }
    rd_kafka_event_destroy(ev);
  }
}

/* --- consuming -------------------------------------------------------------------------- */

static void commit_parts(hl_kafka *k, bool sync) {
  if (!k->consumer) return;
  rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(8);
  size_t it = 0;
  void *v;
  while (hl_strmap_next(&k->parts, &it, NULL, &v)) {
    part_state *p = v;
    int64_t c = hl_kafka_offsets_committable(&p->off);
    if (!p->assigned || c < 0 || c == p->last_commit) continue;
    rd_kafka_topic_partition_list_add(list, p->topic, p->partition)->offset = c;
    p->last_commit = c;
  }
  if (list->cnt > 0) {
    rd_kafka_resp_err_t e = rd_kafka_commit(k->consumer, list, sync ? 0 : 1);
    if (e && e != RD_KAFKA_RESP_ERR__NO_OFFSET)
      hl_log_warn("kafka commit failed", "\"error\":\"%s\"", rd_kafka_err2str(e));
  }
  rd_kafka_topic_partition_list_destroy(list);
}

/* Reads an assigned partition from its own queue. Done in the rebalance
 * callback before rd_kafka_assign: librdkafka then keeps it off the
 * consumer queue (an application forward, even to NULL, is not replaced). */
static void part_split(hl_kafka *k, part_state *p) {
  if (p->q) return;
  p->q = rd_kafka_queue_get_partition(k->consumer, p->topic, p->partition);
  if (!p->q) return; /* its messages come through the consumer queue (and it cannot be held) */
  rd_kafka_queue_forward(p->q, NULL);
  wake_on(k, p->q);
  if (k->nlive == k->caplive) {
    k->caplive = k->caplive ? k->caplive * 2 : 16;
    k->live = hl_realloc(k->live, k->caplive * sizeof *k->live);
  }
  k->live[k->nlive++] = p;
}

static void part_join(hl_kafka *k, part_state *p) {
  if (!p->q) return;
  rd_kafka_queue_io_event_enable(p->q, -1, NULL, 0);
  rd_kafka_queue_destroy(p->q);
  p->q = NULL;
  for (size_t i = 0; i < k->nlive; i++)
    if (k->live[i] == p) {
      k->live[i] = k->live[--k->nlive];
      break;
    }
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
                         void *opaque) {
  hl_kafka *k = opaque;
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    k->generation++;
    for (int i = 0; i < parts->cnt; i++) {
      part_state *p = part_get(k, parts->elems[i].topic, parts->elems[i].partition, true);
      hl_kafka_offsets_reset(&p->off);
      p->generation = k->generation;
      p->assigned = true;
      p->paused = false;
      p->last_commit = -1;
      p->holds = 0;
      p->rewind = -1;
      p->stuck_at = -1;
      p->stuck_streak = 0;
      p->dry_since = 0;
      p->woken_at = -1;
      p->full = false;
      part_split(k, p);
    }
    hl_log_info("kafka partitions assigned", "\"count\":%d", parts->cnt);
    rd_kafka_assign(rk, parts);
    /* librdkafka keeps an application's pause across a rebalance: a
     * partition paused while a retry waited (its resume timer is gone with
     * the revoke) came back paused, was never fetched again and its retry
     * never delivered. What is assigned is read; a record still not due is
     * paused again by its owner. */
    rd_kafka_resume_partitions(rk, parts);
  } else {
    /* Commit what is finished (never past unfinished work), then let go:
     * unfinished messages are consumed again by the next owner. */
    commit_parts(k, true);
    for (int i = 0; i < parts->cnt; i++) {
      part_state *p = part_get(k, parts->elems[i].topic, parts->elems[i].partition, false);
      if (!p) continue;
      p->assigned = false;
      hl_kafka_offsets_reset(&p->off);
      p->generation = ++k->generation;
      p->holds = 0;
      p->rewind = -1;
      p->dry_since = 0;
      p->full = false;
      part_join(k, p);
      if (k->on_revoke && !k->closing) k->on_revoke(k->data, p->topic, p->partition); /* the owner may be gone at close */
    }
    hl_log_info("kafka partitions revoked", "\"count\":%d", parts->cnt);
    rd_kafka_assign(rk, NULL);
  }
}

/* The consumer is unusable for good (librdkafka's fatal errors: with static
 * membership, another member joined with the same group.instance.id and
 * fenced this one). Nothing more will be consumed: the owner decides. */
static void consumer_fatal(hl_kafka *k) {
  if (k->fatal) return;
  k->fatal = true;
  char why[512];
  rd_kafka_resp_err_t e = rd_kafka_fatal_error(k->consumer, why, sizeof why);
  if (!e) snprintf(why, sizeof why, "fatal consumer error");
  hl_log_error("kafka consumer failed for good", "\"error\":\"%s\",\"code\":\"%s\",\"hint\":\"%s\"",
               hl_log_esc(why, (size_t)-1), rd_kafka_err2name(e),
               e == RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID
                   ? "another member uses the same KAFKA_GROUP_INSTANCE_ID: give each task its own"
                   : "restart the process");
  if (k->on_fatal) k->on_fatal(k->fatal_data, why);
}

/* Reads up to max messages from q (the consumer queue, which also serves
 * rebalances and errors, or one partition's queue: part) and hands them
 * out. Returns how many were read. */
static int consume_from(hl_kafka *k, rd_kafka_queue_t *q, part_state *part, int max) {
  rd_kafka_message_t *batch[HL_KAFKA_BATCH_MAX];
  ssize_t n = rd_kafka_consume_batch_queue(q, 0, batch, (size_t)max);
  for (ssize_t i = 0; i < n; i++) {
    rd_kafka_message_t *m = batch[i];
    if (m->err) {
      if (m->err == RD_KAFKA_RESP_ERR__FATAL) consumer_fatal(k);
      else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
        hl_log_warn("kafka consume error", "\"error\":\"%s\"", rd_kafka_message_errstr(m));
      rd_kafka_message_destroy(m);
      continue;
    }
    const char *topic = rd_kafka_topic_name(m->rkt);
    part_state *p = part ? part : part_get(k, topic, m->partition, true);
    /* After a rewind, what is still running or done comes again: not twice. */
    if (k->consume_stopped || !hl_kafka_offsets_take(&p->off, m->offset)) {
      rd_kafka_message_destroy(m);
      continue;
    }
    if (part) part->avg_len += ((double)m->len - part->avg_len) / 16;
    hl_kafka_msg *hm = hl_malloc(sizeof *hm); /* every field set below */
    *hm = (hl_kafka_msg){.rkm = m, .topic = topic, .partition = m->partition, .offset = m->offset,
                         .key = m->key, .key_len = m->key_len, .value = m->payload, .len = m->len,
                         .part = p, .generation = p->generation};
    k->on_msg(k->data, hm);
  }
  return n < 0 ? 0 : (int)n;
}

/* Seeks the partitions with released messages back to the lowest one. A
 * seek drops what was prefetched after it; consume_from skips the
 * messages that are running or done when they come again. */
static void rewind_part(hl_kafka *k, part_state *p) {
  if (p->rewind < 0) return;
  if (p->rewind == p->stuck_at) {
    p->stuck_streak++;
  } else {
    p->stuck_at = p->rewind;
    p->stuck_streak = 1;
  }
  uint64_t wait = 0;
  if (p->stuck_streak > 1) {
    unsigned shift = p->stuck_streak - 1 < 8 ? p->stuck_streak - 1 : 8;
    wait = (uint64_t)REWIND_BACKOFF_BASE_MS << shift;
    if (wait > REWIND_BACKOFF_MAX_MS) wait = REWIND_BACKOFF_MAX_MS;
    /* Once a doubling, not once a try: an operator sees it is stuck. */
    if ((p->stuck_streak & (p->stuck_streak - 1)) == 0)
      hl_log_warn("a record keeps being handed back; it is read again after a back-off",
                  "\"topic\":\"%s\",\"partition\":%d,\"offset\":%" PRId64 ",\"times\":%u,\"next_in_ms\":%" PRIu64,
                  hl_log_esc(p->topic, (size_t)-1), p->partition, p->rewind, p->stuck_streak, wait);
  }
  p->stuck_until = uv_now(k->loop) + wait;
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(l, p->topic, p->partition)->offset = p->rewind;
  p->rewind = -1;
  rd_kafka_error_t *e = rd_kafka_seek_partitions(k->consumer, l, 0); /* 0: asynchronous */
  if (e) {
    hl_log_warn("kafka seek failed", "\"topic\":\"%s\",\"error\":\"%s\"", p->topic, rd_kafka_error_string(e));
    rd_kafka_error_destroy(e);
  }
  rd_kafka_topic_partition_list_destroy(l);
}

static void apply_rewinds(hl_kafka *k) {
  if (!k->rewinds) return;
  k->rewinds = false;
  size_t it = 0;
  void *v;
  uint64_t now = uv_now(k->loop);
  while (hl_strmap_next(&k->parts, &it, NULL, &v)) {
    part_state *p = v;
    /* The same record again, before its back-off ran out: a later tick. */
    if (p->rewind >= 0 && p->rewind == p->stuck_at && now < p->stuck_until) {
      k->rewinds = true;
      continue;
    }
    rewind_part(k, p);
  }
}

/* --- partitions librdkafka stopped fetching (hl_kafka_wake.h) ----------------------------- */

static void on_wake_timer(uv_timer_t *t);

/* p's queue was just read empty: watched from now (from the last record
 * read, when this read took any). */
static void note_dry(hl_kafka *k, part_state *p, bool took) {
  if (took || !p->dry_since) p->dry_since = (int64_t)uv_now(k->loop) + 1; /* never 0 */
  p->full = false; /* watch_fill's moment has passed: the timer's wake takes over */
  if (!uv_is_active((uv_handle_t *)&k->wake_timer))
    uv_timer_start(&k->wake_timer, on_wake_timer, HL_KAFKA_WAKE_MS, 0);
}

/* The consumer's position in p (the offset after the last record read),
 * and whether the broker had records past it at the last fetch (the high
 * watermark librdkafka keeps from fetch answers; no request). */
static bool left_on_broker(hl_kafka *k, part_state *p, int64_t *pos) {
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(l, p->topic, p->partition);
  *pos = rd_kafka_position(k->consumer, l) == RD_KAFKA_RESP_ERR_NO_ERROR ? l->elems[0].offset : -1;
  rd_kafka_topic_partition_list_destroy(l);
  int64_t lo, hi;
  return *pos >= 0 && rd_kafka_get_watermark_offsets(k->consumer, p->topic, p->partition, &lo, &hi) == 0 &&
         hi > *pos;
}

static void on_woken(void *data);

/* Wakes p's leader if the broker had records past p's position and p was
 * not woken at this position before: once per position, so a record
 * librdkafka never hands out (a transaction marker at the end) costs one
 * wake, not a loop. False when no wake was sent. */
static bool wake_if_left(hl_kafka *k, part_state *p) {
  int64_t pos;
  if (k->wake.busy || !left_on_broker(k, p, &pos) || pos == p->woken_at) return false;
  p->woken_at = pos;
  hl_log_debug("kafka partition woken", "\"topic\":\"%s\",\"partition\":%d,\"position\":%lld", p->topic,
               p->partition, (long long)pos);
  return hl_kafka_wake_start(&k->wake, k->loop, p->topic, p->partition, on_woken, k);
}

/* Read while librdkafka had stopped fetching it (its queue at the mark):
 * woken once a quarter of the mark is left, so the next fetch comes while
 * the queue still holds records instead of after it ran empty. The mark
 * counts value bytes; the queue is counted in records, times their mean. */
static void watch_fill(hl_kafka *k, part_state *p) {
  double queued = (double)rd_kafka_queue_length(p->q) * p->avg_len, mark = HL_KAFKA_PART_QUEUE_KB * 1024.0;
  if (queued >= mark * 0.9) {
    p->full = true;
  } else if (p->full && queued <= mark / 4 && !k->wake.busy) {
    wake_if_left(k, p);
    p->full = false; /* woken, or nothing left to fetch, or woken at this position already */
  }
}

/* Wakes the leader of one partition that stayed empty for
 * HL_KAFKA_WAKE_MS with records left on the broker (a queue that ran empty
 * before watch_fill's wake, or whose wake did not bring them). The others
 * wait for the running wake; those of the same leader are usually fed by
 * it. */
static void on_wake_timer(uv_timer_t *t) {
  hl_kafka *k = t->data;
  if (k->closing || !k->consumer || k->wake.busy) return; /* a running wake checks again when it ends */
  int64_t now = (int64_t)uv_now(k->loop), next = INT64_MAX;
  for (size_t i = 0; i < k->nlive; i++) {
    part_state *p = k->live[i];
    if (!p->dry_since) continue;
    if (p->holds || p->paused || !p->q || rd_kafka_queue_length(p->q) > 0) {
      p->dry_since = 0; /* not read on purpose, or fed: serve reads it */
      continue;
    }
    if (now - p->dry_since < HL_KAFKA_WAKE_MS) {
      next = HL_MIN(next, p->dry_since + HL_KAFKA_WAKE_MS);
      continue;
    }
    p->dry_since = 0;
    if (wake_if_left(k, p)) return;
  }
  if (next != INT64_MAX) uv_timer_start(t, on_wake_timer, (uint64_t)(next - now), 0);
}

static void close_now(hl_kafka *k);

/* A close waits for the threadpool's jobs that use a handle (health checks,
 * a wake): the handles go once the last is back. */
static void close_if_idle(hl_kafka *k) {
  if (k->closing && k->checks == 0 && !k->wake.busy) close_now(k);
}

static void on_woken(void *data) {
  hl_kafka *k = data;
  if (k->closing) close_if_idle(k);
  else uv_timer_start(&k->wake_timer, on_wake_timer, 0, 0);
}

/* One turn: the consumer queue (rebalances, errors, and messages of any
 * partition not split off), then the unheld partitions' queues in turn, a
 * chunk each, up to HL_KAFKA_BATCH_MAX in all. Returns the number read;
 * HL_KAFKA_BATCH_MAX means more may be waiting. */
static int serve_consumer(hl_kafka *k) {
  if (!k->consumer_q || k->closing) return 0;
  int total = consume_from(k, k->consumer_q, NULL, HL_KAFKA_BATCH_MAX);
  bool more = true;
  while (more && total < HL_KAFKA_BATCH_MAX && !k->consume_stopped && !k->closing) {
    more = false;
    /* The list changes only at a rebalance, which runs from the consumer
     * queue above, never from a partition queue. */
    size_t n = k->nlive;
    for (size_t i = 0; i < n && total < HL_KAFKA_BATCH_MAX; i++) {
      part_state *p = k->live[(k->turn + i) % n];
      if (p->holds || !p->q) continue;
      int want = HL_MIN(PART_CHUNK, HL_KAFKA_BATCH_MAX - total);
      int got = consume_from(k, p->q, p, want);
      total += got;
      if (got == want) {
        more = true;
        if (!p->holds && !p->paused) watch_fill(k, p);
      } else if (!p->holds && !p->paused) {
        note_dry(k, p, got > 0);
      }
    }
    k->turn++; /* the next round starts one partition later: no partition always first */
  }
  return total;
}

/* --- SASL/OAUTHBEARER tokens ------------------------------------------------------------ */

/* librdkafka wants a principal name; the broker takes the identity from the
 * token (MSK: the signed request), so this is only what its logs show. */
#define TOKEN_PRINCIPAL "hookloop"

static void on_slot_token(void *data, int status, const char *token, int64_t expiry_ms, const char *info) {
  token_slot *t = data;
  hl_kafka *k = t->k;
  t->pending = false;
  t->req = NULL;
  char err[512] = "";
  if (status == 0) {
    rd_kafka_resp_err_t e =
        rd_kafka_oauthbearer_set_token(t->rk, token, expiry_ms, TOKEN_PRINCIPAL, NULL, 0, err, sizeof err);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
      hl_log_info("kafka SASL token set", "\"handle\":\"%s\",\"expires_in_s\":%lld", t->name,
                  (long long)((expiry_ms - hl_wall_ms()) / 1000));
      if (info) hl_log_debug("kafka SASL token", "\"handle\":\"%s\",\"expiry_ms\":%lld,%s", t->name,
                             (long long)expiry_ms, info);
      if (k->on_token) k->on_token(k->token_data, t->name, 0, token, expiry_ms, info);
      return;
    }
    status = HL_EINVAL;
    /* librdkafka checks the expiry and the token's characters; a reason
     * quoting the token would quote a signed credential. */
    char head[25];
    snprintf(head, sizeof head, "%s", token);
    if (strstr(err, head)) snprintf(err, sizeof err, "librdkafka refused the token's characters");
    info = err;
  }
  const char *why = info && *info ? info : "the token source failed";
  /* librdkafka keeps a token that still has life and asks again in 10 s. */
  rd_kafka_oauthbearer_set_token_failure(t->rk, why);
  hl_log_warn("kafka SASL token refresh failed", "\"handle\":\"%s\",\"error\":\"%s\"", t->name,
              hl_log_esc(why, (size_t)-1));
  if (k->on_token) k->on_token(k->token_data, t->name, status, NULL, 0, why);
}

/* librdkafka's token refresh callback: runs on the loop, from the SASL
 * queue served below. Never blocks: the source answers later if it must
 * fetch credentials first. */
static void on_token_refresh(rd_kafka_t *rk, const char *oauthbearer_config, void *opaque) {
  hl_kafka *k = opaque;
  (void)oauthbearer_config;
  token_slot *t = rk == k->producer ? &k->ptok : &k->ctok;
  if (t->pending || k->closing) return; /* one request at a time; librdkafka asks again */
  hl_kafka_token_source *src = k->sasl.tokens;
  t->pending = true;
  void *req = src->request(src, on_slot_token, t);
  if (t->pending) t->req = req;
}

static void token_slot_open(hl_kafka *k, token_slot *t, rd_kafka_t *rk, const char *name) {
  t->k = k;
  t->rk = rk;
  t->name = name;
  if (k->sasl.mech != HL_KAFKA_SASL_OAUTHBEARER) return;
  t->q = rd_kafka_queue_get_sasl(rk);
  if (t->q) wake_on(k, t->q);
}

static void token_slot_serve(token_slot *t) {
  if (t->q) rd_kafka_queue_poll_callback(t->q, 0);
}

static void token_slot_close(hl_kafka *k, token_slot *t) {
  if (t->pending && t->req) k->sasl.tokens->cancel(k->sasl.tokens, t->req);
  t->pending = false;
  t->req = NULL;
  if (t->q) {
    rd_kafka_queue_io_event_enable(t->q, -1, NULL, 0);
    rd_kafka_queue_destroy(t->q);
    t->q = NULL;
  }
}

static void on_more(uv_idle_t *h);

static void serve(hl_kafka *k) {
  token_slot_serve(&k->ptok);
  token_slot_serve(&k->ctok);
  if (k->producer) rd_kafka_poll(k->producer, 0);
  serve_admin(k);
  if (serve_consumer(k) == HL_KAFKA_BATCH_MAX && !uv_is_active((uv_handle_t *)&k->more)) {
    /* More may be waiting: continue next turn, after timers and sockets. */
    uv_idle_start(&k->more, on_more);
  }
}

static void on_more(uv_idle_t *h) {
  hl_kafka *k = h->data;
  uv_idle_stop(h);
  pending_cb *p = k->deferred;
  k->deferred = NULL;
  k->deferred_tail = &k->deferred;
  while (p) {
    pending_cb *next = p->next;
    if (p->cb) p->cb(p->data, p->status);
    hl_free(p);
    p = next;
  }
  serve(k);
}

static void on_pipe(uv_poll_t *h, int status, int events) {
  hl_kafka *k = h->data;
  (void)status; (void)events;
  char buf[256];
  while (read(k->pipefd[0], buf, sizeof buf) > 0) {}
  serve(k);
}

static void on_tick(uv_timer_t *t) { serve(t->data); }

/* Rewinds wait for this timer: one seek per partition for everything
 * released meanwhile, and a record whose handling keeps failing (a store
 * that does not answer) comes again twice a second at most, not in a loop. */
static void on_commit_timer(uv_timer_t *t) {
  hl_kafka *k = t->data;
  if (!k->consume_stopped) apply_rewinds(k);
  commit_parts(k, false);
}

/* --- public -------------------------------------------------------------------------------- */

const char *hl_kafka_sasl_mech_name(hl_kafka_sasl_mech m) {
  switch (m) {
    case HL_KAFKA_SASL_SCRAM_SHA_256: return "SCRAM-SHA-256";
    case HL_KAFKA_SASL_SCRAM_SHA_512: return "SCRAM-SHA-512";
    case HL_KAFKA_SASL_OAUTHBEARER: return "OAUTHBEARER";
    default: return "none";
  }
}

int hl_kafka_conf_security(const hl_kafka_config *cfg, rd_kafka_conf_t *c, char *err, size_t errlen) {
  const hl_kafka_sasl *sa = &cfg->sasl;
  const char *proto = cfg->security_protocol && *cfg->security_protocol ? cfg->security_protocol : "plaintext";
  /* MSK's SASL listeners (SCRAM 9096, IAM 9098) are TLS: a SASL mechanism
   * means sasl_ssl, so a password or token never crosses the network in
   * clear, unless sasl_plaintext is asked for by name (a local broker). */
  if (sa->mech != HL_KAFKA_SASL_NONE && strcasecmp(proto, "sasl_plaintext") != 0) proto = "sasl_ssl";
  const char *kv[][2] = {
    {"bootstrap.servers", cfg->brokers},
    {"security.protocol", proto},
    {"sasl.mechanisms", sa->mech != HL_KAFKA_SASL_NONE ? hl_kafka_sasl_mech_name(sa->mech) : NULL},
    {"sasl.username", sa->mech == HL_KAFKA_SASL_SCRAM_SHA_256 || sa->mech == HL_KAFKA_SASL_SCRAM_SHA_512 ? sa->username : NULL},
    {"sasl.password", sa->mech == HL_KAFKA_SASL_SCRAM_SHA_256 || sa->mech == HL_KAFKA_SASL_SCRAM_SHA_512 ? sa->password : NULL},
  };
  for (size_t i = 0; i < HL_ARRAY_SIZE(kv); i++)
    if (kv[i][1] && rd_kafka_conf_set(c, kv[i][0], kv[i][1], err, errlen) != RD_KAFKA_CONF_OK) return HL_EINVAL;
  if (sa->mech == HL_KAFKA_SASL_OAUTHBEARER) {
    if (!sa->tokens) {
      snprintf(err, errlen, "SASL/OAUTHBEARER needs a token source");
      return HL_EINVAL;
    }
    /* Refresh requests come on a queue of their own, served on the loop
     * (never on a librdkafka thread, and never held up behind messages). */
    rd_kafka_conf_enable_sasl_queue(c, 1);
  }
  return 0;
}

static rd_kafka_conf_t *base_conf(const hl_kafka_config *cfg, char *err, size_t errlen) {
  rd_kafka_conf_t *c = rd_kafka_conf_new();
  const char *kv[][2] = {
    {"client.id", cfg->client_id ? cfg->client_id : "hookloop"},
    {"log_level", "4"},
  };
  for (size_t i = 0; i < HL_ARRAY_SIZE(kv); i++)
    if (rd_kafka_conf_set(c, kv[i][0], kv[i][1], err, errlen) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(c);
      return NULL;
    }
  if (hl_kafka_conf_security(cfg, c, err, errlen) != 0) {
    rd_kafka_conf_destroy(c);
    return NULL;
  }
  if (cfg->sasl.mech == HL_KAFKA_SASL_OAUTHBEARER) rd_kafka_conf_set_oauthbearer_token_refresh_cb(c, on_token_refresh);
  /* librdkafka's own debug contexts, for diagnosing a cluster. */
  if (cfg->debug && *cfg->debug) rd_kafka_conf_set(c, "debug", cfg->debug, err, errlen);
  return c;
}

static void wake_on(hl_kafka *k, rd_kafka_queue_t *q) {
  rd_kafka_queue_io_event_enable(q, k->pipefd[1], "1", 1);
}

int hl_kafka_create(uv_loop_t *loop, const hl_kafka_config *cfg, hl_kafka **out, char *err, size_t errlen) {
  hl_kafka *k = hl_calloc(1, sizeof *k);
  k->loop = loop;
  k->deferred_tail = &k->deferred;
  k->on_fatal = cfg->on_fatal;
  k->fatal_data = cfg->fatal_data;
  k->sasl = cfg->sasl;
  k->on_token = cfg->on_token;
  k->token_data = cfg->token_data;
  hl_strmap_init(&k->parts);
  if (pipe2(k->pipefd, O_NONBLOCK | O_CLOEXEC) != 0) {
    snprintf(err, errlen, "pipe: %s", strerror(errno));
    hl_free(k);
    return HL_EIO;
  }
  rd_kafka_conf_t *pc = base_conf(cfg, err, errlen);
  if (!pc || rd_kafka_conf_set(pc, "acks", "all", err, errlen) != RD_KAFKA_CONF_OK ||
      rd_kafka_conf_set(pc, "enable.idempotence", "true", err, errlen) != RD_KAFKA_CONF_OK ||
      rd_kafka_conf_set(pc, "linger.ms", "2", err, errlen) != RD_KAFKA_CONF_OK)
    goto fail;
  {
    /* Bounded, so a producer waiting on the API gets an answer (503) in time. */
    char mt[32];
    snprintf(mt, sizeof mt, "%d", cfg->message_timeout_ms > 0 ? cfg->message_timeout_ms : HL_KAFKA_MESSAGE_TIMEOUT_MS);
    if (rd_kafka_conf_set(pc, "message.timeout.ms", mt, err, errlen) != RD_KAFKA_CONF_OK) goto fail;
  }
  {
    char mb[32];
    size_t mbn = sizeof mb;
    k->message_max = rd_kafka_conf_get(pc, "message.max.bytes", mb, &mbn) == RD_KAFKA_CONF_OK
                         ? (size_t)strtoull(mb, NULL, 10) : 1000000;
  }
  rd_kafka_conf_set_dr_msg_cb(pc, on_delivery);
  rd_kafka_conf_set_opaque(pc, k);
  k->producer = rd_kafka_new(RD_KAFKA_PRODUCER, pc, err, errlen);
  if (!k->producer) goto fail;
  token_slot_open(k, &k->ptok, k->producer, "producer");
  k->producer_q = rd_kafka_queue_get_main(k->producer);
  k->admin_q = rd_kafka_queue_new(k->producer);
  wake_on(k, k->producer_q);
  wake_on(k, k->admin_q);
  if (cfg->group_id) {
    rd_kafka_conf_t *cc = base_conf(cfg, err, errlen);
    if (!cc || rd_kafka_conf_set(cc, "group.id", cfg->group_id, err, errlen) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(cc, "enable.auto.commit", "false", err, errlen) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(cc, "enable.auto.offset.store", "false", err, errlen) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(cc, "auto.offset.reset", "earliest", err, errlen) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(cc, "topic.metadata.refresh.interval.ms", "2000", err, errlen) != RD_KAFKA_CONF_OK)
      goto fail;
    {
      /* Per partition, since every partition has a queue of its own. */
      char kb[32];
      snprintf(kb, sizeof kb, "%d", HL_KAFKA_PART_QUEUE_KB);
      if (rd_kafka_conf_set(cc, "queued.max.messages.kbytes", kb, err, errlen) != RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(cc);
        goto fail;
      }
    }
    if (cfg->session_timeout_ms > 0) {
      char v[32];
      snprintf(v, sizeof v, "%d", cfg->session_timeout_ms);
      rd_kafka_conf_set(cc, "session.timeout.ms", v, err, errlen);
    }
    if (cfg->group_instance_id && *cfg->group_instance_id &&
        rd_kafka_conf_set(cc, "group.instance.id", cfg->group_instance_id, err, errlen) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(cc);
      goto fail;
    }
    rd_kafka_conf_set_rebalance_cb(cc, on_rebalance);
    rd_kafka_conf_set_opaque(cc, k);
    k->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, cc, err, errlen);
    if (!k->consumer) goto fail;
    token_slot_open(k, &k->ctok, k->consumer, "consumer");
    rd_kafka_poll_set_consumer(k->consumer);
    k->consumer_q = rd_kafka_queue_get_consumer(k->consumer);
    wake_on(k, k->consumer_q);
  }
  uv_poll_init(loop, &k->poll, k->pipefd[0]);
  uv_timer_init(loop, &k->tick);
  uv_timer_init(loop, &k->commit_timer);
  uv_timer_init(loop, &k->wake_timer);
  uv_idle_init(loop, &k->more);
  k->poll.data = k->tick.data = k->commit_timer.data = k->wake_timer.data = k->more.data = k;
  hl_kafka_wake_init(&k->wake, k->consumer);
  uv_poll_start(&k->poll, UV_READABLE, on_pipe);
  uv_timer_start(&k->tick, on_tick, 100, 100);
  if (k->consumer) uv_timer_start(&k->commit_timer, on_commit_timer, 500, 500);
  *out = k;
  return 0;
fail:
  token_slot_close(k, &k->ctok);
  token_slot_close(k, &k->ptok);
  if (k->consumer_q) rd_kafka_queue_destroy(k->consumer_q);
  if (k->consumer) rd_kafka_destroy(k->consumer);
  if (k->admin_q) rd_kafka_queue_destroy(k->admin_q);
  if (k->producer_q) rd_kafka_queue_destroy(k->producer_q);
  if (k->producer) rd_kafka_destroy(k->producer);
  close(k->pipefd[0]);
  close(k->pipefd[1]);
  hl_strmap_dispose(&k->parts);
  hl_free(k);
  return HL_EINVAL;
}

int hl_kafka_subscribe(hl_kafka *k, const char *const *topics, size_t n, hl_kafka_msg_cb on_msg,
                       hl_kafka_revoke_cb on_revoke, void *data) {
  if (!k->consumer) return HL_EINVAL;
  k->on_msg = on_msg;
  k->on_revoke = on_revoke;
  k->data = data;
  rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new((int)n);
  for (size_t i = 0; i < n; i++) rd_kafka_topic_partition_list_add(list, topics[i], RD_KAFKA_PARTITION_UA);
  rd_kafka_resp_err_t e = rd_kafka_subscribe(k->consumer, list);
  rd_kafka_topic_partition_list_destroy(list);
  if (e) {
    hl_log_error("kafka subscribe failed", "\"error\":\"%s\"", rd_kafka_err2str(e));
    return map_err(e);
  }
  return 0;
}

void hl_kafka_done(hl_kafka *k, hl_kafka_msg *m) {
  part_state *p = m->part;
  /* A message of an earlier assignment no longer counts: its partition was
   * revoked and will be consumed again from the committed offset. */
  if (p && p->generation == m->generation) {
    hl_kafka_offsets_done(&p->off, m->offset);
    if (m->offset == p->stuck_at) { /* it went through: no back-off for the next one */
      p->stuck_at = -1;
      p->stuck_streak = 0;
    }
  }
  (void)k;
  rd_kafka_message_destroy(m->rkm);
  hl_free(m);
}

void hl_kafka_release(hl_kafka *k, hl_kafka_msg *m) {
  part_state *p = m->part;
  /* Still ours: consume it again (a dropped delivery of a replaced
   * subscription, a retry record not yet due, a failed dead-letter
   * produce). Otherwise whoever consumes the partition next gets it from
   * the committed offset, which is not past it. */
  if (p && p->generation == m->generation && p->assigned && !k->consume_stopped && !k->closing) {
    hl_kafka_offsets_release(&p->off, m->offset);
    if (p->rewind < 0 || m->offset < p->rewind) p->rewind = m->offset;
    k->rewinds = true; /* applied by the commit timer */
  }
  rd_kafka_message_destroy(m->rkm);
  hl_free(m);
}

void hl_kafka_consume_stop(hl_kafka *k) { k->consume_stopped = true; }

const void *hl_kafka_msg_header(const hl_kafka_msg *m, const char *name, size_t *len) {
  rd_kafka_headers_t *h = NULL;
  if (rd_kafka_message_headers(m->rkm, &h) != RD_KAFKA_RESP_ERR_NO_ERROR || !h) return NULL;
  const void *v = NULL;
  size_t n = 0;
  if (rd_kafka_header_get_last(h, name, &v, &n) != RD_KAFKA_RESP_ERR_NO_ERROR) return NULL;
  if (len) *len = n;
  return v;
}

size_t hl_kafka_msg_headers(const hl_kafka_msg *m, hl_kafka_header *out, size_t cap) {
  rd_kafka_headers_t *h = NULL;
  if (rd_kafka_message_headers(m->rkm, &h) != RD_KAFKA_RESP_ERR_NO_ERROR || !h) return 0;
  size_t n = 0;
  const char *name;
  const void *v;
  size_t len;
  while (rd_kafka_header_get_all(h, n, &name, &v, &len) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    if (n < cap) out[n] = (hl_kafka_header){name, v, len};
    n++;
  }
  return n;
}

static void on_more_deferred(hl_kafka *k) {
  if (k->closing) return;
  if (!uv_is_active((uv_handle_t *)&k->more)) uv_idle_start(&k->more, on_more);
}

void hl_kafka_produce(hl_kafka *k, const char *topic, const void *key, size_t key_len, const void *value,
                      size_t len, const hl_kafka_header *headers, size_t nheaders, hl_kafka_done_cb cb,
                      void *data) {
  dr_ctx *c = hl_malloc(sizeof *c);
  *c = (dr_ctx){cb, data, NULL, NULL};
  rd_kafka_headers_t *h = NULL;
  if (nheaders) {
    h = rd_kafka_headers_new(nheaders);
    for (size_t i = 0; i < nheaders; i++)
      rd_kafka_header_add(h, headers[i].name, -1, headers[i].value, (ssize_t)headers[i].len);
  }
  rd_kafka_resp_err_t e;
  if (h)
    e = rd_kafka_producev(k->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key_len),
                          RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                          RD_KAFKA_V_OPAQUE(c), RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
  else
    e = rd_kafka_producev(k->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key_len),
                          RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                          RD_KAFKA_V_OPAQUE(c), RD_KAFKA_V_END);
  if (e) {
    if (h) rd_kafka_headers_destroy(h);
    hl_free(c);
    hl_log_warn("kafka produce refused", "\"topic\":\"%s\",\"error\":\"%s\"", topic, rd_kafka_err2str(e));
    defer(k, cb, data, map_err(e));
    on_more_deferred(k);
    return;
  }
  k->outstanding++;
}

size_t hl_kafka_outstanding(const hl_kafka *k) { return k->outstanding; }

size_t hl_kafka_message_max(const hl_kafka *k) { return k->message_max; }

size_t hl_kafka_prefetched(hl_kafka *k, const char *topic, int32_t partition) {
  part_state *p = k->consumer ? part_get(k, topic, partition, false) : NULL;
  return p && p->q ? rd_kafka_queue_length(p->q) : 0;
}

uint64_t hl_kafka_fetch_wakes(const hl_kafka *k) { return k->wake.sent; }

static void set_paused(hl_kafka *k, const char *topic, int32_t partition, bool pause) {
  if (!k->consumer) return;
  part_state *p = part_get(k, topic, partition, true);
  if (p->paused == pause) return;
  p->paused = pause;
  /* Resuming means "read it now": from the record handed back while it
   * waited (a retry not yet due), not half a second later. */
  if (!pause && !k->consume_stopped && !k->closing) rewind_part(k, p);
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(l, topic, partition);
  if (pause) rd_kafka_pause_partitions(k->consumer, l);
  else rd_kafka_resume_partitions(k->consumer, l);
  rd_kafka_topic_partition_list_destroy(l);
}

void hl_kafka_pause(hl_kafka *k, const char *topic, int32_t partition) { set_paused(k, topic, partition, true); }
void hl_kafka_resume(hl_kafka *k, const char *topic, int32_t partition) { set_paused(k, topic, partition, false); }

void hl_kafka_hold(hl_kafka *k, const char *topic, int32_t partition) {
  if (!k->consumer) return;
  part_get(k, topic, partition, true)->holds++;
}

void hl_kafka_unhold(hl_kafka *k, const char *topic, int32_t partition) {
  part_state *p = k->consumer ? part_get(k, topic, partition, false) : NULL;
  if (!p || p->holds == 0) return; /* holds ended with the assignment */
  /* Its queue may hold messages and will not signal again: read it next turn. */
  if (--p->holds == 0) on_more_deferred(k);
}

void hl_kafka_ensure_topic(hl_kafka *k, const char *topic, int partitions, hl_kafka_done_cb cb, void *data) {
  char err[256];
  rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, partitions, -1, err, sizeof err);
  if (!nt) {
    defer(k, cb, data, HL_EINVAL);
    on_more_deferred(k);
    return;
  }
  dr_ctx *c = hl_malloc(sizeof *c);
  *c = (dr_ctx){cb, data, NULL, k->admin_pending};
  if (k->admin_pending) k->admin_pending->prev = c;
  k->admin_pending = c;
  rd_kafka_AdminOptions_t *o = rd_kafka_AdminOptions_new(k->producer, RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_AdminOptions_set_opaque(o, c);
  rd_kafka_AdminOptions_set_request_timeout(o, 5000, err, sizeof err);
  rd_kafka_CreateTopics(k->producer, &nt, 1, o, k->admin_q);
  rd_kafka_AdminOptions_destroy(o);
  rd_kafka_NewTopic_destroy(nt);
}

void hl_kafka_commit(hl_kafka *k) { commit_parts(k, false); }

static void on_closed(uv_handle_t *h) {
  hl_kafka *k = h->data;
  if (--k->closing_handles > 0) return;
  close(k->pipefd[0]);
  close(k->pipefd[1]);
  hl_free_then_call(k, k->close_cb, k->close_data);
}

/* --- health ------------------------------------------------------------------------------- */

typedef struct {
  uv_work_t work;
  hl_kafka *k;
  int timeout_ms;
  rd_kafka_resp_err_t err;  /* of the metadata request */
  int brokers;
  hl_kafka_check_cb cb;
  void *data;
} check_work;

/* On the threadpool: librdkafka's handles may be used from any thread. */
static void check_run(uv_work_t *w) {
  check_work *c = hl_container_of(w, check_work, work);
  const struct rd_kafka_metadata *md = NULL;
  c->err = rd_kafka_metadata(c->k->producer, 0, NULL, &md, c->timeout_ms);
  if (c->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    c->brokers = md->broker_cnt;
    rd_kafka_metadata_destroy(md);
  }
}

static void check_after(uv_work_t *w, int status) {
  check_work *c = hl_container_of(w, check_work, work);
  hl_kafka *k = c->k;
  char why[256] = "";
  int rc = 0;
  if (status != 0 || k->closing) {
    rc = HL_ECANCELED;
    snprintf(why, sizeof why, "closing");
  } else if (c->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    rc = map_err(c->err);
    snprintf(why, sizeof why, "no broker answered a metadata request (%s; waited up to %d ms)",
             rd_kafka_err2str(c->err), c->timeout_ms);
  } else if (c->brokers == 0) {
    rc = HL_EIO;
    snprintf(why, sizeof why, "the cluster's metadata lists no broker");
  }
  if (c->cb) c->cb(c->data, rc, why);
  hl_free(c);
  k->checks--;
  close_if_idle(k);
}

void hl_kafka_check(hl_kafka *k, int timeout_ms, hl_kafka_check_cb cb, void *data) {
  check_work *c = hl_calloc(1, sizeof *c);
  *c = (check_work){.k = k, .timeout_ms = timeout_ms, .cb = cb, .data = data};
  k->checks++;
  uv_queue_work(k->loop, &c->work, check_run, check_after); /* fails only without a work callback */
}

void hl_kafka_close(hl_kafka *k, void (*cb)(void *data), void *data) {
  k->closing = true;
  k->close_cb = cb;
  k->close_data = data;
  /* A health check or a wake on the threadpool still uses a handle: both
   * give up within their timeouts. */
  close_if_idle(k);
}

static void close_now(hl_kafka *k) {
  /* No token is asked for or set from here on: a request still waiting on
   * credentials is withdrawn before its handle goes. */
  token_slot_close(k, &k->ctok);
  token_slot_close(k, &k->ptok);
  if (k->consumer) {
    commit_parts(k, true);
    rd_kafka_queue_destroy(k->consumer_q);
    k->consumer_q = NULL;
    rd_kafka_consumer_close(k->consumer); /* leaves the group: bounded by librdkafka */
    /* Queue handles keep the consumer alive: drop those the revoke did not. */
    while (k->nlive) part_join(k, k->live[k->nlive - 1]);
    rd_kafka_destroy(k->consumer);
    k->consumer = NULL;
  }
  if (k->producer) {
    rd_kafka_flush(k->producer, 5000); /* shutdown only: give acks a last chance */
    rd_kafka_poll(k->producer, 0);
    serve_admin(k);
    rd_kafka_queue_destroy(k->admin_q);
    rd_kafka_queue_destroy(k->producer_q);
    rd_kafka_destroy(k->producer);
    k->producer = NULL;
  }
  pending_cb *p = k->deferred;
  while (p) {
    pending_cb *next = p->next;
    if (p->cb) p->cb(p->data, HL_ECANCELED);
    hl_free(p);
    p = next;
  }
  k->deferred = NULL;
  /* Admin requests still unanswered when the handle went away. */
  while (k->admin_pending) {
    dr_ctx *c = k->admin_pending;
    k->admin_pending = c->next;
    if (c->cb) c->cb(c->data, HL_ECANCELED);
    hl_free(c);
  }
  size_t it = 0;
  void *v;
  while (hl_strmap_next(&k->parts, &it, NULL, &v)) {
    part_state *ps = v;
    hl_kafka_offsets_dispose(&ps->off);
    hl_free(ps->topic);
    hl_free(ps);
  }
  hl_strmap_dispose(&k->parts);
  hl_free(k->live);
  k->live = NULL;
  k->closing_handles = 5;
  uv_close((uv_handle_t *)&k->poll, on_closed);
  uv_close((uv_handle_t *)&k->tick, on_closed);
  uv_close((uv_handle_t *)&k->commit_timer, on_closed);
  uv_close((uv_handle_t *)&k->wake_timer, on_closed);
  uv_close((uv_handle_t *)&k->more, on_closed);
}
