/* fuzz_json: the exact JSON reader and the writer.
 *
 * Properties: parsing never crashes or leaks, whatever the bytes; a document
 * that parses is written back (hl_jw_value) as JSON that parses again to an
 * equal document (hl_json_equal), and writing that again gives the same
 * bytes (the writer's output is a fixed point).
 * Equality is only asked of documents without duplicate member names
 * (fuzz_has_duplicate_names).
 *
 * The exact decimals (hl_decimal_*, what filters and schemas compare with)
 * are checked on the document's numbers: comparison is antisymmetric and
 * agrees between the 128-bit fast path and the arbitrary-size path (a
 * number spelled with "e0" takes the latter), so does "is a multiple of",
 * and a number read as an int64 has exactly the text's value.
 *
 * Parsing with HL_JSON_UNIQUE_NAMES accepts exactly the documents without
 * a name twice in an object, and refuses the others as duplicates. (Its
 * pointer to the object holding the name follows the first of two equal
 * names on the way, hl_json_pointer the last, so it is not checked here.)
 *
 * hl_json_write_src (values written back as they came) gives exactly the
 * input without its whitespace between tokens; and every member is found
 * again by the JSON pointer hl_json_pointer_append builds for it.
 *
 * Parsing with HL_JSON_BORROW (strings and numbers pointing into the input)
 * accepts exactly the same inputs, and its document is the same: written
 * by value (hl_jw_value, which goes by the lengths) and by source, the
 * bytes are those of the copying parse. */
#include "fuzz_util.h"
#include "json/hl_decimal.h"
#include "json/hl_json.h"

#define MAX_NUMS 12

static void collect_numbers(const hl_json *v, const hl_json **out, size_t *n) {
  if (*n == MAX_NUMS) return;
  if (v->type == HL_JSON_NUMBER) {
    out[(*n)++] = v;
  } else if (v->type == HL_JSON_ARRAY) {
    for (uint32_t i = 0; i < v->len; i++) collect_numbers(&v->u.items[i], out, n);
  } else if (v->type == HL_JSON_OBJECT) {
    for (uint32_t i = 0; i < v->len; i++) collect_numbers(&v->u.members[i].value, out, n);
  }
}

static int sign(int c) { return (c > 0) - (c < 0); }

/* The number's text with "e0" appended (the same value, off the fast
 * path), or the text itself when it has an exponent already. */
static const char *slow(const hl_json *v, hl_buf *b, size_t *len) {
  hl_buf_reset(b);
  hl_buf_append(b, v->u.str, v->len);
  if (!memchr(v->u.str, 'e', v->len) && !memchr(v->u.str, 'E', v->len)) hl_buf_puts(b, "e0");
  *len = b->len;
  return b->data;
}

static void check_decimals(const hl_json *root) {
  const hl_json *nums[MAX_NUMS];
  size_t n = 0;
  collect_numbers(root, nums, &n);
  hl_buf sa = HL_BUF_INIT, sb = HL_BUF_INIT;
  for (size_t i = 0; i < n; i++) {
    const hl_json *a = nums[i];
    int64_t v;
    if (hl_json_int64(a, &v) == 0) {
      char t[24];
      snprintf(t, sizeof t, "%lld", (long long)v);
      FUZZ_CHECK(hl_decimal_cmp(a->u.str, a->len, t, strlen(t)) == 0);
      FUZZ_CHECK(hl_decimal_is_integer(a->u.str, a->len));
    }
    for (size_t j = 0; j < n; j++) {
      const hl_json *b = nums[j];
      size_t al, bl;
      const char *as = slow(a, &sa, &al), *bs = slow(b, &sb, &bl);
      int c = sign(hl_decimal_cmp(a->u.str, a->len, b->u.str, b->len));
      FUZZ_CHECK(c == -sign(hl_decimal_cmp(b->u.str, b->len, a->u.str, a->len)));
      FUZZ_CHECK(c == sign(hl_decimal_cmp(as, al, b->u.str, b->len)));
      FUZZ_CHECK(c == sign(hl_decimal_cmp(as, al, bs, bl)));
      if (i == j) FUZZ_CHECK(c == 0);
      if (hl_decimal_cmp(b->u.str, b->len, "0", 1) > 0)
        FUZZ_CHECK(hl_decimal_is_multiple(a->u.str, a->len, b->u.str, b->len) == hl_decimal_is_multiple(as, al, bs, bl));
    }
  }
  hl_buf_dispose(&sa);
  hl_buf_dispose(&sb);
}

/* The input without whitespace between tokens (valid JSON assumed). */
static void compact(const char *s, size_t n, hl_buf *out) {
  bool in_str = false;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (in_str) {
      hl_buf_putc(out, c);
      if (c == '\\') hl_buf_putc(out, s[++i]);
      else if (c == '"') in_str = false;
    } else if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
      hl_buf_putc(out, c);
      in_str = c == '"';
    }
  }
}

