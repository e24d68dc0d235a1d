#include "aws/hl_aws_kms.h"

#include <mbedtls/platform_util.h>
#include <stdio.h>
#include <string.h>

#include "common/hl_common.h"
#include "crypto/hl_crypto.h"
#include "json/hl_json.h"

const hl_aws_service hl_kms_service = {"kms", "application/x-amz-json-1.1", &hl_aws_protocol_json};

static int key_id_check(const char *key_id, bool required, char *err, size_t errlen) {
  size_t n = key_id ? strlen(key_id) : 0;
  if ((required && n == 0) || n > 2048 || (n && hl_aws_text_check(key_id, n, NULL) != 0)) {
    snprintf(err, errlen, "the KMS key id must be 1 to 2048 characters (an id, ARN or alias)");
    return HL_EINVAL;
  }
  return 0;
}

static int ctx_write(hl_jw *w, const hl_aws_attr *ctx, size_t n, char *err, size_t errlen) {
  for (size_t i = 0; i < n; i++)
    if (!ctx[i].name || !*ctx[i].name || !ctx[i].value) {
      snprintf(err, errlen, "encryption context pair %zu has no name or no value", i);
      return HL_EINVAL;
    }
  if (!n) return 0;
  hl_jw_key_obj(w, "EncryptionContext");
  for (size_t i = 0; i < n; i++) {
    hl_jw_key(w, ctx[i].name);
    hl_jw_str(w, ctx[i].value);
  }
  hl_jw_obj_end(w);
  return 0;
}

int hl_kms_generate_data_key_body(const char *key_id, const hl_aws_attr *ctx, size_t n_ctx, hl_buf *body,
                                  char *err, size_t errlen) {
  if (key_id_check(key_id, true, err, errlen) != 0) return HL_EINVAL;
  hl_jw w;
  hl_jw_open(&w, body);
  hl_jw_key(&w, "KeyId");
  hl_jw_str(&w, key_id);
  hl_jw_key(&w, "KeySpec");
  hl_jw_str(&w, "AES_256");
  if (ctx_write(&w, ctx, n_ctx, err, errlen) != 0) return HL_EINVAL;
  hl_jw_obj_end(&w);
  return 0;
}

int hl_kms_decrypt_body(const uint8_t *ciphertext, size_t len, const char *key_id, const hl_aws_attr *ctx,
                        size_t n_ctx, hl_buf *body, char *err, size_t errlen) {
  if (len == 0 || len > HL_KMS_CIPHERTEXT_MAX) {
    snprintf(err, errlen, "a KMS ciphertext has 1 to %d bytes (got %zu)", HL_KMS_CIPHERTEXT_MAX, len);
    return HL_EINVAL;
  }
  if (key_id_check(key_id, false, err, errlen) != 0) return HL_EINVAL;
  hl_buf b64 = HL_BUF_INIT;
  hl_base64_encode(&b64, ciphertext, len);
  hl_jw w;
  hl_jw_open(&w, body);
  hl_jw_key(&w, "CiphertextBlob");
  hl_jw_strn(&w, b64.data, b64.len);
  hl_buf_dispose(&b64);
  if (key_id) {
    hl_jw_key(&w, "KeyId");
    hl_jw_str(&w, key_id);
  }
  if (ctx_write(&w, ctx, n_ctx, err, errlen) != 0) return HL_EINVAL;
  hl_jw_obj_end(&w);
  return 0;
}

typedef struct {
  hl_kms_data_key_cb key_cb;
  hl_kms_decrypt_cb dec_cb;
  void *data;
} kms_call;

static void malformed(hl_aws_status *st, const char *what) {
  st->outcome = HL_AWS_OTHER;
  st->verdict = HL_AWS_VERDICT_FAIL;
  st->retryable = false;
  snprintf(st->code, sizeof st->code, "MalformedResponse");
  snprintf(st->message, sizeof st->message, "%s", what);
}

/* Decodes the base64 member name of resp into out (cap bytes); -1 when
 * absent or malformed. */
static int b64_member(const hl_json *resp, const char *name, uint8_t *out, size_t cap) {
  const hl_json *v = hl_json_get(resp, name);
  if (!v || v->type != HL_JSON_STRING) return -1;
  int n = hl_base64_decode(v->u.str, v->len, out, cap);
  return n < 0 ? -1 : n;
}

