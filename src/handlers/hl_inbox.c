#include "handlers/hl_inbox.h"
#include "common/hl_common.h"
#include "common/hl_log.h"
#include "loop/hl_target_url.h"
#include "model/hl_retry.h"
#include "queue/hl_queue_inbox.h"

#include <stdlib.h>
#include <string.h>

#define INBOX_SUB_ID "inbox" /* the one subscription: the delivery status key and the ledger's */

static const char *state_name[] = {"IDLE", "PULLING", "FINISHING", "CLOSED"};

/* The one place the source changes state; illegal moves are bugs. */
static void transition(hl_inbox_source *src, hl_inbox_state to) {
  static const unsigned allowed[] = {
    [HL_INBOX_IDLE] = 1u << HL_INBOX_PULLING | 1u << HL_INBOX_CLOSED,
    [HL_INBOX_PULLING] = 1u << HL_INBOX_FINISHING | 1u << HL_INBOX_CLOSED,
    [HL_INBOX_FINISHING] = 1u << HL_INBOX_IDLE | 1u << HL_INBOX_CLOSED,
    [HL_INBOX_CLOSED] = 0,
  };
  if (!(allowed[src->state] & (1u << to))) {
    hl_log_error("illegal inbox transition", "\"from\":\"%s\",\"to\":\"%s\"", state_name[src->state],
                 state_name[to]);
    abort();
  }
  hl_log_debug("inbox state", "\"from\":\"%s\",\"to\":\"%s\"", state_name[src->state], state_name[to]);
  src->state = to;
}

/* --- the end of a pass ------------------------------------------------------------- */

static void maybe_pass_done(hl_inbox_source *src) {
  if (src->state != HL_INBOX_FINISHING || src->outstanding > 0) return;
  hl_inbox_pass_report *r = &src->rep;
  uv_timer_stop(&src->stop_timer);
  size_t ended = r->delivered + r->failed_4xx + r->failed_other + r->exhausted;
  r->left = r->fetched > ended ? r->fetched - ended : 0;
  src->left_stopped += r->left;
  src->passes++;
  hl_log_write(r->status == 0 ? HL_LOG_INFO : HL_LOG_WARN, "inbox pass",
               "\"fetched\":%zu,\"delivered\":%zu,\"acked\":%zu,\"ack_failed\":%zu,\"failed_4xx\":%zu,"
               "\"failed_other\":%zu,\"exhausted\":%zu,\"left\":%zu,\"skipped\":%zu,\"retries\":%zu,"
               "\"stopped_early\":%s%s%s%s",
               r->fetched, r->delivered, r->acked, r->ack_failed, r->failed_4xx, r->failed_other, r->exhausted, r->left,
               r->skipped, r->retries, r->stopped_early ? "true" : "false", r->status ? ",\"error\":\"" : "",
               r->status ? hl_log_esc(r->error, (size_t)-1) : "", r->status ? "\"" : "");
  transition(src, HL_INBOX_IDLE);
  hl_inbox_pass_report copy = *r;
  hl_inbox_pass_cb done = src->done;
  src->done = NULL;
  done(src->done_data, &copy);
}

/* A delivery left the dispatcher (its outcome recorded, or dropped at the
 * stop time). */
static void on_finished(void *data, void *token, hl_sub *sub, bool recorded) {
  hl_inbox_source *src = data;
  (void)token; (void)sub; (void)recorded;
  src->outstanding--;
  maybe_pass_done(src);
}

static void on_ack(void *data, const char *event_id, const hl_inbox_result *r) {
  hl_inbox_source *src = data;
  (void)event_id;
  if (r->status == 0) {
    src->rep.acked++;
    src->acks_ok++;
  } else {
    src->rep.ack_failed++;
    src->acks_failed++;
  }
}

typedef enum { FAILED_4XX, FAILED_OTHER, FAILED_EXHAUSTED } inbox_failure;

/* Why a delivery failed for good. The dispatcher ends one at once on what
 * no retry changes, and after the schedule's last retry on what it
 * retries (408, 429, 5xx, most faults without an answer): only the latter
 * ran out of retries, which the outcome says. Of the others, a 4xx
 * refused the event; a 3xx (redirects are not followed) or a fault no
 * retry changes (a certificate that does not verify, a private address,
 * an event that could not be sent) is another failure. */
