#include "handlers/hl_event.h"
#include "common/hl_common.h"
#include "common/hl_log.h"
#include "handlers/hl_filter.h"
#include "schema/hl_schema.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *get_str(const hl_json *obj, const char *key) { return hl_json_str(hl_json_get(obj, key)); }

/* Event ids travel in the webhook-id header: printable ASCII, no spaces. */
static bool event_id_ok(const char *s, size_t len) {
  if (len == 0 || len > 200) return false;
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e) return false;
  return true;
}

/* What the producer API learned about one event before storing it. */
void hl_event_check_dispose(hl_event_check *e) {
  hl_buf_dispose(&e->details);
  hl_free(e->id);
  hl_free(e->type);
  for (size_t i = 0; i < e->nsubs; i++) hl_free(e->subs[i]);
  hl_free(e->subs);
}

void hl_event_reject(hl_event_check *e, int status, const char *code, const char *pointer, const char *fmt, ...) {
  va_list ap;
  e->status = status;
  snprintf(e->error, sizeof e->error, "%s", code);
  va_start(ap, fmt);
  vsnprintf(e->message, sizeof e->message, fmt, ap);
  va_end(ap);
  if (pointer) {
    hl_jw w;
    hl_jw_init(&w, &e->details);
    hl_jw_arr_begin(&w);
    hl_jw_obj_begin(&w);
    hl_jw_key(&w, "path"); hl_jw_str(&w, pointer);
    hl_jw_key(&w, "message"); hl_jw_str(&w, e->message);
    hl_jw_obj_end(&w);
    hl_jw_arr_end(&w);
  }
}

/* Validates one event (v parsed from body..body+len) and finds its
 * subscriptions. CloudEvents are recognised by "specversion" (or the
 * cloudevents content type); their "data" is what the schema and the
 * filters see. The seed envelope is seen whole. */
void hl_event_check_run(const hl_registry *reg, const hl_json *v, const char *body, size_t len,
                        bool cloudevents_ct, hl_event_check *e) {
  *e = (hl_event_check){0};
  hl_buf_init(&e->details);
  e->body = body;
  e->body_len = len;
  if (v->type != HL_JSON_OBJECT) {
    hl_event_reject(e, 400, "invalid_event", "", "an event is a JSON object");
    return;
  }
  const hl_json *payload = v, *id = NULL, *type = NULL;
  const char *id_ptr, *type_ptr;
  const char *base = "";
  if (cloudevents_ct || hl_json_get(v, "specversion")) {
    const char *sv = get_str(v, "specversion");
    if (!sv || strcmp(sv, "1.0") != 0) {
      hl_event_reject(e, 400, "invalid_event", "/specversion", "CloudEvents events need \"specversion\": \"1.0\"");
      return;
    }
    if (!hl_json_str(hl_json_get(v, "source"))) {
      hl_event_reject(e, 400, "invalid_event", "/source", "CloudEvents events need a \"source\" string");
      return;
    }
    id = hl_json_get(v, "id");
    type = hl_json_get(v, "type");
    id_ptr = "/id";
    type_ptr = "/type";
    payload = hl_json_get(v, "data");
    base = "/data";
    if (payload == NULL) {
      static const hl_json null_value = {.type = HL_JSON_NULL};
      payload = &null_value;
    }
  } else {
    const hl_json *h = hl_json_get(v, "eventHeader");
    if (!h || h->type != HL_JSON_OBJECT) {
      hl_event_reject(e, 400, "invalid_event", "/eventHeader",
             "expected the producer envelope {\"eventHeader\": {\"uuid\", \"eventType\", ...}} or a CloudEvents event");
      return;
    }
    id = hl_json_get(h, "uuid");
    type = hl_json_get(h, "eventType");
    id_ptr = "/eventHeader/uuid";
    type_ptr = "/eventHeader/eventType";
  }
  if (!id || id->type != HL_JSON_STRING || !event_id_ok(id->u.str, id->len)) {
    hl_event_reject(e, 400, "invalid_event", id_ptr, "required: a string of 1 to 200 printable ASCII characters without spaces");
    return;
  }
  if (!type || type->type != HL_JSON_STRING || type->len == 0) {
    hl_event_reject(e, 400, "invalid_event", type_ptr, "required: the event type, a non-empty string");
    return;
  }
  e->id = hl_strndup(id->u.str, id->len);
  e->type = hl_strndup(type->u.str, type->len);
  const hl_schema_entry *se = hl_registry_schema_for_type(reg, e->type);
  if (se == NULL) {
    hl_event_reject(e, 404, "unknown_event_type", type_ptr,
           "no ACTIVE schema is registered for event type '%s'; register one with POST /admin/schemas",
           hl_log_esc(e->type, (size_t)-1));
    return;
  }
  if (!se->compiled) {
    hl_event_reject(e, 503, "schema_unavailable", type_ptr,
           "the schema of event type '%s' could not be loaded; register it again with POST /admin/schemas",
           hl_log_esc(e->type, (size_t)-1));
    return;
  }
  {
    hl_schema_errors errs;
    hl_schema_errors_init(&errs);
    if (!hl_schema_validate(se->compiled, payload, &errs)) {
      hl_jw w;
      hl_jw_init(&w, &e->details);
      hl_jw_arr_begin(&w);
      for (size_t i = 0; i < errs.count; i++) {
        const hl_schema_error *er = &errs.items[i];
        char path[1024];
        snprintf(path, sizeof path, "%s%s", base, er->instance_path);
        hl_jw_obj_begin(&w);
        hl_jw_key(&w, "path"); hl_jw_str(&w, path);
        hl_jw_key(&w, "keyword"); hl_jw_str(&w, er->keyword);
        hl_jw_key(&w, "message"); hl_jw_str(&w, er->message);
        hl_jw_obj_end(&w);
      }
      hl_jw_arr_end(&w);
      e->status = 400;
      snprintf(e->error, sizeof e->error, "schema_violation");
      snprintf(e->message, sizeof e->message, "the event does not match schema %s.%s.v%lld: %s%s",
               se->rec.domain, se->rec.event_type, (long long)se->rec.version,
               errs.count ? errs.items[0].message : "invalid",
               errs.count > 1 ? " (and more, see details)" : "");
      hl_schema_errors_dispose(&errs);
      return;
    }
    hl_schema_errors_dispose(&errs);
  }
  e->ingress_topic = se->rec.ingress_topic;
  const hl_sub_list *subs = hl_registry_subs_for_type(reg, e->type);
  e->subs = hl_malloc((subs->n ? subs->n : 1) * sizeof *e->subs);
  for (size_t i = 0; i < subs->n; i++) {
    hl_sub *s = subs->items[i];
    if (s->filter && !hl_filter_match(s->filter, payload)) continue;
    e->subs[e->nsubs++] = hl_strdup(s->rec.subscription_id);
  }
}

