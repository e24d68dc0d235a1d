/* hl_schema.h — JSON Schema validation (draft 2020-12 by default, draft-07
 * when "$schema" says so).
 *
 * hl_schema_compile checks the schema document itself (keyword value types,
 * regexes, resolvable local $refs) and builds an immutable validator that
 * owns a private copy of the document and its compiled regexes; the
 * caller's document may be freed afterwards. Validation is read-only on the
 * schema and safe to run from several threads.
 *
 * Numbers are compared exactly (hl_decimal_*); string lengths count code
 * points; `format` is an annotation unless opt->format_assertion is set.
 */
#ifndef HL_SCHEMA_H
#define HL_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>

#include "json/hl_json.h"

#define HL_SCHEMA_MAX_ERRORS 16

typedef struct {
  char instance_path[256];  /* RFC 6901 pointer into the instance ("" = root) */
  char keyword[32];         /* e.g. "minimum" */
  char schema_path[256];    /* pointer to the keyword in the schema, e.g. "/properties/amount/minimum" */
  char message[256];        /* e.g. "/amount: -5 is less than minimum 0" */
} hl_schema_error;

typedef struct {
  hl_schema_error items[HL_SCHEMA_MAX_ERRORS];
  size_t count;             /* reported (at most HL_SCHEMA_MAX_ERRORS) */
  size_t total;             /* found */
} hl_schema_errors;

typedef enum { HL_DRAFT_2020_12, HL_DRAFT_07 } hl_schema_draft;

typedef struct {
  hl_schema_draft default_draft;
  bool format_assertion;
} hl_schema_options;

typedef struct hl_schema hl_schema;

void hl_schema_errors_init(hl_schema_errors *e);
void hl_schema_errors_dispose(hl_schema_errors *e);

/* Returns 0 and *out, or HL_EINVAL with errors (pointers into the schema in
 * schema_path). opt may be NULL. */
int hl_schema_compile(const hl_json *schema, const hl_schema_options *opt, hl_schema **out,
                      hl_schema_errors *errs);
/* True when instance is valid; otherwise errs (may be NULL) lists why. */
bool hl_schema_validate(const hl_schema *s, const hl_json *instance, hl_schema_errors *errs);
void hl_schema_free(hl_schema *s);

#endif