static void on_data_key(void *data, const hl_aws_status *st, const hl_json *resp) {
  kms_call kc = *(kms_call *)data;
  hl_free(data);
  if (st->verdict != HL_AWS_VERDICT_OK) {
    kc.key_cb(kc.data, st, NULL);
    return;
  }
  hl_kms_data_key key;
  memset(&key, 0, sizeof key);
  uint8_t pt[HL_BASE64_DECODED_MAX(64)];
  uint8_t *ct = hl_malloc(HL_KMS_CIPHERTEXT_MAX);
  int pn = b64_member(resp, "Plaintext", pt, sizeof pt);
  int cn = b64_member(resp, "CiphertextBlob", ct, HL_KMS_CIPHERTEXT_MAX);
  if (pn != HL_KMS_DATA_KEY_LEN || cn <= 0) {
    hl_aws_status bad = *st;
    malformed(&bad, "GenerateDataKey answered without a 32-byte Plaintext and a CiphertextBlob");
    kc.key_cb(kc.data, &bad, NULL);
  } else {
    memcpy(key.plaintext, pt, HL_KMS_DATA_KEY_LEN);
    key.ciphertext = ct;
    key.ciphertext_len = (size_t)cn;
    key.key_id = hl_json_str(hl_json_get(resp, "KeyId"));
    kc.key_cb(kc.data, st, &key);
  }
  mbedtls_platform_zeroize(pt, sizeof pt);
  mbedtls_platform_zeroize(&key, sizeof key);
  hl_free(ct);
}

static void on_decrypt(void *data, const hl_aws_status *st, const hl_json *resp) {
  kms_call kc = *(kms_call *)data;
  hl_free(data);
  if (st->verdict != HL_AWS_VERDICT_OK) {
    kc.dec_cb(kc.data, st, NULL, 0, NULL);
    return;
  }
  uint8_t *pt = hl_malloc(HL_KMS_PLAINTEXT_MAX);
  int pn = b64_member(resp, "Plaintext", pt, HL_KMS_PLAINTEXT_MAX);
  if (pn <= 0) {
    hl_aws_status bad = *st;
    malformed(&bad, "Decrypt answered without a Plaintext");
    kc.dec_cb(kc.data, &bad, NULL, 0, NULL);
  } else {
    kc.dec_cb(kc.data, st, pt, (size_t)pn, hl_json_str(hl_json_get(resp, "KeyId")));
  }
  mbedtls_platform_zeroize(pt, HL_KMS_PLAINTEXT_MAX);
  hl_free(pt);
}

static int sensitive_client(const hl_aws_client *c, char *err, size_t errlen) {
  if (c->opt.sensitive) return 0;
  snprintf(err, errlen, "the KMS client must be made with `sensitive` set: its answers carry plaintext keys");
  return HL_EINVAL;
}

/* Sends a body built by build (with the call's arguments) once the client
 * is known to wipe its answers. */
static int kms_call_start(hl_aws_client *c, const char *target, hl_buf *body, int built, kms_call kc,
                          hl_aws_json_cb on_answer, char *err, size_t errlen) {
  if (built != 0 || sensitive_client(c, err, errlen) != 0) {
    hl_buf_dispose(body);
    return HL_EINVAL;
  }
  kms_call *heap = hl_malloc(sizeof *heap);
  *heap = kc;
  hl_aws_client_call_json(c, target, body, NULL, on_answer, heap);
  return 0;
}

int hl_kms_generate_data_key(hl_aws_client *c, const char *key_id, const hl_aws_attr *ctx, size_t n_ctx,
                             hl_kms_data_key_cb cb, void *data, char *err, size_t errlen) {
  hl_buf body = HL_BUF_INIT;
  int rc = hl_kms_generate_data_key_body(key_id, ctx, n_ctx, &body, err, errlen);
  return kms_call_start(c, "TrentService.GenerateDataKey", &body, rc, (kms_call){cb, NULL, data}, on_data_key, err,
                        errlen);
}

int hl_kms_decrypt(hl_aws_client *c, const uint8_t *ciphertext, size_t len, const char *key_id,
                   const hl_aws_attr *ctx, size_t n_ctx, hl_kms_decrypt_cb cb, void *data, char *err, size_t errlen) {
  hl_buf body = HL_BUF_INIT;
  int rc = hl_kms_decrypt_body(ciphertext, len, key_id, ctx, n_ctx, &body, err, errlen);
  return kms_call_start(c, "TrentService.Decrypt", &body, rc, (kms_call){NULL, cb, data}, on_decrypt, err, errlen);
}
