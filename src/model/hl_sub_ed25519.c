#include "model/hl_sub_ed25519.h"

#include <string.h>

#include "common/hl_common.h"
#include "crypto/hl_webhook_ed25519.h"
#include "model/hl_sub_secrets.h"

struct hl_sub_ed25519 {
  hl_webhook_ed25519_keyring ring; /* n == 0: unusable */
  int64_t until_s;                 /* the active keys change then */
};

void hl_sub_ed25519_drop(hl_sub *s) {
  if (!s->ed25519) return;
  hl_webhook_ed25519_keyring_dispose(&s->ed25519->ring); /* wipes the keys */
  hl_free(s->ed25519);
  s->ed25519 = NULL;
}

int hl_sub_ed25519_sign(hl_sub *s, const char *msg_id, int64_t now_s, const void *body, size_t body_len, hl_buf *out) {
  if (s->ed25519 && now_s >= s->ed25519->until_s) hl_sub_ed25519_drop(s);
  if (!s->ed25519) {
    hl_sub_ed25519 *k = hl_calloc(1, sizeof *k);
    char *active = hl_sub_secrets_active(s->rec.secret, now_s, &k->until_s);
    if (hl_webhook_ed25519_keyring_init(&k->ring, active) != 0) k->ring.n = 0;
    if (active) explicit_bzero(active, strlen(active));
    hl_free(active);
    s->ed25519 = k;
  }
  return hl_webhook_ed25519_keyring_sign(&s->ed25519->ring, msg_id, now_s, body, body_len, out);
}
