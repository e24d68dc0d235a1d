/* hl_event.h — what makes an incoming event acceptable, shared by the
 * producer API and the Kafka processor: the envelope (the seed producer
 * envelope or CloudEvents 1.0), the id and type, the latest ACTIVE schema
 * of the type, and the subscriptions whose filters match. */
#ifndef HL_EVENT_H
#define HL_EVENT_H

#include <stdbool.h>
#include <stddef.h>

#include "common/hl_buf.h"
#include "handlers/hl_registry.h"
#include "json/hl_json.h"

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
} hl_event_check;

/* Checks the event v parsed from body..body+len. CloudEvents are recognised
 * by "specversion" (or cloudevents_ct); their "data" is what the schema and
 * the filters see, and error paths start with /data. */
void hl_event_check_run(const hl_registry *reg, const hl_json *v, const char *body, size_t len,
                        bool cloudevents_ct, hl_event_check *e);
void hl_event_reject(hl_event_check *e, int status, const char *code, const char *pointer, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void hl_event_check_dispose(hl_event_check *e);

#endif
