/* hl_kafka_find.h — looks up one record on a topic by key and header, for
 * the rare admin operation that needs an old record back (re-queueing a
 * dead-lettered delivery in Kafka mode, where the body lives only on
 * Kafka).
 *
 * librdkafka's metadata, offset-for-time and assign calls block, so the
 * whole lookup runs on the libuv threadpool with a consumer of its own
 * (no group membership, nothing committed); the callback runs on the loop.
 * It reads every partition from the first record at or after from_ms (or
 * from the beginning where the broker cannot look up by time) up to the
 * end, at most max_records records or timeout_ms, whichever ends first.
 */
#ifndef HL_KAFKA_FIND_H
#define HL_KAFKA_FIND_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "loop/hl_kafka.h"

/* The record found; owned by the callee until the callback returns. */
typedef struct {
  const char *topic;
  int32_t partition;
  int64_t offset;
  const void *key;          /* the record's key (key_len bytes; NULL: none) */
  size_t key_len;
  const void *value;
  size_t len;
  const hl_kafka_header *headers;
  size_t nheaders;
} hl_kafka_found;

/* status: 0 (found), HL_ENOTFOUND, HL_ETIMEOUT or HL_EIO (why says what,
 * for the operator). */
typedef void (*hl_kafka_find_cb)(void *data, int status, const char *why, const hl_kafka_found *found);

typedef struct {
  const char *topic;
  int64_t from_ms;          /* record timestamps at or after this */
  const char *key;          /* the record key, exactly ... */
  const char *key_header;   /* ... or, when not NULL, this header with the key as its value (a record keyed
                               by something else that names its key in a header) */
  const char *header;       /* and this header ... */
  const char *header_value; /* ... with this value (NULL: any record with the key) */
  int timeout_ms;           /* 0: 15000 */
  long max_records;         /* 0: 1,000,000 */
} hl_kafka_find_query;

/* cfg: the brokers and security settings (group_id is ignored). Everything
 * is copied. */
void hl_kafka_find(uv_loop_t *loop, const hl_kafka_config *cfg, const hl_kafka_find_query *q, hl_kafka_find_cb cb,
                   void *data);

#endif
