/* loop/hl_curl_host: an internationalized host's ASCII form, made from UTF-8
 * under the C locale the tests (like hookloop) run in, where libcurl's own
 * conversion fails; and a URL handle rewritten to it. */
#include "hl_test.h"
#include "common/hl_common.h"
#include "common/hl_buf.h"
#include "loop/hl_curl_host.h"
#include "loop/hl_curl_uv.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

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

/* A child on 127.0.0.1 that answers one request with its Host header as
 * the body. Returns its port; *pid to wait for. */
static int host_echo(pid_t *pid) {
  int ls = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t alen = sizeof a;
  HL_ASSERT(ls >= 0 && bind(ls, (struct sockaddr *)&a, sizeof a) == 0 && listen(ls, 1) == 0 &&
            getsockname(ls, (struct sockaddr *)&a, &alen) == 0);
  *pid = fork();
  HL_ASSERT(*pid >= 0);
  if (*pid == 0) {
    alarm(20);
    int c = accept(ls, NULL, NULL);
    char req[4096];
    size_t n = 0;
    ssize_t r;
    while (n < sizeof req - 1 && (r = read(c, req + n, sizeof req - 1 - n)) > 0) {
      n += (size_t)r;
      req[n] = '\0';
      if (strstr(req, "\r\n\r\n")) break;
    }
    req[n] = '\0';
    const char *h = strcasestr(req, "\r\nhost: ");
    const char *end = h ? strstr(h + 2, "\r\n") : NULL;
    int hl = h && end ? (int)(end - (h + 8)) : 0;
    char out[512];
    int len = snprintf(out, sizeof out, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%.*s", hl, hl,
                       h ? h + 8 : "");
    if (write(c, out, (size_t)len) != len) _exit(1);
    close(c);
    _exit(0);
  }
  close(ls);
  return ntohs(a.sin_port);
}

static size_t into_buf(char *p, size_t size, size_t n, void *d) {
  hl_buf_append((hl_buf *)d, p, size * n);
  return size * n;
}

static size_t no_header(char *p, size_t size, size_t n, void *d) {
  (void)p;
  (void)d;
  return size * n;
}

/* The calls to the APIs hookloop depends on (AWS, the inbox, partner
 * information) reach an internationalized host too: libcurl alone would
 * fail it under the C locale ("bücher.localhost" is loopback for libcurl
 * once it is xn--bcher-kva.localhost). */
HL_TEST(an_api_call_to_an_internationalized_host_sends_its_ascii_form) {
  pid_t pid;
  int port = host_echo(&pid);
  char url[128];
  snprintf(url, sizeof url, "http://b\xc3\xbc" "cher.localhost:%d/x", port);
  hl_buf body = HL_BUF_INIT;
  CURL *e = hl_curl_api_easy(url, 10000, 5000, into_buf, no_header, &body);
  HL_ASSERT(e);
  HL_ASSERT_EQ_INT(curl_easy_perform(e), CURLE_OK);
  char want[64];
  snprintf(want, sizeof want, "xn--bcher-kva.localhost:%d", port);
  hl_buf_append(&body, "", 1);
  HL_ASSERT_EQ_STR(body.data, want);
  curl_easy_cleanup(e);
  hl_buf_dispose(&body);
  int st;
  HL_ASSERT(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
}
