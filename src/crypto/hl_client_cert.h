/* hl_client_cert.h — a subscription's TLS client certificate (mTLS),
 * checked with mbedTLS (X.509, PK) before it is stored: the certificate
 * chain and private key parse as PEM, the key is the certificate's, the
 * certificate is in its validity period and holds no private key (it is
 * stored unsealed, the key sealed). libcurl (on OpenSSL) presents it
 * (handlers/hl_sender_http.c); this only decides what is accepted and what
 * an answer may show of it (subject and expiry, never the key).
 *
 * Accepted keys are those mbedTLS 2.28 parses: RSA and EC (P-256, P-384,
 * P-521), in PKCS#8, SEC1 or PKCS#1 PEM, not encrypted.
 *
 * Nothing here blocks or keeps a copy of the key: the parsed key is freed
 * (mbedTLS wipes it) before returning. */
#ifndef HL_CLIENT_CERT_H
#define HL_CLIENT_CERT_H

#include <stddef.h>
#include <stdint.h>

#define HL_CLIENT_CERT_MAX 65536 /* bytes of PEM, the chain included */
#define HL_CLIENT_KEY_MAX 16384

typedef struct {
  char subject[256];    /* of the first certificate, "CN=..., O=..." (RFC 4514-like, mbedTLS's form) */
  char not_after[32];   /* "2026-12-01T19:00:00Z" */
  int64_t not_after_s;  /* the same, seconds since the epoch */
} hl_client_cert_info;

/* Reads the first certificate of cert_pem (NUL-terminated PEM). Returns 0,
 * or -1 with the reason in why. */
int hl_client_cert_describe(const char *cert_pem, hl_client_cert_info *out, char *why, size_t whylen);
/* Checks a certificate and its private key as described above, at now_s.
 * Returns 0; 1 when the certificate is at fault, 2 when the key is (the
 * field to name in a 400), with the reason in why. The reason never
 * contains key material. */
int hl_client_cert_check(const char *cert_pem, const char *key_pem, int64_t now_s, char *why, size_t whylen);

#endif
