/* The DynamoDB wire layer against the project's wire examples
 * (tests/vectors/dynamodb/wire-examples.json): every
 * request body the store builds is compared as JSON with the example, every
 * error body is classified as the example says. */
#include "hl_test.h"
#include "hl_testutil.h"
#include "common/hl_common.h"
#include "json/hl_json.h"
#include "aws/hl_aws_json.h"
#include "store/hl_ddb_client.h"
#include "store/hl_ddb_wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static hl_json_doc vec;
static char *vec_text;

static const hl_json *examples(void) {
  size_t len;
  vec_text = hl_read_file(hl_vector_path("dynamodb/wire-examples.json"), &len);
  HL_ASSERT(vec_text);
  hl_json_doc_init(&vec);
  HL_ASSERT(hl_json_parse(&vec, vec_text, len, NULL) == 0);
  return vec.root;
}

static const hl_json *example(const char *name) {
  const hl_json *ex = hl_json_get(vec.root, "examples");
  for (uint32_t i = 0; i < ex->len; i++)
    if (strcmp(hl_json_str(hl_json_get(&ex->u.items[i], "name")), name) == 0) return &ex->u.items[i];
  HL_ASSERT_MSG(0, "no example %s", name);
  return NULL;
}

/* Our body parses to the same JSON as the example's request, and the
 * operation's target matches. */
static void same_request(const char *name, hl_ddb_op op, hl_buf *body) {
  const hl_json *e = example(name);
  HL_ASSERT_EQ_STR(hl_ddb_target(op), hl_json_str(hl_json_get(e, "x_amz_target")));
  hl_json_doc d;
  hl_json_doc_init(&d);
  hl_json_error err;
  HL_ASSERT_MSG(hl_json_parse(&d, body->data, body->len, &err) == 0, "%s: %s in %s", name, err.message, body->data);
  hl_buf want = HL_BUF_INIT;
  hl_jw w;
  hl_jw_init(&w, &want);
  hl_jw_value(&w, hl_json_get(e, "request"));
  HL_ASSERT_MSG(hl_json_equal(d.root, hl_json_get(e, "request")), "%s:\n got  %s\n want %s", name, body->data,
                want.data);
  hl_buf_dispose(&want);
  hl_json_doc_dispose(&d);
  hl_buf_reset(body);
}

/* The example's response as wire text. */
static void response_text(const hl_json *e, hl_buf *out) {
  hl_jw w;
  hl_jw_init(&w, out);
  hl_jw_value(&w, hl_json_get(e, "response"));
}

