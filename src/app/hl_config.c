#include "app/hl_config.h"
#include "aws/hl_aws_endpoint.h"
#include "common/hl_redact.h"
#include "common/hl_common.h"
#include "model/hl_retry.h"
#include "model/hl_topic.h"
#include "json/hl_json.h"
#include "loop/hl_http_server.h"

#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <errno.h>
#include <unistd.h>

/* How a setting's value is read, and shown by hl_config_describe. */
typedef enum {
  KIND_TEXT,   /* a char *, kept as given */
  KIND_SECRET, /* a char *, shown only as "set" or "unset" */
  KIND_WHOLE,  /* an int64_t from lo to hi; unset without a default: 0, which its user reads as "its own default" */
  KIND_FLAG,   /* a bool: 1/true/yes or 0/false/no/empty */
  KIND_CHOICE, /* a word from a list, read by choice() and shown by describe_choice() */
} setting_kind;

/* The settings, by name, with defaults: the one list a new setting joins. */
typedef struct {
  const char *name;
  setting_kind kind;
  size_t offset;    /* of the field in hl_config; not used by KIND_CHOICE */
  const char *def;  /* NULL: unset */
  long long lo, hi; /* KIND_WHOLE's range */
  const char *what; /* KIND_WHOLE: what is accepted, for the error */
} setting;

#define S(name, field, def) {name, KIND_TEXT, offsetof(hl_config, field), def, 0, 0, NULL}
#define SECRET(name, field) {name, KIND_SECRET, offsetof(hl_config, field), NULL, 0, 0, NULL}
#define W(name, field, def, lo, hi, what) {name, KIND_WHOLE, offsetof(hl_config, field), def, lo, hi, what}
#define F(name, field, def) {name, KIND_FLAG, offsetof(hl_config, field), def, 0, 0, NULL}
#define C(name, def) {name, KIND_CHOICE, 0, def, 0, 0, NULL}

