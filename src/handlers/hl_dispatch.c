#include "handlers/hl_dispatch.h"
#include "common/hl_common.h"
#include "common/hl_log.h"
#include "common/hl_sm.h"
#include "handlers/hl_attempt_log.h"
#include "handlers/hl_outcome_log.h"
#include "handlers/hl_pinfo.h"
#include "handlers/hl_sender_http.h"
#include "model/hl_event.h"
#include "model/hl_partner.h"
#include "model/hl_retry.h"
#include "model/hl_sub_enrich.h"
#include "model/hl_sub_order.h"
#include "model/hl_xform_reg.h"
#include "queue/hl_queue_embedded.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLAIM_RETRY_MS 1000   /* after a claim the store failed */

/* RECORD_WAIT: the outcome's write failed (the store refused it: disk full,
 * read-only, locked), or the status row took it and the ledger entry that
 * stops a copy of a success did not; what failed is written again after
 * RECORD_AGAIN_MS. */
typedef enum { D_WAITING, D_LEDGER, D_COPY_WAIT, D_SENDING, D_RECORDING, D_RETRY_WAIT, D_RECORD_WAIT, D_DONE } dstate;

static const char *state_name[] = {"WAITING", "LEDGER", "COPY_WAIT", "SENDING", "RECORDING", "RETRY_WAIT",
                                   "RECORD_WAIT", "DONE"};

#define RECORD_AGAIN_MS 1000

struct dl_pinfo {
  hl_pinfo_req req;
  hl_delivery *dl;
};

/* A large body shaped on the threadpool (shape_and_send): parsing and
 * writing it costs ~15 ms a MiB, which the loop would pay per delivery and
 * per retry. The work reads plan (its programs referenced, so a new version
 * registered meanwhile frees none of them) and the delivery's accepted
 * bytes, which stay: a delivery SENDING is not freed before on_shaped, at
 * close neither. It writes only what is here. */
struct dl_shape {
  uv_work_t work;
  hl_delivery *dl;
  hl_xform_plan plan;
  hl_buf out;
  int rc;
  hl_transform_error err;
  bool in_first;
};

struct hl_delivery {
  dstate state;
  hl_dispatch *owner;
  hl_sub *sub;                 /* referenced */
  hl_eq_item item;             /* owned: ids, attempts, the accepted bytes (but see body_borrowed) */
  /* item.body belongs to token (hl_dispatch_submit_borrowed): let go of,
   * never freed, before the queue's finished(token) ends the token. */
  bool body_borrowed;
  hl_delivery *next;           /* wait queue link */
  hl_delivery *all_prev, *all_next; /* the dispatcher's list of every delivery */
  bool holds_slot;             /* counts in the in-flight limits */
  /* Which probe it is of its subscription's, host's and partner's
   * breakers (hl_gate_probe; 0: none): only a probe's outcome moves one. */
  uint32_t probe_sub, probe_host, probe_partner;
  /* The duplicate check of the coming attempt found nothing (make_ready):
   * start sends without asking the store again. Cleared when it sends, so
   * a delivery that reached the wait queue some other way is still
   * checked, under its slot. */
  bool checked;
  /* d->live: the key this delivery holds there (owned; NULL: none), the
   * copies waiting for it (COPY_WAIT, newest first), and for a copy, the
   * delivery it waits for and the next copy. */
  char *live_key;
  hl_delivery *copies, *copy_next, *copy_of;
  void *token;                 /* push queues: the reader's handle (a Kafka message) */
  bool recorded;               /* the outcome is durable */
  bool kept;                   /* a retry of an ordered push delivery, kept here (the queue only wrote its status) */
  bool retry_here;             /* RECORDING a retry recorded as waiting here, its row still claimed (not released) */
  bool reported;               /* this attempt's outcome was logged and counted (once, however often it is written) */
  /* RECORDING: answers still due (the queue's record, and the ledger
   * entry's when one is written), the record's answer once in, and whether
   * the ledger entry still has to land before the queue hears the outcome
   * is durable (a Kafka offset is committed past it only then). */
  uint8_t record_waits;
  int record_status;
  bool ledger_due;
  hl_timerq_node timer;        /* RETRY_WAIT, RECORD_WAIT */
  hl_send_req send;            /* SENDING: the attempt the sender carries */
  uint64_t host_seq;           /* the attempt's number at its host (AIMD) */
  hl_buf body;                 /* the transformed bytes of the attempt, when a transformation applies */
  /* owned; SENDING with partner info configured: the request for it, from
   * send_attempt until the answer is used (pinfo_waiting while it is
   * fetched). Allocated then only: a delivery otherwise holds none. */
  struct dl_pinfo *pinfo;
  bool pinfo_waiting;
  /* owned; SENDING, from the shaping's start on the threadpool until
   * on_shaped: its body is over HL_EVENT_INLINE_BYTES and transformed. */
  struct dl_shape *shape;
  /* The outcome being recorded. */
  hl_outcome outcome;
  long status_code;
  double latency_s;
  /* owned; the outcome's error text, NULL: none. Allocated for a failed
   * attempt only: a delivery waiting on a slow partner holds no text
   * buffer (256 bytes each, 2.6 MB of 10,000 in flight). */
  char *error;
  uint64_t next_delay_ms;
  bool exhausted; /* FAILED with retries left to none (hl_outcome_info) */
};

/* What the dispatcher keeps per subscription (hl_sub.dispatch_state):
 * allocated when the subscription first reaches the dispatcher, freed with
 * the subscription (hl_registry.free_dispatch_state). */
typedef struct {
  hl_sub *sub;                    /* not referenced: the state goes with it */
  hl_dispatch *d;                 /* the dispatcher that armed the timers */
  hl_delivery *wait_head, *wait_tail; /* claimed, waiting for an in-flight slot */
  unsigned in_memory;             /* deliveries held in memory (waiting, running, retry timers) */
  bool need_claim;                /* the store may hold due deliveries for it */
  bool no_retry_wait;             /* retries go back to the queue, none waits here (hl_dispatch_sub_hold_retries) */
  bool claiming;                  /* a claim is in progress */
  bool woken_while_claiming;      /* notified during that claim: its answer may predate the news */
  bool on_dirty;                  /* linked on the dispatcher's dirty list */
  hl_sub *dirty_next;
  bool on_blocked;                /* waiting for a process-wide in-flight slot */
  hl_sub *blocked_next;
  hl_timerq_node claim_timer;     /* wakes need_claim when released retries fall due */
  hl_timerq_node rate_timer;      /* resumes starts when the gates allow */
  hl_host *host;                  /* referenced: its destination host */
  /* An ordered subscription on a push queue (Kafka): the delivery taken off
   * the wait queue and not done yet, sending or waiting for its retry; its
   * followers stay in the wait queue until it is gone. */
  hl_delivery *fifo_head;
} sub_state;

/* The state of a subscription that reached the dispatcher (attach). */
static sub_state *ST(const hl_sub *s) {
  if (!s->dispatch_state) {
    hl_log_error("a subscription reached the dispatcher unattached", "\"subscription_id\":\"%s\"",
                 s->rec.subscription_id);
    abort(); /* a bug: every way in attaches */
  }
  return s->dispatch_state;
}

static void attach(hl_dispatch *d, hl_sub *s) {
  if (s->dispatch_state) return;
  sub_state *st = hl_calloc(1, sizeof *st);
  st->sub = s;
  st->d = d;
  st->host = hl_hosts_attach(&d->hosts, s);
  s->dispatch_state = st;
}

static void free_state(void *state) {
  sub_state *st = state;
  if (st->host) hl_host_detach(st->host, st->sub);
  hl_free(st);
}

hl_host *hl_dispatch_sub_host(const hl_sub *s) {
  return s->dispatch_state ? ((const sub_state *)s->dispatch_state)->host : NULL;
}

unsigned hl_dispatch_sub_in_memory(const hl_sub *s) {
  return s->dispatch_state ? ((const sub_state *)s->dispatch_state)->in_memory : 0;
}

static void pump_soon(hl_dispatch *d);
static void unclaim(hl_dispatch *d, hl_delivery *dl);
static bool gives_back(const hl_dispatch *d);
static void give_back_waiting(hl_dispatch *d, hl_sub *s);
static void maybe_finish_close(hl_dispatch *d);
static void try_start(hl_dispatch *d, hl_sub *s);
static void send_attempt(hl_delivery *dl);
static void make_ready(hl_dispatch *d, hl_delivery *dl);
static bool check_first(const hl_dispatch *d, const hl_delivery *dl);
static void on_sent(hl_send_req *req, const hl_send_result *res);

/* The one place a delivery changes state; illegal moves are bugs. */
static void transition(hl_delivery *dl, dstate to) {
  static const unsigned allowed[] = {
    [D_WAITING] = HL_SM_TO(D_LEDGER) | HL_SM_TO(D_SENDING) | HL_SM_TO(D_DONE),
    [D_LEDGER] = HL_SM_TO(D_WAITING) | HL_SM_TO(D_COPY_WAIT) | HL_SM_TO(D_SENDING) | HL_SM_TO(D_RECORDING) |
                 HL_SM_TO(D_DONE),
    [D_COPY_WAIT] = HL_SM_TO(D_LEDGER) | HL_SM_TO(D_DONE),
    [D_SENDING] = HL_SM_TO(D_RECORDING) | HL_SM_TO(D_DONE),
    [D_RECORDING] = HL_SM_TO(D_RETRY_WAIT) | HL_SM_TO(D_RECORD_WAIT) | HL_SM_TO(D_DONE),
    [D_RETRY_WAIT] = HL_SM_TO(D_WAITING) | HL_SM_TO(D_LEDGER) | HL_SM_TO(D_DONE),
    [D_RECORD_WAIT] = HL_SM_TO(D_RECORDING) | HL_SM_TO(D_DONE),
    [D_DONE] = 0,
  };
  hl_sm_check("delivery", allowed, state_name, dl->state, to);
  hl_dispatch *d = dl->owner;
  bool was_busy = dl->state == D_LEDGER || dl->state == D_SENDING || dl->state == D_RECORDING;
  bool is_busy = to == D_LEDGER || to == D_SENDING || to == D_RECORDING;
  if (was_busy && !is_busy) d->busy--;
  if (!was_busy && is_busy) d->busy++;
  hl_log_debug("delivery state", "\"event_id\":\"%s\",\"subscription_id\":\"%s\",\"from\":\"%s\",\"to\":\"%s\"",
               hl_log_esc(dl->item.d.event_id, (size_t)-1), dl->item.d.subscription_id,
               state_name[dl->state], state_name[to]);
  dl->state = to;
}

