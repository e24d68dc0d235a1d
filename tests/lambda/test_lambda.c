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

static const char *bootstrap_binary; /* NULL: the build tree's hookloop */

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
  HL_ASSERT(symlink(bootstrap_binary ? bootstrap_binary : hl_bin_path("hookloop"), boot) == 0);
  char *argv[] = {boot, NULL};
  lambda_pid = hl_spawn(argv, envp, log);
}

static void stop_lambda(void) {
  kill(lambda_pid, SIGKILL);
  hl_wait(lambda_pid, 5000);
  /* Let the emulator's loop (its own thread) see the dead runtime's /next
   * close, so the next event is kept for the next runtime. */
  hl_sleep_ms(100);
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

/* An MSK event with n records on topic (keys and ids msk-<first>...); with
 * headers: subscription_id names the subscription, then the extra header
 * "name=value" if any. */
/* One MSK record header: {"name": [bytes as Java signed bytes]}. */
static void java_header(hl_jw *w, const char *name, const char *value, size_t len) {
  hl_jw_obj_begin(w);
  hl_jw_key(w, name);
  hl_jw_arr_begin(w);
  for (size_t i = 0; i < len; i++) hl_jw_int(w, (signed char)value[i]);
  hl_jw_arr_end(w);
  hl_jw_obj_end(w);
}

static char *msk_batch_on(const char *topic, int first, int n, bool sub_header, const char *extra_header) {
  hl_buf b = HL_BUF_INIT;
  hl_jw w;
  hl_jw_init(&w, &b);
  hl_jw_obj_begin(&w);
  hl_jw_key(&w, "eventSource"); hl_jw_str(&w, "aws:kafka");
  hl_jw_key(&w, "eventSourceArn"); hl_jw_str(&w, "arn:aws:kafka:eu-west-1:123456789012:cluster/test/1");
  hl_jw_key(&w, "records");
  hl_jw_obj_begin(&w);
  char pkey[300];
  snprintf(pkey, sizeof pkey, "%s-0", topic);
  hl_jw_key(&w, pkey);
  hl_jw_arr_begin(&w);
  for (int i = first; i < first + n; i++) {
    char id[32], value[128];
    snprintf(id, sizeof id, "msk-%d", i);
    snprintf(value, sizeof value, "{\"eventHeader\":{\"uuid\":\"%s\",\"eventType\":\"Payment\"},\"amount\":1.50}", id);
    hl_buf k = HL_BUF_INIT, v = HL_BUF_INIT;
    hl_base64_encode(&k, (const uint8_t *)id, strlen(id));
    hl_base64_encode(&v, (const uint8_t *)value, strlen(value));
    hl_jw_obj_begin(&w);
    hl_jw_key(&w, "topic"); hl_jw_str(&w, topic);
    hl_jw_key(&w, "partition"); hl_jw_int(&w, 0);
    hl_jw_key(&w, "offset"); hl_jw_int(&w, i);
    hl_jw_key(&w, "timestamp"); hl_jw_int(&w, 1545084650987);
    hl_jw_key(&w, "timestampType"); hl_jw_str(&w, "CREATE_TIME");
    hl_jw_key(&w, "key"); hl_jw_str(&w, k.data);
    hl_jw_key(&w, "value"); hl_jw_str(&w, v.data);
    hl_jw_key(&w, "headers");
    hl_jw_arr_begin(&w);
    if (sub_header) java_header(&w, "subscription_id", sub_id, strlen(sub_id));
    if (extra_header) {
      const char *eq = strchr(extra_header, '=');
      char name[64];
      snprintf(name, sizeof name, "%.*s", (int)(eq - extra_header), extra_header);
      java_header(&w, name, eq + 1, strlen(eq + 1));
    }
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

/* n egress records for the subscription. */
static char *msk_batch(int first, int n) { return msk_batch_on("wh.egress.acme.Payment", first, n, true, NULL); }

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

HL_TEST_T(the_packaged_zip_runs_on_its_own, 600) {
  /* Build the deployment package, unpack it outside the build tree, and run
   * its bootstrap: every library must come from the package. */
  char *pkg = hl_tmpdir("lambda-pkg");
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "%s/deploy/lambda/build.sh %s/hookloop-lambda.zip > %s/build.log 2>&1 && "
           "cd %s && cmake -E tar xf hookloop-lambda.zip", HL_SOURCE_DIR, pkg, pkg, pkg);
  HL_ASSERT_MSG(system(cmd) == 0, "packaging failed; see %s/build.log", pkg);
  snprintf(cmd, sizeof cmd, "cd %s && LD_LIBRARY_PATH= ldd ./bootstrap | grep -E 'libuv|librdkafka|libhttp_parser' "
           "| grep -v '%s/./lib/' | grep -q . && exit 1 || exit 0", pkg, pkg);
  HL_ASSERT_MSG(system(cmd) == 0, "bootstrap loads libraries from outside the package");
  static char boot[600];
  snprintf(boot, sizeof boot, "%s/bootstrap", pkg);
  bootstrap_binary = boot;
  unsetenv("LD_LIBRARY_PATH");
  int port = emu_start();
  start_lambda(port, NULL);
  char *e = apigw("GET", "/healthz", NULL);
  HL_ASSERT_EQ_INT(status_of(emu_wait(emu_push(e, 0), 20000)), 200);
  free(e);
  stop_lambda();
  emu_stop();
  hl_rmtree(pkg);
  free(pkg);
}

#include <ftw.h>

static hl_buf all_src;

static int collect(const char *path, const struct stat *sb, int flag, struct FTW *f) {
  (void)sb; (void)f;
  size_t n = strlen(path);
  if (flag == FTW_F && n > 2 && strcmp(path + n - 2, ".c") == 0) {
    char *t = hl_read_file(path, NULL);
    if (t) { hl_buf_puts(&all_src, t); free(t); }
  }
  return 0;
}

/* Every NAME under Environment.Variables / environment / secrets. */
static void env_names(const hl_json *v, bool in_env, char names[][64], int *n) {
  if (v->type == HL_JSON_OBJECT) {
    for (uint32_t i = 0; i < v->len; i++) {
      const hl_json_member *m = &v->u.members[i];
      if (in_env && *n < 200) snprintf(names[(*n)++], 64, "%s", m->key);
      env_names(&m->value, strcmp(m->key, "Variables") == 0, names, n);
      if ((strcmp(m->key, "environment") == 0 || strcmp(m->key, "secrets") == 0) && m->value.type == HL_JSON_ARRAY)
        for (uint32_t k = 0; k < m->value.len && *n < 200; k++) {
          const char *name = hl_json_str(hl_json_get(&m->value.u.items[k], "name"));
          if (name) snprintf(names[(*n)++], 64, "%s", name);
        }
    }
  } else if (v->type == HL_JSON_ARRAY) {
    for (uint32_t i = 0; i < v->len; i++) env_names(&v->u.items[i], false, names, n);
  }
}

HL_TEST(deploy_templates_use_only_variables_the_code_reads) {
  char src[600];
  snprintf(src, sizeof src, "%s/src", HL_SOURCE_DIR);
  hl_buf_init(&all_src);
  nftw(src, collect, 16, FTW_PHYS);
  const char *files[] = {"deploy/lambda/template.json", "deploy/ecs/task-definition.json"};
  int total = 0;
  for (size_t f = 0; f < 2; f++) {
    char path[600];
    snprintf(path, sizeof path, "%s/%s", HL_SOURCE_DIR, files[f]);
    size_t len;
    char *text = hl_read_file(path, &len);
    HL_ASSERT_MSG(text, "cannot read %s", path);
    hl_json_doc d;
    hl_json_doc_init(&d);
    HL_ASSERT_MSG(hl_json_parse(&d, text, len, NULL) == 0, "%s is not valid JSON", files[f]);
    static char names[200][64];
    int n = 0;
    env_names(d.root, false, names, &n);
    HL_ASSERT_MSG(n > 3, "%s names no environment variables", files[f]);
    for (int i = 0; i < n; i++) {
      char quoted[80];
      snprintf(quoted, sizeof quoted, "\"%s\"", names[i]);
      HL_ASSERT_MSG(strstr(all_src.data, quoted) != NULL, "%s sets %s, which no code reads", files[f], names[i]);
    }
    total += n;
    hl_json_doc_dispose(&d);
    free(text);
  }
  printf("deploy templates: %d variables, all read by the code\n", total);
  hl_buf_dispose(&all_src);
}

/* A whole topic as kcat prints it with format fmt (free the result). */
static char *topic_dump(const hl_mock_kafka *mk, const char *topic, const char *fmt) {
  char cmd[1200];
  snprintf(cmd, sizeof cmd, "timeout 20 kcat -C -b %s -t %s -o beginning -e -q -f '%s' 2>/dev/null", mk->bootstrap, topic,
           fmt);
  FILE *p = popen(cmd, "r");
  HL_ASSERT(p != NULL);
  hl_buf b = HL_BUF_INIT;
  char chunk[4096];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, p)) > 0) hl_buf_append(&b, chunk, n);
  pclose(p);
  hl_buf_puts(&b, "");
  return hl_buf_steal(&b, NULL);
}

