/* hl_transform.h — declarative transformations of JSON events.
 *
 * A spec (docs/transformations.md) is a JSON document of operations over
 * JSON pointers, applied in order: set, copy, move, rename, remove, pick,
 * wrap and template. hl_transform_compile checks it once and turns it into
 * a program; the program is immutable, so one compiled spec serves any
 * number of events (and may be shared by readers on several threads).
 *
 * Applying is one parse of the event (or none, with a tree the caller has
 * already parsed), edits on a tree that shares every untouched part of the
 * event, and one write. Nothing is re-serialised per operation, nor per
 * program when several apply in turn (hl_transform_apply_chain). The parse
 * copies no string or number (HL_JSON_BORROW): the tree points into the
 * event, which must stay alive while a call runs.
 *
 * Exactness: every value in a result is the source text of a value of the
 * event or of the spec (hl_json_write_src): numbers keep their spelling
 * (123.4500, 12345678901234567890123), strings and keys their escapes
 * ("\u00e9" stays so), untouched members their order. The result is compact
 * JSON: whitespace between tokens is dropped, also inside untouched parts.
 *
 * Safety: compile and apply accept any bytes. Work is bounded by the spec's
 * size and the event's; a result is refused (HL_ETOOBIG) beyond
 * HL_TRANSFORM_MAX_OUTPUT bytes or HL_TRANSFORM_MAX_DEPTH levels of nesting
 * (the untouched values' own levels included: HL_JSON_MAX_DEPTH, what the
 * reader takes), so a spec that copies the event into itself cannot explode
 * and every result can be read back.
 *
 * Pure: no I/O, no globals, no loop; apply allocates only per call.
 * (The reference count below is the one thing that changes after compile.)
 */
#ifndef HL_TRANSFORM_H
#define HL_TRANSFORM_H

#include <stddef.h>

#include "common/hl_buf.h"
#include "json/hl_json.h"

#define HL_TRANSFORM_MAX_OPS 256
#define HL_TRANSFORM_MAX_OUTPUT ((size_t)8 << 20)
#define HL_TRANSFORM_MAX_DEPTH 512 /* also the most tokens a pointer may have */

typedef struct hl_transform hl_transform;

typedef struct {
  /* Compile: the JSON pointer, into the spec, of the member at fault
   * ("/ops/3/from"; "/ops/3" when a required member is absent; "" for the
   * spec as a whole). Apply: the member of the operation whose pointer did
   * not fit the event ("/ops/3/from", "/ops/5/template/id"), "" when the
   * event is not JSON or the result is too large. Truncated when longer. */
  char path[256];
  char message[256];
} hl_transform_error;

/* Compiles spec (len bytes, JSON) into *out, which the caller frees with
 * hl_transform_free. The program keeps its own copy of the spec. Returns 0;
 * HL_EPARSE when spec is not JSON, HL_EINVAL when it is no usable spec; err
 * (may be NULL) tells where and why. */
int hl_transform_compile(const char *spec, size_t len, hl_transform **out, hl_transform_error *err);
/* The same for a spec that is part of a larger parsed document (a
 * registration body; its input text must still be alive): error paths are
 * relative to spec. */
int hl_transform_compile_json(const hl_json *spec, hl_transform **out, hl_transform_error *err);
/* A program is reference counted so that an apply running on another
 * thread (the libuv threadpool: a delivery's large body) keeps it alive
 * while the registry replaces it or a cache drops it. Counting is not
 * atomic: take and drop references on one thread (the loop); the thread
 * that applies only reads. hl_transform_free drops one (compile gave the
 * first) and frees at zero. */
hl_transform *hl_transform_ref(const hl_transform *t);
void hl_transform_free(hl_transform *t);

/* Number of operations in the program. */
size_t hl_transform_op_count(const hl_transform *t);

/* Applies t to the event (len bytes of JSON) and appends the result to out.
 * Returns 0; HL_EPARSE when the event is not JSON; HL_EINVAL when the event
 * does not fit the spec (a pointer with "missing":"error" finds nothing, a
 * target lies beyond a string or past an array's end); HL_ETOOBIG when the
 * result would exceed the limits above. On failure out is left as it was
 * and err (may be NULL) tells why. */
int hl_transform_apply(const hl_transform *t, const char *event, size_t len, hl_buf *out,
                       hl_transform_error *err);
/* Applies t[0], then t[1], ... t[n-1] (n >= 1) to the event, as applying
 * each to the previous one's result would, but on ONE parse of the event
 * and with ONE write at the end: the Partner Info merge and the event
 * type's and the subscription's transformations of a delivery cost one
 * parse and one write together. On failure *failed (may be NULL) is the
 * index of the program at fault (0 when the event is not JSON; the last one
 * when the result is too large), and out is left as it was.
 * The limits apply to the final result: an intermediate one is never
 * written, so it is not measured. */
int hl_transform_apply_chain(const hl_transform *const *t, size_t n, const char *event, size_t len, hl_buf *out,
                             size_t *failed, hl_transform_error *err);
/* The same on an event the caller has parsed (hl_json_parse keeps the
 * source spans that make the result exact; the event's input text must
 * still be alive). */
int hl_transform_apply_json(const hl_transform *t, const hl_json *event, hl_buf *out, hl_transform_error *err);

#endif