/* --- life cycle of one delivery -------------------------------------------- */

/* Freed deliveries are kept (at most SPARE_MAX) and reused: one is made
 * and freed per delivery, at the size where the allocator's per-size
 * caches are small and a burst of frees goes to its slower bins. */
#define SPARE_MAX 512

static hl_delivery *delivery_alloc(hl_dispatch *d) { return hl_spare_take(&d->spare); }

static void delivery_dispose(hl_dispatch *d, hl_delivery *dl) {
  if (d->closing) hl_free(dl);
  else hl_spare_put(&d->spare, dl);
}

static hl_delivery *delivery_new(hl_dispatch *d, hl_sub *s, hl_eq_item *item) {
  attach(d, s);
  hl_delivery *dl = delivery_alloc(d);
  dl->owner = d;
  dl->sub = s;
  hl_sub_ref(s);
  dl->item = *item;
  *item = (hl_eq_item){0};
  dl->send = (hl_send_req){.sub = s, .item = &dl->item, .done = on_sent};
  dl->state = D_WAITING;
  dl->all_next = d->all;
  if (d->all) d->all->all_prev = dl;
  d->all = dl;
  ST(s)->in_memory++;
  d->in_memory++;
  return dl;
}

/* dl->error becomes text (NULL or "": none). */
static void set_error(hl_delivery *dl, const char *text) {
  hl_free(dl->error);
  dl->error = text && text[0] ? hl_strdup(text) : NULL;
}

static void read_delivered(hl_dispatch *d, hl_delivery *dl);

/* dl leaves d->live: a copy stops waiting; a holder gives its key up, and
 * the copies that waited for it are checked now (the ledger then says
 * whether it was delivered). While closing they are left to be freed. */
static void live_leave(hl_dispatch *d, hl_delivery *dl) {
  if (dl->copy_of) {
    hl_delivery **pp = &dl->copy_of->copies;
    while (*pp && *pp != dl) pp = &(*pp)->copy_next;
    if (*pp) *pp = dl->copy_next;
    dl->copy_of = dl->copy_next = NULL;
  }
  if (!dl->live_key) return;
  if (hl_strmap_get(&d->live, dl->live_key) == dl) hl_strmap_del(&d->live, dl->live_key);
  hl_free(dl->live_key);
  dl->live_key = NULL;
  hl_delivery *w = dl->copies, *order = NULL;
  dl->copies = NULL;
  while (w) { /* oldest first */
    hl_delivery *next = w->copy_next;
    w->copy_next = order;
    order = w;
    w = next;
  }
  while ((w = order) != NULL) {
    order = w->copy_next;
    w->copy_next = NULL;
    w->copy_of = NULL;
    if (d->closing) continue;
    transition(w, D_LEDGER);
    read_delivered(d, w);
  }
}

static bool ordered(const hl_dispatch *d, const hl_sub *s);

static void delivery_free(hl_delivery *dl) {
  hl_dispatch *d = dl->owner;
  hl_sub *s = dl->sub;
  live_leave(d, dl);
  if (dl->state != D_DONE) transition(dl, D_DONE);
  hl_timerq_remove(&d->timers, &dl->timer);
  set_error(dl, NULL);
  if (dl->body_borrowed) dl->item.body = NULL;
  hl_eq_item_free(&dl->item);
  hl_buf_dispose(&dl->body);
  if (dl->pinfo_waiting) hl_pinfo_req_cancel(d->opt.pinfo, &dl->pinfo->req);
  hl_free(dl->pinfo);
  dl->pinfo = NULL;
  if (dl->token && d->queue->vt->finished) d->queue->vt->finished(d->queue, dl->token, s, dl->recorded);
  if (dl->all_prev) dl->all_prev->all_next = dl->all_next;
  else d->all = dl->all_next;
  if (dl->all_next) dl->all_next->all_prev = dl->all_prev;
  ST(s)->in_memory--;
  d->in_memory--;
  if (ST(s)->fifo_head == dl) ST(s)->fifo_head = NULL; /* its followers may go */
  delivery_dispose(d, dl);
  /* Room in memory again: this subscription (and others) may claim more. */
  if (ST(s)->need_claim && !s->deleted) hl_dispatch_notify(d, s);
  /* Replaced in place while this was out: the replacement's first claim
   * found this row held, and an ordered claim hands out nothing behind a
   * held head (its answer has no due time either), so nothing but new
   * traffic would wake the followers. The row is done with now. */
  hl_sub *now = s->deleted && !d->closing ? hl_registry_sub_get(d->reg, s->rec.subscription_id) : NULL;
  if (now && now != s && !now->deleted && ordered(d, now)) hl_dispatch_notify(d, now);
  if (d->dirty) pump_soon(d);
  try_start(d, s);
  hl_sub_unref(d->reg, s);
  maybe_finish_close(d);
}

static void wake_blocked(hl_dispatch *d);
static void wake_list(hl_dispatch *d, const hl_sub_list *subs, size_t *from, const hl_gate *gate);

/* What an attempt's answer says about its host's load. */
static hl_aimd_signal load_signal(const hl_send_result *res) {
  if (!res || !res->attempted) return HL_AIMD_OTHER;
  if (res->verdict == HL_SEND_OK) return HL_AIMD_OK;
  if (res->status_code == 429 || res->status_code == 503) return HL_AIMD_OVERLOAD;
  return res->timed_out ? HL_AIMD_TIMEOUT : HL_AIMD_OTHER;
}

/* The registered subscription whose gate counts s's attempts: s itself,
 * or the one that replaced it in place while they ran (it took the gate
 * over: hl_registry_put_sub); NULL when s was deleted. */
static hl_sub *gate_holder(const hl_dispatch *d, hl_sub *s) {
  if (!s->deleted) return s;
  hl_sub *now = hl_registry_sub_get(d->reg, s->rec.subscription_id);
  return now && now->gate == s->gate ? now : NULL;
}

/* The attempt's slots are free (its subscription's, its host's and its
 * partner's); the gates hear how it went (res: the sender's result, NULL
 * when it was not sent). */
static void release_slot(hl_delivery *dl, hl_gate_outcome outcome, const hl_send_result *res) {
  if (!dl->holds_slot) return;
  dl->holds_slot = false;
  hl_dispatch *d = dl->owner;
  uint64_t now = uv_now(d->loop);
  hl_sub *holder = gate_holder(d, dl->sub);
  hl_gate_done(dl->sub->gate, now, outcome, dl->probe_sub);
  hl_host *host = ST(dl->sub)->host;
  bool host_was_full = !hl_host_has_room(host);
  unsigned host_cap = host->gate.cfg.max_in_flight;
  hl_host_done(host, now, outcome, dl->probe_host, dl->host_seq, load_signal(res),
               res ? res->latency_s * 1000.0 : 0, res ? res->retry_after_ms : 0);
  /* The streak is the gate's: a failure of an attempt that outlived an
   * update in place counts toward disabling the subscription now
   * registered, which would otherwise hold its deliveries back unannounced. */
  if (outcome == HL_GATE_FAILED && d->opt.disable_after_failures && holder &&
      holder->gate->streak == d->opt.disable_after_failures && !hl_sub_disabled(holder) && d->opt.on_sub_disabled) {
    hl_log_warn("subscription disabled after failures in a row", "\"subscription_id\":\"%s\",\"failures\":%u",
                holder->rec.subscription_id, holder->gate->streak);
    d->opt.on_sub_disabled(d->opt.disabled_data, holder);
  }
  hl_partner *p = dl->sub->partner;
  bool partner_was_full = !hl_gate_has_room(&p->gate);
  hl_gate_done(&p->gate, now, outcome, dl->probe_partner);
  dl->owner->in_flight--;
  wake_blocked(dl->owner);
  if (partner_was_full) wake_list(d, &p->subs, &p->wake_from, &p->gate);
  /* Full before, or AIMD raised its limit: others may start now. */
  if (host_was_full || host->gate.cfg.max_in_flight > host_cap) wake_list(d, &host->subs, &host->wake_from, &host->gate);
  /* The replacement's deliveries wait for this slot; none of its own
   * attempts ends to start them. */
  if (holder && holder != dl->sub && !d->stopping) try_start(d, holder);
}

static void enqueue(hl_sub *s, hl_delivery *dl) {
  dl->next = NULL;
  if (ST(s)->wait_tail) ST(s)->wait_tail->next = dl;
  else ST(s)->wait_head = dl;
  ST(s)->wait_tail = dl;
}

static void enqueue_front(hl_sub *s, hl_delivery *dl) {
  dl->next = ST(s)->wait_head;
  ST(s)->wait_head = dl;
  if (!ST(s)->wait_tail) ST(s)->wait_tail = dl;
}

static hl_delivery *dequeue(hl_sub *s) {
  hl_delivery *dl = ST(s)->wait_head;
  if (dl) {
    ST(s)->wait_head = dl->next;
    if (!ST(s)->wait_head) ST(s)->wait_tail = NULL;
    dl->next = NULL;
  }
  return dl;
}