static inbox_failure failure_of(const hl_outcome_info *o) {
  long code = o->status_code;
  if (o->exhausted) return FAILED_EXHAUSTED;
  if (code >= 400 && code < 500 && code != 408 && code != 429) return FAILED_4XX;
  return FAILED_OTHER;
}

/* Every attempt's outcome (the dispatcher's hook): the pass's figures and
 * the seed's metrics. */
static void on_outcome(void *data, const hl_outcome_info *o) {
  hl_inbox_source *src = data;
  hl_inbox_pass_report *r = &src->rep;
  const char *name = "failed";
  if (o->outcome == HL_OUTCOME_SUCCESS) {
    name = "success";
    r->delivered++;
  } else if (o->outcome == HL_OUTCOME_RETRY) {
    name = "retry";
    r->retries++;
  } else if (o->outcome == HL_OUTCOME_FAILED) {
    switch (failure_of(o)) {
      case FAILED_4XX:
        r->failed_4xx++;
        src->left_4xx++;
        break;
      case FAILED_OTHER:
        r->failed_other++;
        src->left_other++;
        break;
      case FAILED_EXHAUSTED:
        r->exhausted++;
        src->left_exhausted++;
        break;
    }
  }
  hl_metrics_on_delivery(&src->m, name, o->attempt > 0 ? o->latency_s : -1.0, o->attempt);
}

/* --- taking work ----------------------------------------------------------------------- */

/* The stop time came: take nothing more, and let go of what waits (for a
 * slot or a retry): it stays pending in the inbox. Attempts running finish. */
static void stop_taking(hl_inbox_source *src) {
  if (src->stop_taking) return;
  src->stop_taking = true;
  src->rep.stopped_early = true;
  hl_log_warn("inbox pass stop time reached: taking no more events, the rest stays pending", "\"fetched\":%zu",
              src->rep.fetched);
  hl_dispatch_sub_removed(&src->dispatch, src->sub);
  /* An attempt running now that fails is not retried in this pass either:
   * its retry would fall after the stop time (and hold the pass's answer
   * past the invocation's deadline). It stays pending for the next pass. */
  hl_dispatch_sub_retry_wait(&src->dispatch, src->sub, false);
}

static void on_stop_timer(uv_timer_t *t) { stop_taking(t->data); }

static void on_page(void *data, hl_inbox_page *page) {
  hl_inbox_source *src = data;
  int64_t now = hl_wall_ms();
  for (size_t i = 0; i < page->n; i++) {
    const hl_inbox_event *e = &page->events[i];
    src->rep.fetched++;
    hl_metrics_on_processed(&src->m, 1);
    if (src->stop_taking || src->closing) continue; /* counted as left */
    hl_eq_item it = {0};
    it.d.event_id = hl_strndup(e->id, e->id_len);
    it.d.subscription_id = hl_strdup(INBOX_SUB_ID);
    it.d.status = hl_strdup("PENDING");
    it.d.updated_at = now;
    it.body = hl_malloc(e->payload_len + 1);
    memcpy(it.body, e->payload, e->payload_len);
    it.body[e->payload_len] = '\0';
    it.body_len = e->payload_len;
    it.accepted_at = now;
    src->outstanding++;
    /* The token only has to be non-NULL: finished() is called for it. */
    hl_dispatch_submit(&src->dispatch, src->sub, &it, src);
  }
  hl_inbox_page_free(page);
}

static void on_pulled(void *data, const hl_inbox_result *r, const hl_inbox_pull_stats *st) {
  hl_inbox_source *src = data;
  if (src->state == HL_INBOX_CLOSED) return; /* cancelled by the close */
  src->rep.skipped = st->skipped;
  if (r->status != 0 && r->status != HL_ECANCELED) {
    src->rep.status = r->status;
    snprintf(src->rep.error, sizeof src->rep.error, "the inbox pull failed: %s", r->error);
  }
  transition(src, HL_INBOX_FINISHING);
  maybe_pass_done(src);
}

/* --- the secret -------------------------------------------------------------------- */

static void on_client_closed(void *data) { hl_free(data); }

static void drop_client(hl_inbox_source *src) {
  if (!src->client) return;
  hl_inbox_close(src->client, on_client_closed, src->client);
  src->client = NULL;
}

/* A new client and target when the secret changed (it is read again on
 * its TTL; a rotated key or URL is taken up by the next pass). Returns 0 or
 * an error in src->rep. */
