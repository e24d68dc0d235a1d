/* hl_api_deliveries.c — delivery status: one event's deliveries
 * (GET /admin/deliveries?event_id=...), one subscription's searched
 * (GET /admin/deliveries?subscription_id=...&status=&since=&until=&limit=&cursor=),
 * and the re-queue of a failed delivery (from the embedded queue, or in
 * Kafka mode from the dead-letter topic).
 *
 * A page is newest update first; its next_cursor ("<updated_at>:<event_id>"
 * of its last row, opaque to clients) asks for the rows after it. A row
 * updated while a client pages may move ahead of the cursor and be missed
 * by that walk: the search shows the table as it is, not a snapshot.
 */
#include "api/hl_api_int.h"
#include "common/hl_rfc3339.h"
#include "common/hl_common.h"
#include "common/hl_log.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PAGE_DEFAULT 50
#define PAGE_MAX 500

typedef struct {
  hl_api *a;
  hl_http_req *req;
  char *sub_id;
  size_t limit;
} search_ctx;

/* Digits only: out is their value; false for none or an overflow. */
static bool digits_i64(const char *s, size_t n, int64_t *out) {
  int64_t v = 0;
  if (n == 0) return false;
  for (size_t i = 0; i < n; i++) {
    if (!isdigit((unsigned char)s[i]) || v > (INT64_MAX - 9) / 10) return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

bool hl_api_time_parse(const char *s, int64_t *ms) {
  size_t n = strlen(s);
  if (digits_i64(s, n, ms)) return true;
  /* RFC 3339 (2026-11-29T20:31:33.123Z, or with a space for the T), every
   * field its exact digits and in range; an instant before 1970 would be
   * a negative bound, refused. */
  int64_t t;
  if (hl_rfc3339_datetime(s, n, HL_RFC3339_SPACE, &t) != 0 || t < 0) return false;
  *ms = t;
  return true;
}

/* "<updated_at>:<event_id>" */
static bool cursor_parse(const char *s, hl_delivery_query *q) {
  const char *colon = strchr(s, ':');
  if (!colon || !colon[1] || !digits_i64(s, (size_t)(colon - s), &q->after_updated_at)) return false;
  q->after_event_id = colon + 1;
  return true;
}

static void on_search(void *data, int status, hl_store_result *res) {
  search_ctx *c = data;
  c->a->pending--;
  if (status != 0) {
    hl_api_respond_store_error(c->req, status);
  } else {
    /* One row more than the page was asked for: whether another page follows. */
    bool more = res->ndeliveries > c->limit;
    size_t n = more ? c->limit : res->ndeliveries;
    hl_buf b = HL_BUF_INIT;
    hl_jw w;
    hl_jw_open(&w, &b);
    hl_jw_key_str(&w, "subscription_id", c->sub_id);
    hl_jw_key_arr(&w, "deliveries");
    for (size_t i = 0; i < n; i++) hl_api_write_delivery(&w, c->a, &res->deliveries[i], true);
    hl_jw_arr_end(&w);
    hl_jw_key(&w, "next_cursor");
    if (more) {
      const hl_delivery_rec *last = &res->deliveries[n - 1];
      hl_buf cur = HL_BUF_INIT;
      hl_buf_printf(&cur, "%lld:%s", (long long)last->updated_at, last->event_id);
      hl_jw_str(&w, cur.data);
      hl_buf_dispose(&cur);
    } else {
      hl_jw_null(&w);
    }
    hl_jw_obj_end(&w);
    hl_api_respond_buf(c->req, 200, &b);
  }
  hl_free(c->sub_id);
  hl_free(c);
}

static bool status_ok(const char *s) {
  static const char *const ok[] = {"PENDING", "RETRYING", "SUCCESS", "FAILED"};
  for (size_t i = 0; i < HL_ARRAY_SIZE(ok); i++)
    if (strcmp(s, ok[i]) == 0) return true;
  return false;
}

void hl_api_search_deliveries(hl_api *a, hl_http_req *req, const char *sub_id) {
  if (!a->store->vt->delivery_search) {
    hl_api_respond_error(req, 501, "not_supported", "this store cannot search deliveries by subscription", NULL);
    return;
  }
  char status[HL_API_QUERY_VALUE_MAX + 1], since[HL_API_QUERY_VALUE_MAX + 1], until[HL_API_QUERY_VALUE_MAX + 1],
      limit[HL_API_QUERY_VALUE_MAX + 1], cursor[HL_API_QUERY_VALUE_MAX + 1];
  hl_delivery_query q = {.subscription_id = sub_id, .since = 0, .until = INT64_MAX,
                         .after_updated_at = INT64_MAX, .after_event_id = "", .limit = PAGE_DEFAULT};
  int64_t lim = PAGE_DEFAULT;
  if (hl_api_query_param(req, "status", status, sizeof status)) {
    if (!status_ok(status)) {
      hl_api_respond_field_error(req, "?status", "one of PENDING, RETRYING, SUCCESS, FAILED");
      return;
    }
    q.status = status;
  }
  if (hl_api_query_param(req, "since", since, sizeof since) && !hl_api_time_parse(since, &q.since)) {
    hl_api_respond_field_error(req, "?since", "an RFC 3339 time or milliseconds since the epoch");
    return;
  }
  if (hl_api_query_param(req, "until", until, sizeof until) && !hl_api_time_parse(until, &q.until)) {
    hl_api_respond_field_error(req, "?until", "an RFC 3339 time or milliseconds since the epoch");
    return;
  }
  if (q.since > q.until) {
    hl_api_respond_field_error(req, "?until", "must not be before since");
    return;
  }
  if (hl_api_query_param(req, "limit", limit, sizeof limit) &&
      (!digits_i64(limit, strlen(limit), &lim) || lim < 1 || lim > PAGE_MAX)) {
    hl_api_respond_field_error(req, "?limit", "an integer from 1 to 500");
    return;
  }
  if (hl_api_query_param(req, "cursor", cursor, sizeof cursor) && !cursor_parse(cursor, &q)) {
    hl_api_respond_field_error(req, "?cursor", "not a cursor this API gave (next_cursor of a page)");
    return;
  }
  search_ctx *c = hl_calloc(1, sizeof *c);
  *c = (search_ctx){a, req, hl_strdup(sub_id), (size_t)lim};
  q.limit = (size_t)lim + 1;
  a->pending++;
  a->store->vt->delivery_search(a->store, &q, on_search, c);
}

/* --- one event's deliveries, and the re-queue of a failed one ------------------------------ */

typedef struct { hl_api *a; hl_http_req *req; char *event_id; char *sub_id; } del_ctx;

void hl_api_write_delivery(hl_jw *w, hl_api *a, const hl_delivery_rec *r, bool with_event_id) {
  hl_sub *s = hl_registry_sub_get(a->reg, r->subscription_id);
  hl_jw_obj_begin(w);
  if (with_event_id) hl_jw_key_str(w, "event_id", r->event_id);
  hl_jw_key(w, "subscription_id"); hl_jw_str(w, r->subscription_id);
  hl_jw_key(w, "partner_id");
  if (s) hl_jw_str(w, s->rec.partner_id); else hl_jw_null(w);
  hl_jw_key(w, "status"); hl_jw_str(w, r->status);
  hl_jw_key(w, "attempts"); hl_jw_int(w, r->attempts);
  hl_jw_key(w, "last_status_code");
  if (r->last_status_code) hl_jw_int(w, r->last_status_code); else hl_jw_null(w);
  hl_jw_key(w, "last_error");
  if (r->last_error) hl_jw_str(w, r->last_error); else hl_jw_null(w);
  hl_jw_key(w, "last_latency_ms"); hl_jw_int(w, r->last_latency_ms);
  hl_jw_key(w, "updated_at"); hl_jw_int(w, r->updated_at);
  hl_jw_key(w, "next_attempt_at");
  if (r->next_attempt_at) hl_jw_int(w, r->next_attempt_at); else hl_jw_null(w);
  if (r->transformation) { hl_jw_key(w, "transformations"); hl_api_write_xform_used(w, r->transformation); }
  hl_jw_obj_end(w);
}

static void on_delivery_list(void *data, int status, hl_store_result *res) {
  del_ctx *c = data;
  c->a->pending--;
  if (status != 0) {
    hl_api_respond_store_error(c->req, status);
  } else {
    hl_buf b = HL_BUF_INIT;
    hl_jw w;
    hl_jw_open(&w, &b);
    hl_jw_key(&w, "event_id"); hl_jw_str(&w, c->event_id);
    hl_jw_key_arr(&w, "deliveries");
    for (size_t i = 0; i < res->ndeliveries; i++) hl_api_write_delivery(&w, c->a, &res->deliveries[i], false);
    hl_jw_arr_end(&w);
    hl_jw_obj_end(&w);
    hl_api_respond_buf(c->req, 200, &b);
  }
  hl_free(c->event_id);
  hl_free(c->sub_id);
  hl_free(c);
}

void hl_api_list_deliveries(hl_api *a, hl_http_req *req) {
  char id[HL_API_QUERY_VALUE_MAX + 1];
  if ((!hl_api_query_param(req, "event_id", id, sizeof id) || !id[0]) &&
      hl_api_query_param(req, "subscription_id", id, sizeof id) && id[0]) {
    hl_api_search_deliveries(a, req, id);
    return;
  }
  if (!hl_api_query_param(req, "event_id", id, sizeof id) || !id[0]) {
    hl_api_respond_field_error(req, "?event_id", "required: event_id, or subscription_id to search a subscription's deliveries");
    return;
  }
  /* An event's deliveries are listed whole: a search parameter beside
   * event_id would be ignored, and a bad one answered 200, so it is
   * refused where it is. */
  static const char *const search_only[] = {"subscription_id", "status", "since", "until", "limit", "cursor"};
  char v[HL_API_QUERY_VALUE_MAX + 1];
  for (size_t i = 0; i < HL_ARRAY_SIZE(search_only); i++)
    if (hl_api_query_param(req, search_only[i], v, sizeof v)) {
      char path[32], why[160];
      snprintf(path, sizeof path, "?%s", search_only[i]);
      snprintf(why, sizeof why, "not with event_id, whose deliveries are listed whole: %s is a parameter of the "
                                "search by subscription_id alone", search_only[i]);
      hl_api_respond_field_error(req, path, why);
      return;
    }
  del_ctx *c = hl_calloc(1, sizeof *c);
  *c = (del_ctx){a, req, hl_strdup(id), NULL};
  a->pending++;
  a->store->vt->delivery_list(a->store, id, on_delivery_list, c);
}

static void on_requeued(void *data, int status, const char *code, const char *message) {
  del_ctx *c = data;
  c->a->pending--;
  if (status == 0) {
    hl_log_info("delivery re-queued", "\"event_id\":\"%s\",\"subscription_id\":\"%s\"",
                hl_log_esc(c->event_id, (size_t)-1), hl_log_esc(c->sub_id, (size_t)-1));
    static const char body[] = "{\"status\":\"requeued\"}";
    hl_http_respond(c->req, 202, NULL, 0, body, sizeof body - 1);
  } else if (status == HL_EUNSUPPORTED) {
    hl_api_respond_error(c->req, 501, "not_supported", "re-queueing needs the embedded queue, the DynamoDB queue or a Kafka dead-letter topic; in Lambda on MSK, the brokers: set KAFKA_BROKERS, or wait until this function has handled an MSK batch", NULL);
  } else if (status == HL_ENOTFOUND) {
    hl_api_respond_error(c->req, 404, code ? code : "not_found",
                         message ? message : "no delivery of this event to this subscription", NULL);
  } else if (status == HL_EINVAL) {
    hl_api_respond_error(c->req, 409, code ? code : "not_failed",
                         message ? message : "only FAILED deliveries can be re-queued; this one is still pending or delivered", NULL);
  } else if (code) {
    hl_api_respond_error(c->req, 503, code, message ? message : "try again", NULL);
  } else {
    hl_api_respond_store_error(c->req, status);
  }
  hl_free(c->event_id);
  hl_free(c->sub_id);
  hl_free(c);
}

/* From the queue: the embedded one flips the row back to due; Kafka reads
 * the body back from the dead-letter topic (hl_queue_kafka). */
void hl_api_retry_delivery(hl_api *a, hl_http_req *req, const char *event_id, const char *sub_id) {
  del_ctx *c = hl_calloc(1, sizeof *c);
  *c = (del_ctx){a, req, hl_strdup(event_id), hl_strdup(sub_id)};
  a->pending++;
  if (!a->queue || !a->queue->vt->requeue) {
    on_requeued(c, HL_EUNSUPPORTED, NULL, NULL);
    return;
  }
  if (!hl_registry_sub_get(a->reg, sub_id)) {
    /* Open again, it would wait for a subscription that is gone (and
     * retention would close it again). */
    on_requeued(c, HL_ENOTFOUND, "unknown_subscription",
                "no subscription with this id (deleted, or never registered); nothing to deliver to");
    return;
  }
  a->queue->vt->requeue(a->queue, a->reg, event_id, sub_id, on_requeued, c);
}

