/* hl_idn.h — domain names under IDNA2008, for JSON Schema's "hostname" and
 * "idn-hostname" formats (schema/hl_format).
 *
 * A name is read as RFC 5891 §5 reads one for lookup:
 *   - labels are separated by "." and, in an internationalized name, by
 *     U+3002, U+FF0E and U+FF61 too (RFC 3490 §3.1, which IDNA2008's
 *     mapping keeps); no label may be empty, so a leading or trailing
 *     separator is refused;
 *   - an ASCII label is letters, digits and hyphens, a letter or digit at
 *     each end, at most 63 octets (RFC 1123 §2.1); one that starts "xn--"
 *     is an A-label, whose Punycode must decode to a U-label that encodes
 *     back to the same A-label;
 *   - a non-ASCII label is lower-cased and put in NFC (RFC 5895's mapping
 *     for lookup, RFC 5891 §5.2) and must then be a U-label
 *     valid for registration: its code points PVALID or allowed by their
 *     context rules (RFC 5892, by libidn2), its A-label at most 63 octets;
 *   - a name that holds a right-to-left character (Bidi class R, AL or AN)
 *     anywhere is a Bidi domain name, and then every label, ASCII ones too,
 *     must satisfy RFC 5893 §2's six conditions (Bidi classes from
 *     libunistring): "0a.\u05d0" is refused for its first label;
 *   - the whole name, in its ASCII form, is at most 253 octets.
 *
 * Pure functions of their input; libidn2 and libunistring allocate and
 * free within a call. */
#ifndef HL_IDN_H
#define HL_IDN_H

#include <stdbool.h>
#include <stddef.h>

enum {
  HL_IDN_ASCII = 1u, /* ASCII only, "." only ("hostname"); A-labels still decoded and checked */
};

/* Whether the n bytes at s are a host name, as above. */
bool hl_idn_hostname(const char *s, size_t n, unsigned flags);

#endif
