/* The Runtime API's /next headers as the runtime reads them
 * (hl_lambda_rt_header); the calls themselves run in test_lambda. */
#include "hl_test.h"
#include "loop/hl_lambda_rt.h"

#include <stdint.h>
#include <string.h>

static void line(hl_lambda_invocation *inv, const char *l) { hl_lambda_rt_header(inv, l, strlen(l)); }

HL_TEST(next_headers_fill_the_invocation) {
  hl_lambda_invocation inv;
  memset(&inv, 0, sizeof inv);
  line(&inv, "HTTP/1.1 200 OK\r\n");
  line(&inv, "Lambda-Runtime-Aws-Request-Id: 8476a536-e9f4-11e8-9739-2dfe598c3fcd\r\n");
  line(&inv, "lambda-runtime-deadline-ms:\t1542409706888 \r\n");
  line(&inv, "Lambda-Runtime-Trace-Id: Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Sampled=1\r\n");
  line(&inv, "Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-2:123456789012:function:f\r\n");
  line(&inv, "\r\n");
  HL_ASSERT_EQ_STR(inv.request_id, "8476a536-e9f4-11e8-9739-2dfe598c3fcd");
  HL_ASSERT(inv.deadline_ms == 1542409706888);
  HL_ASSERT_EQ_STR(inv.trace_id, "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Sampled=1");
  HL_ASSERT_EQ_STR(inv.function_arn, "arn:aws:lambda:us-east-2:123456789012:function:f");
}

/* A deadline that is not plain unix milliseconds is no deadline: a negative
 * one made the time left (deadline - now - margin) overflow
 * (fuzz/crashes/lambda_rt/). */
HL_TEST(a_deadline_is_digits_or_none) {
  const char *bad[] = {"-9223372036854775808", "-1", "+5", "12abc", "1.5", "99999999999999999999", "9223372036854775808"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    hl_lambda_invocation inv;
    memset(&inv, 0, sizeof inv);
    char l[128];
    snprintf(l, sizeof l, "Lambda-Runtime-Deadline-Ms: %s\r\n", bad[i]);
    line(&inv, l);
    HL_ASSERT_MSG(inv.deadline_ms == 0, "%s read as %lld", bad[i], (long long)inv.deadline_ms);
  }
  hl_lambda_invocation inv;
  memset(&inv, 0, sizeof inv);
  line(&inv, "Lambda-Runtime-Deadline-Ms: 9223372036854775807\r\n");
  HL_ASSERT(inv.deadline_ms == INT64_MAX);
}

/* Values longer than their field are cut, never written past it. */
HL_TEST(long_values_are_cut) {
  hl_lambda_invocation inv;
  memset(&inv, 0, sizeof inv);
  char l[600];
  memset(l, 'r', sizeof l);
  memcpy(l, "Lambda-Runtime-Aws-Request-Id: ", 31);
  line(&inv, (l[sizeof l - 1] = '\0', l));
  HL_ASSERT_EQ_INT((long long)strlen(inv.request_id), (long long)sizeof inv.request_id - 1);
}
