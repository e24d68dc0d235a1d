#include "loop/hl_timerq.h"
#include "common/hl_common.h"

static bool less(const hl_timerq_node *a, const hl_timerq_node *b) {
  return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static void place(hl_timerq *q, size_t i, hl_timerq_node *n) {
  q->heap[i] = n;
  n->idx = i + 1;
}

static void sift_up(hl_timerq *q, size_t i) {
  hl_timerq_node *n = q->heap[i];
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (!less(n, q->heap[p])) break;
    place(q, i, q->heap[p]);
    i = p;
  }
  place(q, i, n);
}

static void sift_down(hl_timerq *q, size_t i) {
  hl_timerq_node *n = q->heap[i];
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    hl_timerq_node *best = n;
    if (l < q->n && less(q->heap[l], best)) { m = l; best = q->heap[l]; }
    if (r < q->n && less(q->heap[r], best)) { m = r; best = q->heap[r]; }
    if (m == i) break;
    place(q, i, q->heap[m]);
    i = m;
  }
  place(q, i, n);
}

static void on_timer(uv_timer_t *t);

static void rearm(hl_timerq *q) {
  if (q->n == 0) {
    uv_timer_stop(&q->timer);
    return;
  }
  uint64_t now = uv_now(q->loop), due = q->heap[0]->due;
  uv_timer_start(&q->timer, on_timer, due > now ? due - now : 0, 0);
}

static hl_timerq_node *pop(hl_timerq *q) {
  hl_timerq_node *top = q->heap[0];
  top->idx = 0;
  if (--q->n > 0) {
    q->heap[0] = q->heap[q->n];
    sift_down(q, 0);
  }
  return top;
}

static void on_timer(uv_timer_t *t) {
  hl_timerq *q = hl_container_of(t, hl_timerq, timer);
  uint64_t now = uv_now(q->loop);
  for (int fired = 0; q->n > 0 && q->heap[0]->due <= now && fired < HL_TIMERQ_FIRE_MAX; fired++) {
    hl_timerq_node *n = pop(q);
    n->cb(n);
  }
  rearm(q);
}

void hl_timerq_init(hl_timerq *q, uv_loop_t *loop) {
  *q = (hl_timerq){.loop = loop};
  uv_timer_init(loop, &q->timer);
  q->timer.data = q;
}

void hl_timerq_add(hl_timerq *q, hl_timerq_node *n, uint64_t delay_ms, hl_timerq_cb cb) {
  if (n->idx) hl_timerq_remove(q, n);
  n->due = uv_now(q->loop) + delay_ms;
  n->seq = q->seq++;
  n->cb = cb;
  if (q->n == q->cap) {
    q->cap = q->cap ? q->cap * 2 : 64;
    q->heap = hl_realloc(q->heap, q->cap * sizeof *q->heap);
  }
  place(q, q->n++, n);
  sift_up(q, q->n - 1);
  if (q->heap[0] == n) rearm(q);
}

void hl_timerq_remove(hl_timerq *q, hl_timerq_node *n) {
  if (n->idx == 0) return;
  size_t i = n->idx - 1;
  n->idx = 0;
  bool was_top = i == 0;
  if (i != --q->n) {
    place(q, i, q->heap[q->n]);
    sift_down(q, i);
    sift_up(q, q->heap[i]->idx - 1);
  }
  if (was_top) rearm(q);
}

size_t hl_timerq_size(const hl_timerq *q) { return q->n; }

static void on_closed(uv_handle_t *h) {
  hl_timerq *q = h->data;
  if (q->close_cb) q->close_cb(q->close_data);
}

void hl_timerq_close(hl_timerq *q, void (*cb)(void *data), void *data) {
  for (size_t i = 0; i < q->n; i++) q->heap[i]->idx = 0;
  hl_free(q->heap);
  q->heap = NULL;
  q->n = q->cap = 0;
  q->close_cb = cb;
  q->close_data = data;
  uv_close((uv_handle_t *)&q->timer, on_closed);
}
