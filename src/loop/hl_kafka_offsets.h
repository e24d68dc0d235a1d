/* hl_kafka_offsets.h — at-least-once bookkeeping for one partition.
 *
 * Messages are "taken" in offset order as they are consumed and "done" in
 * any order once they reached a durable state (delivered, on a retry topic,
 * dead-lettered). The committable offset is the first one not done: a
 * commit never moves past unfinished work, so a crash re-delivers what was
 * in flight and loses nothing. A message handed back unfinished is
 * "released": after a rewind it is taken again, while the messages after
 * it that are still running or done are not (take says which). */
#ifndef HL_KAFKA_OFFSETS_H
#define HL_KAFKA_OFFSETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
  int64_t base;        /* first offset not yet done (next to commit); -1 before the first take */
  int64_t next;        /* one past the highest offset taken */
  uint8_t *done;       /* ring of states (taken, done, released) for [base, next) */
  size_t cap, head;    /* ring capacity and index of base */
  int64_t committed;   /* last offset handed to a commit, -1 none */
} hl_kafka_offsets;

void hl_kafka_offsets_init(hl_kafka_offsets *o);
void hl_kafka_offsets_dispose(hl_kafka_offsets *o);
/* A consumed message. Returns true when it is to be handed out: a new
 * offset, or a released one consumed again after a rewind; false for an
 * offset still running or already done (it came again with a rewind). */
bool hl_kafka_offsets_take(hl_kafka_offsets *o, int64_t offset);
/* A message handed back unfinished: taken again when it comes again. */
void hl_kafka_offsets_release(hl_kafka_offsets *o, int64_t offset);
/* A message reached a durable state. Unknown offsets are ignored. */
void hl_kafka_offsets_done(hl_kafka_offsets *o, int64_t offset);
/* The offset to commit (first not done), or -1 when nothing was taken. */
int64_t hl_kafka_offsets_committable(const hl_kafka_offsets *o);
/* Messages taken and not done. */
size_t hl_kafka_offsets_pending(const hl_kafka_offsets *o);
/* Forget everything (a new or revoked assignment). */
void hl_kafka_offsets_reset(hl_kafka_offsets *o);

#endif
