/* hl_decimal.h — exact decimal arithmetic on JSON number text.
 *
 * Why text: hookloop compares numbers by their exact decimal value (filters,
 * JSON Schema: 0.3 is a multiple of 0.1, 12345678901234567890 >
 * 12345678901234567889), so the reader keeps every number's source text
 * (hl_json.h) and these functions work on it: no double, no int64, any size.
 * Texts are JSON numbers as the reader accepted them. Bounded work where the
 * size is the sender's choice (hl_decimal_is_multiple_bounded).
 */
#ifndef HL_DECIMAL_H
#define HL_DECIMAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Compares two JSON number texts by exact value: <0, 0, >0. Arbitrary size;
 * no allocation (hl_decimal_view_read of each, then hl_decimal_view_cmp). */
int hl_decimal_cmp(const char *a, size_t alen, const char *b, size_t blen);

/* A number text's shape, read in one pass without copying a digit: its
 * sign, where its significant digits lie in the text, and the power of ten
 * just above the first of them. The view points into the text, which must
 * outlive it. Why: a comparison then costs the shorter number's digits, not
 * the longer's, and a caller comparing one number with many (a filter)
 * reads it once. */
typedef struct {
  bool ok;            /* the text was a number */
  int sign;           /* -1, 0, +1 */
  const char *lead;   /* the first significant digit (NULL for zero) */
  const char *dot;    /* a '.' between lead and end, or NULL */
  const char *end;    /* just past the mantissa's last digit */
  /* |x| is in [10^(top - 1), 10^top), where top is top_small plus
   * exp_sign × exp_text when the text writes an exponent of more than 18
   * digits (kept as text: its length is the sender's choice). */
  int64_t top_small;
  const char *exp_text;
  size_t exp_len;     /* 0: top is top_small alone */
  int exp_sign;
} hl_decimal_view;

/* Reads s (one pass, no allocation); false (and v->ok false) when it is no
 * number. A view of no number orders below every number. */
bool hl_decimal_view_read(hl_decimal_view *v, const char *s, size_t len);
/* <0, 0, >0 by exact value, reading digits only while the two agree: at
 * most the shorter's significant digits, and the longer's rest only when
 * those are equal (whether it holds a digit other than 0). */
int hl_decimal_view_cmp(const hl_decimal_view *a, const hl_decimal_view *b);
/* True when the number text denotes an integer (1, 1.0, 1e3, -0). */
bool hl_decimal_is_integer(const char *a, size_t alen);
/* True when a is an integer multiple of b (b > 0), exactly. */
bool hl_decimal_is_multiple(const char *a, size_t alen, const char *b, size_t blen);
/* The same within a work bound: returns 1 (a multiple), 0 (not), or -1 when
 * deciding would take more than max_work units (about a digit of a times a
 * 64-bit word of b each); *work (may be NULL) gets the units spent. */
int hl_decimal_is_multiple_bounded(const char *a, size_t alen, const char *b, size_t blen, uint64_t max_work,
                                   uint64_t *work);
/* One spelling per value: "[-]<digits>[e<exp>]" with neither leading nor
 * trailing zeros in the digits ("0" for zero), so 1, 1.0 and 10e-1 are all
 * "1" and 1500 is "15e2". Writes at most cap bytes to out and returns the
 * length it needs (call again with a larger buffer when that is > cap). */
size_t hl_decimal_canonical(const char *s, size_t n, char *out, size_t cap);

/* A number of at most 18 significant digits and no exponent, held exactly
 * as m / 10^f: compared and divided in 128-bit integers, the fast path for
 * the amounts events usually carry. */
typedef struct {
  __int128 m;
  int f;
} hl_small_decimal;

/* Fills d and returns true when the text is such a number. */
bool hl_small_decimal_read(const char *s, size_t n, hl_small_decimal *d);
int hl_small_decimal_cmp(const hl_small_decimal *a, const hl_small_decimal *b);
/* a is an integer multiple of b (b > 0). */
bool hl_small_decimal_is_multiple(const hl_small_decimal *a, const hl_small_decimal *b);

/* The integer a number text denotes (1, 1.0 and 1e0 alike), when it is
 * one and fits in int64_t: 0; otherwise HL_EINVAL, *out unchanged. */
int hl_decimal_int64(const char *s, size_t n, int64_t *out);

/* Bytes of number text the functions above have read on the calling
 * thread since it started: what a caller's work on numbers cost, for tests
 * that bound it (a filter reads an event's number once per match). */
uint64_t hl_decimal_bytes_read(void);

#endif
