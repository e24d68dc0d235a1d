/* hl_app_kms.c — the KMS data keys of HOOKLOOP_KMS_KEY_ID (hl_app_kms.h).
 *
 *   IDLE → READING ─legacy row found→ DECRYPTING → GENERATING → READY ⇄ ROTATING
 *             └─absent────────────────────────────────┘
 *   a start-up step failing → FAILED (→ READING when started again)
 *
 * ROTATING failing keeps the key in hand and tries again soon: writes go
 * on, sealed under a key a little older than the TTL, rather than failing.
 * Opens (Decrypt of the data keys records carry) run beside all this, each
 * its own job.
 */
#include "app/hl_app_kms.h"

#include <mbedtls/platform_util.h>
#include <stdio.h>
#include <string.h>

#include "app/hl_app_store.h"
#include "aws/hl_aws_endpoint.h"
#include "aws/hl_aws_kms.h"
#include "common/hl_common.h"
#include "common/hl_log.h"
#include "common/hl_sm.h"
#include "crypto/hl_crypto.h"

/* Binds a data key's ciphertext to its use: a blob made for something else
 * does not decrypt here (and CloudTrail shows what each call was for). */
static const hl_aws_attr kms_ctx[] = {{"hookloop", "subscription-credentials"}};
#define RETRY_MS 30000u    /* after a failed rotation (or the TTL, if shorter) */
#define OPEN_IN_FLIGHT 4   /* Decrypt calls at once per open */

static const char *state_name[] = {"IDLE", "READING", "DECRYPTING", "GENERATING", "READY", "ROTATING", "FAILED"};

/* The one place the data key's life changes state; illegal moves are bugs. */
static void transition(hl_app_kms *k, hl_app_kms_state to) {
  static const unsigned allowed[] = {
    [HL_APP_KMS_IDLE] = HL_SM_TO(HL_APP_KMS_READING),
    [HL_APP_KMS_READING] = HL_SM_TO(HL_APP_KMS_DECRYPTING) | HL_SM_TO(HL_APP_KMS_GENERATING) | HL_SM_TO(HL_APP_KMS_FAILED),
    [HL_APP_KMS_DECRYPTING] = HL_SM_TO(HL_APP_KMS_GENERATING) | HL_SM_TO(HL_APP_KMS_FAILED),
    [HL_APP_KMS_GENERATING] = HL_SM_TO(HL_APP_KMS_READY) | HL_SM_TO(HL_APP_KMS_FAILED),
    [HL_APP_KMS_READY] = HL_SM_TO(HL_APP_KMS_ROTATING),
    [HL_APP_KMS_ROTATING] = HL_SM_TO(HL_APP_KMS_READY),
    [HL_APP_KMS_FAILED] = HL_SM_TO(HL_APP_KMS_READING), /* tried again */
  };
  hl_sm_check("kms data key", allowed, state_name, k->state, to);
  k->state = to;
}

static void kms_error(hl_app_kms *k, const char *call, const hl_aws_status *st, char *out, size_t len) {
  snprintf(out, len, "HOOKLOOP_KMS_KEY_ID=%s: KMS %s failed (%s%s%s); check the key, its policy "
           "(kms:GenerateDataKey and kms:Decrypt), the credentials and AWS_ENDPOINT_URL_KMS",
           k->key_id ? k->key_id : "", call, st->code[0] ? st->code : hl_aws_outcome_name(st->outcome),
           st->message[0] ? ": " : "", st->message);
}

static void on_timer(uv_timer_t *t);

static void arm(hl_app_kms *k, uint64_t ms) {
  if (!k->closing) uv_timer_start(&k->timer, on_timer, ms, 0);
}

static void finish(hl_app_kms *k, int status, const char *why) {
  transition(k, status == 0 ? HL_APP_KMS_READY : HL_APP_KMS_FAILED);
  if (why && why != k->why) snprintf(k->why, sizeof k->why, "%s", why);
  if (status == 0) arm(k, k->ttl_ms);
  if (k->done) k->done(k->done_data, status, status == 0 ? NULL : k->why);
}

/* The sealer with the keys that open v1 values: the legacy data key (or
 * none), then HOOKLOOP_SECRET_KEY_FILE's keys when migrating. */
