/* test_raw_events — provider payloads without hookloop's envelope, posted to
 * POST /api/v1/events/{event_type}, against the real binary and the mock
 * partner: the id from the schema's x-id-pointer or the Idempotency-Key /
 * webhook-id header, never made up; the exact bytes delivered. */
#include "hl_test.h"
#include "hl_testutil.h"
#include "e2e_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static e2e_hookloop h;
static e2e_partner p;

static void post_json(const char *path, const char *body, long want) {
  char u[256];
  snprintf(u, sizeof u, "%s%s", h.base, path);
  hl_json_doc doc;
  long code = e2e_call("POST", u, body, &doc);
  HL_ASSERT_MSG(code == want, "POST %s answered %ld, expected %ld", path, code, want);
  hl_json_doc_dispose(&doc);
}

/* POST a raw payload with one extra header ("Name: value" or NULL);
 * returns the status, err_path gets details[0].path of an error. */
static long post_raw(const char *type, const char *body, const char *header, char *err_path, size_t n) {
  char u[256];
  snprintf(u, sizeof u, "%s/api/v1/events/%s", h.base, type);
  const char *hdrs[] = {"Content-Type: application/json", header, NULL};
  char *resp = NULL;
  long code = hl_http("POST", u, body, strlen(body), hdrs, &resp);
  if (err_path) {
    err_path[0] = '\0';
    hl_json_doc doc;
    hl_json_doc_init(&doc);
    if (resp && hl_json_parse(&doc, resp, strlen(resp), NULL) == 0) {
      const hl_json *d = hl_json_get(doc.root, "details");
      const char *path = d && d->type == HL_JSON_ARRAY && d->len ? hl_json_str(hl_json_get(&d->u.items[0], "path")) : NULL;
      const char *error = hl_json_str(hl_json_get(doc.root, "error"));
      snprintf(err_path, n, "%s %s", error ? error : "", path ? path : "");
    }
    hl_json_doc_dispose(&doc);
  }
  free(resp);
  return code;
}

static void setup(void) {
  e2e_start_both(&h, &p, NULL, NULL);
  /* A payment provider's payload: its id at /transaction_id. */
  post_json("/admin/schemas",
            "{\"event_type\":\"payment.captured\",\"domain\":\"psp\",\"schema\":{\"type\":\"object\","
            "\"x-id-pointer\":\"/transaction_id\",\"required\":[\"amount\"],"
            "\"properties\":{\"amount\":{\"type\":\"number\"}}}}",
            201);
  /* One without a pointer: ids come from headers only. */
  post_json("/admin/schemas", "{\"event_type\":\"refund\",\"domain\":\"psp\",\"schema\":{\"type\":\"object\"}}", 201);
  char body[512];
  snprintf(body, sizeof body, "{\"partner_id\":\"ledger\",\"event_type\":\"payment.captured\",\"url\":\"%s/hook/pay\"}",
           p.base);
  post_json("/admin/subscriptions", body, 201);
  snprintf(body, sizeof body, "{\"partner_id\":\"ledger\",\"event_type\":\"refund\",\"url\":\"%s/hook/refund\"}",
           p.base);
  post_json("/admin/subscriptions", body, 201);
}

HL_TEST(raw_payloads_take_their_id_from_the_pointer_or_a_header) {
  setup();
  const char *pay = "{\"transaction_id\":\"tx-1001\",\"amount\":100.10,\"currency\":\"EUR\"}";
  HL_ASSERT_EQ_INT(post_raw("payment.captured", pay, NULL, NULL, 0), 202);
  HL_ASSERT_EQ_INT(post_raw("payment.captured", pay, NULL, NULL, 0), 200); /* the same id: a duplicate */
  /* A number id is its text; the pointer wins over a header. */
  HL_ASSERT_EQ_INT(post_raw("payment.captured", "{\"transaction_id\":4242,\"amount\":1}", "Idempotency-Key: other",
                            NULL, 0), 202);
  /* The refund type declares no pointer: Idempotency-Key, else webhook-id. */
  HL_ASSERT_EQ_INT(post_raw("refund", "{\"amount\":5}", "Idempotency-Key: rf-1", NULL, 0), 202);
  HL_ASSERT_EQ_INT(post_raw("refund", "{\"amount\":6}", "webhook-id: rf-2", NULL, 0), 202);
  HL_ASSERT_EQ_INT(post_raw("refund", "{\"amount\":5}", "Idempotency-Key: rf-1", NULL, 0), 200);
  /* The key is bound to its body, as on POST /api/v1/events: another body is a 409. */
  HL_ASSERT_EQ_INT(post_raw("refund", "{\"amount\":7}", "Idempotency-Key: rf-1", NULL, 0), 409);

  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&p, "pay", 2, 10000, &doc), 2);
  bool saw_tx = false, saw_num = false;
  for (uint32_t i = 0; i < doc.root->len; i++) {
    const hl_json *r = &doc.root->u.items[i];
    const char *id = hl_json_str(hl_json_get(r, "webhook_id"));
    HL_ASSERT(id != NULL);
    if (strcmp(id, "tx-1001") == 0) {
      saw_tx = true;
      HL_ASSERT_EQ_STR(hl_json_str(hl_json_get(r, "body")), pay); /* the exact bytes: 100.10 stays 100.10 */
    }
    saw_num |= strcmp(id, "4242") == 0;
  }
  HL_ASSERT(saw_tx && saw_num);
  hl_json_doc_dispose(&doc);
  HL_ASSERT_EQ_INT(e2e_wait_requests(&p, "refund", 2, 10000, &doc), 2);
  hl_json_doc_dispose(&doc);
  e2e_stop_both(&h, &p);
}

