/* fuzz_util.h — what the libFuzzer targets share (docs/fuzzing.md).
 *
 * A target whose input is two documents (a schema and an instance, a filter
 * and an event) takes them separated by the first line "---": the bytes
 * "\n---\n" cannot occur inside valid JSON (strings hold no raw newline, and
 * "---" is no JSON token), so the split never cuts a valid document, and
 * the corpus stays readable text. */
#ifndef HL_FUZZ_UTIL_H
#define HL_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hl_log.h"

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

#endif