static void v1_keys(hl_app_kms *k, const uint8_t *legacy) {
  hl_sealer_dispose(&k->sealer);
  hl_sealer_init(&k->sealer, (const uint8_t(*)[32])legacy, legacy ? 1 : 0);
  k->sealer.source = "the KMS data key of HOOKLOOP_KMS_KEY_ID";
  const hl_sealer *old = k->migrate_from;
  for (size_t i = 0; old && i < old->nkeys && k->sealer.nkeys < HL_SEAL_MAX_KEYS; i++)
    k->sealer.keys[k->sealer.nkeys++] = old->keys[i];
  if (old) k->sealer.source = "the KMS data key of HOOKLOOP_KMS_KEY_ID and HOOKLOOP_SECRET_KEY_FILE";
}

static void on_generated(void *data, const hl_aws_status *st, const hl_kms_data_key *key) {
  hl_app_kms *k = data;
  char why[700];
  bool rotating = k->state == HL_APP_KMS_ROTATING;
  if (rotating && k->closing) return transition(k, HL_APP_KMS_READY); /* canceled by the close */
  if (st->verdict != HL_AWS_VERDICT_OK) {
    kms_error(k, "GenerateDataKey", st, why, sizeof why);
    if (!rotating) return finish(k, HL_EREFUSED, why);
    transition(k, HL_APP_KMS_READY);
    hl_log_warn("could not make the next KMS data key; the current one seals meanwhile", "\"error\":\"%s\"",
                hl_log_esc(why, (size_t)-1));
    arm(k, k->ttl_ms < RETRY_MS ? k->ttl_ms : RETRY_MS);
    return;
  }
  hl_buf b = HL_BUF_INIT;
  hl_base64_encode(&b, key->ciphertext, key->ciphertext_len);
  hl_sealer_set_current(&k->sealer, key->plaintext, b.data, hl_mono_ms() + k->ttl_ms); /* the old one is wiped */
  hl_buf_dispose(&b);
  k->generated++;
  if (!rotating) return finish(k, 0, NULL);
  transition(k, HL_APP_KMS_READY);
  hl_log_info("KMS data key replaced; new credentials are sealed with it", "\"data_key\":\"%s\"", k->sealer.current.id);
  arm(k, k->ttl_ms);
}

static void generate(hl_app_kms *k) {
  char err[256] = "", why[400];
  if (hl_kms_generate_data_key(&k->client, k->key_id, kms_ctx, HL_ARRAY_SIZE(kms_ctx), on_generated, k, err,
                               sizeof err) == 0)
    return;
  snprintf(why, sizeof why, "HOOKLOOP_KMS_KEY_ID=%s: %s", k->key_id, err);
  if (k->state == HL_APP_KMS_ROTATING) { /* cannot happen once the first call was made; kept safe */
    transition(k, HL_APP_KMS_READY);
    arm(k, RETRY_MS);
    return;
  }
  finish(k, HL_EINVAL, why);
}

/* Every TTL: opened keys past their time go, and a new data key seals. */
static void on_timer(uv_timer_t *t) {
  hl_app_kms *k = hl_container_of(t, hl_app_kms, timer);
  if (k->closing || k->state != HL_APP_KMS_READY) return;
  if (!k->pins) hl_sealer_expire(&k->sealer, hl_mono_ms(), HL_APP_KMS_OPEN_MAX);
  transition(k, HL_APP_KMS_ROTATING);
  generate(k);
}

static void on_legacy_decrypted(void *data, const hl_aws_status *st, const uint8_t *plaintext, size_t len,
                                const char *key_id) {
  (void)key_id;
  hl_app_kms *k = data;
  char why[700];
  if (st->verdict != HL_AWS_VERDICT_OK) {
    kms_error(k, "Decrypt", st, why, sizeof why);
    return finish(k, HL_EREFUSED, why);
  }
  if (len != HL_KMS_DATA_KEY_LEN) {
    snprintf(why, sizeof why, "HOOKLOOP_KMS_KEY_ID=%s: KMS Decrypt gave %zu bytes, not a 32-byte data key", k->key_id, len);
    return finish(k, HL_EINVAL, why);
  }
  k->decrypted++;
  v1_keys(k, plaintext);
  transition(k, HL_APP_KMS_GENERATING);
  generate(k);
}

/* The data key older versions kept in the ledger (and sealed v1 values
 * with): opening only. */