/* "ordering": "fifo" where the queue can keep it (hl_queue.orders; the API
 * refuses fifo elsewhere): one delivery in memory at a time, claimed with
 * claim_head, so the next is claimed only once the one before is done. */
static bool ordered(const hl_dispatch *d, const hl_sub *s) {
  return hl_sub_rec_fifo(&s->rec) && d->queue->vt->orders && d->queue->vt->orders(d->queue);
}

/* Ordered on a push queue (Kafka): the records arrive in their partition's
 * order and wait in the subscription's wait queue in that order; the head
 * is kept in memory across its retries (the queue does not take it back
 * to a retry topic) and nothing behind it starts until it is done. */
static bool ordered_push(const hl_dispatch *d, const hl_sub *s) {
  return !d->queue->vt->claim && ordered(d, s);
}

unsigned hl_dispatch_sub_limit(const hl_dispatch *d, const hl_sub *s) {
  if (ordered(d, s)) return 1;
  return s->rec.max_in_flight > 0 ? (unsigned)s->rec.max_in_flight : d->opt.default_sub_in_flight;
}

/* In flight plus as many again (twice as many on a pull queue no other
 * process shares), at most one claim's worth (a claim takes at most 512),
 * ready to go: the next requests are there when answers
 * come back, and memory stays near what is in flight (10,000 in flight
 * hold ~10,500 bodies, not twice that). At least HL_DISPATCH_AHEAD_MIN
 * more where no other process could take them: a delivery stays in
 * memory from its read or claim until its outcome is durable, through the
 * store's waits (the claim's, or the duplicate check's, and the record's
 * commit and fdatasync) beside the request itself, so with as many again
 * as a small limit those waits, not the partner, set the pace. 8 in
 * flight to a fast partner: Kafka ~11,000 records/s, ~20,000 with this
 * and the duplicate check made before the slot (make_ready; either alone
 * gave nothing; the runs still at ~11,000 were librdkafka's fetcher asleep
 * at the tail, hl_kafka_wake.h); the embedded queue on SQLite ~13,400,
 * ~18,100 (bench/README.md, "the duplicate check before the slot"). A queue whose
 * rows processes share (PostgreSQL) keeps them claimed while they wait
 * here, out of the others' reach, so it claims no more than before. */
unsigned hl_dispatch_sub_memory_cap(const hl_dispatch *d, const hl_sub *s) {
  if (ordered_push(d, s)) return HL_DISPATCH_FIFO_HELD; /* the head and its followers read so far */
  if (ordered(d, s)) return 1; /* the head only: its followers stay in the store */
  unsigned limit = hl_dispatch_sub_limit(d, s);
  /* A claim of the embedded queue is answered once the commit it ran in
   * is on the disk, as are the outcomes: the room ahead holds those
   * waiting for their fdatasync as well as those ready to go, and at as
   * many again as the limit the ready ones ran out while a claim waited
   * (the embedded drain of bench/README.md, 256 in flight: 80–89 % of a
   * core busy; 87–93 % at twice the limit). */
  unsigned ahead = HL_MIN(d->queue->vt->claim && d->queue->alone ? 2 * limit : limit, 512u);
  if (!d->queue->vt->claim || d->queue->alone) ahead = HL_MAX(ahead, HL_DISPATCH_AHEAD_MIN);
  return limit + ahead;
}


static void report(hl_delivery *dl) {
  hl_dispatch *d = dl->owner;
  double since = (double)(hl_wall_ms() - dl->item.accepted_at) / 1000.0;
  hl_outcome_info info = {
    .outcome = dl->outcome, .event_id = dl->item.d.event_id,
    .subscription_id = dl->item.d.subscription_id, .attempt = (int)dl->item.d.attempts,
    .status_code = dl->status_code, .latency_s = dl->latency_s, .since_accept_s = since,
    .error = dl->error, .exhausted = dl->exhausted,
  };
  hl_outcome_log_attempt(d->olog, &info, dl->item.trace);
  if (d->opt.on_outcome) d->opt.on_outcome(d->opt.outcome_data, &info);
}

/* RETRY_WAIT timer fired: back into the subscription's queue. */
static void on_retry_due(hl_timerq_node *n) {
  hl_delivery *dl = hl_container_of(n, hl_delivery, timer);
  if (ST(dl->sub)->fifo_head != dl) {
    make_ready(dl->owner, dl);
    return;
  }
  /* An ordered head goes before its followers, which waited behind it. */
  transition(dl, D_WAITING);
  ST(dl->sub)->fifo_head = NULL;
  enqueue_front(dl->sub, dl);
  try_start(dl->owner, dl->sub);
}

/* A subscription's released retries fall due: it may claim them now. */
static void on_claim_due(hl_timerq_node *n) {
  sub_state *st = hl_container_of(n, sub_state, claim_timer);
  hl_dispatch_notify(st->d, st->sub);
}

/* Claims again for s in delay_ms, unless a claim is already due sooner. */
static void claim_later(hl_dispatch *d, hl_sub *s, uint64_t delay_ms) {
  if (!hl_timerq_pending(&ST(s)->claim_timer) || ST(s)->claim_timer.due > uv_now(d->loop) + delay_ms)
    hl_timerq_add(&d->timers, &ST(s)->claim_timer, delay_ms, on_claim_due);
}

static void record(hl_delivery *dl);

/* RECORD_WAIT timer fired: the outcome is written again. */
static void on_record_again(hl_timerq_node *n) { record(hl_container_of(n, hl_delivery, timer)); }

static void recorded(hl_delivery *dl, int status) {
  hl_dispatch *d = dl->owner;
  /* A kept retry is not done for the queue: were it dropped (a stop), the
   * record must come again, not be committed past. */
  if ((status == 0 || status == HL_ENOTFOUND) && !dl->kept) dl->recorded = true;
  if (status != 0 && status != HL_ENOTFOUND) {
    /* The outcome is not durable and the row stays claimed, so no claim
     * brings the delivery back while this process runs: the outcome is kept
     * here and written again until the store takes it (the partner is not
     * asked twice). At close it is dropped: the restart's unclaiming makes
     * it deliverable again (same webhook-id). */
    hl_log_error("recording a delivery outcome failed", "\"event_id\":\"%s\",\"error\":\"%s\"",
                 hl_log_esc(dl->item.d.event_id, (size_t)-1), hl_strerror(status));
  }
  if (!dl->reported) report(dl);
  dl->reported = true;
  /* A pull queue keeps the row claimed; a push queue gets the item back
   * unrecorded in finished() and hands it in again itself. */
  if (status != 0 && status != HL_ENOTFOUND && !d->closing && (d->queue->vt->claim || ordered_push(d, dl->sub))) {
    transition(dl, D_RECORD_WAIT);
    hl_timerq_add(&d->timers, &dl->timer, RECORD_AGAIN_MS, on_record_again);
    return;
  }
  dl->reported = false; /* a retry kept in memory reports its own outcome */
  if (d->closing) {
    delivery_free(dl);
    return;
  }
  if (dl->kept && !d->stopping && !dl->sub->deleted) {
    /* An ordered head on a push queue waits here, whatever the delay: its
     * followers wait behind it (the queue never saw the retry). */
    transition(dl, D_RETRY_WAIT);
    hl_timerq_add(&d->timers, &dl->timer, dl->next_delay_ms, on_retry_due);
    /* Last: the hook may drop the head, which frees it. */
    if (d->opt.on_kept && dl->token) d->opt.on_kept(d->opt.kept_data, dl->token, &dl->item.d);
    return;
  }
  if (d->queue->vt->owns_retries) { /* retries live in the queue (retry topics), not in memory */
    delivery_free(dl);
    return;
  }
  if (dl->outcome == HL_OUTCOME_RETRY && dl->next_delay_ms <= d->opt.release_after_ms && !d->stopping &&
      !dl->sub->deleted && !ST(dl->sub)->no_retry_wait) {
    transition(dl, D_RETRY_WAIT);
    hl_timerq_add(&d->timers, &dl->timer, dl->next_delay_ms, on_retry_due);
    return;
  }
  if (dl->outcome == HL_OUTCOME_RETRY) {
    /* Released to the store: remember to claim again when it falls due,
     * for the subscription that has the id now. An update in place
     * replaced dl->sub while the attempt ran; the new one's first claim
     * ran while this row was still claimed and did not see it, so nothing
     * else would claim it before new traffic came. */
    hl_sub *to = dl->sub->deleted ? hl_registry_sub_get(d->reg, dl->item.d.subscription_id) : dl->sub;
    if (to && !to->deleted) {
      attach(d, to);
      claim_later(d, to, dl->next_delay_ms);
    }
  }
  /* Recorded to wait here, and the stop came before the answer: released
   * now, as the retries already waiting were (give_back_held). */
  if (dl->retry_here && gives_back(d)) unclaim(d, dl);
  delivery_free(dl);
}

/* The idempotency ledger's key of a delivery (hl_store_ledger_key): the
 * entry of a delivery made before never stops a replay (a replay is
 * deliberate), and a replay delivered once stops its own copies. */
static void ledger_key(char *key, size_t cap, const hl_eq_item *it) {
  hl_store_ledger_key(key, cap, it->d.subscription_id, it->d.event_id, it->replay);
}

static void record_answered(hl_delivery *dl);

static void on_recorded(void *data, int status, hl_store_result *res) {
  (void)res;
  hl_delivery *dl = data;
  dl->record_status = status;
  record_answered(dl);
}

static void on_ledger_put(void *data, int status, hl_store_result *res) {
  (void)res;
  hl_delivery *dl = data;
  dl->ledger_due = status != 0;
  record_answered(dl);
}

/* The entry that stops a copy of a delivered item (a redelivery after a
 * crash before the offset commit, an upstream duplicate): written beside
 * the status row, awaited with it. */
