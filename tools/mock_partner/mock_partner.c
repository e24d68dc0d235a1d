/* hl_mock_partner — a webhook receiver for tests and benchmarks.
 *
 *   hl_mock_partner --listen 127.0.0.1:PORT [--secret whsec_...]... [--latency-ms N]
 *       [--latency uniform:A:B | lognormal:MEDIAN:SIGMA] [--mix 200:90,503:5,429:3,410:2]
 *       [--retry-after S] [--reset-pct P] [--stats-file PATH] [--no-record] [--capacity N]
 *
 * --capacity N: at most N requests are worked on at once (their latency
 * running); one more is answered 429 at once (with --retry-after, if
 * given). POST /capacity?n=N changes it while running (0: no limit): a
 * partner whose capacity changes mid-run.
 *
 * --timings (bench/latency): every /hook request whose body carries
 * "bench_sent_us":<µs since the epoch> (the loader's send time) is kept as a
 * row "arrival_us sent_us seen status webhook-id" (arrival: CLOCK_REALTIME when the
 * request was read; seen: earlier requests of its name and webhook-id),
 * GET /timings lists them, one a line (at most 2,000,000 rows). A body that
 * also carries "bench_retry":1 is answered 503 with Retry-After (1 s, or
 * --retry-after) on its first request: the retry is due that long after it.
 *
 * Per-request behaviour can be chosen by the URL:
 *   POST /hook/<name>?codes=503,503,200&retry_after=2&latency_ms=100&reset=1&hold=1
 * the k-th request to <name> carrying a given webhook-id gets codes[k] (the
 * last repeats). answer=1 adds headers to the answer, credential-like ones
 * among them (set-cookie, www-authenticate, x-api-token, each with
 * "SECRET" in its value) and x-request-id: req-<k>; body_bytes=N answers N
 * bytes of JSON text instead of "{}" (the attempt log's bounds);
 * codes_for=<webhook-id> applies codes to that event's requests only.
 * Duplicates and unique ids are counted per name too. hold=1
 * keeps the request unanswered until POST /release: a partner that is
 * "slow" for exactly as long as a test wants, with no clock involved.
 *
 *   GET /stats              totals as JSON ("held": requests held now; "ok_ids":
 *                           the (name, webhook-id) pairs answered 2xx at least once)
 *   GET /requests?name=N    the recorded requests of /hook/N/... (all without name),
 *                           each with its x-* headers ("x_headers")
 *   POST /release[?name=N]  answers the held requests (of /hook/N only, with name)
 *   POST /reset             forget everything
 * Prints "listening 127.0.0.1:PORT" on stdout once it listens (--listen
 * 127.0.0.1:0 picks a free port). With --secret, every request's
 * webhook-signature is checked with mbedTLS directly (tests/harness/hl_testsig),
 * not with hookloop's verifier. SIGTERM/SIGINT: held requests are answered
 * 503, stats go to --stats-file (if given) and stdout, exit 0.
 */
#include "common/hl_buf.h"
#include "common/hl_common.h"
#include "common/hl_strmap.h"
#include "crypto/hl_crypto.h"
#include "hl_testsig.h"
#include "json/hl_json.h"
#include "loop/hl_http_server.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
  char *name, *path, *webhook_id, *webhook_timestamp, *webhook_signature, *user_agent, *content_type,
      *traceparent, *host, *body;
  char *x_headers; /* the request's x-* headers, a JSON object of name to value */
  size_t body_len;
  int64_t time_ms;
  int status;
  int sig_ok; /* -1 not checked */
} record;

typedef struct {
  unsigned current, max;
} conc;

typedef struct pending pending;
struct pending {
  hl_http_req *req;
  uv_timer_t timer;
  int status;
  unsigned retry_after;
  bool answer_headers;    /* answer=1 */
  int seen;               /* earlier requests with this webhook-id */
  size_t body_bytes;      /* body_bytes=N; 0: "{}" */
  char name[64];
  char *idkey;            /* "<name>\x1f<webhook-id>": counted in P.ok_ids once answered 2xx */
  pending *next_held;     /* in P.held while held */
  bool working;           /* counts against --capacity */
};

