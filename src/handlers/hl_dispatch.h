/* hl_dispatch.h — the webhook dispatcher: one state machine per delivery
 * (an event going to one subscription), all on the loop.
 *
 *   new, or its retry due
 *      |
 *      +--> LEDGER --not yet delivered--> WAITING --a slot--> SENDING --answer--> RECORDING
 *             |                                                                     |
 *             +--already delivered (duplicate)--> RECORDING                         |
 *      +<-------------------- RETRY_WAIT <--retryable, due soon---------------------+
 *                                                         terminal / released --> DONE
 *
 * LEDGER checks whether the delivery was delivered before (Kafka, the
 * DynamoDB queue and Lambda, where an item can come again after it was
 * delivered), before the delivery takes an in-flight slot: a slot is a
 * request at the partner, and the check waits for the store. An ordered
 * subscription checks under its one slot instead (WAITING --a slot-->
 * LEDGER --> SENDING), its wait queue being the order of delivery. The
 * embedded queue has no check (new --> WAITING). SENDING applies the transformations
 * registered for the event type and the subscription (hl_xform_reg.h; an
 * event they do not fit fails without an attempt; a body over
 * HL_EVENT_INLINE_BYTES is shaped on the threadpool, and a close waits for
 * that) and hands the attempt to
 * the sender (hl_sender.h; by default hl_sender_http: signed with Standard
 * Webhooks over the bytes sent and POSTed through curl multi); RECORDING writes the
 * outcome durably (status row, ledger on success) before anything else
 * happens to the delivery. Retryable failures wait on the timer heap when
 * due within release_after_ms, otherwise they go back to the store
 * (unclaimed, due later) and leave memory.
 *
 * Intake: deliveries come from the embedded queue (the store's eq_claim),
 * per subscription, bounded by the subscription's memory share and the
 * global limits; a slow partner fills only its own share.
 *
 * Ordered ("fifo") subscriptions: one in flight. On a pull queue the head
 * alone is claimed (claim_head); on a push queue (Kafka) records are
 * handed in in partition order and wait in that order, and the head is
 * kept in memory across its retries (RETRY_WAIT, whatever the delay; the
 * queue only writes its status) while nothing behind it starts.
 */
#ifndef HL_DISPATCH_H
#define HL_DISPATCH_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "common/hl_strmap.h"
#include "common/hl_spare.h"
#include "handlers/hl_attempt_log.h"
#include "handlers/hl_hosts.h"
#include "handlers/hl_sender.h"
#include "handlers/hl_sender_http.h"
#include "model/hl_registry.h"
#include "queue/hl_queue.h"
#include "loop/hl_curl_uv.h"
#include "loop/hl_timerq.h"
#include "store/hl_store.h"

typedef enum {
  HL_OUTCOME_SUCCESS,     /* 2xx */
  HL_OUTCOME_DUPLICATE,   /* the ledger says it was delivered already; not sent */
  HL_OUTCOME_RETRY,       /* retryable failure, another attempt is scheduled */
  HL_OUTCOME_FAILED       /* permanent failure or retries exhausted */
} hl_outcome;

typedef struct {
  hl_outcome outcome;
  const char *event_id;
  const char *subscription_id;
  int attempt;            /* 1-based number of the attempt just made */
  long status_code;       /* 0 when no HTTP answer */
  double latency_s;       /* of this attempt */
  double since_accept_s;  /* accepted -> this outcome */
  const char *error;      /* NULL on success */
  bool exhausted;         /* FAILED because the schedule ran out: the
                             sender's verdict was "retry" */
} hl_outcome_info;

