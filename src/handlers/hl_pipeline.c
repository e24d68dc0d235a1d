#include "handlers/hl_pipeline.h"
#include "crypto/hl_crypto.h"
#include "common/hl_buf.h"
#include "common/hl_common.h"
#include "common/hl_log.h"
#include "json/hl_json.h"
#include "model/hl_event.h"
#include "model/hl_sub_order.h"
#include "model/hl_topic.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct resume_timer {
  uv_timer_t timer;
  hl_pipeline *p;
  char *topic;
  int32_t partition;
  struct resume_timer *next;
} resume_timer;

/* The records of one ingress partition being processed, in the order they
 * were read: the fan-out of one a fifo subscription gets is produced only
 * after those of the records before it (or once they finished otherwise),
 * so that the subscription's egress partition has them in the ingress
 * order although their checks (a large body on the threadpool) and ledger
 * reads may end in any order. A record no fifo subscription gets goes as
 * soon as it is checked (a small one is not held up by a large one). */
struct hl_pipeline_lane {
  char *topic;
  int32_t partition;
  struct processing *head, *tail;
  struct hl_pipeline_lane *next;
};
typedef struct hl_pipeline_lane proc_lane;

/* A partition held for a subscription with its memory share full. */
typedef struct held_part {
  char *topic;
  int32_t partition;
  hl_sub *sub;
  struct held_part *next;
} held_part;

struct hl_pipeline {
  uv_loop_t *loop;
  hl_kafka *kafka;
  hl_registry *reg;
  hl_store *store;
  hl_dispatch *dispatch;
  hl_pipeline_options opt;
  hl_queue *queue;           /* the Kafka queue the dispatcher records through */
  /* "^" + the prefix, each character escaped at worst, + a tail */
  char ingress_re[2 * HL_TOPIC_PREFIX_MAX + 32], egress_re[2 * HL_TOPIC_PREFIX_MAX + 32];
  char retry_re[2 * HL_TOPIC_PREFIX_MAX + 32], proc_retry_re[2 * HL_TOPIC_PREFIX_MAX + 32];
  size_t ingress_len, egress_len, retry_len;  /* prefix lengths incl. the '.' */
  bool stopping;
  size_t busy;
  resume_timer *timers;     /* retry partitions waiting for their head to fall due */
  held_part *held;          /* partitions held for back-pressure, one entry per partition and subscription */
  proc_lane *lanes;         /* one per ingress partition read */
  int closing;              /* destroy: timers still closing, plus one while records are busy */
  bool destroying;
  void (*destroy_cb)(void *);
  void *destroy_data;
};

static bool has_prefix(const char *topic, const char *prefix, size_t plen) {
  return strncmp(topic, prefix, plen - 1) == 0 && topic[plen - 1] == '.';
}

/* A processor retry tier, <retry_prefix>.processor.<delay>. The delivery
 * tiers' names start with a digit (hl_retry_tier_name), so the two never
 * meet. */
static bool on_processor_tier(const hl_pipeline_options *opt, const char *topic) {
  size_t n = strlen(opt->retry_prefix);
  return strncmp(topic, opt->retry_prefix, n) == 0 && strncmp(topic + n, ".processor.", 11) == 0;
}

/* --- dead letters ------------------------------------------------------------------------ */

typedef struct {
  hl_kafka *k;
  const hl_pipeline_options *opt;
  hl_record r;               /* a view; what it points at stays valid until cb (hl_record.h) */
  char *reason;
  bool bodiless;             /* the second try, without the value */
  hl_pipeline_done_cb cb;
  void *data;
} dead_ctx;

static void produce_dead_letter(dead_ctx *c);

static void on_dead_lettered(void *data, int status) {
  dead_ctx *c = data;
  if (status == HL_ETOOBIG && !c->bodiless && c->r.value) {
    /* Its copy with the reason and source_* headers is over
     * message.max.bytes, and always will be: handed back, the record was
     * read again for ever and its partition never moved on. It goes
     * without its bytes, which stay where source_* says. */
    c->bodiless = true;
    produce_dead_letter(c);
    return;
  }
  const hl_record *r = &c->r;
  /* Said once Kafka has it: a refusal hands the record back instead. */
  if (status == 0) {
    if (c->opt->metrics) hl_metrics_on_dead_letter(c->opt->metrics);
    hl_log_warn("record dead-lettered",
                "\"topic\":\"%s\",\"partition\":%d,\"offset\":%" PRId64 ",\"reason\":\"%s\"%s",
                hl_log_esc(r->topic, (size_t)-1), r->partition, r->offset, hl_log_esc(c->reason, (size_t)-1),
                c->bodiless ? ",\"value\":\"left out: over message.max.bytes\"" : "");
  }
  hl_pipeline_done_cb cb = c->cb;
  void *cb_data = c->data;
  hl_free(c->reason);
  hl_free(c);
  cb(cb_data, status);
}

static void produce_dead_letter(dead_ctx *c) {
  const hl_record *r = &c->r;
  hl_record_headers h;
  hl_record_headers_dead_letter(&h, r, c->reason);
  if (c->bodiless) hl_record_headers_value_bytes(&h, r->len);
  hl_kafka_produce(c->k, c->opt->dlq_topic, r->key, r->key_len, c->bodiless ? NULL : r->value,
                   c->bodiless ? 0 : r->len, h.h, h.n, on_dead_lettered, c);
}

