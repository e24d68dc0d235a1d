/* hl_store_sqlite.h — the embedded store: one SQLite file in WAL mode that
 * holds the tables of docs/interface.md §6 and the embedded queue (accepted event
 * bodies plus one delivery row per matching subscription).
 *
 * Durability: synchronous=FULL, so a COMMIT has reached the disk before any
 * callback runs; an event is acknowledged (202) only from its callback.
 * Batching: statements run at once inside a transaction that stays open for
 * the rest of the loop turn and is committed by a uv_check handle; so one
 * loop turn costs one fsync however many events it accepted. A uv_idle
 * handle keeps the loop from sleeping while a transaction is open.
 * Only one process may use a data directory at a time (an exclusive lock
 * file enforces it).
 */
#ifndef HL_STORE_SQLITE_H
#define HL_STORE_SQLITE_H

#include <uv.h>

#include "store/hl_store.h"

/* Opens (creating when needed) <data_dir>/hookloop.db. Returns 0 or a
 * negative hl_err with a human message in err (size errlen). */
int hl_store_sqlite_open(uv_loop_t *loop, const char *data_dir, const hl_table_names *names,
                         hl_store **out, char *err, size_t errlen);

#endif
