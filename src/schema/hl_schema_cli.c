#include "schema/hl_schema_cli.h"
#include "common/hl_buf.h"
#include "common/hl_common.h"
#include "schema/hl_schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int read_all(FILE *f, hl_buf *out) {
  char chunk[65536];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) hl_buf_append(out, chunk, n);
  return ferror(f) ? -1 : 0;
}

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
static int check_text(const hl_schema *s, const char *text, size_t len, const char *label) {
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

int hl_schema_cli_check(int argc, char **argv) {
  if (argc < 1) {
    fprintf(stderr, "usage: hookloop schema check SCHEMA [INSTANCE...]\n"
                    "  with no INSTANCE, one JSON document per line is read from stdin\n");
    return 2;
  }
  FILE *f = fopen(argv[0], "rb");
  if (!f) {
    fprintf(stderr, "hookloop schema check: cannot open the schema file %s; check the path\n", argv[0]);
    return 2;
  }
  hl_buf text = HL_BUF_INIT;
  read_all(f, &text);
  fclose(f);
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
  /* As at registration: it must compile and match its meta-schema. */
  if (hl_schema_compile(sdoc.root, NULL, &s, &errs) != 0 || hl_schema_check_meta(sdoc.root, &errs) != 0) {
    fprintf(stderr, "hookloop schema check: %s is not a usable JSON Schema:\n", argv[0]);
    for (size_t i = 0; i < errs.count; i++) fprintf(stderr, "  %s\n", errs.items[i].message);
    hl_schema_free(s);
    hl_json_doc_dispose(&sdoc);
    return 2;
  }
  hl_json_doc_dispose(&sdoc);
  int result = 0;
  if (argc == 1) {
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long lineno = 0;
    while ((n = getline(&line, &cap, stdin)) >= 0) {
      lineno++;
      while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) n--;
      char label[32];
      snprintf(label, sizeof label, "line %ld", lineno);
      if (check_text(s, line, (size_t)n, label)) result = 1;
    }
    free(line);
  } else {
    for (int i = 1; i < argc; i++) {
      FILE *in = fopen(argv[i], "rb");
      if (!in) {
        fprintf(stderr, "hookloop schema check: cannot open %s; check the path\n", argv[i]);
        hl_schema_free(s);
        return 2;
      }
      hl_buf b = HL_BUF_INIT;
      read_all(in, &b);
      fclose(in);
      if (check_text(s, b.data ? b.data : "", b.len, argv[i])) result = 1;
      hl_buf_dispose(&b);
    }
  }
  hl_schema_free(s);
  return result;
}