static void put_ledger(hl_delivery *dl) {
  hl_dispatch *d = dl->owner;
  char key[256];
  ledger_key(key, sizeof key, &dl->item);
  d->store->vt->ledger_put(d->store, key, "DELIVERED", hl_wall_ms() / 1000 + d->opt.ledger_ttl_s, true,
                           on_ledger_put, dl);
}

/* RECORD_WAIT timer fired for the ledger entry alone: the status row is
 * durable already, so only the entry is written again. */
static void on_ledger_again(hl_timerq_node *n) {
  hl_delivery *dl = hl_container_of(n, hl_delivery, timer);
  transition(dl, D_RECORDING);
  dl->record_waits = 1;
  put_ledger(dl);
}

/* Both writes of a delivery's outcome answered. A failed status write
 * leaves the outcome not durable, however the entry's went (recorded()
 * writes both again or hands the item back). A status row written without
 * its entry is durable, but a queue that commits past it now would let a
 * copy through: the entry is written again, on its own, until it lands,
 * and only then does the queue hear of it. At close it is not waited for:
 * the committed offset then costs a copy's duplicate check, where an
 * uncommitted one would bring the record back unchecked. */
static void record_answered(hl_delivery *dl) {
  if (--dl->record_waits) return;
  hl_dispatch *d = dl->owner;
  int status = dl->record_status;
  if ((status == 0 || status == HL_ENOTFOUND) && dl->ledger_due) {
    hl_log_error("writing a delivery's idempotency ledger entry failed", "\"event_id\":\"%s\",\"subscription_id\":\"%s\"",
                 hl_log_esc(dl->item.d.event_id, (size_t)-1), dl->item.d.subscription_id);
    dl->recorded = true; /* the status row is: a close commits past it */
    if (!d->closing) {
      if (!dl->reported) report(dl);
      dl->reported = true;
      transition(dl, D_RECORD_WAIT);
      hl_timerq_add(&d->timers, &dl->timer, RECORD_AGAIN_MS, on_ledger_again);
      return;
    }
  }
  recorded(dl, status);
}

static void record(hl_delivery *dl) {
  hl_dispatch *d = dl->owner;
  transition(dl, D_RECORDING);
  hl_delivery_rec *r = &dl->item.d;
  int64_t now = hl_wall_ms();
  const char *st = dl->outcome == HL_OUTCOME_RETRY ? "RETRYING"
                   : dl->outcome == HL_OUTCOME_FAILED ? "FAILED" : "SUCCESS";
  hl_free(r->status);
  r->status = hl_strdup(st);
  if (dl->outcome != HL_OUTCOME_DUPLICATE) {
    r->last_status_code = dl->status_code;
    r->last_latency_ms = (int64_t)(dl->latency_s * 1000.0 + 0.5);
    hl_free(r->last_error);
    r->last_error = dl->error ? hl_strdup(dl->error) : NULL;
  }
  r->updated_at = now;
  r->next_attempt_at = dl->outcome == HL_OUTCOME_RETRY ? now + (int64_t)dl->next_delay_ms : 0;
  bool release = dl->outcome == HL_OUTCOME_RETRY && (dl->next_delay_ms > d->opt.release_after_ms || d->stopping ||
                                                     dl->sub->deleted || ST(dl->sub)->no_retry_wait);
  /* What the duplicate check (start) reads is written only for queues that
   * may bring a delivered item again. The embedded and inbox queues never
   * hand out a SUCCESS row twice, and it cost them a write to a random
   * place in an index per delivery (bench/README.md). A store with
   * delivered_get keeps it in the status row written now (a duplicate too:
   * a copy found delivered by an entry in the ledger from before moves it
   * into the row); the others in a ledger entry. */
  r->delivered = false;
  dl->ledger_due = false;
  if ((dl->outcome == HL_OUTCOME_SUCCESS || dl->outcome == HL_OUTCOME_DUPLICATE) && d->queue->vt->redelivers) {
    if (d->store->vt->delivered_get) {
      r->delivered = true;
      r->replays = dl->item.replay;
    } else if (dl->outcome == HL_OUTCOME_SUCCESS) {
      dl->ledger_due = true;
    }
  }
  static const hl_queue_outcome as_queue[] = {
    [HL_OUTCOME_SUCCESS] = HL_QUEUE_DELIVERED, [HL_OUTCOME_DUPLICATE] = HL_QUEUE_DUPLICATE,
    [HL_OUTCOME_RETRY] = HL_QUEUE_RETRY, [HL_OUTCOME_FAILED] = HL_QUEUE_FAILED,
  };
  dl->kept = dl->outcome == HL_OUTCOME_RETRY && ordered_push(d, dl->sub);
  dl->retry_here = dl->outcome == HL_OUTCOME_RETRY && !release;
  hl_queue_attempt a = {.item = &dl->item, .outcome = as_queue[dl->outcome], .retry_in_ms = dl->next_delay_ms,
                        .release = release, .kept = dl->kept, .error = dl->error ? dl->error : ""};
  /* Both are asked for before either answers (so the count is set first);
   * on SQLite they join this turn's transaction, on DynamoDB its batch. */
  dl->record_waits = dl->ledger_due ? 2 : 1;
  dl->record_status = 0;
  if (dl->ledger_due) put_ledger(dl);
  d->queue->vt->record(d->queue, &a, on_recorded, dl);
}

/* --- sending ------------------------------------------------------------------ */

/* The attempt log: written beside the outcome (SQLite: in the same turn's
 * transaction), whatever queue carries the delivery. A log entry that
 * cannot be written costs the log, never the delivery. */
static void log_attempt(hl_dispatch *d, const hl_delivery *dl, const hl_send_result *res) {
  if (!d->store->vt->attempt_put) return;
  hl_attempt_rec r; /* borrowed strings: attempt_put copies what it keeps */
  hl_attempt_log_fill(&r, &d->alog, &dl->item.d, dl->item.d.attempts, hl_wall_ms(), res);
  d->store->vt->attempt_put(d->store, &r, NULL, NULL);
}

/* A fifo head that would be retried after its skip_after-th attempt is
 * dead-lettered instead, so that its followers go. */
static void skip_head(hl_dispatch *d, hl_delivery *dl) {
  const hl_sub_rec *r = &dl->sub->rec;
  if (!ordered(d, dl->sub) || r->skip_after <= 0 || dl->item.d.attempts < r->skip_after) return;
  char text[HL_SEND_ERROR_SIZE];
  snprintf(text, sizeof text, "skipped after %lld attempts (last: %.200s)", (long long)r->skip_after,
           dl->error ? dl->error : "");
  set_error(dl, text);
  dl->outcome = HL_OUTCOME_FAILED;
}

/* The sender's verdict becomes the outcome recorded: a retryable failure
 * retries on the subscription's schedule (Retry-After honoured up to an
 * hour, never shortening it) until the schedule is exhausted. */
static void on_sent(hl_send_req *req, const hl_send_result *res) {
  hl_delivery *dl = hl_container_of(req, hl_delivery, send);
  hl_dispatch *d = dl->owner;
  hl_sub *s = dl->sub;
  release_slot(dl, !res->attempted ? HL_GATE_NEUTRAL : res->verdict == HL_SEND_OK ? HL_GATE_OK : HL_GATE_FAILED,
               res);
  set_error(dl, res->error);
  dl->status_code = res->status_code;
  dl->exhausted = false;
  if (!res->attempted) {
    /* It never went out: an unusable secret fails for good; a request that
     * could not start is tried again in a second, not counted. */
    dl->outcome = res->verdict == HL_SEND_RETRY ? HL_OUTCOME_RETRY : HL_OUTCOME_FAILED;
    dl->next_delay_ms = 1000;
    record(dl); /* no try_start: this may run inside it (the sender answered at once) */
    return;
  }
  dl->latency_s = res->latency_s;
  dl->item.d.attempts++;
  log_attempt(d, dl, res);
  if (res->verdict == HL_SEND_OK) {
    dl->outcome = HL_OUTCOME_SUCCESS;
    set_error(dl, NULL);
  } else if (res->verdict == HL_SEND_FAIL) {
    dl->outcome = HL_OUTCOME_FAILED;
  } else {
    const hl_retry_schedule *sch = s->schedule ? s->schedule : d->opt.default_schedule;
    uint64_t delay = 0;
    if (hl_retry_next_delay(sch, (unsigned)dl->item.d.attempts, hl_random_u32(), &delay) == 0) {
      if (res->retry_after_ms > delay) delay = HL_MIN(res->retry_after_ms, 3600u * 1000u);
      if (d->opt.max_retry_delay_ms) delay = HL_MIN(delay, d->opt.max_retry_delay_ms);
      dl->outcome = HL_OUTCOME_RETRY;
      dl->next_delay_ms = delay;
      skip_head(d, dl);
    } else {
      char text[HL_SEND_ERROR_SIZE];
      snprintf(text, sizeof text, "%s (retries exhausted)", dl->error ? dl->error : "");
      set_error(dl, text);
      dl->outcome = HL_OUTCOME_FAILED;
      dl->exhausted = true;
    }
  }
  try_start(d, s); /* a partner slot is free */
  record(dl);
}

/* The attempt does not start: on_sent hears why (not counted as an
 * attempt); retry says whether it comes again (in a second) or fails. */
static void not_sent(hl_delivery *dl, bool retry, const char *why) {
  hl_send_result res = {.verdict = retry ? HL_SEND_RETRY : HL_SEND_FAIL, .attempted = false};
  snprintf(res.error, sizeof res.error, "%s", why);
  on_sent(&dl->send, &res);
}

/* The shaping's result (hl_xform_plan_apply's rc, err and in_first; the
 * bytes in dl->body) becomes the attempt: sent, or, for an event a program
 * does not fit, failed for good without an attempt (no retry can make it
 * fit). */
