/* hl_project.h — attributes projected from an event's body into its stored
 * record (the DynamoDB events table), declared on the event type's schema
 * next to "x-id-pointer":
 *
 *   "x-project": {"/amount": "N", "/currency": "S"}
 *
 * Each member is a JSON pointer into the payload (what the schema sees: the
 * body of a raw or envelope event, "data" of a CloudEvent) and a type:
 *   "S"  a string, or a number's decimal text exactly as it was written
 *        (100.10 stays "100.10"): the type for an amount whose text
 *        matters;
 *   "N"  a number (or a string holding one), sent as a DynamoDB number
 *        with its decimal text as written, never through a double: the
 *        value is exact (38 digits), but DynamoDB keeps numbers in a
 *        canonical form, trimming trailing zeros (100.10 reads back as
 *        100.1); the body beside it keeps the text as sent.
 * The attribute's name is the pointer's tokens joined by '_' ("/amount"
 * -> amount, "/money/value" -> money_value). A pointer the body does not
 * have leaves its attribute out; a value of another type refuses the event
 * (400), since the record would otherwise silently lack it.
 */
#ifndef HL_PROJECT_H
#define HL_PROJECT_H

#include <stddef.h>

#include "json/hl_json.h"
#include "store/hl_store.h"

typedef struct {
  char *pointer; /* owned */
  char *attr;    /* owned: the attribute's name */
  char type;     /* 'S' or 'N' */
} hl_projection;

/* Reads a schema's "x-project" annotation (absent: 0 projections). Returns
 * 0 with an owned array in *out, or HL_EINVAL with the pointer of the bad
 * member (relative to the annotation, e.g. "/~1amount") in where and why. */
int hl_project_parse(const hl_json *schema, hl_projection **out, size_t *n, char *where, size_t wherelen,
                     char *why, size_t whylen);
void hl_project_free(hl_projection *p, size_t n);

/* Projects payload: the attributes found (owned array in *out, freed with
 * hl_event_attrs_free). HL_EINVAL: a value is not of its declared type;
 * pointer (the projection's) and why say which. */
int hl_project_apply(const hl_projection *p, size_t n, const hl_json *payload, hl_event_attr **out, size_t *nout,
                     const char **pointer, char *why, size_t whylen);
void hl_event_attrs_free(hl_event_attr *a, size_t n);

#endif
