/* End to end: transformations registered through the admin API shape what
 * the real hookloop binary delivers to the mock partner, signed over the
 * bytes sent, and the status API names the versions that made them. The
 * same file runs on SQLite, DynamoDB (dynalite) and PostgreSQL. */
#include "e2e_util.h"
#include "hl_test.h"
#include "hl_testsig.h"
#include "hl_testutil.h"
#include "common/hl_common.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static e2e_hookloop hk;
static e2e_partner partner;

static const char *str_at(const hl_json *obj, const char *key) { return hl_json_str(hl_json_get(obj, key)); }

/* POST /admin/transformations; returns the status, the answer in doc. */
static long post_xform(const char *target, const char *spec, hl_json_doc *doc) {
  char u[256], body[2048];
  snprintf(u, sizeof u, "%s/admin/transformations", hk.base);
  snprintf(body, sizeof body, "{%s,\"spec\":%s}", target, spec);
  return e2e_call("POST", u, body, doc);
}

static void register_xform(const char *target, const char *spec, long want_version) {
  hl_json_doc doc;
  long code = post_xform(target, spec, &doc);
  HL_ASSERT_MSG(code == 201, "registration answered %ld", code);
  int64_t v = 0;
  HL_ASSERT(hl_json_int64(hl_json_get(doc.root, "version"), &v) == 0);
  HL_ASSERT_EQ_INT(v, want_version);
  hl_json_doc_dispose(&doc);
}

/* The partner's request number idx at /hook/name: its body must be want,
 * exactly, with a valid Standard Webhooks signature over those bytes. */
static void assert_received(const char *name, size_t n, uint32_t idx, const char *id, const char *secret,
                            const char *want) {
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, name, n, 10000, &doc), n);
  const hl_json *r = &doc.root->u.items[idx];
  HL_ASSERT_EQ_STR(str_at(r, "body"), want);
  HL_ASSERT_EQ_STR(str_at(r, "webhook_id"), id);
  char sig[128];
  HL_ASSERT(hl_testsig_sign(secret, id, str_at(r, "webhook_timestamp"), want, strlen(want), sig, sizeof sig) == 0);
  HL_ASSERT_EQ_STR(str_at(r, "webhook_signature"), sig);
  hl_json_doc_dispose(&doc);
}

/* The status API's "transformations" of event id's delivery, as
 * "<id>@<version>,..." ("" when it has none), into out. */
static void used_of(const char *id, char *out, size_t cap) {
  char u[256];
  snprintf(u, sizeof u, "%s/admin/deliveries?event_id=%s", hk.base, id);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_call("GET", u, NULL, &doc), 200);
  const hl_json *d = &hl_json_get(doc.root, "deliveries")->u.items[0];
  const hl_json *t = hl_json_get(d, "transformations");
  out[0] = '\0';
  for (uint32_t i = 0; t && i < t->len; i++) {
    int64_t v = 0;
    hl_json_int64(hl_json_get(&t->u.items[i], "version"), &v);
    size_t l = strlen(out);
    snprintf(out + l, cap - l, "%s%s@%lld", i ? "," : "", str_at(&t->u.items[i], "transformation_id"), (long long)v);
  }
  hl_json_doc_dispose(&doc);
}

/* hookloop and the mock partner, with the Payment schema and acme's
 * subscription to the partner's /hook/<hook>; returns the subscription id
 * (the caller frees it) and copies its secret into secret (may be NULL). */
static char *start_with_sub(const char *hook, char *secret, size_t secret_len) {
  e2e_start_both(&hk, &partner, NULL, NULL);
  char url[256];
  snprintf(url, sizeof url, "%s/hook/%s", partner.base, hook);
  return e2e_setup(&hk, "acme", url, NULL, secret, secret_len);
}

#define TYPE_SPEC                                                                                         \
  "{\"version\":1,\"ops\":[{\"op\":\"template\",\"template\":{\"id\":{\"$ptr\":\"/eventHeader/uuid\"},"     \
  "\"amount\":{\"$ptr\":\"/amount\"},\"currency\":{\"$ptr\":\"/currency\"},\"kind\":\"payment\"}}]}"

