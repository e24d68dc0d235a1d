/* hl_aws_peer — the AWS side of hookloop's tests, on loopback: a proxy in
 * front of a DynamoDB-compatible server (dynalite) that injects faults, an
 * ECS container-credentials endpoint and a Secrets Manager stand-in.
 *   - forwards POST / (DynamoDB) to --upstream and relays the answer
 *     (x-amz-crc32 too);
 *   - forwards POST / to --upstream and relays the answer (x-amz-crc32 too);
 *   - --unprocessed-pct N: a BatchWriteItem of two or more items reaches the
 *     server with only its first half; the answer lists the rest as
 *     UnprocessedItems, as DynamoDB does under load; --unprocessed-first N
 *     splits the first N such batches that pass the fault injection, so a
 *     test that needs the case sees it every run, not most runs;
 *   - injects faults before forwarding, so a failed request never reached
 *     the server: --throttle-pct N answers 400
 *     ProvisionedThroughputExceededException, --error-pct N answers 500,
 *     --expire-first N answers the first N requests 400 ExpiredTokenException;
 *   - serves ECS container credentials at GET /creds (--creds-akid,
 *     --creds-secret, --creds-token; --creds-auth TOKEN demands that
 *     Authorization header; --creds-ttl-s N: they expire N s after each
 *     fetch; --creds-fail-first N answers the first N fetches 500;
 *     --creds-expired-first N hands out, the first N times, credentials
 *     that expired a minute ago) and counts requests signed with them;
 *   - answers Secrets Manager GetSecretValue itself with --secret-value
 *     (counting reads signed for the secretsmanager service), the first N
 *     of them 500 with --secret-fail-first N;
 *   - --hold-match TEXT --hold-ms N: a DynamoDB request whose body holds
 *     TEXT is forwarded N ms late (a slow or throttled write, without the
 *     error), counted as held; --hold-first N holds only the first N of
 *     them; --hold-answer forwards them at once and relays their answers
 *     N ms late instead (a write applied whose answer a client's timeout
 *     loses: the client sends it again);
 *   - --index-lag-ms N: an item put (PutItem) less than N ms ago is left
 *     out of the answers to Queries of a secondary index (a request naming
 *     IndexName), as DynamoDB's global secondary indexes, updated after the
 *     table, may leave it out; counted as lagged;
 *   - GET /stats answers its counters as JSON.
 * Traffic stays on 127.0.0.1. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "common/hl_buf.h"
#include "common/hl_common.h"
#include "common/hl_strmap.h"
#include "crypto/hl_crypto.h"
#include "json/hl_json.h"
#include "loop/hl_curl_uv.h"
#include "loop/hl_http_server.h"

static struct {
  uv_loop_t *loop;
  hl_curl_uv curl;
  hl_http_server *srv;
  const char *upstream;
  int throttle_pct, error_pct, expire_first, unprocessed_pct, unprocessed_first, creds_ttl_s;
  const char *akid, *secret, *token, *auth, *secret_value, *hold_match;
  int hold_ms;
  long hold_first;      /* 0: every matching request is held */
  bool hold_answer;     /* forwarded at once, the answer held */
  long held;
  int index_lag_ms;
  hl_strmap put_at;   /* "event_id\x1fsubscription_id" of an item put -> when (uv_now ms, as a pointer) */
  long lagged;
  long unprocessed_items, secret_reads, secret_fail_first, secret_failed, creds_fail_first, creds_expired_first;
  long requests, forwarded, throttled, errored, expired, creds_fetches, creds_refused, signed_with_creds,
      token_matched;
} P;

typedef struct {
  hl_curl_xfer xfer;
  CURL *easy;  /* xfer.easy is cleared before the done callback */
  hl_http_req *req;
  struct curl_slist *headers;
  hl_buf body;
  char crc[32];
  hl_buf unprocessed;  /* {"UnprocessedItems": ...} to answer instead, or empty */
  bool index_query;    /* a Query of a secondary index: its Items pass lagging_out */
  bool late;           /* --hold-answer: relayed hold_ms after it came */
  CURLcode rc;
  uv_timer_t timer;
} fwd;

