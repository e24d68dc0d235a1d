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
 *
 * Cost: a validation spends from a budget (hl_schema_budget) and stops with
 * HL_SCHEMA_TOO_COMPLEX when it runs out, rather than run for as long as the
 * input asks. Steps count a subschema applied to a value, a value hashed
 * (uniqueItems, enum: linear in expected time through a keyed hash), a
 * block of digits compared or divided (multipleOf is exact and linear for
 * divisors of up to 18 digits); regex units are PCRE2 match-limit units
 * (pcre2_set_match_limit), each match being given what is left. Every
 * keyword costs time linear in what it reads, so the budget is a bound on
 * time, and the same input always gets the same verdict.
 */
#ifndef HL_SCHEMA_H
#define HL_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json/hl_json.h"

#define HL_SCHEMA_MAX_ERRORS 16

typedef struct {
  char instance_path[256];  /* RFC 6901 pointer into the instance ("" = root); when the
                             * whole path would not fit, or a member name on it holds
                             * U+0000, its deepest ancestor that does / that holds none */
  char keyword[32];         /* e.g. "minimum" */
  char schema_path[256];    /* location of the keyword in the schema, e.g. "/properties/amount/minimum" */
  char message[384];        /* e.g. "/amount: -5 is less than minimum 0" */
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
  /* A "$schema" naming a dialect other than the two read here (draft
   * 2020-12, draft-07) fails the compile, at that "$schema". Registration
   * asks for this, so that a draft-04 or 2019-09 schema is refused rather
   * than read by another draft's rules; without it (schemas already
   * stored, the official suite's cross-draft documents) such a resource is
   * read in the dialect of the one around it. */
  bool known_dialects_only;
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
typedef enum { HL_SCHEMA_VALID = 0, HL_SCHEMA_INVALID, HL_SCHEMA_TOO_COMPLEX } hl_schema_verdict;

typedef struct {
  uint64_t steps;  /* validation steps left */
  uint64_t regex;  /* PCRE2 match-limit units left */
} hl_schema_budget;

/* What validating an input of `bytes` bytes may spend: 4 steps and 4 regex
 * units a byte, at least 1,000,000 of each. Measured: ~25 ns a step, ~16 ns
 * a regex unit when a pattern backtracks; a 1 MiB event of 20,000 objects
 * needs ~200,000 steps. So validation time is linear in the input, about
 * 0.2 s for a 1 MiB event at worst. */
#define HL_SCHEMA_STEPS_PER_BYTE 4u
/* How deep subschemas may nest while one value is validated (recursion
 * through "$ref" included): deeper is HL_SCHEMA_TOO_COMPLEX, never a
 * verdict. */
#define HL_SCHEMA_MAX_NESTING 150
#define HL_SCHEMA_MIN_BUDGET 1000000u
hl_schema_budget hl_schema_budget_for(size_t bytes);

/* Validates instance, spending from *budget (which is decreased, so one
 * budget can be shared by several calls). HL_SCHEMA_INVALID fills errs (may
 * be NULL); HL_SCHEMA_TOO_COMPLEX leaves one error there, keyword
 * "too_complex", at the instance location where the budget ran out. */
hl_schema_verdict hl_schema_check(const hl_schema *s, const hl_json *instance, hl_schema_budget *budget,
                                  hl_schema_errors *errs);
/* hl_schema_check with hl_schema_budget_for(16 MiB): true when valid;
 * otherwise errs (may be NULL) lists why (too complex included). */
bool hl_schema_validate(const hl_schema *s, const hl_json *instance, hl_schema_errors *errs);

/* The dialect a "$schema" URI names: true and *out for draft 2020-12's and
 * draft-07's meta-schema URIs (http or https, with or without an empty
 * fragment), false for any other. */
bool hl_schema_dialect(const char *uri, hl_schema_draft *out);

/* A "$ref" to one of the official meta-schemas, which are compiled into
 * the binary (hl_schema_docs.h), resolves to it when opt->resolve does not
 * know the URI. */
/* Validates a schema document against its dialect's meta-schema ("$schema"
 * naming draft-07: draft-07's; otherwise 2020-12's). 0, or HL_EINVAL with
 * errs whose instance paths point into the schema. */
int hl_schema_check_meta(const hl_json *schema, hl_schema_errors *errs);

/* A compiled schema is reference counted so that a validation running on
 * another thread (the libuv threadpool) keeps it alive while the registry
 * replaces it. Counting is not atomic: take and drop references on one
 * thread (the loop). hl_schema_free drops one and frees at zero. */
hl_schema *hl_schema_ref(hl_schema *s);
void hl_schema_free(hl_schema *s);

#endif
