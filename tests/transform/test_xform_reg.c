/* The registry's transformations (src/model/hl_xform_reg.c): which versions
 * a delivery gets, in which order, and what a failure names. */
#include "hl_test.h"
#include "common/hl_common.h"
#include "model/hl_registry.h"
#include "model/hl_xform_reg.h"

#include <string.h>

static void put(hl_registry *r, const char *id, int64_t version, const char *spec) {
  hl_transform *prog = NULL;
  if (spec) HL_ASSERT(hl_transform_compile(spec, strlen(spec), &prog, NULL) == 0);
  hl_xform_rec rec = {.transformation_id = hl_strdup(id), .version = version,
                      .spec_json = spec ? hl_strdup(spec) : NULL};
  hl_registry_put_xform(r, &rec, prog);
}

static hl_sub *add_sub(hl_registry *r) {
  hl_sub_rec rec = {.subscription_id = hl_strdup("sub_1"), .partner_id = hl_strdup("acme"),
                    .event_type = hl_strdup("Payment"), .url = hl_strdup("http://127.0.0.1/")};
  return hl_registry_put_sub(r, &rec, NULL, NULL, NULL);
}

static int run(hl_registry *r, hl_sub *s, const char *ev, hl_buf *out, char **used, hl_transform_error *err) {
  hl_buf_reset(out);
  *used = NULL;
  return hl_xform_for_delivery(r, s, NULL, ev, strlen(ev), out, used, err, NULL);
}

HL_TEST(the_event_types_then_the_subscriptions_latest_versions_apply) {
  hl_registry r;
  hl_registry_init(&r);
  hl_sub *s = add_sub(&r);
  hl_buf out = HL_BUF_INIT;
  char *used = NULL;
  hl_transform_error err;
  const char *ev = "{\"a\": 1.50, \"b\": \"\\u00e9\"}";
  HL_ASSERT_EQ_INT(run(&r, s, ev, &out, &used, &err), 1); /* none: the accepted bytes */
  HL_ASSERT_EQ_INT(out.len, 0);
  put(&r, "subscription:sub_1", 1, "{\"version\":1,\"ops\":[{\"op\":\"wrap\",\"path\":\"/data\"}]}");
  put(&r, "event_type:Payment", 1, "{\"version\":1,\"ops\":[{\"op\":\"remove\",\"path\":\"/a\"}]}");
  put(&r, "event_type:Payment", 2, "{\"version\":1,\"ops\":[{\"op\":\"pick\",\"paths\":[\"/a\"]}]}");
  /* An older version arriving late (a reload) does not replace a newer one. */
  put(&r, "event_type:Payment", 1, "{\"version\":1,\"ops\":[{\"op\":\"remove\",\"path\":\"/a\"}]}");
  HL_ASSERT_EQ_INT(run(&r, s, ev, &out, &used, &err), 0);
  hl_buf_putc(&out, '\0');
  HL_ASSERT_EQ_STR(out.data, "{\"data\":{\"a\":1.50}}");
  HL_ASSERT_EQ_STR(used, "event_type:Payment@2,subscription:sub_1@1");
  hl_free(used);
  /* A version without a spec removes the type's; the subscription's stays. */
  put(&r, "event_type:Payment", 3, NULL);
  HL_ASSERT_EQ_INT(run(&r, s, ev, &out, &used, &err), 0);
  hl_buf_putc(&out, '\0');
  HL_ASSERT_EQ_STR(out.data, "{\"data\":{\"a\":1.50,\"b\":\"\\u00e9\"}}");
  HL_ASSERT_EQ_STR(used, "subscription:sub_1@1");
  hl_free(used);
  hl_buf_dispose(&out);
  hl_registry_dispose(&r);
}

