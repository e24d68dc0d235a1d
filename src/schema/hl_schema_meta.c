/* hl_schema_meta.c — registered schemas checked against their dialect's
 * meta-schema (draft 2020-12 or draft-07), compiled once from the bundled
 * documents (hl_schema_docs.h) by a "$ref" to them. */
#include "schema/hl_schema.h"
#include "common/hl_common.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* The two meta-schemas compiled once, for the process. */
static hl_schema *meta_2020, *meta_07;
static pthread_once_t meta_once = PTHREAD_ONCE_INIT;

static hl_schema *compile_ref(const char *uri) {
  char text[160];
  snprintf(text, sizeof text, "{\"$ref\":\"%s\"}", uri);
  hl_json_doc d;
  hl_json_doc_init(&d);
  hl_schema *s = NULL;
  if (hl_json_parse(&d, text, strlen(text), NULL) == 0) hl_schema_compile(d.root, NULL, &s, NULL);
  hl_json_doc_dispose(&d);
  return s;
}

static void compile_metas(void) {
  meta_2020 = compile_ref("https://json-schema.org/draft/2020-12/schema");
  meta_07 = compile_ref("http://json-schema.org/draft-07/schema#");
}

int hl_schema_check_meta(const hl_json *schema, hl_schema_errors *errs) {
  pthread_once(&meta_once, compile_metas);
  const char *dialect = schema->type == HL_JSON_OBJECT ? hl_json_str(hl_json_get(schema, "$schema")) : NULL;
  hl_schema_draft draft = HL_DRAFT_2020_12;
  if (dialect) hl_schema_dialect(dialect, &draft);
  hl_schema *meta = draft == HL_DRAFT_07 ? meta_07 : meta_2020;
  if (!meta) return HL_EINTERNAL; /* the bundled documents did not compile: a build defect */
  return hl_schema_validate(meta, schema, errs) ? 0 : HL_EINVAL;
}
