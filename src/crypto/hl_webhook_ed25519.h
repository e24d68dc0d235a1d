/* hl_webhook_ed25519.h — Standard Webhooks asymmetric signatures ("v1a").
 *
 * signature = Ed25519(secret key, "<webhook-id>.<webhook-timestamp>.<body>")
 * (RFC 8032, pure Ed25519); the header entry is "v1a,<base64 signature>",
 * beside or instead of the "v1," HMAC entries of crypto/hl_webhook_sig.
 *
 * Keys as the specification serialises them: the secret key "whsk_" +
 * base64 of the 32-byte Ed25519 seed (what the reference libraries read),
 * the public key "whpk_" + base64 of the 32-byte public key, which partners
 * verify with and which may be shown to anyone.
 *
 * Why libsodium and not mbedTLS like the rest of src/crypto: mbedTLS 2.28
 * (Debian bookworm's) has no Ed25519 at all. libsodium (Debian's
 * libsodium23) is a library made for it: constant-time signing, and a
 * verifier that refuses non-canonical signatures and small-order public
 * keys. Random seeds still come from hl_random_bytes, like every other
 * secret hookloop makes.
 *
 * Secret keys never appear in an error code or a log line from here.
 */
#ifndef HL_WEBHOOK_ED25519_H
#define HL_WEBHOOK_ED25519_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/hl_buf.h"

#define HL_ED25519_SEED_LEN 32
#define HL_ED25519_PUBLIC_LEN 32
#define HL_ED25519_SIG_LEN 64

/* A signing key: the seed expanded as libsodium keeps it (seed || public
 * key). Embed it; _dispose wipes it. */
typedef struct {
  uint8_t sk[64];
  uint8_t pk[HL_ED25519_PUBLIC_LEN];
} hl_ed25519_signer;

/* --- raw Ed25519 (RFC 8032 §5.1) ---------------------------------------------- */
/* The signer of a 32-byte seed. */
void hl_ed25519_from_seed(hl_ed25519_signer *s, const uint8_t seed[HL_ED25519_SEED_LEN]);
void hl_ed25519_sign(const hl_ed25519_signer *s, const void *msg, size_t len, uint8_t sig[HL_ED25519_SIG_LEN]);
/* True when sig is pk's signature of msg. */
bool hl_ed25519_verify(const uint8_t pk[HL_ED25519_PUBLIC_LEN], const void *msg, size_t len,
                       const uint8_t sig[HL_ED25519_SIG_LEN]);

/* --- Standard Webhooks keys and signatures ------------------------------------ */
/* A new key pair: *secret_key "whsk_...", *public_key "whpk_...", both
 * malloc'd (never NULL). */
void hl_webhook_ed25519_keypair(char **secret_key, char **public_key);
/* Prepares a signer from "whsk_<base64>". The base64 holds the 32-byte
 * seed, or the 64-byte seed || public key some libraries write (its public
 * half must then be the seed's). Returns 0, or HL_EINVAL without the
 * "whsk_" prefix, HL_EPARSE for bad base64 or another length (or a public
 * half that does not belong to the seed). */
int hl_webhook_ed25519_signer_init(hl_ed25519_signer *s, const char *secret_key, size_t len);
void hl_webhook_ed25519_signer_dispose(hl_ed25519_signer *s);
/* The signer's public key, "whpk_<base64>", malloc'd. */
char *hl_webhook_ed25519_public_key(const hl_ed25519_signer *s);
/* Decodes "whpk_<base64 of 32 bytes>": 0, HL_EINVAL (no prefix) or
 * HL_EPARSE. */
int hl_webhook_ed25519_public_decode(const char *public_key, size_t len, uint8_t pk[HL_ED25519_PUBLIC_LEN]);

/* Appends "v1a,<signature>" to out (add a space first to put it beside
 * other entries). Returns 0, or HL_EINVAL for a NULL id or body pointer
 * with a length. */
int hl_webhook_ed25519_sign(const hl_ed25519_signer *s, const char *msg_id, size_t id_len, int64_t timestamp,
                            const void *body, size_t body_len, hl_buf *out);

/* The keys of a space-separated list of "whsk_..." keys (a rotation's
 * overlap), expanded from their seeds once: expanding costs about what a
 * signature does (one more fixed-base scalar multiplication), so a
 * subscription keeps its keyring between sends (model/hl_sub_ed25519.h).
 * The expanded keys are secrets: _dispose wipes them. */
typedef struct {
  hl_ed25519_signer *keys; /* n, malloc'd */
  size_t n;
} hl_webhook_ed25519_keyring;

/* 0, or HL_EINVAL (k empty) for an empty list or an entry that is not a
 * usable key. */
int hl_webhook_ed25519_keyring_init(hl_webhook_ed25519_keyring *k, const char *keys);
/* "v1a,<sig>" per key, separated by spaces, appended to out. Returns 0, or
 * HL_EINVAL for an empty keyring or a NULL id or body pointer with a length
 * (nothing is appended then). */
int hl_webhook_ed25519_keyring_sign(const hl_webhook_ed25519_keyring *k, const char *msg_id, int64_t timestamp,
                                    const void *body, size_t body_len, hl_buf *out);
void hl_webhook_ed25519_keyring_dispose(hl_webhook_ed25519_keyring *k);

/* One-shot: the keyring of keys made, used for one signature and wiped.
 * Returns as _keyring_init and _keyring_sign do. */
int hl_webhook_ed25519_sign_list(const char *keys, const char *msg_id, int64_t timestamp, const void *body,
                                 size_t body_len, hl_buf *out);
/* Whether the list entry (len bytes) is a secret key ("whsk_..."). */
bool hl_webhook_ed25519_is_key(const char *entry, size_t len);
/* The public key ("whpk_...", malloc'd) of the secret key entry of len
 * bytes, or NULL when it is not a usable key. */
char *hl_webhook_ed25519_public_of(const char *secret_key, size_t len);

/* Receiver side, as hl_webhook_verify_ex for "v1a" entries: one that
 * verifies under public_key ("whpk_...") is enough; entries of other
 * versions are ignored. When tolerance_s > 0 the timestamp must lie within
 * tolerance_s of now_s. Returns 0 when valid, else HL_EINVAL (unusable
 * public key, missing argument), HL_EPARSE (timestamp not a decimal
 * integer), HL_ETIMEOUT (outside the window), HL_ECRYPTO (no entry
 * verified). */
int hl_webhook_ed25519_verify(const char *public_key, const char *msg_id, const char *timestamp, const void *body,
                              size_t body_len, const char *header, int64_t now_s, int64_t tolerance_s);

#endif
