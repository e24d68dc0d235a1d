/* hl_config.h — configuration (docs/configuration.md): defaults, then a JSON file
 * (`--config FILE`, the same names as keys), then the environment. */
#ifndef HL_CONFIG_H
#define HL_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "common/hl_buf.h"
#include "common/hl_log.h"
#include "crypto/hl_seal.h"
#include "handlers/hl_sender_http.h"

typedef enum { HL_STORE_SQLITE, HL_STORE_DYNAMODB, HL_STORE_POSTGRES } hl_store_kind;
/* HL_QUEUE_DYNAMODB: the DynamoDB queue (queue/hl_queue_ddb.h), with HOOKLOOP_STORE=dynamodb only. */
typedef enum { HL_QUEUE_EMBEDDED, HL_QUEUE_KAFKA, HL_QUEUE_DYNAMODB } hl_queue_kind;
typedef enum { HL_CONSOLE_AUTO, HL_CONSOLE_ON, HL_CONSOLE_OFF } hl_console_mode;
/* HL_ROLE_INBOX: serve as with all, and poll the inbox (docs/inbox.md). */
typedef enum { HL_ROLE_ALL, HL_ROLE_PROCESSOR, HL_ROLE_DISPATCHER, HL_ROLE_INBOX } hl_role;
/* KAFKA_SASL_MECHANISM / KAFKA_AUTH: how the Kafka clients authenticate. */
typedef enum {
  HL_KAFKA_AUTH_NONE,
  HL_KAFKA_AUTH_MSK_IAM,       /* SASL/OAUTHBEARER with MSK IAM tokens (aws/hl_msk_auth.h) */
  HL_KAFKA_AUTH_SCRAM_SHA_256,
  HL_KAFKA_AUTH_SCRAM_SHA_512,
} hl_kafka_auth_kind;

