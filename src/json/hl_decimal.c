/* Exact decimals on JSON number text (see hl_decimal.h). */
#include "json/hl_decimal.h"
#include "common/hl_common.h"

#include <mbedtls/bignum.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A number as sign × digits × 10^exponent, digits without leading or
 * trailing zeros (empty for zero). The exponent is exp, plus exp_sign ×
 * exp_text when the number writes one of more than EXP_DIGITS digits: the
 * sender chooses its length, so such an exponent stays text (pointing into
 * the number, without leading zeros) rather than be cut or cost a bignum. */
typedef struct {
  int sign;           /* -1, 0, +1 */
  char small[96];
  char *digits;       /* small or heap */
  size_t n;
  int64_t exp;
  const char *exp_text;
  size_t exp_len;     /* 0: the exponent is exp alone */
  int exp_sign;
} decimal;

/* Up to 18 digits, an exponent less a digit count fits int64. A longer one
 * is at least 10^18, more than any digit count, so its sign is exp_sign. */
#define EXP_DIGITS 18

/* Per thread: the schema validator compares on the threadpool too. */
static _Thread_local uint64_t bytes_read;

uint64_t hl_decimal_bytes_read(void) { return bytes_read; }

static bool decimal_read(decimal *d, const char *s, size_t len) {
  bytes_read += len;
  const char *end = s + len;
  d->sign = 1;
  d->n = 0;
  d->exp = 0;
  d->exp_text = NULL;
  d->exp_len = 0;
  d->exp_sign = 1;
  d->digits = len < sizeof d->small ? d->small : hl_malloc(len + 1);
  if (s < end && *s == '-') { d->sign = -1; s++; }
  if (s >= end || *s < '0' || *s > '9') return false;
  int64_t frac = 0;
  bool seen_dot = false;
  for (; s < end; s++) {
    char c = *s;
    if (c >= '0' && c <= '9') {
      if (d->n == 0 && c == '0') { if (seen_dot) frac++; continue; } /* leading zeros */
      d->digits[d->n++] = c;
      if (seen_dot) frac++;
    } else if (c == '.' && !seen_dot) {
      seen_dot = true;
    } else {
      break;
    }
  }
  int64_t e = 0;
  if (s < end && (*s == 'e' || *s == 'E')) {
    s++;
    int es = 1;
    if (s < end && (*s == '+' || *s == '-')) { if (*s == '-') es = -1; s++; }
    if (s >= end) return false;
    while (s < end && *s == '0') s++;
    const char *t = s;
    for (; s < end && *s >= '0' && *s <= '9'; s++)
      if (s - t < EXP_DIGITS) e = e * 10 + (*s - '0');
    if (s - t > EXP_DIGITS) {
      d->exp_text = t;
      d->exp_len = (size_t)(s - t);
      d->exp_sign = es;
      e = 0;
    }
    e *= es;
  }
  if (s != end) return false;
  while (d->n > 0 && d->digits[d->n - 1] == '0') { d->n--; frac--; }
  d->exp = e - frac;
  if (d->n == 0) { d->sign = 0; d->exp = 0; d->exp_len = 0; }
  return true;
}

static void decimal_free(decimal *d) {
  if (d->digits != d->small) hl_free(d->digits);
}

#define EXP_DIFF_CAP ((__int128)1 << 100)

/* A power of ten as the number texts write it: v, plus sign × text when
 * the exponent was too long for int64 (len > 0). */
typedef struct {
  int64_t v;
  const char *text;
  size_t len;
  int sign;
} power;

/* a less b: exact up to EXP_DIFF_CAP, and that cap with the difference's
 * sign beyond it. Exponents kept as text are subtracted digit by digit,
 * most significant first: once the difference passes the cap, each further
 * digit multiplies it by ten, so neither those digits nor the int64 parts
 * can bring it back. */
static __int128 power_diff(power a, power b) {
  __int128 rest = (__int128)a.v - b.v, acc = 0;
  size_t len = HL_MAX(a.len, b.len);
  for (size_t i = 0; i < len; i++) {
    int da = i + a.len >= len ? a.text[i + a.len - len] - '0' : 0;
    int db = i + b.len >= len ? b.text[i + b.len - len] - '0' : 0;
    acc = acc * 10 + a.sign * da - b.sign * db;
    if (acc > EXP_DIFF_CAP || acc < -EXP_DIFF_CAP) return acc > 0 ? EXP_DIFF_CAP : -EXP_DIFF_CAP;
  }
  return acc + rest;
}

