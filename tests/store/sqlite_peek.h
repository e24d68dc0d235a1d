/* sqlite_peek.h — what another connection sees in a SQLite store's file:
 * only committed rows. Tests use it to tell a COMMIT from a callback. */
#ifndef SQLITE_PEEK_H
#define SQLITE_PEEK_H

/* Rows of hookloop_event with event_id id in <dir>/hookloop.db, read on a
 * read-only connection of its own. */
int sqlite_peek_events(const char *dir, const char *id);

/* Rows of table whose column col starts with prefix, the same way. */
int sqlite_peek_prefix(const char *dir, const char *table, const char *col, const char *prefix);

/* Attempts of deliveries whose event_id starts with prefix, wherever the
 * SQLite store keeps them: rows of the attempt table, and status rows
 * holding their latest attempt (la_attempt), the same way. */
int sqlite_peek_attempts(const char *dir, const char *prefix);

/* Rows of sqlite_master (tables, indexes) named name, the same way. */
int sqlite_peek_schema(const char *dir, const char *name);

/* Runs sql on a read-write connection of its own: a file as an older
 * version left it, for the migration tests. */
void sqlite_poke(const char *dir, const char *sql);

#endif
