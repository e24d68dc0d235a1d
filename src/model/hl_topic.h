/* hl_topic.h — the Kafka topics hookloop names, and Kafka's rule for a
 * topic's name: 1 to 249 of the characters [A-Za-z0-9._-], and neither "."
 * nor "..". hookloop composes topic names from its settings (the prefixes)
 * and from what is registered (domain, event type, version, partner). Each
 * composed name is checked where it is made, so that a name Kafka would
 * refuse is refused at registration, with the field to shorten, and not at
 * the first record produced to it. The answers name the topics on every
 * queue, so the rule holds on every queue. */
#ifndef HL_TOPIC_H
#define HL_TOPIC_H

#include "common/hl_buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HL_TOPIC_MAX 249
/* A prefix leaves room for what follows it: a retry tier's
 * "<prefix>.processor.86400000ms" is the longest fixed suffix (21). */
#define HL_TOPIC_PREFIX_MAX 200

/* A character Kafka takes in a topic's name: letters, digits, '.', '_', '-'. */
bool hl_topic_char(char c);

/* Kafka's rule, for s's n bytes. */
bool hl_topic_name_ok(const char *s, size_t n);

/* "<prefix>.<domain>.<event_type>.v<version>", the schema's ingress topic,
 * into out (emptied first); returns its length. */
size_t hl_topic_ingress(hl_buf *out, const char *prefix, const char *domain, const char *event_type,
                        int64_t version);

/* "<prefix>.<partner_id>.<event_type>", the subscription's egress topic. */
size_t hl_topic_egress(hl_buf *out, const char *prefix, const char *partner_id, const char *event_type);

#endif
