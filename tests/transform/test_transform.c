/* The transformation engine: every operation, exactness, missing pointers
 * under each policy, RFC 6901 pointers, bad specs with the pointer of the
 * member at fault, the limits, and a seeded mutation run that feeds the
 * compiler and the engine damaged specs and events (every result must parse). */
#include "hl_test.h"
#include "common/hl_common.h"
#include "transform/hl_transform.h"

#include <stdint.h>

static hl_transform *compile_ok(const char *spec) {
  hl_transform *t = NULL;
  hl_transform_error err;
  int rc = hl_transform_compile(spec, strlen(spec), &t, &err);
  HL_ASSERT_MSG(rc == 0, "spec refused (%s: %s): %s", err.path, err.message, spec);
  return t;
}

/* Applies spec to event; returns the result (malloc'd) or NULL with *rc. */
static char *run(const char *spec, const char *event, int *rc, hl_transform_error *err) {
  hl_transform *t = compile_ok(spec);
  hl_buf out = HL_BUF_INIT;
  *rc = hl_transform_apply(t, event, strlen(event), &out, err);
  hl_transform_free(t);
  if (*rc != 0) {
    hl_buf_dispose(&out);
    return NULL;
  }
  return hl_buf_steal(&out, NULL);
}

#define EXPECT(spec, event, want)                                                                  \
  do {                                                                                             \
    int rc_;                                                                                       \
    hl_transform_error e_;                                                                         \
    char *got_ = run(spec, event, &rc_, &e_);                                                      \
    HL_ASSERT_MSG(rc_ == 0, "apply failed (%d, %s: %s)", rc_, e_.path, e_.message);                \
    HL_ASSERT_EQ_STR(got_, want);                                                                  \
    hl_free(got_);                                                                                 \
  } while (0)

/* The apply fails with code want_rc, naming spec member want_path. */
#define EXPECT_FAIL(spec, event, want_rc, want_path, msg_part)                                    \
  do {                                                                                             \
    int rc_;                                                                                       \
    hl_transform_error e_;                                                                         \
    char *got_ = run(spec, event, &rc_, &e_);                                                      \
    HL_ASSERT_MSG(got_ == NULL, "expected a failure, got %s", got_);                              \
    HL_ASSERT_EQ_INT(rc_, want_rc);                                                                \
    HL_ASSERT_EQ_STR(e_.path, want_path);                                                          \
    HL_ASSERT_MSG(strstr(e_.message, msg_part) != NULL, "message \"%s\" lacks \"%s\"", e_.message, \
                  msg_part);                                                                       \
  } while (0)

#define OPS(...) "{\"version\":1,\"ops\":[" __VA_ARGS__ "]}"

/* --- operations ------------------------------------------------------------------ */

HL_TEST(set_replaces_in_place_appends_and_creates_objects) {
  EXPECT(OPS("{\"op\":\"set\",\"path\":\"/b/c\",\"value\":3},"
             "{\"op\":\"set\",\"path\":\"/x\",\"value\":\"new\"},"
             "{\"op\":\"set\",\"path\":\"/n/m/o\",\"value\":true},"
             "{\"op\":\"set\",\"path\":\"/arr/0\",\"value\":0},"
             "{\"op\":\"set\",\"path\":\"/arr/-\",\"value\":3},"
             "{\"op\":\"set\",\"path\":\"/arr/3\",\"value\":4}"),
         "{\"a\":1,\"b\":{\"c\":2,\"d\":5},\"arr\":[1,2]}",
         "{\"a\":1,\"b\":{\"c\":3,\"d\":5},\"arr\":[0,2,3,4],\"x\":\"new\",\"n\":{\"m\":{\"o\":true}}}");
  /* The whole event, and values written as the spec spells them. */
  EXPECT(OPS("{\"op\":\"set\",\"path\":\"\",\"value\":{\"k\":1.10, \"s\":\"caf\\u00e9\",\"big\":123456789012345678901234567890}}"),
         "{\"a\":1}", "{\"k\":1.10,\"s\":\"caf\\u00e9\",\"big\":123456789012345678901234567890}");
}

HL_TEST(set_cannot_write_through_a_scalar_or_past_an_array) {
  EXPECT_FAIL(OPS("{\"op\":\"set\",\"path\":\"/a/b\",\"value\":1}"), "{\"a\":\"s\"}", HL_EINVAL, "/ops/0/path",
              "\"/a\" is a string");
  EXPECT_FAIL(OPS("{\"op\":\"set\",\"path\":\"/x\",\"value\":1},{\"op\":\"set\",\"path\":\"/arr/5\",\"value\":1}"),
              "{\"arr\":[1,2]}", HL_EINVAL, "/ops/1/path", "\"/arr\" is an array of 2 items");
  EXPECT_FAIL(OPS("{\"op\":\"set\",\"path\":\"/arr/k/z\",\"value\":1}"), "{\"arr\":[1]}", HL_EINVAL, "/ops/0/path",
              "array of 1 items");
  EXPECT_FAIL(OPS("{\"op\":\"set\",\"path\":\"/a\",\"value\":1}"), "[1]", HL_EINVAL, "/ops/0/path",
              "the event is an array of 1 items");
  EXPECT_FAIL(OPS("{\"op\":\"set\",\"path\":\"/a\",\"value\":1}"), "7", HL_EINVAL, "/ops/0/path",
              "the event is a number");
}

