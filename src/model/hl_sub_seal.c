#include "model/hl_sub_seal.h"
#include "common/hl_common.h"

#include <stdio.h>
#include <string.h>

bool hl_url_has_userinfo(const char *url) {
  const char *auth = url ? strstr(url, "://") : NULL;
  return auth && memchr(auth + 3, '@', strcspn(auth + 3, "/?#")) != NULL;
}

/* The credential fields: which need sealing when plain. */
typedef struct {
  const char *name;
  char **field;
  bool plain_is_credential;
} cred_field;

#define NCRED HL_SUB_SEAL_FIELDS

static size_t cred_fields(hl_sub_rec *r, cred_field out[NCRED]) {
  out[0] = (cred_field){"secret", &r->secret, r->secret && *r->secret};
  out[1] = (cred_field){"headers", &r->headers_json, r->headers_json && *r->headers_json};
  out[2] = (cred_field){"url", &r->url, hl_url_has_userinfo(r->url)};
  out[3] = (cred_field){"client_key", &r->client_key, r->client_key && *r->client_key};
  return NCRED;
}

static void aad_of(const hl_sub_rec *r, const char *field, char *out, size_t len) {
  snprintf(out, len, "%s/%s", r->subscription_id ? r->subscription_id : "", field);
}

void hl_sub_rec_seal(const hl_sealer *s, hl_sub_rec *r) {
  cred_field f[NCRED];
  size_t n = cred_fields(r, f);
  for (size_t i = 0; i < n; i++) {
    if (!f[i].plain_is_credential || hl_is_sealed(*f[i].field)) continue;
    char aad[300];
    aad_of(r, f[i].name, aad, sizeof aad);
    hl_buf b = HL_BUF_INIT;
    hl_seal(s, aad, *f[i].field, strlen(*f[i].field), &b);
    *f[i].field = hl_buf_steal(&b, NULL); /* the plain one is the caller's */
  }
}

int hl_sub_rec_unseal(const hl_sealer *s, hl_sub_rec *r, bool *reseal, hl_buf *err) {
  cred_field f[NCRED];
  size_t n = cred_fields(r, f);
  *reseal = false;
  for (size_t i = 0; i < n; i++) {
    if (!hl_is_sealed(*f[i].field)) {
      if (f[i].plain_is_credential) *reseal = true; /* written before sealing was on */
      continue;
    }
    char aad[300];
    aad_of(r, f[i].name, aad, sizeof aad);
    hl_buf plain = HL_BUF_INIT, why = HL_BUF_INIT;
    bool stale = false;
    if (hl_unseal(s, aad, *f[i].field, &plain, &stale, &why) != 0) {
      hl_buf_printf(err, "%s: %s", f[i].name, why.data);
      hl_buf_dispose(&why);
      hl_buf_dispose(&plain);
      return HL_EINVAL;
    }
    if (stale) *reseal = true;
    explicit_bzero(*f[i].field, strlen(*f[i].field));
    hl_free(*f[i].field);
    *f[i].field = hl_buf_steal(&plain, NULL);
    hl_buf_dispose(&why);
  }
  return 0;
}

void hl_sub_rec_seal_release(hl_sub_rec *sealed, const hl_sub_rec *orig) {
  cred_field f[NCRED], o[NCRED];
  size_t n = cred_fields(sealed, f);
  cred_fields((hl_sub_rec *)orig, o);
  for (size_t i = 0; i < n; i++)
    if (*f[i].field != *o[i].field) hl_free(*f[i].field);
}

bool hl_sub_rec_has_sealed(const hl_sub_rec *r) {
  cred_field f[NCRED];
  size_t n = cred_fields((hl_sub_rec *)r, f);
  for (size_t i = 0; i < n; i++)
    if (hl_is_sealed(*f[i].field)) return true;
  return false;
}

size_t hl_sub_rec_blobs(const hl_sub_rec *r, const char *blob[HL_SUB_SEAL_FIELDS], size_t len[HL_SUB_SEAL_FIELDS]) {
  cred_field f[NCRED];
  size_t n = cred_fields((hl_sub_rec *)r, f), out = 0;
  for (size_t i = 0; i < n; i++)
    if (hl_seal_blob(*f[i].field, &blob[out], &len[out])) out++;
  return out;
}

bool hl_sub_rec_sealed_current(const hl_sealer *s, const hl_sub_rec *r) {
  cred_field f[NCRED];
  size_t n = cred_fields((hl_sub_rec *)r, f);
  for (size_t i = 0; i < n; i++) {
    bool sealed = hl_is_sealed(*f[i].field);
    if ((sealed && !hl_seal_is_current(s, *f[i].field)) || (!sealed && f[i].plain_is_credential)) return false;
  }
  return true;
}
