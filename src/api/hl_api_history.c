/* hl_api_history.c — a delivery's history: the attempt log
 * (GET /admin/deliveries/{event_id}/{subscription_id}/attempts).
 */
#include "api/hl_api_int.h"
#include "common/hl_common.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
  hl_api *a;
  hl_http_req *req;
  char *event_id;
  char *sub_id;
} hist_ctx;

static void hist_free(hist_ctx *c) {
  c->a->pending--;
  hl_free(c->event_id);
  hl_free(c->sub_id);
  hl_free(c);
}

static int by_attempt(const void *x, const void *y) {
  int64_t a = ((const hl_attempt_rec *)x)->attempt, b = ((const hl_attempt_rec *)y)->attempt;
  return (a > b) - (a < b);
}

static void on_attempts(void *data, int status, hl_store_result *res) {
  hist_ctx *c = data;
  if (status != 0) {
    hl_api_respond_store_error(c->req, status);
    hist_free(c);
    return;
  }
  /* Slots come back in key order from some stores: oldest attempt first. */
  if (res->nattempts > 1) qsort(res->attempts, res->nattempts, sizeof *res->attempts, by_attempt);
  hl_buf b = HL_BUF_INIT;
  hl_jw w;
  hl_jw_open(&w, &b);
  hl_jw_key_arr(&w, "attempts");
  for (size_t i = 0; i < res->nattempts; i++) {
    const hl_attempt_rec *r = &res->attempts[i];
    hl_jw_obj_begin(&w);
    hl_jw_key_int(&w, "attempt", r->attempt);
    hl_jw_key_int(&w, "at_ms", r->at_ms);
    hl_jw_key(&w, "status_code");
    if (r->status_code) hl_jw_int(&w, r->status_code); else hl_jw_null(&w);
    hl_jw_key_int(&w, "latency_ms", r->latency_ms);
    hl_jw_key(&w, "error");
    if (r->error) hl_jw_str(&w, r->error); else hl_jw_null(&w);
    /* Written by hl_attempt_log as a JSON object; anything else reads as none. */
    hl_jw_key(&w, "response_headers");
    if (r->headers_json && r->headers_json[0] == '{') hl_jw_raw(&w, r->headers_json, strlen(r->headers_json));
    else hl_jw_raw(&w, "{}", 2);
    hl_jw_key_str(&w, "response_body", r->body ? r->body : "");
    hl_jw_key_bool(&w, "truncated", r->truncated);
    hl_jw_obj_end(&w);
  }
  hl_jw_arr_end(&w);
  hl_jw_obj_end(&w);
  hl_api_respond_buf(c->req, 200, &b);
  hist_free(c);
}

/* The delivery must exist (404 otherwise) before its attempts are read. */
static void on_delivery(void *data, int status, hl_store_result *res) {
  hist_ctx *c = data;
  bool found = false;
  for (size_t i = 0; status == 0 && i < res->ndeliveries; i++)
    found |= res->deliveries[i].subscription_id && strcmp(res->deliveries[i].subscription_id, c->sub_id) == 0;
  if (status != 0) {
    hl_api_respond_store_error(c->req, status);
  } else if (!found) {
    hl_api_respond_error(c->req, 404, "not_found", "no delivery of this event to this subscription", NULL);
  } else {
    c->a->store->vt->attempt_list(c->a->store, c->event_id, c->sub_id, on_attempts, c);
    return;
  }
  hist_free(c);
}

void hl_api_list_attempts(hl_api *a, hl_http_req *req, const char *event_id, const char *sub_id) {
  if (!a->store->vt->attempt_list) {
    hl_api_respond_error(req, 501, "not_supported", "this store keeps no attempt log", NULL);
    return;
  }
  hist_ctx *c = hl_calloc(1, sizeof *c);
  *c = (hist_ctx){a, req, hl_strdup(event_id), hl_strdup(sub_id)};
  a->pending++;
  a->store->vt->delivery_list(a->store, event_id, on_delivery, c);
}
