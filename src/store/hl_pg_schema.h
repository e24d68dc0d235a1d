/* hl_pg_schema.h — the PostgreSQL store's tables and indexes, as numbered
 * migrations (HL_STORE_PG_SCHEMA_VERSION in hl_store_pg.h).
 *
 * Migration n is one DO block that runs its statements only when version n
 * is not recorded in hookloop_schema_version yet, then records it: applying
 * it again changes nothing, and a later version adds a step, never edits
 * one. The store sends every step at open, in one transaction under an
 * advisory lock (hl_store_pg.c, start_migrations), so concurrent starts of
 * several processes take turns; `hookloop tables create` does the same.
 * Text only here: nothing is sent.
 */
#ifndef HL_PG_SCHEMA_H
#define HL_PG_SCHEMA_H

#include "common/hl_buf.h"
#include "store/hl_store.h"

/* The statuses of a delivery still to send, as SQL: the partial indexes of
 * open rows and the statements that must use them say the same. */
#define HL_PG_OPEN "('PENDING','RETRYING')"

/* Appends migration n (1 .. HL_STORE_PG_SCHEMA_VERSION) as its DO block,
 * with the tables' names of t. */
void hl_pg_schema_step(const hl_table_names *t, int n, hl_buf *b);

#endif
