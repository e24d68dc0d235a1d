/* Transformation throughput on one core: the ~1 KB payment event of
 * bench_schema through a 10-operation spec (one of each kind of edit, all on
 * different members) and through a 10-leaf template, beside the plain
 * parse + compact write every transformation includes. Each figure is the
 * median of several timed runs of this thread's CPU time (so other load on
 * the machine moves it less than wall time); "(parsed)" applies to an event
 * parsed beforehand, which is what a processor that has already parsed the
 * event for its schema and filters pays.
 *
 * Then Partner Info enrichment with a warm cache, as the dispatcher does it
 * per attempt (hl_pinfo_get, a hit, then the answer's compiled merge,
 * hl_pinfo_merge_program, chained with the subscription's transformation
 * on one parse of the event, hl_xform_for_delivery): a real hl_pinfo on a
 * libuv loop fetches one partner's answer once from the mock partner
 * (GET /stats, a ~0.2 KB JSON object) and every timed attempt is a hit.
 * Beside it the two passes of before: the merge parses the event and
 * writes it, the transformation parses that again and writes it.
 *
 *   bench_transform [seconds per run, 1] [runs, 5]
 */
#include "common/hl_common.h"
#include "handlers/hl_pinfo.h"
#include "hl_testutil.h"
#include "transform/hl_transform.h"
#include "../bench_event.h"

#include <signal.h>
#include <stdarg.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* 0 operations: the event is parsed and written back (compact, exact). */
static const char *BASELINE = "{\"version\":1,\"ops\":[]}";

static const char *TEN_OPS =
    "{\"version\":1,\"ops\":["
    "{\"op\":\"set\",\"path\":\"/meta/source\",\"value\":\"hookloop\"},"
    "{\"op\":\"copy\",\"from\":\"/eventHeader/uuid\",\"path\":\"/id\"},"
    "{\"op\":\"move\",\"from\":\"/amount\",\"path\":\"/money/amount\"},"
    "{\"op\":\"move\",\"from\":\"/currency\",\"path\":\"/money/currency\"},"
    "{\"op\":\"rename\",\"path\":\"/paymentId\",\"to\":\"payment_id\"},"
    "{\"op\":\"remove\",\"path\":\"/payer/iban\"},"
    "{\"op\":\"remove\",\"path\":\"/payee/iban\"},"
    "{\"op\":\"remove\",\"path\":\"/metadata/session\"},"
    "{\"op\":\"set\",\"path\":\"/items/0/price\",\"value\":999.99},"
    "{\"op\":\"wrap\",\"path\":\"/data\"}]}";

static const char *TEMPLATE =
    "{\"version\":1,\"ops\":[{\"op\":\"template\",\"template\":{"
    "\"id\":{\"$ptr\":\"/eventHeader/uuid\"},\"type\":{\"$ptr\":\"/eventHeader/eventType\"},"
    "\"at\":{\"$ptr\":\"/eventHeader/createdDate\"},\"source\":\"hookloop\","
    "\"payment\":{\"id\":{\"$ptr\":\"/paymentId\"},\"amount\":{\"$ptr\":\"/amount\"},"
    "\"currency\":{\"$ptr\":\"/currency\"},\"status\":{\"$ptr\":\"/status\"}},"
    "\"payer\":{\"$ptr\":\"/payer/name\"},\"payee\":{\"$ptr\":\"/payee/name\"},"
    "\"items\":{\"$ptr\":\"/items\"},\"channel\":{\"$ptr\":\"/metadata/channel\",\"$default\":\"unknown\"}}}]}";

static uint64_t cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* The test helpers (hl_spawn_listening) report a failed check through
 * this; here it ends the benchmark. */
void hl_test_fail(const char *file, int line, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "bench_transform: %s:%d: ", file, line);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(1);
}

/* One event's work; aborts on an error (a figure of failures is no figure). */
typedef void (*work_fn)(void *ctx, hl_buf *out);

