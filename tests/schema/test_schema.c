#include "hl_test.h"
#include "hl_testutil.h"
#include "common/hl_common.h"
#include "schema/hl_format.h"
#include "schema/hl_schema.h"
#include "schema/hl_schema_cli.h"
#include "schema/hl_schema_docs.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

static hl_schema *compile(const char *text) {
  hl_json_doc d;
  hl_json_doc_init(&d);
  HL_ASSERT(hl_json_parse(&d, text, strlen(text), NULL) == 0);
  hl_schema *s = NULL;
  hl_schema_errors errs;
  int rc = hl_schema_compile(d.root, NULL, &s, &errs);
  HL_ASSERT_MSG(rc == 0, "compile failed: %s", errs.count ? errs.items[0].message : "?");
  hl_json_doc_dispose(&d); /* the compiled schema keeps its own copy */
  return s;
}

static bool check(const hl_schema *s, const char *inst, hl_schema_errors *errs) {
  hl_json_doc d;
  hl_json_doc_init(&d);
  HL_ASSERT(hl_json_parse(&d, inst, strlen(inst), NULL) == 0);
  bool ok = hl_schema_validate(s, d.root, errs);
  hl_json_doc_dispose(&d);
  return ok;
}

HL_TEST(errors_carry_pointers_keywords_and_messages) {
  hl_schema *s = compile("{\"type\":\"object\",\"required\":[\"id\"],\"properties\":{"
                         "\"amount\":{\"type\":\"number\",\"minimum\":0},"
                         "\"items\":{\"type\":\"array\",\"items\":{\"properties\":{\"sku\":{\"type\":\"string\"}}}},"
                         "\"a/b\":{\"const\":1}}}");
  hl_schema_errors e;
  HL_ASSERT(!check(s, "{\"amount\":-5,\"items\":[{\"sku\":\"x\"},{\"sku\":7}],\"a/b\":2}", &e));
  HL_ASSERT_EQ_INT(e.count, 4);
  bool saw_min = false, saw_sku = false, saw_req = false, saw_esc = false;
  for (size_t i = 0; i < e.count; i++) {
    if (!strcmp(e.items[i].instance_path, "/amount")) {
      saw_min = true;
      HL_ASSERT_EQ_STR(e.items[i].keyword, "minimum");
      HL_ASSERT_EQ_STR(e.items[i].message, "/amount: -5 is less than minimum 0");
      HL_ASSERT_EQ_STR(e.items[i].schema_path, "/properties/amount/minimum");
    }
    if (!strcmp(e.items[i].instance_path, "/items/1/sku")) saw_sku = !strcmp(e.items[i].keyword, "type");
    if (!strcmp(e.items[i].keyword, "required")) saw_req = !strcmp(e.items[i].instance_path, "");
    if (!strcmp(e.items[i].instance_path, "/a~1b")) saw_esc = true;
  }
  HL_ASSERT(saw_min && saw_sku && saw_req && saw_esc);
  hl_schema_free(s);
}

/* An instance path too long for its 255 bytes names the deepest ancestor
 * that fits: it was cut inside a token ("~0~0~1~" of a name full of "~" and
 * "/"), a pointer to nowhere (fuzz/crashes/schema/cut_instance_path.txt). */
HL_TEST(a_long_instance_path_names_an_ancestor) {
  char key[200], inst[700];
  for (size_t i = 0; i < sizeof key - 1; i++) key[i] = i % 3 == 0 ? '~' : i % 3 == 1 ? '/' : 'k';
  key[sizeof key - 1] = '\0';
  const char *schemas[] = {"{\"additionalProperties\":{\"type\":\"string\"}}",
                           "{\"additionalProperties\":{\"additionalProperties\":{\"type\":\"string\"}}}"};
  const char *fmt[] = {"{\"%s\":1}", "{\"a\":{\"%s\":1},\"%s\":{\"b\":1}}"};
  for (size_t t = 0; t < 2; t++) {
    snprintf(inst, sizeof inst, fmt[t], key, key);
    hl_schema *s = compile(schemas[t]);
    hl_schema_errors e;
    hl_json_doc d;
    hl_json_doc_init(&d);
    HL_ASSERT(hl_json_parse(&d, inst, strlen(inst), NULL) == 0);
    HL_ASSERT(!hl_schema_validate(s, d.root, &e) && e.count >= 1);
    for (size_t i = 0; i < e.count; i++)
      HL_ASSERT_MSG(hl_json_pointer(d.root, e.items[i].instance_path, strlen(e.items[i].instance_path)),
                    "%s does not resolve", e.items[i].instance_path);
    hl_json_doc_dispose(&d);
    hl_schema_free(s);
  }
}

/* A member name holding U+0000 cannot be written into the C-string path:
 * the error names the deepest ancestor without one ("/a" for
 * {"a":{"x\u0000y":1}}, the root for {"x\u0000y":1}), which resolves,
 * rather than the name cut at its NUL ("/a/x"), which names another member
 * (fuzz/crashes/schema/nul_in_member_name.txt). */
HL_TEST(a_member_name_with_a_nul_names_its_parent) {
  static const struct { const char *schema, *inst, *path; } cases[] = {
      {"{\"additionalProperties\":{\"type\":\"string\"}}", "{\"x\\u0000y\":1}", ""},
      {"{\"properties\":{\"a\":{\"additionalProperties\":{\"type\":\"string\"}}}}",
       "{\"a\":{\"x\\u0000y\":1},\"x\":{\"y\":2}}", "/a"},
  };
  for (size_t t = 0; t < HL_ARRAY_SIZE(cases); t++) {
    hl_schema *s = compile(cases[t].schema);
    hl_schema_errors e;
    hl_json_doc d;
    hl_json_doc_init(&d);
    HL_ASSERT(hl_json_parse(&d, cases[t].inst, strlen(cases[t].inst), NULL) == 0);
    HL_ASSERT(!hl_schema_validate(s, d.root, &e) && e.count == 1);
    HL_ASSERT_EQ_STR(e.items[0].instance_path, cases[t].path);
    HL_ASSERT(hl_json_pointer(d.root, e.items[0].instance_path, strlen(e.items[0].instance_path)) != NULL);
    hl_json_doc_dispose(&d);
    hl_schema_free(s);
  }
}

HL_TEST(error_list_is_capped) {
  hl_schema *s = compile("{\"items\":{\"type\":\"string\"}}");
  hl_buf b = HL_BUF_INIT;
  hl_buf_putc(&b, '[');
  for (int i = 0; i < 100; i++) hl_buf_printf(&b, "%s%d", i ? "," : "", i);
  hl_buf_putc(&b, ']');
  hl_schema_errors e;
  HL_ASSERT(!check(s, b.data, &e));
  HL_ASSERT_EQ_INT(e.count, HL_SCHEMA_MAX_ERRORS);
  HL_ASSERT_EQ_INT(e.total, 100);
  hl_buf_dispose(&b);
  hl_schema_free(s);
}

