/* hl_schema_docs.h — the official meta-schemas' documents, compiled into
 * the binary (src/schema/metaschemas/, turned into hl_metaschemas.c by the
 * build): draft 2020-12 (https://json-schema.org/draft/2020-12/schema and
 * its vocabulary documents .../meta/core, applicator, unevaluated,
 * validation, meta-data, format-annotation, format-assertion, content) and
 * draft-07 (http://json-schema.org/draft-07/schema#).
 *
 * Its own file, below the compiler (hl_schema.c resolves a "$ref" to them
 * offline) and below the meta-schema check (hl_schema_meta.c, which
 * compiles them): text only, no JSON and no schema. */
#ifndef HL_SCHEMA_DOCS_H
#define HL_SCHEMA_DOCS_H

/* A document's text (malloc'd), by its URI with or without an empty
 * fragment ("...draft-07/schema#"), or NULL when none is bundled. */
char *hl_schema_docs_text(const char *uri);

#endif
