/* bench_destinations — deliveries per second per core of hookloop to each
 * destination type, beside HTTP:
 *
 *   [BENCH_EVENTS=2000] [BENCH_RUNS=3] [BENCH_INFLIGHT=32] build/bench/aws/bench_destinations
 *
 * For each of http (the mock partner), sns, sqs and eventbridge (the
 * service peer, tools/aws_service_peer, which checks every SigV4 signature
 * with botocore): a fresh `hookloop serve` (embedded queue, SQLite) gets
 * `events` (default 2000) ~0.3 KB events while its subscription is held at
 * 1 delivery/s; the hold is lifted (an in-place update) and the drain is
 * timed until the receiver has taken them all. The figure is hookloop's
 * CPU time (user + system, from /proc) during the drain: deliveries per CPU
 * second, i.e. per core. The wall-clock rate is printed beside it but
 * measures the receiver as much as hookloop (the Python peer is the slower
 * side). The subscription's max_in_flight is BENCH_INFLIGHT (default 32):
 * many more requests at once than the Python peer has cores for only make
 * them time out and come again, measuring retries. Median of BENCH_RUNS
 * (default 3) runs per type, interleaved. Every
 * wait is bounded (a drain gives up after 120 s, reported as failed).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aws_testutil.h"
#include "common/hl_common.h"
#include "e2e_util.h"
#include "hl_test.h"
#include "hl_testutil.h"

#define AKID "AKIDBENCH"
#define SECRET "bench-secret-key"
#define DRAIN_MAX_MS 120000

static const char *const TYPES[] = {"http", "sns", "sqs", "eventbridge"};

static double cpu_s(pid_t pid) {
  char path[64], buf[2048];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  const char *p = strrchr(buf, ')');
  unsigned long ut = 0, st = 0;
  /* After ") ": state(3) ... utime is field 14, stime 15. */
  if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2) return -1;
  return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static const char *destination(const char *type, const e2e_partner *p, char *out, size_t cap) {
  if (strcmp(type, "http") == 0)
    snprintf(out, cap, "\"url\":\"%s/hook/bench\"", p->base);
  else if (strcmp(type, "sns") == 0)
    snprintf(out, cap, "\"destination\":{\"type\":\"sns\",\"topic_arn\":\"arn:aws:sns:eu-west-1:123456789012:bench\"}");
  else if (strcmp(type, "sqs") == 0)
    snprintf(out, cap, "\"destination\":{\"type\":\"sqs\",\"queue_url\":"
                       "\"https://sqs.eu-west-1.amazonaws.com/123456789012/bench\"}");
  else
    snprintf(out, cap, "\"destination\":{\"type\":\"eventbridge\",\"source\":\"bench\"}");
  return out;
}

static int inflight = 32;

static long subscribe(const e2e_hookloop *h, const char *dest, int rate) {
  char u[256], body[1024];
  snprintf(u, sizeof u, "%s/admin/subscriptions", h->base);
  snprintf(body, sizeof body,
           "{\"partner_id\":\"bench\",\"event_type\":\"Payment\",%s,\"max_in_flight\":%d,\"rate_limit_per_s\":%d}",
           dest, inflight, rate);
  return e2e_call("POST", u, body, NULL);
}

/* Taken by the receiver so far. */
static long taken(const char *type, svc_peer *peer, const e2e_partner *p) {
  return strcmp(type, "http") == 0 ? (long)e2e_partner_stat(p, "requests") : svc_peer_stat(peer, "accepted");
}

