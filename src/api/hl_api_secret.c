/* POST /admin/subscriptions/{id}/secret/rotate: a fresh signing secret,
 * shown once, signing next to the previous ones for an overlap window
 * (model/hl_sub_secrets.h). For an ed25519 subscription a fresh key pair:
 * its public key is shown, its secret key never. */
#include "api/hl_api_int.h"
#include "common/hl_common.h"
#include "common/hl_log.h"
#include "crypto/hl_webhook_ed25519.h"
#include "crypto/hl_webhook_sig.h"
#include "model/hl_sub_ed25519.h"
#include "model/hl_sub_secrets.h"

#include <string.h>

#define OVERLAP_DEFAULT_S 86400      /* 24 h, as Standard Webhooks platforms keep the previous secret */
#define OVERLAP_MAX_S (30 * 86400)

typedef struct {
  hl_api *a;
  hl_http_req *req;
  char *id, *fresh, *stored;
  char *fresh_public; /* ed25519: the fresh key's public key, shown instead of it */
} rotate_ctx;

static void wipe_free(char *s) {
  if (s) explicit_bzero(s, strlen(s));
  hl_free(s);
}

static void on_rotated(void *data, int status, hl_store_result *res) {
  rotate_ctx *c = data;
  (void)res;
  c->a->pending--;
  hl_sub *s = status == 0 ? hl_registry_sub_get(c->a->reg, c->id) : NULL;
  if (status == HL_ECONFLICT) {
    /* Nothing rotated: the fresh secret is never shown. */
    hl_api_respond_sub_changed(c->req);
  } else if (status != 0) {
    hl_api_respond_store_error(c->req, status);
  } else if (!s) {
    hl_api_respond_error(c->req, 409, "conflict", "the subscription was deleted while its secret was rotated", NULL);
  } else {
    /* In place: the subscription keeps its deliveries and limits; its
     * signer is prepared again from the new list at the next send. */
    wipe_free(s->rec.secret);
    s->rec.secret = c->stored;
    c->stored = NULL;
    if (s->signer) hl_webhook_signer_dispose(s->signer);
    hl_free(s->signer);
    s->signer = NULL;
    s->signer_unusable = false;
    hl_sub_ed25519_drop(s); /* wipes the expanded keys */
    hl_buf b = HL_BUF_INIT;
    hl_jw w;
    hl_jw_init(&w, &b);
    hl_jw_obj_begin(&w);
    hl_jw_key(&w, "subscription_id"); hl_jw_str(&w, c->id);
    if (c->fresh_public) { hl_jw_key(&w, "public_key"); hl_jw_str(&w, c->fresh_public); }
    else { hl_jw_key(&w, "secret"); hl_jw_str(&w, c->fresh); }
    hl_jw_key(&w, "secrets"); hl_sub_secrets_describe(s->rec.secret, hl_wall_ms() / 1000, &w);
    hl_jw_obj_end(&w);
    hl_log_info("subscription secret rotated", "\"subscription_id\":\"%s\"", hl_log_esc(c->id, (size_t)-1));
    hl_api_respond_buf(c->req, 200, &b);
  }
  wipe_free(c->stored);
  wipe_free(c->fresh);
  hl_free(c->fresh_public);
  hl_free(c->id);
  hl_free(c);
}

void hl_api_rotate_secret(hl_api *a, hl_http_req *req, const char *id) {
  hl_sub *s = hl_api_sub_or_404(a, req, id);
  if (!s) return;
  if (hl_api_sub_writing(a, id)) {
    hl_api_respond_sub_busy(req);
    return;
  }
  if (!s->rec.secret) {
    hl_api_respond_error(req, 409, "default_secret",
                         "the subscription signs with the default secret (WEBHOOK_SECRET_ARN): rotate that one in "
                         "Secrets Manager, or register the subscription with a secret of its own",
                         NULL);
    return;
  }
  int64_t overlap = OVERLAP_DEFAULT_S;
  if (req->body_len > 0) {
    hl_json_doc doc;
    if (!hl_api_parse_body(req, &doc)) return;
    const hl_json *v = doc.root->type == HL_JSON_OBJECT ? hl_json_get(doc.root, "overlap_s") : NULL;
    bool ok = doc.root->type == HL_JSON_OBJECT;
    if (!ok) hl_api_respond_field_error(req, "", "expected a JSON object, {\"overlap_s\": seconds} or {}");
    else if (v && v->type != HL_JSON_NULL && (hl_json_int64(v, &overlap) != 0 || overlap < 0 || overlap > OVERLAP_MAX_S)) {
      hl_api_respond_field_error(req, "/overlap_s", "expected whole seconds from 0 (the previous secret stops at once) to 2592000 (30 days)");
      ok = false;
    }
    hl_json_doc_dispose(&doc);
    if (!ok) return;
  }
  rotate_ctx *c = hl_malloc(sizeof *c);
  *c = (rotate_ctx){a, req, hl_strdup(id), NULL, NULL, NULL};
  if (hl_sub_rec_signs_ed25519(&s->rec)) hl_webhook_ed25519_keypair(&c->fresh, &c->fresh_public);
  else c->fresh = hl_webhook_secret_generate();
  c->stored = hl_sub_secrets_rotate(s->rec.secret, c->fresh, hl_wall_ms() / 1000, overlap);
  hl_sub_rec w = s->rec; /* shallow: only the secret differs */
  w.secret = c->stored;
  a->pending++;
  hl_api_sub_store_put(a, &w, on_rotated, c);
}
