/* hl_ddb_sweep.c — see hl_ddb_sweep.h (the steps are numbered as there). */
#include "store/hl_ddb_sweep.h"

#include <string.h>

#include "common/hl_common.h"
#include "common/hl_log.h"
#include "common/hl_strmap.h"
#include "json/hl_json.h"
#include "store/hl_ddb_sub_ids.h"

/* Marks in the map of step 1's subscriptions. */
static char OPEN, SEEN;

typedef struct sweep sweep;

/* The callback data of one status written at step 4. */
typedef struct {
  sweep *b;
  size_t i;
} slot;

struct sweep {
  hl_ddb_sweep *w;
  hl_store_cb cb;
  void *data;
  size_t limit;
  int64_t now_ms;
  int64_t t0;           /* when the Scan was sent (step 2) */
  bool reused;          /* t0 and the verdict are the previous batch's Scan's */
  /* Step 1: the subscriptions with open deliveries; `open` maps each to
   * &OPEN, or &SEEN once the Scan found it. */
  char **subs;
  size_t nsubs;
  hl_strmap open;
  hl_ddb_sub_ids scan;  /* step 2 */
  /* Step 3: the rows as the queue read them; step 4: their statuses. */
  hl_delivery_rec *rows;
  size_t nrows, waiting;
  slot *slots;
  void **handles;
  bool *landed;
};

static void sweep_free(sweep *b) {
  for (size_t i = 0; i < b->nsubs; i++) hl_free(b->subs[i]);
  hl_free(b->subs);
  hl_strmap_dispose(&b->open);
  for (size_t i = 0; i < b->nrows; i++) hl_delivery_rec_free(&b->rows[i]);
  hl_free(b->rows);
  hl_free(b->slots);
  hl_free(b->handles);
  hl_free(b->landed);
  hl_free(b);
}

static void forget_verdict(hl_ddb_sweep *w) {
  for (size_t i = 0; i < w->ngone; i++) hl_free(w->gone[i]);
  hl_free(w->gone);
  w->gone = NULL;
  w->ngone = 0;
}

/* This batch's deleted subscriptions, kept with its t0 for the next. */
static void keep_verdict(sweep *b) {
  hl_ddb_sweep *w = b->w;
  forget_verdict(w);
  w->gone = hl_calloc(b->nsubs + 1, sizeof *w->gone);
  for (size_t i = 0; i < b->nsubs; i++)
    if (hl_strmap_get(&b->open, b->subs[i]) == &OPEN) w->gone[w->ngone++] = hl_strdup(b->subs[i]);
  w->gone_t0 = b->t0;
}

/* The walk goes on after this batch's subscriptions, or starts over once
 * it ran out; a batch that closed its limit walks them again (more of
 * theirs may be waiting), with this batch's verdict. */
static void advance(sweep *b, int64_t closed) {
  hl_ddb_sweep *w = b->w;
  if ((size_t)closed >= b->limit) {
    if (!b->reused) keep_verdict(b);
    return;
  }
  forget_verdict(w);
  hl_free(w->cursor);
  w->cursor = b->nsubs == HL_STORE_PURGE_SUBS ? hl_strdup(b->subs[b->nsubs - 1]) : NULL;
}

static void finish(sweep *b, int status, int64_t closed) {
  hl_ddb_sweep *w = b->w;
  if (status == 0) advance(b, closed);
  else forget_verdict(w);
  hl_store_result res = {0};
  res.purged.closed = status == 0 ? closed : 0;
  w->busy = false;
  if (b->cb) b->cb(b->data, status, &res);
  hl_store_result_dispose(&res);
  sweep_free(b);
  w->release(w->owner);
}

/* A step that failed: nothing is closed this batch (the next one tries
 * again), and an operator hears which step. */
static void fail(sweep *b, int status, const char *step, const char *error) {
  hl_log_warn("retention: no delivery of a deleted subscription closed this batch; the next one tries again",
              "\"step\":\"%s\",\"status\":%d,\"error\":\"%s\"", step, status,
              hl_log_esc(error ? error : "", (size_t)-1));
  finish(b, status, 0);
}

/* --- 5. the queue closes what DynamoDB has as closed -------------------------------- */
static void on_closed(void *data, int status, hl_store_result *res) {
  sweep *b = data;
  for (size_t i = 0; i < b->nrows; i++)
    if (b->handles[i]) b->w->final_end(b->w->owner, b->handles[i]);
  if (status != 0) fail(b, status, "close in the queue", NULL);
  else finish(b, 0, res->purged.closed);
}

/* --- 4. DynamoDB first ---------------------------------------------------------------- */
static void on_status_written(void *data, int status, hl_store_result *res) {
  (void)res;
  slot *sl = data;
  sweep *b = sl->b;
  b->landed[sl->i] = status == 0;
  if (--b->waiting > 0) return;
  /* Only the rows whose status landed: another, left open in both places,
   * stays so until a later batch. */
  hl_delivery_rec *ok = hl_calloc(b->nrows, sizeof *ok);
  size_t n = 0;
  for (size_t i = 0; i < b->nrows; i++)
    if (b->landed[i]) ok[n++] = b->rows[i]; /* borrowed for the call */
  if (n < b->nrows)
    hl_log_warn("retention: deliveries of deleted subscriptions left open, their FAILED status not written to "
                "DynamoDB; a later batch tries again",
                "\"deliveries\":%zu", b->nrows - n);
  if (n > 0) {
    b->w->queue->vt->eq_close_open(b->w->queue, ok, n, HL_STORE_SUB_DELETED, b->now_ms, on_closed, b);
  } else {
    for (size_t i = 0; i < b->nrows; i++) b->w->final_end(b->w->owner, b->handles[i]);
    finish(b, HL_ESTORE, 0);
  }
  hl_free(ok);
}