/* a's exponent plus ka, less b's plus kb (see power_diff). */
static __int128 exp_diff(const decimal *a, int64_t ka, const decimal *b, int64_t kb) {
  return power_diff((power){a->exp + ka, a->exp_text, a->exp_len, a->exp_sign},
                    (power){b->exp + kb, b->exp_text, b->exp_len, b->exp_sign});
}

static bool exp_negative(const decimal *d) { return d->exp_len ? d->exp_sign < 0 : d->exp < 0; }

/* Past the run of ASCII digits that starts at p: eight bytes a step, as
 * an event's number may be a megabyte of digits and a filter reads it on
 * the loop. A byte is a digit when its high nibble is 3 and stays 3 with 6
 * added (0x3A..0x3F become 0x40..). */
static const char *digit_run(const char *p, const char *end) {
  const uint64_t hi = 0xF0F0F0F0F0F0F0F0ull, threes = 0x3030303030303030ull, six = 0x0606060606060606ull;
  while (end - p >= 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    if ((w & hi) != threes || ((w + six) & hi) != threes) break;
    p += 8;
  }
  while (p < end && *p >= '0' && *p <= '9') p++;
  return p;
}

bool hl_decimal_view_read(hl_decimal_view *v, const char *s, size_t len) {
  const char *p = s, *end = s + len;
  bytes_read += len;
  *v = (hl_decimal_view){.sign = 1, .exp_sign = 1};
  if (p < end && *p == '-') { v->sign = -1; p++; }
  if (p >= end || *p < '0' || *p > '9') return false;
  const char *int_end = digit_run(p, end), *lead = p;
  while (lead < int_end && *lead == '0') lead++;
  int64_t top = int_end - lead;
  if (int_end < end && *int_end == '.') {
    const char *frac = int_end + 1;
    if (lead < int_end) {
      v->dot = int_end;
    } else { /* 0.00ddd: the first significant digit is in the fraction */
      for (lead = frac; lead < end && *lead == '0'; lead++) {}
      top = -(lead - frac);
    }
    p = digit_run(frac, end);
  } else {
    p = int_end;
  }
  v->end = p;
  int64_t e = 0;
  if (p < end && (*p == 'e' || *p == 'E')) {
    p++;
    if (p < end && (*p == '+' || *p == '-')) { if (*p == '-') v->exp_sign = -1; p++; }
    if (p >= end || *p < '0' || *p > '9') return false;
    while (p < end && *p == '0') p++;
    const char *t = p;
    p = digit_run(p, end);
    if (p - t > EXP_DIGITS) {
      v->exp_text = t;
      v->exp_len = (size_t)(p - t);
    } else {
      for (; t < p; t++) e = e * 10 + (*t - '0');
      e *= v->exp_sign;
    }
  }
  if (p != end) return false;
  v->ok = true;
  if (lead >= v->end || *lead < '1' || *lead > '9') { /* no digit but 0 */
    v->sign = 0;
    v->dot = NULL;
    v->exp_len = 0;
    return true;
  }
  v->lead = lead;
  v->top_small = top + e;
  return true;
}

/* Whether [p, end) holds a digit other than 0 (it holds digits and at most
 * one '.'), counting the bytes read up to the first such digit. */
static bool nonzero_in(const char *p, const char *end) {
  const char *q = p;
  while (q < end && (*q == '0' || *q == '.')) q++;
  bytes_read += (uint64_t)(q - p) + (q < end);
  return q < end;
}

