/* hl_schema_meta.c — the official meta-schemas, compiled into the binary
 * (src/schema/metaschemas/, turned into hl_metaschemas.c by the build):
 * draft 2020-12 with its vocabulary documents, and draft-07. A "$ref" to
 * them resolves offline, and registered schemas are checked against them. */
#include "schema/hl_schema.h"
#include "common/hl_common.h"
#include "common/hl_embed.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

extern const hl_embed_file hl_metaschema_docs[]; /* name: the document's URI */

char *hl_schema_bundled(const char *uri) {
  size_t n = strlen(uri);
  if (n > 0 && uri[n - 1] == '#') n--; /* "http://json-schema.org/draft-07/schema#" */
  const hl_embed_file *d = hl_embed_find(hl_metaschema_docs, uri, n);
  return d ? hl_strndup(d->data, d->len) : NULL;
}

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
  hl_schema *meta = dialect && strstr(dialect, "draft-07") ? meta_07 : meta_2020;
  if (!meta) return HL_EINTERNAL; /* the bundled documents did not compile: a build defect */
  return hl_schema_validate(meta, schema, errs) ? 0 : HL_EINVAL;
}