HL_TEST(numbers_are_exact) {
  hl_schema *s = compile("{\"multipleOf\":0.1}");
  HL_ASSERT(check(s, "0.3", NULL));
  HL_ASSERT(!check(s, "0.35", NULL));
  hl_schema_free(s);
  s = compile("{\"multipleOf\":0.01}");
  HL_ASSERT(check(s, "19.99", NULL));
  HL_ASSERT(check(s, "1e308", NULL));
  hl_schema_free(s);
  s = compile("{\"minimum\":12345678901234567890}");
  HL_ASSERT(!check(s, "12345678901234567889", NULL));
  HL_ASSERT(check(s, "12345678901234567890", NULL));
  hl_schema_free(s);
  s = compile("{\"exclusiveMaximum\":0.1}");
  HL_ASSERT(!check(s, "0.10000000000000000000001", NULL));
  HL_ASSERT(check(s, "0.09999999999999999999999", NULL));
  hl_schema_free(s);
  s = compile("{\"type\":\"integer\"}");
  HL_ASSERT(check(s, "1.0", NULL));
  HL_ASSERT(check(s, "1e2", NULL));
  HL_ASSERT(!check(s, "1.5", NULL));
  hl_schema_free(s);
}

HL_TEST(bad_schemas_are_refused_with_pointers) {
  const struct { const char *schema, *kw, *path, *says; } bad[] = {
    {"{\"type\":\"nonsense\"}", "type", "/type", NULL},
    {"{\"properties\":{\"a\":{\"minimum\":\"5\"}}}", "minimum", "/properties/a/minimum", NULL},
    {"{\"pattern\":\"([a-z\"}", "pattern", "/pattern", NULL},
    {"{\"$ref\":\"#/$defs/missing\"}", "$ref", "/$ref", NULL},
    {"{\"required\":\"id\"}", "required", "/required", NULL},
    {"{\"allOf\":[]}", "allOf", "/allOf", NULL},
    {"{\"minLength\":-1}", "minLength", "/minLength", NULL},
    {"{\"multipleOf\":0}", "multipleOf", "/multipleOf", NULL},
    /* asserted, a format hookloop does not check (x_format_assertion_...) */
    {"{\"x-format-assertion\":true,\"properties\":{\"a\":{\"format\":\"regex\"}}}", "format",
     "/properties/a/format", "format \"regex\" cannot be asserted"},
    {"{\"x-format-assertion\":true,\"format\":\"credit-card\"}", "format", "/format",
     "the formats checked are date-time, date, time, duration, email, idn-email, hostname, idn-hostname, ipv4, ipv6, "
     "uri, uri-reference, iri, iri-reference, uri-template, uuid, json-pointer, relative-json-pointer"}, /* whole */
    {"{\"x-format-assertion\":\"yes\"}", "x-format-assertion", "/x-format-assertion", "expected true or false"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    hl_json_doc d;
    hl_json_doc_init(&d);
    HL_ASSERT(hl_json_parse(&d, bad[i].schema, strlen(bad[i].schema), NULL) == 0);
    hl_schema *s = NULL;
    hl_schema_errors e;
    HL_ASSERT_MSG(hl_schema_compile(d.root, NULL, &s, &e) == HL_EINVAL, "accepted %s", bad[i].schema);
    HL_ASSERT(s == NULL && e.count >= 1);
    HL_ASSERT_EQ_STR(e.items[0].keyword, bad[i].kw);
    HL_ASSERT_EQ_STR(e.items[0].schema_path, bad[i].path);
    HL_ASSERT_MSG(!bad[i].says || strstr(e.items[0].message, bad[i].says), "%s", e.items[0].message);
    hl_json_doc_dispose(&d);
  }
}

HL_TEST(format_is_an_annotation_unless_asserted) {
  hl_json_doc d;
  hl_json_doc_init(&d);
  const char *text = "{\"format\":\"date-time\"}";
  HL_ASSERT(hl_json_parse(&d, text, strlen(text), NULL) == 0);
  hl_schema *loose = NULL, *strict = NULL;
  hl_schema_options opt = {.format_assertion = true};
  HL_ASSERT(hl_schema_compile(d.root, NULL, &loose, NULL) == 0);
  HL_ASSERT(hl_schema_compile(d.root, &opt, &strict, NULL) == 0);
  HL_ASSERT(check(loose, "\"yesterday\"", NULL));
  HL_ASSERT(!check(strict, "\"yesterday\"", NULL));
  HL_ASSERT(check(strict, "\"2026-11-24T06:00:00.123Z\"", NULL));
  const struct { const char *fmt, *good, *bad; } f[] = {
    {"date", "\"2026-11-24\"", "\"2026-13-01\""}, {"time", "\"06:00:00Z\"", "\"6am\""},
    {"email", "\"ops@example.com\"", "\"ops.example.com\""}, {"ipv4", "\"192.0.2.1\"", "\"192.0.2.300\""},
    {"ipv6", "\"2001:db8::1\"", "\"2001:db8:::1\""}, {"uuid", "\"3f2b8c1e-9d4a-4e6f-8b2a-1c5d7e9f0a1b\"", "\"3f2b8c1e\""},
    {"hostname", "\"api.example.com\"", "\"-bad-.example\""}, {"uri", "\"https://example.com/x\"", "\"not a uri\""},
  };
  for (size_t i = 0; i < sizeof f / sizeof *f; i++) {
    char text2[64];
    snprintf(text2, sizeof text2, "{\"format\":\"%s\"}", f[i].fmt);
    hl_json_doc d2;
    hl_json_doc_init(&d2);
    HL_ASSERT(hl_json_parse(&d2, text2, strlen(text2), NULL) == 0);
    hl_schema *fs = NULL;
    HL_ASSERT(hl_schema_compile(d2.root, &opt, &fs, NULL) == 0);
    HL_ASSERT_MSG(check(fs, f[i].good, NULL), "%s rejected %s", f[i].fmt, f[i].good);
    HL_ASSERT_MSG(!check(fs, f[i].bad, NULL), "%s accepted %s", f[i].fmt, f[i].bad);
    hl_schema_free(fs);
    hl_json_doc_dispose(&d2);
  }
  hl_schema_free(loose);
  hl_schema_free(strict);
  hl_json_doc_dispose(&d);
}

/* "x-format-assertion": true at a schema's root asserts its formats; one
 * that hookloop does not check refuses the schema, with its pointer
 * (bad_schemas_are_refused_with_pointers). */
HL_TEST(x_format_assertion_asserts_and_refuses_what_it_cannot_check) {
  hl_schema *s = compile("{\"x-format-assertion\":true,\"properties\":{\"email\":{\"format\":\"email\"},"
                         "\"when\":{\"format\":\"date-time\"},\"host\":{\"format\":\"hostname\"}}}");
  HL_ASSERT(check(s, "{\"email\":\"ops@example.com\",\"when\":\"2026-11-29T19:31:33Z\","
                     "\"host\":\"xn--bcher-kva.example\"}", NULL));
  const struct { const char *inst, *path; } bad[] = {
    {"{\"email\":\"ops..x@example.com\"}", "/email"},
    {"{\"email\":\"ops@exa_mple.com\"}", "/email"},
    {"{\"when\":\"2026-02-29T00:00:00Z\"}", "/when"},
    {"{\"host\":\"xn--hello-txk.example\"}", "/host"}, /* Punycode that is no valid IDNA2008 label */
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    hl_schema_errors e;
    HL_ASSERT_MSG(!check(s, bad[i].inst, &e), "accepted %s", bad[i].inst);
    HL_ASSERT_EQ_STR(e.items[0].keyword, "format");
    HL_ASSERT_EQ_STR(e.items[0].instance_path, bad[i].path);
  }
  hl_schema_free(s);

  /* false, or absent: formats are annotations, whatever their name. */
  const char *loose[] = {"{\"x-format-assertion\":false,\"format\":\"email\"}", "{\"format\":\"iri\"}"};
  for (size_t i = 0; i < sizeof loose / sizeof *loose; i++) {
    hl_schema *l = compile(loose[i]);
    HL_ASSERT(check(l, "\"not one\"", NULL));
    hl_schema_free(l);
  }
}

/* Host names and e-mail addresses under IDNA2008, beyond the official
 * suite's cases (schema/hl_idn): a name is read as a lookup reads it
 * (lower-cased, NFC, the ideographic full stops as separators); the Bidi
 * rule binds every label of a name that holds right-to-left text, an
 * ASCII "hostname" with an A-label too; no input makes a check long. */
HL_TEST(internationalized_host_names_and_addresses) {
  const struct { const char *fmt, *value; bool valid; } c[] = {
    {"idn-hostname", "b\\u00fccher.example", true},
    {"idn-hostname", "B\\u00dcCHER.example", true},            /* mapped to lower case, as for lookup */
    {"idn-hostname", "bu\\u0308cher.example", true},           /* NFC composes u + U+0308 */
    {"idn-hostname", "\\u212a.example", true},                 /* KELVIN SIGN: "k" in NFC */
    {"idn-hostname", "\\u05d0\\u05d1.\\u05d2\\u05d3", true},     /* right to left, both labels */
    {"idn-hostname", "a.\\u05d0\\u05d1", true},                /* an LTR label ending in L */
    {"idn-hostname", "a1-.\\u05d0", false},                   /* a hyphen last */
    {"idn-hostname", "a-1.\\u05d0", true},                    /* EN last: condition 6 allows it */
    {"idn-hostname", "1a.\\u05d0", false},                    /* condition 1, in a Bidi domain name */
    {"idn-hostname", "1a.example", true},                     /* no RTL text: no Bidi rule */
    {"idn-hostname", "\\u05d0a", false},                       /* condition 2: L in an RTL label */
    {"idn-hostname", "\\u05d0\\u0661\\u0031", false},            /* condition 4: AN and EN together */
    {"idn-hostname", "\\u05d0\\u0031", true},                   /* EN last: condition 3 allows it */
    {"idn-hostname", "b\\u00fccher\\u3002example", true},
    {"idn-hostname", "a\\u0000b.example", false},
    {"idn-hostname", "a_b.example", false},
    {"idn-hostname", "\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9"
                     "\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9"
                     "\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9"
                     "\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9",
     false}, /* 80 letters: an A-label far past 63 octets */
    {"hostname", "b\\u00fccher.example", false},               /* non-ASCII: only idn-hostname */
    {"hostname", "xn--bcher-kva.example", true},
    {"hostname", "a\\u3002example", false},
    {"hostname", "1a.xn--4db", false},                        /* "1a." then Hebrew alef: the Bidi rule, read from the A-label */
    {"hostname", "a.xn--4db", true},
    {"idn-email", "\\u03b4\\u03bf\\u03ba\\u03b9\\u03bc\\u03ae@\\u03c0\\u03b1\\u03c1\\u03ac\\u03b4\\u03b5\\u03b9\\u03b3\\u03bc\\u03b1.example", true},
    {"idn-email", "ops@b\\u00fccher.example", true},
    {"idn-email", "ops@[IPv6:2001:db8::1]", true},
    {"idn-email", "ops@1a.\\u05d0", false},
    {"idn-email", "\\u00e9..x@example.com", false},
    {"email", "\\u00e9@example.com", false},                  /* non-ASCII: only idn-email */
  };
  for (size_t i = 0; i < sizeof c / sizeof *c; i++) {
    char schema[96], inst[1024];
    snprintf(schema, sizeof schema, "{\"x-format-assertion\":true,\"format\":\"%s\"}", c[i].fmt);
    snprintf(inst, sizeof inst, "\"%s\"", c[i].value);
    hl_schema *s = compile(schema);
    HL_ASSERT_MSG(check(s, inst, NULL) == c[i].valid, "%s %s: expected %s", c[i].fmt, c[i].value,
                  c[i].valid ? "valid" : "invalid");
    hl_schema_free(s);
  }

  /* A long input is refused after at most a label's worth of work: a
   * megabyte of one label, and of labels of "\u00e9" (the name's ASCII form
   * passes 253 octets after ~30). */
  size_t n = 1 << 20;
  char *big = malloc(n);
  HL_ASSERT(big);
  memset(big, 'a', n);
  HL_ASSERT(!hl_format_valid("idn-hostname", big, n));
  for (size_t i = 0; i + 3 <= n; i += 3) memcpy(big + i, "\xc3\xa9.", 3);
  HL_ASSERT(!hl_format_valid("idn-hostname", big, n - n % 3 - 1));
  free(big);
}

/* Runs the CLI in a child with stdin from `input`; returns exit status and stdout. */
static int run_cli(char **argv, int argc, const char *input, char *out, size_t outlen) {
  int in[2], o[2];
  HL_ASSERT(pipe(in) == 0 && pipe(o) == 0);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(in[0], 0);
    dup2(o[1], 1);
    close(in[1]);
    close(o[0]);
    int rc = hl_schema_cli_check(argc, argv);
    fflush(stdout);
    _exit(rc);
  }
  close(in[0]);
  close(o[1]);
  if (input) HL_ASSERT(write(in[1], input, strlen(input)) == (ssize_t)strlen(input));
  close(in[1]);
  size_t n = 0;
  ssize_t r;
  while ((r = read(o[0], out + n, outlen - n - 1)) > 0) n += (size_t)r;
  out[n] = '\0';
  close(o[0]);
  int st;
  waitpid(pid, &st, 0);
  return WEXITSTATUS(st);
}

