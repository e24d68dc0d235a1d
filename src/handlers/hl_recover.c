/* hl_recover.c — see hl_recover.h. */
#include "handlers/hl_recover.h"
#include "common/hl_common.h"
#include "common/hl_log.h"
#include "common/hl_sm.h"
#include "crypto/hl_crypto.h"

#include <string.h>

struct hl_recover_job {
  hl_recover *set;
  hl_recover_job *next;          /* the set's list, newest first */
  hl_recover_state state;
  char *id, *sub_id;
  int64_t since, until, started_at, finished_at;
  /* The page being re-queued (owned), the next row to start, the re-queues
   * in flight, and whether the page was full (more may follow it). */
  hl_delivery_rec *rows;
  size_t nrows, next_row, in_flight;
  bool page_full;
  bool pumping;                  /* inside pump(): a re-queue answering at once only counts */
  /* Where the next search goes on: after the last row of the page before. */
  int64_t after_updated_at;
  char *after_event_id;
  uint64_t matched, requeued, skipped, errors, pages;
  char *error;
};

struct hl_recover {
  hl_store *store;
  hl_queue *queue;
  const hl_registry *reg;
  size_t *pending;               /* the owner's count of calls in flight, or NULL */
  hl_recover_job *jobs;
  size_t njobs;
  size_t calls;                  /* store and queue calls in flight, all jobs */
  bool stopping, dead;
};

static const char *const state_names[] = {"searching", "requeueing", "done", "failed", "stopped"};

static bool finished(hl_recover_state s) { return s == HL_RECOVER_DONE || s == HL_RECOVER_FAILED || s == HL_RECOVER_STOPPED; }

/* The one place a job changes state. */
static void transition(hl_recover_job *j, hl_recover_state to) {
  static const unsigned allowed[] = {
    [HL_RECOVER_SEARCHING] = HL_SM_TO(HL_RECOVER_REQUEUEING) | HL_SM_TO(HL_RECOVER_DONE) |
                             HL_SM_TO(HL_RECOVER_FAILED) | HL_SM_TO(HL_RECOVER_STOPPED),
    [HL_RECOVER_REQUEUEING] = HL_SM_TO(HL_RECOVER_SEARCHING) | HL_SM_TO(HL_RECOVER_DONE) |
                              HL_SM_TO(HL_RECOVER_FAILED) | HL_SM_TO(HL_RECOVER_STOPPED),
    [HL_RECOVER_DONE] = 0,
    [HL_RECOVER_FAILED] = 0,
    [HL_RECOVER_STOPPED] = 0,
  };
  hl_sm_check("recover", allowed, state_names, j->state, to);
  j->state = to;
  if (!finished(to)) return;
  j->finished_at = hl_wall_ms();
  hl_log_info("recovery finished",
              "\"job_id\":\"%s\",\"subscription_id\":\"%s\",\"state\":\"%s\",\"matched\":%llu,\"requeued\":%llu,"
              "\"skipped\":%llu,\"errors\":%llu",
              j->id, hl_log_esc(j->sub_id, (size_t)-1), state_names[to], (unsigned long long)j->matched,
              (unsigned long long)j->requeued, (unsigned long long)j->skipped, (unsigned long long)j->errors);
}

static void free_rows(hl_recover_job *j) {
  for (size_t i = 0; i < j->nrows; i++) hl_delivery_rec_free(&j->rows[i]);
  hl_free(j->rows);
  j->rows = NULL;
  j->nrows = j->next_row = 0;
}

static void job_free(hl_recover_job *j) {
  free_rows(j);
  hl_free_all(j->id, j->sub_id, j->after_event_id, j->error, j);
}

static void set_free(hl_recover *r) {
  while (r->jobs) {
    hl_recover_job *j = r->jobs;
    r->jobs = j->next;
    job_free(j);
  }
  hl_free(r);
}

/* A call answered. False: the set is being destroyed, and the caller must
 * touch nothing more (the set is gone once nothing else is in flight). */
static bool call_done(hl_recover *r) {
  r->calls--;
  if (r->pending) (*r->pending)--;
  if (!r->dead) return true;
  if (r->calls == 0) set_free(r);
  return false;
}

