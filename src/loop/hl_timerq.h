/* hl_timerq.h — many timers on one uv_timer_t: a binary min-heap of nodes
 * embedded in their owners (recover the owner with hl_container_of).
 *
 * Used for delivery retries: thousands of pending retries cost one libuv
 * timer. Due nodes fire in due order, at most HL_TIMERQ_FIRE_MAX per loop
 * turn so a burst of due retries cannot starve sockets. A node's callback
 * runs with the node already removed; it may re-add it. */
#ifndef HL_TIMERQ_H
#define HL_TIMERQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define HL_TIMERQ_FIRE_MAX 1024

typedef struct hl_timerq_node hl_timerq_node;
typedef void (*hl_timerq_cb)(hl_timerq_node *n);

struct hl_timerq_node {
  uint64_t due;      /* uv_now() based, ms */
  size_t idx;        /* position in the heap + 1; 0 when not queued */
  uint64_t seq;      /* ties broken by insertion order */
  hl_timerq_cb cb;
};

typedef struct {
  uv_loop_t *loop;
  uv_timer_t timer;
  hl_timerq_node **heap;
  size_t n, cap;
  uint64_t seq;
  void (*close_cb)(void *data);
  void *close_data;
} hl_timerq;

void hl_timerq_init(hl_timerq *q, uv_loop_t *loop);
/* (Re)schedules n to fire after delay_ms. */
void hl_timerq_add(hl_timerq *q, hl_timerq_node *n, uint64_t delay_ms, hl_timerq_cb cb);
/* Unschedules n; nothing happens when it is not queued. */
void hl_timerq_remove(hl_timerq *q, hl_timerq_node *n);
static inline bool hl_timerq_pending(const hl_timerq_node *n) { return n->idx != 0; }
size_t hl_timerq_size(const hl_timerq *q);
/* Frees the heap (queued nodes are dropped without callbacks) and closes the
 * timer; cb runs once closed. */
void hl_timerq_close(hl_timerq *q, void (*cb)(void *data), void *data);

#endif
