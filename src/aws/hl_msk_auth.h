/* hl_msk_auth.h — Amazon MSK IAM authentication for librdkafka: the
 * OAUTHBEARER token source (loop/hl_kafka.h) that signs MSK IAM tokens
 * (aws/hl_msk_iam.h) with the credentials chain (aws/hl_aws_creds.h: the
 * environment as Lambda sets it, or the ECS container endpoint).
 *
 * Each request signs a token at once when the credentials are at hand, or
 * after the provider fetched them (on the loop: nothing blocks). A token
 * lives 900 s, cut to what is left of the credentials' life, so
 * librdkafka, which asks again at ~80 % of a token's life, always has a
 * new token before the old one or the credentials expire. A failure (no
 * credentials, expired ones) is answered with its reason, which names no
 * secret; librdkafka then asks again 10 s later.
 *
 * Ownership: the source owns its credentials provider. It must outlive
 * every Kafka handle given it (close the handles first), and be closed
 * before the curl multi handle it fetches through. */
#ifndef HL_MSK_AUTH_H
#define HL_MSK_AUTH_H

#include <uv.h>

#include "aws/hl_aws_creds.h"
#include "loop/hl_curl_uv.h"
#include "loop/hl_kafka.h"

typedef struct {
  hl_kafka_token_source base; /* first: what hl_kafka_config.sasl.tokens points at */
  hl_aws_creds_provider creds;
  char *region, *host;
  unsigned pending;           /* requests waiting on the credentials */
} hl_msk_auth;

/* region: the cluster's (signs the token; required). host: NULL signs
 * kafka.<region>.amazonaws.com as AWS's signers do. env: where the
 * credentials come from (copied). Returns 0, or HL_EINVAL with a message
 * in err naming the variable to set. */
int hl_msk_auth_init(hl_msk_auth *a, uv_loop_t *loop, hl_curl_uv *curl, const char *region, const char *host,
                     const hl_aws_creds_env *env, char *err, size_t errlen);
/* Closes the credentials provider; cb runs once it is closed. The Kafka
 * handles using a must be closed already (no request may be pending). */
void hl_msk_auth_close(hl_msk_auth *a, void (*cb)(void *data), void *data);

#endif
