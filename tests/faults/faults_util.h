/* faults_util.h — what the fault matrix and the soak read from a running
 * hookloop: its resident memory and open fds from /proc, how long /healthz
 * takes to answer, and the figures of GET /admin/stats. */
#ifndef FAULTS_UTIL_H
#define FAULTS_UTIL_H

#include <stdint.h>
#include <sys/types.h>

#include "e2e_util.h"

/* VmRSS of the process in KiB (/proc/<pid>/status), or -1. */
long faults_rss_kb(pid_t pid);
/* GET /healthz once on a new connection: returns its status (0 on a transport
 * error) and sets *ms to the time it took. */
long faults_healthz(const e2e_hookloop *h, double *ms);
/* A figure of GET /admin/stats: a top-level member ("backlog", "in_flight",
 * "in_memory") or, with counters=1, one of "counters" ("events_accepted",
 * "deliveries_success", ...); -1 when absent or null. */
int64_t faults_stat(const e2e_hookloop *h, const char *name, int counters);
/* Polls /admin/stats until backlog and in_flight are 0 or timeout_ms passed;
 * returns the last backlog. */
int64_t faults_wait_drained(const e2e_hookloop *h, int timeout_ms);

#endif