HL_TEST(request_bodies_match_the_examples) {
  examples();
  hl_buf b = HL_BUF_INIT;
  hl_ddb_attr idem[] = {
      {"pk", hl_ddb_s("idem#acme#evt-0001")}, {"status", hl_ddb_s("DELIVERED")}, {"expires_at", hl_ddb_n("1767225600")}};
  hl_ddb_expr create = {.condition = "attribute_not_exists(pk)"};
  HL_ASSERT_EQ_INT(hl_ddb_put_item(&b, "hookloop_idempotency", HL_DDB_ITEM(idem), &create), 0);
  same_request("PutItem conditional create: new key", HL_DDB_PUT_ITEM, &b);
  HL_ASSERT_EQ_INT(hl_ddb_put_item(&b, "hookloop_idempotency", HL_DDB_ITEM(idem), &create), 0);
  same_request("PutItem conditional create: key exists", HL_DDB_PUT_ITEM, &b);
  create.return_old_on_condition_fail = true;
  HL_ASSERT_EQ_INT(hl_ddb_put_item(&b, "hookloop_idempotency", HL_DDB_ITEM(idem), &create), 0);
  same_request("PutItem conditional create: key exists, ALL_OLD", HL_DDB_PUT_ITEM, &b);

  hl_ddb_attr dkey[] = {{"pk", hl_ddb_s("dlv#evt-0001#acme")}};
  hl_ddb_name names[] = {{"#st", "status"}};
  hl_ddb_attr vals[] = {{":st", hl_ddb_s("RETRYING")}, {":zero", hl_ddb_n("0")}, {":one", hl_ddb_n("1")}};
  hl_ddb_expr upd = {.update = "SET #st = :st, attempts = if_not_exists(attempts, :zero) + :one",
                     .condition = "attribute_exists(pk)",
                     .names = names,
                     .n_names = 1,
                     .values = vals,
                     .n_values = 3,
                     .return_values = "ALL_NEW"};
  HL_ASSERT_EQ_INT(hl_ddb_update_item(&b, "hookloop_delivery_status", HL_DDB_ITEM(dkey), &upd), 0);
  same_request("UpdateItem with condition and counter", HL_DDB_UPDATE_ITEM, &b);

  hl_ddb_attr skey[] = {{"pk", hl_ddb_s("schema#PaymentProcessed#1")}};
  HL_ASSERT_EQ_INT(hl_ddb_get_item(&b, "hookloop_schemas", HL_DDB_ITEM(skey), true), 0);
  same_request("GetItem found", HL_DDB_GET_ITEM, &b);
  { /* The comparison does notice a difference (ConsistentRead missing). */
    HL_ASSERT_EQ_INT(hl_ddb_get_item(&b, "hookloop_schemas", HL_DDB_ITEM(skey), false), 0);
    hl_json_doc d;
    hl_json_doc_init(&d);
    HL_ASSERT(hl_json_parse(&d, b.data, b.len, NULL) == 0);
    HL_ASSERT(!hl_json_equal(d.root, hl_json_get(example("GetItem found"), "request")));
    hl_json_doc_dispose(&d);
    hl_buf_reset(&b);
  }
  hl_ddb_attr mkey[] = {{"pk", hl_ddb_s("schema#Missing#1")}};
  HL_ASSERT_EQ_INT(hl_ddb_get_item(&b, "hookloop_schemas", HL_DDB_ITEM(mkey), false), 0);
  same_request("GetItem not found", HL_DDB_GET_ITEM, &b);

  hl_ddb_attr qv[] = {{":p", hl_ddb_s("sub#PaymentProcessed")}};
  hl_ddb_query_args q = {.key_condition = "pk = :p", .values = qv, .n_values = 1, .limit = 2};
  HL_ASSERT_EQ_INT(hl_ddb_query(&b, "hookloop_subscriptions", &q), 0);
  same_request("Query page 1", HL_DDB_QUERY, &b);
  /* Page 2 starts at page 1's LastEvaluatedKey, passed through as parsed. */
  q.start_key = hl_json_get(hl_json_get(example("Query page 1"), "response"), "LastEvaluatedKey");
  HL_ASSERT(q.start_key);
  HL_ASSERT_EQ_INT(hl_ddb_query(&b, "hookloop_subscriptions", &q), 0);
  same_request("Query page 2 (last)", HL_DDB_QUERY, &b);
  HL_ASSERT(!hl_json_get(hl_json_get(example("Query page 2 (last)"), "response"), "LastEvaluatedKey"));

  hl_ddb_attr i1[] = {{"pk", hl_ddb_s("dlv#evt-0001#acme")}, {"status", hl_ddb_s("DELIVERED")}};
  hl_ddb_attr i2[] = {{"pk", hl_ddb_s("dlv#evt-0002#acme")}, {"status", hl_ddb_s("DELIVERED")}};
  hl_ddb_attr i3[] = {{"pk", hl_ddb_s("dlv#evt-0003#acme")}, {"status", hl_ddb_s("DELIVERED")}};
  hl_ddb_attr k9[] = {{"pk", hl_ddb_s("dlv#evt-0009#acme")}};
  hl_ddb_write_req reqs[] = {
      {false, HL_DDB_ITEM(i1)}, {false, HL_DDB_ITEM(i2)}, {false, HL_DDB_ITEM(i3)}, {true, HL_DDB_ITEM(k9)}};
  HL_ASSERT_EQ_INT(hl_ddb_batch_write(&b, "hookloop_delivery_status", reqs, 4), 0);
  same_request("BatchWriteItem partly processed", HL_DDB_BATCH_WRITE_ITEM, &b);
  HL_ASSERT_EQ_INT(hl_ddb_batch_write(&b, "hookloop_delivery_status", reqs, 4), 0);
  same_request("BatchWriteItem all processed", HL_DDB_BATCH_WRITE_ITEM, &b);

  HL_ASSERT_EQ_INT(hl_ddb_create_table(&b, "hookloop_idempotency", (hl_ddb_key_def){"pk", 'S'},
                                       (hl_ddb_key_def){NULL, 0}, NULL, 0),
                   0);
  same_request("CreateTable on-demand", HL_DDB_CREATE_TABLE, &b);
  HL_ASSERT_EQ_INT(hl_ddb_update_ttl(&b, "hookloop_idempotency", "expires_at", true), 0);
  same_request("UpdateTimeToLive", HL_DDB_UPDATE_TIME_TO_LIVE, &b);
  hl_buf_dispose(&b);
  hl_json_doc_dispose(&vec);
  free(vec_text);
}