void hl_pipeline_dead_letter(hl_kafka *k, const hl_pipeline_options *opt, const hl_record *r,
                             const char *reason, hl_pipeline_done_cb cb, void *data) {
  dead_ctx *c = hl_malloc(sizeof *c);
  *c = (dead_ctx){.k = k, .opt = opt, .r = *r, .reason = hl_strdup(reason), .cb = cb, .data = data};
  produce_dead_letter(c);
}

/* --- processor ------------------------------------------------------------------------------ */

typedef struct processing {
  hl_kafka *k;
  hl_registry *reg;
  const hl_pipeline_options *opt;
  hl_record r;               /* a copy; what it points at stays valid until cb (hl_record.h) */
  hl_metrics *metrics;
  hl_event_check e;
  bool checked;
  size_t outstanding;
  int failed;
  bool skipped;               /* its processed# marker was there: not fanned out again */
  bool retried;               /* put on a processor retry tier */
  bool too_big;               /* a record made from it is over message.max.bytes */
  char marker[320];           /* processed#<idempotency key or event id> */
  char *schema_id;            /* the version it was accepted under ("<domain>.<type>.v<n>"), or NULL */
  proc_lane *lane;            /* while linked: its fan-out waits for those before it (NULL: none) */
  struct processing *lane_next;
  bool lane_ready;            /* checked and not fanned out before: its fan-out may be produced */
  hl_pipeline_done_cb cb;
  void *data;
} processing;

static void produce_fan_out(processing *f);

static void lane_unlink(processing *f) {
  proc_lane *l = f->lane;
  processing *prev = NULL;
  for (processing *x = l->head; x; prev = x, x = x->lane_next)
    if (x == f) {
      if (prev) prev->lane_next = f->lane_next;
      else l->head = f->lane_next;
      if (l->tail == f) l->tail = prev;
      break;
    }
  f->lane = NULL;
  f->lane_next = NULL;
}

/* Produces the fan-outs that may go now: from the lane's first record on,
 * as long as each is ready. */
static void lane_run(proc_lane *l) {
  while (l->head && l->head->lane_ready) {
    processing *f = l->head;
    lane_unlink(f);
    produce_fan_out(f);
  }
}

/* The record is fanned out, dead-lettered or put on a retry tier (status
 * 0), or not. */
static void processed(processing *f, int status) {
  if (f->lane) { /* finished without a fan-out (dead-lettered, done before, retried): the next may go */
    proc_lane *l = f->lane;
    lane_unlink(f);
    lane_run(l);
  }
  if (status == 0 && f->metrics && !f->skipped && !f->retried)
    hl_metrics_on_processed(f->metrics, f->checked ? f->e.nsubs : 0);
  hl_pipeline_done_cb cb = f->cb;
  void *data = f->data;
  if (f->checked) hl_event_check_dispose(&f->e);
  hl_free(f->schema_id);
  hl_free(f);
  cb(data, status);
}

static void on_processor_dead_lettered(void *data, int status) {
  processing *f = data;
  if (f->checked) { /* rejected: no subscription got it */
    hl_event_check_dispose(&f->e);
    f->checked = false;
  }
  processed(f, status);
}

/* --- processor retries ----------------------------------------------------------------------- */

/* A record made from f that Kafka refused as too large would be refused
 * on every try: dead-lettered (without its bytes when even that copy is too
 * large), so that the partition moves on rather than reading it again for
 * ever. */
static void dead_letter_too_big(processing *f, const char *what) {
  char reason[200];
  snprintf(reason, sizeof reason, "too_large: %s is over message.max.bytes", what);
  hl_pipeline_dead_letter(f->k, f->opt, &f->r, reason, on_processor_dead_lettered, f);
}

static void on_retry_produced(void *data, int status) {
  processing *f = data;
  if (status == HL_ETOOBIG) {
    dead_letter_too_big(f, "its processor retry record");
    return;
  }
  if (status == 0) {
    f->retried = true;
    if (f->metrics) hl_metrics_on_processor_retry(f->metrics);
  }
  processed(f, status); /* not acknowledged: the record is consumed again */
}

/* The record could not be fanned out for a transient reason: onto the next
 * processor retry tier, the dead-letter topic after the last, or (without
 * processor retries) consumed again. Never produced again at once: that
 * would spin on a broker or store that is down. */