int hl_decimal_view_cmp(const hl_decimal_view *a, const hl_decimal_view *b) {
  if (!a->ok || !b->ok) return (int)a->ok - (int)b->ok;
  if (a->sign != b->sign) return a->sign < b->sign ? -1 : 1;
  if (a->sign == 0) return 0;
  /* The position of the first significant digit decides first... */
  __int128 m = power_diff((power){a->top_small, a->exp_text, a->exp_len, a->exp_sign},
                          (power){b->top_small, b->exp_text, b->exp_len, b->exp_sign});
  if (m != 0) return m < 0 ? -a->sign : a->sign;
  /* ...then the digits from there, in place, while both have some. */
  const char *pa = a->lead, *pb = b->lead;
  int r = 0;
  for (;;) {
    if (pa == a->dot) pa++;
    if (pb == b->dot) pb++;
    if (pa >= a->end || pb >= b->end) break;
    if (*pa != *pb) { r = *pa < *pb ? -1 : 1; break; }
    pa++;
    pb++;
  }
  bytes_read += (uint64_t)(pa - a->lead) + (uint64_t)(pb - b->lead);
  if (r == 0 && pa < a->end) r = nonzero_in(pa, a->end);
  else if (r == 0 && pb < b->end) r = -(int)nonzero_in(pb, b->end);
  return a->sign * r;
}

/* Fast path: a plain decimal (no exponent) with at most 18 digits is
 * m / 10^f exactly, and two of those compare or divide in 128-bit integers. */
static bool simple_decimal(const char *s, size_t n, __int128 *m, int *f) {
  size_t i = 0;
  bool neg = false, ok = false;
  if (i < n && s[i] == '-') { neg = true; i++; }
  uint64_t v = 0;
  int digits = 0, frac = -1;
  for (; i < n; i++) {
    char c = s[i];
    if (c >= '0' && c <= '9') {
      if (v != 0 || c != '0') digits++;
      if (digits > 18 || frac >= 18) goto out;
      v = v * 10 + (uint64_t)(c - '0');
      if (frac >= 0) frac++;
    } else if (c == '.' && frac < 0) {
      frac = 0;
    } else {
      goto out;
    }
  }
  ok = i > (size_t)neg;
  *m = neg ? -(__int128)v : (__int128)v;
  *f = frac < 0 ? 0 : frac;
out:
  bytes_read += HL_MIN(i + 1, n);
  return ok;
}

static __int128 pow10_128(int e) {
  __int128 r = 1;
  while (e-- > 0) r *= 10;
  return r;
}

bool hl_small_decimal_read(const char *s, size_t n, hl_small_decimal *d) { return simple_decimal(s, n, &d->m, &d->f); }

int hl_small_decimal_cmp(const hl_small_decimal *a, const hl_small_decimal *b) {
  __int128 x = a->f == b->f ? a->m : a->m * pow10_128(b->f), y = a->f == b->f ? b->m : b->m * pow10_128(a->f);
  return x < y ? -1 : x > y ? 1 : 0;
}

bool hl_small_decimal_is_multiple(const hl_small_decimal *a, const hl_small_decimal *b) {
  __int128 x = a->m * pow10_128(b->f), y = b->m * pow10_128(a->f);
  return y > 0 && x % y == 0;
}

