#include "handlers/hl_hosts.h"
#include "common/hl_common.h"
#include "json/hl_json.h"
#include "loop/hl_curl_host.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

void hl_hosts_init(hl_hosts *h, const hl_hosts_config *cfg) {
  *h = (hl_hosts){.cfg = *cfg};
  hl_strmap_init(&h->by_key);
}

static void host_unref(hl_host *host) {
  if (--host->refs > 0) return;
  hl_free(host->key);
  hl_sub_list_dispose(&host->subs);
  hl_free(host);
}

void hl_hosts_dispose(hl_hosts *h) {
  size_t it = 0;
  void *v;
  while (hl_strmap_next(&h->by_key, &it, NULL, &v)) {
    hl_host *host = v;
    host->table = NULL;
    host_unref(host);
  }
  hl_strmap_dispose(&h->by_key);
}

/* scheme://host:port of an HTTP url (lower case, an internationalized
 * host in its ASCII form, the default port written); the url itself when
 * curl cannot parse it (its attempts fail alone then). */
static void http_key(const char *url, char *out, size_t n) {
  snprintf(out, n, "%s", url ? url : "");
  CURLU *u = curl_url();
  if (!u) return;
  char *scheme = NULL, *host = NULL, *port = NULL;
  const char *why;
  if (url && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK && hl_curl_url_host_ascii(u, &why) == 0 &&
      curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK) {
    for (char *c = host; *c; c++)
      if (*c >= 'A' && *c <= 'Z') *c = (char)(*c - 'A' + 'a');
    snprintf(out, n, "%s://%s:%s", scheme, host, port);
  }
  curl_free(scheme);
  curl_free(host);
  curl_free(port);
  curl_url_cleanup(u);
}

void hl_host_key(const hl_sub *s, char *out, size_t n) {
  const hl_destination *d = s->dest;
  if (!d || d->type == HL_DEST_HTTP) {
    http_key(s->rec.url, out, n);
    return;
  }
  const char *where = d->type == HL_DEST_SNS ? d->topic_arn : d->type == HL_DEST_SQS ? d->queue_url : d->bus;
  snprintf(out, n, "%s:%s", hl_dest_type_name(d->type), where ? where : "default");
}

static unsigned sub_limit(const hl_hosts *h, const hl_sub *s) {
  return s->rec.max_in_flight > 0 ? (unsigned)s->rec.max_in_flight : h->cfg.default_limit;
}

/* The AIMD ceiling: the largest max_in_flight of the host's subscriptions. */
static void set_ceiling(hl_host *host, unsigned default_limit) {
  unsigned c = 1;
  for (size_t i = 0; i < host->subs.n; i++) {
    const hl_sub *s = host->subs.items[i];
    unsigned l = s->rec.max_in_flight > 0 ? (unsigned)s->rec.max_in_flight : default_limit;
    if (l > c) c = l;
  }
  hl_aimd_set_ceiling(&host->aimd, c);
}

static void configure(hl_host *host, const hl_hosts_config *cfg) {
  hl_gate_config gc = cfg->breaker;
  gc.rate_per_s = 0;
  gc.max_in_flight = cfg->adaptive ? hl_aimd_limit(&host->aimd) : 0;
  hl_gate_configure(&host->gate, &gc);
}

hl_host *hl_hosts_attach(hl_hosts *h, hl_sub *s) {
  char key[512];
  hl_host_key(s, key, sizeof key);
  hl_host *host = hl_strmap_get(&h->by_key, key);
  if (!host) {
    host = hl_calloc(1, sizeof *host);
    host->refs = 1; /* the table's */
    host->key = hl_strdup(key);
    host->table = h;
    hl_gate_init(&host->gate, &h->cfg.breaker);
    hl_aimd_init(&host->aimd, sub_limit(h, s), h->cfg.latency_factor);
    hl_strmap_put(&h->by_key, key, host);
  }
  hl_sub_list_add(&host->subs, s);
  host->refs++;
  set_ceiling(host, h->cfg.default_limit);
  configure(host, &h->cfg);
  return host;
}

void hl_host_detach(hl_host *host, hl_sub *s) {
  hl_sub_list *l = &host->subs;
  hl_sub_list_remove(l, s);
  hl_hosts *h = host->table;
  if (h) {
    if (l->n == 0 && hl_strmap_get(&h->by_key, host->key) == host) {
      hl_strmap_del(&h->by_key, host->key);
      host->table = NULL;
      host_unref(host); /* the table's */
    } else {
      set_ceiling(host, h->cfg.default_limit);
      configure(host, &h->cfg);
    }
  }
  host_unref(host);
}

