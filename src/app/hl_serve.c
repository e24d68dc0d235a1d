#include "app/hl_serve.h"
#include "common/hl_common.h"
#include "common/hl_log.h"
#include "loop/hl_log_uv.h"
#include "common/hl_sm.h"
#include "api/hl_api.h"
#include "handlers/hl_dispatch.h"
#include "obs/hl_metrics.h"
#include "handlers/hl_pipeline.h"
#include "model/hl_registry.h"
#include "model/hl_retry.h"
#include "loop/hl_curl_uv.h"
#include "handlers/hl_pinfo.h"
#include "loop/hl_http_server.h"
#include "loop/hl_loop_stats.h"
#include "app/hl_app_inbox.h"
#include "app/hl_app_kafka.h"
#include "app/hl_app_sender.h"
#include "app/hl_app_kms.h"
#include "app/hl_app_store.h"
#include "queue/hl_queue_ddb.h"
#include "store/hl_store_sqlite.h"
#include "app/hl_app_retention.h"

#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

/* The settings serve needs, resolved from the configuration once. */
typedef struct {
  const char *listen;
  const char *data_dir;
  hl_table_names tables;
  const char *retry_schedule;
  unsigned max_in_flight;
  int64_t high_water;
  bool allow_private;
  const char *admin_token, *api_token;
  const char *ingress_prefix, *egress_prefix;
  uint64_t drain_timeout_ms;
  const hl_config *cfg;
  bool kafka;
  bool ddb_queue;          /* HOOKLOOP_QUEUE=dynamodb */
} serve_settings;

typedef enum { S_STARTING, S_RUNNING, S_DRAINING, S_CLOSING, S_DONE } serve_state;

typedef struct {
  serve_state state;
  serve_settings set;
  uv_loop_t loop;
  hl_log_uv log;
  hl_curl_uv curl;
  hl_store *store;
  hl_secrets secrets;       /* the default signing secret (WEBHOOK_SECRET_ARN) */
  bool have_secrets;
  hl_app_kms kms;           /* HOOKLOOP_KMS_KEY_ID: the data key sealing credentials */
  bool have_kms;
  hl_registry reg;
  hl_retry_schedule *schedule;
  hl_dispatch dispatch;
  hl_pinfo *pinfo;         /* Partner Info enrichment (PARTNER_INFO_URL), or NULL; destroyed after the dispatcher */
  hl_aws_creds_provider pinfo_creds; /* PARTNER_INFO_AUTH=sigv4: what its requests are signed with; closed after it */
  bool have_pinfo_creds;
  hl_kafka *kafka;         /* the Kafka queue, or NULL (embedded) */
  hl_kafka_config kcfg;    /* its settings (dead-letter lookups use them too) */
  hl_app_kafka_auth kauth; /* its SASL login or MSK IAM tokens; closed after it, before curl */
  hl_pipeline *pipe;
  /* HOOKLOOP_QUEUE=dynamodb: the queue shared with other tasks and Lambda,
   * or NULL; destroyed after the dispatcher, before the store. */
  hl_queue *ddbq;
  uv_timer_t queue_poll;    /* the DynamoDB queue: looks for rows others made due */
  hl_app_inbox *inbox;     /* HOOKLOOP_ROLE=inbox: the inbox poll, or NULL */
  hl_app_retention *retention; /* the purge timer, or NULL (the store expires rows itself) */
  hl_api api;
  hl_http_server *http;
  hl_metrics metrics;
  hl_loop_stats loop_stats; /* busy time per loop turn, on /metrics */
  uv_signal_t sigterm, sigint;
  uv_timer_t drain_timer;
  uv_timer_t reload_timer;  /* re-reads schemas/subscriptions from a shared store */
  bool reloading;
  uint64_t drain_deadline;
  int exit_code;
  int pending_closes;
} serve;

static void begin_close(serve *s);

static void on_outcome(void *data, const hl_outcome_info *o) {
  serve *s = data;
  hl_metrics_on_delivery(&s->metrics, o->outcome == HL_OUTCOME_SUCCESS   ? "success"
                                      : o->outcome == HL_OUTCOME_DUPLICATE ? "duplicate"
                                      : o->outcome == HL_OUTCOME_RETRY     ? "retry"
                                                                           : "failed",
                         o->outcome == HL_OUTCOME_DUPLICATE ? -1.0 : o->latency_s, o->attempt);
}

