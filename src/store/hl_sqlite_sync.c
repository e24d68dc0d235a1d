#include "store/hl_sqlite_sync.h"
#include "common/hl_common.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void hl_sqlite_sync_init(hl_sqlite_sync *s, uv_loop_t *loop, const char *db_path, hl_sqlite_synced_cb synced_cb,
                         void *data) {
  memset(s, 0, sizeof *s);
  s->loop = loop;
  size_t n = strlen(db_path);
  s->wal_path = hl_malloc(n + 5);
  memcpy(s->wal_path, db_path, n);
  memcpy(s->wal_path + n, "-wal", 5);
  char *copy = hl_strdup(db_path);
  s->dir_path = hl_strdup(dirname(copy));
  hl_free(copy);
  s->synced_cb = synced_cb;
  s->data = data;
}

/* --- the job, on the threadpool -------------------------------------------- */

static int job_fail(hl_sqlite_sync *s, const char *what, const char *path) {
  int e = errno;
  snprintf(s->job_error, sizeof s->job_error, "%s %s: %s", what, path, strerror(e));
  return -e;
}

/* fdatasync of the WAL; the first time a WAL file is seen (a new inode), an
 * fsync of its directory as well, so that the file itself survives. */
static int job_sync(hl_sqlite_sync *s) {
  int fd = open(s->wal_path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return job_fail(s, "cannot open", s->wal_path);
  int rc = 0;
  struct stat st;
  if (fstat(fd, &st) != 0) rc = job_fail(s, "cannot stat", s->wal_path);
  if (rc == 0 && fdatasync(fd) != 0) rc = job_fail(s, "fdatasync failed on", s->wal_path);
  close(fd);
  if (rc == 0 && (!s->wal_seen || st.st_ino != s->wal_ino)) {
    int dfd = open(s->dir_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return job_fail(s, "cannot open", s->dir_path);
    if (fsync(dfd) != 0) rc = job_fail(s, "fsync failed on", s->dir_path);
    close(dfd);
    if (rc == 0) {
      s->wal_seen = true;
      s->wal_ino = st.st_ino;
    }
  }
  return rc;
}

static void job_run(uv_work_t *w) {
  hl_sqlite_sync *s = hl_container_of(w, hl_sqlite_sync, work);
  uint64_t t0 = uv_hrtime();
  s->job_thread = uv_thread_self();
  s->job_error[0] = '\0';
  s->job_err = job_sync(s);
  s->job_us = (uv_hrtime() - t0) / 1000;
}

static void job_done(uv_work_t *w, int status);

static void job_start(hl_sqlite_sync *s) {
  s->in_flight = true;
  s->job_upto = s->ticket;
  s->stats.started++;
  uv_queue_work(s->loop, &s->work, job_run, job_done);
}

/* Whether every ticket handed out is covered by an ended job. */
static bool idle(const hl_sqlite_sync *s) { return !s->in_flight && s->done_upto >= s->ticket; }

static void maybe_stopped(hl_sqlite_sync *s) {
  if (!s->stopped_cb || !idle(s)) return;
  void (*cb)(void *) = s->stopped_cb;
  s->stopped_cb = NULL;
  cb(s->stopped_data);
}

static void job_done(uv_work_t *w, int status) {
  hl_sqlite_sync *s = hl_container_of(w, hl_sqlite_sync, work);
  s->in_flight = false;
  uint64_t upto = s->job_upto;
  int err = s->job_err;
  if (status != 0) { /* cancelled before it ran: nothing is known to be on the disk */
    err = status;
    snprintf(s->job_error, sizeof s->job_error, "the WAL's fdatasync was cancelled");
  }
  s->stats.synced++;
  if (!err) s->stats.covered += upto - s->done_upto;
  s->done_upto = upto;
  if (status == 0) { /* (a cancelled job left the last one's figures) */
    s->stats.total_us += s->job_us;
    if (s->job_us > s->stats.max_us) s->stats.max_us = s->job_us;
    s->stats.last_thread = s->job_thread;
  }
  if (err) s->stats.failures++;
  /* Commits made while it ran wait for the next one; start it before the
   * callbacks, which may commit again (they then join it or the one after). */
  if (s->ticket > upto) job_start(s);
  s->synced_cb(s->data, upto, err, err ? s->job_error : NULL);
  maybe_stopped(s);
}

/* --- the loop's side ------------------------------------------------------- */

uint64_t hl_sqlite_sync_request(hl_sqlite_sync *s) {
  s->stats.requested++;
  ++s->ticket;
  if (!s->in_flight) job_start(s);
  return s->ticket;
}

void hl_sqlite_sync_stop(hl_sqlite_sync *s, void (*cb)(void *data), void *data) {
  s->stopped_cb = cb;
  s->stopped_data = data;
  maybe_stopped(s);
}

void hl_sqlite_sync_close(hl_sqlite_sync *s) {
  hl_free(s->wal_path);
  hl_free(s->dir_path);
  s->wal_path = s->dir_path = NULL;
}

void hl_sqlite_sync_render_metrics(const hl_sqlite_sync *s, hl_buf *out) {
  const hl_sqlite_sync_stats *st = &s->stats;
  hl_buf_printf(out,
                "# HELP hookloop_sqlite_wal_syncs_total fdatasyncs of the SQLite store's WAL, run on the threadpool.\n"
                "# TYPE hookloop_sqlite_wal_syncs_total counter\n"
                "hookloop_sqlite_wal_syncs_total %llu\n"
                "# HELP hookloop_sqlite_wal_sync_failures_total fdatasyncs of the WAL that failed.\n"
                "# TYPE hookloop_sqlite_wal_sync_failures_total counter\n"
                "hookloop_sqlite_wal_sync_failures_total %llu\n"
                "# HELP hookloop_sqlite_wal_synced_commits_total Commits made durable by those fdatasyncs.\n"
                "# TYPE hookloop_sqlite_wal_synced_commits_total counter\n"
                "hookloop_sqlite_wal_synced_commits_total %llu\n"
                "# HELP hookloop_sqlite_wal_sync_seconds_total Time the fdatasyncs of the WAL took.\n"
                "# TYPE hookloop_sqlite_wal_sync_seconds_total counter\n"
                "hookloop_sqlite_wal_sync_seconds_total %.6f\n"
                "# HELP hookloop_sqlite_wal_sync_max_seconds The longest fdatasync of the WAL.\n"
                "# TYPE hookloop_sqlite_wal_sync_max_seconds gauge\n"
                "hookloop_sqlite_wal_sync_max_seconds %.6f\n",
                (unsigned long long)st->synced, (unsigned long long)st->failures, (unsigned long long)st->covered,
                (double)st->total_us / 1e6, (double)st->max_us / 1e6);
}
