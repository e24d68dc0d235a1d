/* model/hl_sub_ed25519: a subscription's Ed25519 keys are expanded at the
 * first send and kept, until a previous key's overlap ends or they are
 * dropped (rotation, free); an unusable list is refused at every send. */
#include "hl_test.h"
#include "common/hl_common.h"
#include "crypto/hl_webhook_ed25519.h"
#include "model/hl_sub_ed25519.h"

#include <stdio.h>
#include <string.h>

static int count_entries(const char *h) {
  int n = 1;
  for (; *h; h++) n += *h == ' ';
  return n;
}

/* Signs "body" as message "msg_1" at now_s; the header, or NULL with *rc. */
static void sign(hl_sub *s, int64_t now_s, hl_buf *out, int want_rc) {
  hl_buf_reset(out);
  HL_ASSERT_EQ_INT(hl_sub_ed25519_sign(s, "msg_1", now_s, "body", 4, out), want_rc);
}

static bool verifies(const char *pk, int64_t now_s, const char *header) {
  char ts[24];
  snprintf(ts, sizeof ts, "%lld", (long long)now_s);
  return hl_webhook_ed25519_verify(pk, "msg_1", ts, "body", 4, header, 0, 0) == 0;
}

HL_TEST(keys_are_expanded_once_and_again_after_a_drop_or_an_overlap) {
  char *sk1, *pk1, *sk2, *pk2;
  hl_webhook_ed25519_keypair(&sk1, &pk1);
  hl_webhook_ed25519_keypair(&sk2, &pk2);
  hl_sub s;
  memset(&s, 0, sizeof s);
  s.rec.secret = hl_strdup(sk1);
  hl_buf h = HL_BUF_INIT;
  sign(&s, 1000, &h, 0);
  HL_ASSERT(s.ed25519 != NULL);
  HL_ASSERT(verifies(pk1, 1000, h.data));
  /* The stored list changes behind its back: the kept keys still sign (no
   * expansion per send). */
  hl_free(s.rec.secret);
  char list[256];
  snprintf(list, sizeof list, "%s %s~2000", sk2, sk1);
  s.rec.secret = hl_strdup(list);
  sign(&s, 1001, &h, 0);
  HL_ASSERT_EQ_INT(count_entries(h.data), 1);
  HL_ASSERT(verifies(pk1, 1001, h.data));
  /* A rotation drops them: the next send expands the new list, both keys
   * during the overlap... */
  hl_sub_ed25519_drop(&s);
  HL_ASSERT(s.ed25519 == NULL);
  sign(&s, 1002, &h, 0);
  HL_ASSERT_EQ_INT(count_entries(h.data), 2);
  HL_ASSERT(verifies(pk2, 1002, h.data) && verifies(pk1, 1002, strchr(h.data, ' ') + 1));
  /* ...and the fresh one alone once it ends. */
  sign(&s, 2000, &h, 0);
  HL_ASSERT_EQ_INT(count_entries(h.data), 1);
  HL_ASSERT(verifies(pk2, 2000, h.data) && !verifies(pk1, 2000, h.data));
  hl_sub_ed25519_drop(&s);
  /* An unusable list: refused, send after send, nothing appended. */
  hl_free(s.rec.secret);
  snprintf(list, sizeof list, "%s whsk_AAAA", sk2);
  s.rec.secret = hl_strdup(list);
  sign(&s, 3000, &h, HL_EINVAL);
  HL_ASSERT_EQ_INT(h.len, 0);
  sign(&s, 3001, &h, HL_EINVAL);
  HL_ASSERT_EQ_INT(h.len, 0);
  hl_sub_ed25519_drop(&s);
  hl_sub_ed25519_drop(&s); /* none: nothing */
  hl_buf_dispose(&h);
  hl_free(s.rec.secret);
  hl_free(sk1);
  hl_free(pk1);
  hl_free(sk2);
  hl_free(pk2);
}