static void retry_later(processing *f, const char *why) {
  const hl_pipeline_options *opt = f->opt;
  const hl_record *r = &f->r;
  size_t ntiers = opt->processor_retries && opt->schedule ? opt->schedule->n : 0;
  if (ntiers > HL_PIPELINE_PROCESSOR_TIERS) ntiers = HL_PIPELINE_PROCESSOR_TIERS;
  if (ntiers == 0) {
    hl_log_warn("fan-out failed; the record will be processed again", "\"event_id\":\"%s\",\"reason\":\"%s\"",
                hl_log_esc(f->e.id, (size_t)-1), why);
    processed(f, HL_EIO);
    return;
  }
  int64_t attempts = on_processor_tier(opt, r->topic) ? hl_record_attempts(r) : 0;
  if (attempts < 0) attempts = 0;
  if ((size_t)attempts >= ntiers) {
    char reason[300];
    snprintf(reason, sizeof reason, "processor_retries_exhausted: %s", why);
    hl_pipeline_dead_letter(f->k, opt, r, reason, on_processor_dead_lettered, f);
    return;
  }
  uint64_t delay_ms = opt->schedule->delay_ms[attempts];
  char tier[32], topic[300];
  hl_retry_tier_name(delay_ms, tier, sizeof tier);
  snprintf(topic, sizeof topic, "%s.processor.%s", opt->retry_prefix, tier);
  hl_log_warn("fan-out failed; the record goes to a processor retry tier",
              "\"event_id\":\"%s\",\"reason\":\"%s\",\"attempt\":%" PRId64 ",\"topic\":\"%s\"",
              hl_log_esc(f->e.id, (size_t)-1), why, attempts + 1, hl_log_esc(topic, (size_t)-1));
  hl_record_headers h;
  hl_record_headers_processor_retry(&h, r, f->schema_id, attempts + 1, hl_wall_ms() + (int64_t)delay_ms, why);
  hl_kafka_produce(f->k, topic, r->key, r->key_len, r->value, r->len, h.h, h.n, on_retry_produced, f);
}

/* --- the processed# marker ------------------------------------------------------------------ */

static void fan_out(processing *f);

static void on_marker_written(void *data, int status, hl_store_result *res) {
  (void)res;
  processing *f = data;
  /* The fan-out is on Kafka: done either way. Without the marker a
   * re-delivery of this record would fan it out again (the dispatcher's
   * ledger still keeps each partner's delivery to one). */
  if (status != 0)
    hl_log_warn("fanned out, but the processed marker was not written", "\"event_id\":\"%s\",\"error\":\"%s\"",
                hl_log_esc(f->e.id, (size_t)-1), hl_strerror(status));
  processed(f, 0);
}

static void on_marker_read(void *data, int status, hl_store_result *res) {
  processing *f = data;
  if (status != 0 && status != HL_ENOTFOUND) {
    retry_later(f, "the idempotency ledger could not be read");
    return;
  }
  if (status == 0 && res->value) {
    hl_log_info("ingress record already fanned out; not again", "\"event_id\":\"%s\",\"marker\":\"%s\"",
                hl_log_esc(f->e.id, (size_t)-1), hl_log_esc(f->marker, (size_t)-1));
    f->skipped = true;
    processed(f, 0);
    return;
  }
  fan_out(f);
}

/* Fans the record out unless its marker says it was: the key is the
 * record's idempotency_key header when it has one, else the event id. */
static void fan_out_once(processing *f) {
  hl_store *st = f->opt->store;
  if (!st) {
    fan_out(f);
    return;
  }
  char *key = hl_record_idempotency_key(&f->r);
  const char *k = key ? key : f->e.id;
  if (strlen(k) + sizeof "processed#" <= sizeof f->marker) {
    snprintf(f->marker, sizeof f->marker, "processed#%s", k);
  } else {
    /* A producer's key too long for the marker is named by its digest:
     * cut short, two keys alike in their first 300 characters were one
     * marker, and the second event was skipped as already fanned out. */
    uint8_t d[32];
    char hex[65];
    hl_sha256(k, strlen(k), d);
    hl_hex(d, sizeof d, hex);
    snprintf(f->marker, sizeof f->marker, "processed#sha256:%s", hex);
  }
  hl_free(key);
  st->vt->ledger_get(st, f->marker, on_marker_read, f);
}

static void on_fanned(void *data, int status) {
  processing *f = data;
  if (status != 0) f->failed++;
  if (status == HL_ETOOBIG) f->too_big = true;
  if (--f->outstanding > 0) return;
  if (f->too_big) {
    dead_letter_too_big(f, "an egress record of it");
    return;
  }
  /* librdkafka already retried within its message timeout. The whole
   * fan-out is made again later (duplicates are harmless: the same
   * webhook-id, and the ledger). */
  if (f->failed) {
    retry_later(f, "a fan-out produce failed");
    return;
  }
  hl_store *st = f->opt->store;
  if (st) st->vt->ledger_put(st, f->marker, "PROCESSED", hl_wall_ms() / 1000 + 7 * 24 * 3600, true, on_marker_written, f);
  else processed(f, 0);
}

/* The record checked (on the loop, or parsed and validated on the
 * threadpool when it is large, as the producer API's bodies are): fanned
 * out, or dead-lettered with the reason. */
static void on_checked(hl_event_batch *b, void *data) {
  processing *f = data;
  hl_event_check *rejected = b->req.status != 0 ? &b->req : NULL; /* not JSON, or a member name twice (I-JSON) */
  if (!rejected) {
    f->e = b->events[0]; /* moved out */
    b->events[0] = (hl_event_check){0};
    f->checked = true;
    if (f->e.status != 0) rejected = &f->e;
  }
  if (rejected) {
    /* The first detail's pointer, as the API answers it: whoever reads
     * the dead-letter topic finds the field without validating again. */
    char reason[1100], at[400] = "";
    hl_json_doc dd;
    hl_json_doc_init(&dd);
    if (rejected->details.len && hl_json_parse(&dd, rejected->details.data, rejected->details.len, NULL) == 0 &&
        dd.root->type == HL_JSON_ARRAY && dd.root->len > 0) {
      const char *path = hl_json_str(hl_json_get(&dd.root->u.items[0], "path"));
      if (path && *path) snprintf(at, sizeof at, " at %.380s", path);
    }
    hl_json_doc_dispose(&dd);
    snprintf(reason, sizeof reason, "%s%s: %s", rejected->error, at, rejected->message);
    hl_event_batch_free(b);
    hl_pipeline_dead_letter(f->k, f->opt, &f->r, reason, on_processor_dead_lettered, f);
    return;
  }
  hl_event_batch_free(b);
  fan_out_once(f);
}

