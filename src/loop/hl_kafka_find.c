#include "loop/hl_kafka_find.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <string.h>

#include "common/hl_common.h"

typedef struct {
  uv_work_t work;
  /* Inputs (owned copies). */
  char *brokers, *protocol, *topic, *key, *key_header, *header, *header_value;
  hl_kafka_sasl_mech mech;
  char *username, *password;  /* SCRAM (the password wiped at the end) */
  char *token;                /* OAUTHBEARER: asked for on the loop before the lookup starts (wiped) */
  int64_t token_expiry_ms;
  int64_t from_ms;
  int timeout_ms;
  long max_records;
  /* Result, filled on the worker thread. */
  int status;
  char why[320];
  int32_t partition;
  int64_t offset;
  void *key_found;
  size_t key_len;
  void *value;
  size_t len;
  hl_kafka_header *headers;
  size_t nheaders;
  hl_kafka_find_cb cb;
  void *data;
  uv_loop_t *loop;
} find_job;

static void wipe_free(char **p) {
  if (*p) explicit_bzero(*p, strlen(*p));
  hl_free(*p);
  *p = NULL;
}

static bool header_matches(rd_kafka_message_t *m, const char *name, const char *want) {
  if (!name) return true;
  rd_kafka_headers_t *hs = NULL;
  if (rd_kafka_message_headers(m, &hs) != RD_KAFKA_RESP_ERR_NO_ERROR) return false;
  const void *v = NULL;
  size_t len = 0;
  if (rd_kafka_header_get_last(hs, name, &v, &len) != RD_KAFKA_RESP_ERR_NO_ERROR) return false;
  return !want || (len == strlen(want) && memcmp(v, want, len) == 0);
}

/* The record's key is the one looked for, or its key header (if asked) is. */
static bool key_matches(const find_job *j, rd_kafka_message_t *m, size_t klen) {
  if (m->key_len == klen && memcmp(m->key, j->key, klen) == 0) return true;
  return j->key_header && header_matches(m, j->key_header, j->key);
}

static void take(find_job *j, rd_kafka_message_t *m) {
  j->partition = m->partition;
  j->key_len = m->key ? m->key_len : 0;
  j->key_found = hl_malloc(j->key_len + 1);
  if (j->key_len) memcpy(j->key_found, m->key, j->key_len);
  j->offset = m->offset;
  j->len = m->len;
  j->value = hl_malloc(m->len + 1);
  if (m->len) memcpy(j->value, m->payload, m->len);
  ((char *)j->value)[m->len] = '\0';
  rd_kafka_headers_t *hs = NULL;
  if (rd_kafka_message_headers(m, &hs) != RD_KAFKA_RESP_ERR_NO_ERROR) return;
  size_t n = rd_kafka_header_cnt(hs);
  j->headers = hl_calloc(n + 1, sizeof *j->headers);
  const char *name;
  const void *v;
  size_t len;
  for (size_t i = 0; i < n && rd_kafka_header_get_all(hs, i, &name, &v, &len) == RD_KAFKA_RESP_ERR_NO_ERROR; i++) {
    char *copy = hl_malloc(len + 1);
    if (len) memcpy(copy, v, len);
    copy[len] = '\0';
    j->headers[j->nheaders++] = (hl_kafka_header){hl_strdup(name), copy, len};
  }
}

