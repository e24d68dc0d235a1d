/* `hookloop lambda` against the Runtime API emulator: API Gateway v2
 * events through the same routes as the HTTP server, MSK batches with every
 * record delivered concurrently, retried batches without duplicates,
 * partial batch responses, init errors. */
#include "aws_testutil.h"
#include "e2e_util.h"
#include "emulator.h"
#include "hl_test.h"
#include "hl_testutil.h"
#include "common/hl_buf.h"
#include "common/hl_common.h"
#include "crypto/hl_crypto.h"
#include "queue/hl_queue_ddb.h"
#include "store/hl_store.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t lambda_pid;
static char *dir;
static e2e_partner partner;

static const char *bootstrap_binary; /* NULL: the build tree's hookloop */

static void assert_template_tiers(const char *path, const char *schedule_want);

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
  bool own_schedule = false; /* an extra one replaces the default */
  for (size_t i = 0; extra_env && extra_env[i]; i++)
    if (strncmp(extra_env[i], "HOOKLOOP_RETRY_SCHEDULE=", 24) == 0) own_schedule = true;
  if (!own_schedule) envp[n++] = (char *)"HOOKLOOP_RETRY_SCHEDULE=100ms";
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
  const char *q = strchr(path, '?');
  hl_jw_key(&w, "rawPath"); hl_jw_strn(&w, path, q ? (size_t)(q - path) : strlen(path));
  hl_jw_key(&w, "rawQueryString"); hl_jw_str(&w, q ? q + 1 : "");
  hl_jw_key(&w, "headers"); hl_jw_obj_begin(&w);
  hl_jw_key(&w, "content-type"); hl_jw_str(&w, "application/json");
  hl_jw_obj_end(&w);
  hl_jw_key(&w, "requestContext"); hl_jw_obj_begin(&w);
  hl_jw_key(&w, "http"); hl_jw_obj_begin(&w);
  hl_jw_key(&w, "method"); hl_jw_str(&w, method);
  hl_jw_key(&w, "path"); hl_jw_strn(&w, path, q ? (size_t)(q - path) : strlen(path));
  hl_jw_obj_end(&w);
  hl_jw_obj_end(&w);
  if (body) { hl_jw_key(&w, "body"); hl_jw_str(&w, body); }
  hl_jw_key(&w, "isBase64Encoded"); hl_jw_bool(&w, false);
  hl_jw_obj_end(&w);
  return hl_buf_steal(&b, NULL);
}

/* An API Gateway REST API (v1) proxy event: httpMethod, path, the query as
 * (multi-valued) parameters. */
static char *apigw_v1(const char *method, const char *path, const char *query_key, const char *query_value,
                      const char *body) {
  hl_buf b = HL_BUF_INIT;
  hl_jw w;
  hl_jw_init(&w, &b);
  hl_jw_obj_begin(&w);
  hl_jw_key(&w, "resource"); hl_jw_str(&w, "/{proxy+}");
  hl_jw_key(&w, "path"); hl_jw_str(&w, path);
  hl_jw_key(&w, "httpMethod"); hl_jw_str(&w, method);
  hl_jw_key(&w, "headers"); hl_jw_obj_begin(&w);
  hl_jw_key(&w, "Content-Type"); hl_jw_str(&w, "application/json");
  hl_jw_obj_end(&w);
  hl_jw_key(&w, "multiValueQueryStringParameters");
  if (query_key) {
    hl_jw_obj_begin(&w);
    hl_jw_key(&w, query_key); hl_jw_arr_begin(&w); hl_jw_str(&w, query_value); hl_jw_arr_end(&w);
    hl_jw_obj_end(&w);
  } else {
    hl_jw_null(&w);
  }
  hl_jw_key(&w, "requestContext"); hl_jw_obj_begin(&w);
  hl_jw_key(&w, "resourcePath"); hl_jw_str(&w, "/{proxy+}");
  hl_jw_key(&w, "httpMethod"); hl_jw_str(&w, method);
  hl_jw_key(&w, "stage"); hl_jw_str(&w, "prod");
  hl_jw_obj_end(&w);
  hl_jw_key(&w, "body");
  if (body) hl_jw_str(&w, body); else hl_jw_null(&w);
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

/* Registers partner's subscription to url with the extra members (",..."
 * or ""), the schema first when schema (201), or with update, moves that
 * subscription to url (200); sub_id gets its id, and answer the answer's
 * body when not NULL (free it). */
static void register_with(const char *partner, const char *url, const char *extra, bool schema, bool update,
                          char **answer) {
  char *e;
  if (schema) {
    e = apigw("POST", "/admin/schemas",
              "{\"event_type\":\"Payment\",\"domain\":\"payments\",\"schema\":{\"type\":\"object\"}}");
    HL_ASSERT_EQ_INT(status_of(emu_wait(emu_push(e, 0), 20000)), 201);
    free(e);
  }
  char body[1024];
  snprintf(body, sizeof body, "{\"partner_id\":\"%s\",\"event_type\":\"Payment\",\"url\":\"%s\"%s}", partner, url,
           extra);
  e = apigw("POST", "/admin/subscriptions", body);
  emu_result *r = emu_wait(emu_push(e, 0), 20000);
  HL_ASSERT_EQ_INT(status_of(r), update ? 200 : 201);
  free(e);
  hl_json_doc d, inner;
  hl_json_doc_init(&d);
  hl_json_doc_init(&inner);
  HL_ASSERT(hl_json_parse(&d, r->body, strlen(r->body), NULL) == 0);
  const char *b = hl_json_str(hl_json_get(d.root, "body"));
  HL_ASSERT(hl_json_parse(&inner, b, strlen(b), NULL) == 0);
  snprintf(sub_id, sizeof sub_id, "%s", hl_json_str(hl_json_get(inner.root, "subscription_id")));
  if (answer) *answer = hl_strdup(b);
  hl_json_doc_dispose(&inner);
  hl_json_doc_dispose(&d);
}

static void register_partner_via_apigw(const char *partner, const char *url, bool update) {
  register_with(partner, url, "", !update, update, NULL);
}

static void register_via_apigw(const char *url) { register_partner_via_apigw("acme", url, false); }

/* A header of an MSK record: its value as Java signed bytes. */
static void signed_bytes_header(hl_jw *w, const char *name, const char *value, size_t len) {
  hl_jw_obj_begin(w);
  hl_jw_key(w, name);
  hl_jw_arr_begin(w);
  for (size_t i = 0; i < len; i++) hl_jw_int(w, (signed char)value[i]);
  hl_jw_arr_end(w);
  hl_jw_obj_end(w);
}

/* An MSK event: the caller writes "<topic>-<partition>": [records] into
 * "records" between begin and end. */
static void msk_event_begin(hl_jw *w, hl_buf *b, const char *source, const char *arn) {
  hl_jw_init(w, b);
  hl_jw_obj_begin(w);
  hl_jw_key(w, "eventSource"); hl_jw_str(w, source);
  hl_jw_key(w, "eventSourceArn"); hl_jw_str(w, arn);
  hl_jw_key(w, "records");
  hl_jw_obj_begin(w);
}

static char *msk_event_end(hl_jw *w, hl_buf *b) {
  hl_jw_obj_end(w);
  hl_jw_obj_end(w);
  return hl_buf_steal(b, NULL);
}

/* Ends a record's headers with this test's subscription_id, and the record. */
static void msk_record_end(hl_jw *w) {
  signed_bytes_header(w, "subscription_id", sub_id, strlen(sub_id));
  hl_jw_arr_end(w);
  hl_jw_obj_end(w);
}

/* Every member and element of got has the type and member names of want
 * (arrays: each element like want's first). */
static void same_shape(const hl_json *got, const hl_json *want, const char *where) {
  bool gb = got->type == HL_JSON_TRUE || got->type == HL_JSON_FALSE;
  bool wb = want->type == HL_JSON_TRUE || want->type == HL_JSON_FALSE;
  HL_ASSERT_MSG(got->type == want->type || (gb && wb), "%s: type %d, documented %d", where, got->type, want->type);
  if (want->type == HL_JSON_OBJECT) {
    HL_ASSERT_MSG(got->len == want->len, "%s: %u members, documented %u", where, got->len, want->len);
    for (uint32_t i = 0; i < want->len; i++) {
      const hl_json *g = hl_json_get(got, want->u.members[i].key);
      HL_ASSERT_MSG(g != NULL, "%s: no member \"%s\"", where, want->u.members[i].key);
      same_shape(g, &want->u.members[i].value, want->u.members[i].key);
    }
  } else if (want->type == HL_JSON_ARRAY && want->len > 0) {
    for (uint32_t i = 0; i < got->len; i++) same_shape(&got->u.items[i], &want->u.items[0], where);
  }
}

/* A partial batch response checked whole: the documented shape
 * (tests/vectors/lambda-msk/kafka-partial-batch-response.json), and exactly
 * the failed records given as "<topic>-<partition>" and offset, n of them,
 * in any order. */
static void assert_batch_failures(const char *body, const char *const *partitions, const int64_t *offsets, size_t n) {
  hl_json_doc got, want;
  hl_json_doc_init(&got);
  HL_ASSERT_MSG(hl_json_parse(&got, body, strlen(body), NULL) == 0, "not JSON: %s", body);
  same_shape(got.root, hl_vector_json("lambda-msk/kafka-partial-batch-response.json", &want), "response");
  const hl_json *f = hl_json_get(got.root, "batchItemFailures");
  HL_ASSERT_MSG(f && f->type == HL_JSON_ARRAY && f->len == n, "%s", body);
  bool seen[16] = {false};
  for (uint32_t i = 0; i < f->len; i++) {
    const hl_json *id = hl_json_get(&f->u.items[i], "itemIdentifier");
    const char *part = hl_json_str(hl_json_get(id, "partition"));
    int64_t off = -1;
    HL_ASSERT(hl_json_int64(hl_json_get(id, "offset"), &off) == 0);
    size_t k = 0;
    while (k < n && !(strcmp(partitions[k], part) == 0 && offsets[k] == off)) k++;
    HL_ASSERT_MSG(k < n && !seen[k], "unexpected or repeated failure %s/%lld in %s", part, (long long)off, body);
    seen[k] = true;
  }
  hl_json_doc_dispose(&want);
  hl_json_doc_dispose(&got);
}

/* An MSK event up to the records of topic's partition 0 (end them with
 * hl_jw_arr_end and msk_event_end). */
static void msk_topic_begin(hl_jw *w, hl_buf *b, const char *topic) {
  msk_event_begin(w, b, "aws:kafka", "arn:aws:kafka:eu-west-1:123456789012:cluster/test/1");
  char pkey[300];
  snprintf(pkey, sizeof pkey, "%s-0", topic);
  hl_jw_key(w, pkey);
  hl_jw_arr_begin(w);
}

/* n records of topic's partition 0 (keys and event ids msk-<first>...,
 * offsets from first) into the open array, naming subscription sub in a
 * header (NULL: none). */
/* One record of topic's partition 0: key and event id msk-<event>, at
 * offset (a record produced again, by a replay or a re-queue, has a later
 * offset than its event's first). */
static void msk_record_at(hl_jw *jw, const char *topic, int event, int64_t offset, const char *sub) {
  char id[32], value[128];
  snprintf(id, sizeof id, "msk-%d", event);
  snprintf(value, sizeof value, "{\"eventHeader\":{\"uuid\":\"%s\",\"eventType\":\"Payment\"},\"amount\":1.50}", id);
  hl_buf k = HL_BUF_INIT, v = HL_BUF_INIT;
  hl_base64_encode(&k, (const uint8_t *)id, strlen(id));
  hl_base64_encode(&v, (const uint8_t *)value, strlen(value));
  hl_jw_obj_begin(jw);
  hl_jw_key(jw, "topic"); hl_jw_str(jw, topic);
  hl_jw_key(jw, "partition"); hl_jw_int(jw, 0);
  hl_jw_key(jw, "offset"); hl_jw_int(jw, offset);
  hl_jw_key(jw, "timestamp"); hl_jw_int(jw, 1545084650987);
  hl_jw_key(jw, "timestampType"); hl_jw_str(jw, "CREATE_TIME");
  hl_jw_key(jw, "key"); hl_jw_str(jw, k.data);
  hl_jw_key(jw, "value"); hl_jw_str(jw, v.data);
  hl_jw_key(jw, "headers");
  hl_jw_arr_begin(jw);
  if (sub) signed_bytes_header(jw, "subscription_id", sub, strlen(sub));
  hl_jw_arr_end(jw);
  hl_jw_obj_end(jw);
  hl_buf_dispose(&k);
  hl_buf_dispose(&v);
}

static void msk_records(hl_jw *jw, const char *topic, int first, int n, const char *sub) {
  for (int i = first; i < first + n; i++) msk_record_at(jw, topic, i, i, sub);
}

/* An MSK event with n records on topic's partition 0 (keys and event ids
 * msk-<first>...), naming this test's subscription in a header when
 * sub_header. */
static char *msk_batch_on(const char *topic, int first, int n, bool sub_header) {
  hl_buf b = HL_BUF_INIT;
  hl_jw w;
  msk_topic_begin(&w, &b, topic);
  msk_records(&w, topic, first, n, sub_header ? sub_id : NULL);
  hl_jw_arr_end(&w);
  return msk_event_end(&w, &b);
}

/* An MSK event with n egress records for the subscription. */
static char *msk_batch(int first, int n) { return msk_batch_on("wh.egress.acme.Payment", first, n, true); }


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

/* The emulator, a partner, and a runtime that answers partial batch
 * responses, with partner_id subscribed to the partner's path; returns the
 * emulator's port, and the subscription's URL in url. */
static int start_partial_batch(const char *partner_id, const char *path, char *url, size_t len) {
  int port = emu_start();
  e2e_start_partner(&partner, NULL);
  const char *env[] = {"HOOKLOOP_LAMBDA_PARTIAL_BATCH=1", NULL};
  start_lambda(port, env);
  snprintf(url, len, "%s%s", partner.base, path);
  register_partner_via_apigw(partner_id, url, false);
  return port;
}

/* A Runtime API that cannot be reached is asked again after a back-off
 * that doubles up to a second: in 2.5 s a handful of tries, each logged.
 * It was asked again at once, ~50,000 times (and log lines) a second. */
HL_TEST_T(an_unreachable_runtime_api_is_asked_again_with_back_off, 60) {
  /* A port nothing listens on: bound, read, closed. */
  int s = socket(AF_INET, SOCK_STREAM, 0);
  HL_ASSERT(s >= 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t alen = sizeof a;
  HL_ASSERT(bind(s, (struct sockaddr *)&a, sizeof a) == 0);
  HL_ASSERT(getsockname(s, (struct sockaddr *)&a, &alen) == 0);
  close(s);
  start_lambda(ntohs(a.sin_port), NULL);
  hl_sleep_ms(2500);
  char log[700];
  snprintf(log, sizeof log, "%s/lambda.log", dir);
  char *text = hl_read_file(log, NULL);
  HL_ASSERT(text != NULL);
  int tries = 0;
  for (const char *p = text; (p = strstr(p, "next invocation failed")) != NULL; p++) tries++;
  free(text);
  stop_lambda();
  HL_ASSERT_MSG(tries >= 3 && tries <= 20, "%d tries in 2.5 s", tries);
}

/* REST API (v1) proxy events are routed like HTTP API ones and answered in
 * the same proxy shape; so are events invoked directly. */
HL_TEST_T(rest_api_v1_proxy_events_reach_the_api, 120) {
  int port = emu_start();
  HL_ASSERT(port > 0);
  start_lambda(port, NULL);
  char *e = apigw_v1("GET", "/healthz", NULL, NULL, NULL);
  emu_result *r = emu_wait(emu_push(e, 0), 20000);
  HL_ASSERT_EQ_INT(status_of(r), 200);
  hl_json_doc d;
  hl_json_doc_init(&d);
  HL_ASSERT(hl_json_parse(&d, r->body, strlen(r->body), NULL) == 0);
  HL_ASSERT(hl_json_get(d.root, "isBase64Encoded")->type == HL_JSON_FALSE);
  HL_ASSERT(strstr(hl_json_str(hl_json_get(d.root, "body")), "\"status\"") != NULL);
  hl_json_doc_dispose(&d);
  free(e);
  e = apigw_v1("GET", "/nowhere", NULL, NULL, NULL);
  HL_ASSERT_EQ_INT(status_of(emu_wait(emu_push(e, 0), 20000)), 404);
  free(e);
  e = apigw_v1("POST", "/admin/schemas", NULL, NULL,
               "{\"event_type\":\"Payment\",\"domain\":\"payments\",\"version\":1,\"status\":\"ACTIVE\","
               "\"schema\":{\"type\":\"object\"}}");
  HL_ASSERT_EQ_INT(status_of(emu_wait(emu_push(e, 0), 20000)), 201);
  free(e);
  /* The query reaches the API: a filter by an unknown partner lists none. */
  e = apigw_v1("GET", "/admin/subscriptions", "partner_id", "no one", NULL);
  r = emu_wait(emu_push(e, 0), 20000);
  HL_ASSERT_EQ_INT(status_of(r), 200);
  HL_ASSERT(strstr(r->body, "{\\\"subscriptions\\\":[]}") != NULL);
  free(e);
  /* A direct invocation with an event as the payload goes to the producer
   * route as it is: checked (an unknown type is 404), and, with no Kafka
   * here, answered 503 no_queue, the same answers as through API Gateway. */
  r = emu_wait(emu_push("{\"specversion\":\"1.0\",\"id\":\"e-direct-1\",\"source\":\"t\",\"type\":\"Nothing\","
                        "\"data\":{}}", 0), 20000);
  HL_ASSERT_EQ_INT(status_of(r), 404);
  r = emu_wait(emu_push("{\"eventHeader\":{\"uuid\":\"e-direct-2\",\"eventType\":\"Payment\"},\"amount\":1}", 0),
               20000);
  HL_ASSERT_EQ_INT(status_of(r), 503);
  HL_ASSERT(strstr(r->body, "no_queue") != NULL);
  /* Anything else is still refused as an unsupported event. */
  r = emu_wait(emu_push("{\"hello\":1}", 0), 20000);
  HL_ASSERT(r && strcmp(r->kind, "error") == 0 && strstr(r->body, "Hookloop.UnsupportedEvent"));
  /* A direct invocation over the body limit is told the limit. */
  enum { BIG = (1 << 20) + 1024 };
  hl_buf big = HL_BUF_INIT;
  hl_buf_puts(&big, "{\"eventHeader\":{\"uuid\":\"e-direct-big\",\"eventType\":\"Payment\"},\"pad\":\"");
  while (big.len < BIG) hl_buf_puts(&big, "pppppppppppppppp");
  hl_buf_puts(&big, "\"}");
  hl_buf_putc(&big, '\0');
  r = emu_wait(emu_push(big.data, 0), 20000);
  hl_buf_dispose(&big);
  HL_ASSERT_EQ_INT(status_of(r), 413);
  HL_ASSERT_MSG(strstr(r->body, "limit of 1048576 bytes"), "%s", r->body);
  /* A base64 body (isBase64Encoded) is decoded; one that is not base64 is
   * a 400 at /body, not an "empty body". */
  hl_buf b64 = HL_BUF_INIT;
  const char *schema = "{\"event_type\":\"Refund\",\"domain\":\"payments\",\"schema\":{\"type\":\"object\"}}";
  hl_base64_encode(&b64, (const uint8_t *)schema, strlen(schema));
  hl_buf_putc(&b64, '\0');
  const char *bodies[] = {b64.data, "not*base64!"};
  for (int i = 0; i < 2; i++) {
    e = apigw_v1("POST", "/admin/schemas", NULL, NULL, bodies[i]);
    char *flag = strstr(e, "\"isBase64Encoded\":false");
    HL_ASSERT(flag != NULL);
    memcpy(flag, "\"isBase64Encoded\":true ", 23); /* the same length: a space before the brace */
    r = emu_wait(emu_push(e, 0), 20000);
    free(e);
    if (i == 0) {
      HL_ASSERT_EQ_INT(status_of(r), 201);
    } else {
      HL_ASSERT_EQ_INT(status_of(r), 400);
      HL_ASSERT_MSG(strstr(r->body, "invalid_body") && strstr(r->body, "\\\"path\\\":\\\"/body\\\""), "%s", r->body);
    }
  }
  hl_buf_dispose(&b64);
  stop_lambda();
  emu_stop();
}

HL_TEST_T(failed_records_fail_the_batch_or_are_reported, 120) {
  char url[256];
  int port = start_partial_batch("acme", "/hook/gone?codes=410", url, sizeof url);
  /* No Kafka to dead-letter to: the records cannot reach a durable state,
   * and with partial batch responses they are listed by partition and offset. */
  char *batch = msk_batch(500, 3);
  emu_result *r = emu_wait(emu_push(batch, 0), 30000);
  HL_ASSERT(r && strcmp(r->kind, "response") == 0);
  HL_ASSERT_MSG(strstr(r->body, "{\"itemIdentifier\":{\"partition\":\"wh.egress.acme.Payment-0\",\"offset\":501}}") != NULL,
                "%s", r->body);
  /* The whole answer: the documented shape, and all three records. */
  const char *parts[] = {"wh.egress.acme.Payment-0", "wh.egress.acme.Payment-0", "wh.egress.acme.Payment-0"};
  const int64_t offs[] = {500, 501, 502};
  assert_batch_failures(r->body, parts, offs, 3);
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

/* The MSK event shapes Lambda sends, from the vectors
 * (tests/vectors/lambda-msk/edge-cases-synthetic.json): a topic whose name
 * has '-', two partitions in one event, a record without a key, header
 * values with negative (Java signed) bytes, repeated and empty headers, an
 * offset above 2^53. Re-pointed at this test's fixtures as the vectors'
 * README says: the topic becomes the egress topic of partner "orders-v2",
 * the keys get a suffix, each record gets the subscription_id header, and
 * the first one also carries the vector's signed-bytes header value as its
 * traceparent, which reaches the partner (the bytes made visible). Values,
 * partitions, offsets and the other headers are the vector's own. The
 * event's bootstrapServers is left out: the records that fail have no
 * Kafka to go to, so they are listed in the partial batch response. */
static char *edge_case_event(const char *key_suffix) {
  hl_json_doc vdoc;
  const hl_json *v = hl_vector_json("lambda-msk/edge-cases-synthetic.json", &vdoc);
  hl_buf b = HL_BUF_INIT;
  hl_jw w;
  msk_event_begin(&w, &b, hl_json_str(hl_json_get(v, "eventSource")), hl_json_str(hl_json_get(v, "eventSourceArn")));
  const hl_json *recs = hl_json_get(v, "records");
  HL_ASSERT(recs && recs->type == HL_JSON_OBJECT && recs->len == 2);
  bool first = true;
  for (uint32_t p = 0; p < recs->len; p++) {
    const hl_json *list = &recs->u.members[p].value;
    int64_t part = -1;
    hl_json_int64(hl_json_get(&list->u.items[0], "partition"), &part);
    char key[128];
    snprintf(key, sizeof key, "wh.egress.orders-v2.Payment-%lld", (long long)part);
    hl_jw_key(&w, key);
    hl_jw_arr_begin(&w);
    for (uint32_t i = 0; i < list->len; i++) {
      const hl_json *rec = &list->u.items[i];
      int64_t n = 0;
      hl_jw_obj_begin(&w);
      hl_jw_key(&w, "topic"); hl_jw_str(&w, "wh.egress.orders-v2.Payment");
      hl_json_int64(hl_json_get(rec, "partition"), &n);
      hl_jw_key(&w, "partition"); hl_jw_int(&w, n);
      HL_ASSERT(hl_json_int64(hl_json_get(rec, "offset"), &n) == 0);
      hl_jw_key(&w, "offset"); hl_jw_int(&w, n);
      hl_json_int64(hl_json_get(rec, "timestamp"), &n);
      hl_jw_key(&w, "timestamp"); hl_jw_int(&w, n);
      hl_jw_key(&w, "timestampType"); hl_jw_str(&w, hl_json_str(hl_json_get(rec, "timestampType")));
      const char *k64 = hl_json_str(hl_json_get(rec, "key"));
      if (k64) {
        uint8_t raw[128];
        int kl = hl_base64_decode(k64, strlen(k64), raw, sizeof raw - 1);
        HL_ASSERT(kl > 0);
        char id[160];
        snprintf(id, sizeof id, "%.*s%s", kl, (const char *)raw, key_suffix);
        hl_buf k = HL_BUF_INIT;
        hl_base64_encode(&k, (const uint8_t *)id, strlen(id));
        hl_jw_key(&w, "key"); hl_jw_str(&w, k.data);
        hl_buf_dispose(&k);
      }
      hl_jw_key(&w, "value"); hl_jw_str(&w, hl_json_str(hl_json_get(rec, "value")));
      hl_jw_key(&w, "headers");
      hl_jw_arr_begin(&w);
      const hl_json *hs = hl_json_get(rec, "headers");
      for (uint32_t h = 0; hs && h < hs->len; h++) {
        const hl_json_member *hm = &hs->u.items[h].u.members[0];
        char bytes[256];
        size_t nb = 0;
        for (uint32_t k = 0; k < hm->value.len && nb < sizeof bytes; k++) {
          hl_json_int64(&hm->value.u.items[k], &n);
          HL_ASSERT(n >= -128 && n <= 127); /* Java bytes */
          bytes[nb++] = (char)n;
        }
        signed_bytes_header(&w, hm->key, bytes, nb);
        /* The same signed bytes again, as a header hookloop passes on. */
        if (first && strcmp(hm->key, "x-note") == 0) signed_bytes_header(&w, "traceparent", bytes, nb);
      }
      msk_record_end(&w);
      first = false;
    }
    hl_jw_arr_end(&w);
  }
  hl_json_doc_dispose(&vdoc);
  return msk_event_end(&w, &b);
}

HL_TEST_T(the_msk_vectors_run_as_events, 120) {
  char url[256];
  start_partial_batch("orders-v2", "/hook/orders", url, sizeof url);
  static const char *parts3[] = {"wh.egress.orders-v2.Payment-3", "wh.egress.orders-v2.Payment-3",
                                 "wh.egress.orders-v2.Payment-0"};
  static const int64_t offs[] = {41, 42, 9007199254740993LL};
  /* A partner that answers 200: the two keyed records are delivered, the
   * one without a key cannot be (its key is the webhook-id) and is reported. */
  char *ev = edge_case_event("");
  emu_result *r = emu_wait(emu_push(ev, 0), 30000);
  free(ev);
  HL_ASSERT(r != NULL);
  HL_ASSERT_MSG(strcmp(r->kind, "response") == 0, "%s: %s", r->kind, r->body);
  assert_batch_failures(r->body, parts3 + 1, offs + 1, 1);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "orders", 2, 5000, &doc), 2);
  bool got41 = false, gotbig = false;
  for (uint32_t i = 0; i < 2; i++) {
    const hl_json *q = &doc.root->u.items[i];
    const char *id = hl_json_str(hl_json_get(q, "webhook_id"));
    const char *body = hl_json_str(hl_json_get(q, "body"));
    if (strcmp(id, "order-41") == 0) {
      got41 = true;
      HL_ASSERT_EQ_STR(body, "{\"id\":\"order-41\",\"amount\":\"10.25\"}");
      HL_ASSERT_EQ_STR(hl_json_str(hl_json_get(q, "traceparent")), "hello-world-\xc3\xab"); /* [.., -61, -85] */
    } else if (strcmp(id, "order-big-offset") == 0) {
      gotbig = true;
      HL_ASSERT_EQ_STR(body, "{\"id\":\"order-big-offset\",\"amount\":\"1\"}");
    }
  }
  HL_ASSERT_MSG(got41 && gotbig, "the partner got the wrong records");
  hl_json_doc_dispose(&doc);
  /* The same shapes against a partner that answers 410: every record is
   * reported, the offset above 2^53 to the unit, each with its own partition. */
  snprintf(url, sizeof url, "%s/hook/orders?codes=410", partner.base);
  register_partner_via_apigw("orders-v2", url, true);
  ev = edge_case_event("-b");
  r = emu_wait(emu_push(ev, 0), 30000);
  free(ev);
  HL_ASSERT(r && strcmp(r->kind, "response") == 0);
  assert_batch_failures(r->body, parts3, offs, 3);
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "orders", 5, 500, &doc), 4); /* the keyless one never goes out */
  hl_json_doc_dispose(&doc);
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
  /* The ErrorRequest body of the Runtime API (tests/vectors/lambda-runtime-api):
   * errorMessage and errorType strings, stackTrace an array when present. */
  hl_json_doc got, want;
  hl_json_doc_init(&got);
  HL_ASSERT_MSG(hl_json_parse(&got, r->body, strlen(r->body), NULL) == 0, "not JSON: %s", r->body);
  const hl_json *w = hl_vector_json("lambda-runtime-api/error-request.json", &want);
  for (uint32_t i = 0; i < w->len; i++) {
    const hl_json_member *m = &w->u.members[i];
    const hl_json *g = hl_json_get(got.root, m->key);
    HL_ASSERT_MSG(g || strcmp(m->key, "stackTrace") == 0, "no %s in %s", m->key, r->body);
    HL_ASSERT_MSG(!g || g->type == m->value.type, "%s has the wrong type in %s", m->key, r->body);
  }
  HL_ASSERT(r->error_type[0] != '\0'); /* Lambda-Runtime-Function-Error-Type */
  hl_json_doc_dispose(&want);
  hl_json_doc_dispose(&got);
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
  /* Beside it, the template to deploy, with a retry event source per tier. */
  char tpl[700];
  snprintf(tpl, sizeof tpl, "%s/template.json", pkg);
  assert_template_tiers(tpl, NULL);
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
  const char *files[] = {"deploy/lambda/template.json", "deploy/ecs/task-definition.json",
                         "deploy/ecs/task-definition-postgres.json"};
  int total = 0;
  for (size_t f = 0; f < HL_ARRAY_SIZE(files); f++) {
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

/* A whole topic as kcat prints it with format fmt, or as JSON lines (fmt
 * NULL: kcat's -J envelope). Free the result. */
static char *topic_dump(const hl_mock_kafka *mk, const char *topic, const char *fmt) {
  char cmd[1200], f[200] = "-J";
  if (fmt) snprintf(f, sizeof f, "-f '%s'", fmt);
  snprintf(cmd, sizeof cmd, "timeout 20 kcat -C -b %s -t %s -o beginning -e -q %s 2>/dev/null", mk->bootstrap, topic, f);
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

static char brokers_env[700]; /* KAFKA_BROKERS=<the mock broker> */

/* The mock Kafka broker with topics (one partition each). */
static void kafka_start(hl_mock_kafka *mk, const char *const *topics) {
  HL_ASSERT(hl_mock_kafka_start(mk, 1) == 0);
  for (size_t i = 0; topics && topics[i]; i++) {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "create %s 1 1", topics[i]);
    HL_ASSERT(hl_mock_kafka_cmd(mk, cmd) == 0);
  }
  snprintf(brokers_env, sizeof brokers_env, "KAFKA_BROKERS=%s", mk->bootstrap);
}

/* The emulator, the partner, the function with env, and acme's
 * subscription to Payment at the partner's hook (a path below /hook/).
 * Returns the emulator's port. */
static int function_start(const char *const *env, const char *hook) {
  int port = emu_start();
  e2e_start_partner(&partner, NULL);
  start_lambda(port, env);
  char url[256];
  snprintf(url, sizeof url, "%s/hook/%s", partner.base, hook);
  register_via_apigw(url);
  return port;
}

HL_TEST_T(the_deadline_hands_work_to_the_retry_topic, 120) {
  hl_mock_kafka mk;
  const char *topics[] = {"wh.retry.100ms", NULL};
  kafka_start(&mk, topics);
  const char *env[] = {brokers_env, NULL};
  function_start(env, "slow?latency_ms=8000");
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
  const char *topics[] = {"wh.dlq", "wh.egress.acme.Payment", NULL};
  kafka_start(&mk, topics);
  const char *env[] = {brokers_env, NULL};
  int port = function_start(env, "bytopic");
  char *batch = msk_batch_on("wh.egress.acme.Payment", 1000, 3, false);
  emu_result *r = emu_wait(emu_push(batch, 0), 30000);
  HL_ASSERT(r && strcmp(r->kind, "response") == 0);
  HL_ASSERT_EQ_STR(r->body, "{\"batchItemFailures\":[]}");
  free(batch);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "bytopic", 3, 5000, &doc), 3);
  hl_json_doc_dispose(&doc);
  batch = msk_batch_on("wh.egress.nobody.Payment", 1100, 2, false);
  r = emu_wait(emu_push(batch, 0), 30000);
  HL_ASSERT(r && strcmp(r->kind, "response") == 0);
  HL_ASSERT_EQ_STR(r->body, "{\"batchItemFailures\":[]}");
  free(batch);
  HL_ASSERT_EQ_INT(last_emf("events_to_dlq"), 2);
  /* An ingress batch: the processor counts what it fanned out. */
  batch = msk_batch_on("wh.ingress.payments.Payment.v1", 1200, 2, false);
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
  char url[256];
  snprintf(url, sizeof url, "%s/hook/bytopic", partner.base);
  register_via_apigw(url);
  batch = msk_batch_on("wh.egress.nobody.Payment", 1300, 1, false);
  r = emu_wait(emu_push(batch, 0), 30000);
  HL_ASSERT(r && strcmp(r->kind, "response") == 0);
  HL_ASSERT_MSG(strstr(r->body, "\"offset\":1300") != NULL, "%s", r->body);
  free(batch);
  stop_lambda();
  e2e_stop_partner(&partner);
  emu_stop();
  hl_mock_kafka_stop(&mk);
}