HL_TEST(schema_check_command) {
  char *dir = hl_tmpdir("schema-cli");
  char schema[512], good[512], bad[512], out[8192];
  snprintf(schema, sizeof schema, "%s/s.json", dir);
  snprintf(good, sizeof good, "%s/good.json", dir);
  snprintf(bad, sizeof bad, "%s/bad.json", dir);
  FILE *f = fopen(schema, "w");
  fputs("{\"type\":\"object\",\"properties\":{\"amount\":{\"minimum\":0}}}", f);
  fclose(f);
  f = fopen(good, "w"); fputs("{\"amount\": 1}", f); fclose(f);
  f = fopen(bad, "w"); fputs("{\"amount\": -1}", f); fclose(f);
  char *a1[] = {schema, good};
  HL_ASSERT_EQ_INT(run_cli(a1, 2, NULL, out, sizeof out), 0);
  HL_ASSERT_EQ_STR(out, "valid\n");
  char *a2[] = {schema, good, bad};
  HL_ASSERT_EQ_INT(run_cli(a2, 3, NULL, out, sizeof out), 1);
  HL_ASSERT(strncmp(out, "valid\ninvalid [", 15) == 0 && strstr(out, "\"path\":\"/amount\""));
  /* stdin mode: one instance per line, one answer per line. */
  char *a3[] = {schema};
  HL_ASSERT_EQ_INT(run_cli(a3, 1, "{\"amount\":2}\n{\"amount\":-2}\nnot json\n\"str\"\n", out, sizeof out), 1);
  char *l2 = strchr(out, '\n') + 1, *l3 = strchr(l2, '\n') + 1, *l4 = strchr(l3, '\n') + 1;
  HL_ASSERT(strncmp(out, "valid\n", 6) == 0 && strncmp(l2, "invalid [", 9) == 0 && strncmp(l3, "invalid [", 9) == 0 &&
            strncmp(l4, "invalid [", 9) == 0);
  HL_ASSERT_EQ_INT(run_cli(a3, 1, "{\"amount\":2}\n", out, sizeof out), 0);
  /* Unusable schema or file: 2. */
  char *a4[] = {good, good};
  f = fopen(good, "w"); fputs("{\"type\": 5}", f); fclose(f);
  HL_ASSERT_EQ_INT(run_cli(a4, 2, NULL, out, sizeof out), 2);
  /* A dialect not read here is refused, as at registration. */
  f = fopen(good, "w"); fputs("{\"$schema\":\"http://json-schema.org/draft-04/schema#\"}", f); fclose(f);
  HL_ASSERT_EQ_INT(run_cli(a4, 2, NULL, out, sizeof out), 2);
  char missing[] = "/nonexistent/schema.json";
  char *a5[] = {missing};
  HL_ASSERT_EQ_INT(run_cli(a5, 1, "", out, sizeof out), 2);
  HL_ASSERT_EQ_INT(run_cli(a5, 0, "", out, sizeof out), 2);
  hl_rmtree(dir);
  free(dir);
}

