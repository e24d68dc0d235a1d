/* hl_queue_ddb_ops.c — the DynamoDB queue's calls in flight: each part of
 * the queue (claims and outcomes, the notes of subscriptions gone, the
 * lease renewals) calls through here, so that a queue destroyed while
 * answers are out is freed by the last of them, whichever part it was. */
#include "queue/hl_queue_ddb_int.h"

#include "common/hl_common.h"
#include "common/hl_strmap.h"

void hl_qddb_call(ddbq *q, hl_ddb_op op, hl_buf *body, hl_aws_json_cb cb, void *data) {
  q->ops++;
  hl_ddb_call(q->c, op, body, cb, data);
}

void hl_qddb_op_done(ddbq *q) {
  if (--q->ops == 0 && q->dead) {
    hl_strmap_dispose(&q->owed);
    hl_strmap_dispose(&q->legacy_noted);
    hl_free(q->gone_after);
    hl_free(q->table);
    hl_free(q);
  }
}