/* `hookloop tables create` with env (DynamoDB); returns the directory of its
 * log (remove it when done). */
static char *create_tables(const char *const *env) {
  char *tdir = hl_tmpdir("tables");
  char log[600];
  snprintf(log, sizeof log, "%s/tables.log", tdir);
  char *argv[] = {(char *)hl_bin_path("hookloop"), (char *)"tables", (char *)"create", NULL};
  HL_ASSERT_EQ_INT(hl_wait(hl_spawn(argv, (char *const *)env, log), 60000), 0);
  return tdir;
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
  char *tdir = create_tables(ddb);

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
/* Starts the emulator and the function with env; its first invocation (a
 * GET /healthz, returned for the caller to push again and free) fails with
 * Hookloop.StoreUnavailable, whose result goes to *r. */
static char *cold_start_unavailable(const char *const *env, int timeout_ms, emu_result **r) {
  int port = emu_start();
  start_lambda(port, env);
  char *e = apigw("GET", "/healthz", NULL);
  *r = emu_wait(emu_push(e, 0), timeout_ms);
  HL_ASSERT(*r != NULL);
  HL_ASSERT_MSG(strcmp((*r)->kind, "error") == 0, "answered %s: %s", (*r)->kind, (*r)->body);
  HL_ASSERT_EQ_STR((*r)->error_type, "Hookloop.StoreUnavailable");
  return e;
}

HL_TEST_T(a_store_down_at_cold_start_fails_invocations_not_the_environment, 180) {
  hl_dynalite dyn = {0};
  /* Bound and not listening: refused until dynalite takes the port, and
   * no other process can take it meanwhile. */
  int held = hl_hold_port(&dyn.port);
  HL_ASSERT(held >= 0);
  static char ep[128];
  snprintf(ep, sizeof ep, "DYNAMODB_ENDPOINT=http://127.0.0.1:%d", dyn.port); /* nobody there yet */
  const char *ddb[] = {"HOOKLOOP_STORE=dynamodb", ep, "AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=AKIDEXAMPLE",
                       "AWS_SECRET_ACCESS_KEY=lambda-test-secret", NULL};
  emu_result *r = NULL;
  char *e = cold_start_unavailable(ddb, 60000, &r);
  /* The store comes up, with its tables. */
  close(held);
  HL_ASSERT_MSG(hl_dynalite_start(&dyn, 0) == 0, "dynalite did not start");
  char *tdir = create_tables(ddb);
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
/* The actions of service prefix ("dynamodb:") anywhere under v, without it. */
static void iam_actions_of(const hl_json *v, const char *prefix, char names[][48], int *n) {
  size_t pl = strlen(prefix);
  if (v->type == HL_JSON_STRING && strncmp(v->u.str, prefix, pl) == 0 && *n < 40) {
    snprintf(names[(*n)++], 48, "%s", v->u.str + pl);
  } else if (v->type == HL_JSON_ARRAY) {
    for (uint32_t i = 0; i < v->len; i++) iam_actions_of(&v->u.items[i], prefix, names, n);
  } else if (v->type == HL_JSON_OBJECT) {
    for (uint32_t i = 0; i < v->len; i++) iam_actions_of(&v->u.members[i].value, prefix, names, n);
  }
}

static void iam_actions(const hl_json *v, char names[][48], int *n) { iam_actions_of(v, "dynamodb:", names, n); }

/* deploy/lambda/template.json parsed into d; returns its text (free it
 * after disposing d). */
static char *template_parse(hl_json_doc *d) {
  char path[600];
  snprintf(path, sizeof path, "%s/deploy/lambda/template.json", HL_SOURCE_DIR);
  size_t len;
  char *text = hl_read_file(path, &len);
  HL_ASSERT(text != NULL);
  hl_json_doc_init(d);
  HL_ASSERT(hl_json_parse(d, text, len, NULL) == 0);
  return text;
}

/* Least privilege for destinations: the policy grants exactly the one call
 * each destination sender makes (as the AWS sources spell it), no other
 * action of those services. */
HL_TEST(the_iam_policy_grants_exactly_the_destination_calls_made) {
  static const struct { const char *prefix, *src, *needle, *action; } calls[] = {
    {"sns:", "src/aws/hl_aws_sns.c", "\"Action\", \"Publish\"", "Publish"},
    {"sqs:", "src/aws/hl_aws_sqs.c", "\"AmazonSQS.SendMessage\"", "SendMessage"},
    {"events:", "src/aws/hl_aws_events.c", "\"AWSEvents.PutEvents\"", "PutEvents"},
  };
  char path[600];
  hl_json_doc d;
  char *text = template_parse(&d);
  for (size_t i = 0; i < HL_ARRAY_SIZE(calls); i++) {
    snprintf(path, sizeof path, "%s/%s", HL_SOURCE_DIR, calls[i].src);
    char *code = hl_read_file(path, NULL);
    HL_ASSERT_MSG(code && strstr(code, calls[i].needle), "%s no longer makes %s", calls[i].src, calls[i].action);
    free(code);
    static char granted[40][48];
    int ng = 0;
    iam_actions_of(hl_json_pointer(d.root, "/Resources/HookloopPolicy", 25), calls[i].prefix, granted, &ng);
    HL_ASSERT_MSG(ng == 1, "the policy grants %d %s actions, expected only %s", ng, calls[i].prefix, calls[i].action);
    HL_ASSERT_EQ_STR(granted[0], calls[i].action);
  }
  hl_json_doc_dispose(&d);
  free(text);
}

/* Least privilege, checked: the policy grants exactly the DynamoDB
 * operations the store sends at run time (hl_store_ddb.c; `tables create`
 * runs with an operator's rights, not the functions'). */
/* The ECS task role reaches every table and index `serve` calls with the
 * DynamoDB store and queue (the task definition's HOOKLOOP_STORE and
 * HOOKLOOP_QUEUE): each table but parked_retry (Lambda's), and the two
 * indexes it queries (DynamoDB authorizes a Query on an index against the
 * index's ARN). Without delivery_attempt and by_subscription, the attempt
 * log, the search by subscription and recover failed on ECS. */
HL_TEST(the_ecs_task_role_reaches_every_table_and_index_serve_uses) {
  hl_table_names n;
  hl_table_names_default(&n);
  const char *tables[] = {n.schema_table, n.subscription_table, n.kafka_table, n.delivery_table, n.ledger_table,
                          n.transform_table, n.partner_table, n.attempt_table, n.events_table, n.queue_table};
  char path[600];
  snprintf(path, sizeof path, "%s/deploy/ecs/task-role-policy.json", HL_SOURCE_DIR);
  char *text = hl_read_file(path, NULL);
  HL_ASSERT(text != NULL);
  char want[200];
  for (size_t i = 0; i < HL_ARRAY_SIZE(tables); i++) {
    snprintf(want, sizeof want, ":table/%s\"", tables[i]);
    HL_ASSERT_MSG(strstr(text, want), "deploy/ecs/task-role-policy.json names no table %s", tables[i]);
  }
  snprintf(want, sizeof want, ":table/%s/index/by_subscription\"", n.delivery_table);
  HL_ASSERT_MSG(strstr(text, want), "the ECS task role cannot query %s's by_subscription index", n.delivery_table);
  snprintf(want, sizeof want, ":table/%s/index/%s\"", n.queue_table, HL_QUEUE_DDB_INDEX);
  HL_ASSERT_MSG(strstr(text, want), "the ECS task role cannot query %s's due index", n.queue_table);
  free(text);
}

HL_TEST(the_iam_policy_grants_exactly_the_dynamodb_calls_made) {
  /* The store's calls and the DynamoDB queue's. */
  char path[600];
  hl_buf all = HL_BUF_INIT;
  static const char *const files[] = {"src/store/hl_store_ddb.c", "src/queue/hl_queue_ddb.c"};
  for (size_t f = 0; f < HL_ARRAY_SIZE(files); f++) {
    snprintf(path, sizeof path, "%s/%s", HL_SOURCE_DIR, files[f]);
    char *one = hl_read_file(path, NULL);
    HL_ASSERT(one);
    hl_buf_puts(&all, one);
    free(one);
  }
  char *code = hl_buf_steal(&all, NULL);
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
  hl_json_doc d;
  char *text = template_parse(&d);
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

/* What an MSK event source mapping would hand the function for topic: every
 * record on it (read with kcat's JSON envelope), as one batch. *count gets
 * their number. */
static char *msk_batch_from(const hl_mock_kafka *mk, const char *topic, int *count) {
  char *dump = topic_dump(mk, topic, NULL);
  hl_buf b = HL_BUF_INIT;
  hl_jw w;
  msk_topic_begin(&w, &b, topic);
  *count = 0;
  for (char *line = strtok(dump, "\n"); line; line = strtok(NULL, "\n")) {
    hl_json_doc d;
    hl_json_doc_init(&d);
    HL_ASSERT_MSG(hl_json_parse(&d, line, strlen(line), NULL) == 0, "kcat -J line: %s", line);
    const char *key = hl_json_str(hl_json_get(d.root, "key"));
    const char *value = hl_json_str(hl_json_get(d.root, "payload"));
    int64_t part = 0, off = 0;
    hl_json_int64(hl_json_get(d.root, "partition"), &part);
    hl_json_int64(hl_json_get(d.root, "offset"), &off);
    HL_ASSERT(key && value && part == 0);
    hl_buf k = HL_BUF_INIT, v = HL_BUF_INIT;
    hl_base64_encode(&k, (const uint8_t *)key, strlen(key));
    hl_base64_encode(&v, (const uint8_t *)value, strlen(value));
    hl_jw_obj_begin(&w);
    hl_jw_key(&w, "topic"); hl_jw_str(&w, topic);
    hl_jw_key(&w, "partition"); hl_jw_int(&w, part);
    hl_jw_key(&w, "offset"); hl_jw_int(&w, off);
    hl_jw_key(&w, "key"); hl_jw_str(&w, k.data);
    hl_jw_key(&w, "value"); hl_jw_str(&w, v.data);
    hl_jw_key(&w, "headers");
    hl_jw_arr_begin(&w);
    const hl_json *hs = hl_json_get(d.root, "headers"); /* ["name", "value", ...] */
    for (uint32_t i = 0; hs && hs->type == HL_JSON_ARRAY && i + 1 < hs->len; i += 2)
      signed_bytes_header(&w, hl_json_str(&hs->u.items[i]), hl_json_str(&hs->u.items[i + 1]),
                  strlen(hl_json_str(&hs->u.items[i + 1])));
    hl_jw_arr_end(&w);
    hl_jw_obj_end(&w);
    hl_buf_dispose(&k);
    hl_buf_dispose(&v);
    hl_json_doc_dispose(&d);
    (*count)++;
  }
  free(dump);
  hl_jw_arr_end(&w);
  return msk_event_end(&w, &b);
}

/* The due_ms header of the first record on topic. */
static int64_t due_on(const hl_mock_kafka *mk, const char *topic) {
  char *dump = topic_dump(mk, topic, "%h\\n");
  const char *at = strstr(dump, "due_ms=");
  int64_t due = at ? strtoll(at + 7, NULL, 10) : -1;
  free(dump);
  return due;
}

static int records_on(const hl_mock_kafka *mk, const char *topic) {
  char *dump = topic_dump(mk, topic, "%o\\n");
  int n = 0;
  for (const char *p = dump; *p; p++) n += *p == '\n';
  free(dump);
  return n;
}

static emu_result *drain(int64_t deadline_ms) {
  static const char ev[] = "{\"version\":\"0\",\"id\":\"5e9f0c65-0000-4000-8000-000000000001\","
                           "\"detail-type\":\"Scheduled Event\",\"source\":\"aws.events\",\"account\":\"123456789012\","
                           "\"time\":\"2026-11-24T06:00:00Z\",\"region\":\"eu-west-1\","
                           "\"resources\":[\"arn:aws:events:eu-west-1:123456789012:rule/hookloop-drain\"],\"detail\":{}}";
  emu_result *r = emu_wait(emu_push(ev, deadline_ms), 60000);
  HL_ASSERT(r != NULL);
  HL_ASSERT_MSG(strcmp(r->kind, "response") == 0, "drain answered %s: %s", r->kind, r->body);
  return r;
}

/* A retry record not yet due is never produced again to its own topic:
 * one due within the invocation waits in it, a later one is parked in the
 * store (DynamoDB) and a scheduled drain delivers it when due. Each retry
 * hop costs exactly one produce. The schedule 10s,20s with a partner
 * answering 503, 503, 200: the first retry waits in its invocation, the
 * second is parked (its invocation has 8 s left) and drained. */
HL_TEST_T(each_retry_hop_is_one_produce_waited_for_or_parked_and_drained, 240) {
  hl_mock_kafka mk;
  const char *topics[] = {"wh.retry.10s", "wh.retry.20s", "wh.dlq", "wh.egress.acme.Payment", NULL};
  kafka_start(&mk, topics);
  hl_dynalite dyn = {0};
  HL_ASSERT_MSG(hl_dynalite_start(&dyn, 0) == 0, "dynalite did not start");
  static char ep[128];
  snprintf(ep, sizeof ep, "DYNAMODB_ENDPOINT=%s", dyn.endpoint);
  const char *env[] = {"HOOKLOOP_STORE=dynamodb", ep, "AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=AKIDEXAMPLE",
                       "AWS_SECRET_ACCESS_KEY=lambda-test-secret", brokers_env, "HOOKLOOP_RETRY_SCHEDULE=10s,20s", NULL};
  char *tdir = create_tables(env);
  function_start(env, "hops?codes=503,503,200");
  /* Attempt 1 (503): one produce to the first tier. */
  char *batch = msk_batch(2000, 1);
  emu_result *r = emu_wait(emu_push(batch, 0), 30000);
  HL_ASSERT(r && strcmp(r->kind, "response") == 0);
  HL_ASSERT_EQ_STR(r->body, "{\"batchItemFailures\":[]}");
  free(batch);
  /* The first tier's record, not due yet: waited for in the invocation,
   * attempt 2 (503) when due, one produce to the second tier. */
  int n = 0;
  batch = msk_batch_from(&mk, "wh.retry.10s", &n);
  HL_ASSERT_EQ_INT(n, 1);
  int64_t due1 = due_on(&mk, "wh.retry.10s");
  HL_ASSERT_MSG(hl_wall_ms() < due1, "the retry record was read after it fell due: nothing to wait for");
  r = emu_wait(emu_push(batch, hl_wall_ms() + 60000), 30000);
  HL_ASSERT(r && strcmp(r->kind, "response") == 0);
  HL_ASSERT_EQ_STR(r->body, "{\"batchItemFailures\":[]}");
  free(batch);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "hops", 2, 5000, &doc), 2);
  int64_t at = 0;
  hl_json_int64(hl_json_get(&doc.root->u.items[1], "time_ms"), &at);
  HL_ASSERT_MSG(at >= due1, "attempt 2 came %lld ms before it was due", (long long)(due1 - at));
  hl_json_doc_dispose(&doc);
  HL_ASSERT_EQ_INT(records_on(&mk, "wh.retry.10s"), 1); /* not produced again */
  HL_ASSERT_EQ_INT(records_on(&mk, "wh.retry.20s"), 1);
  int64_t due = due_on(&mk, "wh.retry.20s");
  HL_ASSERT(due > hl_wall_ms() + 10000);
  /* The second tier's record, due in ~20 s, in an invocation with 8 s
   * left: parked, the batch done, nothing produced. */
  batch = msk_batch_from(&mk, "wh.retry.20s", &n);
  r = emu_wait(emu_push(batch, hl_wall_ms() + 8000), 30000);
  HL_ASSERT(r && strcmp(r->kind, "response") == 0);
  HL_ASSERT_EQ_STR(r->body, "{\"batchItemFailures\":[]}");
  free(batch);
  HL_ASSERT_EQ_INT(records_on(&mk, "wh.retry.20s"), 1);
  /* A drain whose invocation ends before it falls due takes nothing. */
  r = drain(hl_wall_ms() + 10000);
  HL_ASSERT_EQ_STR(r->body, "{\"parked_taken\":0,\"done\":0,\"left\":0}");
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "hops", 3, 0, &doc), 2);
  hl_json_doc_dispose(&doc);
  /* One that lasts past its due time takes it, waits and delivers it. */
  while (hl_wall_ms() < due - 8000) hl_sleep_ms(100);
  r = drain(due + 12000);
  HL_ASSERT_EQ_STR(r->body, "{\"parked_taken\":1,\"done\":1,\"left\":0}");
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "hops", 3, 5000, &doc), 3);
  HL_ASSERT_EQ_STR(hl_json_str(hl_json_get(&doc.root->u.items[2], "webhook_id")), "msk-2000");
  hl_json_int64(hl_json_get(&doc.root->u.items[2], "time_ms"), &at);
  HL_ASSERT_MSG(at >= due, "attempt 3 came %lld ms before it was due", (long long)(due - at));
  hl_json_doc_dispose(&doc);
  /* Delivered and forgotten: the next drain finds nothing; one produce per hop in all. */
  r = drain(hl_wall_ms() + 60000);
  HL_ASSERT_EQ_STR(r->body, "{\"parked_taken\":0,\"done\":0,\"left\":0}");
  HL_ASSERT_EQ_INT(records_on(&mk, "wh.retry.10s"), 1);
  HL_ASSERT_EQ_INT(records_on(&mk, "wh.retry.20s"), 1);
  HL_ASSERT_EQ_INT(records_on(&mk, "wh.dlq"), 0);
  /* The status row says so: three attempts, the last delivered. */
  char *e = apigw("GET", "/admin/deliveries?event_id=msk-2000", NULL);
  r = emu_wait(emu_push(e, 0), 20000);
  free(e);
  HL_ASSERT_EQ_INT(status_of(r), 200);
  HL_ASSERT_MSG(strstr(r->body, "\\\"status\\\":\\\"SUCCESS\\\"") && strstr(r->body, "\\\"attempts\\\":3"), "%s", r->body);
  stop_lambda();
  e2e_stop_partner(&partner);
  emu_stop();
  hl_dynalite_stop(&dyn);
  hl_mock_kafka_stop(&mk);
  hl_rmtree(tdir);
  free(tdir);
}

