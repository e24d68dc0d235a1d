/* hl_ddb_park.c — parked retries on DynamoDB (layout in hl_ddb_park.h). */
#include "store/hl_ddb_park.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hl_common.h"
#include "common/hl_hash.h"
#include "common/hl_log.h"
#include "json/hl_json.h"

#define PARK_SHARDS 8
/* Parts live under shard PART_SHARD_BASE + the head's shard: a number the
 * due Query (shards 0 to PARK_SHARDS - 1) never asks for. */
#define PART_SHARD_BASE 1000
/* An event body is at most a few MB; this bounds the parts of one item
 * whatever a head item claims. */
#define MAX_PARTS 64

static unsigned park_shard(const char *event_id, const char *subscription_id) {
  return hl_fnv1a(hl_fnv1a(HL_FNV1A_INIT, event_id), subscription_id) % PARK_SHARDS;
}

static void head_key(const hl_eq_item *it, char shard[8], hl_buf *due_key) {
  snprintf(shard, 8, "%u", park_shard(it->d.event_id, it->d.subscription_id));
  hl_buf_printf(due_key, "%015lld#%s#%s", (long long)it->d.next_attempt_at, it->d.event_id, it->d.subscription_id);
}

/* Part k of it: the head's due_key and the part's number, under the part
 * shard. */
static void part_key(const hl_eq_item *it, size_t k, char shard[8], hl_buf *due_key) {
  snprintf(shard, 8, "%u", PART_SHARD_BASE + park_shard(it->d.event_id, it->d.subscription_id));
  hl_buf_printf(due_key, "%015lld#%s#%s#part%03zu", (long long)it->d.next_attempt_at, it->d.event_id,
                it->d.subscription_id, k);
}

size_t hl_ddb_park_split(const char *body, size_t len, size_t *ends, size_t max_ends) {
  if (len <= HL_DDB_PARK_PART_MAX) return 0;
  size_t n = 0, at = 0;
  while (at < len) {
    size_t end = at + HL_DDB_PARK_PART_MAX;
    if (end >= len) {
      end = len;
    } else {
      /* Back off continuation bytes (10xxxxxx): the cut falls before the
       * lead byte of a sequence. A body that is not UTF-8 (never accepted)
       * still gets cut somewhere rather than nowhere. */
      size_t e = end;
      while (e > at && ((uint8_t)body[e] & 0xC0) == 0x80) e--;
      if (e > at) end = e;
    }
    if (ends && n < max_ends) ends[n] = end;
    n++;
    at = end;
  }
  return n;
}

/* Answers cb on a later turn: a request that could not be built. The park
 * is held until then. */
static void answer_later(hl_ddb_park *p, hl_store_cb cb, void *data, int status) {
  p->hold(p->owner);
  hl_ddb_answer_later(p->client, cb, data, status, p->release, p->owner);
}

/* --- put: the parts, then the head ------------------------------------------------ */
typedef struct {
  hl_ddb_park *p;
  hl_store_cb cb;
  void *data;
  hl_buf head;       /* the head's PutItem, sent once every part is in */
  size_t pending;    /* part writes in flight */
  int status;
} put_ctx;

static void put_finish(put_ctx *c, int status) {
  hl_store_result res = {0};
  if (c->cb) c->cb(c->data, status, &res);
  hl_buf_dispose(&c->head);
  c->p->release(c->p->owner);
  hl_free(c);
}

static void on_head_put(void *data, const hl_aws_status *st, const hl_json *resp) {
  put_ctx *c = data;
  (void)resp;
  /* Parked already (its record came twice): done. Refused as invalid (over
   * the item size limit, say): it cannot be parked at all. */
  int status = 0;
  if (st->outcome == HL_AWS_VALIDATION) status = HL_EINVAL;
  else if (st->outcome != HL_AWS_OK && st->outcome != HL_AWS_CONDITION_FAILED) status = HL_ESTORE;
  put_finish(c, status);
}

