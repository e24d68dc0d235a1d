/* hl_queue_ddb_fresh.c — the rows this process has just accepted, offered
 * to its next claim by their keys.
 *
 * A claim finds due rows through the table's global secondary index, and
 * DynamoDB updates such an index after the write that changed the table,
 * usually within a second. A claim made at once after an accept (the
 * dispatcher is told of the row as the accept ends) could find nothing:
 * `serve` found the row at its next poll, but a Lambda invocation, which
 * has no poll, ended, and the delivery waited for the next invocation or the
 * scheduled drain. The keys of the rows an accept wrote are known here, and
 * a lease is a conditional UpdateItem on the table itself, which is always
 * up to date: the claim adds them to what the index gave. Another process
 * that claimed one first keeps it (the lease's condition fails, as for any
 * row taken by someone else). */
#include "queue/hl_queue_ddb_int.h"

#include "common/hl_common.h"

/* At most this many rows a subscription: past it, the index finds them. */
#define FRESH_MAX 1024

typedef struct {
  candidate *c;
  size_t n, cap;
} fresh_list;

/* The subscription's list, made when it has none. */
static fresh_list *list_of(ddbq *q, const char *sub_id) {
  fresh_list *l = hl_strmap_get(&q->fresh, sub_id);
  if (!l) {
    l = hl_calloc(1, sizeof *l);
    hl_strmap_put(&q->fresh, sub_id, l);
  }
  return l;
}

static void list_push(fresh_list *l, candidate c) {
  if (l->n == l->cap) {
    l->cap = l->cap ? l->cap * 2 : 8;
    l->c = hl_realloc(l->c, l->cap * sizeof *l->c);
  }
  l->c[l->n++] = c;
}

void hl_qddb_fresh_add(ddbq *q, const char *event_id, const char *sub_id, const char *due_key) {
  fresh_list *l = list_of(q, sub_id);
  if (l->n < FRESH_MAX) list_push(l, (candidate){hl_strdup(event_id), hl_strdup(sub_id), hl_strdup(due_key), true});
}

void hl_qddb_fresh_take(ddbq *q, const char *sub_id, candidate **arr, size_t *n, size_t *cap) {
  fresh_list *l = hl_strmap_del(&q->fresh, sub_id);
  if (!l) return;
  for (size_t i = 0; i < l->n; i++) {
    if (*n == *cap) {
      *cap = *cap ? *cap * 2 : 16;
      *arr = hl_realloc(*arr, *cap * sizeof **arr);
    }
    (*arr)[(*n)++] = l->c[i];
  }
  hl_free(l->c);
  hl_free(l);
}

void hl_qddb_fresh_return(ddbq *q, candidate *c) {
  fresh_list *l = list_of(q, c->sub_id);
  if (l->n < FRESH_MAX) list_push(l, *c);
  else hl_free_all(c->event_id, c->sub_id, c->due_key);
  *c = (candidate){0};
}

static void list_free(fresh_list *l) {
  for (size_t i = 0; i < l->n; i++) hl_free_all(l->c[i].event_id, l->c[i].sub_id, l->c[i].due_key);
  hl_free(l->c);
  hl_free(l);
}

void hl_qddb_fresh_forget(ddbq *q, const char *sub_id) {
  fresh_list *l = hl_strmap_del(&q->fresh, sub_id);
  if (l) list_free(l);
}

void hl_qddb_fresh_dispose(ddbq *q) {
  const char *k;
  void *v;
  for (size_t i = 0; hl_strmap_next(&q->fresh, &i, &k, &v);) list_free(v);
  hl_strmap_dispose(&q->fresh);
}
