/* hl_prom.c — a histogram in Prometheus text (hl_prom.h). */
#include "common/hl_prom.h"

void hl_prom_histogram(hl_buf *o, const char *name, const char *help, const double *bounds,
                       const uint64_t *buckets, int nbounds, uint64_t count, double sum) {
  hl_buf_printf(o, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
  uint64_t cum = 0;
  for (int i = 0; i < nbounds; i++) {
    cum += buckets[i];
    hl_buf_printf(o, "%s_bucket{le=\"%g\"} %llu\n", name, bounds[i], (unsigned long long)cum);
  }
  hl_buf_printf(o, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)count);
  hl_buf_printf(o, "%s_sum %.6f\n%s_count %llu\n", name, sum, name, (unsigned long long)count);
}