/* A Scan that reads one attribute (retention's look at which subscriptions
 * exist, store/hl_ddb_sweep.h): consistent, projected, paged on; the plain
 * Scan has no projection. */
HL_TEST(a_projected_scan_names_its_attributes) {
  hl_buf b = HL_BUF_INIT;
  hl_json_doc start, d;
  hl_json_doc_init(&start);
  hl_json_doc_init(&d);
  const char *key = "{\"partner_id\":{\"S\":\"acme\"},\"event_type\":{\"S\":\"PaymentProcessed\"}}";
  HL_ASSERT(hl_json_parse(&start, key, strlen(key), NULL) == 0);
  HL_ASSERT_EQ_INT(hl_ddb_scan_projected(&b, "partner_event_subscription", true, 50, start.root, "subscription_id"), 0);
  HL_ASSERT(hl_json_parse(&d, b.data, b.len, NULL) == 0);
  HL_ASSERT_EQ_STR(hl_json_str(hl_json_get(d.root, "TableName")), "partner_event_subscription");
  HL_ASSERT_EQ_STR(hl_json_str(hl_json_get(d.root, "ProjectionExpression")), "subscription_id");
  HL_ASSERT(hl_json_get(d.root, "ConsistentRead") && hl_json_get(d.root, "ConsistentRead")->type == HL_JSON_TRUE);
  HL_ASSERT(hl_json_equal(hl_json_get(d.root, "ExclusiveStartKey"), start.root));
  hl_json_doc_dispose(&d);
  hl_buf_reset(&b);
  hl_json_doc_init(&d);
  HL_ASSERT_EQ_INT(hl_ddb_scan(&b, "partner_event_subscription", true, 0, NULL), 0);
  HL_ASSERT(hl_json_parse(&d, b.data, b.len, NULL) == 0);
  HL_ASSERT(hl_json_get(d.root, "ProjectionExpression") == NULL);
  HL_ASSERT_EQ_INT(hl_ddb_scan_projected(&b, "", true, 0, NULL, "subscription_id"), HL_EINVAL);
  hl_json_doc_dispose(&d);
  hl_json_doc_dispose(&start);
  hl_buf_dispose(&b);
}

