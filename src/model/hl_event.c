#include "model/hl_event.h"
#include "model/hl_event_id.h"
#include "common/hl_common.h"
#include "common/hl_log.h"
#include "model/hl_filter.h"
#include "schema/hl_schema.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *get_str(const hl_json *obj, const char *key) { return hl_json_str(hl_json_get(obj, key)); }


/* An event type: routing and topic names read it as a C string, so a NUL
 * would cut it short ("PaymentProcessed\u0000x" routed as PaymentProcessed);
 * no control character either. */
static bool event_type_ok(const char *s, size_t len) {
  if (len == 0 || len > 256) return false;
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) return false;
  return true;
}

/* What the producer API learned about one event before storing it. */
void hl_event_check_dispose(hl_event_check *e) {
  if (e->schema) hl_schema_free(e->schema);
  e->schema = NULL;
  hl_buf_dispose(&e->details);
  hl_free(e->id);
  hl_free(e->type);
  for (size_t i = 0; i < e->nsubs; i++) hl_free(e->subs[i]);
  hl_free(e->subs);
  hl_event_attrs_free(e->attrs, e->nattrs);
  e->attrs = NULL;
  e->nattrs = 0;
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

void hl_event_reject_parse(hl_event_check *e, const hl_json_error *err) {
  if (err->duplicate) {
    hl_event_reject(e, 400, "duplicate_member_name", NULL,
                    "the object at \"%s\" names \"%s\" twice; member names must be unique (I-JSON, RFC 7493)",
                    err->pointer, err->name);
    hl_jw w;
    hl_jw_init(&w, &e->details);
    hl_jw_arr_begin(&w);
    hl_jw_obj_begin(&w);
    hl_jw_key(&w, "path"); hl_jw_str(&w, err->pointer);
    hl_jw_key(&w, "name"); hl_jw_str(&w, err->name);
    hl_jw_key(&w, "message"); hl_jw_str(&w, "this member name is given twice in the object");
    hl_jw_obj_end(&w);
    hl_jw_arr_end(&w);
    return;
  }
  /* No member to point at in a document that does not parse: the detail
   * names the whole body (""), its message the place. */
  hl_event_reject(e, 400, "invalid_json", "", "the body is not valid JSON: %s at line %d, column %d", err->message,
                  err->line, err->column);
}

/* Stage 1 (loop): the envelope, id and type, and the schema (referenced). */
static void check_type(const hl_registry *reg, hl_event_check *e, const hl_json *payload, const char *base,
                       const char *type_ptr, const char *pin);

static void check_envelope(const hl_registry *reg, const hl_json *v, const char *body, size_t len,
                           bool cloudevents_ct, const char *pin, hl_event_check *e) {
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
  if (!id || id->type != HL_JSON_STRING || !hl_event_id_ok(id->u.str, id->len)) {
    hl_event_reject(e, 400, "invalid_event", id_ptr, "required: a string of 1 to 200 printable ASCII characters without spaces");
    return;
  }
  if (!type || type->type != HL_JSON_STRING || !event_type_ok(type->u.str, type->len)) {
    hl_event_reject(e, 400, "invalid_event", type_ptr,
                    "required: the event type, a string of 1 to 256 characters without control characters (no \\u0000)");
    return;
  }
  e->id = hl_strndup(id->u.str, id->len);
  e->type = hl_strndup(type->u.str, type->len);
  check_type(reg, e, payload, base, type_ptr, pin);
}

/* The latest ACTIVE schema of e->type, for payload at base. */
static void check_type(const hl_registry *reg, hl_event_check *e, const hl_json *payload, const char *base,
                       const char *type_ptr, const char *pin) {
  /* A record read from a version's ingress topic is checked against that
   * version (it was accepted under it, and a newer one may refuse what it
   * allowed); otherwise, or when that version is gone, the latest. */
  const hl_schema_entry *se = pin ? hl_registry_schema_get(reg, pin) : NULL;
  if (se && strcmp(se->rec.event_type, e->type) != 0) se = NULL;
  if (!se) se = hl_registry_schema_for_type(reg, e->type);
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
  const char *bad = NULL;
  char why[256];
  if (hl_project_apply(se->proj, se->nproj, payload, &e->attrs, &e->nattrs, &bad, why, sizeof why) != 0) {
    char path[1024];
    snprintf(path, sizeof path, "%s%s", base, bad);
    hl_event_reject(e, 400, "invalid_event", path, "%s", why);
    return;
  }
  e->payload = payload;
  e->base = base;
  e->schema = hl_schema_ref(se->compiled);
  e->ingress_topic = se->rec.ingress_topic;
  snprintf(e->schema_name, sizeof e->schema_name, "%.120s.%.200s.v%lld", se->rec.domain, se->rec.event_type,
           (long long)se->rec.version);
}

/* A raw provider payload: the id from the schema's x-id-pointer, else the
 * header's; the type from the path. */
static void check_raw(const hl_registry *reg, const hl_json *v, const char *body, size_t len, const char *type,
                      const char *header_name, const char *header_id, hl_event_check *e) {
  *e = (hl_event_check){0};
  hl_buf_init(&e->details);
  e->body = body;
  e->body_len = len;
  const hl_schema_entry *se = hl_registry_schema_for_type(reg, type);
  if (!se) {
    e->type = hl_strdup(type);
    check_type(reg, e, v, "", "", NULL); /* 404 unknown_event_type */
    return;
  }
  const char *ptr = se->id_pointer;
  const hl_json *idv = ptr ? hl_json_pointer(v, ptr, strlen(ptr)) : NULL;
  if (idv && (idv->type == HL_JSON_STRING || idv->type == HL_JSON_NUMBER) && hl_event_id_ok(idv->u.str, idv->len)) {
    e->id = hl_strndup(idv->u.str, idv->len);
  } else if (idv) {
    hl_event_reject(e, 400, "invalid_event", ptr,
                    "the event id: a string or number of 1 to 200 printable ASCII characters without spaces");
    return;
  } else if (header_id && hl_event_id_ok(header_id, strlen(header_id))) {
    e->id = hl_strdup(header_id);
  } else if (header_id) {
    /* Sent, but no event id: said so, not "no header was sent". */
    hl_event_reject(e, 400, "invalid_event", header_name ? header_name : "",
                    "the event id from the %s header: 1 to 200 printable ASCII characters without spaces",
                    header_name ? header_name : "id");
    return;
  } else {
    hl_event_reject(e, 400, "missing_event_id", ptr ? ptr : "",
                    "no event id: %s%s, and no Idempotency-Key or webhook-id header (1 to 200 printable ASCII "
                    "characters) was sent",
                    ptr ? "the payload has none at the schema's x-id-pointer " : "the schema declares no x-id-pointer",
                    ptr ? ptr : "");
    return;
  }
  e->type = hl_strdup(type);
  check_type(reg, e, v, "", "", NULL);
}

/* Stage 2 (any thread): the schema, within budget. Returns false, changing
 * nothing in e, when the budget ran out and the caller has more to give. */
static bool check_schema(hl_event_check *e, hl_schema_budget *budget, bool final) {
  hl_schema_errors *errs = hl_malloc(sizeof *errs);
  hl_schema_errors_init(errs);
  hl_schema_verdict v = hl_schema_check(e->schema, e->payload, budget, errs);
  if (v == HL_SCHEMA_TOO_COMPLEX && !final) {
    hl_free(errs);
    return false;
  }
  e->validated = true;
  if (v != HL_SCHEMA_VALID) {
    hl_jw w;
    hl_jw_init(&w, &e->details);
    hl_jw_arr_begin(&w);
    for (size_t i = 0; i < errs->count; i++) {
      const hl_schema_error *er = &errs->items[i];
      char path[1024];
      snprintf(path, sizeof path, "%s%s", e->base, er->instance_path);
      hl_jw_obj_begin(&w);
      hl_jw_key(&w, "path"); hl_jw_str(&w, path);
      hl_jw_key(&w, "keyword"); hl_jw_str(&w, er->keyword);
      hl_jw_key(&w, "message"); hl_jw_str(&w, er->message);
      hl_jw_obj_end(&w);
    }
    hl_jw_arr_end(&w);
    e->status = 400;
    if (v == HL_SCHEMA_TOO_COMPLEX) {
      snprintf(e->error, sizeof e->error, "too_complex");
      snprintf(e->message, sizeof e->message,
               "validating the event against schema %.120s takes more work than one event may ask for (%.200s); "
               "send a smaller or simpler event", e->schema_name, errs->count ? errs->items[0].message : "");
    } else {
      snprintf(e->error, sizeof e->error, "schema_violation");
      snprintf(e->message, sizeof e->message, "the event does not match schema %.120s: %.300s%s", e->schema_name,
               errs->count ? errs->items[0].message : "invalid", errs->count > 1 ? " (and more, see details)" : "");
    }
  }
  hl_free(errs);
  return true;
}

/* Stage 3 (loop): the subscriptions whose filters match. */
static void check_route(const hl_registry *reg, hl_event_check *e) {
  if (e->schema) hl_schema_free(e->schema);
  e->schema = NULL;
  if (e->status != 0) return;
  const hl_sub_list *subs = hl_registry_subs_for_type(reg, e->type);
  e->subs = hl_malloc((subs->n ? subs->n : 1) * sizeof *e->subs);
  /* One memo for all the type's filters: what they read of the event is
   * read once (hl_filter_memo). A lone subscription has nothing to share
   * and spares the memo's map. */
  hl_filter_memo memo;
  hl_filter_memo_init(&memo, e->payload);
  for (size_t i = 0; i < subs->n; i++) {
    hl_sub *s = subs->items[i];
    if (s->filter && !(subs->n > 1 ? hl_filter_match_memo(s->filter, &memo) : hl_filter_match(s->filter, e->payload)))
      continue;
    e->subs[e->nsubs++] = hl_strdup(s->rec.subscription_id);
  }
  hl_filter_memo_dispose(&memo);
}

void hl_event_check_run(const hl_registry *reg, const hl_json *v, const char *body, size_t len,
                        bool cloudevents_ct, hl_event_check *e) {
  check_envelope(reg, v, body, len, cloudevents_ct, NULL, e);
  if (e->status != 0) return;
  hl_schema_budget budget = hl_schema_budget_for(len);
  check_schema(e, &budget, true);
  check_route(reg, e);
}

/* --- batches ------------------------------------------------------------------------------ */

/* Byte ranges of the elements of a JSON array that already parsed: each
 * bulk element is stored as exactly the bytes the producer sent. */
static size_t array_spans(const char *s, size_t len, size_t (*spans)[2], size_t max) {
  size_t i = 0, n = 0;
  while (i < len && s[i] != '[') i++;
  i++;
  for (;;) {
    while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
    if (i >= len || s[i] == ']') return n;
    size_t start = i;
    int depth = 0;
    bool in_str = false;
    for (; i < len; i++) {
      char ch = s[i];
      if (in_str) {
        if (ch == '\\') i++;
        else if (ch == '"') in_str = false;
      } else if (ch == '"') in_str = true;
      else if (ch == '{' || ch == '[') depth++;
      else if (ch == '}' || ch == ']') {
        if (depth == 0) break;
        depth--;
      } else if (ch == ',' && depth == 0) break;
    }
    size_t end = i;
    while (end > start && (s[end - 1] == ' ' || s[end - 1] == '\t' || s[end - 1] == '\n' || s[end - 1] == '\r')) end--;
    if (n < max) { spans[n][0] = start; spans[n][1] = end; }
    n++;
    if (i < len && s[i] == ',') i++;
  }
}

enum { ST_PARSE, ST_VALIDATE };

static void batch_parse(hl_event_batch *b) {
  hl_json_doc_init(&b->doc);
  b->parse_rc = hl_json_parse_ex(&b->doc, b->body, b->len, HL_JSON_UNIQUE_NAMES, &b->jerr);
}

/* Validates events [from, n) until the budget runs out: returns the first
 * event not decided (n when all were). */
static size_t batch_validate(hl_event_batch *b, size_t from, hl_schema_budget *budget, bool final) {
  for (size_t i = from; i < b->n; i++) {
    hl_event_check *e = &b->events[i];
    if (e->status != 0 || !e->schema || e->validated) continue;
    if (!check_schema(e, budget, final)) return i;
  }
  return b->n;
}

static void batch_finish(hl_event_batch *b) {
  for (size_t i = 0; i < b->n; i++) check_route(b->reg, &b->events[i]);
  hl_json_doc_dispose(&b->doc);
  b->cb(b, b->data);
}

static void on_work(uv_work_t *w) {
  hl_event_batch *b = w->data;
  if (b->stage == ST_PARSE) batch_parse(b);
  else batch_validate(b, b->from, &b->budget, true);
}

static void batch_envelopes(hl_event_batch *b);

static void on_work_done(uv_work_t *w, int status) {
  hl_event_batch *b = w->data;
  (void)status; /* never cancelled: nothing calls uv_cancel on it */
  if (b->stage == ST_PARSE) batch_envelopes(b);
  else batch_finish(b);
}

/* On the loop, after parsing: the request's shape, each event's envelope and
 * schema; then validation here or on the threadpool. */
static void batch_envelopes(hl_event_batch *b) {
  if (b->parse_rc != 0) {
    hl_event_reject_parse(&b->req, &b->jerr);
    batch_finish(b);
    return;
  }
  const hl_json *root = b->doc.root;
  bool ce = b->flags & HL_EVENT_CLOUDEVENTS;
  if (b->flags & HL_EVENT_RAW) {
    b->n = 1;
    b->events = hl_calloc(1, sizeof *b->events);
    check_raw(b->reg, root, b->body, b->len, b->raw_type, b->raw_id_header, b->raw_id, &b->events[0]);
  } else if (!(b->flags & HL_EVENT_BULK)) {
    b->n = 1;
    b->events = hl_calloc(1, sizeof *b->events);
    check_envelope(b->reg, root, b->body, b->len, ce, b->pin, &b->events[0]);
  } else if (root->type != HL_JSON_ARRAY) {
    hl_event_reject(&b->req, 400, "invalid_request", "", "expected a JSON array of events");
  } else if (root->len == 0 || root->len > 1000) {
    hl_event_reject(&b->req, 400, "invalid_request", "", "send 1 to 1000 events per bulk request");
  } else {
    b->n = root->len;
    b->events = hl_calloc(b->n, sizeof *b->events);
    size_t (*spans)[2] = hl_malloc(b->n * sizeof *spans);
    bool found = array_spans(b->body, b->len, spans, b->n) == b->n;
    for (size_t i = 0; i < b->n; i++) {
      hl_event_check *e = &b->events[i];
      if (!found) {
        *e = (hl_event_check){0};
        hl_event_reject(e, 400, "invalid_event", "", "could not locate this element's bytes");
        continue;
      }
      check_envelope(b->reg, &root->u.items[i], b->body + spans[i][0], spans[i][1] - spans[i][0], ce, NULL, e);
    }
    hl_free(spans);
  }
  if (b->req.status != 0) {
    batch_finish(b);
    return;
  }
  b->budget = hl_schema_budget_for(b->len);
  if (!b->loop) {
    batch_validate(b, 0, &b->budget, true);
    batch_finish(b);
    return;
  }
  if (b->len <= HL_EVENT_INLINE_BYTES) {
    /* A small body: validated here unless that takes more than a few ms. */
    hl_schema_budget inline_budget = {HL_EVENT_INLINE_STEPS, HL_EVENT_INLINE_STEPS};
    b->from = batch_validate(b, 0, &inline_budget, false);
    if (b->from == b->n) {
      batch_finish(b);
      return;
    }
  } else {
    b->from = 0;
  }
  b->stage = ST_VALIDATE;
  uv_queue_work(b->loop, &b->work, on_work, on_work_done);
}

static hl_event_batch *batch_new(uv_loop_t *loop, const hl_registry *reg, const char *body, size_t len,
                                 unsigned flags, hl_event_batch_cb cb, void *data);
static void batch_run(hl_event_batch *b);

void hl_event_batch_start(uv_loop_t *loop, const hl_registry *reg, const char *body, size_t len, unsigned flags,
                          hl_event_batch_cb cb, void *data) {
  hl_event_batch *b = batch_new(loop, reg, body, len, flags, cb, data);
  batch_run(b);
}

void hl_event_batch_start_pinned(uv_loop_t *loop, const hl_registry *reg, const char *body, size_t len,
                                 const char *schema_api_id, hl_event_batch_cb cb, void *data) {
  hl_event_batch *b = batch_new(loop, reg, body, len, 0, cb, data);
  b->pin = schema_api_id ? hl_strdup(schema_api_id) : NULL;
  batch_run(b);
}

void hl_event_batch_start_raw(uv_loop_t *loop, const hl_registry *reg, const char *body, size_t len,
                              const char *type, const char *header_name, const char *header_id,
                              hl_event_batch_cb cb, void *data) {
  hl_event_batch *b = batch_new(loop, reg, body, len, HL_EVENT_RAW, cb, data);
  b->raw_type = hl_strdup(type);
  b->raw_id = header_id ? hl_strdup(header_id) : NULL;
  b->raw_id_header = header_name ? hl_strdup(header_name) : NULL;
  batch_run(b);
}

static hl_event_batch *batch_new(uv_loop_t *loop, const hl_registry *reg, const char *body, size_t len,
                                 unsigned flags, hl_event_batch_cb cb, void *data) {
  hl_event_batch *b = hl_calloc(1, sizeof *b);
  hl_buf_init(&b->req.details);
  b->loop = loop;
  b->reg = reg;
  b->body = body;
  b->len = len;
  b->flags = flags;
  b->cb = cb;
  b->data = data;
  b->work.data = b;
  hl_json_doc_init(&b->doc);
  return b;
}

/* Parses (on the threadpool when large), then the envelopes. */
static void batch_run(hl_event_batch *b) {
  if (b->loop && b->len > HL_EVENT_INLINE_BYTES) {
    b->stage = ST_PARSE;
    uv_queue_work(b->loop, &b->work, on_work, on_work_done);
    return;
  }
  batch_parse(b);
  batch_envelopes(b);
}

void hl_event_batch_free(hl_event_batch *b) {
  for (size_t i = 0; i < b->n; i++) hl_event_check_dispose(&b->events[i]);
  hl_free(b->events);
  hl_event_check_dispose(&b->req);
  hl_json_doc_dispose(&b->doc);
  hl_free(b->raw_type);
  hl_free(b->pin);
  hl_free(b->raw_id);
  hl_free(b->raw_id_header);
  hl_free(b);
}
