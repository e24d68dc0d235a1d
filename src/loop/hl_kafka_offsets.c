#include "loop/hl_kafka_offsets.h"
#include "common/hl_common.h"

#include <string.h>

/* States in the ring; 0 so that a grown ring starts as "taken". */
enum { TAKEN = 0, DONE = 1, RELEASED = 2 };

void hl_kafka_offsets_init(hl_kafka_offsets *o) {
  memset(o, 0, sizeof *o);
  o->base = -1;
  o->next = -1;
  o->committed = -1;
}

void hl_kafka_offsets_dispose(hl_kafka_offsets *o) {
  hl_free(o->done);
  hl_kafka_offsets_init(o);
}

void hl_kafka_offsets_reset(hl_kafka_offsets *o) {
  uint8_t *d = o->done;
  size_t cap = o->cap;
  int64_t committed = o->committed;
  hl_kafka_offsets_init(o);
  o->done = d;
  o->cap = cap;
  o->committed = committed;
  if (d) memset(d, 0, cap);
}

static size_t span(const hl_kafka_offsets *o) { return o->base < 0 ? 0 : (size_t)(o->next - o->base); }

static void grow(hl_kafka_offsets *o, size_t need) {
  if (need <= o->cap) return;
  size_t cap = o->cap ? o->cap : 64;
  while (cap < need) cap *= 2;
  uint8_t *d = hl_calloc(cap, 1);
  size_t n = span(o);
  for (size_t i = 0; i < n; i++) d[i] = o->done[(o->head + i) % o->cap];
  hl_free(o->done);
  o->done = d;
  o->cap = cap;
  o->head = 0;
}

static uint8_t *slot(hl_kafka_offsets *o, int64_t offset) {
  return &o->done[(o->head + (size_t)(offset - o->base)) % o->cap];
}

bool hl_kafka_offsets_take(hl_kafka_offsets *o, int64_t offset) {
  if (o->base < 0) {
    o->base = offset;
    o->next = offset;
    o->head = 0;
  }
  if (offset < o->base) return false; /* done and behind the committable offset */
  if (offset < o->next) {
    /* Seen before (a rewind): only a released message is handed out again. */
    uint8_t *s = slot(o, offset);
    if (*s != RELEASED) return false;
    *s = TAKEN;
    return true;
  }
  /* Offsets skipped over (compacted, transaction markers) count as done. */
  size_t need = (size_t)(offset + 1 - o->base);
  grow(o, need);
  for (int64_t k = o->next; k < offset; k++) *slot(o, k) = DONE;
  *slot(o, offset) = TAKEN;
  o->next = offset + 1;
  return true;
}

void hl_kafka_offsets_release(hl_kafka_offsets *o, int64_t offset) {
  if (o->base < 0 || offset < o->base || offset >= o->next) return;
  uint8_t *s = slot(o, offset);
  if (*s == TAKEN) *s = RELEASED;
}

void hl_kafka_offsets_done(hl_kafka_offsets *o, int64_t offset) {
  if (o->base < 0 || offset < o->base || offset >= o->next) return;
  *slot(o, offset) = DONE;
  /* Advance over the finished prefix. */
  while (o->base < o->next && o->done[o->head] == DONE) {
    o->done[o->head] = TAKEN;
    o->head = (o->head + 1) % o->cap;
    o->base++;
  }
}

int64_t hl_kafka_offsets_committable(const hl_kafka_offsets *o) { return o->base; }

size_t hl_kafka_offsets_pending(const hl_kafka_offsets *o) {
  size_t n = 0, s = span(o);
  for (size_t i = 0; i < s; i++) n += o->done[(o->head + i) % o->cap] != DONE;
  return n;
}
