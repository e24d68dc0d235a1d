/* fuzz_json: the exact JSON reader and the writer.
 *
 * Properties: parsing never crashes or leaks, whatever the bytes; a document
 * that parses is written back (hl_jw_value) as JSON that parses again to an
 * equal document (hl_json_equal), and writing that again gives the same
 * bytes (the writer's output is a fixed point).
 * Equality is only asked of documents without duplicate member names
 * (fuzz_has_duplicate_names). */
#include "fuzz_util.h"
#include "json/hl_json.h"

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
  } else {
    FUZZ_CHECK(err.offset <= size && err.message[0] != '\0');
  }
  hl_json_doc_dispose(&a);
  hl_json_doc_dispose(&b);
  return 0;
}
