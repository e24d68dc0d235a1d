#include "app/hl_lambda.h"
#include "common/hl_buf.h"
#include "common/hl_common.h"
#include "common/hl_log.h"
#include "crypto/hl_crypto.h"
#include "handlers/hl_api.h"
#include "handlers/hl_dispatch.h"
#include "handlers/hl_event.h"
#include "handlers/hl_metrics.h"
#include "handlers/hl_pipeline.h"
#include "handlers/hl_registry.h"
#include "handlers/hl_retry.h"
#include "loop/hl_curl_uv.h"
#include "loop/hl_kafka.h"
#include "loop/hl_lambda_rt.h"
#include "app/hl_app_store.h"
#include "store/hl_store_sqlite.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEADLINE_MARGIN_MS 1500

typedef struct invocation invocation;

typedef enum { REC_PENDING, REC_OK, REC_FAILED } rec_state;

typedef struct {
  invocation *inv;
  char *topic, *partition_key; /* "<topic>-<partition>" as the event keyed it */
  int32_t partition;
  int64_t offset;
  char *key, *value;
  size_t key_len, len;
  hl_kafka_header headers[16];
  size_t nheaders;
  rec_state state;
  bool in_dispatch;            /* the dispatcher holds it (token) */
  size_t outstanding;          /* produces waiting for acks */
  int produce_failed;
} record;

struct invocation {
  hl_lambda_invocation meta;
  record *recs;
  size_t nrecs;
  size_t pending;              /* records not yet OK/FAILED */
  size_t holds;                /* dispatcher tokens not yet released */
  bool answered;
  uv_timer_t deadline;
};

typedef struct {
  const hl_config *cfg;
  uv_loop_t loop;
  hl_curl_uv curl;
  hl_lambda_rt rt;
  hl_store *store;
  hl_registry reg;
  hl_retry_schedule *schedule;
  hl_dispatch dispatch;
  hl_dispatch_source source;
  hl_api api;
  hl_metrics metrics, metrics_sent;
  hl_kafka *kafka;             /* producer only, for retry/DLQ/egress topics */
  hl_kafka_config kcfg;
  bool partial_batch;
  /* Schemas and subscriptions load while the first /next is pending, so the
   * store's latency stays out of the init phase; an invocation that comes
   * first waits for them (parked). */
  enum { LOAD_PENDING, LOAD_OK, LOAD_FAILED } load;
  invocation *parked;
  int prep_pending;            /* the store load and the default secret's read */
  int prep_status;
  const char *prep_why;
  hl_secrets secrets;          /* WEBHOOK_SECRET_ARN */
  bool have_secrets;
  bool stop;
  int exit_code;
} lambda;

static lambda L;

static void next_invocation(void);
static void route_invocation(invocation *inv);
static void on_reloaded(void *data, int status);
static void prepare(void);
static void invocation_free(invocation *inv);

/* --- answering -------------------------------------------------------------------------- */

static void emit_emf(void) {
  hl_buf b = HL_BUF_INIT;
  hl_metrics_render_emf(&L.metrics, &L.metrics_sent, "hookloop", hl_wall_ms(), &b);
  printf("%s\n", b.data);
  fflush(stdout);
  hl_buf_dispose(&b);
  L.metrics_sent = L.metrics;
}

static void on_posted(hl_lambda_rt *rt, int status, void *data) {
  (void)rt; (void)data;
  if (status == HL_ECLOSED) {
    L.stop = true;
    return;
  }
  next_invocation();
}

static void invocation_free(invocation *inv) {
  for (size_t i = 0; i < inv->nrecs; i++) {
    record *r = &inv->recs[i];
    hl_free(r->topic); hl_free(r->partition_key); hl_free(r->key); hl_free(r->value);
    for (size_t h = 0; h < r->nheaders; h++) {
      hl_free((char *)r->headers[h].name);
      hl_free((void *)r->headers[h].value);
    }
  }
  hl_free(inv->recs);
  hl_free(inv->meta.body);
  hl_free(inv);
}

static void on_deadline_closed(uv_handle_t *h) {
  invocation *inv = h->data;
  if (inv->holds == 0) invocation_free(inv);
  else inv->deadline.data = NULL; /* freed when the dispatcher lets go */
}