static const setting settings[] = {
  S("HOOKLOOP_LISTEN", listen, "127.0.0.1:8080"),
  S("HOOKLOOP_DATA_DIR", data_dir, "./hookloop-data"),
  C("HOOKLOOP_STORE", "sqlite"),
  C("HOOKLOOP_QUEUE", NULL),
  C("HOOKLOOP_ROLE", "all"),
  S("KAFKA_BROKERS", kafka_brokers, NULL),
  S("KAFKA_GROUP_ID", kafka_group_id, "hookloop"),
  S("KAFKA_GROUP_INSTANCE_ID", kafka_group_instance_id, NULL),
  S("KAFKA_SECURITY_PROTOCOL", kafka_security_protocol, "plaintext"),
  C("KAFKA_SASL_MECHANISM", NULL),
  C("KAFKA_AUTH", NULL),
  S("KAFKA_SASL_USERNAME", kafka_sasl_username, NULL),
  SECRET("KAFKA_SASL_PASSWORD", kafka_sasl_password),
  S("KAFKA_SASL_SECRET_ARN", kafka_sasl_secret_arn, NULL),
  S("DYNAMODB_ENDPOINT", dynamodb_endpoint, NULL),
  S("AWS_REGION", aws_region, NULL),
  SECRET("AWS_ACCESS_KEY_ID", aws_access_key_id),
  SECRET("AWS_SECRET_ACCESS_KEY", aws_secret_access_key),
  SECRET("AWS_SESSION_TOKEN", aws_session_token),
  S("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", aws_container_relative_uri, NULL),
  S("AWS_CONTAINER_CREDENTIALS_FULL_URI", aws_container_full_uri, NULL),
  SECRET("AWS_CONTAINER_AUTHORIZATION_TOKEN", aws_container_auth_token),
  S("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", aws_container_auth_token_file, NULL),
  S("EVENT_SCHEMA_TABLE", event_schema_table, "event_schema"),
  S("SUBSCRIPTION_TABLE", subscription_table, "partner_event_subscription"),
  S("EVENT_KAFKA_TABLE", event_kafka_table, "event_subscription_kafka"),
  S("DELIVERY_STATUS_TABLE", delivery_status_table, "event_delivery_status"),
  S("IDEMPOTENCY_TABLE", idempotency_table, "idempotency_ledger"),
  S("PARKED_RETRY_TABLE", parked_retry_table, "parked_retry"),
  S("TRANSFORMATION_TABLE", transformation_table, "transformation"),
  S("PARTNER_TABLE", partner_table, "partner"),
  S("ATTEMPT_TABLE", attempt_table, "delivery_attempt"),
  S("EVENTS_TABLE", events_table, "webhook_events"),
  W("EVENTS_TTL_DAYS", events_ttl_days, "0", 0, 36500, "whole days from 0 (kept) to 36500"),
  W("HOOKLOOP_RETENTION_DAYS", retention_days, "30", 1, 36500, "whole days from 1 to 36500"),
  W("HOOKLOOP_RETENTION_FAILED_DAYS", retention_failed_days, "90", 1, 36500, "whole days from 1 to 36500"),
  /* For tests: how long a retention "day" lasts. */
  W("HOOKLOOP_RETENTION_UNIT_MS", retention_unit_ms, "86400000", 1, 86400000, "whole milliseconds from 1 to 86400000"),
  S("DELIVERY_QUEUE_TABLE", delivery_queue_table, "delivery_queue"),
  S("INGRESS_TOPIC_PREFIX", ingress_topic_prefix, "wh.ingress"),
  S("EGRESS_TOPIC_PREFIX", egress_topic_prefix, "wh.egress"),
  S("HOOKLOOP_RETRY_TOPIC_PREFIX", retry_topic_prefix, "wh.retry"),
  S("HOOKLOOP_DLQ_TOPIC", dlq_topic, "wh.dlq"),
  S("HOOKLOOP_RETRY_SCHEDULE", retry_schedule, "1s,5s,30s,2m,10m,1h,4h"),
  W("HOOKLOOP_MAX_IN_FLIGHT", max_in_flight, "10000", 1, 1000000, "a whole number from 1 to 1000000"),
  W("HOOKLOOP_MAX_BUFFERED_BODY_BYTES", max_buffered_body_bytes, "268435456", 1, LLONG_MAX,
    "a whole number of bytes, at least 1"),
  W("HOOKLOOP_QUEUE_HIGH_WATER", queue_high_water, "1000000", 1, LLONG_MAX, "a whole number of deliveries, at least 1"),
  W("HOOKLOOP_QUEUE_POLL_MS", queue_poll_ms, "1000", 10, 3600000, "whole milliseconds from 10 to 3600000"),
  W("HOOKLOOP_SQLITE_COMMIT_MS", sqlite_commit_ms, "0", 0, 1000, "whole milliseconds from 0 (every loop turn) to 1000"),
  /* librdkafka's range for session.timeout.ms; the brokers' group.min/
   * max.session.timeout.ms narrow it further when the consumer joins. */
  W("HOOKLOOP_KAFKA_SESSION_TIMEOUT_MS", kafka_session_timeout_ms, NULL, 1, 3600000,
    "whole milliseconds from 1 to 3600000"),
  /* 0, librdkafka's "forever", would hold a producer call unanswered for
   * as long as the brokers are away: refused. */
  W("HOOKLOOP_KAFKA_MESSAGE_TIMEOUT_MS", kafka_message_timeout_ms, NULL, 1, 2147483647,
    "whole milliseconds from 1 to 2147483647"),
  S("HOOKLOOP_KAFKA_DEBUG", kafka_debug, NULL),
  W("HOOKLOOP_PG_POOL_SIZE", pg_pool_size, NULL, 1, 1000, "a whole number of connections from 1 to 1000"),
  W("HOOKLOOP_PG_WAIT_MS", pg_wait_ms, NULL, 1, 86400000, "whole milliseconds from 1 to 86400000"),
  /* The heartbeat renews leases every third of it: at least a second, so
   * the heartbeat is never a busy timer. */
  W("HOOKLOOP_PG_LEASE_MS", pg_lease_ms, NULL, 1000, 86400000, "whole milliseconds from 1000 to 86400000"),
  /* How long a sent statement waits for its answer before its connection
   * is dropped, and how long the listening connection may be quiet before
   * it asks the server something: together, how soon a server that stopped
   * answering (a failover, a cut network) is noticed. At least 100 ms, so
   * that neither is a busy timer. */
  W("HOOKLOOP_PG_ANSWER_MS", pg_answer_ms, NULL, 100, 86400000, "whole milliseconds from 100 to 86400000"),
  W("HOOKLOOP_PG_LISTEN_PROBE_MS", pg_listen_probe_ms, NULL, 100, 86400000, "whole milliseconds from 100 to 86400000"),
  F("HOOKLOOP_LAMBDA_PARTIAL_BATCH", lambda_partial_batch, "0"),
  W("HOOKLOOP_CONFIG_TTL_S", config_ttl_s, "60", 0, 86400, "whole seconds from 0 (never reload) to 86400"),
  SECRET("HOOKLOOP_ADMIN_TOKEN", admin_token),
  SECRET("HOOKLOOP_API_TOKEN", api_token),
  F("HOOKLOOP_ALLOW_PRIVATE_TARGETS", allow_private_targets, "0"),
  C("HOOKLOOP_TLS_MIN", "1.2"),
  S("HOOKLOOP_CA_FILE", ca_file, NULL),
  F("HOOKLOOP_REQUIRE_HTTPS", require_https, "0"),
  S("HOOKLOOP_SECRET_KEY_FILE", secret_key_file, NULL),
  S("HOOKLOOP_KMS_KEY_ID", kms_key_id, NULL),
  W("HOOKLOOP_KMS_DATA_KEY_TTL_S", kms_data_key_ttl_s, "3600", 1, 604800, "whole seconds from 1 to 604800"),
  F("HOOKLOOP_REQUIRE_PARTNERS", require_partners, "0"),
  W("HOOKLOOP_BREAKER_FAILURES", breaker_failures, "10", 0, 1000000, "a whole number from 0 to 1000000"),
  W("HOOKLOOP_BREAKER_OPEN_MS", breaker_open_ms, "30000", 1, 86400000, "a whole number from 1 to 86400000"),
  W("HOOKLOOP_DISABLE_AFTER_FAILURES", disable_after_failures, "100", 0, 1000000000, "a whole number from 0 to 1000000000"),
  W("HOOKLOOP_BREAKER_WINDOW_MS", breaker_window_ms, "30000", 1000, 86400000, "a whole number from 1000 to 86400000"),
  W("HOOKLOOP_BREAKER_MIN_ATTEMPTS", breaker_min_attempts, "20", 1, 1000000, "a whole number from 1 to 1000000"),
  W("HOOKLOOP_BREAKER_FAILURE_RATE", breaker_failure_rate, "50", 0, 100, "a percentage from 0 to 100"),
  F("HOOKLOOP_ADAPTIVE_CONCURRENCY", adaptive_concurrency, "0"),
  C("HOOKLOOP_CONSOLE", NULL),
  SECRET("DATABASE_URL", database_url),
  S("AURORA_ENDPOINT", aurora_endpoint, NULL),
  S("DATABASE_NAME", database_name, NULL),
  S("DATABASE_USER", database_user, NULL),
  SECRET("DATABASE_PASSWORD", database_password),
  S("DATABASE_PORT", database_port, NULL),
  S("DATABASE_PASSWORD_SECRET_ARN", database_password_secret_arn, NULL),
  S("WEBHOOK_SECRET_ARN", webhook_secret_arn, NULL),
  S("HOOKLOOP_SECRETSMANAGER_ENDPOINT", secretsmanager_endpoint, NULL),
  S("PARTNER_INFO_URL", partner_info_url, NULL),
  SECRET("PARTNER_INFO_TOKEN", partner_info_token),
  S("PARTNER_INFO_KEY", partner_info_key, "/partner_info"),
  W("PARTNER_INFO_TTL_S", partner_info_ttl_s, "300", 0, 86400, "whole seconds from 0 to 86400"),
  W("PARTNER_INFO_TIMEOUT_MS", partner_info_timeout_ms, "5000", 100, 60000, "a whole number of ms from 100 to 60000"),
  C("PARTNER_INFO_ON_FAILURE", "retry"),
  W("PARTNER_INFO_MAX_PARTNERS", partner_info_max_partners, "10000", 1, 10000000, "a whole number from 1 to 10000000"),
  W("PARTNER_INFO_BREAKER_FAILURES", partner_info_breaker_failures, "5", 0, 1000000, "a whole number from 0 to 1000000"),
  W("PARTNER_INFO_BREAKER_OPEN_MS", partner_info_breaker_open_ms, "30000", 1, 86400000, "a whole number from 1 to 86400000"),
  C("PARTNER_INFO_AUTH", "bearer"),
  S("PARTNER_INFO_REGION", partner_info_region, NULL),
  C("LOG_LEVEL", "info"),
};

