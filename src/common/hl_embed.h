/* hl_embed.h — files compiled into the binary as data (cmake/hl_embed.cmake
 * writes one table per use: the JSON Schema meta-schemas, the OpenAPI
 * document, the console's static files). The tables and their bytes are
 * static and never freed. */
#ifndef HL_EMBED_H
#define HL_EMBED_H

#include <stddef.h>

typedef struct {
  const char *name;   /* what the build was told to call it: a URI, a file name */
  const char *data;   /* the file's bytes, followed by a NUL not counted in len */
  size_t len;
} hl_embed_file;

/* The entry named name (its first len bytes), or NULL; tables end with a NULL name. */
const hl_embed_file *hl_embed_find(const hl_embed_file *table, const char *name, size_t len);

#endif