static void call_begin(hl_recover *r) {
  r->calls++;
  if (r->pending) (*r->pending)++;
}

static void on_page(void *data, int status, hl_store_result *res);

static void search(hl_recover_job *j) {
  hl_recover *r = j->set;
  hl_delivery_query q = {.subscription_id = j->sub_id, .status = "FAILED", .since = j->since, .until = j->until,
                         .after_updated_at = j->after_updated_at, .after_event_id = j->after_event_id,
                         .limit = HL_RECOVER_PAGE};
  call_begin(r);
  r->store->vt->delivery_search(r->store, &q, on_page, j);
}

static void on_requeued(void *data, int status, const char *code, const char *message);

/* The job's subscription was deleted (here, or by another process's
 * change read since): what is left of the range is not re-queued, which
 * would open rows nothing claims (the deletion closed its waiting
 * deliveries; these would wait for retention). */
static bool sub_gone(const hl_recover_job *j) {
  const hl_sub *s = j->set->reg ? hl_registry_sub_get(j->set->reg, j->sub_id) : NULL;
  return !s || s->deleted;
}

static void fail_gone(hl_recover_job *j) {
  j->error = hl_strdup("the subscription was deleted");
  transition(j, HL_RECOVER_FAILED);
}

/* Starts re-queues up to the window; once the page is through (or the set
 * stops, or the subscription is gone), moves on: the next page, or the
 * end. */
static void pump(hl_recover_job *j) {
  hl_recover *r = j->set;
  bool gone = sub_gone(j);
  j->pumping = true;
  while (!r->stopping && !gone && j->in_flight < HL_RECOVER_WINDOW && j->next_row < j->nrows) {
    const hl_delivery_rec *d = &j->rows[j->next_row++];
    j->in_flight++;
    call_begin(r);
    r->queue->vt->requeue(r->queue, r->reg, d->event_id, d->subscription_id, on_requeued, j);
  }
  j->pumping = false;
  if (j->in_flight > 0 || (j->next_row < j->nrows && !r->stopping && !gone)) return;
  free_rows(j);
  if (r->stopping) {
    transition(j, HL_RECOVER_STOPPED);
  } else if (gone) {
    fail_gone(j);
  } else if (j->page_full) {
    transition(j, HL_RECOVER_SEARCHING);
    search(j);
  } else {
    transition(j, HL_RECOVER_DONE);
  }
}

static void on_requeued(void *data, int status, const char *code, const char *message) {
  hl_recover_job *j = data;
  (void)code;
  j->in_flight--;
  if (!call_done(j->set)) return;
  if (status == 0) {
    j->requeued++;
  } else if (status == HL_ENOTFOUND || status == HL_EINVAL) {
    j->skipped++; /* delivered, or re-queued by someone else, since the search read it */
  } else {
    j->errors++;
    hl_log_warn("recovery: a delivery was not re-queued", "\"job_id\":\"%s\",\"status\":%d,\"error\":\"%s\"", j->id,
                status, hl_log_esc(message ? message : hl_strerror(status), (size_t)-1));
  }
  if (!j->pumping) pump(j); /* else pump's own loop goes on */
}

static void on_page(void *data, int status, hl_store_result *res) {
  hl_recover_job *j = data;
  hl_recover *r = j->set;
  if (!call_done(r)) return;
  j->pages++;
  if (r->stopping) {
    transition(j, HL_RECOVER_STOPPED);
    return;
  }
  if (status != 0) {
    j->error = hl_strdup(hl_strerror(status));
    hl_log_warn("recovery: a search failed; the job ends here", "\"job_id\":\"%s\",\"error\":\"%s\"", j->id,
                j->error);
    transition(j, HL_RECOVER_FAILED);
    return;
  }
  if (res->ndeliveries == 0) {
    transition(j, HL_RECOVER_DONE);
    return;
  }
  if (sub_gone(j)) {
    fail_gone(j);
    return;
  }
  j->rows = res->deliveries;
  j->nrows = res->ndeliveries;
  res->deliveries = NULL; /* kept: the result's rows are the job's now */
  res->ndeliveries = 0;
  j->next_row = 0;
  j->matched += j->nrows;
  j->page_full = j->nrows >= HL_RECOVER_PAGE;
  const hl_delivery_rec *last = &j->rows[j->nrows - 1];
  j->after_updated_at = last->updated_at;
  hl_free(j->after_event_id);
  j->after_event_id = hl_strdup(last->event_id);
  transition(j, HL_RECOVER_REQUEUEING);
  pump(j);
}

