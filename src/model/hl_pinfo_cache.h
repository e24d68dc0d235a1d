/* hl_pinfo_cache.h — the Partner Info cache (issue 17, part 2): one answer
 * per partner, kept for a TTL, with one fetch however many deliveries of a
 * partner miss at once, and a bound on the number of partners kept.
 *
 * No I/O and no clock of its own: the caller fetches (on the loop, through
 * curl multi) when lookup says so, and hands the outcome to complete, which
 * answers every waiter of that partner. Times are the caller's ms.
 *
 * Ownership: the cache owns its copies of partner ids and answers; a waiter
 * is the caller's (embedded in a delivery) and must stay alive until its
 * done runs or it is cancelled. done never runs inside lookup.
 *
 * Used by handlers/hl_pinfo (the fetch and the merge; docs/enrichment.md).
 */
#ifndef HL_PINFO_CACHE_H
#define HL_PINFO_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/hl_strmap.h"

typedef struct hl_pinfo_waiter hl_pinfo_waiter;
struct hl_pinfo_waiter {
  hl_pinfo_waiter *next;
  /* status 0: value (len bytes, the cache's; copy it to keep it) is the
   * partner's answer; otherwise the fetch's error (a negative hl_err). */
  void (*done)(hl_pinfo_waiter *w, int status, const char *value, size_t len);
};

typedef struct hl_pinfo_entry hl_pinfo_entry;

typedef struct {
  hl_strmap by_partner;        /* partner id -> hl_pinfo_entry* */
  hl_pinfo_entry *lru_head;    /* most recently used first */
  hl_pinfo_entry *lru_tail;
  size_t n, max_entries;
  uint64_t hits, misses, fetches, failures;
  /* Frees what the owner derived from an answer (hl_pinfo: the merge
   * compiled from it), when that answer is dropped; the owner sets it after
   * init. NULL: derived objects are not freed (keep none then). */
  void (*free_derived)(void *derived);
} hl_pinfo_cache;

typedef enum {
  HL_PINFO_HIT,      /* value and len hold the answer now; the waiter is not used */
  HL_PINFO_FETCH,    /* the caller must fetch, then call complete; the waiter waits */
  HL_PINFO_WAIT      /* a fetch for this partner is running; the waiter waits for it */
} hl_pinfo_lookup_result;

void hl_pinfo_cache_init(hl_pinfo_cache *c, size_t max_entries);
/* Answers waiters nothing: call only when none waits (at shutdown after
 * cancelling them). */
void hl_pinfo_cache_dispose(hl_pinfo_cache *c);

hl_pinfo_lookup_result hl_pinfo_lookup(hl_pinfo_cache *c, const char *partner_id, uint64_t now_ms,
                                       hl_pinfo_waiter *w, const char **value, size_t *len);
/* The fetch for partner_id ended: status 0 with the answer (kept until
 * now_ms + ttl_ms; ttl_ms 0 keeps it for no later lookup), or an error
 * (nothing is kept, so the next lookup fetches again). Every waiter's done
 * runs, in the order they came. */
void hl_pinfo_complete(hl_pinfo_cache *c, const char *partner_id, int status, const char *value, size_t len,
                       uint64_t ttl_ms, uint64_t now_ms);
/* The same, with an object the owner derived from the answer (status 0),
 * kept beside it so every hit can use it instead of deriving it again
 * (hl_pinfo keeps the merge compiled from the answer). The cache owns
 * derived from here: free_derived frees it when the answer is dropped
 * (replaced, expired and refetched, evicted, disposed), or at once when it
 * is not kept (an error status, a partner no longer cached). */
void hl_pinfo_complete_derived(hl_pinfo_cache *c, const char *partner_id, int status, const char *value, size_t len,
                               void *derived, uint64_t ttl_ms, uint64_t now_ms);
/* What was derived from partner_id's kept answer, when that answer is the
 * len bytes at value (the pointer a hit gave out, or a copy of its bytes);
 * NULL otherwise. No effect on the counters or the LRU order. */
void *hl_pinfo_derived(const hl_pinfo_cache *c, const char *partner_id, const char *value, size_t len);
/* Takes w out of its partner's waiters (its done will not run). */
void hl_pinfo_cancel(hl_pinfo_cache *c, const char *partner_id, hl_pinfo_waiter *w);

/* The max-age of a Cache-Control header value in ms: true and *ms when it
 * has one (no-store and no-cache give 0, wherever they stand); false
 * otherwise. */
bool hl_pinfo_max_age(const char *cache_control, uint64_t *ms);

#endif