/* One run: deliveries per CPU second, and per wall second in *wall; -1 when it failed. */
static double run(const char *type, int events, svc_peer *peer, double *wall) {
  char reset[128];
  snprintf(reset, sizeof reset, "%s/_peer/reset", peer->endpoint);
  hl_http("POST", reset, "", 0, NULL, NULL);
  e2e_partner partner = {0};
  const char *pargs[] = {"--no-record", NULL};
  e2e_start_partner(&partner, pargs);
  char env[3][160];
  snprintf(env[0], sizeof env[0], "AWS_ENDPOINT_URL=%s", peer->endpoint);
  const char *envp[] = {"AWS_ACCESS_KEY_ID=" AKID, "AWS_SECRET_ACCESS_KEY=" SECRET, "AWS_REGION=eu-west-1",
                        "LOG_LEVEL=warn", env[0], NULL};
  e2e_hookloop h = {0};
  e2e_start_hookloop(&h, envp);
  char u[256], dest[512];
  snprintf(u, sizeof u, "%s/admin/schemas", h.base);
  e2e_call("POST", u,
           "{\"event_type\":\"Payment\",\"domain\":\"payments\",\"version\":1,\"status\":\"ACTIVE\","
           "\"schema\":{\"type\":\"object\"}}",
           NULL);
  destination(type, &partner, dest, sizeof dest);
  double rate = -1;
  *wall = -1;
  if (subscribe(&h, dest, 1) != 201) goto out;
  /* The backlog, in bulk requests of 100. */
  snprintf(u, sizeof u, "%s/api/v1/events/bulk", h.base);
  for (int i = 0; i < events; i += 100) {
    hl_buf b = HL_BUF_INIT;
    hl_buf_putc(&b, '[');
    for (int k = i; k < i + 100 && k < events; k++) {
      char ev[1024], id[64];
      snprintf(id, sizeof id, "bench-%s-%d", type, k);
      e2e_event_json(ev, sizeof ev, id, "100.10");
      if (k > i) hl_buf_putc(&b, ',');
      hl_buf_puts(&b, ev);
    }
    hl_buf_putc(&b, ']');
    long code = e2e_call("POST", u, b.data, NULL);
    hl_buf_dispose(&b);
    if (code != 202 && code != 200 && code != 207) goto out;
  }
  long before = taken(type, peer, &partner);
  double c0 = cpu_s(h.pid);
  uint64_t t0 = hl_mono_ms();
  if (subscribe(&h, dest, 0) != 200) goto out; /* lift the hold */
  long got = before;
  while (got < events && hl_mono_ms() - t0 < DRAIN_MAX_MS) {
    hl_sleep_ms(20);
    got = taken(type, peer, &partner);
  }
  double c1 = cpu_s(h.pid);
  uint64_t ms = hl_mono_ms() - t0;
  if (got >= events && c1 > c0) {
    rate = (double)(events - before) / (c1 - c0);
    *wall = (double)(events - before) * 1000.0 / (double)(ms ? ms : 1);
  }
out:
  e2e_stop_hookloop(&h, SIGTERM, 10000);
  hl_rmtree(h.dir);
  free(h.dir);
  e2e_stop_partner(&partner);
  return rate;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

HL_TEST_T(bench, 3600) {
  const char *ev = getenv("BENCH_EVENTS"), *rn = getenv("BENCH_RUNS"), *mif = getenv("BENCH_INFLIGHT");
  if (mif && atoi(mif) > 0) inflight = atoi(mif);
  int events = ev ? atoi(ev) : 2000, runs = rn ? atoi(rn) : 3;
  if (events < 100) events = 100;
  if (runs < 1 || runs > 9) runs = 3;
  svc_peer peer;
  svc_peer_start(&peer, AKID, SECRET, NULL);
  double per_cpu[4][9], per_wall[4][9];
  int ok[4] = {0};
  for (int r = 0; r < runs; r++)
    for (int t = 0; t < 4; t++) {
      double wall;
      double v = run(TYPES[t], events, &peer, &wall);
      printf("run %d %-11s %s", r + 1, TYPES[t], v < 0 ? "failed\n" : "");
      if (v >= 0) {
        printf("%.0f deliveries per CPU second (%.0f CPU us each), %.0f/s wall\n", v, 1e6 / v, wall);
        per_cpu[t][ok[t]] = v;
        per_wall[t][ok[t]++] = wall;
      }
      fflush(stdout);
    }
  svc_peer_stop(&peer);
  double load[3] = {0};
  FILE *lf = fopen("/proc/loadavg", "r");
  if (lf) {
    if (fscanf(lf, "%lf %lf %lf", &load[0], &load[1], &load[2]) != 3) load[0] = load[1] = load[2] = 0;
    fclose(lf);
  }
  printf("\n%d events per run, max_in_flight %d, median of %d runs (hookloop's CPU during the drain); %ld cores, "
         "load average %.2f %.2f %.2f at the end\n\n",
         events, inflight, runs, sysconf(_SC_NPROCESSORS_ONLN), load[0], load[1], load[2]);
  printf("| destination | deliveries per CPU second | hookloop CPU us per delivery | wall-clock deliveries/s |\n"
         "|---|---:|---:|---:|\n");
  for (int t = 0; t < 4; t++) {
    if (!ok[t]) {
      printf("| %s | failed | failed | failed |\n", TYPES[t]);
      continue;
    }
    qsort(per_cpu[t], (size_t)ok[t], sizeof(double), cmp);
    qsort(per_wall[t], (size_t)ok[t], sizeof(double), cmp);
    /* The median of an even count is the upper middle: a run, not a mean. */
    double m = per_cpu[t][ok[t] / 2];
    printf("| %s | %.0f | %.0f | %.0f |\n", TYPES[t], m, 1e6 / m, per_wall[t][ok[t] / 2]);
  }
}
