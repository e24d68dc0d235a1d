#include "hl_test.h"
#include "common/hl_buf.h"
#include "common/hl_common.h"
#include "common/hl_log.h"
#include <inttypes.h>
#include <stdlib.h>
#include <unistd.h>
#include <stdio.h>
#include <string.h>

HL_TEST(buf_grows_and_stays_terminated) {
  hl_buf b = HL_BUF_INIT;
  for (int i = 0; i < 1000; i++) hl_buf_printf(&b, "%d,", i);
  HL_ASSERT(b.len > 2000);
  HL_ASSERT_EQ_INT(b.data[b.len], 0);
  HL_ASSERT(strncmp(b.data, "0,1,2,", 6) == 0);
  hl_buf_consume(&b, 2);
  HL_ASSERT(strncmp(b.data, "1,2,", 4) == 0);
  size_t n;
  char *p = hl_buf_steal(&b, &n);
  HL_ASSERT(b.data == NULL && n > 0 && p[n] == 0);
  hl_free(p);
}

/* Byte by byte across every growth of the buffer, from none: each byte
 * where it belongs and a NUL after it (putc writes in place until the
 * buffer is full). */
HL_TEST(buf_putc_grows_and_stays_terminated) {
  hl_buf b = HL_BUF_INIT;
  for (int i = 0; i < 1000; i++) {
    hl_buf_putc(&b, (char)('a' + i % 26));
    HL_ASSERT_EQ_INT(b.len, i + 1);
    HL_ASSERT(b.cap > b.len);
    HL_ASSERT_EQ_INT(b.data[b.len], 0);
  }
  for (int i = 0; i < 1000; i++) HL_ASSERT_EQ_INT(b.data[i], 'a' + i % 26);
  hl_buf_reset(&b);
  hl_buf_putc(&b, 'z');
  HL_ASSERT_EQ_STR(b.data, "z");
  hl_buf_dispose(&b);
}

HL_TEST(ct_equal_compares_bytes_and_lengths) {
  HL_ASSERT(hl_ct_equal("abc", 3, "abc", 3));
  HL_ASSERT(!hl_ct_equal("abc", 3, "abd", 3));
  HL_ASSERT(!hl_ct_equal("abc", 3, "abcd", 4));
  HL_ASSERT(hl_ct_equal("", 0, "", 0));
}

/* A stored field and the registry's copy: NULL is a value of its own. */
HL_TEST(str_same_takes_null_as_a_value_of_its_own) {
  char a[] = "x", b[] = "x";
  HL_ASSERT(hl_str_same(NULL, NULL));
  HL_ASSERT(hl_str_same(a, b));
  HL_ASSERT(!hl_str_same(a, NULL));
  HL_ASSERT(!hl_str_same(NULL, b));
  HL_ASSERT(!hl_str_same("", NULL));
  HL_ASSERT(!hl_str_same("x", "y"));
}

HL_TEST(errors_have_names_and_text) {
  HL_ASSERT_EQ_STR(hl_errname(HL_ENOTFOUND), "NOTFOUND");
  HL_ASSERT_EQ_STR(hl_strerror(HL_ETOOBIG), "too large");
  HL_ASSERT(HL_ENOMEM < 0 && HL_EINTERNAL < 0);
}

HL_TEST(log_escapes_values) {
  HL_ASSERT_EQ_STR(hl_log_esc("a\"b\\c\n\x01", (size_t)-1), "a\\\"b\\\\c\\n\\u0001");
  HL_ASSERT_EQ_INT(hl_log_parse_level("warn"), HL_LOG_WARN);
  HL_ASSERT_EQ_INT(hl_log_parse_level("loud"), -1);
}

/* Runs fn with stderr sent to a file and gives back what it wrote. */
static char *stderr_of(void (*fn)(void)) {
  char path[] = "/tmp/hl-log-XXXXXX";
  int fd = mkstemp(path);
  HL_ASSERT(fd >= 0);
  unlink(path);
  fflush(stderr);
  int saved = dup(2);
  dup2(fd, 2);
  fn();
  dup2(saved, 2);
  close(saved);
  off_t len = lseek(fd, 0, SEEK_END);
  char *out = calloc(1, (size_t)len + 1);
  HL_ASSERT(pread(fd, out, (size_t)len, 0) == (ssize_t)len);
  close(fd);
  return out;
}

static char g_long_value[6000];
static void write_long_line(void) { hl_log_info("configuration", "\"config\":{\"v\":\"%s\"}", g_long_value); }

/* The start-up line with every setting is ~2.5 KB; it was once cut at 2 KB,
 * which left it no JSON and half the settings unsaid. */
HL_TEST(log_lines_longer_than_the_stack_buffer_are_written_whole) {
  for (size_t i = 0; i + 1 < sizeof g_long_value; i++) g_long_value[i] = (char)('a' + i % 26);
  char *out = stderr_of(write_long_line);
  size_t len = strlen(out);
  HL_ASSERT_MSG(len > sizeof g_long_value, "%zu bytes", len);
  HL_ASSERT(strstr(out, "\"msg\":\"configuration\",\"config\":{\"v\":\"abc") != NULL);
  HL_ASSERT(strstr(out, g_long_value) != NULL);
  HL_ASSERT_EQ_STR(out + len - 4, "\"}}\n");
  HL_ASSERT(strchr(out, '\n') == out + len - 1); /* one line */
  free(out);
}

