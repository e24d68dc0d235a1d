#include "transform/hl_transform_cli.h"
#include "common/hl_buf.h"
#include "common/hl_common.h"
#include "common/hl_input.h"
#include "transform/hl_transform.h"

#include <stdio.h>

/* Transforms one event text and prints its line; returns 0 or 1 (failed). */
static int check_text(void *ctx, const char *text, size_t len, const char *label) {
  const hl_transform *t = ctx;
  hl_buf out = HL_BUF_INIT;
  hl_transform_error err;
  int rc = hl_transform_apply(t, text, len, &out, &err);
  if (rc == 0) {
    printf("%s\n", out.data ? out.data : "");
  } else {
    hl_buf line = HL_BUF_INIT;
    hl_jw w;
    char msg[sizeof err.message + 64];
    snprintf(msg, sizeof msg, "%s: %s", label, err.message);
    hl_jw_open(&w, &line);
    hl_jw_key(&w, "path"); hl_jw_str(&w, err.path);
    hl_jw_key(&w, "message"); hl_jw_str(&w, msg);
    hl_jw_obj_end(&w);
    printf("error %s\n", line.data);
    hl_buf_dispose(&line);
  }
  hl_buf_dispose(&out);
  return rc == 0 ? 0 : 1;
}

static const char check_usage[] = "usage: hookloop transform check SPEC [EVENT...]\n"
                                  "  with no EVENT, one JSON event per line is read from stdin\n";

int hl_transform_cli_check(int argc, char **argv) {
  hl_buf text = HL_BUF_INIT;
  if (hl_input_read_first(argc, argv, check_usage, "hookloop transform check", "spec", &text) != 0) return 2;
  hl_transform *t = NULL;
  hl_transform_error err;
  int rc = hl_transform_compile(text.data ? text.data : "", text.len, &t, &err);
  hl_buf_dispose(&text);
  if (rc != 0) {
    fprintf(stderr, "hookloop transform check: %s is not a usable transformation: %s%s%s\n", argv[0],
            err.path[0] ? err.path : "", err.path[0] ? ": " : "", err.message);
    return 2;
  }
  rc = hl_input_each("hookloop transform check", argv + 1, argc - 1, stdin, check_text, t);
  hl_transform_free(t);
  fflush(stdout);
  return rc < 0 ? 2 : rc;
}