/* The topics of the MSK event sources of DispatcherFunction in a SAM
 * template, asserting that each reads exactly one topic (an event source
 * mapping takes one, and no pattern). */
static int dispatcher_topics(const hl_json *root, char topics[][128], int max) {
  const hl_json *events = hl_json_pointer(root, "/Resources/DispatcherFunction/Properties/Events",
                                          strlen("/Resources/DispatcherFunction/Properties/Events"));
  HL_ASSERT(events && events->type == HL_JSON_OBJECT);
  int n = 0;
  for (uint32_t i = 0; i < events->len; i++) {
    const hl_json *ev = &events->u.members[i].value;
    if (strcmp(hl_json_str(hl_json_get(ev, "Type")), "MSK") != 0) continue;
    const hl_json *t = hl_json_pointer(ev, "/Properties/Topics", strlen("/Properties/Topics"));
    HL_ASSERT_MSG(t && t->type == HL_JSON_ARRAY && t->len == 1, "event %.*s does not read exactly one topic",
                  (int)events->u.members[i].key_len, events->u.members[i].key);
    HL_ASSERT(n < max);
    snprintf(topics[n++], 128, "%s", hl_json_str(&t->u.items[0]));
  }
  return n;
}

/* `hookloop retry-topics` for a schedule and prefix: the topics the
 * dispatcher produces retries to. */
static int retry_topics(const char *schedule, const char *prefix, char topics[][128], int max) {
  char cmd[1200];
  snprintf(cmd, sizeof cmd, "HOOKLOOP_RETRY_SCHEDULE='%s' HOOKLOOP_RETRY_TOPIC_PREFIX='%s' %s retry-topics", schedule,
           prefix, hl_bin_path("hookloop"));
  FILE *p = popen(cmd, "r");
  HL_ASSERT(p != NULL);
  int n = 0;
  while (n < max && fgets(topics[n], 128, p)) {
    topics[n][strcspn(topics[n], "\n")] = '\0';
    n++;
  }
  HL_ASSERT_EQ_INT(pclose(p), 0);
  return n;
}

/* The retry topics among a template's dispatcher topics are exactly the
 * tiers of its schedule. */
static void assert_template_tiers(const char *path, const char *schedule_want) {
  size_t len;
  char *text = hl_read_file(path, &len);
  HL_ASSERT_MSG(text, "cannot read %s", path);
  hl_json_doc d;
  hl_json_doc_init(&d);
  HL_ASSERT_MSG(hl_json_parse(&d, text, len, NULL) == 0, "%s is not JSON", path);
  const hl_json *vars = hl_json_pointer(d.root, "/Globals/Function/Environment/Variables",
                                        strlen("/Globals/Function/Environment/Variables"));
  const char *schedule = hl_json_str(hl_json_get(vars, "HOOKLOOP_RETRY_SCHEDULE"));
  const char *prefix = hl_json_str(hl_json_get(vars, "HOOKLOOP_RETRY_TOPIC_PREFIX"));
  HL_ASSERT(schedule && prefix);
  if (schedule_want) HL_ASSERT_EQ_STR(schedule, schedule_want);
  static char want[64][128], have[64][128];
  int nw = retry_topics(schedule, prefix, want, 64);
  int nh = dispatcher_topics(d.root, have, 64);
  int retry_have = 0;
  for (int i = 0; i < nh; i++) {
    if (strncmp(have[i], prefix, strlen(prefix)) != 0 || have[i][strlen(prefix)] != '.') continue;
    retry_have++;
    bool ok = false;
    for (int k = 0; k < nw; k++) ok |= strcmp(have[i], want[k]) == 0;
    HL_ASSERT_MSG(ok, "%s: the dispatcher reads %s, which the schedule %s never produces", path, have[i], schedule);
  }
  for (int k = 0; k < nw; k++) {
    bool ok = false;
    for (int i = 0; i < nh; i++) ok |= strcmp(have[i], want[k]) == 0;
    HL_ASSERT_MSG(ok, "%s: the schedule %s produces %s, which nothing reads", path, schedule, want[k]);
  }
  HL_ASSERT_EQ_INT(retry_have, nw);
  /* And the parked retries are drained on a schedule. */
  const hl_json *drain = hl_json_pointer(d.root, "/Resources/DispatcherFunction/Properties/Events/DrainParked",
                                         strlen("/Resources/DispatcherFunction/Properties/Events/DrainParked"));
  HL_ASSERT(drain && strcmp(hl_json_str(hl_json_get(drain, "Type")), "Schedule") == 0);
  hl_json_doc_dispose(&d);
  free(text);
}

/* Every tier the Lambda deployment's schedule can produce is consumed: one
 * MSK event source per tier topic in the checked-in template. */
HL_TEST(the_template_consumes_every_retry_tier_of_its_schedule) {
  char path[600];
  snprintf(path, sizeof path, "%s/deploy/lambda/template.json", HL_SOURCE_DIR);
  assert_template_tiers(path, NULL);
}

/* The build writes the template to deploy with the retry event sources of
 * whatever schedule the template sets (deploy/lambda/template.cmake). */
HL_TEST(the_build_generates_the_retry_event_sources_from_the_schedule) {
  char src[600], *tmp = hl_tmpdir("template"), in[700], out[700];
  snprintf(src, sizeof src, "%s/deploy/lambda/template.json", HL_SOURCE_DIR);
  char *text = hl_read_file(src, NULL);
  HL_ASSERT(text);
  const char *was = "\"HOOKLOOP_RETRY_SCHEDULE\": \"1s,5s,30s,2m,10m,1h,4h\"";
  char *at = strstr(text, was);
  HL_ASSERT_MSG(at, "the template's schedule is not the default one");
  snprintf(in, sizeof in, "%s/source.json", tmp);
  snprintf(out, sizeof out, "%s/template.json", tmp);
  FILE *f = fopen(in, "w");
  fprintf(f, "%.*s\"HOOKLOOP_RETRY_SCHEDULE\": \"2s,90s,90s,250ms\"%s", (int)(at - text), text, at + strlen(was));
  fclose(f);
  free(text);
  char cmd[3000];
  snprintf(cmd, sizeof cmd, "cmake -DHOOKLOOP=%s -DSOURCE=%s -DOUTPUT=%s -DCODE_URI=hookloop-lambda.zip -P "
           "%s/deploy/lambda/template.cmake > %s/cmake.log 2>&1", hl_bin_path("hookloop"), in, out, HL_SOURCE_DIR, tmp);
  HL_ASSERT_MSG(system(cmd) == 0, "template.cmake failed; see %s/cmake.log", tmp);
  assert_template_tiers(out, "2s,90s,90s,250ms");
  char *gen = hl_read_file(out, NULL);
  HL_ASSERT(gen && strstr(gen, "\"wh.retry.250ms\"") && !strstr(gen, "\"wh.retry.1s\""));
  HL_ASSERT(strstr(gen, "\"CodeUri\" : \"hookloop-lambda.zip\""));
  free(gen);
  hl_rmtree(tmp);
  free(tmp);
}

/* HOOKLOOP_KMS_KEY_ID in Lambda: the data key is obtained while /next is
 * pending. KMS refusing fails the invocation with a message naming the
 * variable (not the environment); the next invocation tries again, and the
 * secret registered then reaches the store sealed, never in plain text. */
