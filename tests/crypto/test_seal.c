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

/* KMS data keys (v2): a value carries its data key's ciphertext; it opens
 * with that key after the current one changed, not once the key is
 * dropped; v1 values open under a data key and are reported stale, v2
 * ones under an older data key are not (processes sharing a store each
 * seal with their own); hl_seal_is_current tells what a reseal moves. */
HL_TEST(data_keys_seal_v2_values_carrying_their_ciphertext) {
  hl_sealer s;
  hl_sealer_init(&s, K + 1, 1); /* a legacy v1 key, opening only once a data key seals */
  hl_buf v1 = HL_BUF_INIT, a = HL_BUF_INIT, b = HL_BUF_INIT, plain = HL_BUF_INIT, err = HL_BUF_INIT;
  hl_seal(&s, "sub_1/secret", "one", 3, &v1);
  HL_ASSERT(strncmp(v1.data, HL_SEAL_PREFIX, strlen(HL_SEAL_PREFIX)) == 0);
  HL_ASSERT(hl_seal_is_current(&s, v1.data));
  const uint8_t A[32] = {0xa}, B[32] = {0xb};
  hl_sealer_set_current(&s, A, "QUFBQQ==", 100);
  HL_ASSERT(!hl_seal_is_current(&s, v1.data));
  hl_seal(&s, "sub_1/secret", "two", 3, &a);
  HL_ASSERT(strncmp(a.data, "hlseal:v2:", 10) == 0 && strstr(a.data, ":QUFBQQ==:") != NULL);
  const char *blob = NULL;
  size_t len = 0;
  HL_ASSERT(hl_seal_blob(a.data, &blob, &len) && len == 8 && memcmp(blob, "QUFBQQ==", 8) == 0);
  HL_ASSERT(!hl_seal_blob(v1.data, &blob, &len));
  bool stale = false;
  HL_ASSERT_EQ_INT(hl_unseal(&s, "sub_1/secret", v1.data, &plain, &stale, &err), 0);
  HL_ASSERT_EQ_STR(plain.data, "one");
  HL_ASSERT(stale);
  /* B seals now; A (dropped with the change) no longer opens until added back. */
  hl_sealer_set_current(&s, B, "QkJCQg==", 200);
  hl_seal(&s, "sub_1/secret", "three", 5, &b);
  HL_ASSERT(hl_seal_is_current(&s, b.data) && !hl_seal_is_current(&s, a.data));
  HL_ASSERT_EQ_INT(hl_unseal(&s, "sub_1/secret", a.data, &plain, &stale, &err), HL_EINVAL);
  HL_ASSERT(strstr(err.data, "has not been decrypted") != NULL);
  HL_ASSERT(!hl_sealer_has_blob(&s, "QUFBQQ==", 8) && hl_sealer_has_blob(&s, "QkJCQg==", 8));
  hl_sealer_add_opened(&s, A, "QUFBQQ==", 150);
  hl_sealer_add_opened(&s, A, "QUFBQQ==", 150); /* once only */
  HL_ASSERT_EQ_INT((int)s.nopened, 1);
  stale = true;
  HL_ASSERT_EQ_INT(hl_unseal(&s, "sub_1/secret", a.data, &plain, &stale, &err), 0);
  HL_ASSERT_EQ_STR(plain.data, "two");
  HL_ASSERT(!stale);
  /* A key under another blob does not open it: the blob names the key. */
  hl_buf forged = HL_BUF_INIT;
  hl_buf_printf(&forged, "hlseal:v2:%.8s:QkJCQg==:%s", a.data + 10, strrchr(a.data, ':') + 1);
  HL_ASSERT_EQ_INT(hl_unseal(&s, "sub_1/secret", forged.data, &plain, NULL, &err), HL_EINVAL);
  /* Expiry: gone at its time, and wiped; the oldest go beyond keep. */
  HL_ASSERT_EQ_INT((int)hl_sealer_expire(&s, 149, 8), 0);
  HL_ASSERT_EQ_INT((int)hl_sealer_expire(&s, 150, 8), 1);
  HL_ASSERT_EQ_INT((int)s.nopened, 0);
  HL_ASSERT_EQ_INT(hl_unseal(&s, "sub_1/secret", a.data, &plain, NULL, &err), HL_EINVAL);
  hl_sealer_add_opened(&s, A, "QUFBQQ==", 1000);
  hl_sealer_add_opened(&s, B, "QkJCQg==", 1000); /* the current one: already in hand */
  hl_sealer_add_opened(&s, K[0], "S0tLSw==", 1000);
  HL_ASSERT_EQ_INT((int)s.nopened, 2);
  HL_ASSERT_EQ_INT((int)hl_sealer_expire(&s, 0, 1), 1);
  HL_ASSERT(!hl_sealer_has_blob(&s, "QUFBQQ==", 8) && hl_sealer_has_blob(&s, "S0tLSw==", 8));
  HL_ASSERT_EQ_INT(hl_unseal(&s, "sub_1/secret", b.data, &plain, NULL, &err), 0);
  HL_ASSERT_EQ_STR(plain.data, "three");
  /* A version this one does not know is named as such. */
  hl_buf_reset(&err);
  HL_ASSERT_EQ_INT(hl_unseal(&s, "sub_1/secret", "hlseal:v9:abc", &plain, NULL, &err), HL_EINVAL);
  HL_ASSERT(strstr(err.data, "format") != NULL);
  hl_sealer_dispose(&s);
  HL_ASSERT(s.opened == NULL && s.current.blob == NULL);
  hl_buf_dispose(&v1);
  hl_buf_dispose(&a);
  hl_buf_dispose(&b);
  hl_buf_dispose(&forged);
  hl_buf_dispose(&plain);
  hl_buf_dispose(&err);
}