HL_TEST_T(the_partner_gets_the_transformed_bytes_signed, 120) {
  char secret[128];
  char *sub = start_with_sub("shaped", secret, sizeof secret);
  register_xform("\"event_type\":\"Payment\"", TYPE_SPEC, 1);
  /* 123.4500 keeps its spelling through the template. */
  HL_ASSERT_EQ_INT(e2e_post_event(&hk, "evt-x-1", "123.4500"), 202);
  assert_received("shaped", 1, 0, "evt-x-1", secret,
                  "{\"id\":\"evt-x-1\",\"amount\":123.4500,\"currency\":\"EUR\",\"kind\":\"payment\"}");
  HL_ASSERT(e2e_wait_status(&hk, "evt-x-1", "SUCCESS", 5000));
  char used[256];
  used_of("evt-x-1", used, sizeof used);
  HL_ASSERT_EQ_STR(used, "event_type:Payment@1");

  /* The subscription's own comes after the event type's; constants of the
   * spec keep their source text too (2.50). */
  char target[128];
  snprintf(target, sizeof target, "\"subscription_id\":\"%s\"", sub);
  register_xform(target, "{\"version\":1,\"ops\":[{\"op\":\"wrap\",\"path\":\"/data\"},"
                         "{\"op\":\"set\",\"path\":\"/v\",\"value\":2.50}]}", 1);
  HL_ASSERT_EQ_INT(e2e_post_event(&hk, "evt-x-2", "7.10"), 202);
  assert_received("shaped", 2, 1, "evt-x-2", secret,
                  "{\"data\":{\"id\":\"evt-x-2\",\"amount\":7.10,\"currency\":\"EUR\",\"kind\":\"payment\"},\"v\":2.50}");
  HL_ASSERT(e2e_wait_status(&hk, "evt-x-2", "SUCCESS", 5000));
  used_of("evt-x-2", used, sizeof used);
  char want[256];
  snprintf(want, sizeof want, "event_type:Payment@1,subscription:%s@1", sub);
  HL_ASSERT_EQ_STR(used, want);

  /* A new version replaces the old one for what is sent from now on. */
  register_xform("\"event_type\":\"Payment\"",
                 "{\"version\":1,\"ops\":[{\"op\":\"pick\",\"paths\":[\"/amount\"]}]}", 2);
  HL_ASSERT_EQ_INT(e2e_post_event(&hk, "evt-x-3", "1e2"), 202);
  assert_received("shaped", 3, 2, "evt-x-3", secret, "{\"data\":{\"amount\":1e2},\"v\":2.50}");
  HL_ASSERT(e2e_wait_status(&hk, "evt-x-3", "SUCCESS", 5000));
  used_of("evt-x-3", used, sizeof used);
  snprintf(want, sizeof want, "event_type:Payment@2,subscription:%s@1", sub);
  HL_ASSERT_EQ_STR(used, want);

  /* The list and the one resource show what is registered. */
  char u[256];
  hl_json_doc doc;
  snprintf(u, sizeof u, "%s/admin/transformations/event_type:Payment", hk.base);
  HL_ASSERT_EQ_INT(e2e_call("GET", u, NULL, &doc), 200);
  int64_t v = 0;
  HL_ASSERT(hl_json_int64(hl_json_get(doc.root, "version"), &v) == 0 && v == 2);
  HL_ASSERT(hl_json_get(hl_json_get(doc.root, "spec"), "ops") != NULL);
  hl_json_doc_dispose(&doc);
  snprintf(u, sizeof u, "%s/admin/transformations", hk.base);
  HL_ASSERT_EQ_INT(e2e_call("GET", u, NULL, &doc), 200);
  HL_ASSERT_EQ_INT(hl_json_get(doc.root, "transformations")->len, 2);
  hl_json_doc_dispose(&doc);
  free(sub);
  e2e_stop_both(&hk, &partner);
}

