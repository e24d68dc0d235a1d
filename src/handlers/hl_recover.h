/* hl_recover.h — recovery jobs: every FAILED delivery of one subscription
 * whose last change falls in a time range is re-queued, in the background
 * (POST /admin/subscriptions/{id}/recover, docs/reliability.md).
 *
 * A job walks the subscription's FAILED deliveries with the store's
 * delivery search (hl_store_vtable.delivery_search: newest change first, a
 * page at a time, each page going on after the last row of the one before)
 * and re-queues each through the queue (hl_queue_vt.requeue), the same way
 * POST /admin/deliveries/{event_id}/{subscription_id}/retry does: a new
 * attempt, the attempts before it kept, the same webhook-id. Bounded: one
 * search of at most HL_RECOVER_PAGE rows at a time, at most
 * HL_RECOVER_WINDOW re-queues of it in flight; every call is the store's or
 * the queue's asynchronous one, so the loop is never held longer than one
 * of them.
 *
 * The walk stops at the range's end as it was when the job started (until
 * is capped at the start time): a delivery that fails again after its
 * re-queue changed after that and is not taken twice. A row re-queued
 * leaves the FAILED search at once, so the walk never meets it again.
 *
 * Jobs live in this process's memory only. A restart loses the job, not a
 * delivery: what was re-queued is PENDING in the store (the queue delivers
 * it), and posting the same range again re-queues exactly the rows still
 * FAILED. Recovery is idempotent, not resumable.
 *
 * Ownership: store, queue and registry are borrowed and must outlive the
 * set until hl_recover_destroy; the set frees itself once the last call in
 * flight has answered. Jobs belong to the set.
 */
#ifndef HL_RECOVER_H
#define HL_RECOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/hl_registry.h"
#include "queue/hl_queue.h"
#include "store/hl_store.h"

#define HL_RECOVER_PAGE 100   /* rows a search reads at most */
#define HL_RECOVER_WINDOW 8   /* re-queues in flight at most, per job */
#define HL_RECOVER_KEEP 256   /* finished jobs kept (one per subscription), oldest dropped first */

/* A job's life. SEARCHING: a page is being read; REQUEUEING: its rows are
 * being re-queued; then DONE (the range is walked), FAILED (a search
 * failed, or the subscription was deleted; what was re-queued stays
 * re-queued) or STOPPED (the process began to shut down). */
typedef enum { HL_RECOVER_SEARCHING, HL_RECOVER_REQUEUEING, HL_RECOVER_DONE, HL_RECOVER_FAILED,
               HL_RECOVER_STOPPED } hl_recover_state;

/* What a job has done so far, as the status call shows it. */
typedef struct {
  const char *job_id;
  const char *subscription_id;
  hl_recover_state state;
  const char *state_name;   /* "searching", ... */
  bool finished;            /* DONE, FAILED or STOPPED */
  int64_t since, until;     /* the range walked (ms, inclusive; until capped at started_at) */
  int64_t started_at, finished_at; /* ms since epoch; finished_at 0 while running */
  uint64_t matched;         /* FAILED deliveries found in the range */
  uint64_t requeued;        /* re-queued */
  uint64_t skipped;         /* no longer FAILED when re-queued (delivered or re-queued meanwhile) */
  uint64_t errors;          /* the store or the queue refused the re-queue */
  uint64_t pages;           /* searches made */
  const char *error;        /* FAILED: why; else NULL */
} hl_recover_progress;

typedef struct hl_recover hl_recover;
typedef struct hl_recover_job hl_recover_job;

/* A set of jobs over store, queue (NULL, or without requeue: no job
 * starts) and reg. pending (may be NULL): a count the owner drains on,
 * raised by one for every call in flight and lowered when it answers. */
hl_recover *hl_recover_create(hl_store *store, hl_queue *queue, const hl_registry *reg, size_t *pending);
/* Starts a job over [since, until] of subscription_id. HL_EEXISTS: a job of
 * that subscription still runs (*job is that one); HL_EUNSUPPORTED: the
 * store cannot search or the queue cannot re-queue; HL_ECLOSED: stopping.
 * 0: *job is the new one. */
int hl_recover_start(hl_recover *r, const char *subscription_id, int64_t since, int64_t until,
                     const hl_recover_job **job);
/* The newest job of subscription_id, or NULL. */
const hl_recover_job *hl_recover_find(const hl_recover *r, const char *subscription_id);
void hl_recover_progress_of(const hl_recover_job *j, hl_recover_progress *out);
/* Store and queue calls in flight (a drain waits for them). */
size_t hl_recover_busy(const hl_recover *r);
/* Shutting down: no job makes another call; each running one ends STOPPED
 * once its calls answer. */
void hl_recover_stop(hl_recover *r);
/* Stops, then frees the set: now when nothing is in flight, else with the
 * last answer. r may be NULL. */
void hl_recover_destroy(hl_recover *r);

#endif