static void on_part_put(void *data, const hl_aws_status *st, const hl_json *resp) {
  put_ctx *c = data;
  (void)resp;
  if (st->outcome != HL_AWS_OK && c->status == 0) c->status = st->outcome == HL_AWS_VALIDATION ? HL_EINVAL : HL_ESTORE;
  if (--c->pending > 0) return;
  if (c->status != 0) {
    put_finish(c, c->status); /* no head: the parts are never read */
    return;
  }
  hl_ddb_call(c->p->client, HL_DDB_PUT_ITEM, &c->head, on_head_put, c);
}

void hl_ddb_park_put(hl_ddb_park *p, const hl_eq_item *it, hl_store_cb cb, void *data) {
  const char *body = it->body ? it->body : "";
  size_t ends[MAX_PARTS];
  size_t nparts = hl_ddb_park_split(body, it->body_len, ends, MAX_PARTS);
  if (nparts > MAX_PARTS) {
    answer_later(p, cb, data, HL_EINVAL);
    return;
  }
  char shard[8], nb[4][24];
  hl_buf dk = HL_BUF_INIT;
  head_key(it, shard, &dk);
  hl_ddb_attr a[12];
  size_t n = 0;
  a[n++] = (hl_ddb_attr){"shard", hl_ddb_n(shard)};
  a[n++] = (hl_ddb_attr){"due_key", hl_ddb_sn(dk.data, dk.len)};
  a[n++] = (hl_ddb_attr){"event_id", hl_ddb_s(it->d.event_id)};
  a[n++] = (hl_ddb_attr){"subscription_id", hl_ddb_s(it->d.subscription_id)};
  a[n++] = (hl_ddb_attr){"attempts", hl_ddb_n(hl_ddb_i64(nb[0], it->d.attempts))};
  a[n++] = (hl_ddb_attr){"accepted_at", hl_ddb_n(hl_ddb_i64(nb[1], it->accepted_at))};
  a[n++] = (hl_ddb_attr){"lease_until", hl_ddb_n(hl_ddb_i64(nb[2], 0))};
  if (nparts) a[n++] = (hl_ddb_attr){"parts", hl_ddb_n(hl_ddb_i64(nb[3], (int64_t)nparts))};
  else a[n++] = (hl_ddb_attr){"body", hl_ddb_sn(body, it->body_len)};
  if (it->event_type) a[n++] = (hl_ddb_attr){"event_type", hl_ddb_s(it->event_type)};
  if (it->trace) a[n++] = (hl_ddb_attr){"trace", hl_ddb_s(it->trace)};
  /* A parked replay stays that replay (its ledger key); absent: none. */
  char rb[24];
  if (it->replay > 0) a[n++] = (hl_ddb_attr){"replay", hl_ddb_n(hl_ddb_i64(rb, it->replay))};
  hl_ddb_name nm[] = {{"#dk", "due_key"}};
  hl_ddb_expr x = {.condition = "attribute_not_exists(#dk)", .names = nm, .n_names = 1};
  put_ctx *c = hl_calloc(1, sizeof *c);
  *c = (put_ctx){.p = p, .cb = cb, .data = data, .head = HL_BUF_INIT};
  int rc = hl_ddb_put_item(&c->head, p->table, (hl_ddb_item){a, n}, &x);
  hl_buf_dispose(&dk);
  hl_buf part = HL_BUF_INIT;
  for (size_t k = 0; rc == 0 && k < nparts; k++) {
    size_t from = k ? ends[k - 1] : 0;
    hl_buf pk = HL_BUF_INIT;
    part_key(it, k, shard, &pk);
    hl_ddb_attr pa[] = {{"shard", hl_ddb_n(shard)},
                        {"due_key", hl_ddb_sn(pk.data, pk.len)},
                        {"body", hl_ddb_sn(body + from, ends[k] - from)}};
    rc = hl_ddb_put_item(&part, p->table, HL_DDB_ITEM(pa), NULL);
    hl_buf_dispose(&pk);
    if (rc == 0) {
      c->pending++;
      hl_ddb_call(p->client, HL_DDB_PUT_ITEM, &part, on_part_put, c);
    }
  }
  hl_buf_dispose(&part);
  p->hold(p->owner);
  if (rc != 0 && c->pending == 0) {
    hl_buf_dispose(&c->head);
    hl_free(c);
    p->release(p->owner);
    answer_later(p, cb, data, HL_EINVAL);
    return;
  }
  if (rc != 0) {
    c->status = HL_EINVAL; /* the parts already sent finish it */
    return;
  }
  if (nparts == 0) hl_ddb_call(p->client, HL_DDB_PUT_ITEM, &c->head, on_head_put, c);
}

