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
  /* However the path spells /admin ("//admin", "/%61dmin": the router
   * takes both as /admin): a DELETE there deleted the subscription named
   * before the %00. A segment longer than any id is refused too, not cut
   * to 255 bytes. */
  const char *real = "{\"partner_id\":\"acme\",\"event_type\":\"PaymentProcessed\",\"url\":\"http://127.0.0.1:9/\"}";
  HL_ASSERT_EQ_INT(post("/admin/subscriptions", real, strlen(real), &doc), 201);
  char sid[64], path[512], u[600];
  snprintf(sid, sizeof sid, "%.60s", str_at(doc.root, "/subscription_id"));
  hl_json_doc_dispose(&doc);
  static const char *const spelt[] = {"/admin/subscriptions/%s%%00x", "//admin/subscriptions/%s%%00x",
                                      "/%%61dmin/subscriptions/%s%%00x", "/admin//subscriptions/%s%%00x"};
  for (size_t i = 0; i < HL_ARRAY_SIZE(spelt); i++) {
    snprintf(path, sizeof path, spelt[i], sid);
    HL_ASSERT_MSG(get_status(path) == 400, "GET %s was not refused", path);
    snprintf(u, sizeof u, "%s%s", hk.base, path);
    long code = e2e_call("DELETE", u, NULL, &doc);
    HL_ASSERT_MSG(code == 400 && strstr(str_at(doc.root, "/details/0/message"), "control character"),
                  "DELETE %s answered %ld", path, code);
    hl_json_doc_dispose(&doc);
  }
  snprintf(path, sizeof path, "//api/v1/events?x=%%01");
  HL_ASSERT_EQ_INT(get_status(path), 400);
  snprintf(path, sizeof path, "/admin/subscriptions/%s%0*d", sid, 300, 0);
  HL_ASSERT_EQ_INT(get_status(path), 400);
  snprintf(path, sizeof path, "/admin/subscriptions/%s", sid);
  HL_ASSERT_EQ_INT(get_status(path), 200); /* still there */
  stop();
}

/* What a subscription cannot set: the headers hookloop sends itself, the
 * trace context's among them (a second traceparent breaks the partner's
 * trace), answered at /headers/<name>. */
HL_TEST_T(a_subscription_cannot_set_the_headers_hookloop_sends, 120) {
  start();
  register_schema("PaymentProcessed", "{\"type\":\"object\"}");
  static const char *const names[] = {"traceparent", "X-Amzn-Trace-Id", "webhook-id", "Content-Length"};
  for (size_t i = 0; i < HL_ARRAY_SIZE(names); i++) {
    hl_buf b = HL_BUF_INIT;
    hl_buf_printf(&b, "{\"partner_id\":\"acme\",\"event_type\":\"PaymentProcessed\",\"url\":\"http://127.0.0.1:9/\","
                      "\"headers\":{\"%s\":\"00-11111111111111111111111111111111-2222222222222222-01\"}}",
                  names[i]);
    char ptr[64];
    snprintf(ptr, sizeof ptr, "/headers/%s", names[i]);
    hl_json_doc doc;
    assert_400(post("/admin/subscriptions", b.data, b.len, &doc), &doc, "invalid_request", ptr);
    hl_buf_dispose(&b);
  }
  stop();
}

/* Registration bodies are checked member by member: a header value with
 * a control character (a partner's parser refuses the whole request, so
 * every delivery failed), a schema status that is no string (it became
 * ACTIVE), a transformation's misspelt member (it registered for every
 * subscription of the type). */