HL_TEST_T(the_deadline_hands_work_to_the_retry_topic, 120) {
  hl_mock_kafka mk;
  HL_ASSERT(hl_mock_kafka_start(&mk, 1) == 0);
  HL_ASSERT(hl_mock_kafka_cmd(&mk, "create wh.retry.100ms 1 1") == 0);
  static char brokers[700];
  snprintf(brokers, sizeof brokers, "KAFKA_BROKERS=%s", mk.bootstrap);
  int port = emu_start();
  e2e_start_partner(&partner, NULL);
  const char *env[] = {brokers, NULL};
  start_lambda(port, env);
  char url[256];
  snprintf(url, sizeof url, "%s/hook/slow?latency_ms=8000", partner.base);
  register_via_apigw(url);
  char *batch = msk_batch(900, 5);
  uint64_t t0 = hl_mono_ms();
  /* 3 s left: the partner needs 8 s, so the records go to the retry topic. */
  emu_result *r = emu_wait(emu_push(batch, hl_wall_ms() + 3000), 20000);
  uint64_t took = hl_mono_ms() - t0;
  HL_ASSERT(r != NULL);
  HL_ASSERT_MSG(strcmp(r->kind, "response") == 0, "%s: %s", r->kind, r->body);
  HL_ASSERT_EQ_STR(r->body, "{\"batchItemFailures\":[]}");
  HL_ASSERT_MSG(took < 3000, "answered after %llu ms, past the deadline", (unsigned long long)took);
  char *out = topic_dump(&mk, "wh.retry.100ms", "%k\\n");
  for (int i = 900; i < 905; i++) {
    char id[32];
    snprintf(id, sizeof id, "msk-%d\n", i);
    HL_ASSERT_MSG(strstr(out, id) != NULL, "%s is not on the retry topic: %s", id, out);
  }
  free(out);
  free(batch);
  /* The producer route of the API function: 202 once the ingress topic
   * has the event (acks=all), the bytes as sent. */
  HL_ASSERT(hl_mock_kafka_cmd(&mk, "create wh.ingress.payments.Payment.v1 1 1") == 0);
  static const char event[] = "{\"specversion\":\"1.0\",\"id\":\"e-api-1\",\"source\":\"t\",\"type\":\"Payment\","
                              "\"data\":{\"amount\":1.50}}";
  char *ev = apigw("POST", "/api/v1/events", event);
  r = emu_wait(emu_push(ev, 0), 20000);
  HL_ASSERT_EQ_INT(status_of(r), 202);
  free(ev);
  out = topic_dump(&mk, "wh.ingress.payments.Payment.v1", "%k|%s\\n");
  HL_ASSERT_MSG(strstr(out, "e-api-1|") && strstr(out, "\"amount\":1.50"), "ingress: %s", out);
  free(out);
  stop_lambda();
  e2e_stop_partner(&partner);
  emu_stop();
  hl_mock_kafka_stop(&mk);
}