/* --- delete: the head, then its parts --------------------------------------------- */
typedef struct {
  hl_ddb_park *p;
  hl_store_cb cb;
  void *data;
  hl_eq_item it;     /* a copy of the keys, for the parts */
  size_t nparts;
  size_t pending;
  int status;        /* the head's */
} del_ctx;

static void del_finish(del_ctx *c) {
  hl_store_result res = {0};
  if (c->cb) c->cb(c->data, c->status, &res);
  hl_free(c->it.d.event_id);
  hl_free(c->it.d.subscription_id);
  c->p->release(c->p->owner);
  hl_free(c);
}

static void on_part_deleted(void *data, const hl_aws_status *st, const hl_json *resp) {
  del_ctx *c = data;
  (void)resp;
  /* The head is gone, so a part left behind is never read again; it only
   * costs its storage. Say so. */
  if (st->outcome != HL_AWS_OK)
    hl_log_warn("a parked retry's body part could not be deleted", "\"event_id\":\"%s\",\"subscription_id\":\"%s\"",
                hl_log_esc(c->it.d.event_id, (size_t)-1), hl_log_esc(c->it.d.subscription_id, (size_t)-1));
  if (--c->pending == 0) del_finish(c);
}

static void on_head_deleted(void *data, const hl_aws_status *st, const hl_json *resp) {
  del_ctx *c = data;
  (void)resp;
  c->status = st->outcome == HL_AWS_OK ? 0 : HL_ESTORE;
  if (c->status != 0 || c->nparts == 0) {
    del_finish(c);
    return;
  }
  for (size_t k = 0; k < c->nparts; k++) {
    char shard[8];
    hl_buf pk = HL_BUF_INIT, body = HL_BUF_INIT;
    part_key(&c->it, k, shard, &pk);
    hl_ddb_attr key[] = {{"shard", hl_ddb_n(shard)}, {"due_key", hl_ddb_sn(pk.data, pk.len)}};
    int rc = hl_ddb_delete_item(&body, c->p->table, HL_DDB_ITEM(key), NULL);
    hl_buf_dispose(&pk);
    if (rc != 0) {
      hl_buf_dispose(&body);
      continue;
    }
    c->pending++;
    hl_ddb_call(c->p->client, HL_DDB_DELETE_ITEM, &body, on_part_deleted, c);
  }
  if (c->pending == 0) del_finish(c);
}

void hl_ddb_park_delete(hl_ddb_park *p, const hl_eq_item *it, hl_store_cb cb, void *data) {
  char shard[8];
  hl_buf dk = HL_BUF_INIT, body = HL_BUF_INIT;
  head_key(it, shard, &dk);
  hl_ddb_attr k[] = {{"shard", hl_ddb_n(shard)}, {"due_key", hl_ddb_sn(dk.data, dk.len)}};
  int rc = hl_ddb_delete_item(&body, p->table, HL_DDB_ITEM(k), NULL);
  hl_buf_dispose(&dk);
  if (rc != 0) {
    hl_buf_dispose(&body);
    answer_later(p, cb, data, HL_EINVAL);
    return;
  }
  del_ctx *c = hl_calloc(1, sizeof *c);
  *c = (del_ctx){.p = p, .cb = cb, .data = data};
  c->it.d.event_id = hl_strdup(it->d.event_id);
  c->it.d.subscription_id = hl_strdup(it->d.subscription_id);
  c->it.d.next_attempt_at = it->d.next_attempt_at;
  c->nparts = hl_ddb_park_split(it->body ? it->body : "", it->body_len, NULL, 0);
  p->hold(p->owner);
  hl_ddb_call(p->client, HL_DDB_DELETE_ITEM, &body, on_head_deleted, c);
}