static int use_secret(hl_inbox_source *src, const char *text) {
  if (src->client && src->secret_text && strcmp(src->secret_text, text) == 0) return 0;
  hl_inbox_secret sec;
  char why[240] = "";
  int rc = hl_inbox_secret_parse(&sec, text, strlen(text), src->set.auth, why, sizeof why);
  hl_inbox_client *c = NULL;
  /* The target is judged as a subscription's url is at registration, so a
   * private or malformed one is refused once, naming the member, not
   * found by each delivery's failed connection. */
  char ubuf[256];
  const char *problem = rc == 0 ? hl_target_url_problem(sec.webhook_url, src->opt.allow_private_targets, ubuf,
                                                         sizeof ubuf)
                                : NULL;
  if (problem) {
    snprintf(why, sizeof why, "/zapier_webhook_url: %s", problem);
    rc = HL_EINVAL;
  }
  if (rc == 0 && !sec.webhook_secret &&
      !(src->opt.default_secret && src->opt.default_secret(src->opt.default_secret_data))) {
    snprintf(why, sizeof why, "/webhook_secret: required to sign deliveries when WEBHOOK_SECRET_ARN is not set");
    rc = HL_EINVAL;
  }
  if (rc == 0) {
    hl_inbox_opts co = {
      .base_url = src->set.api_base_url, .auth = src->set.auth, .api_key = sec.api_key,
      .jwt_secret = sec.jwt_secret, .token_path = src->set.token_path, .inbox_path = src->set.inbox_path,
      .ack_path = src->set.ack_path,
    };
    c = hl_calloc(1, sizeof *c);
    rc = hl_inbox_init(c, src->loop, src->curl, &co, why, sizeof why);
    if (rc != 0) {
      hl_free(c);
      c = NULL;
    }
  }
  if (rc != 0) {
    src->rep.status = rc;
    snprintf(src->rep.error, sizeof src->rep.error, "SECRET_ARN: %s", why);
    hl_inbox_secret_dispose(&sec);
    return rc;
  }
  drop_client(src);
  src->client = c;
  hl_queue_inbox_set_client(src->queue, c);
  hl_retry_schedule *sch = hl_malloc(sizeof *sch);
  *sch = *src->schedule;
  hl_sub_rec rec = {
    .subscription_id = hl_strdup(INBOX_SUB_ID), .partner_id = hl_strdup("inbox"), .event_type = hl_strdup("inbox"),
    .url = hl_strdup(sec.webhook_url), .secret = sec.webhook_secret ? hl_strdup(sec.webhook_secret) : NULL,
    .status = hl_strdup("ACTIVE"), .max_in_flight = src->opt.max_in_flight, .timeout_ms = src->opt.timeout_ms,
  };
  src->sub = hl_registry_put_sub(&src->reg, &rec, NULL, NULL, sch);
  hl_inbox_secret_dispose(&sec);
  if (src->secret_text) explicit_bzero(src->secret_text, strlen(src->secret_text));
  hl_free(src->secret_text);
  src->secret_text = hl_strdup(text);
  return 0;
}

/* --- the source ------------------------------------------------------------------------- */