typedef struct {
  unsigned max_in_flight;        /* HOOKLOOP_MAX_IN_FLIGHT */
  unsigned default_sub_in_flight;/* when a subscription gives none: 256 */
  long default_timeout_ms;       /* when a subscription gives none: 30000 */
  bool allow_private_targets;    /* HOOKLOOP_ALLOW_PRIVATE_TARGETS */
  hl_sender_tls tls;             /* HOOKLOOP_TLS_MIN, HOOKLOOP_CA_FILE (the webhook sender's) */
  uint64_t release_after_ms;     /* retries due later than this leave memory: 60000 */
  int64_t ledger_ttl_s;          /* idempotency ledger entry lifetime: 7 days */
  hl_retry_schedule *default_schedule; /* borrowed */
  /* The longest wait before a retry, a partner's Retry-After included;
   * 0: no cap beyond the schedule's (Retry-After: an hour). The inbox
   * source keeps every retry within 60 s. */
  uint64_t max_retry_delay_ms;
  /* Called on the loop for every attempt's outcome (metrics, logs). */
  void (*on_outcome)(void *data, const hl_outcome_info *info);
  void *outcome_data;
  /* How often the per-subscription "deliveries" summary line goes out at
   * info (handlers/hl_outcome_log.h); 0: every second. */
  uint64_t log_interval_ms;
  /* Where deliveries come from and outcomes go (borrowed, hl_queue.h);
   * NULL: the embedded queue over the store (owned). Kafka and Lambda pass
   * a Kafka queue and hand deliveries in with hl_dispatch_submit. */
  hl_queue *queue;
  /* The default secret (WEBHOOK_SECRET_ARN) for subscriptions without one of
   * their own, as it is now (it may rotate); NULL: there is none. */
  const char *(*default_secret)(void *data);
  void *default_secret_data;
  /* Where attempts go (taken: closed with the dispatcher); NULL: the
   * webhook sender over curl (hl_sender_http). */
  hl_sender *sender;
  /* Partner Info enrichment (handlers/hl_pinfo.h; borrowed, must outlive
   * the dispatcher); NULL: none. */
  struct hl_pinfo *pinfo;
  /* Circuit breaker per subscription: open after this many failed attempts
   * in a row (0: no breaker), one probe after breaker_open_ms. */
  unsigned breaker_failures;
  uint64_t breaker_open_ms;
  /* ... and, besides, when breaker_failure_pct % of at least
   * breaker_window_min attempts in the last breaker_window_ms failed (0 pct:
   * no rate rule). The same breaker runs per destination host too (over
   * the attempts of every subscription delivering there; hl_hosts.h). */
  uint64_t breaker_window_ms;
  unsigned breaker_window_min;
  unsigned breaker_failure_pct;
  /* Adaptive concurrency per destination host (AIMD, model/hl_aimd.h);
   * aimd_latency_factor: smoothed latency over this x the baseline cuts
   * (0: 2). */
  bool adaptive_concurrency;
  double aimd_latency_factor;
  /* Auto-disable: after this many failed attempts in a row (0: never), no
   * more attempts start and on_sub_disabled is called once; whoever listens
   * records the subscription DISABLED (hl_registry_sub_status), and its
   * deliveries wait in the queue until it is enabled again. */
  unsigned disable_after_failures;
  void (*on_sub_disabled)(void *data, hl_sub *s);
  void *disabled_data;
  /* Push queues, ordered ("fifo") subscriptions: called once a head's
   * retry is kept in memory (RETRY_WAIT, its status durable), with the
   * reader's token and the row as recorded (attempts, next_attempt_at).
   * Lambda remembers there where the head stands, for a batch it hands
   * back; the hook may drop the head (hl_dispatch_drop_ordered). NULL: none. */
  void (*on_kept)(void *data, void *token, const hl_delivery_rec *d);
  void *kept_data;
} hl_dispatch_options;

typedef struct {
  uv_loop_t *loop;
  hl_curl_uv *curl;
  hl_store *store;
  hl_registry *reg;
  hl_dispatch_options opt;
  hl_timerq timers;
  struct hl_outcome_log *olog; /* owned: the attempts' log lines (handlers/hl_outcome_log.h) */
  uv_idle_t pump;           /* runs claims on the next turn */
  hl_sub *dirty;            /* subscriptions that may have due deliveries */
  hl_sub *blocked_head, *blocked_tail; /* waiting for a global in-flight slot, FIFO */
  unsigned in_flight;       /* HTTP requests running */
  unsigned in_memory;       /* deliveries held */
  unsigned busy;            /* deliveries in LEDGER, SENDING or RECORDING */
  unsigned claims;          /* claims the queue has not answered: close waits for them */
  /* Deliveries' bytes made by transformations or the Partner Info merge,
   * on the loop (a body up to HL_EVENT_INLINE_BYTES) and on the threadpool
   * (a larger one): hookloop_delivery_shapings_total{where}. */
  uint64_t shaped_loop, shaped_threadpool;
  bool stopping;
  bool closing;
  bool paused;              /* hl_dispatch_pause: no claims, nothing waits for a slot */
  hl_delivery *all;         /* every delivery held, for shutdown */
  /* Queues that may bring a delivery twice (Kafka): the ledger key of each
   * delivery whose duplicate check or attempt is under way -> that
   * delivery. A copy arriving meanwhile waits for it (COPY_WAIT), then is
   * checked: two copies read "not delivered" at once and both were sent. */
  hl_strmap live;
  hl_spare spare;           /* freed deliveries kept for reuse */
  hl_sender *sender;        /* owned; carries each attempt */
  hl_hosts hosts;           /* destination hosts: breaker and AIMD shared by their subscriptions */
  hl_attempt_log_scratch alog; /* the attempt log's buffers, reused by every attempt */
  hl_queue *queue;          /* see hl_dispatch_options.queue */
  bool owns_queue;
  int closing_handles;
  void (*close_cb)(void *data);
  void *close_data;
} hl_dispatch;

/* Listens to reg (subscriptions added and removed) and to the queue (new
 * due items) from here until hl_dispatch_close. */
void hl_dispatch_init(hl_dispatch *d, uv_loop_t *loop, hl_curl_uv *curl, hl_store *store,
                      hl_registry *reg, const hl_dispatch_options *opt);
