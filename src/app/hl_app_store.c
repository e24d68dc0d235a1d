#include "app/hl_app_store.h"

#include <stdio.h>

#include "aws/hl_aws_endpoint.h"
#include "common/hl_common.h"
#include "loop/hl_pg_conf.h"
#include "store/hl_store_ddb.h"
#include "store/hl_store_pg.h"
#include "store/hl_store_sqlite.h"

#include <stdlib.h>
#include <string.h>

void hl_app_table_names(const hl_config *cfg, hl_table_names *t) {
  hl_table_names_default(t);
  t->schema_table = cfg->event_schema_table;
  t->subscription_table = cfg->subscription_table;
  t->kafka_table = cfg->event_kafka_table;
  t->delivery_table = cfg->delivery_status_table;
  t->ledger_table = cfg->idempotency_table;
  t->parked_table = cfg->parked_retry_table;
  t->transform_table = cfg->transformation_table;
  t->partner_table = cfg->partner_table;
  t->attempt_table = cfg->attempt_table;
  t->events_table = cfg->events_table;
  t->queue_table = cfg->delivery_queue_table;
}

hl_aws_creds_env hl_app_creds_env(const hl_config *cfg) {
  return (hl_aws_creds_env){.access_key_id = cfg->aws_access_key_id, .secret_access_key = cfg->aws_secret_access_key,
                            .session_token = cfg->aws_session_token,
                            .container_relative_uri = cfg->aws_container_relative_uri,
                            .container_full_uri = cfg->aws_container_full_uri,
                            .container_auth_token = cfg->aws_container_auth_token,
                            .container_auth_token_file = cfg->aws_container_auth_token_file};
}

int hl_app_secrets_init(hl_secrets *s, uv_loop_t *loop, hl_curl_uv *curl, const hl_config *cfg, char *err,
                        size_t errlen) {
  uint64_t ttl_ms = (uint64_t)cfg->config_ttl_s * 1000;
  /* HOOKLOOP_SECRETSMANAGER_ENDPOINT, AWS_ENDPOINT_URL_SECRETS_MANAGER,
   * AWS_ENDPOINT_URL; else hl_secrets takes the regional endpoint of the
   * ARN's region. */
  const char *endpoint = hl_aws_endpoint_configured(HL_AWS_SECRETS_MANAGER, "HOOKLOOP_SECRETSMANAGER_ENDPOINT",
                                                    cfg->secretsmanager_endpoint, NULL, NULL, NULL);
  hl_secrets_config sc = {.secret_id = cfg->webhook_secret_arn, .region = cfg->aws_region,
                          .endpoint = endpoint, .creds = hl_app_creds_env(cfg),
                          .refresh_ms = ttl_ms && ttl_ms < 300000 ? ttl_ms : 300000};
  return hl_secrets_init(s, loop, curl, &sc, err, errlen);
}

/* --- PostgreSQL ---------------------------------------------------------------- */

typedef struct {
  const hl_config *cfg;
  const char *password; /* from DATABASE_PASSWORD_SECRET_ARN, or NULL */
} pg_lookup;

/* The DATABASE_* settings as hl_pg_conf reads them: from the configuration
 * (environment or --config file), the password from Secrets Manager when
 * DATABASE_PASSWORD_SECRET_ARN is set. */
static const char *pg_lookup_fn(void *data, const char *name) {
  const pg_lookup *l = data;
  const hl_config *c = l->cfg;
  const char *v = NULL;
  if (strcmp(name, "DATABASE_URL") == 0) v = c->database_url;
  else if (strcmp(name, "AURORA_ENDPOINT") == 0) v = c->aurora_endpoint;
  else if (strcmp(name, "DATABASE_NAME") == 0) v = c->database_name;
  else if (strcmp(name, "DATABASE_USER") == 0) v = c->database_user;
  else if (strcmp(name, "DATABASE_PASSWORD") == 0) v = l->password ? l->password : c->database_password;
  else if (strcmp(name, "DATABASE_PORT") == 0) v = c->database_port;
  return v && *v ? v : NULL;
}

typedef struct {
  bool done, closed;
  int status;
  char why[256];
} secret_wait;

static void on_secret_first(void *data, int status, const char *why) {
  secret_wait *w = data;
  w->done = true;
  w->status = status;
  snprintf(w->why, sizeof w->why, "%s", why ? why : "");
}

static void on_secret_closed(void *data) { ((secret_wait *)data)->closed = true; }

/* Reads the password once, before anything else runs on the loop: the
 * store cannot connect without it. Returns a copy, or NULL with err. */