/* On the threadpool: nothing here touches the loop. */
static void find_work(uv_work_t *w) {
  find_job *j = hl_container_of(w, find_job, work);
  char err[256];
  j->status = HL_EIO;
  rd_kafka_conf_t *c = rd_kafka_conf_new();
  /* The token is set below: a source is needed only to pass the check. */
  static hl_kafka_token_source set_by_hand;
  hl_kafka_config sec = {.brokers = j->brokers, .security_protocol = j->protocol,
                         .sasl = {.mech = j->mech, .username = j->username, .password = j->password,
                                  .tokens = &set_by_hand}};
  if (hl_kafka_conf_security(&sec, c, err, sizeof err) != 0) {
    snprintf(j->why, sizeof j->why, "Kafka configuration: %s", err);
    rd_kafka_conf_destroy(c);
    return;
  }
  const char *kv[][2] = {
      {"client.id", "hookloop-finder"},
      {"group.id", "hookloop-finder"}, /* required by the consumer; assign() never joins it */
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      {"enable.partition.eof", "true"},
      {"log_level", "3"},
  };
  for (size_t i = 0; i < HL_ARRAY_SIZE(kv); i++)
    if (rd_kafka_conf_set(c, kv[i][0], kv[i][1], err, sizeof err) != RD_KAFKA_CONF_OK) {
      snprintf(j->why, sizeof j->why, "Kafka configuration: %s", err);
      rd_kafka_conf_destroy(c);
      return;
    }
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof err);
  if (!rk) {
    snprintf(j->why, sizeof j->why, "Kafka consumer: %s", err);
    rd_kafka_conf_destroy(c);
    return;
  }
  /* Its SASL queue is never served: the token is set now, and outlives
   * the lookup (a token lives at least a minute; a lookup 15 s). */
  if (j->token && rd_kafka_oauthbearer_set_token(rk, j->token, j->token_expiry_ms, "hookloop", NULL, 0, err,
                                                 sizeof err) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    snprintf(j->why, sizeof j->why, "Kafka SASL token: %s", err);
    rd_kafka_destroy(rk);
    return;
  }
  uint64_t deadline = hl_mono_ms() + (uint64_t)j->timeout_ms;
  rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, j->topic, NULL);
  const struct rd_kafka_metadata *md = NULL;
  rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, j->timeout_ms / 2);
  int nparts = e == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1 && !md->topics[0].err
                   ? md->topics[0].partition_cnt : -1;
  if (md) rd_kafka_metadata_destroy(md);
  rd_kafka_topic_destroy(rkt);
  if (nparts <= 0) {
    snprintf(j->why, sizeof j->why, "topic %s is not readable: %s", j->topic,
             e ? rd_kafka_err2str(e) : "no such topic or no partitions");
    rd_kafka_destroy(rk);
    return;
  }
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(nparts);
  for (int p = 0; p < nparts; p++) rd_kafka_topic_partition_list_add(l, j->topic, p)->offset = j->from_ms;
  /* Brokers that cannot look up by time (or an old record): from the start. */
  if (rd_kafka_offsets_for_times(rk, l, j->timeout_ms / 4) != RD_KAFKA_RESP_ERR_NO_ERROR)
    for (int p = 0; p < l->cnt; p++) l->elems[p].offset = RD_KAFKA_OFFSET_BEGINNING;
  int assigned = 0;
  for (int p = 0; p < l->cnt; p++) {
    if (l->elems[p].err) l->elems[p].offset = RD_KAFKA_OFFSET_BEGINNING;
    /* END: no record at or after the time on this partition. */
    if (l->elems[p].offset != RD_KAFKA_OFFSET_END) assigned++;
  }
  if (assigned == 0) {
    /* The record looked for is never older than from_ms, so "nothing at or
     * after it anywhere" means the broker did not look up by time (some
     * test brokers answer the end): read everything instead. */
    for (int p = 0; p < l->cnt; p++) l->elems[p].offset = RD_KAFKA_OFFSET_BEGINNING;
    assigned = l->cnt;
  }
  rd_kafka_topic_partition_list_t *a = rd_kafka_topic_partition_list_new(assigned);
  for (int p = 0; p < l->cnt; p++)
    if (l->elems[p].offset != RD_KAFKA_OFFSET_END)
      rd_kafka_topic_partition_list_add(a, j->topic, l->elems[p].partition)->offset = l->elems[p].offset;
  rd_kafka_topic_partition_list_destroy(l);
  j->status = HL_ENOTFOUND;
  snprintf(j->why, sizeof j->why, "no record with this key on %s", j->topic);
  if (assigned > 0 && rd_kafka_assign(rk, a) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    int eof = 0;
    long seen = 0;
    size_t klen = strlen(j->key);
    while (eof < assigned) {
      if (hl_mono_ms() > deadline || seen >= j->max_records) {
        j->status = HL_ETIMEOUT;
        snprintf(j->why, sizeof j->why, "gave up after %ld records of %s", seen, j->topic);
        break;
      }
      rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
      if (!m) continue;
      if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        eof++;
      } else if (!m->err) {
        seen++;
        if (key_matches(j, m, klen) && header_matches(m, j->header, j->header_value)) {
          take(j, m);
          j->status = 0;
          j->why[0] = '\0';
          rd_kafka_message_destroy(m);
          break;
        }
      }
      rd_kafka_message_destroy(m);
    }
  }
  rd_kafka_topic_partition_list_destroy(a);
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
}

