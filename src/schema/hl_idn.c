#include "schema/hl_idn.h"
#include "json/hl_json.h"

#include <idn2.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unicase.h>
#include <uninorm.h>
#include <unictype.h>

enum {
  MAX_LABEL = 63, /* octets of a label in its ASCII form (RFC 1035 §2.3.4) */
  MAX_NAME = 253, /* octets of a name in its ASCII form, without a final dot */
  /* Code points of a label as written, before NFC: the U-label of a
   * 63-octet A-label has at most 59, and NFC composes at most four into
   * one. A bound, so no label costs more than a fixed amount of work. */
  MAX_WRITTEN = 4 * MAX_LABEL,
};

static bool ldh(uint32_t c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'; }

/* The label separator at s (n ≥ 1 bytes) and its length, or 0: "." and,
 * unless ASCII only, its ideographic, fullwidth and halfwidth forms. */
static size_t separator(const char *s, size_t n, unsigned flags) {
  if (s[0] == '.') return 1;
  if ((flags & HL_IDN_ASCII) || n < 3) return 0;
  const unsigned char *u = (const unsigned char *)s;
  if ((u[0] == 0xe3 && u[1] == 0x80 && u[2] == 0x82) ||                        /* U+3002 */
      (u[0] == 0xef && ((u[1] == 0xbc && u[2] == 0x8e) || (u[1] == 0xbd && u[2] == 0xa1)))) /* U+FF0E, U+FF61 */
    return 3;
  return 0;
}

/* --- RFC 5893 §2, the Bidi rule --------------------------------------------------------------- */

struct bidi {
  bool rtl; /* a character of class R, AL or AN: the name is a Bidi domain name */
  bool ok;  /* the label satisfies the six conditions */
};

static bool bidi_in(int c, const int *set, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (set[i] == c) return true;
  return false;
}

/* The n bytes at u are a label in valid UTF-8. */
static struct bidi bidi_label(const char *u, size_t n) {
  static const int rtl_allowed[] = {UC_BIDI_R,  UC_BIDI_AL, UC_BIDI_AN, UC_BIDI_EN, UC_BIDI_ES,
                                    UC_BIDI_CS, UC_BIDI_ET, UC_BIDI_ON, UC_BIDI_BN, UC_BIDI_NSM};
  static const int ltr_allowed[] = {UC_BIDI_L, UC_BIDI_EN, UC_BIDI_ES, UC_BIDI_CS,
                                    UC_BIDI_ET, UC_BIDI_ON, UC_BIDI_BN, UC_BIDI_NSM};
  struct bidi b = {false, true};
  int first = -1, last = -1; /* `last`: the last class that is not NSM (conditions 3 and 6) */
  bool en = false, an = false;
  for (size_t i = 0, len; i < n; i += len) {
    uint32_t cp = 0;
    if (!(len = hl_utf8_decode(u + i, n - i, &cp))) { /* callers pass valid text; never loop on bad */
      b.ok = false;
      return b;
    }
    int c = uc_bidi_class(cp);
    if (first < 0) first = c;
    if (c != UC_BIDI_NSM) last = c;
    en |= c == UC_BIDI_EN;
    an |= c == UC_BIDI_AN;
    b.rtl |= c == UC_BIDI_R || c == UC_BIDI_AL || c == UC_BIDI_AN;
    bool rtl_label = first == UC_BIDI_R || first == UC_BIDI_AL;
    if (rtl_label ? !bidi_in(c, rtl_allowed, sizeof rtl_allowed / sizeof *rtl_allowed) /* 2 */
                  : !bidi_in(c, ltr_allowed, sizeof ltr_allowed / sizeof *ltr_allowed)) /* 5 */
      b.ok = false;
  }
  if (first == UC_BIDI_R || first == UC_BIDI_AL)
    b.ok = b.ok && (last == UC_BIDI_R || last == UC_BIDI_AL || last == UC_BIDI_EN || last == UC_BIDI_AN) && /* 3 */
           !(en && an);                                                                                     /* 4 */
  else if (first == UC_BIDI_L)
    b.ok = b.ok && (last == UC_BIDI_L || last == UC_BIDI_EN); /* 6 */
  else
    b.ok = false; /* 1 */
  return b;
}

/* --- labels ----------------------------------------------------------------------------------- */

/* An "xn--" label (ASCII, at most 63 octets): its Punycode must decode, and
 * the U-label it spells must be valid for registration under IDNA2008
 * (code points, context rules) and spell back the same A-label, so neither
 * a non-canonical encoding nor one of plain ASCII passes. */
static bool a_label(const char *s, size_t n, struct bidi *b) {
  char ace[MAX_LABEL + 1];
  for (size_t i = 0; i < n; i++) ace[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]);
  ace[n] = '\0';
  char *u = NULL;
  uint8_t *back = NULL;
  bool ok = idn2_to_unicode_8z8z(ace, &u, 0) == IDN2_OK &&
            idn2_register_u8((const uint8_t *)u, (const uint8_t *)ace, &back, 0) == IDN2_OK &&
            strcmp((const char *)back, ace) == 0;
  if (ok) *b = bidi_label(u, strlen(u));
  idn2_free(u);
  idn2_free(back);
  return ok;
}

