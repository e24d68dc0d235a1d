/* hl_app_kms.h — HOOKLOOP_KMS_KEY_ID: subscription credentials sealed
 * (crypto/hl_seal.h) under a data key from KMS, envelope encryption.
 *
 * At start-up, on the loop: the store's ledger row HL_APP_KMS_LEDGER_KEY
 * holds the data key's CiphertextBlob (base64), never its plaintext. Found:
 * KMS Decrypt turns it back into the key. Absent (the first start):
 * GenerateDataKey (AES_256), the ciphertext is written with an insert that
 * fails if another process wrote one first, and then that one is used, so
 * every process sharing a store seals with the same key. Both calls carry
 * the encryption context {"hookloop":"subscription-credentials"}.
 *
 * With HOOKLOOP_SECRET_KEY_FILE set too (migrating from a key file), the
 * file's keys open what they sealed, and those records are sealed again
 * under the data key.
 *
 * The plaintext key lives only in `sealer` (wiped at close) and in the KMS
 * client's answer buffer (wiped after the callback).
 *
 * Ownership: the owner keeps the struct in place from init to the close
 * callback; `sealer` may be handed out (borrowed) once start reported 0. */
#ifndef HL_APP_KMS_H
#define HL_APP_KMS_H

#include <stdbool.h>
#include <uv.h>

#include "app/hl_config.h"
#include "aws/hl_aws_client.h"
#include "aws/hl_aws_creds.h"
#include "crypto/hl_seal.h"
#include "loop/hl_curl_uv.h"
#include "store/hl_store.h"

#define HL_APP_KMS_LEDGER_KEY "hookloop#kms-data-key"

typedef enum { HL_APP_KMS_IDLE, HL_APP_KMS_READING, HL_APP_KMS_GENERATING, HL_APP_KMS_WRITING,
               HL_APP_KMS_DECRYPTING, HL_APP_KMS_READY, HL_APP_KMS_FAILED } hl_app_kms_state;

typedef struct {
  hl_store *store;               /* borrowed */
  hl_aws_creds_provider creds;
  hl_aws_client client;          /* sensitive: answers wiped */
  char *key_id;                  /* HOOKLOOP_KMS_KEY_ID */
  char *blob_b64;                /* the ciphertext being written */
  hl_app_kms_state state;
  hl_sealer sealer;              /* valid once READY */
  const hl_sealer *migrate_from; /* borrowed: HOOKLOOP_SECRET_KEY_FILE's keys, opening only; or NULL */
  bool closing;                  /* no new KMS call once set */
  char why[512];                 /* the last failure, as done reported it */
  void (*done)(void *data, int status, const char *why);
  void *done_data;
  void (*close_cb)(void *data);
  void *close_data;
} hl_app_kms;

/* Returns 0, or HL_EINVAL with a message in err naming the variable at
 * fault (no credentials, no region nor KMS endpoint). */
int hl_app_kms_init(hl_app_kms *k, uv_loop_t *loop, hl_curl_uv *curl, hl_store *store, const hl_config *cfg,
                    char *err, size_t errlen);
/* Obtains the data key; done runs once, later, with 0 or a negative hl_err
 * and why (names HOOKLOOP_KMS_KEY_ID and KMS's error code, never a key;
 * valid until the next start). After a failure it may be called again (a
 * Lambda function tries again at its next invocation). */
void hl_app_kms_start(hl_app_kms *k, void (*done)(void *data, int status, const char *why), void *data);
/* Wipes the key and closes the client; cb runs once everything is closed. */
void hl_app_kms_close(hl_app_kms *k, void (*cb)(void *data), void *data);

#endif
