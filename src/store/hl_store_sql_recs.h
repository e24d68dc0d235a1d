/* hl_store_sql_recs.h — the typed vtable entries of the records a SQL
 * backend keeps by descriptor (store/hl_store_rec.h): schemas,
 * subscriptions, partners and transformations. Written once for the SQLite
 * and PostgreSQL backends, each of which includes this file (no include
 * guard: one copy a backend) after defining
 *   rec_put(base, query, desc, record, cb, data)
 *   rec_list(base, query, desc, cb, data)
 *   rec_delete(base, query, key1, key2 or NULL, cb, data)
 * and the query ids Q_<KIND>_PUT, Q_<KIND>_LIST and Q_<KIND>_DELETE (and
 * Q_SUB_UPDATE, hl_rec_sql_update). */

static void schema_put(hl_store *base, const hl_schema_rec *r, hl_store_cb cb, void *data) {
  rec_put(base, Q_SCHEMA_PUT, &hl_schema_desc, r, cb, data);
}

static void schema_list(hl_store *b, hl_store_cb cb, void *d) { rec_list(b, Q_SCHEMA_LIST, &hl_schema_desc, cb, d); }

/* A copy read from a stored row (revision > 0) updates that row only: one
 * another process deleted meanwhile stays deleted (HL_ECONFLICT, as for a
 * change), where the upsert's INSERT would have brought it back. */
static void sub_put(hl_store *base, const hl_sub_rec *r, hl_store_cb cb, void *data) {
  rec_put(base, r->revision > 0 ? Q_SUB_UPDATE : Q_SUB_PUT, &hl_sub_desc, r, cb, data);
}

static void sub_list(hl_store *b, hl_store_cb cb, void *d) { rec_list(b, Q_SUB_LIST, &hl_sub_desc, cb, d); }

static void sub_delete(hl_store *base, const char *partner_id, const char *event_type, hl_store_cb cb,
                       void *data) {
  rec_delete(base, Q_SUB_DELETE, partner_id, event_type, cb, data);
}

static void partner_put(hl_store *base, const hl_partner_rec *r, hl_store_cb cb, void *data) {
  rec_put(base, Q_PARTNER_PUT, &hl_partner_desc, r, cb, data);
}

static void partner_list(hl_store *b, hl_store_cb cb, void *d) { rec_list(b, Q_PARTNER_LIST, &hl_partner_desc, cb, d); }

static void partner_delete(hl_store *base, const char *partner_id, hl_store_cb cb, void *data) {
  rec_delete(base, Q_PARTNER_DELETE, partner_id, NULL, cb, data);
}

/* A version is written once (hl_xform_desc is immutable): a second put of
 * it fails with HL_EEXISTS. */
static void xform_put(hl_store *base, const hl_xform_rec *r, hl_store_cb cb, void *data) {
  rec_put(base, Q_XFORM_PUT, &hl_xform_desc, r, cb, data);
}

static void xform_list(hl_store *b, hl_store_cb cb, void *d) { rec_list(b, Q_XFORM_LIST, &hl_xform_desc, cb, d); }
