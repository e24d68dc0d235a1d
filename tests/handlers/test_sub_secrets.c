/* model/hl_sub_secrets: the rotation's stored list, its active entries and
 * their status. */
#include "hl_test.h"
#include "common/hl_common.h"
#include "model/hl_sub_secrets.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

HL_TEST(rotation_keeps_previous_secrets_for_the_overlap_only) {
  char *l1 = hl_sub_secrets_rotate("whsec_AAAA", "whsec_BBBB", 1000, 60);
  HL_ASSERT_EQ_STR(l1, "whsec_BBBB whsec_AAAA~1060");
  int64_t until = 0;
  char *a = hl_sub_secrets_active(l1, 1059, &until);
  HL_ASSERT_EQ_STR(a, "whsec_BBBB whsec_AAAA");
  HL_ASSERT_EQ_INT(until, 1060);
  hl_free(a);
  a = hl_sub_secrets_active(l1, 1060, &until);
  HL_ASSERT_EQ_STR(a, "whsec_BBBB");
  HL_ASSERT(until == INT64_MAX);
  hl_free(a);
  /* A second rotation inside the overlap: the older one keeps its sooner
   * end, the one just replaced gets the new window. */
  char *l2 = hl_sub_secrets_rotate(l1, "whsec_CCCC", 1010, 3600);
  HL_ASSERT_EQ_STR(l2, "whsec_CCCC whsec_BBBB~4610 whsec_AAAA~1060");
  /* Past the first one's end, it is dropped at the next rotation. */
  char *l3 = hl_sub_secrets_rotate(l2, "whsec_DDDD", 2000, 10);
  HL_ASSERT_EQ_STR(l3, "whsec_DDDD whsec_CCCC~2010 whsec_BBBB~2010");
  /* overlap 0: only the fresh one. */
  char *l4 = hl_sub_secrets_rotate(l3, "whsec_EEEE", 2000, 0);
  HL_ASSERT_EQ_STR(l4, "whsec_EEEE");
  hl_jw w;
  hl_buf b = HL_BUF_INIT;
  hl_jw_init(&w, &b);
  hl_sub_secrets_describe(l2, 1059, &w);
  HL_ASSERT_EQ_STR(b.data, "[{\"expires_at\":null},{\"expires_at\":4610},{\"expires_at\":1060}]");
  hl_buf_dispose(&b);
  hl_free(l1); hl_free(l2); hl_free(l3); hl_free(l4);
}

HL_TEST(no_more_secrets_than_the_signer_holds) {
  char *l = hl_strdup("whsec_AAAA");
  for (int i = 0; i < 12; i++) {
    char *n = hl_sub_secrets_rotate(l, "whsec_BBBB", 1000 + i, 3600);
    hl_free(l);
    l = n;
  }
  int64_t until;
  char *a = hl_sub_secrets_active(l, 1100, &until);
  int n = 1;
  for (const char *p = a; (p = strchr(p, ' ')) != NULL; p++) n++;
  HL_ASSERT_EQ_INT(n, 8);
  hl_free(a);
  hl_free(l);
}
