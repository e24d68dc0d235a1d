/* hl_sqlite_sync.h — the SQLite store's WAL fdatasync, on the libuv
 * threadpool instead of the loop thread.
 *
 * Why. With synchronous=FULL every COMMIT of the loop's connection ends in
 * an fdatasync of the WAL, on the loop thread: ~3.5 ms on the VMs the
 * benches run on (bench/README.md, "Issue 21, the WAL's fdatasync off the
 * loop"), during which nothing else of the process moves. Under load the
 * loop spent about a third of its time there.
 *
 * How. The loop's connection runs with synchronous=NORMAL: a COMMIT writes
 * its WAL frames (write(), into the page cache) and returns; SQLite still
 * syncs the WAL before every checkpoint and the database after it, so the
 * file stays consistent across a power loss, but the last commits may roll
 * back. The store therefore holds every callback of a commit that wrote
 * (the 202, the recorded outcome, the Kafka offset commit) until an
 * fdatasync of the WAL that began after that COMMIT has returned: _request
 * after the COMMIT hands out a ticket, and the store runs the callbacks of
 * every ticket <= the one the synced callback reports. So what was
 * acknowledged is on the disk, as with FULL, and one fdatasync covers
 * every commit made while the previous one ran (a group commit that adds
 * no wait at light load).
 *
 * A process crash loses nothing either way (the frames are in the page
 * cache); what this guards against is the machine losing power or the
 * kernel crashing between the write and the acknowledgement.
 *
 * The job opens the WAL by its path (the store's connection keeps it open
 * and never deletes or replaces it while it runs), fdatasyncs it, and the
 * first time it sees a WAL file, its directory too (SQLite syncs the
 * directory of a new WAL only at its first sync, which NORMAL may delay).
 *
 * A failed fdatasync fails the callbacks it covered (the rows may be in the
 * file, but nothing says they reached the disk: callers treat it as a
 * failed commit, which is the safe side).
 *
 * Threads: every field is the loop thread's, except the job's own fields,
 * which its thread owns while a job is in flight (uv_queue_work hands them
 * over and back).
 *
 * Ownership: the struct is the caller's (the store embeds it); it owns its
 * copies of the paths.
 */
#ifndef HL_SQLITE_SYNC_H
#define HL_SQLITE_SYNC_H

#include "common/hl_buf.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

typedef struct {
  uint64_t requested;     /* tickets handed out (commits that wrote) */
  uint64_t started;       /* fdatasync jobs queued on the threadpool */
  uint64_t synced;        /* ... that ended (started - synced: in flight) */
  uint64_t failures;      /* ... that failed */
  uint64_t covered;       /* tickets (commits) the jobs that succeeded covered */
  uint64_t max_us;        /* the longest job, open to close */
  uint64_t total_us;      /* all jobs together */
  uv_thread_t last_thread;/* the thread the last job ran on */
} hl_sqlite_sync_stats;

/* After a job: every ticket <= upto is on the disk (err 0) or not known to
 * be (err: a negative errno, and error a message). Called on the loop. */
typedef void (*hl_sqlite_synced_cb)(void *data, uint64_t upto, int err, const char *error);

typedef struct hl_sqlite_sync {
  uv_loop_t *loop;
  char *wal_path, *dir_path;
  hl_sqlite_synced_cb synced_cb;
  void *data;
  uv_work_t work;
  bool in_flight;
  uint64_t ticket;        /* the last ticket handed out */
  uint64_t job_upto;      /* the last ticket the job in flight covers */
  uint64_t done_upto;     /* the last ticket an ended job covered */
  /* The job's own (its thread writes them, after_work reads them). */
  int job_err;
  char job_error[120];
  uint64_t job_us;
  uv_thread_t job_thread;
  ino_t wal_ino;          /* the WAL file whose directory was synced */
  bool wal_seen;
  void (*stopped_cb)(void *data); /* set by _stop: called once nothing waits */
  void *stopped_data;
  hl_sqlite_sync_stats stats;
} hl_sqlite_sync;

/* Prepares s for the database file at db_path (its WAL is db_path-wal);
 * synced_cb(data, ...) is called on the loop after each job. */
void hl_sqlite_sync_init(hl_sqlite_sync *s, uv_loop_t *loop, const char *db_path, hl_sqlite_synced_cb synced_cb,
                         void *data);

/* After a COMMIT that wrote to the WAL: returns its ticket, and starts a
 * job unless one is in flight (then the next one starts when it ends, and
 * covers this ticket). */
uint64_t hl_sqlite_sync_request(hl_sqlite_sync *s);

/* Starts no more jobs once every ticket is covered, and calls cb (loop
 * thread) then: at once when nothing is in flight or waiting. */
void hl_sqlite_sync_stop(hl_sqlite_sync *s, void (*cb)(void *data), void *data);

/* Appends the counters to out as Prometheus text. */
void hl_sqlite_sync_render_metrics(const hl_sqlite_sync *s, hl_buf *out);

/* After stop's cb: frees the paths. */
void hl_sqlite_sync_close(hl_sqlite_sync *s);

#endif
