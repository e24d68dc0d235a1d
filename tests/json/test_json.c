#include "hl_test.h"
#include "common/hl_common.h"
#include "json/hl_json.h"

static int parse(hl_json_doc *d, const char *s) {
  hl_json_doc_init(d);
  return hl_json_parse(d, s, strlen(s), NULL);
}

static char *reencode(const hl_json *v) {
  hl_buf b = HL_BUF_INIT;
  hl_jw w;
  hl_jw_init(&w, &b);
  hl_jw_value(&w, v);
  return hl_buf_steal(&b, NULL);
}

HL_TEST(round_trip_keeps_number_text) {
  hl_json_doc d;
  HL_ASSERT_EQ_INT(parse(&d, " {\"a\" : [1, 123.4500, -0.0e+10, {\"b\":\"x\\u00e9\\ud83d\\ude00\\n\"}], \"c\":null,\"d\":true} "), 0);
  char *s = reencode(d.root);
  HL_ASSERT_EQ_STR(s, "{\"a\":[1,123.4500,-0.0e+10,{\"b\":\"x\xc3\xa9\xf0\x9f\x98\x80\\n\"}],\"c\":null,\"d\":true}");
  hl_free(s);
  hl_json_doc_dispose(&d);
}

HL_TEST(rejects_what_rfc8259_rejects) {
  const char *bad[] = {"[01]", "{\"a\":1,}", "[1,]", "\"\\ud800\"", "\"\\udc00x\"", "[1] x", "\"a\x01\"",
                       "NaN", "Infinity", "[-]", "1.", ".5", "1e", "\"\xff\"", "\"\xc0\xaf\"",
                       "\"\xed\xa0\x80\"", "{\"a\" 1}", "", "tru", "\"\\x\""};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    hl_json_doc d;
    hl_json_error e;
    hl_json_doc_init(&d);
    HL_ASSERT_MSG(hl_json_parse(&d, bad[i], strlen(bad[i]), &e) != 0, "accepted: %s", bad[i]);
    HL_ASSERT(e.message[0] != '\0');
    hl_json_doc_dispose(&d);
  }
}

HL_TEST(error_positions_are_reported) {
  hl_json_doc d;
  hl_json_error e;
  hl_json_doc_init(&d);
  HL_ASSERT(hl_json_parse(&d, "{\n  \"a\": tru\n}", 14, &e) != 0);
  HL_ASSERT_EQ_INT(e.line, 2);
  HL_ASSERT_EQ_INT(e.column, 8);
  hl_json_doc_dispose(&d);
}

HL_TEST(depth_is_limited) {
  char deep[1200];
  memset(deep, '[', 600);
  memset(deep + 600, ']', 600);
  hl_json_doc d;
  hl_json_doc_init(&d);
  HL_ASSERT_EQ_INT(hl_json_parse(&d, deep, 1200, NULL), HL_ETOOBIG);
  hl_json_doc_dispose(&d);
}

HL_TEST(pointers_resolve_with_escapes) {
  hl_json_doc d;
  HL_ASSERT_EQ_INT(parse(&d, "{\"a/b\":{\"m~n\":[10,20]},\"\":5,\"x\":1,\"x\":2}"), 0);
  const hl_json *v = hl_json_pointer(d.root, "/a~1b/m~0n/1", 12);
  HL_ASSERT(v && v->type == HL_JSON_NUMBER);
  HL_ASSERT_EQ_STR(v->u.str, "20");
  HL_ASSERT(hl_json_pointer(d.root, "/a~1b/m~0n/01", 13) == NULL);
  HL_ASSERT(hl_json_pointer(d.root, "/a~1b/m~0n/2", 12) == NULL);
  HL_ASSERT(hl_json_pointer(d.root, "/", 1) != NULL); /* the "" key */
  HL_ASSERT(hl_json_pointer(d.root, "", 0) == d.root);
  HL_ASSERT_EQ_STR(hl_json_get(d.root, "x")->u.str, "2"); /* last duplicate wins */
  hl_json_doc_dispose(&d);
}

HL_TEST(decimals_compare_exactly) {
#define CMP(a, b) hl_decimal_cmp(a, strlen(a), b, strlen(b))
  HL_ASSERT(CMP("12345678901234567890", "12345678901234567889") > 0);
  HL_ASSERT(CMP("1.0", "1") == 0);
  HL_ASSERT(CMP("1e0", "10e-1") == 0);
  HL_ASSERT(CMP("-0", "0") == 0);
  HL_ASSERT(CMP("1e400", "2e399") > 0);
  HL_ASSERT(CMP("0.10000000000000000001", "0.1") > 0);
  HL_ASSERT(CMP("-5", "-4.9999") < 0);
  HL_ASSERT(CMP("100", "1E2") == 0);
#define MUL(a, b) hl_decimal_is_multiple(a, strlen(a), b, strlen(b))
  HL_ASSERT(MUL("0.3", "0.1"));
  HL_ASSERT(!MUL("0.35", "0.1"));
  HL_ASSERT(MUL("19.99", "0.01"));
  HL_ASSERT(MUL("1e308", "0.5"));
  HL_ASSERT(!MUL("1", "3"));
  HL_ASSERT(MUL("0", "7"));
  HL_ASSERT(!MUL("0.0075", "0.01"));
  HL_ASSERT(hl_decimal_is_integer("1.0", 3));
  HL_ASSERT(hl_decimal_is_integer("1.5e1", 5));
  HL_ASSERT(!hl_decimal_is_integer("1.5", 3));
}

