/* Endpoint resolution (src/aws/hl_aws_endpoint): hookloop's own variable,
 * then AWS_ENDPOINT_URL_<SERVICE>, then AWS_ENDPOINT_URL, then the
 * regional default of the region's partition. */
#include "hl_test.h"
#include "aws/hl_aws_endpoint.h"
#include "common/hl_common.h"

#include <stdlib.h>
#include <string.h>

/* A fake environment: NULL-terminated name, value pairs. */
static const char *fake_env(void *data, const char *name) {
  for (const char *const *p = data; *p; p += 2)
    if (strcmp(p[0], name) == 0) return p[1];
  return NULL;
}

static const char *resolve(hl_aws_service_id svc, const char *region, const char *legacy, const char *const *env,
                           hl_buf *out) {
  return hl_aws_endpoint_resolve(svc, region, "LEGACY", legacy, fake_env, (void *)env, out);
}

HL_TEST(each_step_wins_over_the_next) {
  hl_buf u = HL_BUF_INIT;
  const char *all[] = {"AWS_ENDPOINT_URL_SNS", "http://127.0.0.1:1001", "AWS_ENDPOINT_URL", "http://127.0.0.1:1002",
                       NULL};
  HL_ASSERT_EQ_STR(resolve(HL_AWS_SNS, "eu-west-1", "http://127.0.0.1:1000", all, &u), "LEGACY");
  HL_ASSERT_EQ_STR(u.data, "http://127.0.0.1:1000");
  HL_ASSERT_EQ_STR(resolve(HL_AWS_SNS, "eu-west-1", NULL, all, &u), "AWS_ENDPOINT_URL_SNS");
  HL_ASSERT_EQ_STR(u.data, "http://127.0.0.1:1001");
  /* An empty legacy value counts as unset. */
  HL_ASSERT_EQ_STR(resolve(HL_AWS_SNS, "eu-west-1", "", all, &u), "AWS_ENDPOINT_URL_SNS");
  /* Another service's variable does not apply; the global one does. */
  HL_ASSERT_EQ_STR(resolve(HL_AWS_SQS, "eu-west-1", NULL, all, &u), "AWS_ENDPOINT_URL");
  HL_ASSERT_EQ_STR(u.data, "http://127.0.0.1:1002");
  const char *none[] = {"AWS_ENDPOINT_URL_SNS", "", NULL};
  HL_ASSERT_EQ_STR(resolve(HL_AWS_SNS, "eu-west-1", NULL, none, &u), "AWS_REGION");
  HL_ASSERT_EQ_STR(u.data, "https://sns.eu-west-1.amazonaws.com");
  hl_buf_dispose(&u);
}

HL_TEST(every_service_has_its_variable_and_host) {
  static const struct {
    hl_aws_service_id svc;
    const char *var, *url;
  } cases[] = {
      {HL_AWS_SNS, "AWS_ENDPOINT_URL_SNS", "https://sns.us-east-2.amazonaws.com"},
      {HL_AWS_SQS, "AWS_ENDPOINT_URL_SQS", "https://sqs.us-east-2.amazonaws.com"},
      {HL_AWS_EVENTBRIDGE, "AWS_ENDPOINT_URL_EVENTBRIDGE", "https://events.us-east-2.amazonaws.com"},
      {HL_AWS_DYNAMODB, "AWS_ENDPOINT_URL_DYNAMODB", "https://dynamodb.us-east-2.amazonaws.com"},
      {HL_AWS_SECRETS_MANAGER, "AWS_ENDPOINT_URL_SECRETS_MANAGER", "https://secretsmanager.us-east-2.amazonaws.com"},
      {HL_AWS_KMS, "AWS_ENDPOINT_URL_KMS", "https://kms.us-east-2.amazonaws.com"},
      {HL_AWS_KAFKA, "AWS_ENDPOINT_URL_KAFKA", "https://kafka.us-east-2.amazonaws.com"},
  };
  hl_buf u = HL_BUF_INIT;
  for (size_t i = 0; i < HL_ARRAY_SIZE(cases); i++) {
    const char *env[] = {cases[i].var, "http://localhost:4566", NULL};
    HL_ASSERT_EQ_STR(resolve(cases[i].svc, "us-east-2", NULL, env, &u), cases[i].var);
    HL_ASSERT_EQ_STR(u.data, "http://localhost:4566");
    HL_ASSERT_EQ_STR(hl_aws_service_env_name(cases[i].svc), cases[i].var + strlen("AWS_ENDPOINT_URL_"));
    const char *empty[] = {NULL};
    HL_ASSERT_EQ_STR(resolve(cases[i].svc, "us-east-2", NULL, empty, &u), "AWS_REGION");
    HL_ASSERT_EQ_STR(u.data, cases[i].url);
  }
  hl_buf_dispose(&u);
}

