#include "handlers/hl_pinfo.h"
#include "common/hl_common.h"
#include "common/hl_log.h"
#include "crypto/hl_sigv4.h"
#include "json/hl_json.h"
#include "loop/hl_curl_host.h"
#include "transform/hl_transform.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define PINFO_MAX_ANSWER (1u << 20) /* a larger answer fails the fetch */

typedef struct fetch fetch;
struct fetch {
  hl_pinfo *owner;
  char *partner_id;
  hl_curl_xfer xfer;
  CURL *easy;
  struct curl_slist *headers;
  hl_buf body;
  /* What the answer's Cache-Control lines said (hl_pinfo_max_age), read
   * whole as they came: a directive far into a long line counts too. */
  bool has_max_age;
  uint64_t max_age_ms;
  bool too_big;
  char *url;            /* SigV4: kept until the credentials are there and it is signed */
  hl_creds_waiter creds_wait;
  bool waiting_creds;
  uint32_t probe;       /* the breaker's probe number when it is the probe (hl_gate_probe), else 0 */
  fetch *prev, *next;   /* the fetches running */
};

struct hl_pinfo {
  uv_loop_t *loop;
  hl_curl_uv *curl;
  char *url, *token, *key_json; /* key_json: the key as a JSON string, quotes included */
  char *region;         /* SigV4 (opt.creds): the signing region */
  hl_sigv4_key_cache sig_key;
  hl_pinfo_options opt;
  hl_pinfo_cache cache;
  hl_gate breaker;      /* the service's: failed fetches in a row open it (no in-flight cap, no rate) */
  uint64_t refused;     /* misses the open breaker failed without a fetch */
  fetch *running;
};

static void fetch_free(fetch *f) {
  hl_pinfo *p = f->owner;
  if (f->prev) f->prev->next = f->next; else p->running = f->next;
  if (f->next) f->next->prev = f->prev;
  if (f->easy) curl_easy_cleanup(f->easy);
  if (f->waiting_creds) hl_aws_creds_unwait(p->opt.creds, &f->creds_wait);
  /* The Authorization line holds the token (or a signature, and the session
   * token beside it): wiped before it is freed. */
  for (struct curl_slist *h = f->headers; h; h = h->next) explicit_bzero(h->data, strlen(h->data));
  curl_slist_free_all(f->headers);
  hl_buf_dispose(&f->body);
  hl_free(f->partner_id);
  hl_free(f->url);
  hl_free(f);
}

/* The set spec that puts info at the key; its compile checks info is JSON. */
static int compile_merge(const hl_pinfo *p, const char *info, size_t len, hl_transform **t, hl_transform_error *err) {
  hl_buf spec = HL_BUF_INIT;
  hl_buf_puts(&spec, "{\"version\":1,\"ops\":[{\"op\":\"set\",\"path\":");
  hl_buf_puts(&spec, p->key_json);
  hl_buf_puts(&spec, ",\"value\":");
  hl_buf_append(&spec, info, len);
  hl_buf_puts(&spec, "}]}");
  int rc = hl_transform_compile(spec.data, spec.len, t, err);
  hl_buf_dispose(&spec);
  return rc;
}

/* The cache keeps each answer's compiled merge beside it (freed with it). */
static void free_merge(void *t) { hl_transform_free(t); }

hl_pinfo *hl_pinfo_create(uv_loop_t *loop, hl_curl_uv *curl, const hl_pinfo_options *opt, char *err, size_t errlen) {
  if (!opt->url || !strstr(opt->url, "{partner_id}")) {
    snprintf(err, errlen, "PARTNER_INFO_URL must contain {partner_id}");
    return NULL;
  }
  const char *key = opt->key && *opt->key ? opt->key : "/partner_info";
  if (key[0] != '/') {
    snprintf(err, errlen, "PARTNER_INFO_KEY=%s: expected a JSON pointer that starts with '/'", key);
    return NULL;
  }
  hl_pinfo *p = hl_calloc(1, sizeof *p);
  p->loop = loop;
  p->curl = curl;
  p->opt = *opt;
  p->url = hl_strdup(opt->url);
  p->token = opt->token && *opt->token ? hl_strdup(opt->token) : NULL;
  hl_sigv4_key_cache_init(&p->sig_key);
  if (opt->creds) {
    if (!opt->region || !*opt->region || p->token) {
      snprintf(err, errlen, "PARTNER_INFO_AUTH=sigv4 needs a region (PARTNER_INFO_REGION or AWS_REGION) and no "
                            "PARTNER_INFO_TOKEN");
      hl_free(p->token);
      hl_free(p->url);
      hl_free(p);
      return NULL;
    }
    p->region = hl_strdup(opt->region);
  }
  hl_buf k = HL_BUF_INIT;
  hl_buf_puts(&k, "\"");
  hl_json_escape(&k, key, strlen(key));
  hl_buf_puts(&k, "\"");
  p->key_json = hl_strdup(k.data);
  hl_buf_dispose(&k);
  hl_pinfo_cache_init(&p->cache, opt->max_partners ? opt->max_partners : 10000);
  p->cache.free_derived = free_merge;
  hl_gate_init(&p->breaker, &(hl_gate_config){.breaker_failures = opt->breaker_failures,
                                              .breaker_open_ms = opt->breaker_open_ms});
  /* The key is checked as the spec would be: a bad pointer fails here. */
  hl_transform *t = NULL;
  hl_transform_error terr = {0};
  if (compile_merge(p, "null", 4, &t, &terr) != 0) {
    snprintf(err, errlen, "PARTNER_INFO_KEY=%s: %s", key, terr.message);
    hl_pinfo_destroy(p);
    return NULL;
  }
  hl_transform_free(t);
  return p;
}

