/* The official JSON-Schema-Test-Suite, read from
 * tests/vectors/json-schema-test-suite (required tests of draft2020-12
 * and draft7). Remote references resolve against the suite's remotes/
 * folder through the validator's resolver, never the network. */
#include "hl_test.h"
#include "hl_testutil.h"
#include "common/hl_common.h"
#include "schema/hl_schema.h"

#include <dirent.h>

/* Tests not run, each with the reason. (The groups that refer to the
 * official meta-schemas run: those documents are compiled in.) */
static const struct { const char *file, *group, *reason; } skips[] = {
  {"vocabulary.json", "schema that uses custom metaschema with with no validation vocabulary",
   "$vocabulary is not negotiated: every validation keyword always applies"},
  {NULL, NULL, NULL},
};

static bool skipped(const char *file, const char *group) {
  for (size_t i = 0; skips[i].file; i++)
    if (strcmp(skips[i].file, file) == 0 && (!skips[i].group || strcmp(skips[i].group, group) == 0)) return true;
  return false;
}

/* The suite's files live in the repository, beside this test. */
static const char *suite_path(const char *rel) {
  static char buf[1024];
  snprintf(buf, sizeof buf, "%s/tests/vectors/%s", HL_SOURCE_DIR, rel);
  return buf;
}

/* Remote references: the suite's remotes/ folder stands for http://localhost:1234/. */
static char *resolve_remote(void *data, const char *uri) {
  (void)data;
  static const char prefix[] = "http://localhost:1234/";
  if (strncmp(uri, prefix, sizeof prefix - 1) != 0) return NULL;
  char rel[512];
  snprintf(rel, sizeof rel, "json-schema-test-suite/remotes/%s", uri + sizeof prefix - 1);
  return hl_read_file(suite_path(rel), NULL);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The optional format tests run with format assertion on, for every
 * format hookloop asserts (schema/hl_format.h); the suite's files of the
 * others (regex, unknown, ...) are left out: a schema
 * that asserts one of those is refused (optional_format_tests_with_assertion). */
static const char *const asserted_formats[] = {
  "date.json", "date-time.json", "time.json", "duration.json", "email.json", "idn-email.json", "hostname.json",
  "idn-hostname.json", "ipv4.json", "ipv6.json", "uri.json", "uri-reference.json", "iri.json", "iri-reference.json", "uri-template.json", "uuid.json",
  "json-pointer.json", "relative-json-pointer.json", NULL};

static bool format_run(const char *draft, const char *file) {
  if (!strstr(draft, "/optional/format")) return true;
  for (size_t i = 0; asserted_formats[i]; i++)
    if (strcmp(asserted_formats[i], file) == 0) return true;
  return false;
}

static void run_draft(const char *draft, hl_schema_draft dialect, int *pass, int *fail, int *skip) {
  char dir[1200];
  snprintf(dir, sizeof dir, "%s", suite_path("json-schema-test-suite"));
  size_t dl = strlen(dir);
  snprintf(dir + dl, sizeof dir - dl, "/%s", draft);
  DIR *d = opendir(dir);
  HL_ASSERT_MSG(d, "cannot open %s", dir);
  char *names[128];
  size_t n = 0;
  struct dirent *e;
  while ((e = readdir(d)) && n < 128)
    if (strstr(e->d_name, ".json")) names[n++] = strdup(e->d_name);
  closedir(d);
  qsort(names, n, sizeof *names, cmp_str);
  for (size_t f = 0; f < n; f++) {
    if (!format_run(draft, names[f])) {
      free(names[f]);
      continue;
    }
    char path[1600];
    snprintf(path, sizeof path, "%s/%s", dir, names[f]);
    size_t len;
    char *text = hl_read_file(path, &len);
    hl_json_doc doc;
    hl_json_doc_init(&doc);
    HL_ASSERT_MSG(hl_json_parse(&doc, text, len, NULL) == 0, "%s does not parse", path);
    int file_fail = 0;
    for (uint32_t g = 0; g < doc.root->len; g++) {
      const hl_json *group = &doc.root->u.items[g];
      const char *gdesc = hl_json_str(hl_json_get(group, "description"));
      const hl_json *tests = hl_json_get(group, "tests");
      if (skipped(names[f], gdesc)) { *skip += (int)tests->len; continue; }
      hl_schema_options opt = {.default_draft = dialect, .resolve = resolve_remote,
                               .format_assertion = strstr(draft, "/optional/format") != NULL};
      hl_schema *s = NULL;
      hl_schema_errors errs;
      int rc = hl_schema_compile(hl_json_get(group, "schema"), &opt, &s, &errs);
      for (uint32_t t = 0; t < tests->len; t++) {
        const hl_json *test = &tests->u.items[t];
        bool want = hl_json_get(test, "valid")->type == HL_JSON_TRUE;
        bool got = rc == 0 && hl_schema_validate(s, hl_json_get(test, "data"), NULL);
        if (got == want) { (*pass)++; continue; }
        (*fail)++;
        file_fail++;
        if (getenv("HL_SUITE_VERBOSE"))
          printf("  %s %s | %s | %s: expected %s, got %s%s\n", draft, names[f], gdesc,
                 hl_json_str(hl_json_get(test, "description")), want ? "valid" : "invalid",
                 got ? "valid" : "invalid", rc ? " (schema refused)" : "");
      }
      hl_schema_free(s);
    }
    if (file_fail) printf("  %s/%s: %d failed\n", draft, names[f], file_fail);
    hl_json_doc_dispose(&doc);
    free(text);
    free(names[f]);
  }
}

HL_TEST_T(official_suite_draft2020_12, 120) {
  int pass = 0, fail = 0, skip = 0;
  run_draft("draft2020-12", HL_DRAFT_2020_12, &pass, &fail, &skip);
  printf("draft2020-12: %d passed, %d failed, %d skipped\n", pass, fail, skip);
  HL_ASSERT_EQ_INT(fail, 0);
}

HL_TEST_T(official_suite_draft7, 120) {
  int pass = 0, fail = 0, skip = 0;
  run_draft("draft7", HL_DRAFT_07, &pass, &fail, &skip);
  printf("draft7: %d passed, %d failed, %d skipped\n", pass, fail, skip);
  HL_ASSERT_EQ_INT(fail, 0);
}

HL_TEST(optional_format_tests_with_assertion) {
  const struct { const char *draft; hl_schema_draft dialect; } d[] = {
    {"draft2020-12/optional/format", HL_DRAFT_2020_12}, {"draft7/optional/format", HL_DRAFT_07}};
  for (size_t i = 0; i < HL_ARRAY_SIZE(d); i++) {
    int pass = 0, fail = 0, skip = 0;
    run_draft(d[i].draft, d[i].dialect, &pass, &fail, &skip);
    printf("%s (%s ...): %d passed, %d failed\n", d[i].draft, asserted_formats[0], pass, fail);
    HL_ASSERT(pass > 150); /* the files were found and read */
    HL_ASSERT_EQ_INT(fail, 0);
  }
}
