/* hl_queue_embedded.h — the embedded queue: the store's eq_* tables (SQLite),
 * a pull queue. Accept and requeue are the store's eq_accept/eq_requeue; a
 * new store backend with a queue of its own implements those and the
 * other eq_* operations, and this file serves it unchanged. */
#ifndef HL_QUEUE_EMBEDDED_H
#define HL_QUEUE_EMBEDDED_H

#include "queue/hl_queue.h"

/* store (borrowed) must have the eq_* operations. */
hl_queue *hl_queue_embedded_create(hl_store *store);

#endif
