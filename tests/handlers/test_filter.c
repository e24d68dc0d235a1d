#include "hl_test.h"
#include "common/hl_common.h"
#include "json/hl_decimal.h"
#include "model/hl_filter.h"

static bool match(const char *filter, const char *event) {
  hl_json_doc fd, ed;
  hl_json_doc_init(&fd);
  hl_json_doc_init(&ed);
  HL_ASSERT(hl_json_parse(&fd, filter, strlen(filter), NULL) == 0);
  HL_ASSERT(hl_json_parse(&ed, event, strlen(event), NULL) == 0);
  hl_filter *f = NULL;
  hl_buf err = HL_BUF_INIT;
  HL_ASSERT_MSG(hl_filter_compile(fd.root, &f, &err) == 0, "compile: %s", err.data);
  hl_json_doc_dispose(&fd); /* the compiled filter does not need it */
  bool r = hl_filter_match(f, ed.root);
  hl_filter_free(f);
  hl_json_doc_dispose(&ed);
  return r;
}

static const char *compile_error(const char *filter) {
  static char msg[512];
  hl_json_doc fd;
  hl_json_doc_init(&fd);
  HL_ASSERT(hl_json_parse(&fd, filter, strlen(filter), NULL) == 0);
  hl_filter *f = NULL;
  hl_buf err = HL_BUF_INIT;
  HL_ASSERT(hl_filter_compile(fd.root, &f, &err) == HL_EINVAL);
  HL_ASSERT(f == NULL);
  snprintf(msg, sizeof msg, "%s", err.data);
  hl_buf_dispose(&err);
  hl_json_doc_dispose(&fd);
  return msg;
}

static const char *EV = "{\"amount\": 100.50, \"currency\": \"USD\", \"big\": 12345678901234567890,"
                        "\"tags\": [\"a\"], \"a/b\": {\"m~n\": true}, \"nothing\": null}";

HL_TEST(plain_values_and_equality) {
  HL_ASSERT(match("{}", EV));
  HL_ASSERT(match("{\"/currency\": \"USD\"}", EV));
  HL_ASSERT(!match("{\"/currency\": \"EUR\"}", EV));
  HL_ASSERT(match("{\"/amount\": 100.5}", EV));           /* exact value, not text */
  HL_ASSERT(match("{\"/tags\": [\"a\"]}", EV));
  HL_ASSERT(match("{\"/a~1b/m~0n\": true}", EV));
  HL_ASSERT(match("{\"/nothing\": null}", EV));
  HL_ASSERT(!match("{\"/currency\": \"USD\", \"/amount\": 1}", EV)); /* all must match */
}

HL_TEST(ordering_is_exact) {
  HL_ASSERT(match("{\"/amount\": {\"$gte\": 100}}", EV));
  HL_ASSERT(match("{\"/amount\": {\"$gt\": 100.4999999999999999999}}", EV));
  HL_ASSERT(!match("{\"/amount\": {\"$gt\": 100.50}}", EV));
  HL_ASSERT(match("{\"/amount\": {\"$lte\": 100.5, \"$gte\": 1e2}}", EV));
  HL_ASSERT(match("{\"/big\": {\"$gt\": 12345678901234567889}}", EV));
  HL_ASSERT(!match("{\"/big\": {\"$gt\": 12345678901234567890}}", EV));
  HL_ASSERT(match("{\"/currency\": {\"$lt\": \"ZZZ\"}}", EV));
  HL_ASSERT(!match("{\"/currency\": {\"$gt\": 5}}", EV)); /* type mismatch never matches */
}

HL_TEST(in_ne_exists_and_missing_fields) {
  HL_ASSERT(match("{\"/currency\": {\"$in\": [\"EUR\", \"USD\"]}}", EV));
  HL_ASSERT(!match("{\"/currency\": {\"$in\": []}}", EV));
  HL_ASSERT(match("{\"/currency\": {\"$ne\": \"EUR\"}}", EV));
  HL_ASSERT(match("{\"/missing\": {\"$ne\": 1}}", EV));
  HL_ASSERT(match("{\"/missing\": {\"$exists\": false}}", EV));
  HL_ASSERT(!match("{\"/missing\": {\"$exists\": true}}", EV));
  HL_ASSERT(match("{\"/nothing\": {\"$exists\": true}}", EV));
  HL_ASSERT(!match("{\"/missing\": {\"$gte\": 0}}", EV));
  HL_ASSERT(!match("{\"/missing\": null}", EV));
}