static void answer_batch(invocation *inv) {
  if (inv->answered) return;
  inv->answered = true;
  uv_timer_stop(&inv->deadline);
  size_t failed = 0;
  for (size_t i = 0; i < inv->nrecs; i++) failed += inv->recs[i].state != REC_OK;
  emit_emf();
  if (failed == 0 || L.partial_batch) {
    hl_buf b = HL_BUF_INIT;
    hl_jw w;
    hl_jw_init(&w, &b);
    hl_jw_obj_begin(&w);
    hl_jw_key(&w, "batchItemFailures");
    hl_jw_arr_begin(&w);
    for (size_t i = 0; i < inv->nrecs; i++) {
      if (inv->recs[i].state == REC_OK) continue;
      hl_jw_obj_begin(&w);
      hl_jw_key(&w, "itemIdentifier");
      hl_jw_obj_begin(&w);
      hl_jw_key(&w, "partition"); hl_jw_str(&w, inv->recs[i].partition_key);
      hl_jw_key(&w, "offset"); hl_jw_int(&w, inv->recs[i].offset);
      hl_jw_obj_end(&w);
      hl_jw_obj_end(&w);
    }
    hl_jw_arr_end(&w);
    hl_jw_obj_end(&w);
    hl_lambda_rt_respond(&L.rt, inv->meta.request_id, b.data, b.len, on_posted, NULL);
    hl_buf_dispose(&b);
  } else {
    char msg[256];
    snprintf(msg, sizeof msg, "%zu of %zu records did not reach a durable state; retry the batch", failed, inv->nrecs);
    hl_lambda_rt_error(&L.rt, inv->meta.request_id, "Hookloop.BatchIncomplete", msg, on_posted, NULL);
  }
  uv_close((uv_handle_t *)&inv->deadline, on_deadline_closed);
}

static void record_settled(record *r, rec_state st) {
  if (r->state != REC_PENDING) return;
  r->state = st;
  invocation *inv = r->inv;
  if (--inv->pending == 0) answer_batch(inv);
}

/* --- producing (processor fan-out, retry and dead-letter topics) --------------------------- */

static const char *header_of(const record *r, const char *name, size_t *len) {
  for (size_t i = r->nheaders; i-- > 0;)
    if (strcmp(r->headers[i].name, name) == 0) {
      if (len) *len = r->headers[i].len;
      return r->headers[i].value;
    }
  return NULL;
}

static char *header_str(const record *r, const char *name) {
  size_t n = 0;
  const char *v = header_of(r, name, &n);
  return v ? hl_strndup(v, n) : NULL;
}

static void on_record_produced(void *data, int status) {
  record *r = data;
  if (status != 0) r->produce_failed++;
  if (--r->outstanding > 0) return;
  record_settled(r, r->produce_failed ? REC_FAILED : REC_OK);
}

static void process_ingress(record *r) {
  hl_json_doc doc;
  hl_json_doc_init(&doc);
  if (!L.kafka) { record_settled(r, REC_FAILED); return; }
  hl_json_error jerr;
  if (hl_json_parse_ex(&doc, r->value ? r->value : "", r->len, HL_JSON_UNIQUE_NAMES, &jerr) != 0) {
    /* Not JSON, or a member name twice (I-JSON): the reason says which. */
    hl_json_doc_dispose(&doc);
    hl_event_check e = {0};
    hl_event_reject_parse(&e, &jerr);
    char reason[600];
    snprintf(reason, sizeof reason, "%s: %s", e.error, e.message);
    hl_event_check_dispose(&e);
    hl_kafka_header h = {"reason", reason, strlen(reason)};
    r->outstanding = 1;
    hl_kafka_produce(L.kafka, L.cfg->dlq_topic, r->key, r->key_len, r->value, r->len, &h, 1, on_record_produced, r);
    return;
  }
  hl_event_check e;
  hl_event_check_run(&L.reg, doc.root, r->value, r->len, false, &e);
  hl_json_doc_dispose(&doc);
  r->outstanding = 1; /* held while producing */
  if (e.status != 0) {
    char reason[600];
    snprintf(reason, sizeof reason, "%s: %s", e.error, e.message);
    hl_kafka_header h = {"reason", reason, strlen(reason)};
    r->outstanding++;
    hl_kafka_produce(L.kafka, L.cfg->dlq_topic, r->key, r->key_len, r->value, r->len, &h, 1, on_record_produced, r);
  } else {
    char now[24];
    snprintf(now, sizeof now, "%" PRId64, hl_wall_ms());
    for (size_t i = 0; i < e.nsubs; i++) {
      hl_sub *s = hl_registry_sub_get(&L.reg, e.subs[i]);
      if (!s) continue;
      hl_kafka_header h[4] = {
        {"subscription_id", s->rec.subscription_id, strlen(s->rec.subscription_id)},
        {"attempt", "0", 1}, {"event_type", e.type, strlen(e.type)}, {"accepted_ms", now, strlen(now)},
      };
      r->outstanding++;
      hl_kafka_produce(L.kafka, s->rec.egress_topic, e.id, strlen(e.id), r->value, r->len, h, 4, on_record_produced, r);
    }
    L.metrics.events_processed++;
  }
  hl_event_check_dispose(&e);
  on_record_produced(r, 0);
}

