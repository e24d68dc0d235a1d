/* crypto/hl_seal: sealing round trips, binds to its additional data,
 * refuses what was altered, names a missing key, reports a stale one, and
 * reads key files as documented. */
#include "hl_test.h"
#include "hl_testutil.h"
#include "common/hl_common.h"
#include "crypto/hl_seal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t K[2][32] = {{1, 2, 3}, {9, 8, 7}};

HL_TEST(sealed_values_open_only_with_their_key_and_additional_data) {
  hl_sealer s;
  hl_sealer_init(&s, K, 2);
  hl_buf sealed = HL_BUF_INIT, plain = HL_BUF_INIT, err = HL_BUF_INIT;
  const char *secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  hl_seal(&s, "sub_1/secret", secret, strlen(secret), &sealed);
  HL_ASSERT(hl_is_sealed(sealed.data));
  HL_ASSERT(strstr(sealed.data, "MfKQ9r8") == NULL);
  bool stale = true;
  HL_ASSERT_EQ_INT(hl_unseal(&s, "sub_1/secret", sealed.data, &plain, &stale, &err), 0);
  HL_ASSERT_EQ_STR(plain.data, secret);
  HL_ASSERT(!stale);
  /* Two seals of one value differ (a fresh nonce each). */
  hl_buf again = HL_BUF_INIT;
  hl_seal(&s, "sub_1/secret", secret, strlen(secret), &again);
  HL_ASSERT(strcmp(again.data, sealed.data) != 0);
  /* Moved to another record or field: refused. */
  HL_ASSERT_EQ_INT(hl_unseal(&s, "sub_2/secret", sealed.data, &plain, NULL, &err), HL_EINVAL);
  HL_ASSERT(strstr(err.data, "does not authenticate") != NULL);
  hl_buf_reset(&err);
  HL_ASSERT_EQ_INT(hl_unseal(&s, "sub_1/headers", sealed.data, &plain, NULL, &err), HL_EINVAL);
  /* One base64 character changed: refused. */
  char *bad = strdup(sealed.data);
  char *last = bad + strlen(bad) - 3;
  *last = *last == 'A' ? 'B' : 'A';
  hl_buf_reset(&err);
  HL_ASSERT_EQ_INT(hl_unseal(&s, "sub_1/secret", bad, &plain, NULL, &err), HL_EINVAL);
  free(bad);
  /* Sealed with the second key: opens, reported stale. */
  hl_sealer old;
  const uint8_t second[1][32] = {{9, 8, 7}};
  hl_sealer_init(&old, second, 1);
  hl_seal(&old, "sub_1/secret", secret, strlen(secret), &again);
  HL_ASSERT_EQ_INT(hl_unseal(&s, "sub_1/secret", again.data, &plain, &stale, &err), 0);
  HL_ASSERT(stale);
  /* A sealer without that key names it. */
  hl_sealer first;
  hl_sealer_init(&first, K, 1);
  hl_buf_reset(&err);
  HL_ASSERT_EQ_INT(hl_unseal(&first, "sub_1/secret", again.data, &plain, NULL, &err), HL_EINVAL);
  HL_ASSERT(strstr(err.data, old.keys[0].id) && strstr(err.data, "HOOKLOOP_SECRET_KEY_FILE does not hold"));
  hl_sealer_dispose(&s);
  hl_sealer_dispose(&old);
  hl_sealer_dispose(&first);
  hl_buf_dispose(&sealed);
  hl_buf_dispose(&again);
  hl_buf_dispose(&plain);
  hl_buf_dispose(&err);
}

HL_TEST(key_files_are_read_as_documented) {
  char *dir = hl_tmpdir("seal");
  char path[600];
  snprintf(path, sizeof path, "%s/keys", dir);
  struct {
    const char *text, *error;
    size_t nkeys;
  } cases[] = {
    {"# current first\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n\nICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=\n", NULL, 2},
    {"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", NULL, 1},
    {"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxw=\n", "line 1 is not 32 bytes in base64", 0},
    {"# nothing\n\n", "holds no key", 0},
  };
  for (size_t i = 0; i < HL_ARRAY_SIZE(cases); i++) {
    FILE *f = fopen(path, "w");
    fputs(cases[i].text, f);
    fclose(f);
    hl_sealer s;
    hl_buf err = HL_BUF_INIT;
    int rc = hl_sealer_load(&s, path, &err);
    if (cases[i].error) {
      HL_ASSERT_EQ_INT(rc, HL_EINVAL);
      HL_ASSERT_MSG(strstr(err.data, cases[i].error) && strstr(err.data, "HOOKLOOP_SECRET_KEY_FILE="), "%s", err.data);
    } else {
      HL_ASSERT_EQ_INT(rc, 0);
      HL_ASSERT_EQ_INT(s.nkeys, cases[i].nkeys);
      HL_ASSERT_EQ_INT(s.keys[0].key[1], 1);
      hl_sealer_dispose(&s);
    }
    hl_buf_dispose(&err);
  }
  hl_sealer s;
  hl_buf err = HL_BUF_INIT;
  HL_ASSERT_EQ_INT(hl_sealer_load(&s, "/nonexistent/keys", &err), HL_EINVAL);
  HL_ASSERT(strstr(err.data, "cannot be read") != NULL);
  hl_buf_dispose(&err);
  hl_rmtree(dir);
  free(dir);
}
