/* Input chosen to hurt, sent to the real `hookloop serve` (embedded store):
 * member names given twice, control characters in identifiers, and events
 * that cost validation a lot, while another client keeps asking /healthz. */
#include "e2e_util.h"
#include "hl_test.h"
#include "hl_testutil.h"
#include "common/hl_buf.h"
#include "common/hl_common.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static e2e_hookloop hk;

static void start(void) {
  memset(&hk, 0, sizeof hk);
  const char *env[] = {"HOOKLOOP_ALLOW_PRIVATE_TARGETS=1", NULL};
  e2e_start_hookloop(&hk, env);
}

static void stop(void) {
  int st = e2e_stop_hookloop(&hk, SIGTERM, 30000);
  HL_ASSERT_MSG(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "hookloop did not exit cleanly (%d)", st);
  hl_rmtree(hk.dir);
  free(hk.dir);
}

/* POSTs body to path; returns the status, *doc the parsed answer. */
static long post(const char *path, const char *body, size_t len, hl_json_doc *doc) {
  char u[256], *resp = NULL;
  snprintf(u, sizeof u, "%s%s", hk.base, path);
  const char *h[] = {"Content-Type: application/json", NULL};
  long code = hl_http("POST", u, body, len, h, &resp);
  hl_json_doc_init(doc);
  HL_ASSERT_MSG(resp && hl_json_parse(doc, resp, strlen(resp), NULL) == 0, "answer to %s is not JSON: %s", path,
                resp ? resp : "(none)");
  free(resp);
  return code;
}

static const char *str_at(const hl_json *v, const char *ptr) {
  return hl_json_str(hl_json_pointer(v, ptr, strlen(ptr)));
}

/* The status of a GET of path (its query included). */
static long get_status(const char *path) {
  char u[1100]; /* hk.base (< 64) and a path of up to 1024 */
  snprintf(u, sizeof u, "%s%s", hk.base, path);
  hl_json_doc doc;
  long code = e2e_call("GET", u, NULL, &doc);
  hl_json_doc_dispose(&doc);
  return code;
}

/* The answer is a 400 with this error code and a first detail at path. */
static void assert_400(long code, hl_json_doc *doc, const char *error, const char *path) {
  HL_ASSERT_EQ_INT(code, 400);
  HL_ASSERT_EQ_STR(str_at(doc->root, "/error"), error);
  HL_ASSERT_EQ_STR(str_at(doc->root, "/details/0/path"), path);
  hl_json_doc_dispose(doc);
}

static void register_schema(const char *type, const char *schema) {
  hl_buf b = HL_BUF_INIT;
  hl_buf_printf(&b, "{\"event_type\":\"%s\",\"domain\":\"t\",\"version\":1,\"schema\":%s}", type, schema);
  hl_json_doc doc;
  long code = post("/admin/schemas", b.data, b.len, &doc);
  HL_ASSERT_MSG(code == 201, "schema %s answered %ld", type, code);
  hl_json_doc_dispose(&doc);
  hl_buf_dispose(&b);
}

HL_TEST_T(member_names_given_twice_are_refused_everywhere, 120) {
  start();
  register_schema("Payment", "{\"type\":\"object\"}");
  hl_json_doc doc;
  const char *ev = "{\"eventHeader\":{\"uuid\":\"d-1\",\"eventType\":\"Payment\",\"eventType\":\"Other\"}}";
  long code = post("/api/v1/events", ev, strlen(ev), &doc);
  HL_ASSERT_EQ_STR(str_at(doc.root, "/details/0/name"), "eventType");
  assert_400(code, &doc, "duplicate_member_name", "/eventHeader");
  /* In a bulk, the pointer starts at the array. */
  const char *bulk = "[{\"eventHeader\":{\"uuid\":\"d-2\",\"eventType\":\"Payment\"}},"
                     "{\"eventHeader\":{\"uuid\":\"d-3\",\"eventType\":\"Payment\"},\"amount\":1,\"amount\":2}]";
  assert_400(post("/api/v1/events/bulk", bulk, strlen(bulk), &doc), &doc, "duplicate_member_name", "/1");
  /* Schemas and subscriptions too. */
  const char *sch = "{\"event_type\":\"Dup\",\"domain\":\"t\",\"schema\":{\"properties\":{\"a\":{},\"a\":{\"type\":\"string\"}}}}";
  code = post("/admin/schemas", sch, strlen(sch), &doc);
  HL_ASSERT_EQ_STR(str_at(doc.root, "/details/0/name"), "a");
  assert_400(code, &doc, "duplicate_member_name", "/schema/properties");
  const char *sub = "{\"partner_id\":\"acme\",\"event_type\":\"Payment\",\"url\":\"http://127.0.0.1:9/\","
                    "\"partner_id\":\"other\"}";
  assert_400(post("/admin/subscriptions", sub, strlen(sub), &doc), &doc, "duplicate_member_name", "");
  /* Nothing of it was accepted. */
  char u[256];
  snprintf(u, sizeof u, "%s/admin/deliveries?event_id=d-2", hk.base);
  HL_ASSERT_EQ_INT(e2e_call("GET", u, NULL, &doc), 200);
  HL_ASSERT(hl_json_get(doc.root, "deliveries")->len == 0);
  hl_json_doc_dispose(&doc);
  stop();
}