HL_TEST(bad_filters_name_the_field) {
  HL_ASSERT(strstr(compile_error("{\"/amount\": {\"$bogus\": 1}}"), "/~1amount/$bogus") != NULL);
  HL_ASSERT(strstr(compile_error("{\"/c\": {\"$in\": 3}}"), "$in: expected an array") != NULL);
  HL_ASSERT(strstr(compile_error("{\"/c\": {\"$exists\": 1}}"), "true or false") != NULL);
  HL_ASSERT(strstr(compile_error("{\"/c\": {\"$gt\": [1]}}"), "number or a string") != NULL);
  HL_ASSERT(strstr(compile_error("{\"amount\": 1}"), "start with '/'") != NULL);
}

/* The pointer part of an error, as hl_filter_compile_at measures it: an
 * RFC 6901 pointer into the filter, with the operator escaped like any
 * member name, and nothing of the message. */
static void pointer_of(const char *filter, char *out, size_t outlen) {
  hl_json_doc fd;
  hl_json_doc_init(&fd);
  HL_ASSERT(hl_json_parse(&fd, filter, strlen(filter), NULL) == 0);
  hl_filter *f = NULL;
  hl_buf err = HL_BUF_INIT;
  size_t plen = 99;
  HL_ASSERT(hl_filter_compile_at(fd.root, &f, &err, &plen) == HL_EINVAL);
  HL_ASSERT(plen <= err.len && plen < outlen);
  HL_ASSERT(strncmp(err.data + plen, ": ", 2) == 0);
  memcpy(out, err.data, plen);
  out[plen] = '\0';
  hl_buf_dispose(&err);
  hl_json_doc_dispose(&fd);
}

HL_TEST(the_error_pointer_is_measured_apart_from_the_message) {
  char p[128];
  pointer_of("{\"/amount\": {\"$bogus\": 1}}", p, sizeof p);
  HL_ASSERT_EQ_STR(p, "/~1amount/$bogus");
  pointer_of("{\"/a: b\": {\"$in\": 3}}", p, sizeof p); /* ": " inside the pointer */
  HL_ASSERT_EQ_STR(p, "/~1a: b/$in");
  pointer_of("{\"/c\": {\"$x/y~\": 1}}", p, sizeof p);  /* an operator with '/' and '~' */
  HL_ASSERT_EQ_STR(p, "/~1c/$x~1y~0");
  pointer_of("{\"amount\": 1}", p, sizeof p);
  HL_ASSERT_EQ_STR(p, "/amount");
  pointer_of("[1]", p, sizeof p); /* not an object: the filter itself */
  HL_ASSERT_EQ_STR(p, "");
}

/* RFC 6901: a '~' is followed by '0' or '1' only. A key that is no pointer
 * would find its member missing from every event, so "$ne" and
 * {"$exists": false} would match them all: it is refused, at its key. */
HL_TEST(a_key_that_is_no_json_pointer_is_refused) {
  HL_ASSERT(strstr(compile_error("{\"/a~2b\": {\"$ne\": 1}}"), "'~' must be followed by 0 or 1") != NULL);
  HL_ASSERT(strstr(compile_error("{\"/a~\": {\"$exists\": false}}"), "'~' must be followed by 0 or 1") != NULL);
  char p[128];
  pointer_of("{\"/a~2b\": {\"$ne\": 1}}", p, sizeof p);
  HL_ASSERT_EQ_STR(p, "/~1a~02b");
  /* A name longer than any member hl_json_pointer looks up (the message
   * comes after the pointer, which holds the name). */
  char f[700], name[600];
  memset(name, 'n', 512);
  name[512] = '\0';
  snprintf(f, sizeof f, "{\"/x/%s\": {\"$exists\": false}}", name);
  hl_json_doc fd;
  hl_json_doc_init(&fd);
  HL_ASSERT(hl_json_parse(&fd, f, strlen(f), NULL) == 0);
  hl_filter *flt = NULL;
  hl_buf err = HL_BUF_INIT;
  HL_ASSERT(hl_filter_compile(fd.root, &flt, &err) == HL_EINVAL);
  HL_ASSERT(strstr(err.data, "more than 511 bytes") != NULL);
  hl_buf_dispose(&err);
  hl_json_doc_dispose(&fd);
  name[511] = '\0';
  snprintf(f, sizeof f, "{\"/x/%s\": {\"$exists\": false}}", name);
  HL_ASSERT(match(f, EV));
  HL_ASSERT(match("{\"/a~1b/m~0n\": {\"$exists\": true}}", EV));
}

