#include "store/hl_sqlite_walbuf.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* The WAL file format (sqlite.org/fileformat2.html#walformat): a frame is a
 * 24-byte header, then the page; bytes 4..7 of the header are the database's
 * size in pages after a commit for a commit frame, zero for any other. */
#define FRAME_HEADER 24

typedef struct {
  sqlite3_file base;   /* pMethods: wb_methods, once the wrapped open succeeded */
  sqlite3_file *real;  /* the wrapped VFS's file, in the same allocation */
  bool wal;
  unsigned char *buf;  /* WAL only: writes gathered, from file offset `at` */
  size_t len;
  sqlite3_int64 at;
  sqlite3_int64 commit_page_at; /* where the last commit frame header's page starts; -1: none */
} wb_file;

static sqlite3_vfs wb_vfs;
static sqlite3_vfs *real_vfs;
static const char *vfs_name;
static pthread_once_t register_once = PTHREAD_ONCE_INIT;
static _Atomic uint64_t n_in, n_out, n_commits;

#define REAL(f) (((wb_file *)(f))->real)
#define RM(f) (REAL(f)->pMethods)

static void count(_Atomic uint64_t *c) { atomic_fetch_add_explicit(c, 1, memory_order_relaxed); }

/* Writes what is gathered; the buffer is empty afterwards either way (a
 * failed write fails the transaction that made it: SQLite writes it again
 * or not at all). */
static int flush(wb_file *f) {
  if (f->len == 0) return SQLITE_OK;
  int rc = RM(f)->xWrite(f->real, f->buf, (int)f->len, f->at);
  count(&n_out);
  f->len = 0;
  return rc;
}

static int wb_write(sqlite3_file *pf, const void *data, int amt, sqlite3_int64 off) {
  wb_file *f = (wb_file *)pf;
  if (!f->wal) return RM(f)->xWrite(f->real, data, amt, off);
  count(&n_in);
  size_t n = (size_t)amt;
  bool ends_commit = false;
  if (n == FRAME_HEADER) {
    const unsigned char *h = data;
    f->commit_page_at = h[4] | h[5] | h[6] | h[7] ? off + FRAME_HEADER : -1;
  } else if (f->commit_page_at == off) { /* a commit frame's page: out before SQLite publishes it */
    f->commit_page_at = -1;
    ends_commit = true;
    count(&n_commits);
  }
  bool follows = f->len > 0 && off == f->at + (sqlite3_int64)f->len;
  if (!follows || f->len + n > HL_SQLITE_WALBUF_CAP) {
    int rc = flush(f);
    if (rc != SQLITE_OK) return rc;
  }
  if (n > HL_SQLITE_WALBUF_CAP || (!f->buf && !(f->buf = malloc(HL_SQLITE_WALBUF_CAP)))) {
    /* Larger than the buffer, or no buffer: written as it is, after what
     * was gathered (flushed above: it did not fit, or there is none). */
    count(&n_out);
    return RM(f)->xWrite(f->real, data, amt, off);
  }
  if (f->len == 0) f->at = off;
  memcpy(f->buf + f->len, data, n);
  f->len += n;
  return ends_commit ? flush(f) : SQLITE_OK;
}

/* Every other call on a WAL sees the file as SQLite wrote it: the buffer
 * goes out first. */
#define FLUSHED(f)                                  \
  do {                                              \
    int frc_ = flush((wb_file *)(f));               \
    if (frc_ != SQLITE_OK) return frc_;             \
  } while (0)

static int wb_close(sqlite3_file *pf) {
  wb_file *f = (wb_file *)pf;
  int rc = flush(f);
  free(f->buf);
  f->buf = NULL;
  int crc = RM(f)->xClose(f->real);
  return rc != SQLITE_OK ? rc : crc;
}

static int wb_read(sqlite3_file *pf, void *out, int amt, sqlite3_int64 off) {
  FLUSHED(pf);
  return RM(pf)->xRead(REAL(pf), out, amt, off);
}

static int wb_truncate(sqlite3_file *pf, sqlite3_int64 size) {
  FLUSHED(pf);
  return RM(pf)->xTruncate(REAL(pf), size);
}