HL_TEST_T(registration_members_are_checked_one_by_one, 120) {
  start();
  register_schema("PaymentProcessed", "{\"type\":\"object\"}");
  hl_json_doc doc;
  const char *hdr = "{\"partner_id\":\"acme\",\"event_type\":\"PaymentProcessed\",\"url\":\"http://127.0.0.1:9/\","
                    "\"headers\":{\"X-A\":\"abc\\u0001\"}}";
  assert_400(post("/admin/subscriptions", hdr, strlen(hdr), &doc), &doc, "invalid_request", "/headers/X-A");
  const char *del = "{\"partner_id\":\"acme\",\"event_type\":\"PaymentProcessed\",\"url\":\"http://127.0.0.1:9/\","
                    "\"headers\":{\"X-A\":\"a\\u007fb\"}}";
  assert_400(post("/admin/subscriptions", del, strlen(del), &doc), &doc, "invalid_request", "/headers/X-A");
  const char *tab = "{\"partner_id\":\"acme\",\"event_type\":\"PaymentProcessed\",\"url\":\"http://127.0.0.1:9/\","
                    "\"headers\":{\"X-A\":\"a\\tb c\"}}";
  HL_ASSERT_EQ_INT(post("/admin/subscriptions", tab, strlen(tab), &doc), 201);
  hl_json_doc_dispose(&doc);
  static const char *const statuses[] = {"false", "5", "[\"INACTIVE\"]", "null"};
  for (size_t i = 0; i < HL_ARRAY_SIZE(statuses); i++) {
    char sch[200];
    snprintf(sch, sizeof sch, "{\"event_type\":\"Other\",\"domain\":\"t\",\"status\":%s,\"schema\":{}}", statuses[i]);
    long code = post("/admin/schemas", sch, strlen(sch), &doc);
    HL_ASSERT_MSG(code == 400, "status %s answered %ld", statuses[i], code);
    assert_400(code, &doc, "invalid_request", "/status");
  }
  const char *xf = "{\"event_type\":\"PaymentProcessed\",\"subscriptionid\":\"sub_x\","
                   "\"spec\":{\"version\":1,\"ops\":[{\"op\":\"pick\",\"paths\":[\"/amount\"]}]}}";
  assert_400(post("/admin/transformations", xf, strlen(xf), &doc), &doc, "invalid_request", "/subscriptionid");
  HL_ASSERT_EQ_INT(get_status("/admin/transformations"), 200);
  char u[256];
  snprintf(u, sizeof u, "%s/admin/transformations", hk.base);
  HL_ASSERT_EQ_INT(e2e_call("GET", u, NULL, &doc), 200);
  HL_ASSERT_MSG(hl_json_get(doc.root, "transformations")->len == 0, "a transformation was registered");
  hl_json_doc_dispose(&doc);
  stop();
}

/* The admin bodies' members are read whole: an unknown member of a
 * replay is named by its RFC 6901 pointer, escaped and not cut; a time
 * holding U+0000 is refused, not read as the digits before it. */
HL_TEST_T(admin_bodies_are_read_whole, 120) {
  start();
  register_schema("PaymentProcessed", "{\"type\":\"object\"}");
  hl_json_doc doc;
  const char *real = "{\"partner_id\":\"acme\",\"event_type\":\"PaymentProcessed\",\"url\":\"http://127.0.0.1:9/\"}";
  HL_ASSERT_EQ_INT(post("/admin/subscriptions", real, strlen(real), &doc), 201);
  char path[400];
  snprintf(path, sizeof path, "/admin/subscriptions/%s/recover", str_at(doc.root, "/subscription_id"));
  hl_json_doc_dispose(&doc);
  const char *nul = "{\"since\":\"0\\u0000garbage\"}";
  assert_400(post(path, nul, strlen(nul), &doc), &doc, "invalid_request", "/since");
  const char *odd = "{\"a/b~c\":1}";
  assert_400(post("/admin/events/ev-1/replay", odd, strlen(odd), &doc), &doc, "invalid_request", "/a~1b~0c");
  char longer[200], want[80];
  snprintf(longer, sizeof longer, "{\"%060d\":1}", 7);
  snprintf(want, sizeof want, "/%060d", 7);
  assert_400(post("/admin/events/ev-1/replay", longer, strlen(longer), &doc), &doc, "invalid_request", want);
  stop();
}

/* Only the media type application/cloudevents+json (parameters allowed)
 * reads the body as a CloudEvent; a type that merely begins alike is the
 * producer envelope's. */