/* The last EMF line's value of name in the function's log, -1 if none. */
static int64_t last_emf(const char *name) {
  char path[700], key[80];
  snprintf(path, sizeof path, "%s/lambda.log", dir);
  snprintf(key, sizeof key, "\"%s\":", name);
  char *log = hl_read_file(path, NULL);
  int64_t v = -1;
  for (const char *at = log; at && (at = strstr(at, "{\"_aws\":")) != NULL; at++) {
    const char *k = strstr(at, key);
    if (k) v = strtoll(k + strlen(key), NULL, 10);
  }
  free(log);
  return v;
}

/* A record on wh.egress.<partner_id>.<event_type> without a subscription_id
 * header belongs to the subscription of that topic; one that names no known
 * subscription goes to the dead-letter topic (counted in events_to_dlq),
 * and without Kafka to put it there it fails, never reported done. */
HL_TEST_T(records_without_a_subscription_header_by_topic_or_dead_lettered, 120) {
  hl_mock_kafka mk;
  HL_ASSERT(hl_mock_kafka_start(&mk, 1) == 0);
  HL_ASSERT(hl_mock_kafka_cmd(&mk, "create wh.dlq 1 1") == 0);
  HL_ASSERT(hl_mock_kafka_cmd(&mk, "create wh.egress.acme.Payment 1 1") == 0);
  static char brokers[700];
  snprintf(brokers, sizeof brokers, "KAFKA_BROKERS=%s", mk.bootstrap);
  int port = emu_start();
  e2e_start_partner(&partner, NULL);
  const char *env[] = {brokers, NULL};
  start_lambda(port, env);
  char url[256];
  snprintf(url, sizeof url, "%s/hook/bytopic", partner.base);
  register_via_apigw(url);
  char *batch = msk_batch_on("wh.egress.acme.Payment", 1000, 3, false, NULL);
  emu_result *r = emu_wait(emu_push(batch, 0), 30000);
  HL_ASSERT(r && strcmp(r->kind, "response") == 0);
  HL_ASSERT_EQ_STR(r->body, "{\"batchItemFailures\":[]}");
  free(batch);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "bytopic", 3, 5000, &doc), 3);
  hl_json_doc_dispose(&doc);
  batch = msk_batch_on("wh.egress.nobody.Payment", 1100, 2, false, NULL);
  r = emu_wait(emu_push(batch, 0), 30000);
  HL_ASSERT(r && strcmp(r->kind, "response") == 0);
  HL_ASSERT_EQ_STR(r->body, "{\"batchItemFailures\":[]}");
  free(batch);
  HL_ASSERT_EQ_INT(last_emf("events_to_dlq"), 2);
  /* An ingress batch: the processor counts what it fanned out. */
  batch = msk_batch_on("wh.ingress.payments.Payment.v1", 1200, 2, false, NULL);
  r = emu_wait(emu_push(batch, 0), 30000);
  HL_ASSERT(r && strcmp(r->kind, "response") == 0);
  free(batch);
  HL_ASSERT_EQ_INT(last_emf("EventsProcessed"), 2);
  char *dlq = topic_dump(&mk, "wh.dlq", "%k|%h\\n");
  for (int i = 1100; i < 1102; i++) {
    char want[128];
    snprintf(want, sizeof want, "msk-%d|reason=unknown_subscription,source_topic=wh.egress.nobody.Payment,", i);
    HL_ASSERT_MSG(strstr(dlq, want) != NULL, "no %s on the dead-letter topic: %s", want, dlq);
  }
  HL_ASSERT_MSG(!strstr(dlq, "msk-100"), "%s", dlq);
  free(dlq);
  char *egress = topic_dump(&mk, "wh.egress.acme.Payment", "%k\\n");
  HL_ASSERT_MSG(strstr(egress, "msk-1200") && strstr(egress, "msk-1201"), "egress: %s", egress);
  free(egress);
  stop_lambda();
  /* Without Kafka the dead letter cannot be made: the record is a failure. */
  const char *penv[] = {"HOOKLOOP_LAMBDA_PARTIAL_BATCH=1", NULL};
  start_lambda(port, penv);
  register_via_apigw(url);
  batch = msk_batch_on("wh.egress.nobody.Payment", 1300, 1, false, NULL);
  r = emu_wait(emu_push(batch, 0), 30000);
  HL_ASSERT(r && strcmp(r->kind, "response") == 0);
  HL_ASSERT_MSG(strstr(r->body, "\"offset\":1300") != NULL, "%s", r->body);
  free(batch);
  stop_lambda();
  e2e_stop_partner(&partner);
  emu_stop();
  hl_mock_kafka_stop(&mk);
}

