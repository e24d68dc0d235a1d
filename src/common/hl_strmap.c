#include "common/hl_strmap.h"
#include "common/hl_common.h"

#include <string.h>

static char tomb_marker;
#define TOMB (&tomb_marker)

static size_t hash(const char *s) {
  size_t h = 1469598103934665603ull; /* FNV-1a */
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

void hl_strmap_init(hl_strmap *m) { *m = (hl_strmap){0}; }

void hl_strmap_dispose(hl_strmap *m) {
  for (size_t i = 0; i < m->cap; i++)
    if (m->slots[i].key && m->slots[i].key != TOMB) hl_free(m->slots[i].key);
  hl_free(m->slots);
  hl_strmap_init(m);
}

static hl_strmap_slot *find(const hl_strmap *m, const char *key) {
  if (m->cap == 0) return NULL;
  for (size_t i = hash(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
    hl_strmap_slot *s = &m->slots[i];
    if (s->key == NULL) return NULL;
    if (s->key != TOMB && strcmp(s->key, key) == 0) return s;
  }
}

void *hl_strmap_get(const hl_strmap *m, const char *key) {
  hl_strmap_slot *s = find(m, key);
  return s ? s->value : NULL;
}

static void grow(hl_strmap *m) {
  hl_strmap old = *m;
  m->cap = old.cap ? old.cap * 2 : 16;
  if (old.len * 4 < old.cap) m->cap = old.cap; /* mostly tombstones: rehash in place size */
  m->slots = hl_calloc(m->cap, sizeof *m->slots);
  m->len = m->used = 0;
  for (size_t i = 0; i < old.cap; i++) {
    char *k = old.slots[i].key;
    if (k == NULL || k == TOMB) continue;
    for (size_t j = hash(k) & (m->cap - 1);; j = (j + 1) & (m->cap - 1))
      if (m->slots[j].key == NULL) { m->slots[j] = old.slots[i]; break; }
    m->len++;
    m->used++;
  }
  hl_free(old.slots);
}

void *hl_strmap_put(hl_strmap *m, const char *key, void *value) {
  hl_strmap_slot *s = find(m, key);
  if (s) { void *prev = s->value; s->value = value; return prev; }
  if ((m->used + 1) * 4 > m->cap * 3) grow(m);
  for (size_t i = hash(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
    s = &m->slots[i];
    if (s->key == NULL || s->key == TOMB) {
      if (s->key == NULL) m->used++;
      s->key = hl_strdup(key);
      s->value = value;
      m->len++;
      return NULL;
    }
  }
}

void *hl_strmap_del(hl_strmap *m, const char *key) {
  hl_strmap_slot *s = find(m, key);
  if (!s) return NULL;
  void *v = s->value;
  hl_free(s->key);
  s->key = TOMB;
  s->value = NULL;
  m->len--;
  return v;
}

int hl_strmap_next(const hl_strmap *m, size_t *iter, const char **key, void **value) {
  for (; *iter < m->cap; (*iter)++) {
    hl_strmap_slot *s = &m->slots[*iter];
    if (s->key && s->key != TOMB) {
      if (key) *key = s->key;
      if (value) *value = s->value;
      (*iter)++;
      return 1;
    }
  }
  return 0;
}

size_t hl_strmap_len(const hl_strmap *m) { return m->len; }
