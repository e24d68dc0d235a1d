#include "app/hl_app_inbox.h"
#include "app/hl_app_store.h"
#include "aws/hl_aws_endpoint.h"
#include "aws/hl_secrets.h"
#include "common/hl_common.h"
#include "common/hl_log.h"
#include "json/hl_json.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* SECRET_ARN's read: none yet, in flight, or done (a failed first read is
 * tried again by hl_secrets on its own timer; passes meanwhile fail). */
typedef enum { SEC_NONE, SEC_READING, SEC_DONE } sec_state;

struct hl_app_inbox {
  uv_loop_t *loop;
  hl_inbox_settings set;
  hl_secrets secrets;
  sec_state sec;
  char sec_why[256];
  hl_inbox_source src;
  uv_timer_t poll;
  /* A pass asked for while the secret is read. */
  bool want;
  int64_t want_stop_at;
  /* The caller of the pass running (or wanted). */
  hl_inbox_pass_cb done;
  void *done_data;
  hl_inbox_pass_cb each;     /* polling: told of every pass */
  void *each_data;
  int closing;
  void (*close_cb)(void *data);
  void *close_data;
};

static void set_flag(void *data) { *(int *)data = 1; }

bool hl_app_inbox_configured(void) { return hl_inbox_lookup_env(NULL, "API_BASE_URL") != NULL; }

int hl_app_inbox_open(hl_app_inbox **out, uv_loop_t *loop, hl_curl_uv *curl, hl_store *store, const hl_config *cfg,
                      const char *(*default_secret)(void *data), void *default_secret_data, char *err, size_t errlen) {
  *out = NULL;
  hl_app_inbox *a = hl_calloc(1, sizeof *a);
  a->loop = loop;
  int rc = hl_inbox_settings_load(&a->set, hl_inbox_lookup_env, NULL, err, errlen);
  if (rc == 0) {
    const char *endpoint = hl_aws_endpoint_configured(HL_AWS_SECRETS_MANAGER, "HOOKLOOP_SECRETSMANAGER_ENDPOINT",
                                                      cfg->secretsmanager_endpoint, NULL, NULL, NULL);
    hl_secrets_config sc = {.secret_id = a->set.secret_arn, .region = cfg->aws_region, .endpoint = endpoint,
                            .creds = hl_app_creds_env(cfg), .refresh_ms = (uint64_t)a->set.secret_ttl_s * 1000,
                            .raw = true, .var = "SECRET_ARN", .what = "the inbox secret (SECRET_ARN)"};
    char why[400] = "";
    rc = hl_secrets_init(&a->secrets, loop, curl, &sc, why, sizeof why);
    if (rc != 0) snprintf(err, errlen, "SECRET_ARN: %s", why);
  }
  if (rc == 0) {
    hl_inbox_source_options so = {.set = &a->set, .allow_private_targets = cfg->allow_private_targets,
                                  .default_secret = default_secret, .default_secret_data = default_secret_data};
    rc = hl_inbox_source_init(&a->src, loop, curl, store, &so, err, errlen);
    if (rc != 0) {
      int closed = 0;
      hl_secrets_close(&a->secrets, set_flag, &closed);
      while (!closed && uv_run(loop, UV_RUN_ONCE)) {}
    }
  }
  if (rc != 0) {
    hl_inbox_settings_dispose(&a->set);
    hl_free(a);
    return rc;
  }
  uv_timer_init(loop, &a->poll);
  a->poll.data = a;
  *out = a;
  return 0;
}

void hl_app_inbox_report_json(const hl_inbox_pass_report *r, hl_buf *out) {
  hl_jw w;
  hl_jw_init(&w, out);
  hl_jw_obj_begin(&w);
  static const char *names[] = {"fetched", "delivered", "acked", "ack_failed", "failed_4xx", "failed_other",
                                "exhausted", "left", "skipped", "retries"};
  const size_t vals[] = {r->fetched, r->delivered, r->acked, r->ack_failed, r->failed_4xx, r->failed_other,
                         r->exhausted, r->left, r->skipped, r->retries};
  for (size_t i = 0; i < HL_ARRAY_SIZE(names); i++) {
    hl_jw_key(&w, names[i]);
    hl_jw_int(&w, (int64_t)vals[i]);
  }
  hl_jw_key(&w, "stopped_early");
  hl_jw_bool(&w, r->stopped_early);
  if (r->status != 0) {
    hl_jw_key(&w, "error");
    hl_jw_str(&w, r->error);
  }
  hl_jw_obj_end(&w);
}

/* The pass ended: the seed's metrics as one EMF line, then the caller. */
static void on_pass_done(void *data, const hl_inbox_pass_report *r) {
  hl_app_inbox *a = data;
  hl_buf b = HL_BUF_INIT;
  hl_inbox_source_render_emf(&a->src, hl_wall_ms(), &b);
  printf("%s\n", b.data);
  fflush(stdout);
  hl_buf_dispose(&b);
  hl_inbox_pass_cb done = a->done;
  a->done = NULL;
  if (done) done(a->done_data, r);
}