static struct {
  uv_loop_t *loop;
  hl_http_server *srv;
  const char *secrets[8];
  int nsecrets;
  char latency_kind;      /* 0 none, 'f' fixed, 'u' uniform, 'l' lognormal */
  double lat_a, lat_b;
  int mix_codes[16], mix_weights[16], nmix, mix_total;
  unsigned retry_after;
  double reset_pct;
  const char *stats_file;
  bool record;
  /* state */
  record *records;
  size_t nrecords, caprecords;
  hl_strmap per_id;       /* webhook-id -> count (as intptr) */
  hl_strmap ok_ids;       /* the per_id keys answered 2xx at least once (value unused) */
  hl_strmap per_name;     /* name -> conc* */
  uint64_t requests, duplicates, sig_failures, by_status[600];
  unsigned current, max_current;
  unsigned capacity;      /* --capacity: 0 none */
  unsigned working, max_working; /* requests worked on (not refused for capacity) */
  uint64_t over_capacity; /* answered 429 for capacity */
  pending *held;          /* requests kept unanswered (hold=1) until /release */
  bool timings;           /* --timings */
  hl_buf timing_rows;     /* "arrival_us sent_us seen status id\n" per timed request */
  size_t ntimings;
  unsigned nheld;
  uv_signal_t sigterm, sigint;
} P;

static int64_t now_ms(void) { return hl_wall_ms(); }

static char *hdr_dup(hl_http_req *r, const char *name) {
  size_t len;
  const char *v = hl_http_req_header(r, name, &len);
  return v ? hl_strndup(v, len) : NULL;
}

/* The request's x-* headers as a JSON object, an empty value kept as "":
 * a test sees what a subscription's own headers became on the wire. */
static char *x_headers_json(hl_http_req *r) {
  hl_buf b = HL_BUF_INIT;
  hl_jw w;
  hl_jw_init(&w, &b);
  hl_jw_obj_begin(&w);
  for (size_t i = 0; i < r->nheaders; i++) {
    const hl_http_header *h = &r->headers[i];
    if (h->name_len < 2 || memcmp(h->name, "x-", 2) != 0) continue;
    hl_jw_keyn(&w, h->name, h->name_len);
    hl_jw_strn(&w, h->value, h->value_len);
  }
  hl_jw_obj_end(&w);
  return hl_buf_steal(&b, NULL);
}

static bool query_get(const char *q, const char *key, char *out, size_t outlen) {
  size_t kl = strlen(key);
  while (q && *q) {
    const char *amp = strchr(q, '&');
    size_t len = amp ? (size_t)(amp - q) : strlen(q);
    if (len > kl && strncmp(q, key, kl) == 0 && q[kl] == '=') {
      snprintf(out, outlen, "%.*s", (int)(len - kl - 1), q + kl + 1);
      return true;
    }
    q = amp ? amp + 1 : NULL;
  }
  return false;
}

static double rand01(void) { return (hl_random_u32() + 0.5) / 4294967296.0; }

static uint64_t pick_latency(void) {
  switch (P.latency_kind) {
  case 'f': return (uint64_t)P.lat_a;
  case 'u': return (uint64_t)(P.lat_a + (P.lat_b - P.lat_a) * rand01());
  case 'l': {
    double z = sqrt(-2.0 * log(rand01())) * cos(2 * M_PI * rand01());
    return (uint64_t)(P.lat_a * exp(P.lat_b * z));
  }
  default: return 0;
  }
}

static int pick_mix(void) {
  if (P.nmix == 0) return 200;
  int r = (int)(rand01() * P.mix_total);
  for (int i = 0; i < P.nmix; i++) {
    if (r < P.mix_weights[i]) return P.mix_codes[i];
    r -= P.mix_weights[i];
  }
  return P.mix_codes[P.nmix - 1];
}

static conc *name_conc(const char *name) {
  conc *c = hl_strmap_get(&P.per_name, name);
  if (!c) {
    c = hl_calloc(1, sizeof *c);
    hl_strmap_put(&P.per_name, name, c);
  }
  return c;
}