/* --- take: Query every shard for due, unheld items, lease each, read parts -------- */
typedef struct {
  hl_ddb_park *p;
  hl_store_cb cb;
  void *data;
  int64_t due_by, now, lease_until;
  size_t limit;
  unsigned shard;
  hl_eq_item *cand;          /* candidates found */
  size_t *nparts;            /* per candidate: its body's parts (0: inline) */
  hl_buf **parts;            /* per candidate with parts: what was read */
  size_t ncand;
  size_t outstanding;        /* lease updates or part reads in flight */
  bool *leased;
  int status;
} take_ctx;

typedef struct {
  take_ctx *t;
  size_t i, k;
} take_call;

static void take_query(take_ctx *t, const hl_json *start_key);

static void take_finish(take_ctx *t) {
  hl_store_result res = {0};
  res.items = hl_calloc(t->ncand ? t->ncand : 1, sizeof *res.items);
  for (size_t i = 0; i < t->ncand; i++) {
    if (t->leased && t->leased[i]) res.items[res.nitems++] = t->cand[i];
    else hl_eq_item_free(&t->cand[i]);
    if (t->parts && t->parts[i]) {
      for (size_t k = 0; k < t->nparts[i]; k++) hl_buf_dispose(&t->parts[i][k]);
      hl_free(t->parts[i]);
    }
  }
  if (t->cb) t->cb(t->data, t->status, &res);
  hl_store_result_dispose(&res);
  hl_free(t->cand);
  hl_free(t->nparts);
  hl_free(t->parts);
  hl_free(t->leased);
  hl_ddb_park *p = t->p;
  hl_free(t);
  p->release(p->owner);
}

/* Every part read: the leased items with parts get their bodies back, in
 * order; one whose part could not be read is left to its lease (it is
 * taken again once the lease ends). */
static void take_assemble(take_ctx *t) {
  for (size_t i = 0; i < t->ncand; i++) {
    if (!t->leased[i] || t->nparts[i] == 0) continue;
    hl_buf whole = HL_BUF_INIT;
    bool ok = true;
    for (size_t k = 0; k < t->nparts[i] && ok; k++) {
      ok = t->parts[i][k].data != NULL;
      if (ok) hl_buf_append(&whole, t->parts[i][k].data, t->parts[i][k].len);
    }
    if (!ok) {
      hl_log_warn("a parked retry's body part could not be read; it is taken again once its lease ends",
                  "\"event_id\":\"%s\"", hl_log_esc(t->cand[i].d.event_id, (size_t)-1));
      t->leased[i] = false;
      hl_buf_dispose(&whole);
      continue;
    }
    hl_free(t->cand[i].body);
    t->cand[i].body_len = whole.len;
    hl_buf_putc(&whole, '\0');
    t->cand[i].body = whole.data; /* taken from the buffer */
  }
  take_finish(t);
}

static void on_part_read(void *data, const hl_aws_status *st, const hl_json *resp) {
  take_call *c = data;
  take_ctx *t = c->t;
  const hl_json *item = st->outcome == HL_AWS_OK ? hl_json_get(resp, "Item") : NULL;
  size_t bl = 0;
  const char *b = item ? hl_ddb_item_s(item, "body", &bl) : NULL;
  if (b && bl > 0) hl_buf_append(&t->parts[c->i][c->k], b, bl); /* parts are never empty */
  hl_free(c);
  if (--t->outstanding == 0) take_assemble(t);
}