HL_TEST(copy_moves_exact_text_and_copies_stay_independent) {
  EXPECT(OPS("{\"op\":\"copy\",\"from\":\"/amount\",\"path\":\"/a2\"},"
             "{\"op\":\"copy\",\"from\":\"/name\",\"path\":\"/n2\"},"
             "{\"op\":\"copy\",\"from\":\"/big\",\"path\":\"/b2\"},"
             "{\"op\":\"copy\",\"from\":\"/o\",\"path\":\"/o2\"},"
             "{\"op\":\"set\",\"path\":\"/o2/k/0\",\"value\":\"changed\"}"),
         "{\"amount\":123.4500,\"name\":\"caf\\u00e9\\/\",\"big\":-12345678901234567890123e-5,\"o\":{\"k\":[1,2]}}",
         "{\"amount\":123.4500,\"name\":\"caf\\u00e9\\/\",\"big\":-12345678901234567890123e-5,\"o\":{\"k\":[1,2]},"
         "\"a2\":123.4500,\"n2\":\"caf\\u00e9\\/\",\"b2\":-12345678901234567890123e-5,\"o2\":{\"k\":[\"changed\",2]}}");
  /* An edited container copied, then both sides edited. */
  EXPECT(OPS("{\"op\":\"set\",\"path\":\"/o/x\",\"value\":1},"
             "{\"op\":\"copy\",\"from\":\"/o\",\"path\":\"/p\"},"
             "{\"op\":\"set\",\"path\":\"/p/k/1\",\"value\":9},"
             "{\"op\":\"set\",\"path\":\"/o/y\",\"value\":2}"),
         "{\"o\":{\"k\":[1,2]}}", "{\"o\":{\"k\":[1,2],\"x\":1,\"y\":2},\"p\":{\"k\":[1,9],\"x\":1}}");
  /* The same one level down: the copy's edited child is shared too. */
  EXPECT(OPS("{\"op\":\"set\",\"path\":\"/o/k/0\",\"value\":0},"
             "{\"op\":\"copy\",\"from\":\"/o\",\"path\":\"/p\"},"
             "{\"op\":\"set\",\"path\":\"/p/k/1\",\"value\":9}"),
         "{\"o\":{\"k\":[1,2]}}", "{\"o\":{\"k\":[0,2]},\"p\":{\"k\":[0,9]}}");
  /* Into itself, and the whole event into a member. */
  EXPECT(OPS("{\"op\":\"copy\",\"from\":\"/o\",\"path\":\"/o/self\"}"), "{\"o\":{\"k\":1}}",
         "{\"o\":{\"k\":1,\"self\":{\"k\":1}}}");
  EXPECT(OPS("{\"op\":\"set\",\"path\":\"/b\",\"value\":2},{\"op\":\"copy\",\"from\":\"\",\"path\":\"/orig\"},"
             "{\"op\":\"set\",\"path\":\"/orig/b\",\"value\":3}"),
         "{\"a\":1}", "{\"a\":1,\"b\":2,\"orig\":{\"a\":1,\"b\":3}}");
  /* An empty object or array copied into itself: a source with no children
   * (a case a fuzzer found; clang's UBSan, in the fuzz build, flags it when
   * the writer looks for untouched children in an empty source). */
  EXPECT(OPS("{\"op\":\"copy\",\"from\":\"\",\"path\":\"/l\"}"), "{}", "{\"l\":{}}");
  EXPECT(OPS("{\"op\":\"copy\",\"from\":\"/a\",\"path\":\"/a/-\"}"), "{\"a\":[]}", "{\"a\":[[]]}");
  /* A repeated key reads as its last member. */
  EXPECT(OPS("{\"op\":\"copy\",\"from\":\"/a\",\"path\":\"/x\"}"), "{\"a\":1,\"a\":2}", "{\"a\":1,\"a\":2,\"x\":2}");
}

HL_TEST(move_removes_then_sets) {
  EXPECT(OPS("{\"op\":\"move\",\"from\":\"/a\",\"path\":\"/b/a\"},{\"op\":\"move\",\"from\":\"/arr/0\",\"path\":\"/arr/-\"}"),
         "{\"a\":1,\"b\":{\"c\":2},\"arr\":[10,20,30]}", "{\"b\":{\"c\":2,\"a\":1},\"arr\":[20,30,10]}");
  /* Onto an existing member: that member's place, the source gone. */
  EXPECT(OPS("{\"op\":\"move\",\"from\":\"/a\",\"path\":\"/c\"}"), "{\"a\":1.0,\"b\":2,\"c\":3}", "{\"b\":2,\"c\":1.0}");
  /* To the root. */
  EXPECT(OPS("{\"op\":\"move\",\"from\":\"/data\",\"path\":\"\"}"), "{\"h\":1,\"data\":{\"x\":[1]}}", "{\"x\":[1]}");
}

HL_TEST(rename_keeps_the_place) {
  EXPECT(OPS("{\"op\":\"rename\",\"path\":\"/b\",\"to\":\"x\"}"), "{\"a\":1,\"b\":2,\"c\":3}", "{\"a\":1,\"x\":2,\"c\":3}");
  /* A member already named "to" goes; the key is written as the spec spells it. */
  EXPECT(OPS("{\"op\":\"rename\",\"path\":\"/a\",\"to\":\"c\"},{\"op\":\"rename\",\"path\":\"/o/k\",\"to\":\"caf\\u00e9\"}"),
         "{\"a\":1,\"b\":2,\"c\":3,\"o\":{\"k\":4}}", "{\"c\":1,\"b\":2,\"o\":{\"caf\\u00e9\":4}}");
  EXPECT_FAIL(OPS("{\"op\":\"rename\",\"path\":\"/arr/0\",\"to\":\"x\"}"), "{\"arr\":[1]}", HL_EINVAL, "/ops/0/path",
              "array item");
}

HL_TEST(remove_members_items_and_repeated_keys) {
  EXPECT(OPS("{\"op\":\"remove\",\"path\":\"/b/c\"},{\"op\":\"remove\",\"path\":\"/arr/1\"},"
             "{\"op\":\"remove\",\"path\":\"/zz\"},{\"op\":\"remove\",\"path\":\"/a\"}"),
         "{\"a\":1,\"b\":{\"c\":2,\"d\":3},\"arr\":[1,2,3],\"a\":4}", "{\"b\":{\"d\":3},\"arr\":[1,3]}");
}

HL_TEST(pick_keeps_the_listed_values_in_event_order) {
  const char *event = "{\"z\":0,\"a\":{\"x\":1,\"y\":2},\"b\":[{\"id\":1,\"v\":\"p\"},{\"id\":2,\"v\":\"q\"},{\"id\":3}],"
                      "\"c\":\"keep\"}";
  EXPECT(OPS("{\"op\":\"pick\",\"paths\":[\"/c\",\"/a/y\",\"/b/2/id\",\"/b/0/id\",\"/missing\",\"/a/y/deeper\"]}"),
         event, "{\"a\":{\"y\":2},\"b\":[{\"id\":1},{\"id\":3}],\"c\":\"keep\"}");
  EXPECT(OPS("{\"op\":\"pick\",\"paths\":[\"/a\",\"/a/x\"]}"), event, "{\"a\":{\"x\":1,\"y\":2}}");
  EXPECT(OPS("{\"op\":\"pick\",\"paths\":[\"/c\",\"/a\",\"/z\"]}"), event,
         "{\"z\":0,\"a\":{\"x\":1,\"y\":2},\"c\":\"keep\"}");
  EXPECT(OPS("{\"op\":\"pick\",\"paths\":[]}"), event, "{}");
  EXPECT(OPS("{\"op\":\"pick\",\"paths\":[\"/1\"]}"), "[5,6,7]", "[6]");
  EXPECT(OPS("{\"op\":\"pick\",\"paths\":[\"/z\",\"\"]}"), "{\"z\" : 0, \"q\":[1]}", "{\"z\":0,\"q\":[1]}");
  /* Nothing found below a listed object: the object is left out too. */
  EXPECT(OPS("{\"op\":\"pick\",\"paths\":[\"/a/nope\",\"/c\"]}"), event, "{\"c\":\"keep\"}");
}

