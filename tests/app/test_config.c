#include "hl_test.h"
#include "hl_testutil.h"
#include "app/hl_config.h"
#include "common/hl_common.h"
#include "json/hl_json.h"

#include <stdlib.h>

static void clear_env(void) {
  const char *vars[] = {"HOOKLOOP_LISTEN", "HOOKLOOP_DATA_DIR", "HOOKLOOP_STORE", "HOOKLOOP_QUEUE", "HOOKLOOP_ROLE",
                        "KAFKA_BROKERS", "AWS_REGION", "DYNAMODB_ENDPOINT", "HOOKLOOP_MAX_IN_FLIGHT",
                        "HOOKLOOP_RETRY_SCHEDULE", "HOOKLOOP_ADMIN_TOKEN", "AWS_SECRET_ACCESS_KEY", "LOG_LEVEL",
                        "HOOKLOOP_ALLOW_PRIVATE_TARGETS", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "HOOKLOOP_CONSOLE",
                        "KAFKA_SASL_MECHANISM", "KAFKA_AUTH", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD",
                        "KAFKA_SASL_SECRET_ARN", "DATABASE_URL", "AURORA_ENDPOINT", "HOOKLOOP_TLS_MIN",
                        "HOOKLOOP_CA_FILE", "HOOKLOOP_REQUIRE_HTTPS", "HOOKLOOP_SECRET_KEY_FILE",
                        "HOOKLOOP_KMS_KEY_ID", "PARTNER_INFO_URL", "PARTNER_INFO_KEY",
                        "PARTNER_INFO_ON_FAILURE", "PARTNER_INFO_TIMEOUT_MS", "PARTNER_INFO_AUTH",
                        "PARTNER_INFO_REGION", "PARTNER_INFO_TOKEN", "HOOKLOOP_KAFKA_SESSION_TIMEOUT_MS",
                        "HOOKLOOP_KAFKA_MESSAGE_TIMEOUT_MS", "HOOKLOOP_PG_POOL_SIZE", "HOOKLOOP_PG_WAIT_MS",
                        "HOOKLOOP_PG_LEASE_MS", "HOOKLOOP_PG_ANSWER_MS", "HOOKLOOP_PG_LISTEN_PROBE_MS",
                        "HOOKLOOP_LAMBDA_PARTIAL_BATCH", "INGRESS_TOPIC_PREFIX",
                        "EGRESS_TOPIC_PREFIX", "HOOKLOOP_RETRY_TOPIC_PREFIX", "HOOKLOOP_DLQ_TOPIC",
                        "HOOKLOOP_KAFKA_DEBUG", "HOOKLOOP_QUEUE_HIGH_WATER"};
  for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) unsetenv(vars[i]);
}

HL_TEST(defaults_follow_the_contract) {
  clear_env();
  hl_config c;
  hl_buf err = HL_BUF_INIT;
  HL_ASSERT_EQ_INT(hl_config_load(&c, NULL, &err), 0);
  HL_ASSERT_EQ_STR(c.listen, "127.0.0.1:8080");
  HL_ASSERT_EQ_STR(c.data_dir, "./hookloop-data");
  HL_ASSERT_EQ_INT(c.store, HL_STORE_SQLITE);
  HL_ASSERT_EQ_INT(c.queue, HL_QUEUE_EMBEDDED);
  HL_ASSERT_EQ_INT(c.role, HL_ROLE_ALL);
  HL_ASSERT_EQ_STR(c.retry_schedule, "1s,5s,30s,2m,10m,1h,4h");
  HL_ASSERT_EQ_INT(c.max_in_flight, 10000);
  HL_ASSERT_EQ_STR(c.event_schema_table, "event_schema");
  HL_ASSERT_EQ_STR(c.idempotency_table, "idempotency_ledger");
  HL_ASSERT_EQ_STR(c.ingress_topic_prefix, "wh.ingress");
  HL_ASSERT_EQ_STR(c.dlq_topic, "wh.dlq");
  HL_ASSERT(!c.allow_private_targets);
  /* Partners over TLS: 1.2 at least, the system's CAs, http:// allowed. */
  hl_sender_tls tls = hl_config_tls(&c);
  HL_ASSERT_EQ_INT(tls.min_version, HL_TLS_1_2);
  HL_ASSERT(tls.ca_file == NULL);
  HL_ASSERT(!c.require_https);
  HL_ASSERT_EQ_INT(c.kafka_session_timeout_ms, 0); /* librdkafka's */
  HL_ASSERT_EQ_INT(c.kafka_message_timeout_ms, 0); /* hl_kafka's 30 s */
  HL_ASSERT_EQ_INT(c.pg_pool_size, 0);             /* the PostgreSQL store's own */
  HL_ASSERT_EQ_INT(c.pg_wait_ms, 0);
  HL_ASSERT_EQ_INT(c.pg_lease_ms, 0);
  HL_ASSERT_EQ_INT(c.pg_answer_ms, 0);
  HL_ASSERT_EQ_INT(c.pg_listen_probe_ms, 0);
  HL_ASSERT(!c.lambda_partial_batch);
  hl_config_dispose(&c);
  /* Kafka becomes the queue when brokers are given; the endpoint follows
   * the region; the tuning settings are taken as given. */
  static const char *const given[][2] = {
    {"KAFKA_BROKERS", "127.0.0.1:9092"}, {"AWS_REGION", "eu-west-1"},
    {"HOOKLOOP_KAFKA_SESSION_TIMEOUT_MS", "6000"}, {"HOOKLOOP_KAFKA_MESSAGE_TIMEOUT_MS", "4000"},
    {"HOOKLOOP_PG_POOL_SIZE", "4"}, {"HOOKLOOP_PG_WAIT_MS", "1500"}, {"HOOKLOOP_PG_LEASE_MS", "3000"},
    {"HOOKLOOP_PG_ANSWER_MS", "2500"}, {"HOOKLOOP_PG_LISTEN_PROBE_MS", "4000"}, {"HOOKLOOP_LAMBDA_PARTIAL_BATCH", "1"},
  };
  for (size_t i = 0; i < HL_ARRAY_SIZE(given); i++) setenv(given[i][0], given[i][1], 1);
  HL_ASSERT_EQ_INT(hl_config_load(&c, NULL, &err), 0);
  HL_ASSERT_EQ_INT(c.kafka_session_timeout_ms, 6000);
  HL_ASSERT_EQ_INT(c.kafka_message_timeout_ms, 4000);
  HL_ASSERT_EQ_INT(c.pg_pool_size, 4);
  HL_ASSERT_EQ_INT(c.pg_wait_ms, 1500);
  HL_ASSERT_EQ_INT(c.pg_lease_ms, 3000);
  HL_ASSERT_EQ_INT(c.pg_answer_ms, 2500);
  HL_ASSERT_EQ_INT(c.pg_listen_probe_ms, 4000);
  HL_ASSERT(c.lambda_partial_batch);
  HL_ASSERT_EQ_INT(c.queue, HL_QUEUE_KAFKA);
  HL_ASSERT_EQ_STR(c.dynamodb_endpoint, "https://dynamodb.eu-west-1.amazonaws.com");
  hl_config_dispose(&c);
  clear_env();
}