HL_TEST(partitions_and_bad_regions) {
  hl_buf u = HL_BUF_INIT;
  const char *empty[] = {NULL};
  HL_ASSERT(resolve(HL_AWS_SQS, "cn-north-1", NULL, empty, &u));
  HL_ASSERT_EQ_STR(u.data, "https://sqs.cn-north-1.amazonaws.com.cn");
  HL_ASSERT(resolve(HL_AWS_KMS, "us-gov-west-1", NULL, empty, &u));
  HL_ASSERT_EQ_STR(u.data, "https://kms.us-gov-west-1.amazonaws.com");
  HL_ASSERT(resolve(HL_AWS_SNS, "us-iso-east-1", NULL, empty, &u));
  HL_ASSERT_EQ_STR(u.data, "https://sns.us-iso-east-1.c2s.ic.gov");
  HL_ASSERT(resolve(HL_AWS_SNS, "us-isob-east-1", NULL, empty, &u));
  HL_ASSERT_EQ_STR(u.data, "https://sns.us-isob-east-1.sc2s.sgov.gov");
  /* No region, or one that would change the host: nothing. */
  HL_ASSERT(resolve(HL_AWS_SNS, NULL, NULL, empty, &u) == NULL);
  HL_ASSERT(resolve(HL_AWS_SNS, "", NULL, empty, &u) == NULL);
  HL_ASSERT(resolve(HL_AWS_SNS, "evil.com/x", NULL, empty, &u) == NULL);
  HL_ASSERT(resolve(HL_AWS_SNS, "EU-WEST-1", NULL, empty, &u) == NULL);
  HL_ASSERT(resolve(HL_AWS_SNS, "-eu", NULL, empty, &u) == NULL);
  HL_ASSERT_EQ_INT((int)u.len, 0);
  /* A configured URL needs no region. */
  const char *env[] = {"AWS_ENDPOINT_URL", "http://127.0.0.1:9", NULL};
  HL_ASSERT_EQ_STR(resolve(HL_AWS_SNS, NULL, NULL, env, &u), "AWS_ENDPOINT_URL");
  hl_buf_dispose(&u);
}

HL_TEST(ignore_configured_endpoint_urls_as_the_sdks_do) {
  hl_buf u = HL_BUF_INIT;
  const char *env[] = {"AWS_ENDPOINT_URL_SNS", "http://127.0.0.1:1", "AWS_ENDPOINT_URL", "http://127.0.0.1:2",
                       "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true", NULL};
  HL_ASSERT_EQ_STR(resolve(HL_AWS_SNS, "eu-west-1", NULL, env, &u), "AWS_REGION");
  HL_ASSERT_EQ_STR(u.data, "https://sns.eu-west-1.amazonaws.com");
  /* hookloop's own variable is explicit configuration, not the SDK's: it stays. */
  HL_ASSERT_EQ_STR(resolve(HL_AWS_SNS, "eu-west-1", "http://127.0.0.1:3", env, &u), "LEGACY");
  hl_buf_dispose(&u);
}

HL_TEST(the_process_environment_by_default) {
  setenv("AWS_ENDPOINT_URL_KMS", "http://127.0.0.1:4000", 1);
  unsetenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
  const char *src = NULL;
  const char *v = hl_aws_endpoint_configured(HL_AWS_KMS, NULL, NULL, NULL, NULL, &src);
  HL_ASSERT_EQ_STR(v, "http://127.0.0.1:4000");
  HL_ASSERT_EQ_STR(src, "AWS_ENDPOINT_URL_KMS");
  unsetenv("AWS_ENDPOINT_URL_KMS");
}
