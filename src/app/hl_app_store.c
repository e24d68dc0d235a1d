#include "app/hl_app_store.h"

#include <stdio.h>

#include "aws/hl_aws_endpoint.h"
#include "common/hl_common.h"
#include "store/hl_store_ddb.h"
#include "store/hl_store_sqlite.h"

void hl_app_table_names(const hl_config *cfg, hl_table_names *t) {
  hl_table_names_default(t);
  t->schema_table = cfg->event_schema_table;
  t->subscription_table = cfg->subscription_table;
  t->kafka_table = cfg->event_kafka_table;
  t->delivery_table = cfg->delivery_status_table;
  t->ledger_table = cfg->idempotency_table;
  t->parked_table = cfg->parked_retry_table;
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

int hl_app_store_open(uv_loop_t *loop, hl_curl_uv *curl, const hl_config *cfg, const char *data_dir,
                      bool embedded_queue, hl_store **out, char *err, size_t errlen) {
  hl_table_names t;
  hl_app_table_names(cfg, &t);
  *out = NULL;
  if (cfg->store == HL_STORE_SQLITE) return hl_store_sqlite_open(loop, data_dir, &t, out, err, errlen);
  hl_store *queue = NULL;
  if (embedded_queue) {
    int rc = hl_store_sqlite_open(loop, data_dir, &t, &queue, err, errlen);
    if (rc != 0) return rc;
  }
  hl_ddb_config dc = {
      .client = {.endpoint = cfg->dynamodb_endpoint,
                 /* A local endpoint needs no region, but SigV4 always signs one. */
                 .region = cfg->aws_region && *cfg->aws_region ? cfg->aws_region : "us-east-1"},
      .creds = hl_app_creds_env(cfg),
      .tables = t,
  };
  return hl_store_ddb_open(loop, curl, &dc, queue, out, err, errlen);
}
