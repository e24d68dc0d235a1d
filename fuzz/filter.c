/* fuzz_filter: the subscription filter compiler and matcher
 * (src/model/hl_filter).
 *
 * Input: a filter document, a line "---", an event (fuzz_util.h); without
 * the separator the filter is matched against itself. Properties: compiling
 * any document never crashes or leaks; a refused filter says where
 * ("<pointer>: <problem>"); matching any event never crashes and gives the
 * same answer twice, and the same with a memo (hl_filter_memo) shared by
 * two matches as alone; an empty filter matches everything; a filter of one
 * plain value matches exactly when the event holds an equal value there. */
#include "fuzz_util.h"
#include "model/hl_filter.h"
#include "json/hl_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_pair p;
  fuzz_pair_parse(&p, data, size);
  if (p.first) {
    const hl_json *event = p.second;
    hl_filter *f = NULL;
    hl_buf err = HL_BUF_INIT;
    int rc = hl_filter_compile(p.first, &f, &err);
    if (rc == 0) {
      FUZZ_CHECK(f != NULL);
      bool m = hl_filter_match(f, event);
      FUZZ_CHECK(hl_filter_match(f, event) == m);
      hl_filter_memo memo;
      hl_filter_memo_init(&memo, event);
      FUZZ_CHECK(hl_filter_match_memo(f, &memo) == m);
      FUZZ_CHECK(hl_filter_match_memo(f, &memo) == m);
      hl_filter_memo_dispose(&memo);
      const hl_json *r = p.first;
      if (r->type == HL_JSON_NULL || (r->type == HL_JSON_OBJECT && r->len == 0)) FUZZ_CHECK(m);
      if (r->type == HL_JSON_OBJECT && r->len == 1) {
        const hl_json_member *c = &r->u.members[0];
        bool is_ops = c->value.type == HL_JSON_OBJECT && c->value.len > 0 && c->value.u.members[0].key[0] == '$';
        if (!is_ops) {
          const hl_json *t = hl_json_pointer(event, c->key, c->key_len);
          FUZZ_CHECK(m == (t != NULL && hl_json_equal(t, &c->value)));
        }
      }
      hl_filter_free(f);
    } else {
      FUZZ_CHECK(f == NULL && err.len > 0);
    }
    hl_buf_dispose(&err);
  }
  fuzz_pair_dispose(&p);
  return 0;
}
