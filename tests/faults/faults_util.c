#include "faults_util.h"
#include "hl_test.h"
#include "hl_testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

long faults_rss_kb(pid_t pid) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  long kb = -1;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, "VmRSS:", 6) == 0) { kb = atol(line + 6); break; }
  fclose(f);
  return kb;
}

static double mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

long faults_healthz(const e2e_hookloop *h, double *ms) {
  char u[128];
  snprintf(u, sizeof u, "%s/healthz", h->base);
  double t0 = mono_ms();
  long code = hl_http("GET", u, NULL, 0, NULL, NULL);
  if (ms) *ms = mono_ms() - t0;
  return code;
}

int64_t faults_stat(const e2e_hookloop *h, const char *name, int counters) {
  char u[128];
  snprintf(u, sizeof u, "%s/admin/stats", h->base);
  hl_json_doc doc;
  int64_t v = -1;
  if (e2e_call("GET", u, NULL, &doc) == 200) {
    const hl_json *o = counters ? hl_json_get(doc.root, "counters") : doc.root;
    if (!o || hl_json_int64(hl_json_get(o, name), &v) != 0) v = -1;
  }
  hl_json_doc_dispose(&doc);
  return v;
}

int64_t faults_wait_drained(const e2e_hookloop *h, int timeout_ms) {
  int64_t backlog = -1;
  for (int waited = 0; waited <= timeout_ms; waited += 100) {
    backlog = faults_stat(h, "backlog", 0);
    if (backlog == 0 && faults_stat(h, "in_flight", 0) == 0) return 0;
    hl_sleep_ms(100);
  }
  return backlog;
}