/* --index-lag-ms: an item's key as put_at keeps it. */
static bool item_key(const hl_json *item, hl_buf *out) {
  const char *e = hl_json_str(hl_json_get(hl_json_get(item, "event_id"), "S"));
  const char *s = hl_json_str(hl_json_get(hl_json_get(item, "subscription_id"), "S"));
  if (!e || !s) return false;
  hl_buf_reset(out);
  hl_buf_printf(out, "%s\x1f%s", e, s);
  return true;
}

/* Notes when a PutItem's item was put. */
static void note_put(const hl_http_req *r) {
  hl_json_doc doc;
  hl_json_doc_init(&doc);
  hl_buf k = HL_BUF_INIT;
  if (hl_json_parse(&doc, r->body, r->body_len, NULL) == 0 && item_key(hl_json_get(doc.root, "Item"), &k))
    hl_strmap_put(&P.put_at, k.data, (void *)(uintptr_t)uv_now(P.loop));
  hl_buf_dispose(&k);
  hl_json_doc_dispose(&doc);
}

static bool lagging(const hl_json *item, hl_buf *k, uint64_t now) {
  void *at = item_key(item, k) ? hl_strmap_get(&P.put_at, k->data) : NULL;
  return at && now - (uint64_t)(uintptr_t)at < (uint64_t)P.index_lag_ms;
}

/* The index Query's answer without the items put less than index_lag_ms
 * ago, Count adjusted, into out; false when none is left out (the answer
 * goes as it came). */
static bool lagging_out(const hl_buf *body, hl_buf *out) {
  hl_json_doc doc;
  hl_json_doc_init(&doc);
  size_t left_out = 0, kept = 0;
  if (hl_json_parse(&doc, body->data, body->len, NULL) == 0 && doc.root->type == HL_JSON_OBJECT) {
    uint64_t now = uv_now(P.loop);
    hl_buf k = HL_BUF_INIT;
    hl_jw w;
    hl_jw_open(&w, out);
    for (uint32_t i = 0; i < doc.root->len; i++) {
      const hl_json_member *m = &doc.root->u.members[i];
      if (strcmp(m->key, "Count") == 0) continue; /* written after the items */
      if (strcmp(m->key, "Items") != 0 || m->value.type != HL_JSON_ARRAY) {
        hl_jw_key(&w, m->key);
        hl_jw_value(&w, &m->value);
        continue;
      }
      hl_jw_key_arr(&w, "Items");
      for (uint32_t j = 0; j < m->value.len; j++) {
        if (lagging(&m->value.u.items[j], &k, now)) {
          left_out++;
          continue;
        }
        kept++;
        hl_jw_value(&w, &m->value.u.items[j]);
      }
      hl_jw_arr_end(&w);
    }
    hl_jw_key_int(&w, "Count", (int64_t)kept);
    hl_jw_obj_end(&w);
    hl_buf_dispose(&k);
  }
  hl_json_doc_dispose(&doc);
  P.lagged += (long)left_out;
  return left_out > 0;
}

static size_t on_body(char *ptr, size_t size, size_t n, void *data) {
  fwd *f = data;
  hl_buf_append(&f->body, ptr, size * n);
  return size * n;
}

static size_t on_header(char *ptr, size_t size, size_t n, void *data) {
  fwd *f = data;
  size_t len = size * n;
  if (len > 12 && strncasecmp(ptr, "x-amz-crc32:", 12) == 0) {
    size_t i = 12, j = 0;
    while (i < len && ptr[i] == ' ') i++;
    while (i < len && ptr[i] >= '0' && ptr[i] <= '9' && j < sizeof f->crc - 1) f->crc[j++] = ptr[i++];
    f->crc[j] = '\0';
  }
  return len;
}

static void relay(fwd *f, CURLcode rc);

static void on_late_closed(uv_handle_t *h) { hl_free(h->data); }

static void on_late_answer(uv_timer_t *t) {
  fwd *f = t->data;
  f->late = false;
  relay(f, f->rc);
}

static void on_forwarded(hl_curl_xfer *x, CURLcode rc) {
  fwd *f = hl_container_of(x, fwd, xfer);
  if (f->late) {
    f->rc = rc;
    uv_timer_init(P.loop, &f->timer);
    f->timer.data = f;
    uv_timer_start(&f->timer, on_late_answer, (uint64_t)P.hold_ms, 0);
    return;
  }
  relay(f, rc);
}