HL_TEST_T(control_characters_in_identifiers_are_refused, 120) {
  start();
  register_schema("PaymentProcessed", "{\"type\":\"object\"}");
  hl_json_doc doc;
  /* Was cut at the NUL and routed as PaymentProcessed (202). */
  const char *ev = "{\"eventHeader\":{\"uuid\":\"n-1\",\"eventType\":\"PaymentProcessed\\u0000x\"}}";
  assert_400(post("/api/v1/events", ev, strlen(ev), &doc), &doc, "invalid_event", "/eventHeader/eventType");
  const char *ce = "{\"specversion\":\"1.0\",\"source\":\"s\",\"id\":\"n-2\",\"type\":\"PaymentProcessed\\u0001\"}";
  assert_400(post("/api/v1/events", ce, strlen(ce), &doc), &doc, "invalid_event", "/type");
  const char *id = "{\"eventHeader\":{\"uuid\":\"n-3\\u0000\",\"eventType\":\"PaymentProcessed\"}}";
  assert_400(post("/api/v1/events", id, strlen(id), &doc), &doc, "invalid_event", "/eventHeader/uuid");
  const char *sch1 = "{\"event_type\":\"PaymentProcessed\\u0000x\",\"domain\":\"t\",\"schema\":{}}";
  assert_400(post("/admin/schemas", sch1, strlen(sch1), &doc), &doc, "invalid_request", "/event_type");
  const char *sch2 = "{\"event_type\":\"Other\",\"domain\":\"t\\u0000\",\"schema\":{}}";
  assert_400(post("/admin/schemas", sch2, strlen(sch2), &doc), &doc, "invalid_request", "/domain");
  const char *sub1 = "{\"partner_id\":\"acme\\u0000x\",\"event_type\":\"PaymentProcessed\",\"url\":\"http://127.0.0.1:9/\"}";
  assert_400(post("/admin/subscriptions", sub1, strlen(sub1), &doc), &doc, "invalid_request", "/partner_id");
  const char *sub2 = "{\"partner_id\":\"acme\",\"event_type\":\"PaymentProcessed\",\"url\":\"http://127.0.0.1:9/\","
                     "\"headers\":{\"X-A/b\\u0000\":\"v\"}}";
  assert_400(post("/admin/subscriptions", sub2, strlen(sub2), &doc), &doc, "invalid_request", "/headers/X-A~1b");
  /* Ids in the URL: a percent-encoded NUL no longer cuts them short. */
  HL_ASSERT_EQ_INT(get_status("/admin/subscriptions/sub_x%00y"), 400);
  HL_ASSERT_EQ_INT(get_status("/admin/deliveries?event_id=n-1%00"), 400);
  stop();
}

/* A query parameter a route does not read, or one given twice, is refused
 * at "?name" on every route behind a token: a misspelt filter listed every
 * subscription, unfiltered, and a second value was ignored unseen. The
 * open routes (health, metrics) are left to what probes add. */
