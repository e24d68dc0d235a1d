/* hl_spare.h — objects of one size kept for reuse instead of freed: the
 * per-delivery records the loop makes and drops by the thousand a second
 * (a delivery, the store's outcome records), which glibc would otherwise
 * hand back and forth through its slower bins when a burst is freed at
 * once (bench/README.md, "Issue 21"). At most `max` are kept; the rest are
 * freed.
 *
 * Ownership: a kept object belongs to the list until _take hands it out
 * (zeroed, as hl_calloc would) and to its taker until _put gives it back;
 * _dispose frees what is kept. The list's link is the object's first
 * pointer-sized bytes, written only while the list holds it. Loop thread
 * only. */
#ifndef HL_SPARE_H
#define HL_SPARE_H

#include <stddef.h>

typedef struct {
  void *head;
  size_t n, max;
  size_t size; /* the objects' size, at least a pointer's */
} hl_spare;

void hl_spare_init(hl_spare *sp, size_t size, size_t max);
/* A zeroed object of the list's size: a kept one, or a new one. */
void *hl_spare_take(hl_spare *sp);
/* Keeps obj (NULL: nothing), or frees it when max are kept already. */
void hl_spare_put(hl_spare *sp, void *obj);
/* Frees every kept object; the list stays usable (empty). */
void hl_spare_dispose(hl_spare *sp);

#endif