/* Answers the client with what the upstream answered (or the fault's). */
static void relay(fwd *f, CURLcode rc) {
  long code = 502;
  if (rc == CURLE_OK) curl_easy_getinfo(f->easy, CURLINFO_RESPONSE_CODE, &code);
  hl_http_header h[2];
  size_t nh = 0;
  h[nh++] = (hl_http_header){"content-type", 12, "application/x-amz-json-1.0", 26};
  hl_buf lagged = HL_BUF_INIT;
  if (code == 200 && f->unprocessed.len) {
    /* The answer is ours now: no CRC (a missing header is accepted). */
    hl_http_respond(f->req, 200, h, nh, f->unprocessed.data, f->unprocessed.len);
  } else if (code == 200 && f->index_query && lagging_out(&f->body, &lagged)) {
    hl_http_respond(f->req, 200, h, nh, lagged.data, lagged.len); /* ours too: no CRC */
  } else {
    if (f->crc[0]) h[nh++] = (hl_http_header){"x-amz-crc32", 11, f->crc, strlen(f->crc)};
    hl_http_respond(f->req, (int)code, h, nh, f->body.data, f->body.len);
  }
  hl_buf_dispose(&lagged);
  hl_buf_dispose(&f->unprocessed);
  curl_easy_cleanup(f->easy);
  curl_slist_free_all(f->headers);
  hl_buf_dispose(&f->body);
  if (f->timer.data) uv_close((uv_handle_t *)&f->timer, on_late_closed); /* frees f */
  else hl_free(f);
}

static void error_answer(hl_http_req *r, int status, const char *type, const char *msg) {
  char body[256];
  int n = snprintf(body, sizeof body, "{\"__type\":\"%s\",\"message\":\"%s\"}", type, msg);
  hl_http_header h[] = {{"content-type", 12, "application/x-amz-json-1.0", 26}};
  hl_http_respond(r, status, h, 1, body, (size_t)n);
}

static bool pct(int p) { return p > 0 && (int)(hl_random_u32() % 100) < p; }

/* Splits a BatchWriteItem: the first half of each table's requests goes on
 * (into sent), the rest becomes the UnprocessedItems answer. */
static bool split_batch(const hl_http_req *r, hl_buf *sent, hl_buf *rest) {
  hl_json_doc doc;
  hl_json_doc_init(&doc);
  bool ok = false;
  if (hl_json_parse(&doc, r->body, r->body_len, NULL) == 0) {
    const hl_json *items = hl_json_get(doc.root, "RequestItems");
    size_t total = 0;
    for (uint32_t i = 0; items && items->type == HL_JSON_OBJECT && i < items->len; i++)
      total += items->u.members[i].value.len;
    if (total >= 2) {
      hl_jw a, b;
      hl_jw_init(&a, sent);
      hl_jw_init(&b, rest);
      hl_jw_obj_begin(&a); hl_jw_key(&a, "RequestItems"); hl_jw_obj_begin(&a);
      hl_jw_obj_begin(&b); hl_jw_key(&b, "UnprocessedItems"); hl_jw_obj_begin(&b);
      for (uint32_t i = 0; i < items->len; i++) {
        const hl_json_member *m = &items->u.members[i];
        uint32_t n = m->value.len, half = (n + 1) / 2;
        hl_jw_key(&a, m->key); hl_jw_arr_begin(&a);
        for (uint32_t k = 0; k < half; k++) hl_jw_value(&a, &m->value.u.items[k]);
        hl_jw_arr_end(&a);
        if (half < n) {
          hl_jw_key(&b, m->key); hl_jw_arr_begin(&b);
          for (uint32_t k = half; k < n; k++) hl_jw_value(&b, &m->value.u.items[k]);
          hl_jw_arr_end(&b);
          P.unprocessed_items += n - half;
        }
      }
      hl_jw_obj_end(&a); hl_jw_obj_end(&a);
      hl_jw_obj_end(&b); hl_jw_obj_end(&b);
      ok = true;
    }
  }
  hl_json_doc_dispose(&doc);
  return ok;
}

