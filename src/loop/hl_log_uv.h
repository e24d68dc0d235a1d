/* hl_log_uv.h — flushes batched log lines (common/hl_log) once per loop turn.
 *
 * A uv_prepare handle runs right before the loop waits for I/O, that is when
 * the turn's work is done: the lines that work wrote go out in one write()
 * instead of one each. The handle is unreferenced, so it never keeps a loop
 * alive, and it must be closed (hl_log_uv_close) before uv_loop_close.
 *
 * Ownership: the caller owns the hl_log_uv storage; it must stay valid until
 * the loop has run the close (the next uv_run after hl_log_uv_close). */
#ifndef HL_LOG_UV_H
#define HL_LOG_UV_H

#include <uv.h>

typedef struct {
  uv_prepare_t prepare;
  int started;
} hl_log_uv;

/* Starts batching the calling thread's log lines, flushed on `loop`. */
void hl_log_uv_start(hl_log_uv *l, uv_loop_t *loop);
/* Flushes, ends batching and closes the handle. Safe if never started. */
void hl_log_uv_close(hl_log_uv *l);

#endif
