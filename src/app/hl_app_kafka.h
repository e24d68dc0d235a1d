/* hl_app_kafka.h — the Kafka clients' authentication as the configuration
 * asks for it (KAFKA_SASL_MECHANISM / KAFKA_AUTH), the same way for serve
 * and lambda:
 *   - AWS_MSK_IAM: an MSK IAM token source (aws/hl_msk_auth.h) on the
 *     credentials chain, signing for AWS_REGION;
 *   - SCRAM-SHA-512 / -256: KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD,
 *     or the JSON secret {"username","password"} that KAFKA_SASL_SECRET_ARN
 *     names (MSK's SCRAM secret format), read once at start-up.
 * The password is never logged. */
#ifndef HL_APP_KAFKA_H
#define HL_APP_KAFKA_H

#include <stdbool.h>
#include <uv.h>

#include "app/hl_config.h"
#include "aws/hl_msk_auth.h"
#include "loop/hl_curl_uv.h"
#include "loop/hl_kafka.h"

typedef struct {
  hl_kafka_sasl sasl;          /* for hl_kafka_config.sasl; points into this struct or the config */
  hl_msk_auth msk;
  bool have_msk;
  char *username, *password;   /* read from KAFKA_SASL_SECRET_ARN (owned; the password wiped at close) */
} hl_app_kafka_auth;

/* Start-up, before any Kafka handle: with KAFKA_SASL_SECRET_ARN this runs
 * the loop until the secret is read (nothing else is serving yet). curl and
 * cfg must outlive a. Returns 0, or a negative hl_err with a message for
 * the operator in err naming the variable. */
int hl_app_kafka_auth_open(hl_app_kafka_auth *a, uv_loop_t *loop, hl_curl_uv *curl, const hl_config *cfg,
                           char *err, size_t errlen);
/* After every Kafka handle using a closed, before curl closes. cb runs
 * once everything is closed: at once when nothing was open. */
void hl_app_kafka_auth_close(hl_app_kafka_auth *a, void (*cb)(void *data), void *data);

#endif
