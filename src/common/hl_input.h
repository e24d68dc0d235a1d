/* hl_input.h — the inputs of the `check` commands: whole files, or the lines
 * of a stream. */
#ifndef HL_INPUT_H
#define HL_INPUT_H

#include <stddef.h>
#include <stdio.h>

#include "common/hl_buf.h"

/* Appends the whole file at path to out. Returns 0, or -1 (errno set) when
 * it cannot be opened or read. */
int hl_input_read_file(const char *path, hl_buf *out);

/* The file a `check` command's first argument names, read whole into text.
 * Returns 0, or the exit status 2 after printing usage (no argument) or
 * "<prog>: cannot open the <what> file <path>; check the path" to stderr
 * (text is then empty). */
int hl_input_read_first(int argc, char **argv, const char *usage, const char *prog, const char *what, hl_buf *text);

/* Returns 0 or 1 (the input failed its check). */
typedef int (*hl_input_fn)(void *ctx, const char *text, size_t len, const char *label);

/* Calls fn for each of the n files (label: the file name), or with n == 0
 * for each line of in (end of line stripped; label "line N"). Returns 1 when
 * fn returned 1 for some input, else 0; -1 when a file cannot be read, after
 * printing "<prog>: cannot open <file>; check the path" to stderr (the
 * inputs before it have been checked). */
int hl_input_each(const char *prog, char *const *files, int n, FILE *in, hl_input_fn fn, void *ctx);

#endif
