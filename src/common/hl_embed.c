#include "common/hl_embed.h"

#include <string.h>

const hl_embed_file *hl_embed_find(const hl_embed_file *table, const char *name, size_t len) {
  for (const hl_embed_file *f = table; f->name; f++)
    if (strlen(f->name) == len && memcmp(f->name, name, len) == 0) return f;
  return NULL;
}