static void process_in(hl_kafka *k, hl_registry *reg, const hl_pipeline_options *opt, const hl_record *r,
                       proc_lane *lane, hl_pipeline_done_cb cb, void *data) {
  processing *f = hl_calloc(1, sizeof *f);
  *f = (processing){.k = k, .reg = reg, .opt = opt, .r = *r, .metrics = opt->metrics, .lane = lane, .cb = cb,
                    .data = data};
  if (lane) {
    if (lane->tail) lane->tail->lane_next = f;
    else lane->head = f;
    lane->tail = f;
  }
  if (!r->value) {
    hl_pipeline_dead_letter(k, opt, r, "invalid_json: empty record", on_processor_dead_lettered, f);
    return;
  }
  /* The schema version the event was accepted under ("<domain>.<type>.v<n>",
   * its API id): the ingress topic's "<ingress prefix>.<domain>.<type>.v<n>",
   * or a processor tier record's schema_id header, put there from it. A
   * tier record checked against the latest version instead would be
   * dead-lettered, an accepted event lost, if that version is stricter. A
   * record that names none (another producer's) is checked against the
   * latest. */
  size_t plen = opt->ingress_prefix ? strlen(opt->ingress_prefix) : 0;
  if (plen && r->topic && strncmp(r->topic, opt->ingress_prefix, plen) == 0 && r->topic[plen] == '.')
    f->schema_id = hl_strdup(r->topic + plen + 1);
  else if (r->topic && on_processor_tier(opt, r->topic))
    f->schema_id = hl_record_schema_id(r);
  hl_event_batch_start_pinned(opt->loop, reg, r->value, r->len, f->schema_id, on_checked, f);
}

void hl_pipeline_process(hl_kafka *k, hl_registry *reg, const hl_pipeline_options *opt, const hl_record *r,
                         hl_pipeline_done_cb cb, void *data) {
  process_in(k, reg, opt, r, NULL, cb, data);
}

static proc_lane *lane_new(const char *topic, int32_t partition) {
  proc_lane *l = hl_calloc(1, sizeof *l);
  l->topic = hl_strdup(topic);
  l->partition = partition;
  return l;
}

static void lane_free(proc_lane *l) {
  hl_free(l->topic);
  hl_free(l);
}

hl_pipeline_lane *hl_pipeline_lane_new(void) { return lane_new("", -1); }

void hl_pipeline_lane_free(hl_pipeline_lane *l) {
  if (l) lane_free(l);
}

void hl_pipeline_process_in(hl_kafka *k, hl_registry *reg, const hl_pipeline_options *opt, const hl_record *r,
                            hl_pipeline_lane *lane, hl_pipeline_done_cb cb, void *data) {
  process_in(k, reg, opt, r, lane, cb, data);
}

/* Whether a fifo subscription gets this event: only then does its fan-out
 * wait for those of the records read before it. */
static bool for_fifo(const processing *f) {
  for (size_t i = 0; i < f->e.nsubs; i++) {
    const hl_sub *s = hl_registry_sub_get(f->reg, f->e.subs[i]);
    if (s && hl_sub_rec_fifo(&s->rec)) return true;
  }
  return false;
}

static void fan_out(processing *f) {
  proc_lane *l = f->lane;
  if (!l) {
    produce_fan_out(f);
  } else if (for_fifo(f)) {
    f->lane_ready = true; /* after those before it */
    lane_run(l);
  } else {
    lane_unlink(f); /* no order to keep: it goes now, and holds up nothing behind it */
    produce_fan_out(f);
    lane_run(l);
  }
}

/* The key of a fifo subscription's egress record: the order that matters
 * lands in one partition. The ingress record's own key (per-key order, as
 * Kafka producers expect; the producer API's is the event type, see
 * hl_queue_kafka.c), unless that is the event id itself, which names no
 * order: then the subscription id (the whole subscription in order). */
static void fifo_key(const processing *f, const hl_sub *s, const char **key, size_t *len) {
  const hl_record *r = &f->r;
  size_t idlen = strlen(f->e.id);
  if (r->key && r->key_len && !(r->key_len == idlen && memcmp(r->key, f->e.id, idlen) == 0)) {
    *key = r->key;
    *len = r->key_len;
  } else {
    *key = s->rec.subscription_id;
    *len = strlen(*key);
  }
}