void hl_pinfo_destroy(hl_pinfo *p) {
  if (!p) return;
  while (p->running) {
    fetch *f = p->running;
    if (f->easy) hl_curl_uv_cancel(p->curl, &f->xfer);
    hl_gate_done(&p->breaker, uv_now(p->loop), HL_GATE_NEUTRAL, f->probe);
    char *id = hl_strdup(f->partner_id);
    fetch_free(f);
    hl_pinfo_complete(&p->cache, id, HL_ECANCELED, NULL, 0, 0, uv_now(p->loop));
    hl_free(id);
  }
  hl_pinfo_cache_dispose(&p->cache);
  if (p->token) explicit_bzero(p->token, strlen(p->token));
  hl_free(p->token);
  hl_free(p->url);
  hl_free(p->region);
  hl_sigv4_key_cache_dispose(&p->sig_key);
  hl_free(p->key_json);
  hl_free(p);
}

bool hl_pinfo_deliver_unenriched(const hl_pinfo *p) { return p->opt.deliver_unenriched; }
void hl_pinfo_render_metrics(const hl_pinfo *p, hl_buf *out) {
  static const struct { const char *name, *help; size_t off; } m[] = {
    {"hits", "Attempts that found their partner's info in the cache.", offsetof(hl_pinfo_cache, hits)},
    {"misses", "Attempts that did not (they wait for a fetch).", offsetof(hl_pinfo_cache, misses)},
    {"fetches", "Requests made to the Partner Info service.", offsetof(hl_pinfo_cache, fetches)},
    {"failures", "Requests to it that failed (status, timeout, not JSON), and misses its breaker refused.",
     offsetof(hl_pinfo_cache, failures)},
  };
  for (size_t i = 0; i < HL_ARRAY_SIZE(m); i++)
    hl_buf_printf(out, "# HELP hookloop_partner_info_%s_total %s\n# TYPE hookloop_partner_info_%s_total counter\n"
                       "hookloop_partner_info_%s_total %llu\n",
                  m[i].name, m[i].help, m[i].name, m[i].name,
                  (unsigned long long)*(const uint64_t *)((const char *)&p->cache + m[i].off));
  hl_buf_printf(out, "# HELP hookloop_partner_info_refused_total Misses failed at once by the service's open breaker.\n"
                     "# TYPE hookloop_partner_info_refused_total counter\nhookloop_partner_info_refused_total %llu\n",
                (unsigned long long)p->refused);
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *data) {
  fetch *f = data;
  return hl_curl_capped_append(&f->body, PINFO_MAX_ANSWER, &f->too_big, ptr, size * nmemb);
}

/* One Cache-Control line joins those before it as one list would: a line
 * that keeps the answer for no time (no-store, no-cache) wins, otherwise
 * the first max-age counts. */
static void read_cache_control(fetch *f, const char *value, size_t n) {
  char *line = hl_strndup(value, n);
  uint64_t ms = 0;
  if (hl_pinfo_max_age(line, &ms) && (!f->has_max_age || ms == 0)) {
    f->has_max_age = true;
    f->max_age_ms = ms;
  }
  hl_free(line);
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *data) {
  fetch *f = data;
  size_t n = size * nmemb;
  static const char name[] = "cache-control:";
  if (n >= 5 && strncmp(ptr, "HTTP/", 5) == 0) {
    f->has_max_age = false; /* a response begins (a proxy's answer came before it): only its own lines count */
  } else if (n > sizeof name - 1 && strncasecmp(ptr, name, sizeof name - 1) == 0) {
    size_t i = sizeof name - 1;
    while (i < n && (ptr[i] == ' ' || ptr[i] == '\t')) i++;
    size_t end = n;
    while (end > i && (ptr[end - 1] == '\r' || ptr[end - 1] == '\n' || ptr[end - 1] == ' ')) end--;
    read_cache_control(f, ptr + i, end - i);
  }
  return n;
}