/* Compiling text must fail with one error at the given schema location. */
static void refused(const char *text, const char *where) {
  hl_json_doc d;
  hl_json_doc_init(&d);
  HL_ASSERT(hl_json_parse(&d, text, strlen(text), NULL) == 0); /* duplicates parse when not refused */
  hl_schema *s = NULL;
  hl_schema_errors errs;
  int rc = hl_schema_compile(d.root, NULL, &s, &errs);
  HL_ASSERT_MSG(rc == HL_EINVAL, "compiled: %s", text);
  HL_ASSERT(s == NULL);
  HL_ASSERT(errs.count >= 1);
  HL_ASSERT_EQ_STR(errs.items[0].instance_path, where);
  hl_json_doc_dispose(&d);
}

/* A keyword given twice: the pattern list was sized by the second
 * occurrence and filled by both (a heap overflow under ASan); a second
 * prefixItems leaked the first list. Both are refused now, with a pointer. */
HL_TEST(a_keyword_given_twice_is_refused) {
  refused("{\"patternProperties\":{\"^a\":{},\"^b\":{},\"^c\":{},\"^d\":{}},\"patternProperties\":{\"^e\":{}}}",
          "/patternProperties");
  refused("{\"prefixItems\":[{},{}],\"prefixItems\":[{}]}", "/prefixItems");
  refused("{\"properties\":{\"a\":{\"type\":\"string\",\"minLength\":1,\"type\":\"number\"}}}", "/properties/a/type");
  refused("{\"$defs\":{\"x\":{},\"x\":{}}}", "/$defs/x");
  refused("{\"items\":[{}],\"items\":[{},{}],\"$schema\":\"http://json-schema.org/draft-07/schema#\"}", "/items");
}

/* --- cost: linear keywords and a budget ----------------------------------------- */

static hl_schema_verdict verdict(const hl_schema *s, const char *inst, size_t len, hl_schema_budget *b,
                                 hl_schema_errors *e) {
  hl_json_doc d;
  hl_json_doc_init(&d);
  HL_ASSERT(hl_json_parse(&d, inst, len, NULL) == 0);
  hl_schema_verdict v = hl_schema_check(s, d.root, b, e);
  hl_json_doc_dispose(&d);
  return v;
}

/* 400 KB of distinct numbers: the pairwise check took minutes; hashing takes
 * one step per item. Equal numbers in other spellings are found. */
HL_TEST(unique_items_is_linear_and_compares_exact_values) {
  hl_schema *s = compile("{\"uniqueItems\":true}");
  hl_buf b = HL_BUF_INIT;
  hl_buf_putc(&b, '[');
  uint32_t n = 0;
  for (; b.len < 400000; n++) hl_buf_printf(&b, "%s%u", n ? "," : "", (n + 1) * 7919u);
  hl_buf_putc(&b, ']');
  hl_schema_budget bud = hl_schema_budget_for(b.len);
  uint64_t before = bud.steps;
  hl_schema_errors e;
  HL_ASSERT_EQ_INT(verdict(s, b.data, b.len, &bud, &e), HL_SCHEMA_VALID);
  HL_ASSERT_MSG(before - bud.steps <= 2 * (uint64_t)n + 10, "%llu steps for %u items",
                (unsigned long long)(before - bud.steps), n);
  /* The same with one repeat spelled differently at the end: 7919 as 7.919e3. */
  b.len--;
  hl_buf_puts(&b, ",7.919e3]");
  bud = hl_schema_budget_for(b.len);
  HL_ASSERT_EQ_INT(verdict(s, b.data, b.len, &bud, &e), HL_SCHEMA_INVALID);
  HL_ASSERT_EQ_STR(e.items[0].keyword, "uniqueItems");
  char want[64];
  snprintf(want, sizeof want, "(root): items 0 and %u are equal", n);
  HL_ASSERT_EQ_STR(e.items[0].message, want);
  hl_buf_dispose(&b);
  /* Objects regardless of member order, 1 == 1.0 == 10e-1, but 1 != "1". */
  HL_ASSERT(!check(s, "[{\"a\":1,\"b\":[1.0]},{\"b\":[10e-1],\"a\":1.00}]", NULL));
  HL_ASSERT(check(s, "[1,\"1\",[1],{\"1\":1},true,null,1.5]", NULL));
  hl_schema_free(s);
}