#define NSETTINGS HL_ARRAY_SIZE(settings)

static char **field(hl_config *c, const setting *s) { return (char **)((char *)c + s->offset); }

/* A setting that is a whole decimal number from lo to hi, digits with a
 * '-' at most before them -> *out; otherwise HL_EINVAL and "NAME=v:
 * expected <what>". strtoll alone would take blanks and a '+' before the
 * digits, and a number past its range as the largest it holds (which a
 * range up to LLONG_MAX then accepts). Unset and without a default (v
 * NULL), *out stays 0: the setting's user then takes its own default. */
static int whole_setting(hl_buf *err, const char *name, const char *v, long long lo, long long hi, const char *what,
                         int64_t *out) {
  if (!v) return 0;
  const char *digits = v + (*v == '-');
  size_t len = strspn(digits, "0123456789");
  errno = 0;
  long long n = strtoll(v, NULL, 10);
  if (len == 0 || digits[len] != '\0' || errno == ERANGE || n < lo || n > hi) {
    hl_buf_printf(err, "%s=%s: expected %s", name, v, what);
    return HL_EINVAL;
  }
  *out = n;
  return 0;
}

static bool is_true(const char *v) {
  return strcmp(v, "1") == 0 || strcmp(v, "true") == 0 || strcmp(v, "yes") == 0;
}

static bool is_false(const char *v) {
  return strcmp(v, "0") == 0 || strcmp(v, "false") == 0 || strcmp(v, "no") == 0 || !*v;
}

