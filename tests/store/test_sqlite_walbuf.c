/* The WAL writes gathered by the VFS of store/hl_sqlite_walbuf.h, on real
 * files: a COMMIT's frames reach the file in a few writes, and before the
 * COMMIT returns (another connection, on SQLite's own VFS, reads them at
 * once); a transaction that reads back pages it spilled reads what it
 * wrote; a write that fails fails its COMMIT and leaves the file as it was. */
#include "hl_test.h"
#include "hl_testutil.h"
#include "common/hl_buf.h"
#include "store/hl_sqlite_walbuf.h"

#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#define BLOB 3000 /* about one page a row; check_rows says 3000 too */

static sqlite3 *open_db(const char *path, const char *vfs) {
  sqlite3 *db = NULL;
  int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs);
  HL_ASSERT_MSG(rc == SQLITE_OK, "open %s: %s", path, db ? sqlite3_errmsg(db) : "no memory");
  sqlite3_extended_result_codes(db, 1);
  return db;
}

static int exec(sqlite3 *db, const char *sql) { return sqlite3_exec(db, sql, NULL, NULL, NULL); }

static void must(sqlite3 *db, const char *sql) {
  int rc = exec(db, sql);
  HL_ASSERT_MSG(rc == SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(db));
}

static int64_t one_int(sqlite3 *db, const char *sql) {
  sqlite3_stmt *st = NULL;
  HL_ASSERT_MSG(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(db));
  HL_ASSERT_MSG(sqlite3_step(st) == SQLITE_ROW, "%s: %s", sql, sqlite3_errmsg(db));
  int64_t v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return v;
}

/* Rows first..first+n-1 of t, each a BLOB-byte value that names its row, so
 * a page read back wrong shows in the sum. */
static void insert_rows(sqlite3 *db, int first, int n) {
  char sql[256];
  snprintf(sql, sizeof sql,
           "WITH RECURSIVE c(i) AS (SELECT %d UNION ALL SELECT i+1 FROM c WHERE i<%d) "
           "INSERT INTO t(id,v) SELECT i, printf('%%0%dd', i) FROM c",
           first, first + n - 1, BLOB);
  must(db, sql);
}

/* What another connection on SQLite's default VFS (no buffer) reads. */
static void check_rows(const char *path, int64_t n, int64_t id_sum) {
  sqlite3 *db = open_db(path, NULL);
  HL_ASSERT(one_int(db, "SELECT COUNT(*) FROM t") == n);
  HL_ASSERT(one_int(db, "SELECT COALESCE(SUM(id),0) FROM t") == id_sum);
  /* Each value is its row's id, zero-padded to BLOB digits. */
  HL_ASSERT(one_int(db, "SELECT COUNT(*) FROM t WHERE length(v)<>3000 OR CAST(v AS INTEGER)<>id") == 0);
  sqlite3_stmt *st = NULL;
  HL_ASSERT(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) == SQLITE_OK);
  HL_ASSERT(sqlite3_step(st) == SQLITE_ROW);
  HL_ASSERT_MSG(strcmp((const char *)sqlite3_column_text(st, 0), "ok") == 0, "integrity_check: %s",
                sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  sqlite3_close(db);
}

/* A database in WAL mode as the store runs it (synchronous=NORMAL), no
 * automatic checkpoint so the frames stay in the WAL for the reader. */
static sqlite3 *open_store_like(const char *path) {
  const char *vfs = hl_sqlite_walbuf_vfs();
  HL_ASSERT_MSG(vfs && strcmp(vfs, HL_SQLITE_WALBUF_VFS) == 0, "the VFS did not register");
  sqlite3 *db = open_db(path, vfs);
  must(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=0;"
           "CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v TEXT)");
  return db;
}

static char *db_path(void) {
  char *dir = hl_tmpdir("walbuf");
  static char path[512];
  snprintf(path, sizeof path, "%s/w.db", dir);
  free(dir);
  return path;
}

