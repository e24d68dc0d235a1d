/* hl_app_kms.h — HOOKLOOP_KMS_KEY_ID: subscription credentials sealed
 * (crypto/hl_seal.h) under data keys from KMS, envelope encryption.
 *
 * Each process seals with a data key of its own, made by GenerateDataKey
 * (AES_256) at start-up and again every HOOKLOOP_KMS_DATA_KEY_TTL_S; each
 * sealed value carries that key's CiphertextBlob (hlseal:v2:), so nothing
 * else needs storing. A value sealed under another data key (an older one,
 * another process's) is opened by KMS Decrypt of the ciphertext it
 * carries, through the opener (hl_seal_opener) the loaders call before
 * they open records; opened keys are kept for the same lifetime, at most
 * HL_APP_KMS_OPEN_MAX of them beyond those a load still needs, and wiped
 * as they go. All calls carry the encryption context
 * {"hookloop":"subscription-credentials"} and run on the loop.
 *
 * Older versions kept one data key in the store's ledger row
 * HL_APP_KMS_LEDGER_KEY, and sealed with it in the v1 format: when that
 * row exists, it is decrypted at start-up so those values still open (and
 * are sealed again under the current data key when loaded). With
 * HOOKLOOP_SECRET_KEY_FILE set too (migrating from a key file), the
 * file's keys open what they sealed, in the same way.
 *
 * Plaintext keys live only in `sealer` (wiped as they are replaced or
 * expire, and at close) and in the KMS client's answer buffer (wiped after
 * the callback).
 *
 * Ownership: the owner keeps the struct in place from init to the close
 * callback; `sealer` and `opener` may be handed out (borrowed) once start
 * reported 0. */
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
/* Opened data keys kept once no load needs them (the oldest go first). */
#define HL_APP_KMS_OPEN_MAX 64

typedef enum { HL_APP_KMS_IDLE, HL_APP_KMS_READING, HL_APP_KMS_DECRYPTING, HL_APP_KMS_GENERATING,
               HL_APP_KMS_READY, HL_APP_KMS_ROTATING, HL_APP_KMS_FAILED } hl_app_kms_state;

typedef struct {
  hl_seal_opener opener;         /* first: the loaders' view (hl_seal_opener) */
  hl_store *store;               /* borrowed */
  hl_aws_creds_provider creds;
  hl_aws_client client;          /* sensitive: answers wiped */
  uv_timer_t timer;              /* the next data key (unref'd) */
  uint64_t ttl_ms;               /* HOOKLOOP_KMS_DATA_KEY_TTL_S */
  char *key_id;                  /* HOOKLOOP_KMS_KEY_ID */
  hl_app_kms_state state;
  hl_sealer sealer;              /* seals once READY */
  const hl_sealer *migrate_from; /* borrowed: HOOKLOOP_SECRET_KEY_FILE's keys, opening only; or NULL */
  size_t pins;                   /* opens not yet released: no opened key goes meanwhile */
  uint64_t generated, decrypted; /* KMS calls that succeeded, for tests and logs */
  bool closing;                  /* no new KMS call once set */
  char why[700];                 /* the last start failure, as done reported it */
  char open_why[700];            /* the last open failure ("" none since the last success) */
  void (*done)(void *data, int status, const char *why);
  void *done_data;
  void (*close_cb)(void *data);
  void *close_data;
} hl_app_kms;

/* Returns 0, or HL_EINVAL with a message in err naming the variable at
 * fault (no credentials, no region nor KMS endpoint). */
int hl_app_kms_init(hl_app_kms *k, uv_loop_t *loop, hl_curl_uv *curl, hl_store *store, const hl_config *cfg,
                    char *err, size_t errlen);
/* Obtains the first data key; done runs once, later, with 0 or a negative
 * hl_err and why (names HOOKLOOP_KMS_KEY_ID and KMS's error code, never a
 * key; valid until the next start). After a failure it may be called again
 * (a Lambda function tries again at its next invocation). */
void hl_app_kms_start(hl_app_kms *k, void (*done)(void *data, int status, const char *why), void *data);
/* Whether a data key seals (started, and not failed). */
bool hl_app_kms_ready(const hl_app_kms *k);
/* Why the last open failed (KMS refusing Decrypt, or out of reach), or
 * NULL: what a loader reports when its load failed for that reason. */
const char *hl_app_kms_open_failure(const hl_app_kms *k);
/* Wipes the keys and closes the client; cb runs once everything is closed. */
void hl_app_kms_close(hl_app_kms *k, void (*cb)(void *data), void *data);

#endif