/* A record that cannot be delivered as it is goes to the dead-letter topic
 * with the reason; without Kafka it is reported failed (never dropped). */
static void dead_letter_record(record *r, const char *reason) {
  hl_log_warn("record dead-lettered", "\"topic\":\"%s\",\"partition\":%d,\"offset\":%" PRId64 ",\"reason\":\"%s\"",
              hl_log_esc(r->topic, (size_t)-1), r->partition, r->offset, hl_log_esc(reason, (size_t)-1));
  if (!L.kafka) { record_settled(r, REC_FAILED); return; }
  hl_kafka_header h = {"reason", reason, strlen(reason)};
  r->outstanding = 1;
  hl_kafka_produce(L.kafka, L.cfg->dlq_topic, r->key, r->key_len, r->value, r->len, &h, 1, on_record_produced, r);
}

/* Puts a record back on its retry topic unchanged (not due before the deadline). */
static void requeue_record(record *r) {
  if (!L.kafka) { record_settled(r, REC_FAILED); return; }
  r->outstanding = 1;
  hl_kafka_produce(L.kafka, r->topic, r->key, r->key_len, r->value, r->len, r->headers, r->nheaders,
                   on_record_produced, r);
}

/* --- the dispatcher's source ---------------------------------------------------------------- */

static void forward(void *data, hl_delivery *dl, hl_outcome outcome, uint64_t delay_ms) {
  (void)data;
  if (!L.kafka) { hl_dispatch_forwarded(dl, HL_EUNSUPPORTED); return; }
  hl_pipeline_options po = {.retry_prefix = L.cfg->retry_topic_prefix, .dlq_topic = L.cfg->dlq_topic,
                            .schedule = L.schedule};
  hl_pipeline_forward(L.kafka, &po, dl, outcome, delay_ms);
}

static void finished(void *data, void *token, hl_sub *sub, bool recorded) {
  (void)data; (void)sub;
  record *r = token;
  invocation *inv = r->inv;
  r->in_dispatch = false;
  inv->holds--;
  record_settled(r, recorded ? REC_OK : REC_FAILED);
  if (inv->holds == 0 && inv->answered && inv->deadline.data == NULL) invocation_free(inv);
}

static void dispatch_record(record *r) {
  hl_sub *s = NULL;
  char *sid = header_str(r, "subscription_id");
  if (sid) s = hl_registry_sub_get(&L.reg, sid);
  hl_free(sid);
  if (!s) {
    hl_log_warn("record for an unknown subscription skipped", "\"topic\":\"%s\",\"offset\":%" PRId64, r->topic, r->offset);
    record_settled(r, REC_OK);
    return;
  }
  char *due = header_str(r, "due_ms");
  if (due) {
    int64_t due_ms = strtoll(due, NULL, 10);
    hl_free(due);
    if (due_ms > hl_wall_ms() + 5) { /* not yet: back on its retry topic, durable */
      requeue_record(r);
      return;
    }
  }
  if (!r->key || r->key_len == 0) {
    /* The key is the event id, the partner's webhook-id: without it there
     * is nothing to de-duplicate on. */
    dead_letter_record(r, "missing_key: egress records carry the event id as their key");
    return;
  }
  hl_eq_item it = {0};
  it.d.event_id = hl_strndup(r->key, r->key_len);
  it.d.subscription_id = hl_strdup(s->rec.subscription_id);
  char *attempt = header_str(r, "attempt");
  it.d.attempts = attempt ? strtoll(attempt, NULL, 10) : 0;
  hl_free(attempt);
  it.d.status = hl_strdup(it.d.attempts ? "RETRYING" : "PENDING");
  it.body = hl_strndup(r->value ? r->value : "", r->len);
  it.body_len = r->len;
  it.trace = header_str(r, "traceparent");
  if (!it.trace && r->inv->meta.trace_id[0]) it.trace = hl_strdup(r->inv->meta.trace_id); /* X-Amzn-Trace-Id */
  it.event_type = header_str(r, "event_type");
  char *acc = header_str(r, "accepted_ms");
  it.accepted_at = acc ? strtoll(acc, NULL, 10) : hl_wall_ms();
  hl_free(acc);
  r->in_dispatch = true;
  r->inv->holds++;
  hl_dispatch_submit(&L.dispatch, s, &it, r);
}