/* A pattern that backtracks exponentially: each string would take PCRE2 up
 * to its default match limit (~10 ms each, minutes over a 1 MiB event).
 * With the budget the event is too complex, and says where. */
HL_TEST(a_backtracking_pattern_runs_out_of_budget) {
  hl_schema *s = compile("{\"type\":\"array\",\"items\":{\"type\":\"string\",\"pattern\":\"^(a|aa)+$\"}}");
  hl_buf b = HL_BUF_INIT;
  hl_buf_putc(&b, '[');
  for (int i = 0; b.len < 1000000; i++) hl_buf_printf(&b, "%s\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!\"", i ? "," : "");
  hl_buf_putc(&b, ']');
  hl_schema_budget bud = hl_schema_budget_for(b.len);
  hl_schema_errors e;
  HL_ASSERT_EQ_INT(verdict(s, b.data, b.len, &bud, &e), HL_SCHEMA_TOO_COMPLEX);
  HL_ASSERT_EQ_INT(e.count, 1);
  HL_ASSERT_EQ_STR(e.items[0].keyword, "too_complex");
  HL_ASSERT(strncmp(e.items[0].instance_path, "/", 1) == 0); /* an item's location */
  HL_ASSERT_EQ_INT(bud.regex, 0);
  /* A short string that matches is still decided, within the same budget kind. */
  bud = hl_schema_budget_for(0);
  HL_ASSERT_EQ_INT(verdict(s, "[\"aaaa\",\"aa\"]", 13, &bud, &e), HL_SCHEMA_VALID);
  HL_ASSERT_EQ_INT(verdict(s, "[\"aaab\"]", 8, &bud, &e), HL_SCHEMA_INVALID);
  HL_ASSERT_EQ_STR(e.items[0].keyword, "pattern");
  hl_buf_dispose(&b);
  hl_schema_free(s);
}

/* Nested anyOf over recursion: exponential in the depth of the instance.
 * The step budget stops it. */
HL_TEST(an_exponential_schema_runs_out_of_steps) {
  hl_schema *s = compile("{\"anyOf\":[{\"items\":{\"$ref\":\"#\"},\"maxItems\":0},{\"items\":{\"$ref\":\"#\"}},"
                         "{\"items\":{\"$ref\":\"#\"}}]}");
  char deep[200]; /* 40 levels: within the nesting the validator allows */
  memset(deep, '[', 40);
  memset(deep + 40, ']', 40);
  hl_schema_budget bud = {50000, 50000};
  hl_schema_errors e;
  HL_ASSERT_EQ_INT(verdict(s, deep, 80, &bud, &e), HL_SCHEMA_TOO_COMPLEX);
  HL_ASSERT_EQ_INT(bud.steps, 0);
  HL_ASSERT_EQ_STR(e.items[0].keyword, "too_complex");
  hl_schema_free(s);
}

/* Recursion deeper than the validator nests (a thread's stack bounds it)
 * is too complex, not a verdict: a reply tree flagged 60 levels down made
 * the "flagged" check fail there, so "not" let the tree through, and an
 * unflagged tree as deep was refused as a schema violation at "$ref". */
HL_TEST(recursion_deeper_than_the_validator_nests_is_too_complex) {
  hl_schema *s = compile("{\"$defs\":{\"flagged\":{\"anyOf\":[{\"required\":[\"flagged\"]},"
                         "{\"required\":[\"reply\"],\"properties\":{\"reply\":{\"$ref\":\"#/$defs/flagged\"}}}]}},"
                         "\"not\":{\"$ref\":\"#/$defs/flagged\"}}");
  hl_buf flagged = HL_BUF_INIT, clean = HL_BUF_INIT;
  for (int i = 0; i < 60; i++) {
    hl_buf_puts(&flagged, "{\"reply\":");
    hl_buf_puts(&clean, "{\"reply\":");
  }
  hl_buf_puts(&flagged, "{\"flagged\":true}");
  hl_buf_puts(&clean, "{}");
  for (int i = 0; i < 60; i++) {
    hl_buf_putc(&flagged, '}');
    hl_buf_putc(&clean, '}');
  }
  hl_schema_budget bud = hl_schema_budget_for(0);
  hl_schema_errors e;
  HL_ASSERT_EQ_INT(verdict(s, flagged.data, flagged.len, &bud, &e), HL_SCHEMA_TOO_COMPLEX);
  HL_ASSERT_EQ_STR(e.items[0].keyword, "too_complex");
  HL_ASSERT(strncmp(e.items[0].instance_path, "/reply/reply/", 13) == 0); /* where it stopped */
  bud = hl_schema_budget_for(0);
  HL_ASSERT_EQ_INT(verdict(s, clean.data, clean.len, &bud, &e), HL_SCHEMA_TOO_COMPLEX);
  /* Shallower, both are decided. */
  bud = hl_schema_budget_for(0);
  HL_ASSERT_EQ_INT(verdict(s, "{\"reply\":{\"reply\":{\"flagged\":1}}}", 33, &bud, &e), HL_SCHEMA_INVALID);
  HL_ASSERT_EQ_INT(verdict(s, "{\"reply\":{\"reply\":{}}}", 22, &bud, &e), HL_SCHEMA_VALID);
  hl_buf_dispose(&flagged);
  hl_buf_dispose(&clean);
  hl_schema_free(s);
}