static void on_accepted(void *data, size_t nsubs) {
  serve *s = data;
  hl_metrics_on_accepted(&s->metrics);
  /* The embedded queue fans out in the accept itself; on Kafka the
   * processor does, and counts it there. */
  if (!s->kafka) hl_metrics_on_processed(&s->metrics, nsubs);
}

static void render_metrics(void *data, hl_buf *out) {
  serve *s = data;
  hl_metrics_set_in_flight(&s->metrics, s->dispatch.in_flight);
  hl_metrics_set_in_memory(&s->metrics, s->dispatch.in_memory);
  hl_metrics_render_prometheus(&s->metrics, out);
  hl_loop_stats_render_prometheus(&s->loop_stats, out);
  if (s->inbox) hl_app_inbox_render_metrics(s->inbox, out);
  hl_dispatch_render_metrics(&s->dispatch, out);
  hl_api_schemas_render_metrics(&s->api, out);
  if (s->pinfo) hl_pinfo_render_metrics(s->pinfo, out);
  hl_app_retention_render_metrics(s->retention, out);
  if (s->store && s->store->vt->render_metrics) s->store->vt->render_metrics(s->store, out);
}

/* The dispatcher disabled a subscription: the API records and announces it. */
static void on_sub_disabled(void *data, hl_sub *sub) {
  serve *s = data;
  hl_api_sub_disabled(&s->api, sub);
}

/* --- shutdown ------------------------------------------------------------------ */

/* The one place the service changes state; illegal moves are bugs. */
static void transition(serve *s, serve_state to) {
  static const char *const names[] = {"starting", "running", "draining", "closing", "done"};
  static const unsigned allowed[] = {
    [S_STARTING] = HL_SM_TO(S_RUNNING) | HL_SM_TO(S_DRAINING) | HL_SM_TO(S_CLOSING),
    [S_RUNNING] = HL_SM_TO(S_DRAINING) | HL_SM_TO(S_CLOSING),
    [S_DRAINING] = HL_SM_TO(S_CLOSING),
    [S_CLOSING] = HL_SM_TO(S_DONE),
    [S_DONE] = 0,
  };
  hl_sm_check("service", allowed, names, s->state, to);
  hl_log_info("service state", "\"from\":\"%s\",\"to\":\"%s\"", names[s->state], names[to]);
  s->state = to;
}

static void on_drain_tick(uv_timer_t *t) {
  serve *s = hl_container_of(t, serve, drain_timer);
  bool quiet = hl_dispatch_quiet(&s->dispatch) && s->api.pending == 0 && (!s->pipe || hl_pipeline_busy(s->pipe) == 0) &&
               (!s->inbox || !hl_app_inbox_busy(s->inbox)) &&
               /* a claim answers the dispatcher; the releases of what it held (hl_dispatch_stop) land */
               (!s->ddbq || hl_queue_ddb_calls(s->ddbq) == 0);
  bool late = uv_now(&s->loop) >= s->drain_deadline;
  if (!quiet && !late) return;
  if (!quiet)
    hl_log_warn("drain deadline reached; unfinished deliveries stay queued for the next start",
                "\"in_flight\":%u", s->dispatch.in_flight);
  uv_timer_stop(t);
  begin_close(s);
}

static void start_drain(serve *s) {
  if (s->state != S_RUNNING && s->state != S_STARTING) {
    if (s->state == S_DRAINING) { /* a second signal: stop waiting */
      s->drain_deadline = 0;
      on_drain_tick(&s->drain_timer);
    }
    return;
  }
  transition(s, S_DRAINING);
  s->api.draining = true;
  hl_api_stop_jobs(&s->api); /* their calls in flight count in api.pending */
  if (s->http) hl_http_server_drain(s->http); /* answers "draining" until begin_close */
  hl_dispatch_stop(&s->dispatch);
  if (s->inbox) hl_app_inbox_stop(s->inbox); /* a pass running ends first */
  if (s->pipe) hl_pipeline_stop(s->pipe); /* no new records; what is handed back waits for the next run */
  s->drain_deadline = uv_now(&s->loop) + s->set.drain_timeout_ms;
  uv_timer_start(&s->drain_timer, on_drain_tick, 0, 20);
}

