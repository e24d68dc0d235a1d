/* hl_sqlite_ckpt.h — the SQLite store's WAL checkpoints, on the libuv
 * threadpool instead of the loop thread.
 *
 * A checkpoint copies the WAL's pages back into the database file and
 * fdatasyncs it: ~11–14 ms for 4,000 pages (bench/README.md, "Issue 21, WAL
 * checkpoints off the loop"), far longer than a loop turn may take. So the
 * loop's connection runs with no automatic checkpoint; the WAL hook that
 * _start installs on it notes the WAL's size after every COMMIT, and once
 * `pages` frames are not copied back yet (and no job is in flight) a job on
 * the threadpool runs a PASSIVE checkpoint on the checkpointer's own
 * connection (opened by the first job: synchronous=FULL, no busy wait). The
 * loop goes on committing meanwhile: PASSIVE waits for no reader or writer.
 *
 * Catch-up. The WAL starts again from its beginning only when a write
 * transaction begins with every frame copied back; under sustained writes a
 * COMMIT lands during every checkpoint on the threadpool, so those copy the
 * WAL but never let it restart, and the file would grow without end. So
 * once the WAL holds `bound` frames (2 × pages by default), jobs are no
 * longer started from a job's end but from the next COMMIT, and when what
 * is left then is short (a quarter of `pages`), or the WAL holds twice the
 * bound, that COMMIT copies the rest itself, on the loop, in its WAL hook
 * (where SQLite's own automatic checkpoint would run): only the frames
 * committed since the last job began, as that job copied all before. The
 * next transaction then restarts the WAL. This is the one checkpoint left
 * on the loop: its length is what came in during one job (bench/README.md,
 * "Issue 21, WAL checkpoints off the loop", has the figures), once per
 * ~2 × bound frames where every 4,000 frames had one before.
 * Holding the store's writes for one threadpool checkpoint instead would
 * not restart the WAL: a transaction begun while that checkpoint runs
 * reads through the WAL, and SQLite restarts it only from a transaction
 * begun with every frame copied back; the store's operations run their
 * statements when called, so holding them back means queueing every kind
 * of operation (not done).
 *
 * Threads: every field is the loop thread's, except the connection and
 * the job's result fields, which the job's thread owns while a job is in
 * flight (uv_queue_work hands them over and back).
 *
 * Ownership: the struct is the caller's (the store embeds it); it owns its
 * copy of the path and its connection. The loop's connection stays the
 * caller's: _start only installs a WAL hook on it, and the caller closes it
 * after _close.
 */
#ifndef HL_SQLITE_CKPT_H
#define HL_SQLITE_CKPT_H

#include "common/hl_buf.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

/* WAL frames (4 KB pages) not yet copied back after which a checkpoint
 * runs: bench/README.md ("Issue 21, the store's writes") for why 4,000. */
#define HL_SQLITE_CKPT_PAGES 4000
/* The WAL's size, in multiples of the above, past which the loop copies
 * back the rest after a job (see above). */
#define HL_SQLITE_CKPT_BOUND_FACTOR 2

typedef struct {
  uint64_t commits;       /* COMMITs of the loop's connection that wrote to the WAL */
  uint64_t started;       /* checkpoints queued on the threadpool */
  uint64_t checkpoints;   /* ... that ran (started - checkpoints: in flight) */
  uint64_t catchups;      /* the short ones on the loop, past the bound */
  uint64_t failures;      /* checkpoints that failed (the next one tries again) */
  uint64_t pages_copied;  /* WAL frames copied back into the database */
  uint64_t restarts;      /* times the WAL started again from its beginning */
  int64_t wal_pages;      /* the WAL's size (frames) after the last COMMIT */
  int64_t wal_max_pages;  /* the largest it has been */
  uint64_t catchup_max_us;/* the longest catch-up on the loop */
  int64_t catchup_max_pages; /* the most pages one catch-up had to copy */
  uv_thread_t last_thread;/* the thread the last threadpool checkpoint ran on */
} hl_sqlite_ckpt_stats;

typedef struct hl_sqlite_ckpt {
  uv_loop_t *loop;
  char *path;             /* the database file */
  sqlite3 *loop_db;       /* the loop's connection (the caller's), from _start */
  sqlite3 *db;            /* the checkpointer's own (NULL until the first job) */
  uv_work_t work;
  int pages, bound;
  bool in_flight;         /* a job is queued or running */
  bool stopping;
  int64_t backfilled;     /* frames of the current WAL copied back */
  int64_t job_base;       /* backfilled when the job started */
  uint64_t job_restarts;  /* stats.restarts when the job started */
  /* The job's result (its thread writes them, after_work reads them). */
  int job_rc, job_log, job_ckpt;
  char job_error[120];
  uv_thread_t job_thread;
  void (*stopped_cb)(void *data);
  void *stopped_data;
  hl_sqlite_ckpt_stats stats;
} hl_sqlite_ckpt;

/* Prepares c for the database file at path (copied); opens nothing yet.
 * pages: frames not copied back that start a checkpoint (<= 0: the
 * default); the bound is HL_SQLITE_CKPT_BOUND_FACTOR times it. */
void hl_sqlite_ckpt_init(hl_sqlite_ckpt *c, uv_loop_t *loop, const char *path, int pages);

/* Sets the threshold (and with it the bound) from now on, as _init. */
void hl_sqlite_ckpt_set_pages(hl_sqlite_ckpt *c, int pages);

/* Turns off the automatic checkpoints of db (the loop's connection, in WAL
 * mode, used on the loop thread only) and installs the WAL hook on it.
 * db stays the caller's; it must outlive _stop. */
void hl_sqlite_ckpt_start(hl_sqlite_ckpt *c, sqlite3 *db);

/* Starts no more checkpoints, removes the WAL hook, and calls cb (loop
 * thread) once no job is in flight: at once when none is, else when the
 * job ends or is cancelled. */
void hl_sqlite_ckpt_stop(hl_sqlite_ckpt *c, void (*cb)(void *data), void *data);

/* Appends the counters (stats) to out as Prometheus text. */
void hl_sqlite_ckpt_render_metrics(const hl_sqlite_ckpt *c, hl_buf *out);

/* After stop's cb: closes the checkpointer's connection, frees the path. */
void hl_sqlite_ckpt_close(hl_sqlite_ckpt *c);

#endif
