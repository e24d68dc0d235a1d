/* hl_api_recover.c — recovering a time range of a subscription's failed
 * deliveries (handlers/hl_recover.h):
 *   POST /admin/subscriptions/{id}/recover {"since", "until", "status"}
 *        202: the job, started in the background
 *   GET  /admin/subscriptions/{id}/recover
 *        200: the subscription's newest job and its progress
 * The job set is made on the first POST and lives with the API. */
#include "api/hl_api_int.h"
#include "common/hl_common.h"
#include "handlers/hl_recover.h"

#include <stdio.h>
#include <string.h>

/* A time member: an RFC 3339 string or milliseconds since the epoch (a
 * non-negative integer, or its digits as a string), as the delivery search
 * takes them. false: answered 400 naming it. */
static bool time_member(hl_http_req *req, const hl_json *root, const char *key, int64_t *out) {
  const hl_json *v = hl_json_get(root, key);
  if (!v || v->type == HL_JSON_NULL) return true;
  int64_t n;
  /* hl_api_get_str: a time holding U+0000 is not read cut short ("0\u0000x" as 0). */
  const char *text = v->type == HL_JSON_STRING ? hl_api_get_str(root, key) : NULL;
  if ((text && hl_api_time_parse(text, &n)) ||
      (v->type == HL_JSON_NUMBER && hl_json_int64(v, &n) == 0 && n >= 0)) {
    *out = n;
    return true;
  }
  char ptr[32];
  snprintf(ptr, sizeof ptr, "/%s", key);
  hl_api_respond_field_error(req, ptr, "an RFC 3339 time or milliseconds since the epoch");
  return false;
}

/* "status": an array of delivery states; only FAILED deliveries can be
 * re-queued, so FAILED is the one state taken. */
static bool status_member(hl_http_req *req, const hl_json *root) {
  const hl_json *v = hl_json_get(root, "status");
  if (!v) return true;
  if (v->type != HL_JSON_ARRAY || v->len == 0) {
    hl_api_respond_field_error(req, "/status", "an array of delivery states: [\"FAILED\"]");
    return false;
  }
  static const char *const states[] = {"PENDING", "RETRYING", "SUCCESS"};
  for (uint32_t i = 0; i < v->len; i++) {
    const char *s = v->u.items[i].type == HL_JSON_STRING ? hl_json_str(&v->u.items[i]) : NULL;
    if (s && strcmp(s, "FAILED") == 0) continue;
    char ptr[32];
    snprintf(ptr, sizeof ptr, "/status/%u", i);
    bool known = false;
    for (size_t k = 0; s && k < HL_ARRAY_SIZE(states); k++) known |= strcmp(s, states[k]) == 0;
    hl_api_respond_field_error(req, ptr,
                               known ? "only FAILED deliveries can be recovered (the others are still due or delivered)"
                                     : "one of PENDING, RETRYING, SUCCESS, FAILED");
    return false;
  }
  return true;
}

static void write_job(hl_buf *b, const hl_recover_job *j) {
  hl_recover_progress p;
  hl_recover_progress_of(j, &p);
  hl_jw w;
  hl_jw_open(&w, b);
  hl_jw_key_str(&w, "job_id", p.job_id);
  hl_jw_key_str(&w, "subscription_id", p.subscription_id);
  hl_jw_key_str(&w, "state", p.state_name);
  hl_jw_key_bool(&w, "finished", p.finished);
  hl_jw_key_arr(&w, "status");
  hl_jw_str(&w, "FAILED");
  hl_jw_arr_end(&w);
  hl_jw_key_int(&w, "since", p.since);
  hl_jw_key_int(&w, "until", p.until);
  hl_jw_key_int(&w, "started_at", p.started_at);
  hl_jw_key(&w, "finished_at");
  if (p.finished) hl_jw_int(&w, p.finished_at); else hl_jw_null(&w);
  hl_jw_key_int(&w, "matched", (int64_t)p.matched);
  hl_jw_key_int(&w, "requeued", (int64_t)p.requeued);
  hl_jw_key_int(&w, "skipped", (int64_t)p.skipped);
  hl_jw_key_int(&w, "errors", (int64_t)p.errors);
  hl_jw_key_int(&w, "pages", (int64_t)p.pages);
  hl_jw_key(&w, "error");
  if (p.error) hl_jw_str(&w, p.error); else hl_jw_null(&w);
  hl_jw_obj_end(&w);
}