HL_TEST(wrap_puts_the_event_under_a_key) {
  EXPECT(OPS("{\"op\":\"wrap\",\"path\":\"/data\"}"), "{\"a\":1}", "{\"data\":{\"a\":1}}");
  EXPECT(OPS("{\"op\":\"wrap\",\"path\":\"/x~1y/z~0/0\"}"), "[1]", "{\"x/y\":{\"z~\":{\"0\":[1]}}}");
}

HL_TEST(template_builds_from_pointers_and_literals) {
  const char *event = "{\"eventHeader\":{\"uuid\":\"evt-1\",\"type\":\"T\"},\"amount\":123.4500,"
                      "\"name\":\"caf\\u00e9\",\"items\":[1,2]}";
  EXPECT(OPS("{\"op\":\"template\",\"template\":{\"id\":{\"$ptr\":\"/eventHeader/uuid\"},\"amt\":{\"$ptr\":\"/amount\"},"
             "\"lit\":\"/eventHeader/uuid\",\"c\":{\"$const\":{\"$ptr\":\"/x\"}},"
             "\"arr\":[{\"$ptr\":\"/items/1\"},{\"$ptr\":\"/nope\",\"$default\":null},\"s\",2.50],"
             "\"nested\":{\"n\":{\"$ptr\":\"/name\"},\"fixed\":[1.0]},\"$$ref\":\"#\",\"lit$\":{\"$$a\":[\"$$b\"]}}}"),
         event,
         "{\"id\":\"evt-1\",\"amt\":123.4500,\"lit\":\"/eventHeader/uuid\",\"c\":{\"$ptr\":\"/x\"},\"arr\":[2,null,\"s\",2.50],"
         "\"nested\":{\"n\":\"caf\\u00e9\",\"fixed\":[1.0]},\"$ref\":\"#\",\"lit$\":{\"$a\":[\"$$b\"]}}");
  /* "skip": a pointer that finds nothing leaves its member or item out. */
  EXPECT(OPS("{\"op\":\"template\",\"missing\":\"skip\",\"template\":{\"a\":{\"$ptr\":\"/nope\"},\"b\":[{\"$ptr\":\"/x\"},1]}}"),
         event, "{\"b\":[1]}");
  /* With a path, the result is set there; "" is the whole event. */
  EXPECT(OPS("{\"op\":\"template\",\"path\":\"/summary\",\"template\":{\"id\":{\"$ptr\":\"/eventHeader/uuid\"},"
             "\"all\":{\"$ptr\":\"/items\"}}}"),
         "{\"eventHeader\":{\"uuid\":\"e\"},\"items\":[]}",
         "{\"eventHeader\":{\"uuid\":\"e\"},\"items\":[],\"summary\":{\"id\":\"e\",\"all\":[]}}");
  EXPECT(OPS("{\"op\":\"template\",\"template\":{\"$ptr\":\"/nope\"},\"missing\":\"skip\"}"), "{\"a\":1}", "{\"a\":1}");
  EXPECT(OPS("{\"op\":\"template\",\"template\":[{\"$ptr\":\"\"}]}"), "{\"a\":1}", "[{\"a\":1}]");
  /* One value placed twice, then one place edited. */
  EXPECT(OPS("{\"op\":\"set\",\"path\":\"/o/z\",\"value\":0},"
             "{\"op\":\"template\",\"template\":{\"x\":{\"$ptr\":\"/o\"},\"y\":{\"$ptr\":\"/o\"}}},"
             "{\"op\":\"set\",\"path\":\"/x/k/0\",\"value\":5}"),
         "{\"o\":{\"k\":[1,2]}}", "{\"x\":{\"k\":[5,2],\"z\":0},\"y\":{\"k\":[1,2],\"z\":0}}");
}

/* --- missing pointers --------------------------------------------------------------- */

HL_TEST(missing_sources_follow_the_policy) {
  const char *event = "{\"a\":1,\"arr\":[1]}";
  /* Defaults: copy, move, rename and template fail; remove and pick skip. */
  EXPECT_FAIL(OPS("{\"op\":\"copy\",\"from\":\"/x\",\"path\":\"/y\"}"), event, HL_EINVAL, "/ops/0/from",
              "no value at \"/x\"");
  EXPECT_FAIL(OPS("{\"op\":\"set\",\"path\":\"/q\",\"value\":1},{\"op\":\"move\",\"from\":\"/a/b\",\"path\":\"/y\"}"), event,
              HL_EINVAL, "/ops/1/from", "/a/b");
  EXPECT_FAIL(OPS("{\"op\":\"rename\",\"path\":\"/x\",\"to\":\"y\"}"), event, HL_EINVAL, "/ops/0/path", "/x");
  EXPECT_FAIL(OPS("{\"op\":\"template\",\"template\":{\"k\":[0,{\"$ptr\":\"/arr/1\"}]}}"), event, HL_EINVAL,
              "/ops/0/template/k/1/$ptr", "/arr/1");
  EXPECT(OPS("{\"op\":\"remove\",\"path\":\"/x/y\"},{\"op\":\"pick\",\"paths\":[\"/a\",\"/nope\"]}"), event, "{\"a\":1}");
  /* Each can be turned around. */
  EXPECT(OPS("{\"op\":\"copy\",\"from\":\"/x\",\"path\":\"/y\",\"missing\":\"skip\"},"
             "{\"op\":\"move\",\"from\":\"/arr/-\",\"path\":\"/y\",\"missing\":\"skip\"},"
             "{\"op\":\"rename\",\"path\":\"/x\",\"to\":\"y\",\"missing\":\"skip\"}"),
         event, event);
  EXPECT_FAIL(OPS("{\"op\":\"remove\",\"path\":\"/arr/1\",\"missing\":\"error\"}"), event, HL_EINVAL, "/ops/0/path",
              "/arr/1");
  EXPECT_FAIL(OPS("{\"op\":\"pick\",\"paths\":[\"/a\",\"/arr/0/x\"],\"missing\":\"error\"}"), event, HL_EINVAL,
              "/ops/0/paths/1", "/arr/0/x");
  /* A value of another shape is missing, not an error. */
  EXPECT(OPS("{\"op\":\"copy\",\"from\":\"/a/b\",\"path\":\"/y\",\"missing\":\"skip\"}"), event, event);
}