int hl_decimal_cmp(const char *a, size_t alen, const char *b, size_t blen) {
  __int128 ma, mb;
  int fa, fb;
  if (simple_decimal(a, alen, &ma, &fa) && simple_decimal(b, blen, &mb, &fb)) {
    __int128 x = ma * pow10_128(fb), y = mb * pow10_128(fa);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  hl_decimal_view x, y;
  hl_decimal_view_read(&x, a, alen);
  hl_decimal_view_read(&y, b, blen);
  return hl_decimal_view_cmp(&x, &y);
}

bool hl_decimal_is_integer(const char *a, size_t alen) {
  if (alen > 0 && !memchr(a, '.', alen) && !memchr(a, 'e', alen) && !memchr(a, 'E', alen)) return true;
  decimal x;
  bool ok = decimal_read(&x, a, alen) && (x.sign == 0 || !exp_negative(&x));
  decimal_free(&x);
  return ok;
}

/* The digits of text + t into out (room for len + 1), for a digit text of
 * more than EXP_DIGITS digits (at least 10^18) and |t| < 10^18: the sum is
 * positive and has at most one more digit. Returns its length. */
static size_t text_plus(const char *text, size_t len, int64_t t, char *out) {
  int64_t carry = t;
  for (size_t i = len; i-- > 0;) {
    int64_t v = (text[i] - '0') + carry % 10;
    carry = carry / 10;
    if (v < 0) { v += 10; carry--; }
    if (v > 9) { v -= 10; carry++; }
    out[i + 1] = (char)('0' + v);
  }
  out[0] = (char)('0' + carry);
  size_t z = 0;
  while (out[z] == '0') z++;
  memmove(out, out + z, len + 1 - z);
  return len + 1 - z;
}

/* "e<exponent>" into out (room for exp_len + 24), or nothing for 10^0. */
static size_t exp_write(const decimal *d, char *out) {
  if (d->exp_len == 0) return d->exp ? (size_t)snprintf(out, 24, "e%lld", (long long)d->exp) : 0;
  size_t o = 0;
  out[o++] = 'e';
  if (d->exp_sign < 0) out[o++] = '-';
  /* exp_sign × text + exp = exp_sign × (text + exp_sign × exp) */
  return o + text_plus(d->exp_text, d->exp_len, d->exp_sign * d->exp, out + o);
}

size_t hl_decimal_canonical(const char *s, size_t n, char *out, size_t cap) {
  hl_decimal_view v;
  if (!hl_decimal_view_read(&v, s, n) || v.sign == 0) {
    if (cap) out[0] = '0';
    return 1;
  }
  /* The significant digits, written without the '.' and the zeros that
   * end them; d carries the exponent of the last of them for exp_write. */
  const char *last = v.end;
  while (last[-1] == '0' || last[-1] == '.') last--;
  bool dot = v.dot && v.dot < last;
  size_t digits = (size_t)(last - v.lead) - dot;
  decimal d = {.exp = v.top_small - (int64_t)digits, .exp_text = v.exp_text, .exp_len = v.exp_len,
               .exp_sign = v.exp_sign};
  char small[32];
  char *tail = d.exp_len ? hl_malloc(d.exp_len + 24) : small;
  size_t tl = exp_write(&d, tail);
  size_t need = (v.sign < 0) + digits + tl;
  if (need <= cap) {
    char *o = out;
    if (v.sign < 0) *o++ = '-';
    if (dot) {
      memcpy(o, v.lead, (size_t)(v.dot - v.lead));
      o += v.dot - v.lead;
      memcpy(o, v.dot + 1, (size_t)(last - v.dot - 1));
      o += last - v.dot - 1;
    } else {
      memcpy(o, v.lead, digits);
      o += digits;
    }
    memcpy(o, tail, tl);
  }
  if (tail != small) hl_free(tail);
  return need;
}

/* 18 decimal digits starting at s as an integer. */
static uint64_t digits18(const char *s, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) v = v * 10 + (uint64_t)(s[i] - '0');
  return v;
}

static const uint64_t P10[19] = {1ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull, 1000000ull, 10000000ull,
                                 100000000ull, 1000000000ull, 10000000000ull, 100000000000ull, 1000000000000ull,
                                 10000000000000ull, 100000000000000ull, 1000000000000000ull,
                                 10000000000000000ull, 100000000000000000ull, 1000000000000000000ull};

/* X·10^k mod Y == 0 for digit strings X, Y (no leading zeros), by Horner's
 * rule 18 digits at a time: linear in X for a Y of up to 18 digits, and
 * len(X)/18 bignum reductions by Y otherwise. -1 when over max_work. */
