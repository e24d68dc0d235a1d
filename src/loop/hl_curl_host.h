/* hl_curl_host.h — a URL's internationalized host name in its ASCII form,
 * converted as libcurl 7.88 converts one (UTS #46 non-transitional
 * processing with NFC, then transitional when that fails), but from UTF-8.
 *
 * Why: libcurl converts a non-ASCII host with libidn2's idn2_lookup_ul,
 * which reads the name in the locale's character set. hookloop never calls
 * setlocale, so under the C locale every such name fails ("could not
 * convert string to UTF-8") and each delivery to it would end in
 * CURLE_URL_MALFORMAT. Handing libcurl the ASCII form avoids its
 * conversion; the Host header, SNI and certificate check then use that
 * form, as they would after libcurl's own. */
#ifndef HL_CURL_HOST_H
#define HL_CURL_HOST_H

#include <curl/curl.h>
#include <stdbool.h>

/* The ASCII form of `host` (UTF-8): 0 and *ascii (free with hl_curl_host_free)
 * when it converts, NULL when host is ASCII already; -1 and *why (static
 * text) when it cannot be converted. */
int hl_curl_host_ascii(const char *host, char **ascii, const char **why);
void hl_curl_host_free(char *ascii);

/* Replaces u's host by its ASCII form where it has non-ASCII characters.
 * 0, or -1 (*why set) leaving u as it was: the host does not convert, or
 * libcurl's parser refuses the form it converts to (a no-break space maps
 * to a space). */
int hl_curl_url_host_ascii(CURLU *u, const char **why);

/* CURLOPT_URL for e: url, with an internationalized host in its ASCII
 * form; the text as it is when it has none or it does not convert (curl
 * then fails the transfer with its own error). */
void hl_curl_set_url(CURL *e, const char *url);

#endif