HL_TEST_T(kms_data_key_in_lambda_refusal_fails_the_invocation_then_seals, 120) {
  svc_peer kms;
  svc_peer_start(&kms, "AKIDEXAMPLE", "lambda-test-secret", NULL);
  svc_peer_fault(&kms, "{\"action\":\"GenerateDataKey\",\"kind\":\"access_denied\",\"count\":1}");
  static char ep[128];
  snprintf(ep, sizeof ep, "AWS_ENDPOINT_URL_KMS=%s", kms.endpoint);
  const char *env[] = {"HOOKLOOP_KMS_KEY_ID=alias/hookloop-lambda", ep, "AWS_REGION=eu-west-1",
                       "AWS_ACCESS_KEY_ID=AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY=lambda-test-secret", NULL};
  emu_result *r = NULL;
  char *e = cold_start_unavailable(env, 30000, &r);
  HL_ASSERT_MSG(strstr(r->body, "HOOKLOOP_KMS_KEY_ID=alias/hookloop-lambda") && strstr(r->body, "AccessDeniedException"),
                "%s", r->body);
  free(e);
  /* The fault is spent: the next invocation gets the key. */
  static const char secret[] = "whsec_bGFtYmRhLWttcy1zZWFsZWQtc2VjcmV0LTAx";
  e = apigw("POST", "/admin/schemas", "{\"event_type\":\"Payment\",\"domain\":\"payments\",\"schema\":{\"type\":\"object\"}}");
  HL_ASSERT_EQ_INT(status_of(emu_wait(emu_push(e, 0), 20000)), 201);
  free(e);
  e = apigw("POST", "/admin/subscriptions", "{\"partner_id\":\"acme\",\"event_type\":\"Payment\","
                                            "\"url\":\"http://127.0.0.1:9/hook\",\"secret\":\"whsec_bGFtYmRhLWttcy1zZWFsZWQtc2VjcmV0LTAx\"}");
  HL_ASSERT_EQ_INT(status_of(emu_wait(emu_push(e, 0), 20000)), 201);
  free(e);
  char db[700];
  snprintf(db, sizeof db, "%s/hookloop.db", dir);
  kill(lambda_pid, SIGKILL); /* the file as a frozen environment leaves it: WAL included */
  hl_wait(lambda_pid, 5000);
  hl_buf raw = HL_BUF_INIT;
  const char *files[] = {"", "-wal"};
  for (size_t i = 0; i < HL_ARRAY_SIZE(files); i++) {
    char p[800];
    snprintf(p, sizeof p, "%s%s", db, files[i]);
    size_t len = 0;
    char *bytes = hl_read_file(p, &len);
    if (bytes) hl_buf_append(&raw, bytes, len);
    free(bytes);
  }
  HL_ASSERT_MSG(raw.len > 0 && memmem(raw.data, raw.len, "hlseal:v2:", 10), "nothing sealed in %s", db);
  HL_ASSERT_MSG(!memmem(raw.data, raw.len, secret + 6, strlen(secret) - 6), "the secret is in plain text in %s", db);
  hl_buf_dispose(&raw);
  stop_lambda();
  emu_stop();
  svc_peer_stop(&kms);
}

/* Least privilege for the sealing key: the SAM policy and the ECS task
 * policy grant exactly the two KMS calls hl_app_kms makes (as the KMS
 * client spells them), on the key of HOOKLOOP_KMS_KEY_ID. */
HL_TEST(the_iam_policies_grant_exactly_the_kms_calls_made) {
  static const char *const made[] = {"GenerateDataKey", "Decrypt"};
  char path[600];
  snprintf(path, sizeof path, "%s/src/aws/hl_aws_kms.c", HL_SOURCE_DIR);
  char *code = hl_read_file(path, NULL);
  snprintf(path, sizeof path, "%s/src/app/hl_app_kms.c", HL_SOURCE_DIR);
  char *app = hl_read_file(path, NULL);
  HL_ASSERT(code && app);
  for (size_t i = 0; i < HL_ARRAY_SIZE(made); i++) {
    char needle[64];
    snprintf(needle, sizeof needle, "\"TrentService.%s\"", made[i]);
    HL_ASSERT_MSG(strstr(code, needle), "hl_aws_kms.c no longer sends %s", needle);
  }
  HL_ASSERT(strstr(app, "hl_kms_generate_data_key(") && strstr(app, "hl_kms_decrypt("));
  free(code);
  free(app);
  hl_json_doc d, ecs;
  char *text = template_parse(&d);
  snprintf(path, sizeof path, "%s/deploy/ecs/task-role-policy.json", HL_SOURCE_DIR);
  size_t len = 0;
  char *ecs_text = hl_read_file(path, &len);
  HL_ASSERT(ecs_text != NULL);
  hl_json_doc_init(&ecs);
  HL_ASSERT(hl_json_parse(&ecs, ecs_text, len, NULL) == 0);
  const hl_json *policies[] = {hl_json_pointer(d.root, "/Resources/HookloopPolicy", 25), ecs.root};
  for (size_t p = 0; p < HL_ARRAY_SIZE(policies); p++) {
    static char granted[40][48];
    int ng = 0;
    HL_ASSERT(policies[p] != NULL);
    iam_actions_of(policies[p], "kms:", granted, &ng);
    HL_ASSERT_MSG(ng == 2, "policy %zu grants %d kms: actions, expected GenerateDataKey and Decrypt", p, ng);
    for (int i = 0; i < ng; i++)
      HL_ASSERT_MSG(strcmp(granted[i], made[0]) == 0 || strcmp(granted[i], made[1]) == 0, "kms:%s is granted",
                    granted[i]);
    HL_ASSERT(strcmp(granted[0], granted[1]) != 0);
  }
  /* On the key of the parameter, which the function gets as HOOKLOOP_KMS_KEY_ID. */
  HL_ASSERT(strstr(text, "\"HOOKLOOP_KMS_KEY_ID\": {\"Ref\": \"KmsKeyArn\"}") != NULL);
  HL_ASSERT(strstr(text, "\"Action\": [\"kms:GenerateDataKey\", \"kms:Decrypt\"],\n                         \"Resource\": {\"Ref\": \"KmsKeyArn\"}") != NULL);
  hl_json_doc_dispose(&ecs);
  free(ecs_text);
  hl_json_doc_dispose(&d);
  free(text);
}

/* --- the DynamoDB queue: Lambda without Kafka ---------------------------------------------- */

#include "store/hl_store_ddb.h"

#define PAY_AKID "AKIDPAYMENTS"
#define PAY_SECRET "payments-secret-key"
#define PAY_TOPIC "arn:aws:sns:us-east-1:123456789012:payments.fifo"

/* The test's own view of the tables: a store on a loop of its own. */
typedef struct {
  uv_loop_t loop;
  hl_curl_uv curl;
  hl_store *s;
} ddb_view;

static void ddb_view_open(ddb_view *v, const char *endpoint) {
  uv_loop_init(&v->loop);
  hl_curl_uv_init(&v->curl, &v->loop, 64);
  hl_ddb_config cfg = {.client = {.endpoint = endpoint, .region = "us-east-1"},
                       .creds = {.access_key_id = PAY_AKID, .secret_access_key = PAY_SECRET}};
  char err[256] = "";
  HL_ASSERT_MSG(hl_store_ddb_open(&v->loop, &v->curl, &cfg, NULL, &v->s, err, sizeof err) == 0, "%s", err);
}

static void view_flag(void *data) { *(int *)data = 1; }

static void ddb_view_close(ddb_view *v) {
  int closed = 0;
  v->s->vt->close(v->s, view_flag, &closed);
  while (!closed && uv_run(&v->loop, UV_RUN_ONCE)) {}
  aws_loop_close(&v->loop, &v->curl, NULL);
}

typedef struct {
  int calls;
  hl_aws_status st;
  char *item;
} view_capture;

static void view_cb(void *data, const hl_aws_status *st, const hl_json *resp) {
  view_capture *c = data;
  c->calls++;
  c->st = *st;
  const hl_json *it = hl_json_get(resp, "Item");
  if (it && it->src) c->item = hl_strndup(it->src, it->src_len);
}

/* One call; the raw "Item" of a GetItem (NULL when none). */
static char *view_call(ddb_view *v, hl_ddb_op op, hl_buf *body) {
  view_capture c = {0};
  hl_ddb_call(hl_store_ddb_client(v->s), op, body, view_cb, &c);
  while (!c.calls && uv_run(&v->loop, UV_RUN_ONCE)) {}
  HL_ASSERT_MSG(c.st.outcome == HL_AWS_OK, "DynamoDB call failed: %s %s", c.st.code, c.st.message);
  return c.item;
}

/* A store call's answer, into a view_capture (outcome OK or not). */
static void view_store_cb(void *data, int status, hl_store_result *res) {
  view_capture *c = data;
  (void)res;
  c->calls++;
  c->st.outcome = status == 0 ? HL_AWS_OK : HL_AWS_CONDITION_FAILED;
}

static char *view_get(ddb_view *v, const char *table, const char *event_id, const char *sub, hl_json_doc *doc) {
  hl_ddb_attr key[2] = {{"event_id", hl_ddb_s(event_id)}, {"subscription_id", hl_ddb_s(sub ? sub : "")}};
  hl_buf body = HL_BUF_INIT;
  HL_ASSERT_EQ_INT(hl_ddb_get_item(&body, table, (hl_ddb_item){key, sub ? 2 : 1}, true), 0);
  char *raw = view_call(v, HL_DDB_GET_ITEM, &body);
  HL_ASSERT_MSG(raw, "no item %s in %s", event_id, table);
  hl_json_doc_init(doc);
  HL_ASSERT(hl_json_parse(doc, raw, strlen(raw), NULL) == 0);
  return raw;
}

/* view_get of an item that may not be written yet: the status rows the
 * queue writes on its own (a drain's closings) may land after the drain's
 * report, before the runtime asks for its next event. */
static char *view_wait(ddb_view *v, const char *table, const char *event_id, const char *sub, hl_json_doc *doc) {
  for (int waited = 0; waited < 30000; waited += 50) {
    hl_ddb_attr key[2] = {{"event_id", hl_ddb_s(event_id)}, {"subscription_id", hl_ddb_s(sub)}};
    hl_buf body = HL_BUF_INIT;
    HL_ASSERT_EQ_INT(hl_ddb_get_item(&body, table, (hl_ddb_item){key, 2}, true), 0);
    char *raw = view_call(v, HL_DDB_GET_ITEM, &body);
    if (raw) {
      free(raw);
      break;
    }
    hl_sleep_ms(50);
  }
  return view_get(v, table, event_id, sub, doc);
}

static const char *item_str(const hl_json *item, const char *name) {
  static char buf[512];
  size_t n = 0;
  const char *s = hl_ddb_item_s(item, name, &n);
  if (!s || n >= sizeof buf) return NULL;
  memcpy(buf, s, n);
  buf[n] = '\0';
  return buf;
}

/* Polls the queue row until its status is want; returns its attempts. */
static int64_t wait_row(ddb_view *v, const char *event_id, const char *want) {
  const char *got = NULL;
  for (int waited = 0; waited < 30000; waited += 50) {
    hl_json_doc d;
    char *raw = view_get(v, "delivery_queue", event_id, sub_id, &d);
    got = item_str(d.root, "status");
    bool done = got && strcmp(got, want) == 0;
    int64_t attempts = -1;
    hl_ddb_item_i64(d.root, "attempts", &attempts);
    /* A terminal row leaves the due index and holds no lease. */
    if (done) {
      HL_ASSERT(hl_json_get(d.root, "due_key") == NULL && hl_json_get(d.root, "due_shard") == NULL);
      HL_ASSERT(hl_json_get(d.root, "lease_owner") == NULL);
    }
    hl_json_doc_dispose(&d);
    free(raw);
    if (done) return attempts;
    hl_sleep_ms(50);
  }
  HL_ASSERT_MSG(false, "delivery of %s is not %s", event_id, want);
  return -1;
}

/* dynalite, the SNS peer, the tables, a runtime on them (no KAFKA_BROKERS). */
typedef struct {
  hl_dynalite dyn;
  svc_peer peer;
  pid_t proxy;  /* the AWS peer in front of dynalite, or 0 */
  int proxy_port;
  int port;
  char *tdir;
  char env_ddb[200], env_sns[200];
  const char *env[9];
} payments;

/* schedule: HOOKLOOP_RETRY_SCHEDULE=..., or NULL for start_lambda's.
 * peer: the options of the AWS peer put between the runtime and dynalite
 * (tools/aws_peer), NULL-terminated; NULL: no peer in between. */
static void payments_start_peer(payments *p, const char *schedule, const char *const *peer) {
  memset(p, 0, sizeof *p);
  HL_ASSERT_MSG(hl_dynalite_start(&p->dyn, 50) == 0, "dynalite did not start");
  svc_peer_start(&p->peer, PAY_AKID, PAY_SECRET, NULL);
  snprintf(p->env_ddb, sizeof p->env_ddb, "DYNAMODB_ENDPOINT=%s", p->dyn.endpoint);
  if (peer) {
    char upstream[96];
    snprintf(upstream, sizeof upstream, "%s/", p->dyn.endpoint);
    const char *args[16] = {"--upstream", upstream};
    size_t n = 2;
    while (*peer && n < HL_ARRAY_SIZE(args) - 1) args[n++] = *peer++;
    p->proxy = hl_aws_peer_start(&p->proxy_port, args);
    snprintf(p->env_ddb, sizeof p->env_ddb, "DYNAMODB_ENDPOINT=http://127.0.0.1:%d", p->proxy_port);
  }
  snprintf(p->env_sns, sizeof p->env_sns, "AWS_ENDPOINT_URL_SNS=%s", p->peer.endpoint);
  const char *env[] = {"HOOKLOOP_STORE=dynamodb", "HOOKLOOP_QUEUE=dynamodb", p->env_ddb, p->env_sns,
                       "AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=" PAY_AKID, "AWS_SECRET_ACCESS_KEY=" PAY_SECRET,
                       schedule, NULL};
  memcpy(p->env, env, sizeof env);
  p->tdir = create_tables(p->env);
  p->port = emu_start();
  start_lambda(p->port, p->env);
}

/* hold: the runtime's DynamoDB requests holding this text reach dynalite
 * 1.5 s late (a slow write). */
static void payments_start_held(payments *p, const char *schedule, const char *hold) {
  const char *args[] = {"--hold-match", hold, "--hold-ms", "1500", NULL};
  payments_start_peer(p, schedule, args);
}

static void payments_start_with(payments *p, const char *schedule) { payments_start_peer(p, schedule, NULL); }

static void payments_start(payments *p) { payments_start_with(p, NULL); }

static void payments_stop(payments *p) {
  stop_lambda();
  emu_stop();
  if (p->proxy) {
    kill(p->proxy, SIGTERM);
    hl_wait(p->proxy, 3000);
  }
  svc_peer_stop(&p->peer);
  hl_dynalite_stop(&p->dyn);
  hl_rmtree(p->tdir);
  free(p->tdir);
}

/* extra: more members of the subscription (",\"max_in_flight\":1"), or "". */
static void payments_register_with(const char *extra) {
  /* A declaration that is not usable is refused where it is wrong. */
  char *e = apigw("POST", "/admin/schemas",
                  "{\"event_type\":\"payment.received\",\"domain\":\"payments\",\"schema\":{\"type\":\"object\","
                  "\"x-project\":{\"/amount\":\"X\"}}}");
  emu_result *r = emu_wait(emu_push(e, 0), 20000);
  HL_ASSERT_EQ_INT(status_of(r), 400);
  HL_ASSERT(strstr(r->body, "/schema/x-project/~1amount") != NULL);
  free(e);
  e = apigw("POST", "/admin/schemas",
            "{\"event_type\":\"payment.received\",\"domain\":\"payments\",\"schema\":{\"type\":\"object\","
            "\"required\":[\"transaction_id\",\"amount\"],\"x-id-pointer\":\"/transaction_id\","
            "\"x-project\":{\"/amount\":\"S\",\"/currency\":\"S\",\"/fee\":\"N\"}}}");
  HL_ASSERT_EQ_INT(status_of(emu_wait(emu_push(e, 0), 20000)), 201);
  free(e);
  char sub_body[400];
  snprintf(sub_body, sizeof sub_body,
           "{\"partner_id\":\"ledger\",\"event_type\":\"payment.received\",\"destination\":{\"type\":\"sns\","
           "\"topic_arn\":\"" PAY_TOPIC "\"}%s}", extra);
  e = apigw("POST", "/admin/subscriptions", sub_body);
  r = emu_wait(emu_push(e, 0), 20000);
  HL_ASSERT_EQ_INT(status_of(r), 201);
  const char *p = strstr(r->body, "sub_");
  HL_ASSERT(p);
  size_t n = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-");
  snprintf(sub_id, sizeof sub_id, "%.*s", (int)n, p);
  free(e);
}

static void payments_register(void) { payments_register_with(""); }

/* Posts a raw payment through API Gateway; its answer. */
static int post_payment(const char *body) {
  char *e = apigw("POST", "/api/v1/events/payment.received", body);
  int st = status_of(emu_wait(emu_push(e, 0), 20000));
  free(e);
  return st;
}

/* Waits until the peer recorded n Publish calls; doc keeps them. */
static const hl_json *wait_publishes(svc_peer *peer, uint32_t n, hl_json_doc *doc) {
  for (int waited = 0; waited < 30000; waited += 50) {
    hl_json_doc_init(doc);
    const hl_json *r = svc_peer_requests(peer, doc);
    if (r && r->len >= n) return r;
    hl_json_doc_dispose(doc);
    hl_sleep_ms(50);
  }
  HL_ASSERT_MSG(false, "the peer did not record %u publishes", n);
  return NULL;
}

/* The payment processor with no Kafka and no server: a provider's raw
 * payload through API Gateway, its record in DynamoDB with the amount's
 * exact text, published to an SNS FIFO topic with the exact bytes; SNS
 * throttles once (retried, delivered), then denies access (FAILED at once).
 * All in the invocations that accepted them. */