HL_TEST(file_then_environment) {
  clear_env();
  char *dir = hl_tmpdir("config");
  char path[600];
  snprintf(path, sizeof path, "%s/c.json", dir);
  FILE *f = fopen(path, "w");
  fputs("{\"HOOKLOOP_LISTEN\": \"0.0.0.0:9000\", \"HOOKLOOP_MAX_IN_FLIGHT\": 5, \"HOOKLOOP_ALLOW_PRIVATE_TARGETS\": true,"
        " \"LOG_LEVEL\": \"debug\"}", f);
  fclose(f);
  setenv("HOOKLOOP_MAX_IN_FLIGHT", "7", 1); /* the environment wins */
  hl_config c;
  hl_buf err = HL_BUF_INIT;
  HL_ASSERT_MSG(hl_config_load(&c, path, &err) == 0, "%s", err.data);
  HL_ASSERT_EQ_STR(c.listen, "0.0.0.0:9000");
  HL_ASSERT_EQ_INT(c.max_in_flight, 7);
  HL_ASSERT(c.allow_private_targets);
  HL_ASSERT_EQ_INT(c.log_level, HL_LOG_DEBUG);
  hl_config_dispose(&c);
  f = fopen(path, "w");
  fputs("{\"HOOKLOOP_LISTN\": \"x\"}", f);
  fclose(f);
  HL_ASSERT_EQ_INT(hl_config_load(&c, path, &err), HL_EINVAL);
  HL_ASSERT(strstr(err.data, "unknown setting \"HOOKLOOP_LISTN\"") != NULL);
  hl_config_dispose(&c);
  hl_buf_dispose(&err);
  hl_rmtree(dir);
  free(dir);
  clear_env();
}