HL_TEST_T(query_parameters_a_route_does_not_take_are_refused, 120) {
  start();
  static const struct { const char *method, *path, *pointer, *words; } bad[] = {
    {"GET", "/admin/subscriptions?partner=acme", "?partner", "it takes partner_id"},
    {"GET", "/admin/subscriptions?partner_id=a&partner_id=b", "?partner_id", "given twice"},
    {"GET", "/admin/deliveries?subscription_id=s&limt=5", "?limt", "it takes event_id subscription_id"},
    {"GET", "/admin/stats?verbose=1", "?verbose", "GET /admin/stats takes no query parameters"},
    {"GET", "/admin/schemas?x", "?x", "takes no query parameters"},
    {"POST", "/admin/secrets/reseal?batch=5&dry_run=1", "?dry_run", "it takes batch"},
    {"POST", "/api/v1/events?async=1", "?async", "takes no query parameters"},
  };
  for (size_t i = 0; i < HL_ARRAY_SIZE(bad); i++) {
    char u[256];
    snprintf(u, sizeof u, "%s%s", hk.base, bad[i].path);
    hl_json_doc doc;
    long code = e2e_call(bad[i].method, u, strcmp(bad[i].method, "POST") == 0 ? "{}" : NULL, &doc);
    const char *msg = str_at(doc.root, "/details/0/message");
    HL_ASSERT_MSG(code == 400 && msg && strstr(msg, bad[i].words), "%s %s: %ld, %s", bad[i].method, bad[i].path, code,
                  msg ? msg : "(no detail)");
    assert_400(code, &doc, "invalid_request", bad[i].pointer);
  }
  /* A value longer than any the API takes is refused, not cut short to
   * one the handler would read instead (an empty list answered 200). */
  char u[1024];
  hl_buf longer = HL_BUF_INIT;
  for (int i = 0; i < 256; i++) hl_buf_putc(&longer, 'a' + i % 26);
  snprintf(u, sizeof u, "%s/admin/deliveries?subscription_id=%s", hk.base, longer.data);
  hl_json_doc doc;
  long code = e2e_call("GET", u, NULL, &doc);
  const char *m = str_at(doc.root, "/details/0/message");
  HL_ASSERT_MSG(code == 400 && m && strstr(m, "256 bytes"), "a value of 256 bytes answered %ld", code);
  assert_400(code, &doc, "invalid_request", "?subscription_id");
  /* A value that fits the router's bound is read whole, not cut to a
   * handler's smaller buffer: 30 zeros and "1junk" are not the limit 1. */
  char limit[80];
  snprintf(limit, sizeof limit, "/admin/deliveries?subscription_id=s&limit=%030d1junk", 0);
  code = get_status(limit);
  HL_ASSERT_MSG(code == 400, "limit=<30 zeros>1junk answered %ld", code);
  /* 255 bytes, percent-encoded to three times as many, are taken. */
  hl_buf_dispose(&longer);
  for (int i = 0; i < 255; i++) hl_buf_puts(&longer, "%61");
  snprintf(u, sizeof u, "/admin/subscriptions?partner_id=%s", longer.data);
  HL_ASSERT_EQ_INT(get_status(u), 200);
  hl_buf_dispose(&longer);
  /* What a route takes still works; empty pieces are nothing. */
  HL_ASSERT_EQ_INT(get_status("/admin/subscriptions?partner_id=acme&"), 200);
  HL_ASSERT_EQ_INT(get_status("/healthz?probe=lb"), 200);
  stop();
}

/* Registers a name of len characters (fmt holds it, then the 128-character
 * event type): a topic of 249 characters is taken and named in the answer's
 * member topic, one of 250 refused at field. */
static void register_at_the_boundary(const char *path, const char *fmt, int len, bool fits, const char *topic,
                                     const char *field) {
  char name[129], type[129];
  memset(name, 'n', (size_t)len);
  name[len] = 0;
  memset(type, 'T', 128);
  type[128] = 0;
  hl_buf b = HL_BUF_INIT;
  hl_buf_printf(&b, fmt, name, type);
  hl_json_doc doc;
  long code = post(path, b.data, b.len, &doc);
  hl_buf_dispose(&b);
  if (fits) {
    HL_ASSERT_MSG(code == 201, "%s answered %ld", path, code);
    HL_ASSERT_EQ_INT(strlen(str_at(doc.root, topic)), 249);
    hl_json_doc_dispose(&doc);
  } else {
    HL_ASSERT(strstr(str_at(doc.root, "/details/0/message"), "250 characters") != NULL);
    assert_400(code, &doc, "invalid_request", field);
  }
}

