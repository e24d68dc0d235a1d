/* `hookloop lambda` against the Runtime API emulator: API Gateway v2
 * events through the same routes as the HTTP server, MSK batches with every
 * record delivered concurrently, retried batches without duplicates,
 * partial batch responses, init errors. */
#include "e2e_util.h"
#include "emulator.h"
#include "hl_test.h"
#include "hl_testutil.h"
#include "common/hl_buf.h"
#include "common/hl_common.h"
#include "crypto/hl_crypto.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pid_t lambda_pid;
static char *dir;
static e2e_partner partner;

static void start_lambda(int port, const char *const *extra_env) {
  static char api[64], data[600];
  snprintf(api, sizeof api, "AWS_LAMBDA_RUNTIME_API=127.0.0.1:%d", port);
  dir = hl_tmpdir("lambda");
  snprintf(data, sizeof data, "HOOKLOOP_DATA_DIR=%s", dir);
  char *envp[16];
  size_t n = 0;
  envp[n++] = api;
  envp[n++] = data;
  envp[n++] = (char *)"HOOKLOOP_ALLOW_PRIVATE_TARGETS=1";
  envp[n++] = (char *)"HOOKLOOP_RETRY_SCHEDULE=100ms";
  for (size_t i = 0; extra_env && extra_env[i] && n < 15; i++) envp[n++] = (char *)extra_env[i];
  envp[n] = NULL;
  char log[700];
  snprintf(log, sizeof log, "%s/lambda.log", dir);
  /* Started under the name Lambda uses: bootstrap. */
  char boot[700];
  snprintf(boot, sizeof boot, "%s/bootstrap", dir);
  HL_ASSERT(symlink(hl_bin_path("hookloop"), boot) == 0);
  char *argv[] = {boot, NULL};
  lambda_pid = hl_spawn(argv, envp, log);
}

static void stop_lambda(void) {
  kill(lambda_pid, SIGKILL);
  hl_wait(lambda_pid, 5000);
  hl_rmtree(dir);
  free(dir);
}

/* An API Gateway HTTP API (v2) event. */
static char *apigw(const char *method, const char *path, const char *body) {
  hl_buf b = HL_BUF_INIT;
  hl_jw w;
  hl_jw_init(&w, &b);
  hl_jw_obj_begin(&w);
  hl_jw_key(&w, "version"); hl_jw_str(&w, "2.0");
  hl_jw_key(&w, "routeKey"); hl_jw_str(&w, "$default");
  hl_jw_key(&w, "rawPath"); hl_jw_str(&w, path);
  hl_jw_key(&w, "rawQueryString"); hl_jw_str(&w, "");
  hl_jw_key(&w, "headers"); hl_jw_obj_begin(&w);
  hl_jw_key(&w, "content-type"); hl_jw_str(&w, "application/json");
  hl_jw_obj_end(&w);
  hl_jw_key(&w, "requestContext"); hl_jw_obj_begin(&w);
  hl_jw_key(&w, "http"); hl_jw_obj_begin(&w);
  hl_jw_key(&w, "method"); hl_jw_str(&w, method);
  hl_jw_key(&w, "path"); hl_jw_str(&w, path);
  hl_jw_obj_end(&w);
  hl_jw_obj_end(&w);
  if (body) { hl_jw_key(&w, "body"); hl_jw_str(&w, body); }
  hl_jw_key(&w, "isBase64Encoded"); hl_jw_bool(&w, false);
  hl_jw_obj_end(&w);
  return hl_buf_steal(&b, NULL);
}

static int status_of(emu_result *r) {
  HL_ASSERT(r != NULL);
  HL_ASSERT_EQ_STR(r->kind, "response");
  hl_json_doc d;
  hl_json_doc_init(&d);
  HL_ASSERT(hl_json_parse(&d, r->body, strlen(r->body), NULL) == 0);
  int64_t st = 0;
  hl_json_int64(hl_json_get(d.root, "statusCode"), &st);
  hl_json_doc_dispose(&d);
  return (int)st;
}

static char sub_id[64];