static void produce_fan_out(processing *f) {
  hl_kafka *k = f->k;
  const hl_record *r = &f->r;
  hl_registry *reg = f->reg;
  hl_log_info("event processed", "\"event_id\":\"%s\",\"event_type\":\"%s\",\"deliveries\":%zu",
              hl_log_esc(f->e.id, (size_t)-1), hl_log_esc(f->e.type, (size_t)-1), f->e.nsubs);
  char *trace = hl_record_trace(r);
  /* The event's acceptance time goes on with it (processor retry tiers
   * carry it over too): the delivery's accept-to-partner latency and
   * accepted_at count from the producer's answer, not from the fan-out. */
  int64_t accepted = hl_record_accepted_ms(r, hl_wall_ms());
  f->outstanding = 1; /* held while producing so a synchronous failure cannot finish early */
  for (size_t i = 0; i < f->e.nsubs; i++) {
    hl_sub *s = hl_registry_sub_get(reg, f->e.subs[i]);
    if (!s) continue;
    hl_record_headers h;
    hl_record_headers_delivery(&h, s->rec.subscription_id, 0, f->e.type, accepted, trace);
    const char *key = f->e.id;
    size_t key_len = strlen(key);
    if (hl_sub_rec_fifo(&s->rec)) {
      fifo_key(f, s, &key, &key_len);
      hl_record_headers_event_id(&h, f->e.id);
    }
    f->outstanding++;
    hl_kafka_produce(k, s->rec.egress_topic, key, key_len, r->value, r->len, h.h, h.n, on_fanned, f);
  }
  hl_free(trace);
  on_fanned(f, 0);
}

/* --- dispatcher intake, shared -------------------------------------------------------------- */

/* The subscription whose egress topic this is. Partner ids and event types
 * may contain dots, so the topic is not split blindly: every split is
 * looked up, and only subscriptions registered with exactly this topic
 * count. Two (partner "a.b" type "c" beside partner "a" type "b.c") make
 * the topic ambiguous: no subscription. */
static hl_sub *sub_of_topic(const hl_registry *reg, const hl_pipeline_options *opt, const char *topic) {
  size_t plen = strlen(opt->egress_prefix) + 1;
  if (!has_prefix(topic, opt->egress_prefix, plen)) return NULL;
  const char *rest = topic + plen;
  hl_sub *found = NULL;
  int n = 0;
  char partner[512];
  for (const char *dot = strchr(rest, '.'); dot; dot = strchr(dot + 1, '.')) {
    size_t pl = (size_t)(dot - rest);
    if (pl >= sizeof partner) break;
    memcpy(partner, rest, pl);
    partner[pl] = '\0';
    hl_sub *s = hl_registry_sub_find(reg, partner, dot + 1);
    if (s && strcmp(s->rec.egress_topic, topic) == 0) {
      found = s;
      n++;
    }
  }
  if (n > 1) {
    hl_log_warn("egress topic matches several subscriptions", "\"topic\":\"%s\",\"subscriptions\":%d",
                hl_log_esc(topic, (size_t)-1), n);
    return NULL;
  }
  return found;
}

/* The furthest ahead a record's due_ms may be: a retry schedule's delays
 * are at most 24 h, Retry-After is honoured up to 1 h. */
#define DUE_MAX_AHEAD_MS (25 * 3600 * 1000LL)

hl_rec_action hl_pipeline_classify(const hl_registry *reg, const hl_pipeline_options *opt, const hl_record *r,
                                   int64_t now_ms, hl_sub **sub, int64_t *due_ms, const char **reason) {
  /* Looked up for every record: the id is copied to the stack, not the heap. */
  size_t idlen = 0;
  const char *idv = hl_record_subscription_id_view(r, &idlen);
  hl_sub *s = NULL;
  if (idv) {
    char small[256];
    char *id = idlen < sizeof small ? small : hl_malloc(idlen + 1);
    memcpy(id, idv, idlen);
    id[idlen] = '\0';
    s = hl_registry_sub_get(reg, id);
    if (id != small) hl_free(id);
  }
  /* Records written by others to <egress>.<partner_id>.<event_type>. */
  if (!s) s = sub_of_topic(reg, opt, r->topic);
  *sub = s;
  if (!s) {
    *reason = "unknown_subscription";
    return HL_REC_DEAD_LETTER;
  }
  int64_t due = hl_record_due_ms(r);
  if (due > now_ms + DUE_MAX_AHEAD_MS) {
    /* No retry of ours is due that far ahead: waited for, it would hold
     * its partition (every record behind it) until then. */
    *reason = "invalid_due: the record's due_ms is more than 25 hours ahead (a retry is due within 24 h, "
              "Retry-After within 1 h)";
    return HL_REC_DEAD_LETTER;
  }
  /* Not even a few ms early: a partner's Retry-After is a promise. */
  if (due > now_ms) {
    *due_ms = due;
    return HL_REC_NOT_DUE;
  }
  if (!hl_record_has_event_id(r)) {
    *reason = "missing_key: egress records carry the event id as their key (or an event_id header)";
    return HL_REC_DEAD_LETTER;
  }
  /* Written by others: an id with CR or LF would add headers of the
   * writer's choosing to the partner's request. */
  if (!hl_record_event_id_ok(r)) {
    *reason = "invalid_event_id: the event id (the key, or the event_id header) is 1 to 200 printable ASCII "
              "characters without spaces";
    return HL_REC_DEAD_LETTER;
  }
  return HL_REC_DELIVER;
}

/* --- serve's consumer ------------------------------------------------------------------------- */

