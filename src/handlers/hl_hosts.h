/* hl_hosts.h — the destination hosts of the subscriptions: one admission
 * state per host, shared by every subscription delivering there.
 *
 * A host is what an attempt reaches: scheme, host and port of an HTTP
 * url ("https://api.example.com:443"), or the AWS destination (its type
 * and ARN, queue URL or bus). Its gate holds
 *   - a circuit breaker over every attempt to the host, whichever
 *     subscription made it (several subscriptions to one failing host open
 *     one breaker), with the same settings as a subscription's;
 *   - with adaptive concurrency on, an in-flight cap set by AIMD
 *     (model/hl_aimd.h) under the largest max_in_flight of its
 *     subscriptions, and the pause a Retry-After asks for.
 *
 * Ownership: the table holds a reference to each host; each subscription
 * attached (the dispatcher's state of it) holds one; the host leaves the
 * table when its last subscription detaches. The host's list of
 * subscriptions holds no references.
 */
#ifndef HL_HOSTS_H
#define HL_HOSTS_H

#include <stdbool.h>
#include <stdint.h>

#include "common/hl_buf.h"
#include "common/hl_strmap.h"
#include "model/hl_aimd.h"
#include "model/hl_gate.h"
#include "model/hl_registry.h"

typedef struct hl_hosts hl_hosts;

typedef struct {
  int refs;
  char *key;          /* owned */
  hl_hosts *table;    /* NULL once the table is disposed */
  hl_gate gate;       /* the breaker; max_in_flight: the AIMD limit (0 without) */
  hl_aimd aimd;
  hl_sub_list subs;   /* attached subscriptions (not referenced) */
  size_t wake_from;   /* where the next wake-up starts in subs */
} hl_host;

typedef struct {
  hl_gate_config breaker;   /* breaker_* and window_*; the cap comes from AIMD */
  bool adaptive;            /* AIMD on */
  double latency_factor;    /* AIMD: smoothed latency over this x baseline cuts */
  unsigned default_limit;   /* a subscription's max_in_flight when it gives none */
} hl_hosts_config;

struct hl_hosts {
  hl_strmap by_key;   /* key -> hl_host* */
  hl_hosts_config cfg;
};

void hl_hosts_init(hl_hosts *h, const hl_hosts_config *cfg);
/* Drops the table's references; hosts still attached live on. */
void hl_hosts_dispose(hl_hosts *h);

/* The host key of s's destination, written into out (truncated to n). */
void hl_host_key(const hl_sub *s, char *out, size_t n);
/* The host of s, which joins its list; returns a reference. */
hl_host *hl_hosts_attach(hl_hosts *h, hl_sub *s);
/* s leaves its host (and drops its reference). */
void hl_host_detach(hl_host *host, hl_sub *s);

/* Asked before each send, after the subscription's gate: ADMIT (a slot
 * taken; *seq numbers the attempt for hl_host_done), FULL (the AIMD limit
 * runs), WAIT (the breaker or a Retry-After pause: ask again in *wait_ms). */
hl_gate_answer hl_host_admit(hl_host *host, uint64_t now_ms, uint64_t *wait_ms, uint64_t *seq);
/* Gives back what the last ADMIT took (another gate refused the attempt). */
void hl_host_unadmit(hl_host *host);
/* Whether an in-flight slot is free. */
bool hl_host_has_room(const hl_host *host);
/* An admitted attempt ended: the breaker hears outcome (probe: what
 * hl_gate_probe of the host's gate said at its ADMIT), AIMD the signal. */
void hl_host_done(hl_host *host, uint64_t now_ms, hl_gate_outcome outcome, uint32_t probe, uint64_t seq,
                  hl_aimd_signal sig, double latency_ms, uint64_t retry_after_ms);
/* An operator enabled a subscription of the host: its breaker closes. */
void hl_host_reset(hl_host *host, uint64_t now_ms);

/* The host's state as a JSON object's members (key, breaker, window,
 * in_flight, and the AIMD figures when on). */
void hl_host_write(hl_jw *w, hl_host *host, uint64_t now_ms);

/* Prometheus gauges: hookloop_host_breakers{state}; with adaptive
 * concurrency hookloop_host_concurrency_limit{host} and the counter
 * hookloop_host_concurrency_cuts_total{host}. */
void hl_hosts_render_metrics(const hl_hosts *h, hl_buf *out);

#endif
