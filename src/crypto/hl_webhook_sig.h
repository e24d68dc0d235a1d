/* hl_webhook_sig.h — Standard Webhooks signatures.
 *
 * signature = base64(HMAC-SHA256(key, "<webhook-id>.<webhook-timestamp>.<body>"))
 * where key = base64-decode(secret without "whsec_"); the header value is
 * "v1,<signature>", several space-separated while a secret rotates.
 *
 * Secrets never appear in an error code or a log line from this module. */
#ifndef HL_WEBHOOK_SIG_H
#define HL_WEBHOOK_SIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/hl_buf.h"
#include "crypto/hl_crypto.h"

#define HL_WEBHOOK_KEY_MAX 64        /* bytes of a decoded key */
#define HL_WEBHOOK_SECRETS_MAX 8     /* secrets signing at once (rotation) */
#define HL_WEBHOOK_TOLERANCE_S 300   /* receivers' timestamp window */

/* Decodes one "whsec_<base64>" secret into key; returns the key length or a
 * negative hl_err: HL_EINVAL when the "whsec_" prefix is missing, HL_EPARSE
 * for bad base64, an empty key or one longer than HL_WEBHOOK_KEY_MAX. */
int hl_webhook_secret_decode(const char *secret, size_t len, uint8_t key[HL_WEBHOOK_KEY_MAX]);
/* 0 when secrets holds 1..HL_WEBHOOK_SECRETS_MAX space-separated secrets
 * that all decode; HL_EINVAL otherwise. */
int hl_webhook_secret_check_list(const char *secrets);
/* A new "whsec_" + base64(32 random bytes), malloc'd (never NULL). */
char *hl_webhook_secret_generate(void);

/* A signer holds the prepared HMAC state of each secret of a subscription,
 * so a signature costs the hash of the message and nothing is allocated
 * beyond the output. Embed it; _init allocates nothing. */
typedef struct {
  int n;
  hl_hmac_key keys[HL_WEBHOOK_SECRETS_MAX];
} hl_webhook_signer;

/* Prepares a signer from space-separated secrets. Returns the number of
 * secrets (>= 1) or a negative hl_err (HL_EINVAL / HL_EPARSE as
 * hl_webhook_secret_decode, HL_ETOOBIG for more than HL_WEBHOOK_SECRETS_MAX);
 * on error the signer is empty but may still be disposed. */
int hl_webhook_signer_init(hl_webhook_signer *s, const char *secrets);
/* Wipes the key material. */
void hl_webhook_signer_dispose(hl_webhook_signer *s);
/* Appends the header value ("v1,<sig>" per secret, space-separated) to out.
 * Returns 0, or HL_EINVAL for an empty signer. */
int hl_webhook_signer_sign(const hl_webhook_signer *s, const char *msg_id, size_t id_len, int64_t timestamp,
                           const void *body, size_t body_len, hl_buf *out);

/* One-shot form: appends "v1,<sig>" for each space-separated secret in
 * secrets to out. Entries that do not decode are skipped so a rotation with
 * one bad entry still signs; returns 0, or HL_EINVAL when nothing signed. */
int hl_webhook_sign_multi(const char *secrets, const char *msg_id, int64_t timestamp, const char *body,
                          size_t body_len, hl_buf *out);

/* Receiver side. Verifies a webhook-signature header value (space-separated
 * "<version>,<sig>" entries; one matching "v1" entry is enough, compared in
 * constant time; other versions are ignored) against one secret.
 * When tolerance_s > 0 the timestamp must lie within tolerance_s of now_s;
 * tolerance_s <= 0 disables that check. Returns 0 when valid, else:
 * HL_EINVAL unusable secret or missing argument, HL_EPARSE timestamp not a
 * decimal integer, HL_ETIMEOUT timestamp outside the window, HL_ECRYPTO no
 * signature matched. */
int hl_webhook_verify_ex(const char *secret, const char *msg_id, const char *timestamp, const void *body,
                         size_t body_len, const char *header, int64_t now_s, int64_t tolerance_s);
/* hl_webhook_verify_ex(...) == 0. */
bool hl_webhook_verify(const char *secret, const char *msg_id, const char *timestamp, const char *body,
                       size_t body_len, const char *header, int64_t now_s, int64_t tolerance_s);

/* Receiver parts shared with the other signature versions
 * (crypto/hl_webhook_ed25519). */
/* Parses a webhook-timestamp value (a decimal integer) and, when
 * tolerance_s > 0, checks it lies within tolerance_s of now_s: 0, HL_EPARSE
 * or HL_ETIMEOUT. */
int hl_webhook_timestamp_check(const char *timestamp, int64_t now_s, int64_t tolerance_s);
/* The next space-separated entry of a header value at or after s, its
 * length in *len; NULL when there is none. */
const char *hl_webhook_next_entry(const char *s, size_t *len);

#endif
