/* hl_app_retention.h — retention: old delivered and failed rows purged in
 * bounded batches on a timer (docs/retention.md).
 *
 * Each tick asks the store for one batch (hl_store_vtable.purge, at most
 * HL_RETENTION_BATCH rows of each kind), through the store's asynchronous
 * path like any other call, and never more than one batch at a time: the
 * loop is never held longer than a batch. A full batch means more is
 * waiting, so the next comes soon (HL_RETENTION_CATCH_UP_MS); otherwise
 * once a minute (or a retention "day", when HOOKLOOP_RETENTION_UNIT_MS
 * makes that shorter, as tests do).
 *
 * Ownership: the store and configuration are borrowed and must outlive
 * the retention object until its close callback.
 */
#ifndef HL_APP_RETENTION_H
#define HL_APP_RETENTION_H

#include "app/hl_config.h"
#include "common/hl_buf.h"
#include "queue/hl_queue.h"
#include "store/hl_store.h"

#include <uv.h>

#define HL_RETENTION_BATCH 500
#define HL_RETENTION_CATCH_UP_MS 100
#define HL_RETENTION_TICK_MS 60000

typedef struct hl_app_retention hl_app_retention;

/* Starts the timer; NULL when the store has no purge (DynamoDB expires
 * rows by their TTL attribute instead) and the queue (may be NULL) no
 * sweep. With no purge, each tick is the queue's sweep: the DynamoDB
 * queue's deleted subscriptions' waiting deliveries closed. */
hl_app_retention *hl_app_retention_start(uv_loop_t *loop, hl_store *store, hl_queue *queue, const hl_config *cfg);

/* How long an Idempotency-Key stays bound: HOOKLOOP_RETENTION_DAYS, in
 * seconds (at least 1). */
int64_t hl_app_retention_idempotency_ttl_s(const hl_config *cfg);

/* hookloop_retention_purged_total{kind} (r may be NULL: nothing). */
void hl_app_retention_render_metrics(const hl_app_retention *r, hl_buf *out);

/* Stops the timer; cb runs once the batch in flight (if any) answered.
 * r may be NULL (cb runs at once). */
void hl_app_retention_close(hl_app_retention *r, void (*cb)(void *data), void *data);

#endif
