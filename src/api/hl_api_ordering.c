/* A subscription's "ordering" ("none" or "fifo") and "skip_after" (N >= 1,
 * fifo only) in its registration and its answers (model/hl_sub_order.h).
 * fifo needs a queue that can keep it (hl_queue.orders): the embedded
 * queue on SQLite or PostgreSQL, the DynamoDB queue, serve's Kafka
 * consumer (per egress partition, the head's retries held in memory) and
 * Lambda's MSK batches (a head whose retry the invocation cannot wait for
 * hands its batch back; app/hl_lambda.c). Elsewhere (no queue: a Lambda
 * function with neither Kafka brokers nor the DynamoDB queue) it is
 * refused rather than promised falsely. */
#include "api/hl_api_int.h"
#include "common/hl_common.h"
#include "model/hl_sub_order.h"

#include <string.h>

bool hl_api_sub_ordering_parse(hl_api *a, hl_http_req *req, const hl_json *root, hl_sub_rec *rec) {
  const hl_json *v = hl_json_get(root, "ordering");
  const char *mode = v && v->type != HL_JSON_NULL ? hl_json_str(v) : "none";
  if (!mode || (strcmp(mode, "none") != 0 && strcmp(mode, HL_SUB_ORDER_FIFO) != 0)) {
    hl_api_respond_field_error(req, "/ordering", "expected \"none\" (the default) or \"fifo\"");
    return false;
  }
  bool fifo = strcmp(mode, HL_SUB_ORDER_FIFO) == 0;
  if (fifo && !(a->queue && a->queue->vt->orders && a->queue->vt->orders(a->queue))) {
    hl_api_respond_field_error(req, "/ordering",
                               "fifo ordering needs the embedded queue (SQLite or PostgreSQL store), the DynamoDB "
                               "queue or a Kafka consumer (serve, or Lambda's MSK batches); this process delivers "
                               "from a queue that cannot hold a retrying delivery's followers back");
    return false;
  }
  const hl_json *sa = hl_json_get(root, "skip_after");
  if (sa && sa->type != HL_JSON_NULL && !fifo) {
    hl_api_respond_field_error(req, "/skip_after", "skip_after applies to \"ordering\": \"fifo\" only");
    return false;
  }
  rec->skip_after = 0;
  if (!hl_api_int_member(req, root, "skip_after", 1, 1000, &rec->skip_after)) return false;
  if (fifo) rec->ordering = hl_strdup(HL_SUB_ORDER_FIFO);
  return true;
}

void hl_api_write_ordering(hl_jw *w, const hl_sub_rec *r) {
  hl_jw_key(w, "ordering");
  hl_jw_str(w, hl_sub_rec_fifo(r) ? HL_SUB_ORDER_FIFO : "none");
  hl_jw_key(w, "skip_after");
  if (r->skip_after > 0) hl_jw_int(w, r->skip_after); else hl_jw_null(w);
}
