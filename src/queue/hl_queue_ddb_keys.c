/* hl_queue_ddb_keys.c — where the DynamoDB queue's items live (the layout
 * in hl_queue_ddb.h): a subscription's due partitions, a row's partition
 * among them, and a fifo subscription's order partition, its entries'
 * sort keys and the write of an entry. Every part of the queue that
 * names an item takes its key from here. */
#include "queue/hl_queue_ddb_int.h"

#include <stdio.h>

#include "common/hl_common.h"
#include "common/hl_hash.h"

static unsigned shard_of(const char *event_id, const char *sub_id) {
  return hl_fnv1a(hl_fnv1a(hl_fnv1a(HL_FNV1A_INIT, event_id), "#"), sub_id) % HL_QUEUE_DDB_SHARDS;
}

/* A bucket of its id past the earlier versions' 0..7 (hl_queue_ddb.h). */
uint64_t hl_qddb_sub_partitions(const char *sub_id) {
  uint32_t h = hl_fnv1a(HL_FNV1A_INIT, sub_id);
  return HL_QUEUE_DDB_SHARDS + (uint64_t)(h % HL_QUEUE_DDB_SUB_BUCKETS) * HL_QUEUE_DDB_SHARDS;
}

const char *hl_queue_ddb_due_shard(char out[24], const char *event_id, const char *sub_id) {
  snprintf(out, 24, "%llu", (unsigned long long)(hl_qddb_sub_partitions(sub_id) + shard_of(event_id, sub_id)));
  return out;
}

void hl_qddb_order_pk(hl_buf *out, const char *sub_id) { hl_buf_printf(out, "#fifo#%s", sub_id); }

void hl_qddb_order_sk(hl_buf *out, int64_t seq, const char *event_id) {
  hl_buf_printf(out, "%015lld#%s", (long long)seq, event_id);
}

/* A new version (at) each time: a claimer that read an older one does not
 * delete the entry. */
void hl_qddb_put_entry(ddbq *q, const char *sub_id, const char *sk, const char *event_id, hl_aws_json_cb cb,
                       void *data) {
  hl_buf pk = HL_BUF_INIT, at = HL_BUF_INIT;
  hl_qddb_order_pk(&pk, sub_id);
  int64_t now = hl_wall_ms();
  static uint64_t version;
  hl_buf_printf(&at, "%lld#%s#%llu", (long long)now, q->owner, (unsigned long long)++version);
  char wr[24];
  hl_ddb_attr it[] = {{"event_id", hl_ddb_s(pk.data)}, {"subscription_id", hl_ddb_s(sk)},
                      {"ev", hl_ddb_s(event_id)}, {"at", hl_ddb_s(at.data)},
                      {"written_at", hl_ddb_n(hl_ddb_i64(wr, now))}};
  hl_buf body = HL_BUF_INIT;
  hl_ddb_put_item(&body, q->table, HL_DDB_ITEM(it), NULL);
  hl_qddb_call(q, HL_DDB_PUT_ITEM, &body, cb, data);
  hl_buf_dispose(&pk);
  hl_buf_dispose(&at);
}