static int read_file(const char *path, char **values, hl_buf *err) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    hl_buf_printf(err, "--config %s: cannot open the file; give the path of a JSON object of settings", path);
    return HL_EINVAL;
  }
  hl_buf text = HL_BUF_INIT;
  char chunk[4096];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) hl_buf_append(&text, chunk, n);
  fclose(f);
  hl_json_doc doc;
  hl_json_error jerr;
  hl_json_doc_init(&doc);
  int rc = 0;
  if (hl_json_parse(&doc, text.data ? text.data : "", text.len, &jerr) != 0) {
    hl_buf_printf(err, "--config %s: not valid JSON (%s at line %d, column %d)", path, jerr.message, jerr.line,
                  jerr.column);
    rc = HL_EINVAL;
  } else if (doc.root->type != HL_JSON_OBJECT) {
    hl_buf_printf(err, "--config %s: expected a JSON object of settings, e.g. {\"HOOKLOOP_LISTEN\": \"0.0.0.0:8080\"}", path);
    rc = HL_EINVAL;
  }
  for (uint32_t i = 0; rc == 0 && i < doc.root->len; i++) {
    const hl_json_member *m = &doc.root->u.members[i];
    size_t k;
    for (k = 0; k < NSETTINGS; k++)
      if (strcmp(settings[k].name, m->key) == 0) break;
    if (k == NSETTINGS) {
      hl_buf_printf(err, "--config %s: unknown setting \"%s\"; the names are those of the environment variables (see docs/configuration.md)", path, m->key);
      rc = HL_EINVAL;
      break;
    }
    const hl_json *v = &m->value;
    char *s = NULL;
    if (v->type == HL_JSON_STRING || v->type == HL_JSON_NUMBER) s = hl_strndup(v->u.str, v->len);
    else if (v->type == HL_JSON_TRUE) s = hl_strdup("1");
    else if (v->type == HL_JSON_FALSE) s = hl_strdup("0");
    else if (v->type == HL_JSON_NULL) continue;
    else {
      hl_buf_printf(err, "--config %s: \"%s\" must be a string, number or boolean", path, m->key);
      rc = HL_EINVAL;
      break;
    }
    hl_free(values[k]);
    values[k] = s;
  }
  hl_json_doc_dispose(&doc);
  hl_buf_dispose(&text);
  return rc;
}

static const char *const kafka_auth_names[] = {"none", "AWS_MSK_IAM", "SCRAM-SHA-256", "SCRAM-SHA-512"};

/* KAFKA_SASL_MECHANISM (librdkafka's names, and AWS_MSK_IAM as the MSK
 * clients spell it) or KAFKA_AUTH (iam, scram, none); set both, they must
 * agree. Unset or empty: no SASL. */
static int kafka_auth(hl_config *c, const char *name, const char *v, hl_buf *err) {
  if (!v || !*v) return 0;
  bool mech = strcmp(name, "KAFKA_SASL_MECHANISM") == 0;
  hl_kafka_auth_kind k;
  if (mech && strcasecmp(v, "AWS_MSK_IAM") == 0) k = HL_KAFKA_AUTH_MSK_IAM;
  else if (mech && strcasecmp(v, "SCRAM-SHA-512") == 0) k = HL_KAFKA_AUTH_SCRAM_SHA_512;
  else if (mech && strcasecmp(v, "SCRAM-SHA-256") == 0) k = HL_KAFKA_AUTH_SCRAM_SHA_256;
  else if (!mech && strcasecmp(v, "iam") == 0) k = HL_KAFKA_AUTH_MSK_IAM;
  else if (!mech && strcasecmp(v, "scram") == 0) k = HL_KAFKA_AUTH_SCRAM_SHA_512; /* MSK's only SCRAM */
  else if (!mech && strcasecmp(v, "none") == 0) k = HL_KAFKA_AUTH_NONE;
  else {
    hl_buf_printf(err, "%s=%s: expected %s", name, v,
                  mech ? "AWS_MSK_IAM, SCRAM-SHA-512 or SCRAM-SHA-256 (unset: no SASL)"
                       : "iam, scram (SCRAM-SHA-512) or none");
    return HL_EINVAL;
  }
  if (!mech && c->kafka_auth != HL_KAFKA_AUTH_NONE && k != c->kafka_auth) {
    hl_buf_printf(err, "KAFKA_AUTH=%s disagrees with KAFKA_SASL_MECHANISM=%s: set one of them", v,
                  kafka_auth_names[c->kafka_auth]);
    return HL_EINVAL;
  }
  c->kafka_auth = k;
  return 0;
}

static bool set(const char *s) { return s && *s; }

const char *hl_config_partner_info_region(const hl_config *c) {
  return set(c->partner_info_region) ? c->partner_info_region : set(c->aws_region) ? c->aws_region : NULL;
}

/* PARTNER_INFO_AUTH=sigv4 signs with the credentials chain for a region;
 * a bearer token beside it would be one secret too many. */
static int check_partner_info_auth(const hl_config *c, hl_buf *err) {
  if (!c->partner_info_sigv4 || !set(c->partner_info_url)) return 0;
  if (set(c->partner_info_token)) {
    hl_buf_puts(err, "PARTNER_INFO_AUTH=sigv4 signs with the AWS credentials: unset PARTNER_INFO_TOKEN");
    return HL_EINVAL;
  }
  if (!hl_config_partner_info_region(c)) {
    hl_buf_puts(err, "PARTNER_INFO_AUTH=sigv4 needs PARTNER_INFO_REGION (or AWS_REGION): the API's region");
    return HL_EINVAL;
  }
  return 0;
}

