/* hl_sqlite_walbuf.h — a SQLite VFS that writes a COMMIT's WAL frames 30
 * to a write() instead of two write()s a frame.
 *
 * Why. SQLite writes each WAL frame as two write() calls, its 24-byte
 * header and then the page, so a COMMIT of n pages costs the loop thread
 * 2n system calls. On the Kafka path with random event ids that is ~2 a
 * delivery, each ~1 µs of fixed kernel cost whatever its size
 * (bench/README.md, "Issue 21, a COMMIT's WAL frames in one write").
 *
 * How. The VFS HL_SQLITE_WALBUF_VFS wraps the process's default VFS (unix)
 * and passes every file but a WAL through untouched. A WAL's write that
 * continues where the previous one ended is copied into the file's buffer
 * (up to HL_SQLITE_WALBUF_CAP bytes); the buffer is written, with one
 * write of the wrapped VFS:
 *  - as soon as it holds the end of a commit frame (a frame header whose
 *    "database size after commit" field is not zero, in the WAL file
 *    format, then that frame's page), before the write that completed it
 *    returns. So a failed write fails that COMMIT, as it would unbuffered,
 *    and the frames are in the file (the page cache) before SQLite
 *    publishes them in the wal-index, where other connections (the
 *    checkpointer's) find them;
 *  - before a write that does not continue it, when the next write would
 *    not fit, and before every other call on that file (read, sync,
 *    truncate, size, file control, close).
 * Frames that are not a COMMIT's end are never read by another connection
 * (a reader reads up to the last commit frame the wal-index names), and
 * the connection that wrote them reads through the flush above.
 *
 * Durability is unchanged: a process crash loses at most frames of a
 * COMMIT that had not returned, which nothing acknowledged; the store
 * acknowledges after an fdatasync that begins after the COMMIT returned
 * (hl_sqlite_sync.h).
 *
 * Threads: a file's buffer is used only by calls on its connection, which
 * SQLite serialises; the counters are atomic.
 *
 * Ownership: the VFS is registered once per process and never removed; a
 * file owns its buffer (allocated at its first buffered write, freed at
 * its close).
 */
#ifndef HL_SQLITE_WALBUF_H
#define HL_SQLITE_WALBUF_H

#include "common/hl_buf.h"

#include <stdint.h>

#define HL_SQLITE_WALBUF_VFS "hookloop-walbuf"
/* 30 frames of 4 KiB pages a write. The unix VFS writes at most 128 KiB
 * less a byte in one call (its seekAndWriteFd keeps 17 bits of the length),
 * so the buffer stays under that. */
#define HL_SQLITE_WALBUF_CAP (124 * 1024)

typedef struct {
  uint64_t writes_in;  /* WAL writes SQLite made */
  uint64_t writes_out; /* ... and the writes of the wrapped VFS they became */
  uint64_t commits;    /* flushes at the end of a commit frame */
} hl_sqlite_walbuf_stats;

/* Registers the VFS (not as the default) on the first call; later calls
 * return at once. Returns the VFS's name for sqlite3_open_v2, or NULL when
 * SQLite has no default VFS to wrap or the registration failed (callers
 * then open with SQLite's default VFS: correct, one write per frame half). */
const char *hl_sqlite_walbuf_vfs(void);

/* The counters since the process started, over every file. */
hl_sqlite_walbuf_stats hl_sqlite_walbuf_stats_get(void);
/* Appends them to out in the Prometheus text format:
 * hookloop_sqlite_wal_writes_total{by="sqlite"|"file"}. */
void hl_sqlite_walbuf_render_metrics(hl_buf *out);

#endif
