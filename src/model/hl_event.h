/* hl_event.h — what makes an incoming event acceptable, shared by the
 * producer API and the Kafka processor: a body that is I-JSON (no member
 * name twice), the envelope (the seed producer envelope or CloudEvents 1.0),
 * the id and type (no control characters), the latest ACTIVE schema of the
 * type within a validation budget, and the subscriptions whose filters match.
 *
 * Two ways in:
 * - hl_event_check_run: one parsed event, all on the caller's thread, with
 *   the budget of its size (the Kafka processor, Lambda).
 * - hl_event_batch_start: a request body (one event or a bulk array),
 *   checked so that no loop turn takes long: a body over
 *   HL_EVENT_INLINE_BYTES is parsed and validated on the libuv threadpool,
 *   a smaller one on the loop within HL_EVENT_INLINE_STEPS, and moved to the
 *   threadpool when that is not enough. The envelope, the schema lookup and
 *   the filters always run on the loop (they read the registry, which only
 *   the loop changes; a schema being validated is held by a reference).
 */
#ifndef HL_EVENT_H
#define HL_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "common/hl_buf.h"
#include "common/hl_common.h"
#include "model/hl_registry.h"
#include "json/hl_json.h"
#include "schema/hl_schema.h"

typedef struct {
  int status;            /* 0 ok, else the HTTP status of the rejection */
  char error[64];        /* error code when rejected ("schema_violation", ...) */
  char message[512];
  hl_buf details;        /* JSON array of {path, keyword?, message} when rejected */
  char *id;
  char *type;
  const char *body;      /* the accepted bytes (borrowed) */
  size_t body_len;
  char **subs;           /* matching subscription ids */
  size_t nsubs;
  const char *ingress_topic; /* of the schema the event matched (borrowed from the registry) */
  hl_event_attr *attrs;      /* owned: projected by the schema's x-project (model/hl_project.h) */
  size_t nattrs;
  /* Between the stages (hl_event.c only). */
  const hl_json *payload;    /* what the schema and filters see */
  const char *base;          /* "" or "/data": where payload is in the event */
  hl_schema *schema;         /* a reference, held while validating */
  char schema_name[400];     /* "domain.type.vN", for messages */
  bool validated;
} hl_event_check;

/* Checks the event v parsed from body..body+len. CloudEvents are recognised
 * by "specversion" (or cloudevents_ct); their "data" is what the schema and
 * the filters see, and error paths start with /data. */
void hl_event_check_run(const hl_registry *reg, const hl_json *v, const char *body, size_t len,
                        bool cloudevents_ct, hl_event_check *e);
void hl_event_reject(hl_event_check *e, int status, const char *code, const char *pointer, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void hl_event_check_dispose(hl_event_check *e);

/* How a record or body that is not JSON, or not I-JSON, is described: fills
 * e as a 400 (invalid_json, or duplicate_member_name with the pointer of the
 * object and the name in details). */
void hl_event_reject_parse(hl_event_check *e, const hl_json_error *err);

/* --- a request body, off the loop where it is large ------------------------------ */

#define HL_EVENT_INLINE_BYTES HL_INLINE_JSON_BYTES /* larger bodies: parsed on the threadpool (common/hl_common.h) */
#define HL_EVENT_INLINE_STEPS 100000u      /* validation on the loop: ~2.5 ms at most */

/* HL_EVENT_RAW: a provider's own payload, no envelope (hl_event_batch_start_raw). */
enum { HL_EVENT_BULK = 1, HL_EVENT_CLOUDEVENTS = 2, HL_EVENT_RAW = 4 };

typedef struct hl_event_batch hl_event_batch;
typedef void (*hl_event_batch_cb)(hl_event_batch *b, void *data);

struct hl_event_batch {
  /* A rejection of the whole request (status != 0, e.g. invalid JSON, a
   * bulk that is no array); otherwise n results, in order. The caller may
   * move results out (then zero them). */
  hl_event_check req;
  size_t n;
  hl_event_check *events;
  /* private */
  uv_work_t work;
  uv_loop_t *loop;
  const hl_registry *reg;
  const char *body;
  size_t len;
  unsigned flags;
  int stage;
  size_t from;             /* first event the threadpool validates */
  hl_json_doc doc;
  int parse_rc;
  hl_json_error jerr;
  hl_schema_budget budget;  /* the request's: 4 steps a byte (hl_schema_budget_for) */
  hl_event_batch_cb cb;
  void *data;
  char *raw_type, *raw_id; /* HL_EVENT_RAW: the path's event type, the header's id (or NULL) */
  char *raw_id_header;     /* the name of the header raw_id came from */
  char *pin;               /* a schema's API id: the version to check against, or NULL (the latest) */
};

/* Checks body (borrowed until cb runs). cb runs exactly once, on the loop,
 * possibly before this returns; loop NULL does everything at once. */
void hl_event_batch_start(uv_loop_t *loop, const hl_registry *reg, const char *body, size_t len, unsigned flags,
                          hl_event_batch_cb cb, void *data);
/* One event checked against the schema version schema_api_id
 * ("<domain>.<event_type>.v<version>", copied) when it is registered for
 * the event's type, else the latest ACTIVE one: a record read from a
 * version's ingress topic. Otherwise as hl_event_batch_start. */
void hl_event_batch_start_pinned(uv_loop_t *loop, const hl_registry *reg, const char *body, size_t len,
                                 const char *schema_api_id, hl_event_batch_cb cb, void *data);
/* A raw provider payload of event type `type` (the whole body is what the
 * schema and filters see, error paths start at ""). Its id is the value at
 * the latest ACTIVE schema's "x-id-pointer" (a string, or a number's text)
 * when the schema declares one and the body has it, else header_id, the
 * value of the header header_name (Idempotency-Key or webhook-id; both
 * NULL when none was sent); with neither the event is refused with 400
 * missing_event_id, never given a made-up id, and a header_id that is no
 * event id with 400 invalid_event at the header's name. type, header_name
 * and header_id are copied. Otherwise as hl_event_batch_start. */
void hl_event_batch_start_raw(uv_loop_t *loop, const hl_registry *reg, const char *body, size_t len,
                              const char *type, const char *header_name, const char *header_id,
                              hl_event_batch_cb cb, void *data);
/* Frees the batch and the results still in it. */
void hl_event_batch_free(hl_event_batch *b);

#endif
