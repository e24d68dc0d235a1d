/* hl_store_ddb.h — the DynamoDB store: the tables of docs/interface.md §6 in
 * DynamoDB, spoken to over the loop's curl multi handle (hl_ddb_client).
 *
 * Items: every attribute of §6 under its contract name; numbers as N
 * (decimal text, never a double); absent optional fields are left out, not
 * stored as NULL. The idempotency ledger's expires_at is epoch seconds, the
 * unit DynamoDB TTL reads; an expired entry counts as absent even before
 * TTL has removed it (TTL may lag by days).
 *
 * Writes that need no condition — delivery status and ledger overwrites —
 * are gathered per loop turn and sent as BatchWriteItem calls of up to 25.
 * Order per key is kept: a write for a key whose earlier write is still in
 * flight waits for it (BatchWriteItem gives no order inside one call and
 * refuses two writes to one key). A later write for a key still waiting
 * replaces the earlier one; both callbacks run when it lands.
 *
 * No DynamoDB table is a queue: in Kafka mode Kafka is; with the embedded
 * queue, an SQLite store (`queue`, owned from then on) keeps the accepted
 * bodies and delivery rows, and every status it records is written to
 * DynamoDB too, so event_delivery_status in DynamoDB is the one to read.
 */
#ifndef HL_STORE_DDB_H
#define HL_STORE_DDB_H

#include <uv.h>

#include "aws/hl_aws_creds.h"
#include "loop/hl_curl_uv.h"
#include "store/hl_ddb_client.h"
#include "store/hl_store.h"

typedef struct {
  hl_ddb_opts client;     /* endpoint and region are required */
  hl_aws_creds_env creds;
  hl_table_names tables;  /* NULL members: the defaults */
  int page_limit;         /* items per Scan/Query page; 0: the server's (1 MB) */
  int64_t events_ttl_s;   /* events table records expire this long after acceptance; 0: kept */
  /* Retention (docs/retention.md): a SUCCESS delivery's item expires this
   * long after its last change, a FAILED one's after failed_ttl_s, an
   * attempt's failed_ttl_s after the attempt (the longer: an attempt does
   * not know how its delivery ends); 0: kept. */
  int64_t delivered_ttl_s, failed_ttl_s;
} hl_ddb_config;

/* The delivery status table's index of one subscription's deliveries by
 * update time (delivery_search; `hookloop tables create` and the SAM
 * template make it; an older table needs it added with UpdateTable). */
#define HL_DDB_DELIVERY_SUB_INDEX "by_subscription"

/* An event record is one item: at most 400 KB, attribute names and the
 * projected attributes included (hl_store_vtable.event_size). */
#define HL_DDB_ITEM_MAX (400u * 1024u)

/* Events table (EVENTS_TABLE, key event_id): every accepted event's record,
 * written before it is queued — event_id, event_type, accepted_at (ms),
 * body (the exact bytes), trace, expires_at (epoch s, with
 * EVENTS_TTL_DAYS) and the attributes the schema's x-project declares
 * (model/hl_project.h), an N with its decimal text as sent. */

/* Opens the store (no request is made yet). queue: an embedded-queue store
 * to delegate eq_* to, or NULL (then eq_* are NULL, as Kafka mode expects).
 * Returns 0 or HL_EINVAL with a message in err; queue is closed on error. */
int hl_store_ddb_open(uv_loop_t *loop, hl_curl_uv *curl, const hl_ddb_config *cfg, hl_store *queue,
                      hl_store **out, char *err, size_t errlen);
/* The client underneath (tables create, tests). */
hl_ddb_client *hl_store_ddb_client(hl_store *s);
const hl_table_names *hl_store_ddb_tables(hl_store *s);
/* The status row of a delivery just queued (PENDING), put only while the
 * table has none for it: one conditional PutItem, not batched. The row may
 * have been claimed, delivered and its outcome written before its accept
 * ended (the accept waited for another of its rows); a PENDING put over it
 * read PENDING for good. cb gets 0, or an error (HL_ESTORE; a status row
 * already there among them). */
void hl_store_ddb_delivery_put_new(hl_store *s, const hl_delivery_rec *r, hl_store_cb cb, void *data);

/* `hookloop tables create`: CreateTable for each table of §6 (on-demand
 * billing), waits until each is ACTIVE, then enables TTL on the ledger's
 * expires_at. An existing table is fine; a server without UpdateTimeToLive
 * (dynalite) gives a warning. done gets 0 or a negative hl_err; report
 * holds one human line per table. */
void hl_ddb_tables_create(hl_store *s, void (*done)(void *data, int status, const char *report), void *data);

#endif