/* --- exactness and pointers -------------------------------------------------------------- */

HL_TEST(values_keep_their_text_and_whitespace_goes) {
  const char *event = " {\n  \"b\" : 1.0E+2 ,\t\"caf\\u00e9\" : \"\\ud83d\\ude00\\n\\u0041\" ,\r\n"
                      "  \"n\": [ 1 , 2 , {\"deep\" : -0.0} ] , \"u\":{ \"x\" :123.4500 } } ";
  const char *want = "{\"b\":1.0E+2,\"caf\\u00e9\":\"\\ud83d\\ude00\\n\\u0041\",\"n\":[1,2,{\"deep\":-0.0}],"
                     "\"u\":{\"x\":123.4500},\"x\":1}";
  EXPECT(OPS("{\"op\":\"set\",\"path\":\"/x\",\"value\":1}"), event, want);
  /* The same from an event parsed by the caller. */
  hl_transform *t = compile_ok(OPS("{\"op\":\"set\",\"path\":\"/x\",\"value\":1}"));
  hl_json_doc d;
  hl_json_doc_init(&d);
  HL_ASSERT_EQ_INT(hl_json_parse(&d, event, strlen(event), NULL), 0);
  hl_buf out = HL_BUF_INIT;
  HL_ASSERT_EQ_INT(hl_transform_apply_json(t, d.root, &out, NULL), 0);
  HL_ASSERT_EQ_STR(out.data, want);
  hl_buf_dispose(&out);
  hl_json_doc_dispose(&d);
  hl_transform_free(t);
  /* No operations: the event, compact. */
  EXPECT(OPS(), "[ 1.50 ,\"\\u00e9\" ]", "[1.50,\"\\u00e9\"]");
}

/* Untouched neighbours are copied as one piece of source text; every edit
 * between them must break the piece. */
HL_TEST(edits_between_untouched_members) {
  EXPECT(OPS("{\"op\":\"remove\",\"path\":\"/b\"},{\"op\":\"move\",\"from\":\"/a\",\"path\":\"/z\"},"
             "{\"op\":\"rename\",\"path\":\"/d\",\"to\":\"D\"},{\"op\":\"set\",\"path\":\"/c\",\"value\":30},"
             "{\"op\":\"remove\",\"path\":\"/e/1\"},{\"op\":\"move\",\"from\":\"/e/0\",\"path\":\"/e/-\"},"
             "{\"op\":\"set\",\"path\":\"/f/y\",\"value\":2}"),
         "{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"d2\":5,\"e\":[1,2,3,4],\"f\":{\"x\":1}}",
         "{\"c\":30,\"D\":4,\"d2\":5,\"e\":[3,4,1],\"f\":{\"x\":1,\"y\":2},\"z\":1}");
  /* A repeated key, one of them removed; members copied into another object. */
  EXPECT(OPS("{\"op\":\"remove\",\"path\":\"/k\"},{\"op\":\"copy\",\"from\":\"/o/1\",\"path\":\"/o/-\"}"),
         "{\"k\":1,\"m\":2,\"k\":3,\"n\":4,\"o\":[{\"p\":1},{\"q\":2}]}",
         "{\"m\":2,\"n\":4,\"o\":[{\"p\":1},{\"q\":2},{\"q\":2}]}");
}

/* Programs chained on one parse (the Partner Info merge, then the event
 * type's and the subscription's transformations) give exactly what
 * applying each to the previous result gives, and a failure names the
 * program at fault. */
HL_TEST(a_chain_is_the_programs_applied_in_turn) {
  static const char *specs[] = {
      OPS("{\"op\":\"set\",\"path\":\"/partner_info\",\"value\":{ \"tier\" : \"gold\", \"limit\": 1.50 }}"),
      OPS("{\"op\":\"move\",\"from\":\"/partner_info/tier\",\"path\":\"/tier\"},"
          "{\"op\":\"rename\",\"path\":\"/k\",\"to\":\"caf\\u00e9\"},{\"op\":\"remove\",\"path\":\"/arr/0\"}"),
      OPS("{\"op\":\"template\",\"template\":{\"t\":{\"$ptr\":\"/tier\"},\"all\":{\"$ptr\":\"\"}}}"),
      OPS("{\"op\":\"wrap\",\"path\":\"/data\"},{\"op\":\"copy\",\"from\":\"/data/all/partner_info\",\"path\":\"/pi\"}"),
  };
  const char *event = " { \"k\" : 123.4500, \"k\":\"\\u00e9\", \"arr\" : [ 1 , 2 ], \"s\":\"x\\ny\" } ";
  hl_transform *t[HL_ARRAY_SIZE(specs)];
  for (size_t i = 0; i < HL_ARRAY_SIZE(specs); i++) t[i] = compile_ok(specs[i]);
  for (size_t n = 1; n <= HL_ARRAY_SIZE(specs); n++) {
    hl_buf want = HL_BUF_INIT, tmp = HL_BUF_INIT, got = HL_BUF_INIT;
    hl_buf_puts(&want, event);
    for (size_t i = 0; i < n; i++) {
      hl_buf_reset(&tmp);
      HL_ASSERT_EQ_INT(hl_transform_apply(t[i], want.data, want.len, &tmp, NULL), 0);
      hl_buf_reset(&want);
      hl_buf_append(&want, tmp.data, tmp.len);
    }
    hl_buf_puts(&got, "kept:");
    size_t failed = 99;
    HL_ASSERT_EQ_INT(hl_transform_apply_chain((const hl_transform *const *)t, n, event, strlen(event), &got, &failed,
                                              NULL),
                     0);
    HL_ASSERT(strncmp(got.data, "kept:", 5) == 0); /* appended */
    HL_ASSERT_EQ_STR(got.data + 5, want.data);
    hl_buf_dispose(&want);
    hl_buf_dispose(&tmp);
    hl_buf_dispose(&got);
  }
  /* The second program does not fit the first one's result. */
  hl_transform *bad = compile_ok(OPS("{\"op\":\"set\",\"path\":\"/x\",\"value\":1},"
                                     "{\"op\":\"copy\",\"from\":\"/nope\",\"path\":\"/y\",\"missing\":\"error\"}"));
  const hl_transform *two[2] = {t[0], bad};
  hl_buf out = HL_BUF_INIT;
  hl_buf_puts(&out, "kept");
  size_t failed = 99;
  hl_transform_error err;
  HL_ASSERT_EQ_INT(hl_transform_apply_chain(two, 2, event, strlen(event), &out, &failed, &err), HL_EINVAL);
  HL_ASSERT_EQ_INT(failed, 1);
  HL_ASSERT_EQ_STR(err.path, "/ops/1/from");
  HL_ASSERT_EQ_STR(out.data, "kept");
  /* An event that is not JSON is the first program's failure. */
  HL_ASSERT_EQ_INT(hl_transform_apply_chain(two, 2, "{\"a\":", 5, &out, &failed, &err), HL_EPARSE);
  HL_ASSERT_EQ_INT(failed, 0);
  HL_ASSERT_EQ_STR(out.data, "kept");
  hl_buf_dispose(&out);
  hl_transform_free(bad);
  for (size_t i = 0; i < HL_ARRAY_SIZE(specs); i++) hl_transform_free(t[i]);
}

