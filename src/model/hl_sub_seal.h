/* hl_sub_seal.h — a subscription's credentials sealed at rest
 * (crypto/hl_seal.h): the signing secret, the header values (headers_json,
 * as a whole), a URL carrying a user or password and the private key of a
 * TLS client certificate. The rest of the
 * record stays readable in the store (ids, the URL without credentials,
 * filters, limits).
 *
 * Each field is sealed with "<subscription_id>/<field>" as its additional
 * data. Ownership: both functions replace the fields they change with new
 * strings. hl_sub_rec_unseal frees the sealed ones it replaces (the record
 * owns the new ones); hl_sub_rec_seal frees nothing, as it is meant for a
 * shallow copy whose plain fields belong to the original: the caller frees
 * each field that differs from the original's. */
#ifndef HL_SUB_SEAL_H
#define HL_SUB_SEAL_H

#include <stdbool.h>

#include "common/hl_buf.h"
#include "crypto/hl_seal.h"
#include "store/hl_store.h"

/* Seals the credential fields of r in place (those already sealed are
 * left), for a shallow copy about to be written to the store. */
void hl_sub_rec_seal(const hl_sealer *s, hl_sub_rec *r);
/* Opens the sealed fields of r in place. *reseal is set when r should be
 * written again: a credential stored in plain text (written before sealing
 * was on), or one sealed with an older key. Returns 0, or HL_EINVAL with
 * the field and reason in err (the record is then unusable: a key missing
 * from the file, or an altered value). */
int hl_sub_rec_unseal(const hl_sealer *s, hl_sub_rec *r, bool *reseal, hl_buf *err);
/* Frees the fields of sealed (a shallow copy of orig passed through
 * hl_sub_rec_seal) that are its own. */
void hl_sub_rec_seal_release(hl_sub_rec *sealed, const hl_sub_rec *orig);
/* The data key ciphertexts r's v2 values carry (hl_seal_blob), at most
 * HL_SUB_SEAL_FIELDS: pointers into r, len bytes each. */
#define HL_SUB_SEAL_FIELDS 4
size_t hl_sub_rec_blobs(const hl_sub_rec *r, const char *blob[HL_SUB_SEAL_FIELDS], size_t len[HL_SUB_SEAL_FIELDS]);
/* Whether every credential of r is sealed with s's current key (nothing
 * for `hookloop secrets reseal` to do). */
bool hl_sub_rec_sealed_current(const hl_sealer *s, const hl_sub_rec *r);
/* Whether any credential field of r is sealed. */
bool hl_sub_rec_has_sealed(const hl_sub_rec *r);
/* Whether the URL carries a user or password (scheme://user:pass@host). */
bool hl_url_has_userinfo(const char *url);

#endif