/* ns per event over one run of `seconds` of this thread's CPU time. */
static double measure(work_fn fn, void *ctx, hl_buf *out, double seconds) {
  uint64_t n = 0, t0 = cpu_ns(), el;
  do {
    for (int i = 0; i < 1000; i++) {
      hl_buf_reset(out);
      fn(ctx, out);
    }
    n += 1000;
    el = cpu_ns() - t0;
  } while ((double)el < seconds * 1e9);
  return (double)el / (double)n;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

typedef struct {
  const hl_transform *t;
  const hl_json *parsed; /* NULL: parse EVENT each time */
} apply_ctx;

static void apply_work(void *ctx, hl_buf *out) {
  const apply_ctx *a = ctx;
  int rc = a->parsed ? hl_transform_apply_json(a->t, a->parsed, out, NULL)
                     : hl_transform_apply(a->t, EVENT, strlen(EVENT), out, NULL);
  if (rc != 0) abort();
}

static hl_transform *compile(const char *spec) {
  hl_transform *t = NULL;
  hl_transform_error err;
  if (hl_transform_compile(spec, strlen(spec), &t, &err) != 0) {
    fprintf(stderr, "bench_transform: spec does not compile: %s: %s\n", err.path, err.message);
    exit(1);
  }
  return t;
}

/* The median, and the runs' spread (min-max): on a shared machine the
 * spread says how far to trust a difference of two medians. */
static void row(const char *what, double ns, const double *sorted, int runs) {
  printf("%-46s %9.0f events/s %7.3f us/event (runs %.3f-%.3f)\n", what, 1e9 / ns, ns / 1000, sorted[0] / 1000,
         sorted[runs - 1] / 1000);
}

/* --- Partner Info enrichment, warm cache ------------------------------------------------ */

typedef struct {
  hl_pinfo *p;
  hl_pinfo_req req;
  const hl_transform *then; /* the subscription's transformation after the merge, or NULL */
  hl_buf merged;
  size_t info_len;          /* the answer's size (first fetch) */
  int fetched;              /* the first fetch's status + 1 */
} enrich_ctx;

static void on_first_fetch(hl_pinfo_req *r, int status, const char *info, size_t len, const char *why) {
  (void)r, (void)info, (void)len, (void)why;
  enrich_ctx *e = hl_container_of(r, enrich_ctx, req);
  e->fetched = status + 1;
}

/* What the dispatcher does per attempt with a warm cache: the merge and the
 * transformation on one parse, one write. */
static void enrich_work(void *ctx, hl_buf *out) {
  enrich_ctx *e = ctx;
  const char *info = NULL;
  size_t len = 0;
  char err[256];
  if (hl_pinfo_get(e->p, "acme", &e->req, on_first_fetch, &info, &len) != 0) abort(); /* not a hit */
  hl_transform *owned;
  const hl_transform *merge = hl_pinfo_merge_program(e->p, &e->req, info, len, &owned, err, sizeof err);
  if (!merge || owned) abort(); /* the cache keeps the compiled merge */
  const hl_transform *chain[2] = {merge, e->then};
  if (hl_transform_apply_chain(chain, e->then ? 2 : 1, EVENT, strlen(EVENT), out, NULL, NULL) != 0) abort();
}

/* As it was before: the merge written out, then parsed again by the
 * transformation. */
static void two_pass_work(void *ctx, hl_buf *out) {
  enrich_ctx *e = ctx;
  const char *info = NULL;
  size_t len = 0;
  char err[256];
  if (hl_pinfo_get(e->p, "acme", &e->req, on_first_fetch, &info, &len) != 0) abort();
  hl_buf_reset(&e->merged);
  if (hl_pinfo_merge(e->p, &e->req, EVENT, strlen(EVENT), info, len, &e->merged, err, sizeof err) != 0) abort();
  if (hl_transform_apply(e->then, e->merged.data, e->merged.len, out, NULL) != 0) abort();
}

static void on_curl_closed(void *data) { (void)data; }

typedef struct {
  pid_t partner;
  uv_loop_t loop;
  hl_curl_uv curl;
  enrich_ctx e, e10; /* the merge alone; the merge then the 10 operations */
} enrich_rig;

/* A real hl_pinfo whose cache holds partner acme's answer, fetched once
 * from the mock partner (GET /stats); false when that failed. */
static bool enrich_setup(enrich_rig *g) {
  char log[600], url[128], err[256];
  char *argv[] = {(char *)hl_bin_path("tools/mock_partner/hl_mock_partner"), (char *)"--listen", (char *)"127.0.0.1:0",
                  (char *)"--no-record", NULL};
  int port = hl_spawn_listening(argv, NULL, hl_log_path("bench_enrich_partner", log, sizeof log), &g->partner, 10000);
  if (port <= 0) {
    printf("enrichment: the mock partner did not start (see %s)\n", log);
    return false;
  }
  uv_loop_init(&g->loop);
  hl_curl_uv_init(&g->curl, &g->loop, 0);
  snprintf(url, sizeof url, "http://127.0.0.1:%d/stats?partner={partner_id}", port);
  hl_pinfo_options opt = {.url = url, .key = "/partner_info", .ttl_ms = 3600 * 1000, .timeout_ms = 5000};
  enrich_ctx *e = &g->e;
  *e = (enrich_ctx){.merged = HL_BUF_INIT};
  e->p = hl_pinfo_create(&g->loop, &g->curl, &opt, err, sizeof err);
  if (!e->p) abort();
  const char *info = NULL;
  size_t len = 0;
  if (hl_pinfo_get(e->p, "acme", &e->req, on_first_fetch, &info, &len) != 1) abort();
  uint64_t t0 = uv_now(&g->loop);
  while (!e->fetched && uv_now(&g->loop) - t0 < 10000) uv_run(&g->loop, UV_RUN_ONCE);
  if (e->fetched != 1 || hl_pinfo_get(e->p, "acme", &e->req, on_first_fetch, &info, &len) != 0) {
    printf("enrichment: the first fetch failed\n");
    return false;
  }
  e->info_len = len;
  return true;
}

static void enrich_teardown(enrich_rig *g) {
  hl_pinfo_destroy(g->e.p);
  hl_buf_dispose(&g->e.merged);
  hl_curl_uv_close(&g->curl, on_curl_closed, NULL);
  uv_run(&g->loop, UV_RUN_DEFAULT);
  uv_loop_close(&g->loop);
  kill(g->partner, SIGTERM);
  hl_wait(g->partner, 5000);
}

int main(int argc, char **argv) {
  double seconds = argc > 1 ? atof(argv[1]) : 1.0;
  int runs = argc > 2 ? atoi(argv[2]) : 5;
  if (seconds <= 0 || runs < 1 || runs > 32) {
    fprintf(stderr, "usage: bench_transform [seconds per run] [runs, 1..32]\n");
    return 2;
  }
  hl_transform *base = compile(BASELINE), *ten = compile(TEN_OPS), *tpl = compile(TEMPLATE);
  hl_json_doc d;
  hl_json_doc_init(&d);
  if (hl_json_parse(&d, EVENT, strlen(EVENT), NULL) != 0) return 1;
  hl_buf out = HL_BUF_INIT;
  hl_transform_apply(ten, EVENT, strlen(EVENT), &out, NULL);
  printf("event: %zu bytes compact; 10 operations give %zu bytes; median of %d interleaved runs of %.1f s of CPU "
         "each, one thread\n",
         strlen(EVENT), out.len, runs, seconds);
  hl_buf_dispose(&out);
  enrich_rig g;
  bool enrich = enrich_setup(&g);
  enrich_ctx *e = &g.e, *e10 = &g.e10;
  if (enrich) {
    *e10 = *e;
    e10->merged = (hl_buf)HL_BUF_INIT;
    e10->then = ten;
    out = (hl_buf)HL_BUF_INIT;
    enrich_work(e, &out);
    printf("enrichment: a %zu-byte answer merged at /partner_info gives %zu bytes; every timed attempt a cache hit\n",
           e->info_len, out.len);
    hl_buf_dispose(&out);
  }
  apply_ctx a_base = {base, NULL}, a_ten = {ten, NULL}, a_tpl = {tpl, NULL}, p_base = {base, d.root},
            p_ten = {ten, d.root};
  struct {
    const char *what;
    work_fn fn;
    void *ctx;
    double ns[32];
  } c[] = {
    {"parse + write (0 operations)", apply_work, &a_base, {0}},
    {"parse + 10 operations + write", apply_work, &a_ten, {0}},
    {"parse + template (10 leaves)", apply_work, &a_tpl, {0}},
    {"write only (event parsed before)", apply_work, &p_base, {0}},
    {"10 operations + write (parsed)", apply_work, &p_ten, {0}},
    {"warm-cache enrichment alone (lookup + merge)", enrich_work, e, {0}},
    {"warm-cache enrichment + 10 operations", enrich_work, e10, {0}},
    {"  the same in two passes (before)", two_pass_work, e10, {0}},
  };
  size_t nc = enrich ? HL_ARRAY_SIZE(c) : 5;
  /* Interleaved: run r of every case before run r + 1 of any, so a change
   * in the machine's load moves all of them alike. */
  out = (hl_buf)HL_BUF_INIT;
  for (int r = 0; r < runs; r++)
    for (size_t i = 0; i < nc; i++) c[i].ns[r] = measure(c[i].fn, c[i].ctx, &out, seconds);
  hl_buf_dispose(&out);
  double m[HL_ARRAY_SIZE(c)];
  for (size_t i = 0; i < nc; i++) {
    m[i] = median(c[i].ns, runs); /* sorts c[i].ns */
    row(c[i].what, m[i], c[i].ns, runs);
  }
  printf("the 10 operations cost %.3f us/event over parse + write, %.3f us with them (target <= 2 us)\n",
         (m[1] - m[0]) / 1000, m[1] / 1000);
  if (enrich) {
    printf("enrichment adds %.3f us/event to the 10 operations (target < 1 us); %.3f us in two passes\n",
           (m[6] - m[1]) / 1000, (m[7] - m[1]) / 1000);
    hl_buf_dispose(&e10->merged);
    enrich_teardown(&g);
  }
  hl_json_doc_dispose(&d);
  hl_transform_free(base);
  hl_transform_free(ten);
  hl_transform_free(tpl);
  return 0;
}
