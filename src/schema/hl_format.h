/* hl_format.h — JSON Schema's "format" values, checked (draft 2020-12
 * §7.3; the same names in draft-07). A schema asserts them only when asked
 * to ("x-format-assertion": true at its root, or
 * hl_schema_options.format_assertion); otherwise a format is an annotation.
 *
 * Each checker follows its RFC's grammar whole, as the official
 * JSON-Schema-Test-Suite's optional format tests state it:
 *
 *   date-time, date, time   RFC 3339 §5.6 (common/hl_rfc3339)
 *   duration                RFC 3339 Appendix A
 *   email                   RFC 5321 §4.1.2 Mailbox: dot-string or quoted
 *                           local part; a host name or an address literal
 *   idn-email               the same with RFC 6531 §3.3: any non-ASCII
 *                           character in the local part, an idn-hostname
 *                           as the domain
 *   hostname                RFC 1123 labels; an A-label ("xn--") must be
 *                           valid IDNA2008 (RFC 5891) (schema/hl_idn)
 *   idn-hostname            IDNA2008 U-labels and A-labels, read for
 *                           lookup, with RFC 5893's Bidi rule (schema/hl_idn)
 *   ipv4, ipv6              RFC 2673 §3.2 dotted-quad, RFC 4291 §2.2
 *   uri, uri-reference      RFC 3986 §3 and §4.1
 *   iri, iri-reference      RFC 3987 §2.2 (the same, with ucschar, and
 *                           iprivate in a query)
 *   uri-template            RFC 6570 §2 (with its errata 6937: "'" is a
 *                           literal)
 *   uuid                    RFC 4122 §3, any version and case
 *   json-pointer            RFC 6901 §3
 *   relative-json-pointer   draft-bhutton-relative-json-pointer-00
 *
 * A schema that asks for assertion of any other format (regex, whose
 * ECMA-262 grammar PCRE2 does not check, or a name of its own) is refused
 * when compiled: checking less than
 * the name promises would let through what the schema's author meant to
 * stop. Pure functions. */
#ifndef HL_FORMAT_H
#define HL_FORMAT_H

#include <stdbool.h>
#include <stddef.h>

/* Whether hl_format_valid checks the format `name`. */
bool hl_format_known(const char *name);
/* Whether the n bytes at s are a valid `name` (a known format). */
bool hl_format_valid(const char *name, const char *s, size_t n);
/* The known formats, comma-separated, for messages. */
const char *hl_format_list(void);

#endif