hl_recover *hl_recover_create(hl_store *store, hl_queue *queue, const hl_registry *reg, size_t *pending) {
  hl_recover *r = hl_calloc(1, sizeof *r);
  *r = (hl_recover){.store = store, .queue = queue, .reg = reg, .pending = pending};
  return r;
}

/* Unlinks j (finished) from the set and frees it. */
static void drop(hl_recover *r, hl_recover_job *j) {
  for (hl_recover_job **p = &r->jobs; *p; p = &(*p)->next) {
    if (*p != j) continue;
    *p = j->next;
    r->njobs--;
    job_free(j);
    return;
  }
}

const hl_recover_job *hl_recover_find(const hl_recover *r, const char *subscription_id) {
  for (hl_recover_job *j = r ? r->jobs : NULL; j; j = j->next)
    if (strcmp(j->sub_id, subscription_id) == 0) return j;
  return NULL;
}

int hl_recover_start(hl_recover *r, const char *subscription_id, int64_t since, int64_t until,
                     const hl_recover_job **job) {
  *job = NULL;
  if (r->stopping) return HL_ECLOSED;
  if (!r->store->vt->delivery_search || !r->queue || !r->queue->vt->requeue) return HL_EUNSUPPORTED;
  hl_recover_job *old = (hl_recover_job *)hl_recover_find(r, subscription_id);
  if (old && !finished(old->state)) {
    *job = old;
    return HL_EEXISTS;
  }
  if (old) drop(r, old); /* a subscription keeps its newest job only */
  int64_t now = hl_wall_ms();
  hl_recover_job *j = hl_calloc(1, sizeof *j);
  *j = (hl_recover_job){.set = r, .next = r->jobs, .state = HL_RECOVER_SEARCHING, .id = hl_random_id("rcv_"),
                        .sub_id = hl_strdup(subscription_id), .since = since, .until = until < now ? until : now,
                        .started_at = now, .after_updated_at = INT64_MAX, .after_event_id = hl_strdup("")};
  r->jobs = j;
  r->njobs++;
  /* Bounded memory: the oldest finished jobs go first (running ones stay). */
  while (r->njobs > HL_RECOVER_KEEP) {
    hl_recover_job *oldest = NULL;
    for (hl_recover_job *k = r->jobs; k; k = k->next)
      if (finished(k->state)) oldest = k;
    if (!oldest) break;
    drop(r, oldest);
  }
  hl_log_info("recovery started", "\"job_id\":\"%s\",\"subscription_id\":\"%s\",\"since\":%lld,\"until\":%lld", j->id,
              hl_log_esc(j->sub_id, (size_t)-1), (long long)j->since, (long long)j->until);
  *job = j;
  search(j);
  return 0;
}

void hl_recover_progress_of(const hl_recover_job *j, hl_recover_progress *out) {
  *out = (hl_recover_progress){
    .job_id = j->id, .subscription_id = j->sub_id, .state = j->state, .state_name = state_names[j->state],
    .finished = finished(j->state), .since = j->since, .until = j->until, .started_at = j->started_at,
    .finished_at = j->finished_at, .matched = j->matched, .requeued = j->requeued, .skipped = j->skipped,
    .errors = j->errors, .pages = j->pages, .error = j->error,
  };
}

size_t hl_recover_busy(const hl_recover *r) { return r ? r->calls : 0; }

void hl_recover_stop(hl_recover *r) {
  if (r) r->stopping = true; /* every running job has a call in flight: it ends in that call's answer */
}

void hl_recover_destroy(hl_recover *r) {
  if (!r) return;
  r->stopping = r->dead = true;
  if (r->calls == 0) set_free(r);
}
