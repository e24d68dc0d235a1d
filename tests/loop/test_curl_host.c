/* loop/hl_curl_host: an internationalized host's ASCII form, made from UTF-8
 * under the C locale the tests (like hookloop) run in, where libcurl's own
 * conversion fails; and a URL handle rewritten to it. */
#include "hl_test.h"
#include "common/hl_common.h"
#include "loop/hl_curl_host.h"

#include <string.h>

HL_TEST(hosts_convert_as_libcurl_would_and_bad_ones_say_why) {
  const struct { const char *host, *ascii; } ok[] = {
    {"api.example.com", NULL},                           /* ASCII: nothing to do */
    {"b\xc3\xbc" "cher.example", "xn--bcher-kva.example"},
    {"B\xc3\x9c" "CHER.example", "xn--bcher-kva.example"}, /* UTS #46 maps case */
    {"\xef\xbd\x8c\xef\xbd\x8f\xef\xbd\x83\xef\xbd\x81\xef\xbd\x8c\xef\xbd\x88\xef\xbd\x8f\xef\xbd\x93\xef\xbd\x94",
     "localhost"},                                       /* fullwidth letters */
    {"i\xe2\x9d\xa4.example", "xn--i-7iq.example"},      /* an emoji: transitional processing takes it */
  };
  for (size_t i = 0; i < HL_ARRAY_SIZE(ok); i++) {
    char *ascii = (char *)"unset";
    const char *why = NULL;
    HL_ASSERT_MSG(hl_curl_host_ascii(ok[i].host, &ascii, &why) == 0, "%s: %s", ok[i].host, why ? why : "");
    if (!ok[i].ascii) HL_ASSERT(ascii == NULL);
    else HL_ASSERT_EQ_STR(ascii, ok[i].ascii);
    hl_curl_host_free(ascii);
  }
  /* a hyphen last; a label whose ASCII form passes 63 octets */
  const char *bad[] = {"\xc3\xbc-.example",
                       "\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc"
                       "\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc"
                       "\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc"
                       "\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc"
                       "\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc.example"}; /* 65 letters */
  for (size_t i = 0; i < HL_ARRAY_SIZE(bad); i++) {
    char *ascii = NULL;
    const char *why = NULL;
    HL_ASSERT_MSG(hl_curl_host_ascii(bad[i], &ascii, &why) == -1, "%s converted to %s", bad[i], ascii);
    HL_ASSERT(ascii == NULL && why && *why);
  }
}

HL_TEST(a_url_handle_gets_the_ascii_host_and_keeps_the_rest) {
  CURLU *u = curl_url();
  HL_ASSERT(curl_url_set(u, CURLUPART_URL, "https://b\xc3\xbc" "cher.example:8443/hook?x=1", 0) == CURLUE_OK);
  const char *why = NULL;
  HL_ASSERT(hl_curl_url_host_ascii(u, &why) == 0);
  char *url = NULL;
  HL_ASSERT(curl_url_get(u, CURLUPART_URL, &url, 0) == CURLUE_OK);
  HL_ASSERT_EQ_STR(url, "https://xn--bcher-kva.example:8443/hook?x=1");
  curl_free(url);
  /* One that does not convert is left as it was. */
  HL_ASSERT(curl_url_set(u, CURLUPART_URL, "https://\xc3\xbc-.example/", 0) == CURLUE_OK);
  HL_ASSERT(hl_curl_url_host_ascii(u, &why) == -1 && why);
  char *host = NULL;
  HL_ASSERT(curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK);
  HL_ASSERT_EQ_STR(host, "\xc3\xbc-.example");
  curl_free(host);
  /* A no-break space maps to a space, which libcurl takes in no host. */
  HL_ASSERT(curl_url_set(u, CURLUPART_URL, "https://a\xc2\xa0" "b.example/", 0) == CURLUE_OK);
  HL_ASSERT(hl_curl_url_host_ascii(u, &why) == -1 && strstr(why, "libcurl refused"));
  curl_url_cleanup(u);
}