HL_TEST(rfc6901_pointers) {
  EXPECT(OPS("{\"op\":\"copy\",\"from\":\"/a~1b/m~0n\",\"path\":\"/x\"},"
             "{\"op\":\"copy\",\"from\":\"//\",\"path\":\"/y\"},"
             "{\"op\":\"copy\",\"from\":\"/arr/01\",\"path\":\"/z\",\"missing\":\"skip\"},"
             "{\"op\":\"copy\",\"from\":\"/arr/-\",\"path\":\"/w\",\"missing\":\"skip\"},"
             "{\"op\":\"copy\",\"from\":\"/01\",\"path\":\"/v\"},"
             "{\"op\":\"copy\",\"from\":\"/arr/1\",\"path\":\"/new~1key~01\"},"
             "{\"op\":\"set\",\"path\":\"/-\",\"value\":\"minus\"}"),
         "{\"a/b\":{\"m~n\":1},\"\":{\"\":2},\"arr\":[5,6],\"01\":7}",
         "{\"a/b\":{\"m~n\":1},\"\":{\"\":2},\"arr\":[5,6],\"01\":7,\"x\":1,\"y\":2,\"v\":7,\"new/key~1\":6,\"-\":\"minus\"}");
}

/* --- bad specs -------------------------------------------------------------------------- */

HL_TEST(bad_specs_name_the_member_at_fault) {
  static const struct {
    const char *spec, *path, *msg;
  } cases[] = {
      {"[]", "", "object"},
      {"{\"ops\":[]}", "", "version"},
      {"{\"version\":2,\"ops\":[]}", "/version", "version 1"},
      {"{\"version\":1}", "", "ops"},
      {"{\"version\":1,\"ops\":{}}", "/ops", "array"},
      {"{\"version\":1,\"ops\":[],\"extra\":1}", "/extra", "unknown member"},
      {"{\"version\":1,\"ops\":[],\"description\":5}", "/description", "string"},
      {OPS("1"), "/ops/0", "an operation is an object"},
      {OPS("{\"path\":\"/a\"}"), "/ops/0", "\"op\""},
      {OPS("{\"op\":\"explode\"}"), "/ops/0/op", "unknown operation"},
      {OPS("{\"op\":\"set\",\"path\":\"/a\"}"), "/ops/0", "\"value\""},
      {OPS("{\"op\":\"set\",\"path\":\"a\",\"value\":1}"), "/ops/0/path", "starts with '/'"},
      {OPS("{\"op\":\"set\",\"path\":\"/a~2\",\"value\":1}"), "/ops/0/path", "'~'"},
      {OPS("{\"op\":\"set\",\"path\":\"/a~\",\"value\":1}"), "/ops/0/path", "'~'"},
      {OPS("{\"op\":\"set\",\"path\":5,\"value\":1}"), "/ops/0/path", "string"},
      {OPS("{\"op\":\"set\",\"path\":\"/a\",\"path\":\"/b\",\"value\":1}"), "/ops/0/path", "duplicate"},
      {OPS("{\"op\":\"set\",\"path\":\"/a\",\"value\":1},{\"op\":\"copy\",\"from\":\"/a\",\"path\":\"/b\"},"
           "{\"op\":\"remove\",\"path\":\"/x\"},{\"op\":\"copy\",\"form\":\"/a\",\"path\":\"/b\"}"),
       "/ops/3/form", "unknown member"},
      {OPS("{\"op\":\"copy\",\"from\":\"/a\",\"path\":\"/b\",\"missing\":\"maybe\"}"), "/ops/0/missing", "skip"},
      {OPS("{\"op\":\"set\",\"path\":\"/a\",\"value\":1,\"missing\":\"skip\"}"), "/ops/0/missing", "unknown member"},
      {OPS("{\"op\":\"move\",\"from\":\"\",\"path\":\"/a\"}"), "/ops/0/from", "whole event"},
      {OPS("{\"op\":\"move\",\"from\":\"/a\",\"path\":\"/a/b\"}"), "/ops/0/path", "into itself"},
      {OPS("{\"op\":\"rename\",\"path\":\"\",\"to\":\"x\"}"), "/ops/0/path", "whole event"},
      {OPS("{\"op\":\"rename\",\"path\":\"/a\",\"to\":5}"), "/ops/0/to", "string"},
      {OPS("{\"op\":\"remove\",\"path\":\"\"}"), "/ops/0/path", "whole event"},
      {OPS("{\"op\":\"pick\",\"paths\":\"/a\"}"), "/ops/0/paths", "array"},
      {OPS("{\"op\":\"pick\",\"paths\":[\"/a\",\"b\"]}"), "/ops/0/paths/1", "'/'"},
      {OPS("{\"op\":\"wrap\",\"path\":\"\"}"), "/ops/0/path", "key"},
      {OPS("{\"op\":\"template\"}"), "/ops/0", "\"template\""},
      {OPS("{\"op\":\"template\",\"template\":{\"x\":{\"$ptr\":\"/a\",\"extra\":1}}}"), "/ops/0/template/x/extra",
       "operator"},
      {OPS("{\"op\":\"template\",\"template\":{\"x\":{\"$pointer\":\"/a\"}}}"), "/ops/0/template/x/$pointer",
       "unknown template operator"},
      {OPS("{\"op\":\"template\",\"template\":{\"x\":[1,{\"$ptr\":\"nope\"}]}}"), "/ops/0/template/x/1/$ptr", "'/'"},
      {OPS("{\"op\":\"template\",\"template\":{\"x\":{\"$default\":1}}}"), "/ops/0/template/x/$default", "$ptr"},
      {OPS("{\"op\":\"template\",\"template\":{\"x\":{\"$const\":1,\"$ptr\":\"/a\"}}}"), "/ops/0/template/x/$ptr",
       "alone"},
      {OPS("{\"op\":\"template\",\"template\":{\"a/b\":{\"m~\":{\"$ptr\":5}}}}"), "/ops/0/template/a~1b/m~0/$ptr",
       "string"},
      {OPS("{\"op\":\"template\",\"template\":{\"$ptr\":\"/a\",\"$ptr\":\"/b\"}}"), "/ops/0/template/$ptr", "duplicate"},
  };
  for (size_t i = 0; i < HL_ARRAY_SIZE(cases); i++) {
    hl_transform *t = NULL;
    hl_transform_error err;
    int rc = hl_transform_compile(cases[i].spec, strlen(cases[i].spec), &t, &err);
    HL_ASSERT_MSG(rc == HL_EINVAL && t == NULL, "accepted (%d): %s", rc, cases[i].spec);
    HL_ASSERT_MSG(strcmp(err.path, cases[i].path) == 0, "%s: path \"%s\", want \"%s\"", cases[i].spec, err.path,
                  cases[i].path);
    HL_ASSERT_MSG(strstr(err.message, cases[i].msg) != NULL, "%s: message \"%s\" lacks \"%s\"", cases[i].spec,
                  err.message, cases[i].msg);
  }
}