/* Names up to 128 characters each can compose a topic longer than Kafka's
 * 249: refused at registration with the field to shorten, at the exact
 * boundary. */
HL_TEST_T(names_that_would_make_a_topic_longer_than_kafka_allows_are_refused, 120) {
  start();
  /* "wh.ingress." + domain + "." + type + ".v1": 11 + 106 + 1 + 128 + 3 = 249 */
  const char *schema = "{\"domain\":\"%s\",\"event_type\":\"%s\",\"schema\":{}}";
  register_at_the_boundary("/admin/schemas", schema, 106, true, "/ingress_topic", NULL);
  register_at_the_boundary("/admin/schemas", schema, 107, false, NULL, "/event_type");
  /* "wh.egress." + partner + "." + type: 10 + 110 + 1 + 128 = 249 */
  const char *sub = "{\"partner_id\":\"%s\",\"event_type\":\"%s\",\"url\":\"http://127.0.0.1:9/\"}";
  register_at_the_boundary("/admin/subscriptions", sub, 110, true, "/egress_topic", NULL);
  register_at_the_boundary("/admin/subscriptions", sub, 111, false, NULL, "/partner_id");
  stop();
}

/* A schema that compiles but breaks its dialect's meta-schema is refused,
 * with pointers into the schema; the meta-schemas need no network. */
HL_TEST_T(schemas_are_checked_against_their_meta_schema_at_registration, 120) {
  start();
  hl_json_doc doc;
  const char *bad = "{\"event_type\":\"M\",\"domain\":\"t\",\"schema\":{\"required\":[\"a\",\"a\"]}}";
  long code = post("/admin/schemas", bad, strlen(bad), &doc);
  HL_ASSERT_EQ_STR(str_at(doc.root, "/details/0/keyword"), "uniqueItems");
  assert_400(code, &doc, "invalid_schema", "/required");
  const char *d7 = "{\"event_type\":\"M\",\"domain\":\"t\",\"schema\":{\"$schema\":"
                   "\"http://json-schema.org/draft-07/schema#\",\"properties\":{\"a\":{\"title\":5}}}}";
  assert_400(post("/admin/schemas", d7, strlen(d7), &doc), &doc, "invalid_schema", "/properties/a/title");
  /* A dialect read by other rules than the two read here is refused where
   * it is named, not read as 2020-12. */
  const char *d4 = "{\"event_type\":\"M\",\"domain\":\"t\",\"schema\":{\"$schema\":"
                   "\"http://json-schema.org/draft-04/schema#\",\"properties\":{\"a\":{\"maximum\":5,"
                   "\"exclusiveMaximum\":true}}}}";
  code = post("/admin/schemas", d4, strlen(d4), &doc);
  const char *m = str_at(doc.root, "/message");
  HL_ASSERT_MSG(m && strstr(m, "unsupported dialect"), "message: %s", m ? m : "(none)");
  assert_400(code, &doc, "invalid_schema", "/$schema");
  /* A schema referring to the official meta-schema by URI registers. */
  register_schema("Meta", "{\"$ref\":\"https://json-schema.org/draft/2020-12/schema\"}");
  const char *ev = "{\"eventHeader\":{\"uuid\":\"m-1\",\"eventType\":\"Meta\"},\"type\":7}";
  code = post("/api/v1/events", ev, strlen(ev), &doc);
  HL_ASSERT_EQ_INT(code, 400); /* "type": 7 is no schema */
  hl_json_doc_dispose(&doc);
  stop();
}

static void event_head(hl_buf *b, const char *id, const char *type) {
  hl_buf_printf(b, "{\"eventHeader\":{\"uuid\":\"%s\",\"eventType\":\"%s\"},", id, type);
}

/* A small body whose validation needs more than the loop's share (100,000
 * steps) is finished on the threadpool with the request's whole budget: it
 * is accepted. One that needs more than that budget is too_complex. */