static void fetch_finish(fetch *f, int rc, const char *why, hl_gate_outcome gate, hl_transform *merge);

static void on_fetched(hl_curl_xfer *x, CURLcode result) {
  fetch *f = hl_container_of(x, fetch, xfer);
  hl_pinfo *p = f->owner;
  long status = 0;
  if (result == CURLE_OK) curl_easy_getinfo(f->easy, CURLINFO_RESPONSE_CODE, &status);
  int rc = 0;
  hl_transform *merge = NULL;
  char why[200] = "";
  if (f->too_big) {
    rc = HL_ETOOBIG;
    snprintf(why, sizeof why, "answer over %u bytes", PINFO_MAX_ANSWER);
  } else if (result != CURLE_OK) {
    rc = result == CURLE_OPERATION_TIMEDOUT ? HL_ETIMEOUT : HL_EIO;
    snprintf(why, sizeof why, "%s", curl_easy_strerror(result));
  } else if (status != 200) {
    rc = HL_EIO;
    snprintf(why, sizeof why, "HTTP %ld", status);
  } else {
    /* Compiled once per answer: the check that it is JSON, and the merge
     * every hit applies as it is (the cache keeps it beside the answer). */
    hl_transform_error terr = {0};
    hl_json_doc d;
    hl_json_error jerr = {0};
    hl_json_doc_init(&d);
    /* I-JSON, as every body hookloop takes: an answer with a name twice
     * would be merged into the event as it is, and the partner's parser
     * could read another value than the one meant. */
    int jrc = hl_json_parse_ex(&d, f->body.data ? f->body.data : "", f->body.len, HL_JSON_BORROW | HL_JSON_UNIQUE_NAMES,
                               &jerr);
    hl_json_doc_dispose(&d);
    if (jrc != 0 && jerr.duplicate) {
      rc = HL_EPARSE;
      snprintf(why, sizeof why, "the answer names \"%.60s\" twice in %.80s", jerr.name,
               jerr.pointer[0] ? jerr.pointer : "its top-level object");
    } else if (jrc != 0 || compile_merge(p, f->body.data ? f->body.data : "", f->body.len, &merge, &terr) != 0) {
      rc = HL_EPARSE;
      snprintf(why, sizeof why, "the answer is not JSON");
    }
  }
  fetch_finish(f, rc, why, rc == 0 ? HL_GATE_OK : HL_GATE_FAILED, merge);
}

/* The fetch is over (its answer in f->body when rc is 0, and the answer's
 * compiled merge, owned by the cache from here): the cache's waiters hear
 * of it, and f is freed. */
static void fetch_finish(fetch *f, int rc, const char *why, hl_gate_outcome gate, hl_transform *merge) {
  hl_pinfo *p = f->owner;
  hl_gate_done(&p->breaker, uv_now(p->loop), gate, f->probe);
  uint64_t ttl = p->opt.ttl_ms;
  if (rc != 0)
    hl_log_warn("partner info fetch failed", "\"partner_id\":\"%s\",\"error\":\"%s\"",
                hl_log_esc(f->partner_id, (size_t)-1), hl_log_esc(why, (size_t)-1));
  else if (f->has_max_age)
    ttl = f->max_age_ms;
  char *id = f->partner_id;
  f->partner_id = NULL;
  hl_buf body = f->body;
  f->body = (hl_buf)HL_BUF_INIT;
  fetch_free(f);
  hl_pinfo_complete_derived(&p->cache, id, rc, body.data, body.len, merge, ttl, uv_now(p->loop));
  hl_buf_dispose(&body);
  hl_free(id);
}

static void on_waiter_done(hl_pinfo_waiter *w, int status, const char *value, size_t len) {
  hl_pinfo_req *r = hl_container_of(w, hl_pinfo_req, w);
  char why[64];
  snprintf(why, sizeof why, "partner info: %s", status ? hl_strerror(status) : "");
  r->done(r, status, value, len, status ? why : NULL);
}

