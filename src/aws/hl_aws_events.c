#include "aws/hl_aws_events.h"

#include <stdio.h>
#include <string.h>

#include "aws/hl_aws_arn.h"
#include "aws/hl_aws_msg.h"
#include "common/hl_common.h"
#include "json/hl_json.h"

#define TARGET "AWSEvents.PutEvents"

const hl_aws_service hl_events_service = {"events", "application/x-amz-json-1.1", &hl_aws_protocol_json};

/* True, with the reason in err, when the entries so far are over what
 * PutEvents takes. */
static bool size_over(size_t size, char *err, size_t errlen) {
  if (size <= HL_AWS_MESSAGE_MAX) return false;
  snprintf(err, errlen, "the entries are %zu bytes as EventBridge counts them: at most %d are allowed", size,
           HL_AWS_MESSAGE_MAX);
  return true;
}

bool hl_events_detail_is_object(const char *detail, size_t len) {
  if (!detail) return false;
  hl_json_doc doc;
  hl_json_doc_init(&doc);
  hl_json_error je;
  bool object = hl_json_parse(&doc, detail, len, &je) == 0 && doc.root->type == HL_JSON_OBJECT;
  hl_json_doc_dispose(&doc);
  return object;
}

static int entry_check(const hl_events_entry *e, size_t i, size_t *size, char *err, size_t errlen) {
  char why[200];
  if (e->bus && hl_events_bus_check(e->bus, why, sizeof why) != 0) {
    snprintf(err, errlen, "entry %zu: %s", i, why);
    return HL_EINVAL;
  }
  /* The limits count characters, the entry's size (below) bytes: a detail
   * type of 100 "é" is 200 bytes and EventBridge takes it. */
  size_t sl = e->source ? strlen(e->source) : 0, dl = e->detail_type ? strlen(e->detail_type) : 0;
  if (sl == 0 || hl_aws_text_check(e->source, sl, NULL) != 0 || hl_aws_text_chars(e->source, sl) > 256) {
    snprintf(err, errlen, "entry %zu: the source must be 1 to 256 characters of UTF-8 text", i);
    return HL_EINVAL;
  }
  if (dl == 0 || hl_aws_text_check(e->detail_type, dl, NULL) != 0 || hl_aws_text_chars(e->detail_type, dl) > 128) {
    snprintf(err, errlen, "entry %zu: the detail type must be 1 to 128 characters of UTF-8 text", i);
    return HL_EINVAL;
  }
  /* EventBridge's own count: Source, DetailType, Detail and each Resource
   * in UTF-8 bytes (and 14 for a Time, which is never sent here). Counted
   * before the detail is parsed: one too large is refused without being
   * read (parsing an event of 1 MB holds the loop ~50 ms). */
  *size += sl + dl + e->detail_len;
  for (size_t r = 0; r < e->n_resources; r++) *size += e->resources[r] ? strlen(e->resources[r]) : 0;
  if (size_over(*size, err, errlen)) return HL_EINVAL;
  /* Read here unless the caller has (a large detail, on the threadpool). */
  bool object = e->detail_object ? e->detail_object > 0 : hl_events_detail_is_object(e->detail, e->detail_len);
  if (!object) {
    snprintf(err, errlen, "entry %zu: the detail must be a JSON object", i);
    return HL_EINVAL;
  }
  return 0;
}