static void shaped(hl_delivery *dl, const hl_xform_plan *plan, int rc, const hl_transform_error *err, bool in_merge) {
  if (rc == 0) {
    dl->send.body = dl->body.data;
    dl->send.body_len = dl->body.len;
    dl->item.d.transformation = hl_xform_plan_used(plan); /* NULL when enriched only */
    dl->owner->sender->vt->send(dl->owner->sender, &dl->send);
    return;
  }
  hl_buf_reset(&dl->body);
  hl_send_result res = {.verdict = HL_SEND_FAIL, .attempted = false};
  if (in_merge) /* an event the info cannot be put into never will be */
    snprintf(res.error, sizeof res.error, "partner info merge: %.200s", err->message);
  else
    snprintf(res.error, sizeof res.error, "transformation %.110s: %.120s", err->path, err->message);
  on_sent(&dl->send, &res);
}

static void shape_work(uv_work_t *w) {
  struct dl_shape *sh = w->data;
  const hl_delivery *dl = sh->dl;
  sh->rc = hl_xform_plan_apply(&sh->plan, dl->item.body, dl->item.body_len, &sh->out, &sh->err, &sh->in_first);
}

static void shape_free(struct dl_shape *sh) {
  hl_xform_plan_dispose(&sh->plan);
  hl_buf_dispose(&sh->out);
  hl_free(sh);
}

static void on_shaped(uv_work_t *w, int status) {
  (void)status; /* never cancelled: nothing calls uv_cancel on it */
  struct dl_shape *sh = w->data;
  hl_delivery *dl = sh->dl;
  hl_dispatch *d = dl->owner;
  dl->shape = NULL;
  d->shaped_threadpool++;
  if (d->closing) {
    /* The close left it for this answer (its body was being read): it is
     * abandoned as the running requests were. */
    shape_free(sh);
    release_slot(dl, HL_GATE_NEUTRAL, NULL);
    delivery_free(dl);
    return;
  }
  hl_buf_dispose(&dl->body);
  dl->body = sh->out;
  hl_buf_init(&sh->out);
  shaped(dl, &sh->plan, sh->rc, &sh->err, sh->in_first);
  shape_free(sh);
}

/* The bytes of this attempt: the accepted ones, or what the Partner Info
 * merge (merge, may be NULL) and the event type's and the subscription's
 * transformations (as registered now; the status row names the versions)
 * make of them, on one parse of the accepted bytes and one write; then the
 * send. A body over HL_EVENT_INLINE_BYTES is shaped on the threadpool, as
 * it was parsed at ingest, and the delivery stays SENDING until on_shaped:
 * on the loop it would hold every connection and timer for ~15 ms a MiB,
 * for each subscription and each retry. */
static void shape_and_send(hl_delivery *dl, const hl_transform *merge) {
  hl_dispatch *d = dl->owner;
  hl_buf_reset(&dl->body);
  hl_free(dl->item.d.transformation);
  dl->item.d.transformation = NULL;
  dl->send.body = NULL;
  dl->send.body_len = 0;
  hl_xform_plan plan;
  if (hl_xform_plan_make(d->reg, dl->sub, merge, &plan) == 1) {
    d->sender->vt->send(d->sender, &dl->send);
    return;
  }
  if (dl->item.body_len > HL_EVENT_INLINE_BYTES) {
    struct dl_shape *sh = hl_calloc(1, sizeof *sh);
    sh->dl = dl;
    sh->plan = plan;
    hl_buf_init(&sh->out);
    sh->work.data = sh;
    dl->shape = sh;
    uv_queue_work(d->loop, &sh->work, shape_work, on_shaped); /* fails only without a work callback */
    return;
  }
  hl_transform_error err = {0};
  bool in_merge = false;
  int rc = hl_xform_plan_apply(&plan, dl->item.body, dl->item.body_len, &dl->body, &err, &in_merge);
  d->shaped_loop++;
  shaped(dl, &plan, rc, &err, in_merge);
  hl_xform_plan_dispose(&plan);
}

/* The partner's info is here (status 0) or could not be had: merged in
 * before the transformations, so they and the signature see it. Without
 * it the delivery waits (retry, the default) or goes out as accepted
 * (deliver_unenriched: the subscription's enrichment.on_failure, else
 * PARTNER_INFO_ON_FAILURE). */
static void with_info(hl_delivery *dl, int status, const char *info, size_t len, const char *why) {
  hl_dispatch *d = dl->owner;
  struct dl_pinfo *pi = dl->pinfo; /* freed before the send, which may free dl */
  dl->pinfo = NULL;
  if (status == 0) {
    char err[HL_SEND_ERROR_SIZE];
    hl_transform *owned;
    const hl_transform *merge = hl_pinfo_merge_program(d->opt.pinfo, &pi->req, info, len, &owned, err, sizeof err);
    hl_free(pi);
    if (!merge) {
      not_sent(dl, false, err);
      return;
    }
    shape_and_send(dl, merge);
    hl_transform_free(owned);
    return;
  }
  hl_free(pi);
  if (status == HL_ECANCELED ||
      !hl_sub_enrich_deliver_unenriched(&dl->sub->rec, hl_pinfo_deliver_unenriched(d->opt.pinfo))) {
    not_sent(dl, true, why ? why : "partner info unavailable");
    return;
  }
  shape_and_send(dl, NULL);
}

static void on_info(hl_pinfo_req *r, int status, const char *info, size_t len, const char *why) {
  hl_delivery *dl = hl_container_of(r, struct dl_pinfo, req)->dl;
  dl->pinfo_waiting = false;
  with_info(dl, status, info, len, why);
}

static void send_attempt(hl_delivery *dl) {
  hl_dispatch *d = dl->owner;
  transition(dl, D_SENDING);
  if (!d->opt.pinfo) {
    shape_and_send(dl, NULL);
    return;
  }
  const char *info = NULL;
  size_t len = 0;
  dl->pinfo = hl_malloc(sizeof *dl->pinfo);
  dl->pinfo->dl = dl;
  int rc = hl_pinfo_get(d->opt.pinfo, dl->sub->rec.partner_id, &dl->pinfo->req, on_info, &info, &len);
  if (rc == 1) {
    dl->pinfo_waiting = true; /* on_info carries on, from the loop */
    return;
  }
  with_info(dl, rc, info, len,
            rc == HL_EBUSY ? "partner info: the service's breaker is open" : rc ? "partner info: the fetch could not start"
                                                                                : NULL);
}

/* The duplicate check's answer. A delivery checked before it took a slot
 * (make_ready) joins its subscription's wait queue; one checked under its
 * slot (start: an ordered subscription) is sent. A store that fails the
 * read does not stop the attempt: the check guards against a second send
 * after a restart, and a failing store cannot record the outcome either. */
static void on_ledger(void *data, int status, hl_store_result *res) {
  hl_delivery *dl = data;
  hl_dispatch *d = dl->owner;
  if (status == 0 && res->value && strcmp(res->value, "DELIVERED") == 0) {
    release_slot(dl, HL_GATE_NEUTRAL, NULL);
    /* Delivered before (a retried batch, a restart after the POST): do not
     * send again; record SUCCESS without touching the attempt's figures. */
    dl->outcome = HL_OUTCOME_DUPLICATE;
    set_error(dl, NULL);
    record(dl);
    return;
  }
  if (d->stopping || (dl->holds_slot && dl->sub->deleted)) {
    release_slot(dl, HL_GATE_NEUTRAL, NULL);
    if (gives_back(d)) unclaim(d, dl);
    transition(dl, D_DONE);
    delivery_free(dl);
    return;
  }
  if (dl->holds_slot) {
    send_attempt(dl);
    return;
  }
  /* Into the wait queue; if the subscription went meanwhile, try_start
   * gives the delivery back to the queue for the one replacing it. */
  dl->checked = true;
  transition(dl, D_WAITING);
  enqueue(dl->sub, dl);
  try_start(d, dl->sub);
}

/* Asks the store whether dl was delivered before (the ledger, or the
 * status row where the store keeps it there); on_ledger answers. */
static void check_delivered(hl_dispatch *d, hl_delivery *dl) {
  transition(dl, D_LEDGER);
  read_delivered(d, dl);
}

static void read_delivered(hl_dispatch *d, hl_delivery *dl) {
  if (d->queue->vt->redelivers) {
    /* A copy of a delivery under way here waits for it: read now, both
     * would read "not delivered" and both be sent. */
    char key[256];
    ledger_key(key, sizeof key, &dl->item);
    hl_delivery *holder = hl_strmap_get(&d->live, key);
    if (holder && holder != dl) {
      transition(dl, D_COPY_WAIT);
      dl->copy_of = holder;
      dl->copy_next = holder->copies;
      holder->copies = dl;
      return;
    }
    if (!holder) {
      dl->live_key = hl_strdup(key);
      hl_strmap_put(&d->live, key, dl);
    }
  }
  if (d->store->vt->delivered_get) {
    d->store->vt->delivered_get(d->store, dl->item.d.event_id, dl->item.d.subscription_id, dl->item.replay, on_ledger,
                                dl);
    return;
  }
  char key[256];
  ledger_key(key, sizeof key, &dl->item);
  d->store->vt->ledger_get(d->store, key, on_ledger, dl);
}

/* A delivery ready for an attempt (new, or its retry due) joins its
 * subscription's wait queue. On a queue that may bring a delivered item
 * again, its duplicate check comes first, before it takes a slot: a slot
 * is a request at the partner, and the check waits for the store (the
 * turn's commit and its fdatasync, or a round trip to PostgreSQL or
 * DynamoDB). Checked while holding the slot, every attempt added that
 * wait to the partner's turn, which capped a subscription with a small
 * max_in_flight far below what its partner takes. An ordered subscription
 * is checked under its one slot instead (start): its wait queue is the
 * order of delivery, and a store need not answer checks in the order
 * they were asked. */