static void fail_pass(hl_app_inbox *a, int status, const char *why) {
  hl_inbox_pass_report r = {.status = status};
  snprintf(r.error, sizeof r.error, "%s", why);
  hl_log_error("inbox pass not run", "\"error\":\"%s\"", hl_log_esc(why, (size_t)-1));
  hl_inbox_pass_cb done = a->done;
  a->done = NULL;
  if (done) done(a->done_data, &r);
}

static void start_pass(hl_app_inbox *a, int64_t stop_at_ms) {
  const char *v = hl_secrets_value(&a->secrets);
  if (!v) {
    char why[256];
    snprintf(why, sizeof why, "SECRET_ARN could not be read: %.200s", a->sec_why[0] ? a->sec_why : "no value");
    fail_pass(a, HL_EIO, why);
    return;
  }
  hl_inbox_source_pass(&a->src, v, stop_at_ms, on_pass_done, a);
}

static void on_secret_read(void *data, int status, const char *why) {
  hl_app_inbox *a = data;
  a->sec = SEC_DONE;
  if (status != 0) snprintf(a->sec_why, sizeof a->sec_why, "%s", why ? why : hl_strerror(status));
  if (!a->want || a->closing) return;
  a->want = false;
  start_pass(a, a->want_stop_at);
}

void hl_app_inbox_pass(hl_app_inbox *a, int64_t stop_at_ms, hl_inbox_pass_cb done, void *data) {
  if (a->done || a->closing) {
    hl_inbox_pass_report r = {.status = HL_EBUSY};
    snprintf(r.error, sizeof r.error, "a pass is running");
    done(data, &r);
    return;
  }
  a->done = done;
  a->done_data = data;
  if (a->sec == SEC_NONE) {
    a->sec = SEC_READING;
    hl_secrets_start(&a->secrets, on_secret_read, a);
  }
  if (a->sec == SEC_READING) {
    a->want = true;
    a->want_stop_at = stop_at_ms;
    return;
  }
  start_pass(a, stop_at_ms);
}

static void on_poll_pass_done(void *data, const hl_inbox_pass_report *r) {
  hl_app_inbox *a = data;
  if (a->each) a->each(a->each_data, r); /* the source logged it; the metrics count it */
}

static void on_poll_tick(uv_timer_t *t) {
  hl_app_inbox *a = t->data;
  if (a->done) {
    hl_log_warn("inbox poll: the previous pass is still running; this tick is skipped",
                "\"interval_s\":%u", a->set.poll_interval_s);
    return;
  }
  hl_app_inbox_pass(a, 0, on_poll_pass_done, a);
}

void hl_app_inbox_poll(hl_app_inbox *a, hl_inbox_pass_cb each, void *data) {
  a->each = each;
  a->each_data = data;
  uint64_t ms = (uint64_t)a->set.poll_interval_s * 1000;
  hl_log_info("inbox polling", "\"interval_s\":%u,\"max_events_per_run\":%u", a->set.poll_interval_s,
              a->set.max_events);
  uv_timer_start(&a->poll, on_poll_tick, 0, ms);
}

void hl_app_inbox_stop(hl_app_inbox *a) { uv_timer_stop(&a->poll); }

bool hl_app_inbox_busy(const hl_app_inbox *a) { return a->done != NULL; }

void hl_app_inbox_render_metrics(const hl_app_inbox *a, hl_buf *out) {
  hl_inbox_source_render_prometheus(&a->src, out);
}

static void close_step(void *data) {
  hl_app_inbox *a = data;
  if (--a->closing > 0) return;
  hl_inbox_settings_dispose(&a->set);
  void (*cb)(void *) = a->close_cb;
  void *cb_data = a->close_data;
  hl_free(a);
  if (cb) cb(cb_data);
}

static void on_poll_closed(uv_handle_t *h) { close_step(h->data); }

static void on_source_closed(void *data) {
  hl_app_inbox *a = data;
  /* The source (its curl requests) first, then the secret reader. */
  hl_secrets_close(&a->secrets, close_step, a);
}

void hl_app_inbox_close(hl_app_inbox *a, void (*cb)(void *data), void *data) {
  a->close_cb = cb;
  a->close_data = data;
  a->closing = 2; /* the source-then-secrets chain, the poll timer */
  a->done = NULL;
  a->want = false;
  uv_close((uv_handle_t *)&a->poll, on_poll_closed);
  hl_inbox_source_close(&a->src, on_source_closed, a);
}

/* --- hookloop inbox ------------------------------------------------------------------- */