int hl_events_put_body(const hl_events_entry *entries, size_t n, hl_buf *body, char *err, size_t errlen) {
  if (n == 0 || n > HL_EVENTS_ENTRIES_MAX) {
    snprintf(err, errlen, "PutEvents takes 1 to %d entries (got %zu)", HL_EVENTS_ENTRIES_MAX, n);
    return HL_EINVAL;
  }
  size_t size = 0;
  for (size_t i = 0; i < n; i++)
    if (entry_check(&entries[i], i, &size, err, errlen) != 0) return HL_EINVAL;
  hl_jw w;
  hl_jw_open(&w, body);
  hl_jw_key_arr(&w, "Entries");
  for (size_t i = 0; i < n; i++) {
    const hl_events_entry *e = &entries[i];
    hl_jw_obj_begin(&w);
    if (e->bus) {
      hl_jw_key(&w, "EventBusName");
      hl_jw_str(&w, e->bus);
    }
    hl_jw_key(&w, "Source");
    hl_jw_str(&w, e->source);
    hl_jw_key(&w, "DetailType");
    hl_jw_str(&w, e->detail_type);
    hl_jw_key(&w, "Detail");
    hl_jw_strn(&w, e->detail, e->detail_len);
    if (e->n_resources) {
      hl_jw_key_arr(&w, "Resources");
      for (size_t r = 0; r < e->n_resources; r++) hl_jw_str(&w, e->resources[r]);
      hl_jw_arr_end(&w);
    }
    hl_jw_obj_end(&w);
  }
  hl_jw_arr_end(&w);
  hl_jw_obj_end(&w);
  return 0;
}

typedef struct {
  hl_events_put_cb cb;
  void *data;
  size_t n;
} put_call;

static void on_put(void *data, const hl_aws_status *st, const hl_json *resp) {
  put_call pc = *(put_call *)data;
  hl_free(data);
  if (st->verdict != HL_AWS_VERDICT_OK) {
    pc.cb(pc.data, st, NULL, 0, 0);
    return;
  }
  hl_events_entry_result *res = hl_calloc(pc.n, sizeof *res);
  hl_aws_status all = *st;
  const hl_json *entries = hl_json_get(resp, "Entries");
  int64_t failed = 0;
  hl_json_int64(hl_json_get(resp, "FailedEntryCount"), &failed);
  size_t got = entries && entries->type == HL_JSON_ARRAY ? entries->len : 0;
  for (size_t i = 0; i < pc.n; i++) {
    hl_events_entry_result *r = &res[i];
    const hl_json *e = i < got ? &entries->u.items[i] : NULL;
    const char *id = hl_json_str(hl_json_get(e, "EventId"));
    const char *code = hl_json_str(hl_json_get(e, "ErrorCode"));
    const char *msg = hl_json_str(hl_json_get(e, "ErrorMessage"));
    if (id && !code) {
      snprintf(r->event_id, sizeof r->event_id, "%s", id);
      r->verdict = HL_AWS_VERDICT_OK;
      continue;
    }
    /* A failed entry, or one the answer does not account for: the same
     * rule as a whole call, without an HTTP status. */
    hl_aws_status es = {0};
    snprintf(es.code, sizeof es.code, "%s", code ? code : "MissingEntryResult");
    if (msg) snprintf(es.message, sizeof es.message, "%s", msg);
    hl_aws_classify_code(0, &es);
    if (!code) es.verdict = HL_AWS_VERDICT_RETRY; /* unaccounted: not known to be taken */
    r->verdict = es.verdict;
    memcpy(r->code, es.code, sizeof r->code);
    memcpy(r->message, es.message, sizeof r->message);
    if (r->verdict > all.verdict) {
      all.verdict = r->verdict;
      all.outcome = es.outcome;
      all.retryable = es.retryable;
      memcpy(all.code, es.code, sizeof all.code);
      memcpy(all.message, es.message, sizeof all.message);
    }
  }
  pc.cb(pc.data, &all, res, pc.n, failed > 0 ? (size_t)failed : 0);
  hl_free(res);
}

int hl_events_put(hl_aws_client *c, const hl_events_entry *entries, size_t n, hl_events_put_cb cb, void *data,
                  char *err, size_t errlen) {
  hl_buf body = HL_BUF_INIT;
  if (hl_events_put_body(entries, n, &body, err, errlen) != 0) return HL_EINVAL; /* body still empty */
  put_call *pc = hl_malloc(sizeof *pc);
  *pc = (put_call){cb, data, n};
  hl_aws_client_call_json(c, TARGET, &body, NULL, on_put, pc);
  return 0;
}