static void find_done(uv_work_t *w, int uv_status) {
  find_job *j = hl_container_of(w, find_job, work);
  if (uv_status != 0 && j->status == 0) j->status = HL_ECANCELED;
  hl_kafka_found f = {j->topic, j->partition, j->offset, j->key_len ? j->key_found : NULL, j->key_len,
                      j->value, j->len, j->headers, j->nheaders};
  j->cb(j->data, j->status, j->why[0] ? j->why : NULL, j->status == 0 ? &f : NULL);
  for (size_t i = 0; i < j->nheaders; i++) {
    hl_free((char *)j->headers[i].name);
    hl_free((void *)j->headers[i].value);
  }
  hl_free_all(j->headers, j->key_found, j->value, j->brokers, j->protocol, j->username);
  wipe_free(&j->password);
  wipe_free(&j->token);
  hl_free_all(j->topic, j->key, j->key_header, j->header, j->header_value, j);
}

static void start(find_job *j) {
  if (uv_queue_work(j->loop, &j->work, find_work, find_done) != 0) {
    j->status = HL_EIO;
    snprintf(j->why, sizeof j->why, "could not start the lookup");
    find_done(&j->work, 0); /* a programming error; answered at once */
  }
}

static void on_token(void *data, int status, const char *token, int64_t expiry_ms, const char *info) {
  find_job *j = data;
  if (status != 0) {
    j->status = HL_EIO;
    snprintf(j->why, sizeof j->why, "no Kafka SASL token: %s", info ? info : "the token source failed");
    find_done(&j->work, 0);
    return;
  }
  j->token = hl_strdup(token);
  j->token_expiry_ms = expiry_ms;
  start(j);
}

void hl_kafka_find(uv_loop_t *loop, const hl_kafka_config *cfg, const hl_kafka_find_query *q, hl_kafka_find_cb cb,
                   void *data) {
  find_job *j = hl_calloc(1, sizeof *j);
  j->loop = loop;
  j->mech = cfg->sasl.mech;
  j->username = cfg->sasl.username ? hl_strdup(cfg->sasl.username) : NULL;
  j->password = cfg->sasl.password ? hl_strdup(cfg->sasl.password) : NULL;
  j->brokers = hl_strdup(cfg->brokers ? cfg->brokers : "");
  j->protocol = hl_strdup(cfg->security_protocol && *cfg->security_protocol ? cfg->security_protocol : "plaintext");
  j->topic = hl_strdup(q->topic);
  j->key = hl_strdup(q->key);
  j->key_header = q->key_header ? hl_strdup(q->key_header) : NULL;
  j->header = q->header ? hl_strdup(q->header) : NULL;
  j->header_value = q->header_value ? hl_strdup(q->header_value) : NULL;
  j->from_ms = q->from_ms;
  j->timeout_ms = q->timeout_ms > 0 ? q->timeout_ms : 15000;
  j->max_records = q->max_records > 0 ? q->max_records : 1000000;
  j->cb = cb;
  j->data = data;
  /* OAUTHBEARER: the token first, from the loop (the source may fetch
   * credentials), then the lookup with it on the threadpool. */
  if (j->mech == HL_KAFKA_SASL_OAUTHBEARER && cfg->sasl.tokens) {
    cfg->sasl.tokens->request(cfg->sasl.tokens, on_token, j);
    return;
  }
  start(j);
}