static void take_read_parts(take_ctx *t) {
  t->parts = hl_calloc(t->ncand, sizeof *t->parts);
  for (size_t i = 0; i < t->ncand; i++) {
    if (!t->leased[i] || t->nparts[i] == 0) continue;
    t->parts[i] = hl_calloc(t->nparts[i], sizeof **t->parts);
    for (size_t k = 0; k < t->nparts[i]; k++) {
      char shard[8];
      hl_buf pk = HL_BUF_INIT, body = HL_BUF_INIT;
      part_key(&t->cand[i], k, shard, &pk);
      hl_ddb_attr key[] = {{"shard", hl_ddb_n(shard)}, {"due_key", hl_ddb_sn(pk.data, pk.len)}};
      int rc = hl_ddb_get_item(&body, t->p->table, HL_DDB_ITEM(key), true);
      hl_buf_dispose(&pk);
      if (rc != 0) {
        hl_buf_dispose(&body);
        continue; /* left unread: the item is not taken */
      }
      take_call *c = hl_malloc(sizeof *c);
      *c = (take_call){t, i, k};
      t->outstanding++;
      hl_ddb_call(t->p->client, HL_DDB_GET_ITEM, &body, on_part_read, c);
    }
  }
  if (t->outstanding == 0) take_assemble(t);
}

static void on_leased(void *data, const hl_aws_status *st, const hl_json *resp) {
  take_call *c = data;
  take_ctx *t = c->t;
  (void)resp;
  /* Another drain took it first (condition failed), or the update failed:
   * not ours this time. */
  t->leased[c->i] = st->outcome == HL_AWS_OK;
  hl_free(c);
  if (--t->outstanding > 0) return;
  bool any_parts = false;
  for (size_t i = 0; i < t->ncand; i++) any_parts |= t->leased[i] && t->nparts[i] > 0;
  if (any_parts) take_read_parts(t);
  else take_finish(t);
}

static void take_lease_all(take_ctx *t) {
  if (t->ncand == 0) {
    take_finish(t);
    return;
  }
  t->leased = hl_calloc(t->ncand, sizeof *t->leased);
  t->outstanding = t->ncand;
  for (size_t i = 0; i < t->ncand; i++) {
    char shard[8], nb[2][24];
    hl_buf dk = HL_BUF_INIT;
    head_key(&t->cand[i], shard, &dk);
    hl_ddb_attr k[] = {{"shard", hl_ddb_n(shard)}, {"due_key", hl_ddb_sn(dk.data, dk.len)}};
    hl_ddb_attr v[] = {{":lease", hl_ddb_n(hl_ddb_i64(nb[0], t->lease_until))},
                       {":now", hl_ddb_n(hl_ddb_i64(nb[1], t->now))}};
    hl_ddb_name nm[] = {{"#lu", "lease_until"}};
    hl_ddb_expr x = {.update = "SET #lu = :lease", .condition = "#lu < :now", .names = nm, .n_names = 1,
                     .values = v, .n_values = 2};
    hl_buf body = HL_BUF_INIT;
    int rc = hl_ddb_update_item(&body, t->p->table, HL_DDB_ITEM(k), &x);
    hl_buf_dispose(&dk);
    take_call *c = hl_malloc(sizeof *c);
    *c = (take_call){t, i, 0};
    if (rc != 0) {
      hl_buf_dispose(&body);
      hl_aws_status bad = {.outcome = HL_AWS_VALIDATION};
      on_leased(c, &bad, NULL);
      continue;
    }
    hl_ddb_call(t->p->client, HL_DDB_UPDATE_ITEM, &body, on_leased, c);
  }
}

static char *get_s(const hl_json *item, const char *name) {
  size_t n = 0;
  const char *v = hl_ddb_item_s(item, name, &n);
  return v ? hl_strndup(v, n) : NULL;
}

