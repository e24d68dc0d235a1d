/* hl_aws_kms.h — KMS GenerateDataKey (KeySpec AES_256) and Decrypt (JSON
 * protocol, awsJson1_1, TrentService.*) on the shared AWS client: the two
 * calls envelope encryption needs. A data key's plaintext encrypts records
 * locally; its ciphertext (KMS-encrypted under the KMS key) is stored with
 * them and turned back into the plaintext by Decrypt.
 *
 * The client must be made with `sensitive` set (answers carry plaintext
 * keys and are wiped after the callback); the calls refuse one without.
 * An optional encryption context (string pairs) binds a ciphertext to what
 * it protects: Decrypt must give the same pairs. */
#ifndef HL_AWS_KMS_H
#define HL_AWS_KMS_H

#include <stdint.h>

#include "aws/hl_aws_client.h"
#include "aws/hl_aws_msg.h"

extern const hl_aws_service hl_kms_service; /* "kms", application/x-amz-json-1.1 */

#define HL_KMS_DATA_KEY_LEN 32 /* AES_256 */
#define HL_KMS_PLAINTEXT_MAX 4096
#define HL_KMS_CIPHERTEXT_MAX 6144

typedef struct {
  uint8_t plaintext[HL_KMS_DATA_KEY_LEN];
  const uint8_t *ciphertext; /* CiphertextBlob */
  size_t ciphertext_len;
  const char *key_id;        /* the KMS key's ARN, as KMS names it */
} hl_kms_data_key;

/* key is NULL unless st->verdict is OK; it is wiped once the callback
 * returns: copy what you keep. An answer without a 32-byte Plaintext or a
 * CiphertextBlob ends with verdict FAIL and code "MalformedResponse". */
typedef void (*hl_kms_data_key_cb)(void *data, const hl_aws_status *st, const hl_kms_data_key *key);
/* plaintext is NULL unless st->verdict is OK; wiped once the callback returns. */
typedef void (*hl_kms_decrypt_cb)(void *data, const hl_aws_status *st, const uint8_t *plaintext, size_t len,
                                  const char *key_id);

/* Request bodies (what the calls send); 0 or HL_EINVAL with the reason. */
int hl_kms_generate_data_key_body(const char *key_id, const hl_aws_attr *ctx, size_t n_ctx, hl_buf *body,
                                  char *err, size_t errlen);
int hl_kms_decrypt_body(const uint8_t *ciphertext, size_t len, const char *key_id, const hl_aws_attr *ctx,
                        size_t n_ctx, hl_buf *body, char *err, size_t errlen);

/* Returns 0 (cb runs once, later) or HL_EINVAL with the reason in err (cb
 * never runs). key_id: a key id, ARN, alias name or alias ARN. */
int hl_kms_generate_data_key(hl_aws_client *c, const char *key_id, const hl_aws_attr *ctx, size_t n_ctx,
                             hl_kms_data_key_cb cb, void *data, char *err, size_t errlen);
/* key_id may be NULL (KMS finds the key from the ciphertext). */
int hl_kms_decrypt(hl_aws_client *c, const uint8_t *ciphertext, size_t len, const char *key_id,
                   const hl_aws_attr *ctx, size_t n_ctx, hl_kms_decrypt_cb cb, void *data, char *err, size_t errlen);

#endif
