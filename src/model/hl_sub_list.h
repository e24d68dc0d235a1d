/* hl_sub_list.h — a list of subscriptions held unreferenced: the registry's
 * by event type, a partner's, a host's. The list keeps the order of
 * addition, which the fan-out follows; a subscription leaves every list it
 * is in before it is freed (hl_registry.c unlink_sub). */
#ifndef HL_SUB_LIST_H
#define HL_SUB_LIST_H

#include <stdbool.h>
#include <stddef.h>

typedef struct hl_sub hl_sub; /* model/hl_registry.h */

typedef struct {
  hl_sub **items; /* owned array; the subscriptions are not */
  size_t n, cap;
} hl_sub_list;

void hl_sub_list_add(hl_sub_list *l, hl_sub *s);
/* false when s is not in the list. */
bool hl_sub_list_remove(hl_sub_list *l, hl_sub *s);
/* Frees the array, not the subscriptions; the list is empty after. */
void hl_sub_list_dispose(hl_sub_list *l);

#endif