/* The consumer will consume no more (fenced by a member with the same
 * KAFKA_GROUP_INSTANCE_ID): drain and exit non-zero, so that the
 * orchestrator restarts the task rather than leave its partitions idle. */
static void on_kafka_fatal(void *data, const char *reason) {
  serve *s = data;
  (void)reason; /* logged by hl_kafka */
  s->exit_code = 1;
  start_drain(s);
}

static void on_signal(uv_signal_t *h, int signum) {
  serve *s = h->data;
  hl_log_info("signal received; draining", "\"signal\":%d", signum);
  start_drain(s);
}

static void close_store_then_curl(serve *s);

static void closed_one(void *data) {
  serve *s = data;
  if (--s->pending_closes > 0) return;
  transition(s, S_DONE);
}

static void on_handle_closed(uv_handle_t *h) { closed_one(h->data); }

static void set_flag(void *data) { *(int *)data = 1; }

static void on_secrets_closed(void *data) {
  serve *s = data;
  hl_curl_uv_close(&s->curl, closed_one, s);
}

static void on_store_closed(void *data) {
  serve *s = data;
  s->store = NULL;
  if (s->have_secrets) {
    s->have_secrets = false;
    hl_secrets_close(&s->secrets, on_secrets_closed, s);
    return;
  }
  hl_curl_uv_close(&s->curl, closed_one, s);
}

/* The token source goes after the handles that ask it for tokens, and
 * before curl, which it fetches credentials through. */
static void on_kafka_auth_closed(void *data) {
  serve *s = data;
  close_store_then_curl(s);
  closed_one(s);
}

static void on_kafka_closed(void *data) {
  serve *s = data;
  hl_app_kafka_auth_close(&s->kauth, on_kafka_auth_closed, s);
}

static void on_kms_closed(void *data) { close_store_then_curl(data); }

/* The store goes before curl: the DynamoDB store finishes its writes
 * through it. The KMS data key goes before the store, which its start-up
 * may still be writing to. */
static void close_store_then_curl(serve *s) {
  if (s->have_kms) {
    s->have_kms = false;
    hl_aws_client_cancel_all(&s->kms.client);
    hl_app_kms_close(&s->kms, on_kms_closed, s);
    return;
  }
  if (s->store) s->store->vt->close(s->store, on_store_closed, s);
  else hl_curl_uv_close(&s->curl, closed_one, s);
}

static void on_pipe_destroyed(void *data) {
  serve *s = data;
  s->pipe = NULL;
  /* Every record is done or handed back: commit and leave the group. */
  hl_kafka_close(s->kafka, on_kafka_closed, s);
  s->kafka = NULL;
}

static void on_dispatch_closed(void *data) {
  serve *s = data;
  if (s->ddbq) { /* its last writes finish through the store's client */
    s->ddbq->vt->destroy(s->ddbq);
    s->ddbq = NULL;
  }
  hl_pinfo_destroy(s->pinfo); /* no delivery waits for it any more */
  s->pinfo = NULL;
  if (s->have_pinfo_creds) { /* before curl, which its fetches run on */
    s->have_pinfo_creds = false;
    s->pending_closes++;
    hl_aws_creds_close(&s->pinfo_creds, closed_one, s);
  }
  /* The dispatcher is closed: the pipeline, Kafka (and its authentication),
   * the store and curl can go now, in that order. */
  s->pending_closes++; /* the store-then-curl chain */
  if (s->pipe) {
    s->pending_closes++;
    hl_pipeline_destroy(s->pipe, on_pipe_destroyed, s);
  } else {
    close_store_then_curl(s);
  }
  closed_one(s);
}

static void on_http_destroyed(void *data) { closed_one(data); }

static void on_inbox_closed(void *data) {
  serve *s = data;
  s->inbox = NULL;
  begin_close(s);
}