/* Warm reuse with the shared store: the function keeps its schemas and
 * subscriptions between invocations, reads them again once they are older
 * than HOOKLOOP_CONFIG_TTL_S, and records delivery status in DynamoDB where
 * any other process sees it. */
HL_TEST_T(warm_reuse_reads_a_changed_subscription_after_the_ttl, 180) {
  hl_dynalite dyn = {0};
  HL_ASSERT_MSG(hl_dynalite_start(&dyn, 100) == 0, "dynalite did not start");
  static char ep[128];
  snprintf(ep, sizeof ep, "DYNAMODB_ENDPOINT=%s", dyn.endpoint);
  const char *ddb[] = {"HOOKLOOP_STORE=dynamodb", ep, "AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=AKIDEXAMPLE",
                       "AWS_SECRET_ACCESS_KEY=lambda-test-secret", "HOOKLOOP_CONFIG_TTL_S=1", NULL};
  char *tdir = hl_tmpdir("tables");
  char log[600];
  snprintf(log, sizeof log, "%s/tables.log", tdir);
  char *argv[] = {(char *)hl_bin_path("hookloop"), (char *)"tables", (char *)"create", NULL};
  HL_ASSERT_EQ_INT(hl_wait(hl_spawn(argv, (char *const *)ddb, log), 60000), 0);

  int port = emu_start();
  e2e_start_partner(&partner, NULL);
  start_lambda(port, ddb);
  char url[256];
  snprintf(url, sizeof url, "%s/hook/ttl-a", partner.base);
  register_via_apigw(url);
  /* Without Kafka the producer route has nowhere durable to put events:
   * a clear 503, never an event accepted into a sandbox's /tmp. */
  char *ev = apigw("POST", "/api/v1/events", "{\"specversion\":\"1.0\",\"id\":\"e-noq\",\"source\":\"t\","
                                            "\"type\":\"Payment\",\"data\":{}}");
  emu_result *r = emu_wait(emu_push(ev, 0), 20000);
  HL_ASSERT_EQ_INT(status_of(r), 503);
  HL_ASSERT(strstr(r->body, "no_queue") != NULL);
  free(ev);
  char *batch = msk_batch(700, 5);
  r = emu_wait(emu_push(batch, 0), 30000);
  HL_ASSERT(r && strcmp(r->kind, "response") == 0);
  free(batch);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "ttl-a", 5, 5000, &doc), 5);
  hl_json_doc_dispose(&doc);

  /* Another process (a serve task on the same tables) moves the
   * subscription to a new URL. */
  e2e_hookloop other = {0};
  const char *serve_env[] = {"HOOKLOOP_STORE=dynamodb", ep, "AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=AKIDEXAMPLE",
                             "AWS_SECRET_ACCESS_KEY=lambda-test-secret", NULL};
  e2e_start_hookloop(&other, serve_env);
  char u[256], body[512];
  snprintf(u, sizeof u, "%s/admin/subscriptions", other.base);
  snprintf(body, sizeof body, "{\"partner_id\":\"acme\",\"event_type\":\"Payment\",\"url\":\"%s/hook/ttl-b\"}",
           partner.base);
  long code = e2e_call("POST", u, body, NULL);
  HL_ASSERT_MSG(code == 201 || code == 200, "update answered %ld", code);
  hl_sleep_ms(1200); /* past the TTL */
  batch = msk_batch(800, 5);
  r = emu_wait(emu_push(batch, 0), 30000);
  HL_ASSERT(r && strcmp(r->kind, "response") == 0);
  free(batch);
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "ttl-b", 5, 5000, &doc), 5);
  hl_json_doc_dispose(&doc);
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "ttl-a", 6, 200, &doc), 5);
  hl_json_doc_dispose(&doc);
  /* The function's statuses are in DynamoDB: the serve task reads them. */
  HL_ASSERT(e2e_wait_status(&other, "msk-800", "SUCCESS", 5000));
  HL_ASSERT(e2e_wait_status(&other, "msk-700", "SUCCESS", 5000));
  int st = e2e_stop_hookloop(&other, SIGTERM, 30000);
  HL_ASSERT(st == 0);
  hl_rmtree(other.dir);
  free(other.dir);
  stop_lambda();
  e2e_stop_partner(&partner);
  emu_stop();
  hl_dynalite_stop(&dyn);
  hl_rmtree(tdir);
  free(tdir);
}

