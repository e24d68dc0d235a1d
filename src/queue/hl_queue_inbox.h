/* hl_queue_inbox.h — the inbox as a delivery queue (issue 18,
 * docs/inbox.md): the third implementation of hl_queue.h, beside the
 * embedded queue and Kafka.
 *
 * A push queue. The inbox source (handlers/hl_inbox) reads pages of
 * pending events with the inbox client and hands each event to the
 * dispatcher (hl_dispatch_submit, the token is the source's); this queue
 * is where the outcomes go. The inbox keeps every event pending until it
 * is acknowledged, so the only durable step is the ack:
 *   DELIVERED / DUPLICATE  POST {ack path}; recorded once the inbox
 *                          answers 2xx (the client retries a failed ack);
 *                          an ack that still fails leaves the event pending
 *                          (the next pass may deliver it again, with the
 *                          same webhook-id).
 *   RETRY                  nothing to write: the retry waits in the
 *                          dispatcher's memory (owns_retries is false) and
 *                          the event stays pending in the inbox.
 *   FAILED                 left pending for review: logged with its id.
 * Record callbacks never run inside record (the dispatcher may be inside a
 * send that answered at once).
 *
 * Ownership: the client is borrowed and must outlive the queue; the queue
 * copies what it keeps of an attempt.
 */
#ifndef HL_QUEUE_INBOX_H
#define HL_QUEUE_INBOX_H

#include <uv.h>

#include "loop/hl_inbox_client.h"
#include "queue/hl_queue.h"

typedef struct {
  uv_loop_t *loop;
  hl_inbox_client *client;    /* borrowed; may be replaced between passes (hl_queue_inbox_set_client) */
  /* An ack ended (r->status 0: acknowledged). */
  void (*on_ack)(void *data, const char *event_id, const hl_inbox_result *r);
  /* A handed-in delivery left memory (hl_queue_vt.finished). */
  void (*finished)(void *data, void *token, hl_sub *sub, bool recorded);
  void *data;
} hl_queue_inbox_options;

hl_queue *hl_queue_inbox_create(const hl_queue_inbox_options *opt);
/* The client acks go through from now on (a secret that changed gives a new one). */
void hl_queue_inbox_set_client(hl_queue *q, hl_inbox_client *client);
/* Acks and deferred callbacks still to come. */
size_t hl_queue_inbox_pending(const hl_queue *q);

#endif
