/* The `check` commands of the real hookloop binary: `transform check` and
 * `schema check`, on files and on stdin lines, with their exit codes. */
#include "hl_test.h"
#include "hl_testutil.h"
#include "common/hl_common.h"

#include <sys/wait.h>

static char *dir;

static const char *path_in(const char *name) {
  static char p[2][1024];
  static int k;
  k ^= 1;
  snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
  return p[k];
}

static void write_file(const char *name, const char *text) {
  FILE *f = fopen(path_in(name), "wb");
  HL_ASSERT(f != NULL);
  fputs(text, f);
  fclose(f);
}

/* Runs `sh -c script` in dir; returns the exit code and *out its output
 * (stdout and stderr together). */
static int sh(const char *script, char **out) {
  char cmd[4096];
  snprintf(cmd, sizeof cmd, "cd '%s' && %s", dir, script);
  const char *log = path_in("out.log");
  unlink(log);
  char *argv[] = {"/bin/sh", "-c", cmd, NULL};
  pid_t pid = hl_spawn(argv, NULL, log);
  int status = hl_wait(pid, 30000);
  HL_ASSERT_MSG(status != -1 && WIFEXITED(status), "did not finish: %s", script);
  *out = hl_read_file(log, NULL);
  if (!*out) *out = hl_strdup("");
  return WEXITSTATUS(status);
}

/* Runs `hookloop <args>` through the shell (args may redirect). */
static int hookloop(const char *args, char **out) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "'%s' %s", hl_bin_path("hookloop"), args);
  return sh(cmd, out);
}

static bool starts_with(const char *s, const char *prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

static void setup(void) {
  dir = hl_tmpdir("check-cli");
  write_file("spec.json", "{\"version\":1,\"ops\":[{\"op\":\"copy\",\"from\":\"/eventHeader/uuid\",\"path\":\"/id\"},"
                          "{\"op\":\"remove\",\"path\":\"/secret\"},{\"op\":\"wrap\",\"path\":\"/data\"}]}");
  write_file("ok.json", "{ \"eventHeader\": {\"uuid\": \"evt-1\"}, \"amount\": 123.4500, \"secret\": \"x\" }\n");
  write_file("nouuid.json", "{\"amount\": 1}");
}

HL_TEST(transform_check_files) {
  setup();
  char *out;
  HL_ASSERT_EQ_INT(hookloop("transform check spec.json ok.json", &out), 0);
  HL_ASSERT_EQ_STR(out, "{\"data\":{\"eventHeader\":{\"uuid\":\"evt-1\"},\"amount\":123.4500,\"id\":\"evt-1\"}}\n");
  hl_free(out);
  /* One fails: its line says why, by the spec's pointer; exit 1. */
  HL_ASSERT_EQ_INT(hookloop("transform check spec.json nouuid.json ok.json", &out), 1);
  HL_ASSERT_MSG(starts_with(out, "error {\"path\":\"/ops/0/from\",\"message\":\"nouuid.json: no value at"), "%s", out);
  HL_ASSERT_MSG(strstr(out, "\n{\"data\":{\"eventHeader\"") != NULL, "%s", out);
  hl_free(out);
  /* A file that is not there: exit 2. */
  HL_ASSERT_EQ_INT(hookloop("transform check spec.json nothere.json", &out), 2);
  HL_ASSERT(strstr(out, "cannot open nothere.json") != NULL);
  hl_free(out);
  hl_rmtree(dir);
}

HL_TEST(transform_check_stdin_lines) {
  setup();
  write_file("lines", "{\"eventHeader\":{\"uuid\":\"a\"}}\n{\"x\":1}\nnot json\n{\"eventHeader\":{\"uuid\":\"b\"},\"secret\":1}\n");
  char *out;
  HL_ASSERT_EQ_INT(hookloop("transform check spec.json < lines", &out), 1);
  const char *want[] = {"{\"data\":{\"eventHeader\":{\"uuid\":\"a\"},\"id\":\"a\"}}",
                        "error {\"path\":\"/ops/0/from\",\"message\":\"line 2: no value at",
                        "error {\"path\":\"\",\"message\":\"line 3: the event is not valid JSON",
                        "{\"data\":{\"eventHeader\":{\"uuid\":\"b\"},\"id\":\"b\"}}"};
  char *line = out;
  for (size_t i = 0; i < HL_ARRAY_SIZE(want); i++) {
    HL_ASSERT_MSG(line && starts_with(line, want[i]), "line %zu of:\n%s", i + 1, out);
    line = strchr(line, '\n');
    if (line) line++;
  }
  HL_ASSERT_MSG(line && *line == '\0', "more lines than events:\n%s", out);
  hl_free(out);
  /* All transformed: exit 0. */
  write_file("good", "{\"eventHeader\":{\"uuid\":\"a\"}}\n");
  HL_ASSERT_EQ_INT(hookloop("transform check spec.json < good", &out), 0);
  hl_free(out);
  hl_rmtree(dir);
}

HL_TEST(transform_check_refuses_an_unusable_spec) {
  setup();
  write_file("bad.json", "{\"version\":1,\"ops\":[{\"op\":\"copy\",\"from\":\"/a\",\"path\":\"/b\"},{\"op\":\"move\",\"from\":5}]}");
  char *out;
  HL_ASSERT_EQ_INT(hookloop("transform check bad.json ok.json", &out), 2);
  HL_ASSERT_MSG(strstr(out, "bad.json is not a usable transformation: /ops/1: missing member \"path\"") != NULL, "%s",
                out);
  hl_free(out);
  write_file("notjson.json", "{\"version\":1,");
  HL_ASSERT_EQ_INT(hookloop("transform check notjson.json ok.json", &out), 2);
  HL_ASSERT(strstr(out, "not valid JSON") != NULL);
  hl_free(out);
  HL_ASSERT_EQ_INT(hookloop("transform check nothere.json ok.json", &out), 2);
  HL_ASSERT_MSG(strstr(out, "cannot open the spec file nothere.json") != NULL, "%s", out);
  hl_free(out);
  HL_ASSERT_EQ_INT(hookloop("transform", &out), 2);
  HL_ASSERT_MSG(strstr(out, "usage: hookloop transform check SPEC") != NULL, "%s", out);
  hl_free(out);
  hl_rmtree(dir);
}

/* `schema check` reads its inputs the same way. */
HL_TEST(schema_check_files_and_stdin) {
  setup();
  write_file("schema.json", "{\"type\":\"object\",\"required\":[\"amount\"],\"properties\":{\"amount\":{\"minimum\":0}}}");
  write_file("neg.json", "{\"amount\": -5}");
  write_file("lines", "{\"amount\":1}\n{\"amount\":-1}\n");
  char *out;
  HL_ASSERT_EQ_INT(hookloop("schema check schema.json ok.json neg.json", &out), 1);
  HL_ASSERT_MSG(starts_with(out, "valid\ninvalid [{\"path\":\"/amount\""), "%s", out);
  hl_free(out);
  HL_ASSERT_EQ_INT(hookloop("schema check schema.json < lines", &out), 1);
  HL_ASSERT_MSG(starts_with(out, "valid\ninvalid [{\"path\":\"/amount\"") && strstr(out, "line 2") == NULL, "%s", out);
  hl_free(out);
  HL_ASSERT_EQ_INT(hookloop("schema check schema.json ok.json nothere.json", &out), 2);
  HL_ASSERT_MSG(strstr(out, "valid\n") != NULL && strstr(out, "cannot open nothere.json") != NULL, "%s", out);
  hl_free(out);
  hl_rmtree(dir);
}