static int wb_sync(sqlite3_file *pf, int flags) {
  FLUSHED(pf);
  return RM(pf)->xSync(REAL(pf), flags);
}

static int wb_file_size(sqlite3_file *pf, sqlite3_int64 *size) {
  FLUSHED(pf);
  return RM(pf)->xFileSize(REAL(pf), size);
}

static int wb_file_control(sqlite3_file *pf, int op, void *arg) {
  FLUSHED(pf);
  return RM(pf)->xFileControl(REAL(pf), op, arg);
}

/* The rest pass through. */
static int wb_lock(sqlite3_file *pf, int l) { return RM(pf)->xLock(REAL(pf), l); }
static int wb_unlock(sqlite3_file *pf, int l) { return RM(pf)->xUnlock(REAL(pf), l); }
static int wb_check_reserved(sqlite3_file *pf, int *out) { return RM(pf)->xCheckReservedLock(REAL(pf), out); }
static int wb_sector_size(sqlite3_file *pf) { return RM(pf)->xSectorSize(REAL(pf)); }
static int wb_device(sqlite3_file *pf) { return RM(pf)->xDeviceCharacteristics(REAL(pf)); }
static int wb_shm_map(sqlite3_file *pf, int pg, int sz, int extend, void volatile **out) {
  return RM(pf)->xShmMap(REAL(pf), pg, sz, extend, out);
}
static int wb_shm_lock(sqlite3_file *pf, int offset, int n, int flags) {
  return RM(pf)->xShmLock(REAL(pf), offset, n, flags);
}
static void wb_shm_barrier(sqlite3_file *pf) { RM(pf)->xShmBarrier(REAL(pf)); }
static int wb_shm_unmap(sqlite3_file *pf, int del) { return RM(pf)->xShmUnmap(REAL(pf), del); }
static int wb_fetch(sqlite3_file *pf, sqlite3_int64 off, int amt, void **out) {
  return RM(pf)->xFetch(REAL(pf), off, amt, out);
}
static int wb_unfetch(sqlite3_file *pf, sqlite3_int64 off, void *p) { return RM(pf)->xUnfetch(REAL(pf), off, p); }

/* Version 3, the unix VFS's: wb_open refuses a file whose own methods are
 * older, so the version-2 and -3 slots always have a method to call. */
static const sqlite3_io_methods wb_methods = {
    .iVersion = 3,
    .xClose = wb_close,
    .xRead = wb_read,
    .xWrite = wb_write,
    .xTruncate = wb_truncate,
    .xSync = wb_sync,
    .xFileSize = wb_file_size,
    .xLock = wb_lock,
    .xUnlock = wb_unlock,
    .xCheckReservedLock = wb_check_reserved,
    .xFileControl = wb_file_control,
    .xSectorSize = wb_sector_size,
    .xDeviceCharacteristics = wb_device,
    .xShmMap = wb_shm_map,
    .xShmLock = wb_shm_lock,
    .xShmBarrier = wb_shm_barrier,
    .xShmUnmap = wb_shm_unmap,
    .xFetch = wb_fetch,
    .xUnfetch = wb_unfetch,
};

static int wb_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *pf, int flags, int *out_flags) {
  (void)vfs;
  wb_file *f = (wb_file *)pf;
  memset(f, 0, sizeof *f);
  f->real = (sqlite3_file *)(f + 1);
  f->wal = (flags & SQLITE_OPEN_WAL) != 0;
  f->commit_page_at = -1;
  int rc = real_vfs->xOpen(real_vfs, name, f->real, flags, out_flags);
  if (rc != SQLITE_OK || !f->real->pMethods) return rc; /* SQLite calls no method of a failed open */
  if (f->real->pMethods->iVersion < 3) { /* not the unix VFS: refused, closed again */
    f->real->pMethods->xClose(f->real);
    return SQLITE_CANTOPEN;
  }
  f->base.pMethods = &wb_methods;
  return SQLITE_OK;
}