HL_TEST(a_commits_frames_reach_the_file_in_few_writes_before_the_commit_returns) {
  const char *path = db_path();
  sqlite3 *db = open_store_like(path);
  hl_sqlite_walbuf_stats before = hl_sqlite_walbuf_stats_get();
  must(db, "BEGIN");
  insert_rows(db, 1, 200); /* ~200 pages: ~400 writes of SQLite's */
  must(db, "COMMIT");
  hl_sqlite_walbuf_stats after = hl_sqlite_walbuf_stats_get();
  uint64_t in = after.writes_in - before.writes_in, out = after.writes_out - before.writes_out;
  /* ~200 frames of 4,120 bytes, 30 a write. */
  HL_ASSERT_MSG(in >= 400, "SQLite made %llu WAL writes", (unsigned long long)in);
  HL_ASSERT_MSG(out >= 1 && out <= 10, "%llu WAL writes became %llu", (unsigned long long)in,
                (unsigned long long)out);
  HL_ASSERT(after.commits - before.commits == 1);
  /* /metrics shows the two counts. */
  hl_buf m = HL_BUF_INIT;
  hl_sqlite_walbuf_render_metrics(&m);
  hl_buf_putc(&m, '\0');
  unsigned long long by_sqlite = 0, by_file = 0;
  const char *a = strstr(m.data, "hookloop_sqlite_wal_writes_total{by=\"sqlite\"} ");
  const char *b = strstr(m.data, "hookloop_sqlite_wal_writes_total{by=\"file\"} ");
  HL_ASSERT(a && b && sscanf(strchr(a, ' ') + 1, "%llu", &by_sqlite) == 1 && sscanf(strchr(b, ' ') + 1, "%llu", &by_file) == 1);
  HL_ASSERT_MSG(by_sqlite == after.writes_in && by_file == after.writes_out, "metrics %llu/%llu, counters %llu/%llu",
                by_sqlite, by_file, (unsigned long long)after.writes_in, (unsigned long long)after.writes_out);
  hl_buf_dispose(&m);
  /* Read while the writer stays open and idle: nothing of the COMMIT may
   * still wait in its buffer. */
  check_rows(path, 200, 200 * 201 / 2);
  /* A second COMMIT, appended after the first's frames. */
  insert_rows(db, 201, 3);
  check_rows(path, 203, 203 * 204 / 2);
  sqlite3_close(db);
  check_rows(path, 203, 203 * 204 / 2);
}

HL_TEST(a_transaction_that_spills_its_cache_reads_back_what_it_wrote) {
  const char *path = db_path();
  sqlite3 *db = open_store_like(path);
  /* A cache of 16 pages: the transaction below writes its pages to the WAL
   * before its COMMIT (a spill), reads them back, and changes some of them
   * again, which SQLite writes over their frames in place. */
  must(db, "PRAGMA cache_size=16");
  must(db, "BEGIN");
  insert_rows(db, 1, 300);
  must(db, "UPDATE t SET v=printf('%03000d', id+1) WHERE id%7=0");
  must(db, "UPDATE t SET v=printf('%03000d', id) WHERE id%7=0");
  HL_ASSERT(one_int(db, "SELECT COUNT(*) FROM t WHERE CAST(v AS INTEGER)<>id") == 0);
  must(db, "COMMIT");
  check_rows(path, 300, 300 * 301 / 2);
  sqlite3_close(db);
}

HL_TEST(a_write_that_fails_fails_its_commit_and_the_file_stays_as_it_was) {
  const char *path = db_path();
  sqlite3 *db = open_store_like(path);
  insert_rows(db, 1, 10);
  check_rows(path, 10, 55);
  /* Files may grow no further than ~64 KB past now: the next COMMIT's
   * gathered frames (~400 KB) cannot all be written. */
  signal(SIGXFSZ, SIG_IGN);
  char wal[600];
  snprintf(wal, sizeof wal, "%s-wal", path);
  FILE *f = fopen(wal, "rb");
  HL_ASSERT(f);
  fseek(f, 0, SEEK_END);
  long wal_size = ftell(f);
  fclose(f);
  struct rlimit old, lim;
  getrlimit(RLIMIT_FSIZE, &old);
  lim = old;
  lim.rlim_cur = (rlim_t)wal_size + 64 * 1024;
  HL_ASSERT(setrlimit(RLIMIT_FSIZE, &lim) == 0);
  must(db, "BEGIN");
  insert_rows(db, 11, 100);
  int rc = exec(db, "COMMIT");
  HL_ASSERT_MSG(rc != SQLITE_OK, "the COMMIT succeeded past the file size limit");
  if (!sqlite3_get_autocommit(db)) exec(db, "ROLLBACK");
  HL_ASSERT(setrlimit(RLIMIT_FSIZE, &old) == 0);
  /* Neither this connection nor another sees any of the failed COMMIT. */
  HL_ASSERT(one_int(db, "SELECT COUNT(*) FROM t") == 10);
  check_rows(path, 10, 55);
  /* And the connection writes on. */
  insert_rows(db, 11, 5);
  check_rows(path, 15, 120);
  sqlite3_close(db);
  check_rows(path, 15, 120);
}