HL_TEST(a_raw_payload_without_an_id_is_refused_never_given_one) {
  setup();
  char err[256];
  /* The pointer finds nothing and no header names one. */
  HL_ASSERT_EQ_INT(post_raw("payment.captured", "{\"amount\":1}", NULL, err, sizeof err), 400);
  HL_ASSERT_EQ_STR(err, "missing_event_id /transaction_id");
  HL_ASSERT_EQ_INT(post_raw("refund", "{\"amount\":1}", NULL, err, sizeof err), 400);
  HL_ASSERT_EQ_STR(err, "missing_event_id ");
  /* A webhook-id header that is no event id (a space; over 200 characters,
   * or 256, which the API once dropped unread) is refused at the header,
   * not reported as never sent. */
  HL_ASSERT_EQ_INT(post_raw("refund", "{\"amount\":1}", "webhook-id: has space", err, sizeof err), 400);
  HL_ASSERT_EQ_STR(err, "invalid_event webhook-id");
  char longid[320];
  for (int n = 201; n <= 300; n += 99) {
    snprintf(longid, sizeof longid, "webhook-id: %0*d", n, 7);
    HL_ASSERT_EQ_INT(post_raw("refund", "{\"amount\":1}", longid, err, sizeof err), 400);
    HL_ASSERT_EQ_STR(err, "invalid_event webhook-id");
  }
  /* An id of the wrong kind at the pointer. */
  HL_ASSERT_EQ_INT(post_raw("payment.captured", "{\"transaction_id\":{\"a\":1},\"amount\":1}", NULL, err, sizeof err),
                   400);
  HL_ASSERT_EQ_STR(err, "invalid_event /transaction_id");
  /* Schema validation as usual, paths from the payload's root. */
  HL_ASSERT_EQ_INT(post_raw("payment.captured", "{\"transaction_id\":\"tx-9\",\"amount\":\"ten\"}", NULL, err,
                            sizeof err), 400);
  HL_ASSERT_EQ_STR(err, "schema_violation /amount");
  HL_ASSERT_EQ_INT(post_raw("nothing", "{\"a\":1}", "Idempotency-Key: n-1", err, sizeof err), 404);
  /* bulk and health are not event types. */
  post_json("/admin/schemas", "{\"event_type\":\"bulk\",\"domain\":\"psp\",\"schema\":{}}", 400);
  post_json("/admin/schemas", "{\"event_type\":\"health\",\"domain\":\"psp\",\"schema\":{}}", 400);
  post_json("/admin/schemas",
            "{\"event_type\":\"x\",\"domain\":\"psp\",\"schema\":{\"x-id-pointer\":\"transaction_id\"}}", 400);
  /* Nothing refused was delivered. */
  hl_sleep_ms(300);
  HL_ASSERT_EQ_INT(e2e_partner_stat(&p, "requests"), 0);
  e2e_stop_both(&h, &p);
}

/* A schema with "x-format-assertion": true checks its formats at ingest:
 * a payload with a bad e-mail address or date is refused with the
 * field's pointer; one with good ones is accepted and delivered. A schema
 * that asks for a format hookloop does not check is refused when
 * registered. */
HL_TEST(a_schema_that_asserts_formats_refuses_bad_values_at_ingest) {
  setup();
  post_json("/admin/schemas",
            "{\"event_type\":\"signup\",\"domain\":\"crm\",\"schema\":{\"type\":\"object\",\"x-format-assertion\":true,"
            "\"x-id-pointer\":\"/id\",\"properties\":{\"email\":{\"format\":\"email\"},"
            "\"born\":{\"format\":\"date\"}}}}",
            201);
  post_json("/admin/schemas",
            "{\"event_type\":\"visit\",\"domain\":\"crm\",\"schema\":{\"x-format-assertion\":true,"
            "\"properties\":{\"pattern\":{\"format\":\"regex\"}}}}",
            400);
  char body[512];
  snprintf(body, sizeof body, "{\"partner_id\":\"crm\",\"event_type\":\"signup\",\"url\":\"%s/hook/signup\"}", p.base);
  post_json("/admin/subscriptions", body, 201);
  char err[256];
  HL_ASSERT_EQ_INT(post_raw("signup", "{\"id\":\"s-1\",\"email\":\"ann..lee@example.com\"}", NULL, err, sizeof err),
                   400);
  HL_ASSERT_EQ_STR(err, "schema_violation /email");
  HL_ASSERT_EQ_INT(post_raw("signup", "{\"id\":\"s-2\",\"born\":\"1990-02-30\"}", NULL, err, sizeof err), 400);
  HL_ASSERT_EQ_STR(err, "schema_violation /born");
  const char *good = "{\"id\":\"s-3\",\"email\":\"ann.lee@example.com\",\"born\":\"1992-02-29\"}";
  HL_ASSERT_EQ_INT(post_raw("signup", good, NULL, err, sizeof err), 202);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&p, "signup", 1, 10000, &doc), 1);
  HL_ASSERT_EQ_STR(hl_json_str(hl_json_get(&doc.root->u.items[0], "body")), good);
  hl_json_doc_dispose(&doc);
  e2e_stop_both(&h, &p);
}
