/* hl_webhook_sig.h — Standard Webhooks signatures.
 *
 * signature = base64(HMAC-SHA256(key, "<webhook-id>.<webhook-timestamp>.<body>"))
 * where key = base64-decode(secret without "whsec_"); the header value is
 * "v1,<signature>", several space-separated while a secret rotates. */
#ifndef HL_WEBHOOK_SIG_H
#define HL_WEBHOOK_SIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/hl_buf.h"

#define HL_WEBHOOK_KEY_MAX 64

/* Decodes one "whsec_<base64>" secret into key; returns the key length or a
 * negative hl_err (HL_EINVAL: no prefix, HL_EPARSE: bad base64, empty or
 * longer than HL_WEBHOOK_KEY_MAX). */
int hl_webhook_secret_decode(const char *secret, size_t len, uint8_t key[HL_WEBHOOK_KEY_MAX]);
/* 0 when every space-separated secret of the list decodes. */
int hl_webhook_secret_check_list(const char *secrets);
/* A new "whsec_" + base64(32 random bytes), malloc'd. */
char *hl_webhook_secret_generate(void);

/* Appends "v1,<sig>" for each space-separated secret in secrets to out,
 * separated by spaces. Returns 0 or a negative hl_err (nothing usable). */
int hl_webhook_sign_multi(const char *secrets, const char *msg_id, int64_t timestamp, const char *body,
                          size_t body_len, hl_buf *out);
/* Verifies a header value (several space-separated "v1,<sig>" entries; one
 * matching is enough, compared in constant time) against one secret. When
 * tolerance_s > 0, timestamps further than that from now_s are refused. */
bool hl_webhook_verify(const char *secret, const char *msg_id, const char *timestamp, const char *body,
                       size_t body_len, const char *header, int64_t now_s, int64_t tolerance_s);

#endif
