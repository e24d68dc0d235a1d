#include "app/hl_app_store.h"

#include <stdio.h>

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
      .creds = {.access_key_id = cfg->aws_access_key_id, .secret_access_key = cfg->aws_secret_access_key,
                .session_token = cfg->aws_session_token,
                .container_relative_uri = cfg->aws_container_relative_uri,
                .container_full_uri = cfg->aws_container_full_uri,
                .container_auth_token = cfg->aws_container_auth_token,
                .container_auth_token_file = cfg->aws_container_auth_token_file},
      .tables = t,
  };
  return hl_store_ddb_open(loop, curl, &dc, queue, out, err, errlen);
}
