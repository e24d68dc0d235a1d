#include "store/hl_sqlite_ckpt.h"
#include "store/hl_sqlite_walbuf.h"
#include "common/hl_common.h"
#include "common/hl_log.h"

#include <stdio.h>
#include <string.h>

static int clamp_pages(int pages) { return pages > 0 ? pages : HL_SQLITE_CKPT_PAGES; }

void hl_sqlite_ckpt_init(hl_sqlite_ckpt *c, uv_loop_t *loop, const char *path, int pages) {
  memset(c, 0, sizeof *c);
  c->loop = loop;
  c->path = hl_strdup(path);
  hl_sqlite_ckpt_set_pages(c, pages);
}

void hl_sqlite_ckpt_set_pages(hl_sqlite_ckpt *c, int pages) {
  c->pages = clamp_pages(pages);
  c->bound = c->pages * HL_SQLITE_CKPT_BOUND_FACTOR;
}

/* Counts the frames a checkpoint reports copied (ckpt: frames of the WAL
 * backfilled so far, -1: unknown) against what was copied before. */
static void note_copied(hl_sqlite_ckpt *c, int64_t base, int ckpt) {
  if (ckpt < 0) return;
  if (ckpt > base) c->stats.pages_copied += (uint64_t)(ckpt - base);
  c->backfilled = ckpt;
}

/* --- the job, on the threadpool -------------------------------------------- */

/* Opens the checkpointer's connection on first use (on this thread, so that
 * opening and reading the WAL index is no loop work either): the file is in
 * WAL mode already (the store's connection made it so); synchronous=FULL
 * makes the checkpoint fdatasync the database before it counts frames as
 * copied; busy_timeout stays 0, so nothing here waits for a lock. */
static int job_open(hl_sqlite_ckpt *c) {
  if (c->db) return SQLITE_OK;
  int rc = sqlite3_open_v2(c->path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, hl_sqlite_walbuf_vfs());
  if (rc == SQLITE_OK) rc = sqlite3_exec(c->db, "PRAGMA synchronous=FULL; SELECT count(*) FROM sqlite_schema",
                                         NULL, NULL, NULL);
  if (rc != SQLITE_OK) {
    snprintf(c->job_error, sizeof c->job_error, "cannot open %s: %s", c->path,
             c->db ? sqlite3_errmsg(c->db) : "out of memory");
    sqlite3_close(c->db);
    c->db = NULL;
  }
  return rc;
}

static void job_run(uv_work_t *w) {
  hl_sqlite_ckpt *c = hl_container_of(w, hl_sqlite_ckpt, work);
  c->job_thread = uv_thread_self();
  c->job_log = c->job_ckpt = -1;
  c->job_error[0] = '\0';
  c->job_rc = job_open(c);
  if (c->job_rc != SQLITE_OK) return;
  c->job_rc = sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &c->job_log, &c->job_ckpt);
  if (c->job_rc != SQLITE_OK) snprintf(c->job_error, sizeof c->job_error, "%s", sqlite3_errmsg(c->db));
}

static void job_done(uv_work_t *w, int status);

static void job_start(hl_sqlite_ckpt *c) {
  c->in_flight = true;
  c->stats.started++;
  c->job_base = c->backfilled;
  c->job_restarts = c->stats.restarts;
  uv_queue_work(c->loop, &c->work, job_run, job_done);
}

/* --- the loop's side ------------------------------------------------------- */

/* Past the bound, right after a COMMIT (no transaction open) and with no
 * job in flight: copies back the frames the last job did not (those
 * committed while it ran), so that the next transaction restarts the WAL. */
static void catch_up(hl_sqlite_ckpt *c) {
  int64_t uncopied = c->stats.wal_pages - c->backfilled;
  if (uncopied > c->stats.catchup_max_pages) c->stats.catchup_max_pages = uncopied;
  uint64_t t0 = uv_hrtime();
  int log = -1, ckpt = -1;
  int rc = sqlite3_wal_checkpoint_v2(c->loop_db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &ckpt);
  uint64_t us = (uv_hrtime() - t0) / 1000;
  c->stats.catchups++;
  if (us > c->stats.catchup_max_us) c->stats.catchup_max_us = us;
  if (rc != SQLITE_OK) {
    c->stats.failures++;
    hl_log_warn("sqlite checkpoint failed; the next one tries again", "\"error\":\"%s\"",
                hl_log_esc(sqlite3_errmsg(c->loop_db), (size_t)-1));
    return;
  }
  note_copied(c, c->backfilled, ckpt);
}

/* What to do with a WAL of c->stats.wal_pages frames. after_commit: called
 * from the WAL hook, where a checkpoint on the loop's connection may run. */
static void decide(hl_sqlite_ckpt *c, bool after_commit) {
  if (c->stopping || c->in_flight) return;
  int64_t n = c->stats.wal_pages, uncopied = n - c->backfilled;
  /* Past the bound, once what is left after a job is short (a quarter of
   * the threshold), copy it here. Until then jobs go on: each copies what
   * came in during the last, and takes less time, so less comes in during
   * it. Far past the bound (writes outrun the jobs) the rest is copied
   * here anyway: still only what came in during the last job. */
  if (n >= c->bound) {
    /* A job's end does not start the next one here: the next COMMIT is
     * the moment to copy the rest, with none in flight. */
    if (!after_commit) return;
    if (uncopied <= c->pages / 4 || n >= 2 * (int64_t)c->bound) {
      catch_up(c);
      return;
    }
  }
  if (uncopied >= c->pages) job_start(c);
}

