/* bench_aws_sign — the client-side cost of one AWS call per destination
 * type: building the request body (with its checks) and signing it with
 * SigV4 (the signing key cached, as the client does), in ns per call on one
 * core. A signed call per second against the Python service peer would
 * measure the peer; this measures hookloop. Also the MSK IAM token.
 * The figure is this thread's CPU time per call (CLOCK_THREAD_CPUTIME_ID),
 * which other load on the machine moves less than the wall clock; the
 * wall-clock rate is printed beside it.
 *
 *   build/bench/aws/bench_aws_sign [seconds per case, default 1]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aws/hl_aws_events.h"
#include "aws/hl_aws_kms.h"
#include "aws/hl_aws_sns.h"
#include "aws/hl_aws_sqs.h"
#include "aws/hl_msk_iam.h"
#include "common/hl_common.h"

static const hl_aws_creds CREDS = {"ASIAEXAMPLEEXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                                   "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQDexampletoken=="};
static const hl_aws_attr ATTRS[] = {
    {"webhook-id", "evt-00000001"}, {"event_type", "PaymentProcessed"}, {"webhook-timestamp", "1795500000"}};
static char event[1100];
static size_t event_len;

typedef enum { SNS, SQS, EVENTS, KMS, MSK } kind;
static const char *const NAMES[] = {"SNS Publish (Query)", "SQS SendMessage (JSON 1.0)",
                                    "EventBridge PutEvents (JSON 1.1)", "KMS GenerateDataKey (JSON 1.1)",
                                    "MSK IAM token (presigned GET)"};

static void one(kind k, hl_buf *body, hl_sigv4_key_cache *cache, hl_sigv4_out *sig) {
  char err[256];
  hl_buf_reset(body);
  const hl_aws_service *svc = NULL;
  const char *target = NULL;
  int rc = 0;
  switch (k) {
    case SNS: {
      hl_aws_message m = {event, event_len, ATTRS, 3, NULL, NULL};
      rc = hl_sns_publish_body("arn:aws:sns:eu-west-1:123456789012:payments", &m, body, err, sizeof err);
      svc = &hl_sns_service;
      break;
    }
    case SQS: {
      hl_aws_message m = {event, event_len, ATTRS, 3, NULL, NULL};
      rc = hl_sqs_send_body("https://sqs.eu-west-1.amazonaws.com/123456789012/payments", &m, body, err, sizeof err);
      svc = &hl_sqs_service;
      target = "AmazonSQS.SendMessage";
      break;
    }
    case EVENTS: {
      hl_events_entry e = {.bus = "payments", .source = "hookloop", .detail_type = "PaymentProcessed",
                           .detail = event, .detail_len = event_len};
      rc = hl_events_put_body(&e, 1, body, err, sizeof err);
      svc = &hl_events_service;
      target = "AWSEvents.PutEvents";
      break;
    }
    case KMS: {
      const hl_aws_attr ctx[] = {{"subscription_id", "sub_0123456789"}};
      rc = hl_kms_generate_data_key_body("alias/hookloop", ctx, 1, body, err, sizeof err);
      svc = &hl_kms_service;
      target = "TrentService.GenerateDataKey";
      break;
    }
    case MSK: {
      hl_msk_iam_params p = {.region = "eu-west-1"};
      int64_t exp;
      rc = hl_msk_iam_token(&p, &CREDS, 1795500000, body, &exp);
      break;
    }
  }
  if (rc == 0 && svc)
    rc = hl_aws_sign_post(svc, "sns.eu-west-1.amazonaws.com", target, "eu-west-1", &CREDS, 1795500000, body->data,
                          body->len, cache, sig);
  if (rc != 0) {
    fprintf(stderr, "%s: %s\n", NAMES[k], err);
    exit(1);
  }
}

static uint64_t cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv) {
  double secs = argc > 1 ? atof(argv[1]) : 1.0;
  if (secs <= 0 || secs > 30) secs = 1.0;
  /* A ~1 KB event with an exact decimal and some non-ASCII text. */
  hl_buf e = HL_BUF_INIT;
  hl_buf_puts(&e, "{\"eventHeader\":{\"uuid\":\"evt-00000001\",\"eventType\":\"PaymentProcessed\","
                  "\"createdDate\":\"2026-11-24T06:00:00Z\"},\"amount\":100.10,\"currency\":\"EUR\","
                  "\"merchant\":\"Caf\xc3\xa9 M\xc3\xbcller\",\"lines\":[");
  for (int i = 0; e.len < 1000; i++) hl_buf_printf(&e, "%s{\"sku\":\"SKU-%04d\",\"qty\":%d}", i ? "," : "", i, i % 7 + 1);
  hl_buf_puts(&e, "]}");
  memcpy(event, e.data, e.len);
  event_len = e.len;
  hl_buf_dispose(&e);

  printf("| call (body of %zu bytes, 3 attributes) | CPU ns/call | calls/s per core (CPU) | calls/s (wall) |\n"
         "|---|---:|---:|---:|\n",
         event_len);
  for (kind k = SNS; k <= MSK; k++) {
    hl_buf body = HL_BUF_INIT;
    hl_sigv4_key_cache cache;
    hl_sigv4_key_cache_init(&cache);
    hl_sigv4_out sig;
    hl_sigv4_out_init(&sig);
    for (int i = 0; i < 1000; i++) one(k, &body, &cache, &sig); /* warm up */
    uint64_t n = 0, t0 = hl_mono_ns(), c0 = cpu_ns(), limit = (uint64_t)(secs * 1e9), t;
    do {
      for (int i = 0; i < 256; i++) one(k, &body, &cache, &sig);
      n += 256;
      t = hl_mono_ns() - t0;
    } while (t < limit && n < 50000000);
    double ns = (double)(cpu_ns() - c0) / (double)n;
    printf("| %s | %.0f | %.0f | %.0f |\n", NAMES[k], ns, 1e9 / ns, (double)n * 1e9 / (double)t);
    hl_sigv4_out_dispose(&sig);
    hl_sigv4_key_cache_dispose(&cache);
    hl_buf_dispose(&body);
  }
  return 0;
}