/* The store is down at a cold start: the first /next is asked for anyway
 * (the store's latency is not init time), the invocation gets a clear
 * error instead of a dead environment, and once the store is back the
 * next invocation loads and succeeds. */
HL_TEST_T(a_store_down_at_cold_start_fails_invocations_not_the_environment, 180) {
  hl_dynalite dyn = {.port = hl_free_port()};
  static char ep[128];
  snprintf(ep, sizeof ep, "DYNAMODB_ENDPOINT=http://127.0.0.1:%d", dyn.port); /* nobody there yet */
  const char *ddb[] = {"HOOKLOOP_STORE=dynamodb", ep, "AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=AKIDEXAMPLE",
                       "AWS_SECRET_ACCESS_KEY=lambda-test-secret", NULL};
  int port = emu_start();
  start_lambda(port, ddb);
  char *e = apigw("GET", "/healthz", NULL);
  emu_result *r = emu_wait(emu_push(e, 0), 60000);
  HL_ASSERT(r != NULL);
  HL_ASSERT_MSG(strcmp(r->kind, "error") == 0, "answered %s: %s", r->kind, r->body);
  HL_ASSERT_EQ_STR(r->error_type, "Hookloop.StoreUnavailable");
  /* The store comes up, with its tables. */
  HL_ASSERT_MSG(hl_dynalite_start(&dyn, 0) == 0, "dynalite did not start");
  char *tdir = hl_tmpdir("tables");
  char log[600];
  snprintf(log, sizeof log, "%s/tables.log", tdir);
  char *argv[] = {(char *)hl_bin_path("hookloop"), (char *)"tables", (char *)"create", NULL};
  HL_ASSERT_EQ_INT(hl_wait(hl_spawn(argv, (char *const *)ddb, log), 60000), 0);
  r = emu_wait(emu_push(e, 0), 60000);
  HL_ASSERT_EQ_INT(status_of(r), 200);
  free(e);
  stop_lambda();
  emu_stop();
  hl_dynalite_stop(&dyn);
  hl_rmtree(tdir);
  free(tdir);
}