static void job_done(uv_work_t *w, int status) {
  hl_sqlite_ckpt *c = hl_container_of(w, hl_sqlite_ckpt, work);
  c->in_flight = false;
  if (status != 0) c->stats.started--; /* cancelled: it never ran */
  if (status == 0) {
    c->stats.checkpoints++;
    c->stats.last_thread = c->job_thread;
    if (c->job_rc != SQLITE_OK) {
      c->stats.failures++;
      hl_log_warn("sqlite checkpoint failed; the next one tries again", "\"error\":\"%s\"",
                  hl_log_esc(c->job_error, (size_t)-1));
    } else if (c->job_restarts == c->stats.restarts) {
      /* (A WAL restarted meanwhile is a new one: the figures were the old one's.) */
      note_copied(c, c->job_base, c->job_ckpt);
    }
  }
  if (c->stopping) {
    void (*cb)(void *) = c->stopped_cb;
    c->stopped_cb = NULL;
    if (cb) cb(c->stopped_data);
    return;
  }
  /* Writes went on while it ran: the next one may be due already. */
  decide(c, false);
}

/* SQLite calls this on the loop thread after each COMMIT of the loop's
 * connection, its write lock released, with the WAL's size in frames. */
static int on_wal(void *arg, sqlite3 *db, const char *name, int frames) {
  hl_sqlite_ckpt *c = arg;
  (void)db; (void)name;
  c->stats.commits++;
  if (frames < c->stats.wal_pages) {
    /* The WAL started again from its beginning. */
    c->stats.restarts++;
    c->backfilled = 0;
  }
  c->stats.wal_pages = frames;
  if (frames > c->stats.wal_max_pages) c->stats.wal_max_pages = frames;
  decide(c, true);
  return SQLITE_OK;
}

void hl_sqlite_ckpt_start(hl_sqlite_ckpt *c, sqlite3 *db) {
  c->loop_db = db;
  /* Replaces SQLite's automatic checkpoint (itself a WAL hook). */
  sqlite3_wal_hook(db, on_wal, c);
}

void hl_sqlite_ckpt_stop(hl_sqlite_ckpt *c, void (*cb)(void *data), void *data) {
  c->stopping = true;
  if (c->loop_db) sqlite3_wal_hook(c->loop_db, NULL, NULL);
  if (!c->in_flight) {
    cb(data);
    return;
  }
  c->stopped_cb = cb;
  c->stopped_data = data;
  /* Not started yet: it ends at once (job_done with UV_ECANCELED); else it
   * finishes its checkpoint first. */
  uv_cancel((uv_req_t *)&c->work);
}

void hl_sqlite_ckpt_close(hl_sqlite_ckpt *c) {
  if (c->db) sqlite3_close(c->db);
  c->db = NULL;
  hl_free(c->path);
  c->path = NULL;
}

void hl_sqlite_ckpt_render_metrics(const hl_sqlite_ckpt *c, hl_buf *out) {
  const hl_sqlite_ckpt_stats *st = &c->stats;
  hl_buf_printf(out,
                "# HELP hookloop_sqlite_checkpoints_total WAL checkpoints of the SQLite store, by where they ran.\n"
                "# TYPE hookloop_sqlite_checkpoints_total counter\n"
                "hookloop_sqlite_checkpoints_total{where=\"threadpool\"} %llu\n"
                "hookloop_sqlite_checkpoints_total{where=\"loop\"} %llu\n"
                "# HELP hookloop_sqlite_checkpoint_failures_total WAL checkpoints that failed.\n"
                "# TYPE hookloop_sqlite_checkpoint_failures_total counter\n"
                "hookloop_sqlite_checkpoint_failures_total %llu\n"
                "# HELP hookloop_sqlite_checkpoint_pages_total WAL pages copied back into the database.\n"
                "# TYPE hookloop_sqlite_checkpoint_pages_total counter\n"
                "hookloop_sqlite_checkpoint_pages_total %llu\n"
                "# HELP hookloop_sqlite_wal_restarts_total Times the WAL started again from its beginning.\n"
                "# TYPE hookloop_sqlite_wal_restarts_total counter\n"
                "hookloop_sqlite_wal_restarts_total %llu\n"
                "# HELP hookloop_sqlite_wal_pages The WAL's size in pages after the last commit.\n"
                "# TYPE hookloop_sqlite_wal_pages gauge\n"
                "hookloop_sqlite_wal_pages %lld\n"
                "# HELP hookloop_sqlite_wal_max_pages The largest the WAL has been, in pages.\n"
                "# TYPE hookloop_sqlite_wal_max_pages gauge\n"
                "hookloop_sqlite_wal_max_pages %lld\n"
                "# HELP hookloop_sqlite_checkpoint_loop_max_seconds The longest checkpoint run on the loop thread.\n"
                "# TYPE hookloop_sqlite_checkpoint_loop_max_seconds gauge\n"
                "hookloop_sqlite_checkpoint_loop_max_seconds %.6f\n",
                (unsigned long long)st->checkpoints, (unsigned long long)st->catchups,
                (unsigned long long)st->failures, (unsigned long long)st->pages_copied,
                (unsigned long long)st->restarts, (long long)st->wal_pages, (long long)st->wal_max_pages,
                (double)st->catchup_max_us / 1e6);
}
