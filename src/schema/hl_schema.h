/* hl_schema.h — JSON Schema validation (draft 2020-12 by default, draft-07
 * when "$schema" says so or the caller asks).
 *
 * hl_schema_compile checks the schema document (keyword value types,
 * regexes, resolvable references) and compiles it into an immutable graph
 * of nodes with every keyword pre-resolved. The compiled schema owns a
 * private copy of the document(s) it came from; the caller's document may be
 * freed afterwards. Validation never changes the schema and may run on
 * several threads at once; it allocates nothing in the common case (objects
 * and arrays of more than 256 members use a heap bitmap for the
 * unevaluated* bookkeeping).
 *
 * References: "$ref", "$dynamicRef", "$id" base-URI changes, "$anchor",
 * "$dynamicAnchor" and JSON pointers. A reference to another document goes
 * to opt->resolve (the store's registered schemas, test fixtures) — never
 * to the network.
 *
 * Numbers are compared exactly (hl_decimal_*); string lengths count code
 * points; `pattern` uses PCRE2 in UTF mode (ECMA-262 differences: PCRE2
 * syntax for escapes such as \p{...} and lookbehind; `\d` is ASCII only, as
 * in ECMA-262); `format` is an annotation unless opt->format_assertion.
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
  char schema_path[256];    /* location of the keyword in the schema, e.g. "/properties/amount/minimum" */
  char message[256];        /* e.g. "/amount: -5 is less than minimum 0" */
} hl_schema_error;

typedef struct {
  hl_schema_error items[HL_SCHEMA_MAX_ERRORS];
  size_t count;             /* reported (at most HL_SCHEMA_MAX_ERRORS) */
  size_t total;             /* found */
} hl_schema_errors;

typedef enum { HL_DRAFT_2020_12, HL_DRAFT_07 } hl_schema_draft;

/* Returns the text of the schema document at an absolute URI (without
 * fragment), malloc'd, or NULL when unknown. */
typedef char *(*hl_schema_resolve_cb)(void *data, const char *uri);

typedef struct {
  hl_schema_draft default_draft;
  bool format_assertion;
  hl_schema_resolve_cb resolve;
  void *resolve_data;
} hl_schema_options;

typedef struct hl_schema hl_schema;

void hl_schema_errors_init(hl_schema_errors *e);
void hl_schema_errors_dispose(hl_schema_errors *e);

/* Returns 0 and *out, or HL_EINVAL with errors whose schema_path points at
 * the offending keyword. opt may be NULL. */
int hl_schema_compile(const hl_json *schema, const hl_schema_options *opt, hl_schema **out,
                      hl_schema_errors *errs);
/* True when instance is valid; otherwise errs (may be NULL) lists why. */
bool hl_schema_validate(const hl_schema *s, const hl_json *instance, hl_schema_errors *errs);
void hl_schema_free(hl_schema *s);

#endif
