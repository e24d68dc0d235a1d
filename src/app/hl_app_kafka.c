#include "app/hl_app_kafka.h"

#include <stdio.h>
#include <string.h>

#include "app/hl_app_store.h"
#include "aws/hl_aws_endpoint.h"
#include "aws/hl_secrets.h"
#include "common/hl_common.h"
#include "common/hl_log.h"
#include "json/hl_json.h"

static void wipe_free(char **p) {
  if (*p) explicit_bzero(*p, strlen(*p));
  hl_free(*p);
  *p = NULL;
}

typedef struct {
  int done, status;
  char why[320];
} first_read;

static void on_first(void *data, int status, const char *why) {
  first_read *f = data;
  f->done = 1;
  f->status = status;
  snprintf(f->why, sizeof f->why, "%s", why ? why : "");
}

static void set_flag(void *data) { *(int *)data = 1; }

/* {"username","password"} out of the SecretString, as MSK's SCRAM secrets
 * hold them. */
static int take_login(hl_app_kafka_auth *a, const char *text, char *err, size_t errlen) {
  hl_json_doc doc;
  hl_json_doc_init(&doc);
  int rc = HL_EINVAL;
  if (hl_json_parse(&doc, text, strlen(text), NULL) == 0) {
    const char *u = hl_json_str(hl_json_get(doc.root, "username"));
    const char *p = hl_json_str(hl_json_get(doc.root, "password"));
    if (u && *u && p && *p) {
      a->username = hl_strdup(u);
      a->password = hl_strdup(p);
      rc = 0;
    }
  }
  hl_json_doc_wipe(&doc);
  hl_json_doc_dispose(&doc);
  if (rc != 0)
    snprintf(err, errlen, "KAFKA_SASL_SECRET_ARN: the secret is not a JSON object with \"username\" and "
                          "\"password\" strings (the format of MSK's SCRAM secrets)");
  return rc;
}

/* Reads the SCRAM login once, running the loop until it is in (start-up:
 * nothing else is serving). A rotated secret is taken at the next start:
 * librdkafka reads sasl.password only when a client is created. */
static int read_login(hl_app_kafka_auth *a, uv_loop_t *loop, hl_curl_uv *curl, const hl_config *cfg, char *err,
                      size_t errlen) {
  const char *endpoint = hl_aws_endpoint_configured(HL_AWS_SECRETS_MANAGER, "HOOKLOOP_SECRETSMANAGER_ENDPOINT",
                                                    cfg->secretsmanager_endpoint, NULL, NULL, NULL);
  hl_secrets_config sc = {.secret_id = cfg->kafka_sasl_secret_arn, .region = cfg->aws_region, .endpoint = endpoint,
                          .creds = hl_app_creds_env(cfg), .raw = true, .var = "KAFKA_SASL_SECRET_ARN",
                          .what = "the Kafka SCRAM login (KAFKA_SASL_SECRET_ARN)"};
  hl_secrets s;
  char e[256] = "";
  if (hl_secrets_init(&s, loop, curl, &sc, e, sizeof e) != 0) {
    snprintf(err, errlen, "KAFKA_SASL_SECRET_ARN: %s", e);
    /* the provider's timer is closing */
    uv_run(loop, UV_RUN_NOWAIT);
    return HL_EINVAL;
  }
  first_read f = {0};
  hl_secrets_start(&s, on_first, &f);
  while (!f.done && uv_run(loop, UV_RUN_ONCE)) {}
  int rc = f.status;
  if (!f.done) {
    rc = HL_EIO;
    snprintf(f.why, sizeof f.why, "the read did not finish");
  }
  if (rc == 0) rc = take_login(a, hl_secrets_value(&s), err, errlen);
  else snprintf(err, errlen, "KAFKA_SASL_SECRET_ARN: could not read the secret: %s", f.why);
  int closed = 0;
  hl_secrets_close(&s, set_flag, &closed); /* wipes the value */
  while (!closed && uv_run(loop, UV_RUN_ONCE)) {}
  return rc;
}

int hl_app_kafka_auth_open(hl_app_kafka_auth *a, uv_loop_t *loop, hl_curl_uv *curl, const hl_config *cfg,
                           char *err, size_t errlen) {
  memset(a, 0, sizeof *a);
  const char *source = NULL;
  switch (cfg->kafka_auth) {
    case HL_KAFKA_AUTH_NONE:
      return 0;
    case HL_KAFKA_AUTH_MSK_IAM: {
      hl_aws_creds_env env = hl_app_creds_env(cfg);
      if (hl_msk_auth_init(&a->msk, loop, curl, cfg->aws_region, NULL, &env, err, errlen) != 0) {
        uv_run(loop, UV_RUN_NOWAIT); /* the provider's timer is closing */
        return HL_EINVAL;
      }
      a->have_msk = true;
      a->sasl = (hl_kafka_sasl){.mech = HL_KAFKA_SASL_OAUTHBEARER, .tokens = &a->msk.base};
      hl_log_info("kafka SASL", "\"mechanism\":\"AWS_MSK_IAM\",\"region\":\"%s\",\"credentials\":\"%s\"",
                  hl_log_esc(cfg->aws_region, (size_t)-1), hl_creds_source_name(a->msk.creds.source));
      return 0;
    }
    case HL_KAFKA_AUTH_SCRAM_SHA_256:
    case HL_KAFKA_AUTH_SCRAM_SHA_512:
      if (cfg->kafka_sasl_secret_arn && *cfg->kafka_sasl_secret_arn) {
        int rc = read_login(a, loop, curl, cfg, err, errlen);
        if (rc != 0) return rc;
        source = "KAFKA_SASL_SECRET_ARN";
      } else {
        source = "KAFKA_SASL_USERNAME/KAFKA_SASL_PASSWORD";
      }
      a->sasl = (hl_kafka_sasl){
          .mech = cfg->kafka_auth == HL_KAFKA_AUTH_SCRAM_SHA_256 ? HL_KAFKA_SASL_SCRAM_SHA_256 : HL_KAFKA_SASL_SCRAM_SHA_512,
          .username = a->username ? a->username : cfg->kafka_sasl_username,
          .password = a->password ? a->password : cfg->kafka_sasl_password};
      hl_log_info("kafka SASL", "\"mechanism\":\"%s\",\"username\":\"%s\",\"password\":\"set\",\"from\":\"%s\"",
                  hl_kafka_sasl_mech_name(a->sasl.mech), hl_log_esc(a->sasl.username, (size_t)-1), source);
      return 0;
  }
  return 0;
}

void hl_app_kafka_auth_close(hl_app_kafka_auth *a, void (*cb)(void *data), void *data) {
  wipe_free(&a->username);
  wipe_free(&a->password);
  a->sasl = (hl_kafka_sasl){0};
  if (a->have_msk) {
    a->have_msk = false;
    hl_msk_auth_close(&a->msk, cb, data);
    return;
  }
  if (cb) cb(data);
}