static void finish(pending *p) {
  char ra[16], rid[32];
  hl_http_header h[5];
  size_t nh = 0;
  if (p->retry_after && (p->status == 429 || p->status == 503)) {
    snprintf(ra, sizeof ra, "%u", p->retry_after);
    h[nh++] = (hl_http_header){"retry-after", 11, ra, strlen(ra)};
  }
  if (p->answer_headers) {
    snprintf(rid, sizeof rid, "req-%d", p->seen + 1);
#define H(n, v) (h[nh++] = (hl_http_header){n, sizeof n - 1, v, strlen(v)})
    H("x-request-id", rid);
    H("set-cookie", "sid=SECRET-COOKIE; HttpOnly");
    H("www-authenticate", "Bearer realm=\"SECRET-REALM\"");
    H("x-api-token", "SECRET-TOKEN");
#undef H
  }
  P.current--;
  if (p->working) P.working--;
  name_conc(p->name)->current--;
  P.by_status[p->status < 600 && p->status >= 0 ? p->status : 0]++;
  if (p->status >= 200 && p->status < 300 && p->idkey) hl_strmap_put(&P.ok_ids, p->idkey, (void *)1);
  if (p->body_bytes >= 2) {
    /* {"pad":"xxx...x"} of exactly body_bytes bytes (at least 10). */
    size_t n = p->body_bytes < 10 ? 10 : p->body_bytes;
    char *b = hl_malloc(n);
    memcpy(b, "{\"pad\":\"", 8);
    memset(b + 8, 'x', n - 10);
    memcpy(b + n - 2, "\"}", 2);
    hl_http_respond(p->req, p->status, h, nh, b, n);
    hl_free(b);
    return;
  }
  hl_http_respond(p->req, p->status, h, nh, "{}", 2);
}

static void pending_free(pending *p) {
  hl_free(p->idkey);
  hl_free(p);
}

static void on_timer_closed(uv_handle_t *h) { pending_free(h->data); }

static void on_latency(uv_timer_t *t) {
  pending *p = t->data;
  finish(p);
  uv_close((uv_handle_t *)&p->timer, on_timer_closed);
}

/* --timings: the row of a stamped request, and the first answer of a
 * "bench_retry" one. */
