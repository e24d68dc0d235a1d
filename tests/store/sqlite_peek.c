#include "sqlite_peek.h"
#include "hl_test.h"

#include <sqlite3.h>
#include <stdio.h>

int sqlite_peek_events(const char *dir, const char *id) {
  char path[4096];
  snprintf(path, sizeof path, "%s/hookloop.db", dir);
  sqlite3 *db = NULL;
  sqlite3_stmt *st = NULL;
  HL_ASSERT(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
  HL_ASSERT(sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM hookloop_event WHERE event_id=?1", -1, &st, NULL) ==
            SQLITE_OK);
  sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
  HL_ASSERT(sqlite3_step(st) == SQLITE_ROW);
  int n = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return n;
}