static bool check_first(const hl_dispatch *d, const hl_delivery *dl) {
  return d->queue->vt->redelivers && !ordered(d, dl->sub);
}

static void make_ready(hl_dispatch *d, hl_delivery *dl) {
  if (check_first(d, dl)) {
    check_delivered(d, dl);
    return;
  }
  if (dl->state != D_WAITING) transition(dl, D_WAITING);
  enqueue(dl->sub, dl);
  try_start(d, dl->sub);
}

static void start(hl_dispatch *d, hl_delivery *dl) {
  /* Embedded queue: a delivered row is SUCCESS in the same transaction
   * that writes its ledger entry, and SUCCESS rows are never claimed, so
   * the ledger cannot say "delivered" here: no read. A delivery checked
   * in make_ready is not asked about again: the check holds for the
   * attempt it was made for. */
  if (!d->queue->vt->redelivers || dl->checked) {
    dl->checked = false; /* a retry of it is checked again */
    send_attempt(dl);
    return;
  }
  check_delivered(d, dl);
}

static void on_rate_due(hl_timerq_node *n) {
  sub_state *st = hl_container_of(n, sub_state, rate_timer);
  try_start(st->d, st->sub);
}

/* A gate asks to wait: the subscription's starts resume in wait ms. */
static void wait_for_gate(hl_dispatch *d, hl_sub *s, uint64_t wait) {
  if (!hl_timerq_pending(&ST(s)->rate_timer)) hl_timerq_add(&d->timers, &ST(s)->rate_timer, wait, on_rate_due);
}

/* The subscription's gate: true when it admits a start now (a slot and a
 * token taken); otherwise arms rate_timer for when it may. */
static bool gate_admits(hl_dispatch *d, hl_sub *s) {
  uint64_t wait = 0;
  hl_gate_answer a = hl_gate_admit(s->gate, uv_now(d->loop), &wait);
  if (a == HL_GATE_ADMIT) return true;
  if (a == HL_GATE_WAIT) wait_for_gate(d, s, wait);
  return false;
}

/* The host's gate, shared by the subscriptions delivering there, then the
 * partner's, after the subscription's admitted: true when both admit too
 * (*seq: the attempt's number at the host). A wait (a rate, a breaker, a
 * Retry-After) arms the subscription's rate_timer; a full host or partner
 * is woken by its next free slot (wake_list). */
static bool shared_gates_admit(hl_dispatch *d, hl_sub *s, uint64_t *seq) {
  uint64_t wait = 0, now = uv_now(d->loop);
  hl_host *host = ST(s)->host;
  hl_gate_answer a = hl_host_admit(host, now, &wait, seq);
  if (a == HL_GATE_ADMIT) {
    a = hl_gate_admit(&s->partner->gate, now, &wait);
    if (a == HL_GATE_ADMIT) return true;
    hl_host_unadmit(host);
  }
  hl_gate_unadmit(s->gate);
  if (a == HL_GATE_WAIT) wait_for_gate(d, s, wait);
  return false;
}

/* A slot of a shared gate (a partner's, a host's) that was full is free:
 * its subscriptions with deliveries waiting start in turn, from where the
 * last wake-up stopped, so that one busy subscription does not take every
 * slot the others wait for. */
static void wake_list(hl_dispatch *d, const hl_sub_list *subs, size_t *from, const hl_gate *gate) {
  size_t n = subs->n;
  for (size_t k = 0; k < n && hl_gate_has_room(gate) && !d->stopping; k++) {
    if (subs->n == 0) return;
    size_t i = (*from + k) % subs->n;
    hl_sub *s = subs->items[i];
    if (!s->dispatch_state || !ST(s)->wait_head) continue; /* never reached the dispatcher: nothing waits */
    *from = i + 1;
    try_start(d, s);
  }
}

/* Deliveries wait while it is disabled, or about to be (the failures that
 * disable it are counted; the store has not recorded it yet). */
static bool held_back(const hl_dispatch *d, const hl_sub *s) {
  return hl_sub_disabled(s) || (d->opt.disable_after_failures && s->gate->streak >= d->opt.disable_after_failures);
}

/* Whether the queue still holds dl's row for this process (hl_queue_vt.holds). */
static bool still_held(const hl_dispatch *d, const hl_delivery *dl) {
  return !d->queue->vt->holds || d->queue->vt->holds(d->queue, &dl->item.d);
}

static void try_start(hl_dispatch *d, hl_sub *s) {
  if (d->paused) {
    give_back_waiting(d, s); /* the sandbox may be frozen from here on */
    return;
  }
  if (d->stopping) {
    /* Nothing more starts; what waits got here after the stop (a claim
     * that was running) and goes back as the rest did. */
    if (gives_back(d)) give_back_waiting(d, s);
    return;
  }
  if (s->deleted) {
    /* Deliveries that reached a subscription already gone: a claim that
     * was running when it was replaced or deleted answers here. Their rows
     * are held by this process, whose heartbeat would keep them held for as
     * long as it runs: give them back, and tell the subscription that
     * replaced this one (the same id), whose own claim did not see them. */
    hl_delivery *dl;
    bool gave = false;
    while ((dl = dequeue(s)) != NULL) {
      unclaim(d, dl);
      delivery_free(dl);
      gave = true;
    }
    hl_sub *now = gave ? hl_registry_sub_get(d->reg, s->rec.subscription_id) : NULL;
    if (now && now != s && !now->deleted) hl_dispatch_notify(d, now);
    return;
  }
  /* The subscription's limits as they are now (it may have been replaced). */
  hl_gate_config gc = s->gate->cfg;
  gc.max_in_flight = hl_dispatch_sub_limit(d, s);
  gc.rate_per_s = s->rec.rate_limit_per_s > 0 ? (double)s->rec.rate_limit_per_s : 0;
  gc.breaker_failures = d->opt.breaker_failures;
  gc.breaker_open_ms = d->opt.breaker_open_ms;
  gc.window_ms = d->opt.breaker_window_ms;
  gc.window_min_attempts = d->opt.breaker_window_min;
  gc.window_failure_pct = d->opt.breaker_failure_pct;
  hl_gate_configure(s->gate, &gc);
  if (held_back(d, s)) return;
  while (ST(s)->wait_head && hl_gate_has_room(s->gate)) {
    if (d->in_flight >= d->opt.max_in_flight) {
      /* The process is full: queue up for the next free slot, fairly. */
      if (!ST(s)->on_blocked) {
        ST(s)->on_blocked = true;
        hl_sub_ref(s);
        ST(s)->blocked_next = NULL;
        if (d->blocked_tail) ST(d->blocked_tail)->blocked_next = s;
        else d->blocked_head = s;
        d->blocked_tail = s;
      }
      return;
    }
    if (ST(s)->fifo_head) return; /* ordered: the head is out (sending, or waiting for its retry) */
    if (!still_held(d, ST(s)->wait_head)) {
      /* Its lease was lost while it waited: another process holds the row
       * and sends it (its duplicate check, made before the wait, cannot
       * tell). Given back, conditional on the lease; freeing it starts the
       * next (delivery_free). */
      hl_delivery *dl = dequeue(s);
      unclaim(d, dl);
      delivery_free(dl);
      return;
    }
    uint64_t seq = 0;
    if (!gate_admits(d, s)) return;
    if (!shared_gates_admit(d, s, &seq)) return;
    hl_delivery *dl = dequeue(s);
    if (ordered_push(d, s)) ST(s)->fifo_head = dl;
    dl->host_seq = seq;
    dl->probe_sub = hl_gate_probe(s->gate);
    dl->probe_host = hl_gate_probe(&ST(s)->host->gate);
    dl->probe_partner = hl_gate_probe(&s->partner->gate);
    /* The slot is taken now (an ordered subscription's duplicate check
     * runs under it: start). */
    dl->holds_slot = true;
    d->in_flight++;
    start(d, dl);
  }
}

static void wake_blocked(hl_dispatch *d) {
  while (d->blocked_head && d->in_flight < d->opt.max_in_flight && !d->stopping) {
    hl_sub *s = d->blocked_head;
    d->blocked_head = ST(s)->blocked_next;
    if (!d->blocked_head) d->blocked_tail = NULL;
    ST(s)->on_blocked = false;
    ST(s)->blocked_next = NULL;
    try_start(d, s);
    hl_sub_unref(d->reg, s);
  }
}

/* --- intake from the embedded queue ----------------------------------------- */

typedef struct { hl_dispatch *d; hl_sub *s; size_t asked; } claim_ctx;

static void on_claimed(void *data, int status, hl_store_result *res) {
  claim_ctx *c = data;
  hl_dispatch *d = c->d;
  hl_sub *s = c->s;
  d->claims--;
  ST(s)->claiming = false;
  if (d->closing) {
    /* Closing: the rows stay claimed in the store, which a restart resets;
     * the result's items are the store's to free. The queue may go now. */
    hl_sub_unref(d->reg, s);
    hl_free(c);
    maybe_finish_close(d);
    return;
  }
  bool woken = ST(s)->woken_while_claiming;
  ST(s)->woken_while_claiming = false;
  if (status != 0) {
    hl_log_error("claiming deliveries failed", "\"subscription_id\":\"%s\",\"error\":\"%s\"",
                 s->rec.subscription_id, hl_strerror(status));
    /* need_claim stays; a store that fails (disk full, locked) is asked
     * again in a second, not on every loop turn. */
    if (!s->deleted && !d->stopping) claim_later(d, s, CLAIM_RETRY_MS);
  } else {
    if (res->nitems < c->asked) {
      /* Everything due was taken. What is left falls due later (retries
       * released to the store, or held in memory before a restart): claim
       * again then, since nothing else would. A notice that came while
       * the claim ran (an accept committed after its snapshot) keeps
       * need_claim: dropping it left that delivery waiting for traffic. */
      if (!woken) ST(s)->need_claim = false;
      if (res->next_due_at > 0 && !s->deleted && !d->stopping) {
        int64_t wait = res->next_due_at - hl_wall_ms();
        claim_later(d, s, wait > 0 ? (uint64_t)wait : 1);
      }
    }
    for (size_t i = 0; i < res->nitems; i++) {
      hl_delivery *dl = delivery_new(d, s, &res->items[i]);
      if (check_first(d, dl)) check_delivered(d, dl); /* as make_ready, one try_start for all */
      else enqueue(s, dl);
    }
    try_start(d, s);
    if (ST(s)->need_claim) hl_dispatch_notify(d, s);
  }
  hl_sub_unref(d->reg, s);
  hl_free(c);
}