/* Close to the deadline: what still runs goes to its retry topic (or is
 * reported failed), and the batch is answered. */
static void on_deadline(uv_timer_t *t) {
  invocation *inv = t->data;
  hl_log_warn("invocation deadline close: handing unfinished records back", "\"request_id\":\"%s\"",
              inv->meta.request_id);
  for (size_t i = 0; i < inv->nrecs; i++) {
    record *r = &inv->recs[i];
    if (r->state != REC_PENDING) continue;
    if (L.kafka && r->in_dispatch && r->outstanding == 0) {
      /* Same record, same webhook-id: if the running attempt also succeeds,
       * the ledger keeps the retry from being sent. */
      char topic[300], tier[32];
      hl_retry_tier_name(L.schedule && L.schedule->n ? L.schedule->delay_ms[0] : 1000, tier, sizeof tier);
      snprintf(topic, sizeof topic, "%s.%s", L.cfg->retry_topic_prefix, tier);
      r->outstanding = 1;
      hl_kafka_produce(L.kafka, topic, r->key, r->key_len, r->value, r->len, r->headers, r->nheaders,
                       on_record_produced, r);
    } else {
      record_settled(r, REC_FAILED);
    }
  }
}

/* --- events -------------------------------------------------------------------------------- */

static bool has_prefix(const char *topic, const char *prefix) {
  size_t n = strlen(prefix);
  return strncmp(topic, prefix, n) == 0 && topic[n] == '.';
}

static char *b64(const hl_json *v, size_t *len) {
  *len = 0;
  if (!v || v->type != HL_JSON_STRING) return NULL;
  char *out = hl_malloc(v->len + 1);
  int n = hl_base64_decode(v->u.str, v->len, (uint8_t *)out, v->len + 1);
  if (n < 0) { hl_free(out); return NULL; }
  out[n] = '\0';
  *len = (size_t)n;
  return out;
}

static void handle_kafka_batch(invocation *inv, const hl_json *ev) {
  const hl_json *records = hl_json_get(ev, "records");
  size_t total = 0;
  for (uint32_t i = 0; records && records->type == HL_JSON_OBJECT && i < records->len; i++)
    total += records->u.members[i].value.type == HL_JSON_ARRAY ? records->u.members[i].value.len : 0;
  if (!L.kafka) {
    /* The producer for retry and dead-letter topics: the configured brokers,
     * else the cluster the batch came from. Created once per sandbox. */
    const char *bs = L.cfg->kafka_brokers ? L.cfg->kafka_brokers : hl_json_str(hl_json_get(ev, "bootstrapServers"));
    if (bs) {
      hl_kafka_config kc = {.brokers = bs, .security_protocol = L.cfg->kafka_security_protocol};
      char err[256];
      if (hl_kafka_create(&L.loop, &kc, &L.kafka, err, sizeof err) != 0)
        hl_log_error("Kafka producer unavailable", "\"error\":\"%s\"", hl_log_esc(err, (size_t)-1));
    }
  }
  inv->recs = hl_calloc(total ? total : 1, sizeof *inv->recs);
  for (uint32_t i = 0; records && records->type == HL_JSON_OBJECT && i < records->len; i++) {
    const hl_json_member *pm = &records->u.members[i];
    if (pm->value.type != HL_JSON_ARRAY) continue;
    for (uint32_t k = 0; k < pm->value.len; k++) {
      const hl_json *rj = &pm->value.u.items[k];
      record *r = &inv->recs[inv->nrecs++];
      r->inv = inv;
      r->partition_key = hl_strndup(pm->key, pm->key_len);
      r->topic = hl_strdup(hl_json_str(hl_json_get(rj, "topic")) ? hl_json_str(hl_json_get(rj, "topic")) : "");
      int64_t n = 0;
      hl_json_int64(hl_json_get(rj, "partition"), &n);
      r->partition = (int32_t)n;
      hl_json_int64(hl_json_get(rj, "offset"), &r->offset);
      r->key = b64(hl_json_get(rj, "key"), &r->key_len);
      r->value = b64(hl_json_get(rj, "value"), &r->len);
      const hl_json *hs = hl_json_get(rj, "headers");
      for (uint32_t h = 0; hs && hs->type == HL_JSON_ARRAY && h < hs->len && r->nheaders < 16; h++) {
        const hl_json *ho = &hs->u.items[h];
        if (ho->type != HL_JSON_OBJECT || ho->len == 0) continue;
        const hl_json_member *hm = &ho->u.members[0];
        /* Header values arrive as arrays of (Java, signed) byte values. */
        char *val = hl_malloc(hm->value.len + 1);
        size_t vl = 0;
        for (uint32_t b = 0; hm->value.type == HL_JSON_ARRAY && b < hm->value.len; b++) {
          int64_t byte = 0;
          hl_json_int64(&hm->value.u.items[b], &byte);
          val[vl++] = (char)(uint8_t)(byte & 0xff);
        }
        val[vl] = '\0';
        r->headers[r->nheaders++] = (hl_kafka_header){hl_strndup(hm->key, hm->key_len), val, vl};
      }
    }
  }
  inv->pending = inv->nrecs;
  uv_timer_init(&L.loop, &inv->deadline);
  inv->deadline.data = inv;
  int64_t left = inv->meta.deadline_ms ? inv->meta.deadline_ms - hl_wall_ms() - DEADLINE_MARGIN_MS : 600000;
  uv_timer_start(&inv->deadline, on_deadline, (uint64_t)(left > 0 ? left : 0), 0);
  if (inv->nrecs == 0) {
    answer_batch(inv);
    return;
  }
  for (size_t i = 0; i < inv->nrecs; i++) {
    record *r = &inv->recs[i];
    if (!r->value) { record_settled(r, REC_OK); continue; } /* tombstones carry nothing to deliver */
    if (has_prefix(r->topic, L.cfg->ingress_topic_prefix)) process_ingress(r);
    else if (has_prefix(r->topic, L.cfg->egress_topic_prefix) || has_prefix(r->topic, L.cfg->retry_topic_prefix))
      dispatch_record(r);
    else record_settled(r, REC_OK);
  }
}

