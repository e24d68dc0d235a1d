/* fuzz_transform: the transformation compiler and applier
 * (src/transform/hl_transform).
 *
 * Input: a spec, a line "---", an event (fuzz_util.h); without the
 * separator the spec is applied to itself. Subscriptions' and event types'
 * specs come from the admin API and their events from producers, so both
 * halves are any bytes. Properties:
 *   - compiling never crashes or leaks; a refusal is HL_EPARSE (no JSON) or
 *     HL_EINVAL with a message;
 *   - applying is pure: the same answer and the same bytes twice;
 *   - a failure leaves the output buffer as it was and has a message, and
 *     the error codes are the documented three;
 *   - a result is JSON, compact: the empty spec gives it back byte for byte;
 *   - the empty spec gives any event back as its compact source text
 *     (hl_json_write_src);
 *   - apply on a parsed event (apply_json) and apply_chain of the one
 *     program give apply's answer;
 *   - the chain of the program twice gives what applying it to its own
 *     result gives, when both steps succeed (one parse and one write for a
 *     chain must not change what the steps do). */
#include "fuzz_util.h"
#include "common/hl_common.h"
#include "transform/hl_transform.h"

static hl_transform *identity;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  fuzz_quiet();
  static const char empty[] = "{\"version\":1,\"ops\":[]}";
  if (hl_transform_compile(empty, sizeof empty - 1, &identity, NULL) != 0) abort();
  return 0;
}

/* out starts with a marker, so that "left as it was" can be checked. */
#define MARK "<kept>"

static int apply_marked(const hl_transform *t, const char *ev, size_t len, hl_buf *out) {
  hl_buf_init(out);
  hl_buf_puts(out, MARK);
  hl_transform_error err;
  memset(&err, 0, sizeof err);
  int rc = hl_transform_apply(t, ev, len, out, &err);
  FUZZ_CHECK(out->len >= sizeof MARK - 1 && memcmp(out->data, MARK, sizeof MARK - 1) == 0);
  if (rc != 0) {
    FUZZ_CHECK(rc == HL_EPARSE || rc == HL_EINVAL || rc == HL_ETOOBIG);
    FUZZ_CHECK(out->len == sizeof MARK - 1);
    FUZZ_CHECK(err.message[0] != '\0');
    FUZZ_CHECK(memchr(err.path, '\0', sizeof err.path) && memchr(err.message, '\0', sizeof err.message));
  }
  return rc;
}

static bool same(const hl_buf *a, const hl_buf *b) {
  return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *spec, *ev;
  size_t spec_len, ev_len;
  fuzz_split(data, size, &spec, &spec_len, &ev, &ev_len);
  if (!ev) {
    ev = spec;
    ev_len = spec_len;
  }

  /* The empty spec: the event's compact source text, or HL_EPARSE. */
  hl_json_doc evdoc;
  hl_json_doc_init(&evdoc);
  bool ev_json = hl_json_parse(&evdoc, ev, ev_len, NULL) == 0;
  hl_buf id_out;
  int id_rc = apply_marked(identity, ev, ev_len, &id_out);
  if (ev_json) {
    FUZZ_CHECK(id_rc == 0 || id_rc == HL_ETOOBIG);
    if (id_rc == 0) {
      hl_buf src = HL_BUF_INIT;
      hl_buf_puts(&src, MARK);
      hl_json_write_src(&src, evdoc.root);
      FUZZ_CHECK(same(&src, &id_out));
      hl_buf_dispose(&src);
    }
  } else {
    FUZZ_CHECK(id_rc == HL_EPARSE);
  }
  hl_buf_dispose(&id_out);

  hl_transform *t = NULL;
  hl_transform_error cerr;
  memset(&cerr, 0, sizeof cerr);
  int rc = hl_transform_compile(spec, spec_len, &t, &cerr);
  if (rc != 0) {
    FUZZ_CHECK(t == NULL && (rc == HL_EPARSE || rc == HL_EINVAL));
    FUZZ_CHECK(cerr.message[0] != '\0');
    hl_json_doc_dispose(&evdoc);
    return 0;
  }
  FUZZ_CHECK(t != NULL && hl_transform_op_count(t) <= HL_TRANSFORM_MAX_OPS);

  hl_buf a, b;
  int ra = apply_marked(t, ev, ev_len, &a);
  int rb = apply_marked(t, ev, ev_len, &b);
  FUZZ_CHECK(ra == rb && same(&a, &b));
  hl_buf_dispose(&b);
  if (!ev_json) FUZZ_CHECK(ra == HL_EPARSE);

  if (ra == 0) {
    /* Compact JSON: the empty spec gives the result back unchanged. */
    const char *res = a.data + sizeof MARK - 1;
    size_t res_len = a.len - (sizeof MARK - 1);
    FUZZ_CHECK(res_len <= HL_TRANSFORM_MAX_OUTPUT);
    hl_buf again;
    FUZZ_CHECK(apply_marked(identity, res, res_len, &again) == 0);
    FUZZ_CHECK(same(&a, &again));
    hl_buf_dispose(&again);
  }

  if (ev_json) {
    /* On the parsed event: the same answer. */
    hl_buf j = HL_BUF_INIT;
    hl_buf_puts(&j, MARK);
    int rj = hl_transform_apply_json(t, evdoc.root, &j, NULL);
    FUZZ_CHECK(rj == ra && same(&a, &j));
    hl_buf_dispose(&j);
  }

  /* A chain of one is apply. */
  const hl_transform *one[1] = {t};
  hl_buf c = HL_BUF_INIT;
  hl_buf_puts(&c, MARK);
  size_t failed = 99;
  int rc1 = hl_transform_apply_chain(one, 1, ev, ev_len, &c, &failed, NULL);
  FUZZ_CHECK(rc1 == ra && same(&a, &c));
  if (rc1 != 0) FUZZ_CHECK(failed == 0);
  hl_buf_dispose(&c);

  /* A chain of two is the two steps, when the steps succeed. */
  if (ra == 0) {
    const char *res = a.data + sizeof MARK - 1;
    size_t res_len = a.len - (sizeof MARK - 1);
    hl_buf step;
    int rs = apply_marked(t, res, res_len, &step);
    const hl_transform *two[2] = {t, t};
    hl_buf ch = HL_BUF_INIT;
    hl_buf_puts(&ch, MARK);
    failed = 99;
    int rc2 = hl_transform_apply_chain(two, 2, ev, ev_len, &ch, &failed, NULL);
    if (rs == 0) {
      FUZZ_CHECK(rc2 == 0);
      FUZZ_CHECK(same(&step, &ch));
    } else if (rs == HL_EINVAL) {
      /* The second step's pointer did not fit: so in the chain. */
      FUZZ_CHECK(rc2 == HL_EINVAL && failed == 1);
    }
    if (rc2 != 0) FUZZ_CHECK(ch.len == sizeof MARK - 1);
    hl_buf_dispose(&ch);
    hl_buf_dispose(&step);
  }
  hl_buf_dispose(&a);
  hl_transform_free(t);
  hl_json_doc_dispose(&evdoc);
  return 0;
}
