/* A keyed hash of JSON values (see hl_json_hash.h). */
#include "json/hl_json_hash.h"
#include "common/hl_common.h"
#include "common/hl_hash.h"
#include "json/hl_decimal.h"

#include <string.h>

/* Two 64-bit words into one: what joins a tag, a child or a name to a hash. */
static uint64_t mix(uint64_t a, uint64_t b) {
  uint64_t w[2] = {a, b};
  return hl_hash_bytes(w, sizeof w);
}

enum { TAG_NULL = 1, TAG_FALSE, TAG_TRUE, TAG_NUMBER, TAG_STRING, TAG_ARRAY, TAG_OBJECT };

static uint64_t number_hash(const hl_json *v) {
  char small[128];
  size_t need = hl_decimal_canonical(v->u.str, v->len, small, sizeof small);
  if (need <= sizeof small) return mix(TAG_NUMBER, hl_hash_bytes(small, need));
  char *big = hl_malloc(need);
  hl_decimal_canonical(v->u.str, v->len, big, need);
  uint64_t h = mix(TAG_NUMBER, hl_hash_bytes(big, need));
  hl_free(big);
  return h;
}

uint64_t hl_json_hash(const hl_json *v, uint64_t *nodes) {
  if (nodes) (*nodes)++;
  switch (v->type) {
  case HL_JSON_NULL: return mix(TAG_NULL, 0);
  case HL_JSON_FALSE: return mix(TAG_FALSE, 0);
  case HL_JSON_TRUE: return mix(TAG_TRUE, 0);
  case HL_JSON_NUMBER: return number_hash(v);
  case HL_JSON_STRING: return mix(TAG_STRING, hl_hash_bytes(v->u.str, v->len));
  case HL_JSON_ARRAY: {
    uint64_t h = mix(TAG_ARRAY, v->len);
    for (uint32_t i = 0; i < v->len; i++) h = mix(h, hl_json_hash(&v->u.items[i], nodes));
    return h;
  }
  case HL_JSON_OBJECT: {
    /* Order-free: a sum of one keyed hash per (name, value); a name given
     * twice counts once, with its last value, as lookups see it. */
    hl_name_index ix;
    hl_name_index_build(&ix, v->u.members, v->len);
    uint64_t sum = 0;
    for (uint32_t i = 0; i < v->len; i++) {
      const hl_json_member *m = &v->u.members[i];
      if (ix.dup >= 0 && hl_name_index_find(&ix, m->key, m->key_len) != (int32_t)i) continue;
      sum += mix(hl_hash_bytes(m->key, m->key_len), hl_json_hash(&m->value, nodes));
    }
    uint64_t h = mix(TAG_OBJECT ^ ((uint64_t)ix.distinct << 8), sum);
    hl_name_index_dispose(&ix);
    return h;
  }
  }
  return 0;
}