HL_TEST(responses_of_the_examples) {
  examples();
  hl_buf t = HL_BUF_INIT;
  hl_aws_status st;
  /* Conditional puts: success, then a condition failure as a normal outcome. */
  const hl_json *e = example("PutItem conditional create: new key");
  response_text(e, &t);
  HL_ASSERT_EQ_INT(hl_aws_classify(200, t.data, t.len, &st), HL_AWS_OK);
  hl_buf_reset(&t);
  e = example("PutItem conditional create: key exists");
  response_text(e, &t);
  HL_ASSERT_EQ_INT(hl_aws_classify(400, t.data, t.len, &st), HL_AWS_CONDITION_FAILED);
  HL_ASSERT(!st.retryable);
  HL_ASSERT_EQ_STR(st.code, "ConditionalCheckFailedException");
  HL_ASSERT_EQ_STR(st.message, "The conditional request failed");
  hl_buf_reset(&t);
  e = example("PutItem conditional create: key exists, ALL_OLD");
  HL_ASSERT_EQ_STR(hl_ddb_item_s(hl_json_get(hl_json_get(e, "response"), "Item"), "status", NULL), "DELIVERED");

  /* Typed reads; numbers stay exact text. */
  const hl_json *item = hl_json_get(hl_json_get(example("GetItem found"), "response"), "Item");
  size_t len;
  const char *n = hl_ddb_item_n(item, "amount_limit", &len);
  HL_ASSERT(n && len == 30 && memcmp(n, "12345678901234567890.123456789", 30) == 0);
  bool active = false;
  HL_ASSERT(hl_ddb_item_bool(item, "active", &active) && active);
  int64_t i64;
  HL_ASSERT_EQ_INT(hl_ddb_item_i64(item, "amount_limit", &i64), HL_EINVAL); /* a fraction */
  HL_ASSERT_EQ_INT(hl_ddb_item_i64(item, "missing", &i64), HL_ENOTFOUND);
  HL_ASSERT(hl_ddb_item_s(item, "amount_limit", NULL) == NULL); /* N, not S */
  HL_ASSERT(!hl_json_get(hl_json_get(example("GetItem not found"), "response"), "Item"));
  const hl_json *attrs =
      hl_json_get(hl_json_get(example("UpdateItem with condition and counter"), "response"), "Attributes");
  HL_ASSERT_EQ_INT(hl_ddb_item_i64(attrs, "attempts", &i64), 0);
  HL_ASSERT_EQ_INT((int)i64, 2);

  /* BatchWriteItem: re-send exactly UnprocessedItems. */
  e = example("BatchWriteItem partly processed");
  HL_ASSERT_EQ_INT(hl_ddb_batch_write_resend(&t, hl_json_get(e, "response")), 1);
  hl_json_doc d;
  hl_json_doc_init(&d);
  HL_ASSERT(hl_json_parse(&d, t.data, t.len, NULL) == 0);
  HL_ASSERT(hl_json_equal(hl_json_get(d.root, "RequestItems"), hl_json_get(hl_json_get(e, "response"), "UnprocessedItems")));
  hl_json_doc_dispose(&d);
  hl_buf_reset(&t);
  e = example("BatchWriteItem all processed");
  HL_ASSERT_EQ_INT(hl_ddb_batch_write_resend(&t, hl_json_get(e, "response")), 0);
  HL_ASSERT_EQ_INT((int)t.len, 0);

  /* TransactWriteItems is not used by the store; its cancellation is a
   * plain non-retryable error here. */
  e = example("TransactWriteItems cancelled by a condition");
  response_text(e, &t);
  HL_ASSERT_EQ_INT(hl_aws_classify(400, t.data, t.len, &st), HL_AWS_OTHER);
  HL_ASSERT(!st.retryable && st.message[0]);
  hl_buf_dispose(&t);
  hl_json_doc_dispose(&vec);
  free(vec_text);
}