static void on_read(void *data, int status, hl_store_result *res) {
  hl_app_kms *k = data;
  char err[256] = "", why[400];
  if (k->closing) return finish(k, HL_ECANCELED, "HOOKLOOP_KMS_KEY_ID: closed before the data key came");
  if (status == HL_ENOTFOUND) {
    v1_keys(k, NULL);
    transition(k, HL_APP_KMS_GENERATING);
    return generate(k);
  }
  if (status != 0)
    return finish(k, status, "HOOKLOOP_KMS_KEY_ID: the encrypted data key could not be read from the store");
  const char *v = res && res->value ? res->value : "";
  size_t n = strlen(v);
  uint8_t blob[HL_KMS_CIPHERTEXT_MAX];
  int len = n <= HL_BASE64_DECODED_MAX(HL_KMS_CIPHERTEXT_MAX) ? hl_base64_decode(v, n, blob, sizeof blob) : -1;
  transition(k, HL_APP_KMS_DECRYPTING);
  /* With the key named, KMS refuses a blob of another key rather than
   * decrypting under whatever key made it (AWS's advice for Decrypt). */
  if (len > 0 && hl_kms_decrypt(&k->client, blob, (size_t)len, k->key_id, kms_ctx, HL_ARRAY_SIZE(kms_ctx),
                                on_legacy_decrypted, k, err, sizeof err) == 0)
    return;
  if (len <= 0) snprintf(err, sizeof err, "the stored ciphertext (%s) is not base64", HL_APP_KMS_LEDGER_KEY);
  snprintf(why, sizeof why, "HOOKLOOP_KMS_KEY_ID=%s: %s", k->key_id, err);
  finish(k, HL_EINVAL, why);
}

/* --- opening the data keys records carry ------------------------------------------------- */

typedef struct {
  hl_app_kms *k;
  char **blobs; /* those not in hand, each once */
  size_t n, next, in_flight;
  int status;
  char why[700];
  void (*done)(void *data, int status, const char *why);
  void *data;
} open_job;

typedef struct { open_job *job; size_t i; } open_call;

static void open_more(open_job *j);

static void on_opened(void *data, const hl_aws_status *st, const uint8_t *plaintext, size_t len, const char *key_id) {
  (void)key_id;
  open_call *c = data;
  open_job *j = c->job;
  hl_app_kms *k = j->k;
  const char *blob = j->blobs[c->i];
  hl_free(c);
  j->in_flight--;
  if (k->closing) {
    /* Canceled by the close: not KMS refusing (nobody reports this one). */
    if (j->status == 0) j->status = HL_ECANCELED;
  } else if (st->verdict == HL_AWS_VERDICT_OK && len == HL_KMS_DATA_KEY_LEN) {
    hl_sealer_add_opened(&k->sealer, plaintext, blob, hl_mono_ms() + k->ttl_ms);
    k->decrypted++;
  } else if (st->verdict == HL_AWS_VERDICT_OK || strcmp(st->code, "InvalidCiphertextException") == 0 ||
             strcmp(st->code, "IncorrectKeyException") == 0) {
    /* This one value is not a data key of this KMS key (altered, or made
     * elsewhere): its records do not open, and say so; the others do. */
    hl_log_warn("a sealed value carries a data key KMS does not decrypt under HOOKLOOP_KMS_KEY_ID; its "
                "subscription is not loaded", "\"code\":\"%s\"", hl_log_esc(st->code, (size_t)-1));
  } else if (j->status == 0) {
    j->status = HL_EREFUSED;
    kms_error(k, "Decrypt", st, j->why, sizeof j->why);
  }
  open_more(j);
}

