#include "model/hl_pinfo_cache.h"
#include "common/hl_common.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

struct hl_pinfo_entry {
  char *partner_id;             /* owned; also the map's key */
  char *value;                  /* owned; NULL while none is kept */
  size_t len;
  void *derived;                /* owned (free_derived); only beside a value */
  uint64_t expires_at;
  bool fetching;
  hl_pinfo_waiter *wait_head, *wait_tail;
  hl_pinfo_entry *prev, *next;  /* LRU list */
};

void hl_pinfo_cache_init(hl_pinfo_cache *c, size_t max_entries) {
  *c = (hl_pinfo_cache){.max_entries = max_entries ? max_entries : 1};
  hl_strmap_init(&c->by_partner);
}

static void unlink_lru(hl_pinfo_cache *c, hl_pinfo_entry *e) {
  if (e->prev) e->prev->next = e->next; else c->lru_head = e->next;
  if (e->next) e->next->prev = e->prev; else c->lru_tail = e->prev;
  e->prev = e->next = NULL;
}

static void push_front(hl_pinfo_cache *c, hl_pinfo_entry *e) {
  e->prev = NULL;
  e->next = c->lru_head;
  if (c->lru_head) c->lru_head->prev = e; else c->lru_tail = e;
  c->lru_head = e;
}

static void drop_derived(hl_pinfo_cache *c, void *derived) {
  if (derived && c->free_derived) c->free_derived(derived);
}

/* The entry keeps no answer from here. */
static void drop_value(hl_pinfo_cache *c, hl_pinfo_entry *e) {
  drop_derived(c, e->derived);
  e->derived = NULL;
  hl_free(e->value);
  e->value = NULL;
  e->len = 0;
}

static void entry_free(hl_pinfo_cache *c, hl_pinfo_entry *e) {
  unlink_lru(c, e);
  hl_strmap_del(&c->by_partner, e->partner_id);
  c->n--;
  drop_value(c, e);
  hl_free(e->partner_id);
  hl_free(e);
}

void hl_pinfo_cache_dispose(hl_pinfo_cache *c) {
  while (c->lru_head) entry_free(c, c->lru_head);
  hl_strmap_dispose(&c->by_partner);
}

/* Room for one more: the least recently used entries with no fetch
 * running go first. Entries being fetched are never dropped (their
 * waiters need them), so the bound can be passed by the fetches running. */
static void make_room(hl_pinfo_cache *c) {
  hl_pinfo_entry *e = c->lru_tail;
  while (c->n >= c->max_entries && e) {
    hl_pinfo_entry *prev = e->prev;
    if (!e->fetching) entry_free(c, e);
    e = prev;
  }
}

static void wait_on(hl_pinfo_entry *e, hl_pinfo_waiter *w) {
  w->next = NULL;
  if (e->wait_tail) e->wait_tail->next = w; else e->wait_head = w;
  e->wait_tail = w;
}

hl_pinfo_lookup_result hl_pinfo_lookup(hl_pinfo_cache *c, const char *partner_id, uint64_t now_ms,
                                       hl_pinfo_waiter *w, const char **value, size_t *len) {
  hl_pinfo_entry *e = hl_strmap_get(&c->by_partner, partner_id);
  if (e) {
    unlink_lru(c, e);
    push_front(c, e);
    if (e->value && now_ms < e->expires_at) {
      c->hits++;
      *value = e->value;
      *len = e->len;
      return HL_PINFO_HIT;
    }
    c->misses++;
    wait_on(e, w);
    if (e->fetching) return HL_PINFO_WAIT;
    e->fetching = true;
    c->fetches++;
    return HL_PINFO_FETCH;
  }
  c->misses++;
  make_room(c);
  e = hl_calloc(1, sizeof *e);
  e->partner_id = hl_strdup(partner_id);
  e->fetching = true;
  hl_strmap_put(&c->by_partner, e->partner_id, e);
  push_front(c, e);
  c->n++;
  c->fetches++;
  wait_on(e, w);
  return HL_PINFO_FETCH;
}

