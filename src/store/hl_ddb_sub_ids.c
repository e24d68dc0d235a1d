/* hl_ddb_sub_ids.c — see hl_ddb_sub_ids.h. */
#include "store/hl_ddb_sub_ids.h"

#include <stdio.h>

#include "common/hl_common.h"
#include "store/hl_ddb_wire.h"

static void scan_page(hl_ddb_sub_ids *s, const hl_json *start);

static void on_page(void *data, const hl_aws_status *st, const hl_json *resp) {
  hl_ddb_sub_ids *s = data;
  s->pages++;
  if (st->outcome != HL_AWS_OK) {
    s->cb(s->data, st, false);
    return;
  }
  const hl_json *items = hl_json_get(resp, "Items");
  for (uint32_t i = 0; items && items->type == HL_JSON_ARRAY && i < items->len; i++) {
    size_t len = 0;
    const char *id = hl_ddb_item_s(&items->u.items[i], "subscription_id", &len);
    if (!id) continue;
    char *key = hl_strndup(id, len);
    void *v = hl_strmap_get(s->ids, key);
    if (v && v != s->seen) {
      hl_strmap_put(s->ids, key, s->seen);
      s->unseen--;
    }
    hl_free(key);
  }
  const hl_json *last = hl_json_get(resp, "LastEvaluatedKey");
  bool more = last && last->type == HL_JSON_OBJECT && last->len > 0;
  if (s->unseen > 0 && more && (s->max_pages <= 0 || s->pages < s->max_pages)) {
    scan_page(s, last);
    return;
  }
  s->cb(s->data, st, s->unseen == 0 || !more);
}

static void scan_page(hl_ddb_sub_ids *s, const hl_json *start) {
  hl_buf body = HL_BUF_INIT;
  if (hl_ddb_scan_projected(&body, s->table, true, s->page_limit, start, "subscription_id") != 0) {
    /* A table name the request refuses (the store checked it at open). */
    hl_buf_dispose(&body);
    hl_aws_status st = {.outcome = HL_AWS_VALIDATION, .verdict = HL_AWS_VERDICT_FAIL};
    snprintf(st.message, sizeof st.message, "the Scan request could not be built");
    s->cb(s->data, &st, false);
    return;
  }
  hl_ddb_call(s->client, HL_DDB_SCAN, &body, on_page, s);
}

void hl_ddb_sub_ids_start(hl_ddb_sub_ids *s) {
  s->unseen = 0;
  s->pages = 0;
  const char *k;
  void *v;
  for (size_t it = 0; hl_strmap_next(s->ids, &it, &k, &v);)
    if (v != s->seen) s->unseen++;
  scan_page(s, NULL);
}
