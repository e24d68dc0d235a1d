/* fuzz_util.h — what the libFuzzer targets share (docs/fuzzing.md).
 *
 * A target whose input is two documents (a schema and an instance, a filter
 * and an event) takes them separated by the first line "---": the bytes
 * "\n---\n" cannot occur inside valid JSON (strings hold no raw newline, and
 * "---" is no JSON token), so the split never cuts a valid document, and
 * the corpus stays readable text. */
#ifndef HL_FUZZ_UTIL_H
#define HL_FUZZ_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hl_common.h"
#include "common/hl_log.h"
#include "json/hl_json.h"

/* Splits data at the first "\n---\n": a = before, b = after (b_len 0 and
 * b NULL when there is no separator). */
static inline void fuzz_split(const uint8_t *data, size_t size, const char **a, size_t *a_len, const char **b,
                              size_t *b_len) {
  static const char sep[] = "\n---\n";
  const char *s = (const char *)data;
  const char *m = size >= sizeof sep - 1 ? memmem(s, size, sep, sizeof sep - 1) : NULL;
  *a = s;
  *a_len = m ? (size_t)(m - s) : size;
  *b = m ? m + sizeof sep - 1 : NULL;
  *b_len = m ? size - *a_len - (sizeof sep - 1) : 0;
}

/* The two documents of an input, parsed: first is NULL when the part
 * before the separator is no JSON; second is the part after it, or first
 * itself when there is none or it is no JSON. */
typedef struct {
  hl_json_doc a, b;
  const hl_json *first, *second;
} fuzz_pair;

static inline void fuzz_pair_parse(fuzz_pair *p, const uint8_t *data, size_t size) {
  const char *at, *bt;
  size_t al, bl;
  fuzz_split(data, size, &at, &al, &bt, &bl);
  hl_json_doc_init(&p->a);
  hl_json_doc_init(&p->b);
  p->first = hl_json_parse(&p->a, at, al, NULL) == 0 ? p->a.root : NULL;
  p->second = bt && hl_json_parse(&p->b, bt, bl, NULL) == 0 ? p->b.root : p->first;
}

static inline void fuzz_pair_dispose(fuzz_pair *p) {
  hl_json_doc_dispose(&p->a);
  hl_json_doc_dispose(&p->b);
}

/* True when some object in v holds a name twice. Equality is asked only of
 * documents without: hl_json_equal compares objects by name, and with a
 * name twice a document is not equal to itself (issue 13, item 4: such
 * documents are to be refused where they matter). */
static inline bool fuzz_has_duplicate_names(const hl_json *v) {
  if (v->type == HL_JSON_ARRAY) {
    for (uint32_t i = 0; i < v->len; i++)
      if (fuzz_has_duplicate_names(&v->u.items[i])) return true;
  } else if (v->type == HL_JSON_OBJECT) {
    for (uint32_t i = 0; i < v->len; i++) {
      const hl_json_member *m = &v->u.members[i];
      if (hl_json_getn(v, m->key, m->key_len) != &m->value || fuzz_has_duplicate_names(&m->value)) return true;
    }
  }
  return false;
}

/* A failed property: says which and aborts, so libFuzzer keeps the input. */
#define FUZZ_CHECK(cond)                                                                  \
  do {                                                                                    \
    if (!(cond)) {                                                                        \
      fprintf(stderr, "fuzz check failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__);    \
      abort();                                                                            \
    }                                                                                     \
  } while (0)

/* The code under test logs refusals as it should; at thousands of inputs a
 * second that is noise. Errors still show. */
static inline void fuzz_quiet(void) { hl_log_set_level(HL_LOG_ERROR); }

/* A copy of the input of exactly its size, with no NUL after it, so that
 * a reader that takes a length and reads past it is caught by ASan (the
 * fuzzer's own buffer may have slack). Free it with hl_free. */
static inline char *fuzz_exact_copy(const uint8_t *data, size_t size) {
  char *s = hl_malloc(size ? size : 1);
  memcpy(s, data, size);
  return s;
}

#endif