HL_TEST_T(a_small_event_needing_more_than_the_loops_share_is_finished_off_the_loop, 120) {
  start();
  hl_buf sch = HL_BUF_INIT;
  hl_buf_puts(&sch, "{\"properties\":{\"xs\":{\"items\":{\"anyOf\":[");
  for (int i = 0; i < 20; i++) hl_buf_printf(&sch, "{\"const\":\"no-%d\"},", i);
  hl_buf_puts(&sch, "{\"type\":\"integer\"}]}}}}");
  register_schema("Wide", sch.data);
  /* Each level tries its nested array twice: exponential in the depth. */
  register_schema("Deep", "{\"properties\":{\"x\":{\"$ref\":\"#/$defs/d\"}},\"$defs\":{\"d\":{\"anyOf\":["
                          "{\"items\":{\"$ref\":\"#/$defs/d\"},\"maxItems\":0},{\"items\":{\"$ref\":\"#/$defs/d\"}}]}}}");
  hl_buf b = HL_BUF_INIT;
  event_head(&b, "w-1", "Wide");
  hl_buf_puts(&b, "\"xs\":[");
  for (int i = 0; i < 10000; i++) hl_buf_printf(&b, "%s%d", i ? "," : "", i % 10);
  hl_buf_puts(&b, "]}"); /* ~20 KB, ~220,000 steps */
  HL_ASSERT(b.len < 64 * 1024);
  hl_json_doc doc;
  long code = post("/api/v1/events", b.data, b.len, &doc);
  HL_ASSERT_MSG(code == 202, "answered %ld: %s", code, str_at(doc.root, "/message"));
  hl_json_doc_dispose(&doc);
  hl_buf_reset(&b);
  event_head(&b, "d-1", "Deep");
  hl_buf_puts(&b, "\"x\":");
  for (int i = 0; i < 40; i++) hl_buf_putc(&b, '[');
  for (int i = 0; i < 40; i++) hl_buf_putc(&b, ']');
  hl_buf_puts(&b, "}");
  code = post("/api/v1/events", b.data, b.len, &doc);
  HL_ASSERT_EQ_STR(str_at(doc.root, "/details/0/keyword"), "too_complex");
  HL_ASSERT_EQ_STR(str_at(doc.root, "/error"), "too_complex");
  hl_json_doc_dispose(&doc);
  HL_ASSERT_EQ_INT(code, 400);
  hl_buf_dispose(&b);
  hl_buf_dispose(&sch);
  stop();
}

/* --- /healthz while hostile events are validated ---------------------------------------- */

typedef struct {
  atomic_bool stop;
  atomic_long answered, failed;
  atomic_uint_fast64_t max_ns;       /* since the last phase() */
  uint64_t overall_ns;
} prober;

/* Prints and restarts the latency maximum of the phase just ended. */
static void phase(prober *p, const char *name) {
  uint64_t m = atomic_exchange(&p->max_ns, 0);
  if (m > p->overall_ns) p->overall_ns = m;
  printf("  /healthz max latency while %s: %.1f ms\n", name, (double)m / 1e6);
}

/* Asks /healthz every 2 ms until told to stop (bounded: 60 s, 30,000 asks). */
static void *probe_health(void *arg) {
  prober *p = arg;
  char u[256];
  snprintf(u, sizeof u, "%s/healthz", hk.base);
  uint64_t until = hl_mono_ms() + 60000;
  for (int i = 0; i < 30000 && !atomic_load(&p->stop) && hl_mono_ms() < until; i++) {
    uint64_t t0 = hl_mono_ns();
    long code = hl_http("GET", u, NULL, 0, NULL, NULL);
    uint64_t dt = hl_mono_ns() - t0;
    if (code == 200) p->answered++;
    else p->failed++;
    uint64_t seen = atomic_load(&p->max_ns);
    while (dt > seen && !atomic_compare_exchange_weak(&p->max_ns, &seen, dt)) {}
    hl_sleep_ms(2);
  }
  return NULL;
}

