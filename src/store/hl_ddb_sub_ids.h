/* hl_ddb_sub_ids.h — which of some subscription ids the DynamoDB
 * subscription table holds. The table is keyed by partner and event type,
 * so no item can be read by its id: a consistent Scan of its
 * subscription_id (a small table), a page at a time, that stops as soon as
 * every id asked about was seen. Retention's sweep over the SQLite queue
 * (hl_ddb_sweep.c) and the DynamoDB queue's look at the earlier versions'
 * partitions (queue/hl_queue_ddb_legacy.c) both take a subscription for
 * deleted only from such a read, complete and successful.
 */
#ifndef HL_DDB_SUB_IDS_H
#define HL_DDB_SUB_IDS_H

#include <stdbool.h>

#include "common/hl_strmap.h"
#include "store/hl_ddb_client.h"

/* The read ended: st is its last page's (a failure: st->outcome is not
 * HL_AWS_OK). complete: every id asked about was seen, or the table was
 * read to its end; not when a page failed or max_pages were read. */
typedef void (*hl_ddb_sub_ids_cb)(void *data, const hl_aws_status *st, bool complete);

typedef struct {
  /* Set by the caller. */
  hl_ddb_client *client; /* borrowed */
  const char *table;     /* borrowed: the subscription table's name */
  int page_limit;        /* a Scan page's items (0: DynamoDB's) */
  int max_pages;         /* pages read at most (0: no bound) */
  /* The ids asked about (borrowed): each whose value is not `seen` is
   * asked about, and its value becomes `seen` when the table holds it. */
  hl_strmap *ids;
  void *seen;
  hl_ddb_sub_ids_cb cb;
  void *data;
  /* The read's own. */
  size_t unseen;
  int pages;
} hl_ddb_sub_ids;

/* Starts the read (at least one id asked about). cb runs once: on a later
 * turn of the loop, or from inside this call when the request cannot be
 * built (a table name the store refused already at open). */
void hl_ddb_sub_ids_start(hl_ddb_sub_ids *s);

#endif
