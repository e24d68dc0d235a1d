#include "loop/hl_curl_host.h"

#include <idn2.h>
#include <stdint.h>

static bool ascii_only(const char *s) {
  for (; *s; s++)
    if ((unsigned char)*s >= 0x80) return false;
  return true;
}

int hl_curl_host_ascii(const char *host, char **ascii, const char **why) {
  *ascii = NULL;
  if (ascii_only(host)) return 0;
  uint8_t *out = NULL;
  int rc = idn2_lookup_u8((const uint8_t *)host, &out, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
  if (rc != IDN2_OK) rc = idn2_lookup_u8((const uint8_t *)host, &out, IDN2_TRANSITIONAL);
  if (rc != IDN2_OK) {
    *why = idn2_strerror(rc);
    return -1;
  }
  *ascii = (char *)out;
  return 0;
}

void hl_curl_host_free(char *ascii) { idn2_free(ascii); }

int hl_curl_url_host_ascii(CURLU *u, const char **why) {
  char *host = NULL, *ascii = NULL;
  int rc = 0;
  if (curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK && hl_curl_host_ascii(host, &ascii, why) != 0) rc = -1;
  else if (ascii && curl_url_set(u, CURLUPART_HOST, ascii, 0) != CURLUE_OK) {
    *why = "libcurl refused the host's ASCII form";
    rc = -1;
  }
  hl_curl_host_free(ascii);
  curl_free(host);
  return rc;
}

void hl_curl_set_url(CURL *e, const char *url) {
  CURLU *u = ascii_only(url) ? NULL : curl_url();
  char *ascii = NULL;
  const char *why;
  if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK && hl_curl_url_host_ascii(u, &why) == 0)
    curl_url_get(u, CURLUPART_URL, &ascii, 0);
  curl_easy_setopt(e, CURLOPT_URL, ascii ? ascii : url); /* curl keeps a copy */
  curl_free(ascii);
  curl_url_cleanup(u);
}