typedef struct {
  uv_loop_t loop;
  hl_curl_uv curl;
  hl_store *store;
  hl_secrets webhook_secret;   /* WEBHOOK_SECRET_ARN, when set */
  bool have_webhook_secret;
  hl_app_inbox *inbox;
  bool poll;
  bool stopping;
  int exit_code;
  uv_signal_t sigterm, sigint;
} runner;

static const char *webhook_secret_value(void *data) { return hl_secrets_value(data); }

static void runner_stop(runner *r) {
  if (r->stopping) return;
  r->stopping = true;
  uv_signal_stop(&r->sigterm);
  uv_signal_stop(&r->sigint);
  if (r->inbox) hl_app_inbox_stop(r->inbox);
}

static void on_run_pass_done(void *data, const hl_inbox_pass_report *rep) {
  runner *r = data;
  hl_buf b = HL_BUF_INIT;
  hl_app_inbox_report_json(rep, &b);
  printf("%s\n", b.data);
  fflush(stdout);
  hl_buf_dispose(&b);
  r->exit_code = rep->status == 0 ? 0 : 1;
  if (!r->poll) runner_stop(r);
}

static void on_run_signal(uv_signal_t *h, int signum) {
  runner *r = h->data;
  hl_log_info("inbox: signal received; stopping after the pass running", "\"signal\":%d", signum);
  runner_stop(r);
}

static void on_webhook_secret(void *data, int status, const char *why) {
  runner *r = data;
  if (status != 0) {
    fprintf(stderr, "hookloop inbox: WEBHOOK_SECRET_ARN could not be read: %s\n", why ? why : "");
    r->exit_code = 1;
    runner_stop(r);
  }
}

int hl_app_inbox_run(const hl_config *cfg, bool poll) {
  runner *r = hl_calloc(1, sizeof *r);
  r->poll = poll;
  char err[512] = "";
  int rc = 0;
  signal(SIGPIPE, SIG_IGN);
  hl_curl_global_init();
  uv_loop_init(&r->loop);
  hl_curl_uv_init(&r->curl, &r->loop, 1024);
  if (hl_app_store_open(&r->loop, &r->curl, cfg, cfg->data_dir, false, &r->store, err, sizeof err) != 0) {
    fprintf(stderr, "hookloop inbox: %s\n", err);
    rc = 2;
  } else if (cfg->webhook_secret_arn && *cfg->webhook_secret_arn &&
             hl_app_secrets_init(&r->webhook_secret, &r->loop, &r->curl, cfg, err, sizeof err) != 0) {
    fprintf(stderr, "hookloop inbox: WEBHOOK_SECRET_ARN: %s\n", err);
    rc = 2;
  } else {
    r->have_webhook_secret = cfg->webhook_secret_arn && *cfg->webhook_secret_arn;
    if (hl_app_inbox_open(&r->inbox, &r->loop, &r->curl, r->store, cfg, r->have_webhook_secret ? webhook_secret_value : NULL,
                          &r->webhook_secret, err, sizeof err) != 0) {
      fprintf(stderr, "hookloop inbox: %s\n", err);
      rc = 2;
    }
  }
  if (rc == 0) {
    uv_signal_init(&r->loop, &r->sigterm);
    uv_signal_init(&r->loop, &r->sigint);
    r->sigterm.data = r->sigint.data = r;
    uv_signal_start(&r->sigterm, on_run_signal, SIGTERM);
    uv_signal_start(&r->sigint, on_run_signal, SIGINT);
    /* The default secret first (a pass without it could not sign). */
    if (r->have_webhook_secret) {
      hl_secrets_start(&r->webhook_secret, on_webhook_secret, r);
      while (!hl_secrets_value(&r->webhook_secret) && !r->stopping && uv_run(&r->loop, UV_RUN_ONCE)) {}
    }
    if (!r->stopping) {
      if (poll) {
        hl_app_inbox_poll(r->inbox, on_run_pass_done, r);
      } else {
        hl_app_inbox_pass(r->inbox, 0, on_run_pass_done, r);
      }
    }
    /* Until stopped and the pass running has ended. */
    while ((!r->stopping || hl_app_inbox_busy(r->inbox)) && uv_run(&r->loop, UV_RUN_ONCE)) {}
    rc = r->exit_code;
    uv_close((uv_handle_t *)&r->sigterm, NULL);
    uv_close((uv_handle_t *)&r->sigint, NULL);
  }
  if (r->inbox) {
    int closed = 0;
    hl_app_inbox_close(r->inbox, set_flag, &closed);
    while (!closed && uv_run(&r->loop, UV_RUN_ONCE)) {}
  }
  if (r->have_webhook_secret) {
    int closed = 0;
    hl_secrets_close(&r->webhook_secret, set_flag, &closed);
    while (!closed && uv_run(&r->loop, UV_RUN_ONCE)) {}
  }
  if (r->store) hl_app_store_close_wait(r->store, &r->loop);
  hl_curl_uv_end_run(&r->curl, &r->loop);
  hl_free(r);
  return rc;
}
