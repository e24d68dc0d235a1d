/* Lists of unreferenced subscriptions (see hl_sub_list.h). */
#include "model/hl_sub_list.h"
#include "common/hl_common.h"

#include <string.h>

void hl_sub_list_add(hl_sub_list *l, hl_sub *s) {
  if (l->n == l->cap) {
    l->cap = l->cap ? l->cap * 2 : 4;
    l->items = hl_realloc(l->items, l->cap * sizeof *l->items);
  }
  l->items[l->n++] = s;
}

bool hl_sub_list_remove(hl_sub_list *l, hl_sub *s) {
  for (size_t i = 0; i < l->n; i++)
    if (l->items[i] == s) {
      memmove(&l->items[i], &l->items[i + 1], (l->n - i - 1) * sizeof *l->items);
      l->n--;
      return true;
    }
  return false;
}

void hl_sub_list_dispose(hl_sub_list *l) {
  hl_free(l->items);
  *l = (hl_sub_list){0};
}
