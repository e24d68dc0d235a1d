/* hl_strmap.h — a string-keyed hash map (open addressing, linear probing).
 * Keys are copied and owned by the map; values are caller-owned pointers. */
#ifndef HL_STRMAP_H
#define HL_STRMAP_H

#include <stddef.h>

typedef struct {
  char *key;     /* NULL: empty slot; HL_STRMAP_TOMB: deleted */
  void *value;
} hl_strmap_slot;

typedef struct {
  hl_strmap_slot *slots;
  size_t cap, len, used; /* used counts live + tombstones */
} hl_strmap;

void hl_strmap_init(hl_strmap *m);
void hl_strmap_dispose(hl_strmap *m); /* frees keys, not values */
void *hl_strmap_get(const hl_strmap *m, const char *key);
/* Inserts or replaces; returns the previous value or NULL. */
void *hl_strmap_put(hl_strmap *m, const char *key, void *value);
/* Removes; returns the removed value or NULL. */
void *hl_strmap_del(hl_strmap *m, const char *key);
/* Iteration: for (size_t i = 0; hl_strmap_next(m, &i, &k, &v);) ... */
int hl_strmap_next(const hl_strmap *m, size_t *iter, const char **key, void **value);
size_t hl_strmap_len(const hl_strmap *m);

#endif
