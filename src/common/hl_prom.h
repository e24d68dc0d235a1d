/* hl_prom.h — Prometheus text exposition of a histogram, shared by the
 * figures that keep one (obs/hl_metrics: partner latency; loop/hl_loop_stats:
 * loop turns), so that every histogram on /metrics has one layout. */
#ifndef HL_PROM_H
#define HL_PROM_H

#include <stdint.h>

#include "common/hl_buf.h"

/* Writes # HELP, # TYPE, one _bucket line per bound (cumulative) and +Inf,
 * _sum and _count. buckets[i] counts the observations in bound i alone
 * (above bound i-1, at most bound i); count is every observation, those
 * above the last bound included. */
void hl_prom_histogram(hl_buf *out, const char *name, const char *help, const double *bounds,
                       const uint64_t *buckets, int nbounds, uint64_t count, double sum);

#endif