HL_TEST_T(payment_flow_on_lambda_with_the_dynamodb_queue, 180) {
  static payments p;
  payments_start(&p);
  payments_register();

  svc_peer_fault(&p.peer, "{\"action\":\"Publish\",\"kind\":\"throttle\",\"count\":1}");
  static const char pay[] = "{\"transaction_id\":\"tx-100\",\"amount\":100.10,\"fee\":0.30,\"currency\":\"EUR\"}";
  HL_ASSERT_EQ_INT(post_payment(pay), 202);
  hl_json_doc doc;
  const hl_json *reqs = wait_publishes(&p.peer, 1, &doc);
  HL_ASSERT_EQ_INT(reqs->len, 1);
  const hl_json *pub = &reqs->u.items[0];
  HL_ASSERT_EQ_STR(hl_json_str(hl_json_get(pub, "action")), "Publish");
  HL_ASSERT_EQ_STR(hl_json_str(hl_json_get(pub, "Message")), pay); /* the exact bytes */
  HL_ASSERT_EQ_STR(hl_json_str(hl_json_get(pub, "MessageDeduplicationId")), "tx-100");
  HL_ASSERT_EQ_STR(hl_json_str(hl_json_get(pub, "MessageGroupId")), "payment.received");
  hl_json_doc_dispose(&doc);
  HL_ASSERT_EQ_INT(svc_peer_stat(&p.peer, "errors"), 1); /* the throttled attempt */
  HL_ASSERT_EQ_INT(svc_peer_stat(&p.peer, "auth_rejected"), 0);

  ddb_view v;
  ddb_view_open(&v, p.dyn.endpoint);
  HL_ASSERT_EQ_INT(wait_row(&v, "tx-100", "SUCCESS"), 2);
  hl_json_doc d;
  char *raw = view_get(&v, "webhook_events", "tx-100", NULL, &d);
  printf("events table: %s\n", raw);
  HL_ASSERT(strstr(raw, "\"amount\":{\"S\":\"100.10\"}") != NULL); /* the exact text */
  HL_ASSERT(strstr(raw, "\"fee\":{\"N\":\"0.3\"}") != NULL);       /* a number, canonical */
  HL_ASSERT_EQ_STR(item_str(d.root, "body"), pay);
  HL_ASSERT_EQ_STR(item_str(d.root, "currency"), "EUR");
  HL_ASSERT_EQ_STR(item_str(d.root, "event_type"), "payment.received");
  hl_json_doc_dispose(&d);
  free(raw);

  /* Access denied: permanent, FAILED after its one attempt. */
  svc_peer_fault(&p.peer, "{\"action\":\"Publish\",\"kind\":\"access_denied\",\"count\":1}");
  static const char denied[] = "{\"transaction_id\":\"tx-200\",\"amount\":5.00,\"currency\":\"EUR\"}";
  HL_ASSERT_EQ_INT(post_payment(denied), 202);
  HL_ASSERT_EQ_INT(wait_row(&v, "tx-200", "FAILED"), 1);
  raw = view_get(&v, "delivery_queue", "tx-200", sub_id, &d);
  HL_ASSERT(strstr(item_str(d.root, "last_error"), "AuthorizationError") != NULL);
  hl_json_doc_dispose(&d);
  free(raw);
  /* The same id again: a duplicate, not a second delivery. */
  HL_ASSERT_EQ_INT(post_payment(pay), 200);
  hl_sleep_ms(300);
  HL_ASSERT_EQ_INT(svc_peer_stat(&p.peer, "accepted"), 1);

  /* The FAILED one re-queued by the operator (access fixed): back on the
   * queue with its attempts kept, delivered in the same invocation. A
   * delivered one cannot be re-queued. */
  char path[200];
  snprintf(path, sizeof path, "/admin/deliveries/tx-200/%s/retry", sub_id);
  char *e = apigw("POST", path, NULL);
  emu_result *r = emu_wait(emu_push(e, 0), 20000);
  HL_ASSERT_MSG(status_of(r) == 202, "%s", r->body);
  free(e);
  HL_ASSERT_EQ_INT(wait_row(&v, "tx-200", "SUCCESS"), 2);
  HL_ASSERT_EQ_INT(svc_peer_stat(&p.peer, "accepted"), 2);
  snprintf(path, sizeof path, "/admin/deliveries/tx-100/%s/retry", sub_id);
  e = apigw("POST", path, NULL);
  r = emu_wait(emu_push(e, 0), 20000);
  HL_ASSERT_MSG(status_of(r) == 409 && strstr(r->body, "not_failed"), "%s", r->body);
  free(e);
  hl_sleep_ms(300);
  HL_ASSERT_EQ_INT(svc_peer_stat(&p.peer, "accepted"), 2);
  ddb_view_close(&v);
  payments_stop(&p);
}

/* An event invoked directly has no request headers: the invocation's
 * Lambda-Runtime-Trace-Id is its trace, kept with its record and its row,
 * from which the dispatcher gives it to the partner (X-Amzn-Trace-Id). It
 * was stored with no trace, and its deliveries carried none. */
HL_TEST_T(a_direct_invocation_keeps_the_lambda_trace_with_its_event, 180) {
  static payments p;
  payments_start(&p);
  payments_register();
  static const char ev[] = "{\"specversion\":\"1.0\",\"id\":\"tx-direct\",\"source\":\"psp\","
                           "\"type\":\"payment.received\",\"data\":{\"transaction_id\":\"tx-direct\","
                           "\"amount\":12.40,\"currency\":\"EUR\"}}";
  HL_ASSERT_EQ_INT(status_of(emu_wait(emu_push(ev, 0), 20000)), 202);
  ddb_view v;
  ddb_view_open(&v, p.dyn.endpoint);
  wait_row(&v, "tx-direct", "SUCCESS");
  static const char trace[] = "Root=1-5e9f0c65-1de4d666d4dd26aced652b6c;Sampled=1"; /* the emulator's */
  hl_json_doc d;
  char *raw = view_get(&v, "webhook_events", "tx-direct", NULL, &d);
  const char *t = item_str(d.root, "trace");
  HL_ASSERT_MSG(t && strcmp(t, trace) == 0, "the event's record has trace %s", t ? t : "(none)");
  hl_json_doc_dispose(&d);
  free(raw);
  raw = view_get(&v, "delivery_queue", "tx-direct", sub_id, &d);
  t = item_str(d.root, "trace");
  HL_ASSERT_MSG(t && strcmp(t, trace) == 0, "the delivery's row has trace %s", t ? t : "(none)");
  hl_json_doc_dispose(&d);
  free(raw);
  ddb_view_close(&v);
  payments_stop(&p);
}

/* Lambda freezes a sandbox when its runtime asks for the next event, and
 * may end it frozen: by then the outcome's status row, which GET
 * /admin/deliveries and recover read, is in DynamoDB, also when DynamoDB
 * takes 1.5 s to answer its write. It stayed PENDING: the write was still
 * on its way when /next was asked. */
HL_TEST_T(the_sandbox_is_frozen_only_once_the_outcomes_status_is_written, 180) {
  payments p;
  payments_start_held(&p, NULL, "SUCCESS");
  payments_register();
  ddb_view v;
  ddb_view_open(&v, p.dyn.endpoint);
  /* Armed once the runtime waits for its next event: the next /next is
   * the one after the payment. */
  for (int waited = 0; emu_waiting() == 0 && waited < 20000; waited += 10) hl_sleep_ms(10);
  HL_ASSERT(emu_waiting() == 1);
  emu_freeze_on_next(lambda_pid);
  static const char pay[] = "{\"transaction_id\":\"tx-freeze\",\"amount\":7.50,\"currency\":\"EUR\"}";
  HL_ASSERT_EQ_INT(post_payment(pay), 202);
  for (int waited = 0; !emu_froze() && waited < 30000; waited += 20) hl_sleep_ms(20);
  HL_ASSERT_MSG(emu_froze(), "the runtime never asked for the next event");
  hl_json_doc d;
  char *raw = view_get(&v, "event_delivery_status", "tx-freeze", sub_id, &d);
  char status[32];
  snprintf(status, sizeof status, "%.31s", item_str(d.root, "status") ? item_str(d.root, "status") : "(none)");
  int64_t attempts = -1;
  hl_ddb_item_i64(d.root, "attempts", &attempts);
  hl_json_doc_dispose(&d);
  free(raw);
  kill(lambda_pid, SIGCONT);
  char url[96], *body = NULL;
  snprintf(url, sizeof url, "http://127.0.0.1:%d/stats", p.proxy_port);
  HL_ASSERT_EQ_INT(hl_http("GET", url, NULL, 0, NULL, &body), 200);
  bool held = strstr(body, "\"held\":0") == NULL;
  free(body);
  long published = svc_peer_stat(&p.peer, "accepted");
  ddb_view_close(&v);
  payments_stop(&p);
  HL_ASSERT_MSG(held, "no write was held: the test did not slow the outcome's");
  HL_ASSERT_MSG(strcmp(status, "SUCCESS") == 0 && attempts == 1, "frozen with the status row %s, %lld attempts",
                status, (long long)attempts);
  HL_ASSERT_EQ_INT(published, 1);
}

/* DynamoDB updates a global secondary index after the write to its table
 * (usually within a second): the claim that follows an accept at once,
 * which finds due rows through the queue's index, may not see the row the
 * accept just put. The invocation then ended, frozen until the next event,
 * with the payment unsent (the scheduled drain sent it, a minute later at
 * most). The accepting process leases the rows it put by their keys. Here
 * the AWS peer leaves out of the index's answers every row put in the last
 * 5 s. */
HL_TEST_T(a_payment_accepted_while_the_queues_index_lags_is_sent_by_the_invocation_that_accepted_it, 180) {
  payments p;
  const char *lag[] = {"--index-lag-ms", "5000", NULL};
  payments_start_peer(&p, NULL, lag);
  payments_register();
  for (int waited = 0; emu_waiting() == 0 && waited < 20000; waited += 10) hl_sleep_ms(10);
  HL_ASSERT(emu_waiting() == 1);
  emu_freeze_on_next(lambda_pid);
  static const char pay[] = "{\"transaction_id\":\"tx-lag\",\"amount\":12.05,\"currency\":\"EUR\"}";
  HL_ASSERT_EQ_INT(post_payment(pay), 202);
  for (int waited = 0; !emu_froze() && waited < 30000; waited += 20) hl_sleep_ms(20);
  HL_ASSERT_MSG(emu_froze(), "the runtime never asked for the next event");
  long published = svc_peer_stat(&p.peer, "accepted");
  kill(lambda_pid, SIGCONT);
  char url[96], *body = NULL;
  snprintf(url, sizeof url, "http://127.0.0.1:%d/stats", p.proxy_port);
  HL_ASSERT_EQ_INT(hl_http("GET", url, NULL, 0, NULL, &body), 200);
  bool lagged = strstr(body, "\"lagged\":0") == NULL;
  free(body);
  payments_stop(&p);
  HL_ASSERT_MSG(lagged, "no index answer left a row out: the test did not make the index lag");
  HL_ASSERT_MSG(published == 1, "%ld payments published before the runtime asked for its next event, want 1", published);
}

/* Puts n due deliveries of sub into the DynamoDB queue as an API invocation
 * would: each event's record, then its row (docs/aws.md, the layout), in
 * its subscription's due partitions, or (legacy) in partitions 0..7, where
 * versions before them put every row. */
/* One open row of the queue, due at due, in partition shard. */
static void put_queue_row(ddb_view *v, const char *id, const char *sub, const char *event_type, int64_t due,
                          const char *shard) {
  char dk[160], at[24];
  snprintf(dk, sizeof dk, "%015lld#%s#%s", (long long)due, id, sub);
  hl_ddb_i64(at, due);
  hl_ddb_attr ra[] = {{"event_id", hl_ddb_s(id)}, {"subscription_id", hl_ddb_s(sub)},
                      {"status", hl_ddb_s("PENDING")}, {"attempts", hl_ddb_n("0")},
                      {"event_type", hl_ddb_s(event_type)}, {"accepted_at", hl_ddb_n(at)},
                      {"updated_at", hl_ddb_n(at)}, {"next_attempt_at", hl_ddb_n(at)},
                      {"due_shard", hl_ddb_n(shard)}, {"due_key", hl_ddb_s(dk)}};
  hl_buf b = HL_BUF_INIT;
  HL_ASSERT_EQ_INT(hl_ddb_put_item(&b, "delivery_queue", HL_DDB_ITEM(ra), NULL), 0);
  free(view_call(v, HL_DDB_PUT_ITEM, &b));
}

static void seed_queue_due(ddb_view *v, int n, const char *sub, const char *event_type, bool legacy, int64_t due) {
  for (int i = 0; i < n; i++) {
    char id[32], body[128], shard[24], at[24];
    snprintf(id, sizeof id, "tx-seed-%03d", i);
    int len = snprintf(body, sizeof body, "{\"transaction_id\":\"%s\",\"amount\":%d.10}", id, i);
    hl_eq_accept ev = {.event_id = id, .event_type = event_type, .body = body, .body_len = (size_t)len,
                       .accepted_at = due};
    hl_buf b = HL_BUF_INIT;
    hl_ddb_attr ea[] = {{"event_id", hl_ddb_s(id)}, {"event_type", hl_ddb_s(ev.event_type)},
                        {"accepted_at", hl_ddb_n(hl_ddb_i64(at, due))}, {"body", hl_ddb_sn(body, (size_t)len)}};
    HL_ASSERT_EQ_INT(hl_ddb_put_item(&b, "webhook_events", HL_DDB_ITEM(ea), NULL), 0);
    free(view_call(v, HL_DDB_PUT_ITEM, &b));
    if (legacy) snprintf(shard, sizeof shard, "%d", i % 8);
    else hl_queue_ddb_due_shard(shard, id, sub);
    put_queue_row(v, id, sub, event_type, due, shard);
  }
}

static void seed_queue_layout(ddb_view *v, int n, const char *sub, const char *event_type, bool legacy) {
  seed_queue_due(v, n, sub, event_type, legacy, hl_wall_ms() - 1000);
}

static void seed_queue_typed(ddb_view *v, int n, const char *sub, const char *event_type) {
  seed_queue_layout(v, n, sub, event_type, false);
}

static void seed_queue(ddb_view *v, int n, const char *sub) { seed_queue_typed(v, n, sub, "payment.received"); }

/* A figure of a scheduled invocation's report ("claimed", "lost_to_others"). */
static int64_t report_figure(emu_result *r, const char *name) {
  hl_json_doc d;
  hl_json_doc_init(&d);
  HL_ASSERT(hl_json_parse(&d, r->body, strlen(r->body), NULL) == 0);
  int64_t n = -1;
  hl_json_int64(hl_json_get(d.root, name), &n);
  hl_json_doc_dispose(&d);
  return n;
}

/* A retry released to the DynamoDB queue whose subscription is deleted
 * before it falls due: no claim ever takes it, so it must not keep later
 * invocations waiting for it. Each one waited until its hand-off point for
 * a retry due in the past (a drain with 30 s left took 25 s). */
HL_TEST_T(a_retry_of_a_deleted_subscription_keeps_no_invocation_waiting, 180) {
  static payments p;
  payments_start_with(&p, "HOOKLOOP_RETRY_SCHEDULE=4s");
  payments_register();
  svc_peer_fault(&p.peer, "{\"action\":\"Publish\",\"kind\":\"throttle\",\"count\":1}");
  static const char pay[] = "{\"transaction_id\":\"tx-gone\",\"amount\":1.10,\"currency\":\"EUR\"}";
  /* Invocations that end before the retry falls due: it is released. */
  char *e = apigw("POST", "/api/v1/events/payment.received", pay);
  HL_ASSERT_EQ_INT(status_of(emu_wait(emu_push(e, hl_wall_ms() + 3000), 20000)), 202);
  free(e);
  int64_t released = hl_wall_ms();
  ddb_view v;
  ddb_view_open(&v, p.dyn.endpoint);
  bool retrying = false;
  for (int waited = 0; waited < 10000 && !retrying; waited += 50) {
    hl_json_doc d;
    char *raw = view_get(&v, "delivery_queue", "tx-gone", sub_id, &d);
    const char *st = item_str(d.root, "status");
    retrying = st && strcmp(st, "RETRYING") == 0;
    hl_json_doc_dispose(&d);
    free(raw);
    if (!retrying) hl_sleep_ms(50);
  }
  ddb_view_close(&v);
  HL_ASSERT_MSG(retrying, "the first attempt's retry was not released to the queue");
  char path[200];
  snprintf(path, sizeof path, "/admin/subscriptions/%s", sub_id);
  e = apigw("DELETE", path, NULL);
  HL_ASSERT_EQ_INT(status_of(emu_wait(emu_push(e, hl_wall_ms() + 3000), 20000)), 204);
  free(e);
  while (hl_wall_ms() < released + 5000) hl_sleep_ms(100); /* the retry's due time passes */
  int64_t t0 = hl_wall_ms();
  emu_result *r = drain(hl_wall_ms() + 30000);
  int64_t took = hl_wall_ms() - t0;
  HL_ASSERT_EQ_INT(report_figure(r, "claimed"), 0);
  HL_ASSERT_MSG(took < 10000, "the drain took %lld ms", (long long)took);
  HL_ASSERT_EQ_INT(svc_peer_stat(&p.peer, "accepted"), 0);
  /* The drain closed it, FAILED for good (docs/retention.md), in the queue
   * and in the status the API reads. */
  ddb_view_open(&v, p.dyn.endpoint);
  HL_ASSERT_EQ_INT(report_figure(r, "closed_for_deleted_subscriptions"), 1);
  HL_ASSERT_EQ_INT(wait_row(&v, "tx-gone", "FAILED"), 1);
  hl_json_doc d;
  free(view_get(&v, "event_delivery_status", "tx-gone", sub_id, &d));
  HL_ASSERT_EQ_STR(item_str(d.root, "status"), "FAILED");
  HL_ASSERT_EQ_STR(item_str(d.root, "last_error"), "the subscription was deleted");
  hl_json_doc_dispose(&d);
  ddb_view_close(&v);
  payments_stop(&p);
}

/* A note of a deleted subscription (docs/aws.md, "Deleted subscriptions"),
 * written ago_ms ago. */
static void put_note_at(ddb_view *v, const char *sub, int64_t ago_ms) {
  char at[24];
  hl_ddb_attr note[] = {{"event_id", hl_ddb_s("#deleted")}, {"subscription_id", hl_ddb_s(sub)},
                        {"partner_id", hl_ddb_s("gone")}, {"event_type", hl_ddb_s(sub)},
                        {"deleted_at", hl_ddb_n(hl_ddb_i64(at, hl_wall_ms() - ago_ms))}};
  hl_buf b = HL_BUF_INIT;
  HL_ASSERT_EQ_INT(hl_ddb_put_item(&b, "delivery_queue", HL_DDB_ITEM(note), NULL), 0);
  free(view_call(v, HL_DDB_PUT_ITEM, &b));
}

static void put_note(ddb_view *v, const char *sub) { put_note_at(v, sub, 0); }

/* Whether the queue table holds the note of a deleted subscription. */
static bool gone_noted(ddb_view *v, const char *sub) {
  hl_ddb_attr key[] = {{"event_id", hl_ddb_s("#deleted")}, {"subscription_id", hl_ddb_s(sub)}};
  hl_buf body = HL_BUF_INIT;
  HL_ASSERT_EQ_INT(hl_ddb_get_item(&body, "delivery_queue", HL_DDB_ITEM(key), true), 0);
  char *raw = view_call(v, HL_DDB_GET_ITEM, &body);
  free(raw);
  return raw != NULL;
}

/* On the DynamoDB queue, a DELETE notes the subscription in the queue
 * table before the store deletes it, and the scheduled drain closes what
 * it left waiting: rows in its own partitions and in the earlier versions'
 * shared ones (a process of the earlier version, or one whose registry
 * still had it, may have written them), FAILED "the subscription was
 * deleted" and off the due index; then the note goes. A later drain finds
 * nothing to close. Before, they stayed PENDING, unsent, for good. */
