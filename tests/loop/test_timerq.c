#include "hl_test.h"
#include "common/hl_common.h"
#include "loop/hl_timerq.h"

#include <stdlib.h>

typedef struct {
  hl_timerq_node node;
  int id;
  uint64_t delay;
} item;

static int order[200];
static int nfired;
static uv_loop_t *g_loop;
static uint64_t start;

static void fired(hl_timerq_node *n) {
  item *it = hl_container_of(n, item, node);
  HL_ASSERT(uv_now(g_loop) >= start + it->delay);
  order[nfired++] = it->id;
}

static void closed(void *d) { *(int *)d = 1; }

HL_TEST(fires_in_due_order_and_honours_removal) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  g_loop = &loop;
  hl_timerq q;
  hl_timerq_init(&q, &loop);
  item items[100];
  srand(7);
  uv_update_time(&loop);
  start = uv_now(&loop);
  for (int i = 0; i < 100; i++) {
    items[i] = (item){.id = i, .delay = (uint64_t)(rand() % 50)};
    hl_timerq_add(&q, &items[i].node, items[i].delay, fired);
  }
  /* Remove every third and reschedule every fifth later. */
  for (int i = 0; i < 100; i += 3) hl_timerq_remove(&q, &items[i].node);
  for (int i = 1; i < 100; i += 5) {
    if (i % 3 == 0) continue; /* removed ones stay removed */
    items[i].delay = 60 + (uint64_t)i;
    hl_timerq_add(&q, &items[i].node, items[i].delay, fired);
  }
  HL_ASSERT(!hl_timerq_pending(&items[0].node));
  uv_run(&loop, UV_RUN_DEFAULT);
  int expected = 0;
  for (int i = 0; i < 100; i++) expected += i % 3 != 0;
  HL_ASSERT_EQ_INT(nfired, expected);
  for (int i = 1; i < nfired; i++) {
    item *a = &items[order[i - 1]], *b = &items[order[i]];
    HL_ASSERT_MSG(a->delay <= b->delay, "fired %d (delay %d) before %d (delay %d)", a->id, (int)a->delay,
                  b->id, (int)b->delay);
  }
  HL_ASSERT_EQ_INT(hl_timerq_size(&q), 0);
  int done = 0;
  hl_timerq_close(&q, closed, &done);
  uv_run(&loop, UV_RUN_DEFAULT);
  HL_ASSERT(done);
  HL_ASSERT_EQ_INT(uv_loop_close(&loop), 0);
}
