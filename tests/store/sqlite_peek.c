#include "sqlite_peek.h"
#include "hl_test.h"

#include <sqlite3.h>
#include <stdio.h>

/* COUNT(*) of sql, with ?1 bound to arg, on a read-only connection. */
static int count(const char *dir, const char *sql, const char *arg) {
  char path[4096];
  snprintf(path, sizeof path, "%s/hookloop.db", dir);
  sqlite3 *db = NULL;
  sqlite3_stmt *st = NULL;
  HL_ASSERT(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
  HL_ASSERT_MSG(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(db));
  sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
  HL_ASSERT(sqlite3_step(st) == SQLITE_ROW);
  int n = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return n;
}

int sqlite_peek_events(const char *dir, const char *id) {
  return count(dir, "SELECT COUNT(*) FROM hookloop_event WHERE event_id=?1", id);
}

int sqlite_peek_prefix(const char *dir, const char *table, const char *col, const char *prefix) {
  char sql[256];
  snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM %s WHERE %s LIKE ?1 || '%%'", table, col);
  return count(dir, sql, prefix);
}

int sqlite_peek_attempts(const char *dir, const char *prefix) {
  return sqlite_peek_prefix(dir, "delivery_attempt", "event_id", prefix) +
         count(dir, "SELECT COUNT(*) FROM event_delivery_status WHERE event_id LIKE ?1 || '%' "
                    "AND la_attempt IS NOT NULL", prefix);
}

int sqlite_peek_schema(const char *dir, const char *name) {
  return count(dir, "SELECT COUNT(*) FROM sqlite_master WHERE name=?1", name);
}

void sqlite_poke(const char *dir, const char *sql) {
  char path[4096];
  snprintf(path, sizeof path, "%s/hookloop.db", dir);
  sqlite3 *db = NULL;
  char *err = NULL;
  HL_ASSERT(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK);
  HL_ASSERT_MSG(sqlite3_exec(db, sql, NULL, NULL, &err) == SQLITE_OK, "%s: %s", sql, err ? err : "?");
  sqlite3_close(db);
}