/* Equal values spelled differently are one value to $in, as to $eq. */
HL_TEST(in_finds_a_number_by_its_value_whatever_its_spelling) {
  const char *ones[] = {"1", "1.0", "1e0", "10e-1", "0.1e1", "100E-2", "1.000e+0"};
  for (size_t i = 0; i < HL_ARRAY_SIZE(ones); i++) {
    char ev[64];
    snprintf(ev, sizeof ev, "{\"n\": %s}", ones[i]);
    HL_ASSERT_MSG(match("{\"/n\": {\"$in\": [3, \"1\", 1.0]}}", ev), "%s", ones[i]);
    HL_ASSERT_MSG(match("{\"/n\": {\"$in\": [10e-1]}}", ev), "%s", ones[i]);
    HL_ASSERT_MSG(!match("{\"/n\": {\"$in\": [1.0000000000000000000001, \"1\", -1, 0.1]}}", ev), "%s", ones[i]);
    HL_ASSERT_MSG(match("{\"/n\": {\"$in\": [1.0000000000000000000001, 0.01e2]}}", ev), "%s", ones[i]);
  }
  HL_ASSERT(match("{\"/n\": {\"$in\": [0]}}", "{\"n\": -0.0e7}"));
  HL_ASSERT(match("{\"/n\": {\"$in\": [[1, {\"a\": 2}]]}}", "{\"n\": [1.0, {\"a\": 20e-1}]}"));
  HL_ASSERT(!match("{\"/n\": {\"$in\": [[1, {\"a\": 2}]]}}", "{\"n\": [1.0, {\"a\": 3}]}"));
  HL_ASSERT(match("{\"/n\": {\"$in\": [null, true]}}", "{\"n\": true}"));
  HL_ASSERT(!match("{\"/n\": {\"$in\": [null, true]}}", "{\"n\": false}"));
}

/* {"amount": 1 followed by 900,000 zeros} */
static char *long_number_event(size_t zeros) {
  char *ev = hl_malloc(zeros + 32);
  size_t n = (size_t)snprintf(ev, 32, "{\"amount\": 1");
  memset(ev + n, '0', zeros);
  memcpy(ev + n + zeros, "}", 2);
  return ev;
}

/* The bytes of number text one match reads (hl_decimal_bytes_read), and
 * its answer in *matched. */
static uint64_t bytes_one_match_reads(const char *filter, const char *event, bool *matched) {
  uint64_t before = hl_decimal_bytes_read();
  *matched = match(filter, event);
  return hl_decimal_bytes_read() - before;
}

/* Filters run on the loop. A number an event may make as long as it likes
 * is read once per match, not once per value it is compared with: a $in of
 * 2000 values is a hashed lookup, and a range compares its short bounds
 * with the number's digit count and first digits. */