static void begin_close(serve *s) {
  if (s->state == S_CLOSING || s->state == S_DONE) return;
  if (s->inbox) { /* its requests end before the store and curl close */
    hl_app_inbox *in = s->inbox;
    s->inbox = NULL;
    hl_app_inbox_close(in, on_inbox_closed, s);
    return;
  }
  transition(s, S_CLOSING);
  s->pending_closes = 1; /* released at the end of this function */
  if (s->http) {
    s->pending_closes++;
    hl_http_server_destroy(s->http, on_http_destroyed, s);
    s->http = NULL;
  }
  s->pending_closes++; /* its batch in flight answers before the store closes */
  hl_app_retention_close(s->retention, closed_one, s);
  s->retention = NULL;
  s->pending_closes++;
  hl_dispatch_close(&s->dispatch, on_dispatch_closed, s);
  s->api.frozen = true;
  hl_api_close_jobs(&s->api);
  uv_handle_t *hs[] = {(uv_handle_t *)&s->sigterm, (uv_handle_t *)&s->sigint, (uv_handle_t *)&s->drain_timer,
                       (uv_handle_t *)&s->reload_timer, (uv_handle_t *)&s->queue_poll};
  for (size_t i = 0; i < HL_ARRAY_SIZE(hs); i++) {
    s->pending_closes++;
    uv_close(hs[i], on_handle_closed);
  }
  s->pending_closes++;
  hl_loop_stats_close(&s->loop_stats, closed_one, s);
  closed_one(s);
}

/* --- start ------------------------------------------------------------------------ */

static void on_loaded(void *data, int status);

static const char *default_secret(void *data) { return hl_secrets_value(data); }

static void on_secret_read(void *data, int status, const char *why) {
  serve *s = data;
  if (status != 0) {
    hl_log_error("could not read the default webhook secret", "\"error\":\"%s\",\"hint\":\"check "
                 "WEBHOOK_SECRET_ARN, the credentials and secretsmanager:GetSecretValue\"", why ? why : "");
    s->exit_code = 1;
    begin_close(s);
    return;
  }
  hl_api_load(&s->api, on_loaded, s);
}

/* The next start-up step: the default secret, then the store's content. */
static void load_after_kms(serve *s) {
  if (s->have_secrets) hl_secrets_start(&s->secrets, on_secret_read, s);
  else hl_api_load(&s->api, on_loaded, s);
}

static void on_kms_ready(void *data, int status, const char *why) {
  serve *s = data;
  if (status != 0) {
    /* A configuration error, as HOOKLOOP_SECRET_KEY_FILE's are: exit 2. */
    hl_log_error("could not obtain the KMS data key sealing subscription credentials", "\"error\":\"%s\"",
                 hl_log_esc(why ? why : hl_strerror(status), (size_t)-1));
    fprintf(stderr, "hookloop: %s\n", why ? why : hl_strerror(status));
    s->exit_code = 2;
    begin_close(s);
    return;
  }
  hl_log_info("KMS data key ready; subscription credentials are sealed with it", "\"key_id\":\"%s\"",
              hl_log_esc(s->set.cfg->kms_key_id, (size_t)-1));
  load_after_kms(s);
}

static void on_reloaded(void *data, int status) {
  serve *s = data;
  s->reloading = false;
  if (status != 0 && status != HL_ECANCELED)
    hl_log_warn("could not reload schemas and subscriptions; keeping the ones loaded", "\"error\":\"%s\"",
                hl_strerror(status));
}

static void on_reload_tick(uv_timer_t *t) {
  serve *s = hl_container_of(t, serve, reload_timer);
  if (s->state != S_RUNNING || s->reloading) return;
  s->reloading = true;
  hl_api_reload(&s->api, on_reloaded, s);
}

/* Another process accepted, released or re-queued work (the PostgreSQL
 * store's LISTEN/NOTIFY): claim it if idle. NULL: notifications may have
 * been missed, look at every subscription. */
static void on_store_work(void *data, const char *subscription_id) {
  serve *s = data;
  if (s->state != S_RUNNING || s->pipe) return;
  if (!subscription_id) {
    hl_dispatch_notify_all(&s->dispatch);
    return;
  }
  hl_sub *sub = hl_strmap_get(&s->reg.subs_by_id, subscription_id);
  if (sub) hl_dispatch_notify(&s->dispatch, sub);
}

/* The DynamoDB queue tells nobody of rows another process accepted or
 * released (a Lambda invocation, another task): every subscription looks
 * for due rows once per HOOKLOOP_QUEUE_POLL_MS. A subscription with a claim
 * under way is not asked twice (hl_dispatch_notify). */