HL_TEST(spec_limits_and_syntax) {
  hl_transform *t = NULL;
  hl_transform_error err;
  HL_ASSERT_EQ_INT(hl_transform_compile("{\"version\":", 11, &t, &err), HL_EPARSE);
  HL_ASSERT(strstr(err.message, "not valid JSON") != NULL);
  hl_buf b = HL_BUF_INIT;
  hl_buf_puts(&b, "{\"version\":1,\"ops\":[");
  for (int i = 0; i <= HL_TRANSFORM_MAX_OPS; i++) hl_buf_puts(&b, i ? ",{\"op\":\"wrap\",\"path\":\"/a\"}" : "{\"op\":\"wrap\",\"path\":\"/a\"}");
  hl_buf_puts(&b, "]}");
  HL_ASSERT_EQ_INT(hl_transform_compile(b.data, b.len, &t, &err), HL_EINVAL);
  HL_ASSERT_EQ_STR(err.path, "/ops");
  hl_buf_reset(&b);
  hl_buf_puts(&b, "{\"version\":1,\"ops\":[{\"op\":\"set\",\"value\":1,\"path\":\"");
  for (int i = 0; i <= HL_TRANSFORM_MAX_DEPTH; i++) hl_buf_puts(&b, "/a");
  hl_buf_puts(&b, "\"}]}");
  HL_ASSERT_EQ_INT(hl_transform_compile(b.data, b.len, &t, &err), HL_EINVAL);
  HL_ASSERT_EQ_STR(err.path, "/ops/0/path");
  hl_buf_dispose(&b);
  /* A spec inside a larger document: paths are relative to it. */
  const char *body = "{\"name\":\"x\",\"transformation\":{\"version\":1,\"ops\":[{\"op\":\"copy\",\"from\":\"/a\"}]}}";
  hl_json_doc d;
  hl_json_doc_init(&d);
  HL_ASSERT_EQ_INT(hl_json_parse(&d, body, strlen(body), NULL), 0);
  HL_ASSERT_EQ_INT(hl_transform_compile_json(hl_json_get(d.root, "transformation"), &t, &err), HL_EINVAL);
  HL_ASSERT_EQ_STR(err.path, "/ops/0");
  const char *good = "{\"t\":{\"version\":1.0,\"ops\":[{\"op\":\"wrap\",\"path\":\"/d\"}],\"description\":\"x\"}}";
  hl_json_doc_reset(&d);
  HL_ASSERT_EQ_INT(hl_json_parse(&d, good, strlen(good), NULL), 0);
  HL_ASSERT_EQ_INT(hl_transform_compile_json(hl_json_get(d.root, "t"), &t, &err), 0);
  hl_json_doc_dispose(&d); /* the program keeps what it needs */
  HL_ASSERT_EQ_INT(hl_transform_op_count(t), 1);
  hl_buf out = HL_BUF_INIT;
  HL_ASSERT_EQ_INT(hl_transform_apply(t, "1", 1, &out, NULL), 0);
  HL_ASSERT_EQ_STR(out.data, "{\"d\":1}");
  hl_buf_dispose(&out);
  hl_transform_free(t);
}

/* --- applying: failures and limits ------------------------------------------------------ */

HL_TEST(failures_leave_the_output_alone) {
  hl_transform *t = compile_ok(OPS("{\"op\":\"copy\",\"from\":\"/x\",\"path\":\"/y\"}"));
  hl_buf out = HL_BUF_INIT;
  hl_buf_puts(&out, "kept");
  hl_transform_error err;
  HL_ASSERT_EQ_INT(hl_transform_apply(t, "{\"a\":1}", 7, &out, &err), HL_EINVAL);
  HL_ASSERT_EQ_STR(out.data, "kept");
  HL_ASSERT_EQ_INT(hl_transform_apply(t, "{\"a\":", 5, &out, &err), HL_EPARSE);
  HL_ASSERT_EQ_STR(err.path, "");
  HL_ASSERT(strstr(err.message, "not valid JSON") != NULL);
  HL_ASSERT_EQ_STR(out.data, "kept");
  /* Success appends. */
  HL_ASSERT_EQ_INT(hl_transform_apply(t, "{\"x\":1}", 7, &out, &err), 0);
  HL_ASSERT_EQ_STR(out.data, "kept{\"x\":1,\"y\":1}");
  hl_buf_dispose(&out);
  hl_transform_free(t);
}