HL_TEST(int64_and_equality) {
  hl_json_doc d;
  HL_ASSERT_EQ_INT(parse(&d, "[9223372036854775807, 9223372036854775808, 1e2, 1.5, {\"a\":1,\"b\":[1.0]}, {\"b\":[1],\"a\":1.00}]"), 0);
  int64_t v;
  HL_ASSERT_EQ_INT(hl_json_int64(&d.root->u.items[0], &v), 0);
  HL_ASSERT(v == INT64_MAX);
  HL_ASSERT(hl_json_int64(&d.root->u.items[1], &v) != 0);
  HL_ASSERT_EQ_INT(hl_json_int64(&d.root->u.items[2], &v), 0);
  HL_ASSERT_EQ_INT(v, 100);
  HL_ASSERT(hl_json_int64(&d.root->u.items[3], &v) != 0);
  HL_ASSERT(hl_json_equal(&d.root->u.items[4], &d.root->u.items[5]));
  hl_json_doc_dispose(&d);
}

HL_TEST(writer_places_commas_and_escapes) {
  hl_buf b = HL_BUF_INIT;
  hl_jw w;
  hl_jw_init(&w, &b);
  hl_jw_obj_begin(&w);
  hl_jw_key(&w, "s"); hl_jw_str(&w, "a\"b\\\x01");
  hl_jw_key(&w, "l"); hl_jw_arr_begin(&w); hl_jw_int(&w, -3); hl_jw_double(&w, 0.1); hl_jw_null(&w); hl_jw_arr_end(&w);
  hl_jw_key(&w, "o"); hl_jw_obj_begin(&w); hl_jw_obj_end(&w);
  hl_jw_obj_end(&w);
  HL_ASSERT_EQ_STR(b.data, "{\"s\":\"a\\\"b\\\\\\u0001\",\"l\":[-3,0.1,null],\"o\":{}}");
  hl_buf_dispose(&b);
}

static char *write_src(const hl_json *v) {
  hl_buf b = HL_BUF_INIT;
  hl_json_write_src(&b, v);
  return hl_buf_steal(&b, NULL);
}

/* Values keep their source text: escapes and number spellings come back as
 * written, whitespace goes, and a compact container is its own span. */
HL_TEST(source_spans_write_back_exactly) {
  hl_json_doc d;
  const char *in = " { \"caf\\u00e9\" : [ 1.50 , \"x\\u00e9\\/\\n\" , 12345678901234567890123 ] ,"
                   "\"k\":{\"a\":-0.0e+10,\"b\":[true,false,null]} } ";
  HL_ASSERT_EQ_INT(parse(&d, in), 0);
  HL_ASSERT(!d.root->src_compact);
  HL_ASSERT_EQ_INT(d.root->src_len, strlen(in) - 2); /* the outer blanks are not the value's */
  const hl_json_member *m = &d.root->u.members[0];
  HL_ASSERT_EQ_STR(m->key, "caf\xc3\xa9");
  HL_ASSERT_EQ_INT(m->key_src_len, 11);
  HL_ASSERT(memcmp(m->key_src, "\"caf\\u00e9\"", 11) == 0);
  const hl_json *s = &m->value.u.items[1];
  HL_ASSERT_EQ_INT(s->src_len, 13);
  HL_ASSERT(memcmp(s->src, "\"x\\u00e9\\/\\n\"", 13) == 0);
  const hl_json *k = hl_json_get(d.root, "k");
  HL_ASSERT(k->src_compact);
  HL_ASSERT(memcmp(k->src, "{\"a\":-0.0e+10,\"b\":[true,false,null]}", k->src_len) == 0);
  char *out = write_src(d.root);
  HL_ASSERT_EQ_STR(out, "{\"caf\\u00e9\":[1.50,\"x\\u00e9\\/\\n\",12345678901234567890123],"
                        "\"k\":{\"a\":-0.0e+10,\"b\":[true,false,null]}}");
  hl_free(out);
  hl_json_doc_dispose(&d);
}

/* A value built by hand has no source and is encoded from its contents. */
HL_TEST(write_src_encodes_values_without_source) {
  hl_json items[2] = {{.type = HL_JSON_STRING, .len = 3, .u.str = "a\"b"}, {.type = HL_JSON_NUMBER, .len = 4, .u.str = "1.00"}};
  hl_json_member mem = {.key = "k\n", .key_len = 2, .value = {.type = HL_JSON_ARRAY, .len = 2, .u.items = items}};
  hl_json obj = {.type = HL_JSON_OBJECT, .len = 1, .u.members = &mem};
  char *out = write_src(&obj);
  HL_ASSERT_EQ_STR(out, "{\"k\\n\":[\"a\\\"b\",1.00]}");
  hl_free(out);
}

HL_TEST(pointer_tokens_are_escaped) {
  hl_buf b = HL_BUF_INIT;
  hl_json_pointer_append(&b, "a/b~c", 5);
  hl_json_pointer_append(&b, "", 0);
  hl_json_pointer_append(&b, "~~//x", 5);
  HL_ASSERT_EQ_STR(b.data, "/a~1b~0c//~0~0~1~1x");
  hl_json_doc d;
  HL_ASSERT_EQ_INT(parse(&d, "{\"a/b~c\":{\"\":{\"~~//x\":7}}}"), 0);
  const hl_json *v = hl_json_pointer(d.root, b.data, b.len);
  HL_ASSERT(v && v->type == HL_JSON_NUMBER && strcmp(v->u.str, "7") == 0);
  hl_json_doc_dispose(&d);
  hl_buf_dispose(&b);
}