static void open_more(open_job *j) {
  hl_app_kms *k = j->k;
  while (j->status == 0 && j->next < j->n && j->in_flight < OPEN_IN_FLIGHT) {
    size_t i = j->next++;
    char err[256] = "";
    uint8_t raw[HL_KMS_CIPHERTEXT_MAX];
    size_t n = strlen(j->blobs[i]);
    int len = k->closing ? -1
              : n <= HL_BASE64_DECODED_MAX(HL_KMS_CIPHERTEXT_MAX) ? hl_base64_decode(j->blobs[i], n, raw, sizeof raw) : 0;
    if (len < 0) {
      j->status = HL_ECANCELED;
      snprintf(j->why, sizeof j->why, "HOOKLOOP_KMS_KEY_ID: closing");
      break;
    }
    if (len == 0) continue; /* not base64: its records say so when they do not open */
    open_call *c = hl_calloc(1, sizeof *c);
    *c = (open_call){j, i};
    if (hl_kms_decrypt(&k->client, raw, (size_t)len, k->key_id, kms_ctx, HL_ARRAY_SIZE(kms_ctx), on_opened, c, err,
                       sizeof err) != 0) {
      hl_free(c);
      j->status = HL_EINVAL;
      snprintf(j->why, sizeof j->why, "HOOKLOOP_KMS_KEY_ID=%s: %s", k->key_id, err);
      break;
    }
    j->in_flight++;
  }
  if (j->in_flight || (j->status == 0 && j->next < j->n)) return;
  if (j->status != HL_ECANCELED) snprintf(k->open_why, sizeof k->open_why, "%s", j->status ? j->why : "");
  if (j->status && j->status != HL_ECANCELED)
    hl_log_error("could not open the KMS data keys of sealed subscription credentials", "\"error\":\"%s\"",
                 hl_log_esc(j->why, (size_t)-1));
  j->done(j->data, j->status, j->status ? j->why : NULL);
  for (size_t i = 0; i < j->n; i++) hl_free(j->blobs[i]);
  hl_free(j->blobs);
  hl_free(j);
}

static void kms_open(hl_seal_opener *o, const char *const *blobs, size_t n,
                     void (*done)(void *data, int status, const char *why), void *data) {
  hl_app_kms *k = (hl_app_kms *)o;
  open_job *j = hl_calloc(1, sizeof *j);
  j->k = k;
  j->done = done;
  j->data = data;
  j->blobs = hl_calloc(n + 1, sizeof *j->blobs);
  for (size_t i = 0; i < n; i++) {
    bool dup = hl_sealer_has_blob(&k->sealer, blobs[i], strlen(blobs[i]));
    for (size_t m = 0; m < j->n && !dup; m++) dup = strcmp(j->blobs[m], blobs[i]) == 0;
    if (!dup) j->blobs[j->n++] = hl_strdup(blobs[i]);
  }
  k->pins++;
  open_more(j); /* nothing to ask: done runs now */
}

static void kms_release(hl_seal_opener *o) {
  hl_app_kms *k = (hl_app_kms *)o;
  if (k->pins && --k->pins == 0) hl_sealer_expire(&k->sealer, hl_mono_ms(), HL_APP_KMS_OPEN_MAX);
}

bool hl_app_kms_ready(const hl_app_kms *k) { return k->state == HL_APP_KMS_READY || k->state == HL_APP_KMS_ROTATING; }

const char *hl_app_kms_open_failure(const hl_app_kms *k) { return k->open_why[0] ? k->open_why : NULL; }

/* --- life ------------------------------------------------------------------------------------ */

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
  k->opener = (hl_seal_opener){kms_open, kms_release};
  k->key_id = hl_strdup(cfg->kms_key_id);
  k->migrate_from = cfg->sealer;
  k->ttl_ms = (uint64_t)(cfg->kms_data_key_ttl_s > 0 ? cfg->kms_data_key_ttl_s : 3600) * 1000;
  uv_timer_init(loop, &k->timer);
  uv_unref((uv_handle_t *)&k->timer); /* never keeps a loop alive on its own */
  return 0;
}

void hl_app_kms_start(hl_app_kms *k, void (*done)(void *data, int status, const char *why), void *data) {
  k->done = done;
  k->done_data = data;
  transition(k, HL_APP_KMS_READING);
  k->store->vt->ledger_get(k->store, HL_APP_KMS_LEDGER_KEY, on_read, k);
}

static void on_creds_closed(void *data) {
  hl_app_kms *k = data;
  if (k->close_cb) k->close_cb(k->close_data);
}

static void on_client_closed(void *data) {
  hl_app_kms *k = data;
  hl_aws_creds_close(&k->creds, on_creds_closed, k);
}

static void on_timer_closed(uv_handle_t *h) {
  hl_app_kms *k = hl_container_of((uv_timer_t *)h, hl_app_kms, timer);
  hl_aws_client_close(&k->client, on_client_closed, k);
}

void hl_app_kms_close(hl_app_kms *k, void (*cb)(void *data), void *data) {
  k->close_cb = cb;
  k->close_data = data;
  k->done = NULL; /* a start still running reports to no one */
  k->closing = true;
  hl_sealer_dispose(&k->sealer);
  hl_free(k->key_id);
  k->key_id = NULL;
  uv_close((uv_handle_t *)&k->timer, on_timer_closed);
}