static void write_empty_fields(void) { hl_log_info("m", "%s", ""); }

HL_TEST(log_fields_that_format_to_nothing_leave_no_comma) {
  char *out = stderr_of(write_empty_fields);
  size_t len = strlen(out);
  HL_ASSERT(len > 3);
  HL_ASSERT_EQ_STR(out + len - 11, "\"msg\":\"m\"}\n");
  free(out);
}

/* A long value is cut before a character, never inside one: 300 "é" cut
 * after 256 of them, not after the first byte of the 257th. */
HL_TEST(log_escape_cuts_long_values_between_characters) {
  char s[601];
  for (int i = 0; i < 300; i++) memcpy(s + 2 * i, "\xc3\xa9", 2);
  s[600] = 0;
  const char *e = hl_log_esc(s, (size_t)-1);
  size_t len = strlen(e);
  HL_ASSERT_EQ_INT(len, 512 + 3);
  HL_ASSERT_EQ_STR(e + 512, "...");
  HL_ASSERT(memcmp(e, s, 512) == 0);
  /* a three-byte character cut after its second byte goes whole */
  char t[601];
  memset(t, 'a', sizeof t);
  memcpy(t + 511, "\xe2\x82\xac", 3); /* the euro sign at 511..513 */
  t[600] = 0;
  e = hl_log_esc(t, (size_t)-1);
  HL_ASSERT_EQ_INT(strlen(e), 511 + 3);
  HL_ASSERT_EQ_STR(e + 511, "...");
  /* a complete character at the cut stays */
  memcpy(t + 511, "\xc3\xa9", 2);
  t[513] = 'b';
  e = hl_log_esc(t, (size_t)-1);
  HL_ASSERT_EQ_INT(strlen(e), 513 + 3);
  HL_ASSERT(memcmp(e + 511, "\xc3\xa9...", 5) == 0);
}

#include "common/hl_strmap.h"

HL_TEST(strmap_put_get_delete_many) {
  hl_strmap m;
  hl_strmap_init(&m);
  char k[32];
  for (long i = 0; i < 5000; i++) {
    snprintf(k, sizeof k, "key-%ld", i);
    HL_ASSERT(hl_strmap_put(&m, k, (void *)(i + 1)) == NULL);
  }
  HL_ASSERT_EQ_INT(hl_strmap_len(&m), 5000);
  for (long i = 0; i < 5000; i += 2) {
    snprintf(k, sizeof k, "key-%ld", i);
    HL_ASSERT(hl_strmap_del(&m, k) == (void *)(i + 1));
  }
  for (long i = 0; i < 5000; i++) {
    snprintf(k, sizeof k, "key-%ld", i);
    void *v = hl_strmap_get(&m, k);
    HL_ASSERT(i % 2 ? v == (void *)(i + 1) : v == NULL);
  }
  size_t it = 0, n = 0;
  const char *key;
  void *val;
  while (hl_strmap_next(&m, &it, &key, &val)) n++;
  HL_ASSERT_EQ_INT(n, 2500);
  HL_ASSERT(hl_strmap_put(&m, "key-1", (void *)7) == (void *)2);
  hl_strmap_dispose(&m);
}

#include "common/hl_spare.h"

/* Kept objects come back zeroed, newest first; past max they are freed
 * (ASan would report a leak or a double free). */
HL_TEST(spare_reuses_zeroed_objects_up_to_its_max) {
  typedef struct { void *link; char bytes[40]; } obj;
  hl_spare sp;
  hl_spare_init(&sp, sizeof(obj), 2);
  obj *a = hl_spare_take(&sp), *b = hl_spare_take(&sp), *c = hl_spare_take(&sp);
  HL_ASSERT(a && b && c && a != b && b != c);
  memset(a, 0xab, sizeof *a);
  memset(b, 0xcd, sizeof *b);
  hl_spare_put(&sp, a);
  hl_spare_put(&sp, b);
  hl_spare_put(&sp, c); /* a third: freed, the list keeps two */
  hl_spare_put(&sp, NULL);
  HL_ASSERT_EQ_INT(sp.n, 2);
  obj *x = hl_spare_take(&sp);
  HL_ASSERT(x == b);
  static const obj zero;
  HL_ASSERT(memcmp(x, &zero, sizeof zero) == 0);
  HL_ASSERT(hl_spare_take(&sp) == a);
  HL_ASSERT_EQ_INT(sp.n, 0);
  hl_spare_put(&sp, x);
  hl_spare_dispose(&sp);
  HL_ASSERT_EQ_INT(sp.n, 0);
  HL_ASSERT(sp.head == NULL);
  hl_free(a);
  /* Objects smaller than a pointer still hold the link. */
  hl_spare small;
  hl_spare_init(&small, 1, 4);
  char *p = hl_spare_take(&small);
  hl_spare_put(&small, p);
  HL_ASSERT(hl_spare_take(&small) == p);
  hl_free(p);
  hl_spare_dispose(&small);
}

