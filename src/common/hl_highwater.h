/* hl_highwater.h — the most a level reached over the current window and
 * the one before: how many objects a pool keeps ready for the next burst.
 *
 * A pool that keeps a fixed number of idle objects frees the rest of every
 * burst larger than that number, and the next burst makes them again: the
 * HTTP sender's calls at 512 in flight made ~0.5 easy handles a delivery
 * with 256 kept (bench/README.md, "the HTTP calls kept for the next
 * burst"). Keeping as many as were in use recently follows the load up at
 * once and back down within two windows of a smaller load.
 *
 * Times are ms on any clock that does not go back (uv_now). Loop thread
 * only; no allocation. */
#ifndef HL_HIGHWATER_H
#define HL_HIGHWATER_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
  uint64_t window_ms;
  uint64_t end_ms; /* when the current window ends */
  size_t cur;      /* the most in the current window */
  size_t prev;     /* the most in the window before */
  size_t last;     /* the level as last noted */
} hl_highwater;

void hl_highwater_init(hl_highwater *h, uint64_t window_ms);
/* Notes that the level is `level` from now_ms on; returns the most it was
 * in the current window and the one before (this level included). */
size_t hl_highwater_note(hl_highwater *h, size_t level, uint64_t now_ms);

#endif