/* Adds the SigV4 headers of GET f->url for execute-api (Host, X-Amz-Date,
 * X-Amz-Security-Token with temporary credentials, Authorization). Host is
 * sent as signed: the URL's host (in its ASCII form, as the request goes:
 * loop/hl_curl_host.h), and its port when it names one, as curl would
 * write it. */
static int sign(hl_pinfo *p, fetch *f, const hl_aws_creds *creds) {
  CURLU *u = curl_url();
  char *host = NULL, *port = NULL, *path = NULL, *query = NULL;
  int rc = HL_EINVAL;
  const char *why;
  if (u && curl_url_set(u, CURLUPART_URL, f->url, 0) == CURLUE_OK && hl_curl_url_host_ascii(u, &why) == 0 &&
      curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_PATH, &path, 0) == CURLUE_OK) {
    if (curl_url_get(u, CURLUPART_PORT, &port, 0) != CURLUE_OK) port = NULL;
    if (curl_url_get(u, CURLUPART_QUERY, &query, 0) != CURLUE_OK) query = NULL;
    hl_buf line = HL_BUF_INIT;
    hl_buf_printf(&line, "Host: %s%s%s", host, port ? ":" : "", port ? port : "");
    const char *hv = line.data + 6;
    hl_sigv4_header h[] = {{"Host", 4, hv, strlen(hv)}};
    hl_sigv4_request req = {.method = "GET", .path = path, .path_len = strlen(path), .query = query,
                            .query_len = query ? strlen(query) : 0, .headers = h, .n_headers = 1, .body = "",
                            .body_len = 0};
    hl_sigv4_params sp = {.region = p->region, .service = "execute-api", .time_s = hl_wall_ms() / 1000,
                          .normalize_path = true};
    hl_sigv4_out out;
    hl_sigv4_out_init(&out);
    rc = hl_sigv4_sign(&sp, creds, &req, &p->sig_key, &out);
    if (rc == 0) {
      f->headers = curl_slist_append(f->headers, line.data);
      for (int i = 0; i < out.n_add; i++) {
        hl_buf_reset(&line);
        hl_buf_append(&line, out.add[i].name, out.add[i].name_len);
        hl_buf_puts(&line, ": ");
        hl_buf_append(&line, out.add[i].value, out.add[i].value_len);
        f->headers = curl_slist_append(f->headers, line.data);
      }
    }
    explicit_bzero(line.data, line.len);
    hl_buf_dispose(&line);
    hl_sigv4_out_dispose(&out);
  }
  curl_free(host);
  curl_free(port);
  curl_free(path);
  curl_free(query);
  curl_url_cleanup(u);
  return rc;
}

static int launch(hl_pinfo *p, fetch *f) {
  f->easy = hl_curl_api_easy(f->url, p->opt.timeout_ms, p->opt.timeout_ms, on_body, on_header, f);
  if (!f->easy) return HL_ENOMEM;
  curl_easy_setopt(f->easy, CURLOPT_HTTPHEADER, f->headers);
  return hl_curl_uv_add(p->curl, &f->xfer, f->easy, on_fetched) != 0 ? HL_ENOMEM : 0;
}

/* Signs with the credentials at hand and starts; 0 or a negative hl_err. */
static int sign_and_launch(hl_pinfo *p, fetch *f) {
  hl_aws_creds c;
  const hl_aws_creds *creds = hl_aws_creds_current(p->opt.creds, &c);
  if (!creds) return HL_EAGAIN;
  int rc = sign(p, f, creds);
  return rc != 0 ? rc : launch(p, f);
}

/* The credentials came (or could not be had): the fetch goes out signed,
 * or fails as a fetch does (not counted against the service's breaker). */
static void on_creds(hl_creds_waiter *w, int status) {
  fetch *f = hl_container_of(w, fetch, creds_wait);
  f->waiting_creds = false;
  int rc = status != 0 ? status : sign_and_launch(f->owner, f);
  if (rc != 0)
    fetch_finish(f, rc, status != 0 ? "no AWS credentials to sign with" : "the request could not be signed",
                 HL_GATE_NEUTRAL, NULL);
}