static const void *msg_header(const hl_record *r, const char *name, size_t *len) {
  return hl_kafka_msg_header(r->src, name, len);
}

static hl_record rec_of(const hl_kafka_msg *m) {
  return (hl_record){.topic = m->topic, .partition = m->partition, .offset = m->offset, .key = m->key,
                           .key_len = m->key_len, .value = m->value, .len = m->len, .header = msg_header, .src = m};
}

typedef struct {
  hl_pipeline *p;
  hl_kafka_msg *m;
} msg_ctx;

static void destroy_step(hl_pipeline *p);

/* A processed or dead-lettered record: done when durable, else consumed again. */
static void on_msg_finished(void *data, int status) {
  msg_ctx *c = data;
  hl_pipeline *p = c->p;
  p->busy--;
  if (status == 0) hl_kafka_done(p->kafka, c->m);
  else hl_kafka_release(p->kafka, c->m);
  hl_free(c);
  /* A record checked on the threadpool, or a fan-out produce, may finish
   * after the drain's deadline: the pipeline (and Kafka after it) waits for
   * it instead of being freed under it. */
  if (p->destroying && p->busy == 0) destroy_step(p);
}

static msg_ctx *msg_ctx_new(hl_pipeline *p, hl_kafka_msg *m) {
  msg_ctx *c = hl_malloc(sizeof *c);
  *c = (msg_ctx){p, m};
  p->busy++;
  return c;
}

static proc_lane *lane_of(hl_pipeline *p, const char *topic, int32_t partition) {
  for (proc_lane *l = p->lanes; l; l = l->next)
    if (l->partition == partition && strcmp(l->topic, topic) == 0) return l;
  proc_lane *l = lane_new(topic, partition);
  l->next = p->lanes;
  p->lanes = l;
  return l;
}

static void process(hl_pipeline *p, hl_kafka_msg *m) {
  hl_record r = rec_of(m);
  process_in(p->kafka, p->reg, &p->opt, &r, lane_of(p, m->topic, m->partition), on_msg_finished, msg_ctx_new(p, m));
}

static void dead_letter(hl_pipeline *p, hl_kafka_msg *m, const char *reason) {
  hl_record r = rec_of(m);
  hl_pipeline_dead_letter(p->kafka, &p->opt, &r, reason, on_msg_finished, msg_ctx_new(p, m));
}

/* --- dispatcher intake ------------------------------------------------------------------------ */

static void on_resume_closed(uv_handle_t *h) {
  resume_timer *r = h->data;
  hl_free(r->topic);
  hl_free(r);
}

static void unlink_timer(hl_pipeline *p, resume_timer *r) {
  for (resume_timer **pp = &p->timers; *pp; pp = &(*pp)->next)
    if (*pp == r) { *pp = r->next; break; }
}

static void on_resume(uv_timer_t *t) {
  resume_timer *r = t->data;
  hl_pipeline *p = r->p;
  unlink_timer(p, r);
  if (!p->stopping) hl_kafka_resume(p->kafka, r->topic, r->partition);
  uv_close((uv_handle_t *)&r->timer, on_resume_closed);
}

/* A retry record that is not due yet: pause its partition and hand the
 * record back (the partition is rewound to it), then wait. */
static void wait_until_due(hl_pipeline *p, hl_kafka_msg *m, int64_t due_ms) {
  int64_t wait = due_ms - hl_wall_ms();
  hl_kafka_pause(p->kafka, m->topic, m->partition);
  resume_timer *r = hl_calloc(1, sizeof *r);
  r->p = p;
  r->topic = hl_strdup(m->topic);
  r->partition = m->partition;
  r->next = p->timers;
  p->timers = r;
  uv_timer_init(p->loop, &r->timer);
  r->timer.data = r;
  uv_timer_start(&r->timer, on_resume, (uint64_t)(wait > 0 ? wait : 0), 0);
  hl_kafka_release(p->kafka, m);
}

/* Records of a chunk read before the hold still arrive: one entry per
 * partition and subscription keeps the list as short as the partitions. */
static bool is_held(const hl_pipeline *p, const char *topic, int32_t partition, const hl_sub *s) {
  for (const held_part *x = p->held; x; x = x->next)
    if (x->sub == s && x->partition == partition && strcmp(x->topic, topic) == 0) return true;
  return false;
}

/* An egress record's headers, read in one pass: the look-ups that classify
 * it and make its delivery (subscription, attempt, trace, event type,
 * accepted time, due time) then walk this table instead of asking
 * librdkafka for each. A record with more headers than fit is asked. */
typedef struct {
  const hl_kafka_msg *m;
  hl_kafka_header h[HL_RECORD_MAX_HEADERS];
  size_t n;
  bool all;
} scanned_headers;

static const void *scanned_header(const hl_record *r, const char *name, size_t *len) {
  const scanned_headers *sh = r->src;
  if (!sh->all) return hl_kafka_msg_header(sh->m, name, len);
  for (size_t i = sh->n; i-- > 0;) /* the last one wins, as in hl_kafka_msg_header */
    if (strcmp(sh->h[i].name, name) == 0) {
      if (len) *len = sh->h[i].len;
      return sh->h[i].value;
    }
  return NULL;
}