/* What the mechanism needs, named by variable, checked at start-up. */
static int check_kafka_auth(const hl_config *c, hl_buf *err) {
  bool user = set(c->kafka_sasl_username), pass = set(c->kafka_sasl_password), arn = set(c->kafka_sasl_secret_arn);
  const char *mech = kafka_auth_names[c->kafka_auth];
  switch (c->kafka_auth) {
    case HL_KAFKA_AUTH_NONE:
      if (user || pass || arn) {
        hl_buf_printf(err, "%s is set but KAFKA_SASL_MECHANISM is not: set it to SCRAM-SHA-512 or SCRAM-SHA-256",
                      user ? "KAFKA_SASL_USERNAME" : pass ? "KAFKA_SASL_PASSWORD" : "KAFKA_SASL_SECRET_ARN");
        return HL_EINVAL;
      }
      return 0;
    case HL_KAFKA_AUTH_MSK_IAM:
      if (user || pass || arn) {
        hl_buf_printf(err, "KAFKA_SASL_MECHANISM=AWS_MSK_IAM signs with the AWS credentials: unset %s (it is for SCRAM)",
                      user ? "KAFKA_SASL_USERNAME" : pass ? "KAFKA_SASL_PASSWORD" : "KAFKA_SASL_SECRET_ARN");
        return HL_EINVAL;
      }
      if (!set(c->aws_region)) {
        hl_buf_puts(err, "KAFKA_SASL_MECHANISM=AWS_MSK_IAM needs AWS_REGION (the cluster's region, which signs the token)");
        return HL_EINVAL;
      }
      return 0;
    default:
      if (arn && (user || pass)) {
        hl_buf_printf(err, "KAFKA_SASL_MECHANISM=%s: set KAFKA_SASL_SECRET_ARN or KAFKA_SASL_USERNAME and "
                      "KAFKA_SASL_PASSWORD, not both", mech);
        return HL_EINVAL;
      }
      if (!arn && (!user || !pass)) {
        hl_buf_printf(err, "KAFKA_SASL_MECHANISM=%s needs %s (or KAFKA_SASL_SECRET_ARN, a Secrets Manager secret "
                      "{\"username\",\"password\"})", mech,
                      user ? "KAFKA_SASL_PASSWORD" : pass ? "KAFKA_SASL_USERNAME" : "KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD");
        return HL_EINVAL;
      }
      return 0;
  }
}

/* A 0/1 setting. */
static int flag(const char *name, const char *v, bool *out, hl_buf *err) {
  if (is_true(v)) *out = true;
  else if (is_false(v)) *out = false;
  else {
    hl_buf_printf(err, "%s=%s: expected 0 or 1", name, v);
    return HL_EINVAL;
  }
  return 0;
}

/* The words of the choices below, each at its value's index (the enum's;
 * for two words, false and true), read and described from here alone. */
static const char *const store_words[] = {"sqlite", "dynamodb", "postgres", NULL};
static const char *const queue_words[] = {"embedded", "kafka", "dynamodb", NULL};
static const char *const role_words[] = {"all", "processor", "dispatcher", "inbox", NULL};
static const char *const tls_words[] = {"1.2", "1.3", NULL};
static const char *const pinfo_auth_words[] = {"bearer", "sigv4", NULL};
static const char *const pinfo_failure_words[] = {"retry", "deliver_unenriched", NULL};
static const char *const level_words[] = {"debug", "info", "warn", "error", NULL}; /* hl_log_level's order */

/* The index of v among words; -1 and "NAME=v: expected a, b or c" when
 * it is none of them. */
static int word(const char *name, const char *v, const char *const *words, hl_buf *err) {
  for (int i = 0; words[i]; i++)
    if (strcmp(v, words[i]) == 0) return i;
  hl_buf_printf(err, "%s=%s: expected ", name, v);
  for (int i = 0; words[i]; i++) hl_buf_printf(err, "%s%s", i == 0 ? "" : words[i + 1] ? ", " : " or ", words[i]);
  return -1;
}

/* The KIND_CHOICE settings. v is NULL when unset without a default. */
static int choice(hl_config *c, const char *name, const char *v, hl_buf *err) {
  int i = 0;
  if (strcmp(name, "HOOKLOOP_STORE") == 0) {
    if ((i = word(name, v, store_words, err)) >= 0) c->store = (hl_store_kind)i;
  } else if (strcmp(name, "HOOKLOOP_QUEUE") == 0) {
    if ((i = word(name, v, queue_words, err)) >= 0) c->queue = (hl_queue_kind)i;
  } else if (strcmp(name, "HOOKLOOP_ROLE") == 0) {
    if ((i = word(name, v, role_words, err)) >= 0) c->role = (hl_role)i;
  } else if (strcmp(name, "HOOKLOOP_TLS_MIN") == 0) {
    if ((i = word(name, v, tls_words, err)) >= 0) c->tls_min = 12 + i;
  } else if (strcmp(name, "HOOKLOOP_CONSOLE") == 0) {
    if (!v) c->console = HL_CONSOLE_AUTO; /* unset */
    else if (is_true(v)) c->console = HL_CONSOLE_ON;
    else if (is_false(v)) c->console = HL_CONSOLE_OFF;
    else {
      hl_buf_printf(err, "HOOKLOOP_CONSOLE=%s: expected 0 or 1 (unset: on when HOOKLOOP_ADMIN_TOKEN is set)", v);
      return HL_EINVAL;
    }
  } else if (strcmp(name, "KAFKA_SASL_MECHANISM") == 0 || strcmp(name, "KAFKA_AUTH") == 0) {
    return kafka_auth(c, name, v, err);
  } else if (strcmp(name, "PARTNER_INFO_AUTH") == 0) {
    if ((i = word(name, v, pinfo_auth_words, err)) >= 0) c->partner_info_sigv4 = i == 1;
  } else if (strcmp(name, "PARTNER_INFO_ON_FAILURE") == 0) {
    if ((i = word(name, v, pinfo_failure_words, err)) >= 0) c->partner_info_deliver_unenriched = i == 1;
  } else if (strcmp(name, "LOG_LEVEL") == 0) {
    if ((i = word(name, v, level_words, err)) >= 0) c->log_level = (hl_log_level)i;
  }
  return i < 0 ? HL_EINVAL : 0;
}

