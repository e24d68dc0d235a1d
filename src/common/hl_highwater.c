#include "common/hl_highwater.h"

void hl_highwater_init(hl_highwater *h, uint64_t window_ms) {
  *h = (hl_highwater){.window_ms = window_ms ? window_ms : 1};
}

size_t hl_highwater_note(hl_highwater *h, size_t level, uint64_t now_ms) {
  if (now_ms >= h->end_ms) {
    /* Between the last note and now the level was h->last: a window that
     * passed without a note had that level all along. */
    h->prev = now_ms >= h->end_ms + h->window_ms ? h->last : h->cur;
    h->cur = h->last;
    h->end_ms = now_ms + h->window_ms;
  }
  if (level > h->cur) h->cur = level;
  h->last = level;
  return h->cur > h->prev ? h->cur : h->prev;
}