typedef struct {
  char request_id[128];
} apigw_ctx;

static void on_api_answer(void *data, int status, const hl_http_header *headers, size_t nheaders,
                          const char *body, size_t body_len) {
  apigw_ctx *c = data;
  hl_buf b = HL_BUF_INIT;
  hl_jw w;
  hl_jw_init(&w, &b);
  hl_jw_obj_begin(&w);
  hl_jw_key(&w, "statusCode"); hl_jw_int(&w, status);
  hl_jw_key(&w, "headers");
  hl_jw_obj_begin(&w);
  bool ct = false;
  for (size_t i = 0; i < nheaders; i++) {
    hl_jw_keyn(&w, headers[i].name, headers[i].name_len);
    hl_jw_strn(&w, headers[i].value, headers[i].value_len);
    ct = ct || (headers[i].name_len == 12 && strncasecmp(headers[i].name, "content-type", 12) == 0);
  }
  if (!ct) { hl_jw_key(&w, "content-type"); hl_jw_str(&w, "application/json"); }
  hl_jw_obj_end(&w);
  hl_jw_key(&w, "body"); hl_jw_strn(&w, body ? body : "", body_len);
  hl_jw_key(&w, "isBase64Encoded"); hl_jw_bool(&w, false);
  hl_jw_obj_end(&w);
  emit_emf();
  hl_lambda_rt_respond(&L.rt, c->request_id, b.data, b.len, on_posted, NULL);
  hl_buf_dispose(&b);
  hl_free(c);
}

static void handle_apigw(invocation *inv, const hl_json *ev) {
  const hl_json *http = hl_json_pointer(ev, "/requestContext/http", 20);
  const char *method = hl_json_str(hl_json_get(http, "method"));
  const char *path = hl_json_str(hl_json_get(ev, "rawPath"));
  const char *query = hl_json_str(hl_json_get(ev, "rawQueryString"));
  const hl_json *hj = hl_json_get(ev, "headers");
  hl_http_header hdrs[64];
  size_t nh = 0;
  for (uint32_t i = 0; hj && hj->type == HL_JSON_OBJECT && i < hj->len && nh < 64; i++)
    if (hj->u.members[i].value.type == HL_JSON_STRING)
      hdrs[nh++] = (hl_http_header){hj->u.members[i].key, hj->u.members[i].key_len, hj->u.members[i].value.u.str,
                                    hj->u.members[i].value.len};
  const hl_json *bj = hl_json_get(ev, "body");
  size_t blen = 0;
  char *body = NULL;
  if (bj && bj->type == HL_JSON_STRING) {
    if (hl_json_get(ev, "isBase64Encoded") && hl_json_get(ev, "isBase64Encoded")->type == HL_JSON_TRUE) body = b64(bj, &blen);
    else { body = hl_strndup(bj->u.str, bj->len); blen = bj->len; }
  }
  apigw_ctx *c = hl_malloc(sizeof *c);
  snprintf(c->request_id, sizeof c->request_id, "%s", inv->meta.request_id);
  hl_http_req *req = hl_http_req_detached(method ? method : "GET", path ? path : "/", query, hdrs, nh,
                                          body ? body : "", blen, on_api_answer, c);
  hl_free(body);
  size_t limit = hl_api_body_limit(req->method, req->path, req->path_len, &L.api);
  if (blen > limit) hl_http_respond_error(req, 413, "payload_too_large", "the request body is over the limit for this endpoint");
  else hl_api_handle(req, &L.api);
}