HL_TEST(bad_values_are_named_with_what_is_accepted) {
  const struct { const char *var, *value, *expect; } bad[] = {
    {"HOOKLOOP_STORE", "oracle", "expected sqlite, dynamodb or postgres"},
    {"HOOKLOOP_STORE", "postgres", "DATABASE_URL: HOOKLOOP_STORE=postgres needs DATABASE_URL, or AURORA_ENDPOINT"},
    {"HOOKLOOP_ROLE", "both", "expected all, processor, dispatcher or inbox"},
    {"HOOKLOOP_MAX_IN_FLIGHT", "lots", "HOOKLOOP_MAX_IN_FLIGHT=lots"},
    {"HOOKLOOP_RETRY_SCHEDULE", "1s,soon", "HOOKLOOP_RETRY_SCHEDULE=1s,soon"},
    {"LOG_LEVEL", "loud", "expected debug, info, warn or error"},
    {"HOOKLOOP_ALLOW_PRIVATE_TARGETS", "maybe", "expected 0 or 1"},
    {"HOOKLOOP_QUEUE", "kafka", "needs KAFKA_BROKERS"},
    {"HOOKLOOP_CONSOLE", "sometimes", "HOOKLOOP_CONSOLE=sometimes: expected 0 or 1"},
    {"HOOKLOOP_TLS_MIN", "1.1", "HOOKLOOP_TLS_MIN=1.1: expected 1.2 or 1.3"},
    {"HOOKLOOP_REQUIRE_HTTPS", "yes please", "HOOKLOOP_REQUIRE_HTTPS=yes please: expected 0 or 1"},
    {"HOOKLOOP_CA_FILE", "/nonexistent/ca.pem", "HOOKLOOP_CA_FILE=/nonexistent/ca.pem: cannot be read"},
    {"PARTNER_INFO_URL", "http://info/partners", "expected an http(s) URL with {partner_id} in it"},
    {"PARTNER_INFO_URL", "ftp://info/{partner_id}", "expected an http(s) URL with {partner_id} in it"},
    {"PARTNER_INFO_KEY", "partner_info", "PARTNER_INFO_KEY=partner_info: expected a JSON pointer"},
    {"PARTNER_INFO_ON_FAILURE", "drop", "PARTNER_INFO_ON_FAILURE=drop: expected retry or deliver_unenriched"},
    {"PARTNER_INFO_TIMEOUT_MS", "0", "PARTNER_INFO_TIMEOUT_MS=0: expected a whole number of ms from 100 to 60000"},
    /* read with atoi before: "30s" was 30 ms, "6e3" 6 ms, "soon" librdkafka's default */
    {"HOOKLOOP_KAFKA_SESSION_TIMEOUT_MS", "30s", "HOOKLOOP_KAFKA_SESSION_TIMEOUT_MS=30s: expected whole milliseconds"},
    {"HOOKLOOP_KAFKA_SESSION_TIMEOUT_MS", "0", "HOOKLOOP_KAFKA_SESSION_TIMEOUT_MS=0: expected whole milliseconds"},
    {"HOOKLOOP_KAFKA_MESSAGE_TIMEOUT_MS", "soon", "HOOKLOOP_KAFKA_MESSAGE_TIMEOUT_MS=soon: expected whole"},
    {"HOOKLOOP_KAFKA_MESSAGE_TIMEOUT_MS", "0", "HOOKLOOP_KAFKA_MESSAGE_TIMEOUT_MS=0: expected whole"},
    {"HOOKLOOP_KAFKA_MESSAGE_TIMEOUT_MS", "-5", "HOOKLOOP_KAFKA_MESSAGE_TIMEOUT_MS=-5: expected whole"},
    /* read beside the configuration before, a bad value the default in silence */
    {"HOOKLOOP_PG_POOL_SIZE", "two", "HOOKLOOP_PG_POOL_SIZE=two: expected a whole number of connections"},
    {"HOOKLOOP_PG_WAIT_MS", "5s", "HOOKLOOP_PG_WAIT_MS=5s: expected whole milliseconds"},
    {"HOOKLOOP_PG_LEASE_MS", "2", "HOOKLOOP_PG_LEASE_MS=2: expected whole milliseconds from 1000"},
    {"HOOKLOOP_PG_ANSWER_MS", "0", "HOOKLOOP_PG_ANSWER_MS=0: expected whole milliseconds from 100"},
    {"HOOKLOOP_PG_LISTEN_PROBE_MS", "10s", "HOOKLOOP_PG_LISTEN_PROBE_MS=10s: expected whole milliseconds from 100"},
    {"HOOKLOOP_LAMBDA_PARTIAL_BATCH", "on", "HOOKLOOP_LAMBDA_PARTIAL_BATCH=on: expected 0 or 1"},
    /* read with atoi before: "8x" listened on port 8, "abc" and "" on a free port */
    {"HOOKLOOP_LISTEN", "127.0.0.1:8x", "HOOKLOOP_LISTEN=127.0.0.1:8x: expected <IPv4 address>:<port>"},
    {"HOOKLOOP_LISTEN", "127.0.0.1:abc", "HOOKLOOP_LISTEN=127.0.0.1:abc: expected"},
    {"HOOKLOOP_LISTEN", "127.0.0.1:", "HOOKLOOP_LISTEN=127.0.0.1:: expected"},
    {"HOOKLOOP_LISTEN", "127.0.0.1:+80", "HOOKLOOP_LISTEN=127.0.0.1:+80: expected"},
    {"HOOKLOOP_LISTEN", "127.0.0.1: 80", "HOOKLOOP_LISTEN=127.0.0.1: 80: expected"},
    {"HOOKLOOP_LISTEN", "127.0.0.1:65536", "the port from 0 (a free one) to 65535"},
    {"HOOKLOOP_LISTEN", "127.0.0.1:99999999999", "HOOKLOOP_LISTEN=127.0.0.1:99999999999: expected"},
    {"HOOKLOOP_LISTEN", "127.0.0.1", "HOOKLOOP_LISTEN=127.0.0.1: expected"},
    {"HOOKLOOP_LISTEN", ":8080", "HOOKLOOP_LISTEN=:8080: expected"},
    {"HOOKLOOP_LISTEN", "example.com:80", "HOOKLOOP_LISTEN=example.com:80: expected"},
    {"HOOKLOOP_LISTEN", "::1:80", "HOOKLOOP_LISTEN=::1:80: expected"},
    {"HOOKLOOP_LISTEN", "", "HOOKLOOP_LISTEN=: expected"},
    /* a region is part of the AWS host names; with the DynamoDB store this
     * was reported as "needs AWS_REGION" */
    {"AWS_REGION", "evil.example/x", "AWS_REGION=evil.example/x: expected an AWS region name such as eu-west-1"},
    {"AWS_REGION", "EU-WEST-1", "AWS_REGION=EU-WEST-1: expected an AWS region name"},
    {"PARTNER_INFO_REGION", "eu west 1", "PARTNER_INFO_REGION=eu west 1: expected an AWS region name"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    clear_env();
    setenv(bad[i].var, bad[i].value, 1);
    hl_config c;
    hl_buf err = HL_BUF_INIT;
    HL_ASSERT_MSG(hl_config_load(&c, NULL, &err) == HL_EINVAL, "%s=%s accepted", bad[i].var, bad[i].value);
    HL_ASSERT_MSG(strstr(err.data, bad[i].expect) != NULL, "%s", err.data);
    hl_config_dispose(&c);
    hl_buf_dispose(&err);
  }
  clear_env();
}

/* A topic name Kafka would refuse stops the start, not the first record
 * produced to it; a prefix leaves room for what follows it. */
HL_TEST(topic_settings_follow_kafkas_rule) {
  char long_prefix[202], long_topic[251];
  memset(long_prefix, 'p', 201);
  long_prefix[201] = 0;
  memset(long_topic, 't', 250);
  long_topic[250] = 0;
  const struct { const char *var, *value; bool ok; } cases[] = {
    {"INGRESS_TOPIC_PREFIX", "events.in-1_x", true},
    {"INGRESS_TOPIC_PREFIX", "wh ingress", false},
    {"EGRESS_TOPIC_PREFIX", "wh/egress", false},
    {"EGRESS_TOPIC_PREFIX", "", false},
    {"HOOKLOOP_RETRY_TOPIC_PREFIX", "wh.retry\xc3\xa9", false},
    {"HOOKLOOP_RETRY_TOPIC_PREFIX", long_prefix + 1, true}, /* 200 */
    {"HOOKLOOP_RETRY_TOPIC_PREFIX", long_prefix, false},    /* 201 */
    {"HOOKLOOP_DLQ_TOPIC", long_topic + 1, true},           /* 249 */
    {"HOOKLOOP_DLQ_TOPIC", long_topic, false},              /* 250 */
    {"HOOKLOOP_DLQ_TOPIC", "..", false},
  };
  for (size_t i = 0; i < HL_ARRAY_SIZE(cases); i++) {
    clear_env();
    setenv(cases[i].var, cases[i].value, 1);
    hl_config c;
    hl_buf err = HL_BUF_INIT;
    int rc = hl_config_load(&c, NULL, &err);
    if (cases[i].ok) {
      HL_ASSERT_MSG(rc == 0, "%s=%s: %s", cases[i].var, cases[i].value, err.data);
    } else {
      HL_ASSERT_MSG(rc == HL_EINVAL, "%s=%s accepted", cases[i].var, cases[i].value);
      HL_ASSERT_MSG(strncmp(err.data, cases[i].var, strlen(cases[i].var)) == 0 && strstr(err.data, "Kafka topic name"),
                    "%s", err.data);
    }
    hl_config_dispose(&c);
    hl_buf_dispose(&err);
  }
  clear_env();
}

HL_TEST(listen_addresses_in_each_form_load) {
  const char *good[] = {"0.0.0.0:8080", "127.0.0.1:0", "127.0.0.1:65535", "[::1]:0", "[::]:8080", "localhost:9000"};
  for (size_t i = 0; i < HL_ARRAY_SIZE(good); i++) {
    clear_env();
    setenv("HOOKLOOP_LISTEN", good[i], 1);
    hl_config c;
    hl_buf err = HL_BUF_INIT;
    HL_ASSERT_MSG(hl_config_load(&c, NULL, &err) == 0, "%s: %s", good[i], err.data);
    HL_ASSERT_EQ_STR(c.listen, good[i]);
    hl_config_dispose(&c);
    hl_buf_dispose(&err);
  }
  clear_env();
}

/* The start-up line names every setting, each documented and in a form
 * the setting takes back: written as a --config file, it loads into the
 * same configuration. The tuning settings were once missing from it. */
HL_TEST(every_setting_is_described_documented_and_read_back) {
  clear_env();
  static const char *const given[][2] = {
    {"KAFKA_BROKERS", "127.0.0.1:9092"}, {"HOOKLOOP_KAFKA_SESSION_TIMEOUT_MS", "6000"},
    {"HOOKLOOP_PG_POOL_SIZE", "4"}, {"HOOKLOOP_LAMBDA_PARTIAL_BATCH", "1"}, {"LOG_LEVEL", "warn"},
    {"HOOKLOOP_TLS_MIN", "1.3"}, {"HOOKLOOP_ADMIN_TOKEN", "adm-SECRET"},
  };
  for (size_t i = 0; i < HL_ARRAY_SIZE(given); i++) setenv(given[i][0], given[i][1], 1);
  hl_config c;
  hl_buf err = HL_BUF_INIT, first = HL_BUF_INIT, file = HL_BUF_INIT, again = HL_BUF_INIT;
  HL_ASSERT_MSG(hl_config_load(&c, NULL, &err) == 0, "%s", err.data);
  hl_config_describe(&c, &first);
  hl_config_dispose(&c);
  static const char *const shown[] = {
    "\"HOOKLOOP_KAFKA_SESSION_TIMEOUT_MS\":6000", "\"HOOKLOOP_KAFKA_MESSAGE_TIMEOUT_MS\":null",
    "\"HOOKLOOP_PG_POOL_SIZE\":4", "\"HOOKLOOP_PG_LEASE_MS\":null", "\"HOOKLOOP_LAMBDA_PARTIAL_BATCH\":true",
    "\"LOG_LEVEL\":\"warn\"", "\"HOOKLOOP_TLS_MIN\":\"1.3\"", "\"HOOKLOOP_QUEUE\":\"kafka\"",
    "\"KAFKA_SASL_MECHANISM\":null", "\"HOOKLOOP_ADMIN_TOKEN\":\"set\"", "\"HOOKLOOP_MAX_IN_FLIGHT\":10000",
  };
  for (size_t i = 0; i < HL_ARRAY_SIZE(shown); i++)
    HL_ASSERT_MSG(strstr(first.data, shown[i]) != NULL, "%s not in %s", shown[i], first.data);

  char doc_path[600];
  snprintf(doc_path, sizeof doc_path, "%s/docs/configuration.md", HL_SOURCE_DIR);
  char *docs = hl_read_file(doc_path, NULL);
  HL_ASSERT(docs != NULL);
  hl_json_doc d;
  hl_json_doc_init(&d);
  HL_ASSERT_EQ_INT(hl_json_parse(&d, first.data, first.len, NULL), 0);
  HL_ASSERT(d.root->len > 80);
  /* Back as a file: the secrets (shown as set/unset) and the unset ones left out. */
  hl_buf_putc(&file, '{');
  for (uint32_t i = 0; i < d.root->len; i++) {
    const hl_json_member *m = &d.root->u.members[i];
    char name[128];
    snprintf(name, sizeof name, "`%s`", m->key);
    HL_ASSERT_MSG(strstr(docs, name) != NULL, "%s is not in docs/configuration.md", m->key);
    const char *v = hl_json_str(&m->value);
    if (m->value.type == HL_JSON_NULL || (v && (strcmp(v, "set") == 0 || strcmp(v, "unset") == 0))) continue;
    if (file.len > 1) hl_buf_putc(&file, ',');
    hl_buf_printf(&file, "\"%s\":", m->key);
    if (v) hl_buf_printf(&file, "\"%s\"", v);
    else if (m->value.type == HL_JSON_TRUE || m->value.type == HL_JSON_FALSE) hl_buf_puts(&file, m->value.type == HL_JSON_TRUE ? "true" : "false");
    else hl_buf_append(&file, m->value.u.str, m->value.len);
  }
  hl_buf_putc(&file, '}');
  hl_json_doc_dispose(&d);
  free(docs);
  clear_env();
  setenv("HOOKLOOP_ADMIN_TOKEN", "adm-SECRET", 1);
  char *dir = hl_tmpdir("config");
  char path[600];
  snprintf(path, sizeof path, "%s/described.json", dir);
  FILE *f = fopen(path, "w");
  fwrite(file.data, 1, file.len, f);
  fclose(f);
  HL_ASSERT_MSG(hl_config_load(&c, path, &err) == 0, "%s\nfrom %s", err.data, file.data);
  hl_config_describe(&c, &again);
  HL_ASSERT_EQ_STR(again.data, first.data);
  hl_config_dispose(&c);
  hl_buf_dispose(&err);
  hl_buf_dispose(&first);
  hl_buf_dispose(&file);
  hl_buf_dispose(&again);
  hl_rmtree(dir);
  free(dir);
  clear_env();
}

/* KMS alone loads (the key comes at start-up, on the loop); with a key
 * file as well (the migration from a key file to KMS) the file is read, as
 * its keys still open what they sealed. */
HL_TEST(kms_alone_or_with_a_key_file_for_the_migration) {
  clear_env();
  setenv("HOOKLOOP_KMS_KEY_ID", "alias/hookloop", 1);
  hl_config c;
  hl_buf err = HL_BUF_INIT;
  HL_ASSERT_MSG(hl_config_load(&c, NULL, &err) == 0, "%s", err.data ? err.data : "");
  HL_ASSERT_EQ_STR(c.kms_key_id, "alias/hookloop");
  HL_ASSERT(c.sealer == NULL);
  hl_config_dispose(&c);
  setenv("HOOKLOOP_SECRET_KEY_FILE", "/nonexistent/keys", 1);
  HL_ASSERT(hl_config_load(&c, NULL, &err) == HL_EINVAL); /* the file is read, and must be readable */
  HL_ASSERT_MSG(strstr(err.data, "/nonexistent/keys"), "%s", err.data);
  hl_config_dispose(&c);
  hl_buf_dispose(&err);
  clear_env();
}

/* Kafka authentication: each setting that cannot work is refused at
 * start-up, naming the variable to set (or unset). */
HL_TEST(kafka_auth_errors_name_the_variable) {
  const struct { const char *env[4][2]; const char *expect; } bad[] = {
    {{{"KAFKA_SASL_MECHANISM", "PLAIN"}}, "KAFKA_SASL_MECHANISM=PLAIN: expected AWS_MSK_IAM, SCRAM-SHA-512 or SCRAM-SHA-256"},
    {{{"KAFKA_AUTH", "kerberos"}}, "KAFKA_AUTH=kerberos: expected iam, scram (SCRAM-SHA-512) or none"},
    {{{"KAFKA_SASL_MECHANISM", "SCRAM-SHA-512"}}, "KAFKA_SASL_MECHANISM=SCRAM-SHA-512 needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"},
    {{{"KAFKA_SASL_MECHANISM", "SCRAM-SHA-256"}, {"KAFKA_SASL_USERNAME", "alice"}}, "needs KAFKA_SASL_PASSWORD"},
    {{{"KAFKA_AUTH", "scram"}, {"KAFKA_SASL_PASSWORD", "pw"}}, "SCRAM-SHA-512 needs KAFKA_SASL_USERNAME"},
    {{{"KAFKA_SASL_MECHANISM", "SCRAM-SHA-512"}, {"KAFKA_SASL_USERNAME", "alice"}, {"KAFKA_SASL_PASSWORD", "pw"},
      {"KAFKA_SASL_SECRET_ARN", "arn:aws:secretsmanager:eu-west-1:123456789012:secret:AmazonMSK_x"}}, "not both"},
    {{{"KAFKA_SASL_MECHANISM", "AWS_MSK_IAM"}}, "KAFKA_SASL_MECHANISM=AWS_MSK_IAM needs AWS_REGION"},
    {{{"KAFKA_AUTH", "iam"}}, "KAFKA_SASL_MECHANISM=AWS_MSK_IAM needs AWS_REGION"},
    {{{"KAFKA_AUTH", "iam"}, {"AWS_REGION", "eu-west-1"}, {"KAFKA_SASL_USERNAME", "alice"}}, "unset KAFKA_SASL_USERNAME"},
    {{{"KAFKA_SASL_MECHANISM", "SCRAM-SHA-512"}, {"KAFKA_AUTH", "iam"}}, "KAFKA_AUTH=iam disagrees with KAFKA_SASL_MECHANISM=SCRAM-SHA-512"},
    {{{"KAFKA_SASL_USERNAME", "alice"}, {"KAFKA_SASL_PASSWORD", "pw"}}, "KAFKA_SASL_USERNAME is set but KAFKA_SASL_MECHANISM is not"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    clear_env();
    for (size_t j = 0; j < 4 && bad[i].env[j][0]; j++) setenv(bad[i].env[j][0], bad[i].env[j][1], 1);
    hl_config c;
    hl_buf err = HL_BUF_INIT;
    HL_ASSERT_MSG(hl_config_load(&c, NULL, &err) == HL_EINVAL, "case %zu accepted", i);
    HL_ASSERT_MSG(strstr(err.data, bad[i].expect) != NULL, "case %zu: %s", i, err.data);
    HL_ASSERT(!strstr(err.data, "=pw"));
    hl_config_dispose(&c);
    hl_buf_dispose(&err);
  }
  /* What works. */
  const struct { const char *env[3][2]; hl_kafka_auth_kind want; } good[] = {
    {{{"KAFKA_SASL_MECHANISM", "AWS_MSK_IAM"}, {"AWS_REGION", "eu-west-1"}}, HL_KAFKA_AUTH_MSK_IAM},
    {{{"KAFKA_AUTH", "iam"}, {"AWS_REGION", "eu-west-1"}}, HL_KAFKA_AUTH_MSK_IAM},
    {{{"KAFKA_SASL_MECHANISM", "scram-sha-256"}, {"KAFKA_SASL_USERNAME", "alice"}, {"KAFKA_SASL_PASSWORD", "pw"}},
     HL_KAFKA_AUTH_SCRAM_SHA_256},
    {{{"KAFKA_AUTH", "scram"}, {"KAFKA_SASL_SECRET_ARN", "arn:aws:secretsmanager:eu-west-1:123456789012:secret:AmazonMSK_x"}},
     HL_KAFKA_AUTH_SCRAM_SHA_512},
    {{{"KAFKA_AUTH", "none"}}, HL_KAFKA_AUTH_NONE},
    {{{0}}, HL_KAFKA_AUTH_NONE},
  };
  for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
    clear_env();
    for (size_t j = 0; j < 3 && good[i].env[j][0]; j++) setenv(good[i].env[j][0], good[i].env[j][1], 1);
    hl_config c;
    hl_buf err = HL_BUF_INIT;
    HL_ASSERT_MSG(hl_config_load(&c, NULL, &err) == 0, "case %zu: %s", i, err.data);
    HL_ASSERT_EQ_INT(c.kafka_auth, good[i].want);
    hl_buf d = HL_BUF_INIT;
    hl_config_describe(&c, &d);
    HL_ASSERT(!strstr(d.data, "\"pw\""));
    hl_buf_dispose(&d);
    hl_config_dispose(&c);
    hl_buf_dispose(&err);
  }
  clear_env();
}

/* The console is served when asked for: HOOKLOOP_CONSOLE=1, or unset with
 * an admin token; never with HOOKLOOP_CONSOLE=0, nor by default. */
HL_TEST(the_console_is_on_only_when_asked_for) {
  const struct { const char *console, *token; bool on; } cases[] = {
    {NULL, NULL, false}, {NULL, "t", true}, {NULL, "", false}, {"1", NULL, true},
    {"0", "t", false}, {"true", NULL, true}, {"no", "t", false},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    clear_env();
    if (cases[i].console) setenv("HOOKLOOP_CONSOLE", cases[i].console, 1);
    if (cases[i].token) setenv("HOOKLOOP_ADMIN_TOKEN", cases[i].token, 1);
    hl_config c;
    hl_buf err = HL_BUF_INIT;
    HL_ASSERT_MSG(hl_config_load(&c, NULL, &err) == 0, "%s", err.data ? err.data : "");
    HL_ASSERT_MSG(hl_config_console(&c) == cases[i].on, "HOOKLOOP_CONSOLE=%s with token %s: console %s",
                  cases[i].console ? cases[i].console : "(unset)", cases[i].token ? cases[i].token : "(unset)",
                  cases[i].on ? "off" : "on");
    hl_config_dispose(&c);
    hl_buf_dispose(&err);
  }
  clear_env();
}

HL_TEST(describe_never_shows_secrets) {
  clear_env();
  setenv("HOOKLOOP_ADMIN_TOKEN", "adm-SECRET-value", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "aws-SECRET-value", 1);
  hl_config c;
  hl_buf err = HL_BUF_INIT, out = HL_BUF_INIT;
  HL_ASSERT_EQ_INT(hl_config_load(&c, NULL, &err), 0);
  hl_config_describe(&c, &out);
  HL_ASSERT(strstr(out.data, "adm-SECRET-value") == NULL && strstr(out.data, "aws-SECRET-value") == NULL);
  HL_ASSERT(strstr(out.data, "\"HOOKLOOP_ADMIN_TOKEN\":\"set\"") != NULL);
  HL_ASSERT(strstr(out.data, "\"HOOKLOOP_API_TOKEN\":\"unset\"") != NULL);
  hl_config_dispose(&c);
  hl_buf_dispose(&out);
  clear_env();
}

HL_TEST(dynamodb_endpoint_follows_the_sdk_variables) {
  clear_env();
  hl_config c;
  hl_buf err = HL_BUF_INIT;
  setenv("HOOKLOOP_STORE", "dynamodb", 1);
  /* Without a region or any endpoint variable, a DynamoDB store cannot start. */
  HL_ASSERT(hl_config_load(&c, NULL, &err) != 0);
  HL_ASSERT_MSG(strstr(err.data, "AWS_ENDPOINT_URL_DYNAMODB"), "%s", err.data);
  hl_config_dispose(&c);
  hl_buf_reset(&err);
  setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566", 1);
  HL_ASSERT_MSG(hl_config_load(&c, NULL, &err) == 0, "%s", err.data);
  HL_ASSERT_EQ_STR(c.dynamodb_endpoint, "http://127.0.0.1:4566");
  hl_config_dispose(&c);
  setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000", 1);
  HL_ASSERT_EQ_INT(hl_config_load(&c, NULL, &err), 0);
  HL_ASSERT_EQ_STR(c.dynamodb_endpoint, "http://127.0.0.1:8000");
  hl_config_dispose(&c);
  /* DYNAMODB_ENDPOINT, hookloop's own name, keeps its meaning. */
  setenv("DYNAMODB_ENDPOINT", "http://127.0.0.1:9000", 1);
  HL_ASSERT_EQ_INT(hl_config_load(&c, NULL, &err), 0);
  HL_ASSERT_EQ_STR(c.dynamodb_endpoint, "http://127.0.0.1:9000");
  hl_config_dispose(&c);
  hl_buf_dispose(&err);
  clear_env();
}

/* PARTNER_INFO_AUTH=sigv4 signs for a region (its own, or AWS_REGION)
 * with the credentials chain; a bearer token beside it is refused. */
HL_TEST(partner_info_sigv4_needs_a_region_and_no_token) {
  clear_env();
  setenv("PARTNER_INFO_URL", "https://api.example.com/prod/partners/{partner_id}", 1);
  setenv("PARTNER_INFO_AUTH", "sigv4", 1);
  hl_config c;
  hl_buf err = HL_BUF_INIT;
  HL_ASSERT(hl_config_load(&c, NULL, &err) == HL_EINVAL);
  HL_ASSERT_MSG(strstr(err.data, "PARTNER_INFO_AUTH=sigv4 needs PARTNER_INFO_REGION (or AWS_REGION)"), "%s", err.data);
  hl_config_dispose(&c);
  hl_buf_reset(&err);
  setenv("AWS_REGION", "eu-west-1", 1);
  HL_ASSERT_MSG(hl_config_load(&c, NULL, &err) == 0, "%s", err.data ? err.data : "");
  HL_ASSERT(c.partner_info_sigv4);
  HL_ASSERT_EQ_STR(hl_config_partner_info_region(&c), "eu-west-1");
  hl_config_dispose(&c);
  setenv("PARTNER_INFO_REGION", "us-east-2", 1);
  HL_ASSERT(hl_config_load(&c, NULL, &err) == 0);
  HL_ASSERT_EQ_STR(hl_config_partner_info_region(&c), "us-east-2");
  hl_config_dispose(&c);
  setenv("PARTNER_INFO_TOKEN", "tok", 1);
  HL_ASSERT(hl_config_load(&c, NULL, &err) == HL_EINVAL);
  HL_ASSERT_MSG(strstr(err.data, "unset PARTNER_INFO_TOKEN"), "%s", err.data);
  hl_config_dispose(&c);
  hl_buf_reset(&err);
  clear_env();
  setenv("PARTNER_INFO_AUTH", "basic", 1);
  HL_ASSERT(hl_config_load(&c, NULL, &err) == HL_EINVAL);
  HL_ASSERT_MSG(strstr(err.data, "PARTNER_INFO_AUTH=basic: expected bearer or sigv4"), "%s", err.data);
  hl_config_dispose(&c);
  hl_buf_dispose(&err);
  clear_env();
}

/* Writes text as dir/c.json and loads it as the --config file. */
static int load_file(hl_config *c, const char *dir, const char *text, hl_buf *err) {
  char path[600];
  snprintf(path, sizeof path, "%s/c.json", dir);
  FILE *f = fopen(path, "w");
  fputs(text, f);
  fclose(f);
  return hl_config_load(c, path, err);
}

/* The --config file takes the names of the table in docs/configuration.md
 * as keys, and the configuration line names what it took.
 * HOOKLOOP_KAFKA_DEBUG was read beside the configuration, so a file
 * holding it was refused as "unknown setting". */
HL_TEST(every_variable_of_the_table_is_a_key_of_the_config_file) {
  /* The AWS SDKs', the Lambda runtime's, glibc's and libpq's own: read
   * from the environment only, as the docs say. */
  static const char *const environment_only[] = {"AWS_ENDPOINT_URL_<SERVICE>", "AWS_ENDPOINT_URL",
                                                 "AWS_LAMBDA_RUNTIME_API", "MALLOC_ARENA_MAX", "PGSSLMODE",
                                                 "PGSSLROOTCERT"};
  clear_env();
  char doc_path[600];
  snprintf(doc_path, sizeof doc_path, "%s/docs/configuration.md", HL_SOURCE_DIR);
  char *docs = hl_read_file(doc_path, NULL);
  HL_ASSERT(docs != NULL);
  char *dir = hl_tmpdir("config");
  hl_buf err = HL_BUF_INIT, text = HL_BUF_INIT;
  int names = 0;
  for (const char *line = docs; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
    if (strncmp(line, "| `", 3) != 0) continue;
    const char *end = strchr(line + 1, '|'); /* the first column */
    for (const char *p = strchr(line, '`'); p && p < end;) {
      const char *q = strchr(p + 1, '`');
      char name[128];
      snprintf(name, sizeof name, "%.*s", (int)(q - p - 1), p + 1);
      p = strchr(q + 1, '`');
      if (name[strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_<>")] != '\0') continue; /* a value, not a name */
      bool external = false;
      for (size_t i = 0; i < HL_ARRAY_SIZE(environment_only); i++) external |= strcmp(name, environment_only[i]) == 0;
      if (external) continue;
      hl_buf_reset(&text);
      hl_buf_printf(&text, "{\"%s\": null}", name);
      hl_config c;
      int rc = load_file(&c, dir, text.data, &err);
      HL_ASSERT_MSG(rc == 0, "%s: %s", name, err.data);
      hl_config_dispose(&c);
      names++;
    }
  }
  HL_ASSERT_MSG(names > 80, "%d names in the tables", names);
  hl_config c;
  hl_buf line = HL_BUF_INIT;
  HL_ASSERT_MSG(load_file(&c, dir, "{\"HOOKLOOP_KAFKA_DEBUG\": \"cgrp,topic\"}", &err) == 0, "%s", err.data);
  hl_config_describe(&c, &line);
  HL_ASSERT_MSG(strstr(line.data, "\"HOOKLOOP_KAFKA_DEBUG\":\"cgrp,topic\""), "%s", line.data);
  hl_config_dispose(&c);
  hl_buf_dispose(&line);
  hl_buf_dispose(&text);
  hl_buf_dispose(&err);
  hl_rmtree(dir);
  free(dir);
  free(docs);
  clear_env();
}

/* A whole number is decimal digits (a '-' before them aside) within the
 * setting's range. strtoll's leading blanks and '+' were taken, and a
 * number past its range was taken as the largest it holds. */
HL_TEST(whole_number_settings_are_digits_only_and_refuse_overflow) {
  const char *bad[][2] = {
    {"HOOKLOOP_QUEUE_HIGH_WATER", "99999999999999999999999"},
    {"HOOKLOOP_QUEUE_HIGH_WATER", "9223372036854775808"},
    {"HOOKLOOP_MAX_IN_FLIGHT", " +5"},
    {"HOOKLOOP_MAX_IN_FLIGHT", "+5"},
    {"HOOKLOOP_MAX_IN_FLIGHT", " 5"},
    {"HOOKLOOP_MAX_IN_FLIGHT", "\t5"},
    {"HOOKLOOP_MAX_IN_FLIGHT", "-"},
    {"EVENTS_TTL_DAYS", "-99999999999999999999999"},
  };
  for (size_t i = 0; i < HL_ARRAY_SIZE(bad); i++) {
    clear_env();
    setenv(bad[i][0], bad[i][1], 1);
    hl_config c;
    hl_buf err = HL_BUF_INIT, want = HL_BUF_INIT;
    int rc = hl_config_load(&c, NULL, &err);
    HL_ASSERT_MSG(rc == HL_EINVAL, "%s=\"%s\" accepted as %lld", bad[i][0], bad[i][1],
                  (long long)(i < 2 ? c.queue_high_water : i < 7 ? c.max_in_flight : c.events_ttl_days));
    hl_buf_printf(&want, "%s=%s: expected ", bad[i][0], bad[i][1]);
    HL_ASSERT_MSG(strncmp(err.data, want.data, want.len) == 0, "%s", err.data);
    hl_config_dispose(&c);
    hl_buf_dispose(&err);
    hl_buf_dispose(&want);
    unsetenv(bad[i][0]);
  }
  /* The ends of a range still load. */
  clear_env();
  setenv("HOOKLOOP_QUEUE_HIGH_WATER", "9223372036854775807", 1);
  setenv("HOOKLOOP_MAX_IN_FLIGHT", "1", 1);
  hl_config c;
  hl_buf err = HL_BUF_INIT;
  HL_ASSERT_MSG(hl_config_load(&c, NULL, &err) == 0, "%s", err.data);
  HL_ASSERT(c.queue_high_water == INT64_MAX);
  HL_ASSERT_EQ_INT(c.max_in_flight, 1);
  hl_config_dispose(&c);
  hl_buf_dispose(&err);
  clear_env();
}