HL_TEST_T(only_the_cloudevents_media_type_reads_a_cloudevent, 120) {
  start();
  register_schema("PaymentProcessed", "{\"type\":\"object\"}");
  char u[256];
  snprintf(u, sizeof u, "%s/api/v1/events", hk.base);
  static const struct { const char *type, *body; } ok[] = {
    {"application/cloudevents+jsonfoo", "{\"eventHeader\":{\"uuid\":\"ce-1\",\"eventType\":\"PaymentProcessed\"}}"},
    {"application/cloudevents+jso", "{\"eventHeader\":{\"uuid\":\"ce-2\",\"eventType\":\"PaymentProcessed\"}}"},
    {"application/cloudevents+json; charset=utf-8",
     "{\"specversion\":\"1.0\",\"source\":\"s\",\"id\":\"ce-3\",\"type\":\"PaymentProcessed\",\"data\":{}}"},
    {"Application/CloudEvents+JSON",
     "{\"specversion\":\"1.0\",\"source\":\"s\",\"id\":\"ce-4\",\"type\":\"PaymentProcessed\",\"data\":{}}"},
  };
  for (size_t i = 0; i < HL_ARRAY_SIZE(ok); i++) {
    char ct[96];
    snprintf(ct, sizeof ct, "Content-Type: %s", ok[i].type);
    const char *h[] = {ct, NULL};
    char *resp = NULL;
    long code = hl_http("POST", u, ok[i].body, strlen(ok[i].body), h, &resp);
    HL_ASSERT_MSG(code == 202, "%s: %ld %s", ok[i].type, code, resp ? resp : "");
    free(resp);
  }
  stop();
}

/* The bulk route has its 10 MiB limit however its path is spelt: the
 * router takes "/api/v1/events/bulk/" as the bulk, and the 1 MiB of a
 * single event refused it (413). */
HL_TEST_T(the_bulk_limit_holds_for_every_spelling_of_its_path, 120) {
  start();
  register_schema("PaymentProcessed", "{\"type\":\"object\"}");
  hl_buf bulk = HL_BUF_INIT;
  char pad[2001];
  memset(pad, 'p', sizeof pad - 1);
  pad[sizeof pad - 1] = 0;
  hl_buf_putc(&bulk, '[');
  for (int i = 0; i < 1000; i++)
    hl_buf_printf(&bulk, "%s{\"eventHeader\":{\"uuid\":\"bk-%d\",\"eventType\":\"PaymentProcessed\"},\"pad\":\"%s\"}",
                  i ? "," : "", i, pad);
  hl_buf_putc(&bulk, ']');
  HL_ASSERT(bulk.len > (2u << 20) - 100000);
  static const char *const spelt[] = {"/api/v1/events/bulk/", "/api/v1/events//bulk"};
  for (size_t i = 0; i < HL_ARRAY_SIZE(spelt); i++) {
    hl_json_doc doc;
    long code = post(spelt[i], bulk.data, bulk.len, &doc);
    HL_ASSERT_MSG(code == 200, "%s: %ld (%s)", spelt[i], code, str_at(doc.root, "/error"));
    hl_json_doc_dispose(&doc);
  }
  hl_buf_dispose(&bulk);
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
    /* Without "=", read as absent: every partner's subscriptions were listed. */
    {"GET", "/admin/subscriptions?partner_id", "?partner_id", "give it a value"},
    {"GET", "/admin/deliveries?subscription_id=s&status", "?status", "give it a value"},
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
  /* The same bound from inside: hookloop's own longest turn (hl_loop_stats),
   * which a probe between two stalls could miss. */
  double turn_max = e2e_metric_f(&hk, "hookloop_loop_turn_max_seconds");
  printf("  hookloop's longest loop turn: %.1f ms\n", turn_max * 1e3);
  HL_ASSERT_MSG(turn_max >= 0 && turn_max < 0.5, "the loop's longest turn: %.1f ms", turn_max * 1e3);
  hl_buf_dispose(&b);
  stop();
}
