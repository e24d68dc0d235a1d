/* hl_ddb_park.h — parked retries on DynamoDB: the retries of a Lambda
 * deployment that are not due within an invocation wait here, indexed by
 * due time, until a scheduled drain takes them (see hl_store.h, park_*).
 *
 * Layout. Items are spread over PARK_SHARDS partition keys ("shard", by a
 * hash of the delivery) so that no one partition takes every write; the
 * sort key "due_key" is the due time (zero-padded) then the delivery, so
 * one Query per shard finds what is due. A drain holds what it took with a
 * lease (lease_until, ms) that a conditional update sets; one that dies
 * lets the items go when the lease ends.
 *
 * Large bodies. A DynamoDB item holds at most 400 KB, and an accepted event
 * may be larger (a Kafka record up to 1 MB). Such a body is kept in parts of
 * at most HL_DDB_PARK_PART_MAX bytes, cut on UTF-8 character boundaries (a
 * string attribute must be valid UTF-8), each its own item under a part
 * shard that the due Query never reads. The parts are written before the
 * head item that names their count, and deleted after it, so a drain never
 * finds a head whose parts are missing.
 */
#ifndef HL_DDB_PARK_H
#define HL_DDB_PARK_H

#include "store/hl_ddb_client.h"
#include "store/hl_store.h"

/* Bodies up to this size are kept in the head item itself. */
#define HL_DDB_PARK_PART_MAX (300u * 1024u)

typedef struct {
  hl_ddb_client *client; /* borrowed: the store's */
  const char *table;     /* borrowed: the parked table's name */
  int page_limit;        /* Query page size (0: DynamoDB's) */
  /* Every call holds its owner while it runs (hold on start, release once
   * its callback ran), so that the store closes only when all are done. */
  void (*hold)(void *owner);
  void (*release)(void *owner);
  void *owner;
} hl_ddb_park;

/* The store's park_put, park_take and park_delete (see hl_store.h). Each
 * cb runs once, on the loop, never from inside the call. */
void hl_ddb_park_put(hl_ddb_park *p, const hl_eq_item *it, hl_store_cb cb, void *data);
void hl_ddb_park_take(hl_ddb_park *p, int64_t due_by, int64_t now_ms, int64_t lease_until, size_t limit,
                      hl_store_cb cb, void *data);
void hl_ddb_park_delete(hl_ddb_park *p, const hl_eq_item *it, hl_store_cb cb, void *data);

/* Where the k-th part of a body of len bytes ends: parts are at most
 * HL_DDB_PARK_PART_MAX bytes and never split a UTF-8 sequence. Returns the
 * number of parts (0 when the body fits in the head item) and, when ends
 * is not NULL, writes each part's end offset (at most max_ends). */
size_t hl_ddb_park_split(const char *body, size_t len, size_t *ends, size_t max_ends);

#endif
