/* hl_app_kms.c — the KMS data key of HOOKLOOP_KMS_KEY_ID (hl_app_kms.h).
 *
 *   IDLE → READING ─found→ DECRYPTING → READY
 *             └─absent→ GENERATING → WRITING ─written→ READY
 *                                      └─another process wrote first→ READING
 *   any step failing → FAILED
 */
#include "app/hl_app_kms.h"

#include <mbedtls/platform_util.h>
#include <stdio.h>
#include <string.h>

#include "app/hl_app_store.h"
#include "aws/hl_aws_endpoint.h"
#include "aws/hl_aws_kms.h"
#include "common/hl_common.h"
#include "common/hl_sm.h"
#include "crypto/hl_crypto.h"

/* Binds the data key's ciphertext to its use: a blob made for something
 * else does not decrypt here (and CloudTrail shows what it was for). */
static const hl_aws_attr kms_ctx[] = {{"hookloop", "subscription-credentials"}};
/* The ledger row never expires (9999-12-31; 0 means "never" in SQLite
 * only, whereas DynamoDB's TTL would take 0 as long past). */
static const int64_t forever_s = 253402300799;

static const char *state_name[] = {"IDLE", "READING", "GENERATING", "WRITING", "DECRYPTING", "READY", "FAILED"};

/* The one place the start-up changes state; illegal moves are bugs. */
static void transition(hl_app_kms *k, hl_app_kms_state to) {
  static const unsigned allowed[] = {
    [HL_APP_KMS_IDLE] = HL_SM_TO(HL_APP_KMS_READING),
    [HL_APP_KMS_READING] = HL_SM_TO(HL_APP_KMS_DECRYPTING) | HL_SM_TO(HL_APP_KMS_GENERATING) | HL_SM_TO(HL_APP_KMS_FAILED),
    [HL_APP_KMS_GENERATING] = HL_SM_TO(HL_APP_KMS_WRITING) | HL_SM_TO(HL_APP_KMS_FAILED),
    [HL_APP_KMS_WRITING] = HL_SM_TO(HL_APP_KMS_READY) | HL_SM_TO(HL_APP_KMS_READING) | HL_SM_TO(HL_APP_KMS_FAILED),
    [HL_APP_KMS_DECRYPTING] = HL_SM_TO(HL_APP_KMS_READY) | HL_SM_TO(HL_APP_KMS_FAILED),
    [HL_APP_KMS_READY] = 0,
    [HL_APP_KMS_FAILED] = HL_SM_TO(HL_APP_KMS_READING), /* tried again */
  };
  hl_sm_check("kms data key", allowed, state_name, k->state, to);
  k->state = to;
}

static void finish(hl_app_kms *k, int status, const char *why) {
  transition(k, status == 0 ? HL_APP_KMS_READY : HL_APP_KMS_FAILED);
  hl_free(k->blob_b64);
  k->blob_b64 = NULL;
  if (why && why != k->why) snprintf(k->why, sizeof k->why, "%s", why);
  if (k->done) k->done(k->done_data, status, status == 0 ? NULL : k->why);
}

static void fail_kms(hl_app_kms *k, const char *call, const hl_aws_status *st) {
  char *why = k->why;
  snprintf(why, sizeof k->why, "HOOKLOOP_KMS_KEY_ID=%s: KMS %s failed (%s%s%s); check the key, its policy "
           "(kms:GenerateDataKey and kms:Decrypt), the credentials and AWS_ENDPOINT_URL_KMS",
           k->key_id, call, st->code[0] ? st->code : hl_aws_outcome_name(st->outcome), st->message[0] ? ": " : "",
           st->message);
  finish(k, HL_EREFUSED, why);
}

/* The data key seals; with HOOKLOOP_SECRET_KEY_FILE set as well (the
 * migration from a key file to KMS), the file's keys follow it and only
 * open: a record sealed with one of them is reported stale and written
 * again under the data key (api/hl_api_seal.c). */
static void use_key(hl_app_kms *k, const uint8_t *key) {
  hl_sealer_init(&k->sealer, (const uint8_t(*)[32])key, 1);
  k->sealer.source = "the KMS data key of HOOKLOOP_KMS_KEY_ID";
  const hl_sealer *old = k->migrate_from;
  for (size_t i = 0; old && i < old->nkeys && k->sealer.nkeys < HL_SEAL_MAX_KEYS; i++)
    k->sealer.keys[k->sealer.nkeys++] = old->keys[i];
  if (old) k->sealer.source = "the KMS data key of HOOKLOOP_KMS_KEY_ID and HOOKLOOP_SECRET_KEY_FILE";
}

static void read_blob(hl_app_kms *k);

static void on_decrypted(void *data, const hl_aws_status *st, const uint8_t *plaintext, size_t len,
                         const char *key_id) {
  (void)key_id;
  hl_app_kms *k = data;
  if (st->verdict != HL_AWS_VERDICT_OK) return fail_kms(k, "Decrypt", st);
  if (len != HL_KMS_DATA_KEY_LEN) {
    char why[300];
    snprintf(why, sizeof why, "HOOKLOOP_KMS_KEY_ID=%s: KMS Decrypt gave %zu bytes, not a 32-byte data key", k->key_id, len);
    return finish(k, HL_EINVAL, why);
  }
  use_key(k, plaintext);
  finish(k, 0, NULL);
}

static void on_written(void *data, int status, hl_store_result *res) {
  (void)res;
  hl_app_kms *k = data;
  if (status == HL_EEXISTS && !k->closing) { /* another process came first: use its key */
    mbedtls_platform_zeroize(&k->sealer, sizeof k->sealer);
    transition(k, HL_APP_KMS_READING);
    return read_blob(k);
  }
  if (status != 0) {
    mbedtls_platform_zeroize(&k->sealer, sizeof k->sealer);
    return finish(k, status, "HOOKLOOP_KMS_KEY_ID: the encrypted data key could not be written to the store");
  }
  finish(k, 0, NULL);
}