static void on_queue_poll(uv_timer_t *t) {
  serve *s = hl_container_of(t, serve, queue_poll);
  if (s->state == S_RUNNING) hl_dispatch_notify_all(&s->dispatch);
}

static void on_loaded(void *data, int status) {
  serve *s = data;
  if (status == HL_ECANCELED && s->state != S_STARTING) { /* a signal came, and the close ended the load */
    begin_close(s);
    return;
  }
  const char *kms_why = status != 0 && s->have_kms ? hl_app_kms_open_failure(&s->kms) : NULL;
  if (kms_why) {
    /* KMS refusing the data keys records carry: as at on_kms_ready, exit 2. */
    fprintf(stderr, "hookloop: %s\n", kms_why);
    s->exit_code = 2;
    begin_close(s);
    return;
  }
  if (status != 0) {
    hl_log_error("could not load schemas and subscriptions from the store",
                 "\"error\":\"%s\",\"hint\":\"%s\"", hl_strerror(status),
                 s->set.cfg->store == HL_STORE_POSTGRES ? "the postgres error above names the setting at fault"
                                                        : "check HOOKLOOP_DATA_DIR and its permissions");
    s->exit_code = 1;
    begin_close(s);
    return;
  }
  if (s->state != S_STARTING) { /* a signal came while loading */
    begin_close(s);
    return;
  }
  hl_http_server_config hc = {
    .on_request = hl_api_handle, .body_limit = hl_api_body_limit, .admit = hl_api_admit, .data = &s->api,
    .max_buffered_body_bytes = (size_t)s->set.cfg->max_buffered_body_bytes,
  };
  int rc = hl_http_server_create(&s->loop, s->set.listen, &hc, &s->http);
  if (rc == 0) rc = hl_http_server_start(s->http);
  if (rc != 0) {
    hl_log_error("cannot listen", "\"listen\":\"%s\",\"error\":\"%s\",\"hint\":\"set HOOKLOOP_LISTEN to a free host:port\"",
                 hl_log_esc(s->set.listen, (size_t)-1), hl_strerror(rc));
    if (s->http) { hl_http_server_destroy(s->http, NULL, NULL); s->http = NULL; }
    s->exit_code = 1;
    begin_close(s);
    return;
  }
  transition(s, S_RUNNING);
  /* Other tasks change a shared store: look again every TTL. */
  if (s->set.cfg->store != HL_STORE_SQLITE && s->set.cfg->config_ttl_s > 0) {
    uint64_t ms = (uint64_t)s->set.cfg->config_ttl_s * 1000;
    uv_timer_start(&s->reload_timer, on_reload_tick, ms, ms);
  }
  if (s->pipe) {
    if (hl_pipeline_start(s->pipe) != 0) {
      hl_log_error("cannot subscribe to the Kafka topics", "\"brokers\":\"%s\"", hl_log_esc(s->set.cfg->kafka_brokers, (size_t)-1));
      s->exit_code = 1;
      begin_close(s);
      return;
    }
  } else {
    hl_dispatch_notify_all(&s->dispatch);
  }
  if (s->ddbq) {
    uint64_t ms = (uint64_t)s->set.cfg->queue_poll_ms;
    uv_timer_start(&s->queue_poll, on_queue_poll, ms, ms);
  }
  if (s->inbox) hl_app_inbox_poll(s->inbox, NULL, NULL);
  hl_log_info("hookloop serving", "\"listen\":\"%s\",\"port\":%d,\"data_dir\":\"%s\",\"store\":\"%s\",\"queue\":\"%s\","
              "\"schemas\":%zu,\"subscriptions\":%zu,\"backlog\":%lld",
              hl_log_esc(s->set.listen, (size_t)-1), hl_http_server_port(s->http),
              hl_log_esc(s->set.data_dir, (size_t)-1), s->store->vt->name, s->dispatch.queue->vt->name,
              hl_strmap_len(&s->reg.schemas_by_id), hl_strmap_len(&s->reg.subs_by_id),
              (long long)hl_queue_backlog(s->dispatch.queue));
  /* The ready line: with port 0 in HOOKLOOP_LISTEN, this is how a caller
   * learns the port, whatever LOG_LEVEL hides (docs/interface.md §1). */
  const char *colon = strrchr(s->set.listen, ':');
  printf("listening %.*s:%d\n", (int)(colon ? colon - s->set.listen : 0), s->set.listen, hl_http_server_port(s->http));
  fflush(stdout);
  if (s->kafka) hl_log_info("queue is kafka", "\"brokers\":\"%s\",\"role\":%d", hl_log_esc(s->set.cfg->kafka_brokers, (size_t)-1), s->set.cfg->role);
}