/* One setting's value into its field; the strings are taken (*v NULLed). */
static int take(hl_config *c, const setting *s, char **v, hl_buf *err) {
  void *f = (char *)c + s->offset;
  switch (s->kind) {
    case KIND_TEXT:
    case KIND_SECRET:
      *(char **)f = *v;
      *v = NULL;
      return 0;
    case KIND_WHOLE: return whole_setting(err, s->name, *v, s->lo, s->hi, s->what, (int64_t *)f);
    case KIND_FLAG: return *v ? flag(s->name, *v, (bool *)f, err) : 0;
    case KIND_CHOICE: return choice(c, s->name, *v, err);
  }
  return 0;
}

/* The DynamoDB queue keeps its rows beside the DynamoDB store's tables
 * (events, delivery status): with any other store it has neither. Its
 * processes all dispatch (there is no processor stage to split off). */
static int check_dynamodb_queue(const hl_config *c, hl_buf *err) {
  if (c->queue != HL_QUEUE_DYNAMODB) return 0;
  if (c->store != HL_STORE_DYNAMODB) {
    hl_buf_printf(err, "HOOKLOOP_QUEUE=dynamodb needs HOOKLOOP_STORE=dynamodb (it is %s): the queue's rows and "
                  "the events they deliver live in the DynamoDB store's tables",
                  c->store == HL_STORE_SQLITE ? "sqlite" : "postgres");
    return HL_EINVAL;
  }
  if (c->role == HL_ROLE_PROCESSOR || c->role == HL_ROLE_DISPATCHER) {
    hl_buf_puts(err, "HOOKLOOP_ROLE=processor and dispatcher split the Kafka pipeline; with HOOKLOOP_QUEUE=dynamodb "
                "use all (or inbox)");
    return HL_EINVAL;
  }
  return 0;
}