/* Every "dynamodb:X" action the SAM policy grants. */
static void iam_actions(const hl_json *v, char names[][48], int *n) {
  if (v->type == HL_JSON_STRING && strncmp(v->u.str, "dynamodb:", 9) == 0 && *n < 40) {
    snprintf(names[(*n)++], 48, "%s", v->u.str + 9);
  } else if (v->type == HL_JSON_ARRAY) {
    for (uint32_t i = 0; i < v->len; i++) iam_actions(&v->u.items[i], names, n);
  } else if (v->type == HL_JSON_OBJECT) {
    for (uint32_t i = 0; i < v->len; i++) iam_actions(&v->u.members[i].value, names, n);
  }
}

/* Least privilege, checked: the policy grants exactly the DynamoDB
 * operations the store sends at run time (hl_store_ddb.c; `tables create`
 * runs with an operator's rights, not the functions'). */
HL_TEST(the_iam_policy_grants_exactly_the_dynamodb_calls_made) {
  char path[600];
  snprintf(path, sizeof path, "%s/src/store/hl_store_ddb.c", HL_SOURCE_DIR);
  char *code = hl_read_file(path, NULL);
  HL_ASSERT(code);
  static char used[40][48];
  int nu = 0;
  for (const char *p = code; (p = strstr(p, "HL_DDB_")) != NULL; p += 7) {
    /* HL_DDB_BATCH_GET_ITEM -> BatchGetItem; ops end in _ITEM or are one word. */
    char op[48] = "";
    size_t k = 0;
    bool upper = true;
    const char *q = p + 7;
    for (; ((*q >= 'A' && *q <= 'Z') || *q == '_') && k < sizeof op - 1; q++) {
      if (*q == '_') { upper = true; continue; }
      op[k++] = upper ? *q : (char)(*q - 'A' + 'a');
      upper = false;
    }
    op[k] = '\0';
    static const char *ops[] = {"PutItem", "UpdateItem", "DeleteItem", "GetItem", "Query", "Scan",
                                "BatchGetItem", "BatchWriteItem", "CreateTable", "DescribeTable",
                                "UpdateTimeToLive"};
    bool is_op = false;
    for (size_t i = 0; i < HL_ARRAY_SIZE(ops); i++) is_op |= strcmp(op, ops[i]) == 0;
    if (!is_op) continue;
    bool dup = false;
    for (int i = 0; i < nu; i++) dup |= strcmp(used[i], op) == 0;
    if (!dup) snprintf(used[nu++], 48, "%s", op);
  }
  free(code);
  snprintf(path, sizeof path, "%s/deploy/lambda/template.json", HL_SOURCE_DIR);
  size_t len;
  char *text = hl_read_file(path, &len);
  hl_json_doc d;
  hl_json_doc_init(&d);
  HL_ASSERT(hl_json_parse(&d, text, len, NULL) == 0);
  static char granted[40][48];
  int ng = 0;
  iam_actions(hl_json_pointer(d.root, "/Resources/HookloopPolicy", 25), granted, &ng);
  for (int i = 0; i < nu; i++) {
    bool ok = false;
    for (int k = 0; k < ng; k++) ok |= strcmp(used[i], granted[k]) == 0;
    HL_ASSERT_MSG(ok, "the store calls %s but the policy does not grant dynamodb:%s", used[i], used[i]);
  }
  for (int k = 0; k < ng; k++) {
    bool ok = false;
    for (int i = 0; i < nu; i++) ok |= strcmp(used[i], granted[k]) == 0;
    HL_ASSERT_MSG(ok, "the policy grants dynamodb:%s, which the store never calls", granted[k]);
  }
  HL_ASSERT(nu >= 6);
  printf("IAM: %d DynamoDB actions granted, each one called\n", ng);
  hl_json_doc_dispose(&d);
  free(text);
}