static int settings_from_config(const hl_config *c, serve_settings *set) {
  memset(set, 0, sizeof *set);
  set->listen = c->listen;
  set->data_dir = c->data_dir;
  hl_app_table_names(c, &set->tables);
  set->retry_schedule = c->retry_schedule;
  set->max_in_flight = (unsigned)c->max_in_flight;
  set->high_water = c->queue_high_water;
  set->allow_private = c->allow_private_targets;
  set->admin_token = c->admin_token;
  set->api_token = c->api_token;
  set->ingress_prefix = c->ingress_topic_prefix;
  set->egress_prefix = c->egress_topic_prefix;
  set->drain_timeout_ms = 25000;
  set->cfg = c;
  set->kafka = c->queue == HL_QUEUE_KAFKA;
  set->ddb_queue = c->queue == HL_QUEUE_DYNAMODB;
  return 0;
}

/* A configuration error found before anything runs: close what is open
 * (the KMS client, the store, curl) and leave with 2. */
static int close_early(serve *s) {
  if (s->have_kms) {
    int closed = 0;
    s->have_kms = false;
    hl_app_kms_close(&s->kms, set_flag, &closed);
    while (!closed && uv_run(&s->loop, UV_RUN_ONCE)) {}
  }
  hl_app_store_close_wait(s->store, &s->loop);
  hl_curl_uv_end_run(&s->curl, &s->loop);
  return 2;
}

