#include "schema/hl_schema_cli.h"
#include "common/hl_buf.h"
#include "common/hl_common.h"
#include "common/hl_input.h"
#include "schema/hl_schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_errors(const hl_schema_errors *errs) {
  hl_buf b = HL_BUF_INIT;
  hl_jw w;
  hl_jw_init(&w, &b);
  hl_jw_arr_begin(&w);
  for (size_t i = 0; i < errs->count; i++) {
    const hl_schema_error *e = &errs->items[i];
    hl_jw_obj_begin(&w);
    hl_jw_key(&w, "path"); hl_jw_str(&w, e->instance_path);
    hl_jw_key(&w, "keyword"); hl_jw_str(&w, e->keyword);
    hl_jw_key(&w, "schema_path"); hl_jw_str(&w, e->schema_path);
    hl_jw_key(&w, "message"); hl_jw_str(&w, e->message);
    hl_jw_obj_end(&w);
  }
  hl_jw_arr_end(&w);
  printf("invalid %s\n", b.data);
  hl_buf_dispose(&b);
}

/* Validates one document text; prints the line; returns 0 valid, 1 invalid. */
static int check_text(void *ctx, const char *text, size_t len, const char *label) {
  const hl_schema *s = ctx;
  hl_json_doc doc;
  hl_json_error jerr;
  hl_json_doc_init(&doc);
  int rc;
  if (hl_json_parse_ex(&doc, text, len, HL_JSON_UNIQUE_NAMES, &jerr) != 0) { /* as the API reads events */
    hl_buf b = HL_BUF_INIT;
    hl_jw w;
    hl_jw_init(&w, &b);
    char msg[256];
    snprintf(msg, sizeof msg, "%s: not valid JSON: %s at line %d, column %d", label, jerr.message, jerr.line,
             jerr.column);
    hl_jw_arr_begin(&w);
    hl_jw_obj_begin(&w);
    hl_jw_key(&w, "path"); hl_jw_str(&w, "");
    hl_jw_key(&w, "keyword"); hl_jw_str(&w, "json");
    hl_jw_key(&w, "message"); hl_jw_str(&w, msg);
    hl_jw_obj_end(&w);
    hl_jw_arr_end(&w);
    printf("invalid %s\n", b.data);
    hl_buf_dispose(&b);
    rc = 1;
  } else {
    hl_schema_errors errs;
    hl_schema_errors_init(&errs);
    if (hl_schema_validate(s, doc.root, &errs)) {
      printf("valid\n");
      rc = 0;
    } else {
      print_errors(&errs);
      rc = 1;
    }
    hl_schema_errors_dispose(&errs);
  }
  hl_json_doc_dispose(&doc);
  return rc;
}

static const char check_usage[] = "usage: hookloop schema check SCHEMA [INSTANCE...]\n"
                                  "  with no INSTANCE, one JSON document per line is read from stdin\n";

int hl_schema_cli_check(int argc, char **argv) {
  hl_buf text = HL_BUF_INIT;
  if (hl_input_read_first(argc, argv, check_usage, "hookloop schema check", "schema", &text) != 0) return 2;
  hl_json_doc sdoc;
  hl_json_error jerr;
  hl_json_doc_init(&sdoc);
  if (hl_json_parse_ex(&sdoc, text.data ? text.data : "", text.len, HL_JSON_UNIQUE_NAMES, &jerr) != 0) {
    fprintf(stderr, "hookloop schema check: %s is not valid JSON (%s at line %d, column %d)\n", argv[0],
            jerr.message, jerr.line, jerr.column);
    hl_buf_dispose(&text);
    hl_json_doc_dispose(&sdoc);
    return 2;
  }
  hl_buf_dispose(&text);
  hl_schema *s = NULL;
  hl_schema_errors errs;
  hl_schema_errors_init(&errs);
  /* As at registration: it must compile, in a dialect read here, and match
   * its meta-schema. */
  hl_schema_options sopt = {.known_dialects_only = true};
  if (hl_schema_compile(sdoc.root, &sopt, &s, &errs) != 0 || hl_schema_check_meta(sdoc.root, &errs) != 0) {
    fprintf(stderr, "hookloop schema check: %s is not a usable JSON Schema:\n", argv[0]);
    for (size_t i = 0; i < errs.count; i++) fprintf(stderr, "  %s\n", errs.items[i].message);
    hl_schema_free(s);
    hl_json_doc_dispose(&sdoc);
    return 2;
  }
  hl_json_doc_dispose(&sdoc);
  int result = hl_input_each("hookloop schema check", argv + 1, argc - 1, stdin, check_text, s);
  hl_schema_free(s);
  return result < 0 ? 2 : result;
}
