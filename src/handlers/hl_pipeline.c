#include "handlers/hl_pipeline.h"
#include "common/hl_buf.h"
#include "common/hl_common.h"
#include "common/hl_log.h"
#include "handlers/hl_event.h"

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
  hl_dispatch_source source;
  char ingress_re[256], egress_re[256], retry_re[256];
  size_t ingress_len, egress_len, retry_len;  /* prefix lengths incl. the '.' */
  bool stopping;
  size_t busy;
  resume_timer *timers;     /* retry partitions waiting for their head to fall due */
  held_part *held;          /* partitions held for back-pressure, one entry per partition and subscription */
  int closing;
  void (*destroy_cb)(void *);
  void *destroy_data;
};

void hl_retry_tier_name(uint64_t ms, char *out, size_t n) {
  if (ms % 3600000 == 0) snprintf(out, n, "%" PRIu64 "h", ms / 3600000);
  else if (ms % 60000 == 0) snprintf(out, n, "%" PRIu64 "m", ms / 60000);
  else if (ms % 1000 == 0) snprintf(out, n, "%" PRIu64 "s", ms / 1000);
  else snprintf(out, n, "%" PRIu64 "ms", ms);
}

static bool has_prefix(const char *topic, const char *prefix, size_t plen) {
  return strncmp(topic, prefix, plen - 1) == 0 && topic[plen - 1] == '.';
}

static char *header_str(const hl_kafka_msg *m, const char *name) {
  size_t len = 0;
  const void *v = hl_kafka_msg_header(m, name, &len);
  return v ? hl_strndup(v, len) : NULL;
}

/* --- dead letters ------------------------------------------------------------------------ */

typedef struct {
  hl_pipeline *p;
  hl_kafka_msg *m;
} msg_ctx;

static void on_dead_lettered(void *data, int status) {
  msg_ctx *c = data;
  c->p->busy--;
  if (status == 0) hl_kafka_done(c->p->kafka, c->m);
  else hl_kafka_release(c->p->kafka, c->m); /* not durable: consumed again */
  hl_free(c);
}

/* Sends a record that cannot be processed to the dead-letter topic. */
static void dead_letter(hl_pipeline *p, hl_kafka_msg *m, const char *reason) {
  hl_log_warn("record dead-lettered", "\"topic\":\"%s\",\"partition\":%d,\"offset\":%" PRId64 ",\"reason\":\"%s\"",
              m->topic, m->partition, m->offset, hl_log_esc(reason, (size_t)-1));
  char part[16], off[24];
  snprintf(part, sizeof part, "%d", m->partition);
  snprintf(off, sizeof off, "%" PRId64, m->offset);
  hl_kafka_header h[] = {
    {"reason", reason, strlen(reason)},
    {"source_topic", m->topic, strlen(m->topic)},
    {"source_partition", part, strlen(part)},
    {"source_offset", off, strlen(off)},
  };
  msg_ctx *c = hl_malloc(sizeof *c);
  *c = (msg_ctx){p, m};
  p->busy++;
  hl_kafka_produce(p->kafka, p->opt.dlq_topic, m->key, m->key_len, m->value, m->len, h, HL_ARRAY_SIZE(h),
                   on_dead_lettered, c);
}

/* --- processor ------------------------------------------------------------------------------ */

typedef struct {
  hl_pipeline *p;
  hl_kafka_msg *m;
  hl_event_check e;
  size_t outstanding;
  int failed;
  char *trace;
  uv_timer_t retry;
} fanout;

static void fanout_produce(fanout *f);

static void on_fanout_retry_closed(uv_handle_t *h) {
  fanout *f = h->data;
  fanout_produce(f);
}

static void on_fanout_retry(uv_timer_t *t) { uv_close((uv_handle_t *)t, on_fanout_retry_closed); }

static void fanout_free(fanout *f) {
  hl_event_check_dispose(&f->e);
  hl_free(f->trace);
  hl_free(f);
}

static void on_fanned(void *data, int status) {
  fanout *f = data;
  if (status != 0) f->failed++;
  if (--f->outstanding > 0) return;
  hl_pipeline *p = f->p;
  if (f->failed) {
    /* librdkafka already retried; try the whole fan-out again in a second
     * (duplicates are harmless: same webhook-id, and the ledger). */
    hl_log_warn("fan-out produce failed; retrying", "\"event_id\":\"%s\"", hl_log_esc(f->e.id, (size_t)-1));
    f->failed = 0;
    uv_timer_init(p->loop, &f->retry);
    f->retry.data = f;
    uv_timer_start(&f->retry, on_fanout_retry, 1000, 0);
    return;
  }
  p->busy--;
  hl_kafka_done(p->kafka, f->m);
  fanout_free(f);
}

