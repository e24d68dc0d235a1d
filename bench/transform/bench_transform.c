/* Transformation throughput on one core: the ~1 KB payment event of
 * bench_schema through a 10-operation spec (one of each kind of edit, all on
 * different members) and through a 10-leaf template, beside the plain
 * parse + compact write every transformation includes. Each figure is the
 * median of several timed runs of this thread's CPU time (so other load on
 * the machine moves it less than wall time); "(parsed)" applies to an event
 * parsed beforehand, which is what a processor that has already parsed the
 * event for its schema and filters pays.
 *
 *   bench_transform [seconds per run, 1] [runs, 5]
 */
#include "common/hl_common.h"
#include "transform/hl_transform.h"
#include "../bench_event.h"

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

/* ns per event, median of `runs` runs of `seconds` each. parsed: apply to
 * the event parsed once beforehand. */
static double measure(const hl_transform *t, const hl_json *parsed, double seconds, int runs) {
  double ns[32];
  size_t len = strlen(EVENT);
  hl_buf out = HL_BUF_INIT;
  for (int r = 0; r < runs; r++) {
    uint64_t n = 0, t0 = cpu_ns(), el;
    do {
      for (int i = 0; i < 1000; i++) {
        hl_buf_reset(&out);
        int rc = parsed ? hl_transform_apply_json(t, parsed, &out, NULL) : hl_transform_apply(t, EVENT, len, &out, NULL);
        if (rc != 0) abort();
      }
      n += 1000;
      el = cpu_ns() - t0;
    } while ((double)el < seconds * 1e9);
    ns[r] = (double)el / (double)n;
  }
  hl_buf_dispose(&out);
  qsort(ns, (size_t)runs, sizeof *ns, cmp_double);
  return runs % 2 ? ns[runs / 2] : (ns[runs / 2 - 1] + ns[runs / 2]) / 2;
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

static void row(const char *what, double ns) { printf("%-34s %10.0f events/s %8.0f ns/event\n", what, 1e9 / ns, ns); }

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
  printf("event: %zu bytes compact; 10 operations give %zu bytes; median of %d runs of %.1f s of CPU, one thread\n",
         strlen(EVENT), out.len, runs, seconds);
  hl_buf_dispose(&out);
  double b = measure(base, NULL, seconds, runs), t10 = measure(ten, NULL, seconds, runs),
         tt = measure(tpl, NULL, seconds, runs), b_only = measure(base, d.root, seconds, runs),
         t10_only = measure(ten, d.root, seconds, runs);
  row("parse + write (0 operations)", b);
  row("parse + 10 operations + write", t10);
  row("parse + template (10 leaves)", tt);
  row("write only (event parsed before)", b_only);
  row("10 operations + write (parsed)", t10_only);
  printf("the 10 operations cost %.0f ns/event over parse + write (target <= 2000 ns)\n", t10 - b);
  hl_json_doc_dispose(&d);
  hl_transform_free(base);
  hl_transform_free(ten);
  hl_transform_free(tpl);
  return 0;
}
