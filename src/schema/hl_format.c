#include "schema/hl_format.h"
#include "schema/hl_idn.h"
#include "common/hl_common.h"
#include "common/hl_rfc3339.h"
#include "json/hl_json.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* --- character classes (RFC 3986 §2, RFC 5321 §4.1.2) ------------------------------------- */

static bool alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static bool digit(char c) { return c >= '0' && c <= '9'; }
static bool hexdig(char c) { return digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
static bool unreserved(char c) { return alpha(c) || digit(c) || (c && strchr("-._~", c)); }
static bool sub_delim(char c) { return c && strchr("!$&'()*+,;=", c); }

/* RFC 3987 §2.2: ucschar, and iprivate (queries only). */
static bool ucschar(uint32_t c) {
  if (c >= 0xa0 && c <= 0xd7ff) return true;
  if ((c >= 0xf900 && c <= 0xfdcf) || (c >= 0xfdf0 && c <= 0xffef)) return true;
  return c >= 0x10000 && c <= 0xefffd && (c & 0xffff) <= 0xfffd && (c >> 16 != 0xe || c >= 0xe1000);
}

static bool iprivate(uint32_t c) { return (c >= 0xe000 && c <= 0xf8ff) || (c >= 0xf0000 && (c & 0xffff) <= 0xfffd); }

/* Non-ASCII characters allowed: RFC 3987's ucschar in an IRI, RFC 6531's
 * UTF8-non-ascii in an internationalized e-mail address. */
#define IRI 1u
#define PRIVATE 2u /* iprivate too: an IRI's query */

/* The n bytes at s are each `ok`, a %XX escape, or with IRI a character
 * RFC 3987 adds. */
static bool span(const char *s, size_t n, bool (*ok)(char), unsigned flags) {
  for (size_t i = 0; i < n; i++) {
    if (ok(s[i])) continue;
    uint32_t cp;
    size_t len;
    if ((flags & IRI) && (unsigned char)s[i] >= 0x80 && (len = hl_utf8_decode(s + i, n - i, &cp)) &&
        (ucschar(cp) || ((flags & PRIVATE) && iprivate(cp)))) {
      i += len - 1;
      continue;
    }
    if (s[i] != '%' || i + 2 >= n || !hexdig(s[i + 1]) || !hexdig(s[i + 2])) return false;
    i += 2;
  }
  return true;
}

static bool pchar(char c) { return unreserved(c) || sub_delim(c) || c == ':' || c == '@'; }
static bool path_char(char c) { return pchar(c) || c == '/'; }
static bool query_char(char c) { return pchar(c) || c == '/' || c == '?'; }
/* userinfo's characters, which are also an IPvFuture address's */
static bool userinfo_char(char c) { return unreserved(c) || sub_delim(c) || c == ':'; }
static bool regname_char(char c) { return unreserved(c) || sub_delim(c); }

/* --- IP addresses ------------------------------------------------------------------------- */

static bool ip(int af, const char *s, size_t n) {
  char buf[INET6_ADDRSTRLEN + 1];
  if (n == 0 || n >= sizeof buf || memchr(s, '\0', n)) return false; /* inet_pton would stop at a NUL */
  memcpy(buf, s, n);
  buf[n] = '\0';
  unsigned char out[16];
  return inet_pton(af, buf, out) == 1; /* glibc refuses leading zeros in IPv4 octets */
}

/* --- host names (schema/hl_idn) ------------------------------------------------------------ */

static bool hostname(const char *s, size_t n) { return hl_idn_hostname(s, n, HL_IDN_ASCII); }
static bool idn_hostname(const char *s, size_t n) { return hl_idn_hostname(s, n, 0); }

/* --- e-mail addresses (RFC 5321 §4.1.2, §4.1.3; RFC 6531 §3.3) ---------------------------- */

static bool atext(char c) { return alpha(c) || digit(c) || (c && strchr("!#$%&'*+-/=?^_`{|}~", c)); }

/* With IRI (for RFC 6531), the length of the UTF8-non-ascii character at
 * s[i] (RFC 6532 §3.1: any valid UTF-8 sequence past ASCII), else 0. */
static size_t non_ascii(const char *s, size_t n, size_t i, unsigned flags) {
  return (flags & IRI) && (unsigned char)s[i] >= 0x80 ? hl_utf8_decode(s + i, n - i, NULL) : 0;
}

/* A Mailbox; with IRI (RFC 6531's SMTPUTF8 grammar) its local part may
 * hold any non-ASCII character and its domain is an internationalized
 * host name. */
static bool mailbox(const char *s, size_t n, unsigned flags) {
  size_t i = 0, len;
  if (n && s[0] == '"') {
    /* Quoted-string: printable ASCII, with \ quoting any of it */
    for (i = 1; i < n && s[i] != '"'; i++) {
      if ((len = non_ascii(s, n, i, flags))) {
        i += len - 1;
        continue;
      }
      if (s[i] == '\\') i++;
      if (i >= n || s[i] < 32 || s[i] > 126) return false;
    }
    if (i >= n) return false;
    i++;
  } else {
    /* Dot-string: atoms of atext joined by single dots */
    size_t atom = 0;
    for (; i < n && s[i] != '@'; i++) {
      if (s[i] == '.') {
        if (atom == 0) return false;
        atom = 0;
      } else if (atext(s[i])) {
        atom++;
      } else if ((len = non_ascii(s, n, i, flags))) {
        atom++;
        i += len - 1;
      } else {
        return false;
      }
    }
    if (atom == 0) return false;
  }
  if (i >= n || s[i] != '@' || i > 64) return false;
  const char *d = s + i + 1;
  size_t dn = n - i - 1;
  if (dn >= 2 && d[0] == '[' && d[dn - 1] == ']') {
    d++, dn -= 2;
    if (dn > 5 && strncmp(d, "IPv6:", 5) == 0) return ip(AF_INET6, d + 5, dn - 5);
    if (ip(AF_INET, d, dn)) return true;
    /* General-address-literal: a tag of letters, digits and hyphens (a
     * letter or digit last), ":", then printable ASCII but [ \ ] */
    const char *colon = memchr(d, ':', dn);
    if (!colon || colon == d || colon[-1] == '-' || (size_t)(colon - d) + 1 >= dn) return false;
    for (const char *p = d; p < colon; p++)
      if (!alpha(*p) && !digit(*p) && *p != '-') return false;
    for (const char *p = colon + 1; p < d + dn; p++)
      if (*p < 33 || *p > 126 || *p == '[' || *p == '\\' || *p == ']') return false;
    return true;
  }
  return flags & IRI ? idn_hostname(d, dn) : hostname(d, dn);
}

static bool email(const char *s, size_t n) { return mailbox(s, n, 0); }
static bool idn_email(const char *s, size_t n) { return mailbox(s, n, IRI); }

/* --- URIs (RFC 3986 §3, §4.1) ------------------------------------------------------------- */

/* authority = [ userinfo "@" ] host [ ":" port ] */
static bool authority(const char *s, size_t n, unsigned flags) {
  const char *at = memchr(s, '@', n);
  if (at) {
    if (!span(s, (size_t)(at - s), userinfo_char, flags)) return false;
    n -= (size_t)(at - s) + 1;
    s = at + 1;
  }
  size_t host;
  if (n && s[0] == '[') {
    const char *close = memchr(s, ']', n);
    if (!close) return false;
    const char *in = s + 1;
    size_t in_n = (size_t)(close - in);
    if (in_n && (in[0] == 'v' || in[0] == 'V')) {
      /* IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" ) */
      size_t i = 1;
      while (i < in_n && hexdig(in[i])) i++;
      if (i == 1 || i >= in_n || in[i] != '.' || i + 1 >= in_n) return false;
      for (i++; i < in_n; i++)
        if (!userinfo_char(in[i])) return false;
    } else if (!ip(AF_INET6, in, in_n)) {
      return false;
    }
    host = (size_t)(close - s) + 1;
  } else {
    const char *colon = memchr(s, ':', n);
    host = colon ? (size_t)(colon - s) : n;
    if (!span(s, host, regname_char, flags)) return false;
  }
  if (host == n) return true;
  if (s[host] != ':') return false;
  for (size_t i = host + 1; i < n; i++)
    if (!digit(s[i])) return false;
  return true;
}

/* relative-part or hier-part, then [ "?" query ] [ "#" fragment ];
 * `noscheme`: a path's first segment may hold no ":" (a relative
 * reference, which would otherwise read as a scheme). */
static bool after_scheme(const char *s, size_t n, bool noscheme, unsigned flags) {
  const char *hash = memchr(s, '#', n);
  if (hash) {
    if (!span(hash + 1, n - (size_t)(hash - s) - 1, query_char, flags)) return false;
    n = (size_t)(hash - s);
  }
  const char *q = memchr(s, '?', n);
  if (q) {
    if (!span(q + 1, n - (size_t)(q - s) - 1, query_char, flags & IRI ? flags | PRIVATE : flags)) return false;
    n = (size_t)(q - s);
  }
  if (n >= 2 && s[0] == '/' && s[1] == '/') {
    const char *slash = memchr(s + 2, '/', n - 2);
    size_t an = slash ? (size_t)(slash - s) - 2 : n - 2;
    if (!authority(s + 2, an, flags)) return false;
    s += 2 + an;
    n -= 2 + an;
  } else if (noscheme) {
    const char *slash = memchr(s, '/', n);
    if (memchr(s, ':', slash ? (size_t)(slash - s) : n)) return false;
  }
  return span(s, n, path_char, flags);
}

static size_t scheme_len(const char *s, size_t n) {
  if (n == 0 || !alpha(s[0])) return 0;
  size_t i = 1;
  while (i < n && (alpha(s[i]) || digit(s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.')) i++;
  return i < n && s[i] == ':' ? i : 0;
}

static bool absolute(const char *s, size_t n, unsigned flags) {
  size_t sl = scheme_len(s, n);
  return sl && after_scheme(s + sl + 1, n - sl - 1, false, flags);
}

static bool uri(const char *s, size_t n) { return absolute(s, n, 0); }
static bool uri_reference(const char *s, size_t n) { return absolute(s, n, 0) || after_scheme(s, n, true, 0); }
static bool iri(const char *s, size_t n) { return absolute(s, n, IRI); }
static bool iri_reference(const char *s, size_t n) { return absolute(s, n, IRI) || after_scheme(s, n, true, IRI); }

/* RFC 6570 §2: literals, and expressions "{" [operator] varspec *("," varspec) "}". */
static bool literal(char c) {
  unsigned char u = (unsigned char)c;
  /* every ASCII character but CTL, SP, DQUOTE, %, <, >, \, ^, `, {, |, }
   * (the apostrophe allowed, as the RFC's errata 6937 has it) */
  return u > 0x20 && u < 0x7f && !strchr("\"%<>\\^`{|}", c);
}

static bool varchar(const char *s, size_t n, size_t *len) {
  if (n && (alpha(s[0]) || digit(s[0]) || s[0] == '_')) return *len = 1, true;
  if (n >= 3 && s[0] == '%' && hexdig(s[1]) && hexdig(s[2])) return *len = 3, true;
  return false;
}

static bool uri_template(const char *s, size_t n) {
  for (size_t i = 0; i < n;) {
    if (s[i] != '{') {
      /* a literal is what a URI may hold, and ucschar or iprivate */
      size_t j = i;
      while (j < n && s[j] != '{' && s[j] != '}') j++;
      if (!span(s + i, j - i, literal, IRI | PRIVATE)) return false;
      if (j < n && s[j] == '}') return false;
      i = j;
      continue;
    }
    const char *close = memchr(s + i, '}', n - i);
    if (!close) return false;
    const char *p = s + i + 1, *end = close;
    if (p < end && *p && strchr("+#./;?&=,!@|", *p)) p++;
    for (;;) { /* varspec */
      size_t len;
      if (!varchar(p, (size_t)(end - p), &len)) return false;
      p += len;
      while (p < end) {
        if (*p == '.' && varchar(p + 1, (size_t)(end - p - 1), &len)) p += 1 + len;
        else if (varchar(p, (size_t)(end - p), &len)) p += len;
        else break;
      }
      if (p < end && *p == '*') {
        p++;
      } else if (p < end && *p == ':') { /* max-length: 1-9999, no leading zero */
        const char *d = ++p;
        while (p < end && digit(*p)) p++;
        if (p == d || p - d > 4 || *d == '0') return false;
      }
      if (p == end) break;
      if (*p++ != ',') return false;
    }
    i = (size_t)(close - s) + 1;
  }
  return true;
}

/* --- JSON pointers (RFC 6901 §3; relative: draft-bhutton-relative-json-pointer-00) -------- */

static bool json_pointer(const char *s, size_t n) {
  if (n && s[0] != '/') return false;
  for (size_t i = 0; i < n; i++)
    if (s[i] == '~' && (i + 1 >= n || (s[i + 1] != '0' && s[i + 1] != '1'))) return false;
  return true;
}

/* non-negative-integer: "0" or a digit 1-9 and more digits; its length. */
static size_t whole(const char *s, size_t n) {
  if (n == 0 || !digit(s[0])) return 0;
  if (s[0] == '0') return 1;
  size_t i = 1;
  while (i < n && digit(s[i])) i++;
  return i;
}

static bool relative_json_pointer(const char *s, size_t n) {
  size_t i = whole(s, n);
  if (i == 0) return false;
  if (i < n && (s[i] == '+' || s[i] == '-')) { /* index manipulation: a positive integer */
    size_t m = whole(s + i + 1, n - i - 1);
    if (m == 0 || s[i + 1] == '0') return false;
    i += 1 + m;
  }
  if (i < n && s[i] == '#') return i + 1 == n;
  return json_pointer(s + i, n - i);
}

/* --- duration (RFC 3339 Appendix A) ------------------------------------------------------- */

/* Elements "<digits><unit>" whose units come in `order`, each the next one
 * after the last (P1Y2D skips M: refused); at least one. */
static bool elements(const char **p, const char *end, const char *order) {
  const char *next = order;
  bool any = false;
  while (*p < end && digit(**p)) {
    const char *d = *p;
    while (d < end && digit(*d)) d++;
    if (d == end) return false;
    const char *u = strchr(next, *d);
    if (!*d || !u || (any && u != next)) return false;
    next = u + 1;
    any = true;
    *p = d + 1;
  }
  return any;
}

static bool duration(const char *s, size_t n) {
  const char *p = s, *end = s + n;
  if (p == end || *p++ != 'P') return false;
  /* dur-week stands alone */
  const char *w = p;
  while (w < end && digit(*w)) w++;
  if (w > p && w + 1 == end && *w == 'W') return true;
  bool dur_date = elements(&p, end, "YMD");
  if (p < end && *p == 'T') {
    p++;
    if (!elements(&p, end, "HMS")) return false;
  } else if (!dur_date) {
    return false;
  }
  return p == end;
}

/* --- uuid (RFC 4122 §3) ------------------------------------------------------------------- */

static bool uuid(const char *s, size_t n) {
  if (n != 36) return false;
  for (size_t i = 0; i < 36; i++) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !hexdig(s[i])) return false;
  }
  return true;
}

/* --- the table ---------------------------------------------------------------------------- */

static bool date_time(const char *s, size_t n) { return hl_rfc3339_datetime(s, n, 0, NULL) == 0; }
static bool date(const char *s, size_t n) { return hl_rfc3339_date(s, n, NULL) == 0; }
static bool time_(const char *s, size_t n) { return hl_rfc3339_time(s, n) == 0; }
static bool ipv4(const char *s, size_t n) { return ip(AF_INET, s, n); }
static bool ipv6(const char *s, size_t n) { return ip(AF_INET6, s, n); }

static const struct {
  const char *name;
  bool (*valid)(const char *s, size_t n);
} formats[] = {
  {"date-time", date_time}, {"date", date}, {"time", time_}, {"duration", duration},
  {"email", email}, {"idn-email", idn_email}, {"hostname", hostname}, {"idn-hostname", idn_hostname},
  {"ipv4", ipv4}, {"ipv6", ipv6},
  {"uri", uri}, {"uri-reference", uri_reference}, {"iri", iri}, {"iri-reference", iri_reference},
  {"uri-template", uri_template}, {"uuid", uuid}, {"json-pointer", json_pointer},
  {"relative-json-pointer", relative_json_pointer},
};

bool hl_format_known(const char *name) {
  for (size_t i = 0; i < HL_ARRAY_SIZE(formats); i++)
    if (strcmp(formats[i].name, name) == 0) return true;
  return false;
}

bool hl_format_valid(const char *name, const char *s, size_t n) {
  for (size_t i = 0; i < HL_ARRAY_SIZE(formats); i++)
    if (strcmp(formats[i].name, name) == 0) return formats[i].valid(s, n);
  return true;
}

const char *hl_format_list(void) {
  return "date-time, date, time, duration, email, idn-email, hostname, idn-hostname, ipv4, ipv6, uri, uri-reference, "
         "iri, iri-reference, "
         "uri-template, uuid, json-pointer, relative-json-pointer";
}
