#include "loop/hl_log_uv.h"

#include "common/hl_log.h"

static void on_prepare(uv_prepare_t *p) {
  (void)p;
  hl_log_flush();
}

void hl_log_uv_start(hl_log_uv *l, uv_loop_t *loop) {
  uv_prepare_init(loop, &l->prepare);
  uv_prepare_start(&l->prepare, on_prepare);
  uv_unref((uv_handle_t *)&l->prepare);
  hl_log_batch_begin();
  l->started = 1;
}

void hl_log_uv_close(hl_log_uv *l) {
  if (!l->started) return;
  l->started = 0;
  hl_log_batch_end();
  uv_close((uv_handle_t *)&l->prepare, NULL);
}