static void forward(hl_http_req *r, bool late) {
  fwd *f = hl_calloc(1, sizeof *f);
  f->req = r;
  f->late = late;
  hl_buf sent = HL_BUF_INIT;
  size_t tlen = 0;
  const char *target = hl_http_req_header(r, "x-amz-target", &tlen);
  if ((P.unprocessed_pct || P.unprocessed_first) && target && tlen >= 14 && memcmp(target + tlen - 14, "BatchWriteItem", 14) == 0 &&
      (P.unprocessed_first > 0 || (int)(hl_random_u32() % 100) < P.unprocessed_pct)) {
    if (split_batch(r, &sent, &f->unprocessed)) {
      if (P.unprocessed_first > 0) P.unprocessed_first--;
    } else {
      hl_buf_dispose(&sent);
      hl_buf_dispose(&f->unprocessed);
    }
  }
  if (P.index_lag_ms > 0 && target && tlen >= 7 && memcmp(target + tlen - 7, "PutItem", 7) == 0) note_put(r);
  f->index_query = P.index_lag_ms > 0 && target && tlen >= 6 && memcmp(target + tlen - 6, ".Query", 6) == 0 &&
                   memmem(r->body, r->body_len, "\"IndexName\"", 11) != NULL;
  static const char *const pass[] = {"content-type", "x-amz-target", "authorization", "x-amz-date",
                                     "x-amz-security-token"};
  for (size_t i = 0; i < HL_ARRAY_SIZE(pass); i++) {
    size_t len = 0;
    const char *v = hl_http_req_header(r, pass[i], &len);
    if (!v) continue;
    hl_buf line = HL_BUF_INIT;
    hl_buf_puts(&line, pass[i]);
    hl_buf_puts(&line, ": ");
    hl_buf_append(&line, v, len);
    hl_buf_putc(&line, '\0');
    f->headers = curl_slist_append(f->headers, line.data);
    hl_buf_dispose(&line);
  }
  f->headers = curl_slist_append(f->headers, "Expect:");
  CURL *e = f->easy = curl_easy_init();
  curl_easy_setopt(e, CURLOPT_URL, P.upstream);
  curl_easy_setopt(e, CURLOPT_POST, 1L);
  if (sent.len) {
    /* COPYPOSTFIELDS: curl keeps its own copy of the trimmed body. */
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)sent.len);
    curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, sent.data);
  } else {
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
  }
  hl_buf_dispose(&sent);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, f->headers);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, f);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, f);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 10000L);
  P.forwarded++;
  hl_curl_uv_add(&P.curl, &f->xfer, e, on_forwarded);
}

static void answer_stats(hl_http_req *r) {
  char body[768];
  int n = snprintf(body, sizeof body,
                   "{\"secret_reads\":%ld,\"secret_failed\":%ld,\"unprocessed_items\":%ld,\"requests\":%ld,\"forwarded\":%ld,\"throttled\":%ld,\"errored\":%ld,\"expired\":%ld,"
                   "\"creds_fetches\":%ld,\"creds_refused\":%ld,\"signed_with_creds\":%ld,\"token_matched\":%ld,\"held\":%ld,\"lagged\":%ld}",
                   P.secret_reads, P.secret_failed, P.unprocessed_items, P.requests, P.forwarded, P.throttled, P.errored, P.expired, P.creds_fetches, P.creds_refused,
                   P.signed_with_creds, P.token_matched, P.held, P.lagged);
  hl_http_respond(r, 200, NULL, 0, body, (size_t)n);
}

static void answer_creds(hl_http_req *r) {
  size_t len = 0;
  const char *auth = hl_http_req_header(r, "authorization", &len);
  if (P.auth && (!auth || len != strlen(P.auth) || memcmp(auth, P.auth, len) != 0)) {
    P.creds_refused++;
    hl_http_respond_error(r, 401, "unauthorized", "wrong or missing authorization token");
    return;
  }
  P.creds_fetches++;
  if (P.creds_fail_first > 0) {
    P.creds_fail_first--;
    hl_http_respond_error(r, 500, "internal", "injected credentials endpoint failure");
    return;
  }
  /* Valid for six hours, as ECS hands them out, unless told otherwise. */
  time_t exp = time(NULL) + (P.creds_ttl_s ? P.creds_ttl_s : 6 * 3600);
  if (P.creds_expired_first > 0) {
    P.creds_expired_first--;
    exp = time(NULL) - 60;
  }
  struct tm tm;
  gmtime_r(&exp, &tm);
  char when[32];
  strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  char body[1024];
  int n = snprintf(body, sizeof body,
                   "{\"RoleArn\":\"arn:aws:iam::123456789012:role/test\",\"AccessKeyId\":\"%s\","
                   "\"SecretAccessKey\":\"%s\",\"Token\":\"%s\",\"Expiration\":\"%s\"}",
                   P.akid, P.secret, P.token ? P.token : "", when);
  hl_http_respond(r, 200, NULL, 0, body, (size_t)n);
}

