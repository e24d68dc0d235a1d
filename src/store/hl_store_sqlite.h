/* hl_store_sqlite.h — the embedded store: one SQLite file in WAL mode that
 * holds the tables of docs/interface.md §6 and the embedded queue (accepted event
 * bodies plus one delivery row per matching subscription).
 *
 * Durability: no callback of a write runs before an fdatasync of the WAL
 * that began after its COMMIT has returned (store/hl_sqlite_sync.h: the
 * connection runs with synchronous=NORMAL and that fdatasync runs on the
 * threadpool); an event is acknowledged (202) only from its callback.
 * Batching (group commit): statements run at once inside a transaction
 * that stays open across loop turns until it is commit_ms old or holds
 * max_ops operations (hl_store_sqlite_group_commit; by default 0 ms, that
 * is every turn, and 1024), so one fsync covers every event of those
 * turns. No callback of an operation runs before the COMMIT that made it
 * durable. A timer commits a group that is due while the loop sleeps; a
 * full group is committed at the end of its turn. With commit_ms 0 every
 * loop turn is committed at its end (a uv_idle handle keeps the loop from
 * sleeping meanwhile).
 * Only one process may use a data directory at a time (an exclusive lock
 * file enforces it).
 */
#ifndef HL_STORE_SQLITE_H
#define HL_STORE_SQLITE_H

#include <uv.h>

#include "store/hl_sqlite_ckpt.h"
#include "store/hl_sqlite_sync.h"
#include "store/hl_store.h"

/* Opens (creating when needed) <data_dir>/hookloop.db. Returns 0 or a
 * negative hl_err with a human message in err (size errlen). */
int hl_store_sqlite_open(uv_loop_t *loop, const char *data_dir, const hl_table_names *names,
                         hl_store **out, char *err, size_t errlen);

/* Sets the group commit's bounds (see above) of an open SQLite store:
 * commit_ms 0 commits every loop turn; max_ops is at least 1. Takes
 * effect from the next transaction. */
void hl_store_sqlite_group_commit(hl_store *s, uint64_t commit_ms, size_t max_ops);
/* The default max_ops: a group holds at most this many operations. */
#define HL_SQLITE_GROUP_MAX 1024

/* SQLite's page cache for the store's connection, in KiB. Reads past it
 * come from the kernel's page cache (a pread each); a drain reads the
 * rows it has just claimed, so a small cache costs no more reads at
 * 10,000 in flight, and each MiB of it is a MiB of RSS that the memory
 * goal counts (bench/README.md, "Memory in scenario b"). */
#define HL_SQLITE_PAGE_CACHE_KB 4096

/* The WAL's checkpoints run on the threadpool (store/hl_sqlite_ckpt.h):
 * their counters (owned by the store, valid until it is closed), also on
 * /metrics; and the WAL pages that start one (<= 0: the default, 4,000),
 * for tests and bench/store. */
const hl_sqlite_ckpt_stats *hl_store_sqlite_ckpt_stats(hl_store *s);
/* The WAL's fdatasync runs on the threadpool (store/hl_sqlite_sync.h):
 * its counters, as above. */
const hl_sqlite_sync_stats *hl_store_sqlite_sync_stats(hl_store *s);
void hl_store_sqlite_ckpt_pages(hl_store *s, int pages);

#endif