int hl_inbox_source_init(hl_inbox_source *src, uv_loop_t *loop, hl_curl_uv *curl, hl_store *store,
                         const hl_inbox_source_options *opt, char *err, size_t errlen) {
  *src = (hl_inbox_source){.loop = loop, .curl = curl, .store = store, .opt = *opt};
  hl_buf why = HL_BUF_INIT;
  const char *text = opt->set->retry_schedule ? opt->set->retry_schedule : HL_INBOX_RETRY_DEFAULT;
  int rc = hl_retry_schedule_parse(text, &src->schedule, &why);
  if (rc != 0) snprintf(err, errlen, "INBOX_RETRY_SCHEDULE: %s", why.data ? why.data : "invalid");
  for (size_t i = 0; rc == 0 && i < src->schedule->n; i++)
    if (src->schedule->delay_ms[i] > HL_INBOX_RETRY_CAP_MS) {
      snprintf(err, errlen, "INBOX_RETRY_SCHEDULE: entry %zu is over the cap of 60s", i + 1);
      rc = HL_EINVAL;
    }
  hl_buf_dispose(&why);
  if (rc != 0) {
    hl_retry_schedule_free(src->schedule);
    src->schedule = NULL;
    return HL_EINVAL;
  }
  const hl_inbox_settings *s = opt->set;
  src->set = (hl_inbox_settings){
    .api_base_url = hl_strdup(s->api_base_url), .secret_arn = s->secret_arn ? hl_strdup(s->secret_arn) : NULL,
    .max_events = s->max_events, .auth = s->auth, .token_path = hl_strdup(s->token_path),
    .inbox_path = hl_strdup(s->inbox_path), .ack_path = hl_strdup(s->ack_path),
    .poll_interval_s = s->poll_interval_s, .secret_ttl_s = s->secret_ttl_s, .retry_schedule = hl_strdup(text),
  };
  src->opt.set = &src->set;
  hl_registry_init(&src->reg);
  src->reg.free_schedule = hl_retry_schedule_free;
  hl_metrics_init(&src->m);
  hl_metrics_init(&src->m_sent);
  hl_queue_inbox_options qo = {.loop = loop, .on_ack = on_ack, .finished = on_finished, .data = src};
  src->queue = hl_queue_inbox_create(&qo);
  hl_dispatch_options dopt = {
    .allow_private_targets = opt->allow_private_targets, .default_timeout_ms = opt->timeout_ms,
    .default_schedule = src->schedule, .max_retry_delay_ms = HL_INBOX_RETRY_CAP_MS,
    /* Every retry (at most 60 s away) waits in memory: the inbox keeps the
     * event pending, there is nothing to hand it back to. */
    .release_after_ms = HL_INBOX_RETRY_CAP_MS,
    .on_outcome = on_outcome, .outcome_data = src, .queue = src->queue,
    .default_secret = opt->default_secret, .default_secret_data = opt->default_secret_data,
  };
  hl_dispatch_init(&src->dispatch, loop, curl, store, &src->reg, &dopt);
  uv_timer_init(loop, &src->stop_timer);
  src->stop_timer.data = src;
  src->state = HL_INBOX_IDLE;
  return 0;
}

/* The done callback runs on a later turn, as promised, when the pass ends
 * before it starts (an unusable secret). */
static void on_failed_soon(uv_timer_t *t) {
  hl_inbox_source *src = t->data;
  transition(src, HL_INBOX_FINISHING);
  maybe_pass_done(src);
}

int hl_inbox_source_pass(hl_inbox_source *src, const char *secret_text, int64_t stop_at_ms, hl_inbox_pass_cb done,
                         void *data) {
  if (src->state != HL_INBOX_IDLE || src->closing) return HL_EBUSY;
  src->rep = (hl_inbox_pass_report){0};
  src->stop_taking = false;
  src->done = done;
  src->done_data = data;
  transition(src, HL_INBOX_PULLING);
  if (use_secret(src, secret_text ? secret_text : "") != 0) {
    uv_timer_start(&src->stop_timer, on_failed_soon, 0, 0);
    return 0;
  }
  hl_dispatch_sub_retry_wait(&src->dispatch, src->sub, true); /* a stop of the last pass let them go */
  if (stop_at_ms > 0) {
    int64_t wait = stop_at_ms - hl_wall_ms();
    uv_timer_start(&src->stop_timer, on_stop_timer, wait > 0 ? (uint64_t)wait : 0, 0);
  }
  hl_inbox_pull(src->client, src->set.max_events, on_page, on_pulled, src);
  return 0;
}

bool hl_inbox_source_busy(const hl_inbox_source *src) {
  return src->state == HL_INBOX_PULLING || src->state == HL_INBOX_FINISHING;
}

void hl_inbox_source_render_emf(hl_inbox_source *src, int64_t timestamp_ms, hl_buf *out) {
  hl_metrics_render_emf(&src->m, &src->m_sent, "hookloop/inbox", false, timestamp_ms, out);
  src->m_sent = src->m;
}

static void counter(hl_buf *o, const char *name, const char *help, const char *label, uint64_t v) {
  hl_buf_printf(o, "# HELP %s %s\n# TYPE %s counter\n%s%s %llu\n", name, help, name, name, label ? label : "",
                (unsigned long long)v);
}