static void deliver(hl_pipeline *p, hl_kafka_msg *m) {
  scanned_headers sh = {.m = m};
  sh.n = hl_kafka_msg_headers(m, sh.h, HL_ARRAY_SIZE(sh.h));
  sh.all = sh.n <= HL_ARRAY_SIZE(sh.h);
  hl_record r = rec_of(m);
  r.header = scanned_header;
  r.src = &sh;
  hl_sub *s = NULL;
  int64_t due_ms = 0;
  const char *reason = NULL;
  switch (hl_pipeline_classify(p->reg, &p->opt, &r, hl_wall_ms(), &s, &due_ms, &reason)) {
  case HL_REC_DEAD_LETTER: dead_letter(p, m, reason); return;
  case HL_REC_NOT_DUE: wait_until_due(p, m, due_ms); return;
  case HL_REC_DELIVER: break;
  }
  /* The body stays in the librdkafka message (m, the delivery's token):
   * the delivery lets go of it before finished() destroys m. */
  hl_eq_item it;
  hl_record_item_borrowed(&r, s->rec.subscription_id, &it);
  hl_dispatch_submit_borrowed(p->dispatch, s, &it, m);
  /* Back-pressure: a subscription with its memory share full stops its
   * feed. Held, not paused: a pause would throw away what librdkafka
   * prefetched and fetch it again on resume, a round trip per cycle. */
  if (hl_dispatch_sub_in_memory(s) >= hl_dispatch_sub_memory_cap(p->dispatch, s) && !is_held(p, m->topic, m->partition, s)) {
    held_part *hp = hl_calloc(1, sizeof *hp);
    hp->topic = hl_strdup(m->topic);
    hp->partition = m->partition;
    hp->sub = s;
    hl_sub_ref(s);
    hp->next = p->held;
    p->held = hp;
    hl_log_debug("partition held", "\"topic\":\"%s\",\"partition\":%d,\"subscription_id\":\"%s\",\"in_memory\":%u",
                 m->topic, m->partition, s->rec.subscription_id, hl_dispatch_sub_in_memory(s));
    hl_kafka_hold(p->kafka, m->topic, m->partition);
  }
}

static void on_msg(void *data, hl_kafka_msg *m) {
  hl_pipeline *p = data;
  if (p->stopping) {
    hl_kafka_release(p->kafka, m);
    return;
  }
  if (p->opt.processor && has_prefix(m->topic, p->opt.ingress_prefix, p->ingress_len)) process(p, m);
  else if (on_processor_tier(&p->opt, m->topic)) {
    hl_record r = rec_of(m);
    int64_t due = hl_record_due_ms(&r);
    if (!p->opt.processor) hl_kafka_release(p->kafka, m); /* not subscribed to: another member's */
    /* A due time further ahead than any of ours is processed now rather
     * than holding the partition (an ingress retry early does no harm). */
    else if (due > hl_wall_ms() + 5 && due <= hl_wall_ms() + DUE_MAX_AHEAD_MS) wait_until_due(p, m, due);
    else process(p, m);
  } else if (p->opt.dispatcher && (has_prefix(m->topic, p->opt.egress_prefix, p->egress_len) ||
                                 has_prefix(m->topic, p->opt.retry_prefix, p->retry_len)))
    deliver(p, m);
  else hl_kafka_done(p->kafka, m);
}

static void held_free(hl_pipeline *p, held_part *x) {
  hl_sub_unref(p->reg, x->sub);
  hl_free(x->topic);
  hl_free(x);
}

typedef struct {
  const char *topic;
  int32_t partition;
} revoked_part;

static bool on_revoked_part(void *data, void *token) {
  const revoked_part *r = data;
  const hl_kafka_msg *m = token;
  return m->partition == r->partition && strcmp(m->topic, r->topic) == 0;
}

static void on_revoke(void *data, const char *topic, int32_t partition) {
  hl_pipeline *p = data;
  /* A fifo subscription's head and followers of this partition are read
   * again by its next owner from below the head: not kept here as well. */
  revoked_part rp = {topic, partition};
  if (p->dispatch) hl_dispatch_drop_ordered(p->dispatch, on_revoked_part, &rp);
  /* Its resume timers go with it (the partition is resumed when assigned
   * again); only stopped, one stayed in the list per rebalance. */
  for (resume_timer **pp = &p->timers; *pp;) {
    resume_timer *r = *pp;
    if (r->partition != partition || strcmp(r->topic, topic) != 0) { pp = &r->next; continue; }
    *pp = r->next;
    uv_close((uv_handle_t *)&r->timer, on_resume_closed);
  }
  /* Holds end with the assignment: forget ours, or a later one would be
   * undone by them. */
  for (held_part **pp = &p->held; *pp;) {
    held_part *x = *pp;
    if (x->partition != partition || strcmp(x->topic, topic) != 0) { pp = &x->next; continue; }
    *pp = x->next;
    held_free(p, x);
  }
}

/* --- the dispatcher's source ----------------------------------------------------------------- */