/* multipleOf on a 500,000-digit number: exact, and within the budget. */
HL_TEST(multiple_of_a_huge_number_is_decided_exactly) {
  hl_schema *s = compile("{\"multipleOf\":0.01}");
  hl_schema *s3 = compile("{\"multipleOf\":3}");
  size_t n = 500000;
  char *num = hl_malloc(n + 8);
  unsigned sum = 0;
  for (size_t i = 0; i < n; i++) {
    num[i] = (char)('1' + i % 9);
    sum += (unsigned)(num[i] - '0');
  }
  hl_schema_budget bud = hl_schema_budget_for(n);
  hl_schema_errors e;
  HL_ASSERT_EQ_INT(verdict(s, num, n, &bud, &e), HL_SCHEMA_VALID); /* an integer is a multiple of 0.01 */
  bud = hl_schema_budget_for(n);
  HL_ASSERT_EQ_INT(verdict(s3, num, n, &bud, &e), sum % 3 == 0 ? HL_SCHEMA_VALID : HL_SCHEMA_INVALID);
  memcpy(num + n, ".001", 5);
  bud = hl_schema_budget_for(n + 4);
  HL_ASSERT_EQ_INT(verdict(s, num, n + 4, &bud, &e), HL_SCHEMA_INVALID);
  HL_ASSERT_EQ_STR(e.items[0].keyword, "multipleOf");
  /* Too little budget to read it: too complex, never a guessed "no". */
  hl_schema_budget tiny = {100, 100};
  HL_ASSERT_EQ_INT(verdict(s3, num, n, &tiny, &e), HL_SCHEMA_TOO_COMPLEX);
  hl_free(num);
  hl_schema_free(s);
  hl_schema_free(s3);
}

/* A long enum is a hashed set: each value costs its size, not the enum's. */
HL_TEST(enum_lookups_do_not_scan_the_list) {
  hl_buf sch = HL_BUF_INIT, inst = HL_BUF_INIT;
  hl_buf_puts(&sch, "{\"items\":{\"enum\":[");
  for (int i = 0; i < 2000; i++) hl_buf_printf(&sch, "%s\"code-%d\"", i ? "," : "", i);
  hl_buf_puts(&sch, ",{\"k\":[1,2]},2.5]}}");
  hl_schema *s = compile(sch.data);
  hl_buf_putc(&inst, '[');
  for (int i = 0; i < 2000; i++) hl_buf_printf(&inst, "\"code-%d\",", (i * 37) % 2000);
  hl_buf_puts(&inst, "{\"k\":[1.0,2]},25e-1]");
  hl_schema_budget bud = hl_schema_budget_for(0);
  uint64_t before = bud.steps;
  hl_schema_errors e;
  HL_ASSERT_EQ_INT(verdict(s, inst.data, inst.len, &bud, &e), HL_SCHEMA_VALID);
  HL_ASSERT_MSG(before - bud.steps < 20000, "%llu steps", (unsigned long long)(before - bud.steps));
  HL_ASSERT(!check(s, "[\"code-2000\"]", &e));
  HL_ASSERT_EQ_STR(e.items[0].keyword, "enum");
  hl_buf_dispose(&sch);
  hl_buf_dispose(&inst);
  hl_schema_free(s);
}

/* --- the bundled meta-schemas --------------------------------------------------- */

static int meta_check(const char *text, hl_schema_errors *e) {
  hl_json_doc d;
  hl_json_doc_init(&d);
  HL_ASSERT(hl_json_parse(&d, text, strlen(text), NULL) == 0);
  int rc = hl_schema_check_meta(d.root, e);
  hl_json_doc_dispose(&d);
  return rc;
}

/* An embedded resource whose "$schema" names the other dialect read here
 * is a schema of that dialect (as the compiler reads it), so it is checked
 * against that dialect's meta-schema: a draft-07 tuple "items" inside a
 * 2020-12 schema was refused by 2020-12's ("expected boolean or object"). */
HL_TEST(an_embedded_resource_is_checked_against_its_own_dialects_meta_schema) {
  hl_schema_errors e;
  const char *d7 = "{\"$schema\":\"http://json-schema.org/draft-07/schema#\",\"$id\":\"http://example.com/a\","
                   "\"items\":[{\"type\":\"string\"}]%s}";
  char text[512], inner[256];
  snprintf(inner, sizeof inner, d7, "");
  snprintf(text, sizeof text, "{\"$defs\":{\"a\":%s},\"properties\":{\"x\":{\"$ref\":\"http://example.com/a\"}}}", inner);
  HL_ASSERT_EQ_INT(meta_check(text, &e), 0);
  /* Its own meta-schema still refuses what it refuses, at its pointer. */
  snprintf(inner, sizeof inner, d7, ",\"title\":5");
  snprintf(text, sizeof text, "{\"$defs\":{\"a\":%s}}", inner);
  HL_ASSERT_EQ_INT(meta_check(text, &e), HL_EINVAL);
  HL_ASSERT_EQ_STR(e.items[0].instance_path, "/$defs/a/title");
  /* And the root's keywords are still the root dialect's business. */
  snprintf(inner, sizeof inner, d7, "");
  snprintf(text, sizeof text, "{\"$defs\":{\"a\":%s},\"required\":[\"q\",\"q\"]}", inner);
  HL_ASSERT_EQ_INT(meta_check(text, &e), HL_EINVAL);
  HL_ASSERT_EQ_STR(e.items[0].instance_path, "/required");
  /* A 2020-12 resource inside a draft-07 schema, the other way round. */
  HL_ASSERT_EQ_INT(meta_check("{\"$schema\":\"http://json-schema.org/draft-07/schema#\",\"definitions\":{\"b\":{"
                              "\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"$id\":\"http://example.com/b\","
                              "\"prefixItems\":[{}],\"dependentRequired\":{\"a\":[\"b\"]}}}}", &e), 0);
  HL_ASSERT_EQ_INT(meta_check("{\"$schema\":\"http://json-schema.org/draft-07/schema#\",\"definitions\":{\"b\":{"
                              "\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"$id\":\"http://example.com/b\","
                              "\"prefixItems\":{}}}}", &e), HL_EINVAL);
  HL_ASSERT_EQ_STR(e.items[0].instance_path, "/definitions/b/prefixItems");
}

HL_TEST(official_meta_schemas_resolve_offline) {
  hl_schema *s = compile("{\"$ref\":\"https://json-schema.org/draft/2020-12/schema\"}");
  HL_ASSERT(check(s, "{\"type\":\"object\",\"properties\":{\"a\":{\"minimum\":1}}}", NULL));
  hl_schema_errors e;
  HL_ASSERT(!check(s, "{\"properties\":{\"a\":{\"minLength\":-1}}}", &e));
  hl_schema_free(s);
  s = compile("{\"$ref\":\"https://json-schema.org/draft/2020-12/meta/validation\"}");
  HL_ASSERT(!check(s, "{\"type\":\"nope\"}", NULL));
  hl_schema_free(s);
  s = compile("{\"$ref\":\"http://json-schema.org/draft-07/schema#\"}");
  HL_ASSERT(check(s, "{\"items\":[{},{}],\"additionalItems\":false}", NULL));
  HL_ASSERT(!check(s, "{\"required\":[\"a\",\"a\"]}", NULL));
  hl_schema_free(s);
  char *text = hl_schema_docs_text("http://json-schema.org/draft-07/schema#");
  HL_ASSERT(text && strstr(text, "\"$id\": \"http://json-schema.org/draft-07/schema#\""));
  hl_free(text);
  HL_ASSERT(hl_schema_docs_text("https://json-schema.org/draft/2019-09/schema") == NULL);
}

