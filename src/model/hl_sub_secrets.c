#include "model/hl_sub_secrets.h"
#include "common/hl_buf.h"
#include "common/hl_common.h"
#include "crypto/hl_webhook_ed25519.h"
#include "crypto/hl_webhook_sig.h"

#include <stdlib.h>
#include <string.h>

/* Calls fn for each entry of stored still active at now_s: the secret's
 * text (len bytes) and its expiry (0: none). */
typedef void (*entry_fn)(void *data, const char *secret, size_t len, int64_t expires_s);

static void each_active(const char *stored, int64_t now_s, entry_fn fn, void *data) {
  size_t len = 0;
  for (const char *e = stored ? hl_webhook_next_entry(stored, &len) : NULL; e; e = hl_webhook_next_entry(e + len, &len)) {
    const char *tilde = memchr(e, '~', len);
    int64_t exp = 0;
    size_t slen = len;
    if (tilde) {
      slen = (size_t)(tilde - e);
      exp = strtoll(tilde + 1, NULL, 10);
      if (exp <= now_s) continue; /* expired */
    }
    fn(data, e, slen, exp);
  }
}

typedef struct {
  hl_buf out;
  int64_t until;
} active_ctx;

static void add_active(void *data, const char *secret, size_t len, int64_t expires_s) {
  active_ctx *c = data;
  if (c->out.len) hl_buf_putc(&c->out, ' ');
  hl_buf_append(&c->out, secret, len);
  if (expires_s && expires_s < c->until) c->until = expires_s;
}

bool hl_sub_rec_signs_ed25519(const hl_sub_rec *r) { return r->signing && strcmp(r->signing, "ed25519") == 0; }

char *hl_sub_secrets_active(const char *stored, int64_t now_s, int64_t *until_s) {
  active_ctx c = {HL_BUF_INIT, INT64_MAX};
  each_active(stored, now_s, add_active, &c);
  *until_s = c.until;
  hl_buf_putc(&c.out, '\0'); /* an empty list is "" rather than NULL */
  return hl_buf_steal(&c.out, NULL);
}

typedef struct {
  hl_buf out;
  int n;
  int64_t deadline;
} rotate_ctx;

static void keep_overlapping(void *data, const char *secret, size_t len, int64_t expires_s) {
  rotate_ctx *c = data;
  if (c->n >= HL_WEBHOOK_SECRETS_MAX) return;
  int64_t exp = expires_s && expires_s < c->deadline ? expires_s : c->deadline;
  hl_buf_putc(&c->out, ' ');
  hl_buf_append(&c->out, secret, len);
  hl_buf_printf(&c->out, "~%lld", (long long)exp);
  c->n++;
}

char *hl_sub_secrets_rotate(const char *stored, const char *fresh, int64_t now_s, int64_t overlap_s) {
  rotate_ctx c = {HL_BUF_INIT, 1, now_s + overlap_s};
  hl_buf_puts(&c.out, fresh);
  if (overlap_s > 0) each_active(stored, now_s, keep_overlapping, &c);
  return hl_buf_steal(&c.out, NULL);
}

static void describe_one(void *data, const char *secret, size_t len, int64_t expires_s) {
  hl_jw *w = data;
  hl_jw_obj_begin(w);
  hl_jw_key(w, "expires_at");
  if (expires_s) hl_jw_int(w, expires_s); else hl_jw_null(w);
  /* An Ed25519 key's public half is no secret: partners verify with it. */
  char *pk = hl_webhook_ed25519_is_key(secret, len) ? hl_webhook_ed25519_public_of(secret, len) : NULL;
  if (pk) { hl_jw_key(w, "public_key"); hl_jw_str(w, pk); }
  hl_free(pk);
  hl_jw_obj_end(w);
}

void hl_sub_secrets_describe(const char *stored, int64_t now_s, hl_jw *w) {
  hl_jw_arr_begin(w);
  each_active(stored, now_s, describe_one, w);
  hl_jw_arr_end(w);
}
