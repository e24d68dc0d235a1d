/* Reading a delivery record (model/hl_record.h) as the dispatcher's Kafka
 * intake does for every record: the header values are views into the
 * consumed message, not NUL-terminated, and the item that borrows the
 * record's value must carry exactly the bytes the copying one does. */
#include "hl_test.h"
#include "common/hl_common.h"
#include "model/hl_record.h"

#include <string.h>

typedef struct {
  const char *name;
  const char *value;
  size_t len;
} hdr;

typedef struct {
  const hdr *h;
  size_t n;
} hdrs;

static const void *header_of(const hl_record *r, const char *name, size_t *len) {
  const hdrs *hs = r->src;
  for (size_t i = hs->n; i-- > 0;)
    if (strcmp(hs->h[i].name, name) == 0) {
      if (len) *len = hs->h[i].len;
      return hs->h[i].value;
    }
  return NULL;
}

/* Header values cut out of one buffer, as librdkafka hands them out: each
 * is followed by the next one's bytes, never by a NUL. */
static const char wire[] = "1234" "1700000000000999" "00000000000000000000000000000000000042" "s-1xyz" "Payment!"
                           "00-abc-01?";

HL_TEST(numbers_are_read_within_their_length_and_long_ones_whole) {
  const hdr h[] = {
    {"attempt", wire, 2},                 /* "12", then "34..." in memory */
    {"accepted_ms", wire + 4, 13},        /* "1700000000000", then "999" */
    {"replay", wire + 20, 38},            /* 38 digits (longer than the stack copy): 42 */
    {"subscription_id", wire + 58, 3},    /* "s-1", then "xyz" */
    {"event_type", wire + 64, 7},         /* "Payment", then "!" */
    {"traceparent", wire + 72, 9},
  };
  hdrs hs = {h, HL_ARRAY_SIZE(h)};
  const char value[] = "{\"a\":1}trailing";
  hl_record r = {.topic = "wh.egress.p.Payment", .key = "e-1", .key_len = 3, .value = value, .len = 7,
                 .header = header_of, .src = &hs};
  HL_ASSERT_EQ_INT(hl_record_attempts(&r), 12);
  size_t idlen = 0;
  const char *id = hl_record_subscription_id_view(&r, &idlen);
  HL_ASSERT(id == wire + 58 && idlen == 3);

  hl_eq_item copied, borrowed;
  hl_record_item(&r, "s-1", &copied);
  hl_record_item_borrowed(&r, "s-1", &borrowed);
  HL_ASSERT_EQ_INT(copied.d.attempts, 12);
  HL_ASSERT_EQ_INT(copied.accepted_at, 1700000000000);
  HL_ASSERT_EQ_INT(copied.replay, 42);
  HL_ASSERT_EQ_STR(copied.d.status, "RETRYING");
  HL_ASSERT_EQ_STR(copied.event_type, "Payment");
  HL_ASSERT_EQ_STR(copied.trace, "00-abc-01");
  HL_ASSERT_EQ_STR(copied.d.event_id, "e-1");
  /* The borrowed item: the same fields, and the record's own bytes. */
  HL_ASSERT_EQ_INT(borrowed.d.attempts, copied.d.attempts);
  HL_ASSERT_EQ_INT(borrowed.accepted_at, copied.accepted_at);
  HL_ASSERT_EQ_INT(borrowed.replay, copied.replay);
  HL_ASSERT_EQ_STR(borrowed.d.status, copied.d.status);
  HL_ASSERT_EQ_STR(borrowed.event_type, copied.event_type);
  HL_ASSERT_EQ_STR(borrowed.trace, copied.trace);
  HL_ASSERT_EQ_STR(borrowed.d.event_id, copied.d.event_id);
  HL_ASSERT_EQ_STR(borrowed.d.subscription_id, copied.d.subscription_id);
  HL_ASSERT(borrowed.body == value); /* not a copy */
  HL_ASSERT(borrowed.body_len == 7 && copied.body_len == 7);
  HL_ASSERT(memcmp(copied.body, "{\"a\":1}", 8) == 0); /* the copy is NUL-terminated */
  hl_eq_item_free(&copied);
  borrowed.body = NULL; /* the record's: never freed with the item */
  hl_eq_item_free(&borrowed);
}

HL_TEST(a_tombstone_borrows_an_empty_body) {
  hdrs hs = {NULL, 0};
  hl_record r = {.topic = "wh.egress.p.Payment", .key = "e-2", .key_len = 3, .value = NULL, .len = 0,
                 .header = header_of, .src = &hs};
  hl_eq_item it;
  hl_record_item_borrowed(&r, "s-1", &it);
  HL_ASSERT(it.body != NULL && it.body_len == 0);
  HL_ASSERT_EQ_STR(it.d.status, "PENDING");
  HL_ASSERT(it.trace == NULL && it.event_type == NULL);
  size_t idlen = 0;
  HL_ASSERT(hl_record_subscription_id_view(&r, &idlen) == NULL);
  it.body = NULL;
  hl_eq_item_free(&it);
}