static int wb_delete(sqlite3_vfs *v, const char *p, int dir_sync) {
  (void)v;
  return real_vfs->xDelete(real_vfs, p, dir_sync);
}
static int wb_access(sqlite3_vfs *v, const char *p, int flags, int *out) {
  (void)v;
  return real_vfs->xAccess(real_vfs, p, flags, out);
}
static int wb_full_pathname(sqlite3_vfs *v, const char *p, int n, char *out) {
  (void)v;
  return real_vfs->xFullPathname(real_vfs, p, n, out);
}
static void *wb_dlopen(sqlite3_vfs *v, const char *p) {
  (void)v;
  return real_vfs->xDlOpen(real_vfs, p);
}
static void wb_dlerror(sqlite3_vfs *v, int n, char *out) {
  (void)v;
  real_vfs->xDlError(real_vfs, n, out);
}
static void (*wb_dlsym(sqlite3_vfs *v, void *h, const char *s))(void) {
  (void)v;
  return real_vfs->xDlSym(real_vfs, h, s);
}
static void wb_dlclose(sqlite3_vfs *v, void *h) {
  (void)v;
  real_vfs->xDlClose(real_vfs, h);
}
static int wb_randomness(sqlite3_vfs *v, int n, char *out) {
  (void)v;
  return real_vfs->xRandomness(real_vfs, n, out);
}
static int wb_sleep(sqlite3_vfs *v, int us) {
  (void)v;
  return real_vfs->xSleep(real_vfs, us);
}
static int wb_current_time(sqlite3_vfs *v, double *out) {
  (void)v;
  return real_vfs->xCurrentTime(real_vfs, out);
}
static int wb_last_error(sqlite3_vfs *v, int n, char *out) {
  (void)v;
  return real_vfs->xGetLastError(real_vfs, n, out);
}
static int wb_current_time64(sqlite3_vfs *v, sqlite3_int64 *out) {
  (void)v;
  return real_vfs->xCurrentTimeInt64(real_vfs, out);
}

static void register_vfs(void) {
  real_vfs = sqlite3_vfs_find(NULL);
  /* Version 2 is what the wrapper forwards (xCurrentTimeInt64); the
   * system-call overrides of version 3 are the wrapped VFS's own. */
  if (!real_vfs || real_vfs->iVersion < 2) return;
  wb_vfs = (sqlite3_vfs){
      .iVersion = 2,
      .szOsFile = (int)sizeof(wb_file) + real_vfs->szOsFile,
      .mxPathname = real_vfs->mxPathname,
      .zName = HL_SQLITE_WALBUF_VFS,
      .xOpen = wb_open,
      .xDelete = wb_delete,
      .xAccess = wb_access,
      .xFullPathname = wb_full_pathname,
      .xDlOpen = wb_dlopen,
      .xDlError = wb_dlerror,
      .xDlSym = wb_dlsym,
      .xDlClose = wb_dlclose,
      .xRandomness = wb_randomness,
      .xSleep = wb_sleep,
      .xCurrentTime = wb_current_time,
      .xGetLastError = wb_last_error,
      .xCurrentTimeInt64 = wb_current_time64,
  };
  if (sqlite3_vfs_register(&wb_vfs, 0) == SQLITE_OK) vfs_name = HL_SQLITE_WALBUF_VFS;
}

const char *hl_sqlite_walbuf_vfs(void) {
  pthread_once(&register_once, register_vfs);
  return vfs_name;
}

hl_sqlite_walbuf_stats hl_sqlite_walbuf_stats_get(void) {
  return (hl_sqlite_walbuf_stats){
      .writes_in = atomic_load_explicit(&n_in, memory_order_relaxed),
      .writes_out = atomic_load_explicit(&n_out, memory_order_relaxed),
      .commits = atomic_load_explicit(&n_commits, memory_order_relaxed),
  };
}

void hl_sqlite_walbuf_render_metrics(hl_buf *out) {
  hl_sqlite_walbuf_stats st = hl_sqlite_walbuf_stats_get();
  hl_buf_printf(out,
                "# HELP hookloop_sqlite_wal_writes_total Writes to the SQLite store's WAL: those SQLite made (by=sqlite) "
                "and the writes to the file they were gathered into (by=file).\n"
                "# TYPE hookloop_sqlite_wal_writes_total counter\n"
                "hookloop_sqlite_wal_writes_total{by=\"sqlite\"} %llu\n"
                "hookloop_sqlite_wal_writes_total{by=\"file\"} %llu\n",
                (unsigned long long)st.writes_in, (unsigned long long)st.writes_out);
}