HL_TEST(a_failure_names_the_version_and_the_operation_and_leaves_out_alone) {
  hl_registry r;
  hl_registry_init(&r);
  hl_sub *s = add_sub(&r);
  put(&r, "event_type:Payment", 4, "{\"version\":1,\"ops\":[{\"op\":\"set\",\"path\":\"/x\",\"value\":1},"
                                   "{\"op\":\"copy\",\"from\":\"/nope\",\"path\":\"/y\"}]}");
  hl_buf out = HL_BUF_INIT;
  hl_buf_puts(&out, "kept");
  char *used = NULL;
  hl_transform_error err = {0};
  HL_ASSERT_EQ_INT(hl_xform_for_delivery(&r, s, NULL, "{}", 2, &out, &used, &err, NULL), HL_EINVAL);
  HL_ASSERT_EQ_STR(err.path, "event_type:Payment@4/ops/1/from");
  HL_ASSERT(err.message[0] != '\0');
  HL_ASSERT(used == NULL);
  HL_ASSERT_EQ_INT(out.len, 4);
  hl_buf_dispose(&out);
  hl_registry_dispose(&r);
}

/* The Partner Info merge comes first, on the same parse: the
 * transformations see its result, the versions named are theirs only, and
 * a failure says whether the merge or a transformation was at fault. */
HL_TEST(a_first_program_runs_before_the_transformations) {
  hl_registry r;
  hl_registry_init(&r);
  hl_sub *s = add_sub(&r);
  hl_transform *merge = NULL;
  const char *ms = "{\"version\":1,\"ops\":[{\"op\":\"set\",\"path\":\"/partner_info\",\"value\":{\"tier\": \"gold\"}}]}";
  HL_ASSERT(hl_transform_compile(ms, strlen(ms), &merge, NULL) == 0);
  hl_buf out = HL_BUF_INIT;
  char *used = (char *)"unset";
  hl_transform_error err = {0};
  bool in_first = true;
  /* The merge alone: a result, no versions. */
  HL_ASSERT_EQ_INT(hl_xform_for_delivery(&r, s, merge, "{\"a\": 1.50}", 11, &out, &used, &err, &in_first), 0);
  HL_ASSERT_EQ_STR(out.data, "{\"a\":1.50,\"partner_info\":{\"tier\":\"gold\"}}");
  HL_ASSERT(used == NULL && !in_first);
  put(&r, "subscription:sub_1", 3, "{\"version\":1,\"ops\":[{\"op\":\"move\",\"from\":\"/partner_info/tier\",\"path\":\"/tier\"}]}");
  hl_buf_reset(&out);
  HL_ASSERT_EQ_INT(hl_xform_for_delivery(&r, s, merge, "{\"a\": 1.50}", 11, &out, &used, &err, &in_first), 0);
  HL_ASSERT_EQ_STR(out.data, "{\"a\":1.50,\"partner_info\":{},\"tier\":\"gold\"}");
  HL_ASSERT_EQ_STR(used, "subscription:sub_1@3");
  hl_free(used);
  used = NULL;
  /* An event the merge cannot write into: the merge's fault. */
  hl_buf_reset(&out);
  HL_ASSERT_EQ_INT(hl_xform_for_delivery(&r, s, merge, "[1]", 3, &out, &used, &err, &in_first), HL_EINVAL);
  HL_ASSERT(in_first && used == NULL && out.len == 0);
  /* Not JSON at all: the first program's too. */
  HL_ASSERT_EQ_INT(hl_xform_for_delivery(&r, s, merge, "{", 1, &out, &used, &err, &in_first), HL_EPARSE);
  HL_ASSERT(in_first);
  /* The transformation's own failure names it. */
  put(&r, "subscription:sub_1", 4, "{\"version\":1,\"ops\":[{\"op\":\"copy\",\"from\":\"/nope\",\"path\":\"/y\"}]}");
  HL_ASSERT_EQ_INT(hl_xform_for_delivery(&r, s, merge, "{}", 2, &out, &used, &err, &in_first), HL_EINVAL);
  HL_ASSERT(!in_first);
  HL_ASSERT_EQ_STR(err.path, "subscription:sub_1@4/ops/0/from");
  hl_buf_dispose(&out);
  hl_transform_free(merge);
  hl_registry_dispose(&r);
}