static void on_next(hl_lambda_rt *rt, int status, hl_lambda_invocation *meta) {
  (void)rt;
  if (status == HL_ECLOSED || L.stop) {
    L.stop = true;
    return;
  }
  if (status != 0) { /* transient: ask again shortly */
    hl_log_warn("next invocation failed; asking again", "\"error\":\"%s\"", hl_strerror(status));
    next_invocation();
    return;
  }
  invocation *inv = hl_calloc(1, sizeof *inv);
  inv->meta = *meta;
  meta->body = NULL;
  if (inv->meta.trace_id[0]) setenv("_X_AMZN_TRACE_ID", inv->meta.trace_id, 1);
  if (L.load != LOAD_OK) {
    L.parked = inv;
    if (L.load == LOAD_FAILED) prepare(); /* the store or the secret was unreachable: try again */
    return;
  }
  /* Warm reuse: compiled schemas and subscriptions stay between
   * invocations, but no older than HOOKLOOP_CONFIG_TTL_S when other
   * functions can change them (a shared store). */
  int64_t ttl = L.cfg->config_ttl_s;
  if (ttl > 0 && L.cfg->store == HL_STORE_DYNAMODB && hl_mono_ms() - L.api.loaded_at_ms >= (uint64_t)ttl * 1000) {
    hl_api_reload(&L.api, on_reloaded, inv);
    return;
  }
  route_invocation(inv);
}

static void on_reloaded(void *data, int status) {
  if (status != 0)
    hl_log_warn("could not reload schemas and subscriptions; going on with the ones loaded before",
                "\"error\":\"%s\"", hl_strerror(status));
  route_invocation(data);
}

static void route_invocation(invocation *inv) {
  hl_json_doc doc;
  hl_json_doc_init(&doc);
  if (hl_json_parse(&doc, inv->meta.body ? inv->meta.body : "", inv->meta.body_len, NULL) != 0) {
    hl_lambda_rt_error(&L.rt, inv->meta.request_id, "Hookloop.InvalidEvent", "the event is not JSON", on_posted, NULL);
    hl_json_doc_dispose(&doc);
    invocation_free(inv);
    return;
  }
  const char *src = hl_json_str(hl_json_get(doc.root, "eventSource"));
  if (src && (strcmp(src, "aws:kafka") == 0 || strcmp(src, "SelfManagedKafka") == 0)) {
    handle_kafka_batch(inv, doc.root);
  } else if (hl_json_pointer(doc.root, "/requestContext/http", 20)) {
    handle_apigw(inv, doc.root);
    invocation_free(inv);
  } else {
    hl_lambda_rt_error(&L.rt, inv->meta.request_id, "Hookloop.UnsupportedEvent",
                       "expected an MSK/Kafka batch or an API Gateway HTTP API (v2) event", on_posted, NULL);
    invocation_free(inv);
  }
  hl_json_doc_dispose(&doc);
}

static void next_invocation(void) {
  if (!L.stop) hl_lambda_rt_next(&L.rt, on_next);
}

static void on_outcome(void *data, const hl_outcome_info *o) {
  (void)data;
  hl_metrics_on_delivery(&L.metrics, o->outcome == HL_OUTCOME_SUCCESS ? "success"
                                     : o->outcome == HL_OUTCOME_DUPLICATE ? "duplicate"
                                     : o->outcome == HL_OUTCOME_RETRY ? "retry" : "failed",
                         o->outcome == HL_OUTCOME_DUPLICATE ? -1.0 : o->latency_s, o->attempt);
}

static void on_init_error_posted(hl_lambda_rt *rt, int status, void *data) {
  (void)rt; (void)status; (void)data;
  L.stop = true;
}

