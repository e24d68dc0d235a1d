/* openapi_check.h — reading docs/openapi.json in tests: which documented
 * path a request's path is, what an operation answers, and validating a
 * JSON value against a schema of the document with hookloop's own JSON
 * Schema validator (the document's "$ref"s resolved within it). */
#ifndef OPENAPI_CHECK_H
#define OPENAPI_CHECK_H

#include <stdbool.h>
#include <stddef.h>

#include "json/hl_json.h"

typedef struct {
  char *text;        /* owned copy of the document */
  size_t len;
  hl_json_doc doc;
  const hl_json *paths;
} oa_doc;

/* Parses the document (asserts it parses and has paths). */
void oa_load(oa_doc *d, const char *text, size_t len);
void oa_dispose(oa_doc *d);

/* The document's path template matching a concrete path ("/admin/schemas/x"
 * -> "/admin/schemas/{id}"), a literal template winning over a templated
 * one; NULL when none does. */
const char *oa_match_path(const oa_doc *d, const char *path);
/* paths[tmpl][method] (method lower- or upper-case), or NULL. */
const hl_json *oa_operation(const oa_doc *d, const char *tmpl, const char *method);
/* The JSON pointer of the schema the operation documents for an answer
 * with this status and media type (a response "$ref" is followed); false
 * when the status or the media type is not documented. ptr gets "" for a
 * documented answer without a body. */
bool oa_response_schema(const oa_doc *d, const char *tmpl, const char *method, int status,
                        const char *media_type, char *ptr, size_t cap);
/* Validates value against the schema at pointer ptr of the document;
 * false with a description of the errors in why (may be NULL). */
bool oa_validate(const oa_doc *d, const char *ptr, const hl_json *value, char *why, size_t why_cap);
/* The same for a value given as JSON text. */
bool oa_validate_text(const oa_doc *d, const char *ptr, const char *json, size_t len, char *why, size_t why_cap);

#endif