HL_TEST_T(a_bad_spec_is_refused_with_the_pointer_of_its_operation, 60) {
  free(start_with_sub("bad", NULL, 0));
  hl_json_doc doc;
  /* "form" for "from" in the second operation. */
  long code = post_xform("\"event_type\":\"Payment\"",
                         "{\"version\":1,\"ops\":[{\"op\":\"set\",\"path\":\"/a\",\"value\":1},"
                         "{\"op\":\"copy\",\"form\":\"/a\",\"path\":\"/b\"}]}", &doc);
  HL_ASSERT_EQ_INT(code, 400);
  const hl_json *d = hl_json_get(doc.root, "details");
  HL_ASSERT(d && d->len == 1);
  const char *path = str_at(&d->u.items[0], "path");
  HL_ASSERT_MSG(path && strncmp(path, "/spec/ops/1", 11) == 0, "path %s", path ? path : "(none)");
  hl_json_doc_dispose(&doc);
  /* Neither target, both targets, an unknown subscription. */
  HL_ASSERT_EQ_INT(post_xform("\"x\":1", "{\"version\":1,\"ops\":[]}", NULL), 400);
  HL_ASSERT_EQ_INT(post_xform("\"event_type\":\"Payment\",\"subscription_id\":\"s\"", "{\"version\":1,\"ops\":[]}",
                              NULL), 400);
  HL_ASSERT_EQ_INT(post_xform("\"subscription_id\":\"sub_nope\"", "{\"version\":1,\"ops\":[]}", &doc), 400);
  HL_ASSERT_EQ_STR(str_at(&hl_json_get(doc.root, "details")->u.items[0], "path"), "/subscription_id");
  hl_json_doc_dispose(&doc);
  /* Removing what was never registered. */
  HL_ASSERT_EQ_INT(post_xform("\"event_type\":\"Payment\"", "null", NULL), 404);
  /* Nothing was registered by any of these. */
  char u[256];
  snprintf(u, sizeof u, "%s/admin/transformations", hk.base);
  HL_ASSERT_EQ_INT(e2e_call("GET", u, NULL, &doc), 200);
  HL_ASSERT_EQ_INT(hl_json_get(doc.root, "transformations")->len, 0);
  hl_json_doc_dispose(&doc);
  e2e_stop_both(&hk, &partner);
}

HL_TEST_T(an_event_the_spec_does_not_fit_fails_without_an_attempt, 60) {
  free(start_with_sub("unfit", NULL, 0));
  register_xform("\"event_type\":\"Payment\"",
                 "{\"version\":1,\"ops\":[{\"op\":\"copy\",\"from\":\"/nope\",\"path\":\"/x\"}]}", 1);
  HL_ASSERT_EQ_INT(e2e_post_event(&hk, "evt-unfit-1", "1"), 202);
  HL_ASSERT(e2e_wait_status(&hk, "evt-unfit-1", "FAILED", 10000));
  char err[512];
  int64_t attempts = -1;
  e2e_delivery_error(&hk, "evt-unfit-1", err, sizeof err, &attempts);
  HL_ASSERT_MSG(strstr(err, "event_type:Payment@1/ops/0/from"), "last_error %s", err);
  HL_ASSERT_EQ_INT(attempts, 0);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "unfit", 0, 0, &doc), 0);
  hl_json_doc_dispose(&doc);
  e2e_stop_both(&hk, &partner);
}

HL_TEST_T(transformations_survive_a_restart_and_can_be_removed, 120) {
  char secret[128];
  free(start_with_sub("kept", secret, sizeof secret));
  register_xform("\"event_type\":\"Payment\"", TYPE_SPEC, 1);
  HL_ASSERT_EQ_INT(e2e_stop_hookloop(&hk, SIGTERM, 10000), 0);
  e2e_start_hookloop(&hk, NULL);
  HL_ASSERT_EQ_INT(e2e_post_event(&hk, "evt-k-1", "0.10"), 202);
  assert_received("kept", 1, 0, "evt-k-1", secret,
                  "{\"id\":\"evt-k-1\",\"amount\":0.10,\"currency\":\"EUR\",\"kind\":\"payment\"}");
  HL_ASSERT(e2e_wait_status(&hk, "evt-k-1", "SUCCESS", 5000));
  /* Removed: version 2 has no spec, and partners get the accepted bytes. */
  register_xform("\"event_type\":\"Payment\"", "null", 2);
  HL_ASSERT_EQ_INT(e2e_post_event(&hk, "evt-k-2", "0.20"), 202);
  char ev[512];
  e2e_event_json(ev, sizeof ev, "evt-k-2", "0.20");
  assert_received("kept", 2, 1, "evt-k-2", secret, ev);
  HL_ASSERT(e2e_wait_status(&hk, "evt-k-2", "SUCCESS", 5000));
  char used[128];
  used_of("evt-k-2", used, sizeof used);
  HL_ASSERT_EQ_STR(used, "");
  e2e_stop_both(&hk, &partner);
}