static void fanout_produce(fanout *f) {
  hl_pipeline *p = f->p;
  char now[24];
  snprintf(now, sizeof now, "%" PRId64, hl_wall_ms());
  f->outstanding = 1; /* held while producing so a synchronous failure cannot finish early */
  for (size_t i = 0; i < f->e.nsubs; i++) {
    hl_sub *s = hl_registry_sub_get(p->reg, f->e.subs[i]);
    if (!s) continue;
    hl_kafka_header h[5];
    size_t nh = 0;
    h[nh++] = (hl_kafka_header){"subscription_id", s->rec.subscription_id, strlen(s->rec.subscription_id)};
    h[nh++] = (hl_kafka_header){"attempt", "0", 1};
    h[nh++] = (hl_kafka_header){"event_type", f->e.type, strlen(f->e.type)};
    h[nh++] = (hl_kafka_header){"accepted_ms", now, strlen(now)};
    if (f->trace) h[nh++] = (hl_kafka_header){"traceparent", f->trace, strlen(f->trace)};
    f->outstanding++;
    hl_kafka_produce(p->kafka, s->rec.egress_topic, f->e.id, strlen(f->e.id), f->m->value, f->m->len, h, nh,
                     on_fanned, f);
  }
  on_fanned(f, 0);
}

static void process(hl_pipeline *p, hl_kafka_msg *m) {
  hl_json_doc doc;
  hl_json_error jerr;
  hl_json_doc_init(&doc);
  if (!m->value || hl_json_parse_ex(&doc, m->value, m->len, HL_JSON_UNIQUE_NAMES, &jerr) != 0) {
    /* Not JSON, or a member name twice (I-JSON): the reason says which. */
    char reason[600];
    if (m->value) {
      hl_event_check e = {0};
      hl_event_reject_parse(&e, &jerr);
      snprintf(reason, sizeof reason, "%s: %s", e.error, e.message);
      hl_event_check_dispose(&e);
    } else {
      snprintf(reason, sizeof reason, "invalid_json: empty record");
    }
    hl_json_doc_dispose(&doc);
    dead_letter(p, m, reason);
    return;
  }
  fanout *f = hl_calloc(1, sizeof *f);
  f->p = p;
  f->m = m;
  hl_event_check_run(p->reg, doc.root, m->value, m->len, false, &f->e);
  hl_json_doc_dispose(&doc);
  if (f->e.status != 0) {
    char reason[600];
    snprintf(reason, sizeof reason, "%s: %s", f->e.error, f->e.message);
    fanout_free(f);
    dead_letter(p, m, reason);
    return;
  }
  f->trace = header_str(m, "traceparent");
  hl_log_info("event processed", "\"event_id\":\"%s\",\"event_type\":\"%s\",\"deliveries\":%zu",
              hl_log_esc(f->e.id, (size_t)-1), hl_log_esc(f->e.type, (size_t)-1), f->e.nsubs);
  p->busy++;
  fanout_produce(f);
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

static hl_sub *sub_of(hl_pipeline *p, const hl_kafka_msg *m) {
  char *id = header_str(m, "subscription_id");
  hl_sub *s = id ? hl_registry_sub_get(p->reg, id) : NULL;
  hl_free(id);
  if (s || !has_prefix(m->topic, p->opt.egress_prefix, p->egress_len)) return s;
  /* Records written by others to <egress>.<partner_id>.<event_type>. */
  const char *rest = m->topic + p->egress_len;
  const char *dot = strchr(rest, '.');
  if (!dot) return NULL;
  const hl_sub_list *l = hl_registry_subs_for_type(p->reg, dot + 1);
  for (size_t i = 0; i < l->n; i++)
    if (strlen(l->items[i]->rec.partner_id) == (size_t)(dot - rest) &&
        strncmp(l->items[i]->rec.partner_id, rest, (size_t)(dot - rest)) == 0)
      return l->items[i];
  return NULL;
}

/* Records of a chunk read before the hold still arrive: one entry per
 * partition and subscription keeps the list as short as the partitions. */
static bool is_held(const hl_pipeline *p, const char *topic, int32_t partition, const hl_sub *s) {
  for (const held_part *x = p->held; x; x = x->next)
    if (x->sub == s && x->partition == partition && strcmp(x->topic, topic) == 0) return true;
  return false;
}


static void deliver(hl_pipeline *p, hl_kafka_msg *m) {
  hl_sub *s = sub_of(p, m);
  if (!s || !p->dispatch) {
    hl_log_warn("record for an unknown subscription skipped", "\"topic\":\"%s\",\"offset\":%" PRId64, m->topic, m->offset);
    hl_kafka_done(p->kafka, m);
    return;
  }
  char *due = header_str(m, "due_ms");
  if (due) {
    int64_t due_ms = strtoll(due, NULL, 10);
    hl_free(due);
    if (due_ms > hl_wall_ms() + 5) {
      wait_until_due(p, m, due_ms);
      return;
    }
  }
  if (!m->key || m->key_len == 0) {
    dead_letter(p, m, "missing_key: egress records carry the event id as their key");
    return;
  }
  hl_eq_item it = {0};
  it.d.event_id = hl_strndup(m->key, m->key_len);
  it.d.subscription_id = hl_strdup(s->rec.subscription_id);
  char *attempt = header_str(m, "attempt");
  it.d.attempts = attempt ? strtoll(attempt, NULL, 10) : 0;
  hl_free(attempt);
  it.d.status = hl_strdup(it.d.attempts ? "RETRYING" : "PENDING");
  it.body = hl_malloc(m->len + 1);
  if (m->len) memcpy(it.body, m->value, m->len);
  it.body[m->len] = '\0';
  it.body_len = m->len;
  it.trace = header_str(m, "traceparent");
  it.event_type = header_str(m, "event_type");
  char *acc = header_str(m, "accepted_ms");
  it.accepted_at = acc ? strtoll(acc, NULL, 10) : hl_wall_ms();
  hl_free(acc);
  hl_dispatch_submit(p->dispatch, s, &it, m);
  /* Back-pressure: a subscription with its memory share full stops its
   * feed. Held, not paused: a pause would throw away what librdkafka
   * prefetched and fetch it again on resume, a round trip per cycle. */
  if (s->in_memory >= hl_dispatch_sub_memory_cap(p->dispatch, s) && !is_held(p, m->topic, m->partition, s)) {
    held_part *hp = hl_calloc(1, sizeof *hp);
    hp->topic = hl_strdup(m->topic);
    hp->partition = m->partition;
    hp->sub = s;
    hl_sub_ref(s);
    hp->next = p->held;
    p->held = hp;
    hl_log_debug("partition held", "\"topic\":\"%s\",\"partition\":%d,\"subscription_id\":\"%s\",\"in_memory\":%u",
                 m->topic, m->partition, s->rec.subscription_id, s->in_memory);
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
  else if (p->opt.dispatcher && (has_prefix(m->topic, p->opt.egress_prefix, p->egress_len) ||
                                 has_prefix(m->topic, p->opt.retry_prefix, p->retry_len)))
    deliver(p, m);
  else hl_kafka_done(p->kafka, m);
}

static void held_free(hl_pipeline *p, held_part *x) {
  hl_sub_unref(p->reg, x->sub);
  hl_free(x->topic);
  hl_free(x);
}

static void on_revoke(void *data, const char *topic, int32_t partition) {
  hl_pipeline *p = data;
  for (resume_timer *r = p->timers; r; r = r->next)
    if (r->partition == partition && strcmp(r->topic, topic) == 0) uv_timer_stop(&r->timer);
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

static void on_forwarded(void *data, int status) { hl_dispatch_forwarded(data, status); }

void hl_pipeline_forward(hl_kafka *k, const hl_pipeline_options *opt, hl_delivery *dl, hl_outcome outcome,
                         uint64_t delay_ms) {
  const hl_eq_item *it = hl_delivery_item(dl);
  char attempt[24], due[24], acc[24], topic[300], tier[32];
  snprintf(attempt, sizeof attempt, "%" PRId64, it->d.attempts);
  snprintf(acc, sizeof acc, "%" PRId64, it->accepted_at);
  hl_kafka_header h[7];
  size_t nh = 0;
  h[nh++] = (hl_kafka_header){"subscription_id", it->d.subscription_id, strlen(it->d.subscription_id)};
  h[nh++] = (hl_kafka_header){"attempt", attempt, strlen(attempt)};
  h[nh++] = (hl_kafka_header){"accepted_ms", acc, strlen(acc)};
  if (it->event_type) h[nh++] = (hl_kafka_header){"event_type", it->event_type, strlen(it->event_type)};
  if (it->trace) h[nh++] = (hl_kafka_header){"traceparent", it->trace, strlen(it->trace)};
  if (outcome == HL_OUTCOME_RETRY) {
    snprintf(due, sizeof due, "%" PRId64, hl_wall_ms() + (int64_t)delay_ms);
    h[nh++] = (hl_kafka_header){"due_ms", due, strlen(due)};
    /* The tier is the schedule's delay for this retry; Retry-After may push
     * the due time later, which the header carries. */
    uint64_t tier_ms = delay_ms;
    if (opt->schedule && it->d.attempts >= 1 && (size_t)it->d.attempts <= opt->schedule->n)
      tier_ms = opt->schedule->delay_ms[it->d.attempts - 1];
    hl_retry_tier_name(tier_ms, tier, sizeof tier);
    snprintf(topic, sizeof topic, "%s.%s", opt->retry_prefix, tier);
  } else {
    const char *reason = hl_delivery_error(dl);
    h[nh++] = (hl_kafka_header){"reason", reason, strlen(reason)};
    snprintf(topic, sizeof topic, "%s", opt->dlq_topic);
  }
  hl_kafka_produce(k, topic, it->d.event_id, strlen(it->d.event_id), it->body, it->body_len, h, nh, on_forwarded, dl);
}

static void forward(void *data, hl_delivery *dl, hl_outcome outcome, uint64_t delay_ms) {
  hl_pipeline *p = data;
  hl_pipeline_forward(p->kafka, &p->opt, dl, outcome, delay_ms);
}

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
  if (sub->in_memory <= hl_dispatch_sub_limit(p->dispatch, sub))
    for (held_part **pp = &p->held; *pp;) {
      held_part *x = *pp;
      if (x->sub != sub) { pp = &x->next; continue; }
      *pp = x->next;
      hl_kafka_unhold(p->kafka, x->topic, x->partition);
      held_free(p, x);
    }
}

/* --- life cycle ----------------------------------------------------------------------------- */

static void regex_of(char *out, size_t n, const char *prefix) {
  size_t o = 0;
  o += (size_t)snprintf(out + o, n - o, "^");
  for (const char *c = prefix; *c && o + 3 < n; c++) {
    if (strchr(".^$*+?()[]{}|\\", *c)) out[o++] = '\\';
    out[o++] = *c;
  }
  snprintf(out + o, n - o, "\\..*");
}

hl_pipeline *hl_pipeline_create(uv_loop_t *loop, hl_kafka *kafka, hl_registry *reg, hl_store *store,
                                const hl_pipeline_options *opt) {
  hl_pipeline *p = hl_calloc(1, sizeof *p);
  p->loop = loop;
  p->kafka = kafka;
  p->reg = reg;
  p->store = store;
  p->opt = *opt;
  p->source = (hl_dispatch_source){forward, finished, p};
  regex_of(p->ingress_re, sizeof p->ingress_re, opt->ingress_prefix);
  regex_of(p->egress_re, sizeof p->egress_re, opt->egress_prefix);
  regex_of(p->retry_re, sizeof p->retry_re, opt->retry_prefix);
  p->ingress_len = strlen(opt->ingress_prefix) + 1;
  p->egress_len = strlen(opt->egress_prefix) + 1;
  p->retry_len = strlen(opt->retry_prefix) + 1;
  return p;
}

const hl_dispatch_source *hl_pipeline_source(hl_pipeline *p) { return &p->source; }

void hl_pipeline_set_dispatch(hl_pipeline *p, hl_dispatch *d) { p->dispatch = d; }

int hl_pipeline_start(hl_pipeline *p) {
  const char *topics[3];
  size_t n = 0;
  if (p->opt.processor) topics[n++] = p->ingress_re;
  if (p->opt.dispatcher) { topics[n++] = p->egress_re; topics[n++] = p->retry_re; }
  return hl_kafka_subscribe(p->kafka, topics, n, on_msg, on_revoke, p);
}

void hl_pipeline_stop(hl_pipeline *p) {
  p->stopping = true;
  /* What is handed back from now on is for the next run, not this one. */
  if (p->kafka) hl_kafka_consume_stop(p->kafka);
}

size_t hl_pipeline_busy(const hl_pipeline *p) { return p->busy; }

static void timers_closed(uv_handle_t *h) {
  resume_timer *r = h->data;
  hl_pipeline *p = r->p;
  hl_free(r->topic);
  hl_free(r);
  if (--p->closing == 0) {
    void (*cb)(void *) = p->destroy_cb;
    void *data = p->destroy_data;
    hl_free(p);
    if (cb) cb(data);
  }
}

void hl_pipeline_destroy(hl_pipeline *p, void (*cb)(void *data), void *data) {
  hl_pipeline_stop(p);
  while (p->held) {
    held_part *x = p->held;
    p->held = x->next;
    held_free(p, x);
  }
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
  if (--p->closing == 0) {
    hl_free(p);
    if (cb) cb(data);
  }
}