HL_TEST(results_are_bounded) {
  /* Each copy doubles the event: 2^60 bytes if nothing stopped it. */
  hl_buf spec = HL_BUF_INIT;
  hl_buf_puts(&spec, "{\"version\":1,\"ops\":[");
  for (int i = 0; i < 60; i++) hl_buf_printf(&spec, "%s{\"op\":\"copy\",\"from\":\"\",\"path\":\"/c%d\"}", i ? "," : "", i);
  hl_buf_puts(&spec, "]}");
  hl_transform *t = compile_ok(spec.data);
  hl_buf out = HL_BUF_INIT;
  hl_transform_error err;
  HL_ASSERT_EQ_INT(hl_transform_apply(t, "{\"a\":\"0123456789\"}", 18, &out, &err), HL_ETOOBIG);
  HL_ASSERT_EQ_INT(out.len, 0);
  HL_ASSERT(strstr(err.message, "larger than") != NULL);
  hl_transform_free(t);
  /* Nesting: 512 levels of edited objects are the most. */
  hl_buf_reset(&spec);
  hl_buf_puts(&spec, "{\"version\":1,\"ops\":[{\"op\":\"wrap\",\"path\":\"");
  for (int i = 0; i < HL_TRANSFORM_MAX_DEPTH; i++) hl_buf_puts(&spec, "/w");
  hl_buf_puts(&spec, "\"}]}");
  t = compile_ok(spec.data);
  HL_ASSERT_EQ_INT(hl_transform_apply(t, "1", 1, &out, &err), 0);
  HL_ASSERT_EQ_INT(out.len, HL_TRANSFORM_MAX_DEPTH * 6 + 1);
  hl_transform_free(t);
  hl_buf_reset(&out);
  spec.len -= 4; /* before "}]} */
  hl_buf_puts(&spec, "\"},{\"op\":\"wrap\",\"path\":\"/x\"}]}");
  t = compile_ok(spec.data);
  HL_ASSERT_EQ_INT(hl_transform_apply(t, "1", 1, &out, &err), HL_ETOOBIG);
  HL_ASSERT_EQ_INT(out.len, 0);
  hl_transform_free(t);
  hl_buf_dispose(&spec);
  hl_buf_dispose(&out);
}

/* The levels an untouched value brings count: no result nests deeper than
 * hookloop reads (HL_JSON_MAX_DEPTH), and a chain refuses exactly what the
 * same programs refuse one after the other. */
HL_TEST(an_untouched_values_own_levels_count) {
  /* An event 300 arrays deep, wrapped in 212 objects: 512 levels, read
   * back whole; in 213: refused. */
  hl_buf ev = HL_BUF_INIT, spec = HL_BUF_INIT, out = HL_BUF_INIT;
  for (int i = 0; i < 300; i++) hl_buf_putc(&ev, '[');
  hl_buf_putc(&ev, '1');
  for (int i = 0; i < 300; i++) hl_buf_putc(&ev, ']');
  hl_transform_error err;
  for (int k = 212; k <= 213; k++) {
    hl_buf_reset(&spec);
    hl_buf_puts(&spec, "{\"version\":1,\"ops\":[{\"op\":\"wrap\",\"path\":\"");
    for (int i = 0; i < k; i++) hl_buf_puts(&spec, "/w");
    hl_buf_puts(&spec, "\"}]}");
    hl_transform *t = compile_ok(spec.data);
    hl_buf_reset(&out);
    int rc = hl_transform_apply(t, ev.data, ev.len, &out, &err);
    if (k == 212) {
      HL_ASSERT_EQ_INT(rc, 0);
      hl_json_doc d;
      hl_json_doc_init(&d);
      HL_ASSERT_EQ_INT(hl_json_parse(&d, out.data, out.len, NULL), 0);
      HL_ASSERT_EQ_INT(d.depth, HL_JSON_MAX_DEPTH);
      hl_json_doc_dispose(&d);
    } else {
      HL_ASSERT_EQ_INT(rc, HL_ETOOBIG);
      HL_ASSERT_EQ_INT(out.len, 0);
      HL_ASSERT(strstr(err.message, "nest deeper than 512") != NULL);
    }
    hl_transform_free(t);
  }
  /* The event copied 200 objects deep into itself: twice fits (~403
   * levels), the third time does not, in turn as in a chain. */
  hl_buf_reset(&spec);
  hl_buf_puts(&spec, "{\"version\":1,\"ops\":[{\"op\":\"copy\",\"from\":\"\",\"path\":\"");
  for (int i = 0; i < 200; i++) hl_buf_puts(&spec, "/a");
  hl_buf_puts(&spec, "\"}]}");
  hl_transform *t = compile_ok(spec.data);
  const hl_transform *chain[3] = {t, t, t};
  hl_buf step = HL_BUF_INIT, chained = HL_BUF_INIT;
  hl_buf_puts(&step, "{\"x\":1}");
  for (int n = 1; n <= 3; n++) {
    hl_buf_reset(&out);
    int rs = hl_transform_apply(t, step.data, step.len, &out, &err);
    hl_buf_reset(&chained);
    size_t failed = 0;
    int rc = hl_transform_apply_chain(chain, (size_t)n, "{\"x\":1}", 7, &chained, &failed, &err);
    HL_ASSERT_EQ_INT(rs, n < 3 ? 0 : HL_ETOOBIG);
    HL_ASSERT_EQ_INT(rc, rs);
    if (rs == 0) {
      HL_ASSERT_EQ_INT(chained.len, out.len);
      HL_ASSERT(memcmp(chained.data, out.data, out.len) == 0);
      hl_buf_reset(&step);
      hl_buf_append(&step, out.data, out.len);
    } else {
      HL_ASSERT_EQ_INT(failed, 2);
    }
  }
  hl_transform_free(t);
  hl_buf_dispose(&step);
  hl_buf_dispose(&chained);
  hl_buf_dispose(&ev);
  hl_buf_dispose(&spec);
  hl_buf_dispose(&out);
}