HL_TEST(error_bodies_classified_as_the_examples) {
  const hl_json *errs = hl_json_get(examples(), "errors");
  HL_ASSERT(errs && errs->len >= 19);
  hl_buf t = HL_BUF_INIT;
  for (uint32_t i = 0; i < errs->len; i++) {
    const hl_json *e = &errs->u.items[i];
    int64_t status;
    HL_ASSERT(hl_json_int64(hl_json_get(e, "status"), &status) == 0);
    const hl_json *body = hl_json_get(e, "body");
    hl_buf_reset(&t);
    if (body->type == HL_JSON_STRING) hl_buf_append(&t, body->u.str, body->len);
    else {
      hl_jw w;
      hl_jw_init(&w, &t);
      hl_jw_value(&w, body);
    }
    hl_aws_status st;
    hl_aws_outcome o = hl_aws_classify((int)status, t.data, t.len, &st);
    bool want = hl_json_get(e, "retry")->type == HL_JSON_TRUE;
    const char *type = hl_json_str(hl_json_get(body, "__type"));
    HL_ASSERT_MSG(st.retryable == want, "%s: retryable %d", type, st.retryable);
    HL_ASSERT_EQ_STR(st.code, strchr(type, '#') + 1);
    HL_ASSERT(o != HL_AWS_OK && o != HL_AWS_CONDITION_FAILED);
    if (want) HL_ASSERT(o == HL_AWS_THROTTLED || o == HL_AWS_TRANSIENT);
    if (strstr(type, "ResourceInUse")) HL_ASSERT_EQ_INT(o, HL_AWS_IN_USE);
    if (strstr(type, "UnknownOperation")) HL_ASSERT_EQ_INT(o, HL_AWS_UNKNOWN_OP);
    if (strstr(type, "ExpiredToken")) HL_ASSERT_EQ_INT(o, HL_AWS_EXPIRED_TOKEN);
    if (strstr(type, "ResourceNotFound")) HL_ASSERT_EQ_INT(o, HL_AWS_NOT_FOUND);
    /* Messages come from either spelling of the member. */
    const char *m = hl_json_str(hl_json_get(body, "message"));
    if (!m) m = hl_json_str(hl_json_get(body, "Message"));
    if (m) HL_ASSERT(strncmp(st.message, m, sizeof st.message - 1) == 0);
  }
  /* Bodies that are not JSON: a 5xx from a proxy retries, a 4xx does not. */
  hl_aws_status st;
  HL_ASSERT_EQ_INT(hl_aws_classify(502, "<html>bad gateway</html>", 24, &st), HL_AWS_TRANSIENT);
  HL_ASSERT(st.retryable && st.code[0] == '\0');
  HL_ASSERT_EQ_INT(hl_aws_classify(403, "", 0, &st), HL_AWS_OTHER);
  HL_ASSERT(!st.retryable);
  HL_ASSERT_EQ_INT(hl_aws_classify(400, "{\"__type\":\"ThrottlingException\"}", 32, &st), HL_AWS_THROTTLED);
  HL_ASSERT(st.retryable);
  hl_buf_dispose(&t);
  hl_json_doc_dispose(&vec);
  free(vec_text);
}

