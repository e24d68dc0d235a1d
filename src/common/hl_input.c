#include "common/hl_input.h"

#include <stdlib.h>
#include <sys/types.h>

int hl_input_read_file(const char *path, hl_buf *out) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  char chunk[65536];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) hl_buf_append(out, chunk, n);
  int rc = ferror(f) ? -1 : 0;
  fclose(f);
  return rc;
}

int hl_input_each(const char *prog, char *const *files, int n, FILE *in, hl_input_fn fn, void *ctx) {
  int result = 0;
  if (n == 0) {
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long lineno = 0;
    while ((len = getline(&line, &cap, in)) >= 0) {
      lineno++;
      while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) len--;
      char label[32];
      snprintf(label, sizeof label, "line %ld", lineno);
      if (fn(ctx, line, (size_t)len, label)) result = 1;
    }
    free(line);
    return result;
  }
  for (int i = 0; i < n; i++) {
    hl_buf b = HL_BUF_INIT;
    if (hl_input_read_file(files[i], &b) != 0) {
      fprintf(stderr, "%s: cannot open %s; check the path\n", prog, files[i]);
      hl_buf_dispose(&b);
      return -1;
    }
    if (fn(ctx, b.data ? b.data : "", b.len, files[i])) result = 1;
    hl_buf_dispose(&b);
  }
  return result;
}

int hl_input_read_first(int argc, char **argv, const char *usage, const char *prog, const char *what, hl_buf *text) {
  if (argc < 1) {
    fputs(usage, stderr);
    return 2;
  }
  if (hl_input_read_file(argv[0], text) != 0) {
    fprintf(stderr, "%s: cannot open the %s file %s; check the path\n", prog, what, argv[0]);
    hl_buf_dispose(text);
    return 2;
  }
  return 0;
}
