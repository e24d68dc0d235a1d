/* fuzz_inbox: the inbox protocol's answers (src/loop/hl_inbox_wire), what a
 * partner's inbox serves to the inbox dispatcher.
 *
 * The input is an answer body, read three ways: as a page of events, as a
 * token answer, and each event id it yields as the {id} of an ack URL.
 * Properties, beyond no crash or leak:
 * - a page that parses accounts for every element of its "events" array:
 *   each is an event or skipped (n + skipped = the array's length);
 * - each event's payload is exact: a span of the answer itself, the
 *   source text of /events/<i>/payload, which parses to an equal value;
 *   its id is 1..HL_INBOX_ID_MAX bytes without control characters (or an
 *   integer's digits), NUL-terminated at its length;
 * - "next" is NULL or a non-empty NUL-terminated string;
 * - a refused page says why, with a JSON pointer or the parse position;
 * - a token that parses can go into an Authorization header as it is
 *   (printable ASCII, no space), and a lifetime is -1 or more;
 * - an ack URL carries the id percent-encoded as one path segment: only
 *   unreserved characters and %XX, which decode to the id's bytes. */
#include "fuzz_util.h"
#include "common/hl_common.h"
#include "loop/hl_inbox_wire.h"

#include <ctype.h>

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

static void check_ack_url(const char *id, size_t id_len) {
  static const char base[] = "https://inbox.example/v1";
  hl_buf url = HL_BUF_INIT;
  FUZZ_CHECK(hl_inbox_ack_url(&url, base, "/events/{id}/ack", id, id_len) == 0);
  static const char pre[] = "https://inbox.example/v1/events/", post[] = "/ack";
  FUZZ_CHECK(url.len >= sizeof pre - 1 + sizeof post - 1);
  FUZZ_CHECK(memcmp(url.data, pre, sizeof pre - 1) == 0);
  FUZZ_CHECK(memcmp(url.data + url.len - (sizeof post - 1), post, sizeof post - 1) == 0);
  const char *seg = url.data + sizeof pre - 1;
  size_t seg_len = url.len - (sizeof pre - 1) - (sizeof post - 1);
  char *decoded = hl_malloc(seg_len + 1);
  size_t n = 0;
  for (size_t i = 0; i < seg_len; i++) {
    char c = seg[i];
    if (c == '%') {
      FUZZ_CHECK(i + 2 < seg_len);
      int hi = hexval(seg[i + 1]), lo = hexval(seg[i + 2]);
      FUZZ_CHECK(hi >= 0 && lo >= 0);
      decoded[n++] = (char)(hi * 16 + lo);
      i += 2;
    } else {
      FUZZ_CHECK(isalnum((unsigned char)c) || c == '-' || c == '.' || c == '_' || c == '~');
      decoded[n++] = c;
    }
  }
  FUZZ_CHECK(n == id_len && memcmp(decoded, id, id_len) == 0);
  hl_free(decoded);
  hl_buf_dispose(&url);
}

static void check_page(const uint8_t *data, size_t size) {
  char *body = hl_malloc(size + 1);
  memcpy(body, data, size);
  body[size] = '\0';
  int rc = 0;
  char err[512] = "";
  hl_inbox_page *p = hl_inbox_page_parse(body, size, &rc, err, sizeof err);
  /* The same answer read by the plain reader, to compare with. */
  hl_json_doc d;
  hl_json_doc_init(&d);
  bool is_json = hl_json_parse(&d, (const char *)data, size, NULL) == 0;
  if (!p) {
    FUZZ_CHECK(rc == HL_EPARSE && err[0] != '\0');
    FUZZ_CHECK(err[0] == '/' || strncmp(err, "the answer is not JSON", 22) == 0);
    hl_json_doc_dispose(&d);
    return;
  }
  FUZZ_CHECK(rc == 0 && is_json);
  const hl_json *events = hl_json_get(d.root, "events");
  FUZZ_CHECK(events && events->type == HL_JSON_ARRAY);
  FUZZ_CHECK(p->n + p->skipped == events->len);
  FUZZ_CHECK(!p->next || (p->next[0] != '\0'));
  uint32_t j = 0; /* the array element the next event came from */
  for (size_t i = 0; i < p->n; i++) {
    const hl_inbox_event *e = &p->events[i];
    FUZZ_CHECK(e->id_len >= 1 && e->id_len <= HL_INBOX_ID_MAX && e->id[e->id_len] == '\0');
    for (size_t k = 0; k < e->id_len; k++)
      FUZZ_CHECK((unsigned char)e->id[k] >= 0x20 && (unsigned char)e->id[k] != 0x7f);
    FUZZ_CHECK(e->payload >= p->body && e->payload + e->payload_len <= p->body + p->body_len);
    /* Its element: the next one whose payload's text is this span. */
    const hl_json *pl = NULL;
    for (; j < events->len && !pl; j++) {
      const hl_json *v = hl_json_get(&events->u.items[j], "payload");
      if (v && v->src_len == e->payload_len && v->src == (const char *)data + (e->payload - p->body)) pl = v;
    }
    FUZZ_CHECK(pl != NULL);
    hl_json_doc one;
    hl_json_doc_init(&one);
    FUZZ_CHECK(hl_json_parse(&one, e->payload, e->payload_len, NULL) == 0);
    FUZZ_CHECK(hl_json_equal(one.root, pl));
    hl_json_doc_dispose(&one);
    check_ack_url(e->id, e->id_len);
  }
  hl_json_doc_dispose(&d);
  hl_inbox_page_free(p);
}

static void check_token(const uint8_t *data, size_t size) {
  char *token = NULL;
  int64_t expires = -2;
  char err[256] = "";
  int rc = hl_inbox_token_parse((const char *)data, size, &token, &expires, err, sizeof err);
  if (rc != 0) {
    FUZZ_CHECK(rc == HL_EPARSE && err[0] != '\0' && token == NULL);
    return;
  }
  FUZZ_CHECK(token && token[0] != '\0' && expires >= -1);
  for (const char *c = token; *c; c++) FUZZ_CHECK(*c > 0x20 && *c < 0x7f);
  hl_free(token);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc; (void)argv;
  fuzz_quiet();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  check_page(data, size);
  check_token(data, size);
  return 0;
}
