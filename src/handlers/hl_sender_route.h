/* hl_sender_route.h — one sender for the dispatcher that hands each attempt
 * to the sender of its subscription's destination: HTTP subscriptions (a
 * url) to the webhook sender, the others (a destination: SNS, SQS,
 * EventBridge) to the AWS sender. The dispatcher stays unaware of
 * destination types.
 *
 * Ownership: takes both senders and closes them with itself. */
#ifndef HL_SENDER_ROUTE_H
#define HL_SENDER_ROUTE_H

#include "handlers/hl_sender.h"

hl_sender *hl_sender_route_create(hl_sender *http, hl_sender *aws);

#endif
