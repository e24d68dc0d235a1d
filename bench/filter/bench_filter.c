/* Subscription filters on one core, as the loop runs them for an accepted
 * event (check_route, one hl_filter_memo for all of an event's filters):
 * one event against a $in of 2000 values, and against 20 and 1,000
 * subscriptions of one range each, with an amount of 6 digits and one of
 * 900,001 digits (a body under the 1 MiB limit); and an event of 50,000
 * members against 1,000 subscriptions naming its first one (a member is
 * looked for from the last). Each with and without the memo (each filter
 * on its own, as before). Prints the median (and min–max) of `runs`
 * timings of each; run several times. */
#include "common/hl_common.h"
#include "model/hl_filter.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static hl_filter *compile(const char *text) {
  hl_json_doc d;
  hl_json_doc_init(&d);
  hl_filter *f = NULL;
  if (hl_json_parse(&d, text, strlen(text), NULL) != 0 || hl_filter_compile(d.root, &f, NULL) != 0) {
    fprintf(stderr, "bench_filter: a fixture does not compile\n");
    exit(1);
  }
  hl_json_doc_dispose(&d);
  return f;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* ms for `reps` passes of the n filters over the event, median of runs;
 * with one memo a pass (memo) or each filter on its own. */
static void row(const char *what, hl_filter **f, size_t n, const hl_json *event, int reps, int runs, bool memo) {
  double t[32];
  size_t matched = 0;
  for (int r = 0; r < runs; r++) {
    uint64_t t0 = hl_mono_ns();
    for (int k = 0; k < reps; k++) {
      hl_filter_memo m;
      if (memo) hl_filter_memo_init(&m, event);
      for (size_t i = 0; i < n; i++) matched += memo ? hl_filter_match_memo(f[i], &m) : hl_filter_match(f[i], event);
      if (memo) hl_filter_memo_dispose(&m);
    }
    t[r] = (double)(hl_mono_ns() - t0) / 1e6 / reps;
  }
  qsort(t, (size_t)runs, sizeof *t, cmp_double);
  printf("| %s | %s | %.4f | %.4f–%.4f | %zu |\n", what, memo ? "one memo" : "none", t[runs / 2], t[0],
         t[runs - 1], matched / (size_t)runs);
}

int main(int argc, char **argv) {
  int runs = argc > 1 ? atoi(argv[1]) : 5;
  if (runs < 1 || runs > 32) runs = 5;
  size_t zeros = 900000;
  char *big = hl_malloc(zeros + 32);
  size_t n = (size_t)snprintf(big, 32, "{\"amount\": 1");
  memset(big + n, '0', zeros);
  memcpy(big + n + zeros, "}", 2);
  const char *small = "{\"amount\": 123456}";
  hl_json_doc bd, sd;
  hl_json_doc_init(&bd);
  hl_json_doc_init(&sd);
  if (hl_json_parse(&bd, big, strlen(big), NULL) || hl_json_parse(&sd, small, strlen(small), NULL)) return 1;

  hl_buf in = HL_BUF_INIT;
  hl_buf_puts(&in, "{\"/amount\": {\"$in\": [");
  for (int i = 1; i <= 2000; i++) hl_buf_printf(&in, "%s%d", i > 1 ? "," : "", i);
  hl_buf_puts(&in, "]}}");
  hl_filter *in_f = compile(in.data), *range[1000], *last[1000];
  for (size_t i = 0; i < 1000; i++) range[i] = compile("{\"/amount\": {\"$gte\": 100, \"$lt\": 100000}}");
  for (size_t i = 0; i < 1000; i++) last[i] = compile("{\"/m0\": {\"$gte\": 0}}");
  hl_buf wide = HL_BUF_INIT;
  hl_buf_putc(&wide, '{');
  for (int i = 0; i < 50000; i++) hl_buf_printf(&wide, "%s\"m%d\":%d", i ? "," : "", i, i);
  hl_buf_putc(&wide, '}');
  hl_json_doc wd;
  hl_json_doc_init(&wd);
  if (hl_json_parse(&wd, wide.data, wide.len, NULL)) return 1;

  printf("| event, filters | memo | ms per event (median) | min–max | matches |\n|---|---|---|---|---|\n");
  for (int memo = 1; memo >= 0; memo--) {
    row("900,001-digit amount, one $in of 2000 values", &in_f, 1, bd.root, 1, runs, memo);
    row("900,001-digit amount, 20 subscriptions of $gte/$lt", range, 20, bd.root, 1, runs, memo);
    row("900,001-digit amount, 1,000 subscriptions of $gte/$lt", range, 1000, bd.root, 1, runs, memo);
    row("6-digit amount, one $in of 2000 values", &in_f, 1, sd.root, 1000, runs, memo);
    row("6-digit amount, 20 subscriptions of $gte/$lt", range, 20, sd.root, 1000, runs, memo);
    row("50,000 members, 1,000 subscriptions of the first one", last, 1000, wd.root, 1, runs, memo);
  }

  hl_filter_free(in_f);
  for (size_t i = 0; i < 1000; i++) hl_filter_free(range[i]);
  for (size_t i = 0; i < 1000; i++) hl_filter_free(last[i]);
  hl_json_doc_dispose(&wd);
  hl_buf_dispose(&wide);
  hl_buf_dispose(&in);
  hl_json_doc_dispose(&bd);
  hl_json_doc_dispose(&sd);
  hl_free(big);
  return 0;
}
