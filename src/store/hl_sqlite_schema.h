/* hl_sqlite_schema.h — the SQLite store's tables and indexes, and the
 * migration steps that bring a file made by an older release to them.
 *
 * Every step is idempotent and runs at every start (a file made before a
 * step gains what it adds; a file made after finds it there), so there is
 * no version number to keep in step with the code: a step tests for what
 * it adds (a column, a table, an index by IF NOT EXISTS). A new step goes
 * at the end of hl_sqlite_schema_set_up's list, with a test in test_store
 * that opens a file of the layout before it.
 *
 * Runs on the loop thread at open, before the store answers anything:
 * bounded work on a new file; on an old one a step may rebuild a table
 * once (VACUUM for incremental vacuum, the attempt table's new key).
 */
#ifndef HL_SQLITE_SCHEMA_H
#define HL_SQLITE_SCHEMA_H

#include <sqlite3.h>

#include "store/hl_store.h"

/* A status row's latest attempt (step "latest attempt"): its columns, in
 * the order of an attempt row's values from the 4th (attempt_put: attempt
 * .. truncated), which a status row carrying it adds after its own. */
#define HL_SQLITE_LA_COLS 8
#define HL_SQLITE_LA_FROM 3
extern const char *const HL_SQLITE_LA_COL[HL_SQLITE_LA_COLS];

/* Creates the tables and indexes the store uses, or migrates a file made
 * before to them: in one transaction, then the two steps that need one of
 * their own. db is open in WAL mode with auto_vacuum asked for. 0 or
 * HL_ESTORE (logged). */
int hl_sqlite_schema_set_up(sqlite3 *db, const hl_table_names *t);

/* Runs SQL text (one statement or several), logging a failure with the
 * text: 0 or HL_ESTORE. */
int hl_sqlite_exec(sqlite3 *db, const char *sql);

#endif