static char *pg_password_from_secret(uv_loop_t *loop, hl_curl_uv *curl, const hl_config *cfg, char *err,
                                     size_t errlen) {
  const char *endpoint = hl_aws_endpoint_configured(HL_AWS_SECRETS_MANAGER, "HOOKLOOP_SECRETSMANAGER_ENDPOINT",
                                                    cfg->secretsmanager_endpoint, NULL, NULL, NULL);
  hl_secrets_config sc = {.secret_id = cfg->database_password_secret_arn, .region = cfg->aws_region,
                          .endpoint = endpoint, .creds = hl_app_creds_env(cfg), .json_member = "password",
                          .var = "DATABASE_PASSWORD_SECRET_ARN", .what = "the database password"};
  hl_secrets sec;
  char e[256] = "";
  if (hl_secrets_init(&sec, loop, curl, &sc, e, sizeof e) != 0) {
    snprintf(err, errlen, "%s", e); /* names DATABASE_PASSWORD_SECRET_ARN (sc.var) */
    return NULL;
  }
  secret_wait w = {0};
  hl_secrets_start(&sec, on_secret_first, &w);
  while (!w.done && uv_run(loop, UV_RUN_ONCE)) {}
  const char *v = hl_secrets_value(&sec);
  char *out = w.status == 0 && v ? hl_strdup(v) : NULL;
  if (!out)
    snprintf(err, errlen, "DATABASE_PASSWORD_SECRET_ARN: the secret could not be read (%s); check the ARN, the "
             "credentials and secretsmanager:GetSecretValue", w.why[0] ? w.why : hl_strerror(w.status));
  hl_secrets_close(&sec, on_secret_closed, &w);
  while (!w.closed && uv_run(loop, UV_RUN_ONCE)) {}
  return out;
}

static int pg_open(uv_loop_t *loop, hl_curl_uv *curl, const hl_config *cfg, const hl_table_names *t,
                   hl_store **out, char *err, size_t errlen) {
  pg_lookup l = {.cfg = cfg};
  char *password = NULL;
  bool url = cfg->database_url && *cfg->database_url;
  if (!url && cfg->database_password_secret_arn && *cfg->database_password_secret_arn) {
    password = pg_password_from_secret(loop, curl, cfg, err, errlen);
    if (!password) return HL_EINVAL;
    l.password = password;
  }
  hl_pg_conf conf;
  hl_buf e = HL_BUF_INIT;
  int rc = hl_pg_conf_load(&conf, pg_lookup_fn, &l, &e);
  if (rc != 0) {
    snprintf(err, errlen, "%s", e.data ? e.data : "the PostgreSQL settings are not usable");
  } else {
    /* Tuning for tests and benchmarks; the defaults suit production. */
    hl_store_pg_config pc = {.conf = &conf, .tables = *t, .pool_size = (int)cfg->pg_pool_size,
                             .wait_ms = (uint32_t)cfg->pg_wait_ms, .lease_ms = (uint32_t)cfg->pg_lease_ms,
                             .query_timeout_ms = (uint32_t)cfg->pg_answer_ms,
                             .listen_probe_ms = (uint32_t)cfg->pg_listen_probe_ms};
    rc = hl_store_pg_open(loop, &pc, out, err, errlen);
  }
  hl_pg_conf_dispose(&conf);
  hl_buf_dispose(&e);
  if (password) {
    memset(password, 0, strlen(password));
    hl_free(password);
  }
  return rc;
}

int hl_app_store_open(uv_loop_t *loop, hl_curl_uv *curl, const hl_config *cfg, const char *data_dir,
                      bool embedded_queue, hl_store **out, char *err, size_t errlen) {
  hl_table_names t;
  hl_app_table_names(cfg, &t);
  *out = NULL;
  if (cfg->store == HL_STORE_SQLITE) {
    int rc = hl_store_sqlite_open(loop, data_dir, &t, out, err, errlen);
    if (rc == 0) hl_store_sqlite_group_commit(*out, (uint64_t)cfg->sqlite_commit_ms, HL_SQLITE_GROUP_MAX);
    return rc;
  }
  if (cfg->store == HL_STORE_POSTGRES) return pg_open(loop, curl, cfg, &t, out, err, errlen);
  hl_store *queue = NULL;
  if (embedded_queue) {
    int rc = hl_store_sqlite_open(loop, data_dir, &t, &queue, err, errlen);
    if (rc != 0) return rc;
    hl_store_sqlite_group_commit(queue, (uint64_t)cfg->sqlite_commit_ms, HL_SQLITE_GROUP_MAX);
  }
  hl_ddb_config dc = {
      .client = {.endpoint = cfg->dynamodb_endpoint,
                 /* A local endpoint needs no region, but SigV4 always signs one. */
                 .region = cfg->aws_region && *cfg->aws_region ? cfg->aws_region : "us-east-1"},
      .creds = hl_app_creds_env(cfg),
      .tables = t,
      .events_ttl_s = cfg->events_ttl_days * 86400,
      .delivered_ttl_s = cfg->retention_days * cfg->retention_unit_ms / 1000,
      .failed_ttl_s = cfg->retention_failed_days * cfg->retention_unit_ms / 1000,
  };
  return hl_store_ddb_open(loop, curl, &dc, queue, out, err, errlen);
}

static void set_flag(void *data) { *(bool *)data = true; }

void hl_app_store_close_wait(hl_store *s, uv_loop_t *loop) {
  bool closed = false;
  s->vt->close(s, set_flag, &closed);
  while (!closed && uv_run(loop, UV_RUN_ONCE)) {}
}

void hl_app_store_on_work(hl_store *s, void (*cb)(void *data, const char *subscription_id), void *data) {
  if (s->vt->on_work) s->vt->on_work(s, cb, data);
}
