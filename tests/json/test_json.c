#include "hl_test.h"
#include "common/hl_common.h"
#include "json/hl_decimal.h"
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

/* A number text's integer, when it is one that fits (hl_json_int64 reads
 * numbers through it); *out is left as it was otherwise. */
HL_TEST(decimal_int64_takes_integers_that_fit_and_nothing_else) {
  static const struct { const char *text; int ok; int64_t want; } cases[] = {
    {"0", 1, 0}, {"-0", 1, 0}, {"12", 1, 12}, {"1.0e1", 1, 10}, {"0.5e1", 1, 5}, {"1e18", 1, 1000000000000000000},
    {"9223372036854775807", 1, INT64_MAX}, {"-9223372036854775808", 1, INT64_MIN},
    {"9223372036854775808", 0, 0}, {"-9223372036854775809", 0, 0}, {"1e19", 0, 0}, {"12e-1", 0, 0},
    {"0.5", 0, 0}, {"1.5e1", 1, 15}, {"-", 0, 0}, {"", 0, 0},
  };
  for (size_t i = 0; i < HL_ARRAY_SIZE(cases); i++) {
    int64_t v = 42;
    int rc = hl_decimal_int64(cases[i].text, strlen(cases[i].text), &v);
    HL_ASSERT_MSG((rc == 0) == (cases[i].ok == 1), "%s: rc %d", cases[i].text, rc);
    HL_ASSERT_MSG(v == (cases[i].ok ? cases[i].want : 42), "%s: %lld", cases[i].text, (long long)v);
  }
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

/* Any document the reader accepts is written back as the same document,
 * however deep: siblings after a subtree nested past 64 levels kept their
 * comma (fuzz/crashes/json/deep_sibling.json). */
HL_TEST(writer_round_trips_the_deepest_documents) {
  for (size_t depth = 60; depth <= HL_JSON_MAX_DEPTH; depth += 4) {
    hl_buf in = HL_BUF_INIT;
    for (size_t i = 0; i < depth - 1; i++) hl_buf_append(&in, "[1,", 3);
    hl_buf_puts(&in, "[]");
    for (size_t i = 0; i < depth - 1; i++) hl_buf_append(&in, ",2]", 3);
    hl_json_doc d;
    HL_ASSERT_EQ_INT(parse(&d, in.data), 0);
    char *s = reencode(d.root);
    HL_ASSERT_MSG(strcmp(s, in.data) == 0, "depth %zu written as %.80s...", depth, s + (depth - 1) * 3 - 10);
    hl_free(s);
    hl_json_doc_dispose(&d);
    hl_buf_dispose(&in);
  }
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

/* Whatever bytes a string holds (a URL path, a header), the writer's
 * output is JSON text: UTF-8 is copied through, every byte that starts no
 * valid sequence becomes U+FFFD, and the result parses back. */
HL_TEST(writer_output_is_json_whatever_the_bytes) {
  static const struct { const char *in; size_t len; const char *out; } cases[] = {
    {"caf\xc3\xa9 \xf0\x9f\x98\x80", 10, "\"caf\xc3\xa9 \xf0\x9f\x98\x80\""},   /* valid: as given */
    {"O\xce\x9b\x9a\x92", 5, "\"O\xce\x9b\xef\xbf\xbd\xef\xbf\xbd\""},     /* stray continuations */
    {"a\xc3", 2, "\"a\xef\xbf\xbd\""},                                     /* cut short at the end */
    {"\xed\xa0\x80", 3, "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""},           /* a surrogate's encoding */
    {"\xc0\xaf\"", 3, "\"\xef\xbf\xbd\xef\xbf\xbd\\\"\""},                     /* overlong, then a quote */
    {"\xff\x00z", 3, "\"\xef\xbf\xbd\\u0000z\""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    hl_buf b = HL_BUF_INIT;
    hl_jw w;
    hl_jw_init(&w, &b);
    hl_jw_strn(&w, cases[i].in, cases[i].len);
    HL_ASSERT_MSG(strcmp(b.data, cases[i].out) == 0, "case %zu: %s", i, b.data);
    hl_json_doc d;
    HL_ASSERT_EQ_INT(parse(&d, b.data), 0);
    hl_json_doc_dispose(&d);
    hl_buf_dispose(&b);
  }
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
/* --- duplicate names, hashing, bounded decimals ------------------------------------ */

#include "json/hl_json_hash.h"

static int parse_unique(hl_json_doc *d, const char *s, hl_json_error *e) {
  hl_json_doc_init(d);
  return hl_json_parse_ex(d, s, strlen(s), HL_JSON_UNIQUE_NAMES, e);
}

HL_TEST(unique_names_refuse_a_duplicate_with_its_object_and_name) {
  hl_json_doc d;
  hl_json_error e;
  HL_ASSERT_EQ_INT(parse_unique(&d, "{\"a\":[0,{\"x/y\":{\"k\":1,\"m\":2,\"k\":3}}]}", &e), HL_EPARSE);
  HL_ASSERT(e.duplicate);
  HL_ASSERT_EQ_STR(e.pointer, "/a/1/x~1y");
  HL_ASSERT_EQ_STR(e.name, "k");
  HL_ASSERT(strstr(e.message, "duplicate member name \"k\"") != NULL);
  hl_json_doc_dispose(&d);
  /* At the root, with many members (the hashed path), the duplicate last. */
  hl_buf b = HL_BUF_INIT;
  hl_buf_putc(&b, '{');
  for (int i = 0; i < 5000; i++) hl_buf_printf(&b, "\"m%d\":%d,", i, i);
  hl_buf_puts(&b, "\"m4321\":0}");
  hl_json_doc_init(&d);
  HL_ASSERT_EQ_INT(hl_json_parse_ex(&d, b.data, b.len, HL_JSON_UNIQUE_NAMES, &e), HL_EPARSE);
  HL_ASSERT(e.duplicate);
  HL_ASSERT_EQ_STR(e.pointer, "");
  HL_ASSERT_EQ_STR(e.name, "m4321");
  hl_json_doc_dispose(&d);
  /* Without the flag the same text parses, and lookups see the last. */
  hl_json_doc_init(&d);
  HL_ASSERT_EQ_INT(hl_json_parse(&d, b.data, b.len, NULL), 0);
  HL_ASSERT_EQ_STR(hl_json_get(d.root, "m4321")->u.str, "0");
  hl_json_doc_dispose(&d);
  hl_buf_dispose(&b);
  /* Names equal after unescaping are the same name; different ones are not. */
  HL_ASSERT_EQ_INT(parse_unique(&d, "{\"\\u0061\":1,\"a\":2}", &e), HL_EPARSE);
  HL_ASSERT_EQ_STR(e.name, "a");
  hl_json_doc_dispose(&d);
  HL_ASSERT_EQ_INT(parse_unique(&d, "{\"a\":1,\"A\":2,\"a\\u0000\":3,\"\":{\"a\":[{\"a\":1}]}}", &e), 0);
  hl_json_doc_dispose(&d);
}

HL_TEST(a_long_duplicate_name_is_cut_at_a_character_boundary) {
  hl_buf b = HL_BUF_INIT;
  hl_buf_puts(&b, "{\"");
  for (int i = 0; i < 100; i++) hl_buf_puts(&b, "\xc3\xa9"); /* 200 bytes of 'é' */
  hl_buf_puts(&b, "\":1,\"");
  for (int i = 0; i < 100; i++) hl_buf_puts(&b, "\xc3\xa9");
  hl_buf_puts(&b, "\":2}");
  hl_json_doc d;
  hl_json_error e;
  hl_json_doc_init(&d);
  HL_ASSERT_EQ_INT(hl_json_parse_ex(&d, b.data, b.len, HL_JSON_UNIQUE_NAMES, &e), HL_EPARSE);
  size_t n = strlen(e.name);
  HL_ASSERT(n > 0 && n < sizeof e.name && n % 2 == 0);
  hl_json_doc_dispose(&d);
  hl_buf_dispose(&b);
}

HL_TEST(equality_is_reflexive_on_objects_with_a_name_twice) {
  hl_json_doc d;
  HL_ASSERT_EQ_INT(parse(&d, "[{\"x\":1,\"x\":2}, {\"x\":2}, {\"x\":1}, {\"x\":2,\"y\":1,\"x\":1}, {\"y\":1,\"x\":1}]"), 0);
  const hl_json *it = d.root->u.items;
  HL_ASSERT(hl_json_equal(&it[0], &it[0]));
  HL_ASSERT(hl_json_equal(&it[0], &it[1]) && hl_json_equal(&it[1], &it[0])); /* the last one wins */
  HL_ASSERT(!hl_json_equal(&it[0], &it[2]) && !hl_json_equal(&it[2], &it[0]));
  HL_ASSERT(hl_json_equal(&it[3], &it[3]) && hl_json_equal(&it[3], &it[4]) && hl_json_equal(&it[4], &it[3]));
  HL_ASSERT(hl_json_hash(&it[0], NULL) == hl_json_hash(&it[1], NULL));
  HL_ASSERT(hl_json_hash(&it[3], NULL) == hl_json_hash(&it[4], NULL));
  hl_json_doc_dispose(&d);
}

HL_TEST(hashes_follow_equality) {
  hl_json_doc d;
  HL_ASSERT_EQ_INT(parse(&d, "[[1, 1.0, 10e-1, 0.1e1, 1.000e0], [0, -0, 0.0, 0e5], [1500, 15e2, 1.5e3, 1500.00],"
                             " [{\"a\":[1,{\"b\":null}],\"c\":\"x\"}, {\"c\":\"x\",\"a\":[1.0,{\"b\":null}]}],"
                             " [1, 2, \"1\", [1], {\"1\":1}, true, false, null, 1.01, 0.1, -1]]"), 0);
  for (uint32_t g = 0; g < 4; g++) {
    const hl_json *grp = &d.root->u.items[g];
    for (uint32_t i = 1; i < grp->len; i++) {
      HL_ASSERT_MSG(hl_json_equal(&grp->u.items[0], &grp->u.items[i]), "group %u item %u", g, i);
      HL_ASSERT_MSG(hl_json_hash(&grp->u.items[0], NULL) == hl_json_hash(&grp->u.items[i], NULL), "group %u item %u", g, i);
    }
  }
  const hl_json *diff = &d.root->u.items[4];
  for (uint32_t i = 0; i < diff->len; i++)
    for (uint32_t j = i + 1; j < diff->len; j++) {
      HL_ASSERT(!hl_json_equal(&diff->u.items[i], &diff->u.items[j]));
      HL_ASSERT_MSG(hl_json_hash(&diff->u.items[i], NULL) != hl_json_hash(&diff->u.items[j], NULL), "%u %u", i, j);
    }
  char c[64];
  size_t n = hl_decimal_canonical("-0012.3400e+2", 13, c, sizeof c);
  HL_ASSERT_EQ_INT(n, 5);
  c[n] = '\0';
  HL_ASSERT_EQ_STR(c, "-1234");
  n = hl_decimal_canonical("1500", 4, c, sizeof c);
  c[n] = '\0';
  HL_ASSERT_EQ_STR(c, "15e2");
  n = hl_decimal_canonical("0.00120", 7, c, sizeof c);
  c[n] = '\0';
  HL_ASSERT_EQ_STR(c, "12e-4");
  HL_ASSERT_EQ_INT(hl_decimal_canonical("123456789", 9, c, 4), 9); /* too small: the length it needs */
  hl_json_doc_dispose(&d);
}

/* A number of n digits: "7" followed by digits, then the given tail. */
static char *long_number(size_t n, const char *tail) {
  char *s = hl_malloc(n + strlen(tail) + 1);
  s[0] = '7';
  for (size_t i = 1; i < n; i++) s[i] = (char)('0' + (i * 7) % 10);
  strcpy(s + n, tail);
  return s;
}

HL_TEST(multiple_of_is_exact_on_huge_numbers) {
  /* 500,000 digits: the old reader overflowed mbedTLS's bignum size and
   * answered "not a multiple" after seconds. */
  char *a = long_number(500000, "");
  size_t al = strlen(a);
  /* Its remainder by 7, 9 and 0.01 computed digit by digit here. */
  unsigned r7 = 0, r9 = 0;
  for (size_t i = 0; i < al; i++) { r7 = (r7 * 10 + (unsigned)(a[i] - '0')) % 7; r9 = (r9 * 10 + (unsigned)(a[i] - '0')) % 9; }
  HL_ASSERT_EQ_INT(hl_decimal_is_multiple(a, al, "7", 1), r7 == 0);
  HL_ASSERT_EQ_INT(hl_decimal_is_multiple(a, al, "9", 1), r9 == 0);
  HL_ASSERT(hl_decimal_is_multiple(a, al, "0.01", 4));
  HL_ASSERT(hl_decimal_is_multiple(a, al, "1", 1));
  /* Appending "0" multiplies by 10: then 2 and 5 divide it, 3 only if before. */
  char *a0 = long_number(500000, "0");
  HL_ASSERT(hl_decimal_is_multiple(a0, al + 1, "20", 2) == ((a[al - 1] - '0') % 2 == 0));
  HL_ASSERT(hl_decimal_is_multiple(a0, al + 1, "10", 2));
  /* A divisor of 40 digits takes the bignum path: a·d is a multiple of d. */
  const char *d40 = "1234567890123456789012345678901234567891";
  hl_buf prod = HL_BUF_INIT;
  hl_buf_printf(&prod, "%se500", d40);
  HL_ASSERT(hl_decimal_is_multiple(prod.data, prod.len, d40, strlen(d40)));
  hl_buf_reset(&prod);
  hl_buf_printf(&prod, "%s", d40);
  for (int i = 0; i < 500; i++) hl_buf_putc(&prod, '0');
  hl_buf_putc(&prod, '1'); /* d40·10^501 + 1: never a multiple */
  HL_ASSERT(!hl_decimal_is_multiple(prod.data, prod.len, d40, strlen(d40)));
  uint64_t work = 0;
  int r = hl_decimal_is_multiple_bounded(a, al, d40, strlen(d40), 1000, &work);
  HL_ASSERT_EQ_INT(r, -1); /* more work than allowed: undecided, never a false "no" */
  HL_ASSERT(work > 1000);
  r = hl_decimal_is_multiple_bounded(a, al, "7", 1, 1000000, &work);
  HL_ASSERT_EQ_INT(r, r7 == 0);
  HL_ASSERT(work < 100000); /* linear: about one unit per 18 digits */
  hl_buf_dispose(&prod);
  hl_free(a);
  hl_free(a0);
}

/* A string with escapes is decoded into a buffer sized to that string, not
 * to the rest of the input: 20,000 strings "\n" in a 100 KB body once cost
 * ~80 MB and over a second (each took a buffer as long as what followed). */
HL_TEST(escaped_strings_cost_their_own_length) {
  enum { N = 20000 };
  hl_buf b = HL_BUF_INIT;
  hl_buf_puts(&b, "[");
  for (int i = 0; i < N; i++) hl_buf_puts(&b, i ? ",\"\\n\"" : "\"\\n\"");
  hl_buf_puts(&b, "]");
  hl_json_doc d;
  hl_json_doc_init(&d);
  HL_ASSERT_EQ_INT(hl_json_parse(&d, b.data, b.len, NULL), 0);
  HL_ASSERT_EQ_INT(d.root->len, N);
  HL_ASSERT_EQ_STR(hl_json_str(&d.root->u.items[N - 1]), "\n");
  /* The nodes (N of them) and N short strings: a few times the input, where
   * the old sizing held the sum of every suffix (N^2 / 2 * 5 bytes). */
  size_t held = hl_arena_bytes(&d.arena);
  HL_ASSERT_MSG(held < 16 * b.len + N * sizeof(hl_json), "the arena holds %zu bytes for a %zu-byte input", held, b.len);
  hl_json_doc_dispose(&d);
  /* The buffer is sized past escaped quotes and backslashes, and an
   * unterminated string is still refused. */
  HL_ASSERT_EQ_INT(parse(&d, "[\"a\\\"b\\\\\",\"\\u00e9\\\"\"]"), 0);
  HL_ASSERT_EQ_STR(hl_json_str(&d.root->u.items[0]), "a\"b\\");
  HL_ASSERT_EQ_STR(hl_json_str(&d.root->u.items[1]), "\xc3\xa9\"");
  hl_json_doc_dispose(&d);
  HL_ASSERT(parse(&d, "[\"a\\n") != 0);
  hl_json_doc_dispose(&d);
  HL_ASSERT(parse(&d, "[\"a\\") != 0);
  hl_json_doc_dispose(&d);
  hl_buf_dispose(&b);
}

/* An exponent is the sender's to write with as many digits as it likes:
 * numbers that differ only in its last digit, or spell one value with
 * exponents of different lengths, compare (and hash) by exact value. */
HL_TEST(exponents_of_any_length_are_compared_exactly) {
#define CMP(a, b) hl_decimal_cmp(a, strlen(a), b, strlen(b))
  HL_ASSERT(CMP("1e10000000000001", "1e10000000000000") > 0);
  HL_ASSERT(CMP("1e100000000000000000001", "1e100000000000000000000") > 0);
  HL_ASSERT(CMP("-1e100000000000000000001", "-1e100000000000000000000") < 0);
  HL_ASSERT(CMP("1e-100000000000000000001", "1e-100000000000000000000") < 0);
  HL_ASSERT(CMP("1e-100000000000000000000", "0") > 0);
  HL_ASSERT(CMP("1e-100000000000000000000", "1e-999999999999999999") < 0);
  HL_ASSERT(CMP("1e100000000000000000000", "9e999999999999999999") > 0);
  HL_ASSERT(CMP("10e99999999999999999999", "1e100000000000000000000") == 0);
  HL_ASSERT(CMP("0.5e1000000000000000000", "5e999999999999999999") == 0);
  HL_ASSERT(CMP("100e-1000000000000000002", "1e-1000000000000000000") == 0);
  HL_ASSERT(CMP("0e100000000000000000000", "0") == 0);
  HL_ASSERT(CMP("1e0000000000000000000000001", "10") == 0);
#undef CMP
  static const char *const same[][2] = {
    {"10e99999999999999999999", "1e100000000000000000000"},
    {"0.5e1000000000000000000", "5e999999999999999999"},
    {"100e-1000000000000000002", "1e-1000000000000000000"},
    {"-1.20e+0000000000000000000012", "-12e11"},
  };
  for (size_t i = 0; i < HL_ARRAY_SIZE(same); i++) {
    char a[64], b[64];
    size_t an = hl_decimal_canonical(same[i][0], strlen(same[i][0]), a, sizeof a);
    size_t bn = hl_decimal_canonical(same[i][1], strlen(same[i][1]), b, sizeof b);
    HL_ASSERT_MSG(an == bn && memcmp(a, b, an) == 0, "%s: %.*s, %s: %.*s", same[i][0], (int)an, a, same[i][1], (int)bn, b);
  }
  char c[64];
  size_t n = hl_decimal_canonical("0.5e1000000000000000000", 23, c, sizeof c);
  HL_ASSERT_EQ_INT(n, 20);
  c[n] = '\0';
  HL_ASSERT_EQ_STR(c, "5e999999999999999999");
  HL_ASSERT(hl_decimal_is_integer("1.5e100000000000000000000", 25));
  HL_ASSERT(!hl_decimal_is_integer("1e-100000000000000000000", 24));
  int64_t v = 42;
  HL_ASSERT(hl_decimal_int64("1e100000000000000000000", 23, &v) != 0 && v == 42);
  HL_ASSERT(hl_decimal_is_multiple("1e100000000000000000000", 23, "0.5", 3));
  HL_ASSERT(!hl_decimal_is_multiple("1e-100000000000000000000", 24, "1", 1));
}

/* m × 10^k (m < 10^6) written at random: the point moved, zeros added
 * before and after, an exponent of any case, sign and leading zeros. */
static void spell(char *out, size_t cap, int64_t m, int k, unsigned *seed) {
  char digits[64];
  int n = snprintf(digits, sizeof digits, "%lld", (long long)(m < 0 ? -m : m));
  int shift = (int)(rand_r(seed) % 7) - 3; /* written as digits × 10^(k - shift) × 10^shift */
  int point = n + (k - shift);             /* digits before the point */
  char mant[128];
  size_t o = 0;
  if (point <= 0) {
    o += (size_t)snprintf(mant + o, sizeof mant - o, "0.");
    for (int i = 0; i < -point; i++) mant[o++] = '0';
    memcpy(mant + o, digits, (size_t)n);
    o += (size_t)n;
  } else if (point >= n) {
    memcpy(mant + o, digits, (size_t)n);
    o += (size_t)n;
    for (int i = n; i < point; i++) mant[o++] = '0';
    if (rand_r(seed) % 2) o += (size_t)snprintf(mant + o, sizeof mant - o, ".0");
  } else {
    memcpy(mant + o, digits, (size_t)point);
    o += (size_t)point;
    mant[o++] = '.';
    memcpy(mant + o, digits + point, (size_t)(n - point));
    o += (size_t)(n - point);
  }
  if (memchr(mant, '.', o))
    for (int z = (int)(rand_r(seed) % 3); z > 0; z--) mant[o++] = '0';
  mant[o] = '\0';
  const char *zeros = rand_r(seed) % 4 == 0 ? "00" : "";
  if (shift == 0 && rand_r(seed) % 2)
    snprintf(out, cap, "%s%s", m < 0 ? "-" : "", mant);
  else
    snprintf(out, cap, "%s%s%c%s%s%d", m < 0 ? "-" : "", mant, rand_r(seed) % 2 ? 'e' : 'E',
             shift >= 0 && rand_r(seed) % 2 ? "+" : shift < 0 ? "-" : "", zeros, shift < 0 ? -shift : shift);
}

/* Compared in place (hl_decimal_view_cmp), numbers order as their values
 * do, however they are written: checked against 128-bit integers. */
HL_TEST(decimal_views_order_numbers_as_their_values) {
  unsigned seed = 12345;
  for (int t = 0; t < 20000; t++) {
    int64_t m[2];
    int k[2];
    __int128 val[2];
    char text[2][160];
    hl_decimal_view v[2];
    for (int j = 0; j < 2; j++) {
      m[j] = (int64_t)(rand_r(&seed) % 2000) - 1000;
      if (rand_r(&seed) % 3 == 0) m[j] *= 997;
      k[j] = (int)(rand_r(&seed) % 9) - 4;
      if (j == 1 && rand_r(&seed) % 3 == 0) { m[1] = m[0] * 10; k[1] = k[0] - 1; } /* the same value */
      val[j] = m[j];
      for (int e = k[j] + 8; e > 0; e--) val[j] *= 10; /* scaled by 10^8: exact */
      spell(text[j], sizeof text[j], m[j], k[j], &seed);
      HL_ASSERT_MSG(hl_decimal_view_read(&v[j], text[j], strlen(text[j])), "%s", text[j]);
    }
    int want = val[0] < val[1] ? -1 : val[0] > val[1];
    int got = hl_decimal_view_cmp(&v[0], &v[1]), r = hl_decimal_cmp(text[0], strlen(text[0]), text[1], strlen(text[1]));
    HL_ASSERT_MSG((got > 0) - (got < 0) == want && (r > 0) - (r < 0) == want, "%s vs %s: %d %d, want %d", text[0],
                  text[1], got, r, want);
  }
}

/* A comparison reads the longer number no further than the digits it
 * shares with the shorter: 10^900000 - 1 against 100 decides on their
 * digit counts, and against 1e900000 on the first digit. */
HL_TEST(a_comparison_reads_digits_only_while_the_numbers_agree) {
  size_t n = 900000;
  char *big = hl_malloc(n + 1);
  memset(big, '9', n);
  hl_decimal_view b, s;
  HL_ASSERT(hl_decimal_view_read(&b, big, n));
  struct { const char *text; int want; } cases[] = {{"100", 1}, {"1e900000", -1}, {"-5", 1},
                                                     {"9.99e899999", 1}, {"99.9e899998", 1}, {"1e-900000", 1}};
  for (size_t i = 0; i < HL_ARRAY_SIZE(cases); i++) {
    HL_ASSERT(hl_decimal_view_read(&s, cases[i].text, strlen(cases[i].text)));
    uint64_t before = hl_decimal_bytes_read();
    int r = hl_decimal_view_cmp(&b, &s);
    uint64_t read = hl_decimal_bytes_read() - before;
    HL_ASSERT_MSG((r > 0) - (r < 0) == cases[i].want, "%s: %d", cases[i].text, r);
    HL_ASSERT_MSG(read <= 2 * strlen(cases[i].text), "%s: read %llu bytes", cases[i].text, (unsigned long long)read);
  }
  /* Equal up to the shorter's end: the longer's rest is read for a digit
   * other than 0, and is one. */
  HL_ASSERT(hl_decimal_view_read(&s, "9.999e899999", 12));
  HL_ASSERT(hl_decimal_view_cmp(&b, &s) > 0);
  big[n - 1] = '0';
  memset(big + 4, '0', n - 4); /* 9999000…0 */
  HL_ASSERT(hl_decimal_view_read(&b, big, n));
  HL_ASSERT(hl_decimal_view_cmp(&b, &s) == 0);
  HL_ASSERT(hl_decimal_cmp(big, n, "9999e899996", 11) == 0);
  HL_ASSERT(hl_decimal_cmp(big, n, "9999.00000000000000000000000000001e899996", 41) < 0);
  hl_free(big);
}