static void on_pump(uv_idle_t *h) {
  hl_dispatch *d = hl_container_of(h, hl_dispatch, pump);
  uv_idle_stop(&d->pump);
  if (d->stopping || d->paused) return; /* the dirty list waits for resume */
  unsigned global_cap = d->opt.max_in_flight + 2048;
  hl_sub *list = d->dirty, *keep = NULL;
  d->dirty = NULL;
  while (list) {
    hl_sub *s = list;
    list = ST(s)->dirty_next;
    ST(s)->dirty_next = NULL;
    ST(s)->on_dirty = false;
    if (s->deleted || !ST(s)->need_claim) { hl_sub_unref(d->reg, s); continue; }
    unsigned cap = hl_dispatch_sub_memory_cap(d, s);
    if (ST(s)->claiming || ST(s)->in_memory >= cap || d->in_memory >= global_cap) {
      ST(s)->dirty_next = keep; /* no room now: a finishing delivery notifies again */
      keep = s;
      ST(s)->on_dirty = true;
      continue;
    }
    size_t room = HL_MIN(cap - ST(s)->in_memory, global_cap - d->in_memory);
    room = HL_MIN(room, 512u); /* bound one claim's work */
    claim_ctx *c = hl_malloc(sizeof *c);
    *c = (claim_ctx){d, s, room};
    ST(s)->claiming = true;
    d->claims++;
    hl_sub_ref(s);
    if (ordered(d, s)) d->queue->vt->claim_head(d->queue, s->rec.subscription_id, hl_wall_ms(), on_claimed, c);
    else d->queue->vt->claim(d->queue, s->rec.subscription_id, room, hl_wall_ms(), on_claimed, c);
    hl_sub_unref(d->reg, s);
  }
  /* Subscriptions without room stay listed, holding their reference. */
  while (keep) {
    hl_sub *s = keep;
    keep = ST(s)->dirty_next;
    ST(s)->dirty_next = d->dirty;
    d->dirty = s;
  }
}

static void pump_soon(hl_dispatch *d) {
  if (!d->stopping && !d->paused && !uv_is_active((uv_handle_t *)&d->pump)) uv_idle_start(&d->pump, on_pump);
}

void hl_dispatch_notify(hl_dispatch *d, hl_sub *s) {
  attach(d, s);
  /* A push queue (Kafka, Lambda) hands deliveries in: nothing to claim. */
  if (!d->queue->vt->claim) return;
  ST(s)->need_claim = true;
  if (ST(s)->claiming) ST(s)->woken_while_claiming = true;
  if (d->stopping || s->deleted || hl_sub_disabled(s)) return; /* enabling it notifies again */
  if (!ST(s)->on_dirty) {
    ST(s)->on_dirty = true;
    hl_sub_ref(s);
    ST(s)->dirty_next = d->dirty;
    d->dirty = s;
  }
  pump_soon(d);
}

void hl_dispatch_notify_all(hl_dispatch *d) {
  size_t it = 0;
  void *v;
  while (hl_strmap_next(&d->reg->subs_by_id, &it, NULL, &v)) hl_dispatch_notify(d, v);
}

/* The registry's announcements: a new subscription may have due
 * deliveries; one going away drops what it holds. */
static void on_sub_changed(void *data, hl_sub *s, hl_reg_change change) {
  hl_dispatch *d = data;
  attach(d, s);
  if (change == HL_REG_SUB_ADDED) {
    hl_dispatch_notify(d, s);
  } else if (change == HL_REG_SUB_REMOVED) {
    hl_dispatch_sub_removed(d, s);
  } else if (hl_sub_disabled(s)) {
    /* Disabled: what it holds goes back to the queue, where its deliveries
     * accumulate until it is enabled. */
    hl_dispatch_sub_removed(d, s);
  } else {
    /* Enabled: a closed breaker (its host's too: the operator says try
     * again), no streak, and the backlog claimed. */
    hl_gate_reset(s->gate, uv_now(d->loop));
    hl_host_reset(ST(s)->host, uv_now(d->loop));
    hl_dispatch_notify(d, s);
    try_start(d, s);
  }
}

/* The queue took new items for a subscription (an accept, a re-queue). */
static void on_queue_ready(void *data, const char *subscription_id) {
  hl_dispatch *d = data;
  hl_sub *s = hl_registry_sub_get(d->reg, subscription_id);
  if (s) hl_dispatch_notify(d, s);
}

void hl_dispatch_init(hl_dispatch *d, uv_loop_t *loop, hl_curl_uv *curl, hl_store *store,
                      hl_registry *reg, const hl_dispatch_options *opt) {
  *d = (hl_dispatch){.loop = loop, .curl = curl, .store = store, .reg = reg, .opt = *opt};
  hl_spare_init(&d->spare, sizeof(hl_delivery), SPARE_MAX);
  hl_strmap_init(&d->live);
  if (d->opt.max_in_flight == 0) d->opt.max_in_flight = 10000;
  if (d->opt.default_sub_in_flight == 0) d->opt.default_sub_in_flight = 256;
  if (d->opt.default_timeout_ms <= 0) d->opt.default_timeout_ms = 30000;
  if (d->opt.release_after_ms == 0) d->opt.release_after_ms = 60000;
  if (d->opt.ledger_ttl_s <= 0) d->opt.ledger_ttl_s = 7 * 24 * 3600;
  d->queue = d->opt.queue;
  if (!d->queue) {
    d->queue = hl_queue_embedded_create(store);
    d->owns_queue = true;
  }
  d->queue->on_ready = on_queue_ready;
  d->queue->ready_data = d;
  hl_hosts_config hc = {
    .breaker = {.breaker_failures = d->opt.breaker_failures, .breaker_open_ms = d->opt.breaker_open_ms,
                .window_ms = d->opt.breaker_window_ms, .window_min_attempts = d->opt.breaker_window_min,
                .window_failure_pct = d->opt.breaker_failure_pct},
    .adaptive = d->opt.adaptive_concurrency, .latency_factor = d->opt.aimd_latency_factor,
    .default_limit = d->opt.default_sub_in_flight};
  hl_hosts_init(&d->hosts, &hc);
  reg->listener = (hl_registry_listener){on_sub_changed, d};
  reg->free_dispatch_state = free_state;
  d->sender = d->opt.sender;
  if (!d->sender) {
    hl_sender_http_options so = {.allow_private_targets = d->opt.allow_private_targets,
                                 .default_timeout_ms = d->opt.default_timeout_ms,
                                 .default_secret = d->opt.default_secret,
                                 .default_secret_data = d->opt.default_secret_data,
                                 .tls = d->opt.tls};
    d->sender = hl_sender_http_create(curl, &so);
  }
  hl_timerq_init(&d->timers, loop);
  d->olog = hl_malloc(sizeof *d->olog);
  hl_outcome_log_init(d->olog, loop, d->opt.log_interval_ms);
  d->olog->data = d;
  uv_idle_init(loop, &d->pump);
  d->pump.data = d;
}

static void submit(hl_dispatch *d, hl_sub *s, hl_eq_item *item, void *token, bool body_borrowed) {
  attach(d, s);
  hl_delivery *dl = delivery_new(d, s, item);
  dl->token = token;
  dl->body_borrowed = body_borrowed;
  make_ready(d, dl);
}

void hl_dispatch_submit(hl_dispatch *d, hl_sub *s, hl_eq_item *item, void *token) {
  submit(d, s, item, token, false);
}

void hl_dispatch_submit_borrowed(hl_dispatch *d, hl_sub *s, hl_eq_item *item, void *token) {
  submit(d, s, item, token, true);
}


/* Gives a delivery held in memory back to the embedded queue: its row is
 * unclaimed, due when it was due, so whoever claims next takes it. */
static void unclaim(hl_dispatch *d, hl_delivery *dl) {
  if (!d->queue->vt->release) return; /* a push queue gets its item back in finished() */
  hl_delivery_rec *r = &dl->item.d;
  if (dl->state == D_WAITING) r->next_attempt_at = hl_wall_ms();
  d->queue->vt->release(d->queue, r);
}

void hl_dispatch_sub_retry_wait(hl_dispatch *d, hl_sub *s, bool wait) {
  attach(d, s);
  ST(s)->no_retry_wait = !wait;
}

void hl_dispatch_sub_removed(hl_dispatch *d, hl_sub *s) {
  attach(d, s);
  ST(s)->need_claim = false;
  /* Waiting deliveries and those waiting for a retry timer go back to the
   * queue: a subscription updated in place (same id) claims them again. */
  give_back_waiting(d, s);
  for (hl_delivery *dl = d->all; dl;) {
    hl_delivery *next = dl->all_next;
    if (dl->sub == s && dl->state == D_RETRY_WAIT) {
      unclaim(d, dl);
      delivery_free(dl);
    }
    dl = next;
  }
  /* Last, so nothing above re-arms them: the subscription may be freed soon. */
  hl_timerq_remove(&d->timers, &ST(s)->claim_timer);
  hl_timerq_remove(&d->timers, &ST(s)->rate_timer);
}