int hl_config_load(hl_config *c, const char *config_file, hl_buf *err) {
  memset(c, 0, sizeof *c);
  char *values[NSETTINGS] = {0};
  int rc = 0;
  for (size_t k = 0; k < NSETTINGS; k++)
    if (settings[k].def) values[k] = hl_strdup(settings[k].def);
  if (config_file) rc = read_file(config_file, values, err);
  for (size_t k = 0; rc == 0 && k < NSETTINGS; k++) {
    const char *e = getenv(settings[k].name);
    if (e) {
      hl_free(values[k]);
      values[k] = hl_strdup(e);
    }
  }
  /* Derived defaults. */
  size_t qi = 0, bi = 0, di = 0, ri = 0;
  for (size_t k = 0; k < NSETTINGS; k++) {
    if (strcmp(settings[k].name, "HOOKLOOP_QUEUE") == 0) qi = k;
    if (strcmp(settings[k].name, "KAFKA_BROKERS") == 0) bi = k;
    if (strcmp(settings[k].name, "DYNAMODB_ENDPOINT") == 0) di = k;
    if (strcmp(settings[k].name, "AWS_REGION") == 0) ri = k;
  }
  if (!values[qi]) values[qi] = hl_strdup(values[bi] && *values[bi] ? "kafka" : "embedded");
  if (!values[di]) {
    /* AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL, then the region's
     * endpoint (aws/hl_aws_endpoint.h); DYNAMODB_ENDPOINT, when set, won. */
    hl_buf ep = HL_BUF_INIT;
    if (hl_aws_endpoint_resolve(HL_AWS_DYNAMODB, values[ri], NULL, NULL, NULL, NULL, &ep))
      values[di] = hl_buf_steal(&ep, NULL);
    hl_buf_dispose(&ep);
  }
  for (size_t k = 0; k < NSETTINGS; k++) {
    bool text = settings[k].kind == KIND_TEXT || settings[k].kind == KIND_SECRET;
    /* After an error the strings are still taken, so dispose frees them all. */
    if (rc == 0 || text) {
      int r = take(c, &settings[k], &values[k], err);
      if (rc == 0) rc = r;
    }
    hl_free(values[k]);
  }
  if (rc == 0) {
    hl_retry_schedule *s = NULL;
    hl_buf e2 = HL_BUF_INIT;
    if (hl_retry_schedule_parse(c->retry_schedule, &s, &e2) != 0) {
      hl_buf_printf(err, "HOOKLOOP_RETRY_SCHEDULE=%s: %s", c->retry_schedule, e2.data);
      rc = HL_EINVAL;
    }
    hl_retry_schedule_free(s);
    hl_buf_dispose(&e2);
  }
  /* A region becomes part of the AWS host names: "eu west" or
   * "example.com/x" would otherwise surface later, as "needs AWS_REGION"
   * or as a request to some other host. */
  const char *const regions[][2] = {{"AWS_REGION", c->aws_region}, {"PARTNER_INFO_REGION", c->partner_info_region}};
  for (size_t i = 0; rc == 0 && i < HL_ARRAY_SIZE(regions); i++)
    if (set(regions[i][1]) && !hl_aws_region_valid(regions[i][1])) {
      hl_buf_printf(err, "%s=%s: expected an AWS region name such as eu-west-1 (lower-case letters, digits and "
                    "dashes)", regions[i][0], regions[i][1]);
      rc = HL_EINVAL;
    }
  /* Topic names: Kafka's rule, with room after a prefix for what hookloop
   * puts after it (model/hl_topic.h); found now, not as the first record
   * that cannot be produced. */
  const struct { const char *name, *value; size_t max; } topics[] = {
    {"INGRESS_TOPIC_PREFIX", c->ingress_topic_prefix, HL_TOPIC_PREFIX_MAX},
    {"EGRESS_TOPIC_PREFIX", c->egress_topic_prefix, HL_TOPIC_PREFIX_MAX},
    {"HOOKLOOP_RETRY_TOPIC_PREFIX", c->retry_topic_prefix, HL_TOPIC_PREFIX_MAX},
    {"HOOKLOOP_DLQ_TOPIC", c->dlq_topic, HL_TOPIC_MAX},
  };
  for (size_t i = 0; rc == 0 && i < HL_ARRAY_SIZE(topics); i++) {
    const char *t = topics[i].value ? topics[i].value : "";
    if (!hl_topic_name_ok(t, strlen(t)) || strlen(t) > topics[i].max) {
      hl_buf_printf(err, "%s=%s: expected 1 to %zu of letters, digits, '.', '_' and '-' (a Kafka topic name%s)",
                    topics[i].name, t, topics[i].max,
                    topics[i].max == HL_TOPIC_MAX ? "" : "'s start, with room for the rest");
      rc = HL_EINVAL;
    }
  }
  struct sockaddr_storage listen_addr;
  if (rc == 0 && hl_http_server_addr_parse(c->listen ? c->listen : "", &listen_addr) != 0) {
    /* Found now: a port of "8x" was once taken as 8, and "abc" as a free one. */
    hl_buf_printf(err, "HOOKLOOP_LISTEN=%s: expected <IPv4 address>:<port>, [<IPv6 address>]:<port> or "
                  "localhost:<port>, the port from 0 (a free one) to 65535", c->listen ? c->listen : "");
    rc = HL_EINVAL;
  }
  if (rc == 0 && c->queue == HL_QUEUE_KAFKA && !(c->kafka_brokers && *c->kafka_brokers)) {
    hl_buf_puts(err, "HOOKLOOP_QUEUE=kafka needs KAFKA_BROKERS (host:port,...)");
    rc = HL_EINVAL;
  }
  if (rc == 0) rc = check_dynamodb_queue(c, err);
  if (rc == 0) rc = check_kafka_auth(c, err);
  if (rc == 0 && c->partner_info_url && *c->partner_info_url &&
      (!strstr(c->partner_info_url, "{partner_id}") ||
       (strncmp(c->partner_info_url, "http://", 7) != 0 && strncmp(c->partner_info_url, "https://", 8) != 0))) {
    hl_buf_puts(err, "PARTNER_INFO_URL=");
    hl_redact_url(err, c->partner_info_url);
    hl_buf_puts(err, ": expected an http(s) URL with {partner_id} in it");
    rc = HL_EINVAL;
  }
  if (rc == 0) rc = check_partner_info_auth(c, err);
  if (rc == 0 && c->partner_info_key && c->partner_info_key[0] != '/') {
    hl_buf_printf(err, "PARTNER_INFO_KEY=%s: expected a JSON pointer that starts with '/'", c->partner_info_key);
    rc = HL_EINVAL;
  }
  if (rc == 0 && c->ca_file && *c->ca_file && access(c->ca_file, R_OK) != 0) {
    /* Found now rather than as every https delivery failing. */
    hl_buf_printf(err, "HOOKLOOP_CA_FILE=%s: cannot be read (%s)", c->ca_file, strerror(errno));
    rc = HL_EINVAL;
  }
  if (rc == 0 && c->secret_key_file && *c->secret_key_file) {
    c->sealer = hl_malloc(sizeof *c->sealer);
    rc = hl_sealer_load(c->sealer, c->secret_key_file, err);
    if (rc != 0) {
      hl_free(c->sealer);
      c->sealer = NULL;
    }
  }
  if (rc == 0 && c->store == HL_STORE_DYNAMODB && !(c->dynamodb_endpoint && *c->dynamodb_endpoint)) {
    hl_buf_puts(err, "HOOKLOOP_STORE=dynamodb needs AWS_REGION (or DYNAMODB_ENDPOINT, AWS_ENDPOINT_URL_DYNAMODB or AWS_ENDPOINT_URL)");
    rc = HL_EINVAL;
  }
  if (rc == 0 && c->store == HL_STORE_POSTGRES && !(c->database_url && *c->database_url) &&
      !(c->aurora_endpoint && *c->aurora_endpoint)) {
    hl_buf_puts(err, "DATABASE_URL: HOOKLOOP_STORE=postgres needs DATABASE_URL, or AURORA_ENDPOINT with "
                     "DATABASE_NAME, DATABASE_USER and DATABASE_PASSWORD (or DATABASE_PASSWORD_SECRET_ARN)");
    rc = HL_EINVAL;
  }
  return rc;
}