/* --- damaged input ------------------------------------------------------------------------ */

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next_rand(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

/* Damages b (a copy of base): bytes replaced, dropped or repeated, which
 * mostly breaks the JSON, or characters inside strings replaced, which
 * keeps it JSON and changes names, pointers and operations. */
static void mutate(hl_buf *b, const char *base) {
  static const char any[] = "{}[]\":,/~01-$abptr \\e.9", in_string[] = "/~01-$abpt.9 ";
  hl_buf_reset(b);
  hl_buf_puts(b, base);
  int edits = 1 + (int)(next_rand() % 2);
  for (int i = 0; i < edits && b->len > 0; i++) {
    size_t at = next_rand() % b->len;
    switch (next_rand() % 4) {
    case 0: b->data[at] = any[next_rand() % (sizeof any - 1)]; break;
    case 1: memmove(b->data + at, b->data + at + 1, b->len - at); b->len--; break;
    case 2: {
      size_t from = next_rand() % b->len, n = HL_MIN(b->len - from, (size_t)(next_rand() % 24));
      char tmp[24];
      memcpy(tmp, b->data + from, n);
      hl_buf_reserve(b, n);
      memmove(b->data + at + n, b->data + at, b->len - at + 1);
      memcpy(b->data + at, tmp, n);
      b->len += n;
      break;
    }
    default: {
      /* The at-th byte inside a string (after its quote, not escaped). */
      size_t inside = 0, pick = SIZE_MAX;
      for (int pass = 0; pass < 2; pass++) {
        bool str = false;
        size_t k = 0;
        for (size_t q = 0; q < b->len; q++) {
          char c = b->data[q];
          if (!str) { str = c == '"'; continue; }
          if (c == '\\') { q++; continue; }
          if (c == '"') { str = false; continue; }
          if (pass == 0) inside++;
          else if (k++ == pick) { b->data[q] = in_string[next_rand() % (sizeof in_string - 1)]; break; }
        }
        if (inside == 0) break;
        pick = at % inside;
      }
    }
    }
  }
}

/* One input the way a libFuzzer target would take it: the spec, a newline,
 * the event. Anything may come; a compiled spec applied must either fail
 * with one of the documented codes or give JSON. Returns 0 spec refused,
 * 1 refused event, 2 a result. */
static int fuzz_one(const uint8_t *data, size_t size) {
  const uint8_t *nl = memchr(data, '\n', size);
  size_t slen = nl ? (size_t)(nl - data) : size;
  const char *event = nl ? (const char *)nl + 1 : "";
  size_t elen = nl ? size - slen - 1 : 0;
  hl_transform *t = NULL;
  int rc = hl_transform_compile((const char *)data, slen, &t, NULL);
  HL_ASSERT(rc == 0 || rc == HL_EINVAL || rc == HL_EPARSE);
  if (rc != 0) return 0;
  hl_buf out = HL_BUF_INIT;
  rc = hl_transform_apply(t, event, elen, &out, NULL);
  HL_ASSERT(rc == 0 || rc == HL_EINVAL || rc == HL_EPARSE || rc == HL_ETOOBIG);
  int result = rc == 0 ? 2 : 1;
  if (rc == 0) {
    /* Deeper than the reader's 512 levels can only come of nesting added to a deep event. */
    hl_json_doc d;
    hl_json_doc_init(&d);
    int prc = hl_json_parse(&d, out.data, out.len, NULL);
    HL_ASSERT_MSG(prc == 0 || prc == HL_ETOOBIG, "not JSON: %s\nfrom: %.*s", out.data, (int)size, (const char *)data);
    hl_json_doc_dispose(&d);
    /* The spec twice on one parse (hl_transform_apply_chain) gives what
     * applying it again to the result gives. */
    hl_buf again = HL_BUF_INIT, chained = HL_BUF_INIT;
    const hl_transform *twice[2] = {t, t};
    int arc = hl_transform_apply(t, out.data, out.len, &again, NULL);
    int crc = hl_transform_apply_chain(twice, 2, event, elen, &chained, NULL, NULL);
    if (arc == 0) {
      HL_ASSERT_MSG(crc == 0, "chain failed (%d) where applying twice gave %s", crc, again.data);
      HL_ASSERT_MSG(chained.len == again.len && memcmp(chained.data, again.data, again.len) == 0,
                    "chain gave %s, applying twice %s\nfrom: %.*s", chained.data, again.data, (int)size,
                    (const char *)data);
    }
    hl_buf_dispose(&again);
    hl_buf_dispose(&chained);
  }
  hl_buf_dispose(&out);
  hl_transform_free(t);
  return result;
}

/* Seeded, so a failure repeats; nothing may crash (ASan in the sanitizer
 * build). */
HL_TEST_T(damaged_specs_and_events_are_handled, 120) {
  static const char *specs[] = {
      OPS("{\"op\":\"set\",\"path\":\"/a/b\",\"value\":{\"x\":[1,2.50]}},{\"op\":\"copy\",\"from\":\"/a\",\"path\":\"/a/c\"},"
          "{\"op\":\"move\",\"from\":\"/arr/0\",\"path\":\"/arr/-\"},{\"op\":\"remove\",\"path\":\"/a/b/x/0\"}"),
      OPS("{\"op\":\"rename\",\"path\":\"/a\",\"to\":\"b\",\"missing\":\"skip\"},{\"op\":\"pick\",\"paths\":[\"/b\",\"/arr/1\",\"\"]},"
          "{\"op\":\"wrap\",\"path\":\"/d/e\"}"),
      OPS("{\"op\":\"template\",\"template\":{\"i\":{\"$ptr\":\"/a/0\",\"$default\":0},\"c\":{\"$const\":{\"$ptr\":1}},"
          "\"l\":[{\"$ptr\":\"/arr\"},{\"$ptr\":\"\"}]},\"missing\":\"skip\"},{\"op\":\"copy\",\"from\":\"\",\"path\":\"/l/0/-\"}"),
  };
  static const char *events[] = {
      "{\"a\":{\"b\":1,\"0\":\"x\"},\"arr\":[1,\"\\u00e9\",{\"k\":[]}],\"n\":-1.5e3}",
      "[{\"a\":[1,2]},null,true]",
  };
  hl_buf s = HL_BUF_INIT, e = HL_BUF_INIT, in = HL_BUF_INIT;
  int counts[3] = {0, 0, 0};
  for (int i = 0; i < 40000; i++) {
    /* The spec damaged, the event, or both. */
    const char *spec = specs[(i / 3) % HL_ARRAY_SIZE(specs)], *event = events[(i / 9) % 2];
    mutate(&s, spec);
    if (i % 3 == 1) { hl_buf_reset(&s); hl_buf_puts(&s, spec); }
    mutate(&e, event);
    if (i % 3 == 0) { hl_buf_reset(&e); hl_buf_puts(&e, event); }
    hl_buf_reset(&in);
    hl_buf_append(&in, s.data, s.len);
    hl_buf_putc(&in, '\n');
    hl_buf_append(&in, e.data, e.len);
    counts[fuzz_one((const uint8_t *)in.data, in.len)]++;
  }
  /* The run must reach the engine, not stop at the parser. */
  printf("    of 40000 inputs: %d specs refused, %d events refused, %d results\n", counts[0], counts[1], counts[2]);
  HL_ASSERT(counts[1] > 1000 && counts[2] > 2000);
  hl_buf_dispose(&s);
  hl_buf_dispose(&e);
  hl_buf_dispose(&in);
}