static void init_failed(const char *type, const char *msg) {
  hl_log_error("initialisation failed", "\"error\":\"%s\"", hl_log_esc(msg, (size_t)-1));
  hl_lambda_rt_error(&L.rt, NULL, type, msg, on_init_error_posted, NULL);
  L.exit_code = 1;
}

/* Every invocation needs the schemas and subscriptions and, with
 * WEBHOOK_SECRET_ARN, the default secret: both are read while /next is
 * pending; prepared() runs when both are done. */
static void prepared(void) {
  invocation *inv = L.parked;
  L.parked = NULL;
  if (L.prep_status != 0) {
    /* Not an init error: /next is already asked, and what is down now may
     * be up at the next invocation, which prepares again. */
    L.load = LOAD_FAILED;
    hl_log_error("could not prepare the function", "\"error\":\"%s\"", L.prep_why);
    if (inv) {
      hl_lambda_rt_error(&L.rt, inv->meta.request_id, "Hookloop.StoreUnavailable", L.prep_why, on_posted, NULL);
      invocation_free(inv);
    }
    return;
  }
  L.load = LOAD_OK;
  if (inv) route_invocation(inv);
}

static void prep_done(int status, const char *why) {
  if (status != 0 && L.prep_status == 0) {
    L.prep_status = status;
    L.prep_why = why;
  }
  if (--L.prep_pending == 0) prepared();
}

static void on_loaded(void *data, int status) {
  (void)data;
  prep_done(status, "could not load schemas and subscriptions from the store; retry later");
}

static void on_secret_read(void *data, int status, const char *why) {
  (void)data;
  (void)why; /* logged by the reader; names no secret */
  prep_done(status, "could not read the default webhook secret (WEBHOOK_SECRET_ARN); retry later");
}

static void prepare(void) {
  L.load = LOAD_PENDING;
  L.prep_status = 0;
  L.prep_why = NULL;
  bool secret = L.have_secrets && !hl_secrets_value(&L.secrets);
  L.prep_pending = 1 + secret;
  if (secret) hl_secrets_start(&L.secrets, on_secret_read, NULL);
  hl_api_load(&L.api, on_loaded, NULL);
}

static const char *default_secret(void *data) { return hl_secrets_value(data); }

static void set_flag(void *data) { *(int *)data = 1; }

static void closed_noop(void *d) { (void)d; }