static void register_via_apigw(const char *url) {
  char *e = apigw("POST", "/admin/schemas",
                  "{\"event_type\":\"Payment\",\"domain\":\"payments\",\"schema\":{\"type\":\"object\"}}");
  HL_ASSERT_EQ_INT(status_of(emu_wait(emu_push(e, 0), 20000)), 201);
  free(e);
  char body[512];
  snprintf(body, sizeof body, "{\"partner_id\":\"acme\",\"event_type\":\"Payment\",\"url\":\"%s\"}", url);
  e = apigw("POST", "/admin/subscriptions", body);
  emu_result *r = emu_wait(emu_push(e, 0), 20000);
  HL_ASSERT_EQ_INT(status_of(r), 201);
  free(e);
  hl_json_doc d, inner;
  hl_json_doc_init(&d);
  hl_json_doc_init(&inner);
  HL_ASSERT(hl_json_parse(&d, r->body, strlen(r->body), NULL) == 0);
  const char *b = hl_json_str(hl_json_get(d.root, "body"));
  HL_ASSERT(hl_json_parse(&inner, b, strlen(b), NULL) == 0);
  snprintf(sub_id, sizeof sub_id, "%s", hl_json_str(hl_json_get(inner.root, "subscription_id")));
  hl_json_doc_dispose(&inner);
  hl_json_doc_dispose(&d);
}

/* An MSK event with n egress records for the subscription. */
static char *msk_batch(int first, int n) {
  hl_buf b = HL_BUF_INIT;
  hl_jw w;
  hl_jw_init(&w, &b);
  hl_jw_obj_begin(&w);
  hl_jw_key(&w, "eventSource"); hl_jw_str(&w, "aws:kafka");
  hl_jw_key(&w, "eventSourceArn"); hl_jw_str(&w, "arn:aws:kafka:eu-west-1:123456789012:cluster/test/1");
  hl_jw_key(&w, "records");
  hl_jw_obj_begin(&w);
  hl_jw_key(&w, "wh.egress.acme.Payment-0");
  hl_jw_arr_begin(&w);
  for (int i = first; i < first + n; i++) {
    char id[32], value[128];
    snprintf(id, sizeof id, "msk-%d", i);
    snprintf(value, sizeof value, "{\"eventHeader\":{\"uuid\":\"%s\",\"eventType\":\"Payment\"},\"amount\":1.50}", id);
    hl_buf k = HL_BUF_INIT, v = HL_BUF_INIT;
    hl_base64_encode(&k, (const uint8_t *)id, strlen(id));
    hl_base64_encode(&v, (const uint8_t *)value, strlen(value));
    hl_jw_obj_begin(&w);
    hl_jw_key(&w, "topic"); hl_jw_str(&w, "wh.egress.acme.Payment");
    hl_jw_key(&w, "partition"); hl_jw_int(&w, 0);
    hl_jw_key(&w, "offset"); hl_jw_int(&w, i);
    hl_jw_key(&w, "timestamp"); hl_jw_int(&w, 1545084650987);
    hl_jw_key(&w, "timestampType"); hl_jw_str(&w, "CREATE_TIME");
    hl_jw_key(&w, "key"); hl_jw_str(&w, k.data);
    hl_jw_key(&w, "value"); hl_jw_str(&w, v.data);
    hl_jw_key(&w, "headers");
    hl_jw_arr_begin(&w);
    hl_jw_obj_begin(&w);
    hl_jw_key(&w, "subscription_id");
    hl_jw_arr_begin(&w);
    for (const char *c = sub_id; *c; c++) hl_jw_int(&w, (signed char)*c); /* Java signed bytes */
    hl_jw_arr_end(&w);
    hl_jw_obj_end(&w);
    hl_jw_arr_end(&w);
    hl_jw_obj_end(&w);
    hl_buf_dispose(&k);
    hl_buf_dispose(&v);
  }
  hl_jw_arr_end(&w);
  hl_jw_obj_end(&w);
  hl_jw_obj_end(&w);
  return hl_buf_steal(&b, NULL);
}

