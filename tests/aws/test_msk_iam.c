/* The MSK IAM OAUTHBEARER token (src/aws/hl_msk_iam): the exact tokens
 * AWS's published JS signer produced for fixed times and credentials
 * (tests/vectors/msk-iam), the defaults, refused inputs, and tokens from
 * the credentials chain: at once, after a fetch, cut to the credentials'
 * life, and the failure when none can be had. */
#include "hl_test.h"
#include "hl_testutil.h"
#include "aws_testutil.h"
#include "aws/hl_msk_iam.h"
#include "common/hl_common.h"
#include "crypto/hl_crypto.h"
#include "json/hl_json.h"
#include "loop/hl_curl_uv.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

HL_TEST(the_published_signers_tokens_byte_for_byte) {
  const char *path = hl_vector_path("msk-iam/vectors.json");
  size_t len;
  char *text = hl_read_file(path, &len);
  HL_ASSERT_MSG(text, "cannot read %s", path);
  hl_json_doc doc;
  hl_json_doc_init(&doc);
  HL_ASSERT(hl_json_parse(&doc, text, len, NULL) == 0);
  const hl_json *v = hl_json_get(doc.root, "vectors");
  HL_ASSERT(v && v->len >= 5);
  for (uint32_t i = 0; i < v->len; i++) {
    const hl_json *c = &v->u.items[i];
    const char *name = hl_json_str(hl_json_get(c, "name"));
    hl_aws_creds creds = {hl_json_str(hl_json_get(c, "access_key_id")),
                          hl_json_str(hl_json_get(c, "secret_access_key")),
                          hl_json_str(hl_json_get(c, "session_token"))};
    hl_msk_iam_params p = {.region = hl_json_str(hl_json_get(c, "region")),
                           .user_agent = hl_json_str(hl_json_get(c, "user_agent"))};
    int64_t t, want_exp, exp = 0;
    HL_ASSERT(hl_json_int64(hl_json_get(c, "time_s"), &t) == 0);
    HL_ASSERT(hl_json_int64(hl_json_get(c, "expiry_ms"), &want_exp) == 0);
    hl_buf tok = HL_BUF_INIT;
    HL_ASSERT_EQ_INT(hl_msk_iam_token(&p, &creds, t, &tok, &exp), 0);
    char *url = aws_token_url(tok.data);
    HL_ASSERT_MSG(strcmp(url, hl_json_str(hl_json_get(c, "url"))) == 0, "%s:\n got  %s\n want %s", name, url,
                  hl_json_str(hl_json_get(c, "url")));
    HL_ASSERT_MSG(strcmp(tok.data, hl_json_str(hl_json_get(c, "token"))) == 0, "%s: token differs", name);
    HL_ASSERT_EQ_INT(exp, want_exp);
    free(url);
    hl_buf_dispose(&tok);
  }
  hl_json_doc_dispose(&doc);
  free(text);
}

HL_TEST(defaults_host_override_and_refused_inputs) {
  hl_aws_creds creds = {"AKIDEXAMPLE", "secret", NULL};
  hl_msk_iam_params p = {.region = "eu-west-1"};
  hl_buf tok = HL_BUF_INIT;
  int64_t exp = 0;
  HL_ASSERT_EQ_INT(hl_msk_iam_token(&p, &creds, 1795500000, &tok, &exp), 0);
  HL_ASSERT(!strchr(tok.data, '=') && !strchr(tok.data, '+') && !strchr(tok.data, '/'));
  char *url = aws_token_url(tok.data);
  static const char start[] = "https://kafka.eu-west-1.amazonaws.com/?Action=kafka-cluster%3AConnect&User-Agent=hookloop%2F";
  HL_ASSERT_MSG(strncmp(url, start, sizeof start - 1) == 0, "%s", url);
  HL_ASSERT(strstr(url, "&X-Amz-Expires=900&"));
  HL_ASSERT(!strstr(url, "X-Amz-Security-Token"));
  HL_ASSERT_EQ_INT(exp, (1795500000LL + 900) * 1000);
  free(url);
  /* A broker's host name, and a shorter life. */
  hl_buf_reset(&tok);
  p.host = "b-1.payments.abc123.c2.kafka.eu-west-1.amazonaws.com:9098";
  p.expires_s = 300;
  HL_ASSERT_EQ_INT(hl_msk_iam_token(&p, &creds, 1795500000, &tok, &exp), 0);
  url = aws_token_url(tok.data);
  static const char broker[] = "https://b-1.payments.abc123.c2.kafka.eu-west-1.amazonaws.com:9098/?Action=";
  HL_ASSERT_MSG(strncmp(url, broker, sizeof broker - 1) == 0, "%s", url);
  HL_ASSERT(strstr(url, "&X-Amz-Expires=300&"));
  HL_ASSERT_EQ_INT(exp, (1795500000LL + 300) * 1000);
  free(url);
  /* Refused: no region, a host with a path, a life over 900 s, no secret. */
  hl_msk_iam_params bad[] = {{.region = NULL}, {.region = "eu-west-1", .host = "evil.com/x?"},
                             {.region = "eu-west-1", .expires_s = 901}, {.region = "Eu West"}};
  for (size_t i = 0; i < HL_ARRAY_SIZE(bad); i++)
    HL_ASSERT_EQ_INT(hl_msk_iam_token(&bad[i], &creds, 1795500000, &tok, &exp), HL_EINVAL);
  hl_aws_creds none = {"AKIDEXAMPLE", "", NULL};
  HL_ASSERT_EQ_INT(hl_msk_iam_token(&p, &none, 1795500000, &tok, &exp), HL_EINVAL);
  hl_buf_dispose(&tok);
}

