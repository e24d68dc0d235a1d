/* hl_schema_docs.c — the bundled meta-schema documents (see hl_schema_docs.h). */
#include "schema/hl_schema_docs.h"
#include "common/hl_common.h"
#include "common/hl_embed.h"

#include <string.h>

extern const hl_embed_file hl_metaschema_docs[]; /* name: the document's URI */

char *hl_schema_docs_text(const char *uri) {
  size_t n = strlen(uri);
  if (n > 0 && uri[n - 1] == '#') n--; /* "http://json-schema.org/draft-07/schema#" */
  const hl_embed_file *d = hl_embed_find(hl_metaschema_docs, uri, n);
  return d ? hl_strndup(d->data, d->len) : NULL;
}