/* A Payment event of about bytes bytes: its "items" make it large. */
static void large_event(hl_buf *out, const char *id, size_t bytes) {
  hl_buf_printf(out, "{\"eventHeader\":{\"uuid\":\"%s\",\"eventType\":\"Payment\"},\"amount\":1.50,\"currency\":\"EUR\","
                     "\"items\":[", id);
  for (int i = 0; out->len < bytes; i++) hl_buf_printf(out, "%s{\"a\":%d,\"b\":[1,2,3],\"c\":\"x\"}", i ? "," : "", i);
  hl_buf_puts(out, "]}");
}

/* A large event is transformed on the threadpool, as it was parsed at
 * ingest; a small one on the loop. The partner gets the same bytes either
 * way: the event with the member set, signed over them. */
HL_TEST_T(a_large_events_transformation_runs_on_the_threadpool_with_the_same_bytes, 120) {
  char secret[128];
  free(start_with_sub("large", secret, sizeof secret));
  register_xform("\"event_type\":\"Payment\"",
                 "{\"version\":1,\"ops\":[{\"op\":\"set\",\"path\":\"/shaped\",\"value\":true}]}", 1);
  const char *loop_n = "hookloop_delivery_shapings_total{where=\"loop\"}";
  const char *pool_n = "hookloop_delivery_shapings_total{where=\"threadpool\"}";

  HL_ASSERT_EQ_INT(e2e_post_event(&hk, "evt-small-1", "2.00"), 202);
  char ev[512], want_small[600];
  int n = e2e_event_json(ev, sizeof ev, "evt-small-1", "2.00");
  snprintf(want_small, sizeof want_small, "%.*s,\"shaped\":true}", n - 1, ev);
  assert_received("large", 1, 0, "evt-small-1", secret, want_small);
  HL_ASSERT(e2e_wait_status(&hk, "evt-small-1", "SUCCESS", 5000));
  HL_ASSERT_EQ_INT(e2e_metric(&hk, loop_n), 1);
  HL_ASSERT_EQ_INT(e2e_metric(&hk, pool_n), 0);

  hl_buf big = HL_BUF_INIT;
  large_event(&big, "evt-large-1", 250000); /* over 64 KiB, within a DynamoDB item */
  char u[256];
  snprintf(u, sizeof u, "%s/api/v1/events", hk.base);
  HL_ASSERT_EQ_INT(e2e_call("POST", u, big.data, NULL), 202);
  hl_buf want = HL_BUF_INIT;
  hl_buf_append(&want, big.data, big.len - 1);
  hl_buf_puts(&want, ",\"shaped\":true}");
  assert_received("large", 2, 1, "evt-large-1", secret, want.data);
  HL_ASSERT(e2e_wait_status(&hk, "evt-large-1", "SUCCESS", 5000));
  char used[128];
  used_of("evt-large-1", used, sizeof used);
  HL_ASSERT_EQ_STR(used, "event_type:Payment@1");
  HL_ASSERT_EQ_INT(e2e_metric(&hk, pool_n), 1);
  HL_ASSERT_EQ_INT(e2e_metric(&hk, loop_n), 1);

  /* One the spec does not fit fails there without an attempt, its error
   * naming the version and the operation, as on the loop. */
  register_xform("\"event_type\":\"Payment\"",
                 "{\"version\":1,\"ops\":[{\"op\":\"copy\",\"from\":\"/nope\",\"path\":\"/x\"}]}", 2);
  hl_buf_reset(&big);
  large_event(&big, "evt-large-2", 250000);
  HL_ASSERT_EQ_INT(e2e_call("POST", u, big.data, NULL), 202);
  HL_ASSERT(e2e_wait_status(&hk, "evt-large-2", "FAILED", 10000));
  char err[512];
  int64_t attempts = -1;
  e2e_delivery_error(&hk, "evt-large-2", err, sizeof err, &attempts);
  HL_ASSERT_MSG(strstr(err, "transformation event_type:Payment@2/ops/0/from:"), "last_error %s", err);
  HL_ASSERT_EQ_INT(attempts, 0);
  HL_ASSERT_EQ_INT(e2e_metric(&hk, pool_n), 2);
  hl_buf_dispose(&want);
  hl_buf_dispose(&big);
  e2e_stop_both(&hk, &partner);
}