HL_TEST(a_long_number_is_read_once_per_match_not_once_per_filter_value) {
  const size_t zeros = 900000, len = zeros + 1;
  char *ev = long_number_event(zeros);
  hl_buf in = HL_BUF_INIT;
  hl_buf_puts(&in, "{\"/amount\": {\"$in\": [");
  for (int i = 1; i <= 2000; i++) hl_buf_printf(&in, "%s%d", i > 1 ? "," : "", i);
  hl_buf_puts(&in, "]}}");
  bool m = true;
  uint64_t read = bytes_one_match_reads(in.data, ev, &m);
  HL_ASSERT(!m);
  HL_ASSERT_MSG(read <= 2 * len, "a $in of 2000 values read %llu bytes of number text for a %zu-digit number",
                (unsigned long long)read, len);
  read = bytes_one_match_reads("{\"/amount\": {\"$gte\": 100, \"$lt\": 100000}}", ev, &m);
  HL_ASSERT(!m);
  HL_ASSERT_MSG(read <= len + 64, "a range read %llu bytes of number text for a %zu-digit number",
                (unsigned long long)read, len);
  /* The same number, spelled short, is found and ordered exactly. */
  read = bytes_one_match_reads("{\"/amount\": {\"$in\": [7, 1e900000, \"x\"]}}", ev, &m);
  HL_ASSERT(m);
  HL_ASSERT(bytes_one_match_reads("{\"/amount\": {\"$gte\": 1e900000, \"$lt\": 1.0000000001e900000}}", ev, &m) > 0 && m);
  HL_ASSERT(bytes_one_match_reads("{\"/amount\": {\"$gt\": 1e900000}}", ev, &m) > 0 && !m);
  HL_ASSERT(bytes_one_match_reads("{\"/amount\": {\"$lt\": 10e900000, \"$gt\": 9.99e899999}}", ev, &m) > 0 && m);
  hl_buf_dispose(&in);
  hl_free(ev);
}

/* One memo for all of an event's filters (as the loop routes an event)
 * gives each filter the answer it gives alone, follows each pointer once
 * and reads each number once, and a pointer with a NUL in it (no map key)
 * is followed each time, with the same answer. */
HL_TEST(a_memo_shares_an_events_targets_and_changes_no_answer) {
  static const char *filters[] = {
    "{\"/amount\": {\"$gte\": 100}}", "{\"/amount\": {\"$lt\": 100}}", "{\"/amount\": {\"$in\": [100.5, 7]}}",
    "{\"/amount\": 100.50, \"/currency\": \"USD\"}", "{\"/currency\": {\"$in\": [\"EUR\"]}}",
    "{\"/big\": {\"$gt\": 12345678901234567889}}", "{\"/nothing\": {\"$exists\": true}}",
    "{\"/missing\": {\"$ne\": 1}}", "{\"/a~1b/m~0n\": true}", "{\"/amount\": {\"$in\": [1, 2]}}",
    "{\"/nul\\u0000x\": {\"$exists\": false}}",
  };
  const size_t n = sizeof filters / sizeof *filters;
  hl_json_doc ed;
  hl_json_doc_init(&ed);
  HL_ASSERT(hl_json_parse(&ed, EV, strlen(EV), NULL) == 0);
  hl_filter_memo memo;
  hl_filter_memo_init(&memo, ed.root);
  size_t matched = 0;
  for (size_t i = 0; i < n; i++) {
    hl_json_doc fd;
    hl_json_doc_init(&fd);
    HL_ASSERT(hl_json_parse(&fd, filters[i], strlen(filters[i]), NULL) == 0);
    hl_filter *f = NULL;
    HL_ASSERT_MSG(hl_filter_compile(fd.root, &f, NULL) == 0, "%s", filters[i]);
    hl_json_doc_dispose(&fd);
    bool alone = hl_filter_match(f, ed.root), shared = hl_filter_match_memo(f, &memo);
    HL_ASSERT_MSG(alone == shared, "%s: %d alone, %d with the memo", filters[i], alone, shared);
    matched += shared;
    hl_filter_free(f);
  }
  HL_ASSERT_EQ_INT(matched, 8);
  /* /amount /currency /big /nothing /missing /a~1b/m~0n: once each. */
  HL_ASSERT_EQ_INT(memo.found, 6);
  HL_ASSERT_EQ_INT(memo.numbers_read, 2); /* /amount and /big */
  HL_ASSERT_EQ_INT(memo.hashed, 2);       /* /amount and /currency, for $in */
  hl_filter_memo_dispose(&memo);
  hl_json_doc_dispose(&ed);
}