bool hl_config_console(const hl_config *c) {
  return c->console == HL_CONSOLE_ON || (c->console == HL_CONSOLE_AUTO && c->admin_token && *c->admin_token);
}

hl_sender_tls hl_config_tls(const hl_config *c) {
  return (hl_sender_tls){.min_version = c->tls_min == 13 ? HL_TLS_1_3 : HL_TLS_1_2,
                         .ca_file = c->ca_file && *c->ca_file ? c->ca_file : NULL};
}

void hl_config_dispose(hl_config *c) {
  if (c->sealer) hl_sealer_dispose(c->sealer); /* wipes the keys */
  hl_free(c->sealer);
  c->sealer = NULL;
  for (size_t k = 0; k < NSETTINGS; k++)
    if (settings[k].kind == KIND_TEXT || settings[k].kind == KIND_SECRET) {
      hl_free(*field(c, &settings[k]));
      *field(c, &settings[k]) = NULL;
    }
}

/* A KIND_CHOICE setting's value as the configuration took it, in a form
 * the setting accepts back; false for one shown through another
 * (KAFKA_AUTH, by KAFKA_SASL_MECHANISM). */
static bool describe_choice(const hl_config *c, const char *name, hl_jw *w) {
  const char *v;
  if (strcmp(name, "HOOKLOOP_STORE") == 0) v = store_words[c->store];
  else if (strcmp(name, "HOOKLOOP_QUEUE") == 0) v = queue_words[c->queue];
  else if (strcmp(name, "HOOKLOOP_ROLE") == 0) v = role_words[c->role];
  else if (strcmp(name, "KAFKA_SASL_MECHANISM") == 0)
    v = c->kafka_auth == HL_KAFKA_AUTH_NONE ? NULL : kafka_auth_names[c->kafka_auth]; /* unset: no SASL */
  else if (strcmp(name, "HOOKLOOP_TLS_MIN") == 0) v = tls_words[c->tls_min == 13];
  else if (strcmp(name, "PARTNER_INFO_AUTH") == 0) v = pinfo_auth_words[c->partner_info_sigv4];
  else if (strcmp(name, "PARTNER_INFO_ON_FAILURE") == 0) v = pinfo_failure_words[c->partner_info_deliver_unenriched];
  else if (strcmp(name, "LOG_LEVEL") == 0) v = level_words[c->log_level];
  else if (strcmp(name, "HOOKLOOP_CONSOLE") == 0) {
    hl_jw_key_bool(w, name, hl_config_console(c));
    return true;
  } else {
    return false;
  }
  hl_jw_key(w, name);
  if (v) hl_jw_str(w, v);
  else hl_jw_null(w);
  return true;
}

void hl_config_describe(const hl_config *c, hl_buf *out) {
  hl_jw w;
  hl_jw_open(&w, out);
  for (size_t k = 0; k < NSETTINGS; k++) {
    const setting *s = &settings[k];
    const void *f = (const char *)c + s->offset;
    switch (s->kind) {
      case KIND_TEXT: {
        /* A URL setting (an endpoint, PARTNER_INFO_URL) may carry a user
         * and password: the log line that shows it never does. */
        const char *v = *(char *const *)f;
        hl_jw_key(&w, s->name);
        if (v) {
          hl_buf b = HL_BUF_INIT;
          hl_redact_url(&b, v);
          hl_jw_strn(&w, b.data ? b.data : "", b.len);
          hl_buf_dispose(&b);
        } else {
          hl_jw_null(&w);
        }
        break;
      }
      case KIND_SECRET: {
        const char *v = *(char *const *)f;
        hl_jw_key(&w, s->name);
        hl_jw_str(&w, v && *v ? "set" : "unset");
        break;
      }
      case KIND_WHOLE:
        hl_jw_key(&w, s->name);
        /* 0 without a default: unset, the user's own default applies. */
        if (!s->def && *(const int64_t *)f == 0) hl_jw_null(&w);
        else hl_jw_int(&w, *(const int64_t *)f);
        break;
      case KIND_FLAG: hl_jw_key_bool(&w, s->name, *(const bool *)f); break;
      case KIND_CHOICE: describe_choice(c, s->name, &w); break;
    }
  }
  hl_jw_obj_end(&w);
}