int hl_lambda_run(const hl_config *cfg) {
  memset(&L, 0, sizeof L);
  L.cfg = cfg;
  const char *api = getenv("AWS_LAMBDA_RUNTIME_API");
  if (!api || !*api) {
    fprintf(stderr, "hookloop lambda: AWS_LAMBDA_RUNTIME_API is not set; this command runs inside AWS Lambda "
                    "(or a Runtime API emulator)\n");
    return 2;
  }
  const char *pb = getenv("HOOKLOOP_LAMBDA_PARTIAL_BATCH");
  L.partial_batch = pb && strcmp(pb, "1") == 0;
  signal(SIGPIPE, SIG_IGN);
  hl_curl_global_init();
  uv_loop_init(&L.loop);
  hl_curl_uv_init(&L.curl, &L.loop, 1024);
  hl_lambda_rt_init(&L.rt, &L.curl, api);
  hl_registry_init(&L.reg);
  hl_metrics_init(&L.metrics);
  hl_metrics_init(&L.metrics_sent);
  char err[512] = "";
  hl_buf perr = HL_BUF_INIT;
  /* The package is read-only in Lambda: the embedded store lives in /tmp. */
  const char *dir = strcmp(cfg->data_dir, "./hookloop-data") == 0 ? "/tmp/hookloop-data" : cfg->data_dir;
  if (hl_retry_schedule_parse(cfg->retry_schedule, &L.schedule, &perr) != 0) {
    init_failed("Hookloop.InitError", perr.data ? perr.data : "HOOKLOOP_RETRY_SCHEDULE is not usable");
  } else if (hl_app_store_open(&L.loop, &L.curl, cfg, dir, false, &L.store, err, sizeof err) != 0) {
    init_failed("Hookloop.InitError", err);
  } else if (cfg->webhook_secret_arn && *cfg->webhook_secret_arn &&
             hl_app_secrets_init(&L.secrets, &L.loop, &L.curl, cfg, err, sizeof err) != 0) {
    init_failed("Hookloop.InitError", err);
    L.store->vt->close(L.store, closed_noop, NULL);
    L.store = NULL;
  } else {
    L.have_secrets = cfg->webhook_secret_arn && *cfg->webhook_secret_arn;
    L.source = (hl_dispatch_source){forward, finished, NULL};
    hl_dispatch_options dopt = {.max_in_flight = (unsigned)cfg->max_in_flight,
                                .allow_private_targets = cfg->allow_private_targets,
                                .default_schedule = L.schedule, .on_outcome = on_outcome, .source = &L.source,
                                .default_secret = L.have_secrets ? default_secret : NULL,
                                .default_secret_data = &L.secrets};
    hl_dispatch_init(&L.dispatch, &L.loop, &L.curl, L.store, &L.reg, &dopt);
    hl_api_options aopt = {.admin_token = cfg->admin_token, .api_token = cfg->api_token,
                           .ingress_prefix = cfg->ingress_topic_prefix, .egress_prefix = cfg->egress_topic_prefix,
                           .store_name = L.store->vt->name, .queue_name = "kafka",
                           .allow_private_targets = cfg->allow_private_targets,
                           .default_secret = L.have_secrets, .no_embedded_queue = true,
                           .backlog_high_water = cfg->queue_high_water, .default_schedule = L.schedule,
                           .console = hl_config_console(cfg)};
    hl_api_init(&L.api, L.store, &L.reg, &L.dispatch, &aopt);
    if (cfg->kafka_brokers && *cfg->kafka_brokers) {
      /* The API function produces accepted events to their ingress topics
       * (and re-queues from the dead-letter topic); the MSK functions use
       * the same producer for retry and dead-letter topics. */
      L.kcfg = (hl_kafka_config){.brokers = cfg->kafka_brokers, .security_protocol = cfg->kafka_security_protocol};
      if (hl_kafka_create(&L.loop, &L.kcfg, &L.kafka, err, sizeof err) != 0) {
        hl_log_error("Kafka producer unavailable", "\"error\":\"%s\"", hl_log_esc(err, (size_t)-1));
      } else {
        hl_api_use_kafka(&L.api, L.kafka);
        L.api.opt.loop = &L.loop;
        L.api.opt.kafka_cfg = &L.kcfg;
        L.api.opt.dlq_topic = cfg->dlq_topic;
      }
    }
    prepare();
    next_invocation();
  }
  hl_buf_dispose(&perr);
  while (!L.stop && uv_run(&L.loop, UV_RUN_ONCE)) {}
  if (L.parked) {
    invocation_free(L.parked);
    L.parked = NULL;
  }
  /* The Runtime API said stop (or init failed): close what is open. */
  if (L.store) {
    hl_dispatch_close(&L.dispatch, closed_noop, NULL);
    uv_run(&L.loop, UV_RUN_NOWAIT);
  }
  if (L.kafka) hl_kafka_close(L.kafka, closed_noop, NULL);
  /* The store first: the DynamoDB store finishes its writes through curl. */
  int store_closed = L.store == NULL;
  if (L.store) L.store->vt->close(L.store, set_flag, &store_closed);
  while (!store_closed && uv_run(&L.loop, UV_RUN_ONCE)) {}
  if (L.have_secrets) {
    int secrets_closed = 0;
    hl_secrets_close(&L.secrets, set_flag, &secrets_closed);
    while (!secrets_closed && uv_run(&L.loop, UV_RUN_ONCE)) {}
  }
  hl_curl_uv_close(&L.curl, closed_noop, NULL);
  uv_run(&L.loop, UV_RUN_DEFAULT);
  hl_registry_dispose(&L.reg);
  hl_retry_schedule_free(L.schedule);
  uv_loop_close(&L.loop);
  hl_curl_global_cleanup();
  return L.exit_code;
}

int hl_lambda_report_init_error(const char *message) {
  const char *api = getenv("AWS_LAMBDA_RUNTIME_API");
  if (!api || !*api) return 2;
  memset(&L, 0, sizeof L);
  hl_curl_global_init();
  uv_loop_init(&L.loop);
  hl_curl_uv_init(&L.curl, &L.loop, 4);
  hl_lambda_rt_init(&L.rt, &L.curl, api);
  hl_lambda_rt_error(&L.rt, NULL, "Hookloop.ConfigError", message, on_init_error_posted, NULL);
  while (!L.stop && uv_run(&L.loop, UV_RUN_ONCE)) {}
  if (L.parked) {
    invocation_free(L.parked);
    L.parked = NULL;
  }
  hl_curl_uv_close(&L.curl, closed_noop, NULL);
  uv_run(&L.loop, UV_RUN_DEFAULT);
  uv_loop_close(&L.loop);
  hl_curl_global_cleanup();
  return 2;
}