void hl_pinfo_complete(hl_pinfo_cache *c, const char *partner_id, int status, const char *value, size_t len,
                       uint64_t ttl_ms, uint64_t now_ms) {
  hl_pinfo_complete_derived(c, partner_id, status, value, len, NULL, ttl_ms, now_ms);
}

void hl_pinfo_complete_derived(hl_pinfo_cache *c, const char *partner_id, int status, const char *value, size_t len,
                               void *derived, uint64_t ttl_ms, uint64_t now_ms) {
  hl_pinfo_entry *e = hl_strmap_get(&c->by_partner, partner_id);
  if (!e) {
    drop_derived(c, derived);
    return;
  }
  e->fetching = false;
  drop_value(c, e);
  if (status == 0) {
    e->value = hl_malloc(len + 1);
    memcpy(e->value, value, len);
    e->value[len] = '\0';
    e->len = len;
    e->derived = derived;
    e->expires_at = now_ms + ttl_ms;
  } else {
    drop_derived(c, derived);
    c->failures++;
  }
  /* The waiters are taken off first: a done may look the partner up again. */
  hl_pinfo_waiter *w = e->wait_head;
  e->wait_head = e->wait_tail = NULL;
  char *copy = e->value ? hl_strdup(e->value) : NULL; /* a done may evict e */
  while (w) {
    hl_pinfo_waiter *next = w->next;
    w->done(w, status, copy, copy ? len : 0);
    w = next;
  }
  hl_free(copy);
}

void *hl_pinfo_derived(const hl_pinfo_cache *c, const char *partner_id, const char *value, size_t len) {
  const hl_pinfo_entry *e = hl_strmap_get(&c->by_partner, partner_id);
  if (!e || !e->value || !e->derived || e->len != len) return NULL;
  /* A hit hands out e->value itself; a waiter gets a copy of its bytes. */
  return e->value == value || memcmp(e->value, value, len) == 0 ? e->derived : NULL;
}

void hl_pinfo_cancel(hl_pinfo_cache *c, const char *partner_id, hl_pinfo_waiter *w) {
  hl_pinfo_entry *e = hl_strmap_get(&c->by_partner, partner_id);
  if (!e) return;
  hl_pinfo_waiter **pp = &e->wait_head, *prev = NULL;
  while (*pp && *pp != w) {
    prev = *pp;
    pp = &(*pp)->next;
  }
  if (!*pp) return;
  *pp = w->next;
  if (e->wait_tail == w) e->wait_tail = prev;
}

bool hl_pinfo_max_age(const char *cc, uint64_t *ms) {
  if (!cc) return false;
  bool found = false;
  for (const char *p = cc; *p;) {
    while (*p == ' ' || *p == '\t' || *p == ',') p++;
    const char *start = p;
    while (*p && *p != ',') p++;
    size_t n = (size_t)(p - start);
    /* The service said not to keep it: that holds wherever it stands,
     * after a max-age too. */
    if ((n == 8 && strncasecmp(start, "no-store", 8) == 0) || (n == 8 && strncasecmp(start, "no-cache", 8) == 0)) {
      *ms = 0;
      return true;
    }
    if (!found && n > 8 && strncasecmp(start, "max-age=", 8) == 0) {
      uint64_t v = 0;
      size_t k = 8;
      for (; k < n && isdigit((unsigned char)start[k]) && v < UINT64_MAX / 10000; k++) v = v * 10 + (uint64_t)(start[k] - '0');
      while (k < n && (start[k] == ' ' || start[k] == '\t')) k++;
      if (k == n && n > 8 && isdigit((unsigned char)start[8])) {
        *ms = v * 1000; /* the first max-age counts (RFC 9111 4.2.1) */
        found = true;
      }
    }
  }
  return found;
}