HL_TEST_T(the_drain_closes_a_deleted_subscriptions_waiting_rows, 180) {
  static payments p;
  ddb_view v;
  payments_start(&p);
  payments_register();
  ddb_view_open(&v, p.dyn.endpoint);
  /* A note whose subscription is still stored (a DELETE whose delete did
   * not land) closes nothing, and is kept while it is young (a delete may
   * be under way). */
  char at[24];
  hl_ddb_attr note[] = {{"event_id", hl_ddb_s("#deleted")}, {"subscription_id", hl_ddb_s(sub_id)},
                        {"partner_id", hl_ddb_s("ledger")}, {"event_type", hl_ddb_s("payment.received")},
                        {"deleted_at", hl_ddb_n(hl_ddb_i64(at, hl_wall_ms()))}};
  hl_buf nb = HL_BUF_INIT;
  HL_ASSERT_EQ_INT(hl_ddb_put_item(&nb, "delivery_queue", HL_DDB_ITEM(note), NULL), 0);
  free(view_call(&v, HL_DDB_PUT_ITEM, &nb));
  seed_queue(&v, 1, sub_id);
  emu_result *r = drain(hl_wall_ms() + 30000);
  HL_ASSERT_EQ_INT(report_figure(r, "closed_for_deleted_subscriptions"), 0);
  HL_ASSERT_EQ_INT(wait_row(&v, "tx-seed-000", "SUCCESS"), 1);
  HL_ASSERT(gone_noted(&v, sub_id));
  char path[200];
  snprintf(path, sizeof path, "/admin/subscriptions/%s", sub_id);
  char *e = apigw("DELETE", path, NULL);
  HL_ASSERT_EQ_INT(status_of(emu_wait(emu_push(e, hl_wall_ms() + 3000), 20000)), 204);
  free(e);
  HL_ASSERT(gone_noted(&v, sub_id));
  int64_t due = hl_wall_ms() - 1000;
  const char *ids[] = {"tx-new-0", "tx-new-1", "tx-new-2", "tx-old-0", "tx-old-1"};
  for (int i = 0; i < 3; i++) {
    char shard[24];
    put_queue_row(&v, ids[i], sub_id, "payment.received", due, hl_queue_ddb_due_shard(shard, ids[i], sub_id));
  }
  put_queue_row(&v, "tx-old-0", sub_id, "payment.received", due, "0");
  put_queue_row(&v, "tx-old-1", sub_id, "payment.received", due, "5");
  put_queue_row(&v, "tx-other", "sub_someone_else", "payment.received", due, "5");
  r = drain(hl_wall_ms() + 30000);
  printf("drain after the delete: %s\n", r->body);
  HL_ASSERT_EQ_INT(report_figure(r, "closed_for_deleted_subscriptions"), 5);
  HL_ASSERT_EQ_INT(report_figure(r, "claimed"), 0);
  for (size_t i = 0; i < HL_ARRAY_SIZE(ids); i++) {
    HL_ASSERT_EQ_INT(wait_row(&v, ids[i], "FAILED"), 0);
    hl_json_doc d;
    free(view_wait(&v, "event_delivery_status", ids[i], sub_id, &d));
    HL_ASSERT_EQ_STR(item_str(d.root, "last_error"), "the subscription was deleted");
    hl_json_doc_dispose(&d);
  }
  /* Another subscription's row beside them is not touched. */
  hl_json_doc d;
  free(view_get(&v, "delivery_queue", "tx-other", "sub_someone_else", &d));
  HL_ASSERT_EQ_STR(item_str(d.root, "status"), "PENDING");
  HL_ASSERT(hl_json_get(d.root, "due_key") != NULL);
  hl_json_doc_dispose(&d);
  /* The note stays ten minutes: a row accepted later by a process whose
   * registry still had the subscription is closed by the next drain. */
  HL_ASSERT(gone_noted(&v, sub_id));
  char shard[24];
  put_queue_row(&v, "tx-late", sub_id, "payment.received", due, hl_queue_ddb_due_shard(shard, "tx-late", sub_id));
  r = drain(hl_wall_ms() + 30000);
  HL_ASSERT_EQ_INT(report_figure(r, "closed_for_deleted_subscriptions"), 1);
  HL_ASSERT_EQ_INT(wait_row(&v, "tx-late", "FAILED"), 0);
  /* Older than that, with nothing left open, it goes, and so does the
   * order a fifo subscription kept (its counter and an entry). */
  char fifo_pk[96];
  snprintf(fifo_pk, sizeof fifo_pk, "#fifo#%s", sub_id);
  static const char *const order_keys[] = {"~seq", "000000000000003#tx-new-0"};
  for (size_t i = 0; i < HL_ARRAY_SIZE(order_keys); i++) {
    hl_ddb_attr oa[] = {{"event_id", hl_ddb_s(fifo_pk)}, {"subscription_id", hl_ddb_s(order_keys[i])},
                        {"n", hl_ddb_n("3")}};
    hl_buf ob = HL_BUF_INIT;
    HL_ASSERT_EQ_INT(hl_ddb_put_item(&ob, "delivery_queue", HL_DDB_ITEM(oa), NULL), 0);
    free(view_call(&v, HL_DDB_PUT_ITEM, &ob));
  }
  put_note_at(&v, sub_id, 11 * 60 * 1000);
  r = drain(hl_wall_ms() + 30000);
  HL_ASSERT_EQ_INT(report_figure(r, "closed_for_deleted_subscriptions"), 0);
  HL_ASSERT(!gone_noted(&v, sub_id));
  for (size_t i = 0; i < HL_ARRAY_SIZE(order_keys); i++) {
    hl_ddb_attr key[] = {{"event_id", hl_ddb_s(fifo_pk)}, {"subscription_id", hl_ddb_s(order_keys[i])}};
    hl_buf kb = HL_BUF_INIT;
    HL_ASSERT_EQ_INT(hl_ddb_get_item(&kb, "delivery_queue", HL_DDB_ITEM(key), true), 0);
    char *raw = view_call(&v, HL_DDB_GET_ITEM, &kb);
    HL_ASSERT_MSG(raw == NULL, "the order item %s is still there", order_keys[i]);
  }
  HL_ASSERT_EQ_INT(svc_peer_stat(&p.peer, "accepted"), 1); /* tx-seed-000, before the delete */
  ddb_view_close(&v);
  payments_stop(&p);
}

/* Two runtimes (two processes) take a scheduled invocation each at the same
 * time and drain one DynamoDB queue: the conditional claims share the rows
 * out, and every delivery reaches SNS exactly once. The claims compete: the
 * subscription's max_in_flight of 1 lets a process hold 2 rows at a time, so
 * each claim asks for the 2 oldest due rows (all rows fall due at the same
 * instant, after both runtimes loaded the subscription); while one process
 * sends, the other claims the next ones, and when both ask for the same
 * rows one conditional claim is lost to the other. */
HL_TEST_T(two_concurrent_invocations_drain_one_dynamodb_queue_once_each, 180) {
  enum { N = 24 };
  static payments p;
  payments_start(&p);
  payments_register_with(",\"max_in_flight\":1");
  pid_t first_pid = lambda_pid;
  char *first_dir = dir;
  start_lambda(p.port, p.env); /* the second runtime: lambda_pid and dir are its now */
  hl_sleep_ms(1000);        /* its subscriptions loaded (it claims nothing: nothing is due yet) */

  ddb_view v;
  ddb_view_open(&v, p.dyn.endpoint);
  seed_queue(&v, N, sub_id);
  static const char ev[] = "{\"version\":\"0\",\"id\":\"5e9f0c65-0000-4000-8000-000000000002\","
                           "\"detail-type\":\"Scheduled Event\",\"source\":\"aws.events\",\"account\":\"123456789012\","
                           "\"time\":\"2026-11-24T06:00:00Z\",\"region\":\"us-east-1\","
                           "\"resources\":[\"arn:aws:events:us-east-1:123456789012:rule/hookloop-drain\"],\"detail\":{}}";
  char id1[64], id2[64];
  snprintf(id1, sizeof id1, "%s", emu_push(ev, 0));
  snprintf(id2, sizeof id2, "%s", emu_push(ev, 0));
  emu_result *r1 = emu_wait(id1, 60000), *r2 = emu_wait(id2, 60000);
  HL_ASSERT(r1 && r2);
  HL_ASSERT_MSG(strcmp(r1->kind, "response") == 0 && strcmp(r2->kind, "response") == 0, "%s / %s", r1->body,
                r2->body);
  int64_t c1 = report_figure(r1, "claimed"), c2 = report_figure(r2, "claimed");
  int64_t lost = report_figure(r1, "lost_to_others") + report_figure(r2, "lost_to_others");
  printf("claimed: %lld + %lld, lost %lld (%s | %s), accepted %ld\n", (long long)c1, (long long)c2, (long long)lost,
         r1->body, r2->body, svc_peer_stat(&p.peer, "accepted"));
  HL_ASSERT_MSG(c1 > 0 && c2 > 0, "one process claimed every row: %lld + %lld", (long long)c1, (long long)c2);
  HL_ASSERT_MSG(lost > 0, "no conditional claim was lost: the claims never competed");

  hl_json_doc doc;
  const hl_json *reqs = wait_publishes(&p.peer, N, &doc);
  hl_sleep_ms(300); /* nothing more arrives */
  HL_ASSERT_EQ_INT(svc_peer_stat(&p.peer, "accepted"), N);
  static int seen[N];
  for (uint32_t i = 0; i < reqs->len; i++) {
    const char *dedup = hl_json_str(hl_json_get(&reqs->u.items[i], "MessageDeduplicationId"));
    HL_ASSERT(dedup && strncmp(dedup, "tx-seed-", 8) == 0);
    seen[atoi(dedup + 8)]++;
  }
  for (int i = 0; i < N; i++) HL_ASSERT_MSG(seen[i] == 1, "tx-seed-%03d was sent %d times", i, seen[i]);
  hl_json_doc_dispose(&doc);
  /* One claim per attempt: a row two processes both claimed would show
   * more claims than attempts. */
  int64_t attempts = 0;
  for (int i = 0; i < N; i++) {
    char id[32];
    snprintf(id, sizeof id, "tx-seed-%03d", i);
    attempts += wait_row(&v, id, "SUCCESS");
  }
  HL_ASSERT_EQ_INT(c1 + c2, attempts);
  HL_ASSERT(attempts >= N);
  ddb_view_close(&v);

  stop_lambda();
  lambda_pid = first_pid;
  dir = first_dir;
  payments_stop(&p);
}

/* Payments registered, then no runtime running (rows are put while none
 * is, as an earlier version would have left them); v is opened on the
 * tables. */
static void payments_without_runtime(payments *p, ddb_view *v) {
  payments_start(p);
  payments_register();
  stop_lambda();
  ddb_view_open(v, p->dyn.endpoint);
}

/* Rows an earlier version left in the due partitions every subscription
 * shared (0..7; docs/aws.md "Due rows") are still claimed after an
 * upgrade, each delivered once: written while no runtime ran, then a new
 * runtime starts (its first claim looks at those partitions). */
HL_TEST_T(rows_an_earlier_version_left_in_the_shared_partitions_are_still_claimed, 180) {
  enum { N = 12 };
  static payments p;
  ddb_view v;
  payments_without_runtime(&p, &v);
  seed_queue_layout(&v, N, sub_id, "payment.received", true);
  start_lambda(p.port, p.env);
  emu_result *r = drain(hl_wall_ms() + 30000);
  printf("drain of the earlier layout: %s\n", r->body);
  for (int i = 0; i < N; i++) {
    char id[32];
    snprintf(id, sizeof id, "tx-seed-%03d", i);
    HL_ASSERT_EQ_INT(wait_row(&v, id, "SUCCESS"), 1);
  }
  hl_sleep_ms(300);
  HL_ASSERT_EQ_INT(svc_peer_stat(&p.peer, "accepted"), N);
  ddb_view_close(&v);
  payments_stop(&p);
}

/* A queue row's due_shard is its subscription's own partition for it
 * (not one of the shared 0..7). */
static void assert_in_own_partitions(const hl_json *item, const char *event_id, const char *sub) {
  int64_t shard = -1;
  hl_ddb_item_i64(item, "due_shard", &shard);
  char got[24], want[24];
  snprintf(got, sizeof got, "%lld", (long long)shard);
  HL_ASSERT_EQ_STR(got, hl_queue_ddb_due_shard(want, event_id, sub));
}

/* n open rows of "sub_deleted_long_ago" (a subscription an earlier
 * version deleted, leaving no note), "tx-dead-0000"..., due at due, in the
 * shared partitions (the i-th in partition i % 8). */
static void put_dead_rows(ddb_view *v, int n, int64_t due) {
  for (int i = 0; i < n; i++) {
    char id[32], shard[8];
    snprintf(id, sizeof id, "tx-dead-%04d", i);
    snprintf(shard, sizeof shard, "%d", i % 8);
    put_queue_row(v, id, "sub_deleted_long_ago", "payment.received", due, shard);
  }
}

/* A deleted subscription's backlog left in those shared partitions (more
 * than a page of 200 in each) is never claimed, and must not keep a live
 * subscription's claims coming back to read it: the drain ends when the
 * live work is done. A claim that read a full page of them asked to come
 * back at once, for ever, and the drain ran to its deadline. */
HL_TEST_T(a_dead_backlog_in_the_shared_partitions_keeps_no_drain_waiting, 180) {
  enum { N = 8 * 201 };
  static payments p;
  ddb_view v;
  payments_without_runtime(&p, &v);
  put_dead_rows(&v, N, hl_wall_ms() - 1000);
  seed_queue_layout(&v, 3, sub_id, "payment.received", false);
  start_lambda(p.port, p.env);
  int64_t t0 = hl_wall_ms();
  emu_result *r = drain(hl_wall_ms() + 30000);
  int64_t took = hl_wall_ms() - t0;
  printf("drain beside a dead backlog: %s in %lld ms\n", r->body, (long long)took);
  HL_ASSERT_EQ_INT(report_figure(r, "claimed"), 3);
  HL_ASSERT_MSG(took < 15000, "the drain took %lld ms", (long long)took);
  ddb_view_close(&v);
  payments_stop(&p);
}


/* A live subscription's rows in those shared partitions behind more than
 * a page of a dead backlog (a subscription an earlier version deleted,
 * leaving no note, so nothing claims its rows): a claim reads one page of
 * each shared partition, so they were never read, and never sent. A look
 * at those partitions now moves every row no live lease holds to its
 * subscription's own (docs/aws.md "Due rows"), where the live rows are
 * claimed and the dead ones hide nobody's. */
HL_TEST_T(a_live_subscriptions_rows_behind_a_dead_backlog_in_the_shared_partitions_are_delivered, 180) {
  enum { DEAD = 8 * 201, LIVE = 3 };
  static payments p;
  ddb_view v;
  payments_without_runtime(&p, &v);
  int64_t due = hl_wall_ms() - 5000;
  put_dead_rows(&v, DEAD, due);
  /* Due after every dead row: the 202nd of partitions 0, 1 and 2. */
  seed_queue_due(&v, LIVE, sub_id, "payment.received", true, due + 1000);
  start_lambda(p.port, p.env);
  int64_t claimed = 0;
  for (int i = 0; i < 3 && claimed < LIVE; i++) claimed += report_figure(drain(hl_wall_ms() + 30000), "claimed");
  HL_ASSERT_EQ_INT(claimed, LIVE);
  for (int i = 0; i < LIVE; i++) {
    char id[32];
    snprintf(id, sizeof id, "tx-seed-%03d", i);
    HL_ASSERT_EQ_INT(wait_row(&v, id, "SUCCESS"), 1);
  }
  HL_ASSERT_EQ_INT(svc_peer_stat(&p.peer, "accepted"), LIVE);
  /* No dead row is left in the shared partitions: each is in its own
   * subscription's, its due_key kept, or closed already (its subscription
   * is noted as gone: the next test). */
  const int sample[] = {0, 7, 1600, DEAD - 1};
  for (size_t k = 0; k < HL_ARRAY_SIZE(sample); k++) {
    char id[32], dk[96];
    snprintf(id, sizeof id, "tx-dead-%04d", sample[k]);
    snprintf(dk, sizeof dk, "%015lld#%s#sub_deleted_long_ago", (long long)due, id);
    hl_json_doc d;
    char *raw = view_get(&v, "delivery_queue", id, "sub_deleted_long_ago", &d);
    const char *st = item_str(d.root, "status");
    HL_ASSERT_MSG(st && (strcmp(st, "PENDING") == 0 || strcmp(st, "FAILED") == 0), "%s is %s", id, st ? st : "?");
    if (strcmp(st, "PENDING") == 0) {
      HL_ASSERT_EQ_STR(item_str(d.root, "due_key"), dk);
      assert_in_own_partitions(d.root, id, "sub_deleted_long_ago");
    }
    hl_json_doc_dispose(&d);
    free(raw);
  }
  ddb_view_close(&v);
  payments_stop(&p);
}

/* A subscription put straight into the subscription table (as another
 * process would), its secret sealed under a key this runtime does not
 * have: stored, but not in this runtime's registry. */