/* A label of non-ASCII text (valid UTF-8, its ASCII characters letters,
 * digits and hyphens): lower-cased and put in NFC as RFC 5895 maps a name
 * for lookup, then a U-label valid for registration. Its A-label's length
 * goes to *ascii_len. */
static bool u_label(const char *s, size_t n, struct bidi *b, size_t *ascii_len) {
  uint8_t mapped[4 * MAX_WRITTEN + 1];
  size_t len = sizeof mapped - 1;
  uint8_t *m = u8_tolower((const uint8_t *)s, n, NULL, UNINORM_NFC, mapped, &len);
  if (m != mapped) { /* did not fit: far past any U-label (or an error) */
    free(m);
    return false;
  }
  mapped[len] = '\0';
  uint8_t *alabel = NULL;
  bool ok = idn2_register_u8(mapped, NULL, &alabel, 0) == IDN2_OK &&
            (*ascii_len = strlen((const char *)alabel)) <= MAX_LABEL;
  if (ok) *b = bidi_label((const char *)mapped, len);
  idn2_free(alabel);
  return ok;
}

/* One label, the n bytes at s (n ≥ 1). */
static bool label(const char *s, size_t n, unsigned flags, struct bidi *b, size_t *ascii_len) {
  bool ascii = true;
  size_t written = 0;
  for (size_t i = 0, len; i < n; i += len, written++) {
    uint32_t cp;
    if (!(len = hl_utf8_decode(s + i, n - i, &cp)) || written == MAX_WRITTEN) return false;
    if (cp < 0x80 && !ldh(cp)) return false;
    ascii = ascii && cp < 0x80;
  }
  if (!ascii) return !(flags & HL_IDN_ASCII) && u_label(s, n, b, ascii_len);
  /* letters, digits and hyphens, a letter or digit at each end */
  if (n > MAX_LABEL || s[0] == '-' || s[n - 1] == '-') return false;
  *ascii_len = n;
  if (n >= 4 && (s[0] | 32) == 'x' && (s[1] | 32) == 'n' && s[2] == '-' && s[3] == '-') return a_label(s, n, b);
  *b = bidi_label(s, n);
  return true;
}

bool hl_idn_hostname(const char *s, size_t n, unsigned flags) {
  size_t total = 0;
  bool rtl = false, bidi_ok = true;
  for (size_t start = 0;;) {
    size_t end = start, sep = 0;
    /* No label is longer than MAX_WRITTEN code points; each adds at least
     * two octets to `total`: the work a name costs is bounded whatever its
     * length. */
    while (end < n && !(sep = separator(s + end, n - end, flags)))
      if (++end - start > 4 * MAX_WRITTEN) return false;
    struct bidi b;
    size_t ascii_len = 0;
    if (end == start || !label(s + start, end - start, flags, &b, &ascii_len)) return false;
    total += ascii_len;
    rtl = rtl || b.rtl;
    bidi_ok = bidi_ok && b.ok;
    if (total > MAX_NAME) return false;
    if (end == n) break;
    total++; /* the "." */
    start = end + sep;
  }
  return !rtl || bidi_ok;
}
