/* hl_sub_order.h — a subscription's delivery order: "ordering": "none"
 * (the default: deliveries go out concurrently, up to max_in_flight, and a
 * retry does not hold anything back) or "fifo" (one in flight, in the
 * order hookloop accepted the events; a retrying head holds its followers
 * back; "skip_after": N dead-letters the head after N attempts so the next
 * can go). Kept in hl_sub_rec.ordering / skip_after. In Kafka mode the
 * order is the egress partition's (the record key: hl_pipeline.c). */
#ifndef HL_SUB_ORDER_H
#define HL_SUB_ORDER_H

#include <stdbool.h>

#include "store/hl_store.h"

#define HL_SUB_ORDER_FIFO "fifo"

bool hl_sub_rec_fifo(const hl_sub_rec *r);

#endif