static void unlink_waiting(hl_sub *s, hl_delivery *dl) {
  hl_delivery *prev = NULL;
  for (hl_delivery *x = ST(s)->wait_head; x; prev = x, x = x->next)
    if (x == dl) {
      if (prev) prev->next = dl->next;
      else ST(s)->wait_head = dl->next;
      if (ST(s)->wait_tail == dl) ST(s)->wait_tail = prev;
      dl->next = NULL;
      return;
    }
}

void hl_dispatch_drop_ordered(hl_dispatch *d, bool (*gone)(void *data, void *token), void *data) {
  /* Collected first, freed after: freeing a waiting head lets the next
   * start, which must not be one of those going too. */
  hl_delivery *drop = NULL;
  for (hl_delivery *dl = d->all; dl; dl = dl->all_next) {
    if (!dl->token || (dl->state != D_WAITING && dl->state != D_RETRY_WAIT) || !ordered_push(d, dl->sub) ||
        !gone(data, dl->token))
      continue;
    if (dl->state == D_WAITING) unlink_waiting(dl->sub, dl);
    dl->next = drop;
    drop = dl;
  }
  while (drop) {
    hl_delivery *dl = drop;
    drop = dl->next;
    delivery_free(dl);
  }
}

void hl_dispatch_render_metrics(const hl_dispatch *d, hl_buf *out) {
  size_t disabled = 0, by_state[3] = {0};
  size_t it = 0;
  void *v;
  while (hl_strmap_next(&d->reg->subs_by_id, &it, NULL, &v)) {
    const hl_sub *s = v;
    disabled += hl_sub_disabled(s);
    by_state[s->gate->state]++;
  }
  hl_buf_printf(out, "# HELP hookloop_subscriptions_disabled Subscriptions disabled after failures in a row.\n"
                     "# TYPE hookloop_subscriptions_disabled gauge\nhookloop_subscriptions_disabled %zu\n", disabled);
  hl_buf_printf(out, "# HELP hookloop_subscription_breakers Subscriptions by the state of their circuit breaker.\n"
                     "# TYPE hookloop_subscription_breakers gauge\n"
                     "hookloop_subscription_breakers{state=\"closed\"} %zu\n"
                     "hookloop_subscription_breakers{state=\"open\"} %zu\n"
                     "hookloop_subscription_breakers{state=\"half_open\"} %zu\n",
                by_state[HL_GATE_CLOSED], by_state[HL_GATE_OPEN], by_state[HL_GATE_HALF_OPEN]);
  hl_buf_printf(out, "# HELP hookloop_delivery_shapings_total Deliveries' bytes made by transformations or the "
                     "Partner Info merge, by where they ran (bodies over 64 KiB on the threadpool).\n"
                     "# TYPE hookloop_delivery_shapings_total counter\n"
                     "hookloop_delivery_shapings_total{where=\"loop\"} %" PRIu64 "\n"
                     "hookloop_delivery_shapings_total{where=\"threadpool\"} %" PRIu64 "\n",
                d->shaped_loop, d->shaped_threadpool);
  if (d->sender && d->sender->vt->render_metrics) d->sender->vt->render_metrics(d->sender, out);
  hl_hosts_render_metrics(&d->hosts, out);
  /* The figure /admin/stats and the health answer show, and the high
   * water compares against; absent where the queue cannot tell (Kafka). */
  int64_t backlog = hl_queue_backlog(d->queue);
  if (backlog >= 0)
    hl_buf_printf(out, "# HELP hookloop_queue_backlog Deliveries in the queue not yet delivered or failed.\n"
                       "# TYPE hookloop_queue_backlog gauge\nhookloop_queue_backlog %lld\n", (long long)backlog);
}

/* Stopping, deliveries held here go back to a queue whose leases outlive
 * this process (hl_queue_vt.release_at_stop), so that others claim them
 * when due rather than once the leases end. Not at close: the drain before
 * it waits for these releases (serve), a close does not. */
static bool gives_back(const hl_dispatch *d) {
  return d->stopping && !d->closing && d->queue->vt->release_at_stop;
}

/* Gives back s's deliveries waiting for a slot, each due now. The wait
 * queue is detached first: freeing a delivery tries to start the
 * subscription's next one, which must find nothing (and arm no timer). */
static void give_back_waiting(hl_dispatch *d, hl_sub *s) {
  hl_delivery *list = ST(s)->wait_head;
  ST(s)->wait_head = ST(s)->wait_tail = NULL;
  while (list) {
    hl_delivery *dl = list;
    list = dl->next;
    unclaim(d, dl);
    delivery_free(dl);
  }
}

/* Gives back what is held: deliveries waiting for a slot (due now) and,
 * with retries, those waiting for their timer (due as they were).
 * Collected first, the wait queues detached, freed after: each free tries
 * to start its subscription's next delivery, which must find nothing. */
static void give_back_held(hl_dispatch *d, bool retries) {
  hl_delivery *back = NULL;
  for (hl_delivery *dl = d->all; dl; dl = dl->all_next) {
    if (dl->state == D_WAITING) {
      ST(dl->sub)->wait_head = ST(dl->sub)->wait_tail = NULL;
    } else if (dl->state != D_RETRY_WAIT || !retries) {
      continue;
    }
    dl->next = back;
    back = dl;
  }
  while (back) {
    hl_delivery *dl = back;
    back = dl->next;
    unclaim(d, dl);
    delivery_free(dl);
  }
}

void hl_dispatch_stop(hl_dispatch *d) {
  d->stopping = true;
  uv_idle_stop(&d->pump);
  if (gives_back(d)) give_back_held(d, true);
}

void hl_dispatch_pause(hl_dispatch *d) {
  if (d->paused || d->stopping || !d->queue->vt->release) return;
  d->paused = true;
  uv_idle_stop(&d->pump);
  give_back_held(d, false);
}

void hl_dispatch_resume(hl_dispatch *d) {
  if (!d->paused) return;
  d->paused = false;
  if (d->dirty) pump_soon(d);
}

bool hl_dispatch_quiet(const hl_dispatch *d) { return d->busy == 0; }

static void closed_one(hl_dispatch *d) {
  if (--d->closing_handles == 0 && d->close_cb) d->close_cb(d->close_data);
}

static void on_handle_closed(uv_handle_t *h) { closed_one(h->data); }

static void on_timerq_closed(void *data) { closed_one(data); }

static void on_olog_closed(uv_handle_t *h) {
  hl_outcome_log *l = hl_container_of((uv_timer_t *)h, hl_outcome_log, timer);
  hl_dispatch *d = l->data;
  hl_free(l);
  d->olog = NULL;
  closed_one(d);
}

static void maybe_finish_close(hl_dispatch *d) {
  /* A claim in flight answers into the queue and this dispatcher: both stay
   * until it has (a SIGTERM just after an enable, on PostgreSQL, freed the
   * queue under it). */
  if (!d->closing || d->busy > 0 || d->claims > 0 || d->closing_handles > 0) return;
  d->closing_handles = 3; /* also keeps the frees below from coming back here */
  /* Nothing waits for a callback any more: free what is left. */
  while (d->all) delivery_free(d->all);
  hl_strmap_dispose(&d->live);
  hl_spare_dispose(&d->spare);
  while (d->dirty) {
    hl_sub *s = d->dirty;
    d->dirty = ST(s)->dirty_next;
    ST(s)->on_dirty = false;
    hl_sub_unref(d->reg, s);
  }
  while (d->blocked_head) {
    hl_sub *s = d->blocked_head;
    d->blocked_head = ST(s)->blocked_next;
    ST(s)->on_blocked = false;
    hl_sub_unref(d->reg, s);
  }
  d->blocked_tail = NULL;
  d->sender->vt->close(d->sender);
  d->sender = NULL;
  hl_hosts_dispose(&d->hosts);
  hl_attempt_log_scratch_dispose(&d->alog);
  if (d->owns_queue) d->queue->vt->destroy(d->queue);
  hl_timerq_close(&d->timers, on_timerq_closed, d);
  hl_outcome_log_close(d->olog, on_olog_closed); /* the last window's counts go out */
  uv_close((uv_handle_t *)&d->pump, on_handle_closed);
}

void hl_dispatch_close(hl_dispatch *d, void (*cb)(void *data), void *data) {
  d->stopping = true;
  d->closing = true;
  d->queue->closing = true;
  d->queue->on_ready = NULL;
  d->reg->listener = (hl_registry_listener){0}; /* nothing more to hear */
  d->close_cb = cb;
  d->close_data = data;
  uv_idle_stop(&d->pump);
  /* Abandon running requests: their rows stay claimed in the store, which a
   * restart resets, so they are delivered again with the same webhook-id. */
  for (hl_delivery *dl = d->all; dl;) {
    hl_delivery *next = dl->all_next;
    if (dl->state == D_SENDING && dl->shape) {
      /* Its body is being read on the threadpool: freed from on_shaped,
       * and the close waits for that (it is busy). */
    } else if (dl->state == D_SENDING) {
      if (dl->pinfo_waiting) {
        hl_pinfo_req_cancel(d->opt.pinfo, &dl->pinfo->req);
        hl_free(dl->pinfo);
        dl->pinfo = NULL;
        dl->pinfo_waiting = false;
      } else {
        d->sender->vt->cancel(d->sender, &dl->send);
      }
      release_slot(dl, HL_GATE_NEUTRAL, NULL);
      transition(dl, D_DONE);
    }
    dl = next;
  }
  /* Deliveries in LEDGER or RECORDING wait for their store callback (one
   * loop turn); maybe_finish_close runs again from there. */
  maybe_finish_close(d);
}