HL_TEST(schemas_are_checked_against_their_dialects_meta_schema) {
  hl_schema_errors e;
  HL_ASSERT_EQ_INT(meta_check("{\"type\":\"object\",\"required\":[\"a\"],\"title\":\"x\"}", &e), 0);
  /* Each compiles, but is not a schema by the letter of its dialect. */
  HL_ASSERT_EQ_INT(meta_check("{\"required\":[\"a\",\"a\"]}", &e), HL_EINVAL);
  HL_ASSERT_EQ_STR(e.items[0].instance_path, "/required");
  HL_ASSERT_EQ_INT(meta_check("{\"properties\":{\"p\":{\"title\":5}}}", &e), HL_EINVAL);
  HL_ASSERT_EQ_STR(e.items[0].instance_path, "/properties/p/title");
  HL_ASSERT_EQ_INT(meta_check("{\"$id\":\"http://example.com/s#frag\"}", &e), HL_EINVAL);
  HL_ASSERT_EQ_STR(e.items[0].instance_path, "/$id");
  /* draft-07 by its own meta-schema: "$defs" is just an unknown keyword there. */
  HL_ASSERT_EQ_INT(meta_check("{\"$schema\":\"http://json-schema.org/draft-07/schema#\",\"definitions\":{\"a\":5}}", &e),
                   HL_EINVAL);
  HL_ASSERT_EQ_STR(e.items[0].instance_path, "/definitions/a");
  HL_ASSERT_EQ_INT(meta_check("{\"$schema\":\"http://json-schema.org/draft-07/schema#\",\"$defs\":{\"a\":5}}", &e), 0);
}

/* Only the two dialects read here are accepted when the caller asks (as
 * registration does): a draft-04 or 2019-09 schema read by 2020-12's rules
 * would be checked differently from what its author wrote. */
static int compile_strict(const char *text, hl_schema_errors *errs) {
  hl_json_doc d;
  hl_json_doc_init(&d);
  HL_ASSERT(hl_json_parse(&d, text, strlen(text), NULL) == 0);
  hl_schema_options opt = {.known_dialects_only = true};
  hl_schema *s = NULL;
  int rc = hl_schema_compile(d.root, &opt, &s, errs);
  hl_schema_free(s);
  hl_json_doc_dispose(&d);
  return rc;
}

HL_TEST(a_dialect_not_read_here_is_refused_when_asked) {
  hl_schema_draft dr = HL_DRAFT_2020_12;
  HL_ASSERT(hl_schema_dialect("http://json-schema.org/draft-07/schema#", &dr) && dr == HL_DRAFT_07);
  dr = HL_DRAFT_2020_12;
  HL_ASSERT(hl_schema_dialect("https://json-schema.org/draft-07/schema", &dr) && dr == HL_DRAFT_07);
  HL_ASSERT(hl_schema_dialect("https://json-schema.org/draft/2020-12/schema", &dr) && dr == HL_DRAFT_2020_12);
  HL_ASSERT(hl_schema_dialect("https://json-schema.org/draft/2020-12/schema#", &dr) && dr == HL_DRAFT_2020_12);
  HL_ASSERT(!hl_schema_dialect("http://json-schema.org/draft-04/schema#", &dr));
  HL_ASSERT(!hl_schema_dialect("https://json-schema.org/draft/2019-09/schema", &dr));
  HL_ASSERT(!hl_schema_dialect("http://example.com/draft-07/schema#", &dr));
  HL_ASSERT(!hl_schema_dialect("https://json-schema.org/draft/2020-12/schema#frag", &dr));
  HL_ASSERT(!hl_schema_dialect("json-schema.org/draft-07/schema", &dr));

  hl_schema_errors e;
  HL_ASSERT_EQ_INT(compile_strict("{\"$schema\":\"http://json-schema.org/draft-04/schema#\",\"type\":\"object\"}", &e),
                   HL_EINVAL);
  HL_ASSERT_EQ_STR(e.items[0].instance_path, "/$schema");
  HL_ASSERT(strstr(e.items[0].message, "unsupported dialect \"http://json-schema.org/draft-04/schema#\""));
  /* An embedded resource is a schema of its own dialect, so it is asked too. */
  HL_ASSERT_EQ_INT(compile_strict("{\"$defs\":{\"a\":{\"$id\":\"http://example.com/a\","
                                  "\"$schema\":\"https://json-schema.org/draft/2019-09/schema\"}}}", &e),
                   HL_EINVAL);
  HL_ASSERT_EQ_STR(e.items[0].instance_path, "/$defs/a/$schema");
  HL_ASSERT_EQ_INT(compile_strict("{\"$schema\":7}", &e), HL_EINVAL);
  HL_ASSERT_EQ_STR(e.items[0].instance_path, "/$schema");
  /* "$schema" as a property's name is no dialect. */
  HL_ASSERT_EQ_INT(compile_strict("{\"properties\":{\"$schema\":{\"type\":\"string\"}}}", &e), 0);
  HL_ASSERT_EQ_INT(compile_strict("{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\"}", &e), 0);

  /* https and no fragment still name draft-07: "items" as a list is a tuple. */
  HL_ASSERT_EQ_INT(compile_strict("{\"$schema\":\"https://json-schema.org/draft-07/schema\","
                                  "\"items\":[{\"type\":\"string\"}]}", &e), 0);
  hl_schema *s = compile("{\"$schema\":\"https://json-schema.org/draft-07/schema\",\"items\":[{\"type\":\"string\"}]}");
  HL_ASSERT(check(s, "[\"a\",1]", NULL));
  HL_ASSERT(!check(s, "[1]", NULL));
  hl_schema_free(s);
  /* Without the option (schemas stored before, the suite's cross-draft
   * documents), such a resource is read in its surroundings' dialect. */
  s = compile("{\"$schema\":\"http://json-schema.org/draft-04/schema#\",\"minimum\":1}");
  HL_ASSERT(!check(s, "0", NULL));
  hl_schema_free(s);
}

/* JSON Schema's patterns are ECMA-262's: "$" is the end of the string
 * only, where PCRE2's also matches before a final newline. */
HL_TEST(a_pattern_dollar_matches_only_at_the_end_of_the_string) {
  hl_schema *s = compile("{\"type\":\"string\",\"pattern\":\"^[0-9]+$\"}");
  HL_ASSERT(check(s, "\"123\"", NULL));
  HL_ASSERT_MSG(!check(s, "\"123\\n\"", NULL), "\"123\\n\" matched ^[0-9]+$");
  hl_schema_free(s);
  s = compile("{\"propertyNames\":{\"pattern\":\"^[a-z]+$\"}}");
  HL_ASSERT(check(s, "{\"ab\":1}", NULL));
  HL_ASSERT(!check(s, "{\"ab\\n\":1}", NULL));
  hl_schema_free(s);
}