/* --- from the credentials chain ------------------------------------------------ */
static uv_loop_t loop;
static hl_curl_uv curl;

typedef struct {
  int calls, status;
  char token[4096], why[256];
  int64_t expiry_ms;
} got;

static void on_token(void *data, int status, const char *token, int64_t expiry_ms, const char *why) {
  got *g = data;
  g->calls++;
  g->status = status;
  g->expiry_ms = expiry_ms;
  snprintf(g->token, sizeof g->token, "%s", token ? token : "");
  snprintf(g->why, sizeof g->why, "%s", why ? why : "");
}

/* The credentials endpoint of tools/aws_peer; auth: the token it demands. */
static pid_t creds_peer(int *port, const char *ttl, const char *auth) {
  const char *args[] = {"--upstream", "http://127.0.0.1:1/", "--creds-akid", "ASIAEXAMPLE", "--creds-secret",
                        "s3cr3t", "--creds-token", "tok+en/=", "--creds-ttl-s", ttl, "--creds-auth", auth, NULL};
  *port = 0;
  return hl_aws_peer_start(port, args);
}

static void chain(const char *auth_sent, const char *ttl, void (*check)(hl_aws_creds_provider *cp, int port)) {
  uv_loop_init(&loop);
  hl_curl_uv_init(&curl, &loop, 16);
  int port;
  pid_t peer = creds_peer(&port, ttl, "the-token");
  char uri[128];
  snprintf(uri, sizeof uri, "http://127.0.0.1:%d/creds", port);
  hl_aws_creds_env env = {.container_full_uri = uri, .container_auth_token = auth_sent};
  hl_aws_creds_provider cp;
  char err[256] = "";
  HL_ASSERT_MSG(hl_aws_creds_init(&cp, &loop, &curl, &env, err, sizeof err) == 0, "%s", err);
  check(&cp, port);
  aws_loop_close(&loop, &curl, &cp);
  kill(peer, SIGTERM);
  hl_wait(peer, 3000);
}

/* Asks for a token before the provider has credentials: the request must
 * wait for its fetch; the callback then fills g once. */
static void token_after_fetch(hl_aws_creds_provider *cp, hl_buf *tok, got *g) {
  hl_msk_iam_params p = {.region = "eu-west-1"};
  hl_msk_iam_req r;
  int64_t exp = 0;
  HL_ASSERT_EQ_INT(hl_msk_iam_token_from(&r, cp, &p, tok, &exp, on_token, g), HL_EAGAIN);
  HL_ASSERT_EQ_INT(g->calls, 0);
  while (!g->calls && uv_run(&loop, UV_RUN_ONCE)) {}
  HL_ASSERT_EQ_INT(g->calls, 1);
}

static void fetched_then_at_once(hl_aws_creds_provider *cp, int port) {
  (void)port;
  hl_msk_iam_params p = {.region = "eu-west-1"};
  hl_msk_iam_req r;
  got g = {0};
  hl_buf tok = HL_BUF_INIT;
  int64_t exp = 0;
  token_after_fetch(cp, &tok, &g);
  HL_ASSERT_MSG(g.status == 0, "%s", g.why);
  char *url = aws_token_url(g.token);
  HL_ASSERT(strstr(url, "X-Amz-Credential=ASIAEXAMPLE%2F"));
  HL_ASSERT(strstr(url, "&X-Amz-Security-Token=tok%2Ben%2F%3D&"));
  /* The credentials live 300 s: so does the token (not the 900 s default). */
  const char *e = strstr(url, "X-Amz-Expires=");
  HL_ASSERT(e);
  int life = atoi(e + 14);
  HL_ASSERT_MSG(life > 200 && life <= 300, "X-Amz-Expires=%d", life);
  int64_t now = hl_wall_ms();
  HL_ASSERT(g.expiry_ms > now + 200000 && g.expiry_ms <= now + 300000);
  free(url);
  /* Now they are at hand: at once, no callback. */
  got g2 = {0};
  HL_ASSERT_EQ_INT(hl_msk_iam_token_from(&r, cp, &p, &tok, &exp, on_token, &g2), 0);
  HL_ASSERT(tok.len > 100);
  HL_ASSERT(exp > now);
  uv_run(&loop, UV_RUN_NOWAIT);
  HL_ASSERT_EQ_INT(g2.calls, 0);
  hl_buf_dispose(&tok);
}

HL_TEST(a_token_from_the_chain_lives_no_longer_than_its_credentials) {
  chain("the-token", "300", fetched_then_at_once);
}

/* The chain has no credentials fit to sign with: the request waits, then
 * fails with a reason that names no secret, and no token is made. */
static void no_token(hl_aws_creds_provider *cp, int port) {
  (void)port;
  got g = {0};
  hl_buf tok = HL_BUF_INIT;
  token_after_fetch(cp, &tok, &g);
  HL_ASSERT_MSG(g.status < 0, "a token was made: %s", g.token);
  HL_ASSERT_EQ_STR(g.token, "");
  HL_ASSERT(strstr(g.why, "credentials"));
  HL_ASSERT(!strstr(g.why, "s3cr3t"));
  HL_ASSERT_EQ_INT((int)tok.len, 0);
  hl_buf_dispose(&tok);
}

HL_TEST(no_token_when_the_chain_has_no_credentials) {
  /* The endpoint refuses our authorization token: no credentials. */
  chain("a-wrong-token", "300", no_token);
}

/* Credentials the endpoint hands out with 30 s to live are too close to
 * expiry to sign with (under the provider's one-minute margin). */
HL_TEST(credentials_about_to_expire_sign_nothing) { chain("the-token", "30", no_token); }
