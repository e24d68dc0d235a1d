/* fuzz_schema: the JSON Schema compiler and validator.
 *
 * Input: a schema document, a line "---", an instance (fuzz_util.h); without
 * the separator the schema is validated against itself. Properties: compiling
 * any document never crashes or leaks; a compiled schema validates any
 * instance without crashing; the answer is the same twice (validation is
 * pure); "valid" comes with no errors and "invalid" with at least one, each
 * naming a keyword, and every instance path it reports points into the
 * instance. */
#include "fuzz_util.h"
#include "json/hl_json.h"
#include "schema/hl_schema.h"

static bool check(const hl_schema *s, const hl_json *instance) {
  hl_schema_errors e1, e2;
  bool v1 = hl_schema_validate(s, instance, &e1);
  bool v2 = hl_schema_validate(s, instance, &e2);
  FUZZ_CHECK(v1 == v2 && e1.total == e2.total && e1.count == e2.count);
  FUZZ_CHECK(hl_schema_validate(s, instance, NULL) == v1);
  if (v1) {
    FUZZ_CHECK(e1.total == 0 && e1.count == 0);
  } else {
    FUZZ_CHECK(e1.count >= 1 && e1.count <= HL_SCHEMA_MAX_ERRORS && e1.count <= e1.total);
    for (size_t i = 0; i < e1.count; i++) {
      const hl_schema_error *er = &e1.items[i];
      FUZZ_CHECK(er->keyword[0] != '\0' && er->message[0] != '\0');
      /* Paths are cut at 255 bytes; a shorter one must resolve. */
      size_t n = strlen(er->instance_path);
      if (n < sizeof er->instance_path - 1)
        FUZZ_CHECK(hl_json_pointer(instance, er->instance_path, n) != NULL);
    }
  }
  hl_schema_errors_dispose(&e1);
  hl_schema_errors_dispose(&e2);
  return v1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_pair p;
  fuzz_pair_parse(&p, data, size);
  if (p.first) {
    hl_schema *s = NULL;
    hl_schema_errors errs;
    /* Both drafts: "$schema" chooses, else the default; the first byte
     * picks the default so both get fuzzed. */
    hl_schema_options opt = {.default_draft = size && (data[0] & 1) ? HL_DRAFT_07 : HL_DRAFT_2020_12};
    int rc = hl_schema_compile(p.first, &opt, &s, &errs);
    if (rc == 0) {
      FUZZ_CHECK(s != NULL);
      check(s, p.second);
      hl_schema_free(s);
    } else {
      FUZZ_CHECK(errs.count >= 1 && errs.count <= errs.total);
    }
    hl_schema_errors_dispose(&errs);
  }
  fuzz_pair_dispose(&p);
  return 0;
}
