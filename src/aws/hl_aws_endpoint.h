/* hl_aws_endpoint.h — which URL an AWS service is reached at, resolved the
 * way the AWS SDKs do it, so one set of variables points every client at a
 * local stand-in (LocalStack, dynalite, the test peers) or at AWS.
 *
 * First match wins:
 *   1. hookloop's own variable for the service, where one predates the SDK
 *      convention (DYNAMODB_ENDPOINT, HOOKLOOP_SECRETSMANAGER_ENDPOINT), so
 *      existing deployments keep their meaning;
 *   2. AWS_ENDPOINT_URL_<SERVICE> (SNS, SQS, EVENTBRIDGE, DYNAMODB,
 *      SECRETS_MANAGER, KMS, KAFKA);
 *   3. AWS_ENDPOINT_URL;
 *   4. the regional endpoint https://<prefix>.<region>.<partition's DNS
 *      suffix>: amazonaws.com, or amazonaws.com.cn for cn-* regions, and the
 *      ISO partitions' suffixes.
 * Steps 2 and 3 are skipped when AWS_IGNORE_CONFIGURED_ENDPOINT_URLS is
 * true, as the SDKs do. An empty variable counts as unset.
 *
 * Nothing here checks that a configured URL is usable: the client that
 * takes it does (hl_aws_client_init), naming the variable it came from. */
#ifndef HL_AWS_ENDPOINT_H
#define HL_AWS_ENDPOINT_H

#include <stdbool.h>

#include "common/hl_buf.h"

typedef enum {
  HL_AWS_SNS,
  HL_AWS_SQS,
  HL_AWS_EVENTBRIDGE,
  HL_AWS_DYNAMODB,
  HL_AWS_SECRETS_MANAGER,
  HL_AWS_KMS,
  HL_AWS_KAFKA, /* MSK: the host an IAM auth token is signed for */
  HL_AWS__NSERVICES
} hl_aws_service_id;

/* Looks a variable up (NULL: unset). hl_aws_endpoint_resolve uses getenv
 * when none is given; tests and config files pass their own. */
typedef const char *(*hl_aws_getenv_fn)(void *data, const char *name);

/* "SNS", "SECRETS_MANAGER", ...: the suffix of AWS_ENDPOINT_URL_<...>. */
const char *hl_aws_service_env_name(hl_aws_service_id svc);
/* "sns", "events", "secretsmanager", ...: the regional host's first label. */
const char *hl_aws_service_host_prefix(hl_aws_service_id svc);

/* Whether region is a plausible region name (lower-case letters, digits
 * and dashes, 1..48 bytes): it becomes part of a host name. */
bool hl_aws_region_valid(const char *region);
/* The partition's DNS suffix for region: "amazonaws.com", "amazonaws.com.cn", ... */
const char *hl_aws_dns_suffix(const char *region);

/* Appends the regional default URL (no trailing slash) to out. Returns 0,
 * or HL_EINVAL when region is missing or not valid. */
int hl_aws_endpoint_default(hl_aws_service_id svc, const char *region, hl_buf *out);

/* Steps 1-3 only: the configured URL, or NULL. *source (may be NULL) gets
 * the name of the variable it came from (legacy_name for step 1).
 * legacy_name/legacy_value may be NULL. The result points into
 * legacy_value or the environment. */
const char *hl_aws_endpoint_configured(hl_aws_service_id svc, const char *legacy_name, const char *legacy_value,
                                       hl_aws_getenv_fn env, void *env_data, const char **source);

/* All four steps: writes the URL into out (reset first) and returns the
 * source's name ("AWS_ENDPOINT_URL_SNS", "AWS_ENDPOINT_URL", legacy_name,
 * or "AWS_REGION" for the regional default), or NULL when nothing is
 * configured and the region is missing or invalid. */
const char *hl_aws_endpoint_resolve(hl_aws_service_id svc, const char *region, const char *legacy_name,
                                    const char *legacy_value, hl_aws_getenv_fn env, void *env_data, hl_buf *out);

#endif
