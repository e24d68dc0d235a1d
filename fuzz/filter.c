/* fuzz_filter: the subscription filter compiler and matcher
 * (src/handlers/hl_filter).
 *
 * Input: a filter document, a line "---", an event (fuzz_util.h); without
 * the separator the filter is matched against itself. Properties: compiling
 * any document never crashes or leaks; a refused filter says where
 * ("<pointer>: <problem>"); matching any event never crashes and gives the
 * same answer twice; an empty filter matches everything; a filter of one
 * plain value matches exactly when the event holds an equal value there. */
#include "fuzz_util.h"
#include "handlers/hl_filter.h"
#include "json/hl_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *ft, *et;
  size_t fl, el;
  fuzz_split(data, size, &ft, &fl, &et, &el);
  hl_json_doc fd, ed;
  hl_json_doc_init(&fd);
  hl_json_doc_init(&ed);
  if (hl_json_parse(&fd, ft, fl, NULL) == 0) {
    const hl_json *event = et && hl_json_parse(&ed, et, el, NULL) == 0 ? ed.root : fd.root;
    hl_filter *f = NULL;
    hl_buf err = HL_BUF_INIT;
    int rc = hl_filter_compile(fd.root, &f, &err);
    if (rc == 0) {
      FUZZ_CHECK(f != NULL);
      bool m = hl_filter_match(f, event);
      FUZZ_CHECK(hl_filter_match(f, event) == m);
      const hl_json *r = fd.root;
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
  hl_json_doc_dispose(&fd);
  hl_json_doc_dispose(&ed);
  return 0;
}