typedef struct {
  uv_timer_t timer;
  hl_http_req *req;
} hold;

static void on_hold_closed(uv_handle_t *h) { hl_free(h->data); }

static void on_hold_over(uv_timer_t *t) {
  hold *h = t->data;
  forward(h->req, false);
  uv_close((uv_handle_t *)&h->timer, on_hold_closed);
}

static void on_request(hl_http_req *r, void *data) {
  (void)data;
  if (strcmp(r->method, "GET") == 0 && strcmp(r->path, "/stats") == 0) return answer_stats(r);
  if (strcmp(r->method, "GET") == 0 && strcmp(r->path, "/creds") == 0) return answer_creds(r);
  if (strcmp(r->method, "POST") != 0 || strcmp(r->path, "/") != 0) {
    hl_http_respond_error(r, 404, "not_found", "POST / (DynamoDB), GET /creds or GET /stats");
    return;
  }
  size_t tl = 0;
  const char *target = hl_http_req_header(r, "x-amz-target", &tl);
  if (target && tl == 29 && memcmp(target, "secretsmanager.GetSecretValue", 29) == 0) {
    size_t al = 0;
    const char *a = hl_http_req_header(r, "authorization", &al);
    if (!P.secret_value || !a || !memmem(a, al, "/secretsmanager/aws4_request", 28))
      return error_answer(r, 400, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.");
    if (P.secret_failed < P.secret_fail_first) {
      P.secret_failed++;
      return error_answer(r, 500, "InternalServiceError", "injected");
    }
    P.secret_reads++;
    hl_buf b = HL_BUF_INIT;
    hl_jw w;
    hl_jw_init(&w, &b);
    hl_jw_obj_begin(&w);
    hl_jw_key(&w, "Name"); hl_jw_str(&w, "hookloop/webhook-secret");
    hl_jw_key(&w, "SecretString"); hl_jw_str(&w, P.secret_value);
    hl_jw_obj_end(&w);
    hl_http_header h[] = {{"content-type", 12, "application/x-amz-json-1.1", 26}};
    hl_http_respond(r, 200, h, 1, b.data, b.len);
    hl_buf_dispose(&b);
    return;
  }
  P.requests++;
  if (P.akid) {
    size_t len = 0;
    const char *a = hl_http_req_header(r, "authorization", &len);
    char want[128];
    snprintf(want, sizeof want, "Credential=%s/", P.akid);
    if (a && memmem(a, len, want, strlen(want))) P.signed_with_creds++;
    const char *t = hl_http_req_header(r, "x-amz-security-token", &len);
    if (P.token && t && len == strlen(P.token) && memcmp(t, P.token, len) == 0) P.token_matched++;
  }
  if (P.expire_first > 0) {
    P.expire_first--;
    P.expired++;
    return error_answer(r, 400, "com.amazon.coral.service#ExpiredTokenException",
                        "The security token included in the request is expired");
  }
  if (pct(P.throttle_pct)) {
    P.throttled++;
    return error_answer(r, 400, "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                        "The level of configured provisioned throughput for the table was exceeded.");
  }
  if (pct(P.error_pct)) {
    P.errored++;
    return error_answer(r, 500, "com.amazonaws.dynamodb.v20120810#InternalServerError", "Internal server error");
  }
  if (P.hold_match && (!P.hold_first || P.held < P.hold_first) && r->body_len &&
      memmem(r->body, r->body_len, P.hold_match, strlen(P.hold_match))) {
    P.held++;
    if (P.hold_answer) {
      forward(r, true);
      return;
    }
    hold *h = hl_calloc(1, sizeof *h);
    h->req = r;
    uv_timer_init(P.loop, &h->timer);
    h->timer.data = h;
    uv_timer_start(&h->timer, on_hold_over, (uint64_t)P.hold_ms, 0);
    return;
  }
  forward(r, false);
}

int main(int argc, char **argv) {
  const char *listen = "127.0.0.1:0";
  static const struct option opts[] = {
      {"listen", 1, 0, 'l'},       {"upstream", 1, 0, 'u'},    {"throttle-pct", 1, 0, 't'},
      {"error-pct", 1, 0, 'e'},    {"expire-first", 1, 0, 'x'}, {"creds-akid", 1, 0, 'a'},
      {"creds-secret", 1, 0, 's'}, {"creds-token", 1, 0, 'k'}, {"creds-auth", 1, 0, 'z'},
      {"unprocessed-pct", 1, 0, 'p'}, {"creds-ttl-s", 1, 0, 'T'}, {"secret-value", 1, 0, 'S'},
      {"secret-fail-first", 1, 0, 'F'}, {"unprocessed-first", 1, 0, 'P'}, {"creds-fail-first", 1, 0, 'f'},
      {"creds-expired-first", 1, 0, 'X'}, {"hold-match", 1, 0, 'H'}, {"hold-ms", 1, 0, 'M'}, {"hold-first", 1, 0, 'h'}, {"hold-answer", 0, 0, 'A'}, {"index-lag-ms", 1, 0, 'L'}, {0, 0, 0, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
      case 'l': listen = optarg; break;
      case 'u': P.upstream = optarg; break;
      case 't': P.throttle_pct = atoi(optarg); break;
      case 'e': P.error_pct = atoi(optarg); break;
      case 'x': P.expire_first = atoi(optarg); break;
      case 'a': P.akid = optarg; break;
      case 's': P.secret = optarg; break;
      case 'k': P.token = optarg; break;
      case 'z': P.auth = optarg; break;
      case 'p': P.unprocessed_pct = atoi(optarg); break;
      case 'P': P.unprocessed_first = atoi(optarg); break;
      case 'T': P.creds_ttl_s = atoi(optarg); break;
      case 'S': P.secret_value = optarg; break;
      case 'F': P.secret_fail_first = atol(optarg); break;
      case 'f': P.creds_fail_first = atol(optarg); break;
      case 'X': P.creds_expired_first = atol(optarg); break;
      case 'H': P.hold_match = optarg; break;
      case 'M': P.hold_ms = atoi(optarg); break;
      case 'h': P.hold_first = atol(optarg); break;
      case 'A': P.hold_answer = true; break;
      case 'L': P.index_lag_ms = atoi(optarg); break;
      default:
        fprintf(stderr, "usage: hl_aws_peer --listen 127.0.0.1:PORT --upstream http://127.0.0.1:PORT/ "
                        "[--throttle-pct N] [--error-pct N] [--expire-first N] [--unprocessed-pct N] [--unprocessed-first N] "
                        "[--creds-akid ID --creds-secret S [--creds-token T] [--creds-auth TOKEN] "
                        "[--creds-ttl-s N] [--creds-fail-first N] [--creds-expired-first N]] "
                        "[--secret-value S [--secret-fail-first N]] [--hold-match TEXT --hold-ms N [--hold-first N] [--hold-answer]] [--index-lag-ms N]\n");
        return 2;
    }
  }
  if (!P.upstream || strncmp(P.upstream, "http://127.0.0.1:", 17) != 0) {
    fprintf(stderr, "hl_aws_peer: --upstream must be http://127.0.0.1:PORT/ (loopback only)\n");
    return 2;
  }
  if (!P.secret) P.secret = "proxy-test-secret";
  P.loop = uv_default_loop();
  hl_strmap_init(&P.put_at);
  hl_curl_global_init();
  hl_curl_uv_init(&P.curl, P.loop, 64);
  hl_http_server_config cfg = {.on_request = on_request};
  if (hl_http_server_create(P.loop, listen, &cfg, &P.srv) != 0 || hl_http_server_start(P.srv) != 0) {
    fprintf(stderr, "hl_aws_peer: cannot listen on %s\n", listen);
    return 1;
  }
  printf("listening %d\n", hl_http_server_port(P.srv));
  fflush(stdout);
  return uv_run(P.loop, UV_RUN_DEFAULT);
}