static int start_fetch(hl_pinfo *p, const char *partner_id, uint32_t probe) {
  fetch *f = hl_calloc(1, sizeof *f);
  f->owner = p;
  f->probe = probe;
  f->partner_id = hl_strdup(partner_id);
  f->next = p->running;
  if (p->running) p->running->prev = f;
  p->running = f;
  /* The URL: the template with the partner id, percent-encoded, in place of {partner_id}. */
  hl_buf url = HL_BUF_INIT;
  const char *at = strstr(p->url, "{partner_id}");
  hl_buf_append(&url, p->url, (size_t)(at - p->url));
  char *esc = curl_easy_escape(NULL, partner_id, 0);
  if (esc) hl_buf_puts(&url, esc);
  curl_free(esc);
  hl_buf_puts(&url, at + strlen("{partner_id}"));
  f->url = hl_strdup(url.data);
  hl_buf_dispose(&url);
  f->headers = curl_slist_append(f->headers, "Accept: application/json");
  f->headers = curl_slist_append(f->headers, "User-Agent: hookloop/" HOOKLOOP_VERSION);
  if (p->token) {
    hl_buf h = HL_BUF_INIT;
    hl_buf_puts(&h, "Authorization: Bearer ");
    hl_buf_puts(&h, p->token);
    f->headers = curl_slist_append(f->headers, h.data);
    explicit_bzero(h.data, h.len);
    hl_buf_dispose(&h);
  }
  int rc = !esc ? HL_ENOMEM : !p->opt.creds ? launch(p, f) : sign_and_launch(p, f);
  if (rc == HL_EAGAIN) {
    /* No credentials at hand (an endpoint source fetching them): the
     * request waits for them; the cache's waiters wait with it. */
    f->waiting_creds = true;
    f->creds_wait.cb = on_creds;
    hl_aws_creds_wait(p->opt.creds, &f->creds_wait);
    return 0;
  }
  if (rc != 0) {
    fetch_free(f);
    return rc;
  }
  return 0;
}

int hl_pinfo_get(hl_pinfo *p, const char *partner_id, hl_pinfo_req *r, hl_pinfo_cb done, const char **info,
                 size_t *len) {
  snprintf(r->partner_id, sizeof r->partner_id, "%s", partner_id);
  r->done = done;
  r->w.done = on_waiter_done;
  switch (hl_pinfo_lookup(&p->cache, r->partner_id, uv_now(p->loop), &r->w, info, len)) {
  case HL_PINFO_HIT: return 0;
  case HL_PINFO_WAIT: return 1;
  case HL_PINFO_FETCH: break;
  }
  /* An open breaker fails the miss at once: a failing service is asked
   * once per breaker_open_ms (the probe), not once per waiting delivery. */
  uint64_t wait = 0;
  int rc = 0;
  if (hl_gate_admit(&p->breaker, uv_now(p->loop), &wait) != HL_GATE_ADMIT) {
    rc = HL_EBUSY;
    p->refused++;
  } else if ((rc = start_fetch(p, r->partner_id, hl_gate_probe(&p->breaker))) != 0) {
    hl_gate_unadmit(&p->breaker);
  }
  if (rc != 0) {
    /* r is the only waiter (the first miss): it hears of it from here. */
    hl_pinfo_cancel(&p->cache, r->partner_id, &r->w);
    hl_pinfo_complete(&p->cache, r->partner_id, rc, NULL, 0, 0, uv_now(p->loop));
    return rc;
  }
  return 1;
}

void hl_pinfo_req_cancel(hl_pinfo *p, hl_pinfo_req *r) {
  hl_pinfo_cancel(&p->cache, r->partner_id, &r->w);
}

const hl_transform *hl_pinfo_merge_program(const hl_pinfo *p, const hl_pinfo_req *r, const char *info,
                                          size_t info_len, hl_transform **owned, char *err, size_t errlen) {
  *owned = NULL;
  /* The answer's merge, compiled when it was fetched; compiled here only
   * when the cache no longer holds that answer (evicted or refetched while
   * the delivery waited). */
  const hl_transform *kept = hl_pinfo_derived(&p->cache, r->partner_id, info, info_len);
  if (kept) return kept;
  hl_transform_error terr = {0};
  if (compile_merge(p, info, info_len, owned, &terr) != 0) {
    snprintf(err, errlen, "partner info merge: %s", terr.message);
    return NULL;
  }
  return *owned;
}

int hl_pinfo_merge(const hl_pinfo *p, const hl_pinfo_req *r, const char *body, size_t len, const char *info,
                   size_t info_len, hl_buf *out, char *err, size_t errlen) {
  hl_transform *owned;
  const hl_transform *t = hl_pinfo_merge_program(p, r, info, info_len, &owned, err, errlen);
  if (!t) return HL_EPARSE;
  hl_transform_error terr = {0};
  int rc = hl_transform_apply(t, body, len, out, &terr);
  if (rc != 0) snprintf(err, errlen, "partner info merge: %s", terr.message);
  hl_transform_free(owned);
  return rc;
}