hl_gate_answer hl_host_admit(hl_host *host, uint64_t now, uint64_t *wait_ms, uint64_t *seq) {
  bool adaptive = host->table && host->table->cfg.adaptive;
  if (adaptive && hl_aimd_paused(&host->aimd, now, wait_ms)) return HL_GATE_WAIT;
  hl_gate_answer a = hl_gate_admit(&host->gate, now, wait_ms);
  if (a == HL_GATE_ADMIT) *seq = hl_aimd_start(&host->aimd);
  return a;
}

void hl_host_unadmit(hl_host *host) { hl_gate_unadmit(&host->gate); }

bool hl_host_has_room(const hl_host *host) { return hl_gate_has_room(&host->gate); }

void hl_host_done(hl_host *host, uint64_t now, hl_gate_outcome outcome, uint32_t probe, uint64_t seq,
                  hl_aimd_signal sig, double latency_ms, uint64_t retry_after_ms) {
  hl_gate_done(&host->gate, now, outcome, probe);
  if (!host->table || !host->table->cfg.adaptive) return;
  hl_aimd_done(&host->aimd, now, seq, sig, latency_ms, retry_after_ms);
  configure(host, &host->table->cfg); /* the new limit is the gate's cap */
}

void hl_host_reset(hl_host *host, uint64_t now) { hl_gate_reset(&host->gate, now); }

void hl_host_write(hl_jw *w, hl_host *host, uint64_t now) {
  hl_jw_key_str(w, "host", host->key);
  hl_jw_key_obj(w, "breaker");
  hl_jw_key_str(w, "state", hl_gate_state_name(host->gate.state));
  hl_jw_key_int(w, "consecutive_failures", host->gate.streak);
  unsigned n = 0, f = 0;
  hl_gate_window(&host->gate, now, &n, &f);
  hl_jw_key_int(w, "window_attempts", n);
  hl_jw_key_int(w, "window_failures", f);
  hl_jw_obj_end(w);
  hl_jw_key_int(w, "in_flight", host->gate.in_flight);
  hl_jw_key_int(w, "subscriptions", (int64_t)host->subs.n);
  hl_jw_key(w, "concurrency");
  if (!host->table || !host->table->cfg.adaptive) {
    hl_jw_null(w);
    return;
  }
  hl_jw_obj_begin(w);
  hl_jw_key_int(w, "limit", hl_aimd_limit(&host->aimd));
  hl_jw_key_int(w, "ceiling", host->aimd.ceiling);
  hl_jw_key(w, "latency_baseline_ms"); hl_jw_double(w, host->aimd.baseline_ms);
  uint64_t wait = 0;
  hl_jw_key_int(w, "paused_ms", hl_aimd_paused(&host->aimd, now, &wait) ? (int64_t)wait : 0);
  hl_jw_key_int(w, "cuts", (int64_t)host->aimd.cuts);
  hl_jw_obj_end(w);
}

void hl_hosts_render_metrics(const hl_hosts *h, hl_buf *out) {
  size_t by_state[3] = {0};
  size_t it = 0;
  void *v;
  while (hl_strmap_next(&h->by_key, &it, NULL, &v)) by_state[((const hl_host *)v)->gate.state]++;
  hl_buf_printf(out, "# HELP hookloop_host_breakers Destination hosts by the state of their circuit breaker.\n"
                     "# TYPE hookloop_host_breakers gauge\n"
                     "hookloop_host_breakers{state=\"closed\"} %zu\n"
                     "hookloop_host_breakers{state=\"open\"} %zu\n"
                     "hookloop_host_breakers{state=\"half_open\"} %zu\n",
                by_state[HL_GATE_CLOSED], by_state[HL_GATE_OPEN], by_state[HL_GATE_HALF_OPEN]);
  if (!h->cfg.adaptive) return;
  hl_buf_puts(out, "# HELP hookloop_host_concurrency_limit Attempts a destination host may have running (AIMD).\n"
                   "# TYPE hookloop_host_concurrency_limit gauge\n");
  it = 0;
  while (hl_strmap_next(&h->by_key, &it, NULL, &v)) {
    const hl_host *host = v;
    hl_buf_printf(out, "hookloop_host_concurrency_limit{host=\"%s\"} %u\n", host->key, hl_aimd_limit(&host->aimd));
  }
  hl_buf_puts(out, "# HELP hookloop_host_concurrency_cuts_total Times AIMD cut a destination host's limit.\n"
                   "# TYPE hookloop_host_concurrency_cuts_total counter\n");
  it = 0;
  while (hl_strmap_next(&h->by_key, &it, NULL, &v)) {
    const hl_host *host = v;
    hl_buf_printf(out, "hookloop_host_concurrency_cuts_total{host=\"%s\"} %" PRIu64 "\n", host->key,
                  host->aimd.cuts);
  }
}