HL_TEST(typed_values_and_validation) {
  HL_ASSERT(hl_ddb_number_valid("0", 1));
  HL_ASSERT(hl_ddb_number_valid("-12.50", 6));
  HL_ASSERT(hl_ddb_number_valid(".5", 2));
  HL_ASSERT(hl_ddb_number_valid("1e-130", 6));
  HL_ASSERT(hl_ddb_number_valid("12345678901234567890123456789012345678", 38));
  HL_ASSERT(hl_ddb_number_valid("0.00012345678901234567890123456789012345678", 43));
  HL_ASSERT(!hl_ddb_number_valid("123456789012345678901234567890123456789", 39));
  HL_ASSERT(!hl_ddb_number_valid("1.23456789012345678901234567890123456789", 40));
  /* Zeros around the significant digits do not count. */
  HL_ASSERT(hl_ddb_number_valid("100000000000000000000000000000000000000000", 42));
  HL_ASSERT(hl_ddb_number_valid("1.000000000000000000000000000000000000000000", 44));
  HL_ASSERT(hl_ddb_number_valid("-0.0", 4));
  HL_ASSERT(hl_ddb_number_valid("5.", 2));
  /* DynamoDB's magnitudes: 1E-130 to under 1E+126, either sign, or zero.
   * Beyond, the server refused the write: a 503 retried for ever. */
  static const char *in_range[] = {"9.9999999999999999999999999999999999999E+125", "-1E-130", "0.0001e-126",
                                   "123e123", "1000e-133", "0e999", "-0.000e-5000"};
  for (size_t i = 0; i < HL_ARRAY_SIZE(in_range); i++)
    HL_ASSERT_MSG(hl_ddb_number_valid(in_range[i], strlen(in_range[i])), "%s", in_range[i]);
  static const char *out_of_range[] = {"1E+126", "-1e126", "1e-131", "0.01e-129", "1234e123", "1e99999999999",
                                       "0.1e-130"};
  for (size_t i = 0; i < HL_ARRAY_SIZE(out_of_range); i++)
    HL_ASSERT_MSG(!hl_ddb_number_valid(out_of_range[i], strlen(out_of_range[i])), "%s", out_of_range[i]);
  static const char *bad[] = {"", "-", "+1", "1e", "1.2.3", "0x10", "NaN", "Infinity", " 1", "1 ", "."};
  for (size_t i = 0; i < HL_ARRAY_SIZE(bad); i++) HL_ASSERT_MSG(!hl_ddb_number_valid(bad[i], strlen(bad[i])), "%s", bad[i]);

  /* Every type, nested; numbers written exactly as given. */
  hl_ddb_val list[] = {hl_ddb_n("123.4500"), hl_ddb_null(), hl_ddb_bool(false)};
  hl_ddb_attr inner[] = {{"k", hl_ddb_s("v\"q")}, {"l", hl_ddb_l(list, 3)}};
  hl_ddb_attr item[] = {{"pk", hl_ddb_s("a")}, {"m", hl_ddb_m(inner, 2)}, {"big", hl_ddb_n("99999999999999999999.000000001")}};
  hl_buf b = HL_BUF_INIT;
  HL_ASSERT_EQ_INT(hl_ddb_put_item(&b, "t", HL_DDB_ITEM(item), NULL), 0);
  HL_ASSERT_EQ_STR(b.data, "{\"TableName\":\"t\",\"Item\":{\"pk\":{\"S\":\"a\"},\"m\":{\"M\":{\"k\":{\"S\":\"v\\\"q\"},"
                           "\"l\":{\"L\":[{\"N\":\"123.4500\"},{\"NULL\":true},{\"BOOL\":false}]}}},"
                           "\"big\":{\"N\":\"99999999999999999999.000000001\"}}}");
  /* A failed build appends nothing. */
  size_t before = b.len;
  hl_ddb_attr badn[] = {{"pk", hl_ddb_s("a")}, {"n", hl_ddb_n("1.0e")}};
  HL_ASSERT_EQ_INT(hl_ddb_put_item(&b, "t", HL_DDB_ITEM(badn), NULL), HL_EINVAL);
  HL_ASSERT_EQ_INT((int)b.len, (int)before);
  hl_ddb_attr key[] = {{"pk", hl_ddb_s("a")}};
  HL_ASSERT_EQ_INT(hl_ddb_update_item(&b, "t", HL_DDB_ITEM(key), NULL), HL_EINVAL);
  HL_ASSERT_EQ_INT(hl_ddb_get_item(&b, "", HL_DDB_ITEM(key), false), HL_EINVAL);
  hl_ddb_attr badv[] = {{"v", hl_ddb_s("x")}}; /* no ':' */
  hl_ddb_expr x = {.condition = "a = v", .values = badv, .n_values = 1};
  HL_ASSERT_EQ_INT(hl_ddb_delete_item(&b, "t", HL_DDB_ITEM(key), &x), HL_EINVAL);
  hl_ddb_write_req many[HL_DDB_BATCH_MAX + 1];
  for (size_t i = 0; i < HL_ARRAY_SIZE(many); i++) many[i] = (hl_ddb_write_req){false, HL_DDB_ITEM(key)};
  HL_ASSERT_EQ_INT(hl_ddb_batch_write(&b, "t", many, HL_DDB_BATCH_MAX + 1), HL_EINVAL);
  HL_ASSERT_EQ_INT(hl_ddb_batch_write(&b, "t", many, 0), HL_EINVAL);
  HL_ASSERT_EQ_INT((int)b.len, (int)before);
  HL_ASSERT_EQ_INT(hl_ddb_batch_write(&b, "t", many, HL_DDB_BATCH_MAX), 0);
  /* Conditional delete and a table with a sort key and an index. */
  hl_buf_reset(&b);
  hl_ddb_expr cond = {.condition = "attribute_exists(pk)"};
  HL_ASSERT_EQ_INT(hl_ddb_delete_item(&b, "t", HL_DDB_ITEM(key), &cond), 0);
  HL_ASSERT_EQ_STR(b.data, "{\"TableName\":\"t\",\"Key\":{\"pk\":{\"S\":\"a\"}},\"ConditionExpression\":\"attribute_exists(pk)\"}");
  hl_buf_reset(&b);
  hl_ddb_gsi gsi = {"by_subscription", {"subscription_id", 'S'}, {NULL, 0}};
  HL_ASSERT_EQ_INT(hl_ddb_create_table(&b, "event_schema", (hl_ddb_key_def){"schema_id", 'S'},
                                       (hl_ddb_key_def){"version", 'N'}, &gsi, 1),
                   0);
  HL_ASSERT_EQ_STR(b.data,
                   "{\"TableName\":\"event_schema\",\"AttributeDefinitions\":[{\"AttributeName\":\"schema_id\","
                   "\"AttributeType\":\"S\"},{\"AttributeName\":\"version\",\"AttributeType\":\"N\"},"
                   "{\"AttributeName\":\"subscription_id\",\"AttributeType\":\"S\"}],\"KeySchema\":[{\"AttributeName\":"
                   "\"schema_id\",\"KeyType\":\"HASH\"},{\"AttributeName\":\"version\",\"KeyType\":\"RANGE\"}],"
                   "\"BillingMode\":\"PAY_PER_REQUEST\",\"GlobalSecondaryIndexes\":[{\"IndexName\":\"by_subscription\","
                   "\"KeySchema\":[{\"AttributeName\":\"subscription_id\",\"KeyType\":\"HASH\"}],\"Projection\":"
                   "{\"ProjectionType\":\"ALL\"}}]}");
  hl_buf_reset(&b);
  HL_ASSERT_EQ_INT(hl_ddb_create_table(&b, "t", (hl_ddb_key_def){"pk", 'X'}, (hl_ddb_key_def){NULL, 0}, NULL, 0),
                   HL_EINVAL);
  char nb[24];
  HL_ASSERT_EQ_STR(hl_ddb_i64(nb, INT64_MIN), "-9223372036854775808");
  /* Reading an int64 back at the edges. */
  const char *doc_text = "{\"a\":{\"N\":\"-9223372036854775808\"},\"b\":{\"N\":\"9223372036854775808\"},\"c\":{\"N\":\"1e3\"}}";
  hl_json_doc d;
  hl_json_doc_init(&d);
  HL_ASSERT(hl_json_parse(&d, doc_text, strlen(doc_text), NULL) == 0);
  int64_t v;
  HL_ASSERT_EQ_INT(hl_ddb_item_i64(d.root, "a", &v), 0);
  HL_ASSERT(v == INT64_MIN);
  HL_ASSERT_EQ_INT(hl_ddb_item_i64(d.root, "b", &v), HL_EINVAL);
  HL_ASSERT_EQ_INT(hl_ddb_item_i64(d.root, "c", &v), HL_EINVAL);
  hl_json_doc_dispose(&d);
  hl_buf_dispose(&b);
}