void hl_inbox_source_render_prometheus(const hl_inbox_source *src, hl_buf *o) {
  const hl_metrics *m = &src->m;
  counter(o, "hookloop_inbox_passes_total", "Inbox passes run.", NULL, src->passes);
  counter(o, "hookloop_inbox_events_processed_total", "Events the inbox handed over (EventsProcessed).", NULL,
          m->events_processed);
  counter(o, "hookloop_inbox_successful_deliveries_total", "Inbox events the partner took (SuccessfulDeliveries).",
          NULL, m->deliveries_success);
  counter(o, "hookloop_inbox_failed_deliveries_total",
          "Inbox events that failed for good: a 4xx, another final failure, or retries exhausted (FailedDeliveries).",
          NULL, m->deliveries_failed);
  counter(o, "hookloop_inbox_retry_attempts_total", "Inbox delivery attempts after the first (RetryAttempts).", NULL,
          m->retry_attempts);
  hl_buf_printf(o, "# HELP hookloop_inbox_delivery_latency_seconds Partner request latency per attempt (DeliveryLatency).\n"
                   "# TYPE hookloop_inbox_delivery_latency_seconds summary\n"
                   "hookloop_inbox_delivery_latency_seconds_sum %.6f\n"
                   "hookloop_inbox_delivery_latency_seconds_count %llu\n",
                m->latency_sum, (unsigned long long)m->latency_count);
  hl_buf_puts(o, "# HELP hookloop_inbox_acks_total Acknowledgements by result.\n"
                 "# TYPE hookloop_inbox_acks_total counter\n");
  hl_buf_printf(o, "hookloop_inbox_acks_total{result=\"ok\"} %llu\n", (unsigned long long)src->acks_ok);
  hl_buf_printf(o, "hookloop_inbox_acks_total{result=\"failed\"} %llu\n", (unsigned long long)src->acks_failed);
  hl_buf_puts(o, "# HELP hookloop_inbox_left_pending_total Fetched events left pending, by reason.\n"
                 "# TYPE hookloop_inbox_left_pending_total counter\n");
  hl_buf_printf(o, "hookloop_inbox_left_pending_total{reason=\"4xx\"} %llu\n", (unsigned long long)src->left_4xx);
  hl_buf_printf(o, "hookloop_inbox_left_pending_total{reason=\"failed_other\"} %llu\n",
                (unsigned long long)src->left_other);
  hl_buf_printf(o, "hookloop_inbox_left_pending_total{reason=\"retries_exhausted\"} %llu\n",
                (unsigned long long)src->left_exhausted);
  hl_buf_printf(o, "hookloop_inbox_left_pending_total{reason=\"stopped\"} %llu\n",
                (unsigned long long)src->left_stopped);
}

/* --- closing: client requests first (acks end cancelled), then the
 * dispatcher (it waits for records), the queue, the client, the timer. --- */

static void close_step(hl_inbox_source *src) {
  if (--src->closing > 0) return;
  hl_registry_dispose(&src->reg);
  hl_retry_schedule_free(src->schedule);
  src->schedule = NULL;
  if (src->secret_text) explicit_bzero(src->secret_text, strlen(src->secret_text));
  hl_free(src->secret_text);
  src->secret_text = NULL;
  hl_inbox_settings_dispose(&src->set);
  if (src->close_cb) src->close_cb(src->close_data);
}

static void on_timer_closed(uv_handle_t *h) { close_step(h->data); }

typedef struct {
  hl_inbox_source *src;
  hl_inbox_client *c;
} client_close;

static void on_last_client_closed(void *data) {
  client_close *cc = data;
  hl_inbox_source *src = cc->src;
  hl_free(cc->c);
  hl_free(cc);
  close_step(src);
}

static void on_dispatch_closed(void *data) {
  hl_inbox_source *src = data;
  src->queue->vt->destroy(src->queue);
  src->queue = NULL;
  if (src->client) {
    src->closing++;
    client_close *cc = hl_malloc(sizeof *cc);
    *cc = (client_close){src, src->client};
    src->client = NULL;
    hl_inbox_close(cc->c, on_last_client_closed, cc);
  }
  close_step(src);
}

void hl_inbox_source_close(hl_inbox_source *src, void (*cb)(void *data), void *data) {
  src->close_cb = cb;
  src->close_data = data;
  src->closing = 2; /* the dispatcher chain, the timer */
  if (src->state != HL_INBOX_CLOSED) transition(src, HL_INBOX_CLOSED);
  src->done = NULL;
  if (src->client) hl_inbox_cancel_all(src->client);
  hl_dispatch_close(&src->dispatch, on_dispatch_closed, src);
  uv_close((uv_handle_t *)&src->stop_timer, on_timer_closed);
}