static void put_unreadable_sub(ddb_view *v, const char *sub) {
  hl_sub_rec r = {.subscription_id = (char *)sub, .partner_id = (char *)"vault",
                  .event_type = (char *)"payment.received", .url = (char *)"http://127.0.0.1:9/hook",
                  .secret = (char *)"hlseal:v2:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                  .egress_topic = (char *)"wh.egress.vault.payment.received", .status = (char *)"ACTIVE"};
  view_capture c = {0};
  v->s->vt->sub_put(v->s, &r, view_store_cb, &c);
  while (!c.calls && uv_run(&v->loop, UV_RUN_ONCE)) {}
  HL_ASSERT_EQ_INT(c.st.outcome, HL_AWS_OK);
}

/* Rows an earlier version left in the shared partitions for a
 * subscription it deleted before deletes left notes stayed PENDING for
 * good: nothing claims them, and no sweep knew of them. The look at those
 * partitions checks each subscription this runtime does not know against
 * the subscription table, notes those not there (checked_absent), and the
 * sweep closes their rows as a DELETE's: FAILED, "the subscription was
 * deleted", off the index, in the status table too; a row changed after
 * the check is left open. A subscription that is stored but not loaded
 * here (its secret sealed under another key) is not taken for gone: its
 * rows stay open, and it gets no note. */
HL_TEST_T(rows_of_a_subscription_deleted_before_notes_are_closed_and_a_stored_ones_are_not, 180) {
  enum { DEAD = 5, KEPT = 2 };
  static payments p;
  ddb_view v;
  payments_without_runtime(&p, &v);
  put_unreadable_sub(&v, "sub_unreadable_here");
  int64_t due = hl_wall_ms() - 5000;
  char shard[8];
  put_dead_rows(&v, DEAD, due);
  /* One written after the check (its updated_at later than any check
   * this test makes): a re-created subscription's, which the note does
   * not cover. */
  put_queue_row(&v, "tx-dead-later", "sub_deleted_long_ago", "payment.received", hl_wall_ms() + 600000, "4");
  for (int i = 0; i < KEPT; i++) {
    char id[32];
    snprintf(id, sizeof id, "tx-kept-%d", i);
    snprintf(shard, sizeof shard, "%d", (i + 3) % 8);
    put_queue_row(&v, id, "sub_unreadable_here", "payment.received", due, shard);
  }
  seed_queue_layout(&v, 1, sub_id, "payment.received", true);
  start_lambda(p.port, p.env);
  int64_t closed = 0, claimed = 0;
  for (int i = 0; i < 4 && closed < DEAD; i++) {
    emu_result *r = drain(hl_wall_ms() + 30000);
    closed += report_figure(r, "closed_for_deleted_subscriptions");
    claimed += report_figure(r, "claimed");
  }
  HL_ASSERT_EQ_INT(closed, DEAD);
  HL_ASSERT_EQ_INT(claimed, 1);
  HL_ASSERT_EQ_INT(wait_row(&v, "tx-seed-000", "SUCCESS"), 1);
  HL_ASSERT(gone_noted(&v, "sub_deleted_long_ago"));
  for (int i = 0; i < DEAD; i++) {
    char id[32];
    snprintf(id, sizeof id, "tx-dead-%04d", i);
    hl_json_doc d;
    char *raw = view_get(&v, "delivery_queue", id, "sub_deleted_long_ago", &d);
    HL_ASSERT_EQ_STR(item_str(d.root, "status"), "FAILED");
    HL_ASSERT_EQ_STR(item_str(d.root, "last_error"), HL_STORE_SUB_DELETED);
    HL_ASSERT(hl_json_get(d.root, "due_key") == NULL && hl_json_get(d.root, "due_shard") == NULL);
    hl_json_doc_dispose(&d);
    free(raw);
    raw = view_wait(&v, "event_delivery_status", id, "sub_deleted_long_ago", &d);
    HL_ASSERT_EQ_STR(item_str(d.root, "status"), "FAILED");
    hl_json_doc_dispose(&d);
    free(raw);
  }
  hl_json_doc dl;
  char *late = view_get(&v, "delivery_queue", "tx-dead-later", "sub_deleted_long_ago", &dl);
  HL_ASSERT_EQ_STR(item_str(dl.root, "status"), "PENDING");
  hl_json_doc_dispose(&dl);
  free(late);
  HL_ASSERT(!gone_noted(&v, "sub_unreadable_here"));
  for (int i = 0; i < KEPT; i++) {
    char id[32];
    snprintf(id, sizeof id, "tx-kept-%d", i);
    hl_json_doc d;
    char *raw = view_get(&v, "delivery_queue", id, "sub_unreadable_here", &d);
    HL_ASSERT_EQ_STR(item_str(d.root, "status"), "PENDING");
    assert_in_own_partitions(d.root, id, "sub_unreadable_here");
    hl_json_doc_dispose(&d);
    free(raw);
  }
  ddb_view_close(&v);
  payments_stop(&p);
}

/* More notes than a sweep reads (16), the first ones kept (each
 * subscription has a row another process holds under a lease): the next
 * sweep reads on after them, so a later note's rows are closed. Each
 * sweep read the same first 16 again. */
HL_TEST_T(notes_that_stay_do_not_hide_later_ones, 180) {
  static payments p;
  ddb_view v;
  payments_without_runtime(&p, &v);
  int64_t due = hl_wall_ms() - 1000;
  char until[24];
  hl_ddb_i64(until, hl_wall_ms() + 600000);
  for (int i = 0; i < 16; i++) {
    char sub[32], id[32], shard[24], dk[128];
    snprintf(sub, sizeof sub, "sub_held_%02d", i);
    snprintf(id, sizeof id, "tx-held-%02d", i);
    put_note(&v, sub);
    snprintf(dk, sizeof dk, "%015lld#%s#%s", (long long)due, id, sub);
    hl_ddb_attr ra[] = {{"event_id", hl_ddb_s(id)}, {"subscription_id", hl_ddb_s(sub)},
                        {"status", hl_ddb_s("PENDING")}, {"due_shard", hl_ddb_n(hl_queue_ddb_due_shard(shard, id, sub))},
                        {"due_key", hl_ddb_s(dk)}, {"lease_owner", hl_ddb_s("q_elsewhere.1")},
                        {"lease_until", hl_ddb_n(until)}};
    hl_buf b = HL_BUF_INIT;
    HL_ASSERT_EQ_INT(hl_ddb_put_item(&b, "delivery_queue", HL_DDB_ITEM(ra), NULL), 0);
    free(view_call(&v, HL_DDB_PUT_ITEM, &b));
  }
  put_note(&v, "sub_later");
  char shard[24];
  put_queue_row(&v, "tx-later", "sub_later", "payment.received", due,
                hl_queue_ddb_due_shard(shard, "tx-later", "sub_later"));
  start_lambda(p.port, p.env);
  int64_t closed = 0;
  for (int i = 0; i < 2; i++) closed += report_figure(drain(hl_wall_ms() + 30000), "closed_for_deleted_subscriptions");
  HL_ASSERT_EQ_INT(closed, 1);
  hl_json_doc d;
  free(view_get(&v, "delivery_queue", "tx-later", "sub_later", &d));
  HL_ASSERT_EQ_STR(item_str(d.root, "status"), "FAILED");
  hl_json_doc_dispose(&d);
  HL_ASSERT(gone_noted(&v, "sub_held_00"));
  ddb_view_close(&v);
  payments_stop(&p);
}

/* dynalite with hookloop's tables, the mock partner, and the environment
 * of a serve or runtime on them: the DynamoDB store and queue (extra: one
 * more "K=V", or NULL). */
typedef struct {
  hl_dynalite dyn;
  char env_ddb[200];
  const char *env[12];
  char *tdir;
} ddb_setup;

static void ddb_setup_start(ddb_setup *d, const char *extra) {
  memset(d, 0, sizeof *d);
  HL_ASSERT_MSG(hl_dynalite_start(&d->dyn, 50) == 0, "dynalite did not start");
  snprintf(d->env_ddb, sizeof d->env_ddb, "DYNAMODB_ENDPOINT=%s", d->dyn.endpoint);
  const char *env[] = {"HOOKLOOP_STORE=dynamodb", d->env_ddb, "AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=" PAY_AKID,
                       "AWS_SECRET_ACCESS_KEY=" PAY_SECRET, "HOOKLOOP_QUEUE=dynamodb", "HOOKLOOP_QUEUE_POLL_MS=100",
                       "HOOKLOOP_ALLOW_PRIVATE_TARGETS=1", extra, NULL};
  memcpy(d->env, env, sizeof env);
  d->tdir = create_tables(d->env);
  e2e_start_partner(&partner, NULL);
}

static void ddb_setup_stop(ddb_setup *d) {
  e2e_stop_partner(&partner);
  hl_dynalite_stop(&d->dyn);
  hl_rmtree(d->tdir);
  free(d->tdir);
}

/* `serve` on the DynamoDB queue (HOOKLOOP_QUEUE=dynamodb): its API accepts
 * into the table and its dispatcher claims from it under leases, delivering
 * to the mock partner; then a serve and a Lambda runtime drain one queue
 * together and every delivery reaches the partner exactly once. */
HL_TEST_T(serve_and_lambda_share_one_dynamodb_queue, 180) {
  enum { N = 20 };
  ddb_setup ds;
  ddb_setup_start(&ds, "HOOKLOOP_RETRY_SCHEDULE=100ms");
  const char *const *env = ds.env;
  e2e_hookloop h = {0};
  e2e_start_hookloop(&h, env);
  char url[200];
  snprintf(url, sizeof url, "%s/hook/shared", partner.base);
  char *sub = e2e_setup(&h, "acme", url, NULL, NULL, 0);
  snprintf(sub_id, sizeof sub_id, "%s", sub);
  free(sub);

  /* serve alone: accepted into the table, claimed, delivered. */
  HL_ASSERT_EQ_INT(e2e_post_event(&h, "ev-serve-1", "1.00"), 202);
  hl_json_doc reqs;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "shared", 1, 30000, &reqs), 1);
  hl_json_doc_dispose(&reqs);
  ddb_view v;
  ddb_view_open(&v, ds.dyn.endpoint);
  HL_ASSERT_EQ_INT(wait_row(&v, "ev-serve-1", "SUCCESS"), 1);
  HL_ASSERT(e2e_wait_status(&h, "ev-serve-1", "SUCCESS", 10000));

  /* A Lambda runtime on the same tables (it loads the subscription serve
   * registered), then N rows due at once: serve polls, Lambda drains. */
  int port = emu_start();
  start_lambda(port, env);
  seed_queue_typed(&v, N, sub_id, "Payment");
  static const char ev[] = "{\"version\":\"0\",\"id\":\"5e9f0c65-0000-4000-8000-000000000003\","
                           "\"detail-type\":\"Scheduled Event\",\"source\":\"aws.events\",\"account\":\"123456789012\","
                           "\"time\":\"2026-11-24T06:00:00Z\",\"region\":\"us-east-1\","
                           "\"resources\":[\"arn:aws:events:us-east-1:123456789012:rule/hookloop-drain\"],\"detail\":{}}";
  emu_result *r = emu_wait(emu_push(ev, 0), 60000);
  HL_ASSERT(r && strcmp(r->kind, "response") == 0);
  printf("lambda drain: %s\n", r->body);
  int64_t attempts = 0;
  for (int i = 0; i < N; i++) {
    char id[32];
    snprintf(id, sizeof id, "tx-seed-%03d", i);
    attempts += wait_row(&v, id, "SUCCESS");
  }
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "shared", N + 1, 30000, &reqs), N + 1);
  hl_json_doc_dispose(&reqs);
  hl_sleep_ms(500); /* nothing more arrives */
  HL_ASSERT_EQ_INT(e2e_partner_stat(&partner, "requests"), N + 1);
  HL_ASSERT_EQ_INT(e2e_partner_stat(&partner, "unique_ids"), N + 1);
  HL_ASSERT_EQ_INT(attempts, N); /* one attempt each: no row was sent by both */
  ddb_view_close(&v);

  stop_lambda();
  emu_stop();
  int st = e2e_stop_hookloop(&h, SIGTERM, 20000);
  if (st != 0) {
    char *log = hl_read_file(h.log, NULL);
    HL_ASSERT_MSG(false, "serve stopped with %d:\n%s", st, log ? log : "");
  }
  ddb_setup_stop(&ds);
}

/* An invocation's hand-off point comes while rows it claimed wait for a
 * slot (a subscription limited to 1 request a second, 10 rows claimed):
 * they are given back, and with the sandbox frozen (SIGSTOP) a serve
 * process delivers them at once. They stayed leased to the frozen sandbox
 * for 2 minutes. */
HL_TEST_T(rows_waiting_for_a_slot_at_the_hand_off_point_are_given_back, 180) {
  enum { N = 10 };
  ddb_setup ds;
  ddb_setup_start(&ds, NULL);
  const char *const *env = ds.env;
  e2e_hookloop h = {0};
  e2e_start_hookloop(&h, env); /* registers the subscription, then stops */
  char url[200];
  snprintf(url, sizeof url, "%s/hook/handoff", partner.base);
  char *sub = e2e_setup(&h, "acme", url, "\"max_in_flight\": 5, \"rate_limit_per_s\": 1", NULL, 0);
  snprintf(sub_id, sizeof sub_id, "%s", sub);
  free(sub);
  HL_ASSERT_EQ_INT(e2e_stop_hookloop(&h, SIGTERM, 20000), 0);

  int port = emu_start();
  start_lambda(port, env);
  ddb_view v;
  ddb_view_open(&v, ds.dyn.endpoint);
  seed_queue_typed(&v, N, sub_id, "Payment");
  /* The hand-off point 2 s from now (the deadline less 1.5 s). */
  emu_result *r = drain(hl_wall_ms() + 3500);
  printf("lambda drain: %s\n", r->body);
  /* Frozen, as Lambda freezes a sandbox that waits for its next event. */
  HL_ASSERT(kill(lambda_pid, SIGSTOP) == 0);
  int sent_by_lambda = e2e_requests_so_far(&partner, "handoff");
  HL_ASSERT_MSG(sent_by_lambda < N - 2, "the invocation sent %d of %d: nothing waited", sent_by_lambda, N);
  uint64_t t0 = hl_mono_ms();
  e2e_start_hookloop(&h, env);
  int64_t attempts = 0;
  for (int i = 0; i < N; i++) {
    char id[32];
    snprintf(id, sizeof id, "tx-seed-%03d", i);
    attempts += wait_row(&v, id, "SUCCESS"); /* 30 s at most each; the leases ran 120 s */
  }
  printf("handed back at the hand-off: %d of %d sent after it, all delivered %llu ms after serve started\n",
         N - sent_by_lambda, N, (unsigned long long)(hl_mono_ms() - t0));
  HL_ASSERT_EQ_INT(attempts, N);
  HL_ASSERT_EQ_INT(e2e_partner_stat(&partner, "unique_ids"), N);
  HL_ASSERT_EQ_INT(e2e_partner_stat(&partner, "requests"), N);
  ddb_view_close(&v);

  kill(lambda_pid, SIGCONT);
  stop_lambda();
  emu_stop();
  HL_ASSERT_EQ_INT(e2e_stop_hookloop(&h, SIGTERM, 20000), 0);
  ddb_setup_stop(&ds);
  hl_rmtree(h.dir);
  free(h.dir);
}

/* An open row whose event's record is gone from the events table (it
 * expired under EVENTS_TTL_DAYS while the delivery waited, or was
 * deleted): nothing can be sent for it, so the claim that finds it so
 * fails it for good, saying why, beside a row with its record, which is
 * delivered. It was let go and leased again every 2 minutes, for good. */
HL_TEST_T(a_row_whose_event_record_is_gone_fails_for_good_on_the_dynamodb_queue, 120) {
  ddb_setup ds;
  ddb_setup_start(&ds, NULL);
  e2e_hookloop h = {0};
  e2e_start_hookloop(&h, ds.env);
  char url[200];
  snprintf(url, sizeof url, "%s/hook/gone", partner.base);
  char *sub = e2e_setup(&h, "acme", url, NULL, NULL, 0);
  snprintf(sub_id, sizeof sub_id, "%s", sub);
  free(sub);
  ddb_view v;
  ddb_view_open(&v, ds.dyn.endpoint);
  char shard[24];
  put_queue_row(&v, "tx-no-record", sub_id, "Payment", hl_wall_ms() - 1000,
                hl_queue_ddb_due_shard(shard, "tx-no-record", sub_id));
  seed_queue_typed(&v, 1, sub_id, "Payment"); /* tx-seed-000, with its record */
  HL_ASSERT_EQ_INT(wait_row(&v, "tx-seed-000", "SUCCESS"), 1);
  HL_ASSERT_EQ_INT(wait_row(&v, "tx-no-record", "FAILED"), 0); /* within 30 s; the lease runs 120 */
  hl_json_doc d;
  free(view_get(&v, "delivery_queue", "tx-no-record", sub_id, &d));
  const char *why = item_str(d.root, "last_error");
  HL_ASSERT_MSG(why && strstr(why, "not in the events table"), "last_error: %s", why ? why : "(none)");
  hl_json_doc_dispose(&d);
  HL_ASSERT(e2e_wait_status(&h, "tx-no-record", "FAILED", 10000));
  HL_ASSERT_EQ_INT(e2e_requests_so_far(&partner, "gone"), 1);
  ddb_view_close(&v);
  HL_ASSERT_EQ_INT(e2e_stop_hookloop(&h, SIGTERM, 20000), 0);
  ddb_setup_stop(&ds);
  hl_rmtree(h.dir);
  free(h.dir);
}

/* HOOKLOOP_QUEUE=dynamodb with another store is refused at start, naming
 * both settings. */
HL_TEST_T(serve_refuses_the_dynamodb_queue_without_the_dynamodb_store, 60) {
  char *tmp = hl_tmpdir("ddbq-refuse");
  const char *env[] = {"HOOKLOOP_QUEUE=dynamodb", NULL};
  char *log = NULL;
  int st = e2e_serve_until_exit(tmp, false, env, 20000, &log);
  HL_ASSERT_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 2, "status %d: %s", st, log ? log : "");
  HL_ASSERT_MSG(log && strstr(log, "HOOKLOOP_QUEUE=dynamodb needs HOOKLOOP_STORE=dynamodb"), "%s", log ? log : "");
  free(log);
  hl_rmtree(tmp);
  free(tmp);
}

/* --- "ordering": "fifo" on MSK batches -------------------------------------------------------
 *
 * Partner "ord" subscribes with fifo, partner "plain" without ordering; one
 * MSK batch carries ord's egress records msk-700..703 (msk-700 first) and
 * plain's msk-800..801. The Kafka test broker takes the dead letters. */

static char fifo_sub[64], plain_sub[64];

/* Starts everything, the function with one more "K=V" in env_extra (or
 * NULL); ord's hook is /hook/<ord_hook>, its members extra (",..." or "").
 * The fifo registration is accepted in Lambda mode. */
static void fifo_start_env(hl_mock_kafka *mk, const char *ord_hook, const char *extra, const char *env_extra) {
  const char *topics[] = {"wh.dlq", NULL};
  kafka_start(mk, topics);
  const char *env[] = {brokers_env, env_extra, NULL};
  e2e_start_partner(&partner, NULL);
  start_lambda(emu_start(), env);
  char url[256], members[256], *answer = NULL;
  snprintf(url, sizeof url, "%s/hook/%s", partner.base, ord_hook);
  snprintf(members, sizeof members, ",\"ordering\":\"fifo\"%s", extra);
  register_with("ord", url, members, true, false, &answer);
  HL_ASSERT_MSG(strstr(answer, "\"ordering\":\"fifo\"") != NULL, "%s", answer);
  free(answer);
  snprintf(fifo_sub, sizeof fifo_sub, "%s", sub_id);
  snprintf(url, sizeof url, "%s/hook/plain", partner.base);
  register_with("plain", url, "", false, false, NULL);
  snprintf(plain_sub, sizeof plain_sub, "%s", sub_id);
}

static void fifo_start(hl_mock_kafka *mk, const char *ord_hook, const char *extra) {
  fifo_start_env(mk, ord_hook, extra, NULL);
}

static void fifo_stop(hl_mock_kafka *mk) {
  stop_lambda();
  e2e_stop_partner(&partner);
  emu_stop();
  hl_mock_kafka_stop(mk);
}

static char *fifo_batch(void) {
  hl_buf b = HL_BUF_INIT;
  hl_jw w;
  msk_topic_begin(&w, &b, "wh.egress.ord.Payment");
  msk_records(&w, "wh.egress.ord.Payment", 700, 4, fifo_sub);
  hl_jw_arr_end(&w);
  hl_jw_key(&w, "wh.egress.plain.Payment-0");
  hl_jw_arr_begin(&w);
  msk_records(&w, "wh.egress.plain.Payment", 800, 2, plain_sub);
  hl_jw_arr_end(&w);
  return msk_event_end(&w, &b);
}

/* The partner's requests to hook name are exactly the webhook-ids of want:
 * in that order when ordered, else each once in any order (want's ids
 * distinct). Waits for them, then a little for one too many. */
static void assert_hook(const char *name, const char *const *want, size_t n, bool ordered) {
  hl_json_doc doc;
  e2e_wait_requests(&partner, name, n, 20000, &doc);
  hl_json_doc_dispose(&doc);
  hl_sleep_ms(300);
  int have = e2e_wait_requests(&partner, name, n, 0, &doc);
  hl_buf got = HL_BUF_INIT;
  for (uint32_t i = 0; i < (uint32_t)have; i++) hl_buf_printf(&got, "%s ", e2e_json_str(&doc.root->u.items[i], "webhook_id"));
  HL_ASSERT_MSG(have == (int)n, "%s: %d requests (%s), want %zu", name, have, got.data ? got.data : "", n);
  for (size_t i = 0; i < n; i++) {
    bool found = false;
    for (size_t j = ordered ? i : 0; j < (ordered ? i + 1 : n) && !found; j++)
      found = strcmp(e2e_json_str(&doc.root->u.items[j], "webhook_id"), want[i]) == 0;
    HL_ASSERT_MSG(found, "%s: %s not where expected in %s", name, want[i], got.data);
  }
  hl_buf_dispose(&got);
  hl_json_doc_dispose(&doc);
}

/* A head retried within the invocation (its retries due soon) holds its
 * followers back: the partner sees acceptance (batch) order, nothing after
 * msk-700 until it succeeded; plain's records go meanwhile, once each. */
HL_TEST_T(lambda_fifo_a_retrying_head_holds_its_followers_back, 120) {
  hl_mock_kafka mk;
  fifo_start(&mk, "fifo?codes=503,503,200&codes_for=msk-700", ",\"retry_schedule\":\"100ms,100ms,100ms\"");
  char *batch = fifo_batch();
  emu_result *r = emu_wait(emu_push(batch, hl_wall_ms() + 30000), 30000);
  HL_ASSERT(r != NULL);
  HL_ASSERT_MSG(strcmp(r->kind, "response") == 0, "%s: %s", r->kind, r->body);
  HL_ASSERT_EQ_STR(r->body, "{\"batchItemFailures\":[]}");
  const char *want[] = {"msk-700", "msk-700", "msk-700", "msk-701", "msk-702", "msk-703"};
  assert_hook("fifo", want, HL_ARRAY_SIZE(want), true);
  const char *plain[] = {"msk-800", "msk-801"};
  assert_hook("plain", plain, HL_ARRAY_SIZE(plain), false);
  free(batch);
  fifo_stop(&mk);
}