static int divides(const decimal *x, int64_t k, const decimal *y, uint64_t max_work, uint64_t *work) {
  uint64_t chunks = (x->n + (uint64_t)k + 17) / 18 + 1;
  if (y->n <= 18) {
    *work = chunks;
    if (chunks > max_work) return -1;
    uint64_t Y = digits18(y->digits, y->n), r = 0;
    for (size_t i = 0; i < x->n; i += 18) {
      size_t c = HL_MIN((size_t)18, x->n - i);
      r = (uint64_t)(((unsigned __int128)r * P10[c] + digits18(x->digits + i, c)) % Y);
    }
    for (int64_t z = k; z > 0; z -= 18) r = (uint64_t)(((unsigned __int128)r * P10[HL_MIN(z, 18)]) % Y);
    return r == 0;
  }
  uint64_t limbs = (y->n + 18) / 19 + 1;
  *work = chunks * limbs * limbs;
  if (*work > max_work || chunks > max_work) return -1;
  char *ys = hl_strndup(y->digits, y->n);
  mbedtls_mpi R, Y;
  mbedtls_mpi_init(&R);
  mbedtls_mpi_init(&Y);
  int rc = mbedtls_mpi_read_string(&Y, 10, ys) == 0 ? 0 : -1;
  hl_free(ys);
  for (size_t i = 0; rc == 0 && i < x->n; i += 18) {
    size_t c = HL_MIN((size_t)18, x->n - i);
    if (mbedtls_mpi_mul_int(&R, &R, P10[c]) != 0 ||
        mbedtls_mpi_add_int(&R, &R, (mbedtls_mpi_sint)digits18(x->digits + i, c)) != 0 ||
        mbedtls_mpi_mod_mpi(&R, &R, &Y) != 0)
      rc = -1;
  }
  for (int64_t z = k; rc == 0 && z > 0; z -= 18)
    if (mbedtls_mpi_mul_int(&R, &R, P10[HL_MIN(z, 18)]) != 0 || mbedtls_mpi_mod_mpi(&R, &R, &Y) != 0) rc = -1;
  if (rc == 0) rc = mbedtls_mpi_cmp_int(&R, 0) == 0;
  mbedtls_mpi_free(&R);
  mbedtls_mpi_free(&Y);
  return rc;
}

int hl_decimal_is_multiple_bounded(const char *a, size_t alen, const char *b, size_t blen, uint64_t max_work,
                                   uint64_t *work) {
  uint64_t spent = 1;
  int result = 0;
  __int128 ma, mb;
  int fa, fb;
  if (simple_decimal(a, alen, &ma, &fa) && simple_decimal(b, blen, &mb, &fb) && mb > 0) {
    /* a/b = (ma·10^fb) / (mb·10^fa) */
    __int128 x = ma * pow10_128(fb), y = mb * pow10_128(fa);
    if (work) *work = spent;
    return x % y == 0;
  }
  decimal x, y;
  bool okx = decimal_read(&x, a, alen), oky = decimal_read(&y, b, blen);
  spent += (alen + blen) / 64; /* reading them */
  if (!okx || !oky || y.sign <= 0) {
    result = 0;
  } else if (x.sign == 0) {
    result = 1;
  } else {
    /* a/b = (X·10^k)/Y with k = ex - ey. X has no factor 10 to spare, so
     * k < 0 can never divide; for k >= 0, only Y's factors 2 and 5 use the
     * zeros, and Y has fewer than 4·len(Y)+8 of those: cap k there. */
    __int128 k = exp_diff(&x, 0, &y, 0);
    int64_t cap = 4 * (int64_t)y.n + 8;
    uint64_t w = 0;
    if (k >= 0) {
      result = divides(&x, k < cap ? (int64_t)k : cap, &y, max_work > spent ? max_work - spent : 0, &w);
      spent += w;
    }
  }
  decimal_free(&x);
  decimal_free(&y);
  if (work) *work = spent;
  return result;
}

bool hl_decimal_is_multiple(const char *a, size_t alen, const char *b, size_t blen) {
  return hl_decimal_is_multiple_bounded(a, alen, b, blen, UINT64_MAX, NULL) == 1;
}

int hl_decimal_int64(const char *s, size_t n, int64_t *out) {
  decimal d;
  int rc = HL_EINVAL;
  /* An exponent kept as text is at least 10^18 less a digit count: no
   * int64's. */
  if (decimal_read(&d, s, n) && d.exp_len == 0 && (d.sign == 0 || d.exp >= 0) && (int64_t)d.n + d.exp <= 19) {
    uint64_t acc = 0;
    bool overflow = false;
    for (int64_t i = 0; i < (int64_t)d.n + d.exp; i++) {
      unsigned dig = i < (int64_t)d.n ? (unsigned)(d.digits[i] - '0') : 0;
      if (acc > (UINT64_MAX - dig) / 10) { overflow = true; break; }
      acc = acc * 10 + dig;
    }
    if (!overflow && acc <= (uint64_t)INT64_MAX + (d.sign < 0)) {
      *out = d.sign < 0 ? (int64_t)(0 - acc) : (int64_t)acc;
      rc = 0;
    }
  }
  decimal_free(&d);
  return rc;
}