int hl_serve_run(const hl_config *cfg) {
  static serve sv; /* one per process; static keeps it out of the signal path's way */
  serve *s = &sv;
  memset(s, 0, sizeof *s);
  if (settings_from_config(cfg, &s->set) != 0) return 2;
  signal(SIGPIPE, SIG_IGN);
  if (hl_curl_global_init() != 0) {
    fprintf(stderr, "hookloop: libcurl failed to initialise\n");
    return 1;
  }
  uv_loop_init(&s->loop);
  char err[512] = "";
  /* curl first: the DynamoDB store talks through it (and closes before it). */
  hl_curl_uv_init(&s->curl, &s->loop, (long)s->set.max_in_flight + 256);
  int rc = hl_app_store_open(&s->loop, &s->curl, cfg, s->set.data_dir, !s->set.kafka && !s->set.ddb_queue, &s->store, err, sizeof err);
  if (rc != 0) {
    fprintf(stderr, "hookloop: %s\n", err);
    hl_curl_uv_end_run(&s->curl, &s->loop);
    return 1;
  }
  if (cfg->kms_key_id && *cfg->kms_key_id) {
    if (hl_app_kms_init(&s->kms, &s->loop, &s->curl, s->store, cfg, err, sizeof err) != 0) {
      fprintf(stderr, "hookloop: %s\n", err);
      return close_early(s);
    }
    s->have_kms = true;
  }
  if (cfg->webhook_secret_arn && *cfg->webhook_secret_arn) {
    if (hl_app_secrets_init(&s->secrets, &s->loop, &s->curl, cfg, err, sizeof err) != 0) {
      fprintf(stderr, "hookloop: WEBHOOK_SECRET_ARN: %s\n", err);
      return close_early(s);
    }
    s->have_secrets = true;
  }
  hl_buf perr = HL_BUF_INIT;
  if (hl_retry_schedule_parse(s->set.retry_schedule, &s->schedule, &perr) != 0) {
    fprintf(stderr, "hookloop: HOOKLOOP_RETRY_SCHEDULE: %s\n", perr.data ? perr.data : "invalid");
    hl_buf_dispose(&perr);
    return 2;
  }
  hl_buf_dispose(&perr);
  hl_metrics_init(&s->metrics);
  hl_registry_init(&s->reg);
  if (s->set.kafka) {
    const hl_config *c = s->set.cfg;
    if (hl_app_kafka_auth_open(&s->kauth, &s->loop, &s->curl, c, err, sizeof err) != 0) {
      fprintf(stderr, "hookloop: Kafka: %s\n", err);
      return 2;
    }
    s->kcfg = (hl_kafka_config){.brokers = c->kafka_brokers, .group_id = c->kafka_group_id,
                                .group_instance_id = c->kafka_group_instance_id,
                                .security_protocol = c->kafka_security_protocol, .sasl = s->kauth.sasl,
                                .session_timeout_ms = (int)c->kafka_session_timeout_ms,
                                .message_timeout_ms = (int)c->kafka_message_timeout_ms, .debug = c->kafka_debug,
                                .on_fatal = on_kafka_fatal, .fatal_data = s};
    if (hl_kafka_create(&s->loop, &s->kcfg, &s->kafka, err, sizeof err) != 0) {
      fprintf(stderr, "hookloop: Kafka: %s; check KAFKA_BROKERS and KAFKA_SECURITY_PROTOCOL\n", err);
      return 2;
    }
    hl_pipeline_options po = {
      .processor = c->role != HL_ROLE_DISPATCHER, .dispatcher = c->role != HL_ROLE_PROCESSOR,
      .ingress_prefix = c->ingress_topic_prefix, .egress_prefix = c->egress_topic_prefix,
      .retry_prefix = c->retry_topic_prefix, .dlq_topic = c->dlq_topic, .schedule = s->schedule,
      .metrics = &s->metrics, .kafka_cfg = &s->kcfg, .processor_retries = true,
    };
    s->pipe = hl_pipeline_create(&s->loop, s->kafka, &s->reg, s->store, &po);
  }
  hl_dispatch_options dopt = {
    .max_in_flight = s->set.max_in_flight, .allow_private_targets = s->set.allow_private,
    .tls = hl_config_tls(cfg),
    .default_schedule = s->schedule, .on_outcome = on_outcome, .outcome_data = s,
    .queue = s->pipe ? hl_pipeline_queue(s->pipe) : NULL, /* NULL: the embedded queue */
    .default_secret = s->have_secrets ? default_secret : NULL, .default_secret_data = &s->secrets,
    .breaker_failures = (unsigned)cfg->breaker_failures, .breaker_open_ms = (uint64_t)cfg->breaker_open_ms,
    .disable_after_failures = (unsigned)cfg->disable_after_failures,
    .breaker_window_ms = (uint64_t)cfg->breaker_window_ms, .breaker_window_min = (unsigned)cfg->breaker_min_attempts,
    .breaker_failure_pct = (unsigned)cfg->breaker_failure_rate, .adaptive_concurrency = cfg->adaptive_concurrency,
    .on_sub_disabled = on_sub_disabled, .disabled_data = s,
  };
  if (cfg->partner_info_url && *cfg->partner_info_url) {
    hl_pinfo_options po = {
      .url = cfg->partner_info_url, .token = cfg->partner_info_token, .key = cfg->partner_info_key,
      .ttl_ms = (uint64_t)cfg->partner_info_ttl_s * 1000, .timeout_ms = (long)cfg->partner_info_timeout_ms,
      .deliver_unenriched = cfg->partner_info_deliver_unenriched,
      .max_partners = (size_t)cfg->partner_info_max_partners,
      .breaker_failures = (unsigned)cfg->partner_info_breaker_failures,
      .breaker_open_ms = (uint64_t)cfg->partner_info_breaker_open_ms,
    };
    if (cfg->partner_info_sigv4) {
      hl_aws_creds_env env = hl_app_creds_env(cfg);
      char cerr[256] = "";
      if (hl_aws_creds_init(&s->pinfo_creds, &s->loop, &s->curl, &env, cerr, sizeof cerr) != 0) {
        fprintf(stderr, "hookloop: PARTNER_INFO_AUTH=sigv4: %s\n", cerr);
        exit(2);
      }
      s->have_pinfo_creds = true;
      po.creds = &s->pinfo_creds;
      po.region = hl_config_partner_info_region(cfg);
    }
    char perr[256];
    s->pinfo = hl_pinfo_create(&s->loop, &s->curl, &po, perr, sizeof perr);
    if (!s->pinfo) { /* the settings were checked at load: only a bad PARTNER_INFO_KEY pointer gets here */
      fprintf(stderr, "hookloop: %s\n", perr);
      exit(2);
    }
    dopt.pinfo = s->pinfo;
  }
  if (s->set.ddb_queue) {
    hl_queue_ddb_options qd = {.store = s->store, .table = cfg->delivery_queue_table, .reg = &s->reg,
                               .adopt_window_ms = (uint64_t)cfg->config_ttl_s * 1000 + 10000};
    s->ddbq = hl_queue_ddb_create(&qd);
    dopt.queue = s->ddbq;
  }
  dopt.sender = hl_app_sender_create(&s->loop, &s->curl, s->set.cfg, &dopt);
  hl_dispatch_init(&s->dispatch, &s->loop, &s->curl, s->store, &s->reg, &dopt);
  hl_app_store_on_work(s->store, on_store_work, s);
  s->retention = hl_app_retention_start(&s->loop, s->store, s->ddbq, cfg);
  if (s->pipe) hl_pipeline_set_dispatch(s->pipe, &s->dispatch);
  hl_api_options aopt = {
    .admin_token = s->set.admin_token, .api_token = s->set.api_token,
    .ingress_prefix = s->set.ingress_prefix, .egress_prefix = s->set.egress_prefix,
    .store_name = s->store->vt->name, .allow_private_targets = s->set.allow_private,
    .require_https = cfg->require_https,
    /* With KMS, borrowed before the key is there: nothing is loaded or
     * written before on_kms_ready. */
    .sealer = s->have_kms ? &s->kms.sealer : cfg->sealer,
    .opener = s->have_kms ? &s->kms.opener : NULL,
    .default_secret = s->have_secrets, .require_partners = cfg->require_partners,
    .loop = &s->loop,
    .backlog_high_water = s->set.high_water, .default_schedule = s->schedule,
    .render_metrics = render_metrics, .on_accepted = on_accepted, .hook_data = s,
    .console = hl_config_console(cfg), .metrics = &s->metrics,
    .idempotency_ttl_s = hl_app_retention_idempotency_ttl_s(cfg),
  };
  hl_api_init(&s->api, s->store, &s->reg, &s->dispatch, &aopt);
  hl_api_use_queue(&s->api, s->dispatch.queue, s->kafka);
  if (cfg->role == HL_ROLE_INBOX &&
      hl_app_inbox_open(&s->inbox, &s->loop, &s->curl, s->store, cfg, s->have_secrets ? default_secret : NULL,
                        &s->secrets, err, sizeof err) != 0) {
    fprintf(stderr, "hookloop: HOOKLOOP_ROLE=inbox: %s\n", err);
    s->exit_code = 2;
  }
  uv_signal_init(&s->loop, &s->sigterm);
  uv_signal_init(&s->loop, &s->sigint);
  uv_timer_init(&s->loop, &s->drain_timer);
  uv_timer_init(&s->loop, &s->reload_timer);
  uv_timer_init(&s->loop, &s->queue_poll);
  s->sigterm.data = s->sigint.data = s->drain_timer.data = s->reload_timer.data = s->queue_poll.data = s;
  uv_signal_start(&s->sigterm, on_signal, SIGTERM);
  uv_signal_start(&s->sigint, on_signal, SIGINT);
  if ((rc = hl_loop_stats_init(&s->loop_stats, &s->loop)) == 0) hl_loop_stats_start(&s->loop_stats);
  else hl_log_warn("the loop's turns are not measured", "\"error\":\"%s\"", uv_strerror(rc));
  if (s->exit_code != 0) begin_close(s);
  else if (s->have_kms) hl_app_kms_start(&s->kms, on_kms_ready, s);
  else load_after_kms(s);

  hl_log_uv_start(&s->log, &s->loop); /* from here on, everything is on the loop */
  uv_run(&s->loop, UV_RUN_DEFAULT);
  hl_log_uv_close(&s->log);
  uv_run(&s->loop, UV_RUN_DEFAULT);

  hl_registry_dispose(&s->reg);
  hl_retry_schedule_free(s->schedule);
  hl_metrics_dispose(&s->metrics);
  rc = uv_loop_close(&s->loop);
  if (rc != 0) hl_log_error("the loop still had open handles at exit", "\"error\":\"%s\"", uv_strerror(rc));
  hl_curl_global_cleanup();
  hl_log_info("hookloop stopped", "\"exit_code\":%d", s->exit_code);
  return s->exit_code;
}