/* A head whose retry falls due after the invocation's hand-off point holds
 * the batch: the invocation fails it (the event source delivers it again)
 * with no follower sent, and nothing is retried in memory after it ended.
 * The batch again: the head's attempt count goes on from the store, so its
 * second attempt reaches skip_after (2) and dead-letters it, and the
 * followers go, in order. plain's records, delivered by the first
 * invocation, are not sent again (the ledger). */
HL_TEST_T(lambda_fifo_a_head_due_later_holds_the_batch_and_skip_after_dead_letters_it, 120) {
  hl_mock_kafka mk;
  fifo_start(&mk, "fifo?codes=503&codes_for=msk-700", ",\"retry_schedule\":\"2s,2s,2s\",\"skip_after\":2");
  char *batch = fifo_batch();
  /* 4 s left: the hand-off comes 1.5 s before, too soon to wait 2 s for the retry. */
  emu_result *r = emu_wait(emu_push(batch, hl_wall_ms() + 4000), 20000);
  HL_ASSERT(r != NULL);
  HL_ASSERT_MSG(strcmp(r->kind, "error") == 0, "%s: %s", r->kind, r->body);
  HL_ASSERT_EQ_STR(r->error_type, "Hookloop.BatchIncomplete");
  const char *plain[] = {"msk-800", "msk-801"};
  assert_hook("plain", plain, HL_ARRAY_SIZE(plain), false);
  /* Past the retry's due time: still the head's first attempt only. */
  hl_sleep_ms(2500);
  const char *first[] = {"msk-700"};
  assert_hook("fifo", first, HL_ARRAY_SIZE(first), true);
  r = emu_wait(emu_push(batch, hl_wall_ms() + 20000), 20000);
  HL_ASSERT(r != NULL);
  HL_ASSERT_MSG(strcmp(r->kind, "response") == 0, "%s: %s", r->kind, r->body);
  HL_ASSERT_EQ_STR(r->body, "{\"batchItemFailures\":[]}");
  const char *want[] = {"msk-700", "msk-700", "msk-701", "msk-702", "msk-703"};
  assert_hook("fifo", want, HL_ARRAY_SIZE(want), true);
  assert_hook("plain", plain, HL_ARRAY_SIZE(plain), false);
  char *dlq = topic_dump(&mk, "wh.dlq", "%k|%h\\n");
  HL_ASSERT_MSG(strstr(dlq, "msk-700|") && strstr(dlq, "skipped after 2 attempts"), "dead letters: %s", dlq);
  HL_ASSERT_MSG(!strstr(dlq, "msk-701"), "dead letters: %s", dlq);
  free(dlq);
  free(batch);
  fifo_stop(&mk);
}

/* Every event fails (503) and is dead-lettered after 2 attempts 2 s apart;
 * each invocation has too little time to wait for a retry, so every head
 * holds the batch once and the batch comes again and again. A head
 * dead-lettered in an earlier invocation is not sent again when its batch
 * comes back (else its attempts would start over and it would hold the
 * batch anew, and again, behind each new head): each event is tried twice,
 * in order, and is on the dead-letter topic; plain's records go once. */
HL_TEST_T(lambda_fifo_a_dead_lettered_head_is_not_sent_again_when_its_batch_comes_back, 120) {
  hl_mock_kafka mk;
  fifo_start(&mk, "fifo?codes=503", ",\"retry_schedule\":\"2s,2s,2s\",\"skip_after\":2");
  char *batch = fifo_batch();
  emu_result *r = NULL;
  int invocations = 0;
  while (invocations < 8) {
    r = emu_wait(emu_push(batch, hl_wall_ms() + 4000), 20000);
    invocations++;
    HL_ASSERT(r != NULL);
    if (strcmp(r->kind, "response") == 0) break;
    HL_ASSERT_EQ_STR(r->error_type, "Hookloop.BatchIncomplete");
  }
  HL_ASSERT_MSG(strcmp(r->kind, "response") == 0, "still failed after %d invocations", invocations);
  HL_ASSERT_EQ_STR(r->body, "{\"batchItemFailures\":[]}");
  const char *want[] = {"msk-700", "msk-700", "msk-701", "msk-701", "msk-702", "msk-702", "msk-703", "msk-703"};
  assert_hook("fifo", want, HL_ARRAY_SIZE(want), true);
  const char *plain[] = {"msk-800", "msk-801"};
  assert_hook("plain", plain, HL_ARRAY_SIZE(plain), false);
  char *dlq = topic_dump(&mk, "wh.dlq", "%k\\n");
  for (int i = 700; i < 704; i++) {
    char id[32];
    snprintf(id, sizeof id, "msk-%d\n", i);
    HL_ASSERT_MSG(strstr(dlq, id) != NULL, "%s is not on the dead-letter topic: %s", id, dlq);
  }
  free(dlq);
  free(batch);
  fifo_stop(&mk);
}

/* Where a held head stood is kept in the ledger for the batch that comes
 * again. Once the head was delivered, the same event on the partition
 * again (a replay or a re-queue from the dead-letter topic produces it
 * again, at a later offset) is not that head: the records before it in a
 * later batch are new events, and each is sent. They were taken for the
 * ones the held batch had already done, answered delivered and never sent. */
HL_TEST_T(lambda_fifo_a_delivered_heads_event_again_does_not_skip_the_records_before_it, 120) {
  hl_mock_kafka mk;
  fifo_start(&mk, "fifo?codes=503,200&codes_for=msk-700", ",\"retry_schedule\":\"2s,2s,2s\"");
  char *batch = fifo_batch();
  /* The head's retry falls due after the hand-off point: the batch is held. */
  emu_result *r = emu_wait(emu_push(batch, hl_wall_ms() + 4000), 20000);
  HL_ASSERT(r != NULL);
  HL_ASSERT_MSG(strcmp(r->kind, "error") == 0, "%s: %s", r->kind, r->body);
  hl_sleep_ms(2500);
  /* The batch again: the head's second attempt succeeds, then its followers. */
  r = emu_wait(emu_push(batch, hl_wall_ms() + 20000), 20000);
  HL_ASSERT(r != NULL);
  HL_ASSERT_MSG(strcmp(r->kind, "response") == 0, "%s: %s", r->kind, r->body);
  const char *want[] = {"msk-700", "msk-700", "msk-701", "msk-702", "msk-703"};
  assert_hook("fifo", want, HL_ARRAY_SIZE(want), true);
  free(batch);
  /* The next batch of the partition: two new events, then msk-700 produced
   * again at offset 706. */
  hl_buf b = HL_BUF_INIT;
  hl_jw w;
  msk_topic_begin(&w, &b, "wh.egress.ord.Payment");
  msk_records(&w, "wh.egress.ord.Payment", 704, 2, fifo_sub);
  msk_record_at(&w, "wh.egress.ord.Payment", 700, 706, fifo_sub);
  hl_jw_arr_end(&w);
  batch = msk_event_end(&w, &b);
  r = emu_wait(emu_push(batch, hl_wall_ms() + 20000), 20000);
  HL_ASSERT(r != NULL);
  HL_ASSERT_MSG(strcmp(r->kind, "response") == 0, "%s: %s", r->kind, r->body);
  const char *then[] = {"msk-700", "msk-700", "msk-701", "msk-702", "msk-703", "msk-704", "msk-705"};
  assert_hook("fifo", then, HL_ARRAY_SIZE(then), true);
  free(batch);
  fifo_stop(&mk);
}

/* With partial batch responses the held partition's records from the head
 * on are the ones listed failed (not the one before it, not plain's). The
 * batch again: the record before the head is not sent again, the head goes
 * on, then its followers. */
HL_TEST_T(lambda_fifo_partial_batch_lists_the_held_head_and_its_followers, 120) {
  hl_mock_kafka mk;
  fifo_start_env(&mk, "fifo?codes=503,200&codes_for=msk-701", ",\"retry_schedule\":\"2s\"",
                 "HOOKLOOP_LAMBDA_PARTIAL_BATCH=1");
  char *batch = fifo_batch();
  emu_result *r = emu_wait(emu_push(batch, hl_wall_ms() + 4000), 20000);
  HL_ASSERT(r != NULL);
  HL_ASSERT_MSG(strcmp(r->kind, "response") == 0, "%s: %s", r->kind, r->body);
  const char *parts[] = {"wh.egress.ord.Payment-0", "wh.egress.ord.Payment-0", "wh.egress.ord.Payment-0"};
  const int64_t offs[] = {701, 702, 703};
  assert_batch_failures(r->body, parts, offs, 3);
  r = emu_wait(emu_push(batch, hl_wall_ms() + 20000), 20000);
  HL_ASSERT(r != NULL);
  HL_ASSERT_MSG(strcmp(r->kind, "response") == 0, "%s: %s", r->kind, r->body);
  HL_ASSERT_EQ_STR(r->body, "{\"batchItemFailures\":[]}");
  const char *want[] = {"msk-700", "msk-701", "msk-701", "msk-702", "msk-703"};
  assert_hook("fifo", want, HL_ARRAY_SIZE(want), true);
  const char *plain[] = {"msk-800", "msk-801"};
  assert_hook("plain", plain, HL_ARRAY_SIZE(plain), false);
  free(batch);
  fifo_stop(&mk);
}

/* --- replay and re-queue in the MSK function ------------------------------------------------ */

/* An admin call through API Gateway; the answer (the API Gateway response,
 * its "body" a JSON string). */
static emu_result *admin(const char *method, const char *path, const char *body) {
  char *e = apigw(method, path, body);
  emu_result *r = emu_wait(emu_push(e, 0), 30000);
  free(e);
  HL_ASSERT(r != NULL);
  return r;
}

/* The records of topic as an MSK event that names the cluster it came
 * from (bootstrapServers), as the event source mapping sends them. */
static char *msk_batch_with_servers(const hl_mock_kafka *mk, const char *topic, int *count) {
  char *batch = msk_batch_from(mk, topic, count);
  hl_buf b = HL_BUF_INIT;
  hl_buf_printf(&b, "{\"bootstrapServers\":\"%s\",%s", mk->bootstrap, batch + 1);
  free(batch);
  return hl_buf_steal(&b, NULL);
}

/* One record on topic, as the processor fans an event out to its egress
 * topic: key, the subscription_id header, value. */
static void egress_produce(const hl_mock_kafka *mk, const char *topic, const char *key, const char *value) {
  char path[700], cmd[2000];
  snprintf(path, sizeof path, "%s/record.txt", dir);
  FILE *f = fopen(path, "w");
  HL_ASSERT(f != NULL);
  fprintf(f, "%s|%s\n", key, value);
  fclose(f);
  snprintf(cmd, sizeof cmd, "kcat -P -b %s -t %s -K '|' -H 'subscription_id=%s' -l %s 2>/dev/null", mk->bootstrap,
           topic, sub_id, path);
  HL_ASSERT_MSG(system(cmd) == 0, "kcat produce failed");
  unlink(path);
}

/* Hands the function every record of the egress topic (one MSK batch); all
 * handled. */
static void egress_batch(const hl_mock_kafka *mk, int64_t deadline_ms) {
  int n = 0;
  char *batch = msk_batch_with_servers(mk, "wh.egress.acme.Payment", &n);
  emu_result *r = emu_wait(emu_push(batch, deadline_ms), 30000);
  free(batch);
  HL_ASSERT(r != NULL);
  HL_ASSERT_MSG(strcmp(r->kind, "response") == 0, "%s: %s", r->kind, r->body);
  HL_ASSERT_EQ_STR(r->body, "{\"batchItemFailures\":[]}");
}

static const char replay_value[] = "{\"eventHeader\":{\"uuid\":\"msk-3000\",\"eventType\":\"Payment\"},\"amount\":3.25}";

/* The MSK function without KAFKA_BROKERS, its partner hook `hook` and
 * retry schedule: msk-3000 delivered once from its egress record, then
 * replayed through the admin API (generation 1). Before the function has
 * seen a batch it has no brokers: 501 naming what to set. */
static void replayed_in_lambda(hl_mock_kafka *mk, const char *hook, const char *schedule) {
  const char *topics[] = {"wh.egress.acme.Payment", "wh.dlq", "wh.retry.100ms", "wh.retry.8s", NULL};
  kafka_start(mk, topics);
  const char *env[] = {schedule, NULL};
  function_start(env, hook);
  emu_result *r = admin("POST", "/admin/events/msk-3000/replay", NULL);
  HL_ASSERT_EQ_INT(status_of(r), 501);
  HL_ASSERT_MSG(strstr(r->body, "replay_not_supported") && strstr(r->body, "KAFKA_BROKERS"), "%s", r->body);
  egress_produce(mk, "wh.egress.acme.Payment", "msk-3000", replay_value);
  egress_batch(mk, hl_wall_ms() + 30000);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "replay", 1, 10000, &doc), 1);
  hl_json_doc_dispose(&doc);
  r = admin("POST", "/admin/events/msk-3000/replay", NULL);
  HL_ASSERT_MSG(status_of(r) == 202, "%s", r->body);
  HL_ASSERT_MSG(strstr(r->body, "\\\"queued\\\":1") && strstr(r->body, "\\\"replay\\\":1"), "%s", r->body);
  /* The same bytes again on the egress topic, generation 1 in a header. */
  char *out = topic_dump(mk, "wh.egress.acme.Payment", "%k|%h|%s\\n");
  const char *second = strchr(out, '\n');
  HL_ASSERT_MSG(second && strstr(second, "msk-3000|") && strstr(second, "replay=1") && strstr(second, replay_value),
                "egress: %s", out);
  free(out);
}

/* The partner's requests at /hook/replay: exactly n, each with webhook-id
 * msk-3000 and the accepted bytes. */
static void assert_replay_requests(int n) {
  hl_json_doc doc;
  e2e_wait_requests(&partner, "replay", (size_t)n, 20000, &doc);
  hl_json_doc_dispose(&doc);
  hl_sleep_ms(300);
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "replay", (size_t)n + 1, 0, &doc), n);
  for (int i = 0; i < n; i++) {
    HL_ASSERT_EQ_STR(e2e_json_str(&doc.root->u.items[i], "webhook_id"), "msk-3000");
    HL_ASSERT_EQ_STR(e2e_json_str(&doc.root->u.items[i], "body"), replay_value);
  }
  hl_json_doc_dispose(&doc);
}

static void replay_stop(hl_mock_kafka *mk) {
  stop_lambda();
  e2e_stop_partner(&partner);
  emu_stop();
  hl_mock_kafka_stop(mk);
}

/* POST /admin/events/{id}/replay in the MSK function, which knows its
 * brokers from a batch's bootstrapServers: the replay record (generation 1)
 * reaches the partner with the same webhook-id and bytes, past the first
 * delivery's ledger entry, which still stops the original record. */
HL_TEST_T(lambda_replay_from_the_egress_topic_with_the_batch_brokers, 120) {
  hl_mock_kafka mk;
  replayed_in_lambda(&mk, "replay", "HOOKLOOP_RETRY_SCHEDULE=100ms");
  egress_batch(&mk, hl_wall_ms() + 30000); /* the original record (stopped by the ledger) and the replay */
  assert_replay_requests(2);
  emu_result *r = admin("GET", "/admin/deliveries?event_id=msk-3000", NULL);
  HL_ASSERT_EQ_INT(status_of(r), 200);
  HL_ASSERT_MSG(strstr(r->body, "\\\"status\\\":\\\"SUCCESS\\\"") && strstr(r->body, "\\\"attempts\\\":2"), "%s", r->body);
  replay_stop(&mk);
}

/* A replay that fails (503) and whose retry falls due after its
 * invocation's hand-off is parked in the store; the drain that delivers it
 * keeps its generation, so the first delivery's ledger entry does not stop
 * it: the partner gets it a third time. */
HL_TEST_T(lambda_a_parked_replay_keeps_its_generation, 120) {
  hl_mock_kafka mk;
  replayed_in_lambda(&mk, "replay?codes=200,503,200", "HOOKLOOP_RETRY_SCHEDULE=8s,8s");
  egress_batch(&mk, hl_wall_ms() + 30000);
  assert_replay_requests(2);
  HL_ASSERT_EQ_INT(records_on(&mk, "wh.retry.8s"), 1);
  char *out = topic_dump(&mk, "wh.retry.8s", "%h\\n");
  HL_ASSERT_MSG(strstr(out, "replay=1"), "retry record: %s", out);
  free(out);
  int64_t due = due_on(&mk, "wh.retry.8s");
  /* 4 s left, the retry due in ~8 s: parked. */
  int n = 0;
  char *batch = msk_batch_with_servers(&mk, "wh.retry.8s", &n);
  emu_result *r = emu_wait(emu_push(batch, hl_wall_ms() + 4000), 30000);
  free(batch);
  HL_ASSERT(r && strcmp(r->kind, "response") == 0);
  HL_ASSERT_EQ_STR(r->body, "{\"batchItemFailures\":[]}");
  assert_replay_requests(2);
  /* A drain that lasts past its due time takes it and delivers it. */
  r = drain(due + 12000);
  HL_ASSERT_EQ_STR(r->body, "{\"parked_taken\":1,\"done\":1,\"left\":0}");
  assert_replay_requests(3);
  r = admin("GET", "/admin/deliveries?event_id=msk-3000", NULL);
  HL_ASSERT_MSG(strstr(r->body, "\\\"status\\\":\\\"SUCCESS\\\"") && strstr(r->body, "\\\"attempts\\\":3"), "%s", r->body);
  replay_stop(&mk);
}

/* POST .../retry in the MSK function that knows its brokers from a batch:
 * a dead-lettered delivery (503 twice, the schedule used up) is re-queued
 * from the dead-letter topic to its egress topic with the same bytes. */
HL_TEST_T(lambda_requeue_from_the_dead_letter_topic_with_the_batch_brokers, 120) {
  hl_mock_kafka mk;
  const char *topics[] = {"wh.egress.acme.Payment", "wh.dlq", "wh.retry.100ms", NULL};
  kafka_start(&mk, topics);
  function_start(NULL, "replay?codes=503");
  char path[200];
  snprintf(path, sizeof path, "/admin/deliveries/msk-3000/%s/retry", sub_id);
  emu_result *r = admin("POST", path, NULL);
  HL_ASSERT_EQ_INT(status_of(r), 501);
  HL_ASSERT_MSG(strstr(r->body, "KAFKA_BROKERS"), "%s", r->body);
  egress_produce(&mk, "wh.egress.acme.Payment", "msk-3000", replay_value);
  egress_batch(&mk, hl_wall_ms() + 30000);
  int n = 0;
  char *batch = msk_batch_with_servers(&mk, "wh.retry.100ms", &n);
  HL_ASSERT_EQ_INT(n, 1);
  r = emu_wait(emu_push(batch, hl_wall_ms() + 30000), 30000);
  free(batch);
  HL_ASSERT(r && strcmp(r->kind, "response") == 0);
  HL_ASSERT_EQ_INT(records_on(&mk, "wh.dlq"), 1);
  r = admin("POST", path, NULL);
  HL_ASSERT_MSG(status_of(r) == 202 && strstr(r->body, "requeued"), "%s", r->body);
  char *out = topic_dump(&mk, "wh.egress.acme.Payment", "%k|%h|%s\\n");
  const char *second = strchr(out, '\n');
  HL_ASSERT_MSG(second && strstr(second, "msk-3000|") && strstr(second, replay_value), "egress: %s", out);
  free(out);
  r = admin("GET", "/admin/deliveries?event_id=msk-3000", NULL);
  HL_ASSERT_MSG(strstr(r->body, "\\\"status\\\":\\\"PENDING\\\"") && strstr(r->body, "\\\"attempts\\\":2"), "%s", r->body);
  replay_stop(&mk);
}
