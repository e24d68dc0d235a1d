/* hl_target_url.c — see hl_target_url.h. */
#include "loop/hl_target_url.h"
#include "common/hl_addr_policy.h"
#include "loop/hl_curl_host.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* RFC 6761 6.3: names under "localhost." are loopback (libcurl resolves
 * them so itself, without asking DNS). */
static bool localhost_name(const char *h) {
  size_t n = strlen(h);
  if (n > 0 && h[n - 1] == '.') n--;
  return (n == 9 && strncasecmp(h, "localhost", 9) == 0) ||
         (n > 10 && strncasecmp(h + n - 10, ".localhost", 10) == 0);
}

/* Whether the scheme (which libcurl parsed) is followed by exactly "//"
 * and the authority. libcurl also reads "http:/host" and "http:///host";
 * the credentials of such a URL ("http:/user:pass@host") are sent all the
 * same, but the redaction of answers and logs (common/hl_redact.h) and the
 * sealing at rest (model/hl_sub_seal.h) find a URL's userinfo after "://",
 * so they would show and store the password in clear. */
static bool authority_after_two_slashes(const char *url) {
  const char *colon = strchr(url, ':');
  return colon && colon[1] == '/' && colon[2] == '/' && colon[3] != '/';
}

const char *hl_target_url_problem(const char *url, bool allow_private, char *buf, size_t buflen) {
  CURLU *u = curl_url();
  char *scheme = NULL, *host = NULL;
  const char *problem = NULL, *why = NULL;
  if (!u) return "out of memory";
  if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) problem = "not a valid absolute URL";
  else if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
           (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0))
    problem = "only http:// and https:// URLs can receive webhooks";
  else if (!authority_after_two_slashes(url))
    problem = "write two slashes between the scheme and the host, as in https://host/path";
  else if (hl_curl_url_host_ascii(u, &why) != 0) { /* the sender could not send to it either */
    snprintf(buf, buflen, "the URL's host is not a domain name that converts to ASCII (IDNA): %s", why);
    problem = buf;
  } else if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !host || !*host)
    problem = "the URL has no host";
  else if (!allow_private) {
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6};
    struct sockaddr_in a4 = {.sin_family = AF_INET};
    char h[256];
    snprintf(h, sizeof h, "%s", host); /* in its ASCII form */
    size_t hl = strlen(h);
    if (hl > 2 && h[0] == '[' && h[hl - 1] == ']') { memmove(h, h + 1, hl - 2); h[hl - 2] = '\0'; }
    /* "127.0.0.1." is the address, written as a rooted name: refused as it. */
    else if (hl > 1 && h[hl - 1] == '.') h[hl - 1] = '\0';
    const char *block = NULL;
    if (inet_pton(AF_INET, h, &a4.sin_addr) == 1) block = hl_addr_refused_block((struct sockaddr *)&a4);
    else if (inet_pton(AF_INET6, h, &a6.sin6_addr) == 1) block = hl_addr_refused_block((struct sockaddr *)&a6);
    else if (localhost_name(h)) block = "localhost (RFC 6761)";
    if (block) {
      snprintf(buf, buflen,
               "the URL points at a private or special-purpose address: %s; set HOOKLOOP_ALLOW_PRIVATE_TARGETS=1 to allow it",
               block);
      problem = buf;
    }
  }
  curl_free(scheme);
  curl_free(host);
  curl_url_cleanup(u);
  return problem;
}