typedef struct { const char *pattern, *instance; bool match; } pattern_case;

/* Each instance checked against {"type":"string","pattern":...}. */
static void check_patterns(const pattern_case *cases, size_t n) {
  for (size_t i = 0; i < n; i++) {
    char schema[128];
    snprintf(schema, sizeof schema, "{\"type\":\"string\",\"pattern\":\"%s\"}", cases[i].pattern);
    hl_schema *s = compile(schema);
    HL_ASSERT_MSG(check(s, cases[i].instance, NULL) == cases[i].match, "%s against %s: want %s", cases[i].instance,
                  cases[i].pattern, cases[i].match ? "a match" : "none");
    hl_schema_free(s);
  }
}

/* ECMA-262's \s is its WhiteSpace and LineTerminator, Unicode's spaces
 * included (U+00A0, U+2028, U+FEFF), where PCRE2's is ASCII's: in and out
 * of a class, and \S its complement. */
HL_TEST(pattern_white_space_classes_are_ecma_262s) {
  static const pattern_case cases[] = {
    {"^\\\\S+$", "\"a\\u00a0b\"", false}, {"^\\\\S+$", "\"ab\"", true},
    {"^\\\\s$", "\"\\u00a0\"", true}, {"^\\\\s$", "\"\\u2028\"", true}, {"^\\\\s$", "\"\\ufeff\"", true},
    {"^\\\\s$", "\"\\u3000\"", true}, {"^\\\\s$", "\"\\u000b\"", true}, {"^\\\\s$", "\"\\u0085\"", false},
    {"^\\\\s$", "\"\\u180e\"", false}, {"^\\\\s$", "\"x\"", false},
    {"^[\\\\s,]+$", "\"\\u00a0,\\u2029\"", true}, {"^[^\\\\s]+$", "\"a\\u00a0\"", false},
    {"^[\\\\s-]+$", "\"- \"", true}, {"^[\\\\s\\\\S]+$", "\"\\n\\u00a0x\"", true},
    {"^[a\\\\S]$", "\"\\u00a0\"", false}, {"^[a\\\\S]$", "\"b\"", true},
    {"^[^a\\\\S]$", "\"\\u00a0\"", true}, {"^[^a\\\\S]$", "\"b\"", false}, {"^[^\\\\S]$", "\"\\u2028\"", true},
    {"^[\\\\S]$", "\"\\u2028\"", false}, {"^[[:alpha:]\\\\s]+$", "\"a\\u00a0\"", true},
    {"^\\\\\\\\s$", "\"\\\\s\"", true}, {"^\\\\p{Letter}\\\\s$", "\"a\\u00a0\"", true},
  };
  check_patterns(cases, HL_ARRAY_SIZE(cases));
  /* A refusal's offset is in the pattern as written, not as translated. */
  const char *bad = "{\"pattern\":\"^\\\\s*\\\\p{Letter}[\\\\s\\\\S](\"}";
  hl_json_doc d;
  hl_json_doc_init(&d);
  HL_ASSERT(hl_json_parse(&d, bad, strlen(bad), NULL) == 0);
  hl_schema *s = NULL;
  hl_schema_errors e;
  HL_ASSERT(hl_schema_compile(d.root, NULL, &s, &e) == HL_EINVAL && e.count >= 1);
  HL_ASSERT_MSG(strstr(e.items[0].message, "missing closing parenthesis at offset 21"), "%s", e.items[0].message);
  hl_json_doc_dispose(&d);
}

/* ECMA-262's "." is any character but a LineTerminator (LF, CR, U+2028,
 * U+2029); PCRE2's excludes "\n" alone. A "." in a class or escaped, and
 * PCRE2's quoted text, stay literal; a pattern that sets PCRE2's dot-all
 * option inline keeps PCRE2's meaning. */
HL_TEST(a_pattern_dot_is_any_character_but_ecma_262s_line_terminators) {
  static const pattern_case cases[] = {
    {"^a.b$", "\"a\\rb\"", false}, {"^a.b$", "\"a\\u2028b\"", false}, {"^a.b$", "\"a\\u2029b\"", false},
    {"^a.b$", "\"a\\nb\"", false}, {"^a.b$", "\"a\\u0085b\"", true}, {"^a.b$", "\"a\\u000bb\"", true},
    {"^a.b$", "\"a\\u00e9b\"", true}, {"^a.b$", "\"a\\ud83d\\ude00b\"", true}, {"^a.b$", "\"axxb\"", false},
    {"^a[.]b$", "\"axb\"", false}, {"^a[.]b$", "\"a.b\"", true}, {"^a\\\\.b$", "\"axb\"", false},
    {"^a\\\\Q.\\\\Eb$", "\"axb\"", false}, {"^a\\\\Q.\\\\Eb$", "\"a.b\"", true},
    {"^a\\\\Q.b", "\"a.b\"", true}, {"(?s)^a.b$", "\"a\\rb\"", true}, {"(?s)^a.b$", "\"a\\nb\"", true},
    {"^(?i)A.B$", "\"a\\rb\"", false}, {"^(?i)A.B$", "\"axb\"", true},
  };
  check_patterns(cases, HL_ARRAY_SIZE(cases));
}

/* Exponents of any length: 1e10000000000001 is more than 1e10000000000000,
 * the two are not each other's duplicate, and one value spelled with
 * exponents of different lengths is one value. */
HL_TEST(numbers_with_exponents_of_any_length_are_compared_exactly) {
  hl_schema *s = compile("{\"maximum\":1e10000000000000}");
  HL_ASSERT(check(s, "1e10000000000000", NULL));
  HL_ASSERT_MSG(!check(s, "1e10000000000001", NULL), "1e10000000000001 passed maximum 1e10000000000000");
  hl_schema_free(s);
  s = compile("{\"const\":1e100000000000000000000}");
  HL_ASSERT(check(s, "10e99999999999999999999", NULL));
  HL_ASSERT(!check(s, "1e100000000000000000007", NULL));
  hl_schema_free(s);
  s = compile("{\"uniqueItems\":true}");
  HL_ASSERT_MSG(check(s, "[1e10000000000001,1e10000000000002]", NULL), "two different numbers read as equal");
  HL_ASSERT(check(s, "[1e100000000000000000001,1e100000000000000000002]", NULL));
  HL_ASSERT(!check(s, "[0.5e1000000000000000000,5e999999999999999999]", NULL));
  hl_schema_free(s);
  s = compile("{\"enum\":[1e100000000000000000000,2]}");
  HL_ASSERT(check(s, "10e99999999999999999999", NULL));
  HL_ASSERT(!check(s, "1e100000000000000000001", NULL));
  hl_schema_free(s);
}
