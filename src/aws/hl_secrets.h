/* hl_secrets.h — the default webhook signing secret, from AWS Secrets
 * Manager (WEBHOOK_SECRET_ARN).
 *
 * Subscriptions registered without a secret of their own are signed with
 * it. It is read with GetSecretValue (awsJson1_1, SigV4 with the credentials
 * chain, through aws/hl_aws_json on the loop's curl multi handle) at start, and again every
 * refresh interval, so a rotated secret is taken up without a restart; a
 * failed refresh keeps the value in hand. The SecretString is either the
 * secret itself ("whsec_...", several space-separated while rotating) or a
 * JSON object with a "webhook_secret" (or "secret") member. The value is
 * never logged.
 */
#ifndef HL_SECRETS_H
#define HL_SECRETS_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "aws/hl_aws_creds.h"
#include "aws/hl_aws_json.h"
#include "common/hl_sm.h"
#include "loop/hl_curl_uv.h"

typedef struct {
  const char *secret_id;   /* the ARN (or name) */
  const char *region;      /* NULL: taken from the ARN */
  const char *endpoint;    /* NULL: the regional endpoint (aws/hl_aws_endpoint.h) */
  hl_aws_creds_env creds;
  uint64_t refresh_ms;     /* 0: never re-read */
  /* Other secrets than the webhook secret (the Kafka SCRAM login): the
   * SecretString is taken as it is, a JSON object included, for the owner
   * to read. var names the variable in errors (NULL: WEBHOOK_SECRET_ARN),
   * what names the secret in log lines (NULL: "the default webhook secret"). */
  bool raw;
  const char *var, *what;
  /* NULL: the webhook signing secret (above). Otherwise any other secret: a
   * SecretString that is a JSON object gives this member ("password" for an
   * RDS-managed secret), any other SecretString is the value as it is. */
  const char *json_member;
} hl_secrets_config;

typedef struct {
  uv_loop_t *loop;
  hl_aws_creds_provider creds;
  hl_aws_json_client client; /* GetSecretValue calls, retried and wiped */
  hl_fetch_state state;
  char *secret_id;
  char *json_member;       /* NULL: the webhook secret */
  char *value;             /* the current secret, or NULL before the first read */
  uint64_t refresh_ms;
  bool raw;
  const char *what;        /* static text, for log lines */
  uv_timer_t timer;
  void (*first_cb)(void *data, int status, const char *why);
  void *first_data;
  void (*close_cb)(void *data);
  void *close_data;
  int closing_handles;
} hl_secrets;

/* Returns 0 or HL_EINVAL with a message in err (no credentials, no region
 * in the ARN and none given, a bad endpoint). */
int hl_secrets_init(hl_secrets *s, uv_loop_t *loop, hl_curl_uv *curl, const hl_secrets_config *cfg, char *err,
                    size_t errlen);
/* Reads the secret; first runs once with the outcome of this first read
 * (0, or a negative hl_err and why, which names no secret). */
void hl_secrets_start(hl_secrets *s, void (*first)(void *data, int status, const char *why), void *data);
/* The secret in hand, or NULL. Valid until the next loop turn. */
const char *hl_secrets_value(const hl_secrets *s);
void hl_secrets_close(hl_secrets *s, void (*cb)(void *data), void *data);

#endif