static void on_page(void *data, const hl_aws_status *st, const hl_json *resp) {
  take_ctx *t = data;
  if (st->outcome != HL_AWS_OK) {
    t->status = HL_ESTORE;
    take_finish(t); /* nothing leased yet */
    return;
  }
  const hl_json *items = hl_json_get(resp, "Items");
  for (uint32_t i = 0; items && items->type == HL_JSON_ARRAY && i < items->len && t->ncand < t->limit; i++) {
    const hl_json *j = &items->u.items[i];
    hl_eq_item *it = &t->cand[t->ncand];
    *it = (hl_eq_item){0};
    it->d.event_id = get_s(j, "event_id");
    it->d.subscription_id = get_s(j, "subscription_id");
    hl_ddb_item_i64(j, "attempts", &it->d.attempts);
    it->d.status = hl_strdup("RETRYING");
    size_t dl = 0;
    const char *dk = hl_ddb_item_s(j, "due_key", &dl);
    it->d.next_attempt_at = dk ? strtoll(dk, NULL, 10) : 0;
    it->event_type = get_s(j, "event_type");
    it->trace = get_s(j, "trace");
    hl_ddb_item_i64(j, "accepted_at", &it->accepted_at);
    it->replay = hl_ddb_item_i64_or0(j, "replay");
    if (it->replay < 0) it->replay = 0;
    it->d.replays = it->replay;
    int64_t np = 0;
    hl_ddb_item_i64(j, "parts", &np);
    size_t bl = 0;
    const char *b = hl_ddb_item_s(j, "body", &bl);
    it->body = hl_strndup(b ? b : "", b ? bl : 0);
    it->body_len = b ? bl : 0;
    if (!it->d.event_id || !it->d.subscription_id || np < 0 || np > MAX_PARTS) { /* not one of ours */
      hl_eq_item_free(it);
      continue;
    }
    t->nparts[t->ncand++] = (size_t)np;
  }
  const hl_json *last = hl_json_get(resp, "LastEvaluatedKey");
  if (t->ncand < t->limit && last && last->type == HL_JSON_OBJECT && last->len > 0) {
    take_query(t, last);
    return;
  }
  if (t->ncand < t->limit && ++t->shard < PARK_SHARDS) {
    take_query(t, NULL);
    return;
  }
  take_lease_all(t);
}

static void take_query(take_ctx *t, const hl_json *start_key) {
  char shard[8], nb[24], hi[32];
  snprintf(shard, sizeof shard, "%u", t->shard);
  snprintf(hi, sizeof hi, "%015lld~", (long long)t->due_by); /* '~' sorts after the '#' that follows a due time */
  hl_ddb_attr v[] = {{":sh", hl_ddb_n(shard)}, {":hi", hl_ddb_s(hi)}, {":now", hl_ddb_n(hl_ddb_i64(nb, t->now))}};
  hl_ddb_name nm[] = {{"#sh", "shard"}, {"#dk", "due_key"}, {"#lu", "lease_until"}};
  hl_ddb_query_args q = {.key_condition = "#sh = :sh AND #dk <= :hi", .filter = "#lu < :now", .names = nm,
                         .n_names = 3, .values = v, .n_values = 3, .consistent = true,
                         .limit = t->p->page_limit, .start_key = start_key};
  hl_buf body = HL_BUF_INIT;
  if (hl_ddb_query(&body, t->p->table, &q) != 0) {
    hl_buf_dispose(&body);
    t->status = HL_EINVAL;
    take_finish(t);
    return;
  }
  hl_ddb_call(t->p->client, HL_DDB_QUERY, &body, on_page, t);
}

void hl_ddb_park_take(hl_ddb_park *p, int64_t due_by, int64_t now_ms, int64_t lease_until, size_t limit,
                      hl_store_cb cb, void *data) {
  take_ctx *t = hl_calloc(1, sizeof *t);
  *t = (take_ctx){.p = p, .cb = cb, .data = data, .due_by = due_by, .now = now_ms,
                  .lease_until = lease_until, .limit = limit ? limit : 1};
  t->cand = hl_calloc(t->limit, sizeof *t->cand);
  t->nparts = hl_calloc(t->limit, sizeof *t->nparts);
  p->hold(p->owner);
  take_query(t, NULL);
}
