/* How a subscription signs: "signing": "hmac" (the default, "v1,"
 * signatures with a shared "whsec_" secret) or "ed25519" (Standard
 * Webhooks "v1a," signatures; crypto/hl_webhook_ed25519.h). For ed25519
 * hookloop makes the key pair: the secret keys ("whsk_...") live in
 * hl_sub_rec.secret, sealed at rest like an HMAC secret and never shown;
 * the public keys ("whpk_...") are shown on create, in the subscription's
 * answer ("secrets"), and by GET /admin/subscriptions/{id}/public-key. */
#include "api/hl_api_int.h"
#include "common/hl_common.h"
#include "crypto/hl_webhook_ed25519.h"
#include "crypto/hl_webhook_sig.h"
#include "model/hl_sub_secrets.h"

#include <string.h>

#define ED25519 "ed25519"

/* The newest active key's public key, malloc'd, or NULL. */
static char *newest_public_key(const char *stored) {
  int64_t until;
  char *active = hl_sub_secrets_active(stored, hl_wall_ms() / 1000, &until);
  size_t len = 0;
  const char *first = hl_webhook_next_entry(active, &len);
  char *pk = first ? hl_webhook_ed25519_public_of(first, len) : NULL;
  explicit_bzero(active, strlen(active));
  hl_free(active);
  return pk;
}

int hl_api_sub_signing_parse(hl_http_req *req, const hl_json *root, const hl_sub_rec *registered, hl_sub_rec *rec) {
  const hl_json *v = hl_json_get(root, "signing");
  if (!v || v->type == HL_JSON_NULL) return 0;
  const char *mode = hl_json_str(v);
  if (mode && strcmp(mode, "hmac") == 0) return 0;
  if (!mode || strcmp(mode, ED25519) != 0) {
    hl_api_respond_field_error(req, "/signing", "expected \"hmac\" (the default) or \"ed25519\"");
    return -1;
  }
  if (rec->destination_json) {
    hl_api_respond_field_error(req, "/signing", "only HTTP subscriptions are signed; a destination carries no signature");
    return -1;
  }
  const hl_json *sec = hl_json_get(root, "secret");
  if (sec && sec->type != HL_JSON_NULL) {
    hl_api_respond_field_error(req, "/secret",
                               "an ed25519 subscription's key pair is made by hookloop; leave secret out and give "
                               "partners the public key");
    return -1;
  }
  rec->signing = hl_strdup(ED25519);
  /* Registering the same partner and event type again keeps the key pair
   * (partners hold its public key); POST .../secret/rotate replaces it. */
  if (registered && hl_sub_rec_signs_ed25519(registered) && registered->secret)
    rec->secret = hl_strdup(registered->secret);
  if (!rec->secret) {
    char *pk = NULL;
    hl_webhook_ed25519_keypair(&rec->secret, &pk);
    hl_free(pk);
  }
  return 1;
}

void hl_api_write_signing(hl_jw *w, const hl_sub_rec *r) {
  hl_jw_key(w, "signing");
  hl_jw_str(w, hl_sub_rec_signs_ed25519(r) ? ED25519 : "hmac");
  char *pk = hl_sub_rec_signs_ed25519(r) ? newest_public_key(r->secret) : NULL;
  if (pk) { hl_jw_key(w, "public_key"); hl_jw_str(w, pk); }
  hl_free(pk);
}

void hl_api_sub_public_key(hl_api *a, hl_http_req *req, const char *id) {
  hl_sub *s = hl_api_sub_or_404(a, req, id);
  if (!s) return;
  if (!hl_sub_rec_signs_ed25519(&s->rec)) {
    hl_api_respond_error(req, 409, "hmac_signing",
                         "the subscription signs with HMAC (a shared secret) and has no public key; register it "
                         "with \"signing\": \"ed25519\" for one",
                         NULL);
    return;
  }
  hl_buf b = HL_BUF_INIT;
  hl_jw w;
  hl_jw_open(&w, &b);
  hl_jw_key(&w, "subscription_id"); hl_jw_str(&w, s->rec.subscription_id);
  hl_api_write_signing(&w, &s->rec);
  /* During a rotation's overlap deliveries carry a signature under each
   * of these; a partner may trust any of them until its expires_at. */
  hl_jw_key(&w, "public_keys"); hl_sub_secrets_describe(s->rec.secret, hl_wall_ms() / 1000, &w);
  hl_jw_obj_end(&w);
  hl_api_respond_buf(req, 200, &b);
}