#include "common/hl_highwater.h"

/* The most over this window and the one before: up at once, down only
 * after a whole window without the old level, whether or not notes came
 * during it. */
HL_TEST(highwater_follows_a_level_up_at_once_and_down_after_two_windows) {
  hl_highwater h;
  hl_highwater_init(&h, 100);
  HL_ASSERT_EQ_INT(hl_highwater_note(&h, 5, 1000), 5);
  HL_ASSERT_EQ_INT(hl_highwater_note(&h, 400, 1010), 400);
  HL_ASSERT_EQ_INT(hl_highwater_note(&h, 0, 1020), 400);
  /* The next window: the one before held 400. */
  HL_ASSERT_EQ_INT(hl_highwater_note(&h, 3, 1100), 400);
  HL_ASSERT_EQ_INT(hl_highwater_note(&h, 2, 1199), 400);
  /* A window later the 400 is two windows old; this window and the one
   * before saw 3 at most. */
  HL_ASSERT_EQ_INT(hl_highwater_note(&h, 1, 1200), 3);
  /* No note for far longer than a window: the level stayed 1 all along,
   * and the window that starts now starts at 1. */
  HL_ASSERT_EQ_INT(hl_highwater_note(&h, 0, 5000), 1);
  HL_ASSERT_EQ_INT(hl_highwater_note(&h, 0, 5100), 1);
  HL_ASSERT_EQ_INT(hl_highwater_note(&h, 0, 5200), 0);
  /* A level held across a quiet window still counts in the next one. */
  HL_ASSERT_EQ_INT(hl_highwater_note(&h, 50, 5250), 50);
  HL_ASSERT_EQ_INT(hl_highwater_note(&h, 50, 9000), 50);
  HL_ASSERT_EQ_INT(hl_highwater_note(&h, 0, 9001), 50);
}

/* hl_fmt_i64 writes what printf's "%" PRId64 writes, at the edges too. */
HL_TEST(fmt_i64_matches_printf) {
  const int64_t v[] = {0, 1, -1, 9, 10, -10, 1764590400, 1764590400123, INT64_MAX, INT64_MIN, INT64_MIN + 1};
  for (size_t i = 0; i < HL_ARRAY_SIZE(v); i++) {
    char want[32], got[HL_FMT_I64_MAX];
    snprintf(want, sizeof want, "%" PRId64, v[i]);
    size_t n = hl_fmt_i64(got, v[i]);
    HL_ASSERT_EQ_STR(got, want);
    HL_ASSERT_EQ_INT((long long)n, (long long)strlen(want));
  }
}

/* hl_fmt_join cuts and terminates as snprintf("%s%s%s") would, and says
 * the length the whole would have had. */
HL_TEST(fmt_join_matches_snprintf) {
  const char *a[] = {"event_type:", "", "partner", NULL};
  const char *b[] = {"Payment", "x", "\x1f", "only"};
  const char *c[] = {NULL, "", "Payment.v1", NULL};
  for (size_t i = 0; i < HL_ARRAY_SIZE(a); i++)
    for (size_t cap = 1; cap <= 24; cap++) {
      char want[32], got[32];
      memset(got, '#', sizeof got);
      int wn = snprintf(want, cap, "%s%s%s", a[i] ? a[i] : "", b[i] ? b[i] : "", c[i] ? c[i] : "");
      size_t n = hl_fmt_join(got, cap, a[i], b[i], c[i]);
      HL_ASSERT_MSG(strcmp(got, want) == 0, "cap %zu: \"%s\", not \"%s\"", cap, got, want);
      HL_ASSERT_EQ_INT((long long)n, (long long)wn);
      HL_ASSERT(got[cap] == '#'); /* nothing past cap */
    }
}

#include "common/hl_hash.h"

/* The keyed hash is a function of the bytes: the same bytes hash alike in
 * one process, and a change of any one byte or of the length (a NUL more)
 * changes the hash (a 64-bit hash: a chance collision is ~2^-64). */
HL_TEST(hash_bytes_follows_every_byte_and_the_length) {
  char a[40], b[40];
  for (size_t i = 0; i < sizeof a; i++) a[i] = (char)('a' + i % 26);
  memcpy(b, a, sizeof a);
  uint64_t h = hl_hash_bytes(a, sizeof a);
  HL_ASSERT(hl_hash_bytes(b, sizeof b) == h);
  for (size_t i = 0; i < sizeof b; i++) {
    b[i] ^= 1;
    HL_ASSERT_MSG(hl_hash_bytes(b, sizeof b) != h, "byte %zu", i);
    b[i] ^= 1;
  }
  HL_ASSERT(hl_hash_bytes("x", 1) != hl_hash_bytes("x\0", 2));
}