/* The store may hold due deliveries for s (after an accept or a requeue). */
void hl_dispatch_notify(hl_dispatch *d, hl_sub *s);
/* A subscription's in-flight limit: its max_in_flight, or the default. */
unsigned hl_dispatch_sub_limit(const hl_dispatch *d, const hl_sub *s);
/* Followers held in memory behind an ordered ("fifo") subscription's head
 * on a push queue (Kafka): past this its partition is held (not read) until
 * they drained; the rest wait on Kafka, uncommitted. */
#define HL_DISPATCH_FIFO_HELD 256
/* Deliveries beyond its limit that a subscription may hold in memory at
 * least, whatever its limit, where no other process could take them (a
 * push queue's; hl_queue.alone): see hl_dispatch_sub_memory_cap. */
#define HL_DISPATCH_AHEAD_MIN 64
/* How many of its deliveries may be in memory, in flight or ready to go
 * (claimed from the queue, or read from Kafka): the limit plus as many
 * again (twice as many on a pull queue no other process shares: the
 * embedded queue), at most 512 more, and at least HL_DISPATCH_AHEAD_MIN more where
 * no other process could take them; an ordered subscription's head alone on a
 * pull queue, HL_DISPATCH_FIFO_HELD on a push queue. Feeds stop there. */
unsigned hl_dispatch_sub_memory_cap(const hl_dispatch *d, const hl_sub *s);
/* Deliveries of s held in memory: waiting, running, retry timers. */
unsigned hl_dispatch_sub_in_memory(const hl_sub *s);
/* The destination host of s (its breaker, its AIMD state); NULL when s
 * never reached the dispatcher. */
hl_host *hl_dispatch_sub_host(const hl_sub *s);
/* Every subscription may (at start). */
void hl_dispatch_notify_all(hl_dispatch *d);
/* wait false: a retry of s (an attempt running now that fails) goes back
 * to the queue at once instead of waiting here for its delay: the inbox's
 * pass past its stop time lets it go pending. true again: as before. */
void hl_dispatch_sub_retry_wait(hl_dispatch *d, hl_sub *s, bool wait);
/* A subscription left the registry: drop its waiting deliveries (their rows
 * stay in the store) and its timers. Running ones finish. */
void hl_dispatch_sub_removed(hl_dispatch *d, hl_sub *s);
/* Push queues: a delivery for s (the item is taken; token is the reader's,
 * handed back in the queue's finished). */
void hl_dispatch_submit(hl_dispatch *d, hl_sub *s, hl_eq_item *item, void *token);
/* The same, but item->body is borrowed from token (the Kafka message it
 * was read from: hl_record_item_borrowed), not owned: the delivery reads it
 * while it runs and lets go of it, without freeing it, before the queue's
 * finished(token) hands the token back. Saves a copy of every record. */
void hl_dispatch_submit_borrowed(hl_dispatch *d, hl_sub *s, hl_eq_item *item, void *token);

/* Push queues, ordered ("fifo") subscriptions: the deliveries whose token
 * gone() says is no longer this process's (its Kafka partition was
 * revoked) and that are not running (waiting, or a head waiting for its
 * retry) leave memory unrecorded. The partition's next owner, maybe this
 * process again, reads them from the committed offset, in order; kept,
 * they would be sent beside that re-read, a skipped head after its
 * followers. Running ones finish (the ledger stops a second send). */
void hl_dispatch_drop_ordered(hl_dispatch *d, bool (*gone)(void *data, void *token), void *data);

/* Appends the subscriptions' delivery state as Prometheus gauges:
 * hookloop_subscriptions_disabled, hookloop_subscription_breakers{state},
 * hookloop_host_breakers{state}, and with adaptive concurrency
 * hookloop_host_concurrency_limit{host} and hookloop_host_concurrency_cuts_total{host}. */
void hl_dispatch_render_metrics(const hl_dispatch *d, hl_buf *out);

/* Stops starting new attempts (shutdown); running ones finish. On a queue
 * with release_at_stop, what waits here for a slot or a retry is released,
 * as is what a claim still running brings; the caller's drain waits for
 * those calls (hl_queue_ddb_calls). */
void hl_dispatch_stop(hl_dispatch *d);
/* Lambda's hand-off point, where the sandbox may be frozen until its next
 * invocation: claims wait, and on a pull queue what waits here for a slot
 * (now, or brought by a claim still running) is released, so that another
 * process claims it at once rather than when its lease ends. Attempts
 * already running finish. resume: claims go on (those asked for meanwhile
 * first). Both do nothing on a queue without release. */
void hl_dispatch_pause(hl_dispatch *d);
void hl_dispatch_resume(hl_dispatch *d);
/* True when nothing is in LEDGER, SENDING or RECORDING. */
bool hl_dispatch_quiet(const hl_dispatch *d);
/* Aborts running HTTP requests (their rows stay claimed in the store and are
 * delivered again after a restart, with the same webhook-id), frees every
 * delivery and closes the handles; cb runs once closed. */
void hl_dispatch_close(hl_dispatch *d, void (*cb)(void *data), void *data);

#endif