static void finished(void *data, void *token, hl_sub *sub, bool recorded) {
  hl_pipeline *p = data;
  hl_kafka_msg *m = token;
  /* A deleted subscription's records are done; otherwise only durable
   * ones. One handed back (a subscription replaced in place drops what it
   * held) comes again, to whichever subscription has the topic then. */
  if (recorded || sub->deleted) hl_kafka_done(p->kafka, m);
  else hl_kafka_release(p->kafka, m);
  /* Read the feeds held for this subscription again once below the
   * low-water mark. */
  if (hl_dispatch_sub_in_memory(sub) <= hl_dispatch_sub_limit(p->dispatch, sub))
    for (held_part **pp = &p->held; *pp;) {
      held_part *x = *pp;
      if (x->sub != sub) { pp = &x->next; continue; }
      *pp = x->next;
      hl_kafka_unhold(p->kafka, x->topic, x->partition);
      held_free(p, x);
    }
}

/* --- life cycle ----------------------------------------------------------------------------- */

/* ^<prefix> escaped, then tail (a regex). */
static void regex_of(char *out, size_t n, const char *prefix, const char *tail) {
  size_t o = 0;
  o += (size_t)snprintf(out + o, n - o, "^");
  for (const char *c = prefix; *c && o + 3 < n; c++) {
    if (strchr(".^$*+?()[]{}|\\", *c)) out[o++] = '\\';
    out[o++] = *c;
  }
  snprintf(out + o, n - o, "%s", tail);
}

hl_pipeline *hl_pipeline_create(uv_loop_t *loop, hl_kafka *kafka, hl_registry *reg, hl_store *store,
                                const hl_pipeline_options *opt) {
  hl_pipeline *p = hl_calloc(1, sizeof *p);
  p->loop = loop;
  p->kafka = kafka;
  p->reg = reg;
  p->store = store;
  p->opt = *opt;
  if (!p->opt.loop) p->opt.loop = loop;
  if (!p->opt.store) p->opt.store = store;
  hl_queue_kafka_options qo = {.store = store, .loop = loop, .kafka_cfg = opt->kafka_cfg, .retry_prefix = opt->retry_prefix, .dlq_topic = opt->dlq_topic,
                               .schedule = opt->schedule, .closed_tiers = opt->closed_tiers,
                               .orders = true, .reg = reg, .finished = finished, .finished_data = p};
  p->queue = hl_queue_kafka_create(kafka, &qo);
  regex_of(p->ingress_re, sizeof p->ingress_re, opt->ingress_prefix, "\\..*");
  regex_of(p->egress_re, sizeof p->egress_re, opt->egress_prefix, "\\..*");
  /* Delivery tiers only: their names start with a digit, the processor's
   * with "processor." */
  regex_of(p->retry_re, sizeof p->retry_re, opt->retry_prefix, "\\.[0-9].*");
  regex_of(p->proc_retry_re, sizeof p->proc_retry_re, opt->retry_prefix, "\\.processor\\..*");
  p->ingress_len = strlen(opt->ingress_prefix) + 1;
  p->egress_len = strlen(opt->egress_prefix) + 1;
  p->retry_len = strlen(opt->retry_prefix) + 1;
  return p;
}

hl_queue *hl_pipeline_queue(hl_pipeline *p) { return p->queue; }

void hl_pipeline_set_dispatch(hl_pipeline *p, hl_dispatch *d) { p->dispatch = d; }

int hl_pipeline_start(hl_pipeline *p) {
  const char *topics[4];
  size_t n = 0;
  if (p->opt.processor) { topics[n++] = p->ingress_re; topics[n++] = p->proc_retry_re; }
  if (p->opt.dispatcher) { topics[n++] = p->egress_re; topics[n++] = p->retry_re; }
  return hl_kafka_subscribe(p->kafka, topics, n, on_msg, on_revoke, p);
}

void hl_pipeline_stop(hl_pipeline *p) {
  p->stopping = true;
  /* What is handed back from now on is for the next run, not this one. */
  if (p->kafka) hl_kafka_consume_stop(p->kafka);
}

size_t hl_pipeline_busy(const hl_pipeline *p) { return p->busy; }

/* One of the things destroy waits for is over; the last frees the pipeline. */
static void destroy_step(hl_pipeline *p) {
  if (--p->closing != 0) return;
  while (p->lanes) { /* empty: nothing is being processed */
    proc_lane *l = p->lanes;
    p->lanes = l->next;
    lane_free(l);
  }
  hl_free_then_call(p, p->destroy_cb, p->destroy_data);
}

static void timers_closed(uv_handle_t *h) {
  resume_timer *r = h->data;
  hl_pipeline *p = r->p;
  hl_free(r->topic);
  hl_free(r);
  destroy_step(p);
}

void hl_pipeline_destroy(hl_pipeline *p, void (*cb)(void *data), void *data) {
  hl_pipeline_stop(p);
  while (p->held) {
    held_part *x = p->held;
    p->held = x->next;
    held_free(p, x);
  }
  p->queue->vt->destroy(p->queue);
  p->queue = NULL;
  p->destroy_cb = cb;
  p->destroy_data = data;
  p->closing = 1;
  for (resume_timer *r = p->timers; r;) {
    resume_timer *next = r->next;
    p->closing++;
    uv_close((uv_handle_t *)&r->timer, timers_closed);
    r = next;
  }
  p->timers = NULL;
  p->destroying = true;
  if (p->busy > 0) p->closing++; /* released by the last on_msg_finished */
  destroy_step(p);
}