static void respond_job(hl_http_req *req, int status, const hl_recover_job *j) {
  hl_buf b = HL_BUF_INIT;
  write_job(&b, j);
  hl_api_respond_buf(req, status, &b);
}

void hl_api_post_recover(hl_api *a, hl_http_req *req, const char *id) {
  if (a->draining) {
    hl_api_respond_error(req, 503, "draining", "shutting down; post the recovery again to the next process", NULL);
    return;
  }
  if (!hl_api_sub_or_404(a, req, id)) return;
  hl_json_doc doc;
  if (!hl_api_parse_body(req, &doc)) return;
  const hl_json *root = doc.root;
  int64_t since = -1, until = INT64_MAX;
  if (root->type != HL_JSON_OBJECT) {
    hl_api_respond_field_error(req, "", "expected a JSON object");
    goto out;
  }
  for (uint32_t i = 0; i < root->len; i++) {
    const char *k = root->u.members[i].key;
    if (strcmp(k, "since") != 0 && strcmp(k, "until") != 0 && strcmp(k, "status") != 0) {
      hl_buf ptr = HL_BUF_INIT;
      hl_json_pointer_append(&ptr, k, root->u.members[i].key_len);
      hl_buf_putc(&ptr, '\0');
      hl_api_respond_field_error(req, ptr.data, "unknown member (since, until and status are)");
      hl_buf_dispose(&ptr);
      goto out;
    }
  }
  if (!time_member(req, root, "since", &since) || !time_member(req, root, "until", &until) ||
      !status_member(req, root))
    goto out;
  if (since < 0) {
    hl_api_respond_field_error(req, "/since", "required: where the range starts (RFC 3339 or ms since the epoch)");
    goto out;
  }
  if (since > until) {
    hl_api_respond_field_error(req, "/until", "must not be before since");
    goto out;
  }
  if (!a->recover) a->recover = hl_recover_create(a->store, a->queue, a->reg, &a->pending);
  const hl_recover_job *job;
  int rc = hl_recover_start(a->recover, id, since, until, &job);
  if (rc == 0) {
    respond_job(req, 202, job);
  } else if (rc == HL_EEXISTS) {
    hl_recover_progress p;
    hl_recover_progress_of(job, &p);
    char msg[200];
    snprintf(msg, sizeof msg, "recovery %s of this subscription is still running; GET its progress, then post again",
             p.job_id);
    hl_api_respond_error(req, 409, "recovery_running", msg, NULL);
  } else if (rc == HL_EUNSUPPORTED) {
    hl_api_respond_error(req, 501, "not_supported",
                         "recovery needs a store that searches deliveries and a queue that re-queues them", NULL);
  } else {
    hl_api_respond_error(req, 503, "draining", "shutting down; post the recovery again to the next process", NULL);
  }
out:
  hl_json_doc_dispose(&doc);
}

void hl_api_get_recover(hl_api *a, hl_http_req *req, const char *id) {
  const hl_recover_job *job = hl_recover_find(a->recover, id);
  if (job) {
    respond_job(req, 200, job);
    return;
  }
  if (!hl_api_sub_or_404(a, req, id)) return;
  hl_api_respond_error(req, 404, "no_recovery",
                       "no recovery of this subscription ran in this process (jobs are kept in memory)", NULL);
}

void hl_api_stop_jobs(hl_api *a) { hl_recover_stop(a->recover); }

void hl_api_close_jobs(hl_api *a) {
  hl_recover_destroy(a->recover);
  a->recover = NULL;
}
