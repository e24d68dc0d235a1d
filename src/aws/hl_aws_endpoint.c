#include "aws/hl_aws_endpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hl_common.h"

/* The variable names are fixed by the SDK convention (the service id,
 * upper-cased, spaces as underscores). */
#define VAR_PREFIX "AWS_ENDPOINT_URL_"
static const struct {
  const char *var;  /* AWS_ENDPOINT_URL_<service> */
  const char *host; /* <host>.<region>.<suffix> */
} services[HL_AWS__NSERVICES] = {
    [HL_AWS_SNS] = {VAR_PREFIX "SNS", "sns"},
    [HL_AWS_SQS] = {VAR_PREFIX "SQS", "sqs"},
    [HL_AWS_EVENTBRIDGE] = {VAR_PREFIX "EVENTBRIDGE", "events"},
    [HL_AWS_DYNAMODB] = {VAR_PREFIX "DYNAMODB", "dynamodb"},
    [HL_AWS_SECRETS_MANAGER] = {VAR_PREFIX "SECRETS_MANAGER", "secretsmanager"},
    [HL_AWS_KMS] = {VAR_PREFIX "KMS", "kms"},
    [HL_AWS_KAFKA] = {VAR_PREFIX "KAFKA", "kafka"},
};

const char *hl_aws_service_env_name(hl_aws_service_id svc) {
  return (unsigned)svc < HL_AWS__NSERVICES ? services[svc].var + sizeof VAR_PREFIX - 1 : "";
}

const char *hl_aws_service_host_prefix(hl_aws_service_id svc) {
  return (unsigned)svc < HL_AWS__NSERVICES ? services[svc].host : "";
}

bool hl_aws_region_valid(const char *r) {
  if (!r || !*r) return false;
  size_t n = 0;
  for (; r[n]; n++) {
    char c = r[n];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return n <= 48 && r[0] != '-' && r[n - 1] != '-';
}

/* The partitions whose regions a prefix tells apart (the SDKs' partitions
 * table, cut to what a region name shows); everything else, us-gov-*
 * included, is under amazonaws.com. Longest prefixes first. */
const char *hl_aws_dns_suffix(const char *region) {
  static const struct {
    const char *prefix, *suffix;
  } partitions[] = {
      {"us-isob-", "sc2s.sgov.gov"}, {"us-isof-", "csp.hci.ic.gov"}, {"eu-isoe-", "cloud.adc-e.uk"},
      {"us-iso-", "c2s.ic.gov"},     {"cn-", "amazonaws.com.cn"},
  };
  for (size_t i = 0; region && i < HL_ARRAY_SIZE(partitions); i++)
    if (strncmp(region, partitions[i].prefix, strlen(partitions[i].prefix)) == 0) return partitions[i].suffix;
  return "amazonaws.com";
}

int hl_aws_endpoint_default(hl_aws_service_id svc, const char *region, hl_buf *out) {
  if ((unsigned)svc >= HL_AWS__NSERVICES || !hl_aws_region_valid(region)) return HL_EINVAL;
  hl_buf_printf(out, "https://%s.%s.%s", services[svc].host, region, hl_aws_dns_suffix(region));
  return 0;
}

static const char *lookup(hl_aws_getenv_fn env, void *data, const char *name) {
  const char *v = env ? env(data, name) : getenv(name);
  return v && *v ? v : NULL;
}

const char *hl_aws_endpoint_configured(hl_aws_service_id svc, const char *legacy_name, const char *legacy_value,
                                       hl_aws_getenv_fn env, void *env_data, const char **source) {
  const char *dummy;
  if (!source) source = &dummy;
  *source = NULL;
  if (legacy_value && *legacy_value) {
    *source = legacy_name ? legacy_name : "endpoint";
    return legacy_value;
  }
  if ((unsigned)svc >= HL_AWS__NSERVICES) return NULL;
  const char *ignore = lookup(env, env_data, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
  if (ignore && (strcmp(ignore, "true") == 0 || strcmp(ignore, "1") == 0)) return NULL;
  const char *v = lookup(env, env_data, services[svc].var);
  if (v) {
    *source = services[svc].var;
    return v;
  }
  v = lookup(env, env_data, "AWS_ENDPOINT_URL");
  if (v) *source = "AWS_ENDPOINT_URL";
  return v;
}

const char *hl_aws_endpoint_resolve(hl_aws_service_id svc, const char *region, const char *legacy_name,
                                    const char *legacy_value, hl_aws_getenv_fn env, void *env_data, hl_buf *out) {
  hl_buf_reset(out);
  const char *source;
  const char *v = hl_aws_endpoint_configured(svc, legacy_name, legacy_value, env, env_data, &source);
  if (v) {
    hl_buf_puts(out, v);
    return source;
  }
  return hl_aws_endpoint_default(svc, region, out) == 0 ? "AWS_REGION" : NULL;
}
