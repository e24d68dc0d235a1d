/* fuzz_format: JSON Schema's asserted formats (src/schema/hl_format), each
 * fed the input's bytes as they are.
 *
 * Properties, beyond no crash, leak, read past the input or undefined
 * behaviour (the checkers take a length, not a NUL):
 * - the same answer twice;
 * - the grammars nest as their RFCs nest them: a uri is a uri-reference
 *   and an iri, and both are iri-references;
 *   a json-pointer is a relative-json-pointer after "0"; an ipv4 address
 *   is a uri host ("http://" + it + ":80/") and an e-mail address literal
 *   ("a@[" + it + "]"); an ipv6 address is a uri host in brackets and an
 *   e-mail literal after "IPv6:"; a hostname is an e-mail domain
 *   ("a@" + it) and a uri host ("http://" + it + "/");
 * - a hostname is an idn-hostname and an email an idn-email, and on ASCII
 *   input each pair agrees; an idn-hostname is an idn-email domain;
 * - an email has an "@"; a date-time is a date, "T" and a time; a format
 *   not asserted (regex) takes anything. */
#include "fuzz_util.h"
#include "common/hl_common.h"
#include "schema/hl_format.h"

static const char *const names[] = {"date-time", "date",    "time",          "duration",  "email",
                                    "hostname",  "ipv4",    "ipv6",          "uri",       "uri-reference",
                                    "uuid",      "json-pointer", "relative-json-pointer", "iri", "iri-reference",
                                    "uri-template", "idn-hostname", "idn-email"};

static bool valid(const char *name, const char *s, size_t n) { return hl_format_valid(name, s, n); }

/* prefix + the input + suffix, checked as `name`. */
static bool wrapped(const char *name, const char *prefix, const char *s, size_t n, const char *suffix) {
  size_t pl = strlen(prefix), sl = strlen(suffix);
  char *b = hl_malloc(pl + n + sl + 1);
  memcpy(b, prefix, pl);
  memcpy(b + pl, s, n);
  memcpy(b + pl + n, suffix, sl);
  bool ok = valid(name, b, pl + n + sl);
  hl_free(b);
  return ok;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc; (void)argv;
  fuzz_quiet();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *s = fuzz_exact_copy(data, size);
  bool v[HL_ARRAY_SIZE(names)];
  for (size_t i = 0; i < HL_ARRAY_SIZE(names); i++) {
    FUZZ_CHECK(hl_format_known(names[i]));
    v[i] = valid(names[i], s, size);
    FUZZ_CHECK(valid(names[i], s, size) == v[i]);
  }
  if (v[0]) FUZZ_CHECK(size > 11 && valid("date", s, 10) && valid("time", s + 11, size - 11));
  if (v[4]) FUZZ_CHECK(memchr(s, '@', size) != NULL);
  if (v[5]) {
    FUZZ_CHECK(wrapped("email", "a@", s, size, ""));
    FUZZ_CHECK(wrapped("uri", "http://", s, size, "/"));
  }
  if (v[6]) {
    FUZZ_CHECK(wrapped("uri", "http://", s, size, ":80/"));
    FUZZ_CHECK(wrapped("email", "a@[", s, size, "]"));
  }
  if (v[7]) {
    FUZZ_CHECK(wrapped("uri", "http://[", s, size, "]/"));
    FUZZ_CHECK(wrapped("email", "a@[IPv6:", s, size, "]"));
  }
  if (v[8]) FUZZ_CHECK(v[9] && v[13]); /* a uri is a uri-reference and an iri */
  if (v[9]) FUZZ_CHECK(v[14]);         /* a uri-reference is an iri-reference */
  if (v[13]) FUZZ_CHECK(v[14]);
  if (v[11]) FUZZ_CHECK(wrapped("relative-json-pointer", "0", s, size, ""));
  if (v[5]) FUZZ_CHECK(v[16]); /* a hostname is an idn-hostname */
  if (v[4]) FUZZ_CHECK(v[17]); /* an email is an idn-email */
  if (v[16]) FUZZ_CHECK(wrapped("idn-email", "a@", s, size, ""));
  bool ascii = true;
  for (size_t i = 0; i < size; i++) ascii = ascii && (unsigned char)s[i] < 0x80;
  if (ascii) FUZZ_CHECK(v[5] == v[16] && v[4] == v[17]);
  FUZZ_CHECK(!hl_format_known("regex") && valid("regex", s, size)); /* not asserted: an annotation */
  hl_free(s);
  return 0;
}