HL_TEST_T(hostile_events_get_answers_while_health_keeps_answering, 300) {
  start();
  register_schema("Uniq", "{\"properties\":{\"items\":{\"type\":\"array\",\"uniqueItems\":true}}}");
  register_schema("Pat", "{\"properties\":{\"names\":{\"type\":\"array\",\"items\":{\"type\":\"string\","
                         "\"pattern\":\"^(a|aa)+$\"}}}}");
  register_schema("Mult", "{\"properties\":{\"n\":{\"type\":\"number\",\"multipleOf\":3}}}");
  hl_http("GET", hk.base, NULL, 0, NULL, NULL); /* libcurl's global set-up, before the thread */
  prober pr = {0};
  pthread_t th;
  HL_ASSERT(pthread_create(&th, NULL, probe_health, &pr) == 0);
  hl_json_doc doc;
  hl_buf b = HL_BUF_INIT;

  /* 1. A 400 KB array of distinct numbers (pairwise: 102 s), then the same
   *    with one number repeated in another spelling at the end. */
  event_head(&b, "u-1", "Uniq");
  hl_buf_puts(&b, "\"items\":[");
  unsigned n = 0;
  for (; b.len < 400000; n++) hl_buf_printf(&b, "%s%u", n ? "," : "", (n + 1) * 7u);
  hl_buf_puts(&b, "]}");
  long code = post("/api/v1/events", b.data, b.len, &doc);
  HL_ASSERT_MSG(code == 202, "distinct items answered %ld", code);
  hl_json_doc_dispose(&doc);
  hl_buf_reset(&b);
  event_head(&b, "u-2", "Uniq");
  hl_buf_puts(&b, "\"items\":[");
  for (unsigned i = 0; i < n; i++) hl_buf_printf(&b, "%s%u", i ? "," : "", (i + 1) * 7u);
  hl_buf_puts(&b, ",0.7e1]}");
  code = post("/api/v1/events", b.data, b.len, &doc);
  HL_ASSERT_EQ_STR(str_at(doc.root, "/details/0/keyword"), "uniqueItems");
  assert_400(code, &doc, "schema_violation", "/items");
  phase(&pr, "uniqueItems over 400 KB");

  /* 2. ~1 MB of strings that make the pattern backtrack (~10 ms each). */
  hl_buf_reset(&b);
  event_head(&b, "p-1", "Pat");
  hl_buf_puts(&b, "\"names\":[");
  for (int i = 0; b.len < 1000000; i++) hl_buf_printf(&b, "%s\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!\"", i ? "," : "");
  hl_buf_puts(&b, "]}");
  code = post("/api/v1/events", b.data, b.len, &doc);
  HL_ASSERT_EQ_STR(str_at(doc.root, "/details/0/keyword"), "too_complex");
  HL_ASSERT(strncmp(str_at(doc.root, "/details/0/path"), "/names/", 7) == 0);
  hl_json_doc_dispose(&doc);
  HL_ASSERT_EQ_INT(code, 400);
  phase(&pr, "a backtracking pattern over 1 MB of strings");

  /* 3. multipleOf 3 on 500,000-digit numbers (2.8 s, then a wrong "no"):
   *    all threes is a multiple; one last digit 4 makes it not. */
  hl_buf_reset(&b);
  event_head(&b, "m-1", "Mult");
  hl_buf_puts(&b, "\"n\":");
  for (int i = 0; i < 500000; i++) hl_buf_putc(&b, '3');
  hl_buf_puts(&b, "}");
  code = post("/api/v1/events", b.data, b.len, &doc);
  HL_ASSERT_MSG(code == 202, "a multiple answered %ld: %s", code, str_at(doc.root, "/message"));
  hl_json_doc_dispose(&doc);
  hl_buf_reset(&b);
  event_head(&b, "m-2", "Mult");
  hl_buf_puts(&b, "\"n\":");
  for (int i = 0; i < 499999; i++) hl_buf_putc(&b, '3');
  hl_buf_puts(&b, "4}");
  code = post("/api/v1/events", b.data, b.len, &doc);
  HL_ASSERT_EQ_STR(str_at(doc.root, "/details/0/keyword"), "multipleOf");
  assert_400(code, &doc, "schema_violation", "/n");
  phase(&pr, "multipleOf on 500,000 digits");

  atomic_store(&pr.stop, true);
  pthread_join(th, NULL);
  phase(&pr, "stopping");
  printf("  /healthz during the hostile events: %ld answered, %ld failed, max latency %.1f ms\n",
         atomic_load(&pr.answered), atomic_load(&pr.failed), (double)pr.overall_ns / 1e6);
  HL_ASSERT_EQ_INT(atomic_load(&pr.failed), 0);
  HL_ASSERT(atomic_load(&pr.answered) >= 10);
  /* A generous bound: the loop held for seconds before. */
  HL_ASSERT_MSG(pr.overall_ns < 500u * 1000000u, "/healthz waited %.1f ms", (double)pr.overall_ns / 1e6);
  hl_buf_dispose(&b);
  stop();
}