/* WEBHOOK_SECRET_ARN in Lambda: read while the first /next is pending, used
 * for subscriptions registered without a secret. */
HL_TEST_T(the_default_secret_signs_msk_deliveries, 120) {
  static const char secret[] = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  static char sm[96];
  pid_t proxy = e2e_start_secrets_peer(secret, sm, sizeof sm, NULL);
  int port = emu_start();
  const char *pargs[] = {"--secret", secret, NULL};
  e2e_start_partner(&partner, pargs);
  const char *env[] = {"WEBHOOK_SECRET_ARN=arn:aws:secretsmanager:eu-west-1:123456789012:secret:hookloop-AbCdEf", sm,
                       "AWS_ACCESS_KEY_ID=AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY=lambda-test-secret", NULL};
  start_lambda(port, env);
  char url[256];
  snprintf(url, sizeof url, "%s/hook/dflt", partner.base);
  register_via_apigw(url);
  char *batch = msk_batch(900, 10);
  emu_result *r = emu_wait(emu_push(batch, 0), 30000);
  HL_ASSERT(r && strcmp(r->kind, "response") == 0);
  free(batch);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "dflt", 10, 5000, &doc), 10);
  hl_json_doc_dispose(&doc);
  char u[128];
  snprintf(u, sizeof u, "%s/stats", partner.base);
  HL_ASSERT(e2e_call("GET", u, NULL, &doc) == 200);
  int64_t fails = -1;
  hl_json_int64(hl_json_get(doc.root, "signature_failures"), &fails);
  HL_ASSERT_EQ_INT(fails, 0);
  hl_json_doc_dispose(&doc);
  stop_lambda();
  e2e_stop_partner(&partner);
  emu_stop();
  kill(proxy, SIGTERM);
  hl_wait(proxy, 3000);
}