static void timing_row(const hl_http_req *r, pending *p, intptr_t seen, const char *id) {
  static const char stamp[] = "\"bench_sent_us\":";
  const char *st = memmem(r->body, r->body_len, stamp, sizeof stamp - 1);
  if (!st || P.ntimings >= 2000000) return;
  if (seen == 0 && memmem(r->body, r->body_len, "\"bench_retry\":1", 15)) {
    p->status = 503;
    if (!p->retry_after) p->retry_after = 1;
  }
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  long long sent = strtoll(st + sizeof stamp - 1, NULL, 10);
  hl_buf_printf(&P.timing_rows, "%lld %lld %ld %d %s\n", (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000, sent,
                (long)seen, p->status, id);
  P.ntimings++;
}

static void handle_hook(hl_http_req *r) {
  pending *p = hl_calloc(1, sizeof *p);
  p->req = r;
  const char *rest = r->path + 6; /* after "/hook/" */
  const char *slash = strchr(rest, '/');
  snprintf(p->name, sizeof p->name, "%.*s", (int)(slash ? (size_t)(slash - rest) : strlen(rest)), rest);
  P.requests++;
  P.current++;
  if (P.current > P.max_current) P.max_current = P.current;
  conc *c = name_conc(p->name);
  if (++c->current > c->max) c->max = c->current;

  size_t idlen = 0;
  const char *id = hl_http_req_header(r, "webhook-id", &idlen);
  char idbuf[256], idkey[400];
  snprintf(idbuf, sizeof idbuf, "%.*s", (int)idlen, id ? id : "");
  /* Counted per receiving hook: two subscriptions of one event are two streams. */
  snprintf(idkey, sizeof idkey, "%s\x1f%s", p->name, idbuf);
  intptr_t seen = (intptr_t)hl_strmap_get(&P.per_id, idkey);
  if (seen == 1) P.duplicates++;
  hl_strmap_put(&P.per_id, idkey, (void *)(seen + 1));
  p->idkey = hl_strdup(idkey);

  char v[256];
  int status = pick_mix();
  /* codes_for=<webhook-id>: the codes apply to that event only, the
   * others answer as without codes (one failing event among good ones). */
  char only[128];
  bool coded = !query_get(r->query, "codes_for", only, sizeof only) || strcmp(only, idbuf) == 0;
  if (coded && query_get(r->query, "codes", v, sizeof v)) {
    /* the (seen)-th code, the last one repeating */
    char *save = NULL, *tok = strtok_r(v, ",", &save);
    int last = 200;
    for (intptr_t k = 0; tok; k++, tok = strtok_r(NULL, ",", &save)) {
      last = atoi(tok);
      if (k == seen) break;
    }
    status = last;
  }
  p->status = status;
  p->retry_after = P.retry_after;
  if (query_get(r->query, "retry_after", v, sizeof v)) p->retry_after = (unsigned)atoi(v);
  p->answer_headers = query_get(r->query, "answer", v, sizeof v) && atoi(v);
  p->seen = (int)seen;
  if (query_get(r->query, "body_bytes", v, sizeof v)) p->body_bytes = (size_t)atoll(v);
  uint64_t latency = pick_latency();
  if (query_get(r->query, "latency_ms", v, sizeof v)) latency = (uint64_t)atoll(v);
  bool hold = query_get(r->query, "hold", v, sizeof v) && atoi(v);
  if (P.timings) timing_row(r, p, seen, idbuf);
  if (P.capacity && P.working >= P.capacity) {
    status = p->status = 429; /* over capacity: refused at once */
    latency = 0;
    hold = false;
    P.over_capacity++;
  } else {
    p->working = true;
    if (++P.working > P.max_working) P.max_working = P.working;
  }

  int sig_ok = -1;
  if (P.nsecrets > 0) {
    size_t n;
    const char *ts = hl_http_req_header(r, "webhook-timestamp", &n);
    char tsb[32];
    snprintf(tsb, sizeof tsb, "%.*s", (int)(ts ? n : 0), ts ? ts : "");
    char *sig = hdr_dup(r, "webhook-signature");
    sig_ok = hl_testsig_verify(P.secrets, P.nsecrets, idbuf, tsb, r->body, r->body_len, sig ? sig : "",
                               now_ms() / 1000, 300);
    if (!sig_ok) P.sig_failures++;
    hl_free(sig);
  }
  if (P.record && P.nrecords < 1000000) {
    if (P.nrecords == P.caprecords) {
      P.caprecords = P.caprecords ? P.caprecords * 2 : 256;
      P.records = hl_realloc(P.records, P.caprecords * sizeof *P.records);
    }
    record *rec = &P.records[P.nrecords++];
    *rec = (record){0};
    rec->name = hl_strdup(p->name);
    rec->path = hl_strdup(r->path);
    rec->webhook_id = hl_strdup(idbuf);
    rec->webhook_timestamp = hdr_dup(r, "webhook-timestamp");
    rec->webhook_signature = hdr_dup(r, "webhook-signature");
    rec->user_agent = hdr_dup(r, "user-agent");
    rec->content_type = hdr_dup(r, "content-type");
    rec->traceparent = hdr_dup(r, "traceparent");
    if (!rec->traceparent) rec->traceparent = hdr_dup(r, "x-amzn-trace-id");
    rec->host = hdr_dup(r, "host");
    rec->x_headers = x_headers_json(r);
    rec->body = hl_strndup(r->body, r->body_len);
    rec->body_len = r->body_len;
    rec->time_ms = now_ms();
    rec->status = status;
    rec->sig_ok = sig_ok;
  }
  bool reset = (query_get(r->query, "reset", v, sizeof v) && atoi(v)) || (P.reset_pct > 0 && rand01() * 100 < P.reset_pct);
  if (reset) {
    /* No answer: the client sees the connection close. */
    P.current--;
    c->current--;
    if (p->working) P.working--;
    hl_http_respond_close(r);
    pending_free(p);
    return;
  }
  if (hold) {
    p->next_held = P.held;
    P.held = p;
    P.nheld++;
    return;
  }
  if (latency == 0) {
    finish(p);
    pending_free(p);
    return;
  }
  uv_timer_init(P.loop, &p->timer);
  p->timer.data = p;
  uv_timer_start(&p->timer, on_latency, latency, 0);
}

static void render_stats(hl_buf *b) {
  hl_jw w;
  hl_jw_init(&w, b);
  hl_jw_obj_begin(&w);
  hl_jw_key(&w, "requests"); hl_jw_int(&w, (int64_t)P.requests);
  hl_jw_key(&w, "unique_ids"); hl_jw_int(&w, (int64_t)hl_strmap_len(&P.per_id));
  hl_jw_key(&w, "ok_ids"); hl_jw_int(&w, (int64_t)hl_strmap_len(&P.ok_ids));
  hl_jw_key(&w, "duplicates"); hl_jw_int(&w, (int64_t)P.duplicates);
  hl_jw_key(&w, "signature_failures"); hl_jw_int(&w, (int64_t)P.sig_failures);
  hl_jw_key(&w, "max_concurrent"); hl_jw_int(&w, P.max_current);
  hl_jw_key(&w, "held"); hl_jw_int(&w, P.nheld);
  hl_jw_key(&w, "max_working"); hl_jw_int(&w, P.max_working);
  hl_jw_key(&w, "over_capacity"); hl_jw_int(&w, (int64_t)P.over_capacity);
  hl_jw_key(&w, "max_concurrent_by_name");
  hl_jw_obj_begin(&w);
  size_t it = 0;
  const char *k;
  void *v;
  while (hl_strmap_next(&P.per_name, &it, &k, &v)) { hl_jw_key(&w, k); hl_jw_int(&w, ((conc *)v)->max); }
  hl_jw_obj_end(&w);
  hl_jw_key(&w, "by_status");
  hl_jw_obj_begin(&w);
  for (int s = 0; s < 600; s++)
    if (P.by_status[s]) {
      char key[8];
      snprintf(key, sizeof key, "%d", s);
      hl_jw_key(&w, key);
      hl_jw_int(&w, (int64_t)P.by_status[s]);
    }
  hl_jw_obj_end(&w);
  hl_jw_obj_end(&w);
}

static void render_requests(hl_buf *b, const char *name) {
  hl_jw w;
  hl_jw_init(&w, b);
  hl_jw_arr_begin(&w);
  for (size_t i = 0; i < P.nrecords; i++) {
    record *r = &P.records[i];
    if (name && strcmp(name, r->name) != 0) continue;
    hl_jw_obj_begin(&w);
    hl_jw_key(&w, "name"); hl_jw_str(&w, r->name);
    hl_jw_key(&w, "path"); hl_jw_str(&w, r->path);
    hl_jw_key(&w, "webhook_id"); hl_jw_str(&w, r->webhook_id);
    hl_jw_key(&w, "webhook_timestamp"); hl_jw_str(&w, r->webhook_timestamp);
    hl_jw_key(&w, "webhook_signature"); hl_jw_str(&w, r->webhook_signature);
    hl_jw_key(&w, "user_agent"); hl_jw_str(&w, r->user_agent);
    hl_jw_key(&w, "content_type"); hl_jw_str(&w, r->content_type);
    hl_jw_key(&w, "traceparent"); hl_jw_str(&w, r->traceparent);
    hl_jw_key(&w, "host"); hl_jw_str(&w, r->host);
    hl_jw_key(&w, "x_headers"); hl_jw_raw(&w, r->x_headers, strlen(r->x_headers));
    hl_jw_key(&w, "body"); hl_jw_strn(&w, r->body, r->body_len);
    hl_jw_key(&w, "time_ms"); hl_jw_int(&w, r->time_ms);
    hl_jw_key(&w, "status"); hl_jw_int(&w, r->status);
    hl_jw_key(&w, "signature_ok");
    if (r->sig_ok < 0) hl_jw_null(&w); else hl_jw_bool(&w, r->sig_ok);
    hl_jw_obj_end(&w);
  }
  hl_jw_arr_end(&w);
}

static void free_records(void) {
  for (size_t i = 0; i < P.nrecords; i++) {
    record *r = &P.records[i];
    hl_free(r->name); hl_free(r->path); hl_free(r->webhook_id); hl_free(r->webhook_timestamp);
    hl_free(r->webhook_signature); hl_free(r->user_agent); hl_free(r->content_type);
    hl_free(r->traceparent); hl_free(r->host); hl_free(r->body); hl_free(r->x_headers);
  }
  hl_free(P.records);
  P.records = NULL;
  P.nrecords = P.caprecords = 0;
}

static void reset_all(void) {
  free_records();
  size_t it = 0;
  void *v;
  while (hl_strmap_next(&P.per_name, &it, NULL, &v)) hl_free(v);
  hl_strmap_dispose(&P.per_name);
  hl_strmap_dispose(&P.per_id);
  hl_strmap_dispose(&P.ok_ids);
  hl_strmap_init(&P.per_name);
  hl_strmap_init(&P.per_id);
  hl_strmap_init(&P.ok_ids);
  P.requests = P.duplicates = P.sig_failures = 0;
  P.max_current = P.current;
  hl_buf_reset(&P.timing_rows);
  P.ntimings = 0;
  memset(P.by_status, 0, sizeof P.by_status);
}

/* Answers the held requests of name (all when NULL), with status when not
 * 0, else with the status each was to get; returns how many. */
static unsigned release_held(const char *name, int status) {
  unsigned n = 0;
  for (pending **pp = &P.held; *pp;) {
    pending *p = *pp;
    if (name && strcmp(p->name, name) != 0) { pp = &p->next_held; continue; }
    *pp = p->next_held;
    P.nheld--;
    if (status) p->status = status;
    finish(p);
    pending_free(p);
    n++;
  }
  return n;
}

static void on_request(hl_http_req *r, void *data) {
  (void)data;
  if (strncmp(r->path, "/hook/", 6) == 0 && strcmp(r->method, "POST") == 0) {
    handle_hook(r);
    return;
  }
  hl_buf b = HL_BUF_INIT;
  if (strcmp(r->path, "/stats") == 0) {
    render_stats(&b);
  } else if (strcmp(r->path, "/timings") == 0) {
    hl_http_respond(r, 200, NULL, 0, P.timing_rows.data ? P.timing_rows.data : "", P.timing_rows.len);
    return;
  } else if (strcmp(r->path, "/requests") == 0) {
    char name[128];
    render_requests(&b, query_get(r->query, "name", name, sizeof name) ? name : NULL);
  } else if (strcmp(r->path, "/release") == 0 && strcmp(r->method, "POST") == 0) {
    char name[128];
    unsigned n = release_held(query_get(r->query, "name", name, sizeof name) ? name : NULL, 0);
    hl_buf_printf(&b, "{\"released\":%u}", n);
  } else if (strcmp(r->path, "/capacity") == 0 && strcmp(r->method, "POST") == 0) {
    char n[32];
    if (query_get(r->query, "n", n, sizeof n)) P.capacity = (unsigned)atoi(n);
    hl_buf_printf(&b, "{\"capacity\":%u}", P.capacity);
  } else if (strcmp(r->path, "/reset") == 0 && strcmp(r->method, "POST") == 0) {
    reset_all();
    hl_buf_puts(&b, "{\"status\":\"reset\"}");
  } else {
    hl_http_respond_error(r, 404, "not_found", "POST /hook/<name>, GET /stats, GET /requests, POST /release, POST /reset");
    return;
  }
  hl_http_respond(r, 200, NULL, 0, b.data, b.len);
  hl_buf_dispose(&b);
}

static size_t body_limit(const char *m, const char *p, size_t n, void *d) {
  (void)m; (void)p; (void)n; (void)d;
  return 16u << 20;
}

static void on_destroyed(void *d) { (void)d; }

static void on_signal(uv_signal_t *s, int sig) {
  (void)s; (void)sig;
  release_held(NULL, 503); /* every request is answered exactly once */
  hl_buf b = HL_BUF_INIT;
  render_stats(&b);
  printf("%s\n", b.data);
  fflush(stdout);
  if (P.stats_file) {
    FILE *f = fopen(P.stats_file, "w");
    if (f) { fprintf(f, "%s\n", b.data); fclose(f); }
  }
  hl_buf_dispose(&b);
  uv_close((uv_handle_t *)&P.sigterm, NULL);
  uv_close((uv_handle_t *)&P.sigint, NULL);
  hl_http_server_destroy(P.srv, on_destroyed, NULL);
  uv_stop(P.loop);
}

static void usage(void) {
  fprintf(stderr, "usage: hl_mock_partner --listen HOST:PORT [--secret whsec_...] [--latency-ms N]\n"
                  "  [--latency uniform:A:B|lognormal:MEDIAN:SIGMA] [--mix 200:90,503:10] [--retry-after S]\n"
                  "  [--reset-pct P] [--stats-file PATH] [--no-record] [--timings]\n");
  exit(2);
}

int main(int argc, char **argv) {
  const char *listen = NULL;
  P.record = true;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--no-record") == 0) { P.record = false; continue; }
    if (strcmp(a, "--timings") == 0) { P.timings = true; continue; }
    if (!v) usage();
    i++;
    if (strcmp(a, "--listen") == 0) listen = v;
    else if (strcmp(a, "--secret") == 0 && P.nsecrets < 8) P.secrets[P.nsecrets++] = v;
    else if (strcmp(a, "--latency-ms") == 0) { P.latency_kind = 'f'; P.lat_a = atof(v); }
    else if (strcmp(a, "--latency") == 0) {
      if (sscanf(v, "uniform:%lf:%lf", &P.lat_a, &P.lat_b) == 2) P.latency_kind = 'u';
      else if (sscanf(v, "lognormal:%lf:%lf", &P.lat_a, &P.lat_b) == 2) P.latency_kind = 'l';
      else usage();
    } else if (strcmp(a, "--mix") == 0) {
      char buf[256];
      snprintf(buf, sizeof buf, "%s", v);
      char *save = NULL;
      for (char *t = strtok_r(buf, ",", &save); t && P.nmix < 16; t = strtok_r(NULL, ",", &save)) {
        int code, weight;
        if (sscanf(t, "%d:%d", &code, &weight) != 2) usage();
        P.mix_codes[P.nmix] = code;
        P.mix_weights[P.nmix++] = weight;
        P.mix_total += weight;
      }
    } else if (strcmp(a, "--retry-after") == 0) P.retry_after = (unsigned)atoi(v);
    else if (strcmp(a, "--capacity") == 0) P.capacity = (unsigned)atoi(v);
    else if (strcmp(a, "--reset-pct") == 0) P.reset_pct = atof(v);
    else if (strcmp(a, "--stats-file") == 0) P.stats_file = v;
    else usage();
  }
  if (!listen) usage();
  signal(SIGPIPE, SIG_IGN);
  P.loop = uv_default_loop();
  hl_strmap_init(&P.per_id);
  hl_strmap_init(&P.ok_ids);
  hl_strmap_init(&P.per_name);
  hl_http_server_config cfg = {.on_request = on_request, .body_limit = body_limit, .max_connections = 100000};
  if (hl_http_server_create(P.loop, listen, &cfg, &P.srv) != 0 || hl_http_server_start(P.srv) != 0) {
    fprintf(stderr, "hl_mock_partner: cannot listen on %s\n", listen);
    return 1;
  }
  uv_signal_init(P.loop, &P.sigterm);
  uv_signal_init(P.loop, &P.sigint);
  uv_signal_start(&P.sigterm, on_signal, SIGTERM);
  uv_signal_start(&P.sigint, on_signal, SIGINT);
  printf("listening 127.0.0.1:%d\n", hl_http_server_port(P.srv));
  fflush(stdout);
  uv_run(P.loop, UV_RUN_DEFAULT);
  uv_run(P.loop, UV_RUN_NOWAIT);
  reset_all();
  hl_strmap_dispose(&P.per_id);
  hl_strmap_dispose(&P.per_name);
  hl_strmap_dispose(&P.ok_ids);
  hl_buf_dispose(&P.timing_rows);
  return 0;
}