static void write_statuses(sweep *b) {
  b->slots = hl_calloc(b->nrows, sizeof *b->slots);
  b->handles = hl_calloc(b->nrows, sizeof *b->handles);
  b->landed = hl_calloc(b->nrows, sizeof *b->landed);
  b->waiting = b->nrows;
  for (size_t i = 0; i < b->nrows; i++) {
    hl_delivery_rec r = b->rows[i]; /* borrowed fields: final_begin copies them */
    r.status = "FAILED";
    r.last_error = HL_STORE_SUB_DELETED;
    r.updated_at = b->now_ms;
    r.next_attempt_at = 0;
    r.delivered = false;
    b->slots[i] = (slot){b, i};
    b->handles[i] = b->w->final_begin(b->w->owner, &r, on_status_written, &b->slots[i]);
  }
}

/* --- 3. the deleted ones' rows ------------------------------------------------------ */
static void on_rows(void *data, int status, hl_store_result *res) {
  sweep *b = data;
  if (status != 0) {
    fail(b, status, "the deleted subscriptions' deliveries in the queue", NULL);
    return;
  }
  b->rows = res->deliveries;
  b->nrows = res->ndeliveries;
  res->deliveries = NULL;
  res->ndeliveries = 0;
  if (b->nrows == 0) {
    finish(b, 0, 0);
    return;
  }
  write_statuses(b);
}

static void pick_rows(sweep *b) {
  const char **gone = hl_calloc(b->nsubs, sizeof *gone);
  size_t n = 0;
  for (size_t i = 0; i < b->nsubs; i++)
    if (hl_strmap_get(&b->open, b->subs[i]) == &OPEN) gone[n++] = b->subs[i];
  b->w->queue->vt->eq_open_of(b->w->queue, gone, n, b->t0, b->limit, on_rows, b);
  hl_free(gone);
}

/* --- 2. which exist: a Scan of the subscription table (hl_ddb_sub_ids.h) ------------- */
static void on_scanned(void *data, const hl_aws_status *st, bool complete) {
  sweep *b = data;
  if (st->outcome != HL_AWS_OK) { /* nothing is taken for deleted on a read that failed */
    fail(b, HL_ESTORE, "Scan of the subscription table", st->code[0] ? st->code : hl_aws_outcome_name(st->outcome));
  } else if (b->scan.unseen == 0) { /* every one exists */
    finish(b, 0, 0);
  } else {
    (void)complete; /* no page bound: an answer that did not fail read the table through */
    pick_rows(b);
  }
}

/* --- 1. the subscriptions with open deliveries -------------------------------------- */
static void on_open_subs(void *data, int status, hl_store_result *res) {
  sweep *b = data;
  if (status != 0) {
    fail(b, status, "subscriptions with open deliveries in the queue", NULL);
    return;
  }
  b->subs = hl_calloc(res->nsubs + 1, sizeof *b->subs);
  for (size_t i = 0; i < res->nsubs; i++) {
    char *id = res->subs[i].subscription_id;
    if (!id || hl_strmap_get(&b->open, id)) continue;
    res->subs[i].subscription_id = NULL;
    b->subs[b->nsubs++] = id;
    hl_strmap_put(&b->open, id, &OPEN);
  }
  if (b->nsubs == 0) {
    finish(b, 0, 0);
    return;
  }
  hl_ddb_sweep *w = b->w;
  if (w->gone) { /* the same walk: the last Scan's verdict stands (hl_ddb_sweep.h) */
    hl_strmap kept;
    hl_strmap_init(&kept);
    for (size_t i = 0; i < w->ngone; i++) hl_strmap_put(&kept, w->gone[i], &OPEN);
    for (size_t i = 0; i < b->nsubs; i++)
      if (!hl_strmap_get(&kept, b->subs[i])) hl_strmap_put(&b->open, b->subs[i], &SEEN);
    hl_strmap_dispose(&kept);
    b->reused = true;
    b->t0 = w->gone_t0;
    pick_rows(b);
    return;
  }
  b->t0 = hl_wall_ms();
  b->scan = (hl_ddb_sub_ids){.client = w->client, .table = w->table, .page_limit = w->page_limit, .ids = &b->open,
                             .seen = &SEEN, .cb = on_scanned, .data = b};
  hl_ddb_sub_ids_start(&b->scan);
}

void hl_ddb_sweep_run(hl_ddb_sweep *w, const hl_store_purge *p, hl_store_cb cb, void *data) {
  w->hold(w->owner);
  if (w->busy) { /* one batch at a time: this one has nothing to do */
    hl_ddb_answer_later(w->client, cb, data, 0, w->release, w->owner);
    return;
  }
  w->busy = true;
  sweep *b = hl_calloc(1, sizeof *b);
  b->w = w;
  b->cb = cb;
  b->data = data;
  b->limit = p->limit;
  b->now_ms = p->now_ms;
  hl_strmap_init(&b->open);
  w->queue->vt->eq_open_subs(w->queue, w->cursor ? w->cursor : "", HL_STORE_PURGE_SUBS, on_open_subs, b);
}

void hl_ddb_sweep_dispose(hl_ddb_sweep *w) {
  forget_verdict(w);
  hl_free(w->cursor);
  w->cursor = NULL;
}