static void on_generated(void *data, const hl_aws_status *st, const hl_kms_data_key *key) {
  hl_app_kms *k = data;
  if (st->verdict != HL_AWS_VERDICT_OK) return fail_kms(k, "GenerateDataKey", st);
  hl_buf b = HL_BUF_INIT;
  hl_base64_encode(&b, key->ciphertext, key->ciphertext_len);
  k->blob_b64 = hl_buf_steal(&b, NULL);
  use_key(k, key->plaintext); /* kept only once the ciphertext is stored */
  transition(k, HL_APP_KMS_WRITING);
  k->store->vt->ledger_put(k->store, HL_APP_KMS_LEDGER_KEY, k->blob_b64, forever_s, false, on_written, k);
}

static void on_read(void *data, int status, hl_store_result *res) {
  hl_app_kms *k = data;
  char err[256] = "";
  if (k->closing) return finish(k, HL_ECANCELED, "HOOKLOOP_KMS_KEY_ID: closed before the data key came");
  if (status == HL_ENOTFOUND) {
    transition(k, HL_APP_KMS_GENERATING);
    if (hl_kms_generate_data_key(&k->client, k->key_id, kms_ctx, HL_ARRAY_SIZE(kms_ctx), on_generated, k, err,
                                 sizeof err) == 0)
      return;
  } else if (status != 0) {
    return finish(k, status, "HOOKLOOP_KMS_KEY_ID: the encrypted data key could not be read from the store");
  } else {
    const char *v = res && res->value ? res->value : "";
    size_t n = strlen(v);
    uint8_t blob[HL_KMS_CIPHERTEXT_MAX];
    int len = n <= HL_BASE64_DECODED_MAX(HL_KMS_CIPHERTEXT_MAX) ? hl_base64_decode(v, n, blob, sizeof blob) : -1;
    transition(k, HL_APP_KMS_DECRYPTING);
    /* With the key named, KMS refuses a blob of another key rather than
     * decrypting under whatever key made it (AWS's advice for Decrypt). */
    if (len > 0 && hl_kms_decrypt(&k->client, blob, (size_t)len, k->key_id, kms_ctx, HL_ARRAY_SIZE(kms_ctx), on_decrypted,
                                  k, err, sizeof err) == 0)
      return;
    if (len <= 0) snprintf(err, sizeof err, "the stored ciphertext (%s) is not base64", HL_APP_KMS_LEDGER_KEY);
  }
  char why[400];
  snprintf(why, sizeof why, "HOOKLOOP_KMS_KEY_ID=%s: %s", k->key_id, err);
  finish(k, HL_EINVAL, why);
}

static void read_blob(hl_app_kms *k) { k->store->vt->ledger_get(k->store, HL_APP_KMS_LEDGER_KEY, on_read, k); }

int hl_app_kms_init(hl_app_kms *k, uv_loop_t *loop, hl_curl_uv *curl, hl_store *store, const hl_config *cfg,
                    char *err, size_t errlen) {
  memset(k, 0, sizeof *k);
  k->store = store;
  hl_buf url = HL_BUF_INIT;
  const char *src = hl_aws_endpoint_resolve(HL_AWS_KMS, cfg->aws_region, NULL, NULL, NULL, NULL, &url);
  if (!src) {
    snprintf(err, errlen, "HOOKLOOP_KMS_KEY_ID needs AWS_REGION (or AWS_ENDPOINT_URL_KMS or AWS_ENDPOINT_URL)");
    hl_buf_dispose(&url);
    return HL_EINVAL;
  }
  hl_aws_creds_env env = hl_app_creds_env(cfg);
  char e[256] = "";
  int rc = hl_aws_creds_init(&k->creds, loop, curl, &env, e, sizeof e);
  if (rc == 0) {
    hl_aws_client_opts o = {.svc = hl_kms_service, .endpoint = url.data,
                            .region = cfg->aws_region && *cfg->aws_region ? cfg->aws_region : "us-east-1",
                            .sensitive = true, .max_attempts = 4};
    rc = hl_aws_client_init(&k->client, loop, curl, &k->creds, &o, src, e, sizeof e);
    if (rc != 0) hl_aws_creds_close(&k->creds, NULL, NULL);
  }
  hl_buf_dispose(&url);
  if (rc != 0) {
    snprintf(err, errlen, "HOOKLOOP_KMS_KEY_ID: %s", e);
    return rc;
  }
  k->key_id = hl_strdup(cfg->kms_key_id);
  k->migrate_from = cfg->sealer;
  return 0;
}

void hl_app_kms_start(hl_app_kms *k, void (*done)(void *data, int status, const char *why), void *data) {
  k->done = done;
  k->done_data = data;
  transition(k, HL_APP_KMS_READING);
  read_blob(k);
}

static void on_creds_closed(void *data) {
  hl_app_kms *k = data;
  if (k->close_cb) k->close_cb(k->close_data);
}

static void on_client_closed(void *data) {
  hl_app_kms *k = data;
  hl_aws_creds_close(&k->creds, on_creds_closed, k);
}

void hl_app_kms_close(hl_app_kms *k, void (*cb)(void *data), void *data) {
  k->close_cb = cb;
  k->close_data = data;
  k->done = NULL; /* a start still running reports to no one */
  k->closing = true;
  hl_sealer_dispose(&k->sealer);
  hl_free(k->key_id);
  k->key_id = NULL;
  hl_aws_client_close(&k->client, on_client_closed, k);
}
