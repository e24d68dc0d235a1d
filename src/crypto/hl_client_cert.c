#include "crypto/hl_client_cert.h"

#include <mbedtls/error.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* PEM, not DER: mbedTLS would take either, libcurl is told "PEM". */
static int parse_chain(mbedtls_x509_crt *crt, const char *pem, char *why, size_t whylen) {
  if (!pem || !strstr(pem, "-----BEGIN CERTIFICATE-----")) {
    snprintf(why, whylen, "expected a PEM certificate (-----BEGIN CERTIFICATE-----), the chain after it if any");
    return -1;
  }
  size_t len = strlen(pem);
  if (len > HL_CLIENT_CERT_MAX) {
    snprintf(why, whylen, "at most %d bytes of PEM", HL_CLIENT_CERT_MAX);
    return -1;
  }
  int rc = mbedtls_x509_crt_parse(crt, (const unsigned char *)pem, len + 1); /* PEM: with its NUL */
  if (rc != 0) {
    char e[128];
    mbedtls_strerror(rc, e, sizeof e);
    snprintf(why, whylen, "the certificate does not parse as PEM X.509 (%s)", e);
    return -1;
  }
  return 0;
}

static int64_t epoch_of(const mbedtls_x509_time *t) {
  struct tm tm = {.tm_year = t->year - 1900, .tm_mon = t->mon - 1, .tm_mday = t->day,
                  .tm_hour = t->hour, .tm_min = t->min, .tm_sec = t->sec};
  return (int64_t)timegm(&tm);
}

static void info_of(const mbedtls_x509_crt *crt, hl_client_cert_info *out) {
  if (mbedtls_x509_dn_gets(out->subject, sizeof out->subject, &crt->subject) < 0) out->subject[0] = '\0';
  const mbedtls_x509_time *t = &crt->valid_to;
  snprintf(out->not_after, sizeof out->not_after, "%04d-%02d-%02dT%02d:%02d:%02dZ", t->year, t->mon, t->day,
           t->hour, t->min, t->sec);
  out->not_after_s = epoch_of(t);
}

int hl_client_cert_describe(const char *cert_pem, hl_client_cert_info *out, char *why, size_t whylen) {
  mbedtls_x509_crt crt;
  mbedtls_x509_crt_init(&crt);
  int rc = parse_chain(&crt, cert_pem, why, whylen);
  if (rc == 0) info_of(&crt, out);
  mbedtls_x509_crt_free(&crt);
  return rc;
}

int hl_client_cert_check(const char *cert_pem, const char *key_pem, int64_t now_s, char *why, size_t whylen) {
  mbedtls_x509_crt crt;
  mbedtls_pk_context pk;
  mbedtls_x509_crt_init(&crt);
  mbedtls_pk_init(&pk);
  int fault = 0;
  if (parse_chain(&crt, cert_pem, why, whylen) != 0) {
    fault = 1;
    goto done;
  }
  /* mbedTLS reads the CERTIFICATE blocks and skips whatever is between
   * them, so a bundle of the certificate and its key parses; but the
   * certificate is stored as it is (it is public), and the key with it
   * would be at rest unsealed. */
  if (strstr(cert_pem, "PRIVATE KEY-----")) {
    snprintf(why, whylen,
             "holds a private key: give only the certificate (and its chain) here, the key in private_key");
    fault = 1;
    goto done;
  }
  hl_client_cert_info info;
  info_of(&crt, &info);
  if (info.not_after_s <= now_s || epoch_of(&crt.valid_from) > now_s) {
    snprintf(why, whylen, "the certificate is not valid now (valid to %s)", info.not_after);
    fault = 1;
    goto done;
  }
  if (!key_pem || !strstr(key_pem, "-----BEGIN ") || !strstr(key_pem, "PRIVATE KEY-----")) {
    snprintf(why, whylen, "expected the certificate's private key in PEM (-----BEGIN PRIVATE KEY-----)");
    fault = 2;
    goto done;
  }
  size_t klen = strlen(key_pem);
  if (klen > HL_CLIENT_KEY_MAX) {
    snprintf(why, whylen, "at most %d bytes of PEM", HL_CLIENT_KEY_MAX);
    fault = 2;
    goto done;
  }
  int rc = mbedtls_pk_parse_key(&pk, (const unsigned char *)key_pem, klen + 1, NULL, 0);
  if (rc == MBEDTLS_ERR_PK_PASSWORD_REQUIRED || rc == MBEDTLS_ERR_PK_PASSWORD_MISMATCH) {
    snprintf(why, whylen, "the private key is encrypted: give it without a passphrase (it is sealed at rest)");
    fault = 2;
  } else if (rc != 0) {
    char e[128];
    mbedtls_strerror(rc, e, sizeof e);
    snprintf(why, whylen, "the private key does not parse (%s); RSA or EC keys in PEM are accepted", e);
    fault = 2;
  } else if (mbedtls_pk_check_pair(&crt.pk, &pk) != 0) {
    snprintf(why, whylen, "the private key is not the certificate's (%s)", info.subject);
    fault = 2;
  }
done:
  mbedtls_pk_free(&pk); /* wipes the key */
  mbedtls_x509_crt_free(&crt);
  return fault;
}