typedef struct {
  /* Every string is owned by the config (hl_config_dispose frees it). */
  char *listen, *data_dir;
  hl_store_kind store;
  hl_queue_kind queue;
  hl_role role;
  char *kafka_brokers, *kafka_group_id, *kafka_security_protocol;
  char *kafka_group_instance_id; /* KAFKA_GROUP_INSTANCE_ID: static membership (KIP-345), NULL: dynamic */
  /* HOOKLOOP_KAFKA_SESSION_TIMEOUT_MS (the consumer group's session
   * timeout: failover speed) and HOOKLOOP_KAFKA_MESSAGE_TIMEOUT_MS (how
   * long a produce waits for its acknowledgement); 0: unset, librdkafka's
   * and 30000 respectively (loop/hl_kafka.h). */
  int64_t kafka_session_timeout_ms, kafka_message_timeout_ms;
  char *kafka_debug; /* HOOKLOOP_KAFKA_DEBUG: librdkafka's debug contexts, NULL: none */
  /* HOOKLOOP_PG_POOL_SIZE, HOOKLOOP_PG_WAIT_MS, HOOKLOOP_PG_LEASE_MS: the
   * PostgreSQL store's tuning; 0: unset, the store's defaults (2, 5000,
   * 30000; store/hl_store_pg.h). */
  int64_t pg_pool_size, pg_wait_ms, pg_lease_ms, pg_answer_ms, pg_listen_probe_ms;
  bool lambda_partial_batch; /* HOOKLOOP_LAMBDA_PARTIAL_BATCH: answer batchItemFailures */
  hl_kafka_auth_kind kafka_auth;
  /* SCRAM: the login itself, or the Secrets Manager secret holding it. */
  char *kafka_sasl_username, *kafka_sasl_password, *kafka_sasl_secret_arn;
  char *dynamodb_endpoint, *aws_region;
  char *aws_access_key_id, *aws_secret_access_key, *aws_session_token;
  /* ECS container credentials endpoint (used when the keys above are unset). */
  char *aws_container_relative_uri, *aws_container_full_uri, *aws_container_auth_token,
      *aws_container_auth_token_file;
  char *event_schema_table, *subscription_table, *event_kafka_table, *delivery_status_table,
      *idempotency_table, *parked_retry_table, *transformation_table,
      *partner_table, *attempt_table, *events_table,
      *delivery_queue_table;
  char *ingress_topic_prefix, *egress_topic_prefix, *retry_topic_prefix, *dlq_topic;
  char *retry_schedule;
  int64_t max_in_flight;
  /* Retention (docs/retention.md): delivered rows go after
   * HOOKLOOP_RETENTION_DAYS, failed ones after HOOKLOOP_RETENTION_FAILED_DAYS;
   * a "day" lasts HOOKLOOP_RETENTION_UNIT_MS (86400000; shorter in tests). */
  int64_t retention_days, retention_failed_days, retention_unit_ms;
  int64_t events_ttl_days;    /* EVENTS_TTL_DAYS: the events table's records expire then; 0: kept */
  int64_t config_ttl_s;       /* HOOKLOOP_CONFIG_TTL_S: how old schemas/subscriptions read from a shared store may get */
  int64_t queue_high_water;   /* HOOKLOOP_QUEUE_HIGH_WATER: producer calls get 503 above this backlog */
  /* HOOKLOOP_MAX_BUFFERED_BODY_BYTES: request bodies the HTTP server holds
   * across connections; a body past it is answered 503 (loop/hl_http_server.h). */
  int64_t max_buffered_body_bytes;
  int64_t sqlite_commit_ms;   /* HOOKLOOP_SQLITE_COMMIT_MS: the SQLite store's group commit window (0: every turn) */
  int64_t queue_poll_ms;      /* HOOKLOOP_QUEUE_POLL_MS: serve on the DynamoDB queue looks for due rows this often */
  char *admin_token, *api_token;
  bool allow_private_targets;
  /* Partners over TLS (docs/security.md): HOOKLOOP_TLS_MIN as 12 or 13,
   * HOOKLOOP_CA_FILE, and HOOKLOOP_REQUIRE_HTTPS (http:// URLs refused). */
  int tls_min;
  char *ca_file;
  bool require_https;
  /* HOOKLOOP_SECRET_KEY_FILE and its keys, read at load (NULL: credentials
   * are stored plain). */
  char *secret_key_file;
  hl_sealer *sealer;
  /* HOOKLOOP_KMS_KEY_ID: credentials sealed under a KMS data key instead
   * (app/hl_app_kms.h; the key comes at start-up, on the loop). */
  char *kms_key_id;
  int64_t kms_data_key_ttl_s; /* HOOKLOOP_KMS_DATA_KEY_TTL_S: how long a data key seals, and an opened one stays in memory */
  int64_t breaker_failures;       /* HOOKLOOP_BREAKER_FAILURES: failed attempts in a row that open a subscription's breaker (0: none) */
  int64_t breaker_open_ms;        /* HOOKLOOP_BREAKER_OPEN_MS: open this long, then one probe */
  int64_t disable_after_failures; /* HOOKLOOP_DISABLE_AFTER_FAILURES: failed attempts in a row that disable it (0: never) */
  /* The breaker's rate rule: HOOKLOOP_BREAKER_FAILURE_RATE % (0: off) of at
   * least HOOKLOOP_BREAKER_MIN_ATTEMPTS in HOOKLOOP_BREAKER_WINDOW_MS. */
  int64_t breaker_window_ms, breaker_min_attempts, breaker_failure_rate;
  bool adaptive_concurrency;      /* HOOKLOOP_ADAPTIVE_CONCURRENCY: AIMD per destination host */
  bool require_partners;      /* HOOKLOOP_REQUIRE_PARTNERS: a subscription must name a registered partner */
  hl_console_mode console;    /* HOOKLOOP_CONSOLE: unset (auto), 1 or 0 */
  /* Partner Info enrichment (docs/enrichment.md); off while PARTNER_INFO_URL is unset. */
  char *partner_info_url, *partner_info_token, *partner_info_key;
  int64_t partner_info_ttl_s, partner_info_timeout_ms, partner_info_max_partners;
  int64_t partner_info_breaker_failures, partner_info_breaker_open_ms;
  bool partner_info_deliver_unenriched; /* PARTNER_INFO_ON_FAILURE */
  bool partner_info_sigv4;              /* PARTNER_INFO_AUTH=sigv4 */
  char *partner_info_region;            /* PARTNER_INFO_REGION (NULL: AWS_REGION) */
  char *webhook_secret_arn;
  char *secretsmanager_endpoint; /* override for local Secrets Manager-compatible servers */
  /* HOOKLOOP_STORE=postgres (docs/postgres.md): read by hl_pg_conf. */
  char *database_url, *aurora_endpoint, *database_name, *database_user, *database_password, *database_port;
  char *database_password_secret_arn;
  hl_log_level log_level;
} hl_config;

/* Returns 0, or HL_EINVAL with a message in err naming the variable, what
 * was wrong and what is accepted. The config is usable (defaults) either way
 * and must be disposed. */
int hl_config_load(hl_config *c, const char *config_file, hl_buf *err);
void hl_config_dispose(hl_config *c);
/* Whether /console is served: HOOKLOOP_CONSOLE=1, or unset with an admin
 * token (a console over an open admin API is asked for, never implied). */
bool hl_config_console(const hl_config *c);
/* The region PARTNER_INFO_AUTH=sigv4 signs for: PARTNER_INFO_REGION, else AWS_REGION; NULL: none. */
const char *hl_config_partner_info_region(const hl_config *c);
/* The webhook sender's TLS policy; ca_file is borrowed from the config. */
hl_sender_tls hl_config_tls(const hl_config *c);
/* A JSON object for the start-up log line; secrets appear as "set"/"unset". */
void hl_config_describe(const hl_config *c, hl_buf *out);

#endif
