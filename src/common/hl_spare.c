#include "common/hl_spare.h"
#include "common/hl_common.h"

#include <string.h>

void hl_spare_init(hl_spare *sp, size_t size, size_t max) {
  sp->head = NULL;
  sp->n = 0;
  sp->max = max;
  sp->size = size < sizeof(void *) ? sizeof(void *) : size;
}

void *hl_spare_take(hl_spare *sp) {
  void *obj = sp->head;
  if (!obj) return hl_calloc(1, sp->size);
  memcpy(&sp->head, obj, sizeof sp->head);
  sp->n--;
  memset(obj, 0, sp->size);
  return obj;
}

void hl_spare_put(hl_spare *sp, void *obj) {
  if (!obj) return;
  if (sp->n >= sp->max) {
    hl_free(obj);
    return;
  }
  memcpy(obj, &sp->head, sizeof sp->head);
  sp->head = obj;
  sp->n++;
}

void hl_spare_dispose(hl_spare *sp) {
  while (sp->head) {
    void *obj = sp->head;
    memcpy(&sp->head, obj, sizeof sp->head);
    hl_free(obj);
  }
  sp->n = 0;
}
