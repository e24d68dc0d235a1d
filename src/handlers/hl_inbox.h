/* hl_inbox.h — the inbox source (issue 18, docs/inbox.md): one pass pulls
 * the pending events of an HTTP inbox, delivers them through the
 * dispatcher and acknowledges each one delivered.
 *
 *   IDLE --pass--> PULLING --pull ended--> FINISHING --last delivery left--> IDLE
 *
 * The source is an intake feeding the dispatcher over the queue seam: it
 * owns a dispatcher (handlers/hl_dispatch: signing, SSRF guard, in-flight
 * limits, retry timers) whose queue is the inbox (queue/hl_queue_inbox:
 * the ack is the durable record), and a registry holding one subscription,
 * the secret's zapier_webhook_url. Each event becomes one delivery whose
 * webhook-id is the inbox's event id, so a later pass that delivers an
 * event again (its ack failed) sends the same webhook-id and the partner
 * de-duplicates it. The payload is sent as the inbox served it, byte for
 * byte.
 *
 * Every fetched event ends in one of three states: delivered and
 * acknowledged; left pending after a 4xx (logged with its id, for review);
 * or left pending after its retries ran out (or a failed ack, or the pass's
 * stop time). Retries wait in memory on the schedule (default 1s,2s,4s, no
 * wait over 60 s). A pass stops taking new work at its stop time (the Lambda
 * deadline less a margin): what is not yet delivered is left pending and
 * reported.
 *
 * Ownership: the source copies its options; the store (the dispatcher's
 * idempotency ledger) and curl are borrowed and must outlive it.
 */
#ifndef HL_INBOX_H
#define HL_INBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "handlers/hl_dispatch.h"
#include "loop/hl_inbox_client.h"
#include "loop/hl_inbox_conf.h"
#include "obs/hl_metrics.h"

typedef struct {
  const hl_inbox_settings *set;   /* the inbox's settings (copied) */
  bool allow_private_targets;     /* HOOKLOOP_ALLOW_PRIVATE_TARGETS */
  unsigned max_in_flight;         /* concurrent deliveries; 0: 256 */
  long timeout_ms;                /* per delivery attempt; 0: 30000 */
  /* The default signing secret (WEBHOOK_SECRET_ARN) for a secret without
   * webhook_secret; NULL: none. */
  const char *(*default_secret)(void *data);
  void *default_secret_data;
} hl_inbox_source_options;

/* What one pass did. Every fetched event is counted once in delivered
 * (acknowledged or not), failed_4xx, failed_other, exhausted or left. */
typedef struct {
  int status;               /* 0, or the pull's / the secret's error (what was fetched is still handled) */
  char error[320];          /* why, naming no secret */
  size_t fetched;           /* events handed over by the inbox */
  size_t delivered;         /* the partner took them (2xx) */
  size_t acked;             /* of those, acknowledged */
  size_t ack_failed;        /* delivered, but the ack failed: pending, not delivered again this pass */
  size_t failed_4xx;        /* a 4xx answer: left pending for review */
  size_t failed_other;      /* failed at once on what no retry changes (a 3xx, a TLS fault...): left pending */
  size_t exhausted;         /* retries ran out (408, 429, 5xx, no answer to the end): left pending */
  size_t left;              /* not finished when the pass stopped taking work: left pending */
  size_t skipped;           /* unusable events the inbox served (no id or payload): left pending */
  size_t retries;           /* attempts that ended in a scheduled retry */
  bool stopped_early;       /* the stop time came first */
} hl_inbox_pass_report;

typedef void (*hl_inbox_pass_cb)(void *data, const hl_inbox_pass_report *r);

typedef enum { HL_INBOX_IDLE, HL_INBOX_PULLING, HL_INBOX_FINISHING, HL_INBOX_CLOSED } hl_inbox_state;

typedef struct {
  hl_inbox_state state;
  uv_loop_t *loop;
  hl_curl_uv *curl;
  hl_store *store;
  hl_inbox_source_options opt;
  hl_inbox_settings set;          /* owned copy */
  hl_retry_schedule *schedule;    /* parsed INBOX_RETRY_SCHEDULE, kept for each subscription put */
  hl_registry reg;                /* one subscription: the target */
  hl_sub *sub;                    /* the registry's */
  hl_dispatch dispatch;
  hl_queue *queue;                /* hl_queue_inbox */
  hl_inbox_client *client;        /* for the secret in use (replaced when it changes) */
  char *secret_text;              /* the SecretString the client and the subscription were made from */
  /* The pass. */
  hl_inbox_pass_report rep;
  size_t outstanding;             /* deliveries handed to the dispatcher, not yet finished */
  bool stop_taking;
  uv_timer_t stop_timer;
  hl_inbox_pass_cb done;
  void *done_data;
  /* Counters since start (Prometheus) and since the last EMF line. */
  hl_metrics m, m_sent;
  uint64_t passes, acks_ok, acks_failed, left_4xx, left_other, left_exhausted, left_stopped;
  int closing;
  void (*close_cb)(void *data);
  void *close_data;
} hl_inbox_source;

/* Returns 0, or HL_EINVAL with one line in err naming the variable
 * (INBOX_RETRY_SCHEDULE). */
int hl_inbox_source_init(hl_inbox_source *src, uv_loop_t *loop, hl_curl_uv *curl, hl_store *store,
                         const hl_inbox_source_options *opt, char *err, size_t errlen);
/* Runs one pass with the credentials of secret_text (SECRET_ARN's
 * SecretString; copied). stop_at_ms: the wall clock (ms) at which the pass
 * stops taking work, 0: never. done runs once, on a later loop turn.
 * Returns HL_EBUSY (a pass is running) without calling done. */
int hl_inbox_source_pass(hl_inbox_source *src, const char *secret_text, int64_t stop_at_ms, hl_inbox_pass_cb done,
                         void *data);
bool hl_inbox_source_busy(const hl_inbox_source *src);
/* Prometheus counters (hookloop_inbox_*), since start. */
void hl_inbox_source_render_prometheus(const hl_inbox_source *src, hl_buf *out);
/* One CloudWatch EMF line (namespace hookloop/inbox) with the seed's five
 * metrics since the last line. */
void hl_inbox_source_render_emf(hl_inbox_source *src, int64_t timestamp_ms, hl_buf *out);
/* Ends a running pass (unacknowledged events stay pending in the inbox),
 * closes everything; cb runs once closed. */
void hl_inbox_source_close(hl_inbox_source *src, void (*cb)(void *data), void *data);

#endif
