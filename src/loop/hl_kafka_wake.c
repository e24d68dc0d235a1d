#include "loop/hl_kafka_wake.h"
#include "common/hl_common.h"

void hl_kafka_wake_init(hl_kafka_wake *w, rd_kafka_t *rk) {
  *w = (hl_kafka_wake){.rk = rk};
}

/* On the threadpool: librdkafka's handles may be used from any thread.
 * The offsets themselves are not wanted; the request is the wake. */
static void wake_run(uv_work_t *work) {
  hl_kafka_wake *w = hl_container_of(work, hl_kafka_wake, work);
  int64_t lo, hi;
  (void)rd_kafka_query_watermark_offsets(w->rk, w->topic, w->partition, &lo, &hi, HL_KAFKA_WAKE_TIMEOUT_MS);
}

static void wake_after(uv_work_t *work, int status) {
  hl_kafka_wake *w = hl_container_of(work, hl_kafka_wake, work);
  (void)status;
  hl_free(w->topic);
  w->topic = NULL;
  w->busy = false;
  if (w->cb) w->cb(w->data);
}

bool hl_kafka_wake_start(hl_kafka_wake *w, uv_loop_t *loop, const char *topic, int32_t partition,
                         hl_kafka_wake_cb cb, void *data) {
  if (w->busy || !w->rk) return false;
  w->busy = true;
  w->topic = hl_strdup(topic);
  w->partition = partition;
  w->cb = cb;
  w->data = data;
  w->sent++;
  uv_queue_work(loop, &w->work, wake_run, wake_after); /* fails only without a work callback */
  return true;
}