HL_TEST_T(api_gateway_and_msk_batches, 120) {
  int port = emu_start();
  HL_ASSERT(port > 0);
  const char *pargs[] = {"--latency-ms", "50", NULL};
  e2e_start_partner(&partner, pargs);
  start_lambda(port, NULL);
  char url[256];
  snprintf(url, sizeof url, "%s/hook/msk", partner.base);
  register_via_apigw(url);
  /* Health through API Gateway too. */
  char *e = apigw("GET", "/healthz", NULL);
  HL_ASSERT_EQ_INT(status_of(emu_wait(emu_push(e, 0), 20000)), 200);
  free(e);
  e = apigw("GET", "/nowhere", NULL);
  HL_ASSERT_EQ_INT(status_of(emu_wait(emu_push(e, 0), 20000)), 404);
  free(e);
  /* 100 records, a 50 ms partner: concurrently, the batch takes far less than 5 s. */
  char *batch = msk_batch(0, 100);
  uint64_t t0 = hl_mono_ms();
  emu_result *r = emu_wait(emu_push(batch, 0), 30000);
  uint64_t took = hl_mono_ms() - t0;
  HL_ASSERT(r != NULL);
  HL_ASSERT_MSG(strcmp(r->kind, "response") == 0, "batch answered %s: %s", r->kind, r->body);
  HL_ASSERT_EQ_STR(r->body, "{\"batchItemFailures\":[]}");
  printf("lambda: 100-record batch against a 50 ms partner answered in %llu ms\n", (unsigned long long)took);
  HL_ASSERT(took < 2500);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "msk", 100, 5000, &doc), 100);
  /* Partners get the trace id of the invocation. */
  const char *tp = hl_json_str(hl_json_get(&doc.root->u.items[0], "traceparent"));
  HL_ASSERT(tp && strncmp(tp, "Root=1-5e9f0c65", 15) == 0);
  hl_json_doc_dispose(&doc);
  /* Lambda retries a batch whole: nothing is delivered twice. */
  r = emu_wait(emu_push(batch, 0), 30000);
  HL_ASSERT(r && strcmp(r->kind, "response") == 0);
  hl_sleep_ms(300);
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "msk", 101, 200, &doc), 100);
  hl_json_doc_dispose(&doc);
  free(batch);
  stop_lambda();
  e2e_stop_partner(&partner);
  emu_stop();
}

HL_TEST_T(failed_records_fail_the_batch_or_are_reported, 120) {
  int port = emu_start();
  e2e_start_partner(&partner, NULL);
  const char *env[] = {"HOOKLOOP_LAMBDA_PARTIAL_BATCH=1", NULL};
  start_lambda(port, env);
  char url[256];
  snprintf(url, sizeof url, "%s/hook/gone?codes=410", partner.base);
  register_via_apigw(url);
  /* No Kafka to dead-letter to: the records cannot reach a durable state,
   * and with partial batch responses they are listed by partition and offset. */
  char *batch = msk_batch(500, 3);
  emu_result *r = emu_wait(emu_push(batch, 0), 30000);
  HL_ASSERT(r && strcmp(r->kind, "response") == 0);
  HL_ASSERT_MSG(strstr(r->body, "{\"itemIdentifier\":{\"partition\":\"wh.egress.acme.Payment-0\",\"offset\":501}}") != NULL,
                "%s", r->body);
  free(batch);
  stop_lambda();
  /* Without partial batch responses the whole invocation is an error. */
  start_lambda(port, NULL);
  register_via_apigw(url);
  batch = msk_batch(600, 2);
  r = emu_wait(emu_push(batch, 0), 30000);
  HL_ASSERT(r && strcmp(r->kind, "error") == 0);
  HL_ASSERT_EQ_STR(r->error_type, "Hookloop.BatchIncomplete");
  free(batch);
  stop_lambda();
  e2e_stop_partner(&partner);
  emu_stop();
}

HL_TEST_T(init_errors_reach_the_runtime_api, 60) {
  int port = emu_start();
  const char *env[] = {"HOOKLOOP_RETRY_SCHEDULE=whenever", NULL};
  start_lambda(port, env);
  emu_result *r = emu_wait("init", 20000);
  HL_ASSERT(r != NULL);
  HL_ASSERT_EQ_STR(r->kind, "init_error");
  HL_ASSERT(strstr(r->body, "HOOKLOOP_RETRY_SCHEDULE") != NULL);
  HL_ASSERT_EQ_INT(hl_wait(lambda_pid, 10000) >= 0, 1); /* and it exits */
  hl_rmtree(dir);
  free(dir);
  emu_stop();
}