HL_TEST(signing_crc32_and_backoff) {
  /* Signed as the wire examples show: content-type, host, date, token, target. */
  const char *body = "{\"TableName\":\"t\",\"Key\":{\"pk\":{\"S\":\"a\"}}}";
  hl_aws_creds creds = {"ASIAEXAMPLE", "secret", "token"};
  hl_sigv4_out o;
  hl_sigv4_out_init(&o);
  HL_ASSERT_EQ_INT(hl_ddb_sign("dynamodb.eu-west-1.amazonaws.com", HL_DDB_GET_ITEM, "eu-west-1", &creds, 1700000000,
                               body, strlen(body), NULL, &o),
                   0);
  HL_ASSERT(strstr(o.authorization.data, "/20231114/eu-west-1/dynamodb/aws4_request, "
                                         "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target, "
                                         "Signature=") != NULL);
  HL_ASSERT(strstr(o.canonical_request.data, "x-amz-target:DynamoDB_20120810.GetItem\n") != NULL);
  HL_ASSERT_EQ_INT(o.n_add, 3);
  HL_ASSERT_EQ_INT(hl_ddb_sign("", HL_DDB_GET_ITEM, "eu-west-1", &creds, 0, "", 0, NULL, &o), HL_EINVAL);
  hl_sigv4_out_dispose(&o);
  /* Every request botocore signed (tests/vectors/sigv4-botocore), signed
   * here the way the store signs: the same canonical request, string to
   * sign and Authorization header, byte for byte. */
  hl_json_doc bdoc;
  const hl_json *cases = hl_json_get(hl_vector_json("sigv4-botocore/dynamodb.json", &bdoc), "cases");
  HL_ASSERT(cases && cases->len >= 6);
  static const struct { const char *name; hl_ddb_op op; } ops[] = {
    {"GetItem", HL_DDB_GET_ITEM}, {"PutItem", HL_DDB_PUT_ITEM}, {"BatchWriteItem", HL_DDB_BATCH_WRITE_ITEM}};
  for (uint32_t i = 0; i < cases->len; i++) {
    const hl_json *c = &cases->u.items[i];
    const char *opname = hl_json_str(hl_json_get(c, "operation"));
    int op = -1;
    for (size_t k = 0; k < HL_ARRAY_SIZE(ops); k++)
      if (strcmp(ops[k].name, opname) == 0) op = (int)ops[k].op;
    HL_ASSERT_MSG(op >= 0, "operation %s", opname);
    hl_aws_creds bc = {hl_json_str(hl_json_get(c, "access_key")), hl_json_str(hl_json_get(c, "secret_key")),
                       hl_json_str(hl_json_get(c, "session_token"))};
    int64_t t = 0;
    hl_json_int64(hl_json_get(c, "time_s"), &t);
    const char *body = hl_json_str(hl_json_get(c, "body"));
    hl_sigv4_out_init(&o);
    HL_ASSERT_EQ_INT(hl_ddb_sign(hl_json_str(hl_json_get(c, "host")), (hl_ddb_op)op,
                                 hl_json_str(hl_json_get(c, "region")), &bc, t, body, strlen(body), NULL, &o), 0);
    const char *name = hl_json_str(hl_json_get(c, "name"));
    HL_ASSERT_MSG(strcmp(o.canonical_request.data, hl_json_str(hl_json_get(c, "canonical_request"))) == 0,
                  "%s: canonical request\n%s\nbotocore:\n%s", name, o.canonical_request.data,
                  hl_json_str(hl_json_get(c, "canonical_request")));
    HL_ASSERT_EQ_STR(o.string_to_sign.data, hl_json_str(hl_json_get(c, "string_to_sign")));
    HL_ASSERT_EQ_STR(o.authorization.data, hl_json_str(hl_json_get(c, "authorization")));
    hl_sigv4_out_dispose(&o);
  }
  hl_json_doc_dispose(&bdoc);

  HL_ASSERT(hl_aws_crc32("123456789", 9) == 0xCBF43926u);
  HL_ASSERT(hl_aws_crc32("", 0) == 0);
  HL_ASSERT(hl_aws_crc32_ok("3421780262", "123456789", 9));
  HL_ASSERT(!hl_aws_crc32_ok("3421780263", "123456789", 9));
  HL_ASSERT(!hl_aws_crc32_ok("34217802620", "123456789", 9));
  HL_ASSERT(!hl_aws_crc32_ok("", "123456789", 9));
  HL_ASSERT(!hl_aws_crc32_ok("12ab", "123456789", 9));
  HL_ASSERT(hl_aws_crc32_ok(NULL, "123456789", 9));

  HL_ASSERT(hl_aws_backoff_ms(1, 1000, 20000, 0) == 0);
  HL_ASSERT(hl_aws_backoff_ms(1, 1000, 20000, UINT32_MAX) == 999);
  HL_ASSERT(hl_aws_backoff_ms(2, 1000, 20000, 1u << 31) == 1000);
  HL_ASSERT(hl_aws_backoff_ms(5, 1000, 20000, UINT32_MAX) == 15999);
  HL_ASSERT(hl_aws_backoff_ms(6, 1000, 20000, UINT32_MAX) == 19999); /* capped */
  HL_ASSERT(hl_aws_backoff_ms(200, 1000, 20000, 1u << 31) == 10000);
  HL_ASSERT(hl_aws_backoff_ms(3, 25, 20000, 1u << 31) == 50);
}