/* Every member of every object is found again by its pointer. */
static void check_pointers(const hl_json *root, const hl_json *v, hl_buf *ptr, int depth) {
  if (depth > 64) return;
  size_t at = ptr->len;
  for (uint32_t i = 0; i < v->len && (v->type == HL_JSON_ARRAY || v->type == HL_JSON_OBJECT); i++) {
    const hl_json *child;
    if (v->type == HL_JSON_OBJECT) {
      const hl_json_member *m = &v->u.members[i];
      hl_json_pointer_append(ptr, m->key, m->key_len);
      child = &m->value;
      if (m->key_len >= 511) { /* longer reference tokens are not resolved */
        ptr->len = at;
        continue;
      }
      FUZZ_CHECK(hl_json_pointer(root, ptr->data, ptr->len) == child);
    } else {
      hl_buf_printf(ptr, "/%u", i);
      child = &v->u.items[i];
      FUZZ_CHECK(hl_json_pointer(root, ptr->data, ptr->len) == child);
    }
    check_pointers(root, child, ptr, depth + 1);
    ptr->len = at;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  hl_json_doc a, b;
  hl_json_doc_init(&a);
  hl_json_doc_init(&b);
  hl_json_error err;
  if (hl_json_parse(&a, (const char *)data, size, &err) == 0) {
    FUZZ_CHECK(a.root != NULL);
    hl_buf w1 = HL_BUF_INIT, w2 = HL_BUF_INIT;
    hl_jw jw;
    hl_jw_init(&jw, &w1);
    hl_jw_value(&jw, a.root);
    FUZZ_CHECK(hl_json_parse(&b, w1.data, w1.len, &err) == 0);
    if (!fuzz_has_duplicate_names(a.root)) {
      FUZZ_CHECK(hl_json_equal(a.root, a.root));
      FUZZ_CHECK(hl_json_equal(a.root, b.root));
      FUZZ_CHECK(hl_json_equal(b.root, a.root));
    }
    hl_jw_init(&jw, &w2);
    hl_jw_value(&jw, b.root);
    FUZZ_CHECK(w1.len == w2.len && memcmp(w1.data, w2.data, w1.len) == 0);
    hl_buf_dispose(&w1);
    hl_buf_dispose(&w2);
    check_decimals(a.root);
    hl_buf src = HL_BUF_INIT, want = HL_BUF_INIT;
    hl_json_write_src(&src, a.root);
    compact((const char *)data, size, &want);
    FUZZ_CHECK(src.len == want.len && memcmp(src.data, want.data, src.len) == 0);
    hl_buf_dispose(&src);
    hl_buf_dispose(&want);
    hl_json_doc u;
    hl_json_doc_init(&u);
    hl_json_error uerr;
    bool dup = fuzz_has_duplicate_names(a.root);
    int urc = hl_json_parse_ex(&u, (const char *)data, size, HL_JSON_UNIQUE_NAMES, &uerr);
    FUZZ_CHECK((urc == 0) == !dup && (urc == 0 || uerr.duplicate));
    hl_json_doc_dispose(&u);
    hl_json_doc bo;
    hl_json_doc_init(&bo);
    FUZZ_CHECK(hl_json_parse_ex(&bo, (const char *)data, size, HL_JSON_BORROW, NULL) == 0);
    hl_buf b1 = HL_BUF_INIT, b2 = HL_BUF_INIT, b3 = HL_BUF_INIT;
    hl_jw_init(&jw, &b1);
    hl_jw_value(&jw, a.root);
    hl_jw_init(&jw, &b2);
    hl_jw_value(&jw, bo.root);
    FUZZ_CHECK(b1.len == b2.len && memcmp(b1.data, b2.data, b1.len) == 0);
    hl_json_write_src(&b3, bo.root);
    hl_buf_reset(&b1);
    hl_json_write_src(&b1, a.root);
    FUZZ_CHECK(b1.len == b3.len && memcmp(b1.data, b3.data, b1.len) == 0);
    hl_buf_dispose(&b1);
    hl_buf_dispose(&b2);
    hl_buf_dispose(&b3);
    hl_json_doc_dispose(&bo);
    if (!dup) {
      hl_buf ptr = HL_BUF_INIT;
      hl_buf_puts(&ptr, "");
      check_pointers(a.root, a.root, &ptr, 0);
      hl_buf_dispose(&ptr);
    }
  } else {
    FUZZ_CHECK(err.offset <= size && err.message[0] != '\0');
    hl_json_doc bo;
    hl_json_doc_init(&bo);
    hl_json_error berr;
    FUZZ_CHECK(hl_json_parse_ex(&bo, (const char *)data, size, HL_JSON_BORROW, &berr) != 0 &&
               berr.offset == err.offset);
    hl_json_doc_dispose(&bo);
  }
  hl_json_doc_dispose(&a);
  hl_json_doc_dispose(&b);
  return 0;
}
